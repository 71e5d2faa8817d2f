/*
 * test_unpack: the admission decision case by case without a disk; every
 * hostile fixture refused with its code and words and nothing written
 * outside the staging directory; the good release in each compression
 * with its contents, modes and links; the caps on bytes, entries and
 * compression ratio; and a full disk reported as such.
 *
 * Archives too large to commit (a million entries, megabytes of zeros)
 * are written at run time with libarchive into the test's temp dir.
 */
#include "testutil.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "tree.h"
#include "admit.h"
#include "unpack.h"

#define HOSTILE HOIST_FIXTURES "/hostile/"
#define MIB     (1024 * 1024)

/* ---- helpers ---------------------------------------------------------- */

/* A temp dir laid out as TMP/root/stage (where archives go) next to
 * TMP/outside (a sentinel that must stay empty). */
typedef struct {
    char *tmp;
    char *root;
    char *stage;
    char *outside;
} layout_t;

static layout_t
s_layout(void)
{
    layout_t l;
    l.tmp = tu_tmpdir();
    l.root = tu_path(l.tmp, "root");
    l.stage = tu_path(l.root, "stage");
    l.outside = tu_path(l.tmp, "outside");
    assert_int_equal(mkdir(l.root, 0755), 0);
    assert_int_equal(mkdir(l.stage, 0755), 0);
    assert_int_equal(mkdir(l.outside, 0755), 0);
    return l;
}

static void
s_layout_free(layout_t *l)
{
    free(l->root);
    free(l->stage);
    free(l->outside);
    tu_rmtree(l->tmp);
}

/* Unpacks the archive at PATH into DIR with LIM (NULL: the defaults). */
static hoist_err_t
s_unpack(const char *path, const char *dir, const unpack_limits_t *lim,
         hoist_error_t *err)
{
    unpack_limits_t def;
    unpack_limits_default(&def);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    hoist_err_t rc =
        unpack_archive(fd, (uint64_t)st.st_size, dir, lim ? lim : &def, err);
    close(fd);
    return rc;
}

/* Asserts that DIR holds exactly the N entries NAMES. */
static void
s_assert_children(const char *dir, const char *const *names, size_t n)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    size_t count = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) {
            continue;
        }
        bool expected = false;
        for (size_t i = 0; i < n; i++) {
            expected = expected || strcmp(de->d_name, names[i]) == 0;
        }
        if (!expected) {
            fail_msg("unexpected '%s' in %s", de->d_name, dir);
        }
        count++;
    }
    closedir(d);
    assert_int_equal(count, n);
}

/* Asserts that nothing was written beside the staging directory. */
static void
s_assert_contained(const layout_t *l)
{
    static const char *const top[] = {"root", "outside"};
    static const char *const in_root[] = {"stage"};
    s_assert_children(l->tmp, top, 2);
    s_assert_children(l->root, in_root, 1);
    assert_int_equal(tu_count_entries(l->outside), 0);
}

/* The permission bits of PATH (not following a link). */
static unsigned
s_mode(const char *path)
{
    struct stat st;
    assert_int_equal(lstat(path, &st), 0);
    return st.st_mode & 07777;
}

/* Asserts that PATH is a symlink to TARGET. */
static void
s_assert_link(const char *path, const char *target)
{
    char buf[256];
    ssize_t n = readlink(path, buf, sizeof buf - 1);
    assert_true(n >= 0);
    buf[n] = '\0';
    assert_string_equal(buf, target);
}

/* Asserts that the file at DIR/REL holds DATA with mode MODE. */
static void
s_assert_file(const char *dir, const char *rel, const char *data, unsigned mode)
{
    char *p = tu_path(dir, rel);
    char *got = tu_read(p, NULL);
    assert_non_null(got);
    assert_string_equal(got, data);
    assert_int_equal(s_mode(p), mode);
    free(got);
    free(p);
}

/* ---- archives written at run time --------------------------------------
 * filter: 'n' none, 'g' gzip, 'z' zstd. */

static struct archive *
s_tar_open(const char *path, char filter)
{
    struct archive *a = archive_write_new();
    assert_non_null(a);
    assert_int_equal(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
    if (filter == 'g') {
        assert_int_equal(archive_write_add_filter_gzip(a), ARCHIVE_OK);
    } else if (filter == 'z') {
        assert_int_equal(archive_write_add_filter_zstd(a), ARCHIVE_OK);
    }
    assert_int_equal(archive_write_open_filename(a, path), ARCHIVE_OK);
    return a;
}

/* Adds a regular file NAME of SIZE bytes, each byte (i * MUL) & 0xff:
 * MUL 0 gives zeros, an odd MUL bytes that do not compress to nothing. */
static void
s_tar_file(struct archive *a, const char *name, size_t size, unsigned mul)
{
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, name);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, (la_int64_t)size);
    assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
    archive_entry_free(e);
    static unsigned char buf[64 * 1024];
    for (size_t off = 0; off < size;) {
        size_t n = size - off < sizeof buf ? size - off : sizeof buf;
        for (size_t i = 0; i < n; i++) {
            buf[i] = (unsigned char)(((off + i) * mul * 2654435761u) >> 13);
        }
        assert_int_equal(archive_write_data(a, buf, n), (la_ssize_t)n);
        off += n;
    }
}

