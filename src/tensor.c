/* tensor.c - float32 tensors: creation, views, shape queries, element access. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "internal.h"
#include "nn/tensor.h"

/* Validates a shape and returns its element count in *size. */
static nn_status shape_size(const char *fn, int ndim, const size_t *shape, size_t *size)
{
    if (ndim < 1 || ndim > NN_TENSOR_MAX_DIMS)
        return nn_error(NN_ERR_INVALID_ARG, "%s: ndim %d is outside 1..%d", fn, ndim,
                        NN_TENSOR_MAX_DIMS);
    size_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] == 0)
            return nn_error(NN_ERR_INVALID_ARG, "%s: dimension %d is 0", fn, i);
        if (n > SIZE_MAX / sizeof(float) / shape[i])
            return nn_error(NN_ERR_INVALID_ARG, "%s: shape too large (dimension %d is %zu)", fn,
                            i, shape[i]);
        n *= shape[i];
    }
    *size = n;
    return NN_OK;
}

nn_status nn_tensor_new(int ndim, const size_t *shape, nn_tensor **out)
{
    NN_CHECK_NULL(out);
    *out = NULL;
    NN_CHECK_NULL(shape);
    size_t size = 0;
    nn_status st = shape_size(__func__, ndim, shape, &size);
    if (st != NN_OK)
        return st;
    nn_tensor *t = nn_xalloc(sizeof *t);
    float *data = nn_xcalloc(size, sizeof(float));
    if (t == NULL || data == NULL) {
        nn_xfree(t);
        nn_xfree(data);
        return nn_error(NN_ERR_NOMEM, "%s: cannot allocate %zu floats", __func__, size);
    }
    memset(t, 0, sizeof *t);
    for (int i = 0; i < NN_TENSOR_MAX_DIMS; i++)
        t->shape[i] = i < ndim ? shape[i] : 1;
    t->ndim = ndim;
    t->size = size;
    t->data = data;
    t->dtype = NN_DTYPE_F32;
    t->owns_data = 1;
    *out = t;
    return NN_OK;
}

nn_status nn_tensor_new2d(size_t rows, size_t cols, nn_tensor **out)
{
    size_t shape[2] = {rows, cols};
    return nn_tensor_new(2, shape, out);
}

void nn_tensor_free(nn_tensor *t)
{
    if (t == NULL)
        return;
    if (t->owns_data)
        nn_xfree(t->data);
    nn_xfree(t);
}

nn_tensor nn_tensor_view2d(float *data, size_t rows, size_t cols)
{
    nn_tensor t = {0};
    t.data = data;
    t.shape[0] = rows;
    t.shape[1] = cols;
    t.shape[2] = t.shape[3] = 1;
    t.size = rows * cols;
    t.ndim = 2;
    t.dtype = NN_DTYPE_F32;
    return t;
}

nn_tensor nn_tensor_view1d(float *data, size_t n)
{
    nn_tensor t = nn_tensor_view2d(data, n, 1);
    t.ndim = 1;
    return t;
}

nn_status nn_tensor_rows(const nn_tensor *t, size_t first, size_t count, nn_tensor *view)
{
    NN_CHECK_NULL(t);
    NN_CHECK_NULL(view);
    if (t->ndim != 2)
        return nn_error(NN_ERR_SHAPE, "%s: tensor is %d-D, not 2-D", __func__, t->ndim);
    if (count == 0 || first > t->shape[0] || count > t->shape[0] - first)
        return nn_error(NN_ERR_SHAPE, "%s: rows [%zu, %zu) are outside a tensor of %zu rows",
                        __func__, first, first + count, t->shape[0]);
    *view = nn_tensor_view2d(t->data + first * t->shape[1], count, t->shape[1]);
    return NN_OK;
}

size_t nn_tensor_nrows(const nn_tensor *t) { return t->ndim == 1 ? 1 : t->shape[0]; }

size_t nn_tensor_ncols(const nn_tensor *t)
{
    if (t->ndim == 1)
        return t->size;
    if (t->shape[0] == 0) { /* size is 0 too: the columns are the product of the other dims */
        size_t c = 1;
        for (int d = 1; d < t->ndim; d++)
            c *= t->shape[d];
        return c;
    }
    return t->size / t->shape[0];
}

int nn_tensor_same_shape(const nn_tensor *a, const nn_tensor *b)
{
    if (a->ndim != b->ndim)
        return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i])
            return 0;
    return 1;
}

nn_status nn_tensor_fill(nn_tensor *t, float value)
{
    NN_CHECK_NULL(t);
    for (size_t i = 0; i < t->size; i++)
        t->data[i] = value;
    return NN_OK;
}

nn_status nn_tensor_copy(nn_tensor *dst, const nn_tensor *src)
{
    NN_CHECK_NULL(dst);
    NN_CHECK_NULL(src);
    if (dst->size != src->size)
        return nn_error(NN_ERR_SHAPE, "%s: destination has %zu elements, source %zu", __func__,
                        dst->size, src->size);
    if (dst->data != src->data)
        memmove(dst->data, src->data, src->size * sizeof(float));
    return NN_OK;
}

float nn_tensor_get2d(const nn_tensor *t, size_t i, size_t j)
{
    NN_ASSERT(t->ndim == 2 && i < t->shape[0] && j < t->shape[1]);
    return t->data[i * t->shape[1] + j];
}

void nn_tensor_set2d(nn_tensor *t, size_t i, size_t j, float value)
{
    NN_ASSERT(t->ndim == 2 && i < t->shape[0] && j < t->shape[1]);
    t->data[i * t->shape[1] + j] = value;
}

/* Row-major offset of a full index, or NN_ERR_SHAPE when out of range. */
static nn_status offset_of(const char *fn, const nn_tensor *t, const size_t *index, size_t *off)
{
    size_t o = 0;
    for (int d = 0; d < t->ndim; d++) {
        if (index[d] >= t->shape[d])
            return nn_error(NN_ERR_SHAPE, "%s: index %zu is out of range for dimension %d of size %zu",
                            fn, index[d], d, t->shape[d]);
        o = o * t->shape[d] + index[d];
    }
    *off = o;
    return NN_OK;
}

nn_status nn_tensor_get(const nn_tensor *t, const size_t *index, float *value)
{
    NN_CHECK_NULL(t);
    NN_CHECK_NULL(index);
    NN_CHECK_NULL(value);
    size_t off = 0;
    nn_status st = offset_of(__func__, t, index, &off);
    if (st == NN_OK)
        *value = t->data[off];
    return st;
}

nn_status nn_tensor_set(nn_tensor *t, const size_t *index, float value)
{
    NN_CHECK_NULL(t);
    NN_CHECK_NULL(index);
    size_t off = 0;
    nn_status st = offset_of(__func__, t, index, &off);
    if (st == NN_OK)
        t->data[off] = value;
    return st;
}

int nn_tensor_all_finite(const nn_tensor *t)
{
    /* x - x is 0 for finite x and NaN for Inf or NaN; summing keeps one pass branch-free. */
    float acc = 0.0f;
    for (size_t i = 0; i < t->size; i++)
        acc += t->data[i] - t->data[i];
    return acc == 0.0f;
}

nn_status nn_check_data(const char *fn, const char *what, const nn_tensor *t)
{
    if (t->data != NULL || t->size == 0)
        return NN_OK;
    return nn_error(NN_ERR_NULL_ARG, "%s: %s (%zu, %zu) has elements but no data", fn, what,
                    nn_tensor_nrows(t), nn_tensor_ncols(t));
}
