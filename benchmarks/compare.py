#!/usr/bin/python3
"""compare.py - nn against PyTorch, NumPy and the machine's sgemm, interleaved in one run.

Runs the same training configurations in nn (benchmarks/nn_bench), PyTorch and a
vectorised NumPy implementation, plus the bare gemm sequence of a training step
(nn_bench floor) and a large square sgemm (nn_bench peak), and prints a table of
seconds per epoch, ratios and each one's fraction of the measured sgemm rate.

The work is identical: the 784-256-128-10 ReLU MLP with softmax cross-entropy on
class indices, SGD (lr 0.01) or Adam (torch's defaults), batches in data set order,
from initial weights written once to a file that every implementation loads. The
lesson's 2-2-1 network is compared per sample against a hand-written scalar C loop
(nn_scalar_221), FANN 2.2 (nn_fann_221, built when libfann-dev is installed), PyTorch
and NumPy from one file of nine initial values.

Timings on a shared 2-core machine drift, so every configuration is run in rounds
that interleave the implementations (the order rotates each round); medians are over
all epochs of all rounds. A second table gives the ratios taken within each round,
where the implementations ran back to back, as median (min-max) over the rounds: a
drift of the machine between rounds cancels in those. There each one's fraction of
sgemm is taken against a square sgemm timed right before that configuration's runs. PyTorch runs with torch.set_num_threads(1) and
OPENBLAS_NUM_THREADS = the thread count (its fastest setting on 2 cores); NumPy
with OPENBLAS_NUM_THREADS; nn with nn_set_num_threads.

    /usr/bin/python3 benchmarks/compare.py --build BUILD_DIR [--rounds 3] [--epochs 2]
        [--threads 1,2] [--batches 32,64,128,256] [--optims sgd,adam]
        [--out DIR] [--plot docs/perf_mlp.png] [--quick] [--no-lesson | --lesson-only]

Writes DIR/results.jsonl (every measurement), DIR/table.md (the tables) and, with
--plot, a gnuplot PNG of samples/s against batch size.
"""
import argparse
import gzip
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

FASHION = "/usr/share/datasets/fashion-mnist"
WIDTHS = [784, 256, 128, 10]
N_TRAIN = 60000
LOSS_ROWS = 10000  # rows of the training set the after-epoch loss is measured on


def mlp_flop_per_sample():
    """Forward, weight gradients, and input gradients of every layer but the first."""
    f = 0
    for i in range(3):
        mac = WIDTHS[i] * WIDTHS[i + 1]
        f += 2 * mac * (3 if i > 0 else 2)
    return f


# ---- data and initial weights --------------------------------------------------------

def read_idx(path):
    import numpy as np
    with gzip.open(path) as f:
        b = f.read()
    nd = b[3]
    dims = [int.from_bytes(b[4 + 4 * i:8 + 4 * i], "big") for i in range(nd)]
    return np.frombuffer(b, dtype=np.uint8, offset=4 + 4 * nd).reshape(dims)


def load_data(spec):
    """(x float32 (N, 784), y int64 (N,)) as nn_bench loads them."""
    import numpy as np
    if spec["kind"] == "fashion":
        x = read_idx(f"{FASHION}/train-images-idx3-ubyte.gz").reshape(-1, 784)
        y = read_idx(f"{FASHION}/train-labels-idx1-ubyte.gz")
        # The same float32 division as nn_bench: pixels / 255.
        return x.astype(np.float32) / np.float32(255), y.astype(np.int64)
    x = np.fromfile(spec["x"], dtype=np.float32).reshape(-1, 784)
    y = np.fromfile(spec["y"], dtype=np.float32).astype(np.int64)
    return x, y


