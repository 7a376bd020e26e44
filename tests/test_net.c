/* test_net.c - sequential networks: building and shape inference, ownership on
 * failure, forward/backward/predict/eval, training steps and fit, the promise of no
 * allocation per step, and out-of-memory at every allocation. */
#include "nn_test.h"

/* ---- helpers ------------------------------------------------------------------- */

/* n rows of w uniform values in [-2, 2) from a fixed seed: plain data, not zeros. */
static nn_tensor *random_tensor(size_t n, size_t w, uint64_t seed)
{
    return nn_test_random_tensor(n, w, seed, 99);
}

/* 3 -> dense 4 -> sigmoid -> dense 2 -> sigmoid, N(0, 1) parameters from seed,
 * MSE and SGD(lr). */
static nn_net *trained_net(uint64_t seed, double lr)
{
    nn_net *net = nn_test_mlp(3, 4, 2, seed);
    nn_test_mse_sgd(net, lr);
    return net;
}

/* A layer written here that only takes input width 2 (y = x), for add failures. */
static nn_status two_build(nn_layer *l, size_t in_width)
{
    if (in_width != 2)
        return NN_ERR_SHAPE;
    l->out_width = 2;
    l->n_params = 0;
    return NN_OK;
}

static nn_status two_forward(nn_layer *l, const nn_tensor *x, nn_tensor *y, int training)
{
    (void)l;
    (void)training;
    return nn_tensor_copy(y, x);
}

static nn_status two_backward(nn_layer *l, const nn_tensor *x, const nn_tensor *y,
                              const nn_tensor *dy, nn_tensor *dx)
{
    (void)l;
    (void)x;
    (void)y;
    return dx != NULL ? nn_tensor_copy(dx, dy) : NN_OK;
}

static const nn_layer_ops two_ops = {
    .name = "two_only", .build = two_build, .forward = two_forward, .backward = two_backward};

/* Misbehaving user layers: a build that writes its own input width, a forward that
 * changes the shape of the view it was given. */
static nn_status liar_build(nn_layer *l, size_t in_width)
{
    l->out_width = in_width;
    l->in_width = 1000;
    return NN_OK;
}

static nn_status grow_forward(nn_layer *l, const nn_tensor *x, nn_tensor *y, int training)
{
    (void)l;
    (void)training;
    nn_status st = nn_tensor_copy(y, x);
    y->shape[0] *= 4;
    y->size *= 4;
    return st;
}

static const nn_layer_ops liar_ops = {
    .name = "liar", .build = liar_build, .forward = two_forward, .backward = two_backward};
static const nn_layer_ops grow_ops = {
    .name = "grow", .build = liar_build, .forward = grow_forward, .backward = two_backward};

/* ---- construction --------------------------------------------------------------- */

static void test_new_and_empty(void **state)
{
    (void)state;
    nn_net *net = (nn_net *)&net;
    assert_error(nn_net_new(0, &net), NN_ERR_INVALID_ARG, "0");
    assert_null(net);
    assert_error(nn_net_new(3, NULL), NN_ERR_NULL_ARG, "nn_net_new");

    assert_ok(nn_net_new(5, &net));
    assert_int_equal(nn_net_in_width(net), 5);
    assert_int_equal(nn_net_out_width(net), 5); /* no layers: the input width */
    assert_int_equal(nn_net_layer_count(net), 0);
    assert_null(nn_net_layer(net, 0));
    assert_null(nn_net_loss(net));
    assert_null(nn_net_optim(net));
    size_t n = 99;
    (void)nn_net_params(net, &n);
    assert_int_equal(n, 0);
    assert_null(nn_net_layer_output(net, 0));

    /* Nothing to run, nothing to attach a loss or optimizer to. */
    float x[5] = {0};
    nn_tensor tx = nn_tensor_view2d(x, 1, 5);
    const nn_tensor *y = NULL;
    assert_error(nn_net_forward(net, &tx, 0, &y), NN_ERR_STATE, "layer");
    nn_loss *mse = NULL;
    nn_optim *sgd = NULL;
    assert_ok(nn_loss_mse_new(&mse));
    assert_ok(nn_optim_sgd_new(0.1, &sgd));
    assert_status(nn_net_set_loss(net, mse, 5), NN_ERR_STATE);
    assert_status(nn_net_set_optim(net, sgd), NN_ERR_STATE);
    assert_null(nn_net_loss(net));
    nn_loss_free(mse); /* both stayed ours */
    nn_optim_free(sgd);
    nn_net_free(net);
    nn_net_free(NULL);
}

static void test_shape_inference_and_layout(void **state)
{
    (void)state;
    nn_net *net = NULL;
    assert_ok(nn_net_new(3, &net));
    nn_layer *d1 = nn_test_dense(4, nn_init_normal(0, 1), nn_init_normal(0, 1));
    nn_layer *s1 = nn_test_sigmoid();
    nn_layer *d2 = nn_test_dense(2, nn_init_normal(0, 1), nn_init_normal(0, 1));
    assert_ok(nn_net_add(net, d1));
    assert_int_equal(nn_net_out_width(net), 4);
    assert_ok(nn_net_add(net, s1));
    assert_int_equal(nn_net_out_width(net), 4);
    assert_ok(nn_net_add(net, d2));
    assert_int_equal(nn_net_out_width(net), 2);
    assert_int_equal(nn_net_in_width(net), 3);
    assert_int_equal(nn_net_layer_count(net), 3);
    assert_ptr_equal(nn_net_layer(net, 0), d1);
    assert_ptr_equal(nn_net_layer(net, 1), s1);
    assert_ptr_equal(nn_net_layer(net, 2), d2);
    assert_null(nn_net_layer(net, 3));
    assert_int_equal(d2->in_width, 4);
    assert_int_equal(nn_dense_weight(d2)->shape[1], 4);

    /* One block, layer by layer, each layer's params in order: W1 (4x3), b1, W2 (2x4), b2. */
    size_t np = 0, ng = 0;
    float *p = nn_net_params(net, &np), *g = nn_net_grads(net, &ng);
    assert_int_equal(np, 12 + 4 + 8 + 2);
    assert_int_equal(ng, np);
    assert_ptr_equal(nn_dense_weight(d1)->data, p);
    assert_ptr_equal(nn_dense_bias(d1)->data, p + 12);
    assert_ptr_equal(nn_dense_weight(d2)->data, p + 16);
    assert_ptr_equal(nn_dense_bias(d2)->data, p + 24);
    assert_ptr_equal(d2->grads[1].data, g + 24);
    for (size_t k = 0; k < np; k++)
        assert_true(p[k] == 0.0f); /* zero until initialised */

    /* Initialisation: deterministic in the seed. */
    nn_rng rng;
    nn_rng_seed(&rng, 4, 0);
    assert_ok(nn_net_init_params(net, &rng));
    float *first = nn_test_params_copy(net, NULL);
    nn_rng_seed(&rng, 4, 0);
    assert_ok(nn_net_init_params(net, &rng));
    assert_true(nn_test_params_equal(net, first, np));
    nn_rng_seed(&rng, 5, 0);
    assert_ok(nn_net_init_params(net, &rng));
    assert_false(nn_test_params_equal(net, first, np));
    nn_rng_seed(&rng, 4, 0);
    assert_ok(nn_net_init_params(net, &rng));

    /* Adding a layer keeps every existing value and adds zeros. */
    assert_ok(nn_net_add(net, nn_test_sigmoid()));
    assert_ok(nn_net_add(net, nn_test_dense(3, nn_init_normal(0, 1), nn_init_zeros())));
    size_t np2 = 0;
    p = nn_net_params(net, &np2);
    assert_int_equal(np2, np + 2 * 3 + 3);
    assert_memory_equal(p, first, np * sizeof(float));
    for (size_t k = np; k < np2; k++)
        assert_true(p[k] == 0.0f);
    /* The views moved with the block. */
    assert_ptr_equal(nn_dense_weight(d1)->data, p);
    assert_ptr_equal(nn_dense_bias(d2)->data, p + 24);

    assert_status(nn_net_init_params(net, NULL), NN_ERR_NULL_ARG);
    assert_status(nn_net_init_params(NULL, &rng), NN_ERR_NULL_ARG);
    free(first);
    nn_net_free(net);
}

/* A layer whose parameter count does not fit a size_t (or whose block's bytes would
 * not) is refused: the count used to wrap, to 0 or a small number, and the network
 * then wrote its initial values through a NULL or too small block. */
static void test_add_too_many_parameters(void **state)
{
    (void)state;
    const size_t max = SIZE_MAX / sizeof(float) - 8; /* the most a network holds */
    const struct {
        size_t in, units;
        const char *msg;
    } cases[] = {
        {1, (size_t)1 << 63, "parameter 0 is too large (dimension 0 is 9223372036854775808)"},
        {(size_t)1 << 62, 4, "parameter 0 is too large (dimension 1 is 4611686018427387904)"},
        {1, max, "would take the network past"}, /* the weight fits, its bias does not */
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        nn_net *net = NULL;
        assert_ok(nn_net_new(cases[c].in, &net));
        nn_layer *d = nn_test_dense(cases[c].units, nn_init_zeros(), nn_init_zeros());
        assert_error(nn_net_add(net, d), NN_ERR_INVALID_ARG, "nn_net_add", cases[c].msg);
        assert_int_equal(nn_net_layer_count(net), 0);
        size_t n = 99;
        assert_null(nn_net_params(net, &n));
        assert_int_equal(n, 0);
        nn_layer_free(d);
        nn_net_free(net);
    }
}

