/*
 * manifest: the signed description of a release.
 *
 * A manifest file is a SignedManifest (proto/hoist.proto): the exact bytes
 * of a Manifest, the id of the key that signed them, and an Ed25519
 * signature over "hoist-manifest-v1\0" || bytes. The prefix separates this
 * use of the key from any other. A verifier checks the signature against
 * its own trusted keys BEFORE it parses the Manifest, then checks every
 * field; a zero, empty, truncated or unknown-key signature is a rejection.
 */
#ifndef HOIST_MANIFEST_H
#define HOIST_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "digest.h"
#include "error.h"
#include "keys.h"

#define MANIFEST_MAX_BYTES   (64 * 1024)
#define MANIFEST_NAME_MAX    64  /* app and environment names */
#define MANIFEST_VERSION_MAX 128 /* version strings */
#define MANIFEST_ENVS_MAX    64

typedef struct manifest manifest_t;

/* What a signer fills in. */
typedef struct {
    const char *app;
    const char *version;
    uint64_t sequence;
    uint64_t artifact_size;
    uint8_t artifact_digest[DIGEST_BYTES];
    const char *const *envs; /* allowed environments; none = any */
    size_t n_envs;
    int64_t created_at;
    bool has_notes;
    uint8_t notes_digest[DIGEST_BYTES];
} manifest_fields_t;

/* Validates F, serializes and signs it with SK. *OUT (malloc'd, the
 * caller's) holds the SignedManifest bytes. */
hoist_err_t manifest_sign(const manifest_fields_t *f, const keys_secret_t *sk,
                          uint8_t **out, size_t *out_len, hoist_error_t *err);

/* Verifies LEN bytes of a SignedManifest against the N keys of TRUSTED and
 * parses it. NULL with SIGNATURE, UNTRUSTED or MANIFEST on failure. */
manifest_t *manifest_verify(const uint8_t *buf, size_t len,
                            const keys_public_t *trusted, size_t n,
                            hoist_error_t *err);

/* Reads the file at PATH (≤ MANIFEST_MAX_BYTES) and verifies it. */
manifest_t *manifest_load(const char *path, const keys_public_t *trusted,
                          size_t n, hoist_error_t *err);

void manifest_destroy(manifest_t **p);

const char *manifest_app(const manifest_t *m);
const char *manifest_version(const manifest_t *m);
uint64_t manifest_sequence(const manifest_t *m);
uint64_t manifest_artifact_size(const manifest_t *m);
const uint8_t *manifest_artifact_digest(const manifest_t *m);
int64_t manifest_created_at(const manifest_t *m);
/* The release notes' digest, or NULL when the release has no notes. */
const uint8_t *manifest_notes_digest(const manifest_t *m);
const uint8_t *manifest_key_id(const manifest_t *m);
size_t manifest_env_count(const manifest_t *m);
const char *manifest_env(const manifest_t *m, size_t i);

/* True when ENV may run this release (listed, or the list is empty). */
bool manifest_env_allowed(const manifest_t *m, const char *env);

/* Name rules, shared by everything that puts a name in a path: app and
 * environment names are [a-z0-9][a-z0-9_-]{0,63}; versions are
 * [A-Za-z0-9][A-Za-z0-9._+-]{0,127} and never "." or "..". */
bool manifest_name_valid(const char *s);
bool manifest_version_valid(const char *s);

#endif
