/*
 * zap: a ZAP handler actor with a key table, and CURVE socket set-up.
 *
 * The actor owns a REP socket on inproc://zeromq.zap.01 (libzmq sends
 * each request with an envelope delimiter that REP strips and restores)
 * and a table from canonical Z85 key to verdict. The main thread talks to
 * it over the actor pipe:
 *
 *   start    actor -> "signal" (for zactor_new), then int: 0 or bind errno
 *   ALLOW    key user-id     -> "OK" | "ERR"
 *   DENY     key             -> "OK" | "ERR"
 *   $TERM                    (zactor_destroy) the actor unbinds and exits
 *
 * Nothing else ever comes back on the pipe, so a readable pipe outside a
 * call means the actor's exit signal: it has stopped.
 */
#include "zap.h"

#include "curve.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#define ZAP_ENDPOINT  "inproc://zeromq.zap.01"
#define ZAP_KEY_BYTES 32

/* Draft in zmq.h, yet honoured by libzmq 4.3.x (see zap.h). */
#ifndef ZMQ_ZAP_ENFORCE_DOMAIN
#define ZMQ_ZAP_ENFORCE_DOMAIN 93
#endif

struct zap {
    zactor_t *actor;
    bool dead; /* the actor has stopped or stopped answering */
};

/* What the table says about one key. */
typedef struct {
    bool denied;
    char user_id[ZAP_USER_ID_MAX + 1];
} s_entry_t;

/* The actor's state; only its thread touches it. */
typedef struct {
    zsock_t *pipe;
    zsock_t *handler; /* REP on ZAP_ENDPOINT */
    bool bound;
    zhashx_t *keys; /* canonical Z85 key -> s_entry_t */
    bool terminated;
} s_self_t;

/* The answer to one ZAP request. */
typedef struct {
    const char *status; /* "200", "400", "500" */
    const char *text;
    char user_id[ZAP_USER_ID_MAX + 1]; /* empty unless 200 */
} s_verdict_t;

/* ---- keys and user ids -------------------------------------------------- */

/* True for 1..ZAP_USER_ID_MAX printable, space-free characters that do
 * not claim the "unknown:" form the handler gives to strangers. */
static bool
s_user_id_valid(const char *user_id)
{
    if (!user_id) {
        return false;
    }
    size_t n = strlen(user_id);
    if (n == 0 || n > ZAP_USER_ID_MAX) {
        return false;
    }
    if (strncmp(user_id, ZAP_UNKNOWN_PREFIX, strlen(ZAP_UNKNOWN_PREFIX)) == 0) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)user_id[i];
        if (c < 0x21 || c > 0x7e) {
            return false;
        }
    }
    return true;
}

/* ---- the actor: key table ----------------------------------------------- */

static void
s_entry_destroy(void **item)
{
    free(*item);
    *item = NULL;
}

/* Records KEY as denied, or as allowed with USER_ID. */
static bool
s_table_set(s_self_t *self, const char *key, bool denied, const char *user_id)
{
    char canon[ZAP_KEY_Z85_LEN + 1];
    if (!curve_key_canonical(key, canon) ||
        (!denied && !s_user_id_valid(user_id))) {
        return false;
    }
    s_entry_t *entry = calloc(1, sizeof *entry);
    if (!entry) {
        return false;
    }
    entry->denied = denied;
    if (!denied) {
        snprintf(entry->user_id, sizeof entry->user_id, "%s", user_id);
    }
    zhashx_update(self->keys, canon, entry);
    return true;
}

/* Applies one ALLOW or DENY command whose name was already popped. */
static bool
s_apply(s_self_t *self, const char *command, zmsg_t *msg)
{
    char *key = zmsg_popstr(msg);
    char *user_id = zmsg_popstr(msg);
    bool ok = false;
    if (streq(command, "ALLOW") && key && user_id) {
        ok = s_table_set(self, key, false, user_id);
    } else if (streq(command, "DENY") && key && !user_id) {
        ok = s_table_set(self, key, true, NULL);
    }
    zstr_free(&key);
    zstr_free(&user_id);
    return ok;
}

/* Reads one command off the pipe and acknowledges it. */
static void
s_handle_command(s_self_t *self)
{
    zmsg_t *msg = zmsg_recv(self->pipe);
    if (!msg) {
        return;
    }
    char *command = zmsg_popstr(msg);
    if (command && streq(command, "$TERM")) {
        self->terminated = true;
    } else {
        bool ok = command && s_apply(self, command, msg);
        zstr_send(self->pipe, ok ? "OK" : "ERR");
    }
    zstr_free(&command);
    zmsg_destroy(&msg);
}

