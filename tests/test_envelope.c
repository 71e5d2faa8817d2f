/*
 * test_envelope: packing, the size cap, version and body checks, and the
 * closed dispatch table.
 */
#include "testutil.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"

static uint8_t *
s_pack_hello(uint64_t id, const char *hostname, size_t *len)
{
    envelope_t e = HOIST__ENVELOPE__INIT;
    Hoist__Hello hello = HOIST__HELLO__INIT;
    Hoist__Facts facts = HOIST__FACTS__INIT;
    facts.hostname = (char *)hostname;
    hello.facts = &facts;
    e.id = id;
    e.body_case = HOIST__ENVELOPE__BODY_HELLO;
    e.hello = &hello;
    uint8_t *buf = envelope_pack(&e, len);
    assert_non_null(buf);
    return buf;
}

static void
test_roundtrip(void **state)
{
    (void)state;
    size_t len = 0;
    uint8_t *buf = s_pack_hello(42, "web-1", &len);
    hoist_error_t err = {0};
    envelope_t *e = envelope_unpack(buf, len, ENVELOPE_MAX_BYTES, &err);
    assert_non_null(e);
    assert_int_equal(e->version, ENVELOPE_VERSION);
    assert_int_equal(e->id, 42);
    assert_int_equal(e->body_case, HOIST__ENVELOPE__BODY_HELLO);
    assert_string_equal(e->hello->facts->hostname, "web-1");
    assert_string_equal(envelope_body_name(e->body_case), "hello");
    envelope_destroy(&e);
    assert_null(e);
    free(buf);
}

static void
test_no_body_is_not_packed(void **state)
{
    (void)state;
    envelope_t e = HOIST__ENVELOPE__INIT;
    size_t len = 0;
    assert_null(envelope_pack(&e, &len));
}

static void
test_size_cap_before_decoding(void **state)
{
    (void)state;
    size_t len = 0;
    uint8_t *buf = s_pack_hello(1, "web-1", &len);
    hoist_error_t err = {0};
    assert_null(envelope_unpack(buf, len, len - 1, &err));
    assert_int_equal(err.code, HOIST_ERR_PROTOCOL);
    assert_contains(err.msg, "over the");
    free(buf);
}

static void
test_wrong_version_and_missing_body(void **state)
{
    (void)state;
    hoist_error_t err = {0};
    envelope_t e = HOIST__ENVELOPE__INIT;
    Hoist__Heartbeat hb = HOIST__HEARTBEAT__INIT;
    e.version = 7;
    e.body_case = HOIST__ENVELOPE__BODY_HEARTBEAT;
    e.heartbeat = &hb;
    /* Packed by hand: envelope_pack would set the version. */
    size_t len = hoist__envelope__get_packed_size(&e);
    uint8_t *buf = malloc(len);
    hoist__envelope__pack(&e, buf);
    assert_null(envelope_unpack(buf, len, ENVELOPE_MAX_BYTES, &err));
    assert_contains(err.msg, "protocol version 7");
    free(buf);

    envelope_t empty = HOIST__ENVELOPE__INIT;
    empty.version = ENVELOPE_VERSION;
    len = hoist__envelope__get_packed_size(&empty);
    buf = malloc(len ? len : 1);
    hoist__envelope__pack(&empty, buf);
    assert_null(envelope_unpack(buf, len, ENVELOPE_MAX_BYTES, &err));
    assert_contains(err.msg, "no body");
    free(buf);
}

static void
test_garbage_never_crashes(void **state)
{
    (void)state;
    uint8_t buf[512];
    hoist_error_t err = {0};
    int decoded = 0;
    for (int i = 0; i < 5000; i++) {
        size_t len = randombytes_uniform(sizeof buf) + 1;
        randombytes_buf(buf, len);
        envelope_t *e = envelope_unpack(buf, len, ENVELOPE_MAX_BYTES, &err);
        if (e) {
            /* Whatever decodes has the right version and a body. */
            assert_int_equal(e->version, ENVELOPE_VERSION);
            assert_int_not_equal(e->body_case, HOIST__ENVELOPE__BODY__NOT_SET);
            decoded++;
            envelope_destroy(&e);
        }
    }
    /* Every truncation of a valid message is refused or decodes safely. */
    size_t len = 0;
    uint8_t *good = s_pack_hello(9, "a-rather-long-host-name", &len);
    for (size_t cut = 0; cut < len; cut++) {
        envelope_t *e = envelope_unpack(good, cut, ENVELOPE_MAX_BYTES, &err);
        envelope_destroy(&e);
    }
    free(good);
    print_message("%d of 5000 random buffers decoded to a valid envelope\n",
                  decoded);
}

typedef struct {
    int hellos;
    const char *peer;
} ctx_t;

static hoist_err_t
s_on_hello(void *ctx, void *peer, const envelope_t *e, hoist_error_t *err)
{
    ctx_t *c = ctx;
    (void)err;
    c->hellos++;
    c->peer = peer;
    assert_int_equal(e->body_case, HOIST__ENVELOPE__BODY_HELLO);
    return HOIST_OK;
}

static void
test_dispatch(void **state)
{
    (void)state;
    static const envelope_route_t routes[] = {
        {HOIST__ENVELOPE__BODY_HELLO, s_on_hello},
    };
    ctx_t c = {0};
    hoist_error_t err = {0};
    size_t len = 0;
    uint8_t *buf = s_pack_hello(3, "h", &len);
    envelope_t *e = envelope_unpack(buf, len, ENVELOPE_MAX_BYTES, &err);
    assert_int_equal(envelope_dispatch(routes, 1, &c, "agent:web-1", e, &err),
                     HOIST_OK);
    assert_int_equal(c.hellos, 1);
    assert_string_equal(c.peer, "agent:web-1");
    envelope_destroy(&e);
    free(buf);

    envelope_t hb = HOIST__ENVELOPE__INIT;
    Hoist__Heartbeat body = HOIST__HEARTBEAT__INIT;
    hb.body_case = HOIST__ENVELOPE__BODY_HEARTBEAT;
    hb.heartbeat = &body;
    assert_int_equal(envelope_dispatch(routes, 1, &c, NULL, &hb, &err),
                     HOIST_ERR_PROTOCOL);
    assert_contains(err.msg, "unexpected heartbeat");
    assert_int_equal(c.hellos, 1);
}

static void
test_error_reply(void **state)
{
    (void)state;
    envelope_t e;
    Hoist__Error body;
    envelope_error(&e, &body, 77, HOIST_ERR_AUTH, "revoked");
    size_t len = 0;
    uint8_t *buf = envelope_pack(&e, &len);
    envelope_t *back = envelope_unpack(buf, len, ENVELOPE_MAX_BYTES, NULL);
    assert_non_null(back);
    assert_int_equal(back->id, 77);
    assert_int_equal(back->error->code, HOIST_ERR_AUTH);
    assert_string_equal(back->error->message, "revoked");
    envelope_destroy(&back);
    free(buf);
}

int
main(void)
{
    if (sodium_init() < 0) {
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_no_body_is_not_packed),
        cmocka_unit_test(test_size_cap_before_decoding),
        cmocka_unit_test(test_wrong_version_and_missing_body),
        cmocka_unit_test(test_garbage_never_crashes),
        cmocka_unit_test(test_dispatch),
        cmocka_unit_test(test_error_reply),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
