/* test_extension.c - layers, losses and optimizers written outside nn, used through the
 * registry, model files and specs, misbehaving the ways a user's code can. */
#include "nn_test.h"

/* ---- a layer whose build can declare other parameters from call to call ---------------- */

typedef struct shifty {
    int builds; /* how many times build ran */
    int mode;   /* 0: the same every time; 1: no parameter after the first build; 2: a
                   parameter twice as large after the first build */
    int fail;   /* forward and backward fail without a message */
    double limit; /* a setting of the class in test_spec_write_refuses_nonfinite_settings */
} shifty;

static int shifty_mode; /* for the layers the class makes */

static nn_status shifty_build(nn_layer *l, size_t in)
{
    shifty *s = l->impl;
    s->builds++;
    l->out_width = in;
    l->n_params = s->mode == 1 && s->builds > 1 ? 0 : 1;
    l->params[0].ndim = 1;
    l->params[0].shape[0] = s->mode == 2 && s->builds > 1 ? 2 * in : in;
    return NN_OK;
}

static nn_status shifty_forward(nn_layer *l, const nn_tensor *x, nn_tensor *y, int training)
{
    (void)training;
    if (((shifty *)l->impl)->fail)
        return NN_ERR_INVALID_ARG;
    return nn_tensor_copy(y, x);
}

static nn_status shifty_backward(nn_layer *l, const nn_tensor *x, const nn_tensor *y,
                                 const nn_tensor *dy, nn_tensor *dx)
{
    (void)x;
    (void)y;
    if (((shifty *)l->impl)->fail)
        return NN_ERR_NUMERIC;
    return dx != NULL ? nn_tensor_copy(dx, dy) : NN_OK;
}

static void shifty_destroy(nn_layer *l) { free(l->impl); }

static const nn_layer_ops shifty_ops = {.name = "shifty",
                                        .build = shifty_build,
                                        .forward = shifty_forward,
                                        .backward = shifty_backward,
                                        .destroy = shifty_destroy};

static nn_layer *shifty_new(int mode)
{
    shifty *s = calloc(1, sizeof *s);
    assert_non_null(s);
    s->mode = mode;
    nn_layer *l = NULL;
    assert_ok(nn_layer_new(&shifty_ops, s, &l));
    return l;
}

static nn_status shifty_create(const nn_layer_class *c, const nn_settings *s, nn_layer **out)
{
    static const char *const known[] = {NULL};
    (void)c;
    nn_status st = nn_settings_check_keys(s, "shifty", known);
    if (st == NN_OK)
        *out = shifty_new(shifty_mode);
    return st;
}

static nn_status shifty_describe(const nn_layer_class *c, const nn_layer *l, nn_settings *s)
{
    (void)c, (void)l, (void)s;
    return NN_OK;
}

static const nn_layer_class shifty_class = {"shifty", NULL, shifty_create, shifty_describe, NULL};

/* ---- SGD with Nesterov momentum by hand: state "velocity", scalar state "t" -------------- */

typedef struct nesterov {
    double mu;
    float *v;
    size_t *off, *size, n;
    uint64_t t;
    int lie; /* 1: state() claims one element more than it has; 2: a view without data */
} nesterov;

static nn_status nv_setup(nn_optim *o, const nn_tensor *params, size_t n)
{
    nesterov *nv = o->impl;
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += params[i].size;
    float *v = calloc(total + 1, sizeof *v);
    size_t *off = calloc(n + 1, sizeof *off), *size = calloc(n + 1, sizeof *size);
    if (v == NULL || off == NULL || size == NULL) {
        free(v), free(off), free(size);
        return NN_ERR_NOMEM;
    }
    for (size_t i = 0, at = 0; i < n; at += params[i].size, i++) {
        off[i] = at;
        size[i] = params[i].size;
    }
    free(nv->v), free(nv->off), free(nv->size);
    nv->v = v, nv->off = off, nv->size = size, nv->n = n, nv->t = 0;
    return NN_OK;
}

