/*
 * store_token: the store's enrollment tokens: one-time secrets an agent
 * presents to enroll, kept only as their hash. See store.h for the interface
 * and store_sql.h for the helpers.
 */
#include "store.h"

#include "store_sql.h"

hoist_err_t
store_token_create(store_t *s, const store_token_t *t, hoist_error_t *err)
{
    hoist_err_t e = store_sql_check_text("token environment", t->env,
                                         sizeof t->env, true, err);
    if (e == HOIST_OK) {
        e = store_sql_check_text("token creator", t->created_by,
                                 sizeof t->created_by, true, err);
    }
    if (e == HOIST_OK && t->expires_at <= t->created_at) {
        e = error_set(err, HOIST_ERR_USAGE,
                      "token for '%s' would expire before it is created",
                      t->env);
    }
    if (e != HOIST_OK) {
        return e;
    }
    e = store_sql_exec(s, "create token",
                       "INSERT INTO tokens (hash, env, created_by, created_at,"
                       " expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                       ARGS(A_BLOB(t->hash, sizeof t->hash), A_TEXT(t->env),
                            A_TEXT(t->created_by), A_INT(t->created_at),
                            A_INT(t->expires_at)),
                       NULL, err);
    if (e != HOIST_OK && s->fail == STORE_SQL_FAIL_UNIQUE) {
        return error_set(err, STORE_ERR_EXISTS,
                         "a token with this hash already exists");
    }
    return e;
}

/* used_at (-1 while unused) and expires_at of a token. */
static void
s_token_read(store_sql_row_t *r, void *row)
{
    int64_t *when = row;
    when[0] = store_sql_int(r);
    when[1] = store_sql_int(r);
}

static const store_sql_noun_t s_token_noun = {"tokens", s_token_read,
                                              2 * sizeof(int64_t), NULL};

/* Says why the token with HASH could not be consumed at NOW. */
static hoist_err_t
s_token_refused(store_t *s, const uint8_t *hash, int64_t now,
                hoist_error_t *err)
{
    int64_t when[2];
    char buf[32];
    hoist_err_t e = store_sql_get(
        s, &s_token_noun,
        "SELECT coalesce(used_at, -1), expires_at FROM tokens WHERE hash = ?1",
        ARGS(A_BLOB(hash, STORE_TOKEN_HASH)), when, err,
        "unknown enrollment token; create one with `hoist token create "
        "--env ENV`");
    if (e != HOIST_OK) {
        return e;
    }
    if (when[0] >= 0) {
        return error_set(err, STORE_ERR_TOKEN_USED,
                         "enrollment token was already used (%s); tokens are "
                         "one-time: create another with `hoist token create`",
                         store_sql_time(when[0], buf));
    }
    if (when[1] <= now) {
        return error_set(err, STORE_ERR_TOKEN_EXPIRED,
                         "enrollment token expired (%s); create another with "
                         "`hoist token create`",
                         store_sql_time(when[1], buf));
    }
    return error_set(err, HOIST_ERR_STATE,
                     "enrollment token could not be consumed; try again");
}

hoist_err_t
store_token_consume(store_t *s, const uint8_t hash[STORE_TOKEN_HASH],
                    int64_t now, char env_out[STORE_NAME_SIZE],
                    hoist_error_t *err)
{
    /* One statement: the check and the marking cannot be separated by
     * another consumer. */
    hoist_err_t e =
        store_sql_get(s, &store_sql_name_noun,
                      "UPDATE tokens SET used_at = ?1"
                      " WHERE hash = ?2 AND used_at IS NULL AND expires_at > ?1"
                      " RETURNING env",
                      ARGS(A_INT(now), A_BLOB(hash, STORE_TOKEN_HASH)), env_out,
                      err, "token refused");
    if (e != HOIST_OK && s->fail == STORE_SQL_FAIL_NOROW) {
        return s_token_refused(s, hash, now, err);
    }
    return e;
}
