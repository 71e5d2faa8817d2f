/*
 * test_artifacts: the controller's artifact store on real files.
 *
 * Manifests are real: keys made with keys_generate in the test's temporary
 * directory, signed with manifest_sign. Artifact bytes are a pattern of
 * their offset, so any byte can be regenerated to compare against what
 * the store hands back without holding the artifact in memory.
 */
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "artifacts.h"
#include "digest.h"
#include "keys.h"
#include "manifest.h"

#define MIB (1024u * 1024u)

typedef struct {
    char *dir;             /* the test's temporary directory */
    char *data;            /* DIR/data, the controller's data directory */
    char *mnt;             /* a tmpfs mounted by the full-disk test */
    keys_secret_t *sk_a;   /* trusted */
    keys_secret_t *sk_b;   /* not trusted */
    keys_public_t trusted; /* A's public key */
    artifacts_t *a;
    uint8_t *buf; /* a chunk's worth of scratch */
} fx_t;

/* --- helpers ------------------------------------------------------------ */

/* Generates key NAME in DIR and loads its secret half. */
static keys_secret_t *
s_key(const char *dir, const char *name)
{
    char *prefix = tu_path(dir, name);
    char path[4096];
    assert_int_equal(keys_generate(prefix, NULL), HOIST_OK);
    snprintf(path, sizeof path, "%s.key", prefix);
    keys_secret_t *sk = keys_secret_load(path, NULL);
    assert_non_null(sk);
    free(prefix);
    return sk;
}

/* Fills BUF with LEN bytes of artifact SEED starting at offset OFF. */
static void
s_pattern(uint8_t *buf, size_t len, uint64_t off, unsigned seed)
{
    for (size_t i = 0; i < len; i++) {
        uint64_t x = off + i;
        buf[i] = (uint8_t)((x * 131u) ^ (x >> 9) ^ (seed * 97u));
    }
}

/* BLAKE2b-256 of the SIZE bytes of pattern SEED, with FX's scratch. */
static void
s_pattern_digest(fx_t *fx, uint64_t size, unsigned seed,
                 uint8_t out[DIGEST_BYTES])
{
    digest_t *d = digest_new();
    assert_non_null(d);
    for (uint64_t off = 0; off < size; off += MIB) {
        size_t n = size - off < MIB ? (size_t)(size - off) : MIB;
        s_pattern(fx->buf, n, off, seed);
        digest_update(d, fx->buf, n);
    }
    digest_final(d, out);
    digest_destroy(&d);
}

/* A SignedManifest for web VERSION, SIZE bytes with digest DIGEST, signed
 * by SK; *LEN gets its length. */
static uint8_t *
s_manifest_for(keys_secret_t *sk, const char *version, uint64_t size,
               const uint8_t digest[DIGEST_BYTES], size_t *len)
{
    manifest_fields_t f = {
        .app = "web",
        .version = version,
        .sequence = 7,
        .artifact_size = size,
        .created_at = 1700000000,
    };
    memcpy(f.artifact_digest, digest, DIGEST_BYTES);
    uint8_t *out = NULL;
    hoist_error_t err = {0};
    assert_int_equal(manifest_sign(&f, sk, &out, len, &err), HOIST_OK);
    return out;
}

/* A manifest signed by the trusted key for pattern SEED of SIZE bytes;
 * the digest is written to DIGEST_OUT when it is not NULL. */
static uint8_t *
s_manifest(fx_t *fx, const char *version, uint64_t size, unsigned seed,
           size_t *len, uint8_t *digest_out)
{
    uint8_t d[DIGEST_BYTES];
    s_pattern_digest(fx, size, seed, d);
    if (digest_out) {
        memcpy(digest_out, d, DIGEST_BYTES);
    }
    return s_manifest_for(fx->sk_a, version, size, d, len);
}

/* Begins an upload of MANIFEST and asserts it is accepted. */
static void
s_begin(fx_t *fx, const uint8_t *m, size_t len, char id[ARTIFACTS_ID_SIZE])
{
    hoist_error_t err = {0};
    hoist_err_t rc =
        artifacts_begin(fx->a, m, len, &fx->trusted, 1, id, NULL, &err);
    if (rc != HOIST_OK) {
        fail_msg("begin: %s", err.msg);
    }
}

