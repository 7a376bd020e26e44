/* net.c - sequential networks: building, the forward and backward passes, training. */
#define _POSIX_C_SOURCE 200809L /* clock_gettime, fileno, isatty */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "net_impl.h"
#include "nn/kernel.h"
#include "nn/metrics.h"
#include "nn/net.h"

/* ---- construction ---------------------------------------------------------------- */

nn_status nn_net_new(size_t in_width, nn_net **out)
{
    NN_CHECK_NULL(out);
    *out = NULL;
    if (in_width == 0)
        return nn_error(NN_ERR_INVALID_ARG, "nn_net_new: input width is 0");
    nn_net *net = nn_xcalloc(1, sizeof *net);
    if (net == NULL)
        return nn_error(NN_ERR_NOMEM, "nn_net_new: out of memory");
    net->in_width = in_width;
    net->small_state = -1;
    *out = net;
    return NN_OK;
}

static void free_workspace(nn_net *net)
{
    nn_xfree(net->acts);
    nn_xfree(net->act_offset);
    nn_xfree(net->gbuf[0]);
    nn_xfree(net->gbuf[1]);
    nn_xfree(net->outs);
    net->acts = NULL;
    net->act_offset = NULL;
    net->gbuf[0] = net->gbuf[1] = NULL;
    net->acts_size = net->gbuf_size = 0;
    net->ws_lo = net->ws_hi = 0;
    net->outs = NULL;
    net->small_views = 0;
    net->max_batch = 0;
    net->have_forward = 0;
}

void nn_net_free(nn_net *net)
{
    if (net == NULL)
        return;
    for (size_t i = 0; i < net->n_layers; i++)
        nn_layer_free(net->layers[i]);
    nn_xfree(net->layers);
    nn_xfree(net->param_block);
    nn_xfree(net->grad_block);
    nn_xfree(net->param_list);
    nn_xfree(net->grad_list);
    free_workspace(net);
    nn_loss_free(net->loss);
    nn_optim_free(net->optim);
    nn_xfree(net);
}

size_t nn_net_in_width(const nn_net *net) { return net != NULL ? net->in_width : 0; }

size_t nn_net_out_width(const nn_net *net)
{
    if (net == NULL)
        return 0;
    return net->n_layers > 0 ? net->layers[net->n_layers - 1]->out_width : net->in_width;
}

size_t nn_net_layer_count(const nn_net *net) { return net != NULL ? net->n_layers : 0; }

nn_layer *nn_net_layer(nn_net *net, size_t i)
{
    return net != NULL && i < net->n_layers ? net->layers[i] : NULL;
}

nn_loss *nn_net_loss(nn_net *net) { return net != NULL ? net->loss : NULL; }

nn_optim *nn_net_optim(nn_net *net) { return net != NULL ? net->optim : NULL; }

size_t nn_net_target_width(const nn_net *net)
{
    return net != NULL && net->loss != NULL ? net->target_width : 0;
}

float *nn_net_params(nn_net *net, size_t *count)
{
    if (count != NULL)
        *count = net != NULL ? net->n_scalars : 0;
    return net != NULL ? net->param_block : NULL;
}

float *nn_net_grads(nn_net *net, size_t *count)
{
    if (count != NULL)
        *count = net != NULL ? net->n_scalars : 0;
    return net != NULL ? net->grad_block : NULL;
}

/* Completes a parameter shape declared by a layer's build: unused dimensions 1,
 * size, dtype. Rejects shapes a layer should never declare. */
/* The most parameters a network holds: their block's bytes, padded to whole vectors
 * (nn_block_size), must not overflow a size_t. */
#define NN_MAX_SCALARS (SIZE_MAX / sizeof(float) - NN_BLOCK_ALIGN)

/* The room for need items: cap when it holds them, else twice cap when that is more
 * and no more than NN_DOUBLING_MAX items, else need itself. Doubling makes adding n
 * layers cost O(n) copies instead of O(n^2) (a spec of 10 000 layers took 10 s);
 * past the limit, a large network is not made to ask for twice its memory. */
#define NN_DOUBLING_MAX ((size_t)1 << 22)

static size_t grown(size_t cap, size_t need)
{
    if (need <= cap)
        return cap;
    if (cap <= NN_DOUBLING_MAX / 2 && 2 * cap > need)
        return 2 * cap;
    return need;
}

static nn_status finish_param_shape(const nn_layer *l, size_t i, nn_tensor *t)
{
    if (t->ndim < 1 || t->ndim > NN_TENSOR_MAX_DIMS)
        return nn_error(NN_ERR_SHAPE, "nn_net_add: layer '%s' declared parameter %zu with ndim %d",
                        l->ops->name, i, t->ndim);
    size_t size = 1;
    for (int d = 0; d < NN_TENSOR_MAX_DIMS; d++) {
        if (d >= t->ndim)
            t->shape[d] = 1;
        if (t->shape[d] == 0)
            return nn_error(NN_ERR_SHAPE, "nn_net_add: layer '%s' parameter %zu has a zero dimension",
                            l->ops->name, i);
        if (t->shape[d] > NN_MAX_SCALARS / size)
            return nn_error(NN_ERR_INVALID_ARG,
                            "nn_net_add: layer '%s' parameter %zu is too large (dimension %d is %zu)",
                            l->ops->name, i, d, t->shape[d]);
        size *= t->shape[d];
    }
    t->size = size;
    t->dtype = NN_DTYPE_F32;
    t->owns_data = 0;
    t->data = NULL;
    return NN_OK;
}

/* Points the parameter and gradient views of layers first..n_layers-1 into the blocks,
 * from float off on, and lists them in param_list / grad_list from entry k on. */
static void point_views_from(nn_layer **layers, size_t first, size_t n_layers, float *pblock,
                             float *gblock, nn_tensor *plist, nn_tensor *glist, size_t off,
                             size_t k)
{
    for (size_t i = first; i < n_layers; i++) {
        nn_layer *l = layers[i];
        for (size_t j = 0; j < l->n_params; j++) {
            l->params[j].data = pblock + off;
            l->grads[j] = l->params[j];
            l->grads[j].data = gblock + off;
            plist[k] = l->params[j];
            glist[k] = l->grads[j];
            off += l->params[j].size;
            k++;
        }
    }
}

/* Every layer's views, in order. */
static void point_views(nn_layer **layers, size_t n_layers, float *pblock, float *gblock,
                        nn_tensor *plist, nn_tensor *glist)
{
    point_views_from(layers, 0, n_layers, pblock, gblock, plist, glist, 0, 0);
}

