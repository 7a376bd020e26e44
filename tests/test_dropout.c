/* test_dropout.c - the dropout layer: the fraction dropped, the exact scale, inference
 * as the identity, determinism from the seed, backward through the same mask, no
 * allocation after reserve, and its errors.
 */
#include "nn_test.h"

/* Tensors of (ROWS, COLS) = 10^6 units for the counting tests. */
#define ROWS 1000
#define COLS 1000

/* A dropout layer used without a network: built for width cols and reserved for rows. */
static nn_layer *standalone(double p, uint64_t seed, size_t rows, size_t cols)
{
    nn_layer *l = NULL;
    assert_ok(nn_dropout_new(p, seed, &l));
    assert_non_null(l);
    assert_ok(l->ops->build(l, cols));
    assert_int_equal(l->out_width, cols);
    assert_int_equal(l->n_params, 0);
    assert_ok(l->ops->reserve(l, rows));
    return l;
}

/* x[i] in [1, 2): never 0, so a 0 in y can only be a dropped unit. */
static nn_tensor *positive_input(size_t rows, size_t cols, uint64_t seed)
{
    nn_tensor *x = NULL;
    assert_ok(nn_tensor_new2d(rows, cols, &x));
    nn_rng rng;
    nn_rng_seed(&rng, seed, 1);
    for (size_t i = 0; i < x->size; i++)
        x->data[i] = 1.0f + (float)nn_rng_uniform(&rng);
    return x;
}

/* ---- training mode --------------------------------------------------------------------- */

/* Each unit is dropped independently with probability p, so over N units the count
 * is Binomial(N, p), standard deviation sqrt(N p (1 - p)) (458 for N = 10^6, p =
 * 0.3). Accepting 6 standard deviations around N p fails a correct layer with
 * probability about 2e-9 for an arbitrary seed; the seeds here are fixed, so the
 * test is deterministic anyway. Every kept unit must be x * (float)(1 / (1 - p))
 * exactly: the one float multiplication the header promises. */
static void test_fraction_and_scale(void **state)
{
    (void)state;
    const double ps[] = {0.1, 0.3, 0.5, 0.9};
    nn_tensor *x = positive_input(ROWS, COLS, 42);
    nn_tensor *y = NULL;
    assert_ok(nn_tensor_new2d(ROWS, COLS, &y));
    for (size_t k = 0; k < sizeof ps / sizeof ps[0]; k++) {
        double p = ps[k];
        nn_layer *l = standalone(p, 1000 + k, ROWS, COLS);
        assert_ok(l->ops->forward(l, x, y, 1));
        const float scale = (float)(1.0 / (1.0 - p));
        size_t dropped = 0;
        for (size_t i = 0; i < y->size; i++) {
            if (y->data[i] == 0.0f) {
                dropped++;
                continue;
            }
            float want = x->data[i] * scale;
            if (memcmp(&y->data[i], &want, sizeof want) != 0)
                fail_msg("p %g: kept unit %zu is %.9g, expected x * scale = %.9g", p, i,
                         (double)y->data[i], (double)want);
        }
        double n = (double)y->size, sd = sqrt(n * p * (1.0 - p));
        print_message("p %.1f: dropped %zu of %.0f (expected %.0f +- %.0f)\n", p, dropped, n, n * p,
                      sd);
        if (fabs((double)dropped - n * p) > 6.0 * sd)
            fail_msg("p %g: dropped %zu of %.0f units, expected %.0f +- %.0f (6 sd)", p, dropped, n,
                     n * p, 6.0 * sd);
        nn_layer_free(l);
    }
    nn_tensor_free(x);
    nn_tensor_free(y);
}

/* p = 0 keeps everything, scaled by exactly 1: the identity, even in training. */
static void test_p_zero(void **state)
{
    (void)state;
    nn_tensor *x = positive_input(50, 40, 3);
    nn_tensor *y = NULL;
    assert_ok(nn_tensor_new2d(50, 40, &y));
    nn_layer *l = standalone(0.0, 9, 50, 40);
    assert_ok(l->ops->forward(l, x, y, 1));
    assert_memory_equal(y->data, x->data, x->size * sizeof(float));
    nn_layer_free(l);
    nn_tensor_free(x);
    nn_tensor_free(y);
}

