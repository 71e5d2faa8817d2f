/*
 * envname: see envname.h.
 */
#include "envname.h"

#include <stdbool.h>
#include <string.h>

/* Names that change how a signed command runs rather than what it is
 * told: the shell's start-up and parsing, and glibc's "unsecure" list. */
static const char *const s_reserved[] = {
    "BASH_ENV",    "ENV",         "SHELLOPTS",        "BASHOPTS",
    "IFS",         "PS4",         "GCONV_PATH",       "GETCONF_DIR",
    "HOSTALIASES", "LOCALDOMAIN", "LOCPATH",          "MALLOC_TRACE",
    "NIS_PATH",    "NLSPATH",     "RESOLV_HOST_CONF", "RES_OPTIONS",
    NULL};

hoist_err_t
envname_check(const char *key, hoist_error_t *err)
{
    size_t n = strlen(key);
    bool ok = n >= 1 && n <= ENVNAME_MAX && !(key[0] >= '0' && key[0] <= '9') &&
              strspn(key, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") == n;
    if (!ok) {
        return error_set(err, HOIST_ERR_USAGE,
                         "'%.80s' cannot name a variable: use A-Z, 0-9 and _, "
                         "not starting with a digit, at most %d characters "
                         "(DB_URL, API_TOKEN)",
                         key, ENVNAME_MAX);
    }
    if (strncmp(key, "HOIST_", 6) == 0) {
        return error_set(err, HOIST_ERR_USAGE,
                         "%s: names starting with HOIST_ are the hooks' own "
                         "variables (HOIST_APP, HOIST_VERSION, ...); choose "
                         "another name",
                         key);
    }
    bool reserved = strncmp(key, "LD_", 3) == 0;
    for (size_t i = 0; !reserved && s_reserved[i]; i++) {
        reserved = strcmp(key, s_reserved[i]) == 0;
    }
    if (reserved) {
        return error_set(err, HOIST_ERR_USAGE,
                         "%s would change how the release's signed hooks run "
                         "(the loader's or the shell's own variable), so it "
                         "cannot be set with hoist vars",
                         key);
    }
    return HOIST_OK;
}