nn_status nn_net_add(nn_net *net, nn_layer *layer)
{
    NN_CHECK_NULL(net);
    NN_CHECK_NULL(layer);
    if (layer->in_width != 0)
        return nn_error(NN_ERR_INVALID_ARG, "nn_net_add: layer '%s' is already part of a network",
                        layer->ops->name);
    for (size_t i = 0; i < net->n_layers; i++)
        if (net->layers[i] == layer)
            return nn_error(NN_ERR_INVALID_ARG, "nn_net_add: layer '%s' is already in this network",
                            layer->ops->name);

    /* Build into a scratch copy: the caller's layer changes only if everything succeeds. */
    nn_layer built = *layer;
    size_t in = nn_net_out_width(net);
    built.in_width = in;
    built.out_width = 0;
    built.n_params = 0;
    memset(built.params, 0, sizeof built.params);
    memset(built.grads, 0, sizeof built.grads);
    unsigned long seq = nn_error_seq();
    nn_status st = nn_error_if_silent(built.ops->build(&built, in), seq,
                                      "nn_net_add: layer '%s' cannot take input width %zu",
                                      built.ops->name, in);
    if (st != NN_OK)
        return st;
    /* The input width is the network's to set: a build that wrote another made the
     * backward pass hand the layer a dx past its buffer, or (0) let the layer join a
     * second network. */
    built.in_width = in;
    if (built.out_width == 0)
        return nn_error(NN_ERR_SHAPE, "nn_net_add: layer '%s' gives output width 0 for input width %zu",
                        built.ops->name, in);
    if (built.n_params > NN_LAYER_MAX_PARAMS)
        return nn_error(NN_ERR_SHAPE, "nn_net_add: layer '%s' declares %zu parameters (max %d)",
                        built.ops->name, built.n_params, NN_LAYER_MAX_PARAMS);
    size_t new_scalars = 0;
    for (size_t j = 0; j < built.n_params; j++) {
        st = finish_param_shape(&built, j, &built.params[j]);
        if (st != NN_OK)
            return st;
        if (built.params[j].size > NN_MAX_SCALARS - new_scalars - net->n_scalars)
            return nn_error(NN_ERR_INVALID_ARG,
                            "nn_net_add: layer '%s' would take the network past %zu parameters",
                            built.ops->name, (size_t)NN_MAX_SCALARS);
        new_scalars += built.params[j].size;
    }

    /* Allocate what has to grow before touching the network; what has room is kept. */
    size_t n_scalars = net->n_scalars + new_scalars;
    size_t n_tensors = net->n_tensors + built.n_params;
    size_t cap_floats = grown(net->cap_floats, nn_block_size(n_scalars));
    size_t cap_tensors = grown(net->cap_tensors, n_tensors);
    size_t cap_layers = grown(net->cap_layers, net->n_layers + 1);
    int new_floats = cap_floats != net->cap_floats, new_tensors = cap_tensors != net->cap_tensors;
    nn_layer **layers = cap_layers != net->cap_layers ? nn_xcalloc(cap_layers, sizeof *layers)
                                                      : net->layers;
    float *pblock = new_floats ? nn_xcalloc(cap_floats, sizeof(float)) : net->param_block;
    float *gblock = new_floats ? nn_xcalloc(cap_floats, sizeof(float)) : net->grad_block;
    nn_tensor *plist = new_tensors ? nn_xcalloc(cap_tensors, sizeof(nn_tensor)) : net->param_list;
    nn_tensor *glist = new_tensors ? nn_xcalloc(cap_tensors, sizeof(nn_tensor)) : net->grad_list;
    if (layers == NULL || (cap_floats > 0 && (!pblock || !gblock)) ||
        (cap_tensors > 0 && (!plist || !glist))) {
        if (layers != net->layers)
            nn_xfree(layers);
        if (new_floats) {
            nn_xfree(pblock);
            nn_xfree(gblock);
        }
        if (new_tensors) {
            nn_xfree(plist);
            nn_xfree(glist);
        }
        return nn_error(NN_ERR_NOMEM, "nn_net_add: cannot grow the network to %zu parameters",
                        n_scalars);
    }

    /* Commit: keep existing parameter values and gradients, then point the views: all
     * of them when a block or a list moved, else only the new layer's. */
    size_t old_layers = net->n_layers, old_scalars = net->n_scalars, old_tensors = net->n_tensors;
    int moved = new_floats || new_tensors;
    if (pblock != net->param_block) {
        if (net->n_scalars > 0) {
            memcpy(pblock, net->param_block, net->n_scalars * sizeof(float));
            memcpy(gblock, net->grad_block, net->n_scalars * sizeof(float));
        }
        nn_xfree(net->param_block);
        nn_xfree(net->grad_block);
    }
    if (layers != net->layers) {
        if (net->n_layers > 0)
            memcpy(layers, net->layers, net->n_layers * sizeof *layers);
        nn_xfree(net->layers);
    }
    if (plist != net->param_list) {
        nn_xfree(net->param_list); /* point_views fills every entry again */
        nn_xfree(net->grad_list);
    }
    *layer = built;
    layers[net->n_layers] = layer;
    net->layers = layers;
    net->n_layers++;
    net->param_block = pblock;
    net->grad_block = gblock;
    net->param_list = plist;
    net->grad_list = glist;
    net->n_scalars = n_scalars;
    net->n_tensors = n_tensors;
    net->cap_floats = cap_floats;
    net->cap_tensors = cap_tensors;
    net->cap_layers = cap_layers;
    if (moved)
        point_views(net->layers, net->n_layers, pblock, gblock, plist, glist);
    else
        point_views_from(net->layers, old_layers, net->n_layers, pblock, gblock, plist, glist,
                         old_scalars, old_tensors);
    /* Widths changed: the workspace is re-sized on next use, the optimizer's state re-made. */
    free_workspace(net);
    net->optim_ready = 0;
    net->loss_fits = 0;
    net->small_state = -1;
    return NN_OK;
}

nn_status nn_net_init_params(nn_net *net, nn_rng *rng)
{
    NN_CHECK_NULL(net);
    NN_CHECK_NULL(rng);
    /* Every dense layer's initialisers checked at its widths before anything is drawn,
     * so a refusal leaves every parameter as it was. */
    for (size_t i = 0; i < net->n_layers; i++) {
        nn_status st = nn_dense_check_inits("nn_init_fill", net->layers[i]);
        if (st != NN_OK)
            return nn_error_prefix(st, "nn_net_init_params: layer %zu ('dense')", i);
    }
    for (size_t i = 0; i < net->n_layers; i++) {
        nn_layer *l = net->layers[i];
        if (l->ops->init_params == NULL)
            continue;
        unsigned long seq = nn_error_seq();
        nn_status st = nn_error_if_silent(l->ops->init_params(l, rng), seq,
                                          "nn_net_init_params: layer %zu ('%s') failed", i, l->ops->name);
        if (st != NN_OK)
            return st;
    }
    return NN_OK;
}

/* Whether loss accepts the output and target widths; when not, the message names fn
 * and the widths, then the loss's own reason if it gave one. */
static nn_status loss_check(const char *fn, const nn_loss *loss, size_t out_width,
                            size_t target_width)
{
    unsigned long seq = nn_error_seq();
    nn_status st = loss->ops->check(loss, out_width, target_width);
    if (st == NN_OK)
        return NN_OK;
    const char *fmt = "%s: loss '%s' rejects output width %zu with target width %zu";
    if (nn_error_seq() == seq)
        return nn_error(st, fmt, fn, loss->ops->name, out_width, target_width);
    return nn_error_prefix(st, fmt, fn, loss->ops->name, out_width, target_width);
}

nn_status nn_net_set_loss(nn_net *net, nn_loss *loss, size_t target_width)
{
    NN_CHECK_NULL(net);
    NN_CHECK_NULL(loss);
    if (net->n_layers == 0)
        return nn_error(NN_ERR_STATE, "nn_net_set_loss: the network has no layers yet");
    if (target_width == 0)
        return nn_error(NN_ERR_INVALID_ARG, "nn_net_set_loss: target width is 0");
    if (loss->owner != NULL && loss->owner != net)
        return nn_error(NN_ERR_INVALID_ARG, "nn_net_set_loss: loss '%s' belongs to another network",
                        loss->ops->name);
    /* Checked also when it is the loss already set: a new target width must fit too. */
    nn_status st = loss_check("nn_net_set_loss", loss, nn_net_out_width(net), target_width);
    if (st != NN_OK)
        return st;
    if (loss != net->loss) {
        nn_loss_free(net->loss);
        net->loss = loss;
        loss->owner = net;
    }
    net->target_width = target_width;
    net->loss_fits = 1;
    net->small_state = -1;
    return NN_OK;
}

nn_status nn_net_set_optim(nn_net *net, nn_optim *optim)
{
    NN_CHECK_NULL(net);
    NN_CHECK_NULL(optim);
    if (net->n_layers == 0)
        return nn_error(NN_ERR_STATE, "nn_net_set_optim: the network has no layers yet");
    if (optim->owner != NULL && optim->owner != net)
        return nn_error(NN_ERR_INVALID_ARG, "nn_net_set_optim: optimizer '%s' belongs to another network",
                        optim->ops->name);
    nn_status st = nn_optim_setup(optim, net->param_list, net->n_tensors);
    if (st != NN_OK)
        return st;
    if (optim != net->optim) {
        nn_optim_free(net->optim);
        net->optim_sets++;
        optim->owner = net;
    }
    net->optim = optim;
    net->optim_ready = 1;
    return NN_OK;
}

