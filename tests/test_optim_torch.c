/* test_optim_torch.c - the built-in optimizers, learning-rate schedules and gradient
 * clipping against PyTorch 1.13, and their contracts: no allocation in step, state
 * made once per setup and released, hyper-parameter errors.
 *
 * The fixture tests/reference/optim.txt (written by gen_optim.py) holds, for each
 * optimizer case below, the trajectory of two parameters (3, 4) and (4) over 10
 * steps with fixed gradients (one all-zero step, one 1000 times larger, one tiny)
 * and torch's optimizer state after the last step; the learning rate of every
 * schedule over 20 steps; torch's default hyper-parameters; and
 * clip_grad_norm_ on five sets of gradients.
 *
 * nn follows torch's float32 operations one for one (src/optim.c), so on a machine
 * where torch's kernels fuse as on the one that wrote the fixture the trajectories
 * agree bit for bit; elsewhere they differ by float roundings. The tolerance is
 * REL_TOL relative plus ABS_TOL times the largest magnitude in the compared
 * tensor (an element near zero after a large step carries the rounding of the
 * large values it came from). The measured largest deviation of each case is
 * printed.
 */
#include <stddef.h>

#include "nn_test.h"
#include "nn_fixture.h"

#define REL_TOL 1e-5
#define ABS_TOL 1e-6

/* Schedules are compared with float32 copies of torch's double rates. */
#define LR_REL_TOL 1e-7
#define LR_ABS_TOL 1e-12

#define STEPS 10

static nn_fixture *fx;

static int load_fixture(void **state)
{
    (void)state;
    fx = nn_fixture_load("optim.txt");
    return 0;
}

static int free_fixture(void **state)
{
    (void)state;
    nn_fixture_free(fx);
    fx = NULL;
    return 0;
}

/* ---- hyper-parameters by torch's names ------------------------------------------------ */

typedef struct any_params {
    nn_sgd_params sgd;
    nn_adam_params adam; /* Adam and AdamW */
    nn_rmsprop_params rmsprop;
    nn_adagrad_params adagrad;
} any_params;

typedef struct field {
    nn_optim_kind kind;
    const char *name; /* torch's keyword; betas are beta1 and beta2 */
    size_t offset;
    int is_int;
} field;

#define DF(k, m, n)                                                                                \
    {                                                                                              \
        k, n, offsetof(any_params, m), 0                                                           \
    }
#define IF(k, m, n)                                                                                \
    {                                                                                              \
        k, n, offsetof(any_params, m), 1                                                           \
    }

static const field fields[] = {
    DF(NN_OPTIM_SGD, sgd.lr, "lr"),
    DF(NN_OPTIM_SGD, sgd.momentum, "momentum"),
    DF(NN_OPTIM_SGD, sgd.dampening, "dampening"),
    DF(NN_OPTIM_SGD, sgd.weight_decay, "weight_decay"),
    IF(NN_OPTIM_SGD, sgd.nesterov, "nesterov"),
    DF(NN_OPTIM_ADAM, adam.lr, "lr"),
    DF(NN_OPTIM_ADAM, adam.betas[0], "beta1"),
    DF(NN_OPTIM_ADAM, adam.betas[1], "beta2"),
    DF(NN_OPTIM_ADAM, adam.eps, "eps"),
    DF(NN_OPTIM_ADAM, adam.weight_decay, "weight_decay"),
    IF(NN_OPTIM_ADAM, adam.amsgrad, "amsgrad"),
    DF(NN_OPTIM_ADAMW, adam.lr, "lr"),
    DF(NN_OPTIM_ADAMW, adam.betas[0], "beta1"),
    DF(NN_OPTIM_ADAMW, adam.betas[1], "beta2"),
    DF(NN_OPTIM_ADAMW, adam.eps, "eps"),
    DF(NN_OPTIM_ADAMW, adam.weight_decay, "weight_decay"),
    IF(NN_OPTIM_ADAMW, adam.amsgrad, "amsgrad"),
    DF(NN_OPTIM_RMSPROP, rmsprop.lr, "lr"),
    DF(NN_OPTIM_RMSPROP, rmsprop.alpha, "alpha"),
    DF(NN_OPTIM_RMSPROP, rmsprop.eps, "eps"),
    DF(NN_OPTIM_RMSPROP, rmsprop.weight_decay, "weight_decay"),
    DF(NN_OPTIM_RMSPROP, rmsprop.momentum, "momentum"),
    IF(NN_OPTIM_RMSPROP, rmsprop.centered, "centered"),
    DF(NN_OPTIM_ADAGRAD, adagrad.lr, "lr"),
    DF(NN_OPTIM_ADAGRAD, adagrad.lr_decay, "lr_decay"),
    DF(NN_OPTIM_ADAGRAD, adagrad.weight_decay, "weight_decay"),
    DF(NN_OPTIM_ADAGRAD, adagrad.initial_accumulator_value, "initial_accumulator_value"),
    DF(NN_OPTIM_ADAGRAD, adagrad.eps, "eps"),
};

#define N_FIELDS (sizeof fields / sizeof fields[0])

static double field_get(const any_params *p, const field *f)
{
    const char *base = (const char *)p + f->offset;
    if (f->is_int) {
        int v;
        memcpy(&v, base, sizeof v);
        return v;
    }
    double v;
    memcpy(&v, base, sizeof v);
    return v;
}

static void field_set(any_params *p, const field *f, double value)
{
    char *base = (char *)p + f->offset;
    if (f->is_int) {
        int v = (int)value;
        memcpy(base, &v, sizeof v);
    } else {
        memcpy(base, &value, sizeof value);
    }
}

static const field *find_field(nn_optim_kind kind, const char *name)
{
    for (size_t i = 0; i < N_FIELDS; i++)
        if (fields[i].kind == kind && strcmp(fields[i].name, name) == 0)
            return &fields[i];
    return NULL;
}

/* Every kind's defaults; AdamW's replace Adam's in the shared struct. */
static any_params default_params(nn_optim_kind kind)
{
    any_params p;
    memset(&p, 0, sizeof p);
    p.sgd = nn_sgd_default_params();
    p.adam = kind == NN_OPTIM_ADAMW ? nn_adamw_default_params() : nn_adam_default_params();
    p.rmsprop = nn_rmsprop_default_params();
    p.adagrad = nn_adagrad_default_params();
    return p;
}

static nn_optim *make_optim(nn_optim_kind kind, const any_params *p)
{
    nn_optim *o = NULL;
    switch (kind) {
    case NN_OPTIM_SGD:
        assert_ok(nn_optim_sgd_new_ex(&p->sgd, &o));
        break;
    case NN_OPTIM_ADAM:
        assert_ok(nn_optim_adam_new_ex(&p->adam, &o));
        break;
    case NN_OPTIM_ADAMW:
        assert_ok(nn_optim_adamw_new_ex(&p->adam, &o));
        break;
    case NN_OPTIM_RMSPROP:
        assert_ok(nn_optim_rmsprop_new_ex(&p->rmsprop, &o));
        break;
    case NN_OPTIM_ADAGRAD:
        assert_ok(nn_optim_adagrad_new_ex(&p->adagrad, &o));
        break;
    }
    assert_non_null(o);
    assert_string_equal(o->ops->name, nn_optim_kind_name(kind));
    return o;
}

/* ---- the cases of gen_optim.py ---------------------------------------------------------- */

typedef struct setting {
    const char *name;
    double value;
} setting;

typedef struct optim_case {
    const char *prefix;
    nn_optim_kind kind;
    setting set[6];       /* changes from the defaults, by torch's keyword; ends at name NULL */
    nn_schedule schedule; /* used when has_schedule */
    int has_schedule;
} optim_case;

