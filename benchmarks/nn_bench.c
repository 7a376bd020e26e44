/* nn_bench.c - nn's benchmarks: the gemm kernels, the lesson's 2-2-1 network and a
 * Fashion-MNIST-sized MLP. Prints one JSON object per line.
 *
 *   nn_bench kernels [--batch B] [--threads T] [--repeats R]
 *       gemm at the shapes of the 784-256-128-10 MLP's dense layers (forward,
 *       weight gradient, input gradient) through nn_kernel_gemm and through the same
 *       cblas_sgemm call made directly; tiny shapes (the 2-2-1 net's); the bare
 *       sequence of gemm calls of one training step over an epoch (the floor of a
 *       BLAS-backed framework); a large square sgemm (the machine's sgemm rate).
 *   nn_bench lesson [--epochs E] [--repeats R] [--init FILE]
 *       the lesson's 2-2-1 network, per-sample SGD through nn_net_fit.
 *   nn_bench mlp [--batch B] [--optim sgd|adam] [--threads T] [--repeats R]
 *                [--data fashion|random] [--x FILE --y FILE] [--init FILE] [--samples N]
 *       784-256-128-10 ReLU MLP, softmax cross-entropy on class indices, one epoch
 *       of nn_net_fit in data set order per repeat, from the same initial weights.
 *   nn_bench peak [--threads T]      the large square sgemm alone
 *   nn_bench floor [--batch B] [--threads T] [--repeats R]   the gemm floor alone
 *   nn_bench smoke
 *       a few milliseconds of each suite, for ctest: checks the paths run.
 *
 * Files are raw little-endian float32: --init holds every parameter in nn's order
 * (layer by layer, W (out, in) then b), --x the (N, 784) inputs, --y the N class
 * indices. Without --x the training set is read from the Fashion-MNIST IDX files
 * (pixels / 255) when they are installed, else drawn at random with the same shape.
 *
 * Every allocation nn makes goes through a counting allocator, so each result says
 * how many happened per training step once the first step is done.
 */
#define _POSIX_C_SOURCE 200809L
#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#ifdef NN_BENCH_HAVE_ZLIB
#include <zlib.h>
#endif

#include <nn/nn.h>

#include "bench_common.h"

#define MAX_REPEATS 101
#define FASHION_DIR "/usr/share/datasets/fashion-mnist"

static void die(const char *what)
{
    fprintf(stderr, "nn_bench: %s\n", what);
    exit(1);
}

#define CHECK(call)                                                                                \
    do {                                                                                           \
        nn_status st_ = (call);                                                                    \
        if (st_ != NN_OK) {                                                                        \
            fprintf(stderr, "nn_bench: %s:%d: %s: %s\n", __FILE__, __LINE__, nn_strerror(st_),     \
                    nn_last_error());                                                              \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

/* Median, min and max of n samples (sorted in place). */
typedef struct stats {
    double median, min, max;
} stats;

static stats summarize(double *t, int n)
{
    qsort(t, (size_t)n, sizeof t[0], bench_cmp_double);
    stats s = {n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]), t[0], t[n - 1]};
    return s;
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL)
        die("out of memory");
    return p;
}

/* ---- the counting allocator ------------------------------------------------------ */

static struct {
    size_t calls; /* allocations since the last reset */
} counter;

static void *count_alloc(size_t size, void *ctx)
{
    (void)ctx;
    counter.calls++;
    return malloc(size);
}

static void count_free(void *ptr, void *ctx)
{
    (void)ctx;
    free(ptr);
}

/* ---- memory ------------------------------------------------------------------------ */

static long peak_rss_kb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss; /* kilobytes on Linux */
}

static long current_rss_kb(void)
{
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f == NULL)
        return -1;
    if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
        resident = -1;
    fclose(f);
    return resident < 0 ? -1 : resident * 4; /* 4 KiB pages */
}

/* ---- options ------------------------------------------------------------------------ */

typedef struct options {
    const char *suite;
    int threads;
    int repeats;
    size_t epochs;
    size_t batch;   /* 0: the suite's list */
    const char *optim;
    const char *data; /* "fashion", "random" or NULL (fashion when installed) */
    const char *x_file, *y_file, *init_file;
    size_t samples; /* 0: all */
    double lr;      /* 0: the optimizer's usual rate (SGD 0.01, Adam 1e-3) */
} options;

static void usage(void)
{
    fprintf(stderr,
            "usage: nn_bench kernels|peak|floor|lesson|mlp|smoke [--threads T] [--repeats R] [--epochs E]\n"
            "       [--batch B] [--optim sgd|adam] [--lr LR] [--data fashion|random]\n"
            "       [--x FILE --y FILE] [--init FILE] [--samples N]\n");
    exit(2);
}

