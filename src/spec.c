/* spec.c - the architecture spec (docs/spec-format.md): a line-by-line reader that
 * says where it stopped and why, a builder, and a writer that leaves out whatever
 * a reader would assume anyway. */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "nn/spec.h"
#include "nn/version.h"

/* A spec longer than this is not a spec (a model file or data read by mistake). */
#define MAX_SPEC_BYTES ((size_t)1 << 24)

/* Limits of the reader (docs/spec-format.md), far above real specs; they keep hostile
 * text from making it quadratic (a network grows a layer at a time, settings are
 * looked up linearly). */
#define MAX_LAYERS NN_READER_MAX_LAYERS
#define MAX_TOKENS 1024u

nn_train_settings nn_train_default_settings(void)
{
    nn_train_settings t;
    memset(&t, 0, sizeof t);
    t.epochs = 1;
    t.batch_size = 32;
    t.schedule = nn_schedule_constant();
    return t;
}

nn_fit_params nn_train_fit_params(const nn_train_settings *t, nn_rng *rng)
{
    nn_fit_params p = nn_fit_default_params();
    if (t == NULL)
        return p;
    p.epochs = t->epochs;
    p.batch_size = t->batch_size;
    p.shuffle = t->shuffle;
    p.rng = rng;
    p.schedule = t->has_schedule ? &t->schedule : NULL;
    p.schedule_per_step = t->schedule_per_step;
    p.clip_grad_norm = t->clip_grad_norm;
    p.patience = t->patience;
    p.restore_best = t->restore_best;
    return p;
}

/* ---- the spec as read ------------------------------------------------------------------- */

/* Where a setting was written, to point at it when the kind rejects it. */
typedef struct key_pos {
    char key[NN_SETTINGS_MAX_KEY + 1];
    size_t column;
} key_pos;

/* A layer, the loss or the optimizer: the class's name, its settings and its line. */
typedef struct item {
    char *name;
    nn_settings *settings;
    size_t line, column;
    key_pos *keys;
    size_t n_keys;
} item;

struct nn_spec {
    char *source;
    const nn_registry *reg;
    size_t in_width;
    item *layers;
    size_t n_layers, cap_layers;
    item loss, optim;    /* name NULL when absent */
    size_t target_width; /* 0: chosen as nn_spec.h says */
    nn_train_settings train;
};

static void item_release(item *it)
{
    nn_xfree(it->name);
    nn_settings_free(it->settings);
    nn_xfree(it->keys);
    memset(it, 0, sizeof *it);
}

void nn_spec_free(nn_spec *spec)
{
    if (spec == NULL)
        return;
    for (size_t i = 0; i < spec->n_layers; i++)
        item_release(&spec->layers[i]);
    nn_xfree(spec->layers);
    item_release(&spec->loss);
    item_release(&spec->optim);
    nn_xfree(spec->source);
    nn_xfree(spec);
}

nn_train_settings nn_spec_training(const nn_spec *spec)
{
    return spec != NULL ? spec->train : nn_train_default_settings();
}

/* ---- errors --------------------------------------------------------------------------------- */

typedef struct parser {
    const char *fn;
    const char *source;
    size_t line;
    nn_spec_error *err;
} parser;

/* NN_ERR_FORMAT "fn: source:line:column: message", and the pieces in p->err. */
#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
static nn_status
perr_at(const parser *p, size_t line, size_t column, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (p->err != NULL) {
        snprintf(p->err->source, sizeof p->err->source, "%s", p->source);
        p->err->line = line;
        p->err->column = column;
        snprintf(p->err->message, sizeof p->err->message, "%s", msg);
    }
    if (line == 0)
        return nn_error(NN_ERR_FORMAT, "%s: %s: %s", p->fn, p->source, msg);
    return nn_error(NN_ERR_FORMAT, "%s: %s:%zu:%zu: %s", p->fn, p->source, line, column, msg);
}

static int is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* Where word first occurs in s as a whole name, not inside a longer one; NULL if not. */
static const char *find_name(const char *s, const char *word)
{
    size_t n = strlen(word);
    for (const char *q = strstr(s, word); n > 0 && q != NULL; q = strstr(q + 1, word))
        if ((q == s || !(is_alpha(q[-1]) || is_digit(q[-1]))) && !(is_alpha(q[n]) || is_digit(q[n])))
            return q;
    return NULL;
}

/* An error from a class or the network about an item: NOMEM passes through; anything
 * else becomes a format error at the setting the message names, or at the line. The
 * message's own "nn_...: " prefix goes: the place says what the reader was building,
 * and the C function that refused it means nothing in a spec. The setting is found,
 * in this order, quoted ('lr'), as a bare name ("lr -1 is not ..."; of several, the
 * one named first, the message's subject: "nesterov needs momentum > 0 ..."), or by
 * a word value the message names when one setting alone has it ("uniform needs low <
 * high" points at init=uniform, but not at either of weight_init=uniform and
 * bias_init=uniform, which the message does not tell apart: then the line). */
static nn_status item_error(const parser *p, const item *it, nn_status st)
{
    if (st == NN_ERR_NOMEM || p == NULL)
        return st;
    char cause[400];
    snprintf(cause, sizeof cause, "%s", nn_last_error());
    const char *msg = cause;
    if (strncmp(msg, "nn_", 3) == 0) {
        size_t n = strspn(msg, "abcdefghijklmnopqrstuvwxyz0123456789_");
        if (msg[n] == ':' && msg[n + 1] == ' ')
            msg += n + 2;
    }
    size_t column = it->column, k;
    for (k = 0; k < it->n_keys; k++) {
        char quoted[NN_SETTINGS_MAX_KEY + 3];
        snprintf(quoted, sizeof quoted, "'%s'", it->keys[k].key);
        if (strstr(msg, quoted) != NULL)
            break;
    }
    if (k == it->n_keys) {
        const char *first = NULL;
        for (size_t i = 0; i < it->n_keys; i++) {
            const char *q = find_name(msg, it->keys[i].key);
            if (q != NULL && (first == NULL || q < first)) {
                first = q;
                k = i;
            }
        }
    }
    if (k == it->n_keys) {
        size_t found = 0, at = it->n_keys;
        for (size_t i = 0; i < it->n_keys; i++) {
            const char *value = NULL; /* left as it is when the key is absent */
            if (nn_settings_get_string(it->settings, it->keys[i].key, &value) == NN_OK &&
                value != NULL && find_name(msg, value) != NULL) {
                found++;
                at = i;
            }
        }
        if (found == 1)
            k = at;
    }
    if (k < it->n_keys)
        column = it->keys[k].column;
    return perr_at(p, it->line, column, "%s", msg);
}

/* ---- tokens ------------------------------------------------------------------------------------
 */

typedef enum tok_kind {
    T_WORD,   /* a name: letters, digits, '_', not starting with a digit */
    T_INT,    /* a whole number that fits int64 */
    T_UINT,   /* a whole number above INT64_MAX */
    T_FLOAT,  /* any other number */
    T_STRING, /* "quoted" */
    T_EQ      /* = */
} tok_kind;

typedef struct token {
    tok_kind kind;
    size_t column;
    char *text; /* the word or string's contents, or the number as written */
    int64_t i;
    uint64_t u;
    double f;
} token;

typedef struct line_tokens {
    token *t;
    size_t n, cap;
} line_tokens;

static void tokens_clear(line_tokens *lt)
{
    for (size_t i = 0; i < lt->n; i++)
        nn_xfree(lt->t[i].text);
    lt->n = 0;
}

