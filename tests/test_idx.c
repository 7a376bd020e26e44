#define _POSIX_C_SOURCE 200809L /* mkdtemp, before any system header */
/* test_idx.c - the IDX loader on small files written by the test, plain and gzip:
 * every value type, the same tensors either way, and each kind of malformed file,
 * which must fail naming the file and the byte offset, leaving *out untouched. */
#include "nn_test.h"

#include <unistd.h>
#include <zlib.h>

static char dir[64];

static int make_dir(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/nn_test_idx_XXXXXX");
    return mkdtemp(dir) != NULL ? 0 : -1;
}

static int remove_dir(void **state)
{
    (void)state;
    return rmdir(dir);
}

/* An IDX file image: header for type and dims, then the given data bytes. */
typedef struct image {
    unsigned char bytes[4096];
    size_t len;
} image;

static void idx_header(image *im, int type, int ndim, const uint32_t *dims)
{
    im->len = 0;
    im->bytes[im->len++] = 0;
    im->bytes[im->len++] = 0;
    im->bytes[im->len++] = (unsigned char)type;
    im->bytes[im->len++] = (unsigned char)ndim;
    for (int d = 0; d < ndim; d++)
        for (int s = 24; s >= 0; s -= 8)
            im->bytes[im->len++] = (unsigned char)(dims[d] >> s);
}

static void append(image *im, const void *data, size_t n)
{
    assert_true(im->len + n <= sizeof im->bytes);
    memcpy(im->bytes + im->len, data, n);
    im->len += n;
}

static const char *path_of(const char *name)
{
    static char path[2][128];
    static int k;
    k ^= 1;
    snprintf(path[k], sizeof path[k], "%s/%s", dir, name);
    return path[k];
}

