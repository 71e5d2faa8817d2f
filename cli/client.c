/*
 * client: see client.h. One request is in flight at a time: the CLI
 * waits for each answer (an upload's chunks included) before it sends the
 * next request, so the socket never holds more than one request's bytes.
 */
#include "client.h"
#include "curve.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "envelope.h"

struct client {
    zsock_t *sock;
    char *endpoint;
    int timeout_ms;
};

client_t *
client_new(const char *endpoint, const char *server_key_z85, zcert_t *cert,
           hoist_error_t *err)
{
    if (sodium_init() < 0) {
        error_set(err, HOIST_ERR_NOMEM, "libsodium failed to start");
        return NULL;
    }
    client_t *self = calloc(1, sizeof *self);
    if (!self || !(self->endpoint = strdup(endpoint))) {
        free(self);
        error_set(err, HOIST_ERR_NOMEM, "out of memory");
        return NULL;
    }
    self->timeout_ms = CLIENT_TIMEOUT_MS;
    self->sock = curve_client_socket(ZMQ_DEALER, cert, server_key_z85,
                                     ENVELOPE_MAX_BYTES, err);
    if (!self->sock) {
        client_destroy(&self);
        return NULL;
    }
    zsock_set_linger(self->sock, 0);
    if (zsock_connect(self->sock, "%s", endpoint) != 0) {
        error_set(err, HOIST_ERR_USAGE,
                  "cannot connect to '%s': not a valid endpoint (use "
                  "tcp://HOST:PORT, as in the controller's cli.conf)",
                  endpoint);
        client_destroy(&self);
    }
    return self;
}

void
client_destroy(client_t **p)
{
    if (!p || !*p) {
        return;
    }
    client_t *self = *p;
    zsock_destroy(&self->sock);
    free(self->endpoint);
    free(self);
    *p = NULL;
}

void
client_set_timeout(client_t *self, int timeout_ms)
{
    assert(self && timeout_ms > 0);
    self->timeout_ms = timeout_ms;
}

void
client_reply_destroy(client_reply_t **p)
{
    if (!p || !*p) {
        return;
    }
    free((*p)->text);
    free((*p)->json);
    free(*p);
    *p = NULL;
}

/* ---- the request -------------------------------------------------------- */

/* A fresh request id: random, so that a late answer to another process's
 * or an earlier call's request can never be taken for ours. Never 0. */
static uint64_t
s_fresh_id(void)
{
    uint64_t id = 0;
    while (id == 0) {
        randombytes_buf(&id, sizeof id);
    }
    return id;
}

/* Counts the key/value pairs of a NULL-terminated OPTIONS list. */
static size_t
s_count_options(const char *const *options)
{
    size_t n = 0;
    while (options && options[2 * n]) {
        assert(options[2 * n + 1]);
        n++;
    }
    return n;
}

