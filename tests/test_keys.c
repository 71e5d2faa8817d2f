/*
 * test_keys: key files as keygen writes them, every way a secret key file
 * is refused at load (exposed mode, symlink, not a file, bad content),
 * public key parsing, key ids, and signatures that libsodium itself
 * verifies.
 */
#include "testutil.h"

#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "keys.h"

#define PUB_TAG "hoist-ed25519-public "
#define SEC_TAG "hoist-ed25519-secret "

typedef struct {
    char *dir;
    char *prefix; /* DIR/k */
    char *key;    /* DIR/k.key */
    char *pub;    /* DIR/k.pub */
} fx_t;

static int
s_setup(void **state)
{
    fx_t *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    fx->dir = tu_tmpdir();
    fx->prefix = tu_path(fx->dir, "k");
    fx->key = tu_path(fx->dir, "k.key");
    fx->pub = tu_path(fx->dir, "k.pub");
    *state = fx;
    return 0;
}

static int
s_teardown(void **state)
{
    fx_t *fx = *state;
    tu_rmtree(fx->dir);
    free(fx->prefix);
    free(fx->key);
    free(fx->pub);
    free(fx);
    return 0;
}

static void
s_generate(const fx_t *fx)
{
    hoist_error_t err = {0};
    if (keys_generate(fx->prefix, &err) != HOIST_OK) {
        fail_msg("keys_generate: %s", err.msg);
    }
}

static unsigned
s_mode(const char *path)
{
    struct stat st;
    assert_int_equal(lstat(path, &st), 0);
    return (unsigned)(st.st_mode & 07777);
}

/* Writes a secret key file with exactly LEN bytes of TEXT and mode 0600,
 * whatever the umask. */
static void
s_write_secret(const char *path, const char *text, size_t len)
{
    unlink(path);
    tu_write(path, text, len, 0600);
    assert_int_equal(chmod(path, 0600), 0);
}

/* Loads PATH, expects a refusal with HOIST_ERR_KEY and a message that
 * contains WANT (when not NULL). */
static void
s_expect_refused(const char *path, const char *want)
{
    hoist_error_t err = {0};
    keys_secret_t *sk = keys_secret_load(path, &err);
    if (sk) {
        keys_secret_destroy(&sk);
        fail_msg("%s was accepted", path);
    }
    assert_int_equal(err.code, HOIST_ERR_KEY);
    assert_contains(err.msg, path);
    if (want) {
        assert_contains(err.msg, want);
    }
}

static void
test_generate_writes_both_files_with_modes(void **state)
{
    fx_t *fx = *state;
    s_generate(fx);
    assert_int_equal(s_mode(fx->key), 0600);
    assert_int_equal(s_mode(fx->pub), 0644);

    size_t len = 0;
    char *sec = tu_read(fx->key, &len);
    assert_non_null(sec);
    assert_int_equal(strncmp(sec, SEC_TAG, strlen(SEC_TAG)), 0);
    /* One line: the only newline is the last byte. */
    assert_ptr_equal(strchr(sec, '\n'), sec + len - 1);
    char *pub = tu_read(fx->pub, &len);
    assert_non_null(pub);
    assert_int_equal(strncmp(pub, PUB_TAG, strlen(PUB_TAG)), 0);
    assert_ptr_equal(strchr(pub, '\n'), pub + len - 1);
    /* Nothing else is left in the directory (no temporary files). */
    assert_int_equal(tu_count_entries(fx->dir), 2);
    free(sec);
    free(pub);
}

static void
test_generate_makes_different_keys(void **state)
{
    fx_t *fx = *state;
    s_generate(fx);
    char *other = tu_path(fx->dir, "other");
    char *other_pub = tu_path(fx->dir, "other.pub");
    hoist_error_t err = {0};
    assert_int_equal(keys_generate(other, &err), HOIST_OK);
    keys_public_t a, b;
    assert_int_equal(keys_public_load(fx->pub, &a, &err), HOIST_OK);
    assert_int_equal(keys_public_load(other_pub, &b, &err), HOIST_OK);
    assert_memory_not_equal(a.pk, b.pk, KEYS_PUBLIC_BYTES);
    assert_memory_not_equal(a.id, b.id, KEYS_ID_BYTES);
    free(other);
    free(other_pub);
}

