/* fuzz/fuzz_model.c - libFuzzer target for the model loader (nn_model_load_buffer).
 *
 * Each input is loaded twice: as it is, and with its header's file size and its
 * CRC-32 patched to fit, so that mutations which break only those two fields (most
 * of them) still reach the section readers, in any build (a fuzzing build also
 * skips the checksum comparison, FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION).
 *
 * What must hold, beyond "no crash, no leak, no undefined behaviour":
 *   - a failed load leaves *out NULL and says why in nn_last_error();
 *   - a model that loads saves again, that file loads, and saving it once more gives
 *     the same bytes (the writer and the reader agree on everything they accept);
 *   - a loaded network predicts (one row of zeros) without error when it is small
 *     enough to try, and takes a training step without misbehaving.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include "fuzz_alloc.h"
#include "nn/nn.h"

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* One row of zeros through the network, in inference mode. Skipped for very wide
 * inputs or outputs, whose workspace the budget would refuse anyway. */
static void try_predict(nn_model *m)
{
    nn_net *net = nn_model_net(m);
    size_t in = nn_net_in_width(net), out = nn_net_out_width(net);
    if (nn_net_layer_count(net) == 0 || in > 4096 || out > 4096)
        return;
    float xs[4096] = {0}, ys[4096];
    nn_tensor x = nn_tensor_view2d(xs, 1, in), y = nn_tensor_view2d(ys, 1, out);
    nn_status st = nn_model_standardise(m, &x);
    FUZZ_CHECK(st == NN_OK);
    st = nn_net_predict(net, &x, &y);
    FUZZ_CHECK(st == NN_OK || st == NN_ERR_NOMEM);
}

/* One training step on a row of zeros (class 0, or zeros, as targets) for a model with
 * a loss and an optimizer: resuming from a file's optimizer state and settings must
 * not misbehave. Any status is allowed (a NaN from hostile weights is NN_ERR_NUMERIC),
 * only not a crash or undefined behaviour. */
static void try_step(nn_model *m)
{
    nn_net *net = nn_model_net(m);
    size_t in = nn_net_in_width(net), tw = nn_net_target_width(net);
    if (nn_net_loss(net) == NULL || nn_net_optim(net) == NULL || in > 4096 || tw > 4096 ||
        nn_net_out_width(net) > 4096)
        return;
    float xs[4096] = {0}, ts[4096] = {0};
    nn_tensor x = nn_tensor_view2d(xs, 1, in), t = nn_tensor_view2d(ts, 1, tw);
    double loss;
    (void)nn_net_train_step(net, &x, &t, &loss);
}

static void load_and_check(const uint8_t *data, size_t size)
{
    nn_model *m = (nn_model *)&m; /* not NULL, to see that a failure sets it */
    nn_status st = nn_model_load_buffer(data, size, NULL, &m);
    if (st != NN_OK) {
        FUZZ_CHECK(m == NULL);
        FUZZ_CHECK(st == NN_ERR_FORMAT || st == NN_ERR_NOMEM);
        FUZZ_CHECK(nn_last_error()[0] != '\0');
        return;
    }
    FUZZ_CHECK(m != NULL);
    FUZZ_CHECK(nn_model_format_version(m) == NN_MODEL_FORMAT_VERSION);

    void *b1 = NULL, *b2 = NULL;
    size_t n1 = 0, n2 = 0;
    nn_model *m2 = NULL;
    st = nn_model_save_buffer(m, NULL, 0, &b1, &n1);
    FUZZ_CHECK(st == NN_OK || st == NN_ERR_NOMEM);
    if (st == NN_OK) {
        st = nn_model_load_buffer(b1, n1, NULL, &m2);
        FUZZ_CHECK(st == NN_OK || st == NN_ERR_NOMEM);
    }
    if (st == NN_OK) {
        st = nn_model_save_buffer(m2, NULL, 0, &b2, &n2);
        FUZZ_CHECK(st == NN_OK || st == NN_ERR_NOMEM);
        if (st == NN_OK)
            FUZZ_CHECK(n1 == n2 && memcmp(b1, b2, n1) == 0);
    }
    try_predict(m);
    try_step(m);
    nn_model_buffer_free(b1);
    nn_model_buffer_free(b2);
    nn_model_free(m2);
    nn_model_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_install_allocator();
    load_and_check(data, size);

    /* The same bytes with a consistent size field and checksum. */
    if (size >= 28) {
        uint8_t *fixed = malloc(size);
        if (fixed == NULL)
            return 0;
        memcpy(fixed, data, size);
        put_u64(fixed + 16, size);
        put_u32(fixed + size - 4, (uint32_t)crc32(0L, fixed, (uInt)(size - 4)));
        load_and_check(fixed, size);
        free(fixed);
    }
    return 0;
}
