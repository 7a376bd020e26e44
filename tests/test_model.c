/* test_model.c - model files: exact round trips for every layer kind, loss and
 * optimizer (training resumed bit for bit), the format read independently of the
 * library (byte layout, CRC-32), every kind of damage (flipped bytes, truncation at
 * every offset, wrong magic, future versions, absurd sizes) giving NN_ERR_FORMAT
 * with the offset and never a crash or a leak, atomic saving that leaves the old
 * file intact when it fails, and registries for layers written outside nn. */
#define _POSIX_C_SOURCE 200809L /* mkdtemp, setrlimit */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nn_test.h"
#include "nn/model.h"

/* ---- the format, read here without the library ------------------------------------- */

static uint32_t rd32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd64(const unsigned char *p) { return rd32(p) | (uint64_t)rd32(p + 4) << 32; }

static void wr32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void wr64(unsigned char *p, uint64_t v)
{
    wr32(p, (uint32_t)v);
    wr32(p + 4, (uint32_t)(v >> 32));
}

/* CRC-32 as docs/file-format.md defines it (reflected polynomial 0xEDB88320, initial
 * and final XOR 0xFFFFFFFF), bit by bit: an independent check of zlib's crc32. */
static uint32_t crc32_ref(const unsigned char *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
    }
    return c ^ 0xFFFFFFFFu;
}

/* Makes a hand-edited file consistent again: size field and checksum. */
static void reseal(unsigned char *p, size_t n)
{
    wr64(p + 16, n);
    wr32(p + n - 4, crc32_ref(p, n - 4));
}

typedef struct section {
    char tag[5];
    size_t at;      /* offset of the section header */
    size_t payload; /* offset of the payload */
    size_t len;     /* payload length */
} section;

/* The section table of a well-formed file. */
static size_t sections(const unsigned char *p, size_t n, section *out, size_t max)
{
    size_t k = 0, at = 24;
    while (at + 16 <= n - 4 && k < max) {
        memcpy(out[k].tag, p + at, 4);
        out[k].tag[4] = '\0';
        out[k].at = at;
        out[k].payload = at + 16;
        out[k].len = (size_t)rd64(p + at + 8);
        at = out[k].payload + out[k].len;
        k++;
    }
    assert_int_equal(at, n - 4);
    return k;
}

/* ---- networks ---------------------------------------------------------------------- */

/* rows x cols values in [-2, 2) from seed. */
static float *random_data(size_t n, uint64_t seed)
{
    float *x = malloc(n * sizeof *x);
    assert_non_null(x);
    nn_rng rng;
    nn_rng_seed(&rng, seed, 5);
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(4.0 * nn_rng_uniform(&rng) - 2.0);
    return x;
}

static nn_layer *dense_normal(size_t units)
{
    return nn_test_dense(units, nn_init_normal(0, 0.5), nn_init_uniform(-0.1, 0.1));
}

/* 3 -> dense 4 -> mid -> dense 2, initialised from seed. */
static nn_net *net_around(nn_layer *mid, uint64_t seed)
{
    nn_net *net = NULL;
    assert_ok(nn_net_new(3, &net));
    assert_ok(nn_net_add(net, dense_normal(4)));
    assert_ok(nn_net_add(net, mid));
    assert_ok(nn_net_add(net, dense_normal(2)));
    nn_rng rng;
    nn_rng_seed(&rng, seed, 0);
    assert_ok(nn_net_init_params(net, &rng));
    return net;
}

static nn_layer *make_activation(nn_activation_kind kind)
{
    nn_layer *l = NULL;
    switch (kind) {
    case NN_ACT_LEAKY_RELU:
        assert_ok(nn_leaky_relu_new(0.2, &l));
        break;
    case NN_ACT_ELU:
        assert_ok(nn_elu_new(0.7, &l));
        break;
    case NN_ACT_SOFTPLUS:
        assert_ok(nn_softplus_new(2.0, 1.5, &l));
        break;
    default:
        assert_ok(nn_activation_new(kind, &l));
    }
    return l;
}

static void *save_mem(nn_model *m, const nn_registry *reg, unsigned flags, size_t *size)
{
    void *data = NULL;
    assert_ok(nn_model_save_buffer(m, reg, flags, &data, size));
    assert_non_null(data);
    return data;
}

/* Saves net (wrapped in a model, then unwrapped) to memory and loads it back. */
static nn_net *round_trip(nn_net **net, const nn_registry *reg, unsigned flags, size_t *size)
{
    nn_model *m = NULL;
    assert_ok(nn_model_new(*net, &m));
    size_t n = 0;
    void *data = save_mem(m, reg, flags, &n);
    *net = nn_model_into_net(m);
    nn_model *back = NULL;
    assert_ok(nn_model_load_buffer(data, n, reg, &back));
    assert_int_equal(nn_model_format_version(back), NN_MODEL_FORMAT_VERSION);
    nn_model_buffer_free(data);
    if (size != NULL)
        *size = n;
    return nn_model_into_net(back);
}

/* Predictions of a and b on the same rows are the same bits. */
static void assert_same_predictions(nn_net *a, nn_net *b, size_t rows, uint64_t seed)
{
    size_t in = nn_net_in_width(a), out = nn_net_out_width(a);
    assert_int_equal(nn_net_in_width(b), in);
    assert_int_equal(nn_net_out_width(b), out);
    float *xs = random_data(rows * in, seed);
    float *ya = calloc(rows * out, sizeof *ya), *yb = calloc(rows * out, sizeof *yb);
    nn_tensor x = nn_tensor_view2d(xs, rows, in);
    nn_tensor ta = nn_tensor_view2d(ya, rows, out), tb = nn_tensor_view2d(yb, rows, out);
    assert_ok(nn_net_predict(a, &x, &ta));
    assert_ok(nn_net_predict(b, &x, &tb));
    assert_memory_equal(ya, yb, rows * out * sizeof *ya);
    free(xs);
    free(ya);
    free(yb);
}

static void assert_same_params(nn_net *a, nn_net *b)
{
    size_t na = 0, nb = 0;
    float *pa = nn_net_params(a, &na), *pb = nn_net_params(b, &nb);
    assert_int_equal(na, nb);
    assert_true(na > 0);
    assert_memory_equal(pa, pb, na * sizeof *pa);
}

/* ---- round trips ---------------------------------------------------------------------- */

static void test_every_activation_round_trips(void **state)
{
    (void)state;
    for (int k = 0; nn_activation_name((nn_activation_kind)k) != NULL; k++) {
        nn_net *net = net_around(make_activation((nn_activation_kind)k), 100 + (uint64_t)k);
        nn_net *back = round_trip(&net, NULL, 0, NULL);
        assert_int_equal(nn_net_layer_count(back), 3);
        assert_string_equal(nn_layer_name(nn_net_layer(back, 1)),
                            nn_activation_name((nn_activation_kind)k));
        /* The parameters of the kind come back as the same float. */
        nn_activation_kind ka, kb;
        double a1, a2, b1, b2;
        assert_ok(nn_activation_get(nn_net_layer(net, 1), &ka, &a1, &a2));
        assert_ok(nn_activation_get(nn_net_layer(back, 1), &kb, &b1, &b2));
        assert_int_equal(ka, kb);
        assert_memory_equal(&a1, &b1, sizeof a1);
        assert_memory_equal(&a2, &b2, sizeof a2);
        assert_same_params(net, back);
        assert_same_predictions(net, back, 7, 1);
        nn_net_free(net);
        nn_net_free(back);
    }
}

static void test_dense_settings_round_trip(void **state)
{
    (void)state;
    nn_dense_params p = nn_dense_default_params(5);
    p.weight_init = nn_init_kaiming_uniform(1.5);
    p.bias_init = nn_init_constant(0.25);
    nn_layer *l = NULL;
    assert_ok(nn_dense_new(&p, &l));
    nn_net *net = net_around(l, 3);
    nn_net *back = round_trip(&net, NULL, 0, NULL);
    nn_dense_params q;
    assert_ok(nn_dense_get_params(nn_net_layer(back, 1), &q));
    assert_int_equal(q.units, 5);
    assert_int_equal(q.weight_init.kind, NN_INIT_KAIMING_UNIFORM);
    assert_true(q.weight_init.a == 1.5);
    assert_int_equal(q.bias_init.kind, NN_INIT_CONSTANT);
    assert_true(q.bias_init.a == 0.25);
    assert_same_params(net, back);
    assert_same_predictions(net, back, 9, 2);
    /* Same initialisers, same seed: the loaded network re-initialises identically. */
    nn_rng r1, r2;
    nn_rng_seed(&r1, 77, 0);
    nn_rng_seed(&r2, 77, 0);
    assert_ok(nn_net_init_params(net, &r1));
    assert_ok(nn_net_init_params(back, &r2));
    assert_same_params(net, back);
    nn_net_free(net);
    nn_net_free(back);
}

/* Trains net for steps batches of 4 rows of (x, t), starting at batch `first`. */
static void train(nn_net *net, const float *x, const float *t, size_t first, size_t steps)
{
    size_t in = nn_net_in_width(net), out = nn_net_out_width(net);
    for (size_t s = first; s < first + steps; s++) {
        size_t row = (s % 4) * 4;
        nn_tensor xb = nn_tensor_view2d((float *)x + row * in, 4, in);
        nn_tensor tb = nn_tensor_view2d((float *)t + row * out, 4, out);
        assert_ok(nn_net_train_step(net, &xb, &tb, NULL));
    }
}

