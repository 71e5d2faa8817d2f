/*
 * store_sql: see store_sql.h. The statement runners, row readers and input
 * checks every file of the store uses.
 *
 * Statements are prepared per call: the controller's load is a few
 * statements per agent heartbeat, far below what preparing costs, and it
 * keeps every function free of cached state.
 */
#include "store_sql.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* --- bound arguments ---------------------------------------------------- */

static int
s_bind_one(sqlite3_stmt *st, int col, const store_sql_arg_t *a)
{
    switch (a->type) {
    case 't':
        return sqlite3_bind_text(st, col, a->text, -1, SQLITE_STATIC);
    case 'o':
        if (!a->text || !a->text[0]) {
            return sqlite3_bind_null(st, col);
        }
        return sqlite3_bind_text(st, col, a->text, -1, SQLITE_STATIC);
    case 'i':
        return sqlite3_bind_int64(st, col, a->num);
    default:
        assert(a->type == 'b');
        return sqlite3_bind_blob64(st, col, a->blob, a->len, SQLITE_STATIC);
    }
}

/* --- errors ------------------------------------------------------------- */

hoist_err_t
store_sql_code(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return HOIST_ERR_BUSY;
    case SQLITE_FULL:
        return HOIST_ERR_NOSPACE;
    case SQLITE_NOMEM:
        return HOIST_ERR_NOMEM;
    case SQLITE_TOOBIG:
        return HOIST_ERR_LIMIT;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
    case SQLITE_CONSTRAINT:
    case SQLITE_MISMATCH:
        return HOIST_ERR_STATE;
    default:
        return HOIST_ERR_IO;
    }
}

hoist_err_t
store_sql_fail(store_t *s, int rc, const char *what, hoist_error_t *err)
{
    const char *msg = sqlite3_errmsg(s->db);
    if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
        s->fail = STORE_SQL_FAIL_UNIQUE;
        return error_set(err, STORE_ERR_EXISTS, "store %s: %s: %s", s->path,
                         what, msg);
    }
    if (rc == SQLITE_CONSTRAINT_FOREIGNKEY) {
        s->fail = STORE_SQL_FAIL_FOREIGN;
        return error_set(err, STORE_ERR_NOTFOUND, "store %s: %s: %s", s->path,
                         what, msg);
    }
    return error_set(err, store_sql_code(rc), "store %s: %s: %s", s->path, what,
                     msg);
}

/* Sets ERR to STORE_ERR_NOTFOUND with the message FMT, AP. */
static hoist_err_t s_vnotfound(store_t *s, hoist_error_t *err, const char *fmt,
                               va_list ap)
    __attribute__((format(printf, 3, 0)));

static hoist_err_t
s_vnotfound(store_t *s, hoist_error_t *err, const char *fmt, va_list ap)
{
    char msg[sizeof err->msg];
    vsnprintf(msg, sizeof msg, fmt, ap);
    s->fail = STORE_SQL_FAIL_NOROW;
    return error_set(err, STORE_ERR_NOTFOUND, "%s", msg);
}

/* --- running statements ------------------------------------------------- */

hoist_err_t
store_sql_prepare(store_t *s, const char *what, const char *sql,
                  const store_sql_arg_t *a, size_t n, sqlite3_stmt **out,
                  hoist_error_t *err)
{
    sqlite3_stmt *st = NULL;
    s->fail = STORE_SQL_FAIL_NONE;
    int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        assert(sqlite3_bind_parameter_count(st) == (int)n);
        for (size_t i = 0; i < n && rc == SQLITE_OK; i++) {
            rc = s_bind_one(st, (int)i + 1, &a[i]);
        }
    }
    if (rc != SQLITE_OK) {
        hoist_err_t e = store_sql_fail(s, rc, what, err);
        sqlite3_finalize(st);
        return e;
    }
    *out = st;
    return HOIST_OK;
}

hoist_err_t
store_sql_exec(store_t *s, const char *what, const char *sql,
               const store_sql_arg_t *a, size_t n, int *changes,
               hoist_error_t *err)
{
    sqlite3_stmt *st;
    hoist_err_t e = store_sql_prepare(s, what, sql, a, n, &st, err);
    if (e != HOIST_OK) {
        return e;
    }
    int rc = sqlite3_step(st);
    assert(rc != SQLITE_ROW);
    if (rc != SQLITE_DONE) {
        e = store_sql_fail(s, rc, what, err);
    } else if (changes) {
        *changes = sqlite3_changes(s->db);
    }
    sqlite3_finalize(st);
    return e;
}