def write_inputs(out):
    """Initial weights (torch.nn.Linear's default init, seed 0) and, without the
    Fashion-MNIST package, a random data set of its shape."""
    import numpy as np
    import torch
    torch.manual_seed(0)
    parts = []
    for i in range(3):
        lin = torch.nn.Linear(WIDTHS[i], WIDTHS[i + 1])
        parts += [lin.weight.detach().numpy().ravel(), lin.bias.detach().numpy().ravel()]
    init_mlp = os.path.join(out, "init_mlp.f32")
    np.concatenate(parts).astype(np.float32).tofile(init_mlp)
    rng = np.random.default_rng(0)
    init_221 = os.path.join(out, "init_221.f32")
    rng.standard_normal(9).astype(np.float32).tofile(init_221)
    if os.path.exists(f"{FASHION}/train-images-idx3-ubyte.gz"):
        data = {"kind": "fashion"}
    else:
        x = rng.random((N_TRAIN, 784), dtype=np.float32)
        y = rng.integers(0, 10, N_TRAIN).astype(np.float32)
        data = {"kind": "random", "x": os.path.join(out, "x.f32"), "y": os.path.join(out, "y.f32")}
        x.tofile(data["x"])
        y.tofile(data["y"])
    return init_mlp, init_221, data


def load_init(path):
    import numpy as np
    flat = np.fromfile(path, dtype=np.float32)
    params, off = [], 0
    for i in range(3):
        o, n = WIDTHS[i + 1], WIDTHS[i]
        params.append(flat[off:off + o * n].reshape(o, n).copy())
        off += o * n
        params.append(flat[off:off + o].copy())
        off += o
    assert off == flat.size, "init file does not match 784-256-128-10"
    return params


# ---- PyTorch ----------------------------------------------------------------------------

class TorchMLP:
    def __init__(self, x, y, init):
        import torch
        torch.set_num_threads(1)
        self.torch = torch
        self.x = torch.from_numpy(x)
        self.y = torch.from_numpy(y)
        self.init = [torch.from_numpy(p) for p in init]
        nn = torch.nn
        self.model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(),
                                   nn.Linear(128, 10))

    def reset(self, optim):
        with self.torch.no_grad():
            for p, v in zip(self.model.parameters(), self.init):
                p.copy_(v)
        if optim == "sgd":
            self.opt = self.torch.optim.SGD(self.model.parameters(), lr=0.01)
        else:
            self.opt = self.torch.optim.Adam(self.model.parameters())

    def epoch(self, bs, limit=None):
        torch, model, opt = self.torch, self.model, self.opt
        lf = torch.nn.functional.cross_entropy
        n = self.x.shape[0] if limit is None else limit
        for i in range(0, n, bs):
            xb, yb = self.x[i:i + bs], self.y[i:i + bs]
            opt.zero_grad()
            loss = lf(model(xb), yb)
            loss.backward()
            opt.step()

    def loss(self):
        with self.torch.no_grad():
            out = self.model(self.x[:LOSS_ROWS])
            return float(self.torch.nn.functional.cross_entropy(out, self.y[:LOSS_ROWS]))


# ---- NumPy ---------------------------------------------------------------------------------