static nn_status push_token(const parser *p, line_tokens *lt, tok_kind kind, size_t column,
                            const char *text, size_t len, token **out)
{
    if (lt->n == MAX_TOKENS)
        return perr_at(p, p->line, column, "more than %u tokens on one line", MAX_TOKENS);
    if (lt->n == lt->cap) {
        size_t cap = lt->cap ? 2 * lt->cap : 16;
        token *t = nn_xcalloc(cap, sizeof *t);
        if (t == NULL)
            return nn_error(NN_ERR_NOMEM, "%s: out of memory", p->fn);
        if (lt->n > 0)
            memcpy(t, lt->t, lt->n * sizeof *t);
        nn_xfree(lt->t);
        lt->t = t;
        lt->cap = cap;
    }
    char *copy = nn_xalloc(len + 1);
    if (copy == NULL)
        return nn_error(NN_ERR_NOMEM, "%s: out of memory", p->fn);
    memcpy(copy, text, len);
    copy[len] = '\0';
    token *t = &lt->t[lt->n++];
    memset(t, 0, sizeof *t);
    t->kind = kind;
    t->column = column;
    t->text = copy;
    *out = t;
    return NN_OK;
}

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v'; }

/* A number as written: digits only (with a sign) is an integer, anything else must
 * read completely as a finite double. */
static nn_status lex_number(const parser *p, token *t)
{
    const char *s = t->text;
    size_t k = (s[0] == '+' || s[0] == '-') ? 1 : 0;
    /* Decimal only: strtod would also take hexadecimal ("0x1p3") and "inf". */
    if (strspn(s, "0123456789.eE+-") != strlen(s) ||
        !(is_digit(s[k]) || (s[k] == '.' && is_digit(s[k + 1]))))
        return perr_at(p, p->line, t->column, "expected a number, got '%s'", s);
    int integer = s[k] != '\0';
    for (size_t j = k; s[j] != '\0'; j++)
        integer = integer && is_digit(s[j]);
    char *end = NULL;
    errno = 0;
    if (integer && s[0] != '-' && s[0] != '+') {
        unsigned long long u = strtoull(s, &end, 10);
        if (errno == ERANGE)
            return perr_at(p, p->line, t->column,
                           "the number %s is too large (the largest is %llu)", s,
                           (unsigned long long)UINT64_MAX);
        if (u > (unsigned long long)INT64_MAX) {
            t->kind = T_UINT;
            t->u = u;
        } else {
            t->kind = T_INT;
            t->i = (int64_t)u;
        }
        return NN_OK;
    }
    if (integer) {
        long long v = strtoll(s, &end, 10);
        if (errno == ERANGE)
            return perr_at(p, p->line, t->column, "the number %s is out of range", s);
        t->kind = T_INT;
        t->i = v;
        return NN_OK;
    }
    double d = strtod(s, &end);
    if (end == s || *end != '\0' || !isfinite(d) || is_alpha(s[k]))
        return perr_at(p, p->line, t->column, "expected a number, got '%s'", s);
    t->kind = T_FLOAT;
    t->f = d;
    return NN_OK;
}

/* Splits one line (without its newline) into tokens; a '#' ends it. */
static nn_status lex_line(const parser *p, const char *s, size_t len, line_tokens *lt)
{
    tokens_clear(lt);
    size_t i = 0;
    while (i < len) {
        char c = s[i];
        size_t col = i + 1;
        token *t;
        nn_status st;
        if (is_space(c)) {
            i++;
        } else if (c == '#') {
            break;
        } else if (c == '=') {
            if ((st = push_token(p, lt, T_EQ, col, "=", 1, &t)) != NN_OK)
                return st;
            i++;
        } else if (c == '"') {
            /* "..." with \" and \\ as the only escapes; one line only. */
            char *buf = nn_xalloc(len - i);
            if (buf == NULL)
                return nn_error(NN_ERR_NOMEM, "%s: out of memory", p->fn);
            size_t n = 0, j = i + 1;
            int closed = 0;
            while (j < len) {
                if (s[j] == '\\' && j + 1 < len && (s[j + 1] == '"' || s[j + 1] == '\\')) {
                    buf[n++] = s[j + 1];
                    j += 2;
                } else if (s[j] == '"') {
                    closed = 1;
                    j++;
                    break;
                } else {
                    buf[n++] = s[j++];
                }
            }
            if (!closed) {
                nn_xfree(buf);
                return perr_at(p, p->line, col, "unterminated string: expected a closing '\"'");
            }
            st = push_token(p, lt, T_STRING, col, buf, n, &t);
            nn_xfree(buf);
            if (st != NN_OK)
                return st;
            i = j;
        } else if (is_alpha(c) || is_digit(c) || c == '+' || c == '-' || c == '.') {
            size_t j = i;
            while (j < len && !is_space(s[j]) && s[j] != '=' && s[j] != '#' && s[j] != '"')
                j++;
            int word = is_alpha(c);
            for (size_t k = i; word && k < j; k++)
                if (!is_alpha(s[k]) && !is_digit(s[k]))
                    return perr_at(p, p->line, k + 1,
                                   "unexpected character '%c' in the name '%.*s'", s[k],
                                   (int)(j - i), s + i);
            if ((st = push_token(p, lt, word ? T_WORD : T_FLOAT, col, s + i, j - i, &t)) != NN_OK)
                return st;
            if (!word && (st = lex_number(p, t)) != NN_OK)
                return st;
            i = j;
        } else {
            if ((unsigned char)c < 0x20 || (unsigned char)c >= 0x7f)
                return perr_at(p, p->line, col, "unexpected byte 0x%02x",
                               (unsigned)(unsigned char)c);
            return perr_at(p, p->line, col, "unexpected character '%c'", c);
        }
    }
    return NN_OK;
}

static const char *kind_text(tok_kind k)
{
    switch (k) {
    case T_WORD:
        return "a name";
    case T_INT:
    case T_UINT:
        return "a whole number";
    case T_FLOAT:
        return "a number";
    case T_STRING:
        return "a string";
    case T_EQ:
        return "'='";
    }
    return "?";
}

/* ---- statements ------------------------------------------------------------------------------ */

/* A statement split up: its keyword, bare values, and key = value settings. */
typedef struct statement {
    token *keyword;
    token *values[4];
    size_t n_values;
    nn_settings *settings;
    key_pos *keys;
    size_t n_keys;
} statement;

static nn_status put_value(nn_settings *s, const char *key, const token *t)
{
    switch (t->kind) {
    case T_WORD:
        if (strcmp(t->text, "true") == 0 || strcmp(t->text, "false") == 0)
            return nn_settings_set_bool(s, key, t->text[0] == 't');
        return nn_settings_set_string(s, key, t->text);
    case T_STRING:
        return nn_settings_set_string(s, key, t->text);
    case T_INT:
        return nn_settings_set_int(s, key, t->i);
    case T_UINT:
        return nn_settings_set_uint(s, key, t->u);
    case T_FLOAT:
        return nn_settings_set_float(s, key, t->f);
    case T_EQ:
        break;
    }
    return NN_ERR_INVALID_ARG;
}

static nn_status add_key(const parser *p, statement *st, const char *key, size_t column)
{
    key_pos *keys = nn_xcalloc(st->n_keys + 1, sizeof *keys);
    if (keys == NULL)
        return nn_error(NN_ERR_NOMEM, "%s: out of memory", p->fn);
    if (st->n_keys > 0)
        memcpy(keys, st->keys, st->n_keys * sizeof *keys);
    snprintf(keys[st->n_keys].key, sizeof keys[st->n_keys].key, "%s", key);
    keys[st->n_keys].column = column;
    nn_xfree(st->keys);
    st->keys = keys;
    st->n_keys++;
    return NN_OK;
}

