/* optim.c - the generic optimizer interface, the built-in optimizers and gradient
 * clipping.
 *
 * The updates transcribe torch 1.13's torch/optim/<name>.py, _single_tensor_<name>,
 * one tensor operation at a time and in the same order, because float32 rounding
 * depends on the order. Two ATen CPU kernels round once where the Python reads as
 * two operations, and are mirrored with fmaf:
 *   a.add(b, alpha=s)      is vec::fmadd(b, s, a) (aten/src/ATen/native/ufunc/add.h)
 *   a.addcmul(b, c, value=s) is s * b * c + a, which GCC contracts to
 *                          fma(s * b, c, a) in torch's AVX2 kernels
 * (a plain a + s * b would differ from torch by an ulp in about one element in
 * three). addcdiv (a + s * b / c) and mul/div by a scalar round as written. Python
 * scalars enter those kernels rounded to float, hence the (float) casts of values
 * torch computes in double (1 - beta1, lr / bias_correction1, ...).
 */
#include <math.h>
#include <string.h>

#include "internal.h"
#include "nn/optim.h"

static nn_status check_lr(const char *fn, double lr)
{
    if (!isfinite(lr) || lr < 0.0)
        return nn_error(NN_ERR_INVALID_ARG, "%s: lr %g is not a finite value >= 0", fn, lr);
    return NN_OK;
}

nn_status nn_optim_new(const nn_optim_ops *ops, void *impl, double lr, nn_optim **out)
{
    NN_CHECK_NULL(out);
    *out = NULL;
    NN_CHECK_NULL(ops);
    if (ops->name == NULL || ops->step == NULL)
        return nn_error(NN_ERR_NULL_ARG, "nn_optim_new: optimizer ops '%s' lack name or step",
                        ops->name ? ops->name : "(unnamed)");
    nn_status st = check_lr(__func__, lr);
    if (st != NN_OK)
        return st;
    nn_optim *o = nn_xalloc(sizeof *o);
    if (o == NULL)
        return nn_error(NN_ERR_NOMEM, "nn_optim_new: cannot allocate a '%s' optimizer", ops->name);
    o->ops = ops;
    o->impl = impl;
    o->lr = lr;
    o->owner = NULL;
    o->step_count = 0;
    *out = o;
    return NN_OK;
}

void nn_optim_free(nn_optim *o)
{
    if (o == NULL)
        return;
    if (o->ops->destroy != NULL)
        o->ops->destroy(o);
    nn_xfree(o);
}

nn_status nn_optim_set_lr(nn_optim *o, double lr)
{
    NN_CHECK_NULL(o);
    nn_status st = check_lr(__func__, lr);
    if (st == NN_OK)
        o->lr = lr;
    return st;
}

nn_status nn_optim_setup(nn_optim *o, const nn_tensor *params, size_t n)
{
    NN_CHECK_NULL(o);
    if (n > 0)
        NN_CHECK_NULL(params);
    if (o->ops->setup == NULL)
        return NN_OK;
    unsigned long seq = nn_error_seq();
    return nn_error_if_silent(o->ops->setup(o, params, n), seq,
                              "nn_optim_setup: optimizer '%s' failed for %zu parameters", o->ops->name, n);
}

nn_status nn_optim_step(nn_optim *o, nn_tensor *params, const nn_tensor *grads, size_t n)
{
    NN_CHECK_NULL(o);
    if (n > 0) {
        NN_CHECK_NULL(params);
        NN_CHECK_NULL(grads);
    }
    for (size_t i = 0; i < n; i++)
        if (!nn_tensor_same_shape(&params[i], &grads[i]))
            return nn_error(NN_ERR_SHAPE,
                            "nn_optim_step: parameter %zu has %zu elements, its gradient %zu", i,
                            params[i].size, grads[i].size);
    /* A user's step sees step_count 1 on the first step: it must not wrap to 0. */
    if (o->step_count == UINT64_MAX)
        return nn_error(NN_ERR_STATE, "nn_optim_step: '%s' has counted %llu steps, the most it can",
                        o->ops->name, (unsigned long long)o->step_count);
    o->step_count++;
    unsigned long seq = nn_error_seq();
    nn_status st = nn_error_if_silent(o->ops->step(o, params, grads, n), seq,
                                      "nn_optim_step: optimizer '%s' failed", o->ops->name);
    if (st != NN_OK)
        o->step_count--;
    return st;
}

nn_status nn_optim_state(nn_optim *o, const char *name, size_t i, nn_tensor *view)
{
    NN_CHECK_NULL(o);
    NN_CHECK_NULL(name);
    NN_CHECK_NULL(view);
    if (o->ops->state == NULL)
        return nn_error(NN_ERR_STATE, "nn_optim_state: optimizer '%s' exposes no state",
                        o->ops->name);
    unsigned long seq = nn_error_seq(); /* a user optimizer may fail without a message */
    return nn_error_if_silent(o->ops->state(o, name, i, view), seq,
                              "nn_optim_state: optimizer '%s' has no state '%s' for tensor %zu",
                              o->ops->name, name, i);
}

/* ---- the built-in optimizers' common part ----------------------------------------- */

/* State buffers per parameter element; which ones exist depends on the kind and
 * its settings (slot_name, slot_used). */
#define MAX_SLOTS 3

