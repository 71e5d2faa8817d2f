/*
 * test_manifest: sign and verify round trips, and every rejection with its
 * own code and words. The bad manifests are built here with the protobuf
 * API and signed with a key of the test's own, so the signature is VALID
 * and only the content is wrong: the verifier must check the fields of an
 * authentic manifest, not only the signature.
 */
#include "testutil.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hoist.pb-c.h"
#include "keys.h"
#include "manifest.h"

#define PUB_TAG "hoist-ed25519-public "
static const char s_domain[] = "hoist-manifest-v1"; /* and its NUL */

typedef struct {
    char *dir;
    keys_secret_t *sk_a; /* trusted, made by keys_generate */
    keys_secret_t *sk_b; /* not trusted */
    keys_public_t pub_b;
    /* A raw key pair for hand-made manifests, trusted too. */
    uint8_t craft_pk[crypto_sign_PUBLICKEYBYTES];
    uint8_t craft_sk[crypto_sign_SECRETKEYBYTES];
    keys_public_t trusted[2]; /* A, craft */
} fx_t;

static keys_secret_t *
s_new_key(const char *dir, const char *name, keys_public_t *pub)
{
    char *prefix = tu_path(dir, name);
    char path[4096];
    hoist_error_t err = {0};
    assert_int_equal(keys_generate(prefix, &err), HOIST_OK);
    snprintf(path, sizeof path, "%s.key", prefix);
    keys_secret_t *sk = keys_secret_load(path, &err);
    assert_non_null(sk);
    snprintf(path, sizeof path, "%s.pub", prefix);
    assert_int_equal(keys_public_load(path, pub, &err), HOIST_OK);
    free(prefix);
    return sk;
}

static int
s_setup(void **state)
{
    fx_t *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    assert_true(sodium_init() >= 0);
    fx->dir = tu_tmpdir();
    fx->sk_a = s_new_key(fx->dir, "a", &fx->trusted[0]);
    fx->sk_b = s_new_key(fx->dir, "b", &fx->pub_b);
    crypto_sign_keypair(fx->craft_pk, fx->craft_sk);
    char b64[128], line[256];
    sodium_bin2base64(b64, sizeof b64, fx->craft_pk, sizeof fx->craft_pk,
                      sodium_base64_VARIANT_ORIGINAL);
    snprintf(line, sizeof line, "%s%s\n", PUB_TAG, b64);
    assert_int_equal(keys_public_parse(line, &fx->trusted[1], NULL), HOIST_OK);
    *state = fx;
    return 0;
}

static int
s_teardown(void **state)
{
    fx_t *fx = *state;
    keys_secret_destroy(&fx->sk_a);
    keys_secret_destroy(&fx->sk_b);
    tu_rmtree(fx->dir);
    free(fx);
    return 0;
}

static const char *const s_envs[] = {"staging", "production", "dr"};

static manifest_fields_t
s_fields(void)
{
    manifest_fields_t f = {0};
    f.app = "web";
    f.version = "1.2.0-rc.1+build_7";
    f.sequence = 42;
    f.artifact_size = 5ULL * 1024 * 1024 * 1024 + 3; /* past 32 bits */
    for (size_t i = 0; i < DIGEST_BYTES; i++) {
        f.artifact_digest[i] = (uint8_t)(0xa0 + i);
    }
    f.envs = s_envs;
    f.n_envs = 3;
    f.created_at = 1767225600;
    return f;
}

static uint8_t *
s_sign(const manifest_fields_t *f, const keys_secret_t *sk, size_t *len)
{
    uint8_t *out = NULL;
    hoist_error_t err = {0};
    if (manifest_sign(f, sk, &out, len, &err) != HOIST_OK) {
        fail_msg("manifest_sign: %s", err.msg);
    }
    assert_non_null(out);
    return out;
}

/* Verifies BUF expecting a rejection with CODE and WANT in the message. */
static void
s_expect_rejected(const fx_t *fx, const uint8_t *buf, size_t len,
                  hoist_err_t code, const char *want)
{
    hoist_error_t err = {0};
    manifest_t *m = manifest_verify(buf, len, fx->trusted, 2, &err);
    if (m) {
        manifest_destroy(&m);
        fail_msg("accepted; expected %s (%s)", hoist_strerror(code), want);
    }
    if (err.code != code) {
        fail_msg("got %s (%s); expected %s (%s)", hoist_strerror(err.code),
                 err.msg, hoist_strerror(code), want);
    }
    assert_contains(err.msg, want);
}

