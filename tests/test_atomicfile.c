/*
 * test_atomicfile: files and links replaced all at once (readers racing
 * the writer see old or new, never a mix or nothing), no temporary files
 * left behind on success or failure, refusals when reading; and tree.c:
 * removal that never follows a symlink out of the tree, and mkdir -p.
 *
 * Tests run as root here, so "read-only directory" failures are provoked
 * with paths that cannot exist (under a regular file) and with a file size
 * limit instead of permissions.
 */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "atomicfile.h"
#include "tree.h"

static int
s_setup(void **state)
{
    *state = tu_tmpdir();
    return 0;
}

static int
s_teardown(void **state)
{
    tu_rmtree(*state);
    return 0;
}

static unsigned
s_mode(const char *path)
{
    struct stat st;
    assert_int_equal(lstat(path, &st), 0);
    return (unsigned)(st.st_mode & 07777);
}

static void
s_assert_content(const char *path, const char *want)
{
    size_t len = 0;
    char *got = tu_read(path, &len);
    assert_non_null(got);
    assert_int_equal(len, strlen(want));
    assert_string_equal(got, want);
    free(got);
}

/* Waits for PID and asserts it exited 0 (not killed by its alarm). */
static void
s_wait_ok(pid_t pid, const char *what)
{
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    if (WIFSIGNALED(st)) {
        fail_msg("%s: child killed by signal %d", what, WTERMSIG(st));
    }
    if (WEXITSTATUS(st) != 0) {
        fail_msg("%s: child exited %d", what, WEXITSTATUS(st));
    }
}

static void
test_write_creates_and_replaces(void **state)
{
    const char *dir = *state;
    char *path = tu_path(dir, "state");
    hoist_error_t err = {0};

    assert_int_equal(atomicfile_write(path, "old", 3, 0640, &err), HOIST_OK);
    s_assert_content(path, "old");
    assert_int_equal(s_mode(path), 0640);

    assert_int_equal(atomicfile_write(path, "new content", 11, 0600, &err),
                     HOIST_OK);
    s_assert_content(path, "new content");
    assert_int_equal(s_mode(path), 0600);
    /* Shorter content does not keep a tail of the old. */
    assert_int_equal(atomicfile_write(path, "x", 1, 0600, &err), HOIST_OK);
    s_assert_content(path, "x");
    assert_int_equal(atomicfile_write(path, "", 0, 0600, &err), HOIST_OK);
    s_assert_content(path, "");
    /* Only the file itself: no temporaries left. */
    assert_int_equal(tu_count_entries(dir), 1);
    free(path);
}

/* The mode is what was asked for, whatever the umask. */
static void
test_write_mode_ignores_umask(void **state)
{
    const char *dir = *state;
    char *path = tu_path(dir, "f");
    mode_t old = umask(077);
    hoist_error_t err = {0};
    hoist_err_t rc = atomicfile_write(path, "a", 1, 0644, &err);
    umask(old);
    assert_int_equal(rc, HOIST_OK);
    assert_int_equal(s_mode(path), 0644);
    free(path);
}

/* A writer in a child replaces the file over and over with one of two
 * full contents; every read here sees one of them whole. */
static void
test_write_readers_never_see_a_mix(void **state)
{
    const char *dir = *state;
    char *path = tu_path(dir, "f");
    enum { N = 65536 };
    static char a[N], b[N];
    memset(a, 'A', N);
    memset(b, 'B', N);
    hoist_error_t err = {0};
    assert_int_equal(atomicfile_write(path, a, N, 0644, &err), HOIST_OK);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        alarm(60);
        for (int i = 0; i < 200; i++) {
            if (atomicfile_write(path, i % 2 ? a : b, N, 0644, NULL)) {
                _exit(1);
            }
        }
        _exit(0);
    }
    int reads = 0;
    int st = 0;
    pid_t done = 0;
    while ((done = waitpid(pid, &st, WNOHANG)) == 0 || reads == 0) {
        size_t len = 0;
        char *got = tu_read(path, &len);
        if (!got) {
            fail_msg("read %d: the file was missing", reads);
        }
        if (len != N || (memcmp(got, a, N) != 0 && memcmp(got, b, N) != 0)) {
            fail_msg("read %d: %zu bytes, neither old nor new", reads, len);
        }
        free(got);
        reads++;
    }
    if (done == pid) {
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    assert_int_equal(tu_count_entries(dir), 1);
    free(path);
}

