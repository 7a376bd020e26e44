/* fuzz/fuzz_alloc.h - an allocator with a budget, and the check that a property holds,
 * for the fuzz targets.
 *
 * A spec may legally ask for a network of 10^10 parameters, and the library would
 * honestly try to allocate it; libFuzzer would report that as an out-of-memory
 * "crash" (its -malloc_limit_mb) although nn handles a failed allocation. So the
 * targets install this allocator: a single block above FUZZ_MAX_BLOCK, or live
 * memory above FUZZ_MAX_LIVE, fails as malloc would, which also sends the inputs
 * down nn's NN_ERR_NOMEM paths (unwinding without leaks is part of what is tested).
 */
#ifndef NN_FUZZ_ALLOC_H
#define NN_FUZZ_ALLOC_H

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include "nn/alloc.h"
#include "nn/status.h"

/* A property of the target that must hold: otherwise the input is a finding (abort,
 * which libFuzzer reports and keeps), with the file and line and nn's last error. */
#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: check failed: %s (last error: %s)\n", __FILE__, __LINE__,     \
                    #cond, nn_last_error());                                                       \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define FUZZ_MAX_BLOCK ((size_t)64 << 20)
#define FUZZ_MAX_LIVE  ((size_t)256 << 20)

/* Each block carries its size in front, so that free can take it off the budget;
 * the header keeps the returned pointer aligned for any type. */
typedef union fuzz_header {
    size_t size;
    max_align_t align;
} fuzz_header;

static size_t fuzz_live;

static void *fuzz_alloc(size_t size, void *ctx)
{
    (void)ctx;
    if (size > FUZZ_MAX_BLOCK || fuzz_live + size > FUZZ_MAX_LIVE)
        return NULL;
    fuzz_header *h = malloc(sizeof *h + size);
    if (h == NULL)
        return NULL;
    h->size = size;
    fuzz_live += size;
    return h + 1;
}

static void fuzz_free(void *ptr, void *ctx)
{
    (void)ctx;
    fuzz_header *h = (fuzz_header *)ptr - 1;
    fuzz_live -= h->size;
    free(h);
}

/* Installs the budgeted allocator once per process. */
static void fuzz_install_allocator(void)
{
    static int done;
    if (!done) {
        nn_allocator a = {fuzz_alloc, fuzz_free, NULL};
        nn_set_allocator(&a);
        done = 1;
    }
}

#endif /* NN_FUZZ_ALLOC_H */
