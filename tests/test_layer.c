/* test_layer.c - the dense layer, the activations and the generic layer interface,
 * including a layer kind written here, outside the library, and trained in a network.
 *
 * Layers are exercised through a network (which builds them, owns their
 * parameters and calls reserve/forward/backward in the documented order), since
 * that is the only way the API promises to run them. */
#include "nn_test.h"

/* ---- helpers ------------------------------------------------------------------- */

static void fill_pattern(float *d, size_t n, unsigned salt)
{
    for (size_t i = 0; i < n; i++)
        d[i] = (float)(((i * 29u + salt * 7u) % 17u) / 8.0 - 1.0);
}

/* A network of in_width inputs holding just the given layers. */
static nn_net *net_of(size_t in_width, nn_layer *a, nn_layer *b)
{
    nn_net *net = NULL;
    assert_ok(nn_net_new(in_width, &net));
    assert_ok(nn_net_add(net, a));
    if (b != NULL)
        assert_ok(nn_net_add(net, b));
    return net;
}

/* ---- dense ------------------------------------------------------------------------ */

static void test_dense_params_and_errors(void **state)
{
    (void)state;
    nn_dense_params p = nn_dense_default_params(5);
    assert_int_equal(p.units, 5);
    /* Documented: initialised like torch.nn.Linear. */
    assert_int_equal(p.weight_init.kind, NN_INIT_TORCH_LINEAR);
    assert_int_equal(p.bias_init.kind, NN_INIT_TORCH_LINEAR);

    nn_layer *l = (nn_layer *)&p;
    assert_error(nn_dense_new(NULL, &l), NN_ERR_NULL_ARG, "nn_dense_new");
    assert_null(l);
    assert_error(nn_dense_new(&p, NULL), NN_ERR_NULL_ARG, "nn_dense_new");
    p.units = 0;
    assert_error(nn_dense_new(&p, &l), NN_ERR_INVALID_ARG, "units");
    assert_null(l);
    p = nn_dense_default_params(3);
    p.weight_init.kind = (nn_init_kind)77;
    assert_error(nn_dense_new(&p, &l), NN_ERR_INVALID_ARG, "77");
    p = nn_dense_default_params(3);
    p.bias_init.kind = (nn_init_kind)-4;
    assert_status(nn_dense_new(&p, &l), NN_ERR_INVALID_ARG);
    assert_null(l);
    /* a non-finite initialiser parameter, which no model file holds (the loader
     * refuses it); the rest of nn_init_fill's checks come when the network draws, so
     * that files holding such a layer (its weights set by hand) still load */
    p = nn_dense_default_params(3);
    p.weight_init = nn_init_uniform(NAN, 1.0);
    assert_error(nn_dense_new(&p, &l), NN_ERR_INVALID_ARG, "nn_dense_new (weight_init)",
                 "non-finite");
    p = nn_dense_default_params(3);
    p.bias_init = nn_init_normal(0.0, INFINITY);
    assert_error(nn_dense_new(&p, &l), NN_ERR_INVALID_ARG, "nn_dense_new (bias_init)");
    assert_null(l);
    p.bias_init = nn_init_normal(0.0, -1.0);
    assert_ok(nn_dense_new(&p, &l));
    /* drawing refuses it, for the whole network before anything is drawn */
    nn_net *net = NULL;
    assert_ok(nn_net_new(2, &net));
    assert_ok(nn_net_add(net, nn_test_dense(3, nn_init_normal(0, 1), nn_init_normal(0, 1))));
    assert_ok(nn_net_add(net, l));
    nn_rng rng;
    nn_rng_seed(&rng, 1, 0);
    assert_error(nn_net_init_params(net, &rng), NN_ERR_INVALID_ARG,
                 "nn_net_init_params: layer 1 ('dense')", "std -1 is negative");
    size_t n = 0;
    const float *params = nn_net_params(net, &n);
    for (size_t k = 0; k < n; k++)
        assert_true(params[k] == 0.0f); /* as allocated: layer 0 not drawn either */
    nn_net_free(net);
}

