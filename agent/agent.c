/*
 * agent: see agent.h. The loop has three kinds of events: a message on
 * the uplink (s_on_uplink, dispatched by a closed table), the tick
 * (s_on_tick: the link's decisions, the order's timers) and the install
 * child's pipe (watched by order.c).
 */
#include "agent.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "curve.h"
#include "drill.h"
#include "envelope.h"
#include "facts.h"
#include "fault.h"
#include "install.h"
#include "log.h"
#include "monotime.h"
#include "order.h"
#include "tree.h"
#include "uplink.h"

#define RECV_BURST   64 /* messages read per wake-up before yielding */
#define ID_HELLO     1  /* Envelope.id of hellos (echoed by the welcome) */
#define ID_HEARTBEAT 2  /* Envelope.id of heartbeats */
#define TICK_MIN_MS  10
#define TICK_MAX_MS  500
#define RESENDS_MAX  3 /* a result is sent again at most this often */

struct agent {
    agent_opts_t o;
    conf_t conf;     /* o.conf points here: the pinned keys change */
    bool via_next;   /* this connection pinned the controller's next key */
    zlistx_t *certs; /* key pairs taken over by agent_set_cert, newest last */
    char hook_user[LOGIN_NAME_MAX + 1]; /* o.hook_user points here or NULL */
    zloop_t *loop;
    uplink_t *up;
    zsock_t *reading; /* the socket registered with the loop */
    uplink_link_t link;
    int tick_id;
    uint64_t seq;        /* of our heartbeats */
    uint64_t last_hello; /* when the last hello was sent */
    order_t *order;
    drill_t *drill;  /* failover/failback hooks (drill.h) */
    uint8_t *result; /* the last Result sent, packed */
    size_t result_len;
    uint64_t result_deployment;
    bool result_rollback; /* it answered a rollback order */
    uint64_t result_at;   /* when it was (last) sent */
    bool resend;          /* send it again after the next welcome */
    unsigned resends;     /* times it may still be sent again */
    uint64_t last_sign;   /* last message from the controller not an Error */
};

static void s_arm_tick(agent_t *a);
static int s_on_tick(zloop_t *loop, int timer_id, void *arg);

/* ---- sending ------------------------------------------------------------- */

/* Keeps a copy of the Result E; SENT says whether it went out. */
static void
s_keep_result(agent_t *a, envelope_t *e, bool sent)
{
    size_t len = 0;
    uint8_t *buf = envelope_pack(e, &len);
    if (!buf) {
        return;
    }
    free(a->result);
    a->result = buf;
    a->result_len = len;
    a->result_deployment = e->result->deployment;
    a->result_rollback = e->result->rollback;
    a->result_at = monotime_ms();
    a->resends = RESENDS_MAX;
    a->resend = !sent || a->link.state != UPLINK_ONLINE;
}

/* The kept Result may not have been taken: nothing but refusals came from
 * the controller since it was sent. Send it again after the next welcome
 * (a controller takes results as idempotent). */
static void
s_mark_unconfirmed(agent_t *a)
{
    if (a->result && a->result_at >= a->last_sign && a->resends > 0) {
        a->resend = true;
    }
}

/* order_ctx_t.send and everyone else's way out. */
static hoist_err_t
s_send(void *arg, envelope_t *e)
{
    agent_t *a = arg;
    hoist_error_t err = {0};
    hoist_err_t rc = uplink_send(a->up, e, &err);
    if (rc != HOIST_OK) {
        log_debug("%s", err.msg);
    }
    if (e->body_case == HOIST__ENVELOPE__BODY_RESULT) {
        s_keep_result(a, e, rc == HOIST_OK);
    }
    return rc;
}

static bool
s_online(void *arg)
{
    agent_t *a = arg;
    return a->link.state == UPLINK_ONLINE;
}

/* Sends the kept Result again when it may not have arrived, or (FORCE)
 * because the controller asked for its deployment again. */
static void
s_resend_result(agent_t *a, bool force)
{
    if (!a->result || (!force && (!a->resend || a->resends == 0))) {
        return;
    }
    if (!force) {
        a->resends--;
    }
    envelope_t *e =
        envelope_unpack(a->result, a->result_len, ENVELOPE_MAX_BYTES, NULL);
    if (e) {
        log_info("sending the result of deployment %llu again",
                 (unsigned long long)e->result->deployment);
        unsigned left = a->resends;
        a->resend = false;
        s_send(a, e); /* keeps it again, to resend if this send fails */
        a->resends = left;
        envelope_destroy(&e);
    }
}

