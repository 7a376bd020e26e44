/* test_kernel.c - gemm against a naive loop, the vector kernels against hand-computed
 * values, sigmoid at the extremes, and the shape errors. */
#include <float.h>

#include "nn_test.h"

/* A deterministic, non-trivial fill with values in [-1, 1]. */
static void fill_pattern(float *d, size_t n, unsigned salt)
{
    for (size_t i = 0; i < n; i++)
        d[i] = (float)(((i * 37u + salt * 11u) % 23u) / 11.0 - 1.0);
}

/* C = alpha * op(A) op(B) + beta * C in double, straight from the definition. */
static void naive_gemm(int ta, int tb, size_t m, size_t n, size_t k, double alpha, const float *a,
                       const float *b, double beta, const float *c_in, double *c_out)
{
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < n; j++) {
            double s = 0.0;
            for (size_t p = 0; p < k; p++) {
                double av = ta ? a[p * m + i] : a[i * k + p]; /* A stored (k, m) or (m, k) */
                double bv = tb ? b[j * k + p] : b[p * n + j]; /* B stored (n, k) or (k, n) */
                s += av * bv;
            }
            c_out[i * n + j] = alpha * s + beta * c_in[i * n + j];
        }
}

static void test_gemm_all_transposes(void **state)
{
    (void)state;
    /* Non-square everywhere, so a swapped dimension cannot go unnoticed. */
    const size_t m = 3, n = 5, k = 4;
    float a[12], b[20], c[15], c0[15];
    double ref[15];
    fill_pattern(a, 12, 1);
    fill_pattern(b, 20, 2);
    fill_pattern(c0, 15, 3);
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            nn_tensor ta_t = ta ? nn_tensor_view2d(a, k, m) : nn_tensor_view2d(a, m, k);
            nn_tensor tb_t = tb ? nn_tensor_view2d(b, n, k) : nn_tensor_view2d(b, k, n);
            nn_tensor tc = nn_tensor_view2d(c, m, n);
            memcpy(c, c0, sizeof c);
            assert_ok(nn_kernel_gemm(ta ? NN_TRANS : NN_NO_TRANS, tb ? NN_TRANS : NN_NO_TRANS, 1.5f,
                                     &ta_t, &tb_t, 0.5f, &tc));
            naive_gemm(ta, tb, m, n, k, 1.5, a, b, 0.5, c0, ref);
            assert_all_close(c, ref, 15, 1e-5, 1e-6);

            /* beta = 0 ignores C's contents, even NaN. */
            for (int i = 0; i < 15; i++)
                c[i] = NAN;
            assert_ok(nn_kernel_gemm(ta ? NN_TRANS : NN_NO_TRANS, tb ? NN_TRANS : NN_NO_TRANS, 1.0f,
                                     &ta_t, &tb_t, 0.0f, &tc));
            naive_gemm(ta, tb, m, n, k, 1.0, a, b, 0.0, c0, ref);
            assert_all_close(c, ref, 15, 1e-5, 1e-6);
        }
}

/* Both gemm paths, the direct loop for tiny products and BLAS above it (kernel.c
 * switches at m n k = 64), for every transpose, against the definition in double. */
