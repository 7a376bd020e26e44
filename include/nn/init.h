/* nn/init.h - parameter initialisers.
 *
 * An initialiser is a small value type: a kind and up to two numbers. Fill a
 * tensor with nn_init_fill, giving the fan-in and fan-out of the layer it belongs
 * to. The formulas follow PyTorch's torch.nn.init so that weights drawn here have
 * the same distributions (not the same numbers: the generator differs).
 */
#ifndef NN_INIT_H
#define NN_INIT_H

#include <stddef.h>
#include "nn/rng.h"
#include "nn/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Initialiser kinds. Append-only: the values may be written to files. */
typedef enum nn_init_kind {
    NN_INIT_ZEROS = 0,          /* 0 */
    NN_INIT_CONSTANT = 1,       /* a */
    NN_INIT_UNIFORM = 2,        /* U(a, b) */
    NN_INIT_NORMAL = 3,         /* N(mean a, std b); the lesson's N(0, 1) is a = 0, b = 1 */
    NN_INIT_XAVIER_UNIFORM = 4, /* U(-r, r), r = a * sqrt(6 / (fan_in + fan_out)), a = gain */
    NN_INIT_XAVIER_NORMAL = 5,  /* N(0, a * sqrt(2 / (fan_in + fan_out))), a = gain */
    NN_INIT_KAIMING_UNIFORM = 6,/* U(-r, r), r = a * sqrt(3 / fan_in), a = gain (sqrt(2) for ReLU) */
    NN_INIT_KAIMING_NORMAL = 7, /* N(0, a / sqrt(fan_in)), a = gain */
    NN_INIT_TORCH_LINEAR = 8    /* U(-1/sqrt(fan_in), 1/sqrt(fan_in)): torch.nn.Linear's default
                                   for both weight and bias */
} nn_init_kind;

typedef struct nn_init {
    nn_init_kind kind;
    double a;
    double b;
} nn_init;

/* Convenience constructors for the common cases. */
nn_init nn_init_zeros(void);
nn_init nn_init_constant(double value);
nn_init nn_init_uniform(double low, double high);
nn_init nn_init_normal(double mean, double std);
nn_init nn_init_xavier_uniform(double gain);
nn_init nn_init_xavier_normal(double gain);
nn_init nn_init_kaiming_uniform(double gain);
nn_init nn_init_kaiming_normal(double gain);
nn_init nn_init_torch_linear(void);

/* Fills t from init. fan_in and fan_out are the layer's input and output widths.
 * Elements are drawn in storage order, so the same rng state gives the same tensor.
 * Errors: NN_ERR_NULL_ARG (t or rng, when the kind is random), NN_ERR_INVALID_ARG
 * (unknown kind, a non-finite parameter, b <= a for uniform, negative std or gain
 * (torch refuses both), zero fan where one is used, or
 * parameters that could draw a value beyond float's range, whatever the rng's
 * state: a normal's |mean| + 12.01 std, a uniform's bound); on error t is unchanged. */
nn_status nn_init_fill(nn_tensor *t, const nn_init *init, size_t fan_in, size_t fan_out,
                       nn_rng *rng);

/* The initialiser's name ("normal", "xavier_uniform", ...), or NULL for an unknown kind. */
const char *nn_init_name(nn_init_kind kind);

/* The kind called name (as nn_init_name gives it: "normal" is the lesson's N(0, 1)
 * with a = 0, b = 1). Errors: NN_ERR_NULL_ARG, NN_ERR_INVALID_ARG (unknown name). */
nn_status nn_init_kind_from_name(const char *name, nn_init_kind *kind);

/* The initialiser called name with PyTorch's defaults for its parameters:
 * constant 0, uniform U(0, 1), normal N(0, 1), xavier_* gain 1, kaiming_* gain
 * sqrt(2) (torch's a = 0, the gain for ReLU). "lesson" is another name for the
 * lesson's N(0, 1). Errors: NN_ERR_NULL_ARG, NN_ERR_INVALID_ARG (unknown name). */
nn_status nn_init_from_name(const char *name, nn_init *init);

#ifdef __cplusplus
}
#endif

#endif /* NN_INIT_H */
