/* loss.c - the generic loss interface and the built-in losses. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "loss_impl.h"
#include "nn/loss.h"

nn_status nn_loss_new(const nn_loss_ops *ops, void *impl, nn_loss **out)
{
    NN_CHECK_NULL(out);
    *out = NULL;
    NN_CHECK_NULL(ops);
    if (ops->name == NULL || ops->check == NULL || ops->eval == NULL)
        return nn_error(NN_ERR_NULL_ARG, "nn_loss_new: loss ops '%s' lack name, check or eval",
                        ops->name ? ops->name : "(unnamed)");
    nn_loss *loss = nn_xalloc(sizeof *loss);
    if (loss == NULL)
        return nn_error(NN_ERR_NOMEM, "nn_loss_new: cannot allocate a '%s' loss", ops->name);
    loss->ops = ops;
    loss->impl = impl;
    loss->reduction = NN_REDUCTION_MEAN;
    loss->owner = NULL;
    *out = loss;
    return NN_OK;
}

void nn_loss_free(nn_loss *loss)
{
    if (loss == NULL)
        return;
    if (loss->ops->destroy != NULL)
        loss->ops->destroy(loss);
    nn_xfree(loss);
}

nn_status nn_loss_set_reduction(nn_loss *loss, nn_reduction reduction)
{
    NN_CHECK_NULL(loss);
    switch (reduction) {
    case NN_REDUCTION_MEAN:
    case NN_REDUCTION_SUM:
        loss->reduction = reduction;
        return NN_OK;
    }
    return nn_error(NN_ERR_INVALID_ARG, "nn_loss_set_reduction: unknown reduction %d",
                    (int)reduction);
}

nn_status nn_loss_eval(const nn_loss *loss, const nn_tensor *pred, const nn_tensor *target,
                       double *value, nn_tensor *grad)
{
    NN_CHECK_NULL(loss);
    NN_CHECK_NULL(pred);
    NN_CHECK_NULL(target);
    NN_CHECK_NULL(value);
    if (pred->ndim != 2 || target->ndim != 2 || pred->shape[0] != target->shape[0])
        return nn_error(NN_ERR_SHAPE,
                        "nn_loss_eval: '%s' needs 2-D predictions and targets with the same batch, "
                        "got %zu and %zu rows (%d-D, %d-D)",
                        loss->ops->name, nn_tensor_nrows(pred), nn_tensor_nrows(target), pred->ndim,
                        target->ndim);
    if (grad != NULL && !nn_tensor_same_shape(grad, pred))
        return nn_error(
            NN_ERR_SHAPE, "nn_loss_eval: gradient is (%zu, %zu), predictions (%zu, %zu)",
            nn_tensor_nrows(grad), nn_tensor_ncols(grad), pred->shape[0], pred->shape[1]);
    nn_status st = nn_check_data(__func__, "pred", pred);
    if (st == NN_OK)
        st = nn_check_data(__func__, "target", target);
    if (st == NN_OK && grad != NULL)
        st = nn_check_data(__func__, "grad", grad);
    if (st != NN_OK)
        return st;
    unsigned long seq = nn_error_seq();
    st = nn_error_if_silent(loss->ops->check(loss, pred->shape[1], target->shape[1]), seq,
                                      "nn_loss_eval: loss '%s' rejects predictions of width %zu with targets of width %zu",
                                      loss->ops->name, pred->shape[1], target->shape[1]);
    if (st != NN_OK)
        return st;
    return nn_error_if_silent(loss->ops->eval(loss, pred, target, value, grad), seq,
                              "nn_loss_eval: loss '%s' failed", loss->ops->name);
}

/* ---- shared pieces ----------------------------------------------------------------- */

/* 1/N for mean reduction, where N is the number of terms (elements or rows). */
static double reduction_scale(const nn_loss *loss, size_t terms)
{
    NN_ASSERT(loss->reduction == NN_REDUCTION_MEAN || loss->reduction == NN_REDUCTION_SUM);
    return nn_reduction_scale(loss->reduction, terms);
}

