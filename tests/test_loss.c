/* test_loss.c - every built-in loss against its formula (computed here in double, as
 * written in loss.h), its gradient against central differences of its value, both
 * reductions, the edge cases loss.h promises, a loss written here, and the errors. */
#include "nn_test.h"

/* ---- the formulas of loss.h, in double ------------------------------------------ */

static double sgn(double v) { return (double)((v > 0) - (v < 0)); }

/* One element's l and dl/dp for the elementwise kinds; param is delta or beta. */
static void elem_ref(nn_loss_kind kind, double param, double p, double t, double *l, double *g)
{
    double d = p - t;
    switch (kind) {
    case NN_LOSS_MSE:
        *l = d * d;
        *g = 2 * d;
        return;
    case NN_LOSS_MAE:
        *l = fabs(d);
        *g = sgn(d);
        return;
    case NN_LOSS_HUBER:
        if (fabs(d) < param) {
            *l = 0.5 * d * d;
            *g = d;
        } else {
            *l = param * (fabs(d) - param / 2);
            *g = param * sgn(d);
        }
        return;
    case NN_LOSS_SMOOTH_L1:
        if (fabs(d) < param) {
            *l = 0.5 * d * d / param;
            *g = d / param;
        } else {
            *l = fabs(d) - param / 2;
            *g = sgn(d);
        }
        return;
    case NN_LOSS_BCE:
        *l = -(t * fmax(log(p), -100) + (1 - t) * fmax(log(1 - p), -100));
        *g = (p - t) / fmax(p * (1 - p), 1e-12);
        return;
    case NN_LOSS_BCE_LOGITS:
        *l = fmax(p, 0) - p * t + log1p(exp(-fabs(p)));
        *g = 1 / (1 + exp(-p)) - t;
        return;
    case NN_LOSS_CROSS_ENTROPY:
    case NN_LOSS_NLL:
        break;
    }
    fail_msg("not an elementwise kind: %d", (int)kind);
}

/* Cross-entropy / NLL of one row: target either a class index (tw == 1) or a row of
 * probabilities (tw == C). g receives dl/dx for the row. */
static double row_ref(nn_loss_kind kind, const float *x, const float *t, size_t c, size_t tw,
                      double *g)
{
    if (kind == NN_LOSS_NLL) {
        size_t y = (size_t)t[0];
        for (size_t j = 0; j < c; j++)
            g[j] = j == y ? -1.0 : 0.0;
        return -(double)x[y];
    }
    double m = x[0];
    for (size_t j = 1; j < c; j++)
        m = fmax(m, x[j]);
    double s = 0;
    for (size_t j = 0; j < c; j++)
        s += exp(x[j] - m);
    double lse = m + log(s), l = 0, tsum = 0;
    for (size_t j = 0; j < c; j++) {
        double tj = tw == 1 ? (j == (size_t)t[0]) : t[j];
        tsum += tj;
        l += tj * (lse - x[j]);
    }
    for (size_t j = 0; j < c; j++) {
        double tj = tw == 1 ? (j == (size_t)t[0]) : t[j];
        g[j] = exp(x[j] - lse) * tsum - tj;
    }
    return l;
}

static nn_loss *new_loss(nn_loss_kind kind, double param)
{
    nn_loss *l = NULL;
    switch (kind) {
    case NN_LOSS_HUBER:
        assert_ok(nn_loss_huber_new(param, &l));
        break;
    case NN_LOSS_SMOOTH_L1:
        assert_ok(nn_loss_smooth_l1_new(param, &l));
        break;
    case NN_LOSS_MSE:
    case NN_LOSS_MAE:
    case NN_LOSS_BCE:
    case NN_LOSS_BCE_LOGITS:
    case NN_LOSS_CROSS_ENTROPY:
    case NN_LOSS_NLL:
        assert_ok(nn_loss_new_by_kind(kind, &l));
        break;
    }
    assert_non_null(l);
    assert_int_equal(l->reduction, NN_REDUCTION_MEAN);
    assert_string_equal(l->ops->name, nn_loss_kind_name(kind));
    return l;
}

/* The library's gradient against (L(p + h) - L(p - h)) / (2h) of the library's
 * own value, element by element. h is small next to the distance of every
 * element from a kink, so the difference is of a smooth function. */
static void check_numeric_grad(nn_loss *loss, nn_tensor *pred, const nn_tensor *target,
                               const nn_tensor *grad)
{
    for (size_t k = 0; k < pred->size; k++) {
        float saved = pred->data[k];
        float pp = saved + 0x1p-10f, pm = saved - 0x1p-10f;
        double lp = 0, lm = 0;
        pred->data[k] = pp;
        assert_ok(nn_loss_eval(loss, pred, target, &lp, NULL));
        pred->data[k] = pm;
        assert_ok(nn_loss_eval(loss, pred, target, &lm, NULL));
        pred->data[k] = saved;
        double num = (lp - lm) / ((double)pp - (double)pm);
        if (!(fabs(grad->data[k] - num) <= 1e-3 * fabs(num) + 1e-5))
            fail_msg("%s: dL/dpred[%zu] = %.9g, central difference %.9g", loss->ops->name, k,
                     (double)grad->data[k], num);
    }
}

