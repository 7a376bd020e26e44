/* init.c - parameter initialisers (formulas of torch.nn.init). */
#include <math.h>
#include <string.h>

#include "internal.h"
#include "nn/init.h"

nn_init nn_init_zeros(void) { return (nn_init){NN_INIT_ZEROS, 0.0, 0.0}; }
nn_init nn_init_constant(double value) { return (nn_init){NN_INIT_CONSTANT, value, 0.0}; }
nn_init nn_init_uniform(double low, double high) { return (nn_init){NN_INIT_UNIFORM, low, high}; }
nn_init nn_init_normal(double mean, double std) { return (nn_init){NN_INIT_NORMAL, mean, std}; }
nn_init nn_init_xavier_uniform(double gain) { return (nn_init){NN_INIT_XAVIER_UNIFORM, gain, 0.0}; }
nn_init nn_init_xavier_normal(double gain) { return (nn_init){NN_INIT_XAVIER_NORMAL, gain, 0.0}; }
nn_init nn_init_kaiming_uniform(double gain) { return (nn_init){NN_INIT_KAIMING_UNIFORM, gain, 0.0}; }
nn_init nn_init_kaiming_normal(double gain) { return (nn_init){NN_INIT_KAIMING_NORMAL, gain, 0.0}; }
nn_init nn_init_torch_linear(void) { return (nn_init){NN_INIT_TORCH_LINEAR, 0.0, 0.0}; }

const char *nn_init_name(nn_init_kind kind)
{
    switch (kind) {
    case NN_INIT_ZEROS: return "zeros";
    case NN_INIT_CONSTANT: return "constant";
    case NN_INIT_UNIFORM: return "uniform";
    case NN_INIT_NORMAL: return "normal";
    case NN_INIT_XAVIER_UNIFORM: return "xavier_uniform";
    case NN_INIT_XAVIER_NORMAL: return "xavier_normal";
    case NN_INIT_KAIMING_UNIFORM: return "kaiming_uniform";
    case NN_INIT_KAIMING_NORMAL: return "kaiming_normal";
    case NN_INIT_TORCH_LINEAR: return "torch_linear";
    }
    return NULL;
}

static const char *name_of(int k) { return nn_init_name((nn_init_kind)k); }

nn_status nn_init_kind_from_name(const char *name, nn_init_kind *kind)
{
    NN_CHECK_NULL(name);
    NN_CHECK_NULL(kind);
    char known[192];
    int k = nn_kind_by_name(name, name_of, known, sizeof known);
    if (k >= 0) {
        *kind = (nn_init_kind)k;
        return NN_OK;
    }
    return nn_error(NN_ERR_INVALID_ARG,
                    "nn_init_kind_from_name: unknown initialiser '%s' (known: %s)", name, known);
}

nn_status nn_init_from_name(const char *name, nn_init *init)
{
    NN_CHECK_NULL(name);
    NN_CHECK_NULL(init);
    char known[192];
    int k = strcmp(name, "lesson") == 0 ? (int)NN_INIT_NORMAL /* the lesson's draw */
                                        : nn_kind_by_name(name, name_of, known, sizeof known);
    if (k < 0)
        return nn_error(NN_ERR_INVALID_ARG,
                        "nn_init_from_name: unknown initialiser '%s' (known: %s, lesson)", name,
                        known);
    switch ((nn_init_kind)k) {
    case NN_INIT_ZEROS: *init = nn_init_zeros(); break;
    case NN_INIT_CONSTANT: *init = nn_init_constant(0.0); break;
    case NN_INIT_UNIFORM: *init = nn_init_uniform(0.0, 1.0); break;
    case NN_INIT_NORMAL: *init = nn_init_normal(0.0, 1.0); break;
    case NN_INIT_XAVIER_UNIFORM: *init = nn_init_xavier_uniform(1.0); break;
    case NN_INIT_XAVIER_NORMAL: *init = nn_init_xavier_normal(1.0); break;
    case NN_INIT_KAIMING_UNIFORM: *init = nn_init_kaiming_uniform(sqrt(2.0)); break;
    case NN_INIT_KAIMING_NORMAL: *init = nn_init_kaiming_normal(sqrt(2.0)); break;
    case NN_INIT_TORCH_LINEAR: *init = nn_init_torch_linear(); break;
    }
    return NN_OK;
}

