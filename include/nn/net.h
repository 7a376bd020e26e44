/* nn/net.h - sequential networks: build, predict, train.
 *
 * A network starts from an input width; layers are added one after another and
 * each one's input width is the previous one's output width, checked as it is
 * added. The network owns its layers, its loss and its optimizer, one block
 * holding every parameter and one holding every gradient (layers see views into
 * them), and the per-batch workspace. The workspace is allocated when a batch
 * larger than any before is first seen (or by nn_net_reserve); after that,
 * forward, backward and training steps allocate nothing.
 *
 * Typical use:
 *   nn_net *net; nn_net_new(2, &net);
 *   nn_net_add(net, dense_layer); nn_net_add(net, sigmoid_layer); ...
 *   nn_net_init_params(net, &rng);
 *   nn_net_set_loss(net, mse, 1); nn_net_set_optim(net, sgd);
 *   nn_net_fit(net, x, y, &fit_params, history);
 *   nn_net_predict(net, x_new, y_new);
 *   nn_net_free(net);
 */
#ifndef NN_NET_H
#define NN_NET_H

#include <stddef.h>
#include <stdio.h>
#include "nn/layer.h"
#include "nn/loss.h"
#include "nn/optim.h"
#include "nn/rng.h"
#include "nn/schedule.h"
#include "nn/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nn_net nn_net; /* opaque */

/* A new, empty network taking inputs of in_width features. The caller's; free
 * with nn_net_free. Errors: NN_ERR_NULL_ARG, NN_ERR_INVALID_ARG (in_width 0), NN_ERR_NOMEM. */
nn_status nn_net_new(size_t in_width, nn_net **out);

/* Frees the network and everything it owns (layers, loss, optimizer, buffers).
 * NULL is a no-op. */
void nn_net_free(nn_net *net);

/* Appends a layer: builds it for the current output width, moves all parameters
 * into the network's grown parameter block (existing values kept), and takes
 * ownership of the layer. New parameters are zero until nn_net_init_params.
 * On failure the network is unchanged and the layer stays the caller's.
 * Errors: NN_ERR_NULL_ARG, NN_ERR_INVALID_ARG (layer already in a network),
 * NN_ERR_SHAPE (layer rejects the width), NN_ERR_NOMEM. */
nn_status nn_net_add(nn_net *net, nn_layer *layer);

/* Draws every parameter again from each layer's initialiser, layer by layer in
 * order, from rng. Dense layers' initialisers are checked at their widths first: a
 * refusal (NN_ERR_INVALID_ARG, naming the layer) draws nothing.
 * Errors: NN_ERR_NULL_ARG and those of the layers' init_params. */
nn_status nn_net_init_params(nn_net *net, nn_rng *rng);

/* Sets the loss, taking ownership (also of the loss it replaces, which is freed).
 * The loss must accept the network's output width and target_width; it may be the
 * loss already set, with a new target width. Layers added later may change the
 * output width: training and evaluation then check the loss again and give
 * NN_ERR_SHAPE until it is set for the new width.
 * On failure nothing changes and loss stays the caller's (the network's, when it is
 * the loss already set: do not free it then).
 * Errors: NN_ERR_NULL_ARG, NN_ERR_STATE (no layers yet), NN_ERR_SHAPE,
 * NN_ERR_INVALID_ARG (the loss belongs to another network, or target_width is 0). */
nn_status nn_net_set_loss(nn_net *net, nn_loss *loss, size_t target_width);

/* Sets the optimizer, taking ownership (the one it replaces is freed). Its state
 * is set up for the network's parameters now. On failure nothing changes and
 * optim stays the caller's (the network's, when it is the optimizer already set).
 * Errors: NN_ERR_NULL_ARG, NN_ERR_STATE (no layers),
 * NN_ERR_INVALID_ARG (it belongs to another network), NN_ERR_NOMEM. */
nn_status nn_net_set_optim(nn_net *net, nn_optim *optim);

/* Borrowed access. */
size_t nn_net_in_width(const nn_net *net);
size_t nn_net_out_width(const nn_net *net);   /* in_width when there are no layers */
size_t nn_net_layer_count(const nn_net *net);
nn_layer *nn_net_layer(nn_net *net, size_t i); /* NULL if i is out of range */
nn_loss *nn_net_loss(nn_net *net);             /* NULL if none set */
nn_optim *nn_net_optim(nn_net *net);           /* NULL if none set */
size_t nn_net_target_width(const nn_net *net); /* as given to nn_net_set_loss; 0 if no loss */

/* The flat parameter and gradient blocks: *count scalars, layer by layer,
 * each layer's params[0], params[1], ... in order. Borrowed; valid until the next
 * nn_net_add or nn_net_free. */
