/* test_dataset.c - data sets: ownership, subsets, seeded splits, the batch iterator,
 * class labels. Rows carry their own index (x[i] = (i, -i), y[i] = 10 i) so every
 * check can tell exactly which rows went where. */
#include "nn_test.h"

static nn_dataset *indexed(size_t n)
{
    nn_tensor *x = NULL, *y = NULL;
    assert_ok(nn_tensor_new2d(n, 2, &x));
    assert_ok(nn_tensor_new2d(n, 1, &y));
    for (size_t i = 0; i < n; i++) {
        x->data[2 * i] = (float)i;
        x->data[2 * i + 1] = -(float)i;
        y->data[i] = 10.0f * (float)i;
    }
    nn_dataset *d = NULL;
    assert_ok(nn_dataset_new(x, y, &d));
    return d;
}

/* Row index held by row r of x, checking that x's other column and y agree with it. */
static size_t row_id(const nn_tensor *x, const nn_tensor *y, size_t r)
{
    float id = x->data[r * 2];
    assert_close(x->data[r * 2 + 1], -id, 0, 0);
    assert_close(y->data[r], 10.0f * id, 0, 0);
    return (size_t)id;
}

static void test_new_takes_ownership(void **state)
{
    (void)state;
    nn_dataset *d = indexed(5);
    assert_int_equal(nn_dataset_size(d), 5);
    assert_int_equal(nn_dataset_in_width(d), 2);
    assert_int_equal(nn_dataset_target_width(d), 1);
    assert_close(nn_dataset_x(d)->data[8], 4.0, 0, 0);
    nn_dataset_free(d); /* frees the tensors: ASan would report a leak otherwise */
    nn_dataset_free(NULL);
    assert_null(nn_dataset_x(NULL));
    assert_int_equal(nn_dataset_size(NULL), 0);

    /* On failure the tensors stay the caller's. */
    nn_tensor *x = NULL, *y = NULL;
    assert_ok(nn_tensor_new2d(3, 2, &x));
    assert_ok(nn_tensor_new2d(4, 1, &y));
    nn_dataset *bad = (nn_dataset *)&bad;
    assert_error(nn_dataset_new(x, y, &bad), NN_ERR_SHAPE, "3 rows", "4");
    assert_null(bad);
    assert_error(nn_dataset_new(x, x, &bad), NN_ERR_INVALID_ARG, "distinct");
    float buf[3];
    nn_tensor view = nn_tensor_view2d(buf, 3, 1);
    assert_error(nn_dataset_new(x, &view, &bad), NN_ERR_INVALID_ARG, "owning");
    nn_tensor v1 = nn_tensor_view1d(buf, 3);
    assert_error(nn_dataset_new(x, &v1, &bad), NN_ERR_SHAPE, "2-D");
    nn_tensor x0 = nn_tensor_view2d(buf, 0, 2), y0 = nn_tensor_view2d(buf, 0, 1);
    assert_error(nn_dataset_copy(&x0, &y0, &bad), NN_ERR_INVALID_ARG, "no rows");
    assert_null(bad);
    nn_tensor xw = nn_tensor_view2d(buf, 2, 0), yw = nn_tensor_view2d(buf, 2, 1);
    assert_error(nn_dataset_copy(&xw, &yw, &bad), NN_ERR_INVALID_ARG, "x (2, 0) or y (2, 1) has no columns");
    assert_null(bad);
    /* ...but a copy of views is fine. */
    buf[0] = 7;
    assert_ok(nn_dataset_copy(x, &view, &bad));
    buf[0] = 8;
    assert_close(nn_dataset_y(bad)->data[0], 7.0, 0, 0);
    nn_dataset_free(bad);
    nn_tensor_free(x);
    nn_tensor_free(y);
}

