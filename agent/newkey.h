/*
 * newkey: `hoist-agent rekey`, which replaces this agent's CURVE key
 * without enrolling it again (controller/rekey.h has the controller's
 * side).
 *
 *   1. a new key pair is written to ROOT/keys/agent_next (its secret 0600,
 *      synced); one left by an interrupted run is offered again instead;
 *   2. its public key is offered to the controller over a connection the
 *      current key authenticates, which is the proof that this is the
 *      agent; the controller makes it the agent's key and still accepts
 *      the old one until the agent connects with the new one;
 *   3. agent_next is renamed over ROOT/keys/agent (the secret's rename is
 *      the switch: curve.h);
 *   4. a running `hoist-agent run` on ROOT is sent SIGHUP (its pid is in
 *      ROOT/.run.lock) and reconnects with the new key.
 *
 * A crash at any point leaves the agent with a key the controller
 * accepts; running rekey again finishes the job.
 */
#ifndef HOIST_NEWKEY_H
#define HOIST_NEWKEY_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "conf.h"
#include "error.h"

#define NEWKEY_TIMEOUT_MS 30000u

typedef struct {
    char old_key[CONF_KEY_Z85_LEN + 1];
    char new_key[CONF_KEY_Z85_LEN + 1];
    bool resumed;           /* an interrupted run's key was offered again */
    uint32_t boxes_dropped; /* secrets to set again for this agent */
    pid_t daemon;           /* the daemon told to reconnect, or 0: none */
} newkey_result_t;

/* Replaces ROOT's agent key (see above), waiting at most TIMEOUT_MS (0:
 * NEWKEY_TIMEOUT_MS) for the controller. *OUT is written on success.
 * HOIST_ERR_TIMEOUT when the controller did not answer, the controller's
 * code (AUTH, EXISTS, ...) when it refused; the agent's key is unchanged
 * then. */
hoist_err_t newkey_run(const char *root, uint64_t timeout_ms,
                       newkey_result_t *out, hoist_error_t *err);

/* Writes this process's pid into the run lock FD (ROOT/.run.lock), for
 * newkey_run to find the daemon. */
void newkey_note_pid(int fd);

#endif