/* ---- elementwise losses ---------------------------------------------------------- */

enum { EB = 3, EP = 4 };

/* Predictions and targets placed away from every kink (d = 0, |d| = 1) and, for
 * BCE, inside (0, 1). */
static void elementwise_data(nn_loss_kind kind, float *p, float *t)
{
    static const float offsets[EB * EP] = {-2.3f, -0.7f, -0.3f, 0.4f,   0.8f,  1.7f,
                                           0.15f, -1.4f, 3.1f,  -0.05f, 0.55f, -0.9f};
    for (int k = 0; k < EB * EP; k++) {
        if (kind == NN_LOSS_BCE) {
            p[k] = 0.05f + 0.9f * (float)((k * 7) % 12) / 11.0f;
            t[k] = (float)(k % 3) * 0.5f; /* 0, 0.5 (a soft label), 1 */
        } else {
            t[k] = (float)(k % 5) * 0.5f - 1.0f;
            p[k] = t[k] + offsets[k];
        }
    }
}

static void check_elementwise(nn_loss_kind kind, double param)
{
    float p[EB * EP], t[EB * EP], g[EB * EP];
    elementwise_data(kind, p, t);
    nn_tensor tp = nn_tensor_view2d(p, EB, EP), tt = nn_tensor_view2d(t, EB, EP);
    nn_tensor tg = nn_tensor_view2d(g, EB, EP);
    double lsum = 0, gref[EB * EP], gsum[EB * EP];
    for (int k = 0; k < EB * EP; k++) {
        double l, gk;
        elem_ref(kind, param, p[k], t[k], &l, &gk);
        lsum += l;
        gsum[k] = gk;
        gref[k] = gk / (EB * EP); /* mean over all B * P elements */
    }
    nn_loss *loss = new_loss(kind, param);
    double value = NAN;
    assert_ok(nn_loss_eval(loss, &tp, &tt, &value, &tg));
    assert_close(value, lsum / (EB * EP), 1e-6, 1e-9);
    assert_all_close(g, gref, EB * EP, 1e-5, 1e-7);
    check_numeric_grad(loss, &tp, &tt, &tg);

    /* The gradient is optional and does not change the value. */
    double v2 = NAN;
    assert_ok(nn_loss_eval(loss, &tp, &tt, &v2, NULL));
    assert_true(v2 == value);

    /* Sum reduction: no 1/N. */
    assert_ok(nn_loss_set_reduction(loss, NN_REDUCTION_SUM));
    assert_ok(nn_loss_eval(loss, &tp, &tt, &value, &tg));
    assert_close(value, lsum, 1e-6, 1e-9);
    assert_all_close(g, gsum, EB * EP, 1e-5, 1e-7);
    check_numeric_grad(loss, &tp, &tt, &tg);
    nn_loss_free(loss);
}

static void test_mse(void **state)
{
    (void)state;
    check_elementwise(NN_LOSS_MSE, 0);
    /* By hand: d = [1, 0, -2, 3]: squares 1, 0, 4, 9; mean 3.5, grad 2d / 4. */
    float p[4] = {1, 2, 3, 4}, t[4] = {0, 2, 5, 1}, g[4];
    nn_tensor tp = nn_tensor_view2d(p, 2, 2), tt = nn_tensor_view2d(t, 2, 2),
              tg = nn_tensor_view2d(g, 2, 2);
    nn_loss *mse = NULL;
    assert_ok(nn_loss_mse_new(&mse));
    double v = 0;
    assert_ok(nn_loss_eval(mse, &tp, &tt, &v, &tg));
    assert_true(v == 3.5);
    assert_true(g[0] == 0.5f && g[1] == 0.0f && g[2] == -1.0f && g[3] == 1.5f);
    nn_loss_free(mse);
}

static void test_mae(void **state)
{
    (void)state;
    check_elementwise(NN_LOSS_MAE, 0);
    /* sign(0) = 0: no gradient where the prediction is exact. */
    float p[3] = {1, 2, 3}, t[3] = {1, 1, 4}, g[3];
    nn_tensor tp = nn_tensor_view2d(p, 1, 3), tt = nn_tensor_view2d(t, 1, 3),
              tg = nn_tensor_view2d(g, 1, 3);
    nn_loss *mae = NULL;
    assert_ok(nn_loss_mae_new(&mae));
    double v = 0;
    assert_ok(nn_loss_eval(mae, &tp, &tt, &v, &tg));
    assert_close(v, 2.0 / 3.0, 1e-12, 0);
    assert_true(g[0] == 0.0f);
    assert_close(g[1], 1.0 / 3.0, 1e-6, 0);
    assert_close(g[2], -1.0 / 3.0, 1e-6, 0);
    nn_loss_free(mae);
}