static options parse(int argc, char **argv)
{
    options o = {0};
    if (argc < 2)
        usage();
    o.suite = argv[1];
    o.threads = 1;
    o.repeats = 0;
    o.optim = "sgd";
    /* Every value checked whole (atoi/strtoul took 'ten' as 0 and -1 as 2^64 - 1:
     * a wrapped batch size made the floor's buffers a few floats long). */
    unsigned long n = 0;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v == NULL)
            usage();
        if (strcmp(a, "--threads") == 0 && bench_count(v, 256, &n) && n >= 1)
            o.threads = (int)n;
        else if (strcmp(a, "--repeats") == 0 && bench_count(v, MAX_REPEATS, &n))
            o.repeats = (int)n;
        else if (strcmp(a, "--epochs") == 0 && bench_count(v, 1000000000ul, &n))
            o.epochs = n;
        else if (strcmp(a, "--batch") == 0 && bench_count(v, 60000, &n) && n >= 1)
            o.batch = n;
        else if (strcmp(a, "--optim") == 0 && (strcmp(v, "sgd") == 0 || strcmp(v, "adam") == 0))
            o.optim = v;
        else if (strcmp(a, "--lr") == 0) {
            char *end;
            o.lr = strtod(v, &end);
            if (*end != '\0' || end == v || !(o.lr > 0.0) || !isfinite(o.lr))
                usage();
        } else if (strcmp(a, "--data") == 0 && (strcmp(v, "fashion") == 0 || strcmp(v, "random") == 0))
            o.data = v;
        else if (strcmp(a, "--x") == 0)
            o.x_file = v;
        else if (strcmp(a, "--y") == 0)
            o.y_file = v;
        else if (strcmp(a, "--init") == 0)
            o.init_file = v;
        else if (strcmp(a, "--samples") == 0 && bench_count(v, 60000000ul, &n) && n >= 1)
            o.samples = n;
        else
            usage();
        i++;
    }
    if (o.threads < 1 || o.repeats < 0 || o.repeats > MAX_REPEATS)
        usage();
    return o;
}

/* Reads exactly n floats from a raw float32 file. */
static void read_floats(const char *path, float *dst, size_t n)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL || fread(dst, sizeof(float), n, f) != n) {
        fprintf(stderr, "nn_bench: cannot read %zu floats from %s\n", n, path);
        exit(1);
    }
    fclose(f);
}

/* ---- the data set --------------------------------------------------------------------- */

typedef struct dataset {
    float *x; /* (n, 784) */
    float *y; /* (n, 1) class indices */
    size_t n;
    const char *source;
} dataset;

#define IMG 784
#define CLASSES 10

