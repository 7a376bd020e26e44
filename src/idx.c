/* idx.c - IDX files (MNIST's format), plain or gzip, through zlib's gzread. */
#define _POSIX_C_SOURCE 200809L /* stat */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "internal.h"
#include "nn/idx.h"

/* The stream being read and how far into the uncompressed data it is, for messages. */
typedef struct idx_file {
    gzFile gz;
    const char *path;
    size_t offset;
} idx_file;

/* Reads up to n bytes; *got is how many arrived (fewer only at the end of the data).
 * A corrupt or cut gzip stream is a format error, a failing read an I/O error. */
static nn_status read_bytes(idx_file *f, unsigned char *buf, size_t n, size_t *got)
{
    size_t total = 0;
    while (total < n) {
        size_t want = n - total;
        if (want > (1u << 30))
            want = 1u << 30; /* gzread counts in unsigned int */
        int r = gzread(f->gz, buf + total, (unsigned)want);
        if (r < 0) {
            int errnum = 0;
            const char *msg = gzerror(f->gz, &errnum);
            if (errnum == Z_ERRNO)
                return nn_error(NN_ERR_IO, "nn_idx_load: %s: byte %zu: read error: %s", f->path,
                                f->offset + total, strerror(errno));
            return nn_error(NN_ERR_FORMAT, "nn_idx_load: %s: byte %zu: corrupt gzip data (%s)",
                            f->path, f->offset + total, msg);
        }
        if (r == 0)
            break;
        total += (size_t)r;
    }
    /* zlib reports a gzip stream that ends in the middle as Z_BUF_ERROR and hands over
     * what it could decompress; that is a damaged file, not a short one. */
    int errnum = 0;
    const char *msg = gzerror(f->gz, &errnum);
    if (total < n && errnum == Z_BUF_ERROR)
        return nn_error(NN_ERR_FORMAT,
                        "nn_idx_load: %s: byte %zu: the gzip stream is cut short (%s)", f->path,
                        f->offset + total, msg);
    f->offset += total;
    *got = total;
    return NN_OK;
}

