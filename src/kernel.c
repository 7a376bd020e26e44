/* kernel.c - the numeric kernels; the only file of nn that calls BLAS. */
#include <cblas.h>
#include <limits.h>
#include <math.h>

#include "internal.h"
#include "kernel_small.h"
#include "nn/kernel.h"

/* cblas takes int sizes; larger tensors are rejected rather than truncated. */
static int fits_int(size_t n) { return n <= (size_t)INT_MAX; }

/* nn_tensor_nrows / nn_tensor_ncols without the call and, for the usual 2-D case,
 * without the division: these run several times per kernel call, and on tiny
 * tensors (a batch of one through the lesson's 2-2-1 net) that showed in profiles. */
static inline size_t rows_of(const nn_tensor *t) { return t->ndim == 1 ? 1 : t->shape[0]; }
static inline size_t cols_of(const nn_tensor *t)
{
    return t->ndim == 2 ? t->shape[1] : nn_tensor_ncols(t);
}

/* Products with m n k up to this go to gemm_small instead of BLAS (dense layers switch
 * at NN_LINEAR_SMALL_MAX, in kernel_small.h). Measured on the benchmark machine
 * (docs/performance.md): a cblas_sgemm call costs 70-120 ns before any arithmetic, so
 * the direct loop wins at m n k = 64 (60 ns against 80) and loses at 128 (108 against 88). */
#ifndef NN_GEMM_SMALL_MAX
#define NN_GEMM_SMALL_MAX 64
#endif

/* C = alpha op(A) op(B) + beta C straight from the definition, each dot product
 * accumulated in double (so at least as accurate as the BLAS path). lda, ldb: the
 * stored row lengths. With beta == 0, C's old contents are not read. */
static void gemm_small(int ta, int tb, size_t m, size_t n, size_t k, float alpha,
                       const float *a, size_t lda, const float *b, size_t ldb, float beta, float *c)
{
    /* op(A)[i, p] = a[i * ai + p * ap], op(B)[p, j] = b[p * bp + j * bj] */
    size_t ai = ta ? 1 : lda, ap = ta ? lda : 1;
    size_t bp = tb ? 1 : ldb, bj = tb ? ldb : 1;
    for (size_t i = 0; i < m; i++) {
        for (size_t j = 0; j < n; j++) {
            const float *ar = a + i * ai, *bc = b + j * bj;
            double s = 0.0;
            /* alpha 0: the product is not formed, as BLAS does (a NaN in A or B then
             * leaves C alone on both paths) */
            for (size_t p = 0; alpha != 0.0f && p < k; p++)
                s += (double)ar[p * ap] * bc[p * bp];
            double v = (double)alpha * s;
            if (beta != 0.0f)
                v += (double)beta * c[i * n + j];
            c[i * n + j] = (float)v;
        }
    }
}

/* 1 when the storage of a and b shares a float (an output over an input: the
 * products read what they have already overwritten, and returned NN_OK). */
static int overlap(const nn_tensor *a, const nn_tensor *b)
{
    return a != NULL && b != NULL && a->size > 0 && b->size > 0 && a->data < b->data + b->size &&
           b->data < a->data + a->size;
}

#if defined(__GNUC__)
__attribute__((noinline, cold))
#endif
static nn_status overlap_error(const char *fn, const char *out, const char *in)
{
    return nn_error(NN_ERR_INVALID_ARG, "%s: %s overlaps %s", fn, out, in);
}

