/* test_small.c - the fused training pass for small networks (src/net_small.c).
 *
 * The fused pass must be invisible: every test builds the same network twice from
 * the same seed, lets one take the fused pass and holds the other on the generic
 * one (small_state = 0, which the network never re-plans by itself), trains both
 * the same way and asserts that losses, gradients, parameters, layer outputs and
 * optimizer step counts are the same bits. The test reads the network's private
 * state (src/net_impl.h) to know which path each took.
 */
#include "nn_test.h"

#include "net_impl.h"

/* A layer description for make_net: a dense layer of units, or an activation. */
typedef struct spec {
    int dense; /* 1: dense of `units`; 0: activation `act` */
    size_t units;
    nn_activation_kind act;
} spec;

#define DENSE(n) {1, (n), NN_ACT_IDENTITY}
#define ACT(k) {0, 0, (k)}

static nn_net *make_net(size_t in, const spec *layers, size_t n, uint64_t seed)
{
    nn_net *net = NULL;
    assert_ok(nn_net_new(in, &net));
    for (size_t i = 0; i < n; i++) {
        nn_layer *l = NULL;
        if (layers[i].dense)
            l = nn_test_dense(layers[i].units, nn_init_normal(0, 1), nn_init_normal(0, 0.5));
        else
            assert_ok(nn_activation_new(layers[i].act, &l));
        assert_ok(nn_net_add(net, l));
    }
    nn_rng rng;
    nn_rng_seed(&rng, seed, 0);
    assert_ok(nn_net_init_params(net, &rng));
    return net;
}

static void set_loss_optim(nn_net *net, nn_loss_kind loss_kind, size_t target_width,
                           nn_optim_kind optim_kind)
{
    nn_loss *loss = NULL;
    nn_optim *optim = NULL;
    assert_ok(nn_loss_new_by_kind(loss_kind, &loss));
    assert_ok(nn_net_set_loss(net, loss, target_width));
    assert_ok(nn_optim_new_by_kind(optim_kind, 0.05, &optim));
    assert_ok(nn_net_set_optim(net, optim));
}

/* Same bits in a and b, n floats. */
static void assert_same_floats(const float *a, const float *b, size_t n, const char *what)
{
    for (size_t i = 0; i < n; i++)
        if (memcmp(&a[i], &b[i], sizeof(float)) != 0)
            fail_msg("%s[%zu]: fused %.9g, generic %.9g", what, i, (double)a[i], (double)b[i]);
}

/* The fused call fails as the generic one does: the same status, with the given
 * pieces in a message that is the same for both. */
#define assert_same_error(fused_call, generic_call, status, ...)                                   \
    do {                                                                                           \
        char fused_msg_[512];                                                                      \
        assert_error((fused_call), (status), __VA_ARGS__);                                         \
        snprintf(fused_msg_, sizeof fused_msg_, "%s", nn_last_error());                            \
        assert_error((generic_call), (status), __VA_ARGS__);                                       \
        assert_string_equal(fused_msg_, nn_last_error());                                          \
    } while (0)

static void assert_same_params_grads_steps(nn_net *fused, nn_net *generic);

/* Everything the two networks show after a step is the same. */
static void assert_same_state(nn_net *fused, nn_net *generic)
{
    assert_same_params_grads_steps(fused, generic);
    for (size_t i = 0; i < nn_net_layer_count(fused); i++) {
        const nn_tensor *a = nn_net_layer_output(fused, i), *b = nn_net_layer_output(generic, i);
        assert_non_null(a);
        assert_non_null(b);
        assert_true(nn_tensor_same_shape(a, b));
        assert_same_floats(a->data, b->data, a->size, "layer output");
    }
}

static void assert_same_params_grads_steps(nn_net *fused, nn_net *generic)
{
    size_t n1, n2;
    float *p1 = nn_net_params(fused, &n1), *p2 = nn_net_params(generic, &n2);
    assert_int_equal(n1, n2);
    assert_same_floats(p1, p2, n1, "params");
    p1 = nn_net_grads(fused, &n1);
    p2 = nn_net_grads(generic, &n2);
    assert_same_floats(p1, p2, n1, "grads");
    uint64_t t1 = 0, t2 = 0;
    assert_ok(nn_optim_get_state_step(nn_net_optim(fused), &t1));
    assert_ok(nn_optim_get_state_step(nn_net_optim(generic), &t2));
    assert_int_equal(t1, t2);
}

/* Trains a fused and a generic copy of the network for `steps` steps of `rows` rows
 * (the data set is cycled) and compares them after each. Returns the fused path's
 * state after the first step, so callers can check which path was taken. */
typedef struct run {
    size_t in;
    const spec *layers;
    size_t n_layers;
    nn_loss_kind loss;
    size_t target_width;
    nn_optim_kind optim;
    size_t rows;
    size_t steps;
} run;

/* Targets the loss accepts: class indices for the classification losses, values in
 * [0, 1] for BCE, anything for the rest. */
static void fill_targets(nn_tensor *t, nn_loss_kind loss, size_t classes, uint64_t seed)
{
    nn_rng rng;
    nn_rng_seed(&rng, seed, 7);
    for (size_t k = 0; k < t->size; k++) {
        if (loss == NN_LOSS_CROSS_ENTROPY || loss == NN_LOSS_NLL)
            t->data[k] = (float)nn_rng_below(&rng, (uint32_t)classes);
        else if (loss == NN_LOSS_BCE || loss == NN_LOSS_BCE_LOGITS)
            t->data[k] = (float)nn_rng_uniform(&rng);
        else
            t->data[k] = (float)(4.0 * nn_rng_uniform(&rng) - 2.0);
    }
}

