/* nn/optim.h - the optimizer interface, the built-in optimizers and gradient clipping.
 *
 * An optimizer updates a list of parameter tensors from their gradients. It may
 * keep per-parameter state (momentum buffers, Adam moments): setup() is called
 * once with the parameter list before the first step and allocates that state;
 * step() must not allocate. Like layers, optimizers are tables of operations:
 * a user can add one outside the library with nn_optim_new.
 *
 * The built-in optimizers are PyTorch 1.13's torch.optim.SGD, Adam, AdamW, RMSprop
 * and Adagrad (docs/modules-optim.md): the same hyper-parameter names and
 * defaults, and the same update formulas as their single-tensor (foreach=False)
 * code, evaluated in float32 in the same order and with the same roundings as
 * torch's CPU kernels (including the fused multiply-add that torch's AVX2 kernels
 * use for add(..., alpha) and addcmul), so trajectories agree with torch's to float
 * rounding (bit for bit on an AVX2 build of torch; tests/test_optim_torch.c).
 * Scalars derived from the hyper-parameters (1 - beta1, bias corrections, lr / bc1)
 * are computed in double and rounded to float where torch rounds them.
 *
 * Every built-in optimizer keeps all its state in one allocation made by setup:
 * the buffers torch keeps in optimizer.state[p] (momentum_buffer, exp_avg, ...) for
 * every parameter, as views into that block, plus the step counter torch keeps as
 * state['step']. The step counter counts steps since the last setup (bias
 * corrections and Adagrad's lr_decay use it); o->step_count counts every step.
 * A setup for a new parameter list starts all state from scratch, as a new torch
 * optimizer would. The learning rate is read from o->lr at every step, so a
 * schedule (nn/schedule.h) or nn_optim_set_lr changes it between steps, as setting
 * param_group['lr'] does in torch. torch's maximize, foreach, capturable,
 * differentiable and fused options have no counterpart (maximize=False behaviour).
 */
#ifndef NN_OPTIM_H
#define NN_OPTIM_H

#include <stdint.h>
#include "nn/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nn_optim nn_optim;

typedef struct nn_optim_ops {
    const char *name; /* stable, lower-case ("sgd") */

    /* Allocates state for params[0..n-1] (only their shapes matter). Called
     * again if the list changes; the state for the old list must then be released
     * (nothing may leak). Optional. */
    nn_status (*setup)(nn_optim *o, const nn_tensor *params, size_t n);

    /* One update of params[0..n-1] from grads[0..n-1] (same shapes, same list
     * as the last setup). o->step_count has already been incremented, so it is
     * 1 on the first step. Must not allocate. Required. */
    nn_status (*step)(nn_optim *o, nn_tensor *params, const nn_tensor *grads, size_t n);

    /* Releases o->impl. Optional. */
    void (*destroy)(nn_optim *o);

    /* Sets *view to the state buffer called name kept for parameter i of the last
     * setup (a view into the optimizer's memory, shaped like the parameter). Used by
     * nn_optim_state; optional (NULL: the optimizer exposes no state). */
    nn_status (*state)(nn_optim *o, const char *name, size_t i, nn_tensor *view);
} nn_optim_ops;

struct nn_optim {
    const nn_optim_ops *ops; /* borrowed: must outlive the optimizer */
    void *impl;              /* the kind's private state */
    double lr;               /* learning rate, read by step(); schedules change it */
    uint64_t step_count;     /* steps taken so far */
    const void *owner;       /* the network that owns it (set by nn_net_set_optim), or NULL */
};

/* Wraps ops and impl into a new optimizer with learning rate lr. On success the
 * optimizer owns impl; on failure impl stays the caller's.
 * Errors: NN_ERR_NULL_ARG, NN_ERR_INVALID_ARG (lr negative or not finite), NN_ERR_NOMEM. */
nn_status nn_optim_new(const nn_optim_ops *ops, void *impl, double lr, nn_optim **out);

/* Releases an optimizer no network owns. NULL is a no-op. */
void nn_optim_free(nn_optim *o);

/* Changes the learning rate. Errors: NN_ERR_NULL_ARG, NN_ERR_INVALID_ARG. */
nn_status nn_optim_set_lr(nn_optim *o, double lr);

/* Prepares state for a parameter list (calls ops->setup). For the built-in
 * optimizers: allocates the new state first and releases the old one only when
 * that succeeded, so on NN_ERR_NOMEM the optimizer keeps its previous state and
 * parameter list. Errors: NN_ERR_NULL_ARG, NN_ERR_NOMEM. */
