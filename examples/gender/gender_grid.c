/* gender_grid.c - the gender example's trained network evaluated over a grid of weights
 * and heights, for drawing its decision boundary (tools/plot_gender.sh).
 *
 * Trains exactly as gender.c does (the lesson's 2-2-1 sigmoid network, weights and
 * biases from N(0, 1) drawn from seed 42 unless --seed says otherwise, MSE, SGD with
 * lr 0.1, 1000 epochs of per-sample steps in data set order, inputs shifted by 135 lb
 * and 66 in), then prints two gnuplot data blocks on stdout:
 *
 *   index 0: "weight height p" over the grid, one blank line after each weight (a
 *            gnuplot scan), p the network's output (1 = F, 0 = M);
 *   index 1: "weight height p name" for the four training people and Emily and Frank.
 *
 *   nn_gender_grid [--seed N] [--step LB] > gender_grid.dat
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nn/nn.h>

#include "gender_nn.h" /* static const char gender_nn[]: the text of gender.nn */

#define CHECK(call)                                                                                \
    do {                                                                                           \
        nn_status st_ = (call);                                                                    \
        if (st_ != NN_OK) {                                                                        \
            fprintf(stderr, "nn_gender_grid: %s: %s\n", nn_strerror(st_), nn_last_error());        \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

#define WEIGHT_SHIFT 135.0f /* the lesson's shift, as in gender.c */
#define HEIGHT_SHIFT 66.0f

/* The grid: wide enough to hold everyone with a margin. */
#define W_MIN 90.0
#define W_MAX 200.0
#define H_MIN 54.0
#define H_MAX 80.0

typedef struct person {
    const char *name;
    float weight, height; /* lb, in */
} person;

/* gender.c's training set (F = 1, M = 0) and the two people it classifies. */
static const person people[6] = {{"Alice", 133, 65}, {"Bob", 160, 72},   {"Charlie", 152, 70},
                                 {"Diana", 120, 60}, {"Emily", 128, 63}, {"Frank", 155, 68}};
static const float labels[4] = {1, 0, 0, 1};

static float predict(nn_net *net, float weight, float height)
{
    float in[2] = {weight - WEIGHT_SHIFT, height - HEIGHT_SHIFT}, out[1];
    nn_tensor x = nn_tensor_view2d(in, 1, 2), y = nn_tensor_view2d(out, 1, 1);
    CHECK(nn_net_predict(net, &x, &y));
    return out[0];
}

int main(int argc, char **argv)
{
    unsigned long long seed = 42;
    double step = 0.5;
    for (int i = 1; i < argc; i++) {
        char *end = NULL;
        errno = 0;
        if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc) {
            seed = strtoull(argv[++i], &end, 10);
            if (!isdigit((unsigned char)argv[i][0])) /* '' and '-1' are not seeds */
                errno = EINVAL;
        } else if (strcmp(argv[i], "--step") == 0 && i + 1 < argc) {
            step = strtod(argv[++i], &end);
            if (!(step >= 0.05 && step <= 10))
                errno = ERANGE;
        } else {
            fprintf(stderr, "usage: nn_gender_grid [--seed N] [--step LB]\n");
            return 2;
        }
        if (errno != 0 || *end != '\0') {
            fprintf(stderr, "nn_gender_grid: bad value '%s'\n", argv[i]);
            return 2;
        }
    }

    /* The network of gender.c, from the same compiled-in gender.nn. */
    nn_spec *spec;
    nn_spec_error err;
    if (nn_spec_parse(gender_nn, "gender.nn", NULL, &spec, &err) != NN_OK) {
        fprintf(stderr, "nn_gender_grid: %s:%zu:%zu: %s\n", err.source, err.line, err.column,
                err.message);
        return 1;
    }
    nn_train_settings train = nn_spec_training(spec);
    nn_rng rng;
    nn_rng_seed(&rng, seed, 0);
    nn_net *net;
    CHECK(nn_spec_build(spec, &rng, &net));
    nn_spec_free(spec);

    float xs[4][2], ys[4][1];
    for (int i = 0; i < 4; i++) {
        xs[i][0] = people[i].weight - WEIGHT_SHIFT;
        xs[i][1] = people[i].height - HEIGHT_SHIFT;
        ys[i][0] = labels[i];
    }
    nn_tensor x = nn_tensor_view2d(&xs[0][0], 4, 2), y = nn_tensor_view2d(&ys[0][0], 4, 1);
    nn_fit_params fp = nn_train_fit_params(&train, NULL); /* no shuffling in gender.nn */
    fp.progress = NN_PROGRESS_OFF;
    CHECK(nn_net_fit(net, &x, &y, &fp, NULL));

    printf("# nn_gender_grid: the lesson's 2-2-1 network, seed %llu, after 1000 epochs\n", seed);
    printf("# index 0: weight_lb height_in p(F)\n");
    int nw = (int)((W_MAX - W_MIN) / step + 0.5), nh = (int)((H_MAX - H_MIN) / (step / 2) + 0.5);
    for (int i = 0; i <= nw; i++) {
        double w = W_MIN + i * step;
        for (int j = 0; j <= nh; j++) {
            double h = H_MIN + j * step / 2;
            printf("%g %g %.6f\n", w, h, (double)predict(net, (float)w, (float)h));
        }
        printf("\n");
    }
    printf("\n# index 1: weight_lb height_in p(F) name\n");
    for (int i = 0; i < 6; i++)
        printf("%g %g %.6f %s\n", (double)people[i].weight, (double)people[i].height,
               (double)predict(net, people[i].weight, people[i].height), people[i].name);
    nn_net_free(net);
    return 0;
}
