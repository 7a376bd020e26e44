/* test_scaler.c - per-feature standardisation on hand-computed numbers. */
#include "nn_test.h"

/* Four rows; column 0: mean 3, squared deviations 4 + 1 + 0 + 9 = 14, population
 * variance 14/4 = 3.5; column 1: mean 25, 225 + 25 + 25 + 225 = 500, variance 125;
 * column 2 is constant 5. */
static float train_data[4 * 3] = {1, 10, 5, 2, 20, 5, 3, 30, 5, 6, 40, 5};

static void test_fit_hand_computed(void **state)
{
    (void)state;
    nn_tensor x = nn_tensor_view2d(train_data, 4, 3);
    nn_scaler *s = NULL;
    assert_ok(nn_scaler_fit(&x, &s));
    assert_int_equal(nn_scaler_width(s), 3);
    const float *mean = nn_scaler_mean(s), *sd = nn_scaler_std(s);
    assert_close(mean[0], 3.0, 1e-7, 0);
    assert_close(mean[1], 25.0, 1e-7, 0);
    assert_close(mean[2], 5.0, 1e-7, 0);
    /* ddof 0 (sklearn, numpy.std): sqrt(3.5), not ddof 1's sqrt(14/3). */
    assert_close(sd[0], sqrt(3.5), 1e-6, 0);
    assert_close(sd[1], sqrt(125.0), 1e-6, 0);
    /* A constant column's std is 1: shifted to 0, not divided by 0. */
    assert_close(sd[2], 1.0, 0, 0);

    /* Applied to data the scaler has not seen (a test row). */
    float test_row[3] = {4, 0, 7};
    nn_tensor t = nn_tensor_view2d(test_row, 1, 3);
    assert_ok(nn_scaler_apply(s, &t));
    assert_close(test_row[0], 1.0 / sqrt(3.5), 1e-6, 0);     /* 0.534522 */
    assert_close(test_row[1], -25.0 / sqrt(125.0), 1e-6, 0); /* -2.236068 */
    assert_close(test_row[2], 2.0, 1e-6, 0);

    /* The training data itself ends with mean 0 and population std 1 per column
     * (the constant one all 0). */
    float copy[12];
    memcpy(copy, train_data, sizeof copy);
    nn_tensor c = nn_tensor_view2d(copy, 4, 3);
    assert_ok(nn_scaler_apply(s, &c));
    assert_close(copy[0], -2.0 / sqrt(3.5), 1e-6, 0);
    for (size_t j = 0; j < 2; j++) {
        double m = 0, v = 0;
        for (size_t i = 0; i < 4; i++)
            m += copy[i * 3 + j] / 4.0;
        for (size_t i = 0; i < 4; i++)
            v += (copy[i * 3 + j] - m) * (copy[i * 3 + j] - m) / 4.0;
        assert_close(m, 0.0, 0, 1e-6);
        assert_close(v, 1.0, 1e-6, 0);
    }
    for (size_t i = 0; i < 4; i++)
        assert_close(copy[i * 3 + 2], 0.0, 0, 0);

    /* invert undoes apply. */
    assert_ok(nn_scaler_invert(s, &c));
    for (size_t k = 0; k < 12; k++)
        assert_close(copy[k], train_data[k], 1e-6, 1e-6);
    nn_scaler_free(s);
}

static void test_single_row_is_shift_only(void **state)
{
    (void)state;
    float one[2] = {135, 66};
    nn_tensor x = nn_tensor_view2d(one, 1, 2);
    nn_scaler *s = NULL;
    assert_ok(nn_scaler_fit(&x, &s));
    assert_close(nn_scaler_std(s)[0], 1.0, 0, 0);
    assert_close(nn_scaler_std(s)[1], 1.0, 0, 0);
    /* The lesson's shift, as a scaler: Alice, 133 lb, 65 in -> (-2, -1). */
    float alice[2] = {133, 65};
    nn_tensor a = nn_tensor_view2d(alice, 1, 2);
    assert_ok(nn_scaler_apply(s, &a));
    assert_close(alice[0], -2.0, 0, 0);
    assert_close(alice[1], -1.0, 0, 0);
    nn_scaler_free(s);
}

