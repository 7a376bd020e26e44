/* test_rng.c - PCG32 stream, reproducibility and the distributions drawn from it.
 *
 * Statistical checks use 100000 draws and tolerances of about five standard
 * errors: a correct generator fails them with negligible probability, and since
 * the seeds are fixed, a passing run passes forever.
 */
#include "nn_test.h"

#define N_DRAWS 100000

/* nn_rng_seed(seed, stream) follows the reference pcg32_srandom_r, so it must give
 * the published stream of the pcg32 demo program (pcg32-demo.c:
 * pcg32_srandom_r(&rng, 42u, 54u), "Round 1" 32-bit values). */
static void test_pcg32_reference_stream(void **state)
{
    (void)state;
    static const uint32_t expected[6] = {0xa15c02b7u, 0x7b47f409u, 0xba1d3330u,
                                         0x83d2f293u, 0xbfa4784bu, 0xcbed606eu};
    nn_rng rng;
    nn_rng_seed(&rng, 42u, 54u);
    assert_true(rng.inc & 1u); /* the stream selector is always odd */
    for (int i = 0; i < 6; i++) {
        uint32_t v = nn_rng_u32(&rng);
        if (v != expected[i])
            fail_msg("output %d: 0x%08x, expected 0x%08x", i, v, expected[i]);
    }
}

static void test_same_seed_same_stream(void **state)
{
    (void)state;
    nn_rng a, b, c, d;
    nn_rng_seed(&a, 1234, 7);
    nn_rng_seed(&b, 1234, 7);
    nn_rng_seed(&c, 1235, 7); /* another seed */
    nn_rng_seed(&d, 1234, 8); /* another stream */
    int differ_seed = 0, differ_stream = 0;
    for (int i = 0; i < 1000; i++) {
        uint32_t va = nn_rng_u32(&a);
        assert_int_equal(va, nn_rng_u32(&b));
        differ_seed += va != nn_rng_u32(&c);
        differ_stream += va != nn_rng_u32(&d);
    }
    /* Independent streams agree on about 1000 / 2^32 values: none. */
    assert_true(differ_seed >= 999);
    assert_true(differ_stream >= 999);

    /* The struct is the whole state: a copy continues the same stream, for
     * every kind of draw (no hidden cached normal deviate). */
    nn_rng e = a;
    for (int i = 0; i < 100; i++) {
        assert_true(nn_rng_normal(&a) == nn_rng_normal(&e));
        assert_true(nn_rng_uniform(&a) == nn_rng_uniform(&e));
        assert_int_equal(nn_rng_below(&a, 17), nn_rng_below(&e, 17));
    }
}

static void test_u32_bits_balanced(void **state)
{
    (void)state;
    nn_rng rng;
    nn_rng_seed(&rng, 99, 1);
    long ones[32] = {0};
    for (int i = 0; i < N_DRAWS; i++) {
        uint32_t v = nn_rng_u32(&rng);
        for (int b = 0; b < 32; b++)
            ones[b] += (v >> b) & 1u;
    }
    /* Each bit is set half the time; sd of the count is sqrt(N)/2 = 158. */
    for (int b = 0; b < 32; b++)
        assert_true(labs(ones[b] - N_DRAWS / 2) < 800);
}

static void test_uniform_range_and_moments(void **state)
{
    (void)state;
    nn_rng rng;
    nn_rng_seed(&rng, 2024, 3);
    double sum = 0.0, sumsq = 0.0, min = 1.0, max = 0.0;
    int below_2_32 = 0; /* draws with bits finer than 2^-32 */
    for (int i = 0; i < N_DRAWS; i++) {
        double u = nn_rng_uniform(&rng);
        assert_true(u >= 0.0 && u < 1.0);
        sum += u;
        sumsq += u * u;
        min = u < min ? u : min;
        max = u > max ? u : max;
        double scaled = u * 4294967296.0;
        below_2_32 += scaled != floor(scaled);
    }
    double mean = sum / N_DRAWS, var = sumsq / N_DRAWS - mean * mean;
    assert_close(mean, 0.5, 0.0, 0.005);       /* se 0.0009 */
    assert_close(var, 1.0 / 12.0, 0.0, 0.002); /* se 0.0003 */
    assert_true(min < 1e-3 && max > 1.0 - 1e-3);
    /* 53 random bits: almost every draw has bits below 2^-32, which a
     * u32 / 2^32 generator never has. */
    assert_true(below_2_32 > N_DRAWS * 9 / 10);
}

static void test_normal_moments(void **state)
{
    (void)state;
    nn_rng rng;
    nn_rng_seed(&rng, 7, 11);
    double s1 = 0, s2 = 0, s3 = 0, s4 = 0;
    int within1 = 0;
    for (int i = 0; i < N_DRAWS; i++) {
        double z = nn_rng_normal(&rng);
        assert_true(isfinite(z));
        s1 += z;
        s2 += z * z;
        s3 += z * z * z;
        s4 += z * z * z * z;
        within1 += fabs(z) < 1.0;
    }
    double mean = s1 / N_DRAWS;
    double sd = sqrt(s2 / N_DRAWS - mean * mean);
    assert_close(mean, 0.0, 0.0, 0.016);        /* se 0.0032 */
    assert_close(sd, 1.0, 0.0, 0.011);          /* se 0.0022 */
    assert_close(s3 / N_DRAWS, 0.0, 0.0, 0.04); /* skewness, se 0.008 */
    assert_close(s4 / N_DRAWS, 3.0, 0.0, 0.16); /* kurtosis, se 0.031 */
    /* P(|z| < 1) = 0.6827: checks the shape, not just two moments. */
    assert_close((double)within1 / N_DRAWS, 0.682689492, 0.0, 0.0075); /* se 0.0015 */
}

static void test_below_bounds(void **state)
{
    (void)state;
    nn_rng rng;
    nn_rng_seed(&rng, 5, 5);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(nn_rng_below(&rng, 1), 0);

    /* Every value of a small range shows up, about equally often. */
    long count[7] = {0};
    for (int i = 0; i < 70000; i++) {
        uint32_t v = nn_rng_below(&rng, 7);
        assert_true(v < 7);
        count[v]++;
    }
    for (int v = 0; v < 7; v++)
        assert_true(labs(count[v] - 10000) < 500); /* sd 93 */

    for (int i = 0; i < 10000; i++) {
        assert_true(nn_rng_below(&rng, 0x80000001u) < 0x80000001u);
        assert_true(nn_rng_below(&rng, UINT32_MAX) < UINT32_MAX);
    }
}

/* With bound = 3 * 2^30, taking u32 % bound would map the top quarter of the
 * u32 range onto [0, 2^30) and give that third of the range probability 1/2.
 * Without modulo bias it is 1/3. */
static void test_below_has_no_modulo_bias(void **state)
{
    (void)state;
    nn_rng rng;
    nn_rng_seed(&rng, 31337, 2);
    const uint32_t bound = 0xC0000000u;
    int low = 0;
    for (int i = 0; i < 30000; i++) {
        uint32_t v = nn_rng_below(&rng, bound);
        assert_true(v < bound);
        low += v < 0x40000000u;
    }
    assert_close(low / 30000.0, 1.0 / 3.0, 0.0, 0.015); /* se 0.0027 */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pcg32_reference_stream),
        cmocka_unit_test(test_same_seed_same_stream),
        cmocka_unit_test(test_u32_bits_balanced),
        cmocka_unit_test(test_uniform_range_and_moments),
        cmocka_unit_test(test_normal_moments),
        cmocka_unit_test(test_below_bounds),
        cmocka_unit_test(test_below_has_no_modulo_bias),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
