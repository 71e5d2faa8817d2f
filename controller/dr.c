/*
 * dr: see dr.h.
 */
#include "dr.h"

#include <stdlib.h>
#include <string.h>

#include "calendar.h"
#include "deployments.h"
#include "duration.h"
#include "hub.h"
#include "ledger.h"
#include "log.h"
#include "mirror.h"
#include "policy.h"

#define HOOK_DEADLINE_MS (10 * 60 * 1000) /* no answer to a hook order */
#define EVERY_MIN_MS     (60 * 1000)

/* --- small helpers ----------------------------------------------------------
 */

static void
s_save(controller_t *ctl, const store_drill_t *d)
{
    hoist_error_t err = {0};
    if (store_drill_update(controller_store(ctl), d, &err) != HOIST_OK) {
        log_warn("drill %lld: %s", (long long)d->id, err.msg);
    }
}

/* Adds a step NAME on AGENT ("" for the drill) in STATE with MESSAGE. */
static void
s_step(controller_t *ctl, const store_drill_t *d, const char *name,
       const char *agent, const char *state, const char *message,
       int64_t now_ms)
{
    hoist_error_t err = {0};
    store_drill_step_t t = {.drill_id = d->id, .started_ms = now_ms};
    int64_t seq = 0;
    snprintf(t.name, sizeof t.name, "%s", name);
    snprintf(t.agent, sizeof t.agent, "%s", agent);
    snprintf(t.state, sizeof t.state, "%s", state);
    snprintf(t.message, sizeof t.message, "%s", message ? message : "");
    if (strcmp(state, "running") != 0) {
        t.finished_ms = now_ms;
    }
    if (store_drill_step_add(controller_store(ctl), &t, &seq, &err) !=
        HOIST_OK) {
        log_warn("drill %lld: %s", (long long)d->id, err.msg);
    }
}

typedef struct {
    const char *agent, *name;
    store_drill_step_t step;
    bool found;
} find_t;

static int
s_find_row(const store_drill_step_t *t, void *arg)
{
    find_t *f = arg;
    if (strcmp(t->agent, f->agent) == 0 && strcmp(t->name, f->name) == 0 &&
        strcmp(t->state, "running") == 0) {
        f->step = *t;
        f->found = true;
        return 1;
    }
    return 0;
}

/* Ends the running step NAME of AGENT in STATE with MESSAGE (or adds it,
 * ended, when none runs). */
static void
s_step_end(controller_t *ctl, const store_drill_t *d, const char *name,
           const char *agent, const char *state, const char *message,
           int64_t now_ms)
{
    find_t f = {.agent = agent, .name = name};
    store_drill_step_list(controller_store(ctl), d->id, s_find_row, &f, NULL);
    if (!f.found) {
        s_step(ctl, d, name, agent, state, message, now_ms);
        return;
    }
    snprintf(f.step.state, sizeof f.step.state, "%s", state);
    snprintf(f.step.message, sizeof f.step.message, "%s", message);
    f.step.finished_ms = now_ms;
    store_drill_step_update(controller_store(ctl), &f.step, NULL);
}

/* Ends D in STATE with REASON, records and announces it. */
static void
s_end(controller_t *ctl, store_drill_t *d, store_drill_state_t state,
      const char *reason, int64_t now_ms)
{
    char target[STORE_TARGET_SIZE], recovery[64] = "";
    d->state = state;
    d->finished_ms = now_ms;
    snprintf(d->reason, sizeof d->reason, "%s", reason ? reason : "");
    s_save(ctl, d);
    if (d->healthy_ms) {
        snprintf(recovery, sizeof recovery, "; recovery %lld ms",
                 (long long)(d->healthy_ms - d->started_ms));
    }
    snprintf(target, sizeof target, "%s %lld: %s %s -> %s",
             d->failover ? "failover" : "drill", (long long)d->id, d->app,
             d->from, d->to);
    log_info("%s %s%s%s%s", target, store_drill_state_name(state), recovery,
             d->reason[0] ? ": " : "", d->reason);
    ledger_note(ctl, d->failover ? "failover.end" : "drill.end", target,
                state == STORE_DRILL_SUCCEEDED ? "ok" : d->reason,
                state == STORE_DRILL_SUCCEEDED ? 0 : 1);
    char event[64];
    snprintf(event, sizeof event, "%s.%s", d->failover ? "failover" : "drill",
             store_drill_state_name(state));
    policy_notify(
        controller_policy(ctl), event, d->to,
        json_pack(
            "{s:I,s:s,s:s,s:s,s:I,s:s}", "drill", (json_int_t)d->id, "app",
            d->app, "from", d->from, "by", d->created_by, "recovery_ms",
            (json_int_t)(d->healthy_ms ? d->healthy_ms - d->started_ms : 0),
            "reason", d->reason));
}

