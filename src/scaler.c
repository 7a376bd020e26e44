/* scaler.c - per-feature standardisation (sklearn's StandardScaler, ddof 0). */
#include <math.h>
#include <string.h>

#include "internal.h"
#include "nn/scaler.h"

struct nn_scaler {
    size_t width;
    float *mean; /* width floats */
    float *std;  /* width floats, never 0 */
};

static nn_status scaler_alloc(const char *fn, size_t width, nn_scaler **out)
{
    nn_scaler *s = nn_xalloc(sizeof *s);
    float *mean = nn_xcalloc(width, sizeof(float));
    float *std = nn_xcalloc(width, sizeof(float));
    if (s == NULL || mean == NULL || std == NULL) {
        nn_xfree(s);
        nn_xfree(mean);
        nn_xfree(std);
        return nn_error(NN_ERR_NOMEM, "%s: cannot allocate a scaler of width %zu", fn, width);
    }
    s->width = width;
    s->mean = mean;
    s->std = std;
    *out = s;
    return NN_OK;
}

nn_status nn_scaler_fit(const nn_tensor *x, nn_scaler **out)
{
    NN_CHECK_NULL(out);
    *out = NULL;
    NN_CHECK_NULL(x);
    if (x->ndim != 2)
        return nn_error(NN_ERR_SHAPE,
                        "nn_scaler_fit: x must be 2-D (N, width), it has %d dimensions", x->ndim);
    size_t n = x->shape[0], w = x->shape[1];
    if (n == 0) /* the mean and deviation of nothing would be NaN */
        return nn_error(NN_ERR_INVALID_ARG, "nn_scaler_fit: x has no rows");
    if (w == 0) /* (it was reported as out of memory: a scaler of width 0 is no allocation) */
        return nn_error(NN_ERR_INVALID_ARG, "nn_scaler_fit: x has no columns");
    nn_status st = nn_check_data("nn_scaler_fit", "x", x);
    if (st != NN_OK)
        return st;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < w; j++)
            if (!isfinite(x->data[i * w + j]))
                return nn_error(NN_ERR_NUMERIC, "nn_scaler_fit: x[%zu, %zu] is %g", i, j,
                                (double)x->data[i * w + j]);
    nn_scaler *s = NULL;
    st = scaler_alloc(__func__, w, &s);
    if (st != NN_OK)
        return st;
    /* Two passes in double, column by column: the mean, then the mean squared
     * deviation from it, which avoids the cancellation of E[x^2] - E[x]^2. */
    for (size_t j = 0; j < w; j++) {
        double sum = 0.0;
        for (size_t i = 0; i < n; i++)
            sum += x->data[i * w + j];
        double mean = sum / (double)n, ss = 0.0;
        for (size_t i = 0; i < n; i++) {
            double d = x->data[i * w + j] - mean;
            ss += d * d;
        }
        float sd = (float)sqrt(ss / (double)n);
        s->mean[j] = (float)mean;
        s->std[j] = sd > 0.0f ? sd : 1.0f; /* constant feature: shift only, as sklearn */
    }
    *out = s;
    return NN_OK;
}

nn_status nn_scaler_new(size_t width, const float *mean, const float *std, nn_scaler **out)
{
    NN_CHECK_NULL(out);
    *out = NULL;
    NN_CHECK_NULL(mean);
    NN_CHECK_NULL(std);
    if (width == 0)
        return nn_error(NN_ERR_INVALID_ARG, "nn_scaler_new: width is 0");
    for (size_t j = 0; j < width; j++) {
        if (!isfinite(mean[j]))
            return nn_error(NN_ERR_INVALID_ARG, "nn_scaler_new: mean[%zu] is %g", j,
                            (double)mean[j]);
        if (!isfinite(std[j]) || std[j] < 0.0f)
            return nn_error(NN_ERR_INVALID_ARG,
                            "nn_scaler_new: std[%zu] is %g, not a finite value >= 0", j,
                            (double)std[j]);
    }
    nn_scaler *s = NULL;
    nn_status st = scaler_alloc(__func__, width, &s);
    if (st != NN_OK)
        return st;
    memcpy(s->mean, mean, width * sizeof(float));
    for (size_t j = 0; j < width; j++)
        s->std[j] = std[j] > 0.0f ? std[j] : 1.0f;
    *out = s;
    return NN_OK;
}

size_t nn_scaler_width(const nn_scaler *s) { return s != NULL ? s->width : 0; }

const float *nn_scaler_mean(const nn_scaler *s) { return s != NULL ? s->mean : NULL; }

const float *nn_scaler_std(const nn_scaler *s) { return s != NULL ? s->std : NULL; }

static nn_status check_apply(const char *fn, const nn_scaler *s, const nn_tensor *x)
{
    NN_CHECK_NULL_IN(fn, s);
    NN_CHECK_NULL_IN(fn, x);
    if (x->ndim != 2 || x->shape[1] != s->width)
        return nn_error(NN_ERR_SHAPE, "%s: x is (%zu, %zu), the scaler's width is %zu", fn,
                        nn_tensor_nrows(x), nn_tensor_ncols(x), s->width);
    return nn_check_data(fn, "x", x);
}

nn_status nn_scaler_apply(const nn_scaler *s, nn_tensor *x)
{
    nn_status st = check_apply(__func__, s, x);
    if (st != NN_OK)
        return st;
    size_t n = x->shape[0], w = s->width;
    /* In double: x - mean of two floats of opposite sign near FLT_MAX (a feature
     * spanning -3e38..3e38) would overflow in float, though the quotient fits. */
    for (size_t i = 0; i < n; i++) {
        float *row = x->data + i * w;
        for (size_t j = 0; j < w; j++)
            row[j] = (float)(((double)row[j] - s->mean[j]) / s->std[j]);
    }
    return NN_OK;
}

nn_status nn_scaler_invert(const nn_scaler *s, nn_tensor *x)
{
    nn_status st = check_apply(__func__, s, x);
    if (st != NN_OK)
        return st;
    size_t n = x->shape[0], w = s->width;
    for (size_t i = 0; i < n; i++) {
        float *row = x->data + i * w;
        for (size_t j = 0; j < w; j++)
            row[j] = (float)((double)row[j] * s->std[j] + s->mean[j]);
    }
    return NN_OK;
}

void nn_scaler_free(nn_scaler *s)
{
    if (s == NULL)
        return;
    nn_xfree(s->mean);
    nn_xfree(s->std);
    nn_xfree(s);
}