typedef struct builtin {
    nn_optim_kind kind;
    union {
        nn_sgd_params sgd;
        nn_adam_params adam; /* Adam and AdamW */
        nn_rmsprop_params rmsprop;
        nn_adagrad_params adagrad;
    } p;

    /* The state for the parameter list of the last setup, all in one block:
     *   shapes  (n)       the parameters' shapes (views with data NULL)
     *   slot[s] (total)   one float per parameter element for each used slot; parameter
     *                     i's part starts at the sum of the sizes before it */
    void *block;
    nn_tensor *shapes;
    size_t n;
    size_t total;
    float *slot[MAX_SLOTS];
    int ready;  /* 1 after a successful setup */
    uint64_t t; /* steps since setup: torch's state['step'] */
} builtin;

/* torch's name for slot s of a kind (the key in optimizer.state[p]), NULL if none. */
static const char *slot_name(nn_optim_kind kind, int s)
{
    static const char *const sgd[MAX_SLOTS] = {"momentum_buffer", NULL, NULL};
    static const char *const adam[MAX_SLOTS] = {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"};
    static const char *const rmsprop[MAX_SLOTS] = {"square_avg", "momentum_buffer", "grad_avg"};
    static const char *const adagrad[MAX_SLOTS] = {"sum", NULL, NULL};
    switch (kind) {
    case NN_OPTIM_SGD:
        return sgd[s];
    case NN_OPTIM_ADAM:
    case NN_OPTIM_ADAMW:
        return adam[s];
    case NN_OPTIM_RMSPROP:
        return rmsprop[s];
    case NN_OPTIM_ADAGRAD:
        return adagrad[s];
    }
    return NULL;
}

/* Whether slot s is kept with these settings (torch creates the same buffers). */
static int slot_used(const builtin *b, int s)
{
    switch (b->kind) {
    case NN_OPTIM_SGD:
        return s == 0 && b->p.sgd.momentum != 0.0;
    case NN_OPTIM_ADAM:
    case NN_OPTIM_ADAMW:
        return s < 2 || b->p.adam.amsgrad;
    case NN_OPTIM_RMSPROP:
        return s == 0 || (s == 1 && b->p.rmsprop.momentum > 0.0) ||
               (s == 2 && b->p.rmsprop.centered);
    case NN_OPTIM_ADAGRAD:
        return s == 0;
    }
    return 0;
}

static void builtin_release(builtin *b)
{
    nn_xfree(b->block);
    b->block = NULL;
    b->shapes = NULL;
    b->n = 0;
    b->total = 0;
    for (int s = 0; s < MAX_SLOTS; s++)
        b->slot[s] = NULL;
    b->ready = 0;
    b->t = 0;
}

static nn_status builtin_setup(nn_optim *o, const nn_tensor *params, size_t n)
{
    builtin *b = o->impl;
    const char *fn = "nn_optim_setup";
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (params[i].size > SIZE_MAX - total)
            return nn_error(NN_ERR_NOMEM, "%s: '%s' state for %zu tensors is too large", fn,
                            o->ops->name, n);
        total += params[i].size;
    }
    int used = 0;
    for (int s = 0; s < MAX_SLOTS; s++)
        used += slot_used(b, s);
    /* The shapes come first: nn_tensor's alignment is at least float's. */
    size_t head = n * sizeof(nn_tensor);
    if (n > SIZE_MAX / sizeof(nn_tensor) ||
        (used && total > (SIZE_MAX - head) / sizeof(float) / used))
        return nn_error(NN_ERR_NOMEM, "%s: '%s' state for %zu elements is too large", fn,
                        o->ops->name, total);
    size_t bytes = head + (size_t)used * total * sizeof(float);
    /* Allocate before releasing, so that a failure leaves the old state usable. */
    void *block = NULL;
    if (bytes > 0) {
        block = nn_xalloc(bytes);
        if (block == NULL)
            return nn_error(NN_ERR_NOMEM,
                            "%s: cannot allocate '%s' state for %zu elements (%zu bytes)", fn,
                            o->ops->name, total, bytes);
    }
    builtin_release(b);
    b->block = block;
    b->shapes = block;
    b->n = n;
    b->total = total;
    float *next = block != NULL ? (float *)((char *)block + head) : NULL; /* no NULL + 0 */
    for (int s = 0; s < MAX_SLOTS && next != NULL; s++) {
        if (!slot_used(b, s) || total == 0)
            continue;
        b->slot[s] = next;
        next += total;
    }
    for (size_t i = 0; i < n; i++) {
        b->shapes[i] = params[i];
        b->shapes[i].data = NULL;
        b->shapes[i].owns_data = 0;
    }
    /* torch's initial state: zeros, except Adagrad's sum (initial_accumulator_value). */
    for (int s = 0; s < MAX_SLOTS; s++)
        if (b->slot[s] != NULL)
            memset(b->slot[s], 0, total * sizeof(float));
    if (b->kind == NN_OPTIM_ADAGRAD) {
        float init = (float)b->p.adagrad.initial_accumulator_value;
        for (size_t k = 0; k < total; k++)
            b->slot[0][k] = init;
    }
    b->ready = 1;
    b->t = 0;
    return NN_OK;
}

/* Checks, before any write, that the list is the one set up. An optimizer without
 * state (SGD without momentum) takes any list, set up or not, as it always has. */
