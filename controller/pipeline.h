/*
 * pipeline: the declarative pipeline file of `hoist apply FILE` and
 * `hoist export` (DESIGN.md, "The pipeline file"): environments with their
 * policy, the lifecycles that order them, and notification targets.
 *
 *   timezone: Europe/Berlin        # default of windows and freezes; UTC
 *   lifecycles:                    # name -> ordered environments
 *     default: [dev, qa, staging, production]   # the first is the default
 *     hotfix:  [dev, staging, production]
 *   environments:
 *     NAME:                        # [a-z0-9][a-z0-9._-]{0,63}
 *       tags: {kind: cloud|on-prem, site: fra1, ...}
 *       auto_deploy: true|false
 *       approvals: {count: 1..16, role:
 * admin|release-manager|qa|operator|viewer} windows: [{days: [mon..sun], from:
 * "09:00", to: "16:00", tz: ZONE}] freezes: [{from: 2026-12-20, to: 2027-01-04,
 * reason: TEXT, tz: ZONE}] mirror: ENV                # gets what succeeds in
 * ENV (the dr rung) notify: [{command: /abs/path}] strategy, failure_threshold,
 * auto_rollback, progress_deadline, offline                    # read by
 * controller/strategy.h notify: [{command: /abs/path}] # every event, as JSON
 * on stdin
 *
 * Decisions where DESIGN.md is silent:
 *   - Without `lifecycles` (or with an empty one) there is one lifecycle,
 *     "default": every environment that is not a mirror, in file order.
 *     `hoist export` always writes the lifecycles out.
 *   - An environment appears at most once per lifecycle, in any number of
 *     lifecycles, or in none. A mirror is in no lifecycle: it follows its
 *     source, and cannot auto_deploy either.
 *   - `mirror` names another environment that is not itself a mirror (no
 *     chains). Several environments may mirror the same one.
 *   - `timezone` defaults to UTC. A window's or freeze's `tz` defaults to
 *     it; export leaves out a `tz` equal to it.
 *   - `days` defaults to every day; `from` and `to` are required and must
 *     differ (`to` before `from` spans midnight). A freeze needs `from`,
 *     `to` (not before `from`) and a `reason`.
 *   - `approvals` needs both count and role; only approvals by that role
 *     count (gates.h).
 *   - A notify `command` is an absolute path to a program, run without a
 *     shell, so it takes no arguments and holds no whitespace.
 *   - `kind` in tags is cloud or on-prem; other tags are free text.
 *
 * Any error refuses the whole file with one message naming the file, the
 * line and the dotted key: "pipeline.yml:12: key
 * 'environments.production.windows[0].from': expected HH:MM, got '9am'".
 */
#ifndef HOIST_PIPELINE_H
#define HOIST_PIPELINE_H

#include <stdbool.h>
#include <stddef.h>

#include "calendar.h"
#include "error.h"
#include "rbac.h"
#include "strategy.h"

#define PIPELINE_MAX_BYTES      (1024 * 1024) /* of the file */
#define PIPELINE_MAX_ENVS       64
#define PIPELINE_MAX_LIFECYCLES 16
#define PIPELINE_MAX_WINDOWS    16  /* per environment */
#define PIPELINE_MAX_FREEZES    16  /* per environment */
#define PIPELINE_MAX_NOTIFY     16  /* per environment, and at the top */
#define PIPELINE_MAX_TAGS       16  /* per environment */
#define PIPELINE_MAX_APPROVALS  16  /* the highest approvals.count */
#define PIPELINE_NAME_MAX       64  /* characters of a name or a tag key */
#define PIPELINE_TAG_MAX        128 /* characters of a tag value */
#define PIPELINE_COMMAND_MAX    255 /* characters of a notify command */

typedef struct {
    char key[PIPELINE_NAME_MAX + 1];
    char value[PIPELINE_TAG_MAX + 1];
} pipeline_tag_t;

typedef struct {
    char command[PIPELINE_COMMAND_MAX + 1]; /* an absolute path */
} pipeline_notify_t;

