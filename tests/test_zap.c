/*
 * test_zap: the ZAP handler over real CURVE sockets on 127.0.0.1: allowed
 * keys get their User-Id, unknown keys are "unknown:<key>" on "agents"
 * and refused on "api", NULL and PLAIN are refused, a denied key is
 * refused on its next connection, and with the handler stopped or gone no
 * new connection is admitted. Refusals are checked twice: nothing arrives
 * within QUIET_MS, and the server's monitor reports why.
 */
#include "testutil.h"
#include "curve.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <czmq.h>

#include "zap.h"

/* Draft in zmq.h, honoured by libzmq 4.3 (see zap.h). */
#ifndef ZMQ_ZAP_ENFORCE_DOMAIN
#define ZMQ_ZAP_ENFORCE_DOMAIN 93
#endif

#define MAXMSG   65536
#define WAIT_MS  3000 /* the longest wait for what must happen */
#define QUIET_MS 300  /* how long we watch for what must not happen */

typedef struct {
    zap_t *zap;
    zcert_t *server_cert;
    zcert_t *client_cert;
} fx_t;

static int
s_setup(void **state)
{
    fx_t *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    hoist_error_t err = {0};
    fx->zap = zap_new(&err);
    if (!fx->zap) {
        fail_msg("zap_new: %s", err.msg);
    }
    fx->server_cert = zcert_new();
    fx->client_cert = zcert_new();
    assert_non_null(fx->server_cert);
    assert_non_null(fx->client_cert);
    *state = fx;
    return 0;
}

static int
s_teardown(void **state)
{
    fx_t *fx = *state;
    zap_destroy(&fx->zap);
    zcert_destroy(&fx->server_cert);
    zcert_destroy(&fx->client_cert);
    free(fx);
    return 0;
}

/* ---- sockets ------------------------------------------------------------ */

/* Binds SOCK to an ephemeral loopback port; returns its endpoint, which
 * belongs to SOCK. */
static const char *
s_bind(zsock_t *sock)
{
    assert_true(zsock_bind(sock, "tcp://127.0.0.1:*") > 0);
    const char *endpoint = zsock_endpoint(sock);
    assert_non_null(endpoint);
    assert_true(strncmp(endpoint, "tcp://127.0.0.1:", 16) == 0);
    return endpoint;
}

/* A CURVE ROUTER for DOMAIN made by zap_server_socket, not yet bound. */
static zsock_t *
s_server(const fx_t *fx, const char *domain, int64_t maxmsg)
{
    hoist_error_t err = {0};
    zsock_t *server =
        zap_server_socket(ZMQ_ROUTER, fx->server_cert, domain, maxmsg, &err);
    if (!server) {
        fail_msg("zap_server_socket: %s", err.msg);
    }
    return server;
}

/* A CURVE DEALER with CERT, connected to ENDPOINT, pinned to the fixture's
 * server key. */
static zsock_t *
s_client(const fx_t *fx, zcert_t *cert, const char *endpoint, int64_t maxmsg)
{
    hoist_error_t err = {0};
    zsock_t *client = curve_client_socket(
        ZMQ_DEALER, cert, zcert_public_txt(fx->server_cert), maxmsg, &err);
    if (!client) {
        fail_msg("curve_client_socket: %s", err.msg);
    }
    assert_int_equal(zsock_connect(client, "%s", endpoint), 0);
    return client;
}

/* Sends BODY from CLIENT and waits up to MS for SERVER (a ROUTER) to get
 * it. True if it arrived; *USER_ID (if not NULL) then gets a copy of its
 * User-Id, or NULL when it has none. The send is bounded too: after a
 * failed greeting libzmq drops the DEALER's pipe, and a blocking send
 * would then wait for ever. */
static bool
s_deliver(zsock_t *server, zsock_t *client, const char *body, int ms,
          char **user_id)
{
    zsock_set_sndtimeo(client, ms);
    if (zstr_send(client, body) != 0) {
        return false;
    }
    zsock_set_rcvtimeo(server, ms);
    zmsg_t *msg = zmsg_recv(server);
    if (!msg) {
        return false;
    }
    assert_int_equal(zmsg_size(msg), 2);
    zframe_t *frame = zmsg_last(msg);
    assert_true(zframe_streq(frame, body));
    const char *uid = zap_user_id(frame);
    if (user_id) {
        *user_id = uid ? strdup(uid) : NULL;
    }
    zmsg_destroy(&msg);
    return true;
}