static void test_dense_build_in_network(void **state)
{
    (void)state;
    nn_layer *d = nn_test_dense(4, nn_init_zeros(), nn_init_zeros());
    /* Before it is built a dense layer has no weight to hand out. */
    assert_true(nn_is_dense(d));
    assert_null(nn_dense_weight(d));
    assert_null(nn_dense_bias(d));
    assert_int_equal(d->in_width, 0);
    assert_int_equal(nn_layer_param_count(d), 0);
    assert_string_equal(nn_layer_name(d), "dense");

    nn_net *net = net_of(3, d, NULL);
    assert_ptr_equal(nn_net_layer(net, 0), d);
    assert_int_equal(d->in_width, 3);
    assert_int_equal(d->out_width, 4);
    assert_int_equal(d->n_params, 2);
    nn_tensor *w = nn_dense_weight(d), *b = nn_dense_bias(d);
    assert_non_null(w);
    assert_non_null(b);
    /* torch.nn.Linear's layout: W (out, in), b (out). */
    assert_int_equal(w->ndim, 2);
    assert_int_equal(w->shape[0], 4);
    assert_int_equal(w->shape[1], 3);
    assert_int_equal(w->size, 12);
    assert_int_equal(b->ndim, 1);
    assert_int_equal(b->shape[0], 4);
    assert_int_equal(b->size, 4);
    assert_int_equal(nn_layer_param_count(d), 16);
    /* The layer's parameters and gradients are views into the network's blocks:
     * W first, then b. */
    size_t np = 0, ng = 0;
    float *params = nn_net_params(net, &np), *grads = nn_net_grads(net, &ng);
    assert_int_equal(np, 16);
    assert_int_equal(ng, 16);
    assert_ptr_equal(w->data, params);
    assert_ptr_equal(b->data, params + 12);
    assert_ptr_equal(d->grads[0].data, grads);
    assert_ptr_equal(d->grads[1].data, grads + 12);
    assert_int_equal(d->grads[0].shape[0], 4);
    assert_int_equal(d->grads[0].shape[1], 3);
    assert_int_equal(d->grads[1].shape[0], 4);
    assert_false(nn_is_dense(NULL));
    nn_net_free(net);
}

/* y = x W^T + b and its three gradients, against double loops. */
static void test_dense_forward_backward_values(void **state)
{
    (void)state;
    enum { B = 2, IN = 3, OUT = 2 };
    nn_layer *d = nn_test_dense(OUT, nn_init_zeros(), nn_init_zeros());
    nn_net *net = net_of(IN, d, NULL);
    const float w[OUT * IN] = {1, 2, 3, -1, 0.5f, 2}, bias[OUT] = {0.5f, -1};
    nn_test_set_dense(d, w, bias);

    float x[B * IN] = {1, 0, -1, 2, 1, 0.5f};
    nn_tensor tx = nn_tensor_view2d(x, B, IN);
    const nn_tensor *y = NULL;
    assert_ok(nn_net_forward(net, &tx, 0, &y));
    assert_non_null(y);
    assert_int_equal(y->shape[0], B);
    assert_int_equal(y->shape[1], OUT);
    double ref[B * OUT];
    for (int i = 0; i < B; i++)
        for (int o = 0; o < OUT; o++) {
            double s = bias[o];
            for (int k = 0; k < IN; k++)
                s += (double)x[i * IN + k] * w[o * IN + k];
            ref[i * OUT + o] = s;
        }
    assert_all_close(y->data, ref, B * OUT, 1e-6, 1e-7);
    /* Worked by hand: row 0 = [1 - 3 + 0.5, -1 - 2 - 1]. */
    assert_close(y->data[0], -1.5, 0, 1e-6);
    assert_close(y->data[1], -4.0, 0, 1e-6);

    float dy[B * OUT] = {1, -2, 0.5f, 3}, dx[B * IN];
    nn_tensor tdy = nn_tensor_view2d(dy, B, OUT), tdx = nn_tensor_view2d(dx, B, IN);
    assert_ok(nn_net_zero_grad(net));
    assert_ok(nn_net_backward(net, &tdy, &tdx));
    double rdx[B * IN], rdw[OUT * IN], rdb[OUT];
    for (int i = 0; i < B; i++) /* dx = dy W */
        for (int k = 0; k < IN; k++) {
            double s = 0;
            for (int o = 0; o < OUT; o++)
                s += (double)dy[i * OUT + o] * w[o * IN + k];
            rdx[i * IN + k] = s;
        }
    for (int o = 0; o < OUT; o++) { /* dW = dy^T x, db = colsum(dy) */
        rdb[o] = 0;
        for (int k = 0; k < IN; k++) {
            double s = 0;
            for (int i = 0; i < B; i++)
                s += (double)dy[i * OUT + o] * x[i * IN + k];
            rdw[o * IN + k] = s;
        }
        for (int i = 0; i < B; i++)
            rdb[o] += dy[i * OUT + o];
    }
    assert_all_close(dx, rdx, B * IN, 1e-6, 1e-7);
    assert_all_close(d->grads[0].data, rdw, OUT * IN, 1e-6, 1e-7);
    assert_all_close(d->grads[1].data, rdb, OUT, 1e-6, 1e-7);

    /* Backward accumulates (+=): a second pass doubles the gradients, and
     * nn_net_zero_grad clears them. */
    assert_ok(nn_net_backward(net, &tdy, NULL));
    for (int k = 0; k < OUT * IN; k++)
        rdw[k] *= 2;
    for (int o = 0; o < OUT; o++)
        rdb[o] *= 2;
    assert_all_close(d->grads[0].data, rdw, OUT * IN, 1e-6, 1e-7);
    assert_all_close(d->grads[1].data, rdb, OUT, 1e-6, 1e-7);
    assert_ok(nn_net_zero_grad(net));
    size_t ng = 0;
    float *g = nn_net_grads(net, &ng);
    for (size_t k = 0; k < ng; k++)
        assert_true(g[k] == 0.0f);
    nn_net_free(net);
}

