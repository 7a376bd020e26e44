/* test_tensor.c - creation, views, row slices, element access, fill, copy. */
#include <float.h>

#include "nn_test.h"

static void test_new_is_zeroed_with_shape(void **state)
{
    (void)state;
    size_t shape[3] = {2, 3, 4};
    nn_tensor *t = NULL;
    assert_ok(nn_tensor_new(3, shape, &t));
    assert_non_null(t);
    assert_int_equal(t->ndim, 3);
    assert_int_equal(t->shape[0], 2);
    assert_int_equal(t->shape[1], 3);
    assert_int_equal(t->shape[2], 4);
    assert_int_equal(t->shape[3], 1); /* unused entries are 1 */
    assert_int_equal(t->size, 24);
    assert_int_equal(t->dtype, NN_DTYPE_F32);
    assert_int_equal(t->owns_data, 1);
    for (size_t i = 0; i < t->size; i++)
        assert_true(t->data[i] == 0.0f);
    /* Seen as a matrix: (shape[0], size / shape[0]). */
    assert_int_equal(nn_tensor_nrows(t), 2);
    assert_int_equal(nn_tensor_ncols(t), 12);
    nn_tensor_free(t);

    assert_ok(nn_tensor_new2d(5, 7, &t));
    assert_int_equal(t->ndim, 2);
    assert_int_equal(t->shape[0], 5);
    assert_int_equal(t->shape[1], 7);
    assert_int_equal(t->shape[2], 1);
    assert_int_equal(t->size, 35);
    assert_int_equal(nn_tensor_nrows(t), 5);
    assert_int_equal(nn_tensor_ncols(t), 7);
    nn_tensor_free(t);

    size_t four[4] = {1, 2, 1, 3};
    assert_ok(nn_tensor_new(4, four, &t));
    assert_int_equal(t->size, 6);
    nn_tensor_free(t);

    nn_tensor_free(NULL); /* a no-op, like free(NULL) */
}

static void test_new_errors(void **state)
{
    (void)state;
    size_t shape[5] = {2, 3, 1, 1, 1};
    nn_tensor *t = (nn_tensor *)&shape; /* any non-NULL value: must be reset */

    assert_error(nn_tensor_new(2, shape, NULL), NN_ERR_NULL_ARG, "out");
    assert_error(nn_tensor_new(2, NULL, &t), NN_ERR_NULL_ARG, "shape");
    assert_null(t);

    t = (nn_tensor *)&shape;
    assert_error(nn_tensor_new(0, shape, &t), NN_ERR_INVALID_ARG, "0");
    assert_null(t);
    assert_error(nn_tensor_new(5, shape, &t), NN_ERR_INVALID_ARG, "5");
    assert_error(nn_tensor_new(-1, shape, &t), NN_ERR_INVALID_ARG, "-1");

    size_t zero[2] = {3, 0};
    t = (nn_tensor *)&shape;
    assert_error(nn_tensor_new(2, zero, &t), NN_ERR_INVALID_ARG, "0");
    assert_null(t);
    assert_error(nn_tensor_new2d(0, 4, &t), NN_ERR_INVALID_ARG, "0");

    /* The byte count would overflow size_t: must be refused, not wrapped. */
    size_t huge[2] = {SIZE_MAX / 2, 4};
    assert_status(nn_tensor_new(2, huge, &t), NN_ERR_INVALID_ARG);
    assert_null(t);
    size_t huge2[2] = {(size_t)1 << 31, (size_t)1 << 31};
    assert_status(nn_tensor_new(2, huge2, &t), NN_ERR_INVALID_ARG);
    assert_null(t);
}

static void test_new_out_of_memory(void **state)
{
    (void)state;
    nn_test_alloc_install();
    /* Fail each allocation in turn until creation needs no failed allocation. */
    for (size_t k = 1;; k++) {
        nn_tensor *t = (nn_tensor *)&k;
        nn_test_alloc_fail_nth(k);
        nn_clear_error();
        nn_status st = nn_tensor_new2d(3, 4, &t);
        if (nn_test_alloc()->failed == 0) {
            assert_ok(st);
            assert_int_equal(t->size, 12);
            nn_tensor_free(t);
            break;
        }
        assert_status_was(st, NN_ERR_NOMEM);
        assert_null(t);
        assert_true(strlen(nn_last_error()) > 0);
        assert_int_equal(nn_test_alloc()->live, 0); /* nothing half-built is kept */
        assert_true(k < 100);
    }
    assert_int_equal(nn_test_alloc()->live, 0);
}

/* The installed allocator is the one nn uses, and NULL restores malloc/free. */
static void test_allocator_hook(void **state)
{
    (void)state;
    nn_test_alloc_install();
    nn_tensor *t = NULL;
    assert_ok(nn_tensor_new2d(4, 4, &t));
    assert_true(nn_test_alloc()->calls >= 1);
    assert_true(nn_test_alloc()->live >= 1);
    nn_tensor_free(t);
    assert_int_equal(nn_test_alloc()->live, 0);
    assert_int_equal(nn_test_alloc()->frees, nn_test_alloc()->calls);

    nn_set_allocator(NULL);
    size_t calls = nn_test_alloc()->calls;
    assert_ok(nn_tensor_new2d(4, 4, &t));
    nn_tensor_free(t);
    assert_int_equal(nn_test_alloc()->calls, calls); /* not ours any more */
}