nn_status nn_optim_setup(nn_optim *o, const nn_tensor *params, size_t n);

/* Increments step_count and applies one update (calls ops->step). When the update
 * fails, step_count is restored. The built-in optimizers check everything before
 * they write, so a failed step leaves parameters and state unchanged.
 * Errors: NN_ERR_NULL_ARG, NN_ERR_SHAPE (a gradient's shape differs from its
 * parameter, or a parameter's shape from the one given to setup), NN_ERR_STATE
 * (an optimizer with state stepped before nn_optim_setup, or with another number of
 * tensors than set up; step_count, or the state's step count of an optimizer whose
 * update uses it, at UINT64_MAX: counting on would wrap it to 0). */
nn_status nn_optim_step(nn_optim *o, nn_tensor *params, const nn_tensor *grads, size_t n);

/* Sets *view to optimizer state: the buffer called name (the key torch uses in
 * optimizer.state[p]: "momentum_buffer", "exp_avg", "exp_avg_sq", "max_exp_avg_sq",
 * "square_avg", "grad_avg", "sum"; see each optimizer below) for parameter i of the
 * last setup. The view has the parameter's shape and is borrowed: valid until the
 * next setup or free; writing through it changes the optimizer's state.
 * Errors: NN_ERR_NULL_ARG, NN_ERR_STATE (not set up, or ops->state is NULL),
 * NN_ERR_INVALID_ARG (no such buffer in this optimizer with these settings, or
 * i >= the number of tensors set up; the message names them). */
nn_status nn_optim_state(nn_optim *o, const char *name, size_t i, nn_tensor *view);

/* ---- built-in optimizers ----------------------------------------------------------
 *
 * Each has a parameter struct whose fields carry torch's names and a
 * *_default_params() giving torch 1.13's defaults; change fields, then pass the
 * struct to the *_new_ex constructor (ggml style). In the formulas g is the gradient,
 * p the parameter, t the step (1 on the first step after setup), lr = o->lr at that
 * step, and every operation is elementwise.
 *
 * Every constructor returns a new optimizer, the caller's until handed to
 * nn_net_set_optim; release it with nn_optim_free. The parameter struct is copied.
 * Errors of every constructor: NN_ERR_NULL_ARG (params or out NULL), NN_ERR_NOMEM,
 * NN_ERR_INVALID_ARG for a hyper-parameter out of range (listed with each; NaN and
 * infinities are always out of range), with a message naming the field and its
 * value. On error *out is NULL. */

/* torch.optim.SGD(lr, momentum=0, dampening=0, weight_decay=0, nesterov=False):
 *   g = g + weight_decay p                         if weight_decay != 0
 *   if momentum != 0:
 *       b = g (t = 1), else b = momentum b + (1 - dampening) g        (momentum_buffer)
 *       g = g + momentum b (nesterov), else g = b
 *   p = p - lr g
 * State: "momentum_buffer" (only with momentum != 0; without it SGD keeps no state
 * and may step without setup). */
typedef struct nn_sgd_params {
    double lr;           /* >= 0. torch has no default (lr is required); here 0.01 */
    double momentum;     /* >= 0; 0 */
    double dampening;    /* any finite value; 0 */
    double weight_decay; /* L2 penalty added to the gradient, >= 0; 0 */
    int nesterov;        /* 1: Nesterov momentum (needs momentum > 0, dampening 0); 0 */
} nn_sgd_params;

nn_sgd_params nn_sgd_default_params(void);

/* Invalid: lr, momentum or weight_decay negative; nesterov with momentum 0 or
 * dampening != 0 (torch's own checks), and any NaN or infinity. */
nn_status nn_optim_sgd_new_ex(const nn_sgd_params *params, nn_optim **out);

/* Plain stochastic gradient descent: p -= lr * g (torch.optim.SGD with its defaults);
 * nn_optim_sgd_new_ex with only lr changed.
 * Errors: NN_ERR_INVALID_ARG (lr negative or not finite), NN_ERR_NOMEM. */
nn_status nn_optim_sgd_new(double lr, nn_optim **out);

