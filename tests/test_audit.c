/*
 * test_audit: the audit hash chain over rows held in memory, tampered
 * with the ways someone with write access to the database would.
 */
#include "testutil.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "audit.h"

#define ROWS 5

/* A stored row as the store would keep it. */
typedef struct {
    audit_entry_t e;
    char target[64];
    uint8_t prev[AUDIT_HASH_BYTES];
    uint8_t hash[AUDIT_HASH_BYTES];
} row_t;

typedef struct {
    row_t *rows;
    size_t n;
    size_t at;
    size_t fail_at; /* the read that fails, or SIZE_MAX */
} cursor_t;

static int
s_next(void *ctx, audit_entry_t *e, uint8_t prev[AUDIT_HASH_BYTES],
       uint8_t hash[AUDIT_HASH_BYTES])
{
    cursor_t *c = ctx;
    if (c->at == c->fail_at) {
        return -1;
    }
    if (c->at == c->n) {
        return 0;
    }
    const row_t *r = &c->rows[c->at++];
    *e = r->e;
    memcpy(prev, r->prev, AUDIT_HASH_BYTES);
    memcpy(hash, r->hash, AUDIT_HASH_BYTES);
    return 1;
}

/* Fills ROWS with a valid chain of N entries. */
static void
s_chain(row_t *rows, size_t n)
{
    uint8_t prev[AUDIT_HASH_BYTES] = {0};
    for (size_t i = 0; i < n; i++) {
        row_t *r = &rows[i];
        memset(r, 0, sizeof *r);
        snprintf(r->target, sizeof r->target, "web 1.%zu.0 -> staging", i);
        r->e = (audit_entry_t){.id = (int64_t)i + 1,
                               .time_ms = 1700000000000 + (int64_t)i,
                               .user = "alice",
                               .action = "promote",
                               .target = r->target,
                               .result = "ok",
                               .detail = ""};
        memcpy(r->prev, prev, sizeof prev);
        audit_hash(r->prev, &r->e, r->hash);
        memcpy(prev, r->hash, sizeof prev);
    }
}

/* Recomputes the hashes of ROWS[FROM..N) as a forger would. */
static void
s_rehash(row_t *rows, size_t n, size_t from)
{
    for (size_t i = from; i < n; i++) {
        if (i > 0) {
            memcpy(rows[i].prev, rows[i - 1].hash, AUDIT_HASH_BYTES);
        }
        audit_hash(rows[i].prev, &rows[i].e, rows[i].hash);
    }
}

static hoist_err_t
s_verify(row_t *rows, size_t n, const audit_head_t *expect, audit_report_t *rep)
{
    cursor_t c = {.rows = rows, .n = n, .fail_at = SIZE_MAX};
    hoist_error_t err = {0};
    hoist_err_t rc = audit_verify(s_next, &c, expect, rep, &err);
    if (rc != HOIST_OK) {
        assert_string_equal(err.msg, rep->reason);
    }
    return rc;
}

/* Pins the encoding: the value was computed outside this code base
 * (Python's hashlib.blake2b over the layout that audit.h describes). */
static void
test_hash_known_answer(void **state)
{
    (void)state;
    audit_entry_t e = {.id = 1,
                       .time_ms = 1700000000123,
                       .user = "alice",
                       .action = "promote",
                       .target = "web 1.2.0 -> production",
                       .result = "refused: x",
                       .exit_code = 3,
                       .detail = "{\"a\":1}"};
    uint8_t zero[AUDIT_HASH_BYTES] = {0}, h[AUDIT_HASH_BYTES];
    char hex[2 * AUDIT_HASH_BYTES + 1];
    audit_hash(zero, &e, h);
    sodium_bin2hex(hex, sizeof hex, h, sizeof h);
    assert_string_equal(hex, "a49f68237eae4b285368db788cfa2ebf"
                             "d7ff6034acca1c989fadd23400ef2355");
}

