#define _POSIX_C_SOURCE 200809L /* mkdtemp, before any system header */
/* test_fit.c - the training loop's options: schedules, clipping, the NaN guard,
 * validation and accuracy, early stopping, history CSV, progress output, modes.
 *
 * Each option is checked against the same training done by hand with the
 * lower-level calls (train_step, clip, set_lr), bit for bit. */
#include "nn_test.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static nn_tensor *random_tensor(size_t n, size_t w, uint64_t seed)
{
    return nn_test_random_tensor(n, w, seed, 7);
}

/* 3 -> dense 4 -> sigmoid -> dense 2 -> sigmoid, MSE, SGD(lr). */
static nn_net *small_net(uint64_t seed, double lr)
{
    nn_net *net = nn_test_mlp(3, 4, 2, seed);
    nn_test_mse_sgd(net, lr);
    return net;
}

static nn_fit_params quiet_params(size_t epochs, size_t batch)
{
    nn_fit_params fp = nn_fit_default_params();
    fp.epochs = epochs;
    fp.batch_size = batch;
    fp.progress = NN_PROGRESS_OFF;
    return fp;
}

/* One epoch by hand in data set order, with the learning rate set before each step
 * by lr_at(step) (NULL: unchanged) and clipping to clip (0: none). */
static void manual_epoch(nn_net *net, const nn_tensor *x, const nn_tensor *t, size_t bs,
                         double clip, const nn_schedule *s, double base, size_t *step, int per_step,
                         size_t epoch)
{
    size_t n = x->shape[0];
    nn_optim *o = nn_net_optim(net);
    if (s != NULL && !per_step)
        assert_ok(nn_optim_set_lr(o, nn_schedule_lr(s, base, epoch)));
    for (size_t first = 0; first < n; first += bs, (*step)++) {
        size_t rows = n - first < bs ? n - first : bs;
        nn_tensor xb, tb;
        assert_ok(nn_tensor_rows(x, first, rows, &xb));
        assert_ok(nn_tensor_rows(t, first, rows, &tb));
        if (s != NULL && per_step)
            assert_ok(nn_optim_set_lr(o, nn_schedule_lr(s, base, *step)));
        assert_ok(nn_net_compute_grads(net, &xb, &tb, NULL));
        size_t np = 0;
        float *p = nn_net_params(net, &np), *g = nn_net_grads(net, &np);
        nn_tensor pt = nn_tensor_view2d(p, 1, np), gt = nn_tensor_view2d(g, 1, np);
        if (clip > 0)
            assert_ok(nn_clip_grad_norm(&gt, 1, clip, NULL));
        assert_ok(nn_optim_step(o, &pt, &gt, 1));
    }
}

/* ---- schedules ---------------------------------------------------------------------- */

static void check_schedule(const nn_schedule *s, int per_step)
{
    nn_tensor *x = random_tensor(10, 3, 1), *t = random_tensor(10, 2, 2);
    nn_net *a = small_net(5, 0.5), *b = small_net(5, 0.5);
    nn_epoch_stats stats[4];
    nn_fit_history h = {.epochs = stats, .capacity = 4};
    nn_fit_params fp = quiet_params(4, 4);
    fp.schedule = s;
    fp.schedule_per_step = per_step;
    assert_ok(nn_net_fit(a, x, t, &fp, &h));
    /* The base rate comes back when fit returns. */
    assert_true(nn_net_optim(a)->lr == 0.5);

    size_t step = 0;
    for (size_t e = 0; e < 4; e++) {
        manual_epoch(b, x, t, 4, 0, s, 0.5, &step, per_step, e);
        /* The recorded rate is the one of the epoch's last step. */
        double want = nn_schedule_lr(s, 0.5, per_step ? step - 1 : e);
        assert_true(stats[e].lr == want);
    }
    size_t np = 0;
    float *pb = nn_test_params_copy(b, &np);
    assert_true(nn_test_params_equal(a, pb, np));
    free(pb);
    nn_net_free(a);
    nn_net_free(b);
    nn_tensor_free(x);
    nn_tensor_free(t);
}

static void test_schedule_per_epoch_and_per_step(void **state)
{
    (void)state;
    nn_schedule step = nn_schedule_step(2, 0.1);
    check_schedule(&step, 0);
    nn_schedule cosine = nn_schedule_cosine(6, 0.01);
    check_schedule(&cosine, 1);
    nn_schedule warm = nn_schedule_linear(0.25, 1.0, 5);
    check_schedule(&warm, 1);
}

/* ---- clipping ---------------------------------------------------------------------- */

