/*
 * promotion: see promotion.h.
 *
 * The upstream gate reads the deployments of the app, newest first: the
 * newest deployment of this version into the previous environment must
 * have succeeded (the hub ends a deployment succeeded only when every
 * task did), and no rollback of the app in that environment may have
 * started after it.
 *
 * A schedule fires in two commits: the deployment (deployments_start
 * commits it with its tasks before the hub sees it), then the schedule's
 * end. A controller killed between the two finds the schedule pending at
 * its next start, finds the deployment it had started (same version,
 * environment and creator, created after the schedule's time) and records
 * that, so nothing is deployed twice.
 */
#include "promotion.h"

#include <stdlib.h>
#include <string.h>

#include "calendar.h"
#include "deployments.h"
#include "gates.h"
#include "ledger.h"
#include "log.h"
#include "manifest.h"
#include "policy.h"

/* Sends EVENT about APP VERSION in ENV to the notify targets, with the
 * fields of EXTRA (stolen; NULL for none) and who caused it. */
static void
s_announce(controller_t *ctl, const char *event, const char *app,
           const char *version, const char *env, const char *by, json_t *extra)
{
    json_t *o = extra ? extra : json_object();
    json_object_set_new(o, "app", json_string(app));
    json_object_set_new(o, "version", json_string(version));
    json_object_set_new(o, "by", json_string(by));
    policy_notify(controller_policy(ctl), event, env, o);
}

/* Announces a refused promotion, and an approval request when a missing
 * approval is among the reasons. */
static void
s_announce_refusal(controller_t *ctl, const char *app, const char *version,
                   const char *env, const char *by, const gates_result_t *g)
{
    json_t *gates = json_array();
    for (size_t i = 0; i < g->count; i++) {
        json_array_append_new(gates, json_string(g->unmet[i].text));
        if (g->unmet[i].kind == GATES_APPROVALS) {
            s_announce(ctl, "approval.requested", app, version, env, by,
                       json_pack("{s:s}", "reason", g->unmet[i].text));
        }
    }
    s_announce(ctl, "promotion.refused", app, version, env, by,
               json_pack("{s:o}", "gates", gates));
}

/* --- the gates of one promotion ----------------------------------------- */

typedef struct {
    const char *version, *env;
    int64_t deployment; /* the newest deploy of VERSION into ENV */
    bool succeeded;
    bool rolled_back; /* a rollback in ENV started after it */
    int64_t rollback_id;
} upstream_t;

static int
s_upstream_row(const store_deployment_t *d, void *arg)
{
    upstream_t *u = arg;
    if (strcmp(d->env, u->env) != 0) {
        return 0;
    }
    /* A rollback away from the version takes its success back; a rollback
     * to it does not. */
    if (d->kind == STORE_KIND_ROLLBACK) {
        if (!u->rollback_id && strcmp(d->version, u->version) != 0) {
            u->rollback_id = d->id;
        }
        return 0;
    }
    if (strcmp(d->version, u->version) == 0) {
        u->deployment = d->id;
        u->succeeded = d->state == STORE_DEPLOY_SUCCEEDED;
        u->rolled_back = u->rollback_id != 0;
        return 1; /* newest first: this one decides */
    }
    return 0;
}

typedef struct {
    store_t *st;
    gates_approval_t list[64];
    char users[64][STORE_NAME_SIZE];
    char envs[64][STORE_NAME_SIZE];
    size_t n;
} approvals_t;

static int
s_approval_row(const store_approval_t *a, void *arg)
{
    approvals_t *ap = arg;
    rbac_role_t role;
    store_user_t now;
    /* An approval counts while its author is a user with the role they
     * approved with: not after removal (a lost key) or a change of role. */
    if (store_user_get(ap->st, a->user, &now, NULL) != HOIST_OK ||
        strcmp(now.role, a->role) != 0) {
        return 0;
    }
    if (ap->n < 64 && rbac_role_parse(a->role, &role, NULL) == HOIST_OK) {
        snprintf(ap->users[ap->n], sizeof ap->users[0], "%s", a->user);
        snprintf(ap->envs[ap->n], sizeof ap->envs[0], "%s", a->env);
        ap->list[ap->n] = (gates_approval_t){
            .user = ap->users[ap->n], .role = role, .env = ap->envs[ap->n]};
        ap->n++;
    }
    return 0;
}

