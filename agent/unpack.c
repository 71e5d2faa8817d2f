/*
 * unpack: extracts a release archive into a staging directory.
 *
 * Two layers guard the disk. First, every entry passes admit_entry, a
 * pure function that decides from the entry's name, type, mode and link
 * target, and from what the archive held before it (the "seen" set),
 * whether the entry may exist in a release. Only an admitted entry reaches
 * libarchive's disk writer, which runs with its own secure flags as a
 * second line of defence.
 *
 * The process never changes its working directory (the agent may unpack
 * from a thread): each admitted relative path is prefixed with the real
 * path of the staging directory before it is handed to the writer.
 *
 * Nothing here is global; one call owns its reader, writer and seen set.
 */
#include "unpack.h"

#include <archive.h>
#include <archive_entry.h>
#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "admit.h"

/* The compression ratio is judged only past this many unpacked bytes: a
 * tiny archive is mostly tar headers and padding, which compress far
 * better than any real content, and cannot hurt the disk anyway. */
#define RATIO_FLOOR (1024 * 1024)

/* The reader's block size: large enough to keep decompressors busy. */
#define READ_BLOCK (64 * 1024)

void
unpack_limits_default(unpack_limits_t *lim)
{
    lim->max_bytes = 8ULL << 30;
    lim->max_entries = 100000;
    lim->max_ratio = 200;
}

/* ---- extraction (I/O) ------------------------------------------------- */

typedef struct {
    struct archive *in;
    struct archive *out;
    admit_seen_t *seen;
    const unpack_limits_t *lim;
    uint64_t compressed_size;
    uint64_t entries;  /* headers read */
    uint64_t declared; /* regular-file bytes announced by headers */
    uint64_t written;  /* regular-file bytes actually streamed */
    char *root;        /* realpath of the staging directory */
    hoist_error_t *err;
} unpack_job_t;

/* Copies NAME into OUT for a message: control bytes (and every byte
 * above 0x7e when NAME is not UTF-8) as \xNN, long names cut short, so a
 * hostile name cannot mangle a log line or a terminal. */
static const char *
s_quote(const char *name, char *out, size_t outsz)
{
    if (!name) {
        return "?";
    }
    bool utf8 = admit_is_utf8(name);
    size_t o = 0;
    for (const unsigned char *u = (const unsigned char *)name; *u; u++) {
        if (o + 8 >= outsz) {
            snprintf(out + o, outsz - o, "...");
            return out;
        }
        bool plain = *u >= 0x20 && *u != 0x7f && (*u < 0x80 || utf8);
        if (plain) {
            out[o++] = (char)*u;
        } else {
            o += (size_t)snprintf(out + o, outsz - o, "\\x%02x", *u);
        }
    }
    out[o] = '\0';
    return out;
}

/* Refuses the entry NAME for reason WHY. */
static hoist_err_t
s_refuse(unpack_job_t *job, hoist_err_t code, const char *name, const char *why)
{
    char q[256];
    return error_set(job->err, code, "entry '%s': %s",
                     s_quote(name, q, sizeof q), why);
}

/* libarchive's last error message for A, never NULL. */
static const char *
s_archive_msg(struct archive *a)
{
    const char *msg = archive_error_string(a);
    return msg ? msg : "unknown error";
}

/* Whether libarchive's errno E is the operating system's (a read or
 * write that failed) rather than one of its own codes for a damaged or
 * refused archive. Those codes live in archive_platform.h, which is not
 * installed: on Linux a bad format is EILSEQ, a misuse EINVAL, anything
 * else -1. */
static bool
s_os_errno(int e)
{
    return e > 0 && e != EILSEQ && e != EINVAL;
}

/* Reports a failure of the reader (while at entry NAME, or between
 * entries when NAME is NULL). A format error before the first entry
 * means the bytes are not a tar archive at all. */
static hoist_err_t
s_read_failed(unpack_job_t *job, const char *name)
{
    int e = archive_errno(job->in);
    const char *msg = s_archive_msg(job->in);
    if (s_os_errno(e)) {
        return error_errno(job->err, error_from_errno(e), e, "read archive: %s",
                           msg);
    }
    if (job->entries == 0) {
        return error_set(job->err, HOIST_ERR_ARCHIVE,
                         "not a tar archive (plain, gzip, zstd or xz): %s",
                         msg);
    }
    if (!name) {
        return error_set(job->err, HOIST_ERR_ARCHIVE, "damaged archive: %s",
                         msg);
    }
    return s_refuse(job, HOIST_ERR_ARCHIVE, name, msg);
}