static void test_clip_matches_manual_clipping(void **state)
{
    (void)state;
    nn_tensor *x = random_tensor(9, 3, 3), *t = random_tensor(9, 2, 4);
    nn_net *a = small_net(6, 2.0), *b = small_net(6, 2.0), *c = small_net(6, 2.0);
    nn_fit_params fp = quiet_params(3, 3);
    fp.clip_grad_norm = 0.05; /* small enough to clip every step */
    assert_ok(nn_net_fit(a, x, t, &fp, NULL));
    size_t step = 0;
    for (size_t e = 0; e < 3; e++)
        manual_epoch(b, x, t, 3, 0.05, NULL, 0, &step, 0, e);
    size_t np = 0;
    float *pb = nn_test_params_copy(b, &np);
    assert_true(nn_test_params_equal(a, pb, np));

    /* The same through the network's own setting and train_step. */
    assert_ok(nn_net_set_clip_grad_norm(c, 0.05));
    for (size_t e = 0; e < 3; e++)
        for (size_t first = 0; first < 9; first += 3) {
            nn_tensor xb, tb;
            assert_ok(nn_tensor_rows(x, first, 3, &xb));
            assert_ok(nn_tensor_rows(t, first, 3, &tb));
            assert_ok(nn_net_train_step(c, &xb, &tb, NULL));
        }
    assert_true(nn_test_params_equal(c, pb, np));

    /* Unclipped training goes elsewhere: the clipping did something. */
    nn_net *d = small_net(6, 2.0);
    fp.clip_grad_norm = 0;
    assert_ok(nn_net_fit(d, x, t, &fp, NULL));
    assert_false(nn_test_params_equal(d, pb, np));

    assert_error(nn_net_set_clip_grad_norm(c, -1), NN_ERR_INVALID_ARG, "-1");
    assert_status(nn_net_set_clip_grad_norm(c, NAN), NN_ERR_INVALID_ARG);
    assert_status(nn_net_set_clip_grad_norm(NULL, 1), NN_ERR_NULL_ARG);
    free(pb);
    nn_net_free(a);
    nn_net_free(b);
    nn_net_free(c);
    nn_net_free(d);
    nn_tensor_free(x);
    nn_tensor_free(t);
}

/* ---- the NaN guard ----------------------------------------------------------------- */

static void test_nan_in_data_stops_with_epoch_and_batch(void **state)
{
    (void)state;
    nn_tensor *x = random_tensor(12, 3, 5), *t = random_tensor(12, 2, 6);
    x->data[7 * 3 + 1] = NAN; /* row 7: the third batch of 3 */
    nn_net *a = small_net(7, 0.3), *b = small_net(7, 0.3);
    nn_fit_params fp = quiet_params(2, 3);
    nn_epoch_stats stats[2];
    nn_fit_history h = {.epochs = stats, .capacity = 2};
    assert_error(nn_net_fit(a, x, t, &fp, &h), NN_ERR_NUMERIC, "epoch 1, batch 3", "loss");
    assert_int_equal(h.count, 0);
    /* The parameters are those after the two good batches. */
    for (size_t first = 0; first < 6; first += 3) {
        nn_tensor xb, tb;
        assert_ok(nn_tensor_rows(x, first, 3, &xb));
        assert_ok(nn_tensor_rows(t, first, 3, &tb));
        assert_ok(nn_net_train_step(b, &xb, &tb, NULL));
    }
    size_t np = 0;
    float *pb = nn_test_params_copy(b, &np);
    assert_true(nn_test_params_equal(a, pb, np));
    for (size_t i = 0; i < np; i++)
        assert_true(isfinite(pb[i]));
    free(pb);
    nn_net_free(a);
    nn_net_free(b);
    nn_tensor_free(x);
    nn_tensor_free(t);
}

/* A layer y = x * s with one parameter s whose backward can be told to produce an
 * infinite gradient while the loss stays finite. */
static int poison_grad;

static nn_status scale_build(nn_layer *l, size_t in)
{
    l->out_width = in;
    l->n_params = 1;
    l->params[0].ndim = 1;
    l->params[0].shape[0] = 1;
    return NN_OK;
}

static nn_status scale_forward(nn_layer *l, const nn_tensor *x, nn_tensor *y, int training)
{
    (void)training;
    for (size_t i = 0; i < x->size; i++)
        y->data[i] = x->data[i] * l->params[0].data[0];
    return NN_OK;
}

static nn_status scale_backward(nn_layer *l, const nn_tensor *x, const nn_tensor *y,
                                const nn_tensor *dy, nn_tensor *dx)
{
    (void)y;
    double g = 0;
    for (size_t i = 0; i < x->size; i++)
        g += (double)x->data[i] * dy->data[i];
    l->grads[0].data[0] += poison_grad ? INFINITY : (float)g;
    if (dx != NULL)
        for (size_t i = 0; i < x->size; i++)
            dx->data[i] = dy->data[i] * l->params[0].data[0];
    return NN_OK;
}

static void test_infinite_gradient_keeps_parameters(void **state)
{
    (void)state;
    static const nn_layer_ops scale_ops = {
        .name = "scale", .build = scale_build, .forward = scale_forward, .backward = scale_backward};
    nn_net *net = NULL;
    nn_layer *l = NULL;
    assert_ok(nn_net_new(2, &net));
    assert_ok(nn_layer_new(&scale_ops, NULL, &l));
    assert_ok(nn_net_add(net, l));
    nn_test_mse_sgd(net, 0.1);
    size_t np = 0;
    nn_net_params(net, &np)[0] = 0.5f;
    float xv[4] = {1, 2, 3, 4}, tv[4] = {2, 4, 6, 8};
    nn_tensor x = nn_tensor_view2d(xv, 2, 2), t = nn_tensor_view2d(tv, 2, 2);
    for (int clip = 0; clip < 2; clip++) {
        assert_ok(nn_net_set_clip_grad_norm(net, clip ? 1.0 : 0.0));
        poison_grad = 1;
        double loss = -1;
        /* one parameter: the check's padded pass must still see it (and only it) */
        assert_error(nn_net_train_step(net, &x, &t, &loss), NN_ERR_NUMERIC,
                     clip ? "gradient is NaN or Inf" : "gradient 0 of 1 is inf");
        assert_true(isfinite(loss)); /* the loss was fine: the gradient was not */
        assert_true(nn_net_params(net, &np)[0] == 0.5f);
        poison_grad = 0;
        assert_ok(nn_net_train_step(net, &x, &t, &loss));
        assert_true(nn_net_params(net, &np)[0] != 0.5f);
        nn_net_params(net, &np)[0] = 0.5f;
    }
    nn_net_free(net);
}

