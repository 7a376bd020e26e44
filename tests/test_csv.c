#define _POSIX_C_SOURCE 200809L /* mkdtemp, before any system header */
/* test_csv.c - the CSV loader on small files written by the test: good ones in every
 * supported shape, and each kind of malformed one, which must fail with the file
 * name and line in the message and leave the caller's pointers untouched. */
#include "nn_test.h"

#include <unistd.h>

static char dir[64];

static int make_dir(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/nn_test_csv_XXXXXX");
    return mkdtemp(dir) != NULL ? 0 : -1;
}

static int remove_dir(void **state)
{
    (void)state;
    return rmdir(dir);
}

/* Writes n bytes to <dir>/name; returns the path in a static buffer. */
static const char *write_bytes(const char *name, const char *text, size_t n)
{
    static char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
    return path;
}

static const char *write_file(const char *name, const char *text)
{
    return write_bytes(name, text, strlen(text));
}

static void remove_file(const char *path) { assert_int_equal(remove(path), 0); }

static void assert_tensor(const nn_tensor *t, size_t rows, size_t cols, const float *want)
{
    assert_non_null(t);
    assert_int_equal(t->ndim, 2);
    assert_int_equal(t->shape[0], rows);
    assert_int_equal(t->shape[1], cols);
    for (size_t k = 0; k < rows * cols; k++)
        if (t->data[k] != want[k])
            fail_msg("element %zu is %.9g, expected %.9g", k, (double)t->data[k], (double)want[k]);
}

static const char people[] = "weight,height,gender\n"
                             "133,65,1\n"
                             "160,72,0\n"
                             "152,70,0\n"
                             "120,60,1\n";

static void test_header_and_target_by_name(void **state)
{
    (void)state;
    const char *path = write_file("people.csv", people);
    const char *target[] = {"gender"};
    nn_csv_params p = nn_csv_default_params();
    p.target_names = target;
    p.n_targets = 1;
    nn_tensor *x = NULL, *y = NULL;
    assert_ok(nn_csv_load(path, &p, &x, &y));
    const float wx[8] = {133, 65, 160, 72, 152, 70, 120, 60}, wy[4] = {1, 0, 0, 1};
    assert_tensor(x, 4, 2, wx);
    assert_tensor(y, 4, 1, wy);
    nn_tensor_free(x);
    nn_tensor_free(y);

    /* Inputs chosen by name, in another order than the file's. */
    const char *inputs[] = {"height", "weight"};
    p.input_names = inputs;
    p.n_inputs = 2;
    assert_ok(nn_csv_load(path, &p, &x, &y));
    const float sw[8] = {65, 133, 72, 160, 70, 152, 60, 120};
    assert_tensor(x, 4, 2, sw);
    nn_tensor_free(x);
    nn_tensor_free(y);

    /* By index, as a data set. */
    const size_t tcol[] = {2}, icol[] = {1};
    nn_csv_params q = nn_csv_default_params();
    q.target_cols = tcol;
    q.n_targets = 1;
    q.input_cols = icol;
    q.n_inputs = 1;
    nn_dataset *d = NULL;
    assert_ok(nn_csv_load_dataset(path, &q, &d));
    assert_int_equal(nn_dataset_size(d), 4);
    const float hx[4] = {65, 72, 70, 60};
    assert_tensor(nn_dataset_x(d), 4, 1, hx);
    assert_tensor(nn_dataset_y(d), 4, 1, wy);
    nn_dataset_free(d);

    /* Defaults: every column an input, no targets. */
    assert_ok(nn_csv_load(path, NULL, &x, NULL));
    assert_int_equal(x->shape[1], 3);
    assert_close(x->data[5], 0.0, 0, 0);
    nn_tensor_free(x);
    remove_file(path);
}

