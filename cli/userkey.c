/*
 * userkey: see userkey.h. zcert_save opens its files with fopen(3), whose
 * mode follows the umask, and truncates what is there. So the two files
 * are first created here with O_EXCL and their final modes: that is the
 * "never overwrite" check without a race, and zcert_save then writes
 * into files that are already 0600 and 0644.
 */
#include "userkey.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <czmq.h>
#include <sodium.h>

#include "input.h"

#define S_SECRET_TAIL "_secret"

/* The error for a file that cannot be created: the path is the user's to
 * fix (exit 2) unless the disk or the system failed. */
static hoist_err_t
s_create_error(const char *path, int errnum, hoist_error_t *err)
{
    if (errnum == EEXIST) {
        return error_set(err, HOIST_ERR_EXISTS,
                         "%s exists already: hoist keygen never overwrites a "
                         "key (choose another --out, or remove the old pair "
                         "if it is really unused)",
                         path);
    }
    bool usage = errnum == ENOENT || errnum == ENOTDIR || errnum == EACCES ||
                 errnum == EROFS || errnum == EISDIR || errnum == ELOOP;
    return error_errno(err, usage ? HOIST_ERR_USAGE : error_from_errno(errnum),
                       errnum, "cannot create %s", path);
}

/* Creates PATH, which must not exist, with MODE exactly. */
static hoist_err_t
s_claim(const char *path, mode_t mode, hoist_error_t *err)
{
    int fd =
        open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0) {
        return s_create_error(path, errno, err);
    }
    /* The umask may have taken bits away from the public file. */
    int rc = fchmod(fd, mode);
    int saved = errno;
    close(fd);
    return rc == 0 ? HOIST_OK
                   : error_errno(err, HOIST_ERR_IO, saved, "chmod %s", path);
}

/* Wipes the copies of the secret key that CERT holds, then frees it.
 * czmq hands them out as const, but they are arrays inside the zcert's
 * own heap block, which it is about to free unwiped. */
static void
s_cert_destroy(zcert_t **cert)
{
    if (*cert) {
        sodium_memzero((void *)zcert_secret_key(*cert), CURVE_KEY_BYTES);
        char *txt = (char *)zcert_secret_txt(*cert);
        sodium_memzero(txt, strlen(txt));
    }
    zcert_destroy(cert);
}

hoist_err_t
userkey_generate(const char *prefix, char public_z85[CURVE_KEY_Z85_LEN + 1],
                 hoist_error_t *err)
{
    char *secret = NULL;
    if (asprintf(&secret, "%s%s", prefix, S_SECRET_TAIL) < 0) {
        return error_set(err, HOIST_ERR_NOMEM, "out of memory");
    }
    struct stat st;
    hoist_err_t rc = HOIST_OK;
    zcert_t *cert = NULL;
    /* Both are checked before either is created, so a half-existing pair
     * is reported as it is and left alone. */
    const char *taken = lstat(prefix, &st) == 0   ? prefix
                        : lstat(secret, &st) == 0 ? secret
                                                  : NULL;
    if (taken) {
        rc = s_create_error(taken, EEXIST, err);
        goto out;
    }
    if ((rc = s_claim(secret, 0600, err)) != HOIST_OK) {
        goto out;
    }
    if ((rc = s_claim(prefix, 0644, err)) != HOIST_OK) {
        unlink(secret);
        goto out;
    }
    cert = zcert_new();
    if (!cert || zcert_save(cert, prefix) != 0) {
        rc = error_errno(err, cert ? HOIST_ERR_IO : HOIST_ERR_NOMEM, errno,
                         "cannot write the key pair %s", prefix);
        unlink(secret);
        unlink(prefix);
    } else {
        snprintf(public_z85, CURVE_KEY_Z85_LEN + 1, "%s",
                 zcert_public_txt(cert));
    }
out:
    s_cert_destroy(&cert);
    free(secret);
    return rc;
}

/* ---- reading ------------------------------------------------------------ */

/* zconfig_str_load with stdout muted. czmq 4.2's parser reports a syntax
 * error with zclock_log, which prints to stdout whatever
 * zsys_set_logstream says: that would corrupt --json output, and the
 * line it quotes may hold a secret key. Muting fd 1 for the call is safe
 * here because the CLI is single-threaded when it reads a key file. */