#ifdef NN_BENCH_HAVE_ZLIB
static uint32_t be32(const unsigned char *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

/* Opens an IDX file (gzip) and reads its header: magic 0x0000080D (unsigned bytes,
 * D dimensions), then D big-endian sizes. Returns the open file and the element
 * count, or NULL. */
static gzFile open_idx(const char *path, uint32_t want_dims, size_t *count)
{
    gzFile f = gzopen(path, "rb");
    if (f == NULL)
        return NULL;
    unsigned char head[4 + 4 * 3];
    size_t n = 1;
    if (want_dims > 3 || gzread(f, head, 4) != 4 || be32(head) != (0x800u | want_dims) ||
        gzread(f, head + 4, 4 * want_dims) != (int)(4 * want_dims)) {
        gzclose(f);
        return NULL;
    }
    for (uint32_t d = 0; d < want_dims; d++)
        n *= be32(head + 4 + 4 * d);
    *count = n;
    return f;
}

/* Reads n bytes from f as floats scaled by scale, in chunks: no byte copy of the
 * whole file is ever resident, so the peak RSS shows the data set as training sees it. */
static int read_idx_floats(gzFile f, float *dst, size_t n, float scale)
{
    unsigned char chunk[1 << 16];
    for (size_t done = 0; done < n;) {
        unsigned want = (unsigned)(n - done < sizeof chunk ? n - done : sizeof chunk);
        if (gzread(f, chunk, want) != (int)want)
            return 0;
        for (unsigned i = 0; i < want; i++)
            dst[done + i] = scale == 1.0f ? (float)chunk[i] : (float)chunk[i] / scale;
        done += want;
    }
    return 1;
}

static int load_fashion(dataset *d)
{
    size_t ni = 0, nl = 0;
    gzFile fi = open_idx(FASHION_DIR "/train-images-idx3-ubyte.gz", 3, &ni);
    gzFile fl = open_idx(FASHION_DIR "/train-labels-idx1-ubyte.gz", 1, &nl);
    int ok = fi != NULL && fl != NULL && ni == nl * IMG;
    if (ok) {
        d->n = nl;
        d->x = xmalloc(ni * sizeof(float));
        d->y = xmalloc(nl * sizeof(float));
        /* The same float32 division NumPy does for pixels / 255. */
        ok = read_idx_floats(fi, d->x, ni, 255.0f) && read_idx_floats(fl, d->y, nl, 1.0f);
        if (!ok) {
            free(d->x);
            free(d->y);
        }
    }
    if (fi != NULL)
        gzclose(fi);
    if (fl != NULL)
        gzclose(fl);
    d->source = "fashion-mnist";
    return ok;
}
#else
static int load_fashion(dataset *d)
{
    (void)d;
    return 0;
}
#endif

static void load_random(dataset *d, size_t n)
{
    nn_rng rng;
    nn_rng_seed(&rng, 7, 0);
    d->n = n;
    d->x = xmalloc(n * IMG * sizeof(float));
    d->y = xmalloc(n * sizeof(float));
    for (size_t i = 0; i < n * IMG; i++)
        d->x[i] = nn_rng_uniform(&rng);
    for (size_t i = 0; i < n; i++)
        d->y[i] = (float)nn_rng_below(&rng, CLASSES);
    d->source = "random";
}

static dataset load_data(const options *o)
{
    dataset d = {0};
    size_t full = 60000;
    if (o->x_file != NULL) {
        if (o->y_file == NULL || o->samples == 0)
            die("--x needs --y and --samples (its number of rows)");
        d.n = o->samples;
        d.x = xmalloc(d.n * IMG * sizeof(float));
        d.y = xmalloc(d.n * sizeof(float));
        read_floats(o->x_file, d.x, d.n * IMG);
        read_floats(o->y_file, d.y, d.n);
        d.source = "file";
        return d;
    }
    int want_fashion = o->data == NULL || strcmp(o->data, "fashion") == 0;
    if (want_fashion && load_fashion(&d)) {
        if (o->samples > 0 && o->samples < d.n)
            d.n = o->samples;
        return d;
    }
    if (o->data != NULL && strcmp(o->data, "fashion") == 0)
        die("--data fashion: the Fashion-MNIST files are not readable (" FASHION_DIR ")");
    load_random(&d, o->samples > 0 ? o->samples : full);
    return d;
}

/* ---- JSON lines --------------------------------------------------------------------- */

static void json_begin(const char *bench) { printf("{\"bench\":\"%s\"", bench); }
static void json_str(const char *k, const char *v) { printf(",\"%s\":\"%s\"", k, v); }
static void json_int(const char *k, long long v) { printf(",\"%s\":%lld", k, v); }
static void json_num(const char *k, double v)
{
    if (isfinite(v))
        printf(",\"%s\":%.6g", k, v);
    else
        printf(",\"%s\":null", k);
}
static void json_stats(const char *prefix, stats s)
{
    char k[64];
    snprintf(k, sizeof k, "%s_median", prefix);
    json_num(k, s.median);
    snprintf(k, sizeof k, "%s_min", prefix);
    json_num(k, s.min);
    snprintf(k, sizeof k, "%s_max", prefix);
    json_num(k, s.max);
}
static void json_array(const char *k, const double *v, int n)
{
    printf(",\"%s\":[", k);
    for (int i = 0; i < n; i++)
        printf("%s%.6g", i ? "," : "", v[i]);
    printf("]");
}
static void json_end(void)
{
    printf("}\n");
    fflush(stdout);
}

/* ---- kernels ------------------------------------------------------------------------- */

static const size_t mlp_widths[4] = {IMG, 256, 128, CLASSES};

static float *random_floats(size_t n, nn_rng *rng)
{
    float *p = xmalloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++)
        p[i] = nn_rng_uniform(rng) - 0.5f;
    return p;
}

/* One gemm shape: C (m, n) = op(A) op(B), A stored (ar, ac), B stored (br, bc). */
typedef struct gemm_case {
    const char *what;
    nn_trans ta, tb;
    size_t m, n, k;
    float beta;
} gemm_case;

/* Seconds per call of the case through nn (nn_kernel_gemm) and through the same
 * cblas_sgemm call made directly. Each repeat times a block of calls of each, one
 * after the other, so that both see the same machine; a block lasts about
 * min_seconds. Either result may be NULL. */
