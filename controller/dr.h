/*
 * dr: disaster-recovery drills and failovers, the controller's side. A
 * drill proves that the DR environment can take over from production:
 *
 *   readiness ──▶ (sync) ──▶ failover ──▶ (failback) ──▶ succeeded
 *       │            │           │ a hook or health check failed
 *       ▼            ▼           ▼
 *    refused       refused     restore (failback where failover ran)
 *                                 ──▶ failed
 *
 * readiness: every accepted agent of the target is online, runs the
 * release that runs in the source, and the app's variables are the same
 * on both sides (secrets by digest). Not ready: the drill is refused,
 * nothing run; with --sync a target one release behind is synced first.
 * failover: every target agent runs its release's `failover` hook and
 * health check (agent/drill.h); the recovery time is from the drill's
 * start to the last agent healthy. failback (--failback) runs `failback`
 * on each. A failover (`hoist failover`, the real thing) skips the veto:
 * readiness problems are warnings, and it never fails back.
 *
 * Every step on every agent is a row of the timeline (store drill steps),
 * written before the order goes out. Drills can be scheduled (--at) and
 * recur (--every); a schedule survives a restart and fires when due.
 * Events: drill.succeeded, drill.failed, drill.refused.
 */
#ifndef HOIST_DR_H
#define HOIST_DR_H

#include <stdint.h>

#include "call.h"
#include "wire.pb-c.h"

/* drill.run, drill.list, drill.show, failover. */
extern const call_command_t dr_commands[];

/* Fires due drills, follows syncs, fails hook orders past their deadline
 * (the controller's timer). NOW_MS is the wall clock in unix ms; a drill
 * due within a minute of STARTED_MS (the controller's start) waits for
 * its target's agents to reconnect first. */
void dr_tick(controller_t *ctl, int64_t now_ms, int64_t started_ms);

/* AGENT answered a hook order with R. */
void dr_on_result(controller_t *ctl, const char *agent,
                  const Hoist__HookResult *r);

#endif
