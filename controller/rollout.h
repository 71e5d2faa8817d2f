/*
 * rollout: drives a deployment across its agents. The decisions are the
 * planner's (planner.h, pure); this module is their I/O: it reads the
 * deployment, its tasks and its agents from the store, asks the planner
 * what to do now, records every action in the store (committed before it
 * is acted on) and then acts: an order to an agent through the hub, a
 * task failed or skipped, the deployment halted or ended.
 *
 * It runs on every report of an agent (the hub calls it), on `hoist
 * deployment cancel|continue`, and on the controller's timer, which is
 * what lets deadlines, bake and hold times and offline waits pass. Since
 * the plan is a function of what the store holds, a controller restarted
 * mid-rollout carries on with the same plan.
 *
 * The strategy is the environment's in the pipeline in force, with the
 * deployment's own override (--strategy) for its shape.
 */
#ifndef HOIST_ROLLOUT_H
#define HOIST_ROLLOUT_H

#include <stdint.h>

#include "call.h"
#include "controller.h"
#include "error.h"
#include "strategy.h"

/* Decides and applies the next step of deployment ID at NOW_MS (wall
 * clock, unix ms). A deployment that ended is left alone. Errors are the
 * store's; what was applied before one stays applied. */
hoist_err_t rollout_step(controller_t *ctl, int64_t id, int64_t now_ms,
                         hoist_error_t *err);

/* Steps every running deployment (the controller's timer). */
void rollout_tick(controller_t *ctl, int64_t now_ms);

/* The strategy of a deployment into ENV with override OVERRIDE (NULL or
 * "" for none) into *OUT. USAGE for a malformed override. */
hoist_err_t rollout_strategy(controller_t *ctl, const char *env,
                             const char *override, strategy_t *out,
                             hoist_error_t *err);

/* Adds to JSON what `deployment show` tells of D's rollout: strategy (one
 * line), selector, halted, halt_reason, waiting_continue, batch,
 * nbatches, and "plan": agent -> {batch, canary}. */
hoist_err_t rollout_describe(controller_t *ctl, const store_deployment_t *d,
                             json_t *json, hoist_error_t *err);

/* deployment.cancel and deployment.continue. */
extern const call_command_t rollout_commands[];

#endif
