/*
 * store_trust: the store's trusted release keys: the public keys whose
 * signatures the controller accepts on a release. See store.h for the interface
 * and store_sql.h for the helpers.
 */
#include "store.h"

#include "store_sql.h"

static void
s_trust_read(store_sql_row_t *r, void *row)
{
    store_trust_t *k = row;
    store_sql_text(r, k->key_id, sizeof k->key_id);
    store_sql_text(r, k->pubkey, sizeof k->pubkey);
    k->added_at = store_sql_int(r);
}

static int
s_trust_visit(const void *row, const store_sql_cb_t *cb)
{
    return cb->fn.trust(row, cb->arg);
}

static const store_sql_noun_t s_trust_noun = {
    "trust_keys", s_trust_read, sizeof(store_trust_t), s_trust_visit};

static hoist_err_t
s_check_key_id(const char *key_id, hoist_error_t *err)
{
    if (!store_sql_is_hex(key_id, STORE_KEYID_SIZE - 1)) {
        return error_set(err, HOIST_ERR_USAGE,
                         "release key id '%.64s' is not 16 lowercase hex "
                         "digits; `hoist trust list` shows the ids",
                         key_id);
    }
    return HOIST_OK;
}

hoist_err_t
store_trust_add(store_t *s, const store_trust_t *k, hoist_error_t *err)
{
    hoist_err_t e = s_check_key_id(k->key_id, err);
    if (e == HOIST_OK) {
        e = store_sql_check_text("release key", k->pubkey, sizeof k->pubkey,
                                 true, err);
    }
    if (e != HOIST_OK) {
        return e;
    }
    e = store_sql_exec(
        s, "trust key",
        "INSERT INTO trust_keys (key_id, pubkey, added_at)"
        " VALUES (?1, ?2, ?3)",
        ARGS(A_TEXT(k->key_id), A_TEXT(k->pubkey), A_INT(k->added_at)), NULL,
        err);
    if (e != HOIST_OK && s->fail == STORE_SQL_FAIL_UNIQUE) {
        return error_set(err, STORE_ERR_EXISTS,
                         "release key %s is already trusted", k->key_id);
    }
    return e;
}

hoist_err_t
store_trust_list(store_t *s, store_trust_fn fn, void *arg, hoist_error_t *err)
{
    store_sql_cb_t cb = {.fn.trust = fn, .arg = arg};
    return store_sql_each(s, &s_trust_noun,
                          "SELECT key_id, pubkey, added_at FROM trust_keys"
                          " ORDER BY added_at, key_id",
                          NO_ARGS, &cb, err);
}

hoist_err_t
store_trust_remove(store_t *s, const char *key_id, hoist_error_t *err)
{
    hoist_err_t e = s_check_key_id(key_id, err);
    if (e != HOIST_OK) {
        return e;
    }
    return store_sql_change(s, "untrust key",
                            "DELETE FROM trust_keys WHERE key_id = ?1",
                            ARGS(A_TEXT(key_id)), err,
                            "release key %s is not trusted; `hoist trust list` "
                            "shows the trusted keys",
                            key_id);
}
