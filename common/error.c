/*
 * error: codes, messages and the exit codes they map to.
 */
#include "error.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static const char *s_names[HOIST_ERR__COUNT] = {
    [HOIST_OK] = "ok",
    [HOIST_ERR_USAGE] = "usage",
    [HOIST_ERR_IO] = "io",
    [HOIST_ERR_NOSPACE] = "nospace",
    [HOIST_ERR_NOMEM] = "nomem",
    [HOIST_ERR_KEY] = "key",
    [HOIST_ERR_SIGNATURE] = "signature",
    [HOIST_ERR_UNTRUSTED] = "untrusted",
    [HOIST_ERR_MANIFEST] = "manifest",
    [HOIST_ERR_DIGEST] = "digest",
    [HOIST_ERR_SIZE] = "size",
    [HOIST_ERR_APP] = "app",
    [HOIST_ERR_ENV] = "env",
    [HOIST_ERR_SEQUENCE] = "sequence",
    [HOIST_ERR_ARCHIVE] = "archive",
    [HOIST_ERR_LIMIT] = "limit",
    [HOIST_ERR_SPEC] = "spec",
    [HOIST_ERR_HOOK] = "hook",
    [HOIST_ERR_TIMEOUT] = "timeout",
    [HOIST_ERR_HEALTH] = "health",
    [HOIST_ERR_BUSY] = "busy",
    [HOIST_ERR_STATE] = "state",
    [HOIST_ERR_PROTOCOL] = "protocol",
    [HOIST_ERR_AUTH] = "auth",
    [HOIST_ERR_NOTFOUND] = "notfound",
    [HOIST_ERR_EXISTS] = "exists",
    [HOIST_ERR_GATE] = "gate",
};

const char *
hoist_strerror(hoist_err_t code)
{
    if ((unsigned)code >= HOIST_ERR__COUNT) {
        return "unknown";
    }
    return s_names[code];
}

hoist_err_t
error_set(hoist_error_t *err, hoist_err_t code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        err->code = code;
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

hoist_err_t
error_errno(hoist_error_t *err, hoist_err_t code, int errnum, const char *fmt,
            ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        err->code = code;
        int n = vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < sizeof err->msg) {
            snprintf(err->msg + n, sizeof err->msg - (size_t)n, ": %s",
                     strerror(errnum));
        }
    }
    return code;
}

void
error_prefix(hoist_error_t *err, const char *fmt, ...)
{
    if (!err) {
        return;
    }
    char head[512];
    char old[sizeof err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(head, sizeof head, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    if (snprintf(err->msg, sizeof err->msg, "%s: %s", head, old) >=
        (int)sizeof err->msg) {
        /* Cut: the head and the start of the cause matter most. */
        err->msg[sizeof err->msg - 1] = '\0';
    }
}

hoist_err_t
error_from_errno(int errnum)
{
    switch (errnum) {
    case ENOSPC:
    case EDQUOT:
    case EFBIG:
        return HOIST_ERR_NOSPACE;
    case ENOMEM:
        return HOIST_ERR_NOMEM;
    default:
        return HOIST_ERR_IO;
    }
}

int
error_exit_code(hoist_err_t code)
{
    switch (code) {
    case HOIST_OK:
        return 0;
    case HOIST_ERR_USAGE:
    case HOIST_ERR_KEY:
    case HOIST_ERR_SIGNATURE:
    case HOIST_ERR_UNTRUSTED:
    case HOIST_ERR_MANIFEST:
    case HOIST_ERR_DIGEST:
    case HOIST_ERR_SIZE:
    case HOIST_ERR_APP:
    case HOIST_ERR_ENV:
    case HOIST_ERR_SEQUENCE:
    case HOIST_ERR_ARCHIVE:
    case HOIST_ERR_LIMIT:
    case HOIST_ERR_SPEC:
    case HOIST_ERR_NOTFOUND:
    case HOIST_ERR_EXISTS:
        return 2;
    case HOIST_ERR_AUTH:
        return 3;
    case HOIST_ERR_GATE:
        return 4;
    default:
        return 1;
    }
}
