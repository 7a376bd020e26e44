/* schedule.c - learning-rate schedules in closed form.
 *
 * Each formula is torch 1.13's _get_closed_form_lr for the scheduler (in
 * torch/optim/lr_scheduler.py), with the operations in the same order, so that
 * only torch's recursive get_lr() (lr(t) computed from lr(t - 1)) separates the
 * two: a rounding per step, measured by tests/reference/gen_optim.py.
 */
#include <math.h>
#include <string.h>

#include "internal.h"
#include "nn/schedule.h"

/* C11 has no M_PI; this is Python's math.pi, as torch uses. */
#define NN_PI 3.141592653589793

nn_schedule nn_schedule_constant(void)
{
    nn_schedule s;
    memset(&s, 0, sizeof s);
    s.kind = NN_SCHEDULE_CONSTANT;
    return s;
}

nn_schedule nn_schedule_step(size_t step_size, double gamma)
{
    nn_schedule s = nn_schedule_constant();
    s.kind = NN_SCHEDULE_STEP;
    s.step_size = step_size;
    s.gamma = gamma;
    return s;
}

nn_schedule nn_schedule_exponential(double gamma)
{
    nn_schedule s = nn_schedule_constant();
    s.kind = NN_SCHEDULE_EXPONENTIAL;
    s.gamma = gamma;
    return s;
}

nn_schedule nn_schedule_cosine(size_t T_max, double eta_min)
{
    nn_schedule s = nn_schedule_constant();
    s.kind = NN_SCHEDULE_COSINE;
    s.T_max = T_max;
    s.eta_min = eta_min;
    return s;
}

nn_schedule nn_schedule_linear(double start_factor, double end_factor, size_t total_iters)
{
    nn_schedule s = nn_schedule_constant();
    s.kind = NN_SCHEDULE_LINEAR;
    s.start_factor = start_factor;
    s.end_factor = end_factor;
    s.total_iters = total_iters;
    return s;
}

static nn_status check_factor(const char *field, double v)
{
    if (!isfinite(v) || v < 0.0)
        return nn_error(NN_ERR_INVALID_ARG, "nn_schedule_check: %s %g is not a finite value >= 0",
                        field, v);
    return NN_OK;
}

static nn_status check_count(const char *kind, const char *field, size_t v)
{
    if (v == 0)
        return nn_error(NN_ERR_INVALID_ARG,
                        "nn_schedule_check: %s schedule with %s 0 (must be >= 1)", kind, field);
    return NN_OK;
}

nn_status nn_schedule_check(const nn_schedule *s)
{
    NN_CHECK_NULL(s);
    nn_status st = NN_OK;
    switch (s->kind) {
    case NN_SCHEDULE_CONSTANT:
        return NN_OK;
    case NN_SCHEDULE_STEP:
        st = check_count("step", "step_size", s->step_size);
        return st == NN_OK ? check_factor("gamma", s->gamma) : st;
    case NN_SCHEDULE_EXPONENTIAL:
        return check_factor("gamma", s->gamma);
    case NN_SCHEDULE_COSINE:
        st = check_count("cosine", "T_max", s->T_max);
        return st == NN_OK ? check_factor("eta_min", s->eta_min) : st;
    case NN_SCHEDULE_LINEAR:
        /* torch.optim.lr_scheduler.LinearLR's own checks, plus total_iters >= 1 */
        if (!(s->start_factor >= 0.0 && s->start_factor <= 1.0))
            return nn_error(NN_ERR_INVALID_ARG,
                            "nn_schedule_check: start_factor %g is outside [0, 1]",
                            s->start_factor);
        if (!(s->end_factor >= 0.0 && s->end_factor <= 1.0))
            return nn_error(NN_ERR_INVALID_ARG,
                            "nn_schedule_check: end_factor %g is outside [0, 1]", s->end_factor);
        return check_count("linear", "total_iters", s->total_iters);
    }
    return nn_error(NN_ERR_INVALID_ARG, "nn_schedule_check: unknown schedule kind %d",
                    (int)s->kind);
}

double nn_schedule_lr(const nn_schedule *s, double base_lr, size_t t)
{
    if (s == NULL || nn_schedule_check(s) != NN_OK)
        return NAN;
    double td = (double)t;
    switch (s->kind) {
    case NN_SCHEDULE_CONSTANT:
        return base_lr;
    case NN_SCHEDULE_STEP: /* base_lr * gamma ** (last_epoch // step_size) */
        return base_lr * pow(s->gamma, (double)(t / s->step_size));
    case NN_SCHEDULE_EXPONENTIAL: /* base_lr * gamma ** last_epoch */
        return base_lr * pow(s->gamma, td);
    case NN_SCHEDULE_COSINE: /* eta_min + (base_lr - eta_min) * (1 + cos(pi * last_epoch / T_max)) /
                                2 */
        return s->eta_min +
               (base_lr - s->eta_min) * (1.0 + cos(NN_PI * td / (double)s->T_max)) / 2.0;
    case NN_SCHEDULE_LINEAR: {
        /* base_lr * (start_factor + (end_factor - start_factor) * min(total_iters, last_epoch)
         *            / total_iters) */
        double done = (double)(t < s->total_iters ? t : s->total_iters);
        return base_lr * (s->start_factor +
                          (s->end_factor - s->start_factor) * done / (double)s->total_iters);
    }
    }
    return NAN;
}

const char *nn_schedule_kind_name(nn_schedule_kind kind)
{
    switch (kind) {
    case NN_SCHEDULE_CONSTANT:
        return "constant";
    case NN_SCHEDULE_STEP:
        return "step";
    case NN_SCHEDULE_EXPONENTIAL:
        return "exponential";
    case NN_SCHEDULE_COSINE:
        return "cosine";
    case NN_SCHEDULE_LINEAR:
        return "linear";
    }
    return NULL;
}

nn_status nn_schedule_kind_from_name(const char *name, nn_schedule_kind *kind)
{
    NN_CHECK_NULL(name);
    NN_CHECK_NULL(kind);
    for (int k = 0; nn_schedule_kind_name((nn_schedule_kind)k) != NULL; k++)
        if (strcmp(nn_schedule_kind_name((nn_schedule_kind)k), name) == 0) {
            *kind = (nn_schedule_kind)k;
            return NN_OK;
        }
    return nn_error(NN_ERR_INVALID_ARG,
                    "nn_schedule_kind_from_name: unknown schedule '%s' (known: constant, step, "
                    "exponential, cosine, linear)",
                    name);
}