/* Groups a line's tokens: keyword, then values, then key = value pairs. */
static nn_status split(const parser *p, line_tokens *lt, statement *out)
{
    token *t = lt->t;
    size_t n = lt->n;
    if (t[0].kind != T_WORD)
        return perr_at(p, p->line, t[0].column, "expected a layer kind or a keyword, got %s '%s'",
                       kind_text(t[0].kind), t[0].text);
    out->keyword = &t[0];
    size_t i = 1;
    for (; i < n && !(i + 1 < n && t[i + 1].kind == T_EQ); i++) {
        if (t[i].kind == T_EQ)
            return perr_at(p, p->line, t[i].column, "expected a setting name before '='");
        if (out->n_values == sizeof out->values / sizeof out->values[0])
            return perr_at(p, p->line, t[i].column, "too many values after '%s'", t[0].text);
        out->values[out->n_values++] = &t[i];
    }
    nn_status st = nn_settings_new(&out->settings);
    while (st == NN_OK && i < n) {
        const token *key = &t[i];
        if (key->kind != T_WORD && i + 1 < n && t[i + 1].kind == T_EQ)
            return perr_at(p, p->line, key->column,
                           "expected a setting name before '=', got %s '%s'", kind_text(key->kind),
                           key->text);
        if (key->kind != T_WORD)
            return perr_at(p, p->line, key->column,
                           "expected a setting (name = value), got %s '%s'", kind_text(key->kind),
                           key->text);
        if (i + 1 >= n || t[i + 1].kind != T_EQ)
            return perr_at(p, p->line, key->column,
                           "expected a setting (name = value), got '%s' alone; bare values go "
                           "before the settings",
                           key->text);
        if (i + 2 >= n || t[i + 2].kind == T_EQ)
            return perr_at(p, p->line, t[i + 1].column, "expected a value after '%s ='", key->text);
        if (strlen(key->text) > NN_SETTINGS_MAX_KEY)
            return perr_at(p, p->line, key->column, "setting name '%.40s...' is too long",
                           key->text);
        if (nn_settings_find(out->settings, key->text) != NN_VALUE_NONE)
            return perr_at(p, p->line, key->column, "setting '%s' is given twice", key->text);
        st = put_value(out->settings, key->text, &t[i + 2]);
        if (st == NN_OK)
            st = add_key(p, out, key->text, key->column);
        i += 3;
    }
    return st;
}

static void statement_release(statement *s)
{
    nn_settings_free(s->settings);
    nn_xfree(s->keys);
    memset(s, 0, sizeof *s);
}

/* The statement takes exactly `count` bare values and no settings. */
static nn_status want_plain(const parser *p, const statement *s, size_t count, const char *what)
{
    if (s->n_values < count)
        return perr_at(p, p->line, s->keyword->column + strlen(s->keyword->text),
                       "expected %s after '%s'", what, s->keyword->text);
    if (s->n_values > count)
        return perr_at(p, p->line, s->values[count]->column, "unexpected '%s': '%s' takes only %s",
                       s->values[count]->text, s->keyword->text, what);
    if (s->n_keys > 0)
        return perr_at(p, p->line, s->keys[0].column, "'%s' takes no settings", s->keyword->text);
    return NN_OK;
}

static nn_status want_uint(const parser *p, const token *t, const char *what, uint64_t min,
                           uint64_t *v)
{
    uint64_t u = t->kind == T_UINT ? t->u : (uint64_t)t->i;
    if ((t->kind != T_INT && t->kind != T_UINT) || (t->kind == T_INT && t->i < 0) || u < min)
        return perr_at(p, p->line, t->column, "expected %s (a whole number >= %llu), got '%s'",
                       what, (unsigned long long)min, t->text);
    *v = u;
    return NN_OK;
}

static nn_status want_size(const parser *p, const token *t, const char *what, uint64_t min,
                           size_t *v)
{
    uint64_t u = 0;
    nn_status st = want_uint(p, t, what, min, &u);
    if (st == NN_OK && u > SIZE_MAX)
        return perr_at(p, p->line, t->column, "%s %s is too large", what, t->text);
    if (st == NN_OK)
        *v = (size_t)u;
    return st;
}

static nn_status want_bool(const parser *p, const token *t, const char *what, int *v)
{
    if (t->kind == T_WORD && (strcmp(t->text, "true") == 0 || strcmp(t->text, "false") == 0))
        *v = t->text[0] == 't';
    else if (t->kind == T_INT && (t->i == 0 || t->i == 1))
        *v = (int)t->i;
    else
        return perr_at(p, p->line, t->column, "expected true or false for %s, got '%s'", what,
                       t->text);
    return NN_OK;
}

/* An item (layer, loss, optimizer) from a statement: name, settings, places. */
static nn_status make_item(const parser *p, statement *s, const char *name, size_t column, item *it)
{
    it->name = nn_xalloc(strlen(name) + 1);
    if (it->name == NULL)
        return nn_error(NN_ERR_NOMEM, "%s: out of memory", p->fn);
    memcpy(it->name, name, strlen(name) + 1);
    it->settings = s->settings;
    it->keys = s->keys;
    it->n_keys = s->n_keys;
    s->settings = NULL;
    s->keys = NULL;
    s->n_keys = 0;
    it->line = p->line;
    it->column = column;
    return NN_OK;
}

