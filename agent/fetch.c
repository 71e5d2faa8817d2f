/*
 * fetch: see fetch.h. The window arithmetic comes first and is pure; the
 * file handling below it works through a descriptor of the cache
 * directory, so no path is built from anything but the digest's hex.
 *
 * Chunks are written with pwrite and not fsynced one by one: a crash can
 * leave a .part whose tail was never flushed, but the digest over the
 * whole artifact catches that at fetch_finish, which then removes the
 * .part so that the next attempt starts clean.
 */
#include "fetch.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define FETCH_READ_BUF (128 * 1024)

fetch_opts_t
fetch_opts_resolve(const fetch_opts_t *opts)
{
    fetch_opts_t o = {0};
    if (opts) {
        o = *opts;
    }
    if (o.chunk == 0) {
        o.chunk = FETCH_CHUNK_DEFAULT;
    }
    if (o.chunk > FETCH_CHUNK_MAX) {
        o.chunk = FETCH_CHUNK_MAX;
    }
    if (o.window == 0) {
        o.window = (uint64_t)FETCH_WINDOW_CHUNKS * o.chunk;
    }
    /* One chunk must always fit, or nothing could ever be requested. */
    if (o.window < o.chunk) {
        o.window = o.chunk;
    }
    if (o.window > FETCH_WINDOW_MAX) {
        o.window = FETCH_WINDOW_MAX;
    }
    return o;
}

void
fetch_window_init(fetch_window_t *w, uint64_t size, uint64_t done,
                  const fetch_opts_t *opts)
{
    fetch_opts_t o = fetch_opts_resolve(opts);
    w->size = size;
    w->done = done < size ? done : size;
    w->next = w->done;
    w->chunk = o.chunk;
    w->window = o.window;
}

/* Length of the request that starts at OFFSET. */
static uint64_t
s_piece(const fetch_window_t *w, uint64_t offset)
{
    uint64_t left = w->size - offset;
    return left < w->chunk ? left : w->chunk;
}

size_t
fetch_window_next(fetch_window_t *w, fetch_req_t *out, size_t max)
{
    size_t n = 0;
    while (n < max && w->next < w->size) {
        uint64_t len = s_piece(w, w->next);
        if (fetch_window_outstanding(w) + len > w->window) {
            break;
        }
        out[n].offset = w->next;
        out[n].length = (uint32_t)len;
        w->next += len;
        n++;
    }
    return n;
}

hoist_err_t
fetch_window_check(const fetch_window_t *w, uint64_t offset, size_t len,
                   hoist_error_t *err)
{
    if (w->done == w->next) {
        return error_set(err, HOIST_ERR_PROTOCOL,
                         "unexpected chunk at offset %llu: no request is "
                         "outstanding",
                         (unsigned long long)offset);
    }
    if (offset != w->done) {
        return error_set(err, HOIST_ERR_PROTOCOL,
                         "chunk at offset %llu out of order: the oldest "
                         "request is for offset %llu",
                         (unsigned long long)offset,
                         (unsigned long long)w->done);
    }
    uint64_t want = s_piece(w, w->done);
    if ((uint64_t)len != want) {
        return error_set(err, HOIST_ERR_PROTOCOL,
                         "chunk at offset %llu has %llu bytes where %llu "
                         "were requested",
                         (unsigned long long)offset, (unsigned long long)len,
                         (unsigned long long)want);
    }
    return HOIST_OK;
}

void
fetch_window_commit(fetch_window_t *w)
{
    assert(w->done < w->next);
    w->done += s_piece(w, w->done);
}

void
fetch_window_reset(fetch_window_t *w)
{
    w->next = w->done;
}

uint64_t
fetch_window_outstanding(const fetch_window_t *w)
{
    return w->next - w->done;
}

typedef enum {
    FETCH_RUNNING,
    FETCH_FINISHED,
    FETCH_FAILED,
} fetch_state_t;

struct fetch {
    fetch_window_t w;
    fetch_state_t state;
    uint64_t epoch;
    int dirfd;      /* the cache directory */
    int fd;         /* the .part, or the complete file when cached */
    bool cached;    /* CACHE/<hex> existed at fetch_new */
    digest_t *hash; /* over the .part's bytes [0, w.done) */
    uint8_t digest[DIGEST_BYTES];
    char hex[DIGEST_HEX_LEN];
    char part[DIGEST_HEX_LEN + sizeof FETCH_PART_SUFFIX];
    char path[4096]; /* CACHE/<hex>, what fetch_finish hands out */
    char part_path[4096 + sizeof FETCH_PART_SUFFIX]; /* for messages */
};