/* --- readiness -------------------------------------------------------------
 */

typedef struct {
    controller_t *ctl;
    zlistx_t *names; /* accepted agents of the target */
    char offline[STORE_RESULT_SIZE];
} targets_t;

static int
s_target_row(const store_agent_t *a, void *arg)
{
    targets_t *t = arg;
    if (a->state != STORE_AGENT_ACCEPTED) {
        return 0;
    }
    zlistx_add_end(t->names, (void *)a->name);
    if (!hub_online(controller_hub(t->ctl), a->name)) {
        size_t n = strlen(t->offline);
        snprintf(t->offline + n, sizeof t->offline - n, "%s%s", n ? ", " : "",
                 a->name);
    }
    return 0;
}

/* The accepted agents of ENV (a list of names, the caller's) and, in
 * OFFLINE, those not connected. */
static zlistx_t *
s_targets(controller_t *ctl, const char *env, char *offline, size_t len)
{
    targets_t t = {.ctl = ctl, .names = zlistx_new()};
    zlistx_set_duplicator(t.names, (zlistx_duplicator_fn *)strdup);
    zlistx_set_destructor(t.names, (zlistx_destructor_fn *)zstr_free);
    store_agent_list(controller_store(ctl), env, s_target_row, &t, NULL);
    snprintf(offline, len, "%s", t.offline);
    return t.names;
}

typedef struct {
    json_t *vars;
    const char *side;
} side_vars_t;

static int
s_var_row(const store_var_t *v, void *arg)
{
    side_vars_t *x = arg;
    json_t *o = json_object_get(x->vars, v->key);
    char hex[65] = "";
    if (!o) {
        o = json_object();
        json_object_set_new(x->vars, v->key, o);
    }
    if (v->secret) {
        for (size_t i = 0; v->has_digest && i < 32; i++) {
            snprintf(hex + 2 * i, 3, "%02x", v->digest[i]);
        }
        json_object_set_new(o, x->side, json_pack("{s:s}", "digest", hex));
    } else {
        json_object_set_new(
            o, x->side,
            json_pack("{s:s%}", "value", (const char *)v->value, v->value_len));
    }
    return 0;
}

/* Names the variables of APP that differ between FROM and TO into OUT
 * (secrets by digest; one never set again since digests exist differs). */
static void
s_var_drift(controller_t *ctl, const char *app, const char *from,
            const char *to, char *out, size_t len)
{
    side_vars_t x = {.vars = json_object()};
    const char *key;
    json_t *o;
    size_t n = 0;
    out[0] = '\0';
    x.side = "a";
    store_var_list(controller_store(ctl), app, from, s_var_row, &x, NULL);
    x.side = "b";
    store_var_list(controller_store(ctl), app, to, s_var_row, &x, NULL);
    json_object_foreach(x.vars, key, o)
    {
        json_t *a = json_object_get(o, "a"), *b = json_object_get(o, "b");
        const char *da = json_string_value(json_object_get(a, "digest"));
        if (a && b && json_equal(a, b) && !(da && !da[0])) {
            continue;
        }
        n += (size_t)snprintf(out + n, n < len ? len - n : 0, "%s%s",
                              n ? ", " : "", key);
        if (n >= len) {
            break;
        }
    }
    json_decref(x.vars);
}

/* Checks D's readiness into PROBLEMS ("" when ready); RELEASE_ONLY says
 * whether the release is the only problem (a sync can mend it). */
