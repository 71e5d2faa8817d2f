/*
 * rollout: see rollout.h.
 *
 * Store task states as the planner sees them:
 *
 *   pending                      WAITING
 *   sent, running, unknown       RUNNING (an agent that never reports is
 *                                failed at its progress deadline)
 *   succeeded                    SUCCEEDED
 *   failed, rolled_back,         FAILED (its deploy failed; a rolled_back
 *   rejected                     agent put itself back, a rejected one
 *                                changed nothing)
 *   skipped                      SKIPPED
 *   reverting, reverted,         ROLLING_BACK, ROLLED_BACK,
 *   revert_failed                ROLLBACK_FAILED
 */
#include "rollout.h"

#include <stdlib.h>
#include <string.h>

#include "hub.h"
#include "ledger.h"
#include "log.h"
#include "mirror.h"
#include "planner.h"
#include "policy.h"

/* What the planner needs of a task, without its 64 KiB of message. */
typedef struct {
    char agent[STORE_NAME_SIZE];
    char site[PIPELINE_TAG_MAX + 1];
    store_task_state_t state;
    int64_t started_ms, progress_ms, finished_ms;
} slim_t;

typedef struct {
    slim_t *rows;
    size_t n, cap;
    bool nomem;
} slims_t;

static int
s_slim_row(const store_task_t *t, void *arg)
{
    slims_t *v = arg;
    if (v->n == v->cap) {
        size_t cap = v->cap ? 2 * v->cap : 16;
        slim_t *rows = realloc(v->rows, cap * sizeof *rows);
        if (!rows) {
            v->nomem = true;
            return 1;
        }
        v->rows = rows;
        v->cap = cap;
    }
    slim_t *s = &v->rows[v->n++];
    memset(s, 0, sizeof *s);
    snprintf(s->agent, sizeof s->agent, "%s", t->agent);
    s->state = t->state;
    s->started_ms = t->started_ms;
    s->progress_ms = t->progress_ms;
    s->finished_ms = t->finished_ms;
    return 0;
}

static planner_state_t
s_planner_state(store_task_state_t s)
{
    switch (s) {
    case STORE_TASK_PENDING:
        return PLANNER_WAITING;
    case STORE_TASK_SENT:
    case STORE_TASK_RUNNING:
    case STORE_TASK_UNKNOWN:
        return PLANNER_RUNNING;
    case STORE_TASK_SUCCEEDED:
        return PLANNER_SUCCEEDED;
    case STORE_TASK_SKIPPED:
        return PLANNER_SKIPPED;
    case STORE_TASK_REVERTING:
        return PLANNER_ROLLING_BACK;
    case STORE_TASK_REVERTED:
        return PLANNER_ROLLED_BACK;
    case STORE_TASK_REVERT_FAILED:
        return PLANNER_ROLLBACK_FAILED;
    default:
        return PLANNER_FAILED;
    }
}

/* The value of tag KEY in "k=v,k=v" TAGS into OUT ("" when absent). */
static void
s_tag(const char *tags, const char *key, char *out, size_t len)
{
    size_t klen = strlen(key);
    out[0] = '\0';
    for (const char *p = tags; p && *p;) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n > klen && strncmp(p, key, klen) == 0 && p[klen] == '=') {
            snprintf(out, len, "%.*s", (int)(n - klen - 1), p + klen + 1);
            return;
        }
        p = end ? end + 1 : NULL;
    }
}

hoist_err_t
rollout_strategy(controller_t *ctl, const char *env, const char *override,
                 strategy_t *out, hoist_error_t *err)
{
    const pipeline_env_t *e =
        pipeline_env(policy_pipeline(controller_policy(ctl)), env);
    strategy_t s;
    if (e) {
        s = e->rollout;
    } else {
        strategy_default(&s, env);
    }
    if (override && override[0] &&
        strategy_parse(override, &s, err) != HOIST_OK) {
        return err ? err->code : HOIST_ERR_USAGE;
    }
    *out = s;
    return HOIST_OK;
}

/* --- applying one action ------------------------------------------------- */

typedef struct {
    store_t *st;
    int64_t exclude; /* the deployment being started */
    const char *agent;
    store_task_t *task; /* scratch */
    char live[STORE_VERSION_SIZE];
} live_t;