/* Asserts that a message from CLIENT reaches SERVER with USER_ID. */
static void
s_assert_admitted(zsock_t *server, zsock_t *client, const char *user_id)
{
    char *got = NULL;
    assert_true(s_deliver(server, client, "ping", WAIT_MS, &got));
    assert_non_null(got);
    assert_string_equal(got, user_id);
    free(got);
}

/* Asserts that a message from CLIENT does not reach SERVER. */
static void
s_assert_refused(zsock_t *server, zsock_t *client)
{
    assert_false(s_deliver(server, client, "ping", QUIET_MS, NULL));
}

/* ---- monitors ----------------------------------------------------------- */

/* Starts a monitor of SOCK's handshake events; returns the PAIR that
 * reads them. Each monitor gets its own endpoint: an inproc name that is
 * still bound makes zmq_socket_monitor fail and the events vanish. */
static zsock_t *
s_monitor(zsock_t *sock)
{
    zuuid_t *uuid = zuuid_new();
    char endpoint[128];
    snprintf(endpoint, sizeof endpoint, "inproc://test-zap-%s",
             zuuid_str(uuid));
    zuuid_destroy(&uuid);
    assert_int_equal(
        zmq_socket_monitor(zsock_resolve(sock), endpoint, ZMQ_EVENT_ALL), 0);
    zsock_t *pair = zsock_new(ZMQ_PAIR);
    assert_non_null(pair);
    assert_int_equal(zsock_connect(pair, "%s", endpoint), 0);
    return pair;
}

/* Waits up to WAIT_MS for EVENT on MON; true with its value in *VALUE. */
static bool
s_monitor_wait(zsock_t *mon, uint16_t event, uint32_t *value)
{
    int64_t deadline = zclock_mono() + WAIT_MS;
    while (zclock_mono() < deadline) {
        zsock_set_rcvtimeo(mon, (int)(deadline - zclock_mono()) + 1);
        zmsg_t *msg = zmsg_recv(mon);
        if (!msg) {
            return false;
        }
        zframe_t *head = zmsg_first(msg);
        assert_int_equal(zframe_size(head), 6);
        uint16_t got;
        memcpy(&got, zframe_data(head), sizeof got);
        memcpy(value, zframe_data(head) + 2, sizeof *value);
        zmsg_destroy(&msg);
        if (got == event) {
            return true;
        }
    }
    return false;
}

/* Asserts that MON reports EVENT with VALUE. */
static void
s_assert_event(zsock_t *mon, uint16_t event, uint32_t value)
{
    uint32_t got = 0;
    if (!s_monitor_wait(mon, event, &got)) {
        fail_msg("no monitor event 0x%x within %d ms", event, WAIT_MS);
    }
    assert_int_equal(got, value);
}

static void
s_monitor_end(zsock_t *sock, zsock_t **mon)
{
    zmq_socket_monitor(zsock_resolve(sock), NULL, 0);
    zsock_destroy(mon);
}

static void
s_allow(zap_t *zap, zcert_t *cert, const char *user_id)
{
    hoist_error_t err = {0};
    if (zap_allow(zap, zcert_public_txt(cert), user_id, &err) != HOIST_OK) {
        fail_msg("zap_allow: %s", err.msg);
    }
}

/* ---- admitted ----------------------------------------------------------- */

static void
test_allowed_keys_get_their_user_id(void **state)
{
    fx_t *fx = *state;
    zcert_t *user = zcert_new();
    s_allow(fx->zap, fx->client_cert, "agent:web-1");
    s_allow(fx->zap, user, "user:alice");

    zsock_t *agents = s_server(fx, ZAP_DOMAIN_AGENTS, MAXMSG);
    zsock_t *agent = s_client(fx, fx->client_cert, s_bind(agents), MAXMSG);
    s_assert_admitted(agents, agent, "agent:web-1");

    zsock_t *api = s_server(fx, ZAP_DOMAIN_API, MAXMSG);
    zsock_t *cli = s_client(fx, user, s_bind(api), MAXMSG);
    s_assert_admitted(api, cli, "user:alice");

    zsock_destroy(&cli);
    zsock_destroy(&api);
    zsock_destroy(&agent);
    zsock_destroy(&agents);
    zcert_destroy(&user);
}

