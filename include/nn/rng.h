/* nn/rng.h - an explicit, seeded random number generator.
 *
 * nn never uses rand() or any hidden global generator: every function that
 * needs randomness takes an nn_rng the caller owns. The generator is PCG32
 * (O'Neill 2014, "PCG: A Family of Simple Fast Space-Efficient Statistically Good
 * Algorithms for Random Number Generation", pcg32 XSH-RR with 64-bit state), so
 * the same seed gives the same stream on every machine and compiler.
 */
#ifndef NN_RNG_H
#define NN_RNG_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nn_rng {
    uint64_t state;
    uint64_t inc; /* stream selector, always odd */
} nn_rng;

/* Seeds rng. Two generators with the same seed and stream give the same numbers.
 * Only the low 63 bits of stream select the stream (inc = stream << 1 | 1, as the
 * reference pcg32_srandom_r): stream and stream + 2^63 give the same numbers. */
void nn_rng_seed(nn_rng *rng, uint64_t seed, uint64_t stream);

/* A uniformly distributed 32-bit value. */
uint32_t nn_rng_u32(nn_rng *rng);

/* A uniform integer in [0, bound), without modulo bias. bound > 0. */
uint32_t nn_rng_below(nn_rng *rng, uint32_t bound);

/* A uniform double in [0, 1) with 53 random bits. */
double nn_rng_uniform(nn_rng *rng);

/* A standard normal draw N(0, 1), by Marsaglia's polar method (only log and sqrt
 * of the C library are used, keeping results stable across machines). */
double nn_rng_normal(nn_rng *rng);

#ifdef __cplusplus
}
#endif

#endif /* NN_RNG_H */
