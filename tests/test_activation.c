/* test_activation.c - every activation layer against PyTorch, by finite differences,
 * at extreme inputs, and its constructors, names and errors.
 *
 * The fixture tests/reference/activations.txt (written by gen_activations.py) holds
 * one awkward input x (6, 7), one upstream gradient dy, and for each case below the
 * output y and the input gradient dx from torch autograd, both in float32 (NAME_y,
 * NAME_dx) and computed in float64 then rounded (NAME_y64, NAME_dx64).
 *
 * Tolerances, |nn - ref| <= REL_TOL |ref| + abs:
 *   REL_TOL 1e-5 against both references: the target, a few float32 roundings of
 *     an O(1) computation.
 *   ABS_TOL_F64 2e-7 against the float64 reference. Where a value is tiny because
 *     two O(1) quantities nearly cancel, float32 leaves an absolute error of a few
 *     ulps of those quantities (6e-8 each) whatever the method: nn writes the
 *     derivatives of sigmoid and tanh with the output, y (1 - y) and 1 - y^2, as
 *     torch does, which at x = 7 are 6e-8 absolute from the exact value.
 *   ABS_TOL_F32 1e-6 against torch in float32, which is itself that far off where
 *     it cancels and nn does not: torch's GELU-tanh derivative at x = -5 (from
 *     1 + tanh(u) and 1 - tanh(u)^2 in float) is 1e-6 from the exact value, its
 *     GELU at x = -3 (1 + erf in float) 1.7e-7; nn uses x sigma(2u) and erfc.
 *   The largest deviations from both are printed.
 */
#include <float.h>

#include "nn_test.h"
#include "nn_fixture.h"

#define REL_TOL     1e-5
#define ABS_TOL_F64 2e-7
#define ABS_TOL_F32 1e-6

/* nn_net_check_grads's step and the largest error it may report (relative to
 * max(1, |gradient|)): central differences of a float32 network's loss in double
 * have an error of about 1e-7 |L| / step from the forward's rounding. */
#define NET_FD_STEP 1e-3
#define NET_FD_TOL  2e-3

static nn_fixture *fx;

static int load_fixture(void **state)
{
    (void)state;
    fx = nn_fixture_load("activations.txt");
    return 0;
}

static int free_fixture(void **state)
{
    (void)state;
    nn_fixture_free(fx);
    fx = NULL;
    return 0;
}

/* ---- the cases ------------------------------------------------------------------------ */

typedef struct act_case {
    const char *name; /* the fixture's prefix */
    nn_activation_kind kind;
    int n_params; /* 0: nn_activation_new (defaults); 1: new_param; 2: softplus_new */
} act_case;

static const act_case cases[] = {
    {"identity", NN_ACT_IDENTITY, 0},
    {"sigmoid", NN_ACT_SIGMOID, 0},
    {"relu", NN_ACT_RELU, 0},
    {"leaky_relu", NN_ACT_LEAKY_RELU, 0},
    {"leaky_relu_p", NN_ACT_LEAKY_RELU, 1},
    {"elu", NN_ACT_ELU, 0},
    {"elu_p", NN_ACT_ELU, 1},
    {"tanh", NN_ACT_TANH, 0},
    {"softplus", NN_ACT_SOFTPLUS, 0},
    {"softplus_p", NN_ACT_SOFTPLUS, 2},
    {"gelu", NN_ACT_GELU, 0},
    {"gelu_tanh", NN_ACT_GELU_TANH, 0},
    {"silu", NN_ACT_SILU, 0},
    {"softmax", NN_ACT_SOFTMAX, 0},
    {"log_softmax", NN_ACT_LOG_SOFTMAX, 0},
};
#define N_CASES (sizeof cases / sizeof cases[0])

/* Every kind once, with its default parameters. */
static const nn_activation_kind all_kinds[] = {
    NN_ACT_IDENTITY,  NN_ACT_SIGMOID, NN_ACT_RELU,     NN_ACT_LEAKY_RELU,
    NN_ACT_ELU,       NN_ACT_TANH,    NN_ACT_SOFTPLUS, NN_ACT_GELU,
    NN_ACT_GELU_TANH, NN_ACT_SILU,    NN_ACT_SOFTMAX,  NN_ACT_LOG_SOFTMAX,
};
#define N_KINDS (sizeof all_kinds / sizeof all_kinds[0])

static double fixture_scalar(const char *prefix, const char *suffix)
{
    char name[128];
    snprintf(name, sizeof name, "%s%s", prefix, suffix);
    return nn_fixture_get(fx, name)->data[0];
}

