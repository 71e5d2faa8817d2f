/*
 * bench_upload: what the controller's upload path costs.
 *
 * Uploads one artifact (2 GiB by default; `bench_upload SIZE_MIB [DIR]`)
 * through artifacts_begin / artifacts_chunk (1 MiB chunks) /
 * artifacts_commit and prints:
 *   - its throughput next to a plain write(2) + fsync of the same bytes
 *     to the same file system, measured in the same run (the cost the
 *     session, the hashing and the rename add to I/O);
 *   - peak resident memory growth during the upload (constant memory
 *     means it stays near zero whatever the size).
 * Chunks are one 1 MiB buffer whose first bytes carry the chunk number,
 * so the bytes differ per chunk without costing time to generate.
 *
 * Run with `make bench`; never part of `make check`.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "artifacts.h"
#include "digest.h"
#include "keys.h"
#include "manifest.h"

#define CHUNK  ARTIFACTS_CHUNK_MAX
#define ROUNDS 3

/* Seconds on the monotonic clock. */
static double
s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The smaller of A and B. */
static double
s_min(double a, double b)
{
    return a < b ? a : b;
}

/* Peak resident memory so far, KiB. */
static long
s_maxrss_kib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

/* Makes BUF chunk number I of the artifact; returns its length. */
static size_t
s_chunk(uint8_t *buf, uint64_t size, uint64_t i)
{
    memcpy(buf, &i, sizeof i);
    uint64_t off = i * CHUNK;
    return size - off < CHUNK ? (size_t)(size - off) : CHUNK;
}

/* Prints MSG and ERR and exits. */
static void
s_die(const char *msg, const hoist_error_t *err)
{
    fprintf(stderr, "bench_upload: %s: %s\n", msg, err ? err->msg : "");
    exit(1);
}

/* BLAKE2b-256 of the whole artifact, computed before anything is timed. */
static void
s_digest(uint8_t *buf, uint64_t size, uint8_t out[DIGEST_BYTES])
{
    digest_t *d = digest_new();
    for (uint64_t i = 0; i * CHUNK < size; i++) {
        digest_update(d, buf, s_chunk(buf, size, i));
    }
    digest_final(d, out);
    digest_destroy(&d);
}

/* Removes PATH and flushes the file systems outside the timed part, so
 * that one run's unlink (a discard on some disks) is not paid by the
 * next. */
static void
s_settle(const char *path)
{
    unlink(path);
    sync();
}

/* Seconds to write the artifact to PATH with write(2) and fsync it,
 * hashing each chunk as well when HASH. */
static double
s_plain(uint8_t *buf, uint64_t size, const char *path, int hash)
{
    uint8_t out[DIGEST_BYTES];
    digest_t *d = digest_new();
    double t = s_now();
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) {
        s_die("open plain file", NULL);
    }
    for (uint64_t i = 0; i * CHUNK < size; i++) {
        size_t n = s_chunk(buf, size, i);
        if (write(fd, buf, n) != (ssize_t)n) {
            s_die("plain write", NULL);
        }
        if (hash) {
            digest_update(d, buf, n);
        }
    }
    digest_final(d, out);
    if (fsync(fd) != 0 || close(fd) != 0) {
        s_die("plain fsync", NULL);
    }
    t = s_now() - t;
    digest_destroy(&d);
    s_settle(path);
    return t;
}

/* A SignedManifest for the artifact, signed by a key made in DIR. */
static uint8_t *
s_manifest(const char *dir, uint64_t size, const uint8_t d[DIGEST_BYTES],
           size_t *len, keys_public_t *pub)
{
    char prefix[4096], path[4200];
    hoist_error_t err = {0};
    snprintf(prefix, sizeof prefix, "%s/release", dir);
    snprintf(path, sizeof path, "%s.key", prefix);
    keys_secret_t *sk = NULL;
    if (keys_generate(prefix, &err) || !(sk = keys_secret_load(path, &err))) {
        s_die("key", &err);
    }
    *pub = *keys_secret_public(sk);
    manifest_fields_t f = {.app = "bench",
                           .version = "1.0.0",
                           .sequence = 1,
                           .artifact_size = size,
                           .created_at = (int64_t)time(NULL)};
    memcpy(f.artifact_digest, d, DIGEST_BYTES);
    uint8_t *m = NULL;
    if (manifest_sign(&f, sk, &m, len, &err)) {
        s_die("sign", &err);
    }
    keys_secret_destroy(&sk);
    return m;
}

