/* test_losses_torch.c - every built-in loss against PyTorch, and its gradient by
 * finite differences.
 *
 * The fixture tests/reference/losses.txt (written by gen_losses.py) holds, for each
 * case below, inputs, the loss value and dL/dpred from torch autograd in float32,
 * for mean and sum reduction. nn computes in double and rounds the gradient to
 * float once, torch computes in float32, so the two differ by float32 rounding:
 * values and gradients must agree within REL_TOL relative plus ABS_TOL absolute
 * (for elements that are 0 or nearly: softmax - onehot and 0 * 1e12 in float).
 *
 * The gradient checks compare each loss's analytic gradient with central
 * differences of its double value around float inputs, and run nn_net_check_grads
 * on a small dense network ending in each loss.
 */
#include "nn_test.h"
#include "nn_fixture.h"

/* Fixture agreement: relative to the torch value, plus an absolute floor that
 * covers float32 cancellation in torch's own arithmetic (about 6e-8 of O(1) terms). */
#define REL_TOL 1e-5
#define ABS_TOL 1e-7

/* Finite differences: step and tolerance (relative to max(1, |gradient|)). */
#define FD_STEP 1e-4
#define FD_TOL  1e-5

/* nn_net_check_grads's step and the largest error it may report. */
#define NET_FD_STEP 1e-3
#define NET_FD_TOL  2e-3

static nn_fixture *fx;

/* ---- building losses ------------------------------------------------------------------ */

static nn_loss *make_loss(nn_loss_kind kind, double param, nn_reduction red)
{
    nn_loss *loss = NULL;
    if (kind == NN_LOSS_HUBER && param == param)
        assert_ok(nn_loss_huber_new(param, &loss));
    else if (kind == NN_LOSS_SMOOTH_L1 && param == param)
        assert_ok(nn_loss_smooth_l1_new(param, &loss));
    else
        assert_ok(nn_loss_new_by_kind(kind, &loss));
    assert_non_null(loss);
    assert_ok(nn_loss_set_reduction(loss, red));
    return loss;
}

static const nn_reduction reductions[2] = {NN_REDUCTION_MEAN, NN_REDUCTION_SUM};
static const char *const reduction_names[2] = {"mean", "sum"};

/* ---- every loss x reduction against the fixture ---------------------------------------- */

typedef struct torch_case {
    const char *prefix;
    nn_loss_kind kind;
} torch_case;

/* The prefixes gen_losses.py writes; huber/smooth_l1 cases read their parameter from
 * PREFIX_param. */
static const torch_case cases[] = {
    {"mse_basic", NN_LOSS_MSE},
    {"mse_large", NN_LOSS_MSE},
    {"mse_kinks", NN_LOSS_MSE},
    {"mae_basic", NN_LOSS_MAE},
    {"mae_large", NN_LOSS_MAE},
    {"mae_kinks", NN_LOSS_MAE},
    {"huber_basic", NN_LOSS_HUBER},
    {"huber_kinks", NN_LOSS_HUBER},
    {"huber_kinks_d05", NN_LOSS_HUBER},
    {"huber_kinks_d2", NN_LOSS_HUBER},
    {"huber_large", NN_LOSS_HUBER},
    {"smooth_l1_basic", NN_LOSS_SMOOTH_L1},
    {"smooth_l1_kinks", NN_LOSS_SMOOTH_L1},
    {"smooth_l1_kinks_b05", NN_LOSS_SMOOTH_L1},
    {"smooth_l1_kinks_b2", NN_LOSS_SMOOTH_L1},
    {"smooth_l1_kinks_b0", NN_LOSS_SMOOTH_L1},
    {"smooth_l1_large", NN_LOSS_SMOOTH_L1},
    {"bce_basic", NN_LOSS_BCE},
    {"bce_edges", NN_LOSS_BCE},
    {"bce_logits_basic", NN_LOSS_BCE_LOGITS},
    {"bce_logits_large", NN_LOSS_BCE_LOGITS},
    {"ce_idx_basic", NN_LOSS_CROSS_ENTROPY},
    {"ce_idx_large", NN_LOSS_CROSS_ENTROPY},
    {"ce_idx_two_classes", NN_LOSS_CROSS_ENTROPY},
    {"ce_prob_basic", NN_LOSS_CROSS_ENTROPY},
    {"ce_prob_onehot", NN_LOSS_CROSS_ENTROPY},
    {"ce_prob_large", NN_LOSS_CROSS_ENTROPY},
    {"nll_basic", NN_LOSS_NLL},
    {"nll_large", NN_LOSS_NLL},
};
#define N_CASES (sizeof cases / sizeof cases[0])
#define N_KINDS 8

