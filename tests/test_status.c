/* test_status.c - status codes, nn_strerror, the thread-local last error, version. */
#include "nn_test.h"

#if !defined(__STDC_NO_THREADS__)
#include <threads.h>
#endif

static const nn_status all_codes[] = {NN_OK,        NN_ERR_NULL_ARG, NN_ERR_INVALID_ARG,
                                      NN_ERR_SHAPE, NN_ERR_NOMEM,    NN_ERR_NUMERIC,
                                      NN_ERR_STATE, NN_ERR_IO,       NN_ERR_FORMAT};
#define N_CODES (sizeof all_codes / sizeof all_codes[0])

/* The numeric values are an ABI promise (append-only): a changed value would
 * silently change meaning for programs built against an older header. */
static void test_status_values_are_stable(void **state)
{
    (void)state;
    assert_int_equal(NN_OK, 0);
    assert_int_equal(NN_ERR_NULL_ARG, -1);
    assert_int_equal(NN_ERR_INVALID_ARG, -2);
    assert_int_equal(NN_ERR_SHAPE, -3);
    assert_int_equal(NN_ERR_NOMEM, -4);
    assert_int_equal(NN_ERR_NUMERIC, -5);
    assert_int_equal(NN_ERR_STATE, -6);
    assert_int_equal(NN_ERR_IO, -7);
    assert_int_equal(NN_ERR_FORMAT, -8);
}

static void test_strerror_every_code(void **state)
{
    (void)state;
    const char *unknown = nn_strerror((nn_status)-1000);
    assert_non_null(unknown);
    assert_string_equal(unknown, "unknown status");
    /* Positive values are not statuses either. */
    assert_string_equal(nn_strerror((nn_status)1), "unknown status");
    assert_string_equal(nn_strerror((nn_status)-9), "unknown status");

    for (size_t i = 0; i < N_CODES; i++) {
        const char *s = nn_strerror(all_codes[i]);
        assert_non_null(s);
        assert_true(strlen(s) > 0);
        /* Every published code has its own description... */
        assert_string_not_equal(s, "unknown status");
        /* ...and no two codes share one, or a message could not tell them apart. */
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(s, nn_strerror(all_codes[j]));
    }
    /* The header's own example. */
    assert_string_equal(nn_strerror(NN_ERR_SHAPE), "shape mismatch");
}

static void test_last_error_set_and_cleared(void **state)
{
    (void)state;
    nn_clear_error();
    assert_string_equal(nn_last_error(), "");

    nn_tensor *t = (nn_tensor *)0x1; /* must be reset to NULL on error */
    size_t shape[2] = {4, 0};
    assert_error(nn_tensor_new(2, shape, &t), NN_ERR_INVALID_ARG, "nn_tensor_new");
    assert_null(t);

    /* The message stays until the next error, even across successful calls. */
    char saved[512];
    snprintf(saved, sizeof saved, "%s", nn_last_error());
    assert_int_equal(nn_tensor_new2d(2, 2, &t), NN_OK); /* not assert_ok: it clears */
    nn_tensor_free(t);
    assert_string_equal(nn_last_error(), saved);

    /* A second error replaces the first. */
    assert_error(nn_net_new(0, NULL), NN_ERR_NULL_ARG, "nn_net_new");
    assert_string_not_equal(nn_last_error(), saved);

    nn_clear_error();
    assert_string_equal(nn_last_error(), "");
}

static void test_last_error_names_sizes(void **state)
{
    (void)state;
    /* The messages are meant to name what went wrong, not just the kind of error. */
    float a[6] = {0}, b[6] = {0};
    nn_tensor ta = nn_tensor_view2d(a, 2, 3);
    nn_tensor b5 = nn_tensor_view1d(b, 5), b4 = nn_tensor_view1d(b, 4);
    assert_error(nn_tensor_copy(&ta, &b5), NN_ERR_SHAPE, "6", "5");
    assert_error(nn_kernel_axpy(1.0f, &ta, &b4), NN_ERR_SHAPE, "6", "4");
}

#if !defined(__STDC_NO_THREADS__)
static int other_thread(void *arg)
{
    char *seen = arg;
    /* A new thread starts without an error, whatever the main thread did. */
    snprintf(seen, 256, "%s", nn_last_error());
    (void)nn_net_new(0, NULL); /* records an error on this thread only */
    return 0;
}

