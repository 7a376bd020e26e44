/* cli/nn.c - the nn command-line tool: train a network from a spec and a CSV file,
 * evaluate it, predict with it, describe a model file.
 *
 *   nn train SPEC DATA.csv -o MODEL   nn eval MODEL DATA.csv
 *   nn predict MODEL [FILE|-]         nn info MODEL
 *
 * docs/cli.md is the manual. Exit status: 0 success; 1 a failure at run time (a file
 * that cannot be read or is malformed, training that fails, a column the data does
 * not have); 2 a command line that is wrong in itself, detected before any file is
 * read (an unknown command or option, a missing or malformed argument). Every
 * message goes to stderr and starts with "nn: ".
 *
 * The tool uses only the public API (include/nn/); it is also its example of how the
 * spec reader, the CSV loader, the scaler, nn_net_fit and the model file fit
 * together.
 */
#define _POSIX_C_SOURCE 200809L /* isatty, fileno */

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nn/nn.h"

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

/* Longest CSV line the tool reads (the library's default, nn_csv_default_params). */
#define MAX_LINE ((size_t)1 << 20)
#define MAX_CONFUSION 100 /* classes up to which nn eval prints the confusion matrix */

/* ---- messages ------------------------------------------------------------------------ */

#if defined(__GNUC__)
__attribute__((format(printf, 1, 2)))
#endif
static void
err(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("nn: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* nn_last_error() without the library function's name in front ("nn_csv_load: "):
 * the file, line and what is wrong are what a user of the tool needs. */
static const char *lib_error(void)
{
    const char *m = nn_last_error();
    if (strncmp(m, "nn_", 3) == 0) {
        size_t n = strspn(m, "abcdefghijklmnopqrstuvwxyz_0123456789");
        if (m[n] == ':' && m[n + 1] == ' ')
            return m + n + 2;
    }
    return m;
}

/* A usage error: the message, a pointer to --help, and status 2. */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static int
usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("nn: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    fprintf(stderr, "Try 'nn %s--help'.\n", cmd[0] ? cmd : "");
    return EXIT_USAGE;
}

/* ---- command-line options -------------------------------------------------------------- */

typedef struct opt_def {
    const char *name; /* "--target"; "-o" for a short one */
    int has_arg;
    int id;
} opt_def;

typedef struct args {
    const char *cmd; /* "train " etc., for messages */
    int argc;
    char **argv;
    int i;
    int options_done; /* after "--" */
} args;

/* The next argument: returns 1 with *id and *val (NULL without a value) for an option,
 * 0 with *val for a positional argument, -1 at the end, or EXIT_USAGE after printing
 * what is wrong. Options may come anywhere; "--opt=value" and "--opt value" both work;
 * "-" alone is a positional (stdin). */
static int next_arg(args *a, const opt_def *defs, int *id, const char **val)
{
    while (a->i < a->argc) {
        const char *s = a->argv[a->i++];
        if (a->options_done || s[0] != '-' || s[1] == '\0') {
            *val = s;
            return 0;
        }
        if (strcmp(s, "--") == 0) {
            a->options_done = 1;
            continue;
        }
        const char *eq = strncmp(s, "--", 2) == 0 ? strchr(s, '=') : NULL;
        size_t len = eq != NULL ? (size_t)(eq - s) : strlen(s);
        for (const opt_def *d = defs; d->name != NULL; d++) {
            if (strlen(d->name) != len || strncmp(d->name, s, len) != 0)
                continue;
            *id = d->id;
            *val = NULL;
            if (!d->has_arg) {
                if (eq != NULL)
                    return -usage_error(a->cmd, "option %s takes no value", d->name);
                return 1;
            }
            if (eq != NULL) {
                *val = eq + 1;
            } else if (a->i < a->argc) {
                *val = a->argv[a->i++];
            } else {
                return -usage_error(a->cmd, "option %s needs a value", d->name);
            }
            return 1;
        }
        return -usage_error(a->cmd, "unknown option '%.*s'", (int)len, s);
    }
    return -1;
}

/* next_arg's usage errors come back negated so that they differ from -1. */
#define ARG_END   (-1)
#define ARG_ERROR (-EXIT_USAGE)

static int parse_size(const char *cmd, const char *opt, const char *s, size_t min, size_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    /* digits only: strtoull skips blanks and wraps a minus, so ' -1' was 2^64 - 1 */
    if (!isdigit((unsigned char)s[0]) || end == s || *end != '\0' || errno != 0 || v < min ||
        v > SIZE_MAX)
        return usage_error(cmd, "%s needs a whole number >= %zu, got '%s'", opt, min, s);
    *out = (size_t)v;
    return EXIT_OK;
}

static int parse_u64(const char *cmd, const char *opt, const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (!isdigit((unsigned char)s[0]) || end == s || *end != '\0' || errno != 0)
        return usage_error(cmd, "%s needs a whole number from 0 to 2^64 - 1, got '%s'", opt, s);
    *out = (uint64_t)v;
    return EXIT_OK;
}

/* A finite decimal number, the whole of s (no hexadecimal, inf or nan). */
static int read_number(const char *s, double *out)
{
    if (s[0] == '\0' || s[strspn(s, "0123456789+-.eE")] != '\0')
        return 0;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || !isfinite(v))
        return 0;
    *out = v;
    return 1;
}

static int parse_double(const char *cmd, const char *opt, const char *s, double lo, double hi,
                        double *out)
{
    double v;
    if (!read_number(s, &v) || !(v >= lo && v <= hi))
        return usage_error(cmd, "%s needs a number from %g to %g, got '%s'", opt, lo, hi, s);
    *out = v;
    return EXIT_OK;
}

/* ---- CSV first line: header detection and column names ----------------------------------- */

/* Splits line (modified in place) at commas into at most max fields, with spaces,
 * tabs and enclosing double quotes removed. Returns the number of fields, or
 * max + 1 when there are more. */
static size_t split_fields(char *line, char **fields, size_t max)
{
    size_t n = 0;
    char *p = line;
    for (;;) {
        char *comma = strchr(p, ',');
        if (comma != NULL)
            *comma = '\0';
        p += strspn(p, " \t");
        size_t len = strlen(p);
        while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            p[--len] = '\0';
        if (len >= 2 && p[0] == '"' && p[len - 1] == '"') {
            p[len - 1] = '\0';
            p++;
        }
        if (n == max)
            return max + 1;
        fields[n++] = p;
        if (comma == NULL)
            return n;
        p = comma + 1;
    }
}

/* What the tool knows of a data file before loading it. */
typedef struct csv_head {
    size_t cols;
    char *line;   /* the first line, split: names[i] point into it */
    char **names; /* cols entries: the header's names, or NULL without a header */
    int header;   /* 1: the first line is a header */
} csv_head;

static void csv_head_free(csv_head *h)
{
    free(h->line);
    free(h->names);
}

/* Reads one line into buf (cap bytes), without its '\n' and NUL-terminated; *len is
 * the count of bytes read, NUL bytes included (fgets cannot tell them from the end).
 * Returns 1, 0 at the end of the input, -1 when the line does not fit. */
static int read_line(FILE *f, char *buf, size_t cap, size_t *len)
{
    size_t n = 0;
    int c;
    while ((c = getc(f)) != EOF && c != '\n') {
        if (n + 1 >= cap)
            return -1;
        buf[n++] = (char)c;
    }
    if (c == EOF && n == 0)
        return 0;
    buf[n] = '\0';
    *len = n;
    return 1;
}

/* Drops a UTF-8 byte order mark (spreadsheets write one) from the front of a first
 * line of len bytes, NUL-terminated: it is not part of the first field. */
static void skip_bom(char *line, size_t *len)
{
    if (*len >= 3 && (unsigned char)line[0] == 0xEF && (unsigned char)line[1] == 0xBB &&
        (unsigned char)line[2] == 0xBF) {
        memmove(line, line + 3, *len - 2);
        *len -= 3;
    }
}

/* Splits a first line (taken over: freed with h) into h's columns and decides
 * whether it is a header: header_opt 1 or 0 forces it; -1 detects it, a header being
 * a line with no field that is a number (so that a first data row with one bad field
 * is reported as such, not skipped). Returns EXIT_OK or EXIT_FAIL after a message. */
static int head_from_line(char *line, int header_opt, csv_head *h)
{
    memset(h, 0, sizeof *h);
    /* Count the fields first, then split into an array of that size. */
    size_t cols = 1;
    for (const char *c = line; *c; c++)
        cols += *c == ',';
    char **fields = malloc(cols * sizeof *fields);
    if (fields == NULL) {
        free(line);
        err("out of memory");
        return EXIT_FAIL;
    }
    split_fields(line, fields, cols);
    int header = header_opt;
    if (header < 0) {
        header = 1;
        for (size_t i = 0; i < cols; i++) {
            double v;
            if (read_number(fields[i], &v))
                header = 0;
        }
    }
    h->cols = cols;
    h->line = line;
    h->header = header;
    if (header) {
        h->names = fields;
    } else {
        free(fields);
    }
    return EXIT_OK;
}

/* Reads the first line of path and decides whether it is a header, as
 * head_from_line. Returns EXIT_OK or EXIT_FAIL after a message. */
static int csv_read_head(const char *path, int header_opt, csv_head *h)
{
    memset(h, 0, sizeof *h);
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        err("cannot open '%s': %s", path, strerror(errno));
        return EXIT_FAIL;
    }
    /* The data is opened twice, here for its first line and then by the loader; a pipe
     * (or /dev/stdin, <(...)) would give the loader only what this read left, and the
     * first rows were lost without a word. */
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        fclose(f);
        err("%s: not a regular file (a pipe or device cannot be read twice); save the data "
            "to a file first", path);
        return EXIT_FAIL;
    }
    char *line = malloc(MAX_LINE + 2);
    if (line == NULL) {
        fclose(f);
        err("out of memory");
        return EXIT_FAIL;
    }
    size_t len = 0;
    int got = read_line(f, line, MAX_LINE + 2, &len);
    int e = ferror(f) ? errno : 0; /* before fclose can change errno */
    fclose(f);
    if (got > 0 && len > 0 && line[len - 1] == '\r')
        line[--len] = '\0';
    /* The first line's problems said as such: they were read as a line of fewer or
     * more columns (a NUL cut it, a long line was read in part). */
    const char *bad = e                                  ? strerror(e)
                      : got == 0                         ? "the file is empty"
                      : got < 0 || len > MAX_LINE        ? "line 1 is longer than 1048576 bytes"
                      : strlen(line) != len              ? "line 1 holds a NUL byte"
                      : line[strspn(line, " \t")] == '\0' ? "line 1 is blank"
                                                         : NULL;
    if (bad != NULL) {
        free(line);
        if (e)
            err("cannot read '%s': %s", path, bad);
        else
            err("%s: %s", path, bad);
        return EXIT_FAIL;
    }
    skip_bom(line, &len);
    return head_from_line(line, header_opt, h);
}

