/*
 * test_fetch: the agent's side of an artifact transfer. First the window
 * arithmetic alone over many sizes, chunks and windows; then the module on
 * real files, fed directly; then whole transfers through a real ZeroMQ
 * DEALER (the agent, using fetch) and ROUTER (a test server in a zactor)
 * on tcp://127.0.0.1 with an ephemeral port. The server holds requests
 * back until the agent's window is full, so it sees everything the agent
 * has in flight and can tell when the agent asks for more than its window.
 */
#include "testutil.h"

#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "digest.h"
#include "envelope.h"
#include "fetch.h"
#include "wire.pb-c.h"

#define RECV_TIMEOUT_MS 10000
#define HOLD_MS         100 /* how long the server waits for a full window */
#define SERVER_QUEUE    4096

/* ---- helpers: artifacts, files --------------------------------------- */

static uint64_t
s_rand(uint64_t *s)
{
    /* xorshift64: reproducible, fast enough to fill 64 MiB. */
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *s = x;
    return x;
}

static void
s_fill(uint8_t *buf, size_t len, uint64_t *seed)
{
    for (size_t i = 0; i < len; i++) {
        buf[i] = (uint8_t)(s_rand(seed) >> 24);
    }
}

/* Writes SIZE pseudo-random bytes to PATH and their digest to DIGEST. */
static void
s_make_source(const char *path, uint64_t size, uint64_t seed,
              uint8_t digest[DIGEST_BYTES])
{
    size_t block = 1024 * 1024;
    uint8_t *buf = malloc(block);
    assert_non_null(buf);
    digest_t *d = digest_new();
    assert_non_null(d);
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    for (uint64_t off = 0; off < size; off += block) {
        size_t n = size - off < block ? (size_t)(size - off) : block;
        s_fill(buf, n, &seed);
        digest_update(d, buf, n);
        assert_int_equal(fwrite(buf, 1, n, fp), n);
    }
    assert_int_equal(fclose(fp), 0);
    digest_final(d, digest);
    digest_destroy(&d);
    free(buf);
}

static void
s_digest_buf(const void *buf, size_t len, uint8_t out[DIGEST_BYTES])
{
    digest_t *d = digest_new();
    assert_non_null(d);
    digest_update(d, buf, len);
    digest_final(d, out);
    digest_destroy(&d);
}

static void
s_digest_file(const char *path, uint8_t out[DIGEST_BYTES], uint64_t *size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    hoist_error_t err = {0};
    assert_int_equal(digest_fd(fd, out, size, &err), HOIST_OK);
    close(fd);
}

static int64_t
s_file_size(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0) {
        return -1;
    }
    return (int64_t)st.st_size;
}

/* A temporary directory with a cache/ inside. */
typedef struct {
    char *dir;
    char *cache;
    char *src;
} fixture_t;

static void
s_fixture(fixture_t *fx)
{
    fx->dir = tu_tmpdir();
    fx->cache = tu_path(fx->dir, "cache");
    fx->src = tu_path(fx->dir, "src");
    assert_int_equal(mkdir(fx->cache, 0700), 0);
}

static void
s_fixture_free(fixture_t *fx)
{
    free(fx->cache);
    free(fx->src);
    tu_rmtree(fx->dir);
}

/* CACHE/<hex> and CACHE/<hex>.part, malloc'd. */
static char *
s_cache_path(const char *cache, const uint8_t digest[DIGEST_BYTES], bool part)
{
    char hex[DIGEST_HEX_LEN];
    char name[DIGEST_HEX_LEN + 8];
    snprintf(name, sizeof name, "%s%s", digest_hex(digest, hex),
             part ? FETCH_PART_SUFFIX : "");
    return tu_path(cache, name);
}

/* Answers what F asks for from SRC (the artifact in memory), in order,
 * until F is complete; requests made before the call are answered first.
 * CHUNK is F's chunk size. */
static void
s_feed(fetch_t *f, const uint8_t *src, uint32_t chunk)
{
    fetch_req_t q[16];
    while (!fetch_complete(f)) {
        (void)fetch_next(f, q, 16);
        assert_true(fetch_outstanding(f) > 0);
        uint64_t off = fetch_received(f);
        uint64_t left = fetch_size(f) - off;
        size_t len = left < chunk ? (size_t)left : chunk;
        hoist_error_t err = {0};
        if (fetch_chunk(f, off, src + off, len, &err) != HOIST_OK) {
            fail_msg("chunk refused: %s", err.msg);
        }
    }
}

/* ---- the window arithmetic, without files ---------------------------- */

static void
test_opts_resolve(void **state)
{
    (void)state;
    fetch_opts_t o = fetch_opts_resolve(NULL);
    assert_int_equal(o.chunk, 256 * 1024);
    assert_int_equal(o.window, 2 * 1024 * 1024);
    fetch_opts_t in = {.chunk = 4 * 1024 * 1024};
    o = fetch_opts_resolve(&in);
    assert_int_equal(o.chunk, 1024 * 1024);
    assert_int_equal(o.window, 8 * 1024 * 1024);
    in = (fetch_opts_t){.chunk = 1000, .window = 10};
    o = fetch_opts_resolve(&in);
    assert_int_equal(o.chunk, 1000);
    assert_int_equal(o.window, 1000);
    in = (fetch_opts_t){.chunk = 4096, .window = 1ull << 40};
    o = fetch_opts_resolve(&in);
    assert_int_equal(o.window, FETCH_WINDOW_MAX);
    in = (fetch_opts_t){.chunk = 4096, .window = 3 * 4096 + 1};
    o = fetch_opts_resolve(&in);
    assert_int_equal(o.window, 3 * 4096 + 1);
}

typedef struct {
    fetch_req_t *ring;
    size_t cap, head, count;
} ring_t;

/* Runs one transfer of SIZE bytes through the pure window, requesting in
 * random batches and receiving random numbers of the oldest requests;
 * with RESETS, the connection is "lost" now and then. Checks every rule
 * on the way. SEEN (SIZE counters, or NULL for huge sizes) counts how
 * often each byte was received. */
