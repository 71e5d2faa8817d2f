/*
 * envelope: the one frame of Hoist's wire protocol (proto/wire.proto).
 *
 * Every message between agents, the CLI and the controller is an
 * Envelope. This module packs them, and unpacks them only after checking
 * the frame's size against a cap (the socket's ZMQ_MAXMSGSIZE is the
 * first line; this is the second), then checks the protocol version and
 * that a body is present. Dispatch goes through a closed table: a body
 * with no route is an error for the caller to answer or drop, never a
 * crash.
 */
#ifndef HOIST_ENVELOPE_H
#define HOIST_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "wire.pb-c.h"

#define ENVELOPE_VERSION 1
/* Chunks carry at most 1 MiB of data; the rest is headroom. */
#define ENVELOPE_MAX_BYTES (1024 * 1024 + 64 * 1024)

typedef Hoist__Envelope envelope_t;
typedef Hoist__Envelope__BodyCase envelope_body_t;

/* Packs E (its version set to ENVELOPE_VERSION) into a malloc'd buffer
 * owned by the caller. NULL when out of memory or when E has no body. */
uint8_t *envelope_pack(envelope_t *e, size_t *len);

/* Unpacks LEN bytes of BUF after checking LEN against MAX. Returns an
 * envelope owned by the caller (free with envelope_destroy), or NULL with
 * HOIST_ERR_PROTOCOL: too large, does not decode, wrong version, no body. */
envelope_t *envelope_unpack(const uint8_t *buf, size_t len, size_t max,
                            hoist_error_t *err);

void envelope_destroy(envelope_t **p);

/* "hello", "fetch", ... for logs; "unknown" for anything else. */
const char *envelope_body_name(envelope_body_t body);

/* Fills E as an Error reply to request ID with CODE and MESSAGE (which
 * must outlive E's packing). */
void envelope_error(envelope_t *e, Hoist__Error *body, uint64_t id,
                    hoist_err_t code, const char *message);

/* A route: the handler for one body. CTX is the daemon's root object,
 * PEER what the caller knows of the sender (its authenticated identity). */
typedef hoist_err_t (*envelope_fn)(void *ctx, void *peer, const envelope_t *e,
                                   hoist_error_t *err);

typedef struct {
    envelope_body_t body;
    envelope_fn fn;
} envelope_route_t;

/* Calls the handler of E's body from TABLE (of N routes). A body with no
 * route is HOIST_ERR_PROTOCOL ("unexpected hello"), for the caller to
 * answer with an Error or drop. Otherwise returns the handler's result. */
hoist_err_t envelope_dispatch(const envelope_route_t *table, size_t n,
                              void *ctx, void *peer, const envelope_t *e,
                              hoist_error_t *err);

#endif