static void
s_tar_close(struct archive *a)
{
    assert_int_equal(archive_write_close(a), ARCHIVE_OK);
    archive_write_free(a);
}

/* An archive at DIR/NAME holding one file of SIZE bytes. */
static char *
s_one_file_archive(const char *dir, const char *name, char filter, size_t size,
                   unsigned mul)
{
    char *path = tu_path(dir, name);
    struct archive *a = s_tar_open(path, filter);
    s_tar_file(a, "data.bin", size, mul);
    s_tar_close(a);
    return path;
}

/* ---- admit_entry, without a disk ------------------------------------- */

typedef struct {
    const char *before[4]; /* recorded first: "d/" dir, "l@" link, else file */
    const char *name;
    unsigned type;
    unsigned mode;
    const char *target;
    const char *hardlink;
    const char *expect; /* NULL: admitted; else a part of the reason */
    const char *norm;   /* when admitted */
} admit_case_t;

#define K_REG S_IFREG
#define K_DIR S_IFDIR
#define K_LNK S_IFLNK

/* Two-, three- and four-byte UTF-8: "café/€" and a rocket. */
#define UTF8_NAME "caf\xc3\xa9/\xe2\x82\xac\xf0\x9f\x9a\x80"

static const admit_case_t s_admit_cases[] = {
    /* Admitted, with the path they normalize to. */
    {{0}, "a.txt", K_REG, 0644, NULL, NULL, NULL, "a.txt"},
    {{0}, "./a/b/", K_DIR, 0755, NULL, NULL, NULL, "a/b"},
    {{0}, "a//b/./c", K_REG, 0644, NULL, NULL, NULL, "a/b/c"},
    {{0}, "./", K_DIR, 0755, NULL, NULL, NULL, ""},
    {{0}, ".", K_DIR, 0755, NULL, NULL, NULL, ""},
    {{0}, "run", K_REG, 0777, NULL, NULL, NULL, "run"},
    {{0}, UTF8_NAME, K_REG, 0644, NULL, NULL, NULL, UTF8_NAME},
    {{0}, "l", K_LNK, 0777, "x", NULL, NULL, "l"},
    {{0}, "l", K_LNK, 0777, ".", NULL, NULL, "l"},
    {{0}, "a/l", K_LNK, 0777, "../x", NULL, NULL, "a/l"},
    {{0}, "a/l", K_LNK, 0777, "./.././b/./c", NULL, NULL, "a/l"},
    {{0}, "a/b/l", K_LNK, 0777, "../../x/y", NULL, NULL, "a/b/l"},
    {{0}, "a/l", K_LNK, 0777, "..", NULL, NULL, "a/l"},
    {{"a/b"}, "a/", K_DIR, 0755, NULL, NULL, NULL, "a"},
    {{"a/"}, "a/b", K_REG, 0644, NULL, NULL, NULL, "a/b"},
    {{"l@"}, "lx", K_REG, 0644, NULL, NULL, NULL, "lx"},
    {{"a/b/c"}, "a/b/d", K_REG, 0644, NULL, NULL, NULL, "a/b/d"},
    /* Names. */
    {{0}, "", K_REG, 0644, NULL, NULL, "empty name", NULL},
    {{0}, "/etc/passwd", K_REG, 0644, NULL, NULL, "absolute path", NULL},
    {{0}, "/", K_DIR, 0755, NULL, NULL, "absolute path", NULL},
    {{0}, "../x", K_REG, 0644, NULL, NULL, "path leaves the release", NULL},
    {{0}, "a/../../x", K_REG, 0644, NULL, NULL, "leaves the release", NULL},
    {{0}, "a/..", K_DIR, 0755, NULL, NULL, "leaves the release", NULL},
    {{0}, "a/../b", K_REG, 0644, NULL, NULL, "leaves the release", NULL},
    {{0}, "./", K_REG, 0644, NULL, NULL, "not a directory at the root", NULL},
    {{0}, "./", K_LNK, 0777, "x", NULL, "not a directory at the root", NULL},
    {{0}, "a\nb", K_REG, 0644, NULL, NULL, "control character", NULL},
    {{0}, "a\x7f", K_REG, 0644, NULL, NULL, "control character", NULL},
    {{0}, "a\x1b[2J", K_REG, 0644, NULL, NULL, "control character", NULL},
    {{0}, "a\xc2\x85", K_REG, 0644, NULL, NULL, "control character", NULL},
    {{0}, "caf\xe9", K_REG, 0644, NULL, NULL, "not valid UTF-8", NULL},
    {{0}, "\xc0\xaf", K_REG, 0644, NULL, NULL, "not valid UTF-8", NULL},
    {{0}, "\xed\xa0\x80", K_REG, 0644, NULL, NULL, "not valid UTF-8", NULL},
    {{0}, "\xf4\x90\x80\x80", K_REG, 0644, NULL, NULL, "not valid UTF-8", NULL},
    {{0}, "\xe2\x82", K_REG, 0644, NULL, NULL, "not valid UTF-8", NULL},
    /* Types and modes. */
    {{0}, "h", K_REG, 0644, NULL, "/etc/passwd", "hard link", NULL},
    {{"a.txt"}, "h", K_REG, 0644, NULL, "a.txt", "hard link", NULL},
    {{0}, "null", S_IFCHR, 0666, NULL, NULL, "device node", NULL},
    {{0}, "sda", S_IFBLK, 0660, NULL, NULL, "device node", NULL},
    {{0}, "pipe", S_IFIFO, 0644, NULL, NULL, "FIFO", NULL},
    {{0}, "sock", S_IFSOCK, 0755, NULL, NULL, "socket", NULL},
    {{0}, "what", 0, 0644, NULL, NULL, "unknown entry type", NULL},
    {{0}, "su", K_REG, 04755, NULL, NULL, "setuid", NULL},
    {{0}, "sg", K_REG, 02755, NULL, NULL, "setgid", NULL},
    {{0}, "tmp/", K_DIR, 01777, NULL, NULL, "sticky", NULL},
    /* Symlink targets. */
    {{0}, "l", K_LNK, 0777, "/etc", NULL, "symlink target is absolute", NULL},
    {{0}, "l", K_LNK, 0777, "..", NULL, "target leaves the release", NULL},
    {{0}, "l", K_LNK, 0777, "../../etc", NULL, "target leaves", NULL},
    {{0}, "a/l", K_LNK, 0777, "../..", NULL, "target leaves", NULL},
    {{0}, "a/b/l", K_LNK, 0777, "./../../..", NULL, "target leaves", NULL},
    {{0}, "a/l", K_LNK, 0777, "b/../..", NULL, "'..' after a name", NULL},
    {{0}, "t", K_LNK, 0777, "s/x/../..", NULL, "'..' after a name", NULL},
    {{0}, "l", K_LNK, 0777, "x/..", NULL, "'..' after a name", NULL},
    {{0}, "l", K_LNK, 0777, "", NULL, "empty symlink target", NULL},
    {{0}, "l", K_LNK, 0777, NULL, NULL, "empty symlink target", NULL},
    {{0}, "l", K_LNK, 0777, "a\tb", NULL, "target has a control", NULL},
    {{0}, "l", K_LNK, 0777, "caf\xe9", NULL, "target is not valid UTF-8", NULL},
    /* What came before. */
    {{"l@"}, "l/x", K_REG, 0644, NULL, NULL, "goes through a symlink", NULL},
    {{"l@"}, "./l/", K_DIR, 0755, NULL, NULL, "path appears twice", NULL},
    {{"a/l@"}, "a/l/b/c", K_REG, 0644, NULL, NULL, "through a symlink", NULL},
    {{"f"}, "f/x", K_REG, 0644, NULL, NULL, "parent is not a directory", NULL},
    {{"d/"}, "d", K_LNK, 0777, ".", NULL, "path appears twice", NULL},
    {{"d/"}, "d", K_LNK, 0777, "../..", NULL, "path appears twice", NULL},
    {{"d/"}, "d/", K_DIR, 0755, NULL, NULL, "path appears twice", NULL},
    {{"f"}, "f", K_REG, 0644, NULL, NULL, "path appears twice", NULL},
    {{"x"}, "./x", K_REG, 0644, NULL, NULL, "path appears twice", NULL},
    {{"a/b"}, "a", K_REG, 0644, NULL, NULL, "path appears twice", NULL},
    {{"a/b"}, "a", K_LNK, 0777, ".", NULL, "path appears twice", NULL},
    {{"a/b/c"}, "a/b", K_LNK, 0777, "..", NULL, "path appears twice", NULL},
};