static void
s_hello(agent_t *a)
{
    facts_t *f = malloc(sizeof *f);
    facts_pb_t *pb = malloc(sizeof *pb);
    if (f && pb) {
        facts_gather(a->o.root, f);
        facts_to_pb(f, pb);
        Hoist__Hello h = HOIST__HELLO__INIT;
        h.facts = &pb->msg;
        h.next_server_key = a->conf.next_server_key;
        envelope_t e = HOIST__ENVELOPE__INIT;
        e.id = ID_HELLO;
        e.body_case = HOIST__ENVELOPE__BODY_HELLO;
        e.hello = &h;
        s_send(a, &e);
        a->last_hello = monotime_ms();
    }
    free(pb);
    free(f);
}

static void
s_heartbeat(agent_t *a, uint64_t now)
{
    Hoist__Heartbeat h = HOIST__HEARTBEAT__INIT;
    h.seq = ++a->seq;
    envelope_t e = HOIST__ENVELOPE__INIT;
    e.id = ID_HEARTBEAT;
    e.body_case = HOIST__ENVELOPE__BODY_HEARTBEAT;
    e.heartbeat = &h;
    s_send(a, &e);
    uplink_link_heartbeat_sent(&a->link, now);
}

/* Answers a deploy order that cannot start with `rejected`. It is not
 * kept for sending again: it does not end the deployment it refuses to
 * start alongside the running one. */
static void
s_reject(agent_t *a, uint64_t id, uint64_t deployment, const char *message)
{
    hoist_error_t err = {0};
    Hoist__Result r = HOIST__RESULT__INIT;
    r.deployment = deployment;
    r.outcome = (char *)install_outcome_name(INSTALL_REJECTED);
    r.message = (char *)message;
    envelope_t e = HOIST__ENVELOPE__INIT;
    e.id = id;
    e.body_case = HOIST__ENVELOPE__BODY_RESULT;
    e.result = &r;
    log_warn("deployment %llu: rejected: %s", (unsigned long long)deployment,
             message);
    if (uplink_send(a->up, &e, &err) != HOIST_OK) {
        log_debug("%s", err.msg);
    }
}

/* ---- the controller's key (uplink.h) ------------------------------------- */

/* Writes the pinned keys KEY and NEXT to agent.conf, then to memory:
 * what is in force is what a restart would read. */
static bool
s_pin_save(agent_t *a, const char *key, const char *next)
{
    conf_t c = a->conf;
    snprintf(c.server_key, sizeof c.server_key, "%s", key);
    snprintf(c.next_server_key, sizeof c.next_server_key, "%s", next);
    hoist_error_t err = {0};
    if (conf_save(a->o.root, &c, &err) != HOIST_OK) {
        log_warn("cannot record the controller's key: %s", err.msg);
        return false;
    }
    a->conf = c;
    return true;
}

/* Acts on what welcome W says about the controller's key. */
static void
s_pin(agent_t *a, const Hoist__Welcome *w)
{
    const char *announced = w->next_server_key ? w->next_server_key : "";
    switch (
        uplink_pin_decide(a->via_next, a->conf.next_server_key, announced)) {
    case UPLINK_PIN_KEEP:
        return;
    case UPLINK_PIN_PROMOTE:
        if (s_pin_save(a, a->conf.next_server_key, "")) {
            log_warn("the controller now serves with its new key %.8s...: "
                     "pinned it in place of the old one",
                     a->conf.server_key);
            a->via_next = false;
        }
        return;
    case UPLINK_PIN_LEARN:
        if (s_pin_save(a, a->conf.server_key, announced)) {
            log_info("the controller announced its next key %.8s...: "
                     "pinned, for when it rotates",
                     announced);
            s_hello(a); /* tells the controller this agent is ready */
        }
        return;
    case UPLINK_PIN_FORGET:
        if (s_pin_save(a, a->conf.server_key, "")) {
            log_info("the controller no longer announces a next key: "
                     "dropped the one pinned");
            s_hello(a);
        }
        return;
    }
}

/* ---- receiving ----------------------------------------------------------- */

