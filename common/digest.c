/*
 * digest: see digest.h. crypto_generichash_state must be 64-byte aligned,
 * hence aligned_alloc for the streaming object.
 */
#include "digest.h"

#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DIGEST_BUF (128 * 1024)

struct digest {
    crypto_generichash_state state;
    uint64_t size;
};

digest_t *
digest_new(void)
{
    if (sodium_init() < 0) {
        return NULL;
    }
    digest_t *d = aligned_alloc(64, (sizeof(digest_t) + 63) & ~(size_t)63);
    if (!d) {
        return NULL;
    }
    crypto_generichash_init(&d->state, NULL, 0, DIGEST_BYTES);
    d->size = 0;
    return d;
}

void
digest_update(digest_t *d, const void *data, size_t len)
{
    crypto_generichash_update(&d->state, data, len);
    d->size += len;
}

void
digest_final(digest_t *d, uint8_t out[DIGEST_BYTES])
{
    crypto_generichash_final(&d->state, out, DIGEST_BYTES);
}

uint64_t
digest_size(const digest_t *d)
{
    return d->size;
}

void
digest_destroy(digest_t **p)
{
    if (p && *p) {
        sodium_memzero(*p, sizeof **p);
        free(*p);
        *p = NULL;
    }
}

static hoist_err_t
s_write_all(int fd, const uint8_t *buf, size_t len, hoist_error_t *err)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return error_errno(err, error_from_errno(errno), errno,
                               "write artifact copy");
        }
        buf += n;
        len -= (size_t)n;
    }
    return HOIST_OK;
}

hoist_err_t
digest_copy(int in, int out_fd, uint64_t max, uint8_t out[DIGEST_BYTES],
            uint64_t *size, hoist_error_t *err)
{
    uint8_t *buf = malloc(DIGEST_BUF);
    digest_t *d = digest_new();
    hoist_err_t rc = HOIST_OK;
    if (!buf || !d) {
        rc = error_set(err, HOIST_ERR_NOMEM, "out of memory hashing");
        goto out;
    }
    for (;;) {
        ssize_t n = read(in, buf, DIGEST_BUF);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            rc = error_errno(err, HOIST_ERR_IO, errno, "read artifact");
            goto out;
        }
        if (n == 0) {
            break;
        }
        if (digest_size(d) + (uint64_t)n > max) {
            rc = error_set(err, HOIST_ERR_SIZE,
                           "artifact is larger than the %llu bytes the "
                           "manifest declares",
                           (unsigned long long)max);
            goto out;
        }
        digest_update(d, buf, (size_t)n);
        if (out_fd >= 0 && (rc = s_write_all(out_fd, buf, (size_t)n, err))) {
            goto out;
        }
    }
    digest_final(d, out);
    *size = digest_size(d);
out:
    digest_destroy(&d);
    free(buf);
    return rc;
}

hoist_err_t
digest_fd(int fd, uint8_t out[DIGEST_BYTES], uint64_t *size, hoist_error_t *err)
{
    return digest_copy(fd, -1, UINT64_MAX, out, size, err);
}

const char *
digest_hex(const uint8_t d[DIGEST_BYTES], char hex[DIGEST_HEX_LEN])
{
    sodium_bin2hex(hex, DIGEST_HEX_LEN, d, DIGEST_BYTES);
    return hex;
}

int
digest_equal(const uint8_t a[DIGEST_BYTES], const uint8_t b[DIGEST_BYTES])
{
    return sodium_memcmp(a, b, DIGEST_BYTES) == 0;
}
