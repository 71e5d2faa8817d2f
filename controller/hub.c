/*
 * hub: see hub.h. The peer table maps an agent's name to the connection
 * it uses, when it was last heard from, and the one artifact it may fetch
 * (that of the deployment it was sent).
 */
#include "hub.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "artifacts.h"
#include "digest.h"
#include "dr.h"
#include "log.h"
#include "rollout.h"
#include "manifest.h"
#include "monotime.h"
#include "rekey.h"
#include "store.h"
#include "zap.h"

#define CHUNK_MAX (1024 * 1024)

typedef struct {
    char name[STORE_NAME_SIZE];
    zframe_t *routing;
    int64_t heard_ms;            /* last message from the agent */
    int64_t sent_ms;             /* last heartbeat to it */
    char digest[DIGEST_HEX_LEN]; /* the artifact it may fetch */
} peer_t;

struct hub {
    controller_t *ctl;
    zhashx_t *peers; /* name -> peer_t */
};

/* One message being handled. */
typedef struct {
    hub_t *hub;
    zframe_t *routing;
    const envelope_t *e;
    int64_t now_ms;
    store_agent_t agent; /* the sender, for agent messages */
    peer_t *peer;
} msg_t;

static void
s_peer_free(void **item)
{
    peer_t *p = *item;
    if (p) {
        zframe_destroy(&p->routing);
        free(p);
        *item = NULL;
    }
}

hub_t *
hub_new(controller_t *ctl, hoist_error_t *err)
{
    (void)err;
    hub_t *self = zmalloc(sizeof *self);
    self->ctl = ctl;
    self->peers = zhashx_new();
    zhashx_set_destructor(self->peers, s_peer_free);
    return self;
}

void
hub_destroy(hub_t **p)
{
    if (p && *p) {
        zhashx_destroy(&(*p)->peers);
        free(*p);
        *p = NULL;
    }
}

bool
hub_is_clone(bool old_routable, int64_t old_heard_ms, int64_t now_ms,
             uint32_t heartbeat_ms)
{
    return old_routable && now_ms - old_heard_ms <= 2 * (int64_t)heartbeat_ms;
}

bool
hub_online(hub_t *self, const char *name)
{
    return zhashx_lookup(self->peers, name) != NULL;
}

void
hub_forget(hub_t *self, const char *name)
{
    zhashx_delete(self->peers, name);
    store_agent_set_online(controller_store(self->ctl), name, false, NULL);
}

/* --- replies ------------------------------------------------------------ */

static void
s_send(hub_t *self, zframe_t *routing, envelope_t *e)
{
    controller_send(controller_agents_sock(self->ctl), routing, e);
}

static void
s_error(hub_t *self, zframe_t *routing, uint64_t id, hoist_err_t code,
        const char *text)
{
    envelope_t e;
    Hoist__Error body;
    envelope_error(&e, &body, id, code, text);
    s_send(self, routing, &e);
}

/* Sends a heartbeat to ROUTING; false when that connection is gone (the
 * socket is ROUTER_MANDATORY, so a vanished peer fails at once). */
static bool
s_heartbeat(hub_t *self, zframe_t *routing)
{
    envelope_t e = HOIST__ENVELOPE__INIT;
    Hoist__Heartbeat hb = HOIST__HEARTBEAT__INIT;
    e.body_case = HOIST__ENVELOPE__BODY_HEARTBEAT;
    e.heartbeat = &hb;
    size_t len = 0;
    uint8_t *buf = envelope_pack(&e, &len);
    zmsg_t *msg = zmsg_new();
    zmsg_append(msg, &(zframe_t *){zframe_dup(routing)});
    zmsg_addmem(msg, buf, len);
    free(buf);
    if (zmsg_send(&msg, controller_agents_sock(self->ctl)) != 0) {
        zmsg_destroy(&msg);
        return false;
    }
    return true;
}

/* --- deployments -------------------------------------------------------- */

static store_task_state_t
s_outcome_state(const char *outcome)
{
    if (strcmp(outcome, "installed") == 0 ||
        strcmp(outcome, "already-current") == 0) {
        return STORE_TASK_SUCCEEDED;
    }
    if (strcmp(outcome, "rolled-back") == 0) {
        return STORE_TASK_ROLLED_BACK;
    }
    if (strcmp(outcome, "rejected") == 0) {
        return STORE_TASK_REJECTED;
    }
    return STORE_TASK_FAILED;
}

