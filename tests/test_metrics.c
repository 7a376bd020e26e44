/* test_metrics.c - correct counts, accuracy, confusion matrices, precision and recall
 * on hand-computed cases, and nn_evaluate against the same figures computed whole. */
#include "nn_test.h"

/* Six rows of three classes. Predicted (argmax) and true classes:
 *   row:   0  1  2  3  4  5
 *   pred:  0  1  2  2  0  0      (row 5 is a tie between 0 and 1: the first wins)
 *   true:  0  1  1  2  2  0
 * Confusion (rows true, columns predicted):
 *   true 0: [2 0 0]
 *   true 1: [0 1 1]
 *   true 2: [1 0 1]
 * correct 4 of 6; precision: 2/3, 1/1, 1/2; recall: 2/2, 1/2, 1/2. */
static float pred6[18] = {0.9f,  0.05f, 0.05f, 0.1f, 0.8f, 0.1f, 0.2f, 0.3f, 0.5f,
                          -1.0f, -2.0f, 3.0f,  0.6f, 0.3f, 0.1f, 0.4f, 0.4f, 0.2f};
static float index6[6] = {0, 1, 1, 2, 2, 0};
static const size_t confusion6[9] = {2, 0, 0, 0, 1, 1, 1, 0, 1};

static void test_count_correct_and_accuracy(void **state)
{
    (void)state;
    nn_tensor p = nn_tensor_view2d(pred6, 6, 3), t = nn_tensor_view2d(index6, 6, 1);
    size_t correct = 99;
    assert_ok(nn_count_correct(&p, &t, &correct));
    assert_int_equal(correct, 4);
    double acc = -1;
    assert_ok(nn_accuracy(&p, &t, &acc));
    assert_close(acc, 4.0 / 6.0, 1e-15, 0);

    /* One-hot targets: the same answer. */
    float oh[18] = {0};
    for (size_t i = 0; i < 6; i++)
        oh[i * 3 + (size_t)index6[i]] = 1.0f;
    nn_tensor o = nn_tensor_view2d(oh, 6, 3);
    assert_ok(nn_count_correct(&p, &o, &correct));
    assert_int_equal(correct, 4);

    /* Binary: one output, threshold 0.5 on both sides. */
    float bp[5] = {0.2f, 0.5f, 0.9f, 0.49f, 0.7f}, bt[5] = {0, 1, 0, 0, 1};
    nn_tensor b = nn_tensor_view2d(bp, 5, 1), bl = nn_tensor_view2d(bt, 5, 1);
    assert_ok(nn_count_correct(&b, &bl, &correct));
    assert_int_equal(correct, 4); /* only row 2 (0.9 vs 0) is wrong */

    /* Bad index targets: fractional, negative, too large, NaN; *correct untouched. */
    float bad[6];
    const float wrong[4] = {1.5f, -1.0f, 3.0f, NAN};
    const char *shown[4] = {"1.5", "-1", "3", "nan"};
    for (int k = 0; k < 4; k++) {
        memcpy(bad, index6, sizeof bad);
        bad[2] = wrong[k];
        nn_tensor bt2 = nn_tensor_view2d(bad, 6, 1);
        correct = 77;
        assert_error(nn_count_correct(&p, &bt2, &correct), NN_ERR_INVALID_ARG, "nn_count_correct",
                     "row 2", shown[k], "0..2");
        assert_int_equal(correct, 77);
        assert_error(nn_accuracy(&p, &bt2, &acc), NN_ERR_INVALID_ARG, "row 2");
    }
    nn_tensor short_t = nn_tensor_view2d(index6, 5, 1);
    assert_error(nn_count_correct(&p, &short_t, &correct), NN_ERR_SHAPE, "(6, 3)", "(5, 1)");
    nn_tensor wide_t = nn_tensor_view2d(oh, 3, 6);
    nn_tensor p3 = nn_tensor_view2d(pred6, 3, 6);
    assert_ok(nn_count_correct(&p3, &wide_t, &correct)); /* widths agree: fine */
    nn_tensor two = nn_tensor_view2d(oh, 6, 2);
    assert_error(nn_count_correct(&p, &two, &correct), NN_ERR_SHAPE, "(6, 2)");
    assert_error(nn_accuracy(&p, &t, NULL), NN_ERR_NULL_ARG, "accuracy");
    /* NULL messages name the function called, not an internal helper */
    assert_error(nn_count_correct(NULL, &t, &correct), NN_ERR_NULL_ARG,
                 "nn_count_correct: argument 'pred' is NULL");
    size_t counts[9];
    assert_error(nn_confusion_add(&p, NULL, 3, counts), NN_ERR_NULL_ARG,
                 "nn_confusion_add: argument 'target' is NULL");
    /* No rows: none correct, but no accuracy (it was 0/0, NaN, before) */
    nn_tensor p0 = nn_tensor_view2d(pred6, 0, 3), t0 = nn_tensor_view2d(index6, 0, 1);
    assert_ok(nn_count_correct(&p0, &t0, &correct));
    assert_int_equal(correct, 0);
    acc = -1.0;
    assert_error(nn_accuracy(&p0, &t0, &acc), NN_ERR_INVALID_ARG, "no rows");
    assert_true(acc == -1.0);
    /* Rows of no columns: no class to read (they were read from a NULL pointer) */
    nn_tensor pw = nn_tensor_view2d(NULL, 2, 0), tw = nn_tensor_view2d(NULL, 2, 0);
    assert_error(nn_count_correct(&pw, &tw, &correct), NN_ERR_SHAPE, "(2, 0)", "have no columns");
    assert_error(nn_accuracy(&pw, &tw, &acc), NN_ERR_SHAPE, "have no columns");
    size_t m[4] = {0};
    assert_error(nn_confusion_add(&pw, &tw, 2, m), NN_ERR_SHAPE, "have no columns");
    /* Views of nothing: elements but no data (a crash at the first read) */
    nn_tensor pn = nn_tensor_view2d(NULL, 6, 3), tn = nn_tensor_view2d(NULL, 6, 1);
    assert_error(nn_count_correct(&pn, &t, &correct), NN_ERR_NULL_ARG,
                 "nn_count_correct: pred (6, 3) has elements but no data");
    assert_error(nn_count_correct(&p, &tn, &correct), NN_ERR_NULL_ARG, "target (6, 1)");
    size_t m9[9] = {0};
    assert_error(nn_confusion_add(&pn, &t, 3, m9), NN_ERR_NULL_ARG, "pred (6, 3)");
}

