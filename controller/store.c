/*
 * store: see store.h. The controller's state in SQLite.
 *
 * The file is organised from the bottom up: the schema and its migrations,
 * then a handful of helpers that prepare a statement with bound arguments
 * and run it (s_exec, s_change), read one row (s_get) or every row (s_each)
 * through a per-noun reader, then the public functions, each of which
 * checks its input, names the statement to run and turns a constraint
 * failure into a sentence about the agent, release or token concerned.
 *
 * Statements are prepared per call: the controller's load is a few
 * statements per agent heartbeat, far below what preparing costs, and it
 * keeps every function free of cached state. No SQL text is ever built at
 * run time; every value is a bound parameter.
 */
#include "store.h"

#include <assert.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define STORE_BUSY_MS    5000    /* wait this long for another writer */
#define STORE_SQLITE_MIN 3037000 /* STRICT tables (3.37), RETURNING (3.35) */
#define N_OF(a)          (sizeof(a) / sizeof((a)[0]))

/*
 * The migrations, in order: migration N (1-based) takes a file from schema
 * version N-1 to N and runs in one transaction with the row that records
 * it in schema_version. A released migration is never edited; a change is
 * a new entry at the end. Times are unix seconds; 0 means "never" or "not
 * yet". Tables are STRICT so a value of the wrong type is refused.
 */
static const char *const s_migrations[] = {
    /* 1: the first schema. */
    "CREATE TABLE agents ("
    " id INTEGER PRIMARY KEY,"
    " name TEXT NOT NULL UNIQUE,"
    " pubkey TEXT NOT NULL UNIQUE,"
    " env TEXT NOT NULL,"
    " state TEXT NOT NULL"
    "  CHECK (state IN ('pending', 'accepted', 'revoked')),"
    " tags TEXT NOT NULL DEFAULT '',"
    " hostname TEXT NOT NULL DEFAULT '',"
    " os TEXT NOT NULL DEFAULT '',"
    " agent_version TEXT NOT NULL DEFAULT '',"
    " free_disk INTEGER NOT NULL DEFAULT 0,"
    " last_seen INTEGER NOT NULL DEFAULT 0,"
    " online INTEGER NOT NULL DEFAULT 0,"
    " cloned INTEGER NOT NULL DEFAULT 0,"
    " created_at INTEGER NOT NULL"
    ") STRICT;"
    "CREATE INDEX agents_env ON agents (env, name);"
    "CREATE TABLE users ("
    " id INTEGER PRIMARY KEY,"
    " name TEXT NOT NULL UNIQUE,"
    " role TEXT NOT NULL,"
    " pubkey TEXT NOT NULL UNIQUE,"
    " env TEXT," /* NULL: every environment */
    " created_at INTEGER NOT NULL"
    ") STRICT;"
    "CREATE TABLE tokens ("
    " hash BLOB PRIMARY KEY CHECK (length(hash) = 32),"
    " env TEXT NOT NULL,"
    " created_by TEXT NOT NULL,"
    " created_at INTEGER NOT NULL,"
    " expires_at INTEGER NOT NULL,"
    " used_at INTEGER" /* NULL until consumed */
    ") STRICT;"
    "CREATE TABLE trust_keys ("
    " key_id TEXT PRIMARY KEY,"
    " pubkey TEXT NOT NULL,"
    " added_at INTEGER NOT NULL"
    ") STRICT;"
    "CREATE TABLE releases ("
    " id INTEGER PRIMARY KEY,"
    " app TEXT NOT NULL,"
    " version TEXT NOT NULL,"
    " sequence INTEGER NOT NULL,"
    " digest TEXT NOT NULL,"
    " size INTEGER NOT NULL,"
    " manifest BLOB NOT NULL,"
    " notes TEXT NOT NULL DEFAULT '',"
    " created_at INTEGER NOT NULL,"
    " UNIQUE (app, version)"
    ") STRICT;"
    "CREATE TABLE deployments ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " app TEXT NOT NULL,"
    " version TEXT NOT NULL,"
    " env TEXT NOT NULL,"
    " kind TEXT NOT NULL CHECK (kind IN ('deploy', 'rollback')),"
    " state TEXT NOT NULL CHECK (state IN"
    "  ('running', 'succeeded', 'failed', 'rolled_back')),"
    " created_by TEXT NOT NULL,"
    " created_at INTEGER NOT NULL,"
    " finished_at INTEGER NOT NULL DEFAULT 0,"
    " FOREIGN KEY (app, version) REFERENCES releases (app, version)"
    ") STRICT;"
    "CREATE INDEX deployments_app ON deployments (app, created_at);"
    "CREATE INDEX deployments_running ON deployments (id)"
    " WHERE state = 'running';"
    "CREATE TABLE tasks ("
    " deployment_id INTEGER NOT NULL REFERENCES deployments (id),"
    " agent TEXT NOT NULL REFERENCES agents (name),"
    " state TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'running',"
    "  'succeeded', 'failed', 'rolled_back', 'rejected', 'unknown')),"
    " step TEXT NOT NULL DEFAULT '',"
    " message TEXT NOT NULL DEFAULT '',"
    " live_version TEXT NOT NULL DEFAULT '',"
    " updated_at INTEGER NOT NULL,"
    " PRIMARY KEY (deployment_id, agent)"
    ") STRICT;"
    "CREATE INDEX tasks_agent ON tasks (agent);",
};

/* Names of the enums, as stored and as the CHECK constraints above list
 * them; indexed by the enum value. */
static const char *const s_agent_states[] = {"pending", "accepted", "revoked"};
static const char *const s_kinds[] = {"deploy", "rollback"};
static const char *const s_deploy_states[] = {"running", "succeeded", "failed",
                                              "rolled_back"};
static const char *const s_task_states[] = {
    "pending", "sent",        "running",  "succeeded",
    "failed",  "rolled_back", "rejected", "unknown"};

/* Why the last statement failed, for callers that turn a constraint into
 * a sentence of their own. */
enum { S_FAIL_NONE = 0, S_FAIL_UNIQUE, S_FAIL_FOREIGN, S_FAIL_NOROW };

struct store {
    sqlite3 *db;
    char path[1024]; /* for messages */
    int version;     /* schema version */
    int migrated;    /* migrations applied by store_open */
    int fail;        /* S_FAIL_* of the last failure */
};

/* --- bound arguments ---------------------------------------------------- */

typedef struct {
    char type; /* 't' text, 'o' text or NULL when empty, 'i' int, 'b' blob */
    const char *text;
    int64_t num;
    const void *blob;
    size_t len;
} s_arg_t;