/* ---- the actor: ZAP requests -------------------------------------------- */

static bool
s_frame_is(zframe_t *frame, const char *text)
{
    size_t n = strlen(text);
    return frame && zframe_size(frame) == n &&
           memcmp(zframe_data(frame), text, n) == 0;
}

static void
s_verdict(s_verdict_t *v, const char *status, const char *text)
{
    v->status = status;
    v->text = text;
    v->user_id[0] = '\0';
}

/* Judges a well-formed CURVE request for KEY (32 bytes) on DOMAIN. */
static void
s_judge_curve(const s_self_t *self, zframe_t *domain, const uint8_t *key,
              s_verdict_t *v)
{
    bool agents = s_frame_is(domain, ZAP_DOMAIN_AGENTS);
    if (!agents && !s_frame_is(domain, ZAP_DOMAIN_API)) {
        s_verdict(v, "400", "unknown ZAP domain");
        return;
    }
    char z85[ZAP_KEY_Z85_LEN + 1];
    zmq_z85_encode(z85, key, ZAP_KEY_BYTES);
    const s_entry_t *entry = zhashx_lookup(self->keys, z85);
    if (entry && entry->denied) {
        s_verdict(v, "400", "key revoked");
    } else if (entry) {
        s_verdict(v, "200", "OK");
        snprintf(v->user_id, sizeof v->user_id, "%s", entry->user_id);
    } else if (agents) {
        s_verdict(v, "200", "OK");
        snprintf(v->user_id, sizeof v->user_id, "%s%s", ZAP_UNKNOWN_PREFIX,
                 z85);
    } else {
        s_verdict(v, "400", "unknown key");
    }
}

/* Judges REQ (version, request id, domain, address, identity, mechanism,
 * credentials...) without trusting its shape: anything odd is refused. */
static void
s_judge(const s_self_t *self, zmsg_t *req, s_verdict_t *v)
{
    zframe_t *version = zmsg_first(req);
    zmsg_next(req); /* request id */
    zframe_t *domain = zmsg_next(req);
    zmsg_next(req); /* address */
    zmsg_next(req); /* routing id */
    zframe_t *mechanism = zmsg_next(req);
    zframe_t *credential = zmsg_next(req);
    if (!s_frame_is(version, "1.0") || !mechanism) {
        s_verdict(v, "500", "malformed ZAP request");
    } else if (!s_frame_is(mechanism, "CURVE")) {
        s_verdict(v, "400", "only CURVE is accepted");
    } else if (!credential || zframe_size(credential) != ZAP_KEY_BYTES ||
               zmsg_next(req)) {
        s_verdict(v, "500", "malformed CURVE credentials");
    } else {
        s_judge_curve(self, domain, zframe_data(credential), v);
    }
}

/* A copy of REQ's request id (its second frame); empty when missing. */
static zframe_t *
s_request_id(zmsg_t *req)
{
    zframe_t *frame = zmsg_first(req);
    frame = frame ? zmsg_next(req) : NULL;
    return frame ? zframe_dup(frame) : zframe_new_empty();
}

/* Answers one request: version, the request id echoed, status, text,
 * user id, empty metadata. REP needs a reply for every request. */
static void
s_handle_request(s_self_t *self)
{
    zmsg_t *req = zmsg_recv(self->handler);
    if (!req) {
        return;
    }
    s_verdict_t v;
    s_judge(self, req, &v);
    zframe_t *id = s_request_id(req);
    zmsg_t *reply = zmsg_new();
    zmsg_addstr(reply, "1.0");
    zmsg_append(reply, &id);
    zmsg_addstr(reply, v.status);
    zmsg_addstr(reply, v.text);
    zmsg_addstr(reply, v.user_id);
    zmsg_addstr(reply, "");
    zmsg_send(&reply, self->handler);
    zmsg_destroy(&reply);
    zmsg_destroy(&req);
}

/* ---- the actor: life ---------------------------------------------------- */

/* Creates the table and binds the handler; 0 or an errno. */
static int
s_self_init(s_self_t *self)
{
    self->keys = zhashx_new();
    self->handler = zsock_new(ZMQ_REP);
    if (!self->keys || !self->handler) {
        return ENOMEM;
    }
    zhashx_set_destructor(self->keys, s_entry_destroy);
    if (zsock_bind(self->handler, "%s", ZAP_ENDPOINT) != 0) {
        return zmq_errno() ? zmq_errno() : EADDRINUSE;
    }
    self->bound = true;
    return 0;
}