static void test_subset(void **state)
{
    (void)state;
    nn_dataset *d = indexed(6), *s = NULL;
    assert_ok(nn_dataset_subset(d, 2, 3, &s));
    assert_int_equal(nn_dataset_size(s), 3);
    for (size_t r = 0; r < 3; r++)
        assert_int_equal(row_id(nn_dataset_x(s), nn_dataset_y(s), r), 2 + r);
    nn_dataset_free(s);
    assert_error(nn_dataset_subset(d, 4, 3, &s), NN_ERR_INVALID_ARG, "[4, 4 + 3)", "6");
    assert_null(s);
    assert_error(nn_dataset_subset(d, 0, 0, &s), NN_ERR_INVALID_ARG, "non-empty");
    assert_error(nn_dataset_subset(d, SIZE_MAX, 2, &s), NN_ERR_INVALID_ARG, "nn_dataset_subset");
    nn_dataset_free(d);
}

/* Checks a split of n rows: sizes, every row exactly once, order kept, rows intact.
 * Returns a bit mask of the validation rows. */
static unsigned long check_split(const nn_dataset *train, const nn_dataset *val, size_t n,
                                 size_t n_val)
{
    assert_int_equal(nn_dataset_size(val), n_val);
    assert_int_equal(nn_dataset_size(train), n - n_val);
    unsigned long seen = 0, val_mask = 0;
    const nn_dataset *parts[2] = {train, val};
    for (int p = 0; p < 2; p++) {
        size_t prev = 0;
        for (size_t r = 0; r < nn_dataset_size(parts[p]); r++) {
            size_t id = row_id(nn_dataset_x(parts[p]), nn_dataset_y(parts[p]), r);
            assert_true(id < n);
            assert_false(seen & (1ul << id)); /* disjoint, and no row twice */
            seen |= 1ul << id;
            if (p == 1)
                val_mask |= 1ul << id;
            if (r > 0)
                assert_true(id > prev); /* data set order kept */
            prev = id;
        }
    }
    assert_int_equal(seen, (1ul << n) - 1); /* every row */
    return val_mask;
}

static void test_split(void **state)
{
    (void)state;
    nn_dataset *d = indexed(20), *train = NULL, *val = NULL;

    /* Ordered: the last round(0.25 * 20) = 5 rows. */
    assert_ok(nn_dataset_split(d, 0.25, NULL, &train, &val));
    assert_int_equal(check_split(train, val, 20, 5), 0xF8000ul);
    nn_dataset_free(train);
    nn_dataset_free(val);

    /* Seeded: same seed, same split; another seed, another split. round(0.1 * 20) = 2,
     * round(0.33 * 20) = round(6.6) = 7. */
    unsigned long masks[3];
    uint64_t seeds[3] = {1, 1, 2};
    for (int k = 0; k < 3; k++) {
        nn_rng rng;
        nn_rng_seed(&rng, seeds[k], 0);
        assert_ok(nn_dataset_split(d, 0.33, &rng, &train, &val));
        masks[k] = check_split(train, val, 20, 7);
        nn_dataset_free(train);
        nn_dataset_free(val);
    }
    assert_int_equal(masks[0], masks[1]);
    assert_int_not_equal(masks[0], masks[2]);
    assert_int_not_equal(masks[0], 0xFE000ul); /* not simply the last rows */
    nn_rng rng;
    nn_rng_seed(&rng, 3, 0);
    assert_ok(nn_dataset_split(d, 0.1, &rng, &train, &val));
    check_split(train, val, 20, 2);
    nn_dataset_free(train);
    nn_dataset_free(val);

    /* Fractions outside (0, 1), or leaving a part empty. */
    train = val = (nn_dataset *)&train;
    assert_error(nn_dataset_split(d, 0.0, NULL, &train, &val), NN_ERR_INVALID_ARG, "0 is not in");
    assert_null(train);
    assert_null(val);
    assert_error(nn_dataset_split(d, 1.0, NULL, &train, &val), NN_ERR_INVALID_ARG, "(0, 1)");
    assert_error(nn_dataset_split(d, NAN, NULL, &train, &val), NN_ERR_INVALID_ARG, "nan");
    assert_error(nn_dataset_split(d, 0.01, NULL, &train, &val), NN_ERR_INVALID_ARG,
                 "leaves 0 for validation and 20 for training");
    assert_error(nn_dataset_split(d, 0.99, NULL, &train, &val), NN_ERR_INVALID_ARG,
                 "leaves 20 for validation and 0");
    assert_error(nn_dataset_split(NULL, 0.5, NULL, &train, &val), NN_ERR_NULL_ARG, "'d'");
    nn_dataset_free(d);
}

