/*
 * test_digest: BLAKE2b-256 against known answers and against coreutils'
 * b2sum (an independent implementation), streaming in odd chunks, copies
 * with a size cap, and files past the 2 GiB and 4 GiB boundaries where a
 * 32-bit size or offset would wrap.
 *
 * The large files are sparse, so they cost seconds of hashing but no disk.
 * That digest_fd runs in constant memory is shown by bench/, not here.
 */
#include "testutil.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "digest.h"

#define B2SUM "/usr/bin/b2sum"

/* b2sum -l 256 of "" and of "abc", checked with coreutils b2sum. */
#define HEX_EMPTY                                                              \
    "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8"
#define HEX_ABC                                                                \
    "bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319"

static void
s_oneshot(const void *data, size_t len, uint8_t out[DIGEST_BYTES])
{
    digest_t *d = digest_new();
    assert_non_null(d);
    digest_update(d, data, len);
    assert_int_equal(digest_size(d), len);
    digest_final(d, out);
    digest_destroy(&d);
    assert_null(d);
}

/* The hex digest that `b2sum -l 256 PATH` prints. */
static void
s_b2sum(const char *path, char hex[DIGEST_HEX_LEN])
{
    const char *argv[] = {B2SUM, "-l", "256", path, NULL};
    tu_run_t r = tu_run(argv, NULL);
    if (r.status != 0) {
        fail_msg("b2sum %s: %d: %s", path, r.status, r.out);
    }
    assert_true(strlen(r.out) > DIGEST_HEX_LEN);
    assert_int_equal(r.out[DIGEST_HEX_LEN - 1], ' ');
    memcpy(hex, r.out, DIGEST_HEX_LEN - 1);
    hex[DIGEST_HEX_LEN - 1] = '\0';
    tu_run_free(&r);
}

static void
test_known_answers(void **state)
{
    (void)state;
    uint8_t d[DIGEST_BYTES];
    char hex[DIGEST_HEX_LEN];
    s_oneshot("", 0, d);
    assert_string_equal(digest_hex(d, hex), HEX_EMPTY);
    s_oneshot("abc", 3, d);
    assert_ptr_equal(digest_hex(d, hex), hex);
    assert_string_equal(hex, HEX_ABC);
}

/* The same answers, from b2sum at test time, over files; and digest_fd
 * over the same files. */
static void
test_matches_b2sum(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    char *path = tu_path(dir, "f");
    static const size_t sizes[] = {0,   3,      127,    128,
                                   129, 131072, 131073, 1000003};
    char *data = malloc(1000003);
    assert_non_null(data);
    for (size_t i = 0; i < 1000003; i++) {
        data[i] = (char)(i * 31 + (i >> 9));
    }
    memcpy(data, "abc", 3);
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        tu_write(path, data, sizes[i], 0644);
        char want[DIGEST_HEX_LEN], got[DIGEST_HEX_LEN];
        s_b2sum(path, want);
        if (sizes[i] == 0) {
            assert_string_equal(want, HEX_EMPTY);
        } else if (sizes[i] == 3) {
            assert_string_equal(want, HEX_ABC);
        }
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        uint8_t d[DIGEST_BYTES];
        uint64_t size = 0;
        hoist_error_t err = {0};
        assert_int_equal(digest_fd(fd, d, &size, &err), HOIST_OK);
        close(fd);
        assert_int_equal(size, sizes[i]);
        if (strcmp(digest_hex(d, got), want) != 0) {
            fail_msg("%zu bytes: got %s, b2sum says %s", sizes[i], got, want);
        }
    }
    free(data);
    free(path);
    tu_rmtree(dir);
}