static const optim_case cases[] = {
    {"sgd_plain", NN_OPTIM_SGD, {{"lr", 0.1}}, {0}, 0},
    {"sgd_momentum", NN_OPTIM_SGD, {{"lr", 0.05}, {"momentum", 0.9}}, {0}, 0},
    {"sgd_dampening", NN_OPTIM_SGD, {{"lr", 0.05}, {"momentum", 0.9}, {"dampening", 0.3}}, {0}, 0},
    {"sgd_nesterov", NN_OPTIM_SGD, {{"lr", 0.05}, {"momentum", 0.9}, {"nesterov", 1}}, {0}, 0},
    {"sgd_wd", NN_OPTIM_SGD, {{"lr", 0.1}, {"weight_decay", 0.01}}, {0}, 0},
    {"sgd_nesterov_wd",
     NN_OPTIM_SGD,
     {{"lr", 0.02}, {"momentum", 0.8}, {"weight_decay", 0.1}, {"nesterov", 1}},
     {0},
     0},
    {"adam_default", NN_OPTIM_ADAM, {{NULL, 0}}, {0}, 0},
    {"adam_betas",
     NN_OPTIM_ADAM,
     {{"lr", 0.05}, {"beta1", 0.8}, {"beta2", 0.99}, {"eps", 1e-6}},
     {0},
     0},
    {"adam_wd", NN_OPTIM_ADAM, {{"lr", 0.01}, {"weight_decay", 0.1}}, {0}, 0},
    {"adam_amsgrad", NN_OPTIM_ADAM, {{"lr", 0.01}, {"amsgrad", 1}}, {0}, 0},
    {"adam_amsgrad_wd",
     NN_OPTIM_ADAM,
     {{"lr", 0.02}, {"beta1", 0.5}, {"beta2", 0.9}, {"weight_decay", 0.05}, {"amsgrad", 1}},
     {0},
     0},
    {"adam_large_eps", NN_OPTIM_ADAM, {{"lr", 0.01}, {"eps", 0.1}}, {0}, 0},
    {"adamw_default", NN_OPTIM_ADAMW, {{NULL, 0}}, {0}, 0},
    {"adamw_wd", NN_OPTIM_ADAMW, {{"lr", 0.01}, {"weight_decay", 0.1}}, {0}, 0},
    {"adamw_amsgrad",
     NN_OPTIM_ADAMW,
     {{"lr", 0.02}, {"beta1", 0.85}, {"beta2", 0.95}, {"weight_decay", 0.2}, {"amsgrad", 1}},
     {0},
     0},
    {"rmsprop_default", NN_OPTIM_RMSPROP, {{NULL, 0}}, {0}, 0},
    {"rmsprop_momentum", NN_OPTIM_RMSPROP, {{"lr", 0.01}, {"momentum", 0.9}}, {0}, 0},
    {"rmsprop_centered", NN_OPTIM_RMSPROP, {{"lr", 0.01}, {"centered", 1}}, {0}, 0},
    {"rmsprop_all",
     NN_OPTIM_RMSPROP,
     {{"lr", 0.005},
      {"alpha", 0.9},
      {"eps", 1e-6},
      {"weight_decay", 0.05},
      {"momentum", 0.5},
      {"centered", 1}},
     {0},
     0},
    {"rmsprop_large_eps", NN_OPTIM_RMSPROP, {{"lr", 0.01}, {"eps", 0.1}, {"centered", 1}}, {0}, 0},
    {"adagrad_default", NN_OPTIM_ADAGRAD, {{NULL, 0}}, {0}, 0},
    {"adagrad_large_eps", NN_OPTIM_ADAGRAD, {{"lr", 0.1}, {"eps", 0.1}}, {0}, 0},
    {"adagrad_all",
     NN_OPTIM_ADAGRAD,
     {{"lr", 0.1},
      {"lr_decay", 0.05},
      {"weight_decay", 0.1},
      {"initial_accumulator_value", 0.1},
      {"eps", 1e-8}},
     {0},
     0},
    {"adam_steplr",
     NN_OPTIM_ADAM,
     {{"lr", 0.05}},
     {.kind = NN_SCHEDULE_STEP, .step_size = 3, .gamma = 0.5},
     1},
    {"sgd_momentum_cosine",
     NN_OPTIM_SGD,
     {{"lr", 0.1}, {"momentum", 0.9}},
     {.kind = NN_SCHEDULE_COSINE, .T_max = 10, .eta_min = 0.0},
     1},
    {"adagrad_linear",
     NN_OPTIM_ADAGRAD,
     {{"lr", 0.1}, {"lr_decay", 0.01}},
     {.kind = NN_SCHEDULE_LINEAR, .start_factor = 0.25, .end_factor = 1.0, .total_iters = 4},
     1},
};

#define N_CASES (sizeof cases / sizeof cases[0])

static any_params case_params(const optim_case *c)
{
    any_params p = default_params(c->kind);
    for (const setting *s = c->set; s < c->set + 6 && s->name != NULL; s++) {
        const field *f = find_field(c->kind, s->name);
        if (f == NULL)
            fail_msg("%s: no field '%s'", c->prefix, s->name);
        field_set(&p, f, s->value);
    }
    return p;
}

static const optim_case *find_case(const char *prefix)
{
    for (size_t i = 0; i < N_CASES; i++)
        if (strcmp(cases[i].prefix, prefix) == 0)
            return &cases[i];
    fail_msg("no case '%s'", prefix);
    return NULL;
}

/* A schedule parameter of a case, by torch's keyword; NaN if it has none of that name. */
static double schedule_field(const nn_schedule *s, const char *name)
{
    if (strcmp(name, "step_size") == 0)
        return (double)s->step_size;
    if (strcmp(name, "gamma") == 0)
        return s->gamma;
    if (strcmp(name, "T_max") == 0)
        return (double)s->T_max;
    if (strcmp(name, "eta_min") == 0)
        return s->eta_min;
    if (strcmp(name, "start_factor") == 0)
        return s->start_factor;
    if (strcmp(name, "end_factor") == 0)
        return s->end_factor;
    if (strcmp(name, "total_iters") == 0)
        return (double)s->total_iters;
    return NAN;
}

static const char *torch_class(nn_optim_kind kind)
{
    switch (kind) {
    case NN_OPTIM_SGD:
        return "SGD";
    case NN_OPTIM_ADAM:
        return "Adam";
    case NN_OPTIM_ADAMW:
        return "AdamW";
    case NN_OPTIM_RMSPROP:
        return "RMSprop";
    case NN_OPTIM_ADAGRAD:
        return "Adagrad";
    }
    return "?";
}

static double fixture_scalar(const char *name)
{
    nn_tensor *t = nn_fixture_get(fx, name);
    assert_int_equal(t->size, 1);
    return t->data[0];
}

/* The C table agrees with gen_optim.py: every field is what the fixture's hp_ entry
 * says, or torch's default (default_<Class>_<name>) when the case gives none. */
static void check_case_table(const optim_case *c, const any_params *p)
{
    char name[160];
    for (size_t i = 0; i < N_FIELDS; i++) {
        const field *f = &fields[i];
        if (f->kind != c->kind)
            continue;
        double want;
        snprintf(name, sizeof name, "%s_hp_%s", c->prefix, f->name);
        if (nn_fixture_has(fx, name)) {
            want = fixture_scalar(name);
        } else {
            snprintf(name, sizeof name, "default_%s_%s", torch_class(c->kind), f->name);
            if (!nn_fixture_has(fx, name))
                fail_msg("%s: the fixture gives no %s_hp_%s and torch no default for it", c->prefix,
                         c->prefix, f->name);
            want = fixture_scalar(name);
        }
        double got = field_get(p, f);
        if (!(fabs(got - want) <= 1e-7 * fabs(want)))
            fail_msg("%s: %s is %.9g in the C table, %.9g in the fixture", c->prefix, f->name, got,
                     want);
    }
    /* And every hp_ entry of the fixture is a field of the optimizer or the schedule. */
    for (size_t i = 0; i < fx->count; i++) {
        size_t len = strlen(c->prefix);
        const char *e = fx->entries[i].name;
        if (strncmp(e, c->prefix, len) != 0 || strncmp(e + len, "_hp_", 4) != 0)
            continue;
        const char *key = e + len + 4;
        if (find_field(c->kind, key) != NULL)
            continue;
        double sv = c->has_schedule ? schedule_field(&c->schedule, key) : NAN;
        if (!(fabs(sv - fx->entries[i].t->data[0]) <= 1e-7 * fabs(sv)))
            fail_msg("%s: fixture hyper-parameter %s = %.9g has no match in the C table (%.9g)",
                     c->prefix, key, (double)fx->entries[i].t->data[0], sv);
    }
}

