/* net_impl.h - the network's private state, shared by net.c and net_small.c.
 * Not installed: users see nn_net as an opaque type. */
#ifndef NN_NET_IMPL_H
#define NN_NET_IMPL_H

#include "activation_impl.h"
#include "internal.h"
#include "nn/net.h"

/* Networks with more layers than this always take the generic path. */
#define NN_SMALL_MAX_LAYERS 16

/* One step of the fused path: a dense layer, an elementwise activation, or a dense
 * layer with the activation that follows it (a pair, run in one pass). */
typedef enum { NN_SMALL_DENSE, NN_SMALL_ACT, NN_SMALL_PAIR } nn_small_kind;

/* Sets *t to a (rows, cols) view of data, field by field: building the view with
 * nn_tensor_view2d and copying the returned 64-byte nn_tensor stalled on store
 * forwarding, the largest single cost of a batch-1 step. */
static inline void nn_view2d_set(nn_tensor *t, float *data, size_t rows, size_t cols)
{
    t->data = data;
    t->shape[0] = rows;
    t->shape[1] = cols;
    t->shape[2] = t->shape[3] = 1;
    t->size = rows * cols;
    t->ndim = 2;
    t->dtype = NN_DTYPE_F32;
    t->owns_data = 0;
}

struct nn_small_unit;

/* A unit's forward and backward pass on one row (the per-sample case), each compiled
 * for the unit's kinds and, for input widths 1 to 4, its width (net_small.c). The
 * backward pass returns the OR of nn_nonfinite_bits over the gradients it wrote. */
typedef void (*nn_small_row_forward)(const struct nn_small_unit *u, const float *x);
typedef uint32_t (*nn_small_row_backward)(const struct nn_small_unit *u, const float *x,
                                          const float *dy, float *mid, float *dx);

typedef struct nn_small_unit {
    nn_small_kind kind;
    nn_small_row_forward row_forward;
    nn_small_row_backward row_backward;
    activation act;           /* ACT, PAIR */
    size_t in, out;           /* the unit's input and output widths */
    const float *w, *bias;    /* DENSE, PAIR: the dense layer's parameters and */
    float *dw, *db;           /* gradients (views into the network's blocks) */
    float *z;                 /* PAIR: the dense layer's output, in the workspace */
    float *y;                 /* the unit's output, in the workspace */
    /* The backward pass's buffers in the workspace, set with y: the gradient at the
     * unit's output, a pair's middle, and the gradient at its input (NULL for the
     * first unit, whose input is the network's). */
    float *dy, *mid, *dx;
} nn_small_unit;

struct nn_net {
    size_t in_width;

    nn_layer **layers; /* n_layers owned layers, in order */
    size_t n_layers;

    /* Every parameter of every layer in one block, every gradient in another (each
     * nn_block_size(n_scalars) floats, zero after n_scalars: internal.h); the layers'
     * params[i] / grads[i] are views into them, listed in param_list / grad_list
     * (n_tensors entries) for the optimizer. */
    float *param_block;
    float *grad_block;
    size_t n_scalars;
    nn_tensor *param_list;
    nn_tensor *grad_list;
    size_t n_tensors;
    /* Room allocated (floats of each block, entries of the lists and of layers), grown
     * by doubling: made anew for every layer, a spec of 10 000 layers took 10 s. The
     * blocks' floats past n_scalars are zero (calloc; nothing writes them). */
    size_t cap_floats, cap_tensors, cap_layers;

    nn_loss *loss;
    size_t target_width;
    nn_optim *optim;
    int optim_ready; /* 0 when the parameter list changed since the optimizer's setup */
    int loss_fits;   /* 1 when the loss accepted the current output and target widths */
    unsigned long optim_sets; /* how many different optimizers were set: fit sees a new one */
    double clip_norm; /* > 0: train steps clip the gradients' global norm to this */

    /* Workspace for batches of up to max_batch rows (0: none yet):
     *   acts: each layer's output, layer i at act_offset[i], (max_batch, out_i)
     *   gbuf[0], gbuf[1]: ping-pong buffers for dL/d(activation), (max_batch, max_width) */
    size_t max_batch;
    float *acts;
    size_t *act_offset;
    float *gbuf[2];
    size_t acts_size, gbuf_size; /* floats in acts and in each gbuf */
    uintptr_t ws_lo, ws_hi;      /* the lowest and highest byte addresses of the three, +1 */
    nn_tensor *outs; /* outs[i]: layer i's output of the last forward, (B, out_i) */

    /* The last forward's input and batch size, for backward. */
    nn_tensor x_last;
    size_t batch;
    int have_forward;
    /* 0 after the whole-set passes (predict, eval_loss, nn_evaluate) and a fit whose
     * last batch was gathered into its own buffer: the layer outputs stay readable, but
     * x_last is memory the caller may free (or fit has freed) once the call returns,
     * so nn_net_backward refuses. */
    int input_kept;
    int training; /* the mode of the last forward pass */

    /* The fused step for small networks (net_small.c). small_state: -1 not yet
     * checked (set whenever the layers or the loss change), 0 not eligible, 1
     * eligible for batches of up to small_rows rows, as the small_n_units units. */
    int small_state;
    size_t small_rows;
    nn_small_unit small_units[NN_SMALL_MAX_LAYERS];
    size_t small_n_units;
    nn_loss_kind small_loss; /* the loss's kind (a fused plan needs one of nn's own) */
    size_t small_views; /* outs[] and the units' buffers are set for this many rows (0: not) */
    nn_tensor small_dy; /* the loss's gradient, a view of gbuf[0] for small_views rows */
};

/* Hidden, as internal.h's functions. */
#if defined(__GNUC__)
#pragma GCC visibility push(hidden)
#endif

/* Decides whether net can take the fused step and for up to how many rows; sets
 * small_state and small_rows. Allocates nothing, sets no error. */
void nn_net_small_plan(nn_net *net);

/* The fused forward pass, loss and backward pass of a training step: what
 * nn_net_compute_grads does, bit for bit, for a network with small_state 1.
 * x (B, in) and target are checked, B <= small_rows and the workspace holds B rows. */
nn_status nn_net_small_grads(nn_net *net, const nn_tensor *x, const nn_tensor *target,
                             double *loss);

/* The error of a training step whose loss is NaN or Inf (NN_ERR_NUMERIC), one message
 * for every path. */
nn_status nn_net_loss_error(double value);

/* The end of a training step after its gradients: checks them (or clips them, when
 * the network clips) and applies the optimizer. */
nn_status nn_net_update(nn_net *net);

/* Per-sample training steps on the rows of x and target, in the order idx[0..N-1]
 * (N = x's rows; in data set order when idx is NULL), each what nn_net_train_step
 * does on that row, bit for bit, for a network with small_state 1 whose optimizer
 * is set up and whose workspace holds a row; x and target are checked. Adds each
 * step's loss to *sum. On an error, *failed is the position of the row that failed;
 * the steps before it have been applied. */
nn_status nn_net_small_fit_rows(nn_net *net, const nn_tensor *x, const nn_tensor *target,
                                const size_t *idx, double *sum, size_t *failed);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#endif /* NN_NET_IMPL_H */
