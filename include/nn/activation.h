/* nn/activation.h - activation layers.
 *
 * Activations are layers without parameters whose output width equals their
 * input width: x: (B, n) -> y: (B, n). All are elementwise except softmax and
 * log-softmax, which work on each row (each sample) of the batch. Each one's
 * derivative sits next to it in src/activation.c. None of them allocates in
 * forward or backward, and none keeps per-batch buffers.
 *
 * Every kind follows its PyTorch counterpart (listed below and in
 * docs/modules-activations.md), including the value of the derivative at a kink
 * (ReLU'(0) = 0, LeakyReLU'(0) = negative_slope, ELU'(0) = alpha, as torch) and
 * the defaults of the parameters. Forward and backward give finite results for
 * every finite input (tested at +-1e4): exp is evaluated only where it cannot
 * overflow, and softmax and log-softmax subtract each row's maximum first.
 * Sums over a row accumulate in double.
 *
 * Backward computes dx = dy * f'(x) (elementwise kinds) or the row's
 * vector-Jacobian product (softmax, log-softmax) from the x and y of the last
 * forward; sigmoid, tanh, softmax and log-softmax use y, as torch does. dx may
 * be the same buffer as dy. Called directly through l->ops, forward and backward
 * return NN_ERR_NULL_ARG for a NULL tensor (except dx, which skips the input
 * gradient) and NN_ERR_SHAPE when x, y, dy and dx do not all have the same
 * (rows, cols).
 */
#ifndef NN_ACTIVATION_H
#define NN_ACTIVATION_H

#include "nn/layer.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Activation kinds. Append-only: the values may be written to files.
 * sigma(x) = 1 / (1 + exp(-x)); Phi(x) = (1 + erf(x / sqrt 2)) / 2, the standard
 * normal distribution function. Softmax and log-softmax work on each row i.
 *
 *   kind           y                                              PyTorch (torch.nn.)
 *   IDENTITY       x                                              Identity
 *   SIGMOID        sigma(x)                                       Sigmoid
 *   RELU           max(x, 0)                                      ReLU
 *   LEAKY_RELU     x if x > 0, else negative_slope x              LeakyReLU(negative_slope)
 *   ELU            x if x > 0, else alpha (exp(x) - 1)            ELU(alpha)
 *   TANH           tanh(x)                                        Tanh
 *   SOFTPLUS       log(1 + exp(beta x)) / beta;                   Softplus(beta, threshold)
 *                  x where beta x > threshold
 *   GELU           x Phi(x)                                       GELU()
 *   GELU_TANH      x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))  GELU(approximate='tanh')
 *   SILU           x sigma(x), also called swish                  SiLU
 *   SOFTMAX        exp(x_ij) / sum_k exp(x_ik)                    Softmax(dim=1)
 *   LOG_SOFTMAX    x_ij - log sum_k exp(x_ik)                     LogSoftmax(dim=1)
 */
typedef enum nn_activation_kind {
    NN_ACT_IDENTITY = 0,
    NN_ACT_SIGMOID = 1,
    NN_ACT_RELU = 2,
    NN_ACT_LEAKY_RELU = 3,
    NN_ACT_ELU = 4,
    NN_ACT_TANH = 5,
    NN_ACT_SOFTPLUS = 6,
    NN_ACT_GELU = 7,
    NN_ACT_GELU_TANH = 8,
    NN_ACT_SILU = 9,
    NN_ACT_SOFTMAX = 10,
    NN_ACT_LOG_SOFTMAX = 11
} nn_activation_kind;

/* The defaults of the parameterised kinds, as PyTorch's. */
#define NN_ACT_LEAKY_RELU_DEFAULT_SLOPE   0.01
#define NN_ACT_ELU_DEFAULT_ALPHA          1.0
#define NN_ACT_SOFTPLUS_DEFAULT_BETA      1.0
#define NN_ACT_SOFTPLUS_DEFAULT_THRESHOLD 20.0

