/*
 * audit: the hash chain of the append-only audit log. Pure: the store
 * persists the rows; this module says what a row's hash is and whether a
 * sequence of stored rows is still the chain that was written.
 *
 * Each entry's hash is BLAKE2b-256 over "hoist-audit-v1", the previous
 * entry's hash (32 zero bytes before the first), the id and time and exit
 * code as fixed-width big-endian integers, then user, action, target,
 * result and detail, each preceded by its length as 8 bytes big-endian,
 * so that no two different entries encode to the same bytes.
 *
 * What the chain detects, walking rows in the order the store keeps them:
 * an edited row (its hash no longer matches its content), a deleted row
 * (a gap in the ids, or a row whose stored previous hash is not the hash
 * of the row before it), and rows out of order (an id not above the one
 * before).
 *
 * What it cannot detect: the newest rows removed (truncation leaves a
 * shorter chain that is perfectly valid), and a rewrite by someone who
 * recomputes every hash after the row they changed (the chain has no
 * secret: anyone who can write the database can rebuild it). Both are
 * caught by the head: `hoist audit verify` prints the last id and its hash
 * (audit_head_format); kept somewhere the controller cannot write (a
 * ticket, a log shipper, a second person's notes) and handed back to a
 * later verify (audit_verify's EXPECT), it proves that row is still there
 * and unchanged, and with it every row before it.
 */
#ifndef HOIST_AUDIT_H
#define HOIST_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define AUDIT_HASH_BYTES 32
/* "ID:HEX": up to 19 digits, a colon, 64 hex digits and the NUL. */
#define AUDIT_HEAD_MAX (19 + 1 + 2 * AUDIT_HASH_BYTES + 1)

/* One entry. The strings are borrowed (the store's row owns them); NULL
 * reads as "". */
typedef struct {
    int64_t id;      /* 1, 2, 3, ... in the order written */
    int64_t time_ms; /* wall clock, milliseconds since the epoch */
    const char *user;
    const char *action; /* "promote" */
    const char *target; /* "web 1.2.0 -> production" */
    const char *result; /* "ok", "refused: ..." */
    int exit_code;      /* the exit code the CLI got (DESIGN.md) */
    const char *detail; /* JSON text, or "" */
} audit_entry_t;

/* A point in the chain: a row's id and its hash. id 0 with a zero hash is
 * the empty log. */
typedef struct {
    int64_t id;
    uint8_t hash[AUDIT_HASH_BYTES];
} audit_head_t;

/* Computes the hash of E chained after PREV into OUT. */
void audit_hash(const uint8_t prev[AUDIT_HASH_BYTES], const audit_entry_t *e,
                uint8_t out[AUDIT_HASH_BYTES]);

typedef enum {
    AUDIT_OK,
    AUDIT_EDITED,     /* a row's hash does not match its content */
    AUDIT_DELETED,    /* an id is missing: deleted, or moved later */
    AUDIT_UNLINKED,   /* a row's previous hash is not the row before's */
    AUDIT_REORDERED,  /* an id is not above the one before it */
    AUDIT_TRUNCATED,  /* the expected head is not there any more */
    AUDIT_REWRITTEN,  /* the expected head's row has another hash */
    AUDIT_UNREADABLE, /* the store could not give the rows */
} audit_status_t;

typedef struct {
    audit_status_t status;
    int64_t bad_id;    /* the first row found wrong; 0 when OK */
    int64_t rows;      /* rows read */
    audit_head_t head; /* the last row that verified */
    char reason[512];  /* a sentence for the user */
} audit_report_t;

/* Incremental verification, for a store that pushes rows to a callback:
 * audit_walk_init, audit_walk_step per row in stored order (false once a
 * row is wrong; later steps change nothing), audit_walk_end. */
typedef struct {
    audit_report_t report;
    bool has_expect;
    bool expect_seen;
    audit_head_t expect;
} audit_walk_t;

/* Starts a walk. EXPECT (may be NULL) is a head kept from an earlier
 * verify: the walk then also fails when that row is missing or changed. */
void audit_walk_init(audit_walk_t *w, const audit_head_t *expect);

/* Checks one stored row E with its stored previous hash PREV and stored
 * hash HASH. Returns false when the log is found wrong (now or before). */
bool audit_walk_step(audit_walk_t *w, const audit_entry_t *e,
                     const uint8_t prev[AUDIT_HASH_BYTES],
                     const uint8_t hash[AUDIT_HASH_BYTES]);

/* Ends the walk and copies the result to OUT. */
void audit_walk_end(audit_walk_t *w, audit_report_t *out);

/* Gives the next stored row: fills E, PREV and HASH and returns 1; returns
 * 0 after the last row, and -1 when the store failed. What E points to
 * must stay valid until the next call. */
typedef int (*audit_next_fn)(void *ctx, audit_entry_t *e,
                             uint8_t prev[AUDIT_HASH_BYTES],
                             uint8_t hash[AUDIT_HASH_BYTES]);

/* Walks every row NEXT gives (in stored order) and reports, into OUT, OK
 * or the first wrong row and why. EXPECT as for audit_walk_init. Returns
 * HOIST_OK for an intact log; HOIST_ERR_STATE when it was tampered with,
 * HOIST_ERR_IO when NEXT failed, with the report's reason in ERR. OUT is
 * filled in every case. */
hoist_err_t audit_verify(audit_next_fn next, void *ctx,
                         const audit_head_t *expect, audit_report_t *out,
                         hoist_error_t *err);

/* Writes HEAD as "ID:HEX" (64 lowercase hex digits) into BUF; returns BUF. */
const char *audit_head_format(const audit_head_t *head,
                              char buf[AUDIT_HEAD_MAX]);

/* Parses "ID:HEX" as audit_head_format writes it into *OUT.
 * HOIST_ERR_USAGE naming the expected form otherwise. */
hoist_err_t audit_head_parse(const char *text, audit_head_t *out,
                             hoist_error_t *err);

#endif