static nn_status read_schedule(const parser *p, statement *s, nn_train_settings *t)
{
    if (s->n_values != 1 || s->values[0]->kind != T_WORD)
        return perr_at(p, p->line, s->n_values ? s->values[0]->column : s->keyword->column + 8,
                       "expected a schedule kind after 'schedule' (constant, step, exponential, "
                       "cosine or linear)");
    const token *k = s->values[0];
    nn_schedule_kind kind;
    if (nn_schedule_kind_from_name(k->text, &kind) != NN_OK)
        return perr_at(p, p->line, k->column,
                       "unknown schedule '%s' (known: constant, step, exponential, cosine, linear)",
                       k->text);
    static const char *const known_constant[] = {"per_step", NULL};
    static const char *const known_step[] = {"step_size", "gamma", "per_step", NULL};
    static const char *const known_exponential[] = {"gamma", "per_step", NULL};
    static const char *const known_cosine[] = {"T_max", "eta_min", "per_step", NULL};
    static const char *const known_linear[] = {"start_factor", "end_factor", "total_iters",
                                               "per_step", NULL};
    const char *const *known = known_constant;
    nn_schedule sc = nn_schedule_constant();
    switch (kind) {
    case NN_SCHEDULE_CONSTANT:
        break;
    case NN_SCHEDULE_STEP:
        known = known_step;
        sc = nn_schedule_step(0, NN_SCHEDULE_STEP_DEFAULT_GAMMA);
        break;
    case NN_SCHEDULE_EXPONENTIAL:
        known = known_exponential;
        sc = nn_schedule_exponential(0.0);
        break;
    case NN_SCHEDULE_COSINE:
        known = known_cosine;
        sc = nn_schedule_cosine(0, NN_SCHEDULE_COSINE_DEFAULT_ETA_MIN);
        break;
    case NN_SCHEDULE_LINEAR:
        known = known_linear;
        sc = nn_schedule_linear(NN_SCHEDULE_LINEAR_DEFAULT_START_FACTOR,
                                NN_SCHEDULE_LINEAR_DEFAULT_END_FACTOR,
                                NN_SCHEDULE_LINEAR_DEFAULT_TOTAL_ITERS);
        break;
    }
    int per_step = 0;
    item it = {NULL, s->settings, p->line, s->keyword->column, s->keys, s->n_keys};
    nn_status st = nn_settings_check_keys(s->settings, k->text, known);
    /* The settings without a default (docs/spec-format.md; torch requires them too):
     * missing, they were 0, which the check reported as a bad value or, for gamma,
     * took (a rate of 0 from the second epoch on). */
    const char *needed = kind == NN_SCHEDULE_STEP          ? "step_size"
                         : kind == NN_SCHEDULE_EXPONENTIAL ? "gamma"
                         : kind == NN_SCHEDULE_COSINE      ? "T_max"
                                                           : NULL;
    if (st == NN_OK && needed != NULL && nn_settings_find(s->settings, needed) == NN_VALUE_NONE)
        return perr_at(p, p->line, s->keyword->column, "schedule %s needs %s=", k->text, needed);
    if (st == NN_OK)
        st = nn_settings_get_size(s->settings, "step_size", &sc.step_size);
    if (st == NN_OK)
        st = nn_settings_get_float(s->settings, "gamma", &sc.gamma);
    if (st == NN_OK)
        st = nn_settings_get_size(s->settings, "T_max", &sc.T_max);
    if (st == NN_OK)
        st = nn_settings_get_float(s->settings, "eta_min", &sc.eta_min);
    if (st == NN_OK)
        st = nn_settings_get_float(s->settings, "start_factor", &sc.start_factor);
    if (st == NN_OK)
        st = nn_settings_get_float(s->settings, "end_factor", &sc.end_factor);
    if (st == NN_OK)
        st = nn_settings_get_size(s->settings, "total_iters", &sc.total_iters);
    if (st == NN_OK)
        st = nn_settings_get_bool(s->settings, "per_step", &per_step);
    if (st == NN_OK)
        st = nn_schedule_check(&sc);
    if (st != NN_OK)
        return item_error(p, &it, st);
    t->has_schedule = 1;
    t->schedule = sc;
    t->schedule_per_step = per_step;
    return NN_OK;
}

/* Which statements have been seen, for "given twice" and "input first". */
typedef struct seen {
    size_t input, loss, optim, epochs, batch, shuffle, seed, schedule, clip, patience, restore;
} seen;

static nn_status once(const parser *p, const statement *s, size_t *line)
{
    if (*line != 0)
        return perr_at(p, p->line, s->keyword->column, "'%s' is given twice (first on line %zu)",
                       s->keyword->text, *line);
    *line = p->line;
    return NN_OK;
}

static nn_status read_statement(const parser *p, nn_spec *spec, statement *s, seen *sn)
{
    const char *kw = s->keyword->text;
    nn_train_settings *t = &spec->train;
    nn_status st;
    if (strcmp(kw, "input") == 0) {
        if ((st = once(p, s, &sn->input)) != NN_OK ||
            (st = want_plain(p, s, 1, "the input width")) != NN_OK)
            return st;
        if (spec->n_layers > 0)
            return perr_at(p, p->line, s->keyword->column, "'input' must come before the layers");
        return want_size(p, s->values[0], "the input width", 1, &spec->in_width);
    }
    if (strcmp(kw, "epochs") == 0) {
        if ((st = once(p, s, &sn->epochs)) != NN_OK ||
            (st = want_plain(p, s, 1, "a number of epochs")) != NN_OK)
            return st;
        return want_size(p, s->values[0], "the number of epochs", 1, &t->epochs);
    }
    if (strcmp(kw, "batch") == 0 || strcmp(kw, "batch_size") == 0) {
        if ((st = once(p, s, &sn->batch)) != NN_OK ||
            (st = want_plain(p, s, 1, "a batch size")) != NN_OK)
            return st;
        return want_size(p, s->values[0], "the batch size", 1, &t->batch_size);
    }
    if (strcmp(kw, "patience") == 0) {
        if ((st = once(p, s, &sn->patience)) != NN_OK ||
            (st = want_plain(p, s, 1, "a number of epochs")) != NN_OK)
            return st;
        return want_size(p, s->values[0], "the patience", 0, &t->patience);
    }
    if (strcmp(kw, "seed") == 0) {
        if ((st = once(p, s, &sn->seed)) != NN_OK || (st = want_plain(p, s, 1, "a seed")) != NN_OK)
            return st;
        return want_uint(p, s->values[0], "the seed", 0, &t->seed);
    }
    if (strcmp(kw, "shuffle") == 0) {
        if ((st = once(p, s, &sn->shuffle)) != NN_OK ||
            (st = want_plain(p, s, 1, "true or false")) != NN_OK)
            return st;
        return want_bool(p, s->values[0], "shuffle", &t->shuffle);
    }
    if (strcmp(kw, "restore_best") == 0) {
        if ((st = once(p, s, &sn->restore)) != NN_OK ||
            (st = want_plain(p, s, 1, "true or false")) != NN_OK)
            return st;
        return want_bool(p, s->values[0], "restore_best", &t->restore_best);
    }
    if (strcmp(kw, "clip_grad_norm") == 0) {
        if ((st = once(p, s, &sn->clip)) != NN_OK || (st = want_plain(p, s, 1, "a norm")) != NN_OK)
            return st;
        const token *v = s->values[0];
        double d = v->kind == T_FLOAT  ? v->f
                   : v->kind == T_INT  ? (double)v->i
                   : v->kind == T_UINT ? (double)v->u
                                       : -1.0;
        if (v->kind == T_WORD || v->kind == T_STRING || !(d >= 0.0))
            return perr_at(p, p->line, v->column,
                           "expected a norm >= 0 for clip_grad_norm, got '%s'", v->text);
        t->clip_grad_norm = d;
        return NN_OK;
    }
    if (strcmp(kw, "schedule") == 0) {
        if ((st = once(p, s, &sn->schedule)) != NN_OK)
            return st;
        return read_schedule(p, s, t);
    }
    if (strcmp(kw, "loss") == 0 || strcmp(kw, "optimizer") == 0) {
        int is_loss = kw[0] == 'l';
        if ((st = once(p, s, is_loss ? &sn->loss : &sn->optim)) != NN_OK)
            return st;
        if (s->n_values != 1 || s->values[0]->kind != T_WORD)
            return perr_at(p, p->line,
                           s->n_values ? s->values[0]->column : s->keyword->column + strlen(kw) + 1,
                           "expected %s name after '%s'", is_loss ? "a loss" : "an optimizer", kw);
        const token *name = s->values[0];
        if (is_loss ? nn_registry_loss(spec->reg, name->text) == NULL
                    : nn_registry_optim(spec->reg, name->text) == NULL) {
            nn_status e =
                is_loss
                    ? nn_registry_create_loss(spec->reg, name->text, NULL, &(nn_loss *){NULL})
                    : nn_registry_create_optim(spec->reg, name->text, NULL, &(nn_optim *){NULL});
            (void)e; /* only for the message listing the known names */
            char cause[400];
            snprintf(cause, sizeof cause, "%s", nn_last_error());
            const char *known = strstr(cause, "(known:");
            return perr_at(p, p->line, name->column, "unknown %s '%s' %s",
                           is_loss ? "loss" : "optimizer", name->text, known ? known : "");
        }
        if (is_loss && nn_settings_find(s->settings, "target_width") != NN_VALUE_NONE) {
            item tmp = {NULL, s->settings, p->line, s->keyword->column, s->keys, s->n_keys};
            st = nn_settings_get_size(s->settings, "target_width", &spec->target_width);
            if (st == NN_OK && spec->target_width == 0)
                st = nn_error(NN_ERR_INVALID_ARG, "setting 'target_width' must be >= 1");
            if (st != NN_OK)
                return item_error(p, &tmp, st);
            nn_settings_remove(s->settings, "target_width");
        }
        return make_item(p, s, name->text, s->keyword->column,
                         is_loss ? &spec->loss : &spec->optim);
    }

    /* A layer. */
    const nn_layer_class *cls = nn_registry_layer(spec->reg, kw);
    if (cls == NULL) {
        nn_layer *none = NULL;
        nn_registry_create_layer(spec->reg, kw, NULL, &none); /* for the list of kinds */
        char cause[400];
        snprintf(cause, sizeof cause, "%s", nn_last_error());
        const char *known = strstr(cause, "(known: ");
        size_t known_len = known != NULL ? strlen(known) : 0;
        return perr_at(p, p->line, s->keyword->column,
                       "unknown layer kind or keyword '%s' (layer kinds: %.*s; keywords: input, "
                       "loss, optimizer, epochs, batch, shuffle, seed, schedule, clip_grad_norm, "
                       "patience, restore_best)",
                       kw, known_len > 10 ? (int)(known_len - 9) : 0,
                       known_len > 10 ? known + 8 : "");
    }
    if (sn->input == 0)
        return perr_at(p, p->line, s->keyword->column, "expected 'input N' before the first layer");
    if (s->n_values > 1)
        return perr_at(p, p->line, s->values[1]->column, "'%s' takes at most one bare value", kw);
    if (s->n_values == 1) {
        if (cls->positional == NULL)
            return perr_at(p, p->line, s->values[0]->column,
                           "'%s' takes no bare value (got '%s'); settings are written name = value",
                           kw, s->values[0]->text);
        if (nn_settings_find(s->settings, cls->positional) != NN_VALUE_NONE)
            return perr_at(p, p->line, s->values[0]->column,
                           "'%s' is given both as a bare value and as '%s ='", cls->positional,
                           cls->positional);
        if ((st = put_value(s->settings, cls->positional, s->values[0])) != NN_OK ||
            (st = add_key(p, s, cls->positional, s->values[0]->column)) != NN_OK)
            return st;
    }
    if (spec->n_layers == MAX_LAYERS)
        return perr_at(p, p->line, s->keyword->column, "more than %u layers", MAX_LAYERS);
    if (spec->n_layers == spec->cap_layers) {
        size_t cap = spec->cap_layers ? 2 * spec->cap_layers : 8;
        item *layers = nn_xcalloc(cap, sizeof *layers);
        if (layers == NULL)
            return nn_error(NN_ERR_NOMEM, "%s: out of memory", p->fn);
        if (spec->n_layers > 0)
            memcpy(layers, spec->layers, spec->n_layers * sizeof *layers);
        nn_xfree(spec->layers);
        spec->layers = layers;
        spec->cap_layers = cap;
    }
    st = make_item(p, s, kw, s->keyword->column, &spec->layers[spec->n_layers]);
    if (st == NN_OK)
        spec->n_layers++;
    else
        item_release(&spec->layers[spec->n_layers]);
    return st;
}