static int compare_run(const run *r)
{
    nn_net *fused = make_net(r->in, r->layers, r->n_layers, 11);
    nn_net *generic = make_net(r->in, r->layers, r->n_layers, 11);
    set_loss_optim(fused, r->loss, r->target_width, r->optim);
    set_loss_optim(generic, r->loss, r->target_width, r->optim);
    generic->small_state = 0;

    size_t n = 2 * r->rows + 1; /* batches at several offsets */
    nn_tensor *x = nn_test_random_tensor(n, r->in, 3, 0);
    nn_tensor *t = NULL;
    assert_ok(nn_tensor_new2d(n, r->target_width, &t));
    fill_targets(t, r->loss, nn_net_out_width(fused), 5);

    int state = -2;
    for (size_t s = 0; s < r->steps; s++) {
        size_t first = (s * r->rows) % (n - r->rows + 1);
        nn_tensor xb, tb;
        assert_ok(nn_tensor_rows(x, first, r->rows, &xb));
        assert_ok(nn_tensor_rows(t, first, r->rows, &tb));
        double l1 = 0.0, l2 = 0.0;
        assert_ok(nn_net_train_step(fused, &xb, &tb, &l1));
        assert_ok(nn_net_train_step(generic, &xb, &tb, &l2));
        if (s == 0)
            state = fused->small_state == 1 && r->rows <= fused->small_rows;
        assert_int_equal(generic->small_state, 0);
        assert_memory_equal(&l1, &l2, sizeof l1);
        assert_same_state(fused, generic);
    }
    nn_tensor_free(x);
    nn_tensor_free(t);
    nn_net_free(fused);
    nn_net_free(generic);
    return state;
}

/* ---- every elementwise activation, in a pair and alone -------------------------- */

static void test_every_activation(void **state)
{
    (void)state;
    for (int k = NN_ACT_IDENTITY; k <= NN_ACT_SILU; k++) {
        nn_activation_kind a = (nn_activation_kind)k;
        /* pairs: dense + a, dense + a; then a alone in front of a dense layer */
        const spec pairs[] = {DENSE(4), ACT(a), DENSE(2), ACT(a)};
        const spec alone[] = {ACT(a), DENSE(3), DENSE(2)};
        /* input widths 3 and 4 above, 1 and 6 below: a single row has functions
         * compiled for widths 1 to 4 and one for any width */
        const spec wide_pairs[] = {DENSE(6), ACT(a), DENSE(1), ACT(a), DENSE(2)};
        const spec wide_alone[] = {ACT(a), DENSE(5), DENSE(2)};
        for (size_t rows = 1; rows <= 5; rows += 4) {
            run r1 = {3, pairs, 4, NN_LOSS_MSE, 2, NN_OPTIM_SGD, rows, 6};
            assert_int_equal(compare_run(&r1), 1);
            run r2 = {3, alone, 3, NN_LOSS_MSE, 2, NN_OPTIM_SGD, rows, 6};
            assert_int_equal(compare_run(&r2), 1);
            run r3 = {1, wide_pairs, 5, NN_LOSS_MSE, 2, NN_OPTIM_SGD, rows, 6};
            assert_int_equal(compare_run(&r3), 1);
            run r4 = {1, wide_alone, 3, NN_LOSS_MSE, 2, NN_OPTIM_SGD, rows, 6};
            assert_int_equal(compare_run(&r4), 1);
        }
    }
}

/* Every input and output width a pair's single-row functions are compiled for (1 to
 * 4, and any for 5), in the first pair and in the second, for a few kinds. */
static void test_every_width(void **state)
{
    (void)state;
    const nn_activation_kind kinds[] = {NN_ACT_SIGMOID, NN_ACT_RELU, NN_ACT_TANH};
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++)
        for (size_t in = 1; in <= 5; in++)
            for (size_t out = 1; out <= 5; out++) {
                const spec layers[] = {DENSE(out), ACT(kinds[k]), DENSE(in), ACT(kinds[k])};
                run r = {in, layers, 4, NN_LOSS_MSE, in, NN_OPTIM_SGD, 1, 4};
                assert_int_equal(compare_run(&r), 1);
            }
}

/* ---- every loss the fused pass takes --------------------------------------------- */

static void test_every_loss(void **state)
{
    (void)state;
    const spec probs[] = {DENSE(3), ACT(NN_ACT_TANH), DENSE(1), ACT(NN_ACT_SIGMOID)};
    const spec logits[] = {DENSE(3), ACT(NN_ACT_RELU), DENSE(3)};
    const nn_loss_kind regression[] = {NN_LOSS_MSE, NN_LOSS_MAE, NN_LOSS_HUBER, NN_LOSS_SMOOTH_L1,
                                       NN_LOSS_BCE, NN_LOSS_BCE_LOGITS};
    for (size_t i = 0; i < sizeof regression / sizeof regression[0]; i++)
        for (size_t rows = 1; rows <= 4; rows += 3) {
            run r = {2, probs, 4, regression[i], 1, NN_OPTIM_SGD, rows, 5};
            assert_int_equal(compare_run(&r), 1);
        }
    for (size_t rows = 1; rows <= 4; rows += 3) {
        run ce = {2, logits, 3, NN_LOSS_CROSS_ENTROPY, 1, NN_OPTIM_SGD, rows, 5};
        assert_int_equal(compare_run(&ce), 1);
        run nll = {2, logits, 3, NN_LOSS_NLL, 1, NN_OPTIM_SGD, rows, 5};
        assert_int_equal(compare_run(&nll), 1);
    }
}

/* ---- optimizers: plain SGD's one-block update and the others' own steps ---------- */

