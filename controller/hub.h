/*
 * hub: the controller's side of the agents' socket.
 *
 * Every message is checked in this order: the frame carries a User-Id
 * from the ZAP handler (else dropped); it decodes as an Envelope within
 * the size cap (else answered with a protocol error); the identity is
 * checked against the store *now* — an unknown key may only enroll, a
 * revoked or pending agent is refused, a second live connection with an
 * agent's key (a cloned machine) is refused and the agent flagged — and
 * only then is the body dispatched through a closed table.
 *
 * The hub keeps which connection each online agent uses and when it was
 * last heard from; the store keeps everything else.
 */
#ifndef HOIST_HUB_H
#define HOIST_HUB_H

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

#include "controller.h"

/* A new hub for SELF's agents socket. Owned by the caller. */
hub_t *hub_new(controller_t *ctl, hoist_error_t *err);
void hub_destroy(hub_t **p);

/* Handles one message BODY from the peer ROUTING. Never fails: problems
 * are answered or logged. */
void hub_on_message(hub_t *self, zframe_t *routing, zframe_t *body);

/* Sends heartbeats and marks agents silent for three intervals offline.
 * NOW_MS is monotonic. */
void hub_tick(hub_t *self, int64_t now_ms);

/* Sends AGENT the order its task in deployment ID is due now (the
 * release once the rollout started it, the release it had while it is
 * put back; nothing otherwise). NOTFOUND when the agent is not
 * connected: it gets the order when it next says hello. */
hoist_err_t hub_order(hub_t *self, int64_t id, const char *agent,
                      hoist_error_t *err);

/* Sends AGENT a HookOrder: run HOOK ("failover", "failback") of APP's
 * current release for DRILL, then its health check when HEALTH. NOTFOUND
 * when the agent is not connected. */
hoist_err_t hub_hook(hub_t *self, const char *agent, int64_t drill,
                     const char *app, const char *hook, bool health,
                     hoist_error_t *err);

/* Sends every connected agent a welcome again, carrying the controller's
 * next key (serverkey.h) so that they pin it now; they answer with a
 * hello that says they did. Returns how many were sent. */
size_t hub_announce_key(hub_t *self);

/* Forgets NAME's connection (revoked): it is refused from now on. */
void hub_forget(hub_t *self, const char *name);

/* True when agent NAME has a live connection. */
bool hub_online(hub_t *self, const char *name);

/* The pure clone rule: a hello on a new connection while the agent's
 * known connection is still routable and was heard from within two
 * heartbeats is a second machine with the same key. */
bool hub_is_clone(bool old_routable, int64_t old_heard_ms, int64_t now_ms,
                  uint32_t heartbeat_ms);

#endif