/* The largest deviation from torch seen per loss kind: relative where torch's number
 * is not 0, absolute where it is. */
typedef struct deviation {
    double value_rel, grad_rel, grad_abs_at_zero;
} deviation;

static void note_deviation(double a, double e, double *rel, double *abs_at_zero)
{
    double d = fabs(a - e);
    if (e != 0.0) {
        if (d / fabs(e) > *rel)
            *rel = d / fabs(e);
    } else if (abs_at_zero != NULL && d > *abs_at_zero) {
        *abs_at_zero = d;
    }
}

static void test_every_loss_matches_torch(void **state)
{
    (void)state;
    char name[160];
    deviation dev[N_KINDS];
    memset(dev, 0, sizeof dev);

    /* Every case in the fixture is in the table (and so is tested). */
    size_t in_fixture = 0;
    for (size_t i = 0; i < fx->count; i++) {
        size_t len = strlen(fx->entries[i].name);
        in_fixture += len > 5 && strcmp(fx->entries[i].name + len - 5, "_pred") == 0;
    }
    assert_int_equal(in_fixture, N_CASES);

    for (size_t c = 0; c < N_CASES; c++) {
        const torch_case *tc = &cases[c];
        snprintf(name, sizeof name, "%s_pred", tc->prefix);
        const nn_tensor *pred = nn_fixture_get(fx, name);
        snprintf(name, sizeof name, "%s_target", tc->prefix);
        const nn_tensor *target = nn_fixture_get(fx, name);
        snprintf(name, sizeof name, "%s_param", tc->prefix);
        double param = nn_fixture_has(fx, name) ? nn_fixture_get(fx, name)->data[0] : NAN;
        if (tc->kind == NN_LOSS_HUBER || tc->kind == NN_LOSS_SMOOTH_L1)
            assert_true(param == param);

        for (int r = 0; r < 2; r++) {
            snprintf(name, sizeof name, "%s_%s_value", tc->prefix, reduction_names[r]);
            double want = nn_fixture_get(fx, name)->data[0];
            snprintf(name, sizeof name, "%s_%s_grad", tc->prefix, reduction_names[r]);
            const nn_tensor *want_grad = nn_fixture_get(fx, name);

            nn_loss *loss = make_loss(tc->kind, param, reductions[r]);
            nn_tensor *grad = NULL;
            assert_ok(nn_tensor_new2d(pred->shape[0], pred->shape[1], &grad));
            double value = NAN, value_only = NAN;
            assert_ok(nn_loss_eval(loss, pred, target, &value, grad));
            assert_ok(nn_loss_eval(loss, pred, target, &value_only, NULL));

            snprintf(name, sizeof name, "%s %s", tc->prefix, reduction_names[r]);
            if (!(fabs(value - want) <= REL_TOL * fabs(want) + ABS_TOL))
                fail_msg("%s: value %.9g, torch %.9g", name, value, want);
            assert_true(value == value_only);
            nn_assert_tensor_close(grad, want_grad, REL_TOL, ABS_TOL, name);

            deviation *d = &dev[tc->kind];
            note_deviation(value, want, &d->value_rel, NULL);
            for (size_t i = 0; i < grad->size; i++)
                note_deviation(grad->data[i], want_grad->data[i], &d->grad_rel,
                               &d->grad_abs_at_zero);
            nn_tensor_free(grad);
            nn_loss_free(loss);
        }
    }
    for (int k = 0; k < N_KINDS; k++)
        print_message("  %-13s max deviation from torch: value %.2e rel, grad %.2e rel, "
                      "%.2e abs where torch's is 0\n",
                      nn_loss_kind_name((nn_loss_kind)k), dev[k].value_rel, dev[k].grad_rel,
                      dev[k].grad_abs_at_zero);
}

/* ---- finite differences on the loss alone ---------------------------------------------- */

typedef struct fd_case {
    const char *what;
    nn_loss_kind kind;
    double param; /* NAN: the default */
    size_t tcols; /* pred is (3, 4), target (3, tcols) */
    const float *pred;
    const float *target;
} fd_case;

