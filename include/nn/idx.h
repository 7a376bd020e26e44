/* nn/idx.h - loading IDX files, the format of MNIST and Fashion-MNIST.
 *
 * An IDX file is a 4-byte magic number 0x00 0x00 <type> <ndim>, then ndim
 * dimension sizes as big-endian unsigned 32-bit integers, then the product of
 * the dimensions' worth of values of the type, big-endian, row-major:
 *
 *   type 0x08 unsigned byte   0x09 signed byte   0x0B int16   0x0C int32
 *        0x0D float32         0x0E float64
 *
 * (http://yann.lecun.com/exdb/mnist/). Files may be gzip-compressed, as the data
 * sets are distributed (train-images-idx3-ubyte.gz): they are read through zlib's
 * gzread, which reads plain files as they are, so one call reads both.
 *
 * Checked, each an NN_ERR_FORMAT naming the file and the byte offset in the
 * (uncompressed) data: the two zero bytes of the magic, a known type, 1 <= ndim
 * <= 16, every dimension > 0, a total size that fits in memory, the data being
 * exactly as long as the header says (a truncated file and trailing bytes are both
 * errors), a corrupt gzip stream, and for float types NaN, Inf and values beyond
 * the float range. Example message:
 *   "nn_idx_load: t10k-images-idx3-ubyte.gz: byte 16: truncated: the header
 *    promises 7840000 data bytes, the file has 1000"
 */
#ifndef NN_IDX_H
#define NN_IDX_H

#include <stddef.h>
#include "nn/dataset.h"
#include "nn/status.h"
#include "nn/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

#define NN_IDX_MAX_DIMS 16

/* The value types of the IDX format; the values are the type byte of the magic. */
typedef enum nn_idx_type {
    NN_IDX_U8 = 0x08,
    NN_IDX_I8 = 0x09,
    NN_IDX_I16 = 0x0B,
    NN_IDX_I32 = 0x0C,
    NN_IDX_F32 = 0x0D,
    NN_IDX_F64 = 0x0E
} nn_idx_type;

/* What an IDX header says. */
typedef struct nn_idx_info {
    nn_idx_type type;
    int ndim;                     /* 1..NN_IDX_MAX_DIMS */
    size_t dims[NN_IDX_MAX_DIMS]; /* dims[0] is the number of samples */
} nn_idx_info;

/* Loads an IDX file (plain or gzip) as samples in rows: a new 2-D tensor
 * (dims[0], dims[1] * ... * dims[ndim-1]), so 28x28 images become rows of 784
 * and a 1-D label file becomes (N, 1), index targets for cross_entropy. Each
 * value is converted to float and multiplied by scale (1.0f: as stored;
 * 1.0f / 255: bytes to [0, 1]). info (may be NULL) receives the header.
 * *out is the caller's (nn_tensor_free).
 * Errors: NN_ERR_NULL_ARG, NN_ERR_INVALID_ARG (scale not finite, or a value times
 * scale beyond float's range), NN_ERR_IO
 * (cannot open or read the file), NN_ERR_FORMAT (see above), NN_ERR_NOMEM (a
 * header asking for more memory than there is). On error *out and *info are
 * untouched and nothing is left allocated. */
nn_status nn_idx_load(const char *path, float scale, nn_tensor **out, nn_idx_info *info);

/* Loads an image file and its label file (MNIST style) into a new data set:
 * x: (N, pixels) scaled by scale, y: (N, 1) the labels as index targets.
 * The label file must be 1-D unsigned bytes with the same N as the images, every
 * label below classes (classes 0: no check).
 * Errors: those of nn_idx_load, NN_ERR_FORMAT (labels not 1-D u8, counts differ,
 * a label >= classes, naming the labels file and the label's byte offset).
 * On error *out is untouched. */
nn_status nn_idx_load_dataset(const char *images_path, const char *labels_path, float scale,
                              size_t classes, nn_dataset **out);

#ifdef __cplusplus
}
#endif

#endif /* NN_IDX_H */
