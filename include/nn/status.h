/* nn/status.h - status codes and error messages.
 *
 * Every public function of nn that can fail returns an nn_status: NN_OK (0) on
 * success, a negative value on error. The values are append-only: a value once
 * published never changes meaning. On error the library also records a
 * human-readable message naming the offending sizes, names or files; read it with
 * nn_last_error(). The message is thread-local and stays until the next error on
 * the same thread.
 */
#ifndef NN_STATUS_H
#define NN_STATUS_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum nn_status {
    NN_OK = 0,
    NN_ERR_NULL_ARG = -1,    /* a required pointer argument was NULL */
    NN_ERR_INVALID_ARG = -2, /* a value out of range: zero size, negative rate, unknown name */
    NN_ERR_SHAPE = -3,       /* tensor shapes or widths do not fit together */
    NN_ERR_NOMEM = -4,       /* an allocation failed; the objects involved are unchanged */
    NN_ERR_NUMERIC = -5,     /* a NaN or Inf appeared where a finite value is needed */
    NN_ERR_STATE = -6,       /* the object is not ready for this call (no layers, no loss...) */
    NN_ERR_IO = -7,          /* reading or writing a file failed */
    NN_ERR_FORMAT = -8       /* input data is malformed */
} nn_status;

/* A short, static description of a status code ("shape mismatch"). Never NULL;
 * unknown codes give "unknown status". */
const char *nn_strerror(nn_status status);

/* The message of the last error recorded on the calling thread, e.g.
 * "nn_net_add: layer 'dense' cannot take input width 0". Empty string when no
 * error has been recorded. Borrowed: valid until the next nn call on this thread. */
const char *nn_last_error(void);

/* Forget the last error message on the calling thread. */
void nn_clear_error(void);

/* Records a printf-style message as the calling thread's last error and returns
 * status: for code outside nn (a user-defined layer, loss or optimizer) whose
 * errors should read like nn's own, as in
 *     return nn_set_error(NN_ERR_SHAPE, "affine: needs width 2, got %zu", w);
 * When such an operation fails without setting a message, nn writes a generic
 * one naming the operation. */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
nn_status nn_set_error(nn_status status, const char *fmt, ...);

#ifdef __cplusplus
}
#endif

#endif /* NN_STATUS_H */
