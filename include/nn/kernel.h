/* nn/kernel.h - the numeric kernels every layer, loss and optimizer is built on.
 *
 * These are the only functions in nn that call BLAS. They work on tensors seen
 * as matrices (see nn_tensor_nrows / nn_tensor_ncols), check shapes and return
 * NN_ERR_SHAPE with a message naming the sizes when they do not fit. None of them
 * allocates. Layers written outside the library should use them too.
 */
#ifndef NN_KERNEL_H
#define NN_KERNEL_H

#include "nn/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Whether a gemm operand is used as stored or transposed. */
typedef enum nn_trans {
    NN_NO_TRANS = 0,
    NN_TRANS = 1
} nn_trans;

/* C = alpha * op(A) op(B) + beta * C.
 * op(A): (M, K), op(B): (K, N), C: (M, N). With beta == 0, C's old contents
 * are ignored (NaN in C does not propagate); with alpha == 0, A and B are (C =
 * beta C, as BLAS does). Products with M N K up to 64 are
 * computed by a direct loop (dot products in double), larger ones by cblas_sgemm:
 * below that size a BLAS call costs more than the arithmetic. Either way the
 * result depends only on the operands (all of them: one row of C may change in the
 * last bits when M changes, as sgemm blocks by size) and, for BLAS, the thread
 * count. C must not overlap A or B.
 * Errors: NN_ERR_NULL_ARG, NN_ERR_SHAPE, NN_ERR_INVALID_ARG (C overlaps A or B). */
nn_status nn_kernel_gemm(nn_trans ta, nn_trans tb, float alpha, const nn_tensor *a,
                         const nn_tensor *b, float beta, nn_tensor *c);

/* The dense layer's forward in one call: y = x W^T + b (b broadcast over the rows).
 * x: (B, in), w: (out, in), b: out elements or NULL (no bias), y: (B, out), y not
 * overlapping the inputs. Equal to nn_kernel_set_rows then nn_kernel_gemm with
 * beta 1, which is what runs for large sizes; for tiny ones (B in out up to 128, such
 * as a batch of one through a 2-2-1 net) one direct loop in float replaces both
 * calls. Errors: NN_ERR_NULL_ARG, NN_ERR_SHAPE, NN_ERR_INVALID_ARG (y overlaps an input). */
nn_status nn_kernel_linear(const nn_tensor *x, const nn_tensor *w, const nn_tensor *b,
                           nn_tensor *y);

/* The dense layer's backward in one call, given dy: (B, out):
 *   dw += dy^T x   dw: out * in elements, (out, in) row-major
 *   db += colsum(dy)   db: out elements, or NULL to skip
 *   dx  = dy w     dx: (B, in), or NULL to skip
 * x: (B, in), w: (out, in); the outputs must not overlap the inputs.
 * Errors: NN_ERR_NULL_ARG, NN_ERR_SHAPE, NN_ERR_INVALID_ARG (an output overlaps an input). */
nn_status nn_kernel_linear_backward(const nn_tensor *x, const nn_tensor *w, const nn_tensor *dy,
                                    nn_tensor *dw, nn_tensor *db, nn_tensor *dx);

/* x[i, :] += v for every row i: x: (B, n), v: n elements (bias broadcast). */
nn_status nn_kernel_add_rowvec(nn_tensor *x, const nn_tensor *v);

/* x[i, :] = v for every row i: x: (B, n), v: n elements. */
nn_status nn_kernel_set_rows(nn_tensor *x, const nn_tensor *v);

/* out = beta * out + sum over rows of x: x: (B, n), out: n elements (bias gradient). */
nn_status nn_kernel_colsum(const nn_tensor *x, float beta, nn_tensor *out);

/* y += alpha * x, same number of elements (cblas_saxpy). */
nn_status nn_kernel_axpy(float alpha, const nn_tensor *x, nn_tensor *y);

/* x *= alpha (cblas_sscal). */
nn_status nn_kernel_scale(float alpha, nn_tensor *x);

/* y[i] = f(x[i]) for every element; x and y may be the same tensor. */
nn_status nn_kernel_map(float (*f)(float), const nn_tensor *x, nn_tensor *y);

/* Logistic sigmoid, y = 1 / (1 + exp(-x)), computed without overflow for any
 * finite x (exp only of non-positive numbers). x and y may alias. */
nn_status nn_kernel_sigmoid(const nn_tensor *x, nn_tensor *y);

/* dx = dy * y * (1 - y), the sigmoid's derivative written with its output y. */
nn_status nn_kernel_sigmoid_backward(const nn_tensor *y, const nn_tensor *dy, nn_tensor *dx);

/* Sums of all elements, accumulated in double. */
double nn_kernel_sum(const nn_tensor *x);

/* Sum of x[i] * y[i] over all elements, in double; 0 when sizes differ. */
double nn_kernel_dot(const nn_tensor *x, const nn_tensor *y);

/* Euclidean norm of all elements, accumulated in double. */
double nn_kernel_norm2(const nn_tensor *x);

/* Sets the number of threads BLAS uses: openblas_set_num_threads with OpenBLAS;
 * with another BLAS the call only checks n (that library's own setting, such as an
 * environment variable, applies). This is the one process-wide setting of nn; until
 * it is called BLAS uses its default (OpenBLAS: OPENBLAS_NUM_THREADS, else all
 * cores). n >= 1. nn's own loops (activations, losses, optimizers, the small-product
 * kernel) run on the calling thread.
 * Results are deterministic for a given seed, data and thread count: OpenBLAS splits
 * a product's rows and columns between threads, never the sum over k, so every
 * element is computed in the same order on every run. Different thread counts may
 * differ in the last bits. Errors: NN_ERR_INVALID_ARG (n < 1). */
nn_status nn_set_num_threads(int n);

/* The number of BLAS threads in use (1 when it cannot be queried). */
int nn_get_num_threads(void);

#ifdef __cplusplus
}
#endif

#endif /* NN_KERNEL_H */