static void test_lenient_where_harmless(void **state)
{
    (void)state;
    /* No header; CRLF line ends; spaces and tabs around fields; exponents, signs,
     * leading dots; a delimiter of choice; no newline at the end; a text column nobody
     * chose; several target columns; trailing blank lines. */
    const char *path = write_file("loose.csv", "alice; 1.5 ;\t-2e1;+3;4\r\n"
                                               "bob;.25;7;-0.5e-1;1e+2\r\n"
                                               "carol;-0;3.;8;9\n\n  \n");
    const size_t tcol[] = {4, 3}, icol[] = {1, 2};
    nn_csv_params p = nn_csv_default_params();
    p.header = 0;
    p.delimiter = ';';
    p.target_cols = tcol;
    p.n_targets = 2;
    p.input_cols = icol;
    p.n_inputs = 2;
    nn_tensor *x = NULL, *y = NULL;
    assert_ok(nn_csv_load(path, &p, &x, &y));
    const float wx[6] = {1.5f, -20, 0.25f, 7, -0.0f, 3}, wy[6] = {4, 3, 100, -0.05f, 9, 8};
    assert_tensor(x, 3, 2, wx);
    assert_tensor(y, 3, 2, wy);
    nn_tensor_free(x);
    nn_tensor_free(y);
    remove_file(path);

    /* Quoted header names, the last line without a newline. */
    path = write_file("quoted.csv", "\"a\",\"b c\"\n1,2\n3,4");
    const char *t[] = {"b c"};
    p = nn_csv_default_params();
    p.target_names = t;
    p.n_targets = 1;
    assert_ok(nn_csv_load(path, &p, &x, &y));
    const float qx[2] = {1, 3}, qy[2] = {2, 4};
    assert_tensor(x, 2, 1, qx);
    assert_tensor(y, 2, 1, qy);
    nn_tensor_free(x);
    nn_tensor_free(y);
    remove_file(path);

    /* The largest float, written with 9 digits (above FLT_MAX in double, rounds to it). */
    path = write_file("big.csv", "3.40282347e+38,-1e-45\n");
    p = nn_csv_default_params();
    p.header = 0;
    assert_ok(nn_csv_load(path, &p, &x, NULL));
    assert_true(x->data[0] == 3.40282347e+38f);
    nn_tensor_free(x);
    remove_file(path);
}

/* Loads text that must fail with NN_ERR_FORMAT and a message naming the file, the
 * line ("bad.csv:<line>:") and what is wrong; checks the outputs stay untouched and
 * nothing stays allocated. */
static void expect_format(const char *text, size_t len, int header, size_t max_line,
                          const char *where, const char *what)
{
    const char *path = write_bytes("bad.csv", text, len);
    nn_csv_params p = nn_csv_default_params();
    p.header = header;
    if (max_line)
        p.max_line = max_line;
    const size_t tcol[] = {0};
    p.target_cols = tcol;
    p.n_targets = 1;
    nn_tensor sentinel, *x = &sentinel, *y = &sentinel;
    nn_test_alloc_install();
    assert_error(nn_csv_load(path, &p, &x, &y), NN_ERR_FORMAT, "nn_csv_load", "bad.csv", where,
                 what);
    assert_int_equal(nn_test_alloc()->live, 0);
    nn_set_allocator(NULL);
    assert_ptr_equal(x, &sentinel);
    assert_ptr_equal(y, &sentinel);
    remove_file(path);
}

#define EXPECT_FORMAT(text, header, where, what)                                                   \
    expect_format((text), sizeof(text) - 1, (header), 0, (where), (what))

