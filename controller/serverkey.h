/*
 * serverkey: the controller's CURVE key pair on disk, and its rotation.
 *
 *   DIR/keys/server, server_secret            the key it serves with
 *   DIR/keys/server_next, server_next_secret  the next one, once prepared
 *   DIR/keys/vars_digest                      the key of the variable
 *                                             digests, from the first
 *                                             rotation on
 *
 * Agents pin the controller's key at enrollment, so a new key cannot just
 * replace the old one. Rotation has two steps. `hoist controller key
 * next` makes the next key (serverkey_next) and the running controller
 * announces it to every agent (uplink.h on the agent's side); `hoist
 * controller key` shows which accepted agents have pinned it. Then, with
 * the controller stopped, `hoist-controller rotate-key` makes it the key
 * (serverkey_rotate), and agents that pinned it switch when their old-key
 * connection gets no answer.
 *
 * czmq's zcert_load reads NAME_secret, which holds both halves: renaming
 * server_next_secret over server_secret is the one step that switches,
 * so a crash on either side of it leaves a controller with a whole key.
 *
 * The digests of secret variables (`hoist diff`) are keyed from the
 * controller's secret key; the first rotation writes that key to
 * keys/vars_digest so that digests stored before it still compare.
 */
#ifndef HOIST_SERVERKEY_H
#define HOIST_SERVERKEY_H

#include <stdbool.h>
#include <stdint.h>

#include <czmq.h>

#include "call.h"
#include "error.h"
#include "store.h"

#define SERVERKEY_DIGEST_BYTES 32

/* Loads DIR/keys/NAME_secret ("server", "server_next"), refusing one
 * that group or others may read (HOIST_ERR_KEY, naming chmod 600).
 * HOIST_ERR_NOTFOUND when it does not exist. The result belongs to the
 * caller. */
zcert_t *serverkey_load(const char *dir, const char *name, hoist_error_t *err);

/* The next key: loaded when it was prepared, else (CREATE) made and
 * written (the secret 0600, synced, under a temporary name renamed into
 * place), else NULL with HOIST_ERR_NOTFOUND. The result belongs to the
 * caller. */
zcert_t *serverkey_next(const char *dir, bool create, hoist_error_t *err);

/* The key the variable digests are keyed with: keys/vars_digest when a
 * rotation wrote it, else derived from CURRENT's secret key. */
hoist_err_t serverkey_digest_key(const char *dir, zcert_t *current,
                                 uint8_t out[SERVERKEY_DIGEST_BYTES],
                                 hoist_error_t *err);

/* Makes the next key the key (see above): HOIST_ERR_NOTFOUND when none
 * was prepared. Finishes a rotation a crash interrupted. The old secret
 * is gone afterwards. */
hoist_err_t serverkey_rotate(const char *dir, hoist_error_t *err);

/* `hoist-controller rotate-key`: takes DIR's run lock (HOIST_ERR_BUSY
 * while a controller serves it), checks that every accepted agent has
 * pinned the next key, and rotates (serverkey_rotate). HOIST_ERR_GATE,
 * changing nothing, naming the agents that have not, unless FORCE: they
 * are then cut off (counted in *LEFT) until enrolled again. */
hoist_err_t serverkey_rotate_stopped(const char *dir, bool force, size_t *left,
                                     hoist_error_t *err);

/* Pure: true when agent A needs nothing more for the rotation to NEXT
 * (the next key's Z85): it has pinned NEXT, or it is not accepted (a
 * pending or revoked agent is not served anyway). */
bool serverkey_agent_ready(const store_agent_t *a, const char *next);

/* The API's commands (call.h): controller.key (which agents pinned the
 * next key) and controller.key_next (prepare it and announce it). */
extern const call_command_t serverkey_commands[];

#endif