/* Resolves a --target or --inputs list ("2", "gender", "y1,y2", "0,3") to column
 * indices: a whole number is an index, anything else a name from the header.
 * *out (allocated, *n entries) is the caller's. Returns EXIT_OK, or EXIT_FAIL after
 * a message (a name without a header, an unknown name, an index past the last column). */
static int resolve_columns(const char *opt, const char *list, const csv_head *h, const char *path,
                           size_t **out, size_t *n)
{
    char *copy = strdup(list);
    size_t max = 1;
    for (const char *c = list; *c; c++)
        max += *c == ',';
    char **items = malloc(max * sizeof *items);
    size_t *cols = malloc(max * sizeof *cols);
    if (copy == NULL || items == NULL || cols == NULL) {
        free(copy);
        free(items);
        free(cols);
        err("out of memory");
        return EXIT_FAIL;
    }
    size_t count = split_fields(copy, items, max);
    int rc = EXIT_OK;
    for (size_t i = 0; i < count && rc == EXIT_OK; i++) {
        const char *it = items[i];
        if (it[0] != '\0' && it[strspn(it, "0123456789")] == '\0') {
            errno = 0;
            unsigned long long v = strtoull(it, NULL, 10);
            if (errno != 0 || v >= h->cols) {
                err("%s %s: %s has %zu columns (0 to %zu)", opt, it, path, h->cols, h->cols - 1);
                rc = EXIT_FAIL;
            }
            cols[i] = (size_t)v;
            continue;
        }
        if (h->names == NULL) {
            err("%s '%s': %s has no header line to find names in (give column numbers, from 0)",
                opt, it, path);
            rc = EXIT_FAIL;
            break;
        }
        size_t j = 0;
        while (j < h->cols && strcmp(h->names[j], it) != 0)
            j++;
        size_t again = j + 1; /* a name two columns share picks neither (as the library's lookup) */
        while (again < h->cols && strcmp(h->names[again], it) != 0)
            again++;
        if (j == h->cols) {
            err("%s '%s': %s has no column of that name", opt, it, path);
            rc = EXIT_FAIL;
        } else if (again < h->cols) {
            err("%s '%s': %s has several columns of that name (%zu and %zu; give the number)", opt,
                it, path, j, again);
            rc = EXIT_FAIL;
        }
        cols[i] = j;
    }
    free(copy);
    free(items);
    if (rc != EXIT_OK) {
        free(cols);
        return rc;
    }
    *out = cols;
    *n = count;
    return EXIT_OK;
}

/* Which columns a loss takes as targets, in words, for messages. */
static int is_class_loss(const char *loss)
{
    return strcmp(loss, "cross_entropy") == 0 || strcmp(loss, "nll") == 0;
}

static const char *loss_name(nn_net *net)
{
    nn_loss *l = nn_net_loss(net);
    return l != NULL ? l->ops->name : "";
}

/* Class labels (a class loss's one target column) must be classes of the network,
 * and bce's targets in [0, 1]: checked here, where the file and line are known. The
 * library finds a bad label only in the batch that holds it, shuffled, and names
 * the row within that batch. */
static int check_labels(nn_net *net, const nn_dataset *d, const char *path, int header)
{
    const char *loss = loss_name(net);
    int classes = is_class_loss(loss) && nn_net_target_width(net) == 1;
    int binary = strcmp(loss, "bce") == 0 || strcmp(loss, "bce_logits") == 0;
    if (!classes && !binary)
        return EXIT_OK;
    const nn_tensor *y = nn_dataset_y(d);
    size_t c = nn_net_out_width(net);
    for (size_t i = 0; i < y->size; i++) {
        float v = y->data[i];
        size_t line = i / y->shape[1] + 1 + (header ? 1 : 0);
        if (classes && !(v >= 0.0f && v == floorf(v) && v < (float)c)) {
            err("%s:%zu: class %g is not one of the network's classes 0..%zu", path, line,
                (double)v, c - 1);
            return EXIT_FAIL;
        }
        if (binary && !(v >= 0.0f && v <= 1.0f)) {
            err("%s:%zu: target %g of the loss '%s' is not in [0, 1]", path, line, (double)v,
                loss);
            return EXIT_FAIL;
        }
    }
    return EXIT_OK;
}

/* Loads the data file for a network: targets are the --target columns (default:
 * the last target-width columns), inputs the --inputs columns (default: every other
 * column), and the inputs must be as many as the network takes. *data is the
 * caller's. Returns EXIT_OK or EXIT_FAIL after a message. */
static int load_data(nn_net *net, const char *path, int header_opt, const char *target_opt,
                     const char *inputs_opt, nn_dataset **data)
{
    csv_head h;
    int rc = csv_read_head(path, header_opt, &h);
    if (rc != EXIT_OK)
        return rc;
    size_t width = nn_net_target_width(net);
    size_t *targets = NULL, n_targets = 0, *inputs = NULL, n_inputs = 0;
    if (target_opt != NULL) {
        rc = resolve_columns("--target", target_opt, &h, path, &targets, &n_targets);
    } else if (width >= h.cols) {
        err("%s has %zu columns, too few for %zu target columns and an input", path, h.cols, width);
        rc = EXIT_FAIL;
    } else {
        targets = malloc(width * sizeof *targets);
        if (targets == NULL) {
            err("out of memory");
            rc = EXIT_FAIL;
        }
        for (size_t i = 0; rc == EXIT_OK && i < width; i++)
            targets[i] = h.cols - width + i;
        n_targets = width;
    }
    if (rc == EXIT_OK && n_targets != width) {
        err("the loss '%s' takes %zu target column%s (%s), --target gives %zu", loss_name(net),
            width, width == 1 ? "" : "s",
            is_class_loss(loss_name(net)) && width == 1 ? "class indices 0..C-1" : "the values",
            n_targets);
        rc = EXIT_FAIL;
    }
    if (rc == EXIT_OK && inputs_opt != NULL)
        rc = resolve_columns("--inputs", inputs_opt, &h, path, &inputs, &n_inputs);
    size_t in_width = nn_net_in_width(net);
    size_t have = inputs != NULL ? n_inputs : h.cols - n_targets;
    if (rc == EXIT_OK && have != in_width) {
        err("the network takes %zu inputs, but %s gives %zu column%s besides the target%s%s",
            in_width, path, have, have == 1 ? "" : "s", n_targets == 1 ? "" : "s",
            inputs != NULL ? " (--inputs)" : "");
        rc = EXIT_FAIL;
    }
    if (rc == EXIT_OK) {
        nn_csv_params p = nn_csv_default_params();
        p.header = h.header;
        p.target_cols = targets;
        p.n_targets = n_targets;
        p.input_cols = inputs;
        p.n_inputs = n_inputs;
        nn_status st = nn_csv_load_dataset(path, &p, data);
        if (st != NN_OK) {
            err("%s", lib_error());
            rc = EXIT_FAIL;
        }
    }
    if (rc == EXIT_OK)
        rc = check_labels(net, *data, path, h.header);
    free(targets);
    free(inputs);
    csv_head_free(&h);
    return rc;
}