/* Opens NAME in the cache directory into *FD and makes sure it is a
 * regular file, never following a symlink; O_NONBLOCK keeps a FIFO
 * planted there from blocking the open. With MISSING_OK a missing NAME is
 * success with *FD = -1. */
static hoist_err_t
s_open(fetch_t *f, const char *name, int flags, bool missing_ok, int *fd,
       hoist_error_t *err)
{
    const char *full = name == f->part ? f->part_path : f->path;
    int d = openat(f->dirfd, name, flags | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK,
                   0600);
    if (d < 0 && errno == ENOENT && missing_ok) {
        *fd = -1;
        return HOIST_OK;
    }
    if (d < 0) {
        return error_errno(err, error_from_errno(errno), errno, "open %s",
                           full);
    }
    struct stat st;
    if (fstat(d, &st) != 0) {
        int saved = errno;
        close(d);
        return error_errno(err, error_from_errno(saved), saved, "stat %s",
                           full);
    }
    if (!S_ISREG(st.st_mode)) {
        close(d);
        return error_set(err, HOIST_ERR_STATE,
                         "%s is not a regular file: remove it", full);
    }
    *fd = d;
    return HOIST_OK;
}

/* Hashes the first HAVE bytes of the .part into f->hash and returns how
 * many could be read (fewer when the file shrank meanwhile). */
static hoist_err_t
s_hash_part(fetch_t *f, uint64_t have, uint64_t *got, hoist_error_t *err)
{
    uint8_t *buf = malloc(FETCH_READ_BUF);
    if (!buf) {
        return error_set(err, HOIST_ERR_NOMEM, "out of memory resuming");
    }
    uint64_t off = 0;
    hoist_err_t rc = HOIST_OK;
    while (off < have) {
        size_t want =
            have - off < FETCH_READ_BUF ? (size_t)(have - off) : FETCH_READ_BUF;
        ssize_t n = pread(f->fd, buf, want, (off_t)off);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            rc = error_errno(err, error_from_errno(errno), errno,
                             "read %s to resume", f->part_path);
            goto out;
        }
        if (n == 0) {
            break;
        }
        digest_update(f->hash, buf, (size_t)n);
        off += (uint64_t)n;
    }
    *got = off;
out:
    free(buf);
    return rc;
}

/* Opens or creates the .part and hashes what it already holds. */
static hoist_err_t
s_open_part(fetch_t *f, const fetch_opts_t *opts, hoist_error_t *err)
{
    hoist_err_t rc = s_open(f, f->part, O_RDWR | O_CREAT, false, &f->fd, err);
    if (rc != HOIST_OK) {
        return rc;
    }
    /* Two fetches of one artifact would write over each other. The lock
     * goes with the descriptor, so a crashed agent leaves none behind. */
    if (flock(f->fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK) {
            return error_set(err, HOIST_ERR_BUSY, "another fetch is writing %s",
                             f->part_path);
        }
        return error_errno(err, HOIST_ERR_IO, errno, "lock %s", f->part_path);
    }
    struct stat st;
    if (fstat(f->fd, &st) != 0) {
        return error_errno(err, error_from_errno(errno), errno, "stat %s",
                           f->part_path);
    }
    uint64_t have = (uint64_t)st.st_size;
    if (have > f->w.size) {
        /* Not a prefix of this artifact: start again. */
        have = 0;
    }
    f->hash = digest_new();
    if (!f->hash) {
        return error_set(err, HOIST_ERR_NOMEM, "out of memory resuming");
    }
    uint64_t got = 0;
    rc = s_hash_part(f, have, &got, err);
    if (rc != HOIST_OK) {
        return rc;
    }
    if ((uint64_t)st.st_size != got && ftruncate(f->fd, (off_t)got) != 0) {
        return error_errno(err, error_from_errno(errno), errno, "truncate %s",
                           f->part_path);
    }
    fetch_window_init(&f->w, f->w.size, got, opts);
    return HOIST_OK;
}