static void
test_create_refuses_existing(void **state)
{
    const char *dir = *state;
    char *path = tu_path(dir, "k.key");
    hoist_error_t err = {0};
    assert_int_equal(atomicfile_create(path, "first", 5, 0600, &err), HOIST_OK);
    s_assert_content(path, "first");
    assert_int_equal(s_mode(path), 0600);

    assert_int_equal(atomicfile_create(path, "second", 6, 0644, &err),
                     HOIST_ERR_USAGE);
    assert_int_equal(err.code, HOIST_ERR_USAGE);
    assert_contains(err.msg, path);
    assert_contains(err.msg, "exists");
    s_assert_content(path, "first");
    assert_int_equal(s_mode(path), 0600);
    assert_int_equal(tu_count_entries(dir), 1);

    /* A dangling symlink is in the way too, and its target is not
     * created through it. */
    char *link = tu_path(dir, "dangling");
    char *target = tu_path(dir, "target");
    assert_int_equal(symlink(target, link), 0);
    assert_int_equal(atomicfile_create(link, "x", 1, 0600, &err),
                     HOIST_ERR_USAGE);
    assert_false(tu_exists(target));
    assert_int_equal(tu_count_entries(dir), 2);
    free(link);
    free(target);
    free(path);
}

static void
test_symlink_replaces_link(void **state)
{
    const char *dir = *state;
    char *link = tu_path(dir, "current");
    char buf[PATH_MAX];
    hoist_error_t err = {0};

    assert_int_equal(atomicfile_symlink("releases/1.0", link, &err), HOIST_OK);
    ssize_t n = readlink(link, buf, sizeof buf - 1);
    assert_true(n > 0);
    buf[n] = '\0';
    assert_string_equal(buf, "releases/1.0");

    assert_int_equal(atomicfile_symlink("releases/2.0", link, &err), HOIST_OK);
    n = readlink(link, buf, sizeof buf - 1);
    assert_true(n > 0);
    buf[n] = '\0';
    assert_string_equal(buf, "releases/2.0");
    assert_int_equal(tu_count_entries(dir), 1);

    /* Into a directory that does not exist: an error, nothing created. */
    char *bad = tu_path(dir, "missing/current");
    assert_int_not_equal(atomicfile_symlink("x", bad, &err), HOIST_OK);
    assert_true(err.msg[0] != '\0');
    assert_int_equal(tu_count_entries(dir), 1);
    free(bad);
    free(link);
}

/* A child switches the link back and forth; the link never disappears
 * for a reader, which is what "atomic" means for `current`. */
static void
test_symlink_never_missing_for_readers(void **state)
{
    const char *dir = *state;
    char *link = tu_path(dir, "current");
    hoist_error_t err = {0};
    assert_int_equal(atomicfile_symlink("a", link, &err), HOIST_OK);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        alarm(60);
        for (int i = 0; i < 300; i++) {
            if (atomicfile_symlink(i % 2 ? "a" : "b", link, NULL)) {
                _exit(1);
            }
        }
        _exit(0);
    }
    long reads = 0;
    int st = 0;
    pid_t done = 0;
    while ((done = waitpid(pid, &st, WNOHANG)) == 0 || reads == 0) {
        char buf[8];
        ssize_t n = readlink(link, buf, sizeof buf);
        if (n != 1 || (buf[0] != 'a' && buf[0] != 'b')) {
            fail_msg("read %ld: link missing or wrong (%zd, errno %d)", reads,
                     n, errno);
        }
        reads++;
    }
    if (done == pid) {
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    assert_int_equal(tu_count_entries(dir), 1);
    free(link);
}

static void
test_read_whole_file(void **state)
{
    const char *dir = *state;
    char *path = tu_path(dir, "f");
    tu_write(path, "0123456789", (size_t)-1, 0644);
    uint8_t *buf = NULL;
    size_t len = 0;
    hoist_error_t err = {0};
    /* Exactly the limit is fine, and the buffer is NUL-terminated. */
    assert_int_equal(atomicfile_read(path, 10, &buf, &len, &err), HOIST_OK);
    assert_int_equal(len, 10);
    assert_string_equal((char *)buf, "0123456789");
    free(buf);
    /* An empty file is a file. */
    tu_write(path, "", 0, 0644);
    buf = NULL;
    assert_int_equal(atomicfile_read(path, 10, &buf, &len, &err), HOIST_OK);
    assert_non_null(buf);
    assert_int_equal(len, 0);
    free(buf);
    free(path);
}