/* ---- validation, accuracy, early stopping --------------------------------------------- */

typedef struct val_check {
    const nn_tensor *vx, *vt;
    size_t calls;
} val_check;

/* Recomputes the epoch's validation figures from the outside and compares. */
static int check_val(nn_net *net, const nn_epoch_stats *e, void *user)
{
    val_check *vc = user;
    double loss = -1;
    assert_ok(nn_net_eval_loss(net, vc->vx, vc->vt, &loss));
    assert_true(loss == e->val_loss);
    nn_tensor *pred = NULL;
    assert_ok(nn_tensor_new2d(vc->vx->shape[0], 2, &pred));
    assert_ok(nn_net_predict(net, vc->vx, pred));
    size_t right = 0;
    assert_ok(nn_count_correct(pred, vc->vt, &right));
    assert_true(e->val_acc == (double)right / (double)vc->vx->shape[0]);
    assert_true(e->train_acc >= 0 && e->train_acc <= 1);
    assert_true(e->seconds >= 0 && e->samples_per_s > 0);
    nn_tensor_free(pred);
    vc->calls++;
    return 0;
}

static void test_validation_and_accuracy(void **state)
{
    (void)state;
    /* Two classes: the first output should win when the features sum above 0. */
    nn_tensor *x = random_tensor(40, 3, 8), *vx = random_tensor(15, 3, 9), *t = NULL, *vt = NULL;
    assert_ok(nn_tensor_new2d(40, 2, &t));
    assert_ok(nn_tensor_new2d(15, 2, &vt));
    for (size_t i = 0; i < 55; i++) {
        const nn_tensor *src = i < 40 ? x : vx;
        nn_tensor *dst = i < 40 ? t : vt;
        size_t r = i < 40 ? i : i - 40;
        float sum = src->data[3 * r] + src->data[3 * r + 1] + src->data[3 * r + 2];
        dst->data[2 * r] = sum > 0;
        dst->data[2 * r + 1] = sum <= 0;
    }
    nn_net *net = small_net(9, 1.0);
    val_check vc = {vx, vt, 0};
    nn_epoch_stats stats[30];
    nn_fit_history h = {.epochs = stats, .capacity = 30};
    nn_fit_params fp = quiet_params(30, 8);
    fp.val_x = vx;
    fp.val_target = vt;
    fp.accuracy = 1;
    fp.on_epoch = check_val;
    fp.user = &vc;
    assert_ok(nn_net_fit(net, x, t, &fp, &h));
    assert_int_equal(vc.calls, 30);
    assert_int_equal(h.count, 30);
    assert_false(nn_net_training(net)); /* validation ran last, in inference mode */
    /* It learned the rule. */
    assert_true(stats[29].val_acc >= 0.85);
    assert_true(stats[29].train_acc >= 0.85);
    assert_true(stats[29].val_loss < stats[0].val_loss);

    /* One tensor of the pair missing, or the wrong width. */
    fp.on_epoch = NULL;
    fp.val_target = NULL;
    assert_error(nn_net_fit(net, x, t, &fp, NULL), NN_ERR_INVALID_ARG, "val_target");
    nn_tensor vt_bad = nn_tensor_view2d(vt->data, 5, 3);
    fp.val_target = &vt_bad;
    assert_error(nn_net_fit(net, x, t, &fp, NULL), NN_ERR_SHAPE, "validation");
    nn_tensor_free(x);
    nn_tensor_free(vx);
    nn_tensor_free(t);
    nn_tensor_free(vt);
    nn_net_free(net);
}

/* A loss that is MSE for training but reports a scripted curve when evaluated
 * without a gradient (the validation pass), to drive early stopping exactly; past
 * the script's end it fails. */
static const double script[] = {5.0, 4.0, 3.0, 3.5, 3.2, 2.0, 1.0, 0.5};
static size_t script_pos;

static nn_status scripted_check(const nn_loss *loss, size_t pw, size_t tw)
{
    (void)loss;
    return pw == tw ? NN_OK : NN_ERR_SHAPE;
}

static nn_status scripted_eval(const nn_loss *loss, const nn_tensor *pred, const nn_tensor *target,
                               double *value, nn_tensor *grad)
{
    (void)loss;
    if (grad == NULL) {
        if (script_pos >= sizeof script / sizeof script[0])
            return nn_set_error(NN_ERR_STATE, "scripted: no value %zu", script_pos);
        *value = script[script_pos++];
        return NN_OK;
    }
    double sum = 0;
    for (size_t i = 0; i < pred->size; i++) {
        double d = (double)pred->data[i] - target->data[i];
        sum += d * d;
        grad->data[i] = (float)(2.0 * d / (double)pred->size);
    }
    *value = sum / (double)pred->size;
    return NN_OK;
}

typedef struct snapshots {
    float params[8][64];
    size_t n;
} snapshots;

static int snapshot(nn_net *net, const nn_epoch_stats *e, void *user)
{
    snapshots *s = user;
    size_t np = 0;
    float *p = nn_net_params(net, &np);
    assert_true(np <= 64);
    memcpy(s->params[e->epoch], p, np * sizeof *p);
    s->n = e->epoch + 1;
    return 0;
}

