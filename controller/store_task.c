/*
 * store_task: the store's tasks: what one agent did in one deployment,
 * with the release it ran before (what a rollback returns it to) and when
 * it started, last reported and finished (what a progress deadline is
 * measured against). See store.h for the interface and store_sql.h for
 * the helpers.
 */
#include "store.h"

#include <string.h>

#include "store_sql.h"

/* Names of the enum values, as stored and as the CHECK constraints of
 * the schema list them; indexed by the enum value. */
static const char *const s_task_states[] = {
    "pending",  "sent",    "running", "succeeded", "failed",   "rolled_back",
    "rejected", "unknown", "skipped", "reverting", "reverted", "revert_failed"};

#define TASK_SELECT                                                            \
    "SELECT deployment_id, agent, state, step, live_version, previous,"        \
    " started_ms, progress_ms, finished_ms, updated_at, message FROM tasks"

static void
s_task_read(store_sql_row_t *r, void *row)
{
    store_task_t *t = row;
    t->deployment_id = store_sql_int(r);
    store_sql_text(r, t->agent, sizeof t->agent);
    t->state = store_sql_enum(r, s_task_states, N_OF(s_task_states));
    store_sql_text(r, t->step, sizeof t->step);
    store_sql_text(r, t->live_version, sizeof t->live_version);
    store_sql_text(r, t->previous, sizeof t->previous);
    t->started_ms = store_sql_int(r);
    t->progress_ms = store_sql_int(r);
    t->finished_ms = store_sql_int(r);
    t->updated_at = store_sql_int(r);
    store_sql_text(r, t->message, sizeof t->message);
}

static int
s_task_visit(const void *row, const store_sql_cb_t *cb)
{
    return cb->fn.task(row, cb->arg);
}

static const store_sql_noun_t s_task_noun = {
    "tasks", s_task_read, sizeof(store_task_t), s_task_visit};

const char *
store_task_state_name(store_task_state_t state)
{
    return store_sql_name(s_task_states, N_OF(s_task_states), (int)state);
}

void
store_task_set_message(store_task_t *t, const char *msg, size_t len)
{
    size_t start = 0;
    if (len > STORE_MESSAGE_MAX) {
        start = len - STORE_MESSAGE_MAX;
        /* Skip the continuation bytes of a character cut in two. */
        for (int i = 0; i < 3 && ((unsigned char)msg[start] & 0xc0) == 0x80;
             i++) {
            start++;
        }
    }
    size_t n = len - start;
    if (n > 0) {
        memcpy(t->message, msg + start, n);
    }
    t->message[n] = '\0';
    /* A NUL in the output would hide what follows it. */
    for (size_t i = 0; i < n; i++) {
        if (t->message[i] == '\0') {
            t->message[i] = '?';
        }
    }
}

static hoist_err_t
s_task_check(const store_task_t *t, hoist_error_t *err)
{
    hoist_err_t e = store_sql_check_text("task agent", t->agent,
                                         sizeof t->agent, true, err);
    if (e == HOIST_OK) {
        e = store_sql_check_text("task step", t->step, sizeof t->step, false,
                                 err);
    }
    if (e == HOIST_OK) {
        e = store_sql_check_text("live version", t->live_version,
                                 sizeof t->live_version, false, err);
    }
    if (e == HOIST_OK) {
        e = store_sql_check_text("previous version", t->previous,
                                 sizeof t->previous, false, err);
    }
    if (e == HOIST_OK) {
        e = store_sql_check_text("task message", t->message, sizeof t->message,
                                 false, err);
    }
    if (e == HOIST_OK && (unsigned)t->state >= N_OF(s_task_states)) {
        e = error_set(err, HOIST_ERR_USAGE, "task of agent '%s': no state %d",
                      t->agent, (int)t->state);
    }
    return e;
}