/* What a promotion of APP VERSION (lifecycle LC) into ENV asks. */
typedef struct {
    const char *app, *version, *lifecycle, *env;
    int64_t now_ms;
    bool override_freeze;
    const char *reason;
    const store_user_t *user;
} ask_t;

/* Fills OUT with the unmet gates of ASK; a deployment of the app into
 * ENV still running is one too (RUNNING gets its id). */
static hoist_err_t
s_gates(controller_t *ctl, const ask_t *ask, gates_result_t *out,
        int64_t *running, hoist_error_t *err)
{
    const pipeline_t *p = policy_pipeline(controller_policy(ctl));
    store_t *st = controller_store(ctl);
    const char *prev = NULL;
    char detail[128] = "";
    upstream_t up = {.version = ask->version};
    approvals_t *ap = calloc(1, sizeof *ap);
    rbac_role_t role;
    if (!ap) {
        return error_set(err, HOIST_ERR_NOMEM, "out of memory");
    }
    ap->st = st;
    hoist_err_t rc = deployments_running(ctl, ask->app, ask->env, running, err);
    hoist_error_t e = {0};
    /* Not in the lifecycle: gates_check reports it as a gate. */
    const char *lc = ask->lifecycle[0] ? ask->lifecycle : NULL;
    if (rc == HOIST_OK &&
        pipeline_previous_env(p, lc, ask->env, &prev, &e) == HOIST_OK && prev) {
        up.env = prev;
        rc = store_deployment_list(st, ask->app, s_upstream_row, &up, err);
        if (!up.deployment) {
            snprintf(detail, sizeof detail, "never deployed there");
        } else if (up.rolled_back) {
            snprintf(detail, sizeof detail,
                     "deployment %lld was rolled back by deployment %lld",
                     (long long)up.deployment, (long long)up.rollback_id);
        } else {
            snprintf(detail, sizeof detail, "deployment %lld %s",
                     (long long)up.deployment,
                     up.succeeded ? "succeeded" : "did not succeed");
        }
    }
    if (rc == HOIST_OK) {
        rc = store_approval_list(st, ask->app, ask->version, ask->env,
                                 s_approval_row, ap, err);
    }
    if (rc == HOIST_OK) {
        gates_input_t in = {
            .app = ask->app,
            .version = ask->version,
            .lifecycle = ask->lifecycle[0] ? ask->lifecycle : NULL,
            .env = ask->env,
            .now_ms = ask->now_ms,
            .upstream_succeeded = up.succeeded && !up.rolled_back,
            .upstream_detail = detail[0] ? detail : NULL,
            .approvals = ap->list,
            .napprovals = ap->n,
            .override_freeze = ask->override_freeze,
            .override_reason = ask->reason,
            .requester_admin =
                rbac_role_parse(ask->user->role, &role, NULL) == HOIST_OK &&
                rbac_check(NULL, role, ask->user->env, RBAC_FREEZE_OVERRIDE,
                           ask->env, NULL) == HOIST_OK};
        rc = gates_check(p, &in, out, err);
    }
    free(ap);
    return rc;
}