/* True when no order is due for a task in state S: never started by the
 * rollout (pending: the planner decides when), or final. A task being put
 * back (reverting) is due its rollback order. */
static bool
s_no_order(store_task_state_t s)
{
    return s != STORE_TASK_SENT && s != STORE_TASK_RUNNING &&
           s != STORE_TASK_UNKNOWN && s != STORE_TASK_REVERTING;
}

/* Hands deployment ID back to the rollout after one of its tasks moved. */
static void
s_rollout(hub_t *self, int64_t id)
{
    hoist_error_t err = {0};
    if (rollout_step(self->ctl, id, zclock_time(), &err) != HOIST_OK) {
        log_warn("deployment %lld: %s", (long long)id, err.msg);
    }
}

/* The variables of one deploy order: what the agent it goes to receives
 * of its app's variables in its environment. */
typedef struct {
    Hoist__Var *items;
    Hoist__Var **list;
    size_t n;
    char missing[STORE_RESULT_SIZE]; /* secrets with no box for the agent */
    bool nomem;
} order_vars_t;

static void
s_vars_free(order_vars_t *v)
{
    for (size_t i = 0; i < v->n; i++) {
        free(v->items[i].key);
        free(v->items[i].value.data);
    }
    free(v->items);
    free(v->list);
}

/* store_var_list_for callback: one Var, a secret as the agent's box. */
static int
s_var_one(const store_var_t *row, void *arg)
{
    order_vars_t *v = arg;
    if (row->secret && row->value_len == 0) {
        size_t n = strlen(v->missing);
        snprintf(v->missing + n, sizeof v->missing - n, "%s%s", n ? ", " : "",
                 row->key);
        return 0;
    }
    Hoist__Var *items = realloc(v->items, (v->n + 1) * sizeof *items);
    if (!items) {
        v->nomem = true;
        return 1;
    }
    v->items = items;
    Hoist__Var *x = &v->items[v->n];
    hoist__var__init(x);
    x->key = strdup(row->key);
    x->value.data = malloc(row->value_len ? row->value_len : 1);
    x->value.len = row->value_len;
    x->sealed = row->secret;
    v->n++;
    if (!x->key || !x->value.data) {
        v->nomem = true;
        return 1;
    }
    memcpy(x->value.data, row->value, row->value_len);
    return 0;
}

/* Fills V with deployment D's variables as AGENT gets them. HOIST_ERR_STATE
 * naming the secrets when some have no box for AGENT (set before it was
 * accepted): its order cannot be complete. */
static hoist_err_t
s_order_vars(hub_t *self, const store_deployment_t *d, const char *agent,
             order_vars_t *v, hoist_error_t *err)
{
    hoist_err_t rc = store_var_list_for(controller_store(self->ctl), d->app,
                                        d->env, agent, s_var_one, v, err);
    if (rc == HOIST_OK && !v->nomem) {
        v->list = malloc((v->n ? v->n : 1) * sizeof *v->list);
        v->nomem = v->list == NULL;
    }
    for (size_t i = 0; rc == HOIST_OK && !v->nomem && i < v->n; i++) {
        v->list[i] = &v->items[i];
    }
    if (rc == HOIST_OK && v->nomem) {
        rc = error_set(err, HOIST_ERR_NOMEM, "out of memory");
    } else if (rc == HOIST_OK && v->missing[0]) {
        rc = error_set(err, HOIST_ERR_STATE,
                       "secret %s of %s in %s was set before agent %s was "
                       "accepted, so it is not sealed to this agent; set it "
                       "again (hoist vars set %s KEY - --env %s --secret) and "
                       "deploy again",
                       v->missing, d->app, d->env, agent, d->app, d->env);
    }
    return rc;
}