static void test_views(void **state)
{
    (void)state;
    float data[12];
    for (int i = 0; i < 12; i++)
        data[i] = (float)i;

    nn_tensor v = nn_tensor_view2d(data, 3, 4);
    assert_ptr_equal(v.data, data);
    assert_int_equal(v.ndim, 2);
    assert_int_equal(v.shape[0], 3);
    assert_int_equal(v.shape[1], 4);
    assert_int_equal(v.size, 12);
    assert_int_equal(v.owns_data, 0);
    assert_int_equal(v.dtype, NN_DTYPE_F32);
    assert_true(nn_tensor_get2d(&v, 2, 1) == 9.0f); /* row-major: 2 * 4 + 1 */

    nn_tensor w = nn_tensor_view1d(data, 12);
    assert_ptr_equal(w.data, data);
    assert_int_equal(w.ndim, 1);
    assert_int_equal(w.shape[0], 12);
    assert_int_equal(w.size, 12);
    assert_int_equal(w.owns_data, 0);
    /* A 1-D tensor of n is a (1, n) matrix. */
    assert_int_equal(nn_tensor_nrows(&w), 1);
    assert_int_equal(nn_tensor_ncols(&w), 12);
    /* A matrix with no rows still has its columns (and no division by zero). */
    nn_tensor empty = nn_tensor_view2d(data, 0, 5);
    assert_int_equal(nn_tensor_nrows(&empty), 0);
    assert_int_equal(nn_tensor_ncols(&empty), 5);

    /* A view writes through to the caller's memory. */
    nn_tensor_set2d(&v, 1, 3, -5.0f);
    assert_true(data[7] == -5.0f);
}

static void test_rows(void **state)
{
    (void)state;
    float data[15];
    for (int i = 0; i < 15; i++)
        data[i] = (float)i;
    nn_tensor t = nn_tensor_view2d(data, 5, 3);
    nn_tensor r;

    assert_ok(nn_tensor_rows(&t, 1, 3, &r));
    assert_ptr_equal(r.data, data + 3);
    assert_int_equal(r.ndim, 2);
    assert_int_equal(r.shape[0], 3);
    assert_int_equal(r.shape[1], 3);
    assert_int_equal(r.size, 9);
    assert_int_equal(r.owns_data, 0);
    assert_true(nn_tensor_get2d(&r, 0, 0) == 3.0f);
    assert_true(nn_tensor_get2d(&r, 2, 2) == 11.0f);

    assert_ok(nn_tensor_rows(&t, 4, 1, &r)); /* the last row */
    assert_true(r.data[0] == 12.0f);
    assert_ok(nn_tensor_rows(&t, 0, 5, &r)); /* all of it */
    assert_int_equal(r.shape[0], 5);

    assert_error(nn_tensor_rows(&t, 3, 3, &r), NN_ERR_SHAPE, "5"); /* rows 3..5 of 5 */
    assert_error(nn_tensor_rows(&t, 6, 1, &r), NN_ERR_SHAPE, "5");
    /* first + count must not wrap around. */
    assert_status(nn_tensor_rows(&t, 2, SIZE_MAX, &r), NN_ERR_SHAPE);
    nn_tensor one = nn_tensor_view1d(data, 15);
    assert_status(nn_tensor_rows(&one, 0, 1, &r), NN_ERR_SHAPE);
    assert_status(nn_tensor_rows(NULL, 0, 1, &r), NN_ERR_NULL_ARG);
    assert_status(nn_tensor_rows(&t, 0, 1, NULL), NN_ERR_NULL_ARG);
}

static void test_same_shape(void **state)
{
    (void)state;
    float d[6];
    nn_tensor a = nn_tensor_view2d(d, 2, 3), b = nn_tensor_view2d(d, 2, 3);
    nn_tensor c = nn_tensor_view2d(d, 3, 2), e = nn_tensor_view1d(d, 6);
    nn_tensor f = nn_tensor_view2d(d, 1, 6), g = nn_tensor_view1d(d, 6);
    assert_true(nn_tensor_same_shape(&a, &b));
    assert_false(nn_tensor_same_shape(&a, &c));
    assert_false(nn_tensor_same_shape(&e, &f)); /* same size, different ndim */
    assert_true(nn_tensor_same_shape(&e, &g));
}

