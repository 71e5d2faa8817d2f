/*
 * store_pipeline: the store's copy of the pipeline file, the text `hoist
 * apply` loaded and `hoist export` prints. Every applied version is kept
 * with who applied it and when; the newest row (by id, not by the
 * caller's clock) is the current one. The store keeps the text as given:
 * parsing and checking it is the pipeline module's work.
 */
#include "store.h"

#include <stdlib.h>
#include <string.h>

#include "store_sql.h"

hoist_err_t
store_pipeline_set(store_t *s, const char *text, const char *user, int64_t now,
                   hoist_error_t *err)
{
    hoist_err_t e = store_sql_check_text("pipeline applier", user,
                                         STORE_NAME_SIZE, true, err);
    if (e == HOIST_OK && !text[0]) {
        e = error_set(err, HOIST_ERR_USAGE, "the pipeline text is empty");
    }
    if (e != HOIST_OK) {
        return e;
    }
    return store_sql_exec(s, "set pipeline",
                          "INSERT INTO pipeline (text, applied_by, applied_at)"
                          " VALUES (?1, ?2, ?3)",
                          ARGS(A_TEXT(text), A_TEXT(user), A_INT(now)), NULL,
                          err);
}

hoist_err_t
store_pipeline_get(store_t *s, char **text, hoist_error_t *err)
{
    sqlite3_stmt *st = NULL;
    char *copy = NULL;
    hoist_err_t e = store_sql_prepare(
        s, "get pipeline", "SELECT text FROM pipeline ORDER BY id DESC LIMIT 1",
        NO_ARGS, &st, err);
    if (e != HOIST_OK) {
        return e;
    }
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        e = error_set(err, STORE_ERR_NOTFOUND,
                      "no pipeline was ever applied; load one with `hoist "
                      "apply FILE`");
        goto out;
    }
    if (rc != SQLITE_ROW) {
        e = store_sql_fail(s, rc, "get pipeline", err);
        goto out;
    }
    const unsigned char *t = sqlite3_column_text(st, 0);
    size_t len = (size_t)sqlite3_column_bytes(st, 0);
    if (!t) {
        /* The column is NOT NULL: no text means SQLite ran out of memory. */
        e = error_set(err, HOIST_ERR_NOMEM, "out of memory");
        goto out;
    }
    if (memchr(t, '\0', len)) {
        e = error_set(err, HOIST_ERR_STATE,
                      "store %s: pipeline.text holds a NUL; was the database "
                      "changed by hand?",
                      s->path);
        goto out;
    }
    copy = malloc(len + 1);
    if (!copy) {
        e = error_set(err, HOIST_ERR_NOMEM, "out of memory");
        goto out;
    }
    memcpy(copy, t, len + 1);
    *text = copy;
out:
    sqlite3_finalize(st);
    return e;
}