/* Applies the model's standardisation, if it has one, to the inputs of d. */
static int standardise_dataset(const nn_model *m, nn_dataset *d)
{
    nn_scaler *s = NULL;
    nn_status st = nn_model_get_scaler(m, &s);
    if (st == NN_OK && s != NULL)
        st = nn_dataset_standardize(d, s);
    nn_scaler_free(s);
    if (st != NN_OK) {
        err("%s", lib_error());
        return EXIT_FAIL;
    }
    return EXIT_OK;
}

/* ---- nn train ------------------------------------------------------------------------- */

static const char train_help[] =
    "usage: nn train SPEC DATA.csv -o MODEL [options]\n"
    "\n"
    "Builds the network SPEC describes (docs/spec-format.md), trains it on the rows of\n"
    "DATA.csv with the spec's loss, optimizer and training settings, and saves the\n"
    "trained model to MODEL (docs/file-format.md), optimizer state included.\n"
    "\n"
    "Data:\n"
    "  --target COLS      target column(s): 0-based numbers or header names, comma-\n"
    "                     separated (default: the last column, or the last W columns\n"
    "                     when the loss takes targets of width W). cross_entropy and\n"
    "                     nll take one column of class indices 0..C-1; the other\n"
    "                     losses take the values themselves.\n"
    "  --inputs COLS      input columns (default: every column that is not a target)\n"
    "  --header           the first line names the columns\n"
    "  --no-header        the first line is data (default: a header when no field of\n"
    "                     the first line is a number)\n"
    "  --val-split F      hold out a fraction F in (0, 1) of the rows for validation,\n"
    "                     chosen at random from the seed\n"
    "  --standardize      fit a standardisation (x - mean) / std on the training rows;\n"
    "                     it is stored in the model, so eval and predict take raw inputs\n"
    "  --shift V,...      subtract these fixed values from the inputs instead (one per\n"
    "                     input; stored the same way, with std 1)\n"
    "Training (override the spec):\n"
    "  --epochs N  --batch N  --lr X  --seed N\n"
    "  --accuracy         also measure accuracy (automatic for cross_entropy, nll and\n"
    "                     single-output bce or bce_logits)\n"
    "Output:\n"
    "  -o, --output MODEL the model file to write (atomically)\n"
    "  --no-optim         leave the optimizer state out (a smaller file to ship)\n"
    "  --history FILE     write each epoch's figures to FILE as CSV\n"
    "  --meta KEY=VALUE   store a metadata entry (repeatable)\n"
    "  -q, --quiet        no progress and no summary\n"
    "  -h, --help         this text\n";

enum {
    O_HELP = 1,
    O_TARGET,
    O_INPUTS,
    O_HEADER,
    O_NO_HEADER,
    O_VAL,
    O_STD,
    O_SHIFT,
    O_EPOCHS,
    O_BATCH,
    O_LR,
    O_SEED,
    O_ACC,
    O_OUT,
    O_NO_OPTIM,
    O_HISTORY,
    O_META,
    O_QUIET,
    O_OUTPUT
};

/* Whether accuracy means something for this network without being asked. */
static int is_classifier(nn_net *net)
{
    const char *l = loss_name(net);
    return is_class_loss(l) ||
           ((strcmp(l, "bce") == 0 || strcmp(l, "bce_logits") == 0) && nn_net_out_width(net) == 1);
}

/* A loss that squashes its input itself after a layer that already did trains, to a
 * worse optimum, with no error anywhere: the commonest slip of a first classifier.
 * cross_entropy and bce_logits take logits: after softmax or sigmoid (outputs in
 * (0, 1)) no class can get more than e / (e + C - 1) of cross_entropy's softmax, and
 * after log_softmax (outputs <= 0) bce_logits' sigmoid never passes 1/2; nll takes
 * log-probabilities, which softmax and sigmoid do not give. (log_softmax before
 * cross_entropy is harmless: softmax does not see the shift.) Said on stderr (even
 * with --quiet); training goes on, as torch's would. */
static void warn_double_squash(nn_net *net, const char *spec)
{
    size_t n = nn_net_layer_count(net);
    nn_activation_kind act;
    nn_loss_kind loss;
    if (n == 0 || nn_activation_get(nn_net_layer(net, n - 1), &act, NULL, NULL) != NN_OK ||
        nn_loss_get_kind(nn_net_loss(net), &loss) != NN_OK)
        return; /* not an activation last, or a loss of one's own */
    int probs = act == NN_ACT_SOFTMAX || act == NN_ACT_SIGMOID;
    const char *name = nn_activation_name(act);
    if (probs && loss == NN_LOSS_CROSS_ENTROPY)
        err("warning: %s ends in %s, but cross_entropy takes logits and applies its own: "
            "end with the dense layer", spec, name);
    else if ((probs || act == NN_ACT_LOG_SOFTMAX) && loss == NN_LOSS_BCE_LOGITS)
        err("warning: %s ends in %s, but bce_logits takes logits and applies its own: "
            "end with the dense layer%s", spec, name, act == NN_ACT_SIGMOID ? ", or use bce" : "");
    else if (probs && loss == NN_LOSS_NLL)
        err("warning: %s ends in %s, but nll takes log-probabilities: end with log_softmax",
            spec, name);
}

/* Parses --shift's list into width floats. Returns EXIT_OK or EXIT_FAIL. */
static int parse_shift(const char *list, size_t width, float **out)
{
    float *v = malloc((width > 0 ? width : 1) * sizeof *v);
    char *copy = strdup(list);
    if (v == NULL || copy == NULL) {
        free(v);
        free(copy);
        err("out of memory");
        return EXIT_FAIL;
    }
    size_t n = 0;
    int ok = 1;
    for (char *tok = copy, *next; ok && tok != NULL; tok = next) {
        next = strchr(tok, ',');
        if (next != NULL)
            *next++ = '\0';
        double d;
        if (n == width || !read_number(tok, &d))
            ok = 0;
        else
            v[n++] = (float)d;
    }
    free(copy);
    if (!ok || n != width) {
        err("--shift needs %zu numbers, one per input, got '%s'", width, list);
        free(v);
        return EXIT_FAIL;
    }
    *out = v;
    return EXIT_OK;
}

typedef struct train_opts {
    const char *spec, *data, *out, *target, *inputs, *history, *shift;
    int header, standardize, accuracy, no_optim, quiet;
    double val_split, lr;
    int has_lr, has_seed;
    size_t epochs, batch;
    uint64_t seed;
    const char *meta[64];
    size_t n_meta;
} train_opts;

/* The epochs of a fit as they end (nn_net_fit's on_epoch). */
typedef struct epoch_log {
    nn_epoch_stats *e;
    size_t n, cap;
    int nomem;
} epoch_log;

static int log_epoch(nn_net *net, const nn_epoch_stats *s, void *user)
{
    (void)net;
    epoch_log *rec = user;
    if (rec->n == rec->cap) {
        size_t cap = rec->cap ? 2 * rec->cap : 64;
        nn_epoch_stats *e = cap <= SIZE_MAX / sizeof *e ? realloc(rec->e, cap * sizeof *e) : NULL;
        if (e == NULL) {
            rec->nomem = 1;
            return 1; /* stop: the rest could not be reported */
        }
        rec->e = e;
        rec->cap = cap;
    }
    rec->e[rec->n++] = *s;
    return 0;
}

