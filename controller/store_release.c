/*
 * store_release: the store's releases: one per app version, with its signed
 * manifest, artifact digest and the lifecycle it climbs. See store.h for the
 * interface and store_sql.h for the helpers.
 */
#include "store.h"

#include "store_sql.h"

#define RELEASE_SELECT                                                         \
    "SELECT app, version, sequence, digest, size, manifest, notes,"            \
    " lifecycle, created_at FROM releases"

static void
s_release_read(store_sql_row_t *r, void *row)
{
    store_release_t *rel = row;
    store_sql_text(r, rel->app, sizeof rel->app);
    store_sql_text(r, rel->version, sizeof rel->version);
    rel->sequence = store_sql_uint(r);
    store_sql_text(r, rel->digest, sizeof rel->digest);
    rel->size = store_sql_uint(r);
    store_sql_blob(r, rel->manifest, sizeof rel->manifest, &rel->manifest_len);
    store_sql_text(r, rel->notes, sizeof rel->notes);
    store_sql_text(r, rel->lifecycle, sizeof rel->lifecycle);
    rel->created_at = store_sql_int(r);
}

static int
s_release_visit(const void *row, const store_sql_cb_t *cb)
{
    return cb->fn.release(row, cb->arg);
}

static const store_sql_noun_t s_release_noun = {
    "releases", s_release_read, sizeof(store_release_t), s_release_visit};

static hoist_err_t
s_release_check(const store_release_t *r, hoist_error_t *err)
{
    hoist_err_t e =
        store_sql_check_text("app", r->app, sizeof r->app, true, err);
    if (e == HOIST_OK) {
        e = store_sql_check_text("version", r->version, sizeof r->version, true,
                                 err);
    }
    if (e == HOIST_OK) {
        e = store_sql_check_text("notes", r->notes, sizeof r->notes, false,
                                 err);
    }
    if (e == HOIST_OK) {
        e = store_sql_check_text("lifecycle", r->lifecycle, sizeof r->lifecycle,
                                 false, err);
    }
    if (e != HOIST_OK) {
        return e;
    }
    if (!store_sql_is_hex(r->digest, STORE_DIGEST_SIZE - 1)) {
        return error_set(err, HOIST_ERR_USAGE,
                         "release %s %s: digest is not 64 lowercase hex "
                         "digits",
                         r->app, r->version);
    }
    if (r->manifest_len == 0 || r->manifest_len > sizeof r->manifest ||
        r->sequence > (uint64_t)INT64_MAX || r->size > (uint64_t)INT64_MAX) {
        return error_set(err, HOIST_ERR_LIMIT,
                         "release %s %s: manifest size, sequence or artifact "
                         "size out of range",
                         r->app, r->version);
    }
    return HOIST_OK;
}

hoist_err_t
store_release_add(store_t *s, const store_release_t *r, hoist_error_t *err)
{
    hoist_err_t e = s_release_check(r, err);
    if (e != HOIST_OK) {
        return e;
    }
    e = store_sql_exec(
        s, "add release",
        "INSERT INTO releases (app, version, sequence, digest, size,"
        " manifest, notes, lifecycle, created_at)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        ARGS(A_TEXT(r->app), A_TEXT(r->version), A_INT(r->sequence),
             A_TEXT(r->digest), A_INT(r->size),
             A_BLOB(r->manifest, r->manifest_len), A_TEXT(r->notes),
             A_TEXT(r->lifecycle), A_INT(r->created_at)),
        NULL, err);
    if (e != HOIST_OK && s->fail == STORE_SQL_FAIL_UNIQUE) {
        return error_set(err, STORE_ERR_EXISTS,
                         "release %s %s already exists; publish the new "
                         "build under a new version",
                         r->app, r->version);
    }
    return e;
}

hoist_err_t
store_release_get(store_t *s, const char *app, const char *version,
                  store_release_t *out, hoist_error_t *err)
{
    return store_sql_get(s, &s_release_noun,
                         RELEASE_SELECT " WHERE app = ?1 AND version = ?2",
                         ARGS(A_TEXT(app), A_TEXT(version)), out, err,
                         "no release %s %s", app, version);
}

hoist_err_t
store_release_list(store_t *s, const char *app, store_release_fn fn, void *arg,
                   hoist_error_t *err)
{
    store_sql_cb_t cb = {.fn.release = fn, .arg = arg};
    return store_sql_each(s, &s_release_noun,
                          RELEASE_SELECT " WHERE ?1 IS NULL OR app = ?1"
                                         " ORDER BY created_at DESC, id DESC",
                          ARGS(A_OPT(app)), &cb, err);
}