static void fill_uniform(nn_tensor *t, double low, double high, nn_rng *rng)
{
    for (size_t i = 0; i < t->size; i++)
        t->data[i] = (float)(low + (high - low) * nn_rng_uniform(rng));
}

static void fill_normal(nn_tensor *t, double mean, double std, nn_rng *rng)
{
    for (size_t i = 0; i < t->size; i++)
        t->data[i] = (float)(mean + std * nn_rng_normal(rng));
}

static nn_status need_fan(const char *kind, double fan)
{
    if (!(fan > 0.0))
        return nn_error(NN_ERR_INVALID_ARG, "nn_init_fill: '%s' needs a non-zero fan", kind);
    return NN_OK;
}

/* The polar method's deviates (rng.c) are below 12.01 in magnitude: u and v are
 * multiples of 2^-52, so s = u^2 + v^2 >= 2^-104, and |u| sqrt(-2 ln s / s) <=
 * sqrt(-2 ln s) <= sqrt(208 ln 2) = 12.01. */
#define NORMAL_BOUND 12.01

/* The largest magnitude init can draw for these fans (0 where a fan it needs is 0:
 * the draw refuses that). Computed in double, where none of it overflows for
 * finite parameters but 2 r of a uniform, kept out of it. */
static double max_magnitude(const nn_init *init, size_t fan_in, size_t fan_out)
{
    double fans = (double)fan_in + (double)fan_out, in = (double)fan_in;
    switch (init->kind) {
    case NN_INIT_ZEROS: return 0.0;
    case NN_INIT_CONSTANT: return fabs(init->a);
    case NN_INIT_UNIFORM: return fmax(fabs(init->a), fabs(init->b));
    case NN_INIT_NORMAL: return fabs(init->a) + NORMAL_BOUND * fabs(init->b);
    case NN_INIT_XAVIER_UNIFORM: return fans > 0 ? fabs(init->a) * sqrt(6.0 / fans) : 0.0;
    case NN_INIT_XAVIER_NORMAL:
        return fans > 0 ? NORMAL_BOUND * fabs(init->a) * sqrt(2.0 / fans) : 0.0;
    case NN_INIT_KAIMING_UNIFORM: return in > 0 ? fabs(init->a) * sqrt(3.0 / in) : 0.0;
    case NN_INIT_KAIMING_NORMAL: return in > 0 ? NORMAL_BOUND * fabs(init->a) / sqrt(in) : 0.0;
    case NN_INIT_TORCH_LINEAR: return in > 0 ? 1.0 / sqrt(in) : 0.0;
    }
    return 0.0;
}

/* nn_init_fill's draws, its arguments checked. */
static nn_status draw(nn_tensor *t, const nn_init *init, const char *name, size_t fan_in,
                      size_t fan_out, nn_rng *rng)
{
    nn_status st = NN_OK;
    /* fan_in + fan_out in double, as max_magnitude checked it: in size_t the sum wraps
     * (SIZE_MAX and 2 gave 1, a bound of sqrt(6) for one of 6e-10; SIZE_MAX and 1 gave
     * 0, "needs a non-zero fan") */
    const double fans = (double)fan_in + (double)fan_out, in = (double)fan_in;
    switch (init->kind) {
    case NN_INIT_ZEROS:
        return nn_tensor_fill(t, 0.0f);
    case NN_INIT_CONSTANT:
        return nn_tensor_fill(t, (float)init->a);
    case NN_INIT_UNIFORM: /* low < high: nn_init_check */
        fill_uniform(t, init->a, init->b, rng);
        return NN_OK;
    case NN_INIT_NORMAL: /* std >= 0: nn_init_check */
        fill_normal(t, init->a, init->b, rng);
        return NN_OK;
    case NN_INIT_XAVIER_UNIFORM:
        if ((st = need_fan(name, fans)) != NN_OK)
            return st;
        { /* Glorot & Bengio 2010, eq. 16, with torch's gain factor */
            double r = init->a * sqrt(6.0 / fans);
            fill_uniform(t, -r, r, rng);
        }
        return NN_OK;
    case NN_INIT_XAVIER_NORMAL:
        if ((st = need_fan(name, fans)) != NN_OK)
            return st;
        fill_normal(t, 0.0, init->a * sqrt(2.0 / fans), rng);
        return NN_OK;
    case NN_INIT_KAIMING_UNIFORM:
        if ((st = need_fan(name, in)) != NN_OK)
            return st;
        { /* He et al. 2015: std = gain / sqrt(fan_in); a uniform of that std has bound sqrt(3) std */
            double r = init->a * sqrt(3.0 / in);
            fill_uniform(t, -r, r, rng);
        }
        return NN_OK;
    case NN_INIT_KAIMING_NORMAL:
        if ((st = need_fan(name, in)) != NN_OK)
            return st;
        fill_normal(t, 0.0, init->a / sqrt(in), rng);
        return NN_OK;
    case NN_INIT_TORCH_LINEAR:
        if ((st = need_fan(name, in)) != NN_OK)
            return st;
        { /* torch.nn.Linear.reset_parameters: kaiming_uniform(a = sqrt(5)) on the weight
             reduces to this bound, and the bias uses the same one. */
            double r = 1.0 / sqrt(in);
            fill_uniform(t, -r, r, rng);
        }
        return NN_OK;
    }
    return NN_OK;
}

