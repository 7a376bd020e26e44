/* rng.c - PCG32 (O'Neill 2014, pcg32 XSH-RR, 64-bit LCG state) and draws from it. */
#include <math.h>

#include "nn/rng.h"

#define PCG_MULT 6364136223846793005ULL

uint32_t nn_rng_u32(nn_rng *rng)
{
    uint64_t old = rng->state;
    rng->state = old * PCG_MULT + rng->inc;
    uint32_t xorshifted = (uint32_t)(((old >> 18u) ^ old) >> 27u);
    uint32_t rot = (uint32_t)(old >> 59u);
    return (xorshifted >> rot) | (xorshifted << ((-rot) & 31u));
}

/* The reference pcg32_srandom_r seeding, so (seed, stream) streams match the
 * published PCG test vectors. */
void nn_rng_seed(nn_rng *rng, uint64_t seed, uint64_t stream)
{
    rng->state = 0;
    rng->inc = (stream << 1u) | 1u;
    nn_rng_u32(rng);
    rng->state += seed;
    nn_rng_u32(rng);
}

uint32_t nn_rng_below(nn_rng *rng, uint32_t bound)
{
    if (bound == 0)
        return 0;
    /* Values below 2^32 mod bound would make the low residues more likely: redraw them. */
    uint32_t threshold = (uint32_t)(-bound) % bound;
    for (;;) {
        uint32_t r = nn_rng_u32(rng);
        if (r >= threshold)
            return r % bound;
    }
}

double nn_rng_uniform(nn_rng *rng)
{
    uint64_t hi = nn_rng_u32(rng) >> 5; /* 27 bits */
    uint64_t lo = nn_rng_u32(rng) >> 6; /* 26 bits */
    return (double)(hi * 67108864u + lo) * (1.0 / 9007199254740992.0);
}

double nn_rng_normal(nn_rng *rng)
{
    /* Marsaglia & Bray 1964, the polar method; the second deviate is dropped so that
     * the generator's state is all there is (no hidden cached value). */
    for (;;) {
        double u = 2.0 * nn_rng_uniform(rng) - 1.0;
        double v = 2.0 * nn_rng_uniform(rng) - 1.0;
        double s = u * u + v * v;
        if (s > 0.0 && s < 1.0)
            return u * sqrt(-2.0 * log(s) / s);
    }
}
