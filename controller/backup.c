/*
 * backup: see backup.h. The archive layout is the data directory's own
 * (docs/protocol.md, "Files"), restricted to four names:
 *
 *   controller.conf  controller.db  keys/NAME  artifacts/HEX
 *
 * plus the entries of the directories keys/ and artifacts/. A restore
 * accepts exactly those shapes and nothing else, which is simpler to get
 * right than sanitizing arbitrary paths: anything a backup never holds is
 * refused before a byte of it is written.
 */
#include "backup.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomicfile.h"
#include "controller.h"
#include "digest.h"
#include "store.h"
#include "tree.h"

#define BACKUP_BLOCK     (128 * 1024) /* bytes read or written at once */
#define BACKUP_BUSY_MS   100          /* wait between locked attempts */
#define BACKUP_BUSY_MAX  300          /* attempts: 30 s of a locked db */
#define BACKUP_PATH_SIZE (PATH_MAX + 128)

/* --- shared ------------------------------------------------------------- */

/* True when NAME is 64 lowercase hex digits: an artifact's file name. */
static bool
s_is_digest_name(const char *name)
{
    if (strlen(name) != DIGEST_HEX_LEN - 1) {
        return false;
    }
    for (const char *p = name; *p; p++) {
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))) {
            return false;
        }
    }
    return true;
}

/* Compares the digest D of artifact NAME with its name. */
static hoist_err_t
s_check_digest(const char *name, const uint8_t d[DIGEST_BYTES],
               const char *where, hoist_error_t *err)
{
    char hex[DIGEST_HEX_LEN];
    if (strcmp(digest_hex(d, hex), name) != 0) {
        return error_set(err, HOIST_ERR_DIGEST,
                         "%s: artifact %s holds bytes whose BLAKE2b-256 is "
                         "%s: it is corrupt or was altered",
                         where, name, hex);
    }
    return HOIST_OK;
}

static const char *
s_archive_msg(struct archive *a)
{
    const char *msg = archive_error_string(a);
    return msg ? msg : "unknown error";
}

/* --- backup: the database ----------------------------------------------- */

static hoist_err_t
s_sqlite_err(int rc, const char *what, sqlite3 *db, hoist_error_t *err)
{
    const char *msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return error_set(err, HOIST_ERR_BUSY,
                         "%s: the database stayed locked (%s); try again", what,
                         msg);
    case SQLITE_FULL:
        return error_set(err, HOIST_ERR_NOSPACE, "%s: %s", what, msg);
    case SQLITE_NOMEM:
        return error_set(err, HOIST_ERR_NOMEM, "%s: %s", what, msg);
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        return error_set(err, HOIST_ERR_STATE, "%s: %s", what, msg);
    default:
        return error_set(err, HOIST_ERR_IO, "%s: %s", what, msg);
    }
}

/* Copies the database SRC to the file DST through SQLite's online backup
 * API: all pages in one step, under one read transaction, so the copy is
 * the database as of one commit while the controller keeps writing (WAL
 * readers do not block writers). A step that finds the file locked waits
 * and tries again. */
static hoist_err_t
s_copy_db(const char *src_path, const char *dst_path, hoist_error_t *err)
{
    sqlite3 *src = NULL, *dst = NULL;
    hoist_err_t rc = HOIST_OK;
    int r = sqlite3_open_v2(src_path, &src, SQLITE_OPEN_READONLY, NULL);
    if (r != SQLITE_OK) {
        rc = s_sqlite_err(r, "open the database", src, err);
        goto out;
    }
    r = sqlite3_open_v2(dst_path, &dst, SQLITE_OPEN_READWRITE, NULL);
    if (r != SQLITE_OK) {
        rc = s_sqlite_err(r, "open the copy of the database", dst, err);
        goto out;
    }
    sqlite3_busy_timeout(src, 5000);
    sqlite3_backup *b = sqlite3_backup_init(dst, "main", src, "main");
    if (!b) {
        rc = s_sqlite_err(sqlite3_errcode(dst), "copy the database", dst, err);
        goto out;
    }
    for (int tries = 0;; tries++) {
        r = sqlite3_backup_step(b, -1);
        if ((r != SQLITE_BUSY && r != SQLITE_LOCKED) ||
            tries >= BACKUP_BUSY_MAX) {
            break;
        }
        sqlite3_sleep(BACKUP_BUSY_MS);
    }
    sqlite3_backup_finish(b);
    if (r != SQLITE_DONE) {
        rc = s_sqlite_err(r, "copy the database", NULL, err);
    }
out:
    sqlite3_close(dst);
    sqlite3_close(src);
    return rc;
}

