/* nn/dataset.h - data sets in memory: inputs and targets, splits, mini-batches, labels.
 *
 * A data set is N samples: inputs x: (N, in_width) and targets y: (N, target_width),
 * row i of one belonging to row i of the other. It owns both tensors. The usual
 * path from files to training:
 *
 *   nn_dataset *all, *train, *val;
 *   nn_idx_load_dataset(images, labels, 1.0f / 255, 10, &all); (or nn_csv_load + nn_dataset_new)
 *   nn_dataset_split(all, 0.1, &rng, &train, &val);           10% held out, seeded
 *   nn_scaler_fit(nn_dataset_x(train), &scaler);              statistics of train only
 *   nn_dataset_standardize(train, scaler); nn_dataset_standardize(val, scaler);
 *   nn_net_fit(net, nn_dataset_x(train), nn_dataset_y(train), &fit, &history);
 *
 * or, for a loop of one's own, an nn_batch_iter hands out shuffled mini-batches, for
 * nn_net_train_step, or for nn_net_forward, a gradient of one's own, nn_net_backward
 * and nn_net_step (nn/net.h).
 *
 * Class labels as targets: the cross_entropy and nll losses take class indices
 * (N, 1) holding 0..C-1 as floats (nn_dataset_index_targets makes them from
 * integer labels); losses such as MSE want one-hot rows (N, C) (nn_dataset_one_hot).
 */
#ifndef NN_DATASET_H
#define NN_DATASET_H

#include <stddef.h>
#include "nn/rng.h"
#include "nn/scaler.h"
#include "nn/status.h"
#include "nn/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nn_dataset nn_dataset; /* opaque */

/* A data set of x: (N, in_width) and y: (N, target_width), both 2-D with the same
 * N >= 1, as made by nn_tensor_new2d or a loader. Takes ownership of x and y on
 * success (they are freed with the data set); on failure they stay the caller's.
 * *out is the caller's; free it with nn_dataset_free.
 * Errors: NN_ERR_NULL_ARG (also x or y with elements but no data), NN_ERR_SHAPE
 * (not 2-D, row counts differ), NN_ERR_INVALID_ARG (x or y is a view: it must own its data), NN_ERR_NOMEM. */
nn_status nn_dataset_new(nn_tensor *x, nn_tensor *y, nn_dataset **out);

/* A data set holding copies of x: (N, in_width) and y: (N, target_width); the
 * caller keeps x and y. Errors: as nn_dataset_new, except views are fine. */
nn_status nn_dataset_copy(const nn_tensor *x, const nn_tensor *y, nn_dataset **out);

/* Releases the data set and its tensors. NULL is a no-op. */
void nn_dataset_free(nn_dataset *d);

/* Borrowed: valid until nn_dataset_free. NULL (or 0) for NULL. */
const nn_tensor *nn_dataset_x(const nn_dataset *d); /* (N, in_width) */
const nn_tensor *nn_dataset_y(const nn_dataset *d); /* (N, target_width) */
size_t nn_dataset_size(const nn_dataset *d);        /* N */
size_t nn_dataset_in_width(const nn_dataset *d);
size_t nn_dataset_target_width(const nn_dataset *d);

/* Standardises the inputs in place with a scaler fitted elsewhere (usually on the
 * training set): x = (x - mean) / std per column (nn_scaler_apply).
 * Errors: NN_ERR_NULL_ARG, NN_ERR_SHAPE (the scaler's width is not in_width). */
nn_status nn_dataset_standardize(nn_dataset *d, const nn_scaler *s);

/* A new data set holding a copy of rows [first, first + count) of d.
 * Errors: NN_ERR_NULL_ARG, NN_ERR_INVALID_ARG (count 0 or rows out of range),
 * NN_ERR_NOMEM. On error *out is NULL. */
nn_status nn_dataset_subset(const nn_dataset *d, size_t first, size_t count, nn_dataset **out);

/* Splits d into two new data sets: n_val = round(val_fraction * N) rows go to
 * *val, the other N - n_val to *train; together they hold every row exactly once.
 * With rng (borrowed) the validation rows are a uniformly random choice drawn from
 * it (a seeded Fisher-Yates shuffle: same seed, same split); with rng NULL they
 * are the last n_val rows (Keras's validation_split). Either way both parts keep
 * the rows in their order in d. d is unchanged.
 * Errors: NN_ERR_NULL_ARG (d, train or val), NN_ERR_INVALID_ARG (val_fraction not
 * in (0, 1), or a part that would be empty), NN_ERR_NOMEM. On error *train and
 * *val are NULL. */
