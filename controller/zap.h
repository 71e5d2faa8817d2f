/*
 * zap: the controller's ZAP handler (RFC 27/ZAP) for CURVE, and the
 * helpers that make a CURVE server or client socket.
 *
 * The handler is a czmq actor bound to inproc://zeromq.zap.01 in czmq's
 * (process-wide) context. libzmq asks it about every handshake on a
 * socket of that context that has a ZAP domain. It answers from a key
 * table that lives in the actor and that only the controller's main
 * thread changes, by message (zap_allow, zap_deny), so the store stays a
 * main-thread affair. Its rules:
 *
 *   mechanism NULL or PLAIN               400, whatever the domain
 *   domain other than "agents" or "api"   400
 *   key denied (revoked)                  400 on both domains
 *   key allowed                           200, User-Id as given
 *   key unknown, domain "agents"          200, User-Id "unknown:<z85 key>"
 *   key unknown, domain "api"             400
 *
 * An "unknown:" peer may only enroll; the hub enforces that per message.
 *
 * What libzmq 4.3.4 does without a handler (checked by tests/test_zap.c):
 *   - A CURVE server whose context has no handler bound admits ANY client
 *     that knows the server's public key ("Stonehouse"), ZAP domain or
 *     not, and its messages carry no User-Id.
 *   - ZMQ_ZAP_ENFORCE_DOMAIN (option 93) closes that hole: with it set,
 *     a handshake that finds no handler fails (monitor event
 *     HANDSHAKE_FAILED_NO_DETAIL, EFAULT). zmq.h declares the option only
 *     under ZMQ_BUILD_DRAFT_API and zmq_has("draft") is false on Debian,
 *     yet the library honours it. czmq's zsock_set_zap_enforce_domain is
 *     compiled as a silent no-op there, so zap_server_socket sets it with
 *     zmq_setsockopt and reads it back, and refuses to make the socket if
 *     libzmq does not keep it.
 *   - A handler only judges handshakes: a connection admitted before
 *     zap_deny, or before the handler died, stays open and keeps
 *     delivering. Hence the rules for the hub below.
 *   - NULL and PLAIN clients never reach the handler through a CURVE
 *     server (the greeting fails on the mechanism mismatch); the handler
 *     still refuses them, for any NULL or PLAIN server with a ZAP domain.
 *
 * What the controller must do:
 *   - zap_new before the first bind of any server socket; exit if it fails.
 *   - Watch zap_sock in its zloop: it becomes readable only when the
 *     handler has stopped. Then call zap_alive (false) and stop serving:
 *     close the server sockets and exit. New handshakes are refused from
 *     then on, but open connections are not cut.
 *   - Take a peer's identity only from zap_user_id of a received body
 *     frame, drop a message whose frame has none, and check that identity
 *     against the current tables on every message (a revoked key's open
 *     connection still delivers). On "agents", "unknown:..." may only send
 *     an enrollment request; on "api", accept only user identities (an
 *     allowed agent key is admitted on both domains).
 *
 * One handler per process: the endpoint is per context and czmq has one.
 */
#ifndef HOIST_ZAP_H
#define HOIST_ZAP_H

#include <stdbool.h>
#include <stdint.h>

#include <czmq.h>

#include "error.h"

#define ZAP_DOMAIN_AGENTS  "agents"
#define ZAP_DOMAIN_API     "api"
#define ZAP_KEY_Z85_LEN    40 /* a CURVE public key in Z85, no NUL */
#define ZAP_USER_ID_MAX    255
#define ZAP_UNKNOWN_PREFIX "unknown:"
#define ZAP_AGENT_PREFIX   "agent:" /* agent:NAME:KEY (zap_agent_id) */
#define ZAP_ACK_TIMEOUT_MS 5000     /* the longest zap_allow/zap_deny wait */

typedef struct zap zap_t;

/* Starts the handler and returns once it is bound to
 * inproc://zeromq.zap.01 with an empty table. NULL with HOIST_ERR_IO when
 * it cannot bind (another handler runs in this process) or start. The
 * result belongs to the caller: free it with zap_destroy. */
zap_t *zap_new(hoist_error_t *err);

/* Stops the handler, unbinds its endpoint (so that, with
 * ZMQ_ZAP_ENFORCE_DOMAIN, every new handshake fails), frees *P and sets
 * it to NULL. Accepts NULL and a handler that has already died. */
void zap_destroy(zap_t **p);

/* Admits KEY_Z85 (40 characters of canonical Z85) on both domains with
 * USER_ID (1..ZAP_USER_ID_MAX printable characters without spaces, not
 * starting with "unknown:"), replacing an earlier allow or deny. Returns
 * once the handler has applied it: the next handshake sees it. Errors:
 * HOIST_ERR_KEY for a malformed key, HOIST_ERR_USAGE for a malformed user
 * id, HOIST_ERR_IO when the handler is gone or did not answer within
 * ZAP_ACK_TIMEOUT_MS (it then counts as dead: see zap_alive). */
hoist_err_t zap_allow(zap_t *self, const char *key_z85, const char *user_id,
                      hoist_error_t *err);

/* Refuses KEY_Z85 on both domains from the next handshake on (revoked
 * agent, removed user); it is no longer "unknown" either. Open
 * connections are not cut: the hub checks every message. Errors as for
 * zap_allow. */
hoist_err_t zap_deny(zap_t *self, const char *key_z85, hoist_error_t *err);

/* The handler's pipe, to register with zloop_reader. It is readable only
 * when the handler has stopped (or answered too late): the reader must
 * call zap_alive, which then returns false, and stop serving. Owned by
 * SELF. */
zsock_t *zap_sock(zap_t *self);

/* False once the handler has stopped; never blocks. Reads the handler's
 * exit signal off zap_sock when there is one. */
bool zap_alive(zap_t *self);

/* A socket of TYPE (ZMQ_ROUTER, ...) that is a CURVE server with
 * SERVER_CERT's key pair, ZAP domain DOMAIN (ZAP_DOMAIN_AGENTS or
 * ZAP_DOMAIN_API), ZMQ_ZAP_ENFORCE_DOMAIN set and inbound messages capped
 * at MAXMSGSIZE (> 0) bytes. Not yet bound. NULL with HOIST_ERR_USAGE
 * (bad domain or size), HOIST_ERR_KEY (no secret key) or HOIST_ERR_IO
 * (libzmq refused an option). The result belongs to the caller. */
zsock_t *zap_server_socket(int type, zcert_t *server_cert, const char *domain,
                           int64_t maxmsgsize, hoist_error_t *err);

/* Client sockets: curve_client_socket in common/curve.h. */

/* The "User-Id" the handler gave the connection FRAME arrived on, or NULL
 * when there is none (no handler vetted that connection: drop the
 * message). Use a frame read off the wire; a ROUTER's routing-id frame
 * carries no metadata. The string belongs to FRAME. */
const char *zap_user_id(zframe_t *frame);

/* The user id of agent NAME's key KEY: "agent:NAME:KEY" (the key last,
 * 40 characters), so that the hub knows which of an agent's keys a
 * connection authenticated with (a rekeyed agent has two for a while). */
void zap_agent_id(char *out, size_t len, const char *name, const char *key);

/* Splits an id made by zap_agent_id into NAME (LEN bytes) and KEY. False,
 * writing nothing, for any other id. */
bool zap_agent_id_parse(const char *id, char *name, size_t len,
                        char key[ZAP_KEY_Z85_LEN + 1]);

#endif