static void test_every_optimizer(void **state)
{
    (void)state;
    const spec lesson[] = {DENSE(2), ACT(NN_ACT_SIGMOID), DENSE(1), ACT(NN_ACT_SIGMOID)};
    for (int k = NN_OPTIM_SGD; k <= NN_OPTIM_ADAGRAD; k++) {
        run r = {2, lesson, 4, NN_LOSS_MSE, 1, (nn_optim_kind)k, 1, 8};
        assert_int_equal(compare_run(&r), 1);
    }
    /* SGD with momentum goes through nn_optim_step, not the block update */
    nn_net *a = make_net(2, lesson, 4, 1), *b = make_net(2, lesson, 4, 1);
    nn_sgd_params p = nn_sgd_default_params();
    p.lr = 0.1;
    p.momentum = 0.9;
    p.nesterov = 1;
    p.weight_decay = 0.01;
    nn_net *nets[2] = {a, b};
    for (int i = 0; i < 2; i++) {
        nn_loss *mse = NULL;
        nn_optim *sgd = NULL;
        assert_ok(nn_loss_mse_new(&mse));
        assert_ok(nn_net_set_loss(nets[i], mse, 1));
        assert_ok(nn_optim_sgd_new_ex(&p, &sgd));
        assert_ok(nn_net_set_optim(nets[i], sgd));
    }
    b->small_state = 0;
    float xs[2] = {0.5f, -1.5f}, ys[1] = {1.0f};
    nn_tensor x = nn_tensor_view2d(xs, 1, 2), y = nn_tensor_view2d(ys, 1, 1);
    for (int s = 0; s < 10; s++) {
        assert_ok(nn_net_train_step(a, &x, &y, NULL));
        assert_ok(nn_net_train_step(b, &x, &y, NULL));
        assert_same_state(a, b);
    }
    assert_int_equal(a->small_state, 1);
    nn_net_free(a);
    nn_net_free(b);
}

/* ---- shapes: a last dense layer alone, dense after dense, the batch limit -------- */

static void test_shapes_and_batch_limit(void **state)
{
    (void)state;
    const spec mixed[] = {DENSE(3), DENSE(4), ACT(NN_ACT_ELU), DENSE(2)};
    run r = {4, mixed, 4, NN_LOSS_MSE, 2, NN_OPTIM_ADAM, 1, 6};
    assert_int_equal(compare_run(&r), 1);
    /* 4*3 = 12 and 3*4 = 12 multiply-adds a row: fused up to 128 / 12 = 10 rows */
    r.rows = 10;
    assert_int_equal(compare_run(&r), 1);
    r.rows = 11; /* the generic path, same results */
    assert_int_equal(compare_run(&r), 0);
    /* a layer too wide for the direct loops at any batch: never fused */
    const spec wide[] = {DENSE(40), ACT(NN_ACT_RELU), DENSE(1)};
    run w = {4, wide, 3, NN_LOSS_MSE, 1, NN_OPTIM_SGD, 1, 3};
    assert_int_equal(compare_run(&w), 0);
}

/* ---- what the fused pass does not take ------------------------------------------- */

static nn_status wrapped_check(const nn_loss *loss, size_t pred_width, size_t target_width)
{
    const nn_loss *inner = loss->impl;
    return inner->ops->check(inner, pred_width, target_width);
}

static nn_status wrapped_eval(const nn_loss *loss, const nn_tensor *pred, const nn_tensor *target,
                              double *value, nn_tensor *grad)
{
    return nn_loss_eval(loss->impl, pred, target, value, grad);
}

static void wrapped_destroy(nn_loss *loss) { nn_loss_free(loss->impl); }

static const nn_loss_ops wrapped_ops = {"wrapped_mse", wrapped_check, wrapped_eval,
                                        wrapped_destroy};

static void test_not_eligible(void **state)
{
    (void)state;
    float xs[3] = {0.5f, -1.0f, 2.0f}, ys[2] = {0.25f, 0.75f};
    nn_tensor x = nn_tensor_view2d(xs, 1, 3), y = nn_tensor_view2d(ys, 1, 2);

    /* softmax and dropout are not elementwise activations */
    const spec soft[] = {DENSE(2), ACT(NN_ACT_SOFTMAX)};
    nn_net *net = make_net(3, soft, 2, 1);
    set_loss_optim(net, NN_LOSS_MSE, 2, NN_OPTIM_SGD);
    assert_ok(nn_net_train_step(net, &x, &y, NULL));
    assert_int_equal(net->small_state, 0);
    nn_net_free(net);

    const spec plain[] = {DENSE(2), ACT(NN_ACT_SIGMOID)};
    net = make_net(3, plain, 2, 1);
    nn_layer *drop = NULL;
    assert_ok(nn_dropout_new(0.0, 1, &drop));
    assert_ok(nn_net_add(net, drop));
    set_loss_optim(net, NN_LOSS_MSE, 2, NN_OPTIM_SGD);
    assert_ok(nn_net_train_step(net, &x, &y, NULL));
    assert_int_equal(net->small_state, 0);
    nn_net_free(net);

    /* a loss nn did not write */
    net = make_net(3, plain, 2, 1);
    nn_loss *inner = NULL, *outer = NULL;
    nn_optim *sgd = NULL;
    assert_ok(nn_loss_mse_new(&inner));
    assert_ok(nn_loss_new(&wrapped_ops, inner, &outer));
    assert_ok(nn_net_set_loss(net, outer, 2));
    assert_ok(nn_optim_sgd_new(0.1, &sgd));
    assert_ok(nn_net_set_optim(net, sgd));
    assert_ok(nn_net_train_step(net, &x, &y, NULL));
    assert_int_equal(net->small_state, 0);

    /* changing the loss or the layers re-plans */
    nn_loss *mse = NULL;
    assert_ok(nn_loss_mse_new(&mse));
    assert_ok(nn_net_set_loss(net, mse, 2));
    assert_int_equal(net->small_state, -1);
    assert_ok(nn_net_train_step(net, &x, &y, NULL));
    assert_int_equal(net->small_state, 1);
    nn_layer *last = NULL;
    assert_ok(nn_tanh_new(&last));
    assert_ok(nn_net_add(net, last));
    assert_int_equal(net->small_state, -1);
    assert_ok(nn_net_train_step(net, &x, &y, NULL));
    assert_int_equal(net->small_state, 1);
    assert_int_equal(net->small_n_units, 2);
    nn_net_free(net);
}

