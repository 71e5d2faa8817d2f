/*
 * error: the one error vocabulary of Hoist.
 *
 * Every expected failure is a hoist_err_t code plus a sentence that names
 * what was wrong and, where there is one, what to do. The sentence gains
 * context on its way up (error_prefix), RAUC style, so the user reads
 * "install web 1.2.0: verify: artifact digest mismatch ...". The codes are
 * stable: the wire protocol mirrors them.
 */
#ifndef HOIST_ERROR_H
#define HOIST_ERROR_H

#include <stdarg.h>

typedef enum {
    HOIST_OK = 0,
    HOIST_ERR_USAGE,     /* bad command line or argument */
    HOIST_ERR_IO,        /* the file system refused */
    HOIST_ERR_NOSPACE,   /* disk full or quota exceeded */
    HOIST_ERR_NOMEM,     /* out of memory */
    HOIST_ERR_KEY,       /* missing, malformed or exposed key file */
    HOIST_ERR_SIGNATURE, /* signature missing, malformed or not matching */
    HOIST_ERR_UNTRUSTED, /* signed by a key we do not trust */
    HOIST_ERR_MANIFEST,  /* manifest malformed or inconsistent */
    HOIST_ERR_DIGEST,    /* artifact bytes do not match the manifest */
    HOIST_ERR_SIZE,      /* artifact size does not match the manifest */
    HOIST_ERR_APP,       /* manifest is for another app */
    HOIST_ERR_ENV,       /* environment not allowed by the manifest */
    HOIST_ERR_SEQUENCE,  /* build sequence below the highest installed */
    HOIST_ERR_ARCHIVE,   /* archive malformed or unsafe */
    HOIST_ERR_LIMIT,     /* a size, count or ratio cap was exceeded */
    HOIST_ERR_SPEC,      /* deploy spec (hoist.yml) invalid */
    HOIST_ERR_HOOK,      /* a hook exited non-zero */
    HOIST_ERR_TIMEOUT,   /* a hook or a check ran out of time */
    HOIST_ERR_HEALTH,    /* the health check failed */
    HOIST_ERR_BUSY,      /* another operation holds the lock */
    HOIST_ERR_STATE,     /* on-disk state is malformed */
    HOIST_ERR_PROTOCOL,  /* a peer sent a malformed or out-of-place message */
    HOIST_ERR_AUTH,      /* refused by authentication or authorization */
    HOIST_ERR_NOTFOUND,  /* the named thing does not exist */
    HOIST_ERR_EXISTS,    /* the named thing exists already */
    HOIST_ERR_GATE,      /* refused by a promotion gate (exit 4) */
    HOIST_ERR__COUNT
} hoist_err_t;

/* An error code with its message. Functions that can fail take a
 * hoist_error_t * (which may be NULL) and fill it only on failure. */
typedef struct {
    hoist_err_t code;
    char msg[2048];
} hoist_error_t;

/* Short stable name of a code ("digest", "signature"); never NULL. */
const char *hoist_strerror(hoist_err_t code);

/* Sets err (if not NULL) to code and the formatted message; returns code so
 * that callers can write `return error_set(err, ...)`. */
hoist_err_t error_set(hoist_error_t *err, hoist_err_t code, const char *fmt,
                      ...) __attribute__((format(printf, 3, 4)));

/* Like error_set with the text of errno appended: "open x: No such file". */
hoist_err_t error_errno(hoist_error_t *err, hoist_err_t code, int errnum,
                        const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Puts "CONTEXT: " in front of the message already in err; keeps code. */
void error_prefix(hoist_error_t *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The code an I/O errno maps to: ENOSPC, EDQUOT and EFBIG (a file size
 * limit) are NOSPACE, ENOMEM is NOMEM, the rest IO. */
hoist_err_t error_from_errno(int errnum);

/* The process exit code of DESIGN.md for an error code: 2 for rejected
 * input, 1 for an operation that ran and failed. */
int error_exit_code(hoist_err_t code);

#endif
