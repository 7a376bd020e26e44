/* test_reference.c - every worked value of /work/shared/REFERENCE.md (the seed
 * lesson's numbers, recomputed in double) reproduced through the public API.
 *
 * The library computes in float32; the reference is double. 1e-5 relative is
 * loose enough for float rounding (about 1e-7 per operation, a few dozen
 * operations) and tight enough to catch any wrong formula. */
#include "nn_test.h"

#define REL 1e-5

/* Shifted (weight - 135 lb, height - 66 in) of the lesson's Alice; target 1 (F). */
static const float alice[2] = {-2, -1};

/* in_width 2 -> dense(units) -> sigmoid, every weight w and bias b. */
static nn_net *dense_sigmoid(size_t units, double w, double b)
{
    nn_net *net = NULL;
    assert_ok(nn_net_new(2, &net));
    assert_ok(nn_net_add(net, nn_test_dense(units, nn_init_constant(w), nn_init_constant(b))));
    assert_ok(nn_net_add(net, nn_test_sigmoid()));
    nn_rng rng;
    nn_rng_seed(&rng, 0, 0);
    assert_ok(nn_net_init_params(net, &rng));
    return net;
}

/* The lesson's 2-2-1 network: h1, h2 = sigmoid(dense 2); o1 = sigmoid(dense 1). */
static nn_net *net_221(nn_init w, nn_init b)
{
    nn_net *net = NULL;
    assert_ok(nn_net_new(2, &net));
    assert_ok(nn_net_add(net, nn_test_dense(2, w, b)));
    assert_ok(nn_net_add(net, nn_test_sigmoid()));
    assert_ok(nn_net_add(net, nn_test_dense(1, w, b)));
    assert_ok(nn_net_add(net, nn_test_sigmoid()));
    nn_rng rng;
    nn_rng_seed(&rng, 0, 0);
    assert_ok(nn_net_init_params(net, &rng));
    return net;
}

/* Forward one sample; returns the output and, when h is not NULL, the hidden
 * layer's two activations (the output of layer 1, the first sigmoid). */
static double forward1(nn_net *net, const float *x, double *h)
{
    nn_tensor tx = nn_tensor_view2d((float *)x, 1, 2);
    const nn_tensor *y = NULL;
    assert_ok(nn_net_forward(net, &tx, 0, &y));
    if (h != NULL) {
        const nn_tensor *hid = nn_net_layer_output(net, 1);
        assert_non_null(hid);
        h[0] = hid->data[0];
        h[1] = hid->data[1];
    }
    return y->data[0];
}

/* One neuron, w = [0, 1], b = 4, x = [2, 3]: sigmoid(7). */
static void test_single_neuron(void **state)
{
    (void)state;
    nn_net *net = dense_sigmoid(1, 0, 0);
    const float w[2] = {0, 1}, b[1] = {4};
    nn_test_set_dense(nn_net_layer(net, 0), w, b);
    const float x[2] = {2, 3};
    assert_close(forward1(net, x, NULL), 0.9990889488055994, REL, 0);
    nn_net_free(net);
}

/* 2-2-1, every neuron w = [0, 1], b = 0, x = [2, 3]. */
static void test_network_221_feedforward(void **state)
{
    (void)state;
    nn_net *net = net_221(nn_init_zeros(), nn_init_zeros());
    const float w_hidden[4] = {0, 1, 0, 1}, b_hidden[2] = {0, 0};
    const float w_out[2] = {0, 1}, b_out[1] = {0};
    nn_test_set_dense(nn_net_layer(net, 0), w_hidden, b_hidden);
    nn_test_set_dense(nn_net_layer(net, 2), w_out, b_out);
    const float x[2] = {2, 3};
    double h[2];
    double o1 = forward1(net, x, h);
    assert_close(h[0], 0.9525741268224334, REL, 0);
    assert_close(h[1], 0.9525741268224334, REL, 0);
    assert_close(o1, 0.7216325609518421, REL, 0);
    nn_net_free(net);
}

/* MSE of y_true = [1, 0, 0, 1] against y_pred = [0, 0, 0, 0]. */
static void test_mse_example(void **state)
{
    (void)state;
    float yt[4] = {1, 0, 0, 1}, yp[4] = {0, 0, 0, 0};
    nn_tensor tt = nn_tensor_view2d(yt, 4, 1), tp = nn_tensor_view2d(yp, 4, 1);
    nn_loss *mse = NULL;
    assert_ok(nn_loss_mse_new(&mse));
    double v = 0;
    assert_ok(nn_loss_eval(mse, &tp, &tt, &v, NULL));
    assert_close(v, 0.5, REL, 0);
    nn_loss_free(mse);
}

