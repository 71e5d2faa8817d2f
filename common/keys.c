/*
 * keys: see keys.h.
 */
#include "keys.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomicfile.h"

#define PUB_TAG     "hoist-ed25519-public "
#define SEC_TAG     "hoist-ed25519-secret "
#define KEYFILE_MAX 256

struct keys_secret {
    uint8_t sk[crypto_sign_SECRETKEYBYTES];
    keys_public_t pub;
};

static void
s_key_id(const uint8_t pk[KEYS_PUBLIC_BYTES], uint8_t id[KEYS_ID_BYTES])
{
    uint8_t h[32];
    crypto_generichash(h, sizeof h, pk, KEYS_PUBLIC_BYTES, NULL, 0);
    memcpy(id, h, KEYS_ID_BYTES);
}

/* Decodes "TAG<base64>\n?" into exactly LEN bytes of OUT. */
static int
s_decode_line(const char *text, size_t textlen, const char *tag, uint8_t *out,
              size_t len)
{
    size_t taglen = strlen(tag);
    if (textlen < taglen || memcmp(text, tag, taglen) != 0) {
        return -1;
    }
    const char *b64 = text + taglen;
    size_t b64len = textlen - taglen;
    if (b64len > 0 && b64[b64len - 1] == '\n') {
        b64len--;
    }
    size_t got = 0;
    const char *end = NULL;
    if (sodium_base642bin(out, len, b64, b64len, NULL, &got, &end,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        got != len || end != b64 + b64len) {
        return -1;
    }
    return 0;
}

static hoist_err_t
s_encode_line(const char *tag, const uint8_t *bin, size_t len, char *out,
              size_t outlen)
{
    size_t taglen = strlen(tag);
    size_t need =
        taglen +
        sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL) + 1;
    if (need > outlen) {
        return HOIST_ERR_USAGE;
    }
    memcpy(out, tag, taglen);
    sodium_bin2base64(out + taglen, outlen - taglen, bin, len,
                      sodium_base64_VARIANT_ORIGINAL);
    strcat(out, "\n");
    return HOIST_OK;
}

hoist_err_t
keys_generate(const char *prefix, hoist_error_t *err)
{
    if (sodium_init() < 0) {
        return error_set(err, HOIST_ERR_NOMEM, "libsodium failed to start");
    }
    char path[4096];
    uint8_t pk[crypto_sign_PUBLICKEYBYTES];
    uint8_t *seed = sodium_malloc(crypto_sign_SEEDBYTES);
    uint8_t *sk = sodium_malloc(crypto_sign_SECRETKEYBYTES);
    char *line = sodium_malloc(KEYFILE_MAX);
    hoist_err_t rc = HOIST_OK;
    if (!seed || !sk || !line) {
        rc = error_set(err, HOIST_ERR_NOMEM, "out of secure memory");
        goto out;
    }
    randombytes_buf(seed, crypto_sign_SEEDBYTES);
    crypto_sign_seed_keypair(pk, sk, seed);
    s_encode_line(SEC_TAG, seed, crypto_sign_SEEDBYTES, line, KEYFILE_MAX);
    snprintf(path, sizeof path, "%s.key", prefix);
    rc = atomicfile_create(path, line, strlen(line), 0600, err);
    if (rc != HOIST_OK) {
        goto out;
    }
    s_encode_line(PUB_TAG, pk, sizeof pk, line, KEYFILE_MAX);
    snprintf(path, sizeof path, "%s.pub", prefix);
    rc = atomicfile_create(path, line, strlen(line), 0644, err);
    if (rc != HOIST_OK) {
        /* Never leave a secret key without its public half. */
        snprintf(path, sizeof path, "%s.key", prefix);
        unlink(path);
    }
out:
    sodium_free(seed);
    sodium_free(sk);
    sodium_free(line);
    return rc;
}

/* Opens PATH as a key file: regular, not a symlink, mode checked. */
static int
s_open_secret(const char *path, hoist_error_t *err)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        error_errno(err, HOIST_ERR_KEY, errno, "cannot open key file %s", path);
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        error_set(err, HOIST_ERR_KEY, "key file %s is not a regular file",
                  path);
        close(fd);
        return -1;
    }
    if (st.st_mode & 077) {
        error_set(err, HOIST_ERR_KEY,
                  "key file %s has mode %04o: it must not be readable by "
                  "group or others (run: chmod 600 %s, and consider the key "
                  "exposed)",
                  path, (unsigned)(st.st_mode & 07777), path);
        close(fd);
        return -1;
    }
    return fd;
}