/* Reads PATH expecting CODE, with the outputs left alone. */
static void
s_expect_read_refused(const char *path, size_t max, hoist_err_t code,
                      const char *want)
{
    uint8_t *buf = (uint8_t *)"untouched";
    size_t len = 4242;
    hoist_error_t err = {0};
    hoist_err_t rc = atomicfile_read(path, max, &buf, &len, &err);
    if (rc != code) {
        fail_msg("%s: got %s (%s), expected %s", path, hoist_strerror(rc),
                 err.msg, hoist_strerror(code));
    }
    assert_int_equal(err.code, code);
    assert_string_equal((char *)buf, "untouched");
    assert_int_equal(len, 4242);
    if (want) {
        assert_contains(err.msg, want);
    }
}

static void
test_read_refusals(void **state)
{
    const char *dir = *state;
    char *path = tu_path(dir, "f");
    char *link = tu_path(dir, "link");
    char *sub = tu_path(dir, "sub");
    char *missing = tu_path(dir, "missing");
    tu_write(path, "0123456789", (size_t)-1, 0644);
    assert_int_equal(symlink(path, link), 0);
    assert_int_equal(mkdir(sub, 0755), 0);

    s_expect_read_refused(path, 9, HOIST_ERR_LIMIT, "limit");
    s_expect_read_refused(path, 0, HOIST_ERR_LIMIT, "limit");
    s_expect_read_refused(link, 100, HOIST_ERR_IO, link);
    s_expect_read_refused(sub, 100, HOIST_ERR_IO, "not a regular file");
    s_expect_read_refused("/dev/null", 100, HOIST_ERR_IO, "not a regular file");
    s_expect_read_refused(missing, 100, HOIST_ERR_IO, missing);
    free(path);
    free(link);
    free(sub);
    free(missing);
}

/* A FIFO is not a regular file either. The read runs in a child with an
 * alarm so that an open(2) that blocks waiting for a writer fails the
 * test instead of hanging it. */
static void
test_read_refuses_fifo_without_blocking(void **state)
{
    const char *dir = *state;
    char *fifo = tu_path(dir, "fifo");
    assert_int_equal(mkfifo(fifo, 0644), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        alarm(3);
        uint8_t *buf = NULL;
        size_t len = 0;
        hoist_error_t err = {0};
        hoist_err_t rc = atomicfile_read(fifo, 100, &buf, &len, &err);
        _exit(rc == HOIST_ERR_IO ? 0 : 1);
    }
    free(fifo);
    s_wait_ok(pid, "atomicfile_read on a FIFO");
}

static void
test_write_failures_leave_old_content(void **state)
{
    const char *dir = *state;
    char *file = tu_path(dir, "file");
    tu_write(file, "old", (size_t)-1, 0644);
    hoist_error_t err = {0};

    /* Under a regular file: no directory to write into. */
    char *under = tu_path(file, "x");
    assert_int_not_equal(atomicfile_write(under, "new", 3, 0644, &err),
                         HOIST_OK);
    assert_contains(err.msg, under);
    assert_int_not_equal(atomicfile_create(under, "new", 3, 0644, &err),
                         HOIST_OK);
    /* In a directory that does not exist. */
    char *nodir = tu_path(dir, "nodir/x");
    assert_int_not_equal(atomicfile_write(nodir, "new", 3, 0644, &err),
                         HOIST_OK);
    assert_false(tu_exists(nodir));
    s_assert_content(file, "old");
    assert_int_equal(tu_count_entries(dir), 1);

    /* Over a non-empty directory the rename fails: the directory and its
     * content stay, and the temporary file is removed. */
    char *d = tu_path(dir, "d");
    char *inside = tu_path(d, "keep");
    tu_write(inside, "kept", (size_t)-1, 0644);
    assert_int_equal(atomicfile_write(d, "new", 3, 0644, &err), HOIST_ERR_IO);
    assert_contains(err.msg, "rename");
    s_assert_content(inside, "kept");
    assert_int_equal(tu_count_entries(dir), 3);

    /* A path too long for the temporary name. */
    static char longpath[PATH_MAX + 16];
    memset(longpath, 'a', sizeof longpath - 1);
    longpath[0] = '/';
    assert_int_equal(atomicfile_write(longpath, "x", 1, 0644, &err),
                     HOIST_ERR_USAGE);
    free(under);
    free(nodir);
    free(d);
    free(inside);
    free(file);
}

