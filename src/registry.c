/* registry.c - the built-in layer, loss and optimizer classes, and registries of
 * user classes next to them. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "nn/activation.h"
#include "nn/dense.h"
#include "nn/dropout.h"
#include "nn/init.h"
#include "nn/registry.h"

/* ---- dense --------------------------------------------------------------------------- */

/* Reads an initialiser from three settings: the kind's name (its parameters then
 * start from nn_init_from_name's defaults) and the two numbers a and b. */
static nn_status read_init(const nn_settings *s, const char *kind_key, const char *a_key,
                           const char *b_key, nn_init *init)
{
    const char *name = NULL;
    nn_status st = nn_settings_get_string(s, kind_key, &name);
    if (st == NN_OK && name != NULL && (st = nn_init_from_name(name, init)) != NN_OK)
        return nn_error(st, "dense: setting '%s' names no initialiser: '%s'", kind_key, name);
    if (st == NN_OK)
        st = nn_settings_get_float(s, a_key, &init->a);
    if (st == NN_OK)
        st = nn_settings_get_float(s, b_key, &init->b);
    if (st == NN_OK && (!isfinite(init->a) || !isfinite(init->b)))
        return nn_error(NN_ERR_INVALID_ARG,
                        "dense: initialiser numbers %s = %g and %s = %g must be finite", a_key,
                        init->a, b_key, init->b);
    return st;
}

static nn_status dense_create(const nn_layer_class *cls, const nn_settings *s, nn_layer **out)
{
    static const char *const known[] = {"units",       "init",     "init_a",   "init_b",
                                        "weight_init", "weight_a", "weight_b", "bias_init",
                                        "bias_a",      "bias_b",   NULL};
    (void)cls;
    nn_status st = nn_settings_check_keys(s, "dense", known);
    if (st != NN_OK)
        return st;
    if (nn_settings_find(s, "units") == NN_VALUE_NONE)
        return nn_error(NN_ERR_INVALID_ARG,
                        "dense: setting 'units' (the output width) is required");
    size_t units = 0;
    int64_t signed_units = 1;
    /* A negative width is said as such: the size getter's "an integer >= 0" read as
     * if 0 were allowed. */
    if (nn_settings_find(s, "units") == NN_VALUE_INT &&
        nn_settings_get_int(s, "units", &signed_units) == NN_OK && signed_units < 1)
        return nn_error(NN_ERR_INVALID_ARG, "dense: setting 'units' is %lld, expected a width >= 1",
                        (long long)signed_units);
    if ((st = nn_settings_get_size(s, "units", &units)) != NN_OK)
        return st;
    nn_dense_params p = nn_dense_default_params(units);
    /* "init" sets both; weight_* and bias_* then refine each. */
    if ((st = read_init(s, "init", "init_a", "init_b", &p.weight_init)) != NN_OK)
        return st;
    p.bias_init = p.weight_init;
    if ((st = read_init(s, "weight_init", "weight_a", "weight_b", &p.weight_init)) != NN_OK ||
        (st = read_init(s, "bias_init", "bias_a", "bias_b", &p.bias_init)) != NN_OK)
        return st;
    return nn_dense_new(&p, out);
}

static int same_init(const nn_init *a, const nn_init *b)
{
    return a->kind == b->kind && memcmp(&a->a, &b->a, sizeof a->a) == 0 &&
           memcmp(&a->b, &b->b, sizeof a->b) == 0;
}

static nn_status put_init(nn_settings *s, const char *kind_key, const char *a_key,
                          const char *b_key, const nn_init *init)
{
    nn_status st = nn_settings_set_string(s, kind_key, nn_init_name(init->kind));
    if (st == NN_OK)
        st = nn_settings_set_float(s, a_key, init->a);
    if (st == NN_OK)
        st = nn_settings_set_float(s, b_key, init->b);
    return st;
}

static nn_status dense_describe(const nn_layer_class *cls, const nn_layer *l, nn_settings *s)
{
    (void)cls;
    nn_dense_params p;
    nn_status st = nn_dense_get_params(l, &p);
    if (st == NN_OK)
        st = nn_settings_set_uint(s, "units", p.units);
    if (st != NN_OK)
        return st;
    /* One initialiser for both reads best in a spec: "dense 2 init=normal". */
    if (same_init(&p.weight_init, &p.bias_init))
        return put_init(s, "init", "init_a", "init_b", &p.weight_init);
    st = put_init(s, "weight_init", "weight_a", "weight_b", &p.weight_init);
    if (st == NN_OK)
        st = put_init(s, "bias_init", "bias_a", "bias_b", &p.bias_init);
    return st;
}

/* ---- activations -------------------------------------------------------------------- */