/* torch.optim.Adam(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
 * amsgrad=False), Kingma & Ba 2015 with torch's placement of eps:
 *   g = g + weight_decay p                                      if weight_decay != 0
 *   m = beta1 m + (1 - beta1) g                                 (exp_avg)
 *   v = beta2 v + (1 - beta2) g^2                               (exp_avg_sq)
 *   v_max = max(v_max, v); use v_max for v below                (max_exp_avg_sq, amsgrad)
 *   step_size = lr / (1 - beta1^t)
 *   denom = sqrt(v) / sqrt(1 - beta2^t) + eps
 *   p = p - step_size m / denom
 * State: "exp_avg", "exp_avg_sq", and "max_exp_avg_sq" with amsgrad. */
typedef struct nn_adam_params {
    double lr;           /* >= 0; 1e-3 */
    double betas[2];     /* each in [0, 1); {0.9, 0.999} */
    double eps;          /* >= 0; 1e-8 */
    double weight_decay; /* >= 0; 0 for Adam (L2 in the gradient), 1e-2 for AdamW */
    int amsgrad;         /* 1: the AMSGrad variant (Reddi et al. 2018); 0 */
} nn_adam_params;

nn_adam_params nn_adam_default_params(void);

/* Invalid: lr, eps or weight_decay negative, a beta outside [0, 1). */
nn_status nn_optim_adam_new_ex(const nn_adam_params *params, nn_optim **out);

/* torch.optim.AdamW(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
 * amsgrad=False), Loshchilov & Hutter 2019: Adam without weight decay in the
 * gradient, and instead, before the moments are updated,
 *   p = p (1 - lr weight_decay)
 * The parameters are Adam's; only the default weight_decay differs. */
typedef nn_adam_params nn_adamw_params;

nn_adamw_params nn_adamw_default_params(void);

/* Invalid: as Adam. */
nn_status nn_optim_adamw_new_ex(const nn_adamw_params *params, nn_optim **out);

/* torch.optim.RMSprop(lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0,
 * centered=False), Hinton's lecture 6e with torch's placement of eps:
 *   g = g + weight_decay p                                      if weight_decay != 0
 *   s = alpha s + (1 - alpha) g^2                               (square_avg)
 *   if centered: a = alpha a + (1 - alpha) g   (grad_avg);  d = sqrt(s - a^2) + eps
 *   else d = sqrt(s) + eps
 *   if momentum > 0: b = momentum b + g / d   (momentum_buffer);  p = p - lr b
 *   else p = p - lr g / d
 * State: "square_avg", "momentum_buffer" with momentum > 0, "grad_avg" when centered. */
typedef struct nn_rmsprop_params {
    double lr;           /* >= 0; 1e-2 */
    double alpha;        /* smoothing constant in [0, 1]; 0.99 */
    double eps;          /* >= 0; 1e-8 */
    double weight_decay; /* >= 0; 0 */
    double momentum;     /* >= 0; 0 */
    int centered;        /* 1: normalise by the estimated variance; 0 */
} nn_rmsprop_params;

nn_rmsprop_params nn_rmsprop_default_params(void);

/* Invalid: lr, eps, weight_decay or momentum negative, alpha outside [0, 1] (torch
 * only rejects alpha < 0; alpha > 1 makes square_avg negative). */
nn_status nn_optim_rmsprop_new_ex(const nn_rmsprop_params *params, nn_optim **out);

/* torch.optim.Adagrad(lr=1e-2, lr_decay=0, weight_decay=0,
 * initial_accumulator_value=0, eps=1e-10), Duchi et al. 2011:
 *   g = g + weight_decay p                                      if weight_decay != 0
 *   clr = lr / (1 + (t - 1) lr_decay)
 *   s = s + g^2               (sum; starts at initial_accumulator_value)
 *   p = p - clr g / (sqrt(s) + eps)
 * State: "sum". */
typedef struct nn_adagrad_params {
    double lr;                        /* >= 0; 1e-2 */
    double lr_decay;                  /* >= 0; 0 */
    double weight_decay;              /* >= 0; 0 */
    double initial_accumulator_value; /* >= 0; 0 */
    double eps;                       /* >= 0; 1e-10 */
} nn_adagrad_params;

nn_adagrad_params nn_adagrad_default_params(void);

/* Invalid: any field negative. */
nn_status nn_optim_adagrad_new_ex(const nn_adagrad_params *params, nn_optim **out);

/* ---- built-in kinds by name ------------------------------------------------------ */

/* The built-in optimizers. Append-only: the values may be written to files. */
typedef enum nn_optim_kind {
    NN_OPTIM_SGD = 0,
    NN_OPTIM_ADAM = 1,
    NN_OPTIM_ADAMW = 2,
    NN_OPTIM_RMSPROP = 3,
    NN_OPTIM_ADAGRAD = 4
} nn_optim_kind;

