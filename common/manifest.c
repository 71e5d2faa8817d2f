/*
 * manifest: see manifest.h.
 */
#include "manifest.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "atomicfile.h"
#include "hoist.pb-c.h"

#define MANIFEST_FORMAT 1
static const char s_domain[] = "hoist-manifest-v1"; /* and its NUL */

struct manifest {
    Hoist__Manifest *pb;
    uint8_t key_id[KEYS_ID_BYTES];
};

bool
manifest_name_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > MANIFEST_NAME_MAX) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  (i > 0 && (c == '-' || c == '_'));
        if (!ok) {
            return false;
        }
    }
    return true;
}

bool
manifest_version_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > MANIFEST_VERSION_MAX) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  (c >= '0' && c <= '9') ||
                  (i > 0 && (c == '.' || c == '_' || c == '+' || c == '-'));
        if (!ok) {
            return false;
        }
    }
    return true; /* "." and ".." cannot pass: the first char is alnum */
}

/* The bytes a signature covers: the domain string, its NUL, the body. */
static uint8_t *
s_signed_bytes(const uint8_t *body, size_t len, size_t *out_len)
{
    uint8_t *buf = malloc(sizeof s_domain + len);
    if (buf) {
        memcpy(buf, s_domain, sizeof s_domain);
        if (len > 0) { /* an empty bytes field has a NULL pointer */
            memcpy(buf + sizeof s_domain, body, len);
        }
        *out_len = sizeof s_domain + len;
    }
    return buf;
}

static hoist_err_t
s_check_fields(const manifest_fields_t *f, hoist_error_t *err)
{
    if (!f->app || !manifest_name_valid(f->app)) {
        return error_set(err, HOIST_ERR_USAGE,
                         "app name '%s' is invalid: use 1-64 of a-z 0-9 - _, "
                         "starting with a letter or digit",
                         f->app ? f->app : "");
    }
    if (!f->version || !manifest_version_valid(f->version)) {
        return error_set(err, HOIST_ERR_USAGE,
                         "version '%s' is invalid: use 1-128 of A-Z a-z 0-9 "
                         ". _ + -, starting with a letter or digit",
                         f->version ? f->version : "");
    }
    if (f->artifact_size == 0) {
        return error_set(err, HOIST_ERR_USAGE,
                         "the artifact is empty: a release needs content");
    }
    if (f->n_envs > MANIFEST_ENVS_MAX) {
        return error_set(err, HOIST_ERR_USAGE, "more than %d environments",
                         MANIFEST_ENVS_MAX);
    }
    for (size_t i = 0; i < f->n_envs; i++) {
        if (!manifest_name_valid(f->envs[i])) {
            return error_set(err, HOIST_ERR_USAGE,
                             "environment name '%s' is invalid", f->envs[i]);
        }
    }
    return HOIST_OK;
}

static uint8_t *
s_pack_manifest(const manifest_fields_t *f, size_t *len)
{
    Hoist__Manifest pb = HOIST__MANIFEST__INIT;
    pb.format = MANIFEST_FORMAT;
    pb.app = (char *)f->app;
    pb.version = (char *)f->version;
    pb.sequence = f->sequence;
    pb.artifact_size = f->artifact_size;
    pb.artifact_digest.data = (uint8_t *)f->artifact_digest;
    pb.artifact_digest.len = DIGEST_BYTES;
    pb.n_environments = f->n_envs;
    pb.environments = (char **)f->envs;
    pb.created_at = f->created_at;
    if (f->has_notes) {
        pb.notes_digest.data = (uint8_t *)f->notes_digest;
        pb.notes_digest.len = DIGEST_BYTES;
    }
    *len = hoist__manifest__get_packed_size(&pb);
    uint8_t *buf = malloc(*len ? *len : 1);
    if (buf) {
        hoist__manifest__pack(&pb, buf);
    }
    return buf;
}