/* Sends pattern SEED from FROM to TO of upload ID in chunks of STEP. */
static void
s_send(fx_t *fx, const char *id, uint64_t from, uint64_t to, size_t step,
       unsigned seed)
{
    hoist_error_t err = {0};
    for (uint64_t off = from; off < to; off += step) {
        size_t n = to - off < step ? (size_t)(to - off) : step;
        s_pattern(fx->buf, n, off, seed);
        if (artifacts_chunk(fx->a, id, off, fx->buf, n, &err) != HOIST_OK) {
            fail_msg("chunk at %llu: %s", (unsigned long long)off, err.msg);
        }
    }
}

/* Begins, sends and commits pattern SEED of SIZE bytes as VERSION. */
static void
s_upload(fx_t *fx, const char *version, uint64_t size, unsigned seed,
         uint8_t digest[DIGEST_BYTES])
{
    size_t len = 0;
    char id[ARTIFACTS_ID_SIZE];
    hoist_error_t err = {0};
    uint8_t *m = s_manifest(fx, version, size, seed, &len, digest);
    s_begin(fx, m, len, id);
    s_send(fx, id, 0, size, 64 * 1024, seed);
    manifest_t *got = artifacts_commit(fx->a, id, NULL, NULL, &err);
    if (!got) {
        fail_msg("commit: %s", err.msg);
    }
    manifest_destroy(&got);
    free(m);
}

/* Asserts that artifact DIGEST reads back as pattern SEED at OFF. */
static void
s_assert_reads(fx_t *fx, const uint8_t *digest, uint64_t off, size_t len,
               size_t want_got, unsigned seed)
{
    uint8_t *want = malloc(len + 1);
    size_t got = 12345;
    hoist_error_t err = {0};
    assert_non_null(want);
    memset(fx->buf, 0xee, len);
    if (artifacts_read(fx->a, digest, off, len, fx->buf, &got, &err)) {
        fail_msg("read at %llu: %s", (unsigned long long)off, err.msg);
    }
    assert_int_equal(got, want_got);
    s_pattern(want, got, off, seed);
    assert_memory_equal(fx->buf, want, got);
    free(want);
}

/* Entries in DATA/NAME. */
static int
s_count(fx_t *fx, const char *name)
{
    char *p = tu_path(fx->data, name);
    int n = tu_count_entries(p);
    free(p);
    return n;
}

