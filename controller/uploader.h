/*
 * uploader: the artifact store's upload sessions, run in a zactor so
 * that hashing each chunk and fsyncing a committed artifact never hold
 * the controller's loop.
 *
 *   loop (api)                         uploader actor (own artifacts_t)
 *   uploader_begin(cookie, ...)  --->  verify manifest, check notes, open
 *   uploader_chunk(cookie, ...)  --->  pwrite + hash
 *   uploader_commit(cookie, ...) --->  size/digest check, fsync, rename
 *   uploader_recv() <-- answer ------  (cookie, outcome, what was made)
 *
 * The caller sends a request and goes on; each request gets exactly one
 * answer, in order, carrying back the caller's COOKIE (the API keeps the
 * client's routing id and request id there). The actor keeps the release
 * notes of each open session and hands them back at commit, so a release
 * is recorded with the notes its manifest signed, and it drops sessions
 * (and their notes) left idle for ARTIFACTS_IDLE_MS.
 *
 * The pipe to the actor holds at most UPLOADER_QUEUE requests: a request
 * beyond that is refused at once with BUSY rather than block the loop or
 * let a client that does not wait for answers fill the controller's
 * memory.
 */
#ifndef HOIST_UPLOADER_H
#define HOIST_UPLOADER_H

#include <czmq.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "artifacts.h"
#include "error.h"
#include "keys.h"
#include "manifest.h"

#define UPLOADER_QUEUE      16  /* requests waiting for the actor */
#define UPLOADER_COOKIE_MAX 512 /* bytes of a caller's cookie */
#define UPLOADER_NOTES_MAX  (64 * 1024)

typedef struct uploader uploader_t;

typedef enum {
    UPLOADER_BEGUN = 1,
    UPLOADER_CHUNKED,
    UPLOADER_COMMITTED,
} uploader_kind_t;

/* One answer from the actor. Fields beyond KIND, COOKIE and ERR are set
 * only when ERR.code is HOIST_OK. */
typedef struct {
    uploader_kind_t kind;
    uint8_t cookie[UPLOADER_COOKIE_MAX];
    size_t cookie_len;
    hoist_error_t err;
    char id[ARTIFACTS_ID_SIZE];
    uint64_t received;     /* CHUNKED: bytes stored so far */
    manifest_t *manifest;  /* BEGUN, COMMITTED: parsed, the answer's */
    uint8_t *signed_bytes; /* COMMITTED: the SignedManifest */
    size_t signed_len;
    char *notes;        /* COMMITTED: the notes given at begin, "" if none */
    char lifecycle[65]; /* COMMITTED: the lifecycle given at begin, or "" */
} uploader_answer_t;

/* Starts the actor, which opens its own artifact store in DATA_DIR. Open
 * the loop's artifacts_t (for reads) first: opening a store removes
 * leftover uploads. NULL with the store's error on failure. */
uploader_t *uploader_new(const char *data_dir, hoist_error_t *err);

/* Stops the actor (open uploads are aborted, their files removed), frees
 * the object and sets *P to NULL. Accepts NULL and *P == NULL. */
void uploader_destroy(uploader_t **p);

/* The socket that becomes readable when an answer is waiting; give it to
 * zloop_reader and call uploader_recv from the handler. */
zsock_t *uploader_sock(uploader_t *u);

/* Asks the actor to verify the LEN bytes of a SignedManifest against the
 * N keys of TRUSTED, check that NOTES (NULL or "" for none) hash to the
 * digest the manifest signed, and open a session. LIFECYCLE (NULL or ""
 * for the default; at most 64 bytes) comes back with the commit. The answer is
 * BEGUN with the session id and the manifest, or the refusal of
 * artifacts_begin, or MANIFEST for notes that do not match. Returns BUSY
 * (queue full), LIMIT (cookie or notes too long) or NOMEM without asking. */
hoist_err_t uploader_begin(uploader_t *u, const void *cookie, size_t cookie_len,
                           const uint8_t *manifest, size_t len,
                           const char *notes, const char *lifecycle,
                           const keys_public_t *trusted, size_t n,
                           hoist_error_t *err);

/* Asks the actor to store LEN bytes of DATA at OFFSET of upload ID; the
 * answer is CHUNKED or the refusal of artifacts_chunk. Returns BUSY,
 * LIMIT or NOMEM without asking. */
hoist_err_t uploader_chunk(uploader_t *u, const void *cookie, size_t cookie_len,
                           const char *id, uint64_t offset, const void *data,
                           size_t len, hoist_error_t *err);

/* Asks the actor to commit upload ID; the answer is COMMITTED with the
 * manifest, the signed bytes and the notes, or artifacts_commit's
 * refusal. Returns BUSY, LIMIT or NOMEM without asking. */
hoist_err_t uploader_commit(uploader_t *u, const void *cookie,
                            size_t cookie_len, const char *id,
                            hoist_error_t *err);

/* Ends upload ID, if open; no answer. */
void uploader_abort(uploader_t *u, const char *id);

/* Receives the next answer: the caller's (uploader_answer_destroy), or
 * NULL when the actor sent something malformed or nothing is waiting. */
uploader_answer_t *uploader_recv(uploader_t *u);

/* Frees an answer and sets *P to NULL. Accepts NULL. */
void uploader_answer_destroy(uploader_answer_t **p);

#endif