/* ---- inference mode ---------------------------------------------------------------------- */

/* Inference copies x bit for bit (negative zero, tiny and huge values included),
 * draws nothing from the generator, and its backward is dy. */
static void test_inference_is_identity(void **state)
{
    (void)state;
    nn_tensor *x = positive_input(20, 30, 5), *y = NULL, *dy = NULL, *dx = NULL;
    x->data[0] = -0.0f;
    x->data[1] = 1e-42f; /* subnormal */
    x->data[2] = -3e38f;
    x->data[3] = 0.0f;
    assert_ok(nn_tensor_new2d(20, 30, &y));
    assert_ok(nn_tensor_new2d(20, 30, &dx));
    dy = positive_input(20, 30, 6);
    nn_layer *l = standalone(0.5, 77, 20, 30);
    for (int rep = 0; rep < 3; rep++) {
        assert_ok(l->ops->forward(l, x, y, 0));
        assert_memory_equal(y->data, x->data, x->size * sizeof(float));
        assert_ok(l->ops->backward(l, x, y, dy, dx));
        assert_memory_equal(dx->data, dy->data, dy->size * sizeof(float));
    }
    /* The three inference passes drew nothing: the first training mask equals that
     * of a fresh layer with the same seed. */
    nn_layer *fresh = standalone(0.5, 77, 20, 30);
    nn_tensor *y2 = NULL;
    assert_ok(nn_tensor_new2d(20, 30, &y2));
    assert_ok(l->ops->forward(l, x, y, 1));
    assert_ok(fresh->ops->forward(fresh, x, y2, 1));
    assert_memory_equal(y->data, y2->data, y->size * sizeof(float));
    nn_layer_free(l);
    nn_layer_free(fresh);
    nn_tensor_free(x);
    nn_tensor_free(y);
    nn_tensor_free(y2);
    nn_tensor_free(dy);
    nn_tensor_free(dx);
}

/* ---- determinism -------------------------------------------------------------------------- */

static void test_same_seed_same_mask(void **state)
{
    (void)state;
    nn_tensor *x = positive_input(64, 32, 8), *y1 = NULL, *y2 = NULL, *y3 = NULL;
    assert_ok(nn_tensor_new2d(64, 32, &y1));
    assert_ok(nn_tensor_new2d(64, 32, &y2));
    assert_ok(nn_tensor_new2d(64, 32, &y3));
    nn_layer *a = standalone(0.4, 2024, 64, 32);
    nn_layer *b = standalone(0.4, 2024, 64, 32);
    nn_layer *c = standalone(0.4, 2025, 64, 32);
    for (int step = 0; step < 3; step++) {
        assert_ok(a->ops->forward(a, x, y1, 1));
        assert_ok(b->ops->forward(b, x, y2, 1));
        assert_ok(c->ops->forward(c, x, y3, 1));
        assert_memory_equal(y1->data, y2->data, y1->size * sizeof(float));
        assert_memory_not_equal(y1->data, y3->data, y1->size * sizeof(float));
    }
    /* Successive masks of one layer differ (the generator moves on). */
    assert_ok(b->ops->forward(b, x, y2, 1));
    assert_memory_not_equal(y1->data, y2->data, y1->size * sizeof(float));
    nn_layer_free(a);
    nn_layer_free(b);
    nn_layer_free(c);
    nn_tensor_free(x);
    nn_tensor_free(y1);
    nn_tensor_free(y2);
    nn_tensor_free(y3);
}

/* ---- backward ------------------------------------------------------------------------- */

/* dx = dy * mask with the mask of the last training forward, read off its output:
 * 0 where the unit was dropped, dy * scale (the same multiplication) where kept.
 * In place (dx = dy) gives the same. */