/* The permutation of 0..n-1 the header promises: Fisher-Yates from the top down, drawing
 * nn_rng_below(i) for i = n..2, applied to the identity. */
static void reference_order(nn_rng *rng, size_t n, size_t *order)
{
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    for (size_t i = n; i > 1; i--) {
        size_t j = nn_rng_below(rng, (uint32_t)i);
        size_t t = order[i - 1];
        order[i - 1] = order[j];
        order[j] = t;
    }
}

/* Runs one epoch, checking batch sizes (all batch_size but the last) and that every row
 * comes exactly once; order[] receives the rows in the order visited. */
static void run_epoch(nn_batch_iter *it, size_t n, size_t bs, size_t *order)
{
    nn_tensor bx, by;
    size_t seen = 0, batches = 0, b;
    unsigned char hit[64] = {0};
    assert_true(n <= 64);
    while ((b = nn_batch_iter_next(it, &bx, &by)) > 0) {
        assert_int_equal(b, seen + bs <= n ? bs : n - seen);
        assert_int_equal(bx.shape[0], b);
        assert_int_equal(bx.shape[1], 2);
        assert_int_equal(by.shape[0], b);
        assert_int_equal(by.shape[1], 1);
        for (size_t r = 0; r < b; r++) {
            size_t id = row_id(&bx, &by, r);
            assert_int_equal(hit[id], 0);
            hit[id] = 1;
            order[seen++] = id;
        }
        batches++;
    }
    assert_int_equal(seen, n);
    assert_int_equal(batches, (n + bs - 1) / bs);
    assert_int_equal(nn_batch_iter_batches(it), batches);
    assert_memory_equal(nn_batch_iter_order(it), order, n * sizeof *order);
}

static void test_batch_iter_orders(void **state)
{
    (void)state;
    enum { N = 23, BS = 5 };
    nn_dataset *d = indexed(N);

    /* Unshuffled: data set order, every epoch. */
    nn_batch_iter *it = NULL;
    assert_ok(nn_batch_iter_new(d, BS, NULL, &it));
    assert_null(nn_batch_iter_order(it));
    size_t order[N];
    for (int epoch = 0; epoch < 2; epoch++) {
        run_epoch(it, N, BS, order);
        for (size_t i = 0; i < N; i++)
            assert_int_equal(order[i], i);
    }
    nn_batch_iter_free(it);

    /* Shuffled: each epoch is the documented permutation drawn from the generator. */
    nn_rng rng, ref;
    nn_rng_seed(&rng, 42, 0);
    nn_rng_seed(&ref, 42, 0);
    assert_ok(nn_batch_iter_new(d, BS, &rng, &it));
    size_t first[N], want[N];
    for (int epoch = 0; epoch < 3; epoch++) {
        run_epoch(it, N, BS, order);
        reference_order(&ref, N, want);
        assert_memory_equal(order, want, sizeof want);
        if (epoch == 0)
            memcpy(first, order, sizeof first);
        else
            assert_memory_not_equal(order, first, sizeof first); /* a new order each epoch */
    }
    nn_batch_iter_free(it);

    /* Same seed, same orders; another seed, another order. */
    nn_rng_seed(&rng, 42, 0);
    assert_ok(nn_batch_iter_new(d, BS, &rng, &it));
    run_epoch(it, N, BS, order);
    assert_memory_equal(order, first, sizeof first);
    nn_batch_iter_free(it);
    nn_rng_seed(&rng, 43, 0);
    assert_ok(nn_batch_iter_new(d, BS, &rng, &it));
    run_epoch(it, N, BS, order);
    assert_memory_not_equal(order, first, sizeof first);

    /* restart abandons an epoch half-way; the next one is complete. */
    nn_tensor bx, by;
    assert_int_equal(nn_batch_iter_next(it, &bx, &by), BS);
    nn_batch_iter_restart(it);
    run_epoch(it, N, BS, order);
    nn_batch_iter_free(it);

    /* A batch larger than the set: one batch of everything. */
    assert_ok(nn_batch_iter_new(d, 100, NULL, &it));
    run_epoch(it, N, 100, order);
    nn_batch_iter_free(it);
    nn_dataset_free(d);
}

