/* test_init.c - every initialiser's values, ranges and moments, and its errors.
 *
 * Moments are taken over 40000 draws with tolerances of about five standard
 * errors; the seeds are fixed, so the outcome is deterministic. */
#include "nn_test.h"

#define N 40000

typedef struct moments {
    double mean, sd, min, max;
} moments;

static moments moments_of(const nn_tensor *t)
{
    moments m = {0, 0, INFINITY, -INFINITY};
    double s = 0, s2 = 0;
    for (size_t i = 0; i < t->size; i++) {
        double v = t->data[i];
        s += v;
        s2 += v * v;
        m.min = v < m.min ? v : m.min;
        m.max = v > m.max ? v : m.max;
    }
    m.mean = s / (double)t->size;
    m.sd = sqrt(s2 / (double)t->size - m.mean * m.mean);
    return m;
}

/* Fills a fresh (N) tensor from init with the given fans and a fixed seed. */
static moments draw(nn_init init, size_t fan_in, size_t fan_out)
{
    nn_tensor *t = NULL;
    assert_ok(nn_tensor_new2d(200, N / 200, &t));
    nn_rng rng;
    nn_rng_seed(&rng, 12345, 6);
    assert_ok(nn_init_fill(t, &init, fan_in, fan_out, &rng));
    assert_true(nn_tensor_all_finite(t));
    moments m = moments_of(t);
    nn_tensor_free(t);
    return m;
}

/* U(-r, r): every value inside, the range nearly reached, sd = r / sqrt(3). */
static void check_symmetric_uniform(moments m, double r)
{
    assert_true(m.min >= -r && m.max <= r);
    assert_true(m.min < -0.99 * r && m.max > 0.99 * r);
    assert_close(m.mean, 0.0, 0.0, 0.015 * r);
    assert_close(m.sd, r / sqrt(3.0), 0.01, 0.0);
}

/* N(mean, sd), with sd's standard error sd / sqrt(2N). */
static void check_normal(moments m, double mean, double sd)
{
    assert_close(m.mean, mean, 0.0, 0.025 * sd);
    assert_close(m.sd, sd, 0.02, 0.0);
    /* 40000 normal draws reach beyond 3 sd but (almost surely) not 6. */
    assert_true(m.max > mean + 3 * sd && m.min < mean - 3 * sd);
    assert_true(m.max < mean + 6 * sd && m.min > mean - 6 * sd);
}