static void test_backward_uses_mask(void **state)
{
    (void)state;
    const double p = 0.25;
    const float scale = (float)(1.0 / (1.0 - p));
    nn_tensor *x = positive_input(40, 25, 10), *dy = positive_input(40, 25, 11);
    nn_tensor *y = NULL, *dx = NULL, *g = NULL;
    assert_ok(nn_tensor_new2d(40, 25, &y));
    assert_ok(nn_tensor_new2d(40, 25, &dx));
    assert_ok(nn_tensor_new2d(40, 25, &g));
    for (size_t i = 0; i < dy->size; i++)
        dy->data[i] -= 1.5f; /* both signs */
    nn_layer *l = standalone(p, 31, 40, 25);
    assert_ok(l->ops->forward(l, x, y, 1));
    assert_ok(l->ops->backward(l, x, y, dy, dx));
    size_t dropped = 0;
    for (size_t i = 0; i < dx->size; i++) {
        float want = dy->data[i] * (y->data[i] == 0.0f ? 0.0f : scale);
        dropped += y->data[i] == 0.0f;
        if (memcmp(&dx->data[i], &want, sizeof want) != 0)
            fail_msg("dx[%zu] = %.9g, expected %.9g (y %.9g)", i, (double)dx->data[i], (double)want,
                     (double)y->data[i]);
    }
    assert_true(dropped > 0 && dropped < dx->size);
    /* Twice: the mask is kept, not redrawn, by backward. */
    assert_ok(nn_tensor_copy(g, dy));
    assert_ok(l->ops->backward(l, x, y, g, g));
    assert_memory_equal(g->data, dx->data, dx->size * sizeof(float));
    /* A smaller batch after a larger reserve uses the leading part of the mask. */
    nn_tensor xs, ys, dys, dxs;
    assert_ok(nn_tensor_rows(x, 0, 7, &xs));
    assert_ok(nn_tensor_rows(y, 0, 7, &ys));
    assert_ok(nn_tensor_rows(dy, 0, 7, &dys));
    assert_ok(nn_tensor_rows(dx, 0, 7, &dxs));
    assert_ok(l->ops->forward(l, &xs, &ys, 1));
    assert_ok(l->ops->backward(l, &xs, &ys, &dys, &dxs));
    for (size_t i = 0; i < dxs.size; i++)
        assert_true((ys.data[i] == 0.0f) == (dxs.data[i] == 0.0f));
    /* dy of another size than the last forward */
    assert_error(l->ops->backward(l, x, y, dy, dx), NN_ERR_SHAPE, "1000", "175");
    nn_layer_free(l);
    nn_tensor_free(x);
    nn_tensor_free(y);
    nn_tensor_free(dy);
    nn_tensor_free(dx);
    nn_tensor_free(g);
}

/* ---- inside a network, without allocating --------------------------------------------------- */

static void test_network_no_allocation(void **state)
{
    (void)state;
    nn_test_alloc_install();
    nn_net *net = NULL;
    assert_ok(nn_net_new(6, &net));
    assert_ok(nn_net_add(net, nn_test_dense(16, nn_init_normal(0, 1), nn_init_zeros())));
    nn_layer *drop = NULL;
    assert_ok(nn_dropout_new(0.5, 123, &drop));
    assert_true(nn_is_dropout(drop));
    assert_false(nn_is_dropout(nn_net_layer(net, 0)));
    assert_string_equal(nn_layer_name(drop), "dropout");
    assert_ok(nn_net_add(net, drop));
    assert_ok(nn_net_add(net, nn_test_dense(2, nn_init_normal(0, 1), nn_init_zeros())));
    nn_rng rng;
    nn_rng_seed(&rng, 4, 0);
    assert_ok(nn_net_init_params(net, &rng));
    nn_test_mse_sgd(net, 0.01);
    float xs[8 * 6], ts[8 * 2];
    for (size_t i = 0; i < 48; i++)
        xs[i] = (float)nn_rng_normal(&rng);
    for (size_t i = 0; i < 16; i++)
        ts[i] = (float)nn_rng_normal(&rng);
    nn_tensor x = nn_tensor_view2d(xs, 8, 6), t = nn_tensor_view2d(ts, 8, 2);
    nn_tensor xs3 = nn_tensor_view2d(xs, 3, 6), ts3 = nn_tensor_view2d(ts, 3, 2);
    nn_tensor *out = NULL;
    assert_ok(nn_tensor_new2d(8, 2, &out));

    assert_ok(nn_net_train_step(net, &x, &t, NULL)); /* sizes the workspace and the mask */
    nn_test_alloc_count_from_now();
    double loss;
    for (int step = 0; step < 5; step++)
        assert_ok(nn_net_train_step(net, &x, &t, &loss));
    assert_ok(nn_net_train_step(net, &xs3, &ts3, &loss)); /* a smaller batch */
    assert_ok(nn_net_predict(net, &x, out));              /* inference */
    assert_ok(nn_net_eval_loss(net, &x, &t, &loss));
    assert_int_equal(nn_test_alloc()->calls, 0);
    assert_true(isfinite(loss));

    /* Inference through the network is deterministic: dropout is the identity. */
    nn_tensor *out2 = NULL;
    assert_ok(nn_tensor_new2d(8, 2, &out2));
    assert_ok(nn_net_predict(net, &x, out2));
    assert_memory_equal(out->data, out2->data, out->size * sizeof(float));

    nn_tensor_free(out);
    nn_tensor_free(out2);
    nn_net_free(net);
    assert_int_equal(nn_test_alloc()->live, 0);
}