static void test_gemm_both_paths(void **state)
{
    (void)state;
    /* 1x2x2 (the 2-2-1 net's), 4x4x4 (the last direct one), 5x4x4, 9x7x11 and
     * 33x17x20 (BLAS). */
    const size_t sizes[][3] = {{1, 2, 2}, {2, 1, 3}, {4, 4, 4}, {5, 4, 4}, {9, 7, 11}, {33, 17, 20}};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        size_t m = sizes[s][0], n = sizes[s][1], k = sizes[s][2];
        float *a = malloc(m * k * sizeof *a), *b = malloc(k * n * sizeof *b);
        float *c = malloc(m * n * sizeof *c), *c0 = malloc(m * n * sizeof *c0);
        double *ref = malloc(m * n * sizeof *ref);
        assert_non_null(a), assert_non_null(b), assert_non_null(c), assert_non_null(c0);
        assert_non_null(ref);
        fill_pattern(a, m * k, (unsigned)s + 1);
        fill_pattern(b, k * n, (unsigned)s + 2);
        fill_pattern(c0, m * n, (unsigned)s + 3);
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++)
                for (int beta = 0; beta < 2; beta++) {
                    nn_tensor at = ta ? nn_tensor_view2d(a, k, m) : nn_tensor_view2d(a, m, k);
                    nn_tensor bt = tb ? nn_tensor_view2d(b, n, k) : nn_tensor_view2d(b, k, n);
                    nn_tensor ct = nn_tensor_view2d(c, m, n);
                    memcpy(c, c0, m * n * sizeof *c);
                    if (beta == 0)
                        for (size_t i = 0; i < m * n; i++)
                            c[i] = NAN; /* beta 0 must not read C */
                    assert_ok(nn_kernel_gemm(ta ? NN_TRANS : NN_NO_TRANS, tb ? NN_TRANS : NN_NO_TRANS,
                                             -0.75f, &at, &bt, beta ? 2.0f : 0.0f, &ct));
                    naive_gemm(ta, tb, m, n, k, -0.75, a, b, beta ? 2.0 : 0.0, c0, ref);
                    assert_all_close(c, ref, m * n, 1e-5, 1e-5);
                }
        free(a), free(b), free(c), free(c0), free(ref);
    }
}

/* nn_kernel_linear and nn_kernel_linear_backward against the definitions, at a tiny
 * size (direct loops) and a BLAS size, with and without bias, db and dx. */
