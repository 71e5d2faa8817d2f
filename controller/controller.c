/*
 * controller: see controller.h.
 */
#include "controller.h"

#include <errno.h>
#include <sodium.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "artifacts.h"
#include "atomicfile.h"
#include "daemon.h"
#include "dr.h"
#include "hub.h"
#include "log.h"
#include "monotime.h"
#include "policy.h"
#include "promotion.h"
#include "rollout.h"
#include "store.h"
#include "tree.h"
#include "uploader.h"
#include "yamlfile.h"
#include "lockfile.h"
#include "serverkey.h"
#include "zap.h"

struct controller {
    char data_dir[PATH_MAX];
    char agent_bind[256], api_bind[256];
    char agent_endpoint[256], api_endpoint[256];
    uint32_t heartbeat_ms;
    store_t *store;
    artifacts_t *artifacts; /* the loop's: reads for agents' fetches */
    uploader_t *uploader;   /* the actor's: upload sessions */
    policy_t *policy;       /* the pipeline in force */
    int64_t started_ms;     /* wall clock at controller_run */
    zap_t *zap;
    zcert_t *cert;
    zcert_t *next_cert; /* the next key (serverkey.h), or NULL */
    uint8_t digest_key[SERVERKEY_DIGEST_BYTES];
    int lock; /* DATA/.run.lock while it serves, or -1 */
    zsock_t *agents;
    zsock_t *api_sock;
    hub_t *hub;
    api_t *api;
    zloop_t *loop;
    int tick_id; /* the loop's timer, re-armed when the heartbeat changes */
    bool zap_died;
    daemon_t *daemon; /* NULL when not run as a service */
    void (*reload)(controller_t *self, void *arg);
    void *reload_arg;
};

int64_t
controller_now(void)
{
    return (int64_t)time(NULL);
}

store_t *
controller_store(controller_t *self)
{
    return self->store;
}

policy_t *
controller_policy(controller_t *self)
{
    return self->policy;
}

void
controller_digest(controller_t *self, const void *data, size_t len,
                  uint8_t out[32])
{
    /* BLAKE2b-256 keyed with a key derived from the controller's CURVE
     * secret (kept across key rotations: serverkey.h): stable for this
     * controller, useless to anyone without it (a short secret cannot be
     * found by hashing guesses). */
    crypto_generichash(out, 32, data, len, self->digest_key,
                       sizeof self->digest_key);
}

uploader_t *
controller_uploader(controller_t *self)
{
    return self->uploader;
}

artifacts_t *
controller_artifacts(controller_t *self)
{
    return self->artifacts;
}

zap_t *
controller_zap(controller_t *self)
{
    return self->zap;
}

hub_t *
controller_hub(controller_t *self)
{
    return self->hub;
}

zsock_t *
controller_agents_sock(controller_t *self)
{
    return self->agents;
}

const char *
controller_server_key(controller_t *self)
{
    return zcert_public_txt(self->cert);
}

const char *
controller_next_key(controller_t *self)
{
    return self->next_cert ? zcert_public_txt(self->next_cert) : "";
}

hoist_err_t
controller_prepare_next_key(controller_t *self, hoist_error_t *err)
{
    if (!self->next_cert &&
        !(self->next_cert = serverkey_next(self->data_dir, true, err))) {
        return err ? err->code : HOIST_ERR_IO;
    }
    return HOIST_OK;
}

const char *
controller_agent_endpoint(controller_t *self)
{
    return self->agent_endpoint;
}

const char *
controller_api_endpoint(controller_t *self)
{
    return self->api_endpoint;
}

const char *
controller_data_dir(controller_t *self)
{
    return self->data_dir;
}

uint32_t
controller_heartbeat_ms(controller_t *self)
{
    return self->heartbeat_ms;
}

static int s_on_tick(zloop_t *loop, int timer_id, void *arg);

/* The tick runs at half the heartbeat: often enough to send each
 * heartbeat on time and to notice a silent agent within one interval. */
