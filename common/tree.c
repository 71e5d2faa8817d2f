/*
 * tree: recursive removal with nftw(FTW_PHYS | FTW_DEPTH), so symlinks are
 * unlinked and never followed, and children go before their parents.
 */
#include "tree.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int
s_remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    int rc = (flag == FTW_DP || flag == FTW_D) ? rmdir(path) : unlink(path);
    return (rc == 0 || errno == ENOENT) ? 0 : -1;
}

/* Pre-order pass: give the owner rwx on every directory, so a tree that
 * arrived with 0555 directories can be emptied without root. */
static int
s_open_up(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)ftw;
    if (flag == FTW_D && (st->st_mode & S_IRWXU) != S_IRWXU) {
        chmod(path, (st->st_mode & 07777) | S_IRWXU);
    }
    return 0;
}

hoist_err_t
tree_remove(const char *path, hoist_error_t *err)
{
    struct stat st;
    if (lstat(path, &st) != 0) {
        if (errno == ENOENT) {
            return HOIST_OK;
        }
        return error_errno(err, HOIST_ERR_IO, errno, "stat %s", path);
    }
    if (!S_ISDIR(st.st_mode)) {
        if (unlink(path) != 0 && errno != ENOENT) {
            return error_errno(err, HOIST_ERR_IO, errno, "remove %s", path);
        }
        return HOIST_OK;
    }
    /* A directory left without write permission (an unpacked 0555 dir)
     * must still be removable by its owner. */
    nftw(path, s_open_up, 16, FTW_PHYS | FTW_MOUNT);
    if (nftw(path, s_remove_one, 16, FTW_PHYS | FTW_DEPTH | FTW_MOUNT) != 0) {
        return error_errno(err, HOIST_ERR_IO, errno, "remove tree %s", path);
    }
    return HOIST_OK;
}

hoist_err_t
tree_sync(const char *path, hoist_error_t *err)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        return error_errno(err, HOIST_ERR_IO, errno, "open %s", path);
    }
    int rc = syncfs(fd);
    int saved = errno;
    close(fd);
    if (rc != 0) {
        return error_errno(err, error_from_errno(saved), saved, "sync %s",
                           path);
    }
    return HOIST_OK;
}

/* mkdir that accepts an existing directory, and only a directory. */
static hoist_err_t
s_mkdir(const char *path, unsigned mode, hoist_error_t *err)
{
    struct stat st;
    if (mkdir(path, mode) == 0) {
        return HOIST_OK;
    }
    if (errno != EEXIST) {
        return error_errno(err, error_from_errno(errno), errno, "mkdir %s",
                           path);
    }
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
        return error_set(err, HOIST_ERR_IO,
                         "mkdir %s: it exists and is not a directory", path);
    }
    return HOIST_OK;
}

hoist_err_t
tree_mkdirs(const char *path, unsigned mode, hoist_error_t *err)
{
    char buf[PATH_MAX];
    if (strlen(path) >= sizeof buf) {
        return error_set(err, HOIST_ERR_USAGE, "path too long: %s", path);
    }
    strcpy(buf, path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') {
            continue;
        }
        *p = '\0';
        hoist_err_t rc = s_mkdir(buf, mode, err);
        if (rc != HOIST_OK) {
            return rc;
        }
        *p = '/';
    }
    return s_mkdir(buf, mode, err);
}