static nn_layer *make_case(const act_case *c)
{
    nn_layer *l = NULL;
    if (c->n_params == 0)
        assert_ok(nn_activation_new(c->kind, &l));
    else if (c->n_params == 1)
        assert_ok(nn_activation_new_param(c->kind, fixture_scalar(c->name, "_param"), &l));
    else
        assert_ok(nn_softplus_new(fixture_scalar(c->name, "_param"),
                                  fixture_scalar(c->name, "_param2"), &l));
    assert_non_null(l);
    return l;
}

static nn_layer *make_kind(nn_activation_kind kind)
{
    nn_layer *l = NULL;
    assert_ok(nn_activation_new(kind, &l));
    assert_non_null(l);
    return l;
}

/* A network that is just the layer, taking width in. */
static nn_net *net_of(nn_layer *l, size_t in)
{
    nn_net *net = NULL;
    assert_ok(nn_net_new(in, &net));
    assert_ok(nn_net_add(net, l));
    return net;
}

/* ---- against PyTorch --------------------------------------------------------------------- */

/* The largest |a - e| and |a - e| / |e| (over |e| >= 1e-6) of two tensors. */
static void deviation(const nn_tensor *a, const nn_tensor *e, double *abs_dev, double *rel_dev)
{
    *abs_dev = 0.0;
    *rel_dev = 0.0;
    for (size_t i = 0; i < a->size; i++) {
        double d = fabs((double)a->data[i] - e->data[i]);
        if (d > *abs_dev)
            *abs_dev = d;
        if (fabs(e->data[i]) >= 1e-6 && d / fabs(e->data[i]) > *rel_dev)
            *rel_dev = d / fabs(e->data[i]);
    }
}

static void compare(const char *name, const char *what, const nn_tensor *got)
{
    char key[128], label[160];
    for (int ref64 = 0; ref64 < 2; ref64++) {
        snprintf(key, sizeof key, "%s_%s%s", name, what, ref64 ? "64" : "");
        const nn_tensor *want = nn_fixture_get(fx, key);
        double a, r;
        deviation(got, want, &a, &r);
        print_message("%-14s %-3s vs torch %s: max abs %.3g, max rel %.3g\n", name, what,
                      ref64 ? "float64" : "float32", a, r);
        snprintf(label, sizeof label, "%s vs %s", key, ref64 ? "torch float64" : "torch float32");
        nn_assert_tensor_close(got, want, REL_TOL, ref64 ? ABS_TOL_F64 : ABS_TOL_F32, label);
    }
}

static void test_against_torch(void **state)
{
    (void)state;
    const nn_tensor *x = nn_fixture_get(fx, "x");
    const nn_tensor *dy = nn_fixture_get(fx, "dy");
    nn_tensor *dx = NULL;
    assert_ok(nn_tensor_new2d(x->shape[0], x->shape[1], &dx));
    for (size_t c = 0; c < N_CASES; c++) {
        nn_net *net = net_of(make_case(&cases[c]), x->shape[1]);
        const nn_tensor *y = NULL;
        assert_ok(nn_net_forward(net, x, 1, &y));
        compare(cases[c].name, "y", y);
        assert_ok(nn_net_backward(net, dy, dx));
        compare(cases[c].name, "dx", dx);
        /* Inference gives the same output. */
        assert_ok(nn_net_forward(net, x, 0, &y));
        compare(cases[c].name, "y", y);
        nn_net_free(net);
    }
    nn_tensor_free(dx);
}

/* ---- finite differences ------------------------------------------------------------------ */

/* dense(4 -> 5, weights N(0, 2)) -> activation -> MSE on a batch of 6, and for
 * softplus also with a small threshold so that the linear branch is crossed. */
static void check_grads_of(nn_layer *act, const char *what)
{
    nn_net *net = NULL;
    assert_ok(nn_net_new(4, &net));
    assert_ok(nn_net_add(net, nn_test_dense(5, nn_init_normal(0, 2), nn_init_normal(0, 1))));
    assert_ok(nn_net_add(net, act));
    nn_rng rng;
    nn_rng_seed(&rng, 7, 0);
    assert_ok(nn_net_init_params(net, &rng));
    nn_loss *mse = NULL;
    assert_ok(nn_loss_mse_new(&mse));
    assert_ok(nn_net_set_loss(net, mse, 5));
    nn_tensor *x = NULL, *t = NULL;
    assert_ok(nn_tensor_new2d(6, 4, &x));
    assert_ok(nn_tensor_new2d(6, 5, &t));
    for (size_t i = 0; i < x->size; i++)
        x->data[i] = (float)nn_rng_normal(&rng);
    for (size_t i = 0; i < t->size; i++)
        t->data[i] = (float)nn_rng_uniform(&rng);
    double err = -1.0;
    assert_ok(nn_net_check_grads(net, x, t, NET_FD_STEP, &err));
    print_message("%-14s finite differences: max error %.3g\n", what, err);
    if (!(err >= 0.0 && err < NET_FD_TOL))
        fail_msg("%s: nn_net_check_grads error %g >= %g", what, err, NET_FD_TOL);
    nn_tensor_free(x);
    nn_tensor_free(t);
    nn_net_free(net);
}