static nn_status builtin_check(const nn_optim *o, const nn_tensor *params, size_t n,
                               int needs_state)
{
    const builtin *b = o->impl;
    const char *fn = "nn_optim_step";
    if (!needs_state)
        return NN_OK;
    if (!b->ready)
        return nn_error(NN_ERR_STATE,
                        "%s: '%s' keeps state and needs nn_optim_setup before its first step", fn,
                        o->ops->name);
    if (n != b->n)
        return nn_error(NN_ERR_STATE, "%s: '%s' was set up for %zu tensors, stepped with %zu", fn,
                        o->ops->name, b->n, n);
    /* The step counts t up: from the largest count it would wrap to 0, and Adam's bias
     * correction 1 - beta^0 = 0 would divide every update by zero. */
    if (b->t == UINT64_MAX)
        return nn_error(NN_ERR_STATE, "%s: '%s' has counted %llu steps, the most it can", fn,
                        o->ops->name, (unsigned long long)b->t);
    for (size_t i = 0; i < n; i++)
        if (!nn_tensor_same_shape(&params[i], &b->shapes[i]))
            return nn_error(NN_ERR_SHAPE,
                            "%s: parameter %zu has %zu elements, '%s' was set up for %zu", fn, i,
                            params[i].size, o->ops->name, b->shapes[i].size);
    return NN_OK;
}

static nn_status builtin_state(nn_optim *o, const char *name, size_t i, nn_tensor *view)
{
    builtin *b = o->impl;
    const char *fn = "nn_optim_state";
    if (!b->ready)
        return nn_error(NN_ERR_STATE, "%s: '%s' has not been set up", fn, o->ops->name);
    if (i >= b->n)
        return nn_error(NN_ERR_INVALID_ARG, "%s: parameter %zu of '%s', which was set up for %zu",
                        fn, i, o->ops->name, b->n);
    for (int s = 0; s < MAX_SLOTS; s++) {
        const char *sname = slot_name(b->kind, s);
        if (b->slot[s] == NULL || sname == NULL || strcmp(sname, name) != 0)
            continue;
        size_t off = 0;
        for (size_t j = 0; j < i; j++)
            off += b->shapes[j].size;
        *view = b->shapes[i];
        view->data = b->slot[s] + off;
        return NN_OK;
    }
    return nn_error(NN_ERR_INVALID_ARG, "%s: '%s' with these settings keeps no state '%s'", fn,
                    o->ops->name, name);
}

static void builtin_destroy(nn_optim *o)
{
    builtin *b = o->impl;
    builtin_release(b);
    nn_xfree(b);
}

/* Wraps a filled-in builtin (already validated) into an optimizer; frees it on failure. */
static nn_status builtin_new(const nn_optim_ops *ops, const builtin *proto, double lr,
                             nn_optim **out)
{
    builtin *b = nn_xalloc(sizeof *b);
    if (b == NULL)
        return nn_error(NN_ERR_NOMEM, "nn_optim_%s_new: cannot allocate the optimizer", ops->name);
    *b = *proto;
    nn_status st = nn_optim_new(ops, b, lr, out);
    if (st != NN_OK)
        nn_xfree(b);
    return st;
}

/* A hyper-parameter must be finite and >= 0. */
static nn_status check_nonneg(const char *fn, const char *field, double v)
{
    if (!isfinite(v) || v < 0.0)
        return nn_error(NN_ERR_INVALID_ARG, "%s: %s %g is not a finite value >= 0", fn, field, v);
    return NN_OK;
}

/* ---- SGD ------------------------------------------------------------------------------ */

/* The optimizers' loops are built twice (NN_FMA_CLONES, internal.h): without -mfma
 * every fmaf below was a call into libm (a quarter of an MLP epoch at batch 64).
 * fmaf is correctly rounded either way, so both give the same bits. */

/* Up to this many parameters, sgd_plain_block updates one float at a time. A small
 * network's gradients were just written one float at a time, and a vector load over
 * several such stores waits until they reach the cache, where a load of one float is
 * served from its store: a 2-2-1 update took 74.5 ns with vectors, 68.9 without. */
#define SGD_SCALAR_MAX 32

/* p[k] -= lr g[k], k < n: SGD without momentum or weight decay, as param.add_(grad,
 * alpha=-lr). Used per tensor by sgd_step and over a network's whole parameter block
 * by nn_optim_sgd_block. Parameters and gradients are separate buffers: restrict
 * spares a test for overlap per call (4 of a 2-2-1 update's 621 instructions). */
NN_FMA_CLONES
static void sgd_plain_block(float *restrict p, const float *restrict g, size_t n, float neg_lr)
{
    if (n <= SGD_SCALAR_MAX) {
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC unroll 4
#endif
        for (size_t k = 0; k < n; k++) {
            float v = fmaf(g[k], neg_lr, p[k]);
#if defined(__GNUC__) && defined(__SSE__)
            __asm__("" : "+x"(v)); /* an empty barrier: keeps the loop from being vectorised */
#endif
            p[k] = v;
        }
        return;
    }
    /* The multiple of NN_BLOCK_ALIGN first, in whole vectors, then the rest. */
    size_t whole = n & ~(size_t)(NN_BLOCK_ALIGN - 1), k = 0;
    for (; k < whole; k++)
        p[k] = fmaf(g[k], neg_lr, p[k]);
    for (; k < n; k++)
        p[k] = fmaf(g[k], neg_lr, p[k]);
}