/* ---- building ---------------------------------------------------------------------------------
 */

/* The target width a spec without target_width gets: 1 when the loss takes it
 * (class indices for cross-entropy and NLL, and any one-output network), else the
 * output width. */
static size_t auto_target_width(const nn_loss *loss, size_t out_width)
{
    /* A probe: its refusal ("mse: predictions have width 2 but targets 1") is no error
     * of the caller's, and status.h promises their last one stays. */
    nn_error_kept kept;
    nn_error_keep(&kept);
    size_t w = loss->ops->check(loss, out_width, 1) == NN_OK ? 1 : out_width;
    nn_error_put_back(&kept);
    return w;
}

/* Builds the network; p (may be NULL) turns errors into located format errors. */
static nn_status build(const nn_spec *spec, nn_rng *rng, const parser *p, nn_net **out)
{
    nn_net *net = NULL;
    nn_status st = nn_net_new(spec->in_width, &net);
    for (size_t i = 0; st == NN_OK && i < spec->n_layers; i++) {
        const item *it = &spec->layers[i];
        nn_layer *l = NULL;
        st = nn_registry_create_layer(spec->reg, it->name, it->settings, &l);
        if (st == NN_OK && (st = nn_net_add(net, l)) != NN_OK)
            nn_layer_free(l);
        if (st != NN_OK)
            st = item_error(p, it, st);
    }
    /* nn_net_init_params's loop, layer by layer, so an initialiser that fails
     * (uniform with b <= a) is reported at its line. */
    nn_rng own;
    if (rng == NULL) {
        nn_rng_seed(&own, spec->train.seed, 0);
        rng = &own;
    }
    for (size_t i = 0; st == NN_OK && i < spec->n_layers; i++) {
        nn_layer *l = nn_net_layer(net, i);
        if (l->ops->init_params == NULL)
            continue;
        unsigned long seq = nn_error_seq();
        st = nn_error_if_silent(l->ops->init_params(l, rng), seq,
                                "layer '%s' cannot initialise its parameters", l->ops->name);
        if (st != NN_OK)
            st = item_error(p, &spec->layers[i], st);
    }
    if (st == NN_OK && spec->loss.name != NULL) {
        nn_loss *loss = NULL;
        if (spec->n_layers == 0)
            st = nn_error(NN_ERR_STATE, "a loss needs at least one layer");
        if (st == NN_OK)
            st = nn_registry_create_loss(spec->reg, spec->loss.name, spec->loss.settings, &loss);
        if (st == NN_OK) {
            size_t tw = spec->target_width ? spec->target_width
                                           : auto_target_width(loss, nn_net_out_width(net));
            if ((st = nn_net_set_loss(net, loss, tw)) != NN_OK)
                nn_loss_free(loss);
        }
        if (st != NN_OK)
            st = item_error(p, &spec->loss, st);
    }
    if (st == NN_OK && spec->optim.name != NULL) {
        nn_optim *o = NULL;
        if (spec->n_layers == 0)
            st = nn_error(NN_ERR_STATE, "an optimizer needs at least one layer");
        if (st == NN_OK)
            st = nn_registry_create_optim(spec->reg, spec->optim.name, spec->optim.settings, &o);
        if (st == NN_OK && (st = nn_net_set_optim(net, o)) != NN_OK)
            nn_optim_free(o);
        if (st != NN_OK)
            st = item_error(p, &spec->optim, st);
    }
    if (st != NN_OK) {
        nn_net_free(net);
        return st;
    }
    *out = net;
    return NN_OK;
}

nn_status nn_spec_build(const nn_spec *spec, nn_rng *rng, nn_net **out)
{
    NN_CHECK_NULL(out);
    *out = NULL;
    NN_CHECK_NULL(spec);
    return build(spec, rng, NULL, out);
}

/* ---- parsing ----------------------------------------------------------------------------------
 */