/* Adding many layers: the blocks and lists grow by doubling and are reused while they
 * have room (only the new layer's views are set then). Every view must still point
 * at its place in order, and values set before must survive the moves. */
static void test_add_many_layers(void **state)
{
    (void)state;
    nn_net *net = NULL;
    assert_ok(nn_net_new(1, &net));
    const size_t n = 300;
    for (size_t i = 0; i < n; i++) {
        assert_ok(nn_net_add(net, nn_test_dense(1, nn_init_zeros(), nn_init_zeros())));
        nn_layer *l = nn_net_layer(net, i);
        nn_dense_weight(l)->data[0] = (float)i; /* set when added, checked after all */
        nn_dense_bias(l)->data[0] = -(float)i;
    }
    size_t count = 0;
    float *p = nn_net_params(net, &count), *g = nn_net_grads(net, NULL);
    assert_int_equal(count, 2 * n);
    for (size_t i = 0; i < n; i++) {
        nn_layer *l = nn_net_layer(net, i);
        assert_ptr_equal(l->params[0].data, p + 2 * i);
        assert_ptr_equal(l->params[1].data, p + 2 * i + 1);
        assert_ptr_equal(l->grads[0].data, g + 2 * i);
        assert_true(p[2 * i] == (float)i && p[2 * i + 1] == -(float)i);
    }
    /* It trains: one step through all 300 layers (identities, so nothing overflows). */
    for (size_t i = 0; i < n; i++) {
        p[2 * i] = 1.0f;
        p[2 * i + 1] = 0.0f;
    }
    nn_test_mse_sgd(net, 0.1);
    float xs[1] = {1}, ts[1] = {0};
    nn_tensor x = nn_tensor_view2d(xs, 1, 1), t = nn_tensor_view2d(ts, 1, 1);
    assert_ok(nn_net_train_step(net, &x, &t, NULL));
    nn_net_free(net);
}

static void test_add_failure_leaves_everything_unchanged(void **state)
{
    (void)state;
    nn_net *net = nn_test_mlp(2, 3, 1, 7); /* out width 1 */
    size_t np = 0;
    float *before = nn_test_params_copy(net, &np);
    float *block = nn_net_params(net, &np);

    /* A layer that rejects the width: the network is unchanged and the layer is
     * still ours (freeing it must be right, and is checked by ASan). */
    nn_layer *two = NULL;
    assert_ok(nn_layer_new(&two_ops, NULL, &two));
    assert_error(nn_net_add(net, two), NN_ERR_SHAPE, "two_only", "1");
    assert_int_equal(nn_net_layer_count(net), 4);
    assert_int_equal(nn_net_out_width(net), 1);
    assert_ptr_equal(nn_net_params(net, &np), block);
    assert_true(nn_test_params_equal(net, before, np));
    assert_null(nn_net_layer(net, 4));
    nn_layer_free(two);

    /* A layer already owned by a network cannot be added again, here or elsewhere. */
    nn_layer *owned = nn_net_layer(net, 0);
    assert_error(nn_net_add(net, owned), NN_ERR_INVALID_ARG, "dense");
    nn_net *other = NULL;
    assert_ok(nn_net_new(2, &other));
    assert_status(nn_net_add(other, owned), NN_ERR_INVALID_ARG);
    assert_int_equal(nn_net_layer_count(other), 0);
    assert_int_equal(nn_net_layer_count(net), 4);
    assert_true(nn_test_params_equal(net, before, np));
    nn_net_free(other);

    nn_layer *d = nn_test_dense(2, nn_init_zeros(), nn_init_zeros());
    assert_status(nn_net_add(NULL, d), NN_ERR_NULL_ARG);
    assert_status(nn_net_add(net, NULL), NN_ERR_NULL_ARG);
    /* And the network still works: the same layer goes in fine. */
    assert_ok(nn_net_add(net, d));
    assert_int_equal(nn_net_out_width(net), 2);
    free(before);
    nn_net_free(net);
}

/* A loss written here, to see a replaced loss freed. */
static int counted_loss_freed;
static nn_status counted_check(const nn_loss *l, size_t pw, size_t tw)
{
    (void)l;
    return pw == tw ? NN_OK : NN_ERR_SHAPE;
}
static nn_status counted_eval(const nn_loss *l, const nn_tensor *p, const nn_tensor *t, double *v,
                              nn_tensor *g)
{
    (void)l;
    (void)p;
    (void)t;
    *v = 0;
    if (g != NULL)
        nn_tensor_fill(g, 0.0f);
    return NN_OK;
}
static void counted_destroy(nn_loss *l)
{
    (void)l;
    counted_loss_freed++;
}
static const nn_loss_ops counted_ops = {"counted", counted_check, counted_eval, counted_destroy};

static void test_set_loss(void **state)
{
    (void)state;
    nn_net *net = nn_test_mlp(3, 4, 2, 1);
    nn_loss *mse = NULL;
    assert_ok(nn_loss_mse_new(&mse));
    /* MSE needs targets as wide as the output: 7 does not fit 2. */
    assert_error(nn_net_set_loss(net, mse, 7), NN_ERR_SHAPE, "7", "2");
    assert_null(nn_net_loss(net));
    assert_status(nn_net_set_loss(net, NULL, 2), NN_ERR_NULL_ARG);
    assert_status(nn_net_set_loss(NULL, mse, 2), NN_ERR_NULL_ARG);
    assert_int_equal(nn_net_target_width(net), 0); /* no loss yet */
    assert_ok(nn_net_set_loss(net, mse, 2)); /* the rejected loss was still ours */
    assert_ptr_equal(nn_net_loss(net), mse);
    assert_int_equal(nn_net_target_width(net), 2);

    /* Replacing a loss frees the old one; a rejected replacement keeps the old. */
    counted_loss_freed = 0;
    nn_loss *c1 = NULL, *c2 = NULL;
    assert_ok(nn_loss_new(&counted_ops, NULL, &c1));
    assert_ok(nn_net_set_loss(net, c1, 2));
    assert_ptr_equal(nn_net_loss(net), c1);
    assert_ok(nn_loss_new(&counted_ops, NULL, &c2));
    /* The user's check() records no message: nn_net_set_loss writes one. */
    assert_error(nn_net_set_loss(net, c2, 3), NN_ERR_SHAPE, "output width 2", "target width 3");
    assert_ptr_equal(nn_net_loss(net), c1);
    assert_int_equal(counted_loss_freed, 0);
    assert_ok(nn_net_set_loss(net, c2, 2));
    assert_int_equal(counted_loss_freed, 1);

    /* Cross-entropy over the 2 outputs with class indices (width 1). */
    nn_loss *ce = NULL;
    assert_ok(nn_loss_cross_entropy_new(&ce));
    assert_ok(nn_net_set_loss(net, ce, 1));
    assert_int_equal(counted_loss_freed, 2);
    nn_net_free(net);
}

/* ---- forward, backward, predict, eval ---------------------------------------------- */

static void test_forward_backward_errors(void **state)
{
    (void)state;
    nn_net *net = trained_net(2, 0.1);
    float buf[64] = {0};
    const nn_tensor *y = NULL;
    nn_tensor x_bad = nn_tensor_view2d(buf, 4, 5);
    assert_error(nn_net_forward(net, &x_bad, 0, &y), NN_ERR_SHAPE, "5", "3");
    nn_tensor x = nn_tensor_view2d(buf, 4, 3);
    assert_status(nn_net_forward(NULL, &x, 0, &y), NN_ERR_NULL_ARG);
    assert_status(nn_net_forward(net, NULL, 0, &y), NN_ERR_NULL_ARG);
    assert_status(nn_net_forward(net, &x, 0, NULL), NN_ERR_NULL_ARG);

    /* Backward needs a forward first. */
    float dyb[8] = {0}, dxb[12];
    nn_tensor dy = nn_tensor_view2d(dyb, 4, 2), dx = nn_tensor_view2d(dxb, 4, 3);
    assert_error(nn_net_backward(net, &dy, NULL), NN_ERR_STATE, "forward");
    assert_ok(nn_net_forward(net, &x, 1, &y));
    assert_int_equal(y->shape[0], 4);
    assert_int_equal(y->shape[1], 2);
    nn_tensor dy_rows = nn_tensor_view2d(dyb, 3, 2), dy_w = nn_tensor_view2d(dyb, 4, 1);
    assert_status(nn_net_backward(net, &dy_rows, NULL), NN_ERR_SHAPE);
    assert_status(nn_net_backward(net, &dy_w, NULL), NN_ERR_SHAPE);
    nn_tensor dx_bad = nn_tensor_view2d(dxb, 4, 2);
    assert_status(nn_net_backward(net, &dy, &dx_bad), NN_ERR_SHAPE);
    assert_status(nn_net_backward(NULL, &dy, &dx), NN_ERR_NULL_ARG);
    assert_status(nn_net_backward(net, NULL, &dx), NN_ERR_NULL_ARG);
    assert_ok(nn_net_backward(net, &dy, &dx));

    assert_status(nn_net_zero_grad(NULL), NN_ERR_NULL_ARG);
    assert_error(nn_net_reserve(net, 0), NN_ERR_INVALID_ARG, "0");
    assert_status(nn_net_reserve(NULL, 4), NN_ERR_NULL_ARG);
    nn_net_free(net);
}