/* The MSE loss of a dense layer, entirely in double: the reference the float
 * library's analytic gradient is held against. theta is W (out, in) then b (out). */
static double dense_mse_double(const double *theta, const float *x, const float *t, int B, int in,
                               int out)
{
    double s = 0;
    for (int i = 0; i < B; i++)
        for (int o = 0; o < out; o++) {
            double y = theta[out * in + o];
            for (int k = 0; k < in; k++)
                y += theta[o * in + k] * x[i * in + k];
            double d = y - t[i * out + o];
            s += d * d;
        }
    return s / (B * out);
}

static void test_dense_central_difference_double(void **state)
{
    (void)state;
    enum { B = 4, IN = 3, OUT = 2, NP = OUT * IN + OUT };
    nn_net *net = NULL;
    assert_ok(nn_net_new(IN, &net));
    assert_ok(nn_net_add(net, nn_test_dense(OUT, nn_init_normal(0, 1), nn_init_normal(0, 1))));
    nn_rng rng;
    nn_rng_seed(&rng, 3, 3);
    assert_ok(nn_net_init_params(net, &rng));
    nn_loss *mse = NULL;
    assert_ok(nn_loss_mse_new(&mse));
    assert_ok(nn_net_set_loss(net, mse, OUT));

    float x[B * IN], t[B * OUT];
    fill_pattern(x, B * IN, 1);
    fill_pattern(t, B * OUT, 2);
    nn_tensor tx = nn_tensor_view2d(x, B, IN), tt = nn_tensor_view2d(t, B, OUT);
    double loss = 0;
    assert_ok(nn_net_compute_grads(net, &tx, &tt, &loss));

    size_t np = 0, ng = 0;
    const float *p = nn_net_params(net, &np);
    const float *g = nn_net_grads(net, &ng);
    assert_int_equal(np, NP);
    assert_int_equal(ng, NP);
    double theta[NP];
    for (int k = 0; k < NP; k++)
        theta[k] = p[k];
    assert_close(loss, dense_mse_double(theta, x, t, B, IN, OUT), 1e-6, 0);
    const double h = 1e-6;
    for (int k = 0; k < NP; k++) {
        double saved = theta[k];
        theta[k] = saved + h;
        double lp = dense_mse_double(theta, x, t, B, IN, OUT);
        theta[k] = saved - h;
        double lm = dense_mse_double(theta, x, t, B, IN, OUT);
        theta[k] = saved;
        assert_close(g[k], (lp - lm) / (2 * h), 1e-4, 1e-6);
    }
    nn_net_free(net);
}

