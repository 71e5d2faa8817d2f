/*
 * fetch: the agent's side of one artifact transfer, with credit-based flow
 * control (the zguide "file transfer with credit" pattern).
 *
 * The agent keeps a window of chunk requests in flight, counted in bytes;
 * each chunk that arrives frees credit for the next request, so the
 * controller never sends more than the agent asked for and a slow disk
 * slows the sender instead of filling memory. Chunks arrive in request
 * order over one connection, are written at their offset into
 * CACHE/<hex digest>.part and hashed as they arrive. A .part left by a
 * crash or a lost connection is resumed: its bytes are hashed again and
 * only the missing ones are requested.
 *
 * The module owns no socket. fetch_next says what to request, fetch_chunk
 * accepts what arrived, fetch_reset forgets what was in flight after a
 * disconnect: the daemon's event loop does the I/O, and the tests drive it
 * directly. The window arithmetic is the pure fetch_window_* part, which
 * touches no file.
 *
 *     fetch_new --> RUNNING --fetch_chunk (last byte)--> complete
 *                     ^   |                                 |
 *                     +---+ fetch_next / fetch_chunk /      | fetch_finish
 *                           fetch_reset                     v
 *                                              FINISHED (renamed, durable)
 *                                              or FAILED (digest or size
 *                                              mismatch, .part removed)
 */
#ifndef HOIST_FETCH_H
#define HOIST_FETCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "digest.h"
#include "error.h"

#define FETCH_CHUNK_DEFAULT (256u * 1024u)
#define FETCH_CHUNK_MAX     (1024u * 1024u)
#define FETCH_WINDOW_CHUNKS 8u
#define FETCH_WINDOW_MAX    (64ull * 1024 * 1024)
#define FETCH_PART_SUFFIX   ".part"

/* Zero fields take the defaults: 256 KiB chunks, a window of 8 chunks. */
typedef struct {
    uint32_t chunk;  /* bytes per request, capped at FETCH_CHUNK_MAX */
    uint64_t window; /* bytes in flight, at least one chunk, at most
                        FETCH_WINDOW_MAX */
} fetch_opts_t;

/* One request to send: a FetchRequest for LENGTH bytes at OFFSET. */
typedef struct {
    uint64_t offset;
    uint32_t length;
} fetch_req_t;

/* The pure window state. Requests are issued back to back from NEXT in
 * pieces of CHUNK (the last one shorter) and answered in order, so what is
 * in flight is exactly the bytes [DONE, NEXT) and the oldest outstanding
 * request is the piece that starts at DONE. */
typedef struct {
    uint64_t size;  /* the artifact's size */
    uint64_t done;  /* bytes received, written and hashed, from offset 0 */
    uint64_t next;  /* end of the bytes requested so far */
    uint32_t chunk; /* resolved options */
    uint64_t window;
} fetch_window_t;

/* OPTS (may be NULL) with defaults filled in and limits applied. */
fetch_opts_t fetch_opts_resolve(const fetch_opts_t *opts);

/* Starts W for an artifact of SIZE bytes of which DONE are already held. */
void fetch_window_init(fetch_window_t *w, uint64_t size, uint64_t done,
                       const fetch_opts_t *opts);

/* Writes up to MAX requests into OUT that keep the window full without
 * passing it or the end of the artifact, and counts them as sent. Returns
 * how many were written (0 when the window is full or all is requested). */
size_t fetch_window_next(fetch_window_t *w, fetch_req_t *out, size_t max);

/* Checks that a chunk of LEN bytes at OFFSET answers the oldest
 * outstanding request. Changes nothing; HOIST_ERR_PROTOCOL when it does
 * not (nothing outstanding, another offset, another length). */
hoist_err_t fetch_window_check(const fetch_window_t *w, uint64_t offset,
                               size_t len, hoist_error_t *err);

/* Counts the oldest outstanding request (which fetch_window_check
 * accepted) as received. */
void fetch_window_commit(fetch_window_t *w);

