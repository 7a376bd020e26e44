"""A 4-16-3 ReLU network with softmax cross-entropy trained by Adam in PyTorch.

The C test (tests/test_e2e_torch.c) loads the starting weights, inputs and
targets, trains the same network in nn for the same steps and compares every
weight with PyTorch's final ones, and the loss of every step.
"""
import os

import torch

from fixture import FixtureWriter

STEPS = 8


def main(outdir):
    torch.manual_seed(1234)
    net = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))
    x = torch.randn(8, 4) * 2.0
    y = torch.tensor([0, 1, 2, 1, 0, 2, 2, 1])
    w = FixtureWriter(os.path.join(outdir, "e2e.txt"), "gen_e2e.py")
    w.tensor("x", x)
    w.tensor("y", y.to(torch.float32).reshape(-1, 1))
    names = ["w1", "b1", "w2", "b2"]
    params = [net[0].weight, net[0].bias, net[2].weight, net[2].bias]
    for n, p in zip(names, params):
        w.tensor(n + "_start", p)
    opt = torch.optim.Adam(net.parameters(), lr=0.01)
    loss_fn = torch.nn.CrossEntropyLoss()
    losses = []
    for _ in range(STEPS):
        opt.zero_grad()
        loss = loss_fn(net(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    w.tensor("losses", torch.tensor(losses).reshape(1, -1))
    for n, p in zip(names, params):
        w.tensor(n + "_end", p)
    w.save()