/* Inputs at least 0.1 away from every kink (d = 0, |d| = delta or beta), probabilities
 * in [0.05, 0.95]. */
static const float reg_pred[12] = {0.3f,  -1.2f, 2.5f, 0.9f,  -0.4f, 1.1f,
                                   -2.0f, 0.05f, 1.7f, -0.8f, 0.6f,  3.0f};
static const float reg_target[12] = {0.1f,  0.7f,  0.4f, 0.5f,   -0.1f, -0.6f,
                                     -1.8f, 0.35f, 0.2f, -0.45f, 1.5f,  0.0f};
static const float prob_pred[12] = {0.05f, 0.3f, 0.5f,  0.95f, 0.7f, 0.2f,
                                    0.6f,  0.1f, 0.85f, 0.4f,  0.5f, 0.9f};
static const float binary_target[12] = {0.0f,  1.0f, 1.0f, 0.0f, 1.0f, 0.0f,
                                        0.25f, 1.0f, 0.5f, 0.0f, 1.0f, 0.9f};
static const float logit_pred[12] = {-4.0f, -0.5f, 0.0f,  3.0f, 1.2f, -2.2f,
                                     0.4f,  6.0f,  -6.0f, 0.9f, 2.0f, -1.0f};
static const float index_target[3] = {2.0f, 0.0f, 1.0f};
static const float row_target[12] = {0.1f, 0.2f, 0.3f, 0.4f,  0.0f, 1.0f,
                                     0.0f, 0.0f, 0.5f, 0.25f, 0.0f, 0.0f};
static const float logprob_pred[12] = {-1.5f, -1.2f,  -2.5f, -0.9f, -0.4f, -1.1f,
                                       -2.0f, -3.05f, -1.7f, -0.8f, -0.6f, -3.0f};
static const float nll_target[3] = {3.0f, 1.0f, 0.0f};

static const fd_case fd_cases[] = {
    {"mse", NN_LOSS_MSE, NAN, 4, reg_pred, reg_target},
    {"mae", NN_LOSS_MAE, NAN, 4, reg_pred, reg_target},
    {"huber", NN_LOSS_HUBER, NAN, 4, reg_pred, reg_target},
    {"huber delta 0.5", NN_LOSS_HUBER, 0.5, 4, reg_pred, reg_target},
    {"smooth_l1", NN_LOSS_SMOOTH_L1, NAN, 4, reg_pred, reg_target},
    {"smooth_l1 beta 2", NN_LOSS_SMOOTH_L1, 2.0, 4, reg_pred, reg_target},
    {"smooth_l1 beta 0", NN_LOSS_SMOOTH_L1, 0.0, 4, reg_pred, reg_target},
    {"bce", NN_LOSS_BCE, NAN, 4, prob_pred, binary_target},
    {"bce_logits", NN_LOSS_BCE_LOGITS, NAN, 4, logit_pred, binary_target},
    {"cross_entropy indices", NN_LOSS_CROSS_ENTROPY, NAN, 1, reg_pred, index_target},
    {"cross_entropy probabilities", NN_LOSS_CROSS_ENTROPY, NAN, 4, reg_pred, row_target},
    {"nll", NN_LOSS_NLL, NAN, 1, logprob_pred, nll_target},
};

static double eval_value(const nn_loss *loss, const nn_tensor *pred, const nn_tensor *target)
{
    double v = NAN;
    assert_ok(nn_loss_eval(loss, pred, target, &v, NULL));
    return v;
}

