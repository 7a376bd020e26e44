/* model.c - the model file format (docs/file-format.md): writing (saved atomically
 * through file.c), and a loader that trusts no byte before checking it. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>

#include "internal.h"
#include "nn/model.h"

/* ---- the layout (docs/file-format.md) ---------------------------------------------- */

/* PNG's trick: a byte with the high bit set, then CR LF, ^Z and LF, so a transfer
 * that mangles line endings or drops the eighth bit breaks the magic at once. */
static const unsigned char magic[8] = {0x89, 'N', 'N', 'M', '\r', '\n', 0x1a, '\n'};

#define HEADER_SIZE  24u  /* magic, version, flags, file size */
#define SECTION_HEAD 16u  /* tag, flags, payload length */
#define TRAILER_SIZE 4u   /* CRC-32 */
#define SEC_REQUIRED 0x1u /* a reader that does not know the tag must refuse the file */
#define DTYPE_F32    0u

#define TAG(a, b, c, d)                                                                            \
    ((uint32_t)(a) | (uint32_t)(b) << 8 | (uint32_t)(c) << 16 | (uint32_t)(d) << 24)
#define TAG_ARCH TAG('A', 'R', 'C', 'H')
#define TAG_PARM TAG('P', 'A', 'R', 'M')
#define TAG_LOSS TAG('L', 'O', 'S', 'S')
#define TAG_OPTM TAG('O', 'P', 'T', 'M')
#define TAG_STDZ TAG('S', 'T', 'D', 'Z')
#define TAG_META TAG('M', 'E', 'T', 'A')

/* Longest kind or state name read from a file; registry names are at most 63 bytes. */
#define MAX_NAME 255u

/* Reader limits (docs/file-format.md). Far above any real model, they keep a hostile
 * file from making the loader quadratic: networks grow a layer at a time and settings
 * and metadata look up keys linearly. */
#define MAX_LAYERS   NN_READER_MAX_LAYERS
#define MAX_SETTINGS 1024u
#define MAX_META     4096u

/* ---- the model object ------------------------------------------------------------------- */

struct nn_model {
    nn_net *net;
    float *mean, *std; /* in_width each, or both NULL */
    char **keys, **values;
    size_t n_meta, cap_meta;
    uint32_t version; /* of the file loaded from; 0 otherwise */
};

static void meta_release(nn_model *m)
{
    for (size_t i = 0; i < m->n_meta; i++) {
        nn_xfree(m->keys[i]);
        nn_xfree(m->values[i]);
    }
    nn_xfree(m->keys);
    nn_xfree(m->values);
    m->keys = m->values = NULL;
    m->n_meta = m->cap_meta = 0;
}

nn_status nn_model_new(nn_net *net, nn_model **out)
{
    NN_CHECK_NULL(out);
    *out = NULL;
    NN_CHECK_NULL(net);
    nn_model *m = nn_xcalloc(1, sizeof *m);
    if (m == NULL)
        return nn_error(NN_ERR_NOMEM, "nn_model_new: out of memory");
    m->net = net;
    *out = m;
    return NN_OK;
}

nn_net *nn_model_into_net(nn_model *m)
{
    if (m == NULL)
        return NULL;
    nn_net *net = m->net;
    m->net = NULL;
    nn_model_free(m);
    return net;
}

void nn_model_free(nn_model *m)
{
    if (m == NULL)
        return;
    nn_net_free(m->net);
    nn_xfree(m->mean);
    nn_xfree(m->std);
    meta_release(m);
    nn_xfree(m);
}

nn_net *nn_model_net(nn_model *m) { return m != NULL ? m->net : NULL; }

uint32_t nn_model_format_version(const nn_model *m) { return m != NULL ? m->version : 0; }

/* mean finite, std finite and > 0, for every feature; fn names the caller. */
static nn_status check_standardisation(const char *fn, const float *mean, const float *std,
                                       size_t n)
{
    for (size_t j = 0; j < n; j++) {
        if (!isfinite(mean[j]))
            return nn_error(NN_ERR_INVALID_ARG, "%s: mean of feature %zu is %g, not finite", fn, j,
                            (double)mean[j]);
        if (!isfinite(std[j]) || !(std[j] > 0.0f))
            return nn_error(NN_ERR_INVALID_ARG, "%s: std of feature %zu is %g, not finite and > 0",
                            fn, j, (double)std[j]);
    }
    return NN_OK;
}

nn_status nn_model_set_standardisation(nn_model *m, const float *mean, const float *std)
{
    NN_CHECK_NULL(m);
    if ((mean == NULL) != (std == NULL))
        return nn_error(NN_ERR_NULL_ARG,
                        "nn_model_set_standardisation: mean and std go together (one is NULL)");
    if (mean == NULL) {
        nn_xfree(m->mean);
        nn_xfree(m->std);
        m->mean = m->std = NULL;
        return NN_OK;
    }
    size_t n = nn_net_in_width(m->net);
    nn_status st = check_standardisation(__func__, mean, std, n);
    if (st != NN_OK)
        return st;
    float *a = nn_xcalloc(n, sizeof *a), *b = nn_xcalloc(n, sizeof *b);
    if (a == NULL || b == NULL) {
        nn_xfree(a);
        nn_xfree(b);
        return nn_error(NN_ERR_NOMEM,
                        "nn_model_set_standardisation: out of memory for %zu features", n);
    }
    memcpy(a, mean, n * sizeof *a);
    memcpy(b, std, n * sizeof *b);
    nn_xfree(m->mean);
    nn_xfree(m->std);
    m->mean = a;
    m->std = b;
    return NN_OK;
}

nn_status nn_model_set_scaler(nn_model *m, const nn_scaler *scaler)
{
    NN_CHECK_NULL(m);
    if (scaler == NULL)
        return nn_model_set_standardisation(m, NULL, NULL);
    if (nn_scaler_width(scaler) != nn_net_in_width(m->net))
        return nn_error(NN_ERR_SHAPE, "nn_model_set_scaler: the scaler has width %zu, the network's input %zu",
                        nn_scaler_width(scaler), nn_net_in_width(m->net));
    return nn_model_set_standardisation(m, nn_scaler_mean(scaler), nn_scaler_std(scaler));
}

nn_status nn_model_get_scaler(const nn_model *m, nn_scaler **out)
{
    NN_CHECK_NULL(out);
    *out = NULL;
    NN_CHECK_NULL(m);
    if (m->mean == NULL)
        return NN_OK;
    return nn_scaler_new(nn_net_in_width(m->net), m->mean, m->std, out);
}

const float *nn_model_mean(const nn_model *m) { return m != NULL ? m->mean : NULL; }
const float *nn_model_std(const nn_model *m) { return m != NULL ? m->std : NULL; }

nn_status nn_model_standardise(const nn_model *m, nn_tensor *x)
{
    NN_CHECK_NULL(m);
    NN_CHECK_NULL(x);
    size_t w = nn_net_in_width(m->net);
    if (x->ndim != 2 || x->shape[1] != w)
        return nn_error(
            NN_ERR_SHAPE,
            "nn_model_standardise: input is (%zu, %zu) (%d-D), the model takes (B, %zu)",
            nn_tensor_nrows(x), nn_tensor_ncols(x), x->ndim, w);
    if (m->mean == NULL)
        return NN_OK;
    for (size_t i = 0; i < x->shape[0]; i++) {
        float *row = x->data + i * w;
        for (size_t j = 0; j < w; j++)
            /* in double, rounded once, as nn_scaler_apply (which nn train uses) */
            row[j] = (float)(((double)row[j] - m->mean[j]) / m->std[j]);
    }
    return NN_OK;
}

static char *dup_string(const char *s)
{
    size_t len = strlen(s) + 1;
    char *copy = nn_xalloc(len);
    if (copy != NULL)
        memcpy(copy, s, len);
    return copy;
}

