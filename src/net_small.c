/* net_small.c - the fused training pass for small networks.
 *
 * A training step of the lesson's 2-2-1 network is a few dozen multiply-adds. Through
 * the generic path each layer costs a call through its table, an error-sequence
 * check, tensor views and shape checks, which together took four times as long as
 * the arithmetic (docs/performance.md). For a network of dense layers and
 * elementwise activations whose dense layers all take the direct loops at the
 * batch's size, with one of nn's own losses, this file runs the forward pass, the
 * loss and the backward pass from a plan of units made once, with the layers' own
 * loops (activation_impl.h, kernel_small.h): the same operations in the same order, so
 * the same bits as the generic path, which tests/test_small.c checks kind by kind.
 * Everything else (other layers, user-written kinds, larger batches) takes the
 * generic path. nn_net_fit with batches of one row runs its epochs through
 * nn_net_small_fit_rows, the training steps of one row after another in one loop. */
#include <math.h>
#include <string.h>

#include "internal.h"
#include "kernel_small.h"
#include "loss_impl.h"
#include "net_impl.h"
#include "nn/dense.h"
#include "nn/loss.h"

/* ---- one row: the units' passes compiled per kind and widths -------------------------
 *
 * For a batch of one row, a step is bound by the number of instructions it takes (the
 * lesson's net, when this was written: 970 with a dispatch on the kinds and widths in
 * every unit, 890 with this; 756 after later cuts; 210 for a hand-written loop), so
 * each unit gets its own forward and backward function, picked when the plan is made:
 * the activation kind fixed, the input and output widths constants when they are 1 to
 * 4 (GCC unrolls the loops over them and keeps a pair's dz in registers; a constant
 * output width too took a 2-2-1 update from 76 to 69 ns), each z and dz used from a
 * register as soon as it is made. The pair's loops are therefore written out here
 * rather than composed from nn_linear_small and the activation's loop: composed, each
 * z and dz goes through memory between the two, and a 2-2-1 update took 3-5% longer.
 * The operations and their order are those of the loops in activation_impl.h and
 * kernel_small.h (tests/test_small.c compares them bit for bit); W or O = 0 stands for
 * any width. The gradients are written, (0 + ...), which is what adding to the zeroed
 * block gives, and the backward functions return nn_nonfinite_bits of what they
 * wrote: the per-sample loop tests them there instead of reading the block again. */
#define WIDTH(W) ((W) ? (size_t)(W) : u->in)
#define OUTS(O) ((O) ? (size_t)(O) : u->out)

#define ROW_PAIR(KIND, NAME, W, O)                                                                 \
    static void NAME##_pair_forward_##W##_##O(const nn_small_unit *u, const float *x)             \
    {                                                                                              \
        const size_t in = WIDTH(W);                                                                \
        const float *w = u->w;                                                                     \
        for (size_t j = 0; j < OUTS(O); j++, w += in) {                                            \
            float s = 0.0f;                                                                        \
            for (size_t p = 0; p < in; p++)                                                        \
                s += x[p] * w[p];                                                                  \
            float z = s + u->bias[j];                                                              \
            u->z[j] = z;                                                                           \
            u->y[j] = NAME##_f(&u->act, z);                                                        \
        }                                                                                          \
    }                                                                                              \
    static uint32_t NAME##_pair_backward_##W##_##O(const nn_small_unit *u, const float *x,        \
                                                   const float *dy, float *dz, float *dx)          \
    {                                                                                              \
        const size_t in = WIDTH(W);                                                                \
        float *dw = u->dw, local[(O) ? (O) : 1];                                                   \
        float *g = (O) ? local : dz; /* a known width keeps the dz in registers */                 \
        uint32_t bad = 0;                                                                          \
        for (size_t j = 0; j < OUTS(O); j++, dw += in) {                                           \
            g[j] = dy[j] * NAME##_df(&u->act, u->z[j], u->y[j]);                                   \
            dz[j] = g[j];                                                                          \
            for (size_t p = 0; p < in; p++) {                                                      \
                float d = 0.0f + g[j] * x[p];                                                      \
                dw[p] = d;                                                                         \
                bad |= nn_nonfinite_bits(d);                                                       \
            }                                                                                      \
            float d = 0.0f + g[j];                                                                 \
            u->db[j] = d;                                                                          \
            bad |= nn_nonfinite_bits(d);                                                           \
        }                                                                                          \
        if (dx != NULL)                                                                            \
            for (size_t p = 0; p < in; p++) {                                                      \
                float s = 0.0f;                                                                    \
                for (size_t j = 0; j < OUTS(O); j++)                                               \
                    s += g[j] * u->w[j * in + p];                                                  \
                dx[p] = s;                                                                         \
            }                                                                                      \
        return bad;                                                                                \
    }

