/* nn/loss.h - the loss interface and the built-in losses.
 *
 * A loss compares a batch of predictions pred: (B, P) with targets
 * target: (B, T) and gives, in one vectorised sweep over the batch, the loss value
 * (a double, accumulated in double) and optionally its gradient dL/dpred: (B, P).
 * Like layers, losses are tables of operations: a user can add one outside the
 * library with nn_loss_new.
 *
 * The built-in losses follow PyTorch's definitions exactly, including what
 * "mean" divides by: N below is the number of terms the mean is over, which is
 * every element (N = B * P) for the elementwise losses (MSE, MAE, Huber, smooth L1,
 * BCE, BCE with logits) and every row (N = B) for cross-entropy and NLL, as in
 * torch.nn.CrossEntropyLoss and torch.nn.NLLLoss without class weights. With
 * sum reduction there is no 1/N. In every formula d = pred - target elementwise,
 * and sign(0) = 0 as torch.sign. None of them allocates when evaluated.
 */
#ifndef NN_LOSS_H
#define NN_LOSS_H

#include "nn/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* How the terms of a loss combine. Append-only. */
typedef enum nn_reduction {
    NN_REDUCTION_MEAN = 0, /* the default: mean over the loss's terms (N above: every
                              element, or every row for cross-entropy and NLL) */
    NN_REDUCTION_SUM = 1   /* sum of the terms */
} nn_reduction;

typedef struct nn_loss nn_loss;

typedef struct nn_loss_ops {
    const char *name; /* stable, lower-case ("mse") */

    /* Accepts or rejects prediction and target widths (NN_ERR_SHAPE with a
     * message). Required. */
    nn_status (*check)(const nn_loss *loss, size_t pred_width, size_t target_width);

    /* *value = L(pred, target); when grad is not NULL, grad = dL/dpred with
     * pred's shape. Shapes have passed check(). Must not allocate. May reject
     * values (a class index out of range: NN_ERR_INVALID_ARG with a message);
     * grad's contents are then unspecified. Required. */
    nn_status (*eval)(const nn_loss *loss, const nn_tensor *pred, const nn_tensor *target,
                      double *value, nn_tensor *grad);

    /* Releases loss->impl. Optional. */
    void (*destroy)(nn_loss *loss);
} nn_loss_ops;

struct nn_loss {
    const nn_loss_ops *ops; /* borrowed: must outlive the loss */
    void *impl;             /* the kind's private state */
    nn_reduction reduction;
    const void *owner;      /* the network that owns it (set by nn_net_set_loss), or NULL */
};

/* Wraps ops and impl into a new loss with mean reduction. On success the loss
 * owns impl; on failure impl stays the caller's.
 * Errors: NN_ERR_NULL_ARG (ops or a required op missing), NN_ERR_NOMEM. */
nn_status nn_loss_new(const nn_loss_ops *ops, void *impl, nn_loss **out);

/* Releases a loss no network owns. NULL is a no-op. */
void nn_loss_free(nn_loss *loss);

/* Sets the reduction. Errors: NN_ERR_NULL_ARG, NN_ERR_INVALID_ARG (unknown value). */
nn_status nn_loss_set_reduction(nn_loss *loss, nn_reduction reduction);

/* Checks shapes (2-D, same batch, widths accepted by the loss) and evaluates.
 * grad may be NULL; otherwise it must have pred's shape. On error grad's contents
 * are unspecified (the built-in losses leave *value unchanged).
 * Errors: NN_ERR_NULL_ARG, NN_ERR_SHAPE, and those of the loss's eval
 * (NN_ERR_INVALID_ARG, NN_ERR_NUMERIC for the built-in ones, as listed below). */
nn_status nn_loss_eval(const nn_loss *loss, const nn_tensor *pred, const nn_tensor *target,
                       double *value, nn_tensor *grad);

/* ---- built-in losses ------------------------------------------------------------
 *
 * Each constructor returns a new loss with mean reduction, the caller's until
 * handed to nn_net_set_loss; release it with nn_loss_free. Errors of every
 * constructor: NN_ERR_NULL_ARG (out is NULL), NN_ERR_NOMEM, and NN_ERR_INVALID_ARG
 * for a bad parameter as listed. On error *out is NULL.
 *
 * Elementwise losses (mse, mae, huber, smooth_l1, bce, bce_logits):
 *   pred: (B, P), target: (B, P), any P >= 1, otherwise NN_ERR_SHAPE.
 *   L = 1/N sum_k l(pred_k, target_k), N = B * P (mean) or 1 (sum),
 *   grad_k = 1/N dl/dpred_k.
 */