keys_secret_t *
keys_secret_load(const char *path, hoist_error_t *err)
{
    if (sodium_init() < 0) {
        error_set(err, HOIST_ERR_NOMEM, "libsodium failed to start");
        return NULL;
    }
    keys_secret_t *k = NULL;
    char *line = sodium_malloc(KEYFILE_MAX);
    uint8_t *seed = sodium_malloc(crypto_sign_SEEDBYTES);
    int fd = s_open_secret(path, err);
    if (fd < 0) {
        goto out;
    }
    if (!line || !seed) {
        error_set(err, HOIST_ERR_NOMEM, "out of secure memory");
        goto out;
    }
    ssize_t n = read(fd, line, KEYFILE_MAX - 1);
    if (n <= 0 || n == KEYFILE_MAX - 1 ||
        s_decode_line(line, (size_t)n, SEC_TAG, seed, crypto_sign_SEEDBYTES)) {
        error_set(err, HOIST_ERR_KEY,
                  "%s is not a Hoist secret key (made by: hoist keygen)", path);
        goto out;
    }
    k = sodium_malloc(sizeof *k);
    if (!k) {
        error_set(err, HOIST_ERR_NOMEM, "out of secure memory");
        goto out;
    }
    crypto_sign_seed_keypair(k->pub.pk, k->sk, seed);
    s_key_id(k->pub.pk, k->pub.id);
out:
    if (fd >= 0) {
        close(fd);
    }
    sodium_free(line);
    sodium_free(seed);
    return k;
}

void
keys_secret_destroy(keys_secret_t **p)
{
    if (p && *p) {
        sodium_free(*p); /* sodium_free wipes before it frees */
        *p = NULL;
    }
}

const keys_public_t *
keys_secret_public(const keys_secret_t *sk)
{
    return &sk->pub;
}

void
keys_sign(const keys_secret_t *sk, const uint8_t *msg, size_t len,
          uint8_t sig[KEYS_SIG_BYTES])
{
    crypto_sign_detached(sig, NULL, msg, len, sk->sk);
}

/* Parses LEN bytes of public key text; a NUL inside is malformed. */
static hoist_err_t
s_public_parse(const char *text, size_t len, keys_public_t *out,
               hoist_error_t *err)
{
    keys_public_t k;
    if (memchr(text, '\0', len) != NULL ||
        s_decode_line(text, len, PUB_TAG, k.pk, sizeof k.pk) != 0) {
        return error_set(err, HOIST_ERR_KEY,
                         "not a Hoist public key (expected a line starting "
                         "'%s')",
                         PUB_TAG);
    }
    s_key_id(k.pk, k.id);
    *out = k;
    return HOIST_OK;
}

hoist_err_t
keys_public_parse(const char *text, keys_public_t *out, hoist_error_t *err)
{
    return s_public_parse(text, strlen(text), out, err);
}

hoist_err_t
keys_public_load(const char *path, keys_public_t *out, hoist_error_t *err)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    hoist_err_t rc = atomicfile_read(path, KEYFILE_MAX, &buf, &len, err);
    if (rc != HOIST_OK) {
        if (err) {
            err->code = HOIST_ERR_KEY;
        }
        error_prefix(err, "cannot read public key");
        return HOIST_ERR_KEY;
    }
    rc = s_public_parse((const char *)buf, len, out, err);
    if (rc != HOIST_OK) {
        error_prefix(err, "%s", path);
    }
    free(buf);
    return rc;
}

const keys_public_t *
keys_find(const keys_public_t *set, size_t n, const uint8_t id[KEYS_ID_BYTES])
{
    for (size_t i = 0; i < n; i++) {
        if (memcmp(set[i].id, id, KEYS_ID_BYTES) == 0) {
            return &set[i];
        }
    }
    return NULL;
}

const char *
keys_id_hex(const uint8_t id[KEYS_ID_BYTES], char hex[KEYS_ID_HEX_LEN])
{
    sodium_bin2hex(hex, KEYS_ID_HEX_LEN, id, KEYS_ID_BYTES);
    return hex;
}