static void test_confusion_matrix(void **state)
{
    (void)state;
    nn_tensor p = nn_tensor_view2d(pred6, 6, 3), t = nn_tensor_view2d(index6, 6, 1);
    size_t m[9] = {0};
    assert_ok(nn_confusion_add(&p, &t, 3, m));
    assert_memory_equal(m, confusion6, sizeof m);

    /* Accumulates: rows 0-3 then 4-5 give the same matrix again on top. */
    nn_tensor p1, p2, t1, t2;
    assert_ok(nn_tensor_rows(&p, 0, 4, &p1));
    assert_ok(nn_tensor_rows(&p, 4, 2, &p2));
    assert_ok(nn_tensor_rows(&t, 0, 4, &t1));
    assert_ok(nn_tensor_rows(&t, 4, 2, &t2));
    assert_ok(nn_confusion_add(&p1, &t1, 3, m));
    assert_ok(nn_confusion_add(&p2, &t2, 3, m));
    for (size_t k = 0; k < 9; k++)
        assert_int_equal(m[k], 2 * confusion6[k]);

    /* A bad target in the last row: nothing is added, not even the good rows. */
    float bad[6];
    memcpy(bad, index6, sizeof bad);
    bad[5] = 7;
    nn_tensor bt = nn_tensor_view2d(bad, 6, 1);
    size_t before[9];
    memcpy(before, m, sizeof m);
    assert_error(nn_confusion_add(&p, &bt, 3, m), NN_ERR_INVALID_ARG, "nn_confusion_add", "row 5",
                 "7");
    assert_memory_equal(m, before, sizeof m);
    assert_error(nn_confusion_add(&p, &t, 4, m), NN_ERR_INVALID_ARG, "3 classes, not 4");

    /* Binary: width 1 is two classes. */
    float bp[5] = {0.2f, 0.5f, 0.9f, 0.49f, 0.7f}, btg[5] = {0, 1, 0, 0, 1};
    nn_tensor b = nn_tensor_view2d(bp, 5, 1), bl = nn_tensor_view2d(btg, 5, 1);
    assert_int_equal(nn_metrics_classes(1), 2);
    assert_int_equal(nn_metrics_classes(10), 10);
    size_t bm[4] = {0};
    assert_ok(nn_confusion_add(&b, &bl, 2, bm));
    const size_t want[4] = {2, 1, 0, 2}; /* true 0: 2 right, 1 called 1; true 1: both right */
    assert_memory_equal(bm, want, sizeof bm);
}

