/* nn/loss.h - the loss interface and the built-in losses.
 *
 * A loss compares a batch of predictions pred: (B, P) with targets
 * target: (B, T) and gives, in one vectorised pass, the loss value (a double,
 * accumulated in double) and optionally its gradient dL/dpred: (B, P).
 * Like layers, losses are tables of operations: a user can add one outside the
 * library with nn_loss_new.
 */
#ifndef NN_LOSS_H
#define NN_LOSS_H

#include "nn/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* How per-element losses combine. Append-only. */
typedef enum nn_reduction {
    NN_REDUCTION_MEAN = 0, /* mean over every element of the batch (the default) */
    NN_REDUCTION_SUM = 1   /* sum over every element */
} nn_reduction;

typedef struct nn_loss nn_loss;

typedef struct nn_loss_ops {
    const char *name; /* stable, lower-case ("mse") */

    /* Accepts or rejects prediction and target widths (NN_ERR_SHAPE with a
     * message). Required. */
    nn_status (*check)(const nn_loss *loss, size_t pred_width, size_t target_width);

    /* *value = L(pred, target); when grad is not NULL, grad = dL/dpred with
     * pred's shape. Shapes have passed check(). Must not allocate. Required. */
    nn_status (*eval)(const nn_loss *loss, const nn_tensor *pred, const nn_tensor *target,
                      double *value, nn_tensor *grad);

    /* Releases loss->impl. Optional. */
    void (*destroy)(nn_loss *loss);
} nn_loss_ops;

struct nn_loss {
    const nn_loss_ops *ops; /* borrowed: must outlive the loss */
    void *impl;             /* the kind's private state */
    nn_reduction reduction;
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
 * grad may be NULL; otherwise it must have pred's shape.
 * Errors: NN_ERR_NULL_ARG, NN_ERR_SHAPE. */
nn_status nn_loss_eval(const nn_loss *loss, const nn_tensor *pred, const nn_tensor *target,
                       double *value, nn_tensor *grad);

/* Mean squared error: L = 1/N sum (pred - target)^2 over all N = B*P elements,
 * dL/dpred = 2/N (pred - target) (with sum reduction: no 1/N). Target width
 * must equal prediction width. Matches torch.nn.MSELoss. */
nn_status nn_loss_mse_new(nn_loss **out);

#ifdef __cplusplus
}
#endif

#endif /* NN_LOSS_H */