static void test_batch_iter_allocates_nothing_per_batch(void **state)
{
    (void)state;
    nn_test_alloc_install();
    nn_dataset *d = indexed(40);
    nn_rng rng;
    nn_rng_seed(&rng, 5, 0);
    nn_batch_iter *it = NULL;
    assert_ok(nn_batch_iter_new(d, 8, &rng, &it));
    nn_test_alloc_count_from_now();
    size_t order[40];
    for (int epoch = 0; epoch < 3; epoch++)
        run_epoch(it, 40, 8, order);
    assert_int_equal(nn_test_alloc()->calls, 0);
    nn_batch_iter_free(it);
    nn_dataset_free(d);
    assert_int_equal(nn_test_alloc()->live, 0);
}

static void test_batch_iter_errors(void **state)
{
    (void)state;
    nn_dataset *d = indexed(3);
    nn_batch_iter *it = (nn_batch_iter *)&it;
    assert_error(nn_batch_iter_new(d, 0, NULL, &it), NN_ERR_INVALID_ARG, "batch_size is 0");
    assert_null(it);
    assert_error(nn_batch_iter_new(NULL, 2, NULL, &it), NN_ERR_NULL_ARG, "'d'");
    nn_tensor bx, by;
    assert_int_equal(nn_batch_iter_next(NULL, &bx, &by), 0);
    assert_int_equal(nn_batch_iter_batches(NULL), 0);
    /* ceil(3 / SIZE_MAX) is 1: the count wrapped to 0 through n + size - 1 */
    assert_ok(nn_batch_iter_new(d, SIZE_MAX, NULL, &it));
    assert_int_equal(nn_batch_iter_batches(it), 1);
    assert_int_equal(nn_batch_iter_next(it, &bx, &by), 3); /* its rows: all of them */
    assert_int_equal(bx.shape[0], 3);
    assert_int_equal(nn_batch_iter_next(it, &bx, &by), 0);
    nn_batch_iter_free(it);
    assert_null(nn_batch_iter_order(NULL));
    nn_batch_iter_restart(NULL);
    nn_batch_iter_free(NULL);
    nn_dataset_free(d);
}

static void test_allocation_failures(void **state)
{
    (void)state;
    nn_test_alloc_install();
    nn_dataset *d = indexed(10);
    long base = nn_test_alloc()->live;
    size_t k;
    for (k = 1;; k++) {
        nn_dataset *train = NULL, *val = NULL;
        nn_rng rng;
        nn_rng_seed(&rng, 9, 0);
        nn_test_alloc_fail_nth(k);
        nn_status st = nn_dataset_split(d, 0.3, &rng, &train, &val);
        if (st == NN_OK) {
            nn_dataset_free(train);
            nn_dataset_free(val);
            break;
        }
        assert_status_was(st, NN_ERR_NOMEM);
        assert_null(train);
        assert_null(val);
        assert_int_equal(nn_test_alloc()->live, base);
    }
    assert_true(k > 8); /* index buffers, then two data sets of two tensors each */
    for (k = 1;; k++) {
        nn_batch_iter *it = NULL;
        nn_test_alloc_fail_nth(k);
        nn_status st = nn_batch_iter_new(d, 4, NULL, &it);
        if (st == NN_OK) {
            nn_batch_iter_free(it);
            break;
        }
        assert_status_was(st, NN_ERR_NOMEM);
        assert_int_equal(nn_test_alloc()->live, base);
    }
    assert_int_equal(k, 5);
    nn_dataset_free(d);
    assert_int_equal(nn_test_alloc()->live, 0);
}