static void
test_generate_refuses_to_overwrite(void **state)
{
    fx_t *fx = *state;
    s_generate(fx);
    size_t klen = 0, plen = 0;
    char *key = tu_read(fx->key, &klen);
    char *pub = tu_read(fx->pub, &plen);

    hoist_error_t err = {0};
    assert_int_not_equal(keys_generate(fx->prefix, &err), HOIST_OK);
    assert_contains(err.msg, "exists");

    size_t klen2 = 0, plen2 = 0;
    char *key2 = tu_read(fx->key, &klen2);
    char *pub2 = tu_read(fx->pub, &plen2);
    assert_int_equal(klen, klen2);
    assert_memory_equal(key, key2, klen);
    assert_int_equal(plen, plen2);
    assert_memory_equal(pub, pub2, plen);
    assert_int_equal(s_mode(fx->key), 0600);
    assert_int_equal(tu_count_entries(fx->dir), 2);
    free(key);
    free(pub);
    free(key2);
    free(pub2);
}

/* Only the .pub is in the way: the refusal must not leave a secret key
 * without its public half, and must not touch the .pub. */
static void
test_generate_refuses_existing_pub_without_leaving_a_key(void **state)
{
    fx_t *fx = *state;
    tu_write(fx->pub, "someone else's key\n", (size_t)-1, 0644);
    hoist_error_t err = {0};
    assert_int_not_equal(keys_generate(fx->prefix, &err), HOIST_OK);
    assert_contains(err.msg, fx->pub);
    assert_false(tu_exists(fx->key));
    char *pub = tu_read(fx->pub, NULL);
    assert_string_equal(pub, "someone else's key\n");
    assert_int_equal(tu_count_entries(fx->dir), 1);
    free(pub);
}

static void
test_generate_into_missing_dir_fails(void **state)
{
    fx_t *fx = *state;
    char *prefix = tu_path(fx->dir, "no/such/dir/k");
    hoist_error_t err = {0};
    assert_int_not_equal(keys_generate(prefix, &err), HOIST_OK);
    assert_true(err.msg[0] != '\0');
    assert_int_equal(tu_count_entries(fx->dir), 0);
    free(prefix);
}

static void
test_secret_load_accepts_generated_key(void **state)
{
    fx_t *fx = *state;
    s_generate(fx);
    hoist_error_t err = {0};
    keys_secret_t *sk = keys_secret_load(fx->key, &err);
    if (!sk) {
        fail_msg("load: %s", err.msg);
    }
    keys_public_t pub;
    memset(&pub, 0xaa, sizeof pub);
    assert_int_equal(keys_public_load(fx->pub, &pub, &err), HOIST_OK);
    const keys_public_t *half = keys_secret_public(sk);
    assert_memory_equal(half->pk, pub.pk, KEYS_PUBLIC_BYTES);
    assert_memory_equal(half->id, pub.id, KEYS_ID_BYTES);
    keys_secret_destroy(&sk);
    assert_null(sk);
    keys_secret_destroy(&sk); /* NULL is fine */
    keys_secret_destroy(NULL);
}

/* An owner-only mode without the write bit is as safe as 0600. */
static void
test_secret_load_accepts_0400(void **state)
{
    fx_t *fx = *state;
    s_generate(fx);
    assert_int_equal(chmod(fx->key, 0400), 0);
    hoist_error_t err = {0};
    keys_secret_t *sk = keys_secret_load(fx->key, &err);
    if (!sk) {
        fail_msg("0400 refused: %s", err.msg);
    }
    keys_secret_destroy(&sk);
}

