/* gender.c - the lesson "build a neural network from scratch", done with nn.
 *
 * The lesson (after Victor Zhou's "An Introduction to Neural Networks") builds
 * one sigmoid neuron, a 2-2-1 network, the MSE loss, backpropagation by the
 * chain rule and per-sample SGD, and trains the network to tell gender from
 * weight and height. Here each of those steps is made from nn's generic parts:
 * dense and sigmoid layers, the MSE loss, the SGD optimizer and a network.
 *
 *   nn_gender                   walk through the lesson and train (seed 42)
 *   nn_gender --seed 7          the same with another random start
 *   nn_gender --predict 128 63  also classify a person of 128 lb, 63 in
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nn/nn.h>

#include "gender_nn.h" /* static const char gender_nn[]: the text of gender.nn */

/* Example code may stop at the first error; library code never does. */
#define CHECK(call)                                                                            \
    do {                                                                                       \
        nn_status st_ = (call);                                                                \
        if (st_ != NN_OK) {                                                                    \
            fprintf(stderr, "nn_gender: %s: %s\n", nn_strerror(st_), nn_last_error());         \
            exit(1);                                                                           \
        }                                                                                      \
    } while (0)

/* The lesson centres its data: weight in lb minus 135, height in inches minus 66. */
#define WEIGHT_SHIFT 135.0f
#define HEIGHT_SHIFT 66.0f

/* A network of sigmoid dense layers: in -> widths[0] -> ... -> widths[n-1],
 * every weight and bias drawn from init (or left at zero with rng NULL). */
static nn_net *sigmoid_net(size_t in, const size_t *widths, size_t n, nn_init init, nn_rng *rng)
{
    nn_net *net;
    CHECK(nn_net_new(in, &net));
    for (size_t i = 0; i < n; i++) {
        nn_dense_params p = nn_dense_default_params(widths[i]);
        p.weight_init = init;
        p.bias_init = init;
        nn_layer *dense, *sigmoid;
        CHECK(nn_dense_new(&p, &dense));
        CHECK(nn_net_add(net, dense));
        CHECK(nn_sigmoid_new(&sigmoid));
        CHECK(nn_net_add(net, sigmoid));
    }
    if (rng != NULL)
        CHECK(nn_net_init_params(net, rng));
    return net;
}

/* Sets every dense layer's weights to the row w (repeated for each neuron) and biases to b. */
static void set_all_neurons(nn_net *net, const float *w, float b)
{
    for (size_t i = 0; i < nn_net_layer_count(net); i++) {
        nn_layer *l = nn_net_layer(net, i);
        if (!nn_is_dense(l))
            continue;
        nn_tensor *W = nn_dense_weight(l); /* (out, in) */
        for (size_t r = 0; r < W->shape[0]; r++)
            for (size_t c = 0; c < W->shape[1]; c++)
                nn_tensor_set2d(W, r, c, w[c]);
        CHECK(nn_tensor_fill(nn_dense_bias(l), b));
    }
}

static float predict1(nn_net *net, float x1, float x2)
{
    float in[2] = {x1, x2}, out[1];
    nn_tensor x = nn_tensor_view2d(in, 1, 2), y = nn_tensor_view2d(out, 1, 1);
    CHECK(nn_net_predict(net, &x, &y));
    return out[0];
}