/* Moving a byte from one field to the next must change the hash. */
static void
test_hash_is_unambiguous(void **state)
{
    (void)state;
    uint8_t zero[AUDIT_HASH_BYTES] = {0}, a[AUDIT_HASH_BYTES],
            b[AUDIT_HASH_BYTES];
    audit_entry_t e1 = {.id = 1, .user = "ab", .action = "c"};
    audit_entry_t e2 = {.id = 1, .user = "a", .action = "bc"};
    audit_hash(zero, &e1, a);
    audit_hash(zero, &e2, b);
    assert_memory_not_equal(a, b, sizeof a);
    /* NULL reads as "". */
    audit_entry_t e3 = {.id = 1,
                        .user = "",
                        .action = "",
                        .target = "",
                        .result = "",
                        .detail = ""};
    audit_entry_t e4 = {.id = 1};
    audit_hash(zero, &e3, a);
    audit_hash(zero, &e4, b);
    assert_memory_equal(a, b, sizeof a);
    /* The previous hash is part of it. */
    uint8_t one[AUDIT_HASH_BYTES] = {1};
    audit_hash(one, &e4, a);
    assert_memory_not_equal(a, b, sizeof a);
    e4.exit_code = 3;
    audit_hash(zero, &e4, a);
    assert_memory_not_equal(a, b, sizeof a);
}

static void
test_intact_chain_verifies(void **state)
{
    (void)state;
    row_t rows[ROWS];
    audit_report_t rep;
    s_chain(rows, ROWS);
    assert_int_equal(s_verify(rows, ROWS, NULL, &rep), HOIST_OK);
    assert_int_equal(rep.status, AUDIT_OK);
    assert_int_equal(rep.rows, ROWS);
    assert_int_equal(rep.head.id, ROWS);
    assert_memory_equal(rep.head.hash, rows[ROWS - 1].hash, AUDIT_HASH_BYTES);
    /* The head it printed verifies later. */
    audit_head_t kept = rep.head;
    assert_int_equal(s_verify(rows, ROWS, &kept, &rep), HOIST_OK);
    /* So does an empty log, and a head of the empty log. */
    audit_head_t empty = {0};
    assert_int_equal(s_verify(rows, 0, &empty, &rep), HOIST_OK);
    assert_int_equal(rep.head.id, 0);
}

static void
test_edited_row_detected(void **state)
{
    (void)state;
    row_t rows[ROWS];
    audit_report_t rep;
    s_chain(rows, ROWS);
    rows[2].e.result = "refused: needs the release-manager role";
    assert_int_equal(s_verify(rows, ROWS, NULL, &rep), HOIST_ERR_STATE);
    assert_int_equal(rep.status, AUDIT_EDITED);
    assert_int_equal(rep.bad_id, 3);
    assert_int_equal(rep.head.id, 2);
    assert_contains(rep.reason, "row 3 was edited");
    /* The time is covered too. */
    s_chain(rows, ROWS);
    rows[0].e.time_ms++;
    assert_int_equal(s_verify(rows, ROWS, NULL, &rep), HOIST_ERR_STATE);
    assert_int_equal(rep.bad_id, 1);
}

/* Edited and rehashed, but the next row still holds the old hash. */
static void
test_rehashed_row_breaks_link(void **state)
{
    (void)state;
    row_t rows[ROWS];
    audit_report_t rep;
    s_chain(rows, ROWS);
    rows[2].e.user = "mallory";
    audit_hash(rows[2].prev, &rows[2].e, rows[2].hash);
    assert_int_equal(s_verify(rows, ROWS, NULL, &rep), HOIST_ERR_STATE);
    assert_int_equal(rep.status, AUDIT_UNLINKED);
    assert_int_equal(rep.bad_id, 4);
    assert_contains(rep.reason, "row 4 does not follow row 3");
}

static void
test_deleted_row_detected(void **state)
{
    (void)state;
    row_t rows[ROWS];
    audit_report_t rep;
    s_chain(rows, ROWS);
    memmove(&rows[2], &rows[3], 2 * sizeof *rows);
    assert_int_equal(s_verify(rows, ROWS - 1, NULL, &rep), HOIST_ERR_STATE);
    assert_int_equal(rep.status, AUDIT_DELETED);
    assert_int_equal(rep.bad_id, 3);
    assert_contains(rep.reason, "row 3 is missing before row 4");
    /* The first two rows deleted. */
    s_chain(rows, ROWS);
    assert_int_equal(s_verify(rows + 2, ROWS - 2, NULL, &rep), HOIST_ERR_STATE);
    assert_int_equal(rep.status, AUDIT_DELETED);
    assert_int_equal(rep.bad_id, 1);
    assert_contains(rep.reason, "rows 1 to 2 are missing before row 3");
}