hoist_err_t
manifest_sign(const manifest_fields_t *f, const keys_secret_t *sk,
              uint8_t **out, size_t *out_len, hoist_error_t *err)
{
    hoist_err_t rc = s_check_fields(f, err);
    if (rc != HOIST_OK) {
        return rc;
    }
    size_t body_len = 0, msg_len = 0;
    uint8_t *body = s_pack_manifest(f, &body_len);
    uint8_t *msg = body ? s_signed_bytes(body, body_len, &msg_len) : NULL;
    uint8_t sig[KEYS_SIG_BYTES];
    uint8_t *packed = NULL;
    if (!msg) {
        rc = error_set(err, HOIST_ERR_NOMEM, "out of memory signing");
        goto out;
    }
    keys_sign(sk, msg, msg_len, sig);
    Hoist__SignedManifest sm = HOIST__SIGNED_MANIFEST__INIT;
    sm.manifest.data = body;
    sm.manifest.len = body_len;
    sm.key_id.data = (uint8_t *)keys_secret_public(sk)->id;
    sm.key_id.len = KEYS_ID_BYTES;
    sm.signature.data = sig;
    sm.signature.len = sizeof sig;
    size_t len = hoist__signed_manifest__get_packed_size(&sm);
    packed = malloc(len);
    if (!packed) {
        rc = error_set(err, HOIST_ERR_NOMEM, "out of memory signing");
        goto out;
    }
    hoist__signed_manifest__pack(&sm, packed);
    *out = packed;
    *out_len = len;
out:
    free(body);
    free(msg);
    return rc;
}

/* Checks the outer record's signature; on success SM's manifest bytes are
 * authentic and KEY_ID says who vouched for them. */
static hoist_err_t
s_check_signature(const Hoist__SignedManifest *sm, const keys_public_t *trusted,
                  size_t n, hoist_error_t *err)
{
    static const uint8_t zero[KEYS_SIG_BYTES];
    char hex[KEYS_ID_HEX_LEN];
    if (sm->signature.len == 0) {
        return error_set(err, HOIST_ERR_SIGNATURE, "manifest is not signed");
    }
    if (sm->signature.len != KEYS_SIG_BYTES) {
        return error_set(err, HOIST_ERR_SIGNATURE,
                         "manifest signature is %zu bytes, expected %d "
                         "(truncated or corrupt)",
                         sm->signature.len, KEYS_SIG_BYTES);
    }
    if (sodium_memcmp(sm->signature.data, zero, KEYS_SIG_BYTES) == 0) {
        return error_set(err, HOIST_ERR_SIGNATURE,
                         "manifest signature is all zeros");
    }
    if (sm->key_id.len != KEYS_ID_BYTES) {
        return error_set(err, HOIST_ERR_SIGNATURE,
                         "manifest names no valid signing key id");
    }
    const keys_public_t *k = keys_find(trusted, n, sm->key_id.data);
    if (!k) {
        return error_set(err, HOIST_ERR_UNTRUSTED,
                         "manifest is signed by key %s, which is not trusted "
                         "here (add its .pub with --trust)",
                         keys_id_hex(sm->key_id.data, hex));
    }
    size_t msg_len = 0;
    uint8_t *msg =
        s_signed_bytes(sm->manifest.data, sm->manifest.len, &msg_len);
    if (!msg) {
        return error_set(err, HOIST_ERR_NOMEM, "out of memory verifying");
    }
    int bad =
        crypto_sign_verify_detached(sm->signature.data, msg, msg_len, k->pk);
    free(msg);
    if (bad) {
        return error_set(err, HOIST_ERR_SIGNATURE,
                         "manifest signature does not match key %s: the "
                         "manifest was altered or signed by another key",
                         keys_id_hex(k->id, hex));
    }
    return HOIST_OK;
}

/* Field checks on an authentic manifest: a trusted signer can still make
 * mistakes, and names end up in paths. */
static hoist_err_t
s_check_parsed(const Hoist__Manifest *pb, hoist_error_t *err)
{
    if (pb->format != MANIFEST_FORMAT) {
        return error_set(err, HOIST_ERR_MANIFEST,
                         "manifest format %u is not supported (this agent "
                         "reads format %d)",
                         pb->format, MANIFEST_FORMAT);
    }
    if (!manifest_name_valid(pb->app) || !manifest_version_valid(pb->version)) {
        return error_set(err, HOIST_ERR_MANIFEST,
                         "manifest names an invalid app or version");
    }
    if (pb->artifact_digest.len != DIGEST_BYTES || pb->artifact_size == 0) {
        return error_set(err, HOIST_ERR_MANIFEST,
                         "manifest lacks an artifact digest or size");
    }
    if (pb->notes_digest.len != 0 && pb->notes_digest.len != DIGEST_BYTES) {
        return error_set(err, HOIST_ERR_MANIFEST, "bad notes digest");
    }
    if (pb->n_environments > MANIFEST_ENVS_MAX) {
        return error_set(err, HOIST_ERR_MANIFEST, "too many environments");
    }
    for (size_t i = 0; i < pb->n_environments; i++) {
        if (!manifest_name_valid(pb->environments[i])) {
            return error_set(err, HOIST_ERR_MANIFEST,
                             "manifest names an invalid environment");
        }
    }
    return HOIST_OK;
}