nn_status nn_dataset_split(const nn_dataset *d, double val_fraction, nn_rng *rng,
                           nn_dataset **train, nn_dataset **val);

/* ---- mini-batches ----------------------------------------------------------------
 *
 * An iterator hands out the rows of a data set in batches of batch_size (the last
 * batch of an epoch may be smaller), every row exactly once per epoch, in data set
 * order or in a new random order each epoch drawn from rng. Its batch buffers are
 * allocated when it is made; nn_batch_iter_next allocates nothing.
 *
 *   nn_batch_iter *it; nn_tensor bx, by;
 *   nn_batch_iter_new(train, 64, &rng, &it);
 *   for (epoch = 0; epoch < epochs; epoch++)
 *       while (nn_batch_iter_next(it, &bx, &by) > 0)
 *           nn_net_train_step(net, &bx, &by, &loss);
 *   nn_batch_iter_free(it);
 */
typedef struct nn_batch_iter nn_batch_iter; /* opaque */

/* An iterator over d (borrowed: d must outlive it and keep its contents while an
 * epoch runs) in batches of up to batch_size rows. rng (borrowed, may be NULL)
 * shuffles: each epoch's order is a Fisher-Yates permutation drawn from it when
 * the epoch starts; NULL keeps data set order. *out is the caller's.
 * Errors: NN_ERR_NULL_ARG, NN_ERR_INVALID_ARG (batch_size 0, more than 2^32 rows
 * to shuffle), NN_ERR_NOMEM. On error *out is NULL. */
nn_status nn_batch_iter_new(const nn_dataset *d, size_t batch_size, nn_rng *rng,
                            nn_batch_iter **out);

/* Releases the iterator. NULL is a no-op. */
void nn_batch_iter_free(nn_batch_iter *it);

/* The next batch of the epoch: *x: (B, in_width) and *y: (B, target_width) are set
 * to views of the iterator's buffers holding copies of the batch's rows, valid
 * until the next call. Returns B, 1 <= B <= batch_size, or 0 when the epoch is
 * over (x and y untouched). The first call after nn_batch_iter_new, after a 0 or
 * after nn_batch_iter_restart starts a new epoch (drawing its order). Returns 0
 * for a NULL argument. */
size_t nn_batch_iter_next(nn_batch_iter *it, nn_tensor *x, nn_tensor *y);

/* Abandons the current epoch: the next nn_batch_iter_next starts a new one. */
void nn_batch_iter_restart(nn_batch_iter *it);

/* The row order of the current (or last) epoch: N indices into the data set, a
 * permutation of 0..N-1. Borrowed, changed when the next epoch starts. NULL
 * before the first epoch or for NULL. */
const size_t *nn_batch_iter_order(const nn_batch_iter *it);

/* Batches per epoch: ceil(N / batch_size). 0 for NULL. */
size_t nn_batch_iter_batches(const nn_batch_iter *it);

/* ---- class labels ------------------------------------------------------------------ */

/* Index targets (n, 1) for the cross_entropy and nll losses from integer class
 * labels: row i holds (float)labels[i]. Every label must be in 0..classes-1.
 * *out is the caller's (nn_tensor_free).
 * Errors: NN_ERR_NULL_ARG, NN_ERR_INVALID_ARG (n or classes 0, classes > 2^24
 * (not exact as float), a label out of range, named with its position),
 * NN_ERR_NOMEM. On error *out is NULL. */
nn_status nn_dataset_index_targets(const int *labels, size_t n, size_t classes, nn_tensor **out);

/* One-hot rows (N, classes) from index targets index: (N, 1) (or a 1-D (N)):
 * row i is 1 in column index[i] and 0 elsewhere. *out is the caller's.
 * Errors: NN_ERR_NULL_ARG (also index with rows but no data), NN_ERR_SHAPE (index
 * neither (N, 1) nor (N)), NN_ERR_INVALID_ARG (index has no rows, classes 0, or an
 * entry that is not an integer in 0..classes-1, named by row), NN_ERR_NOMEM.
 * On error *out is NULL. */
nn_status nn_dataset_one_hot(const nn_tensor *index, size_t classes, nn_tensor **out);

#ifdef __cplusplus
}
#endif

#endif /* NN_DATASET_H */