static const char *write_plain(const char *name, const void *bytes, size_t n)
{
    const char *path = path_of(name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(bytes, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
    return path;
}

static const char *write_gz(const char *name, const void *bytes, size_t n)
{
    const char *path = path_of(name);
    gzFile gz = gzopen(path, "wb");
    assert_non_null(gz);
    assert_int_equal(gzwrite(gz, bytes, (unsigned)n), (int)n);
    assert_int_equal(gzclose(gz), Z_OK);
    return path;
}

/* Three 2x2 u8 images. */
static const unsigned char pixels[12] = {0, 255, 51, 102, 1, 2, 3, 4, 200, 100, 50, 25};

static void images(image *im)
{
    const uint32_t dims[3] = {3, 2, 2};
    idx_header(im, 0x08, 3, dims);
    append(im, pixels, sizeof pixels);
}

static void test_u8_plain_and_gzip_agree(void **state)
{
    (void)state;
    image im;
    images(&im);
    const char *plain = write_plain("img.idx", im.bytes, im.len);
    const char *gz = write_gz("img.idx.gz", im.bytes, im.len);
    nn_tensor *a = NULL, *b = NULL;
    nn_idx_info info;
    memset(&info, 0xff, sizeof info);
    assert_ok(nn_idx_load(plain, 1.0f / 255, &a, &info));
    assert_int_equal(info.type, NN_IDX_U8);
    assert_int_equal(info.ndim, 3);
    assert_int_equal(info.dims[0], 3);
    assert_int_equal(info.dims[1], 2);
    assert_int_equal(info.dims[2], 2);
    assert_int_equal(a->ndim, 2);
    assert_int_equal(a->shape[0], 3); /* samples in rows */
    assert_int_equal(a->shape[1], 4); /* 2x2 pixels flattened row-major */
    for (size_t k = 0; k < 12; k++)
        assert_close(a->data[k], pixels[k] / 255.0, 1e-6, 0);
    assert_close(a->data[1], 1.0, 1e-7, 0);
    assert_ok(nn_idx_load(gz, 1.0f / 255, &b, NULL));
    assert_true(nn_tensor_same_shape(a, b));
    assert_memory_equal(a->data, b->data, 12 * sizeof(float));
    nn_tensor_free(a);
    nn_tensor_free(b);
    /* scale 1: the bytes as they are. */
    assert_ok(nn_idx_load(gz, 1.0f, &a, NULL));
    assert_close(a->data[8], 200.0, 0, 0);
    nn_tensor_free(a);
    remove(plain);
    remove(gz);
}

static void test_value_types(void **state)
{
    (void)state;
    const uint32_t two[1] = {2};
    image im;
    nn_tensor *t = NULL;
    struct {
        int type;
        unsigned char data[16];
        size_t n;
        double want[2];
    } cases[] = {
        {0x09, {0x80, 0x7f}, 2, {-128, 127}},
        {0x0B, {0xfe, 0xd4, 0x03, 0xe8}, 4, {-300, 1000}},
        {0x0C, {0xff, 0xfe, 0xee, 0x90, 0, 0, 0, 5}, 8, {-70000, 5}},
        {0x0D, {0x3f, 0xc0, 0, 0, 0xc0, 0x10, 0, 0}, 8, {1.5, -2.25}},
        {0x0E,
         {0x3f, 0xb9, 0x99, 0x99, 0x99, 0x99, 0x99, 0x9a, 0xc2, 0x02, 0xa0, 0x5f, 0x20, 0, 0, 0},
         16,
         {0.1, -1e10}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        idx_header(&im, cases[c].type, 1, two);
        append(&im, cases[c].data, cases[c].n);
        const char *gz = write_gz("t.gz", im.bytes, im.len);
        nn_idx_info info;
        assert_ok(nn_idx_load(gz, 1.0f, &t, &info));
        assert_int_equal(info.type, cases[c].type);
        assert_int_equal(t->shape[0], 2);
        assert_int_equal(t->shape[1], 1); /* a 1-D file: (N, 1) */
        assert_close(t->data[0], cases[c].want[0], 1e-7, 0);
        assert_close(t->data[1], cases[c].want[1], 1e-7, 0);
        nn_tensor_free(t);
        remove(gz);
    }
}

/* Loads bytes written plainly (gz 0) or compressed (gz 1), which must fail with status
 * and a message naming the file and every given part. */
static void expect_error(const unsigned char *bytes, size_t n, int gz, nn_status status,
                         const char *where, const char *what)
{
    const char *name = gz ? "bad.idx.gz" : "bad.idx";
    const char *path = gz ? write_gz(name, bytes, n) : write_plain(name, bytes, n);
    nn_tensor sentinel, *t = &sentinel;
    nn_idx_info info;
    memset(&info, 0x5a, sizeof info);
    nn_test_alloc_install();
    assert_error(nn_idx_load(path, 1.0f, &t, &info), status, "nn_idx_load", name, where, what);
    assert_int_equal(nn_test_alloc()->live, 0);
    nn_set_allocator(NULL);
    assert_ptr_equal(t, &sentinel);
    assert_int_equal(info.ndim, 0x5a5a5a5a);
    remove(path);
}

static void both(const image *im, const char *where, const char *what)
{
    expect_error(im->bytes, im->len, 0, NN_ERR_FORMAT, where, what);
    expect_error(im->bytes, im->len, 1, NN_ERR_FORMAT, where, what);
}

static void test_malformed_headers(void **state)
{
    (void)state;
    image im;
    images(&im);
    im.bytes[0] = 0x1f; /* byte 0 must be 0 */
    both(&im, "byte 0:", "magic 1f 00 08 03 does not start with 00 00: not an IDX file");
    images(&im);
    im.bytes[2] = 0x0A;
    both(&im, "byte 2:", "unknown value type 0x0a");
    images(&im);
    im.bytes[3] = 0;
    both(&im, "byte 3:", "0 dimensions (1..16 allowed)");
    im.bytes[3] = 17;
    both(&im, "byte 3:", "17 dimensions");

    const uint32_t zero[3] = {3, 0, 2};
    idx_header(&im, 0x08, 3, zero);
    append(&im, pixels, 6);
    both(&im, "byte 8:", "dimension 1 is 0");

    /* More than memory: caught before allocating, plain and gzip alike. */
    const uint32_t huge[3] = {0xffffffffu, 0xffffffffu, 0xffffffffu};
    idx_header(&im, 0x0E, 3, huge);
    both(&im, "byte", "dimensions too large");

    /* The file ends inside the magic or the header. */
    images(&im);
    expect_error(im.bytes, 0, 0, NN_ERR_FORMAT, "byte 0:", "ends inside the magic number (0 of 4");
    expect_error(im.bytes, 2, 1, NN_ERR_FORMAT, "byte 2:", "(2 of 4 bytes)");
    expect_error(im.bytes, 10, 0, NN_ERR_FORMAT,
                 "byte 10:", "ends inside the header (3 dimensions need 16 bytes)");
    expect_error(im.bytes, 10, 1, NN_ERR_FORMAT, "byte 10:", "ends inside the header");
}

static void test_data_size_against_header(void **state)
{
    (void)state;
    image im;
    images(&im); /* 16 header bytes + 12 data bytes */
    /* Truncated: 10 of 12 data bytes. */
    expect_error(im.bytes, im.len - 2, 0, NN_ERR_FORMAT,
                 "byte 16:", "truncated: the header promises 12 data bytes, the file has 10");
    expect_error(im.bytes, im.len - 2, 1, NN_ERR_FORMAT,
                 "byte 16:", "truncated: the header promises 12 data bytes, the file has 10");
    /* Trailing bytes. */
    const unsigned char extra[2] = {7, 7};
    append(&im, extra, 2);
    expect_error(im.bytes, im.len, 0, NN_ERR_FORMAT,
                 "byte 28:", "2 trailing bytes after the 12 data bytes");
    expect_error(im.bytes, im.len, 1, NN_ERR_FORMAT,
                 "byte 28:", "trailing bytes after the 12 data bytes");
    /* A plain file far shorter than its header says is rejected before the (large)
     * allocation: 60000 images of 28x28. */
    const uint32_t mnist[3] = {60000, 28, 28};
    idx_header(&im, 0x08, 3, mnist);
    append(&im, pixels, 12);
    expect_error(im.bytes, im.len, 0, NN_ERR_FORMAT,
                 "byte 16:", "promises 47040000 data bytes, the file has 12");
}

static void test_non_finite_values(void **state)
{
    (void)state;
    const uint32_t three[1] = {3};
    image im;
    const unsigned char f32[12] = {0x3f, 0x80, 0, 0, 0x7f, 0xc0, 0, 0, 0, 0, 0, 0}; /* 1, NaN, 0 */
    idx_header(&im, 0x0D, 1, three);
    append(&im, f32, sizeof f32);
    both(&im, "byte 12:", "value 1 is not a finite float");
    const unsigned char f64[24] = {0,    0,    0,    0,    0,    0, 0,    0,     /* 0 */
                                   0,    0,    0,    0,    0,    0, 0,    0,     /* 0 */
                                   0x7e, 0x37, 0xe4, 0x3c, 0x88, 0, 0x75, 0x9c}; /* 1e300 */
    idx_header(&im, 0x0E, 1, three);
    append(&im, f64, sizeof f64);
    both(&im, "byte 24:", "value 2 is not a finite float");

    /* Finite as stored, but not once scaled: the check used to come before the scale. */
    const unsigned char u8[2] = {0xc8, 0xff}; /* 200, 255 */
    const uint32_t two[1] = {2};
    idx_header(&im, 0x08, 1, two);
    append(&im, u8, sizeof u8);
    const char *path = write_plain("scaled.idx", im.bytes, im.len);
    nn_tensor sentinel, *t = &sentinel;
    assert_error(nn_idx_load(path, 1e37f, &t, NULL), NN_ERR_INVALID_ARG,
                 "byte 8: value 0 times the scale 1e+37 is beyond float's range");
    assert_ptr_equal(t, &sentinel);
    assert_ok(nn_idx_load(path, 1e36f, &t, NULL)); /* 2.55e38 is a float */
    assert_true(t->data[1] == 255.0f * 1e36f && isfinite(t->data[1]));
    nn_tensor_free(t);
    remove(path);
}

static void test_damaged_gzip(void **state)
{
    (void)state;
    /* 1000 bytes of noise compress poorly, so damage lands in the deflate data. */
    const uint32_t dims[2] = {10, 100};
    image im;
    idx_header(&im, 0x08, 2, dims);
    nn_rng rng;
    nn_rng_seed(&rng, 1, 0);
    for (int i = 0; i < 1000; i++) {
        unsigned char b = (unsigned char)nn_rng_below(&rng, 256);
        append(&im, &b, 1);
    }
    const char *path = write_gz("noise.gz", im.bytes, im.len);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    unsigned char gz[4096];
    size_t n = fread(gz, 1, sizeof gz, f);
    fclose(f);
    assert_true(n > 500 && n < sizeof gz);
    remove(path);

    /* Cut in the middle: the stream ends early. */
    expect_error(gz, n / 2, 0, NN_ERR_FORMAT, "byte", "gzip stream is cut short");
    /* Bytes changed in the middle: the deflate data or its CRC no longer check out. */
    unsigned char bad[4096];
    memcpy(bad, gz, n);
    for (size_t i = n / 2; i < n / 2 + 8; i++)
        bad[i] ^= 0xA5;
    expect_error(bad, n, 0, NN_ERR_FORMAT, "byte", "gzip");
    /* The undamaged stream loads. */
    path = write_plain("noise.gz", gz, n);
    nn_tensor *t = NULL;
    assert_ok(nn_idx_load(path, 1.0f, &t, NULL));
    assert_int_equal(t->shape[0], 10);
    assert_int_equal(t->shape[1], 100);
    assert_close(t->data[999], im.bytes[im.len - 1], 0, 0);
    nn_tensor_free(t);
    remove(path);
}

static void test_io_and_args(void **state)
{
    (void)state;
    nn_tensor sentinel, *t = &sentinel;
    assert_error(nn_idx_load(path_of("missing.gz"), 1.0f, &t, NULL), NN_ERR_IO, "cannot open",
                 "missing.gz", "No such file");
    assert_error(nn_idx_load(path_of("x"), NAN, &t, NULL), NN_ERR_INVALID_ARG, "scale nan");
    assert_error(nn_idx_load(NULL, 1.0f, &t, NULL), NN_ERR_NULL_ARG, "path");
    assert_error(nn_idx_load(dir, 1.0f, &t, NULL), NN_ERR_IO, "read error");
    assert_ptr_equal(t, &sentinel);
}

static void test_dataset(void **state)
{
    (void)state;
    image im, lab;
    images(&im);
    const char *ip = write_gz("img.gz", im.bytes, im.len);
    char images_path[128];
    snprintf(images_path, sizeof images_path, "%s", ip);
    const uint32_t three[1] = {3};
    const unsigned char labels[3] = {9, 0, 4};
    idx_header(&lab, 0x08, 1, three);
    append(&lab, labels, 3);
    const char *lp = write_gz("lab.gz", lab.bytes, lab.len);
    nn_dataset *d = NULL;
    assert_ok(nn_idx_load_dataset(images_path, lp, 1.0f / 255, 10, &d));
    assert_int_equal(nn_dataset_size(d), 3);
    assert_int_equal(nn_dataset_in_width(d), 4);
    assert_int_equal(nn_dataset_target_width(d), 1);
    assert_close(nn_dataset_y(d)->data[0], 9.0, 0, 0);
    assert_close(nn_dataset_y(d)->data[2], 4.0, 0, 0);
    assert_close(nn_dataset_x(d)->data[1], 1.0, 1e-7, 0);
    nn_dataset_free(d);

    nn_dataset *keep = (nn_dataset *)&keep;
    nn_test_alloc_install();
    /* A label outside the classes, by its byte offset (8 header bytes + index 0). */
    assert_error(nn_idx_load_dataset(images_path, lp, 1.0f, 5, &keep), NN_ERR_FORMAT, "lab.gz",
                 "byte 8:", "label 9 is not below 5 classes");
    /* Counts differ. */
    const uint32_t two[1] = {2};
    idx_header(&lab, 0x08, 1, two);
    append(&lab, labels, 2);
    lp = write_gz("lab.gz", lab.bytes, lab.len);
    assert_error(nn_idx_load_dataset(images_path, lp, 1.0f, 10, &keep), NN_ERR_FORMAT,
                 "img.gz has 3 images but", "lab.gz has 2 labels");
    /* Labels that are not 1-D bytes: the images file passed as labels. */
    assert_error(nn_idx_load_dataset(images_path, images_path, 1.0f, 10, &keep), NN_ERR_FORMAT,
                 "labels must be 1-D unsigned bytes", "type 0x08 with 3");
    assert_int_equal(nn_test_alloc()->live, 0);
    nn_set_allocator(NULL);
    assert_ptr_equal(keep, (nn_dataset *)&keep);
    remove(images_path);
    remove(lp);
}

static void test_allocation_failures(void **state)
{
    (void)state;
    image im;
    images(&im);
    const char *path = write_gz("img.gz", im.bytes, im.len);
    nn_test_alloc_install();
    size_t k;
    for (k = 1;; k++) {
        nn_tensor sentinel, *t = &sentinel;
        nn_test_alloc_fail_nth(k);
        nn_status st = nn_idx_load(path, 1.0f, &t, NULL);
        if (st == NN_OK) {
            nn_tensor_free(t);
            break;
        }
        assert_status_was(st, NN_ERR_NOMEM);
        assert_ptr_equal(t, &sentinel);
        assert_int_equal(nn_test_alloc()->live, 0);
    }
    assert_int_equal(k, 4); /* tensor, its data, the read buffer */
    nn_set_allocator(NULL);
    remove(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_u8_plain_and_gzip_agree),
        cmocka_unit_test(test_value_types),
        cmocka_unit_test_teardown(test_malformed_headers, nn_test_alloc_teardown),
        cmocka_unit_test_teardown(test_data_size_against_header, nn_test_alloc_teardown),
        cmocka_unit_test_teardown(test_non_finite_values, nn_test_alloc_teardown),
        cmocka_unit_test_teardown(test_damaged_gzip, nn_test_alloc_teardown),
        cmocka_unit_test(test_io_and_args),
        cmocka_unit_test_teardown(test_dataset, nn_test_alloc_teardown),
        cmocka_unit_test_teardown(test_allocation_failures, nn_test_alloc_teardown),
    };
    return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
