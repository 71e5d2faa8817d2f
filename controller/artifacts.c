/*
 * artifacts: see artifacts.h. Both directories are held open as
 * descriptors and every file is reached with the *at() calls, by a name
 * this module made: "ID.part" for an upload (ID from randombytes) and the
 * hex of a verified digest for an artifact.
 *
 * An upload never buffers: each chunk goes from the caller's buffer to
 * pwrite(2) and into the streaming hash, so memory stays the same for a
 * 2 GiB artifact as for a 2 KiB one. Chunks are not fsynced one by one;
 * commit fsyncs the file once before the rename that publishes it.
 */
#include "artifacts.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "hoist.pb-c.h"

#define PART_SUFFIX ".part"
#define ID_BYTES    8 /* random bytes behind a 16-hex-digit upload id */

typedef struct {
    bool used;
    char id[ARTIFACTS_ID_SIZE];
    manifest_t *manifest;
    uint8_t *signed_bytes; /* the SignedManifest, for the store */
    size_t signed_len;
    digest_t *hash; /* over the bytes received so far */
    int fd;         /* uploads/ID.part */
    uint64_t received;
    bool touched;     /* begun or written since the last expire */
    uint64_t seen_ms; /* the expire call that last saw it touched */
} upload_t;

typedef struct {
    bool used;
    uint8_t digest[DIGEST_BYTES];
    int fd;
    uint64_t size;
    uint64_t last_use; /* a->tick at the last read: LRU order */
} cached_t;

struct artifacts {
    char *dir;     /* the data directory, for messages */
    int art_fd;    /* DIR/artifacts */
    int up_fd;     /* DIR/uploads */
    uint64_t tick; /* counts reads, orders the cache */
    upload_t uploads[ARTIFACTS_UPLOADS_MAX];
    cached_t cache[ARTIFACTS_FD_CACHE];
};

/* --- directories -------------------------------------------------------- */

/* Creates BASE/NAME (0700) if missing and opens it as a directory, never
 * through a symlink; a directory others can enter is tightened to 0700.
 * Returns the descriptor, or -1 with ERR set. */
static int
s_open_dir(int base_fd, const char *base, const char *name, hoist_error_t *err)
{
    if (mkdirat(base_fd, name, 0700) == 0) {
        fsync(base_fd);
    } else if (errno != EEXIST) {
        error_errno(err, error_from_errno(errno), errno, "create %s/%s", base,
                    name);
        return -1;
    }
    int fd =
        openat(base_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        error_errno(err, HOIST_ERR_IO, errno, "open %s/%s", base, name);
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || ((st.st_mode & 077) && fchmod(fd, 0700))) {
        error_errno(err, HOIST_ERR_IO, errno, "restrict %s/%s to 0700", base,
                    name);
        close(fd);
        return -1;
    }
    return fd;
}

/* Removes every entry of the uploads directory but subdirectories: no
 * session outlives the process that held it, so whatever is there is a
 * leftover of a previous run. */
static hoist_err_t
s_clean_uploads(artifacts_t *a, hoist_error_t *err)
{
    int fd = dup(a->up_fd);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        int saved = errno;
        if (fd >= 0) {
            close(fd);
        }
        return error_errno(err, HOIST_ERR_IO, saved, "list %s/uploads", a->dir);
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            unlinkat(a->up_fd, e->d_name, 0);
        }
    }
    closedir(d);
    return HOIST_OK;
}