/* ---- the workspace re-allocated between fused steps ------------------------------ */

static void test_workspace_regrown(void **state)
{
    (void)state;
    const spec lesson[] = {DENSE(2), ACT(NN_ACT_SIGMOID), DENSE(1), ACT(NN_ACT_SIGMOID)};
    nn_net *a = make_net(2, lesson, 4, 9), *b = make_net(2, lesson, 4, 9);
    set_loss_optim(a, NN_LOSS_MSE, 1, NN_OPTIM_SGD);
    set_loss_optim(b, NN_LOSS_MSE, 1, NN_OPTIM_SGD);
    b->small_state = 0;
    nn_tensor *big = nn_test_random_tensor(300, 2, 4, 0);
    float xs[2] = {1.0f, -2.0f}, ys[1] = {0.0f};
    nn_tensor x = nn_tensor_view2d(xs, 1, 2), y = nn_tensor_view2d(ys, 1, 1);
    for (int round = 0; round < 3; round++) {
        assert_ok(nn_net_train_step(a, &x, &y, NULL));
        assert_ok(nn_net_train_step(b, &x, &y, NULL));
        assert_same_state(a, b);
        /* a forward pass of 300 rows grows the workspace: the fused pass must not
         * keep pointers into the old one */
        const nn_tensor *ya, *yb;
        assert_ok(nn_net_forward(a, big, 0, &ya));
        assert_ok(nn_net_forward(b, big, 0, &yb));
        assert_same_floats(ya->data, yb->data, ya->size, "forward");
        nn_tensor *bigger = nn_test_random_tensor(300 + 100 * (size_t)round, 2, 5, 0);
        nn_tensor_free(big);
        big = bigger;
    }
    assert_int_equal(a->small_state, 1);
    nn_tensor_free(big);
    nn_net_free(a);
    nn_net_free(b);
}

/* ---- backward after a fused step, and fit ------------------------------------------ */

/* The lesson's 2-2-1 network twice from one seed, MSE and SGD; *b is held on the
 * generic path. */
static void lesson_pair(uint64_t seed, nn_net **a, nn_net **b)
{
    const spec lesson[] = {DENSE(2), ACT(NN_ACT_SIGMOID), DENSE(1), ACT(NN_ACT_SIGMOID)};
    *a = make_net(2, lesson, 4, seed);
    *b = make_net(2, lesson, 4, seed);
    set_loss_optim(*a, NN_LOSS_MSE, 1, NN_OPTIM_SGD);
    set_loss_optim(*b, NN_LOSS_MSE, 1, NN_OPTIM_SGD);
    (*b)->small_state = 0;
}

/* fit's parameters for quiet per-sample epochs in data set order. */
static nn_fit_params per_sample_params(size_t epochs)
{
    nn_fit_params fp = nn_fit_default_params();
    fp.epochs = epochs;
    fp.batch_size = 1;
    fp.progress = NN_PROGRESS_OFF;
    return fp;
}

static void test_backward_and_fit(void **state)
{
    (void)state;
    nn_net *a, *b;
    lesson_pair(42, &a, &b);
    /* the lesson's data, shifted */
    float xs[8] = {-2, -1, 25, 6, 17, 4, -15, -6}, ys[4] = {1, 0, 0, 1};
    nn_tensor x = nn_tensor_view2d(xs, 4, 2), y = nn_tensor_view2d(ys, 4, 1);
    nn_fit_params fp = per_sample_params(50);
    assert_ok(nn_net_fit(a, &x, &y, &fp, NULL));
    assert_ok(nn_net_fit(b, &x, &y, &fp, NULL));
    assert_same_state(a, b);
    assert_int_equal(a->small_state, 1);

    /* nn_net_backward by hand after a fused step sees the step's forward pass */
    nn_tensor x1, y1;
    assert_ok(nn_tensor_rows(&x, 1, 1, &x1));
    assert_ok(nn_tensor_rows(&y, 1, 1, &y1));
    assert_ok(nn_net_compute_grads(a, &x1, &y1, NULL));
    assert_ok(nn_net_compute_grads(b, &x1, &y1, NULL));
    float dy[1] = {0.5f}, dxa[2], dxb[2];
    nn_tensor dyt = nn_tensor_view2d(dy, 1, 1);
    nn_tensor dxta = nn_tensor_view2d(dxa, 1, 2), dxtb = nn_tensor_view2d(dxb, 1, 2);
    assert_ok(nn_net_zero_grad(a));
    assert_ok(nn_net_zero_grad(b));
    assert_ok(nn_net_backward(a, &dyt, &dxta));
    assert_ok(nn_net_backward(b, &dyt, &dxtb));
    assert_same_floats(dxa, dxb, 2, "dx");
    size_t n = 0;
    const float *ga = nn_net_grads(a, &n), *gb = nn_net_grads(b, &n);
    assert_same_floats(ga, gb, n, "grads");
    nn_net_free(a);
    nn_net_free(b);
}

/* ---- fit's per-sample loop (nn_net_small_fit_rows) -------------------------------- */

