"""Every built-in loss of nn against PyTorch, for both reductions.

For each case PREFIX the fixture holds
    PREFIX_pred, PREFIX_target         the inputs, float32 (B, P) and (B, T)
    PREFIX_mean_value, PREFIX_sum_value the loss from torch.nn.functional, float32 (1, 1)
    PREFIX_mean_grad, PREFIX_sum_grad   dL/dpred from autograd, float32 (B, P)
    PREFIX_param                        delta or beta, for huber and smooth_l1 cases only
Class-index targets are written as floats in a (B, 1) column, as nn takes them.
The cases include the awkward inputs: logits of +-1e4, zeros, ties (pred == target,
equal logits), |d| exactly at Huber's delta and smooth L1's beta, and probabilities
of exactly 0 and 1 for BCE. tests/test_losses_torch.c lists the same prefixes.
"""
import os

import torch

from fixture import FixtureWriter

F = torch.nn.functional


def idx(target):
    """A (B, 1) float column of class indices -> the (B,) int64 torch wants."""
    return target.reshape(-1).to(torch.int64)


LOSSES = {
    "mse": lambda p, t, r, a: F.mse_loss(p, t, reduction=r),
    "mae": lambda p, t, r, a: F.l1_loss(p, t, reduction=r),
    "huber": lambda p, t, r, a: F.huber_loss(p, t, reduction=r, delta=a),
    "smooth_l1": lambda p, t, r, a: F.smooth_l1_loss(p, t, reduction=r, beta=a),
    "bce": lambda p, t, r, a: F.binary_cross_entropy(p, t, reduction=r),
    "bce_logits": lambda p, t, r, a: F.binary_cross_entropy_with_logits(p, t, reduction=r),
    "ce_idx": lambda p, t, r, a: F.cross_entropy(p, idx(t), reduction=r),
    "ce_prob": lambda p, t, r, a: F.cross_entropy(p, t, reduction=r),
    "nll": lambda p, t, r, a: F.nll_loss(p, idx(t), reduction=r),
}


def t32(rows):
    return torch.tensor(rows, dtype=torch.float32)


def grad_of(loss, pred, target, red, param):
    p = pred.clone().requires_grad_(True)
    value = LOSSES[loss](p, target, red, param)
    value.backward()
    assert torch.isfinite(value) and torch.isfinite(p.grad).all(), (loss, red)
    return value.detach(), p.grad


def case(w, prefix, loss, pred, target, param=None):
    pred = torch.as_tensor(pred, dtype=torch.float32)
    target = torch.as_tensor(target, dtype=torch.float32)
    w.tensor(prefix + "_pred", pred)
    w.tensor(prefix + "_target", target)
    if param is not None:
        w.scalar(prefix + "_param", param)
    for red in ("mean", "sum"):
        value, grad = grad_of(loss, pred, target, red, param)
        if loss == "smooth_l1" and param == 0.0:
            # torch 1.13's SmoothL1 backward gives -1 where pred == target when beta = 0 (its
            # x <= -beta branch), while the L1Loss it is documented to equal gives sign(0) = 0.
            # nn follows L1Loss: those elements come from l1_loss's autograd, the rest must agree.
            l1_value, l1_grad = grad_of("mae", pred, target, red, None)
            tie = pred == target
            assert torch.equal(l1_value, value) and torch.equal(l1_grad[~tie], grad[~tie])
            assert bool(tie.any()) and bool((grad[tie] < 0).all())
            grad = l1_grad
        w.tensor(f"{prefix}_{red}_value", value.reshape(1, 1))
        w.tensor(f"{prefix}_{red}_grad", grad)