float *nn_net_params(nn_net *net, size_t *count);
float *nn_net_grads(nn_net *net, size_t *count);

/* Allocates the workspace for batches of up to max_batch rows now (otherwise it
 * happens on first use). A workspace that grows holds no forward pass afterwards;
 * on failure the last pass is kept. Errors: NN_ERR_NULL_ARG, NN_ERR_INVALID_ARG (0),
 * NN_ERR_NOMEM. */
nn_status nn_net_reserve(nn_net *net, size_t max_batch);

/* Forward pass. x: (B, in_width); *y is set to the network's output buffer
 * (B, out_width), borrowed and overwritten by the next call. training selects
 * the layers' training behaviour. Errors: NN_ERR_NULL_ARG (also x with elements
 * but NULL data), NN_ERR_STATE (no layers), NN_ERR_SHAPE, NN_ERR_INVALID_ARG (no
 * rows; x lying in the network's own buffers, such as a view of a layer's output:
 * the pass would overwrite it), NN_ERR_NOMEM (first batch of this size). */
nn_status nn_net_forward(nn_net *net, const nn_tensor *x, int training, const nn_tensor **y);

/* The output of layer i in the last forward pass, (B, out_i): the hidden
 * activations, for inspection. Borrowed; overwritten by the next forward.
 * NULL if i is out of range or there has been no forward pass since the last
 * change to the network. */
const nn_tensor *nn_net_layer_output(const nn_net *net, size_t i);

/* Inference on any number of rows, in chunks of 256 rows: x: (N, in_width) -> y:
 * (N, out_width), y owned by the caller. The same rows give the same bits on every
 * call and after a save and load (same BLAS and thread count); a row predicted in a
 * batch of another size may differ in the last bits (BLAS blocking). Afterwards
 * nn_net_layer_output gives the last chunk's
 * layer outputs, but there is no pass to go back through: x is not kept, so
 * nn_net_backward gives NN_ERR_STATE until the next nn_net_forward (the same holds
 * after nn_net_eval_loss and nn_evaluate). N may be 0: then nothing is done.
 * Errors: as nn_net_forward (but not NN_ERR_INVALID_ARG for no rows; also for y
 * lying in the network's own buffers). */
nn_status nn_net_predict(nn_net *net, const nn_tensor *x, nn_tensor *y);

/* Sets every gradient to zero. */
nn_status nn_net_zero_grad(nn_net *net);

/* Backward pass after nn_net_forward on the same batch: dy = dL/dy: (B, out_width).
 * Accumulates parameter gradients (+=). When dx is not NULL it receives
 * dL/dx: (B, in_width); otherwise the first layer's input gradient is skipped.
 * Errors: NN_ERR_NULL_ARG, NN_ERR_STATE (no forward before, or the last pass's input
 * is not kept: after nn_net_predict, nn_net_eval_loss, nn_evaluate and some fits, as
 * nn_net_fit says), NN_ERR_SHAPE, NN_ERR_INVALID_ARG (dx lying in the network's own
 * buffers, such as a layer's output, or over the forward pass's input, which the
 * first layer's gradients read; dy may be a layer's output). */
nn_status nn_net_backward(nn_net *net, const nn_tensor *dy, nn_tensor *dx);

/* Loss of the network on a data set, without gradients, in chunks:
 * x: (N, in_width), target: (N, target_width). Chunks are combined so the result
 * equals one evaluation of the whole set (mean or sum as the loss says).
 * Errors: NN_ERR_NULL_ARG, NN_ERR_STATE (no loss), NN_ERR_SHAPE, NN_ERR_INVALID_ARG
 * (no rows; x or target lying in the network's own buffers). */
nn_status nn_net_eval_loss(nn_net *net, const nn_tensor *x, const nn_tensor *target,
                           double *loss);

/* Zeroes the gradients, then forward, loss and backward on one batch;
 * *loss (may be NULL) gets the batch loss. Parameters are not changed.
 * Errors: as nn_net_forward (target too) and nn_net_backward, NN_ERR_STATE (no loss),
 * NN_ERR_NUMERIC (the loss is NaN or Inf). */
nn_status nn_net_compute_grads(nn_net *net, const nn_tensor *x, const nn_tensor *target,
                               double *loss);

/* Gradient clipping for every training step from now on: > 0 scales the
 * gradients so their global L2 norm is at most max_norm before the optimizer
 * sees them (nn_clip_grad_norm); 0 turns it off (the default).
 * Errors: NN_ERR_NULL_ARG, NN_ERR_INVALID_ARG (negative or NaN). */