/* 3 -> 4 -> 2 with the scripted loss and SGD(0.5); the script starts at pos. */
static nn_net *scripted_net(size_t pos)
{
    static const nn_loss_ops scripted = {"scripted", scripted_check, scripted_eval, NULL};
    nn_net *net = nn_test_mlp(3, 4, 2, 12);
    nn_loss *loss = NULL;
    nn_optim *sgd = NULL;
    assert_ok(nn_loss_new(&scripted, NULL, &loss));
    assert_ok(nn_net_set_loss(net, loss, 2));
    assert_ok(nn_optim_sgd_new(0.5, &sgd));
    assert_ok(nn_net_set_optim(net, sgd));
    script_pos = pos;
    return net;
}

static void test_early_stopping_on_scripted_curve(void **state)
{
    (void)state;
    nn_tensor *x = random_tensor(6, 3, 10), *t = random_tensor(6, 2, 11);
    for (int restore = 0; restore < 2; restore++) {
        nn_net *net = scripted_net(0);
        snapshots snaps = {.n = 0};
        nn_epoch_stats stats[8];
        nn_fit_history h = {.epochs = stats, .capacity = 8};
        nn_fit_params fp = quiet_params(8, 6); /* one batch per epoch: one validation each */
        fp.val_x = x;
        fp.val_target = t;
        fp.patience = 2;
        fp.restore_best = restore;
        fp.on_epoch = snapshot;
        fp.user = &snaps;
        assert_ok(nn_net_fit(net, x, t, &fp, &h));
        /* Best 3.0 at epoch 2; 3.5 and 3.2 are two epochs without a new best. */
        assert_int_equal(h.count, 5);
        assert_int_equal(h.best_epoch, 2);
        assert_int_equal(h.stopped_early, 1);
        assert_close(stats[4].val_loss, 3.2, 1e-14, 0); /* mean of one chunk: rows * v / rows */
        size_t np = 0;
        nn_net_params(net, &np);
        assert_true(nn_test_params_equal(net, snaps.params[restore ? 2 : 4], np));
        assert_false(nn_test_params_equal(net, snaps.params[restore ? 4 : 2], np));
        nn_net_free(net);
    }

    /* A validation that fails (the script's end, after epoch 2): fit stops, and the
     * message says where, then the cause. */
    nn_net *net = scripted_net(sizeof script / sizeof script[0] - 1);
    nn_epoch_stats stats[3];
    nn_fit_history h = {.epochs = stats, .capacity = 3};
    nn_fit_params fp = quiet_params(3, 6);
    fp.val_x = x;
    fp.val_target = t;
    assert_error(nn_net_fit(net, x, t, &fp, &h), NN_ERR_STATE,
                 "nn_net_fit: validation after epoch 2: in the batch starting at row 0: "
                 "scripted: no value 8");
    assert_int_equal(h.count, 1);
    nn_net_free(net);
    nn_tensor_free(x);
    nn_tensor_free(t);
}

/* ---- history CSV and progress output -------------------------------------------------- */

static void test_history_csv(void **state)
{
    (void)state;
    nn_epoch_stats stats[2] = {
        {.epoch = 0, .train_loss = 0.5, .train_acc = 0.75, .val_loss = NAN, .val_acc = NAN,
         .lr = 0.01, .seconds = 1.5, .samples_per_s = 400},
        {.epoch = 1, .train_loss = 0.25, .train_acc = 0.875, .val_loss = NAN, .val_acc = NAN,
         .lr = 0.005, .seconds = 1.25, .samples_per_s = 480}};
    nn_fit_history h = {.epochs = stats, .capacity = 2, .count = 2};
    char dir[] = "/tmp/nn_test_fit_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/history.csv", dir);
    assert_ok(nn_fit_history_write_csv(&h, path));
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char buf[512];
    size_t len = fread(buf, 1, sizeof buf - 1, f);
    buf[len] = '\0';
    fclose(f);
    assert_string_equal(buf, "epoch,train_loss,train_acc,val_loss,val_acc,lr,seconds,samples_per_s\n"
                             "1,0.5,0.750000,,,0.01,1.500000,400.0\n"
                             "2,0.25,0.875000,,,0.005,1.250000,480.0\n");
    char bad[300];
    snprintf(bad, sizeof bad, "%s/no/such/dir/h.csv", dir);
    assert_error(nn_fit_history_write_csv(&h, bad), NN_ERR_IO, bad);
    assert_status(nn_fit_history_write_csv(NULL, path), NN_ERR_NULL_ARG);
    remove(path);
    rmdir(dir);
}

static int stop_at_once(nn_net *net, const nn_epoch_stats *e, void *user)
{
    (void)net;
    (void)e;
    (void)user;
    return 1;
}

static char *run_with_progress_for(nn_progress mode, size_t epochs, size_t *len)
{
    nn_tensor *x = random_tensor(8, 3, 13), *t = random_tensor(8, 2, 14);
    nn_net *net = small_net(15, 0.1);
    FILE *out = tmpfile();
    assert_non_null(out);
    nn_fit_params fp = quiet_params(epochs, 4);
    fp.progress = mode;
    fp.progress_stream = out;
    if (epochs > 2)
        fp.on_epoch = stop_at_once;
    assert_ok(nn_net_fit(net, x, t, &fp, NULL));
    long size = ftell(out);
    char *buf = calloc((size_t)size + 1, 1);
    rewind(out);
    *len = fread(buf, 1, (size_t)size, out);
    fclose(out);
    nn_net_free(net);
    nn_tensor_free(x);
    nn_tensor_free(t);
    return buf;
}