typedef struct {
    char name[PIPELINE_NAME_MAX + 1];
    char mirror[PIPELINE_NAME_MAX + 1]; /* the env it mirrors, or "" */
    size_t ntags;
    pipeline_tag_t tags[PIPELINE_MAX_TAGS]; /* in file order */
    bool auto_deploy;
    bool sync_manual;          /* a mirror synced by `hoist dr sync` only */
    unsigned approvals;        /* how many are needed; 0 for none */
    rbac_role_t approval_role; /* whose approvals count (when approvals) */
    size_t nwindows;           /* 0: deploys at any time */
    calendar_window_t windows[PIPELINE_MAX_WINDOWS];
    size_t nfreezes;
    calendar_freeze_t freezes[PIPELINE_MAX_FREEZES];
    size_t nnotify;
    pipeline_notify_t notify[PIPELINE_MAX_NOTIFY];
    strategy_t rollout; /* strategy_default(name) plus the file's keys */
} pipeline_env_t;

typedef struct {
    char name[PIPELINE_NAME_MAX + 1];
    size_t count; /* at least 1 */
    char envs[PIPELINE_MAX_ENVS][PIPELINE_NAME_MAX + 1];
} pipeline_lifecycle_t;

/* A whole pipeline file, validated: every name it uses exists. */
typedef struct pipeline {
    char timezone[CALENDAR_TZ_MAX];
    size_t nenvs;
    pipeline_env_t envs[PIPELINE_MAX_ENVS]; /* in file order */
    size_t nlifecycles;                     /* the first is the default */
    pipeline_lifecycle_t lifecycles[PIPELINE_MAX_LIFECYCLES];
    size_t nnotify;
    pipeline_notify_t notify[PIPELINE_MAX_NOTIFY];
} pipeline_t;

/* Parses and validates LEN bytes of BUF (at most PIPELINE_MAX_BYTES).
 * NAME starts every message ("pipeline.yml:12: ..."). An empty file is an
 * empty pipeline (no environments). Returns a pipeline owned by the caller
 * (pipeline_destroy), or NULL with HOIST_ERR_USAGE (HOIST_ERR_NOMEM) and
 * one message; nothing of a refused file is returned. */
pipeline_t *pipeline_load(const char *buf, size_t len, const char *name,
                          hoist_error_t *err);

/* Frees *P and sets it to NULL. Accepts NULL. */
void pipeline_destroy(pipeline_t **p);

/* Writes P as YAML (libyaml's emitter: block style, keys in a fixed
 * order, only values that differ from the defaults) into *YAML_OUT, a
 * NUL-terminated buffer of *LEN bytes that the caller frees.
 * pipeline_load of the text gives a pipeline equal to P, and exporting
 * that gives the same bytes. HOIST_ERR_NOMEM on failure. */
hoist_err_t pipeline_export(const pipeline_t *p, char **yaml_out, size_t *len,
                            hoist_error_t *err);

/* True when A and B mean the same pipeline, orders included. */
bool pipeline_equal(const pipeline_t *a, const pipeline_t *b);

/* The environment NAME, or NULL. Points into P. */
const pipeline_env_t *pipeline_env(const pipeline_t *p, const char *name);

/* The lifecycle NAME, the default one when NAME is NULL, or NULL when
 * there is no such lifecycle. Points into P. */
const pipeline_lifecycle_t *pipeline_lifecycle(const pipeline_t *p,
                                               const char *name);

/* The position of ENV in LC, or -1 when it is not there. */
int pipeline_lifecycle_index(const pipeline_lifecycle_t *lc, const char *env);

/* Sets *PREV to the environment before ENV in LIFECYCLE (NULL for the
 * default), or to NULL when ENV comes first. Fails with HOIST_ERR_NOTFOUND
 * when the lifecycle does not exist or ENV is not in it, saying which.
 * *PREV points into P. */
hoist_err_t pipeline_previous_env(const pipeline_t *p, const char *lifecycle,
                                  const char *env, const char **prev,
                                  hoist_error_t *err);

/* The environment that ENV mirrors (production for dr), or NULL when ENV
 * is not a mirror or does not exist. Points into P. */
const char *pipeline_mirror_of(const pipeline_t *p, const char *env);

/* Fills OUT with up to MAX environments that mirror ENV, in file order,
 * and returns how many there are. The names point into P. */
size_t pipeline_mirrors(const pipeline_t *p, const char *env, const char **out,
                        size_t max);

/* The value of tag KEY of E, or NULL. Points into E. */
const char *pipeline_env_tag(const pipeline_env_t *e, const char *key);

/* True when NAME matches [a-z0-9][a-z0-9._-]{0,63}: environment,
 * lifecycle and tag key names. */
bool pipeline_name_valid(const char *name);

#endif
