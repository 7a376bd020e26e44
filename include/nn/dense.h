/* nn/dense.h - the fully connected layer.
 *
 * y = x W^T + b, with x: (B, in), W: (out, in), b: (out), y: (B, out): the same
 * layout as PyTorch's torch.nn.Linear, so weights can be exchanged with it
 * element for element. The batch product is one gemm.
 *   params[0] = W (out, in)   params[1] = b (out)
 */
#ifndef NN_DENSE_H
#define NN_DENSE_H

#include "nn/init.h"
#include "nn/layer.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nn_dense_params {
    size_t units;       /* output width, > 0 */
    nn_init weight_init;
    nn_init bias_init;
} nn_dense_params;

/* units outputs, weights and bias initialised like torch.nn.Linear. */
nn_dense_params nn_dense_default_params(size_t units);

/* A new dense layer (the caller's until added to a network).
 * Errors: NN_ERR_NULL_ARG, NN_ERR_INVALID_ARG (units == 0; an initialiser of unknown
 * kind or with a non-finite parameter; the rest of what nn_init_fill refuses is
 * refused when the network draws the parameters), NN_ERR_NOMEM. */
nn_status nn_dense_new(const nn_dense_params *params, nn_layer **out);

/* The weight (out, in) and bias (out) of a dense layer, borrowed from the layer.
 * NULL if l is not a built dense layer. */
nn_tensor *nn_dense_weight(nn_layer *l);
nn_tensor *nn_dense_bias(nn_layer *l);

/* 1 if l is a dense layer. */
int nn_is_dense(const nn_layer *l);

/* The settings l was made with (units and both initialisers), for saving it.
 * Errors: NN_ERR_NULL_ARG, NN_ERR_INVALID_ARG (l is not a dense layer). */
nn_status nn_dense_get_params(const nn_layer *l, nn_dense_params *params);

#ifdef __cplusplus
}
#endif

#endif /* NN_DENSE_H */
