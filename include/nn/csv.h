/* nn/csv.h - loading numeric tables from CSV files.
 *
 * The format read is plain numeric CSV: lines ending in "\n" or "\r\n" (the last
 * line may lack it), fields separated by one delimiter character, every data field
 * a decimal number. Strict on purpose: a file that does not parse exactly is
 * rejected, never partly loaded or silently repaired.
 *
 *   - An optional header line names the columns (names may be enclosed in double
 *     quotes, which are removed; no other quoting is understood).
 *   - A data field is a decimal number as written by printf's %g or %f, e.g.
 *     "-1.5", "2", ".5", "3e-4", with optional spaces or tabs around it. Rejected
 *     with NN_ERR_FORMAT: an empty field, anything else in the field ("1.5kg",
 *     "1,5", hexadecimal "0x10"), "nan" and "inf" in any spelling, and numbers
 *     that do not round to a finite float (beyond FLT_MAX by more than half an
 *     ulp). Parsing uses strtod, so the C locale's decimal point must be in effect
 *     (it is unless the program calls setlocale).
 *   - Only the chosen input and target columns are parsed: the others may hold
 *     anything without a delimiter (names, ids, dates), so such a file still loads.
 *   - Every line has as many fields as the first (the header when there is one):
 *     a ragged row is an error.
 *   - An empty file, a file with a header but no data lines, an empty line between
 *     data lines, a line longer than max_line bytes and a NUL byte are errors.
 *     Empty lines at the very end of the file are ignored.
 *
 * Every error names the file and the 1-based line (and the 0-based column, with its
 * header name when there is one): "nn_csv_load: data.csv:7: column 2 (height):
 * 'abc' is not a number". Column numbers in messages are 0-based like the indices
 * in nn_csv_params.
 */
#ifndef NN_CSV_H
#define NN_CSV_H

#include <stddef.h>
#include "nn/dataset.h"
#include "nn/status.h"
#include "nn/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nn_csv_params {
    int header;      /* 1: the first line names the columns (not data) */
    char delimiter;  /* ',' by default; not '"', '\r', '\n', NUL, ' ' or '\t' (blanks
                      * around fields are trimmed, so they cannot separate them) */
    size_t max_line; /* longest line accepted, in bytes without the line end; > 0 */

    /* The target columns, in the order they fill the targets' columns: either by
     * 0-based index (target_cols) or, with a header, by name (target_names);
     * exactly one of the two arrays is non-NULL when n_targets > 0. n_targets 0:
     * no targets. */
    const size_t *target_cols;
    const char *const *target_names;
    size_t n_targets;

    /* The input columns likewise (input_cols or input_names, n_inputs of them).
     * n_inputs 0: every column that is not a target, in file order. A column may
     * not be both an input and a target, nor be chosen twice. */
    const size_t *input_cols;
    const char *const *input_names;
    size_t n_inputs;
} nn_csv_params;

/* header 1, delimiter ',', max_line 1 MiB, no targets, every column an input. */
nn_csv_params nn_csv_default_params(void);

/* Loads the file at path: *inputs gets (rows, n_inputs) and, when params->n_targets
 * > 0, *targets gets (rows, n_targets), rows being the number of data lines. The
 * tensors are the caller's (nn_tensor_free). targets may be NULL only when there
 * are no target columns. params NULL means nn_csv_default_params().
 * Errors: NN_ERR_NULL_ARG; NN_ERR_INVALID_ARG (bad params: delimiter, max_line 0,
 * both or neither of an index and a name array, a column index past the last
 * column, a name not in the header or in it twice, names without a header, a
 * column chosen twice, no input column left); NN_ERR_IO (cannot open or read the
 * file, with strerror); NN_ERR_FORMAT (malformed content, see above);
 * NN_ERR_NOMEM. On any error the outputs are untouched and nothing is left
 * allocated. */
nn_status nn_csv_load(const char *path, const nn_csv_params *params, nn_tensor **inputs,
                      nn_tensor **targets);

/* nn_csv_load into a new data set (x: inputs, y: targets); needs n_targets > 0
 * (NN_ERR_INVALID_ARG otherwise). On error *out is untouched. */
nn_status nn_csv_load_dataset(const char *path, const nn_csv_params *params, nn_dataset **out);

#ifdef __cplusplus
}
#endif

#endif /* NN_CSV_H */