/* Deleted, then the later ids renumbered: the id is hashed. */
static void
test_deleted_and_renumbered_detected(void **state)
{
    (void)state;
    row_t rows[ROWS];
    audit_report_t rep;
    s_chain(rows, ROWS);
    memmove(&rows[2], &rows[3], 2 * sizeof *rows);
    rows[2].e.id = 3;
    rows[3].e.id = 4;
    assert_int_equal(s_verify(rows, ROWS - 1, NULL, &rep), HOIST_ERR_STATE);
    assert_int_equal(rep.status, AUDIT_EDITED);
    assert_int_equal(rep.bad_id, 3);
    /* Renumbered and each row rehashed on its own stored prev: the link
     * to row 2 is broken. */
    audit_hash(rows[2].prev, &rows[2].e, rows[2].hash);
    audit_hash(rows[3].prev, &rows[3].e, rows[3].hash);
    assert_int_equal(s_verify(rows, ROWS - 1, NULL, &rep), HOIST_ERR_STATE);
    assert_int_equal(rep.status, AUDIT_UNLINKED);
    assert_int_equal(rep.bad_id, 3);
}

static void
test_reordered_rows_detected(void **state)
{
    (void)state;
    row_t rows[ROWS], tmp;
    audit_report_t rep;
    s_chain(rows, ROWS);
    tmp = rows[1];
    rows[1] = rows[2];
    rows[2] = tmp;
    assert_int_equal(s_verify(rows, ROWS, NULL, &rep), HOIST_ERR_STATE);
    /* Row 3 comes second: row 2 is missing at that point. */
    assert_int_equal(rep.status, AUDIT_DELETED);
    assert_int_equal(rep.bad_id, 2);
    assert_contains(rep.reason, "deleted or moved");
    /* An id that goes back is a reorder. */
    s_chain(rows, ROWS);
    rows[3] = rows[1];
    assert_int_equal(s_verify(rows, ROWS, NULL, &rep), HOIST_ERR_STATE);
    assert_int_equal(rep.status, AUDIT_REORDERED);
    assert_int_equal(rep.bad_id, 2);
    assert_contains(rep.reason, "row 2 comes after row 3");
}

/* What the chain cannot see alone, the kept head sees. */
static void
test_truncation_needs_the_head(void **state)
{
    (void)state;
    row_t rows[ROWS];
    audit_report_t rep;
    s_chain(rows, ROWS);
    assert_int_equal(s_verify(rows, ROWS, NULL, &rep), HOIST_OK);
    audit_head_t kept = rep.head;
    assert_int_equal(s_verify(rows, ROWS - 2, NULL, &rep), HOIST_OK);
    assert_int_equal(s_verify(rows, ROWS - 2, &kept, &rep), HOIST_ERR_STATE);
    assert_int_equal(rep.status, AUDIT_TRUNCATED);
    assert_int_equal(rep.bad_id, ROWS);
    assert_contains(rep.reason, "the log ends at row 3");
}

static void
test_full_rewrite_needs_the_head(void **state)
{
    (void)state;
    row_t rows[ROWS];
    audit_report_t rep;
    s_chain(rows, ROWS);
    audit_head_t kept = {.id = ROWS};
    memcpy(kept.hash, rows[ROWS - 1].hash, AUDIT_HASH_BYTES);
    rows[1].e.result = "ok (nothing to see)";
    s_rehash(rows, ROWS, 1);
    assert_int_equal(s_verify(rows, ROWS, NULL, &rep), HOIST_OK);
    assert_int_equal(s_verify(rows, ROWS, &kept, &rep), HOIST_ERR_STATE);
    assert_int_equal(rep.status, AUDIT_REWRITTEN);
    assert_int_equal(rep.bad_id, ROWS);
    /* A head kept before the rewritten row still verifies: rows up to it
     * are as they were. */
    audit_head_t early = {.id = 1};
    memcpy(early.hash, rows[0].hash, AUDIT_HASH_BYTES);
    assert_int_equal(s_verify(rows, ROWS, &early, &rep), HOIST_OK);
}

