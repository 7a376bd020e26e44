/* scalar_221.c - the lesson's 2-2-1 network as a hand-written scalar C loop.
 *
 * The floor for nn's per-sample path: what the lesson's training loop costs when
 * every weight is a named float and nothing is generic. It does the same work as
 * nn_bench's lesson suite (sigmoid hidden and output units, MSE, SGD with learning
 * rate 0.1, one update per sample in data set order) from the same nine initial
 * values, so the final losses agree to rounding. Does not use nn.
 *
 *   scalar_221 [--epochs E] [--repeats R] [--init FILE]
 *
 * FILE holds 9 little-endian float32 in nn's parameter order: W1 (2x2, row
 * h = hidden unit), b1 (2), W2 (1x2), b2 (1); without it a fixed set is used.
 * Prints one JSON object.
 */
#define _POSIX_C_SOURCE 199309L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

/* The lesson's activation, as a scalar loop would write it. */
static float sigmoid(float z) { return 1.0f / (1.0f + expf(-z)); }

typedef struct net221 {
    float w[2][2], b[2]; /* hidden: h_i = sigmoid(w[i][0] x0 + w[i][1] x1 + b[i]) */
    float v[2], c;       /* output: o = sigmoid(v[0] h0 + v[1] h1 + c) */
} net221;

static void train(net221 *n, const float x[4][2], const float y[4], size_t epochs, float lr)
{
    for (size_t e = 0; e < epochs; e++) {
        for (int s = 0; s < 4; s++) {
            float x0 = x[s][0], x1 = x[s][1];
            float h0 = sigmoid(n->w[0][0] * x0 + n->w[0][1] * x1 + n->b[0]);
            float h1 = sigmoid(n->w[1][0] * x0 + n->w[1][1] * x1 + n->b[1]);
            float o = sigmoid(n->v[0] * h0 + n->v[1] * h1 + n->c);
            /* dL/dz at the output: MSE's 2 (o - y) times the sigmoid's o (1 - o) */
            float dz = 2.0f * (o - y[s]) * o * (1.0f - o);
            float dz0 = dz * n->v[0] * h0 * (1.0f - h0);
            float dz1 = dz * n->v[1] * h1 * (1.0f - h1);
            n->v[0] -= lr * dz * h0;
            n->v[1] -= lr * dz * h1;
            n->c -= lr * dz;
            n->w[0][0] -= lr * dz0 * x0;
            n->w[0][1] -= lr * dz0 * x1;
            n->b[0] -= lr * dz0;
            n->w[1][0] -= lr * dz1 * x0;
            n->w[1][1] -= lr * dz1 * x1;
            n->b[1] -= lr * dz1;
        }
    }
}

static double mse(const net221 *n, const float x[4][2], const float y[4])
{
    double sum = 0.0;
    for (int s = 0; s < 4; s++) {
        float h0 = sigmoid(n->w[0][0] * x[s][0] + n->w[0][1] * x[s][1] + n->b[0]);
        float h1 = sigmoid(n->w[1][0] * x[s][0] + n->w[1][1] * x[s][1] + n->b[1]);
        float o = sigmoid(n->v[0] * h0 + n->v[1] * h1 + n->c);
        sum += (double)(o - y[s]) * (o - y[s]);
    }
    return sum / 4.0;
}

int main(int argc, char **argv)
{
    size_t epochs = 1000;
    int repeats = 7;
    const char *init = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--epochs") == 0 && i + 1 < argc)
            epochs = strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--repeats") == 0 && i + 1 < argc)
            repeats = atoi(argv[++i]);
        else if (strcmp(argv[i], "--init") == 0 && i + 1 < argc)
            init = argv[++i];
        else {
            fprintf(stderr, "usage: scalar_221 [--epochs E] [--repeats R] [--init FILE]\n");
            return 2;
        }
    }
    if (epochs == 0 || repeats < 1 || repeats > 101) {
        fprintf(stderr, "scalar_221: epochs must be > 0 and repeats in 1..101\n");
        return 2;
    }
    /* W1, b1, W2, b2 in nn's order; the default is an arbitrary N(0, 1)-like draw. */
    float p[9] = {0.4967f, -0.1383f, 0.6477f, 1.5230f, -0.2342f, -0.2341f, 1.5792f, 0.7674f, -0.4695f};
    if (init != NULL) {
        FILE *f = fopen(init, "rb");
        if (f == NULL || fread(p, sizeof(float), 9, f) != 9) {
            fprintf(stderr, "scalar_221: cannot read 9 floats from %s\n", init);
            return 1;
        }
        fclose(f);
    }
    /* The lesson's data: weight - 135 lb, height - 66 in; 1 = female. */
    const float x[4][2] = {{-2, -1}, {25, 6}, {17, 4}, {-15, -6}};
    const float y[4] = {1, 0, 0, 1};
    double t[101];
    net221 n;
    for (int r = 0; r < repeats; r++) {
        n = (net221){{{p[0], p[1]}, {p[2], p[3]}}, {p[4], p[5]}, {p[6], p[7]}, p[8]};
        double t0 = now();
        train(&n, x, y, epochs, 0.1f);
        t[r] = now() - t0;
    }
    qsort(t, (size_t)repeats, sizeof t[0], cmp_double);
    double updates = 4.0 * (double)epochs, median = t[repeats / 2];
    printf("{\"bench\":\"lesson_2_2_1\",\"impl\":\"scalar_c\",\"optimizer\":\"sgd\",\"batch\":1,"
           "\"epochs\":%zu,\"updates\":%.0f,\"repeats\":%d,\"seconds_median\":%.6g,"
           "\"seconds_min\":%.6g,\"seconds_max\":%.6g,\"updates_per_s\":%.0f,\"final_loss\":%.9g}\n",
           epochs, updates, repeats, median, t[0], t[repeats - 1], updates / median, mse(&n, x, y));
    return 0;
}