static void
s_arm_tick(controller_t *self)
{
    if (self->tick_id >= 0) {
        zloop_timer_end(self->loop, self->tick_id);
    }
    uint32_t ms = self->heartbeat_ms / 2 ? self->heartbeat_ms / 2 : 1;
    self->tick_id = zloop_timer(self->loop, ms, 0, s_on_tick, self);
}

void
controller_set_heartbeat_ms(controller_t *self, uint32_t ms)
{
    assert(ms >= CONTROLLER_HEARTBEAT_MIN && ms <= CONTROLLER_HEARTBEAT_MAX);
    self->heartbeat_ms = ms;
    if (self->loop) {
        s_arm_tick(self);
    }
}

void
controller_send(zsock_t *sock, zframe_t *routing, envelope_t *e)
{
    size_t len = 0;
    uint8_t *buf = envelope_pack(e, &len);
    if (!buf) {
        return;
    }
    zmsg_t *msg = zmsg_new();
    zmsg_append(msg, &(zframe_t *){zframe_dup(routing)});
    zmsg_addmem(msg, buf, len);
    free(buf);
    /* ROUTER_MANDATORY: a peer that has gone fails at once (EHOSTUNREACH)
     * instead of silently; either way the message is dropped. */
    if (zmsg_send(&msg, sock) != 0) {
        zmsg_destroy(&msg);
    }
}

/* --- the data directory ------------------------------------------------- */

static void
s_path(const char *dir, const char *rel, char *out, size_t len)
{
    snprintf(out, len, "%s/%s", dir, rel);
}

/* Reads DIR/controller.conf's endpoints (strict YAML). */
static hoist_err_t
s_read_conf(controller_t *self, hoist_error_t *err)
{
    static const char *const keys[] = {"agent_endpoint", "api_endpoint", NULL};
    char path[PATH_MAX + 32];
    uint8_t *buf = NULL;
    size_t len = 0;
    s_path(self->data_dir, "controller.conf", path, sizeof path);
    hoist_err_t rc = atomicfile_read(path, 64 * 1024, &buf, &len, err);
    if (rc != HOIST_OK) {
        error_prefix(err,
                     "%s is not a controller data directory (run "
                     "hoist-controller init)",
                     self->data_dir);
        return rc;
    }
    yamlfile_t *yf = yamlfile_load((const char *)buf, len, 64 * 1024, path,
                                   HOIST_ERR_USAGE, err);
    free(buf);
    if (!yf) {
        return HOIST_ERR_USAGE;
    }
    yaml_node_t *root = NULL;
    rc = yamlfile_root(yf, &root, err);
    yamlfile_pair_t p;
    for (size_t i = 0; rc == HOIST_OK && yamlfile_next(yf, root, "", &i, &p);) {
        char *v = NULL;
        int k = yamlfile_key(yf, &p, keys, err);
        if (k < 0 || (rc = yamlfile_string(yf, &p, &v, err)) != HOIST_OK) {
            rc = k < 0 ? HOIST_ERR_USAGE : rc;
            break;
        }
        /* A flag given to `run` wins over the file. */
        char *dst = k == 0 ? self->agent_bind : self->api_bind;
        if (!dst[0]) {
            snprintf(dst, sizeof self->agent_bind, "%s", v);
        }
        free(v);
    }
    yamlfile_destroy(&yf);
    return rc;
}

/* --- controller.yml ----------------------------------------------------- */

static const char *const s_config_keys[] = {"data_dir",     "agent_endpoint",
                                            "api_endpoint", "heartbeat",
                                            "log_level",    NULL};
enum { C_DATA_DIR, C_AGENT_ENDPOINT, C_API_ENDPOINT, C_HEARTBEAT, C_LOG_LEVEL };

/* Copies PAIR's string value into DST (LEN bytes), refusing longer ones. */
static hoist_err_t
s_config_string(yamlfile_t *yf, const yamlfile_pair_t *p, char *dst, size_t len,
                hoist_error_t *err)
{
    char *v = NULL;
    hoist_err_t rc = yamlfile_string(yf, p, &v, err);
    if (rc == HOIST_OK && strlen(v) >= len) {
        rc = yamlfile_error(yf, p, err, "longer than %zu characters", len - 1);
    } else if (rc == HOIST_OK) {
        memcpy(dst, v, strlen(v) + 1);
    }
    free(v);
    return rc;
}

