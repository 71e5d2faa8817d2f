/*
 * keys: Ed25519 release-signing keys (libsodium).
 *
 * Files, one line each:
 *   PREFIX.pub  "hoist-ed25519-public <base64 of 32 bytes>"   mode 0644
 *   PREFIX.key  "hoist-ed25519-secret <base64 of 32-byte seed>" mode 0600
 * A secret key file readable by group or others is refused at load: a key
 * that others could have read must be treated as leaked. Secret material
 * lives in sodium_malloc'd memory and is wiped when freed.
 *
 * A key's id is the first 8 bytes of BLAKE2b-256 of its public key, shown
 * as 16 hex digits; manifests name the key that signed them by its id.
 */
#ifndef HOIST_KEYS_H
#define HOIST_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define KEYS_PUBLIC_BYTES 32
#define KEYS_ID_BYTES     8
#define KEYS_ID_HEX_LEN   (2 * KEYS_ID_BYTES + 1)
#define KEYS_SIG_BYTES    64

typedef struct {
    uint8_t pk[KEYS_PUBLIC_BYTES];
    uint8_t id[KEYS_ID_BYTES];
} keys_public_t;

typedef struct keys_secret keys_secret_t;

/* Generates a pair and writes PREFIX.key (0600) and PREFIX.pub (0644).
 * Refuses to overwrite either file. */
hoist_err_t keys_generate(const char *prefix, hoist_error_t *err);

/* Loads a secret key file. NULL with HOIST_ERR_KEY when it is missing,
 * malformed, not a regular file, or readable by group/others. The result
 * belongs to the caller: free it with keys_secret_destroy. */
keys_secret_t *keys_secret_load(const char *path, hoist_error_t *err);

void keys_secret_destroy(keys_secret_t **p);

/* The public half of a loaded secret key. */
const keys_public_t *keys_secret_public(const keys_secret_t *sk);

/* Signs LEN bytes of MSG into SIG. */
void keys_sign(const keys_secret_t *sk, const uint8_t *msg, size_t len,
               uint8_t sig[KEYS_SIG_BYTES]);

/* Loads a public key file into *OUT (written only on success). */
hoist_err_t keys_public_load(const char *path, keys_public_t *out,
                             hoist_error_t *err);

/* Parses the one-line public key text (trailing newline allowed). */
hoist_err_t keys_public_parse(const char *text, keys_public_t *out,
                              hoist_error_t *err);

/* The key in SET (of N) whose id is ID, or NULL. */
const keys_public_t *keys_find(const keys_public_t *set, size_t n,
                               const uint8_t id[KEYS_ID_BYTES]);

/* 16 lowercase hex digits of ID into HEX. Returns HEX. */
const char *keys_id_hex(const uint8_t id[KEYS_ID_BYTES],
                        char hex[KEYS_ID_HEX_LEN]);

#endif
