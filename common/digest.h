/*
 * digest: BLAKE2b-256 (libsodium's crypto_generichash) of artifacts, in
 * constant memory over any length: a 5 GiB artifact is read through one
 * 128 KiB buffer. Chunked input (a network fetch) uses the streaming
 * object; whole files use digest_fd / digest_copy.
 */
#ifndef HOIST_DIGEST_H
#define HOIST_DIGEST_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define DIGEST_BYTES   32
#define DIGEST_HEX_LEN (2 * DIGEST_BYTES + 1)

typedef struct digest digest_t;

/* A fresh streaming hash, or NULL when out of memory. */
digest_t *digest_new(void);
void digest_update(digest_t *d, const void *data, size_t len);
/* Writes the digest to OUT; the object may not be updated afterwards. */
void digest_final(digest_t *d, uint8_t out[DIGEST_BYTES]);
/* Total bytes fed so far. */
uint64_t digest_size(const digest_t *d);
void digest_destroy(digest_t **p);

/* Hashes FD from its current offset to end of file. Writes OUT and *SIZE
 * (bytes read) on success. */
hoist_err_t digest_fd(int fd, uint8_t out[DIGEST_BYTES], uint64_t *size,
                      hoist_error_t *err);

/* Copies IN to OUT_FD until end of file while hashing, refusing to copy
 * more than MAX bytes (HOIST_ERR_SIZE): what an agent does to take a
 * private, verified copy of an artifact. */
hoist_err_t digest_copy(int in, int out_fd, uint64_t max,
                        uint8_t out[DIGEST_BYTES], uint64_t *size,
                        hoist_error_t *err);

/* Lowercase hex of D into HEX (65 bytes). Returns HEX. */
const char *digest_hex(const uint8_t d[DIGEST_BYTES], char hex[DIGEST_HEX_LEN]);

/* Constant-time comparison of two digests. */
int digest_equal(const uint8_t a[DIGEST_BYTES], const uint8_t b[DIGEST_BYTES]);

#endif
