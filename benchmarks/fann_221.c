/* fann_221.c - the lesson's 2-2-1 network trained per sample with FANN 2.2.
 *
 * Issue 5 puts nn's per-sample target "above FANN": this measures FANN (Debian's
 * libfann-dev, float build) doing the same work as nn_bench's lesson suite, so the
 * two can be compared in one run. Built only when FANN is installed; does not use nn.
 *
 *   fann_221 [--epochs E] [--repeats R] [--init FILE]
 *
 * The same network and updates: sigmoid hidden and output units (FANN_SIGMOID with
 * steepness 0.5 is 1 / (1 + e^-z)), incremental training (one update per sample, in
 * data set order, no momentum), the error function FANN_ERRORFUNC_LINEAR. FANN's
 * output delta is (y - o) o (1 - o) where MSE's gradient is 2 (o - y) o (1 - o), so
 * FANN's learning rate is 0.2 for nn's 0.1: the same step. The arithmetic is not
 * quite the same: FANN computes the sigmoid with a double exp, and its derivative
 * from the output clipped to [0.01, 0.99], so its final loss is near nn's, not
 * equal to it. FILE holds 9 little-endian float32 in nn's
 * parameter order (W1 2x2 by hidden unit, b1, W2 1x2, b2), as for scalar_221.
 * Prints one JSON object.
 */
#define _POSIX_C_SOURCE 199309L
#include <floatfann.h>

#include "bench_common.h"

/* Neurons of fann_create_standard(3, 2, 2, 1), each layer's bias neuron last:
 * inputs 0, 1 and bias 2; hidden 3, 4 and bias 5; output 6. The weight of the
 * connection from -> to, taken from nn's parameter order. */
static int weight_of(const float p[9], unsigned from, unsigned to, float *w)
{
    if (to == 3 || to == 4) { /* hidden unit h: W1[h][0], W1[h][1], b1[h] */
        unsigned h = to - 3;
        if (from <= 1)
            *w = p[2 * h + from];
        else if (from == 2)
            *w = p[4 + h];
        else
            return 0;
        return 1;
    }
    if (to == 6) { /* output: W2[0][0], W2[0][1], b2 */
        if (from == 3 || from == 4)
            *w = p[6 + (from - 3)];
        else if (from == 5)
            *w = p[8];
        else
            return 0;
        return 1;
    }
    return 0;
}

/* A new 2-2-1 FANN network set up as described above, with the initial weights p. */
static struct fann *make_net(const float p[9])
{
    struct fann *ann = fann_create_standard(3, 2, 2, 1);
    if (ann == NULL)
        return NULL;
    fann_set_activation_function_hidden(ann, FANN_SIGMOID);
    fann_set_activation_function_output(ann, FANN_SIGMOID);
    fann_set_activation_steepness_hidden(ann, 0.5f);
    fann_set_activation_steepness_output(ann, 0.5f);
    fann_set_training_algorithm(ann, FANN_TRAIN_INCREMENTAL);
    fann_set_train_error_function(ann, FANN_ERRORFUNC_LINEAR);
    fann_set_learning_momentum(ann, 0.0f);
    fann_set_learning_rate(ann, 0.2f);
    unsigned n = fann_get_total_connections(ann);
    struct fann_connection *c = calloc(n, sizeof *c);
    if (c == NULL || n != 9) {
        free(c);
        fann_destroy(ann);
        return NULL;
    }
    fann_get_connection_array(ann, c);
    for (unsigned i = 0; i < n; i++)
        if (!weight_of(p, c[i].from_neuron, c[i].to_neuron, &c[i].weight)) {
            free(c);
            fann_destroy(ann);
            return NULL;
        }
    fann_set_weight_array(ann, c, n);
    free(c);
    return ann;
}

int main(int argc, char **argv)
{
    lesson_args a;
    int status = lesson_parse(argc, argv, "fann_221", &a);
    if (status != 0)
        return status;
    fann_type x[4][2] = LESSON_X, y[4] = LESSON_Y; /* fann_train takes them non-const */
    double t[LESSON_MAX_REPEATS], loss = 0.0;
    for (int r = 0; r < a.repeats; r++) {
        struct fann *ann = make_net(a.init);
        if (ann == NULL) {
            fprintf(stderr, "fann_221: cannot make the network\n");
            return 1;
        }
        double t0 = bench_now();
        for (size_t e = 0; e < a.epochs; e++)
            for (int s = 0; s < 4; s++)
                fann_train(ann, x[s], &y[s]);
        t[r] = bench_now() - t0;
        loss = 0.0;
        for (int s = 0; s < 4; s++) {
            double d = (double)fann_run(ann, x[s])[0] - y[s];
            loss += d * d / 4.0;
        }
        fann_destroy(ann);
    }
    lesson_report("fann", &a, t, loss);
    return 0;
}