static void test_layer_output(void **state)
{
    (void)state;
    nn_net *net = trained_net(3, 0.1);
    nn_tensor *x = random_tensor(5, 3, 1);
    const nn_tensor *y = NULL;
    assert_null(nn_net_layer_output(net, 0)); /* no forward yet */
    assert_ok(nn_net_forward(net, x, 0, &y));
    /* The hidden activations: dense 1's output through sigmoid, by hand in double. */
    nn_layer *d1 = nn_net_layer(net, 0);
    const nn_tensor *h = nn_net_layer_output(net, 1);
    assert_non_null(h);
    assert_int_equal(h->shape[0], 5);
    assert_int_equal(h->shape[1], 4);
    for (size_t i = 0; i < 5; i++)
        for (size_t o = 0; o < 4; o++) {
            double z = nn_dense_bias(d1)->data[o];
            for (size_t k = 0; k < 3; k++)
                z += (double)nn_dense_weight(d1)->data[o * 3 + k] * x->data[i * 3 + k];
            assert_close(h->data[i * 4 + o], 1 / (1 + exp(-z)), 1e-5, 1e-7);
        }
    /* The last layer's output is the network's. */
    assert_memory_equal(nn_net_layer_output(net, 3)->data, y->data, 10 * sizeof(float));
    assert_null(nn_net_layer_output(net, 4));
    /* A change to the network forgets the outputs. */
    assert_ok(nn_net_add(net, nn_test_sigmoid()));
    assert_null(nn_net_layer_output(net, 1));
    nn_tensor_free(x);
    nn_net_free(net);
}

/* A layer's output is a view of the network's workspace: a pass writes it while it
 * reads its arguments, and a larger batch frees it. Handed back as an input, target,
 * output or gradient, it is refused, before anything runs; a copy is fine. */
static void test_workspace_views_refused(void **state)
{
    (void)state;
    nn_net *net = nn_test_mlp(2, 2, 2, 1);
    nn_test_mse_sgd(net, 0.1);
    nn_tensor *x = random_tensor(4, 2, 1), *t = random_tensor(4, 2, 2), *y = random_tensor(4, 2, 3);
    const nn_tensor *out = NULL;
    assert_ok(nn_net_forward(net, x, 1, &out));
    nn_tensor h = *nn_net_layer_output(net, 0), o = *nn_net_layer_output(net, 3);
    size_t count;
    float *before = nn_test_params_copy(net, &count);
    const char *in_ws = "lies in the network's own buffers";
    assert_error(nn_net_predict(net, &h, y), NN_ERR_INVALID_ARG, "nn_net_predict: the input", in_ws);
    assert_error(nn_net_predict(net, x, &o), NN_ERR_INVALID_ARG, "nn_net_predict: the output", in_ws);
    assert_error(nn_net_forward(net, &h, 1, &out), NN_ERR_INVALID_ARG, "the input", in_ws);
    double loss;
    assert_error(nn_net_eval_loss(net, &h, t, &loss), NN_ERR_INVALID_ARG, "the input", in_ws);
    assert_error(nn_net_train_step(net, x, &o, &loss), NN_ERR_INVALID_ARG, "the target", in_ws);
    nn_fit_params fp = nn_fit_default_params();
    fp.epochs = 1;
    fp.batch_size = 4;
    fp.progress = NN_PROGRESS_OFF;
    assert_error(nn_net_fit(net, &h, t, &fp, NULL), NN_ERR_INVALID_ARG, "nn_net_fit: the input",
                 in_ws);
    assert_true(nn_test_params_equal(net, before, count));
    /* backward: a forward pass on the caller's data first */
    assert_ok(nn_net_forward(net, x, 1, &out));
    o = *nn_net_layer_output(net, 3);
    /* dy may be a layer's output (the gradient of |y|^2 / 2): backward only reads it */
    float ycopy[8];
    memcpy(ycopy, o.data, sizeof ycopy);
    nn_tensor yc = nn_tensor_view2d(ycopy, 4, 2);
    assert_ok(nn_net_zero_grad(net));
    assert_ok(nn_net_backward(net, &yc, NULL));
    size_t ng = 0;
    float *g0 = nn_net_grads(net, &ng), *gcopy = malloc(ng * sizeof *gcopy);
    assert_non_null(gcopy);
    memcpy(gcopy, g0, ng * sizeof *gcopy);
    assert_ok(nn_net_zero_grad(net));
    assert_ok(nn_net_backward(net, &o, NULL));
    assert_memory_equal(nn_net_grads(net, &ng), gcopy, ng * sizeof(float));
    free(gcopy);
    /* nn_evaluate reads its targets after the forward pass that would overwrite them */
    nn_eval_stats es;
    assert_error(nn_evaluate(net, x, &o, 0, NULL, 0, &es), NN_ERR_INVALID_ARG,
                 "nn_evaluate: the target", in_ws);
    nn_tensor nodata_t = nn_tensor_view2d(NULL, 4, 2);
    assert_error(nn_evaluate(net, x, &nodata_t, 0, NULL, 0, &es), NN_ERR_NULL_ARG,
                 "nn_evaluate: the target has 8 elements");
    nn_tensor dx = *nn_net_layer_output(net, 0);
    assert_error(nn_net_backward(net, t, &dx), NN_ERR_INVALID_ARG, "the gradient dx", in_ws);
    /* dx over the forward pass's own input: refused before any gradient is added */
    assert_ok(nn_net_zero_grad(net));
    assert_error(nn_net_backward(net, t, x), NN_ERR_INVALID_ARG,
                 "the gradient dx lies over the forward pass's input");
    const float *g = nn_net_grads(net, &ng);
    for (size_t k = 0; k < ng; k++)
        assert_true(g[k] == 0.0f);
    /* a tensor of elements without data: NN_ERR_NULL_ARG, not a crash */
    nn_tensor nodata = nn_tensor_view2d(NULL, 4, 2);
    assert_error(nn_net_predict(net, &nodata, y), NN_ERR_NULL_ARG, "the input has 8 elements");
    assert_error(nn_net_predict(net, x, &nodata), NN_ERR_NULL_ARG, "the output has 8 elements");
    assert_error(nn_net_train_step(net, x, &nodata, &loss), NN_ERR_NULL_ARG, "the target");
    assert_error(nn_net_fit(net, &nodata, t, &fp, NULL), NN_ERR_NULL_ARG, "nn_net_fit: the input");
    /* a copy of an output is the caller's */
    memcpy(y->data, nn_net_layer_output(net, 0)->data, 8 * sizeof(float));
    assert_ok(nn_net_predict(net, y, t));
    free(before);
    nn_tensor_free(x);
    nn_tensor_free(t);
    nn_tensor_free(y);
    nn_net_free(net);
}

/* The whole-set passes run the network on the caller's x in chunks; x may be freed
 * once they return, so nn_net_backward must not go back through their last chunk
 * (it would read x for the first layer's weight gradient). The layer outputs stay
 * readable (the gender example prints the hidden layer after nn_net_predict). */
static void test_whole_set_passes_keep_no_input(void **state)
{
    (void)state;
    nn_net *net = trained_net(3, 0.1);
    nn_tensor *x = random_tensor(5, 3, 1), *t = random_tensor(5, 2, 2), *dy = random_tensor(5, 2, 3);
    nn_tensor *y;
    assert_ok(nn_tensor_new2d(5, 2, &y));
    const nn_tensor *out = NULL;
    float hidden[5 * 4];
    assert_ok(nn_net_forward(net, x, 0, &out));
    memcpy(hidden, nn_net_layer_output(net, 1)->data, sizeof hidden);
    assert_ok(nn_net_backward(net, dy, NULL));
    const char *refused = "input is not kept";
    for (int pass = 0; pass < 3; pass++) {
        double loss;
        if (pass == 0)
            assert_ok(nn_net_predict(net, x, y));
        else if (pass == 1)
            assert_ok(nn_net_eval_loss(net, x, t, &loss));
        else
            assert_ok(nn_evaluate(net, x, t, 2, NULL, 0, NULL));
        const nn_tensor *h = nn_net_layer_output(net, 1);
        assert_non_null(h);
        /* the last chunk: all 5 rows for predict and eval_loss, the 5th for nn_evaluate */
        size_t first = pass == 2 ? 4 : 0;
        assert_int_equal(h->shape[0], 5 - first);
        assert_memory_equal(h->data, hidden + first * 4, h->size * sizeof(float));
        assert_error(nn_net_backward(net, dy, NULL), NN_ERR_STATE, refused);
        /* a forward pass on a batch makes backward possible again */
        assert_ok(nn_net_forward(net, x, 1, &out));
        assert_ok(nn_net_backward(net, dy, NULL));
    }
    /* Predicting no rows does nothing, and leaves the last pass as it was. */
    nn_tensor x0 = nn_tensor_view2d(x->data, 0, 3), y0 = nn_tensor_view2d(y->data, 0, 2);
    assert_ok(nn_net_predict(net, &x0, &y0));
    assert_ok(nn_net_backward(net, dy, NULL));
    nn_tensor_free(x);
    nn_tensor_free(t);
    nn_tensor_free(dy);
    nn_tensor_free(y);
    nn_net_free(net);
}

/* The loss must fit the output width it is trained on, however the widths came about:
 * set again with another target width, or layers added after it was set. The fused
 * pass for small networks (this one is small) does not go through nn_loss_eval's
 * checks, and read past the target's end before the widths were checked again. */