/* The kind's name, which is also its optimizer's ops->name: "sgd", "adam", "adamw",
 * "rmsprop", "adagrad". NULL for an unknown kind. Static; never freed. */
const char *nn_optim_kind_name(nn_optim_kind kind);

/* The kind called name (exactly as nn_optim_kind_name gives it; case matters).
 * Errors: NN_ERR_NULL_ARG, NN_ERR_INVALID_ARG (unknown name, quoted in the message;
 * *kind is then unchanged). */
nn_status nn_optim_kind_from_name(const char *name, nn_optim_kind *kind);

/* A new optimizer of the given kind with torch's default hyper-parameters and
 * learning rate lr; the caller's, as the constructors above.
 * Errors: NN_ERR_NULL_ARG, NN_ERR_INVALID_ARG (unknown kind, bad lr), NN_ERR_NOMEM. */
nn_status nn_optim_new_by_kind(nn_optim_kind kind, double lr, nn_optim **out);

/* ---- gradient clipping ------------------------------------------------------------ */

/* torch.nn.utils.clip_grad_norm_(parameters, max_norm) with norm_type 2: the
 * Euclidean norm of all grads[0..n-1] together, as if concatenated,
 *   total = sqrt(sum of g^2)   (accumulated in double, so it cannot overflow)
 * then, when coef = max_norm / (total + 1e-6) is below 1, every gradient is
 * multiplied by coef (rounded to float); otherwise the gradients are not touched.
 * *total_norm (may be NULL) gets total, before clipping. n = 0 gives total 0.
 * Allocates nothing. max_norm = 0 zeroes the gradients (as torch); max_norm =
 * INFINITY never clips (just measures).
 * Differences from torch: the norm is computed in double (torch: float32, which
 * overflows to inf for |g| beyond about 1e19); a non-finite total (a NaN or
 * infinite gradient) is an error and leaves the gradients unchanged, as torch's
 * error_if_nonfinite=True (torch's default would scale them by NaN).
 * Errors: NN_ERR_NULL_ARG (grads NULL with n > 0, or a gradient with elements but
 * no data), NN_ERR_INVALID_ARG (max_norm NaN or negative), NN_ERR_NUMERIC (total is
 * NaN or infinite; *total_norm is still set). */
nn_status nn_clip_grad_norm(nn_tensor *grads, size_t n, double max_norm, double *total_norm);

/* ---- introspection of the built-in optimizers (model files) ------------------------ */

/* The kind of a built-in optimizer. Errors: NN_ERR_NULL_ARG, NN_ERR_INVALID_ARG (an
 * optimizer defined outside nn). */
nn_status nn_optim_get_kind(const nn_optim *o, nn_optim_kind *kind);

/* The hyper-parameters a built-in optimizer was made with. p->lr is the rate given
 * at construction; the rate in use is o->lr. nn_optim_get_adam_params serves Adam
 * and AdamW. Errors: NN_ERR_NULL_ARG, NN_ERR_INVALID_ARG (o is not of that kind). */
nn_status nn_optim_get_sgd_params(const nn_optim *o, nn_sgd_params *p);
nn_status nn_optim_get_adam_params(const nn_optim *o, nn_adam_params *p);
nn_status nn_optim_get_rmsprop_params(const nn_optim *o, nn_rmsprop_params *p);
nn_status nn_optim_get_adagrad_params(const nn_optim *o, nn_adagrad_params *p);

/* torch's state['step'] of a built-in optimizer: the steps since the last setup,
 * which bias corrections, Adagrad's lr_decay and SGD's first momentum step use.
 * Setting it (after nn_optim_setup, with the state buffers written through
 * nn_optim_state) restores a saved optimizer exactly; a later setup resets it to 0.
 * Any count can be set. At UINT64_MAX an optimizer whose update uses the count
 * (Adam, AdamW, RMSprop, Adagrad, SGD with momentum) refuses to step
 * (NN_ERR_STATE) rather than wrap it to 0; plain SGD's count stops there.
 * Errors: NN_ERR_NULL_ARG, NN_ERR_INVALID_ARG (not a built-in optimizer). */
nn_status nn_optim_get_state_step(const nn_optim *o, uint64_t *t);
nn_status nn_optim_set_state_step(nn_optim *o, uint64_t t);

#ifdef __cplusplus
}
#endif

#endif /* NN_OPTIM_H */