fetch_t *
fetch_new(const char *cache_dir, const uint8_t digest[DIGEST_BYTES],
          uint64_t size, const fetch_opts_t *opts, hoist_error_t *err)
{
    if (size == 0 || size > (uint64_t)INT64_MAX) {
        error_set(err, HOIST_ERR_SIZE, "artifact size %llu is not valid",
                  (unsigned long long)size);
        return NULL;
    }
    fetch_t *f = calloc(1, sizeof *f);
    if (!f) {
        error_set(err, HOIST_ERR_NOMEM, "out of memory starting a fetch");
        return NULL;
    }
    f->fd = -1;
    f->dirfd = -1;
    memcpy(f->digest, digest, DIGEST_BYTES);
    digest_hex(digest, f->hex);
    snprintf(f->part, sizeof f->part, "%s%s", f->hex, FETCH_PART_SUFFIX);
    fetch_window_init(&f->w, size, 0, opts);
    hoist_err_t rc = HOIST_OK;
    if ((size_t)snprintf(f->path, sizeof f->path, "%s/%s", cache_dir, f->hex) >=
        sizeof f->path) {
        rc = error_set(err, HOIST_ERR_USAGE, "cache path %s is too long",
                       cache_dir);
        goto out;
    }
    snprintf(f->part_path, sizeof f->part_path, "%s%s", f->path,
             FETCH_PART_SUFFIX);
    f->dirfd = open(cache_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (f->dirfd < 0) {
        rc = error_errno(err, error_from_errno(errno), errno,
                         "open cache directory %s", cache_dir);
        goto out;
    }
    rc = s_open(f, f->hex, O_RDONLY, true, &f->fd, err);
    if (rc == HOIST_OK && f->fd >= 0) {
        f->cached = true;
        fetch_window_init(&f->w, size, size, opts);
    } else if (rc == HOIST_OK) {
        rc = s_open_part(f, opts, err);
    }
out:
    if (rc != HOIST_OK) {
        error_prefix(err, "fetch %s", f->hex);
        fetch_destroy(&f);
    }
    return f;
}

void
fetch_destroy(fetch_t **p)
{
    if (!p || !*p) {
        return;
    }
    fetch_t *f = *p;
    if (f->fd >= 0) {
        close(f->fd);
    }
    if (f->dirfd >= 0) {
        close(f->dirfd);
    }
    digest_destroy(&f->hash);
    free(f);
    *p = NULL;
}

size_t
fetch_next(fetch_t *f, fetch_req_t *out, size_t max)
{
    if (f->state != FETCH_RUNNING) {
        return 0;
    }
    return fetch_window_next(&f->w, out, max);
}

/* pwrite until all of DATA is written; errno is kept on failure. */
static int
s_pwrite_all(int fd, const uint8_t *data, size_t len, uint64_t offset)
{
    while (len > 0) {
        ssize_t n = pwrite(fd, data, len, (off_t)offset);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return -1;
        }
        data += n;
        len -= (size_t)n;
        offset += (uint64_t)n;
    }
    return 0;
}

hoist_err_t
fetch_chunk(fetch_t *f, uint64_t offset, const uint8_t *data, size_t len,
            hoist_error_t *err)
{
    if (f->state != FETCH_RUNNING) {
        return error_set(err, HOIST_ERR_PROTOCOL,
                         "fetch %s: chunk at offset %llu after the fetch "
                         "ended",
                         f->hex, (unsigned long long)offset);
    }
    hoist_err_t rc = fetch_window_check(&f->w, offset, len, err);
    if (rc != HOIST_OK) {
        error_prefix(err, "fetch %s", f->hex);
        return rc;
    }
    assert(data || len == 0);
    if (s_pwrite_all(f->fd, data, len, offset) != 0) {
        int saved = errno;
        /* Keep the .part a clean prefix: what was written half way goes. */
        if (ftruncate(f->fd, (off_t)f->w.done) != 0) {
            /* The next write of this chunk overwrites the half; a resume
             * hashes whatever is there, and fetch_finish judges it. */
        }
        return error_errno(err, error_from_errno(saved), saved,
                           "write %s at offset %llu", f->part_path,
                           (unsigned long long)offset);
    }
    digest_update(f->hash, data, len);
    fetch_window_commit(&f->w);
    return HOIST_OK;
}

void
fetch_reset(fetch_t *f)
{
    fetch_window_reset(&f->w);
    f->epoch++;
}

uint64_t
fetch_epoch(const fetch_t *f)
{
    return f->epoch;
}

bool
fetch_complete(const fetch_t *f)
{
    return f->w.done == f->w.size;
}

uint64_t
fetch_received(const fetch_t *f)
{
    return f->w.done;
}

uint64_t
fetch_size(const fetch_t *f)
{
    return f->w.size;
}

uint64_t
fetch_outstanding(const fetch_t *f)
{
    return fetch_window_outstanding(&f->w);
}

/* Ends the fetch as failed: closes and removes NAME, keeps ERR. */
static hoist_err_t
s_fail(fetch_t *f, const char *name, hoist_err_t rc)
{
    close(f->fd);
    f->fd = -1;
    if (unlinkat(f->dirfd, name, 0) != 0 && errno != ENOENT) {
        /* Nothing better to do: the digest check refuses it again. */
    }
    f->state = FETCH_FAILED;
    return rc;
}