static void test_huber_and_smooth_l1(void **state)
{
    (void)state;
    check_elementwise(NN_LOSS_HUBER, 1.0);
    check_elementwise(NN_LOSS_HUBER, 0.5);
    check_elementwise(NN_LOSS_SMOOTH_L1, 1.0);
    check_elementwise(NN_LOSS_SMOOTH_L1, 2.0);

    /* smooth L1 with beta 1 is Huber with delta 1; with beta 0 it is L1. */
    float p[EB * EP], t[EB * EP], g1[EB * EP], g2[EB * EP];
    elementwise_data(NN_LOSS_HUBER, p, t);
    nn_tensor tp = nn_tensor_view2d(p, EB, EP), tt = nn_tensor_view2d(t, EB, EP);
    nn_tensor tg1 = nn_tensor_view2d(g1, EB, EP), tg2 = nn_tensor_view2d(g2, EB, EP);
    nn_loss *h = NULL, *s = NULL, *s0 = NULL, *mae = NULL;
    assert_ok(nn_loss_huber_new(NN_LOSS_HUBER_DEFAULT_DELTA, &h));
    assert_ok(nn_loss_smooth_l1_new(NN_LOSS_SMOOTH_L1_DEFAULT_BETA, &s));
    double vh = 0, vs = 0;
    assert_ok(nn_loss_eval(h, &tp, &tt, &vh, &tg1));
    assert_ok(nn_loss_eval(s, &tp, &tt, &vs, &tg2));
    assert_close(vs, vh, 1e-12, 0);
    assert_memory_equal(g1, g2, sizeof g1);
    assert_ok(nn_loss_smooth_l1_new(0.0, &s0));
    assert_ok(nn_loss_mae_new(&mae));
    assert_ok(nn_loss_eval(s0, &tp, &tt, &vs, &tg1));
    assert_ok(nn_loss_eval(mae, &tp, &tt, &vh, &tg2));
    assert_close(vs, vh, 1e-12, 0);
    assert_memory_equal(g1, g2, sizeof g1);
    nn_loss_free(h);
    nn_loss_free(s);
    nn_loss_free(s0);
    nn_loss_free(mae);

    nn_loss *l = (nn_loss *)&l;
    assert_error(nn_loss_huber_new(0.0, &l), NN_ERR_INVALID_ARG, "0");
    assert_null(l);
    assert_status(nn_loss_huber_new(-1.0, &l), NN_ERR_INVALID_ARG);
    assert_status(nn_loss_huber_new(NAN, &l), NN_ERR_INVALID_ARG);
    assert_status(nn_loss_huber_new(INFINITY, &l), NN_ERR_INVALID_ARG);
    assert_status(nn_loss_smooth_l1_new(-0.5, &l), NN_ERR_INVALID_ARG);
    assert_status(nn_loss_smooth_l1_new(NAN, &l), NN_ERR_INVALID_ARG);
    assert_status(nn_loss_smooth_l1_new(INFINITY, &l), NN_ERR_INVALID_ARG);
    assert_null(l);
    assert_status(nn_loss_huber_new(1.0, NULL), NN_ERR_NULL_ARG);
    assert_status(nn_loss_smooth_l1_new(1.0, NULL), NN_ERR_NULL_ARG);
}

static void test_bce(void **state)
{
    (void)state;
    check_elementwise(NN_LOSS_BCE, 0);

    /* The edges: log clamped at -100, gradient denominator at 1e-12 (torch). */
    float p[4] = {0, 1, 0, 1}, t[4] = {0, 1, 1, 0}, g[4];
    nn_tensor tp = nn_tensor_view2d(p, 2, 2), tt = nn_tensor_view2d(t, 2, 2),
              tg = nn_tensor_view2d(g, 2, 2);
    nn_loss *bce = NULL;
    assert_ok(nn_loss_bce_new(&bce));
    double v = 0;
    assert_ok(nn_loss_eval(bce, &tp, &tt, &v, &tg));
    assert_close(v, 200.0 / 4, 1e-12, 0); /* two wrong elements at 100 each */
    assert_true(nn_tensor_all_finite(&tg));
    assert_true(g[0] == 0.0f && g[1] == 0.0f); /* agreeing targets: no gradient */
    assert_close(g[2], -1e12 / 4, 1e-6, 0);
    assert_close(g[3], 1e12 / 4, 1e-6, 0);

    /* Outside [0, 1] is an error naming the place; NaN is a numeric error. */
    p[3] = 1.5f;
    v = 42;
    assert_error(nn_loss_eval(bce, &tp, &tt, &v, &tg), NN_ERR_INVALID_ARG, "1", "1.5");
    assert_true(v == 42); /* *value is not set on error */
    p[3] = -0.25f;
    assert_status(nn_loss_eval(bce, &tp, &tt, &v, NULL), NN_ERR_INVALID_ARG);
    p[3] = NAN;
    assert_status(nn_loss_eval(bce, &tp, &tt, &v, &tg), NN_ERR_NUMERIC);
    assert_true(v == 42);
    nn_loss_free(bce);
}

static void test_bce_logits(void **state)
{
    (void)state;
    check_elementwise(NN_LOSS_BCE_LOGITS, 0);

    /* At |x| = 1e4 the value is max(x, 0) - x t exactly and the gradient (1 - t)
     * or -t, over N. */
    float p[4] = {1e4f, -1e4f, 1e4f, -1e4f}, t[4] = {1, 0, 0, 1}, g[4];
    nn_tensor tp = nn_tensor_view2d(p, 1, 4), tt = nn_tensor_view2d(t, 1, 4),
              tg = nn_tensor_view2d(g, 1, 4);
    nn_loss *l = NULL;
    assert_ok(nn_loss_bce_logits_new(&l));
    double v = 0;
    assert_ok(nn_loss_eval(l, &tp, &tt, &v, &tg));
    assert_close(v, (0 + 0 + 1e4 + 1e4) / 4, 1e-12, 0);
    assert_true(g[0] == 0.0f && g[1] == 0.0f);
    assert_true(g[2] == 0.25f && g[3] == -0.25f);
    nn_loss_free(l);
}

