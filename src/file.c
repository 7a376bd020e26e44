/* file.c - writing a whole file so that it is either the old one or the new one.
 *
 * Model files and training histories are written through nn_write_file_atomic: a
 * temporary file in the same folder, written, flushed to disk and renamed over the
 * target, then the folder flushed so the rename itself is on disk. A crash or a full
 * disk at any point leaves the old file. What rename would do wrong is refused or
 * worked around first: a target that is a device, a FIFO or a folder would be replaced
 * by a regular file (as root, `-o /dev/null` replaced /dev/null), and a symbolic link
 * would be replaced rather than its file updated. */
#define _XOPEN_SOURCE 700 /* POSIX 2008 with realpath (XSI): fsync, lstat, realpath */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

static int write_all(int fd, const unsigned char *data, size_t size)
{
    while (size > 0) {
        ssize_t n = write(fd, data, size);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        data += n;
        size -= (size_t)n;
    }
    return 0;
}

/* The file to replace: path itself, or the file a symbolic link at path names (into
 * *owned, freed by the caller). *mode is the existing file's permission bits, or -1
 * when there is none (a new file gets 0666 less the umask, as fopen's would). */
static nn_status resolve_target(const char *fn, const char *path, const char **target,
                                char **owned, int *mode)
{
    struct stat sb;
    *target = path;
    *owned = NULL;
    *mode = -1;
    if (lstat(path, &sb) != 0)
        return NN_OK; /* nothing there yet (or unreadable: the create below says why) */
    if (S_ISLNK(sb.st_mode)) {
        if (stat(path, &sb) != 0)
            return nn_error(NN_ERR_IO, "%s: '%s' is a link to nothing that can be replaced: %s",
                            fn, path, strerror(errno));
        if (S_ISREG(sb.st_mode)) {
            *owned = realpath(path, NULL);
            if (*owned == NULL)
                return nn_error(NN_ERR_IO, "%s: cannot follow the link '%s': %s", fn, path,
                                strerror(errno));
            *target = *owned;
        }
    }
    if (!S_ISREG(sb.st_mode))
        return nn_error(NN_ERR_IO, "%s: '%s' exists and is not a regular file: not replaced", fn,
                        path);
    *mode = (int)(sb.st_mode & 07777);
    return NN_OK;
}

/* Creates a new file ".nn-<random>" in target's folder, its name in tmp (room for
 * the folder and 32 more bytes). The name does not grow with target's, so a target
 * whose name is near the file system's limit can still be written. */
static int create_temp(const char *target, char *tmp)
{
    const char *slash = strrchr(target, '/');
    size_t dir = slash != NULL ? (size_t)(slash - target) + 1 : 0;
    memcpy(tmp, target, dir);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    unsigned long seed = (unsigned long)ts.tv_nsec ^ ((unsigned long)getpid() << 16);
    for (int attempt = 0; attempt < 100; attempt++) {
        seed = seed * 6364136223846793005ul + 1442695040888963407ul;
        snprintf(tmp + dir, 32, ".nn-%016lx", seed);
        int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0666);
        if (fd >= 0 || errno != EEXIST)
            return fd;
    }
    return -1;
}

nn_status nn_write_file_atomic(const char *fn, const char *path, const void *data, size_t size)
{
    const char *target;
    char *owned;
    int mode;
    nn_status st = resolve_target(fn, path, &target, &owned, &mode);
    if (st != NN_OK)
        return st;
    char *tmp = nn_xalloc(strlen(target) + 32);
    if (tmp == NULL) {
        free(owned);
        return nn_error(NN_ERR_NOMEM, "%s: out of memory", fn);
    }
    int fd = create_temp(target, tmp);
    if (fd < 0) {
        st = nn_error(NN_ERR_IO, "%s: cannot create a temporary file next to '%s': %s", fn, path,
                      strerror(errno));
        nn_xfree(tmp);
        free(owned);
        return st;
    }
    const char *step = NULL;
    /* A replaced file keeps its permissions (a private model stays private). */
    if (mode >= 0 && fchmod(fd, (mode_t)mode) != 0)
        step = "setting the mode of";
    else if (write_all(fd, data, size) != 0)
        step = "writing";
    else if (fsync(fd) != 0)
        step = "flushing to disk";
    int err = errno;
    if (close(fd) != 0 && step == NULL) {
        step = "closing";
        err = errno;
    }
    if (step == NULL && rename(tmp, target) != 0) {
        err = errno;
        st = nn_error(NN_ERR_IO, "%s: cannot rename '%s' to '%s': %s", fn, tmp, target,
                      strerror(err));
    } else if (step != NULL) {
        st = nn_error(NN_ERR_IO,
                      "%s: %s '%s' failed: %s (the temporary file is removed; '%s' is unchanged)",
                      fn, step, tmp, strerror(err), path);
    }
    if (st != NN_OK) {
        unlink(tmp);
        nn_xfree(tmp);
        free(owned);
        return st;
    }
    /* The folder's entry: best effort, since some file systems cannot sync a folder
     * and the data itself is already safe. */
    char *slash = strrchr(tmp, '/');
    if (slash == tmp)
        slash[1] = '\0';
    else if (slash != NULL)
        *slash = '\0';
    int dfd = open(slash != NULL ? tmp : ".", O_RDONLY);
    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
    nn_xfree(tmp);
    free(owned);
    return NN_OK;
}
