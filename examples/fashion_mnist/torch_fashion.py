#!/usr/bin/python3
"""torch_fashion.py - the network of fashion_mnist.c, trained with PyTorch, for comparison.

The same recipe on the same files: pixels / 255; 10% of the training images held out
for validation (a seeded random split of the same size); 784-256-128-10 with ReLU,
torch.nn.Linear's default initialisation; softmax cross-entropy on class indices;
Adam, lr 1e-3 with CosineAnnealingLR(T_max=epochs) stepped once per epoch (--schedule
constant: none); shuffled mini-batches; validation after every epoch (inside the
epoch's time, as nn_net_fit does). Batches are cut from tensors in memory with a
random permutation (no DataLoader), so the figures measure the training arithmetic.

    python3 torch_fashion.py --threads 1 --epochs 10 --batch 128 --json

Debian: apt-get install python3-torch dataset-fashion-mnist
"""
import argparse
import gzip
import json
import os
import struct
import sys
import time

import torch

DEFAULT_DIR = "/usr/share/datasets/fashion-mnist"
CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
           "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def read_idx(path):
    """An unsigned-byte IDX file (plain or gzip) as a uint8 tensor of its dimensions."""
    with open(path, "rb") as f:
        gz = f.read(2) == b"\x1f\x8b"
    with (gzip.open(path, "rb") if gz else open(path, "rb")) as f:
        data = f.read()
    zero, dtype, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype != 0x08:
        sys.exit(f"{path}: not an unsigned-byte IDX file")
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    count = 1
    for d in dims:
        count *= d
    if len(data) != 4 + 4 * ndim + count:
        sys.exit(f"{path}: {len(data) - 4 - 4 * ndim} data bytes, the header says {count}")
    body = torch.frombuffer(bytearray(data), dtype=torch.uint8, offset=4 + 4 * ndim)
    return body.reshape(dims)


def find(data_dir, stem):
    for name in (stem + ".gz", stem):
        path = os.path.join(data_dir, name)
        if os.access(path, os.R_OK):
            return path
    sys.stderr.write(f"torch_fashion.py: {stem}(.gz) not found in {data_dir}\n"
                     "Install the files with: apt-get install dataset-fashion-mnist\n")
    sys.exit(2)


def load(data_dir, kind):
    images = read_idx(find(data_dir, f"{kind}-images-idx3-ubyte"))
    labels = read_idx(find(data_dir, f"{kind}-labels-idx1-ubyte"))
    x = images.reshape(len(images), -1).to(torch.float32) / 255.0
    y = labels.to(torch.int64)
    return x, y


def evaluate(model, loss_fn, x, y, batch=1000):
    model.eval()
    loss, right = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(x), batch):
            out = model(x[i:i + batch])
            loss += loss_fn(out, y[i:i + batch]).item() * len(out)
            right += (out.argmax(1) == y[i:i + batch]).sum().item()
    return loss / len(x), right / len(x)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=DEFAULT_DIR)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--val", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--schedule", choices=["cosine", "constant"], default="cosine")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    # the same limits nn_fashion_mnist checks; they met a traceback before
    if args.epochs < 1 or args.batch < 1 or args.threads < 1 or not 0 < args.val < 1:
        ap.error("--epochs, --batch and --threads must be >= 1, --val in (0, 1)")

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    x_all, y_all = load(args.data, "train")
    x_test, y_test = load(args.data, "t10k")
    perm = torch.randperm(len(x_all))
    n_val = int(round(args.val * len(x_all)))
    val_idx, train_idx = perm[:n_val].sort().values, perm[n_val:].sort().values
    x_train, y_train = x_all[train_idx].contiguous(), y_all[train_idx].contiguous()
    x_val, y_val = x_all[val_idx].contiguous(), y_all[val_idx].contiguous()
    n = len(x_train)
    print(f"Fashion-MNIST: {n} training, {len(x_val)} validation, {len(x_test)} test images; "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")

    model = torch.nn.Sequential(
        torch.nn.Linear(784, 256), torch.nn.ReLU(),
        torch.nn.Linear(256, 128), torch.nn.ReLU(),
        torch.nn.Linear(128, 10))
    loss_fn = torch.nn.CrossEntropyLoss()
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    sched = (torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=args.epochs)
             if args.schedule == "cosine" else None)

    print("epoch  train loss  train acc  val loss  val acc  seconds  samples/s")
    seconds = 0.0
    for epoch in range(args.epochs):
        t0 = time.perf_counter()
        model.train()
        order = torch.randperm(n)
        total, right = 0.0, 0
        for i in range(0, n, args.batch):
            idx = order[i:i + args.batch]
            xb, yb = x_train[idx], y_train[idx]
            opt.zero_grad()
            out = model(xb)
            loss = loss_fn(out, yb)
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
            right += (out.argmax(1) == yb).sum().item()
        val_loss, val_acc = evaluate(model, loss_fn, x_val, y_val)
        if sched is not None:
            sched.step()
        dt = time.perf_counter() - t0
        seconds += dt
        print(f"{epoch + 1:5d}  {total / n:10.4f}  {100 * right / n:8.2f}%  {val_loss:8.4f}  "
              f"{100 * val_acc:6.2f}%  {dt:7.2f}  {n / dt:9.0f}", flush=True)

    test_loss, test_acc = evaluate(model, loss_fn, x_test, y_test)
    per_epoch = seconds / args.epochs
    print(f"Time per epoch {per_epoch:.2f} s (validation included), "
          f"{n * args.epochs / seconds:.0f} training samples/s")
    print(f"Test accuracy {100 * test_acc:.2f}%, test loss {test_loss:.4f}")
    if args.json:
        print(json.dumps({"impl": "torch", "threads": torch.get_num_threads(),
                          "batch": args.batch, "epochs": args.epochs, "train_samples": n,
                          "test_accuracy": round(test_acc, 4), "test_loss": round(test_loss, 4),
                          "seconds_per_epoch": round(per_epoch, 3),
                          "samples_per_s": round(n * args.epochs / seconds)}))


if __name__ == "__main__":
    main()
