/*
 * order: one deploy order in the agent daemon, from the DeployOrder to
 * the Result.
 *
 *   order_start ──▶ FETCHING ──(last chunk)──▶ INSTALLING ──(result)──▶ DONE
 *        │              │                           │
 *        │ refused      │ controller error,         │ the child ended
 *        ▼              ▼ disk error                ▼ without a result
 *      (answered, NULL) DONE (failed)              DONE (failed)
 *
 * The manifest is verified against the agent's own trusted keys before
 * anything else: a manifest signed by any other key, or for another
 * environment, is answered `rejected` and nothing is fetched. The
 * artifact is then fetched into ROOT/cache over the uplink with
 * credit-based flow control (agent/fetch): FetchRequests carry
 * ORDER_FETCH_ID(epoch) in Envelope.id, the controller echoes it in each
 * Chunk, and a chunk of an earlier epoch (answering requests made before
 * a reconnection or a stall) is dropped. After a reconnection, or when no
 * chunk came for ORDER_STALL_MS, the window is reset and re-requested
 * from the bytes held.
 *
 * The install runs in a child process (fork): it verifies the fetched
 * bytes once more as they are on disk, then calls install_release (or
 * install_rollback for a rollback order), and reports each step and its
 * final report over a pipe as length-prefixed Envelopes (Progress,
 * Result), which the daemon's loop reads and forwards. Why a child:
 * unpacking changes the process umask, hooks and health checks block for
 * minutes, and the daemon's loop must keep answering heartbeats. The
 * child dies with the daemon (PR_SET_PDEATHSIG), so a daemon that is
 * killed leaves a journal that its next start recovers, never a second
 * installer racing that recovery.
 *
 * The order's variables (`hoist vars`) are checked with the manifest: at
 * most INSTALL_VARS_MAX, valid names used once, and every sealed value
 * must open with the agent's own CURVE key pair (common/seal.h); an order
 * with a box that does not open is answered `rejected` and nothing is
 * fetched. The daemon keeps only the boxes. The child, a fork that
 * inherits them in memory (never through a command line or a file),
 * opens them again, hands the values to the install (install_opts_t.vars)
 * and wipes them when it is done; the output it reports has each secret
 * value of four bytes or more masked.
 *
 * The module sends through the daemon's callback and owns no socket.
 */
#ifndef HOIST_ORDER_H
#define HOIST_ORDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <czmq.h>

#include "envelope.h"
#include "keys.h"

#define ORDER_STALL_MS        30000u
#define ORDER_STRAYS_MAX      8u /* out-of-step chunks, refusals: give up */
#define ORDER_FRAME_MAX       (64u * 1024u)
#define ORDER_FETCH_TAG       (1ull << 63)
#define ORDER_FETCH_ID(ep)    (ORDER_FETCH_TAG | (uint64_t)(ep))
#define ORDER_IS_FETCH_ID(id) (((id)&ORDER_FETCH_TAG) != 0)

typedef struct {
    const char *root;
    const char *env;
    const char *hook_user; /* NULL: hooks run as the agent's user */
    zcert_t *cert;         /* the agent's key pair, for sealed variables; NULL:
                              an order with one is rejected */
    const keys_public_t *trusted;
    size_t n_trusted;
    size_t keep;       /* releases kept, 0 for the default */
    uint64_t stall_ms; /* 0 for ORDER_STALL_MS */
    zloop_t *loop;     /* watches the child's pipe */
    /* Sends E to the controller now; anything but HOIST_OK means it was
     * not sent (a Result is then the daemon's to send later). */
    hoist_err_t (*send)(void *arg, envelope_t *e);
    /* True when the controller has welcomed the current connection. */
    bool (*online)(void *arg);
    void *arg;
} order_ctx_t;

typedef struct order order_t;

/* Starts on DEPLOY, which arrived in an Envelope of id ID at NOW. CTX is
 * copied; the strings and keys it points at must outlive the order.
 * Returns NULL when the order was answered at once (rejected, already
 * current, or failed to start: the Result is sent), else the running
 * order, owned by the caller. */
order_t *order_start(const order_ctx_t *ctx, uint64_t id,
                     const Hoist__DeployOrder *deploy, uint64_t now);

/* Kills an install that has not reported (SIGKILL: the next install or
 * the next start recovers its journal), waits for the child, frees *P and
 * sets it to NULL. Accepts NULL. */
void order_destroy(order_t **p);

/* The deployment this order belongs to. */
uint64_t order_deployment(const order_t *o);

/* True when O is a rollback order (a rollback deployment, or a rollout
 * putting this agent back within a deployment). */
bool order_rollback(const order_t *o);

/* True once the Result has been sent and the child, if any, reaped. */
bool order_done(const order_t *o);

/* True once the Result has been sent: the child, if any, is exiting, and
 * order_destroy waits for it instead of killing it. */
bool order_reported(const order_t *o);

/* A chunk arrived in an Envelope of id ID. */
void order_on_chunk(order_t *o, uint64_t id, const Hoist__Chunk *c,
                    uint64_t now);

typedef enum {
    ORDER_ERROR_NOT_OURS, /* not an answer to this order's current fetch */
    ORDER_ERROR_FAILED,   /* the controller cannot serve it: order failed */
    ORDER_ERROR_RETRY,    /* refused as out of place (the controller does
                             not know this connection): requests are
                             forgotten until order_on_online */
} order_error_t;

/* An Error of id ID arrived: see order_error_t. After more than
 * ORDER_STRAYS_MAX refusals without a chunk in between, RETRY becomes
 * FAILED. */
order_error_t order_on_error(order_t *o, uint64_t id, const Hoist__Error *e);

/* The controller welcomed a (new) connection: requests in flight on the
 * old one are forgotten and asked for again. */
void order_on_online(order_t *o, uint64_t now);

/* Timers: re-requests after a stall, fills the window, reaps the child. */
void order_tick(order_t *o, uint64_t now);

/* The pure framing of the child's pipe. Looks at the LEN bytes of BUF:
 * returns the size of the first complete frame (4 bytes of big-endian
 * length, then that many bytes of a packed Envelope) and points *BODY and
 * *BODY_LEN at its payload; 0 when the frame is not complete yet; -1 when
 * its length is 0 or over ORDER_FRAME_MAX. */
long order_frame_take(const uint8_t *buf, size_t len, const uint8_t **body,
                      size_t *body_len);

#endif
