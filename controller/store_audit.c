/*
 * store_audit: the store's audit log. Every request the controller
 * answers, accepted or refused, becomes one row, chained to the row before
 * by audit_hash (audit.h), so that `hoist audit verify` can tell an edited
 * or deleted row. The table itself refuses UPDATE and DELETE (triggers in
 * migration 2); the chain is what still holds when someone drops them.
 *
 * An append reads the last row's id and hash and inserts the next one in
 * one transaction that holds the write lock from its start, so two
 * writers can never chain to the same row. Values are cut to fit rather
 * than refused: a request must not escape the log by being long.
 */
#include "store.h"

#include <limits.h>
#include <string.h>

#include "audit.h"
#include "store_sql.h"

_Static_assert(sizeof(((store_audit_t *)0)->hash) == AUDIT_HASH_BYTES,
               "store_audit_t.hash holds an audit hash");
_Static_assert(sizeof(((store_audit_t *)0)->prev) == AUDIT_HASH_BYTES,
               "store_audit_t.prev holds an audit hash");

#define AUDIT_SELECT                                                           \
    "SELECT id, time_ms, user, action, target, result, exit_code, detail,"     \
    " prev, hash FROM audit"

static void
s_audit_read(store_sql_row_t *r, void *row)
{
    store_audit_t *a = row;
    a->id = store_sql_int(r);
    a->time_ms = store_sql_int(r);
    store_sql_text(r, a->user, sizeof a->user);
    store_sql_text(r, a->action, sizeof a->action);
    store_sql_text(r, a->target, sizeof a->target);
    store_sql_text(r, a->result, sizeof a->result);
    int64_t code = sqlite3_column_int64(r->st, r->col);
    if (code < INT_MIN || code > INT_MAX) {
        store_sql_bad(r);
        code = 0;
    }
    r->col++;
    a->exit_code = (int)code;
    store_sql_text(r, a->detail, sizeof a->detail);
    store_sql_hash(r, a->prev, sizeof a->prev);
    store_sql_hash(r, a->hash, sizeof a->hash);
}

static int
s_audit_visit(const void *row, const store_sql_cb_t *cb)
{
    return cb->fn.audit(row, cb->arg);
}

static const store_sql_noun_t s_audit_noun = {
    "audit", s_audit_read, sizeof(store_audit_t), s_audit_visit};

/* The last row's id and hash: what the next row chains to. */
static void
s_head_read(store_sql_row_t *r, void *row)
{
    audit_head_t *h = row;
    h->id = store_sql_int(r);
    store_sql_hash(r, h->hash, sizeof h->hash);
}

static const store_sql_noun_t s_head_noun = {"audit", s_head_read,
                                             sizeof(audit_head_t), NULL};

/* Gives A (its fields filled) the next id, the last row's hash as prev,
 * and its own hash. Runs inside the append's transaction. */
static hoist_err_t
s_audit_chain(store_t *s, store_audit_t *a, hoist_error_t *err)
{
    audit_head_t last;
    /* The empty log's head is id 0 with a zero hash: one row either way. */
    hoist_err_t e = store_sql_get(
        s, &s_head_noun,
        "SELECT id, hash FROM audit"
        " UNION ALL SELECT 0, zeroblob(32) ORDER BY 1 DESC LIMIT 1",
        NO_ARGS, &last, err, "the audit log gave no head");
    if (e != HOIST_OK) {
        return e;
    }
    if (last.id < 0 || last.id == INT64_MAX) {
        return error_set(err, HOIST_ERR_STATE,
                         "store %s: the audit log's last id %lld is out of "
                         "range; was the database changed by hand?",
                         s->path, (long long)last.id);
    }
    a->id = last.id + 1;
    memcpy(a->prev, last.hash, sizeof a->prev);
    audit_entry_t entry = {
        .id = a->id,
        .time_ms = a->time_ms,
        .user = a->user,
        .action = a->action,
        .target = a->target,
        .result = a->result,
        .exit_code = a->exit_code,
        .detail = a->detail,
    };
    audit_hash(a->prev, &entry, a->hash);
    return HOIST_OK;
}

hoist_err_t
store_audit_append(store_t *s, int64_t time_ms, const char *user,
                   const char *action, const char *target, const char *result,
                   int exit_code, const char *detail, store_audit_t *out,
                   hoist_error_t *err)
{
    store_audit_t a;
    memset(&a, 0, sizeof a);
    a.time_ms = time_ms;
    a.exit_code = exit_code;
    store_sql_cut(a.user, sizeof a.user, user);
    store_sql_cut(a.action, sizeof a.action, action);
    store_sql_cut(a.target, sizeof a.target, target);
    store_sql_cut(a.result, sizeof a.result, result);
    store_sql_cut(a.detail, sizeof a.detail, detail);

    /* The id and prev read must not be separated from the insert by
     * another writer: hold the write lock across both. */
    bool own = sqlite3_get_autocommit(s->db) != 0;
    hoist_err_t e = own ? store_begin(s, err) : HOIST_OK;
    if (e == HOIST_OK) {
        e = s_audit_chain(s, &a, err);
    }
    if (e == HOIST_OK) {
        e = store_sql_exec(
            s, "append to the audit log",
            "INSERT INTO audit (id, time_ms, user, action, target, result,"
            " exit_code, detail, prev, hash)"
            " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            ARGS(A_INT(a.id), A_INT(a.time_ms), A_TEXT(a.user),
                 A_TEXT(a.action), A_TEXT(a.target), A_TEXT(a.result),
                 A_INT(a.exit_code), A_TEXT(a.detail),
                 A_BLOB(a.prev, sizeof a.prev), A_BLOB(a.hash, sizeof a.hash)),
            NULL, err);
    }
    if (e == HOIST_OK && own) {
        e = store_commit(s, err);
    }
    if (e != HOIST_OK) {
        if (own) {
            store_rollback(s, NULL);
        }
        return e;
    }
    if (out) {
        *out = a;
    }
    return HOIST_OK;
}

hoist_err_t
store_audit_list(store_t *s, int64_t since_ms, store_audit_fn fn, void *arg,
                 hoist_error_t *err)
{
    store_sql_cb_t cb = {.fn.audit = fn, .arg = arg};
    return store_sql_each(s, &s_audit_noun,
                          AUDIT_SELECT " WHERE time_ms >= ?1 ORDER BY id",
                          ARGS(A_INT(since_ms)), &cb, err);
}