static nn_status nv_step(nn_optim *o, nn_tensor *params, const nn_tensor *grads, size_t n)
{
    nesterov *nv = o->impl;
    if (n != nv->n)
        return NN_ERR_STATE;
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < params[i].size; k++) {
            float *v = &nv->v[nv->off[i] + k], g = grads[i].data[k];
            *v = (float)nv->mu * *v + g;
            params[i].data[k] -= (float)o->lr * (g + (float)nv->mu * *v);
        }
    nv->t++;
    return NN_OK;
}

static void nv_destroy(nn_optim *o)
{
    nesterov *nv = o->impl;
    free(nv->v), free(nv->off), free(nv->size), free(nv);
}

static nn_status nv_state(nn_optim *o, const char *name, size_t i, nn_tensor *view)
{
    nesterov *nv = o->impl;
    if (strcmp(name, "velocity") != 0 || i >= nv->n)
        return NN_ERR_INVALID_ARG;
    *view = nn_tensor_view1d(nv->lie == 2 ? NULL : nv->v + nv->off[i], nv->size[i] + (nv->lie == 1));
    return NN_OK;
}

static const nn_optim_ops nesterov_ops = {"nesterov", nv_setup, nv_step, nv_destroy, nv_state};

static nn_optim *nesterov_new(double lr, double mu)
{
    nesterov *nv = calloc(1, sizeof *nv);
    assert_non_null(nv);
    nv->mu = mu;
    nn_optim *o = NULL;
    assert_ok(nn_optim_new(&nesterov_ops, nv, lr, &o));
    return o;
}

static nn_status nv_create(const nn_optim_class *c, const nn_settings *s, nn_optim **out)
{
    static const char *const known[] = {"lr", "momentum", NULL};
    (void)c;
    double lr = 0.01, mu = 0.9;
    nn_status st = nn_settings_check_keys(s, "nesterov", known);
    if (st == NN_OK)
        st = nn_settings_get_float(s, "lr", &lr);
    if (st == NN_OK)
        st = nn_settings_get_float(s, "momentum", &mu);
    if (st == NN_OK)
        *out = nesterov_new(lr, mu);
    return st;
}

static nn_status nv_describe(const nn_optim_class *c, const nn_optim *o, nn_settings *s)
{
    (void)c;
    nn_status st = nn_settings_set_float(s, "lr", o->lr);
    return st == NN_OK ? nn_settings_set_float(s, "momentum", ((nesterov *)o->impl)->mu) : st;
}

static nn_status nv_get_state(const nn_optim_class *c, const nn_optim *o, nn_settings *s)
{
    (void)c;
    return nn_settings_set_uint(s, "t", ((const nesterov *)o->impl)->t);
}

static nn_status nv_set_state(const nn_optim_class *c, nn_optim *o, const nn_settings *s)
{
    (void)c;
    return nn_settings_get_uint(s, "t", &((nesterov *)o->impl)->t);
}

static const char *const nv_names[] = {"velocity", NULL};
static const nn_optim_class nesterov_class = {"nesterov",   nv_create,    nv_describe, nv_names,
                                              nv_get_state, nv_set_state, NULL};

/* ---- helpers ---------------------------------------------------------------------------- */

static float xs[8 * 3], ts[8 * 2];

static void data(nn_tensor *x, nn_tensor *t)
{
    for (int i = 0; i < 8 * 3; i++)
        xs[i] = (float)((i * 7) % 11) / 11.0f - 0.5f;
    for (int i = 0; i < 8 * 2; i++)
        ts[i] = (float)((i * 3) % 5) / 5.0f;
    *x = nn_tensor_view2d(xs, 8, 3);
    *t = nn_tensor_view2d(ts, 8, 2);
}

