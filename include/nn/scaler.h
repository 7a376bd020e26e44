/* nn/scaler.h - per-feature standardisation: x' = (x - mean) / std, column by column.
 *
 * Fit the scaler on the training inputs only, then apply the same scaler to the
 * training, validation and test inputs (and to anything predicted later), so no
 * figure of the held-out data leaks into training. This is sklearn's
 * StandardScaler with its defaults:
 *
 *   mean_j = 1/N sum_i x_ij
 *   std_j  = sqrt(1/N sum_i (x_ij - mean_j)^2)   population std (ddof 0), as
 *                                                sklearn and numpy.std, NOT
 *                                                torch.std's default ddof 1
 *
 * accumulated in double (two passes: the mean, then the squared deviations) and
 * stored as float.
 *
 * A constant feature (std_j == 0, including N == 1) would divide by zero; its
 * std is stored as 1 instead, as sklearn does, so the feature is only shifted and
 * becomes 0 everywhere in the training set. nn_scaler_std reports the 1, which is
 * the value actually applied. The same rule applies to nn_scaler_new: a given std
 * of exactly 0 is stored as 1.
 *
 * The scaler is an opaque value holding width, mean[width] and std[width]; a model
 * file can store those two arrays and rebuild it with nn_scaler_new.
 *
 * (The lesson's gender example subtracts 135 lb and 66 in: a plain shift by round
 * numbers, not the data's exact means, and no division. It keeps the lesson's
 * numbers; the scaler is the general tool.)
 */
#ifndef NN_SCALER_H
#define NN_SCALER_H

#include <stddef.h>
#include "nn/status.h"
#include "nn/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nn_scaler nn_scaler; /* opaque */

/* Fits a scaler to x: (N, width), N >= 1, column by column as described above.
 * *out is the caller's; free it with nn_scaler_free.
 * Errors: NN_ERR_NULL_ARG (also x with elements but no data), NN_ERR_SHAPE (x not
 * 2-D), NN_ERR_NUMERIC (a NaN or Inf in x, named by row and column), NN_ERR_NOMEM.
 * On error *out is NULL. */
nn_status nn_scaler_fit(const nn_tensor *x, nn_scaler **out);

/* A scaler from known figures: mean and std hold width floats each (copied).
 * A std of 0 is stored as 1 (see above).
 * Errors: NN_ERR_NULL_ARG, NN_ERR_INVALID_ARG (width 0; a mean that is not finite;
 * a std that is negative or not finite, named by column), NN_ERR_NOMEM.
 * On error *out is NULL. */
nn_status nn_scaler_new(size_t width, const float *mean, const float *std, nn_scaler **out);

/* The number of features. 0 for NULL. */
size_t nn_scaler_width(const nn_scaler *s);

/* The per-feature means and standard deviations (width floats each; a constant
 * feature's std reads 1). Borrowed: valid until nn_scaler_free. NULL for NULL. */
const float *nn_scaler_mean(const nn_scaler *s);
const float *nn_scaler_std(const nn_scaler *s);

/* Standardises x: (B, width) in place: x_ij = (x_ij - mean_j) / std_j.
 * Allocates nothing. Errors: NN_ERR_NULL_ARG (also x with elements but no data),
 * NN_ERR_SHAPE (x not 2-D or its width is not the scaler's); x is then unchanged. */
nn_status nn_scaler_apply(const nn_scaler *s, nn_tensor *x);

/* Undoes nn_scaler_apply in place: x_ij = x_ij * std_j + mean_j.
 * Errors: as nn_scaler_apply. */
nn_status nn_scaler_invert(const nn_scaler *s, nn_tensor *x);

/* Releases the scaler. NULL is a no-op. */
void nn_scaler_free(nn_scaler *s);

#ifdef __cplusplus
}
#endif

#endif /* NN_SCALER_H */