/* Largest deviation seen, for the report: relative to the tensor's scale. */
typedef struct deviation {
    double max_abs; /* |actual - expected| */
    double max_rel; /* |actual - expected| / |expected|, over |expected| >= 1e-3 scale */
    size_t n_diff;  /* elements not bit-identical */
    size_t n_compared;
} deviation;

static void compare(const float *actual, const float *expected, size_t n, const char *what,
                    deviation *dev)
{
    double scale = 1.0;
    for (size_t i = 0; i < n; i++)
        scale = fmax(scale, fabs((double)expected[i]));
    for (size_t i = 0; i < n; i++) {
        double a = actual[i], e = expected[i], d = fabs(a - e);
        double tol = REL_TOL * fabs(e) + ABS_TOL * scale;
        if (!(d <= tol))
            fail_msg("%s: element %zu is %.9g, torch %.9g (|diff| %.3g > %.3g)", what, i, a, e, d,
                     tol);
        dev->max_abs = fmax(dev->max_abs, d);
        if (fabs(e) >= 1e-3 * scale)
            dev->max_rel = fmax(dev->max_rel, d / fabs(e));
        dev->n_diff += a != e;
        dev->n_compared++;
    }
}

/* The state buffers any built-in optimizer may keep, by torch's names. */
static const char *const state_keys[] = {
    "momentum_buffer", "exp_avg", "exp_avg_sq", "max_exp_avg_sq", "square_avg", "grad_avg", "sum"};

/* Runs a case from the fixture's start for `steps` steps on p0 (3, 4), p1 (4), with
 * the fixture's gradients; compares each step's parameters when dev is not NULL. */
static void run_steps(nn_optim *o, const optim_case *c, nn_tensor *params, size_t first,
                      size_t last, deviation *dev)
{
    nn_tensor *g0 = nn_fixture_get(fx, "optim_grads_p0"),
              *g1 = nn_fixture_get(fx, "optim_grads_p1");
    char name[160], what[200];
    snprintf(name, sizeof name, "%s_traj_p0", c->prefix);
    nn_tensor *t0 = nn_fixture_get(fx, name);
    snprintf(name, sizeof name, "%s_traj_p1", c->prefix);
    nn_tensor *t1 = nn_fixture_get(fx, name);
    float gbuf0[12], gbuf1[4];
    nn_tensor grads[2] = {nn_tensor_view2d(gbuf0, 3, 4), nn_tensor_view1d(gbuf1, 4)};
    any_params p = case_params(c);
    double base_lr = field_get(&p, find_field(c->kind, "lr"));
    for (size_t s = first; s < last; s++) {
        memcpy(gbuf0, g0->data + s * 12, sizeof gbuf0);
        memcpy(gbuf1, g1->data + s * 4, sizeof gbuf1);
        if (c->has_schedule) /* torch: the scheduler has been stepped s times before step s + 1 */
            assert_ok(nn_optim_set_lr(o, nn_schedule_lr(&c->schedule, base_lr, s)));
        assert_ok(nn_optim_step(o, params, grads, 2));
        if (dev == NULL)
            continue;
        snprintf(what, sizeof what, "%s step %zu p0", c->prefix, s + 1);
        compare(params[0].data, t0->data + s * 12, 12, what, dev);
        snprintf(what, sizeof what, "%s step %zu p1", c->prefix, s + 1);
        compare(params[1].data, t1->data + s * 4, 4, what, dev);
    }
}

static void compare_state(nn_optim *o, const optim_case *c, deviation *dev)
{
    char name[200];
    for (size_t k = 0; k < sizeof state_keys / sizeof state_keys[0]; k++) {
        for (size_t i = 0; i < 2; i++) {
            snprintf(name, sizeof name, "%s_state_%s_p%zu", c->prefix, state_keys[k], i);
            nn_tensor view;
            nn_clear_error();
            nn_status st = nn_optim_state(o, state_keys[k], i, &view);
            if (!nn_fixture_has(fx, name)) {
                if (st == NN_OK)
                    fail_msg("%s: nn keeps '%s', torch does not", c->prefix, state_keys[k]);
                assert_status_was(st, NN_ERR_INVALID_ARG);
                continue;
            }
            if (st != NN_OK)
                fail_msg("%s: torch keeps '%s', nn does not: %s", c->prefix, state_keys[k],
                         nn_last_error());
            nn_tensor *want = nn_fixture_get(fx, name);
            assert_int_equal(view.size, want->size);
            assert_int_equal(view.ndim, i == 0 ? 2 : 1);
            compare(view.data, want->data, view.size, name, dev);
        }
    }
}

static void init_params(float *p0, float *p1, nn_tensor *params)
{
    memcpy(p0, nn_fixture_get(fx, "optim_init_p0")->data, 12 * sizeof(float));
    memcpy(p1, nn_fixture_get(fx, "optim_init_p1")->data, 4 * sizeof(float));
    params[0] = nn_tensor_view2d(p0, 3, 4);
    params[1] = nn_tensor_view1d(p1, 4);
}

static void test_trajectories(void **state)
{
    (void)state;
    deviation per_kind[5];
    memset(per_kind, 0, sizeof per_kind);
    for (size_t ci = 0; ci < N_CASES; ci++) {
        const optim_case *c = &cases[ci];
        any_params p = case_params(c);
        check_case_table(c, &p);
        nn_optim *o = make_optim(c->kind, &p);
        float p0[12], p1[4];
        nn_tensor params[2];
        init_params(p0, p1, params);
        assert_ok(nn_optim_setup(o, params, 2));
        deviation traj = {0}, st = {0};
        run_steps(o, c, params, 0, STEPS, &traj);
        assert_int_equal(o->step_count, STEPS);
        compare_state(o, c, &st);
        print_message("  %-20s params: max |diff| %.3g, max rel %.3g, %zu/%zu not bit-identical; "
                      "state: max rel %.3g, %zu/%zu not bit-identical\n",
                      c->prefix, traj.max_abs, traj.max_rel, traj.n_diff, traj.n_compared,
                      st.max_rel, st.n_diff, st.n_compared);
        deviation *k = &per_kind[c->kind];
        k->max_abs = fmax(k->max_abs, fmax(traj.max_abs, st.max_abs));
        k->max_rel = fmax(k->max_rel, fmax(traj.max_rel, st.max_rel));
        k->n_diff += traj.n_diff + st.n_diff;
        k->n_compared += traj.n_compared + st.n_compared;
        nn_optim_free(o);
    }
    for (int k = 0; k < 5; k++)
        print_message("  %-8s largest deviation from torch: rel %.3g, abs %.3g (%zu of %zu values "
                      "not bit-identical)\n",
                      nn_optim_kind_name((nn_optim_kind)k), per_kind[k].max_rel,
                      per_kind[k].max_abs, per_kind[k].n_diff, per_kind[k].n_compared);
}