/* --- backup: the archive ------------------------------------------------ */

typedef struct {
    struct archive *a;
    const char *data_dir;
    hoist_error_t *err;
} writer_t;

static hoist_err_t
s_write_failed(writer_t *w, const char *name)
{
    int e = archive_errno(w->a);
    return error_set(w->err, e > 0 ? error_from_errno(e) : HOIST_ERR_IO,
                     "write %s into the backup: %s", name, s_archive_msg(w->a));
}

/* Adds a directory entry NAME (0700). */
static hoist_err_t
s_add_dir(writer_t *w, const char *name)
{
    struct archive_entry *e = archive_entry_new();
    if (!e) {
        return error_set(w->err, HOIST_ERR_NOMEM, "out of memory");
    }
    archive_entry_set_pathname(e, name);
    archive_entry_set_filetype(e, AE_IFDIR);
    archive_entry_set_perm(e, 0700);
    archive_entry_set_mtime(e, time(NULL), 0);
    hoist_err_t rc = archive_write_header(w->a, e) == ARCHIVE_OK
                         ? HOIST_OK
                         : s_write_failed(w, name);
    archive_entry_free(e);
    return rc;
}

/* Streams the open regular file FD (ST) into the archive as NAME. When
 * DIGEST_NAME is not NULL the bytes are hashed on the way and must hash to
 * it. A file that shrinks meanwhile is an error; one that grows is cut at
 * the size its header promised. */
static hoist_err_t
s_add_fd(writer_t *w, int fd, const struct stat *st, const char *name,
         const char *digest_name)
{
    hoist_err_t rc = HOIST_OK;
    struct archive_entry *e = archive_entry_new();
    digest_t *d = digest_name ? digest_new() : NULL;
    char *buf = malloc(BACKUP_BLOCK);
    if (!e || !buf || (digest_name && !d)) {
        rc = error_set(w->err, HOIST_ERR_NOMEM, "out of memory");
        goto out;
    }
    archive_entry_set_pathname(e, name);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0600);
    archive_entry_set_size(e, st->st_size);
    archive_entry_set_mtime(e, st->st_mtime, 0);
    if (archive_write_header(w->a, e) != ARCHIVE_OK) {
        rc = s_write_failed(w, name);
        goto out;
    }
    for (off_t left = st->st_size; left > 0 && rc == HOIST_OK;) {
        size_t want = left < BACKUP_BLOCK ? (size_t)left : BACKUP_BLOCK;
        ssize_t n = read(fd, buf, want);
        if (n <= 0) {
            rc = n < 0 ? error_errno(w->err, error_from_errno(errno), errno,
                                     "read %s/%s", w->data_dir, name)
                       : error_set(w->err, HOIST_ERR_IO,
                                   "%s/%s shrank while it was copied",
                                   w->data_dir, name);
        } else if (archive_write_data(w->a, buf, (size_t)n) != n) {
            rc = s_write_failed(w, name);
        } else {
            left -= n;
            if (d) {
                digest_update(d, buf, (size_t)n);
            }
        }
    }
    if (rc == HOIST_OK && d) {
        uint8_t got[DIGEST_BYTES];
        digest_final(d, got);
        rc = s_check_digest(digest_name, got, w->data_dir, w->err);
    }
out:
    digest_destroy(&d);
    free(buf);
    archive_entry_free(e);
    return rc;
}