static zconfig_t *
s_parse_quietly(const char *text)
{
    fflush(stdout);
    int saved = fcntl(1, F_DUPFD_CLOEXEC, 3);
    int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
    bool muted = saved >= 0 && null >= 0 && dup2(null, 1) >= 0;
    zconfig_t *root = zconfig_str_load(text);
    fflush(stdout);
    if (muted) {
        dup2(saved, 1);
    }
    if (saved >= 0) {
        close(saved);
    }
    if (null >= 0) {
        close(null);
    }
    return root;
}

/* Decodes the Z85 key at PATH (e.g. "/curve/public-key") of ROOT into
 * KEY; false when it is missing or not a canonical key. */
static bool
s_key(zconfig_t *root, const char *path, uint8_t key[CURVE_KEY_BYTES])
{
    char z85[CURVE_KEY_Z85_LEN + 1];
    const char *text = root ? zconfig_get(root, path, NULL) : NULL;
    bool ok = text && curve_key_canonical(text, z85) &&
              zmq_z85_decode(key, z85) != NULL;
    sodium_memzero(z85, sizeof z85);
    return ok;
}

/* Reads the certificate file PATH and decodes its public key into PUB
 * and, when SEC is not NULL, its secret key into SEC; *FOUND says whether
 * the keys were there. Every copy of the file's text is wiped. Fails
 * (with ERR naming WHAT) only when the file cannot be read. */
static hoist_err_t
s_read_cert(const char *path, const char *what, uint8_t pub[CURVE_KEY_BYTES],
            uint8_t *sec, bool *found, hoist_error_t *err)
{
    char *text = NULL;
    size_t len = 0;
    hoist_err_t rc = input_read(path, what, USERKEY_FILE_MAX, &text, &len, err);
    if (rc != HOIST_OK) {
        return rc;
    }
    zconfig_t *root = memchr(text, '\0', len) ? NULL : s_parse_quietly(text);
    *found = s_key(root, "/curve/public-key", pub) &&
             (!sec || s_key(root, "/curve/secret-key", sec));
    zconfig_t *secret = root ? zconfig_locate(root, "/curve/secret-key") : NULL;
    char *value = secret ? zconfig_value(secret) : NULL;
    if (value) {
        sodium_memzero(value, strlen(value));
    }
    zconfig_destroy(&root);
    sodium_memzero(text, len);
    free(text);
    return HOIST_OK;
}

hoist_err_t
userkey_read_public(const char *path, char public_z85[CURVE_KEY_Z85_LEN + 1],
                    hoist_error_t *err)
{
    uint8_t pub[CURVE_KEY_BYTES];
    bool found = false;
    hoist_err_t rc = s_read_cert(path, "user key", pub, NULL, &found, err);
    if (rc == HOIST_OK && !found) {
        rc = error_set(err, HOIST_ERR_USAGE,
                       "%s is not a CURVE user certificate: give the PREFIX "
                       "file that hoist keygen --user wrote (a release "
                       "key's .pub from plain hoist keygen is another kind "
                       "of key)",
                       path);
    }
    if (rc == HOIST_OK) {
        zmq_z85_encode(public_z85, pub, sizeof pub);
    }
    return rc;
}

zcert_t *
userkey_load_secret(const char *path, hoist_error_t *err)
{
    static const uint8_t zero[CURVE_KEY_BYTES];
    uint8_t pub[CURVE_KEY_BYTES], sec[CURVE_KEY_BYTES];
    bool found = false;
    zcert_t *cert = NULL;
    if (s_read_cert(path, "secret key", pub, sec, &found, err) != HOIST_OK) {
        return NULL;
    }
    if (!found || sodium_memcmp(sec, zero, sizeof zero) == 0) {
        error_set(err, HOIST_ERR_KEY,
                  "%s is not a CURVE secret certificate (the zcert files "
                  "that hoist-controller init and hoist keygen --user write)",
                  path);
    } else if (!(cert = zcert_new_from(pub, sec))) {
        error_set(err, HOIST_ERR_NOMEM, "out of memory");
    }
    sodium_memzero(sec, sizeof sec);
    return cert;
}
