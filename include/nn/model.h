/* nn/model.h - networks as files: save and load, exactly, safely.
 *
 * A model is a network plus what travels with it in a file: the input
 * standardisation fitted on the training data (so a loaded model predicts from raw
 * inputs) and user metadata (string keys and values). A model file holds
 *
 *   - the architecture: the input width and each layer as its kind's name and
 *     settings (nn/registry.h), so new kinds and settings need no format change;
 *   - every parameter tensor with its shape, as float32 bits (exact);
 *   - the loss (name, settings, target width) when the network has one;
 *   - the optimizer with its hyper-parameters and its whole state (buffers, step
 *     counters), unless left out with NN_SAVE_NO_OPTIM, so training resumes
 *     bit for bit where it stopped;
 *   - the standardisation and the metadata when the model has them;
 *   - a CRC-32 (zlib's) over everything.
 * docs/file-format.md describes it byte by byte: little-endian whatever the host,
 * a magic number and a format version, sections with lengths so that a reader
 * skips the optional ones it does not know.
 *
 * Saving is atomic: the bytes go to a temporary file in the target's folder, which
 * is flushed to disk (fsync) and renamed over the target; on any failure the
 * temporary file is removed and an existing file at the target is left as it was.
 *
 * Loading checks everything before using it (magic, version, every length against
 * the bytes that are there, shapes against the architecture, finite values, the
 * checksum) and either returns a complete model or nothing: a bad file gives
 * NN_ERR_FORMAT and a message saying what is wrong and at which byte offset; no
 * allocation is ever larger than the file's own size could justify.
 *
 * Layers, losses and optimizers are made and described through a registry
 * (nn/registry.h); NULL means the built-in kinds. A network using kinds written
 * outside nn needs a registry holding their classes both to save and to load.
 */
#ifndef NN_MODEL_H
#define NN_MODEL_H

#include <stddef.h>
#include <stdint.h>
#include "nn/net.h"
#include "nn/registry.h"
#include "nn/scaler.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The format version this library writes, and the newest it reads. */
#define NN_MODEL_FORMAT_VERSION 1

typedef struct nn_model nn_model; /* opaque */

/* A new model around net, which it takes: on success the model owns the network
 * (nn_model_free frees it); on failure the network stays the caller's.
 * Errors: NN_ERR_NULL_ARG, NN_ERR_NOMEM. */
nn_status nn_model_new(nn_net *net, nn_model **out);

/* Frees the model, its network and everything else it holds. NULL is a no-op. */
void nn_model_free(nn_model *m);

/* The network, borrowed: valid until nn_model_free. NULL for NULL. */
nn_net *nn_model_net(nn_model *m);

/* Hands the network to the caller (who then frees it) and frees the rest of the
 * model. NULL for NULL. */
nn_net *nn_model_into_net(nn_model *m);

/* ---- input standardisation ---------------------------------------------------------
 * x' = (x - mean) / std per feature, for inputs of the network's input width,
 * as nn/scaler.h's scaler computes it (the arrays are what nn_scaler_mean and
 * nn_scaler_std give; nn_scaler_new rebuilds a scaler from them). */

/* Sets (copies) mean and std, in_width floats each; both NULL removes it.
 * Errors: NN_ERR_NULL_ARG (m, or only one of mean and std), NN_ERR_INVALID_ARG (a
 * value not finite or a std <= 0, named by its feature), NN_ERR_NOMEM. */
nn_status nn_model_set_standardisation(nn_model *m, const float *mean, const float *std);

/* The stored mean and std (in_width floats each, borrowed until the next set or
 * free), or NULL when the model has none. */
const float *nn_model_mean(const nn_model *m);
const float *nn_model_std(const nn_model *m);

/* The same from a fitted scaler (its mean and std are copied); NULL removes it.
 * Errors: NN_ERR_NULL_ARG, NN_ERR_SHAPE (the scaler's width is not in_width),
 * NN_ERR_NOMEM. */
nn_status nn_model_set_scaler(nn_model *m, const nn_scaler *scaler);

/* A new scaler holding the model's standardisation, the caller's (nn_scaler_free);
 * *out is NULL when the model has none. nn_scaler_apply with it computes exactly what
 * nn_model_standardise does. Errors: NN_ERR_NULL_ARG, NN_ERR_NOMEM. */
nn_status nn_model_get_scaler(const nn_model *m, nn_scaler **out);

/* Applies the standardisation to x: (B, in_width) in place, each element computed
 * as (x - mean) / std in double and rounded once to float, exactly as
 * nn_scaler_apply does; without one, x is left as it is. Allocates nothing.
 * Errors: NN_ERR_NULL_ARG, NN_ERR_SHAPE (x not (B, in_width)). */