static void test_finite_differences(void **state)
{
    (void)state;
    for (size_t k = 0; k < N_KINDS; k++)
        check_grads_of(make_kind(all_kinds[k]), nn_activation_name(all_kinds[k]));
    nn_layer *l = NULL;
    assert_ok(nn_leaky_relu_new(-0.3, &l));
    check_grads_of(l, "leaky_relu -0.3");
    assert_ok(nn_elu_new(2.5, &l));
    check_grads_of(l, "elu 2.5");
    assert_ok(nn_softplus_new(3.0, 2.0, &l));
    check_grads_of(l, "softplus 3, 2");
}

/* ---- extreme inputs ------------------------------------------------------------------------- */

/* Forward and backward of every kind on rows of +-big mixed with ordinary values,
 * a row of +big only and one of -big only: everything finite. */
static void check_finite_at(float big)
{
    const float row[8] = {-big, big, -1.0f, 0.0f, 1.0f, -big, big, 0.5f};
    nn_tensor *x = NULL, *dy = NULL, *dx = NULL;
    assert_ok(nn_tensor_new2d(3, 8, &x));
    assert_ok(nn_tensor_new2d(3, 8, &dy));
    assert_ok(nn_tensor_new2d(3, 8, &dx));
    for (size_t j = 0; j < 8; j++) {
        x->data[j] = row[j];
        x->data[8 + j] = big;
        x->data[16 + j] = -big;
    }
    for (size_t i = 0; i < dy->size; i++)
        dy->data[i] = i % 2 ? 1.0f : -0.75f;
    for (size_t k = 0; k < N_KINDS; k++) {
        nn_net *net = net_of(make_kind(all_kinds[k]), 8);
        const nn_tensor *y = NULL;
        assert_ok(nn_net_forward(net, x, 1, &y));
        if (!nn_tensor_all_finite(y))
            fail_msg("%s forward at +-%g is not finite", nn_activation_name(all_kinds[k]), big);
        assert_ok(nn_net_backward(net, dy, dx));
        if (!nn_tensor_all_finite(dx))
            fail_msg("%s backward at +-%g is not finite", nn_activation_name(all_kinds[k]), big);
        nn_net_free(net);
    }
    nn_tensor_free(x);
    nn_tensor_free(dy);
    nn_tensor_free(dx);
}

static void test_finite_at_extremes(void **state)
{
    (void)state;
    check_finite_at(1e4f);
    check_finite_at(1e30f); /* beyond the promise: x^3 and x^2 overflow inside gelu */
}