static int
s_live_row(const store_deployment_t *d, void *arg)
{
    live_t *l = arg;
    if (d->id == l->exclude ||
        store_task_get(l->st, d->id, l->agent, l->task, NULL) != HOIST_OK ||
        !l->task->live_version[0]) {
        return 0;
    }
    snprintf(l->live, sizeof l->live, "%s", l->task->live_version);
    return 1; /* newest first: the last word on what it runs */
}

/* The version AGENT runs of deployment D's app before D: what its most
 * recent other task of that app reported live ("" when none). That is
 * where a rollout puts it back. */
static void
s_live_before(store_t *st, const store_deployment_t *d, const char *agent,
              char *out, size_t len)
{
    live_t l = {.st = st, .exclude = d->id, .agent = agent};
    l.task = malloc(sizeof *l.task);
    if (l.task) {
        store_deployment_list(st, d->app, s_live_row, &l, NULL);
    }
    free(l.task);
    snprintf(out, len, "%s", l.live);
}

static void
s_apply(controller_t *ctl, const store_deployment_t *d, const slim_t *row,
        const planner_action_t *a, int64_t now_ms)
{
    store_t *st = controller_store(ctl);
    hoist_error_t err = {0};
    store_task_t *t = malloc(sizeof *t);
    bool order = false;
    if (!t || store_task_get(st, d->id, row->agent, t, &err) != HOIST_OK) {
        log_warn("deployment %lld: %s", (long long)d->id,
                 t ? err.msg : "out of memory");
        free(t);
        return;
    }
    t->updated_at = now_ms / 1000;
    switch (a->what) {
    case PLANNER_DO_START:
        s_live_before(st, d, row->agent, t->previous, sizeof t->previous);
        t->state = STORE_TASK_SENT;
        t->started_ms = t->progress_ms = now_ms;
        snprintf(t->step, sizeof t->step, "sent");
        order = true;
        break;
    case PLANNER_DO_ROLLBACK:
        if (!t->previous[0]) {
            t->state = STORE_TASK_REVERT_FAILED;
            t->finished_ms = now_ms;
            snprintf(t->step, sizeof t->step, "rollback");
            static const char none[] = "nothing to put back: the agent ran "
                                       "no release of this app before";
            store_task_set_message(t, none, strlen(none));
            break;
        }
        t->state = STORE_TASK_REVERTING;
        t->started_ms = t->progress_ms = now_ms;
        snprintf(t->step, sizeof t->step, "rollback");
        store_task_set_message(t, a->reason, strlen(a->reason));
        order = true;
        break;
    case PLANNER_DO_FAIL:
    case PLANNER_DO_SKIP:
    case PLANNER_DO_GIVE_UP:
        t->state = a->what == PLANNER_DO_FAIL   ? STORE_TASK_FAILED
                   : a->what == PLANNER_DO_SKIP ? STORE_TASK_SKIPPED
                                                : STORE_TASK_REVERT_FAILED;
        t->finished_ms = now_ms;
        store_task_set_message(t, a->reason, strlen(a->reason));
        break;
    }
    /* Recorded before it is acted on. */
    if (store_task_update(st, t, &err) != HOIST_OK) {
        log_warn("deployment %lld: agent %s: %s", (long long)d->id, t->agent,
                 err.msg);
    } else if (order &&
               hub_order(controller_hub(ctl), d->id, t->agent, &err) !=
                   HOIST_OK &&
               err.code != HOIST_ERR_NOTFOUND) {
        log_warn("deployment %lld: agent %s: %s", (long long)d->id, t->agent,
                 err.msg);
    }
    if (a->what != PLANNER_DO_START) {
        log_info("deployment %lld: agent %s %s%s%s", (long long)d->id, t->agent,
                 store_task_state_name(t->state), a->reason[0] ? ": " : "",
                 a->reason);
    }
    free(t);
}

/* --- one step --------------------------------------------------------------
 */

