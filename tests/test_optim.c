/* test_optim.c - SGD's update arithmetic, the learning rate rules, the generic
 * optimizer interface with an optimizer written here, and the errors. */
#include "nn_test.h"

static void test_sgd_update_exact(void **state)
{
    (void)state;
    /* lr = 0.125 is a power of two, so lr * g is exact and p - lr * g is the one
     * correctly rounded float whether or not the BLAS fuses the multiply-add. */
    float p0[5] = {1.0f, -2.0f, 3.5f, 0.1f, 1e-3f}, g0[5] = {0.5f, 0.25f, -1.0f, 0.3f, 7.0f};
    float q0[3] = {10, 20, 30}, h0[3] = {-8, 0, 8};
    float p[5], g[5], q[3], h[3];
    memcpy(p, p0, sizeof p);
    memcpy(g, g0, sizeof g);
    memcpy(q, q0, sizeof q);
    memcpy(h, h0, sizeof h);
    nn_tensor params[2] = {nn_tensor_view1d(p, 5), nn_tensor_view2d(q, 1, 3)};
    nn_tensor grads[2] = {nn_tensor_view1d(g, 5), nn_tensor_view2d(h, 1, 3)};
    nn_optim *sgd = NULL;
    assert_ok(nn_optim_sgd_new(0.125, &sgd));
    assert_true(sgd->lr == 0.125);
    assert_int_equal(sgd->step_count, 0);
    assert_string_equal(sgd->ops->name, "sgd");
    assert_ok(nn_optim_setup(sgd, params, 2));
    assert_ok(nn_optim_step(sgd, params, grads, 2));
    assert_int_equal(sgd->step_count, 1);
    for (int i = 0; i < 5; i++)
        assert_true(p[i] == p0[i] - 0.125f * g0[i]);
    for (int i = 0; i < 3; i++)
        assert_true(q[i] == q0[i] - 0.125f * h0[i]);
    /* Gradients are read, not changed. */
    assert_memory_equal(g, g0, sizeof g);
    assert_memory_equal(h, h0, sizeof h);

    /* Another step from the new point: p - 2 lr g in total. */
    assert_ok(nn_optim_step(sgd, params, grads, 2));
    assert_int_equal(sgd->step_count, 2);
    for (int i = 0; i < 5; i++)
        assert_true(p[i] == (p0[i] - 0.125f * g0[i]) - 0.125f * g0[i]);

    /* An lr that is not a power of two: within a float rounding. */
    memcpy(p, p0, sizeof p);
    assert_ok(nn_optim_set_lr(sgd, 0.1));
    assert_true(sgd->lr == 0.1);
    assert_ok(nn_optim_step(sgd, params, grads, 1));
    for (int i = 0; i < 5; i++)
        assert_close(p[i], (double)p0[i] - 0.1 * g0[i], 1e-6, 1e-9);

    /* lr = 0 is allowed and changes nothing. */
    memcpy(p, p0, sizeof p);
    assert_ok(nn_optim_set_lr(sgd, 0.0));
    assert_ok(nn_optim_step(sgd, params, grads, 2));
    assert_memory_equal(p, p0, sizeof p);
    assert_int_equal(sgd->step_count, 4);
    nn_optim_free(sgd);
    nn_optim_free(NULL);
}