static void test_linear_kernels(void **state)
{
    (void)state;
    /* B, in, out: direct loops up to B in out = 128 (4x4x8), BLAS above. */
    const size_t sizes[][3] = {{1, 2, 2}, {4, 2, 1}, {4, 4, 8}, {4, 4, 9}, {16, 12, 9}};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        size_t bs = sizes[s][0], in = sizes[s][1], out = sizes[s][2];
        float x[16 * 12], w[9 * 12], b[9], y[16 * 9], dy[16 * 9], dw[9 * 12], db[9], dx[16 * 12];
        double ref[16 * 12];
        fill_pattern(x, bs * in, 1);
        fill_pattern(w, out * in, 2);
        fill_pattern(b, out, 3);
        fill_pattern(dy, bs * out, 4);
        nn_tensor xt = nn_tensor_view2d(x, bs, in), wt = nn_tensor_view2d(w, out, in);
        nn_tensor bt = nn_tensor_view1d(b, out), yt = nn_tensor_view2d(y, bs, out);
        nn_tensor dyt = nn_tensor_view2d(dy, bs, out), dwt = nn_tensor_view2d(dw, out, in);
        nn_tensor dbt = nn_tensor_view1d(db, out), dxt = nn_tensor_view2d(dx, bs, in);

        /* y = x W^T + b, and without bias. */
        for (int with_b = 0; with_b < 2; with_b++) {
            assert_ok(nn_kernel_linear(&xt, &wt, with_b ? &bt : NULL, &yt));
            for (size_t i = 0; i < bs; i++)
                for (size_t j = 0; j < out; j++) {
                    double v = with_b ? b[j] : 0.0;
                    for (size_t p = 0; p < in; p++)
                        v += (double)x[i * in + p] * w[j * in + p];
                    ref[i * out + j] = v;
                }
            assert_all_close(y, ref, bs * out, 1e-5, 1e-6);
        }

        /* dW and db accumulate onto what they hold; dx is overwritten. */
        fill_pattern(dw, out * in, 5);
        fill_pattern(db, out, 6);
        for (size_t i = 0; i < bs * in; i++)
            dx[i] = NAN;
        float dw0[9 * 12], db0[9];
        memcpy(dw0, dw, sizeof dw0);
        memcpy(db0, db, sizeof db0);
        assert_ok(nn_kernel_linear_backward(&xt, &wt, &dyt, &dwt, &dbt, &dxt));
        for (size_t j = 0; j < out; j++)
            for (size_t p = 0; p < in; p++) {
                double v = dw0[j * in + p];
                for (size_t i = 0; i < bs; i++)
                    v += (double)dy[i * out + j] * x[i * in + p];
                ref[j * in + p] = v;
            }
        assert_all_close(dw, ref, out * in, 1e-5, 1e-6);
        for (size_t j = 0; j < out; j++) {
            double v = db0[j];
            for (size_t i = 0; i < bs; i++)
                v += dy[i * out + j];
            ref[j] = v;
        }
        assert_all_close(db, ref, out, 1e-5, 1e-6);
        for (size_t i = 0; i < bs; i++)
            for (size_t p = 0; p < in; p++) {
                double v = 0.0;
                for (size_t j = 0; j < out; j++)
                    v += (double)dy[i * out + j] * w[j * in + p];
                ref[i * in + p] = v;
            }
        assert_all_close(dx, ref, bs * in, 1e-5, 1e-6);

        /* NULL db and dx are skipped: db and dx keep their contents. */
        memcpy(db0, db, sizeof db0);
        float dx0[16 * 12];
        memcpy(dx0, dx, sizeof dx0);
        assert_ok(nn_kernel_linear_backward(&xt, &wt, &dyt, &dwt, NULL, NULL));
        assert_memory_equal(db, db0, out * sizeof(float));
        assert_memory_equal(dx, dx0, bs * in * sizeof(float));
    }

    /* Shape errors name the sizes (each view on a buffer of its own: outputs may not
     * overlap inputs). */
    float zx[16] = {0}, zw[16] = {0}, zy[16] = {0}, zb[16] = {0}, zd[16] = {0}, zdw[16] = {0};
    nn_tensor x23 = nn_tensor_view2d(zx, 2, 3), w43 = nn_tensor_view2d(zw, 4, 3);
    nn_tensor w42 = nn_tensor_view2d(zw, 4, 2), y24 = nn_tensor_view2d(zy, 2, 4);
    nn_tensor y25 = nn_tensor_view2d(zy, 2, 5), b3 = nn_tensor_view1d(zb, 3);
    nn_tensor d23 = nn_tensor_view2d(zd, 2, 3), d22 = nn_tensor_view2d(zd, 2, 2);
    nn_tensor dw43 = nn_tensor_view2d(zdw, 4, 3), dw42 = nn_tensor_view2d(zdw, 4, 2);
    assert_ok(nn_kernel_linear(&x23, &w43, NULL, &y24));
    assert_error(nn_kernel_linear(&x23, &w42, NULL, &y24), NN_ERR_SHAPE, "(2, 3)", "(4, 2)");
    assert_error(nn_kernel_linear(&x23, &w43, NULL, &y25), NN_ERR_SHAPE, "(2, 5)");
    assert_error(nn_kernel_linear(&x23, &w43, &b3, &y24), NN_ERR_SHAPE, "3 elements");
    assert_status(nn_kernel_linear(NULL, &w43, NULL, &y24), NN_ERR_NULL_ARG);
    assert_ok(nn_kernel_linear_backward(&x23, &w43, &y24, &dw43, NULL, &d23));
    assert_error(nn_kernel_linear_backward(&x23, &w43, &y24, &dw42, NULL, NULL), NN_ERR_SHAPE,
                 "8 elements", "12");
    assert_error(nn_kernel_linear_backward(&x23, &w43, &y24, &dw43, NULL, &d22), NN_ERR_SHAPE,
                 "(2, 2)");
    assert_status(nn_kernel_linear_backward(&x23, &w43, &y24, NULL, NULL, NULL), NN_ERR_NULL_ARG);

    /* Outputs over inputs: refused (they returned NN_OK with wrong numbers: W swapping
     * the columns of x = [1 2; 3 4] wrote x = [2 2; 4 4] in place). */
    float xs[4] = {1, 2, 3, 4}, ws[4] = {0, 1, 1, 0};
    nn_tensor xv = nn_tensor_view2d(xs, 2, 2), wv = nn_tensor_view2d(ws, 2, 2);
    nn_tensor x_tail = nn_tensor_view2d(xs + 2, 1, 2); /* overlapping, not equal */
    assert_error(nn_kernel_linear(&xv, &wv, NULL, &xv), NN_ERR_INVALID_ARG, "nn_kernel_linear: y overlaps x");
    assert_error(nn_kernel_gemm(NN_NO_TRANS, NN_NO_TRANS, 1.0f, &xv, &wv, 0.0f, &xv),
                 NN_ERR_INVALID_ARG, "nn_kernel_gemm: C overlaps A");
    assert_error(nn_kernel_gemm(NN_NO_TRANS, NN_NO_TRANS, 1.0f, &wv, &xv, 0.0f, &xv),
                 NN_ERR_INVALID_ARG, "C overlaps B");
    assert_error(nn_kernel_gemm(NN_NO_TRANS, NN_NO_TRANS, 1.0f, &x_tail, &wv, 0.0f, &x_tail),
                 NN_ERR_INVALID_ARG, "C overlaps A");
    assert_true(xs[0] == 1 && xs[1] == 2 && xs[2] == 3 && xs[3] == 4);
    nn_tensor dw_over_x = nn_tensor_view2d(zx, 4, 3);
    assert_error(nn_kernel_linear_backward(&x23, &w43, &y24, &dw_over_x, NULL, NULL),
                 NN_ERR_INVALID_ARG, "dW overlaps x");
    /* alpha 0 forms no product on either path (the direct loop gave NaN from a NaN in
     * A where BLAS left C alone) */
    float an[4] = {NAN, 1, 1, 1}, bn[4] = {1, 0, 0, 1}, cn[4] = {2, 2, 2, 2};
    nn_tensor tan_ = nn_tensor_view2d(an, 2, 2), tbn = nn_tensor_view2d(bn, 2, 2),
              tcn = nn_tensor_view2d(cn, 2, 2);
    assert_ok(nn_kernel_gemm(NN_NO_TRANS, NN_NO_TRANS, 0.0f, &tan_, &tbn, 1.0f, &tcn));
    assert_true(cn[0] == 2.0f && cn[3] == 2.0f);
    /* the BLAS path too: 100 x 100, C over A */
    static float big[100 * 100], eye[100 * 100];
    nn_tensor tbig = nn_tensor_view2d(big, 100, 100), teye = nn_tensor_view2d(eye, 100, 100);
    assert_error(nn_kernel_gemm(NN_NO_TRANS, NN_NO_TRANS, 1.0f, &tbig, &teye, 0.0f, &tbig),
                 NN_ERR_INVALID_ARG, "C overlaps A");
}

