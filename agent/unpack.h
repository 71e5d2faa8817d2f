/*
 * unpack: extracts a release archive (tar, plain or gzip/zstd/xz) into a
 * fresh staging directory, admitting only what a release may contain.
 *
 * Admitted: regular files, directories, and symlinks whose target, resolved
 * lexically from the link's own directory, stays inside the release. Refused,
 * with the entry's name in the message: "..", absolute paths, hard links,
 * device nodes, FIFOs, sockets, setuid/setgid/sticky bits, entries below a
 * symlink (writes through a link), a path seen twice, non-tar formats (a
 * zip renamed .tar.gz), and archives past the caps on total bytes, entry
 * count or compression ratio. Owners and extended attributes in the archive
 * are ignored; files get the mode bits of the archive masked to 0755/0644
 * style (u+rw always kept so the agent can prune its own releases).
 */
#ifndef HOIST_UNPACK_H
#define HOIST_UNPACK_H

#include <stdint.h>

#include "error.h"

typedef struct {
    uint64_t max_bytes;   /* total bytes of regular files */
    uint64_t max_entries; /* entries of any kind */
    uint64_t max_ratio;   /* unpacked bytes per compressed byte */
} unpack_limits_t;

/* Fills LIM with the defaults: 8 GiB, 100000 entries, ratio 200. */
void unpack_limits_default(unpack_limits_t *lim);

/* Extracts the archive readable from FD (positioned at its start, holding
 * COMPRESSED_SIZE bytes) into DIR, an existing empty directory. Returns
 * HOIST_OK, HOIST_ERR_ARCHIVE (malformed or unsafe entry), HOIST_ERR_LIMIT
 * (a cap), or HOIST_ERR_IO/NOSPACE (the disk refused). On failure DIR may
 * hold a partial tree, never anything outside it: the caller removes DIR. */
hoist_err_t unpack_archive(int fd, uint64_t compressed_size, const char *dir,
                           const unpack_limits_t *lim, hoist_error_t *err);

#endif