/* Calling the layer's own ops: reserve allocates exactly once, forward and backward never. */
static void test_layer_no_allocation(void **state)
{
    (void)state;
    nn_tensor *x = positive_input(16, 8, 1), *y = NULL, *dx = NULL;
    assert_ok(nn_tensor_new2d(16, 8, &y));
    assert_ok(nn_tensor_new2d(16, 8, &dx));
    nn_test_alloc_install();
    nn_layer *l = NULL;
    assert_ok(nn_dropout_new(0.2, 5, &l));
    assert_ok(l->ops->build(l, 8));
    nn_test_alloc_count_from_now();
    assert_ok(l->ops->reserve(l, 16));
    assert_int_equal(nn_test_alloc()->calls, 1);
    assert_ok(l->ops->reserve(l, 10)); /* smaller: keeps the mask */
    assert_int_equal(nn_test_alloc()->calls, 1);
    nn_test_alloc_count_from_now();
    for (int rep = 0; rep < 4; rep++) {
        assert_ok(l->ops->forward(l, x, y, rep % 2));
        assert_ok(l->ops->backward(l, x, y, y, dx));
    }
    assert_int_equal(nn_test_alloc()->calls, 0);
    nn_layer_free(l);
    assert_int_equal(nn_test_alloc()->live, 0);
    nn_set_allocator(NULL);
    nn_tensor_free(x);
    nn_tensor_free(y);
    nn_tensor_free(dx);
}

/* ---- errors --------------------------------------------------------------------------- */

static void test_bad_p(void **state)
{
    (void)state;
    const double bad[] = {-0.1, 1.0, 1.5, -1e-300, NAN, INFINITY, -INFINITY};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        nn_layer *l = (nn_layer *)&l;
        assert_error(nn_dropout_new(bad[i], 1, &l), NN_ERR_INVALID_ARG, "nn_dropout_new", "p");
        assert_null(l);
    }
    nn_layer *l = NULL;
    assert_error(nn_dropout_new(1.0, 1, &l), NN_ERR_INVALID_ARG, "[0, 1)");
    assert_status(nn_dropout_new(0.5, 1, NULL), NN_ERR_NULL_ARG);
    assert_ok(nn_dropout_new(0.0, 1, &l));
    nn_layer_free(l);
    assert_ok(nn_dropout_new(0.999999, 1, &l));
    nn_layer_free(l);
}