/* Packs Envelope{ID, request} into *BUF (malloc'd, the caller's). */
static hoist_err_t
s_pack(uint64_t id, const char *command, const char *const *args, size_t nargs,
       const char *const *options, const uint8_t *data, size_t len,
       uint8_t **buf, size_t *buf_len, hoist_error_t *err)
{
    size_t nopts = s_count_options(options);
    Hoist__ApiRequest__OptionsEntry *entries =
        calloc(nopts ? nopts : 1, sizeof *entries);
    Hoist__ApiRequest__OptionsEntry **ptrs =
        calloc(nopts ? nopts : 1, sizeof *ptrs);
    hoist_err_t rc = HOIST_OK;
    if (!entries || !ptrs) {
        rc = error_set(err, HOIST_ERR_NOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < nopts; i++) {
        hoist__api_request__options_entry__init(&entries[i]);
        entries[i].key = (char *)options[2 * i];
        entries[i].value = (char *)options[2 * i + 1];
        ptrs[i] = &entries[i];
    }
    Hoist__ApiRequest req = HOIST__API_REQUEST__INIT;
    req.command = (char *)command;
    req.n_args = nargs;
    req.args = (char **)args;
    req.n_options = nopts;
    req.options = ptrs;
    req.data.data = (uint8_t *)data;
    req.data.len = len;
    envelope_t e = HOIST__ENVELOPE__INIT;
    e.id = id;
    e.body_case = HOIST__ENVELOPE__BODY_REQUEST;
    e.request = &req;
    if (!(*buf = envelope_pack(&e, buf_len))) {
        rc = error_set(err, HOIST_ERR_NOMEM, "out of memory");
    } else if (*buf_len > ENVELOPE_MAX_BYTES) {
        rc = error_set(err, HOIST_ERR_LIMIT,
                       "%s: the request is %zu bytes, over the protocol's "
                       "limit of %d",
                       command, *buf_len, ENVELOPE_MAX_BYTES);
        free(*buf);
        *buf = NULL;
    }
out:
    free(entries);
    free(ptrs);
    return rc;
}

/* The timeout error, the same for every silent failure. */
static hoist_err_t
s_timeout(const client_t *self, hoist_error_t *err)
{
    return error_set(err, HOIST_ERR_TIMEOUT,
                     "the controller at %s did not answer within %gs (is it "
                     "running? is server_key in the config the controller's "
                     "key? is your key registered?)",
                     self->endpoint, self->timeout_ms / 1000.0);
}

/* ---- the answer --------------------------------------------------------- */

/* Copies an ApiReply into a fresh client_reply_t. */
static hoist_err_t
s_take_reply(const Hoist__ApiReply *r, client_reply_t **reply,
             hoist_error_t *err)
{
    client_reply_t *out = calloc(1, sizeof *out);
    if (out) {
        out->exit = r->exit;
        out->text = strdup(r->text ? r->text : "");
        out->json = strdup(r->json ? r->json : "");
    }
    if (!out || !out->text || !out->json) {
        client_reply_destroy(&out);
        return error_set(err, HOIST_ERR_NOMEM, "out of memory");
    }
    *reply = out;
    return HOIST_OK;
}

/* Turns the controller's Error into ours; its codes are ours. */
static hoist_err_t
s_take_error(const char *command, const Hoist__Error *e, hoist_error_t *err)
{
    hoist_err_t code = e->code > HOIST_OK && e->code < HOIST_ERR__COUNT
                           ? (hoist_err_t)e->code
                           : HOIST_ERR_PROTOCOL;
    return error_set(err, code, "%s: the controller refused: %s", command,
                     e->message && *e->message ? e->message
                                               : hoist_strerror(code));
}

/* Reads one message before DEADLINE (monotonic ms). Returns the envelope
 * (the caller's) when it is the answer to ID, else NULL with *TIMED_OUT
 * set when the time is up; strays are dropped. */
static envelope_t *
s_recv_one(client_t *self, uint64_t id, int64_t deadline, bool *timed_out)
{
    int64_t left = deadline - zclock_mono();
    if (left <= 0) {
        *timed_out = true;
        return NULL;
    }
    zsock_set_rcvtimeo(self->sock, (int)left);
    zmsg_t *msg = zmsg_recv(self->sock);
    if (!msg) {
        *timed_out = true;
        return NULL;
    }
    envelope_t *e = NULL;
    if (zmsg_size(msg) == 1) {
        zframe_t *f = zmsg_first(msg);
        e = envelope_unpack(zframe_data(f), zframe_size(f), ENVELOPE_MAX_BYTES,
                            NULL);
    }
    zmsg_destroy(&msg);
    bool ours = e && e->id == id &&
                (e->body_case == HOIST__ENVELOPE__BODY_REPLY ||
                 e->body_case == HOIST__ENVELOPE__BODY_ERROR);
    if (!ours) {
        envelope_destroy(&e);
    }
    return e;
}

/* Waits until DEADLINE for the answer to request ID. */
static hoist_err_t
s_wait(client_t *self, const char *command, uint64_t id, int64_t deadline,
       client_reply_t **reply, hoist_error_t *err)
{
    bool timed_out = false;
    envelope_t *e = NULL;
    while (!e && !timed_out) {
        e = s_recv_one(self, id, deadline, &timed_out);
    }
    if (!e) {
        return s_timeout(self, err);
    }
    hoist_err_t rc = e->body_case == HOIST__ENVELOPE__BODY_REPLY
                         ? s_take_reply(e->reply, reply, err)
                         : s_take_error(command, e->error, err);
    envelope_destroy(&e);
    return rc;
}

hoist_err_t
client_call(client_t *self, const char *command, const char *const *args,
            size_t nargs, const char *const *options, const uint8_t *data,
            size_t len, client_reply_t **reply, hoist_error_t *err)
{
    assert(self && command && (args || nargs == 0) && (data || len == 0));
    int64_t deadline = zclock_mono() + self->timeout_ms;
    uint64_t id = s_fresh_id();
    uint8_t *buf = NULL;
    size_t buf_len = 0;
    hoist_err_t rc = s_pack(id, command, args, nargs, options, data, len, &buf,
                            &buf_len, err);
    if (rc != HOIST_OK) {
        return rc;
    }
    /* Bounded: after a failed handshake the send would wait for ever. */
    zsock_set_sndtimeo(self->sock, self->timeout_ms);
    int sent = zmq_send(zsock_resolve(self->sock), buf, buf_len, 0);
    free(buf);
    if (sent < 0) {
        return zmq_errno() == EAGAIN
                   ? s_timeout(self, err)
                   : error_errno(err, HOIST_ERR_IO, zmq_errno(),
                                 "%s: cannot send to %s", command,
                                 self->endpoint);
    }
    return s_wait(self, command, id, deadline, reply, err);
}