/* Seconds for begin, every chunk and commit of the artifact. */
static double
s_upload(artifacts_t *a, const char *dir, uint8_t *buf, uint64_t size,
         const uint8_t *m, size_t mlen, const keys_public_t *pub)
{
    char path[4096 + DIGEST_HEX_LEN + 16], hex[DIGEST_HEX_LEN];
    char id[ARTIFACTS_ID_SIZE];
    hoist_error_t err = {0};
    double t = s_now();
    if (artifacts_begin(a, m, mlen, pub, 1, id, NULL, &err)) {
        s_die("begin", &err);
    }
    for (uint64_t i = 0; i * CHUNK < size; i++) {
        size_t n = s_chunk(buf, size, i);
        if (artifacts_chunk(a, id, i * CHUNK, buf, n, &err)) {
            s_die("chunk", &err);
        }
    }
    manifest_t *done = artifacts_commit(a, id, NULL, NULL, &err);
    if (!done) {
        s_die("commit", &err);
    }
    t = s_now() - t;
    snprintf(path, sizeof path, "%s/artifacts/%s", dir,
             digest_hex(manifest_artifact_digest(done), hex));
    s_settle(path);
    manifest_destroy(&done);
    return t;
}

/* Prints the results for an artifact of MIB MiB. */
static void
s_report(uint64_t mib, const char *dir, double t_plain, double t_hash,
         double t_up, long grew)
{
    uint64_t size = mib * 1024 * 1024;
    double mb = (double)size / 1e6;
    printf("bench_upload: %llu MiB in %u KiB chunks, best of %d, %s\n",
           (unsigned long long)mib, CHUNK / 1024, ROUNDS, dir);
    printf("  plain write+fsync       %8.1f MB/s  (%.2f s)\n", mb / t_plain,
           t_plain);
    printf("  plain write+hash+fsync  %8.1f MB/s  (%.2f s)\n", mb / t_hash,
           t_hash);
    printf("  begin/chunk/commit      %8.1f MB/s  (%.2f s)  %.0f%% of plain "
           "write, %.0f%% of write+hash\n",
           mb / t_up, t_up, 100.0 * t_plain / t_up, 100.0 * t_hash / t_up);
    printf("  peak RSS growth during an upload: %ld KiB (artifact %llu "
           "KiB)\n",
           grew, (unsigned long long)(size / 1024));
}

int
main(int argc, char **argv)
{
    uint64_t mib = argc > 1 ? strtoull(argv[1], NULL, 10) : 2048;
    const char *base = argc > 2 ? argv[2] : getenv("TMPDIR");
    char dir[4096], plain[4200], cmd[4300];
    snprintf(dir, sizeof dir, "%s/bench-upload-XXXXXX", base ? base : "/tmp");
    uint8_t *buf = calloc(1, CHUNK);
    if (mib == 0 || !buf || !mkdtemp(dir)) {
        s_die("usage: bench_upload [SIZE_MIB [DIR]]", NULL);
    }
    uint64_t size = mib * 1024 * 1024;
    for (size_t i = 0; i < CHUNK; i++) {
        buf[i] = (uint8_t)(i * 131u ^ (i >> 9));
    }
    uint8_t d[DIGEST_BYTES];
    size_t mlen = 0;
    keys_public_t pub;
    s_digest(buf, size, d);
    uint8_t *m = s_manifest(dir, size, d, &mlen, &pub);
    hoist_error_t err = {0};
    artifacts_t *a = artifacts_open(dir, &err);
    if (!a) {
        s_die("open", &err);
    }

    /* Alternate the two, twice, and keep the best of each: whichever ran
     * first would otherwise pay for the other's writeback. */
    snprintf(plain, sizeof plain, "%s/plain", dir);
    double t_plain = 1e30, t_hash = 1e30, t_up = 1e30;
    long grew = 0;
    for (int round = 0; round < ROUNDS; round++) {
        t_plain = s_min(t_plain, s_plain(buf, size, plain, 0));
        t_hash = s_min(t_hash, s_plain(buf, size, plain, 1));
        long rss0 = s_maxrss_kib();
        t_up = s_min(t_up, s_upload(a, dir, buf, size, m, mlen, &pub));
        if (s_maxrss_kib() - rss0 > grew) {
            grew = s_maxrss_kib() - rss0;
        }
    }

    s_report(mib, dir, t_plain, t_hash, t_up, grew);

    artifacts_destroy(&a);
    free(m);
    free(buf);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : 1;
}