/* SGD without momentum and weight decay: the update is sgd_plain_block alone. */
static int sgd_is_plain(const nn_sgd_params *hp)
{
    return hp->momentum == 0.0 && hp->weight_decay == 0.0;
}

NN_FMA_CLONES
static nn_status sgd_step(nn_optim *o, nn_tensor *params, const nn_tensor *grads, size_t n)
{
    builtin *b = o->impl;
    const nn_sgd_params *hp = &b->p.sgd;
    int has_momentum = hp->momentum != 0.0;
    nn_status st = builtin_check(o, params, n, has_momentum);
    if (st != NN_OK)
        return st;
    int first = b->t == 0; /* the momentum buffer starts as a copy of d_p */
    b->t += b->t < UINT64_MAX; /* plain SGD does not use it: it stops, not wraps */
    float wd = (float)hp->weight_decay, mu = (float)hp->momentum;
    float damp = (float)(1.0 - hp->dampening), neg_lr = (float)-o->lr;
    if (sgd_is_plain(hp)) {
        for (size_t i = 0; i < n; i++)
            sgd_plain_block(params[i].data, grads[i].data, params[i].size, neg_lr);
        return NN_OK;
    }
    float *buf = b->slot[0];
    for (size_t i = 0; i < n; i++) {
        float *p = params[i].data;
        const float *g = grads[i].data;
        for (size_t k = 0; k < params[i].size; k++) {
            float d = g[k];
            if (hp->weight_decay != 0.0)
                d = fmaf(p[k], wd, d); /* d_p.add(param, alpha=weight_decay) */
            if (has_momentum) {
                float v = first ? d : fmaf(d, damp, buf[k] * mu);
                buf[k] = v;
                d = hp->nesterov ? fmaf(v, mu, d) : v;
            }
            p[k] = fmaf(d, neg_lr, p[k]); /* param.add_(d_p, alpha=-lr) */
        }
        if (has_momentum)
            buf += params[i].size;
    }
    return NN_OK;
}

static const nn_optim_ops sgd_ops = {
    .name = "sgd",
    .setup = builtin_setup,
    .step = sgd_step,
    .destroy = builtin_destroy,
    .state = builtin_state,
};

int nn_optim_is_plain_sgd(const nn_optim *o)
{
    return o->ops == &sgd_ops && sgd_is_plain(&((const builtin *)o->impl)->p.sgd);
}

void nn_optim_sgd_plain_block(nn_optim *o, float *params, const float *grads, size_t n)
{
    NN_ASSERT(nn_optim_is_plain_sgd(o));
    builtin *b = o->impl;
    /* The counts nn_optim_step and sgd_step keep, so the saved state is the same
     * (stopping at the largest, as they do: plain SGD does not use them). */
    o->step_count += o->step_count < UINT64_MAX;
    b->t += b->t < UINT64_MAX;
    sgd_plain_block(params, grads, n, (float)-o->lr);
}

int nn_optim_sgd_block(nn_optim *o, float *params, const float *grads, size_t n)
{
    if (!nn_optim_is_plain_sgd(o))
        return 0;
    nn_optim_sgd_plain_block(o, params, grads, n);
    return 1;
}

nn_sgd_params nn_sgd_default_params(void)
{
    nn_sgd_params p;
    memset(&p, 0, sizeof p);
    p.lr = 0.01;
    return p;
}

nn_status nn_optim_sgd_new_ex(const nn_sgd_params *params, nn_optim **out)
{
    NN_CHECK_NULL(out);
    *out = NULL;
    NN_CHECK_NULL(params);
    const char *fn = "nn_optim_sgd_new_ex";
    nn_status st = check_lr(fn, params->lr);
    if (st == NN_OK)
        st = check_nonneg(fn, "momentum", params->momentum);
    if (st == NN_OK)
        st = check_nonneg(fn, "weight_decay", params->weight_decay);
    if (st == NN_OK && !isfinite(params->dampening))
        st = nn_error(NN_ERR_INVALID_ARG, "%s: dampening %g is not finite", fn, params->dampening);
    if (st == NN_OK && params->nesterov && (params->momentum <= 0.0 || params->dampening != 0.0))
        st = nn_error(NN_ERR_INVALID_ARG,
                      "%s: nesterov needs momentum > 0 and dampening 0 (momentum %g, dampening %g)",
                      fn, params->momentum, params->dampening);
    if (st != NN_OK)
        return st;
    builtin proto = {.kind = NN_OPTIM_SGD};
    proto.p.sgd = *params;
    proto.p.sgd.nesterov = params->nesterov != 0;
    return builtin_new(&sgd_ops, &proto, params->lr, out);
}

nn_status nn_optim_sgd_new(double lr, nn_optim **out)
{
    nn_sgd_params p = nn_sgd_default_params();
    p.lr = lr;
    return nn_optim_sgd_new_ex(&p, out);
}

/* ---- Adam and AdamW -------------------------------------------------------------------- */

/* Adam (decoupled == 0) and AdamW (decoupled == 1) differ only in where the weight
 * decay goes: into the gradient, or as a shrinking of the parameter. */
