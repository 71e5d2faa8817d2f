/*
 * input: files that the person running `hoist` names (the config, release
 * notes, a public key). Unlike the daemons' own state files, these may be
 * symbolic links (~/.config/hoist/cli.conf pointing at the controller's
 * cli.conf is normal), so the path is resolved first; then the file must be
 * a regular file under a size cap. Every failure is the user's to fix, so
 * it is HOIST_ERR_USAGE (exit 2) and names the file.
 */
#ifndef HOIST_INPUT_H
#define HOIST_INPUT_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

/* Reads the regular file at PATH (symbolic links followed) of at most MAX
 * bytes into *OUT, NUL-terminated, malloc'd and the caller's; *LEN gets
 * its length. WHAT names the file in messages ("release notes"). Fails
 * with HOIST_ERR_USAGE, or HOIST_ERR_NOMEM; outputs untouched then. */
hoist_err_t input_read(const char *path, const char *what, size_t max,
                       char **out, size_t *len, hoist_error_t *err);

/* The canonical absolute path of PATH (malloc'd, the caller's), or NULL
 * with HOIST_ERR_USAGE naming WHAT when it does not exist. */
char *input_resolve(const char *path, const char *what, hoist_error_t *err);

/* Reads a value from standard input into *OUT (NUL-terminated, malloc'd,
 * the caller's) and *LEN. On a terminal: PROMPT on stderr, then one line,
 * not echoed when HIDE. Otherwise: everything up to end of file. One
 * trailing newline ("\n" or "\r\n") is dropped either way, because echo,
 * a here-string and the Enter key all add one that nobody means as part
 * of the value. Fails with HOIST_ERR_USAGE when the value is over MAX
 * bytes or cannot be read, HOIST_ERR_NOMEM; outputs untouched then. */
hoist_err_t input_read_stdin(const char *prompt, bool hide, size_t max,
                             char **out, size_t *len, hoist_error_t *err);

#endif