static void test_gemm_exact_small(void **state)
{
    (void)state;
    /* [1 2 3; 4 5 6] (2x3) times [1 0; 0 1; 1 1] (3x2) = [4 5; 10 11]: exact in float. */
    float a[6] = {1, 2, 3, 4, 5, 6}, b[6] = {1, 0, 0, 1, 1, 1}, c[4] = {0};
    nn_tensor ta = nn_tensor_view2d(a, 2, 3), tb = nn_tensor_view2d(b, 3, 2);
    nn_tensor tc = nn_tensor_view2d(c, 2, 2);
    assert_ok(nn_kernel_gemm(NN_NO_TRANS, NN_NO_TRANS, 1.0f, &ta, &tb, 0.0f, &tc));
    assert_true(c[0] == 4.0f && c[1] == 5.0f && c[2] == 10.0f && c[3] == 11.0f);
    /* A 1-D tensor is a row vector: (1, 3) times (3, 2). */
    float x[3] = {1, 1, 1}, y[2] = {0};
    nn_tensor tx = nn_tensor_view1d(x, 3), ty = nn_tensor_view1d(y, 2);
    assert_ok(nn_kernel_gemm(NN_NO_TRANS, NN_NO_TRANS, 2.0f, &tx, &tb, 0.0f, &ty));
    assert_true(y[0] == 4.0f && y[1] == 4.0f);
}