static void test_constructors(void **state)
{
    (void)state;
    nn_init i = nn_init_zeros();
    assert_int_equal(i.kind, NN_INIT_ZEROS);
    i = nn_init_constant(2.5);
    assert_int_equal(i.kind, NN_INIT_CONSTANT);
    assert_true(i.a == 2.5);
    i = nn_init_uniform(-1, 3);
    assert_int_equal(i.kind, NN_INIT_UNIFORM);
    assert_true(i.a == -1 && i.b == 3);
    i = nn_init_normal(0.5, 2);
    assert_int_equal(i.kind, NN_INIT_NORMAL);
    assert_true(i.a == 0.5 && i.b == 2);
    i = nn_init_xavier_uniform(1.5);
    assert_int_equal(i.kind, NN_INIT_XAVIER_UNIFORM);
    assert_true(i.a == 1.5);
    i = nn_init_xavier_normal(1.25);
    assert_int_equal(i.kind, NN_INIT_XAVIER_NORMAL);
    assert_true(i.a == 1.25);
    i = nn_init_kaiming_uniform(2);
    assert_int_equal(i.kind, NN_INIT_KAIMING_UNIFORM);
    assert_true(i.a == 2);
    i = nn_init_kaiming_normal(3);
    assert_int_equal(i.kind, NN_INIT_KAIMING_NORMAL);
    assert_true(i.a == 3);
    i = nn_init_torch_linear();
    assert_int_equal(i.kind, NN_INIT_TORCH_LINEAR);

    /* The values may be written to files: they must never move. */
    assert_int_equal(NN_INIT_ZEROS, 0);
    assert_int_equal(NN_INIT_CONSTANT, 1);
    assert_int_equal(NN_INIT_UNIFORM, 2);
    assert_int_equal(NN_INIT_NORMAL, 3);
    assert_int_equal(NN_INIT_XAVIER_UNIFORM, 4);
    assert_int_equal(NN_INIT_XAVIER_NORMAL, 5);
    assert_int_equal(NN_INIT_KAIMING_UNIFORM, 6);
    assert_int_equal(NN_INIT_KAIMING_NORMAL, 7);
    assert_int_equal(NN_INIT_TORCH_LINEAR, 8);
}

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(nn_init_name(NN_INIT_NORMAL), "normal");
    assert_string_equal(nn_init_name(NN_INIT_XAVIER_UNIFORM), "xavier_uniform");
    for (int k = NN_INIT_ZEROS; k <= NN_INIT_TORCH_LINEAR; k++) {
        const char *name = nn_init_name((nn_init_kind)k);
        assert_non_null(name);
        assert_true(strlen(name) > 0);
        for (int j = NN_INIT_ZEROS; j < k; j++)
            assert_string_not_equal(name, nn_init_name((nn_init_kind)j));
    }
    assert_null(nn_init_name((nn_init_kind)9));
    assert_null(nn_init_name((nn_init_kind)-1));

    /* Names map back to their kinds. */
    for (int k = NN_INIT_ZEROS; k <= NN_INIT_TORCH_LINEAR; k++) {
        nn_init_kind back = (nn_init_kind)-1;
        assert_ok(nn_init_kind_from_name(nn_init_name((nn_init_kind)k), &back));
        assert_int_equal(back, k);
    }
    nn_init_kind kind = NN_INIT_UNIFORM;
    assert_error(nn_init_kind_from_name("gaussian", &kind), NN_ERR_INVALID_ARG, "gaussian",
                 "(known: zeros, constant, uniform, normal, xavier_uniform, xavier_normal, "
                 "kaiming_uniform, kaiming_normal, torch_linear)");
    assert_status(nn_init_kind_from_name("Normal", &kind), NN_ERR_INVALID_ARG);
    assert_status(nn_init_kind_from_name("", &kind), NN_ERR_INVALID_ARG);
    assert_int_equal(kind, NN_INIT_UNIFORM);
    assert_status(nn_init_kind_from_name(NULL, &kind), NN_ERR_NULL_ARG);
    assert_status(nn_init_kind_from_name("normal", NULL), NN_ERR_NULL_ARG);

    /* By name with torch's default parameters; "lesson" is the lesson's N(0, 1). */
    nn_init init = nn_init_zeros();
    assert_ok(nn_init_from_name("lesson", &init));
    assert_true(init.kind == NN_INIT_NORMAL && init.a == 0.0 && init.b == 1.0);
    assert_ok(nn_init_from_name("normal", &init));
    assert_true(init.kind == NN_INIT_NORMAL && init.a == 0.0 && init.b == 1.0);
    assert_ok(nn_init_from_name("kaiming_uniform", &init));
    assert_true(init.kind == NN_INIT_KAIMING_UNIFORM && init.a == sqrt(2.0));
    assert_ok(nn_init_from_name("xavier_normal", &init));
    assert_true(init.kind == NN_INIT_XAVIER_NORMAL && init.a == 1.0);
    assert_ok(nn_init_from_name("uniform", &init));
    assert_true(init.kind == NN_INIT_UNIFORM && init.a == 0.0 && init.b == 1.0);
    for (int k = NN_INIT_ZEROS; k <= NN_INIT_TORCH_LINEAR; k++) {
        assert_ok(nn_init_from_name(nn_init_name((nn_init_kind)k), &init));
        assert_int_equal(init.kind, k);
    }
    init = nn_init_constant(7);
    assert_error(nn_init_from_name("he", &init), NN_ERR_INVALID_ARG, "'he'",
                 "(known: zeros, constant, ", "torch_linear, lesson)");
    assert_true(init.kind == NN_INIT_CONSTANT && init.a == 7); /* untouched */
    assert_status(nn_init_from_name(NULL, &init), NN_ERR_NULL_ARG);
    assert_status(nn_init_from_name("zeros", NULL), NN_ERR_NULL_ARG);
}

