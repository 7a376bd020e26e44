/* csv.c - strict numeric CSV loading.
 *
 * The file is read once, line by line, into growing row-major buffers; the output
 * tensors are made only after the last line has parsed, so an error at any line
 * leaves the caller's pointers untouched and nothing allocated.
 */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "nn/csv.h"

nn_csv_params nn_csv_default_params(void)
{
    nn_csv_params p;
    memset(&p, 0, sizeof p);
    p.header = 1;
    p.delimiter = ',';
    p.max_line = (size_t)1 << 20;
    return p;
}

/* ---- reading lines ---- */

typedef struct reader {
    FILE *f;
    const char *path;
    char *buf;     /* max_line + 2 bytes: the line, a possible '\r', the terminator */
    size_t max;    /* max_line */
    size_t len;    /* length of the current line, line end removed */
    size_t lineno; /* 1-based number of the current line */
} reader;

/* Reads the next line into r->buf. *got is 0 at the end of the file. */
static nn_status read_line(reader *r, int *got)
{
    size_t len = 0;
    int c, any = 0;
    while ((c = getc(r->f)) != EOF) {
        any = 1;
        if (c == '\n')
            break;
        if (c == '\0')
            return nn_error(NN_ERR_FORMAT,
                            "nn_csv_load: %s:%zu: NUL byte at column %zu of the line", r->path,
                            r->lineno + 1, len + 1);
        /* One byte of slack for a '\r' that turns out to end the line. */
        if (len > r->max)
            return nn_error(NN_ERR_FORMAT, "nn_csv_load: %s:%zu: line is longer than %zu bytes",
                            r->path, r->lineno + 1, r->max);
        r->buf[len++] = (char)c;
    }
    if (ferror(r->f))
        return nn_error(NN_ERR_IO, "nn_csv_load: %s:%zu: read error: %s", r->path, r->lineno + 1,
                        strerror(errno));
    *got = any;
    if (!any)
        return NN_OK;
    r->lineno++;
    if (len > 0 && r->buf[len - 1] == '\r')
        len--;
    if (len > r->max)
        return nn_error(NN_ERR_FORMAT, "nn_csv_load: %s:%zu: line is longer than %zu bytes",
                        r->path, r->lineno, r->max);
    r->buf[len] = '\0';
    r->len = len;
    return NN_OK;
}

static int is_space(char c) { return c == ' ' || c == '\t'; }

static int is_blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!is_space(s[i]))
            return 0;
    return 1;
}

/* Splits the line in place at each delimiter (replaced by NUL), trimming spaces and
 * tabs; fields[k] points at field k. Returns the field count; only the first
 * max_fields are stored. */
static size_t split(char *line, char delim, char **fields, size_t max_fields)
{
    size_t n = 0;
    char *p = line;
    for (;;) {
        char *end = strchr(p, delim);
        if (end != NULL)
            *end = '\0';
        char *s = p, *e = p + strlen(p);
        while (is_space(*s))
            s++;
        while (e > s && is_space(e[-1]))
            e--;
        *e = '\0';
        if (n < max_fields)
            fields[n] = s;
        n++;
        if (end == NULL)
            return n;
        p = end + 1;
    }
}

static size_t count_fields(const char *line, char delim)
{
    size_t n = 1;
    for (; *line; line++)
        n += *line == delim;
    return n;
}

/* ---- choosing columns ---- */

enum { ROLE_NONE = 0, ROLE_INPUT, ROLE_TARGET };

typedef struct column {
    int role;
    size_t pos; /* column of the inputs or targets it fills */
} column;