int nn_net_optim_ready(const nn_net *net) { return net->optim != NULL && net->optim_ready; }

/* ---- workspace --------------------------------------------------------------------- */

nn_status nn_net_reserve(nn_net *net, size_t max_batch)
{
    NN_CHECK_NULL(net);
    if (max_batch == 0)
        return nn_error(NN_ERR_INVALID_ARG, "nn_net_reserve: batch size is 0");
    if (net->n_layers == 0)
        return nn_error(NN_ERR_STATE, "nn_net_reserve: the network has no layers yet");
    if (max_batch <= net->max_batch)
        return NN_OK;

    size_t act_total = 0, max_width = net->in_width;
    for (size_t i = 0; i < net->n_layers; i++) {
        size_t w = net->layers[i]->out_width;
        if (w > max_width)
            max_width = w;
        if (w > SIZE_MAX / max_batch || act_total > SIZE_MAX - w * max_batch)
            return nn_error(NN_ERR_NOMEM, "nn_net_reserve: batch of %zu rows is too large", max_batch);
        act_total += w * max_batch;
    }
    if (max_width > SIZE_MAX / max_batch)
        return nn_error(NN_ERR_NOMEM, "nn_net_reserve: batch of %zu rows is too large", max_batch);

    float *acts = nn_xcalloc(act_total, sizeof(float));
    size_t *offs = nn_xcalloc(net->n_layers, sizeof(size_t));
    float *g0 = nn_xcalloc(max_width * max_batch, sizeof(float));
    float *g1 = nn_xcalloc(max_width * max_batch, sizeof(float));
    nn_tensor *outs = nn_xcalloc(net->n_layers, sizeof(nn_tensor));
    nn_status st = NN_OK;
    if (!acts || !offs || !g0 || !g1 || !outs)
        st = nn_error(NN_ERR_NOMEM, "nn_net_reserve: cannot allocate the workspace for %zu rows",
                      max_batch);
    for (size_t i = 0; st == NN_OK && i < net->n_layers; i++) {
        nn_layer *l = net->layers[i];
        if (l->ops->reserve != NULL) {
            unsigned long seq = nn_error_seq();
            st = nn_error_if_silent(l->ops->reserve(l, max_batch), seq,
                                    "nn_net_reserve: layer %zu ('%s') cannot reserve %zu rows", i,
                                    l->ops->name, max_batch);
        }
    }
    if (st != NN_OK) {
        nn_xfree(acts);
        nn_xfree(offs);
        nn_xfree(g0);
        nn_xfree(g1);
        nn_xfree(outs);
        return st;
    }
    free_workspace(net);
    size_t off = 0;
    for (size_t i = 0; i < net->n_layers; i++) {
        offs[i] = off;
        off += net->layers[i]->out_width * max_batch;
    }
    net->acts = acts;
    net->act_offset = offs;
    net->gbuf[0] = g0;
    net->gbuf[1] = g1;
    net->acts_size = act_total;
    net->gbuf_size = max_width * max_batch;
    uintptr_t lo = (uintptr_t)acts, hi = lo + act_total * sizeof(float);
    for (int k = 0; k < 2; k++) {
        uintptr_t a = (uintptr_t)net->gbuf[k], e = a + net->gbuf_size * sizeof(float);
        lo = a < lo ? a : lo;
        hi = e > hi ? e : hi;
    }
    net->ws_lo = lo;
    net->ws_hi = hi;
    net->outs = outs;
    net->max_batch = max_batch;
    return NN_OK;
}

/* ---- forward and backward ------------------------------------------------------------ */

/* 1 when the n floats at p and the m floats at q share memory. (Compared as integers:
 * relational operators on pointers into different objects are undefined.) */
static int overlaps(const float *p, size_t n, const float *q, size_t m)
{
    uintptr_t a = (uintptr_t)p, b = (uintptr_t)q;
    return n > 0 && m > 0 && a < b + m * sizeof(float) && b < a + n * sizeof(float);
}

/* Refuses a tensor whose data lies in the network's workspace, a view of a layer's
 * output (nn_net_layer_output) say: a pass writes there while it reads the tensor, and
 * nn_net_reserve frees it when the workspace grows. Also one with elements and a NULL
 * data pointer. what names the argument. */
static nn_status outside_slow(const char *fn, const nn_net *net, const nn_tensor *t,
                              const char *what, int gbuf_only)
{
    if (t->data == NULL && t->size > 0) /* a view of nothing: a crash in the first loop */
        return nn_error(NN_ERR_NULL_ARG, "%s: the %s has %zu elements but no data", fn, what,
                        t->size);
    if ((!gbuf_only && overlaps(t->data, t->size, net->acts, net->acts_size)) ||
        overlaps(t->data, t->size, net->gbuf[0], net->gbuf_size) ||
        overlaps(t->data, t->size, net->gbuf[1], net->gbuf_size))
        return nn_error(NN_ERR_INVALID_ARG,
                        "%s: the %s lies in the network's own buffers (a layer's output?): "
                        "copy it first", fn, what);
    return NN_OK;
}

/* Inline, with one test against the workspace's whole span first: it runs on every
 * training step (two calls cost 66 of a 2-2-1 step's instructions out of line). */
static inline nn_status check_outside(const char *fn, const nn_net *net, const nn_tensor *t,
                                      const char *what)
{
    uintptr_t a = (uintptr_t)t->data;
    if (t->data != NULL && (a >= net->ws_hi || a + t->size * sizeof(float) <= net->ws_lo))
        return NN_OK;
    return outside_slow(fn, net, t, what, 0);
}

nn_status nn_net_check_outside(const char *fn, const nn_net *net, const nn_tensor *t,
                               const char *what)
{
    return check_outside(fn, net, t, what);
}

static nn_status check_input(const char *fn, const nn_net *net, const nn_tensor *x)
{
    if (net->n_layers == 0)
        return nn_error(NN_ERR_STATE, "%s: the network has no layers", fn);
    if (x->ndim != 2 || x->shape[1] != net->in_width)
        return nn_error(NN_ERR_SHAPE, "%s: input is (%zu, %zu) (%d-D), the network takes (B, %zu)",
                        fn, nn_tensor_nrows(x), nn_tensor_ncols(x), x->ndim, net->in_width);
    return check_outside(fn, net, x, "input");
}

/* Checks that a batch for a pass has rows (a pass reserves a workspace for them). */
static nn_status check_rows(const char *fn, const nn_tensor *x)
{
    if (x->shape[0] == 0)
        return nn_error(NN_ERR_INVALID_ARG, "%s: the batch has no rows", fn);
    return NN_OK;
}

/* x: (B, in) with B <= max_batch, already checked. fn names the public call in messages. */
static nn_status forward(const char *fn, nn_net *net, const nn_tensor *x, int training)
{
    size_t b = x->shape[0];
    const nn_tensor *in = x;
    net->have_forward = 0;
    net->small_views = 0; /* outs[] are re-pointed below, maybe for another batch size */
    for (size_t i = 0; i < net->n_layers; i++) {
        nn_layer *l = net->layers[i];
        nn_view2d_set(&net->outs[i], net->acts + net->act_offset[i], b, l->out_width);
        unsigned long seq = nn_error_seq();
        nn_status st = nn_error_if_silent(l->ops->forward(l, in, &net->outs[i], training), seq,
                                          "%s: layer %zu ('%s') failed", fn, i, l->ops->name);
        if (st != NN_OK)
            return st;
        /* The view is the network's (tensor.h: its fields are read-only to a layer):
         * a user layer that changed its shape made predict copy past the caller's y. */
        const nn_tensor *o = &net->outs[i];
        if (o->data != net->acts + net->act_offset[i] || o->ndim != 2 || o->shape[0] != b ||
            o->shape[1] != l->out_width || o->size != b * l->out_width) {
            nn_view2d_set(&net->outs[i], net->acts + net->act_offset[i], b, l->out_width);
            return nn_error(NN_ERR_STATE, "%s: layer %zu ('%s') changed its output view", fn,
                            i, l->ops->name);
        }
        in = &net->outs[i];
    }
    net->x_last = *x;
    net->batch = b;
    net->have_forward = 1;
    net->input_kept = 1;
    net->training = training != 0;
    return NN_OK;
}