hoist_err_t
store_sql_change(store_t *s, const char *what, const char *sql,
                 const store_sql_arg_t *a, size_t n, hoist_error_t *err,
                 const char *fmt, ...)
{
    int changes = 0;
    hoist_err_t e = store_sql_exec(s, what, sql, a, n, &changes, err);
    if (e == HOIST_OK && changes == 0) {
        va_list ap;
        va_start(ap, fmt);
        e = s_vnotfound(s, err, fmt, ap);
        va_end(ap);
    }
    return e;
}

/* --- reading rows ------------------------------------------------------- */

void
store_sql_bad(store_sql_row_t *r)
{
    if (r->bad < 0) {
        r->bad = r->col;
    }
}

void
store_sql_text(store_sql_row_t *r, char *buf, size_t size)
{
    const unsigned char *t = sqlite3_column_text(r->st, r->col);
    size_t len = (size_t)sqlite3_column_bytes(r->st, r->col);
    buf[0] = '\0';
    if (len >= size || (t && memchr(t, '\0', len))) {
        store_sql_bad(r);
    } else if (t) {
        memcpy(buf, t, len);
        buf[len] = '\0';
    }
    r->col++;
}

int64_t
store_sql_int(store_sql_row_t *r)
{
    return sqlite3_column_int64(r->st, r->col++);
}

uint64_t
store_sql_uint(store_sql_row_t *r)
{
    int64_t v = sqlite3_column_int64(r->st, r->col);
    if (v < 0) {
        store_sql_bad(r);
        v = 0;
    }
    r->col++;
    return (uint64_t)v;
}

void
store_sql_blob(store_sql_row_t *r, void *buf, size_t size, size_t *len)
{
    const void *b = sqlite3_column_blob(r->st, r->col);
    size_t n = (size_t)sqlite3_column_bytes(r->st, r->col);
    *len = 0;
    if (n > size) {
        store_sql_bad(r);
    } else if (b) {
        memcpy(buf, b, n);
        *len = n;
    }
    r->col++;
}

void
store_sql_hash(store_sql_row_t *r, void *buf, size_t size)
{
    const void *b = sqlite3_column_blob(r->st, r->col);
    size_t n = (size_t)sqlite3_column_bytes(r->st, r->col);
    if (!b || n != size) {
        store_sql_bad(r);
        memset(buf, 0, size);
    } else {
        memcpy(buf, b, size);
    }
    r->col++;
}

int
store_sql_enum(store_sql_row_t *r, const char *const *names, size_t n)
{
    const char *t = (const char *)sqlite3_column_text(r->st, r->col);
    for (size_t i = 0; t && i < n; i++) {
        if (strcmp(t, names[i]) == 0) {
            r->col++;
            return (int)i;
        }
    }
    store_sql_bad(r);
    r->col++;
    return 0;
}

static hoist_err_t
s_read_row(store_t *s, const store_sql_noun_t *noun, sqlite3_stmt *st,
           void *row, hoist_error_t *err)
{
    store_sql_row_t r = {st, 0, -1};
    noun->read(&r, row);
    if (r.bad < 0) {
        return HOIST_OK;
    }
    return error_set(err, HOIST_ERR_STATE,
                     "store %s: %s.%s holds a value that is out of range or "
                     "too long; was the database changed by hand?",
                     s->path, noun->table, sqlite3_column_name(st, r.bad));
}

hoist_err_t
store_sql_get(store_t *s, const store_sql_noun_t *noun, const char *sql,
              const store_sql_arg_t *a, size_t n, void *out, hoist_error_t *err,
              const char *fmt, ...)
{
    sqlite3_stmt *st = NULL;
    void *row = calloc(1, noun->size);
    hoist_err_t e = row ? store_sql_prepare(s, noun->table, sql, a, n, &st, err)
                        : error_set(err, HOIST_ERR_NOMEM, "out of memory");
    if (e != HOIST_OK) {
        goto out;
    }
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        va_list ap;
        va_start(ap, fmt);
        e = s_vnotfound(s, err, fmt, ap);
        va_end(ap);
        goto out;
    }
    if (rc == SQLITE_ROW) {
        e = s_read_row(s, noun, st, row, err);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        }
    }
    if (e == HOIST_OK && rc != SQLITE_DONE) {
        e = store_sql_fail(s, rc, noun->table, err);
    }
    if (e == HOIST_OK) {
        memcpy(out, row, noun->size);
    }
