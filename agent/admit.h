/*
 * admit: the pure decision of which archive entries may exist in a
 * release, and the set of paths an archive has used so far.
 *
 * unpack asks admit_entry about every entry before libarchive writes
 * anything; admit_entry looks only at the entry (name, type, mode, link
 * target) and at the seen set, never at the disk, so every rule is tested
 * without files. Admitted: regular files, directories, and symlinks whose
 * target stays inside the release ("..": only leading, never past the
 * root). Refused: "..", absolute paths, empty or over-long names, control
 * characters and invalid UTF-8, hard links, devices, FIFOs, sockets,
 * setuid/setgid/sticky bits, anything below an earlier symlink or file,
 * and a path used twice.
 */
#ifndef HOIST_ADMIT_H
#define HOIST_ADMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

typedef struct admit_seen admit_seen_t;

/* A new, empty set of the paths an archive has used; NULL when out of
 * memory. The caller owns it. */
admit_seen_t *admit_seen_new(void);

/* Frees *P (NULL is fine) and sets it to NULL. */
void admit_seen_destroy(admit_seen_t **p);

/* Records the admitted, normalized PATH as an entry of TYPE (S_IFREG,
 * S_IFDIR, S_IFLNK), and its parents as directories. HOIST_ERR_NOMEM
 * when out of memory. */
hoist_err_t admit_seen_add(admit_seen_t *seen, const char *path, unsigned type);

/* How many objects SEEN holds, parents implied by a path included. */
uint64_t admit_seen_count(const admit_seen_t *seen);

/* Decides whether an archive entry may be extracted, without touching
 * the disk. NAME is the path as stored, TYPE its S_IF* type, MODE its
 * permission bits, TARGET its symlink target (or NULL), HARDLINK its hard
 * link target (NULL unless it is one). Returns NULL and writes the
 * normalized relative path to NORM ("" for the release root), or returns
 * a static sentence saying why the entry is refused (NORM then holds
 * nothing useful). SEEN is not changed: record an admitted entry with
 * admit_seen_add. */
const char *admit_entry(const admit_seen_t *seen, const char *name,
                        unsigned type, unsigned mode, const char *target,
                        const char *hardlink, char *norm, size_t normsz);

/* True when S is well-formed UTF-8 (for quoting names in messages). */
bool admit_is_utf8(const char *s);

#endif