static void
s_readiness(controller_t *ctl, const store_drill_t *d, zlistx_t *agents,
            const char *offline, char *problems, size_t len, bool *release_only,
            char *src)
{
    char have[STORE_VERSION_SIZE], vars[STORE_RESULT_SIZE / 2];
    size_t n = 0;
    problems[0] = '\0';
    mirror_live(ctl, d->app, d->from, src);
    mirror_live(ctl, d->app, d->to, have);
    s_var_drift(ctl, d->app, d->from, d->to, vars, sizeof vars);
    bool release = strcmp(src, have) != 0;
    if (zlistx_size(agents) == 0) {
        n += (size_t)snprintf(problems + n, len - n,
                              "%s has no accepted agents; ", d->to);
    }
    if (offline[0]) {
        n += (size_t)snprintf(problems + n, n < len ? len - n : 0,
                              "offline in %s: %s; ", d->to, offline);
    }
    if (!src[0]) {
        n += (size_t)snprintf(problems + n, n < len ? len - n : 0,
                              "nothing of %s runs in %s; ", d->app, d->from);
    } else if (release) {
        n += (size_t)snprintf(problems + n, n < len ? len - n : 0,
                              "%s runs %s %s but %s runs %s (hoist dr sync "
                              "%s, or drill run --sync); ",
                              d->from, d->app, src, d->to,
                              have[0] ? have : "nothing", d->app);
    }
    if (vars[0]) {
        n += (size_t)snprintf(problems + n, n < len ? len - n : 0,
                              "variables differ between %s and %s: %s; ",
                              d->from, d->to, vars);
    }
    if (n >= 2 && n < len) {
        problems[n - 2] = '\0'; /* the last "; " */
    }
    *release_only =
        release && src[0] && !offline[0] && !vars[0] && zlistx_size(agents) > 0;
}

/* --- the run ----------------------------------------------------------------
 */

/* Enters PHASE (failover, failback, or restore: failback after a failed
 * failover): sends its hook to every accepted agent of D's target and
 * records a step each. An agent offline does not answer: its step fails
 * at the deadline. */
static void
s_send_hooks(controller_t *ctl, store_drill_t *d, const char *phase,
             int64_t now_ms)
{
    char offline[STORE_RESULT_SIZE];
    const char *hook = strcmp(phase, "restore") == 0 ? "failback" : phase;
    zlistx_t *agents = s_targets(ctl, d->to, offline, sizeof offline);
    snprintf(d->phase, sizeof d->phase, "%s", phase);
    s_save(ctl, d);
    for (char *a = zlistx_first(agents); a; a = zlistx_next(agents)) {
        hoist_error_t err = {0};
        /* Recorded before it is sent. */
        s_step(ctl, d, phase, a, "running", "", now_ms);
        if (hub_hook(controller_hub(ctl), a, d->id, d->app, hook,
                     strcmp(hook, "failover") == 0, &err) != HOIST_OK) {
            log_warn("drill %lld: %s: %s", (long long)d->id, a, err.msg);
        }
    }
    zlistx_destroy(&agents);
}

/* Runs D's readiness and, when ready, its failover. */
static void
s_begin(controller_t *ctl, store_drill_t *d, int64_t now_ms)
{
    char offline[STORE_RESULT_SIZE], problems[STORE_RESULT_SIZE];
    char src[STORE_VERSION_SIZE];
    bool release_only = false;
    zlistx_t *agents = s_targets(ctl, d->to, offline, sizeof offline);
    s_readiness(ctl, d, agents, offline, problems, sizeof problems,
                &release_only, src);
    size_t nagents = zlistx_size(agents);
    zlistx_destroy(&agents);
    if (problems[0] && d->sync && release_only && !d->sync_deployment) {
        hoist_error_t err = {0};
        int64_t id = 0;
        if (deployments_start(ctl, d->created_by, d->app, src, d->to,
                              STORE_KIND_DEPLOY, NULL, &id, &err) != HOIST_OK) {
            s_step(ctl, d, "sync", "", "failed", err.msg, now_ms);
            s_end(ctl, d, STORE_DRILL_REFUSED, err.msg, now_ms);
            return;
        }
        char msg[128];
        snprintf(msg, sizeof msg, "deployment %lld of %s %s to %s",
                 (long long)id, d->app, src, d->to);
        s_step(ctl, d, "sync", "", "running", msg, now_ms);
        d->sync_deployment = id;
        snprintf(d->phase, sizeof d->phase, "sync");
        s_save(ctl, d);
        return;
    }
    if (problems[0] && (!d->failover || nagents == 0)) {
        s_step(ctl, d, "readiness", "", "failed", problems, now_ms);
        s_end(ctl, d, STORE_DRILL_REFUSED, problems, now_ms);
        return;
    }
    s_step(ctl, d, "readiness", "", problems[0] ? "warning" : "ok",
           problems[0] ? problems : "ready", now_ms);
    s_send_hooks(ctl, d, "failover", now_ms);
}