static int train_run(const train_opts *o)
{
    nn_spec *spec = NULL;
    nn_spec_error se;
    nn_status st = nn_spec_parse_file(o->spec, NULL, &spec, &se);
    if (st != NN_OK) {
        if (st == NN_ERR_FORMAT && se.line > 0)
            err("%s:%zu:%zu: %s", se.source, se.line, se.column, se.message);
        else
            err("%s", lib_error());
        return EXIT_FAIL;
    }
    nn_train_settings t = nn_spec_training(spec);
    if (o->epochs)
        t.epochs = o->epochs;
    if (o->batch)
        t.batch_size = o->batch;
    if (o->has_seed)
        t.seed = o->seed;
    nn_rng init_rng, shuffle_rng, split_rng;
    nn_rng_seed(&init_rng, t.seed, 0);    /* the spec's rule: parameters from stream 0 */
    nn_rng_seed(&shuffle_rng, t.seed, 1); /* shuffling from stream 1 */
    nn_rng_seed(&split_rng, t.seed, 2);   /* and the tool's validation split from 2 */
    nn_net *net = NULL;
    st = nn_spec_build(spec, &init_rng, &net);
    nn_spec_free(spec);
    if (st != NN_OK) {
        err("%s", lib_error());
        return EXIT_FAIL;
    }

    int rc = EXIT_OK;
    nn_model *model = NULL;
    nn_dataset *all = NULL, *train = NULL, *val = NULL;
    nn_scaler *scaler = NULL;
    float *shift = NULL, *ones = NULL;
    nn_epoch_stats *epochs = NULL;
    if (nn_net_loss(net) == NULL || nn_net_optim(net) == NULL) {
        err("%s: a spec to train needs a 'loss' and an 'optimizer' line", o->spec);
        rc = EXIT_FAIL;
    }
    if (rc == EXIT_OK)
        warn_double_squash(net, o->spec);
    if (rc == EXIT_OK && o->has_lr && nn_optim_set_lr(nn_net_optim(net), o->lr) != NN_OK) {
        err("--lr: %s", lib_error());
        rc = EXIT_FAIL;
    }
    if (rc == EXIT_OK)
        rc = load_data(net, o->data, o->header, o->target, o->inputs, &all);
    if (rc == EXIT_OK && o->shift != NULL)
        rc = parse_shift(o->shift, nn_net_in_width(net), &shift);
    if (rc == EXIT_OK && o->val_split > 0) {
        st = nn_dataset_split(all, o->val_split, &split_rng, &train, &val);
        if (st != NN_OK) {
            err("--val-split %g: %s", o->val_split, lib_error());
            rc = EXIT_FAIL;
        }
    } else if (rc == EXIT_OK) {
        train = all;
        all = NULL;
    }
    if (rc == EXIT_OK && nn_model_new(net, &model) != NN_OK) {
        err("%s", lib_error());
        rc = EXIT_FAIL;
    }
    if (model != NULL)
        net = NULL; /* the model's now */
    nn_net *mnet = nn_model_net(model);

    /* Standardisation: fitted on the training rows only, so nothing of the validation
     * rows leaks into training; the model keeps it and applies it to anything later. */
    if (rc == EXIT_OK && o->standardize) {
        st = nn_scaler_fit(nn_dataset_x(train), &scaler);
        if (st == NN_OK)
            st = nn_model_set_scaler(model, scaler);
        if (st != NN_OK) {
            err("--standardize: %s", lib_error());
            rc = EXIT_FAIL;
        }
    }
    if (rc == EXIT_OK && shift != NULL) {
        size_t w = nn_net_in_width(mnet);
        ones = malloc(w * sizeof *ones);
        if (ones == NULL) {
            err("out of memory");
            rc = EXIT_FAIL;
        }
        for (size_t i = 0; rc == EXIT_OK && i < w; i++)
            ones[i] = 1.0f;
        if (rc == EXIT_OK && nn_model_set_standardisation(model, shift, ones) != NN_OK) {
            err("--shift: %s", lib_error());
            rc = EXIT_FAIL;
        }
    }
    /* The training and validation inputs go through exactly what predict will do:
     * the model's own standardisation, as a scaler. */
    if (rc == EXIT_OK)
        rc = standardise_dataset(model, train);
    if (rc == EXIT_OK && val != NULL)
        rc = standardise_dataset(model, val);

    nn_fit_history hist = {0};
    nn_fit_history best = {0}; /* no array: only its best_epoch */
    if (rc == EXIT_OK) {
        nn_fit_params fp = nn_train_fit_params(&t, &shuffle_rng);
        fp.progress = o->quiet ? NN_PROGRESS_OFF : NN_PROGRESS_AUTO;
        fp.progress_stream = stderr;
        fp.accuracy = o->accuracy || is_classifier(mnet);
        if (val != NULL) {
            fp.val_x = nn_dataset_x(val);
            fp.val_target = nn_dataset_y(val);
        }
        /* The epochs are recorded as they end, in an array that grows: one sized for
         * the epoch limit ran out of memory for 'epochs 1000000000' with patience. */
        epoch_log rec = {NULL, 0, 0, 0};
        fp.on_epoch = log_epoch;
        fp.user = &rec;
        st = nn_net_fit(mnet, nn_dataset_x(train), nn_dataset_y(train), &fp, &best);
        epochs = rec.e;
        hist.epochs = rec.e;
        hist.count = hist.capacity = rec.n;
        if (rec.nomem) {
            err("out of memory for the history of epoch %zu", rec.n + 1);
            rc = EXIT_FAIL;
        } else if (st != NN_OK) {
            err("training failed: %s", lib_error());
            rc = EXIT_FAIL;
        }
    }
    /* What the model was made from, for nn info. With restore_best the model holds
     * the parameters of the epoch with the lowest monitored loss (fit's best_epoch),
     * so that epoch's figures are reported, not the last one's. */
    size_t kept = hist.count > 0 ? hist.count - 1 : 0;
    /* fit restores only when some epoch's monitored loss was below Inf; else best_epoch
     * is 0 and the model holds the last epoch's parameters. */
    if (t.restore_best && best.best_epoch < hist.count) {
        const nn_epoch_stats *b = &hist.epochs[best.best_epoch];
        if ((val != NULL ? b->val_loss : b->train_loss) < INFINITY)
            kept = best.best_epoch;
    }
    double final_loss = hist.count > 0 ? hist.epochs[kept].train_loss : NAN;
    if (rc == EXIT_OK) {
        char buf[64];
        st = nn_model_set_meta(model, "created_by", "nn train " NN_VERSION_STRING);
        if (st == NN_OK)
            st = nn_model_set_meta(model, "spec", o->spec);
        if (st == NN_OK)
            st = nn_model_set_meta(model, "data", o->data);
        /* The columns as given, for nn eval to use by default. */
        if (st == NN_OK && o->target != NULL)
            st = nn_model_set_meta(model, "target", o->target);
        if (st == NN_OK && o->inputs != NULL)
            st = nn_model_set_meta(model, "inputs", o->inputs);
        snprintf(buf, sizeof buf, "%zu", nn_dataset_size(train));
        if (st == NN_OK)
            st = nn_model_set_meta(model, "train_rows", buf);
        snprintf(buf, sizeof buf, "%zu", hist.count);
        if (st == NN_OK)
            st = nn_model_set_meta(model, "epochs", buf);
        snprintf(buf, sizeof buf, "%.9g", final_loss);
        if (st == NN_OK)
            st = nn_model_set_meta(model, "train_loss", buf);
        snprintf(buf, sizeof buf, "%zu", kept + 1);
        if (st == NN_OK && t.restore_best && hist.count > 0)
            st = nn_model_set_meta(model, "restored_epoch", buf);
        for (size_t i = 0; st == NN_OK && i < o->n_meta; i++) {
            const char *eq = strchr(o->meta[i], '=');
            size_t len = (size_t)(eq - o->meta[i]);
            char *key = malloc(len + 1); /* any length: a fixed buffer cut long keys short */
            if (key == NULL) {
                st = nn_set_error(NN_ERR_NOMEM, "out of memory for a --meta key");
                break;
            }
            memcpy(key, o->meta[i], len);
            key[len] = '\0';
            st = nn_model_set_meta(model, key, eq + 1);
            free(key);
        }
        if (st != NN_OK) {
            err("%s", lib_error());
            rc = EXIT_FAIL;
        }
    }
    if (rc == EXIT_OK &&
        nn_model_save(model, o->out, NULL, o->no_optim ? NN_SAVE_NO_OPTIM : 0) != NN_OK) {
        err("%s", lib_error());
        rc = EXIT_FAIL;
    }
    /* After the model: a history that cannot be written must not cost the training. */
    if (rc == EXIT_OK && o->history != NULL &&
        nn_fit_history_write_csv(&hist, o->history) != NN_OK) {
        err("%s (the model was written to %s)", lib_error(), o->out);
        rc = EXIT_FAIL;
    }
    if (rc == EXIT_OK && !o->quiet) {
        printf("trained %zu epochs on %zu rows", hist.count, nn_dataset_size(train));
        if (hist.count > 0) {
            const nn_epoch_stats *e = &hist.epochs[kept];
            if (kept + 1 != hist.count)
                printf(", kept epoch %zu (restore_best)", kept + 1);
            printf(": loss %.6g", e->train_loss);
            if (!isnan(e->train_acc))
                printf(", accuracy %.4f", e->train_acc);
            if (!isnan(e->val_loss))
                printf("; validation (%zu rows) loss %.6g", nn_dataset_size(val), e->val_loss);
            if (!isnan(e->val_acc))
                printf(", accuracy %.4f", e->val_acc);
        }
        printf("\nwrote %s\n", o->out);
    }
    nn_scaler_free(scaler);
    free(shift);
    free(ones);
    free(epochs);
    nn_dataset_free(all);
    nn_dataset_free(train);
    nn_dataset_free(val);
    nn_model_free(model);
    nn_net_free(net);
    return rc;
}

