/* dropout.c - inverted dropout with a mask kept for backward. */
#include <math.h>
#include <string.h>

#include "internal.h"
#include "nn/dropout.h"

typedef enum last_pass {
    PASS_NONE = 0,  /* no forward yet */
    PASS_INFER = 1, /* the last forward was an inference one: backward is the identity */
    PASS_TRAIN = 2  /* the last forward drew the mask: backward multiplies by it */
} last_pass;

typedef struct dropout {
    float scale;  /* 1 / (1 - p), rounded once, so forward and backward agree bit for bit */
    uint64_t cut; /* a 32-bit draw below cut drops the unit: cut = ceil(p 2^32) */
    nn_rng rng;
    size_t width;    /* n, set by build */
    float *mask;     /* (max_batch, n): 0 or scale */
    size_t capacity; /* elements of mask */
    size_t n_last;   /* elements of the last forward */
    last_pass pass;
    double p;      /* as given, for nn_dropout_get */
    uint64_t seed; /* as given, for nn_dropout_get */
} dropout;

static nn_status dropout_build(nn_layer *l, size_t in_width)
{
    dropout *d = l->impl;
    l->out_width = in_width;
    l->n_params = 0;
    d->width = in_width;
    return NN_OK;
}

/* The mask for batches of up to max_batch rows. Grows only; the old mask is kept
 * when the new one cannot be allocated. */
static nn_status dropout_reserve(nn_layer *l, size_t max_batch)
{
    dropout *d = l->impl;
    if (d->width == 0)
        return nn_error(NN_ERR_STATE, "dropout reserve: the layer is not built (no input width)");
    if (max_batch > SIZE_MAX / d->width)
        return nn_error(NN_ERR_NOMEM, "dropout reserve: %zu rows of %zu are too many", max_batch,
                        d->width);
    size_t need = max_batch * d->width;
    if (need <= d->capacity)
        return NN_OK;
    float *mask = nn_xcalloc(need, sizeof *mask);
    if (mask == NULL)
        return nn_error(NN_ERR_NOMEM, "dropout reserve: cannot allocate a mask of (%zu, %zu)",
                        max_batch, d->width);
    /* The last pass's mask moves along (its rows are at the start of either buffer), so
     * that pass can still be gone back through, also when the network's reserve fails
     * at a later layer (status.h: on NN_ERR_NOMEM the objects are unchanged). */
    if (d->capacity > 0)
        memcpy(mask, d->mask, d->capacity * sizeof *mask);
    nn_xfree(d->mask);
    d->mask = mask;
    d->capacity = need;
    return NN_OK;
}

/* Same (rows, cols) for a and b, neither NULL. */
static nn_status check_pair(const char *pass, const char *an, const nn_tensor *a, const char *bn,
                            const nn_tensor *b)
{
    if (a == NULL || b == NULL)
        return nn_error(NN_ERR_NULL_ARG, "dropout %s: %s is NULL", pass, a == NULL ? an : bn);
    if (nn_tensor_nrows(a) != nn_tensor_nrows(b) || nn_tensor_ncols(a) != nn_tensor_ncols(b))
        return nn_error(NN_ERR_SHAPE, "dropout %s: %s is (%zu, %zu), %s is (%zu, %zu)", pass, an,
                        nn_tensor_nrows(a), nn_tensor_ncols(a), bn, nn_tensor_nrows(b),
                        nn_tensor_ncols(b));
    return NN_OK;
}

/* x: (B, n) -> y: (B, n); training draws a new mask, inference copies. */
static nn_status dropout_forward(nn_layer *l, const nn_tensor *x, nn_tensor *y, int training)
{
    dropout *d = l->impl;
    nn_status st = check_pair("forward", "x", x, "y", y);
    if (st != NN_OK)
        return st;
    d->pass = PASS_NONE;
    if (!training) {
        memmove(y->data, x->data, x->size * sizeof *x->data);
        d->n_last = x->size;
        d->pass = PASS_INFER;
        return NN_OK;
    }
    if (x->size > d->capacity)
        return nn_error(NN_ERR_STATE,
                        "dropout forward: %zu rows need a mask of %zu elements, %zu reserved "
                        "(call reserve first)",
                        nn_tensor_nrows(x), x->size, d->capacity);
    for (size_t i = 0; i < x->size; i++) {
        /* p = 0 draws nothing: every unit is kept with scale 1. */
        int drop = d->cut != 0 && (uint64_t)nn_rng_u32(&d->rng) < d->cut;
        d->mask[i] = drop ? 0.0f : d->scale;
        y->data[i] = x->data[i] * d->mask[i];
    }
    d->n_last = x->size;
    d->pass = PASS_TRAIN;
    return NN_OK;
}

