/* activation.c - activation layers; each derivative sits by its function. */
#include <float.h>
#include <math.h>
#include <string.h>

#include "internal.h"
#include "activation_impl.h"
#include "nn/activation.h"

const char *nn_activation_name(nn_activation_kind kind)
{
    switch (kind) {
    case NN_ACT_IDENTITY:
        return "identity";
    case NN_ACT_SIGMOID:
        return "sigmoid";
    case NN_ACT_RELU:
        return "relu";
    case NN_ACT_LEAKY_RELU:
        return "leaky_relu";
    case NN_ACT_ELU:
        return "elu";
    case NN_ACT_TANH:
        return "tanh";
    case NN_ACT_SOFTPLUS:
        return "softplus";
    case NN_ACT_GELU:
        return "gelu";
    case NN_ACT_GELU_TANH:
        return "gelu_tanh";
    case NN_ACT_SILU:
        return "silu";
    case NN_ACT_SOFTMAX:
        return "softmax";
    case NN_ACT_LOG_SOFTMAX:
        return "log_softmax";
    }
    return NULL;
}

/* ---- shapes shared by every kind ------------------------------------------------- */

static nn_status act_build(nn_layer *l, size_t in_width)
{
    l->out_width = in_width;
    l->n_params = 0;
    return NN_OK;
}

static void act_destroy(nn_layer *l) { nn_xfree(l->impl); }

/* check_like's error, out of line so that the check itself inlines: it runs two to
 * four times per activation and step, which showed in profiles at batch 1. */
#if defined(__GNUC__)
__attribute__((noinline, cold))
#endif
static nn_status like_error(const nn_layer *l, const char *pass, const char *what,
                            const nn_tensor *t, const nn_tensor *ref)
{
    if (t == NULL)
        return nn_error(NN_ERR_NULL_ARG, "%s %s: %s is NULL", l->ops->name, pass, what);
    return nn_error(NN_ERR_SHAPE, "%s %s: x is (%zu, %zu), %s is (%zu, %zu)", l->ops->name, pass,
                    nn_tensor_nrows(ref), nn_tensor_ncols(ref), what, nn_tensor_nrows(t),
                    nn_tensor_ncols(t));
}

/* t is not NULL and has the (rows, cols) of ref; what names t in the message.
 * Same (rows, cols) is same size and same rows, compared without calls. */
static inline nn_status check_like(const nn_layer *l, const char *pass, const char *what,
                                   const nn_tensor *t, const nn_tensor *ref)
{
    if (t == NULL || t->size != ref->size ||
        (t->ndim == 1 ? 1 : t->shape[0]) != (ref->ndim == 1 ? 1 : ref->shape[0]))
        return like_error(l, pass, what, t, ref);
    return NN_OK;
}

/* x: (B, n), y: (B, n) */
static nn_status check_forward(const nn_layer *l, const nn_tensor *x, const nn_tensor *y)
{
    if (x == NULL)
        return nn_error(NN_ERR_NULL_ARG, "%s forward: x is NULL", l->ops->name);
    return check_like(l, "forward", "y", y, x);
}

/* x, y, dy, dx: (B, n) each; dx already known not to be NULL. */
static nn_status check_backward(const nn_layer *l, const nn_tensor *x, const nn_tensor *y,
                                const nn_tensor *dy, const nn_tensor *dx)
{
    if (x == NULL)
        return nn_error(NN_ERR_NULL_ARG, "%s backward: x is NULL", l->ops->name);
    nn_status st = check_like(l, "backward", "y", y, x);
    if (st == NN_OK)
        st = check_like(l, "backward", "dy", dy, x);
    if (st == NN_OK)
        st = check_like(l, "backward", "dx", dx, x);
    return st;
}

/* ---- elementwise kinds (scalar functions and loops in activation_impl.h) ---------------
 *
 * ELEMENTWISE_LAYER(NAME) turns NAME's loops into the layer's checked forward and
 * backward and the table NAME_ops. */

