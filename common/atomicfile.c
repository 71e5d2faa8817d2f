/*
 * atomicfile: write-to-temp, fsync, rename, fsync of the directory.
 */
#include "atomicfile.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void
s_dirname(const char *path, char *out, size_t len)
{
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", path);
    snprintf(out, len, "%s", dirname(tmp));
}

hoist_err_t
atomicfile_sync_dir(const char *dir, hoist_error_t *err)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        return error_errno(err, HOIST_ERR_IO, errno, "open directory %s", dir);
    }
    int rc = fsync(fd);
    int saved = errno;
    close(fd);
    if (rc != 0) {
        return error_errno(err, error_from_errno(saved), saved, "fsync %s",
                           dir);
    }
    return HOIST_OK;
}

/* Writes DATA to a fresh temporary file next to PATH and fsyncs it; the
 * temporary's name is left in TMP. */
static hoist_err_t
s_write_temp(const char *path, const void *data, size_t len, unsigned mode,
             char *tmp, size_t tmplen, hoist_error_t *err)
{
    if (snprintf(tmp, tmplen, "%s.tmp-XXXXXX", path) >= (int)tmplen) {
        return error_set(err, HOIST_ERR_USAGE, "path too long: %s", path);
    }
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        return error_errno(err, error_from_errno(errno), errno,
                           "create temporary file for %s", path);
    }
    const char *p = data;
    size_t left = len;
    hoist_err_t rc = HOIST_OK;
    while (left > 0 && rc == HOIST_OK) {
        ssize_t n = write(fd, p, left);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            rc = error_errno(err, error_from_errno(errno), errno, "write %s",
                             tmp);
            break;
        }
        p += n;
        left -= (size_t)n;
    }
    if (rc == HOIST_OK && fchmod(fd, mode) != 0) {
        rc = error_errno(err, HOIST_ERR_IO, errno, "chmod %s", tmp);
    }
    if (rc == HOIST_OK && fsync(fd) != 0) {
        rc = error_errno(err, error_from_errno(errno), errno, "fsync %s", tmp);
    }
    close(fd);
    if (rc != HOIST_OK) {
        unlink(tmp);
    }
    return rc;
}

hoist_err_t
atomicfile_write(const char *path, const void *data, size_t len, unsigned mode,
                 hoist_error_t *err)
{
    char tmp[PATH_MAX], dir[PATH_MAX];
    hoist_err_t rc = s_write_temp(path, data, len, mode, tmp, sizeof tmp, err);
    if (rc != HOIST_OK) {
        return rc;
    }
    if (rename(tmp, path) != 0) {
        rc = error_errno(err, HOIST_ERR_IO, errno, "rename %s", path);
        unlink(tmp);
        return rc;
    }
    s_dirname(path, dir, sizeof dir);
    return atomicfile_sync_dir(dir, err);
}

hoist_err_t
atomicfile_create(const char *path, const void *data, size_t len, unsigned mode,
                  hoist_error_t *err)
{
    char tmp[PATH_MAX], dir[PATH_MAX];
    hoist_err_t rc = s_write_temp(path, data, len, mode, tmp, sizeof tmp, err);
    if (rc != HOIST_OK) {
        return rc;
    }
    /* link(2) fails with EEXIST instead of replacing: no overwrite race. */
    if (link(tmp, path) != 0) {
        int saved = errno;
        unlink(tmp);
        if (saved == EEXIST) {
            return error_set(err, HOIST_ERR_USAGE,
                             "%s already exists; refusing to overwrite it",
                             path);
        }
        return error_errno(err, HOIST_ERR_IO, saved, "create %s", path);
    }
    unlink(tmp);
    s_dirname(path, dir, sizeof dir);
    return atomicfile_sync_dir(dir, err);
}

hoist_err_t
atomicfile_symlink(const char *target, const char *linkpath, hoist_error_t *err)
{
    char tmp[PATH_MAX], dir[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s.tmp-%ld", linkpath, (long)getpid()) >=
        (int)sizeof tmp) {
        return error_set(err, HOIST_ERR_USAGE, "path too long: %s", linkpath);
    }
    unlink(tmp); /* a leftover from a crashed run of the same pid */
    if (symlink(target, tmp) != 0) {
        return error_errno(err, error_from_errno(errno), errno, "symlink %s",
                           tmp);
    }
    if (rename(tmp, linkpath) != 0) {
        int saved = errno;
        unlink(tmp);
        return error_errno(err, HOIST_ERR_IO, saved, "rename %s", linkpath);
    }
    s_dirname(linkpath, dir, sizeof dir);
    return atomicfile_sync_dir(dir, err);
}

hoist_err_t
atomicfile_read(const char *path, size_t max, uint8_t **out, size_t *len,
                hoist_error_t *err)
{
    /* O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused
     * as not regular right after. No effect on regular files. */
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        return error_errno(err, HOIST_ERR_IO, errno, "open %s", path);
    }
    struct stat st;
    hoist_err_t rc = HOIST_OK;
    uint8_t *buf = NULL;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        rc = error_set(err, HOIST_ERR_IO, "%s is not a regular file", path);
        goto out;
    }
    if ((uint64_t)st.st_size > max) {
        rc = error_set(err, HOIST_ERR_LIMIT,
                       "%s is %lld bytes; the limit is %zu", path,
                       (long long)st.st_size, max);
        goto out;
    }
    buf = malloc((size_t)st.st_size + 1);
    if (!buf) {
        rc = error_set(err, HOIST_ERR_NOMEM, "out of memory reading %s", path);
        goto out;
    }
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            rc = error_errno(err, HOIST_ERR_IO, n < 0 ? errno : EIO, "read %s",
                             path);
            goto out;
        }
        got += (size_t)n;
    }
    buf[got] = '\0';
    *out = buf;
    *len = got;
    buf = NULL;
out:
    free(buf);
    close(fd);
    return rc;
}
