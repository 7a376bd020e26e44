/* metrics.c - classification and regression metrics. */
#include <math.h>

#include "internal.h"
#include "nn/metrics.h"

/* Index of the first largest value of row[0..n-1]; NaN never wins. */
static size_t argmax_row(const float *row, size_t n)
{
    size_t best = 0;
    for (size_t j = 1; j < n; j++)
        if (row[j] > row[best] || (isnan(row[best]) && !isnan(row[j])))
            best = j;
    return best;
}

/* Reads row i's target class into *cls. */
static nn_status target_class(const nn_tensor *target, size_t i, size_t classes, size_t *cls)
{
    size_t tw = target->shape[1];
    const float *t = target->data + i * tw;
    if (tw == classes && classes > 1) {
        *cls = argmax_row(t, tw);
        return NN_OK;
    }
    if (classes == 1) {
        *cls = t[0] >= 0.5f;
        return NN_OK;
    }
    float v = t[0];
    if (!(v >= 0.0f) || v != floorf(v) || v >= (float)classes)
        return nn_error(NN_ERR_INVALID_ARG, "nn_count_correct: row %zu: target %g is not a class in 0..%zu",
                        i, (double)v, classes - 1);
    *cls = (size_t)v;
    return NN_OK;
}

nn_status nn_count_correct(const nn_tensor *pred, const nn_tensor *target, size_t *correct)
{
    NN_CHECK_NULL(pred);
    NN_CHECK_NULL(target);
    NN_CHECK_NULL(correct);
    if (pred->ndim != 2 || target->ndim != 2 || pred->shape[0] != target->shape[0] ||
        (target->shape[1] != 1 && target->shape[1] != pred->shape[1]))
        return nn_error(NN_ERR_SHAPE,
                        "nn_count_correct: predictions (%zu, %zu) and targets (%zu, %zu) do not match",
                        nn_tensor_nrows(pred), nn_tensor_ncols(pred), nn_tensor_nrows(target),
                        nn_tensor_ncols(target));
    size_t rows = pred->shape[0], classes = pred->shape[1], n = 0;
    for (size_t i = 0; i < rows; i++) {
        size_t want = 0;
        nn_status st = target_class(target, i, classes, &want);
        if (st != NN_OK)
            return st;
        size_t got = classes == 1 ? pred->data[i] >= 0.5f : argmax_row(pred->data + i * classes, classes);
        n += got == want;
    }
    *correct = n;
    return NN_OK;
}