#define ELEMENTWISE_LAYER(NAME)                                                                    \
    static nn_status NAME##_forward(nn_layer *l, const nn_tensor *x, nn_tensor *y, int training)   \
    {                                                                                              \
        (void)training;                                                                            \
        nn_status st = check_forward(l, x, y);                                                     \
        if (st != NN_OK)                                                                           \
            return st;                                                                             \
        NAME##_forward_loop(*(const activation *)l->impl, x->data, y->data, x->size);              \
        return NN_OK;                                                                              \
    }                                                                                              \
    static nn_status NAME##_backward(nn_layer *l, const nn_tensor *x, const nn_tensor *y,          \
                                     const nn_tensor *dy, nn_tensor *dx)                           \
    {                                                                                              \
        if (dx == NULL)                                                                            \
            return NN_OK;                                                                          \
        nn_status st = check_backward(l, x, y, dy, dx);                                            \
        if (st != NN_OK)                                                                           \
            return st;                                                                             \
        NAME##_backward_loop(*(const activation *)l->impl, x->data, y->data, dy->data, dx->data,   \
                             x->size);                                                             \
        return NN_OK;                                                                              \
    }                                                                                              \
    static const nn_layer_ops NAME##_ops = {                                                       \
        .name = #NAME,                                                                             \
        .build = act_build,                                                                        \
        .forward = NAME##_forward,                                                                 \
        .backward = NAME##_backward,                                                               \
        .destroy = act_destroy,                                                                    \
    }

ELEMENTWISE_LAYER(identity);
ELEMENTWISE_LAYER(sigmoid);
ELEMENTWISE_LAYER(relu);
ELEMENTWISE_LAYER(leaky_relu);
ELEMENTWISE_LAYER(elu);
ELEMENTWISE_LAYER(tanh);
ELEMENTWISE_LAYER(softplus);
ELEMENTWISE_LAYER(gelu);
ELEMENTWISE_LAYER(gelu_tanh);
ELEMENTWISE_LAYER(silu);


/* ---- row-wise kinds ----------------------------------------------------------------
 *
 * Both subtract the row's maximum m before exponentiating (softmax is unchanged by
 * it), so every exp is of a number <= 0 and at least one term of the sum is 1:
 * nothing overflows and the sum is never 0. Sums accumulate in double. */

/* The index of the first largest element of a row of n >= 1. */
static size_t row_argmax(const float *v, size_t n)
{
    size_t k = 0;
    for (size_t j = 1; j < n; j++)
        if (v[j] > v[k])
            k = j;
    return k;
}

/* softmax: y_j = exp(x_j - m) / sum_k exp(x_k - m). x_j - m is taken in double, where
 * it is exact (or, for magnitudes 2^29 apart, within 2^-53 relative): rounded to float
 * it was off by up to half an ulp of |x_j - m|, which exp turned into a relative error
 * of y_j of up to 64 ulps (|x_j - m| near 128). */
static nn_status softmax_forward(nn_layer *l, const nn_tensor *x, nn_tensor *y, int training)
{
    (void)training;
    nn_status st = check_forward(l, x, y);
    if (st != NN_OK)
        return st;
    size_t rows = nn_tensor_nrows(x), cols = nn_tensor_ncols(x);
    if (cols == 0) /* rows of nothing: nothing to normalise (as torch), no max to read */
        return NN_OK;
    for (size_t i = 0; i < rows; i++) {
        const float *xi = x->data + i * cols;
        float *yi = y->data + i * cols;
        double m = xi[row_argmax(xi, cols)];
        double sum = 0.0;
        for (size_t j = 0; j < cols; j++) {
            double e = exp((double)xi[j] - m);
            sum += e;
            yi[j] = (float)e;
        }
        double inv = 1.0 / sum;
        for (size_t j = 0; j < cols; j++)
            yi[j] = (float)(yi[j] * inv);
    }
    return NN_OK;
}

/* dx_j = y_j (dy_j - sum_k dy_k y_k), the Jacobian diag(y) - y y^T applied to dy, for
 * the distribution y / sum_k y_k. At the row's largest y (index a) the bracket is
 * written as dy_a r - d with r = sum_{k != a} y_k and d = sum_{k != a} dy_k y_k, the
 * same number without the cancellation of dy_a (1 - y_a): when y_a rounds to 1 that
 * cancellation gave 0, or the wrong sign, where the true gradient is a normal float.
 * The row's sums are taken before any dx_j is written, so dx may be dy. */