/* Size of DATA/uploads/ID.part, or -1 when it does not exist. */
static long long
s_part_size(fx_t *fx, const char *id)
{
    char path[4096];
    struct stat st;
    snprintf(path, sizeof path, "%s/uploads/%s.part", fx->data, id);
    return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

/* Open descriptors of this process. */
static int
s_open_fds(void)
{
    return tu_count_entries("/proc/self/fd");
}

/* Peak resident memory so far, KiB. */
static long
s_maxrss_kib(void)
{
    struct rusage ru;
    assert_int_equal(getrusage(RUSAGE_SELF, &ru), 0);
    return ru.ru_maxrss;
}

/* Sends SIZE bytes of pattern SEED to upload ID in chunks of uneven
 * sizes, the largest allowed among them. */
static void
s_send_uneven(fx_t *fx, const char *id, uint64_t size, unsigned seed)
{
    const size_t steps[] = {ARTIFACTS_CHUNK_MAX, 1, 4096, 777777};
    uint64_t off = 0;
    for (size_t i = 0; off < size; i++) {
        size_t n = steps[i % 4];
        n = size - off < n ? (size_t)(size - off) : n;
        s_send(fx, id, off, off + n, n, seed);
        off += n;
    }
}

/* Asserts that DATA/artifacts/HEX is a private file of SIZE bytes, and
 * that the store says so too. */
static void
s_assert_stored(fx_t *fx, const uint8_t *digest, uint64_t size)
{
    char path[4096], hex[DIGEST_HEX_LEN];
    struct stat st;
    uint64_t stored = 0;
    snprintf(path, sizeof path, "%s/artifacts/%s", fx->data,
             digest_hex(digest, hex));
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(st.st_size, size);
    assert_true(artifacts_has(fx->a, digest));
    assert_int_equal(artifacts_size(fx->a, digest, &stored, NULL), HOIST_OK);
    assert_int_equal(stored, size);
}

/* Reads artifact DIGEST whole through artifacts_read and asserts that it
 * hashes to DIGEST. */
static void
s_assert_whole(fx_t *fx, const uint8_t *digest, uint64_t size)
{
    digest_t *d = digest_new();
    uint8_t again[DIGEST_BYTES];
    size_t n = 0;
    hoist_error_t err = {0};
    for (uint64_t off = 0; off < size; off += n) {
        assert_int_equal(artifacts_read(fx->a, digest, off, ARTIFACTS_CHUNK_MAX,
                                        fx->buf, &n, &err),
                         HOIST_OK);
        assert_true(n > 0);
        digest_update(d, fx->buf, n);
    }
    digest_final(d, again);
    digest_destroy(&d);
    assert_memory_equal(again, digest, DIGEST_BYTES);
}

static int
s_setup(void **state)
{
    fx_t *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    fx->dir = tu_tmpdir();
    fx->data = tu_path(fx->dir, "data");
    assert_int_equal(mkdir(fx->data, 0700), 0);
    fx->sk_a = s_key(fx->dir, "a");
    fx->sk_b = s_key(fx->dir, "b");
    fx->trusted = *keys_secret_public(fx->sk_a);
    fx->buf = malloc(ARTIFACTS_CHUNK_MAX + 1);
    assert_non_null(fx->buf);
    hoist_error_t err = {0};
    fx->a = artifacts_open(fx->data, &err);
    if (!fx->a) {
        fail_msg("open: %s", err.msg);
    }
    *state = fx;
    return 0;
}

static int
s_teardown(void **state)
{
    fx_t *fx = *state;
    artifacts_destroy(&fx->a);
    if (fx->mnt) {
        umount2(fx->mnt, MNT_DETACH);
        free(fx->mnt);
    }
    keys_secret_destroy(&fx->sk_a);
    keys_secret_destroy(&fx->sk_b);
    free(fx->buf);
    free(fx->data);
    tu_rmtree(fx->dir);
    free(fx);
    return 0;
}

/* --- tests -------------------------------------------------------------- */

/* A multi-chunk artifact of uneven chunk sizes is stored under its digest
 * and reads back byte for byte at every kind of offset. */
static void
test_roundtrip(void **state)
{
    fx_t *fx = *state;
    const uint64_t size = 3 * MIB + 12345;
    uint8_t digest[DIGEST_BYTES];
    size_t mlen = 0, slen = 0;
    char id[ARTIFACTS_ID_SIZE];
    hoist_error_t err = {0};
    uint8_t *m = s_manifest(fx, "1.0.0", size, 1, &mlen, digest);
    manifest_t *early = NULL;
    assert_int_equal(
        artifacts_begin(fx->a, m, mlen, &fx->trusted, 1, id, &early, &err),
        HOIST_OK);
    assert_string_equal(manifest_version(early), "1.0.0");
    assert_int_equal(manifest_artifact_size(early), size);
    assert_int_equal(strlen(id), ARTIFACTS_ID_SIZE - 1);
    assert_int_equal(artifacts_uploads(fx->a), 1);
    s_send_uneven(fx, id, size, 1);
    uint8_t *signed_bytes = NULL;
    manifest_t *got = artifacts_commit(fx->a, id, &signed_bytes, &slen, &err);
    assert_non_null(got);
    assert_string_equal(manifest_app(got), "web");
    assert_memory_equal(manifest_artifact_digest(got), digest, DIGEST_BYTES);
    assert_int_equal(slen, mlen);
    assert_memory_equal(signed_bytes, m, mlen);
    assert_int_equal(artifacts_uploads(fx->a), 0);
    assert_int_equal(s_count(fx, "uploads"), 0);
    s_assert_stored(fx, digest, size);

    s_assert_reads(fx, digest, 0, ARTIFACTS_CHUNK_MAX, ARTIFACTS_CHUNK_MAX, 1);
    s_assert_reads(fx, digest, 1, 1000, 1000, 1);
    s_assert_reads(fx, digest, MIB - 1, 2, 2, 1);
    s_assert_reads(fx, digest, 2 * MIB + 5, 70000, 70000, 1);
    s_assert_reads(fx, digest, size - 100, 4096, 100, 1);
    s_assert_reads(fx, digest, size, 4096, 0, 1);

    s_assert_whole(fx, digest, size);

    manifest_destroy(&early);
    manifest_destroy(&got);
    free(signed_bytes);
    free(m);
}

/* Reads are bounded and name what is wrong. */
static void
test_read_refusals(void **state)
{
    fx_t *fx = *state;
    uint8_t digest[DIGEST_BYTES], other[DIGEST_BYTES];
    size_t got = 0;
    uint64_t size = 0;
    hoist_error_t err = {0};
    s_upload(fx, "1.0.0", 5000, 2, digest);
    assert_int_equal(artifacts_read(fx->a, digest, 0, ARTIFACTS_CHUNK_MAX + 1,
                                    fx->buf, &got, &err),
                     HOIST_ERR_LIMIT);
    assert_int_equal(
        artifacts_read(fx->a, digest, 5001, 10, fx->buf, &got, &err),
        HOIST_ERR_PROTOCOL);
    assert_contains(err.msg, "past the end");

    memset(other, 0x5a, sizeof other);
    assert_int_equal(artifacts_read(fx->a, other, 0, 10, fx->buf, &got, &err),
                     HOIST_ERR_NOTFOUND);
    assert_false(artifacts_has(fx->a, other));
    assert_int_equal(artifacts_size(fx->a, other, &size, &err),
                     HOIST_ERR_NOTFOUND);
    assert_int_equal(size, 0);
}

/* A manifest signed by a key the controller does not trust is refused
 * before anything is written, and the message says how to trust a key. */
static void
test_untrusted(void **state)
{
    fx_t *fx = *state;
    uint8_t digest[DIGEST_BYTES];
    size_t len = 0;
    char id[ARTIFACTS_ID_SIZE] = "unchanged";
    char kid[KEYS_ID_HEX_LEN];
    hoist_error_t err = {0};
    manifest_t *m_out = NULL;
    s_pattern_digest(fx, 4096, 3, digest);
    uint8_t *m = s_manifest_for(fx->sk_b, "1.0.0", 4096, digest, &len);
    assert_int_equal(
        artifacts_begin(fx->a, m, len, &fx->trusted, 1, id, &m_out, &err),
        HOIST_ERR_UNTRUSTED);
    assert_contains(err.msg, "hoist trust add");
    assert_contains(err.msg,
                    keys_id_hex(keys_secret_public(fx->sk_b)->id, kid));
    assert_string_equal(id, "unchanged");
    assert_null(m_out);
    assert_int_equal(s_count(fx, "uploads"), 0);
    assert_int_equal(artifacts_uploads(fx->a), 0);

    /* No trusted key at all: refused the same way. */
    assert_int_equal(artifacts_begin(fx->a, m, len, NULL, 0, id, NULL, &err),
                     HOIST_ERR_UNTRUSTED);

    /* A trusted signer's manifest with one byte changed. */
    free(m);
    m = s_manifest_for(fx->sk_a, "1.0.0", 4096, digest, &len);
    m[len / 3] ^= 0x01;
    hoist_err_t rc =
        artifacts_begin(fx->a, m, len, &fx->trusted, 1, id, NULL, &err);
    assert_true(rc == HOIST_ERR_SIGNATURE || rc == HOIST_ERR_MANIFEST);
    assert_contains(err.msg, "release refused");
    assert_int_equal(s_count(fx, "uploads"), 0);
    assert_string_equal(id, "unchanged");
    free(m);
}

/* A chunk at any offset but the next is refused and appends nothing. */
static void
test_out_of_order(void **state)
{
    fx_t *fx = *state;
    uint8_t digest[DIGEST_BYTES];
    size_t len = 0;
    char id[ARTIFACTS_ID_SIZE];
    hoist_error_t err = {0};
    uint8_t *m = s_manifest(fx, "1.0.0", 3000, 4, &len, digest);
    s_begin(fx, m, len, id);
    s_send(fx, id, 0, 1000, 1000, 4);
    s_pattern(fx->buf, 500, 500, 4);
    assert_int_equal(artifacts_chunk(fx->a, id, 500, fx->buf, 500, &err),
                     HOIST_ERR_PROTOCOL);
    assert_contains(err.msg, "expected the chunk at offset 1000");
    assert_contains(err.msg, "got offset 500");
    assert_int_equal(s_part_size(fx, id), 1000);
    s_pattern(fx->buf, 500, 1500, 4);
    assert_int_equal(artifacts_chunk(fx->a, id, 1500, fx->buf, 500, &err),
                     HOIST_ERR_PROTOCOL);
    assert_int_equal(s_part_size(fx, id), 1000);
    /* Still open: what the API keeps for it (the notes) must stay. */
    assert_true(artifacts_upload_open(fx->a, id));

    /* The session survived intact: the right bytes still commit. */
    s_send(fx, id, 1000, 3000, 1000, 4);
    manifest_t *got = artifacts_commit(fx->a, id, NULL, NULL, &err);
    assert_non_null(got);
    assert_false(artifacts_upload_open(fx->a, id));
    s_assert_reads(fx, digest, 0, 3000, 3000, 4);
    manifest_destroy(&got);
    free(m);
}

/* More bytes than the manifest declares, or an oversized chunk, are
 * refused without touching the file. */
static void
test_over_size(void **state)
{
    fx_t *fx = *state;
    uint8_t digest[DIGEST_BYTES];
    size_t len = 0;
    char id[ARTIFACTS_ID_SIZE];
    hoist_error_t err = {0};
    uint8_t *m = s_manifest(fx, "1.0.0", 1000, 5, &len, digest);
    s_begin(fx, m, len, id);
    s_send(fx, id, 0, 600, 600, 5);
    s_pattern(fx->buf, 500, 600, 5);
    assert_int_equal(artifacts_chunk(fx->a, id, 600, fx->buf, 500, &err),
                     HOIST_ERR_SIZE);
    assert_contains(err.msg, "1000 bytes the manifest declares");
    assert_int_equal(s_part_size(fx, id), 600);
    assert_int_equal(
        artifacts_chunk(fx->a, id, 600, fx->buf, ARTIFACTS_CHUNK_MAX + 1, &err),
        HOIST_ERR_LIMIT);
    assert_int_equal(s_part_size(fx, id), 600);

    s_send(fx, id, 600, 1000, 400, 5);
    assert_int_equal(artifacts_chunk(fx->a, id, 1000, fx->buf, 1, &err),
                     HOIST_ERR_SIZE);
    manifest_t *got = artifacts_commit(fx->a, id, NULL, NULL, &err);
    assert_non_null(got);
    manifest_destroy(&got);
    free(m);
}

/* Bytes that are not the signed ones are refused at commit; nothing of
 * them stays on disk, and the session is gone. */
static void
test_wrong_bytes(void **state)
{
    fx_t *fx = *state;
    uint8_t digest[DIGEST_BYTES];
    size_t len = 0;
    char id[ARTIFACTS_ID_SIZE], hex[DIGEST_HEX_LEN];
    hoist_error_t err = {0};
    uint8_t *m = s_manifest(fx, "1.0.0", 2 * MIB, 6, &len, digest);
    s_begin(fx, m, len, id);
    s_send(fx, id, 0, 2 * MIB, MIB, 7); /* the same size, other bytes */
    assert_int_equal(s_part_size(fx, id), 2 * MIB);
    assert_null(artifacts_commit(fx->a, id, NULL, NULL, &err));
    assert_int_equal(err.code, HOIST_ERR_DIGEST);
    assert_contains(err.msg, digest_hex(digest, hex));
    assert_int_equal(s_part_size(fx, id), -1);
    assert_int_equal(s_count(fx, "uploads"), 0);
    assert_int_equal(s_count(fx, "artifacts"), 0);
    assert_false(artifacts_has(fx->a, digest));
    assert_null(artifacts_commit(fx->a, id, NULL, NULL, &err));
    assert_int_equal(err.code, HOIST_ERR_NOTFOUND);

    /* One byte short: SIZE, and the same clean-up. */
    s_begin(fx, m, len, id);
    s_send(fx, id, 0, 2 * MIB - 1, MIB, 6);
    assert_null(artifacts_commit(fx->a, id, NULL, NULL, &err));
    assert_int_equal(err.code, HOIST_ERR_SIZE);
    assert_contains(err.msg, "received 2097151 bytes");
    assert_int_equal(s_count(fx, "uploads"), 0);
    assert_int_equal(s_count(fx, "artifacts"), 0);
    assert_int_equal(artifacts_uploads(fx->a), 0);
    free(m);
}

/* No more than ARTIFACTS_UPLOADS_MAX sessions at once. */
static void
test_session_cap(void **state)
{
    fx_t *fx = *state;
    size_t len = 0;
    char ids[ARTIFACTS_UPLOADS_MAX + 1][ARTIFACTS_ID_SIZE];
    hoist_error_t err = {0};
    uint8_t *m = s_manifest(fx, "1.0.0", 1000, 8, &len, NULL);
    for (int i = 0; i < ARTIFACTS_UPLOADS_MAX; i++) {
        s_begin(fx, m, len, ids[i]);
        for (int j = 0; j < i; j++) {
            assert_string_not_equal(ids[i], ids[j]);
        }
    }
    assert_int_equal(artifacts_begin(fx->a, m, len, &fx->trusted, 1,
                                     ids[ARTIFACTS_UPLOADS_MAX], NULL, &err),
                     HOIST_ERR_BUSY);
    assert_contains(err.msg, "already in progress");
    assert_int_equal(s_count(fx, "uploads"), ARTIFACTS_UPLOADS_MAX);

    /* A finished session frees its place. */
    assert_true(artifacts_abort(fx->a, ids[1]));
    assert_int_equal(s_count(fx, "uploads"), ARTIFACTS_UPLOADS_MAX - 1);
    s_begin(fx, m, len, ids[ARTIFACTS_UPLOADS_MAX]);
    assert_int_equal(artifacts_uploads(fx->a), ARTIFACTS_UPLOADS_MAX);
    free(m);
}

/* Idle sessions are dropped with their files; active ones are not. */
static void
test_expire(void **state)
{
    fx_t *fx = *state;
    const uint64_t t0 = 5000000;
    size_t len = 0;
    char busy[ARTIFACTS_ID_SIZE], idle[ARTIFACTS_ID_SIZE];
    hoist_error_t err = {0};
    uint8_t *m = s_manifest(fx, "1.0.0", 1000, 9, &len, NULL);
    s_begin(fx, m, len, busy);
    s_begin(fx, m, len, idle);
    assert_int_equal(artifacts_expire(fx->a, t0), 0);
    assert_int_equal(artifacts_expire(fx->a, t0 + ARTIFACTS_IDLE_MS - 1), 0);
    assert_int_equal(artifacts_uploads(fx->a), 2);

    s_send(fx, busy, 0, 10, 10, 9);
    assert_int_equal(artifacts_expire(fx->a, t0 + ARTIFACTS_IDLE_MS), 1);
    assert_int_equal(s_part_size(fx, idle), -1);
    assert_int_equal(s_part_size(fx, busy), 10);
    assert_int_equal(artifacts_chunk(fx->a, idle, 0, fx->buf, 1, &err),
                     HOIST_ERR_NOTFOUND);
    assert_contains(err.msg, "release.begin");

    /* The busy one goes once it, too, has been idle long enough. */
    assert_int_equal(artifacts_expire(fx->a, t0 + 2 * ARTIFACTS_IDLE_MS - 1),
                     0);
    assert_int_equal(artifacts_expire(fx->a, t0 + 2 * ARTIFACTS_IDLE_MS), 1);
    assert_int_equal(artifacts_uploads(fx->a), 0);
    assert_int_equal(s_count(fx, "uploads"), 0);
    free(m);
}

/* abort removes the file; ids that were never handed out match nothing. */
static void
test_abort_and_ids(void **state)
{
    fx_t *fx = *state;
    size_t len = 0;
    char id[ARTIFACTS_ID_SIZE];
    hoist_error_t err = {0};
    uint8_t *m = s_manifest(fx, "1.0.0", 1000, 10, &len, NULL);
    s_begin(fx, m, len, id);
    s_send(fx, id, 0, 100, 100, 10);
    const char *bad[] = {"", "../../etc/passwd", "0123456789abcdef0",
                         "0123456789ABCDEF", "0123456789abcde"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(artifacts_chunk(fx->a, bad[i], 100, fx->buf, 1, &err),
                         HOIST_ERR_NOTFOUND);
        assert_false(artifacts_abort(fx->a, bad[i]));
    }
    assert_int_equal(s_part_size(fx, id), 100);
    assert_false(artifacts_upload_open(fx->a, bad[1]));
    assert_true(artifacts_upload_open(fx->a, id));
    assert_true(artifacts_abort(fx->a, id));
    assert_false(artifacts_upload_open(fx->a, id));
    assert_int_equal(s_part_size(fx, id), -1);
    assert_false(artifacts_abort(fx->a, id));
    assert_int_equal(artifacts_chunk(fx->a, id, 100, fx->buf, 1, &err),
                     HOIST_ERR_NOTFOUND);
    free(m);
}

/* open makes both directories private and clears leftover uploads;
 * destroy takes unfinished uploads with it. */
static void
test_open_and_destroy(void **state)
{
    fx_t *fx = *state;
    size_t len = 0;
    char id[ARTIFACTS_ID_SIZE], path[4096];
    struct stat st;
    uint8_t *m = s_manifest(fx, "1.0.0", 1000, 11, &len, NULL);
    s_begin(fx, m, len, id);
    s_send(fx, id, 0, 10, 10, 11);
    artifacts_destroy(&fx->a);
    assert_null(fx->a);
    assert_int_equal(s_count(fx, "uploads"), 0);
    artifacts_destroy(&fx->a); /* NULL is fine */

    snprintf(path, sizeof path, "%s/uploads/0123456789abcdef.part", fx->data);
    tu_write(path, "left over", (size_t)-1, 0600);
    snprintf(path, sizeof path, "%s/uploads", fx->data);
    assert_int_equal(chmod(path, 0755), 0);
    fx->a = artifacts_open(fx->data, NULL);
    assert_non_null(fx->a);
    assert_int_equal(s_count(fx, "uploads"), 0);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    snprintf(path, sizeof path, "%s/artifacts", fx->data);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);

    hoist_error_t err = {0};
    char *missing = tu_path(fx->dir, "nope");
    assert_null(artifacts_open(missing, &err));
    assert_int_equal(err.code, HOIST_ERR_IO);
    assert_contains(err.msg, missing);
    free(missing);
    free(m);
}

