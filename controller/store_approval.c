/*
 * store_approval: the store's approvals: a user's "okay to release" of one
 * release for one environment, with the role they held and a comment. A
 * user approves a release for an environment once; how many approvals
 * from which role a promotion needs is the gates' question, not the
 * store's.
 */
#include "store.h"

#include "store_sql.h"

#define APPROVAL_SELECT                                                        \
    "SELECT app, version, env, user, role, comment, created_at"                \
    " FROM approvals"

static void
s_approval_read(store_sql_row_t *r, void *row)
{
    store_approval_t *a = row;
    store_sql_text(r, a->app, sizeof a->app);
    store_sql_text(r, a->version, sizeof a->version);
    store_sql_text(r, a->env, sizeof a->env);
    store_sql_text(r, a->user, sizeof a->user);
    store_sql_text(r, a->role, sizeof a->role);
    store_sql_text(r, a->comment, sizeof a->comment);
    a->created_at = store_sql_int(r);
}

static int
s_approval_visit(const void *row, const store_sql_cb_t *cb)
{
    return cb->fn.approval(row, cb->arg);
}

static const store_sql_noun_t s_approval_noun = {
    "approvals", s_approval_read, sizeof(store_approval_t), s_approval_visit};

static hoist_err_t
s_approval_check(const store_approval_t *a, hoist_error_t *err)
{
    hoist_err_t e =
        store_sql_check_text("app", a->app, sizeof a->app, true, err);
    if (e == HOIST_OK) {
        e = store_sql_check_text("version", a->version, sizeof a->version, true,
                                 err);
    }
    if (e == HOIST_OK) {
        e = store_sql_check_text("environment", a->env, sizeof a->env, true,
                                 err);
    }
    if (e == HOIST_OK) {
        e = store_sql_check_text("approver", a->user, sizeof a->user, true,
                                 err);
    }
    if (e == HOIST_OK) {
        e = store_sql_check_text("approver role", a->role, sizeof a->role, true,
                                 err);
    }
    if (e == HOIST_OK) {
        e = store_sql_check_text("approval comment", a->comment,
                                 sizeof a->comment, false, err);
    }
    return e;
}

hoist_err_t
store_approval_add(store_t *s, const store_approval_t *a, hoist_error_t *err)
{
    hoist_err_t e = s_approval_check(a, err);
    if (e != HOIST_OK) {
        return e;
    }
    e = store_sql_exec(
        s, "add approval",
        "INSERT INTO approvals (app, version, env, user, role, comment,"
        " created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        ARGS(A_TEXT(a->app), A_TEXT(a->version), A_TEXT(a->env),
             A_TEXT(a->user), A_TEXT(a->role), A_TEXT(a->comment),
             A_INT(a->created_at)),
        NULL, err);
    if (e != HOIST_OK && s->fail == STORE_SQL_FAIL_UNIQUE) {
        return error_set(err, STORE_ERR_EXISTS,
                         "'%s' already approved %s %s for %s", a->user, a->app,
                         a->version, a->env);
    }
    if (e != HOIST_OK && s->fail == STORE_SQL_FAIL_FOREIGN) {
        return error_set(err, STORE_ERR_NOTFOUND,
                         "no release %s %s; `hoist release list` shows them",
                         a->app, a->version);
    }
    return e;
}

hoist_err_t
store_approval_list(store_t *s, const char *app, const char *version,
                    const char *env, store_approval_fn fn, void *arg,
                    hoist_error_t *err)
{
    store_sql_cb_t cb = {.fn.approval = fn, .arg = arg};
    return store_sql_each(s, &s_approval_noun,
                          APPROVAL_SELECT " WHERE app = ?1 AND version = ?2"
                                          " AND (?3 IS NULL OR env = ?3)"
                                          " ORDER BY created_at, id",
                          ARGS(A_TEXT(app), A_TEXT(version), A_OPT(env)), &cb,
                          err);
}