static store_deploy_state_t
s_end_state(planner_end_t end, const slims_t *v)
{
    size_t live = 0, broken = 0, back = 0;
    for (size_t i = 0; i < v->n; i++) {
        store_task_state_t s = v->rows[i].state;
        live += s == STORE_TASK_SUCCEEDED;
        broken += s == STORE_TASK_FAILED || s == STORE_TASK_REVERT_FAILED ||
                  s == STORE_TASK_UNKNOWN;
        back += s == STORE_TASK_ROLLED_BACK || s == STORE_TASK_REVERTED;
    }
    switch (end) {
    case PLANNER_END_SUCCEEDED:
        return STORE_DEPLOY_SUCCEEDED;
    case PLANNER_END_CANCELLED:
        return STORE_DEPLOY_CANCELLED;
    case PLANNER_END_ROLLED_BACK:
        return STORE_DEPLOY_ROLLED_BACK;
    default:
        /* Failed, yet nothing runs the release and every agent that took
         * it is back where it was (agents that failed their health check
         * roll themselves back): the deployment was rolled back. */
        return live == 0 && broken == 0 && back > 0 ? STORE_DEPLOY_ROLLED_BACK
                                                    : STORE_DEPLOY_FAILED;
    }
}

/* Reads the tasks of D and the standing of their agents into V and AGENTS
 * (room for V->n, the caller's). */