/* Starts drill D now. */
static void
s_run(controller_t *ctl, store_drill_t *d, int64_t now_ms)
{
    d->state = STORE_DRILL_RUNNING;
    d->started_ms = now_ms;
    snprintf(d->phase, sizeof d->phase, "readiness");
    s_save(ctl, d);
    s_begin(ctl, d, now_ms);
}

typedef struct {
    const char *name;
    size_t running, ok, failed;
    char failures[STORE_RESULT_SIZE];
} tally_t;

static int
s_tally_row(const store_drill_step_t *t, void *arg)
{
    tally_t *x = arg;
    if (strcmp(t->name, x->name) != 0 || !t->agent[0]) {
        return 0;
    }
    if (strcmp(t->state, "running") == 0) {
        x->running++;
    } else if (strcmp(t->state, "ok") == 0) {
        x->ok++;
    } else {
        x->failed++;
        size_t n = strlen(x->failures);
        snprintf(x->failures + n, sizeof x->failures - n, "%s%s on %s: %s",
                 n ? "; " : "", t->name, t->agent, t->message);
    }
    return 0;
}

/* A step of D's current phase ended: moves D on once all have. */
static void
s_advance(controller_t *ctl, store_drill_t *d, int64_t now_ms)
{
    tally_t x = {.name = d->phase};
    store_drill_step_list(controller_store(ctl), d->id, s_tally_row, &x, NULL);
    if (x.running) {
        return;
    }
    bool failover = strcmp(d->phase, "failover") == 0;
    bool restore = strcmp(d->phase, "restore") == 0;
    if (failover && !x.failed) {
        d->healthy_ms = now_ms;
        if (d->failback && !d->failover) {
            s_send_hooks(ctl, d, "failback", now_ms);
        } else {
            s_end(ctl, d, STORE_DRILL_SUCCEEDED, "", now_ms);
        }
        return;
    }
    if (failover) {
        /* Put the target back as it was: failback wherever failover ran. */
        snprintf(d->reason, sizeof d->reason, "%s", x.failures);
        s_save(ctl, d);
        if (d->failover) {
            s_end(ctl, d, STORE_DRILL_FAILED, x.failures, now_ms);
            return;
        }
        s_send_hooks(ctl, d, "restore", now_ms);
        return;
    }
    char reason[STORE_RESULT_SIZE];
    snprintf(reason, sizeof reason, "%s%s%s", restore ? d->reason : "",
             restore && x.failed ? "; then " : "", x.failures);
    s_end(ctl, d,
          restore || x.failed ? STORE_DRILL_FAILED : STORE_DRILL_SUCCEEDED,
          reason, now_ms);
}

void
dr_on_result(controller_t *ctl, const char *agent, const Hoist__HookResult *r)
{
    store_drill_t d;
    int64_t now = zclock_time();
    if (!r ||
        store_drill_get(controller_store(ctl), (int64_t)r->drill, &d, NULL) !=
            HOIST_OK ||
        d.state != STORE_DRILL_RUNNING) {
        return;
    }
    /* The restore phase sends the failback hook. */
    bool restore = strcmp(d.phase, "restore") == 0;
    const char *want = restore ? "failback" : d.phase;
    if (strcmp(r->hook, want) != 0 || strcmp(r->app, d.app) != 0) {
        return;
    }
    find_t f = {.agent = agent, .name = d.phase};
    store_drill_step_list(controller_store(ctl), d.id, s_find_row, &f, NULL);
    if (!f.found || strcmp(r->outcome, "busy") == 0) {
        return; /* busy: the deadline, or a later answer, decides */
    }
    bool ok =
        strcmp(r->outcome, "ok") == 0 || strcmp(r->outcome, "no-hook") == 0;
    snprintf(f.step.state, sizeof f.step.state, "%s", ok ? "ok" : "failed");
    f.step.finished_ms = now;
    snprintf(f.step.message, sizeof f.step.message, "%s%s%s%s", r->outcome,
             r->message[0] ? ": " : "", r->message,
             strcmp(r->outcome, "no-hook") == 0 ? " (no such hook; healthy)"
                                                : "");
    hoist_error_t err = {0};
    if (store_drill_step_update(controller_store(ctl), &f.step, &err) !=
        HOIST_OK) {
        log_warn("drill %lld: %s", (long long)d.id, err.msg);
        return;
    }
    s_advance(ctl, &d, now);
}