/* Reports a failure of the disk writer on entry NAME (NULL: while it
 * applied the deferred directory modes at the end). An errno of the
 * system is the disk's answer (ENOSPC becomes NOSPACE); otherwise it is
 * one of libarchive's own security refusals, which admit_entry should
 * have made first. */
static hoist_err_t
s_write_failed(unpack_job_t *job, const char *name)
{
    int e = archive_errno(job->out);
    const char *msg = s_archive_msg(job->out);
    char what[300], q[256];
    if (name) {
        snprintf(what, sizeof what, "entry '%s'", s_quote(name, q, sizeof q));
    } else {
        snprintf(what, sizeof what, "finishing directories");
    }
    if (s_os_errno(e)) {
        return error_errno(job->err, error_from_errno(e), e, "%s: %s", what,
                           msg);
    }
    return error_set(job->err, HOIST_ERR_ARCHIVE,
                     "%s: refused by the disk writer: %s", what, msg);
}

/* Opens the reader on FD with the tar formats and the four filters only:
 * anything else (a zip renamed .tar.gz) fails at the first header. Each
 * filter must be built in: libarchive would otherwise run an external
 * program, and the agent forks nothing it was not configured to run. */
static hoist_err_t
s_open_reader(unpack_job_t *job, int fd)
{
    struct archive *a = job->in = archive_read_new();
    if (!a) {
        return error_set(job->err, HOIST_ERR_NOMEM, "archive_read_new");
    }
    /* "tar" reads ustar, pax and GNU tar; "gnutar" is an alias of it. */
    if (archive_read_support_format_tar(a) != ARCHIVE_OK ||
        archive_read_support_filter_none(a) != ARCHIVE_OK ||
        archive_read_support_filter_gzip(a) != ARCHIVE_OK ||
        archive_read_support_filter_zstd(a) != ARCHIVE_OK ||
        archive_read_support_filter_xz(a) != ARCHIVE_OK) {
        return error_set(job->err, HOIST_ERR_ARCHIVE,
                         "libarchive lacks built-in tar/gzip/zstd/xz: %s",
                         s_archive_msg(a));
    }
    if (archive_read_open_fd(a, fd, READ_BLOCK) != ARCHIVE_OK) {
        return s_read_failed(job, NULL);
    }
    return HOIST_OK;
}

/* Opens the disk writer. Owners, ACLs, xattrs and file flags are never
 * restored (their flags are absent). ARCHIVE_EXTRACT_PERM applies the
 * modes computed by s_perm exactly, whatever the process umask.
 * ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS cannot be set: the paths given
 * to the writer are absolute by construction (the staging directory's
 * real path in front); absolute names in the archive are refused by
 * admit_entry before that. */
static hoist_err_t
s_open_writer(unpack_job_t *job)
{
    job->out = archive_write_disk_new();
    if (!job->out) {
        return error_set(job->err, HOIST_ERR_NOMEM, "archive_write_disk_new");
    }
    int flags = ARCHIVE_EXTRACT_SECURE_SYMLINKS |
                ARCHIVE_EXTRACT_SECURE_NODOTDOT | ARCHIVE_EXTRACT_NO_OVERWRITE |
                ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME;
    if (archive_write_disk_set_options(job->out, flags) != ARCHIVE_OK) {
        return error_set(job->err, HOIST_ERR_IO, "archive_write_disk: %s",
                         s_archive_msg(job->out));
    }
    return HOIST_OK;
}

/* The mode an admitted entry gets on disk: the archive's bits without
 * group/other write, plus u+rw (u+rwx for a directory) so that the agent
 * can always remove the release it unpacked. */
static unsigned
s_perm(unsigned type, unsigned mode)
{
    unsigned perm = mode & 0755;
    return type == S_IFDIR ? perm | 0700 : perm | 0600;
}

/* Whether UNPACKED bytes from PACKED compressed ones is past MAX_RATIO. */
static bool
s_ratio_exceeded(uint64_t unpacked, uint64_t packed, uint64_t max_ratio)
{
    uint64_t bound;
    if (unpacked <= RATIO_FLOOR) {
        return false;
    }
    if (__builtin_mul_overflow(packed, max_ratio, &bound)) {
        return false;
    }
    return unpacked > bound;
}

/* Counts SIZE more bytes of entry NAME against the byte cap and the
 * compression ratio, before they are written. The compressed side is what
 * the reader has consumed from the file so far (never more than the
 * archive's size), so a bomb is stopped early, not at its end. */
