/* status.c - status strings and the thread-local last-error message. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

static _Thread_local char last_error[sizeof ((nn_error_kept *)0)->message];
/* Counts the errors recorded on this thread, so a caller can tell whether an
 * operation it called recorded one (see nn_error_seq). */
static _Thread_local unsigned long error_seq;

const char *nn_strerror(nn_status status)
{
    switch (status) {
    case NN_OK: return "success";
    case NN_ERR_NULL_ARG: return "NULL argument";
    case NN_ERR_INVALID_ARG: return "invalid argument";
    case NN_ERR_SHAPE: return "shape mismatch";
    case NN_ERR_NOMEM: return "out of memory";
    case NN_ERR_NUMERIC: return "non-finite value (NaN or Inf)";
    case NN_ERR_STATE: return "object not ready for this call";
    case NN_ERR_IO: return "input/output error";
    case NN_ERR_FORMAT: return "malformed data";
    }
    return "unknown status";
}

const char *nn_last_error(void) { return last_error; }

void nn_clear_error(void) { last_error[0] = '\0'; }

static void record(const char *fmt, va_list ap)
{
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    error_seq++;
}

nn_status nn_error(nn_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    record(fmt, ap);
    va_end(ap);
    return status;
}

nn_status nn_set_error(nn_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    record(fmt, ap);
    va_end(ap);
    return status;
}

nn_status nn_error_prefix(nn_status status, const char *fmt, ...)
{
    char cause[sizeof last_error];
    memcpy(cause, last_error, sizeof cause);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    size_t len = strlen(last_error);
    snprintf(last_error + len, sizeof last_error - len, ": %s", cause); /* may truncate */
    error_seq++;
    return status;
}

unsigned long nn_error_seq(void) { return error_seq; }

void nn_error_keep(nn_error_kept *k)
{
    memcpy(k->message, last_error, sizeof k->message);
    k->seq = error_seq;
}

void nn_error_put_back(const nn_error_kept *k)
{
    memcpy(last_error, k->message, sizeof last_error);
    error_seq = k->seq;
}

int nn_kind_by_name(const char *name, const char *(*name_of)(int), char *known, size_t size)
{
    for (int k = 0; name_of(k) != NULL; k++)
        if (strcmp(name_of(k), name) == 0)
            return k;
    size_t used = 0;
    known[0] = '\0';
    for (int k = 0; name_of(k) != NULL && used < size; k++)
        used += (size_t)snprintf(known + used, size - used, "%s%s", k ? ", " : "", name_of(k));
    return -1;
}

nn_status nn_error_if_silent(nn_status status, unsigned long seq, const char *fmt, ...)
{
    if (status == NN_OK || error_seq != seq)
        return status;
    va_list ap;
    va_start(ap, fmt);
    record(fmt, ap);
    va_end(ap);
    return status;
}
