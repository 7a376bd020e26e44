/* nn/optim.h - the optimizer interface and the built-in optimizers.
 *
 * An optimizer updates a list of parameter tensors from their gradients. It may
 * keep per-parameter state (momentum buffers, Adam moments): setup() is called
 * once with the parameter list before the first step and allocates that state;
 * step() must not allocate. Like layers, optimizers are tables of operations:
 * a user can add one outside the library with nn_optim_new.
 */
#ifndef NN_OPTIM_H
#define NN_OPTIM_H

#include <stdint.h>
#include "nn/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nn_optim nn_optim;

typedef struct nn_optim_ops {
    const char *name; /* stable, lower-case ("sgd") */

    /* Allocates state for params[0..n-1] (only their shapes matter). Called
     * again if the list changes; must then release the old state first. Optional. */
    nn_status (*setup)(nn_optim *o, const nn_tensor *params, size_t n);

    /* One update of params[0..n-1] from grads[0..n-1] (same shapes, same list
     * as the last setup). o->step_count has already been incremented, so it is
     * 1 on the first step. Must not allocate. Required. */
    nn_status (*step)(nn_optim *o, nn_tensor *params, const nn_tensor *grads, size_t n);

    /* Releases o->impl. Optional. */
    void (*destroy)(nn_optim *o);
} nn_optim_ops;

struct nn_optim {
    const nn_optim_ops *ops; /* borrowed: must outlive the optimizer */
    void *impl;              /* the kind's private state */
    double lr;               /* learning rate, read by step(); schedules change it */
    uint64_t step_count;     /* steps taken so far */
};

/* Wraps ops and impl into a new optimizer with learning rate lr. On success the
 * optimizer owns impl; on failure impl stays the caller's.
 * Errors: NN_ERR_NULL_ARG, NN_ERR_INVALID_ARG (lr negative or not finite), NN_ERR_NOMEM. */
nn_status nn_optim_new(const nn_optim_ops *ops, void *impl, double lr, nn_optim **out);

/* Releases an optimizer no network owns. NULL is a no-op. */
void nn_optim_free(nn_optim *o);

/* Changes the learning rate. Errors: NN_ERR_NULL_ARG, NN_ERR_INVALID_ARG. */
nn_status nn_optim_set_lr(nn_optim *o, double lr);

/* Prepares state for a parameter list (calls ops->setup). */
nn_status nn_optim_setup(nn_optim *o, const nn_tensor *params, size_t n);

/* Increments step_count and applies one update (calls ops->step).
 * Errors: NN_ERR_NULL_ARG, NN_ERR_SHAPE (a gradient's shape differs from its parameter). */
nn_status nn_optim_step(nn_optim *o, nn_tensor *params, const nn_tensor *grads, size_t n);

/* Plain stochastic gradient descent: p -= lr * g (torch.optim.SGD with its defaults).
 * Errors: NN_ERR_INVALID_ARG (lr negative or not finite), NN_ERR_NOMEM. */
nn_status nn_optim_sgd_new(double lr, nn_optim **out);

#ifdef __cplusplus
}
#endif

#endif /* NN_OPTIM_H */