/* Alice through the 2-2-1 network with every weight 1 and every bias 0 (set
 * through the initialisers, so nn_init_constant and nn_init_zeros are used). */
static void test_alice_forward(void **state)
{
    (void)state;
    nn_net *net = net_221(nn_init_constant(1), nn_init_zeros());
    double h[2];
    double o1 = forward1(net, alice, h);
    assert_close(h[0], 0.04742587317756678, REL, 0);
    assert_close(h[1], 0.04742587317756678, REL, 0);
    assert_close(o1, 0.5236951740839997, REL, 0);
    nn_net_free(net);
}

/* The three factors of the lesson's chain rule and their product. */
static void test_alice_backprop(void **state)
{
    (void)state;
    nn_net *net = net_221(nn_init_constant(1), nn_init_zeros());
    double h[2];
    float ypred = (float)forward1(net, alice, h);

    /* dL/dypred = -2 (1 - ypred): the MSE gradient for a batch of one. */
    float target = 1, grad = 0;
    nn_tensor tp = nn_tensor_view2d(&ypred, 1, 1), tt = nn_tensor_view2d(&target, 1, 1);
    nn_tensor tg = nn_tensor_view2d(&grad, 1, 1);
    nn_loss *mse = NULL;
    assert_ok(nn_loss_mse_new(&mse));
    double loss = 0;
    assert_ok(nn_loss_eval(mse, &tp, &tt, &loss, &tg));
    const double dl_dypred = grad;
    assert_close(dl_dypred, -0.9526096518320006, REL, 0);
    nn_loss_free(mse);

    /* dypred/dh1: the output neuron (w = [1, 1], b = 0) as its own network, fed
     * with Alice's hidden activations; backward with dy = 1 and dx requested. */
    nn_net *out = dense_sigmoid(1, 1, 0);
    float hx[2] = {(float)h[0], (float)h[1]}, one = 1, dx[2] = {0, 0};
    (void)forward1(out, hx, NULL);
    nn_tensor tdy = nn_tensor_view2d(&one, 1, 1), tdx = nn_tensor_view2d(dx, 1, 2);
    assert_ok(nn_net_zero_grad(out));
    assert_ok(nn_net_backward(out, &tdy, &tdx));
    const double dypred_dh1 = dx[0];
    assert_close(dypred_dh1, 0.24943853872512894, REL, 0);
    assert_close(dx[1], 0.24943853872512894, REL, 0); /* symmetric: h2 alike */
    nn_net_free(out);

    /* dh1/dw1: the hidden neuron h1 (w = [1, 1], b = 0) on Alice; the gradient of
     * its first weight with dy = 1. */
    nn_net *hid = dense_sigmoid(1, 1, 0);
    (void)forward1(hid, alice, NULL);
    assert_ok(nn_net_zero_grad(hid));
    assert_ok(nn_net_backward(hid, &tdy, NULL));
    size_t nhg = 0;
    const float *hg = nn_net_grads(hid, &nhg);
    assert_int_equal(nhg, 3);
    assert_ptr_equal(hg, nn_net_layer(hid, 0)->grads[0].data); /* W[0][0] comes first */
    const double dh1_dw1 = hg[0];
    assert_close(dh1_dw1, -0.09035331946182427, REL, 0);
    nn_net_free(hid);

    /* dL/dw1 of the whole network: W1[0][0], the first scalar of the block. */
    nn_loss *mse2 = NULL;
    assert_ok(nn_loss_mse_new(&mse2));
    assert_ok(nn_net_set_loss(net, mse2, 1));
    nn_tensor tx = nn_tensor_view2d((float *)alice, 1, 2);
    assert_ok(nn_net_compute_grads(net, &tx, &tt, &loss));
    size_t ng = 0;
    const float *g = nn_net_grads(net, &ng);
    assert_int_equal(ng, 9); /* the lesson's 6 weights and 3 biases */
    assert_ptr_equal(g, nn_net_layer(net, 0)->grads[0].data);
    assert_close(g[0], 0.02146953526581111, REL, 0);
    /* The chain rule the lesson writes out: the library's three factors multiply
     * to its dL/dw1. */
    assert_close(g[0], dl_dypred * dypred_dh1 * dh1_dw1, REL, 0);
    /* The loss of Alice itself: (1 - o1)^2. */
    assert_close(loss, (1 - 0.5236951740839997) * (1 - 0.5236951740839997), REL, 0);
    nn_net_free(net);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_neuron),  cmocka_unit_test(test_network_221_feedforward),
        cmocka_unit_test(test_mse_example),    cmocka_unit_test(test_alice_forward),
        cmocka_unit_test(test_alice_backprop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