static void
s_self_fini(s_self_t *self)
{
    if (self->bound) {
        zsock_unbind(self->handler, "%s", ZAP_ENDPOINT);
    }
    zsock_destroy(&self->handler);
    zhashx_destroy(&self->keys);
}

/* Serves commands and requests until $TERM or the context ends. A signal
 * (EINTR) does not stop it: only the controller decides to stop it. */
static void
s_self_run(s_self_t *self)
{
    zmq_pollitem_t items[] = {
        {zsock_resolve(self->pipe), 0, ZMQ_POLLIN, 0},
        {zsock_resolve(self->handler), 0, ZMQ_POLLIN, 0},
    };
    while (!self->terminated) {
        if (zmq_poll(items, 2, -1) == -1) {
            if (zmq_errno() == EINTR) {
                continue;
            }
            break;
        }
        if (items[0].revents & ZMQ_POLLIN) {
            s_handle_command(self);
        }
        if (!self->terminated && (items[1].revents & ZMQ_POLLIN)) {
            s_handle_request(self);
        }
    }
}

static void
s_actor(zsock_t *pipe, void *args)
{
    (void)args;
    s_self_t self = {.pipe = pipe};
    int rc = s_self_init(&self);
    zsock_signal(pipe, 0);
    zsock_send(pipe, "i", rc);
    if (rc == 0) {
        s_self_run(&self);
    }
    s_self_fini(&self);
}

/* ---- the main thread's side --------------------------------------------- */

zap_t *
zap_new(hoist_error_t *err)
{
    zap_t *self = calloc(1, sizeof *self);
    if (!self) {
        error_set(err, HOIST_ERR_NOMEM, "zap: out of memory");
        return NULL;
    }
    self->actor = zactor_new(s_actor, NULL);
    if (!self->actor) {
        error_set(err, HOIST_ERR_IO, "zap: cannot start the ZAP handler");
        free(self);
        return NULL;
    }
    /* Bounded waits: a handler that has stopped must never hang us. */
    zsock_set_rcvtimeo(zap_sock(self), ZAP_ACK_TIMEOUT_MS);
    zsock_set_sndtimeo(zap_sock(self), ZAP_ACK_TIMEOUT_MS);
    int rc = ETIMEDOUT;
    if (zsock_recv(self->actor, "i", &rc) != 0) {
        rc = ETIMEDOUT;
    }
    if (rc != 0) {
        error_errno(err, HOIST_ERR_IO, rc,
                    "zap: cannot bind the ZAP handler to %s (another "
                    "handler in this process?)",
                    ZAP_ENDPOINT);
        zap_destroy(&self);
    }
    return self;
}

void
zap_destroy(zap_t **p)
{
    if (!p || !*p) {
        return;
    }
    zap_t *self = *p;
    zactor_destroy(&self->actor);
    free(self);
    *p = NULL;
}

zsock_t *
zap_sock(zap_t *self)
{
    assert(self);
    return zactor_sock(self->actor);
}

bool
zap_alive(zap_t *self)
{
    assert(self);
    if (!self->dead && (zsock_events(zap_sock(self)) & ZMQ_POLLIN)) {
        zmsg_t *msg = zmsg_recv(self->actor);
        zmsg_destroy(&msg);
        self->dead = true;
    }
    return !self->dead;
}

/* Sends COMMAND KEY [USER_ID] and waits for the actor's "OK". */
static hoist_err_t
s_call(zap_t *self, const char *command, const char *key, const char *user_id,
       hoist_error_t *err)
{
    if (!zap_alive(self)) {
        return error_set(err, HOIST_ERR_IO, "zap: the ZAP handler has stopped");
    }
    int rc = user_id ? zstr_sendx(self->actor, command, key, user_id, NULL)
                     : zstr_sendx(self->actor, command, key, NULL);
    char *reply = rc == 0 ? zstr_recv(self->actor) : NULL;
    bool ok = reply && streq(reply, "OK");
    bool refused = reply && streq(reply, "ERR");
    zstr_free(&reply);
    if (ok) {
        return HOIST_OK;
    }
    if (refused) {
        return error_set(err, HOIST_ERR_USAGE, "zap: the handler refused %s %s",
                         command, key);
    }
    self->dead = true;
    return error_set(err, HOIST_ERR_IO,
                     "zap: the ZAP handler did not answer %s within %d ms",
                     command, ZAP_ACK_TIMEOUT_MS);
}

