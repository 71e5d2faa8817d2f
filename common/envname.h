/*
 * envname: which names a deploy variable may have. A variable becomes an
 * environment variable of the release's hooks and health checks, set by
 * whoever may run `hoist vars set` (an operator, say), while the hooks
 * themselves come signed inside the artifact. So a name must not change
 * what those signed commands are: not the hooks' own HOIST_* variables,
 * not the dynamic loader's (LD_*, and the other names glibc distrusts for
 * set-uid programs), not the shell's start-up and parsing (BASH_ENV, ENV,
 * SHELLOPTS, BASHOPTS, IFS, PS4). The controller checks at `vars set`, the
 * agent again for every order.
 */
#ifndef HOIST_ENVNAME_H
#define HOIST_ENVNAME_H

#include "error.h"

#define ENVNAME_MAX 64 /* characters */

/* HOIST_OK when KEY is [A-Z_][A-Z0-9_]{0,63} and not reserved; else
 * HOIST_ERR_USAGE with a sentence saying which rule it breaks. */
hoist_err_t envname_check(const char *key, hoist_error_t *err);

#endif