/* Fails C with exit 4 listing every unmet gate of R (and RUNNING). */
static int
s_refuse_gates(call_t *c, const gates_result_t *r, int64_t running)
{
    json_t *list = json_array();
    char line[GATES_TEXT_MAX + 64];
    hoist_error_t err = {.code = HOIST_ERR_GATE};
    size_t n =
        (size_t)snprintf(err.msg, sizeof err.msg,
                         "refused: %s %s cannot go to %s yet:", call_arg(c, 0),
                         call_arg(c, 1), call_opt(c, "to"));
    if (running) {
        snprintf(line, sizeof line,
                 "deployment %lld of %s to %s is still running",
                 (long long)running, call_arg(c, 0), call_opt(c, "to"));
        json_array_append_new(list, json_string(line));
        n +=
            (size_t)snprintf(err.msg + n, sizeof err.msg - n, "\n  - %s", line);
    }
    for (size_t i = 0; i < r->count && n < sizeof err.msg; i++) {
        json_array_append_new(list, json_string(r->unmet[i].text));
        n += (size_t)snprintf(err.msg + n, sizeof err.msg - n, "\n  - %s",
                              r->unmet[i].text);
    }
    json_object_set_new(c->json, "gates", list);
    return call_fail(c, &err);
}

/* --- promote ------------------------------------------------------------- */

/* Schedules the promotion for AT_MS (written AT by the user). */
static int
s_schedule(call_t *c, const store_release_t *r, int64_t at_ms, const char *at,
           const ask_t *ask)
{
    hoist_error_t err = {0};
    store_schedule_t *sch = calloc(1, sizeof *sch);
    gates_result_t *later = calloc(1, sizeof *later);
    int64_t id = 0, running = 0;
    int rc = 0;
    if (!sch || !later) {
        rc = call_refuse(c, HOIST_ERR_NOMEM, "out of memory");
        goto out;
    }
    snprintf(sch->app, sizeof sch->app, "%s", r->app);
    snprintf(sch->version, sizeof sch->version, "%s", r->version);
    snprintf(sch->env, sizeof sch->env, "%s", ask->env);
    snprintf(sch->at_text, sizeof sch->at_text, "%s", at);
    snprintf(sch->created_by, sizeof sch->created_by, "%s", c->user.name);
    snprintf(sch->reason, sizeof sch->reason, "%s",
             ask->reason ? ask->reason : "");
    sch->at_ms = at_ms;
    sch->created_at = controller_now();
    sch->override_freeze = ask->override_freeze;
    if (store_schedule_add(controller_store(c->ctl), sch, &id, &err) !=
        HOIST_OK) {
        rc = call_fail(c, &err);
        goto out;
    }
    char when[96];
    calendar_format(at_ms, policy_pipeline(controller_policy(c->ctl))->timezone,
                    when, sizeof when);
    call_say(c, "schedule %lld: %s %s to %s at %s\n", (long long)id, r->app,
             r->version, ask->env, when);
    /* What would refuse it if it fired now at that time: a warning, since
     * approvals may still come; the gates are checked when it fires. */
    ask_t then = *ask;
    then.now_ms = at_ms;
    if (s_gates(c->ctl, &then, later, &running, &err) == HOIST_OK &&
        later->count) {
        call_say(c, "not met yet (checked again when it fires):\n");
        for (size_t i = 0; i < later->count; i++) {
            call_say(c, "  - %s\n", later->unmet[i].text);
        }
    }
    json_object_set_new(c->json, "schedule", json_integer(id));
    json_object_set_new(c->json, "at", json_integer(at_ms));
    s_announce(c->ctl, "promotion.scheduled", r->app, r->version, ask->env,
               c->user.name,
               json_pack("{s:I,s:I,s:s}", "schedule", (json_int_t)id, "at",
                         (json_int_t)at_ms, "at_text", at));
out:
    free(sch);
    free(later);
    return rc;
}