/* ---- classification losses -------------------------------------------------------- */

enum { CB = 3, CC = 4 };

static void check_rows(nn_loss_kind kind, const float *targets, size_t tw)
{
    float x[CB * CC] = {0.5f, -1.0f, 2.0f, 0.1f, -0.3f, 0.7f, 0.0f, -2.0f, 1.5f, 1.4f, -0.6f, 0.2f};
    float g[CB * CC], t[CB * CC];
    memcpy(t, targets, CB * tw * sizeof *t);
    nn_tensor tx = nn_tensor_view2d(x, CB, CC), tt = nn_tensor_view2d(t, CB, tw);
    nn_tensor tg = nn_tensor_view2d(g, CB, CC);
    double lsum = 0, gref[CB * CC], gsum[CB * CC];
    for (size_t i = 0; i < CB; i++) {
        lsum += row_ref(kind, x + i * CC, t + i * tw, CC, tw, gsum + i * CC);
        for (size_t j = 0; j < CC; j++)
            gref[i * CC + j] = gsum[i * CC + j] / CB; /* the mean is over rows */
    }
    nn_loss *loss = new_loss(kind, 0);
    double v = NAN;
    assert_ok(nn_loss_eval(loss, &tx, &tt, &v, &tg));
    assert_close(v, lsum / CB, 1e-6, 1e-9);
    assert_all_close(g, gref, CB * CC, 1e-5, 1e-7);
    check_numeric_grad(loss, &tx, &tt, &tg);
    assert_ok(nn_loss_set_reduction(loss, NN_REDUCTION_SUM));
    assert_ok(nn_loss_eval(loss, &tx, &tt, &v, &tg));
    assert_close(v, lsum, 1e-6, 1e-9);
    assert_all_close(g, gsum, CB * CC, 1e-5, 1e-7);
    nn_loss_free(loss);
}

static void test_cross_entropy(void **state)
{
    (void)state;
    const float idx[CB] = {2, 0, 3};
    check_rows(NN_LOSS_CROSS_ENTROPY, idx, 1);
    const float onehot[CB * CC] = {0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 1};
    check_rows(NN_LOSS_CROSS_ENTROPY, onehot, CC);
    /* Soft rows, one of them not summing to 1 (used as given). */
    const float soft[CB * CC] = {0.1f, 0.2f, 0.3f,  0.4f,  0.5f,  0.5f,
                                 0,    0,    0.25f, 0.25f, 0.25f, 0.5f};
    check_rows(NN_LOSS_CROSS_ENTROPY, soft, CC);

    /* Indices and one-hot rows give the same loss. */
    nn_loss *ce = NULL;
    assert_ok(nn_loss_cross_entropy_new(&ce));
    float x[2 * 3] = {1e4f, -1e4f, 0, -1e4f, 1e4f, 1e4f}, g[6];
    float ti[2] = {1, 2};
    nn_tensor tx = nn_tensor_view2d(x, 2, 3), tti = nn_tensor_view2d(ti, 2, 1),
              tg = nn_tensor_view2d(g, 2, 3);
    double v = 0;
    /* Logits of magnitude 1e4 stay finite: row 0 costs 2e4, row 1 log 2. */
    assert_ok(nn_loss_eval(ce, &tx, &tti, &v, &tg));
    assert_close(v, (2e4 + log(2.0)) / 2, 1e-6, 0);
    assert_true(nn_tensor_all_finite(&tg));
    assert_close(g[0], 0.5, 1e-6, 0); /* (softmax - onehot) / 2 */
    assert_close(g[1], -0.5, 1e-6, 0);
    assert_close(g[4], 0.25, 1e-6, 0);
    assert_close(g[5], -0.25, 1e-6, 0);

    /* Tied huge logits keep log s (log 2, as torch), with a gradient and without,
     * for class indices and for a one-hot row: [1e16, 1e16, 0] and [3e38, 3e38, 0]. */
    float xh[2 * 3] = {1e16f, 1e16f, 0, 3e38f, 3e38f, 0}, th[2] = {0, 1},
          toh[2 * 3] = {1, 0, 0, 0, 1, 0};
    nn_tensor txh = nn_tensor_view2d(xh, 2, 3), tth = nn_tensor_view2d(th, 2, 1),
              ttoh = nn_tensor_view2d(toh, 2, 3);
    for (int with_grad = 0; with_grad < 2; with_grad++) {
        assert_ok(nn_loss_eval(ce, &txh, &tth, &v, with_grad ? &tg : NULL));
        assert_close(v, log(2.0), 1e-12, 0);
        assert_ok(nn_loss_eval(ce, &txh, &ttoh, &v, with_grad ? &tg : NULL));
        assert_close(v, log(2.0), 1e-12, 0);
    }
    assert_close(g[0], -0.25, 1e-7, 0); /* (softmax - onehot) / 2 */
    assert_close(g[1], 0.25, 1e-7, 0);
    assert_close(g[4], -0.25, 1e-7, 0);
    /* More classes than the row buffer: the other code path's gradient */
    enum { WIDE = 300 };
    float *xw = calloc(WIDE, sizeof *xw), *gw = calloc(WIDE, sizeof *gw), tw0[1] = {0};
    assert_non_null(xw);
    assert_non_null(gw);
    xw[0] = xw[1] = 1e16f;
    nn_tensor txw = nn_tensor_view2d(xw, 1, WIDE), ttw = nn_tensor_view2d(tw0, 1, 1),
              tgw = nn_tensor_view2d(gw, 1, WIDE);
    assert_ok(nn_loss_eval(ce, &txw, &ttw, &v, &tgw));
    assert_close(v, log(2.0), 1e-12, 0);
    assert_close(gw[0], -0.5, 1e-7, 0);
    assert_close(gw[1], 0.5, 1e-7, 0);
    assert_close(gw[2], 0.0, 0, 0);
    free(xw);
    free(gw);

    /* Bad class indices: negative, fractional, >= C, NaN, torch's -100. */
    const float bad[5] = {-1, 0.5f, 3, NAN, -100};
    for (int k = 0; k < 5; k++) {
        ti[1] = bad[k];
        v = 42;
        assert_error(nn_loss_eval(ce, &tx, &tti, &v, &tg), NN_ERR_INVALID_ARG, "1");
        assert_true(v == 42);
    }
    ti[1] = 2;

    /* Target widths other than 1 and C; a single class. */
    float t2[4] = {0};
    nn_tensor tt2 = nn_tensor_view2d(t2, 2, 2);
    assert_error(nn_loss_eval(ce, &tx, &tt2, &v, NULL), NN_ERR_SHAPE, "2", "3");
    float x1[2] = {0, 0}, t1[2] = {0, 0};
    nn_tensor tx1 = nn_tensor_view2d(x1, 2, 1), tt1 = nn_tensor_view2d(t1, 2, 1);
    assert_status(nn_loss_eval(ce, &tx1, &tt1, &v, NULL), NN_ERR_SHAPE);
    nn_loss_free(ce);
}