/* Trains a fresh network with optimizer o for 5 steps, saves it, trains the original
 * 7 more steps, loads the copy and trains it the same 7: the weights must agree bit
 * for bit, as must a second save of both. */
static void check_resume(nn_layer *mid, nn_optim *o, const char *what)
{
    nn_net *net = net_around(mid, 11);
    nn_loss *loss = NULL;
    assert_ok(nn_loss_mse_new(&loss));
    assert_ok(nn_net_set_loss(net, loss, 2));
    assert_ok(nn_net_set_optim(net, o));
    float *x = random_data(16 * 3, 21), *t = random_data(16 * 2, 22);
    train(net, x, t, 0, 5);
    nn_net *back = round_trip(&net, NULL, 0, NULL);
    assert_string_equal(nn_net_optim(back)->ops->name, nn_net_optim(net)->ops->name);
    assert_int_equal(nn_net_optim(back)->step_count, 5);
    train(net, x, t, 5, 7);
    train(back, x, t, 5, 7);
    size_t n = 0;
    float *pa = nn_net_params(net, &n), *pb = nn_net_params(back, NULL);
    if (memcmp(pa, pb, n * sizeof *pa) != 0)
        fail_msg("%s: resumed training differs from uninterrupted training", what);
    /* And the optimizer state itself is identical: the two files are the same bytes. */
    nn_model *ma = NULL, *mb = NULL;
    assert_ok(nn_model_new(net, &ma));
    assert_ok(nn_model_new(back, &mb));
    size_t sa = 0, sb = 0;
    void *da = save_mem(ma, NULL, 0, &sa), *db = save_mem(mb, NULL, 0, &sb);
    assert_int_equal(sa, sb);
    assert_memory_equal(da, db, sa);
    nn_model_buffer_free(da);
    nn_model_buffer_free(db);
    nn_model_free(ma);
    nn_model_free(mb);
    free(x);
    free(t);
}

static void test_every_optimizer_resumes_exactly(void **state)
{
    (void)state;
    nn_optim *o = NULL;

    assert_ok(nn_optim_sgd_new(0.05, &o));
    check_resume(nn_test_sigmoid(), o, "sgd");

    nn_sgd_params sp = nn_sgd_default_params();
    sp.lr = 0.05;
    sp.momentum = 0.9;
    sp.dampening = 0.1;
    sp.weight_decay = 0.01;
    assert_ok(nn_optim_sgd_new_ex(&sp, &o));
    check_resume(nn_test_sigmoid(), o, "sgd momentum");

    sp.dampening = 0.0;
    sp.nesterov = 1;
    assert_ok(nn_optim_sgd_new_ex(&sp, &o));
    check_resume(nn_test_sigmoid(), o, "sgd nesterov");

    nn_adam_params ap = nn_adam_default_params();
    ap.lr = 0.01;
    ap.weight_decay = 0.001;
    assert_ok(nn_optim_adam_new_ex(&ap, &o));
    check_resume(nn_test_sigmoid(), o, "adam");

    ap.amsgrad = 1;
    assert_ok(nn_optim_adam_new_ex(&ap, &o));
    check_resume(nn_test_sigmoid(), o, "adam amsgrad");

    nn_adamw_params wp = nn_adamw_default_params();
    wp.lr = 0.01;
    assert_ok(nn_optim_adamw_new_ex(&wp, &o));
    check_resume(nn_test_sigmoid(), o, "adamw");

    nn_rmsprop_params rp = nn_rmsprop_default_params();
    assert_ok(nn_optim_rmsprop_new_ex(&rp, &o));
    check_resume(nn_test_sigmoid(), o, "rmsprop");

    rp.momentum = 0.5;
    rp.centered = 1;
    rp.weight_decay = 0.01;
    assert_ok(nn_optim_rmsprop_new_ex(&rp, &o));
    check_resume(nn_test_sigmoid(), o, "rmsprop centered momentum");

    nn_adagrad_params gp = nn_adagrad_default_params();
    gp.lr_decay = 0.01;
    gp.initial_accumulator_value = 0.1;
    assert_ok(nn_optim_adagrad_new_ex(&gp, &o));
    check_resume(nn_test_sigmoid(), o, "adagrad");

    /* Dropout's generator is part of the state: the masks after loading are the ones
     * the saved layer would have drawn next. */
    nn_layer *drop = NULL;
    assert_ok(nn_dropout_new(0.3, 1234, &drop));
    assert_ok(nn_optim_new_by_kind(NN_OPTIM_ADAM, 0.01, &o));
    check_resume(drop, o, "adam with dropout");
}

/* A schedule changes o->lr during fit; the rate in use is what is saved. */
static void test_current_lr_is_saved(void **state)
{
    (void)state;
    nn_net *net = net_around(nn_test_sigmoid(), 4);
    nn_test_mse_sgd(net, 0.1);
    assert_ok(nn_optim_set_lr(nn_net_optim(net), 0.0375));
    nn_net *back = round_trip(&net, NULL, 0, NULL);
    assert_true(nn_net_optim(back)->lr == 0.0375);
    nn_net_free(net);
    nn_net_free(back);
}

/* Layers added after the optimizer: its state is stale and the network would set it
 * up again from zero; the file says so by storing none, and both resume alike. */
static void test_stale_optimizer_state(void **state)
{
    (void)state;
    nn_net *net = NULL;
    assert_ok(nn_net_new(3, &net));
    assert_ok(nn_net_add(net, dense_normal(4)));
    nn_optim *o = NULL;
    assert_ok(nn_optim_new_by_kind(NN_OPTIM_ADAM, 0.01, &o));
    assert_ok(nn_net_set_optim(net, o));
    assert_ok(nn_net_add(net, nn_test_sigmoid()));
    assert_ok(nn_net_add(net, dense_normal(2)));
    nn_rng rng;
    nn_rng_seed(&rng, 9, 0);
    assert_ok(nn_net_init_params(net, &rng));
    nn_loss *loss = NULL;
    assert_ok(nn_loss_mse_new(&loss));
    assert_ok(nn_net_set_loss(net, loss, 2));
    nn_net *back = round_trip(&net, NULL, 0, NULL);
    float *x = random_data(16 * 3, 1), *t = random_data(16 * 2, 2);
    train(net, x, t, 0, 4);
    train(back, x, t, 0, 4);
    assert_same_params(net, back);
    free(x);
    free(t);
    nn_net_free(net);
    nn_net_free(back);
}

static void test_losses_round_trip(void **state)
{
    (void)state;
    for (int k = 0; nn_loss_kind_name((nn_loss_kind)k) != NULL; k++) {
        nn_net *net = net_around(nn_test_sigmoid(), 5);
        nn_loss *loss = NULL;
        if (k == NN_LOSS_HUBER)
            assert_ok(nn_loss_huber_new(0.375, &loss));
        else if (k == NN_LOSS_SMOOTH_L1)
            assert_ok(nn_loss_smooth_l1_new(0.625, &loss));
        else
            assert_ok(nn_loss_new_by_kind((nn_loss_kind)k, &loss));
        assert_ok(nn_loss_set_reduction(loss, NN_REDUCTION_SUM));
        /* Class indices for the classification losses, full rows for the others. */
        size_t tw = k == NN_LOSS_CROSS_ENTROPY || k == NN_LOSS_NLL ? 1 : 2;
        assert_ok(nn_net_set_loss(net, loss, tw));
        nn_net *back = round_trip(&net, NULL, 0, NULL);
        nn_loss *lb = nn_net_loss(back);
        assert_non_null(lb);
        nn_loss_kind kind;
        assert_ok(nn_loss_get_kind(lb, &kind));
        assert_int_equal(kind, k);
        assert_int_equal(lb->reduction, NN_REDUCTION_SUM);
        if (k == NN_LOSS_HUBER || k == NN_LOSS_SMOOTH_L1) {
            double v = 0.0;
            assert_ok(nn_loss_get_param(lb, &v));
            assert_true(v == (k == NN_LOSS_HUBER ? 0.375 : 0.625));
        }
        /* Same loss value on the same data, which needs the same target width. */
        float xs[6] = {0.1f, -0.4f, 0.3f, 1.0f, 0.5f, -0.2f};
        float ts[4] = {1, 0, 0.25f, 1};
        nn_tensor x = nn_tensor_view2d(xs, 2, 3), t = nn_tensor_view2d(ts, 2, tw);
        double va = 0, vb = 0;
        if (k == NN_LOSS_BCE) { /* needs probabilities: check the width only */
            nn_tensor bad = nn_tensor_view2d(ts, 2, 1);
            assert_status(nn_net_eval_loss(back, &x, &bad, &vb), NN_ERR_SHAPE);
        } else {
            assert_ok(nn_net_eval_loss(net, &x, &t, &va));
            assert_ok(nn_net_eval_loss(back, &x, &t, &vb));
            assert_memory_equal(&va, &vb, sizeof va);
        }
        nn_net_free(net);
        nn_net_free(back);
    }
    /* Cross-entropy with probability rows keeps width C. */
    nn_net *net = net_around(nn_test_sigmoid(), 5);
    nn_loss *ce = NULL;
    assert_ok(nn_loss_cross_entropy_new(&ce));
    assert_ok(nn_net_set_loss(net, ce, 2));
    nn_net *back = round_trip(&net, NULL, 0, NULL);
    float xs[3] = {1, 2, 3}, ts2[2] = {0.5f, 0.5f}, ts1[1] = {1};
    nn_tensor x = nn_tensor_view2d(xs, 1, 3), t2 = nn_tensor_view2d(ts2, 1, 2),
              t1 = nn_tensor_view2d(ts1, 1, 1);
    double v;
    assert_ok(nn_net_eval_loss(back, &x, &t2, &v));
    assert_status(nn_net_eval_loss(back, &x, &t1, &v), NN_ERR_SHAPE);
    nn_net_free(net);
    nn_net_free(back);
}