/* The same bytes uploaded twice are stored once; a commit replaces a file
 * of that name (altered on disk) and reads see the new one. */
static void
test_same_digest(void **state)
{
    fx_t *fx = *state;
    uint8_t digest[DIGEST_BYTES];
    char path[4096], hex[DIGEST_HEX_LEN];
    s_upload(fx, "1.0.0", 5000, 12, digest);
    s_upload(fx, "1.0.1", 5000, 12, digest);
    assert_int_equal(s_count(fx, "artifacts"), 1);
    s_assert_reads(fx, digest, 0, 100, 100, 12); /* now cached */

    snprintf(path, sizeof path, "%s/artifacts/%s", fx->data,
             digest_hex(digest, hex));
    int fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, "XXXX", 4, 0), 4);
    close(fd);
    uint8_t first[4];
    size_t got = 0;
    assert_int_equal(artifacts_read(fx->a, digest, 0, 4, first, &got, NULL),
                     HOIST_OK);
    assert_memory_equal(first, "XXXX", 4); /* the store does not re-hash */

    s_upload(fx, "1.0.2", 5000, 12, digest);
    assert_int_equal(s_count(fx, "artifacts"), 1);
    s_assert_reads(fx, digest, 0, 5000, 5000, 12);
}

/* Reads go through a bounded LRU of open descriptors. */
static void
test_fd_cache(void **state)
{
    fx_t *fx = *state;
    enum { N = ARTIFACTS_FD_CACHE + 2 };
    uint8_t digests[N][DIGEST_BYTES];
    char version[32], path[4096], hex[DIGEST_HEX_LEN];
    for (unsigned i = 0; i < N; i++) {
        snprintf(version, sizeof version, "1.0.%u", i);
        s_upload(fx, version, 3000 + i, 20 + i, digests[i]);
    }
    int before = s_open_fds();
    for (int round = 0; round < 3; round++) {
        for (unsigned i = 0; i < N; i++) {
            s_assert_reads(fx, digests[i], i, 100, 100, 20 + i);
        }
    }
    int after = s_open_fds();
    assert_int_equal(after, before + ARTIFACTS_FD_CACHE);

    /* A fresh store, an empty cache: fill it with 0..CACHE-1, 0 oldest. */
    artifacts_destroy(&fx->a);
    fx->a = artifacts_open(fx->data, NULL);
    assert_non_null(fx->a);
    for (unsigned i = 0; i < ARTIFACTS_FD_CACHE; i++) {
        s_assert_reads(fx, digests[i], 0, 10, 10, 20 + i);
    }
    /* Cached artifacts are served from their open descriptors, even with
     * their names gone. */
    for (unsigned i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/artifacts/%s", fx->data,
                 digest_hex(digests[i], hex));
        assert_int_equal(unlink(path), 0);
        assert_false(artifacts_has(fx->a, digests[i]));
    }
    s_assert_reads(fx, digests[0], 10, 10, 10, 20); /* 1 is now the LRU */
    s_assert_reads(fx, digests[ARTIFACTS_FD_CACHE], 0, 10, 10,
                   20 + ARTIFACTS_FD_CACHE);
    s_assert_reads(fx, digests[0], 20, 10, 10, 20); /* kept */
    size_t got = 0;
    assert_int_equal(
        artifacts_read(fx->a, digests[1], 0, 10, fx->buf, &got, NULL),
        HOIST_ERR_NOTFOUND); /* evicted, and its file is gone */
}