static void test_gradients_by_finite_differences(void **state)
{
    (void)state;
    for (size_t c = 0; c < sizeof fd_cases / sizeof fd_cases[0]; c++) {
        const fd_case *fc = &fd_cases[c];
        float p[12], t[12], g[12];
        memcpy(p, fc->pred, sizeof p);
        memcpy(t, fc->target, 3 * fc->tcols * sizeof(float));
        nn_tensor pred = nn_tensor_view2d(p, 3, 4);
        nn_tensor target = nn_tensor_view2d(t, 3, fc->tcols);
        nn_tensor grad = nn_tensor_view2d(g, 3, 4);
        for (int r = 0; r < 2; r++) {
            nn_loss *loss = make_loss(fc->kind, fc->param, reductions[r]);
            double value;
            assert_ok(nn_loss_eval(loss, &pred, &target, &value, &grad));
            double worst = 0.0;
            for (size_t k = 0; k < pred.size; k++) {
                float saved = p[k];
                p[k] = (float)(saved + FD_STEP);
                double hp = (double)p[k] - saved; /* the step float rounding allowed */
                double lp = eval_value(loss, &pred, &target);
                p[k] = (float)(saved - FD_STEP);
                double hm = saved - (double)p[k];
                double lm = eval_value(loss, &pred, &target);
                p[k] = saved;
                double numeric = (lp - lm) / (hp + hm);
                double err = fabs(numeric - g[k]) / fmax(1.0, fabs(numeric));
                if (err > worst)
                    worst = err;
                if (!(err <= FD_TOL))
                    fail_msg("%s (%s): dL/dpred[%zu] = %.9g, central difference %.9g", fc->what,
                             reduction_names[r], k, (double)g[k], numeric);
            }
            print_message("  %-28s %-4s finite-difference error %.2e\n", fc->what,
                          reduction_names[r], worst);
            nn_loss_free(loss);
        }
    }
}

/* ---- nn_net_check_grads on dense -> loss ------------------------------------------------ */

/* x (5, 3) -> dense 4 [-> sigmoid for bce] -> loss, with targets for that loss. For the
 * piecewise losses the targets are placed from the network's own output, at distances
 * of 0.3 and 2.1 (inside and beyond delta = beta = 1), far from every kink. */
static void check_net(nn_loss_kind kind, double *err)
{
    nn_net *net = NULL;
    assert_ok(nn_net_new(3, &net));
    assert_ok(nn_net_add(net, nn_test_dense(4, nn_init_normal(0, 1), nn_init_normal(0, 0.5))));
    if (kind == NN_LOSS_BCE)
        assert_ok(nn_net_add(net, nn_test_sigmoid()));
    nn_rng rng;
    nn_rng_seed(&rng, 7, (uint64_t)kind);
    assert_ok(nn_net_init_params(net, &rng));

    float xs[15], ts[20];
    for (size_t i = 0; i < 15; i++)
        xs[i] = (float)(2.0 * nn_rng_uniform(&rng) - 1.0);
    nn_tensor x = nn_tensor_view2d(xs, 5, 3);
    const nn_tensor *y = NULL;
    assert_ok(nn_net_forward(net, &x, 0, &y));

    size_t tw = 4;
    for (size_t i = 0; i < 20; i++) {
        switch (kind) {
        case NN_LOSS_MSE:
        case NN_LOSS_MAE:
        case NN_LOSS_HUBER:
        case NN_LOSS_SMOOTH_L1:
            ts[i] = y->data[i] + (i % 2 ? 0.3f : -2.1f);
            break;
        case NN_LOSS_BCE:
        case NN_LOSS_BCE_LOGITS:
            ts[i] = (float)(i % 3) * 0.5f;
            break;
        case NN_LOSS_CROSS_ENTROPY:
            ts[i] = (float)((i % 4) + 1) / 10.0f; /* probability rows summing to 1 */
            break;
        case NN_LOSS_NLL:
            break;
        }
    }
    if (kind == NN_LOSS_NLL) {
        tw = 1;
        for (size_t i = 0; i < 5; i++)
            ts[i] = (float)(i % 4);
    }
    nn_tensor target = nn_tensor_view2d(ts, 5, tw);
    nn_loss *loss = NULL;
    assert_ok(nn_loss_new_by_kind(kind, &loss));
    assert_ok(nn_net_set_loss(net, loss, tw));
    assert_ok(nn_net_check_grads(net, &x, &target, NET_FD_STEP, err));

    /* Cross-entropy with class indices on the same network. */
    if (kind == NN_LOSS_CROSS_ENTROPY) {
        double err_idx;
        nn_loss *ce = NULL;
        for (size_t i = 0; i < 5; i++)
            ts[i] = (float)((i + 2) % 4);
        assert_ok(nn_loss_cross_entropy_new(&ce));
        assert_ok(nn_net_set_loss(net, ce, 1));
        target = nn_tensor_view2d(ts, 5, 1);
        assert_ok(nn_net_check_grads(net, &x, &target, NET_FD_STEP, &err_idx));
        *err = fmax(*err, err_idx);
    }
    nn_net_free(net);
}