static void test_flags_leave_out_loss_and_optimizer(void **state)
{
    (void)state;
    nn_net *net = net_around(nn_test_sigmoid(), 6);
    nn_test_mse_sgd(net, 0.1);
    size_t full = 0, small = 0;
    nn_net *a = round_trip(&net, NULL, 0, &full);
    nn_net *b = round_trip(&net, NULL, NN_SAVE_NO_OPTIM | NN_SAVE_NO_LOSS, &small);
    assert_non_null(nn_net_loss(a));
    assert_non_null(nn_net_optim(a));
    assert_null(nn_net_loss(b));
    assert_null(nn_net_optim(b));
    assert_true(small < full);
    assert_same_predictions(a, b, 5, 3);
    nn_model *m = NULL;
    assert_ok(nn_model_new(net, &m));
    void *data = NULL;
    size_t n = 0;
    assert_error(nn_model_save_buffer(m, NULL, 0x80, &data, &n), NN_ERR_INVALID_ARG, "flags");
    assert_null(data);
    nn_model_free(m);
    nn_net_free(a);
    nn_net_free(b);
}

static void test_standardisation_and_metadata(void **state)
{
    (void)state;
    nn_net *net = net_around(nn_test_sigmoid(), 7);
    nn_model *m = NULL;
    assert_ok(nn_model_new(net, &m));
    const float mean[3] = {135.0f, 66.0f, -0.5f}, std[3] = {12.5f, 3.25f, 1e-3f};
    assert_ok(nn_model_set_standardisation(m, mean, std));
    assert_ok(nn_model_set_meta(m, "trained_on", "gender lesson, 4 people"));
    assert_ok(nn_model_set_meta(m, "note", ""));
    assert_ok(nn_model_set_meta(m, "epochs", "999"));
    assert_ok(nn_model_set_meta(m, "epochs", "1000")); /* replaced, not added */
    assert_int_equal(nn_model_meta_count(m), 3);
    size_t n = 0;
    void *data = save_mem(m, NULL, 0, &n);
    nn_model *back = NULL;
    assert_ok(nn_model_load_buffer(data, n, NULL, &back));
    assert_memory_equal(nn_model_mean(back), mean, sizeof mean);
    assert_memory_equal(nn_model_std(back), std, sizeof std);
    assert_int_equal(nn_model_meta_count(back), 3);
    const char *k, *v;
    assert_ok(nn_model_meta_at(back, 0, &k, &v));
    assert_string_equal(k, "trained_on");
    assert_string_equal(v, "gender lesson, 4 people");
    assert_string_equal(nn_model_meta(back, "epochs"), "1000");
    assert_string_equal(nn_model_meta(back, "note"), "");
    assert_null(nn_model_meta(back, "absent"));
    assert_error(nn_model_meta_at(back, 3, &k, &v), NN_ERR_INVALID_ARG, "3");

    /* Standardising raw inputs: (x - mean) / std per column. */
    float raw[6] = {160.0f, 72.0f, 0.5f, 135.0f, 66.0f, -0.5f};
    nn_tensor x = nn_tensor_view2d(raw, 2, 3);
    assert_ok(nn_model_standardise(back, &x));
    assert_true(raw[0] == (160.0f - 135.0f) / 12.5f);
    assert_true(raw[1] == (72.0f - 66.0f) / 3.25f);
    assert_true(raw[2] == (0.5f + 0.5f) / 1e-3f);
    assert_true(raw[3] == 0.0f && raw[4] == 0.0f && raw[5] == 0.0f);
    nn_tensor wrong = nn_tensor_view2d(raw, 3, 2);
    assert_error(nn_model_standardise(back, &wrong), NN_ERR_SHAPE, "(3, 2)");

    /* Through nn/scaler.h: a fitted scaler in, the same scaler out. */
    float rows[6] = {1, 10, 100, 3, 30, 300};
    nn_tensor fit = nn_tensor_view2d(rows, 2, 3);
    nn_scaler *sc = NULL, *got = NULL;
    assert_ok(nn_scaler_fit(&fit, &sc));
    assert_ok(nn_model_set_scaler(m, sc));
    assert_memory_equal(nn_model_mean(m), nn_scaler_mean(sc), 3 * sizeof(float));
    assert_ok(nn_model_get_scaler(m, &got));
    assert_non_null(got);
    assert_memory_equal(nn_scaler_std(got), nn_scaler_std(sc), 3 * sizeof(float));
    float a[3] = {2, 20, 200}, b2[3] = {2, 20, 200};
    nn_tensor ta = nn_tensor_view2d(a, 1, 3), tb = nn_tensor_view2d(b2, 1, 3);
    assert_ok(nn_scaler_apply(got, &ta));
    assert_ok(nn_model_standardise(m, &tb));
    assert_memory_equal(a, b2, sizeof a);
    nn_scaler_free(got);
    nn_scaler_free(sc);
    nn_tensor two = nn_tensor_view2d(rows, 3, 2);
    assert_ok(nn_scaler_fit(&two, &sc));
    assert_error(nn_model_set_scaler(m, sc), NN_ERR_SHAPE, "width 2");
    nn_scaler_free(sc);
    assert_ok(nn_model_set_scaler(m, NULL));
    assert_ok(nn_model_get_scaler(m, &got));
    assert_null(got);

    /* Bad values are refused; removing works. */
    const float bad_std[3] = {1.0f, 0.0f, 1.0f};
    assert_error(nn_model_set_standardisation(m, mean, bad_std), NN_ERR_INVALID_ARG, "feature 1");
    assert_error(nn_model_set_standardisation(m, mean, NULL), NN_ERR_NULL_ARG, "together");
    assert_ok(nn_model_set_standardisation(m, NULL, NULL));
    assert_null(nn_model_mean(m));
    assert_ok(nn_model_set_meta(m, "note", NULL));
    assert_int_equal(nn_model_meta_count(m), 2);
    assert_error(nn_model_set_meta(m, "", "x"), NN_ERR_INVALID_ARG, "empty");
    nn_model_buffer_free(data);
    nn_model_free(back);

    /* Up to 4096 entries, the most the loader reads back: the file of a full model
     * loads; a 4097th key is refused, a new value for a key is not. */
    char key[16];
    for (size_t i = nn_model_meta_count(m); i < 4096; i++) {
        snprintf(key, sizeof key, "k%zu", i);
        assert_ok(nn_model_set_meta(m, key, "v"));
    }
    assert_error(nn_model_set_meta(m, "one_more", "v"), NN_ERR_INVALID_ARG, "at most 4096");
    assert_ok(nn_model_set_meta(m, "k4095", "w"));
    assert_int_equal(nn_model_meta_count(m), 4096);
    data = save_mem(m, NULL, 0, &n);
    assert_ok(nn_model_load_buffer(data, n, NULL, &back));
    assert_int_equal(nn_model_meta_count(back), 4096);
    assert_string_equal(nn_model_meta(back, "k4095"), "w");
    nn_model_buffer_free(data);
    nn_model_free(back);
    nn_model_free(m);
}

/* ---- the byte layout ---------------------------------------------------------------------- */

/* The lesson's 2-2-1 network with its loss and optimizer. */
static nn_net *gender_net(void)
{
    nn_net *net = nn_test_mlp(2, 2, 1, 42);
    nn_test_mse_sgd(net, 0.1);
    return net;
}

