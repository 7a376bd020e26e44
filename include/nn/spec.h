/* nn/spec.h - networks described in a small text format, and written back out.
 *
 * A spec describes a network, and optionally its loss, optimizer and how to train
 * it, one statement a line (docs/spec-format.md has the grammar and every
 * statement). The lesson's network (examples/gender/gender.nn):
 *
 *     # the 2-2-1 network of the lesson
 *     input 2                  # two features: weight and height
 *     dense 2 init=normal      # N(0, 1) weights and biases, as the lesson
 *     sigmoid
 *     dense 1 init=normal
 *     sigmoid
 *     loss mse
 *     optimizer sgd lr=0.1
 *     epochs 1000
 *     batch 1
 *     shuffle false
 *     seed 42
 *
 * A line is a keyword (a layer kind, or input, loss, optimizer, epochs, batch,
 * shuffle, seed, schedule, clip_grad_norm, patience, restore_best), at most one
 * bare value, then key = value settings (spaces around '=' optional). '#' starts a
 * comment. Layer kinds and their settings are those of the registry
 * (nn/registry.h), user classes included, so a kind written outside nn is
 * described like any other.
 *
 * Errors in a spec are NN_ERR_FORMAT, with the message
 *     "<file>:<line>:<column>: what was expected / what is wrong"
 * in nn_last_error() (the source is "<string>" for text not read from a file),
 * and the same pieces in an nn_spec_error when the caller passes one.
 */
#ifndef NN_SPEC_H
#define NN_SPEC_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "nn/net.h"
#include "nn/registry.h"
#include "nn/schedule.h"

#ifdef __cplusplus
extern "C" {
#endif

/* How to train, as a spec gives it; what it does not give has the defaults below. */
typedef struct nn_train_settings {
    size_t epochs;         /* "epochs N", >= 1; default 1 */
    size_t batch_size;     /* "batch N" (or "batch_size N"), >= 1; default 32 */
    int shuffle;           /* "shuffle true|false"; default false (data set order) */
    uint64_t seed;         /* "seed N": parameters are drawn from nn_rng_seed(seed, 0),
                              shuffling from nn_rng_seed(seed, 1); default 0 */
    int has_schedule;      /* 1 when a "schedule" line was given */
    nn_schedule schedule;  /* "schedule cosine T_max=100 ..."; constant by default */
    int schedule_per_step; /* "schedule ... per_step=true"; default false (per epoch) */
    double clip_grad_norm; /* "clip_grad_norm X", >= 0; default 0 (off) */
    size_t patience;       /* "patience N"; default 0 (no early stopping) */
    int restore_best;      /* "restore_best true|false"; default false */
} nn_train_settings;

/* The defaults above. */
nn_train_settings nn_train_default_settings(void);

/* nn_fit_params for these settings (epochs, batch size, shuffling, schedule,
 * clipping, early stopping; progress NN_PROGRESS_AUTO as nn_fit_default_params).
 * The result borrows t (for the schedule) and rng (for shuffling; may be NULL when
 * t->shuffle is 0), which must outlive the fit. Seed rng with
 * nn_rng_seed(rng, t->seed, 1) for the spec's own shuffling order. */
nn_fit_params nn_train_fit_params(const nn_train_settings *t, nn_rng *rng);

/* Where and what, for a spec that could not be read. */
typedef struct nn_spec_error {
    char source[256];  /* the file name, or "<string>" */
    size_t line;       /* 1-based; 0 when the error is not tied to a line */
    size_t column;     /* 1-based byte column */
    char message[512]; /* what was expected or is wrong, without the place */
} nn_spec_error;

typedef struct nn_spec nn_spec; /* a spec read and checked; opaque */

/* Reads a spec from NUL-terminated text. source names it in messages (NULL:
 * "<string>"). registry: the layer, loss and optimizer classes (NULL: built-ins); it
 * is borrowed and must outlive the spec. The whole spec is checked here, by
 * building the network it describes once, so that nn_spec_build can fail only for
 * lack of memory. *out is the caller's (nn_spec_free). err may be NULL.
 * Errors: NN_ERR_NULL_ARG, NN_ERR_FORMAT (with line and column), NN_ERR_NOMEM.
 * On error *out is NULL. */
nn_status nn_spec_parse(const char *text, const char *source, const nn_registry *registry,
                        nn_spec **out, nn_spec_error *err);

/* nn_spec_parse on a file's contents; messages name the file.
 * Errors: also NN_ERR_IO (the file cannot be read; errno's text in the message). */
nn_status nn_spec_parse_file(const char *path, const nn_registry *registry, nn_spec **out,
                             nn_spec_error *err);

/* Releases a spec. NULL is a no-op. */
void nn_spec_free(nn_spec *spec);

/* The training settings of the spec. */
nn_train_settings nn_spec_training(const nn_spec *spec);

/* A new network as the spec describes it, the caller's: layers in order, parameters
 * drawn from rng by nn_net_init_params (rng NULL: a generator seeded with
 * nn_rng_seed(seed, 0), seed from the spec), and the loss and optimizer when the
 * spec has them. Errors: NN_ERR_NULL_ARG, NN_ERR_NOMEM. */
nn_status nn_spec_build(const nn_spec *spec, nn_rng *rng, nn_net **out);

/* Parse and build in one call: *net is the caller's; train (may be NULL) gets the
 * training settings. Errors: those of nn_spec_parse(_file); on error *net is NULL. */
nn_status nn_spec_build_string(const char *text, const nn_registry *registry, nn_net **net,
                               nn_train_settings *train, nn_spec_error *err);
nn_status nn_spec_build_file(const char *path, const nn_registry *registry, nn_net **net,
                             nn_train_settings *train, nn_spec_error *err);

/* Writes a spec of net to f: its input width, each layer with the settings that
 * differ from the kind's defaults, the loss (with target_width when it is not the
 * one the spec reader would choose) and the optimizer when the network has them,
 * and, when train is not NULL, the training statements. Reading the result back
 * gives a network of the same architecture, loss and optimizer settings (the
 * parameters are not part of a spec: save a model file for those).
 * Nothing the reader would refuse is written.
 * Errors: NN_ERR_NULL_ARG, NN_ERR_INVALID_ARG (a kind without a class in the
 * registry; a setting that is an infinite or NaN float, which a spec cannot state;
 * more than 10000 layers; a dense layer's initialiser that nn_init_fill
 * refuses at the layer's widths; training settings the reader would refuse:
 * epochs or batch 0, a clip norm that is not finite and >= 0, a schedule
 * nn_schedule_check refuses), NN_ERR_STATE (no layers), the loss's error when it no
 * longer fits the output width (layers added after nn_net_set_loss), NN_ERR_NOMEM,
 * NN_ERR_IO (writing to f failed). */
nn_status nn_spec_write(nn_net *net, const nn_train_settings *train, const nn_registry *registry,
                        FILE *f);

/* The same text in a new string, the caller's (nn_spec_string_free). */
nn_status nn_spec_to_string(nn_net *net, const nn_train_settings *train,
                            const nn_registry *registry, char **out);

/* Releases a string from nn_spec_to_string. NULL is a no-op. */
void nn_spec_string_free(char *s);

#ifdef __cplusplus
}
#endif

#endif /* NN_SPEC_H */