static hoist_err_t
s_on_welcome(void *ctx, void *peer, const envelope_t *e, hoist_error_t *err)
{
    agent_t *a = ctx;
    uint64_t now = monotime_ms();
    uint32_t old_ms = a->link.heartbeat_ms;
    bool first = !a->link.ever_welcomed;
    bool again = uplink_link_welcomed(&a->link, now, e->welcome->heartbeat_ms);
    if (first) {
        log_info("connected to the controller at %s as %s in %s "
                 "(heartbeat every %u ms)",
                 uplink_endpoint(a->up), a->o.conf->name, a->o.conf->env,
                 a->link.heartbeat_ms);
    } else if (again) {
        log_info("reconnected to the controller at %s", uplink_endpoint(a->up));
    }
    if (a->link.heartbeat_ms != old_ms) {
        s_arm_tick(a);
    }
    s_pin(a, e->welcome);
    if (a->order) {
        order_on_online(a->order, now);
    }
    s_resend_result(a, false);
    return HOIST_OK;
}

static hoist_err_t
s_on_heartbeat(void *ctx, void *peer, const envelope_t *e, hoist_error_t *err)
{
    return HOIST_OK; /* its arrival is what counts */
}

static hoist_err_t
s_on_deploy(void *ctx, void *peer, const envelope_t *e, hoist_error_t *err)
{
    agent_t *a = ctx;
    const Hoist__DeployOrder *d = e->deploy;
    bool running = a->order && !order_reported(a->order);
    /* A controller sends the orders of unfinished tasks again after each
     * hello: the one in hand goes on, one that ended gets its result. An
     * order is its deployment and its kind: within one deployment a
     * rollout may first install a release, then put this agent back. */
    if (running && order_deployment(a->order) == d->deployment &&
        order_rollback(a->order) == d->rollback) {
        log_debug("deployment %llu: in progress already",
                  (unsigned long long)d->deployment);
        return HOIST_OK;
    }
    if (!running && a->result && a->result_deployment == d->deployment &&
        a->result_rollback == d->rollback) {
        s_resend_result(a, true);
        return HOIST_OK;
    }
    if (running) {
        char msg[128];
        snprintf(msg, sizeof msg, "busy with deployment %llu",
                 (unsigned long long)order_deployment(a->order));
        s_reject(a, e->id, d->deployment, msg);
        return HOIST_OK;
    }
    if (a->drill && drill_running(a->drill)) {
        /* A release switched under a failover hook would leave DR in a
         * state no one chose. */
        char msg[256];
        snprintf(msg, sizeof msg, "busy with %s", drill_running_what(a->drill));
        s_reject(a, e->id, d->deployment, msg);
        return HOIST_OK;
    }
    order_destroy(&a->order);
    order_ctx_t oc = {.root = a->o.root,
                      .env = a->o.conf->env,
                      .hook_user = a->o.hook_user,
                      .cert = a->o.cert,
                      .trusted = a->o.trusted,
                      .n_trusted = a->o.n_trusted,
                      .keep = a->o.keep,
                      .stall_ms = a->o.stall_ms,
                      .loop = a->loop,
                      .send = s_send,
                      .online = s_online,
                      .arg = a};
    a->order = order_start(&oc, e->id, d, monotime_ms());
    return HOIST_OK;
}

/* A failover or failback hook to run (drill.h); an install in hand makes
 * the agent busy. */
static hoist_err_t
s_on_hook(void *ctx, void *peer, const envelope_t *e, hoist_error_t *err)
{
    agent_t *a = ctx;
    char busy[128];
    if (!a->drill) {
        return HOIST_OK; /* stopping */
    }
    if (a->order && !order_reported(a->order)) {
        snprintf(busy, sizeof busy, "busy with deployment %llu",
                 (unsigned long long)order_deployment(a->order));
    }
    drill_on_order(a->drill, e->id, e->hook,
                   a->order && !order_reported(a->order) ? busy : NULL);
    return HOIST_OK;
}

static hoist_err_t
s_on_chunk(void *ctx, void *peer, const envelope_t *e, hoist_error_t *err)
{
    agent_t *a = ctx;
    if (a->order) {
        order_on_chunk(a->order, e->id, e->chunk, monotime_ms());
    }
    return HOIST_OK;
}

/* The controller refused a message as out of place: most likely it does
 * not know this connection (it restarted, and libzmq reconnected the
 * socket underneath). Say hello again, at most once per interval. */
static void
s_out_of_session(agent_t *a, const char *msg)
{
    uint64_t now = monotime_ms();
    s_mark_unconfirmed(a);
    if (now - a->last_hello < a->link.heartbeat_ms) {
        return;
    }
    log_warn("the controller refused a message (%s); saying hello again", msg);
    s_hello(a);
}