/* Packs a SignedManifest from its three parts. */
static uint8_t *
s_pack_signed(const uint8_t *body, size_t body_len, const uint8_t *kid,
              size_t kid_len, const uint8_t *sig, size_t sig_len, size_t *len)
{
    Hoist__SignedManifest sm = HOIST__SIGNED_MANIFEST__INIT;
    sm.manifest.data = (uint8_t *)body;
    sm.manifest.len = body_len;
    sm.key_id.data = (uint8_t *)kid;
    sm.key_id.len = kid_len;
    sm.signature.data = (uint8_t *)sig;
    sm.signature.len = sig_len;
    *len = hoist__signed_manifest__get_packed_size(&sm);
    uint8_t *buf = malloc(*len ? *len : 1);
    assert_non_null(buf);
    assert_int_equal(hoist__signed_manifest__pack(&sm, buf), *len);
    return buf;
}

/* A valid signature by the craft key over "hoist-manifest-v1\0" || BODY. */
static void
s_craft_sig(const fx_t *fx, const uint8_t *body, size_t body_len,
            uint8_t sig[KEYS_SIG_BYTES])
{
    size_t n = sizeof s_domain + body_len;
    uint8_t *msg = malloc(n);
    assert_non_null(msg);
    memcpy(msg, s_domain, sizeof s_domain);
    memcpy(msg + sizeof s_domain, body, body_len);
    assert_int_equal(crypto_sign_detached(sig, NULL, msg, n, fx->craft_sk), 0);
    free(msg);
}

/* Packs PB, signs it validly with the craft key, and packs the file. */
static uint8_t *
s_craft(const fx_t *fx, const Hoist__Manifest *pb, size_t *len)
{
    size_t body_len = hoist__manifest__get_packed_size(pb);
    uint8_t *body = malloc(body_len ? body_len : 1);
    assert_non_null(body);
    hoist__manifest__pack(pb, body);
    uint8_t sig[KEYS_SIG_BYTES];
    s_craft_sig(fx, body, body_len, sig);
    uint8_t *buf = s_pack_signed(body, body_len, fx->trusted[1].id,
                                 KEYS_ID_BYTES, sig, sizeof sig, len);
    free(body);
    return buf;
}

static uint8_t s_digest[DIGEST_BYTES] = {1, 2, 3, 4, 5, 6, 7, 8};

/* A manifest body that verify accepts; tests spoil one field of it. */
static Hoist__Manifest
s_good_pb(void)
{
    Hoist__Manifest pb = HOIST__MANIFEST__INIT;
    pb.format = 1;
    pb.app = "web";
    pb.version = "2.0.0";
    pb.sequence = 7;
    pb.artifact_size = 1000;
    pb.artifact_digest.data = s_digest;
    pb.artifact_digest.len = DIGEST_BYTES;
    pb.created_at = 1700000000;
    return pb;
}

static void
test_round_trip_keeps_every_field(void **state)
{
    fx_t *fx = *state;
    manifest_fields_t f = s_fields();
    size_t len = 0;
    uint8_t *buf = s_sign(&f, fx->sk_a, &len);
    assert_true(len <= MANIFEST_MAX_BYTES);

    hoist_error_t err = {0};
    manifest_t *m = manifest_verify(buf, len, fx->trusted, 2, &err);
    if (!m) {
        fail_msg("verify: %s", err.msg);
    }
    assert_string_equal(manifest_app(m), "web");
    assert_string_equal(manifest_version(m), "1.2.0-rc.1+build_7");
    assert_int_equal(manifest_sequence(m), 42);
    assert_int_equal(manifest_artifact_size(m), 5ULL * 1024 * 1024 * 1024 + 3);
    assert_memory_equal(manifest_artifact_digest(m), f.artifact_digest,
                        DIGEST_BYTES);
    assert_int_equal(manifest_created_at(m), 1767225600);
    assert_memory_equal(manifest_key_id(m), fx->trusted[0].id, KEYS_ID_BYTES);
    assert_int_equal(manifest_env_count(m), 3);
    for (size_t i = 0; i < 3; i++) {
        assert_string_equal(manifest_env(m, i), s_envs[i]);
    }
    assert_null(manifest_env(m, 3));
    manifest_destroy(&m);
    assert_null(m);
    manifest_destroy(&m);
    manifest_destroy(NULL);

    /* The same through a file. */
    char *path = tu_path(fx->dir, "web.manifest");
    tu_write(path, (const char *)buf, len, 0644);
    m = manifest_load(path, fx->trusted, 2, &err);
    assert_non_null(m);
    assert_int_equal(manifest_sequence(m), 42);
    manifest_destroy(&m);
    free(path);
    free(buf);
}