/* Resolves one selection (by index or by name) into cols[]. */
static nn_status choose(const char *path, const char *what, const size_t *idx,
                        const char *const *names, size_t n, int role, char **header, size_t ncols,
                        column *cols)
{
    if (n == 0)
        return NN_OK;
    if ((idx == NULL) == (names == NULL))
        return nn_error(NN_ERR_INVALID_ARG,
                        "nn_csv_load: %s: give the %s columns either by index or by name (one "
                        "of %s_cols and %s_names)",
                        path, what, what, what);
    if (names != NULL && header == NULL)
        return nn_error(NN_ERR_INVALID_ARG,
                        "nn_csv_load: %s: %s columns chosen by name, but the file has no header",
                        path, what);
    for (size_t k = 0; k < n; k++) {
        size_t c = 0;
        if (idx != NULL) {
            c = idx[k];
            if (c >= ncols)
                return nn_error(NN_ERR_INVALID_ARG,
                                "nn_csv_load: %s: %s column %zu does not exist (the file has %zu "
                                "columns, 0..%zu)",
                                path, what, c, ncols, ncols - 1);
        } else {
            if (names[k] == NULL)
                return nn_error(NN_ERR_NULL_ARG, "nn_csv_load: %s: %s_names[%zu] is NULL", path,
                                what, k);
            size_t found = 0;
            c = ncols;
            for (size_t j = 0; j < ncols; j++)
                if (strcmp(header[j], names[k]) == 0) {
                    found++;
                    c = j;
                }
            if (found != 1)
                return nn_error(NN_ERR_INVALID_ARG,
                                found == 0 ? "nn_csv_load: %s: no column is named '%s'"
                                           : "nn_csv_load: %s: several columns are named '%s'",
                                path, names[k]);
        }
        if (cols[c].role != ROLE_NONE)
            return nn_error(NN_ERR_INVALID_ARG, "nn_csv_load: %s: column %zu is chosen twice", path,
                            c);
        cols[c].role = role;
        cols[c].pos = k;
    }
    return NN_OK;
}

/* ---- numbers ---- */

/* Parses a whole field as a finite float. */
static nn_status parse_number(const reader *r, const char *field, size_t col, char **header,
                              float *out)
{
    char name[80] = "";
    if (header != NULL)
        snprintf(name, sizeof name, " (%.60s)", header[col]);
    if (*field == '\0')
        return nn_error(NN_ERR_FORMAT, "nn_csv_load: %s:%zu: column %zu%s: empty field", r->path,
                        r->lineno, col, name);
    /* Only the characters of a decimal number: keeps out what strtod would also take,
     * "nan", "inf", "infinity" and hexadecimal. */
    int ok = strspn(field, "0123456789+-.eE") == strlen(field);
    char *end = NULL;
    double v = 0.0;
    if (ok) {
        v = strtod(field, &end);
        ok = end != field && *end == '\0';
    }
    if (!ok)
        return nn_error(NN_ERR_FORMAT, "nn_csv_load: %s:%zu: column %zu%s: '%.40s' is not a number",
                        r->path, r->lineno, col, name, field);
    if (!(fabs(v) < NN_FLOAT_LIMIT))
        return nn_error(NN_ERR_FORMAT,
                        "nn_csv_load: %s:%zu: column %zu%s: %.40s is beyond the float range",
                        r->path, r->lineno, col, name, field);
    *out = (float)v;
    return NN_OK;
}

/* ---- growing buffers ---- */

typedef struct growbuf {
    float *data;
    size_t len, cap; /* floats */
} growbuf;

static nn_status grow_push(growbuf *g, size_t add)
{
    if (g->len + add <= g->cap)
        return NN_OK;
    size_t cap = g->cap ? g->cap : 1024;
    while (cap < g->len + add) {
        if (cap > SIZE_MAX / 2 / sizeof(float))
            return nn_error(NN_ERR_NOMEM, "nn_csv_load: the table is too large");
        cap *= 2;
    }
    float *data = nn_xalloc(cap * sizeof(float));
    if (data == NULL)
        return nn_error(NN_ERR_NOMEM, "nn_csv_load: cannot allocate %zu floats", cap);
    if (g->len > 0)
        memcpy(data, g->data, g->len * sizeof(float));
    nn_xfree(g->data);
    g->data = data;
    g->cap = cap;
    return NN_OK;
}

static nn_status to_tensor(const growbuf *g, size_t rows, size_t cols, nn_tensor **out)
{
    nn_status st = nn_tensor_new2d(rows, cols, out);
    if (st == NN_OK)
        memcpy((*out)->data, g->data, rows * cols * sizeof(float));
    return st;
}

/* ---- loading ---- */

typedef struct load_state {
    reader r;
    char *header_line; /* a copy of the header line, split in place */
    char **header;     /* header names, or NULL without a header */
    char **fields;     /* ncols field pointers into r.buf */
    column *cols;
    growbuf in, tg;
} load_state;

