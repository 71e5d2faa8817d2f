/*
 * store_var: the store's per-environment variables and the sealed boxes
 * of secret ones (store.h says why a secret is never kept in clear). A
 * variable is replaced by deleting the old row, whose boxes go with it
 * (ON DELETE CASCADE), and inserting the new one with its own boxes, in
 * one transaction: an agent never receives a box of an older value next
 * to a newer plain one.
 */
#include "store.h"

#include <string.h>

#include "store_sql.h"

static void
s_var_read(store_sql_row_t *r, void *row)
{
    store_var_t *v = row;
    store_sql_text(r, v->app, sizeof v->app);
    store_sql_text(r, v->env, sizeof v->env);
    store_sql_text(r, v->key, sizeof v->key);
    v->secret = store_sql_int(r) != 0;
    v->size = (size_t)store_sql_uint(r);
    store_sql_blob(r, v->value, sizeof v->value, &v->value_len);
    store_sql_text(r, v->updated_by, sizeof v->updated_by);
    v->updated_at = store_sql_int(r);
    size_t n = 0;
    store_sql_blob(r, v->digest, sizeof v->digest, &n);
    v->has_digest = n == sizeof v->digest;
}

/* The list callback travels in cb->arg: store_sql_cb_t's union names the
 * nouns of store_sql.h, and this one keeps to its own file. */
typedef struct {
    store_var_fn fn;
    void *arg;
} var_cb_t;

static int
s_var_visit(const void *row, const store_sql_cb_t *cb)
{
    const var_cb_t *w = cb->arg;
    return w->fn(row, w->arg);
}

static const store_sql_noun_t s_var_noun = {"vars", s_var_read,
                                            sizeof(store_var_t), s_var_visit};

static hoist_err_t
s_var_check(const store_var_t *v, size_t n, hoist_error_t *err)
{
    hoist_err_t e =
        store_sql_check_text("app", v->app, sizeof v->app, true, err);
    if (e == HOIST_OK) {
        e = store_sql_check_text("environment", v->env, sizeof v->env, true,
                                 err);
    }
    if (e == HOIST_OK) {
        e = store_sql_check_text("variable", v->key, sizeof v->key, true, err);
    }
    if (e == HOIST_OK) {
        e = store_sql_check_text("updated_by", v->updated_by,
                                 sizeof v->updated_by, true, err);
    }
    if (e != HOIST_OK) {
        return e;
    }
    if (v->secret && v->value_len > 0) {
        return error_set(err, HOIST_ERR_USAGE,
                         "secret %s: its clear value is never stored, only "
                         "its sealed boxes",
                         v->key);
    }
    if (!v->secret && n > 0) {
        return error_set(err, HOIST_ERR_USAGE,
                         "variable %s is not a secret: it has no boxes",
                         v->key);
    }
    if (v->value_len > STORE_VAR_VALUE_MAX || v->size > STORE_VAR_VALUE_MAX) {
        return error_set(err, HOIST_ERR_LIMIT,
                         "variable %s: a value is at most %d bytes", v->key,
                         STORE_VAR_VALUE_MAX);
    }
    return HOIST_OK;
}

/* Inserts the boxes of variable ID. */
static hoist_err_t
s_var_seals(store_t *s, const store_var_t *v, int64_t id,
            const store_var_seal_t *seals, size_t n, hoist_error_t *err)
{
    hoist_err_t e = HOIST_OK;
    for (size_t i = 0; e == HOIST_OK && i < n; i++) {
        if (!seals[i].agent || !seals[i].agent[0] || !seals[i].box ||
            seals[i].len == 0 || seals[i].len > STORE_VAR_BOX_MAX) {
            return error_set(err, HOIST_ERR_LIMIT,
                             "secret %s: box %zu is empty, too long (over "
                             "%d bytes) or has no agent",
                             v->key, i, STORE_VAR_BOX_MAX);
        }
        e = store_sql_exec(s, "seal variable",
                           "INSERT INTO var_seals (var, agent, box)"
                           " VALUES (?1, ?2, ?3)",
                           ARGS(A_INT(id), A_TEXT(seals[i].agent),
                                A_BLOB(seals[i].box, seals[i].len)),
                           NULL, err);
        if (e != HOIST_OK && s->fail == STORE_SQL_FAIL_FOREIGN) {
            e = error_set(err, STORE_ERR_NOTFOUND,
                          "secret %s: no agent '%s' to seal it to", v->key,
                          seals[i].agent);
        }
    }
    return e;
}