/* Adds or replaces key, taking ownership of the two strings only on success. */
static nn_status meta_put(nn_model *m, char *key, char *value)
{
    for (size_t i = 0; i < m->n_meta; i++)
        if (strcmp(m->keys[i], key) == 0) {
            nn_xfree(m->values[i]);
            nn_xfree(key);
            m->values[i] = value;
            return NN_OK;
        }
    if (m->n_meta == m->cap_meta) {
        size_t cap = m->cap_meta ? 2 * m->cap_meta : 8;
        char **keys = nn_xcalloc(cap, sizeof *keys), **values = nn_xcalloc(cap, sizeof *values);
        if (keys == NULL || values == NULL) {
            nn_xfree(keys);
            nn_xfree(values);
            return nn_error(NN_ERR_NOMEM, "nn_model_set_meta: out of memory");
        }
        if (m->n_meta > 0) {
            memcpy(keys, m->keys, m->n_meta * sizeof *keys);
            memcpy(values, m->values, m->n_meta * sizeof *values);
        }
        nn_xfree(m->keys);
        nn_xfree(m->values);
        m->keys = keys;
        m->values = values;
        m->cap_meta = cap;
    }
    m->keys[m->n_meta] = key;
    m->values[m->n_meta] = value;
    m->n_meta++;
    return NN_OK;
}

nn_status nn_model_set_meta(nn_model *m, const char *key, const char *value)
{
    NN_CHECK_NULL(m);
    NN_CHECK_NULL(key);
    if (key[0] == '\0')
        return nn_error(NN_ERR_INVALID_ARG, "nn_model_set_meta: the key is empty");
    if (value == NULL) {
        for (size_t i = 0; i < m->n_meta; i++)
            if (strcmp(m->keys[i], key) == 0) {
                nn_xfree(m->keys[i]);
                nn_xfree(m->values[i]);
                memmove(m->keys + i, m->keys + i + 1, (m->n_meta - i - 1) * sizeof *m->keys);
                memmove(m->values + i, m->values + i + 1, (m->n_meta - i - 1) * sizeof *m->values);
                m->n_meta--;
                break;
            }
        return NN_OK;
    }
    /* A new key past the reader's limit would make a file nn_model_load refuses. */
    if (m->n_meta >= MAX_META && nn_model_meta(m, key) == NULL)
        return nn_error(NN_ERR_INVALID_ARG,
                        "nn_model_set_meta: a model holds at most %u metadata entries (what "
                        "nn_model_load reads back)", MAX_META);
    char *k = dup_string(key), *v = dup_string(value);
    nn_status st = k != NULL && v != NULL
                       ? meta_put(m, k, v)
                       : nn_error(NN_ERR_NOMEM, "nn_model_set_meta: out of memory");
    if (st != NN_OK) {
        nn_xfree(k);
        nn_xfree(v);
    }
    return st;
}

const char *nn_model_meta(const nn_model *m, const char *key)
{
    if (m == NULL || key == NULL)
        return NULL;
    for (size_t i = 0; i < m->n_meta; i++)
        if (strcmp(m->keys[i], key) == 0)
            return m->values[i];
    return NULL;
}

size_t nn_model_meta_count(const nn_model *m) { return m != NULL ? m->n_meta : 0; }

nn_status nn_model_meta_at(const nn_model *m, size_t i, const char **key, const char **value)
{
    NN_CHECK_NULL(m);
    NN_CHECK_NULL(key);
    NN_CHECK_NULL(value);
    if (i >= m->n_meta)
        return nn_error(NN_ERR_INVALID_ARG, "nn_model_meta_at: entry %zu of %zu", i, m->n_meta);
    *key = m->keys[i];
    *value = m->values[i];
    return NN_OK;
}

/* ---- little-endian encoding, independent of the host ------------------------------------ */

static void put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_u32(const unsigned char *p)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++)
        v |= (uint32_t)p[i] << (8 * i);
    return v;
}

static uint64_t get_u64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* The IEEE 754 bits of floats travel as integers, so NaN payloads and -0 survive. */
static uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static uint64_t f64_bits(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

static double bits_f64(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

/* zlib's crc32 takes a uInt length: large buffers go in pieces. */
static uint32_t crc_of(const unsigned char *p, size_t n)
{
    uLong crc = crc32(0L, Z_NULL, 0);
    while (n > 0) {
        uInt chunk = n > (1u << 30) ? (1u << 30) : (uInt)n;
        crc = crc32(crc, p, chunk);
        p += chunk;
        n -= chunk;
    }
    return (uint32_t)crc;
}

/* ---- writing ---------------------------------------------------------------------------- */

/* A growing byte buffer. The first failed allocation sets nomem and every later
 * write is dropped, so the encoder checks once at the end. */
typedef struct wbuf {
    unsigned char *p;
    size_t len, cap;
    int nomem;
} wbuf;

static unsigned char *w_reserve(wbuf *w, size_t n)
{
    if (w->nomem)
        return NULL;
    if (n > SIZE_MAX - w->len) {
        w->nomem = 1;
        return NULL;
    }
    if (w->len + n > w->cap) {
        size_t cap = w->cap ? w->cap : 256;
        while (cap < w->len + n)
            cap = cap > SIZE_MAX / 2 ? w->len + n : 2 * cap;
        unsigned char *p = nn_xalloc(cap);
        if (p == NULL) {
            w->nomem = 1;
            return NULL;
        }
        if (w->len > 0)
            memcpy(p, w->p, w->len);
        nn_xfree(w->p);
        w->p = p;
        w->cap = cap;
    }
    unsigned char *at = w->p + w->len;
    w->len += n;
    return at;
}

static void w_bytes(wbuf *w, const void *src, size_t n)
{
    unsigned char *at = w_reserve(w, n);
    if (at != NULL && n > 0)
        memcpy(at, src, n);
}

static void w_u8(wbuf *w, unsigned v)
{
    unsigned char b = (unsigned char)v;
    w_bytes(w, &b, 1);
}

static void w_u32(wbuf *w, uint32_t v)
{
    unsigned char *at = w_reserve(w, 4);
    if (at != NULL)
        put_u32(at, v);
}

static void w_u64(wbuf *w, uint64_t v)
{
    unsigned char *at = w_reserve(w, 8);
    if (at != NULL)
        put_u64(at, v);
}

static void w_str(wbuf *w, const char *s)
{
    size_t len = strlen(s);
    w_u32(w, (uint32_t)len); /* callers keep strings below 4 GiB (checked in encode) */
    w_bytes(w, s, len);
}

static void w_floats(wbuf *w, const float *x, size_t n)
{
    unsigned char *at = w_reserve(w, 4 * n);
    for (size_t i = 0; at != NULL && i < n; i++)
        put_u32(at + 4 * i, f32_bits(x[i]));
}

static void w_settings(wbuf *w, const nn_settings *s)
{
    size_t n = nn_settings_count(s);
    w_u32(w, (uint32_t)n);
    for (size_t i = 0; i < n; i++) {
        const char *key = nn_settings_key(s, i);
        nn_value_type type = nn_settings_type(s, i);
        w_str(w, key);
        w_u8(w, (unsigned)type);
        /* Each read matches the entry's own type, so none of them can fail. */
        switch (type) {
        case NN_VALUE_INT: {
            int64_t v = 0;
            nn_settings_get_int(s, key, &v);
            w_u64(w, (uint64_t)v);
            break;
        }
        case NN_VALUE_UINT: {
            uint64_t v = 0;
            nn_settings_get_uint(s, key, &v);
            w_u64(w, v);
            break;
        }
        case NN_VALUE_FLOAT: {
            double v = 0.0;
            nn_settings_get_float(s, key, &v);
            w_u64(w, f64_bits(v));
            break;
        }
        case NN_VALUE_STRING: {
            const char *v = "";
            nn_settings_get_string(s, key, &v);
            w_str(w, v);
            break;
        }
        case NN_VALUE_BOOL: {
            int v = 0;
            nn_settings_get_bool(s, key, &v);
            w_u8(w, (unsigned)v);
            break;
        }
        case NN_VALUE_NONE:
            break;
        }
    }
}

/* Starts a section; returns the offset of its length field for w_section_end. */
static size_t w_section_begin(wbuf *w, uint32_t tag, uint32_t flags)
{
    w_u32(w, tag);
    w_u32(w, flags);
    size_t at = w->len;
    w_u64(w, 0);
    return at;
}

static void w_section_end(wbuf *w, size_t length_at)
{
    if (!w->nomem)
        put_u64(w->p + length_at, (uint64_t)(w->len - length_at - 8));
}

/* Copies the message of the last error, which the next nn_error overwrites. */
static void save_message(char *buf, size_t size) { snprintf(buf, size, "%s", nn_last_error()); }

/* The number of parameter tensors of the network, and tensor k. */
static size_t tensor_count(nn_net *net)
{
    size_t n = 0;
    for (size_t i = 0; i < nn_net_layer_count(net); i++)
        n += nn_net_layer(net, i)->n_params;
    return n;
}

static nn_tensor *tensor_at(nn_net *net, size_t k)
{
    for (size_t i = 0; i < nn_net_layer_count(net); i++) {
        nn_layer *l = nn_net_layer(net, i);
        if (k < l->n_params)
            return &l->params[k];
        k -= l->n_params;
    }
    return NULL;
}

/* The view of state buffer name for parameter tensor k, checked against the parameter:
 * a user's ops->state may give any view, and the writer and the reader go through its
 * data (a view of another size wrote a file without its state, or past the buffer; one
 * without data crashed). fn names the public call. */
static nn_status state_view(const char *fn, nn_optim *o, const char *name, size_t k,
                            const nn_tensor *param, nn_tensor *view)
{
    nn_status st = nn_optim_state(o, name, k, view);
    if (st != NN_OK)
        return nn_error_prefix(NN_ERR_STATE, "%s: optimizer '%s', state '%s' of tensor %zu", fn,
                               o->ops->name, name, k);
    if (view->size != param->size || view->data == NULL)
        return nn_error(NN_ERR_STATE,
                        "%s: optimizer '%s' gives state '%s' of tensor %zu as %zu elements%s; "
                        "the parameter has %zu",
                        fn, o->ops->name, name, k, view->size,
                        view->data == NULL ? " without data" : "", param->size);
    return NN_OK;
}

/* The loader takes finite floats only (rd_floats), so saving checks them first: a file
 * it would refuse must not replace a good one. */
static nn_status check_finite(const char *fn, const char *what, size_t index, const float *v,
                              size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i]))
            return nn_error(NN_ERR_NUMERIC, "%s: %s %zu, element %zu is %g: a model file holds "
                                            "finite values only", fn, what, index, i, (double)v[i]);
    return NN_OK;
}

