/* kernel_small.h - a dense layer's direct loops for tiny sizes, shared by
 * nn_kernel_linear(_backward) (kernel.c) and the fused small-network step
 * (net_small.c), so that both compute the same bits by construction. Not installed.
 *
 * Measured on the benchmark machine (docs/performance.md; OpenBLAS 0.3.21, Zen): a
 * cblas_sgemm call costs 70-120 ns before any arithmetic; the direct loops replace
 * two or three BLAS calls and win up to about 200 multiply-adds (B in out = 64: 46 ns
 * against 94 forward, 94 against 218 backward; 256: 154 against 131 and 327 against
 * 306), hence the switch at B in out = NN_LINEAR_SMALL_MAX. */
#ifndef NN_KERNEL_SMALL_H
#define NN_KERNEL_SMALL_H

#include <stddef.h>

#ifndef NN_LINEAR_SMALL_MAX
#define NN_LINEAR_SMALL_MAX 128
#endif

/* 1 when a dense layer of these sizes goes to the direct loops. */
static inline int nn_linear_is_small(size_t bs, size_t in, size_t out)
{
    return bs <= NN_LINEAR_SMALL_MAX && in <= NN_LINEAR_SMALL_MAX &&
           out <= NN_LINEAR_SMALL_MAX && bs * in * out <= NN_LINEAR_SMALL_MAX;
}

/* y = x W^T + b: x (bs, in), W (out, in), b (out) or NULL, y (bs, out). Float sums,
 * as the BLAS path: at these sizes they lose nothing that matters, and converting to
 * double cost more than the products. */
static inline void nn_linear_small(const float *xd, const float *wd, const float *bd, float *yd,
                                   size_t bs, size_t in, size_t out)
{
    for (size_t i = 0; i < bs; i++, xd += in, yd += out)
        for (size_t j = 0; j < out; j++) {
            const float *wj = wd + j * in;
            float s = 0.0f;
            for (size_t p = 0; p < in; p++)
                s += xd[p] * wj[p];
            yd[j] = bd != NULL ? s + bd[j] : s;
        }
}

/* Row by row of the batch, each row's contribution added in float as it comes, like
 * the gemm with beta = 1 it replaces: dW[j, :] += dy[i, j] x[i, :], db[j] += dy[i, j]
 * (db may be NULL), dx[i, :] = sum_j dy[i, j] W[j, :] (dx may be NULL). As for BLAS,
 * the outputs must not overlap the inputs. With overwrite set, dW and db start from
 * zero instead of their contents: the first row writes 0 + dy x, which is what
 * adding to zeroed memory gives, bit for bit (the sign of a zero too). */
static inline void nn_linear_small_backward(const float *xd, const float *wd, const float *gd,
                                            float *dwd, float *dbd, float *dxd, size_t bs,
                                            size_t in, size_t out, int overwrite)
{
    for (size_t i = 0; i < bs; i++, xd += in, gd += out) {
        int from_zero = overwrite && i == 0;
        for (size_t j = 0; j < out; j++) {
            float g = gd[j];
            float *dwj = dwd + j * in;
            for (size_t p = 0; p < in; p++)
                dwj[p] = (from_zero ? 0.0f : dwj[p]) + g * xd[p];
            if (dbd != NULL)
                dbd[j] = (from_zero ? 0.0f : dbd[j]) + g;
        }
        if (dxd != NULL) /* sums in a register: through dx[] each += waited on a store */
            for (size_t p = 0; p < in; p++) {
                float s = 0.0f;
                for (size_t j = 0; j < out; j++)
                    s += gd[j] * wd[j * in + p];
                dxd[i * in + p] = s;
            }
    }
}

#endif /* NN_KERNEL_SMALL_H */