static void test_loss_width_checked_again(void **state)
{
    (void)state;
    nn_net *net = trained_net(3, 0.1); /* output width 2, MSE with target width 2 */
    nn_tensor *x = random_tensor(4, 3, 1), *t2 = random_tensor(4, 2, 2), *t3 = random_tensor(4, 3, 3);
    nn_loss *mse = nn_net_loss(net);
    assert_error(nn_net_set_loss(net, mse, 1), NN_ERR_SHAPE, "rejects output width 2 with target width 1");
    assert_ok(nn_net_train_step(net, x, t2, NULL)); /* the target width stayed 2 */

    /* A layer added after the loss: output width 3 against target width 2. */
    assert_ok(nn_net_add(net, nn_test_dense(3, nn_init_normal(0, 1), nn_init_zeros())));
    nn_rng rng;
    nn_rng_seed(&rng, 5, 0);
    assert_ok(nn_net_init_params(net, &rng));
    size_t n;
    float before[64];
    assert_true(nn_net_params(net, &n) != NULL && n <= 64);
    memcpy(before, nn_net_params(net, &n), n * sizeof(float));
    const char *msg = "rejects output width 3 with target width 2";
    assert_error(nn_net_train_step(net, x, t2, NULL), NN_ERR_SHAPE, "nn_net_train_step", msg);
    assert_error(nn_net_compute_grads(net, x, t2, NULL), NN_ERR_SHAPE, msg);
    double loss;
    assert_error(nn_net_eval_loss(net, x, t2, &loss), NN_ERR_SHAPE, msg);
    nn_fit_params fp = nn_fit_default_params();
    fp.progress = NN_PROGRESS_OFF;
    for (size_t bs = 1; bs <= 4; bs += 3) { /* the per-sample loop and the batch loop */
        fp.batch_size = bs;
        assert_error(nn_net_fit(net, x, t2, &fp, NULL), NN_ERR_SHAPE, "nn_net_fit", msg);
    }
    assert_memory_equal(nn_net_params(net, &n), before, n * sizeof(float));
    /* Setting the loss again for the new width mends it. */
    assert_ok(nn_net_set_loss(net, mse, 3));
    assert_ok(nn_net_train_step(net, x, t3, NULL));
    nn_tensor_free(x);
    nn_tensor_free(t2);
    nn_tensor_free(t3);
    nn_net_free(net);
}

/* A loss or optimizer belongs to the network it was set on: set on a second one, both
 * networks would free it. */
static void test_loss_and_optim_have_one_owner(void **state)
{
    (void)state;
    nn_net *a = trained_net(3, 0.1), *b = trained_net(4, 0.1);
    nn_loss *la = nn_net_loss(a);
    nn_optim *oa = nn_net_optim(a);
    assert_error(nn_net_set_loss(b, la, 2), NN_ERR_INVALID_ARG, "belongs to another network");
    assert_error(nn_net_set_optim(b, oa), NN_ERR_INVALID_ARG, "belongs to another network");
    assert_ptr_not_equal(nn_net_loss(b), la);
    assert_ptr_not_equal(nn_net_optim(b), oa);
    /* Set again on its own network, each is still accepted. */
    assert_ok(nn_net_set_loss(a, la, 2));
    assert_ok(nn_net_set_optim(a, oa));
    nn_net_free(a);
    nn_net_free(b); /* each frees its own: ASan would report a double free */
}

/* A step that rounds away measures nothing: an error, not a perfect score. The
 * parameters here are around 1, whose float ulp is 1.2e-7; 1e-8 rounded away and the
 * check reported max_err 0, with any backward. */
static void test_check_grads_step(void **state)
{
    (void)state;
    nn_net *net = trained_net(3, 0.1);
    nn_tensor *x = random_tensor(4, 3, 1), *t = random_tensor(4, 2, 2);
    size_t n;
    float *p = nn_net_params(net, &n);
    p[0] = 1.0f;
    double err = -1.0;
    assert_ok(nn_net_check_grads(net, x, t, 1e-3, &err));
    assert_true(err >= 0.0 && err < 1e-2);
    const double bad[] = {1e-8, 1e300, INFINITY};
    for (size_t k = 0; k < 3; k++) {
        err = -1.0;
        assert_error(nn_net_check_grads(net, x, t, bad[k], &err), NN_ERR_INVALID_ARG,
                     "does not move parameter");
        assert_true(err == -1.0);
    }
    assert_true(nn_net_params(net, &n)[0] == 1.0f); /* put back */
    nn_tensor_free(x);
    nn_tensor_free(t);
    nn_net_free(net);
}

/* A user layer's build cannot set its input width (a wider one made backward write
 * past the gradient buffer, 0 let it join a second network), and a forward that
 * changes its output view is an error (predict copied past the caller's y). */
static void test_misbehaving_user_layers(void **state)
{
    (void)state;
    nn_net *a = NULL, *b = NULL;
    assert_ok(nn_net_new(3, &a));
    assert_ok(nn_net_new(3, &b));
    nn_layer *liar = NULL, *grow = NULL;
    assert_ok(nn_layer_new(&liar_ops, NULL, &liar));
    assert_ok(nn_net_add(a, liar));
    assert_int_equal(liar->in_width, 3);
    assert_error(nn_net_add(b, liar), NN_ERR_INVALID_ARG, "already part of a network");
    assert_ok(nn_layer_new(&grow_ops, NULL, &grow));
    assert_ok(nn_net_add(b, grow));
    float xs[6] = {1, 2, 3, 4, 5, 6}, ys[6 + 1];
    ys[6] = 42.0f; /* one past y: must stay */
    nn_tensor x = nn_tensor_view2d(xs, 2, 3), y = nn_tensor_view2d(ys, 2, 3);
    assert_error(nn_net_predict(b, &x, &y), NN_ERR_STATE, "layer 0 ('grow') changed its output view");
    assert_true(ys[6] == 42.0f);
    const nn_tensor *out = NULL;
    assert_error(nn_net_forward(b, &x, 0, &out), NN_ERR_STATE, "changed its output view");
    assert_null(nn_net_layer_output(b, 0));
    nn_net_free(a);
    nn_net_free(b);
}

static void test_predict_equals_forward(void **state)
{
    (void)state;
    enum { N = 1000 };
    nn_net *net = trained_net(5, 0.1);
    nn_tensor *x = random_tensor(N, 3, 2), *y = NULL;
    assert_ok(nn_tensor_new2d(N, 2, &y));
    const nn_tensor *yf = NULL;
    assert_ok(nn_net_forward(net, x, 0, &yf));
    double ref[N * 2];
    for (size_t k = 0; k < N * 2; k++)
        ref[k] = yf->data[k];
    assert_ok(nn_net_predict(net, x, y));
    assert_all_close(y->data, ref, N * 2, 1e-6, 1e-7);

    /* Row by row as well. */
    for (size_t i = 0; i < N; i += 97) {
        nn_tensor xi, yi;
        assert_ok(nn_tensor_rows(x, i, 1, &xi));
        assert_ok(nn_tensor_rows(y, i, 1, &yi));
        assert_ok(nn_net_predict(net, &xi, &yi));
        assert_all_close(yi.data, ref + 2 * i, 2, 1e-6, 1e-7);
    }

    nn_tensor *y_bad = NULL;
    assert_ok(nn_tensor_new2d(N - 1, 2, &y_bad));
    assert_status(nn_net_predict(net, x, y_bad), NN_ERR_SHAPE);
    nn_tensor_free(y_bad);
    assert_ok(nn_tensor_new2d(N, 3, &y_bad));
    assert_status(nn_net_predict(net, x, y_bad), NN_ERR_SHAPE);
    nn_tensor_free(y_bad);
    assert_status(nn_net_predict(NULL, x, y), NN_ERR_NULL_ARG);
    assert_status(nn_net_predict(net, NULL, y), NN_ERR_NULL_ARG);
    assert_status(nn_net_predict(net, x, NULL), NN_ERR_NULL_ARG);
    nn_tensor_free(x);
    nn_tensor_free(y);
    nn_net_free(net);
}

static void test_eval_loss_equals_manual(void **state)
{
    (void)state;
    enum { N = 777 };
    nn_net *net = trained_net(6, 0.1);
    nn_tensor *x = random_tensor(N, 3, 3), *t = random_tensor(N, 2, 4), *y = NULL;
    assert_ok(nn_tensor_new2d(N, 2, &y));
    assert_ok(nn_net_predict(net, x, y));
    double sum = 0;
    for (size_t k = 0; k < N * 2; k++) {
        double d = (double)y->data[k] - t->data[k];
        sum += d * d;
    }
    double loss = 0;
    assert_ok(nn_net_eval_loss(net, x, t, &loss));
    assert_close(loss, sum / (N * 2), 1e-6, 0);
    /* Chunks combine by the loss's reduction. */
    assert_ok(nn_loss_set_reduction(nn_net_loss(net), NN_REDUCTION_SUM));
    assert_ok(nn_net_eval_loss(net, x, t, &loss));
    assert_close(loss, sum, 1e-6, 0);

    nn_tensor t_rows, t_w = nn_tensor_view2d(t->data, N, 1);
    assert_ok(nn_tensor_rows(t, 0, N - 1, &t_rows));
    assert_status(nn_net_eval_loss(net, x, &t_rows, &loss), NN_ERR_SHAPE);
    assert_status(nn_net_eval_loss(net, x, &t_w, &loss), NN_ERR_SHAPE);
    assert_status(nn_net_eval_loss(NULL, x, t, &loss), NN_ERR_NULL_ARG);
    assert_status(nn_net_eval_loss(net, NULL, t, &loss), NN_ERR_NULL_ARG);
    assert_status(nn_net_eval_loss(net, x, NULL, &loss), NN_ERR_NULL_ARG);
    assert_status(nn_net_eval_loss(net, x, t, NULL), NN_ERR_NULL_ARG);

    nn_tensor x0 = nn_tensor_view2d(x->data, 0, 3), t0 = nn_tensor_view2d(t->data, 0, 2);
    assert_error(nn_net_eval_loss(net, &x0, &t0, &loss), NN_ERR_INVALID_ARG, "no rows");

    nn_net *no_loss = nn_test_mlp(3, 4, 2, 6);
    assert_error(nn_net_eval_loss(no_loss, x, t, &loss), NN_ERR_STATE, "loss");
    assert_error(nn_net_compute_grads(no_loss, x, t, &loss), NN_ERR_STATE, "loss");
    nn_net_free(no_loss);
    nn_tensor_free(x);
    nn_tensor_free(t);
    nn_tensor_free(y);
    nn_net_free(net);
}

