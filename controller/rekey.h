/*
 * rekey: an agent's key replaced without enrolling it again
 * (`hoist-agent rekey`, docs/operator-guide.md).
 *
 * The agent makes a new key pair and offers its public key over a
 * connection its current key authenticates; that is the proof: whoever
 * holds the agent's key is the agent. The controller makes the new key
 * the agent's at once, keeps accepting the one it replaces (ZAP user ids
 * name the key: zap_agent_id) so that an agent that crashed before
 * switching still connects, and refuses the old key from the agent's first
 * hello with the new one. Secret boxes sealed to the old key cannot be opened
 * by the new one: they are dropped, and the agent's next deploy names the
 * secrets to set again (as for an agent accepted after they were set).
 */
#ifndef HOIST_REKEY_H
#define HOIST_REKEY_H

#include <stdint.h>

#include "controller.h"
#include "store.h"

/* Agent A offers NEWKEY (Z85): see above. The same offer again changes
 * nothing. *DROPPED gets the number of secret boxes dropped. KEY for a
 * malformed key, STORE_ERR_EXISTS for one that is another agent's or a
 * user's; nothing changes then. */
hoist_err_t rekey_accept(controller_t *ctl, const store_agent_t *a,
                         const char *newkey, int64_t *dropped,
                         hoist_error_t *err);

/* Agent A has said hello with its new key: its old key is refused from
 * now on. */
void rekey_confirm(controller_t *ctl, const store_agent_t *a);

#endif