static nn_status parse(const char *fn, const char *text, size_t len, const char *source,
                       const nn_registry *reg, nn_spec **out, nn_spec_error *err)
{
    parser p = {fn, source, 0, err};
    if (err != NULL)
        memset(err, 0, sizeof *err);
    nn_spec *spec = nn_xcalloc(1, sizeof *spec);
    char *src = nn_xalloc(strlen(source) + 1);
    if (spec == NULL || src == NULL) {
        nn_xfree(spec);
        nn_xfree(src);
        return nn_error(NN_ERR_NOMEM, "%s: out of memory", fn);
    }
    memcpy(src, source, strlen(source) + 1);
    spec->source = src;
    spec->reg = reg;
    spec->train = nn_train_default_settings();
    line_tokens lt = {NULL, 0, 0};
    seen sn;
    memset(&sn, 0, sizeof sn);
    nn_status st = NN_OK;
    size_t pos = 0;
    while (st == NN_OK && pos < len) {
        p.line++;
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t line_len = nl != NULL ? (size_t)(nl - (text + pos)) : len - pos;
        st = lex_line(&p, text + pos, line_len, &lt);
        pos += line_len + (nl != NULL);
        if (st != NN_OK || lt.n == 0)
            continue;
        statement s;
        memset(&s, 0, sizeof s);
        st = split(&p, &lt, &s);
        if (st == NN_OK)
            st = read_statement(&p, spec, &s, &sn);
        statement_release(&s);
    }
    tokens_clear(&lt);
    nn_xfree(lt.t);
    if (st == NN_OK && sn.input == 0)
        st = perr_at(&p, p.line ? p.line : 1, 1,
                     "expected 'input N' (the input width); the spec has none");
    if (st == NN_OK && spec->n_layers == 0)
        st = perr_at(&p, sn.input, 1, "expected at least one layer after 'input'");
    if (st == NN_OK) {
        /* Build once: every error of the spec shows now, at its line. */
        nn_net *net = NULL;
        st = build(spec, NULL, &p, &net);
        nn_net_free(net);
    }
    if (st != NN_OK) {
        nn_spec_free(spec);
        return st;
    }
    *out = spec;
    return NN_OK;
}

nn_status nn_spec_parse(const char *text, const char *source, const nn_registry *registry,
                        nn_spec **out, nn_spec_error *err)
{
    NN_CHECK_NULL(out);
    *out = NULL;
    NN_CHECK_NULL(text);
    if (err != NULL)
        memset(err, 0, sizeof *err);
    size_t len = strlen(text);
    if (len > MAX_SPEC_BYTES) /* the documented limit, as for a file */
        return nn_error(NN_ERR_FORMAT, "nn_spec_parse: the text is over %zu bytes: not a spec",
                        MAX_SPEC_BYTES);
    return parse(__func__, text, len, source != NULL ? source : "<string>", registry, out, err);
}

nn_status nn_spec_parse_file(const char *path, const nn_registry *registry, nn_spec **out,
                             nn_spec_error *err)
{
    NN_CHECK_NULL(out);
    *out = NULL;
    NN_CHECK_NULL(path);
    if (err != NULL)
        memset(err, 0, sizeof *err);
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return nn_error(NN_ERR_IO, "nn_spec_parse_file: cannot open '%s': %s", path,
                        strerror(errno));
    size_t cap = 4096, len = 0;
    char *buf = nn_xalloc(cap);
    nn_status st =
        buf != NULL ? NN_OK : nn_error(NN_ERR_NOMEM, "nn_spec_parse_file: out of memory");
    while (st == NN_OK) {
        if (len + 1 == cap) {
            if (cap >= MAX_SPEC_BYTES) {
                st = nn_error(NN_ERR_FORMAT,
                              "nn_spec_parse_file: '%s' is over %zu bytes: not a spec", path,
                              MAX_SPEC_BYTES);
                break;
            }
            char *nbuf = nn_xalloc(2 * cap);
            if (nbuf == NULL) {
                st = nn_error(NN_ERR_NOMEM, "nn_spec_parse_file: out of memory");
                break;
            }
            memcpy(nbuf, buf, len);
            nn_xfree(buf);
            buf = nbuf;
            cap *= 2;
        }
        size_t got = fread(buf + len, 1, cap - 1 - len, f);
        len += got;
        if (got == 0) {
            if (ferror(f))
                st = nn_error(NN_ERR_IO, "nn_spec_parse_file: cannot read '%s': %s", path,
                              strerror(errno));
            break;
        }
    }
    fclose(f);
    if (st == NN_OK) {
        buf[len] = '\0';
        const char *nul = memchr(buf, '\0', len);
        if (nul != NULL) {
            /* A binary file (a model file passed as a spec): say so at the first NUL. */
            size_t line = 1, col = 1;
            for (const char *c = buf; c < nul; c++, col++)
                if (*c == '\n') {
                    line++;
                    col = 0;
                }
            parser p = {"nn_spec_parse_file", path, line, err};
            st = perr_at(&p, line, col, "unexpected byte 0x00 (a binary file, not a spec?)");
        }
    }
    if (st == NN_OK)
        st = parse("nn_spec_parse_file", buf, len, path, registry, out, err);
    nn_xfree(buf);
    return st;
}

nn_status nn_spec_build_string(const char *text, const nn_registry *registry, nn_net **net,
                               nn_train_settings *train, nn_spec_error *err)
{
    NN_CHECK_NULL(net);
    *net = NULL;
    nn_spec *spec = NULL;
    nn_status st = nn_spec_parse(text, NULL, registry, &spec, err);
    if (st == NN_OK)
        st = nn_spec_build(spec, NULL, net);
    if (st == NN_OK && train != NULL)
        *train = spec->train;
    nn_spec_free(spec);
    return st;
}

nn_status nn_spec_build_file(const char *path, const nn_registry *registry, nn_net **net,
                             nn_train_settings *train, nn_spec_error *err)
{
    NN_CHECK_NULL(net);
    *net = NULL;
    nn_spec *spec = NULL;
    nn_status st = nn_spec_parse_file(path, registry, &spec, err);
    if (st == NN_OK)
        st = nn_spec_build(spec, NULL, net);
    if (st == NN_OK && train != NULL)
        *train = spec->train;
    nn_spec_free(spec);
    return st;
}

/* ---- writing ----------------------------------------------------------------------------------
 */

/* A growing string; the first failed allocation sets nomem. */
typedef struct sbuf {
    char *p;
    size_t len, cap;
    int nomem;
} sbuf;

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void
sb_printf(sbuf *b, const char *fmt, ...)
{
    if (b->nomem)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->nomem = 1;
        return;
    }
    if (b->len + (size_t)n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + (size_t)n + 1)
            cap *= 2;
        char *p = nn_xalloc(cap);
        if (p == NULL) {
            b->nomem = 1;
            return;
        }
        if (b->len > 0)
            memcpy(p, b->p, b->len);
        nn_xfree(b->p);
        b->p = p;
        b->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* The shortest text that reads back as exactly v; with as_float, the shortest that
 * reads back as the same float (for settings a kind keeps in float32). */
static void format_double(double v, int as_float, char *buf, size_t size)
{
    if (!(fabs(v) <= FLT_MAX))
        as_float = 0; /* beyond float's range the conversion would be undefined */
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, size, "%.*g", prec, v);
        double back = strtod(buf, NULL);
        if (as_float ? (float)back == (float)v : back == v)
            break;
    }
    /* %g writes 10 as "1e+01": plain decimals read better where they are short. */
    if (strchr(buf, 'e') != NULL && fabs(v) >= 1e-4 && fabs(v) < 1e15)
        for (int prec = 0; prec <= 20; prec++) {
            char plain[64];
            snprintf(plain, sizeof plain, "%.*f", prec, v);
            double back = strtod(plain, NULL);
            if (as_float ? (float)back == (float)v : back == v) {
                if (strlen(plain) < size)
                    memcpy(buf, plain, strlen(plain) + 1);
                break;
            }
        }
    /* A float that happens to be whole still reads as one: "1.0", not "1". */
    if (strpbrk(buf, ".eEn") == NULL && strlen(buf) + 2 < size)
        strcat(buf, ".0");
}

