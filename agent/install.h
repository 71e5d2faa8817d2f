/*
 * install: drives the deploy steps for one release on this machine:
 * verify, unpack, before_activate, switch, activate, health check, commit,
 * and rollback when a step after the switch fails. The decisions are in
 * steps.h; this module does the I/O, journaling each step first.
 *
 * This is the agent's deploy core: `hoist-agent install` calls it
 * directly (the air-gapped path) and the daemon will call it for each
 * deploy order. It blocks (hooks, health checks); a daemon runs it off its
 * event loop.
 */
#ifndef HOIST_INSTALL_H
#define HOIST_INSTALL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "envname.h"
#include "error.h"
#include "keys.h"
#include "manifest.h"
#include "unpack.h"

/* A variable the hooks get (`hoist vars set`, carried by the deploy
 * order; a secret arrives sealed and is opened before it gets here). */
typedef struct {
    const char *key;   /* [A-Z_][A-Z0-9_]{0,63}, not HOIST_* */
    const char *value; /* LEN bytes, no NUL among them, NUL-terminated */
    size_t len;
} install_var_t;

#define INSTALL_VARS_MAX      256 /* variables of one order */
#define INSTALL_VAR_KEY_MAX   ENVNAME_MAX
#define INSTALL_VAR_VALUE_MAX (64 * 1024)
#define INSTALL_VARS_FILE     ".hoist/env" /* in the release directory */

typedef struct {
    const char *root;             /* the agent's root directory */
    const char *env;              /* environment this machine serves */
    const char *app;              /* expected app, or NULL for any */
    const keys_public_t *trusted; /* release keys this machine trusts */
    size_t n_trusted;
    const char *hook_user; /* run hooks as this user; NULL = self */
    size_t keep;           /* releases kept on disk, >= 2 */
    unpack_limits_t limits;
    /* Called with STEP_ARG as each step starts: "verify", "stage",
     * "before_activate", "switch", "activate", "health", and "rollback"
     * when a failure puts the previous release back. NULL for none. */
    void (*on_step)(void *step_arg, const char *step);
    void *step_arg;
    /* The variables of the release being made live, N_VARS of them (NULL
     * for none): in every hook's and health command's environment, before
     * the HOIST_* ones, which they cannot override, and written to
     * INSTALL_VARS_FILE in the release (0600, owned by the hook user) as
     * KEY='VALUE' lines before before_activate; the file is rewritten, so
     * it holds exactly the variables the release was last made live
     * with. Values may be secrets: the module never logs them, and wipes
     * its own copies. */
    const install_var_t *vars;
    size_t n_vars;
} install_opts_t;

/* Defaults: keep 5, unpack_limits_default, everything else unset. */
void install_opts_default(install_opts_t *o);

/* True when KEY may name a variable (envname_check: [A-Z_][A-Z0-9_]{0,63},
 * not HOIST_*, not a loader's or shell's variable). Pure. */
bool install_var_key_valid(const char *key);

/* HOIST_OK when the N variables VARS may be given to hooks: at most
 * INSTALL_VARS_MAX, each key valid and used once, each value at most
 * INSTALL_VAR_VALUE_MAX bytes without a NUL. HOIST_ERR_USAGE or
 * HOIST_ERR_LIMIT naming the variable (never its value) otherwise. Pure. */
hoist_err_t install_vars_check(const install_var_t *vars, size_t n,
                               hoist_error_t *err);

/* Writes the N variables VARS to BUF as the lines of INSTALL_VARS_FILE,
 * KEY='VALUE' with each ' written as '\'' so that `. .hoist/env` in a
 * shell gives back the exact bytes. Returns the length the text has
 * (without the terminating NUL), as snprintf does: BUF (SIZE bytes) holds
 * it all when that is below SIZE. Pure. */
size_t install_vars_format(const install_var_t *vars, size_t n, char *buf,
                           size_t size);

typedef enum {
    INSTALL_INSTALLED,   /* new release live and healthy */
    INSTALL_ALREADY,     /* that version was already live */
    INSTALL_REJECTED,    /* refused before anything changed */
    INSTALL_ABANDONED,   /* failed before the switch; old release untouched */
    INSTALL_ROLLED_BACK, /* failed after the switch; previous put back */
} install_outcome_t;

typedef struct {
    install_outcome_t outcome;
    char app[MANIFEST_NAME_MAX + 1];
    char version[MANIFEST_VERSION_MAX + 1];
    char live[MANIFEST_VERSION_MAX + 1]; /* live version afterwards */
    char failed_step[32];                /* "" unless it failed */
    char output[4096]; /* end of the failing hook's output, control
                          characters replaced; "" when none */
} install_report_t;

/* Installs the release described by the manifest file at MANIFEST_PATH
 * with the artifact at ARTIFACT_PATH. Returns HOIST_OK when it is live and
 * healthy (or already was). Otherwise ERR says what failed and, for a hook
 * or health check, ends with the tail of its output; REP (if not NULL)
 * says how far it got. Rejections (error_exit_code 2) leave nothing under
 * releases/ and `current` untouched. */
hoist_err_t install_release(const install_opts_t *o, const char *manifest_path,
                            const char *artifact_path, install_report_t *rep,
                            hoist_error_t *err);

/* Makes a kept release of the manifest's app live again: the release the
 * manifest at MANIFEST_PATH names must be kept on disk, in the journal's
 * history (it was verified when it was installed, and a version's bytes
 * never change); usually the previous release, but any kept one will do. The
 * manifest is verified like an install's (signature, app, environment; its
 * build sequence may be below the highest, that being the point of a rollback),
 * then the release goes through before_activate, switch, activate, health and
 * commit as in an install, with the same rollback if a step after the switch
 * fails. Nothing is unpacked. Returns HOIST_OK when it is live and healthy (REP
 * outcome INSTALLED) or already was (ALREADY). A version that is not kept
 * is HOIST_ERR_NOTFOUND with outcome REJECTED. Whatever fails, the kept
 * release stays on disk: the journal marks it pending_kept. */
hoist_err_t install_rollback(const install_opts_t *o, const char *manifest_path,
                             install_report_t *rep, hoist_error_t *err);

/* Finishes or undoes every step left in flight under ROOT by a crash
 * (see steps.h). *RECOVERED (if not NULL) gets the number of apps that
 * needed it. */
hoist_err_t install_recover(const install_opts_t *o, int *recovered,
                            hoist_error_t *err);

/* Prints one line per app under ROOT: app, live, previous, step. */
hoist_err_t install_status(const char *root, FILE *out, hoist_error_t *err);

const char *install_outcome_name(install_outcome_t outcome);

/* The exit code of DESIGN.md for an install that returned RC with REP:
 * 0 done, 2 refused before anything changed, 1 otherwise (whatever the
 * cause's code: once something changed, it is not "bad input"). */
int install_exit_code(hoist_err_t rc, const install_report_t *rep);

#endif