static void
test_secret_load_refuses_exposed_modes(void **state)
{
    fx_t *fx = *state;
    s_generate(fx);
    static const unsigned modes[] = {0640, 0604, 0644, 0660,
                                     0606, 0610, 0601, 0777};
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        assert_int_equal(chmod(fx->key, modes[i]), 0);
        char want[16];
        snprintf(want, sizeof want, "%04o", modes[i]);
        s_expect_refused(fx->key, want);
        s_expect_refused(fx->key, "chmod 600");
    }
    /* Back to 0600, the same file loads: the content was never the
     * problem. */
    assert_int_equal(chmod(fx->key, 0600), 0);
    hoist_error_t err = {0};
    keys_secret_t *sk = keys_secret_load(fx->key, &err);
    assert_non_null(sk);
    keys_secret_destroy(&sk);
}

static void
test_secret_load_refuses_symlink(void **state)
{
    fx_t *fx = *state;
    s_generate(fx);
    char *link = tu_path(fx->dir, "link.key");
    assert_int_equal(symlink(fx->key, link), 0);
    s_expect_refused(link, NULL);
    /* Even a relative link inside the same directory. */
    char *rel = tu_path(fx->dir, "rel.key");
    assert_int_equal(symlink("k.key", rel), 0);
    s_expect_refused(rel, NULL);
    free(link);
    free(rel);
}

static void
test_secret_load_refuses_missing_and_directory(void **state)
{
    fx_t *fx = *state;
    s_expect_refused(fx->key, "cannot open");
    char *dir = tu_path(fx->dir, "d.key");
    assert_int_equal(mkdir(dir, 0700), 0);
    s_expect_refused(dir, "not a regular file");
    free(dir);
}

/* A FIFO is not a regular file. Loading runs in a child with an alarm, so
 * that a load blocked in open(2) (waiting for a writer that never comes)
 * fails the test instead of hanging it. */
static void
test_secret_load_refuses_fifo_without_blocking(void **state)
{
    fx_t *fx = *state;
    assert_int_equal(mkfifo(fx->key, 0600), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        alarm(3);
        hoist_error_t err = {0};
        keys_secret_t *sk = keys_secret_load(fx->key, &err);
        _exit(sk == NULL && err.code == HOIST_ERR_KEY ? 0 : 1);
    }
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    if (WIFSIGNALED(st)) {
        fail_msg("keys_secret_load on a FIFO blocked (killed by signal %d)",
                 WTERMSIG(st));
    }
    assert_int_equal(WEXITSTATUS(st), 0);
}