/* Opens DATA_DIR and its two subdirectories into A. */
static hoist_err_t
s_open_dirs(artifacts_t *a, hoist_error_t *err)
{
    int base = open(a->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (base < 0) {
        return error_errno(err, HOIST_ERR_IO, errno, "open data directory %s",
                           a->dir);
    }
    a->art_fd = s_open_dir(base, a->dir, "artifacts", err);
    if (a->art_fd >= 0) {
        a->up_fd = s_open_dir(base, a->dir, "uploads", err);
    }
    close(base);
    return a->art_fd >= 0 && a->up_fd >= 0 ? HOIST_OK : HOIST_ERR_IO;
}

artifacts_t *
artifacts_open(const char *data_dir, hoist_error_t *err)
{
    if (sodium_init() < 0) {
        error_set(err, HOIST_ERR_NOMEM, "libsodium failed to initialise");
        return NULL;
    }
    artifacts_t *a = calloc(1, sizeof *a);
    if (!a || !(a->dir = strdup(data_dir))) {
        free(a);
        error_set(err, HOIST_ERR_NOMEM, "out of memory opening %s", data_dir);
        return NULL;
    }
    a->art_fd = a->up_fd = -1;
    for (size_t i = 0; i < ARTIFACTS_UPLOADS_MAX; i++) {
        a->uploads[i].fd = -1;
    }
    if (s_open_dirs(a, err) != HOIST_OK || s_clean_uploads(a, err)) {
        artifacts_destroy(&a);
        return NULL;
    }
    return a;
}

/* --- the descriptor cache ----------------------------------------------- */

/* Closes the cached descriptor of DIGEST, if any: its file was replaced. */
static void
s_cache_forget(artifacts_t *a, const uint8_t digest[DIGEST_BYTES])
{
    for (size_t i = 0; i < ARTIFACTS_FD_CACHE; i++) {
        cached_t *c = &a->cache[i];
        if (c->used && memcmp(c->digest, digest, DIGEST_BYTES) == 0) {
            close(c->fd);
            memset(c, 0, sizeof *c);
        }
    }
}

/* The cache entry of DIGEST, or NULL. */
static cached_t *
s_cache_find(artifacts_t *a, const uint8_t digest[DIGEST_BYTES])
{
    for (size_t i = 0; i < ARTIFACTS_FD_CACHE; i++) {
        cached_t *c = &a->cache[i];
        if (c->used && memcmp(c->digest, digest, DIGEST_BYTES) == 0) {
            return c;
        }
    }
    return NULL;
}

/* A free entry, or the least recently used one, emptied. */
static cached_t *
s_cache_victim(artifacts_t *a)
{
    cached_t *v = &a->cache[0];
    for (size_t i = 0; i < ARTIFACTS_FD_CACHE; i++) {
        cached_t *c = &a->cache[i];
        if (!c->used) {
            return c;
        }
        if (c->last_use < v->last_use) {
            v = c;
        }
    }
    close(v->fd);
    memset(v, 0, sizeof *v);
    return v;
}

/* Opens artifacts/HEX of DIGEST as a regular file into *FD and *SIZE:
 * NOTFOUND when it is missing, IO when it is not a regular file. A FIFO
 * planted there cannot block the open (O_NONBLOCK). */
static hoist_err_t
s_open_artifact(artifacts_t *a, const uint8_t digest[DIGEST_BYTES], int *fd,
                uint64_t *size, hoist_error_t *err)
{
    char hex[DIGEST_HEX_LEN];
    digest_hex(digest, hex);
    int f =
        openat(a->art_fd, hex, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (f < 0) {
        hoist_err_t code = errno == ENOENT ? HOIST_ERR_NOTFOUND : HOIST_ERR_IO;
        return error_errno(err, code, errno, "artifact %s in %s/artifacts", hex,
                           a->dir);
    }
    struct stat st;
    if (fstat(f, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(f);
        return error_set(err, HOIST_ERR_IO,
                         "%s/artifacts/%s is not a regular file: remove it",
                         a->dir, hex);
    }
    *fd = f;
    *size = (uint64_t)st.st_size;
    return HOIST_OK;
}

/* Points *OUT at the cache entry of DIGEST, opening the artifact on a
 * miss. */
static hoist_err_t
s_cache_get(artifacts_t *a, const uint8_t digest[DIGEST_BYTES], cached_t **out,
            hoist_error_t *err)
{
    cached_t *c = s_cache_find(a, digest);
    if (!c) {
        uint64_t size = 0;
        int fd = -1;
        hoist_err_t rc = s_open_artifact(a, digest, &fd, &size, err);
        if (rc) {
            return rc;
        }
        c = s_cache_victim(a);
        c->used = true;
        memcpy(c->digest, digest, DIGEST_BYTES);
        c->fd = fd;
        c->size = size;
    }
    c->last_use = ++a->tick;
    *out = c;
    return HOIST_OK;
}

/* --- sessions ----------------------------------------------------------- */

/* True when ID looks like an id this module hands out. */
static bool
s_id_valid(const char *id)
{
    size_t n = 0;
    for (; id && id[n]; n++) {
        char c = id[n];
        if (n >= ARTIFACTS_ID_SIZE - 1 ||
            !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return false;
        }
    }
    return n == ARTIFACTS_ID_SIZE - 1;
}

/* The open session ID, or NULL with NOTFOUND in ERR. */
static upload_t *
s_find(artifacts_t *a, const char *id, hoist_error_t *err)
{
    if (s_id_valid(id)) {
        for (size_t i = 0; i < ARTIFACTS_UPLOADS_MAX; i++) {
            upload_t *u = &a->uploads[i];
            if (u->used && strcmp(u->id, id) == 0) {
                return u;
            }
        }
    }
    error_set(err, HOIST_ERR_NOTFOUND,
              "upload %s is not in progress (never begun, already "
              "finished, failed, or dropped after %u minutes idle): start "
              "again with release.begin",
              s_id_valid(id) ? id : "(malformed id)",
              ARTIFACTS_IDLE_MS / 60000u);
    return NULL;
}

/* The file name of session U in the uploads directory. */
static void
s_part_name(const upload_t *u, char name[ARTIFACTS_ID_SIZE + 8])
{
    snprintf(name, ARTIFACTS_ID_SIZE + 8, "%s" PART_SUFFIX, u->id);
}

/* Ends session U, removing its file when REMOVE. */
static void
s_drop(artifacts_t *a, upload_t *u, bool remove)
{
    char name[ARTIFACTS_ID_SIZE + 8];
    if (u->fd >= 0) {
        close(u->fd);
    }
    if (remove && u->id[0]) {
        s_part_name(u, name);
        unlinkat(a->up_fd, name, 0);
    }
    manifest_destroy(&u->manifest);
    digest_destroy(&u->hash);
    free(u->signed_bytes);
    memset(u, 0, sizeof *u);
    u->fd = -1;
}

size_t
artifacts_uploads(const artifacts_t *a)
{
    size_t n = 0;
    for (size_t i = 0; i < ARTIFACTS_UPLOADS_MAX; i++) {
        n += a->uploads[i].used;
    }
    return n;
}

void
artifacts_destroy(artifacts_t **p)
{
    if (!p || !*p) {
        return;
    }
    artifacts_t *a = *p;
    for (size_t i = 0; i < ARTIFACTS_UPLOADS_MAX; i++) {
        if (a->uploads[i].used) {
            s_drop(a, &a->uploads[i], true);
        }
    }
    for (size_t i = 0; i < ARTIFACTS_FD_CACHE; i++) {
        if (a->cache[i].used) {
            close(a->cache[i].fd);
        }
    }
    if (a->art_fd >= 0) {
        close(a->art_fd);
    }
    if (a->up_fd >= 0) {
        close(a->up_fd);
    }
    free(a->dir);
    free(a);
    *p = NULL;
}

/* --- begin -------------------------------------------------------------- */

/* Turns manifest_verify's failure in E into the controller's words: an
 * untrusted signer is fixed with `hoist trust add`. Returns the code. */
static hoist_err_t
s_refused(const uint8_t *buf, size_t len, hoist_error_t *e, hoist_error_t *err)
{
    char hex[KEYS_ID_HEX_LEN] = "(unknown)";
    if (e->code == HOIST_ERR_UNTRUSTED) {
        Hoist__SignedManifest *sm =
            hoist__signed_manifest__unpack(NULL, len, buf);
        if (sm && sm->key_id.len == KEYS_ID_BYTES) {
            keys_id_hex(sm->key_id.data, hex);
        }
        hoist__signed_manifest__free_unpacked(sm, NULL);
        return error_set(err, HOIST_ERR_UNTRUSTED,
                         "release refused: its manifest is signed by key %s, "
                         "which this controller does not trust; an admin "
                         "trusts a release key with `hoist trust add "
                         "PUBFILE` (see `hoist trust list`)",
                         hex);
    }
    error_prefix(e, "release refused");
    if (err) {
        *err = *e;
    }
    return e->code;
}

/* Bytes that open sessions other than SELF still have to write. */
static uint64_t
s_reserved(const artifacts_t *a)
{
    uint64_t sum = 0;
    for (size_t i = 0; i < ARTIFACTS_UPLOADS_MAX; i++) {
        const upload_t *u = &a->uploads[i];
        if (u->used) {
            sum += manifest_artifact_size(u->manifest) - u->received;
        }
    }
    return sum;
}

/* NOSPACE unless SIZE more bytes fit in the uploads' file system next to
 * what the open sessions still need: better refused now than at 90 %. */
static hoist_err_t
s_check_space(artifacts_t *a, uint64_t size, hoist_error_t *err)
{
    struct statvfs vfs;
    if (fstatvfs(a->up_fd, &vfs) != 0) {
        return error_errno(err, HOIST_ERR_IO, errno, "statvfs %s/uploads",
                           a->dir);
    }
    uint64_t avail = (uint64_t)vfs.f_bavail * (uint64_t)vfs.f_frsize;
    uint64_t reserved = s_reserved(a);
    if (avail < reserved || avail - reserved < size) {
        return error_set(err, HOIST_ERR_NOSPACE,
                         "the artifact needs %llu bytes but %s has %llu free "
                         "(%llu of them promised to uploads in progress): "
                         "free disk space and upload again",
                         (unsigned long long)size, a->dir,
                         (unsigned long long)avail,
                         (unsigned long long)reserved);
    }
    return HOIST_OK;
}

/* A free session slot, or NULL with BUSY in ERR. */
static upload_t *
s_free_slot(artifacts_t *a, hoist_error_t *err)
{
    for (size_t i = 0; i < ARTIFACTS_UPLOADS_MAX; i++) {
        if (!a->uploads[i].used) {
            return &a->uploads[i];
        }
    }
    error_set(err, HOIST_ERR_BUSY,
              "%d uploads are already in progress, the most this controller "
              "takes at once: retry when one finishes (idle ones are dropped "
              "after %u minutes)",
              ARTIFACTS_UPLOADS_MAX, ARTIFACTS_IDLE_MS / 60000u);
    return NULL;
}

/* Gives U a fresh random id, one no open session has. */
static void
s_new_id(artifacts_t *a, upload_t *u)
{
    uint8_t raw[ID_BYTES];
    do {
        randombytes_buf(raw, sizeof raw);
        sodium_bin2hex(u->id, sizeof u->id, raw, sizeof raw);
    } while (s_find(a, u->id, NULL));
}

/* Fills the free slot U for manifest *MP (taken on success) and creates
 * its .part file. On failure U is left free and nothing is on disk. */
static hoist_err_t
s_start(artifacts_t *a, upload_t *u, manifest_t **mp, const uint8_t *buf,
        size_t len, hoist_error_t *err)
{
    char name[ARTIFACTS_ID_SIZE + 8];
    s_new_id(a, u);
    u->hash = digest_new();
    u->signed_bytes = malloc(len);
    if (!u->hash || !u->signed_bytes) {
        s_drop(a, u, false);
        return error_set(err, HOIST_ERR_NOMEM, "out of memory for an upload");
    }
    s_part_name(u, name);
    u->fd = openat(a->up_fd, name,
                   O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (u->fd < 0) {
        int saved = errno;
        s_drop(a, u, false);
        return error_errno(err, error_from_errno(saved), saved,
                           "create %s/uploads/%s", a->dir, name);
    }
    memcpy(u->signed_bytes, buf, len);
    u->signed_len = len;
    u->manifest = *mp;
    *mp = NULL;
    u->used = true;
    u->touched = true;
    return HOIST_OK;
}

hoist_err_t
artifacts_begin(artifacts_t *a, const uint8_t *manifest, size_t len,
                const keys_public_t *trusted, size_t n,
                char id_out[ARTIFACTS_ID_SIZE], manifest_t **manifest_out,
                hoist_error_t *err)
{
    hoist_error_t e = {0};
    manifest_t *m = manifest_verify(manifest, len, trusted, n, &e);
    manifest_t *copy = NULL;
    hoist_err_t rc = HOIST_OK;
    if (!m) {
        return s_refused(manifest, len, &e, err);
    }
    if (manifest_out &&
        !(copy = manifest_verify(manifest, len, trusted, n, &e))) {
        rc = s_refused(manifest, len, &e, err);
        goto out;
    }
    upload_t *u = s_free_slot(a, err);
    if (!u) {
        rc = HOIST_ERR_BUSY;
        goto out;
    }
    if ((rc = s_check_space(a, manifest_artifact_size(m), err)) ||
        (rc = s_start(a, u, &m, manifest, len, err))) {
        goto out;
    }
    memcpy(id_out, u->id, ARTIFACTS_ID_SIZE);
    if (manifest_out) {
        *manifest_out = copy;
        copy = NULL;
    }
out:
    manifest_destroy(&m);
    manifest_destroy(&copy);
    return rc;
}

/* --- chunk -------------------------------------------------------------- */

/* Writes LEN bytes of DATA at OFFSET of FD, all of them or an errno. */
static int
s_pwrite_all(int fd, const uint8_t *data, size_t len, uint64_t offset)
{
    while (len > 0) {
        ssize_t w = pwrite(fd, data, len, (off_t)offset);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w < 0) {
            return errno;
        }
        data += w;
        len -= (size_t)w;
        offset += (uint64_t)w;
    }
    return 0;
}

/* The refusals of a chunk that leave session U untouched. */
static hoist_err_t
s_check_chunk(const upload_t *u, uint64_t offset, size_t len,
              hoist_error_t *err)
{
    uint64_t size = manifest_artifact_size(u->manifest);
    if (len > ARTIFACTS_CHUNK_MAX) {
        return error_set(err, HOIST_ERR_LIMIT,
                         "upload %s: a chunk of %zu bytes is over the limit "
                         "of %u",
                         u->id, len, ARTIFACTS_CHUNK_MAX);
    }
    if (offset != u->received) {
        return error_set(err, HOIST_ERR_PROTOCOL,
                         "upload %s: expected the chunk at offset %llu (the "
                         "bytes received so far), got offset %llu",
                         u->id, (unsigned long long)u->received,
                         (unsigned long long)offset);
    }
    if ((uint64_t)len > size - u->received) {
        return error_set(err, HOIST_ERR_SIZE,
                         "upload %s: %zu more bytes after %llu would exceed "
                         "the %llu bytes the manifest declares",
                         u->id, len, (unsigned long long)u->received,
                         (unsigned long long)size);
    }
    return HOIST_OK;
}

hoist_err_t
artifacts_chunk(artifacts_t *a, const char *id, uint64_t offset,
                const void *data, size_t len, hoist_error_t *err)
{
    upload_t *u = s_find(a, id, err);
    if (!u) {
        return HOIST_ERR_NOTFOUND;
    }
    hoist_err_t rc = s_check_chunk(u, offset, len, err);
    if (rc) {
        return rc;
    }
    int e = s_pwrite_all(u->fd, data, len, offset);
    if (e) {
        rc = error_errno(err, error_from_errno(e), e,
                         "upload %s: write %s/uploads/%s" PART_SUFFIX
                         " (upload dropped)",
                         u->id, a->dir, u->id);
        s_drop(a, u, true);
        return rc;
    }
    digest_update(u->hash, data, len);
    u->received += len;
    u->touched = true;
    return HOIST_OK;
}

/* --- commit, abort, expire ---------------------------------------------- */

/* Checks session U's bytes against its manifest. */
static hoist_err_t
s_check_bytes(const upload_t *u, hoist_error_t *err)
{
    uint64_t size = manifest_artifact_size(u->manifest);
    const uint8_t *want = manifest_artifact_digest(u->manifest);
    uint8_t got[DIGEST_BYTES];
    char got_hex[DIGEST_HEX_LEN], want_hex[DIGEST_HEX_LEN];
    if (u->received != size) {
        return error_set(err, HOIST_ERR_SIZE,
                         "upload %s: received %llu bytes of the %llu the "
                         "manifest declares (upload dropped)",
                         u->id, (unsigned long long)u->received,
                         (unsigned long long)size);
    }
    digest_final(u->hash, got);
    if (!digest_equal(got, want)) {
        return error_set(err, HOIST_ERR_DIGEST,
                         "upload %s: the bytes' BLAKE2b-256 is %s but the "
                         "manifest says %s: the artifact is not the one that "
                         "was signed (upload dropped)",
                         u->id, digest_hex(got, got_hex),
                         digest_hex(want, want_hex));
    }
    return HOIST_OK;
}

/* Makes session U's file durable and publishes it as artifacts/HEX. */
static hoist_err_t
s_publish(artifacts_t *a, upload_t *u, hoist_error_t *err)
{
    const uint8_t *digest = manifest_artifact_digest(u->manifest);
    char hex[DIGEST_HEX_LEN], name[ARTIFACTS_ID_SIZE + 8];
    digest_hex(digest, hex);
    s_part_name(u, name);
    if (fsync(u->fd) != 0) {
        return error_errno(err, error_from_errno(errno), errno,
                           "fsync %s/uploads/%s", a->dir, name);
    }
    if (renameat(a->up_fd, name, a->art_fd, hex) != 0) {
        return error_errno(err, error_from_errno(errno), errno,
                           "rename %s/uploads/%s to artifacts/%s", a->dir, name,
                           hex);
    }
    /* A descriptor of a file this rename replaced would serve old bytes. */
    s_cache_forget(a, digest);
    if (fsync(a->art_fd) != 0) {
        return error_errno(err, error_from_errno(errno), errno,
                           "fsync %s/artifacts", a->dir);
    }
    return HOIST_OK;
}

manifest_t *
artifacts_commit(artifacts_t *a, const char *id, uint8_t **signed_out,
                 size_t *signed_len, hoist_error_t *err)
{
    upload_t *u = s_find(a, id, err);
    if (!u) {
        return NULL;
    }
    if (s_check_bytes(u, err) != HOIST_OK || s_publish(a, u, err)) {
        /* After a failed directory fsync the name is already gone. */
        s_drop(a, u, true);
        return NULL;
    }
    manifest_t *m = u->manifest;
    u->manifest = NULL;
    if (signed_out) {
        *signed_out = u->signed_bytes;
        *signed_len = u->signed_len;
        u->signed_bytes = NULL;
    }
    s_drop(a, u, false);
    return m;
}

bool
artifacts_upload_open(artifacts_t *a, const char *id)
{
    return s_find(a, id, NULL) != NULL;
}

bool
artifacts_abort(artifacts_t *a, const char *id)
{
    upload_t *u = s_find(a, id, NULL);
    if (!u) {
        return false;
    }
    s_drop(a, u, true);
    return true;
}

size_t
artifacts_expire(artifacts_t *a, uint64_t now_ms)
{
    size_t dropped = 0;
    for (size_t i = 0; i < ARTIFACTS_UPLOADS_MAX; i++) {
        upload_t *u = &a->uploads[i];
        if (!u->used) {
            continue;
        }
        if (u->touched) {
            u->touched = false;
            u->seen_ms = now_ms;
        } else if (now_ms >= u->seen_ms &&
                   now_ms - u->seen_ms >= ARTIFACTS_IDLE_MS) {
            s_drop(a, u, true);
            dropped++;
        }
    }
    return dropped;
}

/* --- reading ------------------------------------------------------------ */

/* Reads up to LEN bytes at OFFSET of FD into BUF; *GOT stops short only at
 * end of file. Returns 0 or an errno. */
static int
s_pread_all(int fd, uint8_t *buf, size_t len, uint64_t offset, size_t *got)
{
    size_t done = 0;
    while (done < len) {
        ssize_t r = pread(fd, buf + done, len - done, (off_t)(offset + done));
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0) {
            return errno;
        }
        if (r == 0) {
            break;
        }
        done += (size_t)r;
    }
    *got = done;
    return 0;
}

hoist_err_t
artifacts_read(artifacts_t *a, const uint8_t digest[DIGEST_BYTES],
               uint64_t offset, size_t len, void *buf, size_t *got,
               hoist_error_t *err)
{
    char hex[DIGEST_HEX_LEN];
    if (len > ARTIFACTS_CHUNK_MAX) {
        return error_set(err, HOIST_ERR_LIMIT,
                         "a read of %zu bytes is over the limit of %u", len,
                         ARTIFACTS_CHUNK_MAX);
    }
    cached_t *c = NULL;
    hoist_err_t rc = s_cache_get(a, digest, &c, err);
    if (rc) {
        return rc;
    }
    if (offset > c->size) {
        return error_set(err, HOIST_ERR_PROTOCOL,
                         "offset %llu is past the end of artifact %s (%llu "
                         "bytes)",
                         (unsigned long long)offset, digest_hex(digest, hex),
                         (unsigned long long)c->size);
    }
    uint64_t left = c->size - offset;
    size_t want = left < (uint64_t)len ? (size_t)left : len;
    size_t n = 0;
    int e = s_pread_all(c->fd, buf, want, offset, &n);
    if (e) {
        s_cache_forget(a, digest);
        return error_errno(err, error_from_errno(e), e, "read artifact %s",
                           digest_hex(digest, hex));
    }
    *got = n;
    return HOIST_OK;
}

/* Stats artifacts/HEX of DIGEST without following a link. */
static int
s_stat(artifacts_t *a, const uint8_t digest[DIGEST_BYTES], struct stat *st)
{
    char hex[DIGEST_HEX_LEN];
    digest_hex(digest, hex);
    return fstatat(a->art_fd, hex, st, AT_SYMLINK_NOFOLLOW);
}

bool
artifacts_has(artifacts_t *a, const uint8_t digest[DIGEST_BYTES])
{
    struct stat st;
    return s_stat(a, digest, &st) == 0 && S_ISREG(st.st_mode);
}

hoist_err_t
artifacts_size(artifacts_t *a, const uint8_t digest[DIGEST_BYTES],
               uint64_t *size, hoist_error_t *err)
{
    char hex[DIGEST_HEX_LEN];
    struct stat st;
    if (s_stat(a, digest, &st) != 0) {
        hoist_err_t code = errno == ENOENT ? HOIST_ERR_NOTFOUND : HOIST_ERR_IO;
        return error_errno(err, code, errno, "artifact %s in %s/artifacts",
                           digest_hex(digest, hex), a->dir);
    }
    if (!S_ISREG(st.st_mode)) {
        return error_set(err, HOIST_ERR_IO,
                         "%s/artifacts/%s is not a regular file: remove it",
                         a->dir, digest_hex(digest, hex));
    }
    *size = (uint64_t)st.st_size;
    return HOIST_OK;
}