static void test_nll(void **state)
{
    (void)state;
    const float idx[CB] = {1, 3, 0};
    check_rows(NN_LOSS_NLL, idx, 1);
    nn_loss *nll = NULL;
    assert_ok(nn_loss_nll_new(&nll));
    float x[CB * CC] = {0}, t[CB * CC] = {0}, v1[1] = {5};
    nn_tensor tx = nn_tensor_view2d(x, CB, CC), tt = nn_tensor_view2d(t, CB, CC);
    double v = 0;
    assert_status(nn_loss_eval(nll, &tx, &tt, &v, NULL), NN_ERR_SHAPE); /* width C */
    /* C = 1 is allowed for NLL. */
    nn_tensor tx1 = nn_tensor_view2d(v1, 1, 1), tt1 = nn_tensor_view2d(t, 1, 1);
    assert_ok(nn_loss_eval(nll, &tx1, &tt1, &v, NULL));
    assert_true(v == -5.0);
    nn_loss_free(nll);
}

/* ---- generic interface ----------------------------------------------------------- */

/* A confident right prediction keeps its tiny loss and gradient (50-digit mpmath
 * values of the same inputs): as 1 - p or log(1 + r) in double, both were 0 for
 * a logit gap above 37. And MSE's value of a difference beyond FLT_MAX is finite. */
static void test_confident_and_huge(void **state)
{
    (void)state;
    const double loss40 = 4.2483542552915889863e-18; /* log1p(e^-40) */
    const float g40 = -0x1.397924p-58f;                                  /* -r / (1 + r) */
    float x[2] = {40.0f, 0.0f}, y = 0.0f, g[2];
    nn_tensor tx = nn_tensor_view2d(x, 1, 2), ty = nn_tensor_view2d(&y, 1, 1),
              tg = nn_tensor_view2d(g, 1, 2);
    double v = 0;
    nn_loss *ce = new_loss(NN_LOSS_CROSS_ENTROPY, 0);
    assert_ok(nn_loss_eval(ce, &tx, &ty, &v, &tg)); /* the gradient's path */
    assert_close(v, loss40, 1e-15, 0);
    assert_true(g[0] == g40 && g[1] == -g40);
    assert_ok(nn_loss_eval(ce, &tx, &ty, &v, NULL)); /* the value's own path */
    assert_close(v, loss40, 1e-15, 0);
    /* the same as a probability row */
    float t2[2] = {1.0f, 0.0f};
    nn_tensor tt2 = nn_tensor_view2d(t2, 1, 2);
    assert_ok(nn_loss_eval(ce, &tx, &tt2, &v, &tg));
    assert_close(v, loss40, 1e-15, 0);
    assert_true(g[0] == g40 && g[1] == -g40);
    nn_loss_free(ce);

    nn_loss *bl = new_loss(NN_LOSS_BCE_LOGITS, 0);
    float one = 1.0f, g1;
    nn_tensor t1 = nn_tensor_view2d(&one, 1, 1), x1 = nn_tensor_view2d(x, 1, 1),
              gt1 = nn_tensor_view2d(&g1, 1, 1);
    assert_ok(nn_loss_eval(bl, &x1, &t1, &v, &gt1)); /* x = 40, t = 1 */
    assert_close(v, loss40, 1e-15, 0);
    assert_true(g1 == g40);
    nn_loss_free(bl);

    nn_loss *mse = new_loss(NN_LOSS_MSE, 0);
    float p3 = 3e38f, t3 = -3e38f;
    nn_tensor tp3 = nn_tensor_view2d(&p3, 1, 1), tt3 = nn_tensor_view2d(&t3, 1, 1);
    assert_ok(nn_loss_eval(mse, &tp3, &tt3, &v, NULL));
    assert_close(v, ((double)p3 - t3) * ((double)p3 - t3), 1e-15, 0);
    nn_loss_free(mse);
}

