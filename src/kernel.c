/* kernel.c - the numeric kernels; the only file of nn that calls BLAS. */
#include <cblas.h>
#include <limits.h>
#include <math.h>

#include "internal.h"
#include "nn/kernel.h"

/* cblas takes int sizes; larger tensors are rejected rather than truncated. */
static int fits_int(size_t n) { return n <= (size_t)INT_MAX; }

nn_status nn_kernel_gemm(nn_trans ta, nn_trans tb, float alpha, const nn_tensor *a,
                         const nn_tensor *b, float beta, nn_tensor *c)
{
    NN_CHECK_NULL(a);
    NN_CHECK_NULL(b);
    NN_CHECK_NULL(c);
    size_t ar = nn_tensor_nrows(a), ac = nn_tensor_ncols(a);
    size_t br = nn_tensor_nrows(b), bc = nn_tensor_ncols(b);
    size_t m = ta == NN_TRANS ? ac : ar, k = ta == NN_TRANS ? ar : ac;
    size_t kb = tb == NN_TRANS ? bc : br, n = tb == NN_TRANS ? br : bc;
    if (k != kb || nn_tensor_nrows(c) != m || nn_tensor_ncols(c) != n)
        return nn_error(NN_ERR_SHAPE,
                        "nn_kernel_gemm: op(A) is (%zu, %zu), op(B) is (%zu, %zu), C is (%zu, %zu)",
                        m, k, kb, n, nn_tensor_nrows(c), nn_tensor_ncols(c));
    if (!fits_int(m) || !fits_int(n) || !fits_int(k) || !fits_int(ac) || !fits_int(bc))
        return nn_error(NN_ERR_SHAPE, "nn_kernel_gemm: a dimension exceeds INT_MAX");
    cblas_sgemm(CblasRowMajor, ta == NN_TRANS ? CblasTrans : CblasNoTrans,
                tb == NN_TRANS ? CblasTrans : CblasNoTrans, (int)m, (int)n, (int)k, alpha, a->data,
                (int)ac, b->data, (int)bc, beta, c->data, (int)n);
    return NN_OK;
}

/* Checks that v has as many elements as x has columns. */
static nn_status check_rowvec(const char *fn, const nn_tensor *x, const nn_tensor *v)
{
    if (v->size != nn_tensor_ncols(x))
        return nn_error(NN_ERR_SHAPE, "%s: vector has %zu elements, matrix has %zu columns", fn,
                        v->size, nn_tensor_ncols(x));
    return NN_OK;
}

nn_status nn_kernel_add_rowvec(nn_tensor *x, const nn_tensor *v)
{
    NN_CHECK_NULL(x);
    NN_CHECK_NULL(v);
    nn_status st = check_rowvec(__func__, x, v);
    if (st != NN_OK)
        return st;
    size_t rows = nn_tensor_nrows(x), cols = v->size;
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
    size_t rows = nn_tensor_nrows(x), cols = v->size;
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
    size_t rows = nn_tensor_nrows(x), cols = out->size;
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
