/*
 * test_store_audit: the store's audit log on real SQLite files: appends
 * chain with audit_hash, the chain verifies with audit_verify over
 * store_audit_list, long values are cut at a character boundary, the
 * triggers refuse UPDATE and DELETE, and an edit or deletion made after
 * dropping them is caught. Concurrent writers still build one chain.
 */
#include "storeutil.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "audit.h"
#include "store.h"

/* --- helpers ------------------------------------------------------------ */

/* Appends a row whose fields say which it is (N). */
static store_audit_t
s_append(store_t *s, int n)
{
    hoist_error_t err = {0};
    store_audit_t out;
    char target[64], detail[64];
    snprintf(target, sizeof target, "web 1.%d.0 -> staging", n);
    snprintf(detail, sizeof detail, "{\"n\": %d}", n);
    memset(&out, 0, sizeof out);
    if (store_audit_append(s, 1000 * (int64_t)n, "alice", "promote", target,
                           n % 2 ? "ok" : "refused: gates", n % 2 ? 0 : 4,
                           detail, &out, &err) != HOIST_OK) {
        fail_msg("audit append %d: %s", n, err.msg);
    }
    return out;
}

/* Every row store_audit_list gave, in order. */
typedef struct {
    store_audit_t *rows;
    size_t n;
    size_t cap;
    size_t stop_after; /* 0: never stop */
    size_t at;         /* the next row audit_verify reads */
} rows_t;

static int
s_collect(const store_audit_t *row, void *arg)
{
    rows_t *r = arg;
    if (r->n == r->cap) {
        r->cap = r->cap ? 2 * r->cap : 8;
        r->rows = realloc(r->rows, r->cap * sizeof *r->rows);
        assert_non_null(r->rows);
    }
    r->rows[r->n++] = *row;
    return r->stop_after && r->n >= r->stop_after;
}

static rows_t
s_list(store_t *s, int64_t since)
{
    hoist_error_t err = {0};
    rows_t r = {0};
    if (store_audit_list(s, since, s_collect, &r, &err) != HOIST_OK) {
        fail_msg("audit list: %s", err.msg);
    }
    return r;
}

/* audit_next_fn over collected rows. */
static int
s_next(void *ctx, audit_entry_t *e, uint8_t prev[AUDIT_HASH_BYTES],
       uint8_t hash[AUDIT_HASH_BYTES])
{
    rows_t *r = ctx;
    if (r->at == r->n) {
        return 0;
    }
    const store_audit_t *row = &r->rows[r->at++];
    *e = (audit_entry_t){
        .id = row->id,
        .time_ms = row->time_ms,
        .user = row->user,
        .action = row->action,
        .target = row->target,
        .result = row->result,
        .exit_code = row->exit_code,
        .detail = row->detail,
    };
    memcpy(prev, row->prev, AUDIT_HASH_BYTES);
    memcpy(hash, row->hash, AUDIT_HASH_BYTES);
    return 1;
}

/* Verifies every row of the store's log into *REPORT. */
static hoist_err_t
s_verify(store_t *s, audit_report_t *report)
{
    hoist_error_t err = {0};
    rows_t r = s_list(s, INT64_MIN);
    hoist_err_t e = audit_verify(s_next, &r, NULL, report, &err);
    free(r.rows);
    return e;
}

/* Runs SQL on the file behind the store's back; returns SQLite's code and
 * copies its message into MSG. */
static int
s_raw(const char *path, const char *sql, char msg[256])
{
    sqlite3 *db = NULL;
    char *m = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    int rc = sqlite3_exec(db, sql, NULL, NULL, &m);
    snprintf(msg, 256, "%s", m ? m : "");
    sqlite3_free(m);
    sqlite3_close(db);
    return rc;
}

static void
s_raw_ok(const char *path, const char *sql)
{
    char msg[256];
    if (s_raw(path, sql, msg) != SQLITE_OK) {
        fail_msg("%s: %s", sql, msg);
    }
}

/* True if S is valid UTF-8 (structure only). */
static bool
s_utf8(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        int n = *p < 0x80             ? 0
                : (*p & 0xe0) == 0xc0 ? 1
                : (*p & 0xf0) == 0xe0 ? 2
                : (*p & 0xf8) == 0xf0 ? 3
                                      : -1;
        if (n < 0) {
            return false;
        }
        p++;
        for (int i = 0; i < n; i++, p++) {
            if ((*p & 0xc0) != 0x80) {
                return false;
            }
        }
    }
    return true;
}