static void test_state_errors(void **state)
{
    (void)state;
    nn_tensor *x = positive_input(4, 3, 2), *y = NULL, *dx = NULL;
    assert_ok(nn_tensor_new2d(4, 3, &y));
    assert_ok(nn_tensor_new2d(4, 3, &dx));
    nn_layer *l = NULL;
    assert_ok(nn_dropout_new(0.5, 1, &l));
    assert_error(l->ops->reserve(l, 4), NN_ERR_STATE, "not built"); /* no width yet */
    assert_ok(l->ops->build(l, 3));
    /* Training needs the mask; inference does not. */
    assert_error(l->ops->forward(l, x, y, 1), NN_ERR_STATE, "reserve");
    assert_error(l->ops->backward(l, x, y, y, dx), NN_ERR_STATE, "no forward");
    assert_ok(l->ops->forward(l, x, y, 0));
    assert_ok(l->ops->reserve(l, 2));
    assert_error(l->ops->forward(l, x, y, 1), NN_ERR_STATE, "4 rows", "6 reserved");
    assert_ok(l->ops->reserve(l, 4));
    assert_ok(l->ops->forward(l, x, y, 1));
    /* Shapes that do not fit. */
    nn_tensor *bad = NULL;
    assert_ok(nn_tensor_new2d(3, 4, &bad));
    assert_error(l->ops->forward(l, x, bad, 1), NN_ERR_SHAPE, "(4, 3)", "(3, 4)");
    assert_error(l->ops->backward(l, x, y, y, bad), NN_ERR_SHAPE, "(3, 4)");
    assert_error(l->ops->forward(l, NULL, y, 1), NN_ERR_NULL_ARG, "x");
    assert_ok(l->ops->backward(l, x, y, y, NULL)); /* no dx wanted */
    nn_layer_free(l);
    nn_layer_free(NULL);
    nn_tensor_free(bad);
    nn_tensor_free(x);
    nn_tensor_free(y);
    nn_tensor_free(dx);
}

/* A network's workspace failing to grow at any of its allocations after a forward
 * pass: the pass can still be gone back through, to the same gradients (status.h: on
 * NN_ERR_NOMEM the objects are unchanged). A failure at the second dropout's mask
 * used to leave the first one's pass forgotten. Grown, the workspace holds no pass. */
static void test_reserve_keeps_pass(void **state)
{
    (void)state;
    nn_test_alloc_install();
    nn_net *net = NULL;
    assert_ok(nn_net_new(3, &net));
    for (int i = 0; i < 2; i++) {
        nn_layer *d = NULL;
        assert_ok(nn_net_add(net, nn_test_dense(4, nn_init_normal(0, 1), nn_init_normal(0, 1))));
        assert_ok(nn_dropout_new(0.5, 7 + (uint64_t)i, &d));
        assert_ok(nn_net_add(net, d));
    }
    nn_rng rng;
    nn_rng_seed(&rng, 3, 0);
    assert_ok(nn_net_init_params(net, &rng));
    nn_tensor *x = positive_input(2, 3, 1), *dy = positive_input(2, 4, 2);
    const nn_tensor *y = NULL;
    assert_ok(nn_net_forward(net, x, 1, &y));
    assert_ok(nn_net_zero_grad(net));
    assert_ok(nn_net_backward(net, dy, NULL));
    size_t n;
    float want[64];
    assert_true(nn_net_grads(net, &n) != NULL && n <= 64);
    memcpy(want, nn_net_grads(net, &n), n * sizeof(float));
    nn_status st = NN_ERR_NOMEM;
    for (size_t k = 1; st == NN_ERR_NOMEM && k < 50; k++) {
        nn_test_alloc_fail_nth(k);
        st = nn_net_reserve(net, 100);
        if (st == NN_OK)
            break;
        assert_int_equal(st, NN_ERR_NOMEM);
        assert_ok(nn_net_zero_grad(net));
        assert_ok(nn_net_backward(net, dy, NULL));
        assert_memory_equal(nn_net_grads(net, &n), want, n * sizeof(float));
    }
    assert_ok(st); /* it did grow in the end */
    assert_error(nn_net_backward(net, dy, NULL), NN_ERR_STATE, "no forward pass");
    nn_net_free(net);
    nn_tensor_free(x);
    nn_tensor_free(dy);
    assert_int_equal(nn_test_alloc()->live, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fraction_and_scale),
        cmocka_unit_test(test_p_zero),
        cmocka_unit_test(test_inference_is_identity),
        cmocka_unit_test(test_same_seed_same_mask),
        cmocka_unit_test(test_backward_uses_mask),
        cmocka_unit_test_teardown(test_network_no_allocation, nn_test_alloc_teardown),
        cmocka_unit_test_teardown(test_layer_no_allocation, nn_test_alloc_teardown),
        cmocka_unit_test(test_bad_p),
        cmocka_unit_test(test_state_errors),
        cmocka_unit_test_teardown(test_reserve_keeps_pass, nn_test_alloc_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