manifest_t *
manifest_verify(const uint8_t *buf, size_t len, const keys_public_t *trusted,
                size_t n, hoist_error_t *err)
{
    if (sodium_init() < 0 || len == 0 || len > MANIFEST_MAX_BYTES) {
        error_set(err, HOIST_ERR_MANIFEST, "manifest is empty or too large");
        return NULL;
    }
    manifest_t *m = NULL;
    Hoist__Manifest *pb = NULL;
    Hoist__SignedManifest *sm = hoist__signed_manifest__unpack(NULL, len, buf);
    if (!sm) {
        error_set(err, HOIST_ERR_MANIFEST,
                  "not a Hoist manifest file (it does not decode)");
        goto out;
    }
    if (s_check_signature(sm, trusted, n, err) != HOIST_OK) {
        goto out;
    }
    pb = hoist__manifest__unpack(NULL, sm->manifest.len, sm->manifest.data);
    if (!pb) {
        error_set(err, HOIST_ERR_MANIFEST, "signed manifest does not decode");
        goto out;
    }
    if (s_check_parsed(pb, err) != HOIST_OK) {
        goto out;
    }
    m = calloc(1, sizeof *m);
    if (!m) {
        error_set(err, HOIST_ERR_NOMEM, "out of memory");
        goto out;
    }
    m->pb = pb;
    memcpy(m->key_id, sm->key_id.data, KEYS_ID_BYTES);
    pb = NULL;
out:
    if (pb) {
        hoist__manifest__free_unpacked(pb, NULL);
    }
    if (sm) {
        hoist__signed_manifest__free_unpacked(sm, NULL);
    }
    return m;
}

manifest_t *
manifest_load(const char *path, const keys_public_t *trusted, size_t n,
              hoist_error_t *err)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    if (atomicfile_read(path, MANIFEST_MAX_BYTES, &buf, &len, err) !=
        HOIST_OK) {
        if (err) {
            err->code = HOIST_ERR_MANIFEST;
        }
        return NULL;
    }
    manifest_t *m = manifest_verify(buf, len, trusted, n, err);
    free(buf);
    return m;
}

void
manifest_destroy(manifest_t **p)
{
    if (p && *p) {
        hoist__manifest__free_unpacked((*p)->pb, NULL);
        free(*p);
        *p = NULL;
    }
}

const char *
manifest_app(const manifest_t *m)
{
    return m->pb->app;
}

const char *
manifest_version(const manifest_t *m)
{
    return m->pb->version;
}

uint64_t
manifest_sequence(const manifest_t *m)
{
    return m->pb->sequence;
}

uint64_t
manifest_artifact_size(const manifest_t *m)
{
    return m->pb->artifact_size;
}

const uint8_t *
manifest_artifact_digest(const manifest_t *m)
{
    return m->pb->artifact_digest.data;
}

int64_t
manifest_created_at(const manifest_t *m)
{
    return m->pb->created_at;
}

const uint8_t *
manifest_notes_digest(const manifest_t *m)
{
    return m->pb->notes_digest.len == DIGEST_BYTES ? m->pb->notes_digest.data
                                                   : NULL;
}

const uint8_t *
manifest_key_id(const manifest_t *m)
{
    return m->key_id;
}

size_t
manifest_env_count(const manifest_t *m)
{
    return m->pb->n_environments;
}

const char *
manifest_env(const manifest_t *m, size_t i)
{
    return i < m->pb->n_environments ? m->pb->environments[i] : NULL;
}

bool
manifest_env_allowed(const manifest_t *m, const char *env)
{
    if (m->pb->n_environments == 0) {
        return true;
    }
    for (size_t i = 0; i < m->pb->n_environments; i++) {
        if (strcmp(m->pb->environments[i], env) == 0) {
            return true;
        }
    }
    return false;
}