static void
test_unknown_key_on_agents_is_unknown(void **state)
{
    fx_t *fx = *state;
    char expect[64];
    snprintf(expect, sizeof expect, "unknown:%s",
             zcert_public_txt(fx->client_cert));

    zsock_t *server = s_server(fx, ZAP_DOMAIN_AGENTS, MAXMSG);
    zsock_t *client = s_client(fx, fx->client_cert, s_bind(server), MAXMSG);
    s_assert_admitted(server, client, expect);

    zsock_destroy(&client);
    zsock_destroy(&server);
}

/* ---- refused ------------------------------------------------------------ */

static void
test_unknown_key_on_api_is_refused(void **state)
{
    fx_t *fx = *state;
    zsock_t *server = s_server(fx, ZAP_DOMAIN_API, MAXMSG);
    zsock_t *mon = s_monitor(server);
    const char *endpoint = s_bind(server);
    zsock_t *client = s_client(fx, fx->client_cert, endpoint, MAXMSG);
    s_assert_event(mon, ZMQ_EVENT_HANDSHAKE_FAILED_AUTH, 400);
    s_assert_refused(server, client);
    zsock_destroy(&client);

    /* The same set-up admits the key once it is known: the refusal was
     * the handler's verdict on the key, nothing else. */
    s_allow(fx->zap, fx->client_cert, "user:alice");
    client = s_client(fx, fx->client_cert, endpoint, MAXMSG);
    s_assert_admitted(server, client, "user:alice");

    zsock_destroy(&client);
    s_monitor_end(server, &mon);
    zsock_destroy(&server);
}

/* A server socket with DOMAIN and ZMQ_ZAP_ENFORCE_DOMAIN, and MECHANISM
 * "NULL" or "PLAIN", made by hand: zap_server_socket makes CURVE only. */
static zsock_t *
s_insecure_server(const char *mechanism, const char *domain)
{
    zsock_t *server = zsock_new(ZMQ_ROUTER);
    assert_non_null(server);
    if (streq(mechanism, "PLAIN")) {
        zsock_set_plain_server(server, 1);
    }
    zsock_set_zap_domain(server, domain);
    int on = 1;
    assert_int_equal(zmq_setsockopt(zsock_resolve(server),
                                    ZMQ_ZAP_ENFORCE_DOMAIN, &on, sizeof on),
                     0);
    return server;
}

/* A NULL or PLAIN DEALER connected to ENDPOINT. */
static zsock_t *
s_insecure_client(const char *mechanism, const char *endpoint)
{
    zsock_t *client = zsock_new(ZMQ_DEALER);
    assert_non_null(client);
    if (streq(mechanism, "PLAIN")) {
        zsock_set_plain_username(client, "alice");
        zsock_set_plain_password(client, "secret");
    }
    assert_int_equal(zsock_connect(client, "%s", endpoint), 0);
    return client;
}

/* MECHANISM's client against our CURVE server: refused at the greeting. */
static void
s_check_insecure_vs_curve(const fx_t *fx, const char *mechanism)
{
    zsock_t *server = s_server(fx, ZAP_DOMAIN_AGENTS, MAXMSG);
    zsock_t *mon = s_monitor(server);
    zsock_t *client = s_insecure_client(mechanism, s_bind(server));
    s_assert_event(mon, ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL,
                   ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH);
    s_assert_refused(server, client);
    zsock_destroy(&client);
    s_monitor_end(server, &mon);
    zsock_destroy(&server);
}

/* MECHANISM's client against a MECHANISM server on each domain: the
 * handler itself must say 400. */
static void
s_check_insecure_vs_handler(const char *mechanism)
{
    const char *domains[] = {ZAP_DOMAIN_AGENTS, ZAP_DOMAIN_API};
    for (size_t i = 0; i < 2; i++) {
        zsock_t *server = s_insecure_server(mechanism, domains[i]);
        zsock_t *mon = s_monitor(server);
        zsock_t *client = s_insecure_client(mechanism, s_bind(server));
        s_assert_event(mon, ZMQ_EVENT_HANDSHAKE_FAILED_AUTH, 400);
        s_assert_refused(server, client);
        zsock_destroy(&client);
        s_monitor_end(server, &mon);
        zsock_destroy(&server);
    }
}

static void
test_null_clients_are_refused(void **state)
{
    s_check_insecure_vs_curve(*state, "NULL");
    s_check_insecure_vs_handler("NULL");
}

static void
test_plain_clients_are_refused(void **state)
{
    s_check_insecure_vs_curve(*state, "PLAIN");
    s_check_insecure_vs_handler("PLAIN");
}