/* Replaces the row of V and its boxes, inside the open transaction. */
static hoist_err_t
s_var_replace(store_t *s, const store_var_t *v, const store_var_seal_t *seals,
              size_t n, hoist_error_t *err)
{
    int64_t id = 0;
    hoist_err_t e = store_sql_exec(
        s, "replace variable",
        "DELETE FROM vars WHERE app = ?1 AND env = ?2 AND key = ?3",
        ARGS(A_TEXT(v->app), A_TEXT(v->env), A_TEXT(v->key)), NULL, err);
    if (e == HOIST_OK) {
        /* A plain value is a blob even when empty (the pointer is never
         * NULL); a secret's is NULL. */
        const void *value = v->secret ? NULL : (const void *)v->value;
        e = store_sql_get(
            s, &store_sql_count_noun,
            "INSERT INTO vars (app, env, key, secret, value, size,"
            " updated_by, updated_at, digest)"
            " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) RETURNING id",
            ARGS(A_TEXT(v->app), A_TEXT(v->env), A_TEXT(v->key),
                 A_INT(v->secret ? 1 : 0), A_BLOB(value, v->value_len),
                 A_INT(v->secret ? v->size : v->value_len),
                 A_TEXT(v->updated_by), A_INT(v->updated_at),
                 A_BLOB(v->secret && v->has_digest ? v->digest : NULL,
                        v->secret && v->has_digest ? sizeof v->digest : 0)),
            &id, err, "variable %s was not recorded", v->key);
    }
    if (e == HOIST_OK) {
        e = s_var_seals(s, v, id, seals, n, err);
    }
    return e;
}

hoist_err_t
store_var_set(store_t *s, const store_var_t *v, const store_var_seal_t *seals,
              size_t n, hoist_error_t *err)
{
    hoist_err_t e = s_var_check(v, n, err);
    if (e != HOIST_OK) {
        return e;
    }
    bool own = sqlite3_get_autocommit(s->db) != 0;
    e = own ? store_begin(s, err) : HOIST_OK;
    if (e == HOIST_OK) {
        e = s_var_replace(s, v, seals, n, err);
    }
    if (e == HOIST_OK && own) {
        e = store_commit(s, err);
    }
    if (e != HOIST_OK && own) {
        store_rollback(s, NULL);
    }
    return e;
}

hoist_err_t
store_var_unset(store_t *s, const char *app, const char *env, const char *key,
                hoist_error_t *err)
{
    return store_sql_change(
        s, "unset variable",
        "DELETE FROM vars WHERE app = ?1 AND env = ?2 AND key = ?3",
        ARGS(A_TEXT(app), A_TEXT(env), A_TEXT(key)), err,
        "%s has no variable %s in %s; `hoist vars list %s --env %s` shows "
        "them",
        app, key, env, app, env);
}

hoist_err_t
store_var_list(store_t *s, const char *app, const char *env, store_var_fn fn,
               void *arg, hoist_error_t *err)
{
    var_cb_t w = {fn, arg};
    store_sql_cb_t cb = {.arg = &w};
    return store_sql_each(s, &s_var_noun,
                          "SELECT v.app, v.env, v.key, v.secret, v.size,"
                          " CASE WHEN v.secret THEN NULL ELSE v.value END,"
                          " v.updated_by, v.updated_at, v.digest FROM vars v"
                          " WHERE v.app = ?1 AND (?2 IS NULL OR v.env = ?2)"
                          " ORDER BY v.env, v.key",
                          ARGS(A_TEXT(app), A_OPT(env)), &cb, err);
}

hoist_err_t
store_var_list_for(store_t *s, const char *app, const char *env,
                   const char *agent, store_var_fn fn, void *arg,
                   hoist_error_t *err)
{
    var_cb_t w = {fn, arg};
    store_sql_cb_t cb = {.arg = &w};
    return store_sql_each(
        s, &s_var_noun,
        "SELECT v.app, v.env, v.key, v.secret, v.size,"
        " CASE WHEN v.secret THEN b.box ELSE v.value END,"
        " v.updated_by, v.updated_at, v.digest FROM vars v"
        " LEFT JOIN var_seals b ON b.var = v.id AND b.agent = ?3"
        " WHERE v.app = ?1 AND v.env = ?2 ORDER BY v.key",
        ARGS(A_TEXT(app), A_TEXT(env), A_TEXT(agent)), &cb, err);
}
