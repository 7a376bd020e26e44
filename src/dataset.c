/* dataset.c - data sets in memory: ownership, subsets, splits, batches, class labels. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "internal.h"
#include "nn/dataset.h"

struct nn_dataset {
    nn_tensor *x; /* (N, in_width), owned */
    nn_tensor *y; /* (N, target_width), owned */
};

static nn_status check_pair(const char *fn, const nn_tensor *x, const nn_tensor *y)
{
    if (x->ndim != 2 || y->ndim != 2)
        return nn_error(NN_ERR_SHAPE, "%s: x and y must be 2-D, they have %d and %d dimensions", fn,
                        x->ndim, y->ndim);
    if (x->shape[0] != y->shape[0])
        return nn_error(NN_ERR_SHAPE, "%s: x has %zu rows, y has %zu", fn, x->shape[0],
                        y->shape[0]);
    if (x->shape[0] == 0)
        return nn_error(NN_ERR_INVALID_ARG, "%s: the data set has no rows", fn);
    if (x->shape[1] == 0 || y->shape[1] == 0)
        return nn_error(NN_ERR_INVALID_ARG, "%s: x (%zu, %zu) or y (%zu, %zu) has no columns", fn,
                        x->shape[0], x->shape[1], y->shape[0], y->shape[1]);
    nn_status st = nn_check_data(fn, "x", x);
    return st != NN_OK ? st : nn_check_data(fn, "y", y);
}

nn_status nn_dataset_new(nn_tensor *x, nn_tensor *y, nn_dataset **out)
{
    NN_CHECK_NULL(out);
    *out = NULL;
    NN_CHECK_NULL(x);
    NN_CHECK_NULL(y);
    nn_status st = check_pair(__func__, x, y);
    if (st != NN_OK)
        return st;
    /* A view's memory belongs to someone else; freeing it with the data set would be a bug
     * waiting to happen, so only owning tensors (nn_tensor_new, loaders) are taken. */
    if (!x->owns_data || !y->owns_data || x == y)
        return nn_error(NN_ERR_INVALID_ARG,
                        "nn_dataset_new: x and y must be distinct tensors owning their data "
                        "(use nn_dataset_copy for views)");
    nn_dataset *d = nn_xalloc(sizeof *d);
    if (d == NULL)
        return nn_error(NN_ERR_NOMEM, "nn_dataset_new: out of memory");
    d->x = x;
    d->y = y;
    *out = d;
    return NN_OK;
}

/* A new 2-D tensor holding rows[0..n-1] of src (row indices), or rows first..first+n-1
 * when rows is NULL. */
static nn_status gather_rows(const char *fn, const nn_tensor *src, const size_t *rows, size_t first,
                             size_t n, nn_tensor **out)
{
    size_t w = src->shape[1];
    nn_status st = nn_tensor_new2d(n, w, out);
    if (st != NN_OK)
        return nn_error(st, "%s: cannot allocate (%zu, %zu)", fn, n, w);
    if (rows == NULL) {
        memcpy((*out)->data, src->data + first * w, n * w * sizeof(float));
    } else {
        for (size_t i = 0; i < n; i++)
            memcpy((*out)->data + i * w, src->data + rows[i] * w, w * sizeof(float));
    }
    return NN_OK;
}

/* A data set of the given rows of x and y (see gather_rows). */
static nn_status gather(const char *fn, const nn_tensor *x, const nn_tensor *y, const size_t *rows,
                        size_t first, size_t n, nn_dataset **out)
{
    nn_tensor *gx = NULL, *gy = NULL;
    nn_status st = gather_rows(fn, x, rows, first, n, &gx);
    if (st == NN_OK)
        st = gather_rows(fn, y, rows, first, n, &gy);
    if (st == NN_OK)
        st = nn_dataset_new(gx, gy, out);
    if (st != NN_OK) {
        nn_tensor_free(gx);
        nn_tensor_free(gy);
    }
    return st;
}

nn_status nn_dataset_copy(const nn_tensor *x, const nn_tensor *y, nn_dataset **out)
{
    NN_CHECK_NULL(out);
    *out = NULL;
    NN_CHECK_NULL(x);
    NN_CHECK_NULL(y);
    nn_status st = check_pair(__func__, x, y);
    if (st != NN_OK)
        return st;
    return gather(__func__, x, y, NULL, 0, x->shape[0], out);
}