static int
s_promote(call_t *c)
{
    hoist_error_t err = {0};
    const char *app = call_arg(c, 0), *version = call_arg(c, 1);
    const char *env = call_opt(c, "to"), *at = call_opt(c, "at");
    const pipeline_t *p = policy_pipeline(controller_policy(c->ctl));
    store_release_t *r = malloc(sizeof *r);
    gates_result_t *g = calloc(1, sizeof *g);
    int64_t running = 0, at_ms = 0, id = 0;
    int rc = 0;
    if (!r || !g) {
        rc = call_refuse(c, HOIST_ERR_NOMEM, "out of memory");
        goto out;
    }
    if (!env || !pipeline_env(p, env)) {
        rc = call_refuse(c, HOIST_ERR_USAGE,
                         "promote needs --to ENV, an environment of the "
                         "pipeline (hoist export shows them)");
        goto out;
    }
    if (store_release_get(controller_store(c->ctl), app, version, r, &err) !=
        HOIST_OK) {
        rc = call_fail(c, &err);
        goto out;
    }
    ask_t ask = {.app = app,
                 .version = version,
                 .lifecycle = r->lifecycle,
                 .env = env,
                 .now_ms = zclock_time(),
                 .override_freeze = call_flag(c, "override_freeze"),
                 .reason = call_opt(c, "reason"),
                 .user = &c->user};
    if (ask.override_freeze && (!call_allowed(c, RBAC_FREEZE_OVERRIDE, env) ||
                                !ask.reason || !ask.reason[0])) {
        rc = c->exit ? c->exit
                     : call_refuse(c, HOIST_ERR_USAGE,
                                   "--override-freeze needs --reason TEXT");
        goto out;
    }
    if (at) {
        if (calendar_parse_at(at, p->timezone, ask.now_ms, &at_ms, &err) !=
            HOIST_OK) {
            rc = call_fail(c, &err);
        } else if (at_ms <= ask.now_ms) {
            rc = call_refuse(c, HOIST_ERR_USAGE,
                             "--at %s is in the past: leave --at out to "
                             "promote now",
                             at);
        } else {
            rc = s_schedule(c, r, at_ms, at, &ask);
        }
        goto out;
    }
    if (s_gates(c->ctl, &ask, g, &running, &err) != HOIST_OK) {
        rc = call_fail(c, &err);
    } else if (g->count || running) {
        s_announce_refusal(c->ctl, app, version, env, c->user.name, g);
        rc = s_refuse_gates(c, g, running);
    } else if (deployments_start(
                   c->ctl, c->user.name, app, version, env, STORE_KIND_DEPLOY,
                   &(deployments_how_t){.strategy = call_opt(c, "strategy"),
                                        .selector = call_opt(c, "only")},
                   &id, &err) != HOIST_OK) {
        rc = call_fail(c, &err);
    } else {
        s_announce(c->ctl, "promotion.started", app, version, env, c->user.name,
                   json_pack("{s:I,s:b}", "deployment", (json_int_t)id,
                             "freeze_overridden", g->freeze_overridden));
        call_say(c, "deployment %lld: %s %s promoted to %s%s\n", (long long)id,
                 app, version, env,
                 g->freeze_overridden ? " (freeze overridden)" : "");
        json_object_set_new(c->json, "deployment", json_integer(id));
        json_object_set_new(c->json, "freeze_overridden",
                            json_boolean(g->freeze_overridden));
    }
out:
    free(r);
    free(g);
    return rc;
}

/* --- approve ------------------------------------------------------------- */

typedef struct {
    const char *role; /* the role whose approvals count; NULL: none do */
    int n;
} counted_t;

static int
s_count_approval(const store_approval_t *a, void *arg)
{
    counted_t *k = arg;
    k->n += k->role && strcmp(a->role, k->role) == 0;
    return 0;
}

