/*
 * signing: see signing.h.
 */
#include "signing.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hoist.pb-c.h"
#include "input.h"

/* Reads a build sequence number into A. */
static hoist_err_t
s_sequence(signing_args_t *a, const char *arg, hoist_error_t *err)
{
    char *end = NULL;
    errno = 0;
    a->sequence = strtoull(arg, &end, 10);
    if (errno || *end || arg[0] == '-' || !arg[0]) {
        return error_set(err, HOIST_ERR_USAGE,
                         "--sequence takes a number, not '%s'", arg);
    }
    a->has_sequence = true;
    return HOIST_OK;
}

hoist_err_t
signing_option(signing_args_t *a, const char *name, const char *arg,
               hoist_error_t *err)
{
    if (strcmp(name, "sign-key") == 0) {
        a->key = arg;
    } else if (strcmp(name, "notes") == 0) {
        a->notes = arg;
    } else if (strcmp(name, "sequence") == 0) {
        return s_sequence(a, arg, err);
    } else if (strcmp(name, "env") == 0) {
        if (a->n_envs == MANIFEST_ENVS_MAX) {
            return error_set(err, HOIST_ERR_USAGE, "more than %d --env",
                             MANIFEST_ENVS_MAX);
        }
        a->envs[a->n_envs++] = arg;
    }
    /* Other options (--out, --manifest) are the command's own. */
    return HOIST_OK;
}

hoist_err_t
signing_read_notes(const char *path, char **text, size_t *len,
                   hoist_error_t *err)
{
    char *buf = NULL;
    size_t n = 0;
    hoist_err_t rc =
        input_read(path, "release notes", SIGNING_NOTES_MAX, &buf, &n, err);
    if (rc != HOIST_OK) {
        return rc;
    }
    if (memchr(buf, '\0', n)) {
        free(buf);
        return error_set(err, HOIST_ERR_USAGE,
                         "the release notes %s hold a NUL byte: they must be "
                         "text",
                         path);
    }
    *text = buf;
    *len = n;
    return HOIST_OK;
}

/* Hashes the file at PATH into D and its size into SIZE. */
static hoist_err_t
s_hash_file(const char *path, uint8_t d[DIGEST_BYTES], uint64_t *size,
            hoist_error_t *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return error_errno(err, HOIST_ERR_USAGE, errno, "open %s", path);
    }
    hoist_err_t rc = digest_fd(fd, d, size, err);
    close(fd);
    return rc;
}

/* Reads the notes at PATH into R and hashes them into F. */
static hoist_err_t
s_hash_notes(const char *path, manifest_fields_t *f, signing_result_t *r,
             hoist_error_t *err)
{
    if (signing_read_notes(path, &r->notes, &r->notes_len, err) != HOIST_OK) {
        return err ? err->code : HOIST_ERR_USAGE;
    }
    digest_t *d = digest_new();
    if (!d) {
        return error_set(err, HOIST_ERR_NOMEM, "out of memory");
    }
    digest_update(d, r->notes, r->notes_len);
    digest_final(d, f->notes_digest);
    digest_destroy(&d);
    f->has_notes = true;
    return HOIST_OK;
}

/* Fills F from A, hashing the artifact and the notes (kept in R). */
static hoist_err_t
s_fields(const signing_args_t *a, manifest_fields_t *f, signing_result_t *r,
         hoist_error_t *err)
{
    *f = (manifest_fields_t){.app = a->app,
                             .version = a->version,
                             .envs = a->envs,
                             .n_envs = a->n_envs,
                             .created_at = (int64_t)time(NULL)};
    /* Without --sequence the creation time orders builds: monotonic as
     * long as the signer's clock is. CI should pass its build number. */
    f->sequence = a->has_sequence ? a->sequence : (uint64_t)f->created_at;
    if (!manifest_name_valid(f->app) || !manifest_version_valid(f->version)) {
        return error_set(err, HOIST_ERR_USAGE,
                         "'%s %s' is not a valid app name and version: apps "
                         "use a-z 0-9 - _, versions A-Z a-z 0-9 . _ + -",
                         f->app, f->version);
    }
    hoist_err_t rc =
        s_hash_file(a->artifact, f->artifact_digest, &f->artifact_size, err);
    if (rc == HOIST_OK && a->notes) {
        rc = s_hash_notes(a->notes, f, r, err);
    }
    return rc;
}