/* The defaults are torch's (default_<Class>_<name>, read from the signatures). */
static void test_defaults(void **state)
{
    (void)state;
    char name[160];
    size_t checked = 0;
    for (size_t i = 0; i < N_FIELDS; i++) {
        const field *f = &fields[i];
        snprintf(name, sizeof name, "default_%s_%s", torch_class(f->kind), f->name);
        if (!nn_fixture_has(fx, name)) { /* SGD's lr: required in torch */
            assert_true(f->kind == NN_OPTIM_SGD && strcmp(f->name, "lr") == 0);
            continue;
        }
        any_params d = default_params(f->kind);
        assert_close(field_get(&d, f), fixture_scalar(name), 1e-7, 0.0);
        checked++;
    }
    assert_int_equal(checked, N_FIELDS - 1);
    /* Exactly torch's double values, not only their float32 copies. */
    any_params p = default_params(NN_OPTIM_ADAM);
    assert_true(p.adam.betas[0] == 0.9 && p.adam.betas[1] == 0.999 && p.adam.eps == 1e-8);
    assert_true(nn_adamw_default_params().weight_decay == 1e-2);
    assert_true(p.rmsprop.alpha == 0.99 && p.adagrad.eps == 1e-10);
}

/* ---- schedules ---------------------------------------------------------------------- */

typedef struct schedule_case {
    const char *name;
    nn_schedule s;
} schedule_case;

static const schedule_case schedules[] = {
    {"constant", {.kind = NN_SCHEDULE_CONSTANT}},
    {"step_3_half", {.kind = NN_SCHEDULE_STEP, .step_size = 3, .gamma = 0.5}},
    {"step_1_09", {.kind = NN_SCHEDULE_STEP, .step_size = 1, .gamma = 0.9}},
    {"step_4_default",
     {.kind = NN_SCHEDULE_STEP, .step_size = 4, .gamma = NN_SCHEDULE_STEP_DEFAULT_GAMMA}},
    {"exponential_09", {.kind = NN_SCHEDULE_EXPONENTIAL, .gamma = 0.9}},
    {"exponential_07", {.kind = NN_SCHEDULE_EXPONENTIAL, .gamma = 0.7}},
    {"cosine_10", {.kind = NN_SCHEDULE_COSINE, .T_max = 10}},
    {"cosine_7_min", {.kind = NN_SCHEDULE_COSINE, .T_max = 7, .eta_min = 0.01}},
    {"cosine_20", {.kind = NN_SCHEDULE_COSINE, .T_max = 20, .eta_min = 0.001}},
    {"linear_default",
     {.kind = NN_SCHEDULE_LINEAR,
      .start_factor = NN_SCHEDULE_LINEAR_DEFAULT_START_FACTOR,
      .end_factor = NN_SCHEDULE_LINEAR_DEFAULT_END_FACTOR,
      .total_iters = NN_SCHEDULE_LINEAR_DEFAULT_TOTAL_ITERS}},
    {"linear_warmup",
     {.kind = NN_SCHEDULE_LINEAR, .start_factor = 0.1, .end_factor = 1.0, .total_iters = 10}},
    {"linear_decay",
     {.kind = NN_SCHEDULE_LINEAR, .start_factor = 1.0, .end_factor = 0.2, .total_iters = 8}},
};

static void test_schedules(void **state)
{
    (void)state;
    char name[160];
    for (size_t i = 0; i < sizeof schedules / sizeof schedules[0]; i++) {
        const schedule_case *c = &schedules[i];
        assert_ok(nn_schedule_check(&c->s));
        snprintf(name, sizeof name, "sched_%s_lr", c->name);
        nn_tensor *want = nn_fixture_get(fx, name);
        assert_int_equal(want->size, 20);
        double worst = 0.0;
        for (size_t t = 0; t < want->size; t++) {
            double lr = nn_schedule_lr(&c->s, 0.1, t);
            double e = want->data[t];
            double tol = LR_REL_TOL * fabs(e) + LR_ABS_TOL;
            if (!(fabs(lr - e) <= tol))
                fail_msg("%s: lr(%zu) = %.17g, torch %.9g", c->name, t, lr, e);
            if (e != 0.0)
                worst = fmax(worst, fabs((float)lr - e) / fabs(e));
        }
        /* torch's recursive get_lr() against the closed form, both in double. */
        snprintf(name, sizeof name, "sched_%s_closed_maxrel", c->name);
        double recursive = fixture_scalar(name);
        assert_true(recursive < 1e-13);
        print_message("  %-16s float32(nn) vs float32(torch): max rel %.3g; closed form vs torch's "
                      "recursion in double: max rel %.3g\n",
                      c->name, worst, recursive);
    }
}

static void test_schedule_values(void **state)
{
    (void)state;
    /* The constructors fill exactly their kind's fields. */
    nn_schedule s = nn_schedule_step(2, 0.5);
    assert_int_equal(s.kind, NN_SCHEDULE_STEP);
    assert_int_equal(s.step_size, 2);
    assert_true(s.gamma == 0.5);
    assert_true(nn_schedule_lr(&s, 1.0, 0) == 1.0);
    assert_true(nn_schedule_lr(&s, 1.0, 1) == 1.0);
    assert_true(nn_schedule_lr(&s, 1.0, 2) == 0.5);
    assert_true(nn_schedule_lr(&s, 1.0, 5) == 0.25);
    s = nn_schedule_exponential(0.5);
    assert_true(nn_schedule_lr(&s, 2.0, 3) == 0.25);
    s = nn_schedule_cosine(4, 0.1);
    assert_close(nn_schedule_lr(&s, 1.0, 0), 1.0, 1e-15, 0);
    assert_close(nn_schedule_lr(&s, 1.0, 2), 0.55, 1e-15, 0);
    assert_close(nn_schedule_lr(&s, 1.0, 4), 0.1, 1e-15, 0);
    assert_close(nn_schedule_lr(&s, 1.0, 8), 1.0, 1e-15, 0); /* back up, period 2 T_max */
    s = nn_schedule_linear(0.0, 1.0, 4);                     /* warm-up from 0 */
    assert_ok(nn_schedule_check(&s));
    assert_true(nn_schedule_lr(&s, 0.4, 0) == 0.0);
    assert_close(nn_schedule_lr(&s, 0.4, 1), 0.1, 1e-15, 0);
    assert_close(nn_schedule_lr(&s, 0.4, 4), 0.4, 1e-15, 0);
    assert_close(nn_schedule_lr(&s, 0.4, 1000), 0.4, 1e-15, 0);
    s = nn_schedule_constant();
    assert_true(nn_schedule_lr(&s, 0.3, 12345) == 0.3);
    /* A huge t is fine (no overflow, no NaN). */
    s = nn_schedule_exponential(0.9);
    assert_true(nn_schedule_lr(&s, 1.0, (size_t)1 << 40) == 0.0);
    s = nn_schedule_step(1, 1.0);
    assert_true(nn_schedule_lr(&s, 0.1, SIZE_MAX) == 0.1);

    /* Names. */
    for (int k = 0; k <= NN_SCHEDULE_LINEAR; k++) {
        nn_schedule_kind kind = (nn_schedule_kind)99;
        const char *n = nn_schedule_kind_name((nn_schedule_kind)k);
        assert_non_null(n);
        assert_ok(nn_schedule_kind_from_name(n, &kind));
        assert_int_equal(kind, k);
    }
    assert_null(nn_schedule_kind_name((nn_schedule_kind)5));
    nn_schedule_kind kind = NN_SCHEDULE_COSINE;
    assert_error(nn_schedule_kind_from_name("onecycle", &kind), NN_ERR_INVALID_ARG, "'onecycle'");
    assert_int_equal(kind, NN_SCHEDULE_COSINE);
    assert_status(nn_schedule_kind_from_name(NULL, &kind), NN_ERR_NULL_ARG);
    assert_status(nn_schedule_kind_from_name("step", NULL), NN_ERR_NULL_ARG);
}