static void time_gemm(const gemm_case *g, int repeats, double min_seconds, nn_rng *rng,
                      stats *via_nn, stats *via_blas)
{
    size_t ar = g->ta == NN_TRANS ? g->k : g->m, ac = g->ta == NN_TRANS ? g->m : g->k;
    size_t br = g->tb == NN_TRANS ? g->n : g->k, bc = g->tb == NN_TRANS ? g->k : g->n;
    float *a = random_floats(ar * ac, rng), *b = random_floats(br * bc, rng);
    float *c = random_floats(g->m * g->n, rng);
    nn_tensor ta = nn_tensor_view2d(a, ar, ac), tb = nn_tensor_view2d(b, br, bc);
    nn_tensor tc = nn_tensor_view2d(c, g->m, g->n);
    double t[2][MAX_REPEATS];
    size_t calls = 1;
    for (int r = -1; r < repeats; r++) { /* r = -1 calibrates the block length */
        for (int via = 0; via < 2; via++) {
            if ((via == 0 && via_nn == NULL) || (via == 1 && via_blas == NULL))
                continue;
            for (;;) {
                double t0 = bench_now();
                for (size_t i = 0; i < calls; i++) {
                    if (via == 0)
                        CHECK(nn_kernel_gemm(g->ta, g->tb, 1.0f, &ta, &tb, g->beta, &tc));
                    else
                        cblas_sgemm(CblasRowMajor, g->ta == NN_TRANS ? CblasTrans : CblasNoTrans,
                                    g->tb == NN_TRANS ? CblasTrans : CblasNoTrans, (int)g->m,
                                    (int)g->n, (int)g->k, 1.0f, a, (int)ac, b, (int)bc, g->beta,
                                    c, (int)g->n);
                }
                double dt = bench_now() - t0;
                if (r >= 0) {
                    t[via][r] = dt / (double)calls;
                    break;
                }
                if (dt >= min_seconds || calls >= (1u << 26))
                    break;
                calls *= dt > 0 ? (size_t)fmin(16.0, fmax(2.0, 1.2 * min_seconds / dt)) : 16;
            }
        }
    }
    if (via_nn != NULL)
        *via_nn = summarize(t[0], repeats);
    if (via_blas != NULL)
        *via_blas = summarize(t[1], repeats);
    free(a);
    free(b);
    free(c);
}

static void report_gemm(const gemm_case *g, size_t batch, int threads, int repeats,
                        double min_seconds, nn_rng *rng)
{
    stats s_nn, s_blas;
    time_gemm(g, repeats, min_seconds, rng, &s_nn, &s_blas);
    double flop = 2.0 * (double)g->m * (double)g->n * (double)g->k;
    json_begin("gemm");
    json_str("what", g->what);
    json_int("batch", (long long)batch);
    json_int("threads", threads);
    json_str("op", g->ta == NN_TRANS ? (g->tb == NN_TRANS ? "TT" : "TN")
                                      : (g->tb == NN_TRANS ? "NT" : "NN"));
    json_int("m", (long long)g->m);
    json_int("n", (long long)g->n);
    json_int("k", (long long)g->k);
    json_num("nn_seconds_median", s_nn.median);
    json_num("blas_seconds_median", s_blas.median);
    json_num("nn_gflops", flop / s_nn.median * 1e-9);
    json_num("blas_gflops", flop / s_blas.median * 1e-9);
    json_num("nn_over_blas_time", s_nn.median / s_blas.median);
    json_end();
}

/* FLOP of one training sample of the MLP: forward, weight gradients, and the input
 * gradients of every layer but the first (nobody needs dL/dx of the data). */
static double mlp_flop_per_sample(void)
{
    double f = 0.0;
    for (int i = 0; i < 3; i++) {
        double mac = (double)mlp_widths[i] * (double)mlp_widths[i + 1];
        f += 2.0 * mac * (i > 0 ? 3.0 : 2.0);
    }
    return f;
}

/* The bare gemm calls of training steps over n samples in batches of bs, nothing
 * else: forward with beta 0, weight gradients accumulated with beta 1, input
 * gradients of layers 2 and 3. Seconds per pass over the n samples. */