/* --- appending and listing ---------------------------------------------- */

static void
test_append_chains_rows(void **state)
{
    su_fixture_t *f = *state;
    static const uint8_t zero[AUDIT_HASH_BYTES] = {0};
    store_audit_t a[3];
    for (int i = 0; i < 3; i++) {
        a[i] = s_append(f->s, i + 1);
        assert_int_equal(a[i].id, i + 1);
    }
    assert_memory_equal(a[0].prev, zero, sizeof zero);
    assert_memory_equal(a[1].prev, a[0].hash, AUDIT_HASH_BYTES);
    assert_memory_equal(a[2].prev, a[1].hash, AUDIT_HASH_BYTES);
    assert_memory_not_equal(a[0].hash, zero, sizeof zero);

    /* The hash is audit_hash over what was stored. */
    uint8_t want[AUDIT_HASH_BYTES];
    audit_entry_t e = {.id = 2,
                       .time_ms = 2000,
                       .user = "alice",
                       .action = "promote",
                       .target = "web 1.2.0 -> staging",
                       .result = "refused: gates",
                       .exit_code = 4,
                       .detail = "{\"n\": 2}"};
    audit_hash(a[0].hash, &e, want);
    assert_memory_equal(a[1].hash, want, sizeof want);

    /* What is listed is what append returned. */
    rows_t r = s_list(f->s, INT64_MIN);
    assert_int_equal(r.n, 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(r.rows[i].id, a[i].id);
        assert_int_equal(r.rows[i].time_ms, a[i].time_ms);
        assert_int_equal(r.rows[i].exit_code, a[i].exit_code);
        assert_string_equal(r.rows[i].user, "alice");
        assert_string_equal(r.rows[i].action, "promote");
        assert_string_equal(r.rows[i].target, a[i].target);
        assert_string_equal(r.rows[i].result, a[i].result);
        assert_string_equal(r.rows[i].detail, a[i].detail);
        assert_memory_equal(r.rows[i].prev, a[i].prev, AUDIT_HASH_BYTES);
        assert_memory_equal(r.rows[i].hash, a[i].hash, AUDIT_HASH_BYTES);
    }
    free(r.rows);
}

static void
test_append_out_may_be_null(void **state)
{
    su_fixture_t *f = *state;
    hoist_error_t err = {0};
    assert_int_equal(store_audit_append(f->s, 5, NULL, NULL, NULL, NULL, -1,
                                        NULL, NULL, &err),
                     HOIST_OK);
    rows_t r = s_list(f->s, INT64_MIN);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.rows[0].user, "");
    assert_string_equal(r.rows[0].detail, "");
    assert_int_equal(r.rows[0].exit_code, -1);
    free(r.rows);
}

static void
test_list_since_and_stop(void **state)
{
    su_fixture_t *f = *state;
    for (int i = 1; i <= 4; i++) {
        s_append(f->s, i);
    }
    rows_t r = s_list(f->s, 2000);
    assert_int_equal(r.n, 3);
    assert_int_equal(r.rows[0].id, 2);
    assert_int_equal(r.rows[2].id, 4);
    free(r.rows);

    r = s_list(f->s, 5000);
    assert_int_equal(r.n, 0);
    free(r.rows);

    hoist_error_t err = {0};
    rows_t stop = {.stop_after = 2};
    assert_int_equal(store_audit_list(f->s, INT64_MIN, s_collect, &stop, &err),
                     HOIST_OK);
    assert_int_equal(stop.n, 2);
    free(stop.rows);
}

/* Values too long for their fields are cut before a split character, and
 * the hash covers what was kept. */