void nn_dataset_free(nn_dataset *d)
{
    if (d == NULL)
        return;
    nn_tensor_free(d->x);
    nn_tensor_free(d->y);
    nn_xfree(d);
}

const nn_tensor *nn_dataset_x(const nn_dataset *d) { return d != NULL ? d->x : NULL; }
const nn_tensor *nn_dataset_y(const nn_dataset *d) { return d != NULL ? d->y : NULL; }
size_t nn_dataset_size(const nn_dataset *d) { return d != NULL ? d->x->shape[0] : 0; }
size_t nn_dataset_in_width(const nn_dataset *d) { return d != NULL ? d->x->shape[1] : 0; }
size_t nn_dataset_target_width(const nn_dataset *d) { return d != NULL ? d->y->shape[1] : 0; }

nn_status nn_dataset_standardize(nn_dataset *d, const nn_scaler *s)
{
    NN_CHECK_NULL(d);
    NN_CHECK_NULL(s);
    nn_status st = nn_scaler_apply(s, d->x);
    return st == NN_OK ? st : nn_error_prefix(st, "nn_dataset_standardize");
}

nn_status nn_dataset_subset(const nn_dataset *d, size_t first, size_t count, nn_dataset **out)
{
    NN_CHECK_NULL(out);
    *out = NULL;
    NN_CHECK_NULL(d);
    size_t n = d->x->shape[0];
    if (count == 0 || first > n || count > n - first)
        return nn_error(NN_ERR_INVALID_ARG,
                        "nn_dataset_subset: rows [%zu, %zu + %zu) are not a non-empty range of %zu",
                        first, first, count, n);
    return gather(__func__, d->x, d->y, NULL, first, count, out);
}

/* Fisher-Yates (Knuth, TAOCP vol. 2, Algorithm P) over order[0..n-1], drawing from the
 * top down; n < 2^32 so nn_rng_below's bound fits. */
static void shuffle(size_t *order, size_t n, nn_rng *rng)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = nn_rng_below(rng, (uint32_t)i);
        size_t t = order[i - 1];
        order[i - 1] = order[j];
        order[j] = t;
    }
}

nn_status nn_dataset_split(const nn_dataset *d, double val_fraction, nn_rng *rng,
                           nn_dataset **train, nn_dataset **val)
{
    NN_CHECK_NULL(train);
    NN_CHECK_NULL(val);
    *train = *val = NULL;
    NN_CHECK_NULL(d);
    size_t n = d->x->shape[0];
    if (!(val_fraction > 0.0 && val_fraction < 1.0))
        return nn_error(NN_ERR_INVALID_ARG, "nn_dataset_split: val_fraction %g is not in (0, 1)",
                        val_fraction);
    size_t n_val = (size_t)floor(val_fraction * (double)n + 0.5);
    if (n_val == 0 || n_val >= n)
        return nn_error(NN_ERR_INVALID_ARG,
                        "nn_dataset_split: %g of %zu rows leaves %zu for validation and %zu for "
                        "training; both must be > 0",
                        val_fraction, n, n_val, n - n_val);
    if (rng != NULL && n > UINT32_MAX)
        return nn_error(NN_ERR_INVALID_ARG, "nn_dataset_split: cannot shuffle %zu rows (> 2^32)",
                        n);

    size_t *order = nn_xcalloc(n, sizeof *order);
    unsigned char *is_val = nn_xcalloc(n, 1);
    if (order == NULL || is_val == NULL) {
        nn_xfree(order);
        nn_xfree(is_val);
        return nn_error(NN_ERR_NOMEM, "nn_dataset_split: cannot allocate an index of %zu rows", n);
    }
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    if (rng != NULL) {
        shuffle(order, n, rng);
        for (size_t i = 0; i < n_val; i++)
            is_val[order[i]] = 1;
    } else {
        for (size_t i = n - n_val; i < n; i++)
            is_val[i] = 1;
    }
    /* Both parts list their rows in data set order: the split decides membership only. */
    size_t *train_rows = order, *val_rows = order + (n - n_val), nt = 0, nv = 0;
    size_t *scratch = nn_xcalloc(n_val, sizeof *scratch);
    nn_status st = NN_OK;
    if (scratch == NULL) {
        st =
            nn_error(NN_ERR_NOMEM, "nn_dataset_split: cannot allocate an index of %zu rows", n_val);
    } else {
        for (size_t i = 0; i < n; i++) {
            if (is_val[i])
                scratch[nv++] = i;
            else
                train_rows[nt++] = i;
        }
        memcpy(val_rows, scratch, n_val * sizeof *scratch);
        NN_ASSERT(nt == n - n_val && nv == n_val);
        nn_dataset *t = NULL, *v = NULL;
        st = gather(__func__, d->x, d->y, train_rows, 0, nt, &t);
        if (st == NN_OK)
            st = gather(__func__, d->x, d->y, val_rows, 0, nv, &v);
        if (st == NN_OK) {
            *train = t;
            *val = v;
        } else {
            nn_dataset_free(t);
        }
    }
    nn_xfree(scratch);
    nn_xfree(order);
    nn_xfree(is_val);
    return st;
}