/* nn_net_forward for fn, the public call. */
static nn_status forward_pass(const char *fn, nn_net *net, const nn_tensor *x, int training,
                              const nn_tensor **y)
{
    nn_status st = check_input(fn, net, x);
    if (st == NN_OK)
        st = check_rows(fn, x);
    if (st == NN_OK)
        st = nn_net_reserve(net, x->shape[0]);
    if (st == NN_OK)
        st = forward(fn, net, x, training);
    if (st != NN_OK)
        return st;
    *y = &net->outs[net->n_layers - 1];
    return NN_OK;
}

nn_status nn_net_forward(nn_net *net, const nn_tensor *x, int training, const nn_tensor **y)
{
    NN_CHECK_NULL(net);
    NN_CHECK_NULL(x);
    NN_CHECK_NULL(y);
    return forward_pass(__func__, net, x, training, y);
}

const nn_tensor *nn_net_layer_output(const nn_net *net, size_t i)
{
    if (net == NULL || !net->have_forward || i >= net->n_layers)
        return NULL;
    return &net->outs[i];
}

/* Rows per chunk for whole-data-set passes. Fixed, not the reserved batch: a row's
 * output can differ in the last bits with the number of rows computed together
 * (sgemm's blocking, the direct loop for tiny products), so a chunk size taken from
 * the network's history would make a freshly loaded model predict other bits than
 * the one that was saved. nn_net_fit reserves this much for its validation passes. */
#define NN_PASS_CHUNK 256
static size_t chunk_rows(const nn_net *net, size_t n)
{
    (void)net;
    return n < NN_PASS_CHUNK ? n : NN_PASS_CHUNK;
}

nn_status nn_net_predict(nn_net *net, const nn_tensor *x, nn_tensor *y)
{
    NN_CHECK_NULL(net);
    NN_CHECK_NULL(x);
    NN_CHECK_NULL(y);
    nn_status st = check_input(__func__, net, x);
    if (st != NN_OK)
        return st;
    size_t n = x->shape[0], out_w = nn_net_out_width(net);
    if (y->ndim != 2 || y->shape[0] != n || y->shape[1] != out_w)
        return nn_error(NN_ERR_SHAPE, "nn_net_predict: output is (%zu, %zu), needs (%zu, %zu)",
                        nn_tensor_nrows(y), nn_tensor_ncols(y), n, out_w);
    if ((st = check_outside(__func__, net, y, "output")) != NN_OK)
        return st;
    if (n == 0) /* nothing to predict: no pass, and the last one stays as it was */
        return NN_OK;
    size_t chunk = chunk_rows(net, n);
    for (size_t first = 0; first < n; first += chunk) {
        size_t rows = n - first < chunk ? n - first : chunk;
        nn_tensor xc, yc;
        const nn_tensor *out;
        nn_tensor_rows(x, first, rows, &xc);
        nn_tensor_rows(y, first, rows, &yc);
        st = forward_pass(__func__, net, &xc, 0, &out);
        if (st != NN_OK)
            break;
        memcpy(yc.data, out->data, out->size * sizeof(float));
    }
    nn_net_forget_input(net);
    return st;
}

void nn_net_forget_input(nn_net *net) { net->input_kept = 0; }

float nn_net_decision_cut(const nn_net *net)
{
    nn_loss_kind kind;
    return net->loss != NULL && nn_loss_is_builtin(net->loss, &kind) && kind == NN_LOSS_BCE_LOGITS
               ? 0.0f
               : 0.5f;
}

nn_status nn_net_zero_grad(nn_net *net)
{
    NN_CHECK_NULL(net);
    if (net->n_scalars > 0)
        memset(net->grad_block, 0, net->n_scalars * sizeof(float));
    return NN_OK;
}

/* Backpropagates dy (B, out) from the last layer down; dx as in nn_net_backward.
 * Intermediate gradients alternate between gbuf[0] and gbuf[1]; dy may itself
 * live in one of them (the loss gradient does), so the first write goes to the other. */
static nn_status backward(const char *fn, nn_net *net, const nn_tensor *dy, nn_tensor *dx)
{
    size_t b = net->batch;
    nn_tensor views[2];
    const nn_tensor *g = dy;
    int buf = dy->data == net->gbuf[0] ? 1 : 0;
    for (size_t k = net->n_layers; k-- > 0;) {
        nn_layer *l = net->layers[k];
        const nn_tensor *x = k == 0 ? &net->x_last : &net->outs[k - 1];
        nn_tensor *d = dx;
        if (k > 0) {
            d = &views[buf];
            nn_view2d_set(d, net->gbuf[buf], b, l->in_width);
        }
        unsigned long seq = nn_error_seq();
        nn_status st = nn_error_if_silent(l->ops->backward(l, x, &net->outs[k], g, d), seq,
                                          "%s: layer %zu ('%s') failed in backward", fn, k,
                                          l->ops->name);
        if (st != NN_OK)
            return st;
        g = d;
        buf ^= 1;
    }
    return NN_OK;
}

nn_status nn_net_backward(nn_net *net, const nn_tensor *dy, nn_tensor *dx)
{
    NN_CHECK_NULL(net);
    NN_CHECK_NULL(dy);
    if (!net->have_forward)
        return nn_error(NN_ERR_STATE, "nn_net_backward: no forward pass to go back through");
    if (!net->input_kept)
        return nn_error(NN_ERR_STATE, "nn_net_backward: the last forward pass's input is not kept "
                                      "(a pass of predict, evaluation or fit's shuffled batch); "
                                      "run nn_net_forward on the batch first");
    size_t out_w = nn_net_out_width(net);
    if (dy->ndim != 2 || dy->shape[0] != net->batch || dy->shape[1] != out_w)
        return nn_error(NN_ERR_SHAPE, "nn_net_backward: dy is (%zu, %zu), the last forward gave (%zu, %zu)",
                        nn_tensor_nrows(dy), nn_tensor_ncols(dy), net->batch, out_w);
    if (dx != NULL && (dx->ndim != 2 || dx->shape[0] != net->batch || dx->shape[1] != net->in_width))
        return nn_error(NN_ERR_SHAPE, "nn_net_backward: dx is (%zu, %zu), the input was (%zu, %zu)",
                        nn_tensor_nrows(dx), nn_tensor_ncols(dx), net->batch, net->in_width);
    /* dy may be a layer's output (backward writes only the gradient buffers), not one
     * of those */
    nn_status st = outside_slow(__func__, net, dy, "gradient dy", 1);
    if (st == NN_OK && dx != NULL)
        st = check_outside(__func__, net, dx, "gradient dx");
    /* Refused here, not by the first layer's kernel after the others have added
     * their gradients: dx over the input the first layer's weight gradient reads. */
    if (st == NN_OK && dx != NULL &&
        overlaps(dx->data, dx->size, net->x_last.data, net->x_last.size))
        st = nn_error(NN_ERR_INVALID_ARG,
                      "nn_net_backward: the gradient dx lies over the forward pass's input");
    if (st != NN_OK)
        return st;
    return backward(__func__, net, dy, dx);
}

/* ---- loss and training ------------------------------------------------------------------ */