/* The write itself fails half-way (a file size limit, as a full disk
 * would): the old content stays, the temporary is removed, and the code
 * says "no space". In a child, so the limit does not outlive the test. */
static void
test_write_failing_midway_leaves_old_content(void **state)
{
    const char *dir = *state;
    char *file = tu_path(dir, "file");
    tu_write(file, "old", (size_t)-1, 0644);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        alarm(10);
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = {.rlim_cur = 100, .rlim_max = RLIM_INFINITY};
        if (setrlimit(RLIMIT_FSIZE, &rl) != 0) {
            _exit(2);
        }
        static char big[4096];
        memset(big, 'n', sizeof big);
        hoist_error_t err = {0};
        hoist_err_t rc = atomicfile_write(file, big, sizeof big, 0644, &err);
        _exit(rc == HOIST_ERR_NOSPACE && err.code == HOIST_ERR_NOSPACE ? 0 : 3);
    }
    s_wait_ok(pid, "write past RLIMIT_FSIZE");
    s_assert_content(file, "old");
    assert_int_equal(tu_count_entries(dir), 1);
    free(file);
}

static void
test_sync_dir_and_tree_sync(void **state)
{
    const char *dir = *state;
    hoist_error_t err = {0};
    assert_int_equal(atomicfile_sync_dir(dir, &err), HOIST_OK);
    assert_int_equal(tree_sync(dir, &err), HOIST_OK);
    char *missing = tu_path(dir, "missing");
    assert_int_equal(atomicfile_sync_dir(missing, &err), HOIST_ERR_IO);
    assert_contains(err.msg, missing);
    assert_int_equal(tree_sync(missing, &err), HOIST_ERR_IO);
    assert_contains(err.msg, missing);
    free(missing);
}

static void
test_tree_remove_does_not_follow_links(void **state)
{
    const char *dir = *state;
    char *outside = tu_path(dir, "outside");
    char *precious = tu_path(outside, "precious");
    char *deep = tu_path(outside, "sub/deep");
    tu_write(precious, "keep me", (size_t)-1, 0644);
    tu_write(deep, "me too", (size_t)-1, 0644);

    char *tree = tu_path(dir, "tree");
    char *f = tu_path(tree, "a/b/c/file");
    tu_write(f, "x", (size_t)-1, 0644);
    char *l1 = tu_path(tree, "a/to-outside");
    char *l2 = tu_path(tree, "a/b/to-file");
    char *l3 = tu_path(tree, "dangling");
    assert_int_equal(symlink(outside, l1), 0);
    assert_int_equal(symlink(precious, l2), 0);
    assert_int_equal(symlink("/nonexistent/x", l3), 0);
    char *empty = tu_path(tree, "empty");
    assert_int_equal(mkdir(empty, 0755), 0);

    hoist_error_t err = {0};
    assert_int_equal(tree_remove(tree, &err), HOIST_OK);
    assert_false(tu_exists(tree));
    s_assert_content(precious, "keep me");
    s_assert_content(deep, "me too");
    assert_int_equal(tu_count_entries(outside), 3);

    /* The path itself a symlink to a directory: the link goes, not the
     * directory. */
    char *top = tu_path(dir, "top");
    assert_int_equal(symlink(outside, top), 0);
    assert_int_equal(tree_remove(top, &err), HOIST_OK);
    assert_false(tu_exists(top));
    assert_int_equal(tu_count_entries(outside), 3);

    /* A single file, and a missing path. */
    assert_int_equal(tree_remove(precious, &err), HOIST_OK);
    assert_false(tu_exists(precious));
    assert_int_equal(tree_remove(precious, &err), HOIST_OK);
    free(outside);
    free(precious);
    free(deep);
    free(tree);
    free(f);
    free(l1);
    free(l2);
    free(l3);
    free(empty);
    free(top);
}