static void test_layout(void **state)
{
    (void)state;
    nn_net *net = gender_net();
    nn_model *m = NULL;
    assert_ok(nn_model_new(net, &m));
    size_t n = 0;
    unsigned char *p = save_mem(m, NULL, 0, &n);
    static const unsigned char magic[8] = {0x89, 'N', 'N', 'M', '\r', '\n', 0x1a, '\n'};
    assert_memory_equal(p, magic, 8);
    assert_int_equal(rd32(p + 8), 1);
    assert_int_equal(rd32(p + 12), 0);
    assert_int_equal(rd64(p + 16), n);
    assert_int_equal(rd32(p + n - 4), crc32_ref(p, n - 4));
    section s[8];
    size_t ns = sections(p, n, s, 8);
    assert_int_equal(ns, 4);
    assert_string_equal(s[0].tag, "ARCH");
    assert_int_equal(rd32(p + s[0].at + 4), 1); /* required */
    assert_string_equal(s[1].tag, "PARM");
    assert_string_equal(s[2].tag, "LOSS");
    assert_int_equal(rd32(p + s[2].at + 4), 0); /* optional */
    assert_string_equal(s[3].tag, "OPTM");
    /* ARCH: input width 2, 4 layers, the first "dense" */
    const unsigned char *a = p + s[0].payload;
    assert_int_equal(rd64(a), 2);
    assert_int_equal(rd32(a + 8), 4);
    assert_int_equal(rd32(a + 12), 5);
    assert_memory_equal(a + 16, "dense", 5);
    /* PARM: 4 tensors, the first (2, 2) float32 holding the weights' bits */
    const unsigned char *q = p + s[1].payload;
    assert_int_equal(rd32(q), 4);
    assert_int_equal(rd32(q + 4), 0);
    assert_int_equal(rd32(q + 8), 2);
    assert_int_equal(rd64(q + 12), 2);
    assert_int_equal(rd64(q + 20), 2);
    const float *w = nn_dense_weight(nn_net_layer(net, 0))->data;
    for (int i = 0; i < 4; i++) {
        uint32_t bits;
        memcpy(&bits, &w[i], 4);
        assert_int_equal(rd32(q + 28 + 4 * i), bits);
    }
    /* LOSS: "mse", target width 1 */
    const unsigned char *l = p + s[2].payload;
    assert_int_equal(rd32(l), 3);
    assert_memory_equal(l + 4, "mse", 3);
    assert_int_equal(rd64(l + 7), 1);
    print_message("the lesson's 2-2-1 model file: %zu bytes (%zu without the optimizer)\n", n,
                  n - s[3].len - 16);
    nn_model_buffer_free(p);
    nn_model_free(m);
}

/* ---- damage -------------------------------------------------------------------------------- */

static unsigned char *gender_file(size_t *n, int with_extras)
{
    nn_net *net = gender_net();
    nn_model *m = NULL;
    assert_ok(nn_model_new(net, &m));
    if (with_extras) {
        const float mean[2] = {135, 66}, std[2] = {10, 4};
        assert_ok(nn_model_set_standardisation(m, mean, std));
        assert_ok(nn_model_set_meta(m, "k", "v"));
    }
    unsigned char *p = save_mem(m, NULL, 0, n);
    nn_model_free(m);
    return p;
}

/* Loads size bytes copied into a block of exactly that size (so ASan sees any read
 * past the end) and expects status; returns 1 when the message has `needle`. */
static int load_expect(const unsigned char *p, size_t size, nn_status status, const char *needle)
{
    unsigned char *copy = malloc(size ? size : 1);
    assert_non_null(copy);
    if (size > 0)
        memcpy(copy, p, size);
    nn_model *m = (nn_model *)&copy; /* not NULL, to see it reset */
    nn_clear_error();
    nn_status st = nn_model_load_buffer(copy, size, NULL, &m);
    free(copy);
    if (st != status)
        fail_msg("loading %zu bytes gave %s, expected %s: %s", size, nn_strerror(st),
                 nn_strerror(status), nn_last_error());
    if (status != NN_OK)
        assert_null(m);
    nn_model_free(m);
    return needle == NULL || strstr(nn_last_error(), needle) != NULL;
}

static void test_flip_a_byte_in_each_section(void **state)
{
    (void)state;
    size_t n = 0;
    unsigned char *p = gender_file(&n, 1);
    section s[8];
    size_t ns = sections(p, n, s, 8);
    assert_int_equal(ns, 6); /* ARCH PARM LOSS OPTM STDZ META */
    for (size_t i = 0; i < ns; i++) {
        /* One byte of the header, the first and the last byte of the payload. */
        size_t offsets[3] = {s[i].at + 2, s[i].payload, s[i].payload + s[i].len - 1};
        for (int j = 0; j < 3; j++) {
            p[offsets[j]] ^= 0x10;
            if (!load_expect(p, n, NN_ERR_FORMAT, "checksum mismatch"))
                fail_msg("section %s byte %zu: %s", s[i].tag, offsets[j], nn_last_error());
            assert_non_null(strstr(nn_last_error(), "byte offset"));
            p[offsets[j]] ^= 0x10;
        }
    }
    /* The checksum itself. */
    p[n - 1] ^= 1;
    assert_true(load_expect(p, n, NN_ERR_FORMAT, "checksum mismatch"));
    p[n - 1] ^= 1;
    /* Header fields give their own messages. */
    p[3] ^= 0x20;
    assert_true(load_expect(p, n, NN_ERR_FORMAT, "not an nn model file"));
    p[3] ^= 0x20;
    p[12] = 1;
    assert_true(load_expect(p, n, NN_ERR_FORMAT, "header flags"));
    p[12] = 0;
    p[16] ^= 1;
    assert_true(load_expect(p, n, NN_ERR_FORMAT, "byte offset 16"));
    p[16] ^= 1;
    assert_true(load_expect(p, n, NN_OK, NULL));
    nn_model_buffer_free(p);
}

static void test_truncation_at_every_offset(void **state)
{
    (void)state;
    size_t n = 0;
    unsigned char *p = gender_file(&n, 1);
    nn_test_alloc_install();
    for (size_t len = 0; len < n; len++) {
        load_expect(p, len, NN_ERR_FORMAT, NULL);
        const char *msg = nn_last_error();
        /* Every message says where: the offset of the damage. */
        if (strstr(msg, "byte offset") == NULL)
            fail_msg("truncated to %zu bytes: no offset in \"%s\"", len, msg);
        if (len >= 24 && strstr(msg, "truncated") == NULL)
            fail_msg("truncated to %zu bytes: \"%s\"", len, msg);
    }
    /* And with bytes added. */
    unsigned char *longer = malloc(n + 3);
    memcpy(longer, p, n);
    memset(longer + n, 0, 3);
    assert_true(load_expect(longer, n + 3, NN_ERR_FORMAT, "trailing data"));
    free(longer);
    assert_int_equal(nn_test_alloc()->live, 0);
    nn_model_buffer_free(p);
}

static void test_magic_and_versions(void **state)
{
    (void)state;
    size_t n = 0;
    unsigned char *p = gender_file(&n, 0);
    const char *text = "input 2\ndense 2\n";
    assert_true(load_expect((const unsigned char *)text, strlen(text), NN_ERR_FORMAT,
                            "not an nn model file"));
    assert_true(load_expect((const unsigned char *)"\x89NN", 3, NN_ERR_FORMAT, "truncated"));
    wr32(p + 8, 2);
    assert_true(load_expect(p, n, NN_ERR_FORMAT, "format version 2 is newer"));
    assert_true(strstr(nn_last_error(), "byte offset 8") != NULL);
    wr32(p + 8, 0);
    assert_true(load_expect(p, n, NN_ERR_FORMAT, "version 0"));
    wr32(p + 8, 1);
    assert_true(load_expect(p, n, NN_OK, NULL));
    nn_model_buffer_free(p);
}

/* A small file put together by hand: ARCH (in 2, one dense of 1 unit with no
 * settings but units) and PARM (W (1, 2), b (1)), so that any field can be set to
 * anything and the file resealed. */
typedef struct handmade {
    unsigned char b[512];
    size_t n;
    size_t units_value; /* offset of the dense units value */
    size_t layer_count; /* offset of ARCH's layer count */
    size_t tensor_count, w_dims, w_data, b_dims;
    size_t arch_len, parm_len;
} handmade;

static void put(handmade *h, const void *p, size_t n)
{
    memcpy(h->b + h->n, p, n);
    h->n += n;
}

static void put32(handmade *h, uint32_t v)
{
    wr32(h->b + h->n, v);
    h->n += 4;
}

static void put64(handmade *h, uint64_t v)
{
    wr64(h->b + h->n, v);
    h->n += 8;
}

static void putstr(handmade *h, const char *s)
{
    put32(h, (uint32_t)strlen(s));
    put(h, s, strlen(s));
}

static void make_handmade(handmade *h)
{
    memset(h, 0, sizeof *h);
    static const unsigned char magic[8] = {0x89, 'N', 'N', 'M', '\r', '\n', 0x1a, '\n'};
    put(h, magic, 8);
    put32(h, 1);
    put32(h, 0);
    put64(h, 0);
    put(h, "ARCH", 4);
    put32(h, 1);
    h->arch_len = h->n;
    put64(h, 0);
    size_t start = h->n;
    put64(h, 2);
    h->layer_count = h->n;
    put32(h, 1);
    putstr(h, "dense");
    put32(h, 1);
    putstr(h, "units");
    unsigned char type = 2; /* uint */
    put(h, &type, 1);
    h->units_value = h->n;
    put64(h, 1);
    wr64(h->b + h->arch_len, h->n - start);
    put(h, "PARM", 4);
    put32(h, 1);
    h->parm_len = h->n;
    put64(h, 0);
    start = h->n;
    h->tensor_count = h->n;
    put32(h, 2);
    put32(h, 0);
    put32(h, 2);
    h->w_dims = h->n;
    put64(h, 1);
    put64(h, 2);
    h->w_data = h->n;
    float w[2] = {0.5f, -1.25f}, bias = 0.125f;
    put(h, w, 8);
    put32(h, 0);
    put32(h, 1);
    h->b_dims = h->n;
    put64(h, 1);
    put(h, &bias, 4);
    wr64(h->b + h->parm_len, h->n - start);
    put32(h, 0); /* the checksum's place */
    reseal(h->b, h->n);
}