/* Reads one key of controller.yml into C. */
static hoist_err_t
s_config_pair(yamlfile_t *yf, const yamlfile_pair_t *p, controller_config_t *c,
              hoist_error_t *err)
{
    char level[16];
    uint64_t ms = 0;
    hoist_err_t rc;
    switch (yamlfile_key(yf, p, s_config_keys, err)) {
    case C_DATA_DIR:
        rc = s_config_string(yf, p, c->data_dir, sizeof c->data_dir, err);
        if (rc == HOIST_OK && c->data_dir[0] != '/') {
            rc = yamlfile_error(
                yf, p, err, "expected an absolute path, got '%s'", c->data_dir);
        }
        return rc;
    case C_AGENT_ENDPOINT:
        return s_config_string(yf, p, c->agent_endpoint,
                               sizeof c->agent_endpoint, err);
    case C_API_ENDPOINT:
        return s_config_string(yf, p, c->api_endpoint, sizeof c->api_endpoint,
                               err);
    case C_HEARTBEAT:
        rc = yamlfile_duration(yf, p, &ms, err);
        if (rc == HOIST_OK &&
            (ms < CONTROLLER_HEARTBEAT_MIN || ms > CONTROLLER_HEARTBEAT_MAX)) {
            rc = yamlfile_error(yf, p, err, "expected 50ms to 10m, got %llu ms",
                                (unsigned long long)ms);
        }
        c->heartbeat_ms = (uint32_t)ms;
        return rc;
    case C_LOG_LEVEL:
        rc = s_config_string(yf, p, level, sizeof level, err);
        if (rc == HOIST_OK && !log_level_parse(level, &c->log_level)) {
            rc = yamlfile_error(yf, p, err,
                                "expected debug, info, warn or error, got "
                                "'%s'",
                                level);
        }
        c->has_log_level = rc == HOIST_OK;
        return rc;
    default:
        return HOIST_ERR_USAGE;
    }
}

hoist_err_t
controller_config_parse(const char *buf, size_t len, const char *name,
                        controller_config_t *out, hoist_error_t *err)
{
    yamlfile_t *yf =
        yamlfile_load(buf, len, 64 * 1024, name, HOIST_ERR_USAGE, err);
    if (!yf) {
        return err ? err->code : HOIST_ERR_USAGE;
    }
    controller_config_t *c = calloc(1, sizeof *c);
    yaml_node_t *root = NULL;
    hoist_err_t rc = c ? yamlfile_root(yf, &root, err)
                       : error_set(err, HOIST_ERR_NOMEM, "out of memory");
    yamlfile_pair_t p;
    for (size_t i = 0; rc == HOIST_OK && yamlfile_next(yf, root, "", &i, &p);) {
        rc = s_config_pair(yf, &p, c, err);
    }
    if (rc == HOIST_OK) {
        *out = *c;
    }
    free(c);
    yamlfile_destroy(&yf);
    return rc;
}

hoist_err_t
controller_config_load(const char *path, bool required,
                       controller_config_t *out, hoist_error_t *err)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    hoist_error_t e = {0};
    if (atomicfile_read(path, 64 * 1024, &buf, &len, &e) != HOIST_OK) {
        if (!required && access(path, F_OK) != 0 && errno == ENOENT) {
            memset(out, 0, sizeof *out);
            return HOIST_OK;
        }
        if (err) {
            *err = e;
        }
        return e.code;
    }
    hoist_err_t rc =
        controller_config_parse((const char *)buf, len, path, out, err);
    free(buf);
    return rc;
}