static nn_status encode_optim(const char *fn, wbuf *w, nn_net *net, const nn_registry *reg,
                              nn_settings *s)
{
    nn_optim *o = nn_net_optim(net);
    const nn_optim_class *c = nn_registry_optim(reg, o->ops->name);
    nn_status st = nn_registry_describe_optim(reg, o, s);
    if (st != NN_OK)
        return st;
    size_t sec = w_section_begin(w, TAG_OPTM, 0);
    w_str(w, o->ops->name);
    w_settings(w, s);
    w_u64(w, o->step_count);
    nn_settings_clear(s);
    /* The state is stale when layers were added after the optimizer was set: the
     * network starts it again from zero at its next step (net.h), and the file says
     * so by storing none. Asked of the network, not guessed from the buffers' sizes:
     * a layer without parameters leaves every size as it was. */
    int current = nn_net_optim_ready(net);
    if (current && c->get_state != NULL) {
        unsigned long seq = nn_error_seq();
        st = nn_error_if_silent(c->get_state(c, o, s), seq,
                                "%s: optimizer '%s' cannot report its state", fn, c->name);
        if (st != NN_OK)
            return st;
    }
    w_settings(w, s);
    size_t n = tensor_count(net), kept = 0;
    nn_tensor view;
    for (size_t i = 0; current && n > 0 && c->state_names && c->state_names[i]; i++)
        kept += nn_optim_state(o, c->state_names[i], 0, &view) == NN_OK;
    w_u32(w, (uint32_t)kept);
    for (size_t i = 0; kept > 0 && c->state_names[i] != NULL; i++) {
        if (nn_optim_state(o, c->state_names[i], 0, &view) != NN_OK)
            continue; /* not kept with these settings */
        w_str(w, c->state_names[i]);
        for (size_t k = 0; k < n; k++) {
            st = state_view(fn, o, c->state_names[i], k, tensor_at(net, k), &view);
            if (st == NN_OK)
                st = check_finite(fn, "optimizer state of tensor", k, view.data, view.size);
            if (st != NN_OK)
                return st;
            w_u64(w, view.size);
            w_floats(w, view.data, view.size);
        }
    }
    w_section_end(w, sec);
    return NN_OK;
}

/* Every name and string written must fit a u32 length and be readable back. */
static nn_status check_name(const char *fn, const char *what, const char *name)
{
    if (strlen(name) > MAX_NAME || name[0] == '\0')
        return nn_error(NN_ERR_INVALID_ARG,
                        "%s: %s name '%.40s...' is empty or longer than %u bytes", fn, what, name,
                        MAX_NAME);
    return NN_OK;
}