static nn_status softmax_backward(nn_layer *l, const nn_tensor *x, const nn_tensor *y,
                                  const nn_tensor *dy, nn_tensor *dx)
{
    if (dx == NULL)
        return NN_OK;
    nn_status st = check_backward(l, x, y, dy, dx);
    if (st != NN_OK)
        return st;
    size_t rows = nn_tensor_nrows(y), cols = nn_tensor_ncols(y);
    if (cols == 0)
        return NN_OK;
    for (size_t i = 0; i < rows; i++) {
        const float *yi = y->data + i * cols, *gi = dy->data + i * cols;
        float *di = dx->data + i * cols;
        size_t a = row_argmax(yi, cols);
        double r = 0.0, d = 0.0;
        for (size_t j = 0; j < cols; j++)
            if (j != a) {
                r += yi[j];
                d += (double)gi[j] * yi[j];
            }
        double ga = gi[a], ya = yi[a], sum = ya + r, dot = ga * ya + d, inv = 1.0 / sum;
        double da = ya * inv * ((ga * r - d) * inv);
        for (size_t j = 0; j < cols; j++)
            di[j] = (float)(yi[j] * inv * (((double)gi[j] * sum - dot) * inv));
        di[a] = (float)da;
    }
    return NN_OK;
}

/* log_softmax: y_j = (x_j - m) - log sum_k exp(x_k - m), the differences from m in
 * double (exact), then the log. The sum is 1 + r, r over all but the first maximum,
 * and the log is log1p(r): log(1 + r) lost r when it was below 1e-16 (rows of
 * [70, 0] gave y_0 = 0 instead of -4e-31) and most of its digits below 1e-9.
 * Folding m and the log into one shift lost the log for large logits (rows of
 * [1e16, 1e16, 0] gave 0, not -log 2). */
static nn_status log_softmax_forward(nn_layer *l, const nn_tensor *x, nn_tensor *y, int training)
{
    (void)training;
    nn_status st = check_forward(l, x, y);
    if (st != NN_OK)
        return st;
    size_t rows = nn_tensor_nrows(x), cols = nn_tensor_ncols(x);
    if (cols == 0) /* rows of nothing: nothing to normalise (as torch), no max to read */
        return NN_OK;
    for (size_t i = 0; i < rows; i++) {
        const float *xi = x->data + i * cols;
        float *yi = y->data + i * cols;
        size_t a = row_argmax(xi, cols);
        double m = xi[a];
        double r = 0.0;
        for (size_t j = 0; j < cols; j++)
            if (j != a)
                r += exp((double)xi[j] - m);
        double log_sum = log1p(r);
        for (size_t j = 0; j < cols; j++)
            yi[j] = (float)(((double)xi[j] - m) - log_sum);
    }
    return NN_OK;
}

/* dx_j = dy_j - exp(y_j) sum_k dy_k: exp(y) is the softmax, and y <= 0. At the row's
 * largest y (index a) it is written as -sum_{k != a} dy_k - expm1(y_a) sum_k dy_k, the
 * same number without the cancellation of dy_a (1 - exp(y_a)). */
static nn_status log_softmax_backward(nn_layer *l, const nn_tensor *x, const nn_tensor *y,
                                      const nn_tensor *dy, nn_tensor *dx)
{
    if (dx == NULL)
        return NN_OK;
    nn_status st = check_backward(l, x, y, dy, dx);
    if (st != NN_OK)
        return st;
    size_t rows = nn_tensor_nrows(y), cols = nn_tensor_ncols(y);
    if (cols == 0)
        return NN_OK;
    for (size_t i = 0; i < rows; i++) {
        const float *yi = y->data + i * cols, *gi = dy->data + i * cols;
        float *di = dx->data + i * cols;
        size_t a = row_argmax(yi, cols);
        double rest = 0.0;
        for (size_t j = 0; j < cols; j++)
            if (j != a)
                rest += gi[j];
        double sum = rest + gi[a];
        double da = -rest - expm1((double)yi[a]) * sum;
        for (size_t j = 0; j < cols; j++)
            di[j] = (float)(gi[j] - expf(yi[j]) * sum);
        di[a] = (float)da;
    }
    return NN_OK;
}

static const nn_layer_ops softmax_ops = {
    .name = "softmax",
    .build = act_build,
    .forward = softmax_forward,
    .backward = softmax_backward,
    .destroy = act_destroy,
};

static const nn_layer_ops log_softmax_ops = {
    .name = "log_softmax",
    .build = act_build,
    .forward = log_softmax_forward,
    .backward = log_softmax_backward,
    .destroy = act_destroy,
};

/* ---- construction -------------------------------------------------------------------- */