/* The setting names of an activation kind's parameters (torch's), NULL where it has none. */
static void act_keys(nn_activation_kind kind, const char **k1, const char **k2)
{
    *k1 = *k2 = NULL;
    switch (kind) {
    case NN_ACT_LEAKY_RELU:
        *k1 = "negative_slope";
        break;
    case NN_ACT_ELU:
        *k1 = "alpha";
        break;
    case NN_ACT_SOFTPLUS:
        *k1 = "beta";
        *k2 = "threshold";
        break;
    case NN_ACT_IDENTITY:
    case NN_ACT_SIGMOID:
    case NN_ACT_RELU:
    case NN_ACT_TANH:
    case NN_ACT_GELU:
    case NN_ACT_GELU_TANH:
    case NN_ACT_SILU:
    case NN_ACT_SOFTMAX:
    case NN_ACT_LOG_SOFTMAX:
        break;
    }
}

static nn_status act_create(const nn_layer_class *cls, const nn_settings *s, nn_layer **out)
{
    nn_activation_kind kind;
    nn_status st = nn_activation_kind_from_name(cls->name, &kind);
    if (st != NN_OK)
        return st;
    const char *k1, *k2;
    act_keys(kind, &k1, &k2);
    const char *known[] = {k1, k2, NULL};
    if ((st = nn_settings_check_keys(s, cls->name, known)) != NN_OK)
        return st;
    double v1 = 0.0, v2 = 0.0;
    switch (kind) {
    case NN_ACT_LEAKY_RELU:
        v1 = NN_ACT_LEAKY_RELU_DEFAULT_SLOPE;
        break;
    case NN_ACT_ELU:
        v1 = NN_ACT_ELU_DEFAULT_ALPHA;
        break;
    case NN_ACT_SOFTPLUS:
        v1 = NN_ACT_SOFTPLUS_DEFAULT_BETA;
        v2 = NN_ACT_SOFTPLUS_DEFAULT_THRESHOLD;
        break;
    case NN_ACT_IDENTITY:
    case NN_ACT_SIGMOID:
    case NN_ACT_RELU:
    case NN_ACT_TANH:
    case NN_ACT_GELU:
    case NN_ACT_GELU_TANH:
    case NN_ACT_SILU:
    case NN_ACT_SOFTMAX:
    case NN_ACT_LOG_SOFTMAX:
        return nn_activation_new(kind, out);
    }
    if ((st = nn_settings_get_float(s, k1, &v1)) != NN_OK)
        return st;
    if (k2 != NULL) {
        if ((st = nn_settings_get_float(s, k2, &v2)) != NN_OK)
            return st;
        return nn_softplus_new(v1, v2, out);
    }
    return nn_activation_new_param(kind, v1, out);
}

static nn_status act_describe(const nn_layer_class *cls, const nn_layer *l, nn_settings *s)
{
    nn_activation_kind kind;
    double v1, v2;
    nn_status st = nn_activation_get(l, &kind, &v1, &v2);
    if (st != NN_OK)
        return st;
    if (strcmp(nn_activation_name(kind), cls->name) != 0)
        return nn_error(NN_ERR_INVALID_ARG, "%s: the layer is a '%s'", cls->name,
                        nn_activation_name(kind));
    const char *k1, *k2;
    act_keys(kind, &k1, &k2);
    if (k1 != NULL && (st = nn_settings_set_float(s, k1, v1)) != NN_OK)
        return st;
    if (k2 != NULL && (st = nn_settings_set_float(s, k2, v2)) != NN_OK)
        return st;
    return NN_OK;
}

/* ---- dropout ------------------------------------------------------------------------- */

static nn_status dropout_create(const nn_layer_class *cls, const nn_settings *s, nn_layer **out)
{
    static const char *const known[] = {"p", "seed", "rng_state", "rng_inc", NULL};
    (void)cls;
    nn_status st = nn_settings_check_keys(s, "dropout", known);
    double p = 0.5; /* torch.nn.Dropout's default */
    uint64_t seed = 0;
    if (st == NN_OK)
        st = nn_settings_get_float(s, "p", &p);
    if (st == NN_OK)
        st = nn_settings_get_uint(s, "seed", &seed);
    if (st != NN_OK)
        return st;
    int has_state = nn_settings_find(s, "rng_state") != NN_VALUE_NONE;
    int has_inc = nn_settings_find(s, "rng_inc") != NN_VALUE_NONE;
    if (has_state != has_inc)
        return nn_error(NN_ERR_INVALID_ARG, "dropout: rng_state and rng_inc go together");
    nn_rng rng = {0, 0};
    if (has_state && ((st = nn_settings_get_uint(s, "rng_state", &rng.state)) != NN_OK ||
                      (st = nn_settings_get_uint(s, "rng_inc", &rng.inc)) != NN_OK))
        return st;
    nn_layer *l;
    if ((st = nn_dropout_new(p, seed, &l)) != NN_OK)
        return st;
    if (has_state && (st = nn_dropout_set_rng(l, &rng)) != NN_OK) {
        nn_layer_free(l);
        return st;
    }
    *out = l;
    return NN_OK;
}