static int
s_approve(call_t *c)
{
    hoist_error_t err = {0};
    const char *env = call_opt(c, "env"), *comment = call_opt(c, "comment");
    const pipeline_t *p = policy_pipeline(controller_policy(c->ctl));
    const pipeline_env_t *e = env ? pipeline_env(p, env) : NULL;
    store_approval_t a = {.created_at = controller_now()};
    counted_t have = {0};
    if (!e) {
        return call_refuse(c, HOIST_ERR_USAGE,
                           "approve needs --env ENV, an environment of the "
                           "pipeline");
    }
    have.role = e->approvals ? rbac_role_name(e->approval_role) : NULL;
    snprintf(a.app, sizeof a.app, "%s", call_arg(c, 0));
    snprintf(a.version, sizeof a.version, "%s", call_arg(c, 1));
    snprintf(a.env, sizeof a.env, "%s", env);
    snprintf(a.user, sizeof a.user, "%s", c->user.name);
    snprintf(a.role, sizeof a.role, "%s", c->user.role);
    snprintf(a.comment, sizeof a.comment, "%s", comment ? comment : "");
    if (store_approval_add(controller_store(c->ctl), &a, &err) != HOIST_OK ||
        store_approval_list(controller_store(c->ctl), a.app, a.version, env,
                            s_count_approval, &have, &err) != HOIST_OK) {
        return call_fail(c, &err);
    }
    /* Only approvals from the required role count toward the gate. */
    if (e->approvals) {
        call_say(c,
                 "%s (%s) approved %s %s for %s: %d of the %u approval%s "
                 "from %s that %s needs%s\n",
                 a.user, a.role, a.app, a.version, env, have.n, e->approvals,
                 e->approvals == 1 ? "" : "s", have.role, env,
                 strcmp(a.role, have.role) != 0 ? " (yours is not one of them)"
                                                : "");
    } else {
        call_say(c, "%s approved %s %s for %s (%s needs no approval)\n", a.user,
                 a.app, a.version, env, env);
    }
    json_object_set_new(c->json, "approvals", json_integer(have.n));
    json_object_set_new(c->json, "required", json_integer(e->approvals));
    s_announce(c->ctl, "approval.given", a.app, a.version, env, a.user,
               json_pack("{s:s,s:s,s:i,s:i}", "role", a.role, "comment",
                         a.comment, "approvals", have.n, "required",
                         (int)e->approvals));
    return 0;
}

/* --- schedules ----------------------------------------------------------- */

static int
s_schedule_row(const store_schedule_t *s, void *arg)
{
    call_t *c = arg;
    char when[96];
    calendar_format(s->at_ms,
                    policy_pipeline(controller_policy(c->ctl))->timezone, when,
                    sizeof when);
    call_say(c, "%-5lld %-10s %-12s %-10s %-12s %s%s%s\n", (long long)s->id,
             store_schedule_state_name(s->state), s->app, s->version, s->env,
             when, s->note[0] ? "  " : "", s->note);
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer(s->id));
    json_object_set_new(o, "app", json_string(s->app));
    json_object_set_new(o, "version", json_string(s->version));
    json_object_set_new(o, "env", json_string(s->env));
    json_object_set_new(o, "at", json_integer(s->at_ms));
    json_object_set_new(o, "at_text", json_string(s->at_text));
    json_object_set_new(o, "state",
                        json_string(store_schedule_state_name(s->state)));
    json_object_set_new(o, "created_by", json_string(s->created_by));
    json_object_set_new(o, "note", json_string(s->note));
    json_object_set_new(o, "deployment", json_integer(s->deployment_id));
    json_array_append_new(json_object_get(c->json, "schedules"), o);
    return 0;
}

static int
s_schedule_list(call_t *c)
{
    hoist_error_t err = {0};
    json_object_set_new(c->json, "schedules", json_array());
    call_say(c, "%-5s %-10s %-12s %-10s %-12s %s\n", "ID", "STATE", "APP",
             "VERSION", "ENV", "AT");
    if (store_schedule_list(controller_store(c->ctl), false, s_schedule_row, c,
                            &err) != HOIST_OK) {
        return call_fail(c, &err);
    }
    return 0;
}

static int
s_schedule_cancel(call_t *c)
{
    hoist_error_t err = {0};
    store_schedule_t s;
    char *end = NULL;
    long long id = strtoll(call_arg(c, 0), &end, 10);
    if (!call_arg(c, 0)[0] || *end || id <= 0) {
        return call_refuse(c, HOIST_ERR_USAGE, "schedule cancel takes an id");
    }
    if (store_schedule_get(controller_store(c->ctl), id, &s, &err) !=
        HOIST_OK) {
        return call_fail(c, &err);
    }
    if (!call_allowed(c, RBAC_SCHEDULE_CANCEL, s.env)) {
        return c->exit;
    }
    char note[STORE_RESULT_SIZE];
    snprintf(note, sizeof note, "cancelled by %s", c->user.name);
    if (store_schedule_finish(controller_store(c->ctl), id,
                              STORE_SCHEDULE_CANCELLED, note, 0,
                              &err) != HOIST_OK) {
        return call_fail(c, &err);
    }
    call_say(c, "schedule %lld cancelled\n", id);
    return 0;
}