/* ---- mini-batches ---- */

struct nn_batch_iter {
    const nn_dataset *d; /* borrowed */
    nn_rng *rng;         /* borrowed; NULL: data set order */
    size_t batch_size;
    size_t *order; /* N row indices, the current epoch's order */
    size_t pos;    /* next position in order */
    int in_epoch;  /* 0: the next call starts an epoch */
    int started;   /* 1 once an order has been drawn */
    float *bx;     /* (batch_size, in_width) */
    float *by;     /* (batch_size, target_width) */
};

nn_status nn_batch_iter_new(const nn_dataset *d, size_t batch_size, nn_rng *rng,
                            nn_batch_iter **out)
{
    NN_CHECK_NULL(out);
    *out = NULL;
    NN_CHECK_NULL(d);
    size_t n = d->x->shape[0];
    if (batch_size == 0)
        return nn_error(NN_ERR_INVALID_ARG, "nn_batch_iter_new: batch_size is 0");
    if (rng != NULL && n > UINT32_MAX)
        return nn_error(NN_ERR_INVALID_ARG, "nn_batch_iter_new: cannot shuffle %zu rows (> 2^32)",
                        n);
    /* A batch is never larger than the data set, so neither are its buffers. */
    size_t b = batch_size < n ? batch_size : n;
    nn_batch_iter *it = nn_xcalloc(1, sizeof *it);
    size_t *order = nn_xcalloc(n, sizeof *order);
    float *bx = nn_xcalloc(b * d->x->shape[1], sizeof(float));
    float *by = nn_xcalloc(b * d->y->shape[1], sizeof(float));
    if (it == NULL || order == NULL || bx == NULL || by == NULL) {
        nn_xfree(it);
        nn_xfree(order);
        nn_xfree(bx);
        nn_xfree(by);
        return nn_error(NN_ERR_NOMEM, "nn_batch_iter_new: cannot allocate batches of %zu rows", b);
    }
    it->d = d;
    it->rng = rng;
    it->batch_size = batch_size;
    it->order = order;
    it->bx = bx;
    it->by = by;
    *out = it;
    return NN_OK;
}

void nn_batch_iter_free(nn_batch_iter *it)
{
    if (it == NULL)
        return;
    nn_xfree(it->order);
    nn_xfree(it->bx);
    nn_xfree(it->by);
    nn_xfree(it);
}

size_t nn_batch_iter_next(nn_batch_iter *it, nn_tensor *x, nn_tensor *y)
{
    if (it == NULL || x == NULL || y == NULL)
        return 0;
    const nn_tensor *dx = it->d->x, *dy = it->d->y;
    size_t n = dx->shape[0], wx = dx->shape[1], wy = dy->shape[1];
    if (!it->in_epoch) {
        /* Each epoch shuffles the identity afresh rather than the previous order, so an
         * epoch's order depends only on the generator's state when it starts. */
        for (size_t i = 0; i < n; i++)
            it->order[i] = i;
        if (it->rng != NULL)
            shuffle(it->order, n, it->rng);
        it->pos = 0;
        it->in_epoch = 1;
        it->started = 1;
    }
    if (it->pos >= n) {
        it->in_epoch = 0;
        return 0;
    }
    size_t b = n - it->pos < it->batch_size ? n - it->pos : it->batch_size;
    for (size_t i = 0; i < b; i++) {
        size_t r = it->order[it->pos + i];
        memcpy(it->bx + i * wx, dx->data + r * wx, wx * sizeof(float));
        memcpy(it->by + i * wy, dy->data + r * wy, wy * sizeof(float));
    }
    it->pos += b;
    *x = nn_tensor_view2d(it->bx, b, wx);
    *y = nn_tensor_view2d(it->by, b, wy);
    return b;
}