/* Ends TASK rejected with ERR's message, without sending anything. */
static void
s_refuse_task(hub_t *self, store_task_t *task, const hoist_error_t *err)
{
    hoist_error_t e = {0};
    task->state = STORE_TASK_REJECTED;
    snprintf(task->step, sizeof task->step, "vars");
    store_task_set_message(task, err->msg, strlen(err->msg));
    task->updated_at = controller_now();
    log_warn("deployment %lld: agent %s: %s", (long long)task->deployment_id,
             task->agent, err->msg);
    task->finished_ms = zclock_time();
    if (store_task_update(controller_store(self->ctl), task, &e) == HOIST_OK) {
        s_rollout(self, task->deployment_id);
    }
}

/* Sends PEER the order its task in deployment D is due: the release
 * once the rollout started it, or, being put back, the release it had. */
static void
s_send_order(hub_t *self, peer_t *peer, const store_deployment_t *d)
{
    hoist_error_t err = {0};
    store_release_t *rel = malloc(sizeof *rel);
    store_task_t *task = malloc(sizeof *task);
    store_t *st = controller_store(self->ctl);
    order_vars_t vars = {0};
    if (!rel || !task ||
        store_task_get(st, d->id, peer->name, task, &err) != HOIST_OK) {
        log_warn("deployment %lld: %s", (long long)d->id, err.msg);
        goto out;
    }
    if (s_no_order(task->state)) {
        goto out;
    }
    bool revert = task->state == STORE_TASK_REVERTING;
    if (store_release_get(st, d->app, revert ? task->previous : d->version, rel,
                          &err) != HOIST_OK) {
        log_warn("deployment %lld: %s", (long long)d->id, err.msg);
        goto out;
    }
    if (s_order_vars(self, d, peer->name, &vars, &err) != HOIST_OK) {
        if (err.code == HOIST_ERR_STATE) {
            s_refuse_task(self, task, &err);
        } else {
            log_warn("deployment %lld: %s", (long long)d->id, err.msg);
        }
        goto out;
    }
    envelope_t e = HOIST__ENVELOPE__INIT;
    Hoist__DeployOrder order = HOIST__DEPLOY_ORDER__INIT;
    order.deployment = (uint64_t)d->id;
    order.manifest.data = rel->manifest;
    order.manifest.len = rel->manifest_len;
    order.rollback = revert || d->kind == STORE_KIND_ROLLBACK;
    order.n_vars = vars.n;
    order.vars = vars.list;
    e.body_case = HOIST__ENVELOPE__BODY_DEPLOY;
    e.deploy = &order;
    snprintf(peer->digest, sizeof peer->digest, "%s", rel->digest);
    s_send(self, peer->routing, &e);
out:
    s_vars_free(&vars);
    free(rel);
    free(task);
}

typedef struct {
    const char *env;
    store_deployment_t *list;
    size_t n;
} converge_t;

static int
s_converge_one(const store_deployment_t *d, void *arg)
{
    converge_t *c = arg;
    if (strcmp(d->env, c->env) != 0) {
        return 0;
    }
    store_deployment_t *list = realloc(c->list, (c->n + 1) * sizeof *list);
    if (!list) {
        return 1;
    }
    c->list = list;
    c->list[c->n++] = *d;
    return 0;
}

/* An agent (re)connected: send it what its environment still expects.
 * The deployments are listed first and sent after: sending may end one
 * (a task refused for a missing secret), which changes the table. */
static void
s_converge(hub_t *self, peer_t *peer, const char *env)
{
    converge_t c = {.env = env};
    hoist_error_t err;
    if (store_deployment_list_running(controller_store(self->ctl),
                                      s_converge_one, &c, &err) != HOIST_OK) {
        log_warn("converging %s: %s", peer->name, err.msg);
    }
    for (size_t i = 0; i < c.n; i++) {
        s_send_order(self, peer, &c.list[i]);
    }
    free(c.list);
}

hoist_err_t
hub_hook(hub_t *self, const char *agent, int64_t drill, const char *app,
         const char *hook, bool health, hoist_error_t *err)
{
    peer_t *peer = zhashx_lookup(self->peers, agent);
    if (!peer) {
        return error_set(err, HOIST_ERR_NOTFOUND, "agent %s is offline", agent);
    }
    envelope_t e = HOIST__ENVELOPE__INIT;
    Hoist__HookOrder order = HOIST__HOOK_ORDER__INIT;
    order.drill = (uint64_t)drill;
    order.app = (char *)app;
    order.hook = (char *)hook;
    order.health = health;
    e.body_case = HOIST__ENVELOPE__BODY_HOOK;
    e.hook = &order;
    s_send(self, peer->routing, &e);
    return HOIST_OK;
}

