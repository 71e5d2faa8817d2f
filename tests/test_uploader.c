/*
 * test_uploader: the upload actor on real files, through its real pipe:
 * answers come back in order with their cookies, a full queue is refused
 * without blocking, notes are checked and handed back at commit, and
 * destroying the actor with answers in flight frees them (ASan watches).
 */
#include "testutil.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "digest.h"
#include "keys.h"
#include "manifest.h"
#include "uploader.h"

typedef struct {
    char *dir;
    keys_secret_t *sk;
    keys_public_t trusted;
    uploader_t *u;
} fx_t;

static int
s_setup(void **state)
{
    fx_t *fx = calloc(1, sizeof *fx);
    fx->dir = tu_tmpdir();
    char *prefix = tu_path(fx->dir, "rel"), path[4096];
    assert_int_equal(keys_generate(prefix, NULL), HOIST_OK);
    snprintf(path, sizeof path, "%s.key", prefix);
    fx->sk = keys_secret_load(path, NULL);
    assert_non_null(fx->sk);
    fx->trusted = *keys_secret_public(fx->sk);
    free(prefix);
    hoist_error_t err = {0};
    fx->u = uploader_new(fx->dir, &err);
    assert_non_null(fx->u);
    *state = fx;
    return 0;
}

static int
s_teardown(void **state)
{
    fx_t *fx = *state;
    uploader_destroy(&fx->u);
    assert_null(fx->u);
    keys_secret_destroy(&fx->sk);
    tu_rmtree(fx->dir); /* frees it */
    free(fx);
    return 0;
}

/* A SignedManifest for web VERSION over DATA, with NOTES (or none). */
static uint8_t *
s_manifest(fx_t *fx, const char *version, const char *data, const char *notes,
           size_t *len)
{
    manifest_fields_t f = {.app = "web",
                           .version = version,
                           .sequence = 1,
                           .artifact_size = strlen(data),
                           .created_at = 1700000000};
    crypto_generichash(f.artifact_digest, DIGEST_BYTES, (const uint8_t *)data,
                       strlen(data), NULL, 0);
    if (notes) {
        f.has_notes = true;
        crypto_generichash(f.notes_digest, DIGEST_BYTES, (const uint8_t *)notes,
                           strlen(notes), NULL, 0);
    }
    uint8_t *out = NULL;
    assert_int_equal(manifest_sign(&f, fx->sk, &out, len, NULL), HOIST_OK);
    return out;
}

/* The next answer, waiting for it; fails the test after 10 s. */
static uploader_answer_t *
s_next(fx_t *fx)
{
    zpoller_t *p = zpoller_new(uploader_sock(fx->u), NULL);
    void *ready = zpoller_wait(p, 10000);
    zpoller_destroy(&p);
    assert_non_null(ready);
    uploader_answer_t *a = uploader_recv(fx->u);
    assert_non_null(a);
    return a;
}

static void
test_round_trip(void **state)
{
    fx_t *fx = *state;
    const char *data = "the artifact's bytes", *notes = "fixes #12";
    size_t mlen;
    uint8_t *m = s_manifest(fx, "1.0.0", data, notes, &mlen);
    hoist_error_t err = {0};
    assert_int_equal(uploader_begin(fx->u, "c1", 2, m, mlen, notes, "hotfix",
                                    &fx->trusted, 1, &err),
                     HOIST_OK);
    uploader_answer_t *a = s_next(fx);
    assert_int_equal(a->err.code, HOIST_OK);
    assert_int_equal(a->kind, UPLOADER_BEGUN);
    assert_memory_equal(a->cookie, "c1", 2);
    assert_int_equal(a->cookie_len, 2);
    assert_string_equal(manifest_version(a->manifest), "1.0.0");
    char id[ARTIFACTS_ID_SIZE];
    snprintf(id, sizeof id, "%s", a->id);
    uploader_answer_destroy(&a);
    /* Two chunks sent back to back: answered in order. */
    assert_int_equal(uploader_chunk(fx->u, "c2", 2, id, 0, data, 4, &err),
                     HOIST_OK);
    assert_int_equal(
        uploader_chunk(fx->u, "c3", 2, id, 4, data + 4, strlen(data) - 4, &err),
        HOIST_OK);
    a = s_next(fx);
    assert_memory_equal(a->cookie, "c2", 2);
    assert_int_equal(a->received, 4);
    uploader_answer_destroy(&a);
    a = s_next(fx);
    assert_memory_equal(a->cookie, "c3", 2);
    assert_int_equal(a->received, strlen(data));
    uploader_answer_destroy(&a);
    assert_int_equal(uploader_commit(fx->u, "c4", 2, id, &err), HOIST_OK);
    a = s_next(fx);
    assert_int_equal(a->err.code, HOIST_OK);
    assert_int_equal(a->kind, UPLOADER_COMMITTED);
    assert_string_equal(a->notes, notes);
    assert_string_equal(a->lifecycle, "hotfix");
    assert_int_equal(a->signed_len, mlen);
    assert_memory_equal(a->signed_bytes, m, mlen);
    /* Stored by digest. */
    char hex[DIGEST_HEX_LEN], path[4096];
    digest_hex(manifest_artifact_digest(a->manifest), hex);
    snprintf(path, sizeof path, "%s/artifacts/%s", fx->dir, hex);
    char *stored = tu_read(path, NULL);
    assert_non_null(stored);
    assert_string_equal(stored, data);
    free(stored);
    uploader_answer_destroy(&a);
    free(m);
}