static stats time_floor(const float *x, size_t n, size_t bs, int repeats, nn_rng *rng,
                        double *raw)
{
    float *w[3], *dw[3], *act[3], *dact[3];
    for (int i = 0; i < 3; i++) {
        size_t in = mlp_widths[i], out = mlp_widths[i + 1];
        w[i] = random_floats(out * in, rng);
        dw[i] = random_floats(out * in, rng);
        act[i] = random_floats(bs * out, rng);
        dact[i] = random_floats(bs * out, rng);
    }
    double t[MAX_REPEATS];
    for (int r = 0; r < repeats; r++) {
        double t0 = bench_now();
        for (size_t first = 0; first < n; first += bs) {
            int b = (int)(n - first < bs ? n - first : bs);
            const float *in = x + first * IMG;
            for (int i = 0; i < 3; i++) {
                int ni = (int)mlp_widths[i], no = (int)mlp_widths[i + 1];
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, b, no, ni, 1.0f,
                            i == 0 ? in : act[i - 1], ni, w[i], ni, 0.0f, act[i], no);
            }
            for (int i = 2; i >= 0; i--) {
                int ni = (int)mlp_widths[i], no = (int)mlp_widths[i + 1];
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, no, ni, b, 1.0f, dact[i], no,
                            i == 0 ? in : act[i - 1], ni, 1.0f, dw[i], ni);
                if (i > 0)
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, b, ni, no, 1.0f,
                                dact[i], no, w[i], ni, 0.0f, dact[i - 1], ni);
            }
        }
        t[r] = bench_now() - t0;
    }
    for (int i = 0; i < 3; i++) {
        free(w[i]);
        free(dw[i]);
        free(act[i]);
        free(dact[i]);
    }
    memcpy(raw, t, (size_t)repeats * sizeof t[0]);
    return summarize(t, repeats);
}

/* The machine's sgemm rate: a large square product. */
static void bench_peak(const options *o, int smoke, nn_rng *rng)
{
    int repeats = o->repeats ? o->repeats : (smoke ? 1 : 7);
    size_t big = smoke ? 64 : 1024;
    gemm_case sq = {"square", NN_NO_TRANS, NN_NO_TRANS, big, big, big, 0.0f};
    stats s;
    time_gemm(&sq, repeats, smoke ? 1e-4 : 0.2, rng, NULL, &s);
    json_begin("sgemm_peak");
    json_int("threads", o->threads);
    json_int("n", (long long)big);
    json_num("seconds_median", s.median);
    json_num("gflops", 2.0 * (double)big * big * big / s.median * 1e-9);
    json_num("gflops_best", 2.0 * (double)big * big * big / s.min * 1e-9);
    json_end();
}

/* The bare gemm sequence of an epoch of training steps on the data's shape. */
static void bench_floor(const options *o, size_t bs, int smoke, nn_rng *rng)
{
    size_t n = smoke ? 256 : 60000;
    int repeats = smoke ? 1 : (o->repeats ? o->repeats : 5);
    float *x = random_floats(n * IMG, rng);
    double t[MAX_REPEATS];
    stats s = time_floor(x, n, bs, repeats, rng, t);
    free(x);
    double flop = mlp_flop_per_sample() * (double)n;
    json_begin("gemm_floor");
    json_str("model", "784-256-128-10");
    json_int("batch", (long long)bs);
    json_int("threads", o->threads);
    json_int("samples", (long long)n);
    json_int("repeats", repeats);
    json_stats("seconds_per_epoch", s);
    json_array("seconds_all", t, repeats);
    json_num("samples_per_s", (double)n / s.median);
    json_num("gflops", flop / s.median * 1e-9);
    json_end();
}

static void suite_kernels(const options *o, int smoke)
{
    nn_rng rng;
    nn_rng_seed(&rng, 1, 0);
    int repeats = o->repeats ? o->repeats : (smoke ? 1 : 7);
    double min_s = smoke ? 1e-4 : 0.05;
    static const size_t all_batches[] = {32, 64, 128, 256};
    size_t one[1] = {o->batch};
    const size_t *batches = o->batch ? one : all_batches;
    size_t nb = o->batch ? 1 : (smoke ? 1 : 4);

    bench_peak(o, smoke, &rng);

    /* The 2-2-1 net's products and a sweep of small ones: where a direct loop beats BLAS. */
    static const size_t tiny[][3] = {{1, 2, 2}, {1, 1, 2}, {2, 2, 1}, {1, 2, 1}, {4, 4, 4},
                                     {4, 4, 8}, {4, 8, 8}, {8, 8, 8}, {16, 16, 16},
                                     {32, 32, 32}, {32, 10, 128}, {64, 64, 64}};
    for (size_t i = 0; i < (smoke ? 2 : sizeof tiny / sizeof tiny[0]); i++) {
        for (int op = 0; op < 3; op++) {
            gemm_case g = {op == 0 ? "small_forward" : op == 1 ? "small_weight_grad" : "small_input_grad",
                           op == 1 ? NN_TRANS : NN_NO_TRANS, op == 0 ? NN_TRANS : NN_NO_TRANS,
                           tiny[i][0], tiny[i][1], tiny[i][2], op == 1 ? 1.0f : 0.0f};
            report_gemm(&g, 0, o->threads, repeats, min_s, &rng);
        }
    }

    for (size_t bi = 0; bi < nb; bi++) {
        size_t bs = batches[bi];
        for (int i = 0; i < 3; i++) {
            size_t in = mlp_widths[i], out = mlp_widths[i + 1];
            char what[64];
            snprintf(what, sizeof what, "forward_%zux%zu", in, out);
            gemm_case f = {what, NN_NO_TRANS, NN_TRANS, bs, out, in, 1.0f};
            report_gemm(&f, bs, o->threads, repeats, min_s, &rng);
            snprintf(what, sizeof what, "weight_grad_%zux%zu", in, out);
            gemm_case wg = {what, NN_TRANS, NN_NO_TRANS, out, in, bs, 1.0f};
            report_gemm(&wg, bs, o->threads, repeats, min_s, &rng);
            if (i > 0) {
                snprintf(what, sizeof what, "input_grad_%zux%zu", in, out);
                gemm_case ig = {what, NN_NO_TRANS, NN_NO_TRANS, bs, in, out, 0.0f};
                report_gemm(&ig, bs, o->threads, repeats, min_s, &rng);
            }
        }
        bench_floor(o, bs, smoke, &rng);
    }
}