static void
test_round_trip_extremes(void **state)
{
    fx_t *fx = *state;
    manifest_fields_t f = s_fields();
    char app[MANIFEST_NAME_MAX + 1], ver[MANIFEST_VERSION_MAX + 1];
    memset(app, 'a', MANIFEST_NAME_MAX);
    app[MANIFEST_NAME_MAX] = '\0';
    memset(ver, '9', MANIFEST_VERSION_MAX);
    ver[MANIFEST_VERSION_MAX] = '\0';
    f.app = app;
    f.version = ver;
    f.sequence = UINT64_MAX;
    f.artifact_size = UINT64_MAX;
    f.created_at = -1; /* before 1970 is odd, but it is what was signed */
    f.has_notes = true;
    memset(f.notes_digest, 0x33, DIGEST_BYTES);
    static const char *many[MANIFEST_ENVS_MAX];
    static char names[MANIFEST_ENVS_MAX][8];
    for (size_t i = 0; i < MANIFEST_ENVS_MAX; i++) {
        snprintf(names[i], sizeof names[i], "e%zu", i);
        many[i] = names[i];
    }
    f.envs = many;
    f.n_envs = MANIFEST_ENVS_MAX;
    size_t len = 0;
    uint8_t *buf = s_sign(&f, fx->sk_a, &len);
    hoist_error_t err = {0};
    manifest_t *m = manifest_verify(buf, len, fx->trusted, 2, &err);
    if (!m) {
        fail_msg("verify: %s", err.msg);
    }
    assert_string_equal(manifest_app(m), app);
    assert_string_equal(manifest_version(m), ver);
    assert_true(manifest_sequence(m) == UINT64_MAX);
    assert_true(manifest_artifact_size(m) == UINT64_MAX);
    assert_int_equal(manifest_created_at(m), -1);
    assert_int_equal(manifest_env_count(m), MANIFEST_ENVS_MAX);
    assert_string_equal(manifest_env(m, MANIFEST_ENVS_MAX - 1), "e63");
    manifest_destroy(&m);
    free(buf);
}

static void
test_env_allowed(void **state)
{
    fx_t *fx = *state;
    manifest_fields_t f = s_fields();
    f.envs = s_envs;
    f.n_envs = 2; /* staging, production */
    size_t len = 0;
    uint8_t *buf = s_sign(&f, fx->sk_a, &len);
    manifest_t *m = manifest_verify(buf, len, fx->trusted, 2, NULL);
    assert_non_null(m);
    assert_true(manifest_env_allowed(m, "staging"));
    assert_true(manifest_env_allowed(m, "production"));
    assert_false(manifest_env_allowed(m, "dr"));
    assert_false(manifest_env_allowed(m, "prod"));
    assert_false(manifest_env_allowed(m, "productionx"));
    assert_false(manifest_env_allowed(m, "Staging"));
    assert_false(manifest_env_allowed(m, ""));
    manifest_destroy(&m);
    free(buf);

    /* No list: any environment. */
    f.envs = NULL;
    f.n_envs = 0;
    buf = s_sign(&f, fx->sk_a, &len);
    m = manifest_verify(buf, len, fx->trusted, 2, NULL);
    assert_non_null(m);
    assert_int_equal(manifest_env_count(m), 0);
    assert_null(manifest_env(m, 0));
    assert_true(manifest_env_allowed(m, "dev"));
    assert_true(manifest_env_allowed(m, "production"));
    manifest_destroy(&m);
    free(buf);
}

/* Changing any one byte of the signed body breaks the signature. */
static void
test_tampered_body_is_a_signature_error(void **state)
{
    fx_t *fx = *state;
    manifest_fields_t f = s_fields();
    size_t len = 0;
    uint8_t *buf = s_sign(&f, fx->sk_a, &len);
    Hoist__SignedManifest *sm = hoist__signed_manifest__unpack(NULL, len, buf);
    assert_non_null(sm);
    assert_true(sm->manifest.len > 0);
    uint8_t *body = malloc(sm->manifest.len);
    assert_non_null(body);
    char hex[KEYS_ID_HEX_LEN];
    keys_id_hex(fx->trusted[0].id, hex);
    for (size_t i = 0; i < sm->manifest.len; i++) {
        memcpy(body, sm->manifest.data, sm->manifest.len);
        body[i] ^= 0x01;
        size_t tlen = 0;
        uint8_t *t = s_pack_signed(body, sm->manifest.len, sm->key_id.data,
                                   sm->key_id.len, sm->signature.data,
                                   sm->signature.len, &tlen);
        s_expect_rejected(fx, t, tlen, HOIST_ERR_SIGNATURE, "does not match");
        s_expect_rejected(fx, t, tlen, HOIST_ERR_SIGNATURE, hex);
        free(t);
    }
    /* A byte more or less at the end is tampering too. */
    size_t tlen = 0;
    uint8_t *t = s_pack_signed(sm->manifest.data, sm->manifest.len - 1,
                               sm->key_id.data, sm->key_id.len,
                               sm->signature.data, sm->signature.len, &tlen);
    s_expect_rejected(fx, t, tlen, HOIST_ERR_SIGNATURE, "does not match");
    free(t);
    free(body);
    hoist__signed_manifest__free_unpacked(sm, NULL);
    free(buf);
}