/* 3 -> dense 2 [-> extra] with MSE and optim, parameters from seed 5. */
static nn_net *small_net(nn_layer *extra, nn_optim *optim)
{
    nn_net *net = NULL;
    assert_ok(nn_net_new(3, &net));
    assert_ok(nn_net_add(net, nn_test_dense(2, nn_init_normal(0, 1), nn_init_normal(0, 1))));
    if (extra != NULL)
        assert_ok(nn_net_add(net, extra));
    nn_rng rng;
    nn_rng_seed(&rng, 5, 0);
    assert_ok(nn_net_init_params(net, &rng));
    nn_loss *mse = NULL;
    assert_ok(nn_loss_mse_new(&mse));
    assert_ok(nn_net_set_loss(net, mse, 2));
    if (optim != NULL)
        assert_ok(nn_net_set_optim(net, optim));
    return net;
}

static nn_model *load(const void *buf, size_t n, const nn_registry *reg)
{
    nn_model *m = NULL;
    assert_ok(nn_model_load_buffer(buf, n, reg, &m));
    return m;
}

/* net wrapped in *m (which then owns it), saved to memory with reg and loaded back. */
static nn_model *save_and_load(nn_net *net, const nn_registry *reg, nn_model **m)
{
    assert_ok(nn_model_new(net, m));
    void *buf = NULL;
    size_t n = 0;
    assert_ok(nn_model_save_buffer(*m, reg, 0, &buf, &n));
    nn_model *back = load(buf, n, reg);
    nn_model_buffer_free(buf);
    return back;
}

/* a and b, trained side by side for steps steps on (x, t), end with the same
 * parameters, bit for bit. */
static void assert_train_alike(nn_net *a, nn_net *b, const nn_tensor *x, const nn_tensor *t,
                               int steps)
{
    for (int i = 0; i < steps; i++) {
        assert_ok(nn_net_train_step(a, x, t, NULL));
        assert_ok(nn_net_train_step(b, x, t, NULL));
    }
    size_t count = 0;
    float *p = nn_net_params(a, &count);
    assert_true(nn_test_params_equal(b, p, count));
}

/* ---- tests ---------------------------------------------------------------------------------- */

/* The loader checks each layer's parameter shapes with one build, then nn_net_add builds
 * the layer again: a build that declares other parameters the second time wrote the
 * file's floats through a NULL tensor (a crash) or into a larger parameter (a model half
 * read, without an error). */
static void test_load_checks_shapes_after_adding(void **state)
{
    (void)state;
    nn_registry *reg = NULL;
    assert_ok(nn_registry_new(&reg));
    assert_ok(nn_registry_add_layer(reg, &shifty_class));
    nn_net *net = small_net(shifty_new(0), NULL);
    nn_model *m = NULL;
    assert_ok(nn_model_new(net, &m));
    void *buf = NULL;
    size_t n = 0;
    assert_ok(nn_model_save_buffer(m, reg, 0, &buf, &n));
    shifty_mode = 0;
    nn_model *back = load(buf, n, reg);
    nn_model_free(back);
    for (shifty_mode = 1; shifty_mode <= 2; shifty_mode++) {
        back = (nn_model *)&back;
        assert_error(nn_model_load_buffer(buf, n, reg, &back), NN_ERR_FORMAT,
                     "nn_model_load_buffer", "when added");
        assert_null(back);
    }
    nn_model_buffer_free(buf);
    nn_model_free(m);
    nn_registry_free(reg);
}

/* A user optimizer round-trips through a model file and resumes bit for bit. */
static void test_user_optimizer_resumes_exactly(void **state)
{
    (void)state;
    nn_tensor x, t;
    data(&x, &t);
    nn_registry *reg = NULL;
    assert_ok(nn_registry_new(&reg));
    assert_ok(nn_registry_add_optim(reg, &nesterov_class));
    nn_net *net = small_net(NULL, nesterov_new(0.05, 0.9));
    for (int i = 0; i < 3; i++)
        assert_ok(nn_net_train_step(net, &x, &t, NULL));
    nn_model *m = NULL;
    nn_model *back = save_and_load(net, reg, &m);
    nn_net *b = nn_model_net(back);
    assert_int_equal(((nesterov *)nn_net_optim(b)->impl)->t, 3);
    assert_train_alike(net, b, &x, &t, 3);
    nn_model_free(back);
    nn_model_free(m);
    nn_registry_free(reg);
}