/* The parts of test_confident_and_huge's fixes it does not reach: cross_entropy's
 * gradient at the largest logit on its path for rows wider than its row buffer (300
 * classes), and bce_logits' gradient within ln 2 of 0 (t = 1/2: sigma(x) - 1/2 = x/4,
 * which the difference of two halves gave as 0). 50-digit mpmath values, sum reduction. */
static void test_confident_wide_and_near_zero(void **state)
{
    (void)state;
    enum { C = 300 };
    float x[C] = {50.0f}, y = 0.0f, g[C];
    nn_tensor tx = nn_tensor_view2d(x, 1, C), ty = nn_tensor_view2d(&y, 1, 1),
              tg = nn_tensor_view2d(g, 1, C);
    double v = 0;
    nn_loss *ce = new_loss(NN_LOSS_CROSS_ENTROPY, 0);
    assert_ok(nn_loss_set_reduction(ce, NN_REDUCTION_SUM));
    assert_ok(nn_loss_eval(ce, &tx, &ty, &v, &tg));
    assert_close(v, 5.7669620454121141711e-20, 1e-13, 0); /* log1p(299 e^-50), 299 terms summed */
    assert_true(g[0] == -0x1.10564cp-64f); /* -r / (1 + r), r = 299 e^-50 */
    assert_true(g[1] == 0x1.d257d6p-73f && g[C - 1] == g[1]);
    nn_loss_free(ce);

    nn_loss *bl = new_loss(NN_LOSS_BCE_LOGITS, 0);
    assert_ok(nn_loss_set_reduction(bl, NN_REDUCTION_SUM));
    float xb = 0x1.79ca1p-67f, half = 0.5f, gb = 0;
    nn_tensor txb = nn_tensor_view2d(&xb, 1, 1), tt = nn_tensor_view2d(&half, 1, 1),
              tgb = nn_tensor_view2d(&gb, 1, 1);
    assert_ok(nn_loss_eval(bl, &txb, &tt, &v, &tgb));
    assert_true(gb == 0x1.79ca1p-69f); /* x / 4 */
    nn_loss_free(bl);
}

static void test_kinds_and_names(void **state)
{
    (void)state;
    static const char *names[8] = {"mse", "mae",        "huber",         "smooth_l1",
                                   "bce", "bce_logits", "cross_entropy", "nll"};
    /* Values may be written to model files: they never move. */
    assert_int_equal(NN_LOSS_MSE, 0);
    assert_int_equal(NN_LOSS_MAE, 1);
    assert_int_equal(NN_LOSS_HUBER, 2);
    assert_int_equal(NN_LOSS_SMOOTH_L1, 3);
    assert_int_equal(NN_LOSS_BCE, 4);
    assert_int_equal(NN_LOSS_BCE_LOGITS, 5);
    assert_int_equal(NN_LOSS_CROSS_ENTROPY, 6);
    assert_int_equal(NN_LOSS_NLL, 7);
    assert_int_equal(NN_REDUCTION_MEAN, 0);
    assert_int_equal(NN_REDUCTION_SUM, 1);
    for (int k = 0; k < 8; k++) {
        const char *n = nn_loss_kind_name((nn_loss_kind)k);
        assert_non_null(n);
        assert_string_equal(n, names[k]);
        nn_loss_kind back = (nn_loss_kind)99;
        assert_ok(nn_loss_kind_from_name(n, &back));
        assert_int_equal(back, k);
        nn_loss *l = NULL;
        assert_ok(nn_loss_new_by_kind((nn_loss_kind)k, &l));
        assert_string_equal(l->ops->name, n);
        nn_loss_free(l);
    }
    assert_null(nn_loss_kind_name((nn_loss_kind)8));
    assert_null(nn_loss_kind_name((nn_loss_kind)-1));

    nn_loss_kind k = NN_LOSS_HUBER;
    assert_error(nn_loss_kind_from_name("MSE", &k), NN_ERR_INVALID_ARG, "MSE"); /* case matters */
    assert_int_equal(k, NN_LOSS_HUBER);                                         /* unchanged */
    assert_error(nn_loss_kind_from_name("l2", &k), NN_ERR_INVALID_ARG, "l2");
    assert_status(nn_loss_kind_from_name(NULL, &k), NN_ERR_NULL_ARG);
    assert_status(nn_loss_kind_from_name("mse", NULL), NN_ERR_NULL_ARG);
    nn_loss *l = (nn_loss *)&k;
    assert_error(nn_loss_new_by_kind((nn_loss_kind)8, &l), NN_ERR_INVALID_ARG, "8");
    assert_null(l);
    assert_status(nn_loss_new_by_kind(NN_LOSS_MSE, NULL), NN_ERR_NULL_ARG);
    assert_status(nn_loss_mse_new(NULL), NN_ERR_NULL_ARG);
    assert_status(nn_loss_mae_new(NULL), NN_ERR_NULL_ARG);
    assert_status(nn_loss_bce_new(NULL), NN_ERR_NULL_ARG);
    assert_status(nn_loss_bce_logits_new(NULL), NN_ERR_NULL_ARG);
    assert_status(nn_loss_cross_entropy_new(NULL), NN_ERR_NULL_ARG);
    assert_status(nn_loss_nll_new(NULL), NN_ERR_NULL_ARG);
}

