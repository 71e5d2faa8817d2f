/*
 * mirror: see mirror.h.
 */
#include "mirror.h"

#include <stdlib.h>
#include <string.h>

#include "deployments.h"
#include "hub.h"
#include "ledger.h"
#include "log.h"
#include "policy.h"

typedef struct {
    const char *env;
    char *out;
} live_t;

static int
s_live_row(const store_deployment_t *d, void *arg)
{
    live_t *l = arg;
    if (strcmp(d->env, l->env) == 0 && d->state == STORE_DEPLOY_SUCCEEDED) {
        snprintf(l->out, STORE_VERSION_SIZE, "%s", d->version);
        return 1; /* newest first */
    }
    return 0;
}

void
mirror_live(controller_t *ctl, const char *app, const char *env, char *out)
{
    live_t l = {.env = env, .out = out};
    out[0] = '\0';
    store_deployment_list(controller_store(ctl), app, s_live_row, &l, NULL);
}

/* Deploys APP VERSION to mirror M as USER; returns the deployment's id,
 * or 0 with ERR. */
static int64_t
s_sync(controller_t *ctl, const char *user, const char *app,
       const char *version, const char *m, hoist_error_t *err)
{
    int64_t id = 0;
    char target[STORE_TARGET_SIZE], result[STORE_RESULT_SIZE];
    snprintf(target, sizeof target, "%s %s -> %s", app, version, m);
    if (deployments_start(ctl, user, app, version, m, STORE_KIND_DEPLOY, NULL,
                          &id, err) != HOIST_OK) {
        snprintf(result, sizeof result, "not started: %s", err->msg);
        id = 0;
    } else {
        snprintf(result, sizeof result, "ok: deployment %lld", (long long)id);
    }
    ledger_note(ctl, "mirror.sync", target, result, id ? 0 : 1);
    log_info("mirror %s: %s", target, result);
    return id;
}

void
mirror_on_success(controller_t *ctl, const store_deployment_t *d)
{
    const pipeline_t *p = policy_pipeline(controller_policy(ctl));
    const char *mirrors[PIPELINE_MAX_ENVS];
    size_t n = pipeline_mirrors(p, d->env, mirrors, PIPELINE_MAX_ENVS);
    for (size_t i = 0; i < n && i < PIPELINE_MAX_ENVS; i++) {
        const pipeline_env_t *m = pipeline_env(p, mirrors[i]);
        hoist_error_t err = {0};
        if (m && !m->sync_manual) {
            s_sync(ctl, d->created_by, d->app, d->version, m->name, &err);
        }
    }
}

/* --- hoist dr sync APP [--to ENV] ---------------------------------------- */

static int
s_dr_sync(call_t *c)
{
    const pipeline_t *p = policy_pipeline(controller_policy(c->ctl));
    const char *app = call_arg(c, 0), *to = call_opt(c, "to");
    size_t synced = 0;
    json_t *list = json_array();
    json_object_set_new(c->json, "syncs", list);
    for (size_t i = 0; i < p->nenvs; i++) {
        const pipeline_env_t *m = &p->envs[i];
        char src[STORE_VERSION_SIZE], have[STORE_VERSION_SIZE];
        hoist_error_t err = {0};
        if (!m->mirror[0] || (to && strcmp(to, m->name) != 0)) {
            continue;
        }
        if (!call_allowed(c, RBAC_PROMOTE, m->name)) {
            return c->exit;
        }
        mirror_live(c->ctl, app, m->mirror, src);
        mirror_live(c->ctl, app, m->name, have);
        synced++;
        if (!src[0]) {
            call_say(c, "%s: nothing of %s runs in %s yet\n", m->name, app,
                     m->mirror);
            continue;
        }
        if (strcmp(src, have) == 0) {
            call_say(c, "%s: runs %s %s already, like %s\n", m->name, app, src,
                     m->mirror);
            continue;
        }
        int64_t id = s_sync(c->ctl, c->user.name, app, src, m->name, &err);
        if (!id) {
            return call_fail(c, &err);
        }
        call_say(c, "%s: deployment %lld of %s %s (as in %s)\n", m->name,
                 (long long)id, app, src, m->mirror);
        json_array_append_new(list, json_pack("{s:s,s:s,s:I}", "env", m->name,
                                              "version", src, "deployment",
                                              (json_int_t)id));
    }
    if (!synced) {
        return call_refuse(c, HOIST_ERR_NOTFOUND,
                           "%s is no mirror in the pipeline (a mirror has "
                           "mirror: ENV)",
                           to ? to : "there");
    }
    return 0;
}