static void
test_secret_load_refuses_bad_content(void **state)
{
    fx_t *fx = *state;
    s_generate(fx);
    size_t len = 0;
    char *good = tu_read(fx->key, &len);
    char *pubtext = tu_read(fx->pub, NULL);
    char *path = tu_path(fx->dir, "bad.key");
    char buf[1024];

    /* The good line itself, written the same way, loads: so every
     * refusal below is about the content. */
    s_write_secret(path, good, len);
    hoist_error_t err = {0};
    keys_secret_t *sk = keys_secret_load(path, &err);
    assert_non_null(sk);
    keys_secret_destroy(&sk);

    /* Without the trailing newline it is still the same key. */
    s_write_secret(path, good, len - 1);
    sk = keys_secret_load(path, &err);
    assert_non_null(sk);
    keys_secret_destroy(&sk);

    s_write_secret(path, "", 0);
    s_expect_refused(path, "not a Hoist secret key");
    s_write_secret(path, "garbage\n", (size_t)-1);
    s_expect_refused(path, "not a Hoist secret key");
    /* Truncated: the tag and half of the base64. */
    s_write_secret(path, good, strlen(SEC_TAG) + 20);
    s_expect_refused(path, "not a Hoist secret key");
    /* Truncated by one character. */
    s_write_secret(path, good, len - 2);
    s_expect_refused(path, "not a Hoist secret key");
    /* Extra bytes: a second line. */
    snprintf(buf, sizeof buf, "%sextra\n", good);
    s_write_secret(path, buf, (size_t)-1);
    s_expect_refused(path, "not a Hoist secret key");
    /* Extra bytes: the key twice. */
    snprintf(buf, sizeof buf, "%s%s", good, good);
    s_write_secret(path, buf, (size_t)-1);
    s_expect_refused(path, "not a Hoist secret key");
    /* Extra bytes: more base64 after the padding. */
    snprintf(buf, sizeof buf, "%.*sAAAA\n", (int)(len - 1), good);
    s_write_secret(path, buf, (size_t)-1);
    s_expect_refused(path, "not a Hoist secret key");
    /* Extra bytes: a NUL and junk after the line. */
    memcpy(buf, good, len);
    memcpy(buf + len, "\0junk", 5);
    s_write_secret(path, buf, len + 5);
    s_expect_refused(path, "not a Hoist secret key");
    /* Windows line end. */
    snprintf(buf, sizeof buf, "%.*s\r\n", (int)(len - 1), good);
    s_write_secret(path, buf, (size_t)-1);
    s_expect_refused(path, "not a Hoist secret key");
    /* Leading space. */
    snprintf(buf, sizeof buf, " %s", good);
    s_write_secret(path, buf, (size_t)-1);
    s_expect_refused(path, "not a Hoist secret key");
    /* The public key file is not a secret key. */
    s_write_secret(path, pubtext, (size_t)-1);
    s_expect_refused(path, "not a Hoist secret key");
    /* A huge file (more than one line's worth). */
    static char huge[4096];
    memset(huge, 'A', sizeof huge);
    memcpy(huge, SEC_TAG, strlen(SEC_TAG));
    s_write_secret(path, huge, sizeof huge);
    s_expect_refused(path, "not a Hoist secret key");

    free(good);
    free(pubtext);
    free(path);
}

/* "TAG<base64 of LEN bytes of BIN>\n" into OUT. */
static void
s_line(const char *tag, const uint8_t *bin, size_t len, char *out,
       size_t outlen)
{
    char b64[256];
    sodium_bin2base64(b64, sizeof b64, bin, len,
                      sodium_base64_VARIANT_ORIGINAL);
    snprintf(out, outlen, "%s%s\n", tag, b64);
}

static void
test_public_parse(void **state)
{
    (void)state;
    assert_true(sodium_init() >= 0);
    uint8_t pk[64];
    randombytes_buf(pk, sizeof pk);
    char line[512];
    hoist_error_t err = {0};
    keys_public_t k;

    s_line(PUB_TAG, pk, 32, line, sizeof line);
    assert_int_equal(keys_public_parse(line, &k, &err), HOIST_OK);
    assert_memory_equal(k.pk, pk, 32);
    /* The id is the first 8 bytes of BLAKE2b-256 of the public key,
     * computed here independently of keys.c. */
    uint8_t h[32];
    crypto_generichash(h, sizeof h, pk, 32, NULL, 0);
    assert_memory_equal(k.id, h, KEYS_ID_BYTES);
    /* Without the newline, too. */
    line[strlen(line) - 1] = '\0';
    keys_public_t k2;
    assert_int_equal(keys_public_parse(line, &k2, &err), HOIST_OK);
    assert_memory_equal(&k, &k2, sizeof k);

    struct {
        const char *what;
        char text[512];
    } bad[10];
    size_t nb = 0;
    bad[nb].what = "secret tag";
    s_line(SEC_TAG, pk, 32, bad[nb++].text, sizeof bad[0].text);
    bad[nb].what = "no tag";
    s_line("", pk, 32, bad[nb++].text, sizeof bad[0].text);
    bad[nb].what = "other tag";
    s_line("ssh-ed25519 ", pk, 32, bad[nb++].text, sizeof bad[0].text);
    bad[nb].what = "31 bytes";
    s_line(PUB_TAG, pk, 31, bad[nb++].text, sizeof bad[0].text);
    bad[nb].what = "33 bytes";
    s_line(PUB_TAG, pk, 33, bad[nb++].text, sizeof bad[0].text);
    bad[nb].what = "64 bytes";
    s_line(PUB_TAG, pk, 64, bad[nb++].text, sizeof bad[0].text);
    bad[nb].what = "bad base64";
    snprintf(bad[nb++].text, sizeof bad[0].text, "%s%s\n", PUB_TAG,
             "!!!!notbase64!!!!notbase64!!!!notbase64!!!!");
    bad[nb].what = "empty";
    bad[nb++].text[0] = '\0';
    bad[nb].what = "tag only";
    snprintf(bad[nb++].text, sizeof bad[0].text, "%s\n", PUB_TAG);
    bad[nb].what = "two newlines";
    s_line(PUB_TAG, pk, 32, bad[nb].text, sizeof bad[0].text);
    strcat(bad[nb++].text, "\n");

    for (size_t i = 0; i < nb; i++) {
        keys_public_t out;
        memset(&out, 0x5a, sizeof out);
        keys_public_t before = out;
        hoist_error_t e = {0};
        if (keys_public_parse(bad[i].text, &out, &e) == HOIST_OK) {
            fail_msg("%s: accepted '%s'", bad[i].what, bad[i].text);
        }
        assert_int_equal(e.code, HOIST_ERR_KEY);
        assert_contains(e.msg, "not a Hoist public key");
        /* Output written only on success. */
        assert_memory_equal(&out, &before, sizeof out);
    }
}

