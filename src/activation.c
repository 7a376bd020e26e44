/* activation.c - elementwise activation layers; each derivative sits by its function. */
#include "internal.h"
#include "nn/activation.h"
#include "nn/kernel.h"

typedef struct activation {
    nn_activation_kind kind;
} activation;

const char *nn_activation_name(nn_activation_kind kind)
{
    switch (kind) {
    case NN_ACT_IDENTITY: return "identity";
    case NN_ACT_SIGMOID: return "sigmoid";
    }
    return NULL;
}

static nn_status act_build(nn_layer *l, size_t in_width)
{
    l->out_width = in_width;
    l->n_params = 0;
    return NN_OK;
}

static void act_destroy(nn_layer *l) { nn_xfree(l->impl); }

/* identity: y = x, dx = dy */
static nn_status identity_forward(nn_layer *l, const nn_tensor *x, nn_tensor *y, int training)
{
    (void)l;
    (void)training;
    return nn_tensor_copy(y, x);
}

static nn_status identity_backward(nn_layer *l, const nn_tensor *x, const nn_tensor *y,
                                   const nn_tensor *dy, nn_tensor *dx)
{
    (void)l;
    (void)x;
    (void)y;
    return dx != NULL ? nn_tensor_copy(dx, dy) : NN_OK;
}

/* sigmoid: y = 1 / (1 + exp(-x)), dx = dy * y (1 - y) */
static nn_status sigmoid_forward(nn_layer *l, const nn_tensor *x, nn_tensor *y, int training)
{
    (void)l;
    (void)training;
    return nn_kernel_sigmoid(x, y);
}

static nn_status sigmoid_backward(nn_layer *l, const nn_tensor *x, const nn_tensor *y,
                                  const nn_tensor *dy, nn_tensor *dx)
{
    (void)l;
    (void)x;
    return dx != NULL ? nn_kernel_sigmoid_backward(y, dy, dx) : NN_OK;
}

static const nn_layer_ops identity_ops = {
    .name = "identity", .build = act_build, .forward = identity_forward,
    .backward = identity_backward, .destroy = act_destroy,
};

static const nn_layer_ops sigmoid_ops = {
    .name = "sigmoid", .build = act_build, .forward = sigmoid_forward,
    .backward = sigmoid_backward, .destroy = act_destroy,
};

static const nn_layer_ops *ops_of(nn_activation_kind kind)
{
    switch (kind) {
    case NN_ACT_IDENTITY: return &identity_ops;
    case NN_ACT_SIGMOID: return &sigmoid_ops;
    }
    return NULL;
}

nn_status nn_activation_new(nn_activation_kind kind, nn_layer **out)
{
    NN_CHECK_NULL(out);
    *out = NULL;
    const nn_layer_ops *ops = ops_of(kind);
    if (ops == NULL)
        return nn_error(NN_ERR_INVALID_ARG, "nn_activation_new: unknown activation kind %d", (int)kind);
    activation *a = nn_xalloc(sizeof *a);
    if (a == NULL)
        return nn_error(NN_ERR_NOMEM, "nn_activation_new: out of memory");
    a->kind = kind;
    nn_status st = nn_layer_new(ops, a, out);
    if (st != NN_OK)
        nn_xfree(a);
    return st;
}

nn_status nn_sigmoid_new(nn_layer **out) { return nn_activation_new(NN_ACT_SIGMOID, out); }

nn_status nn_identity_new(nn_layer **out) { return nn_activation_new(NN_ACT_IDENTITY, out); }
