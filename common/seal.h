/*
 * seal: secret values for one agent. The controller seals a secret
 * variable to the receiving agent's CURVE public key with a libsodium
 * sealed box (an ephemeral X25519 key, XSalsa20-Poly1305), so only that
 * agent can open it: the controller's disk, logs and audit log only ever
 * hold the box. CURVE keys are Curve25519 keys, the same X25519 keys
 * crypto_box uses, so the agent's transport key pair opens the box and no
 * second key needs distributing.
 *
 * A sealed box is anonymous: it proves nothing about who sealed it. The
 * agent trusts a box because it arrived over the CURVE connection to the
 * controller it pinned, not because of the box.
 *
 * Plaintext lives in sodium_malloc'd memory (guarded, kept out of swap
 * where the system allows) and is wiped when freed with seal_free.
 */
#ifndef HOIST_SEAL_H
#define HOIST_SEAL_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define SEAL_KEY_BYTES 32
/* The largest plaintext sealed or opened: one variable's value. */
#define SEAL_MAX_BYTES ((size_t)64 * 1024)
/* What sealing adds: the ephemeral public key and the MAC. */
#define SEAL_OVERHEAD 48

/* Seals LEN bytes of MSG to the agent whose CURVE public key is
 * CURVE_PUBLIC_Z85 (40 characters of Z85). On success *OUT gets a buffer
 * of *OUT_LEN = LEN + SEAL_OVERHEAD bytes that belongs to the caller (free
 * it with seal_free). HOIST_ERR_KEY for a key that is not canonical Z85 or
 * cannot be sealed to (a weak point); HOIST_ERR_LIMIT when LEN exceeds
 * SEAL_MAX_BYTES; HOIST_ERR_NOMEM. */
hoist_err_t seal_to(const char *curve_public_z85, const void *msg, size_t len,
                    uint8_t **out, size_t *out_len, hoist_error_t *err);

/* Opens the LEN-byte BOX with the agent's key pair (PUBLIC_KEY and
 * SECRET_KEY, 32 bytes each, as zcert_public_key/zcert_secret_key give
 * them). On success *OUT gets the plaintext, *OUT_LEN bytes, NUL-terminated
 * one byte past the end for convenience; it belongs to the caller: free it
 * with seal_free. HOIST_ERR_SIGNATURE when the box was sealed to another
 * key or altered; HOIST_ERR_LIMIT when it is too short or too long;
 * HOIST_ERR_NOMEM. */
hoist_err_t seal_open(const uint8_t public_key[SEAL_KEY_BYTES],
                      const uint8_t secret_key[SEAL_KEY_BYTES],
                      const uint8_t *box, size_t len, uint8_t **out,
                      size_t *out_len, hoist_error_t *err);

/* Wipes and frees a buffer from seal_to or seal_open and sets *P to NULL.
 * LEN is the length it came with. Accepts NULL and *P == NULL. */
void seal_free(uint8_t **p, size_t len);

#endif
