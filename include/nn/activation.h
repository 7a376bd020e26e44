/* nn/activation.h - elementwise activation layers.
 *
 * Activations are layers without parameters whose output width equals their
 * input width. Each one's derivative sits next to it in src/activation.c.
 */
#ifndef NN_ACTIVATION_H
#define NN_ACTIVATION_H

#include "nn/layer.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Activation kinds. Append-only: the values may be written to files. */
typedef enum nn_activation_kind {
    NN_ACT_IDENTITY = 0,
    NN_ACT_SIGMOID = 1
} nn_activation_kind;

/* A new activation layer of the given kind (the caller's until added to a network).
 * Errors: NN_ERR_NULL_ARG, NN_ERR_INVALID_ARG (unknown kind), NN_ERR_NOMEM. */
nn_status nn_activation_new(nn_activation_kind kind, nn_layer **out);

/* Shorthands for nn_activation_new. */
nn_status nn_sigmoid_new(nn_layer **out);   /* y = 1 / (1 + exp(-x)), stable for any x */
nn_status nn_identity_new(nn_layer **out);  /* y = x */

/* The kind's name ("sigmoid"), or NULL for an unknown kind. */
const char *nn_activation_name(nn_activation_kind kind);

#ifdef __cplusplus
}
#endif

#endif /* NN_ACTIVATION_H */