/* A ~64 MiB upload runs in constant memory: peak RSS grows by far less
 * than the artifact, while the same probe does see a 32 MiB buffer. */
static void
test_memory_constant(void **state)
{
    fx_t *fx = *state;
    const uint64_t size = 64 * MIB + 777;
    uint8_t digest[DIGEST_BYTES];
    size_t len = 0;
    char id[ARTIFACTS_ID_SIZE];
    hoist_error_t err = {0};
    uint8_t *m = s_manifest(fx, "2.0.0", size, 13, &len, digest);
    long before = s_maxrss_kib();
    s_begin(fx, m, len, id);
    s_send(fx, id, 0, size, ARTIFACTS_CHUNK_MAX, 13);
    manifest_t *got = artifacts_commit(fx->a, id, NULL, NULL, &err);
    if (!got) {
        fail_msg("commit: %s", err.msg);
    }
    long grew = s_maxrss_kib() - before;
    print_message("64 MiB upload: peak RSS grew by %ld KiB\n", grew);
    assert_true(grew < 8 * 1024);
    uint64_t stored = 0;
    assert_int_equal(artifacts_size(fx->a, digest, &stored, NULL), HOIST_OK);
    assert_int_equal(stored, size);
    s_assert_reads(fx, digest, 63 * MIB, MIB, MIB, 13);

    /* The probe is live: holding the artifact would have shown. */
    before = s_maxrss_kib();
    uint8_t *hog = malloc(32 * MIB);
    assert_non_null(hog);
    memset(hog, 1, 32 * MIB);
    assert_true(s_maxrss_kib() - before >= 24 * 1024);
    free(hog);
    manifest_destroy(&got);
    free(m);
}