static void
test_public_load_errors(void **state)
{
    fx_t *fx = *state;
    hoist_error_t err = {0};
    keys_public_t k;
    assert_int_equal(keys_public_load(fx->pub, &k, &err), HOIST_ERR_KEY);
    assert_int_equal(err.code, HOIST_ERR_KEY);
    assert_contains(err.msg, "cannot read public key");

    tu_write(fx->pub, "garbage\n", (size_t)-1, 0644);
    assert_int_equal(keys_public_load(fx->pub, &k, &err), HOIST_ERR_KEY);
    assert_contains(err.msg, fx->pub);
    assert_contains(err.msg, "not a Hoist public key");
}

/* A .pub file is one line; bytes hidden after a NUL are still extra bytes
 * and must not be ignored, as the secret key loader does not ignore them
 * either. */
static void
test_public_load_refuses_bytes_after_nul(void **state)
{
    fx_t *fx = *state;
    s_generate(fx);
    size_t len = 0;
    char *good = tu_read(fx->pub, &len);
    char buf[512];
    memcpy(buf, good, len);
    memcpy(buf + len, "\0junk\n", 6);
    free(good);
    tu_write(fx->pub, buf, len + 6, 0644);
    hoist_error_t err = {0};
    keys_public_t k;
    if (keys_public_load(fx->pub, &k, &err) == HOIST_OK) {
        fail_msg("a .pub with bytes after a NUL was accepted");
    }
    assert_int_equal(err.code, HOIST_ERR_KEY);
}

static void
test_find_and_id_hex(void **state)
{
    (void)state;
    keys_public_t set[3];
    memset(set, 0, sizeof set);
    for (size_t i = 0; i < 3; i++) {
        for (size_t j = 0; j < KEYS_ID_BYTES; j++) {
            set[i].id[j] = (uint8_t)(i * 16 + j);
        }
        set[i].pk[0] = (uint8_t)i;
    }
    for (size_t i = 0; i < 3; i++) {
        assert_ptr_equal(keys_find(set, 3, set[i].id), &set[i]);
    }
    uint8_t other[KEYS_ID_BYTES];
    memcpy(other, set[1].id, KEYS_ID_BYTES);
    other[KEYS_ID_BYTES - 1] ^= 0x80; /* last byte differs */
    assert_null(keys_find(set, 3, other));
    assert_null(keys_find(set, 0, set[0].id));
    assert_null(keys_find(NULL, 0, set[0].id));
    /* Only the first N are searched. */
    assert_null(keys_find(set, 2, set[2].id));

    const uint8_t id[KEYS_ID_BYTES] = {0x01, 0x23, 0x45, 0x67,
                                       0x89, 0xab, 0xcd, 0xef};
    char hex[KEYS_ID_HEX_LEN];
    memset(hex, 'Z', sizeof hex);
    assert_ptr_equal(keys_id_hex(id, hex), hex);
    assert_string_equal(hex, "0123456789abcdef");
    const uint8_t ff[KEYS_ID_BYTES] = {0xff, 0, 0, 0, 0, 0, 0, 0x0f};
    assert_string_equal(keys_id_hex(ff, hex), "ff0000000000000f");
}

