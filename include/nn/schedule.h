/* nn/schedule.h - learning-rate schedules.
 *
 * A schedule is a plain value: a kind and its parameters. Nothing in it changes
 * while training; the rate at step (or epoch) t is the closed form
 *   lr(t) = nn_schedule_lr(&s, base_lr, t),   t = 0 for the first step,
 * which the caller hands to nn_optim_set_lr before step t. Every kind follows a
 * PyTorch 1.13 scheduler in torch.optim.lr_scheduler, with its parameter names and
 * defaults (docs/modules-optim.md): lr(t) equals that scheduler's get_last_lr()
 * after t calls of scheduler.step(). torch computes most of them recursively
 * (lr(t) from lr(t - 1)); the closed forms here are the ones torch's own
 * _get_closed_form_lr gives, and agree with the recursion to within a few double
 * roundings (measured: below 5e-15 relative over 20 steps; tests/test_optim_torch.c).
 * All arithmetic is in double. Nothing allocates.
 *
 * Typical use, one rate per epoch:
 *   nn_schedule s = nn_schedule_cosine(epochs, 0.0);
 *   for (size_t e = 0; e < epochs; e++) {
 *       nn_optim_set_lr(o, nn_schedule_lr(&s, base_lr, e));
 *       ... one epoch of steps ...
 *   }
 */
#ifndef NN_SCHEDULE_H
#define NN_SCHEDULE_H

#include <stddef.h>
#include "nn/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Schedule kinds. Append-only: the values may be written to files.
 *
 *   kind          lr(t)                                              PyTorch
 *   CONSTANT      base_lr                                            (no scheduler)
 *   STEP          base_lr gamma^floor(t / step_size)                 StepLR
 *   EXPONENTIAL   base_lr gamma^t                                    ExponentialLR
 *   COSINE        eta_min + (base_lr - eta_min)(1 + cos(pi t / T_max)) / 2
 *                                                                    CosineAnnealingLR
 *   LINEAR        base_lr (start_factor + (end_factor - start_factor)
 *                          min(t, total_iters) / total_iters)        LinearLR
 *
 * COSINE reaches eta_min at t = T_max and, like torch's, then rises again (period
 * 2 T_max); for a single decay use T_max >= the number of steps. LINEAR is the
 * usual linear warm-up: from start_factor base_lr to end_factor base_lr over
 * total_iters steps, then constant. */
typedef enum nn_schedule_kind {
    NN_SCHEDULE_CONSTANT = 0,
    NN_SCHEDULE_STEP = 1,
    NN_SCHEDULE_EXPONENTIAL = 2,
    NN_SCHEDULE_COSINE = 3,
    NN_SCHEDULE_LINEAR = 4
} nn_schedule_kind;

/* torch's defaults for the parameters that have one. */
#define NN_SCHEDULE_STEP_DEFAULT_GAMMA          0.1
#define NN_SCHEDULE_COSINE_DEFAULT_ETA_MIN      0.0
#define NN_SCHEDULE_LINEAR_DEFAULT_START_FACTOR (1.0 / 3.0)
#define NN_SCHEDULE_LINEAR_DEFAULT_END_FACTOR   1.0
#define NN_SCHEDULE_LINEAR_DEFAULT_TOTAL_ITERS  5

/* A schedule. Fields a kind does not use are ignored (the constructors set them
 * to 0). The names are torch's. */
typedef struct nn_schedule {
    nn_schedule_kind kind;
    size_t step_size;    /* STEP: steps between decays, >= 1 (required in torch) */
    double gamma;        /* STEP, EXPONENTIAL: the factor, finite and >= 0 (required in
                            torch for ExponentialLR; StepLR's default is 0.1) */
    size_t T_max;        /* COSINE: steps from base_lr down to eta_min, >= 1 (required) */
    double eta_min;      /* COSINE: the lowest rate, finite and >= 0; default 0 */
    double start_factor; /* LINEAR: factor at t = 0, in [0, 1]; default 1/3. 0 (a warm-up
                            from 0) is valid here and in torch 1.13's check, though
                            torch's recursive form then divides by zero at t = 1 */
    double end_factor;   /* LINEAR: factor from t = total_iters on, in [0, 1]; default 1 */
    size_t total_iters;  /* LINEAR: steps of the ramp, >= 1; default 5 */
} nn_schedule;

/* Constructors. They only fill the struct; nn_schedule_check says whether the
 * values are valid (nn_schedule_lr gives NaN for an invalid schedule). */
nn_schedule nn_schedule_constant(void);
nn_schedule nn_schedule_step(size_t step_size, double gamma);
nn_schedule nn_schedule_exponential(double gamma);
nn_schedule nn_schedule_cosine(size_t T_max, double eta_min);
nn_schedule nn_schedule_linear(double start_factor, double end_factor, size_t total_iters);

/* NN_OK when s is a known kind with parameters in the ranges above (torch's own
 * checks, plus those that would divide by zero or give a negative or NaN rate).
 * Errors: NN_ERR_NULL_ARG, NN_ERR_INVALID_ARG (the message names the field and
 * its value, or the unknown kind). */
nn_status nn_schedule_check(const nn_schedule *s);

/* The learning rate at step t (t = 0 is the first) for a schedule starting from
 * base_lr (torch's initial_lr, the optimizer's rate when the scheduler was made).
 * NaN when s is NULL or fails nn_schedule_check (nn_optim_set_lr rejects NaN). */
double nn_schedule_lr(const nn_schedule *s, double base_lr, size_t t);

/* The kind's name: "constant", "step", "exponential", "cosine", "linear".
 * NULL for an unknown kind. Static; never freed. */
const char *nn_schedule_kind_name(nn_schedule_kind kind);

/* The kind called name (exactly as nn_schedule_kind_name gives it).
 * Errors: NN_ERR_NULL_ARG, NN_ERR_INVALID_ARG (unknown name, quoted in the message;
 * *kind is then unchanged). */
nn_status nn_schedule_kind_from_name(const char *name, nn_schedule_kind *kind);

#ifdef __cplusplus
}
#endif

#endif /* NN_SCHEDULE_H */
