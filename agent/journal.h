/*
 * journal: the agent's record of one app (ROOT/apps/APP/state): which
 * release is live, which was live before, the highest build sequence ever
 * made live, the releases on disk, and the deploy step in flight.
 *
 * It is written atomically (atomicfile) BEFORE each step, so after a crash
 * the step that was running is known and can be finished or undone
 * (steps.h decides which). Stored as the protobuf Journal message.
 */
#ifndef HOIST_JOURNAL_H
#define HOIST_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "manifest.h"

#define JOURNAL_HISTORY_MAX 64

typedef enum {
    JOURNAL_NONE = 0,
    JOURNAL_STAGE,
    JOURNAL_BEFORE_ACTIVATE,
    JOURNAL_SWITCH,
    JOURNAL_ACTIVATE,
    JOURNAL_HEALTH,
    JOURNAL_ROLLBACK,
} journal_step_t;

typedef struct {
    char app[MANIFEST_NAME_MAX + 1];
    char env[MANIFEST_NAME_MAX + 1];
    char current[MANIFEST_VERSION_MAX + 1];  /* "" when none */
    char previous[MANIFEST_VERSION_MAX + 1]; /* "" when none */
    uint64_t highest_sequence;
    char history[JOURNAL_HISTORY_MAX][MANIFEST_VERSION_MAX + 1];
    size_t n_history; /* oldest first */
    journal_step_t step;
    char pending[MANIFEST_VERSION_MAX + 1];
    uint64_t pending_sequence;
    char pending_digest[65]; /* hex, "" when none */
    bool pending_kept;       /* pending is a kept release going live again (a
                                rollback): undoing it must not remove it */
    char failed_step[32];
} journal_t;

/* Initializes J as the empty journal of APP. */
void journal_init(journal_t *j, const char *app);

/* Reads PATH into *J. A missing file gives the empty journal of APP; a
 * malformed one, or one for another app, is HOIST_ERR_STATE. */
hoist_err_t journal_load(const char *path, const char *app, journal_t *j,
                         hoist_error_t *err);

/* Writes J to PATH atomically (temp, fsync, rename, fsync dir). */
hoist_err_t journal_save(const journal_t *j, const char *path,
                         hoist_error_t *err);

/* Appends VERSION to the history (moving it to the end if present). When
 * the history is full the oldest entry is dropped. */
void journal_history_add(journal_t *j, const char *version);

/* True when VERSION is in the history: kept on disk. */
bool journal_history_has(const journal_t *j, const char *version);

/* Removes VERSION from the history, if present. */
void journal_history_remove(journal_t *j, const char *version);

/* "stage", "before_activate", ... for messages. */
const char *journal_step_name(journal_step_t step);

#endif