static void
s_simulate(uint64_t size, uint32_t chunk, uint64_t window, bool resets,
           uint64_t *rng, uint8_t *seen)
{
    fetch_opts_t in = {.chunk = chunk, .window = window};
    fetch_opts_t o = fetch_opts_resolve(&in);
    fetch_window_t w;
    fetch_window_init(&w, size, 0, &in);
    ring_t r = {.cap = (size_t)(o.window / o.chunk) + 1};
    r.ring = calloc(r.cap, sizeof *r.ring);
    assert_non_null(r.ring);
    uint64_t issued_end = 0, received = 0, requested = 0, in_flight = 0;
    uint32_t last_len = 0;
    fetch_req_t q[8];
    while (received < size) {
        size_t max = 1 + (size_t)(s_rand(rng) % 8);
        size_t n = fetch_window_next(&w, q, max);
        assert_true(n <= max);
        for (size_t i = 0; i < n; i++) {
            uint64_t left = size - q[i].offset;
            assert_int_equal(q[i].offset, issued_end);
            assert_int_equal(q[i].length, left < o.chunk ? left : o.chunk);
            assert_true(q[i].length > 0);
            assert_true(q[i].offset + q[i].length <= size);
            assert_true(r.count < r.cap);
            r.ring[(r.head + r.count++) % r.cap] = q[i];
            issued_end += q[i].length;
            in_flight += q[i].length;
            requested += q[i].length;
            last_len = q[i].length;
        }
        assert_int_equal(fetch_window_outstanding(&w), in_flight);
        assert_true(in_flight <= o.window);
        if (n < max) {
            /* It stopped short: the window is full or all is asked for. */
            uint64_t left = size - issued_end;
            uint64_t piece = left < o.chunk ? left : o.chunk;
            assert_true(issued_end == size || in_flight + piece > o.window);
        }
        assert_true(r.count > 0);
        size_t k = 1 + (size_t)(s_rand(rng) % r.count);
        for (size_t i = 0; i < k; i++) {
            fetch_req_t a = r.ring[r.head];
            r.head = (r.head + 1) % r.cap;
            r.count--;
            assert_int_equal(fetch_window_check(&w, a.offset, a.length, NULL),
                             HOIST_OK);
            fetch_window_commit(&w);
            if (seen) {
                for (uint64_t b = a.offset; b < a.offset + a.length; b++) {
                    seen[b]++;
                }
            }
            received += a.length;
            in_flight -= a.length;
            assert_int_equal(w.done, received);
        }
        if (resets && s_rand(rng) % 7 == 0) {
            fetch_window_reset(&w);
            r.count = 0;
            in_flight = 0;
            issued_end = received;
            assert_int_equal(fetch_window_outstanding(&w), 0);
        }
    }
    assert_int_equal(fetch_window_next(&w, q, 8), 0);
    assert_int_equal(fetch_window_check(&w, size, 1, NULL), HOIST_ERR_PROTOCOL);
    if (!resets) {
        assert_int_equal(requested, size); /* nothing asked twice */
    }
    /* The last request is the short tail, when there is one. */
    assert_int_equal(last_len, size % o.chunk ? size % o.chunk : o.chunk);
    if (seen) {
        for (uint64_t b = 0; b < size; b++) {
            if (seen[b] != 1) {
                fail_msg("size %llu chunk %u window %llu: byte %llu received "
                         "%u times",
                         (unsigned long long)size, chunk,
                         (unsigned long long)window, (unsigned long long)b,
                         seen[b]);
            }
        }
    }
    free(r.ring);
}

static void
test_window_arithmetic(void **state)
{
    (void)state;
    static const uint64_t sizes[] = {1,       2,
                                     3,       100,
                                     4095,    4096,
                                     4097,    65536 * 3 + 17,
                                     1 << 20, (1 << 20) + 1,
                                     3000001};
    static const uint32_t chunks[] = {1,     7,          4096,
                                      65536, 256 * 1024, 1024 * 1024};
    uint64_t rng = 0x9e3779b97f4a7c15ull;
    int runs = 0;
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
        uint8_t *seen = malloc(sizes[s]);
        assert_non_null(seen);
        for (size_t c = 0; c < sizeof chunks / sizeof *chunks; c++) {
            uint32_t ch = chunks[c];
            uint64_t windows[] = {0,      1,          ch,
                                  ch + 1, 3 * ch - 1, (uint64_t)ch * 64};
            if (sizes[s] / ch > 200000) {
                continue; /* a million 1-byte chunks prove nothing more */
            }
            for (size_t wi = 0; wi < sizeof windows / sizeof *windows; wi++) {
                for (int resets = 0; resets < 2; resets++) {
                    memset(seen, 0, sizes[s]);
                    s_simulate(sizes[s], ch, windows[wi], resets, &rng, seen);
                    runs++;
                }
            }
        }
        free(seen);
    }
    assert_true(runs > 500);
    /* Beyond 4 GiB: offsets stay 64-bit; contiguity is checked inline. */
    s_simulate((5ull << 30) + 3, 1024 * 1024, 0, false, &rng, NULL);
    s_simulate((5ull << 30) + 3, 1024 * 1024, 5ull << 20, true, &rng, NULL);
}

