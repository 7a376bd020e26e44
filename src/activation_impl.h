/* activation_impl.h - the elementwise activations' scalar functions and loops, shared
 * by the activation layers (activation.c) and the fused small-network step
 * (net_small.c), so that both compute the same bits by construction. Not installed.
 *
 * Each kind NAME has NAME_f(x) = y and NAME_df(x, y) = dy/dx. The scalar functions
 * are static inline so that each loop is compiled with its own function inlined
 * rather than called through a pointer per element. */
#ifndef NN_ACTIVATION_IMPL_H
#define NN_ACTIVATION_IMPL_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "nn/activation.h"
#include "nn/layer.h"

typedef struct activation {
    nn_activation_kind kind;
    float a; /* leaky_relu: negative_slope; elu: alpha; softplus: beta */
    float b; /* softplus: threshold */
} activation;

/* z >= 0 ? a : b without a branch (NaN z gives b). The sign of z in sigmoid_pair
 * follows the data, and as a branch it was mispredicted on every other sample of the
 * lesson's network (10% of a per-sample step). With SSE2 (every x86-64) the mask is
 * a float compare and the select three logic operations in the same registers;
 * written with integers, GCC moved the values out to general registers and back
 * (about 12 instructions against 8; 9 of a 2-2-1 update's 617). No loop that calls this vectorizes (they call expf),
 * so the intrinsics take nothing from the vectoriser. */
static inline float select_ge0(float z, float a, float b)
{
#if defined(__SSE2__)
    /* set1, not set_ss: GCC zeroes set_ss's upper lanes through a general register */
    __m128 m = _mm_cmpge_ps(_mm_set1_ps(z), _mm_setzero_ps());
    __m128 r = _mm_or_ps(_mm_and_ps(m, _mm_set1_ps(a)), _mm_andnot_ps(m, _mm_set1_ps(b)));
    return _mm_cvtss_f32(r);
#else
    uint32_t ua, ub, m = 0u - (uint32_t)(z >= 0.0f);
    memcpy(&ua, &a, sizeof ua);
    memcpy(&ub, &b, sizeof ub);
    uint32_t r = (ua & m) | (ub & ~m);
    float f;
    memcpy(&f, &r, sizeof f);
    return f;
#endif
}

/* sigma(z) and 1 - sigma(z), both without cancellation: exp is taken only of
 * -|z| <= 0, so it cannot overflow, and the small one of the pair is e / (1 + e)
 * rather than 1 minus something close to 1. */
static inline void sigmoid_pair(float z, float *s, float *one_minus_s)
{
    float e = expf(-fabsf(z)), d = 1.0f + e;
    /* The numerator is chosen before dividing, so a caller that needs only s pays
     * one division, not two and a select; the results are the same bits. */
    *s = select_ge0(z, 1.0f, e) / d;
    *one_minus_s = select_ge0(z, e, 1.0f) / d;
}

/* The same pair in double, for the kinds that round once at the end (softplus,
 * gelu_tanh, silu): exp(-|z|) in float is subnormal below z = -87 and loses its
 * digits, which x sigma(x) then magnifies by |x|; in double nothing underflows
 * before -745, and the float result is the double one rounded once. */
static inline double select_ge0_d(double z, double a, double b)
{
#if defined(__SSE2__)
    __m128d m = _mm_cmpge_pd(_mm_set1_pd(z), _mm_setzero_pd());
    __m128d r = _mm_or_pd(_mm_and_pd(m, _mm_set1_pd(a)), _mm_andnot_pd(m, _mm_set1_pd(b)));
    return _mm_cvtsd_f64(r);
#else
    return z >= 0.0 ? a : b;
#endif
}
static inline void sigmoid_pair_d(double z, double *s, double *one_minus_s)
{
    double e = exp(-fabs(z)), d = 1.0 + e;
    *s = select_ge0_d(z, 1.0, e) / d;
    *one_minus_s = select_ge0_d(z, e, 1.0) / d;
}

/* identity: y = x; dy/dx = 1 */
static inline float identity_f(const activation *a, float x)
{
    (void)a;
    return x;
}
static inline float identity_df(const activation *a, float x, float y)
{
    (void)a, (void)x, (void)y;
    return 1.0f;
}

/* sigmoid: y = sigma(x); dy/dx = y (1 - y), written with the output as torch does */
static inline float sigmoid_f(const activation *a, float x)
{
    (void)a;
    float s, c;
    sigmoid_pair(x, &s, &c);
    return s;
}
static inline float sigmoid_df(const activation *a, float x, float y)
{
    (void)a, (void)x;
    return y * (1.0f - y);
}

/* relu: y = max(x, 0); dy/dx = 1 if x > 0, else 0 (0 at the kink, as torch).
 * Written as x < 0 ? 0 : x so that a NaN input stays NaN instead of vanishing. */
static inline float relu_f(const activation *a, float x)
{
    (void)a;
    return x < 0.0f ? 0.0f : x;
}
static inline float relu_df(const activation *a, float x, float y)
{
    (void)a, (void)y;
    return x > 0.0f ? 1.0f : 0.0f;
}

