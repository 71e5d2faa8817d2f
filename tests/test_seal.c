/*
 * test_seal: secrets sealed to an agent's CURVE key, opened with the key
 * pair czmq keeps for it, and every way a box or key can be wrong.
 */
#include "testutil.h"

#include <czmq.h>
#include <string.h>

#include "seal.h"

static const char s_secret[] = "postgres://app:s3cr3t@db/prod";

static void
s_seal(zcert_t *to, const void *msg, size_t len, uint8_t **box, size_t *box_len)
{
    hoist_error_t err = {0};
    if (seal_to(zcert_public_txt(to), msg, len, box, box_len, &err) !=
        HOIST_OK) {
        fail_msg("seal_to: %s", err.msg);
    }
}

/* The agent's certificate as it lives on disk: saved, loaded back. */
static void
test_round_trip_with_agent_cert(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    char *path = tu_path(dir, "agent.cert");
    zcert_t *made = zcert_new();
    assert_int_equal(zcert_save(made, path), 0);
    zcert_t *agent = zcert_load(path);
    assert_non_null(agent);

    uint8_t *box = NULL, *plain = NULL;
    size_t box_len = 0, plain_len = 0;
    s_seal(made, s_secret, strlen(s_secret), &box, &box_len);
    assert_int_equal(box_len, strlen(s_secret) + SEAL_OVERHEAD);
    assert_null(memmem(box, box_len, "s3cr3t", 6));
    assert_int_equal(seal_open(zcert_public_key(agent), zcert_secret_key(agent),
                               box, box_len, &plain, &plain_len, NULL),
                     HOIST_OK);
    assert_int_equal(plain_len, strlen(s_secret));
    assert_string_equal((char *)plain, s_secret); /* NUL-terminated */

    /* Two seals of one secret differ: the ephemeral key is fresh. */
    uint8_t *box2 = NULL;
    size_t box2_len = 0;
    s_seal(made, s_secret, strlen(s_secret), &box2, &box2_len);
    assert_memory_not_equal(box, box2, box_len);

    seal_free(&plain, plain_len);
    assert_null(plain);
    seal_free(&box, box_len);
    seal_free(&box2, box2_len);
    seal_free(&box, 0); /* already NULL */
    seal_free(NULL, 0);
    zcert_destroy(&agent);
    zcert_destroy(&made);
    free(path);
    tu_rmtree(dir);
}

static void
test_empty_and_largest_values(void **state)
{
    (void)state;
    zcert_t *agent = zcert_new();
    uint8_t *box = NULL, *plain = NULL;
    size_t box_len = 0, plain_len = 1;
    s_seal(agent, "", 0, &box, &box_len);
    assert_int_equal(box_len, SEAL_OVERHEAD);
    assert_int_equal(seal_open(zcert_public_key(agent), zcert_secret_key(agent),
                               box, box_len, &plain, &plain_len, NULL),
                     HOIST_OK);
    assert_int_equal(plain_len, 0);
    assert_string_equal((char *)plain, "");
    seal_free(&plain, plain_len);
    seal_free(&box, box_len);

    uint8_t *big = malloc(SEAL_MAX_BYTES);
    assert_non_null(big);
    for (size_t i = 0; i < SEAL_MAX_BYTES; i++) {
        big[i] = (uint8_t)(i * 31 + 7);
    }
    s_seal(agent, big, SEAL_MAX_BYTES, &box, &box_len);
    assert_int_equal(seal_open(zcert_public_key(agent), zcert_secret_key(agent),
                               box, box_len, &plain, &plain_len, NULL),
                     HOIST_OK);
    assert_int_equal(plain_len, SEAL_MAX_BYTES);
    assert_memory_equal(plain, big, SEAL_MAX_BYTES);
    seal_free(&plain, plain_len);
    seal_free(&box, box_len);
    free(big);
    zcert_destroy(&agent);
}

static void
test_wrong_key_refused(void **state)
{
    (void)state;
    zcert_t *agent = zcert_new(), *other = zcert_new();
    uint8_t *box = NULL, *plain = NULL;
    size_t box_len = 0, plain_len = 99;
    hoist_error_t err = {0};
    s_seal(agent, s_secret, strlen(s_secret), &box, &box_len);
    assert_int_equal(seal_open(zcert_public_key(other), zcert_secret_key(other),
                               box, box_len, &plain, &plain_len, &err),
                     HOIST_ERR_SIGNATURE);
    assert_contains(err.msg, "sealed to another agent's key");
    assert_null(plain);
    assert_int_equal(plain_len, 99); /* untouched on failure */
    /* The right secret with a public key that does not go with it. */
    assert_int_equal(seal_open(zcert_public_key(other), zcert_secret_key(agent),
                               box, box_len, &plain, &plain_len, NULL),
                     HOIST_ERR_SIGNATURE);
    seal_free(&box, box_len);
    zcert_destroy(&agent);
    zcert_destroy(&other);
}