nn_status nn_model_standardise(const nn_model *m, nn_tensor *x);

/* ---- metadata: string keys and values ------------------------------------------------ */

/* Sets key to value (both copied; a key is set once, later sets replace the value);
 * value NULL removes the key. Keys are non-empty; a model holds at most 4096 entries,
 * the most nn_model_load reads back.
 * Errors: NN_ERR_NULL_ARG (m or key), NN_ERR_INVALID_ARG (empty key, a new key past
 * 4096 entries), NN_ERR_NOMEM. */
nn_status nn_model_set_meta(nn_model *m, const char *key, const char *value);

/* The value of key, borrowed until the key changes, or NULL when it is not set. */
const char *nn_model_meta(const nn_model *m, const char *key);

/* The number of entries, and entry i (in the order first set, or as in the file),
 * borrowed. Errors: NN_ERR_NULL_ARG, NN_ERR_INVALID_ARG (i out of range). */
size_t nn_model_meta_count(const nn_model *m);
nn_status nn_model_meta_at(const nn_model *m, size_t i, const char **key, const char **value);

/* The format version of the file the model was loaded from, 0 when it was not. */
uint32_t nn_model_format_version(const nn_model *m);

/* ---- saving ------------------------------------------------------------------------------ */

/* Flags for saving (or them together; 0 keeps everything the model has). */
#define NN_SAVE_NO_OPTIM 0x1u /* leave the optimizer and its state out (a smaller file to ship) */
#define NN_SAVE_NO_LOSS  0x2u /* leave the loss out */

/* Writes the model to path atomically (see above); an existing file is replaced
 * only when everything has been written and flushed. A new file gets mode 0666 less
 * the umask, a replaced one keeps its mode. registry: the classes of the network's kinds (NULL: built-ins).
 * Errors: NN_ERR_NULL_ARG, NN_ERR_INVALID_ARG (a layer, loss or optimizer without a
 * class in the registry; unknown flags; more than 10000 layers), NN_ERR_NUMERIC (a
 * parameter or optimizer state value is NaN or Inf), the loss's error when it no
 * longer fits the output width (layers added after nn_net_set_loss; NN_SAVE_NO_LOSS
 * leaves it out): in each the loader would refuse the file, so nothing is written;
 * NN_ERR_NOMEM, NN_ERR_IO (the message says which step failed, creating,
 * writing, syncing or renaming, and why, from errno). */
nn_status nn_model_save(nn_model *m, const char *path, const nn_registry *registry, unsigned flags);

/* The same bytes into a new buffer: *data (*size bytes) is the caller's, released
 * with nn_model_buffer_free. Errors: as nn_model_save without NN_ERR_IO. On error
 * *data is NULL and *size 0. */
nn_status nn_model_save_buffer(nn_model *m, const nn_registry *registry, unsigned flags,
                               void **data, size_t *size);

/* Releases a buffer from nn_model_save_buffer. NULL is a no-op. */
void nn_model_buffer_free(void *data);

/* A network alone (no standardisation or metadata): nn_model_save for it, without
 * taking it. Errors: as nn_model_save. */
nn_status nn_model_save_net(nn_net *net, const char *path, const nn_registry *registry,
                            unsigned flags);

/* ---- loading ------------------------------------------------------------------------------ */

/* Reads a model file. *out is the caller's (nn_model_free); on error it is NULL
 * and nothing is left allocated. registry: the classes to make the file's kinds
 * with (NULL: built-ins).
 * Errors: NN_ERR_NULL_ARG; NN_ERR_IO (the file cannot be opened or read; errno's
 * text in the message); NN_ERR_FORMAT (not a model file, a newer format version,
 * truncated, corrupt, inconsistent, or naming kinds the registry lacks; the message
 * names the file, what is wrong and the byte offset); NN_ERR_NOMEM. */
nn_status nn_model_load(const char *path, const nn_registry *registry, nn_model **out);

/* The same from size bytes at data (not kept; a file read into memory, or the
 * buffer of nn_model_save_buffer). Messages name the source "<memory>". */
nn_status nn_model_load_buffer(const void *data, size_t size, const nn_registry *registry,
                               nn_model **out);

/* A network alone: nn_model_load keeping only the network (the standardisation
 * and metadata of the file are dropped). Errors: as nn_model_load. */
nn_status nn_model_load_net(const char *path, const nn_registry *registry, nn_net **out);

#ifdef __cplusplus
}
#endif

#endif /* NN_MODEL_H */
