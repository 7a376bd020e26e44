/* nn_fixture.h - reads the reference fixtures written by tests/reference/fixture.py.
 *
 * A fixture file holds named float32 tensors (see fixture.py for the format).
 * Tests load a file once and look tensors up by name; a missing file or name
 * fails the test with a message naming it. NN_FIXTURE_DIR is set by CMake.
 */
#ifndef NN_FIXTURE_H
#define NN_FIXTURE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <nn/nn.h>

typedef struct nn_fixture_entry {
    char name[128];
    nn_tensor *t;
} nn_fixture_entry;

typedef struct nn_fixture {
    nn_fixture_entry *entries;
    size_t count;
} nn_fixture;

/* Loads NN_FIXTURE_DIR/file; fails the current test on any error. */
static inline nn_fixture *nn_fixture_load(const char *file)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", NN_FIXTURE_DIR, file);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        fail_msg("cannot open fixture %s", path);
    nn_fixture *fx = calloc(1, sizeof *fx);
    size_t cap = 0;
    char line[4096];
    while (fgets(line, sizeof line, f) != NULL) {
        char name[128];
        size_t rows, cols;
        if (line[0] == '#' || line[0] == '\n')
            continue;
        if (sscanf(line, "tensor %127s %zu %zu", name, &rows, &cols) != 3)
            fail_msg("%s: expected a 'tensor NAME ROWS COLS' line, got: %s", path, line);
        if (fx->count == cap) {
            cap = cap ? 2 * cap : 16;
            fx->entries = realloc(fx->entries, cap * sizeof *fx->entries);
        }
        nn_fixture_entry *e = &fx->entries[fx->count++];
        snprintf(e->name, sizeof e->name, "%s", name);
        if (nn_tensor_new2d(rows, cols, &e->t) != NN_OK)
            fail_msg("%s: cannot allocate tensor %s (%zu, %zu)", path, name, rows, cols);
        for (size_t i = 0; i < rows * cols; i++)
            if (fscanf(f, "%f", &e->t->data[i]) != 1)
                fail_msg("%s: tensor %s ends after %zu of %zu values", path, name, i, rows * cols);
    }
    fclose(f);
    return fx;
}

/* The tensor called name (borrowed from fx); fails the test if absent. */
static inline nn_tensor *nn_fixture_get(const nn_fixture *fx, const char *name)
{
    for (size_t i = 0; i < fx->count; i++)
        if (strcmp(fx->entries[i].name, name) == 0)
            return fx->entries[i].t;
    fail_msg("fixture has no tensor '%s'", name);
    return NULL;
}

/* 1 if fx has a tensor called name. */
static inline int nn_fixture_has(const nn_fixture *fx, const char *name)
{
    for (size_t i = 0; i < fx->count; i++)
        if (strcmp(fx->entries[i].name, name) == 0)
            return 1;
    return 0;
}

static inline void nn_fixture_free(nn_fixture *fx)
{
    if (fx == NULL)
        return;
    for (size_t i = 0; i < fx->count; i++)
        nn_tensor_free(fx->entries[i].t);
    free(fx->entries);
    free(fx);
}

/* Fails unless every element of actual is within rel * |expected| + abs of expected,
 * naming the first element that is not. */
static inline void nn_assert_tensor_close(const nn_tensor *actual, const nn_tensor *expected,
                                          double rel, double abs_tol, const char *what)
{
    if (actual->size != expected->size)
        fail_msg("%s: %zu elements, expected %zu", what, actual->size, expected->size);
    for (size_t i = 0; i < actual->size; i++) {
        double a = actual->data[i], e = expected->data[i];
        double d = a > e ? a - e : e - a;
        double tol = rel * (e < 0 ? -e : e) + abs_tol;
        if (!(d <= tol))
            fail_msg("%s: element %zu is %.9g, expected %.9g (|diff| %.3g > %.3g)", what, i, a, e,
                     d, tol);
    }
}

#endif /* NN_FIXTURE_H */