static void
test_signature_verifies_with_libsodium(void **state)
{
    fx_t *fx = *state;
    s_generate(fx);
    hoist_error_t err = {0};
    keys_secret_t *sk = keys_secret_load(fx->key, &err);
    assert_non_null(sk);
    keys_public_t pub;
    assert_int_equal(keys_public_load(fx->pub, &pub, &err), HOIST_OK);

    uint8_t msg[1000];
    for (size_t i = 0; i < sizeof msg; i++) {
        msg[i] = (uint8_t)(i * 7 + 3);
    }
    uint8_t sig[KEYS_SIG_BYTES];
    keys_sign(sk, msg, sizeof msg, sig);
    assert_int_equal(crypto_sign_verify_detached(sig, msg, sizeof msg, pub.pk),
                     0);

    /* One changed byte anywhere in the message breaks it. */
    static const size_t at[] = {0, 1, 499, 999};
    for (size_t i = 0; i < sizeof at / sizeof at[0]; i++) {
        msg[at[i]] ^= 0x01;
        assert_int_not_equal(
            crypto_sign_verify_detached(sig, msg, sizeof msg, pub.pk), 0);
        msg[at[i]] ^= 0x01;
    }
    /* And in the signature. */
    for (size_t i = 0; i < KEYS_SIG_BYTES; i++) {
        sig[i] ^= 0x40;
        if (crypto_sign_verify_detached(sig, msg, sizeof msg, pub.pk) == 0) {
            fail_msg("signature byte %zu changed and still verifies", i);
        }
        sig[i] ^= 0x40;
    }
    /* A shorter message is a different message. */
    assert_int_not_equal(
        crypto_sign_verify_detached(sig, msg, sizeof msg - 1, pub.pk), 0);
    /* Another key does not verify it. */
    uint8_t pk2[crypto_sign_PUBLICKEYBYTES], sk2[crypto_sign_SECRETKEYBYTES];
    crypto_sign_keypair(pk2, sk2);
    assert_int_not_equal(crypto_sign_verify_detached(sig, msg, sizeof msg, pk2),
                         0);
    /* Ed25519 is deterministic: the same key signs the same bytes the
     * same way, and an empty message can be signed. */
    uint8_t again[KEYS_SIG_BYTES];
    keys_sign(sk, msg, sizeof msg, again);
    assert_memory_equal(sig, again, KEYS_SIG_BYTES);
    keys_sign(sk, msg, 0, again);
    assert_int_equal(crypto_sign_verify_detached(again, msg, 0, pub.pk), 0);
    keys_secret_destroy(&sk);
}

#define T(f) cmocka_unit_test_setup_teardown(f, s_setup, s_teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_generate_writes_both_files_with_modes),
        T(test_generate_makes_different_keys),
        T(test_generate_refuses_to_overwrite),
        T(test_generate_refuses_existing_pub_without_leaving_a_key),
        T(test_generate_into_missing_dir_fails),
        T(test_secret_load_accepts_generated_key),
        T(test_secret_load_accepts_0400),
        T(test_secret_load_refuses_exposed_modes),
        T(test_secret_load_refuses_symlink),
        T(test_secret_load_refuses_missing_and_directory),
        T(test_secret_load_refuses_fifo_without_blocking),
        T(test_secret_load_refuses_bad_content),
        T(test_public_parse),
        T(test_public_load_errors),
        T(test_public_load_refuses_bytes_after_nul),
        T(test_find_and_id_hex),
        T(test_signature_verifies_with_libsodium),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
