/* alloc.c - the replaceable allocator behind every allocation nn makes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "nn/alloc.h"

static void *default_alloc(size_t size, void *ctx)
{
    (void)ctx;
    return malloc(size);
}

static void default_free(void *ptr, void *ctx)
{
    (void)ctx;
    free(ptr);
}

static nn_allocator allocator = {default_alloc, default_free, NULL};

void nn_set_allocator(const nn_allocator *a)
{
    if (a == NULL || a->alloc == NULL || a->free == NULL) {
        allocator.alloc = default_alloc;
        allocator.free = default_free;
        allocator.ctx = NULL;
        return;
    }
    allocator = *a;
}

void *nn_xalloc(size_t size)
{
    if (size == 0)
        return NULL;
    return allocator.alloc(size, allocator.ctx);
}

void *nn_xcalloc(size_t n, size_t size)
{
    if (n == 0 || size == 0 || n > SIZE_MAX / size)
        return NULL;
    void *p = nn_xalloc(n * size);
    if (p != NULL)
        memset(p, 0, n * size);
    return p;
}

void nn_xfree(void *ptr)
{
    if (ptr != NULL)
        allocator.free(ptr, allocator.ctx);
}