/* Records a "before" path of an admission case. */
static void
s_record(admit_seen_t *seen, const char *spec)
{
    char path[256];
    size_t len = strlen(spec);
    unsigned type = S_IFREG;
    if (spec[len - 1] == '/' || spec[len - 1] == '@') {
        type = spec[len - 1] == '/' ? S_IFDIR : S_IFLNK;
        len--;
    }
    snprintf(path, sizeof path, "%.*s", (int)len, spec);
    assert_int_equal(admit_seen_add(seen, path, type), HOIST_OK);
}

static void
test_admit_cases(void **state)
{
    (void)state;
    size_t n = sizeof s_admit_cases / sizeof s_admit_cases[0];
    for (size_t i = 0; i < n; i++) {
        const admit_case_t *c = &s_admit_cases[i];
        admit_seen_t *seen = admit_seen_new();
        assert_non_null(seen);
        for (size_t j = 0; j < 4 && c->before[j]; j++) {
            s_record(seen, c->before[j]);
        }
        uint64_t count = admit_seen_count(seen);
        char norm[4096] = "untouched";
        const char *why =
            admit_entry(seen, c->name, c->type, c->mode, c->target, c->hardlink,
                        norm, sizeof norm);
        if (!c->expect && why) {
            fail_msg("case %zu '%s' refused: %s", i, c->name, why);
        }
        if (c->expect && (!why || !strstr(why, c->expect))) {
            fail_msg("case %zu '%s': expected '%s', got '%s'", i, c->name,
                     c->expect, why ? why : "(admitted)");
        }
        if (!c->expect) {
            assert_string_equal(norm, c->norm);
        }
        /* Deciding records nothing. */
        assert_int_equal(admit_seen_count(seen), count);
        admit_seen_destroy(&seen);
        assert_null(seen);
    }
}