/* A feature spanning nearly all of float's range: x - mean overflows in float
 * (3e38 + 1.5e38), the standardised value does not. Column: three 3e38 and one
 * -3e38, mean 1.5e38, deviations 1.5e38 (x3) and -4.5e38, std sqrt(3) * 1.5e38. */
static void test_wide_range_does_not_overflow(void **state)
{
    (void)state;
    float data[4] = {3e38f, 3e38f, 3e38f, -3e38f};
    nn_tensor x = nn_tensor_view2d(data, 4, 1);
    nn_scaler *s = NULL;
    assert_ok(nn_scaler_fit(&x, &s));
    double mean = (3.0 * 3e38f + -3e38f) / 4.0;
    assert_close(nn_scaler_mean(s)[0], mean, 1e-7, 0);
    assert_close(nn_scaler_std(s)[0], sqrt(3.0) * 1.5e38, 1e-6, 0);
    assert_ok(nn_scaler_apply(s, &x));
    for (int i = 0; i < 3; i++)
        assert_close(data[i], 1.0 / sqrt(3.0), 1e-6, 0);
    assert_close(data[3], -sqrt(3.0), 1e-6, 0);
    /* and back, to within float's rounding of each step */
    assert_ok(nn_scaler_invert(s, &x));
    for (int i = 0; i < 3; i++)
        assert_close(data[i], 3e38, 1e-6, 0);
    assert_close(data[3], -3e38, 1e-6, 0);
    nn_scaler_free(s);
}

static void test_new_copies_and_checks(void **state)
{
    (void)state;
    float mean[3] = {1, 2, 3}, sd[3] = {2, 0, 4};
    nn_scaler *s = NULL;
    assert_ok(nn_scaler_new(3, mean, sd, &s));
    mean[0] = 100; /* copied: later changes do not reach the scaler */
    assert_close(nn_scaler_mean(s)[0], 1.0, 0, 0);
    assert_close(nn_scaler_std(s)[1], 1.0, 0, 0); /* std 0 stored as 1 */
    assert_close(nn_scaler_std(s)[2], 4.0, 0, 0);
    float row[3] = {5, 5, 5};
    nn_tensor x = nn_tensor_view2d(row, 1, 3);
    assert_ok(nn_scaler_apply(s, &x));
    assert_close(row[0], 2.0, 0, 0);
    assert_close(row[1], 3.0, 0, 0);
    assert_close(row[2], 0.5, 0, 0);

    /* The wrong width is rejected and the data left alone. */
    float wide[4] = {9, 9, 9, 9};
    nn_tensor w = nn_tensor_view2d(wide, 1, 4);
    assert_error(nn_scaler_apply(s, &w), NN_ERR_SHAPE, "(1, 4)", "width is 3");
    assert_close(wide[0], 9.0, 0, 0);
    nn_tensor one_d = nn_tensor_view1d(wide, 3);
    assert_error(nn_scaler_apply(s, &one_d), NN_ERR_SHAPE, "nn_scaler_apply");
    assert_error(nn_scaler_invert(s, &w), NN_ERR_SHAPE, "nn_scaler_invert");
    nn_scaler_free(s);

    nn_scaler *bad = (nn_scaler *)&bad; /* must become NULL */
    float neg[3] = {1, -1, 1}, nanv[3] = {1, NAN, 1};
    mean[0] = 1;
    assert_error(nn_scaler_new(3, mean, neg, &bad), NN_ERR_INVALID_ARG, "std[1]", "-1");
    assert_null(bad);
    assert_error(nn_scaler_new(3, nanv, sd, &bad), NN_ERR_INVALID_ARG, "mean[1]");
    assert_error(nn_scaler_new(3, mean, nanv, &bad), NN_ERR_INVALID_ARG, "std[1]");
    assert_error(nn_scaler_new(0, mean, sd, &bad), NN_ERR_INVALID_ARG, "width is 0");
    assert_error(nn_scaler_new(3, NULL, sd, &bad), NN_ERR_NULL_ARG, "mean");
    assert_error(nn_scaler_new(3, mean, sd, NULL), NN_ERR_NULL_ARG, "out");

    assert_int_equal(nn_scaler_width(NULL), 0);
    assert_null(nn_scaler_mean(NULL));
    assert_null(nn_scaler_std(NULL));
    nn_scaler_free(NULL);
}