/* Every input width from 0 (any) to 4 with output width O. */
#define ROW_PAIR_IN(KIND, NAME, O)                                                                 \
    ROW_PAIR(KIND, NAME, 0, O)                                                                     \
    ROW_PAIR(KIND, NAME, 1, O)                                                                     \
    ROW_PAIR(KIND, NAME, 2, O)                                                                     \
    ROW_PAIR(KIND, NAME, 3, O)                                                                     \
    ROW_PAIR(KIND, NAME, 4, O)

#define ROW_KIND(KIND, NAME)                                                                       \
    ROW_PAIR_IN(KIND, NAME, 0)                                                                     \
    ROW_PAIR_IN(KIND, NAME, 1)                                                                     \
    ROW_PAIR_IN(KIND, NAME, 2)                                                                     \
    ROW_PAIR_IN(KIND, NAME, 3)                                                                     \
    ROW_PAIR_IN(KIND, NAME, 4)                                                                     \
    static void NAME##_act_forward(const nn_small_unit *u, const float *x)                        \
    {                                                                                              \
        NAME##_forward_loop(u->act, x, u->y, u->out);                                              \
    }                                                                                              \
    static uint32_t NAME##_act_backward(const nn_small_unit *u, const float *x,                   \
                                        const float *dy, float *mid, float *dx)                    \
    {                                                                                              \
        (void)mid;                                                                                 \
        if (dx != NULL)                                                                            \
            NAME##_backward_loop(u->act, x, u->y, dy, dx, u->out);                                 \
        return 0; /* no parameters */                                                              \
    }
NN_ACTIVATION_CASES(ROW_KIND)

#define ROW_DENSE(W)                                                                               \
    static void dense_forward_##W(const nn_small_unit *u, const float *x)                         \
    {                                                                                              \
        nn_linear_small(x, u->w, u->bias, u->y, 1, WIDTH(W), u->out);                              \
    }                                                                                              \
    static uint32_t dense_backward_##W(const nn_small_unit *u, const float *x, const float *dy,   \
                                       float *mid, float *dx)                                      \
    {                                                                                              \
        (void)mid;                                                                                 \
        const size_t in = WIDTH(W), n = u->out * in;                                               \
        nn_linear_small_backward(x, u->w, dy, u->dw, u->db, dx, 1, in, u->out, 1);                 \
        uint32_t bad = 0;                                                                          \
        for (size_t k = 0; k < n; k++)                                                             \
            bad |= nn_nonfinite_bits(u->dw[k]);                                                    \
        for (size_t j = 0; j < u->out; j++)                                                        \
            bad |= nn_nonfinite_bits(u->db[j]);                                                    \
        return bad;                                                                                \
    }
ROW_DENSE(0)
ROW_DENSE(1)
ROW_DENSE(2)
ROW_DENSE(3)
ROW_DENSE(4)