hoist_err_t
controller_check(const controller_opts_t *o, hoist_error_t *err)
{
    controller_t *self = zmalloc(sizeof *self);
    snprintf(self->data_dir, sizeof self->data_dir, "%s", o->data_dir);
    hoist_err_t rc = s_read_conf(self, err);
    zcert_t *cert =
        rc == HOIST_OK ? serverkey_load(self->data_dir, "server", err) : NULL;
    if (rc == HOIST_OK && !cert) {
        rc = err ? err->code : HOIST_ERR_KEY;
    }
    zcert_destroy(&cert);
    free(self);
    return rc;
}

/* --- ZAP: every known key, before any bind ------------------------------ */

static int
s_zap_agent(const store_agent_t *a, void *arg)
{
    controller_t *self = arg;
    char id[ZAP_USER_ID_MAX + 1];
    zap_agent_id(id, sizeof id, a->name, a->pubkey);
    hoist_error_t e;
    hoist_err_t rc = a->state == STORE_AGENT_REVOKED
                         ? zap_deny(self->zap, a->pubkey, &e)
                         : zap_allow(self->zap, a->pubkey, id, &e);
    if (rc == HOIST_OK && a->old_key[0]) {
        /* Rekeyed, the new key not seen yet: the old one still serves. */
        zap_agent_id(id, sizeof id, a->name, a->old_key);
        rc = a->state == STORE_AGENT_REVOKED
                 ? zap_deny(self->zap, a->old_key, &e)
                 : zap_allow(self->zap, a->old_key, id, &e);
    }
    if (rc != HOIST_OK) {
        log_warn("zap: agent %s: %s", a->name, e.msg);
    }
    return 0;
}

static int
s_zap_user(const store_user_t *u, void *arg)
{
    controller_t *self = arg;
    char id[STORE_NAME_SIZE + 8];
    snprintf(id, sizeof id, "user:%s", u->name);
    hoist_error_t e;
    if (zap_allow(self->zap, u->pubkey, id, &e) != HOIST_OK) {
        log_warn("zap: user %s: %s", u->name, e.msg);
    }
    return 0;
}

static hoist_err_t
s_start_zap(controller_t *self, hoist_error_t *err)
{
    self->zap = zap_new(err);
    if (!self->zap) {
        return HOIST_ERR_IO;
    }
    hoist_err_t rc =
        store_agent_list(self->store, NULL, s_zap_agent, self, err);
    if (rc == HOIST_OK) {
        rc = store_user_list(self->store, s_zap_user, self, err);
    }
    return rc;
}

/* --- sockets ------------------------------------------------------------ */

/* The endpoint a peer should dial for a socket bound to BIND: a wildcard
 * host becomes this machine's name. */
static void
s_advertise(zsock_t *sock, const char *bind, char *out, size_t len)
{
    char *last = zsock_last_endpoint(sock);
    const char *ep = last ? last : bind;
    const char *wild = strstr(ep, "0.0.0.0");
    if (wild) {
        char host[256] = "localhost";
        gethostname(host, sizeof host - 1);
        snprintf(out, len, "%.*s%s%s", (int)(wild - ep), ep, host, wild + 7);
    } else {
        snprintf(out, len, "%s", ep);
    }
    free(last);
}

static zsock_t *
s_bind(controller_t *self, const char *domain, const char *bind, char *adv,
       size_t advlen, hoist_error_t *err)
{
    zsock_t *s = zap_server_socket(ZMQ_ROUTER, self->cert, domain,
                                   ENVELOPE_MAX_BYTES, err);
    if (!s) {
        return NULL;
    }
    zsock_set_router_mandatory(s, 1);
    zsock_set_linger(s, 0);
    zsock_set_sndhwm(s, 10000);
    if (zsock_bind(s, "%s", bind) < 0) {
        error_errno(err, HOIST_ERR_IO, errno, "cannot bind %s (%s socket)",
                    bind, domain);
        zsock_destroy(&s);
        return NULL;
    }
    s_advertise(s, bind, adv, advlen);
    return s;
}

/* --- the loop ----------------------------------------------------------- */

/* Reads one [routing][body] message off SOCK; false (and nothing to
 * free) for anything else, which a peer cannot make us act on. */