/* tree.c says a directory left without write permission (an unpacked
 * 0555 directory) must still be removable by its owner. Root ignores
 * permissions, so as root the removal runs in a child that has become
 * an unprivileged user. */
static void
test_tree_remove_read_only_dirs_as_owner(void **state)
{
    const char *dir = *state;
    const uid_t nobody = 65534;
    char *tree = tu_path(dir, "tree");
    if (geteuid() == 0) {
        assert_int_equal(chown(dir, nobody, nobody), 0);
    }
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        alarm(10);
        if (geteuid() == 0 && (setgroups(0, NULL) != 0 || setgid(nobody) != 0 ||
                               setuid(nobody) != 0)) {
            _exit(2);
        }
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/ro/sub", tree);
        if (tree_mkdirs(path, 0755, NULL) != HOIST_OK) {
            _exit(3);
        }
        snprintf(path, sizeof path, "%s/ro/sub/file", tree);
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0444);
        if (fd < 0) {
            _exit(4);
        }
        close(fd);
        snprintf(path, sizeof path, "%s/ro/sub", tree);
        chmod(path, 0555);
        snprintf(path, sizeof path, "%s/ro", tree);
        chmod(path, 0555);
        hoist_error_t err = {0};
        if (tree_remove(tree, &err) != HOIST_OK) {
            fprintf(stderr, "tree_remove: %s\n", err.msg);
            _exit(5);
        }
        _exit(tu_exists(tree) ? 6 : 0);
    }
    free(tree);
    s_wait_ok(pid, "tree_remove of a tree with 0555 directories");
}

static void
test_tree_mkdirs(void **state)
{
    const char *dir = *state;
    char *nested = tu_path(dir, "a/b/c/d");
    hoist_error_t err = {0};
    mode_t old = umask(022);
    assert_int_equal(tree_mkdirs(nested, 0750, &err), HOIST_OK);
    umask(old);
    struct stat st;
    assert_int_equal(stat(nested, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0750);
    assert_int_equal(tu_count_entries(dir), 4);
    /* Existing ones are fine; a trailing slash too. */
    assert_int_equal(tree_mkdirs(nested, 0755, &err), HOIST_OK);
    char *slash = tu_path(dir, "a/b/e/");
    assert_int_equal(tree_mkdirs(slash, 0755, &err), HOIST_OK);
    assert_int_equal(stat(slash, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(tu_count_entries(dir), 5);

    /* A regular file in the way of a parent is an error. */
    char *file = tu_path(dir, "file");
    tu_write(file, "x", (size_t)-1, 0644);
    char *under = tu_path(dir, "file/sub/dir");
    assert_int_not_equal(tree_mkdirs(under, 0755, &err), HOIST_OK);
    assert_contains(err.msg, "mkdir");
    free(nested);
    free(slash);
    free(file);
    free(under);
}

/* "Creates PATH": when PATH itself is an existing regular file, there is
 * no directory at PATH afterwards, so success would be a lie. */
static void
test_tree_mkdirs_refuses_a_file_at_path(void **state)
{
    const char *dir = *state;
    char *file = tu_path(dir, "file");
    tu_write(file, "x", (size_t)-1, 0644);
    hoist_error_t err = {0};
    hoist_err_t rc = tree_mkdirs(file, 0755, &err);
    s_assert_content(file, "x");
    free(file);
    if (rc == HOIST_OK) {
        fail_msg("tree_mkdirs succeeded on a path that is a regular file");
    }
}

#define T(f) cmocka_unit_test_setup_teardown(f, s_setup, s_teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_write_creates_and_replaces),
        T(test_write_mode_ignores_umask),
        T(test_write_readers_never_see_a_mix),
        T(test_create_refuses_existing),
        T(test_symlink_replaces_link),
        T(test_symlink_never_missing_for_readers),
        T(test_read_whole_file),
        T(test_read_refusals),
        T(test_read_refuses_fifo_without_blocking),
        T(test_write_failures_leave_old_content),
        T(test_write_failing_midway_leaves_old_content),
        T(test_sync_dir_and_tree_sync),
        T(test_tree_remove_does_not_follow_links),
        T(test_tree_remove_read_only_dirs_as_owner),
        T(test_tree_mkdirs),
        T(test_tree_mkdirs_refuses_a_file_at_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