static void test_eval_errors(void **state)
{
    (void)state;
    nn_loss *mse = NULL;
    assert_ok(nn_loss_mse_new(&mse));
    float a[30] = {0}, b[30] = {0}, g[30] = {0};
    nn_tensor p = nn_tensor_view2d(a, 3, 2), t = nn_tensor_view2d(b, 3, 2);
    nn_tensor gr = nn_tensor_view2d(g, 3, 2);
    double v = 42;
    nn_tensor t_width = nn_tensor_view2d(b, 3, 7);
    assert_error(nn_loss_eval(mse, &p, &t_width, &v, &gr), NN_ERR_SHAPE, "2", "7");
    nn_tensor t_batch = nn_tensor_view2d(b, 5, 2);
    assert_error(nn_loss_eval(mse, &p, &t_batch, &v, &gr), NN_ERR_SHAPE, "3", "5");
    /* views of nothing: elements but no data (a crash in the loss's first read) */
    nn_tensor none = nn_tensor_view2d(NULL, 3, 2);
    assert_error(nn_loss_eval(mse, &none, &t, &v, &gr), NN_ERR_NULL_ARG,
                 "nn_loss_eval: pred (3, 2) has elements but no data");
    assert_error(nn_loss_eval(mse, &p, &none, &v, &gr), NN_ERR_NULL_ARG, "target (3, 2)");
    assert_error(nn_loss_eval(mse, &p, &t, &v, &none), NN_ERR_NULL_ARG, "grad (3, 2)");
    assert_true(v == 42); /* untouched */
    nn_tensor g_bad = nn_tensor_view2d(g, 2, 3);
    assert_status(nn_loss_eval(mse, &p, &t, &v, &g_bad), NN_ERR_SHAPE);
    size_t shape3[3] = {3, 2, 1};
    nn_tensor *p3 = NULL;
    assert_ok(nn_tensor_new(3, shape3, &p3));
    assert_status(nn_loss_eval(mse, p3, &t, &v, NULL), NN_ERR_SHAPE); /* 2-D only */
    nn_tensor_free(p3);
    assert_true(v == 42);

    assert_status(nn_loss_eval(NULL, &p, &t, &v, NULL), NN_ERR_NULL_ARG);
    assert_status(nn_loss_eval(mse, NULL, &t, &v, NULL), NN_ERR_NULL_ARG);
    assert_status(nn_loss_eval(mse, &p, NULL, &v, NULL), NN_ERR_NULL_ARG);
    assert_status(nn_loss_eval(mse, &p, &t, NULL, NULL), NN_ERR_NULL_ARG);

    assert_error(nn_loss_set_reduction(mse, (nn_reduction)2), NN_ERR_INVALID_ARG, "2");
    assert_int_equal(mse->reduction, NN_REDUCTION_MEAN);
    assert_status(nn_loss_set_reduction(mse, (nn_reduction)-1), NN_ERR_INVALID_ARG);
    assert_status(nn_loss_set_reduction(NULL, NN_REDUCTION_SUM), NN_ERR_NULL_ARG);
    assert_ok(nn_loss_set_reduction(mse, NN_REDUCTION_SUM));
    assert_int_equal(mse->reduction, NN_REDUCTION_SUM);
    nn_loss_free(mse);
    nn_loss_free(NULL);
}

/* A loss written here: the mean fourth power, l = d^4, dl/dp = 4 d^3. */
static int quartic_destroyed;

static nn_status quartic_check(const nn_loss *loss, size_t pw, size_t tw)
{
    (void)loss;
    return pw == tw ? NN_OK : NN_ERR_SHAPE;
}

static nn_status quartic_eval(const nn_loss *loss, const nn_tensor *pred, const nn_tensor *target,
                              double *value, nn_tensor *grad)
{
    double scale = loss->reduction == NN_REDUCTION_MEAN ? 1.0 / (double)pred->size : 1.0;
    double s = 0;
    for (size_t k = 0; k < pred->size; k++) {
        double d = (double)pred->data[k] - target->data[k];
        s += d * d * d * d;
        if (grad != NULL)
            grad->data[k] = (float)(4 * d * d * d * scale);
    }
    *value = s * scale;
    return NN_OK;
}