hoist_err_t
hub_order(hub_t *self, int64_t id, const char *agent, hoist_error_t *err)
{
    store_deployment_t d;
    peer_t *peer = zhashx_lookup(self->peers, agent);
    if (!peer) {
        return error_set(err, HOIST_ERR_NOTFOUND, "agent %s is offline", agent);
    }
    hoist_err_t rc =
        store_deployment_get(controller_store(self->ctl), id, &d, err);
    if (rc == HOIST_OK) {
        s_send_order(self, peer, &d);
    }
    return rc;
}

/* --- enrollment --------------------------------------------------------- */

/* "k=v,k=v" from the request's tags, refusing what would not read back. */
static bool
s_tags(const Hoist__EnrollRequest *r, char *out, size_t len)
{
    size_t n = 0;
    out[0] = '\0';
    for (size_t i = 0; i < r->n_tags; i++) {
        const char *k = r->tags[i]->key, *v = r->tags[i]->value;
        if (!manifest_name_valid(k) || strpbrk(v, ",=") || strlen(v) > 64) {
            return false;
        }
        int w = snprintf(out + n, len - n, "%s%s=%s", n ? "," : "", k, v);
        if (w < 0 || (size_t)w >= len - n) {
            return false;
        }
        n += (size_t)w;
    }
    return true;
}

/* Consumes the token (if any) and adds the agent, in one transaction: a
 * refused enrollment never burns the token. */
static hoist_err_t
s_enroll_store(msg_t *m, store_agent_t *a, const char *token,
               hoist_error_t *err)
{
    store_t *st = controller_store(m->hub->ctl);
    uint8_t hash[STORE_TOKEN_HASH];
    char env[STORE_NAME_SIZE];
    hoist_err_t rc = store_begin(st, err);
    if (rc == HOIST_OK && token[0]) {
        crypto_generichash(hash, sizeof hash, (const uint8_t *)token,
                           strlen(token), NULL, 0);
        rc = store_token_consume(st, hash, controller_now(), env, err);
        if (rc == HOIST_OK && strcmp(env, a->env) != 0) {
            rc = error_set(err, HOIST_ERR_AUTH,
                           "the token is for environment '%s', not '%s'", env,
                           a->env);
        }
        a->state = STORE_AGENT_ACCEPTED;
    }
    if (rc == HOIST_OK) {
        rc = store_agent_add(st, a, err);
    }
    if (rc == HOIST_OK) {
        rc = store_commit(st, err);
    }
    if (rc != HOIST_OK) {
        store_rollback(st, NULL);
    }
    return rc;
}

static void
s_enroll(msg_t *m, const char *key)
{
    const Hoist__EnrollRequest *r = m->e->enroll;
    hoist_error_t err = {0};
    store_agent_t a = {.state = STORE_AGENT_PENDING,
                       .created_at = controller_now()};
    if (!manifest_name_valid(r->name) || !manifest_name_valid(r->env)) {
        s_error(m->hub, m->routing, m->e->id, HOIST_ERR_USAGE,
                "agent and environment names use a-z 0-9 - _");
        return;
    }
    snprintf(a.name, sizeof a.name, "%s", r->name);
    snprintf(a.env, sizeof a.env, "%s", r->env);
    snprintf(a.pubkey, sizeof a.pubkey, "%s", key);
    if (!s_tags(r, a.tags, sizeof a.tags)) {
        s_error(m->hub, m->routing, m->e->id, HOIST_ERR_USAGE,
                "tags are k=v with k in a-z 0-9 - _ and v without , or =");
        return;
    }
    char id[ZAP_USER_ID_MAX + 1];
    zap_agent_id(id, sizeof id, a.name, key);
    if (s_enroll_store(m, &a, r->token, &err) != HOIST_OK ||
        zap_allow(controller_zap(m->hub->ctl), key, id, &err) != HOIST_OK) {
        log_warn("enrollment of %s refused: %s", a.name, err.msg);
        s_error(m->hub, m->routing, m->e->id, err.code, err.msg);
        return;
    }
    log_info("agent %s enrolled in %s (%s)", a.name, a.env,
             store_agent_state_name(a.state));
    envelope_t e = HOIST__ENVELOPE__INIT;
    Hoist__EnrollReply reply = HOIST__ENROLL_REPLY__INIT;
    reply.name = a.name;
    reply.env = a.env;
    reply.state = (char *)store_agent_state_name(a.state);
    e.id = m->e->id;
    e.body_case = HOIST__ENVELOPE__BODY_ENROLLED;
    e.enrolled = &reply;
    s_send(m->hub, m->routing, &e);
}