static bool
s_recv(zsock_t *sock, zframe_t **routing, zframe_t **body)
{
    zmsg_t *msg = zmsg_recv(sock);
    if (!msg) {
        return false;
    }
    *routing = zmsg_pop(msg);
    *body = zmsg_pop(msg);
    bool ok = *routing && *body && zmsg_size(msg) == 0;
    zmsg_destroy(&msg);
    if (!ok) {
        zframe_destroy(routing);
        zframe_destroy(body);
    }
    return ok;
}

static int
s_on_agents(zloop_t *loop, zsock_t *sock, void *arg)
{
    (void)loop;
    controller_t *self = arg;
    zframe_t *routing = NULL, *body = NULL;
    if (s_recv(sock, &routing, &body)) {
        hub_on_message(self->hub, routing, body);
        zframe_destroy(&routing);
        zframe_destroy(&body);
    }
    return 0;
}

static int
s_on_uploader(zloop_t *loop, zsock_t *sock, void *arg)
{
    (void)loop;
    (void)sock;
    controller_t *self = arg;
    uploader_answer_t *a = uploader_recv(self->uploader);
    if (a) {
        api_on_upload(self->api, self->api_sock, a);
        uploader_answer_destroy(&a);
    }
    return 0;
}

static int
s_on_api(zloop_t *loop, zsock_t *sock, void *arg)
{
    (void)loop;
    controller_t *self = arg;
    zframe_t *routing = NULL, *body = NULL;
    if (s_recv(sock, &routing, &body)) {
        api_on_message(self->api, sock, routing, body);
        zframe_destroy(&routing);
        zframe_destroy(&body);
    }
    return 0;
}

/* The ZAP handler's pipe is readable only when it stopped: stop serving
 * rather than serve a single peer without authentication. */
static int
s_on_zap(zloop_t *loop, zsock_t *sock, void *arg)
{
    (void)loop;
    (void)sock;
    controller_t *self = arg;
    if (!zap_alive(self->zap)) {
        log_error("the ZAP handler stopped: refusing to serve without it");
        self->zap_died = true;
        return -1;
    }
    return 0;
}

static int
s_on_tick(zloop_t *loop, int timer_id, void *arg)
{
    (void)loop;
    (void)timer_id;
    controller_t *self = arg;
    hub_tick(self->hub, (int64_t)monotime_ms());
    /* Schedules run on the wall clock: that is what --at names. */
    promotion_tick(self, zclock_time(), self->started_ms);
    rollout_tick(self, zclock_time());
    dr_tick(self, zclock_time(), self->started_ms);
    return 0;
}

/* daemon_reload_fn: SIGHUP, on the loop. */
static void
s_on_reload(void *arg)
{
    controller_t *self = arg;
    if (self->reload) {
        self->reload(self, self->reload_arg);
    }
}

static hoist_err_t
s_open_parts(controller_t *self, hoist_error_t *err)
{
    char path[PATH_MAX + 32];
    hoist_err_t rc = s_read_conf(self, err);
    if (rc != HOIST_OK) {
        return rc;
    }
    /* One controller per data directory; `rotate-key` takes it too. */
    char busy[PATH_MAX + 64];
    s_path(self->data_dir, CONTROLLER_RUN_LOCK, path, sizeof path);
    snprintf(busy, sizeof busy, "another hoist-controller serves %s already",
             self->data_dir);
    if ((self->lock = lockfile_take(path, busy, err)) < 0) {
        return err ? err->code : HOIST_ERR_BUSY;
    }
    s_path(self->data_dir, "controller.db", path, sizeof path);
    if (!(self->store = store_open(path, err)) ||
        !(self->policy = policy_new(self->store, err)) ||
        !(self->artifacts = artifacts_open(self->data_dir, err)) ||
        !(self->uploader = uploader_new(self->data_dir, err)) ||
        !(self->cert = serverkey_load(self->data_dir, "server", err)) ||
        serverkey_digest_key(self->data_dir, self->cert, self->digest_key,
                             err) != HOIST_OK) {
        return err ? err->code : HOIST_ERR_IO;
    }
    hoist_error_t none = {0};
    self->next_cert = serverkey_next(self->data_dir, false, &none);
    if (!self->next_cert && none.code != HOIST_ERR_NOTFOUND) {
        log_warn("the prepared next key is unusable: %s", none.msg);
    }
    /* Old connections are gone: nobody is online until they say hello. */
    return store_agent_reset_online(self->store, err);
}