out:
    sqlite3_finalize(st);
    free(row);
    return e;
}

hoist_err_t
store_sql_each(store_t *s, const store_sql_noun_t *noun, const char *sql,
               const store_sql_arg_t *a, size_t n, const store_sql_cb_t *cb,
               hoist_error_t *err)
{
    sqlite3_stmt *st = NULL;
    void *row = calloc(1, noun->size);
    hoist_err_t e = row ? store_sql_prepare(s, noun->table, sql, a, n, &st, err)
                        : error_set(err, HOIST_ERR_NOMEM, "out of memory");
    if (e != HOIST_OK) {
        goto out;
    }
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        e = s_read_row(s, noun, st, row, err);
        if (e != HOIST_OK) {
            goto out;
        }
        if (noun->visit(row, cb) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    if (rc != SQLITE_DONE) {
        e = store_sql_fail(s, rc, noun->table, err);
    }
out:
    sqlite3_finalize(st);
    free(row);
    return e;
}

static void
s_count_read(store_sql_row_t *r, void *row)
{
    *(int64_t *)row = store_sql_int(r);
}

const store_sql_noun_t store_sql_count_noun = {"count", s_count_read,
                                               sizeof(int64_t), NULL};

static void
s_name_read(store_sql_row_t *r, void *row)
{
    store_sql_text(r, row, STORE_NAME_SIZE);
}

const store_sql_noun_t store_sql_name_noun = {"value", s_name_read,
                                              STORE_NAME_SIZE, NULL};

bool
store_sql_any(store_t *s, const char *sql, const char *v)
{
    int64_t n = 0;
    return store_sql_get(s, &store_sql_count_noun, sql, ARGS(A_TEXT(v)), &n,
                         NULL, "no count") == HOIST_OK &&
           n > 0;
}

/* --- checking input ----------------------------------------------------- */

const char *
store_sql_name(const char *const *names, size_t n, int v)
{
    return v >= 0 && (size_t)v < n ? names[v] : "unknown";
}

hoist_err_t
store_sql_check_text(const char *what, const char *v, size_t size,
                     bool required, hoist_error_t *err)
{
    size_t len = strnlen(v, size);
    if (len == size) {
        return error_set(err, HOIST_ERR_LIMIT, "%s is longer than %zu bytes",
                         what, size - 1);
    }
    if (required && len == 0) {
        return error_set(err, HOIST_ERR_USAGE, "%s is empty", what);
    }
    return HOIST_OK;
}

bool
store_sql_is_hex(const char *v, size_t len)
{
    return strnlen(v, len + 1) == len && strspn(v, "0123456789abcdef") == len;
}

hoist_err_t
store_sql_check_key(const char *who, const char *name, const char *v,
                    hoist_error_t *err)
{
    static const char z85[] =
        "0123456789abcdefghijklmnopqrstuvwxyz"
        "ABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";
    size_t len = STORE_KEY_SIZE - 1;
    if (strnlen(v, len + 1) != len || strspn(v, z85) != len) {
        return error_set(err, HOIST_ERR_KEY,
                         "%s '%s': key is not a CURVE public key (40 Z85 "
                         "characters)",
                         who, name);
    }
    return HOIST_OK;
}

void
store_sql_cut(char *buf, size_t size, const char *v)
{
    assert(size > 0);
    size_t len = v ? strnlen(v, size) : 0;
    if (len == size) {
        len = size - 1;
        /* V[LEN] is the first byte left out; when it continues a character,
         * that character started inside the kept part: leave it out whole.
         * A character is at most four bytes, so three steps suffice even
         * for text that is not UTF-8. */
        for (int i = 0;
             i < 3 && len > 0 && ((unsigned char)v[len] & 0xc0) == 0x80; i++) {
            len--;
        }
    }
    if (len > 0) {
        memcpy(buf, v, len);
    }
    buf[len] = '\0';
}

const char *
store_sql_time(int64_t t, char buf[32])
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (!gmtime_r(&tt, &tm) ||
        strftime(buf, 32, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0) {
        snprintf(buf, 32, "%lld", (long long)t);
    }
    return buf;
}