/* Values that must come out exactly, whatever the rounding elsewhere. */
static void test_exact_values(void **state)
{
    (void)state;
    const float xs[6] = {-1e4f, -1.0f, 0.0f, 1.0f, 1e4f, 3.0f};
    nn_tensor x = nn_tensor_view2d((float *)xs, 2, 3);
    nn_tensor *dy = NULL, *dx = NULL;
    assert_ok(nn_tensor_new2d(2, 3, &dy));
    assert_ok(nn_tensor_new2d(2, 3, &dx));
    assert_ok(nn_tensor_fill(dy, 1.0f));
    const nn_tensor *y = NULL;

    /* Defaults: leaky_relu slope 0.01, elu alpha 1, and their derivatives at the kink. */
    nn_net *net = net_of(make_kind(NN_ACT_LEAKY_RELU), 3);
    assert_ok(nn_net_forward(net, &x, 1, &y));
    assert_close(y->data[0], -100.0, 1e-6, 0);
    assert_close(y->data[1], -0.01, 1e-6, 0);
    assert_ok(nn_net_backward(net, dy, dx));
    assert_close(dx->data[2], 0.01, 1e-6, 0); /* at 0: the slope, as torch */
    nn_net_free(net);

    net = net_of(make_kind(NN_ACT_ELU), 3);
    assert_ok(nn_net_forward(net, &x, 1, &y));
    assert_close(y->data[0], -1.0, 0, 0);
    assert_close(y->data[1], expm1(-1.0), 1e-6, 0);
    assert_ok(nn_net_backward(net, dy, dx));
    assert_close(dx->data[2], 1.0, 0, 0); /* at 0: alpha exp(0), as torch */
    nn_net_free(net);

    net = net_of(make_kind(NN_ACT_RELU), 3);
    assert_ok(nn_net_forward(net, &x, 1, &y));
    assert_close(y->data[0], 0.0, 0, 0);
    assert_close(y->data[4], 1e4, 0, 0);
    assert_ok(nn_net_backward(net, dy, dx));
    assert_close(dx->data[2], 0.0, 0, 0); /* at 0: 0, as torch */
    assert_close(dx->data[3], 1.0, 0, 0);
    nn_net_free(net);

    /* Softmax: each row sums to 1; a row of ties is uniform; with one huge value
     * the row is one-hot. */
    const float sm[12] = {3, 3, 3, 3, 1e4f, 0, -1, 1e4f - 1, 5, 5, -1e4f, 1};
    nn_tensor xs2 = nn_tensor_view2d((float *)sm, 3, 4);
    net = net_of(make_kind(NN_ACT_SOFTMAX), 4);
    assert_ok(nn_net_forward(net, &xs2, 1, &y));
    for (size_t i = 0; i < 3; i++) {
        double s = 0;
        for (size_t j = 0; j < 4; j++)
            s += y->data[4 * i + j];
        assert_close(s, 1.0, 1e-6, 0);
    }
    for (size_t j = 0; j < 4; j++)
        assert_close(y->data[j], 0.25, 0, 0);
    assert_close(y->data[4], 1.0 / (1.0 + exp(-1.0)), 1e-6, 0);
    assert_close(y->data[5], 0.0, 0, 0);
    assert_close(y->data[8], y->data[9], 0, 0); /* tied maxima share exactly */
    nn_net_free(net);

    /* Log-softmax of tied huge logits keeps its log: -log 2, -log 3 (torch's values);
     * the gradient through exp(y) is that of the softmax. */
    const float ls[9] = {1e16f, 1e16f, 0, 3e38f, 3e38f, 0, -3e38f, -3e38f, -3e38f};
    nn_tensor xl = nn_tensor_view2d((float *)ls, 3, 3);
    net = net_of(make_kind(NN_ACT_LOG_SOFTMAX), 3);
    assert_ok(nn_net_forward(net, &xl, 1, &y));
    for (size_t i = 0; i < 2; i++) {
        assert_close(y->data[3 * i], -log(2.0), 1e-7, 0);
        assert_close(y->data[3 * i + 1], -log(2.0), 1e-7, 0);
        assert_true(isinf(y->data[3 * i + 2]) || y->data[3 * i + 2] < -1e15f);
    }
    for (size_t j = 0; j < 3; j++)
        assert_close(y->data[6 + j], -log(3.0), 1e-7, 0);
    nn_net_free(net);

    nn_tensor_free(dy);
    nn_tensor_free(dx);
}

/* dx may be the same buffer as dy (elementwise or after the row's sum is taken). */
/* got is want or a float next to it: within one ulp of the correctly rounded value. */
static void assert_within_ulp(const char *what, float got, float want)
{
    if (!(got == want || got == nextafterf(want, INFINITY) || got == nextafterf(want, -INFINITY)))
        fail_msg("%s: got %a, the correctly rounded value is %a", what, (double)got, (double)want);
}

/* One input through a one-layer network: y and dy/dx (dy = 1). */
static void value_and_slope(nn_layer *l, float x, float *y, float *slope)
{
    nn_net *net = net_of(l, 1);
    nn_tensor xt = nn_tensor_view2d(&x, 1, 1);
    float one = 1.0f, d = 0.0f;
    nn_tensor dy = nn_tensor_view2d(&one, 1, 1), dx = nn_tensor_view2d(&d, 1, 1);
    const nn_tensor *yt = NULL;
    assert_ok(nn_net_forward(net, &xt, 1, &yt));
    *y = yt->data[0];
    assert_ok(nn_net_backward(net, &dy, &dx));
    *slope = d;
    nn_net_free(net);
}

/* The tails, against 50-digit mpmath values of the same float inputs. Computed in
 * float, the rounding of the argument grew to about x^2 ulps here (GELU at -10),
 * exp(-|x|) went subnormal (SiLU at -90), beta x was rounded (softplus), and
 * softmax's 1 - y_0 and log's 1 + r lost everything. */
