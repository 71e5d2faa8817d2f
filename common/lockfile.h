/*
 * lockfile: an exclusive, non-blocking flock(2) on a file, held for as
 * long as its descriptor is open (a crashed holder releases it).
 */
#ifndef HOIST_LOCKFILE_H
#define HOIST_LOCKFILE_H

#include "error.h"

/* Opens (creating, 0600) and locks PATH. Returns the descriptor to keep
 * open while the lock is needed, or -1: HOIST_ERR_BUSY with BUSY_MSG when
 * another process holds it, HOIST_ERR_IO otherwise. */
int lockfile_take(const char *path, const char *busy_msg, hoist_error_t *err);

#endif