static void test_handmade_file_loads(void **state)
{
    (void)state;
    handmade h;
    make_handmade(&h);
    nn_model *m = NULL;
    assert_ok(nn_model_load_buffer(h.b, h.n, NULL, &m));
    nn_net *net = nn_model_net(m);
    assert_int_equal(nn_net_layer_count(net), 1);
    float x[2] = {2.0f, 1.0f}, y[1];
    nn_tensor xt = nn_tensor_view2d(x, 1, 2), yt = nn_tensor_view2d(y, 1, 1);
    assert_ok(nn_net_predict(net, &xt, &yt));
    assert_true(y[0] == 0.5f * 2.0f - 1.25f * 1.0f + 0.125f);
    assert_null(nn_net_loss(net));
    assert_null(nn_net_optim(net));
    /* The default initialiser comes from the registry's defaults. */
    nn_dense_params dp;
    assert_ok(nn_dense_get_params(nn_net_layer(net, 0), &dp));
    assert_int_equal(dp.weight_init.kind, NN_INIT_TORCH_LINEAR);
    nn_model_free(m);
}

static void test_absurd_sizes(void **state)
{
    (void)state;
    handmade h;
    nn_test_alloc_install();

    /* A tensor claiming 2^40 elements (and the architecture agreeing). */
    make_handmade(&h);
    wr64(h.b + h.units_value, (uint64_t)1 << 40);
    wr64(h.b + h.w_dims, (uint64_t)1 << 40);
    reseal(h.b, h.n);
    assert_true(load_expect(h.b, h.n, NN_ERR_FORMAT, "claims more elements"));
    assert_true(strstr(nn_last_error(), "1099511627776") != NULL);
    char where[48];
    snprintf(where, sizeof where, "byte offset %zu", h.w_dims);
    assert_true(strstr(nn_last_error(), where) != NULL);

    /* Dimensions whose product overflows 64 bits. */
    make_handmade(&h);
    wr64(h.b + h.w_dims, (uint64_t)1 << 33);
    wr64(h.b + h.w_dims + 8, (uint64_t)1 << 33);
    reseal(h.b, h.n);
    assert_true(load_expect(h.b, h.n, NN_ERR_FORMAT, "claims more elements"));

    /* The architecture alone asks for 2^40 units: the shapes disagree first, and
     * nothing of that size is allocated. */
    make_handmade(&h);
    wr64(h.b + h.units_value, (uint64_t)1 << 40);
    reseal(h.b, h.n);
    assert_true(load_expect(h.b, h.n, NN_ERR_FORMAT, "has shape (1, 2)"));

    /* Counts far beyond the bytes present. */
    make_handmade(&h);
    wr32(h.b + h.layer_count, 0xFFFFFFFFu);
    reseal(h.b, h.n);
    assert_true(load_expect(h.b, h.n, NN_ERR_FORMAT, "4294967295 layers cannot fit"));
    make_handmade(&h);
    wr32(h.b + h.tensor_count, 0x10000000u);
    reseal(h.b, h.n);
    assert_true(load_expect(h.b, h.n, NN_ERR_FORMAT, "tensors cannot fit"));
    /* A string length beyond the section. */
    make_handmade(&h);
    wr32(h.b + h.layer_count + 4, 0x7FFFFFFFu);
    reseal(h.b, h.n);
    assert_true(load_expect(h.b, h.n, NN_ERR_FORMAT, "length 2147483647"));
    /* A section length beyond the file. */
    make_handmade(&h);
    wr64(h.b + h.parm_len, (uint64_t)1 << 62);
    reseal(h.b, h.n);
    assert_true(load_expect(h.b, h.n, NN_ERR_FORMAT, "section 'PARM' claims"));
    /* An input width of 2^63: no dense layer can take it without data. */
    make_handmade(&h);
    wr64(h.b + h.arch_len + 8, (uint64_t)1 << 63);
    reseal(h.b, h.n);
    assert_true(load_expect(h.b, h.n, NN_ERR_FORMAT, NULL));
    assert_int_equal(nn_test_alloc()->live, 0);
}

/* A file with only an ARCH section: input width 2, `count` layers claimed, then
 * `pad` zero bytes (enough for the count to fit, so the reader's limit is what stops it). */
static unsigned char *arch_only(uint32_t count, size_t pad, size_t *n)
{
    static const unsigned char magic[8] = {0x89, 'N', 'N', 'M', '\r', '\n', 0x1a, '\n'};
    *n = 24 + 16 + 12 + pad + 4;
    unsigned char *b = calloc(*n, 1);
    memcpy(b, magic, 8);
    wr32(b + 8, 1);
    memcpy(b + 24, "ARCH", 4);
    wr32(b + 28, 1);
    wr64(b + 32, 12 + pad);
    wr64(b + 40, 2);
    wr32(b + 48, count);
    reseal(b, *n);
    return b;
}

static void test_reader_limits(void **state)
{
    (void)state;
    size_t n = 0;
    unsigned char *b = arch_only(10001, 10001 * 9, &n);
    assert_true(
        load_expect(b, n, NN_ERR_FORMAT, "10001 layers, more than this reader takes (10000)"));
    free(b);
    /* One layer "x" with 1025 settings claimed. */
    b = arch_only(1, 1025 * 10 + 9, &n);
    wr32(b + 52, 1);
    b[56] = 'x';
    wr32(b + 57, 1025);
    reseal(b, n);
    assert_true(
        load_expect(b, n, NN_ERR_FORMAT, "1025 settings, more than this reader takes (1024)"));
    free(b);
}

static void test_structural_errors(void **state)
{
    (void)state;
    handmade h;
    /* A NaN weight. */
    make_handmade(&h);
    wr32(h.b + h.w_data + 4, 0x7FC00000u);
    reseal(h.b, h.n);
    assert_true(load_expect(h.b, h.n, NN_ERR_FORMAT, "element 1 is nan"));
    char where[48];
    snprintf(where, sizeof where, "byte offset %zu", h.w_data + 4);
    assert_true(strstr(nn_last_error(), where) != NULL);
    /* An infinite bias. */
    make_handmade(&h);
    wr32(h.b + h.b_dims + 8, 0x7F800000u);
    reseal(h.b, h.n);
    assert_true(load_expect(h.b, h.n, NN_ERR_FORMAT, "not finite"));
    /* An unknown layer kind, naming the known ones. */
    make_handmade(&h);
    memcpy(h.b + h.layer_count + 8, "dens3", 5);
    reseal(h.b, h.n);
    assert_true(load_expect(h.b, h.n, NN_ERR_FORMAT, "unknown layer kind 'dens3'"));
    assert_true(strstr(nn_last_error(), "sigmoid") != NULL);
    /* A settings value out of range for the kind. */
    make_handmade(&h);
    wr64(h.b + h.units_value, 0);
    reseal(h.b, h.n);
    assert_true(load_expect(h.b, h.n, NN_ERR_FORMAT, "units is 0"));
    /* A settings value of another type: the units as a string type byte. */
    make_handmade(&h);
    h.b[h.units_value - 1] = 9;
    reseal(h.b, h.n);
    assert_true(load_expect(h.b, h.n, NN_ERR_FORMAT, "unknown type 9"));
    /* A wrong dtype and a wrong rank. */
    make_handmade(&h);
    wr32(h.b + h.tensor_count + 4, 1);
    reseal(h.b, h.n);
    assert_true(load_expect(h.b, h.n, NN_ERR_FORMAT, "dtype 1"));
    make_handmade(&h);
    wr32(h.b + h.tensor_count + 8, 5);
    reseal(h.b, h.n);
    assert_true(load_expect(h.b, h.n, NN_ERR_FORMAT, "5 dimensions"));
    /* Fewer tensors than the architecture has. */
    make_handmade(&h);
    wr32(h.b + h.tensor_count, 1);
    reseal(h.b, h.n);
    assert_true(load_expect(h.b, h.n, NN_ERR_FORMAT, NULL));
    /* Sections out of order: PARM first. */
    make_handmade(&h);
    memcpy(h.b + 24, "PARM", 4);
    reseal(h.b, h.n);
    assert_true(load_expect(h.b, h.n, NN_ERR_FORMAT, "expected 'ARCH'"));
}

/* Appends a section before the checksum of a handmade file. */
static void append_section(handmade *h, const char *tag, uint32_t flags, const void *payload,
                           size_t len)
{
    h->n -= 4;
    put(h, tag, 4);
    put32(h, flags);
    put64(h, len);
    put(h, payload, len);
    put32(h, 0);
    reseal(h->b, h->n);
}