class NumpyMLP:
    """The same network written with NumPy arrays: every product is one np.dot (BLAS
    sgemm) into a preallocated buffer, the rest vectorised elementwise operations."""

    def __init__(self, x, y, init):
        import numpy as np
        self.np = np
        self.x, self.y, self.init = x, y, init

    def reset(self, optim, bs=256):
        np = self.np
        self.p = [q.copy() for q in self.init]
        self.g = [np.zeros_like(q) for q in self.p]
        self.optim = optim
        self.t = 0
        if optim == "adam":
            self.m = [np.zeros_like(q) for q in self.p]
            self.v = [np.zeros_like(q) for q in self.p]
        self.bufs = {}

    def buf(self, name, shape):
        b = self.bufs.get(name)
        if b is None or b.shape[0] < shape[0]:
            b = self.bufs[name] = self.np.empty(shape, dtype=self.np.float32)
        return b[:shape[0]]

    def forward(self, xb):
        np = self.np
        W1, b1, W2, b2, W3, b3 = self.p
        b = xb.shape[0]
        z1 = np.dot(xb, W1.T, out=self.buf("z1", (b, 256)))
        z1 += b1
        h1 = np.maximum(z1, 0, out=self.buf("h1", (b, 256)))
        z2 = np.dot(h1, W2.T, out=self.buf("z2", (b, 128)))
        z2 += b2
        h2 = np.maximum(z2, 0, out=self.buf("h2", (b, 128)))
        z3 = np.dot(h2, W3.T, out=self.buf("z3", (b, 10)))
        z3 += b3
        return z1, h1, z2, h2, z3

    def step(self, xb, yb):
        np = self.np
        W1, b1, W2, b2, W3, b3 = self.p
        gW1, gb1, gW2, gb2, gW3, gb3 = self.g
        b = xb.shape[0]
        z1, h1, z2, h2, z3 = self.forward(xb)
        # softmax cross-entropy: dL/dz3 = (softmax(z3) - onehot(y)) / b
        p = np.subtract(z3, z3.max(axis=1, keepdims=True), out=self.buf("p", (b, 10)))
        np.exp(p, out=p)
        p /= p.sum(axis=1, keepdims=True)
        p[np.arange(b), yb] -= 1.0
        p *= np.float32(1.0 / b)
        np.dot(p.T, h2, out=gW3)
        np.sum(p, axis=0, out=gb3)
        d2 = np.dot(p, W3, out=self.buf("d2", (b, 128)))
        d2 *= z2 > 0
        np.dot(d2.T, h1, out=gW2)
        np.sum(d2, axis=0, out=gb2)
        d1 = np.dot(d2, W2, out=self.buf("d1", (b, 256)))
        d1 *= z1 > 0
        np.dot(d1.T, xb, out=gW1)
        np.sum(d1, axis=0, out=gb1)
        if self.optim == "sgd":
            for q, g in zip(self.p, self.g):
                q -= np.float32(0.01) * g
        else:  # Adam, torch's defaults
            self.t += 1
            b1c, b2c = 1 - 0.9 ** self.t, 1 - 0.999 ** self.t
            step = np.float32(1e-3 / b1c)
            sb2 = np.float32(np.sqrt(b2c))
            for q, g, m, v in zip(self.p, self.g, self.m, self.v):
                m *= np.float32(0.9)
                m += np.float32(0.1) * g
                v *= np.float32(0.999)
                v += np.float32(0.001) * g * g
                denom = np.sqrt(v) / sb2 + np.float32(1e-8)
                q -= step * m / denom

    def epoch(self, bs, limit=None):
        n = self.x.shape[0] if limit is None else limit
        for i in range(0, n, bs):
            self.step(self.x[i:i + bs], self.y[i:i + bs])

    def loss(self):
        np = self.np
        self.bufs = {}
        z3 = self.forward(self.x[:LOSS_ROWS])[4].astype(np.float64)
        z3 -= z3.max(axis=1, keepdims=True)
        lse = np.log(np.exp(z3).sum(axis=1))
        return float(np.mean(lse - z3[np.arange(LOSS_ROWS), self.y[:LOSS_ROWS]]))


# ---- the lesson's 2-2-1 net, per sample ----------------------------------------------------

LESSON_X = [[-2, -1], [25, 6], [17, 4], [-15, -6]]
LESSON_Y = [1, 0, 0, 1]


def lesson_torch(init, epochs):
    import torch
    torch.set_num_threads(1)
    nn = torch.nn
    model = nn.Sequential(nn.Linear(2, 2), nn.Sigmoid(), nn.Linear(2, 1), nn.Sigmoid())
    w = torch.from_numpy(init)
    with torch.no_grad():
        model[0].weight.copy_(w[0:4].reshape(2, 2))
        model[0].bias.copy_(w[4:6])
        model[2].weight.copy_(w[6:8].reshape(1, 2))
        model[2].bias.copy_(w[8:9])
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    xs = [torch.tensor([r], dtype=torch.float32) for r in LESSON_X]
    ys = [torch.tensor([[v]], dtype=torch.float32) for v in LESSON_Y]
    lf = torch.nn.functional.mse_loss
    t0 = time.perf_counter()
    for _ in range(epochs):
        for x, y in zip(xs, ys):
            opt.zero_grad()
            lf(model(x), y).backward()
            opt.step()
    dt = time.perf_counter() - t0
    with torch.no_grad():
        loss = float(lf(model(torch.tensor(LESSON_X, dtype=torch.float32)),
                        torch.tensor(LESSON_Y, dtype=torch.float32).reshape(4, 1)))
    return dt, loss


