/*
 * tree: whole directory trees: removal without following symlinks, and
 * flushing a tree to disk before it is renamed into place.
 */
#ifndef HOIST_TREE_H
#define HOIST_TREE_H

#include "error.h"

/* Removes PATH and everything under it, never following a symlink (a link
 * is removed, not its target). A missing PATH is success. */
hoist_err_t tree_remove(const char *path, hoist_error_t *err);

/* Flushes the file system holding PATH (syncfs), so a tree just written
 * is on disk before it is published by a rename. */
hoist_err_t tree_sync(const char *path, hoist_error_t *err);

/* Creates PATH and missing parents with MODE; existing ones are fine. */
hoist_err_t tree_mkdirs(const char *path, unsigned mode, hoist_error_t *err);

#endif
