/* loss.c - the generic loss interface and the built-in losses. */
#include <string.h>

#include "internal.h"
#include "nn/loss.h"

nn_status nn_loss_new(const nn_loss_ops *ops, void *impl, nn_loss **out)
{
    NN_CHECK_NULL(out);
    *out = NULL;
    NN_CHECK_NULL(ops);
    if (ops->name == NULL || ops->check == NULL || ops->eval == NULL)
        return nn_error(NN_ERR_NULL_ARG, "nn_loss_new: loss ops '%s' lack name, check or eval",
                        ops->name ? ops->name : "(unnamed)");
    nn_loss *loss = nn_xalloc(sizeof *loss);
    if (loss == NULL)
        return nn_error(NN_ERR_NOMEM, "nn_loss_new: cannot allocate a '%s' loss", ops->name);
    loss->ops = ops;
    loss->impl = impl;
    loss->reduction = NN_REDUCTION_MEAN;
    *out = loss;
    return NN_OK;
}

void nn_loss_free(nn_loss *loss)
{
    if (loss == NULL)
        return;
    if (loss->ops->destroy != NULL)
        loss->ops->destroy(loss);
    nn_xfree(loss);
}

nn_status nn_loss_set_reduction(nn_loss *loss, nn_reduction reduction)
{
    NN_CHECK_NULL(loss);
    switch (reduction) {
    case NN_REDUCTION_MEAN:
    case NN_REDUCTION_SUM:
        loss->reduction = reduction;
        return NN_OK;
    }
    return nn_error(NN_ERR_INVALID_ARG, "nn_loss_set_reduction: unknown reduction %d", (int)reduction);
}

nn_status nn_loss_eval(const nn_loss *loss, const nn_tensor *pred, const nn_tensor *target,
                       double *value, nn_tensor *grad)
{
    NN_CHECK_NULL(loss);
    NN_CHECK_NULL(pred);
    NN_CHECK_NULL(target);
    NN_CHECK_NULL(value);
    if (pred->ndim != 2 || target->ndim != 2 || pred->shape[0] != target->shape[0])
        return nn_error(NN_ERR_SHAPE,
                        "nn_loss_eval: '%s' needs 2-D predictions and targets with the same batch, "
                        "got %zu and %zu rows (%d-D, %d-D)",
                        loss->ops->name, nn_tensor_nrows(pred), nn_tensor_nrows(target), pred->ndim,
                        target->ndim);
    if (grad != NULL && !nn_tensor_same_shape(grad, pred))
        return nn_error(NN_ERR_SHAPE, "nn_loss_eval: gradient is (%zu, %zu), predictions (%zu, %zu)",
                        nn_tensor_nrows(grad), nn_tensor_ncols(grad), pred->shape[0], pred->shape[1]);
    nn_status st = loss->ops->check(loss, pred->shape[1], target->shape[1]);
    if (st != NN_OK)
        return st;
    return loss->ops->eval(loss, pred, target, value, grad);
}

/* ---- MSE: L = 1/N sum (p - t)^2, dL/dp = 2/N (p - t) ----------------------------- */

static nn_status mse_check(const nn_loss *loss, size_t pred_width, size_t target_width)
{
    (void)loss;
    if (pred_width != target_width)
        return nn_error(NN_ERR_SHAPE, "mse: predictions have width %zu but targets %zu", pred_width,
                        target_width);
    return NN_OK;
}

static nn_status mse_eval(const nn_loss *loss, const nn_tensor *pred, const nn_tensor *target,
                          double *value, nn_tensor *grad)
{
    size_t n = pred->size;
    double scale = loss->reduction == NN_REDUCTION_MEAN ? 1.0 / (double)n : 1.0;
    float gscale = (float)(2.0 * scale);
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) {
        float d = pred->data[i] - target->data[i];
        sum += (double)d * d;
        if (grad != NULL)
            grad->data[i] = gscale * d;
    }
    *value = sum * scale;
    return NN_OK;
}

static const nn_loss_ops mse_ops = {
    .name = "mse", .check = mse_check, .eval = mse_eval, .destroy = NULL,
};

nn_status nn_loss_mse_new(nn_loss **out) { return nn_loss_new(&mse_ops, NULL, out); }
