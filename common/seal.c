/*
 * seal: see seal.h.
 */
#include "seal.h"

#include <sodium.h>
#include <string.h>
#include <zmq.h>

#include "curve.h"

_Static_assert(SEAL_OVERHEAD == crypto_box_SEALBYTES,
               "SEAL_OVERHEAD must match libsodium");
_Static_assert(SEAL_KEY_BYTES == crypto_box_PUBLICKEYBYTES &&
                   SEAL_KEY_BYTES == CURVE_KEY_BYTES,
               "CURVE keys are crypto_box keys");

/* Allocates LEN bytes plus a NUL in guarded memory into *P. sodium_malloc
 * (0) is legal, but the NUL needs a byte anyway. */
static hoist_err_t
s_alloc(size_t len, uint8_t **p, hoist_error_t *err)
{
    if (sodium_init() < 0) {
        return error_set(err, HOIST_ERR_NOMEM, "seal: libsodium cannot start");
    }
    uint8_t *b = sodium_malloc(len + 1);
    if (!b) {
        return error_set(err, HOIST_ERR_NOMEM,
                         "seal: out of memory for %zu bytes", len);
    }
    b[len] = 0;
    *p = b;
    return HOIST_OK;
}

hoist_err_t
seal_to(const char *curve_public_z85, const void *msg, size_t len,
        uint8_t **out, size_t *out_len, hoist_error_t *err)
{
    char canon[CURVE_KEY_Z85_LEN + 1];
    uint8_t pk[SEAL_KEY_BYTES];
    if (!curve_key_canonical(curve_public_z85, canon) ||
        !zmq_z85_decode(pk, canon)) {
        return error_set(err, HOIST_ERR_KEY,
                         "seal: '%.60s' is not a CURVE public key (40 "
                         "characters of Z85)",
                         curve_public_z85 ? curve_public_z85 : "");
    }
    if (len > SEAL_MAX_BYTES) {
        return error_set(err, HOIST_ERR_LIMIT,
                         "seal: a secret of %zu bytes is over the limit of "
                         "%zu; keep large secrets in a file on the server",
                         len, SEAL_MAX_BYTES);
    }
    size_t box_len = len + crypto_box_SEALBYTES;
    uint8_t *box = NULL;
    hoist_err_t rc = s_alloc(box_len, &box, err);
    if (rc != HOIST_OK) {
        return rc;
    }
    /* libsodium refuses a public key of small order (the shared secret
     * would be known to everyone). */
    if (crypto_box_seal(box, msg, len, pk) != 0) {
        seal_free(&box, box_len);
        return error_set(err, HOIST_ERR_KEY,
                         "seal: cannot seal to key %s: it is a weak key; "
                         "re-enroll the agent with a fresh key",
                         canon);
    }
    *out = box;
    *out_len = box_len;
    return HOIST_OK;
}

hoist_err_t
seal_open(const uint8_t public_key[SEAL_KEY_BYTES],
          const uint8_t secret_key[SEAL_KEY_BYTES], const uint8_t *box,
          size_t len, uint8_t **out, size_t *out_len, hoist_error_t *err)
{
    if (len < crypto_box_SEALBYTES ||
        len > SEAL_MAX_BYTES + crypto_box_SEALBYTES) {
        return error_set(err, HOIST_ERR_LIMIT,
                         "seal: a sealed secret of %zu bytes cannot be "
                         "right (%d to %zu bytes)",
                         len, crypto_box_SEALBYTES,
                         SEAL_MAX_BYTES + crypto_box_SEALBYTES);
    }
    size_t plain_len = len - crypto_box_SEALBYTES;
    uint8_t *plain = NULL;
    hoist_err_t rc = s_alloc(plain_len, &plain, err);
    if (rc != HOIST_OK) {
        return rc;
    }
    if (crypto_box_seal_open(plain, box, len, public_key, secret_key) != 0) {
        seal_free(&plain, plain_len);
        return error_set(err, HOIST_ERR_SIGNATURE,
                         "seal: cannot open the sealed secret: it was sealed "
                         "to another agent's key, or altered on the way");
    }
    *out = plain;
    *out_len = plain_len;
    return HOIST_OK;
}

void
seal_free(uint8_t **p, size_t len)
{
    if (!p || !*p) {
        return;
    }
    /* sodium_free wipes the whole allocation too; the explicit wipe keeps
     * the promise even if the allocator ever changes. */
    sodium_memzero(*p, len);
    sodium_free(*p);
    *p = NULL;
}