static const nn_layer_ops *ops_of(nn_activation_kind kind)
{
    switch (kind) {
    case NN_ACT_IDENTITY:
        return &identity_ops;
    case NN_ACT_SIGMOID:
        return &sigmoid_ops;
    case NN_ACT_RELU:
        return &relu_ops;
    case NN_ACT_LEAKY_RELU:
        return &leaky_relu_ops;
    case NN_ACT_ELU:
        return &elu_ops;
    case NN_ACT_TANH:
        return &tanh_ops;
    case NN_ACT_SOFTPLUS:
        return &softplus_ops;
    case NN_ACT_GELU:
        return &gelu_ops;
    case NN_ACT_GELU_TANH:
        return &gelu_tanh_ops;
    case NN_ACT_SILU:
        return &silu_ops;
    case NN_ACT_SOFTMAX:
        return &softmax_ops;
    case NN_ACT_LOG_SOFTMAX:
        return &log_softmax_ops;
    }
    return NULL;
}

/* A layer of a known kind with parameters a, b (already checked). */
static nn_status make(const char *fn, nn_activation_kind kind, float a, float b, nn_layer **out)
{
    activation *act = nn_xalloc(sizeof *act);
    if (act == NULL)
        return nn_error(NN_ERR_NOMEM, "%s: out of memory", fn);
    act->kind = kind;
    act->a = a;
    act->b = b;
    nn_status st = nn_layer_new(ops_of(kind), act, out);
    if (st != NN_OK)
        nn_xfree(act);
    return st;
}

/* 1 when v is finite as a float, the type the parameters are used in. */
static int finite_float(double v) { return isfinite(v) && fabs(v) <= FLT_MAX; }

static nn_status check_softplus(const char *fn, double beta, double threshold)
{
    /* beta >= FLT_MIN keeps log(2) / beta, softplus(0), finite. */
    if (!finite_float(beta) || !(beta >= FLT_MIN))
        return nn_error(NN_ERR_INVALID_ARG,
                        "%s: softplus beta %g must be positive and finite in float32", fn, beta);
    if (!finite_float(threshold))
        return nn_error(NN_ERR_INVALID_ARG, "%s: softplus threshold %g must be finite in float32",
                        fn, threshold);
    return NN_OK;
}

nn_status nn_activation_new(nn_activation_kind kind, nn_layer **out)
{
    NN_CHECK_NULL(out);
    *out = NULL;
    if (ops_of(kind) == NULL)
        return nn_error(NN_ERR_INVALID_ARG, "nn_activation_new: unknown activation kind %d",
                        (int)kind);
    float a = 0.0f, b = 0.0f;
    switch (kind) {
    case NN_ACT_LEAKY_RELU:
        a = (float)NN_ACT_LEAKY_RELU_DEFAULT_SLOPE;
        break;
    case NN_ACT_ELU:
        a = (float)NN_ACT_ELU_DEFAULT_ALPHA;
        break;
    case NN_ACT_SOFTPLUS:
        a = (float)NN_ACT_SOFTPLUS_DEFAULT_BETA;
        b = (float)NN_ACT_SOFTPLUS_DEFAULT_THRESHOLD;
        break;
    case NN_ACT_IDENTITY:
    case NN_ACT_SIGMOID:
    case NN_ACT_RELU:
    case NN_ACT_TANH:
    case NN_ACT_GELU:
    case NN_ACT_GELU_TANH:
    case NN_ACT_SILU:
    case NN_ACT_SOFTMAX:
    case NN_ACT_LOG_SOFTMAX:
        break;
    }
    return make(__func__, kind, a, b, out);
}

nn_status nn_activation_new_param(nn_activation_kind kind, double param, nn_layer **out)
{
    NN_CHECK_NULL(out);
    *out = NULL;
    const char *name = nn_activation_name(kind);
    if (name == NULL)
        return nn_error(NN_ERR_INVALID_ARG, "nn_activation_new_param: unknown activation kind %d",
                        (int)kind);
    nn_status st = NN_OK;
    switch (kind) {
    case NN_ACT_LEAKY_RELU:
        if (!finite_float(param))
            return nn_error(NN_ERR_INVALID_ARG,
                            "nn_activation_new_param: leaky_relu negative_slope %g must be finite "
                            "in float32",
                            param);
        return make(__func__, kind, (float)param, 0.0f, out);
    case NN_ACT_ELU:
        if (!finite_float(param) || !(param >= 0.0))
            return nn_error(NN_ERR_INVALID_ARG,
                            "nn_activation_new_param: elu alpha %g must be >= 0 and finite", param);
        return make(__func__, kind, (float)param, 0.0f, out);
    case NN_ACT_SOFTPLUS:
        st = check_softplus(__func__, param, NN_ACT_SOFTPLUS_DEFAULT_THRESHOLD);
        if (st != NN_OK)
            return st;
        return make(__func__, kind, (float)param, (float)NN_ACT_SOFTPLUS_DEFAULT_THRESHOLD, out);
    case NN_ACT_IDENTITY:
    case NN_ACT_SIGMOID:
    case NN_ACT_RELU:
    case NN_ACT_TANH:
    case NN_ACT_GELU:
    case NN_ACT_GELU_TANH:
    case NN_ACT_SILU:
    case NN_ACT_SOFTMAX:
    case NN_ACT_LOG_SOFTMAX:
        break;
    }
    return nn_error(NN_ERR_INVALID_ARG,
                    "nn_activation_new_param: '%s' takes no parameter (use nn_activation_new)",
                    name);
}

