/* internal.h - helpers shared by the library's sources; not installed. */
#ifndef NN_INTERNAL_H
#define NN_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "nn/loss.h"
#include "nn/status.h"

/* Internal to libnn: hidden, so not part of the shared library's ABI, and called
 * directly rather than through the PLT. */
#if defined(__GNUC__)
#pragma GCC visibility push(hidden)
#endif

/* Records a formatted message as the thread's last error and returns status,
 * so error paths read: return nn_error(NN_ERR_SHAPE, "...", ...). */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
nn_status nn_error(nn_status status, const char *fmt, ...);

/* Puts fmt's text and ": " in front of the last error's message, which is the cause
 * (the message is truncated at 511 characters); returns status. For a caller that
 * says where a failure happened: "nn_net_fit: epoch 2, batch 3: <cause>". */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
nn_status nn_error_prefix(nn_status status, const char *fmt, ...);

/* The thread's last error set aside and put back, for a call that succeeds after
 * probing with calls that may fail and record a message (the model writer asking an
 * optimizer which state it keeps): status.h promises that the message stays until
 * the next error. */
typedef struct nn_error_kept {
    char message[512];
    unsigned long seq;
} nn_error_kept;
void nn_error_keep(nn_error_kept *k);
void nn_error_put_back(const nn_error_kept *k);

/* NN_ERR_NULL_ARG "fn: what (rows, cols) has elements but no data" when t (not NULL) is
 * a view of nothing (nn_tensor_view2d(NULL, ...) with elements), which the first loop
 * over it would crash on; else NN_OK. (tensor.c) */
struct nn_tensor;
nn_status nn_check_data(const char *fn, const char *what, const struct nn_tensor *t);

/* The lookup of a kind by name, for an enum numbered densely from 0 whose name_of(k)
 * is NULL past the last kind: returns the k named name, or -1 after writing the
 * known names, comma-separated (truncated to size), into known for the message. */
int nn_kind_by_name(const char *name, const char *(*name_of)(int), char *known, size_t size);

/* Operations a user may have written (layer, loss and optimizer ops) can fail
 * without a message. Around such a call:
 *     unsigned long seq = nn_error_seq();
 *     st = nn_error_if_silent(l->ops->forward(...), seq, "fmt", ...);
 * records fmt only when the call failed and recorded no error of its own. */
unsigned long nn_error_seq(void);
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
nn_status nn_error_if_silent(nn_status status, unsigned long seq, const char *fmt, ...);

/* Allocation through the installed nn_allocator. nn_xalloc returns NULL on
 * failure (and for size 0 never calls the allocator); nn_xcalloc zero-fills and
 * checks n * size for overflow; nn_xfree accepts NULL. */
void *nn_xalloc(size_t size);
void *nn_xcalloc(size_t n, size_t size);
void nn_xfree(void *ptr);

/* Internal invariants: a broken one is a bug in nn, not a user error, so it
 * stops the program in debug builds and costs nothing in release builds. */