static void lesson_walkthrough(void)
{
    static const size_t one[] = {1}, two_one[] = {2, 1};
    const float w01[2] = {0.0f, 1.0f}, ones[2] = {1.0f, 1.0f};

    printf("== 1. A neuron: w = [0, 1], b = 4, x = [2, 3]\n");
    nn_net *neuron = sigmoid_net(2, one, 1, nn_init_zeros(), NULL);
    set_all_neurons(neuron, w01, 4.0f);
    printf("   f(w.x + b) = f(7) = %.7f\n", predict1(neuron, 2.0f, 3.0f));
    nn_net_free(neuron);

    printf("== 2. A 2-2-1 network, every neuron w = [0, 1], b = 0, x = [2, 3]\n");
    nn_net *net = sigmoid_net(2, two_one, 2, nn_init_zeros(), NULL);
    set_all_neurons(net, w01, 0.0f);
    float o1 = predict1(net, 2.0f, 3.0f);
    const nn_tensor *h = nn_net_layer_output(net, 1); /* the hidden sigmoid's output */
    printf("   h1 = h2 = %.7f, o1 = %.7f\n", h->data[0], o1);

    printf("== 3. MSE loss: y_true = [1, 0, 0, 1], y_pred = [0, 0, 0, 0]\n");
    nn_loss *mse;
    CHECK(nn_loss_mse_new(&mse));
    float t[4] = {1, 0, 0, 1}, p[4] = {0, 0, 0, 0};
    nn_tensor tt = nn_tensor_view2d(t, 4, 1), pt = nn_tensor_view2d(p, 4, 1);
    double loss;
    CHECK(nn_loss_eval(mse, &pt, &tt, &loss, NULL));
    printf("   MSE = %.7f\n", loss);

    printf("== 4. Backpropagation on Alice (x = [-2, -1], y = 1), all weights 1, biases 0\n");
    set_all_neurons(net, ones, 0.0f);
    float alice[2] = {-2.0f, -1.0f}, target[1] = {1.0f};
    nn_tensor xa = nn_tensor_view2d(alice, 1, 2), ya = nn_tensor_view2d(target, 1, 1);
    o1 = predict1(net, alice[0], alice[1]);
    float h1 = nn_net_layer_output(net, 1)->data[0], h2 = nn_net_layer_output(net, 1)->data[1];
    printf("   h1 = h2 = %.7f, o1 = y_pred = %.7f\n", h1, o1);

    /* dL/dy_pred: the MSE gradient for a batch of one is 2 (y_pred - y_true). */
    float pred1[1] = {o1}, grad1[1];
    nn_tensor pr = nn_tensor_view2d(pred1, 1, 1), gr = nn_tensor_view2d(grad1, 1, 1);
    CHECK(nn_loss_eval(mse, &pr, &ya, &loss, &gr));
    printf("   dL/dy_pred  = %.7f\n", grad1[0]);

    /* dy_pred/dh1: the output neuron alone, backpropagating dy = 1 to its inputs. */
    nn_net *out_neuron = sigmoid_net(2, one, 1, nn_init_zeros(), NULL);
    set_all_neurons(out_neuron, ones, 0.0f);
    float hin[2] = {h1, h2}, dy1[1] = {1.0f}, dh[2];
    nn_tensor hx = nn_tensor_view2d(hin, 1, 2), dyt = nn_tensor_view2d(dy1, 1, 1);
    nn_tensor dht = nn_tensor_view2d(dh, 1, 2);
    const nn_tensor *y;
    CHECK(nn_net_forward(out_neuron, &hx, 1, &y));
    CHECK(nn_net_zero_grad(out_neuron));
    CHECK(nn_net_backward(out_neuron, &dyt, &dht));
    printf("   dy_pred/dh1 = %.7f\n", dh[0]);
    nn_net_free(out_neuron);

    /* dh1/dw1: the hidden neuron h1 alone; its weight gradient for dy = 1. */
    nn_net *h_neuron = sigmoid_net(2, one, 1, nn_init_zeros(), NULL);
    set_all_neurons(h_neuron, ones, 0.0f);
    CHECK(nn_net_forward(h_neuron, &xa, 1, &y));
    CHECK(nn_net_zero_grad(h_neuron));
    CHECK(nn_net_backward(h_neuron, &dyt, NULL));
    printf("   dh1/dw1     = %.7f\n", nn_net_grads(h_neuron, NULL)[0]);
    nn_net_free(h_neuron);

    /* dL/dw1: the whole network's backward pass gives the product of the three. */
    CHECK(nn_net_set_loss(net, mse, 1));
    CHECK(nn_net_compute_grads(net, &xa, &ya, &loss));
    printf("   dL/dw1      = %.7f  (the chain rule: product of the three above)\n",
           nn_net_grads(net, NULL)[0]);
    nn_net_free(net);
}

/* The four people of the lesson, already shifted; F = 1, M = 0. */
static float train_x[4][2] = {{-2, -1}, {25, 6}, {17, 4}, {-15, -6}};
static float train_y[4][1] = {{1}, {0}, {0}, {1}};

typedef struct progress {
    const nn_tensor *x, *y;
} progress;

/* The lesson prints the loss over the whole data set every 10 epochs. */
static int print_progress(nn_net *net, const nn_epoch_stats *stats, void *user)
{
    const progress *p = user;
    size_t epoch = stats->epoch;
    if (epoch % 10 == 0) {
        double loss;
        CHECK(nn_net_eval_loss(net, p->x, p->y, &loss));
        printf("Epoch %zu loss: %.3f\n", epoch, loss);
    }
    return 0;
}