static void test_fill_and_copy(void **state)
{
    (void)state;
    nn_tensor *a = NULL, *b = NULL;
    assert_ok(nn_tensor_new2d(2, 3, &a));
    assert_ok(nn_tensor_new2d(3, 2, &b));
    assert_ok(nn_tensor_fill(a, 2.5f));
    for (size_t i = 0; i < a->size; i++)
        assert_true(a->data[i] == 2.5f);

    for (size_t i = 0; i < a->size; i++)
        a->data[i] = (float)i * 0.5f - 1.0f;
    /* Copy needs equal sizes only; shapes may differ. */
    assert_ok(nn_tensor_copy(b, a));
    assert_memory_equal(a->data, b->data, 6 * sizeof(float));
    /* dst's shape is its own. */
    assert_int_equal(b->shape[0], 3);
    /* Copying onto itself is allowed and changes nothing. */
    assert_ok(nn_tensor_copy(a, a));
    assert_memory_equal(a->data, b->data, 6 * sizeof(float));

    float small[5] = {9, 9, 9, 9, 9};
    nn_tensor s = nn_tensor_view1d(small, 5);
    assert_error(nn_tensor_copy(&s, a), NN_ERR_SHAPE, "5", "6");
    for (int i = 0; i < 5; i++)
        assert_true(small[i] == 9.0f); /* untouched on error */

    assert_status(nn_tensor_copy(NULL, a), NN_ERR_NULL_ARG);
    assert_status(nn_tensor_copy(a, NULL), NN_ERR_NULL_ARG);
    assert_status(nn_tensor_fill(NULL, 1.0f), NN_ERR_NULL_ARG);
    nn_tensor_free(a);
    nn_tensor_free(b);
}

static void test_get_set_checked(void **state)
{
    (void)state;
    size_t shape[3] = {2, 3, 4};
    nn_tensor *t = NULL;
    assert_ok(nn_tensor_new(3, shape, &t));
    size_t idx[3] = {1, 2, 3};
    assert_ok(nn_tensor_set(t, idx, 42.0f));
    /* Row-major offset: (1 * 3 + 2) * 4 + 3 = 23, the last element. */
    assert_true(t->data[23] == 42.0f);
    float v = 0.0f;
    assert_ok(nn_tensor_get(t, idx, &v));
    assert_true(v == 42.0f);

    size_t idx2[3] = {0, 1, 2};
    assert_ok(nn_tensor_set(t, idx2, -1.0f));
    assert_true(t->data[6] == -1.0f);

    size_t bad[3] = {0, 3, 0};
    v = 7.0f;
    assert_error(nn_tensor_get(t, bad, &v), NN_ERR_SHAPE, "3");
    assert_true(v == 7.0f);
    assert_error(nn_tensor_set(t, bad, 1.0f), NN_ERR_SHAPE, "3");
    size_t bad0[3] = {2, 0, 0};
    assert_status(nn_tensor_get(t, bad0, &v), NN_ERR_SHAPE);
    /* No element changed by the failed sets. */
    assert_true(nn_kernel_sum(t) == 41.0);

    assert_status(nn_tensor_get(NULL, idx, &v), NN_ERR_NULL_ARG);
    assert_status(nn_tensor_get(t, NULL, &v), NN_ERR_NULL_ARG);
    assert_status(nn_tensor_get(t, idx, NULL), NN_ERR_NULL_ARG);
    assert_status(nn_tensor_set(NULL, idx, 0.0f), NN_ERR_NULL_ARG);
    assert_status(nn_tensor_set(t, NULL, 0.0f), NN_ERR_NULL_ARG);
    nn_tensor_free(t);
}

static void test_get2d_set2d(void **state)
{
    (void)state;
    nn_tensor *t = NULL;
    assert_ok(nn_tensor_new2d(3, 5, &t));
    for (size_t i = 0; i < 3; i++)
        for (size_t j = 0; j < 5; j++)
            nn_tensor_set2d(t, i, j, (float)(10 * i + j));
    for (size_t k = 0; k < 15; k++)
        assert_true(t->data[k] == (float)(10 * (k / 5) + k % 5));
    assert_true(nn_tensor_get2d(t, 2, 4) == 24.0f);
    nn_tensor_free(t);
}

static void test_all_finite(void **state)
{
    (void)state;
    float d[4] = {1.0f, -FLT_MAX, FLT_MAX, FLT_MIN};
    nn_tensor t = nn_tensor_view1d(d, 4);
    assert_true(nn_tensor_all_finite(&t));
    d[2] = NAN;
    assert_false(nn_tensor_all_finite(&t));
    d[2] = INFINITY;
    assert_false(nn_tensor_all_finite(&t));
    d[2] = -INFINITY;
    assert_false(nn_tensor_all_finite(&t));
    d[2] = 0.0f;
    d[3] = NAN; /* the last element is looked at too */
    assert_false(nn_tensor_all_finite(&t));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_is_zeroed_with_shape),
        cmocka_unit_test(test_new_errors),
        cmocka_unit_test_teardown(test_new_out_of_memory, nn_test_alloc_teardown),
        cmocka_unit_test_teardown(test_allocator_hook, nn_test_alloc_teardown),
        cmocka_unit_test(test_views),
        cmocka_unit_test(test_rows),
        cmocka_unit_test(test_same_shape),
        cmocka_unit_test(test_fill_and_copy),
        cmocka_unit_test(test_get_set_checked),
        cmocka_unit_test(test_get2d_set2d),
        cmocka_unit_test(test_all_finite),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