/* Adds the regular file PATH as NAME (see s_add_fd). A link or anything
 * but a regular file is refused: nothing in a data directory is one. */
static hoist_err_t
s_add_file(writer_t *w, const char *path, const char *name,
           const char *digest_name)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        return error_errno(w->err, error_from_errno(errno), errno, "open %s",
                           path);
    }
    struct stat st;
    hoist_err_t rc = HOIST_OK;
    if (fstat(fd, &st) != 0) {
        rc = error_errno(w->err, HOIST_ERR_IO, errno, "stat %s", path);
    } else if (!S_ISREG(st.st_mode)) {
        rc = error_set(w->err, HOIST_ERR_STATE,
                       "%s is not a regular file: remove or move it, then "
                       "back up again",
                       path);
    } else {
        rc = s_add_fd(w, fd, &st, name, digest_name);
    }
    close(fd);
    return rc;
}

static int
s_not_dot(const struct dirent *d)
{
    return strcmp(d->d_name, ".") != 0 && strcmp(d->d_name, "..") != 0;
}

/* Adds the folder SUB of the data directory and its files, sorted by
 * name. ARTIFACTS: only digest-named files, each verified (an upload in
 * flight never lives there, so nothing else is expected; what else there
 * is is not ours to copy). A missing folder adds nothing. */
static hoist_err_t
s_add_folder(writer_t *w, const char *sub, bool artifacts)
{
    char path[BACKUP_PATH_SIZE], name[BACKUP_PATH_SIZE];
    snprintf(path, sizeof path, "%s/%s", w->data_dir, sub);
    struct dirent **list = NULL;
    int n = scandir(path, &list, s_not_dot, alphasort);
    if (n < 0) {
        return errno == ENOENT ? HOIST_OK
                               : error_errno(w->err, error_from_errno(errno),
                                             errno, "read %s", path);
    }
    hoist_err_t rc = s_add_dir(w, sub);
    for (int i = 0; i < n; i++) {
        const char *f = list[i]->d_name;
        if (rc == HOIST_OK && (!artifacts || s_is_digest_name(f))) {
            snprintf(path, sizeof path, "%s/%s/%s", w->data_dir, sub, f);
            snprintf(name, sizeof name, "%s/%s", sub, f);
            rc = s_add_file(w, path, name, artifacts ? f : NULL);
        }
        free(list[i]);
    }
    free(list);
    return rc;
}

/* Writes the archive to FD: the configuration, the keys, the database
 * copy DB_COPY and the artifacts (biggest last, so that the small vital
 * files come first in a truncated archive's readable part). */
static hoist_err_t
s_write_archive(const char *data_dir, const char *db_copy, int fd,
                hoist_error_t *err)
{
    char path[BACKUP_PATH_SIZE];
    writer_t w = {.a = archive_write_new(), .data_dir = data_dir, .err = err};
    if (!w.a) {
        return error_set(err, HOIST_ERR_NOMEM, "out of memory");
    }
    hoist_err_t rc = HOIST_OK;
    /* pax: sizes over 8 GiB and long names, readable by any tar. */
    if (archive_write_set_format_pax_restricted(w.a) != ARCHIVE_OK ||
        archive_write_open_fd(w.a, fd) != ARCHIVE_OK) {
        rc = s_write_failed(&w, "the header");
        goto out;
    }
    snprintf(path, sizeof path, "%s/controller.conf", data_dir);
    rc = s_add_file(&w, path, "controller.conf", NULL);
    if (rc == HOIST_OK) {
        rc = s_add_folder(&w, "keys", false);
    }
    if (rc == HOIST_OK) {
        rc = s_add_file(&w, db_copy, "controller.db", NULL);
    }
    if (rc == HOIST_OK) {
        rc = s_add_folder(&w, "artifacts", true);
    }
    if (rc == HOIST_OK && archive_write_close(w.a) != ARCHIVE_OK) {
        rc = s_write_failed(&w, "the end");
    }
out:
    archive_write_free(w.a);
    return rc;
}