static void test_fit_rejects(void **state)
{
    (void)state;
    float data[6] = {1, 2, 3, 4, 5, INFINITY};
    nn_tensor x = nn_tensor_view2d(data, 2, 3);
    nn_scaler *s = (nn_scaler *)&s;
    assert_error(nn_scaler_fit(&x, &s), NN_ERR_NUMERIC, "x[1, 2]", "inf");
    assert_null(s);
    nn_tensor v = nn_tensor_view1d(data, 6);
    assert_error(nn_scaler_fit(&v, &s), NN_ERR_SHAPE, "2-D");
    assert_error(nn_scaler_fit(NULL, &s), NN_ERR_NULL_ARG, "x");
    assert_error(nn_scaler_apply(NULL, &x), NN_ERR_NULL_ARG, "nn_scaler_apply: argument 's'");
    nn_tensor empty = nn_tensor_view2d(data, 0, 3); /* a scaler of NaNs before */
    assert_error(nn_scaler_fit(&empty, &s), NN_ERR_INVALID_ARG, "no rows");
    assert_null(s);
    nn_tensor narrow = nn_tensor_view2d(data, 3, 0); /* was 'cannot allocate' */
    assert_error(nn_scaler_fit(&narrow, &s), NN_ERR_INVALID_ARG, "no columns");
    assert_null(s);
}

/* A view of nothing: elements but no data, NN_ERR_NULL_ARG (was a crash in the first
 * loop of fit, apply and invert). */
static void test_view_of_nothing(void **state)
{
    (void)state;
    nn_scaler *s = (nn_scaler *)&s;
    nn_tensor nothing = nn_tensor_view2d(NULL, 2, 3);
    assert_error(nn_scaler_fit(&nothing, &s), NN_ERR_NULL_ARG, "nn_scaler_fit", "no data");
    assert_null(s);
    float m[3] = {0}, sd[3] = {1, 1, 1};
    assert_ok(nn_scaler_new(3, m, sd, &s));
    assert_error(nn_scaler_apply(s, &nothing), NN_ERR_NULL_ARG, "nn_scaler_apply", "no data");
    assert_error(nn_scaler_invert(s, &nothing), NN_ERR_NULL_ARG, "nn_scaler_invert", "no data");
    nn_scaler_free(s);
}

static void test_allocation_failures(void **state)
{
    (void)state;
    nn_tensor x = nn_tensor_view2d(train_data, 4, 3);
    nn_test_alloc_install();
    size_t k;
    for (k = 1;; k++) {
        nn_scaler *s = NULL;
        nn_test_alloc_fail_nth(k);
        nn_status st = nn_scaler_fit(&x, &s);
        if (st == NN_OK) {
            nn_scaler_free(s);
            break;
        }
        assert_status_was(st, NN_ERR_NOMEM);
        assert_null(s);
        assert_int_equal(nn_test_alloc()->live, 0);
    }
    assert_int_equal(k, 4); /* three allocations, each failure seen */
    assert_int_equal(nn_test_alloc()->live, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fit_hand_computed),
        cmocka_unit_test(test_single_row_is_shift_only),
        cmocka_unit_test(test_wide_range_does_not_overflow),
        cmocka_unit_test(test_new_copies_and_checks),
        cmocka_unit_test(test_fit_rejects),
        cmocka_unit_test(test_view_of_nothing),
        cmocka_unit_test_teardown(test_allocation_failures, nn_test_alloc_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