/* leaky_relu: y = x if x > 0, else slope x; dy/dx = 1 if x > 0, else slope */
static inline float leaky_relu_f(const activation *a, float x) { return x > 0.0f ? x : a->a * x; }
static inline float leaky_relu_df(const activation *a, float x, float y)
{
    (void)y;
    return x > 0.0f ? 1.0f : a->a;
}

/* elu: y = x if x > 0, else alpha (exp(x) - 1); dy/dx = 1 if x > 0, else alpha exp(x).
 * expm1 keeps the relative accuracy of exp(x) - 1 for small |x|. */
static inline float elu_f(const activation *a, float x) { return x > 0.0f ? x : a->a * expm1f(x); }
static inline float elu_df(const activation *a, float x, float y)
{
    (void)y;
    return x > 0.0f ? 1.0f : a->a * expf(x);
}

/* tanh: y = tanh(x); dy/dx = 1 - y^2, with the output as torch does */
static inline float tanh_f(const activation *a, float x)
{
    (void)a;
    return tanhf(x);
}
static inline float tanh_df(const activation *a, float x, float y)
{
    (void)a, (void)x;
    return 1.0f - y * y;
}

/* softplus (beta = a->a, threshold = a->b):
 *   y = log(1 + exp(beta x)) / beta = (max(beta x, 0) + log1p(exp(-|beta x|))) / beta,
 *   dy/dx = sigma(beta x);
 * and y = x, dy/dx = 1 where beta x > threshold, torch's switch to the line it
 * approaches (decided on the float product, as torch). The second form of
 * log(1 + exp(z)) never overflows. z = beta x is exact in double: rounded to float,
 * its error of up to |z| 2^-25 became a relative error of y ~ exp(z) (50 ulps at
 * beta = 0.7, x = -100). */
static inline float softplus_f(const activation *a, float x)
{
    if (a->a * x > a->b)
        return x;
    double z = (double)a->a * x;
    return (float)((fmax(z, 0.0) + log1p(exp(-fabs(z)))) / a->a);
}
static inline float softplus_df(const activation *a, float x, float y)
{
    (void)y;
    if (a->a * x > a->b)
        return 1.0f;
    double s, c;
    sigmoid_pair_d((double)a->a * x, &s, &c);
    return (float)s;
}

static const double sqrt1_2 = 0.70710678118654752440;      /* 1 / sqrt(2) */
static const double inv_sqrt_2pi = 0.39894228040143267794; /* 1 / sqrt(2 pi) */
static const double sqrt_2_pi = 0.79788456080286535588;    /* sqrt(2 / pi) */
static const double gelu_tanh_c = 0.044715;

/* GELU, GELU-tanh and SiLU are evaluated in double and rounded once. In float, the
 * rounding of the argument (x / sqrt 2, u, x^2 / 2) and of the constants became a
 * relative error of about x^2 ulps in the tails (190 ulps at x = -13), and their
 * derivatives cancel to nothing near their zeros (x = -0.7518, -0.7525, -1.2785). */

/* gelu: y = x Phi(x), Phi(x) = erfc(-x / sqrt 2) / 2;
 *   dy/dx = Phi(x) + x phi(x), phi(x) = exp(-x^2 / 2) / sqrt(2 pi).
 * erfc rather than 1 + erf: for x << 0, 1 + erf(x / sqrt 2) cancels to a few bits
 * (torch's float32 GELU loses them: at x = -3 it is off by 4e-5 relative). */
static inline float gelu_f(const activation *a, float x)
{
    (void)a;
    double xd = x;
    return (float)(0.5 * xd * erfc(-xd * sqrt1_2));
}
static inline float gelu_df(const activation *a, float x, float y)
{
    (void)a, (void)y;
    double xd = x; /* xd * xd is exact */
    return (float)(0.5 * erfc(-xd * sqrt1_2) + xd * inv_sqrt_2pi * exp(-0.5 * (xd * xd)));
}

/* gelu_tanh: y = x/2 (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3)
 * (Hendrycks & Gimpel 2016, "Gaussian Error Linear Units"), computed as the equal
 * y = x sigma(2u), since (1 + tanh(u)) / 2 = sigma(2u): no cancellation for x << 0.
 *   dy/dx = sigma(2u) + x sigma(2u) (1 - sigma(2u)) 2 du/dx,
 *   du/dx = sqrt(2/pi) (1 + 3 * 0.044715 x^2).
 * x^3 of a float cannot overflow a double. Where sigma(2u) (1 - sigma(2u)) is 0 the
 * second term is skipped: it is 0, and for infinite x, du/dx is infinite. */
static inline float gelu_tanh_f(const activation *a, float x)
{
    (void)a;
    double xd = x, u = sqrt_2_pi * (xd + gelu_tanh_c * xd * xd * xd), s, c;
    sigmoid_pair_d(2.0 * u, &s, &c);
    return (float)(xd * s);
}
static inline float gelu_tanh_df(const activation *a, float x, float y)
{
    (void)a, (void)y;
    double xd = x, u = sqrt_2_pi * (xd + gelu_tanh_c * xd * xd * xd), s, c;
    sigmoid_pair_d(2.0 * u, &s, &c);
    double g = s * c;
    if (g == 0.0)
        return (float)s;
    double du = sqrt_2_pi * (1.0 + 3.0 * gelu_tanh_c * xd * xd);
    return (float)(s + 2.0 * xd * g * du);
}

