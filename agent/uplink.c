/*
 * uplink: see uplink.h.
 */
#include "uplink.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "curve.h"
#include "monotime.h"

/* libzmq's own TCP reconnection (below our session-level one) backs off
 * too, so a controller that is down is not hammered while a fresh socket
 * waits for its welcome. */
#define TCP_RECONNECT_MS     250
#define TCP_RECONNECT_MAX_MS 30000

struct uplink {
    char *endpoint;
    char server_key[CONF_KEY_Z85_LEN + 1];
    zcert_t *cert; /* borrowed */
    zsock_t *sock;
};

/* ---- the link ------------------------------------------------------------ */

uint64_t
uplink_backoff_ms(unsigned attempt, uint32_t rnd)
{
    uint64_t ms = UPLINK_BACKOFF_MIN_MS;
    for (unsigned i = 0; i < attempt && ms < UPLINK_BACKOFF_MAX_MS; i++) {
        ms *= 2;
    }
    if (ms > UPLINK_BACKOFF_MAX_MS) {
        ms = UPLINK_BACKOFF_MAX_MS;
    }
    return ms / 2 + rnd % (ms - ms / 2 + 1);
}

uint32_t
uplink_heartbeat_clamp(uint32_t ms)
{
    if (ms == 0) {
        return UPLINK_HEARTBEAT_DEFAULT_MS;
    }
    if (ms < UPLINK_HEARTBEAT_MIN_MS) {
        return UPLINK_HEARTBEAT_MIN_MS;
    }
    return ms > UPLINK_HEARTBEAT_MAX_MS ? UPLINK_HEARTBEAT_MAX_MS : ms;
}

void
uplink_link_init(uplink_link_t *l, uint64_t now)
{
    memset(l, 0, sizeof *l);
    l->state = UPLINK_DOWN;
    l->heartbeat_ms = UPLINK_HEARTBEAT_DEFAULT_MS;
    l->retry_at = now;
}

uplink_action_t
uplink_link_next(const uplink_link_t *l, uint64_t now)
{
    uint64_t silence = (uint64_t)l->heartbeat_ms * UPLINK_MISSED_MAX;
    switch (l->state) {
    case UPLINK_DOWN:
        return now >= l->retry_at ? UPLINK_CONNECT : UPLINK_IDLE;
    case UPLINK_CONNECTING:
        /* The hello is queued; heartbeats before the welcome would only
         * be refused as out of place. */
        return now - l->last_rx >= silence ? UPLINK_LOST : UPLINK_IDLE;
    case UPLINK_ONLINE:
        if (now - l->last_rx >= silence) {
            return UPLINK_LOST;
        }
        return now - l->last_tx >= l->heartbeat_ms ? UPLINK_HEARTBEAT
                                                   : UPLINK_IDLE;
    }
    return UPLINK_IDLE;
}

void
uplink_link_connected(uplink_link_t *l, uint64_t now)
{
    l->state = UPLINK_CONNECTING;
    l->last_rx = now;
    l->last_tx = now;
}

void
uplink_link_received(uplink_link_t *l, uint64_t now)
{
    l->last_rx = now;
}

void
uplink_link_heartbeat_sent(uplink_link_t *l, uint64_t now)
{
    l->last_tx = now;
}

bool
uplink_link_welcomed(uplink_link_t *l, uint64_t now, uint32_t heartbeat_ms)
{
    bool again = l->ever_welcomed && l->state != UPLINK_ONLINE;
    l->state = UPLINK_ONLINE;
    l->heartbeat_ms = uplink_heartbeat_clamp(heartbeat_ms);
    l->last_rx = now;
    l->last_tx = now;
    l->attempt = 0;
    l->ever_welcomed = true;
    return again;
}

uplink_state_t
uplink_link_lost(uplink_link_t *l, uint64_t now, uint32_t rnd)
{
    uplink_state_t was = l->state;
    l->state = UPLINK_DOWN;
    l->retry_at = now + uplink_backoff_ms(l->attempt, rnd);
    if (l->attempt < 64) {
        l->attempt++;
    }
    return was;
}

/* ---- the controller's key ------------------------------------------------ */

bool
uplink_use_next_key(unsigned attempt, bool has_next)
{
    return has_next && attempt % 2 == 1;
}

uplink_pin_t
uplink_pin_decide(bool via_next, const char *pinned_next, const char *announced)
{
    if (via_next && pinned_next[0]) {
        return UPLINK_PIN_PROMOTE;
    }
    if (announced[0] && conf_key_valid(announced) &&
        strcmp(announced, pinned_next) != 0) {
        return UPLINK_PIN_LEARN;
    }
    if (!announced[0] && pinned_next[0]) {
        return UPLINK_PIN_FORGET;
    }
    return UPLINK_PIN_KEEP;
}

/* ---- the socket ---------------------------------------------------------- */

uplink_t *
uplink_new(const char *endpoint, const char *server_key, zcert_t *cert,
           hoist_error_t *err)
{
    if (!conf_endpoint_valid(endpoint)) {
        error_set(err, HOIST_ERR_USAGE,
                  "'%.300s' is not a controller endpoint like "
                  "tcp://controller.example:7600",
                  endpoint ? endpoint : "");
        return NULL;
    }
    if (!conf_key_valid(server_key)) {
        error_set(err, HOIST_ERR_KEY,
                  "the controller key is not a CURVE public key (40 "
                  "characters of Z85)");
        return NULL;
    }
    uplink_t *u = calloc(1, sizeof *u);
    if (!u || !(u->endpoint = strdup(endpoint))) {
        free(u);
        error_set(err, HOIST_ERR_NOMEM, "out of memory");
        return NULL;
    }
    memcpy(u->server_key, server_key, sizeof u->server_key);
    u->cert = cert;
    return u;
}

