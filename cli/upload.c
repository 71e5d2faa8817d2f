/*
 * upload: see upload.h. The controller's answer to release.begin names
 * the upload and may ask for smaller chunks; anything above
 * UPLOAD_CHUNK_MAX (the protocol's chunk cap) is taken as the cap.
 */
#include "upload.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#define S_ID_MAX 128 /* the longest upload id we accept */

/* One upload in progress. */
typedef struct {
    client_t *client;
    int fd;
    uint64_t size; /* of the file when it was opened */
    char id[S_ID_MAX + 1];
    size_t chunk;
    bool progress;
} s_upload_t;

/* Reads the upload id and chunk size from release.begin's JSON. */
static hoist_err_t
s_parse_begin(s_upload_t *u, const char *text, hoist_error_t *err)
{
    json_t *doc = json_loads(text, 0, NULL);
    json_t *id = json_object_get(doc, "upload");
    json_t *chunk = json_object_get(doc, "chunk");
    hoist_err_t rc = HOIST_OK;
    if (json_is_string(id) && json_string_length(id) > 0 &&
        json_string_length(id) <= S_ID_MAX) {
        snprintf(u->id, sizeof u->id, "%s", json_string_value(id));
    } else if (json_is_integer(id) && json_integer_value(id) >= 0) {
        snprintf(u->id, sizeof u->id, "%" JSON_INTEGER_FORMAT,
                 json_integer_value(id));
    } else {
        rc = error_set(err, HOIST_ERR_PROTOCOL,
                       "release.begin: the controller's answer names no "
                       "upload (json: %.200s)",
                       text);
    }
    u->chunk = UPLOAD_CHUNK_MAX;
    if (json_is_integer(chunk) && json_integer_value(chunk) > 0 &&
        json_integer_value(chunk) < UPLOAD_CHUNK_MAX) {
        u->chunk = (size_t)json_integer_value(chunk);
    }
    json_decref(doc);
    return rc;
}

/* Reads up to LEN bytes into BUF, short only at end of file. */
static hoist_err_t
s_read_full(int fd, uint8_t *buf, size_t len, size_t *got, hoist_error_t *err)
{
    size_t n = 0;
    while (n < len) {
        ssize_t r = read(fd, buf + n, len - n);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0) {
            return error_errno(err, HOIST_ERR_IO, errno, "read the artifact");
        }
        if (r == 0) {
            break;
        }
        n += (size_t)r;
    }
    *got = n;
    return HOIST_OK;
}

/* Prints "uploading: 45%" over itself on stderr. */
static void
s_progress(const s_upload_t *u, uint64_t done)
{
    if (u->progress && u->size > 0) {
        fprintf(stderr, "\ruploading: %3u%% (%" PRIu64 " of %" PRIu64 " bytes)",
                (unsigned)(done * 100 / u->size), done, u->size);
        if (done >= u->size) {
            fputc('\n', stderr);
        }
    }
}

/* Sends the file chunk by chunk. Stops early, with *REPLY set, at the
 * first answer whose exit is not 0. */
static hoist_err_t
s_send_chunks(s_upload_t *u, client_reply_t **reply, hoist_error_t *err)
{
    uint8_t *buf = malloc(u->chunk);
    if (!buf) {
        return error_set(err, HOIST_ERR_NOMEM, "out of memory");
    }
    const char *args[] = {u->id};
    uint64_t offset = 0;
    size_t got = 0;
    hoist_err_t rc;
    while ((rc = s_read_full(u->fd, buf, u->chunk, &got, err)) == HOIST_OK &&
           got > 0) {
        char off[24];
        snprintf(off, sizeof off, "%" PRIu64, offset);
        const char *opts[] = {"offset", off, NULL};
        client_reply_t *r = NULL;
        rc = client_call(u->client, "release.chunk", args, 1, opts, buf, got,
                         &r, err);
        if (rc != HOIST_OK || r->exit != 0) {
            *reply = r;
            if (u->progress && offset > 0) {
                fputc('\n', stderr); /* end the progress line */
            }
            break;
        }
        client_reply_destroy(&r);
        offset += got;
        s_progress(u, offset);
    }
    free(buf);
    return rc;
}

/* Opens PATH for the upload and notes its size. */
static hoist_err_t
s_open(s_upload_t *u, const char *path, hoist_error_t *err)
{
    struct stat st;
    u->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (u->fd < 0) {
        return error_errno(err, HOIST_ERR_USAGE, errno,
                           "cannot read the artifact %s", path);
    }
    if (fstat(u->fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        return error_set(err, HOIST_ERR_USAGE,
                         "the artifact %s is not a regular file", path);
    }
    u->size = (uint64_t)st.st_size;
    return HOIST_OK;
}

/* release.begin; sets *REPLY instead when the controller says no. */
static hoist_err_t
s_begin(s_upload_t *u, const uint8_t *manifest, size_t len, const char *notes,
        const char *lifecycle, client_reply_t **reply, hoist_error_t *err)
{
    const char *opts[5] = {NULL};
    size_t k = 0;
    if (notes) {
        opts[k++] = "notes";
        opts[k++] = notes;
    }
    if (lifecycle) {
        opts[k++] = "lifecycle";
        opts[k++] = lifecycle;
    }
    client_reply_t *r = NULL;
    hoist_err_t rc = client_call(u->client, "release.begin", NULL, 0, opts,
                                 manifest, len, &r, err);
    if (rc == HOIST_OK && r->exit != 0) {
        *reply = r;
        return HOIST_OK;
    }
    if (rc == HOIST_OK) {
        rc = s_parse_begin(u, r->json, err);
    }
    client_reply_destroy(&r);
    return rc;
}

hoist_err_t
upload_release(client_t *client, const uint8_t *manifest, size_t len,
               const char *notes, const char *lifecycle, const char *path,
               bool progress, client_reply_t **reply, hoist_error_t *err)
{
    s_upload_t u = {.client = client, .fd = -1, .progress = progress};
    client_reply_t *r = NULL;
    client_set_timeout(client, CLIENT_UPLOAD_TIMEOUT_MS);
    hoist_err_t rc = s_open(&u, path, err);
    if (rc == HOIST_OK) {
        rc = s_begin(&u, manifest, len, notes, lifecycle, &r, err);
    }
    if (rc == HOIST_OK && !r) {
        rc = s_send_chunks(&u, &r, err);
    }
    if (rc == HOIST_OK && !r) {
        const char *args[] = {u.id};
        rc = client_call(client, "release.commit", args, 1, NULL, NULL, 0, &r,
                         err);
    }
    if (rc == HOIST_OK) {
        *reply = r;
    } else {
        client_reply_destroy(&r);
    }
    if (u.fd >= 0) {
        close(u.fd);
    }
    client_set_timeout(client, CLIENT_TIMEOUT_MS);
    return rc;
}