nn_status nn_softplus_new(double beta, double threshold, nn_layer **out)
{
    NN_CHECK_NULL(out);
    *out = NULL;
    nn_status st = check_softplus(__func__, beta, threshold);
    if (st != NN_OK)
        return st;
    return make(__func__, NN_ACT_SOFTPLUS, (float)beta, (float)threshold, out);
}

nn_status nn_identity_new(nn_layer **out) { return nn_activation_new(NN_ACT_IDENTITY, out); }
nn_status nn_sigmoid_new(nn_layer **out) { return nn_activation_new(NN_ACT_SIGMOID, out); }
nn_status nn_relu_new(nn_layer **out) { return nn_activation_new(NN_ACT_RELU, out); }
nn_status nn_tanh_new(nn_layer **out) { return nn_activation_new(NN_ACT_TANH, out); }
nn_status nn_gelu_new(nn_layer **out) { return nn_activation_new(NN_ACT_GELU, out); }
nn_status nn_gelu_tanh_new(nn_layer **out) { return nn_activation_new(NN_ACT_GELU_TANH, out); }
nn_status nn_silu_new(nn_layer **out) { return nn_activation_new(NN_ACT_SILU, out); }
nn_status nn_softmax_new(nn_layer **out) { return nn_activation_new(NN_ACT_SOFTMAX, out); }

nn_status nn_log_softmax_new(nn_layer **out) { return nn_activation_new(NN_ACT_LOG_SOFTMAX, out); }

nn_status nn_leaky_relu_new(double negative_slope, nn_layer **out)
{
    return nn_activation_new_param(NN_ACT_LEAKY_RELU, negative_slope, out);
}

nn_status nn_elu_new(double alpha, nn_layer **out)
{
    return nn_activation_new_param(NN_ACT_ELU, alpha, out);
}

static const char *name_of(int k) { return nn_activation_name((nn_activation_kind)k); }

nn_status nn_activation_kind_from_name(const char *name, nn_activation_kind *kind)
{
    NN_CHECK_NULL(name);
    NN_CHECK_NULL(kind);
    char known[256];
    int k = nn_kind_by_name(name, name_of, known, sizeof known);
    if (k >= 0) {
        *kind = (nn_activation_kind)k;
        return NN_OK;
    }
    return nn_error(NN_ERR_INVALID_ARG,
                    "nn_activation_kind_from_name: unknown activation '%s' (known: %s)", name,
                    known);
}

nn_status nn_activation_get(const nn_layer *l, nn_activation_kind *kind, double *param,
                            double *param2)
{
    NN_CHECK_NULL(l);
    /* The kind is the one whose table the layer uses; impl's kind field says the same. */
    for (int k = 0; nn_activation_name((nn_activation_kind)k) != NULL; k++) {
        if (l->ops != ops_of((nn_activation_kind)k))
            continue;
        const activation *a = l->impl;
        if (kind != NULL)
            *kind = (nn_activation_kind)k;
        if (param != NULL)
            *param = a->a;
        if (param2 != NULL)
            *param2 = a->b;
        return NN_OK;
    }
    return nn_error(NN_ERR_INVALID_ARG, "nn_activation_get: layer '%s' is not an activation",
                    nn_layer_name(l));
}

int nn_activation_elementwise(const nn_layer *l, activation *out)
{
    if (l == NULL || l->ops == &softmax_ops || l->ops == &log_softmax_ops)
        return 0;
    for (int k = 0; nn_activation_name((nn_activation_kind)k) != NULL; k++)
        if (l->ops == ops_of((nn_activation_kind)k)) {
            *out = *(const activation *)l->impl;
            return 1;
        }
    return 0;
}
