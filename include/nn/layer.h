/* nn/layer.h - the layer interface.
 *
 * A layer is a table of operations (nn_layer_ops) plus its state. The library's
 * own layers (dense, activations) are built on this interface and nothing else,
 * so a user can write a new layer kind outside the library: fill an nn_layer_ops,
 * wrap private state with nn_layer_new, and add it to a network with nn_net_add.
 *
 * Life of a layer inside a network:
 *   build(in_width)      when added: sets out_width, n_params and the
 *                        shapes of params[i] (data still NULL). It may run more than
 *                        once for one layer, each time on a copy of the nn_layer struct
 *                        (nn_net_add copies the result back only on success, and
 *                        nn_model_load builds each layer once to check the file's shapes
 *                        before adding it): it must give the same result every time for
 *                        the same in_width, keep no pointer to l, and allocate nothing
 *                        that a second call would leak (per-batch buffers go in reserve).
 *   (the network then points params[i].data and grads[i].data into its one
 *   parameter block and one gradient block)
 *   init_params(rng)     when the network (re)initialises its parameters.
 *   reserve(max_batch)   when the network first sees a batch larger than before:
 *                        allocate any private per-batch buffers here, never later.
 *   forward / backward   per step, without allocating.
 *   destroy              when the network (or nn_layer_free) releases the layer.
 *
 * Shapes: x: (B, in_width), y: (B, out_width); B may change from call to call
 * but never exceeds the last reserve().
 */
#ifndef NN_LAYER_H
#define NN_LAYER_H

#include <stddef.h>
#include "nn/rng.h"
#include "nn/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

#define NN_LAYER_MAX_PARAMS 4

typedef struct nn_layer nn_layer;

typedef struct nn_layer_ops {
    /* Stable, lower-case kind name ("dense", "sigmoid"). */
    const char *name;

    /* Shape inference. Sets l->out_width, l->n_params and params[i]'s ndim and
     * shape (grads get the same shapes from the network); the same every time it is
     * called with the same in_width (see above: it may run more than once). Returns
     * NN_ERR_SHAPE / NN_ERR_INVALID_ARG if the layer cannot take in_width.
     * Required. */
    nn_status (*build)(nn_layer *l, size_t in_width);

    /* Fills params[i].data from rng. Optional: NULL for a layer without parameters. */
    nn_status (*init_params)(nn_layer *l, nn_rng *rng);

    /* Prepares private buffers for batches of up to max_batch rows. Optional. */
    nn_status (*reserve)(nn_layer *l, size_t max_batch);

    /* y = f(x). x: (B, in_width), y: (B, out_width), distinct buffers.
     * training is 1 during training steps and 0 for inference. Required. */
    nn_status (*forward)(nn_layer *l, const nn_tensor *x, nn_tensor *y, int training);

    /* Given x and y of the last forward and dy = dL/dy: (B, out_width),
     * accumulates dL/dparams into grads[i] (+=, never =) and writes
     * dx = dL/dx: (B, in_width) unless dx is NULL (the first layer's input
     * gradient is not needed for training, so the network passes NULL). Required. */
    nn_status (*backward)(nn_layer *l, const nn_tensor *x, const nn_tensor *y,
                          const nn_tensor *dy, nn_tensor *dx);

    /* Releases l->impl and anything else the kind allocated (not l itself). Optional. */
    void (*destroy)(nn_layer *l);
} nn_layer_ops;

struct nn_layer {
    const nn_layer_ops *ops;   /* borrowed: must outlive the layer */
    void *impl;                /* the kind's private state */
    size_t in_width;           /* set when built (0 before) */
    size_t out_width;          /* set by ops->build */
    size_t n_params;           /* number of parameter tensors, <= NN_LAYER_MAX_PARAMS */
    nn_tensor params[NN_LAYER_MAX_PARAMS]; /* views into the owning network's block */
    nn_tensor grads[NN_LAYER_MAX_PARAMS];  /* same shapes as params */
};

/* Wraps ops and impl into a new, unbuilt layer. On success the layer owns impl
 * (ops->destroy releases it); on failure impl stays the caller's.
 * Errors: NN_ERR_NULL_ARG (ops, or a required op missing), NN_ERR_NOMEM. */
nn_status nn_layer_new(const nn_layer_ops *ops, void *impl, nn_layer **out);

/* Destroys a layer that no network owns. NULL is a no-op. */
void nn_layer_free(nn_layer *l);

/* The kind's name, or "" for NULL. */
const char *nn_layer_name(const nn_layer *l);

/* Number of scalar parameters of a built layer. */
size_t nn_layer_param_count(const nn_layer *l);

#ifdef __cplusplus
}
#endif

#endif /* NN_LAYER_H */