static void state_free(load_state *s)
{
    if (s->r.f != NULL)
        fclose(s->r.f);
    nn_xfree(s->r.buf);
    nn_xfree(s->header_line);
    nn_xfree(s->header);
    nn_xfree(s->fields);
    nn_xfree(s->cols);
    nn_xfree(s->in.data);
    nn_xfree(s->tg.data);
}

static nn_status check_params(const char *path, const nn_csv_params *p)
{
    char d = p->delimiter;
    if (d == '\0' || d == '"' || d == '\r' || d == '\n' || d == ' ' || d == '\t')
        return nn_error(NN_ERR_INVALID_ARG,
                        "nn_csv_load: %s: delimiter %d cannot separate fields (it is NUL, a quote, "
                        "a line end or blank)",
                        path, (int)d);
    if (p->max_line == 0 || p->max_line > SIZE_MAX / 2)
        return nn_error(NN_ERR_INVALID_ARG, "nn_csv_load: %s: max_line %zu is not usable", path,
                        p->max_line);
    return NN_OK;
}

/* Reads lines until a non-blank one (*got 1) or the end of the file (*got 0).
 * *blank_at is the first blank line skipped, 0 if none. */
static nn_status next_content_line(reader *r, int *got, size_t *blank_at)
{
    *blank_at = 0;
    for (;;) {
        nn_status st = read_line(r, got);
        if (st != NN_OK || !*got)
            return st;
        if (!is_blank(r->buf, r->len))
            return NN_OK;
        if (*blank_at == 0)
            *blank_at = r->lineno;
    }
}

static nn_status load(load_state *s, const char *path, const nn_csv_params *p, size_t *rows_out,
                      size_t *ni_out, size_t *nt_out)
{
    reader *r = &s->r;
    nn_status st = check_params(path, p);
    if (st != NN_OK)
        return st;
    r->path = path;
    r->max = p->max_line;
    r->buf = nn_xalloc(p->max_line + 2);
    if (r->buf == NULL)
        return nn_error(NN_ERR_NOMEM, "nn_csv_load: %s: cannot allocate a line of %zu bytes", path,
                        p->max_line);
    r->f = fopen(path, "rb");
    if (r->f == NULL)
        return nn_error(NN_ERR_IO, "nn_csv_load: cannot open %s: %s", path, strerror(errno));

    int got = 0;
    size_t blank = 0;
    if ((st = next_content_line(r, &got, &blank)) != NN_OK)
        return st;
    if (!got)
        return nn_error(NN_ERR_FORMAT, "nn_csv_load: %s: the file is empty", path);
    if (blank != 0)
        return nn_error(NN_ERR_FORMAT, "nn_csv_load: %s:%zu: empty line", path, blank);
    size_t first_line = r->lineno;
    size_t ncols = count_fields(r->buf, p->delimiter);
    s->fields = nn_xcalloc(ncols, sizeof *s->fields);
    s->cols = nn_xcalloc(ncols, sizeof *s->cols);
    if (s->fields == NULL || s->cols == NULL)
        return nn_error(NN_ERR_NOMEM, "nn_csv_load: %s: cannot allocate %zu columns", path, ncols);
    if (p->header) {
        s->header_line = nn_xalloc(r->len + 1);
        s->header = nn_xcalloc(ncols, sizeof *s->header);
        if (s->header_line == NULL || s->header == NULL)
            return nn_error(NN_ERR_NOMEM, "nn_csv_load: %s: cannot allocate the header", path);
        memcpy(s->header_line, r->buf, r->len + 1);
        split(s->header_line, p->delimiter, s->header, ncols);
        for (size_t j = 0; j < ncols; j++) {
            size_t n = strlen(s->header[j]);
            if (n >= 2 && s->header[j][0] == '"' && s->header[j][n - 1] == '"') {
                s->header[j][n - 1] = '\0';
                s->header[j]++;
            }
        }
    }

    if ((st = choose(path, "target", p->target_cols, p->target_names, p->n_targets, ROLE_TARGET,
                     s->header, ncols, s->cols)) != NN_OK ||
        (st = choose(path, "input", p->input_cols, p->input_names, p->n_inputs, ROLE_INPUT,
                     s->header, ncols, s->cols)) != NN_OK)
        return st;
    size_t ni = p->n_inputs, nt = p->n_targets;
    if (ni == 0)
        for (size_t j = 0; j < ncols; j++)
            if (s->cols[j].role == ROLE_NONE) {
                s->cols[j].role = ROLE_INPUT;
                s->cols[j].pos = ni++;
            }
    if (ni == 0)
        return nn_error(NN_ERR_INVALID_ARG,
                        "nn_csv_load: %s: every one of the %zu columns is a "
                        "target; no input column is left",
                        path, ncols);

    /* Data lines: the first content line already read when there is no header. */
    size_t rows = 0;
    int have_line = !p->header;
    for (;;) {
        if (!have_line) {
            if ((st = next_content_line(r, &got, &blank)) != NN_OK)
                return st;
            if (!got)
                break; /* blank lines at the end of the file are ignored */
            if (blank != 0)
                return nn_error(NN_ERR_FORMAT, "nn_csv_load: %s:%zu: empty line", path, blank);
        }
        have_line = 0;
        size_t n = split(r->buf, p->delimiter, s->fields, ncols);
        if (n != ncols)
            return nn_error(NN_ERR_FORMAT, "nn_csv_load: %s:%zu: %zu fields, but line %zu has %zu",
                            path, r->lineno, n, first_line, ncols);
        if ((st = grow_push(&s->in, ni)) != NN_OK || (st = grow_push(&s->tg, nt)) != NN_OK)
            return st;
        float *in_row = s->in.data + s->in.len;
        float *tg_row = nt > 0 ? s->tg.data + s->tg.len : NULL;
        for (size_t j = 0; j < ncols; j++) {
            /* Columns nobody chose are not parsed: they may hold text (names, ids). */
            if (s->cols[j].role == ROLE_NONE)
                continue;
            float *dst = s->cols[j].role == ROLE_INPUT ? in_row : tg_row;
            if ((st = parse_number(r, s->fields[j], j, s->header, dst + s->cols[j].pos)) != NN_OK)
                return st;
        }
        s->in.len += ni;
        s->tg.len += nt;
        rows++;
    }
    if (rows == 0)
        return nn_error(NN_ERR_FORMAT, "nn_csv_load: %s: a header but no data lines", path);
    *rows_out = rows;
    *ni_out = ni;
    *nt_out = nt;
    return NN_OK;
}

