/*
 * store_deployment: the store's deployments: one release going to one
 * environment, running or finished, with what its rollout needs to resume
 * after a restart (strategy, selector, start, halt and cancel flags). See
 * store.h for the interface and store_sql.h for the helpers.
 */
#include "store.h"

#include "store_sql.h"

/* Names of the enum values, as stored and as the CHECK constraints of
 * the schema list them; indexed by the enum value. */
static const char *const s_kinds[] = {"deploy", "rollback"};
static const char *const s_deploy_states[] = {"running", "succeeded", "failed",
                                              "rolled_back", "cancelled"};

#define DEPLOYMENT_SELECT                                                      \
    "SELECT id, app, version, env, kind, state, created_by, created_at,"       \
    " finished_at, strategy, selector, started_ms, halted, halt_reason,"       \
    " continued_ms, cancelled, cancel_rollback FROM deployments"

static void
s_deployment_read(store_sql_row_t *r, void *row)
{
    store_deployment_t *d = row;
    d->id = store_sql_int(r);
    store_sql_text(r, d->app, sizeof d->app);
    store_sql_text(r, d->version, sizeof d->version);
    store_sql_text(r, d->env, sizeof d->env);
    d->kind = store_sql_enum(r, s_kinds, N_OF(s_kinds));
    d->state = store_sql_enum(r, s_deploy_states, N_OF(s_deploy_states));
    store_sql_text(r, d->created_by, sizeof d->created_by);
    d->created_at = store_sql_int(r);
    d->finished_at = store_sql_int(r);
    store_sql_text(r, d->strategy, sizeof d->strategy);
    store_sql_text(r, d->selector, sizeof d->selector);
    d->started_ms = store_sql_int(r);
    d->halted = store_sql_int(r) != 0;
    store_sql_text(r, d->halt_reason, sizeof d->halt_reason);
    d->continued_ms = store_sql_int(r);
    d->cancelled = store_sql_int(r) != 0;
    d->cancel_rollback = store_sql_int(r) != 0;
}

static int
s_deployment_visit(const void *row, const store_sql_cb_t *cb)
{
    return cb->fn.deployment(row, cb->arg);
}

static const store_sql_noun_t s_deployment_noun = {
    "deployments", s_deployment_read, sizeof(store_deployment_t),
    s_deployment_visit};

const char *
store_deploy_kind_name(store_deploy_kind_t kind)
{
    return store_sql_name(s_kinds, N_OF(s_kinds), (int)kind);
}

const char *
store_deploy_state_name(store_deploy_state_t state)
{
    return store_sql_name(s_deploy_states, N_OF(s_deploy_states), (int)state);
}

static hoist_err_t
s_deployment_check(const store_deployment_t *d, hoist_error_t *err)
{
    hoist_err_t e =
        store_sql_check_text("app", d->app, sizeof d->app, true, err);
    if (e == HOIST_OK) {
        e = store_sql_check_text("version", d->version, sizeof d->version, true,
                                 err);
    }
    if (e == HOIST_OK) {
        e = store_sql_check_text("environment", d->env, sizeof d->env, true,
                                 err);
    }
    if (e == HOIST_OK) {
        e = store_sql_check_text("deployment creator", d->created_by,
                                 sizeof d->created_by, true, err);
    }
    if (e == HOIST_OK) {
        e = store_sql_check_text("deployment strategy", d->strategy,
                                 sizeof d->strategy, false, err);
    }
    if (e == HOIST_OK) {
        e = store_sql_check_text("deployment selector", d->selector,
                                 sizeof d->selector, false, err);
    }
    if (e == HOIST_OK && ((unsigned)d->kind >= N_OF(s_kinds) ||
                          (unsigned)d->state >= N_OF(s_deploy_states))) {
        e = error_set(err, HOIST_ERR_USAGE,
                      "deployment of %s %s: kind %d or state %d out of range",
                      d->app, d->version, (int)d->kind, (int)d->state);
    }
    return e;
}