const call_command_t promotion_commands[] = {
    {"promote", s_promote, 2, RBAC_PROMOTE, "to",
     "promote APP VERSION --to ENV [--at TIME]", false},
    {"approve", s_approve, 2, RBAC_APPROVE, "env",
     "approve APP VERSION --env ENV [--comment TEXT]", false},
    {"schedule.list", s_schedule_list, 0, RBAC_READ, NULL, "schedule list",
     true},
    {"schedule.cancel", s_schedule_cancel, 1, RBAC_READ, NULL,
     "schedule cancel ID", false},
    {NULL, NULL, 0, RBAC_READ, NULL, NULL, false},
};

/* --- firing ----------------------------------------------------------------
 */

/* A deployment this schedule already started: one of its version into
 * its environment by its creator, created at or after its time. Finds
 * what a controller killed between starting the deployment and recording
 * the schedule's end left behind, so that it is recorded, not repeated. */
typedef struct {
    const store_schedule_t *s;
    int64_t id;
} started_t;

static int
s_started_row(const store_deployment_t *d, void *arg)
{
    started_t *f = arg;
    if (d->kind == STORE_KIND_DEPLOY && strcmp(d->env, f->s->env) == 0 &&
        strcmp(d->version, f->s->version) == 0 &&
        strcmp(d->created_by, f->s->created_by) == 0 &&
        d->created_at >= f->s->at_ms / 1000) {
        f->id = d->id;
        return 1;
    }
    return 0;
}

/* Turns S into one line in place: each line break becomes ';'. */
static void
s_one_line(char *s)
{
    for (char *p = s; (p = strchr(p, '\n')) != NULL;) {
        *p = ';';
    }
}