static void test_learning_rate_errors(void **state)
{
    (void)state;
    nn_optim *o = (nn_optim *)&o;
    assert_error(nn_optim_sgd_new(-0.1, &o), NN_ERR_INVALID_ARG, "-0.1");
    assert_null(o);
    assert_status(nn_optim_sgd_new(NAN, &o), NN_ERR_INVALID_ARG);
    assert_status(nn_optim_sgd_new(INFINITY, &o), NN_ERR_INVALID_ARG);
    assert_status(nn_optim_sgd_new(-INFINITY, &o), NN_ERR_INVALID_ARG);
    assert_null(o);
    assert_status(nn_optim_sgd_new(0.1, NULL), NN_ERR_NULL_ARG);
    nn_adam_params ap = nn_adam_default_params();
    assert_error(nn_optim_adam_new_ex(&ap, NULL), NN_ERR_NULL_ARG,
                 "nn_optim_adam_new_ex: argument 'out' is NULL");

    assert_ok(nn_optim_sgd_new(0.5, &o));
    assert_error(nn_optim_set_lr(o, -1.0), NN_ERR_INVALID_ARG, "-1");
    assert_status(nn_optim_set_lr(o, NAN), NN_ERR_INVALID_ARG);
    assert_status(nn_optim_set_lr(o, INFINITY), NN_ERR_INVALID_ARG);
    assert_true(o->lr == 0.5); /* a rejected rate leaves the old one */
    assert_status(nn_optim_set_lr(NULL, 0.1), NN_ERR_NULL_ARG);
    nn_optim_free(o);
}

static void test_step_errors(void **state)
{
    (void)state;
    float p[6] = {1, 2, 3, 4, 5, 6}, g[6] = {1, 1, 1, 1, 1, 1};
    const float p0[6] = {1, 2, 3, 4, 5, 6};
    nn_tensor tp = nn_tensor_view2d(p, 2, 3);
    nn_tensor g_small = nn_tensor_view1d(g, 5);
    nn_optim *sgd = NULL;
    assert_ok(nn_optim_sgd_new(0.5, &sgd));
    assert_error(nn_optim_step(sgd, &tp, &g_small, 1), NN_ERR_SHAPE, "6", "5");
    assert_memory_equal(p, p0, sizeof p);
    /* Same element count, other shape: still not this parameter's gradient. */
    nn_tensor g_t = nn_tensor_view2d(g, 3, 2);
    assert_status(nn_optim_step(sgd, &tp, &g_t, 1), NN_ERR_SHAPE);
    assert_memory_equal(p, p0, sizeof p);

    nn_tensor g_ok = nn_tensor_view2d(g, 2, 3);
    /* A step at the largest count is refused instead of wrapping it to 0 (Adam would
     * divide by 1 - beta^0 = 0); the step before it is taken. */
    nn_optim *adam = NULL;
    assert_ok(nn_optim_new_by_kind(NN_OPTIM_ADAM, 0.1, &adam));
    assert_ok(nn_optim_setup(adam, &tp, 1));
    assert_ok(nn_optim_set_state_step(adam, UINT64_MAX - 1));
    assert_ok(nn_optim_step(adam, &tp, &g_ok, 1));
    uint64_t t = 0;
    assert_ok(nn_optim_get_state_step(adam, &t));
    assert_true(t == UINT64_MAX);
    float kept[6];
    memcpy(kept, p, sizeof p);
    assert_error(nn_optim_step(adam, &tp, &g_ok, 1), NN_ERR_STATE, "the most it can");
    assert_memory_equal(p, kept, sizeof p);
    for (int k = 0; k < 6; k++)
        assert_true(isfinite(p[k]));
    nn_optim_free(adam);
    memcpy(p, p0, sizeof p);
    /* Plain SGD, which does not use its count, stops it there; step_count, which a
     * user's step reads (1 on the first step), is refused at its largest. */
    assert_ok(nn_optim_setup(sgd, &tp, 1));
    assert_ok(nn_optim_set_state_step(sgd, UINT64_MAX));
    assert_ok(nn_optim_step(sgd, &tp, &g_ok, 1));
    assert_ok(nn_optim_get_state_step(sgd, &t));
    assert_true(t == UINT64_MAX);
    sgd->step_count = UINT64_MAX;
    memcpy(kept, p, sizeof p);
    assert_error(nn_optim_step(sgd, &tp, &g_ok, 1), NN_ERR_STATE, "the most it can");
    assert_true(sgd->step_count == UINT64_MAX);
    assert_memory_equal(p, kept, sizeof p);
    sgd->step_count = 0;
    memcpy(p, p0, sizeof p);
    assert_status(nn_optim_step(NULL, &tp, &g_ok, 1), NN_ERR_NULL_ARG);
    assert_status(nn_optim_step(sgd, NULL, &g_ok, 1), NN_ERR_NULL_ARG);
    assert_status(nn_optim_step(sgd, &tp, NULL, 1), NN_ERR_NULL_ARG);
    assert_status(nn_optim_setup(NULL, &tp, 1), NN_ERR_NULL_ARG);
    assert_memory_equal(p, p0, sizeof p);
    nn_optim_free(sgd);
}