static size_t type_size(int type)
{
    switch (type) {
    case NN_IDX_U8:
    case NN_IDX_I8:
        return 1;
    case NN_IDX_I16:
        return 2;
    case NN_IDX_I32:
    case NN_IDX_F32:
        return 4;
    case NN_IDX_F64:
        return 8;
    default:
        return 0; /* not an IDX type */
    }
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static uint64_t be64(const unsigned char *p) { return (uint64_t)be32(p) << 32 | be32(p + 4); }

/* Converts count big-endian values of the type at src to floats times scale.
 * *bad is the index of the first value that is not a finite float, or is not once
 * scaled (*by_scale 1 then), or count. */
static void convert(int type, const unsigned char *src, size_t count, float scale, float *dst,
                    size_t *bad, int *by_scale)
{
    *bad = count;
    *by_scale = 0;
    for (size_t i = 0; i < count; i++) {
        double v = 0.0;
        switch (type) {
        case NN_IDX_U8:
            v = src[i];
            break;
        case NN_IDX_I8:
            v = (int8_t)src[i];
            break;
        case NN_IDX_I16:
            v = (int16_t)(uint16_t)((unsigned)src[2 * i] << 8 | src[2 * i + 1]);
            break;
        case NN_IDX_I32:
            v = (int32_t)be32(src + 4 * i);
            break;
        case NN_IDX_F32: {
            uint32_t u = be32(src + 4 * i);
            float fv;
            memcpy(&fv, &u, sizeof fv);
            v = fv;
            break;
        }
        case NN_IDX_F64: {
            uint64_t u = be64(src + 8 * i);
            memcpy(&v, &u, sizeof v);
            break;
        }
        }
        if (!(fabs(v) < NN_FLOAT_LIMIT)) {
            *bad = i;
            return;
        }
        float x = (float)v * scale;
        if (!isfinite(x)) {
            *bad = i;
            *by_scale = 1;
            return;
        }
        dst[i] = x;
    }
}

/* Compares a plain file's size with what the header promises before anything large
 * is allocated. gzip files can only be checked while reading. */
static nn_status check_plain_size(const idx_file *f, size_t header, size_t data)
{
    struct stat sb;
    if (stat(f->path, &sb) != 0 || !S_ISREG(sb.st_mode))
        return NN_OK; /* not a regular file: the reading loop checks */
    uint64_t size = (uint64_t)sb.st_size;
    if (size < (uint64_t)header + data)
        return nn_error(NN_ERR_FORMAT,
                        "nn_idx_load: %s: byte %zu: truncated: the header promises %zu data bytes, "
                        "the file has %llu",
                        f->path, header, data, (unsigned long long)(size - header));
    if (size > (uint64_t)header + data)
        return nn_error(NN_ERR_FORMAT,
                        "nn_idx_load: %s: byte %zu: %llu trailing bytes after the %zu data bytes "
                        "the header describes",
                        f->path, header + data, (unsigned long long)(size - header - data), data);
    return NN_OK;
}

#define CHUNK ((size_t)1 << 16) /* a multiple of every type's size */

static nn_status load(idx_file *f, float scale, nn_tensor **out, nn_idx_info *info)
{
    unsigned char head[4 + 4 * NN_IDX_MAX_DIMS];
    size_t got = 0;
    nn_status st = read_bytes(f, head, 4, &got);
    if (st != NN_OK)
        return st;
    if (got < 4)
        return nn_error(NN_ERR_FORMAT,
                        "nn_idx_load: %s: byte %zu: the file ends inside the magic "
                        "number (%zu of 4 bytes)",
                        f->path, got, got);
    if (head[0] != 0 || head[1] != 0)
        return nn_error(NN_ERR_FORMAT,
                        "nn_idx_load: %s: byte 0: magic %02x %02x %02x %02x does not start with "
                        "00 00: not an IDX file",
                        f->path, head[0], head[1], head[2], head[3]);
    int type = head[2], ndim = head[3];
    size_t esize = type_size(type);
    if (esize == 0)
        return nn_error(NN_ERR_FORMAT, "nn_idx_load: %s: byte 2: unknown value type 0x%02x",
                        f->path, (unsigned)type);
    if (ndim < 1 || ndim > NN_IDX_MAX_DIMS)
        return nn_error(NN_ERR_FORMAT, "nn_idx_load: %s: byte 3: %d dimensions (1..%d allowed)",
                        f->path, ndim, NN_IDX_MAX_DIMS);
    size_t hlen = 4 + 4 * (size_t)ndim;
    if ((st = read_bytes(f, head + 4, hlen - 4, &got)) != NN_OK)
        return st;
    if (got < hlen - 4)
        return nn_error(NN_ERR_FORMAT,
                        "nn_idx_load: %s: byte %zu: the file ends inside the header "
                        "(%d dimensions need %zu bytes)",
                        f->path, 4 + got, ndim, hlen);
    nn_idx_info inf;
    memset(&inf, 0, sizeof inf);
    inf.type = (nn_idx_type)type;
    inf.ndim = ndim;
    size_t count = 1;
    for (int d = 0; d < ndim; d++) {
        uint32_t v = be32(head + 4 + 4 * d);
        if (v == 0)
            return nn_error(NN_ERR_FORMAT, "nn_idx_load: %s: byte %d: dimension %d is 0", f->path,
                            4 + 4 * d, d);
        if (count > SIZE_MAX / 8 / v)
            return nn_error(NN_ERR_FORMAT, "nn_idx_load: %s: byte %d: dimensions too large to load",
                            f->path, 4 + 4 * d);
        inf.dims[d] = v;
        count *= v;
    }
    size_t data = count * esize;
    /* gzdirect is reliable only after the first read, which has happened. */
    if (gzdirect(f->gz) && (st = check_plain_size(f, hlen, data)) != NN_OK)
        return st;

    size_t rows = inf.dims[0], cols = count / rows;
    nn_tensor *t = NULL;
    if ((st = nn_tensor_new2d(rows, cols, &t)) != NN_OK)
        return nn_error(st, "nn_idx_load: %s: cannot allocate (%zu, %zu) for the data", f->path,
                        rows, cols);
    unsigned char *buf = nn_xalloc(CHUNK);
    if (buf == NULL) {
        nn_tensor_free(t);
        return nn_error(NN_ERR_NOMEM, "nn_idx_load: %s: out of memory", f->path);
    }
    size_t done = 0; /* values converted */
    while (st == NN_OK && done < count) {
        size_t n = (count - done) * esize < CHUNK ? (count - done) * esize : CHUNK;
        size_t start = f->offset;
        if ((st = read_bytes(f, buf, n, &got)) != NN_OK)
            break;
        if (got < n) {
            st = nn_error(NN_ERR_FORMAT,
                          "nn_idx_load: %s: byte %zu: truncated: the header promises %zu data "
                          "bytes, the file has %zu",
                          f->path, hlen, data, done * esize + got);
            break;
        }
        size_t bad = 0;
        int by_scale = 0;
        convert(type, buf, n / esize, scale, t->data + done, &bad, &by_scale);
        if (bad < n / esize) {
            st = by_scale ? nn_error(NN_ERR_INVALID_ARG,
                                     "nn_idx_load: %s: byte %zu: value %zu times the scale %g is "
                                     "beyond float's range",
                                     f->path, start + bad * esize, done + bad, (double)scale)
                          : nn_error(NN_ERR_FORMAT,
                                     "nn_idx_load: %s: byte %zu: value %zu is not a finite float",
                                     f->path, start + bad * esize, done + bad);
            break;
        }
        done += n / esize;
    }
    if (st == NN_OK) {
        /* One more byte would be data the header does not describe. */
        if ((st = read_bytes(f, buf, 1, &got)) == NN_OK && got > 0)
            st = nn_error(NN_ERR_FORMAT,
                          "nn_idx_load: %s: byte %zu: trailing bytes after the %zu data bytes the "
                          "header describes",
                          f->path, hlen + data, data);
    }
    nn_xfree(buf);
    if (st != NN_OK) {
        nn_tensor_free(t);
        return st;
    }
    *out = t;
    if (info != NULL)
        *info = inf;
    return NN_OK;
}

nn_status nn_idx_load(const char *path, float scale, nn_tensor **out, nn_idx_info *info)
{
    NN_CHECK_NULL(path);
    NN_CHECK_NULL(out);
    if (!isfinite(scale))
        return nn_error(NN_ERR_INVALID_ARG, "nn_idx_load: %s: scale %g is not finite", path,
                        (double)scale);
    errno = 0;
    idx_file f = {gzopen(path, "rb"), path, 0};
    if (f.gz == NULL)
        return nn_error(errno != 0 ? NN_ERR_IO : NN_ERR_NOMEM, "nn_idx_load: cannot open %s: %s",
                        path, errno != 0 ? strerror(errno) : "out of memory");
    gzbuffer(f.gz, 1u << 17); /* fewer, larger reads than zlib's 8 KiB default */
    nn_status st = load(&f, scale, out, info);
    gzclose(f.gz);
    return st;
}

nn_status nn_idx_load_dataset(const char *images_path, const char *labels_path, float scale,
                              size_t classes, nn_dataset **out)
{
    NN_CHECK_NULL(images_path);
    NN_CHECK_NULL(labels_path);
    NN_CHECK_NULL(out);
    nn_tensor *x = NULL, *y = NULL;
    nn_idx_info ix, iy;
    nn_status st = nn_idx_load(images_path, scale, &x, &ix);
    if (st == NN_OK)
        st = nn_idx_load(labels_path, 1.0f, &y, &iy);
    if (st == NN_OK && (iy.type != NN_IDX_U8 || iy.ndim != 1))
        st = nn_error(NN_ERR_FORMAT,
                      "nn_idx_load_dataset: %s: byte 2: labels must be 1-D unsigned bytes (type "
                      "0x08, 1 dimension), not type 0x%02x with %d",
                      labels_path, (unsigned)iy.type, iy.ndim);
    if (st == NN_OK && iy.dims[0] != ix.dims[0])
        st = nn_error(NN_ERR_FORMAT, "nn_idx_load_dataset: %s has %zu images but %s has %zu labels",
                      images_path, ix.dims[0], labels_path, iy.dims[0]);
    for (size_t i = 0; st == NN_OK && classes > 0 && i < iy.dims[0]; i++)
        if (y->data[i] >= (float)classes)
            st = nn_error(NN_ERR_FORMAT,
                          "nn_idx_load_dataset: %s: byte %zu: label %g is not below "
                          "%zu classes",
                          labels_path, 8 + i, (double)y->data[i], classes);
    nn_dataset *d = NULL;
    if (st == NN_OK)
        st = nn_dataset_new(x, y, &d);
    if (st != NN_OK) {
        nn_tensor_free(x);
        nn_tensor_free(y);
        return st;
    }
    *out = d;
    return NN_OK;
}
