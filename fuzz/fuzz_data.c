/* fuzz/fuzz_data.c - libFuzzer target for the data loaders (nn_csv_load, nn_idx_load).
 *
 * The loaders take paths, so each input is written to one scratch file per process
 * and loaded from there. The input's first byte chooses the loader and its settings:
 *
 *   bit 7     0: CSV, 1: IDX
 *   CSV:  bit 0 header; bits 1-2 the delimiter (, ; | :); bits 3-4 the number of
 *         target columns (0-3, taken from the end of the first line's columns when
 *         there are enough, by name when bit 5 is set and there is a header, else by
 *         index); bit 6 a short max_line (64 bytes) instead of the default
 *   IDX:  bit 0 scale 1/255 instead of 1; bit 1 a huge scale (1e30), whose products
 *         overflow for most values
 *
 * and the rest of the input is the file. What must hold, beyond "no crash, no leak,
 * no undefined behaviour":
 *   - a refused file leaves the outputs untouched and gives a status the header
 *     documents, with a message that names the loader;
 *   - a loaded CSV has rows >= 1, the requested number of input and target columns,
 *     as many target rows as input rows, and only finite values;
 *   - a loaded IDX file is a (dims[0], product of the other dims) tensor as its
 *     header (info) says, with only finite values.
 */
#define _POSIX_C_SOURCE 200809L /* mkstemp */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "fuzz_alloc.h"
#include "nn/nn.h"

/* The scratch file, made once per process and removed at exit. */
static char scratch[4096];

static void remove_scratch(void) { unlink(scratch); }

static const char *write_scratch(const uint8_t *data, size_t size)
{
    if (scratch[0] == '\0') {
        const char *dir = getenv("TMPDIR");
        int n = snprintf(scratch, sizeof scratch, "%s/nn_fuzz_data_XXXXXX", dir ? dir : "/tmp");
        FUZZ_CHECK(n > 0 && (size_t)n < sizeof scratch);
        int fd = mkstemp(scratch);
        FUZZ_CHECK(fd >= 0);
        close(fd);
        atexit(remove_scratch);
    }
    FILE *f = fopen(scratch, "wb");
    FUZZ_CHECK(f != NULL);
    FUZZ_CHECK(fwrite(data, 1, size, f) == size);
    FUZZ_CHECK(fclose(f) == 0);
    return scratch;
}

static int all_finite(const nn_tensor *t)
{
    for (size_t i = 0; i < t->size; i++)
        if (!isfinite(t->data[i]))
            return 0;
    return 1;
}

static void refused(nn_status st, const char *loader)
{
    FUZZ_CHECK(st == NN_ERR_FORMAT || st == NN_ERR_INVALID_ARG || st == NN_ERR_NOMEM ||
               st == NN_ERR_IO);
    FUZZ_CHECK(strstr(nn_last_error(), loader) != NULL);
}

/* The number of fields of the first line with this delimiter (an upper bound when
 * the line does not parse: only used to pick target columns that may exist). */
static size_t first_line_fields(const uint8_t *text, size_t size, char delim)
{
    size_t n = 1;
    for (size_t i = 0; i < size && text[i] != '\n'; i++)
        n += text[i] == (uint8_t)delim;
    return n;
}

/* The field'th field of the first line, unquoted, into name (cut to cap - 1 bytes:
 * a longer name then names no column, which the loader reports). */
static void first_line_field(const uint8_t *text, size_t size, char delim, size_t field,
                             char *name, size_t cap)
{
    size_t i = 0, f = 0, len = 0;
    while (i < size && text[i] != '\n' && f < field)
        f += text[i++] == (uint8_t)delim;
    while (i < size && text[i] != '\n' && text[i] != (uint8_t)delim && text[i] != '\r') {
        if (len + 1 < cap)
            name[len++] = (char)text[i];
        i++;
    }
    name[len] = '\0';
    /* trim blanks and one pair of quotes, as the loader does */
    char *s = name;
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
    if (n >= 2 && s[0] == '"' && s[n - 1] == '"') {
        s[n - 1] = '\0';
        s++;
    }
    memmove(name, s, strlen(s) + 1);
}

static void fuzz_csv(uint8_t mode, const uint8_t *text, size_t size)
{
    static const char delims[4] = {',', ';', '|', ':'};
    nn_csv_params p = nn_csv_default_params();
    p.header = mode & 1;
    p.delimiter = delims[(mode >> 1) & 3];
    if (mode & 0x40)
        p.max_line = 64;
    size_t fields = first_line_fields(text, size, p.delimiter);
    size_t n_targets = (mode >> 3) & 3;
    if (n_targets >= fields)
        n_targets = 0;
    size_t cols[3];
    char names[3][64];
    const char *name_ptrs[3];
    for (size_t k = 0; k < n_targets; k++) {
        cols[k] = fields - n_targets + k;
        first_line_field(text, size, p.delimiter, cols[k], names[k], sizeof names[k]);
        name_ptrs[k] = names[k];
    }
    p.n_targets = n_targets;
    if (n_targets > 0 && p.header && (mode & 0x20))
        p.target_names = name_ptrs;
    else if (n_targets > 0)
        p.target_cols = cols;

    const char *path = write_scratch(text, size);
    nn_tensor sentinel_x, sentinel_t;
    nn_tensor *x = &sentinel_x, *t = &sentinel_t;
    nn_status st = nn_csv_load(path, &p, &x, n_targets > 0 ? &t : NULL);
    if (st != NN_OK) {
        refused(st, "nn_csv_load");
        FUZZ_CHECK(x == &sentinel_x && t == &sentinel_t);
        return;
    }
    FUZZ_CHECK(x != NULL && x->ndim == 2 && x->shape[0] >= 1);
    FUZZ_CHECK(x->shape[1] == fields - n_targets);
    FUZZ_CHECK(all_finite(x));
    if (n_targets > 0) {
        FUZZ_CHECK(t != NULL && t->ndim == 2 && t->shape[0] == x->shape[0]);
        FUZZ_CHECK(t->shape[1] == n_targets);
        FUZZ_CHECK(all_finite(t));
        nn_tensor_free(t);
    }
    nn_tensor_free(x);
}

static void fuzz_idx(uint8_t mode, const uint8_t *bytes, size_t size)
{
    float scale = (mode & 2) ? 1e30f : (mode & 1) ? 1.0f / 255 : 1.0f;
    const char *path = write_scratch(bytes, size);
    nn_tensor sentinel;
    nn_tensor *out = &sentinel;
    nn_idx_info info, before;
    memset(&info, 0xA5, sizeof info);
    before = info;
    nn_status st = nn_idx_load(path, scale, &out, &info);
    if (st != NN_OK) {
        refused(st, "nn_idx_load");
        FUZZ_CHECK(out == &sentinel);
        FUZZ_CHECK(memcmp(&info, &before, sizeof info) == 0);
        return;
    }
    FUZZ_CHECK(info.ndim >= 1 && info.ndim <= NN_IDX_MAX_DIMS);
    size_t cols = 1;
    for (int d = 1; d < info.ndim; d++)
        cols *= info.dims[d];
    FUZZ_CHECK(out != NULL && out->ndim == 2);
    FUZZ_CHECK(out->shape[0] == info.dims[0] && out->shape[1] == cols);
    FUZZ_CHECK(all_finite(out));
    nn_tensor_free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    fuzz_install_allocator();
    if (data[0] & 0x80)
        fuzz_idx(data[0], data + 1, size - 1);
    else
        fuzz_csv(data[0], data + 1, size - 1);
    return 0;
}