/* nn_bench peak / floor: the two machine figures compare.py needs, alone. */
static void suite_floor(const options *o, int peak)
{
    nn_rng rng;
    nn_rng_seed(&rng, 1, 0);
    if (peak)
        bench_peak(o, 0, &rng);
    else
        bench_floor(o, o->batch ? o->batch : 64, 0, &rng);
}

/* ---- the lesson's 2-2-1 network ----------------------------------------------------- */

static nn_net *lesson_net(const float *init)
{
    nn_net *net;
    nn_layer *l;
    nn_loss *mse;
    nn_optim *sgd;
    nn_rng rng;
    CHECK(nn_net_new(2, &net));
    for (size_t units = 2; units >= 1; units--) {
        nn_dense_params p = nn_dense_default_params(units);
        p.weight_init = p.bias_init = nn_init_normal(0.0, 1.0);
        CHECK(nn_dense_new(&p, &l));
        CHECK(nn_net_add(net, l));
        CHECK(nn_sigmoid_new(&l));
        CHECK(nn_net_add(net, l));
    }
    nn_rng_seed(&rng, 42, 0);
    CHECK(nn_net_init_params(net, &rng));
    if (init != NULL) {
        size_t count;
        float *p = nn_net_params(net, &count);
        memcpy(p, init, count * sizeof(float));
    }
    CHECK(nn_loss_mse_new(&mse));
    CHECK(nn_net_set_loss(net, mse, 1));
    CHECK(nn_optim_sgd_new(0.1, &sgd));
    CHECK(nn_net_set_optim(net, sgd));
    return net;
}

static void suite_lesson(const options *o, int smoke)
{
    size_t epochs_list[2] = {1000, 100000};
    size_t ne = 2;
    if (o->epochs) {
        epochs_list[0] = o->epochs;
        ne = 1;
    }
    if (smoke) {
        epochs_list[0] = 10;
        ne = 1;
    }
    float init[9], *initp = NULL;
    if (o->init_file != NULL) {
        read_floats(o->init_file, init, 9);
        initp = init;
    }
    float xs[8] = {-2, -1, 25, 6, 17, 4, -15, -6}, ys[4] = {1, 0, 0, 1};
    nn_tensor x = nn_tensor_view2d(xs, 4, 2), y = nn_tensor_view2d(ys, 4, 1);
    for (size_t e = 0; e < ne; e++) {
        size_t epochs = epochs_list[e];
        int repeats = o->repeats ? o->repeats : (smoke ? 1 : epochs >= 100000 ? 3 : 7);
        nn_fit_params fp = nn_fit_default_params();
        fp.epochs = epochs;
        fp.batch_size = 1;
        fp.progress = NN_PROGRESS_OFF;
        double t[MAX_REPEATS], loss = 0.0;
        size_t allocs = 0;
        for (int r = 0; r < repeats; r++) {
            nn_net *net = lesson_net(initp);
            counter.calls = 0;
            double t0 = bench_now();
            CHECK(nn_net_fit(net, &x, &y, &fp, NULL));
            t[r] = bench_now() - t0;
            allocs = counter.calls;
            CHECK(nn_net_eval_loss(net, &x, &y, &loss));
            nn_net_free(net);
        }
        /* Allocations per step: a short fit counted against a long one on a fresh net. */
        nn_net *net = lesson_net(initp);
        fp.epochs = 1; /* the first fit sizes the workspace */
        CHECK(nn_net_fit(net, &x, &y, &fp, NULL));
        fp.epochs = 10;
        counter.calls = 0;
        CHECK(nn_net_fit(net, &x, &y, &fp, NULL));
        size_t a10 = counter.calls;
        fp.epochs = 20;
        counter.calls = 0;
        CHECK(nn_net_fit(net, &x, &y, &fp, NULL));
        size_t a20 = counter.calls;
        nn_net_free(net);
        double raw[MAX_REPEATS];
        memcpy(raw, t, (size_t)repeats * sizeof t[0]);
        stats s = summarize(t, repeats);
        double updates = 4.0 * (double)epochs;
        json_begin("lesson_2_2_1");
        json_str("impl", "nn");
        json_str("optimizer", "sgd");
        json_int("batch", 1);
        json_int("epochs", (long long)epochs);
        json_int("threads", nn_get_num_threads());
        json_int("updates", (long long)updates);
        json_int("repeats", repeats);
        json_stats("seconds", s);
        json_array("seconds_all", raw, repeats);
        json_num("updates_per_s", updates / s.median);
        json_num("final_loss", loss);
        json_int("allocs_per_fit_call", (long long)allocs);
        json_num("allocs_per_step", ((double)a20 - (double)a10) / 40.0);
        json_int("peak_rss_kb", peak_rss_kb());
        json_end();
    }
}