static void test_net_check_grads_every_loss(void **state)
{
    (void)state;
    for (int k = 0; k < N_KINDS; k++) {
        double err = 1.0;
        check_net((nn_loss_kind)k, &err);
        print_message("  %-13s nn_net_check_grads max error %.2e\n",
                      nn_loss_kind_name((nn_loss_kind)k), err);
        if (!(err <= NET_FD_TOL))
            fail_msg("%s: nn_net_check_grads error %.3g > %.3g", nn_loss_kind_name((nn_loss_kind)k),
                     err, NET_FD_TOL);
    }
}

/* ---- edges ---------------------------------------------------------------------------- */

static void test_bce_exact_zero_and_one_are_finite(void **state)
{
    (void)state;
    /* (p, t): agreeing edges cost 0, opposite ones 100 (log clamped at -100), the
     * gradient (p - t) / max(p (1 - p), 1e-12). */
    float p[6] = {0.0f, 1.0f, 0.0f, 1.0f, 0.0f, 1.0f};
    float t[6] = {0.0f, 1.0f, 1.0f, 0.0f, 0.5f, 0.5f};
    const double want_g[6] = {0.0, 0.0, -1e12, 1e12, -0.5e12, 0.5e12};
    float g[6];
    nn_tensor pred = nn_tensor_view2d(p, 3, 2), target = nn_tensor_view2d(t, 3, 2);
    nn_tensor grad = nn_tensor_view2d(g, 3, 2);
    nn_loss *bce = make_loss(NN_LOSS_BCE, NAN, NN_REDUCTION_SUM);
    double value;
    assert_ok(nn_loss_eval(bce, &pred, &target, &value, &grad));
    assert_true(isfinite(value));
    assert_true(nn_tensor_all_finite(&grad));
    assert_close(value, 100.0 + 100.0 + 50.0 + 50.0, 1e-12, 0.0);
    assert_all_close(g, want_g, 6, 1e-6, 0.0);
    assert_true(g[0] == 0.0f && g[1] == 0.0f);

    assert_ok(nn_loss_set_reduction(bce, NN_REDUCTION_MEAN));
    assert_ok(nn_loss_eval(bce, &pred, &target, &value, &grad));
    assert_close(value, 300.0 / 6.0, 1e-12, 0.0);
    assert_close(g[2], -1e12 / 6.0, 1e-6, 0.0);
    nn_loss_free(bce);
}

static void test_bce_rejects_non_probabilities(void **state)
{
    (void)state;
    float p[4] = {0.5f, 0.5f, 1.5f, 0.5f}, t[4] = {1.0f, 0.0f, 1.0f, 0.0f};
    nn_tensor pred = nn_tensor_view2d(p, 2, 2), target = nn_tensor_view2d(t, 2, 2);
    nn_loss *bce = make_loss(NN_LOSS_BCE, NAN, NN_REDUCTION_MEAN);
    double value;
    assert_error(nn_loss_eval(bce, &pred, &target, &value, NULL), NN_ERR_INVALID_ARG, "(1, 0)",
                 "1.5");
    p[2] = -0.25f;
    assert_error(nn_loss_eval(bce, &pred, &target, &value, NULL), NN_ERR_INVALID_ARG, "-0.25");
    p[2] = NAN;
    assert_error(nn_loss_eval(bce, &pred, &target, &value, NULL), NN_ERR_NUMERIC, "(1, 0)");
    nn_loss_free(bce);
}

