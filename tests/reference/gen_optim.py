"""Every built-in optimizer and learning-rate schedule of nn against PyTorch, and
gradient clipping.

Optimizers. All cases start from the same two parameters and see the same 10
gradients, set by hand on .grad before each step:
    optim_init_p0 (3, 4), optim_init_p1 (1, 4)     the starting values (p1 is 1-D (4) in torch)
    optim_grads_p0 (10, 12), optim_grads_p1 (10, 4) row s-1: the gradient of step s
The gradients are smooth deterministic values, with: step 3 all zero, step 6 a
thousand times larger than the rest (and one element of p1 at 1e4), step 8 tiny
(1e-4 scale), and element p1[2]'s gradient zero at every step.
For each case PREFIX (torch.optim.<class>(foreach=False, **kwargs)):
    PREFIX_traj_p0 (10, 12), PREFIX_traj_p1 (10, 4)   the parameters after each step
    PREFIX_state_<key>_p0 (3, 4), ..._p1 (1, 4)       optimizer.state[p][key] after the
                                                      last step, for every buffer torch keeps
    PREFIX_hp_<name>                                   every keyword argument given (bools as
                                                      0/1), to check the C test's table
The cases with a schedule set the learning rate from torch's scheduler, stepped
after every optimizer step (PREFIX_hp_ names the schedule's parameters too).

Schedules. For each case sched_NAME (base_lr 0.1, torch.optim.lr_scheduler.<class>):
    sched_NAME_lr (1, 20)       get_last_lr() after t = 0..19 calls of scheduler.step()
    sched_NAME_closed_maxrel    the largest |recursive - closed| / |recursive| over those
                                20 steps, in float64, between torch's recursive get_lr()
                                and the closed form nn uses (computed here with Python's
                                math, which is C's libm, in nn's order of operations)

Defaults. default_<class>_<name>: the default of every hyper-parameter of the five
optimizer classes (read from their signatures; bools as 0/1, betas as _beta1/_beta2).

Clipping. For each case clip_NAME, torch.nn.utils.clip_grad_norm_(params, max_norm):
    clip_NAME_in_p0 (3, 4), clip_NAME_in_p1 (1, 4)   the gradients before
    clip_NAME_max_norm, clip_NAME_total_norm          max_norm and the returned norm
    clip_NAME_out_p0, clip_NAME_out_p1                the gradients after

tests/test_optim_torch.c lists the same prefixes.
"""
import inspect
import math
import os

import torch

from fixture import FixtureWriter

O = torch.optim
S = torch.optim.lr_scheduler

STEPS = 10

# (prefix, optimizer class, keyword arguments, schedule or None). A schedule is
# (scheduler class, keyword arguments).
CASES = [
    ("sgd_plain", O.SGD, dict(lr=0.1), None),
    ("sgd_momentum", O.SGD, dict(lr=0.05, momentum=0.9), None),
    ("sgd_dampening", O.SGD, dict(lr=0.05, momentum=0.9, dampening=0.3), None),
    ("sgd_nesterov", O.SGD, dict(lr=0.05, momentum=0.9, nesterov=True), None),
    ("sgd_wd", O.SGD, dict(lr=0.1, weight_decay=0.01), None),
    ("sgd_nesterov_wd", O.SGD, dict(lr=0.02, momentum=0.8, weight_decay=0.1, nesterov=True), None),
    ("adam_default", O.Adam, dict(), None),
    ("adam_betas", O.Adam, dict(lr=0.05, betas=(0.8, 0.99), eps=1e-6), None),
    ("adam_wd", O.Adam, dict(lr=0.01, weight_decay=0.1), None),
    ("adam_amsgrad", O.Adam, dict(lr=0.01, amsgrad=True), None),
    ("adam_amsgrad_wd", O.Adam, dict(lr=0.02, betas=(0.5, 0.9), weight_decay=0.05, amsgrad=True), None),
    # eps large enough to matter, so that where it enters the denominator shows.
    ("adam_large_eps", O.Adam, dict(lr=0.01, eps=0.1), None),
    ("adamw_default", O.AdamW, dict(), None),
    ("adamw_wd", O.AdamW, dict(lr=0.01, weight_decay=0.1), None),
    ("adamw_amsgrad", O.AdamW, dict(lr=0.02, betas=(0.85, 0.95), weight_decay=0.2, amsgrad=True), None),
    ("rmsprop_default", O.RMSprop, dict(), None),
    ("rmsprop_momentum", O.RMSprop, dict(lr=0.01, momentum=0.9), None),
    ("rmsprop_centered", O.RMSprop, dict(lr=0.01, centered=True), None),
    ("rmsprop_all", O.RMSprop,
     dict(lr=0.005, alpha=0.9, eps=1e-6, weight_decay=0.05, momentum=0.5, centered=True), None),
    ("rmsprop_large_eps", O.RMSprop, dict(lr=0.01, eps=0.1, centered=True), None),
    ("adagrad_default", O.Adagrad, dict(), None),
    ("adagrad_large_eps", O.Adagrad, dict(lr=0.1, eps=0.1), None),
    ("adagrad_all", O.Adagrad,
     dict(lr=0.1, lr_decay=0.05, weight_decay=0.1, initial_accumulator_value=0.1, eps=1e-8), None),
    # The learning rate changing between steps, as a schedule does it.
    ("adam_steplr", O.Adam, dict(lr=0.05), (S.StepLR, dict(step_size=3, gamma=0.5))),
    ("sgd_momentum_cosine", O.SGD, dict(lr=0.1, momentum=0.9), (S.CosineAnnealingLR, dict(T_max=10))),
    ("adagrad_linear", O.Adagrad, dict(lr=0.1, lr_decay=0.01), (S.LinearLR, dict(start_factor=0.25, total_iters=4))),
]

