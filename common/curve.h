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

/* ---- certificate files ---------------------------------------------------
 *
 * czmq writes a certificate as DIR/NAME (the public half) and
 * DIR/NAME_secret (both halves), and zcert_load reads NAME_secret when it
 * exists: the secret file is the certificate, the public one a copy. */

/* Loads DIR/NAME_secret, refusing one that group or others may read
 * (HOIST_ERR_KEY, asking for chmod 600) or that is not a certificate with
 * a secret half (HOIST_ERR_KEY). HOIST_ERR_NOTFOUND when there is none.
 * The result belongs to the caller. */
zcert_t *curve_cert_load(const char *dir, const char *name, hoist_error_t *err);

/* Writes CERT as DIR/NAME_secret (0600 from its first byte) and DIR/NAME
 * (0644), each through a synced temporary file renamed into place, the
 * secret first, then syncs DIR. A crash leaves either no certificate or
 * a whole one. */
hoist_err_t curve_cert_save(zcert_t *cert, const char *dir, const char *name,
                            hoist_error_t *err);

/* Renames the certificate DIR/FROM over DIR/TO: FROM_secret over
 * TO_secret (the one step that switches) then the public file, then syncs
 * DIR. Run again after a crash between the two, it finishes (a missing
 * FROM_secret with FROM present). HOIST_ERR_NOTFOUND when neither is
 * there. */
hoist_err_t curve_cert_rename(const char *dir, const char *from, const char *to,
                              hoist_error_t *err);

#endif