/* --- an accepted agent's messages --------------------------------------- */

static void
s_store_facts(msg_t *m, const Hoist__Facts *f)
{
    store_facts_t facts = {0};
    hoist_error_t err;
    if (f) {
        snprintf(facts.hostname, sizeof facts.hostname, "%s", f->hostname);
        snprintf(facts.os, sizeof facts.os, "%s", f->os);
        snprintf(facts.agent_version, sizeof facts.agent_version, "%s",
                 f->agent_version);
        facts.free_disk = f->free_disk;
    }
    store_t *st = controller_store(m->hub->ctl);
    if (store_agent_set_facts(st, m->agent.name, &facts, controller_now(),
                              &err) != HOIST_OK ||
        store_agent_set_online(st, m->agent.name, true, &err) != HOIST_OK) {
        log_warn("agent %s: %s", m->agent.name, err.msg);
    }
}

/* The next controller key the agent says it pinned: what `hoist
 * controller key` counts and `rotate-key` checks. */
static void
s_store_pinned(msg_t *m, const char *key)
{
    hoist_error_t err = {0};
    if (store_agent_set_pinned_next(controller_store(m->hub->ctl),
                                    m->agent.name, key ? key : "",
                                    &err) != HOIST_OK) {
        log_warn("agent %s: %s", m->agent.name, err.msg);
    }
}

/* Sends ROUTING a welcome: the heartbeat, and the next key if one is
 * prepared. ID echoes the hello's. */
static void
s_welcome(hub_t *self, zframe_t *routing, uint64_t id)
{
    envelope_t e = HOIST__ENVELOPE__INIT;
    Hoist__Welcome w = HOIST__WELCOME__INIT;
    w.heartbeat_ms = controller_heartbeat_ms(self->ctl);
    w.next_server_key = (char *)controller_next_key(self->ctl);
    e.id = id;
    e.body_case = HOIST__ENVELOPE__BODY_WELCOME;
    e.welcome = &w;
    s_send(self, routing, &e);
}

size_t
hub_announce_key(hub_t *self)
{
    size_t n = 0;
    for (peer_t *p = zhashx_first(self->peers); p;
         p = zhashx_next(self->peers)) {
        s_welcome(self, p->routing, 1);
        n++;
    }
    return n;
}

/* A hello opens (or reopens) the agent's session on this connection. */
static void
s_hello(msg_t *m)
{
    hub_t *self = m->hub;
    peer_t *peer = zhashx_lookup(self->peers, m->agent.name);
    uint32_t hb = controller_heartbeat_ms(self->ctl);
    if (peer && !zframe_eq(peer->routing, m->routing)) {
        if (hub_is_clone(s_heartbeat(self, peer->routing), peer->heard_ms,
                         m->now_ms, hb)) {
            store_agent_set_cloned(controller_store(self->ctl), m->agent.name,
                                   true, NULL);
            log_warn("agent %s: its key is connected twice at once (a "
                     "cloned machine?); refusing the second connection",
                     m->agent.name);
            s_error(self, m->routing, m->e->id, HOIST_ERR_AUTH,
                    "refused: this agent's key is already connected from "
                    "another machine; both are flagged in `hoist agents`");
            return;
        }
        zframe_destroy(&peer->routing);
        peer->routing = zframe_dup(m->routing);
    } else if (!peer) {
        peer = zmalloc(sizeof *peer);
        snprintf(peer->name, sizeof peer->name, "%s", m->agent.name);
        peer->routing = zframe_dup(m->routing);
        zhashx_insert(self->peers, peer->name, peer);
        log_info("agent %s online", peer->name);
    }
    peer->heard_ms = peer->sent_ms = m->now_ms;
    s_store_facts(m, m->e->hello->facts);
    s_store_pinned(m, m->e->hello->next_server_key);
    s_welcome(self, m->routing, m->e->id);
    s_converge(self, peer, m->agent.env);
}

