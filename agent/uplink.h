/*
 * uplink: the agent's one connection to the controller: a ZeroMQ DEALER
 * that is a CURVE client pinned to the controller's public key, with
 * inbound messages capped at ENVELOPE_MAX_BYTES (ZMQ_MAXMSGSIZE), sending
 * and receiving one Envelope per frame.
 *
 * Two parts. The link (uplink_link_*) is the pure liveness state machine:
 * it takes the time and the events and says what to do next. The socket
 * object (uplink_t) does the I/O. The agent's event loop joins them.
 *
 *             connect                welcome
 *     DOWN ──────────────▶ CONNECTING ──────────▶ ONLINE ──┐ heartbeat every
 *      ▲  (at retry_at)        │                    │  ◀───┘ heartbeat_ms
 *      │                       │ nothing for        │ nothing received for
 *      └───────────────────────┴────────────────────┘ 3 × heartbeat_ms: lost
 *            lost: the socket is destroyed, retry_at = now + backoff
 *
 * Who performs each transition (agent/agent.c): uplink_link_connected
 * after uplink_connect has made a fresh socket and queued a hello;
 * uplink_link_welcomed when a welcome arrives; uplink_link_lost when
 * uplink_link_next says LOST, right before the socket is destroyed.
 *
 * Why a fresh socket after a loss rather than libzmq's own reconnection:
 * a DEALER keeps what was queued for a dead peer and delivers it after it
 * reconnects (stale heartbeats, fetch requests of a forgotten epoch), and
 * after a failed CURVE handshake it drops its pipe so that a blocking
 * send waits for ever. Every send here is ZMQ_DONTWAIT for that reason.
 */
#ifndef HOIST_UPLINK_H
#define HOIST_UPLINK_H

#include <stdbool.h>
#include <stdint.h>

#include <czmq.h>

#include "envelope.h"
#include "error.h"

#define UPLINK_HEARTBEAT_DEFAULT_MS 5000u
#define UPLINK_HEARTBEAT_MIN_MS     20u
#define UPLINK_HEARTBEAT_MAX_MS     600000u
#define UPLINK_MISSED_MAX           3u /* heartbeats missed: lost */
#define UPLINK_BACKOFF_MIN_MS       250u
#define UPLINK_BACKOFF_MAX_MS       30000u

/* ---- the link: pure ----------------------------------------------------- */

/* How long to wait before reconnection attempt ATTEMPT (0 for the first
 * after a loss): 250 ms doubled per attempt up to 30 s, then "equal
 * jitter" from RND: between half of that and all of it, so that a fleet
 * that lost its controller at the same moment does not come back in one
 * wave. */
uint64_t uplink_backoff_ms(unsigned attempt, uint32_t rnd);

/* MS from a welcome, within limits; 0 (not said) is the default. */
uint32_t uplink_heartbeat_clamp(uint32_t ms);

typedef enum {
    UPLINK_DOWN,       /* no socket; connect at retry_at */
    UPLINK_CONNECTING, /* hello sent, no welcome yet */
    UPLINK_ONLINE,     /* welcomed */
} uplink_state_t;

typedef struct {
    uplink_state_t state;
    uint32_t heartbeat_ms;
    uint64_t last_rx;   /* last message from the controller (or connect) */
    uint64_t last_tx;   /* last heartbeat sent (or connect) */
    uint64_t retry_at;  /* when DOWN: time of the next connection */
    unsigned attempt;   /* connections lost since the last welcome */
    bool ever_welcomed; /* a later welcome is a reconnection */
} uplink_link_t;

typedef enum {
    UPLINK_IDLE,      /* nothing to do now */
    UPLINK_CONNECT,   /* make a socket, connect, say hello */
    UPLINK_HEARTBEAT, /* send a heartbeat */
    UPLINK_LOST,      /* give the connection up */
} uplink_action_t;

/* DOWN, to connect at once at NOW. */
void uplink_link_init(uplink_link_t *l, uint64_t now);

/* What to do at NOW. Call again after acting on an answer other than
 * IDLE: several things can be due at once. */
uplink_action_t uplink_link_next(const uplink_link_t *l, uint64_t now);

/* A fresh socket is connecting and its hello is queued. */
void uplink_link_connected(uplink_link_t *l, uint64_t now);

/* Something arrived from the controller. */
void uplink_link_received(uplink_link_t *l, uint64_t now);

/* A heartbeat was sent (or could not be: it is not retried). */
void uplink_link_heartbeat_sent(uplink_link_t *l, uint64_t now);

/* A welcome with HEARTBEAT_MS arrived. Returns true when it ends an
 * outage (the link was welcomed before). */
bool uplink_link_welcomed(uplink_link_t *l, uint64_t now,
                          uint32_t heartbeat_ms);