static double sign_of(double d) { return (double)((d > 0.0) - (d < 0.0)); }

/* The elementwise losses need targets of the predictions' shape. */
static nn_status same_width_check(const nn_loss *loss, size_t pred_width, size_t target_width)
{
    if (pred_width != target_width)
        return nn_error(NN_ERR_SHAPE, "%s: predictions have width %zu but targets %zu",
                        loss->ops->name, pred_width, target_width);
    return NN_OK;
}

/* Private state of the losses with a parameter (Huber's delta, smooth L1's beta). */
typedef struct loss_param {
    double value;
} loss_param;

static void param_destroy(nn_loss *loss) { nn_xfree(loss->impl); }

static double param_of(const nn_loss *loss) { return ((const loss_param *)loss->impl)->value; }

static nn_status new_with_param(const nn_loss_ops *ops, double value, nn_loss **out)
{
    loss_param *p = nn_xalloc(sizeof *p);
    if (p == NULL)
        return nn_error(NN_ERR_NOMEM, "nn_loss_%s_new: out of memory", ops->name);
    p->value = value;
    nn_status st = nn_loss_new(ops, p, out);
    if (st != NN_OK)
        nn_xfree(p);
    return st;
}

/* ---- MSE: l = d^2, dl/dp = 2 d ------------------------------------------------------ */

static nn_status mse_eval(const nn_loss *loss, const nn_tensor *pred, const nn_tensor *target,
                          double *value, nn_tensor *grad)
{
    size_t n = pred->size;
    double scale = reduction_scale(loss, n);
    *value = nn_mse_terms(pred->data, target->data, grad != NULL ? grad->data : NULL,
                          (float)(2.0 * scale), n) * scale;
    return NN_OK;
}

static const nn_loss_ops mse_ops = {
    .name = "mse",
    .check = same_width_check,
    .eval = mse_eval,
    .destroy = NULL,
};

nn_status nn_loss_mse_new(nn_loss **out) { return nn_loss_new(&mse_ops, NULL, out); }

/* ---- MAE: l = |d|, dl/dp = sign(d) -------------------------------------------------- */

static nn_status mae_eval(const nn_loss *loss, const nn_tensor *pred, const nn_tensor *target,
                          double *value, nn_tensor *grad)
{
    size_t n = pred->size;
    double scale = reduction_scale(loss, n);
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)pred->data[i] - target->data[i];
        sum += fabs(d);
        if (grad != NULL)
            grad->data[i] = (float)(scale * sign_of(d));
    }
    *value = sum * scale;
    return NN_OK;
}

static const nn_loss_ops mae_ops = {
    .name = "mae",
    .check = same_width_check,
    .eval = mae_eval,
    .destroy = NULL,
};

nn_status nn_loss_mae_new(nn_loss **out) { return nn_loss_new(&mae_ops, NULL, out); }

/* ---- Huber: 0.5 d^2 inside delta, delta (|d| - delta/2) outside ------------------------ */

/* Branches as torch's huber_loss kernels: quadratic strictly inside |d| < delta. */
static nn_status huber_eval(const nn_loss *loss, const nn_tensor *pred, const nn_tensor *target,
                            double *value, nn_tensor *grad)
{
    size_t n = pred->size;
    double scale = reduction_scale(loss, n), delta = param_of(loss);
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)pred->data[i] - target->data[i], z = fabs(d);
        double g;
        if (z < delta) {
            sum += 0.5 * d * d;
            g = d;
        } else {
            sum += delta * (z - 0.5 * delta);
            g = delta * sign_of(d);
        }
        if (grad != NULL)
            grad->data[i] = (float)(scale * g);
    }
    *value = sum * scale;
    return NN_OK;
}

static const nn_loss_ops huber_ops = {
    .name = "huber",
    .check = same_width_check,
    .eval = huber_eval,
    .destroy = param_destroy,
};