/* compute_grads is zero_grad + forward + loss + backward; check it against those
 * calls made by hand, and that it does not touch the parameters. */
static void test_compute_grads_matches_manual(void **state)
{
    (void)state;
    enum { B = 6 };
    nn_net *net = trained_net(8, 0.1);
    nn_tensor *x = random_tensor(B, 3, 5), *t = random_tensor(B, 2, 6);
    size_t np = 0;
    float *before = nn_test_params_copy(net, &np);
    double loss = -1, eval = -2;
    assert_ok(nn_net_compute_grads(net, x, t, &loss));
    assert_true(nn_test_params_equal(net, before, np));
    assert_ok(nn_net_eval_loss(net, x, t, &eval));
    assert_close(loss, eval, 1e-12, 0);
    float *g1 = malloc(np * sizeof *g1);
    memcpy(g1, nn_net_grads(net, &np), np * sizeof *g1);
    /* Called again: zeroed first, so not doubled. */
    assert_ok(nn_net_compute_grads(net, x, t, NULL));
    assert_memory_equal(nn_net_grads(net, &np), g1, np * sizeof *g1);

    const nn_tensor *y = NULL;
    float dyb[B * 2];
    nn_tensor dy = nn_tensor_view2d(dyb, B, 2);
    double v = 0;
    assert_ok(nn_net_forward(net, x, 1, &y));
    assert_ok(nn_loss_eval(nn_net_loss(net), y, t, &v, &dy));
    assert_ok(nn_net_zero_grad(net));
    assert_ok(nn_net_backward(net, &dy, NULL));
    assert_true(v == loss);
    assert_memory_equal(nn_net_grads(net, &np), g1, np * sizeof *g1);
    free(g1);
    free(before);
    nn_tensor_free(x);
    nn_tensor_free(t);
    nn_net_free(net);
}

/* A training step is p - lr * grad (with lr a power of two, exactly). */
static void test_train_step_is_sgd(void **state)
{
    (void)state;
    nn_net *net = trained_net(9, 0.25);
    nn_tensor *x = random_tensor(4, 3, 7), *t = random_tensor(4, 2, 8);
    size_t np = 0;
    float *before = nn_test_params_copy(net, &np);
    double l_grads = 0, l_step = 0;
    assert_ok(nn_net_compute_grads(net, x, t, &l_grads));
    float *g = malloc(np * sizeof *g);
    memcpy(g, nn_net_grads(net, &np), np * sizeof *g);
    assert_ok(nn_net_train_step(net, x, t, &l_step));
    assert_true(l_step == l_grads); /* the loss before the update */
    const float *p = nn_net_params(net, &np);
    for (size_t k = 0; k < np; k++)
        assert_true(p[k] == before[k] - 0.25f * g[k]);
    assert_int_equal(nn_net_optim(net)->step_count, 1);
    assert_ok(nn_net_train_step(net, x, t, NULL)); /* loss pointer may be NULL */
    /* A step goes downhill on its own batch (small lr: first order holds). */
    assert_ok(nn_optim_set_lr(nn_net_optim(net), 0.01));
    double l0 = 0, l1 = 0;
    assert_ok(nn_net_train_step(net, x, t, &l0));
    assert_ok(nn_net_eval_loss(net, x, t, &l1));
    assert_true(l1 < l0);

    /* Missing pieces. */
    nn_net *bare = nn_test_mlp(3, 4, 2, 9);
    /* Neither loss nor optimizer: either may be named first. */
    assert_error(nn_net_train_step(bare, x, t, NULL), NN_ERR_STATE, "nn_net_");
    nn_loss *mse = NULL;
    assert_ok(nn_loss_mse_new(&mse));
    assert_ok(nn_net_set_loss(bare, mse, 2));
    assert_error(nn_net_train_step(bare, x, t, NULL), NN_ERR_STATE, "optim");
    nn_net_free(bare);
    nn_tensor t_bad = nn_tensor_view2d(t->data, 2, 2);
    assert_error(nn_net_train_step(net, x, &t_bad, NULL), NN_ERR_SHAPE, "nn_net_train_step");
    assert_status(nn_net_train_step(NULL, x, t, NULL), NN_ERR_NULL_ARG);
    /* The messages name the function called. */
    assert_error(nn_net_train_step(net, NULL, t, NULL), NN_ERR_NULL_ARG, "nn_net_train_step", "'x'");
    assert_error(nn_net_train_step(net, x, NULL, NULL), NN_ERR_NULL_ARG, "nn_net_train_step",
                 "'target'");
    assert_error(nn_net_compute_grads(net, NULL, t, NULL), NN_ERR_NULL_ARG, "nn_net_compute_grads",
                 "'x'");
    assert_error(nn_net_compute_grads(net, x, &t_bad, NULL), NN_ERR_SHAPE, "nn_net_compute_grads");
    free(g);
    free(before);
    nn_tensor_free(x);
    nn_tensor_free(t);
    nn_net_free(net);
}

static void test_train_step_non_finite(void **state)
{
    (void)state;
    nn_net *net = trained_net(10, 0.5);
    nn_tensor *x = random_tensor(4, 3, 9), *t = random_tensor(4, 2, 10);
    size_t np = 0;
    float *before = nn_test_params_copy(net, &np);
    x->data[4] = NAN;
    double loss = 0;
    assert_error(nn_net_train_step(net, x, t, &loss), NN_ERR_NUMERIC, "loss");
    assert_true(nn_test_params_equal(net, before, np)); /* bit-identical */
    assert_int_equal(nn_net_optim(net)->step_count, 0);
    assert_status(nn_net_compute_grads(net, x, t, NULL), NN_ERR_NUMERIC);
    x->data[4] = 0.5f;
    t->data[3] = INFINITY;
    assert_status(nn_net_train_step(net, x, t, &loss), NN_ERR_NUMERIC);
    assert_true(nn_test_params_equal(net, before, np));
    /* A finite batch afterwards trains normally. */
    t->data[3] = 0.5f;
    assert_ok(nn_net_train_step(net, x, t, &loss));
    assert_true(isfinite(loss));
    assert_false(nn_test_params_equal(net, before, np));
    free(before);
    nn_tensor_free(x);
    nn_tensor_free(t);
    nn_net_free(net);
}

/* nn_net_step, for a loop of one's own: the gradients from forward, the loss and
 * backward, then the network's optimizer over its own parameter list; the same bits
 * as nn_net_train_step, and the same refusals. */
static void test_step_after_own_backward(void **state)
{
    (void)state;
    nn_net *a = trained_net(11, 0.3), *b = trained_net(11, 0.3);
    nn_optim *adam = NULL, *adam2 = NULL;
    nn_adam_params ap = nn_adam_default_params();
    ap.lr = 0.01;
    assert_ok(nn_optim_adam_new_ex(&ap, &adam)); /* stateful: the list's order matters */
    assert_ok(nn_optim_adam_new_ex(&ap, &adam2));
    assert_ok(nn_net_set_optim(a, adam));
    assert_ok(nn_net_set_optim(b, adam2));
    nn_tensor *x = random_tensor(5, 3, 12), *t = random_tensor(5, 2, 13);
    for (int step = 0; step < 3; step++) {
        assert_ok(nn_net_train_step(a, x, t, NULL));
        /* b by hand: forward, the loss's gradient, backward, step */
        const nn_tensor *y;
        assert_ok(nn_net_forward(b, x, 1, &y));
        nn_tensor *dy = NULL;
        assert_ok(nn_tensor_new2d(5, 2, &dy));
        double v;
        assert_ok(nn_loss_eval(nn_net_loss(b), y, t, &v, dy));
        assert_ok(nn_net_zero_grad(b));
        assert_ok(nn_net_backward(b, dy, NULL));
        assert_ok(nn_net_step(b));
        nn_tensor_free(dy);
    }
    size_t np = 0;
    float *pa = nn_test_params_copy(a, &np);
    assert_true(nn_test_params_equal(b, pa, np)); /* bit for bit */
    assert_int_equal(nn_net_optim(b)->step_count, 3);

    /* A non-finite gradient: NN_ERR_NUMERIC, parameters and step count untouched. */
    float *pb = nn_test_params_copy(b, &np);
    nn_net_grads(b, &np)[1] = NAN;
    assert_error(nn_net_step(b), NN_ERR_NUMERIC, "nn_net_step: gradient 1 of", "nan");
    assert_true(nn_test_params_equal(b, pb, np));
    assert_int_equal(nn_net_optim(b)->step_count, 3);
    assert_error(nn_net_step(NULL), NN_ERR_NULL_ARG, "nn_net_step");
    nn_net *bare = nn_test_mlp(3, 4, 2, 9);
    assert_error(nn_net_step(bare), NN_ERR_STATE, "nn_net_step: the network has no optimizer");
    nn_net_free(bare);
    free(pa);
    free(pb);
    nn_tensor_free(x);
    nn_tensor_free(t);
    nn_net_free(a);
    nn_net_free(b);
}