static hoist_err_t
s_on_heartbeat(void *ctx, void *peer, const envelope_t *e, hoist_error_t *err)
{
    (void)ctx;
    (void)peer;
    (void)e;
    (void)err;
    return HOIST_OK; /* being heard is all a heartbeat is for */
}

static hoist_err_t
s_on_fetch(void *ctx, void *arg, const envelope_t *e, hoist_error_t *err)
{
    msg_t *m = arg;
    const Hoist__FetchRequest *f = e->fetch;
    char hex[DIGEST_HEX_LEN];
    if (f->digest.len != DIGEST_BYTES || f->length == 0 ||
        f->length > CHUNK_MAX) {
        return error_set(err, HOIST_ERR_PROTOCOL,
                         "fetch needs a digest and 1..%d bytes", CHUNK_MAX);
    }
    digest_hex(f->digest.data, hex);
    if (strcmp(hex, m->peer->digest) != 0) {
        return error_set(err, HOIST_ERR_AUTH,
                         "artifact %s is not part of a deployment sent to "
                         "this agent",
                         hex);
    }
    uint8_t *buf = malloc(f->length);
    size_t got = 0;
    hoist_err_t rc =
        buf ? artifacts_read(controller_artifacts(m->hub->ctl), f->digest.data,
                             f->offset, f->length, buf, &got, err)
            : error_set(err, HOIST_ERR_NOMEM, "out of memory");
    if (rc == HOIST_OK) {
        envelope_t out = HOIST__ENVELOPE__INIT;
        Hoist__Chunk chunk = HOIST__CHUNK__INIT;
        chunk.digest = f->digest;
        chunk.offset = f->offset;
        chunk.data.data = buf;
        chunk.data.len = got;
        out.id = e->id;
        out.body_case = HOIST__ENVELOPE__BODY_CHUNK;
        out.chunk = &chunk;
        s_send(m->hub, m->routing, &out);
    }
    free(buf);
    (void)ctx;
    return rc;
}

/* Reads the task of the sender in deployment ID into *OUT (allocated). */
static hoist_err_t
s_task(msg_t *m, uint64_t id, store_task_t **out, hoist_error_t *err)
{
    store_task_t *t = malloc(sizeof *t);
    if (!t) {
        return error_set(err, HOIST_ERR_NOMEM, "out of memory");
    }
    hoist_err_t rc = store_task_get(controller_store(m->hub->ctl), (int64_t)id,
                                    m->agent.name, t, err);
    if (rc != HOIST_OK) {
        free(t);
        return error_set(err, HOIST_ERR_PROTOCOL,
                         "deployment %llu has no task for this agent",
                         (unsigned long long)id);
    }
    *out = t;
    return HOIST_OK;
}

static hoist_err_t
s_on_progress(void *ctx, void *arg, const envelope_t *e, hoist_error_t *err)
{
    (void)ctx;
    msg_t *m = arg;
    store_task_t *t = NULL;
    hoist_err_t rc = s_task(m, e->progress->deployment, &t, err);
    if (rc != HOIST_OK || s_no_order(t->state)) {
        free(t);
        return rc;
    }
    if (t->state != STORE_TASK_REVERTING) {
        t->state = STORE_TASK_RUNNING;
    }
    snprintf(t->step, sizeof t->step, "%s", e->progress->step);
    t->updated_at = controller_now();
    t->progress_ms = zclock_time();
    rc = store_task_update(controller_store(m->hub->ctl), t, err);
    free(t);
    return rc;
}