static void
test_streaming_in_odd_chunks(void **state)
{
    (void)state;
    const size_t len = 300007;
    uint8_t *data = malloc(len);
    assert_non_null(data);
    for (size_t i = 0; i < len; i++) {
        data[i] = (uint8_t)((i * 2654435761u) >> 13);
    }
    uint8_t want[DIGEST_BYTES];
    s_oneshot(data, len, want);

    static const size_t chunks[] = {1,   3,   7,   63,   64,     65,
                                    127, 128, 129, 4099, 131071, 131073};
    for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
        digest_t *d = digest_new();
        assert_non_null(d);
        for (size_t off = 0; off < len; off += chunks[c]) {
            size_t n = len - off < chunks[c] ? len - off : chunks[c];
            digest_update(d, data + off, n);
        }
        /* Empty updates change nothing. */
        digest_update(d, data, 0);
        assert_int_equal(digest_size(d), len);
        uint8_t got[DIGEST_BYTES];
        digest_final(d, got);
        digest_destroy(&d);
        if (!digest_equal(got, want)) {
            fail_msg("chunks of %zu differ from one shot", chunks[c]);
        }
    }
    /* A growing chunk size, 1, 2, 3, ... */
    digest_t *d = digest_new();
    size_t off = 0;
    for (size_t n = 1; off < len; n++) {
        size_t k = len - off < n ? len - off : n;
        digest_update(d, data + off, k);
        off += k;
    }
    uint8_t got[DIGEST_BYTES];
    digest_final(d, got);
    digest_destroy(&d);
    assert_memory_equal(got, want, DIGEST_BYTES);
    /* And one byte different is a different digest. */
    data[len / 2] ^= 1;
    s_oneshot(data, len, got);
    assert_false(digest_equal(got, want));
    digest_destroy(NULL);
    free(data);
}

static void
test_equal(void **state)
{
    (void)state;
    uint8_t a[DIGEST_BYTES], b[DIGEST_BYTES];
    memset(a, 0x11, sizeof a);
    memcpy(b, a, sizeof a);
    assert_true(digest_equal(a, b));
    b[0] ^= 1;
    assert_false(digest_equal(a, b));
    b[0] ^= 1;
    b[DIGEST_BYTES - 1] ^= 0x80;
    assert_false(digest_equal(a, b));
}

static void
test_fd_hashes_from_current_offset(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    char *path = tu_path(dir, "f");
    tu_write(path, "xyzabc", (size_t)-1, 0644);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(lseek(fd, 3, SEEK_SET), 3);
    uint8_t d[DIGEST_BYTES];
    char hex[DIGEST_HEX_LEN];
    uint64_t size = 99;
    assert_int_equal(digest_fd(fd, d, &size, NULL), HOIST_OK);
    assert_int_equal(size, 3);
    assert_string_equal(digest_hex(d, hex), HEX_ABC);
    close(fd);

    /* A read error (a directory) is an IO error, and the outputs are left
     * alone. */
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_true(fd >= 0);
    memset(d, 0x77, sizeof d);
    size = 99;
    hoist_error_t err = {0};
    assert_int_equal(digest_fd(fd, d, &size, &err), HOIST_ERR_IO);
    assert_int_equal(err.code, HOIST_ERR_IO);
    assert_contains(err.msg, "read artifact");
    assert_int_equal(size, 99);
    assert_int_equal(d[0], 0x77);
    close(fd);
    free(path);
    tu_rmtree(dir);
}