nn_status nn_kernel_gemm(nn_trans ta, nn_trans tb, float alpha, const nn_tensor *a,
                         const nn_tensor *b, float beta, nn_tensor *c)
{
    NN_CHECK_NULL(a);
    NN_CHECK_NULL(b);
    NN_CHECK_NULL(c);
    size_t ar = rows_of(a), ac = cols_of(a);
    size_t br = rows_of(b), bc = cols_of(b);
    size_t m = ta == NN_TRANS ? ac : ar, k = ta == NN_TRANS ? ar : ac;
    size_t kb = tb == NN_TRANS ? bc : br, n = tb == NN_TRANS ? br : bc;
    if (k != kb || rows_of(c) != m || cols_of(c) != n)
        return nn_error(NN_ERR_SHAPE,
                        "nn_kernel_gemm: op(A) is (%zu, %zu), op(B) is (%zu, %zu), C is (%zu, %zu)",
                        m, k, kb, n, rows_of(c), cols_of(c));
    if (overlap(c, a) || overlap(c, b))
        return overlap_error(__func__, "C", overlap(c, a) ? "A" : "B");
    if (m <= NN_GEMM_SMALL_MAX && n <= NN_GEMM_SMALL_MAX && k <= NN_GEMM_SMALL_MAX &&
        m * n * k <= NN_GEMM_SMALL_MAX) {
        gemm_small(ta == NN_TRANS, tb == NN_TRANS, m, n, k, alpha, a->data, ac, b->data, bc, beta,
                   c->data);
        return NN_OK;
    }
    if (!fits_int(m) || !fits_int(n) || !fits_int(k) || !fits_int(ac) || !fits_int(bc))
        return nn_error(NN_ERR_SHAPE, "nn_kernel_gemm: a dimension exceeds INT_MAX");
    cblas_sgemm(CblasRowMajor, ta == NN_TRANS ? CblasTrans : CblasNoTrans,
                tb == NN_TRANS ? CblasTrans : CblasNoTrans, (int)m, (int)n, (int)k, alpha, a->data,
                (int)ac, b->data, (int)bc, beta, c->data, (int)n);
    return NN_OK;
}

/* ---- the dense layer's products, fused for tiny sizes ------------------------------- */

/* The shape error of the linear kernels, kept out of line: the checks below run on
 * every call and, inlined without it, cost little next to a 2x2 product. */
#if defined(__GNUC__)
__attribute__((noinline, cold))
#endif
static nn_status linear_shape_error(const char *fn, const nn_tensor *x, const nn_tensor *w,
                                    const nn_tensor *b, const nn_tensor *y)
{
    return nn_error(NN_ERR_SHAPE,
                    "%s: x is (%zu, %zu), W is (%zu, %zu), b has %zu elements, y is (%zu, %zu)", fn,
                    rows_of(x), cols_of(x), rows_of(w), cols_of(w), b != NULL ? b->size : 0,
                    rows_of(y), cols_of(y));
}

/* x: (B, in), w: (out, in), y: (B, out); b: out elements or NULL. */
static inline nn_status check_linear(const char *fn, const nn_tensor *x, const nn_tensor *w,
                                     const nn_tensor *b, const nn_tensor *y)
{
    size_t bs = rows_of(x), in = cols_of(x), out = rows_of(w);
    if (cols_of(w) != in || rows_of(y) != bs || cols_of(y) != out || (b != NULL && b->size != out))
        return linear_shape_error(fn, x, w, b, y);
    return NN_OK;
}

nn_status nn_kernel_linear(const nn_tensor *x, const nn_tensor *w, const nn_tensor *b, nn_tensor *y)
{
    NN_CHECK_NULL(x);
    NN_CHECK_NULL(w);
    NN_CHECK_NULL(y);
    nn_status st = check_linear(__func__, x, w, b, y);
    if (st != NN_OK)
        return st;
    if (overlap(y, x) || overlap(y, w) || overlap(y, b))
        return overlap_error(__func__, "y", overlap(y, x) ? "x" : overlap(y, w) ? "W" : "b");
    size_t bs = rows_of(x), in = cols_of(x), out = rows_of(w);
    if (!nn_linear_is_small(bs, in, out)) {
        /* Broadcast the bias into y, then let one gemm accumulate x W^T onto it. */
        if (b != NULL)
            st = nn_kernel_set_rows(y, b);
        if (st == NN_OK)
            st = nn_kernel_gemm(NN_NO_TRANS, NN_TRANS, 1.0f, x, w, b != NULL ? 1.0f : 0.0f, y);
        return st;
    }
    nn_linear_small(x->data, w->data, b != NULL ? b->data : NULL, y->data, bs, in, out);
    return NN_OK;
}