static nn_status encode(const char *fn, nn_net *net, const nn_model *m, const nn_registry *reg,
                        unsigned flags, wbuf *w)
{
    if ((flags & ~(NN_SAVE_NO_OPTIM | NN_SAVE_NO_LOSS)) != 0)
        return nn_error(NN_ERR_INVALID_ARG, "%s: unknown flags 0x%x", fn, flags);
    for (size_t i = 0; m != NULL && i < m->n_meta; i++)
        if (strlen(m->keys[i]) > UINT32_MAX || strlen(m->values[i]) > UINT32_MAX)
            return nn_error(NN_ERR_INVALID_ARG, "%s: metadata '%.40s' is 4 GiB or longer", fn,
                            m->keys[i]);
    /* What nn_model_load would refuse is not written (a good file is not replaced by it). */
    if (nn_net_layer_count(net) > MAX_LAYERS)
        return nn_error(NN_ERR_INVALID_ARG, "%s: %zu layers, more than the loader takes (%u)", fn,
                        nn_net_layer_count(net), MAX_LAYERS);
    nn_status st = NN_OK;
    if (!(flags & NN_SAVE_NO_LOSS) && (st = nn_net_loss_fits(fn, net)) != NN_OK)
        return st;
    nn_settings *s;
    st = nn_settings_new(&s);
    if (st != NN_OK)
        return st;

    w_bytes(w, magic, sizeof magic);
    w_u32(w, NN_MODEL_FORMAT_VERSION);
    w_u32(w, 0);
    w_u64(w, 0); /* the file size, patched at the end */

    /* ARCH: the input width and each layer's kind and settings */
    size_t n_layers = nn_net_layer_count(net);
    size_t sec = w_section_begin(w, TAG_ARCH, SEC_REQUIRED);
    w_u64(w, nn_net_in_width(net));
    w_u32(w, (uint32_t)n_layers);
    for (size_t i = 0; st == NN_OK && i < n_layers; i++) {
        nn_layer *l = nn_net_layer(net, i);
        st = check_name(fn, "layer kind", l->ops->name);
        if (st == NN_OK)
            st = nn_registry_describe_layer(reg, l, s);
        w_str(w, l->ops->name);
        w_settings(w, s);
    }
    w_section_end(w, sec);

    /* PARM: every parameter tensor, with its shape */
    sec = w_section_begin(w, TAG_PARM, SEC_REQUIRED);
    w_u32(w, (uint32_t)tensor_count(net));
    for (size_t i = 0, k = 0; st == NN_OK && i < n_layers; i++) {
        nn_layer *l = nn_net_layer(net, i);
        for (size_t j = 0; st == NN_OK && j < l->n_params; j++, k++) {
            const nn_tensor *t = &l->params[j];
            st = check_finite(fn, "parameter tensor", k, t->data, t->size);
            w_u32(w, DTYPE_F32);
            w_u32(w, (uint32_t)t->ndim);
            for (int d = 0; d < t->ndim; d++)
                w_u64(w, t->shape[d]);
            w_floats(w, t->data, t->size);
        }
    }
    w_section_end(w, sec);

    nn_loss *loss = nn_net_loss(net);
    if (st == NN_OK && loss != NULL && !(flags & NN_SAVE_NO_LOSS)) {
        size_t tw = nn_net_target_width(net);
        st = check_name(fn, "loss", loss->ops->name);
        if (st == NN_OK)
            st = nn_registry_describe_loss(reg, loss, s);
        sec = w_section_begin(w, TAG_LOSS, 0);
        w_str(w, loss->ops->name);
        w_u64(w, tw);
        w_settings(w, s);
        w_section_end(w, sec);
    }

    nn_optim *o = nn_net_optim(net);
    if (st == NN_OK && o != NULL && !(flags & NN_SAVE_NO_OPTIM)) {
        st = check_name(fn, "optimizer", o->ops->name);
        if (st == NN_OK)
            st = encode_optim(fn, w, net, reg, s);
    }

    if (st == NN_OK && m != NULL && m->mean != NULL) {
        size_t width = nn_net_in_width(net);
        sec = w_section_begin(w, TAG_STDZ, SEC_REQUIRED);
        w_u64(w, width);
        w_floats(w, m->mean, width);
        w_floats(w, m->std, width);
        w_section_end(w, sec);
    }

    if (st == NN_OK && m != NULL && m->n_meta > 0) {
        sec = w_section_begin(w, TAG_META, 0);
        w_u32(w, (uint32_t)m->n_meta);
        for (size_t i = 0; i < m->n_meta; i++) {
            w_str(w, m->keys[i]);
            w_str(w, m->values[i]);
        }
        w_section_end(w, sec);
    }
    nn_settings_free(s);
    if (st != NN_OK)
        return st;

    w_reserve(w, TRAILER_SIZE);
    if (w->nomem)
        return nn_error(NN_ERR_NOMEM, "%s: out of memory for a file of %zu bytes or more", fn,
                        w->len);
    put_u64(w->p + 16, w->len);
    put_u32(w->p + w->len - TRAILER_SIZE, crc_of(w->p, w->len - TRAILER_SIZE));
    return NN_OK;
}

static nn_status save_buffer(const char *fn, nn_net *net, const nn_model *m, const nn_registry *reg,
                             unsigned flags, void **data, size_t *size)
{
    wbuf w = {NULL, 0, 0, 0};
    nn_error_kept kept; /* encode probes the optimizer's state names */
    nn_error_keep(&kept);
    nn_status st = encode(fn, net, m, reg, flags, &w);
    if (st != NN_OK) {
        nn_xfree(w.p);
        return st;
    }
    nn_error_put_back(&kept);
    *data = w.p;
    *size = w.len;
    return NN_OK;
}

static nn_status save_file(const char *fn, nn_net *net, const nn_model *m, const char *path,
                           const nn_registry *reg, unsigned flags)
{
    void *data = NULL;
    size_t size = 0;
    nn_status st = save_buffer(fn, net, m, reg, flags, &data, &size);
    if (st != NN_OK)
        return st;
    st = nn_write_file_atomic(fn, path, data, size);
    nn_xfree(data);
    return st;
}

nn_status nn_model_save(nn_model *m, const char *path, const nn_registry *registry, unsigned flags)
{
    NN_CHECK_NULL(m);
    NN_CHECK_NULL(path);
    return save_file(__func__, m->net, m, path, registry, flags);
}

nn_status nn_model_save_net(nn_net *net, const char *path, const nn_registry *registry,
                            unsigned flags)
{
    NN_CHECK_NULL(net);
    NN_CHECK_NULL(path);
    return save_file(__func__, net, NULL, path, registry, flags);
}

nn_status nn_model_save_buffer(nn_model *m, const nn_registry *registry, unsigned flags,
                               void **data, size_t *size)
{
    NN_CHECK_NULL(data);
    NN_CHECK_NULL(size);
    *data = NULL;
    *size = 0;
    NN_CHECK_NULL(m);
    return save_buffer(__func__, m->net, m, registry, flags, data, size);
}

void nn_model_buffer_free(void *data) { nn_xfree(data); }

/* ---- reading ------------------------------------------------------------------------------ */

/* A cursor over the file: pos is the next byte, end the end of the region being
 * read (the current section, or the content before the checksum). Every read
 * checks pos + n <= end first, so nothing past the region is ever touched. */
typedef struct reader {
    const unsigned char *base;
    size_t pos, end;
    const char *src; /* the file name or "<memory>", for messages */
    const char *fn;
} reader;

/* NN_ERR_FORMAT: "fn: src: what (at byte offset N)". */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static nn_status
bad(const reader *r, size_t offset, const char *fmt, ...)
{
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return nn_error(NN_ERR_FORMAT, "%s: %s: %s (at byte offset %zu)", r->fn, r->src, what, offset);
}

/* Re-labels an error from a constructor or the network (a setting out of range,
 * a width the loss rejects) as a format error at offset; NOMEM stays NOMEM. */
static nn_status bad_from(const reader *r, nn_status st, size_t offset, const char *what)
{
    if (st == NN_ERR_NOMEM)
        return st;
    char cause[384];
    save_message(cause, sizeof cause);
    return bad(r, offset, "%s: %s", what, cause);
}

static size_t left(const reader *r) { return r->end - r->pos; }

static nn_status need(reader *r, uint64_t n, const char *what)
{
    if (n > left(r))
        return bad(r, r->pos, "truncated: %s needs %llu bytes, %zu are left", what,
                   (unsigned long long)n, left(r));
    return NN_OK;
}

static nn_status rd_u8(reader *r, const char *what, unsigned *v)
{
    nn_status st = need(r, 1, what);
    if (st == NN_OK)
        *v = r->base[r->pos++];
    return st;
}

static nn_status rd_u32(reader *r, const char *what, uint32_t *v)
{
    nn_status st = need(r, 4, what);
    if (st == NN_OK) {
        *v = get_u32(r->base + r->pos);
        r->pos += 4;
    }
    return st;
}

static nn_status rd_u64(reader *r, const char *what, uint64_t *v)
{
    nn_status st = need(r, 8, what);
    if (st == NN_OK) {
        *v = get_u64(r->base + r->pos);
        r->pos += 8;
    }
    return st;
}

/* A u64 that must fit size_t and lie in [min, max]. */
static nn_status rd_size(reader *r, const char *what, uint64_t min, uint64_t max, size_t *v)
{
    size_t at = r->pos;
    uint64_t u;
    nn_status st = rd_u64(r, what, &u);
    if (st != NN_OK)
        return st;
    if (u < min || u > max || u > SIZE_MAX)
        return bad(r, at, "%s is %llu, outside [%llu, %llu]", what, (unsigned long long)u,
                   (unsigned long long)min, (unsigned long long)(max < SIZE_MAX ? max : SIZE_MAX));
    *v = (size_t)u;
    return NN_OK;
}

/* A string: u32 length, then that many bytes, none of them NUL. *out is allocated
 * only after the length has been checked against the bytes left. */
