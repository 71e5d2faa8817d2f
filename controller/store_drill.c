/*
 * store_drill: the store's DR drills and failovers (issue 6) and the
 * timeline of their steps. A controller that restarts in the middle of a
 * failover must find out where it stood, so every change of a drill is
 * written here before it is acted on. The store only keeps the rows: which
 * transitions are allowed is controller/drill.c's to decide, so
 * store_drill_update writes whatever state it is given. See store.h for
 * the interface and store_sql.h for the helpers.
 */
#include "store.h"

#include "store_sql.h"

/* Names of the states, as stored and as the CHECK constraint of the schema
 * lists them; indexed by the enum value. */
static const char *const s_drill_states[] = {
    "scheduled", "running", "succeeded", "failed", "refused", "cancelled"};

#define DRILL_SELECT                                                           \
    "SELECT id, app, from_env, to_env, failover, failback, sync, state,"       \
    " created_by, created_at, at_ms, every_ms, started_ms, healthy_ms,"        \
    " finished_ms, coalesce(sync_deployment, 0), phase, reason FROM drills"

#define STEP_SELECT                                                            \
    "SELECT drill_id, seq, name, agent, state, started_ms, finished_ms,"       \
    " message FROM drill_steps"

static void
s_drill_read(store_sql_row_t *r, void *row)
{
    store_drill_t *d = row;
    d->id = store_sql_int(r);
    store_sql_text(r, d->app, sizeof d->app);
    store_sql_text(r, d->from, sizeof d->from);
    store_sql_text(r, d->to, sizeof d->to);
    d->failover = store_sql_int(r) != 0;
    d->failback = store_sql_int(r) != 0;
    d->sync = store_sql_int(r) != 0;
    d->state = store_sql_enum(r, s_drill_states, N_OF(s_drill_states));
    store_sql_text(r, d->created_by, sizeof d->created_by);
    d->created_at = store_sql_int(r);
    d->at_ms = store_sql_int(r);
    d->every_ms = store_sql_int(r);
    d->started_ms = store_sql_int(r);
    d->healthy_ms = store_sql_int(r);
    d->finished_ms = store_sql_int(r);
    d->sync_deployment = store_sql_int(r);
    store_sql_text(r, d->phase, sizeof d->phase);
    store_sql_text(r, d->reason, sizeof d->reason);
}

static void
s_step_read(store_sql_row_t *r, void *row)
{
    store_drill_step_t *t = row;
    t->drill_id = store_sql_int(r);
    t->seq = store_sql_int(r);
    store_sql_text(r, t->name, sizeof t->name);
    store_sql_text(r, t->agent, sizeof t->agent);
    store_sql_text(r, t->state, sizeof t->state);
    t->started_ms = store_sql_int(r);
    t->finished_ms = store_sql_int(r);
    store_sql_text(r, t->message, sizeof t->message);
}

/* The list callbacks travel in cb->arg: store_sql_cb_t's union names the
 * nouns of store_sql.h, and this one keeps to its own file. */
typedef struct {
    store_drill_fn fn;
    void *arg;
} drill_cb_t;

typedef struct {
    store_drill_step_fn fn;
    void *arg;
} step_cb_t;

static int
s_drill_visit(const void *row, const store_sql_cb_t *cb)
{
    const drill_cb_t *w = cb->arg;
    return w->fn(row, w->arg);
}

static int
s_step_visit(const void *row, const store_sql_cb_t *cb)
{
    const step_cb_t *w = cb->arg;
    return w->fn(row, w->arg);
}

static const store_sql_noun_t s_drill_noun = {
    "drills", s_drill_read, sizeof(store_drill_t), s_drill_visit};

static const store_sql_noun_t s_step_noun = {
    "drill_steps", s_step_read, sizeof(store_drill_step_t), s_step_visit};

const char *
store_drill_state_name(store_drill_state_t state)
{
    return store_sql_name(s_drill_states, N_OF(s_drill_states), (int)state);
}

/* What an update may change: the state, the numbers and the two texts the
 * drill gathers as it runs. */