#define A_TEXT(x)    ((s_arg_t){.type = 't', .text = (x)})
#define A_OPT(x)     ((s_arg_t){.type = 'o', .text = (x)})
#define A_INT(x)     ((s_arg_t){.type = 'i', .num = (int64_t)(x)})
#define A_BLOB(p, n) ((s_arg_t){.type = 'b', .blob = (p), .len = (n)})
/* An argument array and its length, as two function arguments. */
#define ARGS(...)                                                              \
    (const s_arg_t[]){__VA_ARGS__},                                            \
        (sizeof((const s_arg_t[]){__VA_ARGS__}) / sizeof(s_arg_t))
#define NO_ARGS NULL, 0

static int
s_bind_one(sqlite3_stmt *st, int col, const s_arg_t *a)
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

static hoist_err_t
s_code(int rc)
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

/* Fills ERR from SQLite's code RC and message, doing WHAT, and records a
 * unique or foreign key failure for the caller to rephrase. */
static hoist_err_t
s_fail(store_t *s, int rc, const char *what, hoist_error_t *err)
{
    const char *msg = sqlite3_errmsg(s->db);
    if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
        s->fail = S_FAIL_UNIQUE;
        return error_set(err, STORE_ERR_EXISTS, "store %s: %s: %s", s->path,
                         what, msg);
    }
    if (rc == SQLITE_CONSTRAINT_FOREIGNKEY) {
        s->fail = S_FAIL_FOREIGN;
        return error_set(err, STORE_ERR_NOTFOUND, "store %s: %s: %s", s->path,
                         what, msg);
    }
    return error_set(err, s_code(rc), "store %s: %s: %s", s->path, what, msg);
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
    s->fail = S_FAIL_NOROW;
    return error_set(err, STORE_ERR_NOTFOUND, "%s", msg);
}

/* --- running statements ------------------------------------------------- */

/* Prepares SQL with the N arguments A bound into *OUT (the caller
 * finalizes it). */
static hoist_err_t
s_prepare(store_t *s, const char *what, const char *sql, const s_arg_t *a,
          size_t n, sqlite3_stmt **out, hoist_error_t *err)
{
    sqlite3_stmt *st = NULL;
    s->fail = S_FAIL_NONE;
    int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        assert(sqlite3_bind_parameter_count(st) == (int)n);
        for (size_t i = 0; i < n && rc == SQLITE_OK; i++) {
            rc = s_bind_one(st, (int)i + 1, &a[i]);
        }
    }
    if (rc != SQLITE_OK) {
        hoist_err_t e = s_fail(s, rc, what, err);
        sqlite3_finalize(st);
        return e;
    }
    *out = st;
    return HOIST_OK;
}

/* Runs SQL, a statement that returns no rows, with A bound. *CHANGES (may
 * be NULL) gets the number of rows it changed. */
static hoist_err_t
s_exec(store_t *s, const char *what, const char *sql, const s_arg_t *a,
       size_t n, int *changes, hoist_error_t *err)
{
    sqlite3_stmt *st;
    hoist_err_t e = s_prepare(s, what, sql, a, n, &st, err);
    if (e != HOIST_OK) {
        return e;
    }
    int rc = sqlite3_step(st);
    assert(rc != SQLITE_ROW);
    if (rc != SQLITE_DONE) {
        e = s_fail(s, rc, what, err);
    } else if (changes) {
        *changes = sqlite3_changes(s->db);
    }
    sqlite3_finalize(st);
    return e;
}

/* s_exec for an UPDATE or DELETE of one named row: when no row matched it
 * is STORE_ERR_NOTFOUND with the message FMT. */
static hoist_err_t s_change(store_t *s, const char *what, const char *sql,
                            const s_arg_t *a, size_t n, hoist_error_t *err,
                            const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));

static hoist_err_t
s_change(store_t *s, const char *what, const char *sql, const s_arg_t *a,
         size_t n, hoist_error_t *err, const char *fmt, ...)
{
    int changes = 0;
    hoist_err_t e = s_exec(s, what, sql, a, n, &changes, err);
    if (e == HOIST_OK && changes == 0) {
        va_list ap;
        va_start(ap, fmt);
        e = s_vnotfound(s, err, fmt, ap);
        va_end(ap);
    }
    return e;
}

/* --- reading rows ------------------------------------------------------- */

/* A row being read column by column; BAD is the first column whose value
 * did not fit its field, or -1. */
typedef struct {
    sqlite3_stmt *st;
    int col;
    int bad;
} s_row_t;

static void
s_bad(s_row_t *r)
{
    if (r->bad < 0) {
        r->bad = r->col;
    }
}

static void
s_text(s_row_t *r, char *buf, size_t size)
{
    const unsigned char *t = sqlite3_column_text(r->st, r->col);
    size_t len = (size_t)sqlite3_column_bytes(r->st, r->col);
    buf[0] = '\0';
    if (len >= size || (t && memchr(t, '\0', len))) {
        s_bad(r);
    } else if (t) {
        memcpy(buf, t, len);
        buf[len] = '\0';
    }
    r->col++;
}

static int64_t
s_int(s_row_t *r)
{
    return sqlite3_column_int64(r->st, r->col++);
}

static uint64_t
s_uint(s_row_t *r)
{
    int64_t v = sqlite3_column_int64(r->st, r->col);
    if (v < 0) {
        s_bad(r);
        v = 0;
    }
    r->col++;
    return (uint64_t)v;
}

static void
s_blob(s_row_t *r, void *buf, size_t size, size_t *len)
{
    const void *b = sqlite3_column_blob(r->st, r->col);
    size_t n = (size_t)sqlite3_column_bytes(r->st, r->col);
    *len = 0;
    if (n > size) {
        s_bad(r);
    } else if (b) {
        memcpy(buf, b, n);
        *len = n;
    }
    r->col++;
}

/* The index of the column's text in NAMES; a name not there is bad. */
static int
s_enum(s_row_t *r, const char *const *names, size_t n)
{
    const char *t = (const char *)sqlite3_column_text(r->st, r->col);
    for (size_t i = 0; t && i < n; i++) {
        if (strcmp(t, names[i]) == 0) {
            r->col++;
            return (int)i;
        }
    }
    s_bad(r);
    r->col++;
    return 0;
}

/* The callback of a list function, whichever noun it lists. */
typedef struct {
    union {
        store_agent_fn agent;
        store_user_fn user;
        store_trust_fn trust;
        store_release_fn release;
        store_deployment_fn deployment;
        store_task_fn task;
    } fn;
    void *arg;
} s_cb_t;

/* How to read one noun's rows: its table (for messages), the reader that
 * fills a row struct of SIZE bytes, and how to hand the row to a list
 * callback. */
typedef struct {
    const char *table;
    void (*read)(s_row_t *r, void *row);
    size_t size;
    int (*visit)(const void *row, const s_cb_t *cb);
} s_noun_t;