/* Sets u's row functions from its kinds and widths. */
static void pick_row_functions(nn_small_unit *u)
{
    size_t w = u->in <= 4 ? u->in : 0, o = u->out <= 4 ? u->out : 0;
    if (u->kind == NN_SMALL_DENSE) {
        static const nn_small_row_forward fwd[5] = {dense_forward_0, dense_forward_1,
                                                    dense_forward_2, dense_forward_3,
                                                    dense_forward_4};
        static const nn_small_row_backward bwd[5] = {dense_backward_0, dense_backward_1,
                                                     dense_backward_2, dense_backward_3,
                                                     dense_backward_4};
        u->row_forward = fwd[w];
        u->row_backward = bwd[w];
        return;
    }
#define ROW_IN(NAME, DIR, O)                                                                       \
    {NAME##_pair_##DIR##_0_##O, NAME##_pair_##DIR##_1_##O, NAME##_pair_##DIR##_2_##O,              \
     NAME##_pair_##DIR##_3_##O, NAME##_pair_##DIR##_4_##O}
#define ROW_TABLE(NAME, DIR)                                                                       \
    {ROW_IN(NAME, DIR, 0), ROW_IN(NAME, DIR, 1), ROW_IN(NAME, DIR, 2), ROW_IN(NAME, DIR, 3),       \
     ROW_IN(NAME, DIR, 4)}
    switch (u->act.kind) {
#define CASE(KIND, NAME)                                                                           \
    case KIND:                                                                                     \
        if (u->kind == NN_SMALL_PAIR) {                                                            \
            static const nn_small_row_forward fwd[5][5] = ROW_TABLE(NAME, forward);                \
            static const nn_small_row_backward bwd[5][5] = ROW_TABLE(NAME, backward);              \
            u->row_forward = fwd[o][w];                                                            \
            u->row_backward = bwd[o][w];                                                           \
        } else {                                                                                   \
            u->row_forward = NAME##_act_forward;                                                   \
            u->row_backward = NAME##_act_backward;                                                 \
        }                                                                                          \
        break;
        NN_ACTIVATION_CASES(CASE)
#undef CASE
    default:
        break;
    }
#undef ROW_TABLE
#undef ROW_IN
}

void nn_net_small_plan(nn_net *net)
{
    net->small_state = 0;
    net->small_rows = 0;
    net->small_n_units = 0;
    net->small_views = 0;
    size_t n = net->n_layers;
    if (n == 0 || n > NN_SMALL_MAX_LAYERS || net->loss == NULL)
        return;
    nn_loss_kind kind;
    if (!nn_loss_is_builtin(net->loss, &kind))
        return;
    net->small_loss = kind;
    size_t rows = NN_LINEAR_SMALL_MAX, n_units = 0;
    for (size_t i = 0; i < n; i++) {
        nn_layer *l = net->layers[i];
        nn_small_unit *u = &net->small_units[n_units++];
        memset(u, 0, sizeof *u);
        u->in = l->in_width;
        u->out = l->out_width;
        if (nn_is_dense(l)) {
            /* The largest batch for which every dense layer takes the direct loops. */
            size_t per_row = l->in_width * l->out_width;
            if (per_row > NN_LINEAR_SMALL_MAX)
                return;
            if (NN_LINEAR_SMALL_MAX / per_row < rows)
                rows = NN_LINEAR_SMALL_MAX / per_row;
            u->kind = NN_SMALL_DENSE;
            u->w = l->params[0].data;
            u->bias = l->params[1].data;
            u->dw = l->grads[0].data;
            u->db = l->grads[1].data;
            if (i + 1 < n && nn_activation_elementwise(net->layers[i + 1], &u->act)) {
                u->kind = NN_SMALL_PAIR;
                i++;
            }
        } else if (nn_activation_elementwise(l, &u->act)) {
            u->kind = NN_SMALL_ACT;
        } else {
            return;
        }
    }
    for (size_t k = 0; k < n_units; k++) {
        pick_row_functions(&net->small_units[k]);
        if (net->small_units[k].row_forward == NULL) /* a kind without them: generic path */
            return;
    }
    net->small_n_units = n_units;
    net->small_rows = rows;
    net->small_state = 1;
}

/* One unit forward on a batch of rows rows of x: the dense part (into z for a pair),
 * then the activation part, each a whole pass as the layers' own forward functions
 * make. (A single row goes to the unit's row functions instead.) */
static void unit_forward(const nn_small_unit *u, const float *x, size_t rows)
{
    if (u->kind != NN_SMALL_ACT) {
        float *z = u->kind == NN_SMALL_PAIR ? u->z : u->y;
        nn_linear_small(x, u->w, u->bias, z, rows, u->in, u->out);
        x = z;
    }
    if (u->kind != NN_SMALL_DENSE)
        nn_activation_forward_loop(u->act, x, u->y, rows * u->out);
}

/* One unit backward from dy, the gradient at its output: the activation part into
 * mid (a pair) or dx, then the dense part's gradients, written rather than added
 * (nothing else adds to them), and its input gradient into dx. dx is NULL for the
 * network's input; for a pair it may be dy's buffer, read whole by then. */
static void unit_backward(const nn_small_unit *u, const float *x, const float *dy, float *mid,
                          float *dx, size_t rows)
{
    if (u->kind != NN_SMALL_DENSE) {
        const float *ax = u->kind == NN_SMALL_PAIR ? u->z : x;
        float *d = u->kind == NN_SMALL_PAIR ? mid : dx;
        if (d == NULL)
            return;
        nn_activation_backward_loop(u->act, ax, u->y, dy, d, rows * u->out);
        dy = d;
    }
    if (u->kind != NN_SMALL_ACT)
        nn_linear_small_backward(x, u->w, dy, u->dw, u->db, dx, rows, u->in, u->out, 1);
}

/* Points outs[] (for nn_net_layer_output, as net.c's forward() does), the units'
 * outputs and their backward buffers at the workspace for batches of b rows. The
 * backward pass is backward()'s: the gradient flowing down is in gbuf[g] (the loss's
 * in gbuf[0]); a single layer writes the other buffer, a pair its middle to the other
 * and its input gradient over the one it read. */
static void set_views(nn_net *net, size_t b)
{
    for (size_t i = 0; i < net->n_layers; i++)
        nn_view2d_set(&net->outs[i], net->acts + net->act_offset[i], b, net->layers[i]->out_width);
    for (size_t u = 0, i = 0; u < net->small_n_units; u++, i++) {
        nn_small_unit *s = &net->small_units[u];
        if (s->kind == NN_SMALL_PAIR)
            s->z = net->outs[i++].data;
        s->y = net->outs[i].data;
    }
    int g = 0;
    for (size_t k = net->small_n_units; k-- > 0;) {
        nn_small_unit *u = &net->small_units[k];
        u->dy = net->gbuf[g];
        u->mid = net->gbuf[g ^ 1];
        u->dx = k == 0 ? NULL : u->kind == NN_SMALL_PAIR ? net->gbuf[g] : net->gbuf[g ^ 1];
        if (u->kind != NN_SMALL_PAIR)
            g ^= 1;
    }
    nn_view2d_set(&net->small_dy, net->gbuf[0], b, net->layers[net->n_layers - 1]->out_width);
    net->small_views = b;
}

/* The passes over a batch of rows, kept out of nn_net_small_grads: inlined, their
 * loops took registers and a stack frame from the single-row path (10 instructions
 * of a 2-2-1 update). */
#if defined(__GNUC__)
#define NOINLINE __attribute__((noinline))
#else
#define NOINLINE
#endif

NOINLINE static void forward_rows(const nn_net *net, const float *x, size_t rows)
{
    for (size_t k = 0; k < net->small_n_units; x = net->small_units[k].y, k++)
        unit_forward(&net->small_units[k], x, rows);
}

NOINLINE static void backward_rows(const nn_net *net, const float *x, size_t rows)
{
    const nn_small_unit *units = net->small_units;
    for (size_t k = net->small_n_units; k-- > 0;)
        unit_backward(&units[k], k == 0 ? x : units[k - 1].y, units[k].dy, units[k].mid,
                      units[k].dx, rows);
}

/* A single row through the units' row functions, forward and backward. */
static inline void forward_row(const nn_small_unit *units, size_t n_units, const float *x)
{
    for (size_t k = 0; k < n_units; x = units[k].y, k++)
        units[k].row_forward(&units[k], x);
}

/* Returns the OR of nn_nonfinite_bits over every gradient written. */
static inline uint32_t backward_row(const nn_small_unit *units, size_t n_units, const float *x)
{
    uint32_t bad = 0;
    for (size_t k = n_units; k-- > 1;)
        bad |= units[k].row_backward(&units[k], units[k - 1].y, units[k].dy, units[k].mid,
                                     units[k].dx);
    return bad | units[0].row_backward(&units[0], x, units[0].dy, units[0].mid, NULL);
}

/* The loss of y (the last layer's output) against t, its gradient into small_dy:
 * MSE inline (loss_impl.h; through the table a 2-2-1 update took 16 more
 * instructions), nn's other losses straight through their table: nn_loss_eval's
 * checks were made when the loss was set and on the target, and nn's own losses
 * record their errors. scale is small_scale's for y, worked out by the caller once
 * for all its rows (a division; per row, 8 instructions of a 2-2-1 update). */
static inline nn_status small_loss(nn_net *net, const nn_tensor *y, const nn_tensor *t,
                                   double scale, double *value)
{
    if (net->small_loss == NN_LOSS_MSE) {
        *value = nn_mse_terms(y->data, t->data, net->small_dy.data, (float)(2.0 * scale),
                              y->size) * scale;
        return NN_OK;
    }
    return net->loss->ops->eval(net->loss, y, t, value, &net->small_dy);
}

/* MSE's reduction scale for an output y, read per call: fit's on_epoch may change the
 * reduction between epochs. */
static double small_scale(const nn_net *net, const nn_tensor *y)
{
    return nn_reduction_scale(net->loss->reduction, y->size);
}

nn_status nn_net_small_grads(nn_net *net, const nn_tensor *x, const nn_tensor *target,
                             double *loss)
{
    size_t b = x->shape[0], n_units = net->small_n_units;
    NN_ASSERT(net->small_state == 1 && b <= net->small_rows && b <= net->max_batch);
    if (net->small_views != b)
        set_views(net, b);
    const nn_small_unit *units = net->small_units;

    /* Forward, as forward() with training = 1. */
    if (b == 1) {
        forward_row(units, n_units, x->data);
    } else {
        forward_rows(net, x->data, b);
    }
    net->x_last = *x;
    net->batch = b;
    net->have_forward = 1;
    net->input_kept = 1;
    net->training = 1;

    const nn_tensor *y = &net->outs[net->n_layers - 1];
    double value;
    nn_status st = small_loss(net, y, target, small_scale(net, y), &value);
    if (st != NN_OK)
        return st;
    if (loss != NULL)
        *loss = value;
    if (!isfinite(value))
        return nn_net_loss_error(value);

    /* Backward, into the buffers set_views bound. */
    if (b == 1) {
        backward_row(units, n_units, x->data);
    } else {
        backward_rows(net, x->data, b);
    }
    return NN_OK;
}

/* The steps of nn_net_small_grads for one row, then nn_net_update, per row. What the
 * loop leaves out (views of each row, the batch size's branches, nn_net_fit's batch
 * loop and train_step's checks) depends on nothing that changes within an epoch. */
nn_status nn_net_small_fit_rows(nn_net *net, const nn_tensor *x, const nn_tensor *target,
                                const size_t *idx, double *sum, size_t *failed)
{
    NN_ASSERT(net->small_state == 1 && net->max_batch >= 1 && net->optim_ready);
    if (net->small_views != 1)
        set_views(net, 1);
    const nn_small_unit *units = net->small_units;
    const size_t n = x->shape[0], n_units = net->small_n_units, in = x->shape[1],
                 tw = target->shape[1];
    const nn_tensor *y = &net->outs[net->n_layers - 1];
    const double scale = small_scale(net, y);
    nn_tensor t;
    nn_view2d_set(&t, target->data, 1, tw);
    /* nn_net_update's test for the plain SGD path, made once: 32 instructions of a
     * 2-2-1 update. */
    const int plain = !(net->clip_norm > 0.0) && nn_optim_is_plain_sgd(net->optim);
    const size_t ns = net->n_scalars;
    const float *xr = x->data;
    nn_status st = NN_OK;
    size_t i;
    for (i = 0; i < n; i++) {
        size_t r = idx != NULL ? idx[i] : i;
        xr = x->data + r * in;
        t.data = target->data + r * tw;
        forward_row(units, n_units, xr);
        double value;
        st = small_loss(net, y, &t, scale, &value);
        if (st != NN_OK)
            break;
        if (!isfinite(value)) {
            st = nn_net_loss_error(value);
            break;
        }
        uint32_t bad = backward_row(units, n_units, xr);
        if (plain && !(bad & NN_NONFINITE_BIT)) {
            nn_optim_sgd_plain_block(net->optim, net->param_block, net->grad_block, ns);
        } else {
            st = nn_net_update(net); /* the general step, or the gradient's error */
            if (st != NN_OK)
                break;
        }
        *sum += value;
    }
    *failed = i;
    nn_view2d_set(&net->x_last, (float *)xr, 1, in);
    net->batch = 1;
    net->have_forward = 1;
    net->input_kept = 1;
    net->training = 1;
    return st;
}
