/*
 * store_user: the store's users: the people who may talk to the controller,
 * each a CURVE key with a role, optionally scoped to one environment. See
 * store.h for the interface and store_sql.h for the helpers.
 */
#include "store.h"

#include "store_sql.h"

#define USER_SELECT "SELECT name, role, pubkey, env, created_at FROM users"

static void
s_user_read(store_sql_row_t *r, void *row)
{
    store_user_t *u = row;
    store_sql_text(r, u->name, sizeof u->name);
    store_sql_text(r, u->role, sizeof u->role);
    store_sql_text(r, u->pubkey, sizeof u->pubkey);
    store_sql_text(r, u->env, sizeof u->env);
    u->created_at = store_sql_int(r);
}

static int
s_user_visit(const void *row, const store_sql_cb_t *cb)
{
    return cb->fn.user(row, cb->arg);
}

static const store_sql_noun_t s_user_noun = {
    "users", s_user_read, sizeof(store_user_t), s_user_visit};

static hoist_err_t
s_user_check(const store_user_t *u, hoist_error_t *err)
{
    hoist_err_t e =
        store_sql_check_text("user name", u->name, sizeof u->name, true, err);
    if (e == HOIST_OK) {
        e = store_sql_check_text("user role", u->role, sizeof u->role, true,
                                 err);
    }
    if (e == HOIST_OK) {
        e = store_sql_check_key("user", u->name, u->pubkey, err);
    }
    if (e == HOIST_OK) {
        e = store_sql_check_text("user environment", u->env, sizeof u->env,
                                 false, err);
    }
    return e;
}

hoist_err_t
store_user_add(store_t *s, const store_user_t *u, hoist_error_t *err)
{
    int changes = 0;
    hoist_err_t e = s_user_check(u, err);
    if (e != HOIST_OK) {
        return e;
    }
    e = store_sql_exec(
        s, "add user",
        "INSERT INTO users (name, role, pubkey, env, created_at)"
        " SELECT ?1, ?2, ?3, ?4, ?5"
        " WHERE NOT EXISTS (SELECT 1 FROM agents WHERE pubkey = ?3)",
        ARGS(A_TEXT(u->name), A_TEXT(u->role), A_TEXT(u->pubkey), A_OPT(u->env),
             A_INT(u->created_at)),
        &changes, err);
    if (e == HOIST_OK && changes == 0) {
        return error_set(err, STORE_ERR_EXISTS,
                         "user '%s': the key belongs to an agent", u->name);
    }
    if (e != HOIST_OK && s->fail == STORE_SQL_FAIL_UNIQUE) {
        if (store_sql_any(s, "SELECT count(*) FROM users WHERE name = ?1",
                          u->name)) {
            return error_set(err, STORE_ERR_EXISTS, "user '%s' already exists",
                             u->name);
        }
        return error_set(err, STORE_ERR_EXISTS,
                         "user '%s': the key belongs to another user; "
                         "see `hoist users list`",
                         u->name);
    }
    return e;
}

hoist_err_t
store_user_get(store_t *s, const char *name, store_user_t *out,
               hoist_error_t *err)
{
    return store_sql_get(s, &s_user_noun, USER_SELECT " WHERE name = ?1",
                         ARGS(A_TEXT(name)), out, err, "no user '%s'", name);
}

hoist_err_t
store_user_get_by_key(store_t *s, const char *pubkey, store_user_t *out,
                      hoist_error_t *err)
{
    return store_sql_get(s, &s_user_noun, USER_SELECT " WHERE pubkey = ?1",
                         ARGS(A_TEXT(pubkey)), out, err,
                         "no user with key %.40s", pubkey);
}

hoist_err_t
store_user_list(store_t *s, store_user_fn fn, void *arg, hoist_error_t *err)
{
    store_sql_cb_t cb = {.fn.user = fn, .arg = arg};
    return store_sql_each(s, &s_user_noun, USER_SELECT " ORDER BY name",
                          NO_ARGS, &cb, err);
}

hoist_err_t
store_user_remove(store_t *s, const char *name, hoist_error_t *err)
{
    return store_sql_change(s, "remove user",
                            "DELETE FROM users WHERE name = ?1",
                            ARGS(A_TEXT(name)), err, "no user '%s'", name);
}

hoist_err_t
store_user_count_role(store_t *s, const char *role, int64_t *n,
                      hoist_error_t *err)
{
    return store_sql_get(s, &store_sql_count_noun,
                         "SELECT count(*) FROM users WHERE role = ?1",
                         ARGS(A_TEXT(role)), n, err, "count gave no answer");
}