/* 1 when both paths exist and are the same file (through links too). */
static int same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

static int cmd_train(int argc, char **argv)
{
    static const opt_def defs[] = {{"--help", 0, O_HELP},
                                   {"-h", 0, O_HELP},
                                   {"--target", 1, O_TARGET},
                                   {"--inputs", 1, O_INPUTS},
                                   {"--header", 0, O_HEADER},
                                   {"--no-header", 0, O_NO_HEADER},
                                   {"--val-split", 1, O_VAL},
                                   {"--standardize", 0, O_STD},
                                   {"--standardise", 0, O_STD},
                                   {"--shift", 1, O_SHIFT},
                                   {"--epochs", 1, O_EPOCHS},
                                   {"--batch", 1, O_BATCH},
                                   {"--lr", 1, O_LR},
                                   {"--seed", 1, O_SEED},
                                   {"--accuracy", 0, O_ACC},
                                   {"-o", 1, O_OUT},
                                   {"--output", 1, O_OUT},
                                   {"--no-optim", 0, O_NO_OPTIM},
                                   {"--history", 1, O_HISTORY},
                                   {"--meta", 1, O_META},
                                   {"-q", 0, O_QUIET},
                                   {"--quiet", 0, O_QUIET},
                                   {NULL, 0, 0}};
    const char *cmd = "train ";
    args a = {cmd, argc, argv, 0, 0};
    train_opts o;
    memset(&o, 0, sizeof o);
    o.header = -1;
    const char *pos[2];
    int npos = 0, id, r, rc = EXIT_OK;
    const char *v;
    while ((r = next_arg(&a, defs, &id, &v)) != ARG_END) {
        if (r == ARG_ERROR)
            return EXIT_USAGE;
        if (r == 0) {
            if (npos == 2)
                return usage_error(cmd, "too many arguments: '%s'", v);
            pos[npos++] = v;
            continue;
        }
        switch (id) {
        case O_HELP:
            fputs(train_help, stdout);
            return EXIT_OK;
        case O_TARGET:
            o.target = v;
            break;
        case O_INPUTS:
            o.inputs = v;
            break;
        case O_HEADER:
        case O_NO_HEADER:
            if (o.header != -1 && o.header != (id == O_HEADER))
                return usage_error(cmd, "--header and --no-header exclude each other");
            o.header = id == O_HEADER;
            break;
        case O_VAL:
            rc = parse_double(cmd, "--val-split", v, 0, 1, &o.val_split);
            if (rc == EXIT_OK && (o.val_split <= 0 || o.val_split >= 1))
                rc = usage_error(
                    cmd, "--val-split needs a fraction strictly between 0 and 1, got '%s'", v);
            break;
        case O_STD:
            o.standardize = 1;
            break;
        case O_SHIFT:
            o.shift = v;
            break;
        case O_EPOCHS:
            rc = parse_size(cmd, "--epochs", v, 1, &o.epochs);
            break;
        case O_BATCH:
            rc = parse_size(cmd, "--batch", v, 1, &o.batch);
            break;
        case O_LR:
            rc = parse_double(cmd, "--lr", v, 0, INFINITY, &o.lr);
            o.has_lr = 1;
            break;
        case O_SEED:
            rc = parse_u64(cmd, "--seed", v, &o.seed);
            o.has_seed = 1;
            break;
        case O_ACC:
            o.accuracy = 1;
            break;
        case O_OUT:
            o.out = v;
            break;
        case O_NO_OPTIM:
            o.no_optim = 1;
            break;
        case O_HISTORY:
            o.history = v;
            break;
        case O_META:
            if (strchr(v, '=') == NULL || v[0] == '=')
                return usage_error(cmd, "--meta needs KEY=VALUE with a non-empty key, got '%s'", v);
            if (o.n_meta == sizeof o.meta / sizeof o.meta[0])
                return usage_error(cmd, "at most %zu --meta entries",
                                   sizeof o.meta / sizeof o.meta[0]);
            o.meta[o.n_meta++] = v;
            break;
        case O_QUIET:
            o.quiet = 1;
            break;
        }
        if (rc != EXIT_OK)
            return rc;
    }
    if (npos < 2)
        return usage_error(cmd,
                           "train needs a spec and a data file: nn train SPEC DATA.csv -o MODEL");
    if (o.out == NULL)
        return usage_error(cmd, "train needs the model file to write: -o MODEL");
    if (o.out[0] == '\0' || (o.history != NULL && o.history[0] == '\0'))
        return usage_error(cmd, "an output path is empty");
    if (o.standardize && o.shift != NULL)
        return usage_error(cmd, "--standardize and --shift exclude each other");
    o.spec = pos[0];
    o.data = pos[1];
    /* Checked before training, not found out after it: an output over an input, or
     * the history over the model, would lose one of them. */
    const char *ins[2] = {o.spec, o.data}, *in_names[2] = {"spec", "data"};
    for (int i = 0; i < 2; i++) {
        if (same_file(o.out, ins[i]))
            return usage_error(cmd, "-o %s is the %s file", o.out, in_names[i]);
        if (o.history != NULL && same_file(o.history, ins[i]))
            return usage_error(cmd, "--history %s is the %s file", o.history, in_names[i]);
    }
    if (o.history != NULL && (strcmp(o.history, o.out) == 0 || same_file(o.history, o.out)))
        return usage_error(cmd, "--history and -o name the same file, %s", o.out);
    return train_run(&o);
}

/* ---- loading a model ----------------------------------------------------------------- */

static int load_model(const char *path, nn_model **m)
{
    if (nn_model_load(path, NULL, m) != NN_OK) {
        err("%s", lib_error());
        return EXIT_FAIL;
    }
    return EXIT_OK;
}

/* ---- nn eval -------------------------------------------------------------------------- */

static const char eval_help[] =
    "usage: nn eval MODEL DATA.csv [options]\n"
    "\n"
    "The model's loss on the rows of DATA.csv (raw inputs: the model's standardisation\n"
    "is applied) and, for a classifier, its accuracy and confusion matrix (rows: the\n"
    "true classes, columns: the predicted ones).\n"
    "\n"
    "  --target COLS   target column(s), as for nn train (default: the model's, when\n"
    "                  it was trained with --target; else the last)\n"
    "  --inputs COLS   input columns (default: the model's, when it was trained with\n"
    "                  --inputs; else every other column)\n"
    "  --header, --no-header\n"
    "                  as for nn train (default: detected)\n"
    "  --accuracy      accuracy and confusion matrix for any loss (automatic for\n"
    "                  cross_entropy, nll and single-output bce or bce_logits); a\n"
    "                  single output is class 1 when >= 0.5 (>= 0 for bce_logits)\n"
    "  -h, --help      this text\n";