static void test_labels(void **state)
{
    (void)state;
    int labels[5] = {2, 0, 1, 2, 3};
    nn_tensor *idx = NULL, *oh = NULL;
    assert_ok(nn_dataset_index_targets(labels, 5, 4, &idx));
    assert_int_equal(idx->shape[0], 5);
    assert_int_equal(idx->shape[1], 1);
    for (size_t i = 0; i < 5; i++)
        assert_close(idx->data[i], labels[i], 0, 0);
    assert_ok(nn_dataset_one_hot(idx, 4, &oh));
    assert_int_equal(oh->shape[0], 5);
    assert_int_equal(oh->shape[1], 4);
    static const float want[20] = {0, 0, 1, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1};
    for (size_t k = 0; k < 20; k++)
        assert_close(oh->data[k], want[k], 0, 0);
    nn_tensor_free(oh);

    /* Index targets feed cross_entropy, one-hot rows give the same loss. */
    float logits[20];
    for (size_t k = 0; k < 20; k++)
        logits[k] = (float)((k * 7) % 5) - 2.0f;
    nn_tensor pred = nn_tensor_view2d(logits, 5, 4);
    assert_ok(nn_dataset_one_hot(idx, 4, &oh));
    nn_loss *ce = NULL;
    assert_ok(nn_loss_cross_entropy_new(&ce));
    double l_idx = 0, l_oh = 0;
    assert_ok(nn_loss_eval(ce, &pred, idx, &l_idx, NULL));
    assert_ok(nn_loss_eval(ce, &pred, oh, &l_oh, NULL));
    assert_close(l_idx, l_oh, 1e-12, 0);
    nn_loss_free(ce);
    nn_tensor_free(oh);

    /* A 1-D index works too. */
    nn_tensor flat = nn_tensor_view1d(idx->data, 5);
    assert_ok(nn_dataset_one_hot(&flat, 4, &oh));
    assert_close(oh->data[4 * 4 + 3], 1.0, 0, 0);
    nn_tensor_free(oh);

    oh = (nn_tensor *)&oh;
    assert_error(nn_dataset_one_hot(idx, 3, &oh), NN_ERR_INVALID_ARG, "row 4", "3 is not a class",
                 "0..2");
    assert_null(oh);
    idx->data[1] = 0.5f;
    assert_error(nn_dataset_one_hot(idx, 4, &oh), NN_ERR_INVALID_ARG, "row 1", "0.5");
    idx->data[1] = -1.0f;
    assert_error(nn_dataset_one_hot(idx, 4, &oh), NN_ERR_INVALID_ARG, "row 1", "-1");
    idx->data[1] = NAN;
    assert_error(nn_dataset_one_hot(idx, 4, &oh), NN_ERR_INVALID_ARG, "row 1", "nan");
    assert_error(nn_dataset_one_hot(idx, 0, &oh), NN_ERR_INVALID_ARG, "classes 0");
    float two[4] = {0};
    nn_tensor wide = nn_tensor_view2d(two, 2, 2);
    assert_error(nn_dataset_one_hot(&wide, 4, &oh), NN_ERR_SHAPE, "(2, 2)");
    nn_tensor_free(idx);

    idx = (nn_tensor *)&idx;
    labels[3] = 4;
    assert_error(nn_dataset_index_targets(labels, 5, 4, &idx), NN_ERR_INVALID_ARG, "labels[3] is 4",
                 "0..3");
    assert_null(idx);
    labels[3] = -2;
    assert_error(nn_dataset_index_targets(labels, 5, 4, &idx), NN_ERR_INVALID_ARG,
                 "labels[3] is -2");
    assert_error(nn_dataset_index_targets(labels, 0, 4, &idx), NN_ERR_INVALID_ARG, "0 labels");
    assert_error(nn_dataset_index_targets(labels, 5, (size_t)1 << 25, &idx), NN_ERR_INVALID_ARG,
                 "2^24");
}

