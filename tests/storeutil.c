/*
 * storeutil: see storeutil.h.
 */
#include "storeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
su_setup(void **state)
{
    su_fixture_t *f = calloc(1, sizeof *f);
    hoist_error_t err = {0};
    assert_non_null(f);
    f->dir = tu_tmpdir();
    f->path = tu_path(f->dir, "hoist.db");
    f->s = store_open(f->path, &err);
    if (!f->s) {
        fail_msg("store_open: %s", err.msg);
    }
    *state = f;
    return 0;
}

int
su_teardown(void **state)
{
    su_fixture_t *f = *state;
    store_close(&f->s);
    free(f->path);
    tu_rmtree(f->dir);
    free(f);
    return 0;
}

void
su_reopen(su_fixture_t *f)
{
    hoist_error_t err = {0};
    store_close(&f->s);
    assert_null(f->s);
    f->s = store_open(f->path, &err);
    if (!f->s) {
        fail_msg("store_open: %s", err.msg);
    }
}

void
su_add_release(store_t *s, const char *app, const char *version)
{
    hoist_error_t err = {0};
    store_release_t *r = calloc(1, sizeof *r);
    assert_non_null(r);
    snprintf(r->app, sizeof r->app, "%s", app);
    snprintf(r->version, sizeof r->version, "%s", version);
    memset(r->digest, 'a', 64);
    r->manifest_len = 1;
    r->created_at = 100;
    if (store_release_add(s, r, &err) != HOIST_OK) {
        fail_msg("add release %s %s: %s", app, version, err.msg);
    }
    free(r);
}

sqlite3 *
su_raw_open(const char *path)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    return db;
}

void
su_raw_exec(const char *path, const char *sql)
{
    sqlite3 *db = su_raw_open(path);
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        fail_msg("%s: %s", sql, msg);
    }
    sqlite3_close(db);
}

char *
su_raw_text(const char *path, const char *sql)
{
    sqlite3 *db = su_raw_open(path);
    sqlite3_stmt *st = NULL;
    char *out = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    }
    if (sqlite3_step(st) == SQLITE_ROW) {
        const char *t = (const char *)sqlite3_column_text(st, 0);
        out = strdup(t ? t : "");
        assert_non_null(out);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return out;
}

long long
su_raw_int(const char *path, const char *sql)
{
    char *t = su_raw_text(path, sql);
    if (!t) {
        fail_msg("no row: %s", sql);
    }
    long long v = atoll(t);
    free(t);
    return v;
}
