"""Every activation of nn against PyTorch: outputs and input gradients.

All cases share one input and one upstream gradient:
    x    (6, 7) awkward inputs: +-1e4, +-30, +-1, +-1e-3, 0, the softplus threshold
         (20.5 and a beta x exactly at it), a row of equal values, a row with one huge
         value, a row with tied maxima
    dy   (6, 7) a fixed upstream gradient dL/dy (seeded normal draws)
For each case NAME the fixture holds
    NAME_y     f(x) from torch in float32                                   (6, 7)
    NAME_dx    dL/dx = autograd of sum(f(x) * dy) in float32                (6, 7)
    NAME_y64, NAME_dx64   the same computed in float64 from the same float32
               inputs, then rounded to float32: the exact values, against
               which torch's own float32 error can be seen
    NAME_param, NAME_param2   the parameters, for the cases that set them
softmax and log_softmax work over each row (dim=1). tests/test_activation.c lists
the same names.
"""
import os

import torch

from fixture import FixtureWriter

F = torch.nn.functional

X = [
    [-1e4, -30.0, -1.0, -1e-3, 0.0, 1e-3, 1.0],
    [30.0, 1e4, -5.0, -3.0, 2.5, 0.5, -0.5],
    [20.5, -20.0, 7.0, -7.0, 15.0, -0.1, 0.25],
    [3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0],
    [1e4, 0.5, 0.5, -2.0, 1.0, 0.0, -1e4],
    [5.0, 5.0, -1e4, 1.0, 1.0, 0.0, -30.0],
]

# name: (function of x, param, param2); the names are nn's case names.
CASES = {
    "identity": (lambda t: t, None, None),
    "sigmoid": (torch.sigmoid, None, None),
    "relu": (F.relu, None, None),
    "leaky_relu": (F.leaky_relu, None, None),
    "leaky_relu_p": (lambda t: F.leaky_relu(t, negative_slope=0.2), 0.2, None),
    "elu": (F.elu, None, None),
    "elu_p": (lambda t: F.elu(t, alpha=0.5), 0.5, None),
    "tanh": (torch.tanh, None, None),
    "softplus": (F.softplus, None, None),
    "softplus_p": (lambda t: F.softplus(t, beta=2.0, threshold=5.0), 2.0, 5.0),
    "gelu": (F.gelu, None, None),
    "gelu_tanh": (lambda t: F.gelu(t, approximate="tanh"), None, None),
    "silu": (F.silu, None, None),
    "softmax": (lambda t: F.softmax(t, dim=1), None, None),
    "log_softmax": (lambda t: F.log_softmax(t, dim=1), None, None),
}


def run(fn, x, dy, dtype):
    xx = x.to(dtype).clone().requires_grad_(True)
    y = fn(xx)
    y.backward(dy.to(dtype))
    assert torch.isfinite(y).all() and torch.isfinite(xx.grad).all()
    return y.detach().to(torch.float32), xx.grad.to(torch.float32)


def main(outdir):
    torch.manual_seed(20240611)
    x = torch.tensor(X, dtype=torch.float32)
    dy = torch.randn(x.shape, dtype=torch.float32)
    w = FixtureWriter(os.path.join(outdir, "activations.txt"), "gen_activations.py")
    w.tensor("x", x)
    w.tensor("dy", dy)
    for name, (fn, param, param2) in CASES.items():
        if param is not None:
            w.scalar(name + "_param", param)
        if param2 is not None:
            w.scalar(name + "_param2", param2)
        y, dx = run(fn, x, dy, torch.float32)
        w.tensor(name + "_y", y)
        w.tensor(name + "_dx", dx)
        y, dx = run(fn, x, dy, torch.float64)
        w.tensor(name + "_y64", y)
        w.tensor(name + "_dx64", dx)
    w.save()
