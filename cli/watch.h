/*
 * watch: `hoist watch ID`, and `--wait` on deploy, promote and rollback.
 * Polls deployment.show every WATCH_POLL_MS until the deployment is no
 * longer running (or pending), and prints what cli/progress makes of
 * each answer: on a terminal a block rewritten in place, otherwise a
 * line per change, with --json one event per line; at the end the
 * per-agent table and the outcome (or the end event).
 */
#ifndef HOIST_WATCH_H
#define HOIST_WATCH_H

#include <stdbool.h>
#include <stdio.h>

#include "client.h"
#include "error.h"

#define WATCH_POLL_MS 500
#define WATCH_ID_MAX  64

/* How to show progress. */
typedef struct {
    bool json; /* --json: an event stream (wins over tty) */
    bool tty;  /* a terminal: a block rewritten in place */
    int width; /* the terminal's columns; 0: ask OUT's terminal, else 80 */
    FILE *out; /* stdout */
} watch_opts_t;

/* Reads the deployment id from the JSON of a deploy or rollback reply
 * ({"deployment": 12} or {"deployment": "12"}) into ID. HOIST_ERR_PROTOCOL
 * when there is none. */
hoist_err_t watch_id(const char *json, char id[WATCH_ID_MAX + 1],
                     hoist_error_t *err);

/* Waits for deployment ID to end, showing progress as O says. Sets *CODE
 * to 0 when it succeeded, 1 when it ended any other way (failed, rolled
 * back, cancelled), or to the exit of a deployment.show reply that was
 * not 0 (whose text it has printed on stderr, and with --json an error
 * event on OUT). Fails with the client's error when a poll gets no
 * answer, HOIST_ERR_PROTOCOL when an answer has no state, and
 * HOIST_ERR_NOMEM. */
hoist_err_t watch_deployment(client_t *client, const char *id,
                             const watch_opts_t *o, int *code,
                             hoist_error_t *err);

#endif