/* Whatever byte of the file changes, nothing verifies. */
static void
test_no_single_byte_change_verifies(void **state)
{
    fx_t *fx = *state;
    manifest_fields_t f = s_fields();
    size_t len = 0;
    uint8_t *buf = s_sign(&f, fx->sk_a, &len);
    static const uint8_t flips[] = {0x01, 0x80, 0xff};
    for (size_t i = 0; i < len; i++) {
        for (size_t j = 0; j < sizeof flips; j++) {
            buf[i] ^= flips[j];
            hoist_error_t err = {0};
            manifest_t *m = manifest_verify(buf, len, fx->trusted, 2, &err);
            if (m) {
                fail_msg("byte %zu ^ 0x%02x still verifies", i, flips[j]);
            }
            assert_true(err.code == HOIST_ERR_SIGNATURE ||
                        err.code == HOIST_ERR_UNTRUSTED ||
                        err.code == HOIST_ERR_MANIFEST);
            assert_true(err.msg[0] != '\0');
            buf[i] ^= flips[j];
        }
    }
    free(buf);
}

static void
test_untrusted_key(void **state)
{
    fx_t *fx = *state;
    manifest_fields_t f = s_fields();
    size_t len = 0;
    uint8_t *buf = s_sign(&f, fx->sk_b, &len);
    char hex[KEYS_ID_HEX_LEN];
    keys_id_hex(fx->pub_b.id, hex);
    s_expect_rejected(fx, buf, len, HOIST_ERR_UNTRUSTED, hex);
    s_expect_rejected(fx, buf, len, HOIST_ERR_UNTRUSTED, "--trust");
    s_expect_rejected(fx, buf, len, HOIST_ERR_UNTRUSTED, "not trusted");

    /* Nobody trusted at all. */
    hoist_error_t err = {0};
    assert_null(manifest_verify(buf, len, NULL, 0, &err));
    assert_int_equal(err.code, HOIST_ERR_UNTRUSTED);

    /* Once B is trusted (in any position), it verifies. */
    keys_public_t set[3] = {fx->trusted[0], fx->trusted[1], fx->pub_b};
    manifest_t *m = manifest_verify(buf, len, set, 3, &err);
    assert_non_null(m);
    assert_memory_equal(manifest_key_id(m), fx->pub_b.id, KEYS_ID_BYTES);
    manifest_destroy(&m);
    free(buf);
}

/* Signed by A but claiming to be by the craft key (trusted): the id
 * finds a trusted key, whose signature check then fails. */
static void
test_claimed_key_id_must_match_signer(void **state)
{
    fx_t *fx = *state;
    manifest_fields_t f = s_fields();
    size_t len = 0;
    uint8_t *buf = s_sign(&f, fx->sk_a, &len);
    Hoist__SignedManifest *sm = hoist__signed_manifest__unpack(NULL, len, buf);
    assert_non_null(sm);
    size_t tlen = 0;
    uint8_t *t = s_pack_signed(sm->manifest.data, sm->manifest.len,
                               fx->trusted[1].id, KEYS_ID_BYTES,
                               sm->signature.data, sm->signature.len, &tlen);
    char hex[KEYS_ID_HEX_LEN];
    keys_id_hex(fx->trusted[1].id, hex);
    s_expect_rejected(fx, t, tlen, HOIST_ERR_SIGNATURE, hex);
    free(t);
    hoist__signed_manifest__free_unpacked(sm, NULL);
    free(buf);
}