/* Makes a temporary file from TEMPLATE (ending in XXXXXX, rewritten),
 * mode 0600; returns its descriptor or -1 with ERR set. */
static int
s_temp(char *template, hoist_error_t *err)
{
    int fd = mkstemp(template);
    if (fd < 0) {
        error_errno(err, error_from_errno(errno), errno, "create %s", template);
    } else if (fchmod(fd, 0600) != 0) {
        error_errno(err, HOIST_ERR_IO, errno, "chmod %s", template);
        close(fd);
        unlink(template);
        fd = -1;
    }
    return fd;
}

/* The directory holding PATH, into OUT (PATH_MAX). */
static void
s_parent(const char *path, char *out)
{
    char copy[BACKUP_PATH_SIZE];
    snprintf(copy, sizeof copy, "%s", path);
    snprintf(out, PATH_MAX, "%s", dirname(copy));
}

hoist_err_t
backup_create(const char *data_dir, const char *out, hoist_error_t *err)
{
    char db[BACKUP_PATH_SIZE], tmp[BACKUP_PATH_SIZE], copy[BACKUP_PATH_SIZE];
    char parent[PATH_MAX];
    snprintf(db, sizeof db, "%s/controller.conf", data_dir);
    if (access(db, F_OK) != 0) {
        return error_set(err, HOIST_ERR_STATE,
                         "%s is not a controller data directory: it has no "
                         "controller.conf",
                         data_dir);
    }
    snprintf(db, sizeof db, "%s/controller.db", data_dir);
    if (access(db, F_OK) != 0) {
        return error_errno(err, HOIST_ERR_STATE, errno, "%s", db);
    }
    /* Both temporary files sit beside OUT: the rename that publishes the
     * archive stays on one file system, and nothing lands in DATA_DIR. */
    snprintf(tmp, sizeof tmp, "%s.tmp-XXXXXX", out);
    snprintf(copy, sizeof copy, "%s.db-XXXXXX", out);
    int fd = s_temp(tmp, err);
    if (fd < 0) {
        return err ? err->code : HOIST_ERR_IO;
    }
    int dbfd = s_temp(copy, err);
    hoist_err_t rc = dbfd < 0 ? (err ? err->code : HOIST_ERR_IO) : HOIST_OK;
    if (dbfd >= 0) {
        close(dbfd);
        rc = s_copy_db(db, copy, err);
    }
    if (rc == HOIST_OK) {
        rc = s_write_archive(data_dir, copy, fd, err);
    }
    if (rc == HOIST_OK && fsync(fd) != 0) {
        rc = error_errno(err, error_from_errno(errno), errno, "fsync %s", tmp);
    }
    close(fd);
    if (rc == HOIST_OK && rename(tmp, out) != 0) {
        rc = error_errno(err, error_from_errno(errno), errno, "rename to %s",
                         out);
    }
    if (rc == HOIST_OK) {
        s_parent(out, parent);
        rc = atomicfile_sync_dir(parent, err);
    } else {
        unlink(tmp);
    }
    if (dbfd >= 0) {
        unlink(copy);
    }
    return rc;
}

/* --- restore: reading entries ------------------------------------------- */

typedef enum {
    ENTRY_SKIP, /* "." or "./": the archive's root */
    ENTRY_DIR,  /* keys, artifacts */
    ENTRY_FILE, /* controller.conf, controller.db, keys/NAME */
    ENTRY_ARTIFACT,
} entry_kind_t;

typedef struct {
    struct archive *a;
    const char *from;
    const char *stage; /* DIR.restore-XXXXXX */
    hoist_error_t *err;
} reader_t;

/* Refuses NAME when it is absolute or has a ".." component. */
static hoist_err_t
s_check_path(reader_t *r, const char *name)
{
    if (name[0] == '/') {
        return error_set(r->err, HOIST_ERR_ARCHIVE,
                         "%s: entry '%s' has an absolute path: refused",
                         r->from, name);
    }
    for (const char *p = name; *p;) {
        size_t len = strcspn(p, "/");
        if (len == 2 && p[0] == '.' && p[1] == '.') {
            return error_set(r->err, HOIST_ERR_ARCHIVE,
                             "%s: entry '%s' climbs out with '..': refused",
                             r->from, name);
        }
        p += len + (p[len] == '/');
    }
    return HOIST_OK;
}

