/*
 * atomicfile: files and links that change all at once or not at all.
 *
 * A write goes to a temporary file in the same directory, is fsynced,
 * renamed over the target, and the directory is fsynced, so a crash leaves
 * either the old or the new content, never a mix.
 */
#ifndef HOIST_ATOMICFILE_H
#define HOIST_ATOMICFILE_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* Replaces PATH with LEN bytes of DATA, created with MODE. */
hoist_err_t atomicfile_write(const char *path, const void *data, size_t len,
                             unsigned mode, hoist_error_t *err);

/* Like atomicfile_write but refuses (HOIST_ERR_USAGE, "exists") when PATH
 * already exists: for key files that must never be overwritten. */
hoist_err_t atomicfile_create(const char *path, const void *data, size_t len,
                              unsigned mode, hoist_error_t *err);

/* Points the symlink LINKPATH at TARGET by renaming a temporary link over
 * it (rename(2) is atomic), then fsyncs the directory. */
hoist_err_t atomicfile_symlink(const char *target, const char *linkpath,
                               hoist_error_t *err);

/* fsyncs the directory DIR, making renames and unlinks in it durable. */
hoist_err_t atomicfile_sync_dir(const char *dir, hoist_error_t *err);

/* Reads a whole regular file of at most MAX bytes, refusing symlinks.
 * *OUT is malloc'd, owned by the caller, written only on success. */
hoist_err_t atomicfile_read(const char *path, size_t max, uint8_t **out,
                            size_t *len, hoist_error_t *err);

#endif