static void test_tails_to_the_last_bit(void **state)
{
    (void)state;
    static const struct {
        nn_activation_kind kind;
        float x, y, slope;
    } tails[] = {
        {NN_ACT_GELU, -10.0f, -0x1.707936p-74f, -0x1.cc8108p-71f},
        {NN_ACT_GELU_TANH, -9.48f, -0x1.a44c86p-107f, -0x1.1040cap-102f},
        {NN_ACT_SILU, -90.0f, -0x1.918314p-124f, -0x1.8d0dp-124f},
        /* off by more than an ulp in the float formulas (GELU at -8.05: 63 ulps, where
         * -10 above was already within one), and the derivatives near their zeros */
        {NN_ACT_GELU, -0x1.017afcp+3f, -0x1.eeea86p-49f, -0x1.f18eap-46f},
        {NN_ACT_GELU, -0x1.80da72p-1f, -0x1.5c19dcp-3f, 0x1.c43672p-15f},
        {NN_ACT_GELU_TANH, -0x1.017afcp+3f, -0x1.cfda4p-70f, -0x1.bc71ap-66f},
        {NN_ACT_GELU_TANH, -0x1.813f6cp-1f, -0x1.5c3e54p-3f, 0x1.60c5a6p-17f},
    };
    for (size_t i = 0; i < sizeof tails / sizeof tails[0]; i++) {
        float y, slope;
        value_and_slope(make_kind(tails[i].kind), tails[i].x, &y, &slope);
        assert_within_ulp(nn_activation_name(tails[i].kind), y, tails[i].y);
        assert_within_ulp(nn_activation_name(tails[i].kind), slope, tails[i].slope);
    }
    nn_layer *sp = NULL;
    assert_ok(nn_softplus_new(0.7, 20.0, &sp)); /* z = 0.7f x (-103.5), exact in double */
    float y, slope;
    value_and_slope(sp, -103.5f, &y, &slope);
    assert_within_ulp("softplus", y, 0x1.fcedb4p-105f);
    assert_within_ulp("softplus slope", slope, 0x1.643ffep-105f);

    /* softmax of [44.54, 0] with dy = [1, 0]: dx_0 = y_0 y_1 = 4.53e-20, not 0 */
    float row[2] = {44.54f, 0.0f}, g[2] = {1.0f, 0.0f}, d[2];
    nn_tensor xt = nn_tensor_view2d(row, 1, 2), dyt = nn_tensor_view2d(g, 1, 2),
              dxt = nn_tensor_view2d(d, 1, 2);
    const nn_tensor *yt;
    nn_net *net = net_of(make_kind(NN_ACT_SOFTMAX), 2);
    assert_ok(nn_net_forward(net, &xt, 1, &yt));
    assert_ok(nn_net_backward(net, &dyt, &dxt));
    assert_within_ulp("softmax dx_0", d[0], 0x1.ac43f6p-65f);
    assert_within_ulp("softmax dx_1", d[1], -0x1.ac43f6p-65f);
    nn_net_free(net);
    /* log_softmax of [70, 0]: y_0 = -log1p(e^-70) = -3.98e-31, not 0 */
    row[0] = 70.0f;
    net = net_of(make_kind(NN_ACT_LOG_SOFTMAX), 2);
    assert_ok(nn_net_forward(net, &xt, 1, &yt));
    assert_within_ulp("log_softmax y_0", yt->data[0], -0x1.02057ep-101f);
    nn_net_free(net);
}

/* The rows' fixes that the points above do not pin, each off by more than an ulp in
 * the float formulas they replaced (softmax's x_j - m rounded in float: 64 ulps;
 * log-softmax's backward at its largest output, 1 - exp(y_a) = 0). 50-digit mpmath
 * values of the same floats. */
static void test_tails_pinned(void **state)
{
    (void)state;
    float row[3] = {0x1.03604p+0f, 0x1.e324e6p-5f, 0x1.50d648p+6f};
    nn_tensor xt = nn_tensor_view2d(row, 1, 3);
    const nn_tensor *yt;
    nn_net *net = net_of(make_kind(NN_ACT_SOFTMAX), 3);
    assert_ok(nn_net_forward(net, &xt, 1, &yt));
    assert_within_ulp("softmax y_0", yt->data[0], 0x1.f6a90cp-121f);
    assert_within_ulp("softmax y_1", yt->data[1], 0x1.832a58p-122f);
    nn_net_free(net);

    /* log_softmax of [40, 0] with dy = [1, 0]: dx_0 = 1 - p_0 = p_1 = 4.2e-18, not 0 */
    float x2[2] = {40.0f, 0.0f}, g[2] = {1.0f, 0.0f}, d[2];
    nn_tensor x2t = nn_tensor_view2d(x2, 1, 2), dyt = nn_tensor_view2d(g, 1, 2),
              dxt = nn_tensor_view2d(d, 1, 2);
    net = net_of(make_kind(NN_ACT_LOG_SOFTMAX), 2);
    assert_ok(nn_net_forward(net, &x2t, 1, &yt));
    assert_ok(nn_net_backward(net, &dyt, &dxt));
    assert_within_ulp("log_softmax dx_0", d[0], 0x1.397924p-58f);
    assert_within_ulp("log_softmax dx_1", d[1], -0x1.397924p-58f);
    nn_net_free(net);
}