static void
test_window_fills_and_refuses(void **state)
{
    (void)state;
    fetch_opts_t in = {.chunk = 4096, .window = 2 * 4096 + 100};
    fetch_window_t w, before;
    fetch_window_init(&w, 10000, 0, &in);
    fetch_req_t q[8];
    assert_int_equal(fetch_window_next(&w, q, 8), 2); /* 8292 fits 2 */
    assert_int_equal(q[0].offset, 0);
    assert_int_equal(q[1].offset, 4096);
    assert_int_equal(fetch_window_next(&w, q, 8), 0); /* full */
    hoist_error_t err = {0};
    before = w;
    assert_int_equal(fetch_window_check(&w, 4096, 4096, &err),
                     HOIST_ERR_PROTOCOL);
    assert_contains(err.msg, "out of order");
    assert_int_equal(fetch_window_check(&w, 0, 100, &err), HOIST_ERR_PROTOCOL);
    assert_contains(err.msg, "were requested");
    assert_int_equal(fetch_window_check(&w, 0, 4097, &err), HOIST_ERR_PROTOCOL);
    assert_int_equal(fetch_window_check(&w, 20000, 10, &err),
                     HOIST_ERR_PROTOCOL);
    assert_memory_equal(&w, &before, sizeof w);
    assert_int_equal(fetch_window_check(&w, 0, 4096, &err), HOIST_OK);
    fetch_window_commit(&w);
    assert_int_equal(fetch_window_next(&w, q, 8), 1);
    assert_int_equal(q[0].offset, 8192);
    assert_int_equal(q[0].length, 10000 - 8192); /* the short tail */
    fetch_window_commit(&w);
    /* Beyond the size, even at the right offset. */
    assert_int_equal(fetch_window_check(&w, 8192, 4096, &err),
                     HOIST_ERR_PROTOCOL);
    fetch_window_commit(&w);
    assert_int_equal(w.done, 10000);
    assert_int_equal(fetch_window_check(&w, 10000, 0, &err),
                     HOIST_ERR_PROTOCOL);
    assert_contains(err.msg, "no request is outstanding");
    /* Resuming part way: the first request starts at what is held. */
    fetch_window_init(&w, 10000, 5000, &in);
    assert_int_equal(fetch_window_next(&w, q, 8), 2);
    assert_int_equal(q[0].offset, 5000);
    assert_int_equal(q[0].length, 4096);
    assert_int_equal(q[1].offset, 9096);
    assert_int_equal(q[1].length, 904);
    /* More held than the size is clamped. */
    fetch_window_init(&w, 10000, 20000, &in);
    assert_int_equal(fetch_window_next(&w, q, 8), 0);
    assert_int_equal(w.done, 10000);
}

/* ---- the module on real files, fed directly -------------------------- */

static void
test_new_refuses(void **state)
{
    (void)state;
    fixture_t fx;
    s_fixture(&fx);
    uint8_t digest[DIGEST_BYTES] = {1, 2, 3};
    hoist_error_t err = {0};
    assert_null(fetch_new(fx.cache, digest, 0, NULL, &err));
    assert_int_equal(err.code, HOIST_ERR_SIZE);
    char *missing = tu_path(fx.dir, "nowhere");
    assert_null(fetch_new(missing, digest, 10, NULL, &err));
    assert_int_equal(err.code, HOIST_ERR_IO);
    assert_contains(err.msg, "nowhere");
    free(missing);
    /* A .part that is a symlink is never followed, nor its target made. */
    char *part = s_cache_path(fx.cache, digest, true);
    char *target = tu_path(fx.dir, "target");
    assert_int_equal(symlink(target, part), 0);
    assert_null(fetch_new(fx.cache, digest, 10, NULL, &err));
    assert_int_equal(err.code, HOIST_ERR_IO);
    assert_false(tu_exists(target));
    assert_int_equal(unlink(part), 0);
    /* A directory where the complete artifact goes is not an artifact. */
    char *full = s_cache_path(fx.cache, digest, false);
    assert_int_equal(mkdir(full, 0700), 0);
    assert_null(fetch_new(fx.cache, digest, 10, NULL, &err));
    assert_int_equal(err.code, HOIST_ERR_STATE);
    assert_contains(err.msg, "not a regular file");
    assert_int_equal(rmdir(full), 0);
    /* A FIFO as the .part neither blocks nor passes. */
    assert_int_equal(mkfifo(part, 0600), 0);
    assert_null(fetch_new(fx.cache, digest, 10, NULL, &err));
    assert_int_equal(err.code, HOIST_ERR_STATE);
    free(part);
    free(full);
    free(target);
    s_fixture_free(&fx);
}