static void test_zeros_and_constant_exact(void **state)
{
    (void)state;
    nn_tensor *t = NULL;
    assert_ok(nn_tensor_new2d(3, 4, &t));
    assert_ok(nn_tensor_fill(t, 7.0f));
    nn_init z = nn_init_zeros(), c = nn_init_constant(-1.75);
    /* Deterministic kinds need no generator. */
    assert_ok(nn_init_fill(t, &z, 4, 3, NULL));
    for (size_t i = 0; i < t->size; i++)
        assert_true(t->data[i] == 0.0f);
    assert_ok(nn_init_fill(t, &c, 4, 3, NULL));
    for (size_t i = 0; i < t->size; i++)
        assert_true(t->data[i] == -1.75f);
    /* N(3, 0) degenerates to the constant 3. */
    nn_rng rng;
    nn_rng_seed(&rng, 1, 1);
    nn_init n0 = nn_init_normal(3, 0);
    assert_ok(nn_init_fill(t, &n0, 4, 3, &rng));
    for (size_t i = 0; i < t->size; i++)
        assert_true(t->data[i] == 3.0f);
    nn_tensor_free(t);
}

static void test_uniform(void **state)
{
    (void)state;
    moments m = draw(nn_init_uniform(-2, 3), 1, 1);
    /* Float rounding may land on the upper bound; nothing beyond it. */
    assert_true(m.min >= -2 && m.max <= 3);
    assert_true(m.min < -1.99 && m.max > 2.99);
    assert_close(m.mean, 0.5, 0.0, 0.04); /* se 0.0072 */
    assert_close(m.sd, 5 / sqrt(12.0), 0.01, 0.0);
}

static void test_normal(void **state)
{
    (void)state;
    check_normal(draw(nn_init_normal(0, 1), 1, 1), 0, 1);
    check_normal(draw(nn_init_normal(1, 2), 1, 1), 1, 2);
}

static void test_xavier(void **state)
{
    (void)state;
    /* r = gain * sqrt(6 / (fan_in + fan_out)) = 2 * sqrt(6 / 30) */
    check_symmetric_uniform(draw(nn_init_xavier_uniform(2), 20, 10), 2 * sqrt(0.2));
    /* sd = gain * sqrt(2 / (fan_in + fan_out)) = 1.5 * sqrt(2 / 8) */
    check_normal(draw(nn_init_xavier_normal(1.5), 3, 5), 0, 0.75);
    /* fan_in + fan_out is taken whole, not wrapped in size_t: SIZE_MAX + 2 gave 1 (a
     * bound of sqrt(6) instead of 5.7e-10), SIZE_MAX + 1 gave 0 ("needs a non-zero fan") */
    double huge = (double)SIZE_MAX + 2.0;
    check_symmetric_uniform(draw(nn_init_xavier_uniform(1), SIZE_MAX, 2), sqrt(6.0 / huge));
    check_normal(draw(nn_init_xavier_normal(1), SIZE_MAX, 1), 0, sqrt(2.0 / huge));
}

static void test_kaiming(void **state)
{
    (void)state;
    /* r = gain * sqrt(3 / fan_in), the fan_out must not matter. */
    check_symmetric_uniform(draw(nn_init_kaiming_uniform(sqrt(2.0)), 12, 1000), sqrt(0.5));
    /* sd = gain / sqrt(fan_in) */
    check_normal(draw(nn_init_kaiming_normal(3), 16, 2), 0, 0.75);
}