static void test_precision_recall(void **state)
{
    (void)state;
    double prec[3], rec[3], acc = 0;
    assert_ok(nn_confusion_scores(confusion6, 3, prec, rec, &acc));
    assert_close(prec[0], 2.0 / 3.0, 1e-15, 0);
    assert_close(prec[1], 1.0, 1e-15, 0);
    assert_close(prec[2], 0.5, 1e-15, 0);
    assert_close(rec[0], 1.0, 1e-15, 0);
    assert_close(rec[1], 0.5, 1e-15, 0);
    assert_close(rec[2], 0.5, 1e-15, 0);
    assert_close(acc, 4.0 / 6.0, 1e-15, 0);

    /* Class 2 never predicted (precision 0/0) and class 1 never present (recall 0/0). */
    const size_t m[9] = {3, 1, 0, 0, 0, 0, 2, 0, 0};
    assert_ok(nn_confusion_scores(m, 3, prec, rec, NULL));
    assert_close(prec[0], 0.6, 1e-15, 0);
    assert_close(prec[1], 0.0, 0, 0); /* predicted once, wrong */
    assert_true(isnan(prec[2]));
    assert_close(rec[0], 0.75, 1e-15, 0);
    assert_true(isnan(rec[1]));
    assert_close(rec[2], 0.0, 0, 0);
    assert_ok(nn_confusion_scores(m, 3, NULL, rec, NULL));
    const size_t empty[4] = {0};
    assert_ok(nn_confusion_scores(empty, 2, NULL, NULL, &acc));
    assert_true(isnan(acc));
    assert_error(nn_confusion_scores(m, 0, prec, rec, &acc), NN_ERR_INVALID_ARG, "classes is 0");
    assert_error(nn_confusion_scores(NULL, 3, prec, rec, &acc), NN_ERR_NULL_ARG, "counts");
}

/* A 4 -> 3 linear classifier (dense only, no activation) with fixed weights, and
 * cross-entropy: predictions are exactly computable. */
static nn_net *fixed_net(void)
{
    nn_net *net = NULL;
    assert_ok(nn_net_new(4, &net));
    nn_layer *d = nn_test_dense(3, nn_init_zeros(), nn_init_zeros());
    assert_ok(nn_net_add(net, d));
    const float w[12] = {1, -1, 0, 0.5f, 0, 1, -1, 0, -0.5f, 0, 1, 1}, b[3] = {0.1f, 0, -0.1f};
    nn_test_set_dense(nn_net_layer(net, 0), w, b);
    nn_loss *ce = NULL;
    assert_ok(nn_loss_cross_entropy_new(&ce));
    assert_ok(nn_net_set_loss(net, ce, 1));
    return net;
}

/* A bce_logits network outputs logits: class 1 from 0 on. Read as probabilities (from
 * 0.5), a logit of 0.2 was class 0, and the accuracy of fit and nn_evaluate wrong. */
static void test_logit_accuracy(void **state)
{
    (void)state;
    nn_net *net = NULL;
    assert_ok(nn_net_new(1, &net));
    nn_layer *d = nn_test_dense(1, nn_init_zeros(), nn_init_zeros());
    assert_ok(nn_net_add(net, d));
    const float w[1] = {1}, b[1] = {0};
    nn_test_set_dense(d, w, b); /* the output is x itself */
    nn_loss *loss = NULL;
    nn_optim *sgd = NULL;
    assert_ok(nn_loss_bce_logits_new(&loss));
    assert_ok(nn_net_set_loss(net, loss, 1));
    assert_ok(nn_optim_sgd_new(0.0, &sgd)); /* lr 0: the logits stay */
    assert_ok(nn_net_set_optim(net, sgd));
    float xs[4] = {-1.0f, -0.2f, 0.2f, 1.0f}, ts[4] = {0, 0, 1, 1};
    nn_tensor x = nn_tensor_view2d(xs, 4, 1), t = nn_tensor_view2d(ts, 4, 1);
    size_t c = 0;
    assert_ok(nn_count_correct(&x, &t, &c)); /* the public reading: probabilities */
    assert_int_equal(c, 3);
    size_t m[4];
    nn_eval_stats s;
    assert_ok(nn_evaluate(net, &x, &t, 0, m, 2, &s));
    assert_int_equal(s.correct, 4);
    const size_t want[4] = {2, 0, 0, 2};
    assert_memory_equal(m, want, sizeof want);
    nn_fit_params fp = nn_fit_default_params();
    fp.epochs = 1;
    fp.batch_size = 2;
    fp.progress = NN_PROGRESS_OFF;
    fp.accuracy = 1;
    fp.val_x = &x;
    fp.val_target = &t;
    nn_epoch_stats e;
    nn_fit_history h = {.epochs = &e, .capacity = 1};
    assert_ok(nn_net_fit(net, &x, &t, &fp, &h));
    assert_true(e.train_acc == 1.0 && e.val_acc == 1.0);
    nn_net_free(net);
}