static char *run_with_progress(nn_progress mode, size_t *len)
{
    return run_with_progress_for(mode, 2, len);
}

static void test_progress_modes(void **state)
{
    (void)state;
    size_t len;
    char *off = run_with_progress(NN_PROGRESS_OFF, &len);
    assert_int_equal(len, 0);
    free(off);
    /* AUTO on a file (not a terminal) is one plain line per epoch. */
    for (nn_progress m = NN_PROGRESS_AUTO; m <= NN_PROGRESS_LINES; m++) {
        char *lines = run_with_progress(m, &len);
        assert_non_null(strstr(lines, "epoch 1/2: loss "));
        assert_non_null(strstr(lines, "epoch 2/2: loss "));
        assert_null(strchr(lines, '\r'));
        assert_int_equal(lines[len - 1], '\n');
        free(lines);
    }
    char *bar = run_with_progress(NN_PROGRESS_BAR, &len);
    assert_non_null(strstr(bar, "\repoch 1/2 ["));
    assert_non_null(strstr(bar, "samples/s ETA"));
    assert_non_null(strstr(bar, "epoch 2/2: loss "));
    free(bar);
    /* 2^63 epochs of 2 batches: the bar's fraction done no longer wraps to 0/0, NaN. */
    bar = run_with_progress_for(NN_PROGRESS_BAR, (size_t)1 << 63, &len);
    assert_non_null(strstr(bar, "samples/s ETA"));
    assert_null(strstr(bar, "nan"));
    free(bar);

    nn_tensor *x = random_tensor(4, 3, 1), *t = random_tensor(4, 2, 2);
    nn_net *net = small_net(1, 0.1);
    nn_fit_params fp = quiet_params(1, 2);
    fp.progress = (nn_progress)9;
    assert_error(nn_net_fit(net, x, t, &fp, NULL), NN_ERR_INVALID_ARG, "progress");
    fp.progress = NN_PROGRESS_OFF;
    fp.clip_grad_norm = -2;
    assert_error(nn_net_fit(net, x, t, &fp, NULL), NN_ERR_INVALID_ARG, "clip");
    fp.clip_grad_norm = 0;
    nn_schedule bad = nn_schedule_step(0, 0.5);
    fp.schedule = &bad;
    assert_status(nn_net_fit(net, x, t, &fp, NULL), NN_ERR_INVALID_ARG);
    nn_net_free(net);
    nn_tensor_free(x);
    nn_tensor_free(t);
}

/* ---- modes and allocation ------------------------------------------------------------- */

static void test_training_mode_is_known(void **state)
{
    (void)state;
    nn_tensor *x = random_tensor(4, 3, 1), *t = random_tensor(4, 2, 2), *y = NULL;
    assert_ok(nn_tensor_new2d(4, 2, &y));
    nn_net *net = small_net(1, 0.1);
    assert_false(nn_net_training(net));
    assert_ok(nn_net_train_step(net, x, t, NULL));
    assert_true(nn_net_training(net));
    assert_ok(nn_net_predict(net, x, y));
    assert_false(nn_net_training(net));
    assert_false(nn_net_training(NULL));
    nn_net_free(net);
    nn_tensor_free(x);
    nn_tensor_free(t);
    nn_tensor_free(y);
}

/* After a shuffled fit the last step's input was a row copy in fit's own buffer,
 * freed when fit returns: there is no forward pass to go back through (nn_net_backward
 * read the freed buffer before). After an ordered fit the last batch is the caller's. */
/* on_epoch changing the nn_fit_params fit was called with: fit reads its own copy,
 * so the changes take effect in the next call. Turning shuffling on from the
 * callback made fit shuffle an order array it had never allocated. */
static nn_rng meddle_rng;
static int meddle(nn_net *net, const nn_epoch_stats *s, void *user)
{
    (void)net;
    (void)s;
    nn_fit_params *fp = user;
    fp->shuffle = 1;
    fp->rng = &meddle_rng;
    fp->val_x = NULL; /* half a validation set */
    fp->epochs = 100;
    fp->batch_size = 0;
    return 0;
}

static void test_on_epoch_changes_params(void **state)
{
    (void)state;
    nn_tensor *x = random_tensor(6, 3, 1), *t = random_tensor(6, 2, 2);
    for (size_t bs = 1; bs <= 2; bs++) {
        nn_net *a = small_net(3, 0.1), *b = small_net(3, 0.1);
        nn_fit_params fp = quiet_params(3, bs), plain = fp;
        fp.val_x = x;
        fp.val_target = t;
        plain.val_x = x;
        plain.val_target = t;
        fp.on_epoch = meddle;
        fp.user = &fp;
        nn_epoch_stats e[4];
        nn_fit_history h = {.epochs = e, .capacity = 4};
        nn_rng_seed(&meddle_rng, 1, 0);
        assert_ok(nn_net_fit(a, x, t, &fp, &h));
        assert_int_equal(h.count, 3); /* the epochs it was called with */
        assert_true(isfinite(e[2].val_loss));
        assert_ok(nn_net_fit(b, x, t, &plain, NULL));
        size_t n1, n2;
        const float *pa = nn_net_params(a, &n1), *pb = nn_net_params(b, &n2);
        assert_memory_equal(pa, pb, n1 * sizeof(float)); /* in order, as called */
        /* The next call runs with what on_epoch left: no validation set half given. */
        assert_error(nn_net_fit(a, x, t, &fp, NULL), NN_ERR_INVALID_ARG, "epochs (100) and batch size (0)");
        nn_net_free(a);
        nn_net_free(b);
    }
    nn_tensor_free(x);
    nn_tensor_free(t);
}

