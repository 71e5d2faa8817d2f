/*
 * store_sql: the machinery the store's files share. Internal to the store:
 * store.c (opening, migrations, transactions) and one store_NOUN.c per
 * noun include it; no other module may, since everything here is SQLite
 * and the rest of the controller must not depend on that (store.h says
 * why). The tests include it only to build a database of an old schema.
 *
 * A noun's file names its statement and hands it to one of four runners:
 * store_sql_exec (no rows), store_sql_change (an UPDATE or DELETE of one
 * named row), store_sql_get (one row) and store_sql_each (every row, to a
 * list callback). Rows are read column by column through a store_sql_row_t
 * into the noun's row struct; a value that does not fit is reported as a
 * damaged database, never truncated. Every value is a bound parameter
 * (store_sql_arg_t, built with the A_* macros); no SQL text is built at
 * run time.
 */
#ifndef HOIST_STORE_SQL_H
#define HOIST_STORE_SQL_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "store.h"

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

/* Why the last statement failed, for callers that turn a constraint into
 * a sentence of their own (store_t.fail). */
enum {
    STORE_SQL_FAIL_NONE = 0,
    STORE_SQL_FAIL_UNIQUE,  /* a UNIQUE or PRIMARY KEY constraint */
    STORE_SQL_FAIL_FOREIGN, /* a FOREIGN KEY constraint */
    STORE_SQL_FAIL_NOROW,   /* store_sql_get or _change found no row */
};

struct store {
    sqlite3 *db;
    char path[1024]; /* for messages */
    int version;     /* schema version */
    int migrated;    /* migrations applied by store_open */
    int fail;        /* STORE_SQL_FAIL_* of the last failure */
};

/* The schema, one migration per entry (see store.c); exported so that a
 * test can write a file of an older schema and watch store_open migrate
 * it. */
extern const char *const store_migrations[];
extern const size_t store_migrations_count;

/* --- bound arguments ---------------------------------------------------- */

typedef struct {
    char type; /* 't' text, 'o' text or NULL when empty, 'i' int, 'b' blob */
    const char *text;
    int64_t num;
    const void *blob;
    size_t len;
} store_sql_arg_t;

#define A_TEXT(x)    ((store_sql_arg_t){.type = 't', .text = (x)})
#define A_OPT(x)     ((store_sql_arg_t){.type = 'o', .text = (x)})
#define A_INT(x)     ((store_sql_arg_t){.type = 'i', .num = (int64_t)(x)})
#define A_BLOB(p, n) ((store_sql_arg_t){.type = 'b', .blob = (p), .len = (n)})
/* An argument array and its length, as two function arguments. */
#define ARGS(...)                                                              \
    (const store_sql_arg_t[]){__VA_ARGS__},                                    \
        (sizeof((const store_sql_arg_t[]){__VA_ARGS__}) /                      \
         sizeof(store_sql_arg_t))
#define NO_ARGS NULL, 0

/* --- reading rows ------------------------------------------------------- */

/* A row being read column by column; BAD is the first column whose value
 * did not fit its field, or -1. */
typedef struct {
    sqlite3_stmt *st;
    int col;
    int bad;
} store_sql_row_t;

/* Marks the current column bad (the first one only is kept). */
void store_sql_bad(store_sql_row_t *r);

/* Copies the column's text into BUF of SIZE bytes, NUL-terminated; a value
 * that does not fit or holds a NUL is bad (BUF is then ""). */
void store_sql_text(store_sql_row_t *r, char *buf, size_t size);

/* The column as an integer. */
int64_t store_sql_int(store_sql_row_t *r);

/* The column as an unsigned integer; a negative value is bad (0). */
uint64_t store_sql_uint(store_sql_row_t *r);

/* Copies the column's blob into BUF of SIZE bytes and sets *LEN; a longer
 * blob is bad. */
void store_sql_blob(store_sql_row_t *r, void *buf, size_t size, size_t *len);

/* Copies the column's blob into BUF, which it must fill exactly: a hash. */
void store_sql_hash(store_sql_row_t *r, void *buf, size_t size);

/* The index of the column's text in NAMES (N of them); a name not there is
 * bad (0). */
int store_sql_enum(store_sql_row_t *r, const char *const *names, size_t n);

/* The callback of a list function, whichever noun it lists. */
typedef struct {
    union {
        store_agent_fn agent;
        store_user_fn user;
        store_trust_fn trust;
        store_release_fn release;
        store_deployment_fn deployment;
        store_task_fn task;
        store_audit_fn audit;
        store_approval_fn approval;
        store_schedule_fn schedule;
    } fn;
    void *arg;
} store_sql_cb_t;