/* The reason admit_entry gives for a plain entry, "(admitted)" if none. */
static const char *
s_why(const admit_seen_t *seen, const char *name, unsigned type, size_t normsz)
{
    char norm[4096];
    assert_true(normsz <= sizeof norm);
    const char *why = admit_entry(seen, name, type, type == K_DIR ? 0755 : 0644,
                                  NULL, NULL, norm, normsz);
    return why ? why : "(admitted)";
}

static void
test_admit_length_limits(void **state)
{
    (void)state;
    admit_seen_t *seen = admit_seen_new();
    char name[300];
    assert_string_equal(s_why(seen, "a/b/c/d/e/f/g", K_REG, 16), "(admitted)");
    assert_string_equal(s_why(seen, "abcdefgh/ijklmnop", K_REG, 16),
                        "path too long");
    memset(name, 'n', 256);
    name[256] = '\0';
    assert_string_equal(s_why(seen, name, K_REG, 4096), "name too long");
    name[255] = '\0';
    assert_string_equal(s_why(seen, name, K_REG, 4096), "(admitted)");
    admit_seen_destroy(&seen);
}

/* The seen set counts implied parents once, upgrades an implied directory
 * in place, and keeps finding every path as the table grows. */
static void
test_seen_set(void **state)
{
    (void)state;
    admit_seen_t *seen = admit_seen_new();
    char path[64];
    assert_int_equal(admit_seen_add(seen, "a/b/c", S_IFREG), HOIST_OK);
    assert_int_equal(admit_seen_count(seen), 3);
    assert_int_equal(admit_seen_add(seen, "a", S_IFDIR), HOIST_OK);
    assert_int_equal(admit_seen_count(seen), 3);
    assert_string_equal(s_why(seen, "a/", K_DIR, 256), "path appears twice");
    assert_int_equal(admit_seen_add(seen, "a/d", S_IFLNK), HOIST_OK);
    assert_int_equal(admit_seen_count(seen), 4);
    for (int i = 0; i < 20000; i++) {
        snprintf(path, sizeof path, "d%d/f%d", i % 100, i);
        assert_int_equal(admit_seen_add(seen, path, S_IFREG), HOIST_OK);
    }
    assert_int_equal(admit_seen_count(seen), 4 + 100 + 20000);
    for (int i = 0; i < 20000; i += 7) {
        snprintf(path, sizeof path, "d%d/f%d", i % 100, i);
        assert_string_equal(s_why(seen, path, K_REG, 256),
                            "path appears twice");
        snprintf(path, sizeof path, "d%d/f%d/x", i % 100, i);
        assert_string_equal(s_why(seen, path, K_REG, 256),
                            "parent is not a directory");
    }
    assert_string_equal(s_why(seen, "d5/f20000", K_REG, 256), "(admitted)");
    assert_string_equal(s_why(seen, "a/d/x", K_REG, 256),
                        "path goes through a symlink");
    admit_seen_destroy(&seen);
    admit_seen_destroy(&seen); /* NULL is fine */
}