static nn_status check_target(const char *fn, nn_net *net, const nn_tensor *x,
                              const nn_tensor *target)
{
    if (net->loss == NULL)
        return nn_error(NN_ERR_STATE, "%s: the network has no loss (nn_net_set_loss)", fn);
    if (target->ndim != 2 || target->shape[0] != x->shape[0] || target->shape[1] != net->target_width)
        return nn_error(NN_ERR_SHAPE, "%s: targets are (%zu, %zu) (%d-D), expected (%zu, %zu)", fn,
                        nn_tensor_nrows(target), nn_tensor_ncols(target), target->ndim, x->shape[0],
                        net->target_width);
    nn_status outside = check_outside(fn, net, target, "target");
    if (outside != NN_OK)
        return outside;
    /* Layers added since nn_net_set_loss may have changed the output width; the fused
     * pass (net_small.c) relies on this check, as it does not go through nn_loss_eval. */
    return nn_net_check_loss_fits(fn, net);
}

nn_status nn_net_loss_fits(const char *fn, const nn_net *net)
{
    if (net->loss == NULL || net->loss_fits)
        return NN_OK;
    return loss_check(fn, net->loss, nn_net_out_width(net), net->target_width);
}

nn_status nn_net_check_loss_fits(const char *fn, nn_net *net)
{
    nn_status st = nn_net_loss_fits(fn, net);
    if (st == NN_OK && net->loss != NULL)
        net->loss_fits = 1;
    return st;
}

nn_status nn_net_eval_loss(nn_net *net, const nn_tensor *x, const nn_tensor *target, double *loss)
{
    NN_CHECK_NULL(net);
    NN_CHECK_NULL(x);
    NN_CHECK_NULL(target);
    NN_CHECK_NULL(loss);
    nn_status st = check_input(__func__, net, x);
    if (st == NN_OK)
        st = check_target(__func__, net, x, target);
    if (st == NN_OK && x->shape[0] == 0)
        st = nn_error(NN_ERR_INVALID_ARG, "nn_net_eval_loss: the data set has no rows");
    if (st != NN_OK)
        return st;
    return nn_net_eval_pass(__func__, net, x, target, chunk_rows(net, x->shape[0]), loss, NULL, NULL, 0);
}

/* v for a message: a NaN as "nan", whatever its sign bit. The sign of a NaN that an
 * operation makes is not specified, and the fused and generic passes compute the same
 * product with its operands in either order. */
static double unsigned_nan(double v) { return isnan(v) ? (double)NAN : v; }

nn_status nn_net_loss_error(double value)
{
    return nn_error(NN_ERR_NUMERIC, "nn_net_compute_grads: the loss is %g", unsigned_nan(value));
}

/* Checks x and target (not NULL) for a training pass (fn names the caller in
 * messages) and reserves the workspace for them. */
static nn_status check_pass(const char *fn, nn_net *net, const nn_tensor *x, const nn_tensor *target)
{
    nn_status st = check_input(fn, net, x);
    if (st == NN_OK)
        st = check_target(fn, net, x, target);
    if (st == NN_OK)
        st = check_rows(fn, x);
    if (st == NN_OK)
        st = nn_net_reserve(net, x->shape[0]);
    return st;
}

/* nn_net_compute_grads on arguments check_pass accepted. Inline: in train_step, on
 * the per-sample path, its frame was 3% of a 2-2-1 update's instructions. */
static inline nn_status compute_grads(const char *fn, nn_net *net, const nn_tensor *x,
                                      const nn_tensor *target, double *loss)
{
    if (net->small_state < 0)
        nn_net_small_plan(net);
    if (net->small_state == 1 && x->shape[0] <= net->small_rows)
        return nn_net_small_grads(net, x, target, loss);
    nn_status st = forward(fn, net, x, 1);
    if (st != NN_OK)
        return st;
    const nn_tensor *y = &net->outs[net->n_layers - 1];
    nn_tensor dy;
    nn_view2d_set(&dy, net->gbuf[0], y->shape[0], y->shape[1]);
    double value;
    st = nn_loss_eval(net->loss, y, target, &value, &dy);
    if (st != NN_OK)
        return st;
    if (loss != NULL)
        *loss = value;
    if (!isfinite(value))
        return nn_net_loss_error(value);
    nn_net_zero_grad(net);
    return backward(fn, net, &dy, NULL);
}

nn_status nn_net_compute_grads(nn_net *net, const nn_tensor *x, const nn_tensor *target, double *loss)
{
    NN_CHECK_NULL(net);
    NN_CHECK_NULL(x);
    NN_CHECK_NULL(target);
    nn_status st = check_pass(__func__, net, x, target);
    if (st != NN_OK)
        return st;
    return compute_grads(__func__, net, x, target, loss);
}

nn_status nn_net_set_clip_grad_norm(nn_net *net, double max_norm)
{
    NN_CHECK_NULL(net);
    if (!(max_norm >= 0.0))
        return nn_error(NN_ERR_INVALID_ARG, "nn_net_set_clip_grad_norm: max_norm %g is not >= 0",
                        max_norm);
    net->clip_norm = max_norm;
    return NN_OK;
}

int nn_net_training(const nn_net *net) { return net != NULL && net->training; }

/* A float is NaN or Inf when its exponent bits are all ones; adding one to the
 * exponent field then carries into the sign bit. Integer OR is associative, so the
 * loop vectorizes (a float sum is a serial chain without -ffast-math: it cost 10% of
 * an MLP epoch at batch 64); with AVX2, 8 floats at a time. */
NN_AVX2_CLONES
static int block_has_nonfinite(const float *g, size_t n)
{
    uint32_t bad = 0;
    n &= ~(size_t)(NN_BLOCK_ALIGN - 1); /* a no-op that tells the compiler: no remainder */
    for (size_t i = 0; i < n; i++)
        bad |= nn_nonfinite_bits(g[i]);
    return (bad & NN_NONFINITE_BIT) != 0;
}

/* Checks that every gradient is finite and, when the network clips, scales them
 * to the clip norm. One pass over the contiguous gradient block when not clipping:
 * cheap next to the backward pass that produced it. */
static nn_status guard_grads(const char *fn, nn_net *net)
{
    if (net->clip_norm > 0.0) {
        double total;
        nn_status st = nn_clip_grad_norm(net->grad_list, net->n_tensors, net->clip_norm, &total);
        if (st == NN_ERR_NUMERIC)
            return nn_error(st, "%s: a gradient is NaN or Inf (norm %g)", fn,
                            unsigned_nan(total));
        return st;
    }
    const float *g = net->grad_block;
    if (block_has_nonfinite(g, nn_block_size(net->n_scalars))) {
        size_t i = 0;
        while (i < net->n_scalars && isfinite(g[i]))
            i++;
        return nn_error(NN_ERR_NUMERIC, "%s: gradient %zu of %zu is %g", fn, i,
                        net->n_scalars, i < net->n_scalars ? unsigned_nan(g[i]) : 0.0);
    }
    return NN_OK;
}

/* The update after the gradients, its messages naming fn, the public call. */
static nn_status update(const char *fn, nn_net *net)
{
    nn_status st = guard_grads(fn, net);
    if (st != NN_OK)
        return st;
    /* Over the parameters in use, not the padded block: an lr beyond float's range
     * makes -lr -Inf, and 0 x -Inf would write NaN into the tail, which a layer added
     * later takes over (internal.h). */
    if (nn_optim_sgd_block(net->optim, net->param_block, net->grad_block, net->n_scalars))
        return NN_OK;
    return nn_optim_step(net->optim, net->param_list, net->grad_list, net->n_tensors);
}

nn_status nn_net_update(nn_net *net) { return update("nn_net_train_step", net); }

/* Re-makes the optimizer's state for layers added after it was set. */
static nn_status setup_optim(nn_net *net)
{
    nn_status st = nn_optim_setup(net->optim, net->param_list, net->n_tensors);
    if (st == NN_OK)
        net->optim_ready = 1;
    return st;
}

/* nn_net_train_step on arguments check_pass accepted, with an optimizer set. */
static nn_status train_step(nn_net *net, const nn_tensor *x, const nn_tensor *target, double *loss)
{
    if (!net->optim_ready) {
        nn_status st = setup_optim(net);
        if (st != NN_OK)
            return st;
    }
    nn_status st = compute_grads("nn_net_train_step", net, x, target, loss);
    if (st != NN_OK)
        return st;
    return nn_net_update(net);
}