/* Fires schedule S as its creator; returns what to record. */
static void
s_fire(controller_t *ctl, const store_schedule_t *s, int64_t now_ms,
       int64_t started_ms)
{
    hoist_error_t err = {0};
    store_t *st = controller_store(ctl);
    store_user_t user;
    store_release_t *r = malloc(sizeof *r);
    gates_result_t *g = calloc(1, sizeof *g);
    char note[STORE_RESULT_SIZE], target[STORE_TARGET_SIZE], late[96] = "";
    int64_t running = 0, id = 0;
    store_schedule_state_t end = STORE_SCHEDULE_REFUSED;
    if (s->at_ms < started_ms) {
        snprintf(late, sizeof late,
                 " (fired %llds late: the controller was down when it was "
                 "due)",
                 (long long)((now_ms - s->at_ms) / 1000));
    }
    snprintf(target, sizeof target, "schedule %lld: %s %s -> %s",
             (long long)s->id, s->app, s->version, s->env);
    started_t already = {.s = s};
    rbac_role_t role;
    if (!r || !g) {
        snprintf(note, sizeof note, "out of memory");
    } else if (store_deployment_list(st, s->app, s_started_row, &already,
                                     &err) == HOIST_OK &&
               already.id) {
        end = STORE_SCHEDULE_FIRED;
        id = already.id;
        snprintf(note, sizeof note,
                 "deployment %lld (started before the controller stopped)",
                 (long long)id);
    } else if (store_user_get(st, s->created_by, &user, &err) != HOIST_OK ||
               store_release_get(st, s->app, s->version, r, &err) != HOIST_OK) {
        snprintf(note, sizeof note, "refused%s: %s", late, err.msg);
    } else if (rbac_role_parse(user.role, &role, &err) != HOIST_OK ||
               rbac_check(user.name, role, user.env, RBAC_PROMOTE, s->env,
                          &err) != HOIST_OK ||
               (s->override_freeze &&
                rbac_check(user.name, role, user.env, RBAC_FREEZE_OVERRIDE,
                           s->env, &err) != HOIST_OK)) {
        /* Its creator's role is checked again: it may have changed. */
        snprintf(note, sizeof note, "refused%s: %s", late, err.msg);
    } else {
        ask_t ask = {.app = s->app,
                     .version = s->version,
                     .lifecycle = r->lifecycle,
                     .env = s->env,
                     .now_ms = now_ms,
                     .override_freeze = s->override_freeze,
                     .reason = s->reason,
                     .user = &user};
        if (s_gates(ctl, &ask, g, &running, &err) != HOIST_OK) {
            snprintf(note, sizeof note, "refused%s: %s", late, err.msg);
        } else if (g->count || running) {
            s_announce_refusal(ctl, s->app, s->version, s->env, s->created_by,
                               g);
            char gates[GATES_TEXT_MAX * 2];
            gates_format(g, gates, sizeof gates);
            snprintf(note, sizeof note, "refused%s: %s%s", late,
                     running ? "a deployment is still running; " : "", gates);
        } else if (deployments_start(ctl, s->created_by, s->app, s->version,
                                     s->env, STORE_KIND_DEPLOY, NULL, &id,
                                     &err) != HOIST_OK) {
            snprintf(note, sizeof note, "failed to start%s: %s", late, err.msg);
        } else {
            end = STORE_SCHEDULE_FIRED;
            s_announce(ctl, "promotion.started", s->app, s->version, s->env,
                       s->created_by,
                       json_pack("{s:I,s:I}", "deployment", (json_int_t)id,
                                 "schedule", (json_int_t)s->id));
            snprintf(note, sizeof note, "deployment %lld%s", (long long)id,
                     late);
        }
    }
    s_one_line(note);
    if (store_schedule_finish(st, s->id, end, note, id, &err) != HOIST_OK) {
        log_error("schedule %lld: %s", (long long)s->id, err.msg);
    }
    log_info("%s: %s", target, note);
    ledger_note(ctl, "schedule.fire", target, note,
                end == STORE_SCHEDULE_FIRED ? 0 : 4);
    free(r);
    free(g);
}

typedef struct {
    int64_t now_ms;
    int64_t ids[32];
    size_t n;
} due_t;

static int
s_due(const store_schedule_t *s, void *arg)
{
    due_t *d = arg;
    if (s->at_ms > d->now_ms || d->n == 32) {
        return 1; /* ordered by time: the rest are later */
    }
    d->ids[d->n++] = s->id;
    return 0;
}

void
promotion_tick(controller_t *ctl, int64_t now_ms, int64_t started_ms)
{
    hoist_error_t err = {0};
    due_t d = {.now_ms = now_ms};
    store_schedule_t s;
    /* Collected first: firing writes the table being listed. */
    if (store_schedule_list(controller_store(ctl), true, s_due, &d, &err) !=
        HOIST_OK) {
        log_error("schedules: %s", err.msg);
        return;
    }
    for (size_t i = 0; i < d.n; i++) {
        if (store_schedule_get(controller_store(ctl), d.ids[i], &s, &err) ==
                HOIST_OK &&
            s.state == STORE_SCHEDULE_PENDING) {
            s_fire(ctl, &s, now_ms, started_ms);
        }
    }
}

/* --- auto_deploy --------------------------------------------------------- */