# (name, scheduler class, keyword arguments, nn's closed form f(base_lr, t)).
SCHED_STEPS = 20
BASE_LR = 0.1


def closed_step(step_size, gamma):
    return lambda base, t: base * math.pow(gamma, float(t // step_size))


def closed_exponential(gamma):
    return lambda base, t: base * math.pow(gamma, float(t))


def closed_cosine(T_max, eta_min=0.0):
    pi = 3.141592653589793
    return lambda base, t: eta_min + (base - eta_min) * (1.0 + math.cos(pi * float(t) / float(T_max))) / 2.0


def closed_linear(start_factor=1.0 / 3, end_factor=1.0, total_iters=5):
    return lambda base, t: base * (start_factor + (end_factor - start_factor) *
                                   float(min(t, total_iters)) / float(total_iters))


SCHEDULES = [
    ("constant", None, dict(), lambda base, t: base),
    ("step_3_half", S.StepLR, dict(step_size=3, gamma=0.5), closed_step(3, 0.5)),
    ("step_1_09", S.StepLR, dict(step_size=1, gamma=0.9), closed_step(1, 0.9)),
    ("step_4_default", S.StepLR, dict(step_size=4), closed_step(4, 0.1)),
    ("exponential_09", S.ExponentialLR, dict(gamma=0.9), closed_exponential(0.9)),
    ("exponential_07", S.ExponentialLR, dict(gamma=0.7), closed_exponential(0.7)),
    ("cosine_10", S.CosineAnnealingLR, dict(T_max=10), closed_cosine(10)),
    ("cosine_7_min", S.CosineAnnealingLR, dict(T_max=7, eta_min=0.01), closed_cosine(7, 0.01)),
    ("cosine_20", S.CosineAnnealingLR, dict(T_max=20, eta_min=0.001), closed_cosine(20, 0.001)),
    ("linear_default", S.LinearLR, dict(), closed_linear()),
    ("linear_warmup", S.LinearLR, dict(start_factor=0.1, total_iters=10), closed_linear(0.1, 1.0, 10)),
    ("linear_decay", S.LinearLR, dict(start_factor=1.0, end_factor=0.2, total_iters=8),
     closed_linear(1.0, 0.2, 8)),
]


def initial_params():
    p0 = torch.linspace(-1.5, 1.25, 12, dtype=torch.float32).reshape(3, 4)
    p0[1, 2] = 0.0
    p1 = torch.tensor([0.5, -0.25, 0.75, 2.0], dtype=torch.float32)
    return p0, p1


def gradients():
    """(10, 12) and (10, 4): smooth values with a zero step, a large one, a tiny one."""
    g0 = torch.empty(STEPS, 12, dtype=torch.float64)
    g1 = torch.empty(STEPS, 4, dtype=torch.float64)
    for s in range(STEPS):
        for k in range(12):
            g0[s, k] = math.sin(0.7 * (k + 1) + 1.3 * s) * (1.0 + 0.5 * math.cos(0.4 * k * s))
        for k in range(4):
            g1[s, k] = math.cos(1.1 * (k + 1) - 0.9 * s) * (0.5 + 0.25 * k)
    g0[2] = 0.0
    g1[2] = 0.0
    g0[5] *= 1e3
    g1[5] *= 1e3
    g1[5, 0] = 1e4
    g0[7] *= 1e-4
    g1[7] *= 1e-4
    g1[:, 2] = 0.0
    return g0.to(torch.float32), g1.to(torch.float32)


def write_hparams(w, prefix, kwargs):
    for name, v in kwargs.items():
        if name == "betas":
            w.scalar(f"{prefix}_hp_beta1", v[0])
            w.scalar(f"{prefix}_hp_beta2", v[1])
        else:
            w.scalar(f"{prefix}_hp_{name}", float(v))


def optimizer_case(w, prefix, cls, kwargs, schedule, init, grads):
    p0 = init[0].clone().requires_grad_(True)
    p1 = init[1].clone().requires_grad_(True)
    opt = cls([p0, p1], foreach=False, **kwargs)
    sched = None
    write_hparams(w, prefix, kwargs)
    if schedule is not None:
        sched = schedule[0](opt, **schedule[1])
        write_hparams(w, prefix, schedule[1])
    traj0, traj1 = [], []
    for s in range(STEPS):
        p0.grad = grads[0][s].reshape(3, 4).clone()
        p1.grad = grads[1][s].clone()
        opt.step()
        if sched is not None:
            sched.step()
        traj0.append(p0.detach().reshape(-1).clone())
        traj1.append(p1.detach().clone())
    w.tensor(prefix + "_traj_p0", torch.stack(traj0))
    w.tensor(prefix + "_traj_p1", torch.stack(traj1))
    for pname, p in (("p0", p0), ("p1", p1)):
        for key, value in sorted(opt.state[p].items()):
            if value is None:  # SGD without momentum keeps momentum_buffer = None
                continue
            if key == "step":
                assert float(value) == STEPS, (prefix, key, value)
                continue
            w.tensor(f"{prefix}_state_{key}_{pname}", value)


def schedule_case(w, name, cls, kwargs, closed):
    param = torch.zeros(1, requires_grad=True)
    opt = O.SGD([param], lr=BASE_LR)
    sched = cls(opt, **kwargs) if cls is not None else None
    lrs = []
    worst = 0.0
    for t in range(SCHED_STEPS):
        if t > 0:
            opt.step()
            if sched is not None:
                sched.step()
        lr = sched.get_last_lr()[0] if sched is not None else opt.param_groups[0]["lr"]
        lrs.append(lr)
        mine = closed(BASE_LR, t)
        if lr != mine:
            worst = max(worst, abs(lr - mine) / max(abs(lr), 1e-300))
    w.tensor(f"sched_{name}_lr", torch.tensor([lrs], dtype=torch.float64))
    w.scalar(f"sched_{name}_closed_maxrel", worst)
    return worst


def write_defaults(w):
    for cls in (O.SGD, O.Adam, O.AdamW, O.RMSprop, O.Adagrad):
        for name, par in inspect.signature(cls.__init__).parameters.items():
            v = par.default
            if name in ("maximize", "foreach", "capturable", "differentiable", "fused"):
                continue
            if name == "betas":
                w.scalar(f"default_{cls.__name__}_beta1", v[0])
                w.scalar(f"default_{cls.__name__}_beta2", v[1])
            elif isinstance(v, (bool, int, float)):
                w.scalar(f"default_{cls.__name__}_{name}", float(v))


def clip_case(w, name, g0, g1, max_norm):
    p0 = torch.zeros(3, 4, requires_grad=True)
    p1 = torch.zeros(4, requires_grad=True)
    p0.grad = g0.clone()
    p1.grad = g1.clone()
    total = torch.nn.utils.clip_grad_norm_([p0, p1], max_norm)
    w.tensor(f"clip_{name}_in_p0", g0)
    w.tensor(f"clip_{name}_in_p1", g1)
    w.scalar(f"clip_{name}_max_norm", max_norm)
    w.scalar(f"clip_{name}_total_norm", total)
    w.tensor(f"clip_{name}_out_p0", p0.grad)
    w.tensor(f"clip_{name}_out_p1", p1.grad)


def main(outdir):
    w = FixtureWriter(os.path.join(outdir, "optim.txt"), "gen_optim.py")
    init = initial_params()
    grads = gradients()
    w.tensor("optim_init_p0", init[0])
    w.tensor("optim_init_p1", init[1])
    w.tensor("optim_grads_p0", grads[0])
    w.tensor("optim_grads_p1", grads[1])
    for prefix, cls, kwargs, schedule in CASES:
        optimizer_case(w, prefix, cls, kwargs, schedule, init, grads)

    worst = {}
    for name, cls, kwargs, closed in SCHEDULES:
        worst[name] = schedule_case(w, name, cls, kwargs, closed)
    w.lines.append("# closed form vs torch's recursive get_lr(), max relative difference (float64): " +
                   ", ".join(f"{k} {v:.3g}" for k, v in worst.items()))

    write_defaults(w)

    gen = torch.Generator().manual_seed(20240611)
    g0 = torch.randn(3, 4, generator=gen)
    g1 = torch.randn(4, generator=gen)
    clip_case(w, "clipped", g0, g1, 1.0)
    clip_case(w, "unclipped", g0, g1, 100.0)
    clip_case(w, "large", g0 * 1e3, g1 * 1e3, 5.0)
    clip_case(w, "tiny_max", g0, g1, 0.001)
    clip_case(w, "zero", torch.zeros(3, 4), torch.zeros(4), 1.0)
    w.save()


if __name__ == "__main__":
    main(os.path.dirname(os.path.abspath(__file__)))