static hoist_err_t
s_read_row(store_t *s, const s_noun_t *noun, sqlite3_stmt *st, void *row,
           hoist_error_t *err)
{
    s_row_t r = {st, 0, -1};
    noun->read(&r, row);
    if (r.bad < 0) {
        return HOIST_OK;
    }
    return error_set(err, HOIST_ERR_STATE,
                     "store %s: %s.%s holds a value that is out of range or "
                     "too long; was the database changed by hand?",
                     s->path, noun->table, sqlite3_column_name(st, r.bad));
}

/* Reads the first row of SQL with A bound into *OUT (NOUN's row struct),
 * then runs the statement to its end (which commits an UPDATE ...
 * RETURNING). No row is STORE_ERR_NOTFOUND with the message FMT. */
static hoist_err_t s_get(store_t *s, const s_noun_t *noun, const char *sql,
                         const s_arg_t *a, size_t n, void *out,
                         hoist_error_t *err, const char *fmt, ...)
    __attribute__((format(printf, 8, 9)));

static hoist_err_t
s_get(store_t *s, const s_noun_t *noun, const char *sql, const s_arg_t *a,
      size_t n, void *out, hoist_error_t *err, const char *fmt, ...)
{
    sqlite3_stmt *st = NULL;
    void *row = calloc(1, noun->size);
    hoist_err_t e = row ? s_prepare(s, noun->table, sql, a, n, &st, err)
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
        e = s_fail(s, rc, noun->table, err);
    }
    if (e == HOIST_OK) {
        memcpy(out, row, noun->size);
    }
out:
    sqlite3_finalize(st);
    free(row);
    return e;
}

/* Calls CB for every row of SQL with A bound, until it returns non-zero. */
static hoist_err_t
s_each(store_t *s, const s_noun_t *noun, const char *sql, const s_arg_t *a,
       size_t n, const s_cb_t *cb, hoist_error_t *err)
{
    sqlite3_stmt *st = NULL;
    void *row = calloc(1, noun->size);
    hoist_err_t e = row ? s_prepare(s, noun->table, sql, a, n, &st, err)
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
        e = s_fail(s, rc, noun->table, err);
    }
out:
    sqlite3_finalize(st);
    free(row);
    return e;
}

/* A single integer: count(*), a pragma's value. */
static void
s_count_read(s_row_t *r, void *row)
{
    *(int64_t *)row = s_int(r);
}

static const s_noun_t s_count_noun = {"count", s_count_read, sizeof(int64_t),
                                      NULL};

/* A single short text: an environment name, a pragma's value. */
static void
s_name_read(s_row_t *r, void *row)
{
    s_text(r, row, STORE_NAME_SIZE);
}

static const s_noun_t s_name_noun = {"value", s_name_read, STORE_NAME_SIZE,
                                     NULL};

/* True if SQL, a count(*) with one text parameter, counts a row for V.
 * This is how an add tells which of two unique columns collided: SQLite
 * names only the first index it happened to check. */
static bool
s_any(store_t *s, const char *sql, const char *v)
{
    int64_t n = 0;
    return s_get(s, &s_count_noun, sql, ARGS(A_TEXT(v)), &n, NULL,
                 "no count") == HOIST_OK &&
           n > 0;
}

/* --- checking input ----------------------------------------------------- */

static const char *
s_name(const char *const *names, size_t n, int v)
{
    return v >= 0 && (size_t)v < n ? names[v] : "unknown";
}

/* USAGE when V (a field of SIZE bytes) is empty and REQUIRED, LIMIT when
 * it has no NUL within SIZE bytes. */
static hoist_err_t
s_check_text(const char *what, const char *v, size_t size, bool required,
             hoist_error_t *err)
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

static bool
s_is_hex(const char *v, size_t len)
{
    return strnlen(v, len + 1) == len && strspn(v, "0123456789abcdef") == len;
}

/* KEY unless V is a CURVE public key in Z85: 40 characters of its
 * alphabet. */