static void test_dense_sigmoid_check_grads(void **state)
{
    (void)state;
    enum { B = 5, IN = 3, HID = 4, OUT = 2 };
    nn_net *net = NULL;
    assert_ok(nn_net_new(IN, &net));
    assert_ok(nn_net_add(net, nn_test_dense(HID, nn_init_normal(0, 1), nn_init_normal(0, 1))));
    assert_ok(nn_net_add(net, nn_test_sigmoid()));
    assert_ok(nn_net_add(net, nn_test_dense(OUT, nn_init_normal(0, 1), nn_init_normal(0, 1))));
    assert_ok(nn_net_add(net, nn_test_sigmoid()));
    nn_rng rng;
    nn_rng_seed(&rng, 11, 0);
    assert_ok(nn_net_init_params(net, &rng));
    nn_loss *mse = NULL;
    assert_ok(nn_loss_mse_new(&mse));
    assert_ok(nn_net_set_loss(net, mse, OUT));

    float x[B * IN], t[B * OUT];
    fill_pattern(x, B * IN, 4);
    for (int i = 0; i < B * OUT; i++)
        t[i] = (float)(i % 2);
    nn_tensor tx = nn_tensor_view2d(x, B, IN), tt = nn_tensor_view2d(t, B, OUT);

    size_t np = 0;
    float *before = nn_test_params_copy(net, &np);
    double max_err = -1;
    assert_ok(nn_net_check_grads(net, &tx, &tt, 1e-3, &max_err));
    assert_true(max_err >= 0 && max_err < 1e-3);
    /* Parameters end as they were, gradients hold the analytic values. */
    assert_true(nn_test_params_equal(net, before, np));
    float *analytic = malloc(np * sizeof *analytic);
    memcpy(analytic, nn_net_grads(net, &np), np * sizeof *analytic);
    assert_ok(nn_net_compute_grads(net, &tx, &tt, NULL));
    assert_memory_equal(analytic, nn_net_grads(net, &np), np * sizeof *analytic);

    assert_error(nn_net_check_grads(net, &tx, &tt, 0.0, &max_err), NN_ERR_INVALID_ARG, "eps");
    assert_status(nn_net_check_grads(net, &tx, &tt, -1e-3, &max_err), NN_ERR_INVALID_ARG);
    assert_status(nn_net_check_grads(NULL, &tx, &tt, 1e-3, &max_err), NN_ERR_NULL_ARG);
    assert_status(nn_net_check_grads(net, NULL, &tt, 1e-3, &max_err), NN_ERR_NULL_ARG);
    assert_status(nn_net_check_grads(net, &tx, NULL, 1e-3, &max_err), NN_ERR_NULL_ARG);
    assert_status(nn_net_check_grads(net, &tx, &tt, 1e-3, NULL), NN_ERR_NULL_ARG);
    free(analytic);
    free(before);
    nn_net_free(net);
}

/* ---- activations ---------------------------------------------------------------- */

static void test_activation_constructors(void **state)
{
    (void)state;
    assert_int_equal(NN_ACT_IDENTITY, 0);
    assert_int_equal(NN_ACT_SIGMOID, 1);
    assert_string_equal(nn_activation_name(NN_ACT_SIGMOID), "sigmoid");
    assert_string_equal(nn_activation_name(NN_ACT_IDENTITY), "identity");
    assert_null(nn_activation_name((nn_activation_kind)1000));
    assert_null(nn_activation_name((nn_activation_kind)-1));

    nn_layer *l = (nn_layer *)&l;
    assert_error(nn_activation_new((nn_activation_kind)1000, &l), NN_ERR_INVALID_ARG, "1000");
    assert_null(l);
    assert_status(nn_activation_new(NN_ACT_SIGMOID, NULL), NN_ERR_NULL_ARG);
    assert_status(nn_sigmoid_new(NULL), NN_ERR_NULL_ARG);
    assert_status(nn_identity_new(NULL), NN_ERR_NULL_ARG);

    assert_ok(nn_activation_new(NN_ACT_SIGMOID, &l));
    assert_string_equal(nn_layer_name(l), "sigmoid");
    assert_false(nn_is_dense(l));
    assert_null(nn_dense_weight(l));
    nn_layer_free(l);
    assert_ok(nn_identity_new(&l));
    assert_string_equal(nn_layer_name(l), "identity");
    nn_layer_free(l);
    assert_string_equal(nn_layer_name(NULL), "");
    nn_layer_free(NULL);
}