/* ---- an optimizer written here: SGD with momentum (torch.optim.SGD's form,
 * v = mu v + g, p -= lr v), with per-parameter state from setup(). ---------------- */

typedef struct momentum {
    double mu;
    float **velocity; /* one buffer per parameter tensor */
    size_t n;
    int setups;
    uint64_t first_step_count; /* step_count seen by the first step() */
    int steps;
} momentum;

static int momentum_destroyed;

static void momentum_release(momentum *m)
{
    for (size_t i = 0; i < m->n; i++)
        free(m->velocity[i]);
    free(m->velocity);
    m->velocity = NULL;
    m->n = 0;
}

static nn_status momentum_setup(nn_optim *o, const nn_tensor *params, size_t n)
{
    momentum *m = o->impl;
    momentum_release(m); /* documented: setup again releases the old state */
    m->setups++;
    m->velocity = calloc(n, sizeof *m->velocity);
    if (m->velocity == NULL)
        return NN_ERR_NOMEM;
    m->n = n;
    for (size_t i = 0; i < n; i++) {
        m->velocity[i] = calloc(params[i].size, sizeof(float));
        if (m->velocity[i] == NULL)
            return NN_ERR_NOMEM;
    }
    return NN_OK;
}

static nn_status momentum_step(nn_optim *o, nn_tensor *params, const nn_tensor *grads, size_t n)
{
    momentum *m = o->impl;
    if (m->steps++ == 0)
        m->first_step_count = o->step_count;
    if (n != m->n)
        return NN_ERR_STATE;
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < params[i].size; k++) {
            float *v = &m->velocity[i][k];
            *v = (float)(m->mu * *v) + grads[i].data[k];
            params[i].data[k] -= (float)o->lr * *v;
        }
    return NN_OK;
}

static void momentum_destroy(nn_optim *o)
{
    momentum *m = o->impl;
    momentum_release(m);
    free(m);
    momentum_destroyed++;
}

static const nn_optim_ops momentum_ops = {
    .name = "momentum",
    .setup = momentum_setup,
    .step = momentum_step,
    .destroy = momentum_destroy,
};

static nn_optim *momentum_new(double lr, double mu, momentum **impl)
{
    momentum *m = calloc(1, sizeof *m);
    assert_non_null(m);
    m->mu = mu;
    nn_optim *o = NULL;
    assert_ok(nn_optim_new(&momentum_ops, m, lr, &o));
    assert_ptr_equal(o->impl, m);
    assert_true(o->lr == lr);
    assert_int_equal(o->step_count, 0);
    if (impl != NULL)
        *impl = m;
    return o;
}

/* A state op that fails without a message: nn_optim_state says which call failed
 * (a model load named whatever error came before). */
static nn_status silent_state(nn_optim *o, const char *name, size_t i, nn_tensor *view)
{
    (void)o;
    (void)name;
    (void)i;
    (void)view;
    return NN_ERR_INVALID_ARG;
}

static void test_user_state_fails_silently(void **state)
{
    (void)state;
    nn_optim_ops ops = momentum_ops;
    ops.state = silent_state;
    ops.destroy = NULL; /* m is on the stack */
    momentum m = {0};
    nn_optim *o = NULL;
    assert_ok(nn_optim_new(&ops, &m, 0.1, &o));
    nn_tensor v;
    assert_error(nn_optim_state(o, "velocity", 3, &v), NN_ERR_INVALID_ARG,
                 "nn_optim_state: optimizer 'momentum' has no state 'velocity' for tensor 3");
    nn_optim_free(o);
}