nn_status nn_net_set_clip_grad_norm(nn_net *net, double max_norm);

/* 1 when the last forward pass ran in training mode (training steps, fit, or
 * nn_net_forward with training 1: dropout active), 0 after inference
 * (nn_net_predict, nn_net_eval_loss, nn_net_forward with 0) or before any pass. */
int nn_net_training(const nn_net *net);

/* One training step on one batch: nn_net_compute_grads, the gradient check
 * (and clipping, nn_net_set_clip_grad_norm), then the optimizer's update. When
 * the loss or any gradient is NaN or Inf, NN_ERR_NUMERIC is returned and the
 * parameters are left as they were. If layers were added since the optimizer was
 * set, its state (momentum, moments, step count) starts again from zero.
 * Errors: those of nn_net_compute_grads, NN_ERR_STATE (no optimizer). */
nn_status nn_net_train_step(nn_net *net, const nn_tensor *x, const nn_tensor *target,
                            double *loss);

/* The second half of nn_net_train_step, for a loop of one's own that computes the
 * gradients itself (nn_net_zero_grad, nn_net_forward with training 1, nn_loss_eval
 * with a gradient, nn_net_backward; or nn_net_compute_grads): the gradient check
 * (and clipping, nn_net_set_clip_grad_norm), then the optimizer's update of every
 * parameter tensor, layer by layer, each layer's params[0], params[1], ... in order
 * (the list nn_net_set_optim sets the optimizer up for). When a gradient is NaN or
 * Inf, NN_ERR_NUMERIC is returned and the parameters are left as they were.
 * Errors: NN_ERR_NULL_ARG, NN_ERR_STATE (no optimizer), NN_ERR_NUMERIC, NN_ERR_NOMEM
 * (the optimizer's state for layers added since it was set), the optimizer's. */
nn_status nn_net_step(nn_net *net);

/* What one epoch of nn_net_fit measured. Values that were not computed are NaN
 * (accuracy without params->accuracy, validation values without a validation set). */
typedef struct nn_epoch_stats {
    size_t epoch;       /* 0-based */
    double train_loss;  /* mean loss: the mean of the batch losses weighted by batch
                           size; sum loss: the sum of the batch losses */
    double train_acc;   /* fraction of training rows classified right during the epoch */
    double val_loss;    /* loss on the validation set after the epoch */
    double val_acc;     /* accuracy on the validation set after the epoch */
    double lr;          /* learning rate of the epoch's last step */
    double seconds;     /* wall time of the epoch, validation included */
    double samples_per_s; /* training rows per second of the epoch */
} nn_epoch_stats;

/* Called after each epoch of nn_net_fit. Return 0 to go on, non-zero to stop. */
typedef int (*nn_epoch_fn)(nn_net *net, const nn_epoch_stats *stats, void *user);

/* How nn_net_fit shows progress. The zero value is silence, so a zeroed
 * nn_fit_params never prints. */
typedef enum nn_progress {
    NN_PROGRESS_OFF = 0, /* print nothing */
    NN_PROGRESS_AUTO,    /* BAR when the stream is a terminal, LINES otherwise */
    NN_PROGRESS_LINES,   /* one plain line per epoch: readable in logs and CI */
    NN_PROGRESS_BAR      /* a live bar: epoch, batch, loss, samples/s, ETA */
} nn_progress;

typedef struct nn_fit_params {
    size_t epochs;      /* > 0 */
    size_t batch_size;  /* > 0; 1 is per-sample SGD; the last batch may be smaller */
    int shuffle;        /* 1: a new random sample order each epoch, drawn from rng: a
                         * Fisher-Yates permutation of the identity, as nn_batch_iter
                         * draws it, so an epoch's order depends only on rng's state
                         * when the epoch starts */
    nn_rng *rng;        /* required when shuffle is 1; borrowed */
    nn_epoch_fn on_epoch; /* optional */
    void *user;         /* passed to on_epoch */

    /* Learning-rate schedule (optional, borrowed). The optimizer's lr when fit
     * starts is the base rate; each epoch (or each step when schedule_per_step)
     * t = 0, 1, ... runs at nn_schedule_lr(schedule, base, t); a rate that is not
 * finite stops fit with NN_ERR_INVALID_ARG before the step. The base rate is
     * restored when fit returns. An optimizer set by on_epoch is scheduled from
     * its own lr. Without a schedule fit never changes the lr, so a rate that
     * on_epoch sets stays. */
    const nn_schedule *schedule;
    int schedule_per_step;

    /* > 0: before each optimizer step, scale the gradients so their global L2
     * norm is at most this (torch.nn.utils.clip_grad_norm_). 0: the network's own
     * setting (nn_net_set_clip_grad_norm; off unless set). */
    double clip_grad_norm;

    /* Optional validation set (borrowed), evaluated in inference mode after
     * every epoch: val_x (M, in_width), val_target (M, target_width). */
    const nn_tensor *val_x;
    const nn_tensor *val_target;

    /* 1: measure classification accuracy (nn_count_correct) on the training
     * batches and the validation set. With bce_logits the single output is a
     * logit, class 1 from 0 on (not from 0.5). */
    int accuracy;

    /* Early stopping: > 0 stops after this many epochs in a row without a new
     * lowest validation loss (training loss without a validation set). */
    size_t patience;
    /* 1: when fit ends, put back the parameters of the epoch with the lowest
     * monitored loss. The optimizer's state is not rewound. */
    int restore_best;

    nn_progress progress;  /* default (nn_fit_default_params) NN_PROGRESS_AUTO */
    FILE *progress_stream; /* NULL: stderr */
} nn_fit_params;

