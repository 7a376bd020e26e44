/* bench_common.h - what the benchmark programs share: the clock, sorting samples, and
 * for the lesson's 2-2-1 baselines (scalar_221.c, fann_221.c) their command line,
 * initial values, data and JSON line. Plain C, no nn: the baselines do not link it.
 * Include after defining _POSIX_C_SOURCE (clock_gettime). */
#ifndef NN_BENCH_COMMON_H
#define NN_BENCH_COMMON_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static inline double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* For qsort over doubles, ascending. */
static inline int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* ---- the lesson's 2-2-1 baselines ------------------------------------------------------ */

#define LESSON_MAX_REPEATS 101

/* The lesson's data: weight - 135 lb, height - 66 in; target 1 = female. */
#define LESSON_X {{-2, -1}, {25, 6}, {17, 4}, {-15, -6}}
#define LESSON_Y {1, 0, 0, 1}

typedef struct lesson_args {
    size_t epochs;
    int repeats;
    float init[9]; /* W1 (2x2 by hidden unit), b1 (2), W2 (1x2), b2: nn's parameter order */
} lesson_args;

/* A whole number from 0 to max, all of s (strtoul alone took '10x' as 10, '-5' as
 * 2^64 - 5 and 'ten' as 0). Returns 1 and sets *out, or 0. */
static inline int bench_count(const char *s, unsigned long max, unsigned long *out)
{
    if (s[0] < '0' || s[0] > '9')
        return 0;
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (*end != '\0' || errno != 0 || v > max)
        return 0;
    *out = v;
    return 1;
}

/* Parses [--epochs E] [--repeats R] [--init FILE] for the program name. FILE holds 9
 * little-endian float32 in nn's parameter order; without it a fixed N(0, 1)-like draw
 * is used. Returns 0, or the exit status after printing why. */
static inline int lesson_parse(int argc, char **argv, const char *name, lesson_args *a)
{
    static const float fixed[9] = {0.4967f, -0.1383f, 0.6477f, 1.5230f, -0.2342f,
                                   -0.2341f, 1.5792f,  0.7674f, -0.4695f};
    const char *init = NULL;
    a->epochs = 1000;
    a->repeats = 7;
    memcpy(a->init, fixed, sizeof fixed);
    unsigned long v = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--epochs") == 0 && i + 1 < argc && bench_count(argv[i + 1], 1000000000ul, &v))
            a->epochs = v, i++;
        else if (strcmp(argv[i], "--repeats") == 0 && i + 1 < argc &&
                 bench_count(argv[i + 1], LESSON_MAX_REPEATS, &v))
            a->repeats = (int)v, i++;
        else if (strcmp(argv[i], "--init") == 0 && i + 1 < argc)
            init = argv[++i];
        else {
            fprintf(stderr, "usage: %s [--epochs E] [--repeats R] [--init FILE]\n", name);
            return 2;
        }
    }
    if (a->epochs == 0 || a->repeats < 1 || a->repeats > LESSON_MAX_REPEATS) {
        fprintf(stderr, "%s: epochs must be > 0 and repeats in 1..%d\n", name, LESSON_MAX_REPEATS);
        return 2;
    }
    if (init != NULL) {
        FILE *f = fopen(init, "rb");
        size_t got = f != NULL ? fread(a->init, sizeof(float), 9, f) : 0;
        if (f != NULL)
            fclose(f);
        if (got != 9) {
            fprintf(stderr, "%s: cannot read 9 floats from %s\n", name, init);
            return 1;
        }
    }
    return 0;
}

/* Prints the JSON line of a run: t[] holds the repeats' seconds (sorted here). */
static inline void lesson_report(const char *impl, const lesson_args *a, double *t, double loss)
{
    qsort(t, (size_t)a->repeats, sizeof t[0], bench_cmp_double);
    double updates = 4.0 * (double)a->epochs, median = t[a->repeats / 2];
    printf("{\"bench\":\"lesson_2_2_1\",\"impl\":\"%s\",\"optimizer\":\"sgd\",\"batch\":1,"
           "\"epochs\":%zu,\"updates\":%.0f,\"repeats\":%d,\"seconds_median\":%.6g,"
           "\"seconds_min\":%.6g,\"seconds_max\":%.6g,\"updates_per_s\":%.0f,\"final_loss\":%.9g}\n",
           impl, a->epochs, updates, a->repeats, median, t[0], t[a->repeats - 1],
           updates / median, loss);
}

#endif /* NN_BENCH_COMMON_H */