static void test_gemm_errors(void **state)
{
    (void)state;
    float a[35] = {0}, b[35] = {0}, c[35] = {0};
    nn_tensor ta = nn_tensor_view2d(a, 5, 7), tb = nn_tensor_view2d(b, 5, 7);
    nn_tensor tc = nn_tensor_view2d(c, 5, 5);
    /* (5, 7) x (5, 7): inner dimensions 7 and 5 differ. */
    assert_error(nn_kernel_gemm(NN_NO_TRANS, NN_NO_TRANS, 1, &ta, &tb, 0, &tc), NN_ERR_SHAPE, "7",
                 "5");
    /* (5, 7) x (7, 5) fits, but C must be (5, 5), not (5, 7). */
    nn_tensor tc_bad = nn_tensor_view2d(c, 5, 7);
    assert_error(nn_kernel_gemm(NN_NO_TRANS, NN_TRANS, 1, &ta, &tb, 0, &tc_bad), NN_ERR_SHAPE, "7");
    assert_ok(nn_kernel_gemm(NN_NO_TRANS, NN_TRANS, 1, &ta, &tb, 0, &tc));
    assert_status(nn_kernel_gemm(NN_NO_TRANS, NN_NO_TRANS, 1, NULL, &tb, 0, &tc), NN_ERR_NULL_ARG);
    assert_status(nn_kernel_gemm(NN_NO_TRANS, NN_NO_TRANS, 1, &ta, NULL, 0, &tc), NN_ERR_NULL_ARG);
    assert_status(nn_kernel_gemm(NN_NO_TRANS, NN_NO_TRANS, 1, &ta, &tb, 0, NULL), NN_ERR_NULL_ARG);
}

static void test_rowvec_kernels(void **state)
{
    (void)state;
    float x[6] = {1, 2, 3, 4, 5, 6}, v[3] = {10, 20, 30};
    nn_tensor tx = nn_tensor_view2d(x, 2, 3), tv = nn_tensor_view1d(v, 3);
    assert_ok(nn_kernel_add_rowvec(&tx, &tv));
    const float add[6] = {11, 22, 33, 14, 25, 36};
    assert_memory_equal(x, add, sizeof x);

    assert_ok(nn_kernel_set_rows(&tx, &tv));
    const float set[6] = {10, 20, 30, 10, 20, 30};
    assert_memory_equal(x, set, sizeof x);

    /* colsum: out = beta * out + column sums. */
    float m[6] = {1, 2, 3, 4, 5, 6}, out[3] = {100, 200, 300};
    nn_tensor tm = nn_tensor_view2d(m, 2, 3), to = nn_tensor_view1d(out, 3);
    assert_ok(nn_kernel_colsum(&tm, 0.0f, &to));
    assert_true(out[0] == 5 && out[1] == 7 && out[2] == 9);
    assert_ok(nn_kernel_colsum(&tm, 2.0f, &to)); /* 2 * [5 7 9] + [5 7 9] */
    assert_true(out[0] == 15 && out[1] == 21 && out[2] == 27);
    assert_ok(nn_kernel_colsum(&tm, 1.0f, &to)); /* accumulate, as bias gradients do */
    assert_true(out[0] == 20 && out[1] == 28 && out[2] == 36);

    float w[2] = {0};
    nn_tensor tw = nn_tensor_view1d(w, 2);
    assert_error(nn_kernel_add_rowvec(&tx, &tw), NN_ERR_SHAPE, "2", "3");
    assert_error(nn_kernel_set_rows(&tx, &tw), NN_ERR_SHAPE, "2", "3");
    assert_error(nn_kernel_colsum(&tm, 0.0f, &tw), NN_ERR_SHAPE, "2", "3");
    assert_true(x[0] == 10.0f); /* untouched on error */
    assert_status(nn_kernel_add_rowvec(NULL, &tv), NN_ERR_NULL_ARG);
    assert_status(nn_kernel_add_rowvec(&tx, NULL), NN_ERR_NULL_ARG);
    assert_status(nn_kernel_set_rows(NULL, &tv), NN_ERR_NULL_ARG);
    assert_status(nn_kernel_colsum(NULL, 0.0f, &to), NN_ERR_NULL_ARG);
    assert_status(nn_kernel_colsum(&tm, 0.0f, NULL), NN_ERR_NULL_ARG);
}

static void test_axpy_scale(void **state)
{
    (void)state;
    float x[4] = {1, -2, 0.5f, 4}, y[4] = {10, 10, 10, 10};
    nn_tensor tx = nn_tensor_view1d(x, 4), ty = nn_tensor_view2d(y, 2, 2);
    assert_ok(nn_kernel_axpy(-2.0f, &tx, &ty)); /* same element count, any shape */
    const float axpy[4] = {8, 14, 9, 2};
    assert_memory_equal(y, axpy, sizeof y);

    assert_ok(nn_kernel_scale(0.25f, &ty));
    const float scaled[4] = {2, 3.5f, 2.25f, 0.5f};
    assert_memory_equal(y, scaled, sizeof y);

    float z[3] = {0};
    nn_tensor tz = nn_tensor_view1d(z, 3);
    assert_error(nn_kernel_axpy(1.0f, &tx, &tz), NN_ERR_SHAPE, "4", "3");
    assert_status(nn_kernel_axpy(1.0f, NULL, &ty), NN_ERR_NULL_ARG);
    assert_status(nn_kernel_axpy(1.0f, &tx, NULL), NN_ERR_NULL_ARG);
    assert_status(nn_kernel_scale(1.0f, NULL), NN_ERR_NULL_ARG);
}