static void test_user_optimizer(void **state)
{
    (void)state;
    momentum_destroyed = 0;
    momentum *m = NULL;
    nn_optim *o = momentum_new(0.5, 0.5, &m);
    float p[2] = {1, 1}, g[2] = {1, -2};
    nn_tensor tp = nn_tensor_view1d(p, 2), tg = nn_tensor_view1d(g, 2);
    assert_ok(nn_optim_setup(o, &tp, 1));
    assert_int_equal(m->setups, 1);
    assert_ok(nn_optim_step(o, &tp, &tg, 1));
    assert_int_equal(m->first_step_count, 1); /* incremented before step() */
    /* v = g, p = 1 - 0.5 g; then v = 0.5 g + g = 1.5 g, p -= 0.75 g. */
    assert_true(p[0] == 0.5f && p[1] == 2.0f);
    assert_ok(nn_optim_step(o, &tp, &tg, 1));
    assert_true(p[0] == -0.25f && p[1] == 3.5f);
    assert_int_equal(o->step_count, 2);
    /* A second setup replaces the state (the old is released: ASan would see a leak). */
    assert_ok(nn_optim_setup(o, &tp, 1));
    assert_int_equal(m->setups, 2);
    nn_optim_free(o);
    assert_int_equal(momentum_destroyed, 1);

    /* Constructor errors leave impl with the caller. */
    momentum on_stack = {0};
    nn_optim *bad = (nn_optim *)&bad;
    assert_error(nn_optim_new(NULL, &on_stack, 0.1, &bad), NN_ERR_NULL_ARG, "nn_optim_new");
    assert_null(bad);
    nn_optim_ops ops = momentum_ops;
    ops.step = NULL;
    assert_error(nn_optim_new(&ops, &on_stack, 0.1, &bad), NN_ERR_NULL_ARG, "momentum");
    assert_status(nn_optim_new(&momentum_ops, &on_stack, -1.0, &bad), NN_ERR_INVALID_ARG);
    assert_status(nn_optim_new(&momentum_ops, &on_stack, NAN, &bad), NN_ERR_INVALID_ARG);
    assert_status(nn_optim_new(&momentum_ops, &on_stack, 0.1, NULL), NN_ERR_NULL_ARG);
    assert_null(bad);
    /* setup and destroy are optional. */
    ops = momentum_ops;
    ops.setup = NULL;
    ops.destroy = NULL;
    assert_ok(nn_optim_new(&ops, &on_stack, 0.1, &bad));
    assert_ok(nn_optim_setup(bad, &tp, 1));
    nn_optim_free(bad);
}

/* Inside a network: set_optim sets the optimizer up for every parameter tensor of
 * every layer, in order; training uses it; replacing it frees the old one. */
static void test_user_optimizer_in_network(void **state)
{
    (void)state;
    momentum_destroyed = 0;
    nn_net *net = nn_test_mlp(2, 3, 1, 5);
    nn_loss *mse = NULL;
    assert_ok(nn_loss_mse_new(&mse));
    assert_ok(nn_net_set_loss(net, mse, 1));
    momentum *m = NULL;
    nn_optim *o = momentum_new(0.5, 0.9, &m);
    assert_ok(nn_net_set_optim(net, o));
    assert_ptr_equal(nn_net_optim(net), o);
    assert_int_equal(m->setups, 1);
    assert_int_equal(m->n, 4); /* W1, b1, W2, b2 */

    float x[8] = {-2, -1, 25, 6, 17, 4, -15, -6}, t[4] = {1, 0, 0, 1};
    nn_tensor tx = nn_tensor_view2d(x, 4, 2), tt = nn_tensor_view2d(t, 4, 1);
    size_t np = 0;
    float *before = nn_test_params_copy(net, &np);
    assert_ok(nn_net_train_step(net, &tx, &tt, NULL));
    assert_int_equal(o->step_count, 1);
    assert_int_equal(m->steps, 1);
    /* The first momentum step is plain SGD: p - lr g. */
    size_t ng = 0;
    const float *p = nn_net_params(net, &np), *g = nn_net_grads(net, &ng);
    assert_int_equal(ng, np);
    for (size_t k = 0; k < np; k++)
        assert_true(p[k] == before[k] - 0.5f * g[k]);

    /* Replacing the optimizer releases the old one. */
    nn_optim *sgd = NULL;
    assert_ok(nn_optim_sgd_new(0.1, &sgd));
    assert_ok(nn_net_set_optim(net, sgd));
    assert_int_equal(momentum_destroyed, 1);
    assert_ptr_equal(nn_net_optim(net), sgd);
    free(before);
    nn_net_free(net);
}

