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
 * gscale * d to grad unless grad is NULL. The gradient is the float product of the
 * float d and gscale, as torch.nn.MSELoss computes it (infinite, and so refused by
 * the gradient check, when |pred - target| exceeds FLT_MAX); the sum is of the exact
 * d (the difference of two floats, in double) squared in double: with the float d,
 * the value had float precision, and was infinite past FLT_MAX. */
static inline double nn_mse_terms(const float *pred, const float *target, float *grad, float gscale,
                                  size_t n)
{
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) {
        float d = pred[i] - target[i];
        double dd = (double)pred[i] - target[i];
        sum += dd * dd;
        if (grad != NULL)
            grad[i] = gscale * d;
    }
    return sum;
}

#endif /* NN_LOSS_IMPL_H */