static hoist_err_t
s_count_bytes(unpack_job_t *job, const char *name, size_t size)
{
    char why[128];
    job->written += size;
    if (job->written > job->lim->max_bytes) {
        snprintf(why, sizeof why, "release exceeds %llu bytes",
                 (unsigned long long)job->lim->max_bytes);
        return s_refuse(job, HOIST_ERR_LIMIT, name, why);
    }
    int64_t consumed = archive_filter_bytes(job->in, -1);
    uint64_t packed = consumed > 0 ? (uint64_t)consumed : 0;
    if (job->compressed_size > 0 && packed > job->compressed_size) {
        packed = job->compressed_size;
    }
    if (s_ratio_exceeded(job->written, packed, job->lim->max_ratio)) {
        snprintf(why, sizeof why,
                 "compression ratio above %llu:1 (%llu bytes from %llu)",
                 (unsigned long long)job->lim->max_ratio,
                 (unsigned long long)job->written, (unsigned long long)packed);
        return s_refuse(job, HOIST_ERR_LIMIT, name, why);
    }
    return HOIST_OK;
}

/* Streams the data of the current regular file, block by block. */
static hoist_err_t
s_copy_data(unpack_job_t *job, const char *name)
{
    for (;;) {
        const void *buf;
        size_t size;
        int64_t offset;
        int r = archive_read_data_block(job->in, &buf, &size, &offset);
        if (r == ARCHIVE_EOF) {
            return HOIST_OK;
        }
        if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
            return s_read_failed(job, name);
        }
        hoist_err_t rc = s_count_bytes(job, name, size);
        if (rc != HOIST_OK) {
            return rc;
        }
        if (archive_write_data_block(job->out, buf, size, offset) !=
            ARCHIVE_OK) {
            return s_write_failed(job, name);
        }
    }
}

/* Checks the caps that a header alone can break: the entry count (the
 * headers read, and the objects that will exist on disk, implied parent
 * directories included) and the bytes a regular file announces. */
static hoist_err_t
s_check_header_caps(unpack_job_t *job, struct archive_entry *entry,
                    const char *name)
{
    char why[96];
    if (job->entries > job->lim->max_entries ||
        admit_seen_count(job->seen) > job->lim->max_entries) {
        snprintf(why, sizeof why, "archive has more than %llu entries",
                 (unsigned long long)job->lim->max_entries);
        return s_refuse(job, HOIST_ERR_LIMIT, name, why);
    }
    if (archive_entry_filetype(entry) != AE_IFREG) {
        return HOIST_OK;
    }
    int64_t size = archive_entry_size(entry);
    job->declared += size > 0 ? (uint64_t)size : 0;
    if (size < 0 || job->declared > job->lim->max_bytes) {
        snprintf(why, sizeof why, "release exceeds %llu bytes",
                 (unsigned long long)job->lim->max_bytes);
        return s_refuse(job, HOIST_ERR_LIMIT, name, why);
    }
    return HOIST_OK;
}

/* Rewrites an admitted entry for the disk writer: the path under the
 * staging directory (also left in FULL), the masked mode, and no
 * metadata we never restore. */
static hoist_err_t
s_rewrite(unpack_job_t *job, struct archive_entry *entry, const char *norm,
          const char *name, char full[PATH_MAX])
{
    int n = snprintf(full, PATH_MAX, "%s/%s", job->root, norm);
    /* Shorter than PATH_MAX also keeps libarchive from chdir()ing down
     * a deep path (its edit_deep_directories). */
    if (n < 0 || n >= PATH_MAX) {
        return s_refuse(job, HOIST_ERR_ARCHIVE, name, "path too long");
    }
    unsigned type = archive_entry_filetype(entry);
    archive_entry_copy_pathname(entry, full);
    if (type != AE_IFLNK) {
        archive_entry_set_perm(entry, s_perm(type, archive_entry_perm(entry)));
    }
    archive_entry_acl_clear(entry);
    archive_entry_xattr_clear(entry);
    archive_entry_set_fflags(entry, 0, 0);
    /* admit_entry refused every hard link. Dropping the field anyway
     * means a regression there cannot make the writer link to an
     * absolute target such as /etc/passwd: it would take one, since
     * SECURE_NOABSOLUTEPATHS cannot be set (see s_open_writer). */
    archive_entry_set_hardlink(entry, NULL);
    return HOIST_OK;
}

/* Writes the rewritten entry at FULL, data included. A regular file cut
 * short by a refusal or a full disk is removed: libarchive would pad it
 * out to its declared size when the writer closes, so a 1 GiB bomb would
 * stay behind as a 1 GiB (sparse) file. */