/* Says which parent of a task that broke a foreign key is missing. */
static hoist_err_t
s_task_orphan(store_t *s, const store_task_t *t, hoist_error_t *err)
{
    int64_t n = 0;
    hoist_err_t e = store_sql_get(
        s, &store_sql_count_noun,
        "SELECT count(*) FROM deployments WHERE id = ?1",
        ARGS(A_INT(t->deployment_id)), &n, err, "count gave no answer");
    if (e != HOIST_OK) {
        return e;
    }
    if (n == 0) {
        return error_set(err, STORE_ERR_NOTFOUND, "no deployment %lld",
                         (long long)t->deployment_id);
    }
    return error_set(err, STORE_ERR_NOTFOUND, "no agent '%s'", t->agent);
}

hoist_err_t
store_task_create(store_t *s, const store_task_t *t, hoist_error_t *err)
{
    hoist_err_t e = s_task_check(t, err);
    if (e != HOIST_OK) {
        return e;
    }
    e = store_sql_exec(s, "create task",
                       "INSERT INTO tasks (deployment_id, agent, state, step,"
                       " message, live_version, previous, started_ms,"
                       " progress_ms, finished_ms, updated_at)"
                       " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                       ARGS(A_INT(t->deployment_id), A_TEXT(t->agent),
                            A_TEXT(s_task_states[t->state]), A_TEXT(t->step),
                            A_TEXT(t->message), A_TEXT(t->live_version),
                            A_TEXT(t->previous), A_INT(t->started_ms),
                            A_INT(t->progress_ms), A_INT(t->finished_ms),
                            A_INT(t->updated_at)),
                       NULL, err);
    if (e != HOIST_OK && s->fail == STORE_SQL_FAIL_FOREIGN) {
        return s_task_orphan(s, t, err);
    }
    if (e != HOIST_OK && s->fail == STORE_SQL_FAIL_UNIQUE) {
        return error_set(err, STORE_ERR_EXISTS,
                         "deployment %lld already has a task for agent '%s'",
                         (long long)t->deployment_id, t->agent);
    }
    return e;
}

hoist_err_t
store_task_get(store_t *s, int64_t deployment_id, const char *agent,
               store_task_t *out, hoist_error_t *err)
{
    return store_sql_get(s, &s_task_noun,
                         TASK_SELECT " WHERE deployment_id = ?1 AND agent = ?2",
                         ARGS(A_INT(deployment_id), A_TEXT(agent)), out, err,
                         "no task for agent '%s' in deployment %lld", agent,
                         (long long)deployment_id);
}

hoist_err_t
store_task_list(store_t *s, int64_t deployment_id, store_task_fn fn, void *arg,
                hoist_error_t *err)
{
    store_sql_cb_t cb = {.fn.task = fn, .arg = arg};
    return store_sql_each(
        s, &s_task_noun, TASK_SELECT " WHERE deployment_id = ?1 ORDER BY agent",
        ARGS(A_INT(deployment_id)), &cb, err);
}

hoist_err_t
store_task_update(store_t *s, const store_task_t *t, hoist_error_t *err)
{
    hoist_err_t e = s_task_check(t, err);
    if (e != HOIST_OK) {
        return e;
    }
    return store_sql_change(
        s, "update task",
        "UPDATE tasks SET state = ?1, step = ?2, message = ?3,"
        " live_version = ?4, previous = ?5, started_ms = ?6,"
        " progress_ms = ?7, finished_ms = ?8, updated_at = ?9"
        " WHERE deployment_id = ?10 AND agent = ?11",
        ARGS(A_TEXT(s_task_states[t->state]), A_TEXT(t->step),
             A_TEXT(t->message), A_TEXT(t->live_version), A_TEXT(t->previous),
             A_INT(t->started_ms), A_INT(t->progress_ms), A_INT(t->finished_ms),
             A_INT(t->updated_at), A_INT(t->deployment_id), A_TEXT(t->agent)),
        err, "no task for agent '%s' in deployment %lld", t->agent,
        (long long)t->deployment_id);
}