/* Adam's (and AdamW's) update of one tensor without AMSGrad, the common case, in a
 * function of its own with restrict pointers and no per-element branches, so it can
 * be vectorised. fmaf is torch's rounding (see above); without FMA instructions in
 * the target it is a libm call per element that stops vectorisation (measured: Adam
 * 35% slower than SGD per epoch at batch 256), so on x86-64 GCC also builds an FMA
 * clone chosen at load time. Both clones compute the same fused results, bit for
 * bit: the choice changes speed only. shrink is 1 - lr wd for AdamW (else 1, which
 * multiplies exactly); l2 says whether wd is added to the gradient (Adam's weight
 * decay): a test, not a multiply by 0, which would turn -0 gradients into +0. The
 * test is the same for every element, so the compiler hoists it out of the loop. */
NN_FMA_CLONES
static void adam_update(size_t count, float *restrict p, const float *restrict g,
                        float *restrict m, float *restrict v, float shrink, int l2, float wd, float beta1,
                        float one_m_beta1, float beta2, float one_m_beta2, float bc2_sqrt,
                        float eps, float neg_step_size)
{
    for (size_t k = 0; k < count; k++) {
        float pk = p[k] * shrink;           /* param.mul_(1 - lr * weight_decay) */
        float gk = l2 ? fmaf(pk, wd, g[k]) : g[k]; /* grad.add(param, alpha=weight_decay) */
        float mk = fmaf(gk, one_m_beta1, m[k] * beta1);
        float vk = fmaf(one_m_beta2 * gk, gk, v[k] * beta2);
        m[k] = mk;
        v[k] = vk;
        float denom = sqrtf(vk) / bc2_sqrt + eps;
        p[k] = pk + neg_step_size * mk / denom; /* addcdiv_(exp_avg, denom, value=-step_size) */
    }
}

NN_FMA_CLONES
static nn_status adam_step(nn_optim *o, nn_tensor *params, const nn_tensor *grads, size_t n)
{
    builtin *b = o->impl;
    const nn_adam_params *hp = &b->p.adam;
    nn_status st = builtin_check(o, params, n, 1);
    if (st != NN_OK)
        return st;
    int decoupled = b->kind == NN_OPTIM_ADAMW;
    double t = (double)++b->t;
    double bias_correction1 = 1.0 - pow(hp->betas[0], t);
    double bias_correction2 = 1.0 - pow(hp->betas[1], t);
    float neg_step_size = (float)-(o->lr / bias_correction1);
    float bc2_sqrt = (float)sqrt(bias_correction2);
    float beta1 = (float)hp->betas[0], one_m_beta1 = (float)(1.0 - hp->betas[0]);
    float beta2 = (float)hp->betas[1], one_m_beta2 = (float)(1.0 - hp->betas[1]);
    float eps = (float)hp->eps, wd = (float)hp->weight_decay;
    float shrink = (float)(1.0 - o->lr * hp->weight_decay); /* AdamW */
    int l2 = !decoupled && hp->weight_decay != 0.0;
    float *m = b->slot[0], *v = b->slot[1], *vmax = b->slot[2];
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        float *p = params[i].data;
        const float *g = grads[i].data;
        if (vmax == NULL) {
            adam_update(params[i].size, p, g, m + off, v + off, decoupled ? shrink : 1.0f, l2,
                        wd, beta1, one_m_beta1, beta2, one_m_beta2, bc2_sqrt, eps,
                        neg_step_size);
            off += params[i].size;
            continue;
        }
        for (size_t k = 0, j = off; k < params[i].size; k++, j++) {
            float gk = g[k];
            if (decoupled)
                p[k] *= shrink; /* param.mul_(1 - lr * weight_decay) */
            else if (l2)
                gk = fmaf(p[k], wd, gk);
            m[j] = fmaf(gk, one_m_beta1, m[j] * beta1);
            v[j] = fmaf(one_m_beta2 * gk, gk, v[j] * beta2);
            float vhat = v[j];
            /* torch.maximum, which propagates NaN */
            if (isnan(vhat) || vhat > vmax[j])
                vmax[j] = vhat;
            vhat = vmax[j];
            float denom = sqrtf(vhat) / bc2_sqrt + eps;
            p[k] = p[k] +
                   neg_step_size * m[j] / denom; /* addcdiv_(exp_avg, denom, value=-step_size) */
        }
        off += params[i].size;
    }
    return NN_OK;
}

static const nn_optim_ops adam_ops = {
    .name = "adam",
    .setup = builtin_setup,
    .step = adam_step,
    .destroy = builtin_destroy,
    .state = builtin_state,
};

static const nn_optim_ops adamw_ops = {
    .name = "adamw",
    .setup = builtin_setup,
    .step = adam_step,
    .destroy = builtin_destroy,
    .state = builtin_state,
};

nn_adam_params nn_adam_default_params(void)
{
    nn_adam_params p;
    memset(&p, 0, sizeof p);
    p.lr = 1e-3;
    p.betas[0] = 0.9;
    p.betas[1] = 0.999;
    p.eps = 1e-8;
    p.weight_decay = 0.0;
    p.amsgrad = 0;
    return p;
}

nn_adamw_params nn_adamw_default_params(void)
{
    nn_adamw_params p = nn_adam_default_params();
    p.weight_decay = 1e-2;
    return p;
}

