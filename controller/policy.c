/*
 * policy: see policy.h.
 */
#include "policy.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "notify.h"

/* The notifier of an environment with notify targets of its own (they
 * get its events besides the pipeline's top-level targets). */
typedef struct {
    char env[PIPELINE_NAME_MAX + 1];
    notify_t *n;
} herald_t;

struct policy {
    pipeline_t *pipeline;
    notify_t *all; /* the top-level targets: every event */
    herald_t heralds[PIPELINE_MAX_ENVS];
    size_t nheralds;
};

static void
s_heralds_stop(policy_t *p)
{
    notify_destroy(&p->all);
    for (size_t i = 0; i < p->nheralds; i++) {
        notify_destroy(&p->heralds[i].n);
    }
    p->nheralds = 0;
}

/* A notifier for the top-level targets plus those of E (NULL: none). */
static notify_t *
s_notifier(const pipeline_t *pl, const pipeline_env_t *e)
{
    const char *cmds[2 * PIPELINE_MAX_NOTIFY];
    size_t n = 0;
    hoist_error_t err = {0};
    for (size_t i = 0; i < pl->nnotify; i++) {
        cmds[n++] = pl->notify[i].command;
    }
    for (size_t i = 0; e && i < e->nnotify; i++) {
        cmds[n++] = e->notify[i].command;
    }
    if (n > NOTIFY_MAX_COMMANDS) {
        log_warn("notify%s%s: %zu targets, only the first %d get events",
                 e ? " of " : "", e ? e->name : "", n, NOTIFY_MAX_COMMANDS);
        n = NOTIFY_MAX_COMMANDS;
    }
    notify_config_t cfg = {.commands = cmds, .n_commands = n};
    notify_t *out = n ? notify_new(&cfg, &err) : NULL;
    if (n && !out) {
        log_warn("notify: %s", err.msg);
    }
    return out;
}

/* Starts the notifiers of P's pipeline (the old ones must be stopped). */
static void
s_heralds_start(policy_t *p)
{
    const pipeline_t *pl = p->pipeline;
    p->all = s_notifier(pl, NULL);
    for (size_t i = 0; i < pl->nenvs; i++) {
        if (pl->envs[i].nnotify) {
            herald_t *h = &p->heralds[p->nheralds++];
            snprintf(h->env, sizeof h->env, "%s", pl->envs[i].name);
            h->n = s_notifier(pl, &pl->envs[i]);
        }
    }
}

void
policy_notify(policy_t *p, const char *event, const char *env, json_t *fields)
{
    notify_t *n = p->all;
    hoist_error_t err = {0};
    for (size_t i = 0; env && i < p->nheralds; i++) {
        if (strcmp(p->heralds[i].env, env) == 0) {
            n = p->heralds[i].n;
        }
    }
    json_object_set_new(fields, "event", json_string(event));
    json_object_set_new(fields, "time", json_integer(zclock_time()));
    if (env) {
        json_object_set_new(fields, "env", json_string(env));
    }
    char *text = n ? json_dumps(fields, JSON_COMPACT) : NULL;
    if (text && notify_send(n, text, &err) != HOIST_OK) {
        log_warn("notify %s: %s", event, err.msg);
    }
    free(text);
    json_decref(fields);
}

const char policy_default_text[] = "lifecycles:\n"
                                   "  default: [dev, qa, staging, production]\n"
                                   "environments:\n"
                                   "  dev: {}\n"
                                   "  qa: {}\n"
                                   "  staging: {}\n"
                                   "  production: {}\n"
                                   "  dr:\n"
                                   "    mirror: production\n";

policy_t *
policy_new(store_t *st, hoist_error_t *err)
{
    char *text = NULL;
    hoist_error_t e = {0};
    policy_t *p = calloc(1, sizeof *p);
    if (!p) {
        error_set(err, HOIST_ERR_NOMEM, "out of memory");
        return NULL;
    }
    hoist_err_t rc = store_pipeline_get(st, &text, &e);
    if (rc == STORE_ERR_NOTFOUND) {
        p->pipeline =
            pipeline_load(policy_default_text, strlen(policy_default_text),
                          "default pipeline", err);
    } else if (rc == HOIST_OK) {
        p->pipeline = pipeline_load(text, strlen(text), "stored pipeline", &e);
        if (!p->pipeline) {
            error_set(err, HOIST_ERR_STATE,
                      "the stored pipeline does not load: %s", e.msg);
        }
    } else if (err) {
        *err = e;
    }
    free(text);
    if (!p->pipeline) {
        policy_destroy(&p);
    } else {
        s_heralds_start(p);
    }
    return p;
}

void
policy_destroy(policy_t **p)
{
    if (p && *p) {
        s_heralds_stop(*p);
        pipeline_destroy(&(*p)->pipeline);
        free(*p);
        *p = NULL;
    }
}

const pipeline_t *
policy_pipeline(const policy_t *p)
{
    return p->pipeline;
}

static int
s_apply(call_t *c)
{
    hoist_error_t err = {0};
    policy_t *pol = controller_policy(c->ctl);
    const char *name = call_opt(c, "name");
    char *text = NULL;
    size_t len = 0;
    if (c->req->data.len > PIPELINE_MAX_BYTES) {
        return call_refuse(c, HOIST_ERR_LIMIT,
                           "the pipeline file is over %d bytes",
                           PIPELINE_MAX_BYTES);
    }
    pipeline_t *next =
        pipeline_load((const char *)c->req->data.data, c->req->data.len,
                      name && name[0] ? name : "pipeline", &err);
    if (!next) {
        return call_fail(c, &err);
    }
    bool changed = !pipeline_equal(next, pol->pipeline);
    if (pipeline_export(next, &text, &len, &err) != HOIST_OK ||
        (changed &&
         store_pipeline_set(controller_store(c->ctl), text, c->user.name,
                            controller_now(), &err) != HOIST_OK)) {
        free(text);
        pipeline_destroy(&next);
        return call_fail(c, &err);
    }
    free(text);
    if (changed) {
        s_heralds_stop(pol);
        pipeline_destroy(&pol->pipeline);
        pol->pipeline = next;
        s_heralds_start(pol);
        log_info("pipeline applied by %s", c->user.name);
    } else {
        pipeline_destroy(&next);
    }
    const pipeline_t *p = pol->pipeline;
    call_say(c, "%s: %zu environments, %zu lifecycles\n",
             changed ? "pipeline applied" : "no change", p->nenvs,
             p->nlifecycles);
    json_object_set_new(c->json, "changed", json_boolean(changed));
    json_object_set_new(c->json, "environments", json_integer(p->nenvs));
    json_object_set_new(c->json, "lifecycles", json_integer(p->nlifecycles));
    return 0;
}

static int
s_export(call_t *c)
{
    hoist_error_t err = {0};
    char *text = NULL;
    size_t len = 0;
    if (pipeline_export(policy_pipeline(controller_policy(c->ctl)), &text, &len,
                        &err) != HOIST_OK) {
        return call_fail(c, &err);
    }
    call_say(c, "%s", text);
    json_object_set_new(c->json, "pipeline", json_string(text));
    free(text);
    return 0;
}

const call_command_t policy_commands[] = {
    {"pipeline.apply", s_apply, 0, RBAC_PIPELINE_APPLY, NULL, "apply FILE",
     false},
    {"pipeline.export", s_export, 0, RBAC_READ, NULL, "export", true},
    {NULL, NULL, 0, RBAC_READ, NULL, NULL, false},
};
