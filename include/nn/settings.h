/* nn/settings.h - typed key/value settings of layers, losses and optimizers.
 *
 * A settings list is how a layer, loss or optimizer kind describes the numbers
 * and names it was made with ("units" = 2, "weight_init" = "normal", "lr" = 0.1),
 * and how one is made again from them: model files store each layer as its kind
 * name plus such a list, and spec lines ("dense 2 init=normal") are read into one.
 * So a new kind, or a new setting of a kind, needs no change to either format.
 *
 * Values are 64-bit integers (signed or unsigned), doubles, strings or booleans. Keys are
 * unique within a list and keep the order they were first set in. The getters
 * convert where nothing is lost (an integer read as a double, a non-negative
 * signed integer as an unsigned one) and leave the output untouched when the key
 * is absent, so a default is written as:
 *     double lr = 0.01;
 *     st = nn_settings_get_float(s, "lr", &lr);   (NN_OK whether or not "lr" is set)
 */
#ifndef NN_SETTINGS_H
#define NN_SETTINGS_H

#include <stddef.h>
#include <stdint.h>
#include "nn/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Value types. Append-only: the values are written to model files. */
typedef enum nn_value_type {
    NN_VALUE_NONE = 0,   /* no such entry (what nn_settings_type gives out of range) */
    NN_VALUE_INT = 1,    /* int64_t */
    NN_VALUE_UINT = 2,   /* uint64_t (seeds, generator states) */
    NN_VALUE_FLOAT = 3,  /* double */
    NN_VALUE_STRING = 4, /* a NUL-terminated string */
    NN_VALUE_BOOL = 5    /* 0 or 1 (written true / false in a spec) */
} nn_value_type;

/* Longest key accepted, in bytes (without the NUL). */
#define NN_SETTINGS_MAX_KEY 63

typedef struct nn_settings nn_settings; /* opaque */

/* A new, empty list; the caller's, released with nn_settings_free.
 * Errors: NN_ERR_NULL_ARG, NN_ERR_NOMEM. */
nn_status nn_settings_new(nn_settings **out);

/* Releases the list and its strings. NULL is a no-op. */
void nn_settings_free(nn_settings *s);

/* Removes every entry (keeps the list usable). NULL is a no-op. */
void nn_settings_clear(nn_settings *s);

/* Sets key to a value, replacing any value (of any type) it had. Keys are 1 to
 * NN_SETTINGS_MAX_KEY bytes of letters, digits and '_', not starting with a digit
 * (as a spec file writes them). Strings are copied, and hold no '\n' (a spec
 * states each on one line). On error the list is unchanged.
 * Errors: NN_ERR_NULL_ARG, NN_ERR_INVALID_ARG (a bad key or string), NN_ERR_NOMEM. */
nn_status nn_settings_set_int(nn_settings *s, const char *key, int64_t value);
nn_status nn_settings_set_uint(nn_settings *s, const char *key, uint64_t value);
nn_status nn_settings_set_float(nn_settings *s, const char *key, double value);
nn_status nn_settings_set_string(nn_settings *s, const char *key, const char *value);
nn_status nn_settings_set_bool(nn_settings *s, const char *key, int value); /* non-zero: 1 */

/* Removes key; NN_OK whether or not it was there. Errors: NN_ERR_NULL_ARG. */
nn_status nn_settings_remove(nn_settings *s, const char *key);

/* Copies every entry of src into dst (replacing dst's values for the same keys).
 * Errors: NN_ERR_NULL_ARG, NN_ERR_NOMEM (dst may then hold some of the entries). */
nn_status nn_settings_merge(nn_settings *dst, const nn_settings *src);

/* Entries in order: count, and the key and type of entry i (NULL and
 * NN_VALUE_NONE when i is out of range). Keys are borrowed until the entry changes. */
size_t nn_settings_count(const nn_settings *s);
const char *nn_settings_key(const nn_settings *s, size_t i);
nn_value_type nn_settings_type(const nn_settings *s, size_t i);

/* The type of key's value, NN_VALUE_NONE when absent (or s or key is NULL). */
nn_value_type nn_settings_find(const nn_settings *s, const char *key);

/* Reads key into *value when it is set; leaves *value unchanged when it is not.
 *   get_int     INT, or UINT up to INT64_MAX
 *   get_uint    UINT, or INT >= 0
 *   get_size    as get_uint, up to SIZE_MAX
 *   get_float   FLOAT, or INT/UINT (converted to the nearest double)
 *   get_bool    BOOL, INT or UINT 0 or 1, or the strings "true" / "false"
 *   get_string  STRING only; *value is borrowed until the entry changes
 * Errors: NN_ERR_NULL_ARG, NN_ERR_INVALID_ARG (a value of another type or out of
 * range; the message names the key, its value and what was expected). */
nn_status nn_settings_get_int(const nn_settings *s, const char *key, int64_t *value);
nn_status nn_settings_get_uint(const nn_settings *s, const char *key, uint64_t *value);
nn_status nn_settings_get_size(const nn_settings *s, const char *key, size_t *value);
nn_status nn_settings_get_float(const nn_settings *s, const char *key, double *value);
nn_status nn_settings_get_bool(const nn_settings *s, const char *key, int *value);
nn_status nn_settings_get_string(const nn_settings *s, const char *key, const char **value);

/* NN_OK when every key of s is in the NULL-terminated list known; otherwise
 * NN_ERR_INVALID_ARG with a message "<who>: unknown setting 'x' (known: a, b)".
 * Kinds call this first so a misspelt setting is an error, not silently ignored.
 * Errors: NN_ERR_NULL_ARG (s or who), NN_ERR_INVALID_ARG. */
nn_status nn_settings_check_keys(const nn_settings *s, const char *who, const char *const *known);

/* 1 when a and b hold the same keys with the same types and values (floats
 * compared bit for bit, so -0.0 differs from 0.0 and NaN equals itself), in any
 * order; 0 otherwise (also for NULL). */
int nn_settings_equal(const nn_settings *a, const nn_settings *b);

#ifdef __cplusplus
}
#endif

#endif /* NN_SETTINGS_H */