static nn_status adam_new(nn_optim_kind kind, const char *fn, const nn_adam_params *params,
                          nn_optim **out)
{
    NN_CHECK_NULL_IN(fn, out);
    *out = NULL;
    NN_CHECK_NULL_IN(fn, params);
    nn_status st = check_lr(fn, params->lr);
    for (int i = 0; st == NN_OK && i < 2; i++)
        if (!(params->betas[i] >= 0.0 && params->betas[i] < 1.0))
            st = nn_error(NN_ERR_INVALID_ARG, "%s: betas[%d] (beta%d) %g is outside [0, 1)", fn, i, i + 1,
                          params->betas[i]);
    if (st == NN_OK)
        st = check_nonneg(fn, "eps", params->eps);
    if (st == NN_OK)
        st = check_nonneg(fn, "weight_decay", params->weight_decay);
    if (st != NN_OK)
        return st;
    builtin proto = {.kind = kind};
    proto.p.adam = *params;
    proto.p.adam.amsgrad = params->amsgrad != 0;
    return builtin_new(kind == NN_OPTIM_ADAMW ? &adamw_ops : &adam_ops, &proto, params->lr, out);
}

nn_status nn_optim_adam_new_ex(const nn_adam_params *params, nn_optim **out)
{
    return adam_new(NN_OPTIM_ADAM, "nn_optim_adam_new_ex", params, out);
}

nn_status nn_optim_adamw_new_ex(const nn_adamw_params *params, nn_optim **out)
{
    return adam_new(NN_OPTIM_ADAMW, "nn_optim_adamw_new_ex", params, out);
}

/* ---- RMSprop ---------------------------------------------------------------------------- */

static nn_status rmsprop_step(nn_optim *o, nn_tensor *params, const nn_tensor *grads, size_t n)
{
    builtin *b = o->impl;
    const nn_rmsprop_params *hp = &b->p.rmsprop;
    nn_status st = builtin_check(o, params, n, 1);
    if (st != NN_OK)
        return st;
    b->t++;
    float alpha = (float)hp->alpha, one_m_alpha = (float)(1.0 - hp->alpha);
    float eps = (float)hp->eps, wd = (float)hp->weight_decay, mu = (float)hp->momentum;
    float neg_lr = (float)-o->lr;
    float *sq = b->slot[0], *buf = b->slot[1], *avg_g = b->slot[2];
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        float *p = params[i].data;
        const float *g = grads[i].data;
        for (size_t k = 0, j = off; k < params[i].size; k++, j++) {
            float gk = g[k];
            if (hp->weight_decay != 0.0)
                gk = fmaf(p[k], wd, gk);
            sq[j] = fmaf(one_m_alpha * gk, gk, sq[j] * alpha);
            float avg;
            if (avg_g != NULL) { /* centered: square_avg.addcmul(grad_avg, grad_avg, value=-1) */
                avg_g[j] = fmaf(gk, one_m_alpha, avg_g[j] * alpha);
                avg = sqrtf(fmaf(-avg_g[j], avg_g[j], sq[j]));
            } else {
                avg = sqrtf(sq[j]);
            }
            avg = avg + eps;
            if (buf != NULL) {
                buf[j] = buf[j] * mu + gk / avg; /* buf.mul_(momentum).addcdiv_(grad, avg) */
                p[k] = fmaf(buf[j], neg_lr, p[k]);
            } else {
                p[k] = p[k] + neg_lr * gk / avg;
            }
        }
        off += params[i].size;
    }
    return NN_OK;
}

static const nn_optim_ops rmsprop_ops = {
    .name = "rmsprop",
    .setup = builtin_setup,
    .step = rmsprop_step,
    .destroy = builtin_destroy,
    .state = builtin_state,
};

nn_rmsprop_params nn_rmsprop_default_params(void)
{
    nn_rmsprop_params p;
    memset(&p, 0, sizeof p);
    p.lr = 1e-2;
    p.alpha = 0.99;
    p.eps = 1e-8;
    return p;
}

nn_status nn_optim_rmsprop_new_ex(const nn_rmsprop_params *params, nn_optim **out)
{
    NN_CHECK_NULL(out);
    *out = NULL;
    NN_CHECK_NULL(params);
    const char *fn = "nn_optim_rmsprop_new_ex";
    nn_status st = check_lr(fn, params->lr);
    if (st == NN_OK && !(params->alpha >= 0.0 && params->alpha <= 1.0))
        st = nn_error(NN_ERR_INVALID_ARG, "%s: alpha %g is outside [0, 1]", fn, params->alpha);
    if (st == NN_OK)
        st = check_nonneg(fn, "eps", params->eps);
    if (st == NN_OK)
        st = check_nonneg(fn, "weight_decay", params->weight_decay);
    if (st == NN_OK)
        st = check_nonneg(fn, "momentum", params->momentum);
    if (st != NN_OK)
        return st;
    builtin proto = {.kind = NN_OPTIM_RMSPROP};
    proto.p.rmsprop = *params;
    proto.p.rmsprop.centered = params->centered != 0;
    return builtin_new(&rmsprop_ops, &proto, params->lr, out);
}

/* ---- Adagrad --------------------------------------------------------------------------- */