static int cmd_eval(int argc, char **argv)
{
    static const opt_def defs[] = {{"--help", 0, O_HELP},     {"-h", 0, O_HELP},
                                   {"--target", 1, O_TARGET}, {"--inputs", 1, O_INPUTS},
                                   {"--header", 0, O_HEADER}, {"--no-header", 0, O_NO_HEADER},
                                   {"--accuracy", 0, O_ACC},  {NULL, 0, 0}};
    const char *cmd = "eval ";
    args a = {cmd, argc, argv, 0, 0};
    const char *pos[2], *target = NULL, *inputs = NULL, *v;
    int npos = 0, header = -1, accuracy = 0, id, r;
    while ((r = next_arg(&a, defs, &id, &v)) != ARG_END) {
        if (r == ARG_ERROR)
            return EXIT_USAGE;
        if (r == 0) {
            if (npos == 2)
                return usage_error(cmd, "too many arguments: '%s'", v);
            pos[npos++] = v;
            continue;
        }
        switch (id) {
        case O_HELP:
            fputs(eval_help, stdout);
            return EXIT_OK;
        case O_TARGET:
            target = v;
            break;
        case O_INPUTS:
            inputs = v;
            break;
        case O_HEADER:
        case O_NO_HEADER:
            if (header != -1 && header != (id == O_HEADER))
                return usage_error(cmd, "--header and --no-header exclude each other");
            header = id == O_HEADER;
            break;
        case O_ACC:
            accuracy = 1;
            break;
        }
    }
    if (npos < 2)
        return usage_error(cmd, "eval needs a model and a data file: nn eval MODEL DATA.csv");

    nn_model *m;
    int rc = load_model(pos[0], &m);
    if (rc != EXIT_OK)
        return rc;
    nn_net *net = nn_model_net(m);
    nn_dataset *d = NULL;
    size_t *confusion = NULL;
    if (nn_net_loss(net) == NULL) {
        err("%s: the model has no loss (it was saved without one)", pos[0]);
        rc = EXIT_FAIL;
    }
    /* The columns the model was trained on, unless given: by default the last columns
     * are the targets, and a model trained with --target first scored its inputs
     * against the wrong columns without a word. */
    if (target == NULL)
        target = nn_model_meta(m, "target");
    if (inputs == NULL)
        inputs = nn_model_meta(m, "inputs");
    if (rc == EXIT_OK)
        rc = load_data(net, pos[1], header, target, inputs, &d);
    if (rc == EXIT_OK)
        rc = standardise_dataset(m, d);
    const nn_tensor *x = rc == EXIT_OK ? nn_dataset_x(d) : NULL;
    double loss = 0;
    if (rc == EXIT_OK && nn_net_eval_loss(net, x, nn_dataset_y(d), &loss) != NN_OK) {
        err("%s: %s", pos[1], lib_error());
        rc = EXIT_FAIL;
    }
    if (rc == EXIT_OK) {
        printf("rows      %zu\n", nn_dataset_size(d));
        printf("loss      %.9g (%s)\n", loss, loss_name(net));
    }
    if (rc == EXIT_OK && (accuracy || is_classifier(net))) {
        size_t k = nn_metrics_classes(nn_net_out_width(net));
        /* A matrix of many classes is neither readable nor small (60 000 classes
         * asked for 29 GB, after half the report was printed): accuracy only. */
        int matrix = k <= MAX_CONFUSION;
        confusion = matrix ? calloc(k * k, sizeof *confusion) : NULL;
        nn_eval_stats s;
        if (matrix && confusion == NULL) {
            err("out of memory");
            rc = EXIT_FAIL;
        } else if (nn_evaluate(net, x, nn_dataset_y(d), 0, confusion, k, &s) != NN_OK) {
            err("%s: %s", pos[1], lib_error());
            rc = EXIT_FAIL;
        } else if (!matrix) {
            printf("accuracy  %.6f (%zu of %zu)\n", s.accuracy, s.correct, s.rows);
            printf("confusion not shown for %zu classes (more than %d)\n", k, MAX_CONFUSION);
        } else {
            printf("accuracy  %.6f (%zu of %zu)\n", s.accuracy, s.correct, s.rows);
            printf("confusion (rows: true class, columns: predicted class)\n");
            int w = 1;
            for (size_t i = 0; i < k * k; i++)
                w = snprintf(NULL, 0, "%zu", confusion[i]) > w
                        ? snprintf(NULL, 0, "%zu", confusion[i])
                        : w;
            int lw = snprintf(NULL, 0, "%zu", k - 1);
            w = w > lw ? w : lw;
            printf("%*s", lw + 2, "");
            for (size_t j = 0; j < k; j++)
                printf(" %*zu", w, j);
            printf("\n");
            for (size_t i = 0; i < k; i++) {
                printf("  %*zu", lw, i);
                for (size_t j = 0; j < k; j++)
                    printf(" %*zu", w, confusion[i * k + j]);
                printf("\n");
            }
        }
    }
    free(confusion);
    nn_dataset_free(d);
    nn_model_free(m);
    return rc;
}

/* ---- nn predict ------------------------------------------------------------------------ */

static const char predict_help[] =
    "usage: nn predict MODEL [FILE|-] [options]\n"
    "\n"
    "Reads rows of raw inputs (comma-separated numbers, as many as the model takes, no\n"
    "target, unless --inputs picks them) from FILE, or from standard input when FILE\n"
    "is '-' or absent, and prints one line per row: the model's outputs,\n"
    "comma-separated, each with %.9g so that it reads back as the same float. The\n"
    "model's standardisation is applied first.\n"
    "\n"
    "  --header        the first line names the columns: skip it\n"
    "  --no-header     the first line is data (default: skipped when no field of it is\n"
    "                  a number)\n"
    "  --output WHAT   values (the outputs as they are, the default), probabilities\n"
    "                  (a classifier's: the softmax of cross_entropy's and nll's\n"
    "                  outputs, the sigmoid of bce_logits', bce's as they are) or\n"
    "                  class (of several outputs the argmax, of one 0 or 1, as nn\n"
    "                  eval's accuracy counts)\n"
    "  --inputs COLS   the input columns, numbers from 0 or header names (default: the\n"
    "                  model's, when it was trained with --inputs and the data has a\n"
    "                  header and more fields than inputs; else each line holds the\n"
    "                  inputs alone)\n"
    "  -h, --help      this text\n";

/* What nn predict prints of a row: the outputs as they are, a classifier's
 * probabilities, or its classes. */
typedef enum { OUT_VALUES, OUT_PROBS, OUT_CLASS } out_mode;

/* Prints one output row y (w values) as mode says for a network with loss kind.
 * Classes follow nn/metrics.h, as nn eval's accuracy does: of two or more outputs the
 * argmax (the first maximum; NaN never wins), of one output 1 when it is >= 0.5, or
 * >= 0 for bce_logits' logit. Probabilities are the softmax of cross_entropy's logits
 * and of nll's outputs (their exp when they are log-probabilities, and a distribution
 * when the network does not end in log_softmax), bce_logits' sigmoid, and bce's
 * outputs as they are (the caller refuses other losses). */
static void print_row(const float *y, size_t w, out_mode mode, nn_loss_kind kind)
{
    if (mode == OUT_CLASS && w >= 2) {
        size_t a = 0;
        for (size_t j = 1; j < w; j++)
            if (y[j] > y[a] || (isnan(y[a]) && !isnan(y[j])))
                a = j;
        printf("%zu\n", a);
        return;
    }
    double m = -INFINITY, sum = 0.0;
    /* nll's outputs are log-probabilities only after a log_softmax, which nothing
     * enforces: their softmax is their exp when they are, and a distribution always. */
    const int softmax = mode == OUT_PROBS && (kind == NN_LOSS_CROSS_ENTROPY || kind == NN_LOSS_NLL);
    if (softmax) {
        for (size_t j = 0; j < w; j++)
            m = y[j] > m ? y[j] : m;
        for (size_t j = 0; j < w; j++)
            sum += exp((double)y[j] - m);
    }
    for (size_t j = 0; j < w; j++) {
        const char sep = j + 1 < w ? ',' : '\n';
        double v = y[j];
        if (mode == OUT_CLASS) { /* one output */
            printf("%d\n", v >= (kind == NN_LOSS_BCE_LOGITS ? 0.0 : 0.5));
            continue;
        }
        if (mode == OUT_PROBS)
            v = softmax                      ? exp(v - m) / sum
                : kind == NN_LOSS_BCE_LOGITS  ? 1.0 / (1.0 + exp(-v))
                                              : v;
        printf("%.9g%c", mode == OUT_PROBS ? (double)(float)v : v, sep);
    }
}

/* Predicts the rows buffered in xs (rows x in) and prints them. */
static int predict_flush(nn_model *m, float *xs, float *ys, size_t rows, const char *src,
                         out_mode mode, nn_loss_kind kind)
{
    if (rows == 0)
        return EXIT_OK;
    nn_net *net = nn_model_net(m);
    size_t in = nn_net_in_width(net), out = nn_net_out_width(net);
    nn_tensor x = nn_tensor_view2d(xs, rows, in), y = nn_tensor_view2d(ys, rows, out);
    if (nn_model_standardise(m, &x) != NN_OK || nn_net_predict(net, &x, &y) != NN_OK) {
        err("%s: %s", src, lib_error());
        return EXIT_FAIL;
    }
    for (size_t r = 0; r < rows; r++)
        print_row(ys + r * out, out, mode, kind);
    /* Someone reading our output line by line (a pipe to a program that answers
     * each prediction) should see it now. */
    if (fflush(stdout) != 0) {
        err("cannot write the predictions: %s", strerror(errno));
        return EXIT_FAIL;
    }
    return EXIT_OK;
}

/* One field (trimmed) as a float. Returns 1, or 0 after a message. */
static int parse_field(const char *p, float *v, const char *src, size_t lineno, size_t col)
{
    double d;
    /* 0x1.ffffffp127 is FLT_MAX plus half an ulp: it and anything above round to
     * infinity (the CSV loader's limit) */
    if (!read_number(p, &d) || !(fabs(d) < 0x1.ffffffp127)) {
        err("%s:%zu: column %zu: '%s' is not a number", src, lineno, col, p);
        return 0;
    }
    *v = (float)d;
    return 1;
}