nn_status nn_net_train_step(nn_net *net, const nn_tensor *x, const nn_tensor *target, double *loss)
{
    NN_CHECK_NULL(net);
    if (net->optim == NULL)
        return nn_error(NN_ERR_STATE, "nn_net_train_step: the network has no optimizer (nn_net_set_optim)");
    NN_CHECK_NULL(x);
    NN_CHECK_NULL(target);
    nn_status st = check_pass(__func__, net, x, target);
    if (st != NN_OK)
        return st;
    return train_step(net, x, target, loss);
}

nn_status nn_net_step(nn_net *net)
{
    NN_CHECK_NULL(net);
    if (net->optim == NULL)
        return nn_error(NN_ERR_STATE, "nn_net_step: the network has no optimizer (nn_net_set_optim)");
    if (!net->optim_ready) {
        nn_status st = setup_optim(net);
        if (st != NN_OK)
            return st;
    }
    return update(__func__, net);
}

nn_fit_params nn_fit_default_params(void)
{
    nn_fit_params p;
    memset(&p, 0, sizeof p);
    p.epochs = 1;
    p.batch_size = 32;
    p.progress = NN_PROGRESS_AUTO;
    return p;
}

/* Points the 2-D view v at data with rows rows, its width unchanged. */
static inline void set_rows(nn_tensor *v, float *data, size_t rows)
{
    v->data = data;
    v->shape[0] = rows;
    v->size = rows * v->shape[1];
}

/* Copies the rows idx[0..rows-1] of src into the first rows of dst (same width). */
static void gather_rows(const nn_tensor *src, const size_t *idx, size_t rows, nn_tensor *dst)
{
    size_t w = src->shape[1];
    for (size_t i = 0; i < rows; i++)
        memcpy(dst->data + i * w, src->data + idx[i] * w, w * sizeof(float));
}