/* Mean squared error, torch.nn.MSELoss: l = d^2, dl/dp = 2 d. */
nn_status nn_loss_mse_new(nn_loss **out);

/* Mean absolute error (L1), torch.nn.L1Loss: l = |d|, dl/dp = sign(d), which is 0
 * where pred == target, as torch. */
nn_status nn_loss_mae_new(nn_loss **out);

/* The default parameters, as torch's. */
#define NN_LOSS_HUBER_DEFAULT_DELTA    1.0
#define NN_LOSS_SMOOTH_L1_DEFAULT_BETA 1.0

/* Huber loss, torch.nn.HuberLoss(delta):
 *   l = 0.5 d^2               if |d| < delta,   dl/dp = d
 *   l = delta (|d| - delta/2) otherwise,        dl/dp = delta sign(d)
 * delta is the point where the loss turns from quadratic to linear; the default
 * is 1.0 (NN_LOSS_HUBER_DEFAULT_DELTA). Errors: NN_ERR_INVALID_ARG (delta not finite
 * or <= 0; torch rejects delta <= 0 too). */
nn_status nn_loss_huber_new(double delta, nn_loss **out);

/* Smooth L1 loss, torch.nn.SmoothL1Loss(beta): Huber divided by beta,
 *   l = 0.5 d^2 / beta        if |d| < beta,    dl/dp = d / beta
 *   l = |d| - beta/2          otherwise,        dl/dp = sign(d)
 * The default beta is 1.0 (NN_LOSS_SMOOTH_L1_DEFAULT_BETA), where it equals Huber
 * with delta 1. beta = 0 is accepted and gives the L1 loss, as in torch.
 * Errors: NN_ERR_INVALID_ARG (beta not finite or < 0). */
nn_status nn_loss_smooth_l1_new(double beta, nn_loss **out);

/* Binary cross-entropy on probabilities, torch.nn.BCELoss (no weights):
 *   l = -(t max(log p, -100) + (1 - t) max(log(1 - p), -100))
 *   dl/dp = (p - t) / max(p (1 - p), 1e-12)
 * pred holds probabilities in [0, 1] (a sigmoid's output); target is usually 0 or
 * 1 but any value is used as given (soft labels), as torch does.
 * Finite at the edges, exactly like torch: the logarithms are clamped to >= -100,
 * so p = 0 or p = 1 costs at most 100 per element (0 when the target agrees), and
 * the gradient's denominator is kept >= 1e-12 (torch's BCE backward uses the same
 * eps), so at p = 0 or 1 the gradient is (p - t) * 1e12 / N: large but finite, and
 * 0 when the target agrees.
 * Errors from eval: NN_ERR_INVALID_ARG for a prediction outside [0, 1] and
 * NN_ERR_NUMERIC for a NaN prediction, naming its row and column (torch raises an
 * error for both). */
nn_status nn_loss_bce_new(nn_loss **out);

/* Binary cross-entropy on logits, torch.nn.BCEWithLogitsLoss (no weights): the
 * sigmoid and BCE fused, in the stable form
 *   l = max(x, 0) - x t + log1p(exp(-|x|)),   dl/dx = sigmoid(x) - t,
 * x = pred (any real number), t = target (usually in [0, 1]). exp is evaluated only
 * of non-positive numbers, so the value and gradient are finite for any finite x
 * (at |x| = 1e4, l = max(x, 0) - x t exactly and the gradient is (1 - t) or -t, over
 * N), and there is no clamping: prefer this to sigmoid + bce. */
nn_status nn_loss_bce_logits_new(nn_loss **out);

/* ---- classification losses (cross_entropy, nll) ------------------------------------
 *
 * pred: (B, C) holds one score per class; the mean is over the B rows (N = B), as
 * torch: L = 1/N sum_i l_i, grad = 1/N dl_i/dpred_i.
 * Class-index targets, target: (B, 1), hold each row's class y_i as a float with an
 * integer value in [0, C) (exact for C up to 2^24); any other value (negative,
 * fractional, >= C, NaN) makes eval fail with NN_ERR_INVALID_ARG naming the row and
 * the value. Indices are checked in eval, row by row, before anything is written,
 * and without allocating. torch's ignore_index (-100 by default) has no counterpart:
 * -100 is an error here. */