hoist_err_t
zap_allow(zap_t *self, const char *key_z85, const char *user_id,
          hoist_error_t *err)
{
    assert(self);
    char key[ZAP_KEY_Z85_LEN + 1];
    if (!curve_key_canonical(key_z85, key)) {
        return error_set(err, HOIST_ERR_KEY,
                         "zap: \"%.64s\" is not a CURVE public key (40 "
                         "characters of Z85)",
                         key_z85 ? key_z85 : "");
    }
    if (!s_user_id_valid(user_id)) {
        return error_set(err, HOIST_ERR_USAGE,
                         "zap: user id \"%.64s\" must be 1 to %d printable "
                         "characters without spaces, not starting with "
                         "\"%s\"",
                         user_id ? user_id : "", ZAP_USER_ID_MAX,
                         ZAP_UNKNOWN_PREFIX);
    }
    return s_call(self, "ALLOW", key, user_id, err);
}

hoist_err_t
zap_deny(zap_t *self, const char *key_z85, hoist_error_t *err)
{
    assert(self);
    char key[ZAP_KEY_Z85_LEN + 1];
    if (!curve_key_canonical(key_z85, key)) {
        return error_set(err, HOIST_ERR_KEY,
                         "zap: \"%.64s\" is not a CURVE public key (40 "
                         "characters of Z85)",
                         key_z85 ? key_z85 : "");
    }
    return s_call(self, "DENY", key, NULL, err);
}

/* ---- sockets ------------------------------------------------------------ */

/* Sets ZMQ_ZAP_ENFORCE_DOMAIN and checks that libzmq kept it. */
static hoist_err_t
s_enforce_domain(zsock_t *sock, hoist_error_t *err)
{
    int on = 1;
    int got = 0;
    size_t len = sizeof got;
    void *handle = zsock_resolve(sock);
    if (zmq_setsockopt(handle, ZMQ_ZAP_ENFORCE_DOMAIN, &on, sizeof on) != 0 ||
        zmq_getsockopt(handle, ZMQ_ZAP_ENFORCE_DOMAIN, &got, &len) != 0 ||
        got != 1) {
        return error_set(err, HOIST_ERR_IO,
                         "zap: this libzmq does not support "
                         "ZMQ_ZAP_ENFORCE_DOMAIN; without it a stopped ZAP "
                         "handler would let anyone in (use libzmq 4.3)");
    }
    return HOIST_OK;
}

zsock_t *
zap_server_socket(int type, zcert_t *server_cert, const char *domain,
                  int64_t maxmsgsize, hoist_error_t *err)
{
    if (!domain ||
        (!streq(domain, ZAP_DOMAIN_AGENTS) && !streq(domain, ZAP_DOMAIN_API))) {
        error_set(err, HOIST_ERR_USAGE,
                  "zap: ZAP domain \"%.64s\" is neither \"%s\" nor \"%s\"",
                  domain ? domain : "", ZAP_DOMAIN_AGENTS, ZAP_DOMAIN_API);
        return NULL;
    }
    zsock_t *sock = curve_socket(type, server_cert, maxmsgsize, err);
    if (!sock) {
        return NULL;
    }
    zsock_set_curve_server(sock, 1);
    zsock_set_zap_domain(sock, domain);
    if (zsock_curve_server(sock) != 1) {
        error_set(err, HOIST_ERR_IO, "zap: this libzmq has no CURVE support");
        zsock_destroy(&sock);
    } else if (s_enforce_domain(sock, err) != HOIST_OK) {
        zsock_destroy(&sock);
    }
    return sock;
}

const char *
zap_user_id(zframe_t *frame)
{
    if (!frame) {
        return NULL;
    }
    const char *user_id = zframe_meta(frame, "User-Id");
    return user_id && *user_id ? user_id : NULL;
}

void
zap_agent_id(char *out, size_t len, const char *name, const char *key)
{
    snprintf(out, len, ZAP_AGENT_PREFIX "%s:%s", name, key);
}

bool
zap_agent_id_parse(const char *id, char *name, size_t len,
                   char key[ZAP_KEY_Z85_LEN + 1])
{
    size_t pre = strlen(ZAP_AGENT_PREFIX), n = strlen(id);
    if (strncmp(id, ZAP_AGENT_PREFIX, pre) != 0 ||
        n < pre + 2 + ZAP_KEY_Z85_LEN || id[n - ZAP_KEY_Z85_LEN - 1] != ':') {
        return false;
    }
    size_t name_len = n - pre - ZAP_KEY_Z85_LEN - 1;
    if (name_len >= len) {
        return false;
    }
    memcpy(name, id + pre, name_len);
    name[name_len] = '\0';
    memcpy(key, id + n - ZAP_KEY_Z85_LEN, ZAP_KEY_Z85_LEN + 1);
    return true;
}