static void test_sigmoid_layer(void **state)
{
    (void)state;
    enum { B = 2, W = 4 };
    nn_layer *s = nn_test_sigmoid();
    nn_net *net = net_of(W, s, NULL);
    /* Width-preserving and parameter-free. */
    assert_int_equal(s->in_width, W);
    assert_int_equal(s->out_width, W);
    assert_int_equal(nn_layer_param_count(s), 0);
    assert_int_equal(nn_net_out_width(net), W);

    float x[B * W] = {0, 1, -1, 3, 1e4f, -1e4f, 88.0f, -88.0f};
    nn_tensor tx = nn_tensor_view2d(x, B, W);
    const nn_tensor *y = NULL;
    assert_ok(nn_net_forward(net, &tx, 0, &y));
    double ref[B * W];
    for (int i = 0; i < B * W; i++)
        ref[i] = 1.0 / (1.0 + exp(-(double)x[i]));
    assert_all_close(y->data, ref, B * W, 1e-6, 1e-30);
    /* Saturation without overflow: exactly 1 and 0, not NaN. */
    assert_true(y->data[4] == 1.0f);
    assert_true(y->data[5] == 0.0f);
    assert_true(nn_tensor_all_finite(y));

    float dy[B * W], dx[B * W];
    for (int i = 0; i < B * W; i++)
        dy[i] = (float)(i + 1);
    nn_tensor tdy = nn_tensor_view2d(dy, B, W), tdx = nn_tensor_view2d(dx, B, W);
    double ys[B * W];
    for (int i = 0; i < B * W; i++)
        ys[i] = y->data[i];
    assert_ok(nn_net_backward(net, &tdy, &tdx));
    for (int i = 0; i < B * W; i++)
        ref[i] = dy[i] * ys[i] * (1 - ys[i]);
    assert_all_close(dx, ref, B * W, 1e-6, 1e-30);
    assert_true(nn_tensor_all_finite(&tdx));
    assert_true(dx[4] == 0.0f && dx[5] == 0.0f);
    nn_net_free(net);
}

/* dL/dx of L = sum c_k sigmoid(x_k), by the library and by central differences of
 * the formula in double. */
static void test_sigmoid_dx_central_difference(void **state)
{
    (void)state;
    enum { B = 3, W = 3 };
    nn_net *net = net_of(W, nn_test_sigmoid(), NULL);
    float x[B * W], c[B * W], dx[B * W];
    fill_pattern(x, B * W, 5);
    for (int i = 0; i < B * W; i++) {
        x[i] *= 3.0f;
        c[i] = (float)(i % 3) - 0.75f;
    }
    nn_tensor tx = nn_tensor_view2d(x, B, W), tc = nn_tensor_view2d(c, B, W);
    nn_tensor tdx = nn_tensor_view2d(dx, B, W);
    const nn_tensor *y = NULL;
    assert_ok(nn_net_forward(net, &tx, 1, &y));
    assert_ok(nn_net_backward(net, &tc, &tdx));
    const double h = 1e-6;
    for (int i = 0; i < B * W; i++) {
        double xp = x[i] + h, xm = x[i] - h;
        double num = c[i] * (1 / (1 + exp(-xp)) - 1 / (1 + exp(-xm))) / (2 * h);
        assert_close(dx[i], num, 1e-4, 1e-7);
    }
    nn_net_free(net);
}

static void test_identity_layer(void **state)
{
    (void)state;
    nn_layer *id = NULL;
    assert_ok(nn_identity_new(&id));
    nn_net *net = net_of(3, id, NULL);
    float x[6] = {1.5f, -2, 1e30f, -0.0f, 7, 1e-30f}, dy[6] = {3, 2, 1, 0, -1, -2}, dx[6];
    nn_tensor tx = nn_tensor_view2d(x, 2, 3), tdy = nn_tensor_view2d(dy, 2, 3),
              tdx = nn_tensor_view2d(dx, 2, 3);
    const nn_tensor *y = NULL;
    assert_ok(nn_net_forward(net, &tx, 0, &y));
    assert_memory_equal(y->data, x, sizeof x); /* y = x, bit for bit */
    assert_ok(nn_net_backward(net, &tdy, &tdx));
    assert_memory_equal(dx, dy, sizeof dy); /* dx = dy */
    nn_net_free(net);
}

/* ---- a layer kind written outside the library ------------------------------------
 *
 * "affine": y[i, j] = gamma[j] * x[i, j] + beta[j], params[0] = gamma, params[1] =
 * beta, both (width). It keeps a private per-batch buffer sized in reserve(), so
 * the test also checks that the network reserves before it runs a batch, and it
 * records the calls the network makes. */

typedef struct affine {
    size_t max_width; /* build() rejects wider inputs */
    size_t reserved;  /* rows of the last reserve() */
    float *scratch;   /* (reserved, width): written by every forward */
    int reserve_calls;
    int forward_calls;
    int last_training;
    int wrong_gamma_grad; /* 1: backward doubles dgamma, which a gradient check must see */
} affine;

static int affine_destroyed; /* destroy() calls, to see each layer released once */