static void quartic_destroy(nn_loss *loss)
{
    free(loss->impl);
    quartic_destroyed++;
}

static const nn_loss_ops quartic_ops = {"quartic", quartic_check, quartic_eval, quartic_destroy};

static void test_user_loss(void **state)
{
    (void)state;
    int on_stack = 0;
    nn_loss *l = (nn_loss *)&on_stack;
    assert_error(nn_loss_new(NULL, NULL, &l), NN_ERR_NULL_ARG, "nn_loss_new");
    assert_null(l);
    nn_loss_ops ops = quartic_ops;
    ops.check = NULL;
    assert_status(nn_loss_new(&ops, &on_stack, &l), NN_ERR_NULL_ARG); /* impl stays ours */
    ops = quartic_ops;
    ops.eval = NULL;
    assert_status(nn_loss_new(&ops, &on_stack, &l), NN_ERR_NULL_ARG);
    assert_status(nn_loss_new(&quartic_ops, NULL, NULL), NN_ERR_NULL_ARG);

    quartic_destroyed = 0;
    assert_ok(nn_loss_new(&quartic_ops, malloc(16), &l));
    assert_int_equal(l->reduction, NN_REDUCTION_MEAN);
    float p[4] = {1, 2, 0, -1}, t[4] = {0, 0, 0, 0}, g[4];
    nn_tensor tp = nn_tensor_view2d(p, 2, 2), tt = nn_tensor_view2d(t, 2, 2),
              tg = nn_tensor_view2d(g, 2, 2);
    double v = 0;
    assert_ok(nn_loss_eval(l, &tp, &tt, &v, &tg));
    assert_true(v == (1 + 16 + 0 + 1) / 4.0);
    check_numeric_grad(l, &tp, &tt, &tg);
    /* nn_loss_eval runs the kind's own check. */
    nn_tensor tt3 = nn_tensor_view2d(t, 1, 4), tp3 = nn_tensor_view2d(p, 1, 2);
    /* The user's check() records no message: nn_loss_eval writes one naming both widths. */
    assert_error(nn_loss_eval(l, &tp3, &tt3, &v, NULL), NN_ERR_SHAPE, "quartic", "width 2", "width 4");
    nn_loss_free(l);
    assert_int_equal(quartic_destroyed, 1);
}

static void test_no_allocation_and_oom(void **state)
{
    (void)state;
    nn_test_alloc_install();
    for (int k = 0; k < 8; k++) {
        nn_test_alloc_count_from_now(); /* disarm the last failure of the loop below */
        nn_loss *l = NULL;
        assert_ok(nn_loss_new_by_kind((nn_loss_kind)k, &l));
        float p[6] = {0.2f, 0.3f, 0.5f, 0.1f, 0.6f, 0.3f}, t[6] = {0, 1, 0, 1, 0, 0}, g[6];
        float ti[2] = {2, 1};
        int classes = k == NN_LOSS_CROSS_ENTROPY || k == NN_LOSS_NLL;
        nn_tensor tp = nn_tensor_view2d(p, 2, 3), tg = nn_tensor_view2d(g, 2, 3);
        nn_tensor tt = classes ? nn_tensor_view2d(ti, 2, 1) : nn_tensor_view2d(t, 2, 3);
        double v = 0;
        nn_test_alloc_count_from_now();
        assert_ok(nn_loss_eval(l, &tp, &tt, &v, &tg));
        assert_int_equal(nn_test_alloc()->calls, 0); /* evaluation never allocates */
        nn_loss_free(l);

        /* Each allocation of the constructor failing in turn. */
        for (size_t n = 1;; n++) {
            nn_test_alloc_fail_nth(n);
            l = (nn_loss *)&n;
            nn_clear_error();
            nn_status st = nn_loss_new_by_kind((nn_loss_kind)k, &l);
            if (nn_test_alloc()->failed == 0) {
                assert_ok(st);
                nn_loss_free(l);
                break;
            }
            assert_status_was(st, NN_ERR_NOMEM);
            assert_null(l);
            assert_int_equal(nn_test_alloc()->live, 0);
        }
    }
    nn_test_alloc_count_from_now();
    nn_loss *h = NULL;
    nn_test_alloc_fail_nth(1);
    assert_status(nn_loss_huber_new(2.0, &h), NN_ERR_NOMEM);
    assert_null(h);
    nn_test_alloc_fail_nth(2);
    assert_status(nn_loss_smooth_l1_new(2.0, &h), NN_ERR_NOMEM);
    assert_null(h);
    assert_int_equal(nn_test_alloc()->live, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mse),
        cmocka_unit_test(test_mae),
        cmocka_unit_test(test_huber_and_smooth_l1),
        cmocka_unit_test(test_bce),
        cmocka_unit_test(test_bce_logits),
        cmocka_unit_test(test_confident_and_huge),
        cmocka_unit_test(test_confident_wide_and_near_zero),
        cmocka_unit_test(test_cross_entropy),
        cmocka_unit_test(test_nll),
        cmocka_unit_test(test_kinds_and_names),
        cmocka_unit_test(test_eval_errors),
        cmocka_unit_test(test_user_loss),
        cmocka_unit_test_teardown(test_no_allocation_and_oom, nn_test_alloc_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