static void
test_store_failure_reported(void **state)
{
    (void)state;
    row_t rows[ROWS];
    audit_report_t rep;
    hoist_error_t err = {0};
    s_chain(rows, ROWS);
    cursor_t c = {.rows = rows, .n = ROWS, .fail_at = 2};
    assert_int_equal(audit_verify(s_next, &c, NULL, &rep, &err), HOIST_ERR_IO);
    assert_int_equal(rep.status, AUDIT_UNREADABLE);
    assert_int_equal(rep.head.id, 2);
    assert_contains(err.msg, "cannot read the audit log after row 2");
}

static void
test_walk_stops_at_first_failure(void **state)
{
    (void)state;
    row_t rows[ROWS];
    audit_walk_t w;
    audit_report_t rep;
    s_chain(rows, ROWS);
    rows[1].e.user = "mallory";
    audit_walk_init(&w, NULL);
    assert_true(audit_walk_step(&w, &rows[0].e, rows[0].prev, rows[0].hash));
    assert_false(audit_walk_step(&w, &rows[1].e, rows[1].prev, rows[1].hash));
    assert_false(audit_walk_step(&w, &rows[2].e, rows[2].prev, rows[2].hash));
    audit_walk_end(&w, &rep);
    assert_int_equal(rep.bad_id, 2);
    assert_int_equal(rep.rows, 2);
}

static void
test_head_text_round_trip(void **state)
{
    (void)state;
    audit_head_t h = {.id = 47}, back = {0};
    char buf[AUDIT_HEAD_MAX];
    for (int i = 0; i < AUDIT_HASH_BYTES; i++) {
        h.hash[i] = (uint8_t)(i * 7 + 1);
    }
    audit_head_format(&h, buf);
    assert_true(strncmp(buf, "47:0108", 7) == 0);
    assert_int_equal(strlen(buf), 3 + 64);
    assert_int_equal(audit_head_parse(buf, &back, NULL), HOIST_OK);
    assert_int_equal(back.id, 47);
    assert_memory_equal(back.hash, h.hash, AUDIT_HASH_BYTES);

    hoist_error_t err = {0};
    audit_head_t untouched = {.id = 9};
    const char *bad[] = {"", "47", ":00", "47:abc", NULL};
    for (size_t i = 0; bad[i]; i++) {
        assert_int_equal(audit_head_parse(bad[i], &untouched, &err),
                         HOIST_ERR_USAGE);
    }
    assert_contains(err.msg, "use ID:HASH");
    /* Right length, but not hex; or a sign. */
    char text[AUDIT_HEAD_MAX];
    snprintf(text, sizeof text, "47:%064d", 0);
    text[10] = 'g';
    assert_int_equal(audit_head_parse(text, &untouched, NULL), HOIST_ERR_USAGE);
    snprintf(text, sizeof text, "-4:%064d", 0);
    assert_int_equal(audit_head_parse(text, &untouched, NULL), HOIST_ERR_USAGE);
    assert_int_equal(audit_head_parse(NULL, &untouched, NULL), HOIST_ERR_USAGE);
    assert_int_equal(untouched.id, 9);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hash_known_answer),
        cmocka_unit_test(test_hash_is_unambiguous),
        cmocka_unit_test(test_intact_chain_verifies),
        cmocka_unit_test(test_edited_row_detected),
        cmocka_unit_test(test_rehashed_row_breaks_link),
        cmocka_unit_test(test_deleted_row_detected),
        cmocka_unit_test(test_deleted_and_renumbered_detected),
        cmocka_unit_test(test_reordered_rows_detected),
        cmocka_unit_test(test_truncation_needs_the_head),
        cmocka_unit_test(test_full_rewrite_needs_the_head),
        cmocka_unit_test(test_store_failure_reported),
        cmocka_unit_test(test_walk_stops_at_first_failure),
        cmocka_unit_test(test_head_text_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