static void test_unknown_sections(void **state)
{
    (void)state;
    handmade h;
    /* An optional section from a newer writer is skipped. */
    make_handmade(&h);
    append_section(&h, "XTRA", 0, "hello", 5);
    assert_true(load_expect(h.b, h.n, NN_OK, NULL));
    /* A required one is refused. */
    make_handmade(&h);
    append_section(&h, "XTRA", 1, "hello", 5);
    assert_true(load_expect(h.b, h.n, NN_ERR_FORMAT, "section 'XTRA' is marked required"));
    /* A known section twice. */
    make_handmade(&h);
    unsigned char loss[64];
    memset(loss, 0, sizeof loss);
    size_t n = 0;
    wr32(loss, 3);
    memcpy(loss + 4, "mse", 3);
    wr64(loss + 7, 1);
    wr32(loss + 15, 0);
    n = 19;
    append_section(&h, "LOSS", 0, loss, n);
    assert_true(load_expect(h.b, h.n, NN_OK, NULL));
    append_section(&h, "LOSS", 0, loss, n);
    assert_true(load_expect(h.b, h.n, NN_ERR_FORMAT, "section 'LOSS' appears twice"));
    /* A loss whose target width the network cannot take. */
    make_handmade(&h);
    wr64(loss + 7, 3);
    append_section(&h, "LOSS", 0, loss, n);
    assert_true(load_expect(h.b, h.n, NN_ERR_FORMAT, "the loss"));
    /* Bytes left over inside a known section. */
    make_handmade(&h);
    wr64(loss + 7, 1);
    append_section(&h, "LOSS", 0, loss, n + 2);
    assert_true(load_expect(h.b, h.n, NN_ERR_FORMAT, "2 bytes left over"));
    /* A standardisation of the wrong width, and one with a zero std. */
    make_handmade(&h);
    unsigned char stdz[8 + 16];
    wr64(stdz, 3);
    append_section(&h, "STDZ", 1, stdz, 8);
    assert_true(load_expect(h.b, h.n, NN_ERR_FORMAT, "width 3"));
    make_handmade(&h);
    float ms[4] = {1, 2, 1, 0};
    wr64(stdz, 2);
    memcpy(stdz + 8, ms, 16);
    append_section(&h, "STDZ", 1, stdz, sizeof stdz);
    assert_true(load_expect(h.b, h.n, NN_ERR_FORMAT, "std of feature 1"));
}

/* nn_model_standardise computes what nn_scaler_apply does (model.h), bit for bit: nn
 * train standardises with the scaler, nn predict with the model. A column spanning
 * -3e38..3e38 overflowed x - mean in float. */
static void test_standardise_matches_scaler(void **state)
{
    (void)state;
    float a[8] = {3e38f, 1.1f, 3e38f, 7.3f, 3e38f, 0.2f, -3e38f, 9.9f}, b[8]; /* rows of 2 */
    nn_tensor xa = nn_tensor_view2d(a, 4, 2);
    nn_scaler *s = NULL;
    assert_ok(nn_scaler_fit(&xa, &s));
    nn_model *m = NULL;
    assert_ok(nn_model_new(nn_test_mlp(2, 3, 1, 5), &m));
    assert_ok(nn_model_set_scaler(m, s));
    memcpy(b, a, sizeof a);
    nn_tensor xb = nn_tensor_view2d(b, 4, 2);
    assert_ok(nn_scaler_apply(s, &xa));
    assert_ok(nn_model_standardise(m, &xb));
    assert_memory_equal(a, b, sizeof a);
    nn_scaler_free(s);
    nn_model_free(m);
}

/* A save and a load that succeed leave the thread's last error as it was (status.h:
 * it stays until the next error), although they ask the optimizer which state it
 * keeps and Adam without amsgrad says it keeps no 'max_exp_avg_sq'. */
static void test_success_keeps_last_error(void **state)
{
    (void)state;
    nn_net *net = nn_test_mlp(3, 4, 2, 5);
    nn_loss *mse = NULL;
    nn_optim *adam = NULL;
    nn_adam_params ap = nn_adam_default_params();
    assert_ok(nn_loss_mse_new(&mse));
    assert_ok(nn_net_set_loss(net, mse, 2));
    assert_ok(nn_optim_adam_new_ex(&ap, &adam));
    assert_ok(nn_net_set_optim(net, adam));
    nn_tensor *x = nn_test_random_tensor(4, 3, 6, 99), *t = nn_test_random_tensor(4, 2, 7, 99);
    assert_ok(nn_net_train_step(net, x, t, NULL));
    nn_optim *bad = NULL;
    assert_status(nn_optim_sgd_new(-1.0, &bad), NN_ERR_INVALID_ARG); /* the user's last error */
    char before[512];
    snprintf(before, sizeof before, "%s", nn_last_error());
    /* called bare: assert_ok clears the message first */
    nn_model *m = NULL, *back = NULL;
    void *data = NULL;
    size_t n = 0;
    nn_status st_new = nn_model_new(net, &m);
    nn_status st_save = nn_model_save_buffer(m, NULL, 0, &data, &n);
    nn_status st_load = nn_model_load_buffer(data, n, NULL, &back);
    assert_string_equal(nn_last_error(), before);
    assert_status_was(st_new, NN_OK);
    assert_status_was(st_save, NN_OK);
    assert_status_was(st_load, NN_OK);
    assert_int_equal(nn_net_optim(nn_model_net(back))->step_count, 1); /* Adam's state came through */
    nn_model_buffer_free(data);
    nn_model_free(back);
    net = nn_model_into_net(m);
    nn_tensor_free(x);
    nn_tensor_free(t);
    nn_net_free(net);
}

/* An input width of 2^61 or more (a network of activations takes any) with a
 * standardisation: its 8 bytes a feature were counted as 8 x 2^61, which wrapped to 0,
 * so the reader asked for two blocks of 2^63 bytes and reported a truncated file as
 * NN_ERR_NOMEM. */
static void test_standardisation_width_does_not_wrap(void **state)
{
    (void)state;
    static const unsigned char magic[8] = {0x89, 'N', 'N', 'M', '\r', '\n', 0x1a, '\n'};
    const uint64_t widths[] = {(uint64_t)1 << 61, ((uint64_t)1 << 61) + 1, (uint64_t)1 << 62};
    for (size_t c = 0; c < sizeof widths / sizeof widths[0]; c++) {
        handmade h;
        memset(&h, 0, sizeof h);
        put(&h, magic, 8);
        put32(&h, 1);
        put32(&h, 0);
        put64(&h, 0);
        put(&h, "ARCH", 4);
        put32(&h, 1);
        put64(&h, 8 + 4 + 4 + 7 + 4);
        put64(&h, widths[c]);
        put32(&h, 1);
        putstr(&h, "sigmoid");
        put32(&h, 0);
        put(&h, "PARM", 4);
        put32(&h, 1);
        put64(&h, 4);
        put32(&h, 0);
        put32(&h, 0); /* the checksum's place */
        unsigned char stdz[8 + 16];
        memset(stdz, 0, sizeof stdz);
        wr64(stdz, widths[c]);
        append_section(&h, "STDZ", 1, stdz, sizeof stdz);
        nn_test_alloc_install();
        assert_true(load_expect(h.b, h.n, NN_ERR_FORMAT, "truncated: the standardisation"));
        assert_int_equal(nn_test_alloc()->live, 0);
        nn_set_allocator(NULL);
    }
}

/* Every allocation of a load and of a save fails in turn: the right status, never a
 * leak, and the next attempt succeeds. */
static void test_out_of_memory(void **state)
{
    (void)state;
    nn_test_alloc_install();
    size_t n = 0;
    unsigned char *p = gender_file(&n, 1);
    long base = nn_test_alloc()->live; /* p */
    size_t k;
    for (k = 1;; k++) {
        nn_test_alloc_fail_nth(k);
        nn_model *m = NULL;
        nn_status st = nn_model_load_buffer(p, n, NULL, &m);
        if (nn_test_alloc()->failed == 0) {
            assert_ok(st);
            nn_model_free(m);
            break;
        }
        assert_status_was(st, NN_ERR_NOMEM);
        assert_null(m);
        assert_int_equal(nn_test_alloc()->live, base);
    }
    assert_true(k > 10);
    nn_test_alloc_count_from_now();
    nn_model *m = NULL;
    assert_ok(nn_model_load_buffer(p, n, NULL, &m));
    for (k = 1;; k++) {
        long live = nn_test_alloc()->live;
        nn_test_alloc_fail_nth(k);
        void *data = NULL;
        size_t size = 0;
        nn_status st = nn_model_save_buffer(m, NULL, 0, &data, &size);
        if (nn_test_alloc()->failed == 0) {
            assert_ok(st);
            assert_int_equal(size, n);
            assert_memory_equal(data, p, n);
            nn_model_buffer_free(data);
            break;
        }
        assert_status_was(st, NN_ERR_NOMEM);
        assert_null(data);
        assert_int_equal(nn_test_alloc()->live, live);
    }
    nn_model_free(m);
    nn_model_buffer_free(p);
    assert_int_equal(nn_test_alloc()->live, 0);
}

/* ---- files ---------------------------------------------------------------------------------- */

static char *temp_dir(void)
{
    char *dir = strdup("/tmp/nn_test_model_XXXXXX");
    assert_non_null(mkdtemp(dir));
    return dir;
}

