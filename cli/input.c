/*
 * input: see input.h.
 */
#include "input.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "atomicfile.h"

char *
input_resolve(const char *path, const char *what, hoist_error_t *err)
{
    char *real = realpath(path, NULL);
    if (!real) {
        error_errno(err, errno == ENOMEM ? HOIST_ERR_NOMEM : HOIST_ERR_USAGE,
                    errno, "cannot read the %s %s", what, path);
    }
    return real;
}

hoist_err_t
input_read(const char *path, const char *what, size_t max, char **out,
           size_t *len, hoist_error_t *err)
{
    char *real = input_resolve(path, what, err);
    if (!real) {
        return err ? err->code : HOIST_ERR_USAGE;
    }
    uint8_t *buf = NULL;
    size_t n = 0;
    hoist_err_t rc = atomicfile_read(real, max, &buf, &n, err);
    free(real);
    if (rc != HOIST_OK) {
        error_prefix(err, "the %s %s", what, path);
        if (err && rc != HOIST_ERR_NOMEM) {
            err->code = HOIST_ERR_USAGE;
        }
        return rc == HOIST_ERR_NOMEM ? rc : HOIST_ERR_USAGE;
    }
    *out = (char *)buf;
    *len = n;
    return HOIST_OK;
}