static int is_word(const char *s)
{
    if (!is_alpha(s[0]))
        return 0;
    for (const char *c = s; *c; c++)
        if (!is_alpha(*c) && !is_digit(*c))
            return 0;
    return 1;
}

/* Appends the value of key; floats in their short float form when short_float. */
static void put_setting_value(sbuf *b, const nn_settings *s, const char *key, int short_float)
{
    char buf[64];
    switch (nn_settings_find(s, key)) {
    case NN_VALUE_INT: {
        int64_t v = 0;
        nn_settings_get_int(s, key, &v);
        sb_printf(b, "%lld", (long long)v);
        break;
    }
    case NN_VALUE_UINT: {
        uint64_t v = 0;
        nn_settings_get_uint(s, key, &v);
        sb_printf(b, "%llu", (unsigned long long)v);
        break;
    }
    case NN_VALUE_FLOAT: {
        double v = 0.0;
        nn_settings_get_float(s, key, &v);
        format_double(v, short_float, buf, sizeof buf);
        sb_printf(b, "%s", buf);
        break;
    }
    case NN_VALUE_STRING: {
        const char *v = "";
        nn_settings_get_string(s, key, &v);
        if (is_word(v) && strcmp(v, "true") != 0 && strcmp(v, "false") != 0) {
            sb_printf(b, "%s", v);
        } else {
            sb_printf(b, "\"");
            for (const char *c = v; *c; c++)
                sb_printf(b, "%s%c", *c == '"' || *c == '\\' ? "\\" : "", *c);
            sb_printf(b, "\"");
        }
        break;
    }
    case NN_VALUE_BOOL: {
        int v = 0;
        nn_settings_get_bool(s, key, &v);
        sb_printf(b, "%s", v ? "true" : "false");
        break;
    }
    case NN_VALUE_NONE:
        break;
    }
}

/* Makes an object of a family from settings and describes it again: what a reader
 * of the written spec would end up with. */
typedef enum family { FAM_LAYER, FAM_LOSS, FAM_OPTIM } family;

static nn_status reread(const nn_registry *reg, family fam, const char *name, const nn_settings *in,
                        nn_settings *out)
{
    nn_status st;
    switch (fam) {
    case FAM_LAYER: {
        nn_layer *l = NULL;
        st = nn_registry_create_layer(reg, name, in, &l);
        if (st == NN_OK)
            st = nn_registry_describe_layer(reg, l, out);
        nn_layer_free(l);
        return st;
    }
    case FAM_LOSS: {
        nn_loss *l = NULL;
        st = nn_registry_create_loss(reg, name, in, &l);
        if (st == NN_OK)
            st = nn_registry_describe_loss(reg, l, out);
        nn_loss_free(l);
        return st;
    }
    case FAM_OPTIM: {
        nn_optim *o = NULL;
        st = nn_registry_create_optim(reg, name, in, &o);
        if (st == NN_OK)
            st = nn_registry_describe_optim(reg, o, out);
        nn_optim_free(o);
        return st;
    }
    }
    return NN_ERR_INVALID_ARG;
}

/* 1 when reading `keep` (with floats in short form where short_keys says) gives
 * exactly full, 0 when not, -1 when memory ran out on the way (taken for a no, it
 * gave a longer text with NN_OK). */
static int rereads_as(const nn_registry *reg, family fam, const char *name, const nn_settings *keep,
                      const nn_settings *full, nn_settings *scratch_in, nn_settings *scratch_out,
                      const char *short_key)
{
    nn_error_kept kept; /* a probe: a refusal is no error of the caller's (status.h) */
    nn_error_keep(&kept);
    nn_settings_clear(scratch_in);
    nn_status st = nn_settings_merge(scratch_in, keep);
    if (st == NN_OK && short_key != NULL) {
        double v = 0.0;
        char buf[64];
        nn_settings_get_float(keep, short_key, &v);
        format_double(v, 1, buf, sizeof buf);
        st = nn_settings_set_float(scratch_in, short_key, strtod(buf, NULL));
    }
    if (st == NN_OK)
        st = reread(reg, fam, name, scratch_in, scratch_out);
    if (st == NN_ERR_NOMEM)
        return -1;
    nn_error_put_back(&kept);
    return st == NN_OK && nn_settings_equal(scratch_out, full);
}

/* One line: name, the positional value, then the settings a reader needs. Settings
 * are dropped one by one while reading the rest back still gives `full`, and a float
 * is written in its short float form when that reads back the same. */
static nn_status emit_item(sbuf *b, const nn_registry *reg, family fam, const char *name,
                           const char *positional, const nn_settings *full)
{
    nn_settings *keep = NULL, *trial = NULL, *in = NULL, *out = NULL;
    nn_status st = nn_settings_new(&keep);
    if (st == NN_OK)
        st = nn_settings_new(&trial);
    if (st == NN_OK)
        st = nn_settings_new(&in);
    if (st == NN_OK)
        st = nn_settings_new(&out);
    if (st == NN_OK)
        st = nn_settings_merge(keep, full);
    size_t n = nn_settings_count(full);
    for (size_t i = 0; st == NN_OK && i < n; i++) {
        const char *key = nn_settings_key(full, i);
        nn_settings_clear(trial);
        if ((st = nn_settings_merge(trial, keep)) != NN_OK)
            break;
        nn_settings_remove(trial, key);
        int r = rereads_as(reg, fam, name, trial, full, in, out, NULL);
        if (r < 0) {
            st = NN_ERR_NOMEM; /* its message is recorded */
        } else if (r > 0) {
            nn_settings_clear(keep);
            st = nn_settings_merge(keep, trial);
        }
    }
    if (st == NN_OK) {
        sb_printf(b, "%s", name);
        /* The positional value first, then the others in the kind's order. */
        for (int pass = 0; st == NN_OK && pass < 2; pass++)
            for (size_t i = 0; st == NN_OK && i < nn_settings_count(keep); i++) {
                const char *key = nn_settings_key(keep, i);
                int is_pos = positional != NULL && strcmp(key, positional) == 0;
                if (is_pos != (pass == 0))
                    continue;
                int r = nn_settings_type(keep, i) == NN_VALUE_FLOAT
                            ? rereads_as(reg, fam, name, keep, full, in, out, key)
                            : 0;
                if (r < 0) {
                    st = NN_ERR_NOMEM;
                    break;
                }
                int short_float = r;
                if (is_pos)
                    sb_printf(b, " ");
                else
                    sb_printf(b, " %s=", key);
                put_setting_value(b, keep, key, short_float);
            }
    }
    nn_settings_free(keep);
    nn_settings_free(trial);
    nn_settings_free(in);
    nn_settings_free(out);
    return st;
}

static void emit_schedule(sbuf *b, const nn_train_settings *t)
{
    const nn_schedule *s = &t->schedule;
    char x[64], y[64];
    sb_printf(b, "schedule %s", nn_schedule_kind_name(s->kind));
    switch (s->kind) {
    case NN_SCHEDULE_CONSTANT:
        break;
    case NN_SCHEDULE_STEP:
        format_double(s->gamma, 0, x, sizeof x);
        sb_printf(b, " step_size=%zu gamma=%s", s->step_size, x);
        break;
    case NN_SCHEDULE_EXPONENTIAL:
        format_double(s->gamma, 0, x, sizeof x);
        sb_printf(b, " gamma=%s", x);
        break;
    case NN_SCHEDULE_COSINE:
        format_double(s->eta_min, 0, x, sizeof x);
        sb_printf(b, " T_max=%zu eta_min=%s", s->T_max, x);
        break;
    case NN_SCHEDULE_LINEAR:
        format_double(s->start_factor, 0, x, sizeof x);
        format_double(s->end_factor, 0, y, sizeof y);
        sb_printf(b, " start_factor=%s end_factor=%s total_iters=%zu", x, y, s->total_iters);
        break;
    }
    sb_printf(b, "%s\n", t->schedule_per_step ? " per_step=true" : "");
}