static void test_schedule_errors(void **state)
{
    (void)state;
    nn_schedule s = nn_schedule_step(0, 0.5);
    assert_error(nn_schedule_check(&s), NN_ERR_INVALID_ARG, "step_size 0");
    assert_true(isnan(nn_schedule_lr(&s, 0.1, 0)));
    s = nn_schedule_step(2, -0.5);
    assert_error(nn_schedule_check(&s), NN_ERR_INVALID_ARG, "gamma -0.5");
    s = nn_schedule_exponential(NAN);
    assert_error(nn_schedule_check(&s), NN_ERR_INVALID_ARG, "gamma");
    s = nn_schedule_exponential(INFINITY);
    assert_error(nn_schedule_check(&s), NN_ERR_INVALID_ARG, "gamma inf");
    s = nn_schedule_cosine(0, 0.0);
    assert_error(nn_schedule_check(&s), NN_ERR_INVALID_ARG, "T_max 0");
    s = nn_schedule_cosine(10, -0.001);
    assert_error(nn_schedule_check(&s), NN_ERR_INVALID_ARG, "eta_min -0.001");
    s = nn_schedule_linear(1.5, 1.0, 5);
    assert_error(nn_schedule_check(&s), NN_ERR_INVALID_ARG, "start_factor 1.5");
    s = nn_schedule_linear(-0.1, 1.0, 5);
    assert_error(nn_schedule_check(&s), NN_ERR_INVALID_ARG, "start_factor -0.1");
    s = nn_schedule_linear(0.5, 1.25, 5);
    assert_error(nn_schedule_check(&s), NN_ERR_INVALID_ARG, "end_factor 1.25");
    s = nn_schedule_linear(0.5, NAN, 5);
    assert_error(nn_schedule_check(&s), NN_ERR_INVALID_ARG, "end_factor");
    s = nn_schedule_linear(0.5, 1.0, 0);
    assert_error(nn_schedule_check(&s), NN_ERR_INVALID_ARG, "total_iters 0");
    s = nn_schedule_constant();
    s.kind = (nn_schedule_kind)42;
    assert_error(nn_schedule_check(&s), NN_ERR_INVALID_ARG, "42");
    assert_true(isnan(nn_schedule_lr(&s, 0.1, 3)));
    assert_status(nn_schedule_check(NULL), NN_ERR_NULL_ARG);
    assert_true(isnan(nn_schedule_lr(NULL, 0.1, 0)));
    /* An invalid schedule's NaN is refused by the optimizer. */
    nn_optim *o = NULL;
    assert_ok(nn_optim_sgd_new(0.1, &o));
    assert_status(nn_optim_set_lr(o, nn_schedule_lr(&s, 0.1, 0)), NN_ERR_INVALID_ARG);
    assert_true(o->lr == 0.1);
    nn_optim_free(o);
}

/* ---- gradient clipping ------------------------------------------------------------------ */

static void test_clip_by_hand(void **state)
{
    (void)state;
    /* |(3, 4)| = 5: clipped to max_norm 1 by 1 / (5 + 1e-6). */
    float a[2] = {3, 4}, b[1] = {0};
    nn_tensor g[2] = {nn_tensor_view1d(a, 2), nn_tensor_view1d(b, 1)};
    double total = -1;
    assert_ok(nn_clip_grad_norm(g, 2, 1.0, &total));
    assert_true(total == 5.0);
    float c = (float)(1.0 / (5.0 + 1e-6));
    assert_true(a[0] == 3.0f * c && a[1] == 4.0f * c && b[0] == 0.0f);
    assert_close(a[0], 3.0 / (5.0 + 1e-6), 1e-7, 0);
    assert_close(a[1], 4.0 / (5.0 + 1e-6), 1e-7, 0);

    /* Not above max_norm: untouched, bit for bit. */
    a[0] = 3;
    a[1] = 4;
    assert_ok(nn_clip_grad_norm(g, 2, 10.0, NULL));
    assert_true(a[0] == 3.0f && a[1] == 4.0f);
    /* Exactly at max_norm: coef = 5 / (5 + 1e-6) < 1, so torch scales (by ~1 - 2e-7). */
    assert_ok(nn_clip_grad_norm(g, 2, 5.0, &total));
    assert_close(a[0], 3.0, 1e-6, 0);
    /* Infinite max_norm only measures. */
    a[0] = 3;
    a[1] = 4;
    assert_ok(nn_clip_grad_norm(g, 2, INFINITY, &total));
    assert_true(total == 5.0 && a[0] == 3.0f && a[1] == 4.0f);
    /* max_norm 0 zeroes them, as torch. */
    assert_ok(nn_clip_grad_norm(g, 2, 0.0, &total));
    assert_true(a[0] == 0.0f && a[1] == 0.0f);

    /* All zero: norm 0, coef huge, nothing happens. */
    assert_ok(nn_clip_grad_norm(g, 2, 1.0, &total));
    assert_true(total == 0.0 && a[0] == 0.0f);

    /* Across tensors: |(1, 2, 2)| + |(4)| -> sqrt(1 + 4 + 4 + 16) = 5. */
    float x[3] = {1, 2, 2}, y[1] = {-4};
    nn_tensor h[2] = {nn_tensor_view1d(x, 3), nn_tensor_view1d(y, 1)};
    assert_ok(nn_clip_grad_norm(h, 2, 2.5, &total));
    assert_true(total == 5.0);
    assert_close(x[1], 1.0, 1e-6, 0);
    assert_close(y[0], -2.0, 1e-6, 0);

    /* Values whose squares overflow float32 (torch's float32 norm would be inf). */
    float big[2] = {3e30f, 4e30f};
    nn_tensor tb = nn_tensor_view1d(big, 2);
    assert_ok(nn_clip_grad_norm(&tb, 1, 1.0, &total));
    assert_close(total, 5e30, 1e-7, 0);
    assert_close(big[0], 0.6, 1e-6, 0);

    /* n = 0: norm 0, and grads may be NULL. */
    total = -1;
    assert_ok(nn_clip_grad_norm(NULL, 0, 1.0, &total));
    assert_true(total == 0.0);

    /* A gradient that is a view of nothing: an error, not a crash, the others untouched. */
    a[0] = 3;
    a[1] = 4;
    nn_tensor nothing[2] = {nn_tensor_view1d(a, 2), nn_tensor_view1d(NULL, 3)};
    assert_error(nn_clip_grad_norm(nothing, 2, 1.0, NULL), NN_ERR_NULL_ARG, "nn_clip_grad_norm",
                 "gradient 1", "no data");
    assert_true(a[0] == 3.0f && a[1] == 4.0f);

    /* A non-finite gradient: error, gradients untouched, the norm reported. */
    float bad[3] = {1, NAN, 2};
    nn_tensor tn = nn_tensor_view1d(bad, 3);
    assert_error(nn_clip_grad_norm(&tn, 1, 1.0, &total), NN_ERR_NUMERIC, "nn_clip_grad_norm");
    assert_true(isnan(total));
    assert_true(bad[0] == 1.0f && bad[2] == 2.0f);
    bad[1] = INFINITY;
    assert_status(nn_clip_grad_norm(&tn, 1, 1.0, &total), NN_ERR_NUMERIC);
    assert_true(isinf(total) && bad[0] == 1.0f);

    /* Bad arguments. */
    assert_error(nn_clip_grad_norm(g, 2, -1.0, &total), NN_ERR_INVALID_ARG, "max_norm -1");
    assert_error(nn_clip_grad_norm(g, 2, NAN, &total), NN_ERR_INVALID_ARG, "max_norm");
    assert_status(nn_clip_grad_norm(NULL, 2, 1.0, &total), NN_ERR_NULL_ARG);
}

