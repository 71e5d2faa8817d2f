/*
 * client: the CLI's connection to the controller's API socket.
 *
 * One DEALER, a CURVE client with the user's certificate, pinned to the
 * controller's public key from the config, inbound messages capped at
 * ENVELOPE_MAX_BYTES, linger 0. A call sends Envelope{request} with a
 * fresh random id and waits for Envelope{reply} or Envelope{error} with
 * the same id; anything else that arrives (a late answer to an earlier
 * call that timed out) is dropped.
 *
 * CURVE fails silently: a wrong server key, or a user key the controller
 * does not know, looks exactly like a controller that is not running. The
 * handshake fails, libzmq drops the pipe and retries, and nothing ever
 * answers. Hence every send and every wait is bounded (after a failed
 * handshake a DEALER's send would otherwise block for ever), and the
 * timeout message lists all three causes.
 */
#ifndef HOIST_CLIENT_H
#define HOIST_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include <czmq.h>

#include "error.h"

/* How long a call waits: an ordinary request, and an upload's steps
 * (the controller writes and hashes each chunk, and checks the whole
 * artifact at commit). */
#define CLIENT_TIMEOUT_MS        10000
#define CLIENT_UPLOAD_TIMEOUT_MS 60000

typedef struct client client_t;

/* The answer to one request: the CLI's exit code, the text a person
 * reads, and the JSON document that --json prints. */
typedef struct {
    int exit;
    char *text;
    char *json;
} client_reply_t;

/* Connects (lazily, as libzmq does) to ENDPOINT as the holder of CERT
 * (which must have its secret key; it is applied, not kept), trusting
 * only the server key SERVER_KEY_Z85. The timeout starts at
 * CLIENT_TIMEOUT_MS. Returns the client, the caller's (client_destroy),
 * or NULL with HOIST_ERR_KEY (bad key), HOIST_ERR_USAGE (bad endpoint) or
 * HOIST_ERR_IO. */
client_t *client_new(const char *endpoint, const char *server_key_z85,
                     zcert_t *cert, hoist_error_t *err);

/* Closes the socket, frees *P and sets it to NULL. Accepts NULL. */
void client_destroy(client_t **p);

/* How long the next calls wait for their answer, in milliseconds (> 0). */
void client_set_timeout(client_t *self, int timeout_ms);

/* Sends request COMMAND with NARGS positional ARGS, OPTIONS (a
 * NULL-terminated list of key, value, key, value...; NULL for none) and
 * LEN bytes of DATA (may be NULL when LEN is 0), and waits for its answer.
 * On a reply sets *REPLY (the caller's: client_reply_destroy) and returns
 * HOIST_OK, whatever the reply's exit code. Fails with the controller's
 * error code and message when it answered with an Error; HOIST_ERR_TIMEOUT
 * when nothing came in time ("the controller at E did not answer within
 * Ns (is it running? ...)"); HOIST_ERR_LIMIT when the request is over
 * ENVELOPE_MAX_BYTES; HOIST_ERR_NOMEM. */
hoist_err_t client_call(client_t *self, const char *command,
                        const char *const *args, size_t nargs,
                        const char *const *options, const uint8_t *data,
                        size_t len, client_reply_t **reply, hoist_error_t *err);

/* Frees a reply and sets *P to NULL. Accepts NULL. */
void client_reply_destroy(client_reply_t **p);

#endif