nn_status nn_loss_huber_new(double delta, nn_loss **out)
{
    NN_CHECK_NULL(out);
    *out = NULL;
    if (!(delta > 0.0) || !isfinite(delta))
        return nn_error(NN_ERR_INVALID_ARG, "nn_loss_huber_new: delta %g must be finite and > 0",
                        delta);
    return new_with_param(&huber_ops, delta, out);
}

/* ---- smooth L1: 0.5 d^2 / beta inside beta, |d| - beta/2 outside ------------------------ */

/* beta = 0 never takes the quadratic branch, so it is the L1 loss without a division
 * by zero, as torch documents beta = 0 to be (torch 1.13 itself gives -1/N, not 0, as
 * the gradient at d = 0: docs/modules-losses.md). */
static nn_status smooth_l1_eval(const nn_loss *loss, const nn_tensor *pred, const nn_tensor *target,
                                double *value, nn_tensor *grad)
{
    size_t n = pred->size;
    double scale = reduction_scale(loss, n), beta = param_of(loss);
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)pred->data[i] - target->data[i], z = fabs(d);
        double g;
        if (z < beta) {
            sum += 0.5 * d * d / beta;
            g = d / beta;
        } else {
            sum += z - 0.5 * beta;
            g = sign_of(d);
        }
        if (grad != NULL)
            grad->data[i] = (float)(scale * g);
    }
    *value = sum * scale;
    return NN_OK;
}

static const nn_loss_ops smooth_l1_ops = {
    .name = "smooth_l1",
    .check = same_width_check,
    .eval = smooth_l1_eval,
    .destroy = param_destroy,
};

nn_status nn_loss_smooth_l1_new(double beta, nn_loss **out)
{
    NN_CHECK_NULL(out);
    *out = NULL;
    if (!(beta >= 0.0) || !isfinite(beta))
        return nn_error(NN_ERR_INVALID_ARG,
                        "nn_loss_smooth_l1_new: beta %g must be finite and >= 0", beta);
    return new_with_param(&smooth_l1_ops, beta, out);
}

/* ---- BCE on probabilities ---------------------------------------------------------------- */

/* torch's binary_cross_entropy (aten/src/ATen/native/Loss.cpp): both logarithms
 * clamped at -100, so t = 0 at p = 0 gives 0 * -100 and never 0 * -inf; the backward
 * divides by max(p (1 - p), EPSILON = 1e-12). */
#define BCE_LOG_FLOOR (-100.0)
#define BCE_GRAD_EPS  1e-12

static nn_status bce_eval(const nn_loss *loss, const nn_tensor *pred, const nn_tensor *target,
                          double *value, nn_tensor *grad)
{
    size_t n = pred->size, width = pred->shape[1];
    double scale = reduction_scale(loss, n);
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) {
        double p = pred->data[i], t = target->data[i];
        if (!(p >= 0.0 && p <= 1.0))
            return nn_error(isnan(p) ? NN_ERR_NUMERIC : NN_ERR_INVALID_ARG,
                            "bce: prediction (%zu, %zu) is %.9g, not a probability in [0, 1]",
                            i / width, i % width, p);
        double log_p = fmax(log(p), BCE_LOG_FLOOR);
        double log_1mp = fmax(log1p(-p), BCE_LOG_FLOOR);
        sum -= t * log_p + (1.0 - t) * log_1mp;
        if (grad != NULL)
            grad->data[i] = (float)(scale * (p - t) / fmax(p * (1.0 - p), BCE_GRAD_EPS));
    }
    *value = sum * scale;
    return NN_OK;
}

static const nn_loss_ops bce_ops = {
    .name = "bce",
    .check = same_width_check,
    .eval = bce_eval,
    .destroy = NULL,
};

nn_status nn_loss_bce_new(nn_loss **out) { return nn_loss_new(&bce_ops, NULL, out); }

/* ---- BCE on logits: max(x, 0) - x t + log1p(exp(-|x|)), gradient sigmoid(x) - t ---------- */