static float square_plus_one(float v) { return v * v + 1.0f; }

static void test_map(void **state)
{
    (void)state;
    float x[3] = {-1, 2, 3}, y[3] = {0};
    nn_tensor tx = nn_tensor_view1d(x, 3), ty = nn_tensor_view1d(y, 3);
    assert_ok(nn_kernel_map(square_plus_one, &tx, &ty));
    assert_true(y[0] == 2 && y[1] == 5 && y[2] == 10);
    assert_ok(nn_kernel_map(square_plus_one, &tx, &tx)); /* in place */
    assert_true(x[0] == 2 && x[1] == 5 && x[2] == 10);
    float w[2];
    nn_tensor tw = nn_tensor_view1d(w, 2);
    assert_error(nn_kernel_map(square_plus_one, &tx, &tw), NN_ERR_SHAPE, "3", "2");
    assert_status(nn_kernel_map(NULL, &tx, &ty), NN_ERR_NULL_ARG);
    assert_status(nn_kernel_map(square_plus_one, NULL, &ty), NN_ERR_NULL_ARG);
    assert_status(nn_kernel_map(square_plus_one, &tx, NULL), NN_ERR_NULL_ARG);
}

static void test_sigmoid_values(void **state)
{
    (void)state;
    float x[5] = {0.0f, 2.0f, -2.0f, 1.0f, -0.5f};
    float y[5];
    nn_tensor tx = nn_tensor_view1d(x, 5), ty = nn_tensor_view1d(y, 5);
    assert_ok(nn_kernel_sigmoid(&tx, &ty));
    for (int i = 0; i < 5; i++)
        assert_close(y[i], 1.0 / (1.0 + exp(-(double)x[i])), 1e-6, 0.0);
    assert_true(y[0] == 0.5f);

    /* In place. */
    assert_ok(nn_kernel_sigmoid(&tx, &tx));
    assert_memory_equal(x, y, sizeof y);

    float z[4];
    nn_tensor tz = nn_tensor_view1d(z, 4);
    assert_error(nn_kernel_sigmoid(&tx, &tz), NN_ERR_SHAPE, "5", "4");
    assert_status(nn_kernel_sigmoid(NULL, &ty), NN_ERR_NULL_ARG);
    assert_status(nn_kernel_sigmoid(&tx, NULL), NN_ERR_NULL_ARG);
}

static void test_sigmoid_extremes(void **state)
{
    (void)state;
    /* exp(1e4) overflows; a naive 1 / (1 + exp(-x)) would compute inf / inf or
     * lose the small side. The documented form must give exact limits. */
    float x[6] = {1e4f, -1e4f, FLT_MAX, -FLT_MAX, 100.0f, -100.0f};
    float y[6], dy[6] = {1, 1, 1, 1, 1, 1}, dx[6];
    nn_tensor tx = nn_tensor_view1d(x, 6), ty = nn_tensor_view1d(y, 6);
    nn_tensor tdy = nn_tensor_view1d(dy, 6), tdx = nn_tensor_view1d(dx, 6);
    assert_ok(nn_kernel_sigmoid(&tx, &ty));
    assert_true(nn_tensor_all_finite(&ty));
    assert_true(y[0] == 1.0f);
    assert_true(y[1] == 0.0f);
    assert_true(y[2] == 1.0f);
    assert_true(y[3] == 0.0f);
    assert_true(y[4] == 1.0f);
    /* sigmoid(-100) = 3.7e-44 is a float subnormal (0 if the FPU flushes it). */
    assert_true(y[5] >= 0.0f && y[5] < 1e-40f);
    assert_ok(nn_kernel_sigmoid_backward(&ty, &tdy, &tdx));
    assert_true(nn_tensor_all_finite(&tdx));
    for (int i = 0; i < 6; i++)
        assert_true(dx[i] >= 0.0f && dx[i] < 1e-30f);
}

