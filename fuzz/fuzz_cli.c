/* fuzz/fuzz_cli.c - libFuzzer target for the nn tool's own reading of CSV data
 * (cli/nn.c): the first line's header rule and byte order mark, predict's rows read
 * from a file (with --inputs picking columns by number or header name), and the
 * column lists of train and eval, before the library's CSV loader takes over.
 *
 * The tool is compiled into the target (cli/nn.c is included, its main renamed) and a
 * command runs as a user would type it, on a scratch data file. The input's first
 * byte chooses:
 *
 *   bits 0-1  the command: predict; predict --inputs LIST; eval --target LIST;
 *             train --inputs LIST (one epoch of a 2-input network)
 *   bits 2-3  0 the header rule, 1 --header, 2 --no-header, 3 both (a usage error)
 *
 * With a LIST, it is the input up to the first newline (at most 200 bytes); the rest
 * is the data file. The model that predict and eval read takes 2 inputs and gives 1
 * output. What must hold, beyond no crash, no leak and no undefined behaviour: the
 * exit status is one the tool documents, 0 or 1, and 2 (a usage error) exactly when
 * the command line is wrong in itself (both header options). The tool's messages
 * go to /dev/null while it runs: one per refused input would drown libFuzzer's own.
 */
#define main nn_cli_main /* the tool's; the target's entry is LLVMFuzzerTestOneInput */
#include "../cli/nn.c"
#undef main

#include <fcntl.h>
#include "fuzz_alloc.h"

/* Scratch files, made once per process and removed at exit: the data, the model
 * predict and eval read, the spec train reads and the model it writes. */
enum { DATA, MODEL, SPEC, OUT, N_SCRATCH };
static char scratch[N_SCRATCH][4096];

static void remove_scratch(void)
{
    for (int i = 0; i < N_SCRATCH; i++)
        if (scratch[i][0] != '\0')
            unlink(scratch[i]);
}

static void write_file(const char *path, const void *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    FUZZ_CHECK(f != NULL);
    FUZZ_CHECK(fwrite(data, 1, size, f) == size);
    FUZZ_CHECK(fclose(f) == 0);
}

static void setup(void)
{
    const char *dir = getenv("TMPDIR");
    for (int i = 0; i < N_SCRATCH; i++) {
        int n = snprintf(scratch[i], sizeof scratch[i], "%s/nn_fuzz_cli_XXXXXX", dir ? dir : "/tmp");
        FUZZ_CHECK(n > 0 && (size_t)n < sizeof scratch[i]);
        int fd = mkstemp(scratch[i]);
        FUZZ_CHECK(fd >= 0);
        close(fd);
    }
    atexit(remove_scratch);
    static const char spec[] = "input 2\ndense 1\nsigmoid\nloss mse\noptimizer sgd lr=0.1\n"
                               "epochs 1\nbatch 4\n";
    write_file(scratch[SPEC], spec, sizeof spec - 1);
    nn_net *net = NULL;
    FUZZ_CHECK(nn_spec_build_string(spec, NULL, &net, NULL, NULL) == NN_OK);
    FUZZ_CHECK(nn_model_save_net(net, scratch[MODEL], NULL, 0) == NN_OK);
    nn_net_free(net);
    /* predict's outputs: not read */
    FUZZ_CHECK(freopen("/dev/null", "w", stdout) != NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        setup();
        ready = 1;
    }
    fuzz_install_allocator();
    if (size == 0)
        return 0;
    const unsigned command = data[0] & 3u, header = (data[0] >> 2) & 3u;
    data++;
    size--;
    char list[201] = "0";
    if (command != 0) {
        const uint8_t *nl = memchr(data, '\n', size < 200 ? size : 200);
        size_t len = nl != NULL ? (size_t)(nl - data) : 0;
        if (len > 0 && memchr(data, '\0', len) == NULL) {
            memcpy(list, data, len);
            list[len] = '\0';
        }
        if (nl != NULL) {
            size -= (size_t)(nl - data) + 1;
            data = nl + 1;
        }
    }
    write_file(scratch[DATA], data, size);

    char *argv[12];
    int argc = 0;
    argv[argc++] = "nn";
    switch (command) {
    case 0:
    case 1:
        argv[argc++] = "predict";
        argv[argc++] = scratch[MODEL];
        argv[argc++] = scratch[DATA];
        if (command == 1) {
            argv[argc++] = "--inputs";
            argv[argc++] = list;
        }
        break;
    case 2:
        argv[argc++] = "eval";
        argv[argc++] = scratch[MODEL];
        argv[argc++] = scratch[DATA];
        argv[argc++] = "--target";
        argv[argc++] = list;
        break;
    default:
        argv[argc++] = "train";
        argv[argc++] = scratch[SPEC];
        argv[argc++] = scratch[DATA];
        argv[argc++] = "-o";
        argv[argc++] = scratch[OUT];
        argv[argc++] = "--quiet";
        argv[argc++] = "--inputs";
        argv[argc++] = list;
        break;
    }
    if (header & 1u)
        argv[argc++] = "--header";
    if (header & 2u)
        argv[argc++] = "--no-header";
    argv[argc] = NULL;

    /* The tool's messages to /dev/null while it runs, libFuzzer's back after. */
    fflush(stderr);
    int saved = dup(STDERR_FILENO), null = open("/dev/null", O_WRONLY);
    FUZZ_CHECK(saved >= 0 && null >= 0 && dup2(null, STDERR_FILENO) >= 0);
    close(null);
    int rc = run_command(argc, argv);
    fflush(stderr);
    FUZZ_CHECK(dup2(saved, STDERR_FILENO) >= 0);
    close(saved);

    FUZZ_CHECK(rc == EXIT_OK || rc == EXIT_FAIL || rc == EXIT_USAGE);
    FUZZ_CHECK((rc == EXIT_USAGE) == (header == 3u));
    return 0;
}