static nn_status affine_build(nn_layer *l, size_t in_width)
{
    const affine *a = l->impl;
    if (in_width > a->max_width)
        return NN_ERR_SHAPE;
    l->out_width = in_width;
    l->n_params = 2;
    l->params[0].ndim = 1;
    l->params[0].shape[0] = in_width;
    l->params[1].ndim = 1;
    l->params[1].shape[0] = in_width;
    return NN_OK;
}

static nn_status affine_init_params(nn_layer *l, nn_rng *rng)
{
    /* gamma near 1, beta near 0, drawn so that the rng is seen to be used. */
    for (size_t j = 0; j < l->out_width; j++) {
        l->params[0].data[j] = (float)(1.0 + 0.2 * (nn_rng_uniform(rng) - 0.5));
        l->params[1].data[j] = (float)(0.2 * (nn_rng_uniform(rng) - 0.5));
    }
    return NN_OK;
}

static nn_status affine_reserve(nn_layer *l, size_t max_batch)
{
    affine *a = l->impl;
    a->reserve_calls++;
    if (max_batch <= a->reserved)
        return NN_OK;
    float *s = realloc(a->scratch, max_batch * l->out_width * sizeof *s);
    if (s == NULL)
        return NN_ERR_NOMEM;
    a->scratch = s;
    a->reserved = max_batch;
    return NN_OK;
}

static nn_status affine_forward(nn_layer *l, const nn_tensor *x, nn_tensor *y, int training)
{
    affine *a = l->impl;
    size_t rows = nn_tensor_nrows(x), w = l->out_width;
    a->forward_calls++;
    a->last_training = training;
    if (rows > a->reserved) /* the network broke the reserve() promise */
        return NN_ERR_STATE;
    const float *g = l->params[0].data, *b = l->params[1].data;
    for (size_t i = 0; i < rows; i++)
        for (size_t j = 0; j < w; j++) {
            float v = g[j] * x->data[i * w + j] + b[j];
            y->data[i * w + j] = v;
            a->scratch[i * w + j] = v; /* ASan sees an overrun if reserve() was skipped */
        }
    return NN_OK;
}

static nn_status affine_backward(nn_layer *l, const nn_tensor *x, const nn_tensor *y,
                                 const nn_tensor *dy, nn_tensor *dx)
{
    (void)y;
    const affine *a = l->impl;
    size_t rows = nn_tensor_nrows(x), w = l->out_width;
    const float *g = l->params[0].data;
    float *dg = l->grads[0].data, *db = l->grads[1].data;
    for (size_t i = 0; i < rows; i++)
        for (size_t j = 0; j < w; j++) {
            float d = dy->data[i * w + j];
            dg[j] += (a->wrong_gamma_grad ? 2.0f : 1.0f) * d * x->data[i * w + j];
            db[j] += d;
            if (dx != NULL)
                dx->data[i * w + j] = d * g[j];
        }
    return NN_OK;
}

static void affine_destroy(nn_layer *l)
{
    affine *a = l->impl;
    free(a->scratch);
    free(a);
    affine_destroyed++;
}

static const nn_layer_ops affine_ops = {
    .name = "affine",
    .build = affine_build,
    .init_params = affine_init_params,
    .reserve = affine_reserve,
    .forward = affine_forward,
    .backward = affine_backward,
    .destroy = affine_destroy,
};

static nn_layer *affine_new(size_t max_width, int wrong_gamma_grad, affine **impl)
{
    affine *a = calloc(1, sizeof *a);
    assert_non_null(a);
    a->max_width = max_width;
    a->wrong_gamma_grad = wrong_gamma_grad;
    nn_layer *l = NULL;
    assert_ok(nn_layer_new(&affine_ops, a, &l));
    assert_ptr_equal(l->impl, a);
    assert_ptr_equal(l->ops, &affine_ops);
    if (impl != NULL)
        *impl = a;
    return l;
}