nn_status nn_init_check(const char *fn, const nn_init *init)
{
    const char *name = nn_init_name(init->kind);
    if (name == NULL)
        return nn_error(NN_ERR_INVALID_ARG, "%s: unknown initialiser kind %d", fn, (int)init->kind);
    if (!isfinite(init->a) || !isfinite(init->b))
        return nn_error(NN_ERR_INVALID_ARG, "%s: '%s' has a non-finite parameter", fn, name);
    return NN_OK;
}

nn_status nn_init_check_fill(const char *fn, const nn_init *init, size_t fan_in,
                             size_t fan_out)
{
    nn_status st = nn_init_check(fn, init);
    if (st != NN_OK)
        return st;
    const char *name = nn_init_name(init->kind);
    switch (init->kind) {
    case NN_INIT_UNIFORM:
        if (!(init->b > init->a))
            return nn_error(NN_ERR_INVALID_ARG, "%s: uniform needs low < high, got [%g, %g)", fn,
                            init->a, init->b);
        break;
    case NN_INIT_NORMAL:
        if (init->b < 0.0)
            return nn_error(NN_ERR_INVALID_ARG, "%s: normal std %g is negative", fn, init->b);
        break;
    case NN_INIT_XAVIER_UNIFORM:
    case NN_INIT_XAVIER_NORMAL:
    case NN_INIT_KAIMING_UNIFORM:
    case NN_INIT_KAIMING_NORMAL:
        /* a negative gain is a negative std, or a uniform's bounds the wrong way round
         * (torch refuses both) */
        if (init->a < 0.0)
            return nn_error(NN_ERR_INVALID_ARG, "%s: %s gain %g is negative", fn, name, init->a);
        break;
    default:
        break;
    }
    /* Every value it can draw must be a float: checked from its bound, before anything
     * is drawn and whatever the rng's state (so a spec that built once builds with any
     * seed). */
    double bound = max_magnitude(init, fan_in, fan_out);
    if (!(bound < NN_FLOAT_LIMIT))
        return nn_error(NN_ERR_INVALID_ARG,
                        "%s: '%s' can draw values up to %g, beyond float's range", fn, name, bound);
    return NN_OK;
}

nn_status nn_init_fill(nn_tensor *t, const nn_init *init, size_t fan_in, size_t fan_out,
                       nn_rng *rng)
{
    NN_CHECK_NULL(t);
    NN_CHECK_NULL(init);
    nn_status st = nn_init_check_fill("nn_init_fill", init, fan_in, fan_out);
    if (st != NN_OK)
        return st;
    const char *name = nn_init_name(init->kind);
    if (init->kind != NN_INIT_ZEROS && init->kind != NN_INIT_CONSTANT)
        NN_CHECK_NULL(rng);
    return draw(t, init, name, fan_in, fan_out, rng);
}
