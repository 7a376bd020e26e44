/* settings.c - typed key/value settings. A plain array: lists hold a handful of
 * entries, so a linear search beats any index. */
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "nn/settings.h"

typedef struct entry {
    char key[NN_SETTINGS_MAX_KEY + 1];
    nn_value_type type;
    union {
        int64_t i;
        uint64_t u;
        double f;
        char *s; /* owned */
        int b;
    } v;
} entry;

struct nn_settings {
    entry *items;
    size_t n, cap;
};

nn_status nn_settings_new(nn_settings **out)
{
    NN_CHECK_NULL(out);
    *out = nn_xcalloc(1, sizeof **out);
    if (*out == NULL)
        return nn_error(NN_ERR_NOMEM, "nn_settings_new: out of memory");
    return NN_OK;
}

static void entry_release(entry *e)
{
    if (e->type == NN_VALUE_STRING)
        nn_xfree(e->v.s);
    e->type = NN_VALUE_NONE;
}

void nn_settings_clear(nn_settings *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->n; i++)
        entry_release(&s->items[i]);
    s->n = 0;
}

void nn_settings_free(nn_settings *s)
{
    if (s == NULL)
        return;
    nn_settings_clear(s);
    nn_xfree(s->items);
    nn_xfree(s);
}

static entry *find(const nn_settings *s, const char *key)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->items[i].key, key) == 0)
            return &s->items[i];
    return NULL;
}

static nn_status check_key(const char *fn, const char *key)
{
    size_t len = strlen(key);
    /* not from a digit: a spec reads '2d=v' as a number, so such a key could be
     * written but not read back */
    int ok = len >= 1 && len <= NN_SETTINGS_MAX_KEY && !(key[0] >= '0' && key[0] <= '9');
    for (size_t i = 0; ok && i < len; i++) {
        char c = key[i];
        ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    }
    if (!ok)
        return nn_error(NN_ERR_INVALID_ARG,
                        "%s: key '%.80s' is not 1 to %d letters, digits or '_' (not first a digit)",
                        fn, key, NN_SETTINGS_MAX_KEY);
    return NN_OK;
}

/* The entry for key, created (with type NONE) when absent. Nothing changes on error. */
static nn_status slot(const char *fn, nn_settings *s, const char *key, entry **out)
{
    nn_status st = check_key(fn, key);
    if (st != NN_OK)
        return st;
    entry *e = find(s, key);
    if (e == NULL) {
        if (s->n == s->cap) {
            size_t cap = s->cap ? 2 * s->cap : 8;
            entry *items = nn_xcalloc(cap, sizeof *items);
            if (items == NULL)
                return nn_error(NN_ERR_NOMEM, "%s: out of memory", fn);
            if (s->n > 0)
                memcpy(items, s->items, s->n * sizeof *items);
            nn_xfree(s->items);
            s->items = items;
            s->cap = cap;
        }
        e = &s->items[s->n++];
        memset(e, 0, sizeof *e);
        memcpy(e->key, key, strlen(key) + 1);
    }
    *out = e;
    return NN_OK;
}

nn_status nn_settings_set_int(nn_settings *s, const char *key, int64_t value)
{
    NN_CHECK_NULL(s);
    NN_CHECK_NULL(key);
    entry *e;
    nn_status st = slot(__func__, s, key, &e);
    if (st != NN_OK)
        return st;
    entry_release(e);
    e->type = NN_VALUE_INT;
    e->v.i = value;
    return NN_OK;
}

nn_status nn_settings_set_uint(nn_settings *s, const char *key, uint64_t value)
{
    NN_CHECK_NULL(s);
    NN_CHECK_NULL(key);
    entry *e;
    nn_status st = slot(__func__, s, key, &e);
    if (st != NN_OK)
        return st;
    entry_release(e);
    e->type = NN_VALUE_UINT;
    e->v.u = value;
    return NN_OK;
}

nn_status nn_settings_set_float(nn_settings *s, const char *key, double value)
{
    NN_CHECK_NULL(s);
    NN_CHECK_NULL(key);
    entry *e;
    nn_status st = slot(__func__, s, key, &e);
    if (st != NN_OK)
        return st;
    entry_release(e);
    e->type = NN_VALUE_FLOAT;
    e->v.f = value;
    return NN_OK;
}

nn_status nn_settings_set_string(nn_settings *s, const char *key, const char *value)
{
    NN_CHECK_NULL(s);
    NN_CHECK_NULL(key);
    NN_CHECK_NULL(value);
    size_t len = strlen(value);
    if (strchr(value, '\n') != NULL) /* a spec states each setting on one line ('\r' is a blank) */
        return nn_error(NN_ERR_INVALID_ARG, "nn_settings_set_string: the value of '%.80s' holds a "
                                            "line end", key);
    /* Copy first, so that a failed allocation leaves the old value in place. */
    char *copy = nn_xalloc(len + 1);
    if (copy == NULL)
        return nn_error(NN_ERR_NOMEM, "nn_settings_set_string: out of memory");
    memcpy(copy, value, len + 1);
    entry *e;
    nn_status st = slot(__func__, s, key, &e);
    if (st != NN_OK) {
        nn_xfree(copy);
        return st;
    }
    entry_release(e);
    e->type = NN_VALUE_STRING;
    e->v.s = copy;
    return NN_OK;
}