static void test_layer_new_errors(void **state)
{
    (void)state;
    affine a = {0};
    nn_layer *l = (nn_layer *)&a;
    assert_error(nn_layer_new(NULL, &a, &l), NN_ERR_NULL_ARG, "nn_layer_new");
    assert_null(l);
    assert_status(nn_layer_new(&affine_ops, &a, NULL), NN_ERR_NULL_ARG);
    /* Each required operation. On failure impl stays ours: `a` is on the stack,
     * so a library that freed it would crash (and ASan would say where). */
    nn_layer_ops ops = affine_ops;
    ops.build = NULL;
    assert_error(nn_layer_new(&ops, &a, &l), NN_ERR_NULL_ARG, "affine");
    ops = affine_ops;
    ops.forward = NULL;
    assert_status(nn_layer_new(&ops, &a, &l), NN_ERR_NULL_ARG);
    ops = affine_ops;
    ops.backward = NULL;
    assert_status(nn_layer_new(&ops, &a, &l), NN_ERR_NULL_ARG);
    assert_null(l);
    /* The optional ones may be NULL. */
    ops = affine_ops;
    ops.init_params = NULL;
    ops.reserve = NULL;
    ops.destroy = NULL;
    assert_ok(nn_layer_new(&ops, &a, &l));
    assert_string_equal(nn_layer_name(l), "affine");
    assert_int_equal(l->in_width, 0);
    assert_int_equal(l->n_params, 0);
    nn_layer_free(l); /* no destroy: impl (on the stack) untouched */
}

static void test_layer_free_destroys_once(void **state)
{
    (void)state;
    affine_destroyed = 0;
    nn_layer_free(affine_new(8, 0, NULL));
    assert_int_equal(affine_destroyed, 1);

    /* A network destroys the layers it owns, once each. */
    affine_destroyed = 0;
    nn_net *net = net_of(2, affine_new(8, 0, NULL), affine_new(8, 0, NULL));
    nn_net_free(net);
    assert_int_equal(affine_destroyed, 2);
}

static void test_user_layer_lifecycle(void **state)
{
    (void)state;
    affine *a = NULL;
    nn_layer *l = affine_new(4, 0, &a);
    nn_net *net = NULL;
    assert_ok(nn_net_new(3, &net));
    assert_ok(nn_net_add(net, nn_test_dense(4, nn_init_normal(0, 1), nn_init_zeros())));
    assert_ok(nn_net_add(net, l));
    assert_int_equal(l->in_width, 4);
    assert_int_equal(l->out_width, 4);
    assert_int_equal(nn_layer_param_count(l), 8);
    assert_string_equal(nn_layer_name(nn_net_layer(net, 1)), "affine");
    /* Its parameters follow the dense layer's 16 in the block, gamma then beta. */
    size_t np = 0;
    float *p = nn_net_params(net, &np);
    assert_int_equal(np, 16 + 8);
    assert_ptr_equal(l->params[0].data, p + 16);
    assert_ptr_equal(l->params[1].data, p + 20);
    assert_int_equal(l->params[0].size, 4);
    assert_int_equal(l->grads[1].size, 4);
    /* New parameters are zero until initialised. */
    for (size_t k = 16; k < np; k++)
        assert_true(p[k] == 0.0f);
    nn_rng rng;
    nn_rng_seed(&rng, 8, 0);
    assert_ok(nn_net_init_params(net, &rng));
    for (size_t j = 0; j < 4; j++) {
        assert_true(fabsf(l->params[0].data[j] - 1.0f) <= 0.1f);
        assert_true(fabsf(l->params[1].data[j]) <= 0.1f);
    }

    /* reserve() reaches the layer, and the training flag is passed through. */
    assert_ok(nn_net_reserve(net, 16));
    assert_true(a->reserved >= 16);
    float x[5 * 3];
    fill_pattern(x, 15, 9);
    nn_tensor tx = nn_tensor_view2d(x, 5, 3);
    const nn_tensor *y = NULL;
    assert_ok(nn_net_forward(net, &tx, 1, &y));
    assert_int_equal(a->last_training, 1);
    assert_ok(nn_net_forward(net, &tx, 0, &y));
    assert_int_equal(a->last_training, 0);
    /* A batch larger than any before is reserved before it runs. */
    float big[40 * 3];
    fill_pattern(big, 120, 2);
    nn_tensor tbig = nn_tensor_view2d(big, 40, 3);
    assert_ok(nn_net_forward(net, &tbig, 0, &y));
    assert_true(a->reserved >= 40);
    assert_int_equal(y->shape[0], 40);

    /* Training steps run with training = 1; evaluation with 0. */
    float t[5 * 4] = {0};
    nn_tensor tt = nn_tensor_view2d(t, 5, 4);
    nn_test_mse_sgd(net, 0.1);
    assert_ok(nn_net_train_step(net, &tx, &tt, NULL));
    assert_int_equal(a->last_training, 1);
    double loss = 0;
    assert_ok(nn_net_eval_loss(net, &tx, &tt, &loss));
    assert_int_equal(a->last_training, 0);
    nn_tensor *out = NULL;
    assert_ok(nn_tensor_new2d(5, 4, &out));
    assert_ok(nn_net_predict(net, &tx, out));
    assert_int_equal(a->last_training, 0);
    nn_tensor_free(out);
    nn_net_free(net);
}