nn_status nn_kernel_linear_backward(const nn_tensor *x, const nn_tensor *w, const nn_tensor *dy,
                                    nn_tensor *dw, nn_tensor *db, nn_tensor *dx)
{
    NN_CHECK_NULL(x);
    NN_CHECK_NULL(w);
    NN_CHECK_NULL(dy);
    NN_CHECK_NULL(dw);
    nn_status st = check_linear(__func__, x, w, db, dy);
    size_t bs = rows_of(x), in = cols_of(x), out = rows_of(w);
    if (st == NN_OK && dw->size != out * in)
        st = nn_error(NN_ERR_SHAPE, "%s: dW has %zu elements, W has %zu", __func__, dw->size,
                      out * in);
    if (st == NN_OK && dx != NULL && (rows_of(dx) != bs || cols_of(dx) != in))
        st = nn_error(NN_ERR_SHAPE, "%s: dx is (%zu, %zu), x is (%zu, %zu)", __func__, rows_of(dx),
                      cols_of(dx), bs, in);
    if (st != NN_OK)
        return st;
    const nn_tensor *ins[3] = {x, w, dy};
    nn_tensor *outs[3] = {dw, db, dx};
    static const char *const in_names[3] = {"x", "W", "dy"}, *const out_names[3] = {"dW", "db", "dx"};
    for (int o = 0; o < 3; o++)
        for (int i = 0; i < 3; i++)
            if (overlap(outs[o], ins[i]))
                return overlap_error(__func__, out_names[o], in_names[i]);
    if (!nn_linear_is_small(bs, in, out)) {
        nn_tensor dwm = nn_tensor_view2d(dw->data, out, in);
        st = nn_kernel_gemm(NN_TRANS, NN_NO_TRANS, 1.0f, dy, x, 1.0f, &dwm);
        if (st == NN_OK && db != NULL)
            st = nn_kernel_colsum(dy, 1.0f, db);
        if (st == NN_OK && dx != NULL)
            st = nn_kernel_gemm(NN_NO_TRANS, NN_NO_TRANS, 1.0f, dy, w, 0.0f, dx);
        return st;
    }
    nn_linear_small_backward(x->data, w->data, dy->data, dw->data, db != NULL ? db->data : NULL,
                             dx != NULL ? dx->data : NULL, bs, in, out, 0);
    return NN_OK;
}

/* Checks that v has as many elements as x has columns. */
static nn_status check_rowvec(const char *fn, const nn_tensor *x, const nn_tensor *v)
{
    if (v->size != cols_of(x))
        return nn_error(NN_ERR_SHAPE, "%s: vector has %zu elements, matrix has %zu columns", fn,
                        v->size, cols_of(x));
    return NN_OK;
}

nn_status nn_kernel_add_rowvec(nn_tensor *x, const nn_tensor *v)
{
    NN_CHECK_NULL(x);
    NN_CHECK_NULL(v);
    nn_status st = check_rowvec(__func__, x, v);
    if (st != NN_OK)
        return st;
    size_t rows = rows_of(x), cols = v->size;
    for (size_t i = 0; i < rows; i++) {
        float *xi = x->data + i * cols;
        for (size_t j = 0; j < cols; j++)
            xi[j] += v->data[j];
    }
    return NN_OK;
}

nn_status nn_kernel_set_rows(nn_tensor *x, const nn_tensor *v)
{
    NN_CHECK_NULL(x);
    NN_CHECK_NULL(v);
    nn_status st = check_rowvec(__func__, x, v);
    if (st != NN_OK)
        return st;
    size_t rows = rows_of(x), cols = v->size;
    for (size_t i = 0; i < rows; i++) {
        float *xi = x->data + i * cols;
        for (size_t j = 0; j < cols; j++)
            xi[j] = v->data[j];
    }
    return NN_OK;
}

nn_status nn_kernel_colsum(const nn_tensor *x, float beta, nn_tensor *out)
{
    NN_CHECK_NULL(x);
    NN_CHECK_NULL(out);
    nn_status st = check_rowvec(__func__, x, out);
    if (st != NN_OK)
        return st;
    size_t rows = rows_of(x), cols = out->size;
    /* Row by row keeps the walk over x sequential and vectorisable; the float sum
     * over a batch is as accurate as the gemm that produced the other gradients. */
    for (size_t j = 0; j < cols; j++)
        out->data[j] = beta == 0.0f ? 0.0f : beta * out->data[j];
    for (size_t i = 0; i < rows; i++) {
        const float *xi = x->data + i * cols;
        for (size_t j = 0; j < cols; j++)
            out->data[j] += xi[j];
    }
    return NN_OK;
}