/* Whole-set passes run in chunks of a fixed size, not of the batch the network last
 * reserved: sgemm rounds a row differently as the row count changes, and a loaded
 * copy of a trained network predicted other bits than the network saved. Widths
 * above the direct loop's 64, so the products go to BLAS. */
static void test_predict_independent_of_history(void **state)
{
    (void)state;
    nn_net *a = nn_test_mlp(80, 96, 70, 21), *b = nn_test_mlp(80, 96, 70, 21);
    nn_tensor *x = random_tensor(300, 80, 22), *t = random_tensor(7, 70, 23);
    nn_test_mse_sgd(a, 0.01);
    nn_tensor x7;
    assert_ok(nn_tensor_rows(x, 0, 7, &x7));
    assert_ok(nn_net_train_step(a, &x7, t, NULL)); /* a has reserved 7 rows */
    size_t np = 0;
    const float *pa = nn_net_params(a, &np);
    memcpy(nn_net_params(b, &np), pa, np * sizeof(float));
    nn_tensor *ya = NULL, *yb = NULL;
    assert_ok(nn_tensor_new2d(300, 70, &ya));
    assert_ok(nn_tensor_new2d(300, 70, &yb));
    assert_ok(nn_net_predict(a, x, ya));
    assert_ok(nn_net_predict(b, x, yb)); /* b has reserved nothing */
    assert_memory_equal(ya->data, yb->data, ya->size * sizeof(float));
    nn_tensor_free(ya);
    nn_tensor_free(yb);
    nn_tensor_free(x);
    nn_tensor_free(t);
    nn_net_free(a);
    nn_net_free(b);
}

/* ---- no allocation on the hot path ---------------------------------------------- */

static void test_no_allocation_per_step(void **state)
{
    (void)state;
    nn_test_alloc_install();
    nn_net *net = trained_net(11, 0.1);
    nn_tensor *x = random_tensor(16, 3, 11), *t = random_tensor(16, 2, 12), *y = NULL;
    assert_ok(nn_tensor_new2d(16, 2, &y));
    nn_tensor x8, t8;
    assert_ok(nn_tensor_rows(x, 0, 8, &x8));
    assert_ok(nn_tensor_rows(t, 8, 8, &t8));
    assert_ok(nn_net_train_step(net, x, t, NULL)); /* the first step may set up */
    assert_ok(nn_net_predict(net, x, y));
    double loss = 0;
    assert_ok(nn_net_eval_loss(net, x, t, &loss));

    nn_test_alloc_count_from_now();
    for (int s = 0; s < 100; s++) {
        /* Full and smaller batches alike. */
        assert_ok(nn_net_train_step(net, s % 2 ? &x8 : x, s % 2 ? &t8 : t, &loss));
    }
    const nn_tensor *out = NULL;
    float dyb[32] = {0};
    nn_tensor dy = nn_tensor_view2d(dyb, 16, 2);
    for (int s = 0; s < 10; s++) {
        assert_ok(nn_net_forward(net, x, 1, &out));
        assert_ok(nn_net_backward(net, &dy, NULL));
        assert_ok(nn_net_compute_grads(net, &x8, &t8, NULL));
        assert_ok(nn_net_eval_loss(net, x, t, &loss));
        assert_ok(nn_net_predict(net, x, y));
    }
    if (nn_test_alloc()->calls != 0)
        fail_msg("%zu allocations in 100 training steps after the first", nn_test_alloc()->calls);

    nn_tensor_free(x);
    nn_tensor_free(t);
    nn_tensor_free(y);
    nn_net_free(net);
    assert_int_equal(nn_test_alloc()->live, 0);
}

/* fit allocates its buffers once, before the first step: the number of allocations
 * cannot grow with the number of epochs (steps). */
static void test_fit_allocations_do_not_grow(void **state)
{
    (void)state;
    nn_test_alloc_install();
    nn_tensor *x = random_tensor(10, 3, 13), *t = random_tensor(10, 2, 14);
    size_t counts[2];
    const size_t epochs[2] = {1, 60};
    for (int r = 0; r < 2; r++) {
        nn_net *net = trained_net(12, 0.1);
        nn_rng rng;
        nn_rng_seed(&rng, 3, 0);
        nn_fit_params fp = nn_fit_default_params();
        fp.progress = NN_PROGRESS_OFF; /* keep test output readable */
        fp.epochs = epochs[r];
        fp.batch_size = 3;
        fp.shuffle = 1;
        fp.rng = &rng;
        nn_test_alloc_count_from_now();
        assert_ok(nn_net_fit(net, x, t, &fp, NULL));
        counts[r] = nn_test_alloc()->calls;
        nn_net_free(net);
    }
    if (counts[1] != counts[0])
        fail_msg("fit made %zu allocations for 1 epoch and %zu for 60 (4 steps each)", counts[0],
                 counts[1]);
    nn_tensor_free(x);
    nn_tensor_free(t);
    assert_int_equal(nn_test_alloc()->live, 0);
}

/* fit reserves the validation passes' chunks with the batch, before the first step:
 * validating allocates nothing more than training without a validation set does
 * (the passes run in chunks of up to 256 rows, more than the batch of 3). */
static void test_fit_validation_allocates_nothing_more(void **state)
{
    (void)state;
    nn_test_alloc_install();
    nn_tensor *x = random_tensor(10, 3, 13), *t = random_tensor(10, 2, 14);
    nn_tensor *vx = random_tensor(40, 3, 15), *vt = random_tensor(40, 2, 16);
    size_t counts[2];
    for (int r = 0; r < 2; r++) {
        nn_net *net = trained_net(12, 0.1);
        nn_fit_params fp = nn_fit_default_params();
        fp.progress = NN_PROGRESS_OFF;
        fp.epochs = 3;
        fp.batch_size = 3;
        if (r == 1) {
            fp.val_x = vx;
            fp.val_target = vt;
        }
        nn_test_alloc_count_from_now();
        assert_ok(nn_net_fit(net, x, t, &fp, NULL));
        counts[r] = nn_test_alloc()->calls;
        nn_net_free(net);
    }
    if (counts[1] != counts[0])
        fail_msg("fit made %zu allocations with a validation set, %zu without", counts[1],
                 counts[0]);
    nn_tensor_free(x);
    nn_tensor_free(t);
    nn_tensor_free(vx);
    nn_tensor_free(vt);
    assert_int_equal(nn_test_alloc()->live, 0);
}

/* ---- fit --------------------------------------------------------------------------- */

static void test_fit_defaults_and_errors(void **state)
{
    (void)state;
    nn_fit_params fp = nn_fit_default_params();
    assert_int_equal(fp.epochs, 1);
    assert_int_equal(fp.batch_size, 32);
    assert_int_equal(fp.shuffle, 0);
    assert_null(fp.rng);
    assert_null(fp.on_epoch);
    assert_null(fp.schedule);
    assert_null(fp.val_x);
    assert_true(fp.clip_grad_norm == 0.0);
    assert_int_equal(fp.patience, 0);
    assert_int_equal(fp.progress, NN_PROGRESS_AUTO);
    fp.progress = NN_PROGRESS_OFF;

    nn_net *net = trained_net(13, 0.1);
    nn_tensor *x = random_tensor(10, 3, 15), *t = random_tensor(10, 2, 16);
    size_t np = 0;
    float *before = nn_test_params_copy(net, &np);
    fp.epochs = 0;
    assert_error(nn_net_fit(net, x, t, &fp, NULL), NN_ERR_INVALID_ARG, "epoch");
    fp.epochs = 1;
    fp.batch_size = 0;
    assert_error(nn_net_fit(net, x, t, &fp, NULL), NN_ERR_INVALID_ARG, "batch");
    fp.batch_size = 4;
    fp.shuffle = 1;
    assert_error(nn_net_fit(net, x, t, &fp, NULL), NN_ERR_INVALID_ARG, "rng");
    fp.shuffle = 0;
    nn_tensor t9;
    assert_ok(nn_tensor_rows(t, 0, 9, &t9));
    assert_error(nn_net_fit(net, x, &t9, &fp, NULL), NN_ERR_SHAPE, "10", "9");
    nn_tensor x_w = nn_tensor_view2d(x->data, 15, 2);
    assert_status(nn_net_fit(net, &x_w, t, &fp, NULL), NN_ERR_SHAPE);
    nn_tensor x0 = nn_tensor_view2d(x->data, 0, 3), t0 = nn_tensor_view2d(t->data, 0, 2);
    for (fp.batch_size = 1; fp.batch_size <= 4; fp.batch_size += 3) /* SIGFPE before */
        assert_error(nn_net_fit(net, &x0, &t0, &fp, NULL), NN_ERR_INVALID_ARG, "no rows");
    const nn_tensor *y0 = NULL;
    assert_error(nn_net_forward(net, &x0, 1, &y0), NN_ERR_INVALID_ARG, "nn_net_forward", "no rows");
    assert_error(nn_net_train_step(net, &x0, &t0, NULL), NN_ERR_INVALID_ARG, "nn_net_train_step",
                 "no rows");
    assert_error(nn_net_compute_grads(net, &x0, &t0, NULL), NN_ERR_INVALID_ARG,
                 "nn_net_compute_grads", "no rows");
    assert_status(nn_net_fit(NULL, x, t, &fp, NULL), NN_ERR_NULL_ARG);
    assert_status(nn_net_fit(net, NULL, t, &fp, NULL), NN_ERR_NULL_ARG);
    assert_status(nn_net_fit(net, x, NULL, &fp, NULL), NN_ERR_NULL_ARG);
    assert_status(nn_net_fit(net, x, t, NULL, NULL), NN_ERR_NULL_ARG);
    assert_true(nn_test_params_equal(net, before, np));
    free(before);
    nn_tensor_free(x);
    nn_tensor_free(t);
    nn_net_free(net);
}