static nn_status bce_logits_eval(const nn_loss *loss, const nn_tensor *pred,
                                 const nn_tensor *target, double *value, nn_tensor *grad)
{
    size_t n = pred->size;
    double scale = reduction_scale(loss, n);
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) {
        double x = pred->data[i], t = target->data[i], ax = fabs(x);
        /* e = exp(-|x|) <= 1 serves both the value and the sigmoid, so nothing
         * overflows. The gradient sigma(x) - t is written over the common denominator
         * 1 + e, without rounding sigma(x) first: (1 - t - t e) / (1 + e) for x >= 0 and
         * (e (1 - t) - t) / (1 + e) below, so that t = 1 at x >> 0 (and t = 0 at x << 0)
         * keeps -e / (1 + e) instead of 1 - (1 - 2^-53) = 0. Within ln 2 of 0 the same
         * with e = 1 + expm1(-|x|), so that t = 1/2 gives about -expm1(-|x|) / 4, not a
         * difference of two halves (0 for |x| < 1e-16). */
        double em1 = 0.0, e;
        int near0 = ax < 0.69314718055994530942;
        if (near0) {
            em1 = expm1(-ax);
            e = 1.0 + em1;
        } else {
            e = exp(-ax);
        }
        sum += fmax(x, 0.0) - x * t + log1p(e);
        if (grad != NULL) {
            double num;
            if (near0)
                num = x >= 0.0 ? (1.0 - 2.0 * t) - t * em1 : (1.0 - 2.0 * t) + (1.0 - t) * em1;
            else
                num = x >= 0.0 ? (1.0 - t) - t * e : e * (1.0 - t) - t;
            grad->data[i] = (float)(scale * (num / (1.0 + e)));
        }
    }
    *value = sum * scale;
    return NN_OK;
}

static const nn_loss_ops bce_logits_ops = {
    .name = "bce_logits",
    .check = same_width_check,
    .eval = bce_logits_eval,
    .destroy = NULL,
};

nn_status nn_loss_bce_logits_new(nn_loss **out) { return nn_loss_new(&bce_logits_ops, NULL, out); }

/* ---- class-index targets ----------------------------------------------------------------- */

/* Every row of target: (B, 1) must hold an integer in [0, classes). Checked before
 * anything is written so that a bad batch leaves no half-computed gradient behind. */
static nn_status check_indices(const char *name, const nn_tensor *target, size_t classes)
{
    for (size_t i = 0; i < target->shape[0]; i++) {
        double v = target->data[i];
        if (!(v >= 0.0 && v < (double)classes) || v != floor(v))
            return nn_error(NN_ERR_INVALID_ARG,
                            "%s: target row %zu holds %.9g, not a class index in [0, %zu)", name, i,
                            v, classes);
    }
    return NN_OK;
}

/* ---- cross-entropy on logits (log-softmax + NLL) ------------------------------------------ */

static nn_status cross_entropy_check(const nn_loss *loss, size_t pred_width, size_t target_width)
{
    (void)loss;
    if (pred_width < 2)
        return nn_error(NN_ERR_SHAPE,
                        "cross_entropy: predictions have width %zu, need at least 2 classes (a "
                        "width-1 target would be ambiguous; use bce_logits for one output)",
                        pred_width);
    if (target_width != 1 && target_width != pred_width)
        return nn_error(NN_ERR_SHAPE,
                        "cross_entropy: targets have width %zu; with %zu classes they need width 1 "
                        "(class indices) or %zu (probability rows)",
                        target_width, pred_width, pred_width);
    return NN_OK;
}

/* Rows up to this wide keep their exp(x_j - m) on the stack (in double), so that
 * value and gradient cost one exp per element instead of two. */
#define CE_ROW_BUFFER 256

