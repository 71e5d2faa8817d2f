/*
 * watch: `--wait` on deploy and rollback. Polls deployment.show every
 * WATCH_POLL_MS until the deployment is no longer running (or pending),
 * showing per-agent progress as it goes:
 *
 *   on a terminal   one line rewritten in place:
 *                   "deploying web 1.2.0 to dev: 2/3 done, web-2: health"
 *   otherwise       a line per change of a task's step or state:
 *                   "web-2: health (running)"
 *   with --json     nothing until the end, then deployment.show's json
 *
 * and at the end the per-agent table and the outcome. The JSON of
 * deployment.show (docs/protocol.md) is read with jansson:
 * {id, app, version, env, kind, state, tasks: [{agent, state, step,
 * message, live}]}.
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
    bool json; /* --json: only the final document */
    bool tty;  /* a terminal: one live line */
    FILE *out; /* stdout */
} watch_opts_t;

/* Reads the deployment id from the JSON of a deploy or rollback reply
 * ({"deployment": 12} or {"deployment": "12"}) into ID. HOIST_ERR_PROTOCOL
 * when there is none. */
hoist_err_t watch_id(const char *json, char id[WATCH_ID_MAX + 1],
                     hoist_error_t *err);

/* Waits for deployment ID to end, showing progress as O says. Sets *CODE
 * to 0 when it succeeded, 1 when it ended any other way, or to the exit
 * of a deployment.show reply that was not 0 (whose text or json it has
 * printed). Fails with the client's error when a poll gets no answer. */
hoist_err_t watch_deployment(client_t *client, const char *id,
                             const watch_opts_t *o, int *code,
                             hoist_error_t *err);

/* True for a deployment state that is still moving. */
bool watch_in_progress(const char *state);

#endif