static void test_last_error_is_thread_local(void **state)
{
    (void)state;
    size_t bad[1] = {0};
    nn_tensor *t = NULL;
    assert_error(nn_tensor_new(1, bad, &t), NN_ERR_INVALID_ARG, "nn_tensor_new");
    char main_msg[512];
    snprintf(main_msg, sizeof main_msg, "%s", nn_last_error());

    char seen[256] = "not run";
    thrd_t th;
    assert_int_equal(thrd_create(&th, other_thread, seen), thrd_success);
    assert_int_equal(thrd_join(th, NULL), thrd_success);
    assert_string_equal(seen, "");
    assert_string_equal(nn_last_error(), main_msg);
}
#endif

/* A user-defined layer that reports its own error, and one that reports none. */
static nn_status chatty_build(nn_layer *l, size_t in_width)
{
    (void)l;
    return nn_set_error(NN_ERR_SHAPE, "chatty: wants width 7, got %zu", in_width);
}

static nn_status silent_build(nn_layer *l, size_t in_width)
{
    (void)l;
    (void)in_width;
    return NN_ERR_SHAPE;
}

static nn_status noop_forward(nn_layer *l, const nn_tensor *x, nn_tensor *y, int training)
{
    (void)l, (void)x, (void)y, (void)training;
    return NN_OK;
}

static nn_status noop_backward(nn_layer *l, const nn_tensor *x, const nn_tensor *y,
                               const nn_tensor *dy, nn_tensor *dx)
{
    (void)l, (void)x, (void)y, (void)dy, (void)dx;
    return NN_OK;
}

static void test_set_error_from_user_code(void **state)
{
    (void)state;
    nn_clear_error();
    assert_int_equal(nn_set_error(NN_ERR_FORMAT, "bad %s at %d", "thing", 42), NN_ERR_FORMAT);
    assert_string_equal(nn_last_error(), "bad thing at 42");

    static const nn_layer_ops chatty = {.name = "chatty", .build = chatty_build,
                                        .forward = noop_forward, .backward = noop_backward};
    static const nn_layer_ops silent = {.name = "silent", .build = silent_build,
                                        .forward = noop_forward, .backward = noop_backward};
    nn_net *net = NULL;
    nn_layer *a = NULL, *b = NULL;
    assert_int_equal(nn_net_new(3, &net), NN_OK);
    assert_int_equal(nn_layer_new(&chatty, NULL, &a), NN_OK);
    assert_int_equal(nn_layer_new(&silent, NULL, &b), NN_OK);
    /* The layer's own message is kept... */
    assert_int_equal(nn_net_add(net, a), NN_ERR_SHAPE);
    assert_string_equal(nn_last_error(), "chatty: wants width 7, got 3");
    /* ...and a failure without one gets the network's, even right after another error. */
    assert_int_equal(nn_net_add(net, b), NN_ERR_SHAPE);
    assert_string_equal(nn_last_error(), "nn_net_add: layer 'silent' cannot take input width 3");
    nn_layer_free(a);
    nn_layer_free(b);
    nn_net_free(net);
}

static void test_version(void **state)
{
    (void)state;
    /* The linked library and the header agree (a mismatch means a stale install). */
    assert_int_equal(nn_version_number(), NN_VERSION_NUMBER);
    assert_string_equal(nn_version(), NN_VERSION_STRING);
    char buf[64];
    snprintf(buf, sizeof buf, "%d.%d.%d", NN_VERSION_MAJOR, NN_VERSION_MINOR, NN_VERSION_PATCH);
    assert_string_equal(nn_version(), buf);
    assert_int_equal(NN_VERSION_NUMBER,
                     NN_VERSION_MAJOR * 10000 + NN_VERSION_MINOR * 100 + NN_VERSION_PATCH);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_values_are_stable),
        cmocka_unit_test(test_strerror_every_code),
        cmocka_unit_test(test_last_error_set_and_cleared),
        cmocka_unit_test(test_last_error_names_sizes),
        cmocka_unit_test(test_set_error_from_user_code),
#if !defined(__STDC_NO_THREADS__)
        cmocka_unit_test(test_last_error_is_thread_local),
#endif
        cmocka_unit_test(test_version),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