static nn_status rd_str(reader *r, const char *what, size_t max_len, int allow_empty, char **out)
{
    size_t at = r->pos;
    uint32_t len;
    nn_status st = rd_u32(r, what, &len);
    if (st != NN_OK)
        return st;
    if (len > max_len || (len == 0 && !allow_empty))
        return bad(r, at, "%s has length %u, outside [%d, %zu]", what, len, allow_empty ? 0 : 1,
                   max_len);
    if ((st = need(r, len, what)) != NN_OK)
        return st;
    if (memchr(r->base + r->pos, '\0', len) != NULL)
        return bad(r, r->pos, "%s contains a NUL byte", what);
    char *s = nn_xalloc((size_t)len + 1);
    if (s == NULL)
        return nn_error(NN_ERR_NOMEM, "%s: %s: out of memory reading %s", r->fn, r->src, what);
    memcpy(s, r->base + r->pos, len);
    s[len] = '\0';
    r->pos += len;
    *out = s;
    return NN_OK;
}

/* count floats; each must be finite. */
static nn_status rd_floats(reader *r, const char *what, size_t count, float *dst)
{
    nn_status st = need(r, 4 * (uint64_t)count, what);
    for (size_t i = 0; st == NN_OK && i < count; i++) {
        float v = bits_f32(get_u32(r->base + r->pos + 4 * i));
        if (!isfinite(v))
            return bad(r, r->pos + 4 * i, "%s: element %zu is %g, not finite", what, i, (double)v);
        dst[i] = v;
    }
    if (st == NN_OK)
        r->pos += 4 * count;
    return st;
}

/* The smallest encoding of a settings entry: a 1-byte key, the type, an 8-byte value
 * (strings take at least 4). Used to bound counts before reading them. */
#define MIN_SETTING (4u + 1u + 1u + 4u)

static nn_status rd_settings(reader *r, const char *what, nn_settings *s)
{
    nn_settings_clear(s);
    size_t at = r->pos;
    uint32_t n;
    nn_status st = rd_u32(r, what, &n);
    if (st != NN_OK)
        return st;
    if ((uint64_t)n * MIN_SETTING > left(r))
        return bad(r, at, "%s: %u settings cannot fit in the %zu bytes left", what, n, left(r));
    if (n > MAX_SETTINGS)
        return bad(r, at, "%s: %u settings, more than this reader takes (%u)", what, n,
                   MAX_SETTINGS);
    char *key = NULL, *str = NULL;
    for (uint32_t i = 0; st == NN_OK && i < n; i++) {
        size_t key_at = r->pos;
        unsigned type = 0;
        uint64_t u = 0;
        st = rd_str(r, "a setting's key", NN_SETTINGS_MAX_KEY, 0, &key);
        if (st == NN_OK && nn_settings_find(s, key) != NN_VALUE_NONE)
            st = bad(r, key_at, "%s: setting '%s' appears twice", what, key);
        size_t type_at = r->pos;
        if (st == NN_OK)
            st = rd_u8(r, "a setting's type", &type);
        if (st != NN_OK)
            break;
        switch (type) {
        case NN_VALUE_INT:
        case NN_VALUE_UINT:
        case NN_VALUE_FLOAT:
            st = rd_u64(r, "a setting's value", &u);
            if (st == NN_OK)
                st = type == NN_VALUE_INT    ? nn_settings_set_int(s, key, (int64_t)u)
                     : type == NN_VALUE_UINT ? nn_settings_set_uint(s, key, u)
                                             : nn_settings_set_float(s, key, bits_f64(u));
            break;
        case NN_VALUE_STRING:
            st = rd_str(r, "a setting's value", UINT32_MAX, 1, &str);
            if (st == NN_OK)
                st = nn_settings_set_string(s, key, str);
            break;
        case NN_VALUE_BOOL: {
            size_t value_at = r->pos;
            unsigned b = 0;
            st = rd_u8(r, "a setting's value", &b);
            if (st == NN_OK && b > 1)
                st = bad(r, value_at, "%s: setting '%s' is a boolean of value %u, not 0 or 1", what,
                         key, b);
            if (st == NN_OK)
                st = nn_settings_set_bool(s, key, (int)b);
            break;
        }
        default:
            st = bad(r, type_at, "%s: setting '%s' has unknown type %u", what, key, type);
        }
        if (st == NN_ERR_INVALID_ARG) /* a key of characters settings do not take */
            st = bad_from(r, st, key_at, what);
        nn_xfree(key);
        nn_xfree(str);
        key = str = NULL;
    }
    nn_xfree(key);
    return st;
}

/* Everything built so far; released together on any error. */
typedef struct loader {
    reader r;
    const nn_registry *reg;
    nn_settings *s;
    nn_net *net;
    nn_layer **pending; /* ARCH's layers until PARM adds them to net */
    size_t n_pending;
    int have_arch, have_parm, have_loss, have_optim, have_stdz, have_meta;
    nn_model *model; /* holds the standardisation and metadata as they are read */
} loader;

static nn_status read_arch(loader *ld)
{
    reader *r = &ld->r;
    size_t in_width = 0;
    nn_status st = rd_size(r, "the input width", 1, UINT64_MAX, &in_width);
    size_t count_at = r->pos;
    uint32_t n;
    if (st == NN_OK)
        st = rd_u32(r, "the layer count", &n);
    if (st != NN_OK)
        return st;
    /* A layer takes at least a 1-byte name and an empty settings list. */
    if ((uint64_t)n * 9 > left(r))
        return bad(r, count_at, "%u layers cannot fit in the %zu bytes left", n, left(r));
    if (n > MAX_LAYERS)
        return bad(r, count_at, "%u layers, more than this reader takes (%u)", n, MAX_LAYERS);
    if ((st = nn_net_new(in_width, &ld->net)) != NN_OK)
        return st;
    ld->model->net = ld->net;
    if (n > 0 && (ld->pending = nn_xcalloc(n, sizeof *ld->pending)) == NULL)
        return nn_error(NN_ERR_NOMEM, "%s: %s: out of memory for %u layers", r->fn, r->src, n);
    for (uint32_t i = 0; i < n; i++) {
        size_t at = r->pos;
        char *name = NULL;
        char what[64];
        snprintf(what, sizeof what, "the kind of layer %u", i);
        st = rd_str(r, what, MAX_NAME, 0, &name);
        if (st == NN_OK) {
            snprintf(what, sizeof what, "the settings of layer %u", i);
            st = rd_settings(r, what, ld->s);
        }
        if (st == NN_OK) {
            st = nn_registry_create_layer(ld->reg, name, ld->s, &ld->pending[i]);
            if (st != NN_OK) {
                snprintf(what, sizeof what, "layer %u ('%.32s')", i, name);
                st = bad_from(r, st, at, what);
            }
        }
        nn_xfree(name);
        if (st != NN_OK)
            return st;
        ld->n_pending = i + 1;
    }
    return NN_OK;
}

/* A tensor record of PARM: its shape and where its data starts. */
typedef struct record {
    int ndim;
    size_t shape[NN_TENSOR_MAX_DIMS];
    size_t size;
    size_t at;      /* offset of the record */
    size_t data_at; /* offset of its first float */
} record;