static void
test_long_values_cut_at_character(void **state)
{
    su_fixture_t *f = *state;
    hoist_error_t err = {0};
    store_audit_t out;
    /* "x" then 2-byte "é"s: the 64 bytes a name keeps would split one. */
    char user[302] = "x", detail[STORE_DETAIL_SIZE + 100];
    for (int i = 0; i < 150; i++) {
        strcat(user, "\xc3\xa9");
    }
    /* A 4-byte character across the detail's last byte. */
    memset(detail, 'd', sizeof detail);
    memcpy(detail + STORE_DETAIL_SIZE - 3, "\xf0\x9f\x9a\x80", 4);
    detail[sizeof detail - 1] = '\0';
    char action[200];
    memset(action, 'a', sizeof action);
    action[sizeof action - 1] = '\0';

    assert_int_equal(store_audit_append(f->s, 1, user, action, "t", "ok", 0,
                                        detail, &out, &err),
                     HOIST_OK);
    assert_int_equal(strlen(out.user), STORE_NAME_SIZE - 2);
    assert_true(s_utf8(out.user));
    assert_int_equal(strlen(out.action), STORE_ACTION_SIZE - 1);
    assert_int_equal(strlen(out.detail), STORE_DETAIL_SIZE - 3);
    assert_true(s_utf8(out.detail));

    rows_t r = s_list(f->s, INT64_MIN);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.rows[0].user, out.user);
    assert_string_equal(r.rows[0].detail, out.detail);
    free(r.rows);

    audit_report_t report;
    assert_int_equal(s_verify(f->s, &report), HOIST_OK);
}

/* Inside the caller's transaction the append is part of it: rolled back
 * with it, committed with it. */
static void
test_append_joins_open_transaction(void **state)
{
    su_fixture_t *f = *state;
    hoist_error_t err = {0};
    assert_int_equal(store_begin(f->s, &err), HOIST_OK);
    s_append(f->s, 1);
    assert_int_equal(store_rollback(f->s, &err), HOIST_OK);
    rows_t r = s_list(f->s, INT64_MIN);
    assert_int_equal(r.n, 0);
    free(r.rows);

    assert_int_equal(store_begin(f->s, &err), HOIST_OK);
    store_audit_t a = s_append(f->s, 1);
    store_audit_t b = s_append(f->s, 2);
    assert_int_equal(store_commit(f->s, &err), HOIST_OK);
    assert_int_equal(a.id, 1);
    assert_int_equal(b.id, 2);
    assert_memory_equal(b.prev, a.hash, AUDIT_HASH_BYTES);
}

static void
test_chain_continues_after_reopen(void **state)
{
    su_fixture_t *f = *state;
    store_audit_t a = s_append(f->s, 1);
    su_reopen(f);
    store_audit_t b = s_append(f->s, 2);
    assert_int_equal(b.id, 2);
    assert_memory_equal(b.prev, a.hash, AUDIT_HASH_BYTES);
    audit_report_t report;
    assert_int_equal(s_verify(f->s, &report), HOIST_OK);
    assert_int_equal(report.rows, 2);
}

/* Writers in several processes at once still build one chain: no id
 * twice, no gap, every row linked to the one before. */
static void
test_concurrent_appends_build_one_chain(void **state)
{
    su_fixture_t *f = *state;
    enum { WRITERS = 4, EACH = 10 };
    pid_t pids[WRITERS];
    store_close(&f->s);
    for (int i = 0; i < WRITERS; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0) {
            store_t *s = store_open(f->path, NULL);
            for (int j = 0; s && j < EACH; j++) {
                if (store_audit_append(s, j, "w", "write", "t", "ok", 0, "",
                                       NULL, NULL) != HOIST_OK) {
                    _exit(1);
                }
            }
            _exit(s ? 0 : 2);
        }
    }
    for (int i = 0; i < WRITERS; i++) {
        int status = 0;
        assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    su_reopen(f);
    audit_report_t report;
    assert_int_equal(s_verify(f->s, &report), HOIST_OK);
    assert_int_equal(report.rows, WRITERS * EACH);
    assert_int_equal(report.head.id, WRITERS * EACH);
}

/* --- verifying and tampering -------------------------------------------- */

static void
test_intact_log_verifies(void **state)
{
    su_fixture_t *f = *state;
    audit_report_t report;
    assert_int_equal(s_verify(f->s, &report), HOIST_OK);
    assert_int_equal(report.rows, 0);
    store_audit_t last;
    for (int i = 1; i <= 5; i++) {
        last = s_append(f->s, i);
    }
    assert_int_equal(s_verify(f->s, &report), HOIST_OK);
    assert_int_equal(report.status, AUDIT_OK);
    assert_int_equal(report.rows, 5);
    assert_int_equal(report.head.id, 5);
    assert_memory_equal(report.head.hash, last.hash, AUDIT_HASH_BYTES);
}