/* ---- the hostile fixtures --------------------------------------------- */

typedef struct {
    const char *file;
    hoist_err_t code;
    const char *message;   /* a part of err.msg */
    const char *extracted; /* an entry before the bad one, or NULL */
    const char *refused;   /* relative to the stage: must not exist */
    const char *host_path; /* absolute: must not exist afterwards */
} hostile_t;

static const hostile_t s_hostile[] = {
    {"dotdot.tar.gz", HOIST_ERR_ARCHIVE,
     "entry '../../outside/dotdot': path leaves the release", "ok.txt",
     "outside", NULL},
    {"absolute.tar.gz", HOIST_ERR_ARCHIVE,
     "entry '/tmp/hoist-fixture-absolute': absolute path", "ok.txt", "tmp",
     "/tmp/hoist-fixture-absolute"},
    {"symlink-escape.tar.gz", HOIST_ERR_ARCHIVE,
     "entry 'link': symlink target leaves the release", "ok.txt", "link", NULL},
    {"symlink-absolute.tar.gz", HOIST_ERR_ARCHIVE,
     "entry 'link': symlink target is absolute", "ok.txt", "link",
     "/tmp/hoist-fixture-evil"},
    {"symlink-sneaky.tar.gz", HOIST_ERR_ARCHIVE,
     "entry 't': symlink target has '..' after a name", "s", "t", NULL},
    {"write-through-symlink.tar.gz", HOIST_ERR_ARCHIVE,
     "entry 'sub/evil': path goes through a symlink", "sub", "evil", NULL},
    {"hardlink-escape.tar.gz", HOIST_ERR_ARCHIVE, "entry 'passwd': hard link",
     "ok.txt", "passwd", NULL},
    {"device.tar.gz", HOIST_ERR_ARCHIVE, "entry 'null': device node", "ok.txt",
     "null", NULL},
    {"fifo.tar.gz", HOIST_ERR_ARCHIVE, "entry 'pipe': FIFO", "ok.txt", "pipe",
     NULL},
    {"setuid.tar.gz", HOIST_ERR_ARCHIVE,
     "entry 'bin/sh': setuid, setgid or sticky bit", "bin", "bin/sh", NULL},
    {"dir-then-symlink.tar.gz", HOIST_ERR_ARCHIVE,
     "entry 'd': path appears twice", "d", "d/evil", NULL},
    {"control-chars.tar.gz", HOIST_ERR_ARCHIVE,
     "entry 'bad\\x1b[2Jname': name has a control character", "ok.txt",
     "bad\x1b[2Jname", NULL},
    {"non-utf8.tar.gz", HOIST_ERR_ARCHIVE,
     "entry 'caf\\xe9': name is not valid UTF-8", "ok.txt", "caf\xe9", NULL},
    {"zip-renamed.tar.gz", HOIST_ERR_ARCHIVE, "not a tar archive", NULL,
     "hello.txt", NULL},
    {"bomb.tar.zst", HOIST_ERR_LIMIT,
     "entry 'zeros': compression ratio above 200:1", NULL, "zeros", NULL},
};

static void
s_check_hostile(const hostile_t *h)
{
    layout_t l = s_layout();
    char *path = tu_path(HOSTILE, h->file);
    if (h->host_path) {
        unlink(h->host_path); /* a leftover would prove nothing */
    }
    hoist_error_t err = {0};
    hoist_err_t rc = s_unpack(path, l.stage, NULL, &err);
    if (rc != h->code) {
        fail_msg("%s: expected %s, got %s: %s", h->file,
                 hoist_strerror(h->code), hoist_strerror(rc), err.msg);
    }
    assert_int_equal(err.code, h->code);
    assert_contains(err.msg, h->message);
    s_assert_contained(&l);
    if (h->extracted) {
        char *p = tu_path(l.stage, h->extracted);
        assert_true(tu_exists(p));
        free(p);
    }
    if (h->refused) {
        char *p = tu_path(l.stage, h->refused);
        if (tu_exists(p)) {
            fail_msg("%s: '%s' was written", h->file, h->refused);
        }
        free(p);
    }
    if (h->host_path && tu_exists(h->host_path)) {
        fail_msg("%s: %s was written", h->file, h->host_path);
    }
    free(path);
    s_layout_free(&l);
}

static void
test_hostile_fixtures(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof s_hostile / sizeof s_hostile[0]; i++) {
        s_check_hostile(&s_hostile[i]);
    }
}

/* The bomb is stopped after a few megabytes, not after its 1 GiB: the
 * message says how many bytes were unpacked when the ratio was judged. */