static void test_user_layer_gradients(void **state)
{
    (void)state;
    for (int wrong = 0; wrong < 2; wrong++) {
        nn_net *net = NULL;
        assert_ok(nn_net_new(3, &net));
        assert_ok(nn_net_add(net, nn_test_dense(4, nn_init_normal(0, 1), nn_init_normal(0, 1))));
        assert_ok(nn_net_add(net, affine_new(4, wrong, NULL)));
        assert_ok(nn_net_add(net, nn_test_sigmoid()));
        assert_ok(nn_net_add(net, nn_test_dense(1, nn_init_normal(0, 1), nn_init_normal(0, 1))));
        nn_rng rng;
        nn_rng_seed(&rng, 21, 0);
        assert_ok(nn_net_init_params(net, &rng));
        nn_test_mse_sgd(net, 0.1);
        float x[6 * 3], t[6] = {1, 0, 1, 1, 0, 0};
        fill_pattern(x, 18, 3);
        nn_tensor tx = nn_tensor_view2d(x, 6, 3), tt = nn_tensor_view2d(t, 6, 1);
        double max_err = -1;
        assert_ok(nn_net_check_grads(net, &tx, &tt, 1e-3, &max_err));
        if (wrong)
            /* The doubled gamma gradient (about 0.03 here) is caught, ten times
             * over the pass mark: the check is not vacuous. */
            assert_true(max_err > 1e-2);
        else
            assert_true(max_err >= 0 && max_err < 1e-3);
        nn_net_free(net);
    }
}

/* The user layer alone learns y = 2x + 1 exactly: gamma -> 2, beta -> 1. */
static void test_user_layer_trains(void **state)
{
    (void)state;
    affine_destroyed = 0;
    nn_net *net = NULL;
    assert_ok(nn_net_new(1, &net));
    nn_layer *l = affine_new(1, 0, NULL);
    assert_ok(nn_net_add(net, l));
    nn_rng rng;
    nn_rng_seed(&rng, 1, 0);
    assert_ok(nn_net_init_params(net, &rng));
    nn_test_mse_sgd(net, 0.05);
    float x[6] = {-2, -1, 0, 1, 2, 3}, t[6];
    for (int i = 0; i < 6; i++)
        t[i] = 2 * x[i] + 1;
    nn_tensor tx = nn_tensor_view2d(x, 6, 1), tt = nn_tensor_view2d(t, 6, 1);
    nn_fit_params fp = nn_fit_default_params();
    fp.progress = NN_PROGRESS_OFF; /* keep test output readable */
    fp.epochs = 400;
    fp.batch_size = 6;
    nn_epoch_stats history[400];
    nn_fit_history h = {.epochs = history, .capacity = 400};
    assert_ok(nn_net_fit(net, &tx, &tt, &fp, &h));
    assert_int_equal(h.count, 400);
    /* Gradient descent on this quadratic contracts by <= 0.92 per step. */
    assert_close(l->params[0].data[0], 2.0, 0, 1e-4);
    assert_close(l->params[1].data[0], 1.0, 0, 1e-4);
    assert_true(history[399].train_loss < 1e-8);
    assert_true(history[0].train_loss > 1.0);
    nn_net_free(net);
    assert_int_equal(affine_destroyed, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dense_params_and_errors),
        cmocka_unit_test(test_dense_build_in_network),
        cmocka_unit_test(test_dense_forward_backward_values),
        cmocka_unit_test(test_dense_central_difference_double),
        cmocka_unit_test(test_dense_sigmoid_check_grads),
        cmocka_unit_test(test_activation_constructors),
        cmocka_unit_test(test_sigmoid_layer),
        cmocka_unit_test(test_sigmoid_dx_central_difference),
        cmocka_unit_test(test_identity_layer),
        cmocka_unit_test(test_layer_new_errors),
        cmocka_unit_test(test_layer_free_destroys_once),
        cmocka_unit_test(test_user_layer_lifecycle),
        cmocka_unit_test(test_user_layer_gradients),
        cmocka_unit_test(test_user_layer_trains),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
