/* test_e2e_torch.c - a whole network trained in nn and in PyTorch from the same
 * weights ends with the same weights.
 *
 * tests/reference/gen_e2e.py trains torch.nn.Sequential(Linear(4, 16), ReLU(),
 * Linear(16, 3)) with CrossEntropyLoss and Adam(lr=0.01) for 8 full-batch steps
 * on 8 rows and writes the starting weights, the data, every step's loss and
 * the final weights to e2e.txt. Here the same network is built from nn's
 * generic parts, given the starting weights, and trained the same way, once
 * step by step and once through nn_net_fit. */
#include "nn_test.h"
#include "nn_fixture.h"

#define STEPS 8

typedef struct e2e {
    nn_fixture *fx;
    nn_net *net;
    nn_layer *fc1, *fc2;
} e2e;

static void build(e2e *e)
{
    e->fx = nn_fixture_load("e2e.txt");
    nn_layer *relu = NULL;
    nn_loss *ce = NULL;
    nn_optim *adam = NULL;
    assert_ok(nn_net_new(4, &e->net));
    nn_dense_params p = nn_dense_default_params(16);
    assert_ok(nn_dense_new(&p, &e->fc1));
    assert_ok(nn_net_add(e->net, e->fc1));
    assert_ok(nn_relu_new(&relu));
    assert_ok(nn_net_add(e->net, relu));
    p = nn_dense_default_params(3);
    assert_ok(nn_dense_new(&p, &e->fc2));
    assert_ok(nn_net_add(e->net, e->fc2));
    assert_ok(nn_loss_cross_entropy_new(&ce));
    assert_ok(nn_net_set_loss(e->net, ce, 1)); /* class indices */
    nn_adam_params ap = nn_adam_default_params();
    ap.lr = 0.01;
    assert_ok(nn_optim_adam_new_ex(&ap, &adam));
    assert_ok(nn_net_set_optim(e->net, adam));
    /* torch.nn.Linear's weight is (out, in), as nn's dense. */
    nn_test_set_dense(e->fc1, nn_fixture_get(e->fx, "w1_start")->data,
                      nn_fixture_get(e->fx, "b1_start")->data);
    nn_test_set_dense(e->fc2, nn_fixture_get(e->fx, "w2_start")->data,
                      nn_fixture_get(e->fx, "b2_start")->data);
}

static void check_end(const e2e *e)
{
    /* 1e-5 relative, with an absolute floor for weights that end near zero. */
    nn_assert_tensor_close(nn_dense_weight(e->fc1), nn_fixture_get(e->fx, "w1_end"), 1e-5, 1e-6, "w1");
    nn_assert_tensor_close(nn_dense_bias(e->fc1), nn_fixture_get(e->fx, "b1_end"), 1e-5, 1e-6, "b1");
    nn_assert_tensor_close(nn_dense_weight(e->fc2), nn_fixture_get(e->fx, "w2_end"), 1e-5, 1e-6, "w2");
    nn_assert_tensor_close(nn_dense_bias(e->fc2), nn_fixture_get(e->fx, "b2_end"), 1e-5, 1e-6, "b2");
}

static void release(e2e *e)
{
    nn_net_free(e->net);
    nn_fixture_free(e->fx);
}

static void test_adam_steps_match_torch(void **state)
{
    (void)state;
    e2e e;
    build(&e);
    const nn_tensor *x = nn_fixture_get(e.fx, "x"), *y = nn_fixture_get(e.fx, "y");
    const nn_tensor *losses = nn_fixture_get(e.fx, "losses");
    /* The starting weights really are different from the final ones. */
    float w_start = nn_dense_weight(e.fc1)->data[0];
    assert_true(w_start != nn_fixture_get(e.fx, "w1_end")->data[0]);
    for (size_t k = 0; k < STEPS; k++) {
        double loss = -1;
        assert_ok(nn_net_train_step(e.net, x, y, &loss));
        assert_close(loss, losses->data[k], 1e-5, 0);
    }
    check_end(&e);
    release(&e);
}

static void test_fit_matches_torch(void **state)
{
    (void)state;
    e2e e;
    build(&e);
    const nn_tensor *x = nn_fixture_get(e.fx, "x"), *y = nn_fixture_get(e.fx, "y");
    nn_epoch_stats stats[STEPS];
    nn_fit_history h = {.epochs = stats, .capacity = STEPS};
    nn_fit_params fp = nn_fit_default_params();
    fp.epochs = STEPS;
    fp.batch_size = 8; /* the whole set: one step per epoch, as the script */
    fp.progress = NN_PROGRESS_OFF;
    assert_ok(nn_net_fit(e.net, x, y, &fp, &h));
    const nn_tensor *losses = nn_fixture_get(e.fx, "losses");
    for (size_t k = 0; k < STEPS; k++)
        assert_close(stats[k].train_loss, losses->data[k], 1e-5, 0);
    check_end(&e);
    release(&e);
}

/* The same network's analytic gradients against central differences along the
 * training path. A difference is only meaningful away from ReLU's kink: after
 * the 8th step one hidden pre-activation sits 2.5e-5 from zero, inside any
 * usable eps, so the check covers the start and the states before each step
 * (errors 4e-6 to 8e-6 measured). */
static void test_gradients_chained_through_network(void **state)
{
    (void)state;
    e2e e;
    build(&e);
    const nn_tensor *x = nn_fixture_get(e.fx, "x"), *y = nn_fixture_get(e.fx, "y");
    for (size_t k = 0; k < STEPS; k++) {
        double err = 1;
        assert_ok(nn_net_check_grads(e.net, x, y, 1e-3, &err));
        if (!(err < 1e-4))
            fail_msg("before step %zu: gradient error %g", k + 1, err);
        assert_ok(nn_net_train_step(e.net, x, y, NULL));
    }
    release(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_adam_steps_match_torch),
        cmocka_unit_test(test_fit_matches_torch),
        cmocka_unit_test(test_gradients_chained_through_network),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
