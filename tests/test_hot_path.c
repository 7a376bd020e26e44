/* test_hot_path.c - what the benchmarks rely on, checked without timing: a training
 * step allocates nothing once the first is done (the benchmark's MLP with ReLU,
 * cross-entropy on class indices, SGD and Adam, at batch sizes that go through
 * BLAS and through the direct small kernels), and training is bit-for-bit
 * reproducible for a given seed and BLAS thread count. */
#include "nn_test.h"

/* in -> hidden -> hidden/2 -> classes, ReLU between, cross-entropy on indices. */
static nn_net *mlp(size_t in, size_t hidden, size_t classes, int adam, uint64_t seed)
{
    nn_net *net = NULL;
    nn_layer *l = NULL;
    nn_loss *ce = NULL;
    nn_optim *opt = NULL;
    const size_t widths[3] = {hidden, hidden / 2, classes};
    assert_ok(nn_net_new(in, &net));
    for (int i = 0; i < 3; i++) {
        nn_dense_params p = nn_dense_default_params(widths[i]);
        assert_ok(nn_dense_new(&p, &l));
        assert_ok(nn_net_add(net, l));
        if (i < 2) {
            assert_ok(nn_relu_new(&l));
            assert_ok(nn_net_add(net, l));
        }
    }
    nn_rng rng;
    nn_rng_seed(&rng, seed, 0);
    assert_ok(nn_net_init_params(net, &rng));
    assert_ok(nn_loss_cross_entropy_new(&ce));
    assert_ok(nn_net_set_loss(net, ce, 1));
    if (adam) {
        nn_adam_params ap = nn_adam_default_params();
        assert_ok(nn_optim_adam_new_ex(&ap, &opt));
    } else {
        assert_ok(nn_optim_sgd_new(0.05, &opt));
    }
    assert_ok(nn_net_set_optim(net, opt));
    return net;
}

/* n rows of in features in [-1, 1) and class indices below classes. */
static void make_data(size_t n, size_t in, size_t classes, uint64_t seed, nn_tensor **x,
                      nn_tensor **y)
{
    nn_rng rng;
    nn_rng_seed(&rng, seed, 1);
    assert_ok(nn_tensor_new2d(n, in, x));
    assert_ok(nn_tensor_new2d(n, 1, y));
    for (size_t i = 0; i < n * in; i++)
        (*x)->data[i] = 2.0f * nn_rng_uniform(&rng) - 1.0f;
    for (size_t i = 0; i < n; i++)
        (*y)->data[i] = (float)nn_rng_below(&rng, (uint32_t)classes);
}

/* After one step per batch size, further steps of either size allocate nothing. */
static void check_no_allocation(size_t in, size_t hidden, size_t batch, int adam)
{
    nn_test_alloc_install();
    nn_net *net = mlp(in, hidden, 10, adam, 5);
    nn_tensor *x = NULL, *y = NULL;
    make_data(batch, in, 10, 6, &x, &y);
    nn_tensor xs, ys; /* a smaller last batch, as at the end of an epoch */
    assert_ok(nn_tensor_rows(x, 0, batch / 2 + 1, &xs));
    assert_ok(nn_tensor_rows(y, 0, batch / 2 + 1, &ys));
    double loss = 0.0;
    assert_ok(nn_net_train_step(net, x, y, &loss));

    nn_test_alloc_count_from_now();
    for (int s = 0; s < 20; s++)
        assert_ok(nn_net_train_step(net, s % 3 ? x : &xs, s % 3 ? y : &ys, &loss));
    if (nn_test_alloc()->calls != 0)
        fail_msg("%s, %zu-%zu-%zu-10 at batch %zu: %zu allocations in 20 steps after the first",
                 adam ? "adam" : "sgd", in, hidden, hidden / 2, batch, nn_test_alloc()->calls);
    assert_true(isfinite(loss) && loss > 0.0);

    nn_tensor_free(x);
    nn_tensor_free(y);
    nn_net_free(net);
    assert_int_equal(nn_test_alloc()->live, 0);
    nn_set_allocator(NULL);
}

static void test_no_allocation_blas_sizes(void **state)
{
    (void)state;
    /* 784-256-128-10 is the benchmark's net; products of 64 x 784 x 256 go to BLAS. */
    check_no_allocation(784, 256, 64, 0);
    check_no_allocation(784, 256, 64, 1);
}

static void test_no_allocation_small_sizes(void **state)
{
    (void)state;
    /* Batch 1 through 4-4-2-10: every product is small enough for the direct loops. */
    check_no_allocation(4, 4, 1, 0);
    check_no_allocation(4, 4, 1, 1);
}

/* Trains two identical networks on the same batches and requires identical bits. */
static void check_reproducible(int threads, int adam)
{
    assert_ok(nn_set_num_threads(threads));
    nn_tensor *x = NULL, *y = NULL;
    make_data(256, 784, 10, 9, &x, &y);
    float *first = NULL;
    size_t count = 0;
    for (int run = 0; run < 2; run++) {
        nn_net *net = mlp(784, 256, 10, adam, 21);
        nn_fit_params fp = nn_fit_default_params();
        fp.epochs = 2;
        fp.batch_size = 64;
        fp.progress = NN_PROGRESS_OFF;
        assert_ok(nn_net_fit(net, x, y, &fp, NULL));
        float *p = nn_net_params(net, &count);
        if (run == 0) {
            first = malloc(count * sizeof *first);
            assert_non_null(first);
            memcpy(first, p, count * sizeof *first);
        } else if (memcmp(first, p, count * sizeof *first) != 0) {
            size_t i = 0;
            while (memcmp(&first[i], &p[i], sizeof *p) == 0)
                i++;
            fail_msg("%s, %d thread(s): parameter %zu of %zu is %.9g, then %.9g", adam ? "adam" : "sgd",
                     threads, i, count, (double)first[i], (double)p[i]);
        }
        nn_net_free(net);
    }
    free(first);
    nn_tensor_free(x);
    nn_tensor_free(y);
    assert_ok(nn_set_num_threads(1));
}

static void test_reproducible_one_thread(void **state)
{
    (void)state;
    check_reproducible(1, 0);
    check_reproducible(1, 1);
}

static void test_reproducible_two_threads(void **state)
{
    (void)state;
    /* Whether BLAS really runs two threads depends on the library; the guarantee is
     * the same either way. */
    check_reproducible(2, 0);
    check_reproducible(2, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_no_allocation_blas_sizes, nn_test_alloc_teardown),
        cmocka_unit_test_teardown(test_no_allocation_small_sizes, nn_test_alloc_teardown),
        cmocka_unit_test(test_reproducible_one_thread),
        cmocka_unit_test(test_reproducible_two_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