static nn_status read_records(reader *r, record *rec, uint32_t n)
{
    for (uint32_t k = 0; k < n; k++) {
        record *t = &rec[k];
        t->at = r->pos;
        uint32_t dtype, ndim;
        char what[64];
        snprintf(what, sizeof what, "the header of tensor %u", k);
        nn_status st = rd_u32(r, what, &dtype);
        if (st == NN_OK && dtype != DTYPE_F32)
            return bad(r, t->at, "tensor %u has dtype %u; this reader knows only 0 (float32)", k,
                       dtype);
        if (st == NN_OK)
            st = rd_u32(r, what, &ndim);
        if (st == NN_OK && (ndim < 1 || ndim > NN_TENSOR_MAX_DIMS))
            return bad(r, t->at + 4, "tensor %u has %u dimensions, outside [1, %d]", k, ndim,
                       NN_TENSOR_MAX_DIMS);
        if (st != NN_OK)
            return st;
        t->ndim = (int)ndim;
        uint64_t dims[NN_TENSOR_MAX_DIMS];
        for (uint32_t d = 0; d < ndim; d++)
            if ((st = rd_u64(r, what, &dims[d])) != NN_OK)
                return st;
        /* Each factor is checked against the floats the bytes left can hold, so the
         * product never overflows: it stays below the file's length. */
        uint64_t size = 1, room = left(r) / 4;
        for (uint32_t d = 0; d < ndim; d++) {
            if (dims[d] == 0)
                return bad(r, t->at + 8 + 8 * d, "tensor %u has a zero dimension", k);
            if (dims[d] > room / size)
                return bad(r, t->at + 8 + 8 * d,
                           "tensor %u claims more elements (dimension %u is %llu) than the %zu "
                           "bytes left can hold",
                           k, d, (unsigned long long)dims[d], left(r));
            size *= dims[d];
            t->shape[d] = (size_t)dims[d];
        }
        t->size = (size_t)size;
        t->data_at = r->pos;
        snprintf(what, sizeof what, "the data of tensor %u", k);
        if ((st = need(r, 4 * size, what)) != NN_OK)
            return st;
        r->pos += 4 * (size_t)size;
    }
    return NN_OK;
}

static nn_status read_parm(loader *ld)
{
    reader *r = &ld->r;
    size_t count_at = r->pos;
    uint32_t n;
    nn_status st = rd_u32(r, "the tensor count", &n);
    if (st != NN_OK)
        return st;
    /* A tensor record takes at least 4 + 4 + 8 + 4 bytes. */
    if ((uint64_t)n * 20 > left(r))
        return bad(r, count_at, "%u tensors cannot fit in the %zu bytes left", n, left(r));
    record *rec = n > 0 ? nn_xcalloc(n, sizeof *rec) : NULL;
    if (n > 0 && rec == NULL)
        return nn_error(NN_ERR_NOMEM, "%s: %s: out of memory for %u tensor records", r->fn, r->src,
                        n);
    st = read_records(r, rec, n);

    /* Each layer's declared shapes against the records, on a scratch copy of the layer,
     * before the network allocates anything for them. */
    size_t in = nn_net_in_width(ld->net), k = 0;
    for (size_t i = 0; st == NN_OK && i < ld->n_pending; i++) {
        nn_layer tmp = *ld->pending[i];
        tmp.in_width = in;
        tmp.out_width = 0;
        tmp.n_params = 0;
        memset(tmp.params, 0, sizeof tmp.params);
        memset(tmp.grads, 0, sizeof tmp.grads);
        unsigned long seq = nn_error_seq();
        st = nn_error_if_silent(tmp.ops->build(&tmp, in), seq,
                                "layer %zu ('%s') cannot take input width %zu", i, tmp.ops->name,
                                in);
        if (st != NN_OK) {
            st = bad_from(r, st, count_at, "the architecture");
            break;
        }
        if (tmp.out_width == 0 || tmp.n_params > NN_LAYER_MAX_PARAMS) {
            st = bad(r, count_at, "layer %zu ('%s') gives output width %zu and %zu parameters", i,
                     tmp.ops->name, tmp.out_width, tmp.n_params);
            break;
        }
        for (size_t j = 0; st == NN_OK && j < tmp.n_params; j++, k++) {
            const nn_tensor *p = &tmp.params[j];
            if (k >= n) {
                st = bad(r, count_at, "%u tensors, but layer %zu ('%s') has more parameters", n, i,
                         tmp.ops->name);
                break;
            }
            int same = p->ndim == rec[k].ndim;
            for (int d = 0; same && d < p->ndim; d++)
                same = p->shape[d] == rec[k].shape[d];
            if (!same) {
                char want[96] = "", got[96] = "";
                for (int d = 0, len = 0; d < p->ndim && d < NN_TENSOR_MAX_DIMS; d++)
                    len += snprintf(want + len, sizeof want - (size_t)len, "%s%zu", d ? ", " : "",
                                    p->shape[d]);
                for (int d = 0, len = 0; d < rec[k].ndim; d++)
                    len += snprintf(got + len, sizeof got - (size_t)len, "%s%zu", d ? ", " : "",
                                    rec[k].shape[d]);
                st = bad(r, rec[k].at,
                         "tensor %zu has shape (%s), but parameter %zu of layer %zu ('%s') is (%s)",
                         k, got, j, i, tmp.ops->name, want);
            }
        }
        in = tmp.out_width;
    }
    if (st == NN_OK && k != n)
        st = bad(r, count_at, "%u tensors, but the layers have %zu parameters", n, k);

    for (size_t i = 0; st == NN_OK && i < ld->n_pending; i++) {
        st = nn_net_add(ld->net, ld->pending[i]);
        if (st == NN_OK)
            ld->pending[i] = NULL; /* the network's now */
        else
            st = bad_from(r, st, count_at, "adding a layer");
    }
    /* nn_net_add built each layer again: a user layer whose build declares other
     * parameters the second time (a count or a shape that changes from build to build)
     * must not make the reader write a record into a parameter that is not its shape,
     * or that is not there at all. */
    if (st == NN_OK && tensor_count(ld->net) != n)
        st = bad(r, count_at, "%u tensors, but the layers declared %zu parameters when added to "
                              "the network (a layer's build gives other parameters each time)",
                 n, tensor_count(ld->net));
    for (size_t t = 0; st == NN_OK && t < n; t++) {
        const nn_tensor *p = tensor_at(ld->net, t);
        int same = p->ndim == rec[t].ndim;
        for (int d = 0; same && d < p->ndim; d++)
            same = p->shape[d] == rec[t].shape[d];
        if (!same)
            st = bad(r, rec[t].at,
                     "tensor %zu: the layers declared another shape when added to the network "
                     "than when checked (a layer's build gives other parameters each time)",
                     t);
    }
    for (size_t t = 0; st == NN_OK && t < n; t++) {
        reader at = *r;
        at.pos = rec[t].data_at;
        char what[48];
        snprintf(what, sizeof what, "tensor %zu", t);
        st = rd_floats(&at, what, rec[t].size, tensor_at(ld->net, t)->data);
    }
    nn_xfree(rec);
    return st;
}

static nn_status read_loss(loader *ld)
{
    reader *r = &ld->r;
    size_t at = r->pos;
    char *name = NULL;
    size_t tw = 0;
    nn_loss *loss = NULL;
    nn_status st = rd_str(r, "the loss's name", MAX_NAME, 0, &name);
    if (st == NN_OK)
        st = rd_size(r, "the target width", 1, UINT64_MAX, &tw);
    if (st == NN_OK)
        st = rd_settings(r, "the loss's settings", ld->s);
    if (st == NN_OK && (st = nn_registry_create_loss(ld->reg, name, ld->s, &loss)) != NN_OK)
        st = bad_from(r, st, at, "the loss");
    if (st == NN_OK && (st = nn_net_set_loss(ld->net, loss, tw)) != NN_OK) {
        nn_loss_free(loss);
        st = bad_from(r, st, at, "the loss");
    }
    nn_xfree(name);
    return st;
}