/* Softmax cross-entropy on logits, torch.nn.CrossEntropyLoss (no weights, no label
 * smoothing): log-softmax and the negative log-likelihood fused. With
 * lse_i = log sum_j exp(x_ij) (computed after subtracting the row's maximum, so
 * logits of any finite magnitude, e.g. +-1e4, give finite values and gradients):
 *   class indices, target (B, 1):       l_i = lse_i - x_{i,y_i}
 *                                       dl_i/dx_ij = softmax(x_i)_j - [j == y_i]
 *   probabilities, target (B, C):       l_i = sum_j t_ij (lse_i - x_ij)
 *                                       dl_i/dx_ij = softmax(x_i)_j sum_k t_ik - t_ij
 * (softmax - t when a row of t sums to 1, e.g. one-hot rows). The target form is
 * chosen from the target width: 1 means indices, C means probability rows, any other
 * width is NN_ERR_SHAPE. C = 1 is rejected with NN_ERR_SHAPE: a width-1 target would
 * be ambiguous, and with one class the loss is identically 0 (use bce_logits for one
 * output). Probability rows are used as given (not checked to sum to 1), as torch.
 * pred must be logits: a network ending in a softmax layer trains (nothing checks)
 * but applies softmax twice; end it with the dense layer. */
nn_status nn_loss_cross_entropy_new(nn_loss **out);

/* Negative log-likelihood, torch.nn.NLLLoss (no weights): pred holds
 * log-probabilities, e.g. a log-softmax's output (not checked), target: (B, 1)
 * class indices; any other target width is NN_ERR_SHAPE. C >= 1.
 *   l_i = -x_{i,y_i},   dl_i/dx_ij = -[j == y_i]. */
nn_status nn_loss_nll_new(nn_loss **out);

/* ---- built-in kinds by name ------------------------------------------------------ */

/* The built-in losses. Append-only: the values may be written to model files. */
typedef enum nn_loss_kind {
    NN_LOSS_MSE = 0,
    NN_LOSS_MAE = 1,
    NN_LOSS_HUBER = 2,
    NN_LOSS_SMOOTH_L1 = 3,
    NN_LOSS_BCE = 4,
    NN_LOSS_BCE_LOGITS = 5,
    NN_LOSS_CROSS_ENTROPY = 6,
    NN_LOSS_NLL = 7
} nn_loss_kind;

/* The kind's name, which is also its loss's ops->name: "mse", "mae", "huber",
 * "smooth_l1", "bce", "bce_logits", "cross_entropy", "nll". NULL for an unknown kind.
 * Static; never freed. */
const char *nn_loss_kind_name(nn_loss_kind kind);

/* The kind called name (exactly as nn_loss_kind_name gives it; case matters).
 * Errors: NN_ERR_NULL_ARG, NN_ERR_INVALID_ARG (unknown name, quoted in the message;
 * *kind is then unchanged). */
nn_status nn_loss_kind_from_name(const char *name, nn_loss_kind *kind);

/* A new loss of the given kind with its default parameters (Huber delta 1.0, smooth
 * L1 beta 1.0) and mean reduction; the caller's, as the constructors above.
 * Errors: NN_ERR_NULL_ARG, NN_ERR_INVALID_ARG (unknown kind), NN_ERR_NOMEM. */
nn_status nn_loss_new_by_kind(nn_loss_kind kind, nn_loss **out);

/* The kind of a built-in loss (matched by its ops table).
 * Errors: NN_ERR_NULL_ARG, NN_ERR_INVALID_ARG (a loss defined outside nn). */
nn_status nn_loss_get_kind(const nn_loss *loss, nn_loss_kind *kind);

/* The parameter of a built-in loss that has one: Huber's delta, smooth L1's beta.
 * Errors: NN_ERR_NULL_ARG, NN_ERR_INVALID_ARG (any other loss). */
nn_status nn_loss_get_param(const nn_loss *loss, double *value);

#ifdef __cplusplus
}
#endif

#endif /* NN_LOSS_H */
