/* nn/dropout.h - the dropout layer (Srivastava et al. 2014), inverted as in PyTorch.
 *
 * x: (B, n) -> y: (B, n), no parameters.
 *   Training (forward's `training` is 1): each unit is dropped (set to 0) with
 *   probability p, independently, and the kept ones are scaled by 1 / (1 - p),
 *   so the expected output equals the input:  y = x * mask,  mask_i in {0, scale},
 *   scale = (float)(1 / (1 - p)). This is torch.nn.Dropout(p) in train() mode.
 *   Inference (`training` is 0): y = x exactly (bit for bit), and no random
 *   number is drawn, as torch.nn.Dropout in eval() mode.
 * Backward: after a training forward, dx = dy * mask with the same mask (the same
 * float multiplications as the forward); after an inference forward, dx = dy.
 *
 * Randomness: each dropout layer owns an nn_rng seeded from the seed given to
 * nn_dropout_new (stream 0), so a network built and run the same way drops the
 * same units on every machine. A training forward with p > 0 draws one 32-bit
 * number per unit, in storage order, and drops a unit when the draw is below
 * p * 2^32 (so the drop probability is p to within 2^-32); p = 0 draws nothing.
 * The numbers the layer sees thus depend on the sequence of training forwards
 * since its creation, not on anything global. torch's generator differs, so the
 * masks are not torch's.
 *
 * Memory: the mask (max_batch * n floats) is allocated by the layer's reserve op,
 * which a network calls when it first sees a larger batch; forward and backward
 * never allocate. A training forward on more rows than the last reserve fails
 * with NN_ERR_STATE.
 *
 * Note for gradient checks: nn_net_check_grads compares training gradients with
 * differences of inference losses, so a network with dropout (p > 0) fails it by
 * design; check gradients with p = 0 or without the dropout layer.
 */
#ifndef NN_DROPOUT_H
#define NN_DROPOUT_H

#include <stdint.h>
#include "nn/layer.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A new dropout layer with drop probability p, 0 <= p < 1, and its own generator
 * seeded from seed. The layer's name is "dropout". The caller's until added to a
 * network; release it with nn_layer_free.
 * Errors: NN_ERR_NULL_ARG, NN_ERR_INVALID_ARG (p NaN or outside [0, 1)),
 * NN_ERR_NOMEM. On error *out is NULL. */
nn_status nn_dropout_new(double p, uint64_t seed, nn_layer **out);

/* 1 if l is a dropout layer. */
int nn_is_dropout(const nn_layer *l);

/* The drop probability and seed l was made with and its generator as it is now
 * (advanced by every training forward so far), for saving the layer. Any output
 * pointer may be NULL. Errors: NN_ERR_NULL_ARG (l), NN_ERR_INVALID_ARG (l is not a
 * dropout layer). */
nn_status nn_dropout_get(const nn_layer *l, double *p, uint64_t *seed, nn_rng *rng);

/* Replaces the layer's generator state, so that a layer restored from a file draws
 * the masks the saved one would have drawn next. rng->inc must be odd (as
 * nn_rng_seed makes it). Errors: NN_ERR_NULL_ARG, NN_ERR_INVALID_ARG (not a dropout
 * layer, even inc). */
nn_status nn_dropout_set_rng(nn_layer *l, const nn_rng *rng);

#ifdef __cplusplus
}
#endif

#endif /* NN_DROPOUT_H */
