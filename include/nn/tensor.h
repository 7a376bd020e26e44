/* nn/tensor.h - dense float32 tensors.
 *
 * A tensor is row-major and contiguous. For 2-D use the batch is in rows and
 * features are in columns: x: (B, in) holds B samples of `in` features each.
 * A tensor either owns its data (made by nn_tensor_new, released by
 * nn_tensor_free) or is a view of memory owned by someone else (made by
 * nn_tensor_view, which allocates nothing and needs no free).
 *
 * The struct is public so that views can live on the stack and layers written
 * outside the library can read shapes and data directly. Treat the fields as
 * read-only except `data`'s contents; change shapes only through the functions
 * here.
 */
#ifndef NN_TENSOR_H
#define NN_TENSOR_H

#include <stddef.h>
#include "nn/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Element types. Only float32 exists; the field is kept so that later types
 * (and files written with them) need no change of layout. Append-only. */
typedef enum nn_dtype {
    NN_DTYPE_F32 = 0
} nn_dtype;

#define NN_TENSOR_MAX_DIMS 4

typedef struct nn_tensor {
    float *data;                       /* size elements, row-major */
    size_t shape[NN_TENSOR_MAX_DIMS];  /* shape[0..ndim-1]; unused entries are 1 */
    size_t size;                       /* product of the shape */
    int ndim;                          /* 1..NN_TENSOR_MAX_DIMS */
    nn_dtype dtype;
    int owns_data;                     /* 1: data is freed with the tensor */
} nn_tensor;

/* Allocates a zero-filled tensor of the given shape (every entry > 0, 1 <= ndim
 * <= NN_TENSOR_MAX_DIMS). *out is the caller's; release it with nn_tensor_free.
 * Errors: NN_ERR_NULL_ARG, NN_ERR_INVALID_ARG (ndim, zero or overflowing size),
 * NN_ERR_NOMEM. On error *out is set to NULL. */
nn_status nn_tensor_new(int ndim, const size_t *shape, nn_tensor **out);

/* nn_tensor_new for a 2-D (rows, cols) tensor. */
nn_status nn_tensor_new2d(size_t rows, size_t cols, nn_tensor **out);

/* Releases a tensor made by nn_tensor_new and its data if it owns it. NULL is a no-op. */
void nn_tensor_free(nn_tensor *t);

/* A 2-D (rows, cols) view of rows*cols floats at data. Allocates nothing;
 * data stays owned by the caller and must outlive the view. */
nn_tensor nn_tensor_view2d(float *data, size_t rows, size_t cols);

/* A 1-D view of n floats. */
nn_tensor nn_tensor_view1d(float *data, size_t n);

/* A 2-D view of rows [first, first + count) of a 2-D tensor t.
 * Errors: NN_ERR_NULL_ARG, NN_ERR_SHAPE (t not 2-D or rows out of range). */
nn_status nn_tensor_rows(const nn_tensor *t, size_t first, size_t count, nn_tensor *view);

/* Rows and columns of t seen as a matrix: a 1-D tensor of n is (1, n); an N-D
 * tensor is (shape[0], size / shape[0]). */
size_t nn_tensor_nrows(const nn_tensor *t);
size_t nn_tensor_ncols(const nn_tensor *t);

/* 1 when a and b have the same ndim and shape. */
int nn_tensor_same_shape(const nn_tensor *a, const nn_tensor *b);

/* Sets every element to value. Errors: NN_ERR_NULL_ARG. */
nn_status nn_tensor_fill(nn_tensor *t, float value);

/* Copies src's elements into dst. Errors: NN_ERR_NULL_ARG, NN_ERR_SHAPE (sizes differ). */
nn_status nn_tensor_copy(nn_tensor *dst, const nn_tensor *src);

/* Element (i, j) of a 2-D tensor, unchecked beyond an assert in debug builds. */
float nn_tensor_get2d(const nn_tensor *t, size_t i, size_t j);
void nn_tensor_set2d(nn_tensor *t, size_t i, size_t j, float value);

/* Element at a full index (ndim entries), checked.
 * Errors: NN_ERR_NULL_ARG, NN_ERR_SHAPE (index out of range). */
nn_status nn_tensor_get(const nn_tensor *t, const size_t *index, float *value);
nn_status nn_tensor_set(nn_tensor *t, const size_t *index, float value);

/* 1 when every element is finite (no NaN, no Inf). */
int nn_tensor_all_finite(const nn_tensor *t);

#ifdef __cplusplus
}
#endif

#endif /* NN_TENSOR_H */