/* silu: y = x sigma(x); dy/dx = sigma(x) (1 + x (1 - sigma(x))) */
static inline float silu_f(const activation *a, float x)
{
    (void)a;
    double s, c;
    sigmoid_pair_d(x, &s, &c);
    return (float)(x * s);
}
static inline float silu_df(const activation *a, float x, float y)
{
    (void)a, (void)y;
    double s, c;
    sigmoid_pair_d(x, &s, &c);
    return (float)(s * (1.0 + x * c));
}
/* NAME_forward_loop: y[i] = NAME_f(x[i]); NAME_backward_loop: dx[i] = dy[i] *
 * NAME_df(x[i], y[i]), for i < n. The parameters come by value and the loops work
 * on local pointers so that GCC can prove no store changes them and turn relu's
 * select into vector blends: written through the layer's fields it kept a scalar
 * loop with a branch per element, mispredicted on about every other element of a
 * (B, 256) batch. dx may be dy. */
#define NN_ACTIVATION_LOOPS(NAME)                                                                  \
    static inline void NAME##_forward_loop(activation ac, const float *xs, float *ys, size_t n)    \
    {                                                                                              \
        const activation *a = &ac;                                                                 \
        for (size_t i = 0; i < n; i++) {                                                           \
            float v = NAME##_f(a, xs[i]);                                                          \
            ys[i] = v;                                                                             \
        }                                                                                          \
    }                                                                                              \
    static inline void NAME##_backward_loop(activation ac, const float *xs, const float *ys,       \
                                            const float *gs, float *ds, size_t n)                  \
    {                                                                                              \
        const activation *a = &ac;                                                                 \
        for (size_t i = 0; i < n; i++) {                                                           \
            float d = NAME##_df(a, xs[i], ys[i]);                                                  \
            ds[i] = gs[i] * d;                                                                     \
        }                                                                                          \
    }

NN_ACTIVATION_LOOPS(identity)
NN_ACTIVATION_LOOPS(sigmoid)
NN_ACTIVATION_LOOPS(relu)
NN_ACTIVATION_LOOPS(leaky_relu)
NN_ACTIVATION_LOOPS(elu)
NN_ACTIVATION_LOOPS(tanh)
NN_ACTIVATION_LOOPS(softplus)
NN_ACTIVATION_LOOPS(gelu)
NN_ACTIVATION_LOOPS(gelu_tanh)
NN_ACTIVATION_LOOPS(silu)

#define NN_ACTIVATION_CASES(X)                                                                     \
    X(NN_ACT_IDENTITY, identity)                                                                   \
    X(NN_ACT_SIGMOID, sigmoid)                                                                     \
    X(NN_ACT_RELU, relu)                                                                           \
    X(NN_ACT_LEAKY_RELU, leaky_relu)                                                               \
    X(NN_ACT_ELU, elu)                                                                             \
    X(NN_ACT_TANH, tanh)                                                                           \
    X(NN_ACT_SOFTPLUS, softplus)                                                                   \
    X(NN_ACT_GELU, gelu)                                                                           \
    X(NN_ACT_GELU_TANH, gelu_tanh)                                                                 \
    X(NN_ACT_SILU, silu)

/* The forward and backward loops of an elementwise kind, chosen by a switch that a
 * caller with a fixed plan predicts perfectly. Row-wise kinds (softmax, log-softmax)
 * are not handled: nn_activation_elementwise says which are. */
static inline void nn_activation_forward_loop(activation ac, const float *x, float *y, size_t n)
{
    switch (ac.kind) {
#define NN_FORWARD_CASE(KIND, NAME)                                                                \
    case KIND:                                                                                     \
        NAME##_forward_loop(ac, x, y, n);                                                          \
        break;
        NN_ACTIVATION_CASES(NN_FORWARD_CASE)
#undef NN_FORWARD_CASE
    default:
        break;
    }
}

static inline void nn_activation_backward_loop(activation ac, const float *x, const float *y,
                                               const float *dy, float *dx, size_t n)
{
    switch (ac.kind) {
#define NN_BACKWARD_CASE(KIND, NAME)                                                               \
    case KIND:                                                                                     \
        NAME##_backward_loop(ac, x, y, dy, dx, n);                                                 \
        break;
        NN_ACTIVATION_CASES(NN_BACKWARD_CASE)
#undef NN_BACKWARD_CASE
    default:
        break;
    }
}

/* Hidden, as internal.h's functions. */
#if defined(__GNUC__)
#pragma GCC visibility push(hidden)
#endif

/* 1 when l is one of nn's elementwise activation layers, with its settings in *out;
 * 0 for anything else (softmax, log-softmax, other kinds). Sets no error. */
int nn_activation_elementwise(const nn_layer *l, activation *out);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#endif /* NN_ACTIVATION_IMPL_H */
