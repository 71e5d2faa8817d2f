/*
 * curve: see curve.h.
 */
#include "curve.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomicfile.h"
#include "fault.h"

bool
curve_key_canonical(const char *text, char out[CURVE_KEY_Z85_LEN + 1])
{
    uint8_t bin[CURVE_KEY_BYTES];
    char again[CURVE_KEY_Z85_LEN + 1];
    if (!text || strlen(text) != CURVE_KEY_Z85_LEN) {
        return false;
    }
    if (!zmq_z85_decode(bin, text) || !zmq_z85_encode(again, bin, sizeof bin) ||
        strcmp(again, text) != 0) {
        return false;
    }
    memcpy(out, again, sizeof again);
    return true;
}

/* A certificate whose secret half is all zeros was loaded from a public
 * key file: it cannot take part in a handshake. */
static hoist_err_t
s_check_cert(zcert_t *cert, hoist_error_t *err)
{
    static const uint8_t zero[CURVE_KEY_BYTES];
    if (!cert || memcmp(zcert_secret_key(cert), zero, sizeof zero) == 0) {
        return error_set(err, HOIST_ERR_KEY,
                         "curve: the certificate has no secret key");
    }
    return HOIST_OK;
}

zsock_t *
curve_socket(int type, zcert_t *cert, int64_t maxmsgsize, hoist_error_t *err)
{
    if (maxmsgsize <= 0) {
        error_set(err, HOIST_ERR_USAGE,
                  "curve: the message size cap must be positive, not %lld",
                  (long long)maxmsgsize);
        return NULL;
    }
    if (s_check_cert(cert, err) != HOIST_OK) {
        return NULL;
    }
    zsock_t *sock = zsock_new(type);
    if (!sock) {
        error_set(err, HOIST_ERR_IO, "curve: cannot create a socket of type %d",
                  type);
        return NULL;
    }
    zcert_apply(cert, sock);
    if (zmq_setsockopt(zsock_resolve(sock), ZMQ_MAXMSGSIZE, &maxmsgsize,
                       sizeof maxmsgsize) != 0) {
        error_errno(err, HOIST_ERR_IO, zmq_errno(),
                    "curve: cannot set ZMQ_MAXMSGSIZE");
        zsock_destroy(&sock);
    }
    return sock;
}

zsock_t *
curve_client_socket(int type, zcert_t *client_cert,
                    const char *server_public_z85, int64_t maxmsgsize,
                    hoist_error_t *err)
{
    char server_key[CURVE_KEY_Z85_LEN + 1];
    if (!curve_key_canonical(server_public_z85, server_key)) {
        error_set(err, HOIST_ERR_KEY,
                  "the controller key \"%.64s\" is not a CURVE public key (40 "
                  "characters of Z85)",
                  server_public_z85 ? server_public_z85 : "");
        return NULL;
    }
    zsock_t *sock = curve_socket(type, client_cert, maxmsgsize, err);
    if (sock) {
        zsock_set_curve_serverkey(sock, server_key);
    }
    return sock;
}

/* ---- certificate files -----------------------------------------------------
 */

#define ZERO_KEY_Z85 "0000000000000000000000000000000000000000"

zcert_t *
curve_cert_load(const char *dir, const char *name, hoist_error_t *err)
{
    char path[PATH_MAX], secret[PATH_MAX + 8];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    snprintf(secret, sizeof secret, "%s_secret", path);
    struct stat st;
    if (lstat(secret, &st) != 0 || !S_ISREG(st.st_mode)) {
        error_set(err, errno == ENOENT ? HOIST_ERR_NOTFOUND : HOIST_ERR_KEY,
                  "%s is missing or not a file", secret);
        return NULL;
    }
    if (st.st_mode & 077) {
        error_set(err, HOIST_ERR_KEY,
                  "%s may be read by group or others (mode %03o): the key "
                  "may have leaked (chmod 600, or make a new one)",
                  secret, (unsigned)(st.st_mode & 0777));
        return NULL;
    }
    zcert_t *cert = zcert_load(path);
    if (!cert || streq(zcert_secret_txt(cert), ZERO_KEY_Z85)) {
        zcert_destroy(&cert);
        error_set(err, HOIST_ERR_KEY, "%s is not a CURVE certificate", secret);
    }
    return cert;
}

/* fsyncs the file at PATH. */
static hoist_err_t
s_sync_file(const char *path, hoist_error_t *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 || fsync(fd) != 0) {
        int e = errno;
        if (fd >= 0) {
            close(fd);
        }
        return error_errno(err, HOIST_ERR_IO, e, "sync %s", path);
    }
    close(fd);
    return HOIST_OK;
}

/* Writes CERT's secret (SECRET) or public half to PATH through PATH.tmp,
 * synced and renamed. */
static hoist_err_t
s_write_half(zcert_t *cert, const char *path, bool secret, hoist_error_t *err)
{
    char tmp[PATH_MAX + 16];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    mode_t old = umask(077);
    int rc =
        secret ? zcert_save_secret(cert, tmp) : zcert_save_public(cert, tmp);
    umask(old);
    hoist_err_t e = HOIST_OK;
    if (rc != 0 || chmod(tmp, secret ? 0600 : 0644) != 0) {
        e = error_errno(err, HOIST_ERR_IO, errno, "write %s", tmp);
    } else if ((e = s_sync_file(tmp, err)) == HOIST_OK &&
               rename(tmp, path) != 0) {
        e = error_errno(err, HOIST_ERR_IO, errno, "rename %s", tmp);
    }
    if (e != HOIST_OK) {
        unlink(tmp);
    }
    return e;
}

hoist_err_t
curve_cert_save(zcert_t *cert, const char *dir, const char *name,
                hoist_error_t *err)
{
    char path[PATH_MAX], secret[PATH_MAX + 8];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    snprintf(secret, sizeof secret, "%s_secret", path);
    hoist_err_t e = s_write_half(cert, secret, true, err);
    if (e == HOIST_OK) {
        e = s_write_half(cert, path, false, err);
    }
    return e == HOIST_OK ? atomicfile_sync_dir(dir, err) : e;
}

hoist_err_t
curve_cert_rename(const char *dir, const char *from, const char *to,
                  hoist_error_t *err)
{
    char fp[PATH_MAX], fs[PATH_MAX + 8], tp[PATH_MAX], ts[PATH_MAX + 8];
    snprintf(fp, sizeof fp, "%s/%s", dir, from);
    snprintf(fs, sizeof fs, "%s_secret", fp);
    snprintf(tp, sizeof tp, "%s/%s", dir, to);
    snprintf(ts, sizeof ts, "%s_secret", tp);
    bool has_secret = access(fs, F_OK) == 0;
    if (!has_secret && access(fp, F_OK) != 0) {
        return error_set(err, HOIST_ERR_NOTFOUND, "no certificate %s", fp);
    }
    if (has_secret && rename(fs, ts) != 0) {
        return error_errno(err, HOIST_ERR_IO, errno, "rename %s", fs);
    }
    fault_point("cert-switched");
    if (rename(fp, tp) != 0) {
        if (errno != ENOENT) {
            return error_errno(err, HOIST_ERR_IO, errno, "rename %s", fp);
        }
        /* No public copy to move: write it again from the secret. */
        zcert_t *cert = curve_cert_load(dir, to, err);
        hoist_err_t e =
            cert ? s_write_half(cert, tp, false, err) : HOIST_ERR_KEY;
        zcert_destroy(&cert);
        if (e != HOIST_OK) {
            return e;
        }
    }
    return atomicfile_sync_dir(dir, err);
}
