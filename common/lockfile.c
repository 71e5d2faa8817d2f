/*
 * lockfile: see lockfile.h.
 */
#include "lockfile.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

int
lockfile_take(const char *path, const char *busy_msg, hoist_error_t *err)
{
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        error_errno(err, HOIST_ERR_IO, errno, "open %s", path);
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK) {
            error_set(err, HOIST_ERR_BUSY, "%s", busy_msg);
        } else {
            error_errno(err, HOIST_ERR_IO, errno, "lock %s", path);
        }
        close(fd);
        return -1;
    }
    return fd;
}