/* Mounts a 1 MiB tmpfs as FX's data directory and reopens the store
 * there; skips the test where mounting is not allowed. */
static void
s_small_disk(fx_t *fx)
{
    fx->mnt = tu_path(fx->dir, "small");
    assert_int_equal(mkdir(fx->mnt, 0700), 0);
    if (geteuid() != 0 ||
        mount("tmpfs", fx->mnt, "tmpfs", 0, "size=1m,mode=0700") != 0) {
        free(fx->mnt);
        fx->mnt = NULL;
        skip();
    }
    artifacts_destroy(&fx->a);
    free(fx->data);
    fx->data = strdup(fx->mnt);
    fx->a = artifacts_open(fx->data, NULL);
    assert_non_null(fx->a);
}

/* Writes to DIR/filler until the file system is full. */
static void
s_fill(const char *dir)
{
    char *p = tu_path(dir, "filler");
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    uint8_t block[4096];
    memset(block, 0xab, sizeof block);
    while (write(fd, block, sizeof block) > 0) {
    }
    assert_int_equal(errno, ENOSPC);
    close(fd);
    free(p);
}

/* A full disk: too big is refused at begin; a disk that fills up during
 * the upload ends it with NOSPACE and leaves nothing behind. */
static void
test_full_disk(void **state)
{
    fx_t *fx = *state;
    size_t len = 0;
    char id[ARTIFACTS_ID_SIZE];
    hoist_error_t err = {0};
    uint8_t *big = s_manifest(fx, "1.0.0", 2 * MIB, 14, &len, NULL);
    s_small_disk(fx);
    assert_int_equal(
        artifacts_begin(fx->a, big, len, &fx->trusted, 1, id, NULL, &err),
        HOIST_ERR_NOSPACE);
    assert_contains(err.msg, "free disk space");
    assert_int_equal(s_count(fx, "uploads"), 0);
    free(big);

    uint8_t *m = s_manifest(fx, "1.0.0", 512 * 1024, 14, &len, NULL);
    s_begin(fx, m, len, id);
    s_send(fx, id, 0, 64 * 1024, 64 * 1024, 14);
    s_fill(fx->data);
    s_pattern(fx->buf, 256 * 1024, 64 * 1024, 14);
    assert_int_equal(
        artifacts_chunk(fx->a, id, 64 * 1024, fx->buf, 256 * 1024, &err),
        HOIST_ERR_NOSPACE);
    assert_contains(err.msg, "upload dropped");
    assert_int_equal(artifacts_uploads(fx->a), 0);
    assert_int_equal(s_count(fx, "uploads"), 0);
    assert_int_equal(s_count(fx, "artifacts"), 0);
    assert_int_equal(artifacts_chunk(fx->a, id, 64 * 1024, fx->buf, 1, &err),
                     HOIST_ERR_NOTFOUND);
    free(m);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        /* First, while peak RSS is still low. */
        cmocka_unit_test_setup_teardown(test_memory_constant, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_roundtrip, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_read_refusals, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_untrusted, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_out_of_order, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_over_size, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_wrong_bytes, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_session_cap, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_expire, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_abort_and_ids, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_open_and_destroy, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_same_digest, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_fd_cache, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_full_disk, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