static void test_clip_vs_torch(void **state)
{
    (void)state;
    static const char *const names[] = {"clipped", "unclipped", "large", "tiny_max", "zero"};
    char name[160];
    double worst_norm = 0.0, worst_grad = 0.0;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        float a[12], b[4];
        snprintf(name, sizeof name, "clip_%s_in_p0", names[i]);
        memcpy(a, nn_fixture_get(fx, name)->data, sizeof a);
        snprintf(name, sizeof name, "clip_%s_in_p1", names[i]);
        memcpy(b, nn_fixture_get(fx, name)->data, sizeof b);
        nn_tensor g[2] = {nn_tensor_view2d(a, 3, 4), nn_tensor_view1d(b, 4)};
        snprintf(name, sizeof name, "clip_%s_max_norm", names[i]);
        double max_norm = fixture_scalar(name), total = -1;
        assert_ok(nn_clip_grad_norm(g, 2, max_norm, &total));
        snprintf(name, sizeof name, "clip_%s_total_norm", names[i]);
        assert_close(total, fixture_scalar(name), 1e-6, 1e-30);
        snprintf(name, sizeof name, "clip_%s_out_p0", names[i]);
        nn_assert_tensor_close(&g[0], nn_fixture_get(fx, name), 1e-6, 1e-12, name);
        snprintf(name, sizeof name, "clip_%s_out_p1", names[i]);
        nn_assert_tensor_close(&g[1], nn_fixture_get(fx, name), 1e-6, 1e-12, name);
        snprintf(name, sizeof name, "clip_%s_total_norm", names[i]);
        double tn = fixture_scalar(name);
        if (tn != 0.0)
            worst_norm = fmax(worst_norm, fabs(total - tn) / tn);
        for (int k = 0; k < 2; k++) {
            snprintf(name, sizeof name, "clip_%s_out_p%d", names[i], k);
            const nn_tensor *want = nn_fixture_get(fx, name);
            for (size_t j = 0; j < want->size; j++)
                if (want->data[j] != 0.0f)
                    worst_grad =
                        fmax(worst_grad, fabs(g[k].data[j] - want->data[j]) / fabs(want->data[j]));
        }
    }
    print_message("  clip_grad_norm vs torch: norm max rel %.3g, clipped gradients max rel %.3g\n",
                  worst_norm, worst_grad);
}

/* ---- contracts: allocation, setup, errors ------------------------------------------------- */

/* An optimizer of each kind with every state buffer it can keep. */
static nn_optim *full_optim(nn_optim_kind kind)
{
    any_params p = default_params(kind);
    p.sgd.momentum = 0.9;
    p.sgd.nesterov = 1;
    p.sgd.weight_decay = 0.1;
    p.adam.amsgrad = 1;
    p.adam.weight_decay = 0.1;
    p.rmsprop.momentum = 0.5;
    p.rmsprop.centered = 1;
    p.rmsprop.weight_decay = 0.1;
    p.adagrad.weight_decay = 0.1;
    p.adagrad.lr_decay = 0.1;
    return make_optim(kind, &p);
}

static void test_step_never_allocates(void **state)
{
    (void)state;
    nn_test_alloc_install();
    float p[64], q[8], g[64], h[8];
    for (int i = 0; i < 64; i++) {
        p[i] = (float)i / 64.0f;
        g[i] = (float)(i % 7) - 3.0f;
    }
    for (int i = 0; i < 8; i++)
        q[i] = h[i] = (float)i;
    nn_tensor params[2] = {nn_tensor_view2d(p, 8, 8), nn_tensor_view1d(q, 8)};
    nn_tensor grads[2] = {nn_tensor_view2d(g, 8, 8), nn_tensor_view1d(h, 8)};
    nn_schedule cos = nn_schedule_cosine(50, 0.0);
    for (int k = 0; k <= NN_OPTIM_ADAGRAD; k++) {
        nn_optim *o = full_optim((nn_optim_kind)k);
        assert_ok(nn_optim_setup(o, params, 2));
        nn_test_alloc_count_from_now();
        for (size_t s = 0; s < 100; s++) {
            assert_ok(nn_optim_set_lr(o, nn_schedule_lr(&cos, 0.01, s)));
            assert_ok(nn_clip_grad_norm(grads, 2, 1.0, NULL));
            assert_ok(nn_optim_step(o, params, grads, 2));
        }
        nn_tensor view;
        assert_ok(nn_optim_state(o,
                                 k == NN_OPTIM_SGD       ? "momentum_buffer"
                                 : k == NN_OPTIM_RMSPROP ? "grad_avg"
                                 : k == NN_OPTIM_ADAGRAD ? "sum"
                                                         : "max_exp_avg_sq",
                                 1, &view));
        if (nn_test_alloc()->calls != 0)
            fail_msg("'%s' allocated %zu times in 100 steps", o->ops->name, nn_test_alloc()->calls);
        assert_true(nn_tensor_all_finite(&params[0]) && nn_tensor_all_finite(&params[1]));
        nn_optim_free(o);
    }
    assert_int_equal(nn_test_alloc()->live, 0);
}

/* One block per optimizer: setup makes one allocation; a second setup releases the
 * first's (ASan would see a leak otherwise) and starts the state over. */
static void test_setup_twice(void **state)
{
    (void)state;
    /* A case with state for each kind, in kind order. */
    static const char *const prefixes[] = {"sgd_momentum", "adam_amsgrad", "adamw_default",
                                           "rmsprop_all", "adagrad_all"};
    static const char *const buffers[] = {"momentum_buffer", "max_exp_avg_sq", "exp_avg",
                                          "grad_avg", "sum"};
    nn_test_alloc_install();
    for (int k = 0; k <= NN_OPTIM_ADAGRAD; k++) {
        const optim_case *c = find_case(prefixes[k]);
        assert_int_equal(c->kind, k);
        any_params p = case_params(c);
        nn_optim *o = make_optim(c->kind, &p);
        long live0 = nn_test_alloc()->live;
        float p0[12], p1[4];
        nn_tensor params[2];
        init_params(p0, p1, params);

        nn_test_alloc_count_from_now();
        assert_ok(nn_optim_setup(o, params, 2));
        assert_int_equal(nn_test_alloc()->calls, 1);
        assert_int_equal(nn_test_alloc()->live, live0 + 1);
        run_steps(o, c, params, 0, 4, NULL);

        /* Another list: one parameter of another shape. The state is re-made. */
        float r[5] = {1, 2, 3, 4, 5}, gr[5] = {1, 1, 1, 1, 1};
        nn_tensor other = nn_tensor_view1d(r, 5), gother = nn_tensor_view1d(gr, 5);
        assert_ok(nn_optim_setup(o, &other, 1));
        assert_int_equal(nn_test_alloc()->live, live0 + 1);
        nn_tensor view;
        assert_ok(nn_optim_state(o, buffers[k], 0, &view));
        assert_int_equal(view.size, 5);
        assert_int_equal(view.ndim, 1);
        for (size_t i = 0; i < 5; i++) /* one step from fresh state: not the old values */
            assert_true(isfinite(view.data[i]));
        assert_error(nn_optim_state(o, buffers[k], 1, &view), NN_ERR_INVALID_ARG, "parameter 1");
        /* The old list no longer fits. */
        float g0[12] = {0}, g1[4] = {0};
        nn_tensor grads[2] = {nn_tensor_view2d(g0, 3, 4), nn_tensor_view1d(g1, 4)};
        uint64_t count = o->step_count;
        assert_error(nn_optim_step(o, params, grads, 2), NN_ERR_STATE, "1 tensors", "2");
        assert_int_equal(o->step_count, count); /* a failed step is not counted */
        assert_error(nn_optim_step(o, params, grads, 1), NN_ERR_SHAPE, "12", "5");
        assert_ok(nn_optim_step(o, &other, &gother, 1));

        /* Back to the fixture's list: from scratch, the trajectory is torch's again. */
        init_params(p0, p1, params);
        assert_ok(nn_optim_setup(o, params, 2));
        assert_int_equal(nn_test_alloc()->live, live0 + 1);
        deviation dev = {0};
        run_steps(o, c, params, 0, STEPS, &dev);

        /* Setup with no parameters allocates nothing and frees the old block. */
        nn_test_alloc_count_from_now();
        assert_ok(nn_optim_setup(o, NULL, 0));
        assert_int_equal(nn_test_alloc()->calls, 0);
        assert_int_equal(nn_test_alloc()->live, live0);
        assert_ok(nn_optim_step(o, NULL, NULL, 0));
        nn_optim_free(o);
    }
    assert_int_equal(nn_test_alloc()->live, 0);
}

/* A setup that cannot allocate fails with NN_ERR_NOMEM and keeps the old state: the
 * trajectory goes on as if nothing had happened. */