static hoist_err_t
s_inputs(controller_t *ctl, const store_deployment_t *d, slims_t *v,
         planner_agent_t **agents, hoist_error_t *err)
{
    store_t *st = controller_store(ctl);
    hoist_err_t rc = store_task_list(st, d->id, s_slim_row, v, err);
    if (rc == HOIST_OK && v->nomem) {
        rc = error_set(err, HOIST_ERR_NOMEM, "out of memory");
    }
    *agents = rc == HOIST_OK ? calloc(v->n ? v->n : 1, sizeof **agents) : NULL;
    if (rc == HOIST_OK && !*agents) {
        rc = error_set(err, HOIST_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; rc == HOIST_OK && i < v->n; i++) {
        slim_t *row = &v->rows[i];
        store_agent_t a;
        bool known = store_agent_get(st, row->agent, &a, NULL) == HOIST_OK;
        bool online = known && a.state == STORE_AGENT_ACCEPTED &&
                      hub_online(controller_hub(ctl), row->agent);
        if (known) {
            s_tag(a.tags, "site", row->site, sizeof row->site);
        }
        (*agents)[i] = (planner_agent_t){
            .name = row->agent,
            .site = row->site,
            .online = online,
            .offline_since_ms = known ? (uint64_t)a.last_seen * 1000 : 0,
            .state = s_planner_state(row->state),
            .started_ms = (uint64_t)row->started_ms,
            .last_progress_ms = (uint64_t)row->progress_ms,
            .finished_ms = (uint64_t)row->finished_ms,
        };
    }
    return rc;
}

/* Records the end of D in STATE and tells the world. */
static void
s_end(controller_t *ctl, store_deployment_t *d, store_deploy_state_t state,
      const planner_decision_t *dec)
{
    hoist_error_t err = {0};
    if (store_deployment_set_state(controller_store(ctl), d->id, state,
                                   controller_now(), &err) != HOIST_OK) {
        log_warn("deployment %lld: %s", (long long)d->id, err.msg);
        return;
    }
    if (state == STORE_DEPLOY_SUCCEEDED && d->kind == STORE_KIND_DEPLOY) {
        mirror_on_success(ctl, d);
    }
    log_info("deployment %lld %s (%zu succeeded, %zu failed, %zu rolled "
             "back, %zu skipped)",
             (long long)d->id, store_deploy_state_name(state), dec->succeeded,
             dec->failed, dec->rolled_back, dec->skipped);
    char event[64];
    snprintf(event, sizeof event, "deployment.%s",
             store_deploy_state_name(state));
    policy_notify(controller_policy(ctl), event, d->env,
                  json_pack("{s:I,s:s,s:s,s:s,s:s}", "deployment",
                            (json_int_t)d->id, "app", d->app, "version",
                            d->version, "by", d->created_by, "reason",
                            d->halt_reason));
}

hoist_err_t
rollout_step(controller_t *ctl, int64_t id, int64_t now_ms, hoist_error_t *err)
{
    store_t *st = controller_store(ctl);
    store_deployment_t d;
    strategy_t s;
    slims_t v = {0};
    planner_agent_t *agents = NULL;
    planner_action_t *actions = NULL;
    planner_decision_t dec;
    hoist_err_t rc = store_deployment_get(st, id, &d, err);
    if (rc != HOIST_OK || d.state != STORE_DEPLOY_RUNNING) {
        return rc;
    }
    if ((rc = rollout_strategy(ctl, d.env, d.strategy, &s, err)) != HOIST_OK ||
        (rc = s_inputs(ctl, &d, &v, &agents, err)) != HOIST_OK) {
        goto out;
    }
    actions = calloc(v.n ? v.n : 1, sizeof *actions);
    planner_rollout_t r = {.started_ms = (uint64_t)d.started_ms,
                           .halted = d.halted,
                           .continued = d.continued_ms != 0,
                           .continued_ms = (uint64_t)d.continued_ms,
                           .cancelled = d.cancelled,
                           .cancel_with_rollback = d.cancel_rollback};
    if (!actions) {
        rc = error_set(err, HOIST_ERR_NOMEM, "out of memory");
        goto out;
    }
    rc = planner_decide(&s, agents, v.n, &r, (uint64_t)now_ms, actions, &dec,
                        err);
    if (rc != HOIST_OK) {
        goto out;
    }
    if (dec.halt_now) {
        /* Recorded first: a restart must not start what the halt stops. */
        d.halted = true;
        snprintf(d.halt_reason, sizeof d.halt_reason, "%s", dec.reason);
        if ((rc = store_deployment_set_flags(st, &d, err)) != HOIST_OK) {
            goto out;
        }
        log_warn("deployment %lld halted: %s", (long long)id, dec.reason);
        ledger_note(ctl, "deployment.halt", d.app, dec.reason, 1);
    }
    for (size_t i = 0; i < dec.nactions; i++) {
        s_apply(ctl, &d, &v.rows[actions[i].agent], &actions[i], now_ms);
    }
    if (dec.end != PLANNER_END_NONE) {
        /* The task states changed with the actions: read them again. */
        v.n = 0;
        if (store_task_list(st, id, s_slim_row, &v, NULL) == HOIST_OK &&
            !v.nomem) {
            s_end(ctl, &d, s_end_state(dec.end, &v), &dec);
        }
    }
out:
    free(v.rows);
    free(agents);
    free(actions);
    return rc;
}

static int
s_running_id(const store_deployment_t *d, void *arg)
{
    zlistx_add_end(arg, (void *)(intptr_t)d->id);
    return 0;
}

void
rollout_tick(controller_t *ctl, int64_t now_ms)
{
    hoist_error_t err = {0};
    zlistx_t *ids = zlistx_new();
    /* Ids first: stepping writes the tables being listed. */
    if (store_deployment_list_running(controller_store(ctl), s_running_id, ids,
                                      &err) != HOIST_OK) {
        log_warn("rollouts: %s", err.msg);
    }
    for (void *p = zlistx_first(ids); p; p = zlistx_next(ids)) {
        if (rollout_step(ctl, (int64_t)(intptr_t)p, now_ms, &err) != HOIST_OK) {
            log_warn("deployment %lld: %s", (long long)(intptr_t)p, err.msg);
        }
    }
    zlistx_destroy(&ids);
}

/* --- deployment cancel | continue ---------------------------------------- */

/* Reads the running deployment named by C's argument and checks that the
 * caller may perform ACTION in its environment. */
static bool
s_running_for(call_t *c, rbac_action_t action, store_deployment_t *d)
{
    hoist_error_t err = {0};
    char *end = NULL;
    long long id = strtoll(call_arg(c, 0), &end, 10);
    if (!call_arg(c, 0)[0] || *end || id <= 0) {
        call_refuse(c, HOIST_ERR_USAGE, "a deployment id is a number");
        return false;
    }
    if (store_deployment_get(controller_store(c->ctl), id, d, &err) !=
        HOIST_OK) {
        call_fail(c, &err);
        return false;
    }
    if (!call_allowed(c, action, d->env)) {
        return false;
    }
    if (d->state != STORE_DEPLOY_RUNNING) {
        call_refuse(c, HOIST_ERR_STATE, "deployment %lld has ended (%s)", id,
                    store_deploy_state_name(d->state));
        return false;
    }
    return true;
}

/* Stores D's flags, steps it at once and says so. */
static int
s_flag_and_step(call_t *c, store_deployment_t *d, const char *what)
{
    hoist_error_t err = {0};
    if (store_deployment_set_flags(controller_store(c->ctl), d, &err) !=
            HOIST_OK ||
        rollout_step(c->ctl, d->id, zclock_time(), &err) != HOIST_OK) {
        return call_fail(c, &err);
    }
    call_say(c, "deployment %lld: %s\n", (long long)d->id, what);
    json_object_set_new(c->json, "deployment", json_integer(d->id));
    return 0;
}

static int
s_cancel(call_t *c)
{
    store_deployment_t d;
    if (!s_running_for(c, RBAC_DEPLOYMENT_CANCEL, &d)) {
        return c->exit;
    }
    d.cancelled = true;
    d.cancel_rollback = call_flag(c, "rollback");
    return s_flag_and_step(c, &d,
                           d.cancel_rollback
                               ? "cancelled; agents that took it go back"
                               : "cancelled; no agent starts from now on");
}

static int
s_continue(call_t *c)
{
    store_deployment_t d;
    if (!s_running_for(c, RBAC_DEPLOYMENT_CONTINUE, &d)) {
        return c->exit;
    }
    if (!d.continued_ms) {
        d.continued_ms = zclock_time();
    }
    return s_flag_and_step(c, &d, "continues past its canary");
}

const call_command_t rollout_commands[] = {
    {"deployment.cancel", s_cancel, 1, RBAC_READ, NULL,
     "deployment cancel ID [--rollback]", false},
    {"deployment.continue", s_continue, 1, RBAC_READ, NULL,
     "deployment continue ID", false},
    {NULL, NULL, 0, RBAC_READ, NULL, NULL, false},
};

/* --- describing a rollout --------------------------------------------------
 */

hoist_err_t
rollout_describe(controller_t *ctl, const store_deployment_t *d, json_t *json,
                 hoist_error_t *err)
{
    strategy_t s;
    slims_t v = {0};
    planner_agent_t *agents = NULL;
    planner_slot_t *slots = NULL;
    planner_action_t *actions = NULL;
    planner_decision_t dec = {0};
    size_t nbatches = 0;
    char text[256];
    hoist_err_t rc = rollout_strategy(ctl, d->env, d->strategy, &s, err);
    if (rc == HOIST_OK) {
        rc = s_inputs(ctl, d, &v, &agents, err);
    }
    slots = rc == HOIST_OK ? calloc(v.n ? v.n : 1, sizeof *slots) : NULL;
    actions = rc == HOIST_OK ? calloc(v.n ? v.n : 1, sizeof *actions) : NULL;
    if (rc == HOIST_OK && (!slots || !actions)) {
        rc = error_set(err, HOIST_ERR_NOMEM, "out of memory");
    }
    planner_rollout_t r = {.started_ms = (uint64_t)d->started_ms,
                           .halted = d->halted,
                           .continued = d->continued_ms != 0,
                           .continued_ms = (uint64_t)d->continued_ms,
                           .cancelled = d->cancelled,
                           .cancel_with_rollback = d->cancel_rollback};
    /* A dry run: what the planner would say now, nothing applied. */
    if (rc == HOIST_OK) {
        rc = planner_plan(&s, agents, v.n, slots, &nbatches, err);
    }
    if (rc == HOIST_OK) {
        rc = planner_decide(&s, agents, v.n, &r, (uint64_t)zclock_time(),
                            actions, &dec, err);
    }
    if (rc == HOIST_OK) {
        json_t *plan = json_object();
        for (size_t i = 0; i < v.n; i++) {
            json_object_set_new(plan, v.rows[i].agent,
                                json_pack("{s:I,s:b}", "batch",
                                          (json_int_t)slots[i].batch, "canary",
                                          slots[i].canary));
        }
        json_object_set_new(json, "plan", plan);
        json_object_set_new(
            json, "strategy",
            json_string(strategy_format(&s, text, sizeof text)));
        json_object_set_new(json, "selector", json_string(d->selector));
        json_object_set_new(json, "halted", json_boolean(d->halted));
        json_object_set_new(json, "halt_reason", json_string(d->halt_reason));
        json_object_set_new(json, "waiting_continue",
                            json_boolean(d->state == STORE_DEPLOY_RUNNING &&
                                         dec.waiting_continue));
        json_object_set_new(json, "batch", json_integer((json_int_t)dec.batch));
        json_object_set_new(json, "nbatches",
                            json_integer((json_int_t)nbatches));
    }
    free(v.rows);
    free(agents);
    free(slots);
    free(actions);
    return rc;
}