static hoist_err_t
s_on_result(void *ctx, void *arg, const envelope_t *e, hoist_error_t *err)
{
    (void)ctx;
    msg_t *m = arg;
    const Hoist__Result *r = e->result;
    store_task_t *t = NULL;
    hoist_err_t rc = s_task(m, r->deployment, &t, err);
    if (rc != HOIST_OK) {
        return rc;
    }
    store_task_state_t was = t->state;
    if (was == STORE_TASK_REVERTING && !r->rollback) {
        free(t); /* the deploy's result, again: the rollback's is awaited */
        return HOIST_OK;
    }
    if (s_no_order(was) && was != STORE_TASK_PENDING) {
        free(t); /* a result sent again for a task that ended */
        return HOIST_OK;
    }
    t->state = s_outcome_state(r->outcome);
    if (was == STORE_TASK_REVERTING) {
        t->state = t->state == STORE_TASK_SUCCEEDED ? STORE_TASK_REVERTED
                                                    : STORE_TASK_REVERT_FAILED;
    }
    t->progress_ms = t->finished_ms = zclock_time();
    snprintf(t->step, sizeof t->step, "%s",
             r->failed_step[0] ? r->failed_step : "done");
    snprintf(t->live_version, sizeof t->live_version, "%s", r->live);
    store_task_set_message(t, r->message, strlen(r->message));
    t->updated_at = controller_now();
    rc = store_task_update(controller_store(m->hub->ctl), t, err);
    free(t);
    if (rc == HOIST_OK) {
        log_info("agent %s: deployment %llu %s%s", m->agent.name,
                 (unsigned long long)r->deployment,
                 r->rollback ? "rollback " : "", r->outcome);
        s_rollout(m->hub, (int64_t)r->deployment);
    }
    return rc;
}

static hoist_err_t
s_on_hook_result(void *ctx, void *arg, const envelope_t *e, hoist_error_t *err)
{
    (void)ctx;
    (void)err;
    msg_t *m = arg;
    dr_on_result(m->hub->ctl, m->agent.name, e->hook_result);
    return HOIST_OK;
}

static const envelope_route_t s_routes[] = {
    {HOIST__ENVELOPE__BODY_HEARTBEAT, s_on_heartbeat},
    {HOIST__ENVELOPE__BODY_FETCH, s_on_fetch},
    {HOIST__ENVELOPE__BODY_PROGRESS, s_on_progress},
    {HOIST__ENVELOPE__BODY_RESULT, s_on_result},
    {HOIST__ENVELOPE__BODY_HOOK_RESULT, s_on_hook_result},
};

/* Checks the sender's standing in the store now, on every message, so a
 * revocation takes effect at the next message of an open connection. */
static bool
s_admit_agent(msg_t *m, const char *name)
{
    hoist_error_t err = {0};
    const char *why = NULL;
    if (store_agent_get(controller_store(m->hub->ctl), name, &m->agent, &err) !=
        HOIST_OK) {
        why = "this agent is not known here";
    } else if (m->agent.state == STORE_AGENT_REVOKED) {
        hub_forget(m->hub, name);
        why = "this agent's key has been revoked";
    } else if (m->agent.state == STORE_AGENT_PENDING) {
        why = "this agent is pending: an operator must run `hoist agents "
              "accept` first";
    }
    if (why) {
        s_error(m->hub, m->routing, m->e->id, HOIST_ERR_AUTH, why);
    }
    return why == NULL;
}

/* An agent offers its next key (rekey.h); answered on the connection
 * it came on, with or without a hello. */
static void
s_rekey(msg_t *m)
{
    const char *key = m->e->rekey->public_key;
    hoist_error_t err = {0};
    int64_t dropped = 0;
    if (rekey_accept(m->hub->ctl, &m->agent, key ? key : "", &dropped, &err) !=
        HOIST_OK) {
        log_warn("agent %s: rekey refused: %s", m->agent.name, err.msg);
        s_error(m->hub, m->routing, m->e->id, err.code, err.msg);
        return;
    }
    envelope_t e = HOIST__ENVELOPE__INIT;
    Hoist__RekeyReply reply = HOIST__REKEY_REPLY__INIT;
    reply.public_key = (char *)key;
    reply.boxes_dropped = (uint32_t)dropped;
    e.id = m->e->id;
    e.body_case = HOIST__ENVELOPE__BODY_REKEYED;
    e.rekeyed = &reply;
    s_send(m->hub, m->routing, &e);
}

/* A message from agent NAME on a connection that authenticated with
 * KEY: its key, or the one a rekey replaced until the new one is seen. */