/* Forgets every outstanding request: the next ones start at DONE. */
void fetch_window_reset(fetch_window_t *w);

/* Bytes requested and not yet received. */
uint64_t fetch_window_outstanding(const fetch_window_t *w);

typedef struct fetch fetch_t;

/* Starts (or resumes) fetching the artifact DIGEST of SIZE bytes into the
 * existing directory CACHE_DIR.
 *
 * When CACHE_DIR/<hex> exists the fetch is complete at once (fetch_finish
 * still verifies it). Otherwise CACHE_DIR/<hex>.part is opened or created
 * (0600, never through a symlink); its bytes are hashed (this reads the
 * whole .part: call it off the event loop when the .part can be big) and
 * the fetch continues at its length. A .part longer than SIZE is emptied
 * and started again. OPTS may be NULL.
 *
 * The .part is locked (flock) while the fetch lives.
 *
 * Returns NULL with ERR set on failure: HOIST_ERR_SIZE for a zero size,
 * HOIST_ERR_BUSY when another fetch holds the .part, HOIST_ERR_STATE when
 * a cache entry is not a regular file, I/O errors mapped by
 * error_from_errno. The caller owns the result. */
fetch_t *fetch_new(const char *cache_dir, const uint8_t digest[DIGEST_BYTES],
                   uint64_t size, const fetch_opts_t *opts, hoist_error_t *err);

/* Closes the file and frees *P; sets *P to NULL; accepts NULL. An
 * unfinished .part stays on disk for a later resume. */
void fetch_destroy(fetch_t **p);

/* Writes up to MAX requests to send now into OUT (see fetch_window_next);
 * 0 once everything is requested, the window is full or the fetch is
 * over. Every request written must be sent, in order. */
size_t fetch_next(fetch_t *f, fetch_req_t *out, size_t max);

/* Accepts LEN bytes of DATA at OFFSET: they must answer the oldest
 * outstanding request exactly, or nothing is written and
 * HOIST_ERR_PROTOCOL is returned (the stream is out of step). The
 * data is written at OFFSET and hashed. When the write fails the .part is
 * cut back to its last good length, the request stays outstanding, and
 * the error is mapped by error_from_errno (ENOSPC is HOIST_ERR_NOSPACE). */
hoist_err_t fetch_chunk(fetch_t *f, uint64_t offset, const uint8_t *data,
                        size_t len, hoist_error_t *err);

/* The connection was lost: forgets the outstanding requests, so the next
 * fetch_next starts again from the bytes written, and moves to the next
 * epoch. */
void fetch_reset(fetch_t *f);

/* Starts at 0 and grows by one at each fetch_reset. The daemon can tag its
 * requests with it (Envelope.id) and drop a late answer to a request of an
 * earlier epoch instead of reporting it as a protocol error. */
uint64_t fetch_epoch(const fetch_t *f);

/* True when every byte has been received (fetch_finish comes next). */
bool fetch_complete(const fetch_t *f);

/* Bytes received and written so far, including a resumed .part. */
uint64_t fetch_received(const fetch_t *f);

/* The artifact's size, as given to fetch_new. */
uint64_t fetch_size(const fetch_t *f);

/* Bytes requested and not yet received. */
uint64_t fetch_outstanding(const fetch_t *f);

/* Ends a complete fetch: fsyncs the .part, checks its size and digest,
 * renames it to CACHE_DIR/<hex> and fsyncs the directory, then writes that
 * path into PATH (LEN bytes). A complete file found by fetch_new is hashed
 * again instead. On a digest or size mismatch the file is removed and
 * HOIST_ERR_DIGEST (or HOIST_ERR_SIZE) names both digests. HOIST_ERR_STATE
 * when the fetch is not complete or already over; HOIST_ERR_USAGE when
 * PATH is too short. It reads the whole file only in the cached case and
 * fsyncs: call it off the event loop. */
hoist_err_t fetch_finish(fetch_t *f, char *path, size_t len,
                         hoist_error_t *err);

#endif