/* The columns cols[0..in-1] of a data line of h->cols fields into in floats, split
 * through fields (h->cols entries). Returns 1, or 0 after a message. */
static int parse_row_cols(char *line, const csv_head *h, const size_t *cols, size_t in,
                          char **fields, float *row, const char *src, size_t lineno)
{
    size_t n = split_fields(line, fields, h->cols);
    if (n != h->cols) {
        err("%s:%zu: %s fields than the first line's %zu", src, lineno,
            n > h->cols ? "more" : "fewer", h->cols);
        return 0;
    }
    for (size_t i = 0; i < in; i++)
        if (!parse_field(fields[cols[i]], &row[i], src, lineno, cols[i]))
            return 0;
    return 1;
}

/* One data line of exactly in fields into in floats. Returns 1, or 0 after a message. */
static int parse_row(char *line, size_t in, float *row, const char *src, size_t lineno)
{
    size_t n = 0;
    char *p = line;
    for (;;) {
        char *comma = strchr(p, ',');
        if (comma != NULL)
            *comma = '\0';
        p += strspn(p, " \t");
        size_t len = strlen(p);
        while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            p[--len] = '\0';
        if (n < in && !parse_field(p, &row[n], src, lineno, n))
            return 0;
        n++;
        if (comma == NULL)
            break;
        p = comma + 1;
    }
    if (n != in) {
        err("%s:%zu: %zu field%s, but the model takes %zu inputs", src, lineno, n,
            n == 1 ? "" : "s", in);
        return 0;
    }
    return 1;
}

static int cmd_predict(int argc, char **argv)
{
    static const opt_def defs[] = {{"--help", 0, O_HELP},
                                   {"-h", 0, O_HELP},
                                   {"--header", 0, O_HEADER},
                                   {"--no-header", 0, O_NO_HEADER},
                                   {"--inputs", 1, O_INPUTS},
                                   {"--output", 1, O_OUTPUT},
                                   {NULL, 0, 0}};
    const char *cmd = "predict ";
    args a = {cmd, argc, argv, 0, 0};
    const char *pos[2] = {NULL, "-"}, *v, *inputs = NULL;
    int npos = 0, header = -1, id, r;
    out_mode mode = OUT_VALUES;
    while ((r = next_arg(&a, defs, &id, &v)) != ARG_END) {
        if (r == ARG_ERROR)
            return EXIT_USAGE;
        if (r == 0) {
            if (npos == 2)
                return usage_error(cmd, "too many arguments: '%s'", v);
            pos[npos++] = v;
            continue;
        }
        switch (id) {
        case O_HELP:
            fputs(predict_help, stdout);
            return EXIT_OK;
        case O_HEADER:
        case O_NO_HEADER:
            if (header != -1 && header != (id == O_HEADER))
                return usage_error(cmd, "--header and --no-header exclude each other");
            header = id == O_HEADER;
            break;
        case O_INPUTS:
            inputs = v;
            break;
        case O_OUTPUT:
            if (strcmp(v, "values") == 0)
                mode = OUT_VALUES;
            else if (strcmp(v, "probabilities") == 0)
                mode = OUT_PROBS;
            else if (strcmp(v, "class") == 0)
                mode = OUT_CLASS;
            else
                return usage_error(cmd, "--output is values, probabilities or class, not '%s'", v);
            break;
        }
    }
    if (npos < 1)
        return usage_error(cmd, "predict needs a model: nn predict MODEL [FILE|-]");

    int from_stdin = strcmp(pos[1], "-") == 0;
    const char *src = from_stdin ? "<stdin>" : pos[1];
    FILE *f = from_stdin ? stdin : fopen(pos[1], "rb");
    if (f == NULL) {
        err("cannot open '%s': %s", pos[1], strerror(errno));
        return EXIT_FAIL;
    }
    nn_model *m;
    int rc = load_model(pos[0], &m);
    if (rc != EXIT_OK) {
        if (!from_stdin)
            fclose(f);
        return rc;
    }
    nn_net *net = nn_model_net(m);
    size_t in = nn_net_in_width(net), out = nn_net_out_width(net);
    /* Probabilities need a classifier's loss, stored in the model, to say what the
     * outputs are; classes are read off any outputs (a single-output bce_logits
     * model's cut is 0, not 0.5: the loss says that too, when there is one). */
    nn_loss_kind kind = NN_LOSS_MSE;
    const nn_loss *loss = nn_net_loss(net);
    if (loss != NULL && nn_loss_get_kind(loss, &kind) != NN_OK)
        kind = NN_LOSS_MSE; /* a loss of one's own: its outputs taken as they are */
    if (mode == OUT_PROBS && !(kind == NN_LOSS_CROSS_ENTROPY || kind == NN_LOSS_NLL ||
                               kind == NN_LOSS_BCE || kind == NN_LOSS_BCE_LOGITS)) {
        err("--output probabilities: %s has %s%s%s, not a classifier's (cross_entropy, nll, bce, "
            "bce_logits)",
            pos[0], loss == NULL ? "no loss" : "the loss '", loss == NULL ? "" : loss->ops->name,
            loss == NULL ? "" : "'");
        rc = EXIT_FAIL;
    }
    /* From a file, rows are predicted 256 at a time; from standard input one at a
     * time, so that each answer comes as soon as its row does. */
    size_t batch = from_stdin ? 1 : 256;
    float *xs = NULL, *ys = NULL;
    char *line = NULL;
    /* A model file may declare any width: the products must not wrap (a wrapped size
     * gave a tiny buffer that parse_row wrote past). */
    if (rc != EXIT_OK) {
        /* said above */
    } else if (in > SIZE_MAX / sizeof *xs / batch || out > SIZE_MAX / sizeof *ys / batch) {
        err("%s: %zu inputs and %zu outputs are more than memory can hold", pos[0], in, out);
        rc = EXIT_FAIL;
    } else if (in > (MAX_LINE + 1) / 2) {
        /* A line of MAX_LINE bytes holds no more fields ("0,0,...,0"): no row could be
         * read, and the row buffers were asked for first (2^40 inputs: 1 PiB, reported
         * as "out of memory"). */
        err("%s: the model takes %zu inputs; a line of at most %zu bytes holds at most %zu",
            pos[0], in, MAX_LINE, (MAX_LINE + 1) / 2);
        rc = EXIT_FAIL;
    } else {
        xs = malloc(batch * in * sizeof *xs);
        ys = malloc(batch * out * sizeof *ys);
        line = malloc(MAX_LINE + 2);
        if (xs == NULL || ys == NULL || line == NULL) {
            err("out of memory");
            rc = EXIT_FAIL;
        }
    }
    size_t rows = 0, total = 0, lineno = 0, len = 0;
    int got, guessed_header = 0;
    csv_head h = {0, NULL, NULL, 0}; /* the first line's columns */
    size_t *cols = NULL, n_cols = 0; /* with --inputs: the columns that are inputs */
    char **fields = NULL;
    while (rc == EXIT_OK && (got = read_line(f, line, MAX_LINE + 2, &len)) != 0) {
        lineno++;
        if (len > 0 && line[len - 1] == '\r')
            line[--len] = '\0';
        if (got < 0 || len > MAX_LINE) {
            err("%s:%zu: line longer than %zu bytes", src, lineno, MAX_LINE);
            rc = EXIT_FAIL;
            break;
        }
        if (strlen(line) != len) {
            err("%s:%zu: NUL byte in the line", src, lineno);
            rc = EXIT_FAIL;
            break;
        }
        if (lineno == 1)
            skip_bom(line, &len);
        if (line[strspn(line, " \t")] == '\0') /* blank: below, not a header */
            len = 0;
        if (lineno == 1 && len > 0 && (header != 0 || inputs != NULL)) {
            char *copy = strdup(line);
            if (copy == NULL) {
                err("out of memory");
                rc = EXIT_FAIL;
                break;
            }
            if ((rc = head_from_line(copy, header, &h)) != EXIT_OK)
                break;
            /* Columns to pick: --inputs, or the model's own when the data has a header
             * and rows wider than the inputs (a file like the one it was trained on);
             * rows without a header, or of exactly the inputs, hold the inputs alone
             * (a file of new inputs, whatever its header calls them). */
            const char *list = inputs != NULL               ? inputs
                               : h.header && h.cols != in ? nn_model_meta(m, "inputs")
                                                          : NULL;
            if (list != NULL) {
                const char *opt = inputs != NULL ? "--inputs" : "the model's inputs";
                if ((rc = resolve_columns(opt, list, &h, src, &cols, &n_cols)) != EXIT_OK)
                    break;
                if (n_cols != in) {
                    err("%s %s: %zu column%s, but the model takes %zu inputs", opt, list, n_cols,
                        n_cols == 1 ? "" : "s", in);
                    rc = EXIT_FAIL;
                    break;
                }
                /* One column twice is refused, as the loader refuses it for train and eval. */
                for (size_t i = 0; rc == EXIT_OK && i < n_cols; i++)
                    for (size_t j = i + 1; rc == EXIT_OK && j < n_cols; j++)
                        if (cols[i] == cols[j]) {
                            err("%s %s: column %zu is chosen twice", opt, list, cols[i]);
                            rc = EXIT_FAIL;
                        }
                if (rc != EXIT_OK)
                    break;
                fields = malloc(h.cols * sizeof *fields);
                if (fields == NULL) {
                    err("out of memory");
                    rc = EXIT_FAIL;
                    break;
                }
            }
            if (h.header) {
                guessed_header = header < 0;
                continue;
            }
        }
        if (len == 0) {
            /* Blank lines are allowed only at the end, as in nn/csv.h: remember where. */
            size_t blank = lineno;
            int c;
            while ((c = fgetc(f)) == '\n' || c == '\r')
                ;
            if (c != EOF) {
                err("%s:%zu: empty line between data lines", src, blank);
                rc = EXIT_FAIL;
            }
            break;
        }
        if (cols != NULL ? !parse_row_cols(line, &h, cols, in, fields, xs + rows * in, src, lineno)
                         : !parse_row(line, in, xs + rows * in, src, lineno)) {
            rc = EXIT_FAIL;
            break;
        }
        total++;
        if (++rows == batch) {
            rc = predict_flush(m, xs, ys, rows, src, mode, kind);
            rows = 0;
        }
    }
    if (rc == EXIT_OK && ferror(f)) {
        err("cannot read '%s': %s", src, strerror(errno));
        rc = EXIT_FAIL;
    }
    if (rc == EXIT_OK)
        rc = predict_flush(m, xs, ys, rows, src, mode, kind);
    if (rc == EXIT_OK && guessed_header && total == 0) {
        /* A lone line taken for a header ("120 4 20", space-separated) would else give
         * no output and status 0. */
        err("%s:1: read as a header (no field is a number), and no rows follow; "
            "--no-header if it is data",
            src);
        rc = EXIT_FAIL;
    }
    if (!from_stdin)
        fclose(f);
    csv_head_free(&h);
    free(cols);
    free(fields);
    free(line);
    free(xs);
    free(ys);
    nn_model_free(m);
    return rc;
}