typedef struct fit_case {
    const spec *layers;
    size_t n_layers;
    nn_loss_kind loss;
    nn_reduction reduction;
    nn_optim_kind optim;
    int shuffle;
    double clip;
    int scheduled;
    size_t in; /* the input width */
} fit_case;

/* fit with batch 1 on a fused and a generic copy: the same epoch losses, state and,
 * with shuffling, the same rng afterwards. (Shuffled, the generic fit's last input
 * was its own copy of the row, freed on return, so its last pass cannot be gone back
 * through; the per-sample loop reads the rows from x, so its pass can.) */
static void compare_fit(const fit_case *c)
{
    size_t in = c->in;
    nn_net *a = make_net(in, c->layers, c->n_layers, 21), *b = make_net(in, c->layers, c->n_layers, 21);
    size_t tw = c->loss == NN_LOSS_CROSS_ENTROPY ? 1 : nn_net_out_width(a);
    set_loss_optim(a, c->loss, tw, c->optim);
    set_loss_optim(b, c->loss, tw, c->optim);
    assert_ok(nn_loss_set_reduction(nn_net_loss(a), c->reduction));
    assert_ok(nn_loss_set_reduction(nn_net_loss(b), c->reduction));
    b->small_state = 0;
    nn_tensor *x = nn_test_random_tensor(7, in, 4, 0), *t = NULL;
    assert_ok(nn_tensor_new2d(7, tw, &t));
    fill_targets(t, c->loss, nn_net_out_width(a), 6);
    nn_schedule s = nn_schedule_step(1, 0.5);
    nn_rng ra, rb;
    nn_rng_seed(&ra, 8, 0);
    nn_rng_seed(&rb, 8, 0);
    nn_fit_params fp = per_sample_params(3);
    fp.shuffle = c->shuffle;
    fp.clip_grad_norm = c->clip;
    fp.schedule = c->scheduled ? &s : NULL;
    nn_epoch_stats ea[3], eb[3];
    nn_fit_history ha = {.epochs = ea, .capacity = 3}, hb = {.epochs = eb, .capacity = 3};
    fp.rng = &ra;
    assert_ok(nn_net_fit(a, x, t, &fp, &ha));
    fp.rng = &rb;
    assert_ok(nn_net_fit(b, x, t, &fp, &hb));
    assert_int_equal(a->small_state, 1);
    assert_int_equal(b->small_state, 0);
    assert_int_equal(ha.count, 3);
    for (size_t e = 0; e < 3; e++) {
        assert_memory_equal(&ea[e].train_loss, &eb[e].train_loss, sizeof(double));
        assert_true(ea[e].lr == eb[e].lr);
    }
    assert_same_state(a, b);
    float dy[8] = {0};
    nn_tensor dyt = nn_tensor_view2d(dy, 1, nn_net_out_width(a));
    assert_ok(nn_net_backward(a, &dyt, NULL));
    if (c->shuffle)
        assert_error(nn_net_backward(b, &dyt, NULL), NN_ERR_STATE, "input is not kept");
    else
        assert_ok(nn_net_backward(b, &dyt, NULL));
    assert_int_equal(nn_rng_u32(&ra), nn_rng_u32(&rb));
    nn_tensor_free(x);
    nn_tensor_free(t);
    nn_net_free(a);
    nn_net_free(b);
}