static void
test_bad_signatures(void **state)
{
    fx_t *fx = *state;
    Hoist__Manifest pb = s_good_pb();
    size_t body_len = hoist__manifest__get_packed_size(&pb);
    uint8_t body[512];
    assert_true(body_len <= sizeof body);
    hoist__manifest__pack(&pb, body);
    uint8_t sig[KEYS_SIG_BYTES + 1];
    s_craft_sig(fx, body, body_len, sig);
    sig[KEYS_SIG_BYTES] = 0x5a;
    const uint8_t *kid = fx->trusted[1].id;
    static const uint8_t zero[KEYS_SIG_BYTES];
    size_t len = 0;
    uint8_t *buf;

    /* Baseline: these parts, put together right, verify. */
    buf = s_pack_signed(body, body_len, kid, KEYS_ID_BYTES, sig, KEYS_SIG_BYTES,
                        &len);
    manifest_t *m = manifest_verify(buf, len, fx->trusted, 2, NULL);
    assert_non_null(m);
    manifest_destroy(&m);
    free(buf);

    buf = s_pack_signed(body, body_len, kid, KEYS_ID_BYTES, NULL, 0, &len);
    s_expect_rejected(fx, buf, len, HOIST_ERR_SIGNATURE, "not signed");
    free(buf);
    buf = s_pack_signed(body, body_len, kid, KEYS_ID_BYTES, sig, 63, &len);
    s_expect_rejected(fx, buf, len, HOIST_ERR_SIGNATURE, "63 bytes");
    free(buf);
    buf = s_pack_signed(body, body_len, kid, KEYS_ID_BYTES, sig, 1, &len);
    s_expect_rejected(fx, buf, len, HOIST_ERR_SIGNATURE, "1 bytes");
    free(buf);
    buf = s_pack_signed(body, body_len, kid, KEYS_ID_BYTES, sig, 65, &len);
    s_expect_rejected(fx, buf, len, HOIST_ERR_SIGNATURE, "65 bytes");
    free(buf);
    buf = s_pack_signed(body, body_len, kid, KEYS_ID_BYTES, zero,
                        KEYS_SIG_BYTES, &len);
    s_expect_rejected(fx, buf, len, HOIST_ERR_SIGNATURE, "all zeros");
    free(buf);
    buf = s_pack_signed(body, body_len, NULL, 0, sig, KEYS_SIG_BYTES, &len);
    s_expect_rejected(fx, buf, len, HOIST_ERR_SIGNATURE, "key id");
    free(buf);
    buf = s_pack_signed(body, body_len, kid, KEYS_ID_BYTES - 1, sig,
                        KEYS_SIG_BYTES, &len);
    s_expect_rejected(fx, buf, len, HOIST_ERR_SIGNATURE, "key id");
    free(buf);
    buf = s_pack_signed(body, body_len, kid, KEYS_ID_BYTES, sig + 1,
                        KEYS_SIG_BYTES, &len);
    s_expect_rejected(fx, buf, len, HOIST_ERR_SIGNATURE, "does not match");
    free(buf);
}

/* A file whose manifest field is empty (absent) but that carries a
 * well-formed signature and a trusted key id: refused, and without
 * undefined behaviour on the way (the sanitizer build runs this too). */
static void
test_empty_body_with_signature(void **state)
{
    fx_t *fx = *state;
    uint8_t sig[KEYS_SIG_BYTES];
    s_craft_sig(fx, (const uint8_t *)"x", 1, sig);
    size_t len = 0;
    uint8_t *buf = s_pack_signed(NULL, 0, fx->trusted[1].id, KEYS_ID_BYTES, sig,
                                 sizeof sig, &len);
    s_expect_rejected(fx, buf, len, HOIST_ERR_SIGNATURE, "does not match");
    free(buf);
}

/* The signature covers the domain string and its NUL: a signature over
 * the body alone (a key used for something else) does not count. */
static void
test_domain_separation(void **state)
{
    fx_t *fx = *state;
    Hoist__Manifest pb = s_good_pb();
    uint8_t body[512], msg[600], sig[KEYS_SIG_BYTES];
    size_t body_len = hoist__manifest__get_packed_size(&pb);
    hoist__manifest__pack(&pb, body);
    const uint8_t *kid = fx->trusted[1].id;
    size_t len = 0;

    crypto_sign_detached(sig, NULL, body, body_len, fx->craft_sk);
    uint8_t *buf = s_pack_signed(body, body_len, kid, KEYS_ID_BYTES, sig,
                                 sizeof sig, &len);
    s_expect_rejected(fx, buf, len, HOIST_ERR_SIGNATURE, "does not match");
    free(buf);

    /* Without the NUL. */
    memcpy(msg, s_domain, sizeof s_domain - 1);
    memcpy(msg + sizeof s_domain - 1, body, body_len);
    crypto_sign_detached(sig, NULL, msg, sizeof s_domain - 1 + body_len,
                         fx->craft_sk);
    buf = s_pack_signed(body, body_len, kid, KEYS_ID_BYTES, sig, sizeof sig,
                        &len);
    s_expect_rejected(fx, buf, len, HOIST_ERR_SIGNATURE, "does not match");
    free(buf);
}