def lesson_numpy(init, epochs):
    """The lesson's own formulation with NumPy vectors: one update per sample."""
    import numpy as np
    W1, b1 = init[0:4].reshape(2, 2).copy(), init[4:6].copy()
    W2, b2 = init[6:8].reshape(1, 2).copy(), init[8:9].copy()
    X = np.array(LESSON_X, dtype=np.float32)
    Y = np.array(LESSON_Y, dtype=np.float32)
    lr = np.float32(0.1)

    def sig(z):
        return 1 / (1 + np.exp(-z))

    t0 = time.perf_counter()
    for _ in range(epochs):
        for x, y in zip(X, Y):
            h = sig(W1 @ x + b1)
            o = sig(W2 @ h + b2)
            dz = 2 * (o - y) * o * (1 - o)
            dh = (W2.T @ dz) * h * (1 - h)
            W2 -= lr * np.outer(dz, h)
            b2 -= lr * dz
            W1 -= lr * np.outer(dh, x)
            b1 -= lr * dh
    dt = time.perf_counter() - t0
    h = sig(X @ W1.T + b1)
    o = sig(h @ W2.T + b2)[:, 0]
    return dt, float(np.mean((o - Y) ** 2))


# ---- worker processes ------------------------------------------------------------------------

def worker(args):
    """A long-lived PyTorch or NumPy process: loads the data once, then runs the
    configurations it reads from stdin (one JSON object per line)."""
    import numpy as np
    spec = json.loads(args.worker_data)
    x, y = load_data(spec)
    init = load_init(args.worker_init)
    impl = (TorchMLP if args.worker == "torch" else NumpyMLP)(x, y, init)
    warmed = set()
    for line in sys.stdin:
        cmd = json.loads(line)
        if cmd["what"] == "lesson":
            init9 = np.fromfile(cmd["init"], dtype=np.float32)
            fn = lesson_torch if args.worker == "torch" else lesson_numpy
            dt, loss = fn(init9, cmd["epochs"])
            print(json.dumps({"seconds": dt, "final_loss": loss}), flush=True)
            continue
        bs, optim = cmd["batch"], cmd["optim"]
        if (bs, optim) not in warmed:  # first use: caches, BLAS buffers, allocator
            impl.reset(optim)
            impl.epoch(bs, limit=min(len(y), 20 * bs))
            warmed.add((bs, optim))
        times, loss = [], None
        for e in range(cmd["epochs"]):
            impl.reset(optim)
            t0 = time.perf_counter()
            impl.epoch(bs)
            times.append(time.perf_counter() - t0)
            if e == 0:
                loss = impl.loss()
        print(json.dumps({"seconds_all": times, "loss_after_epoch": loss}), flush=True)


class Worker:
    def __init__(self, kind, threads, data, init):
        env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS="1",
                   MKL_NUM_THREADS="1")
        self.p = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--worker", kind, "--worker-data",
             json.dumps(data), "--worker-init", init],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True)

    def run(self, cmd):
        self.p.stdin.write(json.dumps(cmd) + "\n")
        self.p.stdin.flush()
        line = self.p.stdout.readline()
        if not line:
            raise RuntimeError("worker died")
        return json.loads(line)

    def close(self):
        self.p.stdin.close()
        self.p.wait()


