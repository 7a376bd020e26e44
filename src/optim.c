/* optim.c - the generic optimizer interface and the built-in optimizers. */
#include <math.h>

#include "internal.h"
#include "nn/kernel.h"
#include "nn/optim.h"

static nn_status check_lr(const char *fn, double lr)
{
    if (!isfinite(lr) || lr < 0.0)
        return nn_error(NN_ERR_INVALID_ARG, "%s: learning rate %g is not a finite value >= 0", fn, lr);
    return NN_OK;
}

nn_status nn_optim_new(const nn_optim_ops *ops, void *impl, double lr, nn_optim **out)
{
    NN_CHECK_NULL(out);
    *out = NULL;
    NN_CHECK_NULL(ops);
    if (ops->name == NULL || ops->step == NULL)
        return nn_error(NN_ERR_NULL_ARG, "nn_optim_new: optimizer ops '%s' lack name or step",
                        ops->name ? ops->name : "(unnamed)");
    nn_status st = check_lr(__func__, lr);
    if (st != NN_OK)
        return st;
    nn_optim *o = nn_xalloc(sizeof *o);
    if (o == NULL)
        return nn_error(NN_ERR_NOMEM, "nn_optim_new: cannot allocate a '%s' optimizer", ops->name);
    o->ops = ops;
    o->impl = impl;
    o->lr = lr;
    o->step_count = 0;
    *out = o;
    return NN_OK;
}

void nn_optim_free(nn_optim *o)
{
    if (o == NULL)
        return;
    if (o->ops->destroy != NULL)
        o->ops->destroy(o);
    nn_xfree(o);
}

nn_status nn_optim_set_lr(nn_optim *o, double lr)
{
    NN_CHECK_NULL(o);
    nn_status st = check_lr(__func__, lr);
    if (st == NN_OK)
        o->lr = lr;
    return st;
}

nn_status nn_optim_setup(nn_optim *o, const nn_tensor *params, size_t n)
{
    NN_CHECK_NULL(o);
    if (n > 0)
        NN_CHECK_NULL(params);
    return o->ops->setup != NULL ? o->ops->setup(o, params, n) : NN_OK;
}

nn_status nn_optim_step(nn_optim *o, nn_tensor *params, const nn_tensor *grads, size_t n)
{
    NN_CHECK_NULL(o);
    if (n > 0) {
        NN_CHECK_NULL(params);
        NN_CHECK_NULL(grads);
    }
    for (size_t i = 0; i < n; i++)
        if (params[i].size != grads[i].size)
            return nn_error(NN_ERR_SHAPE, "nn_optim_step: parameter %zu has %zu elements, its gradient %zu",
                            i, params[i].size, grads[i].size);
    o->step_count++;
    return o->ops->step(o, params, grads, n);
}

/* ---- SGD: p -= lr * g ---------------------------------------------------------- */

static nn_status sgd_step(nn_optim *o, nn_tensor *params, const nn_tensor *grads, size_t n)
{
    float alpha = (float)-o->lr;
    for (size_t i = 0; i < n; i++) {
        nn_status st = nn_kernel_axpy(alpha, &grads[i], &params[i]);
        if (st != NN_OK)
            return st;
    }
    return NN_OK;
}

static const nn_optim_ops sgd_ops = {
    .name = "sgd", .setup = NULL, .step = sgd_step, .destroy = NULL,
};

nn_status nn_optim_sgd_new(double lr, nn_optim **out) { return nn_optim_new(&sgd_ops, NULL, lr, out); }
