#define _POSIX_C_SOURCE 200809L /* access, getenv */
/* test_fashion.c - the real data: Fashion-MNIST's test files as the Debian package
 * dataset-fashion-mnist installs them (or in $NN_FASHION_MNIST_DIR), loaded, checked
 * against what is known about them, and a short training on a 1 000-image subset.
 * Skipped, saying why, when the files are not there. */
#include "nn_test.h"

#include <unistd.h>

static char images[512], labels[512];

static int find_data(void)
{
    const char *dir = getenv("NN_FASHION_MNIST_DIR");
    if (dir == NULL || dir[0] == '\0')
        dir = "/usr/share/datasets/fashion-mnist";
    snprintf(images, sizeof images, "%s/t10k-images-idx3-ubyte.gz", dir);
    snprintf(labels, sizeof labels, "%s/t10k-labels-idx1-ubyte.gz", dir);
    if (access(images, R_OK) == 0 && access(labels, R_OK) == 0)
        return 1;
    print_message("Fashion-MNIST is not installed (%s missing): skipped. Install it with "
                  "`apt-get install dataset-fashion-mnist` or set NN_FASHION_MNIST_DIR.\n",
                  images);
    return 0;
}

/* The t10k files: 10 000 images of 28x28 with exactly 1 000 of each class. */
static void test_files_are_what_they_should_be(void **state)
{
    (void)state;
    if (!find_data())
        skip();
    nn_tensor *x = NULL;
    nn_idx_info info;
    assert_ok(nn_idx_load(images, 1.0f / 255, &x, &info));
    assert_int_equal(info.type, NN_IDX_U8);
    assert_int_equal(info.ndim, 3);
    assert_int_equal(info.dims[0], 10000);
    assert_int_equal(info.dims[1], 28);
    assert_int_equal(info.dims[2], 28);
    assert_int_equal(x->shape[1], 784);
    float lo = 1, hi = 0;
    for (size_t k = 0; k < x->size; k++) {
        lo = x->data[k] < lo ? x->data[k] : lo;
        hi = x->data[k] > hi ? x->data[k] : hi;
    }
    assert_close(lo, 0.0, 0, 0);
    assert_close(hi, 1.0, 1e-7, 0);
    nn_tensor_free(x);

    nn_dataset *d = NULL;
    assert_ok(nn_idx_load_dataset(images, labels, 1.0f / 255, 10, &d));
    size_t count[10] = {0};
    const nn_tensor *y = nn_dataset_y(d);
    for (size_t i = 0; i < y->shape[0]; i++)
        count[(size_t)y->data[i]]++;
    for (size_t c = 0; c < 10; c++)
        assert_int_equal(count[c], 1000);
    /* The first test image is an ankle boot (class 9), the second a pullover (2). */
    assert_close(y->data[0], 9.0, 0, 0);
    assert_close(y->data[1], 2.0, 0, 0);
    nn_dataset_free(d);
}

/* 784-64-10 ReLU, Adam, 10 epochs of shuffled batches of 50 over the first 1 000 test
 * images, scored on the last 1 000 (images never seen): at least 75% (about 80% on
 * this machine; chance is 10%). */
static void test_short_training_on_a_subset(void **state)
{
    (void)state;
    if (!find_data())
        skip();
    nn_dataset *all = NULL, *train = NULL, *held = NULL;
    assert_ok(nn_idx_load_dataset(images, labels, 1.0f / 255, 10, &all));
    assert_ok(nn_dataset_subset(all, 0, 1000, &train));
    assert_ok(nn_dataset_subset(all, 9000, 1000, &held));
    nn_dataset_free(all);

    nn_net *net = NULL;
    assert_ok(nn_net_new(784, &net));
    nn_dense_params h = nn_dense_default_params(64), o = nn_dense_default_params(10);
    nn_layer *l = NULL;
    assert_ok(nn_dense_new(&h, &l));
    assert_ok(nn_net_add(net, l));
    assert_ok(nn_relu_new(&l));
    assert_ok(nn_net_add(net, l));
    assert_ok(nn_dense_new(&o, &l));
    assert_ok(nn_net_add(net, l));
    nn_rng rng;
    nn_rng_seed(&rng, 2024, 0);
    assert_ok(nn_net_init_params(net, &rng));
    nn_loss *ce = NULL;
    assert_ok(nn_loss_cross_entropy_new(&ce));
    assert_ok(nn_net_set_loss(net, ce, 1));
    nn_optim *adam = NULL;
    nn_adam_params ap = nn_adam_default_params();
    ap.lr = 2e-3;
    assert_ok(nn_optim_adam_new_ex(&ap, &adam));
    assert_ok(nn_net_set_optim(net, adam));

    nn_eval_stats before, after;
    assert_ok(nn_evaluate(net, nn_dataset_x(held), nn_dataset_y(held), 250, NULL, 0, &before));
    nn_batch_iter *it = NULL;
    assert_ok(nn_batch_iter_new(train, 50, &rng, &it));
    nn_tensor bx, by;
    double first_epoch = 0, last_epoch = 0;
    for (int epoch = 0; epoch < 10; epoch++) {
        double sum = 0;
        size_t b;
        while ((b = nn_batch_iter_next(it, &bx, &by)) > 0) {
            double loss = 0;
            assert_ok(nn_net_train_step(net, &bx, &by, &loss));
            sum += loss * (double)b;
        }
        if (epoch == 0)
            first_epoch = sum / 1000;
        last_epoch = sum / 1000;
    }
    nn_batch_iter_free(it);
    size_t m[100];
    assert_ok(nn_evaluate(net, nn_dataset_x(held), nn_dataset_y(held), 250, m, 10, &after));
    print_message("Fashion-MNIST subset: train loss %.3f -> %.3f, held-out accuracy %.1f%% -> "
                  "%.1f%%, held-out loss %.3f\n",
                  first_epoch, last_epoch, 100 * before.accuracy, 100 * after.accuracy, after.loss);
    assert_true(after.accuracy >= 0.75);
    assert_true(last_epoch < 0.5 * first_epoch);
    assert_true(after.loss < before.loss);
    size_t total = 0;
    for (size_t k = 0; k < 100; k++)
        total += m[k];
    assert_int_equal(total, 1000);
    nn_net_free(net);
    nn_dataset_free(train);
    nn_dataset_free(held);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_files_are_what_they_should_be),
        cmocka_unit_test(test_short_training_on_a_subset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
