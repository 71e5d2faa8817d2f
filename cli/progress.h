/*
 * progress: what `hoist watch ID` and `--wait` print about a deployment
 * while it rolls out. Pure: it takes the documents of successive
 * deployment.show polls (docs/protocol.md) and returns the text to print;
 * polling, sleeping, asking whether stdout is a terminal and printing are
 * cli/watch's. It keeps the previous document and, on a terminal, what it
 * drew, so that each answer depends only on the previous and the new
 * document.
 *
 * PROGRESS_TERMINAL: a block rewritten in place (cursor-up, clear-line,
 * clear-below), and only when it changed:
 *
 *   deployment 7  deploy web 1.2.0 to production  rolling batch=2  running
 *   batch 2/2 (2 agents)  done 0  failed 1  running 1  web-3: health
 *   halted: 1 agent failed (threshold 0)
 *   rolling back: reverted 1/2
 *
 * the header, the batch in progress, then (when they apply) the halt, the
 * canary's wait for `hoist deployment continue ID` and how far putting
 * the previous release back has come. A batch that finished is printed
 * once above the block, in its final form, and stays. Every line of the
 * block is cut to the width less one, so none wraps and the cursor-up
 * count stays right.
 *
 * PROGRESS_PLAIN: a line per change: "web-2: health (running)" when a
 * task's state or step changes, "batch 2/4 started (3 agents)" before
 * the first line of a batch (when there is more than one),
 * "halted: REASON", "waiting for hoist deployment continue 7 (the
 * canary holds)".
 *
 * PROGRESS_JSON: one compact object per line: {"event":"task","agent",
 * "state","step","batch"} per change of a task, {"event":"halted",
 * "reason"}, {"event":"waiting_continue"}, and last {"event":"end",
 * "state","deployment"} (with "reason" when it was halted); a refused
 * poll is {"event":"error","exit","message"} instead of the end.
 *
 * The end, in the other two modes, is the per-agent table (with a BATCH
 * column when there is more than one batch) and "deployment ID STATE"
 * (with "(halted: REASON)"). Batches count from 0 in the JSON, as in
 * deployment.show, and from 1 for people. Text from the controller is
 * printed with control characters as '?', so that an agent's name or a
 * reason cannot move the cursor or forge a line.
 */
#ifndef HOIST_PROGRESS_H
#define HOIST_PROGRESS_H

#include <stdbool.h>

#include <jansson.h>

typedef enum {
    PROGRESS_PLAIN,    /* not a terminal: a line per change */
    PROGRESS_TERMINAL, /* a terminal: a block rewritten in place */
    PROGRESS_JSON      /* --json: one event object per line */
} progress_mode_t;

#define PROGRESS_WIDTH_MIN 20 /* a narrower terminal is taken as this */

typedef struct progress progress_t;

/* A renderer for deployment ID (as the user gave it) in MODE, for a
 * terminal WIDTH columns wide (PROGRESS_TERMINAL only; 0 or less: 80).
 * Returns it (the caller's: progress_destroy), or NULL out of memory. */
progress_t *progress_new(progress_mode_t mode, const char *id, int width);

/* Frees *P and sets it to NULL. Accepts NULL. */
void progress_destroy(progress_t **p);

/* Takes the next deployment.show document DOC (SELF keeps a reference
 * until the next call) and returns what to print about what changed
 * since the previous one: "" when nothing did. On a terminal, a DOC
 * whose state has ended leaves its final block on the screen. The text
 * is the caller's (free); NULL out of memory. */
char *progress_update(progress_t *self, const json_t *doc);

/* What to print once DOC (the last document, already given to
 * progress_update) has ended: the table and the outcome, or the end
 * event. The caller's (free); NULL out of memory. */
char *progress_end(progress_t *self, const json_t *doc);

/* What to print on stdout when a poll was refused with EXIT and TEXT:
 * in PROGRESS_JSON an {"event":"error","exit","message"} line, else ""
 * (the text goes to stderr, which is the caller's). The caller's (free);
 * NULL out of memory. */
char *progress_refused(progress_t *self, int exit, const char *text);

/* The process's exit code for the ended document DOC: 0 when it
 * succeeded, 1 when it failed, rolled back or was cancelled. */
int progress_exit_code(const json_t *doc);

/* True for a deployment state that is still moving ("running",
 * "pending"). */
bool progress_in_progress(const char *state);

#endif