static void test_malformed(void **state)
{
    (void)state;
    /* Not numbers: garbage, units, a decimal comma read as two fields elsewhere, NaN and
     * Inf in every spelling strtod takes, hexadecimal, lone signs and dots. */
    EXPECT_FORMAT("a,b\n1,2\n3,4kg\n", 1, "bad.csv:3:", "column 1 (b): '4kg' is not a number");
    EXPECT_FORMAT("1,2\n3,abc\n", 0, "bad.csv:2:", "column 1: 'abc' is not a number");
    EXPECT_FORMAT("1,nan\n", 0, "bad.csv:1:", "'nan' is not a number");
    EXPECT_FORMAT("1,NaN\n", 0, "bad.csv:1:", "'NaN'");
    EXPECT_FORMAT("1,inf\n", 0, "bad.csv:1:", "'inf'");
    EXPECT_FORMAT("-Infinity,1\n", 0, "bad.csv:1:", "column 0: '-Infinity'");
    EXPECT_FORMAT("0x10,1\n", 0, "bad.csv:1:", "'0x10'");
    EXPECT_FORMAT("1,-\n", 0, "bad.csv:1:", "'-' is not a number");
    EXPECT_FORMAT("1,.\n", 0, "bad.csv:1:", "'.' is not a number");
    EXPECT_FORMAT("1,e5\n", 0, "bad.csv:1:", "'e5'");
    EXPECT_FORMAT("1,1e5e\n", 0, "bad.csv:1:", "'1e5e'");
    EXPECT_FORMAT("1,2 3\n", 0, "bad.csv:1:", "'2 3'");
    EXPECT_FORMAT("1,\"2\"\n", 0, "bad.csv:1:", "'\"2\"'");
    /* Beyond float range. */
    EXPECT_FORMAT("1,2\n1e39,2\n", 0, "bad.csv:2:", "1e39 is beyond the float range");
    EXPECT_FORMAT("1,-3.5e38\n", 0, "bad.csv:1:", "beyond the float range");
    EXPECT_FORMAT("1,1e999\n", 0, "bad.csv:1:", "beyond the float range");
    /* Empty fields, including a trailing delimiter. */
    EXPECT_FORMAT("x,y,z\n1,,3\n", 1, "bad.csv:2:", "column 1 (y): empty field");
    EXPECT_FORMAT("1,2,\n", 0, "bad.csv:1:", "column 2: empty field");
    EXPECT_FORMAT("1, \t ,2\n", 0, "bad.csv:1:", "empty field");
    /* Ragged rows: too few and too many fields. */
    EXPECT_FORMAT("a,b,c\n1,2,3\n4,5\n", 1, "bad.csv:3:", "2 fields, but line 1 has 3");
    EXPECT_FORMAT("1,2\n3,4\n5,6,7\n", 0, "bad.csv:3:", "3 fields, but line 1 has 2");
    /* Empty files, blank-only files, a header without data. */
    EXPECT_FORMAT("", 1, "bad.csv", "the file is empty");
    EXPECT_FORMAT("\n\n \r\n", 0, "bad.csv", "the file is empty");
    EXPECT_FORMAT("a,b\n", 1, "bad.csv", "a header but no data lines");
    EXPECT_FORMAT("a,b\n\n\n", 1, "bad.csv", "a header but no data lines");
    /* A blank line between data lines (and before the first). */
    EXPECT_FORMAT("1,2\n3,4\n\n5,6\n", 0, "bad.csv:3:", "empty line");
    EXPECT_FORMAT("\n1,2\n", 0, "bad.csv:1:", "empty line");
    /* A NUL byte. */
    expect_format("1,2\n3,\0\n", 7, 0, 0, "bad.csv:2:", "NUL byte");
    /* An overlong line: 8 bytes allowed, the second line has 9 (CR not counted). */
    expect_format("1,2\r\n12345,678\n", 15, 0, 8, "bad.csv:2:", "longer than 8 bytes");
    expect_format("123456789\n1,2\n", 14, 0, 8, "bad.csv:1:", "longer than 8 bytes");
}

static void test_line_limit_exact(void **state)
{
    (void)state;
    /* Exactly max_line bytes with and without a CR passes. */
    const char *path = write_file("limit.csv", "12345,67\r\n1234,678\n");
    nn_csv_params p = nn_csv_default_params();
    p.header = 0;
    p.max_line = 8;
    nn_tensor *x = NULL;
    assert_ok(nn_csv_load(path, &p, &x, NULL));
    const float w[4] = {12345, 67, 1234, 678};
    assert_tensor(x, 2, 2, w);
    nn_tensor_free(x);
    remove_file(path);
}