static void
test_bomb_stops_early(void **state)
{
    (void)state;
    layout_t l = s_layout();
    hoist_error_t err = {0};
    assert_int_equal(s_unpack(HOSTILE "bomb.tar.zst", l.stage, NULL, &err),
                     HOIST_ERR_LIMIT);
    const char *counts = strstr(err.msg, "200:1 (");
    assert_non_null(counts);
    unsigned long long unpacked = 0, packed = 0;
    assert_int_equal(
        sscanf(counts, "200:1 (%llu bytes from %llu)", &unpacked, &packed), 2);
    assert_true(unpacked > 200 * packed);
    assert_true(unpacked < 16 * MIB);
    s_assert_contained(&l);
    s_layout_free(&l);
}

/* ---- the good release ------------------------------------------------- */

/* Asserts the contents of good.tar* unpacked into STAGE. */
static void
s_check_good(const char *stage)
{
    s_assert_file(stage, "app/run.sh", "#!/bin/sh\necho hello from hoist\n",
                  0755);
    s_assert_file(stage, "app/config.txt", "port=8080\n", 0644); /* 0666 */
    s_assert_file(stage, "lib/secret", "s3cret\n", 0600);        /* 0400 */
    s_assert_file(stage, "README", "a release for the unpack tests\n", 0644);
    char *p = tu_path(stage, "app/current.txt");
    s_assert_link(p, "config.txt");
    free(p);
    p = tu_path(stage, "lib/app");
    s_assert_link(p, "../app");
    free(p);
    s_assert_file(stage, "lib/app/config.txt", "port=8080\n", 0644);
    p = tu_path(stage, "lib");
    assert_int_equal(s_mode(p), 0755); /* 0775 in the archive */
    free(p);
    p = tu_path(stage, "README");
    struct stat st;
    assert_int_equal(lstat(p, &st), 0);
    assert_int_equal(st.st_mtime, 1700000000); /* the archive's time */
    free(p);
    assert_int_equal(tu_count_entries(stage), 8);
}

static void
test_good_release(void **state)
{
    (void)state;
    layout_t l = s_layout();
    /* Modes come from the archive, not from the process umask. */
    mode_t old = umask(077);
    hoist_error_t err = {.code = HOIST_ERR__COUNT};
    hoist_err_t rc = s_unpack(HOSTILE "good.tar.gz", l.stage, NULL, &err);
    umask(old);
    if (rc != HOIST_OK) {
        fail_msg("good.tar.gz: %s", err.msg);
    }
    assert_int_equal(err.code, HOIST_ERR__COUNT); /* untouched on success */
    s_check_good(l.stage);
    s_assert_contained(&l);
    s_layout_free(&l);
}

static void
test_every_compression(void **state)
{
    (void)state;
    static const char *const files[] = {"good.tar", "good.tar.gz",
                                        "good.tar.zst", "good.tar.xz"};
    for (size_t i = 0; i < 4; i++) {
        layout_t l = s_layout();
        char *path = tu_path(HOSTILE, files[i]);
        hoist_error_t err = {0};
        if (s_unpack(path, l.stage, NULL, &err) != HOIST_OK) {
            fail_msg("%s: %s", files[i], err.msg);
        }
        s_check_good(l.stage);
        free(path);
        s_layout_free(&l);
    }
}

/* Extended attributes in the archive (a security.capability, a user.*
 * note) are never written: the release's files carry none. */
static void
test_xattrs_are_not_extracted(void **state)
{
    (void)state;
    layout_t l = s_layout();
    char *path = tu_path(l.tmp, "xattr.tar");
    struct archive *a = s_tar_open(path, 'n');
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, "tool");
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0755);
    archive_entry_set_size(e, 2);
    archive_entry_xattr_add_entry(e, "user.hoist-note", "x", 1);
    /* cap_setuid+ep: what a hostile release would like its binary to have */
    static const char cap[] = "\x01\x00\x00\x02\x80\x00\x00\x00\x80"
                              "\x00\x00\x00\x00\x00\x00\x00\x00\x00"
                              "\x00\x00";
    archive_entry_xattr_add_entry(e, "security.capability", cap,
                                  sizeof cap - 1);
    assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
    archive_entry_free(e);
    assert_int_equal(archive_write_data(a, "hi", 2), 2);
    s_tar_close(a);
    /* The archive really carries them (else this test proves nothing). */
    tu_sh("grep -q SCHILY.xattr.security.capability %s", path);

    hoist_error_t err = {0};
    if (s_unpack(path, l.stage, NULL, &err) != HOIST_OK) {
        fail_msg("xattr.tar: %s", err.msg);
    }
    char *tool = tu_path(l.stage, "tool");
    char names[256];
    assert_int_equal(llistxattr(tool, names, sizeof names), 0);
    free(tool);
    free(path);
    s_layout_free(&l);
}

