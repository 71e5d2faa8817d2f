/*
 * artifacts: the controller's artifact store and its upload sessions.
 *
 * Artifacts live in DATA_DIR/artifacts/HEX, HEX being the lowercase
 * BLAKE2b-256 of their bytes, so a name is a promise about the content.
 * A release reaches the store through an upload session:
 *
 *   begin(SignedManifest) --> session ID, DATA_DIR/uploads/ID.part
 *       |  the manifest is verified against the controller's trusted
 *       |  release keys before anything touches the disk
 *       v
 *   chunk(ID, offset, bytes) x N    appended and hashed as they arrive
 *       |                           (constant memory at any size)
 *       v
 *   commit(ID) --> size and digest checked, fsync, rename to
 *                  artifacts/HEX, fsync of the directory
 *
 *   abort(ID), expire(now) and any failed write or check end a session
 *   and remove its .part.
 *
 * Sessions live in memory only: a restarted controller cannot resume one,
 * so artifacts_open removes every leftover in DATA_DIR/uploads (the client
 * begins again; a release is never half recorded). Everything a peer can
 * push on is capped: ARTIFACTS_UPLOADS_MAX sessions at once, chunks of at
 * most ARTIFACTS_CHUNK_MAX bytes, ARTIFACTS_IDLE_MS of idleness, and an
 * upload must fit in the free space of the data directory (counting what
 * the other sessions still need) when it begins.
 *
 * Agents' fetches read through artifacts_read: bounded preads through a
 * small LRU cache of open descriptors, so serving thousands of chunks of
 * one artifact opens it once.
 *
 * The object is not thread-safe: one owner (the controller's loop, or the
 * actor it hands store I/O to) calls it. It keeps no clock: the caller
 * passes the time to artifacts_expire. No path is built from what a peer
 * sent: upload ids are ours, file names are hex of verified digests.
 */
#ifndef HOIST_ARTIFACTS_H
#define HOIST_ARTIFACTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "digest.h"
#include "error.h"
#include "keys.h"
#include "manifest.h"

#define ARTIFACTS_UPLOADS_MAX 4                   /* sessions at once */
#define ARTIFACTS_CHUNK_MAX   (1024u * 1024u)     /* bytes per chunk/read */
#define ARTIFACTS_IDLE_MS     (10u * 60u * 1000u) /* untouched session */
#define ARTIFACTS_FD_CACHE    8                   /* open artifacts kept */
#define ARTIFACTS_ID_SIZE     17 /* upload id: 16 hex digits and NUL */

typedef struct artifacts artifacts_t;

/* Opens the store in DATA_DIR (which must exist): creates DATA_DIR/artifacts
 * and DATA_DIR/uploads (0700, tightened to 0700 if looser) and removes
 * every leftover upload. NULL with IO (or NOMEM) on failure. The result is
 * the caller's; free it with artifacts_destroy. */
artifacts_t *artifacts_open(const char *data_dir, hoist_error_t *err);

/* Aborts every upload in progress (their .part files are removed), closes
 * cached descriptors, frees the store and sets *P to NULL. Accepts NULL
 * and *P == NULL. */
void artifacts_destroy(artifacts_t **p);

/* --- uploads ------------------------------------------------------------ */

/* Verifies the LEN bytes of a SignedManifest against the N release keys of
 * TRUSTED, then opens an upload session for its artifact. On success
 * writes the session's id to ID_OUT and, when MANIFEST_OUT is not NULL,
 * a parsed manifest of the caller's own (free it with manifest_destroy)
 * there, e.g. to refuse an APP VERSION the store already has before any
 * byte is sent. Failures, none of which leaves a file behind:
 * UNTRUSTED (the message names `hoist trust add`), SIGNATURE, MANIFEST
 * from verification; BUSY when ARTIFACTS_UPLOADS_MAX sessions are open;
 * NOSPACE when the artifact would not fit in the free space; IO, NOMEM. */
hoist_err_t artifacts_begin(artifacts_t *a, const uint8_t *manifest, size_t len,
                            const keys_public_t *trusted, size_t n,
                            char id_out[ARTIFACTS_ID_SIZE],
                            manifest_t **manifest_out, hoist_error_t *err);

/* Appends the LEN bytes of DATA at OFFSET to upload ID and hashes them.
 * Refusals that leave the session as it was: NOTFOUND (no such session:
 * never begun, finished or expired), LIMIT (LEN over ARTIFACTS_CHUNK_MAX),
 * PROTOCOL (OFFSET is not the number of bytes received so far; the message
 * gives both), SIZE (the bytes would exceed the manifest's size). A failed
 * write (NOSPACE, IO) ends the session and removes its file. */
hoist_err_t artifacts_chunk(artifacts_t *a, const char *id, uint64_t offset,
                            const void *data, size_t len, hoist_error_t *err);

/* Finishes upload ID: its size and BLAKE2b-256 must equal the manifest's
 * (else SIZE or DIGEST). The file is fsynced and renamed to
 * artifacts/HEX, replacing any file of that name (the new one is
 * verified, the old one is not known to be), and the directory is
 * fsynced. The session ends whatever the outcome; on failure its file is
 * removed. Returns the parsed manifest, the caller's (manifest_destroy),
 * and, when SIGNED_OUT is not NULL, a malloc'd copy of the SignedManifest
 * bytes given to artifacts_begin in *SIGNED_OUT / *SIGNED_LEN (what the
 * store records with the release). NULL with NOTFOUND, SIZE, DIGEST,
 * NOSPACE, IO or NOMEM. */
manifest_t *artifacts_commit(artifacts_t *a, const char *id,
                             uint8_t **signed_out, size_t *signed_len,
                             hoist_error_t *err);

/* True while upload ID is open (begun, not committed, aborted, failed or
 * expired). */
bool artifacts_upload_open(artifacts_t *a, const char *id);

/* Ends upload ID and removes its file. False when there is no such
 * session. */
bool artifacts_abort(artifacts_t *a, const char *id);

/* Drops every session left untouched for ARTIFACTS_IDLE_MS, with its file;
 * returns how many. NOW_MS is any monotonic millisecond clock
 * (monotime_ms); call it from a timer. A session counts as touched at the
 * first call after its last begin or chunk, so it goes between
 * ARTIFACTS_IDLE_MS and ARTIFACTS_IDLE_MS plus one timer period after its
 * last activity. */
size_t artifacts_expire(artifacts_t *a, uint64_t now_ms);

/* Number of upload sessions open. */
size_t artifacts_uploads(const artifacts_t *a);

/* --- stored artifacts --------------------------------------------------- */

/* Reads up to LEN (at most ARTIFACTS_CHUNK_MAX) bytes of artifact DIGEST
 * from OFFSET into BUF; *GOT is less than LEN only at the end of the
 * artifact (0 at OFFSET == size). NOTFOUND when the artifact is not
 * stored, LIMIT for an oversized LEN, PROTOCOL for an OFFSET past the end,
 * IO. */
hoist_err_t artifacts_read(artifacts_t *a, const uint8_t digest[DIGEST_BYTES],
                           uint64_t offset, size_t len, void *buf, size_t *got,
                           hoist_error_t *err);

/* True when artifact DIGEST is stored. */
bool artifacts_has(artifacts_t *a, const uint8_t digest[DIGEST_BYTES]);

/* Writes the size of stored artifact DIGEST to *SIZE; NOTFOUND if it is not
 * stored, IO. */
hoist_err_t artifacts_size(artifacts_t *a, const uint8_t digest[DIGEST_BYTES],
                           uint64_t *size, hoist_error_t *err);

#endif