hoist_err_t
signing_sign(const signing_args_t *a, signing_result_t *out, hoist_error_t *err)
{
    manifest_fields_t f;
    signing_result_t r = {0};
    char keypath[4096];
    snprintf(keypath, sizeof keypath, "%s.key", a->key);
    keys_secret_t *sk = NULL;
    hoist_err_t rc = s_fields(a, &f, &r, err);
    if (rc == HOIST_OK && !(sk = keys_secret_load(keypath, err))) {
        rc = err ? err->code : HOIST_ERR_KEY;
    }
    if (rc == HOIST_OK) {
        rc = manifest_sign(&f, sk, &r.manifest, &r.manifest_len, err);
    }
    if (rc == HOIST_OK) {
        r.sequence = f.sequence;
        r.artifact_size = f.artifact_size;
        digest_hex(f.artifact_digest, r.digest_hex);
        keys_id_hex(keys_secret_public(sk)->id, r.key_id_hex);
        *out = r;
    } else {
        signing_result_free(&r);
    }
    keys_secret_destroy(&sk);
    return rc;
}

void
signing_result_free(signing_result_t *r)
{
    if (r) {
        free(r->manifest);
        free(r->notes);
        r->manifest = NULL;
        r->notes = NULL;
    }
}

/* Compares the decoded manifest M with what the command line says. */
static hoist_err_t
s_compare(const Hoist__Manifest *m, const char *app, const char *version,
          uint64_t artifact_size, bool has_notes, hoist_error_t *err)
{
    if (!m->app || !m->version || strcmp(m->app, app) != 0 ||
        strcmp(m->version, version) != 0) {
        return error_set(
            err, HOIST_ERR_MANIFEST, "the manifest is for %s %s, not %s %s",
            m->app ? m->app : "?", m->version ? m->version : "?", app, version);
    }
    if (m->artifact_size != artifact_size) {
        return error_set(err, HOIST_ERR_MANIFEST,
                         "the manifest is for an artifact of %llu bytes; "
                         "this one has %llu: is it the artifact that was "
                         "signed?",
                         (unsigned long long)m->artifact_size,
                         (unsigned long long)artifact_size);
    }
    if ((m->notes_digest.len > 0) != has_notes) {
        return error_set(err, HOIST_ERR_MANIFEST,
                         has_notes ? "the manifest was signed without notes: "
                                     "drop --notes or sign again with them"
                                   : "the manifest was signed with release "
                                     "notes: pass the same file with --notes");
    }
    return HOIST_OK;
}

hoist_err_t
signing_check_manifest(const uint8_t *buf, size_t len, const char *app,
                       const char *version, uint64_t artifact_size,
                       bool has_notes, hoist_error_t *err)
{
    Hoist__SignedManifest *sm = hoist__signed_manifest__unpack(NULL, len, buf);
    Hoist__Manifest *m =
        sm ? hoist__manifest__unpack(NULL, sm->manifest.len, sm->manifest.data)
           : NULL;
    hoist_err_t rc =
        m ? s_compare(m, app, version, artifact_size, has_notes, err)
          : error_set(err, HOIST_ERR_MANIFEST,
                      "not a signed manifest (make one with hoist release "
                      "sign)");
    if (m) {
        hoist__manifest__free_unpacked(m, NULL);
    }
    if (sm) {
        hoist__signed_manifest__free_unpacked(sm, NULL);
    }
    return rc;
}
