/*
 * upload: sends a signed release to the controller (docs/protocol.md):
 *
 *   release.begin   data: the SignedManifest, option notes: the text,
 *                   option lifecycle: the one the release follows
 *                   -> json {upload, size, chunk}
 *   release.chunk   args: UPLOAD, option offset: decimal, data: <= chunk
 *                   bytes, one request per chunk, each acked before the
 *                   next, offsets following each other from 0
 *   release.commit  args: UPLOAD -> the release is recorded
 *
 * The artifact is read through one buffer of at most UPLOAD_CHUNK_MAX
 * bytes, so the CLI's memory does not grow with the artifact's size.
 */
#ifndef HOIST_UPLOAD_H
#define HOIST_UPLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "client.h"
#include "error.h"

#define UPLOAD_CHUNK_MAX (1024 * 1024)

/* Uploads the artifact at PATH with the SignedManifest MANIFEST (LEN
 * bytes), the release NOTES (text, or NULL) and the LIFECYCLE it is to
 * follow (or NULL: the pipeline file's first). PROGRESS prints a live
 * percentage on stderr (for a terminal). Sets *REPLY (the caller's) to the
 * controller's last answer: release.commit's, or the first one whose exit
 * is not 0 (a refused manifest, an out-of-order chunk), and returns
 * HOIST_OK; fails with the client's error (timeout, refusal) or
 * HOIST_ERR_USAGE when PATH cannot be read, HOIST_ERR_PROTOCOL when
 * release.begin's json has no upload id. */
hoist_err_t upload_release(client_t *client, const uint8_t *manifest,
                           size_t len, const char *notes, const char *lifecycle,
                           const char *path, bool progress,
                           client_reply_t **reply, hoist_error_t *err);

#endif