static void
test_copy_is_identical_and_capped(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    char *src = tu_path(dir, "src");
    char *dst = tu_path(dir, "dst");
    const size_t len = 3 * 131072 + 17; /* several buffers and a tail */
    char *data = malloc(len);
    assert_non_null(data);
    for (size_t i = 0; i < len; i++) {
        data[i] = (char)(i ^ (i >> 8));
    }
    tu_write(src, data, len, 0644);
    uint8_t want[DIGEST_BYTES];
    s_oneshot(data, len, want);

    /* Exactly the cap is allowed. */
    int in = open(src, O_RDONLY | O_CLOEXEC);
    int out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(in >= 0 && out >= 0);
    uint8_t d[DIGEST_BYTES];
    uint64_t size = 0;
    hoist_error_t err = {0};
    assert_int_equal(digest_copy(in, out, len, d, &size, &err), HOIST_OK);
    close(in);
    close(out);
    assert_int_equal(size, len);
    assert_memory_equal(d, want, DIGEST_BYTES);
    size_t got_len = 0;
    char *copy = tu_read(dst, &got_len);
    assert_int_equal(got_len, len);
    assert_memory_equal(copy, data, len);
    free(copy);

    /* One byte over the cap is refused, and the outputs untouched. */
    static const uint64_t caps[] = {0, 1, 131072, 3 * 131072 + 16};
    for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++) {
        in = open(src, O_RDONLY | O_CLOEXEC);
        out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        assert_true(in >= 0 && out >= 0);
        memset(d, 0x77, sizeof d);
        size = 12345;
        hoist_error_t e = {0};
        if (digest_copy(in, out, caps[i], d, &size, &e) != HOIST_ERR_SIZE) {
            fail_msg("cap %llu: not refused with SIZE: %s",
                     (unsigned long long)caps[i], e.msg);
        }
        close(in);
        close(out);
        assert_int_equal(e.code, HOIST_ERR_SIZE);
        assert_contains(e.msg, "larger than");
        assert_int_equal(size, 12345);
        assert_int_equal(d[0], 0x77);
        /* Never more than the cap reaches the copy. */
        struct stat st;
        assert_int_equal(stat(dst, &st), 0);
        assert_true((uint64_t)st.st_size <= caps[i]);
    }

    /* A write error on the copy is reported, not swallowed. */
    in = open(src, O_RDONLY | O_CLOEXEC);
    out = open(src, O_RDONLY | O_CLOEXEC); /* not writable */
    assert_true(in >= 0 && out >= 0);
    memset(&err, 0, sizeof err);
    assert_int_not_equal(digest_copy(in, out, len, d, &size, &err), HOIST_OK);
    assert_contains(err.msg, "write artifact copy");
    close(in);
    close(out);

    /* Without an output fd it only hashes. */
    in = open(src, O_RDONLY | O_CLOEXEC);
    assert_true(in >= 0);
    assert_int_equal(digest_copy(in, -1, len, d, &size, NULL), HOIST_OK);
    assert_memory_equal(d, want, DIGEST_BYTES);
    close(in);

    free(data);
    free(src);
    free(dst);
    tu_rmtree(dir);
}

/* A sparse file of SIZE bytes with a few non-zero bytes, the last one
 * just before the end, hashed by digest_fd and by b2sum. */
static void
s_check_big(uint64_t size)
{
    char *dir = tu_tmpdir();
    char *path = tu_path(dir, "big");
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, (off_t)size), 0);
    static const struct {
        uint64_t back; /* bytes before the end */
        char byte;
    } marks[] = {{2, 'Z'}, {1ULL << 31, 'A'}, {(1ULL << 31) - 1, 'B'}};
    for (size_t i = 0; i < sizeof marks / sizeof marks[0]; i++) {
        assert_int_equal(
            pwrite(fd, &marks[i].byte, 1, (off_t)(size - marks[i].back)), 1);
    }
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    assert_int_equal((uint64_t)st.st_size, size);
    assert_int_equal(lseek(fd, 0, SEEK_SET), 0);

    uint8_t d[DIGEST_BYTES];
    uint64_t got = 0;
    hoist_error_t err = {0};
    assert_int_equal(digest_fd(fd, d, &got, &err), HOIST_OK);
    close(fd);
    assert_int_equal(got, size);

    char want[DIGEST_HEX_LEN], hex[DIGEST_HEX_LEN];
    s_b2sum(path, want);
    if (strcmp(digest_hex(d, hex), want) != 0) {
        fail_msg("%llu bytes: got %s, b2sum says %s", (unsigned long long)size,
                 hex, want);
    }
    assert_int_equal(unlink(path), 0);
    free(path);
    tu_rmtree(dir);
}

static void
test_over_2gib(void **state)
{
    (void)state;
    s_check_big((2ULL << 30) + 1);
}

static void
test_over_4gib(void **state)
{
    (void)state;
    s_check_big((4ULL << 30) + 1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_answers),
        cmocka_unit_test(test_matches_b2sum),
        cmocka_unit_test(test_streaming_in_odd_chunks),
        cmocka_unit_test(test_equal),
        cmocka_unit_test(test_fd_hashes_from_current_offset),
        cmocka_unit_test(test_copy_is_identical_and_capped),
        cmocka_unit_test(test_over_2gib),
        cmocka_unit_test(test_over_4gib),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