static hoist_err_t
s_drill_check_mutable(const store_drill_t *d, hoist_error_t *err)
{
    if ((unsigned)d->state >= N_OF(s_drill_states)) {
        return error_set(err, HOIST_ERR_USAGE, "drill state %d is unknown",
                         (int)d->state);
    }
    if (d->every_ms < 0 || d->sync_deployment < 0) {
        return error_set(err, HOIST_ERR_USAGE,
                         "drill period %lld or sync deployment %lld is "
                         "negative",
                         (long long)d->every_ms, (long long)d->sync_deployment);
    }
    hoist_err_t e = store_sql_check_text("drill phase", d->phase,
                                         sizeof d->phase, false, err);
    if (e == HOIST_OK) {
        e = store_sql_check_text("drill reason", d->reason, sizeof d->reason,
                                 false, err);
    }
    return e;
}

/* Everything an add needs: what an update checks, and the fields that
 * name the drill, which an update never changes. */
static hoist_err_t
s_drill_check(const store_drill_t *d, hoist_error_t *err)
{
    hoist_err_t e =
        store_sql_check_text("app", d->app, sizeof d->app, true, err);
    if (e == HOIST_OK) {
        e = store_sql_check_text("drill source environment", d->from,
                                 sizeof d->from, true, err);
    }
    if (e == HOIST_OK) {
        e = store_sql_check_text("drill target environment", d->to,
                                 sizeof d->to, true, err);
    }
    if (e == HOIST_OK) {
        e = store_sql_check_text("drill creator", d->created_by,
                                 sizeof d->created_by, true, err);
    }
    if (e == HOIST_OK) {
        e = s_drill_check_mutable(d, err);
    }
    return e;
}

hoist_err_t
store_drill_add(store_t *s, const store_drill_t *d, int64_t *id,
                hoist_error_t *err)
{
    hoist_err_t e = s_drill_check(d, err);
    if (e != HOIST_OK) {
        return e;
    }
    e = store_sql_exec(
        s, "add drill",
        "INSERT INTO drills (app, from_env, to_env, failover, failback, sync,"
        " state, created_by, created_at, at_ms, every_ms, started_ms,"
        " healthy_ms, finished_ms, sync_deployment, phase, reason)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13,"
        " ?14, nullif(?15, 0), ?16, ?17)",
        ARGS(A_TEXT(d->app), A_TEXT(d->from), A_TEXT(d->to), A_INT(d->failover),
             A_INT(d->failback), A_INT(d->sync),
             A_TEXT(s_drill_states[d->state]), A_TEXT(d->created_by),
             A_INT(d->created_at), A_INT(d->at_ms), A_INT(d->every_ms),
             A_INT(d->started_ms), A_INT(d->healthy_ms), A_INT(d->finished_ms),
             A_INT(d->sync_deployment), A_TEXT(d->phase), A_TEXT(d->reason)),
        NULL, err);
    if (e != HOIST_OK && s->fail == STORE_SQL_FAIL_FOREIGN) {
        return error_set(err, STORE_ERR_NOTFOUND,
                         "drill of %s: no deployment %lld to sync with", d->app,
                         (long long)d->sync_deployment);
    }
    if (e == HOIST_OK) {
        *id = sqlite3_last_insert_rowid(s->db);
    }
    return e;
}

hoist_err_t
store_drill_get(store_t *s, int64_t id, store_drill_t *out, hoist_error_t *err)
{
    return store_sql_get(
        s, &s_drill_noun, DRILL_SELECT " WHERE id = ?1", ARGS(A_INT(id)), out,
        err, "no drill %lld; `hoist drill list` shows them", (long long)id);
}

hoist_err_t
store_drill_update(store_t *s, const store_drill_t *d, hoist_error_t *err)
{
    hoist_err_t e = s_drill_check_mutable(d, err);
    if (e != HOIST_OK) {
        error_prefix(err, "drill %lld", (long long)d->id);
        return e;
    }
    e = store_sql_change(
        s, "update drill",
        "UPDATE drills SET failover = ?1, failback = ?2, sync = ?3,"
        " state = ?4, at_ms = ?5, every_ms = ?6, started_ms = ?7,"
        " healthy_ms = ?8, finished_ms = ?9,"
        " sync_deployment = nullif(?10, 0), phase = ?11, reason = ?12"
        " WHERE id = ?13",
        ARGS(A_INT(d->failover), A_INT(d->failback), A_INT(d->sync),
             A_TEXT(s_drill_states[d->state]), A_INT(d->at_ms),
             A_INT(d->every_ms), A_INT(d->started_ms), A_INT(d->healthy_ms),
             A_INT(d->finished_ms), A_INT(d->sync_deployment), A_TEXT(d->phase),
             A_TEXT(d->reason), A_INT(d->id)),
        err, "no drill %lld; `hoist drill list` shows them", (long long)d->id);
    if (e != HOIST_OK && s->fail == STORE_SQL_FAIL_FOREIGN) {
        return error_set(err, STORE_ERR_NOTFOUND,
                         "drill %lld: no deployment %lld to sync with",
                         (long long)d->id, (long long)d->sync_deployment);
    }
    return e;
}