hoist_err_t
store_deployment_create(store_t *s, const store_deployment_t *d, int64_t *id,
                        hoist_error_t *err)
{
    hoist_err_t e = s_deployment_check(d, err);
    if (e != HOIST_OK) {
        return e;
    }
    e = store_sql_exec(
        s, "create deployment",
        "INSERT INTO deployments (app, version, env, kind, state,"
        " created_by, created_at, finished_at, strategy, selector,"
        " started_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        ARGS(A_TEXT(d->app), A_TEXT(d->version), A_TEXT(d->env),
             A_TEXT(s_kinds[d->kind]), A_TEXT(s_deploy_states[d->state]),
             A_TEXT(d->created_by), A_INT(d->created_at), A_INT(d->finished_at),
             A_TEXT(d->strategy), A_TEXT(d->selector), A_INT(d->started_ms)),
        NULL, err);
    if (e != HOIST_OK && s->fail == STORE_SQL_FAIL_FOREIGN) {
        return error_set(err, STORE_ERR_NOTFOUND, "no release %s %s", d->app,
                         d->version);
    }
    if (e == HOIST_OK) {
        *id = sqlite3_last_insert_rowid(s->db);
    }
    return e;
}

hoist_err_t
store_deployment_get(store_t *s, int64_t id, store_deployment_t *out,
                     hoist_error_t *err)
{
    return store_sql_get(s, &s_deployment_noun,
                         DEPLOYMENT_SELECT " WHERE id = ?1", ARGS(A_INT(id)),
                         out, err, "no deployment %lld", (long long)id);
}

hoist_err_t
store_deployment_list(store_t *s, const char *app, store_deployment_fn fn,
                      void *arg, hoist_error_t *err)
{
    store_sql_cb_t cb = {.fn.deployment = fn, .arg = arg};
    return store_sql_each(s, &s_deployment_noun,
                          DEPLOYMENT_SELECT
                          " WHERE ?1 IS NULL OR app = ?1"
                          " ORDER BY created_at DESC, id DESC",
                          ARGS(A_OPT(app)), &cb, err);
}

hoist_err_t
store_deployment_list_running(store_t *s, store_deployment_fn fn, void *arg,
                              hoist_error_t *err)
{
    store_sql_cb_t cb = {.fn.deployment = fn, .arg = arg};
    return store_sql_each(s, &s_deployment_noun,
                          DEPLOYMENT_SELECT
                          " WHERE state = 'running' ORDER BY id",
                          NO_ARGS, &cb, err);
}

hoist_err_t
store_deployment_set_flags(store_t *s, const store_deployment_t *d,
                           hoist_error_t *err)
{
    hoist_err_t e = store_sql_check_text("halt reason", d->halt_reason,
                                         sizeof d->halt_reason, false, err);
    if (e != HOIST_OK) {
        return e;
    }
    return store_sql_change(
        s, "set deployment flags",
        "UPDATE deployments SET halted = ?1, halt_reason = ?2,"
        " continued_ms = ?3, cancelled = ?4, cancel_rollback = ?5"
        " WHERE id = ?6",
        ARGS(A_INT(d->halted ? 1 : 0), A_TEXT(d->halt_reason),
             A_INT(d->continued_ms), A_INT(d->cancelled ? 1 : 0),
             A_INT(d->cancel_rollback ? 1 : 0), A_INT(d->id)),
        err, "no deployment %lld", (long long)d->id);
}

hoist_err_t
store_deployment_set_state(store_t *s, int64_t id, store_deploy_state_t state,
                           int64_t now, hoist_error_t *err)
{
    if ((unsigned)state >= N_OF(s_deploy_states)) {
        return error_set(err, HOIST_ERR_USAGE, "deployment %lld: no state %d",
                         (long long)id, (int)state);
    }
    int64_t finished = state == STORE_DEPLOY_RUNNING ? 0 : now;
    return store_sql_change(
        s, "set deployment state",
        "UPDATE deployments SET state = ?1, finished_at = ?2 WHERE id = ?3",
        ARGS(A_TEXT(s_deploy_states[state]), A_INT(finished), A_INT(id)), err,
        "no deployment %lld", (long long)id);
}