/* ---- caps ------------------------------------------------------------- */

static void
s_expect_limit(const char *file, const unpack_limits_t *lim, hoist_err_t code,
               const char *message)
{
    layout_t l = s_layout();
    hoist_error_t err = {0};
    hoist_err_t rc = s_unpack(file, l.stage, lim, &err);
    if (rc != code) {
        fail_msg("%s: expected %s, got %s: %s", file, hoist_strerror(code),
                 hoist_strerror(rc), err.msg);
    }
    if (message) {
        assert_contains(err.msg, message);
    }
    s_assert_contained(&l);
    s_layout_free(&l);
}

/* good.tar.gz holds 80 bytes of files and 9 headers (8 objects). */
static void
test_limit_bytes_and_entries(void **state)
{
    (void)state;
    unpack_limits_t lim;
    unpack_limits_default(&lim);
    assert_int_equal(lim.max_bytes, 8ULL << 30);
    assert_int_equal(lim.max_entries, 100000);
    assert_int_equal(lim.max_ratio, 200);
    const char *good = HOSTILE "good.tar.gz";
    lim.max_bytes = 79;
    s_expect_limit(good, &lim, HOIST_ERR_LIMIT, "release exceeds 79 bytes");
    lim.max_bytes = 80;
    s_expect_limit(good, &lim, HOIST_OK, NULL);
    unpack_limits_default(&lim);
    lim.max_entries = 3;
    s_expect_limit(good, &lim, HOIST_ERR_LIMIT,
                   "archive has more than 3 entries");
    lim.max_entries = 8;
    s_expect_limit(good, &lim, HOIST_ERR_LIMIT, "more than 8 entries");
    lim.max_entries = 9;
    s_expect_limit(good, &lim, HOIST_OK, NULL);
}

/* Directories implied by a deep path are objects on disk too: they count
 * against max_entries although the archive has one header. */
static void
test_limit_counts_implied_dirs(void **state)
{
    (void)state;
    char *tmp = tu_tmpdir();
    char *path = tu_path(tmp, "deep.tar");
    struct archive *a = s_tar_open(path, 'n');
    s_tar_file(a, "a/b/c/d/e/f", 1, 1);
    s_tar_close(a);
    unpack_limits_t lim;
    unpack_limits_default(&lim);
    lim.max_entries = 5;
    s_expect_limit(path, &lim, HOIST_ERR_LIMIT, "more than 5 entries");
    lim.max_entries = 6;
    s_expect_limit(path, &lim, HOIST_OK, NULL);
    free(path);
    tu_rmtree(tmp);
}

static void
test_limit_ratio(void **state)
{
    (void)state;
    char *tmp = tu_tmpdir();
    unpack_limits_t lim;
    unpack_limits_default(&lim);
    /* 4 MiB of zeros gzip to about 4 KB: a ratio near 1000. */
    char *zeros = s_one_file_archive(tmp, "zeros.tar.gz", 'g', 4 * MIB, 0);
    s_expect_limit(zeros, &lim, HOIST_ERR_LIMIT,
                   "entry 'data.bin': compression ratio above 200:1");
    lim.max_ratio = 100000;
    s_expect_limit(zeros, &lim, HOIST_OK, NULL);
    /* Under 1 MiB unpacked the ratio is not judged. */
    unpack_limits_default(&lim);
    char *small = s_one_file_archive(tmp, "small.tar.gz", 'g', 900 * 1024, 0);
    s_expect_limit(small, &lim, HOIST_OK, NULL);
    /* Bytes that do not compress pass at any size. */
    char *noise = s_one_file_archive(tmp, "noise.tar.gz", 'g', 3 * MIB, 1);
    s_expect_limit(noise, &lim, HOIST_OK, NULL);
    free(zeros);
    free(small);
    free(noise);
    tu_rmtree(tmp);
}

/* A layout on /dev/shm when it is a writable tmpfs: creating 100000
 * files takes about a minute on some VM disks, three seconds on tmpfs. */
static layout_t
s_layout_fast(void)
{
    struct statfs sf;
    const char *old = getenv("TMPDIR");
    char *saved = old ? strdup(old) : NULL;
    if (statfs("/dev/shm", &sf) == 0 && sf.f_type == TMPFS_MAGIC &&
        access("/dev/shm", W_OK) == 0) {
        setenv("TMPDIR", "/dev/shm", 1);
    }
    layout_t l = s_layout();
    if (saved) {
        setenv("TMPDIR", saved, 1);
    } else {
        unsetenv("TMPDIR");
    }
    free(saved);
    return l;
}