#ifdef NDEBUG
#define NN_ASSERT(cond) ((void)0)
#else
#define NN_ASSERT(cond)                                                                        \
    ((cond) ? (void)0                                                                          \
            : (fprintf(stderr, "nn: internal error: %s (%s:%d)\n", #cond, __FILE__, __LINE__),  \
               abort()))
#endif

/* A function built twice, for x86-64 CPUs with and without the extension (FMA,
 * which brings 8-float AVX vectors; AVX2, which adds 8-lane integer operations), and
 * picked when the library loads (GCC's target_clones; one plain build elsewhere).
 * The rest of the library is compiled for the baseline x86-64: 4-float vectors.
 * Not under ThreadSanitizer: GCC instruments the ifunc resolvers it makes, which run
 * while the dynamic loader relocates libnn, before the TSan runtime can take the
 * call, and every program linked to such a libnn crashes on start. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__ELF__) &&     \
    !defined(__SANITIZE_THREAD__)
#define NN_FMA_CLONES __attribute__((target_clones("default", "fma")))
#define NN_AVX2_CLONES __attribute__((target_clones("default", "avx2")))
#else
#define NN_FMA_CLONES
#define NN_AVX2_CLONES
#endif

/* Returns NN_ERR_NULL_ARG with the function and argument names when p is NULL. */
#define NN_CHECK_NULL(p) NN_CHECK_NULL_IN(__func__, p)

/* The same in a helper: fn names the public function that was called. */
#define NN_CHECK_NULL_IN(fn, p)                                                                \
    do {                                                                                       \
        if ((p) == NULL)                                                                       \
            return nn_error(NN_ERR_NULL_ARG, "%s: argument '%s' is NULL", (fn), #p);          \
    } while (0)

/* NN_ERR_INVALID_ARG, naming fn, when init's kind is unknown or its parameters are
 * not finite (init.c). nn_init_check_fill adds the rest of what nn_init_fill checks
 * before it draws, for a layer of these fans: a uniform's low >= high, a negative std
 * or gain, values beyond float's range (a zero fan is refused only by the draw). */
struct nn_init;
nn_status nn_init_check(const char *fn, const struct nn_init *init);
nn_status nn_init_check_fill(const char *fn, const struct nn_init *init, size_t fan_in,
                             size_t fan_out);

/* nn_init_check_fill of a dense layer's two initialisers at its widths, before they
 * are drawn (nn_net_init_params) or written where a reader will draw them (the spec
 * writer); NN_OK for any other layer (dense.c). */
struct nn_layer;
nn_status nn_dense_check_inits(const char *fn, const struct nn_layer *l);

/* What the model loader takes of an optimizer class's state buffer names (model.c):
 * each 1 to NN_READER_MAX_STATE_NAME bytes, at most NN_READER_MAX_STATE_NAMES of them;
 * nn_registry_add_optim refuses a class with others (its files would not load). */
#define NN_READER_MAX_STATE_NAME 255u
#define NN_READER_MAX_STATE_NAMES 64u

/* The most layers the model loader and the spec reader take (a hostile file must not
 * make them quadratic); the writers refuse larger networks. */
#define NN_READER_MAX_LAYERS 10000u

/* NN_OK when the network has no loss or its loss accepts the current output and
 * target widths (layers added after nn_net_set_loss may have changed them); else the
 * loss's error, naming fn; a success is cached in the network. (net.c) */
struct nn_net;
nn_status nn_net_check_loss_fits(const char *fn, struct nn_net *net);
/* 1 when net has an optimizer whose state was set up for the network's parameter list
 * as it is now; 0 when it has none, or when layers were added since (its next step
 * starts the state again from zero). (net.c) */
int nn_net_optim_ready(const struct nn_net *net);
/* The same check, caching nothing, for the model and spec writers (a file or spec
 * with a loss that does not fit would not read back): they only read the network,
 * so two threads may save one network at once. */
nn_status nn_net_loss_fits(const char *fn, const struct nn_net *net);

/* NN_ERR_NULL_ARG when t has elements but no data, NN_ERR_INVALID_ARG when its data
 * lies in the network's workspace (a view of a layer's output): what the network's
 * passes refuse in their arguments, for a caller outside net.c. what names t. */
struct nn_tensor;
nn_status nn_net_check_outside(const char *fn, const struct nn_net *net,
                               const struct nn_tensor *t, const char *what);

/* One inference pass of net over a whole set (arguments checked by the caller), in
 * chunks of up to chunk rows that are views of x and target. What is not NULL is
 * filled: *loss, the network's loss over all rows (NaN when it has none); *correct,
 * the rows classified right; confusion, classes x classes counts (zeroed first). An
 * error of the metrics or the loss says in which chunk, after fn when it is not NULL.
 * (evaluate.c) */
nn_status nn_net_eval_pass(const char *fn, struct nn_net *net, const struct nn_tensor *x,
                           const struct nn_tensor *target, size_t chunk, double *loss,
                           size_t *correct, size_t *confusion, size_t classes);

/* 1 when loss is one of nn's own kinds, with the kind in *kind; sets no error. */
int nn_loss_is_builtin(const nn_loss *loss, nn_loss_kind *kind);

/* A network's parameter and gradient blocks are allocated to a multiple of
 * NN_BLOCK_ALIGN floats (nn_block_size), the tail after the n_scalars in use zero:
 * the finiteness check of a whole gradient block then runs in whole vectors, without
 * a remainder loop. Nothing writes the tail, so it stays zero: its gradients are
 * finite, and SGD updates only the parameters in use (with an lr beyond float's range,
 * 0 - lr x 0 would be NaN there). */
#define NN_BLOCK_ALIGN 8

/* The smallest double that no longer rounds to a finite float: FLT_MAX plus half an
 * ulp (a tie rounds to even, which is infinity). A double d is a finite float when
 * fabs(d) < NN_FLOAT_LIMIT. (The loaders and the initialisers check against it.) */
#define NN_FLOAT_LIMIT 0x1.ffffffp127

static inline size_t nn_block_size(size_t n_scalars)
{
    return (n_scalars + NN_BLOCK_ALIGN - 1) / NN_BLOCK_ALIGN * NN_BLOCK_ALIGN;
}

/* One step of plain SGD over a network's whole parameter block (n: the parameters in
 * use, not the padded size: the tail stays zero): when o is nn's SGD without momentum
 * and weight decay, updates
 * params[k] -= lr grads[k] for k < n exactly as nn_optim_step would (same bits, same
 * step counts) and returns 1; otherwise does nothing and returns 0. One loop instead
 * of one per tensor. */
struct nn_optim;
int nn_optim_sgd_block(struct nn_optim *o, float *params, const float *grads, size_t n);

/* For a caller that runs many steps: 1 when o is nn's SGD without momentum and weight
 * decay, that is when nn_optim_sgd_block would update; nn_optim_sgd_plain_block is
 * then that update, without the test. */
int nn_optim_is_plain_sgd(const struct nn_optim *o);
void nn_optim_sgd_plain_block(struct nn_optim *o, float *params, const float *grads, size_t n);

/* Marks the network's last forward pass as one whose input may be freed once the
 * call that ran it returns (the caller's data in the passes over a whole set, fit's
 * own batch buffer): nn_net_backward then refuses (NN_ERR_STATE) instead of reading
 * that input; the layer outputs stay readable. */
struct nn_net;
void nn_net_forget_input(struct nn_net *net);

/* nn_count_correct and nn_confusion_add with a single output's decision point cut
 * (metrics.c): 0.5 for a probability, as the public ones; 0 for a logit.
 * nn_net_decision_cut (net.c) is the one for a network's loss: 0 with
 * bce_with_logits, whose outputs are logits, else 0.5. */
struct nn_net;
nn_status nn_count_correct_cut(const nn_tensor *pred, const nn_tensor *target, float cut,
                               size_t *correct);
nn_status nn_confusion_add_cut(const nn_tensor *pred, const nn_tensor *target, size_t classes,
                               float cut, size_t *counts);
float nn_net_decision_cut(const struct nn_net *net);

/* Writes size bytes of data to path so that path is either the old file or the new
 * one (file.c): a temporary file in the same folder, flushed and renamed over it. A
 * symbolic link's file is replaced, not the link; anything at path that is not a
 * regular file is refused. A replaced file keeps its permissions; a new one gets
 * 0666 less the umask. fn names the caller in messages.
 * Errors: NN_ERR_IO (the message says which step failed and why), NN_ERR_NOMEM. */
nn_status nn_write_file_atomic(const char *fn, const char *path, const void *data, size_t size);

/* Bit 31 set when v is NaN or Inf: an all-ones exponent carries into it, any other
 * exponent does not. ORed over many values, bit 31 says whether one was not finite
 * (net.c tests a gradient block so; net_small.c as the gradients are written). */
#define NN_NONFINITE_BIT 0x80000000u
static inline uint32_t nn_nonfinite_bits(float v)
{
    uint32_t u;
    memcpy(&u, &v, sizeof u);
    return (u & 0x7f800000u) + 0x00800000u;
}

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#endif /* NN_INTERNAL_H */