static void test_torch_linear(void **state)
{
    (void)state;
    /* U(-1/sqrt(fan_in), 1/sqrt(fan_in)) = U(-0.25, 0.25) for fan_in 16. */
    check_symmetric_uniform(draw(nn_init_torch_linear(), 16, 3), 0.25);
}

static void test_deterministic_storage_order(void **state)
{
    (void)state;
    nn_tensor *whole = NULL, *first = NULL, *second = NULL;
    assert_ok(nn_tensor_new2d(2, 5, &whole));
    assert_ok(nn_tensor_new2d(1, 5, &first));
    assert_ok(nn_tensor_new2d(1, 5, &second));
    nn_init kinds[4] = {nn_init_normal(0, 1), nn_init_uniform(-1, 1), nn_init_xavier_normal(1),
                        nn_init_torch_linear()};
    for (int k = 0; k < 4; k++) {
        nn_rng a, b;
        nn_rng_seed(&a, 77, 0);
        nn_rng_seed(&b, 77, 0);
        /* Drawn in storage order: filling 10 elements equals filling the first 5
         * and then the next 5 from the same generator. */
        assert_ok(nn_init_fill(whole, &kinds[k], 5, 2, &a));
        assert_ok(nn_init_fill(first, &kinds[k], 5, 2, &b));
        assert_ok(nn_init_fill(second, &kinds[k], 5, 2, &b));
        assert_memory_equal(whole->data, first->data, 5 * sizeof(float));
        assert_memory_equal(whole->data + 5, second->data, 5 * sizeof(float));
        /* Another seed gives other values. */
        nn_rng_seed(&a, 78, 0);
        assert_ok(nn_init_fill(first, &kinds[k], 5, 2, &a));
        assert_memory_not_equal(whole->data, first->data, 5 * sizeof(float));
    }
    nn_tensor_free(whole);
    nn_tensor_free(first);
    nn_tensor_free(second);
}