/* Any changed byte, in the ephemeral key, the MAC or the ciphertext. */
static void
test_tampered_box_refused(void **state)
{
    (void)state;
    zcert_t *agent = zcert_new();
    uint8_t *box = NULL, *plain = NULL;
    size_t box_len = 0, plain_len = 0;
    s_seal(agent, s_secret, strlen(s_secret), &box, &box_len);
    for (size_t i = 0; i < box_len; i++) {
        box[i] ^= 0x01;
        assert_int_equal(seal_open(zcert_public_key(agent),
                                   zcert_secret_key(agent), box, box_len,
                                   &plain, &plain_len, NULL),
                         HOIST_ERR_SIGNATURE);
        box[i] ^= 0x01;
    }
    /* One byte short: the MAC no longer matches. */
    assert_int_equal(seal_open(zcert_public_key(agent), zcert_secret_key(agent),
                               box, box_len - 1, &plain, &plain_len, NULL),
                     HOIST_ERR_SIGNATURE);
    assert_null(plain);
    seal_free(&box, box_len);
    zcert_destroy(&agent);
}

static void
test_sizes_capped(void **state)
{
    (void)state;
    zcert_t *agent = zcert_new();
    uint8_t *box = NULL, *plain = NULL;
    size_t box_len = 0, plain_len = 0;
    hoist_error_t err = {0};
    static uint8_t big[SEAL_MAX_BYTES + SEAL_OVERHEAD + 1];
    assert_int_equal(seal_to(zcert_public_txt(agent), big, SEAL_MAX_BYTES + 1,
                             &box, &box_len, &err),
                     HOIST_ERR_LIMIT);
    assert_contains(err.msg, "over the limit");
    assert_null(box);
    assert_int_equal(seal_open(zcert_public_key(agent), zcert_secret_key(agent),
                               big, sizeof big, &plain, &plain_len, &err),
                     HOIST_ERR_LIMIT);
    assert_int_equal(seal_open(zcert_public_key(agent), zcert_secret_key(agent),
                               big, SEAL_OVERHEAD - 1, &plain, &plain_len,
                               &err),
                     HOIST_ERR_LIMIT);
    assert_null(plain);
    zcert_destroy(&agent);
}

static void
test_malformed_key_refused(void **state)
{
    (void)state;
    uint8_t *box = NULL;
    size_t box_len = 0;
    hoist_error_t err = {0};
    char wrong_alphabet[41], overflow[41];
    memset(wrong_alphabet, ',', 40); /* ',' is not Z85 */
    wrong_alphabet[40] = 0;
    memset(overflow, '#', 40); /* each group decodes above 2^32 */
    overflow[40] = 0;
    zcert_t *agent = zcert_new();
    char *longer = NULL;
    assert_true(asprintf(&longer, "%s0", zcert_public_txt(agent)) > 0);
    const char *bad[] = {"", "short", wrong_alphabet, overflow, longer};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(seal_to(bad[i], "x", 1, &box, &box_len, &err),
                         HOIST_ERR_KEY);
        assert_null(box);
    }
    assert_contains(err.msg, "is not a CURVE public key");
    assert_int_equal(seal_to(NULL, "x", 1, &box, &box_len, NULL),
                     HOIST_ERR_KEY);
    /* Canonical Z85, but the all-zero point: nobody's key. */
    char zero_z85[41];
    uint8_t zero[32] = {0};
    assert_non_null(zmq_z85_encode(zero_z85, zero, sizeof zero));
    assert_int_equal(seal_to(zero_z85, "x", 1, &box, &box_len, &err),
                     HOIST_ERR_KEY);
    assert_contains(err.msg, "weak key");
    assert_null(box);
    free(longer);
    zcert_destroy(&agent);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_with_agent_cert),
        cmocka_unit_test(test_empty_and_largest_values),
        cmocka_unit_test(test_wrong_key_refused),
        cmocka_unit_test(test_tampered_box_refused),
        cmocka_unit_test(test_sizes_capped),
        cmocka_unit_test(test_malformed_key_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