void nn_batch_iter_restart(nn_batch_iter *it)
{
    if (it != NULL)
        it->in_epoch = 0;
}

const size_t *nn_batch_iter_order(const nn_batch_iter *it)
{
    return it != NULL && it->started ? it->order : NULL;
}

size_t nn_batch_iter_batches(const nn_batch_iter *it)
{
    if (it == NULL)
        return 0;
    size_t n = it->d->x->shape[0];
    return n == 0 ? 0 : (n - 1) / it->batch_size + 1; /* n + size - 1 wrapped for huge sizes */
}

/* ---- class labels ---- */

/* Above 2^24 consecutive integers are no longer all exact in float. */
#define MAX_EXACT_CLASSES ((size_t)1 << 24)

nn_status nn_dataset_index_targets(const int *labels, size_t n, size_t classes, nn_tensor **out)
{
    NN_CHECK_NULL(out);
    *out = NULL;
    NN_CHECK_NULL(labels);
    if (n == 0 || classes == 0 || classes > MAX_EXACT_CLASSES)
        return nn_error(NN_ERR_INVALID_ARG,
                        "nn_dataset_index_targets: %zu labels of %zu classes (need n > 0 and "
                        "0 < classes <= 2^24)",
                        n, classes);
    for (size_t i = 0; i < n; i++)
        if (labels[i] < 0 || (size_t)labels[i] >= classes)
            return nn_error(NN_ERR_INVALID_ARG,
                            "nn_dataset_index_targets: labels[%zu] is %d, not a class in 0..%zu", i,
                            labels[i], classes - 1);
    nn_tensor *t = NULL;
    nn_status st = nn_tensor_new2d(n, 1, &t);
    if (st != NN_OK)
        return nn_error_prefix(st, "nn_dataset_index_targets: %zu labels", n);
    for (size_t i = 0; i < n; i++)
        t->data[i] = (float)labels[i];
    *out = t;
    return NN_OK;
}

nn_status nn_dataset_one_hot(const nn_tensor *index, size_t classes, nn_tensor **out)
{
    NN_CHECK_NULL(out);
    *out = NULL;
    NN_CHECK_NULL(index);
    if (!(index->ndim == 1 || (index->ndim == 2 && index->shape[1] == 1)))
        return nn_error(NN_ERR_SHAPE,
                        "nn_dataset_one_hot: index must be (N, 1) or (N), not (%zu, %zu)",
                        nn_tensor_nrows(index), nn_tensor_ncols(index));
    if (classes == 0 || classes > MAX_EXACT_CLASSES)
        return nn_error(NN_ERR_INVALID_ARG, "nn_dataset_one_hot: classes %zu is not in 1..2^24",
                        classes);
    size_t n = index->shape[0];
    if (n == 0)
        return nn_error(NN_ERR_INVALID_ARG, "nn_dataset_one_hot: index has no rows");
    NN_CHECK_NULL_IN("nn_dataset_one_hot", index->data);
    for (size_t i = 0; i < n; i++) {
        float v = index->data[i];
        if (!(v >= 0.0f) || v != floorf(v) || v >= (float)classes)
            return nn_error(NN_ERR_INVALID_ARG,
                            "nn_dataset_one_hot: row %zu: %g is not a class in 0..%zu", i,
                            (double)v, classes - 1);
    }
    nn_tensor *t = NULL;
    nn_status st = nn_tensor_new2d(n, classes, &t);
    if (st != NN_OK)
        return nn_error_prefix(st, "nn_dataset_one_hot: (%zu, %zu)", n, classes);
    for (size_t i = 0; i < n; i++)
        t->data[i * classes + (size_t)index->data[i]] = 1.0f;
    *out = t;
    return NN_OK;
}