/* Whether the optimizer's state is current is the network's to say (layers added since
 * nn_net_set_optim make its next step start the state again), not a guess from the
 * buffers' sizes: a layer without parameters changed no size, the state was saved, and
 * the loaded copy trained on with it while the original started again. */
static void test_stale_state_after_layer_without_parameters(void **state)
{
    (void)state;
    nn_tensor x, t;
    data(&x, &t);
    nn_optim *adam = NULL;
    assert_ok(nn_optim_new_by_kind(NN_OPTIM_ADAM, 0.05, &adam));
    nn_net *net = small_net(NULL, adam);
    for (int i = 0; i < 3; i++)
        assert_ok(nn_net_train_step(net, &x, &t, NULL));
    assert_ok(nn_net_add(net, nn_test_sigmoid()));
    nn_model *m = NULL;
    nn_model *back = save_and_load(net, NULL, &m);
    nn_net *b = nn_model_net(back);
    assert_train_alike(net, b, &x, &t, 2);
    nn_model_free(back);
    nn_model_free(m);
}

/* A user optimizer whose state() gives views that are not its parameters' shape: the
 * save dropped the whole state without a word (training did not resume), or read
 * through a NULL pointer. */
static void test_save_refuses_inconsistent_state_views(void **state)
{
    (void)state;
    nn_tensor x, t;
    data(&x, &t);
    nn_registry *reg = NULL;
    assert_ok(nn_registry_new(&reg));
    assert_ok(nn_registry_add_optim(reg, &nesterov_class));
    nn_optim *o = nesterov_new(0.05, 0.9);
    nn_net *net = small_net(NULL, o);
    assert_ok(nn_net_train_step(net, &x, &t, NULL));
    nn_model *m = NULL;
    assert_ok(nn_model_new(net, &m));
    void *buf = NULL;
    size_t n = 0;
    ((nesterov *)o->impl)->lie = 1;
    assert_error(nn_model_save_buffer(m, reg, 0, &buf, &n), NN_ERR_STATE, "nn_model_save_buffer",
                 "'velocity'", "7 elements", "has 6");
    assert_null(buf);
    ((nesterov *)o->impl)->lie = 2;
    assert_error(nn_model_save_buffer(m, reg, 0, &buf, &n), NN_ERR_STATE, "without data");
    assert_null(buf);
    ((nesterov *)o->impl)->lie = 0;
    assert_ok(nn_model_save_buffer(m, reg, 0, &buf, &n));
    nn_model_buffer_free(buf);
    nn_model_free(m);
    nn_registry_free(reg);
}

/* Optimizer classes whose files nn_model_load would refuse are refused when registered:
 * the save wrote them all the same. */
static void test_registry_refuses_unloadable_optimizer_classes(void **state)
{
    (void)state;
    nn_registry *reg = NULL;
    assert_ok(nn_registry_new(&reg));
    static char long_name[300];
    memset(long_name, 'v', sizeof long_name - 1);
    static const char *const too_long[] = {long_name, NULL};
    static const char *const empty[] = {"", NULL};
    static const char *const twice[] = {"velocity", "velocity", NULL};
    nn_optim_class c = nesterov_class;
    c.state_names = too_long;
    assert_error(nn_registry_add_optim(reg, &c), NN_ERR_INVALID_ARG, "nn_registry_add_optim",
                 "255");
    c.state_names = empty;
    assert_error(nn_registry_add_optim(reg, &c), NN_ERR_INVALID_ARG, "empty");
    c.state_names = twice;
    assert_error(nn_registry_add_optim(reg, &c), NN_ERR_INVALID_ARG, "twice");
    c = nesterov_class;
    c.set_state = NULL;
    assert_error(nn_registry_add_optim(reg, &c), NN_ERR_INVALID_ARG, "set_state");
    assert_null(nn_registry_optim(reg, "nesterov"));
    c.get_state = NULL; /* neither: a fine class (its state restarts from the buffers) */
    assert_ok(nn_registry_add_optim(reg, &c));
    nn_registry_free(reg);
}

