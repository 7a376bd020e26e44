/* fuzz/replay.c - runs a fuzz target's LLVMFuzzerTestOneInput once on each file named
 * on the command line, without libFuzzer: the seed corpus and the inputs that once
 * crashed (fuzz/regressions/) become ordinary ctest tests, in every build. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        if (f == NULL) {
            perror(argv[i]);
            return 1;
        }
        size_t cap = 1 << 16, n = 0, got;
        uint8_t *buf = malloc(cap);
        while (buf != NULL && (got = fread(buf + n, 1, cap - n, f)) > 0) {
            n += got;
            if (n == cap) {
                uint8_t *bigger = realloc(buf, cap *= 2);
                if (bigger == NULL)
                    free(buf);
                buf = bigger;
            }
        }
        int failed = ferror(f);
        fclose(f);
        if (buf == NULL || failed) {
            fprintf(stderr, "replay: cannot read %s\n", argv[i]);
            free(buf);
            return 1;
        }
        LLVMFuzzerTestOneInput(buf, n);
        free(buf);
    }
    printf("replay: %d inputs, no failure\n", argc - 1);
    return 0;
}