/* fit with batches of 4 over 10 rows, in order, is exactly train_step on rows
 * [0, 4), [4, 8), [8, 10); the epoch loss is the batch losses weighted by size. */
static void test_fit_uneven_batches_equal_manual_steps(void **state)
{
    (void)state;
    nn_net *a = trained_net(14, 0.2), *b = trained_net(14, 0.2);
    nn_tensor *x = random_tensor(10, 3, 17), *t = random_tensor(10, 2, 18);
    nn_epoch_stats stats[3];
    nn_fit_history h = {.epochs = stats, .capacity = 3};
    double history[3];
    nn_fit_params fp = nn_fit_default_params();
    fp.progress = NN_PROGRESS_OFF; /* keep test output readable */
    fp.epochs = 2;
    fp.batch_size = 4;
    assert_ok(nn_net_fit(a, x, t, &fp, &h));
    assert_int_equal(h.count, 2); /* exactly `epochs` entries */
    for (int e = 0; e < 2; e++) {
        history[e] = stats[e].train_loss;
        assert_int_equal(stats[e].epoch, e);
        assert_true(isnan(stats[e].train_acc) && isnan(stats[e].val_loss) && isnan(stats[e].val_acc));
        assert_true(stats[e].lr == 0.2);
    }

    const size_t first[3] = {0, 4, 8}, count[3] = {4, 4, 2};
    for (int e = 0; e < 2; e++) {
        double weighted = 0;
        for (int k = 0; k < 3; k++) {
            nn_tensor xb, tb;
            double l = 0;
            assert_ok(nn_tensor_rows(x, first[k], count[k], &xb));
            assert_ok(nn_tensor_rows(t, first[k], count[k], &tb));
            assert_ok(nn_net_train_step(b, &xb, &tb, &l));
            weighted += l * (double)count[k];
        }
        assert_close(history[e], weighted / 10, 1e-12, 0);
    }
    size_t np = 0;
    float *pb = nn_test_params_copy(b, &np);
    assert_true(nn_test_params_equal(a, pb, np));
    assert_true(history[1] < history[0]);
    free(pb);
    nn_tensor_free(x);
    nn_tensor_free(t);
    nn_net_free(a);
    nn_net_free(b);
}

typedef struct epoch_log {
    nn_net *net;
    size_t calls;
    size_t epochs_seen[10];
    double losses[10];
    size_t stop_after;
} epoch_log;

static int on_epoch(nn_net *net, const nn_epoch_stats *stats, void *user)
{
    epoch_log *log = user;
    size_t epoch = stats->epoch;
    double loss = stats->train_loss;
    if (net != log->net || log->calls >= 10)
        return 1;
    log->epochs_seen[log->calls] = epoch;
    log->losses[log->calls] = loss;
    log->calls++;
    return epoch + 1 >= log->stop_after;
}

static void test_fit_callback_stops_early(void **state)
{
    (void)state;
    nn_net *net = trained_net(15, 0.1), *twin = trained_net(15, 0.1);
    nn_tensor *x = random_tensor(8, 3, 19), *t = random_tensor(8, 2, 20);
    nn_epoch_stats stats[10];
    nn_fit_history h = {.epochs = stats, .capacity = 10};
    epoch_log log = {.net = net, .stop_after = 3};
    nn_fit_params fp = nn_fit_default_params();
    fp.progress = NN_PROGRESS_OFF; /* keep test output readable */
    fp.epochs = 10;
    fp.batch_size = 3;
    fp.on_epoch = on_epoch;
    fp.user = &log;
    assert_ok(nn_net_fit(net, x, t, &fp, &h));
    assert_int_equal(log.calls, 3);
    assert_int_equal(h.count, 3); /* nothing recorded after the stop */
    assert_int_equal(h.stopped_early, 1);
    for (size_t e = 0; e < 3; e++) {
        assert_int_equal(log.epochs_seen[e], e);
        assert_true(log.losses[e] == stats[e].train_loss); /* the same epoch loss */
        assert_true(stats[e].train_loss > 0);
    }
    /* Stopped after exactly three epochs of training. */
    fp.epochs = 3;
    fp.on_epoch = NULL;
    assert_ok(nn_net_fit(twin, x, t, &fp, NULL));
    size_t np = 0;
    float *p = nn_test_params_copy(twin, &np);
    assert_true(nn_test_params_equal(net, p, np));
    free(p);
    nn_tensor_free(x);
    nn_tensor_free(t);
    nn_net_free(net);
    nn_net_free(twin);
}

static void test_fit_shuffle(void **state)
{
    (void)state;
    nn_tensor *x = random_tensor(12, 3, 21), *t = random_tensor(12, 2, 22);
    nn_net *nets[4];
    const uint64_t seeds[4] = {100, 100, 101, 0};
    for (int k = 0; k < 4; k++) {
        nets[k] = trained_net(16, 0.3);
        nn_rng rng;
        nn_rng_seed(&rng, seeds[k], 0);
        nn_fit_params fp = nn_fit_default_params();
        fp.progress = NN_PROGRESS_OFF; /* keep test output readable */
        fp.epochs = 5;
        fp.batch_size = 1;
        fp.shuffle = k < 3; /* the last one in data set order */
        fp.rng = &rng;
        assert_ok(nn_net_fit(nets[k], x, t, &fp, NULL));
    }
    size_t np = 0;
    float *p0 = nn_test_params_copy(nets[0], &np);
    assert_true(nn_test_params_equal(nets[1], p0, np));  /* same seed: same orders */
    assert_false(nn_test_params_equal(nets[2], p0, np)); /* another seed: others */
    assert_false(nn_test_params_equal(nets[3], p0, np)); /* not the unshuffled order */

    /* With one batch of every row the order cannot matter (up to rounding): the
     * shuffle is a permutation, each row used once per epoch. */
    nn_net *whole[2];
    for (int k = 0; k < 2; k++) {
        whole[k] = trained_net(17, 0.5);
        nn_rng rng;
        nn_rng_seed(&rng, 5, 0);
        nn_fit_params fp = nn_fit_default_params();
        fp.progress = NN_PROGRESS_OFF; /* keep test output readable */
        fp.epochs = 4;
        fp.batch_size = 12;
        fp.shuffle = k;
        fp.rng = &rng;
        assert_ok(nn_net_fit(whole[k], x, t, &fp, NULL));
    }
    const float *a = nn_net_params(whole[0], &np), *b = nn_net_params(whole[1], &np);
    for (size_t i = 0; i < np; i++)
        assert_close(b[i], a[i], 1e-5, 1e-6);
    for (int k = 0; k < 4; k++)
        nn_net_free(nets[k]);
    nn_net_free(whole[0]);
    nn_net_free(whole[1]);
    free(p0);
    nn_tensor_free(x);
    nn_tensor_free(t);
}

/* A NaN in the last sample: fit stops there with NN_ERR_NUMERIC, keeping the
 * parameters of the last good step. */
static void test_fit_stops_on_numeric_error(void **state)
{
    (void)state;
    nn_net *net = trained_net(18, 0.2), *twin = trained_net(18, 0.2);
    nn_tensor *x = random_tensor(6, 3, 23), *t = random_tensor(6, 2, 24);
    x->data[5 * 3 + 1] = NAN;
    nn_fit_params fp = nn_fit_default_params();
    fp.progress = NN_PROGRESS_OFF; /* keep test output readable */
    fp.epochs = 3;
    fp.batch_size = 1;
    assert_status(nn_net_fit(net, x, t, &fp, NULL), NN_ERR_NUMERIC);
    for (size_t i = 0; i < 5; i++) {
        nn_tensor xi, ti;
        assert_ok(nn_tensor_rows(x, i, 1, &xi));
        assert_ok(nn_tensor_rows(t, i, 1, &ti));
        assert_ok(nn_net_train_step(twin, &xi, &ti, NULL));
    }
    size_t np = 0;
    float *p = nn_test_params_copy(twin, &np);
    assert_true(nn_test_params_equal(net, p, np));
    free(p);
    nn_tensor_free(x);
    nn_tensor_free(t);
    nn_net_free(net);
    nn_net_free(twin);
}

/* ---- out of memory at every allocation -------------------------------------------
 *
 * Each loop makes allocation 1, 2, 3, ... of one call fail until the call needs no
 * failed allocation. Every failure must report NN_ERR_NOMEM, leak nothing (the
 * live count; ASan's leak checker too), and leave the objects as they were and
 * usable. */

/* Each constructor of the objects a network is built from. */
static nn_status construct(int which, nn_net **net, nn_layer **layer, nn_optim **optim)
{
    nn_dense_params dp = nn_dense_default_params(3);
    switch (which) {
    case 0:
        return nn_net_new(2, net);
    case 1:
        return nn_dense_new(&dp, layer);
    case 2:
        return nn_sigmoid_new(layer);
    default:
        return nn_optim_sgd_new(0.1, optim);
    }
}