static nn_status dropout_describe(const nn_layer_class *cls, const nn_layer *l, nn_settings *s)
{
    (void)cls;
    double p;
    uint64_t seed;
    nn_rng rng, fresh;
    nn_status st = nn_dropout_get(l, &p, &seed, &rng);
    if (st == NN_OK)
        st = nn_settings_set_float(s, "p", p);
    if (st == NN_OK)
        st = nn_settings_set_uint(s, "seed", seed);
    if (st != NN_OK)
        return st;
    /* The generator only when training has moved it: an untrained layer reads as
     * "dropout 0.5 seed=1", and a trained one resumes with the masks it would draw next. */
    nn_rng_seed(&fresh, seed, 0);
    if (rng.state != fresh.state || rng.inc != fresh.inc) {
        st = nn_settings_set_uint(s, "rng_state", rng.state);
        if (st == NN_OK)
            st = nn_settings_set_uint(s, "rng_inc", rng.inc);
    }
    return st;
}

/* ---- losses ---------------------------------------------------------------------------- */

static const char *reduction_name(nn_reduction r)
{
    switch (r) {
    case NN_REDUCTION_MEAN:
        return "mean";
    case NN_REDUCTION_SUM:
        return "sum";
    }
    return NULL;
}

/* The name of the parameter of a built-in loss kind, NULL for none. */
static const char *loss_param_key(nn_loss_kind kind)
{
    switch (kind) {
    case NN_LOSS_HUBER:
        return "delta";
    case NN_LOSS_SMOOTH_L1:
        return "beta";
    case NN_LOSS_MSE:
    case NN_LOSS_MAE:
    case NN_LOSS_BCE:
    case NN_LOSS_BCE_LOGITS:
    case NN_LOSS_CROSS_ENTROPY:
    case NN_LOSS_NLL:
        break;
    }
    return NULL;
}

static nn_status loss_create(const nn_loss_class *cls, const nn_settings *s, nn_loss **out)
{
    nn_loss_kind kind;
    nn_status st = nn_loss_kind_from_name(cls->name, &kind);
    if (st != NN_OK)
        return st;
    const char *pkey = loss_param_key(kind);
    const char *known[] = {"reduction", pkey, NULL};
    if ((st = nn_settings_check_keys(s, cls->name, known)) != NN_OK)
        return st;
    const char *red = "mean";
    if ((st = nn_settings_get_string(s, "reduction", &red)) != NN_OK)
        return st;
    nn_reduction reduction;
    if (strcmp(red, "mean") == 0)
        reduction = NN_REDUCTION_MEAN;
    else if (strcmp(red, "sum") == 0)
        reduction = NN_REDUCTION_SUM;
    else
        return nn_error(NN_ERR_INVALID_ARG, "%s: reduction '%s' is not 'mean' or 'sum'", cls->name,
                        red);
    nn_loss *loss;
    if (pkey != NULL) {
        double v = 1.0; /* NN_LOSS_HUBER_DEFAULT_DELTA and NN_LOSS_SMOOTH_L1_DEFAULT_BETA */
        if ((st = nn_settings_get_float(s, pkey, &v)) != NN_OK)
            return st;
        st = kind == NN_LOSS_HUBER ? nn_loss_huber_new(v, &loss) : nn_loss_smooth_l1_new(v, &loss);
    } else {
        st = nn_loss_new_by_kind(kind, &loss);
    }
    if (st != NN_OK)
        return st;
    loss->reduction = reduction;
    *out = loss;
    return NN_OK;
}

static nn_status loss_describe(const nn_loss_class *cls, const nn_loss *loss, nn_settings *s)
{
    nn_loss_kind kind;
    nn_status st = nn_loss_get_kind(loss, &kind);
    if (st != NN_OK)
        return st;
    if (strcmp(nn_loss_kind_name(kind), cls->name) != 0)
        return nn_error(NN_ERR_INVALID_ARG, "%s: the loss is a '%s'", cls->name,
                        nn_loss_kind_name(kind));
    const char *red = reduction_name(loss->reduction);
    if (red == NULL)
        return nn_error(NN_ERR_INVALID_ARG, "%s: unknown reduction %d", cls->name,
                        (int)loss->reduction);
    st = nn_settings_set_string(s, "reduction", red);
    const char *pkey = loss_param_key(kind);
    if (st == NN_OK && pkey != NULL) {
        double v;
        st = nn_loss_get_param(loss, &v);
        if (st == NN_OK)
            st = nn_settings_set_float(s, pkey, v);
    }
    return st;
}

/* ---- optimizers ------------------------------------------------------------------------ */