static void
test_size_limits(void **state)
{
    fx_t *fx = *state;
    s_expect_rejected(fx, (const uint8_t *)"", 0, HOIST_ERR_MANIFEST, "empty");

    /* A good manifest padded with an unknown field to exactly the limit
     * verifies; one byte more is refused before anything is parsed. */
    manifest_fields_t f = s_fields();
    size_t len = 0;
    uint8_t *good = s_sign(&f, fx->sk_a, &len);
    uint8_t *big = calloc(1, MANIFEST_MAX_BYTES + 1);
    assert_non_null(big);
    memcpy(big, good, len);
    size_t pad = MANIFEST_MAX_BYTES - len - 4; /* tag + 3-byte length */
    assert_true(pad >= 16384 && pad < 2097152);
    big[len] = (15 << 3) | 2; /* field 15, length-delimited */
    big[len + 1] = (uint8_t)(0x80 | (pad & 0x7f));
    big[len + 2] = (uint8_t)(0x80 | ((pad >> 7) & 0x7f));
    big[len + 3] = (uint8_t)(pad >> 14);
    hoist_error_t err = {0};
    manifest_t *m =
        manifest_verify(big, MANIFEST_MAX_BYTES, fx->trusted, 2, &err);
    if (!m) {
        fail_msg("exactly %d bytes refused: %s", MANIFEST_MAX_BYTES, err.msg);
    }
    manifest_destroy(&m);
    pad++;
    big[len + 1] = (uint8_t)(0x80 | (pad & 0x7f));
    big[len + 2] = (uint8_t)(0x80 | ((pad >> 7) & 0x7f));
    big[len + 3] = (uint8_t)(pad >> 14);
    s_expect_rejected(fx, big, MANIFEST_MAX_BYTES + 1, HOIST_ERR_MANIFEST,
                      "too large");

    /* The same limit through a file. */
    char *path = tu_path(fx->dir, "big.manifest");
    tu_write(path, (const char *)big, MANIFEST_MAX_BYTES + 1, 0644);
    assert_null(manifest_load(path, fx->trusted, 2, &err));
    assert_int_equal(err.code, HOIST_ERR_MANIFEST);
    char *missing = tu_path(fx->dir, "missing.manifest");
    assert_null(manifest_load(missing, fx->trusted, 2, &err));
    assert_int_equal(err.code, HOIST_ERR_MANIFEST);
    assert_contains(err.msg, missing);
    free(missing);
    free(path);
    free(big);
    free(good);
}

static void
test_garbage_does_not_decode(void **state)
{
    fx_t *fx = *state;
    static const struct {
        const char *data;
        size_t len;
    } junk[] = {
        {"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", 11}, /* endless */
        {"\x0a\x10short", 7}, /* length past the end */
        {"\x0f", 1},          /* wire type 7 */
        {"hello, I am not a manifest", 26},
        {"\x08", 1}, /* varint field with no value */
    };
    for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++) {
        s_expect_rejected(fx, (const uint8_t *)junk[i].data, junk[i].len,
                          HOIST_ERR_MANIFEST, "does not decode");
    }

    /* Random bytes may happen to decode, but never verify. */
    uint8_t seed[randombytes_SEEDBYTES] = {42};
    uint8_t buf[512];
    for (int i = 0; i < 3000; i++) {
        seed[1] = (uint8_t)i;
        seed[2] = (uint8_t)(i >> 8);
        size_t len = 1 + (size_t)(i % (int)sizeof buf);
        randombytes_buf_deterministic(buf, len, seed);
        hoist_error_t err = {0};
        manifest_t *m = manifest_verify(buf, len, fx->trusted, 2, &err);
        if (m) {
            fail_msg("random buffer %d verified", i);
        }
        assert_true(err.code == HOIST_ERR_MANIFEST ||
                    err.code == HOIST_ERR_SIGNATURE ||
                    err.code == HOIST_ERR_UNTRUSTED);
    }
}

/* A validly signed body that must still be refused. */
static void
s_expect_bad_content(const fx_t *fx, const Hoist__Manifest *pb,
                     const char *want)
{
    size_t len = 0;
    uint8_t *buf = s_craft(fx, pb, &len);
    s_expect_rejected(fx, buf, len, HOIST_ERR_MANIFEST, want);
    free(buf);
}