/* A valid schedule can still reach rates the optimizer would refuse: an exponential
 * growing by 1e300 a step overflows at t = 2 (gamma^2 is already Inf). fit stopped with Inf parameters
 * ("the last good step") before; it now stops at the schedule, with the rate fit
 * started with put back. */
static void test_schedule_overflow(void **state)
{
    (void)state;
    nn_tensor *x = random_tensor(4, 3, 1), *t = random_tensor(4, 2, 2);
    nn_schedule s = nn_schedule_exponential(1e300);
    for (int per_step = 0; per_step <= 1; per_step++) {
        nn_net *net = small_net(3, 1e-300);
        nn_fit_params fp = quiet_params(per_step ? 1 : 4, 1);
        fp.schedule = &s;
        fp.schedule_per_step = per_step;
        assert_error(nn_net_fit(net, x, t, &fp, NULL), NN_ERR_INVALID_ARG,
                     per_step ? "nn_net_fit: epoch 1, batch 3" : "nn_net_fit: epoch 3",
                     "the schedule gives learning rate inf for t = 2");
        assert_true(nn_net_optim(net)->lr == 1e-300);
        size_t n;
        const float *p = nn_net_params(net, &n);
        for (size_t i = 0; i < n; i++)
            assert_true(isfinite(p[i]));
        nn_net_free(net);
    }
    nn_tensor_free(x);
    nn_tensor_free(t);
}

static void test_backward_after_fit(void **state)
{
    (void)state;
    nn_tensor *x = random_tensor(6, 3, 1), *t = random_tensor(6, 2, 2);
    float dy[4] = {0.1f, 0.2f, 0.3f, 0.4f};
    nn_tensor dyt = nn_tensor_view2d(dy, 2, 2);
    for (int shuffle = 0; shuffle <= 1; shuffle++) {
        for (size_t bs = 1; bs <= 2; bs++) {
            nn_net *net = small_net(3, 0.1);
            nn_rng rng;
            nn_rng_seed(&rng, 9, 0);
            nn_fit_params fp = quiet_params(2, bs);
            fp.shuffle = shuffle;
            fp.rng = &rng;
            assert_ok(nn_net_fit(net, x, t, &fp, NULL));
            nn_tensor dyb;
            assert_ok(nn_tensor_rows(&dyt, 0, bs, &dyb));
            assert_non_null(nn_net_layer_output(net, 0));
            if (shuffle && bs == 2) {
                /* the last batch was gathered into fit's buffer, freed on return */
                assert_error(nn_net_backward(net, &dyb, NULL), NN_ERR_STATE, "input is not kept");
            } else {
                /* Ordered, the last batch is a view of x; a single shuffled row of
                 * this small network too (fit's per-sample loop, net_small.c). */
                assert_ok(nn_net_zero_grad(net));
                assert_ok(nn_net_backward(net, &dyb, NULL));
            }
            nn_net_free(net);
        }
    }
    nn_tensor_free(x);
    nn_tensor_free(t);
}

/* Every option on: fit allocates the same for 1 epoch as for 6, so the steps,
 * validations and epochs between allocate nothing. */
static void test_fit_allocations_do_not_grow_with_epochs(void **state)
{
    (void)state;
    nn_test_alloc_install();
    nn_tensor *x = random_tensor(20, 3, 1), *t = random_tensor(20, 2, 2);
    nn_tensor *vx = random_tensor(7, 3, 3), *vt = random_tensor(7, 2, 4);
    size_t calls[2];
    const size_t epochs[2] = {1, 6};
    for (int r = 0; r < 2; r++) {
        nn_net *net = small_net(3, 0.1);
        nn_rng rng;
        nn_rng_seed(&rng, 1, 0);
        nn_schedule cosine = nn_schedule_cosine(10, 0);
        nn_fit_params fp = quiet_params(epochs[r], 3);
        fp.shuffle = 1;
        fp.rng = &rng;
        fp.schedule = &cosine;
        fp.schedule_per_step = 1;
        fp.clip_grad_norm = 1;
        fp.val_x = vx;
        fp.val_target = vt;
        fp.accuracy = 1;
        fp.patience = 100;
        fp.restore_best = 1;
        nn_test_alloc_count_from_now();
        assert_ok(nn_net_fit(net, x, t, &fp, NULL));
        calls[r] = nn_test_alloc()->calls;
        nn_net_free(net);
    }
    assert_true(calls[0] > 0);
    assert_int_equal(calls[0], calls[1]);
    nn_tensor_free(x);
    nn_tensor_free(t);
    nn_tensor_free(vx);
    nn_tensor_free(vt);
    assert_int_equal(nn_test_alloc()->live, 0);
}