/* ---- the MLP ----------------------------------------------------------------------------- */

static nn_optim *make_optim(const options *o)
{
    nn_optim *opt;
    if (strcmp(o->optim, "sgd") == 0) {
        CHECK(nn_optim_sgd_new(o->lr > 0 ? o->lr : 0.01, &opt));
    } else if (strcmp(o->optim, "adam") == 0) {
        nn_adam_params p = nn_adam_default_params();
        if (o->lr > 0)
            p.lr = o->lr;
        CHECK(nn_optim_adam_new_ex(&p, &opt));
    } else {
        die("--optim must be sgd or adam");
    }
    return opt;
}

static nn_net *mlp_net(void)
{
    nn_net *net;
    nn_layer *l;
    nn_loss *ce;
    CHECK(nn_net_new(IMG, &net));
    for (int i = 1; i < 4; i++) {
        nn_dense_params p = nn_dense_default_params(mlp_widths[i]);
        CHECK(nn_dense_new(&p, &l));
        CHECK(nn_net_add(net, l));
        if (i < 3) {
            CHECK(nn_relu_new(&l));
            CHECK(nn_net_add(net, l));
        }
    }
    nn_rng rng;
    nn_rng_seed(&rng, 1, 0);
    CHECK(nn_net_init_params(net, &rng));
    CHECK(nn_loss_cross_entropy_new(&ce));
    CHECK(nn_net_set_loss(net, ce, 1));
    return net;
}