static void test_backward_in_place(void **state)
{
    (void)state;
    const nn_tensor *x = nn_fixture_get(fx, "x");
    const nn_tensor *dy = nn_fixture_get(fx, "dy");
    nn_tensor *dx = NULL, *g = NULL;
    assert_ok(nn_tensor_new2d(x->shape[0], x->shape[1], &dx));
    assert_ok(nn_tensor_new2d(x->shape[0], x->shape[1], &g));
    for (size_t k = 0; k < N_KINDS; k++) {
        nn_layer *l = make_kind(all_kinds[k]);
        nn_net *net = net_of(l, x->shape[1]);
        const nn_tensor *y = NULL;
        assert_ok(nn_net_forward(net, x, 1, &y));
        assert_ok(l->ops->backward(l, x, y, dy, dx));
        assert_ok(nn_tensor_copy(g, dy));
        assert_ok(l->ops->backward(l, x, y, g, g));
        assert_memory_equal(g->data, dx->data, dx->size * sizeof(float));
        nn_net_free(net);
    }
    nn_tensor_free(dx);
    nn_tensor_free(g);
}

/* ---- no allocation on the hot path ----------------------------------------------------------- */

static void test_no_allocation(void **state)
{
    (void)state;
    nn_test_alloc_install();
    for (size_t k = 0; k < N_KINDS; k++) {
        nn_net *net = NULL;
        assert_ok(nn_net_new(3, &net));
        assert_ok(nn_net_add(net, nn_test_dense(4, nn_init_normal(0, 1), nn_init_zeros())));
        assert_ok(nn_net_add(net, make_kind(all_kinds[k])));
        nn_rng rng;
        nn_rng_seed(&rng, 1, 0);
        assert_ok(nn_net_init_params(net, &rng));
        nn_test_mse_sgd(net, 0.1);
        float xs[15], ts[20];
        for (size_t i = 0; i < 15; i++)
            xs[i] = (float)nn_rng_normal(&rng);
        for (size_t i = 0; i < 20; i++)
            ts[i] = (float)nn_rng_uniform(&rng);
        nn_tensor x = nn_tensor_view2d(xs, 5, 3), t = nn_tensor_view2d(ts, 5, 4);
        assert_ok(nn_net_train_step(net, &x, &t, NULL)); /* sizes the workspace */
        nn_test_alloc_count_from_now();
        for (int step = 0; step < 3; step++)
            assert_ok(nn_net_train_step(net, &x, &t, NULL));
        if (nn_test_alloc()->calls != 0)
            fail_msg("%s: %zu allocations in 3 training steps", nn_activation_name(all_kinds[k]),
                     nn_test_alloc()->calls);
        nn_net_free(net);
    }
    assert_int_equal(nn_test_alloc()->live, 0);
}

/* ---- names, kinds, constructors, errors --------------------------------------------------- */