/* An optimizer whose setup fails: set_optim fails, nothing changes, the optimizer
 * stays the caller's. */
static nn_status failing_setup(nn_optim *o, const nn_tensor *params, size_t n)
{
    (void)o;
    (void)params;
    (void)n;
    return NN_ERR_NOMEM;
}

static void test_set_optim_failure(void **state)
{
    (void)state;
    static const nn_optim_ops ops = {
        .name = "failing", .setup = failing_setup, .step = momentum_step, .destroy = NULL};
    nn_net *net = nn_test_mlp(2, 2, 1, 1);
    nn_optim *sgd = NULL, *bad = NULL;
    assert_ok(nn_optim_sgd_new(0.1, &sgd));
    assert_ok(nn_net_set_optim(net, sgd));
    int impl = 0;
    assert_ok(nn_optim_new(&ops, &impl, 0.1, &bad));
    /* The user's setup() records no message: nn_optim_setup writes one. */
    assert_error(nn_net_set_optim(net, bad), NN_ERR_NOMEM, "failing");
    assert_ptr_equal(nn_net_optim(net), sgd); /* unchanged */
    nn_optim_free(bad);                       /* still ours */
    assert_status(nn_net_set_optim(net, NULL), NN_ERR_NULL_ARG);
    assert_status(nn_net_set_optim(NULL, sgd), NN_ERR_NULL_ARG);
    nn_net_free(net);
}

static void test_step_never_allocates(void **state)
{
    (void)state;
    nn_test_alloc_install();
    float p[64] = {0}, g[64];
    for (int i = 0; i < 64; i++)
        g[i] = (float)i;
    nn_tensor tp = nn_tensor_view2d(p, 8, 8), tg = nn_tensor_view2d(g, 8, 8);
    nn_optim *sgd = NULL;
    assert_ok(nn_optim_sgd_new(0.01, &sgd));
    assert_ok(nn_optim_setup(sgd, &tp, 1));
    nn_test_alloc_count_from_now();
    for (int s = 0; s < 100; s++)
        assert_ok(nn_optim_step(sgd, &tp, &tg, 1));
    assert_int_equal(nn_test_alloc()->calls, 0);

    /* The constructor's only allocation failing. */
    nn_optim_free(sgd);
    for (size_t n = 1;; n++) {
        nn_test_alloc_fail_nth(n);
        sgd = (nn_optim *)&n;
        nn_clear_error();
        nn_status st = nn_optim_sgd_new(0.1, &sgd);
        if (nn_test_alloc()->failed == 0) {
            assert_ok(st);
            break;
        }
        assert_status_was(st, NN_ERR_NOMEM);
        assert_null(sgd);
        assert_int_equal(nn_test_alloc()->live, 0);
    }
    nn_optim_free(sgd);
    assert_int_equal(nn_test_alloc()->live, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sgd_update_exact),
        cmocka_unit_test(test_learning_rate_errors),
        cmocka_unit_test(test_step_errors),
        cmocka_unit_test(test_user_optimizer),
        cmocka_unit_test(test_user_state_fails_silently),
        cmocka_unit_test(test_user_optimizer_in_network),
        cmocka_unit_test(test_set_optim_failure),
        cmocka_unit_test_teardown(test_step_never_allocates, nn_test_alloc_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
