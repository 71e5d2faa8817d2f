/*
 * store_schedule: the store's scheduled promotions, which must outlive a
 * controller restart. A schedule is created pending and ends exactly once:
 *
 *              +--> fired      (its gates passed; deployment_id is set)
 *   pending ---+--> refused    (its gates failed when it came due)
 *              +--> cancelled  (`hoist schedule cancel`)
 *
 * store_schedule_add creates it; store_schedule_finish performs every
 * transition, in one UPDATE that matches only a pending row, so that a
 * cancel racing the scheduler cannot both win.
 */
#include "store.h"

#include <stdlib.h>

#include "store_sql.h"

/* Names of the states, as stored and as the CHECK constraint of the schema
 * lists them; indexed by the enum value. */
static const char *const s_schedule_states[] = {"pending", "fired", "refused",
                                                "cancelled"};

#define SCHEDULE_SELECT                                                        \
    "SELECT id, app, version, env, at_ms, at_text, state, created_by,"         \
    " created_at, override_freeze, reason, note,"                              \
    " coalesce(deployment_id, 0) AS deployment_id FROM schedules"

static void
s_schedule_read(store_sql_row_t *r, void *row)
{
    store_schedule_t *sch = row;
    sch->id = store_sql_int(r);
    store_sql_text(r, sch->app, sizeof sch->app);
    store_sql_text(r, sch->version, sizeof sch->version);
    store_sql_text(r, sch->env, sizeof sch->env);
    sch->at_ms = store_sql_int(r);
    store_sql_text(r, sch->at_text, sizeof sch->at_text);
    sch->state = store_sql_enum(r, s_schedule_states, N_OF(s_schedule_states));
    store_sql_text(r, sch->created_by, sizeof sch->created_by);
    sch->created_at = store_sql_int(r);
    sch->override_freeze = store_sql_int(r) != 0;
    store_sql_text(r, sch->reason, sizeof sch->reason);
    store_sql_text(r, sch->note, sizeof sch->note);
    sch->deployment_id = store_sql_int(r);
}

static int
s_schedule_visit(const void *row, const store_sql_cb_t *cb)
{
    return cb->fn.schedule(row, cb->arg);
}

static const store_sql_noun_t s_schedule_noun = {
    "schedules", s_schedule_read, sizeof(store_schedule_t), s_schedule_visit};

const char *
store_schedule_state_name(store_schedule_state_t state)
{
    return store_sql_name(s_schedule_states, N_OF(s_schedule_states),
                          (int)state);
}

static hoist_err_t
s_schedule_check(const store_schedule_t *sch, hoist_error_t *err)
{
    hoist_err_t e =
        store_sql_check_text("app", sch->app, sizeof sch->app, true, err);
    if (e == HOIST_OK) {
        e = store_sql_check_text("version", sch->version, sizeof sch->version,
                                 true, err);
    }
    if (e == HOIST_OK) {
        e = store_sql_check_text("environment", sch->env, sizeof sch->env, true,
                                 err);
    }
    if (e == HOIST_OK) {
        e = store_sql_check_text("schedule time", sch->at_text,
                                 sizeof sch->at_text, false, err);
    }
    if (e == HOIST_OK) {
        e = store_sql_check_text("schedule creator", sch->created_by,
                                 sizeof sch->created_by, true, err);
    }
    if (e == HOIST_OK) {
        e = store_sql_check_text("override reason", sch->reason,
                                 sizeof sch->reason, false, err);
    }
    return e;
}