/* A spec's numbers are finite: a user layer described with an infinite setting was
 * written as "inf", which the reader takes for a word and refuses. */
static nn_status inf_describe(const nn_layer_class *c, const nn_layer *l, nn_settings *s)
{
    (void)c;
    return nn_settings_set_float(s, "limit", ((const shifty *)l->impl)->limit);
}

static nn_status inf_create(const nn_layer_class *c, const nn_settings *s, nn_layer **out)
{
    double limit = 0.0;
    (void)c;
    nn_status st = nn_settings_get_float(s, "limit", &limit);
    if (st == NN_OK) {
        *out = shifty_new(0);
        ((shifty *)(*out)->impl)->limit = limit;
    }
    return st;
}

static void test_spec_write_refuses_nonfinite_settings(void **state)
{
    (void)state;
    static const nn_layer_class inf_class = {"shifty", NULL, inf_create, inf_describe, NULL};
    nn_registry *reg = NULL;
    assert_ok(nn_registry_new(&reg));
    assert_ok(nn_registry_add_layer(reg, &inf_class));
    nn_layer *l = shifty_new(0);
    ((shifty *)l->impl)->limit = 2.5;
    nn_net *net = small_net(l, NULL);
    char *text = NULL;
    assert_ok(nn_spec_to_string(net, NULL, reg, &text));
    assert_non_null(strstr(text, "shifty limit=2.5"));
    nn_spec_string_free(text);
    ((shifty *)l->impl)->limit = INFINITY;
    text = (char *)&text;
    assert_error(nn_spec_to_string(net, NULL, reg, &text), NN_ERR_INVALID_ARG,
                 "nn_spec_to_string", "'limit'", "inf");
    assert_null(text);
    nn_net_free(net);
    nn_registry_free(reg);
}

/* A user layer that fails without a message: the message names the call. */
static void test_silent_layer_failures_name_the_call(void **state)
{
    (void)state;
    nn_tensor x, t;
    data(&x, &t);
    nn_layer *l = shifty_new(0);
    nn_optim *sgd = NULL;
    assert_ok(nn_optim_sgd_new(0.1, &sgd));
    nn_net *net = small_net(l, sgd);
    ((shifty *)l->impl)->fail = 1;
    float out[16];
    nn_tensor y = nn_tensor_view2d(out, 8, 2);
    const nn_tensor *yp = NULL;
    double loss = 0;
    assert_error(nn_net_forward(net, &x, 0, &yp), NN_ERR_INVALID_ARG, "nn_net_forward: layer 1 ('shifty')");
    assert_error(nn_net_predict(net, &x, &y), NN_ERR_INVALID_ARG, "nn_net_predict: layer 1");
    assert_error(nn_net_train_step(net, &x, &t, &loss), NN_ERR_INVALID_ARG, "nn_net_train_step: layer 1");
    assert_error(nn_net_compute_grads(net, &x, &t, &loss), NN_ERR_INVALID_ARG,
                 "nn_net_compute_grads: layer 1");
    assert_error(nn_net_eval_loss(net, &x, &t, &loss), NN_ERR_INVALID_ARG, "nn_net_eval_loss",
                 "layer 1");
    ((shifty *)l->impl)->fail = 0;
    assert_ok(nn_net_forward(net, &x, 1, &yp));
    ((shifty *)l->impl)->fail = 1;
    float g[16] = {0};
    nn_tensor dy = nn_tensor_view2d(g, 8, 2);
    assert_error(nn_net_backward(net, &dy, NULL), NN_ERR_NUMERIC, "nn_net_backward: layer 1");
    nn_net_free(net);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_checks_shapes_after_adding),
        cmocka_unit_test(test_user_optimizer_resumes_exactly),
        cmocka_unit_test(test_stale_state_after_layer_without_parameters),
        cmocka_unit_test(test_save_refuses_inconsistent_state_views),
        cmocka_unit_test(test_registry_refuses_unloadable_optimizer_classes),
        cmocka_unit_test(test_spec_write_refuses_nonfinite_settings),
        cmocka_unit_test(test_silent_layer_failures_name_the_call),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