static void
test_signed_but_bad_content(void **state)
{
    fx_t *fx = *state;
    Hoist__Manifest pb = s_good_pb();
    size_t len = 0;

    /* The baseline verifies, so each refusal below is about one field. */
    uint8_t *buf = s_craft(fx, &pb, &len);
    hoist_error_t err = {0};
    manifest_t *m = manifest_verify(buf, len, fx->trusted, 2, &err);
    if (!m) {
        fail_msg("hand-made baseline refused: %s", err.msg);
    }
    manifest_destroy(&m);
    free(buf);

    pb = s_good_pb();
    pb.format = 2;
    s_expect_bad_content(fx, &pb, "format 2 is not supported");
    pb.format = 0; /* the proto3 default: a body without format */
    s_expect_bad_content(fx, &pb, "format 0 is not supported");

    static const char *const bad_apps[] = {"../etc", "",  "Web", "a/b",
                                           "-web",   ".", ".."};
    for (size_t i = 0; i < sizeof bad_apps / sizeof bad_apps[0]; i++) {
        pb = s_good_pb();
        pb.app = (char *)bad_apps[i];
        s_expect_bad_content(fx, &pb, "invalid app or version");
    }
    static const char *const bad_versions[] = {"..",   ".",  "",   "1/2",
                                               "../1", "-1", "1 2"};
    for (size_t i = 0; i < sizeof bad_versions / sizeof bad_versions[0]; i++) {
        pb = s_good_pb();
        pb.version = (char *)bad_versions[i];
        s_expect_bad_content(fx, &pb, "invalid app or version");
    }

    pb = s_good_pb();
    pb.artifact_digest.len = DIGEST_BYTES - 1;
    s_expect_bad_content(fx, &pb, "artifact digest or size");
    pb.artifact_digest.len = 0;
    s_expect_bad_content(fx, &pb, "artifact digest or size");
    pb = s_good_pb();
    pb.artifact_size = 0;
    s_expect_bad_content(fx, &pb, "artifact digest or size");

    pb = s_good_pb();
    pb.notes_digest.data = s_digest;
    pb.notes_digest.len = 5;
    s_expect_bad_content(fx, &pb, "notes digest");

    char *envs[MANIFEST_ENVS_MAX + 1];
    for (size_t i = 0; i <= MANIFEST_ENVS_MAX; i++) {
        envs[i] = "dev";
    }
    pb = s_good_pb();
    pb.environments = envs;
    pb.n_environments = MANIFEST_ENVS_MAX + 1;
    s_expect_bad_content(fx, &pb, "too many environments");
    envs[1] = "../prod";
    pb.n_environments = 2;
    s_expect_bad_content(fx, &pb, "invalid environment");
    envs[1] = "";
    s_expect_bad_content(fx, &pb, "invalid environment");

    /* Signed bytes that are not a Manifest at all. */
    static const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                   0xff, 0xff, 0xff, 0xff, 0xff};
    uint8_t sig[KEYS_SIG_BYTES];
    s_craft_sig(fx, junk, sizeof junk, sig);
    buf = s_pack_signed(junk, sizeof junk, fx->trusted[1].id, KEYS_ID_BYTES,
                        sig, sizeof sig, &len);
    s_expect_rejected(fx, buf, len, HOIST_ERR_MANIFEST, "does not decode");
    free(buf);
}

/* Calls manifest_sign expecting USAGE with WANT in the message and *OUT
 * left alone. */
static void
s_expect_sign_refused(const fx_t *fx, const manifest_fields_t *f,
                      const char *want)
{
    uint8_t *out = (uint8_t *)"untouched";
    size_t len = 4242;
    hoist_error_t err = {0};
    if (manifest_sign(f, fx->sk_a, &out, &len, &err) != HOIST_ERR_USAGE) {
        fail_msg("not refused: %s", want);
    }
    assert_int_equal(err.code, HOIST_ERR_USAGE);
    assert_contains(err.msg, want);
    assert_string_equal((char *)out, "untouched");
    assert_int_equal(len, 4242);
}