/* Both paths below write the row's sum of exponentials as s = 1 + r, where a is the
 * first maximum (e_a = 1) and r = sum_{j != a} exp(x_j - m), and use r where 1 + r
 * cancels:
 *   log s = log1p(r)    log(1 + r) lost r below 1e-16 and most of it below 1e-9: a
 *                       confident right row (logit gap above 37) had loss 0
 *   gradient at a       p_a - 1 = -r / s (indices, y = a) and, for probability rows,
 *                       p_a sum t - t_a = (sum_{j != a} t_j - t_a r) / s: as
 *                       1/s - 1 it was 0 (or 0.6% off at a gap of 20) where the true
 *                       value is a normal float.
 * p_j for j != a is at most 1/2, and needs nothing of the kind. */

/* cross_entropy_eval with a gradient, for c <= CE_ROW_BUFFER classes: per row the
 * maximum m, e_j = exp(x_j - m) and r, then
 *   value term  (m - x_y) + log1p(r) (indices) or log1p(r) sum t - sum t (x - m): the
 *               differences from m first, so that log s is not lost in m + log s
 *               when the logits are large (rows of [1e16, 1e16, 0] gave 0)
 *   gradient    e_j / s - [j == y] (indices) or (e_j / s) sum t - t_j, times scale,
 *               at a as above.
 * Measured: the exp per element was the largest cost of the loss at 10 classes. */
static nn_status cross_entropy_grad_rows(const nn_tensor *pred, const nn_tensor *target,
                                         int indices, double scale, double *value, nn_tensor *grad)
{
    size_t b = pred->shape[0], c = pred->shape[1];
    double e[CE_ROW_BUFFER];
    double sum = 0.0;
    for (size_t i = 0; i < b; i++) {
        const float *x = pred->data + i * c;
        const float *t = indices ? NULL : target->data + i * c;
        size_t y = indices ? (size_t)target->data[i] : 0;
        size_t a = 0;
        for (size_t j = 1; j < c; j++)
            if (x[j] > x[a])
                a = j;
        double m = x[a];
        double r = 0.0, tsum = 0.0, tx = 0.0, trest = 0.0;
        for (size_t j = 0; j < c; j++) {
            e[j] = exp((double)x[j] - m);
            if (j != a)
                r += e[j];
        }
        if (!indices)
            for (size_t j = 0; j < c; j++) {
                tsum += t[j];
                tx += (double)t[j] * ((double)x[j] - m);
                if (j != a)
                    trest += t[j];
            }
        double log_s = log1p(r), inv = 1.0 / (1.0 + r);
        sum += indices ? (m - x[y]) + log_s : log_s * tsum - tx;
        float *g = grad->data + i * c;
        for (size_t j = 0; j < c; j++) {
            double p = e[j] * inv;
            double gj = indices ? p - (double)(j == y) : p * tsum - t[j];
            g[j] = (float)(scale * gj);
        }
        double ga = indices ? (y == a ? -r * inv : inv) : (trest - (double)t[a] * r) * inv;
        g[a] = (float)(scale * ga);
    }
    *value = sum * scale;
    return NN_OK;
}

