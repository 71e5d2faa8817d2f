/*
 * policy: see policy.h.
 */
#include "policy.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"

struct policy {
    pipeline_t *pipeline;
};

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
    }
    return p;
}

void
policy_destroy(policy_t **p)
{
    if (p && *p) {
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
        pipeline_destroy(&pol->pipeline);
        pol->pipeline = next;
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
