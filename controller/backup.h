/*
 * backup: the controller's data directory as one tar file, and back.
 *
 * A backup holds what cannot be made again: controller.db (a consistent
 * copy taken with SQLite's online backup API, so the controller may keep
 * running and writing), keys/ (its CURVE certificates and the first
 * admin's), controller.conf and artifacts/ (content-addressed and
 * immutable, each hashed on the way in). uploads/ (transient) and
 * cli.conf (written again by `run`) are left out. The archive is a pax
 * tar written to a temporary file beside the target, fsynced and renamed,
 * with mode 0600: it holds the controller's secret key.
 *
 * A restore trusts nothing in the archive. It refuses unsafe paths
 * (absolute, `..`), links and devices, and any entry a backup never
 * holds; it checks every artifact against its name and that the database
 * opens (store_open migrates an older one) and the directory would start
 * (controller_check). All of that happens in DIR.restore-XXXXXX beside
 * DIR, which is renamed onto DIR only at the end: a refused or failed
 * restore leaves DIR as it was.
 */
#ifndef HOIST_BACKUP_H
#define HOIST_BACKUP_H

#include <stdbool.h>

#include "error.h"

/* Writes a backup of the data directory DATA_DIR to OUT (replacing OUT if
 * it exists, atomically). Fails with IO (a file that cannot be read or
 * written, the message names it), NOSPACE, STATE (DATA_DIR is not a
 * controller's, or its database cannot be copied), DIGEST (an artifact
 * whose bytes do not match its name: the store is corrupt), BUSY (the
 * database stayed locked), NOMEM. On failure OUT is untouched and no
 * temporary file is left. */
hoist_err_t backup_create(const char *data_dir, const char *out,
                          hoist_error_t *err);

typedef struct {
    bool force; /* replace a non-empty DATA_DIR (kept aside, see below) */
    /* Written on success when FORCE replaced a non-empty directory: where
     * the old one now is (DATA_DIR.before-restore-XXXXXX). "" otherwise. */
    char kept[4096];
} backup_restore_opts_t;

/* Restores the backup FROM into DATA_DIR, which must be missing or empty
 * unless OPTS->force. When DATA_DIR exists, the restored tree takes its
 * mode and, when run as root, its owner (so that a restore run by root
 * hands the packaged controller's directory back to its user). Refusals
 * that leave DATA_DIR untouched: EXISTS (not empty, without force),
 * ARCHIVE (not a tar, an unsafe path, a link, an entry a backup never
 * holds, an entry twice, a required file missing), DIGEST (an artifact
 * does not match its name), STATE (the database does not open or is from
 * a newer Hoist), KEY, USAGE (the restored directory would not start),
 * IO, NOSPACE, NOMEM. */
hoist_err_t backup_restore(const char *from, const char *data_dir,
                           backup_restore_opts_t *opts, hoist_error_t *err);

#endif