static void test_logits_of_1e4_are_finite(void **state)
{
    (void)state;
    float x[8] = {1e4f, -1e4f, 0.0f, 1e4f, -1e4f, 1e4f, -1e4f, -1e4f};
    float g[8];
    nn_tensor logits = nn_tensor_view2d(x, 2, 4), grad = nn_tensor_view2d(g, 2, 4);
    double value;

    /* BCE with logits, sum: max(x, 0) - x t + log1p(exp(-|x|)). */
    float tb[8] = {0.0f, 1.0f, 0.5f, 1.0f, 0.0f, 1.0f, 1.0f, 0.25f};
    nn_tensor target = nn_tensor_view2d(tb, 2, 4);
    nn_loss *loss = make_loss(NN_LOSS_BCE_LOGITS, NAN, NN_REDUCTION_SUM);
    assert_ok(nn_loss_eval(loss, &logits, &target, &value, &grad));
    assert_true(nn_tensor_all_finite(&grad));
    assert_close(value, 1e4 + 1e4 + log(2.0) + 0 + 0 + 0 + 1e4 + 0.25 * 1e4, 1e-12, 0.0);
    const double want_b[8] = {1.0, -1.0, 0.0, 0.0, 0.0, 0.0, -1.0, -0.25};
    assert_all_close(g, want_b, 8, 1e-7, 1e-12);
    nn_loss_free(loss);

    /* Cross-entropy, class indices, mean over the 2 rows. Row 0: lse = 1e4 + log 2;
     * row 1: lse = 1e4. */
    float ti[2] = {1.0f, 1.0f};
    target = nn_tensor_view2d(ti, 2, 1);
    loss = make_loss(NN_LOSS_CROSS_ENTROPY, NAN, NN_REDUCTION_MEAN);
    assert_ok(nn_loss_eval(loss, &logits, &target, &value, &grad));
    assert_true(nn_tensor_all_finite(&grad));
    assert_close(value, ((2e4 + log(2.0)) + 0.0) / 2.0, 1e-12, 0.0);
    const double want_c[8] = {0.25, -0.5, 0.0, 0.25, 0.0, 0.0, 0.0, 0.0};
    assert_all_close(g, want_c, 8, 1e-7, 1e-12);

    /* The same with one-hot probability rows. */
    float th[8] = {0, 1, 0, 0, 0, 1, 0, 0};
    target = nn_tensor_view2d(th, 2, 4);
    double value_rows;
    assert_ok(nn_loss_eval(loss, &logits, &target, &value_rows, &grad));
    assert_close(value_rows, value, 1e-15, 0.0);
    assert_all_close(g, want_c, 8, 1e-7, 1e-12);
    nn_loss_free(loss);
}

/* ---- errors ----------------------------------------------------------------------------- */

static void test_bad_class_index(void **state)
{
    (void)state;
    float x[12] = {0};
    float g[12];
    nn_tensor logits = nn_tensor_view2d(x, 3, 4), grad = nn_tensor_view2d(g, 3, 4);
    nn_loss_kind kinds[2] = {NN_LOSS_CROSS_ENTROPY, NN_LOSS_NLL};
    struct {
        float bad;
        const char *shown;
    } bad[] = {{4.0f, "4"},       {-1.0f, "-1"}, {1.5f, "1.5"},
               {-100.0f, "-100"}, {NAN, "nan"},  {INFINITY, "inf"}};
    nn_test_alloc_install();
    for (int k = 0; k < 2; k++) {
        nn_loss *loss = make_loss(kinds[k], NAN, NN_REDUCTION_MEAN);
        nn_test_alloc_count_from_now();
        for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
            float t[3] = {0.0f, 3.0f, bad[b].bad};
            nn_tensor target = nn_tensor_view2d(t, 3, 1);
            for (size_t i = 0; i < 12; i++)
                g[i] = 42.0f;
            double value = 42.0;
            assert_error(nn_loss_eval(loss, &logits, &target, &value, &grad), NN_ERR_INVALID_ARG,
                         nn_loss_kind_name(kinds[k]), "row 2", bad[b].shown, "[0, 4)");
            /* Checked before anything is written. */
            assert_true(value == 42.0);
            for (size_t i = 0; i < 12; i++)
                assert_true(g[i] == 42.0f);
        }
        assert_int_equal(nn_test_alloc()->calls, 0);
        nn_loss_free(loss);
    }
    assert_int_equal(nn_test_alloc()->live, 0);
}

