/*
 * planner: the rollout planner. Pure code: given a strategy, the targeted
 * agents with their states, the rollout's persisted flags and the current
 * time, it says which agents to start, fail, skip or roll back, whether
 * the rollout halts, and when to ask again. No sockets, clocks or disks;
 * the caller (the rollout driver) records each decision in the store
 * before acting on it and calls again on every agent report, on every
 * `continue`/`cancel`, and at next_ms at the latest.
 *
 * A deterministic function of its inputs: a controller restarted mid-
 * rollout reloads the agents' states and gets the same plan. Agents are
 * placed in a stable order, by site and then by name (strcmp byte order,
 * no site sorting as ""), never by arrival order; the order of the input
 * array does not matter, and (site, name) pairs must be unique.
 *
 * The plan: waves, split into batches, run one batch at a time.
 *
 *     canary     wave 1 (site A)     wave 2 (site B)      leftover wave
 *   [c1 c2] ─hold─ [a1 a2][a3] ─bake─ [b1 b2][b3 b4] ─bake─ [x1]
 *      │             batch  ─bake─ batch
 *      └ then: manual waits here for `continued` once the hold is over
 *
 *  - Waves, in this order: the canary (type canary: the first `count` or
 *    percent of all agents in the stable order); then the explicit
 *    `waves` entries ({count}/{percent}: the next agents in the stable
 *    order; {site}: every remaining agent of that site; an entry that
 *    matches nobody is dropped), or with `by: site` one wave per site in
 *    site order; then one wave with every agent still unplaced.
 *  - Batches: the canary is one batch. Other waves split into batches of
 *    `batch` agents (a percent is of all targeted agents, rounded up, at
 *    least 1); without `batch` (all-at-once, canary) a wave is one batch.
 *  - Batch k is due when batch k-1 is done (no agent WAITING or RUNNING)
 *    and `bake` has passed since its last finish (after the canary: `hold`,
 *    and with then=manual also `continued`; a continue given during the
 *    hold still waits for the hold's end). Batch 0 is due at started_ms.
 *  - Starting: online WAITING agents of the due batch, in the stable
 *    order, while fewer than max_unavailable agents are RUNNING (default:
 *    the batch size; unlimited for a wave without batches). The limit
 *    applies to the canary too.
 *  - Offline: a WAITING agent that is offline while its batch is due waits
 *    until offline.wait has passed since the later of the batch's due
 *    time and offline_since_ms (so an agent down long before its turn
 *    still gets the whole wait once its turn comes); then it is FAILED or
 *    SKIPPED per offline.then. SKIPPED is not a failure and does not hold
 *    the batch back. An agent back online before that starts normally.
 *  - Progress deadline: a RUNNING agent whose last report (the later of
 *    started_ms and last_progress_ms) is progress_deadline old is FAILED
 *    ("no progress for 5m"); a ROLLING_BACK one gets ROLLBACK_FAILED. An
 *    agent that vanishes mid-batch therefore fails at its deadline and
 *    counts toward the threshold.
 *  - Halting: when FAILED agents > failure_threshold (a percent compares
 *    exactly: failed * 100 > percent * targeted, so 3 of 10 halts at 25%
 *    and 2 of 10 does not), or when any canary agent FAILED, or when every
 *    canary was skipped (nothing proved the release). A halted or
 *    cancelled rollout starts nothing, fails or skips no WAITING agent,
 *    and leaves them WAITING.
 *  - Rolling back: after a halt with auto_rollback, or a cancel with
 *    rollback, every SUCCEEDED agent is rolled back, and each RUNNING one
 *    once it reports success. FAILED agents rolled themselves back
 *    already. A canary halt thus rolls back only canaries: nothing else
 *    started.
 *  - The end, once no agent is RUNNING or ROLLING_BACK: cancelled if
 *    cancelled; after a halt rolled_back with auto_rollback unless a
 *    rollback failed, else failed; otherwise, once every batch is done,
 *    succeeded when no agent FAILED and failed when any did, even within
 *    the threshold (the threshold decides when to stop, not what to call
 *    the result). No targeted agents at all: succeeded.
 *
 * Agent states and who moves them (the caller applies each action):
 *
 *   WAITING ─START─▶ RUNNING ─report ok─▶ SUCCEEDED ─ROLLBACK─▶ ROLLING_BACK
 *      │               │ report failed ▶ FAILED                    │  │
 *      ├─FAIL (offline)│ FAIL (deadline)▶ FAILED      ROLLED_BACK ◀┘  │
 *      └─SKIP ▶ SKIPPED                        ROLLBACK_FAILED ◀──────┘
 *                                          (report failed or GIVE_UP)
 *
 * Applying an action, the caller sets started_ms and last_progress_ms to
 * now (START, ROLLBACK) or finished_ms to now (FAIL, SKIP, GIVE_UP), and
 * on every agent report last_progress_ms (and finished_ms at the end). A
 * canary that turns unhealthy during the hold is reported FAILED.
 */
#ifndef HOIST_PLANNER_H
#define HOIST_PLANNER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "strategy.h"

#define PLANNER_MAX_AGENTS   STRATEGY_MAX_COUNT
#define PLANNER_REASON_MAX   160
#define PLANNER_SELECTOR_MAX 256

