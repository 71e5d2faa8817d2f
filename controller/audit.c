/*
 * audit: see audit.h. The encoding is written field by field into a
 * BLAKE2b stream, so an entry is never copied into one buffer and no
 * field length is capped.
 */
#include "audit.h"

#include <inttypes.h>
#include <stdarg.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char s_domain[] = "hoist-audit-v1";

static void
s_put_u64(crypto_generichash_state *st, uint64_t v)
{
    uint8_t b[8];
    for (int i = 7; i >= 0; i--) {
        b[i] = (uint8_t)(v & 0xff);
        v >>= 8;
    }
    crypto_generichash_update(st, b, sizeof b);
}

static void
s_put_str(crypto_generichash_state *st, const char *s)
{
    size_t len = s ? strlen(s) : 0;
    s_put_u64(st, (uint64_t)len);
    if (len > 0) {
        crypto_generichash_update(st, (const uint8_t *)s, len);
    }
}

void
audit_hash(const uint8_t prev[AUDIT_HASH_BYTES], const audit_entry_t *e,
           uint8_t out[AUDIT_HASH_BYTES])
{
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, AUDIT_HASH_BYTES);
    crypto_generichash_update(&st, (const uint8_t *)s_domain,
                              sizeof s_domain - 1);
    crypto_generichash_update(&st, prev, AUDIT_HASH_BYTES);
    s_put_u64(&st, (uint64_t)e->id);
    s_put_u64(&st, (uint64_t)e->time_ms);
    /* Four bytes suffice for an exit code; a fixed width keeps it
     * unambiguous. */
    uint32_t code = (uint32_t)e->exit_code;
    uint8_t cb[4] = {(uint8_t)(code >> 24), (uint8_t)(code >> 16),
                     (uint8_t)(code >> 8), (uint8_t)code};
    crypto_generichash_update(&st, cb, sizeof cb);
    s_put_str(&st, e->user);
    s_put_str(&st, e->action);
    s_put_str(&st, e->target);
    s_put_str(&st, e->result);
    s_put_str(&st, e->detail);
    crypto_generichash_final(&st, out, AUDIT_HASH_BYTES);
}

void
audit_walk_init(audit_walk_t *w, const audit_head_t *expect)
{
    memset(w, 0, sizeof *w);
    w->report.status = AUDIT_OK;
    if (expect) {
        w->has_expect = true;
        w->expect = *expect;
    }
}

static bool __attribute__((format(printf, 4, 5)))
s_bad(audit_walk_t *w, audit_status_t status, int64_t id, const char *fmt, ...)
{
    va_list ap;
    w->report.status = status;
    w->report.bad_id = id;
    va_start(ap, fmt);
    vsnprintf(w->report.reason, sizeof w->report.reason, fmt, ap);
    va_end(ap);
    return false;
}

/* The order of the checks matters for the sentence: ids first (a gap is a
 * deletion whatever the hashes say), then the row's own hash (an edit
 * without rehashing shows on the row itself), then the link (an edit with
 * rehashing shows on the row after it). */
bool
audit_walk_step(audit_walk_t *w, const audit_entry_t *e,
                const uint8_t prev[AUDIT_HASH_BYTES],
                const uint8_t hash[AUDIT_HASH_BYTES])
{
    audit_report_t *r = &w->report;
    if (r->status != AUDIT_OK) {
        return false;
    }
    r->rows++;
    int64_t last = r->head.id, want = last + 1;
    if (e->id <= last) {
        return s_bad(w, AUDIT_REORDERED, e->id,
                     "audit row %" PRId64 " comes after row %" PRId64
                     ": rows were reordered or an id repeats",
                     e->id, last);
    }
    if (e->id != want) {
        /* Without looking ahead a moved row looks the same as a
         * deleted one here; the sentence says both. */
        if (e->id == want + 1) {
            return s_bad(w, AUDIT_DELETED, want,
                         "audit row %" PRId64 " is missing before row %" PRId64
                         ": it was deleted or moved",
                         want, e->id);
        }
        return s_bad(w, AUDIT_DELETED, want,
                     "audit rows %" PRId64 " to %" PRId64
                     " are missing before row %" PRId64
                     ": they were deleted or moved",
                     want, e->id - 1, e->id);
    }
    uint8_t h[AUDIT_HASH_BYTES];
    audit_hash(prev, e, h);
    if (sodium_memcmp(h, hash, AUDIT_HASH_BYTES) != 0) {
        return s_bad(w, AUDIT_EDITED, e->id,
                     "audit row %" PRId64
                     " was edited: its hash does not match its content",
                     e->id);
    }
    if (sodium_memcmp(prev, r->head.hash, AUDIT_HASH_BYTES) != 0) {
        return s_bad(w, AUDIT_UNLINKED, e->id,
                     "audit row %" PRId64 " does not follow row %" PRId64
                     ": row %" PRId64 " was edited and rehashed, or "
                     "replaced",
                     e->id, last, last);
    }
    if (w->has_expect && e->id == w->expect.id) {
        w->expect_seen = true;
        if (sodium_memcmp(hash, w->expect.hash, AUDIT_HASH_BYTES) != 0) {
            return s_bad(w, AUDIT_REWRITTEN, e->id,
                         "audit row %" PRId64 " is not the row of the head "
                         "kept earlier: the log was rewritten up to it",
                         e->id);
        }
    }
    r->head.id = e->id;
    memcpy(r->head.hash, hash, AUDIT_HASH_BYTES);
    return true;
}