static void test_kinds_and_names(void **state)
{
    (void)state;
    /* The values are part of the file format. */
    assert_int_equal(NN_ACT_IDENTITY, 0);
    assert_int_equal(NN_ACT_SIGMOID, 1);
    assert_int_equal(NN_ACT_RELU, 2);
    assert_int_equal(NN_ACT_LEAKY_RELU, 3);
    assert_int_equal(NN_ACT_ELU, 4);
    assert_int_equal(NN_ACT_TANH, 5);
    assert_int_equal(NN_ACT_SOFTPLUS, 6);
    assert_int_equal(NN_ACT_GELU, 7);
    assert_int_equal(NN_ACT_GELU_TANH, 8);
    assert_int_equal(NN_ACT_SILU, 9);
    assert_int_equal(NN_ACT_SOFTMAX, 10);
    assert_int_equal(NN_ACT_LOG_SOFTMAX, 11);

    static const char *const names[] = {"identity",  "sigmoid", "relu",     "leaky_relu",
                                        "elu",       "tanh",    "softplus", "gelu",
                                        "gelu_tanh", "silu",    "softmax",  "log_softmax"};
    assert_int_equal(sizeof names / sizeof names[0], N_KINDS);
    for (size_t k = 0; k < N_KINDS; k++) {
        nn_activation_kind kind = (nn_activation_kind)-1;
        assert_ok(nn_activation_kind_from_name(names[k], &kind));
        assert_int_equal(kind, (int)k);
        assert_string_equal(nn_activation_name(kind), names[k]);
        nn_layer *l = make_kind(kind);
        assert_string_equal(nn_layer_name(l), names[k]);
        assert_int_equal(nn_layer_param_count(l), 0);
        nn_layer_free(l);
    }
    assert_null(nn_activation_name((nn_activation_kind)12));
    assert_null(nn_activation_name((nn_activation_kind)-1));

    nn_activation_kind kind = NN_ACT_TANH;
    assert_error(nn_activation_kind_from_name("swish", &kind), NN_ERR_INVALID_ARG, "'swish'");
    assert_error(nn_activation_kind_from_name("ReLU", &kind), NN_ERR_INVALID_ARG, "'ReLU'", "relu");
    assert_error(nn_activation_kind_from_name("", &kind), NN_ERR_INVALID_ARG, "''");
    assert_int_equal(kind, NN_ACT_TANH); /* unchanged on error */
    assert_status(nn_activation_kind_from_name(NULL, &kind), NN_ERR_NULL_ARG);
    assert_status(nn_activation_kind_from_name("relu", NULL), NN_ERR_NULL_ARG);
}

static void test_constructors(void **state)
{
    (void)state;
    nn_status (*const plain[])(nn_layer **) = {nn_identity_new, nn_sigmoid_new, nn_relu_new,
                                               nn_tanh_new,     nn_gelu_new,    nn_gelu_tanh_new,
                                               nn_silu_new,     nn_softmax_new, nn_log_softmax_new};
    const char *const plain_names[] = {"identity",  "sigmoid", "relu",    "tanh",       "gelu",
                                       "gelu_tanh", "silu",    "softmax", "log_softmax"};
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++) {
        nn_layer *l = NULL;
        assert_ok(plain[i](&l));
        assert_string_equal(nn_layer_name(l), plain_names[i]);
        nn_layer_free(l);
        assert_status(plain[i](NULL), NN_ERR_NULL_ARG);
    }
    nn_layer *l = NULL;
    assert_ok(nn_leaky_relu_new(0.2, &l));
    assert_string_equal(nn_layer_name(l), "leaky_relu");
    nn_layer_free(l);
    assert_ok(nn_leaky_relu_new(-0.5, &l)); /* torch accepts any slope */
    nn_layer_free(l);
    assert_ok(nn_elu_new(0.0, &l));
    assert_string_equal(nn_layer_name(l), "elu");
    nn_layer_free(l);
    assert_ok(nn_softplus_new(0.5, -3.0, &l));
    assert_string_equal(nn_layer_name(l), "softplus");
    nn_layer_free(l);
    assert_ok(nn_activation_new_param(NN_ACT_SOFTPLUS, 2.0, &l));
    nn_layer_free(l);
    /* Unknown kinds. */
    assert_error(nn_activation_new((nn_activation_kind)12, &l), NN_ERR_INVALID_ARG, "12");
    assert_null(l);
    assert_error(nn_activation_new((nn_activation_kind)-3, &l), NN_ERR_INVALID_ARG, "-3");
    assert_error(nn_activation_new_param((nn_activation_kind)40, 1.0, &l), NN_ERR_INVALID_ARG,
                 "40");
    assert_status(nn_activation_new(NN_ACT_RELU, NULL), NN_ERR_NULL_ARG);
    assert_status(nn_activation_new_param(NN_ACT_ELU, 1.0, NULL), NN_ERR_NULL_ARG);
    assert_status(nn_softplus_new(1.0, 20.0, NULL), NN_ERR_NULL_ARG);
}