static void
s_from_agent(msg_t *m, const char *name, const char *key)
{
    if (!s_admit_agent(m, name)) {
        return;
    }
    bool via_old = strcmp(key, m->agent.pubkey) != 0;
    if (via_old && strcmp(key, m->agent.old_key) != 0) {
        s_error(m->hub, m->routing, m->e->id, HOIST_ERR_AUTH,
                "this key has been replaced (hoist-agent rekey): the agent "
                "connects with its new key");
        return;
    }
    if (m->e->body_case == HOIST__ENVELOPE__BODY_REKEY) {
        s_rekey(m);
        return;
    }
    if (m->e->body_case == HOIST__ENVELOPE__BODY_HELLO) {
        if (!via_old && m->agent.old_key[0]) {
            rekey_confirm(m->hub->ctl, &m->agent);
        }
        s_hello(m);
        return;
    }
    m->peer = zhashx_lookup(m->hub->peers, name);
    if (!m->peer || !zframe_eq(m->peer->routing, m->routing)) {
        s_error(m->hub, m->routing, m->e->id, HOIST_ERR_PROTOCOL,
                "this connection has not said hello (or another connection "
                "holds this agent's session)");
        return;
    }
    m->peer->heard_ms = m->now_ms;
    hoist_error_t err = {0};
    if (envelope_dispatch(s_routes, sizeof s_routes / sizeof *s_routes, m->hub,
                          m, m->e, &err) != HOIST_OK) {
        s_error(m->hub, m->routing, m->e->id, err.code, err.msg);
    }
}

void
hub_on_message(hub_t *self, zframe_t *routing, zframe_t *body)
{
    const char *uid = zap_user_id(body);
    if (!uid) {
        return; /* no handler vetted this connection: never serve it */
    }
    hoist_error_t err = {0};
    envelope_t *e = envelope_unpack(zframe_data(body), zframe_size(body),
                                    ENVELOPE_MAX_BYTES, &err);
    if (!e) {
        s_error(self, routing, 0, err.code, err.msg);
        return;
    }
    msg_t m = {.hub = self,
               .routing = routing,
               .e = e,
               .now_ms = (int64_t)monotime_ms()};
    char name[STORE_NAME_SIZE], key[ZAP_KEY_Z85_LEN + 1];
    if (strncmp(uid, ZAP_UNKNOWN_PREFIX, strlen(ZAP_UNKNOWN_PREFIX)) == 0) {
        if (e->body_case == HOIST__ENVELOPE__BODY_ENROLL) {
            s_enroll(&m, uid + strlen(ZAP_UNKNOWN_PREFIX));
        } else {
            s_error(self, routing, e->id, HOIST_ERR_AUTH,
                    "this key is not enrolled: run hoist-agent enroll");
        }
    } else if (zap_agent_id_parse(uid, name, sizeof name, key)) {
        s_from_agent(&m, name, key);
    } else {
        s_error(self, routing, e->id, HOIST_ERR_AUTH,
                "only agents talk on this socket");
    }
    envelope_destroy(&e);
}

/* --- liveness ----------------------------------------------------------- */

void
hub_tick(hub_t *self, int64_t now_ms)
{
    uint32_t hb = controller_heartbeat_ms(self->ctl);
    zlistx_t *gone = zlistx_new();
    zlistx_set_duplicator(gone, (zlistx_duplicator_fn *)strdup);
    zlistx_set_destructor(gone, (zlistx_destructor_fn *)zstr_free);
    for (peer_t *p = zhashx_first(self->peers); p;
         p = zhashx_next(self->peers)) {
        if (now_ms - p->heard_ms > 3 * (int64_t)hb) {
            zlistx_add_end(gone, p->name);
        } else if (now_ms - p->sent_ms >= (int64_t)hb) {
            s_heartbeat(self, p->routing);
            p->sent_ms = now_ms;
        }
    }
    for (char *n = zlistx_first(gone); n; n = zlistx_next(gone)) {
        log_warn("agent %s offline: not heard from for %u ms", n, 3 * hb);
        store_agent_set_online(controller_store(self->ctl), n, false, NULL);
        zhashx_delete(self->peers, n);
    }
    zlistx_destroy(&gone);
}
