/*
 * deployments: starting a deployment, whoever asks for it: a user's
 * deploy, rollback or promote, a scheduled promotion coming due, or a
 * release landing in an auto_deploy environment. One place decides what a
 * new deployment needs (accepted agents, no other deployment of the app
 * in that environment still running), records it with a task per agent
 * in one transaction, and hands it to the hub.
 */
#ifndef HOIST_DEPLOYMENTS_H
#define HOIST_DEPLOYMENTS_H

#include <stdint.h>

#include "controller.h"
#include "error.h"
#include "store.h"

/* How a deployment rolls out: STRATEGY overrides the shape of the
 * environment's (strategy_parse's text; NULL or "" for none), SELECTOR
 * picks agents by tag ("role=web,site=fra1"; NULL or "" for all). */
typedef struct {
    const char *strategy;
    const char *selector;
} deployments_how_t;

/* Starts a deployment of KIND of APP VERSION to every accepted agent of
 * ENV that HOW's selector picks (HOW may be NULL), created by USER, and
 * sets *ID; the rollout takes its first step at once. Refusals: USAGE
 * for a malformed strategy or selector; NOTFOUND when no accepted agent
 * of ENV is picked or the release does not exist; BUSY when a deployment
 * of APP to ENV is still running (the message names its id). */
hoist_err_t deployments_start(controller_t *ctl, const char *user,
                              const char *app, const char *version,
                              const char *env, store_deploy_kind_t kind,
                              const deployments_how_t *how, int64_t *id,
                              hoist_error_t *err);

/* Sets *ID to the running deployment of APP to ENV, or 0 when none. */
hoist_err_t deployments_running(controller_t *ctl, const char *app,
                                const char *env, int64_t *id,
                                hoist_error_t *err);

#endif
