/*
 * api: see api.h. Commands are a table: name, handler, positional
 * arguments, usage, and whether only an admin may run it (issue 4 brings
 * the full role model). Handlers write a reply: exit code, text, JSON.
 */
#include "api.h"

#include <errno.h>
#include <jansson.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "artifacts.h"
#include "call.h"
#include "deployments.h"
#include "dr.h"
#include "digest.h"
#include "duration.h"
#include "hub.h"
#include "ledger.h"
#include "mirror.h"
#include "policy.h"
#include "promotion.h"
#include "rollout.h"
#include "keys.h"
#include "log.h"
#include "manifest.h"
#include "rbac.h"
#include "store.h"
#include "uploader.h"
#include "serverkey.h"
#include "users.h"
#include "vars.h"
#include "zap.h"

#define TOKEN_TTL_MS  (3600 * 1000ULL)
#define TOKEN_TTL_MAX (7 * 24 * 3600 * 1000ULL)
#define TRUST_MAX     64

struct api {
    controller_t *ctl;
};

/* --- whoami, tokens ----------------------------------------------------- */

static int
s_whoami(call_t *c)
{
    call_say(c, "%s (%s%s%s)\n", c->user.name, c->user.role,
             c->user.env[0] ? ", " : "", c->user.env);
    json_object_set_new(c->json, "name", json_string(c->user.name));
    json_object_set_new(c->json, "role", json_string(c->user.role));
    return 0;
}

