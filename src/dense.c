/* dense.c - the fully connected layer, y = x W^T + b, in torch.nn.Linear's layout. */
#include <string.h>

#include "internal.h"
#include "nn/dense.h"
#include "nn/kernel.h"

typedef struct dense {
    nn_dense_params p;
} dense;

static nn_status dense_build(nn_layer *l, size_t in_width)
{
    const dense *d = l->impl;
    l->out_width = d->p.units;
    l->n_params = 2;
    /* W: (out, in) */
    l->params[0].ndim = 2;
    l->params[0].shape[0] = d->p.units;
    l->params[0].shape[1] = in_width;
    /* b: (out) */
    l->params[1].ndim = 1;
    l->params[1].shape[0] = d->p.units;
    return NN_OK;
}

static nn_status dense_init_params(nn_layer *l, nn_rng *rng)
{
    const dense *d = l->impl;
    nn_status st = nn_init_fill(&l->params[0], &d->p.weight_init, l->in_width, l->out_width, rng);
    if (st == NN_OK)
        st = nn_init_fill(&l->params[1], &d->p.bias_init, l->in_width, l->out_width, rng);
    return st;
}

/* x: (B, in) -> y: (B, out) */
static nn_status dense_forward(nn_layer *l, const nn_tensor *x, nn_tensor *y, int training)
{
    (void)training;
    return nn_kernel_linear(x, &l->params[0], &l->params[1], y);
}

/* dy: (B, out); dW += dy^T x; db += colsum(dy); dx = dy W: (B, in) */
static nn_status dense_backward(nn_layer *l, const nn_tensor *x, const nn_tensor *y,
                                const nn_tensor *dy, nn_tensor *dx)
{
    (void)y;
    return nn_kernel_linear_backward(x, &l->params[0], dy, &l->grads[0], &l->grads[1], dx);
}

static void dense_destroy(nn_layer *l) { nn_xfree(l->impl); }

static const nn_layer_ops dense_ops = {
    .name = "dense",
    .build = dense_build,
    .init_params = dense_init_params,
    .reserve = NULL,
    .forward = dense_forward,
    .backward = dense_backward,
    .destroy = dense_destroy,
};

nn_dense_params nn_dense_default_params(size_t units)
{
    nn_dense_params p;
    p.units = units;
    p.weight_init = nn_init_torch_linear();
    p.bias_init = nn_init_torch_linear();
    return p;
}

nn_status nn_dense_new(const nn_dense_params *params, nn_layer **out)
{
    NN_CHECK_NULL(out);
    *out = NULL;
    NN_CHECK_NULL(params);
    if (params->units == 0)
        return nn_error(NN_ERR_INVALID_ARG, "nn_dense_new: units is 0");
    /* Unknown kinds and non-finite parameters, which no model file holds (the loader
     * refuses them). The rest nn_init_fill checks when it draws, and the spec writer
     * before it writes (the reader initialises); files that hold them still load. */
    nn_status st = nn_init_check("nn_dense_new (weight_init)", &params->weight_init);
    if (st == NN_OK)
        st = nn_init_check("nn_dense_new (bias_init)", &params->bias_init);
    if (st != NN_OK)
        return st;
    dense *d = nn_xalloc(sizeof *d);
    if (d == NULL)
        return nn_error(NN_ERR_NOMEM, "nn_dense_new: out of memory");
    d->p = *params;
    st = nn_layer_new(&dense_ops, d, out);
    if (st != NN_OK)
        nn_xfree(d);
    return st;
}

int nn_is_dense(const nn_layer *l) { return l != NULL && l->ops == &dense_ops; }

nn_status nn_dense_check_inits(const char *fn, const nn_layer *l)
{
    if (!nn_is_dense(l))
        return NN_OK;
    const dense *d = l->impl;
    nn_status st = nn_init_check_fill(fn, &d->p.weight_init, l->in_width, l->out_width);
    if (st == NN_OK)
        st = nn_init_check_fill(fn, &d->p.bias_init, l->in_width, l->out_width);
    return st;
}

nn_tensor *nn_dense_weight(nn_layer *l)
{
    return nn_is_dense(l) && l->params[0].data != NULL ? &l->params[0] : NULL;
}

nn_tensor *nn_dense_bias(nn_layer *l)
{
    return nn_is_dense(l) && l->params[1].data != NULL ? &l->params[1] : NULL;
}

nn_status nn_dense_get_params(const nn_layer *l, nn_dense_params *params)
{
    NN_CHECK_NULL(l);
    NN_CHECK_NULL(params);
    if (!nn_is_dense(l))
        return nn_error(NN_ERR_INVALID_ARG, "nn_dense_get_params: layer '%s' is not dense",
                        nn_layer_name(l));
    *params = ((const dense *)l->impl)->p;
    return NN_OK;
}