static nn_status check_fit_params(nn_net *net, const nn_tensor *x, const nn_tensor *target,
                                  const nn_fit_params *p)
{
    if (p->epochs == 0 || p->batch_size == 0)
        return nn_error(NN_ERR_INVALID_ARG, "nn_net_fit: epochs (%zu) and batch size (%zu) must be > 0",
                        p->epochs, p->batch_size);
    if (p->shuffle && p->rng == NULL)
        return nn_error(NN_ERR_INVALID_ARG, "nn_net_fit: shuffling needs an rng");
    if (!(p->clip_grad_norm >= 0.0))
        return nn_error(NN_ERR_INVALID_ARG, "nn_net_fit: clip_grad_norm %g is not >= 0",
                        p->clip_grad_norm);
    if ((p->val_x == NULL) != (p->val_target == NULL))
        return nn_error(NN_ERR_INVALID_ARG, "nn_net_fit: a validation set needs both val_x and val_target");
    if ((unsigned)p->progress > NN_PROGRESS_BAR)
        return nn_error(NN_ERR_INVALID_ARG, "nn_net_fit: unknown progress mode %d", (int)p->progress);
    nn_status st = NN_OK;
    if (p->schedule != NULL && (st = nn_schedule_check(p->schedule)) != NN_OK)
        return nn_error_prefix(st, "nn_net_fit: schedule");
    if ((st = check_input("nn_net_fit", net, x)) != NN_OK ||
        (st = check_target("nn_net_fit", net, x, target)) != NN_OK)
        return st;
    if (x->shape[0] == 0) /* (bs would be 0, and the batch count divide by it) */
        return nn_error(NN_ERR_INVALID_ARG, "nn_net_fit: the training set has no rows");
    if (p->val_x != NULL) {
        if (p->val_x->ndim != 2 || p->val_x->shape[0] == 0)
            return nn_error(NN_ERR_SHAPE, "nn_net_fit: the validation set is empty or not 2-D");
        if ((st = check_input("nn_net_fit (validation)", net, p->val_x)) != NN_OK ||
            (st = check_target("nn_net_fit (validation)", net, p->val_x, p->val_target)) != NN_OK)
            return st;
    }
    if (net->optim == NULL)
        return nn_error(NN_ERR_STATE, "nn_net_fit: the network has no optimizer (nn_net_set_optim)");
    if (p->shuffle && x->shape[0] > UINT32_MAX)
        return nn_error(NN_ERR_INVALID_ARG, "nn_net_fit: cannot shuffle more than 2^32 rows");
    return NN_OK;
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- progress display ---- */

typedef struct progress {
    nn_progress mode; /* OFF, LINES or BAR once resolved */
    FILE *out;
    size_t epochs, batches;
    double fit_start, epoch_start, last_draw;
} progress;

static void progress_begin(progress *pr, const nn_fit_params *p, size_t batches)
{
    pr->out = p->progress_stream != NULL ? p->progress_stream : stderr;
    pr->mode = p->progress;
    if (pr->mode == NN_PROGRESS_AUTO)
        pr->mode = isatty(fileno(pr->out)) ? NN_PROGRESS_BAR : NN_PROGRESS_LINES;
    pr->epochs = p->epochs;
    pr->batches = batches;
    pr->fit_start = now_seconds();
    pr->last_draw = 0.0;
}

/* Redraws the bar at most ten times a second: drawing is slower than a small step. */
static void progress_batch(progress *pr, size_t epoch, size_t batch, double loss_so_far,
                           size_t rows_so_far)
{
    if (pr->mode != NN_PROGRESS_BAR)
        return;
    double t = now_seconds();
    if (t - pr->last_draw < 0.1 && batch + 1 < pr->batches)
        return;
    pr->last_draw = t;
    double elapsed = t - pr->epoch_start;
    double rate = elapsed > 0 ? (double)rows_so_far / elapsed : 0.0;
    /* In double: epochs x batches in size_t wraps for a large epoch limit (2^62 epochs
     * of 4 batches gave 0, and an ETA of NaN) */
    double done = ((double)epoch * (double)pr->batches + (double)(batch + 1)) /
                  ((double)pr->epochs * (double)pr->batches);
    double eta = done > 0 ? (t - pr->fit_start) * (1.0 - done) / done : 0.0;
    char bar[21];
    size_t fill = (size_t)(20.0 * (double)(batch + 1) / (double)pr->batches);
    for (size_t i = 0; i < 20; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[20] = '\0';
    fprintf(pr->out, "\repoch %zu/%zu [%s] %zu/%zu loss %.4f %.0f samples/s ETA %.0fs   ", epoch + 1,
            pr->epochs, bar, batch + 1, pr->batches, loss_so_far, rate, eta);
    fflush(pr->out);
}

static void progress_epoch(progress *pr, const nn_epoch_stats *e)
{
    if (pr->mode == NN_PROGRESS_OFF)
        return;
    if (pr->mode == NN_PROGRESS_BAR)
        fputc('\r', pr->out);
    fprintf(pr->out, "epoch %zu/%zu: loss %.6f", e->epoch + 1, pr->epochs, e->train_loss);
    if (!isnan(e->train_acc))
        fprintf(pr->out, ", acc %.4f", e->train_acc);
    if (!isnan(e->val_loss))
        fprintf(pr->out, ", val_loss %.6f", e->val_loss);
    if (!isnan(e->val_acc))
        fprintf(pr->out, ", val_acc %.4f", e->val_acc);
    fprintf(pr->out, ", lr %g, %.2f s, %.0f samples/s%s\n", e->lr, e->seconds, e->samples_per_s,
            pr->mode == NN_PROGRESS_BAR ? "                    " : "");
    fflush(pr->out);
}

/* ---- fit ---- */

/* Prefixes the error of a failed step with where it happened (both counted from 0). */
/* Sets the optimizer's rate to the schedule's for step or epoch t. A schedule can
 * be valid and still reach rates nn_optim_set_lr would refuse (exponential with a
 * factor above 1 overflows), which would push the parameters to Inf. */
static nn_status scheduled_lr(nn_net *net, const nn_schedule *s, double base, size_t t)
{
    double lr = nn_schedule_lr(s, base, t);
    if (!(lr >= 0.0 && lr <= DBL_MAX))
        return nn_error(NN_ERR_INVALID_ARG, "the schedule gives learning rate %g for t = %zu",
                        lr, t);
    net->optim->lr = lr;
    return NN_OK;
}

static void fit_error(nn_status st, size_t epoch, size_t batch)
{
    nn_error_prefix(st, "nn_net_fit: epoch %zu, batch %zu", epoch + 1, batch + 1);
}

nn_status nn_net_fit(nn_net *net, const nn_tensor *x, const nn_tensor *target,
                     const nn_fit_params *params, nn_fit_history *history)
{
    NN_CHECK_NULL(net);
    NN_CHECK_NULL(x);
    NN_CHECK_NULL(target);
    NN_CHECK_NULL(params);
    /* fit's own copy, checked once: on_epoch may hold a pointer to the caller's and
     * change it (turning shuffling on wrote through a NULL order array). */
    const nn_fit_params fit_params = *params;
    const nn_fit_params *p = &fit_params;
    nn_status st = check_fit_params(net, x, target, p);
    if (st != NN_OK)
        return st;
    if (history != NULL) {
        if (history->epochs == NULL && history->capacity > 0)
            return nn_error(NN_ERR_NULL_ARG, "nn_net_fit: history has capacity %zu but no array",
                            history->capacity);
        history->count = 0;
        history->best_epoch = 0;
        history->stopped_early = 0;
    }

    size_t n = x->shape[0], n_layers = net->n_layers;
    size_t bs = p->batch_size < n ? p->batch_size : n;
    size_t tw = target->shape[1];
    size_t n_batches = (n + bs - 1) / bs;
    int with_val = p->val_x != NULL;
    size_t *idx = NULL;
    float *xbuf = NULL, *tbuf = NULL, *best = NULL;
    /* Everything a step needs is allocated here, once: shuffled batches are gathered
     * into xbuf/tbuf, ordered ones are views of the caller's data. */
    size_t want = bs;
    if (with_val && chunk_rows(net, p->val_x->shape[0]) > want)
        want = chunk_rows(net, p->val_x->shape[0]); /* the validation passes' chunks */
    st = nn_net_reserve(net, want);
    if (st != NN_OK)
        nn_error_prefix(st, "nn_net_fit: the workspace for %zu rows", want);
    if (st == NN_OK && p->shuffle) {
        idx = nn_xcalloc(n, sizeof *idx);
        xbuf = nn_xcalloc(bs * net->in_width, sizeof(float));
        tbuf = nn_xcalloc(bs * tw, sizeof(float));
        if (idx == NULL || xbuf == NULL || tbuf == NULL)
            st = nn_error(NN_ERR_NOMEM, "nn_net_fit: cannot allocate shuffle buffers for %zu rows", n);
    }
    if (st == NN_OK && p->restore_best && net->n_scalars > 0) {
        best = nn_xcalloc(net->n_scalars, sizeof(float));
        if (best == NULL)
            st = nn_error(NN_ERR_NOMEM, "nn_net_fit: cannot allocate a copy of %zu parameters",
                          net->n_scalars);
    }

    /* Settings fit changes for its duration, put back when it returns: the clip norm,
     * and the learning rate when a schedule sets it. Without a schedule the rate is
     * left to the optimizer and on_epoch. The base rate is that of the optimizer
     * being scheduled: a new one set by on_epoch brings its own. */
    double base_lr = net->optim->lr;
    unsigned long optim_sets = net->optim_sets;
    double saved_clip = net->clip_norm;
    if (p->clip_grad_norm > 0.0)
        net->clip_norm = p->clip_grad_norm;

    /* Batches are views of x and target, or of the shuffle buffers, re-pointed per
     * batch (building a view per step showed at batch 1). */
    nn_tensor xb = nn_tensor_view2d(x->data, bs, net->in_width);
    nn_tensor tb = nn_tensor_view2d(target->data, bs, tw);

    progress pr;
    progress_begin(&pr, p, n_batches);
    /* The settings the batch loop tests, read once: the step is a call the compiler
     * cannot see through, so it would reload them from *p for every batch. (The
     * loss's reduction is read per epoch: on_epoch may change it.) */
    const int shuffle = p->shuffle != 0, accuracy = p->accuracy != 0;
    const int per_step = p->schedule != NULL && p->schedule_per_step;
    const int bar = pr.mode == NN_PROGRESS_BAR;
    double best_loss = INFINITY;
    size_t bad_epochs = 0, step = 0;
    for (size_t epoch = 0; st == NN_OK && epoch < p->epochs; epoch++) {
        /* The clock only when the epoch's time is shown or handed out. */
        int timed = pr.mode != NN_PROGRESS_OFF || history != NULL || p->on_epoch != NULL;
        pr.epoch_start = timed ? now_seconds() : 0.0;
        if (p->shuffle) {
            /* Fisher-Yates (Knuth, TAOCP vol. 2, Algorithm P) over the identity, as
             * nn_batch_iter does: an epoch's order depends only on the generator's state
             * when it starts, not on the orders before it (shuffling the last epoch's
             * order made one fit of k epochs differ from k fits of one epoch). */
            for (size_t i = 0; i < n; i++)
                idx[i] = i;
            for (size_t i = n - 1; i > 0; i--) {
                size_t j = nn_rng_below(p->rng, (uint32_t)(i + 1));
                size_t tmp = idx[i];
                idx[i] = idx[j];
                idx[j] = tmp;
            }
        }
        if (p->schedule != NULL && !p->schedule_per_step &&
            (st = scheduled_lr(net, p->schedule, base_lr, epoch)) != NN_OK) {
            nn_error_prefix(st, "nn_net_fit: epoch %zu", epoch + 1);
            break;
        }
        double sum = 0.0;
        size_t right = 0;
        const int mean = net->loss->reduction == NN_REDUCTION_MEAN;
        /* per epoch (on_epoch may set a loss), and only for the accuracy it serves */
        const float cut = accuracy ? nn_net_decision_cut(net) : 0.5f;
        /* Per-sample steps of a small network run in one loop (net_small.c): the
         * batch loop's bookkeeping and train_step's dispatch were 85 of a 2-2-1
         * update's 757 instructions. The plan and the optimizer's state are made
         * here when missing (on_epoch may have set a new loss or optimizer), as a
         * step would make them. */
        if (net->small_state < 0)
            nn_net_small_plan(net);
        if (bs == 1 && net->small_state == 1 && !accuracy && !per_step && !bar) {
            size_t failed = 0;
            if (!net->optim_ready)
                st = setup_optim(net);
            if (st == NN_OK)
                st = nn_net_small_fit_rows(net, x, target, shuffle ? idx : NULL, &sum, &failed);
            if (st != NN_OK)
                fit_error(st, epoch, failed);
        } else {
            for (size_t first = 0, batch = 0; st == NN_OK && first < n; first += bs, batch++, step++) {
                size_t rows = n - first < bs ? n - first : bs;
                if (shuffle) {
                    set_rows(&xb, xbuf, rows);
                    set_rows(&tb, tbuf, rows);
                    gather_rows(x, idx + first, rows, &xb);
                    gather_rows(target, idx + first, rows, &tb);
                } else {
                    set_rows(&xb, x->data + first * net->in_width, rows);
                    set_rows(&tb, target->data + first * tw, rows);
                }
                if (per_step)
                    st = scheduled_lr(net, p->schedule, base_lr, step);
                double loss;
                if (st == NN_OK)
                    st = train_step(net, &xb, &tb, &loss); /* shapes checked, workspace reserved */
                if (st == NN_OK && accuracy) {
                    /* Predictions of the forward pass before this step's update, as Keras reports. */
                    size_t c;
                    st = nn_count_correct_cut(&net->outs[n_layers - 1], &tb, cut, &c);
                    right += c;
                }
                if (st == NN_OK) {
                    sum += mean ? loss * (double)rows : loss;
                    if (bar)
                        progress_batch(&pr, epoch, batch, sum / (double)(first + rows), first + rows);
                } else {
                    fit_error(st, epoch, batch);
                }
            }
        }
        if (st != NN_OK)
            break;

        nn_epoch_stats e;
        e.epoch = epoch;
        e.train_loss = mean ? sum / (double)n : sum;
        e.train_acc = p->accuracy ? (double)right / (double)n : NAN;
        e.val_loss = e.val_acc = NAN;
        e.lr = net->optim->lr;
        if (with_val) {
            size_t val_right = 0;
            st = nn_net_eval_pass(NULL, net, p->val_x, p->val_target,
                                  chunk_rows(net, p->val_x->shape[0]), &e.val_loss,
                                  p->accuracy ? &val_right : NULL, NULL, 0);
            if (st != NN_OK) {
                nn_error_prefix(st, "nn_net_fit: validation after epoch %zu", epoch + 1);
                break;
            }
            if (p->accuracy)
                e.val_acc = (double)val_right / (double)p->val_x->shape[0];
        }
        e.seconds = timed ? now_seconds() - pr.epoch_start : 0.0;
        e.samples_per_s = e.seconds > 0 ? (double)n / e.seconds : 0.0;
        progress_epoch(&pr, &e);

        double monitored = with_val ? e.val_loss : e.train_loss;
        int stop = 0;
        if (monitored < best_loss) {
            best_loss = monitored;
            bad_epochs = 0;
            if (history != NULL)
                history->best_epoch = epoch;
            if (best != NULL)
                memcpy(best, net->param_block, net->n_scalars * sizeof(float));
        } else if (p->patience > 0 && ++bad_epochs >= p->patience) {
            stop = 1;
        }
        if (history != NULL && history->count < history->capacity)
            history->epochs[history->count++] = e;
        if (p->on_epoch != NULL) {
            if (p->on_epoch(net, &e, p->user) != 0)
                stop = 1;
            /* The steps rely on the shapes checked and the workspace reserved above. */
            if (net->n_layers != n_layers || net->target_width != tw || net->max_batch < bs ||
                net->optim == NULL) {
                st = nn_error(NN_ERR_STATE,
                              "nn_net_fit: on_epoch changed the network's layers or targets "
                              "after epoch %zu; fit stopped", epoch + 1);
                break;
            }
            if (net->optim_sets != optim_sets) { /* (the old one may be freed) */
                optim_sets = net->optim_sets;
                base_lr = net->optim->lr;
            }
        }
        if (stop) {
            if (history != NULL)
                history->stopped_early = epoch + 1 < p->epochs;
            break;
        }
    }
    if (pr.mode == NN_PROGRESS_BAR && st != NN_OK)
        fputc('\n', pr.out); /* leave the interrupted bar on its own line */
    /* The best epoch's parameters come back only after a clean run: after a failed
     * step the caller gets the last good step, as documented. */
    if (st == NN_OK && best != NULL && best_loss < INFINITY)
        memcpy(net->param_block, best, net->n_scalars * sizeof(float));
    /* The scheduled optimizer's own rate back; not into one that on_epoch set just
     * before fit stopped (its rate was never scheduled). */
    if (p->schedule != NULL && net->optim_sets == optim_sets)
        net->optim->lr = base_lr;
    net->clip_norm = saved_clip;
    /* A last forward pass on a batch gathered into xbuf cannot be gone back through
     * once xbuf is freed (nn_net_backward would read it). */
    if (xbuf != NULL && net->x_last.data == xbuf)
        nn_net_forget_input(net);
    nn_xfree(idx);
    nn_xfree(xbuf);
    nn_xfree(tbuf);
    nn_xfree(best);
    return st;
}

static const char *csv_field(char *buf, size_t size, double v, const char *fmt)
{
    if (isnan(v))
        buf[0] = '\0';
    else
        snprintf(buf, size, fmt, v);
    return buf;
}

nn_status nn_fit_history_write_csv(const nn_fit_history *history, const char *path)
{
    NN_CHECK_NULL(history);
    NN_CHECK_NULL(path);
    if (history->count > 0 && history->epochs == NULL)
        return nn_error(NN_ERR_NULL_ARG, "nn_fit_history_write_csv: history has no epoch array");
    /* The text is made in memory, measured first, then written as model files are
     * (file.c): the old file stays until the new one is complete. */
    static const char head[] = "epoch,train_loss,train_acc,val_loss,val_acc,lr,seconds,samples_per_s\n";
    char *text = NULL;
    size_t cap = 0, len = 0;
    for (int pass = 0; pass < 2; pass++) {
        len = (size_t)snprintf(text, cap, "%s", head);
        for (size_t i = 0; i < history->count; i++) {
            const nn_epoch_stats *e = &history->epochs[i];
            char a[32], b[32], c[32], d[32];
            int n = snprintf(text != NULL ? text + len : NULL, text != NULL ? cap - len : 0,
                             "%zu,%s,%s,%s,%s,%.9g,%.6f,%.1f\n", e->epoch + 1,
                             csv_field(a, sizeof a, e->train_loss, "%.9g"),
                             csv_field(b, sizeof b, e->train_acc, "%.6f"),
                             csv_field(c, sizeof c, e->val_loss, "%.9g"),
                             csv_field(d, sizeof d, e->val_acc, "%.6f"), e->lr, e->seconds,
                             e->samples_per_s);
            len += (size_t)n;
        }
        if (pass == 0) {
            cap = len + 1;
            text = nn_xalloc(cap);
            if (text == NULL)
                return nn_error(NN_ERR_NOMEM, "nn_fit_history_write_csv: out of memory for %zu bytes",
                                cap);
        }
    }
    nn_status st = nn_write_file_atomic("nn_fit_history_write_csv", path, text, len);
    nn_xfree(text);
    return st;
}

nn_status nn_net_check_grads(nn_net *net, const nn_tensor *x, const nn_tensor *target, double eps,
                             double *max_err)
{
    NN_CHECK_NULL(net);
    NN_CHECK_NULL(max_err);
    if (!(eps > 0.0))
        return nn_error(NN_ERR_INVALID_ARG, "nn_net_check_grads: eps %g must be > 0", eps);
    nn_status st = nn_net_compute_grads(net, x, target, NULL);
    if (st != NN_OK)
        return st;
    double worst = 0.0;
    for (size_t i = 0; i < net->n_scalars; i++) {
        float saved = net->param_block[i];
        double lp, lm;
        net->param_block[i] = (float)(saved + eps);
        /* The step actually taken, after rounding to float, is what divides. */
        double hp = (double)net->param_block[i] - saved;
        st = nn_net_eval_loss(net, x, target, &lp);
        net->param_block[i] = (float)(saved - eps);
        double hm = saved - (double)net->param_block[i];
        if (st == NN_OK)
            st = nn_net_eval_loss(net, x, target, &lm);
        net->param_block[i] = saved;
        if (st != NN_OK)
            return st;
        /* A step that rounds away (eps below half an ulp of the parameter) or to Inf
         * measures nothing: 0/0 gave NaN errors, which the comparison below dropped,
         * and a check of nothing reported 0. */
        if (!(hp + hm > 0.0) || !isfinite(hp + hm))
            return nn_error(NN_ERR_INVALID_ARG,
                            "nn_net_check_grads: eps %g does not move parameter %zu (%g) as a "
                            "float", eps, i, (double)saved);
        double numeric = (lp - lm) / (hp + hm);
        double analytic = net->grad_block[i];
        double scale = fmax(1.0, fmax(fabs(analytic), fabs(numeric)));
        double err = fabs(analytic - numeric) / scale;
        if (isnan(err) || err > worst) /* a NaN (a loss not finite at the steps) stays */
            worst = err;
    }
    *max_err = worst;
    return NN_OK;
}
