/* fuzz/fuzz_spec.c - libFuzzer target for the spec reader (nn_spec_parse).
 *
 * The input's bytes are the spec's text (up to its first NUL byte). What must hold,
 * beyond "no crash, no leak, no undefined behaviour":
 *   - a rejected spec leaves *out NULL and gives a message with a place: the
 *     nn_spec_error's message is not empty and names a line when it has one;
 *   - an accepted spec builds (or runs out of the fuzzing memory budget), the network
 *     writes back out as a spec, that text is accepted too, and writing its network
 *     again gives the same text (docs/spec-format.md's promise);
 *   - a small built network predicts one row of zeros, and trains for up to two epochs
 *     on two rows of zeros with the spec's own settings without being refused.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fuzz_alloc.h"
#include "nn/nn.h"

static void try_predict(nn_net *net)
{
    size_t in = nn_net_in_width(net), out = nn_net_out_width(net);
    if (nn_net_layer_count(net) == 0 || in > 4096 || out > 4096)
        return;
    float xs[4096] = {0}, ys[4096];
    nn_tensor x = nn_tensor_view2d(xs, 1, in), y = nn_tensor_view2d(ys, 1, out);
    nn_status st = nn_net_predict(net, &x, &y);
    FUZZ_CHECK(st == NN_OK || st == NN_ERR_NOMEM);
}

/* Trains the network for at most two epochs, as the spec says otherwise, on two rows
 * of zeros (targets: zeros, or class 0 as a one-hot row for a cross-entropy over
 * probabilities). The spec reader checks a whole spec, so nn_net_fit must not reject
 * anything of it (a schedule, a batch size): only a NaN or Inf, the memory budget, or
 * the loss refusing the values it is given may stop it. The last is a property of the
 * data, not of the spec: "log_softmax" then "loss bce" is a valid network whose
 * outputs are never probabilities, and bce says so (NN_ERR_INVALID_ARG, naming itself). */
static void try_fit(nn_net *net, const nn_train_settings *train)
{
    size_t in = nn_net_in_width(net), tw = nn_net_target_width(net);
    if (nn_net_loss(net) == NULL || nn_net_optim(net) == NULL || in > 2048 || tw > 2048 ||
        nn_net_out_width(net) > 2048)
        return;
    float xs[2 * 2048] = {0}, ts[2 * 2048] = {0};
    if (tw > 1 && strcmp(nn_net_loss(net)->ops->name, "cross_entropy") == 0)
        ts[0] = ts[tw] = 1;
    nn_tensor x = nn_tensor_view2d(xs, 2, in), t = nn_tensor_view2d(ts, 2, tw);
    nn_train_settings tr = *train;
    if (tr.epochs > 2)
        tr.epochs = 2;
    nn_rng rng;
    nn_rng_seed(&rng, tr.seed, 1);
    nn_fit_params fp = nn_train_fit_params(&tr, &rng);
    fp.progress = NN_PROGRESS_OFF;
    nn_status st = nn_net_fit(net, &x, &t, &fp, NULL);
    int loss_refused = st == NN_ERR_INVALID_ARG &&
                       strstr(nn_last_error(), nn_net_loss(net)->ops->name) != NULL;
    FUZZ_CHECK(st == NN_OK || st == NN_ERR_NUMERIC || st == NN_ERR_NOMEM || loss_refused);
}

/* Parses text; on success builds it and returns the network's spec as text in *written
 * (NULL when memory ran out on the way). Returns the parse status. */
static nn_status parse_build_write(const char *text, char **written, int predict)
{
    nn_spec *spec = (nn_spec *)&spec; /* not NULL, to see that a failure sets it */
    nn_spec_error err;
    memset(&err, 0, sizeof err);
    *written = NULL;
    nn_status st = nn_spec_parse(text, "fuzz.nn", NULL, &spec, &err);
    if (st != NN_OK) {
        FUZZ_CHECK(spec == NULL);
        FUZZ_CHECK(st == NN_ERR_FORMAT || st == NN_ERR_NOMEM);
        FUZZ_CHECK(nn_last_error()[0] != '\0');
        if (st == NN_ERR_FORMAT)
            FUZZ_CHECK(err.message[0] != '\0' && strcmp(err.source, "fuzz.nn") == 0);
        return st;
    }
    nn_train_settings train = nn_spec_training(spec);
    nn_net *net = NULL;
    nn_status bst = nn_spec_build(spec, NULL, &net);
    FUZZ_CHECK(bst == NN_OK || bst == NN_ERR_NOMEM);
    if (bst == NN_OK) {
        bst = nn_spec_to_string(net, &train, NULL, written);
        FUZZ_CHECK(bst == NN_OK || bst == NN_ERR_NOMEM);
        if (predict) {
            try_predict(net);
            try_fit(net, &train);
        }
    }
    nn_net_free(net);
    nn_spec_free(spec);
    return NN_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_install_allocator();
    char *text = malloc(size + 1);
    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';

    char *w1 = NULL, *w2 = NULL;
    if (parse_build_write(text, &w1, 1) == NN_OK && w1 != NULL) {
        nn_status st = parse_build_write(w1, &w2, 0);
        if (st != NN_ERR_NOMEM)
            FUZZ_CHECK(st == NN_OK);
        if (w2 != NULL && strcmp(w1, w2) != 0) {
            fprintf(stderr,
                    "fuzz_spec: written spec changes when read and written again:\n"
                    "--- first\n%s--- second\n%s",
                    w1, w2);
            abort();
        }
    }
    nn_spec_string_free(w1);
    nn_spec_string_free(w2);
    free(text);
    return 0;
}