typedef enum {
    PLANNER_WAITING = 0,     /* not started */
    PLANNER_RUNNING,         /* deploying */
    PLANNER_SUCCEEDED,       /* runs the new release */
    PLANNER_FAILED,          /* its deploy failed; it rolled itself back */
    PLANNER_ROLLING_BACK,    /* the planner ordered it back */
    PLANNER_ROLLED_BACK,     /* back on the release it had */
    PLANNER_ROLLBACK_FAILED, /* the ordered rollback failed or timed out */
    PLANNER_SKIPPED,         /* left out: offline past the wait */
} planner_state_t;

/* One targeted agent, as the store holds it. Selection (--only) happened
 * when the deployment was created (planner_select); the targeted set does
 * not change during a rollout. */
typedef struct {
    const char *name; /* unique */
    const char *site; /* its site tag; NULL or "" for none */
    bool online;
    uint64_t offline_since_ms; /* when it went offline (if !online) */
    planner_state_t state;
    uint64_t started_ms;       /* START or ROLLBACK applied */
    uint64_t last_progress_ms; /* its last report */
    uint64_t finished_ms;      /* it reached its current terminal state */
} planner_agent_t;

/* The rollout's own persisted state. */
typedef struct {
    uint64_t started_ms;   /* the deployment was created: batch 0 is due */
    bool halted;           /* a decision said halt_now, and it was stored */
    bool continued;        /* `hoist deployment continue` */
    uint64_t continued_ms; /* ... given at this time */
    bool cancelled;        /* `hoist deployment cancel` */
    bool cancel_with_rollback;
} planner_rollout_t;

typedef enum {
    PLANNER_DO_START,    /* WAITING → RUNNING: send the release */
    PLANNER_DO_FAIL,     /* WAITING/RUNNING → FAILED, with the reason */
    PLANNER_DO_SKIP,     /* WAITING → SKIPPED, with the reason */
    PLANNER_DO_ROLLBACK, /* SUCCEEDED → ROLLING_BACK: send the old release */
    PLANNER_DO_GIVE_UP,  /* ROLLING_BACK → ROLLBACK_FAILED, with the reason */
} planner_do_t;

typedef struct {
    size_t agent; /* index into the caller's agents */
    planner_do_t what;
    char reason[PLANNER_REASON_MAX]; /* "" for START */
} planner_action_t;

typedef enum {
    PLANNER_END_NONE = 0, /* still going */
    PLANNER_END_SUCCEEDED,
    PLANNER_END_FAILED,
    PLANNER_END_ROLLED_BACK,
    PLANNER_END_CANCELLED,
} planner_end_t;

/* What one call decided. Counts are after the actions. */
typedef struct {
    size_t nactions;       /* entries written to the caller's ACTIONS */
    bool halted;           /* halted (now or before) or cancelled */
    bool halt_now;         /* this call halts: store halted and REASON */
    char reason[256];      /* why halt_now; "" otherwise */
    bool waiting_continue; /* the canary held: waiting for `continue` */
    uint64_t next_ms;      /* call again at this time at the latest; 0: only
                              when something happens */
    planner_end_t end;
    size_t batch;    /* the batch in progress or due next; nbatches when
                        every batch is done */
    size_t nbatches; /* in the plan (the canary is batch 0) */
    size_t waiting, running, succeeded, failed, skipped;
    size_t rolling_back, rolled_back, rollback_failed;
} planner_decision_t;

/* Decides the next step of the rollout of N agents (at most
 * PLANNER_MAX_AGENTS) under strategy S, with flags R, at NOW_MS. Writes
 * at most N actions, at most one per agent, into ACTIONS (room for N,
 * owned by the caller) in plan order, and fills *OUT. Fails with
 * HOIST_ERR_LIMIT (too many agents), HOIST_ERR_USAGE (two agents with one
 * site and name) or HOIST_ERR_NOMEM, with ACTIONS and *OUT untouched. */
hoist_err_t planner_decide(const strategy_t *s, const planner_agent_t *agents,
                           size_t n, const planner_rollout_t *r,
                           uint64_t now_ms, planner_action_t *actions,
                           planner_decision_t *out, hoist_error_t *err);

/* Where an agent stands in the plan. */
typedef struct {
    size_t wave;  /* 0 is the canary when the strategy has one */
    size_t batch; /* batches count across waves */
    bool canary;
} planner_slot_t;

/* The plan of planner_decide, for display (one line per batch): fills
 * SLOTS[i] (room for N) for agent i and *NBATCHES. Fails like
 * planner_decide, with SLOTS and *NBATCHES untouched. */
hoist_err_t planner_plan(const strategy_t *s, const planner_agent_t *agents,
                         size_t n, planner_slot_t *slots, size_t *nbatches,
                         hoist_error_t *err);

/* True if TAGS ("k=v,k=v", NULL for none) has every "k=v" of SELECTOR
 * (`--only role=web,site=fra1`). A NULL or empty selector matches every
 * agent; a malformed one (see planner_selector_check) matches none. */
bool planner_select(const char *tags, const char *selector);

/* Checks SELECTOR: 1..PLANNER_SELECTOR_MAX characters, terms "k=v"
 * separated by commas, with no spaces or empty parts. Fails with
 * HOIST_ERR_USAGE naming the bad term. */
hoist_err_t planner_selector_check(const char *selector, hoist_error_t *err);

/* Lower-case names for logs and JSON ("rolling_back", "rolled_back"). */
const char *planner_state_name(planner_state_t state);
const char *planner_end_name(planner_end_t end);

#endif