static nn_status optim_create(const nn_optim_class *cls, const nn_settings *s, nn_optim **out)
{
    nn_optim_kind kind;
    nn_status st = nn_optim_kind_from_name(cls->name, &kind);
    if (st != NN_OK)
        return st;
    switch (kind) {
    case NN_OPTIM_SGD: {
        static const char *const known[] = {"lr",           "momentum", "dampening",
                                            "weight_decay", "nesterov", NULL};
        nn_sgd_params p = nn_sgd_default_params();
        if ((st = nn_settings_check_keys(s, cls->name, known)) != NN_OK ||
            (st = nn_settings_get_float(s, "lr", &p.lr)) != NN_OK ||
            (st = nn_settings_get_float(s, "momentum", &p.momentum)) != NN_OK ||
            (st = nn_settings_get_float(s, "dampening", &p.dampening)) != NN_OK ||
            (st = nn_settings_get_float(s, "weight_decay", &p.weight_decay)) != NN_OK ||
            (st = nn_settings_get_bool(s, "nesterov", &p.nesterov)) != NN_OK)
            return st;
        return nn_optim_sgd_new_ex(&p, out);
    }
    case NN_OPTIM_ADAM:
    case NN_OPTIM_ADAMW: {
        static const char *const known[] = {"lr",           "beta1",   "beta2", "eps",
                                            "weight_decay", "amsgrad", NULL};
        nn_adam_params p =
            kind == NN_OPTIM_ADAM ? nn_adam_default_params() : nn_adamw_default_params();
        if ((st = nn_settings_check_keys(s, cls->name, known)) != NN_OK ||
            (st = nn_settings_get_float(s, "lr", &p.lr)) != NN_OK ||
            (st = nn_settings_get_float(s, "beta1", &p.betas[0])) != NN_OK ||
            (st = nn_settings_get_float(s, "beta2", &p.betas[1])) != NN_OK ||
            (st = nn_settings_get_float(s, "eps", &p.eps)) != NN_OK ||
            (st = nn_settings_get_float(s, "weight_decay", &p.weight_decay)) != NN_OK ||
            (st = nn_settings_get_bool(s, "amsgrad", &p.amsgrad)) != NN_OK)
            return st;
        return kind == NN_OPTIM_ADAM ? nn_optim_adam_new_ex(&p, out)
                                     : nn_optim_adamw_new_ex(&p, out);
    }
    case NN_OPTIM_RMSPROP: {
        static const char *const known[] = {"lr",       "alpha",    "eps", "weight_decay",
                                            "momentum", "centered", NULL};
        nn_rmsprop_params p = nn_rmsprop_default_params();
        if ((st = nn_settings_check_keys(s, cls->name, known)) != NN_OK ||
            (st = nn_settings_get_float(s, "lr", &p.lr)) != NN_OK ||
            (st = nn_settings_get_float(s, "alpha", &p.alpha)) != NN_OK ||
            (st = nn_settings_get_float(s, "eps", &p.eps)) != NN_OK ||
            (st = nn_settings_get_float(s, "weight_decay", &p.weight_decay)) != NN_OK ||
            (st = nn_settings_get_float(s, "momentum", &p.momentum)) != NN_OK ||
            (st = nn_settings_get_bool(s, "centered", &p.centered)) != NN_OK)
            return st;
        return nn_optim_rmsprop_new_ex(&p, out);
    }
    case NN_OPTIM_ADAGRAD: {
        static const char *const known[] = {
            "lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps", NULL};
        nn_adagrad_params p = nn_adagrad_default_params();
        if ((st = nn_settings_check_keys(s, cls->name, known)) != NN_OK ||
            (st = nn_settings_get_float(s, "lr", &p.lr)) != NN_OK ||
            (st = nn_settings_get_float(s, "lr_decay", &p.lr_decay)) != NN_OK ||
            (st = nn_settings_get_float(s, "weight_decay", &p.weight_decay)) != NN_OK ||
            (st = nn_settings_get_float(s, "initial_accumulator_value",
                                        &p.initial_accumulator_value)) != NN_OK ||
            (st = nn_settings_get_float(s, "eps", &p.eps)) != NN_OK)
            return st;
        return nn_optim_adagrad_new_ex(&p, out);
    }
    }
    return nn_error(NN_ERR_INVALID_ARG, "%s: unknown optimizer kind", cls->name);
}