/* --- hoist diff ENV_A ENV_B [APP] ------------------------------------------
 */

typedef struct {
    const char *a, *b, *only_app;
    json_t *apps; /* app -> {a, b} */
} apps_t;

static int
s_app_row(const store_deployment_t *d, void *arg)
{
    apps_t *x = arg;
    if ((strcmp(d->env, x->a) == 0 || strcmp(d->env, x->b) == 0) &&
        (!x->only_app || strcmp(d->app, x->only_app) == 0)) {
        json_object_set_new(x->apps, d->app, json_object());
    }
    return 0;
}

typedef struct {
    json_t *vars; /* "app key" -> {a, b} with a value or a digest */
    const char *side;
} vars_t;

static int
s_var_row(const store_var_t *v, void *arg)
{
    vars_t *x = arg;
    char name[STORE_NAME_SIZE + STORE_VAR_KEY_SIZE + 2], hex[65];
    snprintf(name, sizeof name, "%s %s", v->app, v->key);
    json_t *o = json_object_get(x->vars, name);
    if (!o) {
        o = json_object();
        json_object_set_new(x->vars, name, o);
    }
    if (v->secret) {
        /* Compared by digest, never by value. */
        if (v->has_digest) {
            for (size_t i = 0; i < 32; i++) {
                snprintf(hex + 2 * i, 3, "%02x", v->digest[i]);
            }
        }
        json_object_set_new(o, x->side,
                            json_pack("{s:b,s:s}", "secret", 1, "digest",
                                      v->has_digest ? hex : ""));
    } else {
        json_object_set_new(o, x->side,
                            json_pack("{s:b,s:s%}", "secret", 0, "value",
                                      (const char *)v->value, v->value_len));
    }
    return 0;
}

typedef struct {
    call_t *c;
    const char *side;
    json_t *roles;   /* role -> {a: n, b: n} */
    json_t *offline; /* side -> [names] */
} agents_t;

static int
s_agent_row(const store_agent_t *a, void *arg)
{
    agents_t *x = arg;
    if (a->state != STORE_AGENT_ACCEPTED) {
        return 0;
    }
    char role[PIPELINE_TAG_MAX + 1] = "";
    const char *p = strstr(a->tags, "role=");
    if (p && (p == a->tags || p[-1] == ',')) {
        snprintf(role, sizeof role, "%.*s", (int)strcspn(p + 5, ","), p + 5);
    }
    const char *key = role[0] ? role : "(no role)";
    json_t *o = json_object_get(x->roles, key);
    if (!o) {
        o = json_pack("{s:i,s:i}", "a", 0, "b", 0);
        json_object_set_new(x->roles, key, o);
    }
    json_object_set_new(
        o, x->side,
        json_integer(json_integer_value(json_object_get(o, x->side)) + 1));
    if (!hub_online(controller_hub(x->c->ctl), a->name)) {
        json_array_append_new(json_object_get(x->offline, x->side),
                              json_string(a->name));
    }
    return 0;
}

/* Says whether the two sides of O ({a, b}) are equal; prints a line. */
static bool
s_same(const json_t *a, const json_t *b)
{
    return a && b && json_equal((json_t *)a, (json_t *)b);
}