void
promotion_on_release(call_t *c, const char *app, const char *version,
                     const char *lifecycle)
{
    const pipeline_t *p = policy_pipeline(controller_policy(c->ctl));
    const pipeline_lifecycle_t *lc =
        pipeline_lifecycle(p, lifecycle && lifecycle[0] ? lifecycle : NULL);
    for (size_t i = 0; lc && i < lc->count; i++) {
        const pipeline_env_t *e = pipeline_env(p, lc->envs[i]);
        hoist_error_t err = {0};
        int64_t id = 0;
        char target[STORE_TARGET_SIZE], result[STORE_RESULT_SIZE];
        if (!e || !e->auto_deploy) {
            continue;
        }
        snprintf(target, sizeof target, "%s %s -> %s", app, version, e->name);
        if (deployments_start(c->ctl, c->user.name, app, version, e->name,
                              STORE_KIND_DEPLOY, NULL, &id, &err) != HOIST_OK) {
            call_say(c, "auto_deploy to %s: not started: %s\n", e->name,
                     err.msg);
            snprintf(result, sizeof result, "not started: %s", err.msg);
        } else {
            call_say(c, "auto_deploy: deployment %lld to %s\n", (long long)id,
                     e->name);
            json_object_set_new(c->json, "auto_deploy", json_integer(id));
            snprintf(result, sizeof result, "ok: deployment %lld",
                     (long long)id);
        }
        result[strcspn(result, "\n")] = '\0';
        ledger_note(c->ctl, "auto_deploy", target, result, id ? 0 : 1);
    }
}

/* --- release show -------------------------------------------------------- */

typedef struct {
    call_t *c;
    const char *version;
    json_t *list;
} journey_t;

static int
s_journey_row(const store_deployment_t *d, void *arg)
{
    journey_t *j = arg;
    if (strcmp(d->version, j->version) != 0) {
        return 0;
    }
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer(d->id));
    json_object_set_new(o, "env", json_string(d->env));
    json_object_set_new(o, "kind",
                        json_string(store_deploy_kind_name(d->kind)));
    json_object_set_new(o, "state",
                        json_string(store_deploy_state_name(d->state)));
    json_object_set_new(o, "created_by", json_string(d->created_by));
    json_object_set_new(o, "created_at", json_integer(d->created_at));
    json_array_insert_new(j->list, 0, o); /* listed newest first */
    return 0;
}

static int
s_show_approval(const store_approval_t *a, void *arg)
{
    call_t *c = arg;
    call_say(c, "    %s: %s (%s)%s%s\n", a->env, a->user, a->role,
             a->comment[0] ? ": " : "", a->comment);
    json_t *o = json_object();
    json_object_set_new(o, "env", json_string(a->env));
    json_object_set_new(o, "user", json_string(a->user));
    json_object_set_new(o, "role", json_string(a->role));
    json_object_set_new(o, "comment", json_string(a->comment));
    json_object_set_new(o, "created_at", json_integer(a->created_at));
    json_array_append_new(json_object_get(c->json, "approvals"), o);
    return 0;
}

void
promotion_show(call_t *c, const char *app, const char *version)
{
    hoist_error_t err = {0};
    journey_t j = {.c = c, .version = version, .list = json_array()};
    size_t k;
    json_t *d;
    json_object_set_new(c->json, "approvals", json_array());
    call_say(c, "  deployments:\n");
    if (store_deployment_list(controller_store(c->ctl), app, s_journey_row, &j,
                              &err) != HOIST_OK) {
        call_say(c, "    (unreadable: %s)\n", err.msg);
    }
    json_array_foreach(j.list, k, d)
    {
        call_say(c, "    %lld %s %s %s by %s\n",
                 (long long)json_integer_value(json_object_get(d, "id")),
                 json_string_value(json_object_get(d, "kind")),
                 json_string_value(json_object_get(d, "env")),
                 json_string_value(json_object_get(d, "state")),
                 json_string_value(json_object_get(d, "created_by")));
    }
    if (json_array_size(j.list) == 0) {
        call_say(c, "    (none)\n");
    }
    json_object_set_new(c->json, "deployments", j.list);
    call_say(c, "  approvals:\n");
    if (store_approval_list(controller_store(c->ctl), app, version, NULL,
                            s_show_approval, c, &err) != HOIST_OK) {
        call_say(c, "    (unreadable: %s)\n", err.msg);
    }
    if (json_array_size(json_object_get(c->json, "approvals")) == 0) {
        call_say(c, "    (none)\n");
    }
}