static hoist_err_t
s_write_entry(unpack_job_t *job, struct archive_entry *entry, const char *name,
              const char *full)
{
    bool regular = archive_entry_filetype(entry) == AE_IFREG;
    if (archive_write_header(job->out, entry) != ARCHIVE_OK) {
        return s_write_failed(job, name);
    }
    hoist_err_t rc = regular ? s_copy_data(job, name) : HOIST_OK;
    if (rc == HOIST_OK && archive_write_finish_entry(job->out) != ARCHIVE_OK) {
        rc = s_write_failed(job, name);
    }
    if (rc != HOIST_OK && regular) {
        unlink(full);
    }
    return rc;
}

/* Admits, records and writes one entry. */
static hoist_err_t
s_entry(unpack_job_t *job, struct archive_entry *entry)
{
    const char *name = archive_entry_pathname(entry);
    unsigned type = archive_entry_filetype(entry);
    char norm[PATH_MAX], full[PATH_MAX];
    job->entries++;
    if (!name) {
        return s_refuse(job, HOIST_ERR_ARCHIVE, NULL, "unreadable name");
    }
    const char *why =
        admit_entry(job->seen, name, type, archive_entry_perm(entry),
                    archive_entry_symlink(entry), archive_entry_hardlink(entry),
                    norm, sizeof norm);
    if (why) {
        return s_refuse(job, HOIST_ERR_ARCHIVE, name, why);
    }
    /* NAME points into ENTRY, which s_rewrite changes: keep a copy. */
    char *shown = strdup(name);
    if (!shown || admit_seen_add(job->seen, norm, type) != HOIST_OK) {
        free(shown);
        return error_set(job->err, HOIST_ERR_NOMEM, "unpack: out of memory");
    }
    hoist_err_t rc = s_check_header_caps(job, entry, shown);
    /* The root itself ("./") needs nothing: the staging dir exists. */
    if (rc == HOIST_OK && norm[0] != '\0') {
        rc = s_rewrite(job, entry, norm, shown, full);
        if (rc == HOIST_OK) {
            rc = s_write_entry(job, entry, shown, full);
        }
    }
    free(shown);
    return rc;
}

/* Resolves DIR, which must be an existing directory. */
static hoist_err_t
s_open_root(unpack_job_t *job, const char *dir)
{
    struct stat st;
    job->root = realpath(dir, NULL);
    if (!job->root) {
        return error_errno(job->err, error_from_errno(errno), errno,
                           "unpack into %s", dir);
    }
    if (stat(job->root, &st) != 0 || !S_ISDIR(st.st_mode)) {
        return error_set(job->err, HOIST_ERR_IO,
                         "unpack into %s: not a directory", dir);
    }
    return HOIST_OK;
}

/* Reads every header and extracts each entry, stopping at the first
 * refusal. */
static hoist_err_t
s_run(unpack_job_t *job)
{
    for (;;) {
        struct archive_entry *entry;
        int r = archive_read_next_header(job->in, &entry);
        if (r == ARCHIVE_EOF) {
            return HOIST_OK;
        }
        /* WARN is a header oddity (a name in another charset); the entry
         * is still judged by admit_entry like any other. */
        if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
            return s_read_failed(job, NULL);
        }
        hoist_err_t rc = s_entry(job, entry);
        if (rc != HOIST_OK) {
            return rc;
        }
    }
}

hoist_err_t
unpack_archive(int fd, uint64_t compressed_size, const char *dir,
               const unpack_limits_t *lim, hoist_error_t *err)
{
    unpack_job_t job = {
        .lim = lim, .compressed_size = compressed_size, .err = err};
    hoist_err_t rc = s_open_root(&job, dir);
    if (rc == HOIST_OK) {
        job.seen = admit_seen_new();
        rc = job.seen ? HOIST_OK
                      : error_set(err, HOIST_ERR_NOMEM, "admit_seen_new");
    }
    if (rc == HOIST_OK) {
        rc = s_open_writer(&job);
    }
    if (rc == HOIST_OK) {
        rc = s_open_reader(&job, fd);
    }
    if (rc == HOIST_OK) {
        rc = s_run(&job);
    }
    /* Closing the writer applies the deferred directory modes and times;
     * its failure is the disk's. */
    if (rc == HOIST_OK && archive_write_close(job.out) != ARCHIVE_OK) {
        rc = s_write_failed(&job, NULL);
    }
    archive_read_free(job.in);
    archive_write_free(job.out);
    admit_seen_destroy(&job.seen);
    free(job.root);
    return rc;
}