/* ---- nn info ------------------------------------------------------------------------- */

static const char info_help[] =
    "usage: nn info MODEL\n"
    "\n"
    "Describes a model file: its format version and size, the network as spec text\n"
    "(input width, layers, loss, optimizer), the parameter count, the loss and\n"
    "optimizer (with the steps taken), the standardisation and the metadata.\n"
    "\n"
    "  -h, --help      this text\n";

static void print_floats(const char *label, const float *v, size_t n)
{
    printf("  %s", label);
    size_t shown = n < 8 ? n : 8;
    for (size_t i = 0; i < shown; i++)
        printf("%s%.9g", i ? ", " : " ", v[i]);
    if (shown < n)
        printf(", ... (%zu values)", n);
    printf("\n");
}

static int cmd_info(int argc, char **argv)
{
    static const opt_def defs[] = {{"--help", 0, O_HELP}, {"-h", 0, O_HELP}, {NULL, 0, 0}};
    const char *cmd = "info ";
    args a = {cmd, argc, argv, 0, 0};
    const char *path = NULL, *v;
    int id, r;
    while ((r = next_arg(&a, defs, &id, &v)) != ARG_END) {
        if (r == ARG_ERROR)
            return EXIT_USAGE;
        if (r == 1) {
            fputs(info_help, stdout);
            return EXIT_OK;
        }
        if (path != NULL)
            return usage_error(cmd, "too many arguments: '%s'", v);
        path = v;
    }
    if (path == NULL)
        return usage_error(cmd, "info needs a model file: nn info MODEL");

    nn_model *m;
    int rc = load_model(path, &m);
    if (rc != EXIT_OK)
        return rc;
    nn_net *net = nn_model_net(m);
    char *spec = NULL;
    if (nn_spec_to_string(net, NULL, NULL, &spec) != NN_OK) {
        err("%s: %s", path, lib_error());
        nn_model_free(m);
        return EXIT_FAIL;
    }
    long size = -1;
    FILE *f = fopen(path, "rb");
    if (f != NULL && fseek(f, 0, SEEK_END) == 0)
        size = ftell(f);
    if (f != NULL)
        fclose(f);
    size_t count = 0;
    nn_net_params(net, &count);

    printf("file            %s (%ld bytes)\n", path, size);
    printf("format version  %u\n", (unsigned)nn_model_format_version(m));
    printf("input width     %zu\n", nn_net_in_width(net));
    printf("output width    %zu\n", nn_net_out_width(net));
    printf("layers          %zu\n", nn_net_layer_count(net));
    printf("parameters      %zu\n", count);
    if (nn_net_loss(net) != NULL)
        printf("loss            %s (target width %zu)\n", loss_name(net), nn_net_target_width(net));
    else
        printf("loss            none\n");
    nn_optim *o = nn_net_optim(net);
    if (o != NULL)
        printf("optimizer       %s (lr %.9g, %llu steps taken)\n", o->ops->name, o->lr,
               (unsigned long long)o->step_count);
    else
        printf("optimizer       none\n");
    const float *mean = nn_model_mean(m), *std = nn_model_std(m);
    if (mean != NULL) {
        printf("standardisation (x - mean) / std\n");
        print_floats("mean", mean, nn_net_in_width(net));
        print_floats("std ", std, nn_net_in_width(net));
    } else {
        printf("standardisation none\n");
    }
    size_t nm = nn_model_meta_count(m);
    printf("metadata        %zu entr%s\n", nm, nm == 1 ? "y" : "ies");
    for (size_t i = 0; i < nm; i++) {
        const char *k, *val;
        if (nn_model_meta_at(m, i, &k, &val) == NN_OK)
            printf("  %s = %s\n", k, val);
    }
    printf("architecture\n");
    for (const char *line = spec; *line;) {
        size_t len = strcspn(line, "\n");
        printf("  %.*s\n", (int)len, line);
        line += len + (line[len] == '\n');
    }
    nn_spec_string_free(spec);
    nn_model_free(m);
    return EXIT_OK;
}

/* ---- main ------------------------------------------------------------------------------ */

static const char main_help[] =
    "usage: nn COMMAND [ARGS...]\n"
    "\n"
    "Train, evaluate and use neural networks described in spec files (docs/spec-format.md)\n"
    "and kept in model files (docs/file-format.md).\n"
    "\n"
    "Commands:\n"
    "  train SPEC DATA.csv -o MODEL   train the network SPEC describes on DATA.csv\n"
    "  eval MODEL DATA.csv            loss (and accuracy, confusion matrix) on DATA.csv\n"
    "  predict MODEL [FILE|-]         one line of outputs per row of inputs\n"
    "  info MODEL                     architecture, parameters, metadata of a model file\n"
    "\n"
    "'nn COMMAND --help' describes each. Exit status: 0 success, 1 failure (a file that\n"
    "cannot be read or is malformed, training that fails), 2 a wrong command line.\n"
    "  -h, --help      this text\n"
    "  --version       the version of nn\n";

/* A command that succeeded fails after all when its output could not be written
 * (a full disk, a closed pipe): a caller must not take a cut report for a whole one. */
static int output_written(int rc)
{
    if (rc == EXIT_OK && (fflush(stdout) != 0 || ferror(stdout))) {
        err("cannot write the output: %s", strerror(errno));
        return EXIT_FAIL;
    }
    return rc;
}

static int run_command(int argc, char **argv)
{
    if (argc < 2)
        return usage_error("", "no command given (train, eval, predict or info)");
    const char *c = argv[1];
    if (strcmp(c, "--help") == 0 || strcmp(c, "-h") == 0 || strcmp(c, "help") == 0) {
        fputs(main_help, stdout);
        return EXIT_OK;
    }
    if (strcmp(c, "--version") == 0) {
        printf("nn %s\n", nn_version());
        return EXIT_OK;
    }
    if (strcmp(c, "train") == 0)
        return cmd_train(argc - 2, argv + 2);
    if (strcmp(c, "eval") == 0)
        return cmd_eval(argc - 2, argv + 2);
    if (strcmp(c, "predict") == 0)
        return cmd_predict(argc - 2, argv + 2);
    if (strcmp(c, "info") == 0)
        return cmd_info(argc - 2, argv + 2);
    return usage_error("", "unknown command '%s' (train, eval, predict or info)", c);
}

int main(int argc, char **argv) { return output_written(run_command(argc, argv)); }