nn_status nn_settings_set_bool(nn_settings *s, const char *key, int value)
{
    NN_CHECK_NULL(s);
    NN_CHECK_NULL(key);
    entry *e;
    nn_status st = slot(__func__, s, key, &e);
    if (st != NN_OK)
        return st;
    entry_release(e);
    e->type = NN_VALUE_BOOL;
    e->v.b = value != 0;
    return NN_OK;
}

nn_status nn_settings_remove(nn_settings *s, const char *key)
{
    NN_CHECK_NULL(s);
    NN_CHECK_NULL(key);
    entry *e = find(s, key);
    if (e == NULL)
        return NN_OK;
    entry_release(e);
    size_t i = (size_t)(e - s->items);
    memmove(e, e + 1, (s->n - i - 1) * sizeof *e);
    s->n--;
    return NN_OK;
}

nn_status nn_settings_merge(nn_settings *dst, const nn_settings *src)
{
    NN_CHECK_NULL(dst);
    NN_CHECK_NULL(src);
    nn_status st = NN_OK;
    for (size_t i = 0; st == NN_OK && i < src->n; i++) {
        const entry *e = &src->items[i];
        switch (e->type) {
        case NN_VALUE_INT:
            st = nn_settings_set_int(dst, e->key, e->v.i);
            break;
        case NN_VALUE_UINT:
            st = nn_settings_set_uint(dst, e->key, e->v.u);
            break;
        case NN_VALUE_FLOAT:
            st = nn_settings_set_float(dst, e->key, e->v.f);
            break;
        case NN_VALUE_STRING:
            st = nn_settings_set_string(dst, e->key, e->v.s);
            break;
        case NN_VALUE_BOOL:
            st = nn_settings_set_bool(dst, e->key, e->v.b);
            break;
        case NN_VALUE_NONE:
            break;
        }
    }
    return st;
}

size_t nn_settings_count(const nn_settings *s) { return s != NULL ? s->n : 0; }

const char *nn_settings_key(const nn_settings *s, size_t i)
{
    return s != NULL && i < s->n ? s->items[i].key : NULL;
}

nn_value_type nn_settings_type(const nn_settings *s, size_t i)
{
    return s != NULL && i < s->n ? s->items[i].type : NN_VALUE_NONE;
}

nn_value_type nn_settings_find(const nn_settings *s, const char *key)
{
    if (s == NULL || key == NULL)
        return NN_VALUE_NONE;
    const entry *e = find(s, key);
    return e != NULL ? e->type : NN_VALUE_NONE;
}

/* The value as text for messages. */
static const char *show(const entry *e, char *buf, size_t size)
{
    switch (e->type) {
    case NN_VALUE_INT:
        snprintf(buf, size, "%lld", (long long)e->v.i);
        break;
    case NN_VALUE_UINT:
        snprintf(buf, size, "%llu", (unsigned long long)e->v.u);
        break;
    case NN_VALUE_FLOAT:
        snprintf(buf, size, "%.17g", e->v.f);
        break;
    case NN_VALUE_STRING:
        snprintf(buf, size, "'%s'", e->v.s);
        break;
    case NN_VALUE_BOOL:
        snprintf(buf, size, "%s", e->v.b ? "true" : "false");
        break;
    case NN_VALUE_NONE:
        snprintf(buf, size, "(none)");
        break;
    }
    return buf;
}

static nn_status bad_value(const char *fn, const entry *e, const char *expected)
{
    char buf[96];
    return nn_error(NN_ERR_INVALID_ARG, "%s: setting '%s' is %s, expected %s", fn, e->key,
                    show(e, buf, sizeof buf), expected);
}

nn_status nn_settings_get_int(const nn_settings *s, const char *key, int64_t *value)
{
    NN_CHECK_NULL(s);
    NN_CHECK_NULL(key);
    NN_CHECK_NULL(value);
    const entry *e = find(s, key);
    if (e == NULL)
        return NN_OK;
    if (e->type == NN_VALUE_INT)
        *value = e->v.i;
    else if (e->type == NN_VALUE_UINT && e->v.u <= (uint64_t)INT64_MAX)
        *value = (int64_t)e->v.u;
    else
        return bad_value(__func__, e, "an integer");
    return NN_OK;
}

nn_status nn_settings_get_uint(const nn_settings *s, const char *key, uint64_t *value)
{
    NN_CHECK_NULL(s);
    NN_CHECK_NULL(key);
    NN_CHECK_NULL(value);
    const entry *e = find(s, key);
    if (e == NULL)
        return NN_OK;
    if (e->type == NN_VALUE_UINT)
        *value = e->v.u;
    else if (e->type == NN_VALUE_INT && e->v.i >= 0)
        *value = (uint64_t)e->v.i;
    else
        return bad_value(__func__, e, "an integer >= 0");
    return NN_OK;
}