static hoist_err_t
s_on_error(void *ctx, void *peer, const envelope_t *e, hoist_error_t *err)
{
    agent_t *a = ctx;
    const Hoist__Error *x = e->error;
    const char *msg = x->message ? x->message : "";
    if (a->order && order_on_error(a->order, e->id, x) == ORDER_ERROR_FAILED) {
        return HOIST_OK;
    }
    if (x->code == HOIST_ERR_PROTOCOL) {
        s_out_of_session(a, msg);
    } else if (x->code == HOIST_ERR_AUTH) {
        log_warn("the controller refused %s: %s", a->o.conf->name, msg);
    } else {
        log_warn("the controller says: %s (%s)", msg,
                 hoist_strerror((hoist_err_t)x->code));
    }
    return HOIST_OK;
}

static const envelope_route_t s_routes[] = {
    {HOIST__ENVELOPE__BODY_WELCOME, s_on_welcome},
    {HOIST__ENVELOPE__BODY_HEARTBEAT, s_on_heartbeat},
    {HOIST__ENVELOPE__BODY_DEPLOY, s_on_deploy},
    {HOIST__ENVELOPE__BODY_CHUNK, s_on_chunk},
    {HOIST__ENVELOPE__BODY_HOOK, s_on_hook},
    {HOIST__ENVELOPE__BODY_ERROR, s_on_error},
};

/* zloop reader: messages from the controller. SOCK is not used: the
 * uplink's current socket is, in case a handler replaced it. */
static int
s_on_uplink(zloop_t *loop, zsock_t *sock, void *arg)
{
    agent_t *a = arg;
    for (int i = 0; i < RECV_BURST && uplink_sock(a->up); i++) {
        envelope_t *e = NULL;
        hoist_error_t err = {0};
        if (uplink_recv(a->up, &e, &err) != HOIST_OK) {
            log_warn("dropped a message from the controller: %s", err.msg);
            continue;
        }
        if (!e) {
            break;
        }
        uplink_link_received(&a->link, monotime_ms());
        if (e->body_case != HOIST__ENVELOPE__BODY_ERROR) {
            a->last_sign = monotime_ms();
        }
        if (envelope_dispatch(s_routes, sizeof s_routes / sizeof *s_routes, a,
                              NULL, e, &err) != HOIST_OK) {
            log_warn("dropped a message from the controller: %s", err.msg);
        }
        envelope_destroy(&e);
    }
    return 0;
}

/* ---- the link ------------------------------------------------------------ */

static void
s_reader_end(agent_t *a)
{
    if (a->reading) {
        zloop_reader_end(a->loop, a->reading);
        a->reading = NULL;
    }
}

/* Gives the connection up; DOWN until the backoff has passed. */
static void
s_lost(agent_t *a, uint64_t now)
{
    uint64_t silent = now - a->link.last_rx;
    s_mark_unconfirmed(a);
    s_reader_end(a);
    uplink_close(a->up);
    uplink_state_t was = uplink_link_lost(&a->link, now, randombytes_random());
    unsigned long long wait = a->link.retry_at - now;
    if (was == UPLINK_ONLINE) {
        log_warn("lost the controller; keeping %s's current releases and "
                 "reconnecting (nothing from %s for %llu ms; next try in "
                 "%llu ms)",
                 a->o.conf->name, uplink_endpoint(a->up),
                 (unsigned long long)silent, wait);
    } else {
        log_warn("no answer from the controller at %s for %llu ms; trying "
                 "again in %llu ms",
                 uplink_endpoint(a->up), (unsigned long long)silent, wait);
    }
}

/* Makes a fresh socket, watches it and says hello. */
static void
s_connect(agent_t *a, uint64_t now)
{
    hoist_error_t err = {0};
    s_reader_end(a);
    a->via_next = uplink_use_next_key(a->link.attempt,
                                      a->conf.next_server_key[0] != '\0');
    const char *key =
        a->via_next ? a->conf.next_server_key : a->conf.server_key;
    uplink_link_connected(&a->link, now);
    if (uplink_set_server_key(a->up, key, &err) != HOIST_OK ||
        uplink_connect(a->up, &err) != HOIST_OK) {
        log_warn("%s", err.msg);
        s_lost(a, now);
        return;
    }
    a->reading = uplink_sock(a->up);
    zloop_reader(a->loop, a->reading, s_on_uplink, a);
    zloop_reader_set_tolerant(a->loop, a->reading);
    log_debug("connecting to %s", uplink_endpoint(a->up));
    s_hello(a);
}