static nn_status cross_entropy_eval(const nn_loss *loss, const nn_tensor *pred,
                                    const nn_tensor *target, double *value, nn_tensor *grad)
{
    size_t b = pred->shape[0], c = pred->shape[1];
    int indices = target->shape[1] == 1;
    if (indices) {
        nn_status st = check_indices("cross_entropy", target, c);
        if (st != NN_OK)
            return st;
    }
    double scale = reduction_scale(loss, b);
    double sum = 0.0;
    if (grad != NULL && c <= CE_ROW_BUFFER)
        return cross_entropy_grad_rows(pred, target, indices, scale, value, grad);
    for (size_t i = 0; i < b; i++) {
        const float *x = pred->data + i * c;
        const float *t = indices ? NULL : target->data + i * c;
        size_t y = indices ? (size_t)target->data[i] : 0;
        /* Running maximum m (first at a) and r = sum_{j != a} exp(x_j - m), rescaled
         * when m grows (the online normaliser of Milakov & Gimelshein 2018), so the row
         * is read once for the value with class indices. */
        double m = x[0], r = 0.0, tsum = 0.0, tx = 0.0, trest = 0.0;
        size_t a = 0;
        for (size_t j = 1; j < c; j++) {
            double xj = x[j];
            if (xj > m) {
                r = (r + 1.0) * exp(m - xj);
                m = xj;
                a = j;
            } else {
                r += exp(xj - m);
            }
        }
        /* sum_j t_j (m + log s - x_j) = log s sum_j t_j - sum_j t_j (x_j - m), the
         * differences from the final m (a second pass, for probability targets): as
         * (m + log s) sum t - sum t x, log s was lost when the logits were large. For
         * indices t is one-hot. */
        double log_s = log1p(r), inv = 1.0 / (1.0 + r);
        if (!indices)
            for (size_t j = 0; j < c; j++) {
                tsum += t[j];
                tx += t[j] * ((double)x[j] - m);
                if (j != a)
                    trest += t[j];
            }
        sum += indices ? (m - x[y]) + log_s : log_s * tsum - tx;
        if (grad == NULL)
            continue;
        float *g = grad->data + i * c;
        for (size_t j = 0; j < c; j++) {
            double p = exp(((double)x[j] - m) - log_s);
            double gj = indices ? p - (double)(j == y) : p * tsum - t[j];
            g[j] = (float)(scale * gj);
        }
        double ga = indices ? (y == a ? -r * inv : inv) : (trest - (double)t[a] * r) * inv;
        g[a] = (float)(scale * ga);
    }
    *value = sum * scale;
    return NN_OK;
}

static const nn_loss_ops cross_entropy_ops = {
    .name = "cross_entropy",
    .check = cross_entropy_check,
    .eval = cross_entropy_eval,
    .destroy = NULL,
};

nn_status nn_loss_cross_entropy_new(nn_loss **out)
{
    return nn_loss_new(&cross_entropy_ops, NULL, out);
}

/* ---- NLL on log-probabilities ---------------------------------------------------------- */

static nn_status nll_check(const nn_loss *loss, size_t pred_width, size_t target_width)
{
    (void)loss;
    (void)pred_width;
    if (target_width != 1)
        return nn_error(NN_ERR_SHAPE, "nll: targets have width %zu, need 1 (class indices)",
                        target_width);
    return NN_OK;
}

static nn_status nll_eval(const nn_loss *loss, const nn_tensor *pred, const nn_tensor *target,
                          double *value, nn_tensor *grad)
{
    size_t b = pred->shape[0], c = pred->shape[1];
    nn_status st = check_indices("nll", target, c);
    if (st != NN_OK)
        return st;
    double scale = reduction_scale(loss, b);
    double sum = 0.0;
    if (grad != NULL)
        memset(grad->data, 0, grad->size * sizeof(float));
    for (size_t i = 0; i < b; i++) {
        size_t y = (size_t)target->data[i];
        sum -= pred->data[i * c + y];
        if (grad != NULL)
            grad->data[i * c + y] = (float)-scale;
    }
    *value = sum * scale;
    return NN_OK;
}

static const nn_loss_ops nll_ops = {
    .name = "nll",
    .check = nll_check,
    .eval = nll_eval,
    .destroy = NULL,
};

nn_status nn_loss_nll_new(nn_loss **out) { return nn_loss_new(&nll_ops, NULL, out); }

/* ---- built-in kinds ------------------------------------------------------------------------ */

const char *nn_loss_kind_name(nn_loss_kind kind)
{
    switch (kind) {
    case NN_LOSS_MSE:
        return mse_ops.name;
    case NN_LOSS_MAE:
        return mae_ops.name;
    case NN_LOSS_HUBER:
        return huber_ops.name;
    case NN_LOSS_SMOOTH_L1:
        return smooth_l1_ops.name;
    case NN_LOSS_BCE:
        return bce_ops.name;
    case NN_LOSS_BCE_LOGITS:
        return bce_logits_ops.name;
    case NN_LOSS_CROSS_ENTROPY:
        return cross_entropy_ops.name;
    case NN_LOSS_NLL:
        return nll_ops.name;
    }
    return NULL;
}