hoist_err_t
uplink_set_server_key(uplink_t *u, const char *server_key, hoist_error_t *err)
{
    if (!conf_key_valid(server_key)) {
        return error_set(err, HOIST_ERR_KEY,
                         "the controller key is not a CURVE public key (40 "
                         "characters of Z85)");
    }
    memcpy(u->server_key, server_key, sizeof u->server_key);
    return HOIST_OK;
}

void
uplink_destroy(uplink_t **p)
{
    if (!p || !*p) {
        return;
    }
    uplink_close(*p);
    free((*p)->endpoint);
    free(*p);
    *p = NULL;
}

void
uplink_close(uplink_t *u)
{
    if (u->sock) {
        zsock_set_linger(u->sock, 0); /* drop what was queued */
        zsock_destroy(&u->sock);
    }
}

/* A DEALER that is a CURVE client of the pinned key, capped inbound,
 * dropping what it queued when it is closed. */
static zsock_t *
s_socket(uplink_t *u, hoist_error_t *err)
{
    zsock_t *s = curve_client_socket(ZMQ_DEALER, u->cert, u->server_key,
                                     ENVELOPE_MAX_BYTES, err);
    if (s) {
        zsock_set_linger(s, 0);
        zsock_set_reconnect_ivl(s, TCP_RECONNECT_MS);
        zsock_set_reconnect_ivl_max(s, TCP_RECONNECT_MAX_MS);
    }
    return s;
}

hoist_err_t
uplink_connect(uplink_t *u, hoist_error_t *err)
{
    uplink_close(u);
    u->sock = s_socket(u, err);
    if (!u->sock) {
        return err ? err->code : HOIST_ERR_IO;
    }
    if (zsock_connect(u->sock, "%s", u->endpoint) != 0) {
        uplink_close(u);
        return error_errno(err, HOIST_ERR_IO, zmq_errno(), "connect to %s",
                           u->endpoint);
    }
    return HOIST_OK;
}

zsock_t *
uplink_sock(uplink_t *u)
{
    return u->sock;
}

const char *
uplink_endpoint(const uplink_t *u)
{
    return u->endpoint;
}

hoist_err_t
uplink_send(uplink_t *u, envelope_t *e, hoist_error_t *err)
{
    if (!u->sock) {
        return error_set(err, HOIST_ERR_BUSY, "not connected to %s",
                         u->endpoint);
    }
    size_t len = 0;
    uint8_t *buf = envelope_pack(e, &len);
    if (!buf) {
        return error_set(err, HOIST_ERR_NOMEM, "cannot pack a %s message",
                         envelope_body_name(e->body_case));
    }
    int rc = zmq_send(zsock_resolve(u->sock), buf, len, ZMQ_DONTWAIT);
    int errnum = zmq_errno();
    free(buf);
    if (rc < 0) {
        return error_errno(err, HOIST_ERR_BUSY, errnum,
                           "cannot queue a %s message for %s",
                           envelope_body_name(e->body_case), u->endpoint);
    }
    return HOIST_OK;
}

hoist_err_t
uplink_recv(uplink_t *u, envelope_t **out, hoist_error_t *err)
{
    *out = NULL;
    if (!u->sock) {
        return HOIST_OK;
    }
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    void *h = zsock_resolve(u->sock);
    if (zmq_msg_recv(&msg, h, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&msg);
        return HOIST_OK;
    }
    bool more = zmq_msg_more(&msg);
    hoist_err_t rc = HOIST_OK;
    if (more) {
        rc = error_set(err, HOIST_ERR_PROTOCOL,
                       "dropped a message of several frames from %s",
                       u->endpoint);
    } else {
        *out = envelope_unpack(zmq_msg_data(&msg), zmq_msg_size(&msg),
                               ENVELOPE_MAX_BYTES, err);
        rc = *out ? HOIST_OK : HOIST_ERR_PROTOCOL;
    }
    zmq_msg_close(&msg);
    while (more) { /* the rest of a multi-frame message */
        zmq_msg_init(&msg);
        more = zmq_msg_recv(&msg, h, ZMQ_DONTWAIT) >= 0 && zmq_msg_more(&msg);
        zmq_msg_close(&msg);
    }
    return rc;
}

hoist_err_t
uplink_await(uplink_t *u, uint64_t id, int want, uint64_t timeout_ms,
             envelope_t **out, hoist_error_t *err)
{
    uint64_t deadline = monotime_ms() + timeout_ms;
    zpoller_t *poller = zpoller_new(uplink_sock(u), NULL);
    hoist_err_t rc = HOIST_ERR_TIMEOUT;
    for (uint64_t now = monotime_ms(); now < deadline && !zsys_interrupted;
         now = monotime_ms()) {
        envelope_t *e = NULL;
        if (!zpoller_wait(poller, (int)(deadline - now)) ||
            uplink_recv(u, &e, err) != HOIST_OK || !e) {
            continue;
        }
        if (e->id == id && ((int)e->body_case == want ||
                            e->body_case == HOIST__ENVELOPE__BODY_ERROR)) {
            *out = e;
            rc = HOIST_OK;
            break;
        }
        envelope_destroy(&e);
    }
    zpoller_destroy(&poller);
    if (rc == HOIST_ERR_TIMEOUT && zsys_interrupted) {
        return error_set(err, HOIST_ERR_USAGE, "interrupted");
    }
    return rc == HOIST_ERR_TIMEOUT
               ? error_set(err, rc, "no answer within %llu ms",
                           (unsigned long long)timeout_ms)
               : rc;
}

void
uplink_set_cert(uplink_t *u, zcert_t *cert)
{
    u->cert = cert;
}
