/*
 * gates: whether a release may be promoted into an environment now, and
 * if not, every reason why. Pure: the caller looks up what happened (the
 * deployments upstream, the approvals recorded, who asks) and passes it
 * in with the current time; gates_check returns the unmet gates as
 * sentences that name what is missing and what to do about it.
 *
 * The gates of a promotion of a release into ENV, in the order reported:
 *   lifecycle  ENV is in the release's lifecycle (and is not a mirror,
 *              which follows its source instead of being promoted to)
 *   upstream   the release succeeded on every agent of the environment
 *              before ENV in that lifecycle and was not rolled back since
 *              (none for the first environment)
 *   approvals  ENV's approvals.count distinct users holding exactly
 *              approvals.role approved the release for ENV
 *   window     now is inside one of ENV's windows (none: always)
 *   freeze     now is in none of ENV's freezes, unless an admin passes
 *              with --override-freeze --reason TEXT (freezes only; a
 *              closed window is never overridden)
 */
#ifndef HOIST_GATES_H
#define HOIST_GATES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "pipeline.h"
#include "rbac.h"

#define GATES_TEXT_MAX 512
/* Lifecycle, upstream, approvals, window, and one per freeze. */
#define GATES_MAX (4 + PIPELINE_MAX_FREEZES)

/* One recorded approval ("okay to release") of the release. */
typedef struct {
    const char *user;
    rbac_role_t role; /* the approver's role when approving */
    const char *env;  /* the environment it approves */
} gates_approval_t;

typedef struct {
    const char *app;       /* for the hints in messages; NULL: "APP" */
    const char *version;   /* NULL: "VERSION" */
    const char *lifecycle; /* the release's; NULL for the default */
    const char *env;       /* the target environment */
    int64_t now_ms;
    /* Whether the release succeeded on every agent of the previous
     * environment (pipeline_previous_env) and was not rolled back since;
     * ignored for the first environment. DETAIL, when not NULL, goes in
     * parentheses after the sentence ("2 of 3"). */
    bool upstream_succeeded;
    const char *upstream_detail;
    const gates_approval_t *approvals;
    size_t napprovals;
    bool override_freeze;        /* --override-freeze was given */
    const char *override_reason; /* its --reason; NULL or "" if none */
    bool requester_admin;        /* the caller may override (rbac) */
} gates_input_t;

typedef enum {
    GATES_LIFECYCLE,
    GATES_UPSTREAM,
    GATES_APPROVALS,
    GATES_WINDOW,
    GATES_FREEZE,
} gates_kind_t;

typedef struct {
    gates_kind_t kind;
    char text[GATES_TEXT_MAX];
} gates_unmet_t;

typedef struct {
    size_t count; /* 0: every gate is met */
    gates_unmet_t unmet[GATES_MAX];
    /* A freeze was in force and an admin's override passed it: the
     * caller records that in the audit log with the reason. */
    bool freeze_overridden;
} gates_result_t;

/* Checks every gate of promoting into IN->env at IN->now_ms and fills
 * *OUT with each unmet one. Returns HOIST_OK whether or not gates are
 * unmet; fails (HOIST_ERR_NOTFOUND, *OUT untouched) only when the
 * environment or the lifecycle does not exist in P. */
hoist_err_t gates_check(const pipeline_t *p, const gates_input_t *in,
                        gates_result_t *out, hoist_error_t *err);

/* Writes the unmet gates of R into BUF, one sentence a line; returns
 * BUF ("" when all gates are met). */
const char *gates_format(const gates_result_t *r, char *buf, size_t len);

#endif