static const char *name_of(int k) { return nn_loss_kind_name((nn_loss_kind)k); }

nn_status nn_loss_kind_from_name(const char *name, nn_loss_kind *kind)
{
    NN_CHECK_NULL(name);
    NN_CHECK_NULL(kind);
    char known[160];
    int k = nn_kind_by_name(name, name_of, known, sizeof known);
    if (k >= 0) {
        *kind = (nn_loss_kind)k;
        return NN_OK;
    }
    return nn_error(NN_ERR_INVALID_ARG, "nn_loss_kind_from_name: unknown loss '%s' (known: %s)",
                    name, known);
}

nn_status nn_loss_new_by_kind(nn_loss_kind kind, nn_loss **out)
{
    NN_CHECK_NULL(out);
    *out = NULL;
    switch (kind) {
    case NN_LOSS_MSE:
        return nn_loss_mse_new(out);
    case NN_LOSS_MAE:
        return nn_loss_mae_new(out);
    case NN_LOSS_HUBER:
        return nn_loss_huber_new(NN_LOSS_HUBER_DEFAULT_DELTA, out);
    case NN_LOSS_SMOOTH_L1:
        return nn_loss_smooth_l1_new(NN_LOSS_SMOOTH_L1_DEFAULT_BETA, out);
    case NN_LOSS_BCE:
        return nn_loss_bce_new(out);
    case NN_LOSS_BCE_LOGITS:
        return nn_loss_bce_logits_new(out);
    case NN_LOSS_CROSS_ENTROPY:
        return nn_loss_cross_entropy_new(out);
    case NN_LOSS_NLL:
        return nn_loss_nll_new(out);
    }
    return nn_error(NN_ERR_INVALID_ARG, "nn_loss_new_by_kind: unknown loss kind %d", (int)kind);
}

/* The table of a built-in kind, NULL for an unknown one. */
static const nn_loss_ops *builtin_ops(nn_loss_kind kind)
{
    switch (kind) {
    case NN_LOSS_MSE:
        return &mse_ops;
    case NN_LOSS_MAE:
        return &mae_ops;
    case NN_LOSS_HUBER:
        return &huber_ops;
    case NN_LOSS_SMOOTH_L1:
        return &smooth_l1_ops;
    case NN_LOSS_BCE:
        return &bce_ops;
    case NN_LOSS_BCE_LOGITS:
        return &bce_logits_ops;
    case NN_LOSS_CROSS_ENTROPY:
        return &cross_entropy_ops;
    case NN_LOSS_NLL:
        return &nll_ops;
    }
    return NULL;
}

/* Matched by table address: a user's loss may reuse a built-in name. */
int nn_loss_is_builtin(const nn_loss *loss, nn_loss_kind *kind)
{
    for (int k = 0; builtin_ops((nn_loss_kind)k) != NULL; k++)
        if (loss->ops == builtin_ops((nn_loss_kind)k)) {
            *kind = (nn_loss_kind)k;
            return 1;
        }
    return 0;
}

nn_status nn_loss_get_kind(const nn_loss *loss, nn_loss_kind *kind)
{
    NN_CHECK_NULL(loss);
    NN_CHECK_NULL(kind);
    if (nn_loss_is_builtin(loss, kind))
        return NN_OK;
    return nn_error(NN_ERR_INVALID_ARG, "nn_loss_get_kind: loss '%s' is not one of nn's own",
                    loss->ops->name);
}

nn_status nn_loss_get_param(const nn_loss *loss, double *value)
{
    NN_CHECK_NULL(loss);
    NN_CHECK_NULL(value);
    if (loss->ops != &huber_ops && loss->ops != &smooth_l1_ops)
        return nn_error(NN_ERR_INVALID_ARG, "nn_loss_get_param: loss '%s' has no parameter",
                        loss->ops->name);
    *value = param_of(loss);
    return NN_OK;
}