/* on_epoch adds a layer: the next step would run on shapes fit never checked. */
static int grow_network(nn_net *net, const nn_epoch_stats *e, void *user)
{
    (void)e;
    int *calls = user;
    if ((*calls)++ == 1) {
        nn_layer *l = NULL;
        assert_ok(nn_tanh_new(&l));
        assert_ok(nn_net_add(net, l));
    }
    return 0;
}

static void test_network_changed_by_on_epoch(void **state)
{
    (void)state;
    nn_tensor *x = random_tensor(12, 3, 4), *t = random_tensor(12, 2, 5);
    for (size_t batch = 1; batch <= 12; batch += 11) { /* the fused path, then the generic one */
        nn_net *net = small_net(3, 0.1);
        int calls = 0;
        nn_fit_params fp = quiet_params(5, batch);
        fp.on_epoch = grow_network;
        fp.user = &calls;
        assert_error(nn_net_fit(net, x, t, &fp, NULL), NN_ERR_STATE, "after epoch 2");
        assert_int_equal(calls, 2);
        /* the network, grown by the callback, still trains once fit is called again */
        fp.on_epoch = NULL;
        assert_ok(nn_net_fit(net, x, t, &fp, NULL));
        nn_net_free(net);
    }
    nn_tensor_free(x);
    nn_tensor_free(t);
}

/* on_epoch as a user's own schedule: halves the rate after every epoch. */
static int halve_lr(nn_net *net, const nn_epoch_stats *e, void *user)
{
    (void)e, (void)user;
    nn_optim *o = nn_net_optim(net);
    assert_ok(nn_optim_set_lr(o, o->lr / 2));
    return 0;
}

/* on_epoch sets a new SGD optimizer with lr 0.4 after the first epoch. */
static int new_optim_after_first(nn_net *net, const nn_epoch_stats *e, void *user)
{
    (void)user;
    if (e->epoch == 0) {
        nn_optim *o = NULL;
        assert_ok(nn_optim_sgd_new(0.4, &o));
        assert_ok(nn_net_set_optim(net, o));
    }
    return 0;
}

/* new_optim_after_first, then grow_network. */
static int new_optim_and_grow(nn_net *net, const nn_epoch_stats *e, void *user)
{
    new_optim_after_first(net, e, NULL);
    return grow_network(net, e, user);
}

/* Without a schedule, a rate on_epoch sets stays after fit (fit used to put its
 * starting rate back); with one, an optimizer on_epoch sets is scheduled from its
 * own rate and keeps it afterwards. Checked for the per-sample loop and batches. */
static void test_lr_changed_by_on_epoch(void **state)
{
    (void)state;
    nn_tensor *x = random_tensor(6, 3, 4), *t = random_tensor(6, 2, 5);
    for (size_t batch = 1; batch <= 6; batch += 5) {
        nn_net *net = small_net(3, 0.8);
        nn_fit_params fp = quiet_params(3, batch);
        fp.on_epoch = halve_lr;
        assert_ok(nn_net_fit(net, x, t, &fp, NULL));
        assert_true(nn_net_optim(net)->lr == 0.1);

        nn_schedule s = nn_schedule_step(1, 0.5);
        nn_epoch_stats stats[3];
        nn_fit_history h = {.epochs = stats, .capacity = 3};
        fp.on_epoch = new_optim_after_first;
        fp.schedule = &s;
        assert_ok(nn_net_fit(net, x, t, &fp, &h));
        assert_true(stats[0].lr == 0.1);  /* the old optimizer, epoch 0: 0.1 */
        assert_true(stats[1].lr == 0.2);  /* the new one, epoch 1: 0.4 * 0.5 */
        assert_true(stats[2].lr == 0.1);  /* 0.4 * 0.25 */
        assert_true(nn_net_optim(net)->lr == 0.4);

        /* A new optimizer, then a change that stops fit (NN_ERR_STATE) in the same
         * call: the new one keeps its own rate, not the old one's base. */
        int calls = 1; /* grow_network grows on its second call: now */
        assert_ok(nn_optim_set_lr(nn_net_optim(net), 0.3)); /* the old base: 0.3 */
        fp.on_epoch = new_optim_and_grow;
        fp.user = &calls;
        assert_error(nn_net_fit(net, x, t, &fp, NULL), NN_ERR_STATE, "after epoch 1");
        assert_true(nn_net_optim(net)->lr == 0.4);
        fp.user = NULL;
        nn_net_free(net);
    }
    nn_tensor_free(x);
    nn_tensor_free(t);
}

/* on_epoch switches the loss to sum reduction: the next epoch's train_loss is a sum. */
static int sum_reduction_after_first(nn_net *net, const nn_epoch_stats *e, void *user)
{
    double *losses = user;
    losses[e->epoch] = e->train_loss;
    if (e->epoch == 0)
        assert_ok(nn_loss_set_reduction(nn_net_loss(net), NN_REDUCTION_SUM));
    return 0;
}

static void test_loss_reduction_changed_by_on_epoch(void **state)
{
    (void)state;
    nn_tensor *x = random_tensor(12, 3, 4), *t = random_tensor(12, 2, 5);
    for (size_t batch = 1; batch <= 12; batch += 3) { /* 1, 4, 7 (a short last batch), 10 */
        nn_net *net = small_net(3, 0.0); /* lr 0: the parameters, so the losses, stay put */
        double losses[2] = {0.0, 0.0}, mean = 0.0, sum = 0.0;
        assert_ok(nn_net_eval_loss(net, x, t, &mean));
        nn_fit_params fp = quiet_params(2, batch);
        fp.on_epoch = sum_reduction_after_first;
        fp.user = losses;
        assert_ok(nn_net_fit(net, x, t, &fp, NULL));
        assert_ok(nn_net_eval_loss(net, x, t, &sum));
        /* mean over the 24 elements, then their sum (12 rows of width 2) */
        assert_close(losses[0], mean, 1e-9, 0.0);
        assert_close(losses[1], sum, 1e-9, 0.0);
        assert_close(sum, 24.0 * mean, 1e-9, 0.0);
        nn_net_free(net);
    }
    nn_tensor_free(x);
    nn_tensor_free(t);
}