static void
test_direct_transfer_and_finish(void **state)
{
    (void)state;
    fixture_t fx;
    s_fixture(&fx);
    uint8_t digest[DIGEST_BYTES];
    uint64_t size = 3 * 4096 + 5;
    s_make_source(fx.src, size, 7, digest);
    uint8_t *src = (uint8_t *)tu_read(fx.src, NULL);
    char *part = s_cache_path(fx.cache, digest, true);
    char *full = s_cache_path(fx.cache, digest, false);
    fetch_opts_t opts = {.chunk = 4096, .window = 8192};
    hoist_error_t err = {0};
    fetch_t *f = fetch_new(fx.cache, digest, size, &opts, &err);
    assert_non_null(f);
    struct stat st;
    assert_int_equal(stat(part, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(fetch_size(f), size);
    assert_int_equal(fetch_received(f), 0);
    char path[4096] = "untouched";
    assert_int_equal(fetch_finish(f, path, sizeof path, &err), HOIST_ERR_STATE);
    assert_contains(err.msg, "not complete");
    assert_string_equal(path, "untouched");
    s_feed(f, src, 4096);
    assert_true(fetch_complete(f));
    assert_int_equal(fetch_received(f), size);
    assert_int_equal(fetch_outstanding(f), 0);
    char tiny[8];
    assert_int_equal(fetch_finish(f, tiny, sizeof tiny, &err), HOIST_ERR_USAGE);
    assert_int_equal(fetch_finish(f, path, sizeof path, &err), HOIST_OK);
    assert_string_equal(path, full);
    assert_false(tu_exists(part));
    uint8_t got[DIGEST_BYTES];
    uint64_t got_size;
    s_digest_file(full, got, &got_size);
    assert_int_equal(got_size, size);
    assert_memory_equal(got, digest, DIGEST_BYTES);
    /* Over: nothing more to ask, nothing more accepted. */
    fetch_req_t q[4];
    assert_int_equal(fetch_next(f, q, 4), 0);
    assert_int_equal(fetch_chunk(f, 0, src, 4096, &err), HOIST_ERR_PROTOCOL);
    assert_int_equal(fetch_finish(f, path, sizeof path, &err), HOIST_ERR_STATE);
    fetch_destroy(&f);
    assert_null(f);
    fetch_destroy(&f);
    fetch_destroy(NULL);
    assert_true(tu_exists(full));
    assert_int_equal(tu_count_entries(fx.cache), 1);
    free(src);
    free(part);
    free(full);
    s_fixture_free(&fx);
}

static void
test_refused_chunk_leaves_file(void **state)
{
    (void)state;
    fixture_t fx;
    s_fixture(&fx);
    uint8_t digest[DIGEST_BYTES];
    uint64_t size = 3 * 4096 + 5;
    s_make_source(fx.src, size, 8, digest);
    uint8_t *src = (uint8_t *)tu_read(fx.src, NULL);
    char *part = s_cache_path(fx.cache, digest, true);
    fetch_opts_t opts = {.chunk = 4096, .window = 3 * 4096};
    hoist_error_t err = {0};
    fetch_t *f = fetch_new(fx.cache, digest, size, &opts, &err);
    assert_non_null(f);
    /* Nothing requested yet: any chunk is unexpected. */
    assert_int_equal(fetch_chunk(f, 0, src, 4096, &err), HOIST_ERR_PROTOCOL);
    assert_contains(err.msg, "no request is outstanding");
    assert_int_equal(s_file_size(part), 0);
    fetch_req_t q[8];
    assert_int_equal(fetch_next(f, q, 8), 3);
    assert_int_equal(fetch_chunk(f, 0, src, 4096, &err), HOIST_OK);
    uint8_t junk[4096];
    memset(junk, 0xee, sizeof junk);
    /* Out of order, wrong length, beyond the size, an old offset. */
    assert_int_equal(fetch_chunk(f, 8192, junk, 4096, &err),
                     HOIST_ERR_PROTOCOL);
    assert_contains(err.msg, "out of order");
    assert_int_equal(fetch_chunk(f, 4096, junk, 10, &err), HOIST_ERR_PROTOCOL);
    assert_contains(err.msg, "were requested");
    assert_int_equal(fetch_chunk(f, 20000, junk, 4096, &err),
                     HOIST_ERR_PROTOCOL);
    assert_int_equal(fetch_chunk(f, 0, junk, 4096, &err), HOIST_ERR_PROTOCOL);
    assert_int_equal(fetch_chunk(f, 4096, junk, 0, &err), HOIST_ERR_PROTOCOL);
    /* The file holds exactly the one good chunk. */
    size_t len = 0;
    char *now = tu_read(part, &len);
    assert_int_equal(len, 4096);
    assert_memory_equal(now, src, 4096);
    free(now);
    assert_int_equal(fetch_received(f), 4096);
    assert_int_equal(fetch_outstanding(f), 2 * 4096);
    /* The stream goes on where it was. */
    s_feed(f, src, 4096);
    char path[4096];
    assert_int_equal(fetch_finish(f, path, sizeof path, &err), HOIST_OK);
    fetch_destroy(&f);
    free(src);
    free(part);
    s_fixture_free(&fx);
}

static void
test_reset_rerequests(void **state)
{
    (void)state;
    fixture_t fx;
    s_fixture(&fx);
    uint8_t digest[DIGEST_BYTES];
    uint64_t size = 10 * 4096;
    s_make_source(fx.src, size, 9, digest);
    uint8_t *src = (uint8_t *)tu_read(fx.src, NULL);
    fetch_opts_t opts = {.chunk = 4096, .window = 5 * 4096};
    hoist_error_t err = {0};
    fetch_t *f = fetch_new(fx.cache, digest, size, &opts, &err);
    assert_non_null(f);
    fetch_req_t q[8];
    assert_int_equal(fetch_next(f, q, 8), 5);
    assert_int_equal(fetch_chunk(f, 0, src, 4096, &err), HOIST_OK);
    assert_int_equal(fetch_chunk(f, 4096, src + 4096, 4096, &err), HOIST_OK);
    assert_int_equal(fetch_epoch(f), 0);
    fetch_reset(f);
    assert_int_equal(fetch_epoch(f), 1);
    assert_int_equal(fetch_outstanding(f), 0);
    assert_int_equal(fetch_received(f), 8192);
    /* An answer to a request of the lost connection is refused. */
    assert_int_equal(fetch_chunk(f, 8192, src + 8192, 4096, &err),
                     HOIST_ERR_PROTOCOL);
    assert_int_equal(fetch_next(f, q, 8), 5);
    assert_int_equal(q[0].offset, 8192);
    s_feed(f, src, 4096);
    char path[4096];
    assert_int_equal(fetch_finish(f, path, sizeof path, &err), HOIST_OK);
    fetch_destroy(&f);
    free(src);
    s_fixture_free(&fx);
}

static void
test_second_fetch_is_busy(void **state)
{
    (void)state;
    fixture_t fx;
    s_fixture(&fx);
    uint8_t digest[DIGEST_BYTES] = {9};
    hoist_error_t err = {0};
    fetch_t *f = fetch_new(fx.cache, digest, 100, NULL, &err);
    assert_non_null(f);
    assert_null(fetch_new(fx.cache, digest, 100, NULL, &err));
    assert_int_equal(err.code, HOIST_ERR_BUSY);
    assert_contains(err.msg, "another fetch");
    fetch_destroy(&f);
    /* The lock went with the first fetch. */
    f = fetch_new(fx.cache, digest, 100, NULL, &err);
    assert_non_null(f);
    fetch_destroy(&f);
    s_fixture_free(&fx);
}

static void
test_part_longer_than_size_restarts(void **state)
{
    (void)state;
    fixture_t fx;
    s_fixture(&fx);
    uint8_t digest[DIGEST_BYTES];
    uint64_t size = 5000;
    s_make_source(fx.src, size, 10, digest);
    uint8_t *src = (uint8_t *)tu_read(fx.src, NULL);
    char *part = s_cache_path(fx.cache, digest, true);
    char junk[6000];
    memset(junk, 'x', sizeof junk);
    tu_write(part, junk, sizeof junk, 0600);
    fetch_opts_t opts = {.chunk = 1024};
    hoist_error_t err = {0};
    fetch_t *f = fetch_new(fx.cache, digest, size, &opts, &err);
    assert_non_null(f);
    assert_int_equal(fetch_received(f), 0);
    assert_int_equal(s_file_size(part), 0);
    s_feed(f, src, 1024);
    char path[4096];
    assert_int_equal(fetch_finish(f, path, sizeof path, &err), HOIST_OK);
    fetch_destroy(&f);
    free(src);
    free(part);
    s_fixture_free(&fx);
}

static void
test_cached_complete(void **state)
{
    (void)state;
    fixture_t fx;
    s_fixture(&fx);
    uint8_t digest[DIGEST_BYTES];
    uint64_t size = 70000;
    s_make_source(fx.src, size, 11, digest);
    size_t len = 0;
    char *src = tu_read(fx.src, &len);
    char *part = s_cache_path(fx.cache, digest, true);
    char *full = s_cache_path(fx.cache, digest, false);
    tu_write(full, src, len, 0600);
    tu_write(part, "stale", 5, 0600);
    hoist_error_t err = {0};
    fetch_t *f = fetch_new(fx.cache, digest, size, NULL, &err);
    assert_non_null(f);
    assert_true(fetch_complete(f));
    assert_int_equal(fetch_received(f), size);
    fetch_req_t q[4];
    assert_int_equal(fetch_next(f, q, 4), 0);
    char path[4096];
    assert_int_equal(fetch_finish(f, path, sizeof path, &err), HOIST_OK);
    assert_string_equal(path, full);
    assert_false(tu_exists(part)); /* the stale .part went */
    fetch_destroy(&f);
    /* A cached file that does not match is removed, never handed out. */
    src[100] ^= 1;
    tu_write(full, src, len, 0600);
    f = fetch_new(fx.cache, digest, size, NULL, &err);
    assert_non_null(f);
    strcpy(path, "untouched");
    assert_int_equal(fetch_finish(f, path, sizeof path, &err),
                     HOIST_ERR_DIGEST);
    assert_string_equal(path, "untouched");
    assert_false(tu_exists(full));
    fetch_destroy(&f);
    /* Nor one of the wrong size. */
    tu_write(full, src, len - 1, 0600);
    f = fetch_new(fx.cache, digest, size, NULL, &err);
    assert_non_null(f);
    assert_int_equal(fetch_finish(f, path, sizeof path, &err), HOIST_ERR_SIZE);
    assert_false(tu_exists(full));
    fetch_destroy(&f);
    free(src);
    free(part);
    free(full);
    s_fixture_free(&fx);
}

static struct rlimit s_saved_fsize;
static bool s_fsize_saved;

/* Puts the file size limit back, also when the test failed half way. */
static int
s_restore_fsize(void **state)
{
    (void)state;
    if (s_fsize_saved) {
        setrlimit(RLIMIT_FSIZE, &s_saved_fsize);
        s_fsize_saved = false;
    }
    signal(SIGXFSZ, SIG_DFL);
    return 0;
}

/* A write that fails half way (the file size limit, which the kernel
 * reports as EFBIG, a "disk full" to Hoist) leaves the .part at its last
 * good length, and the same chunk can be written again later. */
static void
test_write_failure_truncates(void **state)
{
    (void)state;
    fixture_t fx;
    s_fixture(&fx);
    uint8_t digest[DIGEST_BYTES];
    uint64_t size = 4 * 4096;
    s_make_source(fx.src, size, 12, digest);
    uint8_t *src = (uint8_t *)tu_read(fx.src, NULL);
    char *part = s_cache_path(fx.cache, digest, true);
    fetch_opts_t opts = {.chunk = 4096, .window = 4 * 4096};
    hoist_error_t err = {0};
    fetch_t *f = fetch_new(fx.cache, digest, size, &opts, &err);
    assert_non_null(f);
    fetch_req_t q[8];
    assert_int_equal(fetch_next(f, q, 8), 4);
    assert_int_equal(fetch_chunk(f, 0, src, 4096, &err), HOIST_OK);
    assert_int_equal(fetch_chunk(f, 4096, src + 4096, 4096, &err), HOIST_OK);

    assert_int_equal(getrlimit(RLIMIT_FSIZE, &s_saved_fsize), 0);
    s_fsize_saved = true;
    struct rlimit lim = s_saved_fsize;
    lim.rlim_cur = 2 * 4096 + 100; /* the third chunk fits 100 bytes */
    signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    hoist_err_t rc = fetch_chunk(f, 8192, src + 8192, 4096, &err);
    int64_t after = s_file_size(part);
    s_restore_fsize(NULL);
    assert_int_equal(rc, HOIST_ERR_NOSPACE);
    assert_contains(err.msg, "write");
    assert_int_equal(after, 8192);
    assert_int_equal(fetch_received(f), 8192);
    assert_int_equal(fetch_outstanding(f), 2 * 4096);

    /* Room again: the same chunk goes in, and the result verifies. */
    assert_int_equal(fetch_chunk(f, 8192, src + 8192, 4096, &err), HOIST_OK);
    s_feed(f, src, 4096);
    char path[4096];
    assert_int_equal(fetch_finish(f, path, sizeof path, &err), HOIST_OK);
    fetch_destroy(&f);
    free(src);
    free(part);
    s_fixture_free(&fx);
}

/* ---- real transfers over ZeroMQ --------------------------------------- */

typedef struct {
    /* set by the test */
    const char *source;
    uint8_t digest[DIGEST_BYTES];
    uint64_t size;
    uint32_t chunk; /* the agent's resolved options */
    uint64_t window;
    /* set by the server; read by the test after zactor_destroy */
    char endpoint[64];
    uint64_t max_queued; /* most bytes requested and not yet answered */
    uint64_t requests;
    uint64_t bytes_requested;
    uint64_t first_offset;
    uint64_t next_offset; /* where a contiguous next request starts */
    int bad;              /* requests that were malformed or not in line */
    char why[256];
} server_t;

typedef struct {
    zframe_t *who;
    uint64_t id;
    uint64_t offset;
    uint32_t length;
} pending_t;

typedef struct {
    pending_t q[SERVER_QUEUE];
    size_t head, count;
    uint64_t bytes;
} queue_t;

static void
s_bad(server_t *srv, const char *why)
{
    if (srv->bad++ == 0) {
        snprintf(srv->why, sizeof srv->why, "%s", why);
    }
}

/* Reads one FetchRequest into the queue. */
static void
s_server_take(server_t *srv, zsock_t *router, queue_t *q)
{
    zmsg_t *m = zmsg_recv(router);
    if (!m) {
        return;
    }
    zframe_t *who = zmsg_pop(m);
    zframe_t *body = zmsg_pop(m);
    Hoist__Envelope *env =
        body ? hoist__envelope__unpack(NULL, zframe_size(body),
                                       zframe_data(body))
             : NULL;
    zmsg_destroy(&m);
    zframe_destroy(&body);
    const Hoist__FetchRequest *r =
        env && env->body_case == HOIST__ENVELOPE__BODY_FETCH ? env->fetch
                                                             : NULL;
    if (!r || r->digest.len != DIGEST_BYTES ||
        memcmp(r->digest.data, srv->digest, DIGEST_BYTES) != 0) {
        s_bad(srv, "not a FetchRequest for this artifact");
    } else if (r->length == 0 || r->length > FETCH_CHUNK_MAX ||
               r->offset + r->length > srv->size) {
        s_bad(srv, "request beyond the artifact or the chunk cap");
    } else if (srv->requests > 0 && r->offset != srv->next_offset) {
        s_bad(srv, "request not contiguous with the previous one");
    } else if (q->count == SERVER_QUEUE) {
        s_bad(srv, "more requests in flight than the server can hold");
    } else {
        if (srv->requests++ == 0) {
            srv->first_offset = r->offset;
        }
        srv->next_offset = r->offset + r->length;
        srv->bytes_requested += r->length;
        pending_t *p = &q->q[(q->head + q->count++) % SERVER_QUEUE];
        *p = (pending_t){zframe_dup(who), env->id, r->offset, r->length};
        q->bytes += r->length;
        if (q->bytes > srv->max_queued) {
            srv->max_queued = q->bytes;
        }
    }
    zframe_destroy(&who);
    if (env) {
        hoist__envelope__free_unpacked(env, NULL);
    }
}

/* Answers the oldest queued request with a Chunk read from the source. */
static void
s_server_answer(server_t *srv, zsock_t *router, queue_t *q, int fd,
                uint8_t *buf)
{
    pending_t p = q->q[q->head];
    q->head = (q->head + 1) % SERVER_QUEUE;
    q->count--;
    q->bytes -= p.length;
    ssize_t got = pread(fd, buf, p.length, (off_t)p.offset);
    if (got < 0) {
        s_bad(srv, "cannot read the source");
        got = 0;
    }
    Hoist__Chunk ch = HOIST__CHUNK__INIT;
    ch.digest.data = srv->digest;
    ch.digest.len = DIGEST_BYTES;
    ch.offset = p.offset;
    ch.data.data = buf;
    ch.data.len = (size_t)got;
    Hoist__Envelope env = HOIST__ENVELOPE__INIT;
    env.version = 1;
    env.id = p.id;
    env.body_case = HOIST__ENVELOPE__BODY_CHUNK;
    env.chunk = &ch;
    zframe_t *out = zframe_new(NULL, hoist__envelope__get_packed_size(&env));
    hoist__envelope__pack(&env, zframe_data(out));
    zmsg_t *m = zmsg_new();
    zmsg_append(m, &p.who);
    zmsg_append(m, &out);
    zmsg_send(&m, router);
}

/* The controller's side, as small as it can be: a ROUTER that answers
 * each FetchRequest from the source file, in order. It answers only when
 * the agent's window is full (no room for another chunk), the request for
 * the last byte is queued, or nothing came for HOLD_MS: so the queue it
 * holds is everything the agent has in flight. */
static void
s_server(zsock_t *pipe, void *args)
{
    server_t *srv = args;
    zsock_t *router = zsock_new(ZMQ_ROUTER);
    int port = router ? zsock_bind(router, "tcp://127.0.0.1:*") : -1;
    int fd = open(srv->source, O_RDONLY | O_CLOEXEC);
    queue_t *q = calloc(1, sizeof *q);
    uint8_t *buf = malloc(FETCH_CHUNK_MAX);
    if (port < 0 || fd < 0 || !q || !buf) {
        s_bad(srv, "server set-up failed");
    }
    snprintf(srv->endpoint, sizeof srv->endpoint, "tcp://127.0.0.1:%d", port);
    zsock_signal(pipe, 0);
    zmq_pollitem_t items[] = {
        {zsock_resolve(pipe), 0, ZMQ_POLLIN, 0},
        {router ? zsock_resolve(router) : NULL, 0, ZMQ_POLLIN, 0}};
    while (srv->bad == 0) {
        bool full = q->bytes + srv->chunk > srv->window;
        bool last = q->count > 0 && srv->next_offset == srv->size;
        long timeout = q->count == 0 ? -1 : (full || last) ? 0 : HOLD_MS;
        if (zmq_poll(items, 2, timeout) < 0) {
            break;
        }
        if (items[0].revents & ZMQ_POLLIN) {
            break; /* $TERM */
        }
        if (items[1].revents & ZMQ_POLLIN) {
            s_server_take(srv, router, q);
        } else if (q->count > 0) {
            s_server_answer(srv, router, q, fd, buf);
        }
    }
    if (srv->bad) {
        /* Wait for $TERM so that zactor_destroy finds us listening. */
        zmsg_t *m = zmsg_recv(pipe);
        zmsg_destroy(&m);
    }
    while (q && q->count > 0) {
        zframe_destroy(&q->q[q->head].who);
        q->head = (q->head + 1) % SERVER_QUEUE;
        q->count--;
    }
    free(q);
    free(buf);
    if (fd >= 0) {
        close(fd);
    }
    zsock_destroy(&router);
}

static zactor_t *
s_server_start(server_t *srv, const char *source,
               const uint8_t digest[DIGEST_BYTES], uint64_t size,
               const fetch_opts_t *opts)
{
    fetch_opts_t o = fetch_opts_resolve(opts);
    memset(srv, 0, sizeof *srv);
    srv->source = source;
    memcpy(srv->digest, digest, DIGEST_BYTES);
    srv->size = size;
    srv->chunk = o.chunk;
    srv->window = o.window;
    zactor_t *a = zactor_new(s_server, srv);
    assert_non_null(a);
    return a;
}

/* Stops the server (joining its thread) and checks what it saw. */
static void
s_server_stop(zactor_t **a, server_t *srv)
{
    zactor_destroy(a);
    if (srv->bad) {
        fail_msg("server: %s", srv->why);
    }
    assert_true(srv->max_queued <= srv->window);
}

static zsock_t *
s_dealer(const char *endpoint)
{
    zsock_t *d = zsock_new_dealer(endpoint);
    assert_non_null(d);
    zsock_set_rcvtimeo(d, RECV_TIMEOUT_MS);
    zsock_set_linger(d, 0);
    return d;
}

static void
s_send_request(zsock_t *d, const uint8_t digest[DIGEST_BYTES],
               const fetch_req_t *r, uint64_t id)
{
    Hoist__FetchRequest fr = HOIST__FETCH_REQUEST__INIT;
    fr.digest.data = (uint8_t *)digest;
    fr.digest.len = DIGEST_BYTES;
    fr.offset = r->offset;
    fr.length = r->length;
    Hoist__Envelope env = HOIST__ENVELOPE__INIT;
    env.version = 1;
    env.id = id;
    env.body_case = HOIST__ENVELOPE__BODY_FETCH;
    env.fetch = &fr;
    zframe_t *f = zframe_new(NULL, hoist__envelope__get_packed_size(&env));
    hoist__envelope__pack(&env, zframe_data(f));
    assert_int_equal(zframe_send(&f, d, 0), 0);
}

/* Receives one Chunk and hands it to F; returns fetch_chunk's result. */
static hoist_err_t
s_recv_chunk(zsock_t *d, fetch_t *f, const uint8_t digest[DIGEST_BYTES],
             hoist_error_t *err)
{
    zframe_t *fr = zframe_recv(d);
    if (!fr) {
        fail_msg("no chunk within %d ms", RECV_TIMEOUT_MS);
    }
    /* As the agent will: size-capped, version-checked. */
    hoist_error_t uerr = {0};
    envelope_t *env = envelope_unpack(zframe_data(fr), zframe_size(fr),
                                      ENVELOPE_MAX_BYTES, &uerr);
    zframe_destroy(&fr);
    if (!env) {
        fail_msg("envelope: %s", uerr.msg);
    }
    assert_int_equal(env->body_case, HOIST__ENVELOPE__BODY_CHUNK);
    assert_int_equal(env->id, fetch_epoch(f));
    const Hoist__Chunk *c = env->chunk;
    assert_int_equal(c->digest.len, DIGEST_BYTES);
    assert_memory_equal(c->digest.data, digest, DIGEST_BYTES);
    hoist_err_t rc = fetch_chunk(f, c->offset, c->data.data, c->data.len, err);
    envelope_destroy(&env);
    return rc;
}

/* Drives F over D: keeps the window full, takes chunks as they come, until
 * F is complete or has received STOP_AT bytes. */
static void
s_drive(zsock_t *d, fetch_t *f, const uint8_t digest[DIGEST_BYTES],
        uint64_t window, uint64_t stop_at)
{
    fetch_req_t q[16];
    while (!fetch_complete(f) && fetch_received(f) < stop_at) {
        size_t n;
        while ((n = fetch_next(f, q, 16)) > 0) {
            for (size_t i = 0; i < n; i++) {
                s_send_request(d, digest, &q[i], fetch_epoch(f));
            }
        }
        assert_true(fetch_outstanding(f) > 0);
        assert_true(fetch_outstanding(f) <= window);
        hoist_error_t err = {0};
        if (s_recv_chunk(d, f, digest, &err) != HOIST_OK) {
            fail_msg("chunk refused: %s", err.msg);
        }
    }
}

/* Checks that the server saw the agent's window filled, never passed:
 * at least as many whole chunks as fit (or all of the LEFT bytes), at
 * most the window (a short last chunk may squeeze in beside them). */
static void
s_assert_window_used(const server_t *srv, const fetch_opts_t *opts,
                     uint64_t left)
{
    fetch_opts_t o = fetch_opts_resolve(opts);
    uint64_t whole = o.window / o.chunk * o.chunk;
    assert_true(srv->max_queued >= (left < whole ? left : whole));
    assert_true(srv->max_queued <= o.window);
}

/* One whole transfer of SIZE bytes; returns the seconds it took. */
static double
s_transfer(uint64_t size, const fetch_opts_t *opts)
{
    fixture_t fx;
    s_fixture(&fx);
    uint8_t digest[DIGEST_BYTES];
    s_make_source(fx.src, size, size * 31 + 1, digest);
    server_t srv;
    zactor_t *a = s_server_start(&srv, fx.src, digest, size, opts);
    zsock_t *d = s_dealer(srv.endpoint);
    hoist_error_t err = {0};
    int64_t t0 = zclock_usecs();
    fetch_t *f = fetch_new(fx.cache, digest, size, opts, &err);
    if (!f) {
        fail_msg("fetch_new: %s", err.msg);
    }
    s_drive(d, f, digest, fetch_opts_resolve(opts).window, UINT64_MAX);
    char path[4096];
    if (fetch_finish(f, path, sizeof path, &err) != HOIST_OK) {
        fail_msg("fetch_finish: %s", err.msg);
    }
    double secs = (double)(zclock_usecs() - t0) / 1e6;
    fetch_destroy(&f);
    zsock_destroy(&d);
    s_server_stop(&a, &srv);
    /* Each byte asked for once, in order, with the window used fully. */
    assert_int_equal(srv.first_offset, 0);
    assert_int_equal(srv.bytes_requested, size);
    s_assert_window_used(&srv, opts, size);
    uint8_t got[DIGEST_BYTES];
    uint64_t got_size = 0;
    char *final = s_cache_path(fx.cache, digest, false);
    assert_string_equal(path, final);
    s_digest_file(final, got, &got_size);
    assert_int_equal(got_size, size);
    assert_memory_equal(got, digest, DIGEST_BYTES);
    assert_int_equal(tu_count_entries(fx.cache), 1); /* no .part left */
    free(final);
    s_fixture_free(&fx);
    return secs;
}

static void
test_zmq_one_byte(void **state)
{
    (void)state;
    s_transfer(1, NULL);
}

static void
test_zmq_exactly_one_chunk(void **state)
{
    (void)state;
    s_transfer(FETCH_CHUNK_DEFAULT, NULL);
}

static void
test_zmq_many_chunks_short_tail(void **state)
{
    (void)state;
    s_transfer(37 * FETCH_CHUNK_DEFAULT + 1234, NULL);
    /* Small chunks and a window that is not a whole number of them. */
    fetch_opts_t opts = {.chunk = 4096, .window = 3 * 4096 - 1};
    s_transfer(100 * 1024 + 7, &opts);
}

static void
test_zmq_64mib(void **state)
{
    (void)state;
    uint64_t size = 64ull * 1024 * 1024;
    double secs = s_transfer(size, NULL);
    printf("# 64 MiB over tcp://127.0.0.1 in %.3f s (%.0f MiB/s), 256 KiB "
           "chunks, 2 MiB window\n",
           secs, 64.0 / secs);
}

/* Fetches half of an artifact over one connection, then stops. With
 * DESTROY the fetch object goes too (an agent restart); otherwise the
 * connection alone is lost and fetch_reset is called. Then the rest comes
 * over a new connection to a new server. CORRUPT flips a byte of the
 * .part in between. */
static void
s_interrupted(bool destroy, bool corrupt)
{
    fixture_t fx;
    s_fixture(&fx);
    uint64_t size = 5 * 1024 * 1024 + 333;
    fetch_opts_t opts = {.chunk = 64 * 1024, .window = 4 * 64 * 1024};
    uint8_t digest[DIGEST_BYTES];
    s_make_source(fx.src, size, 4242, digest);
    char *part = s_cache_path(fx.cache, digest, true);
    char *final = s_cache_path(fx.cache, digest, false);
    hoist_error_t err = {0};

    server_t srv;
    zactor_t *a = s_server_start(&srv, fx.src, digest, size, &opts);
    zsock_t *d = s_dealer(srv.endpoint);
    fetch_t *f = fetch_new(fx.cache, digest, size, &opts, &err);
    assert_non_null(f);
    s_drive(d, f, digest, opts.window, size / 2);
    uint64_t half = fetch_received(f);
    assert_true(half >= size / 2 && half < size);
    assert_true(fetch_outstanding(f) > 0); /* stopped with requests out */
    zsock_destroy(&d);
    s_server_stop(&a, &srv);
    assert_int_equal(s_file_size(part), (int64_t)half);
    if (destroy) {
        fetch_destroy(&f);
        assert_true(tu_exists(part)); /* kept for the resume */
    } else {
        fetch_reset(f);
    }
    if (corrupt) {
        int fd = open(part, O_RDWR | O_CLOEXEC);
        assert_true(fd >= 0);
        uint8_t b;
        assert_int_equal(pread(fd, &b, 1, (off_t)(half / 2)), 1);
        b ^= 0x40;
        assert_int_equal(pwrite(fd, &b, 1, (off_t)(half / 2)), 1);
        close(fd);
    }
    if (destroy) {
        f = fetch_new(fx.cache, digest, size, &opts, &err);
        assert_non_null(f);
    }
    assert_int_equal(fetch_received(f), half);

    a = s_server_start(&srv, fx.src, digest, size, &opts);
    d = s_dealer(srv.endpoint);
    s_drive(d, f, digest, opts.window, UINT64_MAX);
    zsock_destroy(&d);
    s_server_stop(&a, &srv);
    /* Only the missing bytes were asked for. */
    assert_int_equal(srv.first_offset, half);
    assert_int_equal(srv.bytes_requested, size - half);
    s_assert_window_used(&srv, &opts, size - half);

    char path[4096] = "untouched";
    hoist_err_t rc = fetch_finish(f, path, sizeof path, &err);
    fetch_destroy(&f);
    if (corrupt) {
        assert_int_equal(rc, HOIST_ERR_DIGEST);
        size_t len = 0;
        uint8_t *bytes = (uint8_t *)tu_read(fx.src, &len);
        bytes[half / 2] ^= 0x40;
        uint8_t bad[DIGEST_BYTES];
        s_digest_buf(bytes, len, bad);
        free(bytes);
        char hex[DIGEST_HEX_LEN];
        assert_contains(err.msg, digest_hex(digest, hex));
        assert_contains(err.msg, digest_hex(bad, hex));
        assert_string_equal(path, "untouched");
        assert_false(tu_exists(part));
        assert_false(tu_exists(final));
        assert_int_equal(tu_count_entries(fx.cache), 0);
    } else {
        if (rc != HOIST_OK) {
            fail_msg("fetch_finish: %s", err.msg);
        }
        assert_string_equal(path, final);
        uint8_t got[DIGEST_BYTES];
        uint64_t got_size = 0;
        s_digest_file(final, got, &got_size);
        assert_int_equal(got_size, size);
        assert_memory_equal(got, digest, DIGEST_BYTES);
        assert_false(tu_exists(part));
    }
    free(part);
    free(final);
    s_fixture_free(&fx);
}

static void
test_zmq_resume_after_restart(void **state)
{
    (void)state;
    s_interrupted(true, false);
}

static void
test_zmq_reset_after_disconnect(void **state)
{
    (void)state;
    s_interrupted(false, false);
}

static void
test_zmq_corrupt_part_refused(void **state)
{
    (void)state;
    s_interrupted(true, true);
}

int
main(void)
{
    /* czmq must not take over SIGINT/SIGTERM in a test binary. */
    zsys_handler_set(NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_opts_resolve),
        cmocka_unit_test(test_window_arithmetic),
        cmocka_unit_test(test_window_fills_and_refuses),
        cmocka_unit_test(test_new_refuses),
        cmocka_unit_test(test_direct_transfer_and_finish),
        cmocka_unit_test(test_refused_chunk_leaves_file),
        cmocka_unit_test(test_reset_rerequests),
        cmocka_unit_test(test_second_fetch_is_busy),
        cmocka_unit_test(test_part_longer_than_size_restarts),
        cmocka_unit_test(test_cached_complete),
        cmocka_unit_test_teardown(test_write_failure_truncates,
                                  s_restore_fsize),
        cmocka_unit_test(test_zmq_one_byte),
        cmocka_unit_test(test_zmq_exactly_one_chunk),
        cmocka_unit_test(test_zmq_many_chunks_short_tail),
        cmocka_unit_test(test_zmq_64mib),
        cmocka_unit_test(test_zmq_resume_after_restart),
        cmocka_unit_test(test_zmq_reset_after_disconnect),
        cmocka_unit_test(test_zmq_corrupt_part_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