static void test_bad_parameters(void **state)
{
    (void)state;
    nn_layer *l = (nn_layer *)&l; /* not NULL: every failure must reset it */
    const double nan = NAN, inf = INFINITY;

    assert_error(nn_leaky_relu_new(nan, &l), NN_ERR_INVALID_ARG, "negative_slope");
    assert_null(l);
    assert_error(nn_leaky_relu_new(inf, &l), NN_ERR_INVALID_ARG, "negative_slope");
    assert_error(nn_leaky_relu_new(-inf, &l), NN_ERR_INVALID_ARG, "negative_slope");
    assert_error(nn_leaky_relu_new(1e300, &l), NN_ERR_INVALID_ARG, "negative_slope");

    assert_error(nn_elu_new(-0.5, &l), NN_ERR_INVALID_ARG, "alpha", "-0.5");
    assert_error(nn_elu_new(nan, &l), NN_ERR_INVALID_ARG, "alpha");
    assert_error(nn_elu_new(inf, &l), NN_ERR_INVALID_ARG, "alpha");

    assert_error(nn_softplus_new(0.0, 20.0, &l), NN_ERR_INVALID_ARG, "beta");
    assert_error(nn_softplus_new(-1.0, 20.0, &l), NN_ERR_INVALID_ARG, "beta");
    assert_error(nn_softplus_new(nan, 20.0, &l), NN_ERR_INVALID_ARG, "beta");
    assert_error(nn_softplus_new(inf, 20.0, &l), NN_ERR_INVALID_ARG, "beta");
    assert_error(nn_softplus_new(1e-300, 20.0, &l), NN_ERR_INVALID_ARG, "beta"); /* 0 in float */
    assert_error(nn_softplus_new(1.0, nan, &l), NN_ERR_INVALID_ARG, "threshold");
    assert_error(nn_softplus_new(1.0, -inf, &l), NN_ERR_INVALID_ARG, "threshold");
    assert_error(nn_activation_new_param(NN_ACT_SOFTPLUS, 0.0, &l), NN_ERR_INVALID_ARG, "beta");
    assert_null(l);

    /* Kinds without a parameter refuse one, naming the kind. */
    for (size_t k = 0; k < N_KINDS; k++) {
        nn_activation_kind kind = all_kinds[k];
        if (kind == NN_ACT_LEAKY_RELU || kind == NN_ACT_ELU || kind == NN_ACT_SOFTPLUS)
            continue;
        assert_error(nn_activation_new_param(kind, 1.0, &l), NN_ERR_INVALID_ARG,
                     nn_activation_name(kind), "no parameter");
        assert_null(l);
    }
}

/* Direct calls with tensors that do not fit. */
static void test_shape_errors(void **state)
{
    (void)state;
    float a[12] = {0}, b[12] = {0};
    nn_tensor x = nn_tensor_view2d(a, 3, 4), y = nn_tensor_view2d(b, 4, 3);
    nn_tensor y2 = nn_tensor_view2d(b, 2, 4);
    for (size_t k = 0; k < N_KINDS; k++) {
        nn_layer *l = make_kind(all_kinds[k]);
        assert_error(l->ops->forward(l, &x, &y, 1), NN_ERR_SHAPE, nn_activation_name(all_kinds[k]),
                     "(3, 4)", "(4, 3)");
        assert_error(l->ops->forward(l, &x, &y2, 1), NN_ERR_SHAPE, "(2, 4)");
        assert_error(l->ops->forward(l, &x, NULL, 1), NN_ERR_NULL_ARG, "y");
        nn_tensor xv = nn_tensor_view2d(a, 3, 4), yv = nn_tensor_view2d(b, 3, 4);
        assert_ok(l->ops->forward(l, &xv, &yv, 0));
        assert_error(l->ops->backward(l, &xv, &yv, &xv, &y2), NN_ERR_SHAPE, "dx");
        assert_error(l->ops->backward(l, &xv, &yv, &y2, &xv), NN_ERR_SHAPE, "dy");
        assert_ok(l->ops->backward(l, &xv, &yv, &xv, NULL)); /* no dx wanted */
        /* Rows of no columns: nothing to do, as torch (softmax read a row's first
         * element for its max, here through NULL). */
        nn_tensor x0 = nn_tensor_view2d(NULL, 3, 0), y0 = nn_tensor_view2d(NULL, 3, 0);
        assert_ok(l->ops->forward(l, &x0, &y0, 1));
        assert_ok(l->ops->backward(l, &x0, &y0, &y0, &x0));
        nn_layer_free(l);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_against_torch),
        cmocka_unit_test(test_finite_differences),
        cmocka_unit_test(test_finite_at_extremes),
        cmocka_unit_test(test_exact_values),
        cmocka_unit_test(test_tails_to_the_last_bit),
        cmocka_unit_test(test_tails_pinned),
        cmocka_unit_test(test_backward_in_place),
        cmocka_unit_test_teardown(test_no_allocation, nn_test_alloc_teardown),
        cmocka_unit_test(test_kinds_and_names),
        cmocka_unit_test(test_constructors),
        cmocka_unit_test(test_bad_parameters),
        cmocka_unit_test(test_shape_errors),
    };
    return cmocka_run_group_tests(tests, load_fixture, free_fixture);
}