static void
test_triggers_refuse_update_and_delete(void **state)
{
    su_fixture_t *f = *state;
    char msg[256];
    for (int i = 1; i <= 3; i++) {
        s_append(f->s, i);
    }
    assert_int_not_equal(
        s_raw(f->path, "UPDATE audit SET result = 'ok' WHERE id = 2", msg),
        SQLITE_OK);
    assert_contains(msg, "append-only");
    assert_int_not_equal(s_raw(f->path, "DELETE FROM audit WHERE id = 2", msg),
                         SQLITE_OK);
    assert_contains(msg, "append-only");
    assert_int_not_equal(s_raw(f->path, "DELETE FROM audit", msg), SQLITE_OK);

    rows_t r = s_list(f->s, INT64_MIN);
    assert_int_equal(r.n, 3);
    assert_string_equal(r.rows[1].result, "refused: gates");
    free(r.rows);
    audit_report_t report;
    assert_int_equal(s_verify(f->s, &report), HOIST_OK);
}

static void
test_edit_after_dropping_trigger_detected(void **state)
{
    su_fixture_t *f = *state;
    for (int i = 1; i <= 4; i++) {
        s_append(f->s, i);
    }
    s_raw_ok(f->path, "DROP TRIGGER audit_no_update;"
                      "UPDATE audit SET result = 'ok', exit_code = 0"
                      " WHERE id = 2");
    audit_report_t report;
    assert_int_equal(s_verify(f->s, &report), HOIST_ERR_STATE);
    assert_int_equal(report.status, AUDIT_EDITED);
    assert_int_equal(report.bad_id, 2);
    assert_int_equal(report.head.id, 1);
}

static void
test_delete_after_dropping_trigger_detected(void **state)
{
    su_fixture_t *f = *state;
    for (int i = 1; i <= 4; i++) {
        s_append(f->s, i);
    }
    s_raw_ok(f->path, "DROP TRIGGER audit_no_delete;"
                      "DELETE FROM audit WHERE id = 2");
    audit_report_t report;
    assert_int_equal(s_verify(f->s, &report), HOIST_ERR_STATE);
    assert_int_equal(report.status, AUDIT_DELETED);
    assert_int_equal(report.bad_id, 2); /* the missing row */
    assert_contains(report.reason, "missing");

    /* Renumbering the rows after the hole hides the gap, not the break. */
    s_raw_ok(f->path, "DROP TRIGGER audit_no_update;"
                      "UPDATE audit SET id = id - 1 WHERE id > 2");
    assert_int_equal(s_verify(f->s, &report), HOIST_ERR_STATE);
    assert_true(report.status == AUDIT_EDITED ||
                report.status == AUDIT_UNLINKED);
    assert_int_equal(report.bad_id, 2);
}

/* The append after a tampered row still chains to the last row as stored,
 * so the damage stays where it was made. */
static void
test_append_after_tampering_keeps_damage_visible(void **state)
{
    su_fixture_t *f = *state;
    for (int i = 1; i <= 2; i++) {
        s_append(f->s, i);
    }
    s_raw_ok(f->path, "DROP TRIGGER audit_no_update;"
                      "UPDATE audit SET user = 'mallory' WHERE id = 1");
    store_audit_t c = s_append(f->s, 3);
    assert_int_equal(c.id, 3);
    audit_report_t report;
    assert_int_equal(s_verify(f->s, &report), HOIST_ERR_STATE);
    assert_int_equal(report.status, AUDIT_EDITED);
    assert_int_equal(report.bad_id, 1);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, su_setup, su_teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_append_chains_rows),
        T(test_append_out_may_be_null),
        T(test_list_since_and_stop),
        T(test_long_values_cut_at_character),
        T(test_append_joins_open_transaction),
        T(test_chain_continues_after_reopen),
        T(test_concurrent_appends_build_one_chain),
        T(test_intact_log_verifies),
        T(test_triggers_refuse_update_and_delete),
        T(test_edit_after_dropping_trigger_detected),
        T(test_delete_after_dropping_trigger_detected),
        T(test_append_after_tampering_keeps_damage_visible),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
