/*
 * curve: ZeroMQ CURVE sockets as every Hoist program makes them: a
 * certificate applied, inbound messages capped, keys in canonical Z85.
 * Clients (the agent's uplink, the CLI) pin the controller's public key;
 * the controller's server sockets add ZAP on top (controller/zap).
 */
#ifndef HOIST_CURVE_H
#define HOIST_CURVE_H

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

#include "error.h"

#define CURVE_KEY_BYTES   32
#define CURVE_KEY_Z85_LEN 40 /* a public key in Z85, no NUL */

/* True when TEXT is a key in canonical Z85 (it decodes, and encodes back
 * to the same text); the canonical form goes to OUT. */
bool curve_key_canonical(const char *text, char out[CURVE_KEY_Z85_LEN + 1]);

/* A socket of TYPE with CERT's key pair applied and inbound messages
 * capped at MAXMSGSIZE (> 0) bytes. NULL with HOIST_ERR_KEY (a
 * certificate without its secret half), HOIST_ERR_USAGE or HOIST_ERR_IO.
 * The result belongs to the caller. */
zsock_t *curve_socket(int type, zcert_t *cert, int64_t maxmsgsize,
                      hoist_error_t *err);

/* A CURVE client socket pinned to SERVER_PUBLIC_Z85, not yet connected.
 * Beware: after a failed handshake libzmq drops a DEALER's pipe, and a
 * send without ZMQ_DONTWAIT or a send timeout then blocks until a later
 * handshake succeeds, possibly for ever. */
zsock_t *curve_client_socket(int type, zcert_t *client_cert,
                             const char *server_public_z85, int64_t maxmsgsize,
                             hoist_error_t *err);

#endif