static void
test_unknown_domain_is_refused(void **state)
{
    fx_t *fx = *state;
    s_allow(fx->zap, fx->client_cert, "agent:web-1");
    zsock_t *server = zsock_new(ZMQ_ROUTER);
    assert_non_null(server);
    zcert_apply(fx->server_cert, server);
    zsock_set_curve_server(server, 1);
    zsock_set_zap_domain(server, "other");
    zsock_t *mon = s_monitor(server);
    zsock_t *client = s_client(fx, fx->client_cert, s_bind(server), MAXMSG);
    s_assert_event(mon, ZMQ_EVENT_HANDSHAKE_FAILED_AUTH, 400);
    s_assert_refused(server, client);
    zsock_destroy(&client);
    s_monitor_end(server, &mon);
    zsock_destroy(&server);
}

/* Allow, connect, deny: the next connection with the key is refused on
 * DOMAIN (on "agents" it is not even "unknown"), while the connection
 * admitted before keeps delivering: why the hub checks every message. */
static void
s_check_deny(fx_t *fx, const char *domain, const char *user_id)
{
    hoist_error_t err = {0};
    const char *key = zcert_public_txt(fx->client_cert);
    s_allow(fx->zap, fx->client_cert, user_id);
    zsock_t *server = s_server(fx, domain, MAXMSG);
    zsock_t *mon = s_monitor(server);
    const char *endpoint = s_bind(server);
    zsock_t *before = s_client(fx, fx->client_cert, endpoint, MAXMSG);
    s_assert_admitted(server, before, user_id);

    assert_int_equal(zap_deny(fx->zap, key, &err), HOIST_OK);
    zsock_t *after = s_client(fx, fx->client_cert, endpoint, MAXMSG);
    s_assert_event(mon, ZMQ_EVENT_HANDSHAKE_FAILED_AUTH, 400);
    s_assert_refused(server, after);
    s_assert_admitted(server, before, user_id);
    zsock_destroy(&after);

    /* Allowed again (an operator re-accepts it): admitted again. */
    s_allow(fx->zap, fx->client_cert, user_id);
    after = s_client(fx, fx->client_cert, endpoint, MAXMSG);
    s_assert_admitted(server, after, user_id);

    zsock_destroy(&after);
    zsock_destroy(&before);
    s_monitor_end(server, &mon);
    zsock_destroy(&server);
}

static void
test_denied_key_is_refused_on_new_connections(void **state)
{
    s_check_deny(*state, ZAP_DOMAIN_AGENTS, "agent:web-1");
    s_check_deny(*state, ZAP_DOMAIN_API, "user:alice");
}

/* ---- without a handler -------------------------------------------------- */

/* An allowed key and an unknown key both fail to get in on "agents",
 * because no handler answers and the socket enforces its domain. */
static void
s_check_nobody_admitted(fx_t *fx)
{
    zcert_t *stranger = zcert_new();
    zsock_t *server = s_server(fx, ZAP_DOMAIN_AGENTS, MAXMSG);
    zsock_t *mon = s_monitor(server);
    const char *endpoint = s_bind(server);
    zsock_t *known = s_client(fx, fx->client_cert, endpoint, MAXMSG);
    s_assert_event(mon, ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL, EFAULT);
    s_assert_refused(server, known);
    zsock_t *unknown = s_client(fx, stranger, endpoint, MAXMSG);
    s_assert_refused(server, unknown);
    zsock_destroy(&unknown);
    zsock_destroy(&known);
    s_monitor_end(server, &mon);
    zsock_destroy(&server);
    zcert_destroy(&stranger);
}

static void
test_destroyed_handler_admits_nobody(void **state)
{
    fx_t *fx = *state;
    s_allow(fx->zap, fx->client_cert, "agent:web-1");
    zap_destroy(&fx->zap);
    assert_null(fx->zap);
    s_check_nobody_admitted(fx);
}