static void test_setup_failure_keeps_state(void **state)
{
    (void)state;
    nn_test_alloc_install();
    const optim_case *c = find_case("adam_amsgrad_wd");
    any_params p = case_params(c);
    nn_optim *o = make_optim(c->kind, &p);
    float p0[12], p1[4];
    nn_tensor params[2];
    init_params(p0, p1, params);

    /* Before any setup, a stateful optimizer refuses to step. */
    float g0[12] = {0}, g1[4] = {0};
    nn_tensor grads[2] = {nn_tensor_view2d(g0, 3, 4), nn_tensor_view1d(g1, 4)};
    assert_error(nn_optim_step(o, params, grads, 2), NN_ERR_STATE, "adam", "nn_optim_setup");
    assert_int_equal(o->step_count, 0);
    nn_tensor view;
    assert_error(nn_optim_state(o, "exp_avg", 0, &view), NN_ERR_STATE, "adam");

    assert_ok(nn_optim_setup(o, params, 2));
    deviation dev = {0};
    run_steps(o, c, params, 0, 5, &dev);
    nn_test_alloc_fail_nth(1);
    float r[5] = {0};
    nn_tensor other = nn_tensor_view1d(r, 5);
    assert_error(nn_optim_setup(o, &other, 1), NN_ERR_NOMEM, "adam");
    assert_int_equal(nn_test_alloc()->failed, 1);
    nn_test_alloc_count_from_now();
    run_steps(o, c, params, 5, STEPS, &dev); /* compares every step with torch */
    assert_int_equal(dev.n_compared, STEPS * 16);
    nn_optim_free(o);

    /* Every constructor, with each of its allocations failing in turn. */
    for (int k = 0; k <= NN_OPTIM_ADAGRAD; k++) {
        for (size_t n = 1;; n++) {
            nn_test_alloc_fail_nth(n);
            nn_optim *made = (nn_optim *)&n;
            nn_clear_error();
            nn_status st = nn_optim_new_by_kind((nn_optim_kind)k, 0.01, &made);
            if (nn_test_alloc()->failed == 0) {
                assert_ok(st);
                nn_optim_free(made);
                break;
            }
            assert_status_was(st, NN_ERR_NOMEM);
            assert_null(made);
            assert_int_equal(nn_test_alloc()->live, 0);
        }
    }
    assert_int_equal(nn_test_alloc()->live, 0);
}

static void test_bad_hyperparameters(void **state)
{
    (void)state;
    nn_optim *o = (nn_optim *)&o;

    nn_sgd_params s = nn_sgd_default_params();
    s.lr = -0.1;
    assert_error(nn_optim_sgd_new_ex(&s, &o), NN_ERR_INVALID_ARG, "lr -0.1");
    assert_null(o);
    s = nn_sgd_default_params();
    s.momentum = -0.5;
    assert_error(nn_optim_sgd_new_ex(&s, &o), NN_ERR_INVALID_ARG, "momentum -0.5");
    s = nn_sgd_default_params();
    s.weight_decay = -1e-4;
    assert_error(nn_optim_sgd_new_ex(&s, &o), NN_ERR_INVALID_ARG, "weight_decay -0.0001");
    s = nn_sgd_default_params();
    s.nesterov = 1;
    assert_error(nn_optim_sgd_new_ex(&s, &o), NN_ERR_INVALID_ARG, "nesterov", "momentum 0");
    s.momentum = 0.9;
    s.dampening = 0.1;
    assert_error(nn_optim_sgd_new_ex(&s, &o), NN_ERR_INVALID_ARG, "nesterov", "dampening 0.1");
    s = nn_sgd_default_params();
    s.dampening = NAN;
    assert_error(nn_optim_sgd_new_ex(&s, &o), NN_ERR_INVALID_ARG, "dampening nan");
    s = nn_sgd_default_params();
    s.momentum = INFINITY;
    assert_error(nn_optim_sgd_new_ex(&s, &o), NN_ERR_INVALID_ARG, "momentum inf");
    assert_null(o);

    nn_adam_params a = nn_adam_default_params();
    a.betas[0] = 1.0;
    assert_error(nn_optim_adam_new_ex(&a, &o), NN_ERR_INVALID_ARG, "betas[0] (beta1) 1", "[0, 1)");
    a = nn_adam_default_params();
    a.betas[1] = -0.1;
    assert_error(nn_optim_adam_new_ex(&a, &o), NN_ERR_INVALID_ARG, "betas[1] (beta2) -0.1");
    a = nn_adam_default_params();
    a.betas[1] = NAN;
    assert_error(nn_optim_adamw_new_ex(&a, &o), NN_ERR_INVALID_ARG, "betas[1] (beta2) nan");
    a = nn_adam_default_params();
    a.eps = -1e-8;
    assert_error(nn_optim_adam_new_ex(&a, &o), NN_ERR_INVALID_ARG, "eps -1e-08");
    a = nn_adamw_default_params();
    a.weight_decay = -0.01;
    assert_error(nn_optim_adamw_new_ex(&a, &o), NN_ERR_INVALID_ARG, "adamw", "weight_decay -0.01");
    a = nn_adam_default_params();
    a.lr = NAN;
    assert_error(nn_optim_adam_new_ex(&a, &o), NN_ERR_INVALID_ARG, "lr nan");
    assert_null(o);

    nn_rmsprop_params r = nn_rmsprop_default_params();
    r.alpha = -0.5;
    assert_error(nn_optim_rmsprop_new_ex(&r, &o), NN_ERR_INVALID_ARG, "alpha -0.5");
    r.alpha = 1.5;
    assert_error(nn_optim_rmsprop_new_ex(&r, &o), NN_ERR_INVALID_ARG, "alpha 1.5");
    r = nn_rmsprop_default_params();
    r.eps = -1.0;
    assert_error(nn_optim_rmsprop_new_ex(&r, &o), NN_ERR_INVALID_ARG, "eps -1");
    r = nn_rmsprop_default_params();
    r.momentum = -0.9;
    assert_error(nn_optim_rmsprop_new_ex(&r, &o), NN_ERR_INVALID_ARG, "momentum -0.9");
    r = nn_rmsprop_default_params();
    r.weight_decay = -2;
    assert_error(nn_optim_rmsprop_new_ex(&r, &o), NN_ERR_INVALID_ARG, "weight_decay -2");
    assert_null(o);

    nn_adagrad_params g = nn_adagrad_default_params();
    g.lr_decay = -0.1;
    assert_error(nn_optim_adagrad_new_ex(&g, &o), NN_ERR_INVALID_ARG, "lr_decay -0.1");
    g = nn_adagrad_default_params();
    g.initial_accumulator_value = -1;
    assert_error(nn_optim_adagrad_new_ex(&g, &o), NN_ERR_INVALID_ARG,
                 "initial_accumulator_value -1");
    g = nn_adagrad_default_params();
    g.eps = -1e-10;
    assert_error(nn_optim_adagrad_new_ex(&g, &o), NN_ERR_INVALID_ARG, "eps -1e-10");
    g = nn_adagrad_default_params();
    g.weight_decay = NAN;
    assert_error(nn_optim_adagrad_new_ex(&g, &o), NN_ERR_INVALID_ARG, "weight_decay nan");
    assert_null(o);

    /* NULL arguments. */
    assert_status(nn_optim_sgd_new_ex(NULL, &o), NN_ERR_NULL_ARG);
    assert_status(nn_optim_adam_new_ex(NULL, &o), NN_ERR_NULL_ARG);
    assert_status(nn_optim_adamw_new_ex(NULL, &o), NN_ERR_NULL_ARG);
    assert_status(nn_optim_rmsprop_new_ex(NULL, &o), NN_ERR_NULL_ARG);
    assert_status(nn_optim_adagrad_new_ex(NULL, &o), NN_ERR_NULL_ARG);
    assert_null(o);
    assert_status(nn_optim_sgd_new_ex(&s, NULL), NN_ERR_NULL_ARG);
    assert_status(nn_optim_adam_new_ex(&a, NULL), NN_ERR_NULL_ARG);

    /* Boundary values torch accepts are accepted. */
    a = nn_adam_default_params();
    a.betas[0] = 0.0;
    a.eps = 0.0;
    a.lr = 0.0;
    assert_ok(nn_optim_adam_new_ex(&a, &o));
    nn_optim_free(o);
    s = nn_sgd_default_params();
    s.dampening = -0.5; /* torch does not check dampening */
    s.momentum = 0.5;
    assert_ok(nn_optim_sgd_new_ex(&s, &o));
    nn_optim_free(o);
    r = nn_rmsprop_default_params();
    r.alpha = 1.0;
    assert_ok(nn_optim_rmsprop_new_ex(&r, &o));
    nn_optim_free(o);
}