/* (Re)starts the tick at a fifth of the heartbeat interval. */
static void
s_arm_tick(agent_t *a)
{
    uint32_t ms = a->link.heartbeat_ms / 5;
    ms = ms < TICK_MIN_MS ? TICK_MIN_MS : ms > TICK_MAX_MS ? TICK_MAX_MS : ms;
    if (a->tick_id >= 0) {
        zloop_timer_end(a->loop, a->tick_id);
    }
    a->tick_id = zloop_timer(a->loop, ms, 0, s_on_tick, a);
}

/* Acts on everything the link says is due at NOW. */
static void
s_link_step(agent_t *a, uint64_t now)
{
    for (int i = 0; i < 4; i++) {
        switch (uplink_link_next(&a->link, now)) {
        case UPLINK_IDLE:
            return;
        case UPLINK_CONNECT:
            s_connect(a, now);
            break;
        case UPLINK_HEARTBEAT:
            s_heartbeat(a, now);
            break;
        case UPLINK_LOST:
            s_lost(a, now);
            break;
        }
    }
}

static int
s_on_tick(zloop_t *loop, int timer_id, void *arg)
{
    agent_t *a = arg;
    fault_stall("agent-loop");
    /* What waits on the socket is read first: a loop that was busy must
     * not take its own delay for the controller's silence. */
    s_on_uplink(loop, NULL, a);
    uint64_t now = monotime_ms();
    s_link_step(a, now);
    if (a->order) {
        order_tick(a->order, now);
        if (order_done(a->order)) {
            order_destroy(&a->order);
        }
    }
    if (a->drill) {
        drill_tick(a->drill);
    }
    return 0;
}

/* ---- the object ---------------------------------------------------------- */

agent_t *
agent_new(const agent_opts_t *o, hoist_error_t *err)
{
    agent_t *a = calloc(1, sizeof *a);
    if (!a) {
        error_set(err, HOIST_ERR_NOMEM, "out of memory");
        return NULL;
    }
    a->o = *o;
    a->conf = *o->conf;
    a->o.conf = &a->conf;
    a->tick_id = -1;
    if (agent_set_hook_user(a, o->hook_user, err) != HOIST_OK) {
        free(a);
        return NULL;
    }
    a->up = uplink_new(o->conf->controller, o->conf->server_key, o->cert, err);
    a->loop = a->up ? zloop_new() : NULL;
    if (a->loop) {
        drill_ctx_t dc = {.root = o->root,
                          .env = o->conf->env,
                          .hook_user = a->o.hook_user,
                          .loop = a->loop,
                          .send = s_send,
                          .arg = a};
        a->drill = drill_new(&dc);
    }
    if (!a->loop || !a->drill) {
        if (a->up) {
            error_set(err, HOIST_ERR_NOMEM, "cannot make an event loop");
        }
        agent_destroy(&a);
        return NULL;
    }
    uplink_link_init(&a->link, monotime_ms());
    return a;
}

void
agent_destroy(agent_t **p)
{
    if (!p || !*p) {
        return;
    }
    agent_t *a = *p;
    order_destroy(&a->order);
    drill_destroy(&a->drill);
    if (a->loop) {
        s_reader_end(a);
    }
    uplink_destroy(&a->up);
    zloop_destroy(&a->loop);
    zlistx_destroy(&a->certs);
    free(a->result);
    free(a);
    *p = NULL;
}

zloop_t *
agent_loop(agent_t *a)
{
    return a->loop;
}

hoist_err_t
agent_set_hook_user(agent_t *a, const char *user, hoist_error_t *err)
{
    if (user && strlen(user) >= sizeof a->hook_user) {
        return error_set(err, HOIST_ERR_USAGE,
                         "user name '%.32s...' is "
                         "too long",
                         user);
    }
    if (user) {
        memmove(a->hook_user, user, strlen(user) + 1);
    }
    a->o.hook_user = user ? a->hook_user : NULL;
    if (a->drill) {
        drill_set_hook_user(a->drill, a->o.hook_user);
    }
    return HOIST_OK;
}

void
agent_set_keep(agent_t *a, size_t keep)
{
    a->o.keep = keep;
}