static void test_fit_per_sample(void **state)
{
    (void)state;
    const spec lesson[] = {DENSE(2), ACT(NN_ACT_SIGMOID), DENSE(1), ACT(NN_ACT_SIGMOID)};
    const spec wide[] = {DENSE(5), ACT(NN_ACT_TANH), DENSE(2)};
    const spec cls[] = {DENSE(4), ACT(NN_ACT_RELU), DENSE(3)};
    const spec lone[] = {ACT(NN_ACT_SIGMOID), DENSE(2), ACT(NN_ACT_ELU), DENSE(1), ACT(NN_ACT_SIGMOID)};
    const fit_case cases[] = {
        {lesson, 4, NN_LOSS_MSE, NN_REDUCTION_MEAN, NN_OPTIM_SGD, 0, 0.0, 0, 3},
        {lesson, 4, NN_LOSS_MSE, NN_REDUCTION_SUM, NN_OPTIM_SGD, 1, 0.0, 1, 3},
        {wide, 3, NN_LOSS_MSE, NN_REDUCTION_MEAN, NN_OPTIM_SGD, 1, 0.0, 0, 3},
        {wide, 3, NN_LOSS_MSE, NN_REDUCTION_SUM, NN_OPTIM_ADAM, 0, 0.0, 0, 3},
        {wide, 3, NN_LOSS_HUBER, NN_REDUCTION_MEAN, NN_OPTIM_SGD, 0, 0.05, 0, 3},
        {cls, 3, NN_LOSS_CROSS_ENTROPY, NN_REDUCTION_MEAN, NN_OPTIM_SGD, 1, 0.0, 1, 3},
        {cls, 3, NN_LOSS_CROSS_ENTROPY, NN_REDUCTION_SUM, NN_OPTIM_RMSPROP, 0, 0.0, 0, 3},
        {lone, 5, NN_LOSS_BCE, NN_REDUCTION_MEAN, NN_OPTIM_SGD, 0, 0.0, 0, 3},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        compare_fit(&cases[i]);
    /* the per-sample loop's own finiteness test and update, at every width */
    for (size_t in = 1; in <= 5; in++)
        for (size_t out = 1; out <= 5; out++) {
            const spec layers[] = {DENSE(out), ACT(NN_ACT_TANH), DENSE(in), ACT(NN_ACT_SIGMOID)};
            fit_case c = {layers, 4, NN_LOSS_MSE, NN_REDUCTION_MEAN, NN_OPTIM_SGD, 1, 0.0, 0, in};
            compare_fit(&c);
        }
}

/* A NaN target in row 3: the same message, naming epoch 1 and batch 3, and the
 * parameters after the good steps; then a gradient that overflows. */
static void test_fit_per_sample_error(void **state)
{
    (void)state;
    nn_net *a, *b;
    lesson_pair(5, &a, &b);
    float xs[8] = {-2, -1, 25, 6, 17, 4, -15, -6}, ys[4] = {1, 0, 0, 1};
    nn_tensor x = nn_tensor_view2d(xs, 4, 2), y = nn_tensor_view2d(ys, 4, 1);
    nn_fit_params fp = per_sample_params(1);
    assert_ok(nn_net_fit(a, &x, &y, &fp, NULL));
    assert_ok(nn_net_fit(b, &x, &y, &fp, NULL));
    ys[2] = NAN;
    assert_same_error(nn_net_fit(a, &x, &y, &fp, NULL),
                      nn_net_fit(b, &x, &y, &fp, NULL), NN_ERR_NUMERIC,
                      "epoch 1, batch 3", "the loss is nan");
    size_t n1, n2;
    float *p1 = nn_net_params(a, &n1), *p2 = nn_net_params(b, &n2);
    assert_same_floats(p1, p2, n1, "params");
    uint64_t t1 = 0, t2 = 0;
    assert_ok(nn_optim_get_state_step(nn_net_optim(a), &t1));
    assert_ok(nn_optim_get_state_step(nn_net_optim(b), &t2));
    assert_int_equal(t1, 6);
    assert_int_equal(t2, 6);
    nn_net_free(a);
    nn_net_free(b);

    /* A gradient overflows to Inf in row 2 while the loss stays finite: the same
     * message, and nothing of that step applied. */
    const spec linear[] = {DENSE(2), ACT(NN_ACT_IDENTITY), DENSE(1)};
    a = make_net(2, linear, 3, 3);
    b = make_net(2, linear, 3, 3);
    set_loss_optim(a, NN_LOSS_MSE, 1, NN_OPTIM_SGD);
    set_loss_optim(b, NN_LOSS_MSE, 1, NN_OPTIM_SGD);
    b->small_state = 0;
    const float w[4] = {1e-38f, 0.0f, 0.0f, 1e-38f}, bias[2] = {0.0f, 0.0f};
    nn_test_set_dense(nn_net_layer(a, 0), w, bias);
    nn_test_set_dense(nn_net_layer(b, 0), w, bias);
    float big[4] = {0.5f, 0.25f, 3e38f, 3e38f}, yb[2] = {0.0f, 0.0f};
    nn_tensor xbig = nn_tensor_view2d(big, 2, 2), ybig = nn_tensor_view2d(yb, 2, 1);
    assert_same_error(nn_net_fit(a, &xbig, &ybig, &fp, NULL),
                      nn_net_fit(b, &xbig, &ybig, &fp, NULL), NN_ERR_NUMERIC,
                      "epoch 1, batch 2", "gradient", "inf");
    p1 = nn_net_params(a, &n1);
    p2 = nn_net_params(b, &n2);
    assert_same_floats(p1, p2, n1, "params");
    for (size_t i = 0; i < n1; i++)
        assert_true(isfinite(p1[i]));
    assert_ok(nn_optim_get_state_step(nn_net_optim(a), &t1));
    assert_int_equal(t1, 1);
    nn_net_free(a);
    nn_net_free(b);

    /* Only a weight's gradient overflows (6 x 3e38), in a pair and in a lone dense
     * layer: the per-sample loop's own test, made as the gradients are written, sees it. */
    const spec pair[] = {DENSE(1), ACT(NN_ACT_IDENTITY)}, lone[] = {DENSE(1)};
    const spec *nets[2] = {pair, lone};
    for (size_t k = 0; k < 2; k++) {
        a = make_net(1, nets[k], 2 - k, 3);
        set_loss_optim(a, NN_LOSS_MSE, 1, NN_OPTIM_SGD);
        const float w1 = 1e-38f, b1 = 3.0f;
        nn_test_set_dense(nn_net_layer(a, 0), &w1, &b1);
        float x1[2] = {0.5f, 3e38f}, y1[2] = {3.0f, 0.0f};
        nn_tensor xt = nn_tensor_view2d(x1, 2, 1), yt = nn_tensor_view2d(y1, 2, 1);
        assert_error(nn_net_fit(a, &xt, &yt, &fp, NULL), NN_ERR_NUMERIC, "epoch 1, batch 2",
                     "gradient", "inf");
        assert_int_equal(a->small_state, 1);
        p1 = nn_net_params(a, &n1);
        assert_int_equal(n1, 2);
        assert_true(p1[0] == w1 && p1[1] == b1); /* row 1's gradients were 0 */
        nn_net_free(a);
    }
}

/* ---- errors: the same status, message and untouched parameters ------------------ */

static void test_errors_match(void **state)
{
    (void)state;
    const spec lesson[] = {DENSE(2), ACT(NN_ACT_IDENTITY), DENSE(1)};
    nn_net *a = make_net(2, lesson, 3, 3), *b = make_net(2, lesson, 3, 3);
    set_loss_optim(a, NN_LOSS_MSE, 1, NN_OPTIM_SGD);
    set_loss_optim(b, NN_LOSS_MSE, 1, NN_OPTIM_SGD);
    b->small_state = 0;
    size_t count;
    float *before = nn_test_params_copy(a, &count);
    char msg[512];

    /* NaN in the input: the loss is NaN */
    float xs[2] = {NAN, 1.0f}, ys[1] = {0.5f};
    nn_tensor x = nn_tensor_view2d(xs, 1, 2), y = nn_tensor_view2d(ys, 1, 1);
    double la = 0.0, lb = 0.0;
    assert_same_error(nn_net_train_step(a, &x, &y, &la),
                      nn_net_train_step(b, &x, &y, &lb), NN_ERR_NUMERIC,
                      "the loss is");
    assert_true(isnan(la) && isnan(lb));
    assert_true(nn_test_params_equal(a, before, count));
    assert_int_equal(a->small_state, 1);

    /* gradients overflow to Inf while the loss stays finite: nothing is updated */
    float big[2] = {3e38f, 3e38f}, yb[1] = {0.0f};
    nn_tensor xbig = nn_tensor_view2d(big, 1, 2), ybig = nn_tensor_view2d(yb, 1, 1);
    nn_layer *first = nn_net_layer(a, 0), *first_b = nn_net_layer(b, 0);
    const float w[4] = {1e-38f, 0.0f, 0.0f, 1e-38f}, bias[2] = {0.0f, 0.0f};
    nn_test_set_dense(first, w, bias);
    nn_test_set_dense(first_b, w, bias);
    free(before);
    before = nn_test_params_copy(a, &count);
    nn_status sa = nn_net_train_step(a, &xbig, &ybig, &la);
    snprintf(msg, sizeof msg, "%s", nn_last_error());
    nn_status sb = nn_net_train_step(b, &xbig, &ybig, &lb);
    assert_int_equal(sa, sb);
    assert_int_equal(sa, NN_ERR_NUMERIC);
    assert_string_equal(msg, nn_last_error());
    assert_true(nn_test_params_equal(a, before, count));

    /* a loss rejecting its values (a class index out of range) */
    nn_net *c = make_net(2, lesson, 3, 3);
    const spec three[] = {DENSE(3), ACT(NN_ACT_RELU), DENSE(3)};
    nn_net *d = make_net(2, three, 3, 3), *e = make_net(2, three, 3, 3);
    set_loss_optim(d, NN_LOSS_CROSS_ENTROPY, 1, NN_OPTIM_SGD);
    set_loss_optim(e, NN_LOSS_CROSS_ENTROPY, 1, NN_OPTIM_SGD);
    e->small_state = 0;
    float xs2[2] = {0.5f, 0.5f}, cls[1] = {7.0f};
    nn_tensor x2 = nn_tensor_view2d(xs2, 1, 2), t2 = nn_tensor_view2d(cls, 1, 1);
    assert_same_error(nn_net_train_step(d, &x2, &t2, NULL),
                      nn_net_train_step(e, &x2, &t2, NULL), NN_ERR_INVALID_ARG,
                      "not a class index");
    assert_int_equal(d->small_state, 1);

    /* A NaN gradient made from two NaNs of opposite signs: the two passes multiply them
     * in either order, so its sign may differ; the message says "nan" for both. */
    const spec nan_net[] = {DENSE(2), ACT(NN_ACT_GELU), ACT(NN_ACT_ELU)};
    nn_net *f = make_net(1, nan_net, 3, 3), *g = make_net(1, nan_net, 3, 3);
    set_loss_optim(f, NN_LOSS_NLL, 1, NN_OPTIM_SGD);
    set_loss_optim(g, NN_LOSS_NLL, 1, NN_OPTIM_SGD);
    g->small_state = 0;
    const float wn[2] = {0.0f, -INFINITY}, bn[2] = {0.0f, INFINITY}; /* z = NaN for class 1 */
    nn_test_set_dense(nn_net_layer(f, 0), wn, bn);
    nn_test_set_dense(nn_net_layer(g, 0), wn, bn);
    float x0[1] = {0.0f}, c0[1] = {0.0f};
    nn_tensor x3 = nn_tensor_view2d(x0, 1, 1), t3 = nn_tensor_view2d(c0, 1, 1);
    assert_same_error(nn_net_train_step(f, &x3, &t3, NULL),
                      nn_net_train_step(g, &x3, &t3, NULL), NN_ERR_NUMERIC,
                      "gradient 1 of 4 is nan");
    assert_int_equal(f->small_state, 1);
    nn_net_free(f);
    nn_net_free(g);

    /* An input in the network's own buffers (the first layer's output fed back): the
     * same refusal on both paths, before anything is computed. */
    float xo[2] = {0.5f, -1.0f}, yo[1] = {0.3f};
    nn_tensor xv = nn_tensor_view2d(xo, 1, 2), yv = nn_tensor_view2d(yo, 1, 1);
    nn_test_set_dense(first, (const float[4]){0.5f, -0.25f, 1.0f, 0.75f}, bias);
    nn_test_set_dense(first_b, (const float[4]){0.5f, -0.25f, 1.0f, 0.75f}, bias);
    assert_ok(nn_net_train_step(a, &xv, &yv, NULL));
    assert_ok(nn_net_train_step(b, &xv, &yv, NULL));
    free(before);
    before = nn_test_params_copy(a, &count);
    nn_tensor xa = *nn_net_layer_output(a, 0), xb = *nn_net_layer_output(b, 0);
    assert_same_error(nn_net_train_step(a, &xa, &yv, NULL),
                      nn_net_train_step(b, &xb, &yv, NULL), NN_ERR_INVALID_ARG,
                      "the input lies in the network's own buffers");
    assert_true(nn_test_params_equal(a, before, count));

    free(before);
    nn_net_free(a);
    nn_net_free(b);
    nn_net_free(c);
    nn_net_free(d);
    nn_net_free(e);
}

/* ---- the blocks' padding (internal.h) -------------------------------------------- */

/* Plain SGD runs over the whole padded parameter block. For parameter counts below,
 * at and above a multiple of NN_BLOCK_ALIGN, and layers added after training began
 * (the blocks re-made), the parameters after each step are those of nn_optim_step
 * applied tensor by tensor, and the padding of both blocks stays +0. */
static void test_block_padding(void **state)
{
    (void)state;
    /* 3 inputs, w hidden, 1 output: 5w + 1 parameters (6, 11, 16, 36), then 2 more
     * after the added layer (8, 13, 18, 38) */
    const size_t widths[] = {1, 2, 3, 7};
    for (size_t w = 0; w < sizeof widths / sizeof widths[0]; w++) {
        const spec layers[] = {DENSE(widths[w]), ACT(NN_ACT_TANH), DENSE(1)};
        nn_net *blk = make_net(3, layers, 3, 9), *ref = make_net(3, layers, 3, 9);
        assert_int_equal(blk->n_scalars, 5 * widths[w] + 1);
        set_loss_optim(blk, NN_LOSS_MSE, 1, NN_OPTIM_SGD);
        set_loss_optim(ref, NN_LOSS_MSE, 1, NN_OPTIM_SGD);
        nn_tensor *x = nn_test_random_tensor(3, 3, 4, 0);
        nn_tensor *t = nn_test_random_tensor(3, 1, 5, 0);
        for (int s = 0; s < 6; s++) {
            if (s == 3) { /* grow both: new blocks, the old values copied over */
                nn_layer *a = nn_test_dense(1, nn_init_normal(0, 1), nn_init_zeros());
                nn_layer *b = nn_test_dense(1, nn_init_normal(0, 1), nn_init_zeros());
                assert_ok(nn_net_add(blk, a));
                assert_ok(nn_net_add(ref, b));
                memcpy(ref->param_block, blk->param_block, blk->n_scalars * sizeof(float));
            }
            assert_ok(nn_net_train_step(blk, x, t, NULL));
            assert_ok(nn_net_compute_grads(ref, x, t, NULL));
            assert_ok(nn_optim_step(nn_net_optim(ref), ref->param_list, ref->grad_list,
                                    ref->n_tensors));
            assert_same_floats(blk->param_block, ref->param_block, ref->n_scalars, "params");
            for (size_t k = blk->n_scalars; k < nn_block_size(blk->n_scalars); k++) {
                assert_true(blk->param_block[k] == 0.0f && !signbit(blk->param_block[k]));
                assert_true(blk->grad_block[k] == 0.0f && !signbit(blk->grad_block[k]));
            }
        }
        nn_tensor_free(x);
        nn_tensor_free(t);
        nn_net_free(blk);
        nn_net_free(ref);
    }

    /* An lr beyond float's range (-lr is -Inf as a float): the step is NaN, but not in
     * the tail, which the next layer added takes over - fused, generic, or by fit. */
    const spec lesson[] = {DENSE(2), ACT(NN_ACT_SIGMOID), DENSE(1)};
    for (int path = 0; path < 3; path++) {
        nn_net *net = make_net(2, lesson, 3, 1);
        set_loss_optim(net, NN_LOSS_MSE, 1, NN_OPTIM_SGD);
        assert_ok(nn_optim_set_lr(nn_net_optim(net), 1e39));
        if (path == 1)
            net->small_state = 0;
        float xs[2] = {0.5f, -1.0f}, ys[1] = {0.3f};
        nn_tensor x = nn_tensor_view2d(xs, 1, 2), y = nn_tensor_view2d(ys, 1, 1);
        if (path < 2) {
            assert_ok(nn_net_train_step(net, &x, &y, NULL));
        } else {
            nn_fit_params fp = per_sample_params(1);
            assert_ok(nn_net_fit(net, &x, &y, &fp, NULL));
            assert_int_equal(net->small_state, 1);
        }
        assert_int_equal(net->n_scalars, 9);
        for (size_t k = 9; k < 16; k++)
            assert_true(net->param_block[k] == 0.0f && !signbit(net->param_block[k]));
        nn_net_free(net);
    }
}

/* ---- no allocation in a fused step ---------------------------------------------- */

static void test_no_allocation(void **state)
{
    (void)state;
    const spec lesson[] = {DENSE(2), ACT(NN_ACT_SIGMOID), DENSE(1), ACT(NN_ACT_SIGMOID)};
    nn_net *net = make_net(2, lesson, 4, 42);
    set_loss_optim(net, NN_LOSS_MSE, 1, NN_OPTIM_ADAM);
    float xs[2] = {1.0f, 2.0f}, ys[1] = {1.0f};
    nn_tensor x = nn_tensor_view2d(xs, 1, 2), y = nn_tensor_view2d(ys, 1, 1);
    assert_ok(nn_net_train_step(net, &x, &y, NULL)); /* sizes the workspace */
    nn_test_alloc_install();
    for (int s = 0; s < 20; s++)
        assert_ok(nn_net_train_step(net, &x, &y, NULL));
    assert_int_equal(nn_test_alloc()->calls, 0);
    assert_int_equal(net->small_state, 1);
    nn_net_free(net);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_activation),
        cmocka_unit_test(test_every_width),
        cmocka_unit_test(test_every_loss),
        cmocka_unit_test(test_every_optimizer),
        cmocka_unit_test(test_shapes_and_batch_limit),
        cmocka_unit_test(test_not_eligible),
        cmocka_unit_test(test_workspace_regrown),
        cmocka_unit_test(test_backward_and_fit),
        cmocka_unit_test(test_fit_per_sample),
        cmocka_unit_test(test_fit_per_sample_error),
        cmocka_unit_test(test_errors_match),
        cmocka_unit_test(test_block_padding),
        cmocka_unit_test_teardown(test_no_allocation, nn_test_alloc_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