static nn_status read_optim(loader *ld)
{
    reader *r = &ld->r;
    size_t at = r->pos;
    char *name = NULL;
    uint64_t steps = 0;
    nn_optim *o = NULL;
    nn_settings *state = NULL;
    nn_status st = rd_str(r, "the optimizer's name", MAX_NAME, 0, &name);
    if (st == NN_OK)
        st = rd_settings(r, "the optimizer's settings", ld->s);
    const nn_optim_class *c = st == NN_OK ? nn_registry_optim(ld->reg, name) : NULL;
    if (st == NN_OK && (st = nn_registry_create_optim(ld->reg, name, ld->s, &o)) != NN_OK)
        st = bad_from(r, st, at, "the optimizer");
    /* Set up for the network's parameters: fresh state, which the file's then overwrites. */
    if (st == NN_OK && (st = nn_net_set_optim(ld->net, o)) != NN_OK) {
        nn_optim_free(o);
        st = bad_from(r, st, at, "the optimizer");
    }
    nn_xfree(name);
    if (st == NN_OK)
        st = rd_u64(r, "the optimizer's step count", &steps);
    size_t state_at = r->pos;
    if (st == NN_OK)
        st = nn_settings_new(&state);
    if (st == NN_OK)
        st = rd_settings(r, "the optimizer's scalar state", state);
    if (st != NN_OK) {
        nn_settings_free(state);
        return st;
    }
    size_t n = tensor_count(ld->net);
    size_t count_at = r->pos;
    uint32_t buffers = 0;
    st = rd_u32(r, "the number of state buffers", &buffers);
    /* A buffer takes at least a 1-byte name and, per tensor, an 8-byte count. */
    if (st == NN_OK && (uint64_t)buffers * (5 + 8 * (uint64_t)n) > left(r))
        st =
            bad(r, count_at, "%u state buffers cannot fit in the %zu bytes left", buffers, left(r));
    if (st == NN_OK && buffers > 0 && n == 0)
        st = bad(r, count_at, "%u state buffers for a network without parameters", buffers);
    /* Which names were read, to catch repeats and missing ones (a partial state
     * would resume training wrongly without any error). */
    size_t n_names = 0;
    while (c->state_names != NULL && c->state_names[n_names] != NULL)
        n_names++;
    unsigned char seen[NN_READER_MAX_STATE_NAMES] = {0};
    for (uint32_t b = 0; st == NN_OK && b < buffers; b++) {
        size_t name_at = r->pos;
        char *sname = NULL;
        st = rd_str(r, "a state buffer's name", NN_READER_MAX_STATE_NAME, 0, &sname);
        if (st != NN_OK)
            break;
        size_t idx = 0;
        while (idx < n_names && strcmp(c->state_names[idx], sname) != 0)
            idx++;
        nn_tensor view;
        if (idx == n_names || idx >= sizeof seen || nn_optim_state(o, sname, 0, &view) != NN_OK)
            st = bad(r, name_at, "optimizer '%s' with these settings keeps no state '%s'",
                     o->ops->name, sname);
        else if (seen[idx]++)
            st = bad(r, name_at, "state '%s' appears twice", sname);
        for (size_t k = 0; st == NN_OK && k < n; k++) {
            size_t size_at = r->pos;
            uint64_t size;
            char what[96];
            snprintf(what, sizeof what, "state '%s' of tensor %zu", sname, k);
            st = rd_u64(r, what, &size);
            if (st == NN_OK &&
                (st = state_view(r->fn, o, sname, k, tensor_at(ld->net, k), &view)) != NN_OK)
                st = bad_from(r, st, size_at, what);
            if (st == NN_OK && size != view.size)
                st = bad(r, size_at, "%s has %llu elements, the parameter %zu", what,
                         (unsigned long long)size, view.size);
            if (st == NN_OK)
                st = rd_floats(r, what, view.size, view.data);
        }
        nn_xfree(sname);
    }
    /* Either no state at all (a fresh optimizer) or all of it. */
    int any = buffers > 0 || nn_settings_count(state) > 0;
    for (size_t i = 0; st == NN_OK && any && n > 0 && i < n_names && i < sizeof seen; i++) {
        nn_tensor view;
        if (!seen[i] && nn_optim_state(o, c->state_names[i], 0, &view) == NN_OK)
            st = bad(r, count_at, "optimizer '%s' keeps state '%s', which the file lacks",
                     o->ops->name, c->state_names[i]);
    }
    if (st == NN_OK && nn_settings_count(state) > 0) {
        if (c->set_state == NULL)
            st = bad(r, state_at, "optimizer '%s' takes no scalar state", o->ops->name);
        else {
            /* A user class may fail without a message: say which, not the last error. */
            unsigned long seq = nn_error_seq();
            st = nn_error_if_silent(c->set_state(c, o, state), seq,
                                    "optimizer '%s' refused its scalar state", o->ops->name);
            if (st != NN_OK)
                st = bad_from(r, st, state_at, "the optimizer's scalar state");
        }
    }
    if (st == NN_OK)
        o->step_count = steps;
    nn_settings_free(state);
    return st;
}

static nn_status read_stdz(loader *ld)
{
    reader *r = &ld->r;
    size_t width = nn_net_in_width(ld->net), at = r->pos, w;
    nn_status st = rd_size(r, "the standardisation's width", 0, UINT64_MAX, &w);
    if (st == NN_OK && w != width)
        st = bad(r, at, "the standardisation has width %zu, the network's input %zu", w, width);
    /* 8 bytes a feature (a mean and a std), compared by dividing: 8 x an input width
     * of 2^61 or more wraps (to 0 at 2^61), and the reader then asked for two blocks
     * of 2^63 bytes and called a truncated file out of memory. */
    if (st == NN_OK && width > left(r) / 8)
        st = bad(r, r->pos, "truncated: the standardisation of %zu features needs 8 bytes each, "
                            "%zu are left",
                 width, left(r));
    if (st != NN_OK)
        return st;
    float *mean = nn_xcalloc(width, sizeof *mean), *std = nn_xcalloc(width, sizeof *std);
    if (mean == NULL || std == NULL)
        st = nn_error(NN_ERR_NOMEM, "%s: %s: out of memory for %zu features", r->fn, r->src, width);
    if (st == NN_OK)
        st = rd_floats(r, "the standardisation's mean", width, mean);
    size_t std_at = r->pos;
    if (st == NN_OK)
        st = rd_floats(r, "the standardisation's std", width, std);
    for (size_t j = 0; st == NN_OK && j < width; j++)
        if (!(std[j] > 0.0f))
            st = bad(r, std_at + 4 * j, "the std of feature %zu is %g, not > 0", j, (double)std[j]);
    if (st != NN_OK) {
        nn_xfree(mean);
        nn_xfree(std);
        return st;
    }
    ld->model->mean = mean;
    ld->model->std = std;
    return NN_OK;
}

static nn_status read_meta(loader *ld)
{
    reader *r = &ld->r;
    size_t at = r->pos;
    uint32_t n;
    nn_status st = rd_u32(r, "the metadata count", &n);
    if (st == NN_OK && (uint64_t)n * 9 > left(r))
        st = bad(r, at, "%u metadata entries cannot fit in the %zu bytes left", n, left(r));
    if (st == NN_OK && n > MAX_META)
        st = bad(r, at, "%u metadata entries, more than this reader takes (%u)", n, MAX_META);
    for (uint32_t i = 0; st == NN_OK && i < n; i++) {
        size_t key_at = r->pos;
        char *key = NULL, *value = NULL;
        st = rd_str(r, "a metadata key", UINT32_MAX, 0, &key);
        if (st == NN_OK && nn_model_meta(ld->model, key) != NULL)
            st = bad(r, key_at, "metadata key '%.64s' appears twice", key);
        if (st == NN_OK)
            st = rd_str(r, "a metadata value", UINT32_MAX, 1, &value);
        if (st == NN_OK)
            st = meta_put(ld->model, key, value);
        if (st != NN_OK) {
            nn_xfree(key);
            nn_xfree(value);
        }
    }
    return st;
}