static void test_evaluate(void **state)
{
    (void)state;
    enum { N = 37 };
    nn_net *net = fixed_net();
    nn_tensor *x = NULL, *t = NULL, *y = NULL;
    assert_ok(nn_tensor_new2d(N, 4, &x));
    assert_ok(nn_tensor_new2d(N, 1, &t));
    assert_ok(nn_tensor_new2d(N, 3, &y));
    nn_rng rng;
    nn_rng_seed(&rng, 11, 0);
    for (size_t k = 0; k < x->size; k++)
        x->data[k] = (float)nn_rng_normal(&rng);
    for (size_t i = 0; i < N; i++)
        t->data[i] = (float)nn_rng_below(&rng, 3);

    /* The reference: predict everything at once, count, and the whole-set loss. */
    assert_ok(nn_net_predict(net, x, y));
    size_t want_m[9] = {0}, want_correct = 0;
    assert_ok(nn_confusion_add(y, t, 3, want_m));
    assert_ok(nn_count_correct(y, t, &want_correct));
    double want_loss = 0;
    assert_ok(nn_loss_eval(nn_net_loss(net), y, t, &want_loss, NULL));
    assert_true(want_correct > 0 && want_correct < N); /* a case with both outcomes */

    const size_t batches[] = {1, 5, 36, 37, 100, 0};
    for (size_t k = 0; k < sizeof batches / sizeof batches[0]; k++) {
        size_t m[9];
        memset(m, 0xff, sizeof m); /* overwritten, not added to */
        nn_eval_stats s;
        memset(&s, 0, sizeof s);
        assert_ok(nn_evaluate(net, x, t, batches[k], m, 3, &s));
        assert_memory_equal(m, want_m, sizeof m);
        assert_int_equal(s.rows, N);
        assert_int_equal(s.correct, want_correct);
        assert_close(s.accuracy, (double)want_correct / N, 1e-15, 0);
        assert_close(s.loss, want_loss, 1e-6, 1e-9);
        assert_true(s.seconds >= 0.0);
    }

    /* After the first call with a batch size, evaluation allocates nothing per batch. */
    nn_test_alloc_install();
    size_t m[9];
    assert_ok(nn_evaluate(net, x, t, 5, m, 3, NULL));
    nn_test_alloc_count_from_now();
    assert_ok(nn_evaluate(net, x, t, 5, m, 3, NULL));
    assert_int_equal(nn_test_alloc()->calls, 0);
    nn_set_allocator(NULL);

    /* Without a confusion matrix; mismatched class count; shapes. */
    nn_eval_stats s;
    assert_ok(nn_evaluate(net, x, t, 8, NULL, 0, &s));
    assert_int_equal(s.correct, want_correct);
    assert_error(nn_evaluate(net, x, t, 8, m, 4, &s), NN_ERR_INVALID_ARG, "3 classes, not 4");
    nn_tensor x3 = nn_tensor_view2d(x->data, N, 3);
    assert_error(nn_evaluate(net, &x3, t, 8, NULL, 0, &s), NN_ERR_SHAPE, "taking width 4");
    t->data[7] = 3;
    assert_error(nn_evaluate(net, x, t, 5, m, 3, &s), NN_ERR_INVALID_ARG, "batch starting at row 5",
                 "row 2");
    /* the same pass behind nn_net_eval_loss, in chunks of the 8 rows reserved above */
    double loss;
    assert_error(nn_net_eval_loss(net, x, t, &loss), NN_ERR_INVALID_ARG,
                 "nn_net_eval_loss: in the batch starting at row 0", "row 7");
    assert_error(nn_evaluate(NULL, x, t, 8, m, 3, &s), NN_ERR_NULL_ARG, "net");
    /* A width of 2^32 classes: k x k counts wrap in size_t, and no buffer is that
     * large; refused before anything is read (the views' data is never touched). */
    nn_net *wide;
    assert_ok(nn_net_new((size_t)1 << 32, &wide));
    nn_layer *sig;
    assert_ok(nn_activation_new(NN_ACT_SIGMOID, &sig));
    assert_ok(nn_net_add(wide, sig));
    nn_tensor xw = nn_tensor_view2d(x->data, 1, (size_t)1 << 32), tw = nn_tensor_view2d(t->data, 1, 1);
    assert_error(nn_evaluate(wide, &xw, &tw, 1, m, (size_t)1 << 32, &s), NN_ERR_INVALID_ARG,
                 "4294967296 x 4294967296 classes is more than memory can hold");
    nn_net_free(wide);
    nn_tensor x0 = nn_tensor_view2d(x->data, 0, 4), t0 = nn_tensor_view2d(t->data, 0, 1);
    assert_error(nn_evaluate(net, &x0, &t0, 8, m, 3, &s), NN_ERR_INVALID_ARG, "no rows");

    nn_tensor_free(x);
    nn_tensor_free(t);
    nn_tensor_free(y);
    nn_net_free(net);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_count_correct_and_accuracy),
        cmocka_unit_test(test_confusion_matrix),
        cmocka_unit_test(test_precision_recall),
        cmocka_unit_test_teardown(test_evaluate, nn_test_alloc_teardown),
        cmocka_unit_test(test_logit_accuracy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
