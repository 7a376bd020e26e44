/* loss_impl.h - the pieces of nn's own losses that the fused small-network step
 * (net_small.c) computes without a call through the loss's table, shared with the
 * losses themselves (loss.c) so that both compute the same bits by construction.
 * Not installed. */
#ifndef NN_LOSS_IMPL_H
#define NN_LOSS_IMPL_H

#include <stddef.h>

#include "nn/loss.h"

/* The factor of a sum of terms: 1/N for mean reduction over N terms, 1 for sum. */
static inline double nn_reduction_scale(nn_reduction reduction, size_t terms)
{
    return reduction == NN_REDUCTION_MEAN ? 1.0 / (double)terms : 1.0;
}

/* MSE over n elements: returns the sum of d^2 with d = pred - target, and writes
 * gscale * d to grad unless grad is NULL. d and the gradient are floats and the sum
 * a double, as torch.nn.MSELoss computes them. */
static inline double nn_mse_terms(const float *pred, const float *target, float *grad, float gscale,
                                  size_t n)
{
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) {
        float d = pred[i] - target[i];
        sum += (double)d * d;
        if (grad != NULL)
            grad[i] = gscale * d;
    }
    return sum;
}

#endif /* NN_LOSS_IMPL_H */
