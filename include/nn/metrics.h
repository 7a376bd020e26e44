/* nn/metrics.h - classification metrics computed from predictions.
 *
 * Predictions are the network's output rows (B, C); targets are either class
 * indices (B, 1) holding 0..C-1 as floats, or one-hot / probability rows (B, C).
 * The predicted class of a row is its argmax (the first maximum on ties; NaN
 * never wins); a one-hot or probability target row's class is its argmax too.
 * A single-output network (C == 1) is a binary classifier: a prediction counts
 * as class 1 when it is >= threshold 0.5 (a probability, as after a sigmoid), and
 * so does a target; it has two classes, 0 and 1.
 *
 * None of these functions allocates, so they can run on every batch.
 * Metrics over a whole held-out set with a network (loss, accuracy and a confusion
 * matrix in batches) are in nn/evaluate.h.
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

/* The fraction of rows classified right, nn_count_correct / B, in [0, 1].
 * Errors: those of nn_count_correct, NN_ERR_INVALID_ARG (no rows); *accuracy is
 * unchanged on error. */
nn_status nn_accuracy(const nn_tensor *pred, const nn_tensor *target, double *accuracy);

/* The number of classes a prediction of width C stands for: C, or 2 when C == 1. */
size_t nn_metrics_classes(size_t pred_width);

/* Adds a batch to a confusion matrix: for each row, counts[true * K + predicted]
 * += 1, where K = nn_metrics_classes(C) and counts has K * K entries (rows are the
 * true classes, columns the predicted ones, as sklearn's confusion_matrix).
 * Accumulates, so batches add up; zero counts before the first batch.
 * Every target is checked before anything is added: on error counts is unchanged.
 * Errors: those of nn_count_correct, NN_ERR_INVALID_ARG (classes is not K). */
nn_status nn_confusion_add(const nn_tensor *pred, const nn_tensor *target, size_t classes,
                           size_t *counts);

/* Per-class figures from a confusion matrix counts (classes x classes, rows true):
 *   precision[k] = counts[k][k] / (sum of column k)   (of the rows predicted k, the
 *                                                      fraction truly k)
 *   recall[k]    = counts[k][k] / (sum of row k)      (of the rows truly k, the
 *                                                      fraction predicted k)
 * A class never predicted has precision NaN (0/0), a class never present recall
 * NaN: undefined, not 0 (sklearn reports 0 with a warning). precision or recall
 * may be NULL; each has classes entries. *accuracy (may be NULL) gets the trace
 * over the total (NaN for an empty matrix).
 * Errors: NN_ERR_NULL_ARG (counts), NN_ERR_INVALID_ARG (classes 0). */
nn_status nn_confusion_scores(const size_t *counts, size_t classes, double *precision,
                              double *recall, double *accuracy);

#ifdef __cplusplus
}
#endif

#endif /* NN_METRICS_H */