nn_status nn_settings_get_size(const nn_settings *s, const char *key, size_t *value)
{
    NN_CHECK_NULL(value);
    uint64_t v = *value;
    nn_status st = nn_settings_get_uint(s, key, &v);
    if (st != NN_OK)
        return st;
    if (v > SIZE_MAX)
        return bad_value(__func__, find(s, key), "a size that fits this machine's size_t");
    *value = (size_t)v;
    return NN_OK;
}

nn_status nn_settings_get_float(const nn_settings *s, const char *key, double *value)
{
    NN_CHECK_NULL(s);
    NN_CHECK_NULL(key);
    NN_CHECK_NULL(value);
    const entry *e = find(s, key);
    if (e == NULL)
        return NN_OK;
    switch (e->type) {
    case NN_VALUE_FLOAT:
        *value = e->v.f;
        return NN_OK;
    case NN_VALUE_INT:
        *value = (double)e->v.i;
        return NN_OK;
    case NN_VALUE_UINT:
        *value = (double)e->v.u;
        return NN_OK;
    case NN_VALUE_STRING:
    case NN_VALUE_BOOL:
    case NN_VALUE_NONE:
        break;
    }
    return bad_value(__func__, e, "a number");
}

nn_status nn_settings_get_bool(const nn_settings *s, const char *key, int *value)
{
    NN_CHECK_NULL(s);
    NN_CHECK_NULL(key);
    NN_CHECK_NULL(value);
    const entry *e = find(s, key);
    if (e == NULL)
        return NN_OK;
    if (e->type == NN_VALUE_BOOL)
        *value = e->v.b;
    else if ((e->type == NN_VALUE_INT && (e->v.i == 0 || e->v.i == 1)) ||
             (e->type == NN_VALUE_UINT && e->v.u <= 1))
        *value = e->type == NN_VALUE_INT ? (int)e->v.i : (int)e->v.u;
    else if (e->type == NN_VALUE_STRING && strcmp(e->v.s, "true") == 0)
        *value = 1;
    else if (e->type == NN_VALUE_STRING && strcmp(e->v.s, "false") == 0)
        *value = 0;
    else
        return bad_value(__func__, e, "true, false, 1 or 0");
    return NN_OK;
}

nn_status nn_settings_get_string(const nn_settings *s, const char *key, const char **value)
{
    NN_CHECK_NULL(s);
    NN_CHECK_NULL(key);
    NN_CHECK_NULL(value);
    const entry *e = find(s, key);
    if (e == NULL)
        return NN_OK;
    if (e->type != NN_VALUE_STRING)
        return bad_value(__func__, e, "a name");
    *value = e->v.s;
    return NN_OK;
}

nn_status nn_settings_check_keys(const nn_settings *s, const char *who, const char *const *known)
{
    NN_CHECK_NULL(s);
    NN_CHECK_NULL(who);
    for (size_t i = 0; i < s->n; i++) {
        int found = 0;
        for (size_t k = 0; known != NULL && known[k] != NULL && !found; k++)
            found = strcmp(known[k], s->items[i].key) == 0;
        if (found)
            continue;
        char list[256] = "";
        size_t len = 0;
        for (size_t k = 0; known != NULL && known[k] != NULL && len < sizeof list; k++) {
            int w = snprintf(list + len, sizeof list - len, "%s%s", k ? ", " : "", known[k]);
            len += w > 0 ? (size_t)w : 0;
        }
        return nn_error(NN_ERR_INVALID_ARG, "%s: unknown setting '%s' (known: %s)", who,
                        s->items[i].key, known != NULL && known[0] != NULL ? list : "none");
    }
    return NN_OK;
}

static int entry_equal(const entry *a, const entry *b)
{
    if (a->type != b->type)
        return 0;
    switch (a->type) {
    case NN_VALUE_INT:
        return a->v.i == b->v.i;
    case NN_VALUE_UINT:
        return a->v.u == b->v.u;
    case NN_VALUE_FLOAT:
        return memcmp(&a->v.f, &b->v.f, sizeof a->v.f) == 0;
    case NN_VALUE_STRING:
        return strcmp(a->v.s, b->v.s) == 0;
    case NN_VALUE_BOOL:
        return a->v.b == b->v.b;
    case NN_VALUE_NONE:
        return 1;
    }
    return 0;
}

int nn_settings_equal(const nn_settings *a, const nn_settings *b)
{
    if (a == NULL || b == NULL || a->n != b->n)
        return 0;
    for (size_t i = 0; i < a->n; i++) {
        const entry *e = find(b, a->items[i].key);
        if (e == NULL || !entry_equal(&a->items[i], e))
            return 0;
    }
    return 1;
}