static nn_status adagrad_step(nn_optim *o, nn_tensor *params, const nn_tensor *grads, size_t n)
{
    builtin *b = o->impl;
    const nn_adagrad_params *hp = &b->p.adagrad;
    nn_status st = builtin_check(o, params, n, 1);
    if (st != NN_OK)
        return st;
    double t = (double)++b->t;
    float neg_clr = (float)-(o->lr / (1.0 + (t - 1.0) * hp->lr_decay));
    float eps = (float)hp->eps, wd = (float)hp->weight_decay;
    float *sum = b->slot[0];
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        float *p = params[i].data;
        const float *g = grads[i].data;
        for (size_t k = 0, j = off; k < params[i].size; k++, j++) {
            float gk = g[k];
            if (hp->weight_decay != 0.0)
                gk = fmaf(p[k], wd, gk);
            sum[j] = fmaf(gk, gk, sum[j]); /* state_sum.addcmul_(grad, grad, value=1) */
            float std = sqrtf(sum[j]) + eps;
            p[k] = p[k] + neg_clr * gk / std;
        }
        off += params[i].size;
    }
    return NN_OK;
}

static const nn_optim_ops adagrad_ops = {
    .name = "adagrad",
    .setup = builtin_setup,
    .step = adagrad_step,
    .destroy = builtin_destroy,
    .state = builtin_state,
};

nn_adagrad_params nn_adagrad_default_params(void)
{
    nn_adagrad_params p;
    memset(&p, 0, sizeof p);
    p.lr = 1e-2;
    p.eps = 1e-10;
    return p;
}

nn_status nn_optim_adagrad_new_ex(const nn_adagrad_params *params, nn_optim **out)
{
    NN_CHECK_NULL(out);
    *out = NULL;
    NN_CHECK_NULL(params);
    const char *fn = "nn_optim_adagrad_new_ex";
    nn_status st = check_lr(fn, params->lr);
    if (st == NN_OK)
        st = check_nonneg(fn, "lr_decay", params->lr_decay);
    if (st == NN_OK)
        st = check_nonneg(fn, "weight_decay", params->weight_decay);
    if (st == NN_OK)
        st = check_nonneg(fn, "initial_accumulator_value", params->initial_accumulator_value);
    if (st == NN_OK)
        st = check_nonneg(fn, "eps", params->eps);
    if (st != NN_OK)
        return st;
    builtin proto = {.kind = NN_OPTIM_ADAGRAD};
    proto.p.adagrad = *params;
    return builtin_new(&adagrad_ops, &proto, params->lr, out);
}

/* ---- kinds by name ------------------------------------------------------------------- */

const char *nn_optim_kind_name(nn_optim_kind kind)
{
    switch (kind) {
    case NN_OPTIM_SGD:
        return sgd_ops.name;
    case NN_OPTIM_ADAM:
        return adam_ops.name;
    case NN_OPTIM_ADAMW:
        return adamw_ops.name;
    case NN_OPTIM_RMSPROP:
        return rmsprop_ops.name;
    case NN_OPTIM_ADAGRAD:
        return adagrad_ops.name;
    }
    return NULL;
}

static const char *name_of(int k) { return nn_optim_kind_name((nn_optim_kind)k); }

nn_status nn_optim_kind_from_name(const char *name, nn_optim_kind *kind)
{
    NN_CHECK_NULL(name);
    NN_CHECK_NULL(kind);
    char known[128];
    int k = nn_kind_by_name(name, name_of, known, sizeof known);
    if (k >= 0) {
        *kind = (nn_optim_kind)k;
        return NN_OK;
    }
    return nn_error(NN_ERR_INVALID_ARG,
                    "nn_optim_kind_from_name: unknown optimizer '%s' (known: %s)", name, known);
}

nn_status nn_optim_new_by_kind(nn_optim_kind kind, double lr, nn_optim **out)
{
    NN_CHECK_NULL(out);
    *out = NULL;
    switch (kind) {
    case NN_OPTIM_SGD:
        return nn_optim_sgd_new(lr, out);
    case NN_OPTIM_ADAM: {
        nn_adam_params p = nn_adam_default_params();
        p.lr = lr;
        return nn_optim_adam_new_ex(&p, out);
    }
    case NN_OPTIM_ADAMW: {
        nn_adamw_params p = nn_adamw_default_params();
        p.lr = lr;
        return nn_optim_adamw_new_ex(&p, out);
    }
    case NN_OPTIM_RMSPROP: {
        nn_rmsprop_params p = nn_rmsprop_default_params();
        p.lr = lr;
        return nn_optim_rmsprop_new_ex(&p, out);
    }
    case NN_OPTIM_ADAGRAD: {
        nn_adagrad_params p = nn_adagrad_default_params();
        p.lr = lr;
        return nn_optim_adagrad_new_ex(&p, out);
    }
    }
    return nn_error(NN_ERR_INVALID_ARG, "nn_optim_new_by_kind: unknown optimizer kind %d",
                    (int)kind);
}

/* ---- gradient clipping ------------------------------------------------------------------ */