/* epochs 1, batch_size 32, no shuffling, no schedule, clipping, validation or
 * early stopping, progress NN_PROGRESS_AUTO on stderr. */
nn_fit_params nn_fit_default_params(void);

/* The per-epoch record of a fit, in an array the caller provides. */
typedef struct nn_fit_history {
    nn_epoch_stats *epochs; /* the caller's array of capacity entries */
    size_t capacity;        /* epochs past capacity are trained but not recorded */
    size_t count;           /* set by nn_net_fit: epochs recorded */
    size_t best_epoch;      /* epoch with the lowest monitored loss (0 also when no
                               epoch's loss was a number below Inf) */
    int stopped_early;      /* 1 when patience or on_epoch ended training */
} nn_fit_history;

/* Writes the history as CSV: a header line, then one line per epoch with
 * epoch,train_loss,train_acc,val_loss,val_acc,lr,seconds,samples_per_s (empty
 * fields for values not measured). The CSV's epoch is 1-based, as the progress lines
 * and error messages count ("epoch 7, batch 2"); nn_epoch_stats.epoch and
 * best_epoch are 0-based. Atomic: written to a temporary file in the
 * same folder and renamed. Errors: NN_ERR_NULL_ARG, NN_ERR_IO. */
nn_status nn_fit_history_write_csv(const nn_fit_history *history, const char *path);

/* Trains for params->epochs passes over x: (N, in_width), target: (N, target_width),
 * in batches of params->batch_size rows, in data set order or shuffled, with the
 * options of nn_fit_params. history (may be NULL) receives each epoch's figures.
 * Everything the steps need (index, batch and best-parameter buffers) is
 * allocated once, before the first step.
 * Errors: those of nn_net_train_step, NN_ERR_INVALID_ARG (epochs or batch_size 0,
 * no rows, shuffle without rng, a bad schedule, negative clip norm, a validation set
 * without both tensors), NN_ERR_SHAPE. When a step fails (NN_ERR_NUMERIC for a
 * NaN or Inf loss or gradient), training stops there, the message names the
 * epoch and batch, and the parameters are those of the last good step.
 * fit reads *params once, when it starts: changes on_epoch makes to it take effect
 * in the next call.
 * Afterwards the layer outputs are those of the last forward pass (the last step's,
 * or the validation's last chunk); when that pass was on shuffled rows fit copied
 * into its own buffer, or on the validation set, there is no pass to go back through
 * (nn_net_backward gives NN_ERR_STATE), as after nn_net_predict. */
nn_status nn_net_fit(nn_net *net, const nn_tensor *x, const nn_tensor *target,
                     const nn_fit_params *params, nn_fit_history *history);

/* Compares the gradients from backward with central finite differences,
 * (L(p + eps) - L(p - eps)) / (2 eps), for every parameter, on one batch.
 * *max_err gets the largest |analytic - numeric| / max(1, |analytic|, |numeric|):
 * a relative error for large gradients, an absolute one for small. Parameters end
 * as they were; gradients hold the analytic values. Costs two forward passes per
 * parameter: meant for tests and small networks. *max_err is NaN when the loss is
 * not finite at a step.
 * Errors: those of nn_net_compute_grads, NN_ERR_INVALID_ARG (eps <= 0, or so small,
 * or large, that p + eps or p - eps is p again, or Inf, as a float: nothing would
 * be measured). */
nn_status nn_net_check_grads(nn_net *net, const nn_tensor *x, const nn_tensor *target,
                             double eps, double *max_err);

#ifdef __cplusplus
}
#endif

#endif /* NN_NET_H */