static void test_errors(void **state)
{
    (void)state;
    nn_tensor *t = NULL;
    assert_ok(nn_tensor_new2d(2, 2, &t));
    nn_rng rng;
    nn_rng_seed(&rng, 1, 0);
    nn_init bad_kind = {(nn_init_kind)42, 0, 1};
    assert_error(nn_init_fill(t, &bad_kind, 2, 2, &rng), NN_ERR_INVALID_ARG, "42");
    nn_init neg_kind = {(nn_init_kind)-1, 0, 1};
    assert_status(nn_init_fill(t, &neg_kind, 2, 2, &rng), NN_ERR_INVALID_ARG);

    /* a negative gain: a negative std, or bounds the wrong way round (torch refuses) */
    const nn_init gains[4] = {nn_init_xavier_uniform(-1), nn_init_xavier_normal(-1),
                              nn_init_kaiming_uniform(-2), nn_init_kaiming_normal(-0.5)};
    for (int k = 0; k < 4; k++)
        assert_error(nn_init_fill(t, &gains[k], 2, 2, &rng), NN_ERR_INVALID_ARG, "gain -",
                     "is negative");

    nn_init u = nn_init_uniform(1, 1); /* b <= a */
    assert_status(nn_init_fill(t, &u, 2, 2, &rng), NN_ERR_INVALID_ARG);
    u = nn_init_uniform(2, -2);
    assert_status(nn_init_fill(t, &u, 2, 2, &rng), NN_ERR_INVALID_ARG);
    nn_init n = nn_init_normal(0, -1);
    assert_status(nn_init_fill(t, &n, 2, 2, &rng), NN_ERR_INVALID_ARG);
    n = nn_init_normal(0, NAN);
    assert_status(nn_init_fill(t, &n, 2, 2, &rng), NN_ERR_INVALID_ARG);

    /* Fans the formula divides by. */
    nn_init x = nn_init_xavier_uniform(1);
    assert_status(nn_init_fill(t, &x, 0, 0, &rng), NN_ERR_INVALID_ARG);
    x = nn_init_xavier_normal(1);
    assert_status(nn_init_fill(t, &x, 0, 0, &rng), NN_ERR_INVALID_ARG);
    nn_init k = nn_init_kaiming_uniform(1);
    assert_status(nn_init_fill(t, &k, 0, 4, &rng), NN_ERR_INVALID_ARG);
    k = nn_init_kaiming_normal(1);
    assert_status(nn_init_fill(t, &k, 0, 4, &rng), NN_ERR_INVALID_ARG);
    nn_init tl = nn_init_torch_linear();
    assert_status(nn_init_fill(t, &tl, 0, 4, &rng), NN_ERR_INVALID_ARG);

    /* Parameters that could draw a value beyond float's range, whatever the rng's
     * state: refused before t is touched (they used to fill Inf). */
    assert_ok(nn_tensor_fill(t, 7.0f));
    nn_init big = nn_init_constant(1e39);
    assert_error(nn_init_fill(t, &big, 2, 2, &rng), NN_ERR_INVALID_ARG,
                 "'constant' can draw values up to 1e+39, beyond float's range");
    big = nn_init_uniform(-1e39, 0);
    assert_error(nn_init_fill(t, &big, 2, 2, &rng), NN_ERR_INVALID_ARG, "'uniform' can draw");
    big = nn_init_uniform(0, 3.4028235677973366e38); /* FLT_MAX + half an ulp: rounds to inf */
    assert_error(nn_init_fill(t, &big, 2, 2, &rng), NN_ERR_INVALID_ARG, "beyond float's range");
    big = nn_init_kaiming_uniform(1e308);
    assert_error(nn_init_fill(t, &big, 4, 2, &rng), NN_ERR_INVALID_ARG, "'kaiming_uniform' can draw");
    big = nn_init_normal(0, 3e37); /* 12.01 std: the polar method's largest deviate */
    assert_error(nn_init_fill(t, &big, 2, 2, &rng), NN_ERR_INVALID_ARG, "'normal' can draw values up to 3.603e+38");
    big = nn_init_normal(3e38, 1e37);
    assert_error(nn_init_fill(t, &big, 2, 2, &rng), NN_ERR_INVALID_ARG, "'normal' can draw");
    for (size_t i = 0; i < 4; i++)
        assert_true(t->data[i] == 7.0f);
    big = nn_init_constant(3.4028234663852886e38); /* FLT_MAX itself is a float */
    assert_ok(nn_init_fill(t, &big, 2, 2, &rng));
    big = nn_init_normal(0, 2.8e37); /* 12.01 std below FLT_MAX: every draw is finite */
    for (int r = 0; r < 100; r++) {
        assert_ok(nn_init_fill(t, &big, 2, 2, &rng));
        for (size_t i = 0; i < 4; i++)
            assert_true(isfinite(t->data[i]));
    }

    nn_init ok = nn_init_normal(0, 1);
    assert_error(nn_init_fill(NULL, &ok, 2, 2, &rng), NN_ERR_NULL_ARG, "nn_init_fill");
    assert_error(nn_init_fill(t, NULL, 2, 2, &rng), NN_ERR_NULL_ARG, "nn_init_fill");
    assert_error(nn_init_fill(t, &ok, 2, 2, NULL), NN_ERR_NULL_ARG, "rng");
    nn_tensor_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_constructors),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_zeros_and_constant_exact),
        cmocka_unit_test(test_uniform),
        cmocka_unit_test(test_normal),
        cmocka_unit_test(test_xavier),
        cmocka_unit_test(test_kaiming),
        cmocka_unit_test(test_torch_linear),
        cmocka_unit_test(test_deterministic_storage_order),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
