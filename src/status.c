/* status.c - status strings and the thread-local last-error message. */
#include <stdarg.h>
#include <stdio.h>

#include "internal.h"

static _Thread_local char last_error[512];

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

nn_status nn_error(nn_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return status;
}