static nn_status optim_describe(const nn_optim_class *cls, const nn_optim *o, nn_settings *s)
{
    nn_optim_kind kind;
    nn_status st = nn_optim_get_kind(o, &kind);
    if (st != NN_OK)
        return st;
    if (strcmp(nn_optim_kind_name(kind), cls->name) != 0)
        return nn_error(NN_ERR_INVALID_ARG, "%s: the optimizer is a '%s'", cls->name,
                        nn_optim_kind_name(kind));
    /* The rate in use, which a schedule or nn_optim_set_lr may have changed. */
    if ((st = nn_settings_set_float(s, "lr", o->lr)) != NN_OK)
        return st;
    switch (kind) {
    case NN_OPTIM_SGD: {
        nn_sgd_params p;
        if ((st = nn_optim_get_sgd_params(o, &p)) != NN_OK ||
            (st = nn_settings_set_float(s, "momentum", p.momentum)) != NN_OK ||
            (st = nn_settings_set_float(s, "dampening", p.dampening)) != NN_OK ||
            (st = nn_settings_set_float(s, "weight_decay", p.weight_decay)) != NN_OK)
            return st;
        return nn_settings_set_bool(s, "nesterov", p.nesterov);
    }
    case NN_OPTIM_ADAM:
    case NN_OPTIM_ADAMW: {
        nn_adam_params p;
        if ((st = nn_optim_get_adam_params(o, &p)) != NN_OK ||
            (st = nn_settings_set_float(s, "beta1", p.betas[0])) != NN_OK ||
            (st = nn_settings_set_float(s, "beta2", p.betas[1])) != NN_OK ||
            (st = nn_settings_set_float(s, "eps", p.eps)) != NN_OK ||
            (st = nn_settings_set_float(s, "weight_decay", p.weight_decay)) != NN_OK)
            return st;
        return nn_settings_set_bool(s, "amsgrad", p.amsgrad);
    }
    case NN_OPTIM_RMSPROP: {
        nn_rmsprop_params p;
        if ((st = nn_optim_get_rmsprop_params(o, &p)) != NN_OK ||
            (st = nn_settings_set_float(s, "alpha", p.alpha)) != NN_OK ||
            (st = nn_settings_set_float(s, "eps", p.eps)) != NN_OK ||
            (st = nn_settings_set_float(s, "weight_decay", p.weight_decay)) != NN_OK ||
            (st = nn_settings_set_float(s, "momentum", p.momentum)) != NN_OK)
            return st;
        return nn_settings_set_bool(s, "centered", p.centered);
    }
    case NN_OPTIM_ADAGRAD: {
        nn_adagrad_params p;
        if ((st = nn_optim_get_adagrad_params(o, &p)) != NN_OK ||
            (st = nn_settings_set_float(s, "lr_decay", p.lr_decay)) != NN_OK ||
            (st = nn_settings_set_float(s, "weight_decay", p.weight_decay)) != NN_OK ||
            (st = nn_settings_set_float(s, "initial_accumulator_value",
                                        p.initial_accumulator_value)) != NN_OK)
            return st;
        return nn_settings_set_float(s, "eps", p.eps);
    }
    }
    return nn_error(NN_ERR_INVALID_ARG, "%s: unknown optimizer kind", cls->name);
}

/* torch's state['step']. */
static nn_status optim_get_state(const nn_optim_class *cls, const nn_optim *o, nn_settings *s)
{
    (void)cls;
    uint64_t t;
    nn_status st = nn_optim_get_state_step(o, &t);
    if (st == NN_OK)
        st = nn_settings_set_uint(s, "step", t);
    return st;
}

static nn_status optim_set_state(const nn_optim_class *cls, nn_optim *o, const nn_settings *s)
{
    static const char *const known[] = {"step", NULL};
    uint64_t t = 0;
    nn_status st = nn_settings_check_keys(s, cls->name, known);
    if (st == NN_OK)
        st = nn_settings_get_uint(s, "step", &t);
    if (st == NN_OK)
        st = nn_optim_set_state_step(o, t);
    return st;
}

/* ---- the built-in tables -------------------------------------------------------------- */

#define ACT(NAME, POS)                                                                             \
    {                                                                                              \
#NAME, POS, act_create, act_describe, NULL                                                 \
    }

static const nn_layer_class builtin_layers[] = {
    {"dense", "units", dense_create, dense_describe, NULL},
    {"dropout", "p", dropout_create, dropout_describe, NULL},
    ACT(identity, NULL),
    ACT(sigmoid, NULL),
    ACT(relu, NULL),
    ACT(leaky_relu, "negative_slope"),
    ACT(elu, "alpha"),
    ACT(tanh, NULL),
    ACT(softplus, "beta"),
    ACT(gelu, NULL),
    ACT(gelu_tanh, NULL),
    ACT(silu, NULL),
    ACT(softmax, NULL),
    ACT(log_softmax, NULL),
};

#define LOSS(NAME)                                                                                 \
    {                                                                                              \
#NAME, loss_create, loss_describe, NULL                                                    \
    }

static const nn_loss_class builtin_losses[] = {
    LOSS(mse), LOSS(mae),        LOSS(huber),         LOSS(smooth_l1),
    LOSS(bce), LOSS(bce_logits), LOSS(cross_entropy), LOSS(nll),
};

static const char *const sgd_state[] = {"momentum_buffer", NULL};
static const char *const adam_state[] = {"exp_avg", "exp_avg_sq", "max_exp_avg_sq", NULL};
static const char *const rmsprop_state[] = {"square_avg", "momentum_buffer", "grad_avg", NULL};
static const char *const adagrad_state[] = {"sum", NULL};

#define OPTIM(NAME, STATE)                                                                         \
    {                                                                                              \
#NAME, optim_create, optim_describe, STATE, optim_get_state, optim_set_state, NULL         \
    }