static void suite_mlp(const options *o, int smoke)
{
    options oo = *o;
    if (smoke && oo.samples == 0) {
        oo.samples = 512;
        oo.data = "random";
    }
    long rss_before = current_rss_kb();
    dataset d = load_data(&oo);
    long rss_data = current_rss_kb();
    nn_tensor x = nn_tensor_view2d(d.x, d.n, IMG), y = nn_tensor_view2d(d.y, d.n, 1);
    static const size_t all_batches[] = {32, 64, 128, 256};
    size_t one[1] = {o->batch};
    const size_t *batches = o->batch ? one : all_batches;
    size_t nb = o->batch ? 1 : (smoke ? 1 : 4);
    int repeats = o->repeats ? o->repeats : (smoke ? 1 : 5);

    nn_net *net = mlp_net();
    size_t n_params;
    float *params = nn_net_params(net, &n_params);
    float *init = xmalloc(n_params * sizeof(float));
    if (o->init_file != NULL)
        read_floats(o->init_file, init, n_params);
    else
        memcpy(init, params, n_params * sizeof(float));

    for (size_t bi = 0; bi < nb; bi++) {
        size_t bs = batches[bi];
        size_t steps = (d.n + bs - 1) / bs;
        nn_fit_params fp = nn_fit_default_params();
        fp.epochs = 1;
        fp.batch_size = bs;
        fp.progress = NN_PROGRESS_OFF;

        /* Warm-up on a few batches (first-step allocations, BLAS buffers, caches). */
        memcpy(params, init, n_params * sizeof(float));
        CHECK(nn_net_set_optim(net, make_optim(o)));
        nn_tensor xw, yw;
        size_t warm = d.n < 20 * bs ? d.n : 20 * bs;
        CHECK(nn_tensor_rows(&x, 0, warm, &xw));
        CHECK(nn_tensor_rows(&y, 0, warm, &yw));
        CHECK(nn_net_fit(net, &xw, &yw, &fp, NULL));

        /* Allocations per step once the first is done, counted over plain steps. */
        nn_tensor xb, yb;
        CHECK(nn_tensor_rows(&x, 0, bs < d.n ? bs : d.n, &xb));
        CHECK(nn_tensor_rows(&y, 0, bs < d.n ? bs : d.n, &yb));
        double loss;
        counter.calls = 0;
        for (int s = 0; s < 10; s++)
            CHECK(nn_net_train_step(net, &xb, &yb, &loss));
        double allocs_per_step = (double)counter.calls / 10.0;

        double t[MAX_REPEATS];
        size_t allocs_fit = 0;
        double loss_after = 0.0;
        for (int r = 0; r < repeats; r++) {
            memcpy(params, init, n_params * sizeof(float));
            CHECK(nn_net_set_optim(net, make_optim(o))); /* fresh state: the same work each time */
            counter.calls = 0;
            double t0 = bench_now();
            CHECK(nn_net_fit(net, &x, &y, &fp, NULL));
            t[r] = bench_now() - t0;
            allocs_fit = counter.calls;
            if (r == 0) {
                /* Training loss after one epoch on the first rows, to check that another
                 * framework fed the same weights and batches did the same work. */
                nn_tensor xe, ye;
                size_t ne = d.n < 10000 ? d.n : 10000;
                CHECK(nn_tensor_rows(&x, 0, ne, &xe));
                CHECK(nn_tensor_rows(&y, 0, ne, &ye));
                CHECK(nn_net_eval_loss(net, &xe, &ye, &loss_after));
            }
        }
        double raw[MAX_REPEATS];
        memcpy(raw, t, (size_t)repeats * sizeof t[0]);
        stats s = summarize(t, repeats);
        double flop = mlp_flop_per_sample() * (double)d.n;
        /* What training needs: parameters, gradients, optimizer state, each layer's
         * (B, out) output and two (B, max width) gradient buffers (the network sizes
         * them by the widest of its input and layers). */
        double model_bytes = 4.0 * (double)n_params * (strcmp(o->optim, "adam") == 0 ? 4 : 2);
        double act = 0;
        for (int i = 1; i < 4; i++)
            act += (double)mlp_widths[i] * (i < 3 ? 2 : 1);
        model_bytes += 4.0 * (double)bs * (act + 2.0 * IMG);
        long peak = peak_rss_kb();
        json_begin("mlp");
        json_str("impl", "nn");
        json_str("model", "784-256-128-10");
        json_str("optimizer", o->optim);
        json_str("data", d.source);
        json_int("batch", (long long)bs);
        json_int("threads", nn_get_num_threads());
        json_int("samples", (long long)d.n);
        json_int("steps", (long long)steps);
        json_int("repeats", repeats);
        json_stats("seconds_per_epoch", s);
        json_array("seconds_all", raw, repeats);
        json_num("samples_per_s", (double)d.n / s.median);
        json_num("gflops", flop / s.median * 1e-9);
        json_num("loss_after_epoch", loss_after);
        json_num("allocs_per_step", allocs_per_step);
        json_int("allocs_per_fit_call", (long long)allocs_fit);
        json_int("peak_rss_kb", peak);
        json_int("rss_before_data_kb", rss_before);
        json_int("data_kb", (rss_data - rss_before));
        json_num("model_kb", model_bytes / 1024.0);
        /* Everything else: nn's own buffers beyond model_kb, and BLAS's packing buffers. */
        json_int("rest_kb", peak - rss_data);
        json_end();
    }
    free(init);
    nn_net_free(net);
    free(d.x);
    free(d.y);
}

int main(int argc, char **argv)
{
    options o = parse(argc, argv);
    nn_allocator counting = {count_alloc, count_free, NULL};
    nn_set_allocator(&counting);
    CHECK(nn_set_num_threads(o.threads));
    int smoke = strcmp(o.suite, "smoke") == 0;
    if (smoke) {
        suite_kernels(&o, 1);
        suite_lesson(&o, 1);
        suite_mlp(&o, 1);
    } else if (strcmp(o.suite, "kernels") == 0) {
        suite_kernels(&o, 0);
    } else if (strcmp(o.suite, "peak") == 0 || strcmp(o.suite, "floor") == 0) {
        suite_floor(&o, strcmp(o.suite, "peak") == 0);
    } else if (strcmp(o.suite, "lesson") == 0) {
        suite_lesson(&o, 0);
    } else if (strcmp(o.suite, "mlp") == 0) {
        suite_mlp(&o, 0);
    } else {
        usage();
    }
    nn_set_allocator(NULL);
    return 0;
}