void
audit_walk_end(audit_walk_t *w, audit_report_t *out)
{
    if (w->report.status == AUDIT_OK && w->has_expect && !w->expect_seen &&
        w->expect.id > 0) {
        s_bad(w, AUDIT_TRUNCATED, w->expect.id,
              "audit row %" PRId64 " of the head kept earlier is gone: the "
              "log ends at row %" PRId64 ", so its newest rows were removed",
              w->expect.id, w->report.head.id);
    }
    *out = w->report;
}

hoist_err_t
audit_verify(audit_next_fn next, void *ctx, const audit_head_t *expect,
             audit_report_t *out, hoist_error_t *err)
{
    audit_walk_t w;
    audit_walk_init(&w, expect);
    for (;;) {
        audit_entry_t e;
        uint8_t prev[AUDIT_HASH_BYTES], hash[AUDIT_HASH_BYTES];
        memset(&e, 0, sizeof e);
        int rc = next(ctx, &e, prev, hash);
        if (rc < 0) {
            s_bad(&w, AUDIT_UNREADABLE, w.report.head.id + 1,
                  "cannot read the audit log after row %" PRId64,
                  w.report.head.id);
            break;
        }
        if (rc == 0 || !audit_walk_step(&w, &e, prev, hash)) {
            break;
        }
    }
    audit_walk_end(&w, out);
    switch (out->status) {
    case AUDIT_OK:
        return HOIST_OK;
    case AUDIT_UNREADABLE:
        return error_set(err, HOIST_ERR_IO, "%s", out->reason);
    default:
        return error_set(err, HOIST_ERR_STATE, "%s", out->reason);
    }
}

const char *
audit_head_format(const audit_head_t *head, char buf[AUDIT_HEAD_MAX])
{
    char hex[2 * AUDIT_HASH_BYTES + 1];
    sodium_bin2hex(hex, sizeof hex, head->hash, AUDIT_HASH_BYTES);
    snprintf(buf, AUDIT_HEAD_MAX, "%" PRId64 ":%s", head->id, hex);
    return buf;
}

hoist_err_t
audit_head_parse(const char *text, audit_head_t *out, hoist_error_t *err)
{
    const char *colon = text ? strchr(text, ':') : NULL;
    size_t digits = colon ? (size_t)(colon - text) : 0;
    audit_head_t h = {0};
    bool ok =
        digits > 0 && digits <= 18 && strlen(colon + 1) == 2 * AUDIT_HASH_BYTES;
    for (size_t i = 0; ok && i < digits; i++) {
        ok = text[i] >= '0' && text[i] <= '9';
        h.id = h.id * 10 + (text[i] - '0');
    }
    size_t bin_len = 0;
    ok = ok &&
         sodium_hex2bin(h.hash, sizeof h.hash, colon + 1, 2 * AUDIT_HASH_BYTES,
                        NULL, &bin_len, NULL) == 0 &&
         bin_len == AUDIT_HASH_BYTES;
    if (!ok) {
        return error_set(err, HOIST_ERR_USAGE,
                         "'%.100s' is not an audit head: use ID:HASH as "
                         "`hoist audit verify` prints it",
                         text ? text : "");
    }
    *out = h;
    return HOIST_OK;
}
