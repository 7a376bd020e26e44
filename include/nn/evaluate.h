/* nn/evaluate.h - a network's figures on a held-out set, computed in batches.
 *
 * Above nn/net.h and nn/metrics.h: runs the network in inference mode over a whole
 * set in batches (its workspace sized once for the batch), so evaluating 10 000
 * test images needs neither 10 000 rows of activations nor an allocation per
 * batch.
 */
#ifndef NN_EVALUATE_H
#define NN_EVALUATE_H

#include <stddef.h>
#include "nn/net.h"
#include "nn/status.h"
#include "nn/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nn_eval_stats {
    size_t rows;     /* N */
    size_t correct;  /* rows classified right */
    double accuracy; /* correct / N */
    double loss;     /* the network's loss on the set, NaN without a loss; equal to
                        nn_net_eval_loss's with batch_size 0 or 256 (its chunk), else
                        to within the last bits */
    double seconds;  /* wall time of the evaluation */
} nn_eval_stats;

/* Evaluates a classifier on x: (N, in_width) with targets target: (N, 1) class
 * indices or (N, C) one-hot rows, predicting batch_size rows at a time (0: 256).
 * stats (may be NULL) gets the figures above. confusion (may be NULL) is
 * overwritten with the K x K confusion matrix, K = nn_metrics_classes(C), rows the
 * true classes (see nn_confusion_add); classes must then be K. With bce_logits the
 * single output is a logit: class 1 from 0 on, not from 0.5.
 * Allocates only what the network's workspace needs for batch_size rows the first
 * time. On error stats and confusion are unspecified. Leaves no forward pass to go
 * back through, as nn_net_predict.
 * Errors: NN_ERR_NULL_ARG (also x or target with elements but no data), NN_ERR_SHAPE,
 * NN_ERR_INVALID_ARG (no rows, classes is not K, a bad target index, x or target lying
 * in the network's own buffers), those of nn_net_forward and nn_loss_eval. */
nn_status nn_evaluate(nn_net *net, const nn_tensor *x, const nn_tensor *target, size_t batch_size,
                      size_t *confusion, size_t classes, nn_eval_stats *stats);

#ifdef __cplusplus
}
#endif

#endif /* NN_EVALUATE_H */
