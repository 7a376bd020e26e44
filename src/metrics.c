/* metrics.c - classification metrics: correct counts, accuracy, confusion matrices. */
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
static nn_status target_class(const char *fn, const nn_tensor *target, size_t i, size_t classes,
                              size_t *cls)
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
        return nn_error(NN_ERR_INVALID_ARG, "%s: row %zu: target %g is not a class in 0..%zu", fn,
                        i, (double)v, classes - 1);
    *cls = (size_t)v;
    return NN_OK;
}

static nn_status check_shapes(const char *fn, const nn_tensor *pred, const nn_tensor *target)
{
    if (pred->ndim != 2 || target->ndim != 2 || pred->shape[0] != target->shape[0] ||
        (target->shape[1] != 1 && target->shape[1] != pred->shape[1]))
        return nn_error(NN_ERR_SHAPE,
                        "%s: predictions (%zu, %zu) and targets (%zu, %zu) do not match", fn,
                        nn_tensor_nrows(pred), nn_tensor_ncols(pred), nn_tensor_nrows(target),
                        nn_tensor_ncols(target));
    /* Rows of no columns have no class (the class readers would read past them). */
    if (pred->shape[1] == 0 || target->shape[1] == 0)
        return nn_error(NN_ERR_SHAPE,
                        "%s: predictions (%zu, %zu) and targets (%zu, %zu) have no columns", fn,
                        nn_tensor_nrows(pred), nn_tensor_ncols(pred), nn_tensor_nrows(target),
                        nn_tensor_ncols(target));
    nn_status st = nn_check_data(fn, "pred", pred);
    return st != NN_OK ? st : nn_check_data(fn, "target", target);
}

/* Row i's predicted class; a single output is class 1 from cut on (0.5 for a
 * probability, 0 for a logit). */
static size_t pred_class(const nn_tensor *pred, size_t i, float cut)
{
    size_t classes = pred->shape[1];
    return classes == 1 ? pred->data[i] >= cut : argmax_row(pred->data + i * classes, classes);
}

static nn_status count_correct(const char *fn, const nn_tensor *pred, const nn_tensor *target,
                               float cut, size_t *correct)
{
    NN_CHECK_NULL_IN(fn, pred);
    NN_CHECK_NULL_IN(fn, target);
    NN_CHECK_NULL_IN(fn, correct);
    nn_status st0 = check_shapes(fn, pred, target);
    if (st0 != NN_OK)
        return st0;
    size_t rows = pred->shape[0], classes = pred->shape[1], n = 0;
    for (size_t i = 0; i < rows; i++) {
        size_t want = 0;
        nn_status st = target_class(fn, target, i, classes, &want);
        if (st != NN_OK)
            return st;
        n += pred_class(pred, i, cut) == want;
    }
    *correct = n;
    return NN_OK;
}

nn_status nn_count_correct(const nn_tensor *pred, const nn_tensor *target, size_t *correct)
{
    return count_correct(__func__, pred, target, 0.5f, correct);
}

nn_status nn_count_correct_cut(const nn_tensor *pred, const nn_tensor *target, float cut,
                               size_t *correct)
{
    return count_correct("nn_count_correct", pred, target, cut, correct);
}

nn_status nn_accuracy(const nn_tensor *pred, const nn_tensor *target, double *accuracy)
{
    NN_CHECK_NULL(accuracy);
    size_t correct = 0;
    nn_status st = nn_count_correct(pred, target, &correct);
    if (st != NN_OK)
        return st;
    if (pred->shape[0] == 0)
        return nn_error(NN_ERR_INVALID_ARG, "nn_accuracy: no rows (the accuracy of none is 0/0)");
    *accuracy = (double)correct / (double)pred->shape[0];
    return NN_OK;
}

size_t nn_metrics_classes(size_t pred_width) { return pred_width == 1 ? 2 : pred_width; }

static nn_status confusion_add(const nn_tensor *pred, const nn_tensor *target, size_t classes,
                               float cut, size_t *counts)
{
    NN_CHECK_NULL_IN("nn_confusion_add", pred);
    NN_CHECK_NULL_IN("nn_confusion_add", target);
    NN_CHECK_NULL_IN("nn_confusion_add", counts);
    nn_status st = check_shapes("nn_confusion_add", pred, target);
    if (st != NN_OK)
        return st;
    size_t rows = pred->shape[0], width = pred->shape[1], k = nn_metrics_classes(width);
    if (classes != k)
        return nn_error(NN_ERR_INVALID_ARG,
                        "nn_confusion_add: predictions of width %zu have %zu classes, not %zu",
                        width, k, classes);
    /* Validate every target first so a bad row leaves the matrix as it was. */
    size_t cls = 0;
    for (size_t i = 0; i < rows; i++)
        if ((st = target_class("nn_confusion_add", target, i, width, &cls)) != NN_OK)
            return st;
    for (size_t i = 0; i < rows; i++) {
        target_class("nn_confusion_add", target, i, width, &cls);
        counts[cls * k + pred_class(pred, i, cut)]++;
    }
    return NN_OK;
}

nn_status nn_confusion_add(const nn_tensor *pred, const nn_tensor *target, size_t classes,
                           size_t *counts)
{
    return confusion_add(pred, target, classes, 0.5f, counts);
}

nn_status nn_confusion_add_cut(const nn_tensor *pred, const nn_tensor *target, size_t classes,
                               float cut, size_t *counts)
{
    return confusion_add(pred, target, classes, cut, counts);
}

nn_status nn_confusion_scores(const size_t *counts, size_t classes, double *precision,
                              double *recall, double *accuracy)
{
    NN_CHECK_NULL(counts);
    if (classes == 0)
        return nn_error(NN_ERR_INVALID_ARG, "nn_confusion_scores: classes is 0");
    size_t total = 0, trace = 0;
    for (size_t k = 0; k < classes; k++) {
        size_t row = 0, col = 0;
        for (size_t j = 0; j < classes; j++) {
            row += counts[k * classes + j];
            col += counts[j * classes + k];
        }
        size_t tp = counts[k * classes + k];
        total += row;
        trace += tp;
        /* 0/0 is left NaN: the figure is undefined, and 0 would read as "always wrong". */
        if (precision != NULL)
            precision[k] = col > 0 ? (double)tp / (double)col : NAN;
        if (recall != NULL)
            recall[k] = row > 0 ? (double)tp / (double)row : NAN;
    }
    if (accuracy != NULL)
        *accuracy = total > 0 ? (double)trace / (double)total : NAN;
    return NN_OK;
}