/* A million entries take 1.4 MB even with zstd -19 --long, more than
 * all the other fixtures together, so the archive is written here (in
 * about 2 s). The default cap stops it at 100000. */
static void
test_limit_million_entries(void **state)
{
    (void)state;
    layout_t l = s_layout_fast();
    char *tmp = tu_tmpdir();
    char *path = tu_path(tmp, "million.tar.zst");
    struct archive *a = s_tar_open(path, 'z');
    char name[32];
    for (int i = 0; i < 1000000; i++) {
        snprintf(name, sizeof name, "d%03d/f%07d", i / 1000, i);
        s_tar_file(a, name, 0, 0);
    }
    s_tar_close(a);
    hoist_error_t err = {0};
    assert_int_equal(s_unpack(path, l.stage, NULL, &err), HOIST_ERR_LIMIT);
    assert_contains(err.msg, "archive has more than 100000 entries");
    s_assert_contained(&l);
    assert_true(tu_count_entries(l.stage) <= 100000);
    free(path);
    tu_rmtree(tmp);
    s_layout_free(&l);
}

/* ---- the disk and the caller's mistakes ------------------------------- */

/* A 2 MB file into a 512 KiB tmpfs must say "no space", not "I/O". Needs
 * root (or CAP_SYS_ADMIN) for the mount; skipped otherwise. */
static void
test_full_disk(void **state)
{
    (void)state;
    char *tmp = tu_tmpdir();
    char *mnt = tu_path(tmp, "mnt");
    assert_int_equal(mkdir(mnt, 0755), 0);
    if (mount("tmpfs", mnt, "tmpfs", 0, "size=512k") != 0) {
        print_message("skipped: cannot mount a tmpfs (%s)\n", strerror(errno));
        free(mnt);
        tu_rmtree(tmp);
        skip();
    }
    char *stage = tu_path(mnt, "stage");
    assert_int_equal(mkdir(stage, 0755), 0);
    char *path = s_one_file_archive(tmp, "big.tar", 'n', 2 * MIB, 1);
    hoist_error_t err = {0};
    hoist_err_t rc = s_unpack(path, stage, NULL, &err);
    assert_int_equal(umount(mnt), 0);
    if (rc != HOIST_ERR_NOSPACE) {
        fail_msg("expected nospace, got %s: %s", hoist_strerror(rc), err.msg);
    }
    assert_contains(err.msg, "entry 'data.bin'");
    free(path);
    free(stage);
    free(mnt);
    tu_rmtree(tmp);
}

static void
test_bad_input(void **state)
{
    (void)state;
    layout_t l = s_layout();
    hoist_error_t err = {0};
    /* The staging directory must exist. */
    char *missing = tu_path(l.tmp, "missing");
    assert_int_equal(s_unpack(HOSTILE "good.tar.gz", missing, NULL, &err),
                     HOIST_ERR_IO);
    assert_contains(err.msg, missing);
    /* An empty file and a cut-off archive are not releases. */
    char *empty = tu_path(l.tmp, "outside/empty.tar.gz");
    tu_write(empty, "", 0, 0644);
    assert_int_equal(s_unpack(empty, l.stage, NULL, &err), HOIST_ERR_ARCHIVE);
    unlink(empty);
    size_t len;
    char *good = tu_read(HOSTILE "good.tar", &len);
    assert_non_null(good);
    char *cut = tu_path(l.tmp, "outside/cut.tar");
    tu_write(cut, good, 1600, 0644); /* into the data of app/run.sh */
    assert_int_equal(s_unpack(cut, l.stage, NULL, &err), HOIST_ERR_ARCHIVE);
    assert_contains(err.msg, "entry './app/run.sh'");
    unlink(cut);
    s_assert_contained(&l);
    free(good);
    free(cut);
    free(empty);
    free(missing);
    s_layout_free(&l);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_admit_cases),
        cmocka_unit_test(test_admit_length_limits),
        cmocka_unit_test(test_seen_set),
        cmocka_unit_test(test_hostile_fixtures),
        cmocka_unit_test(test_bomb_stops_early),
        cmocka_unit_test(test_good_release),
        cmocka_unit_test(test_every_compression),
        cmocka_unit_test(test_xattrs_are_not_extracted),
        cmocka_unit_test(test_limit_bytes_and_entries),
        cmocka_unit_test(test_limit_counts_implied_dirs),
        cmocka_unit_test(test_limit_ratio),
        cmocka_unit_test(test_limit_million_entries),
        cmocka_unit_test(test_full_disk),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
