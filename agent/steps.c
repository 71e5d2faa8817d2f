/*
 * steps: see steps.h for the diagram.
 */
#include "steps.h"

#include <string.h>

journal_step_t
steps_next(journal_step_t step)
{
    switch (step) {
    case JOURNAL_NONE:
        return JOURNAL_STAGE;
    case JOURNAL_STAGE:
        return JOURNAL_BEFORE_ACTIVATE;
    case JOURNAL_BEFORE_ACTIVATE:
        return JOURNAL_SWITCH;
    case JOURNAL_SWITCH:
        return JOURNAL_ACTIVATE;
    case JOURNAL_ACTIVATE:
        return JOURNAL_HEALTH;
    case JOURNAL_HEALTH:
    case JOURNAL_ROLLBACK:
        return JOURNAL_NONE;
    }
    return JOURNAL_NONE;
}

steps_recovery_t
steps_on_failure(journal_step_t step)
{
    switch (step) {
    case JOURNAL_NONE:
        return STEPS_NOTHING;
    case JOURNAL_STAGE:
    case JOURNAL_BEFORE_ACTIVATE:
        return STEPS_ABANDON;
    case JOURNAL_SWITCH:
    case JOURNAL_ACTIVATE:
    case JOURNAL_HEALTH:
    case JOURNAL_ROLLBACK:
        return STEPS_ROLLBACK;
    }
    return STEPS_ROLLBACK;
}

steps_recovery_t
steps_recovery(journal_step_t step)
{
    /* A crash is a failure of the step that was in flight. */
    return steps_on_failure(step);
}

steps_admission_t
steps_admit(const journal_t *j, const char *want_app, const char *app,
            const char *version, unsigned long long sequence, bool env_allowed)
{
    if (want_app && strcmp(want_app, app) != 0) {
        return STEPS_REFUSE_APP;
    }
    if (!env_allowed) {
        return STEPS_REFUSE_ENV;
    }
    if (sequence < j->highest_sequence) {
        return STEPS_REFUSE_SEQUENCE;
    }
    if (strcmp(j->current, version) == 0) {
        return STEPS_ALREADY_CURRENT;
    }
    if (journal_history_has(j, version)) {
        return STEPS_REFUSE_KEPT;
    }
    return STEPS_ADMIT;
}