/* True when NAME is "PREFIX/X" with X a plain file name. *LEAF gets X. */
static bool
s_under(const char *name, const char *prefix, const char **leaf)
{
    size_t n = strlen(prefix);
    if (strncmp(name, prefix, n) != 0 || name[n] != '/') {
        return false;
    }
    const char *x = name + n + 1;
    if (!*x || strchr(x, '/') || strcmp(x, ".") == 0 || strcmp(x, "..") == 0) {
        return false;
    }
    *leaf = x;
    return true;
}

/* Classifies entry E, whose path without "./" and trailing "/" is NAME,
 * refusing links, devices and anything a backup never holds. */
static hoist_err_t
s_classify(reader_t *r, struct archive_entry *e, const char *name,
           entry_kind_t *kind)
{
    const char *raw = archive_entry_pathname(e), *leaf = NULL;
    hoist_err_t rc = s_check_path(r, raw);
    mode_t type = archive_entry_filetype(e);
    if (rc != HOIST_OK) {
        return rc;
    }
    if (archive_entry_hardlink(e) || type == AE_IFLNK) {
        return error_set(r->err, HOIST_ERR_ARCHIVE,
                         "%s: entry '%s' is a link: a backup holds none, "
                         "refused",
                         r->from, raw);
    }
    if (type != AE_IFREG && type != AE_IFDIR) {
        return error_set(r->err, HOIST_ERR_ARCHIVE,
                         "%s: entry '%s' is neither a file nor a directory: "
                         "refused",
                         r->from, raw);
    }
    bool dir = type == AE_IFDIR;
    if (dir && (!*name || strcmp(name, ".") == 0)) {
        *kind = ENTRY_SKIP;
    } else if (dir &&
               (strcmp(name, "keys") == 0 || strcmp(name, "artifacts") == 0)) {
        *kind = ENTRY_DIR;
    } else if (!dir && (strcmp(name, "controller.conf") == 0 ||
                        strcmp(name, "controller.db") == 0 ||
                        s_under(name, "keys", &leaf))) {
        *kind = ENTRY_FILE;
    } else if (!dir && s_under(name, "artifacts", &leaf) &&
               s_is_digest_name(leaf)) {
        *kind = ENTRY_ARTIFACT;
    } else {
        return error_set(r->err, HOIST_ERR_ARCHIVE,
                         "%s: unknown entry '%s': a controller backup holds "
                         "only controller.conf, controller.db, keys/ and "
                         "artifacts/<digest>; refused",
                         r->from, raw);
    }
    return HOIST_OK;
}

/* Makes the staged directory NAME, or its parent folder for a file; one
 * that exists already is fine (a tar may list it after its files). */
static hoist_err_t
s_mkdir(const char *stage, const char *name, hoist_error_t *err)
{
    char path[BACKUP_PATH_SIZE];
    snprintf(path, sizeof path, "%s/%s", stage, name);
    if (mkdir(path, 0700) != 0 && errno != EEXIST) {
        return error_errno(err, error_from_errno(errno), errno, "mkdir %s",
                           path);
    }
    return HOIST_OK;
}

/* Writes the data of the current entry to the staged file NAME (0600,
 * never existing before: an entry given twice is refused), hashing it
 * when it is an artifact. */
