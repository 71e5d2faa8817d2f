/*
 * hooks: runs one deploy-spec command (`/bin/sh -c CMD`) in a release
 * directory with a time limit, as a configured user, with the HOIST_*
 * variables in a clean environment, and keeps the end of its output.
 *
 * The child gets its own process group; on timeout the whole group is
 * killed (SIGTERM, then SIGKILL after a grace period), so a hook that forks
 * a daemon which keeps the pipe open cannot hang the agent.
 */
#ifndef HOIST_HOOKS_H
#define HOIST_HOOKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

typedef struct {
    const char *command;    /* shell command line */
    const char *dir;        /* working directory */
    const char *const *env; /* extra "KEY=VALUE" entries, NULL-terminated,
                               or NULL */
    const char *user;       /* run as this user (needs root), NULL = self */
    uint64_t timeout_ms;    /* 0 = the default of 5 minutes */
    size_t output_max;      /* bytes of output kept, 0 = 64 KiB */
} hooks_cmd_t;

typedef struct {
    int exit_code;  /* exit status, or -1 when killed by a signal */
    int signal;     /* the signal that ended it, or 0 */
    bool timed_out; /* killed because the time limit passed */
    char *output;   /* the last output_max bytes of stdout+stderr,
                       NUL-terminated; owned by the result */
    size_t output_len;
    bool truncated; /* earlier output was dropped */
} hooks_result_t;

/* Runs CMD and waits for it. Returns HOIST_OK when it exited 0;
 * HOIST_ERR_HOOK when it exited non-zero or died of a signal;
 * HOIST_ERR_TIMEOUT when it ran out of time; HOIST_ERR_IO/USAGE when it
 * could not be started (unknown user, missing directory). RES, if not NULL,
 * is filled in every case where the command ran; free it with
 * hooks_result_clear. */
hoist_err_t hooks_run(const hooks_cmd_t *cmd, hooks_result_t *res,
                      hoist_error_t *err);

/* Frees what RES owns and zeroes it. Accepts a zeroed result. */
void hooks_result_clear(hooks_result_t *res);

/* Returns a pointer to at most the last N lines of RES's output (inside
 * RES's buffer), for error messages. "" when there is none. */
const char *hooks_result_tail(const hooks_result_t *res, int lines);

#endif