/* Checks that x and y have the same number of elements, small enough for cblas. */
static nn_status check_same_size(const char *fn, const nn_tensor *x, const nn_tensor *y)
{
    if (x->size != y->size)
        return nn_error(NN_ERR_SHAPE, "%s: tensors have %zu and %zu elements", fn, x->size,
                        y->size);
    if (!fits_int(x->size))
        return nn_error(NN_ERR_SHAPE, "%s: %zu elements exceed INT_MAX", fn, x->size);
    return NN_OK;
}

nn_status nn_kernel_axpy(float alpha, const nn_tensor *x, nn_tensor *y)
{
    NN_CHECK_NULL(x);
    NN_CHECK_NULL(y);
    nn_status st = check_same_size(__func__, x, y);
    if (st != NN_OK)
        return st;
    cblas_saxpy((int)x->size, alpha, x->data, 1, y->data, 1);
    return NN_OK;
}

nn_status nn_kernel_scale(float alpha, nn_tensor *x)
{
    NN_CHECK_NULL(x);
    nn_status st = check_same_size(__func__, x, x);
    if (st != NN_OK)
        return st;
    cblas_sscal((int)x->size, alpha, x->data, 1);
    return NN_OK;
}

nn_status nn_kernel_map(float (*f)(float), const nn_tensor *x, nn_tensor *y)
{
    NN_CHECK_NULL(f);
    NN_CHECK_NULL(x);
    NN_CHECK_NULL(y);
    nn_status st = check_same_size(__func__, x, y);
    if (st != NN_OK)
        return st;
    for (size_t i = 0; i < x->size; i++)
        y->data[i] = f(x->data[i]);
    return NN_OK;
}

nn_status nn_kernel_sigmoid(const nn_tensor *x, nn_tensor *y)
{
    NN_CHECK_NULL(x);
    NN_CHECK_NULL(y);
    nn_status st = check_same_size(__func__, x, y);
    if (st != NN_OK)
        return st;
    for (size_t i = 0; i < x->size; i++) {
        /* exp(-|v|) is in (0, 1]: no overflow for any v, and 1 + e never loses
         * the small side, unlike 1 / (1 + exp(-v)) for very negative v. */
        float v = x->data[i];
        float e = expf(-fabsf(v));
        y->data[i] = v >= 0.0f ? 1.0f / (1.0f + e) : e / (1.0f + e);
    }
    return NN_OK;
}

nn_status nn_kernel_sigmoid_backward(const nn_tensor *y, const nn_tensor *dy, nn_tensor *dx)
{
    NN_CHECK_NULL(y);
    NN_CHECK_NULL(dy);
    NN_CHECK_NULL(dx);
    nn_status st = check_same_size(__func__, y, dy);
    if (st == NN_OK)
        st = check_same_size(__func__, y, dx);
    if (st != NN_OK)
        return st;
    for (size_t i = 0; i < y->size; i++) {
        float s = y->data[i];
        dx->data[i] = dy->data[i] * s * (1.0f - s);
    }
    return NN_OK;
}

double nn_kernel_sum(const nn_tensor *x)
{
    double s = 0.0;
    for (size_t i = 0; i < x->size; i++)
        s += x->data[i];
    return s;
}

double nn_kernel_dot(const nn_tensor *x, const nn_tensor *y)
{
    if (x->size != y->size)
        return 0.0;
    double s = 0.0;
    for (size_t i = 0; i < x->size; i++)
        s += (double)x->data[i] * y->data[i];
    return s;
}

double nn_kernel_norm2(const nn_tensor *x) { return sqrt(nn_kernel_dot(x, x)); }

nn_status nn_set_num_threads(int n)
{
    if (n < 1)
        return nn_error(NN_ERR_INVALID_ARG, "nn_set_num_threads: %d threads (need >= 1)", n);
#ifdef NN_HAVE_OPENBLAS
    openblas_set_num_threads(n);
#endif
    return NN_OK;
}

int nn_get_num_threads(void)
{
#ifdef NN_HAVE_OPENBLAS
    return openblas_get_num_threads();
#else
    return 1;
#endif
}
