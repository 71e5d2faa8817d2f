/*
 * envelope: see envelope.h.
 */
#include "envelope.h"

#include <stdlib.h>

static const struct {
    envelope_body_t body;
    const char *name;
} s_names[] = {
    {HOIST__ENVELOPE__BODY_ERROR, "error"},
    {HOIST__ENVELOPE__BODY_ENROLL, "enroll"},
    {HOIST__ENVELOPE__BODY_HELLO, "hello"},
    {HOIST__ENVELOPE__BODY_HEARTBEAT, "heartbeat"},
    {HOIST__ENVELOPE__BODY_FETCH, "fetch"},
    {HOIST__ENVELOPE__BODY_PROGRESS, "progress"},
    {HOIST__ENVELOPE__BODY_RESULT, "result"},
    {HOIST__ENVELOPE__BODY_ENROLLED, "enrolled"},
    {HOIST__ENVELOPE__BODY_WELCOME, "welcome"},
    {HOIST__ENVELOPE__BODY_DEPLOY, "deploy"},
    {HOIST__ENVELOPE__BODY_CHUNK, "chunk"},
    {HOIST__ENVELOPE__BODY_REQUEST, "request"},
    {HOIST__ENVELOPE__BODY_REPLY, "reply"},
};

const char *
envelope_body_name(envelope_body_t body)
{
    for (size_t i = 0; i < sizeof s_names / sizeof *s_names; i++) {
        if (s_names[i].body == body) {
            return s_names[i].name;
        }
    }
    return "unknown";
}

uint8_t *
envelope_pack(envelope_t *e, size_t *len)
{
    if (e->body_case == HOIST__ENVELOPE__BODY__NOT_SET) {
        return NULL;
    }
    e->version = ENVELOPE_VERSION;
    *len = hoist__envelope__get_packed_size(e);
    uint8_t *buf = malloc(*len ? *len : 1);
    if (buf) {
        hoist__envelope__pack(e, buf);
    }
    return buf;
}

envelope_t *
envelope_unpack(const uint8_t *buf, size_t len, size_t max, hoist_error_t *err)
{
    if (len > max) {
        error_set(err, HOIST_ERR_PROTOCOL,
                  "message of %zu bytes is over the %zu-byte limit", len, max);
        return NULL;
    }
    envelope_t *e = hoist__envelope__unpack(NULL, len, buf);
    if (!e) {
        error_set(err, HOIST_ERR_PROTOCOL, "message does not decode");
        return NULL;
    }
    if (e->version != ENVELOPE_VERSION) {
        error_set(err, HOIST_ERR_PROTOCOL,
                  "protocol version %u is not spoken here (this side speaks "
                  "%d)",
                  e->version, ENVELOPE_VERSION);
        envelope_destroy(&e);
        return NULL;
    }
    if (e->body_case == HOIST__ENVELOPE__BODY__NOT_SET) {
        error_set(err, HOIST_ERR_PROTOCOL, "message has no body");
        envelope_destroy(&e);
        return NULL;
    }
    return e;
}

void
envelope_destroy(envelope_t **p)
{
    if (p && *p) {
        hoist__envelope__free_unpacked(*p, NULL);
        *p = NULL;
    }
}

void
envelope_error(envelope_t *e, Hoist__Error *body, uint64_t id, hoist_err_t code,
               const char *message)
{
    hoist__envelope__init(e);
    hoist__error__init(body);
    body->code = (uint32_t)code;
    body->message = (char *)message;
    e->id = id;
    e->body_case = HOIST__ENVELOPE__BODY_ERROR;
    e->error = body;
}

hoist_err_t
envelope_dispatch(const envelope_route_t *table, size_t n, void *ctx,
                  void *peer, const envelope_t *e, hoist_error_t *err)
{
    for (size_t i = 0; i < n; i++) {
        if (table[i].body == e->body_case) {
            return table[i].fn(ctx, peer, e, err);
        }
    }
    return error_set(err, HOIST_ERR_PROTOCOL, "unexpected %s message",
                     envelope_body_name(e->body_case));
}