static void test_bad_params(void **state)
{
    (void)state;
    const char *path = write_file("people.csv", people);
    nn_tensor sentinel, *x = &sentinel, *y = &sentinel;
    nn_csv_params p = nn_csv_default_params();
    const char *nope[] = {"age"}, *g[] = {"gender"};
    const size_t c5[] = {5}, c0[] = {0}, c00[] = {0, 0}, all[] = {0, 1, 2};

    p.target_names = nope;
    p.n_targets = 1;
    assert_error(nn_csv_load(path, &p, &x, &y), NN_ERR_INVALID_ARG, "people.csv",
                 "no column is named 'age'");
    p.target_names = NULL;
    p.target_cols = c5;
    assert_error(nn_csv_load(path, &p, &x, &y), NN_ERR_INVALID_ARG,
                 "target column 5 does not exist", "3 columns, 0..2");
    p.target_names = g;
    assert_error(nn_csv_load(path, &p, &x, &y), NN_ERR_INVALID_ARG, "either by index or by name");
    p.target_names = NULL;
    p.target_cols = NULL;
    assert_error(nn_csv_load(path, &p, &x, &y), NN_ERR_INVALID_ARG, "target_cols");
    p.target_cols = c0;
    p.input_cols = c0;
    p.n_inputs = 1;
    assert_error(nn_csv_load(path, &p, &x, &y), NN_ERR_INVALID_ARG, "column 0 is chosen twice");
    p.input_cols = c00;
    p.target_cols = c5;
    p.target_names = NULL;
    p.n_targets = 0;
    p.n_inputs = 2;
    assert_error(nn_csv_load(path, &p, &x, &y), NN_ERR_INVALID_ARG, "column 0 is chosen twice");
    p = nn_csv_default_params();
    p.target_cols = all;
    p.n_targets = 3;
    assert_error(nn_csv_load(path, &p, &x, &y), NN_ERR_INVALID_ARG, "no input column is left");
    p = nn_csv_default_params();
    p.header = 0;
    p.target_names = g;
    p.n_targets = 1;
    assert_error(nn_csv_load(path, &p, &x, &y), NN_ERR_INVALID_ARG, "the file has no header");
    p = nn_csv_default_params();
    p.delimiter = '"';
    assert_error(nn_csv_load(path, &p, &x, &y), NN_ERR_INVALID_ARG, "delimiter");
    p.delimiter = ',';
    p.max_line = 0;
    assert_error(nn_csv_load(path, &p, &x, &y), NN_ERR_INVALID_ARG, "max_line 0");
    p = nn_csv_default_params();
    p.target_cols = c0;
    p.n_targets = 1;
    assert_error(nn_csv_load(path, &p, &x, NULL), NN_ERR_NULL_ARG, "targets is NULL");
    assert_error(nn_csv_load_dataset(path, NULL, NULL), NN_ERR_NULL_ARG, "out");
    nn_dataset *d = (nn_dataset *)&d;
    nn_csv_params none = nn_csv_default_params();
    assert_error(nn_csv_load_dataset(path, &none, &d), NN_ERR_INVALID_ARG, "n_targets > 0");
    assert_ptr_equal(d, (nn_dataset *)&d);
    /* A data line that parses as a header field never matters, but duplicate names do. */
    remove_file(path);
    path = write_file("dup.csv", "a,b,a\n1,2,3\n");
    const char *a[] = {"a"};
    p = nn_csv_default_params();
    p.target_names = a;
    p.n_targets = 1;
    assert_error(nn_csv_load(path, &p, &x, &y), NN_ERR_INVALID_ARG,
                 "several columns are named 'a'");
    assert_ptr_equal(x, &sentinel);
    assert_ptr_equal(y, &sentinel);
    remove_file(path);

    char missing[128];
    snprintf(missing, sizeof missing, "%s/missing.csv", dir);
    assert_error(nn_csv_load(missing, NULL, &x, NULL), NN_ERR_IO, "cannot open", "missing.csv",
                 "No such file");
    assert_error(nn_csv_load(dir, NULL, &x, NULL), NN_ERR_IO, "read error");
    assert_ptr_equal(x, &sentinel);
}

static void test_allocation_failures(void **state)
{
    (void)state;
    /* Enough rows to make the buffers grow more than once. */
    char text[16384] = "a,b,c\n";
    for (int i = 0; i < 700; i++)
        snprintf(text + strlen(text), sizeof text - strlen(text), "%d,%d.5,%d\n", i, i, -i);
    const char *path = write_file("grow.csv", text);
    const size_t tcol[] = {2};
    nn_csv_params p = nn_csv_default_params();
    p.target_cols = tcol;
    p.n_targets = 1;
    nn_test_alloc_install();
    size_t k;
    for (k = 1;; k++) {
        nn_tensor sentinel, *x = &sentinel, *y = &sentinel;
        nn_test_alloc_fail_nth(k);
        nn_status st = nn_csv_load(path, &p, &x, &y);
        if (st == NN_OK) {
            assert_int_equal(x->shape[0], 700);
            assert_close(x->data[699 * 2 + 1], 699.5, 0, 0);
            assert_close(y->data[699], -699.0, 0, 0);
            nn_tensor_free(x);
            nn_tensor_free(y);
            break;
        }
        assert_status_was(st, NN_ERR_NOMEM);
        assert_ptr_equal(x, &sentinel);
        assert_ptr_equal(y, &sentinel);
        assert_int_equal(nn_test_alloc()->live, 0);
    }
    assert_true(k > 8);
    assert_int_equal(nn_test_alloc()->live, 0);
    nn_set_allocator(NULL);
    remove_file(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_and_target_by_name),
        cmocka_unit_test(test_lenient_where_harmless),
        cmocka_unit_test_teardown(test_malformed, nn_test_alloc_teardown),
        cmocka_unit_test(test_line_limit_exact),
        cmocka_unit_test(test_bad_params),
        cmocka_unit_test_teardown(test_allocation_failures, nn_test_alloc_teardown),
    };
    return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