static void report(nn_net *net, const char *name, float weight, float height)
{
    float v = predict1(net, weight - WEIGHT_SHIFT, height - HEIGHT_SHIFT);
    printf("%s: %.3f - %s\n", name, v, v >= 0.5f ? "F" : "M");
}

#define MAX_PEOPLE 16 /* --predict options in one run */

static void usage(FILE *f)
{
    fprintf(f, "usage: nn_gender [--seed N] [--predict WEIGHT_LB HEIGHT_IN]... [--quiet]\n"
               "Walks through the lesson, trains the 2-2-1 network and classifies\n"
               "Emily and Frank (and anyone given with --predict, up to %d people).\n",
            MAX_PEOPLE);
}

static int parse_float(const char *s, float *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || v != v)
        return 0;
    *out = (float)v;
    return 1;
}

int main(int argc, char **argv)
{
    unsigned long long seed = 42;
    int quiet = 0;
    float people[MAX_PEOPLE][2];
    int n_people = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc) {
            char *end;
            errno = 0;
            seed = strtoull(argv[++i], &end, 10);
            /* a digit first: strtoull takes '' as 0 and '-1' as 2^64 - 1 */
            if (!isdigit((unsigned char)argv[i][0]) || errno != 0 || *end != '\0') {
                fprintf(stderr, "nn_gender: --seed needs a non-negative integer, got '%s'\n", argv[i]);
                return 2;
            }
        } else if (strcmp(argv[i], "--predict") == 0 && i + 2 < argc) {
            if (n_people == MAX_PEOPLE) {
                fprintf(stderr, "nn_gender: at most %d --predict options\n", MAX_PEOPLE);
                return 2;
            }
            if (!parse_float(argv[i + 1], &people[n_people][0]) ||
                !parse_float(argv[i + 2], &people[n_people][1])) {
                fprintf(stderr, "nn_gender: --predict needs two numbers, got '%s' '%s'\n", argv[i + 1],
                        argv[i + 2]);
                return 2;
            }
            n_people++;
            i += 2;
        } else if (strcmp(argv[i], "--quiet") == 0) {
            quiet = 1;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }

    if (!quiet)
        lesson_walkthrough();

    /* The lesson's network, as examples/gender/gender.nn describes it (compiled in):
     * dense 2 + sigmoid, dense 1 + sigmoid, weights and biases from N(0, 1), MSE, SGD
     * with lr 0.1, 1000 epochs of one update per sample in data set order. */
    printf("== 5. Training the 2-2-1 network (seed %llu)\n", seed);
    nn_spec *spec;
    nn_spec_error err;
    if (nn_spec_parse(gender_nn, "gender.nn", NULL, &spec, &err) != NN_OK) {
        fprintf(stderr, "nn_gender: %s:%zu:%zu: %s\n", err.source, err.line, err.column, err.message);
        return 1;
    }
    nn_train_settings train = nn_spec_training(spec);
    nn_rng rng;
    nn_rng_seed(&rng, seed, 0);
    nn_net *net;
    CHECK(nn_spec_build(spec, &rng, &net));
    nn_spec_free(spec);

    nn_tensor x = nn_tensor_view2d(&train_x[0][0], 4, 2), y = nn_tensor_view2d(&train_y[0][0], 4, 1);
    progress prog = {&x, &y};
    nn_fit_params fp = nn_train_fit_params(&train, NULL); /* the spec says: no shuffling */
    fp.progress = NN_PROGRESS_OFF; /* the lesson's own loss lines instead */
    fp.on_epoch = quiet ? NULL : print_progress;
    fp.user = &prog;
    CHECK(nn_net_fit(net, &x, &y, &fp, NULL));
    double final_loss;
    CHECK(nn_net_eval_loss(net, &x, &y, &final_loss));
    printf("Final loss: %.6f\n", final_loss);

    report(net, "Emily", 128.0f, 63.0f); /* the lesson: 0.951 - F */
    report(net, "Frank", 155.0f, 68.0f); /* the lesson: 0.039 - M */
    for (int i = 0; i < n_people; i++) {
        char name[64];
        snprintf(name, sizeof name, "%g lb, %g in", people[i][0], people[i][1]);
        report(net, name, people[i][0], people[i][1]);
    }
    nn_net_free(net);
    return 0;
}