hoist_err_t
store_schedule_add(store_t *s, const store_schedule_t *sch, int64_t *id,
                   hoist_error_t *err)
{
    hoist_err_t e = s_schedule_check(sch, err);
    if (e != HOIST_OK) {
        return e;
    }
    e = store_sql_exec(
        s, "add schedule",
        "INSERT INTO schedules (app, version, env, at_ms, at_text, state,"
        " created_by, created_at, override_freeze, reason)"
        " VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?6, ?7, ?8, ?9)",
        ARGS(A_TEXT(sch->app), A_TEXT(sch->version), A_TEXT(sch->env),
             A_INT(sch->at_ms), A_TEXT(sch->at_text), A_TEXT(sch->created_by),
             A_INT(sch->created_at), A_INT(sch->override_freeze),
             A_TEXT(sch->reason)),
        NULL, err);
    if (e != HOIST_OK && s->fail == STORE_SQL_FAIL_FOREIGN) {
        return error_set(err, STORE_ERR_NOTFOUND,
                         "no release %s %s; `hoist release list` shows them",
                         sch->app, sch->version);
    }
    if (e == HOIST_OK) {
        *id = sqlite3_last_insert_rowid(s->db);
    }
    return e;
}

hoist_err_t
store_schedule_get(store_t *s, int64_t id, store_schedule_t *out,
                   hoist_error_t *err)
{
    return store_sql_get(s, &s_schedule_noun, SCHEDULE_SELECT " WHERE id = ?1",
                         ARGS(A_INT(id)), out, err,
                         "no schedule %lld; `hoist schedule list` shows them",
                         (long long)id);
}

hoist_err_t
store_schedule_list(store_t *s, bool pending_only, store_schedule_fn fn,
                    void *arg, hoist_error_t *err)
{
    store_sql_cb_t cb = {.fn.schedule = fn, .arg = arg};
    return store_sql_each(s, &s_schedule_noun,
                          SCHEDULE_SELECT " WHERE ?1 = 0 OR state = 'pending'"
                                          " ORDER BY at_ms, id",
                          ARGS(A_INT(pending_only)), &cb, err);
}

/* Says why schedule ID, which the finishing UPDATE did not match, cannot
 * be finished: it does not exist, or it already ended (and a row that
 * ended never changes again, so what is read here is what it became). */
static hoist_err_t
s_schedule_not_pending(store_t *s, int64_t id, hoist_error_t *err)
{
    store_schedule_t *sch = calloc(1, sizeof *sch);
    if (!sch) {
        return error_set(err, HOIST_ERR_NOMEM, "out of memory");
    }
    hoist_err_t e = store_schedule_get(s, id, sch, err);
    if (e == HOIST_OK) {
        e = error_set(err, HOIST_ERR_STATE,
                      "schedule %lld is no longer pending: it was %s%s%s%s",
                      (long long)id, store_schedule_state_name(sch->state),
                      sch->note[0] ? " (" : "", sch->note,
                      sch->note[0] ? ")" : "");
    }
    free(sch);
    return e;
}

hoist_err_t
store_schedule_finish(store_t *s, int64_t id, store_schedule_state_t state,
                      const char *note, int64_t deployment_id,
                      hoist_error_t *err)
{
    if (state == STORE_SCHEDULE_PENDING ||
        (unsigned)state >= N_OF(s_schedule_states) || deployment_id < 0) {
        return error_set(err, HOIST_ERR_USAGE,
                         "schedule %lld: cannot end in state %d with "
                         "deployment %lld",
                         (long long)id, (int)state, (long long)deployment_id);
    }
    note = note ? note : "";
    hoist_err_t e = store_sql_check_text("schedule note", note,
                                         STORE_RESULT_SIZE, false, err);
    if (e != HOIST_OK) {
        error_prefix(err, "schedule %lld", (long long)id);
        return e;
    }
    int changes = 0;
    e = store_sql_exec(s, "finish schedule",
                       "UPDATE schedules SET state = ?1, note = ?2,"
                       " deployment_id = nullif(?3, 0)"
                       " WHERE id = ?4 AND state = 'pending'",
                       ARGS(A_TEXT(s_schedule_states[state]), A_TEXT(note),
                            A_INT(deployment_id), A_INT(id)),
                       &changes, err);
    if (e != HOIST_OK && s->fail == STORE_SQL_FAIL_FOREIGN) {
        return error_set(err, STORE_ERR_NOTFOUND,
                         "schedule %lld: no deployment %lld", (long long)id,
                         (long long)deployment_id);
    }
    if (e == HOIST_OK && changes == 0) {
        return s_schedule_not_pending(s, id, err);
    }
    return e;
}