static void test_width_mismatches(void **state)
{
    (void)state;
    float a[12] = {0}, b[12] = {0};
    double value;
    nn_tensor p34 = nn_tensor_view2d(a, 3, 4), t33 = nn_tensor_view2d(b, 3, 3);
    nn_tensor t32 = nn_tensor_view2d(b, 3, 2), p31 = nn_tensor_view2d(a, 3, 1);
    nn_tensor t31 = nn_tensor_view2d(b, 3, 1), t24 = nn_tensor_view2d(b, 2, 4);

    for (int k = NN_LOSS_MSE; k <= NN_LOSS_BCE_LOGITS; k++) {
        nn_loss *loss = make_loss((nn_loss_kind)k, NAN, NN_REDUCTION_MEAN);
        assert_error(nn_loss_eval(loss, &p34, &t33, &value, NULL), NN_ERR_SHAPE,
                     nn_loss_kind_name((nn_loss_kind)k), "4", "3");
        assert_error(nn_loss_eval(loss, &p34, &t31, &value, NULL), NN_ERR_SHAPE, "4", "1");
        nn_loss_free(loss);
    }

    nn_loss *ce = make_loss(NN_LOSS_CROSS_ENTROPY, NAN, NN_REDUCTION_MEAN);
    assert_error(nn_loss_eval(ce, &p34, &t32, &value, NULL), NN_ERR_SHAPE, "cross_entropy",
                 "width 2", "4 classes");
    assert_error(nn_loss_eval(ce, &p31, &t31, &value, NULL), NN_ERR_SHAPE, "cross_entropy",
                 "width 1", "ambiguous");
    /* A different batch size is caught before the loss sees the widths. */
    assert_error(nn_loss_eval(ce, &p34, &t24, &value, NULL), NN_ERR_SHAPE, "3", "2");
    nn_loss_free(ce);

    nn_loss *nll = make_loss(NN_LOSS_NLL, NAN, NN_REDUCTION_MEAN);
    assert_error(nn_loss_eval(nll, &p34, &t33, &value, NULL), NN_ERR_SHAPE, "nll", "width 3");
    float t[3] = {0, 0, 0};
    nn_tensor idx = nn_tensor_view2d(t, 3, 1);
    assert_ok(nn_loss_eval(nll, &p31, &idx, &value, NULL)); /* one class is allowed, as torch */
    nn_loss_free(nll);

    /* nn_net_set_loss asks the same question and leaves the loss with the caller. */
    nn_net *net = NULL;
    assert_ok(nn_net_new(3, &net));
    assert_ok(nn_net_add(net, nn_test_dense(4, nn_init_zeros(), nn_init_zeros())));
    ce = make_loss(NN_LOSS_CROSS_ENTROPY, NAN, NN_REDUCTION_MEAN);
    assert_error(nn_net_set_loss(net, ce, 3), NN_ERR_SHAPE, "cross_entropy");
    assert_ok(nn_net_set_loss(net, ce, 1));
    nn_net_free(net);
}

static void test_names_and_kinds(void **state)
{
    (void)state;
    static const char *const names[N_KINDS] = {"mse", "mae",        "huber",         "smooth_l1",
                                               "bce", "bce_logits", "cross_entropy", "nll"};
    for (int k = 0; k < N_KINDS; k++) {
        nn_loss_kind kind = (nn_loss_kind)-1;
        assert_string_equal(nn_loss_kind_name((nn_loss_kind)k), names[k]);
        assert_ok(nn_loss_kind_from_name(names[k], &kind));
        assert_int_equal(kind, k);
        nn_loss *loss = NULL;
        assert_ok(nn_loss_new_by_kind(kind, &loss));
        assert_string_equal(loss->ops->name, names[k]);
        assert_int_equal(loss->reduction, NN_REDUCTION_MEAN);
        nn_loss_free(loss);
    }
    /* The enum's published values. */
    assert_int_equal(NN_LOSS_MSE, 0);
    assert_int_equal(NN_LOSS_NLL, 7);
    assert_null(nn_loss_kind_name((nn_loss_kind)N_KINDS));

    nn_loss_kind kind = NN_LOSS_MAE;
    assert_error(nn_loss_kind_from_name("hinge", &kind), NN_ERR_INVALID_ARG, "'hinge'", "mse",
                 "nll");
    assert_int_equal(kind, NN_LOSS_MAE);
    assert_error(nn_loss_kind_from_name("MSE", &kind), NN_ERR_INVALID_ARG, "'MSE'");
    assert_error(nn_loss_kind_from_name("", &kind), NN_ERR_INVALID_ARG, "''");
    assert_status(nn_loss_kind_from_name(NULL, &kind), NN_ERR_NULL_ARG);
    assert_status(nn_loss_kind_from_name("mse", NULL), NN_ERR_NULL_ARG);

    nn_loss *loss = (nn_loss *)&kind; /* must be reset to NULL on error */
    assert_error(nn_loss_new_by_kind((nn_loss_kind)N_KINDS, &loss), NN_ERR_INVALID_ARG, "8");
    assert_null(loss);
    assert_status(nn_loss_new_by_kind(NN_LOSS_MSE, NULL), NN_ERR_NULL_ARG);
}