static void
test_wrong_notes_refused(void **state)
{
    fx_t *fx = *state;
    size_t mlen;
    uint8_t *m = s_manifest(fx, "1.0.0", "x", "signed notes", &mlen);
    hoist_error_t err = {0};
    assert_int_equal(uploader_begin(fx->u, "c", 1, m, mlen, "other notes", NULL,
                                    &fx->trusted, 1, &err),
                     HOIST_OK);
    uploader_answer_t *a = s_next(fx);
    assert_int_equal(a->err.code, HOIST_ERR_MANIFEST);
    assert_non_null(strstr(a->err.msg, "not the ones the manifest signed"));
    assert_null(a->manifest);
    uploader_answer_destroy(&a);
    /* No session stayed open: no .part file. */
    char path[4096];
    snprintf(path, sizeof path, "%s/uploads", fx->dir);
    assert_int_equal(tu_count_entries(path), 0);
    /* Untrusted: the answer carries the store's refusal. */
    assert_int_equal(uploader_begin(fx->u, "c", 1, m, mlen, "signed notes",
                                    NULL, NULL, 0, &err),
                     HOIST_OK);
    a = s_next(fx);
    assert_int_equal(a->err.code, HOIST_ERR_UNTRUSTED);
    uploader_answer_destroy(&a);
    free(m);
}

static void
test_queue_full_refused_at_once(void **state)
{
    fx_t *fx = *state;
    hoist_error_t err = {0};
    for (int i = 0; i < UPLOADER_QUEUE; i++) {
        assert_int_equal(
            uploader_chunk(fx->u, &i, sizeof i, "nosuch", 0, "x", 1, &err),
            HOIST_OK);
    }
    int extra = UPLOADER_QUEUE;
    assert_int_equal(
        uploader_chunk(fx->u, &extra, sizeof extra, "nosuch", 0, "x", 1, &err),
        HOIST_ERR_BUSY);
    assert_non_null(strstr(err.msg, "busy"));
    for (int i = 0; i < UPLOADER_QUEUE; i++) {
        uploader_answer_t *a = s_next(fx);
        int got;
        memcpy(&got, a->cookie, sizeof got);
        assert_int_equal(got, i);
        assert_int_equal(a->err.code, HOIST_ERR_NOTFOUND);
        uploader_answer_destroy(&a);
    }
    /* Answered: the queue takes requests again. */
    assert_int_equal(
        uploader_chunk(fx->u, &extra, sizeof extra, "nosuch", 0, "x", 1, &err),
        HOIST_OK);
    uploader_answer_t *a = s_next(fx);
    uploader_answer_destroy(&a);
}

static void
test_destroy_with_answers_in_flight(void **state)
{
    fx_t *fx = *state;
    const char *data = "bytes";
    size_t mlen;
    uint8_t *m = s_manifest(fx, "2.0.0", data, NULL, &mlen);
    hoist_error_t err = {0};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(uploader_begin(fx->u, "c", 1, m, mlen, NULL, NULL,
                                        &fx->trusted, 1, &err),
                         HOIST_OK);
    }
    free(m);
    /* The answers (each holding a parsed manifest) are never received:
     * destroy frees them, and the open sessions' files go too. */
    uploader_destroy(&fx->u);
    char path[4096];
    snprintf(path, sizeof path, "%s/uploads", fx->dir);
    assert_int_equal(tu_count_entries(path), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_wrong_notes_refused, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_queue_full_refused_at_once,
                                        s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_destroy_with_answers_in_flight,
                                        s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