static void test_standardize(void **state)
{
    (void)state;
    nn_dataset *d = indexed(4); /* column 0: 0 1 2 3, mean 1.5, population std sqrt(1.25) */
    nn_scaler *s = NULL;
    assert_ok(nn_scaler_fit(nn_dataset_x(d), &s));
    assert_ok(nn_dataset_standardize(d, s));
    assert_close(nn_dataset_x(d)->data[0], -1.5 / sqrt(1.25), 1e-6, 0);
    assert_close(nn_dataset_x(d)->data[1], 1.5 / sqrt(1.25), 1e-6, 0);
    assert_close(nn_dataset_y(d)->data[3], 30.0, 0, 0); /* targets untouched */
    nn_scaler_free(s);
    float m[3] = {0}, sd[3] = {1, 1, 1};
    assert_ok(nn_scaler_new(3, m, sd, &s));
    assert_error(nn_dataset_standardize(d, s), NN_ERR_SHAPE, "width is 3");
    nn_scaler_free(s);
    nn_dataset_free(d);
}

/* A view of nothing (elements, NULL data) is NN_ERR_NULL_ARG, as the network's passes
 * say; nn_dataset_copy and nn_dataset_one_hot crashed on it. */
static void test_view_of_nothing(void **state)
{
    (void)state;
    float buf[6] = {0, 1, 2, 3, 4, 5};
    nn_tensor x = nn_tensor_view2d(buf, 3, 2), y = nn_tensor_view2d(buf, 3, 1);
    nn_tensor xn = nn_tensor_view2d(NULL, 3, 2), yn = nn_tensor_view2d(NULL, 3, 1);
    nn_dataset *d = (nn_dataset *)&d;
    assert_error(nn_dataset_copy(&xn, &y, &d), NN_ERR_NULL_ARG, "nn_dataset_copy", "no data");
    assert_null(d);
    assert_error(nn_dataset_copy(&x, &yn, &d), NN_ERR_NULL_ARG, "nn_dataset_copy", "y (3, 1)");
    nn_tensor *t = (nn_tensor *)&t;
    assert_error(nn_dataset_one_hot(&yn, 3, &t), NN_ERR_NULL_ARG, "nn_dataset_one_hot");
    assert_null(t);
}

/* Errors name the function called: a 0-row index and an allocation failure were
 * reported as nn_tensor_new's, a scaler of the wrong width as nn_scaler_apply's. */
static void test_errors_name_the_function(void **state)
{
    (void)state;
    float buf[6] = {0, 1, 2, 3, 4, 5};
    nn_tensor y = nn_tensor_view2d(buf, 3, 1);
    nn_tensor *t = (nn_tensor *)&t;
    nn_dataset *d = NULL;
    nn_tensor none = nn_tensor_view2d(buf, 0, 1);
    assert_error(nn_dataset_one_hot(&none, 3, &t), NN_ERR_INVALID_ARG, "nn_dataset_one_hot",
                 "no rows");

    nn_test_alloc_install();
    int labels[2] = {0, 1};
    nn_test_alloc_fail_nth(1);
    assert_error(nn_dataset_index_targets(labels, 2, 2, &t), NN_ERR_NOMEM,
                 "nn_dataset_index_targets");
    assert_null(t);
    nn_test_alloc_fail_nth(1);
    assert_error(nn_dataset_one_hot(&y, 6, &t), NN_ERR_NOMEM, "nn_dataset_one_hot");
    assert_null(t);
    nn_test_alloc_reset();
    nn_set_allocator(NULL);

    d = indexed(4);
    nn_scaler *s = NULL;
    float m[3] = {0}, sd[3] = {1, 1, 1};
    assert_ok(nn_scaler_new(3, m, sd, &s));
    assert_error(nn_dataset_standardize(d, s), NN_ERR_SHAPE, "nn_dataset_standardize",
                 "width is 3");
    nn_scaler_free(s);
    nn_dataset_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_takes_ownership),
        cmocka_unit_test(test_subset),
        cmocka_unit_test(test_split),
        cmocka_unit_test(test_batch_iter_orders),
        cmocka_unit_test_teardown(test_batch_iter_allocates_nothing_per_batch,
                                  nn_test_alloc_teardown),
        cmocka_unit_test(test_batch_iter_errors),
        cmocka_unit_test_teardown(test_allocation_failures, nn_test_alloc_teardown),
        cmocka_unit_test(test_labels),
        cmocka_unit_test(test_standardize),
        cmocka_unit_test(test_view_of_nothing),
        cmocka_unit_test_teardown(test_errors_name_the_function, nn_test_alloc_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