static char *join(const char *dir, const char *name)
{
    char *p = malloc(strlen(dir) + strlen(name) + 2);
    sprintf(p, "%s/%s", dir, name);
    return p;
}

/* Number of entries in dir besides . and .. */
static int entries(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    unsigned char *b = malloc(1 << 16);
    *n = fread(b, 1, 1 << 16, f);
    fclose(f);
    return b;
}

static void test_save_and_load_files(void **state)
{
    (void)state;
    char *dir = temp_dir();
    char *path = join(dir, "gender.nnm");
    nn_net *net = gender_net();
    assert_ok(nn_model_save_net(net, path, NULL, 0));
    assert_int_equal(entries(dir), 1); /* no temporary file left behind */
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0644);
    nn_net *back = NULL;
    assert_ok(nn_model_load_net(path, NULL, &back));
    assert_same_params(net, back);
    assert_same_predictions(net, back, 4, 8);
    /* Saving again replaces the file. */
    float *p = nn_net_params(back, NULL);
    p[0] += 1.0f;
    assert_ok(nn_model_save_net(back, path, NULL, 0));
    nn_net *again = NULL;
    assert_ok(nn_model_load_net(path, NULL, &again));
    assert_same_params(back, again);
    assert_int_equal(entries(dir), 1);

    /* Load errors from the file system. */
    char *missing = join(dir, "missing.nnm");
    nn_model *m = NULL;
    assert_error(nn_model_load(missing, NULL, &m), NN_ERR_IO, "missing.nnm", "No such file");
    assert_null(m);
    assert_error(nn_model_load(dir, NULL, &m), NN_ERR_IO, "Is a directory");
    /* A text file: the format error names the file. */
    char *text = join(dir, "spec.txt");
    FILE *f = fopen(text, "w");
    fputs("input 2\n", f);
    fclose(f);
    assert_error(nn_model_load(text, NULL, &m), NN_ERR_FORMAT, "spec.txt", "not an nn model file");
    remove(text);
    remove(path);
    rmdir(dir);
    free(text);
    free(missing);
    free(path);
    free(dir);
    nn_net_free(net);
    nn_net_free(back);
    nn_net_free(again);
}

/* A failed save leaves the existing file exactly as it was and no temporary file. */
static void test_failed_save_keeps_old_file(void **state)
{
    (void)state;
    char *dir = temp_dir();
    char *path = join(dir, "model.nnm");
    nn_net *net = gender_net();
    assert_ok(nn_model_save_net(net, path, NULL, 0));
    size_t n0 = 0;
    unsigned char *before = slurp(path, &n0);
    float *p = nn_net_params(net, NULL);
    p[0] = 123.0f; /* a different model, which must not reach the file */

    if (geteuid() != 0) {
        /* A read-only folder: the temporary file cannot be created. */
        assert_int_equal(chmod(dir, 0555), 0);
        assert_error(nn_model_save_net(net, path, NULL, 0), NN_ERR_IO, "temporary file",
                     "Permission denied");
        assert_int_equal(chmod(dir, 0755), 0);
    } else {
        /* root ignores permissions: a folder that does not exist instead. */
        char *nodir = join(dir, "no/such/dir/model.nnm");
        assert_error(nn_model_save_net(net, nodir, NULL, 0), NN_ERR_IO, "temporary file",
                     "No such file");
        free(nodir);
    }
    /* The target is a folder, or a FIFO: refused before anything is written (a rename
     * would have replaced the FIFO, or a device as root, by a regular file). */
    char *sub = join(dir, "sub");
    assert_int_equal(mkdir(sub, 0755), 0);
    assert_error(nn_model_save_net(net, sub, NULL, 0), NN_ERR_IO, "exists and is not a regular file");
    char *fifo = join(dir, "fifo");
    assert_int_equal(mkfifo(fifo, 0644), 0);
    assert_error(nn_model_save_net(net, fifo, NULL, 0), NN_ERR_IO, "'", fifo, "not replaced");
    struct stat sb;
    assert_int_equal(lstat(fifo, &sb), 0);
    assert_true(S_ISFIFO(sb.st_mode));
    remove(fifo);
    free(fifo);
    assert_int_equal(entries(dir), 2);

    /* The disk fills up mid-write: a file size limit makes write() fail with EFBIG. */
    struct rlimit old;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    struct rlimit small = old;
    small.rlim_cur = 64;
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
    nn_status st = nn_model_save_net(net, path, NULL, 0);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, prev);
    assert_status_was(st, NN_ERR_IO);
    assert_non_null(strstr(nn_last_error(), "writing"));
    assert_non_null(strstr(nn_last_error(), "unchanged"));

    /* A parameter that is not finite: the loader would refuse the file, so none is
     * written (it used to replace the good one). */
    p[1] = INFINITY;
    assert_error(nn_model_save_net(net, path, NULL, 0), NN_ERR_NUMERIC,
                 "parameter tensor 0, element 1 is inf");
    p[3] = NAN;
    p[1] = 0.0f;
    assert_error(nn_model_save_net(net, path, NULL, 0), NN_ERR_NUMERIC, "element 3 is nan");

    size_t n1 = 0;
    unsigned char *after = slurp(path, &n1);
    assert_int_equal(n0, n1);
    assert_memory_equal(before, after, n0);
    assert_int_equal(entries(dir), 2); /* model.nnm and sub only */
    rmdir(sub);
    remove(path);
    rmdir(dir);
    free(before);
    free(after);
    free(sub);
    free(path);
    free(dir);
    nn_net_free(net);
}

/* Saving through a symbolic link updates the file it names and keeps the link; a
 * replaced file keeps its permissions, a new one gets 0666 less the umask; a name
 * near the file system's limit can be written (the temporary name does not grow
 * with it). */