static const nn_optim_class builtin_optims[] = {
    OPTIM(sgd, sgd_state),         OPTIM(adam, adam_state),       OPTIM(adamw, adam_state),
    OPTIM(rmsprop, rmsprop_state), OPTIM(adagrad, adagrad_state),
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* ---- registries ----------------------------------------------------------------------------- */

/* The user's classes of one family, in the order added. */
typedef struct family {
    const void **items;
    size_t n, cap;
} family;

struct nn_registry {
    family layers, losses, optims;
};

nn_status nn_registry_new(nn_registry **out)
{
    NN_CHECK_NULL(out);
    *out = nn_xcalloc(1, sizeof **out);
    if (*out == NULL)
        return nn_error(NN_ERR_NOMEM, "nn_registry_new: out of memory");
    return NN_OK;
}

void nn_registry_free(nn_registry *r)
{
    if (r == NULL)
        return;
    nn_xfree(r->layers.items);
    nn_xfree(r->losses.items);
    nn_xfree(r->optims.items);
    nn_xfree(r);
}

const nn_layer_class *nn_registry_layer(const nn_registry *r, const char *name)
{
    if (name == NULL)
        return NULL;
    for (size_t i = 0; i < COUNT(builtin_layers); i++)
        if (strcmp(builtin_layers[i].name, name) == 0)
            return &builtin_layers[i];
    for (size_t i = 0; r != NULL && i < r->layers.n; i++) {
        const nn_layer_class *c = r->layers.items[i];
        if (strcmp(c->name, name) == 0)
            return c;
    }
    return NULL;
}

const nn_loss_class *nn_registry_loss(const nn_registry *r, const char *name)
{
    if (name == NULL)
        return NULL;
    for (size_t i = 0; i < COUNT(builtin_losses); i++)
        if (strcmp(builtin_losses[i].name, name) == 0)
            return &builtin_losses[i];
    for (size_t i = 0; r != NULL && i < r->losses.n; i++) {
        const nn_loss_class *c = r->losses.items[i];
        if (strcmp(c->name, name) == 0)
            return c;
    }
    return NULL;
}

const nn_optim_class *nn_registry_optim(const nn_registry *r, const char *name)
{
    if (name == NULL)
        return NULL;
    for (size_t i = 0; i < COUNT(builtin_optims); i++)
        if (strcmp(builtin_optims[i].name, name) == 0)
            return &builtin_optims[i];
    for (size_t i = 0; r != NULL && i < r->optims.n; i++) {
        const nn_optim_class *c = r->optims.items[i];
        if (strcmp(c->name, name) == 0)
            return c;
    }
    return NULL;
}

/* Words a spec line may start with besides layer kinds (spec.c reads them). */
static const char *const reserved[] = {
    "input", "loss",     "optimizer",      "epochs",   "batch",        "batch_size", "shuffle",
    "seed",  "schedule", "clip_grad_norm", "patience", "restore_best", NULL};

static nn_status check_class_name(const char *fn, const char *name, int taken)
{
    size_t len = strlen(name);
    int ok = len >= 1 && len <= 63 && name[0] >= 'a' && name[0] <= 'z';
    for (size_t i = 0; ok && i < len; i++)
        ok = (name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9') ||
             name[i] == '_';
    if (!ok)
        return nn_error(NN_ERR_INVALID_ARG,
                        "%s: name '%.80s' is not 1 to 63 lower-case letters, digits or '_' "
                        "starting with a letter",
                        fn, name);
    for (size_t i = 0; reserved[i] != NULL; i++)
        if (strcmp(reserved[i], name) == 0)
            return nn_error(NN_ERR_INVALID_ARG, "%s: '%s' is a spec keyword", fn, name);
    if (taken)
        return nn_error(NN_ERR_INVALID_ARG, "%s: a class called '%s' is already registered", fn,
                        name);
    return NN_OK;
}

static nn_status family_add(const char *fn, family *f, const void *cls)
{
    if (f->n == f->cap) {
        size_t cap = f->cap ? 2 * f->cap : 4;
        const void **items = nn_xcalloc(cap, sizeof *items);
        if (items == NULL)
            return nn_error(NN_ERR_NOMEM, "%s: out of memory", fn);
        if (f->n > 0)
            memcpy(items, f->items, f->n * sizeof *items);
        nn_xfree(f->items);
        f->items = items;
        f->cap = cap;
    }
    f->items[f->n++] = cls;
    return NN_OK;
}

nn_status nn_registry_add_layer(nn_registry *r, const nn_layer_class *cls)
{
    NN_CHECK_NULL(r);
    NN_CHECK_NULL(cls);
    NN_CHECK_NULL(cls->name);
    NN_CHECK_NULL(cls->create);
    NN_CHECK_NULL(cls->describe);
    nn_status st = check_class_name(__func__, cls->name, nn_registry_layer(r, cls->name) != NULL);
    if (st == NN_OK)
        st = family_add(__func__, &r->layers, cls);
    return st;
}

nn_status nn_registry_add_loss(nn_registry *r, const nn_loss_class *cls)
{
    NN_CHECK_NULL(r);
    NN_CHECK_NULL(cls);
    NN_CHECK_NULL(cls->name);
    NN_CHECK_NULL(cls->create);
    NN_CHECK_NULL(cls->describe);
    nn_status st = check_class_name(__func__, cls->name, nn_registry_loss(r, cls->name) != NULL);
    if (st == NN_OK)
        st = family_add(__func__, &r->losses, cls);
    return st;
}

nn_status nn_registry_add_optim(nn_registry *r, const nn_optim_class *cls)
{
    NN_CHECK_NULL(r);
    NN_CHECK_NULL(cls);
    NN_CHECK_NULL(cls->name);
    NN_CHECK_NULL(cls->create);
    NN_CHECK_NULL(cls->describe);
    nn_status st = check_class_name(__func__, cls->name, nn_registry_optim(r, cls->name) != NULL);
    if (st != NN_OK)
        return st;
    /* What nn_model_load would refuse in the files of this class: nn_model_save would
     * write them all the same (a scalar state it cannot set back, a name it cannot read). */
    if (cls->get_state != NULL && cls->set_state == NULL)
        return nn_error(NN_ERR_INVALID_ARG,
                        "%s: class '%s' has get_state but no set_state: the scalar state it "
                        "saves could not be loaded back",
                        __func__, cls->name);
    size_t n = 0;
    for (; cls->state_names != NULL && cls->state_names[n] != NULL; n++) {
        size_t len = strlen(cls->state_names[n]);
        if (len == 0 || len > NN_READER_MAX_STATE_NAME)
            return nn_error(NN_ERR_INVALID_ARG,
                            "%s: class '%s': state name %zu ('%.40s') is empty or longer than "
                            "%u bytes",
                            __func__, cls->name, n, cls->state_names[n], NN_READER_MAX_STATE_NAME);
        for (size_t j = 0; j < n; j++)
            if (strcmp(cls->state_names[j], cls->state_names[n]) == 0)
                return nn_error(NN_ERR_INVALID_ARG, "%s: class '%s': state name '%s' is listed twice",
                                __func__, cls->name, cls->state_names[n]);
    }
    if (n > NN_READER_MAX_STATE_NAMES)
        return nn_error(NN_ERR_INVALID_ARG, "%s: class '%s' lists %zu state names, more than %u",
                        __func__, cls->name, n, NN_READER_MAX_STATE_NAMES);
    return family_add(__func__, &r->optims, cls);
}

/* "a, b, c" of a family's names (built-in, then the user's), for messages. */
static void list_names(char *buf, size_t size, const char *const *builtin_names, size_t n_builtin,
                       const family *user, size_t name_offset)
{
    size_t len = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n_builtin + (user ? user->n : 0) && len < size; i++) {
        const char *name =
            i < n_builtin
                ? builtin_names[i]
                : *(const char *const *)((const char *)user->items[i - n_builtin] + name_offset);
        int w = snprintf(buf + len, size - len, "%s%s", i ? ", " : "", name);
        len += w > 0 ? (size_t)w : 0;
    }
}

static nn_status unknown(const char *fn, const char *what, const char *name, const nn_registry *r,
                         int family_id)
{
    const char *names[COUNT(builtin_layers)];
    size_t n = 0;
    const family *user = NULL;
    size_t offset = 0;
    if (family_id == 0) {
        for (size_t i = 0; i < COUNT(builtin_layers); i++)
            names[n++] = builtin_layers[i].name;
        user = r ? &r->layers : NULL;
        offset = offsetof(nn_layer_class, name);
    } else if (family_id == 1) {
        for (size_t i = 0; i < COUNT(builtin_losses); i++)
            names[n++] = builtin_losses[i].name;
        user = r ? &r->losses : NULL;
        offset = offsetof(nn_loss_class, name);
    } else {
        for (size_t i = 0; i < COUNT(builtin_optims); i++)
            names[n++] = builtin_optims[i].name;
        user = r ? &r->optims : NULL;
        offset = offsetof(nn_optim_class, name);
    }
    char list[512];
    list_names(list, sizeof list, names, n, user, offset);
    return nn_error(NN_ERR_INVALID_ARG, "%s: unknown %s '%s' (known: %s)", fn, what, name, list);
}

nn_status nn_registry_create_layer(const nn_registry *r, const char *name,
                                   const nn_settings *settings, nn_layer **out)
{
    NN_CHECK_NULL(out);
    *out = NULL;
    NN_CHECK_NULL(name);
    const nn_layer_class *c = nn_registry_layer(r, name);
    if (c == NULL)
        return unknown(__func__, "layer kind", name, r, 0);
    nn_settings *empty = NULL;
    nn_status st = NN_OK;
    if (settings == NULL && (st = nn_settings_new(&empty)) != NN_OK)
        return st;
    unsigned long seq = nn_error_seq();
    st = nn_error_if_silent(c->create(c, settings ? settings : empty, out), seq,
                            "nn_registry_create_layer: class '%s' failed", name);
    nn_settings_free(empty);
    /* Saving finds the class by the object's ops->name: they must agree. */
    if (st == NN_OK && (*out == NULL || strcmp((*out)->ops->name, name) != 0))
        st = nn_error(NN_ERR_INVALID_ARG, "nn_registry_create_layer: class '%s' made a '%s'", name,
                      *out != NULL ? (*out)->ops->name : "(nothing)");
    if (st != NN_OK) {
        nn_layer_free(*out);
        *out = NULL;
    }
    return st;
}

nn_status nn_registry_create_loss(const nn_registry *r, const char *name,
                                  const nn_settings *settings, nn_loss **out)
{
    NN_CHECK_NULL(out);
    *out = NULL;
    NN_CHECK_NULL(name);
    const nn_loss_class *c = nn_registry_loss(r, name);
    if (c == NULL)
        return unknown(__func__, "loss", name, r, 1);
    nn_settings *empty = NULL;
    nn_status st = NN_OK;
    if (settings == NULL && (st = nn_settings_new(&empty)) != NN_OK)
        return st;
    unsigned long seq = nn_error_seq();
    st = nn_error_if_silent(c->create(c, settings ? settings : empty, out), seq,
                            "nn_registry_create_loss: class '%s' failed", name);
    nn_settings_free(empty);
    /* Saving finds the class by the object's ops->name: they must agree. */
    if (st == NN_OK && (*out == NULL || strcmp((*out)->ops->name, name) != 0))
        st = nn_error(NN_ERR_INVALID_ARG, "nn_registry_create_loss: class '%s' made a '%s'", name,
                      *out != NULL ? (*out)->ops->name : "(nothing)");
    if (st != NN_OK) {
        nn_loss_free(*out);
        *out = NULL;
    }
    return st;
}

nn_status nn_registry_create_optim(const nn_registry *r, const char *name,
                                   const nn_settings *settings, nn_optim **out)
{
    NN_CHECK_NULL(out);
    *out = NULL;
    NN_CHECK_NULL(name);
    const nn_optim_class *c = nn_registry_optim(r, name);
    if (c == NULL)
        return unknown(__func__, "optimizer", name, r, 2);
    nn_settings *empty = NULL;
    nn_status st = NN_OK;
    if (settings == NULL && (st = nn_settings_new(&empty)) != NN_OK)
        return st;
    unsigned long seq = nn_error_seq();
    st = nn_error_if_silent(c->create(c, settings ? settings : empty, out), seq,
                            "nn_registry_create_optim: class '%s' failed", name);
    nn_settings_free(empty);
    /* Saving finds the class by the object's ops->name: they must agree. */
    if (st == NN_OK && (*out == NULL || strcmp((*out)->ops->name, name) != 0))
        st = nn_error(NN_ERR_INVALID_ARG, "nn_registry_create_optim: class '%s' made a '%s'", name,
                      *out != NULL ? (*out)->ops->name : "(nothing)");
    if (st != NN_OK) {
        nn_optim_free(*out);
        *out = NULL;
    }
    return st;
}

nn_status nn_registry_describe_layer(const nn_registry *r, const nn_layer *l, nn_settings *settings)
{
    NN_CHECK_NULL(l);
    NN_CHECK_NULL(settings);
    nn_settings_clear(settings);
    const nn_layer_class *c = nn_registry_layer(r, l->ops->name);
    if (c == NULL)
        return nn_error(NN_ERR_INVALID_ARG,
                        "nn_registry_describe_layer: no class for layer kind '%s' (add one with "
                        "nn_registry_add_layer)",
                        l->ops->name);
    unsigned long seq = nn_error_seq();
    return nn_error_if_silent(c->describe(c, l, settings), seq,
                              "nn_registry_describe_layer: class '%s' failed", c->name);
}

nn_status nn_registry_describe_loss(const nn_registry *r, const nn_loss *loss,
                                    nn_settings *settings)
{
    NN_CHECK_NULL(loss);
    NN_CHECK_NULL(settings);
    nn_settings_clear(settings);
    const nn_loss_class *c = nn_registry_loss(r, loss->ops->name);
    if (c == NULL)
        return nn_error(NN_ERR_INVALID_ARG,
                        "nn_registry_describe_loss: no class for loss '%s' (add one with "
                        "nn_registry_add_loss)",
                        loss->ops->name);
    unsigned long seq = nn_error_seq();
    return nn_error_if_silent(c->describe(c, loss, settings), seq,
                              "nn_registry_describe_loss: class '%s' failed", c->name);
}

nn_status nn_registry_describe_optim(const nn_registry *r, const nn_optim *o, nn_settings *settings)
{
    NN_CHECK_NULL(o);
    NN_CHECK_NULL(settings);
    nn_settings_clear(settings);
    const nn_optim_class *c = nn_registry_optim(r, o->ops->name);
    if (c == NULL)
        return nn_error(NN_ERR_INVALID_ARG,
                        "nn_registry_describe_optim: no class for optimizer '%s' (add one with "
                        "nn_registry_add_optim)",
                        o->ops->name);
    unsigned long seq = nn_error_seq();
    return nn_error_if_silent(c->describe(c, o, settings), seq,
                              "nn_registry_describe_optim: class '%s' failed", c->name);
}
