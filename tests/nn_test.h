/* nn_test.h - helpers shared by nn's CMocka tests.
 *
 * Everything here is static inline so that each test executable takes what it
 * uses without unused-function warnings. Float comparisons always go through
 * assert_close (relative and absolute tolerance, STYLE.md habit 10); statuses
 * through assert_status / assert_error, which print nn_strerror and
 * nn_last_error on failure so a red test says why without a debugger.
 *
 * The counting allocator forwards to malloc/free, so blocks allocated while it
 * is installed may be freed after it is removed and the other way round (nn
 * frees with whatever allocator is current).
 */
#ifndef NN_TEST_H
#define NN_TEST_H

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "nn/nn.h"

/* ---- floating-point comparison ---------------------------------------------- */

/* Passes when |actual - expected| <= abs_tol + rel_tol * |expected| (numpy.isclose's
 * rule); NaN never passes. The caller's file and line are part of the message
 * because fail_msg reports this header's location. */
#define assert_close(actual, expected, rel_tol, abs_tol)                                           \
    nn_test_assert_close((double)(actual), (double)(expected), (rel_tol), (abs_tol), #actual,      \
                         __FILE__, __LINE__)

static inline void nn_test_assert_close(double actual, double expected, double rel_tol,
                                        double abs_tol, const char *expr, const char *file,
                                        int line)
{
    double diff = fabs(actual - expected);
    double tol = abs_tol + rel_tol * fabs(expected);
    if (!(diff <= tol)) /* written negated so that NaN fails */
        fail_msg("%s:%d: assert_close(%s): actual %.17g, expected %.17g, |diff| %.3g > tol %.3g "
                 "(rel %.3g, abs %.3g)",
                 file, line, expr, actual, expected, diff, tol, rel_tol, abs_tol);
}