/* --- the timer --------------------------------------------------------------
 */

typedef struct {
    int64_t now_ms;
    zlistx_t *ids;
} due_t;

static int
s_due_row(const store_drill_t *d, void *arg)
{
    due_t *x = arg;
    if (d->state == STORE_DRILL_SCHEDULED && d->at_ms > x->now_ms) {
        return 1; /* listed by time: the rest are later */
    }
    zlistx_add_end(x->ids, (void *)(intptr_t)d->id);
    return 0;
}

static int
s_expire_row(const store_drill_step_t *t, void *arg)
{
    zlistx_t *late = arg;
    if (strcmp(t->state, "running") == 0 && t->agent[0] &&
        zclock_time() - t->started_ms > HOOK_DEADLINE_MS) {
        store_drill_step_t *copy = malloc(sizeof *copy);
        if (copy) {
            *copy = *t;
            zlistx_add_end(late, copy);
        }
    }
    return 0;
}

/* Fails D's hook steps that had no answer for HOOK_DEADLINE_MS. */
static void
s_deadlines(controller_t *ctl, store_drill_t *d, int64_t now_ms)
{
    zlistx_t *late = zlistx_new();
    zlistx_set_destructor(late, (zlistx_destructor_fn *)zstr_free);
    store_drill_step_list(controller_store(ctl), d->id, s_expire_row, late,
                          NULL);
    for (store_drill_step_t *t = zlistx_first(late); t; t = zlistx_next(late)) {
        snprintf(t->state, sizeof t->state, "failed");
        t->finished_ms = now_ms;
        snprintf(t->message, sizeof t->message, "no answer for %d s",
                 HOOK_DEADLINE_MS / 1000);
        store_drill_step_update(controller_store(ctl), t, NULL);
    }
    if (zlistx_size(late)) {
        s_advance(ctl, d, now_ms);
    }
    zlistx_destroy(&late);
}

/* A drill waiting for its sync deployment: goes on once it ended. */
static void
s_follow_sync(controller_t *ctl, store_drill_t *d, int64_t now_ms)
{
    store_deployment_t dep;
    if (store_deployment_get(controller_store(ctl), d->sync_deployment, &dep,
                             NULL) != HOIST_OK ||
        dep.state == STORE_DEPLOY_RUNNING) {
        return;
    }
    char msg[128];
    snprintf(msg, sizeof msg, "deployment %lld %s", (long long)dep.id,
             store_deploy_state_name(dep.state));
    bool ok = dep.state == STORE_DEPLOY_SUCCEEDED;
    s_step_end(ctl, d, "sync", "", ok ? "ok" : "failed", msg, now_ms);
    if (!ok) {
        s_end(ctl, d, STORE_DRILL_REFUSED, msg, now_ms);
        return;
    }
    snprintf(d->phase, sizeof d->phase, "readiness");
    s_save(ctl, d);
    s_begin(ctl, d, now_ms);
}

/* A scheduled drill due right after the controller started waits for
 * its target's agents to reconnect, up to this long. */
#define START_GRACE_MS (60 * 1000)

/* True when every accepted agent of ENV is connected. */
static bool
s_all_online(controller_t *ctl, const char *env)
{
    char offline[STORE_RESULT_SIZE];
    zlistx_t *agents = s_targets(ctl, env, offline, sizeof offline);
    zlistx_destroy(&agents);
    return !offline[0];
}

void
dr_tick(controller_t *ctl, int64_t now_ms, int64_t started_ms)
{
    due_t x = {.now_ms = now_ms, .ids = zlistx_new()};
    /* Only the two live states: the table keeps every drill ever run. */
    store_drill_list(controller_store(ctl), STORE_DRILL_RUNNING, s_due_row, &x,
                     NULL);
    store_drill_list(controller_store(ctl), STORE_DRILL_SCHEDULED, s_due_row,
                     &x, NULL);
    for (void *p = zlistx_first(x.ids); p; p = zlistx_next(x.ids)) {
        store_drill_t d;
        if (store_drill_get(controller_store(ctl), (int64_t)(intptr_t)p, &d,
                            NULL) != HOIST_OK) {
            continue;
        }
        if (d.state == STORE_DRILL_SCHEDULED) {
            if (now_ms - started_ms < START_GRACE_MS &&
                !s_all_online(ctl, d.to)) {
                continue; /* its agents are still coming back */
            }
            if (d.every_ms >= EVERY_MIN_MS) {
                /* The next one is on the record before this one runs. */
                store_drill_t next = d;
                int64_t id = 0;
                next.at_ms = d.at_ms + d.every_ms;
                while (next.at_ms <= now_ms) {
                    next.at_ms += d.every_ms;
                }
                store_drill_add(controller_store(ctl), &next, &id, NULL);
            }
            s_run(ctl, &d, now_ms);
        } else if (!strcmp(d.phase, "sync")) {
            s_follow_sync(ctl, &d, now_ms);
        } else {
            s_deadlines(ctl, &d, now_ms);
        }
    }
    zlistx_destroy(&x.ids);
}

