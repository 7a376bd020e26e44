/* bench_lesson.c - per-sample SGD on the lesson's 2-2-1 network, in updates per second.
 *
 * Prints one JSON object per line: the configuration, the number of updates, the
 * median/min/max seconds over the repeats and updates/s at the median. The work is
 * the gender example's training loop (nn_net_fit, batch 1, data set order).
 *
 *   nn_bench_lesson [EPOCHS [REPEATS]]     defaults: 1000 epochs, 7 repeats
 */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <nn/nn.h>

#define CHECK(call)                                                                            \
    do {                                                                                       \
        nn_status st_ = (call);                                                                \
        if (st_ != NN_OK) {                                                                    \
            fprintf(stderr, "nn_bench_lesson: %s\n", nn_last_error());                         \
            exit(1);                                                                           \
        }                                                                                      \
    } while (0)

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static nn_net *lesson_net(uint64_t seed)
{
    nn_net *net;
    nn_layer *l;
    nn_loss *mse;
    nn_optim *sgd;
    nn_rng rng;
    CHECK(nn_net_new(2, &net));
    for (size_t units = 2; units >= 1; units--) {
        nn_dense_params p = nn_dense_default_params(units);
        p.weight_init = p.bias_init = nn_init_normal(0.0, 1.0);
        CHECK(nn_dense_new(&p, &l));
        CHECK(nn_net_add(net, l));
        CHECK(nn_sigmoid_new(&l));
        CHECK(nn_net_add(net, l));
    }
    nn_rng_seed(&rng, seed, 0);
    CHECK(nn_net_init_params(net, &rng));
    CHECK(nn_loss_mse_new(&mse));
    CHECK(nn_net_set_loss(net, mse, 1));
    CHECK(nn_optim_sgd_new(0.1, &sgd));
    CHECK(nn_net_set_optim(net, sgd));
    return net;
}

int main(int argc, char **argv)
{
    size_t epochs = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000;
    int repeats = argc > 2 ? atoi(argv[2]) : 7;
    if (epochs == 0 || repeats < 1 || repeats > 101) {
        fprintf(stderr, "usage: nn_bench_lesson [EPOCHS>0 [REPEATS 1..101]]\n");
        return 2;
    }
    float xs[8] = {-2, -1, 25, 6, 17, 4, -15, -6}, ys[4] = {1, 0, 0, 1};
    nn_tensor x = nn_tensor_view2d(xs, 4, 2), y = nn_tensor_view2d(ys, 4, 1);
    nn_fit_params fp = nn_fit_default_params();
    fp.epochs = epochs;
    fp.batch_size = 1;
    double t[101];
    for (int r = 0; r < repeats; r++) {
        nn_net *net = lesson_net(42);
        double t0 = now();
        CHECK(nn_net_fit(net, &x, &y, &fp, NULL));
        t[r] = now() - t0;
        nn_net_free(net);
    }
    qsort(t, (size_t)repeats, sizeof t[0], cmp_double);
    double updates = 4.0 * (double)epochs, median = t[repeats / 2];
    printf("{\"bench\":\"lesson_2_2_1\",\"optimizer\":\"sgd\",\"batch\":1,\"epochs\":%zu,"
           "\"threads\":%d,\"updates\":%.0f,\"repeats\":%d,\"seconds_median\":%.6f,"
           "\"seconds_min\":%.6f,\"seconds_max\":%.6f,\"updates_per_s\":%.0f}\n",
           epochs, nn_get_num_threads(), updates, repeats, median, t[0], t[repeats - 1],
           updates / median);
    return 0;
}