static int
s_diff(call_t *c)
{
    hoist_error_t err = {0};
    const char *a = call_arg(c, 0), *b = call_arg(c, 1);
    const char *app = c->req->n_args > 2 ? call_arg(c, 2) : NULL;
    store_t *st = controller_store(c->ctl);
    apps_t apps = {.a = a, .b = b, .only_app = app, .apps = json_object()};
    vars_t vars = {.vars = json_object()};
    agents_t agents = {.c = c,
                       .roles = json_object(),
                       .offline = json_pack("{s:[],s:[]}", "a", "b")};
    size_t drift = 0;
    const char *key;
    json_t *o;
    json_object_set_new(c->json, "a", json_string(a));
    json_object_set_new(c->json, "b", json_string(b));
    json_object_set_new(c->json, "apps", apps.apps);
    json_object_set_new(c->json, "vars", vars.vars);
    json_object_set_new(c->json, "roles", agents.roles);
    json_object_set_new(c->json, "offline", agents.offline);
    if (c->req->n_args < 2 || c->req->n_args > 3) {
        return call_refuse(c, HOIST_ERR_USAGE,
                           "usage: hoist diff ENV_A ENV_B [APP]");
    }
    /* An unknown name would compare nothing and report no drift. */
    const pipeline_t *p = policy_pipeline(controller_policy(c->ctl));
    const char *unknown = !pipeline_env(p, a)   ? a
                          : !pipeline_env(p, b) ? b
                                                : NULL;
    if (unknown) {
        return call_refuse(c, HOIST_ERR_NOTFOUND,
                           "no environment '%s' in the pipeline (hoist export "
                           "lists them)",
                           unknown);
    }
    if (store_deployment_list(st, app, s_app_row, &apps, &err) != HOIST_OK) {
        return call_fail(c, &err);
    }
    call_say(c, "%-16s %-16s %-16s\n", "APP", a, b);
    json_object_foreach(apps.apps, key, o)
    {
        char va[STORE_VERSION_SIZE], vb[STORE_VERSION_SIZE];
        mirror_live(c->ctl, key, a, va);
        mirror_live(c->ctl, key, b, vb);
        bool same = strcmp(va, vb) == 0;
        drift += !same;
        json_object_set_new(o, "a", json_string(va));
        json_object_set_new(o, "b", json_string(vb));
        json_object_set_new(o, "same", json_boolean(same));
        call_say(c, "%-16s %-16s %-16s%s\n", key, va[0] ? va : "-",
                 vb[0] ? vb : "-", same ? "" : "  differs");
        vars.side = "a";
        if (store_var_list(st, key, a, s_var_row, &vars, &err) != HOIST_OK) {
            return call_fail(c, &err);
        }
        vars.side = "b";
        if (store_var_list(st, key, b, s_var_row, &vars, &err) != HOIST_OK) {
            return call_fail(c, &err);
        }
    }
    json_object_foreach(vars.vars, key, o)
    {
        json_t *x = json_object_get(o, "a"), *y = json_object_get(o, "b");
        bool same = s_same(x, y) &&
                    !(json_is_true(json_object_get(x, "secret")) &&
                      !json_string_length(json_object_get(x, "digest")));
        drift += !same;
        json_object_set_new(o, "same", json_boolean(same));
        if (!same) {
            call_say(c, "variable %s: %s\n", key,
                     !x   ? "only in b"
                     : !y ? "only in a"
                     : json_is_true(json_object_get(x, "secret")) &&
                             !json_string_length(json_object_get(x, "digest"))
                         ? "secret set before digests were kept: set it "
                           "again to compare"
                         : "differs");
        }
    }
    agents.side = "a";
    if (store_agent_list(st, a, s_agent_row, &agents, &err) != HOIST_OK) {
        return call_fail(c, &err);
    }
    agents.side = "b";
    if (store_agent_list(st, b, s_agent_row, &agents, &err) != HOIST_OK) {
        return call_fail(c, &err);
    }
    json_object_foreach(agents.roles, key, o)
    {
        json_int_t na = json_integer_value(json_object_get(o, "a"));
        json_int_t nb = json_integer_value(json_object_get(o, "b"));
        call_say(c, "agents %-12s %lld in %s, %lld in %s%s\n", key,
                 (long long)na, a, (long long)nb, b,
                 na == nb ? "" : "  differs");
        drift += na != nb;
    }
    for (int side = 0; side < 2; side++) {
        json_t *off = json_object_get(agents.offline, side ? "b" : "a");
        size_t i;
        json_t *n;
        json_array_foreach(off, i, n)
        {
            call_say(c, "offline in %s: %s\n", side ? b : a,
                     json_string_value(n));
            drift++;
        }
    }
    json_object_set_new(c->json, "drift", json_integer((json_int_t)drift));
    call_say(c, "%s\n", drift ? "drift found" : "no drift");
    return 0;
}

const call_command_t mirror_commands[] = {
    {"dr.sync", s_dr_sync, 1, RBAC_READ, NULL, "dr sync APP [--to ENV]", false},
    {"diff", s_diff, SIZE_MAX, RBAC_READ, NULL, "diff ENV_A ENV_B [APP]", true},
    {NULL, NULL, 0, RBAC_READ, NULL, NULL, false},
};
