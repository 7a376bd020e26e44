/* nn/metrics.h - classification and regression metrics computed from predictions.
 *
 * Predictions are the network's output rows (B, C); targets are either class
 * indices (B, 1) holding 0..C-1 as floats, or one-hot / probability rows (B, C).
 * A single-output network (C == 1) is a binary classifier: a prediction counts
 * as class 1 when it is >= threshold 0.5 (a probability, as after a sigmoid).
 */
#ifndef NN_METRICS_H
#define NN_METRICS_H

#include <stddef.h>
#include "nn/status.h"
#include "nn/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Counts the rows whose predicted class equals the target class: argmax of the
 * prediction row (first maximum on ties) against the target index, or the
 * argmax of the target row. For C == 1, (pred >= 0.5) against (target >= 0.5).
 * Errors: NN_ERR_NULL_ARG, NN_ERR_SHAPE (row counts differ, target width neither
 * 1 nor C), NN_ERR_INVALID_ARG (a target index that is not an integer in 0..C-1). */
nn_status nn_count_correct(const nn_tensor *pred, const nn_tensor *target, size_t *correct);

#ifdef __cplusplus
}
#endif

#endif /* NN_METRICS_H */