/* A new activation layer of the given kind with PyTorch's default parameters
 * (the caller's until added to a network; release it with nn_layer_free).
 * Errors: NN_ERR_NULL_ARG, NN_ERR_INVALID_ARG (unknown kind), NN_ERR_NOMEM.
 * On error *out is NULL. */
nn_status nn_activation_new(nn_activation_kind kind, nn_layer **out);

/* A new activation layer whose one parameter is param (ownership as nn_activation_new):
 *   NN_ACT_LEAKY_RELU  param = negative_slope, any finite value (default 0.01)
 *   NN_ACT_ELU         param = alpha, finite and >= 0 (default 1.0; 0 gives ReLU)
 *   NN_ACT_SOFTPLUS    param = beta, finite and >= FLT_MIN (about 1.2e-38, so that
 *                      log(2) / beta is finite; default 1.0); the threshold is the
 *                      default 20 (nn_softplus_new sets both)
 * The parameter is used in float32, as torch converts it to the tensor's type.
 * Errors: NN_ERR_NULL_ARG, NN_ERR_INVALID_ARG (unknown kind, a kind that takes no
 * parameter, or param NaN, infinite or out of the range above), NN_ERR_NOMEM. */
nn_status nn_activation_new_param(nn_activation_kind kind, double param, nn_layer **out);

/* Shorthands for nn_activation_new and nn_activation_new_param; same errors. */
nn_status nn_identity_new(nn_layer **out);
nn_status nn_sigmoid_new(nn_layer **out);
nn_status nn_relu_new(nn_layer **out);
nn_status nn_leaky_relu_new(double negative_slope, nn_layer **out);
nn_status nn_elu_new(double alpha, nn_layer **out);
nn_status nn_tanh_new(nn_layer **out);
nn_status nn_gelu_new(nn_layer **out);      /* the exact form, with erf */
nn_status nn_gelu_tanh_new(nn_layer **out); /* the tanh approximation */
nn_status nn_silu_new(nn_layer **out);
nn_status nn_softmax_new(nn_layer **out);     /* over each row of (B, n) */
nn_status nn_log_softmax_new(nn_layer **out); /* over each row of (B, n) */

/* Softplus with both of torch.nn.Softplus's parameters: y = log(1 + exp(beta x)) / beta,
 * and y = x where beta x > threshold (torch's switch to the linear function; the
 * derivative there is 1). beta finite and >= FLT_MIN, threshold finite (any sign,
 * as torch).
 * Errors: NN_ERR_NULL_ARG, NN_ERR_INVALID_ARG (a parameter out of range), NN_ERR_NOMEM. */
nn_status nn_softplus_new(double beta, double threshold, nn_layer **out);

/* The kind's name ("relu", "gelu_tanh", ...), which is also its layers' nn_layer_name,
 * or NULL for an unknown kind. Static storage. */
const char *nn_activation_name(nn_activation_kind kind);

/* The kind called name, one of "identity", "sigmoid", "relu", "leaky_relu", "elu",
 * "tanh", "softplus", "gelu", "gelu_tanh", "silu", "softmax", "log_softmax"
 * (exact, lower-case). Errors: NN_ERR_NULL_ARG, NN_ERR_INVALID_ARG (unknown name;
 * the message names it). *kind is unchanged on error. */
nn_status nn_activation_kind_from_name(const char *name, nn_activation_kind *kind);

/* The kind and parameters of an activation layer, for saving it: *param is
 * leaky_relu's negative_slope, elu's alpha or softplus's beta, *param2 softplus's
 * threshold, each the float32 value in use widened to double (0 where the kind has
 * none); passing them back to nn_activation_new_param / nn_softplus_new gives the
 * same layer. Any output may be NULL. Errors: NN_ERR_NULL_ARG (l),
 * NN_ERR_INVALID_ARG (l is not an activation layer). */
nn_status nn_activation_get(const nn_layer *l, nn_activation_kind *kind, double *param,
                            double *param2);

#ifdef __cplusplus
}
#endif

#endif /* NN_ACTIVATION_H */