/* --- commands ----------------------------------------------------------------
 */

static int
s_start_cmd(call_t *c, bool failover)
{
    hoist_error_t err = {0};
    const pipeline_t *p = policy_pipeline(controller_policy(c->ctl));
    const char *to = call_opt(c, "to") ? call_opt(c, "to") : "dr";
    const char *from = call_opt(c, "from");
    const char *at = call_opt(c, "at"), *every = call_opt(c, "every");
    store_drill_t d = {.created_at = controller_now()};
    int64_t now = zclock_time(), id = 0;
    uint64_t every_ms = 0;
    if (!from) {
        from = pipeline_mirror_of(p, to) ? pipeline_mirror_of(p, to)
                                         : "production";
    }
    if (!pipeline_env(p, to) || !pipeline_env(p, from) ||
        strcmp(to, from) == 0) {
        return call_refuse(c, HOIST_ERR_USAGE,
                           "--from %s --to %s: two environments of the "
                           "pipeline",
                           from, to);
    }
    if (!call_allowed(c, failover ? RBAC_PROMOTE : RBAC_DRILL_RUN, to) ||
        (!failover && !call_allowed(c, RBAC_DRILL_RUN, from))) {
        return c->exit;
    }
    snprintf(d.app, sizeof d.app, "%s", call_arg(c, 0));
    snprintf(d.from, sizeof d.from, "%s", from);
    snprintf(d.to, sizeof d.to, "%s", to);
    snprintf(d.created_by, sizeof d.created_by, "%s", c->user.name);
    d.failover = failover;
    d.failback = !failover && call_flag(c, "failback");
    d.sync = call_flag(c, "sync");
    d.state = STORE_DRILL_SCHEDULED;
    d.at_ms = now;
    if (every && (duration_parse(every, &every_ms, &err) != HOIST_OK ||
                  every_ms < EVERY_MIN_MS)) {
        return call_refuse(c, HOIST_ERR_USAGE,
                           "--every takes a duration of 1m or more, not "
                           "'%s'",
                           every);
    }
    d.every_ms = (int64_t)every_ms;
    if (at &&
        calendar_parse_at(at, p->timezone, now, &d.at_ms, &err) != HOIST_OK) {
        return call_fail(c, &err);
    }
    if (every && !at) {
        d.at_ms = now + d.every_ms;
    }
    if (store_drill_add(controller_store(c->ctl), &d, &id, &err) != HOIST_OK) {
        return call_fail(c, &err);
    }
    d.id = id;
    json_object_set_new(c->json, "drill", json_integer(id));
    if (at || every) {
        char when[96];
        calendar_format(d.at_ms, p->timezone, when, sizeof when);
        call_say(c, "drill %lld: %s %s -> %s scheduled for %s%s%s\n",
                 (long long)id, d.app, from, to, when, every ? ", every " : "",
                 every ? every : "");
        json_object_set_new(c->json, "at", json_integer(d.at_ms));
        return 0;
    }
    s_run(c->ctl, &d, now);
    call_say(c, "%s %lld: %s %s -> %s started\n",
             failover ? "failover" : "drill", (long long)id, d.app, from, to);
    return 0;
}

static int
s_drill_run(call_t *c)
{
    return s_start_cmd(c, false);
}

static int
s_failover(call_t *c)
{
    return s_start_cmd(c, true);
}