/* Compares what was hashed (GOT, N bytes) with what the manifest says,
 * removing NAME on a mismatch. */
static hoist_err_t
s_judge(fetch_t *f, const char *name, const uint8_t got[DIGEST_BYTES],
        uint64_t n, hoist_error_t *err)
{
    char hex[DIGEST_HEX_LEN];
    const char *full = name == f->part ? f->part_path : f->path;
    if (n != f->w.size) {
        error_set(err, HOIST_ERR_SIZE,
                  "artifact %s: %s holds %llu bytes where %llu were "
                  "expected; removed it, fetch it again",
                  f->hex, full, (unsigned long long)n,
                  (unsigned long long)f->w.size);
        return s_fail(f, name, HOIST_ERR_SIZE);
    }
    if (!digest_equal(got, f->digest)) {
        error_set(err, HOIST_ERR_DIGEST,
                  "artifact digest mismatch: expected %s, %s hashes to "
                  "%s; removed it, fetch it again",
                  f->hex, full, digest_hex(got, hex));
        return s_fail(f, name, HOIST_ERR_DIGEST);
    }
    return HOIST_OK;
}

/* The complete file was there before: hash it again. */
static hoist_err_t
s_finish_cached(fetch_t *f, hoist_error_t *err)
{
    uint8_t got[DIGEST_BYTES];
    uint64_t n = 0;
    if (lseek(f->fd, 0, SEEK_SET) != 0) {
        f->state = FETCH_FAILED;
        return error_errno(err, HOIST_ERR_IO, errno, "seek %s", f->path);
    }
    hoist_err_t rc = digest_fd(f->fd, got, &n, err);
    if (rc != HOIST_OK) {
        f->state = FETCH_FAILED;
        return rc;
    }
    rc = s_judge(f, f->hex, got, n, err);
    if (rc != HOIST_OK) {
        return rc;
    }
    /* A .part left beside a complete file is stale. */
    (void)unlinkat(f->dirfd, f->part, 0);
    return HOIST_OK;
}

/* The .part is complete: make it durable, check it, publish it. */
static hoist_err_t
s_finish_part(fetch_t *f, hoist_error_t *err)
{
    uint8_t got[DIGEST_BYTES];
    struct stat st;
    if (fsync(f->fd) != 0) {
        f->state = FETCH_FAILED;
        return error_errno(err, error_from_errno(errno), errno, "fsync %s",
                           f->part_path);
    }
    if (fstat(f->fd, &st) != 0) {
        f->state = FETCH_FAILED;
        return error_errno(err, error_from_errno(errno), errno, "stat %s",
                           f->part_path);
    }
    digest_final(f->hash, got);
    hoist_err_t rc = s_judge(f, f->part, got, (uint64_t)st.st_size, err);
    if (rc != HOIST_OK) {
        return rc;
    }
    if (renameat(f->dirfd, f->part, f->dirfd, f->hex) != 0) {
        f->state = FETCH_FAILED;
        return error_errno(err, error_from_errno(errno), errno,
                           "rename %s to %s", f->part_path, f->path);
    }
    if (fsync(f->dirfd) != 0) {
        f->state = FETCH_FAILED;
        return error_errno(err, error_from_errno(errno), errno,
                           "fsync cache directory of %s", f->path);
    }
    return HOIST_OK;
}

hoist_err_t
fetch_finish(fetch_t *f, char *path, size_t len, hoist_error_t *err)
{
    if (f->state != FETCH_RUNNING) {
        return error_set(err, HOIST_ERR_STATE, "fetch %s is already over",
                         f->hex);
    }
    if (!fetch_complete(f)) {
        return error_set(err, HOIST_ERR_STATE,
                         "fetch %s is not complete: %llu of %llu bytes", f->hex,
                         (unsigned long long)f->w.done,
                         (unsigned long long)f->w.size);
    }
    if (strlen(f->path) >= len) {
        return error_set(err, HOIST_ERR_USAGE,
                         "fetch %s: no room for the path %s", f->hex, f->path);
    }
    hoist_err_t rc =
        f->cached ? s_finish_cached(f, err) : s_finish_part(f, err);
    if (rc != HOIST_OK) {
        return rc;
    }
    close(f->fd);
    f->fd = -1;
    f->state = FETCH_FINISHED;
    memcpy(path, f->path, strlen(f->path) + 1);
    return HOIST_OK;
}
