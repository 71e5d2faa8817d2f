/*
 * deployments: see deployments.h.
 */
#include "deployments.h"

#include <czmq.h>
#include <stdlib.h>
#include <string.h>

#include "hub.h"
#include "rollout.h"
#include "log.h"
#include "manifest.h"
#include "planner.h"

typedef struct {
    zlistx_t *names;
    const char *selector;
} pick_t;

static int
s_accepted_agent(const store_agent_t *a, void *arg)
{
    pick_t *p = arg;
    if (a->state == STORE_AGENT_ACCEPTED &&
        planner_select(a->tags, p->selector)) {
        zlistx_add_end(p->names, (void *)a->name);
    }
    return 0;
}

typedef struct {
    const char *app, *env;
    int64_t id;
} running_t;

static int
s_running(const store_deployment_t *d, void *arg)
{
    running_t *r = arg;
    if (strcmp(d->app, r->app) == 0 && strcmp(d->env, r->env) == 0) {
        r->id = d->id;
        return 1;
    }
    return 0;
}

hoist_err_t
deployments_running(controller_t *ctl, const char *app, const char *env,
                    int64_t *id, hoist_error_t *err)
{
    running_t r = {.app = app, .env = env};
    hoist_err_t rc = store_deployment_list_running(controller_store(ctl),
                                                   s_running, &r, err);
    if (rc == HOIST_OK) {
        *id = r.id;
    }
    return rc;
}

/* Records D with a task per agent of AGENTS, all in one transaction. */
static hoist_err_t
s_record(store_t *st, store_deployment_t *d, zlistx_t *agents,
         hoist_error_t *err)
{
    hoist_err_t rc = store_begin(st, err);
    if (rc != HOIST_OK) {
        return rc;
    }
    rc = store_deployment_create(st, d, &d->id, err);
    store_task_t *t = calloc(1, sizeof *t);
    if (!t && rc == HOIST_OK) {
        rc = error_set(err, HOIST_ERR_NOMEM, "out of memory");
    }
    for (char *n = zlistx_first(agents); rc == HOIST_OK && n;
         n = zlistx_next(agents)) {
        t->deployment_id = d->id;
        t->updated_at = d->created_at;
        snprintf(t->agent, sizeof t->agent, "%s", n);
        rc = store_task_create(st, t, err);
    }
    free(t);
    rc = rc == HOIST_OK ? store_commit(st, err) : rc;
    if (rc != HOIST_OK) {
        store_rollback(st, NULL);
    }
    return rc;
}

hoist_err_t
deployments_start(controller_t *ctl, const char *user, const char *app,
                  const char *version, const char *env,
                  store_deploy_kind_t kind, const deployments_how_t *how,
                  int64_t *id, hoist_error_t *err)
{
    const char *strategy = how && how->strategy ? how->strategy : "";
    const char *selector = how && how->selector ? how->selector : "";
    strategy_t shape;
    store_t *st = controller_store(ctl);
    store_deployment_t d = {.kind = kind,
                            .state = STORE_DEPLOY_RUNNING,
                            .created_at = controller_now()};
    int64_t busy = 0;
    if (!env || !manifest_name_valid(env)) {
        return error_set(err, HOIST_ERR_USAGE,
                         "which environment? (--env ENV)");
    }
    hoist_err_t rc = deployments_running(ctl, app, env, &busy, err);
    if (rc != HOIST_OK) {
        return rc;
    }
    if (rc == HOIST_OK && strategy[0]) {
        rc = rollout_strategy(ctl, env, strategy, &shape, err);
    }
    if (rc == HOIST_OK && selector[0]) {
        rc = planner_selector_check(selector, err);
    }
    if (rc != HOIST_OK) {
        return rc;
    }
    if (strlen(strategy) >= sizeof d.strategy ||
        strlen(selector) >= sizeof d.selector) {
        return error_set(err, HOIST_ERR_LIMIT,
                         "the strategy or the selector is too long");
    }
    if (busy) {
        return error_set(err, HOIST_ERR_BUSY,
                         "deployment %lld of %s to %s is still running: "
                         "wait for it (hoist deployment show %lld)",
                         (long long)busy, app, env, (long long)busy);
    }
    snprintf(d.app, sizeof d.app, "%s", app);
    snprintf(d.version, sizeof d.version, "%s", version);
    snprintf(d.env, sizeof d.env, "%s", env);
    snprintf(d.created_by, sizeof d.created_by, "%s", user);
    snprintf(d.strategy, sizeof d.strategy, "%s", strategy);
    snprintf(d.selector, sizeof d.selector, "%s", selector);
    d.started_ms = zclock_time();
    zlistx_t *agents = zlistx_new();
    zlistx_set_duplicator(agents, (zlistx_duplicator_fn *)strdup);
    zlistx_set_destructor(agents, (zlistx_destructor_fn *)zstr_free);
    pick_t pick = {.names = agents, .selector = selector};
    rc = store_agent_list(st, env, s_accepted_agent, &pick, err);
    if (rc == HOIST_OK && zlistx_size(agents) == 0) {
        rc = error_set(err, HOIST_ERR_NOTFOUND,
                       "environment %s has no accepted agents%s%s (see "
                       "`hoist agents`)",
                       env, selector[0] ? " with " : "", selector);
    }
    if (rc == HOIST_OK) {
        rc = s_record(st, &d, agents, err);
    }
    zlistx_destroy(&agents);
    if (rc == HOIST_OK) {
        /* Recorded: it exists and runs whatever happens to its first
         * step; the controller's timer steps it again. */
        hoist_error_t e = {0};
        if (rollout_step(ctl, d.id, zclock_time(), &e) != HOIST_OK) {
            log_warn("deployment %lld: %s", (long long)d.id, e.msg);
        }
    }
    if (rc == HOIST_OK) {
        log_info("deployment %lld: %s %s %s to %s by %s", (long long)d.id,
                 store_deploy_kind_name(kind), app, version, env, user);
        *id = d.id;
    }
    return rc;
}
