/*
 * steps: the agent's deploy state machine. Pure: it takes the step that
 * is (or was, before a crash) in flight and says what comes next. The
 * install module performs the transitions; the journal records them.
 *
 *            ok          ok                   ok          ok           ok
 *   NONE ──▶ STAGE ──▶ BEFORE_ACTIVATE ──▶ SWITCH ──▶ ACTIVATE ──▶ HEALTH ──▶
 * NONE │ fail         │ fail          │ fail     │ fail        │ fail committed
 *              ▼              ▼               └──────────┴─────┬───────┘
 *            NONE (abandoned: `current` never moved)          ▼
 *                                                         ROLLBACK ──▶ NONE
 *                                                                   rolled back
 *
 * Who performs each transition (agent/install.c):
 *   NONE → STAGE                     s_install_locked (after verifying)
 *   STAGE → BEFORE_ACTIVATE          s_stage (copy, unpack, publish)
 *   BEFORE_ACTIVATE → … → HEALTH     s_go_live (hook, rename(2) of
 *                                    `current`, activate, health check)
 *   HEALTH → NONE                    s_commit
 *   any failure before SWITCH        s_abandon
 *   any failure from SWITCH on       s_rollback (s_put_back)
 *
 * After a crash, the step found in the journal decides recovery: before
 * SWITCH nothing live changed, so the half-done install is abandoned; from
 * SWITCH on `current` may point at the new release, whose health was never
 * confirmed, so the previous release is put back (ROLLBACK is idempotent
 * and simply runs again).
 */
#ifndef HOIST_STEPS_H
#define HOIST_STEPS_H

#include <stdbool.h>

#include "journal.h"

typedef enum {
    STEPS_NOTHING,  /* no step in flight */
    STEPS_ABANDON,  /* clean up the staged release; current untouched */
    STEPS_ROLLBACK, /* put the previous release back */
} steps_recovery_t;

/* The step after STEP succeeded; JOURNAL_NONE after HEALTH (committed). */
journal_step_t steps_next(journal_step_t step);

/* What a failure during STEP leads to: abandon before the switch,
 * roll back from the switch on. */
steps_recovery_t steps_on_failure(journal_step_t step);

/* What to do with a journal found holding STEP when the agent starts. */
steps_recovery_t steps_recovery(journal_step_t step);

typedef enum {
    STEPS_ADMIT,           /* go ahead and install */
    STEPS_ALREADY_CURRENT, /* this version is live: nothing to do */
    STEPS_REFUSE_APP,      /* manifest is for another app */
    STEPS_REFUSE_ENV,      /* environment not allowed by the manifest */
    STEPS_REFUSE_SEQUENCE, /* sequence below the highest made live */
    STEPS_REFUSE_KEPT,     /* that version is kept here with its own bytes */
} steps_admission_t;

/* Decides whether the release (APP, VERSION, SEQUENCE, ENV_ALLOWED) may be
 * installed over journal J for the agent's app WANT_APP. A version that is
 * kept on disk and not live is refused: versions are immutable, and
 * overwriting a kept release (the previous one, the rollback target) with
 * new bytes of the same name would lose it. */
steps_admission_t steps_admit(const journal_t *j, const char *want_app,
                              const char *app, const char *version,
                              unsigned long long sequence, bool env_allowed);

#endif