static void
test_sign_refuses_bad_fields(void **state)
{
    fx_t *fx = *state;
    manifest_fields_t f;
    static const char *const bad_apps[] = {
        "../etc", "", "Web", "a/b", "-web", "_web", ".", "..", "web app"};
    for (size_t i = 0; i < sizeof bad_apps / sizeof bad_apps[0]; i++) {
        f = s_fields();
        f.app = bad_apps[i];
        s_expect_sign_refused(fx, &f, "app name");
    }
    f = s_fields();
    f.app = NULL;
    s_expect_sign_refused(fx, &f, "app name");

    static const char *const bad_versions[] = {"..", ".",       "",    "1/2",
                                               "-1", ".hidden", "1 2", "1\n2"};
    for (size_t i = 0; i < sizeof bad_versions / sizeof bad_versions[0]; i++) {
        f = s_fields();
        f.version = bad_versions[i];
        s_expect_sign_refused(fx, &f, "version");
    }
    f = s_fields();
    f.version = NULL;
    s_expect_sign_refused(fx, &f, "version");

    static const char *const bad_envs[] = {"staging", "../prod"};
    f = s_fields();
    f.envs = bad_envs;
    f.n_envs = 2;
    s_expect_sign_refused(fx, &f, "../prod");

    static const char *many[MANIFEST_ENVS_MAX + 1];
    for (size_t i = 0; i <= MANIFEST_ENVS_MAX; i++) {
        many[i] = "dev";
    }
    f = s_fields();
    f.envs = many;
    f.n_envs = MANIFEST_ENVS_MAX + 1;
    s_expect_sign_refused(fx, &f, "environments");
}

/* A signer must not produce a manifest that every verifier refuses: it
 * either refuses the fields itself or its output verifies. */
static void
test_sign_output_always_verifies(void **state)
{
    fx_t *fx = *state;
    manifest_fields_t f = s_fields();
    f.artifact_size = 0;
    uint8_t *out = NULL;
    size_t len = 0;
    hoist_error_t err = {0};
    if (manifest_sign(&f, fx->sk_a, &out, &len, &err) != HOIST_OK) {
        return; /* refused at signing: fine */
    }
    manifest_t *m = manifest_verify(out, len, fx->trusted, 2, &err);
    free(out);
    if (!m) {
        fail_msg("manifest_sign accepted artifact_size 0, but verify "
                 "refuses its output: %s",
                 err.msg);
    }
    manifest_destroy(&m);
}

static void
test_name_rules(void **state)
{
    (void)state;
    char n64[65], n65[66];
    memset(n64, 'a', 64);
    n64[64] = '\0';
    memset(n65, 'a', 65);
    n65[65] = '\0';
    static const char *const good[] = {"a", "web",    "web-2", "web_api",
                                       "0", "9lives", "a-",    "a_"};
    static const char *const bad[] = {"",    ".",    "..",    "a/b",  "Web",
                                      "WEB", "-web", "_web",  "web.", "a b",
                                      "a\n", "é",    "../etc"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        if (!manifest_name_valid(good[i])) {
            fail_msg("name '%s' refused", good[i]);
        }
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (manifest_name_valid(bad[i])) {
            fail_msg("name '%s' accepted", bad[i]);
        }
    }
    assert_true(manifest_name_valid(n64));
    assert_false(manifest_name_valid(n65));
}

static void
test_version_rules(void **state)
{
    (void)state;
    char v128[129], v129[130];
    memset(v128, '1', 128);
    v128[128] = '\0';
    memset(v129, '1', 129);
    v129[129] = '\0';
    static const char *const good[] = {"1",       "1.2.3", "1.2.3-rc.1",
                                       "1.0+b5",  "V2",    "v1_2",
                                       "2024.01", "a..b",  "1."};
    static const char *const bad[] = {"",    ".",    "..",   "...", "a/b",
                                      "-1",  "+1",   "_1",   ".1",  "1 2",
                                      "1\t", "1/..", "../1", "1:2", "é"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        if (!manifest_version_valid(good[i])) {
            fail_msg("version '%s' refused", good[i]);
        }
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (manifest_version_valid(bad[i])) {
            fail_msg("version '%s' accepted", bad[i]);
        }
    }
    assert_true(manifest_version_valid(v128));
    assert_false(manifest_version_valid(v129));
}

#define T(f) cmocka_unit_test_setup_teardown(f, s_setup, s_teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_round_trip_keeps_every_field),
        T(test_round_trip_extremes),
        T(test_env_allowed),
        T(test_tampered_body_is_a_signature_error),
        T(test_no_single_byte_change_verifies),
        T(test_untrusted_key),
        T(test_claimed_key_id_must_match_signer),
        T(test_bad_signatures),
        T(test_empty_body_with_signature),
        T(test_domain_separation),
        T(test_size_limits),
        T(test_garbage_does_not_decode),
        T(test_signed_but_bad_content),
        T(test_sign_refuses_bad_fields),
        T(test_sign_output_always_verifies),
        T(test_name_rules),
        T(test_version_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
