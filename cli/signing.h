/*
 * signing: what `hoist release sign` (offline, in CI) and `hoist release
 * create` (sign and upload) share: the signing options, hashing the
 * artifact and the notes, and signing the manifest with a release key.
 *
 * Release notes are read once, into memory, and both hashed for the
 * manifest and (by release create) sent as text, so what is signed is
 * exactly what is sent. They are text: a NUL byte is refused.
 */
#ifndef HOIST_SIGNING_H
#define HOIST_SIGNING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "digest.h"
#include "error.h"
#include "keys.h"
#include "manifest.h"

#define SIGNING_NOTES_MAX (512 * 1024)

/* What to sign: filled from the command line. */
typedef struct {
    const char *app, *version, *artifact;
    const char *key;   /* PREFIX: the secret key is PREFIX.key */
    const char *notes; /* path of the release notes, or NULL */
    const char *envs[MANIFEST_ENVS_MAX];
    size_t n_envs;
    uint64_t sequence;
    bool has_sequence;
} signing_args_t;

/* What came out: the SignedManifest and what a person wants to read. */
typedef struct {
    uint8_t *manifest; /* SignedManifest bytes, malloc'd */
    size_t manifest_len;
    uint64_t sequence;
    uint64_t artifact_size;
    char digest_hex[DIGEST_HEX_LEN];
    char key_id_hex[KEYS_ID_HEX_LEN];
    char *notes; /* the notes' text as read and hashed, malloc'd; or NULL */
    size_t notes_len;
} signing_result_t;

/* Applies option NAME with its argument ARG to A: "sign-key",
 * "sequence", "env" (repeatable) or "notes"; any other name is ignored
 * (the command's own). HOIST_ERR_USAGE for a bad number or too many
 * --env. */
hoist_err_t signing_option(signing_args_t *a, const char *name, const char *arg,
                           hoist_error_t *err);

/* Reads the release notes at PATH (text, at most SIGNING_NOTES_MAX bytes)
 * into *TEXT (malloc'd, the caller's) and *LEN. HOIST_ERR_USAGE when the
 * file is missing, too large or not text. */
hoist_err_t signing_read_notes(const char *path, char **text, size_t *len,
                               hoist_error_t *err);

/* Hashes A's artifact and notes, loads A->key.key and signs. Without
 * has_sequence the creation time is the sequence. Fills *OUT (free what
 * it holds with signing_result_free) and returns HOIST_OK, or fails with
 * the code of what went wrong (USAGE for bad names or missing files, KEY
 * for the key). */
hoist_err_t signing_sign(const signing_args_t *a, signing_result_t *out,
                         hoist_error_t *err);

/* Frees what R holds (not R itself). Accepts NULL. */
void signing_result_free(signing_result_t *r);

/* A convenience check of an offline manifest (release create --manifest)
 * before a long upload: that LEN bytes of BUF decode as a SignedManifest
 * for APP VERSION, for an artifact of ARTIFACT_SIZE bytes, and that it
 * has notes exactly when HAS_NOTES. It decides nothing about trust: the
 * signature is the controller's to verify. HOIST_ERR_MANIFEST when not. */
hoist_err_t signing_check_manifest(const uint8_t *buf, size_t len,
                                   const char *app, const char *version,
                                   uint64_t artifact_size, bool has_notes,
                                   hoist_error_t *err);

#endif
