/*
 * promotion: moving a release up its lifecycle. `hoist approve` records
 * QA's "okay to release"; `hoist promote` checks every gate (gates.h)
 * against what the store holds (deployments upstream, approvals) and the
 * pipeline in force, then starts a deployment, or schedules one with
 * --at; `hoist schedule list|cancel` manage the queue, and the controller's
 * timer fires what is due (gates checked again) through promotion_tick.
 * A release created lands at once in the auto_deploy environments of its
 * lifecycle (promotion_on_release).
 */
#ifndef HOIST_PROMOTION_H
#define HOIST_PROMOTION_H

#include <stdint.h>

#include "call.h"

/* promote, approve, schedule.list, schedule.cancel. */
extern const call_command_t promotion_commands[];

/* Fires every pending schedule due at NOW_MS (wall clock, unix ms): its
 * gates are checked again, then it starts a deployment or is refused;
 * both are recorded. A schedule due before STARTED_MS (when this
 * controller started) came due while it was down: its note says so. */
void promotion_tick(controller_t *ctl, int64_t now_ms, int64_t started_ms);

/* Starts deployments of the new release APP VERSION (lifecycle
 * LIFECYCLE, "" for the default) in every auto_deploy environment of its
 * lifecycle, as USER. Says what it did in C's reply. */
void promotion_on_release(call_t *c, const char *app, const char *version,
                          const char *lifecycle);

/* Adds to C's reply where release APP VERSION has been (its deployments,
 * oldest first) and the approvals it has, with their comments. */
void promotion_show(call_t *c, const char *app, const char *version);

#endif