nn_status nn_clip_grad_norm(nn_tensor *grads, size_t n, double max_norm, double *total_norm)
{
    if (n > 0)
        NN_CHECK_NULL(grads);
    if (isnan(max_norm) || max_norm < 0.0)
        return nn_error(NN_ERR_INVALID_ARG, "nn_clip_grad_norm: max_norm %g is not a value >= 0",
                        max_norm);
    for (size_t i = 0; i < n; i++)
        if (grads[i].data == NULL && grads[i].size > 0) /* a view of nothing */
            return nn_error(NN_ERR_NULL_ARG,
                            "nn_clip_grad_norm: gradient %zu has %zu elements but no data", i,
                            grads[i].size);
    /* Squares of floats summed in double: at most 2^256 each, so no overflow. */
    double sumsq = 0.0;
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < grads[i].size; k++) {
            double x = grads[i].data[k];
            sumsq += x * x;
        }
    double total = sqrt(sumsq);
    if (total_norm != NULL)
        *total_norm = total;
    if (!isfinite(total))
        return nn_error(NN_ERR_NUMERIC, "nn_clip_grad_norm: the gradients' norm is %g", total);
    /* torch.nn.utils.clip_grad_norm_: clip_coef = max_norm / (total_norm + 1e-6), clamped to 1 */
    double coef = max_norm / (total + 1e-6);
    if (coef < 1.0) {
        float c = (float)coef;
        for (size_t i = 0; i < n; i++)
            for (size_t k = 0; k < grads[i].size; k++)
                grads[i].data[k] *= c;
    }
    return NN_OK;
}

/* ---- introspection ------------------------------------------------------------------ */

/* o's private state when o is one of the built-in optimizers (matched by table), else NULL. */
static builtin *builtin_of(const nn_optim *o)
{
    if (o->ops == &sgd_ops || o->ops == &adam_ops || o->ops == &adamw_ops ||
        o->ops == &rmsprop_ops || o->ops == &adagrad_ops)
        return o->impl;
    return NULL;
}

/* The built-in state of o when it is of the given kind (either Adam kind for ADAM). */
static nn_status builtin_as(const char *fn, const nn_optim *o, nn_optim_kind kind, builtin **out)
{
    builtin *b = builtin_of(o);
    int match = b != NULL && (b->kind == kind || (kind == NN_OPTIM_ADAM && b->kind == NN_OPTIM_ADAMW));
    if (!match)
        return nn_error(NN_ERR_INVALID_ARG, "%s: optimizer '%s' is not %s", fn, o->ops->name,
                        nn_optim_kind_name(kind));
    *out = b;
    return NN_OK;
}

nn_status nn_optim_get_kind(const nn_optim *o, nn_optim_kind *kind)
{
    NN_CHECK_NULL(o);
    NN_CHECK_NULL(kind);
    const builtin *b = builtin_of(o);
    if (b == NULL)
        return nn_error(NN_ERR_INVALID_ARG, "nn_optim_get_kind: optimizer '%s' is not one of nn's own",
                        o->ops->name);
    *kind = b->kind;
    return NN_OK;
}

nn_status nn_optim_get_sgd_params(const nn_optim *o, nn_sgd_params *p)
{
    NN_CHECK_NULL(o);
    NN_CHECK_NULL(p);
    builtin *b = NULL;
    nn_status st = builtin_as(__func__, o, NN_OPTIM_SGD, &b);
    if (st == NN_OK)
        *p = b->p.sgd;
    return st;
}

nn_status nn_optim_get_adam_params(const nn_optim *o, nn_adam_params *p)
{
    NN_CHECK_NULL(o);
    NN_CHECK_NULL(p);
    builtin *b = NULL;
    nn_status st = builtin_as(__func__, o, NN_OPTIM_ADAM, &b);
    if (st == NN_OK)
        *p = b->p.adam;
    return st;
}

nn_status nn_optim_get_rmsprop_params(const nn_optim *o, nn_rmsprop_params *p)
{
    NN_CHECK_NULL(o);
    NN_CHECK_NULL(p);
    builtin *b = NULL;
    nn_status st = builtin_as(__func__, o, NN_OPTIM_RMSPROP, &b);
    if (st == NN_OK)
        *p = b->p.rmsprop;
    return st;
}

nn_status nn_optim_get_adagrad_params(const nn_optim *o, nn_adagrad_params *p)
{
    NN_CHECK_NULL(o);
    NN_CHECK_NULL(p);
    builtin *b = NULL;
    nn_status st = builtin_as(__func__, o, NN_OPTIM_ADAGRAD, &b);
    if (st == NN_OK)
        *p = b->p.adagrad;
    return st;
}

nn_status nn_optim_get_state_step(const nn_optim *o, uint64_t *t)
{
    NN_CHECK_NULL(o);
    NN_CHECK_NULL(t);
    const builtin *b = builtin_of(o);
    if (b == NULL)
        return nn_error(NN_ERR_INVALID_ARG,
                        "nn_optim_get_state_step: optimizer '%s' is not one of nn's own", o->ops->name);
    *t = b->t;
    return NN_OK;
}

nn_status nn_optim_set_state_step(nn_optim *o, uint64_t t)
{
    NN_CHECK_NULL(o);
    builtin *b = builtin_of(o);
    if (b == NULL)
        return nn_error(NN_ERR_INVALID_ARG,
                        "nn_optim_set_state_step: optimizer '%s' is not one of nn's own", o->ops->name);
    b->t = t; /* any count: a step refuses to wrap it (builtin_check) */
    return NN_OK;
}