void
agent_set_cert(agent_t *a, zcert_t *cert)
{
    if (!a->certs) {
        a->certs = zlistx_new();
        zlistx_set_destructor(a->certs, (zlistx_destructor_fn *)zcert_destroy);
    }
    /* Kept until the agent goes: an order running holds the old one. */
    zlistx_add_end(a->certs, cert);
    a->o.cert = cert;
    uplink_set_cert(a->up, cert);
    s_reader_end(a);
    uplink_close(a->up);
    uplink_link_lost(&a->link, monotime_ms(), randombytes_random());
    log_info("reconnecting with this agent's new key %.8s...",
             zcert_public_txt(cert));
}

zcert_t *
agent_cert(agent_t *a)
{
    return a->o.cert;
}

hoist_err_t
agent_run(agent_t *a, hoist_error_t *err)
{
    log_info("%s serving environment %s; controller %s", a->o.conf->name,
             a->o.conf->env, a->o.conf->controller);
    s_arm_tick(a);
    if (a->tick_id < 0) {
        return error_set(err, HOIST_ERR_IO, "cannot start the event loop");
    }
    s_link_step(a, monotime_ms());
    zloop_start(a->loop);
    log_info("stopping");
    order_destroy(&a->order);
    drill_destroy(&a->drill);
    s_reader_end(a);
    uplink_close(a->up);
    return HOIST_OK;
}

/* ---- the root's files ---------------------------------------------------- */

zcert_t *
agent_cert_load(const char *root, hoist_error_t *err)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/" AGENT_KEYS_DIR, root);
    hoist_error_t mine = {0};
    zcert_t *cert = curve_cert_load(dir, AGENT_CERT_NAME, &mine);
    if (!cert && mine.code == HOIST_ERR_NOTFOUND) {
        error_set(&mine, HOIST_ERR_KEY,
                  "%s/" AGENT_CERT_NAME "_secret is missing: enroll this "
                  "agent first with `hoist-agent enroll --root %s ...`",
                  dir, root);
    }
    if (!cert && err) {
        *err = mine;
    }
    return cert;
}

zcert_t *
agent_cert_create(const char *root, bool replace, hoist_error_t *err)
{
    char dir[PATH_MAX], path[PATH_MAX + 16], secret[PATH_MAX + 32];
    snprintf(dir, sizeof dir, "%s/" AGENT_KEYS_DIR, root);
    snprintf(path, sizeof path, "%s/" AGENT_CERT_NAME, dir);
    snprintf(secret, sizeof secret, "%s_secret", path);
    if (!replace && (access(path, F_OK) == 0 || access(secret, F_OK) == 0)) {
        error_set(err, HOIST_ERR_EXISTS, "%s exists already", path);
        return NULL;
    }
    if (tree_mkdirs(dir, 0700, err) != HOIST_OK) {
        return NULL;
    }
    zcert_t *cert = zcert_new();
    /* The directory is 0700 before the secret is written, and the umask
     * keeps the file private from its first byte. */
    mode_t old = umask(077);
    int rc = cert && chmod(dir, 0700) == 0 ? zcert_save(cert, path) : -1;
    umask(old);
    if (rc != 0 || chmod(secret, 0600) != 0 || chmod(path, 0644) != 0) {
        error_errno(err, HOIST_ERR_IO, errno, "write the agent's key to %s",
                    path);
        zcert_destroy(&cert);
    }
    return cert;
}

hoist_err_t
agent_trust_load(const char *root, keys_public_t *keys, size_t max, size_t *n,
                 hoist_error_t *err)
{
    char dir[PATH_MAX], path[PATH_MAX + 256];
    snprintf(dir, sizeof dir, "%s/" AGENT_TRUST_DIR, root);
    DIR *d = opendir(dir);
    if (!d) {
        return error_errno(err, HOIST_ERR_KEY, errno,
                           "open %s (the release keys this agent trusts)", dir);
    }
    size_t count = 0;
    hoist_err_t rc = HOIST_OK;
    struct dirent *e;
    while (rc == HOIST_OK && (e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (e->d_name[0] == '.' || len < 5 ||
            strcmp(e->d_name + len - 4, ".pub") != 0) {
            continue;
        }
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (count == max) {
            rc = error_set(err, HOIST_ERR_KEY, "%s holds more than %zu keys",
                           dir, max);
        } else if ((rc = keys_public_load(path, &keys[count], err)) ==
                   HOIST_OK) {
            count++;
        }
    }
    closedir(d);
    if (rc == HOIST_OK && count == 0) {
        rc = error_set(err, HOIST_ERR_KEY,
                       "%s holds no release key: the agent would refuse "
                       "every release (enroll again with --trust PUB)",
                       dir);
    }
    if (rc == HOIST_OK) {
        *n = count;
    }
    return rc;
}