static void test_bad_parameters(void **state)
{
    (void)state;
    nn_loss *loss = NULL;
    const double bad_delta[] = {0.0, -1.0, -0.0, NAN, INFINITY, -INFINITY};
    for (size_t i = 0; i < sizeof bad_delta / sizeof bad_delta[0]; i++) {
        loss = (nn_loss *)&loss;
        assert_error(nn_loss_huber_new(bad_delta[i], &loss), NN_ERR_INVALID_ARG, "delta");
        assert_null(loss);
    }
    const double bad_beta[] = {-1e-6, -1.0, NAN, INFINITY};
    for (size_t i = 0; i < sizeof bad_beta / sizeof bad_beta[0]; i++) {
        loss = (nn_loss *)&loss;
        assert_error(nn_loss_smooth_l1_new(bad_beta[i], &loss), NN_ERR_INVALID_ARG, "beta");
        assert_null(loss);
    }
    assert_ok(nn_loss_smooth_l1_new(0.0, &loss)); /* the L1 loss, as torch */
    nn_loss_free(loss);
    assert_ok(nn_loss_huber_new(1e-30, &loss));
    nn_loss_free(loss);
    assert_status(nn_loss_huber_new(1.0, NULL), NN_ERR_NULL_ARG);
    assert_status(nn_loss_set_reduction(NULL, NN_REDUCTION_SUM), NN_ERR_NULL_ARG);
}

/* Constructors fail cleanly when memory runs out; evaluation allocates nothing. */
static void test_allocation(void **state)
{
    (void)state;
    nn_test_alloc_install();
    for (int k = 0; k < N_KINDS; k++) {
        for (size_t n = 1; n <= 2; n++) {
            nn_loss *loss = (nn_loss *)&n;
            nn_test_alloc_fail_nth(n);
            nn_status st = nn_loss_new_by_kind((nn_loss_kind)k, &loss);
            if (st == NN_OK) { /* needed fewer than n allocations */
                nn_loss_free(loss);
                continue;
            }
            assert_int_equal(st, NN_ERR_NOMEM);
            assert_null(loss);
            assert_int_equal(nn_test_alloc()->live, 0);
        }
    }
    nn_test_alloc_count_from_now();

    float p[12], t[12], g[12];
    for (size_t i = 0; i < 12; i++) {
        p[i] = 0.05f + 0.07f * (float)i;
        t[i] = (float)(i % 4);
    }
    nn_tensor pred = nn_tensor_view2d(p, 3, 4), grad = nn_tensor_view2d(g, 3, 4);
    for (int k = 0; k < N_KINDS; k++) {
        nn_loss *loss = make_loss((nn_loss_kind)k, NAN, NN_REDUCTION_MEAN);
        int idx = k == NN_LOSS_NLL || k == NN_LOSS_CROSS_ENTROPY;
        nn_tensor target = nn_tensor_view2d(t, 3, idx ? 1 : 4);
        if (!idx)
            for (size_t i = 0; i < 12; i++)
                t[i] = (float)(i % 2);
        nn_test_alloc_count_from_now();
        double value;
        assert_ok(nn_loss_eval(loss, &pred, &target, &value, &grad));
        assert_ok(nn_loss_eval(loss, &pred, &target, &value, NULL));
        assert_int_equal(nn_test_alloc()->calls, 0);
        nn_loss_free(loss);
        for (size_t i = 0; i < 12; i++)
            t[i] = (float)(i % 4);
    }
    assert_int_equal(nn_test_alloc()->live, 0);
}

/* ---- main ----------------------------------------------------------------------------------- */

static int load_fixture(void **state)
{
    (void)state;
    fx = nn_fixture_load("losses.txt");
    return 0;
}

static int free_fixture(void **state)
{
    (void)state;
    nn_fixture_free(fx);
    fx = NULL;
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_loss_matches_torch),
        cmocka_unit_test(test_gradients_by_finite_differences),
        cmocka_unit_test(test_net_check_grads_every_loss),
        cmocka_unit_test(test_bce_exact_zero_and_one_are_finite),
        cmocka_unit_test(test_bce_rejects_non_probabilities),
        cmocka_unit_test(test_logits_of_1e4_are_finite),
        cmocka_unit_test_teardown(test_bad_class_index, nn_test_alloc_teardown),
        cmocka_unit_test(test_width_mismatches),
        cmocka_unit_test(test_names_and_kinds),
        cmocka_unit_test(test_bad_parameters),
        cmocka_unit_test_teardown(test_allocation, nn_test_alloc_teardown),
    };
    return cmocka_run_group_tests(tests, load_fixture, free_fixture);
}
