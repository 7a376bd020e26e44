/* evaluate.c - a network's loss, accuracy and confusion matrix on a held-out set. */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include <math.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "nn/evaluate.h"
#include "nn/metrics.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

nn_status nn_evaluate(nn_net *net, const nn_tensor *x, const nn_tensor *target, size_t batch_size,
                      size_t *confusion, size_t classes, nn_eval_stats *stats)
{
    NN_CHECK_NULL(net);
    NN_CHECK_NULL(x);
    NN_CHECK_NULL(target);
    double t0 = now_s();
    if (x->ndim != 2 || target->ndim != 2 || x->shape[0] != target->shape[0] ||
        x->shape[1] != nn_net_in_width(net))
        return nn_error(NN_ERR_SHAPE,
                        "nn_evaluate: x (%zu, %zu) and target (%zu, %zu) do not fit a network "
                        "taking width %zu",
                        nn_tensor_nrows(x), nn_tensor_ncols(x), nn_tensor_nrows(target),
                        nn_tensor_ncols(target), nn_net_in_width(net));
    if (x->shape[0] == 0)
        return nn_error(NN_ERR_INVALID_ARG, "nn_evaluate: the data set has no rows");
    /* as the network's own passes: the forward pass checks x, the targets are read
     * after it and must not lie where it writes */
    nn_status st0 = nn_net_check_outside("nn_evaluate", net, x, "input");
    if (st0 == NN_OK)
        st0 = nn_net_check_outside("nn_evaluate", net, target, "target");
    if (st0 != NN_OK)
        return st0;
    size_t k = nn_metrics_classes(nn_net_out_width(net));
    if (confusion != NULL && classes != k)
        return nn_error(NN_ERR_INVALID_ARG, "nn_evaluate: a network of width %zu has %zu classes, not %zu",
                        nn_net_out_width(net), k, classes);
    if (confusion != NULL && k > SIZE_MAX / sizeof *confusion / k) /* no buffer is that large */
        return nn_error(NN_ERR_INVALID_ARG,
                        "nn_evaluate: a confusion matrix of %zu x %zu classes is more than memory can hold",
                        k, k);
    size_t n = x->shape[0], correct = 0;
    double loss;
    nn_status st = nn_net_eval_pass("nn_evaluate", net, x, target, batch_size > 0 ? batch_size : 256,
                                    &loss, &correct, confusion, k);
    if (st != NN_OK)
        return st;
    if (stats != NULL) {
        stats->rows = n;
        stats->correct = correct;
        stats->accuracy = (double)correct / (double)n;
        stats->loss = loss;
        stats->seconds = now_s() - t0;
    }
    return NN_OK;
}

nn_status nn_net_eval_pass(const char *fn, nn_net *net, const nn_tensor *x, const nn_tensor *target,
                           size_t chunk, double *loss, size_t *correct, size_t *confusion,
                           size_t classes)
{
    size_t n = x->shape[0], right = 0;
    if (chunk > n)
        chunk = n;
    if (confusion != NULL)
        memset(confusion, 0, classes * classes * sizeof *confusion);
    const nn_loss *lossf = nn_net_loss(net);
    const float cut = nn_net_decision_cut(net); /* a logit's decision point is 0 */
    double total = 0.0;
    /* Rows [first, first + rows) are contiguous, so chunks are views: nothing is copied.
     * One forward pass per chunk serves the loss and the counts alike. */
    for (size_t first = 0; first < n; first += chunk) {
        size_t rows = n - first < chunk ? n - first : chunk, c = 0;
        nn_tensor xc, tc;
        const nn_tensor *y;
        nn_tensor_rows(x, first, rows, &xc);
        nn_tensor_rows(target, first, rows, &tc);
        nn_status st = nn_net_forward(net, &xc, 0, &y);
        nn_net_forget_input(net); /* x is the caller's, who may free it after this call */
        double v = 0.0;
        if (st == NN_OK && correct != NULL)
            st = nn_count_correct_cut(y, &tc, cut, &c);
        if (st == NN_OK && confusion != NULL)
            st = nn_confusion_add_cut(y, &tc, classes, cut, confusion);
        if (st == NN_OK && loss != NULL && lossf != NULL)
            st = nn_loss_eval(lossf, y, &tc, &v, NULL);
        /* A layer, the metrics and the loss number rows within the chunk: say where it
         * starts, after the caller's name. */
        if (st != NN_OK)
            return nn_error_prefix(st, "%s%sin the batch starting at row %zu", fn != NULL ? fn : "",
                                   fn != NULL ? ": " : "", first);
        right += c;
        /* A chunk's mean weighs in by its rows, so the chunks give the mean over all. */
        if (lossf != NULL)
            total += lossf->reduction == NN_REDUCTION_MEAN ? v * (double)rows : v;
    }
    if (loss != NULL)
        *loss = lossf == NULL ? NAN : lossf->reduction == NN_REDUCTION_MEAN ? total / (double)n : total;
    if (correct != NULL)
        *correct = right;
    return NN_OK;
}