static hoist_err_t
s_check_key(const char *who, const char *name, const char *v,
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

/* "2026-01-02 03:04:05 UTC" for T. */
static const char *
s_time(int64_t t, char buf[32])
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (!gmtime_r(&tt, &tm) ||
        strftime(buf, 32, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0) {
        snprintf(buf, 32, "%lld", (long long)t);
    }
    return buf;
}

/* --- opening and migrating ---------------------------------------------- */

int
store_schema_version(const store_t *s)
{
    return s->version;
}

int
store_migrations_applied(const store_t *s)
{
    return s->migrated;
}

/* WAL, full sync, foreign keys, busy timeout; refuses a file that cannot
 * do WAL or a library without foreign keys. */
static hoist_err_t
s_configure(store_t *s, hoist_error_t *err)
{
    char mode[STORE_NAME_SIZE];
    int64_t fk = 0;
    sqlite3_extended_result_codes(s->db, 1);
    sqlite3_busy_timeout(s->db, STORE_BUSY_MS);
    hoist_err_t e = s_get(s, &s_name_noun, "PRAGMA journal_mode = WAL", NO_ARGS,
                          mode, err, "journal_mode gave no answer");
    if (e == HOIST_OK && strcmp(mode, "wal") != 0) {
        return error_set(err, HOIST_ERR_IO,
                         "store %s: cannot use WAL (journal mode stays '%s'); "
                         "put the data directory on a local file system",
                         s->path, mode);
    }
    if (e == HOIST_OK) {
        e = s_exec(s, "synchronous", "PRAGMA synchronous = FULL", NO_ARGS, NULL,
                   err);
    }
    if (e == HOIST_OK) {
        e = s_exec(s, "foreign keys", "PRAGMA foreign_keys = ON", NO_ARGS, NULL,
                   err);
    }
    if (e == HOIST_OK) {
        e = s_get(s, &s_count_noun, "PRAGMA foreign_keys", NO_ARGS, &fk, err,
                  "foreign_keys gave no answer");
    }
    if (e == HOIST_OK && fk != 1) {
        return error_set(err, HOIST_ERR_STATE,
                         "store %s: this SQLite cannot enforce foreign keys",
                         s->path);
    }
    return e;
}

/* Applies migration VERSION (1-based) and records it, inside the open
 * transaction, then commits. */
static hoist_err_t
s_apply(store_t *s, int version, hoist_error_t *err)
{
    char *msg = NULL;
    int rc = sqlite3_exec(s->db, s_migrations[version - 1], NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        hoist_err_t e =
            error_set(err, s_code(rc), "store %s: migration to schema %d: %s",
                      s->path, version, msg ? msg : "failed");
        sqlite3_free(msg);
        return e;
    }
    hoist_err_t e =
        s_exec(s, "record migration",
               "INSERT INTO schema_version (version, applied_at)"
               " VALUES (?1, CAST(strftime('%s', 'now') AS INTEGER))",
               ARGS(A_INT(version)), NULL, err);
    if (e == HOIST_OK) {
        e = store_commit(s, err);
    }
    return e;
}

/* Brings the file to the newest schema, one migration per transaction.
 * The version is read under the write lock, so two controllers starting
 * on one file cannot both apply a migration. */
static hoist_err_t
s_migrate(store_t *s, hoist_error_t *err)
{
    const int64_t latest = (int64_t)N_OF(s_migrations);
    for (;;) {
        int64_t v = 0;
        hoist_err_t e = store_begin(s, err);
        if (e == HOIST_OK) {
            e = s_exec(s, "create schema_version",
                       "CREATE TABLE IF NOT EXISTS schema_version ("
                       " version INTEGER PRIMARY KEY,"
                       " applied_at INTEGER NOT NULL) STRICT",
                       NO_ARGS, NULL, err);
        }
        if (e == HOIST_OK) {
            e = s_get(s, &s_count_noun,
                      "SELECT coalesce(max(version), 0) FROM schema_version",
                      NO_ARGS, &v, err, "schema_version gave no answer");
        }
        if (e == HOIST_OK && v > latest) {
            e = error_set(err, HOIST_ERR_STATE,
                          "store %s: schema version %lld is newer than the "
                          "%lld this hoist-controller knows; run a newer "
                          "hoist-controller",
                          s->path, (long long)v, (long long)latest);
        }
        if (e != HOIST_OK || v == latest) {
            store_rollback(s, NULL);
            s->version = (int)v;
            return e;
        }
        e = s_apply(s, (int)v + 1, err);
        if (e != HOIST_OK) {
            store_rollback(s, NULL);
            return e;
        }
        s->migrated++;
    }
}

store_t *
store_open(const char *path, hoist_error_t *err)
{
    if (sqlite3_libversion_number() < STORE_SQLITE_MIN) {
        error_set(err, HOIST_ERR_STATE,
                  "store: SQLite %s is too old; Hoist needs 3.37 or newer",
                  sqlite3_libversion());
        return NULL;
    }
    store_t *s = calloc(1, sizeof *s);
    if (!s) {
        error_set(err, HOIST_ERR_NOMEM, "store %s: out of memory", path);
        return NULL;
    }
    snprintf(s->path, sizeof s->path, "%s", path);
    int rc = sqlite3_open_v2(path, &s->db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc != SQLITE_OK) {
        error_set(err, rc == SQLITE_NOMEM ? HOIST_ERR_NOMEM : HOIST_ERR_IO,
                  "store %s: cannot open: %s", path,
                  s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
        store_close(&s);
        return NULL;
    }
    if (s_configure(s, err) != HOIST_OK || s_migrate(s, err) != HOIST_OK) {
        store_close(&s);
    }
    return s;
}

void
store_close(store_t **p)
{
    if (!p || !*p) {
        return;
    }
    store_t *s = *p;
    /* Fails only while a statement is open: a bug in this file. */
    int rc = sqlite3_close(s->db);
    assert(rc == SQLITE_OK);
    (void)rc;
    free(s);
    *p = NULL;
}

hoist_err_t
store_begin(store_t *s, hoist_error_t *err)
{
    assert(sqlite3_get_autocommit(s->db));
    return s_exec(s, "begin", "BEGIN IMMEDIATE", NO_ARGS, NULL, err);
}

hoist_err_t
store_commit(store_t *s, hoist_error_t *err)
{
    return s_exec(s, "commit", "COMMIT", NO_ARGS, NULL, err);
}

hoist_err_t
store_rollback(store_t *s, hoist_error_t *err)
{
    if (sqlite3_get_autocommit(s->db)) {
        return HOIST_OK;
    }
    return s_exec(s, "rollback", "ROLLBACK", NO_ARGS, NULL, err);
}

/* --- agents ------------------------------------------------------------- */

#define AGENT_SELECT                                                           \
    "SELECT name, pubkey, env, state, tags, hostname, os, agent_version,"      \
    " free_disk, last_seen, online, cloned, created_at FROM agents"

static void
s_agent_read(s_row_t *r, void *row)
{
    store_agent_t *a = row;
    s_text(r, a->name, sizeof a->name);
    s_text(r, a->pubkey, sizeof a->pubkey);
    s_text(r, a->env, sizeof a->env);
    a->state = s_enum(r, s_agent_states, N_OF(s_agent_states));
    s_text(r, a->tags, sizeof a->tags);
    s_text(r, a->facts.hostname, sizeof a->facts.hostname);
    s_text(r, a->facts.os, sizeof a->facts.os);
    s_text(r, a->facts.agent_version, sizeof a->facts.agent_version);
    a->facts.free_disk = s_uint(r);
    a->last_seen = s_int(r);
    a->online = s_int(r) != 0;
    a->cloned = s_int(r) != 0;
    a->created_at = s_int(r);
}

static int
s_agent_visit(const void *row, const s_cb_t *cb)
{
    return cb->fn.agent(row, cb->arg);
}

static const s_noun_t s_agent_noun = {"agents", s_agent_read,
                                      sizeof(store_agent_t), s_agent_visit};

const char *
store_agent_state_name(store_agent_state_t state)
{
    return s_name(s_agent_states, N_OF(s_agent_states), (int)state);
}

static hoist_err_t
s_agent_check(const store_agent_t *a, hoist_error_t *err)
{
    hoist_err_t e =
        s_check_text("agent name", a->name, sizeof a->name, true, err);
    if (e == HOIST_OK) {
        e = s_check_key("agent", a->name, a->pubkey, err);
    }
    if (e == HOIST_OK) {
        e = s_check_text("agent environment", a->env, sizeof a->env, true, err);
    }
    if (e == HOIST_OK) {
        e = s_check_text("agent tags", a->tags, sizeof a->tags, false, err);
    }
    if (e == HOIST_OK && (unsigned)a->state >= N_OF(s_agent_states)) {
        e = error_set(err, HOIST_ERR_USAGE, "agent '%s': no state %d", a->name,
                      (int)a->state);
    }
    return e;
}

hoist_err_t
store_agent_add(store_t *s, const store_agent_t *a, hoist_error_t *err)
{
    int changes = 0;
    hoist_err_t e = s_agent_check(a, err);
    if (e != HOIST_OK) {
        return e;
    }
    /* A key is one identity: it may not be an agent and a user at once. */
    e = s_exec(s, "add agent",
               "INSERT INTO agents (name, pubkey, env, state, tags, created_at)"
               " SELECT ?1, ?2, ?3, ?4, ?5, ?6"
               " WHERE NOT EXISTS (SELECT 1 FROM users WHERE pubkey = ?2)",
               ARGS(A_TEXT(a->name), A_TEXT(a->pubkey), A_TEXT(a->env),
                    A_TEXT(s_agent_states[a->state]), A_TEXT(a->tags),
                    A_INT(a->created_at)),
               &changes, err);
    if (e == HOIST_OK && changes == 0) {
        return error_set(err, STORE_ERR_EXISTS,
                         "agent '%s': its key already belongs to a user",
                         a->name);
    }
    if (e != HOIST_OK && s->fail == S_FAIL_UNIQUE) {
        if (s_any(s, "SELECT count(*) FROM agents WHERE name = ?1", a->name)) {
            return error_set(err, STORE_ERR_EXISTS, "agent '%s' already exists",
                             a->name);
        }
        return error_set(err, STORE_ERR_EXISTS,
                         "agent '%s': its key is already enrolled as "
                         "another agent; see `hoist agents`",
                         a->name);
    }
    return e;
}

hoist_err_t
store_agent_get(store_t *s, const char *name, store_agent_t *out,
                hoist_error_t *err)
{
    return s_get(s, &s_agent_noun, AGENT_SELECT " WHERE name = ?1",
                 ARGS(A_TEXT(name)), out, err, "no agent '%s'", name);
}

hoist_err_t
store_agent_get_by_key(store_t *s, const char *pubkey, store_agent_t *out,
                       hoist_error_t *err)
{
    return s_get(s, &s_agent_noun, AGENT_SELECT " WHERE pubkey = ?1",
                 ARGS(A_TEXT(pubkey)), out, err, "no agent with key %.40s",
                 pubkey);
}

hoist_err_t
store_agent_list(store_t *s, const char *env, store_agent_fn fn, void *arg,
                 hoist_error_t *err)
{
    s_cb_t cb = {.fn.agent = fn, .arg = arg};
    return s_each(s, &s_agent_noun,
                  AGENT_SELECT " WHERE ?1 IS NULL OR env = ?1 ORDER BY name",
                  ARGS(A_OPT(env)), &cb, err);
}

hoist_err_t
store_agent_set_state(store_t *s, const char *name, store_agent_state_t state,
                      hoist_error_t *err)
{
    if ((unsigned)state >= N_OF(s_agent_states)) {
        return error_set(err, HOIST_ERR_USAGE, "agent '%s': no state %d", name,
                         (int)state);
    }
    return s_change(s, "set agent state",
                    "UPDATE agents SET state = ?1 WHERE name = ?2",
                    ARGS(A_TEXT(s_agent_states[state]), A_TEXT(name)), err,
                    "no agent '%s'", name);
}

hoist_err_t
store_agent_set_facts(store_t *s, const char *name, const store_facts_t *f,
                      int64_t now, hoist_error_t *err)
{
    hoist_err_t e =
        s_check_text("host name", f->hostname, sizeof f->hostname, false, err);
    if (e == HOIST_OK) {
        e = s_check_text("OS", f->os, sizeof f->os, false, err);
    }
    if (e == HOIST_OK) {
        e = s_check_text("agent version", f->agent_version,
                         sizeof f->agent_version, false, err);
    }
    if (e == HOIST_OK && f->free_disk > (uint64_t)INT64_MAX) {
        e = error_set(err, HOIST_ERR_LIMIT, "free disk %llu is out of range",
                      (unsigned long long)f->free_disk);
    }
    if (e != HOIST_OK) {
        error_prefix(err, "facts of agent '%s'", name);
        return e;
    }
    return s_change(s, "set agent facts",
                    "UPDATE agents SET hostname = ?1, os = ?2,"
                    " agent_version = ?3, free_disk = ?4, last_seen = ?5"
                    " WHERE name = ?6",
                    ARGS(A_TEXT(f->hostname), A_TEXT(f->os),
                         A_TEXT(f->agent_version), A_INT(f->free_disk),
                         A_INT(now), A_TEXT(name)),
                    err, "no agent '%s'", name);
}

hoist_err_t
store_agent_set_online(store_t *s, const char *name, bool online,
                       hoist_error_t *err)
{
    return s_change(
        s, "set agent online", "UPDATE agents SET online = ?1 WHERE name = ?2",
        ARGS(A_INT(online), A_TEXT(name)), err, "no agent '%s'", name);
}

hoist_err_t
store_agent_set_cloned(store_t *s, const char *name, bool cloned,
                       hoist_error_t *err)
{
    return s_change(
        s, "set agent cloned", "UPDATE agents SET cloned = ?1 WHERE name = ?2",
        ARGS(A_INT(cloned), A_TEXT(name)), err, "no agent '%s'", name);
}

hoist_err_t
store_agent_reset_online(store_t *s, hoist_error_t *err)
{
    return s_exec(s, "reset online", "UPDATE agents SET online = 0", NO_ARGS,
                  NULL, err);
}

/* --- users -------------------------------------------------------------- */

#define USER_SELECT "SELECT name, role, pubkey, env, created_at FROM users"

static void
s_user_read(s_row_t *r, void *row)
{
    store_user_t *u = row;
    s_text(r, u->name, sizeof u->name);
    s_text(r, u->role, sizeof u->role);
    s_text(r, u->pubkey, sizeof u->pubkey);
    s_text(r, u->env, sizeof u->env);
    u->created_at = s_int(r);
}

static int
s_user_visit(const void *row, const s_cb_t *cb)
{
    return cb->fn.user(row, cb->arg);
}

static const s_noun_t s_user_noun = {"users", s_user_read, sizeof(store_user_t),
                                     s_user_visit};

static hoist_err_t
s_user_check(const store_user_t *u, hoist_error_t *err)
{
    hoist_err_t e =
        s_check_text("user name", u->name, sizeof u->name, true, err);
    if (e == HOIST_OK) {
        e = s_check_text("user role", u->role, sizeof u->role, true, err);
    }
    if (e == HOIST_OK) {
        e = s_check_key("user", u->name, u->pubkey, err);
    }
    if (e == HOIST_OK) {
        e = s_check_text("user environment", u->env, sizeof u->env, false, err);
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
    e = s_exec(s, "add user",
               "INSERT INTO users (name, role, pubkey, env, created_at)"
               " SELECT ?1, ?2, ?3, ?4, ?5"
               " WHERE NOT EXISTS (SELECT 1 FROM agents WHERE pubkey = ?3)",
               ARGS(A_TEXT(u->name), A_TEXT(u->role), A_TEXT(u->pubkey),
                    A_OPT(u->env), A_INT(u->created_at)),
               &changes, err);
    if (e == HOIST_OK && changes == 0) {
        return error_set(err, STORE_ERR_EXISTS,
                         "user '%s': the key belongs to an agent", u->name);
    }
    if (e != HOIST_OK && s->fail == S_FAIL_UNIQUE) {
        if (s_any(s, "SELECT count(*) FROM users WHERE name = ?1", u->name)) {
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
    return s_get(s, &s_user_noun, USER_SELECT " WHERE name = ?1",
                 ARGS(A_TEXT(name)), out, err, "no user '%s'", name);
}

hoist_err_t
store_user_get_by_key(store_t *s, const char *pubkey, store_user_t *out,
                      hoist_error_t *err)
{
    return s_get(s, &s_user_noun, USER_SELECT " WHERE pubkey = ?1",
                 ARGS(A_TEXT(pubkey)), out, err, "no user with key %.40s",
                 pubkey);
}

hoist_err_t
store_user_list(store_t *s, store_user_fn fn, void *arg, hoist_error_t *err)
{
    s_cb_t cb = {.fn.user = fn, .arg = arg};
    return s_each(s, &s_user_noun, USER_SELECT " ORDER BY name", NO_ARGS, &cb,
                  err);
}

hoist_err_t
store_user_remove(store_t *s, const char *name, hoist_error_t *err)
{
    return s_change(s, "remove user", "DELETE FROM users WHERE name = ?1",
                    ARGS(A_TEXT(name)), err, "no user '%s'", name);
}

hoist_err_t
store_user_count_role(store_t *s, const char *role, int64_t *n,
                      hoist_error_t *err)
{
    return s_get(s, &s_count_noun, "SELECT count(*) FROM users WHERE role = ?1",
                 ARGS(A_TEXT(role)), n, err, "count gave no answer");
}

/* --- enrollment tokens -------------------------------------------------- */

hoist_err_t
store_token_create(store_t *s, const store_token_t *t, hoist_error_t *err)
{
    hoist_err_t e =
        s_check_text("token environment", t->env, sizeof t->env, true, err);
    if (e == HOIST_OK) {
        e = s_check_text("token creator", t->created_by, sizeof t->created_by,
                         true, err);
    }
    if (e == HOIST_OK && t->expires_at <= t->created_at) {
        e = error_set(err, HOIST_ERR_USAGE,
                      "token for '%s' would expire before it is created",
                      t->env);
    }
    if (e != HOIST_OK) {
        return e;
    }
    e = s_exec(s, "create token",
               "INSERT INTO tokens (hash, env, created_by, created_at,"
               " expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
               ARGS(A_BLOB(t->hash, sizeof t->hash), A_TEXT(t->env),
                    A_TEXT(t->created_by), A_INT(t->created_at),
                    A_INT(t->expires_at)),
               NULL, err);
    if (e != HOIST_OK && s->fail == S_FAIL_UNIQUE) {
        return error_set(err, STORE_ERR_EXISTS,
                         "a token with this hash already exists");
    }
    return e;
}

/* used_at (-1 while unused) and expires_at of a token. */
static void
s_token_read(s_row_t *r, void *row)
{
    int64_t *when = row;
    when[0] = s_int(r);
    when[1] = s_int(r);
}

static const s_noun_t s_token_noun = {"tokens", s_token_read,
                                      2 * sizeof(int64_t), NULL};

/* Says why the token with HASH could not be consumed at NOW. */
static hoist_err_t
s_token_refused(store_t *s, const uint8_t *hash, int64_t now,
                hoist_error_t *err)
{
    int64_t when[2];
    char buf[32];
    hoist_err_t e = s_get(
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
                         s_time(when[0], buf));
    }
    if (when[1] <= now) {
        return error_set(err, STORE_ERR_TOKEN_EXPIRED,
                         "enrollment token expired (%s); create another with "
                         "`hoist token create`",
                         s_time(when[1], buf));
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
        s_get(s, &s_name_noun,
              "UPDATE tokens SET used_at = ?1"
              " WHERE hash = ?2 AND used_at IS NULL AND expires_at > ?1"
              " RETURNING env",
              ARGS(A_INT(now), A_BLOB(hash, STORE_TOKEN_HASH)), env_out, err,
              "token refused");
    if (e != HOIST_OK && s->fail == S_FAIL_NOROW) {
        return s_token_refused(s, hash, now, err);
    }
    return e;
}

/* --- trusted release keys ----------------------------------------------- */

static void
s_trust_read(s_row_t *r, void *row)
{
    store_trust_t *k = row;
    s_text(r, k->key_id, sizeof k->key_id);
    s_text(r, k->pubkey, sizeof k->pubkey);
    k->added_at = s_int(r);
}

static int
s_trust_visit(const void *row, const s_cb_t *cb)
{
    return cb->fn.trust(row, cb->arg);
}

static const s_noun_t s_trust_noun = {"trust_keys", s_trust_read,
                                      sizeof(store_trust_t), s_trust_visit};

static hoist_err_t
s_check_key_id(const char *key_id, hoist_error_t *err)
{
    if (!s_is_hex(key_id, STORE_KEYID_SIZE - 1)) {
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
        e = s_check_text("release key", k->pubkey, sizeof k->pubkey, true, err);
    }
    if (e != HOIST_OK) {
        return e;
    }
    e = s_exec(s, "trust key",
               "INSERT INTO trust_keys (key_id, pubkey, added_at)"
               " VALUES (?1, ?2, ?3)",
               ARGS(A_TEXT(k->key_id), A_TEXT(k->pubkey), A_INT(k->added_at)),
               NULL, err);
    if (e != HOIST_OK && s->fail == S_FAIL_UNIQUE) {
        return error_set(err, STORE_ERR_EXISTS,
                         "release key %s is already trusted", k->key_id);
    }
    return e;
}

hoist_err_t
store_trust_list(store_t *s, store_trust_fn fn, void *arg, hoist_error_t *err)
{
    s_cb_t cb = {.fn.trust = fn, .arg = arg};
    return s_each(s, &s_trust_noun,
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
    return s_change(s, "untrust key",
                    "DELETE FROM trust_keys WHERE key_id = ?1",
                    ARGS(A_TEXT(key_id)), err,
                    "release key %s is not trusted; `hoist trust list` "
                    "shows the trusted keys",
                    key_id);
}

/* --- releases ----------------------------------------------------------- */

#define RELEASE_SELECT                                                         \
    "SELECT app, version, sequence, digest, size, manifest, notes,"            \
    " created_at FROM releases"

static void
s_release_read(s_row_t *r, void *row)
{
    store_release_t *rel = row;
    s_text(r, rel->app, sizeof rel->app);
    s_text(r, rel->version, sizeof rel->version);
    rel->sequence = s_uint(r);
    s_text(r, rel->digest, sizeof rel->digest);
    rel->size = s_uint(r);
    s_blob(r, rel->manifest, sizeof rel->manifest, &rel->manifest_len);
    s_text(r, rel->notes, sizeof rel->notes);
    rel->created_at = s_int(r);
}

static int
s_release_visit(const void *row, const s_cb_t *cb)
{
    return cb->fn.release(row, cb->arg);
}

static const s_noun_t s_release_noun = {
    "releases", s_release_read, sizeof(store_release_t), s_release_visit};

static hoist_err_t
s_release_check(const store_release_t *r, hoist_error_t *err)
{
    hoist_err_t e = s_check_text("app", r->app, sizeof r->app, true, err);
    if (e == HOIST_OK) {
        e = s_check_text("version", r->version, sizeof r->version, true, err);
    }
    if (e == HOIST_OK) {
        e = s_check_text("notes", r->notes, sizeof r->notes, false, err);
    }
    if (e != HOIST_OK) {
        return e;
    }
    if (!s_is_hex(r->digest, STORE_DIGEST_SIZE - 1)) {
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
    e = s_exec(s, "add release",
               "INSERT INTO releases (app, version, sequence, digest, size,"
               " manifest, notes, created_at)"
               " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
               ARGS(A_TEXT(r->app), A_TEXT(r->version), A_INT(r->sequence),
                    A_TEXT(r->digest), A_INT(r->size),
                    A_BLOB(r->manifest, r->manifest_len), A_TEXT(r->notes),
                    A_INT(r->created_at)),
               NULL, err);
    if (e != HOIST_OK && s->fail == S_FAIL_UNIQUE) {
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
    return s_get(s, &s_release_noun,
                 RELEASE_SELECT " WHERE app = ?1 AND version = ?2",
                 ARGS(A_TEXT(app), A_TEXT(version)), out, err,
                 "no release %s %s", app, version);
}

hoist_err_t
store_release_list(store_t *s, const char *app, store_release_fn fn, void *arg,
                   hoist_error_t *err)
{
    s_cb_t cb = {.fn.release = fn, .arg = arg};
    return s_each(s, &s_release_noun,
                  RELEASE_SELECT " WHERE ?1 IS NULL OR app = ?1"
                                 " ORDER BY created_at DESC, id DESC",
                  ARGS(A_OPT(app)), &cb, err);
}

/* --- deployments -------------------------------------------------------- */

#define DEPLOYMENT_SELECT                                                      \
    "SELECT id, app, version, env, kind, state, created_by, created_at,"       \
    " finished_at FROM deployments"

static void
s_deployment_read(s_row_t *r, void *row)
{
    store_deployment_t *d = row;
    d->id = s_int(r);
    s_text(r, d->app, sizeof d->app);
    s_text(r, d->version, sizeof d->version);
    s_text(r, d->env, sizeof d->env);
    d->kind = s_enum(r, s_kinds, N_OF(s_kinds));
    d->state = s_enum(r, s_deploy_states, N_OF(s_deploy_states));
    s_text(r, d->created_by, sizeof d->created_by);
    d->created_at = s_int(r);
    d->finished_at = s_int(r);
}

static int
s_deployment_visit(const void *row, const s_cb_t *cb)
{
    return cb->fn.deployment(row, cb->arg);
}

static const s_noun_t s_deployment_noun = {"deployments", s_deployment_read,
                                           sizeof(store_deployment_t),
                                           s_deployment_visit};

const char *
store_deploy_kind_name(store_deploy_kind_t kind)
{
    return s_name(s_kinds, N_OF(s_kinds), (int)kind);
}

const char *
store_deploy_state_name(store_deploy_state_t state)
{
    return s_name(s_deploy_states, N_OF(s_deploy_states), (int)state);
}

static hoist_err_t
s_deployment_check(const store_deployment_t *d, hoist_error_t *err)
{
    hoist_err_t e = s_check_text("app", d->app, sizeof d->app, true, err);
    if (e == HOIST_OK) {
        e = s_check_text("version", d->version, sizeof d->version, true, err);
    }
    if (e == HOIST_OK) {
        e = s_check_text("environment", d->env, sizeof d->env, true, err);
    }
    if (e == HOIST_OK) {
        e = s_check_text("deployment creator", d->created_by,
                         sizeof d->created_by, true, err);
    }
    if (e == HOIST_OK && ((unsigned)d->kind >= N_OF(s_kinds) ||
                          (unsigned)d->state >= N_OF(s_deploy_states))) {
        e = error_set(err, HOIST_ERR_USAGE,
                      "deployment of %s %s: kind %d or state %d out of range",
                      d->app, d->version, (int)d->kind, (int)d->state);
    }
    return e;
}

hoist_err_t
store_deployment_create(store_t *s, const store_deployment_t *d, int64_t *id,
                        hoist_error_t *err)
{
    hoist_err_t e = s_deployment_check(d, err);
    if (e != HOIST_OK) {
        return e;
    }
    e = s_exec(s, "create deployment",
               "INSERT INTO deployments (app, version, env, kind, state,"
               " created_by, created_at, finished_at)"
               " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
               ARGS(A_TEXT(d->app), A_TEXT(d->version), A_TEXT(d->env),
                    A_TEXT(s_kinds[d->kind]), A_TEXT(s_deploy_states[d->state]),
                    A_TEXT(d->created_by), A_INT(d->created_at),
                    A_INT(d->finished_at)),
               NULL, err);
    if (e != HOIST_OK && s->fail == S_FAIL_FOREIGN) {
        return error_set(err, STORE_ERR_NOTFOUND, "no release %s %s", d->app,
                         d->version);
    }
    if (e == HOIST_OK) {
        *id = sqlite3_last_insert_rowid(s->db);
    }
    return e;
}

hoist_err_t
store_deployment_get(store_t *s, int64_t id, store_deployment_t *out,
                     hoist_error_t *err)
{
    return s_get(s, &s_deployment_noun, DEPLOYMENT_SELECT " WHERE id = ?1",
                 ARGS(A_INT(id)), out, err, "no deployment %lld",
                 (long long)id);
}

hoist_err_t
store_deployment_list(store_t *s, const char *app, store_deployment_fn fn,
                      void *arg, hoist_error_t *err)
{
    s_cb_t cb = {.fn.deployment = fn, .arg = arg};
    return s_each(s, &s_deployment_noun,
                  DEPLOYMENT_SELECT " WHERE ?1 IS NULL OR app = ?1"
                                    " ORDER BY created_at DESC, id DESC",
                  ARGS(A_OPT(app)), &cb, err);
}

hoist_err_t
store_deployment_list_running(store_t *s, store_deployment_fn fn, void *arg,
                              hoist_error_t *err)
{
    s_cb_t cb = {.fn.deployment = fn, .arg = arg};
    return s_each(s, &s_deployment_noun,
                  DEPLOYMENT_SELECT " WHERE state = 'running' ORDER BY id",
                  NO_ARGS, &cb, err);
}

hoist_err_t
store_deployment_set_state(store_t *s, int64_t id, store_deploy_state_t state,
                           int64_t now, hoist_error_t *err)
{
    if ((unsigned)state >= N_OF(s_deploy_states)) {
        return error_set(err, HOIST_ERR_USAGE, "deployment %lld: no state %d",
                         (long long)id, (int)state);
    }
    int64_t finished = state == STORE_DEPLOY_RUNNING ? 0 : now;
    return s_change(
        s, "set deployment state",
        "UPDATE deployments SET state = ?1, finished_at = ?2 WHERE id = ?3",
        ARGS(A_TEXT(s_deploy_states[state]), A_INT(finished), A_INT(id)), err,
        "no deployment %lld", (long long)id);
}

/* --- tasks -------------------------------------------------------------- */

#define TASK_SELECT                                                            \
    "SELECT deployment_id, agent, state, step, live_version, updated_at,"      \
    " message FROM tasks"

static void
s_task_read(s_row_t *r, void *row)
{
    store_task_t *t = row;
    t->deployment_id = s_int(r);
    s_text(r, t->agent, sizeof t->agent);
    t->state = s_enum(r, s_task_states, N_OF(s_task_states));
    s_text(r, t->step, sizeof t->step);
    s_text(r, t->live_version, sizeof t->live_version);
    t->updated_at = s_int(r);
    s_text(r, t->message, sizeof t->message);
}

static int
s_task_visit(const void *row, const s_cb_t *cb)
{
    return cb->fn.task(row, cb->arg);
}

static const s_noun_t s_task_noun = {"tasks", s_task_read, sizeof(store_task_t),
                                     s_task_visit};

const char *
store_task_state_name(store_task_state_t state)
{
    return s_name(s_task_states, N_OF(s_task_states), (int)state);
}

void
store_task_set_message(store_task_t *t, const char *msg, size_t len)
{
    size_t start = 0;
    if (len > STORE_MESSAGE_MAX) {
        start = len - STORE_MESSAGE_MAX;
        /* Skip the continuation bytes of a character cut in two. */
        for (int i = 0; i < 3 && ((unsigned char)msg[start] & 0xc0) == 0x80;
             i++) {
            start++;
        }
    }
    size_t n = len - start;
    if (n > 0) {
        memcpy(t->message, msg + start, n);
    }
    t->message[n] = '\0';
    /* A NUL in the output would hide what follows it. */
    for (size_t i = 0; i < n; i++) {
        if (t->message[i] == '\0') {
            t->message[i] = '?';
        }
    }
}

static hoist_err_t
s_task_check(const store_task_t *t, hoist_error_t *err)
{
    hoist_err_t e =
        s_check_text("task agent", t->agent, sizeof t->agent, true, err);
    if (e == HOIST_OK) {
        e = s_check_text("task step", t->step, sizeof t->step, false, err);
    }
    if (e == HOIST_OK) {
        e = s_check_text("live version", t->live_version,
                         sizeof t->live_version, false, err);
    }
    if (e == HOIST_OK) {
        e = s_check_text("task message", t->message, sizeof t->message, false,
                         err);
    }
    if (e == HOIST_OK && (unsigned)t->state >= N_OF(s_task_states)) {
        e = error_set(err, HOIST_ERR_USAGE, "task of agent '%s': no state %d",
                      t->agent, (int)t->state);
    }
    return e;
}

/* Says which parent of a task that broke a foreign key is missing. */
static hoist_err_t
s_task_orphan(store_t *s, const store_task_t *t, hoist_error_t *err)
{
    int64_t n = 0;
    hoist_err_t e = s_get(
        s, &s_count_noun, "SELECT count(*) FROM deployments WHERE id = ?1",
        ARGS(A_INT(t->deployment_id)), &n, err, "count gave no answer");
    if (e != HOIST_OK) {
        return e;
    }
    if (n == 0) {
        return error_set(err, STORE_ERR_NOTFOUND, "no deployment %lld",
                         (long long)t->deployment_id);
    }
    return error_set(err, STORE_ERR_NOTFOUND, "no agent '%s'", t->agent);
}

hoist_err_t
store_task_create(store_t *s, const store_task_t *t, hoist_error_t *err)
{
    hoist_err_t e = s_task_check(t, err);
    if (e != HOIST_OK) {
        return e;
    }
    e = s_exec(s, "create task",
               "INSERT INTO tasks (deployment_id, agent, state, step,"
               " message, live_version, updated_at)"
               " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
               ARGS(A_INT(t->deployment_id), A_TEXT(t->agent),
                    A_TEXT(s_task_states[t->state]), A_TEXT(t->step),
                    A_TEXT(t->message), A_TEXT(t->live_version),
                    A_INT(t->updated_at)),
               NULL, err);
    if (e != HOIST_OK && s->fail == S_FAIL_FOREIGN) {
        return s_task_orphan(s, t, err);
    }
    if (e != HOIST_OK && s->fail == S_FAIL_UNIQUE) {
        return error_set(err, STORE_ERR_EXISTS,
                         "deployment %lld already has a task for agent '%s'",
                         (long long)t->deployment_id, t->agent);
    }
    return e;
}

hoist_err_t
store_task_get(store_t *s, int64_t deployment_id, const char *agent,
               store_task_t *out, hoist_error_t *err)
{
    return s_get(s, &s_task_noun,
                 TASK_SELECT " WHERE deployment_id = ?1 AND agent = ?2",
                 ARGS(A_INT(deployment_id), A_TEXT(agent)), out, err,
                 "no task for agent '%s' in deployment %lld", agent,
                 (long long)deployment_id);
}

hoist_err_t
store_task_list(store_t *s, int64_t deployment_id, store_task_fn fn, void *arg,
                hoist_error_t *err)
{
    s_cb_t cb = {.fn.task = fn, .arg = arg};
    return s_each(s, &s_task_noun,
                  TASK_SELECT " WHERE deployment_id = ?1 ORDER BY agent",
                  ARGS(A_INT(deployment_id)), &cb, err);
}

hoist_err_t
store_task_update(store_t *s, const store_task_t *t, hoist_error_t *err)
{
    hoist_err_t e = s_task_check(t, err);
    if (e != HOIST_OK) {
        return e;
    }
    return s_change(s, "update task",
                    "UPDATE tasks SET state = ?1, step = ?2, message = ?3,"
                    " live_version = ?4, updated_at = ?5"
                    " WHERE deployment_id = ?6 AND agent = ?7",
                    ARGS(A_TEXT(s_task_states[t->state]), A_TEXT(t->step),
                         A_TEXT(t->message), A_TEXT(t->live_version),
                         A_INT(t->updated_at), A_INT(t->deployment_id),
                         A_TEXT(t->agent)),
                    err, "no task for agent '%s' in deployment %lld", t->agent,
                    (long long)t->deployment_id);
}