/* Every element of n floats a[] close to the double reference b[]. */
#define assert_all_close(a, b, n, rel_tol, abs_tol)                                                \
    nn_test_assert_all_close((a), (b), (n), (rel_tol), (abs_tol), #a, __FILE__, __LINE__)

static inline void nn_test_assert_all_close(const float *a, const double *b, size_t n,
                                            double rel_tol, double abs_tol, const char *expr,
                                            const char *file, int line)
{
    for (size_t i = 0; i < n; i++) {
        double diff = fabs((double)a[i] - b[i]);
        double tol = abs_tol + rel_tol * fabs(b[i]);
        if (!(diff <= tol))
            fail_msg("%s:%d: %s[%zu] = %.9g, expected %.17g, |diff| %.3g > tol %.3g", file, line,
                     expr, i, (double)a[i], b[i], diff, tol);
    }
}

/* ---- statuses and error messages ----------------------------------------------- */

/* Asserts that expr returns `expected`. For an error status it also asserts that
 * the call recorded a message (status.h: every error does); the message is
 * cleared first so that one left by an earlier call cannot pass for it. */
#define assert_status(expr, expected)                                                              \
    do {                                                                                           \
        nn_clear_error();                                                                          \
        nn_test_assert_status((expr), (expected), #expr, __FILE__, __LINE__);                      \
    } while (0)
#define assert_ok(expr) assert_status((expr), NN_OK)
/* The same for a status already returned (kept in a variable): no clearing. */
#define assert_status_was(status, expected)                                                        \
    nn_test_assert_status((status), (expected), #status, __FILE__, __LINE__)

static inline void nn_test_assert_status(nn_status got, nn_status want, const char *expr,
                                         const char *file, int line)
{
    if (got != want)
        fail_msg("%s:%d: %s returned %d (%s), expected %d (%s); last error: \"%s\"", file, line,
                 expr, (int)got, nn_strerror(got), (int)want, nn_strerror(want), nn_last_error());
    if (want != NN_OK && nn_last_error()[0] == '\0')
        fail_msg("%s:%d: %s returned %s but left no message in nn_last_error()", file, line, expr,
                 nn_strerror(got));
}

/* Asserts that expr returns the status `expected` and records a message that
 * contains every one of the given substrings (at least one: what the message must
 * name, e.g. a size or the function). The message is cleared first so a stale one
 * from an earlier call cannot satisfy the check. */
#define assert_error(expr, expected, ...)                                                          \
    do {                                                                                           \
        nn_clear_error();                                                                          \
        nn_test_assert_error((expr), (expected), #expr, __FILE__, __LINE__, __VA_ARGS__,           \
                             (const char *)NULL);                                                  \
    } while (0)

static inline void nn_test_assert_error(nn_status got, nn_status want, const char *expr,
                                        const char *file, int line, ...)
{
    nn_test_assert_status(got, want, expr, file, line); /* the message exists */
    const char *msg = nn_last_error();
    va_list ap;
    va_start(ap, line);
    for (const char *s = va_arg(ap, const char *); s != NULL; s = va_arg(ap, const char *)) {
        if (strstr(msg, s) == NULL) {
            va_end(ap);
            fail_msg("%s:%d: message of %s does not mention \"%s\": \"%s\"", file, line, expr, s,
                     msg);
        }
    }
    va_end(ap);
}

/* ---- counting and failing allocator ---------------------------------------------- */

typedef struct nn_test_alloc_stats {
    size_t calls;  /* alloc calls, including failed ones */
    size_t failed; /* calls made to fail */
    size_t frees;
    long live;        /* blocks allocated through this allocator and not yet freed */
    size_t zero_size; /* calls with size 0, which alloc.h promises never happen */
    size_t fail_at;   /* 1-based call number to fail (counted from the last reset); 0: never */
    int fail_rest;    /* 1: also fail every call after fail_at */
} nn_test_alloc_stats;

/* One instance per test executable, reached through a function so that a test file
 * not using it gets no unused-variable warning. */
static inline nn_test_alloc_stats *nn_test_alloc(void)
{
    static nn_test_alloc_stats stats;
    return &stats;
}

static inline void *nn_test_alloc_fn(size_t size, void *ctx)
{
    nn_test_alloc_stats *s = ctx;
    s->calls++;
    s->zero_size += size == 0;
    if (s->fail_at != 0 && (s->calls == s->fail_at || (s->fail_rest && s->calls > s->fail_at))) {
        s->failed++;
        return NULL;
    }
    void *p = malloc(size);
    if (p != NULL)
        s->live++;
    return p;
}

static inline void nn_test_free_fn(void *ptr, void *ctx)
{
    nn_test_alloc_stats *s = ctx;
    s->frees++;
    s->live--;
    free(ptr);
}

/* Zeroes the counters (live included) and stops injecting failures. */
static inline void nn_test_alloc_reset(void)
{
    memset(nn_test_alloc(), 0, sizeof *nn_test_alloc());
}

/* Installs the counting allocator with fresh counters. Install it before creating
 * the objects of a test so that `live` returns to 0 when they are all freed. */
static inline void nn_test_alloc_install(void)
{
    nn_test_alloc_reset();
    nn_allocator a = {nn_test_alloc_fn, nn_test_free_fn, nn_test_alloc()};
    nn_set_allocator(&a);
}

/* Makes the n-th allocation from now fail (n >= 1), keeping the live count. */
static inline void nn_test_alloc_fail_nth(size_t n)
{
    nn_test_alloc_stats *s = nn_test_alloc();
    s->calls = 0;
    s->failed = 0;
    s->zero_size = 0;
    s->fail_at = n;
    s->fail_rest = 0;
}

/* Stops injecting failures and restarts the call count, keeping the live count. */
static inline void nn_test_alloc_count_from_now(void) { nn_test_alloc_fail_nth(0); }

/* A CMocka teardown restoring malloc/free, so a test that fails half-way with a
 * failure armed cannot poison the tests after it. It fails the test (teardown
 * error) if nn ever asked for 0 bytes since the last count restart. */
static inline int nn_test_alloc_teardown(void **state)
{
    (void)state;
    size_t zero = nn_test_alloc()->zero_size;
    nn_set_allocator(NULL);
    nn_test_alloc_reset();
    if (zero != 0)
        print_error("nn called the allocator with size 0 %zu times\n", zero);
    return zero != 0 ? -1 : 0;
}

/* ---- data ------------------------------------------------------------------------ */

/* A new (n, w) tensor of values uniform in [-2, 2) drawn from nn_rng_seed(seed, stream). */
static inline nn_tensor *nn_test_random_tensor(size_t n, size_t w, uint64_t seed, uint64_t stream)
{
    nn_tensor *t = NULL;
    assert_ok(nn_tensor_new2d(n, w, &t));
    nn_rng rng;
    nn_rng_seed(&rng, seed, stream);
    for (size_t k = 0; k < t->size; k++)
        t->data[k] = (float)(4.0 * nn_rng_uniform(&rng) - 2.0);
    return t;
}

/* ---- building small networks -------------------------------------------------- */

static inline nn_layer *nn_test_dense(size_t units, nn_init w, nn_init b)
{
    nn_dense_params p = nn_dense_default_params(units);
    p.weight_init = w;
    p.bias_init = b;
    nn_layer *l = NULL;
    assert_ok(nn_dense_new(&p, &l));
    assert_non_null(l);
    return l;
}

static inline nn_layer *nn_test_sigmoid(void)
{
    nn_layer *l = NULL;
    assert_ok(nn_sigmoid_new(&l));
    assert_non_null(l);
    return l;
}

/* in -> dense(hidden) -> sigmoid -> dense(out) -> sigmoid, weights and biases drawn
 * from N(0, 1) (the lesson's initialisation) with rng seeded by seed; no loss or
 * optimizer yet. */
static inline nn_net *nn_test_mlp(size_t in, size_t hidden, size_t out, uint64_t seed)
{
    nn_net *net = NULL;
    assert_ok(nn_net_new(in, &net));
    assert_ok(nn_net_add(net, nn_test_dense(hidden, nn_init_normal(0, 1), nn_init_normal(0, 1))));
    assert_ok(nn_net_add(net, nn_test_sigmoid()));
    assert_ok(nn_net_add(net, nn_test_dense(out, nn_init_normal(0, 1), nn_init_normal(0, 1))));
    assert_ok(nn_net_add(net, nn_test_sigmoid()));
    nn_rng rng;
    nn_rng_seed(&rng, seed, 0);
    assert_ok(nn_net_init_params(net, &rng));
    return net;
}

/* Gives net an MSE loss (target width = output width) and SGD with rate lr. */
static inline void nn_test_mse_sgd(nn_net *net, double lr)
{
    nn_loss *mse = NULL;
    nn_optim *sgd = NULL;
    assert_ok(nn_loss_mse_new(&mse));
    assert_ok(nn_net_set_loss(net, mse, nn_net_out_width(net)));
    assert_ok(nn_optim_sgd_new(lr, &sgd));
    assert_ok(nn_net_set_optim(net, sgd));
}

/* Copies values into a built dense layer's weight (out, in) and bias (out). */
static inline void nn_test_set_dense(nn_layer *l, const float *w, const float *b)
{
    nn_tensor *wt = nn_dense_weight(l);
    nn_tensor *bt = nn_dense_bias(l);
    assert_non_null(wt);
    assert_non_null(bt);
    memcpy(wt->data, w, wt->size * sizeof(float));
    memcpy(bt->data, b, bt->size * sizeof(float));
}

/* A malloc'd copy of the network's parameter block, for before/after comparisons. */
static inline float *nn_test_params_copy(nn_net *net, size_t *count)
{
    size_t n = 0;
    float *p = nn_net_params(net, &n);
    assert_non_null(p);
    float *copy = malloc(n * sizeof *copy);
    assert_non_null(copy);
    memcpy(copy, p, n * sizeof *copy);
    if (count != NULL)
        *count = n;
    return copy;
}

/* 1 when the network's parameters are bit for bit those in ref. */
static inline int nn_test_params_equal(nn_net *net, const float *ref, size_t n)
{
    size_t count = 0;
    float *p = nn_net_params(net, &count);
    return count == n && memcmp(p, ref, n * sizeof *ref) == 0;
}

#endif /* NN_TEST_H */