static void test_sigmoid_backward(void **state)
{
    (void)state;
    float y[3] = {0.5f, 0.25f, 0.875f}, dy[3] = {2.0f, -4.0f, 8.0f}, dx[3];
    nn_tensor ty = nn_tensor_view1d(y, 3), tdy = nn_tensor_view1d(dy, 3),
              tdx = nn_tensor_view1d(dx, 3);
    assert_ok(nn_kernel_sigmoid_backward(&ty, &tdy, &tdx));
    /* dy * y * (1 - y), all exact in binary. */
    assert_true(dx[0] == 0.5f);
    assert_true(dx[1] == -0.75f);
    assert_true(dx[2] == 0.875f);
    float w[2];
    nn_tensor tw = nn_tensor_view1d(w, 2);
    assert_status(nn_kernel_sigmoid_backward(&ty, &tw, &tdx), NN_ERR_SHAPE);
    assert_status(nn_kernel_sigmoid_backward(&ty, &tdy, &tw), NN_ERR_SHAPE);
    assert_status(nn_kernel_sigmoid_backward(NULL, &tdy, &tdx), NN_ERR_NULL_ARG);
    assert_status(nn_kernel_sigmoid_backward(&ty, NULL, &tdx), NN_ERR_NULL_ARG);
    assert_status(nn_kernel_sigmoid_backward(&ty, &tdy, NULL), NN_ERR_NULL_ARG);
}

static void test_reductions(void **state)
{
    (void)state;
    float x[4] = {1, 2, 3, 4}, y[4] = {0.5f, -1, 2, 0.25f};
    nn_tensor tx = nn_tensor_view1d(x, 4), ty = nn_tensor_view2d(y, 2, 2);
    assert_true(nn_kernel_sum(&tx) == 10.0);
    assert_true(nn_kernel_dot(&tx, &ty) == 0.5 - 2 + 6 + 1);
    assert_true(nn_kernel_norm2(&tx) == sqrt(30.0));
    float z[3];
    nn_tensor tz = nn_tensor_view1d(z, 3);
    assert_true(nn_kernel_dot(&tx, &tz) == 0.0); /* documented: 0 when sizes differ */

    /* Accumulation in double: in float, 2^24 + 1 + 1 + 1 + 1 stays 2^24. */
    float big[5] = {16777216.0f, 1, 1, 1, 1};
    nn_tensor tb = nn_tensor_view1d(big, 5);
    assert_true(nn_kernel_sum(&tb) == 16777220.0);
    float ones[5] = {1, 1, 1, 1, 1};
    nn_tensor to = nn_tensor_view1d(ones, 5);
    assert_true(nn_kernel_dot(&tb, &to) == 16777220.0);
    /* Squares of 3e20 and 4e20 overflow float but not double. */
    float huge[2] = {3e20f, 4e20f};
    nn_tensor th = nn_tensor_view1d(huge, 2);
    assert_close(nn_kernel_norm2(&th), 5e20, 1e-6, 0.0);
}

static void test_threads(void **state)
{
    (void)state;
    assert_error(nn_set_num_threads(0), NN_ERR_INVALID_ARG, "0");
    assert_error(nn_set_num_threads(-3), NN_ERR_INVALID_ARG, "-3");
    assert_ok(nn_set_num_threads(1));
    /* 1 either way: OpenBLAS reports what was set, other BLAS report 1. */
    assert_int_equal(nn_get_num_threads(), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gemm_all_transposes),
        cmocka_unit_test(test_gemm_both_paths),
        cmocka_unit_test(test_linear_kernels),
        cmocka_unit_test(test_gemm_exact_small),
        cmocka_unit_test(test_gemm_errors),
        cmocka_unit_test(test_rowvec_kernels),
        cmocka_unit_test(test_axpy_scale),
        cmocka_unit_test(test_map),
        cmocka_unit_test(test_sigmoid_values),
        cmocka_unit_test(test_sigmoid_extremes),
        cmocka_unit_test(test_sigmoid_backward),
        cmocka_unit_test(test_reductions),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