static int
s_token_create(call_t *c)
{
    const char *env = call_opt(c, "env"), *ttl = call_opt(c, "ttl");
    uint64_t ttl_ms = TOKEN_TTL_MS;
    hoist_error_t err = {0};
    if (!env || !manifest_name_valid(env)) {
        return call_refuse(c, HOIST_ERR_USAGE, "token create needs --env ENV");
    }
    if (ttl && (duration_parse(ttl, &ttl_ms, &err) != HOIST_OK || ttl_ms == 0 ||
                ttl_ms > TOKEN_TTL_MAX)) {
        return call_refuse(c, HOIST_ERR_USAGE, "--ttl takes 1s to 7d, not '%s'",
                           ttl);
    }
    uint8_t raw[24];
    char token[64];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2base64(token, sizeof token, raw, sizeof raw,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    store_token_t t = {.created_at = controller_now()};
    t.expires_at = t.created_at + (int64_t)(ttl_ms / 1000);
    crypto_generichash(t.hash, sizeof t.hash, (uint8_t *)token, strlen(token),
                       NULL, 0);
    snprintf(t.env, sizeof t.env, "%s", env);
    snprintf(t.created_by, sizeof t.created_by, "%s", c->user.name);
    if (store_token_create(controller_store(c->ctl), &t, &err)) {
        return call_fail(c, &err);
    }
    const char *ep = controller_agent_endpoint(c->ctl);
    const char *key = controller_server_key(c->ctl);
    call_say(
        c,
        "token for environment %s (one use, expires in %llus):\n  %s\n\n"
        "On the server, as root:\n"
        "  echo '%s' > /var/lib/hoist/controller.key\n"
        "  hoist-agent enroll --root /var/lib/hoist --controller %s \\\n"
        "      --controller-key /var/lib/hoist/controller.key --token %s \\\n"
        "      --env %s --trust RELEASE-KEY.pub --user USER\n",
        env, (unsigned long long)(ttl_ms / 1000), token, key, ep, token, env);
    json_object_set_new(c->json, "token", json_string(token));
    json_object_set_new(c->json, "env", json_string(env));
    json_object_set_new(c->json, "expires_at", json_integer(t.expires_at));
    json_object_set_new(c->json, "server_key", json_string(key));
    json_object_set_new(c->json, "endpoint", json_string(ep));
    return 0;
}

/* --- agents ------------------------------------------------------------- */

static int
s_agent_row(const store_agent_t *a, void *arg)
{
    call_t *c = arg;
    char flags[64] = "";
    if (a->cloned) {
        snprintf(flags, sizeof flags, "CLONED-KEY");
    }
    call_say(c, "%-16s %-12s %-9s %-8s %-20s %s\n", a->name, a->env,
             store_agent_state_name(a->state), a->online ? "online" : "offline",
             a->facts.hostname[0] ? a->facts.hostname : "-", flags);
    json_t *o = json_object();
    json_object_set_new(o, "name", json_string(a->name));
    json_object_set_new(o, "env", json_string(a->env));
    json_object_set_new(o, "key", json_string(a->pubkey));
    json_object_set_new(o, "rekey_pending", json_boolean(a->old_key[0]));
    json_object_set_new(o, "state",
                        json_string(store_agent_state_name(a->state)));
    json_object_set_new(o, "online", json_boolean(a->online));
    json_object_set_new(o, "cloned", json_boolean(a->cloned));
    json_object_set_new(o, "tags", json_string(a->tags));
    json_object_set_new(o, "hostname", json_string(a->facts.hostname));
    json_object_set_new(o, "os", json_string(a->facts.os));
    json_object_set_new(o, "agent_version",
                        json_string(a->facts.agent_version));
    json_object_set_new(o, "free_disk",
                        json_integer((json_int_t)a->facts.free_disk));
    json_object_set_new(o, "last_seen", json_integer(a->last_seen));
    json_array_append_new(json_object_get(c->json, "agents"), o);
    return 0;
}

static int
s_agents_list(call_t *c)
{
    hoist_error_t err = {0};
    json_object_set_new(c->json, "agents", json_array());
    call_say(c, "%-16s %-12s %-9s %-8s %-20s %s\n", "NAME", "ENV", "STATE",
             "LINK", "HOST", "FLAGS");
    if (store_agent_list(controller_store(c->ctl), call_opt(c, "env"),
                         s_agent_row, c, &err) != HOIST_OK) {
        return call_fail(c, &err);
    }
    return 0;
}

/* Moves agent args[0] to STATE and tells the ZAP handler. */
static int
s_agent_set(call_t *c, store_agent_state_t state)
{
    hoist_error_t err = {0};
    store_agent_t a;
    store_t *st = controller_store(c->ctl);
    char id[ZAP_USER_ID_MAX + 1];
    if (store_agent_get(st, call_arg(c, 0), &a, &err) != HOIST_OK) {
        return call_fail(c, &err);
    }
    if (!call_allowed(c, RBAC_AGENTS_MANAGE, a.env)) {
        return c->exit;
    }
    zap_agent_id(id, sizeof id, a.name, a.pubkey);
    if (store_agent_set_state(st, a.name, state, &err) != HOIST_OK ||
        (state == STORE_AGENT_REVOKED
             ? zap_deny(controller_zap(c->ctl), a.pubkey, &err)
             : zap_allow(controller_zap(c->ctl), a.pubkey, id, &err)) !=
            HOIST_OK) {
        return call_fail(c, &err);
    }
    if (state == STORE_AGENT_REVOKED && a.old_key[0] &&
        zap_deny(controller_zap(c->ctl), a.old_key, &err) != HOIST_OK) {
        return call_fail(c, &err);
    }
    if (state == STORE_AGENT_REVOKED) {
        hub_forget(controller_hub(c->ctl), a.name);
    }
    log_info("agent %s %s by %s", a.name, store_agent_state_name(state),
             c->user.name);
    call_say(c, "agent %s is %s\n", a.name, store_agent_state_name(state));
    json_object_set_new(c->json, "name", json_string(a.name));
    json_object_set_new(c->json, "state",
                        json_string(store_agent_state_name(state)));
    return 0;
}

static int
s_agents_accept(call_t *c)
{
    return s_agent_set(c, STORE_AGENT_ACCEPTED);
}

static int
s_agents_revoke(call_t *c)
{
    return s_agent_set(c, STORE_AGENT_REVOKED);
}

/* --- trusted release keys ----------------------------------------------- */

static int
s_trust_add(call_t *c)
{
    hoist_error_t err = {0};
    char text[STORE_TRUSTKEY_SIZE];
    keys_public_t k;
    char id[KEYS_ID_HEX_LEN];
    size_t n = c->req->data.len;
    if (n == 0 || n >= sizeof text) {
        return call_refuse(c, HOIST_ERR_USAGE, "trust add needs a .pub file");
    }
    memcpy(text, c->req->data.data, n);
    text[n] = '\0';
    if (text[n - 1] == '\n') {
        text[n - 1] = '\0';
    }
    if (keys_public_parse(text, &k, &err) != HOIST_OK) {
        return call_fail(c, &err);
    }
    store_trust_t t = {.added_at = controller_now()};
    snprintf(t.key_id, sizeof t.key_id, "%s", keys_id_hex(k.id, id));
    snprintf(t.pubkey, sizeof t.pubkey, "%s", text);
    if (store_trust_add(controller_store(c->ctl), &t, &err) != HOIST_OK) {
        return call_fail(c, &err);
    }
    call_say(c, "releases signed by key %s are accepted\n", t.key_id);
    json_object_set_new(c->json, "key_id", json_string(t.key_id));
    return 0;
}

static int
s_trust_row(const store_trust_t *t, void *arg)
{
    call_t *c = arg;
    call_say(c, "%s  added %lld\n", t->key_id, (long long)t->added_at);
    json_t *o = json_object();
    json_object_set_new(o, "key_id", json_string(t->key_id));
    json_object_set_new(o, "added_at", json_integer(t->added_at));
    json_array_append_new(json_object_get(c->json, "keys"), o);
    return 0;
}

static int
s_trust_list(call_t *c)
{
    hoist_error_t err = {0};
    json_object_set_new(c->json, "keys", json_array());
    if (store_trust_list(controller_store(c->ctl), s_trust_row, c, &err) !=
        HOIST_OK) {
        return call_fail(c, &err);
    }
    return 0;
}

static int
s_trust_remove(call_t *c)
{
    hoist_error_t err = {0};
    if (store_trust_remove(controller_store(c->ctl), call_arg(c, 0), &err) !=
        HOIST_OK) {
        return call_fail(c, &err);
    }
    call_say(c, "key %s is no longer trusted\n", call_arg(c, 0));
    return 0;
}

typedef struct {
    keys_public_t keys[TRUST_MAX];
    size_t n;
} trustset_t;

static int
s_trust_collect(const store_trust_t *t, void *arg)
{
    trustset_t *ts = arg;
    if (ts->n < TRUST_MAX &&
        keys_public_parse(t->pubkey, &ts->keys[ts->n], NULL) == HOIST_OK) {
        ts->n++;
    }
    return 0;
}

/* --- releases ----------------------------------------------------------- */

/* --- uploads, answered when the uploader actor is done ----------------- */

/* A deferred call's cookie: what its answer needs to become a reply, the
 * request id, the client's routing id and the user. */
typedef struct {
    uint64_t id;
    uint8_t routing_len;
    uint8_t routing[255];
    char user[STORE_NAME_SIZE];
} cookie_t;

/* Fills COOKIE for the call C; false when the routing id does not fit. */
static bool
s_cookie(const call_t *c, cookie_t *cookie)
{
    if (!c->routing || zframe_size(c->routing) > sizeof cookie->routing) {
        return false;
    }
    memset(cookie, 0, sizeof *cookie);
    cookie->id = c->id;
    cookie->routing_len = (uint8_t)zframe_size(c->routing);
    memcpy(cookie->routing, zframe_data(c->routing), cookie->routing_len);
    snprintf(cookie->user, sizeof cookie->user, "%s", c->user.name);
    return true;
}

/* Hands the call to the uploader (SEND's result RC): the reply comes with
 * the answer, or now with the refusal in ERR. */
static int
s_defer(call_t *c, hoist_err_t rc, const hoist_error_t *err)
{
    if (rc != HOIST_OK) {
        return call_fail(c, err);
    }
    c->deferred = true;
    return 0;
}

static int
s_release_begin(call_t *c)
{
    hoist_error_t err = {0};
    trustset_t *ts = calloc(1, sizeof *ts);
    cookie_t cookie;
    if (!ts || !s_cookie(c, &cookie)) {
        free(ts);
        return call_refuse(c, HOIST_ERR_NOMEM, "out of memory");
    }
    const char *lifecycle = call_opt(c, "lifecycle");
    hoist_err_t rc = HOIST_OK;
    /* The lifecycle decides which gates the release will meet (hotfix may
     * skip qa), so choosing one takes the right to promote. */
    if (lifecycle && lifecycle[0] && !call_allowed(c, RBAC_PROMOTE, NULL)) {
        free(ts);
        return c->exit;
    }
    if (lifecycle && lifecycle[0] &&
        !pipeline_lifecycle(policy_pipeline(controller_policy(c->ctl)),
                            lifecycle)) {
        rc = error_set(&err, HOIST_ERR_NOTFOUND,
                       "no lifecycle '%s' in the pipeline (hoist export "
                       "shows them)",
                       lifecycle);
    }
    if (rc == HOIST_OK) {
        rc = store_trust_list(controller_store(c->ctl), s_trust_collect, ts,
                              &err);
    }
    if (rc == HOIST_OK) {
        rc = uploader_begin(controller_uploader(c->ctl), &cookie, sizeof cookie,
                            c->req->data.data, c->req->data.len,
                            call_opt(c, "notes"), lifecycle, ts->keys, ts->n,
                            &err);
    }
    free(ts);
    return s_defer(c, rc, &err);
}

static int
s_release_chunk(call_t *c)
{
    hoist_error_t err = {0};
    const char *off = call_opt(c, "offset");
    char *end = NULL;
    unsigned long long offset = off ? strtoull(off, &end, 10) : 0;
    cookie_t cookie;
    if (!off || *end) {
        return call_refuse(c, HOIST_ERR_USAGE, "release.chunk needs an offset");
    }
    if (!s_cookie(c, &cookie)) {
        return call_refuse(c, HOIST_ERR_NOMEM, "out of memory");
    }
    return s_defer(c,
                   uploader_chunk(controller_uploader(c->ctl), &cookie,
                                  sizeof cookie, call_arg(c, 0), offset,
                                  c->req->data.data, c->req->data.len, &err),
                   &err);
}

static int
s_release_commit(call_t *c)
{
    hoist_error_t err = {0};
    cookie_t cookie;
    if (!s_cookie(c, &cookie)) {
        return call_refuse(c, HOIST_ERR_NOMEM, "out of memory");
    }
    return s_defer(c,
                   uploader_commit(controller_uploader(c->ctl), &cookie,
                                   sizeof cookie, call_arg(c, 0), &err),
                   &err);
}

/* A session is open: refuse a version the store has, else name it. */
static int
s_begun(call_t *c, const uploader_answer_t *a)
{
    const manifest_t *m = a->manifest;
    store_release_t *have = malloc(sizeof *have);
    if (!have) {
        uploader_abort(controller_uploader(c->ctl), a->id);
        return call_refuse(c, HOIST_ERR_NOMEM, "out of memory");
    }
    bool exists =
        store_release_get(controller_store(c->ctl), manifest_app(m),
                          manifest_version(m), have, NULL) == HOIST_OK;
    free(have);
    if (exists) {
        uploader_abort(controller_uploader(c->ctl), a->id);
        return call_refuse(
            c, HOIST_ERR_EXISTS,
            "release %s %s exists already: versions never change, "
            "publish a new one",
            manifest_app(m), manifest_version(m));
    }
    json_object_set_new(c->json, "upload", json_string(a->id));
    json_object_set_new(c->json, "size",
                        json_integer((json_int_t)manifest_artifact_size(m)));
    json_object_set_new(c->json, "chunk", json_integer(ARTIFACTS_CHUNK_MAX));
    call_say(c, "upload %s: %s %s, %llu bytes\n", a->id, manifest_app(m),
             manifest_version(m),
             (unsigned long long)manifest_artifact_size(m));
    return 0;
}

/* Records the committed upload of answer A as a release. */
static hoist_err_t
s_record_release(call_t *c, const uploader_answer_t *a, hoist_error_t *err)
{
    const manifest_t *m = a->manifest;
    store_release_t *r = calloc(1, sizeof *r);
    if (!r || a->signed_len > sizeof r->manifest) {
        free(r);
        return error_set(err, HOIST_ERR_NOMEM, "out of memory");
    }
    snprintf(r->app, sizeof r->app, "%s", manifest_app(m));
    snprintf(r->version, sizeof r->version, "%s", manifest_version(m));
    r->sequence = manifest_sequence(m);
    digest_hex(manifest_artifact_digest(m), r->digest);
    r->size = manifest_artifact_size(m);
    memcpy(r->manifest, a->signed_bytes, a->signed_len);
    r->manifest_len = a->signed_len;
    snprintf(r->notes, sizeof r->notes, "%s", a->notes ? a->notes : "");
    snprintf(r->lifecycle, sizeof r->lifecycle, "%s", a->lifecycle);
    r->created_at = controller_now();
    hoist_err_t rc = store_release_add(controller_store(c->ctl), r, err);
    free(r);
    return rc;
}

static int
s_committed(call_t *c, const uploader_answer_t *a, const char *user)
{
    const manifest_t *m = a->manifest;
    hoist_error_t err = {0};
    if (s_record_release(c, a, &err) != HOIST_OK) {
        return call_fail(c, &err);
    }
    log_info("release %s %s created by %s", manifest_app(m),
             manifest_version(m), user);
    call_say(c, "release %s %s stored (%llu bytes, verified)\n",
             manifest_app(m), manifest_version(m),
             (unsigned long long)manifest_artifact_size(m));
    json_object_set_new(c->json, "app", json_string(manifest_app(m)));
    json_object_set_new(c->json, "version", json_string(manifest_version(m)));
    policy_notify(controller_policy(c->ctl), "release.created", NULL,
                  json_pack("{s:s,s:s,s:s,s:s}", "app", manifest_app(m),
                            "version", manifest_version(m), "lifecycle",
                            a->lifecycle, "by", user));
    promotion_on_release(c, manifest_app(m), manifest_version(m), a->lifecycle);
    return 0;
}

static int
s_release_row(const store_release_t *r, void *arg)
{
    call_t *c = arg;
    call_say(c, "%-16s %-16s %10llu %12llu\n", r->app, r->version,
             (unsigned long long)r->sequence, (unsigned long long)r->size);
    json_t *o = json_object();
    json_object_set_new(o, "app", json_string(r->app));
    json_object_set_new(o, "version", json_string(r->version));
    json_object_set_new(o, "sequence", json_integer((json_int_t)r->sequence));
    json_object_set_new(o, "size", json_integer((json_int_t)r->size));
    json_object_set_new(o, "digest", json_string(r->digest));
    json_object_set_new(o, "created_at", json_integer(r->created_at));
    json_array_append_new(json_object_get(c->json, "releases"), o);
    return 0;
}

static int
s_release_list(call_t *c)
{
    hoist_error_t err = {0};
    json_object_set_new(c->json, "releases", json_array());
    call_say(c, "%-16s %-16s %10s %12s\n", "APP", "VERSION", "SEQUENCE",
             "BYTES");
    const char *app = c->req->n_args ? call_arg(c, 0) : call_opt(c, "app");
    if (store_release_list(controller_store(c->ctl), app, s_release_row, c,
                           &err) != HOIST_OK) {
        return call_fail(c, &err);
    }
    return 0;
}

static int
s_release_show(call_t *c)
{
    hoist_error_t err = {0};
    store_release_t *r = malloc(sizeof *r);
    int rc = 0;
    if (!r || store_release_get(controller_store(c->ctl), call_arg(c, 0),
                                call_arg(c, 1), r, &err) != HOIST_OK) {
        rc = call_fail(c, &err);
    } else {
        call_say(c,
                 "%s %s\n  sequence %llu\n  artifact %llu bytes, blake2b-256 "
                 "%s\n  notes:\n%s\n",
                 r->app, r->version, (unsigned long long)r->sequence,
                 (unsigned long long)r->size, r->digest,
                 r->notes[0] ? r->notes : "  (none)");
        json_object_set_new(c->json, "app", json_string(r->app));
        json_object_set_new(c->json, "version", json_string(r->version));
        json_object_set_new(c->json, "sequence",
                            json_integer((json_int_t)r->sequence));
        json_object_set_new(c->json, "digest", json_string(r->digest));
        json_object_set_new(c->json, "size", json_integer((json_int_t)r->size));
        json_object_set_new(c->json, "notes", json_string(r->notes));
        json_object_set_new(c->json, "lifecycle", json_string(r->lifecycle));
        call_say(c, "  lifecycle %s\n",
                 r->lifecycle[0] ? r->lifecycle : "(default)");
        promotion_show(c, r->app, r->version);
    }
    free(r);
    return rc;
}

/* --- deployments -------------------------------------------------------- */

static int
s_start(call_t *c, const char *app, const char *version, const char *env,
        store_deploy_kind_t kind)
{
    hoist_error_t err = {0};
    int64_t id = 0;
    deployments_how_t how = {.strategy = call_opt(c, "strategy"),
                             .selector = call_opt(c, "only")};
    if (deployments_start(c->ctl, c->user.name, app, version, env, kind, &how,
                          &id, &err) != HOIST_OK) {
        return call_fail(c, &err);
    }
    call_say(c, "deployment %lld: %s %s to %s\n", (long long)id, app, version,
             env);
    json_object_set_new(c->json, "deployment", json_integer(id));
    return 0;
}

static int
s_deploy(call_t *c)
{
    return s_start(c, call_arg(c, 0), call_arg(c, 1), call_opt(c, "env"),
                   STORE_KIND_DEPLOY);
}

/* Finds, in APP's deployments into ENV (newest first), the version live
 * there (the newest that succeeded) and the one before it: the release
 * that was live before the live version first arrived by a deploy, so
 * that rolling back twice goes further back, not forward again. With TO
 * set, it only says whether TO succeeded there before (SEEN_TO). */
typedef struct {
    const char *app, *env, *to;
    char live[STORE_VERSION_SIZE];
    bool origin; /* passed the deploy that first brought LIVE */
    char before[STORE_VERSION_SIZE];
    bool seen_to;
} rollback_find_t;

static int
s_rollback_scan(const store_deployment_t *d, void *arg)
{
    rollback_find_t *f = arg;
    if (strcmp(d->env, f->env) != 0 || d->state != STORE_DEPLOY_SUCCEEDED) {
        return 0;
    }
    if (f->to) {
        f->seen_to |= strcmp(d->version, f->to) == 0;
        return f->seen_to;
    }
    if (!f->live[0]) {
        snprintf(f->live, sizeof f->live, "%s", d->version);
        f->origin = d->kind == STORE_KIND_DEPLOY;
        return 0;
    }
    if (strcmp(d->version, f->live) == 0) {
        f->origin |= d->kind == STORE_KIND_DEPLOY;
        return 0;
    }
    if (f->origin) {
        snprintf(f->before, sizeof f->before, "%s", d->version);
        return 1;
    }
    return 0;
}

static int
s_rollback(call_t *c)
{
    rollback_find_t f = {.app = call_arg(c, 0),
                         .env = call_opt(c, "env"),
                         .to = call_opt(c, "to")};
    hoist_error_t err = {0};
    if (!f.env) {
        return call_refuse(c, HOIST_ERR_USAGE, "rollback needs --env ENV");
    }
    if (store_deployment_list(controller_store(c->ctl), f.app, s_rollback_scan,
                              &f, &err) != HOIST_OK) {
        return call_fail(c, &err);
    }
    /* A rollback passes no gate: it only returns ENV to a release that
     * already ran there successfully. */
    if (f.to && !f.seen_to) {
        return call_refuse(c, HOIST_ERR_NOTFOUND,
                           "%s %s never succeeded in %s: a rollback goes back "
                           "to a release that ran there (promote it instead)",
                           f.app, f.to, f.env);
    }
    if (!f.to && !f.before[0]) {
        return call_refuse(c, HOIST_ERR_NOTFOUND,
                           "%s has no earlier release that succeeded in %s "
                           "to roll back to (name one with --to)",
                           f.app, f.env);
    }
    return s_start(c, f.app, f.to ? f.to : f.before, f.env,
                   STORE_KIND_ROLLBACK);
}

static int
s_task_row(const store_task_t *t, void *arg)
{
    call_t *c = arg;
    bool online = hub_online(controller_hub(c->ctl), t->agent);
    call_say(c, "  %-16s %-12s %-16s %-12s%s\n", t->agent,
             store_task_state_name(t->state), t->step[0] ? t->step : "-",
             t->live_version[0] ? t->live_version : "-",
             online ? "" : "  (offline)");
    json_t *o = json_object();
    json_object_set_new(o, "agent", json_string(t->agent));
    json_object_set_new(o, "state",
                        json_string(store_task_state_name(t->state)));
    json_object_set_new(o, "step", json_string(t->step));
    json_object_set_new(o, "live", json_string(t->live_version));
    json_object_set_new(o, "online", json_boolean(online));
    json_object_set_new(o, "message", json_string(t->message));
    json_t *slot = json_object_get(json_object_get(c->json, "plan"), t->agent);
    json_object_set_new(
        o, "batch",
        json_integer(json_integer_value(json_object_get(slot, "batch"))));
    json_object_set_new(
        o, "canary",
        json_boolean(json_is_true(json_object_get(slot, "canary"))));
    json_array_append_new(json_object_get(c->json, "tasks"), o);
    return 0;
}

static void
s_deployment_json(json_t *o, const store_deployment_t *d)
{
    json_object_set_new(o, "id", json_integer(d->id));
    json_object_set_new(o, "app", json_string(d->app));
    json_object_set_new(o, "version", json_string(d->version));
    json_object_set_new(o, "env", json_string(d->env));
    json_object_set_new(o, "kind",
                        json_string(store_deploy_kind_name(d->kind)));
    json_object_set_new(o, "state",
                        json_string(store_deploy_state_name(d->state)));
    json_object_set_new(o, "created_by", json_string(d->created_by));
    json_object_set_new(o, "created_at", json_integer(d->created_at));
    json_object_set_new(o, "finished_at", json_integer(d->finished_at));
}

static int
s_deployment_show(call_t *c)
{
    hoist_error_t err = {0};
    store_deployment_t d;
    char *end = NULL;
    long long id = strtoll(call_arg(c, 0), &end, 10);
    if (!call_arg(c, 0)[0] || *end) {
        return call_refuse(c, HOIST_ERR_USAGE, "a deployment id is a number");
    }
    if (store_deployment_get(controller_store(c->ctl), id, &d, &err)) {
        return call_fail(c, &err);
    }
    s_deployment_json(c->json, &d);
    json_object_set_new(c->json, "tasks", json_array());
    call_say(c, "deployment %lld: %s %s %s to %s, %s\n", (long long)d.id,
             store_deploy_kind_name(d.kind), d.app, d.version, d.env,
             store_deploy_state_name(d.state));
    if (rollout_describe(c->ctl, &d, c->json, &err) == HOIST_OK) {
        json_t *j = c->json;
        call_say(c, "  strategy: %s%s%s\n",
                 json_string_value(json_object_get(j, "strategy")),
                 d.selector[0] ? "; only " : "", d.selector);
        if (d.halted) {
            call_say(c, "  halted: %s\n", d.halt_reason);
        }
        if (json_is_true(json_object_get(j, "waiting_continue"))) {
            call_say(c, "  the canary holds: hoist deployment continue %lld\n",
                     (long long)d.id);
        }
    }
    call_say(c, "  %-16s %-12s %-16s %-12s\n", "AGENT", "STATE", "STEP",
             "LIVE");
    if (store_task_list(controller_store(c->ctl), id, s_task_row, c, &err) !=
        HOIST_OK) {
        return call_fail(c, &err);
    }
    json_object_del(c->json, "plan"); /* now in each task */
    return 0;
}

static int
s_deployment_row(const store_deployment_t *d, void *arg)
{
    call_t *c = arg;
    call_say(c, "%6lld  %-8s %-16s %-16s %-12s %s\n", (long long)d->id,
             store_deploy_kind_name(d->kind), d->app, d->version, d->env,
             store_deploy_state_name(d->state));
    json_t *o = json_object();
    s_deployment_json(o, d);
    json_array_append_new(json_object_get(c->json, "deployments"), o);
    return 0;
}

static int
s_deployments(call_t *c)
{
    hoist_error_t err = {0};
    json_object_set_new(c->json, "deployments", json_array());
    call_say(c, "%6s  %-8s %-16s %-16s %-12s %s\n", "ID", "KIND", "APP",
             "VERSION", "ENV", "STATE");
    const char *app = c->req->n_args ? call_arg(c, 0) : call_opt(c, "app");
    if (store_deployment_list(controller_store(c->ctl), app, s_deployment_row,
                              c, &err) != HOIST_OK) {
        return call_fail(c, &err);
    }
    return 0;
}

static int
s_log_row(const store_task_t *t, void *arg)
{
    call_t *c = arg;
    const char *only = call_opt(c, "agent");
    if (only && strcmp(only, t->agent) != 0) {
        return 0;
    }
    call_say(c, "== %s: %s%s%s\n%s\n", t->agent,
             store_task_state_name(t->state), t->step[0] ? " at " : "", t->step,
             t->message);
    json_t *o = json_object();
    json_object_set_new(o, "agent", json_string(t->agent));
    json_object_set_new(o, "state",
                        json_string(store_task_state_name(t->state)));
    json_object_set_new(o, "message", json_string(t->message));
    json_array_append_new(json_object_get(c->json, "logs"), o);
    return 0;
}

static int
s_logs(call_t *c)
{
    hoist_error_t err = {0};
    json_object_set_new(c->json, "logs", json_array());
    if (store_task_list(controller_store(c->ctl),
                        strtoll(call_arg(c, 0), NULL, 10), s_log_row, c,
                        &err) != HOIST_OK) {
        return call_fail(c, &err);
    }
    return 0;
}

/* status: for each (environment, app), the version that is live (its
 * newest succeeded deployment) and the newest attempt, whatever it did. */
static int
s_status_row(const store_deployment_t *d, void *arg)
{
    call_t *c = arg;
    char key[STORE_NAME_SIZE * 2 + 2];
    snprintf(key, sizeof key, "%s/%s", d->env, d->app);
    json_t *all = json_object_get(c->json, "status");
    json_t *o = json_object_get(all, key);
    if (!o) { /* newest first: this is the latest attempt */
        o = json_object();
        json_object_set_new(o, "env", json_string(d->env));
        json_object_set_new(o, "app", json_string(d->app));
        json_object_set_new(o, "live", json_string(""));
        json_t *last = json_object();
        s_deployment_json(last, d);
        json_object_set_new(o, "last", last);
        json_object_set_new(all, key, o);
    }
    const char *live = json_string_value(json_object_get(o, "live"));
    if (!live[0] && d->state == STORE_DEPLOY_SUCCEEDED) {
        json_object_set_new(o, "live", json_string(d->version));
    }
    return 0;
}

static int
s_status(call_t *c)
{
    hoist_error_t err = {0};
    json_object_set_new(c->json, "status", json_object());
    const char *app = c->req->n_args ? call_arg(c, 0) : call_opt(c, "app");
    if (store_deployment_list(controller_store(c->ctl), app, s_status_row, c,
                              &err) != HOIST_OK) {
        return call_fail(c, &err);
    }
    call_say(c, "%-12s %-16s %-16s %s\n", "ENV", "APP", "LIVE",
             "LAST DEPLOYMENT");
    const char *key;
    json_t *o;
    json_object_foreach(json_object_get(c->json, "status"), key, o)
    {
        json_t *last = json_object_get(o, "last");
        const char *live = json_string_value(json_object_get(o, "live"));
        call_say(c, "%-12s %-16s %-16s %lld: %s %s\n",
                 json_string_value(json_object_get(o, "env")),
                 json_string_value(json_object_get(o, "app")),
                 live[0] ? live : "-",
                 (long long)json_integer_value(json_object_get(last, "id")),
                 json_string_value(json_object_get(last, "version")),
                 json_string_value(json_object_get(last, "state")));
    }
    return 0;
}

/* --- the table ---------------------------------------------------------- */

/* Each command's action is what rbac checks; ENV_OPT names the option
 * that holds the environment it touches (NULL: none, or found by the
 * handler, as for an agent's). See call.h. */
static const call_command_t s_commands[] = {
    {"whoami", s_whoami, 0, RBAC_READ, NULL, "whoami", true},
    {"token.create", s_token_create, 0, RBAC_TOKEN_CREATE, "env",
     "token create --env ENV", false},
    {"agents.list", s_agents_list, 0, RBAC_READ, NULL,
     "agents [list] [--env ENV]", true},
    /* The agent's environment is checked in the handler (s_agent_set). */
    {"agents.accept", s_agents_accept, 1, RBAC_READ, NULL, "agents accept NAME",
     false},
    {"agents.revoke", s_agents_revoke, 1, RBAC_READ, NULL, "agents revoke NAME",
     false},
    {"trust.add", s_trust_add, 0, RBAC_TRUST_MANAGE, NULL, "trust add PUBFILE",
     false},
    {"trust.list", s_trust_list, 0, RBAC_TRUST_LIST, NULL, "trust list", true},
    {"trust.remove", s_trust_remove, 1, RBAC_TRUST_MANAGE, NULL,
     "trust remove KEYID", false},
    /* Uploads are recorded when the uploader answers (api_on_upload). */
    {"release.begin", s_release_begin, 0, RBAC_RELEASE_CREATE, NULL,
     "release create ...", false},
    {"release.chunk", s_release_chunk, 1, RBAC_RELEASE_CREATE, NULL,
     "release create ...", false},
    {"release.commit", s_release_commit, 1, RBAC_RELEASE_CREATE, NULL,
     "release create ...", false},
    {"release.list", s_release_list, SIZE_MAX, RBAC_READ, NULL,
     "release list [APP]", true},
    {"release.show", s_release_show, 2, RBAC_READ, NULL,
     "release show APP VERSION", true},
    {"deploy", s_deploy, 2, RBAC_DEPLOY, "env", "deploy APP VERSION --env ENV",
     false},
    {"rollback", s_rollback, 1, RBAC_ROLLBACK, "env",
     "rollback APP --env ENV [--to V]", false},
    {"deployment.show", s_deployment_show, 1, RBAC_READ, NULL,
     "deployment show ID", true},
    {"deployments", s_deployments, SIZE_MAX, RBAC_READ, NULL,
     "deployments [APP]", true},
    {"logs", s_logs, 1, RBAC_READ, NULL, "logs ID [--agent NAME]", true},
    {"status", s_status, SIZE_MAX, RBAC_READ, NULL, "status [APP]", true},
    {NULL, NULL, 0, RBAC_READ, NULL, NULL, false},
};

/* Every module's table, api.c's own first; each ends with a NULL name. */
static const call_command_t *const s_tables[] = {
    rollout_commands, mirror_commands,   dr_commands,        s_commands,
    ledger_commands,  policy_commands,   promotion_commands, users_commands,
    vars_commands,    serverkey_commands};

static const call_command_t *
s_find(const char *name)
{
    for (size_t t = 0; t < sizeof s_tables / sizeof *s_tables; t++) {
        for (const call_command_t *cmd = s_tables[t]; cmd->name; cmd++) {
            if (strcmp(cmd->name, name) == 0) {
                return cmd;
            }
        }
    }
    return NULL;
}

/* Runs the request in C after checking the caller and the arguments, and
 * puts it on the record: every request that changes something, and every
 * refusal; a read that succeeds is not recorded. */
static void
s_run(call_t *c, const char *uid)
{
    hoist_error_t err = {0};
    const call_command_t *cmd = s_find(c->req->command);
    if (strncmp(uid, "user:", 5) != 0 ||
        store_user_get(controller_store(c->ctl), uid + 5, &c->user, &err) !=
            HOIST_OK) {
        call_refuse(c, HOIST_ERR_AUTH, "refused: this key is not a user here");
    } else if (!cmd) {
        call_refuse(c, HOIST_ERR_USAGE, "unknown command '%s'",
                    c->req->command);
    } else if (cmd->nargs != SIZE_MAX && c->req->n_args != cmd->nargs) {
        call_refuse(c, HOIST_ERR_USAGE, "usage: hoist %s", cmd->usage);
    } else if (call_allowed(c, cmd->action,
                            cmd->env_opt ? call_opt(c, cmd->env_opt) : NULL)) {
        c->exit = cmd->fn(c);
    }
    if (!c->deferred && (!cmd || !cmd->reads || c->exit != 0)) {
        ledger_record(c, c->req->command);
    }
}

static void
s_reply(call_t *c, zsock_t *sock, zframe_t *routing, uint64_t id)
{
    call_flush(c);
    char *json = json_dumps(c->json, JSON_COMPACT);
    envelope_t e = HOIST__ENVELOPE__INIT;
    Hoist__ApiReply reply = HOIST__API_REPLY__INIT;
    reply.exit = c->exit;
    reply.text = c->text ? c->text : "";
    reply.json = json ? json : "{}";
    e.id = id;
    e.body_case = HOIST__ENVELOPE__BODY_REPLY;
    e.reply = &reply;
    controller_send(sock, routing, &e);
    free(json);
}

void
api_on_message(api_t *self, zsock_t *sock, zframe_t *routing, zframe_t *body)
{
    const char *uid = zap_user_id(body);
    if (!uid) {
        return;
    }
    hoist_error_t err = {0};
    envelope_t *e = envelope_unpack(zframe_data(body), zframe_size(body),
                                    ENVELOPE_MAX_BYTES, &err);
    if (!e || e->body_case != HOIST__ENVELOPE__BODY_REQUEST) {
        envelope_t out;
        Hoist__Error eb;
        envelope_error(&out, &eb, e ? e->id : 0, HOIST_ERR_PROTOCOL,
                       e ? "only requests are served here" : err.msg);
        controller_send(sock, routing, &out);
        envelope_destroy(&e);
        return;
    }
    call_t c;
    if (call_init(&c, self->ctl, NULL)) {
        c.req = e->request;
        c.id = e->id;
        c.routing = routing;
        s_run(&c, uid);
        if (!c.deferred) {
            s_reply(&c, sock, routing, e->id);
        }
        call_fini(&c);
    }
    envelope_destroy(&e);
}

void
api_on_upload(api_t *self, zsock_t *sock, uploader_answer_t *a)
{
    static const char *const names[] = {
        [UPLOADER_BEGUN] = "release.begin",
        [UPLOADER_CHUNKED] = "release.chunk",
        [UPLOADER_COMMITTED] = "release.commit",
    };
    cookie_t cookie;
    call_t c;
    if (a->cookie_len != sizeof cookie) {
        return;
    }
    memcpy(&cookie, a->cookie, sizeof cookie);
    cookie.user[sizeof cookie.user - 1] = '\0';
    zframe_t *routing = zframe_new(cookie.routing, cookie.routing_len);
    if (routing && call_init(&c, self->ctl, NULL)) {
        snprintf(c.user.name, sizeof c.user.name, "%s", cookie.user);
        if (a->err.code != HOIST_OK) {
            c.exit = call_fail(&c, &a->err);
        } else if (a->kind == UPLOADER_BEGUN) {
            c.exit = s_begun(&c, a);
        } else if (a->kind == UPLOADER_CHUNKED) {
            json_object_set_new(c.json, "received",
                                json_integer((json_int_t)a->received));
        } else {
            c.exit = s_committed(&c, a, cookie.user);
        }
        if (a->kind != UPLOADER_CHUNKED || c.exit != 0) {
            ledger_record_upload(&c, names[a->kind], a);
        }
        s_reply(&c, sock, routing, cookie.id);
        call_fini(&c);
    }
    zframe_destroy(&routing);
}

api_t *
api_new(controller_t *ctl, hoist_error_t *err)
{
    (void)err;
    api_t *self = zmalloc(sizeof *self);
    self->ctl = ctl;
    return self;
}

void
api_destroy(api_t **p)
{
    if (p && *p) {
        free(*p);
        *p = NULL;
    }
}
