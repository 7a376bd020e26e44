/* main.c - a program built against an installed nn (see CMakeLists.txt).
 *
 * Builds a 2-2-1 sigmoid network through the public API, predicts one sample and
 * exits 0 only when the linked library has the headers' version and the
 * prediction is a finite number in (0, 1).
 */
#include <math.h>
#include <stdio.h>

#include <nn/nn.h>

/* Leaves main through `done` with a message naming the call that failed. */
#define CHECK(call)                                                                                \
    do {                                                                                           \
        nn_status status_ = (call);                                                                \
        if (status_ != NN_OK) {                                                                    \
            fprintf(stderr, "consumer: %s failed: %s (%s)\n", #call, nn_strerror(status_),         \
                    nn_last_error());                                                              \
            goto done;                                                                             \
        }                                                                                          \
    } while (0)

/* Hands *layer to net; on success *layer is NULL, since the network owns it now. */
static nn_status add_layer(nn_net *net, nn_layer **layer)
{
    nn_status status = nn_net_add(net, *layer);
    if (status == NN_OK)
        *layer = NULL;
    return status;
}

int main(void)
{
    nn_net *net = NULL;
    nn_layer *layer = NULL; /* a layer not yet handed to the network */
    nn_rng rng;
    nn_dense_params hidden = nn_dense_default_params(2);
    nn_dense_params output = nn_dense_default_params(1);
    float x_data[2] = {0.25f, -0.5f};
    float y_data[1] = {-1.0f};
    nn_tensor x = nn_tensor_view2d(x_data, 1, 2); /* (1, 2) */
    nn_tensor y = nn_tensor_view2d(y_data, 1, 1); /* (1, 1) */
    int ok = 0;

    printf("nn %s (headers %s)\n", nn_version(), NN_VERSION_STRING);
    if (nn_version_number() != NN_VERSION_NUMBER) {
        fprintf(stderr, "consumer: library version %u differs from the headers' %u\n",
                nn_version_number(), (unsigned)NN_VERSION_NUMBER);
        return 1;
    }

    nn_rng_seed(&rng, 42, 1);
    CHECK(nn_net_new(2, &net));
    CHECK(nn_dense_new(&hidden, &layer));
    CHECK(add_layer(net, &layer));
    CHECK(nn_sigmoid_new(&layer));
    CHECK(add_layer(net, &layer));
    CHECK(nn_dense_new(&output, &layer));
    CHECK(add_layer(net, &layer));
    CHECK(nn_sigmoid_new(&layer));
    CHECK(add_layer(net, &layer));
    CHECK(nn_net_init_params(net, &rng));
    CHECK(nn_net_predict(net, &x, &y));

    printf("prediction for (%.2f, %.2f): %.6f\n", (double)x_data[0], (double)x_data[1],
           (double)y_data[0]);
    ok = isfinite(y_data[0]) && y_data[0] > 0.0f && y_data[0] < 1.0f;
    if (!ok)
        fprintf(stderr, "consumer: prediction %g is not in (0, 1)\n", (double)y_data[0]);

done:
    nn_layer_free(layer);
    nn_net_free(net);
    return ok ? 0 : 1;
}