static void tag_text(uint32_t tag, char out[5])
{
    for (int i = 0; i < 4; i++) {
        unsigned char c = (unsigned char)(tag >> (8 * i));
        out[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
    }
    out[4] = '\0';
}

static nn_status read_sections(loader *ld, size_t content_end)
{
    reader *r = &ld->r;
    nn_status st = NN_OK;
    for (int index = 0; st == NN_OK && r->pos < content_end; index++) {
        size_t at = r->pos;
        uint32_t tag, flags;
        uint64_t len;
        r->end = content_end;
        st = rd_u32(r, "a section header", &tag);
        if (st == NN_OK)
            st = rd_u32(r, "a section header", &flags);
        if (st == NN_OK)
            st = rd_u64(r, "a section header", &len);
        if (st != NN_OK)
            return st;
        char name[5];
        tag_text(tag, name);
        if (len > left(r))
            return bad(r, at + 8, "section '%s' claims %llu bytes, %zu are left", name,
                       (unsigned long long)len, left(r));
        r->end = r->pos + (size_t)len;
        if (index == 0 && tag != TAG_ARCH)
            return bad(r, at, "the first section is '%s', expected 'ARCH'", name);
        if (index == 1 && tag != TAG_PARM)
            return bad(r, at, "the second section is '%s', expected 'PARM'", name);
        int *seen = tag == TAG_ARCH   ? &ld->have_arch
                    : tag == TAG_PARM ? &ld->have_parm
                    : tag == TAG_LOSS ? &ld->have_loss
                    : tag == TAG_OPTM ? &ld->have_optim
                    : tag == TAG_STDZ ? &ld->have_stdz
                    : tag == TAG_META ? &ld->have_meta
                                      : NULL;
        int dup = seen != NULL && (*seen)++ > 0;
        if (dup)
            return bad(r, at, "section '%s' appears twice", name);
        switch (tag) {
        case TAG_ARCH:
            st = read_arch(ld);
            break;
        case TAG_PARM:
            st = read_parm(ld);
            break;
        case TAG_LOSS:
            st = read_loss(ld);
            break;
        case TAG_OPTM:
            st = read_optim(ld);
            break;
        case TAG_STDZ:
            st = read_stdz(ld);
            break;
        case TAG_META:
            st = read_meta(ld);
            break;
        default:
            if (flags & SEC_REQUIRED)
                return bad(r, at,
                           "section '%s' is marked required but this reader (format version %d) "
                           "does not know it",
                           name, NN_MODEL_FORMAT_VERSION);
            r->pos = r->end; /* an optional section from a newer writer: skipped */
        }
        if (st == NN_OK && r->pos != r->end)
            st = bad(r, r->pos, "section '%s' has %zu bytes left over", name, left(r));
    }
    if (st == NN_OK && !ld->have_parm)
        st = bad(r, r->pos, "the file has no %s section", ld->have_arch ? "'PARM'" : "'ARCH'");
    return st;
}

static nn_status decode(const char *fn, const unsigned char *p, size_t n, const char *src,
                        const nn_registry *reg, nn_model **out)
{
    reader r = {p, 0, n, src, fn};
    nn_error_kept kept; /* the optimizer section probes its state names */
    nn_error_keep(&kept);
    /* The header, in the order that gives the most useful message. */
    size_t cmp = n < sizeof magic ? n : sizeof magic;
    if (memcmp(p, magic, cmp) != 0)
        return bad(&r, 0, "not an nn model file (the magic number is wrong)");
    if (n < HEADER_SIZE + TRAILER_SIZE)
        return bad(&r, n, "truncated: %zu bytes, shorter than a header and checksum (%u)", n,
                   HEADER_SIZE + TRAILER_SIZE);
    uint32_t version = get_u32(p + 8), flags = get_u32(p + 12);
    uint64_t size = get_u64(p + 16);
    if (version == 0)
        return bad(&r, 8, "format version 0 does not exist");
    if (version > NN_MODEL_FORMAT_VERSION)
        return bad(&r, 8, "format version %u is newer than this library reads (%d): upgrade nn",
                   version, NN_MODEL_FORMAT_VERSION);
    if (flags != 0)
        return bad(&r, 12, "header flags are 0x%x; version %u defines none", flags, version);
    if (size != n)
        return bad(&r, 16, "the header gives the file size %llu, but there are %zu bytes (%s)",
                   (unsigned long long)size, n, size > n ? "truncated" : "trailing data");
    uint32_t stored = get_u32(p + n - TRAILER_SIZE), computed = crc_of(p, n - TRAILER_SIZE);
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
    /* libFuzzer's convention: a fuzzing build checks everything but the checksum, so
     * that mutated inputs reach the section readers instead of stopping here. */
    stored = computed;
#endif
    if (stored != computed)
        return bad(&r, n - TRAILER_SIZE,
                   "checksum mismatch: stored 0x%08x, computed 0x%08x (the file is corrupt)",
                   stored, computed);

    loader ld;
    memset(&ld, 0, sizeof ld);
    ld.r = r;
    ld.r.pos = HEADER_SIZE;
    ld.reg = reg;
    nn_status st = nn_settings_new(&ld.s);
    if (st == NN_OK) {
        ld.model = nn_xcalloc(1, sizeof *ld.model);
        if (ld.model == NULL)
            st = nn_error(NN_ERR_NOMEM, "%s: out of memory", fn);
    }
    if (st == NN_OK)
        st = read_sections(&ld, n - TRAILER_SIZE);
    for (size_t i = 0; i < ld.n_pending; i++)
        nn_layer_free(ld.pending[i]); /* those never added to the network */
    nn_xfree(ld.pending);
    nn_settings_free(ld.s);
    if (st != NN_OK) {
        if (ld.model == NULL)
            nn_net_free(ld.net);
        nn_model_free(ld.model); /* the network too, which it holds from ARCH on */
        return st;
    }
    ld.model->version = version;
    *out = ld.model;
    nn_error_put_back(&kept);
    return NN_OK;
}

nn_status nn_model_load_buffer(const void *data, size_t size, const nn_registry *registry,
                               nn_model **out)
{
    NN_CHECK_NULL(out);
    *out = NULL;
    NN_CHECK_NULL(data);
    return decode(__func__, data, size, "<memory>", registry, out);
}

/* The whole file in memory. The buffer grows with the bytes actually read, so a
 * pipe or a file that lies about its size cannot make it larger than the data. */
static nn_status read_file(const char *fn, const char *path, unsigned char **data, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return nn_error(NN_ERR_IO, "%s: cannot open '%s': %s", fn, path, strerror(errno));
    unsigned char *buf = NULL;
    size_t len = 0, cap = 0;
    nn_status st = NN_OK;
    for (;;) {
        if (len == cap) {
            size_t ncap = cap ? 2 * cap : 1 << 16;
            unsigned char *nbuf = ncap > cap ? nn_xalloc(ncap) : NULL;
            if (nbuf == NULL) {
                st = nn_error(NN_ERR_NOMEM, "%s: out of memory reading '%s' (%zu bytes so far)", fn,
                              path, len);
                break;
            }
            if (len > 0)
                memcpy(nbuf, buf, len);
            nn_xfree(buf);
            buf = nbuf;
            cap = ncap;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) {
            if (ferror(f))
                st = nn_error(NN_ERR_IO, "%s: cannot read '%s': %s", fn, path, strerror(errno));
            break;
        }
    }
    fclose(f);
    if (st != NN_OK) {
        nn_xfree(buf);
        return st;
    }
    *data = buf;
    *size = len;
    return NN_OK;
}

nn_status nn_model_load(const char *path, const nn_registry *registry, nn_model **out)
{
    NN_CHECK_NULL(out);
    *out = NULL;
    NN_CHECK_NULL(path);
    unsigned char *data = NULL;
    size_t size = 0;
    nn_status st = read_file(__func__, path, &data, &size);
    if (st != NN_OK)
        return st;
    st = decode(__func__, data, size, path, registry, out);
    nn_xfree(data);
    return st;
}

nn_status nn_model_load_net(const char *path, const nn_registry *registry, nn_net **out)
{
    NN_CHECK_NULL(out);
    *out = NULL;
    nn_model *m;
    nn_status st = nn_model_load(path, registry, &m);
    if (st == NN_OK)
        *out = nn_model_into_net(m);
    return st;
}