/* The drill's JSON (fields and, when STEPS, its timeline). */
static json_t *
s_drill_json(const store_drill_t *d)
{
    return json_pack(
        "{s:I,s:s,s:s,s:s,s:s,s:b,s:b,s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:s}", "id",
        (json_int_t)d->id, "app", d->app, "from", d->from, "to", d->to, "state",
        store_drill_state_name(d->state), "failover", d->failover, "failback",
        d->failback, "phase", d->phase, "created_by", d->created_by, "at",
        (json_int_t)d->at_ms, "every", (json_int_t)d->every_ms, "started",
        (json_int_t)d->started_ms, "finished", (json_int_t)d->finished_ms,
        "recovery_ms",
        (json_int_t)(d->healthy_ms ? d->healthy_ms - d->started_ms : 0),
        "reason", d->reason);
}

static int
s_list_row(const store_drill_t *d, void *arg)
{
    call_t *c = arg;
    char rec[32] = "-";
    if (d->healthy_ms) {
        snprintf(rec, sizeof rec, "%lld ms",
                 (long long)(d->healthy_ms - d->started_ms));
    }
    call_say(c, "%-5lld %-9s %-12s %-10s %-10s %-10s %s\n", (long long)d->id,
             d->failover ? "failover" : "drill", d->app, d->from, d->to,
             store_drill_state_name(d->state), rec);
    json_array_append_new(json_object_get(c->json, "drills"), s_drill_json(d));
    return 0;
}

static int
s_drill_list(call_t *c)
{
    hoist_error_t err = {0};
    json_object_set_new(c->json, "drills", json_array());
    call_say(c, "%-5s %-9s %-12s %-10s %-10s %-10s %s\n", "ID", "KIND", "APP",
             "FROM", "TO", "STATE", "RECOVERY");
    if (store_drill_list(controller_store(c->ctl), -1, s_list_row, c, &err) !=
        HOIST_OK) {
        return call_fail(c, &err);
    }
    return 0;
}

static int
s_step_row(const store_drill_step_t *t, void *arg)
{
    call_t *c = arg;
    int64_t start = json_integer_value(json_object_get(c->json, "started"));
    call_say(c, "  +%6lld ms  %-10s %-12s %-8s %s\n",
             (long long)(t->started_ms - start), t->name,
             t->agent[0] ? t->agent : "-", t->state, t->message);
    json_array_append_new(
        json_object_get(c->json, "steps"),
        json_pack("{s:s,s:s,s:s,s:I,s:I,s:s}", "name", t->name, "agent",
                  t->agent, "state", t->state, "started",
                  (json_int_t)t->started_ms, "finished",
                  (json_int_t)t->finished_ms, "message", t->message));
    return 0;
}

static int
s_drill_show(call_t *c)
{
    hoist_error_t err = {0};
    store_drill_t d;
    char *end = NULL;
    long long id = strtoll(call_arg(c, 0), &end, 10);
    if (!call_arg(c, 0)[0] || *end || id <= 0) {
        return call_refuse(c, HOIST_ERR_USAGE, "a drill id is a number");
    }
    if (store_drill_get(controller_store(c->ctl), id, &d, &err) != HOIST_OK) {
        return call_fail(c, &err);
    }
    json_decref(c->json);
    c->json = s_drill_json(&d);
    json_object_set_new(c->json, "steps", json_array());
    call_say(c, "%s %lld: %s %s -> %s, %s%s%s\n",
             d.failover ? "failover" : "drill", id, d.app, d.from, d.to,
             store_drill_state_name(d.state), d.reason[0] ? ": " : "",
             d.reason);
    if (d.healthy_ms) {
        call_say(c, "  recovery time: %lld ms (start to %s healthy)\n",
                 (long long)(d.healthy_ms - d.started_ms), d.to);
    }
    if (store_drill_step_list(controller_store(c->ctl), id, s_step_row, c,
                              &err) != HOIST_OK) {
        return call_fail(c, &err);
    }
    return 0;
}

const call_command_t dr_commands[] = {
    {"drill.run", s_drill_run, 1, RBAC_READ, NULL,
     "drill run APP [--from ENV] [--to ENV] [--failback] [--sync] [--at "
     "TIME] [--every DUR]",
     false},
    {"failover", s_failover, 1, RBAC_READ, NULL,
     "failover APP [--from ENV] [--to ENV]", false},
    {"drill.list", s_drill_list, 0, RBAC_READ, NULL, "drill list", true},
    {"drill.show", s_drill_show, 1, RBAC_READ, NULL, "drill show ID", true},
    {NULL, NULL, 0, RBAC_READ, NULL, NULL, false},
};