static hoist_err_t
s_extract(reader_t *r, const char *name, bool artifact)
{
    char path[BACKUP_PATH_SIZE];
    const char *slash = strchr(name, '/');
    if (slash) {
        char folder[16];
        snprintf(folder, sizeof folder, "%.*s", (int)(slash - name), name);
        hoist_err_t rc = s_mkdir(r->stage, folder, r->err);
        if (rc != HOIST_OK) {
            return rc;
        }
    }
    snprintf(path, sizeof path, "%s/%s", r->stage, name);
    int fd =
        open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        return errno == EEXIST
                   ? error_set(r->err, HOIST_ERR_ARCHIVE,
                               "%s: entry '%s' appears twice: refused", r->from,
                               name)
                   : error_errno(r->err, error_from_errno(errno), errno,
                                 "create %s", path);
    }
    hoist_err_t rc = HOIST_OK;
    digest_t *d = artifact ? digest_new() : NULL;
    char *buf = malloc(BACKUP_BLOCK);
    if (!buf || (artifact && !d)) {
        rc = error_set(r->err, HOIST_ERR_NOMEM, "out of memory");
    }
    for (ssize_t n; rc == HOIST_OK &&
                    (n = archive_read_data(r->a, buf, BACKUP_BLOCK)) != 0;) {
        if (n < 0) {
            rc = error_set(r->err, HOIST_ERR_ARCHIVE, "%s: read '%s': %s",
                           r->from, name, s_archive_msg(r->a));
        } else if (write(fd, buf, (size_t)n) != n) {
            rc = error_errno(r->err, error_from_errno(errno), errno, "write %s",
                             path);
        } else if (d) {
            digest_update(d, buf, (size_t)n);
        }
    }
    if (rc == HOIST_OK && d) {
        uint8_t got[DIGEST_BYTES];
        digest_final(d, got);
        rc = s_check_digest(name + strlen("artifacts/"), got, r->from, r->err);
    }
    digest_destroy(&d);
    free(buf);
    close(fd);
    return rc;
}

/* Reads every entry of the archive into the stage. */
static hoist_err_t
s_read_entries(reader_t *r)
{
    struct archive_entry *e = NULL;
    for (;;) {
        int ar = archive_read_next_header(r->a, &e);
        if (ar == ARCHIVE_EOF) {
            return HOIST_OK;
        }
        if (ar < ARCHIVE_WARN) {
            return error_set(r->err, HOIST_ERR_ARCHIVE,
                             "%s is not a readable tar archive: %s", r->from,
                             s_archive_msg(r->a));
        }
        char name[BACKUP_PATH_SIZE];
        const char *p = archive_entry_pathname(e);
        p = p ? p : "";
        while (p[0] == '.' && p[1] == '/') {
            p += 2;
        }
        snprintf(name, sizeof name, "%s", p);
        for (size_t n = strlen(name); n > 0 && name[n - 1] == '/'; n--) {
            name[n - 1] = '\0';
        }
        entry_kind_t kind = ENTRY_SKIP;
        hoist_err_t rc = s_classify(r, e, name, &kind);
        if (rc == HOIST_OK && kind == ENTRY_DIR) {
            rc = s_mkdir(r->stage, name, r->err);
        } else if (rc == HOIST_OK && kind != ENTRY_SKIP) {
            rc = s_extract(r, name, kind == ENTRY_ARTIFACT);
        }
        if (rc != HOIST_OK) {
            return rc;
        }
    }
}

/* Opens FROM and extracts it into STAGE. */
static hoist_err_t
s_unpack(const char *from, const char *stage, hoist_error_t *err)
{
    reader_t r = {
        .a = archive_read_new(), .from = from, .stage = stage, .err = err};
    if (!r.a) {
        return error_set(err, HOIST_ERR_NOMEM, "out of memory");
    }
    hoist_err_t rc = HOIST_OK;
    /* An operator may have compressed the tar; nothing else is read. */
    if (archive_read_support_format_tar(r.a) != ARCHIVE_OK ||
        archive_read_support_filter_none(r.a) != ARCHIVE_OK ||
        archive_read_support_filter_gzip(r.a) != ARCHIVE_OK ||
        archive_read_support_filter_zstd(r.a) != ARCHIVE_OK ||
        archive_read_support_filter_xz(r.a) != ARCHIVE_OK) {
        rc = error_set(err, HOIST_ERR_NOMEM, "set up the tar reader: %s",
                       s_archive_msg(r.a));
    } else if (archive_read_open_filename(r.a, from, BACKUP_BLOCK) !=
               ARCHIVE_OK) {
        int e = archive_errno(r.a);
        rc = e == ENOENT || e == EACCES || e == EISDIR
                 ? error_errno(err, HOIST_ERR_IO, e, "open %s", from)
                 : error_set(err, HOIST_ERR_ARCHIVE,
                             "%s is not a readable tar archive: %s", from,
                             s_archive_msg(r.a));
    } else {
        rc = s_read_entries(&r);
    }
    archive_read_free(r.a);
    return rc;
}