def run_json(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return [json.loads(l) for l in out.splitlines() if l.strip()]


# ---- the run ------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build/release", help="CMake build directory of nn")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=2, help="timed epochs per implementation and round")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--batches", default="32,64,128,256")
    ap.add_argument("--optims", default="sgd,adam")
    ap.add_argument("--out", default="compare-results")
    ap.add_argument("--plot", default=None, help="write a gnuplot PNG here")
    ap.add_argument("--no-lesson", action="store_true")
    ap.add_argument("--lesson-only", action="store_true", help="only the 2-2-1 comparison")
    ap.add_argument("--quick", action="store_true", help="1 round, 1 epoch, batches 64,256")
    ap.add_argument("--worker", choices=["torch", "numpy"], help=argparse.SUPPRESS)
    ap.add_argument("--worker-data", help=argparse.SUPPRESS)
    ap.add_argument("--worker-init", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(args)
    if args.quick:
        args.rounds, args.epochs, args.batches = 1, 1, "64,256"
    # Checked before anything runs: nn_bench took --repeats 0 for its default while
    # the workers ran no epoch, and a missing gnuplot failed after the whole run.
    if args.rounds < 1 or args.epochs < 1:
        ap.error("--rounds and --epochs must be at least 1")
    if args.plot and shutil.which("gnuplot") is None:
        ap.error("--plot needs gnuplot (apt-get install gnuplot-nox)")

    os.makedirs(args.out, exist_ok=True)
    bench = os.path.join(args.build, "benchmarks", "nn_bench")
    scalar = os.path.join(args.build, "benchmarks", "nn_scalar_221")
    for exe in (bench, scalar):
        if not os.access(exe, os.X_OK):
            sys.exit(f"compare.py: {exe} not found; build nn first (--build DIR)")
    # Built only where libfann-dev is installed (benchmarks/CMakeLists.txt).
    fann = os.path.join(args.build, "benchmarks", "nn_fann_221")
    fann = fann if os.access(fann, os.X_OK) else None
    threads = [int(t) for t in args.threads.split(",")]
    batches = [int(b) for b in args.batches.split(",")]
    optims = args.optims.split(",")
    init_mlp, init_221, data = write_inputs(args.out)
    data_args = (["--data", "fashion"] if data["kind"] == "fashion" else
                 ["--x", data["x"], "--y", data["y"], "--samples", str(N_TRAIN)])
    results = open(os.path.join(args.out, "results.jsonl"), "w")

    def record(d):
        results.write(json.dumps(d) + "\n")
        results.flush()
        return d

    print(f"data: {data['kind']}; {args.rounds} rounds x {args.epochs} epochs per implementation",
          file=sys.stderr)
    workers = {(k, t): Worker(k, t, data, init_mlp) for k in ("torch", "numpy") for t in threads}
    # samples[(threads, optim, batch, impl)] = list of seconds per epoch
    samples, losses, peaks = {}, {}, {}
    by_round = {}  # (threads, optim, batch, impl, round) -> median seconds in that round
    configs = [(t, o, b) for t in threads for o in optims for b in batches]
    impls = ["nn", "torch", "numpy", "floor"]
    for r in range(0 if args.lesson_only else args.rounds):
        for t in threads:
            for d in run_json([bench, "peak", "--threads", str(t), "--repeats", "5"]):
                # The best block: a disturbance only ever lowers a rate.
                peaks.setdefault(t, []).append(record(d)["gflops_best"])
        for ci, (t, o, b) in enumerate(configs):
            # The sgemm rate right before this configuration's runs, for the
            # paired fractions of sgemm: the machine's speed drifts over minutes.
            d = record(dict(run_json([bench, "peak", "--threads", str(t), "--repeats", "3"])[0],
                            round=r, batch=b, optimizer=o))
            by_round[(t, o, b, "peak", r)] = d["gflops_best"]
            order = impls[(r + ci) % 4:] + impls[:(r + ci) % 4]
            for impl in order:
                if impl == "floor" and o != optims[0]:
                    continue  # the floor does not depend on the optimizer
                if impl == "nn":
                    d = run_json([bench, "mlp", "--batch", str(b), "--optim", o, "--threads", str(t),
                                  "--repeats", str(args.epochs), "--init", init_mlp] + data_args)[0]
                    secs, loss = d["seconds_all"], d["loss_after_epoch"]
                elif impl == "floor":
                    d = run_json([bench, "floor", "--batch", str(b), "--threads", str(t),
                                  "--repeats", str(args.epochs)])[0]
                    secs, loss = d["seconds_all"], None
                else:
                    time.sleep(0.2)  # let the other process's BLAS threads go to sleep
                    d = workers[(impl, t)].run({"what": "mlp", "batch": b, "optim": o,
                                                "epochs": args.epochs})
                    secs, loss = d["seconds_all"], d["loss_after_epoch"]
                record({"bench": "compare_mlp", "impl": impl, "threads": t, "optimizer": o,
                        "batch": b, "round": r, "seconds_all": secs, "loss_after_epoch": loss,
                        "loadavg_1min": os.getloadavg()[0]})
                key = (t, "any" if impl == "floor" else o, b, impl)
                samples.setdefault(key, []).extend(secs)
                by_round[key + (r,)] = statistics.median(secs)
                if loss is not None:
                    losses.setdefault((t, o, b, impl), loss)
            print(f"round {r + 1}/{args.rounds}: {t} thread(s) {o} batch {b} done", file=sys.stderr)

    lesson = {}
    if not args.no_lesson:
        lesson = compare_lesson(args, bench, scalar, fann, init_221, workers, record)
    for w in workers.values():
        w.close()

    lines, table = [], []
    if not args.lesson_only:
        lines, table = mlp_tables(args, data, threads, optims, configs, impls, peaks, samples,
                                  losses, by_round)
    if lesson:
        lines += ["", "Lesson 2-2-1, per-sample SGD (updates/s, 1 thread):", "",
                  "| epochs | nn | scalar C | FANN | PyTorch | NumPy | nn/scalar | nn/FANN | "
                  "nn/PyTorch | final loss nn / scalar / FANN |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for e, v in sorted(lesson.items()):
            def fmt(k):
                return f"{v[k]:,.0f}" if k in v else "-"
            ratio_t = f"{v['nn'] / v['torch']:,.0f}x" if "torch" in v else "-"
            ratio_f = f"{v['nn'] / v['fann']:.2f}" if "fann" in v else "-"
            loss_f = f"{v['loss_fann']:.6g}" if v.get("loss_fann") is not None else "-"
            lines.append(f"| {e} | {fmt('nn')} | {fmt('scalar')} | {fmt('fann')} | {fmt('torch')} | "
                         f"{fmt('numpy')} | {v['nn'] / v['scalar']:.2f} | {ratio_f} | {ratio_t} | "
                         f"{v['loss_nn']:.6g} / {v['loss_scalar']:.6g} / {loss_f} |")
        lines += ["", "nn / scalar C and nn / FANN paired within each round (nn's median repeat "
                  "against the other's, run back to back): median (min-max) over rounds", ""]
        for e, v in sorted(lesson.items()):
            vs_fann = f", nn / FANN {spread(v['paired_fann'])}" if v.get("paired_fann") else ""
            lines.append(f"- {e} epochs: nn / scalar C {spread(v['paired'])}{vs_fann}")
    text = "\n".join(lines)
    print(text)
    with open(os.path.join(args.out, "table.md"), "w") as f:
        f.write(text + "\n")
    if args.plot and table:
        plot(args, table, threads, optims, batches)


def mlp_tables(args, data, threads, optims, configs, impls, peaks, samples, losses, by_round):
    """The MLP's overall and paired tables: (lines of text, rows for the plot)."""
    flop = mlp_flop_per_sample() * N_TRAIN
    lines = [f"MLP 784-256-128-10, one epoch of {N_TRAIN} samples ({data['kind']}), "
             f"{flop / 1e9:.1f} GFLOP; median seconds per epoch over "
             f"{args.rounds} rounds x {args.epochs} epochs.", ""]
    for t in threads:
        lines.append(f"sgemm 1024^3 on {t} thread(s): {max(peaks[t]):.1f} GFLOP/s (best of "
                     f"{len(peaks[t])} runs; median {statistics.median(peaks[t]):.1f})")
    lines += ["", "| threads | optim | batch | nn s | PyTorch s | NumPy s | gemm floor s | "
              "PyTorch/nn | NumPy/nn | nn/floor | nn %sgemm | PyTorch %sgemm | NumPy %sgemm | "
              "loss nn / torch / numpy |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    table = []
    for t, o, b in configs:
        peak = max(peaks[t])
        med = {i: statistics.median(samples[(t, "any" if i == "floor" else o, b, i)]) for i in impls}
        frac = {i: flop / med[i] / 1e9 / peak for i in impls}
        ls = " / ".join(f"{losses.get((t, o, b, i), float('nan')):.4f}" for i in ("nn", "torch", "numpy"))
        lines.append(f"| {t} | {o} | {b} | {med['nn']:.3f} | {med['torch']:.3f} | {med['numpy']:.3f} | "
                     f"{med['floor']:.3f} | {med['torch'] / med['nn']:.2f} | "
                     f"{med['numpy'] / med['nn']:.2f} | {med['nn'] / med['floor']:.2f} | "
                     f"{100 * frac['nn']:.0f}% | {100 * frac['torch']:.0f}% | "
                     f"{100 * frac['numpy']:.0f}% | {ls} |")
        table.append({"threads": t, "optimizer": o, "batch": b, "median": med, "peak": peak})
    lines += paired_table(args, configs, optims, by_round)
    return lines, table


def spread(values, fmt="{:.2f}"):
    """'median (min-max)' of a list of ratios."""
    med, lo, hi = (fmt.format(v) for v in (statistics.median(values), min(values), max(values)))
    return f"{med} ({lo}-{hi})"


def paired_table(args, configs, optims, by_round):
    """Ratios taken within each round, where the implementations ran back to back,
    then summarised over rounds: a drift of the machine between rounds, which moves
    every implementation's time, cancels in them, unlike in a ratio of overall
    medians."""
    lines = ["", f"Ratios paired within each round: median (min-max) over {args.rounds} rounds. "
             "%sgemm: GFLOP/s against the sgemm 1024^3 rate (best of 3 blocks) measured "
             "right before the configuration's runs in that round.", "",
             "| threads | optim | batch | PyTorch/nn | NumPy/nn | nn/floor | nn / nn with SGD | "
             "nn %sgemm | floor %sgemm | PyTorch %sgemm |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    flop = mlp_flop_per_sample() * N_TRAIN
    for t, o, b in configs:
        def ratios(num, den, o_num=o, o_den=o):
            out = []
            for r in range(args.rounds):
                kn = (t, "any" if num == "floor" else o_num, b, num, r)
                kd = (t, "any" if den == "floor" else o_den, b, den, r)
                if kn in by_round and kd in by_round:
                    out.append(by_round[kn] / by_round[kd])
            return spread(out) if out else "-"
        def of_sgemm(impl):
            out = []
            for r in range(args.rounds):
                k = (t, "any" if impl == "floor" else o, b, impl, r)
                kp = (t, o, b, "peak", r)
                if k in by_round and kp in by_round:
                    out.append(100 * flop / by_round[k] / 1e9 / by_round[kp])
            return spread(out, "{:.0f}%") if out else "-"
        vs_sgd = ratios("nn", "nn", o, "sgd") if o != "sgd" and "sgd" in optims else "-"
        lines.append(f"| {t} | {o} | {b} | {ratios('torch', 'nn')} | {ratios('numpy', 'nn')} | "
                     f"{ratios('nn', 'floor')} | {vs_sgd} | {of_sgemm('nn')} | "
                     f"{of_sgemm('floor')} | {of_sgemm('torch')} |")
    return lines


def compare_lesson(args, bench, scalar, fann, init_221, workers, record):
    """updates/s of the 2-2-1 net per sample; PyTorch and NumPy only for 1000 epochs
    (100 000 would take minutes at their rates); FANN when nn_fann_221 was built."""
    out = {}
    w1 = [k for k in workers if k[1] == min(k2[1] for k2 in workers)]
    for epochs in (1000, 100000):
        v, paired = {}, []
        for r in range(args.rounds):
            d = run_json([bench, "lesson", "--epochs", str(epochs), "--threads", "1",
                          "--init", init_221])[0]
            record(dict(d, round=r))
            v.setdefault("nn_s", []).extend(d["seconds_all"])
            v["loss_nn"] = d["final_loss"]
            nn_round = statistics.median(d["seconds_all"])
            d = run_json([scalar, "--epochs", str(epochs), "--init", init_221])[0]
            record(dict(d, round=r))
            v.setdefault("scalar_s", []).append(d["seconds_median"])
            paired.append(d["seconds_median"] / nn_round)
            v["loss_scalar"] = d["final_loss"]
            if fann is not None:
                d = run_json([fann, "--epochs", str(epochs), "--init", init_221])[0]
                record(dict(d, round=r))
                v.setdefault("fann_s", []).append(d["seconds_median"])
                v.setdefault("paired_fann", []).append(d["seconds_median"] / nn_round)
                v["loss_fann"] = d["final_loss"]
            if epochs <= 1000:
                for k in w1:
                    d = workers[k].run({"what": "lesson", "epochs": epochs, "init": init_221})
                    record({"bench": "lesson_2_2_1", "impl": k[0], "epochs": epochs, "round": r, **d})
                    v.setdefault(k[0] + "_s", []).append(d["seconds"])
        updates = 4 * epochs
        res = {k[:-2]: updates / statistics.median(s) for k, s in v.items() if k.endswith("_s")}
        res.update(loss_nn=v["loss_nn"], loss_scalar=v["loss_scalar"], paired=paired,
                   loss_fann=v.get("loss_fann"), paired_fann=v.get("paired_fann"))
        out[epochs] = res
    return out


def plot(args, table, threads, optims, batches):
    """samples/s against batch size, nn and PyTorch (and NumPy, the floor), SGD."""
    o = "sgd" if "sgd" in optims else optims[0]
    dat = os.path.join(args.out, "plot.dat")
    with open(dat, "w") as f:
        f.write("# batch " + " ".join(f"{i}_{t}t" for t in threads for i in ("nn", "torch", "numpy", "floor")) + "\n")
        for b in batches:
            row = [str(b)]
            for t in threads:
                m = next(r["median"] for r in table if r["threads"] == t and r["optimizer"] == o and r["batch"] == b)
                row += [f"{N_TRAIN / m[i]:.0f}" for i in ("nn", "torch", "numpy", "floor")]
            f.write(" ".join(row) + "\n")
    cols = []
    colors = {"nn": "#1f5fbf", "torch": "#d0402a", "numpy": "#2e9a3e", "floor": "#808080"}
    names = {"nn": "nn", "torch": "PyTorch", "numpy": "NumPy", "floor": "gemm floor"}
    c = 2
    for t in threads:
        for i in ("nn", "torch", "numpy", "floor"):
            width = 2.5 if i in ("nn", "torch") else 1.5
            cols.append(f"'{dat}' using 1:{c} with linespoints lw {width} lc rgb '{colors[i]}' "
                        f"dt {1 if t == threads[0] else 2} pt {7 if t == threads[0] else 6} "
                        f"title '{names[i]}, {t} thread{'s' if t > 1 else ''}'")
            c += 1
    script = "\n".join([
        "set terminal pngcairo size 960,560 noenhanced" if has_pngcairo() else "set terminal png size 960,560",
        f"set output '{args.plot}'",
        f"set title 'MLP 784-256-128-10, {o.upper()}, one epoch of 60000 samples (higher is better)'",
        "set xlabel 'batch size'", "set ylabel 'training samples per second'",
        "set logscale x 2", f"set xtics ({', '.join(str(b) for b in batches)})",
        f"set xrange [{batches[0] / 1.15}:{batches[-1] * 1.15}]",
        "set key outside right top", "set grid", "set yrange [0:*]",
        "plot " + ", \\\n     ".join(cols), ""])
    with open(os.path.join(args.out, "plot.gp"), "w") as f:
        f.write(script)
    subprocess.run(["gnuplot", os.path.join(args.out, "plot.gp")], check=True)
    print(f"plot: {args.plot}", file=sys.stderr)


def has_pngcairo():
    out = subprocess.run(["gnuplot", "-e", "set terminal"], capture_output=True, text=True)
    return "pngcairo" in (out.stdout + out.stderr)


if __name__ == "__main__":
    main()