static void test_kinds_by_name(void **state)
{
    (void)state;
    static const char *const names[] = {"sgd", "adam", "adamw", "rmsprop", "adagrad"};
    for (int k = 0; k < 5; k++) {
        nn_optim_kind kind = (nn_optim_kind)99;
        assert_ok(nn_optim_kind_from_name(names[k], &kind));
        assert_int_equal(kind, k);
        assert_string_equal(nn_optim_kind_name(kind), names[k]);
        nn_optim *o = NULL;
        assert_ok(nn_optim_new_by_kind(kind, 0.125, &o));
        assert_string_equal(o->ops->name, names[k]);
        assert_true(o->lr == 0.125);
        nn_optim_free(o);
        assert_status(nn_optim_new_by_kind(kind, -1.0, &o), NN_ERR_INVALID_ARG);
        assert_null(o);
    }
    assert_null(nn_optim_kind_name((nn_optim_kind)5));
    nn_optim_kind kind = NN_OPTIM_RMSPROP;
    assert_error(nn_optim_kind_from_name("lbfgs", &kind), NN_ERR_INVALID_ARG, "'lbfgs'", "adagrad");
    assert_error(nn_optim_kind_from_name("Adam", &kind), NN_ERR_INVALID_ARG, "'Adam'");
    assert_error(nn_optim_kind_from_name("", &kind), NN_ERR_INVALID_ARG, "''");
    assert_int_equal(kind, NN_OPTIM_RMSPROP); /* unchanged */
    assert_status(nn_optim_kind_from_name(NULL, &kind), NN_ERR_NULL_ARG);
    assert_status(nn_optim_kind_from_name("sgd", NULL), NN_ERR_NULL_ARG);
    nn_optim *o = (nn_optim *)&o;
    assert_error(nn_optim_new_by_kind((nn_optim_kind)7, 0.1, &o), NN_ERR_INVALID_ARG, "7");
    assert_null(o);
    assert_status(nn_optim_new_by_kind(NN_OPTIM_ADAM, 0.1, NULL), NN_ERR_NULL_ARG);
}

static void test_state_access(void **state)
{
    (void)state;
    /* SGD without momentum keeps no state, steps without setup, and has no buffers. */
    nn_optim *o = NULL;
    assert_ok(nn_optim_sgd_new(0.5, &o));
    float p[3] = {1, 2, 3}, g[3] = {2, 2, 2};
    nn_tensor tp = nn_tensor_view1d(p, 3), tg = nn_tensor_view1d(g, 3);
    assert_ok(nn_optim_step(o, &tp, &tg, 1));
    assert_true(p[0] == 0.0f && p[2] == 2.0f);
    nn_tensor view;
    assert_status(nn_optim_state(o, "momentum_buffer", 0, &view), NN_ERR_STATE);
    assert_ok(nn_optim_setup(o, &tp, 1));
    assert_error(nn_optim_state(o, "momentum_buffer", 0, &view), NN_ERR_INVALID_ARG,
                 "'momentum_buffer'");
    nn_optim_free(o);

    /* RMSprop keeps exactly the buffers its settings need. */
    nn_rmsprop_params r = nn_rmsprop_default_params();
    r.centered = 1;
    assert_ok(nn_optim_rmsprop_new_ex(&r, &o));
    assert_ok(nn_optim_setup(o, &tp, 1));
    assert_ok(nn_optim_state(o, "square_avg", 0, &view));
    assert_ok(nn_optim_state(o, "grad_avg", 0, &view));
    assert_status(nn_optim_state(o, "momentum_buffer", 0, &view), NN_ERR_INVALID_ARG);
    assert_error(nn_optim_state(o, "square_avg", 1, &view), NN_ERR_INVALID_ARG, "parameter 1");
    assert_status(nn_optim_state(o, NULL, 0, &view), NN_ERR_NULL_ARG);
    assert_status(nn_optim_state(o, "square_avg", 0, NULL), NN_ERR_NULL_ARG);
    assert_status(nn_optim_state(NULL, "square_avg", 0, &view), NN_ERR_NULL_ARG);
    nn_optim_free(o);

    /* Adagrad's sum starts at initial_accumulator_value. */
    nn_adagrad_params a = nn_adagrad_default_params();
    a.initial_accumulator_value = 0.25;
    assert_ok(nn_optim_adagrad_new_ex(&a, &o));
    assert_ok(nn_optim_setup(o, &tp, 1));
    assert_ok(nn_optim_state(o, "sum", 0, &view));
    for (size_t k = 0; k < 3; k++)
        assert_true(view.data[k] == 0.25f);
    nn_optim_free(o);
}

/* The optimizers inside a network: set up by nn_net_set_optim, stepping in
 * nn_net_train_step without allocating after the first step, lowering the loss. */
static void test_in_network(void **state)
{
    (void)state;
    float x[8] = {-2, -1, 25, 6, 17, 4, -15, -6}, t[4] = {1, 0, 0, 1};
    nn_tensor tx = nn_tensor_view2d(x, 4, 2), tt = nn_tensor_view2d(t, 4, 1);
    for (int k = 0; k <= NN_OPTIM_ADAGRAD; k++) {
        nn_test_alloc_install();
        nn_net *net = nn_test_mlp(2, 3, 1, 5);
        nn_loss *mse = NULL;
        assert_ok(nn_loss_mse_new(&mse));
        assert_ok(nn_net_set_loss(net, mse, 1));
        nn_optim *o = full_optim((nn_optim_kind)k);
        assert_ok(nn_optim_set_lr(o, k == NN_OPTIM_SGD ? 0.1 : 0.01));
        assert_ok(nn_net_set_optim(net, o));
        double first = 0, loss = 0;
        assert_ok(nn_net_train_step(net, &tx, &tt, &first));
        nn_test_alloc_count_from_now();
        for (int s = 0; s < 200; s++)
            assert_ok(nn_net_train_step(net, &tx, &tt, &loss));
        if (nn_test_alloc()->calls != 0)
            fail_msg("'%s' in a network: %zu allocations", o->ops->name, nn_test_alloc()->calls);
        if (!(loss < first))
            fail_msg("'%s' in a network: loss %g after 200 steps, %g at first", o->ops->name, loss,
                     first);
        nn_net_free(net);
        assert_int_equal(nn_test_alloc()->live, 0);
        nn_set_allocator(NULL);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trajectories),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_schedules),
        cmocka_unit_test(test_schedule_values),
        cmocka_unit_test(test_schedule_errors),
        cmocka_unit_test(test_clip_by_hand),
        cmocka_unit_test(test_clip_vs_torch),
        cmocka_unit_test_teardown(test_step_never_allocates, nn_test_alloc_teardown),
        cmocka_unit_test_teardown(test_setup_twice, nn_test_alloc_teardown),
        cmocka_unit_test_teardown(test_setup_failure_keeps_state, nn_test_alloc_teardown),
        cmocka_unit_test(test_bad_hyperparameters),
        cmocka_unit_test(test_kinds_by_name),
        cmocka_unit_test(test_state_access),
        cmocka_unit_test_teardown(test_in_network, nn_test_alloc_teardown),
    };
    return cmocka_run_group_tests(tests, load_fixture, free_fixture);
}