static void
test_stopped_handler_is_reported(void **state)
{
    fx_t *fx = *state;
    hoist_error_t err = {0};
    s_allow(fx->zap, fx->client_cert, "agent:web-1");
    assert_true(zap_alive(fx->zap));
    assert_false(zsock_events(zap_sock(fx->zap)) & ZMQ_POLLIN);

    /* Stop the actor behind the controller's back, as a crash would. */
    assert_int_equal(zstr_send(zap_sock(fx->zap), "$TERM"), 0);
    zmq_pollitem_t item = {zsock_resolve(zap_sock(fx->zap)), 0, ZMQ_POLLIN, 0};
    assert_int_equal(zmq_poll(&item, 1, WAIT_MS), 1);
    assert_false(zap_alive(fx->zap));
    assert_false(zap_alive(fx->zap));
    assert_int_equal(zap_allow(fx->zap, zcert_public_txt(fx->client_cert),
                               "agent:web-1", &err),
                     HOIST_ERR_IO);
    assert_contains(err.msg, "stopped");
    s_check_nobody_admitted(fx);

    int64_t start = zclock_mono();
    zap_destroy(&fx->zap);
    assert_true(zclock_mono() - start < 1000);
}

/* Why zap_server_socket sets ZMQ_ZAP_ENFORCE_DOMAIN: without it, libzmq
 * 4.3 admits any CURVE client when no handler is bound, and its messages
 * carry no User-Id (zap_user_id is NULL: the hub drops them). */
static void
test_libzmq_without_enforce_admits_anyone(void **state)
{
    fx_t *fx = *state;
    zap_destroy(&fx->zap);
    zsock_t *server = zsock_new(ZMQ_ROUTER);
    assert_non_null(server);
    zcert_apply(fx->server_cert, server);
    zsock_set_curve_server(server, 1);
    zsock_set_zap_domain(server, ZAP_DOMAIN_AGENTS);
    zsock_t *client = s_client(fx, fx->client_cert, s_bind(server), MAXMSG);
    char sentinel = 0;
    char *user_id = &sentinel;
    assert_true(s_deliver(server, client, "ping", WAIT_MS, &user_id));
    assert_null(user_id);
    zsock_destroy(&client);
    zsock_destroy(&server);
}

static void
test_one_handler_per_process(void **state)
{
    fx_t *fx = *state;
    hoist_error_t err = {0};
    assert_null(zap_new(&err));
    assert_int_equal(err.code, HOIST_ERR_IO);
    assert_contains(err.msg, "inproc://zeromq.zap.01");

    /* The first handler still answers. */
    s_allow(fx->zap, fx->client_cert, "agent:web-1");
    zsock_t *server = s_server(fx, ZAP_DOMAIN_AGENTS, MAXMSG);
    zsock_t *client = s_client(fx, fx->client_cert, s_bind(server), MAXMSG);
    s_assert_admitted(server, client, "agent:web-1");
    zsock_destroy(&client);
    zsock_destroy(&server);
}

/* ---- size caps and arguments -------------------------------------------- */

static void
test_message_size_is_capped_both_ways(void **state)
{
    fx_t *fx = *state;
    char big[2048];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    zsock_t *server = s_server(fx, ZAP_DOMAIN_AGENTS, 1024);
    zsock_t *client = s_client(fx, fx->client_cert, s_bind(server), 1024);

    /* Client to server: the big one is dropped with its connection; the
     * client reconnects and a small one still arrives. */
    assert_false(s_deliver(server, client, big, QUIET_MS, NULL));
    assert_true(s_deliver(server, client, "small", WAIT_MS, NULL));

    /* Server to client, on the routing id of the live connection. */
    assert_int_equal(zstr_send(client, "hello"), 0);
    zsock_set_rcvtimeo(server, WAIT_MS);
    zmsg_t *msg = zmsg_recv(server);
    assert_non_null(msg);
    zframe_t *route = zmsg_pop(msg);
    zmsg_destroy(&msg);
    zsock_set_rcvtimeo(client, WAIT_MS);
    zframe_t *copy = zframe_dup(route);
    assert_int_equal(zframe_send(&copy, server, ZFRAME_MORE), 0);
    assert_int_equal(zstr_send(server, "small"), 0);
    char *got = zstr_recv(client);
    assert_non_null(got);
    assert_string_equal(got, "small");
    zstr_free(&got);
    assert_int_equal(zframe_send(&route, server, ZFRAME_MORE), 0);
    assert_int_equal(zstr_send(server, big), 0);
    zsock_set_rcvtimeo(client, QUIET_MS);
    assert_null(zstr_recv(client));

    zsock_destroy(&client);
    zsock_destroy(&server);
}

