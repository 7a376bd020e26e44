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

#include "bench_common.h"

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
    lesson_args a;
    int status = lesson_parse(argc, argv, "scalar_221", &a);
    if (status != 0)
        return status;
    const float x[4][2] = LESSON_X, y[4] = LESSON_Y;
    const float *p = a.init;
    const net221 start = {{{p[0], p[1]}, {p[2], p[3]}}, {p[4], p[5]}, {p[6], p[7]}, p[8]};
    double t[LESSON_MAX_REPEATS];
    net221 n = start;
    for (int r = 0; r < a.repeats; r++) {
        n = start;
        double t0 = bench_now();
        train(&n, x, y, a.epochs, 0.1f);
        t[r] = bench_now() - t0;
    }
    lesson_report("scalar_c", &a, t, mse(&n, x, y));
    return 0;
}