controller_t *
controller_new(const controller_opts_t *o, hoist_error_t *err)
{
    controller_t *self = zmalloc(sizeof *self);
    snprintf(self->data_dir, sizeof self->data_dir, "%s", o->data_dir);
    snprintf(self->agent_bind, sizeof self->agent_bind, "%s",
             o->agent_endpoint ? o->agent_endpoint : "");
    snprintf(self->api_bind, sizeof self->api_bind, "%s",
             o->api_endpoint ? o->api_endpoint : "");
    self->heartbeat_ms =
        o->heartbeat_ms ? o->heartbeat_ms : CONTROLLER_HEARTBEAT_MS;
    self->tick_id = -1;
    self->lock = -1;
    self->daemon = o->daemon;
    self->reload = o->reload;
    self->reload_arg = o->reload_arg;
    if (s_open_parts(self, err) != HOIST_OK ||
        s_start_zap(self, err) != HOIST_OK ||
        !(self->agents =
              s_bind(self, ZAP_DOMAIN_AGENTS,
                     self->agent_bind[0] ? self->agent_bind
                                         : CONTROLLER_AGENT_ENDPOINT,
                     self->agent_endpoint, sizeof self->agent_endpoint, err)) ||
        !(self->api_sock = s_bind(
              self, ZAP_DOMAIN_API,
              self->api_bind[0] ? self->api_bind : CONTROLLER_API_ENDPOINT,
              self->api_endpoint, sizeof self->api_endpoint, err)) ||
        !(self->hub = hub_new(self, err)) ||
        !(self->api = api_new(self, err))) {
        controller_destroy(&self);
    }
    return self;
}

void
controller_destroy(controller_t **p)
{
    if (!p || !*p) {
        return;
    }
    controller_t *self = *p;
    zloop_destroy(&self->loop);
    api_destroy(&self->api);
    hub_destroy(&self->hub);
    zsock_destroy(&self->agents);
    zsock_destroy(&self->api_sock);
    zap_destroy(&self->zap);
    zcert_destroy(&self->cert);
    zcert_destroy(&self->next_cert);
    sodium_memzero(self->digest_key, sizeof self->digest_key);
    if (self->lock >= 0) {
        close(self->lock);
    }
    uploader_destroy(&self->uploader);
    policy_destroy(&self->policy);
    artifacts_destroy(&self->artifacts);
    store_close(&self->store);
    free(self);
    *p = NULL;
}

hoist_err_t
controller_run(controller_t *self, hoist_error_t *err)
{
    self->loop = zloop_new();
    self->started_ms = zclock_time();
    zloop_reader(self->loop, self->agents, s_on_agents, self);
    zloop_reader(self->loop, self->api_sock, s_on_api, self);
    zloop_reader(self->loop, uploader_sock(self->uploader), s_on_uploader,
                 self);
    zloop_reader(self->loop, zap_sock(self->zap), s_on_zap, self);
    s_arm_tick(self);
    if (self->daemon && daemon_attach(self->daemon, self->loop, s_on_reload,
                                      self, err) != HOIST_OK) {
        return err ? err->code : HOIST_ERR_IO;
    }
    log_info("serving agents on %s and the API on %s", self->agent_endpoint,
             self->api_endpoint);
    if (self->daemon) {
        daemon_notify(self->daemon, "READY=1");
    }
    zloop_start(self->loop);
    if (self->daemon) {
        daemon_notify(self->daemon, "STOPPING=1");
    }
    if (self->zap_died) {
        return error_set(err, HOIST_ERR_AUTH,
                         "the ZAP handler stopped; stopped serving");
    }
    log_info("stopped");
    return HOIST_OK;
}