/* The connection is given up at NOW: DOWN until now + backoff (from
 * RND). Returns the state it was in (ONLINE: the controller was lost;
 * CONNECTING: it never answered). */
uplink_state_t uplink_link_lost(uplink_link_t *l, uint64_t now, uint32_t rnd);

/* ---- the controller's key ----------------------------------------------
 *
 * An agent pins the controller's key at enrollment. To rotate it, the
 * controller announces its next key in every welcome; the agent pins it
 * too (agent.conf next_server_key) and says so in its hellos. After the
 * controller switches, the agent's connections with the old key get no
 * answer: from the first connection lost without a welcome it tries the
 * next key every other time, and a welcome on a connection made with it
 * makes it the key. A key learnt this way came over a connection
 * authenticated by the pinned key, so it is trusted as much. */

/* True when connection attempt ATTEMPT (uplink_link_t.attempt: lost since
 * the last welcome) should use the pinned next key, when there is one. */
bool uplink_use_next_key(unsigned attempt, bool has_next);

typedef enum {
    UPLINK_PIN_KEEP,    /* nothing changes */
    UPLINK_PIN_LEARN,   /* pin the announced key as the next one */
    UPLINK_PIN_PROMOTE, /* the next key answered: it becomes the key */
    UPLINK_PIN_FORGET,  /* no rotation any more: drop the pinned next key */
} uplink_pin_t;

/* What a welcome means for the pinned keys: VIA_NEXT says whether the
 * connection was made with the pinned next key PINNED_NEXT ("" none),
 * ANNOUNCED is the welcome's next_server_key ("" none; a malformed one
 * changes nothing). */
uplink_pin_t uplink_pin_decide(bool via_next, const char *pinned_next,
                               const char *announced);

/* ---- the socket ---------------------------------------------------------- */

typedef struct uplink uplink_t;

/* An uplink to ENDPOINT, pinned to the server key SERVER_KEY (40 Z85
 * characters), authenticating with CERT (which must hold a secret key
 * and outlive the uplink). Makes no socket yet. NULL with HOIST_ERR_KEY
 * (bad key), HOIST_ERR_USAGE (bad endpoint) or HOIST_ERR_NOMEM. The
 * result belongs to the caller. */
uplink_t *uplink_new(const char *endpoint, const char *server_key,
                     zcert_t *cert, hoist_error_t *err);

/* Closes the socket and frees *P; sets *P to NULL; accepts NULL. */
void uplink_destroy(uplink_t **p);

/* The server key the next uplink_connect pins (40 Z85 characters).
 * HOIST_ERR_KEY, changing nothing, for a malformed one. */
hoist_err_t uplink_set_server_key(uplink_t *u, const char *server_key,
                                  hoist_error_t *err);

/* Destroys the current socket, if any, with what it had queued, and
 * makes and connects a fresh one. HOIST_ERR_IO when libzmq refuses. */
hoist_err_t uplink_connect(uplink_t *u, hoist_error_t *err);

/* Destroys the current socket, if any, with what it had queued. */
void uplink_close(uplink_t *u);

/* The current socket (to register with zloop_reader), or NULL when
 * closed. It changes at each uplink_connect. Owned by U. */
zsock_t *uplink_sock(uplink_t *u);

/* The endpoint, for messages. */
const char *uplink_endpoint(const uplink_t *u);

/* Packs E and queues it without blocking. HOIST_ERR_BUSY when there is
 * no socket or the queue is full (a peer that is not there), for the
 * caller to drop the message or keep it for later. */
hoist_err_t uplink_send(uplink_t *u, envelope_t *e, hoist_error_t *err);

/* Takes one waiting message without blocking. HOIST_OK with *OUT NULL
 * when nothing waits; with *OUT set (the caller's: envelope_destroy)
 * when one did. HOIST_ERR_PROTOCOL when one arrived that was not a valid
 * single-frame envelope: it is dropped, and the caller may go on
 * reading. */
hoist_err_t uplink_recv(uplink_t *u, envelope_t **out, hoist_error_t *err);

/* Waits up to TIMEOUT_MS for the reply to request ID: an envelope of id
 * ID whose body is WANT or an Error; anything else is dropped. HOIST_OK
 * with *OUT (the caller's: envelope_destroy); HOIST_ERR_TIMEOUT when none
 * came, HOIST_ERR_USAGE when interrupted (SIGINT, SIGTERM). */
hoist_err_t uplink_await(uplink_t *u, uint64_t id, int want,
                         uint64_t timeout_ms, envelope_t **out,
                         hoist_error_t *err);

/* Uses CERT (borrowed; it must outlive the uplink) from the next
 * uplink_connect on. */
void uplink_set_cert(uplink_t *u, zcert_t *cert);

#endif