/* How to read one noun's rows: its table (for messages), the reader that
 * fills a row struct of SIZE bytes, and how to hand the row to a list
 * callback (NULL for a noun that is never listed). */
typedef struct {
    const char *table;
    void (*read)(store_sql_row_t *r, void *row);
    size_t size;
    int (*visit)(const void *row, const store_sql_cb_t *cb);
} store_sql_noun_t;

/* A single integer (count(*), a pragma's value), into an int64_t. */
extern const store_sql_noun_t store_sql_count_noun;

/* A single short text (a name, a pragma's value), into a buffer of
 * STORE_NAME_SIZE bytes. */
extern const store_sql_noun_t store_sql_name_noun;

/* --- running statements ------------------------------------------------- */

/* Fills ERR from SQLite's code RC and the connection's message, doing
 * WHAT; a unique or foreign key failure becomes STORE_ERR_EXISTS or
 * STORE_ERR_NOTFOUND and is recorded in S->fail for the caller to
 * rephrase. Returns the code. */
hoist_err_t store_sql_fail(store_t *s, int rc, const char *what,
                           hoist_error_t *err);

/* The hoist code for SQLite's result code RC. */
hoist_err_t store_sql_code(int rc);

/* Prepares SQL with the N arguments A bound into *OUT (the caller
 * finalizes it). */
hoist_err_t store_sql_prepare(store_t *s, const char *what, const char *sql,
                              const store_sql_arg_t *a, size_t n,
                              sqlite3_stmt **out, hoist_error_t *err);

/* Runs SQL, a statement that returns no rows, with A bound. *CHANGES (may
 * be NULL) gets the number of rows it changed. */
hoist_err_t store_sql_exec(store_t *s, const char *what, const char *sql,
                           const store_sql_arg_t *a, size_t n, int *changes,
                           hoist_error_t *err);

/* store_sql_exec for an UPDATE or DELETE of one named row: when no row
 * matched it is STORE_ERR_NOTFOUND with the message FMT. */
hoist_err_t store_sql_change(store_t *s, const char *what, const char *sql,
                             const store_sql_arg_t *a, size_t n,
                             hoist_error_t *err, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));

/* Reads the first row of SQL with A bound into *OUT (NOUN's row struct),
 * then runs the statement to its end (which commits an UPDATE ...
 * RETURNING). No row is STORE_ERR_NOTFOUND with the message FMT. */
hoist_err_t store_sql_get(store_t *s, const store_sql_noun_t *noun,
                          const char *sql, const store_sql_arg_t *a, size_t n,
                          void *out, hoist_error_t *err, const char *fmt, ...)
    __attribute__((format(printf, 8, 9)));

/* Calls CB for every row of SQL with A bound, until it returns non-zero. */
hoist_err_t store_sql_each(store_t *s, const store_sql_noun_t *noun,
                           const char *sql, const store_sql_arg_t *a, size_t n,
                           const store_sql_cb_t *cb, hoist_error_t *err);

/* True if SQL, a count(*) with one text parameter, counts a row for V.
 * This is how an add tells which of two unique columns collided: SQLite
 * names only the first index it happened to check. */
bool store_sql_any(store_t *s, const char *sql, const char *v);

/* --- checking input ----------------------------------------------------- */

/* NAMES[V], or "unknown" when V is not an index of NAMES (N entries). */
const char *store_sql_name(const char *const *names, size_t n, int v);

/* USAGE when V (a field of SIZE bytes) is empty and REQUIRED, LIMIT when
 * it has no NUL within SIZE bytes. WHAT names the field. */
hoist_err_t store_sql_check_text(const char *what, const char *v, size_t size,
                                 bool required, hoist_error_t *err);

/* True if V is exactly LEN lowercase hex digits. */
bool store_sql_is_hex(const char *v, size_t len);

/* KEY unless V is a CURVE public key in Z85: 40 characters of its
 * alphabet. WHO and NAME say whose key it is. */
hoist_err_t store_sql_check_key(const char *who, const char *name,
                                const char *v, hoist_error_t *err);

/* Copies V (NULL reads as "") into BUF of SIZE bytes, cutting what does
 * not fit at a UTF-8 character boundary so that no character is split. */
void store_sql_cut(char *buf, size_t size, const char *v);

/* "2026-01-02 03:04:05 UTC" for T (unix seconds), in BUF; returns BUF. */
const char *store_sql_time(int64_t t, char buf[32]);

#endif