static void test_oom_constructors(void **state)
{
    (void)state;
    nn_test_alloc_install();
    for (int which = 0; which < 4; which++) {
        for (size_t n = 1;; n++) {
            int sentinel = 0;
            nn_net *net = (nn_net *)&sentinel;
            nn_layer *layer = (nn_layer *)&sentinel;
            nn_optim *optim = (nn_optim *)&sentinel;
            nn_test_alloc_fail_nth(n);
            nn_clear_error();
            nn_status st = construct(which, &net, &layer, &optim);
            void *made = which == 0 ? (void *)net : which == 3 ? (void *)optim : (void *)layer;
            if (nn_test_alloc()->failed == 0) {
                assert_ok(st);
                nn_net_free(which == 0 ? net : NULL);
                nn_layer_free(which == 1 || which == 2 ? layer : NULL);
                nn_optim_free(which == 3 ? optim : NULL);
                break;
            }
            assert_status_was(st, NN_ERR_NOMEM);
            assert_null(made); /* *out is NULL on error */
            assert_int_equal(nn_test_alloc()->live, 0);
        }
    }
    assert_int_equal(nn_test_alloc()->live, 0);
}

static void test_oom_add(void **state)
{
    (void)state;
    nn_test_alloc_install();
    nn_net *net = nn_test_mlp(2, 3, 2, 19);
    nn_test_mse_sgd(net, 0.1);
    size_t np = 0;
    float *before = nn_test_params_copy(net, &np);
    size_t n;
    for (n = 1;; n++) {
        nn_test_alloc_count_from_now();
        nn_layer *d = nn_test_dense(4, nn_init_normal(0, 1), nn_init_zeros());
        nn_test_alloc_fail_nth(n);
        nn_clear_error();
        nn_status st = nn_net_add(net, d);
        if (nn_test_alloc()->failed == 0) {
            assert_ok(st);
            break;
        }
        assert_status_was(st, NN_ERR_NOMEM);
        assert_int_equal(nn_net_layer_count(net), 4);
        assert_int_equal(nn_net_out_width(net), 2);
        assert_true(nn_test_params_equal(net, before, np));
        nn_layer_free(d); /* still ours */
    }
    assert_true(n > 1); /* growing the blocks must allocate */
    nn_test_alloc_count_from_now();
    assert_int_equal(nn_net_layer_count(net), 5);
    nn_net_free(net);
    free(before);
    assert_int_equal(nn_test_alloc()->live, 0);
}

static void test_oom_reserve_forward_set_optim(void **state)
{
    (void)state;
    nn_test_alloc_install();
    nn_net *net = nn_test_mlp(3, 4, 2, 20);
    nn_tensor *x = random_tensor(20, 3, 25), *t = random_tensor(20, 2, 26);
    size_t n;

    for (n = 1;; n++) {
        nn_test_alloc_fail_nth(n);
        nn_clear_error();
        nn_status st = nn_net_reserve(net, 8);
        if (nn_test_alloc()->failed == 0) {
            assert_ok(st);
            break;
        }
        assert_status_was(st, NN_ERR_NOMEM);
    }
    assert_true(n > 1); /* a workspace had to be allocated */

    /* A batch larger than reserved: forward allocates, and may fail, then works. */
    nn_tensor x20 = *x;
    const nn_tensor *y = NULL;
    for (n = 1;; n++) {
        nn_test_alloc_fail_nth(n);
        nn_clear_error();
        nn_status st = nn_net_forward(net, &x20, 0, &y);
        if (nn_test_alloc()->failed == 0) {
            assert_ok(st);
            break;
        }
        assert_status_was(st, NN_ERR_NOMEM);
        /* The old workspace still serves batches it fits. */
        nn_tensor x8;
        nn_test_alloc_count_from_now();
        assert_ok(nn_tensor_rows(x, 0, 8, &x8));
        assert_ok(nn_net_forward(net, &x8, 0, &y));
    }
    assert_int_equal(y->shape[0], 20);

    nn_loss *mse = NULL;
    nn_test_alloc_count_from_now();
    assert_ok(nn_loss_mse_new(&mse));
    assert_ok(nn_net_set_loss(net, mse, 2));
    for (n = 1;; n++) {
        nn_test_alloc_count_from_now();
        nn_optim *sgd = NULL;
        assert_ok(nn_optim_sgd_new(0.1, &sgd));
        nn_test_alloc_fail_nth(n);
        nn_clear_error();
        nn_status st = nn_net_set_optim(net, sgd);
        if (nn_test_alloc()->failed == 0) {
            assert_ok(st);
            break;
        }
        assert_status_was(st, NN_ERR_NOMEM);
        assert_null(nn_net_optim(net));
        nn_optim_free(sgd);
    }
    nn_test_alloc_count_from_now();
    double loss = 0;
    assert_ok(nn_net_train_step(net, x, t, &loss));
    assert_true(isfinite(loss));
    nn_tensor_free(x);
    nn_tensor_free(t);
    nn_net_free(net);
    assert_int_equal(nn_test_alloc()->live, 0);
}

static void test_oom_fit_and_first_step(void **state)
{
    (void)state;
    nn_test_alloc_install();
    nn_net *net = trained_net(21, 0.1);
    nn_tensor *x = random_tensor(9, 3, 27), *t = random_tensor(9, 2, 28);
    size_t np = 0;
    float *before = nn_test_params_copy(net, &np);

    /* The first training step sets up the workspace. */
    size_t n;
    for (n = 1;; n++) {
        nn_test_alloc_fail_nth(n);
        nn_clear_error();
        nn_status st = nn_net_train_step(net, x, t, NULL);
        if (nn_test_alloc()->failed == 0) {
            assert_ok(st);
            break;
        }
        assert_status_was(st, NN_ERR_NOMEM);
        assert_true(nn_test_params_equal(net, before, np));
    }

    memcpy(nn_net_params(net, &np), before, np * sizeof *before);
    nn_rng rng;
    nn_fit_params fp = nn_fit_default_params();
    fp.progress = NN_PROGRESS_OFF; /* keep test output readable */
    fp.epochs = 2;
    fp.batch_size = 2;
    fp.shuffle = 1;
    fp.rng = &rng;
    for (n = 1;; n++) {
        nn_rng_seed(&rng, 1, 1);
        nn_test_alloc_fail_nth(n);
        nn_clear_error();
        nn_status st = nn_net_fit(net, x, t, &fp, NULL);
        if (nn_test_alloc()->failed == 0) {
            assert_ok(st);
            break;
        }
        assert_status_was(st, NN_ERR_NOMEM);
        /* Failing in setup, before the first step: nothing trained. */
        assert_true(nn_test_params_equal(net, before, np));
    }
    assert_true(n > 1); /* fit has index and batch buffers to allocate */
    assert_false(nn_test_params_equal(net, before, np));
    nn_test_alloc_count_from_now();
    free(before);
    nn_tensor_free(x);
    nn_tensor_free(t);
    nn_net_free(net);
    assert_int_equal(nn_test_alloc()->live, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_and_empty),
        cmocka_unit_test(test_shape_inference_and_layout),
        cmocka_unit_test(test_add_failure_leaves_everything_unchanged),
        cmocka_unit_test(test_add_too_many_parameters),
        cmocka_unit_test(test_add_many_layers),
        cmocka_unit_test(test_set_loss),
        cmocka_unit_test(test_whole_set_passes_keep_no_input),
        cmocka_unit_test(test_loss_width_checked_again),
        cmocka_unit_test(test_check_grads_step),
        cmocka_unit_test(test_misbehaving_user_layers),
        cmocka_unit_test(test_loss_and_optim_have_one_owner),
        cmocka_unit_test(test_forward_backward_errors),
        cmocka_unit_test(test_layer_output),
        cmocka_unit_test(test_workspace_views_refused),
        cmocka_unit_test(test_predict_equals_forward),
        cmocka_unit_test(test_eval_loss_equals_manual),
        cmocka_unit_test(test_compute_grads_matches_manual),
        cmocka_unit_test(test_train_step_is_sgd),
        cmocka_unit_test(test_step_after_own_backward),
        cmocka_unit_test(test_predict_independent_of_history),
        cmocka_unit_test(test_train_step_non_finite),
        cmocka_unit_test_teardown(test_no_allocation_per_step, nn_test_alloc_teardown),
        cmocka_unit_test_teardown(test_fit_allocations_do_not_grow, nn_test_alloc_teardown),
        cmocka_unit_test_teardown(test_fit_validation_allocates_nothing_more, nn_test_alloc_teardown),
        cmocka_unit_test(test_fit_defaults_and_errors),
        cmocka_unit_test(test_fit_uneven_batches_equal_manual_steps),
        cmocka_unit_test(test_fit_callback_stops_early),
        cmocka_unit_test(test_fit_shuffle),
        cmocka_unit_test(test_fit_stops_on_numeric_error),
        cmocka_unit_test_teardown(test_oom_constructors, nn_test_alloc_teardown),
        cmocka_unit_test_teardown(test_oom_add, nn_test_alloc_teardown),
        cmocka_unit_test_teardown(test_oom_reserve_forward_set_optim, nn_test_alloc_teardown),
        cmocka_unit_test_teardown(test_oom_fit_and_first_step, nn_test_alloc_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
