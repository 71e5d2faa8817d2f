/*
 * drill: the agent's side of DR drills and failovers. The controller
 * sends a HookOrder{drill, app, hook, health}; the agent runs the deploy
 * spec's `failover` or `failback` hook of APP's current release, in that
 * release's directory, as the hook user, with the hook time limit and
 * the install's HOIST_* environment plus HOIST_DRILL=<id> and
 * HOIST_HOOK=<hook>; then, when asked, the release's health check. It
 * answers HookResult{outcome, message, live, hook_ms, health_ms}:
 *
 *   ok          the hook (and health check) passed
 *   failed      the hook or the health check failed; message says which,
 *               with the hook's output tail
 *   no-hook     the release has no such hook; the health check, if asked,
 *               passed (it failing is `failed`). The controller decides
 *               whether a missing hook is fine.
 *   no-release  APP has no current release on this machine
 *   busy        an install (or another hook order) is running
 *
 * It never touches `current` or the journal: it reads the journal to
 * find the release, under the root's install lock (ROOT/.lock), which it
 * holds while the hook runs so that no install (the daemon's or
 * `hoist-agent install`) switches the release underneath it.
 *
 * The hook and the health check block for minutes, so they run in a
 * forked child that reports one HookResult over a pipe (order.h's
 * framing) and dies with the daemon (PR_SET_PDEATHSIG). One order runs
 * at a time. The daemon keeps the last DRILL_KEPT_MAX results that ran
 * (ok, failed, no-hook) by (drill, app, hook): the same order again is
 * answered from there, never run twice, so a controller may send an
 * unanswered order again after a reconnection. busy and no-release are
 * not kept: asking again later is the way past them.
 *
 * The module sends through the daemon's callback and owns no socket.
 */
#ifndef HOIST_DRILL_H
#define HOIST_DRILL_H

#include <stdbool.h>
#include <stdint.h>

#include <czmq.h>

#include "envelope.h"
#include "error.h"

#define DRILL_KEPT_MAX     16
#define DRILL_MESSAGE_MAX  4096 /* bytes of HookResult.message */
#define DRILL_OUTPUT_LINES 20   /* of the hook's output, at most */
#define DRILL_HOOK_MAX     16   /* bytes of a hook name */

typedef enum {
    DRILL_OK,
    DRILL_FAILED,
    DRILL_NO_HOOK,
    DRILL_NO_RELEASE,
    DRILL_BUSY,
} drill_outcome_t;

/* "ok", "failed", "no-hook", "no-release", "busy". */
const char *drill_outcome_name(drill_outcome_t outcome);

/* True for the hooks a HookOrder may name: "failover", "failback". */
bool drill_hook_valid(const char *hook);

/* The outcome of a run, pure: HAS_HOOK says whether the release has the
 * hook and HOOK_RC how it ended (ignored without one); HEALTH_ASKED
 * whether the order wanted the health check, HEALTH_RC how it ended
 * (ignored when it was not run: not asked, or the hook failed). */
drill_outcome_t drill_decide(bool has_hook, hoist_err_t hook_rc,
                             bool health_asked, hoist_err_t health_rc);

typedef struct {
    const char *root;
    const char *env;
    const char *hook_user; /* NULL: hooks run as the agent's user */
    zloop_t *loop;         /* watches the child's pipe */
    /* Sends E to the controller now; anything but HOIST_OK means it was
     * not sent (the controller asks again; the result is kept). */
    hoist_err_t (*send)(void *arg, envelope_t *e);
    void *arg;
} drill_ctx_t;

typedef struct drill drill_t;

/* The daemon's hook runner for CTX (copied; the strings and the loop must
 * outlive it). NULL when out of memory. The result belongs to the
 * caller. */
drill_t *drill_new(const drill_ctx_t *ctx);

/* Kills a running hook process (SIGKILL; the hook's own process group
 * dies with it), waits for it, frees *P and sets it to NULL. Accepts
 * NULL. */
void drill_destroy(drill_t **p);

/* Hooks started from now on run as USER (NULL: the agent's user; the
 * string must outlive the runner). A running hook keeps its user. */
void drill_set_hook_user(drill_t *d, const char *user);

/* A HookOrder H arrived in an Envelope of id ID. BUSY is NULL, or why
 * the agent cannot run a hook now (an install runs: "busy with
 * deployment 7"). Answers at once (a kept result, busy, a malformed
 * order), ignores the order that is running already, or starts the
 * child; the HookResult echoes ID. */
void drill_on_order(drill_t *d, uint64_t id, const Hoist__HookOrder *h,
                    const char *busy);

/* True while a hook process has not reported. */
bool drill_running(const drill_t *d);

/* What runs, for messages ("drill 4: failover of web"); "" when
 * nothing does. Points into D. */
const char *drill_running_what(const drill_t *d);

/* Reaps a child whose pipe closed; reports one that ended without a
 * result as failed. */
void drill_tick(drill_t *d);

#endif