hoist_err_t
store_drill_list(store_t *s, int state, store_drill_fn fn, void *arg,
                 hoist_error_t *err)
{
    drill_cb_t w = {fn, arg};
    store_sql_cb_t cb = {.arg = &w};
    if (state == -1) {
        return store_sql_each(s, &s_drill_noun,
                              DRILL_SELECT " ORDER BY id DESC", NO_ARGS, &cb,
                              err);
    }
    if (state < 0 || (size_t)state >= N_OF(s_drill_states)) {
        return error_set(err, HOIST_ERR_USAGE,
                         "cannot list drills in state %d: it is unknown",
                         state);
    }
    return store_sql_each(s, &s_drill_noun,
                          DRILL_SELECT " WHERE state = ?1 ORDER BY at_ms, id",
                          ARGS(A_TEXT(s_drill_states[state])), &cb, err);
}

/* A step's state and message, which an add and an update both write. */
static hoist_err_t
s_step_check_mutable(const store_drill_step_t *t, hoist_error_t *err)
{
    hoist_err_t e = store_sql_check_text("drill step state", t->state,
                                         sizeof t->state, true, err);
    if (e == HOIST_OK) {
        e = store_sql_check_text("drill step message", t->message,
                                 sizeof t->message, false, err);
    }
    return e;
}

hoist_err_t
store_drill_step_add(store_t *s, const store_drill_step_t *t, int64_t *seq,
                     hoist_error_t *err)
{
    hoist_err_t e =
        store_sql_check_text("drill step", t->name, sizeof t->name, true, err);
    if (e == HOIST_OK) {
        e = store_sql_check_text("drill step agent", t->agent, sizeof t->agent,
                                 false, err);
    }
    if (e == HOIST_OK) {
        e = s_step_check_mutable(t, err);
    }
    if (e != HOIST_OK) {
        error_prefix(err, "drill %lld", (long long)t->drill_id);
        return e;
    }
    e = store_sql_exec(s, "add drill step",
                       "INSERT INTO drill_steps (drill_id, name, agent, state,"
                       " started_ms, finished_ms, message)"
                       " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                       ARGS(A_INT(t->drill_id), A_TEXT(t->name),
                            A_TEXT(t->agent), A_TEXT(t->state),
                            A_INT(t->started_ms), A_INT(t->finished_ms),
                            A_TEXT(t->message)),
                       NULL, err);
    if (e != HOIST_OK && s->fail == STORE_SQL_FAIL_FOREIGN) {
        return error_set(err, STORE_ERR_NOTFOUND,
                         "no drill %lld; `hoist drill list` shows them",
                         (long long)t->drill_id);
    }
    if (e == HOIST_OK) {
        *seq = sqlite3_last_insert_rowid(s->db);
    }
    return e;
}

hoist_err_t
store_drill_step_update(store_t *s, const store_drill_step_t *t,
                        hoist_error_t *err)
{
    hoist_err_t e = s_step_check_mutable(t, err);
    if (e != HOIST_OK) {
        error_prefix(err, "drill %lld step %lld", (long long)t->drill_id,
                     (long long)t->seq);
        return e;
    }
    return store_sql_change(
        s, "update drill step",
        "UPDATE drill_steps SET state = ?1, finished_ms = ?2, message = ?3"
        " WHERE drill_id = ?4 AND seq = ?5",
        ARGS(A_TEXT(t->state), A_INT(t->finished_ms), A_TEXT(t->message),
             A_INT(t->drill_id), A_INT(t->seq)),
        err, "drill %lld has no step %lld", (long long)t->drill_id,
        (long long)t->seq);
}

hoist_err_t
store_drill_step_list(store_t *s, int64_t id, store_drill_step_fn fn, void *arg,
                      hoist_error_t *err)
{
    step_cb_t w = {fn, arg};
    store_sql_cb_t cb = {.arg = &w};
    return store_sql_each(s, &s_step_noun,
                          STEP_SELECT " WHERE drill_id = ?1 ORDER BY seq",
                          ARGS(A_INT(id)), &cb, err);
}