/* ---- shuffling ------------------------------------------------------------------------ */

/* Shuffled epochs are Fisher-Yates permutations of the identity drawn from the rng when
 * each epoch starts, as nn_batch_iter draws them: one fit of three epochs equals three
 * fits of one epoch with the same generator, and a loop of one's own over an
 * nn_batch_iter. fit used to shuffle the previous epoch's order instead, so the second
 * epoch on differed from both. Batches of 1 (the per-sample loop) and 4 (the batch loop). */
static void test_shuffled_epochs_match_batch_iter(void **state)
{
    (void)state;
    nn_tensor *x = random_tensor(10, 3, 1), *t = random_tensor(10, 2, 2);
    nn_dataset *d = NULL;
    assert_ok(nn_dataset_copy(x, t, &d));
    for (size_t bs = 1; bs <= 4; bs += 3) {
        nn_net *a = small_net(5, 0.3), *b = small_net(5, 0.3), *c = small_net(5, 0.3);
        nn_rng ra, rb, rc;
        nn_rng_seed(&ra, 11, 1);
        rb = rc = ra;
        nn_fit_params fp = quiet_params(3, bs);
        fp.shuffle = 1;
        fp.rng = &ra;
        assert_ok(nn_net_fit(a, x, t, &fp, NULL));
        nn_fit_params one = quiet_params(1, bs);
        one.shuffle = 1;
        one.rng = &rb;
        for (int e = 0; e < 3; e++)
            assert_ok(nn_net_fit(b, x, t, &one, NULL));
        nn_batch_iter *it = NULL;
        assert_ok(nn_batch_iter_new(d, bs, &rc, &it));
        nn_tensor bx, by;
        for (int e = 0; e < 3; e++)
            while (nn_batch_iter_next(it, &bx, &by) > 0)
                assert_ok(nn_net_train_step(c, &bx, &by, NULL));
        nn_batch_iter_free(it);
        assert_true(ra.state == rb.state && ra.state == rc.state);
        size_t np = 0;
        float *pa = nn_test_params_copy(a, &np);
        assert_true(nn_test_params_equal(b, pa, np));
        assert_true(nn_test_params_equal(c, pa, np));
        free(pa);
        nn_net_free(a);
        nn_net_free(b);
        nn_net_free(c);
    }
    nn_dataset_free(d);
    nn_tensor_free(x);
    nn_tensor_free(t);
}

/* fit's argument and allocation errors name nn_net_fit (they read "nn_schedule_check:
 * ..." and "nn_net_reserve: ..." before). */
static void test_fit_errors_name_fit(void **state)
{
    (void)state;
    nn_tensor *x = random_tensor(6, 3, 1), *t = random_tensor(6, 2, 2);
    nn_net *net = small_net(3, 0.1);
    nn_fit_params fp = quiet_params(1, 6);
    nn_schedule bad = nn_schedule_step(0, 0.1);
    fp.schedule = &bad;
    assert_error(nn_net_fit(net, x, t, &fp, NULL), NN_ERR_INVALID_ARG, "nn_net_fit: schedule",
                 "step_size 0");
    fp.schedule = NULL;
    nn_test_alloc_install();
    nn_test_alloc_fail_nth(1); /* the workspace, the first thing fit allocates */
    assert_error(nn_net_fit(net, x, t, &fp, NULL), NN_ERR_NOMEM, "nn_net_fit: the workspace",
                 "nn_net_reserve");
    nn_test_alloc_count_from_now();
    nn_net_free(net);
    nn_set_allocator(NULL);
    nn_tensor_free(x);
    nn_tensor_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_schedule_per_epoch_and_per_step),
        cmocka_unit_test(test_clip_matches_manual_clipping),
        cmocka_unit_test(test_nan_in_data_stops_with_epoch_and_batch),
        cmocka_unit_test(test_infinite_gradient_keeps_parameters),
        cmocka_unit_test(test_validation_and_accuracy),
        cmocka_unit_test(test_early_stopping_on_scripted_curve),
        cmocka_unit_test(test_history_csv),
        cmocka_unit_test(test_progress_modes),
        cmocka_unit_test(test_training_mode_is_known),
        cmocka_unit_test(test_on_epoch_changes_params),
        cmocka_unit_test(test_schedule_overflow),
        cmocka_unit_test(test_backward_after_fit),
        cmocka_unit_test(test_network_changed_by_on_epoch),
        cmocka_unit_test(test_loss_reduction_changed_by_on_epoch),
        cmocka_unit_test(test_lr_changed_by_on_epoch),
        cmocka_unit_test(test_shuffled_epochs_match_batch_iter),
        cmocka_unit_test_teardown(test_fit_errors_name_fit, nn_test_alloc_teardown),
        cmocka_unit_test_teardown(test_fit_allocations_do_not_grow_with_epochs,
                                  nn_test_alloc_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