def main(outdir):
    torch.manual_seed(20240601)
    w = FixtureWriter(os.path.join(outdir, "losses.txt"), "gen_losses.py")

    # Regression losses: random values with a tie (pred == target) and a row of zeros.
    pred = torch.randn(4, 3) * 2.0
    target = torch.randn(4, 3) * 2.0
    target[0, 0] = pred[0, 0]
    target[2, 1] = pred[2, 1]
    pred[1] = 0.0
    target[1] = 0.0
    large_p = t32([[1e4, -1e4, 0.0], [-1e4, 1e4, 3.0]])
    large_t = t32([[-1e4, 1e4, 0.0], [1e4, -1e4, 3.0]])
    # |d| inside, exactly at (d = +-0.5, +-1, +-2 are exact in float), and beyond the kinks.
    kink_p = t32([[0.0, 0.5, 1.5, -1.0, 0.25], [3.0, -2.5, 2.0, 0.7, -0.3], [0.0, 1.0, -4.0, 2.25, 0.0]])
    kink_t = t32([[0.0, 0.0, 0.5, 0.0, 0.75], [1.0, -0.5, 0.0, 0.7, 0.2], [0.5, 0.0, -2.0, 0.0, -2.0]])

    for loss in ("mse", "mae"):
        case(w, loss + "_basic", loss, pred, target)
        case(w, loss + "_large", loss, large_p, large_t)
        case(w, loss + "_kinks", loss, kink_p, kink_t)

    case(w, "huber_basic", "huber", pred, target, 1.0)
    case(w, "huber_kinks", "huber", kink_p, kink_t, 1.0)
    case(w, "huber_kinks_d05", "huber", kink_p, kink_t, 0.5)
    case(w, "huber_kinks_d2", "huber", kink_p, kink_t, 2.0)
    case(w, "huber_large", "huber", large_p, large_t, 1.0)

    case(w, "smooth_l1_basic", "smooth_l1", pred, target, 1.0)
    case(w, "smooth_l1_kinks", "smooth_l1", kink_p, kink_t, 1.0)
    case(w, "smooth_l1_kinks_b05", "smooth_l1", kink_p, kink_t, 0.5)
    case(w, "smooth_l1_kinks_b2", "smooth_l1", kink_p, kink_t, 2.0)
    case(w, "smooth_l1_kinks_b0", "smooth_l1", kink_p, kink_t, 0.0)
    case(w, "smooth_l1_large", "smooth_l1", large_p, large_t, 1.0)

    # BCE on probabilities: sigmoid outputs with hard and soft labels, then the edges:
    # exactly 0 and 1 with agreeing, opposite and soft targets, the smallest normal and
    # subnormal floats, and 1 - 2^-24 (the largest float below 1).
    bce_p = torch.sigmoid(torch.randn(4, 3) * 2.0)
    bce_t = t32([[0, 1, 1], [1, 0, 0], [0.25, 0.5, 1], [0, 0.9, 0.1]])
    case(w, "bce_basic", "bce", bce_p, bce_t)
    tiny, sub = 2.0 ** -126, 2.0 ** -149
    edge_p = t32([[0.0, 1.0, 0.0, 1.0], [0.0, 1.0, 0.5, 1e-30],
                  [1.0 - 2.0 ** -24, 2.0 ** -24, tiny, sub]])
    edge_t = t32([[0.0, 1.0, 1.0, 0.0], [0.5, 0.5, 0.5, 1.0], [0.0, 1.0, 1.0, 1.0]])
    case(w, "bce_edges", "bce", edge_p, edge_t)

    # BCE on logits: moderate, then +-1e4 and zeros with hard and soft labels.
    case(w, "bce_logits_basic", "bce_logits", torch.randn(4, 3) * 3.0, bce_t)
    case(w, "bce_logits_large", "bce_logits",
         t32([[1e4, -1e4, 0.0, 1e4], [-1e4, 1e4, 20.0, -20.0], [0.0, 0.0, 1e4, -1e4]]),
         t32([[0.0, 1.0, 0.5, 1.0], [0.0, 0.0, 0.3, 1.0], [1.0, 0.0, 0.25, 0.75]]))

    # Cross-entropy with class indices.
    ce_x = torch.randn(5, 4) * 2.0
    ce_y = t32([[0], [3], [1], [2], [3]])
    case(w, "ce_idx_basic", "ce_idx", ce_x, ce_y)
    # +-1e4 logits, a row of ties, a row of zeros, a confident right and a confident wrong row.
    ce_large = t32([[1e4, -1e4, 0.0, 1e4], [-1e4, -1e4, -1e4, -1e4], [0.0, 0.0, 0.0, 0.0],
                    [1e4, 0.0, 0.0, 0.0], [-1e4, 1e4, 5.0, -5.0]])
    case(w, "ce_idx_large", "ce_idx", ce_large, t32([[1], [2], [0], [0], [0]]))
    case(w, "ce_idx_two_classes", "ce_idx", t32([[0.3, -0.2], [2.0, 2.0], [-1.0, 4.0]]),
         t32([[1], [0], [1]]))

    # Cross-entropy with probability rows: soft, one-hot, and large with rows that do not
    # sum to 1 (torch uses them as given: the gradient is softmax * sum(t) - t).
    soft = torch.softmax(torch.randn(5, 4), dim=1)
    case(w, "ce_prob_basic", "ce_prob", ce_x, soft)
    case(w, "ce_prob_onehot", "ce_prob", ce_x, F.one_hot(idx(ce_y), 4).to(torch.float32))
    case(w, "ce_prob_large", "ce_prob", ce_large,
         t32([[0.5, 0.0, 0.0, 0.5], [0.25, 0.25, 0.25, 0.25], [0.2, 0.3, 0.1, 0.0],
              [0.0, 0.0, 0.0, 0.0], [0.1, 0.0, 0.9, 0.0]]))

    # NLL on log-probabilities, and on arbitrary values (NLL only picks one per row).
    case(w, "nll_basic", "nll", torch.log_softmax(ce_x, dim=1), ce_y)
    case(w, "nll_large", "nll", ce_large, t32([[1], [2], [0], [0], [3]]))

    w.save()