/* --- restore: checking and publishing ------------------------------------ */

/* The restored tree must be a controller that starts: its three vital
 * files, a database that opens (and is migrated if it is older) and what
 * `run -n` checks. */
static hoist_err_t
s_check_stage(const char *from, const char *stage, hoist_error_t *err)
{
    static const char *const need[] = {"controller.conf", "controller.db",
                                       "keys/server_secret", "keys/server"};
    char path[BACKUP_PATH_SIZE];
    for (size_t i = 0; i < sizeof need / sizeof need[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", stage, need[i]);
        if (access(path, F_OK) != 0) {
            return error_set(err, HOIST_ERR_ARCHIVE,
                             "%s is not a complete controller backup: it has "
                             "no %s",
                             from, need[i]);
        }
    }
    snprintf(path, sizeof path, "%s/controller.db", stage);
    store_t *s = store_open(path, err);
    if (!s) {
        error_prefix(err, "the database in %s", from);
        return err ? err->code : HOIST_ERR_STATE;
    }
    store_close(&s);
    controller_opts_t o = {.data_dir = stage};
    if (controller_check(&o, err) != HOIST_OK) {
        error_prefix(err, "the directory restored from %s would not start",
                     from);
        return err ? err->code : HOIST_ERR_STATE;
    }
    return s_mkdir(stage, "artifacts", err);
}

/* Gives PATH and everything under it (never following a link) to UID and
 * GID. */
static hoist_err_t
s_chown_tree(const char *path, uid_t uid, gid_t gid, hoist_error_t *err)
{
    struct stat st;
    if (lstat(path, &st) != 0 || lchown(path, uid, gid) != 0) {
        return error_errno(err, HOIST_ERR_IO, errno, "chown %s", path);
    }
    if (!S_ISDIR(st.st_mode)) {
        return HOIST_OK;
    }
    struct dirent **list = NULL;
    int n = scandir(path, &list, s_not_dot, alphasort);
    if (n < 0) {
        return error_errno(err, HOIST_ERR_IO, errno, "read %s", path);
    }
    hoist_err_t rc = HOIST_OK;
    for (int i = 0; i < n; i++) {
        char sub[BACKUP_PATH_SIZE];
        snprintf(sub, sizeof sub, "%s/%s", path, list[i]->d_name);
        if (rc == HOIST_OK) {
            rc = s_chown_tree(sub, uid, gid, err);
        }
        free(list[i]);
    }
    free(list);
    return rc;
}

/* What DIR is now: missing (*EXISTS false), empty or not (*EMPTY), and
 * its stat in *ST. */
static hoist_err_t
s_target(const char *dir, bool *exists, bool *empty, struct stat *st,
         hoist_error_t *err)
{
    *exists = *empty = false;
    if (lstat(dir, st) != 0) {
        return errno == ENOENT
                   ? HOIST_OK
                   : error_errno(err, HOIST_ERR_IO, errno, "stat %s", dir);
    }
    if (!S_ISDIR(st->st_mode)) {
        return error_set(err, HOIST_ERR_EXISTS,
                         "%s exists and is not a directory: refused", dir);
    }
    *exists = true;
    DIR *d = opendir(dir);
    if (!d) {
        return error_errno(err, HOIST_ERR_IO, errno, "read %s", dir);
    }
    *empty = true;
    for (struct dirent *e; (e = readdir(d));) {
        if (s_not_dot(e)) {
            *empty = false;
            break;
        }
    }
    closedir(d);
    return HOIST_OK;
}

/* Renames STAGE onto DIR. A non-empty DIR (forced) first moves to
 * DIR.before-restore-XXXXXX, named in KEPT; if the second rename fails it
 * moves back. */
static hoist_err_t
s_publish(const char *stage, const char *dir, bool move_old, char *kept,
          size_t kept_len, hoist_error_t *err)
{
    char old[BACKUP_PATH_SIZE] = "";
    if (move_old) {
        snprintf(old, sizeof old, "%s.before-restore-XXXXXX", dir);
        /* An empty directory of that name, which rename(2) replaces. */
        if (!mkdtemp(old) || rename(dir, old) != 0) {
            int e = errno;
            if (old[0] && !strstr(old, "XXXXXX")) {
                rmdir(old);
            }
            return error_errno(err, error_from_errno(e), e,
                               "move %s aside to %s", dir, old);
        }
    }
    if (rename(stage, dir) != 0) {
        int e = errno;
        if (move_old) {
            rename(old, dir);
        }
        return error_errno(err, error_from_errno(e), e, "rename %s to %s",
                           stage, dir);
    }
    snprintf(kept, kept_len, "%s", old);
    char parent[PATH_MAX];
    s_parent(dir, parent);
    return atomicfile_sync_dir(parent, err);
}

/* Gives STAGE the mode and, as root, the owner of the directory it is
 * about to replace, then flushes it to disk. */
static hoist_err_t
s_settle(const char *stage, bool exists, const struct stat *st,
         hoist_error_t *err)
{
    if (exists && chmod(stage, st->st_mode & 07777) != 0) {
        return error_errno(err, HOIST_ERR_IO, errno, "chmod %s", stage);
    }
    if (exists && geteuid() == 0) {
        hoist_err_t rc = s_chown_tree(stage, st->st_uid, st->st_gid, err);
        if (rc != HOIST_OK) {
            return rc;
        }
    }
    return tree_sync(stage, err);
}

hoist_err_t
backup_restore(const char *from, const char *data_dir,
               backup_restore_opts_t *opts, hoist_error_t *err)
{
    char dir[BACKUP_PATH_SIZE], stage[BACKUP_PATH_SIZE];
    snprintf(dir, sizeof dir, "%s", data_dir);
    for (size_t n = strlen(dir); n > 1 && dir[n - 1] == '/'; n--) {
        dir[n - 1] = '\0';
    }
    if (!dir[0] || strcmp(dir, "/") == 0) {
        return error_set(err, HOIST_ERR_USAGE,
                         "restore needs a data directory other than /");
    }
    bool exists, empty;
    struct stat st;
    hoist_err_t rc = s_target(dir, &exists, &empty, &st, err);
    if (rc != HOIST_OK) {
        return rc;
    }
    bool force = opts && opts->force;
    if (exists && !empty && !force) {
        return error_set(err, HOIST_ERR_EXISTS,
                         "%s is not empty: restore into a new or empty "
                         "directory, or pass --force to replace it (the old "
                         "one is kept aside)",
                         dir);
    }
    snprintf(stage, sizeof stage, "%s.restore-XXXXXX", dir);
    if (!mkdtemp(stage)) {
        return error_errno(err, error_from_errno(errno), errno,
                           "create %s beside %s", stage, dir);
    }
    rc = s_unpack(from, stage, err);
    if (rc == HOIST_OK) {
        rc = s_check_stage(from, stage, err);
    }
    if (rc == HOIST_OK) {
        rc = s_settle(stage, exists, &st, err);
    }
    if (rc == HOIST_OK) {
        char kept[BACKUP_PATH_SIZE];
        rc = s_publish(stage, dir, exists && !empty, kept, sizeof kept, err);
        if (rc == HOIST_OK && opts) {
            snprintf(opts->kept, sizeof opts->kept, "%s", kept);
        }
    }
    if (rc != HOIST_OK) {
        tree_remove(stage, NULL);
    }
    return rc;
}