/* dx = dy * mask after a training forward, dx = dy after an inference one. */
static nn_status dropout_backward(nn_layer *l, const nn_tensor *x, const nn_tensor *y,
                                  const nn_tensor *dy, nn_tensor *dx)
{
    (void)x;
    (void)y;
    dropout *d = l->impl;
    if (dx == NULL)
        return NN_OK;
    nn_status st = check_pair("backward", "dy", dy, "dx", dx);
    if (st != NN_OK)
        return st;
    if (d->pass == PASS_NONE)
        return nn_error(NN_ERR_STATE, "dropout backward: no forward pass to go back through");
    if (dy->size != d->n_last)
        return nn_error(NN_ERR_SHAPE, "dropout backward: dy has %zu elements, the last forward %zu",
                        dy->size, d->n_last);
    if (d->pass == PASS_INFER) {
        memmove(dx->data, dy->data, dy->size * sizeof *dy->data);
        return NN_OK;
    }
    for (size_t i = 0; i < dy->size; i++)
        dx->data[i] = dy->data[i] * d->mask[i];
    return NN_OK;
}

static void dropout_destroy(nn_layer *l)
{
    dropout *d = l->impl;
    nn_xfree(d->mask);
    nn_xfree(d);
}

static const nn_layer_ops dropout_ops = {
    .name = "dropout",
    .build = dropout_build,
    .reserve = dropout_reserve,
    .forward = dropout_forward,
    .backward = dropout_backward,
    .destroy = dropout_destroy,
};

nn_status nn_dropout_new(double p, uint64_t seed, nn_layer **out)
{
    NN_CHECK_NULL(out);
    *out = NULL;
    if (!(p >= 0.0 && p < 1.0))
        return nn_error(NN_ERR_INVALID_ARG, "nn_dropout_new: p %g must be in [0, 1)", p);
    dropout *d = nn_xcalloc(1, sizeof *d);
    if (d == NULL)
        return nn_error(NN_ERR_NOMEM, "nn_dropout_new: out of memory");
    d->scale = (float)(1.0 / (1.0 - p));
    d->cut = (uint64_t)ceil(p * 4294967296.0); /* exact: a double times 2^32 */
    nn_rng_seed(&d->rng, seed, 0);
    d->pass = PASS_NONE;
    d->p = p;
    d->seed = seed;
    nn_status st = nn_layer_new(&dropout_ops, d, out);
    if (st != NN_OK)
        nn_xfree(d);
    return st;
}

int nn_is_dropout(const nn_layer *l) { return l != NULL && l->ops == &dropout_ops; }

nn_status nn_dropout_get(const nn_layer *l, double *p, uint64_t *seed, nn_rng *rng)
{
    NN_CHECK_NULL(l);
    if (!nn_is_dropout(l))
        return nn_error(NN_ERR_INVALID_ARG, "nn_dropout_get: layer '%s' is not dropout",
                        nn_layer_name(l));
    const dropout *d = l->impl;
    if (p != NULL)
        *p = d->p;
    if (seed != NULL)
        *seed = d->seed;
    if (rng != NULL)
        *rng = d->rng;
    return NN_OK;
}

nn_status nn_dropout_set_rng(nn_layer *l, const nn_rng *rng)
{
    NN_CHECK_NULL(l);
    NN_CHECK_NULL(rng);
    if (!nn_is_dropout(l))
        return nn_error(NN_ERR_INVALID_ARG, "nn_dropout_set_rng: layer '%s' is not dropout",
                        nn_layer_name(l));
    /* PCG32's increment must be odd, or the generator's period collapses. */
    if ((rng->inc & 1u) == 0)
        return nn_error(NN_ERR_INVALID_ARG, "nn_dropout_set_rng: increment %llu is even",
                        (unsigned long long)rng->inc);
    ((dropout *)l->impl)->rng = *rng;
    return NN_OK;
}