static void
test_bad_arguments_are_refused(void **state)
{
    fx_t *fx = *state;
    hoist_error_t err = {0};
    const char *key = zcert_public_txt(fx->client_cert);
    char long_id[ZAP_USER_ID_MAX + 2];
    memset(long_id, 'a', sizeof long_id - 1);
    long_id[sizeof long_id - 1] = '\0';
    const char *bad_keys[] = {
        NULL,
        "",
        "short",
        "0123456789012345678901234567890123456789X", /* 41 */
        "012345678901234567890123456789012345678~",  /* not Z85 */
        "########################################",  /* overflows */
    };
    for (size_t i = 0; i < sizeof bad_keys / sizeof *bad_keys; i++) {
        assert_int_equal(zap_allow(fx->zap, bad_keys[i], "agent:a", &err),
                         HOIST_ERR_KEY);
        assert_int_equal(zap_deny(fx->zap, bad_keys[i], &err), HOIST_ERR_KEY);
    }
    const char *bad_ids[] = {NULL,        "",         "unknown:x",
                             "agent:a b", "agent:\n", long_id};
    for (size_t i = 0; i < sizeof bad_ids / sizeof *bad_ids; i++) {
        assert_int_equal(zap_allow(fx->zap, key, bad_ids[i], &err),
                         HOIST_ERR_USAGE);
    }
    long_id[ZAP_USER_ID_MAX] = '\0';
    assert_int_equal(zap_allow(fx->zap, key, long_id, &err), HOIST_OK);
    assert_int_equal(zap_deny(fx->zap, key, &err), HOIST_OK);

    assert_null(
        zap_server_socket(ZMQ_ROUTER, fx->server_cert, "other", MAXMSG, &err));
    assert_int_equal(err.code, HOIST_ERR_USAGE);
    assert_null(zap_server_socket(ZMQ_ROUTER, fx->server_cert, ZAP_DOMAIN_API,
                                  0, &err));
    assert_int_equal(err.code, HOIST_ERR_USAGE);
    uint8_t zero[32] = {0};
    zcert_t *public_only =
        zcert_new_from(zcert_public_key(fx->server_cert), zero);
    assert_null(zap_server_socket(ZMQ_ROUTER, public_only, ZAP_DOMAIN_API,
                                  MAXMSG, &err));
    assert_int_equal(err.code, HOIST_ERR_KEY);
    assert_null(
        curve_client_socket(ZMQ_DEALER, public_only, key, MAXMSG, &err));
    assert_int_equal(err.code, HOIST_ERR_KEY);
    zcert_destroy(&public_only);
    assert_null(curve_client_socket(ZMQ_DEALER, fx->client_cert, "short",
                                    MAXMSG, &err));
    assert_int_equal(err.code, HOIST_ERR_KEY);

    /* Frames that did not come off a vetted connection have no identity. */
    assert_null(zap_user_id(NULL));
    zframe_t *local = zframe_new("x", 1);
    assert_null(zap_user_id(local));
    zframe_destroy(&local);
}

/* An agent's user id names its key; anything else is not one. */
static void
test_agent_id(void **state)
{
    (void)state;
    char id[ZAP_USER_ID_MAX + 1], name[65], key[ZAP_KEY_Z85_LEN + 1];
    const char *k = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7";
    zap_agent_id(id, sizeof id, "web-1", k);
    assert_string_equal(id,
                        "agent:web-1:rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7");
    assert_true(zap_agent_id_parse(id, name, sizeof name, key));
    assert_string_equal(name, "web-1");
    assert_string_equal(key, k);
    memset(name, 'x', sizeof name);
    assert_false(zap_agent_id_parse("agent:web-1", name, sizeof name, key));
    assert_false(zap_agent_id_parse("user:web-1:rq:rM>}U?@Lns47E1%kR.o@n%Fcmm"
                                    "sL/@{H8]yf7",
                                    name, sizeof name, key));
    assert_false(zap_agent_id_parse(id, name, 3, key)); /* no room */
    assert_int_equal(name[0], 'x');                     /* untouched */
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_agent_id),
        cmocka_unit_test_setup_teardown(test_allowed_keys_get_their_user_id,
                                        s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_unknown_key_on_agents_is_unknown,
                                        s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_unknown_key_on_api_is_refused,
                                        s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_null_clients_are_refused, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_plain_clients_are_refused, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_unknown_domain_is_refused, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(
            test_denied_key_is_refused_on_new_connections, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_destroyed_handler_admits_nobody,
                                        s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_stopped_handler_is_reported,
                                        s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(
            test_libzmq_without_enforce_admits_anyone, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_one_handler_per_process, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_message_size_is_capped_both_ways,
                                        s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_bad_arguments_are_refused, s_setup,
                                        s_teardown),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    zsys_shutdown();
    return failed;
}