static void test_save_links_modes_long_names(void **state)
{
    (void)state;
    char *dir = temp_dir();
    char *real = join(dir, "real.nnm"), *link = join(dir, "link.nnm");
    nn_net *net = gender_net();
    assert_ok(nn_model_save_net(net, real, NULL, 0));
    assert_int_equal(symlink("real.nnm", link), 0);
    assert_int_equal(chmod(real, 0600), 0);
    nn_net_params(net, NULL)[0] = 42.0f;
    assert_ok(nn_model_save_net(net, link, NULL, 0));
    struct stat sb;
    assert_int_equal(lstat(link, &sb), 0);
    assert_true(S_ISLNK(sb.st_mode));
    assert_int_equal(stat(real, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    nn_model *m = NULL;
    assert_ok(nn_model_load(real, NULL, &m));
    assert_true(nn_net_params(nn_model_net(m), NULL)[0] == 42.0f);
    nn_model_free(m);

    mode_t old = umask(077);
    char *fresh = join(dir, "fresh.nnm");
    assert_ok(nn_model_save_net(net, fresh, NULL, 0));
    umask(old);
    assert_int_equal(stat(fresh, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);

    char name[256];
    memset(name, 'm', 251);
    memcpy(name + 251, ".nnm", 5); /* 255 bytes: the longest name ext4 takes */
    char *longp = join(dir, name);
    assert_ok(nn_model_save_net(net, longp, NULL, 0));
    assert_int_equal(entries(dir), 4); /* no temporary file left */
    remove(longp);
    remove(fresh);
    remove(link);
    remove(real);
    rmdir(dir);
    free(longp);
    free(fresh);
    free(link);
    free(real);
    free(dir);
    nn_net_free(net);
}

/* Optimizer state that is not finite is refused like parameters are. */
static void test_save_refuses_nonfinite_state(void **state)
{
    (void)state;
    nn_net *net = gender_net();
    nn_adam_params ap = nn_adam_default_params();
    nn_optim *adam = NULL;
    assert_ok(nn_optim_adam_new_ex(&ap, &adam));
    assert_ok(nn_net_set_optim(net, adam));
    float x[2] = {1, 2}, y[1] = {1};
    nn_tensor xt = nn_tensor_view2d(x, 1, 2), yt = nn_tensor_view2d(y, 1, 1);
    assert_ok(nn_net_train_step(net, &xt, &yt, NULL)); /* the state is current */
    nn_tensor v;
    assert_ok(nn_optim_state(adam, "exp_avg_sq", 2, &v));
    v.data[0] = INFINITY;
    nn_model *m = NULL;
    assert_ok(nn_model_new(net, &m));
    void *data = NULL;
    size_t size = 0;
    assert_error(nn_model_save_buffer(m, NULL, 0, &data, &size), NN_ERR_NUMERIC,
                 "optimizer state of tensor 2, element 0 is inf");
    assert_null(data);
    /* Without the optimizer the file is good. */
    assert_ok(nn_model_save_buffer(m, NULL, NN_SAVE_NO_OPTIM, &data, &size));
    nn_model_buffer_free(data);
    nn_model_free(m);
}

/* nn_model_save_buffer of a network (wrapped in a model, then unwrapped). */
static nn_status save_net_buffer(nn_net **net, unsigned flags, void **data, size_t *size)
{
    nn_model *m = NULL;
    assert_ok(nn_model_new(*net, &m));
    nn_status st = nn_model_save_buffer(m, NULL, flags, data, size);
    *net = nn_model_into_net(m);
    return st;
}

/* Other files the loader would refuse are not written either: a loss that no longer
 * fits the output width, and more layers than the loader takes. */
static void test_save_refuses_unloadable(void **state)
{
    (void)state;
    nn_net *net = gender_net();
    assert_ok(nn_net_add(net, nn_test_dense(3, nn_init_zeros(), nn_init_zeros())));
    void *data = NULL;
    size_t size = 0;
    assert_error(save_net_buffer(&net, 0, &data, &size), NN_ERR_SHAPE,
                 "rejects output width 3 with target width 1");
    assert_null(data);
    assert_ok(save_net_buffer(&net, NN_SAVE_NO_LOSS, &data, &size));
    nn_model *back = NULL;
    assert_ok(nn_model_load_buffer(data, size, NULL, &back));
    assert_null(nn_net_loss(nn_model_net(back)));
    nn_model_free(back);
    nn_model_buffer_free(data);
    nn_net_free(net);

    assert_ok(nn_net_new(2, &net));
    for (int i = 0; i < 10001; i++)
        assert_ok(nn_net_add(net, nn_test_sigmoid()));
    assert_error(save_net_buffer(&net, 0, &data, &size), NN_ERR_INVALID_ARG,
                 "10001 layers, more than the loader takes (10000)");
    nn_net_free(net);
}

/* ---- user layers through a registry -------------------------------------------------------- */

/* y = factor * x, a layer written outside nn with one setting. */
typedef struct scale {
    float factor;
} scale;

static nn_status scale_build(nn_layer *l, size_t in)
{
    l->out_width = in;
    l->n_params = 0;
    return NN_OK;
}

static nn_status scale_forward(nn_layer *l, const nn_tensor *x, nn_tensor *y, int training)
{
    (void)training;
    for (size_t i = 0; i < x->size; i++)
        y->data[i] = ((scale *)l->impl)->factor * x->data[i];
    return NN_OK;
}

static nn_status scale_backward(nn_layer *l, const nn_tensor *x, const nn_tensor *y,
                                const nn_tensor *dy, nn_tensor *dx)
{
    (void)x;
    (void)y;
    for (size_t i = 0; dx != NULL && i < dy->size; i++)
        dx->data[i] = ((scale *)l->impl)->factor * dy->data[i];
    return NN_OK;
}

static void scale_destroy(nn_layer *l) { free(l->impl); }

static const nn_layer_ops scale_ops = {.name = "scale",
                                       .build = scale_build,
                                       .forward = scale_forward,
                                       .backward = scale_backward,
                                       .destroy = scale_destroy};

static nn_status scale_new(double factor, nn_layer **out)
{
    scale *s = malloc(sizeof *s);
    s->factor = (float)factor;
    nn_status st = nn_layer_new(&scale_ops, s, out);
    if (st != NN_OK)
        free(s);
    return st;
}

static nn_status scale_create(const nn_layer_class *cls, const nn_settings *s, nn_layer **out)
{
    static const char *const known[] = {"factor", NULL};
    (void)cls;
    double f = 1.0;
    nn_status st = nn_settings_check_keys(s, "scale", known);
    if (st == NN_OK)
        st = nn_settings_get_float(s, "factor", &f);
    return st == NN_OK ? scale_new(f, out) : st;
}

static nn_status scale_describe(const nn_layer_class *cls, const nn_layer *l, nn_settings *s)
{
    (void)cls;
    return nn_settings_set_float(s, "factor", ((const scale *)l->impl)->factor);
}

static const nn_layer_class scale_class = {"scale", "factor", scale_create, scale_describe, NULL};

static void test_user_layer_through_registry(void **state)
{
    (void)state;
    nn_layer *l = NULL;
    assert_ok(scale_new(-2.5, &l));
    nn_net *net = net_around(l, 12);
    nn_model *m = NULL;
    assert_ok(nn_model_new(net, &m));
    void *data = NULL;
    size_t n = 0;
    /* Without its class the layer cannot be described, so not saved. */
    assert_error(nn_model_save_buffer(m, NULL, 0, &data, &n), NN_ERR_INVALID_ARG, "'scale'",
                 "nn_registry_add_layer");
    nn_registry *reg = NULL;
    assert_ok(nn_registry_new(&reg));
    assert_ok(nn_registry_add_layer(reg, &scale_class));
    assert_error(nn_registry_add_layer(reg, &scale_class), NN_ERR_INVALID_ARG,
                 "already registered");
    nn_layer_class bad = scale_class;
    bad.name = "dense";
    assert_error(nn_registry_add_layer(reg, &bad), NN_ERR_INVALID_ARG, "already registered");
    bad.name = "loss";
    assert_error(nn_registry_add_layer(reg, &bad), NN_ERR_INVALID_ARG, "keyword");
    bad.name = "Scale";
    assert_error(nn_registry_add_layer(reg, &bad), NN_ERR_INVALID_ARG, "lower-case");
    data = save_mem(m, reg, 0, &n);
    /* Loading needs the class too. */
    nn_model *back = NULL;
    assert_error(nn_model_load_buffer(data, n, NULL, &back), NN_ERR_FORMAT,
                 "unknown layer kind 'scale'");
    assert_ok(nn_model_load_buffer(data, n, reg, &back));
    assert_string_equal(nn_layer_name(nn_net_layer(nn_model_net(back), 1)), "scale");
    assert_same_predictions(nn_model_net(m), nn_model_net(back), 5, 4);
    assert_ptr_equal(nn_registry_layer(reg, "scale"), &scale_class);
    assert_null(nn_registry_layer(NULL, "scale"));
    assert_non_null(nn_registry_layer(NULL, "dense"));
    nn_model_buffer_free(data);
    nn_model_free(m);
    nn_model_free(back);
    nn_registry_free(reg);
    nn_registry_free(NULL);
}

static void test_null_arguments(void **state)
{
    (void)state;
    nn_model *m = NULL;
    nn_net *net = NULL;
    void *data = NULL;
    size_t n = 0;
    assert_status(nn_model_new(NULL, &m), NN_ERR_NULL_ARG);
    assert_status(nn_model_load(NULL, NULL, &m), NN_ERR_NULL_ARG);
    assert_status(nn_model_load("x", NULL, NULL), NN_ERR_NULL_ARG);
    assert_status(nn_model_load_buffer(NULL, 3, NULL, &m), NN_ERR_NULL_ARG);
    assert_status(nn_model_load_net(NULL, NULL, &net), NN_ERR_NULL_ARG);
    assert_status(nn_model_save(NULL, "x", NULL, 0), NN_ERR_NULL_ARG);
    assert_status(nn_model_save_net(NULL, "x", NULL, 0), NN_ERR_NULL_ARG);
    assert_status(nn_model_save_buffer(NULL, NULL, 0, &data, &n), NN_ERR_NULL_ARG);
    assert_status(nn_model_set_meta(NULL, "k", "v"), NN_ERR_NULL_ARG);
    assert_null(nn_model_net(NULL));
    assert_null(nn_model_mean(NULL));
    assert_null(nn_model_meta(NULL, "k"));
    assert_int_equal(nn_model_meta_count(NULL), 0);
    assert_int_equal(nn_model_format_version(NULL), 0);
    nn_model_free(NULL);
    nn_model_buffer_free(NULL);
    /* A model made here, not loaded, has version 0. */
    assert_ok(nn_model_new(gender_net(), &m));
    assert_int_equal(nn_model_format_version(m), 0);
    assert_status(nn_model_save(m, NULL, NULL, 0), NN_ERR_NULL_ARG);
    nn_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_activation_round_trips),
        cmocka_unit_test(test_dense_settings_round_trip),
        cmocka_unit_test(test_every_optimizer_resumes_exactly),
        cmocka_unit_test(test_current_lr_is_saved),
        cmocka_unit_test(test_stale_optimizer_state),
        cmocka_unit_test(test_losses_round_trip),
        cmocka_unit_test(test_flags_leave_out_loss_and_optimizer),
        cmocka_unit_test(test_standardisation_and_metadata),
        cmocka_unit_test(test_standardisation_width_does_not_wrap),
        cmocka_unit_test(test_success_keeps_last_error),
        cmocka_unit_test(test_standardise_matches_scaler),
        cmocka_unit_test(test_layout),
        cmocka_unit_test(test_flip_a_byte_in_each_section),
        cmocka_unit_test_teardown(test_truncation_at_every_offset, nn_test_alloc_teardown),
        cmocka_unit_test(test_magic_and_versions),
        cmocka_unit_test(test_handmade_file_loads),
        cmocka_unit_test_teardown(test_absurd_sizes, nn_test_alloc_teardown),
        cmocka_unit_test(test_reader_limits),
        cmocka_unit_test(test_structural_errors),
        cmocka_unit_test(test_unknown_sections),
        cmocka_unit_test_teardown(test_out_of_memory, nn_test_alloc_teardown),
        cmocka_unit_test(test_save_and_load_files),
        cmocka_unit_test(test_save_links_modes_long_names),
        cmocka_unit_test(test_save_refuses_nonfinite_state),
        cmocka_unit_test(test_save_refuses_unloadable),
        cmocka_unit_test(test_failed_save_keeps_old_file),
        cmocka_unit_test(test_user_layer_through_registry),
        cmocka_unit_test(test_null_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