/* The training settings a spec can state: what the reader would accept. Written
 * unchecked, a schedule of an unknown kind printed a NULL name ("(null)", undefined
 * behaviour) and 'epochs 0' came back as a parse error. */
static nn_status check_train(const char *fn, const nn_train_settings *t)
{
    if (t->epochs == 0 || t->batch_size == 0)
        return nn_error(NN_ERR_INVALID_ARG, "%s: epochs (%zu) and batch size (%zu) must be >= 1",
                        fn, t->epochs, t->batch_size);
    if (!(t->clip_grad_norm >= 0.0) || isinf(t->clip_grad_norm))
        return nn_error(NN_ERR_INVALID_ARG, "%s: clip_grad_norm %g is not finite and >= 0", fn,
                        t->clip_grad_norm);
    if (t->has_schedule) {
        nn_status st = nn_schedule_check(&t->schedule);
        if (st != NN_OK)
            return nn_error_prefix(st, "%s", fn);
    }
    return NN_OK;
}

/* A spec's numbers are finite (its reader takes no inf or nan), but a user's class may
 * describe an object with an infinite setting: refused rather than written as a word the
 * reader would take for a string. what and name say whose settings these are. */
static nn_status check_finite_settings(const char *fn, const char *what, const char *name,
                                       const nn_settings *s)
{
    for (size_t i = 0; i < nn_settings_count(s); i++) {
        double v = 0.0;
        const char *key = nn_settings_key(s, i);
        if (nn_settings_type(s, i) == NN_VALUE_FLOAT && nn_settings_get_float(s, key, &v) == NN_OK &&
            !isfinite(v))
            return nn_error(NN_ERR_INVALID_ARG,
                            "%s: %s '%s': setting '%s' is %g, which a spec cannot state (save a "
                            "model file instead)",
                            fn, what, name, key, v);
    }
    return NN_OK;
}

static nn_status write_spec(const char *fn, nn_net *net, const nn_train_settings *train,
                            const nn_registry *reg, sbuf *b)
{
    if (train != NULL) {
        nn_status st = check_train(fn, train);
        if (st != NN_OK)
            return st;
    }
    /* What the reader would refuse is not written. */
    size_t n_layers = nn_net_layer_count(net);
    if (n_layers == 0)
        return nn_error(NN_ERR_STATE, "%s: the network has no layers (a spec needs one)", fn);
    if (n_layers > MAX_LAYERS)
        return nn_error(NN_ERR_INVALID_ARG, "%s: %zu layers, more than the reader takes (%u)", fn,
                        n_layers, MAX_LAYERS);
    nn_status st = nn_net_loss_fits(fn, net);
    if (st != NN_OK)
        return st;
    nn_settings *s = NULL;
    st = nn_settings_new(&s);
    if (st != NN_OK)
        return st;
    sb_printf(b, "# written by nn %s\n", NN_VERSION_STRING);
    sb_printf(b, "input %zu\n", nn_net_in_width(net));
    for (size_t i = 0; st == NN_OK && i < nn_net_layer_count(net); i++) {
        nn_layer *l = nn_net_layer(net, i);
        const nn_layer_class *cls = nn_registry_layer(reg, l->ops->name);
        /* the reader draws the parameters: initialisers it cannot draw from would
         * not read back */
        st = nn_dense_check_inits("nn_init_fill", l);
        if (st != NN_OK)
            st = nn_error_prefix(st, "%s: layer %zu ('dense')", fn, i);
        if (st == NN_OK)
            st = nn_registry_describe_layer(reg, l, s);
        if (st == NN_OK)
            st = check_finite_settings(fn, "layer", l->ops->name, s);
        if (st == NN_OK)
            st = emit_item(b, reg, FAM_LAYER, l->ops->name, cls->positional, s);
        sb_printf(b, "\n");
    }
    nn_loss *loss = nn_net_loss(net);
    if (st == NN_OK && loss != NULL) {
        size_t tw = nn_net_target_width(net);
        st = nn_registry_describe_loss(reg, loss, s);
        if (st == NN_OK)
            st = check_finite_settings(fn, "loss", loss->ops->name, s);
        if (st == NN_OK) {
            sb_printf(b, "loss ");
            st = emit_item(b, reg, FAM_LOSS, loss->ops->name, NULL, s);
        }
        if (st == NN_OK && tw != auto_target_width(loss, nn_net_out_width(net)))
            sb_printf(b, " target_width=%zu", tw);
        sb_printf(b, "\n");
    }
    nn_optim *o = nn_net_optim(net);
    if (st == NN_OK && o != NULL) {
        st = nn_registry_describe_optim(reg, o, s);
        if (st == NN_OK)
            st = check_finite_settings(fn, "optimizer", o->ops->name, s);
        if (st == NN_OK) {
            sb_printf(b, "optimizer ");
            st = emit_item(b, reg, FAM_OPTIM, o->ops->name, NULL, s);
        }
        sb_printf(b, "\n");
    }
    if (st == NN_OK && train != NULL) {
        sb_printf(b, "epochs %zu\nbatch %zu\nshuffle %s\nseed %llu\n", train->epochs,
                  train->batch_size, train->shuffle ? "true" : "false",
                  (unsigned long long)train->seed);
        if (train->has_schedule)
            emit_schedule(b, train);
        if (train->clip_grad_norm > 0.0) {
            char x[64];
            format_double(train->clip_grad_norm, 0, x, sizeof x);
            sb_printf(b, "clip_grad_norm %s\n", x);
        }
        if (train->patience > 0)
            sb_printf(b, "patience %zu\n", train->patience);
        if (train->restore_best)
            sb_printf(b, "restore_best true\n");
    }
    nn_settings_free(s);
    if (st == NN_OK && b->nomem)
        st = nn_error(NN_ERR_NOMEM, "%s: out of memory", fn);
    return st;
}

nn_status nn_spec_to_string(nn_net *net, const nn_train_settings *train,
                            const nn_registry *registry, char **out)
{
    NN_CHECK_NULL(out);
    *out = NULL;
    NN_CHECK_NULL(net);
    sbuf b = {NULL, 0, 0, 0};
    nn_status st = write_spec(__func__, net, train, registry, &b);
    if (st != NN_OK) {
        nn_xfree(b.p);
        return st;
    }
    *out = b.p;
    return NN_OK;
}

nn_status nn_spec_write(nn_net *net, const nn_train_settings *train, const nn_registry *registry,
                        FILE *f)
{
    NN_CHECK_NULL(net);
    NN_CHECK_NULL(f);
    sbuf b = {NULL, 0, 0, 0};
    nn_status st = write_spec(__func__, net, train, registry, &b);
    if (st == NN_OK && (fwrite(b.p, 1, b.len, f) != b.len || fflush(f) != 0))
        st = nn_error(NN_ERR_IO, "nn_spec_write: writing failed: %s", strerror(errno));
    nn_xfree(b.p);
    return st;
}

void nn_spec_string_free(char *s) { nn_xfree(s); }