nn_status nn_csv_load(const char *path, const nn_csv_params *params, nn_tensor **inputs,
                      nn_tensor **targets)
{
    NN_CHECK_NULL(path);
    NN_CHECK_NULL(inputs);
    nn_csv_params defaults = nn_csv_default_params();
    const nn_csv_params *p = params != NULL ? params : &defaults;
    if (p->n_targets > 0 && targets == NULL)
        return nn_error(NN_ERR_NULL_ARG, "nn_csv_load: %s: %zu target columns but targets is NULL",
                        path, p->n_targets);

    load_state s;
    memset(&s, 0, sizeof s);
    size_t rows = 0, ni = 0, nt = 0;
    nn_tensor *x = NULL, *y = NULL;
    nn_status st = load(&s, path, p, &rows, &ni, &nt);
    if (st == NN_OK)
        st = to_tensor(&s.in, rows, ni, &x);
    if (st == NN_OK && nt > 0)
        st = to_tensor(&s.tg, rows, nt, &y);
    state_free(&s);
    if (st != NN_OK) {
        nn_tensor_free(x);
        return st;
    }
    *inputs = x;
    if (targets != NULL && nt > 0)
        *targets = y;
    return NN_OK;
}

nn_status nn_csv_load_dataset(const char *path, const nn_csv_params *params, nn_dataset **out)
{
    NN_CHECK_NULL(path);
    NN_CHECK_NULL(out);
    if (params == NULL || params->n_targets == 0)
        return nn_error(NN_ERR_INVALID_ARG,
                        "nn_csv_load_dataset: %s: a data set needs target columns (n_targets > 0)",
                        path);
    nn_tensor *x = NULL, *y = NULL;
    nn_status st = nn_csv_load(path, params, &x, &y);
    if (st != NN_OK)
        return st;
    nn_dataset *d = NULL;
    if ((st = nn_dataset_new(x, y, &d)) != NN_OK) {
        nn_tensor_free(x);
        nn_tensor_free(y);
        return st;
    }
    *out = d;
    return NN_OK;
}
