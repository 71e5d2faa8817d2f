/*
 * test_agent: the agent daemon (hoist-agent enroll and run) as a real
 * process against a TEST DOUBLE OF THE CONTROLLER written here with the
 * real libraries: a CURVE ROUTER made by zap_server_socket, vetted by the
 * real ZAP handler (controller/zap), that answers enroll, hello,
 * heartbeat and fetch the way docs/protocol.md says, serves artifacts
 * from a directory by digest, and records what the agent sent. Releases
 * are real: signed by the real `hoist` binary, real tarballs with a
 * hoist.yml, installed by real hooks. Everything is on 127.0.0.1 with
 * ephemeral ports; every process is killed and waited for in teardown.
 *
 * The pure parts (backoff, the link state machine, conf, facts, the pipe
 * framing) are tested first, without processes.
 */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <czmq.h>

#include "conf.h"
#include "digest.h"
#include "envelope.h"
#include "facts.h"
#include "fetch.h"
#include "order.h"
#include "uplink.h"
#include "zap.h"

#define HB_MS      100   /* the fake controller's heartbeat interval */
#define WAIT_MS    15000 /* the longest wait for what must happen */
#define QUIET_MS   400   /* how long we watch for what must not happen */
#define AGENT_NAME "web-01"
#define TOKEN_OK   "good-token"
#define STEPS_MAX  64
#define FETCH_MAX  512

/* ---- pure parts ---------------------------------------------------------- */

static void
test_backoff(void **state)
{
    (void)state;
    assert_int_equal(uplink_backoff_ms(0, 0), 125);
    assert_int_equal(uplink_backoff_ms(0, 125), 250);
    assert_int_equal(uplink_backoff_ms(0, 126), 125); /* wraps in range */
    assert_int_equal(uplink_backoff_ms(1, 0), 250);
    assert_int_equal(uplink_backoff_ms(1, 250), 500);
    for (unsigned attempt = 0; attempt < 100; attempt++) {
        uint64_t lo = UINT64_MAX, hi = 0;
        for (uint32_t rnd = 0; rnd < 40000; rnd += 997) {
            uint64_t ms = uplink_backoff_ms(attempt, rnd * 2654435761u);
            lo = ms < lo ? ms : lo;
            hi = ms > hi ? ms : hi;
        }
        assert_true(lo >= UPLINK_BACKOFF_MIN_MS / 2);
        assert_true(hi <= UPLINK_BACKOFF_MAX_MS);
        assert_true(hi > lo); /* jittered */
    }
    assert_int_equal(uplink_backoff_ms(30, 0), UPLINK_BACKOFF_MAX_MS / 2);
    assert_int_equal(uplink_backoff_ms(30, UPLINK_BACKOFF_MAX_MS / 2),
                     UPLINK_BACKOFF_MAX_MS);
}

static void
test_link(void **state)
{
    (void)state;
    uplink_link_t l;
    uplink_link_init(&l, 1000);
    assert_int_equal(uplink_link_next(&l, 1000), UPLINK_CONNECT);
    uplink_link_connected(&l, 1000);
    assert_int_equal(l.state, UPLINK_CONNECTING);
    /* No heartbeats before the welcome; no answer in 3 intervals: lost. */
    assert_int_equal(uplink_link_next(&l, 1000 + 5000), UPLINK_IDLE);
    assert_int_equal(uplink_link_next(&l, 1000 + 15000), UPLINK_LOST);
    assert_false(uplink_link_welcomed(&l, 2000, 100)); /* the first one */
    assert_int_equal(l.heartbeat_ms, 100);
    assert_int_equal(uplink_link_next(&l, 2050), UPLINK_IDLE);
    assert_int_equal(uplink_link_next(&l, 2100), UPLINK_HEARTBEAT);
    uplink_link_heartbeat_sent(&l, 2100);
    assert_int_equal(uplink_link_next(&l, 2150), UPLINK_IDLE);
    uplink_link_received(&l, 2250);
    assert_int_equal(uplink_link_next(&l, 2549), UPLINK_HEARTBEAT);
    assert_int_equal(uplink_link_next(&l, 2550), UPLINK_LOST);
    assert_int_equal(uplink_link_lost(&l, 2550, 0), UPLINK_ONLINE);
    assert_int_equal(l.state, UPLINK_DOWN);
    assert_int_equal(l.retry_at, 2550 + 125); /* attempt 0, no jitter */
    assert_int_equal(uplink_link_next(&l, 2600), UPLINK_IDLE);
    assert_int_equal(uplink_link_next(&l, 2675), UPLINK_CONNECT);
    uplink_link_connected(&l, 2675);
    /* A second loss in a row waits longer. */
    assert_int_equal(uplink_link_lost(&l, 3000, 0), UPLINK_CONNECTING);
    assert_int_equal(l.retry_at, 3000 + 250);
    uplink_link_connected(&l, 3250);
    assert_true(uplink_link_welcomed(&l, 3300, 0)); /* a reconnection */
    assert_int_equal(l.heartbeat_ms, UPLINK_HEARTBEAT_DEFAULT_MS);
    assert_int_equal(l.attempt, 0);
    assert_int_equal(uplink_heartbeat_clamp(1), UPLINK_HEARTBEAT_MIN_MS);
    assert_int_equal(uplink_heartbeat_clamp(UINT32_MAX),
                     UPLINK_HEARTBEAT_MAX_MS);
}

static const char *CONF_TEXT =
    "controller: \"tcp://10.0.0.1:7600\"\n"
    "server_key: \"rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7\"\n"
    "env: \"prod\"\n"
    "name: \"web-01\"\n"
    "tags:\n"
    "  site: \"fra1\"\n";

/* conf_parse of TEXT must fail with a message containing NEEDLE. */
static void
s_conf_refused(const char *text, const char *needle)
{
    conf_t c;
    hoist_error_t err = {0};
    assert_int_equal(conf_parse(text, strlen(text), "agent.conf", &c, &err),
                     HOIST_ERR_USAGE);
    assert_contains(err.msg, needle);
}

static void
test_conf(void **state)
{
    (void)state;
    conf_t c, back;
    hoist_error_t err = {0};
    assert_int_equal(
        conf_parse(CONF_TEXT, strlen(CONF_TEXT), "agent.conf", &c, &err),
        HOIST_OK);
    assert_string_equal(c.controller, "tcp://10.0.0.1:7600");
    assert_string_equal(c.env, "prod");
    assert_string_equal(c.user, "");
    assert_int_equal(c.n_tags, 1);
    assert_string_equal(c.tags[0].value, "fra1");
    snprintf(c.user, sizeof c.user, "www-data");
    char *text = conf_format(&c);
    assert_non_null(text);
    assert_int_equal(conf_parse(text, strlen(text), "agent.conf", &back, &err),
                     HOIST_OK);
    assert_string_equal(back.controller, c.controller);
    assert_string_equal(back.server_key, c.server_key);
    assert_string_equal(back.env, c.env);
    assert_string_equal(back.name, c.name);
    assert_string_equal(back.user, "www-data");
    assert_int_equal(back.n_tags, 1);
    assert_string_equal(back.tags[0].key, "site");
    assert_string_equal(back.tags[0].value, "fra1");
    free(text);
    s_conf_refused("controller: \"tcp://x:1\"\n", "required");
    s_conf_refused("nmae: \"x\"\n", "unknown key");
    s_conf_refused("controller: \"udp://x:1\"\nserver_key: \"x\"\n"
                   "env: \"a\"\nname: \"b\"\n",
                   "not an endpoint");
    conf_tag_t t;
    assert_int_equal(conf_tag_parse("site=fra1", &t, &err), HOIST_OK);
    assert_int_equal(conf_tag_parse("site", &t, &err), HOIST_ERR_USAGE);
    assert_int_equal(conf_tag_parse("Site=x", &t, &err), HOIST_ERR_USAGE);
    assert_int_equal(conf_tag_parse("a=b\"c", &t, &err), HOIST_ERR_USAGE);
    assert_true(conf_endpoint_valid("tcp://127.0.0.1:7600"));
    assert_false(conf_endpoint_valid("tcp://127.0.0.1:0"));
    assert_false(conf_endpoint_valid("tcp://127.0.0.1"));
    assert_false(conf_endpoint_valid("tcp://a b:1"));
}

static void
test_server_key_file(void **state)
{
    (void)state;
    zcert_t *cert = zcert_new();
    char key[CONF_KEY_Z85_LEN + 1];
    char zcert_text[512], bare[64];
    hoist_error_t err = {0};
    snprintf(zcert_text, sizeof zcert_text,
             "#   ****  Generated by czmq  ****\nmetadata\ncurve\n"
             "    public-key = \"%s\"\n",
             zcert_public_txt(cert));
    assert_int_equal(conf_server_key_parse(zcert_text, key, &err), HOIST_OK);
    assert_string_equal(key, zcert_public_txt(cert));
    snprintf(bare, sizeof bare, "  %s\n", zcert_public_txt(cert));
    memset(key, 0, sizeof key);
    assert_int_equal(conf_server_key_parse(bare, key, &err), HOIST_OK);
    assert_string_equal(key, zcert_public_txt(cert));
    assert_int_equal(conf_server_key_parse("short\n", key, &err),
                     HOIST_ERR_KEY);
    assert_int_equal(conf_server_key_parse("", key, &err), HOIST_ERR_KEY);
    snprintf(bare, sizeof bare, "%s %s", zcert_public_txt(cert), "x");
    assert_int_equal(conf_server_key_parse(bare, key, &err), HOIST_ERR_KEY);
    zcert_destroy(&cert);
}

static void
test_default_name(void **state)
{
    (void)state;
    char out[MANIFEST_NAME_MAX + 1];
    conf_default_name("Web-01.Example.COM", out, sizeof out);
    assert_string_equal(out, "web-01-example-com");
    conf_default_name("--db_2", out, sizeof out);
    assert_string_equal(out, "db_2");
    conf_default_name("", out, sizeof out);
    assert_string_equal(out, "agent");
    conf_default_name("ümlaut", out, sizeof out);
    assert_true(manifest_name_valid(out));
    char longname[300];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    conf_default_name(longname, out, sizeof out);
    assert_int_equal(strlen(out), MANIFEST_NAME_MAX);
    assert_true(manifest_name_valid(out));
}

static void
test_os_release(void **state)
{
    (void)state;
    char os[128];
    facts_os_release("NAME=\"Debian GNU/Linux\"\nPRETTY_NAME=\"Debian GNU/"
                     "Linux 12 (bookworm)\"\nVERSION_ID=\"12\"\n",
                     os, sizeof os);
    assert_string_equal(os, "Debian GNU/Linux 12 (bookworm)");
    facts_os_release("NAME=Alpine\nVERSION_ID=3.19.1\n", os, sizeof os);
    assert_string_equal(os, "Alpine 3.19.1");
    facts_os_release("ID=x\n", os, sizeof os);
    assert_string_equal(os, "");
}

static void
test_frame_take(void **state)
{
    (void)state;
    uint8_t buf[16] = {0, 0, 0, 3, 'a', 'b', 'c', 0, 0};
    const uint8_t *body = NULL;
    size_t len = 0;
    assert_int_equal(order_frame_take(buf, 3, &body, &len), 0);
    assert_int_equal(order_frame_take(buf, 6, &body, &len), 0);
    assert_int_equal(order_frame_take(buf, 9, &body, &len), 7);
    assert_ptr_equal(body, buf + 4);
    assert_int_equal(len, 3);
    uint8_t zero[4] = {0, 0, 0, 0};
    assert_int_equal(order_frame_take(zero, 4, &body, &len), -1);
    uint8_t huge[4] = {0, 0x10, 0, 1}; /* 1 MiB + 1 */
    assert_int_equal(order_frame_take(huge, 4, &body, &len), -1);
}

/* ---- the test double of the controller ----------------------------------- */

typedef struct {
    uint64_t deployment;
    char outcome[32];
    char failed_step[32];
    char live[MANIFEST_VERSION_MAX + 1];
    char message[8192];
} result_t;

typedef struct {
    zsock_t *router;
    zap_t *zap;    /* the lab's */
    zcert_t *cert; /* the lab's */
    char endpoint[64];
    const char *store; /* artifacts, named by hex digest */
    zframe_t *agent;   /* routing id of the agent's session */
    int64_t hb_at;
    bool hold; /* keep fetch requests unanswered */
    zmsg_t *held[FETCH_MAX];
    size_t n_held;
    /* what arrived */
    int enrolls, hellos, heartbeats, refused;
    uint64_t last_seq;
    bool seq_ok; /* every heartbeat's seq above the one before */
    char enroll_uid[128], enroll_token[64], enroll_env[64], enroll_name[64];
    char enroll_tags[256], enroll_host[256];
    char hello_host[256], hello_os[256], hello_version[64];
    uint64_t hello_free;
    char hello_apps[512]; /* "app=current/previous;" */
    size_t fetches;
    uint64_t fetch_id[FETCH_MAX], fetch_off[FETCH_MAX];
    uint32_t fetch_len[FETCH_MAX];
    char steps[STEPS_MAX][32];
    uint64_t step_dep[STEPS_MAX];
    size_t n_steps;
    result_t results[8];
    size_t n_results;
} fc_t;

/* Sends E to the peer ROUTING. */
static void
fc_send(fc_t *fc, zframe_t *routing, envelope_t *e)
{
    size_t len = 0;
    uint8_t *buf = envelope_pack(e, &len);
    assert_non_null(buf);
    zmsg_t *msg = zmsg_new();
    zmsg_append(msg, &(zframe_t *){zframe_dup(routing)});
    zmsg_addmem(msg, buf, len);
    free(buf);
    zsock_set_sndtimeo(fc->router, 1000);
    if (zmsg_send(&msg, fc->router) != 0) {
        zmsg_destroy(&msg);
    }
}

static void
fc_error(fc_t *fc, zframe_t *routing, uint64_t id, hoist_err_t code,
         const char *text)
{
    envelope_t e;
    Hoist__Error body;
    envelope_error(&e, &body, id, code, text);
    fc_send(fc, routing, &e);
}

/* Binds a fresh ROUTER at ENDPOINT (a port 0 picks one). */
static void
fc_start(fc_t *fc, const char *endpoint)
{
    hoist_error_t err = {0};
    fc->router = zap_server_socket(ZMQ_ROUTER, fc->cert, ZAP_DOMAIN_AGENTS,
                                   ENVELOPE_MAX_BYTES, &err);
    if (!fc->router) {
        fail_msg("zap_server_socket: %s", err.msg);
    }
    zsock_set_linger(fc->router, 0);
    /* The old listener goes away asynchronously (see fc_stop): a
     * controller restarted in place waits for its port, as a new process
     * would not have to. */
    int port = zsock_bind(fc->router, "%s", endpoint);
    for (int i = 0; port < 0 && i < 250; i++) {
        zclock_sleep(20);
        port = zsock_bind(fc->router, "%s", endpoint);
    }
    if (port <= 0) {
        int e = zmq_errno();
        if (system("ss -tanp >&2") != 0) {
            print_message("(no ss)\n");
        }
        fail_msg("bind %s: %s", endpoint, zmq_strerror(e));
    }
    snprintf(fc->endpoint, sizeof fc->endpoint, "tcp://127.0.0.1:%d", port);
}

/* Closes the ROUTER and forgets the session: a controller that died.
 * The endpoint is unbound first: closing alone leaves the listener to
 * libzmq's reaper, which now and then keeps it for a long time when a
 * connection arrives while the socket is being torn down. */
static void
fc_stop(fc_t *fc)
{
    if (fc->router) {
        zsock_unbind(fc->router, "%s", fc->endpoint);
    }
    zsock_destroy(&fc->router);
    zframe_destroy(&fc->agent);
    for (size_t i = 0; i < fc->n_held; i++) {
        zmsg_destroy(&fc->held[i]);
    }
    fc->n_held = 0;
}

static void
fc_on_enroll(fc_t *fc, zframe_t *routing, const char *uid, const envelope_t *e)
{
    const Hoist__EnrollRequest *r = e->enroll;
    fc->enrolls++;
    snprintf(fc->enroll_uid, sizeof fc->enroll_uid, "%s", uid);
    snprintf(fc->enroll_token, sizeof fc->enroll_token, "%s", r->token);
    snprintf(fc->enroll_env, sizeof fc->enroll_env, "%s", r->env);
    snprintf(fc->enroll_name, sizeof fc->enroll_name, "%s", r->name);
    snprintf(fc->enroll_host, sizeof fc->enroll_host, "%s",
             r->facts ? r->facts->hostname : "");
    fc->enroll_tags[0] = '\0';
    for (size_t i = 0; i < r->n_tags; i++) {
        size_t n = strlen(fc->enroll_tags);
        snprintf(fc->enroll_tags + n, sizeof fc->enroll_tags - n, "%s=%s;",
                 r->tags[i]->key, r->tags[i]->value);
    }
    bool good = strcmp(r->token, TOKEN_OK) == 0;
    if (!good && r->token[0]) {
        fc_error(fc, routing, e->id, HOIST_ERR_AUTH,
                 "this token is unknown, used or expired");
        return;
    }
    if (good) {
        hoist_error_t err = {0};
        char user[128];
        snprintf(user, sizeof user, "agent:%s", r->name);
        assert_int_equal(
            zap_allow(fc->zap, uid + strlen(ZAP_UNKNOWN_PREFIX), user, &err),
            HOIST_OK);
    }
    Hoist__EnrollReply reply = HOIST__ENROLL_REPLY__INIT;
    reply.name = r->name;
    reply.env = r->env;
    reply.state = good ? "accepted" : "pending";
    envelope_t out = HOIST__ENVELOPE__INIT;
    out.id = e->id;
    out.body_case = HOIST__ENVELOPE__BODY_ENROLLED;
    out.enrolled = &reply;
    fc_send(fc, routing, &out);
}

static void
fc_on_hello(fc_t *fc, zframe_t *routing, const char *uid, const envelope_t *e)
{
    const Hoist__Facts *f = e->hello->facts;
    assert_true(strncmp(uid, "agent:", 6) == 0);
    assert_non_null(f);
    fc->hellos++;
    snprintf(fc->hello_host, sizeof fc->hello_host, "%s", f->hostname);
    snprintf(fc->hello_os, sizeof fc->hello_os, "%s", f->os);
    snprintf(fc->hello_version, sizeof fc->hello_version, "%s",
             f->agent_version);
    fc->hello_free = f->free_disk;
    fc->hello_apps[0] = '\0';
    for (size_t i = 0; i < f->n_apps; i++) {
        size_t n = strlen(fc->hello_apps);
        snprintf(fc->hello_apps + n, sizeof fc->hello_apps - n, "%s=%s/%s;",
                 f->apps[i]->app, f->apps[i]->current, f->apps[i]->previous);
    }
    zframe_destroy(&fc->agent);
    fc->agent = zframe_dup(routing);
    Hoist__Welcome w = HOIST__WELCOME__INIT;
    w.heartbeat_ms = HB_MS;
    envelope_t out = HOIST__ENVELOPE__INIT;
    out.id = e->id;
    out.body_case = HOIST__ENVELOPE__BODY_WELCOME;
    out.welcome = &w;
    fc_send(fc, routing, &out);
}

/* Answers one FetchRequest from the store. */
static void
fc_serve(fc_t *fc, zframe_t *routing, const envelope_t *e)
{
    const Hoist__FetchRequest *r = e->fetch;
    char hex[DIGEST_HEX_LEN], path[PATH_MAX];
    assert_int_equal(r->digest.len, DIGEST_BYTES);
    snprintf(path, sizeof path, "%s/%s", fc->store,
             digest_hex(r->digest.data, hex));
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fc_error(fc, routing, e->id, HOIST_ERR_NOTFOUND, "no such artifact");
        return;
    }
    uint8_t *buf = malloc(r->length ? r->length : 1);
    ssize_t n = pread(fd, buf, r->length, (off_t)r->offset);
    close(fd);
    assert_true(n >= 0);
    Hoist__Chunk c = HOIST__CHUNK__INIT;
    c.digest = r->digest;
    c.offset = r->offset;
    c.data.data = buf;
    c.data.len = (size_t)n;
    envelope_t out = HOIST__ENVELOPE__INIT;
    out.id = e->id;
    out.body_case = HOIST__ENVELOPE__BODY_CHUNK;
    out.chunk = &c;
    fc_send(fc, routing, &out);
    free(buf);
}

static void
fc_on_result(fc_t *fc, const Hoist__Result *r)
{
    assert_true(fc->n_results < 8);
    result_t *res = &fc->results[fc->n_results++];
    res->deployment = r->deployment;
    snprintf(res->outcome, sizeof res->outcome, "%s", r->outcome);
    snprintf(res->failed_step, sizeof res->failed_step, "%s", r->failed_step);
    snprintf(res->live, sizeof res->live, "%s", r->live);
    snprintf(res->message, sizeof res->message, "%s", r->message);
}

/* What an accepted agent's session may send. Returns true when MSG was
 * kept (a held fetch). */
static bool
fc_on_session(fc_t *fc, zmsg_t *msg, const envelope_t *e)
{
    switch (e->body_case) {
    case HOIST__ENVELOPE__BODY_HEARTBEAT:
        fc->seq_ok = fc->seq_ok && e->heartbeat->seq > fc->last_seq;
        fc->last_seq = e->heartbeat->seq;
        fc->heartbeats++;
        return false;
    case HOIST__ENVELOPE__BODY_FETCH:
        assert_true(fc->fetches < FETCH_MAX);
        fc->fetch_id[fc->fetches] = e->id;
        fc->fetch_off[fc->fetches] = e->fetch->offset;
        fc->fetch_len[fc->fetches++] = e->fetch->length;
        if (fc->hold) {
            fc->held[fc->n_held++] = msg;
            return true;
        }
        fc_serve(fc, zmsg_first(msg), e);
        return false;
    case HOIST__ENVELOPE__BODY_PROGRESS:
        assert_true(fc->n_steps < STEPS_MAX);
        fc->step_dep[fc->n_steps] = e->progress->deployment;
        snprintf(fc->steps[fc->n_steps++], 32, "%s", e->progress->step);
        return false;
    case HOIST__ENVELOPE__BODY_RESULT:
        fc_on_result(fc, e->result);
        return false;
    default:
        fail_msg("the agent sent an unexpected %s",
                 envelope_body_name(e->body_case));
    }
    return false;
}

/* One message from the ROUTER, handled like the real hub: identity from
 * User-Id only; a connection that has not said hello is refused. */
static void
fc_handle(fc_t *fc, zmsg_t *msg)
{
    zframe_t *routing = zmsg_first(msg), *body = zmsg_next(msg);
    assert_non_null(body);
    const char *uid = zap_user_id(body);
    assert_non_null(uid);
    envelope_t *e = envelope_unpack(zframe_data(body), zframe_size(body),
                                    ENVELOPE_MAX_BYTES, NULL);
    assert_non_null(e);
    bool kept = false;
    if (e->body_case == HOIST__ENVELOPE__BODY_ENROLL) {
        assert_true(strncmp(uid, ZAP_UNKNOWN_PREFIX, 8) == 0);
        fc_on_enroll(fc, routing, uid, e);
    } else if (e->body_case == HOIST__ENVELOPE__BODY_HELLO) {
        fc_on_hello(fc, routing, uid, e);
    } else if (!fc->agent || !zframe_eq(fc->agent, routing)) {
        fc->refused++;
        fc_error(fc, routing, e->id, HOIST_ERR_PROTOCOL,
                 "this connection has not said hello");
    } else {
        kept = fc_on_session(fc, msg, e);
    }
    envelope_destroy(&e);
    if (!kept) {
        zmsg_destroy(&msg);
    }
}

static void
fc_heartbeat(fc_t *fc)
{
    if (!fc->agent || zclock_mono() - fc->hb_at < HB_MS) {
        return;
    }
    fc->hb_at = zclock_mono();
    Hoist__Heartbeat hb = HOIST__HEARTBEAT__INIT;
    envelope_t e = HOIST__ENVELOPE__INIT;
    e.body_case = HOIST__ENVELOPE__BODY_HEARTBEAT;
    e.heartbeat = &hb;
    fc_send(fc, fc->agent, &e);
}

/* Serves for MS milliseconds. */
static void
fc_pump(fc_t *fc, int ms)
{
    int64_t deadline = zclock_mono() + ms;
    do {
        if (!fc->router) {
            zclock_sleep(5);
            continue;
        }
        fc_heartbeat(fc);
        zsock_set_rcvtimeo(fc->router, 5);
        zmsg_t *msg = zmsg_recv(fc->router);
        if (msg) {
            fc_handle(fc, msg);
        }
    } while (zclock_mono() < deadline);
}

/* Answers the fetch requests held so far and stops holding. */
static void
fc_release(fc_t *fc)
{
    fc->hold = false;
    for (size_t i = 0; i < fc->n_held; i++) {
        zframe_t *body = zmsg_last(fc->held[i]);
        envelope_t *e = envelope_unpack(zframe_data(body), zframe_size(body),
                                        ENVELOPE_MAX_BYTES, NULL);
        fc_serve(fc, zmsg_first(fc->held[i]), e);
        envelope_destroy(&e);
        zmsg_destroy(&fc->held[i]);
    }
    fc->n_held = 0;
}

/* ---- the lab ------------------------------------------------------------- */

typedef struct {
    char *tmp, *root, *mark, *store;
    char *server_pub; /* the controller's public key, a zcert file */
    char *log;        /* the agent daemon's output */
    zcert_t *server_cert;
    zap_t *zap;
    fc_t fc;
    pid_t pid; /* the agent daemon, 0 when none */
} lab_t;

/* Runs while pumping the fake controller until COND or WAIT_MS. */
#define PUMP_UNTIL(l, cond)                                                    \
    do {                                                                       \
        int64_t until_ = zclock_mono() + WAIT_MS;                              \
        while (!(cond) && zclock_mono() < until_) {                            \
            fc_pump(&(l)->fc, 10);                                             \
        }                                                                      \
    } while (0)

static int
s_setup(void **state)
{
    lab_t *l = calloc(1, sizeof *l);
    hoist_error_t err = {0};
    l->tmp = tu_tmpdir();
    l->root = tu_path(l->tmp, "root");
    l->mark = tu_path(l->tmp, "mark");
    l->store = tu_path(l->tmp, "store");
    l->log = tu_path(l->tmp, "agent.log");
    l->server_pub = tu_path(l->tmp, "server.pub");
    mkdir(l->mark, 0755);
    mkdir(l->store, 0755);
    tu_sh("cd %s && %s keygen --out rel >/dev/null && %s keygen --out other "
          ">/dev/null",
          l->tmp, HOIST_CLI_BIN, HOIST_CLI_BIN);
    l->zap = zap_new(&err);
    if (!l->zap) {
        fail_msg("zap_new: %s", err.msg);
    }
    l->server_cert = zcert_new();
    assert_int_equal(zcert_save_public(l->server_cert, l->server_pub), 0);
    l->fc.zap = l->zap;
    l->fc.cert = l->server_cert;
    l->fc.store = l->store;
    l->fc.seq_ok = true;
    fc_start(&l->fc, "tcp://127.0.0.1:*");
    *state = l;
    return 0;
}

/* Kills the agent daemon, if it runs, and waits for it. */
static void
s_kill_agent(lab_t *l)
{
    if (l->pid > 0) {
        kill(l->pid, SIGKILL);
        while (waitpid(l->pid, NULL, 0) < 0 && errno == EINTR) {
        }
        l->pid = 0;
    }
}

static int
s_teardown(void **state)
{
    lab_t *l = *state;
    s_kill_agent(l);
    if (getenv("TEST_AGENT_LOG")) { /* for debugging: the daemon's log */
        char *log = tu_read(l->log, NULL);
        print_message("--- agent log ---\n%s", log ? log : "");
        free(log);
    }
    fc_stop(&l->fc);
    zap_destroy(&l->zap);
    zcert_destroy(&l->server_cert);
    free(l->root);
    free(l->mark);
    free(l->store);
    free(l->log);
    free(l->server_pub);
    tu_rmtree(l->tmp);
    free(l);
    return 0;
}

/* The user the tests run as, named explicitly (required as root). */
static const char *
s_me(void)
{
    struct passwd *pw = getpwuid(geteuid());
    assert_non_null(pw);
    return pw->pw_name;
}

/* Starts ARGV with its output appended to LOG; returns its pid. */
static pid_t
s_spawn(const char *log, const char *const *argv)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0) {
            _exit(127);
        }
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    return pid;
}

/* Waits up to MS for PID to exit, serving meanwhile; its exit code,
 * 128 + signal, or -1 when it is still running. */
static int
s_wait_exit(lab_t *l, pid_t pid, int ms)
{
    int64_t until = zclock_mono() + ms;
    for (;;) {
        int st;
        pid_t got = waitpid(pid, &st, WNOHANG);
        if (got == pid) {
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        }
        if (zclock_mono() >= until) {
            return -1;
        }
        fc_pump(&l->fc, 10);
    }
}

/* True when the file at PATH contains NEEDLE. */
static bool
s_file_has(const char *path, const char *needle)
{
    char *text = tu_read(path, NULL);
    bool has = text && strstr(text, needle);
    free(text);
    return has;
}

/* Runs hoist-agent enroll with KEY_FILE and TOKEN (NULL: none) and
 * EXTRA (NULL or one more argument); returns its exit code, its output
 * in *OUT (malloc'd). */
static int
s_enroll(lab_t *l, const char *key_file, const char *token, const char *extra,
         char **out)
{
    char *log = tu_path(l->tmp, "enroll.log");
    char *trust = tu_path(l->tmp, "rel.pub");
    unlink(log);
    const char *argv[] = {HOIST_AGENT_BIN,
                          "enroll",
                          "--root",
                          l->root,
                          "--controller",
                          l->fc.endpoint,
                          "--controller-key",
                          key_file,
                          "--env",
                          "dev",
                          "--trust",
                          trust,
                          "--name",
                          AGENT_NAME,
                          "--tag",
                          "site=fra1",
                          "--user",
                          s_me(),
                          "--timeout",
                          "1s",
                          token ? "--token" : extra,
                          token ? token : NULL,
                          token ? extra : NULL,
                          NULL};
    pid_t pid = s_spawn(log, argv);
    int rc = s_wait_exit(l, pid, WAIT_MS);
    if (rc < 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
    *out = tu_read(log, NULL);
    assert_non_null(*out);
    free(trust);
    free(log);
    return rc;
}

static void
s_enroll_ok(lab_t *l)
{
    char *out = NULL;
    int rc = s_enroll(l, l->server_pub, TOKEN_OK, NULL, &out);
    if (rc != 0) {
        fail_msg("enroll exited %d: %s", rc, out);
    }
    free(out);
}

/* Starts `hoist-agent run` and waits for its hello. From here on the
 * test must keep pumping the fake controller (no long work in between,
 * such as building a release): an agent that misses three heartbeats
 * reconnects, and an order sent to its old connection is lost. */
static void
s_start_agent(lab_t *l)
{
    const char *argv[] = {HOIST_AGENT_BIN, "run", "--root", l->root, NULL};
    int hellos = l->fc.hellos;
    l->pid = s_spawn(l->log, argv);
    PUMP_UNTIL(l, l->fc.hellos > hellos);
    if (l->fc.hellos == hellos) {
        char *log = tu_read(l->log, NULL);
        fail_msg("no hello from the agent; its log:\n%s", log ? log : "");
    }
}

/* ---- releases ------------------------------------------------------------ */

static const char *GOOD_SPEC =
    "hooks:\n"
    "  activate: echo \"$HOIST_VERSION\" > @MARK@/active\n"
    "health:\n"
    "  command: test \"$(cat @MARK@/active)\" = \"$HOIST_VERSION\"\n"
    "  retries: 3\n"
    "  interval: 50ms\n";

static const char *BAD_HEALTH_SPEC =
    "hooks:\n"
    "  activate: echo \"$HOIST_VERSION\" > @MARK@/active\n"
    "health:\n"
    "  command: echo unhealthy-marker; exit 1\n"
    "  retries: 2\n"
    "  interval: 50ms\n";

static const char *SLOW_SPEC =
    "hooks:\n"
    "  activate: sleep 1; echo \"$HOIST_VERSION\" > @MARK@/active\n";

/* Replaces every @MARK@ in SPEC with MARK, into OUT. */
static void
s_subst(const char *spec, const char *mark, char *out, size_t len)
{
    size_t n = 0;
    for (const char *p = spec; *p && n + 1 < len;) {
        if (strncmp(p, "@MARK@", 6) == 0) {
            n += (size_t)snprintf(out + n, len - n, "%s", mark);
            p += 6;
        } else {
            out[n++] = *p++;
        }
    }
    out[n < len ? n : len - 1] = '\0';
}

/* Packs web VERSION with SPEC (plus BIG_KB of random bytes), signs it
 * with KEY ("rel" or "other") for env dev, and puts the artifact in the
 * fake controller's store. */
static void
s_release(lab_t *l, const char *version, int seq, const char *spec,
          const char *key, int big_kb)
{
    char src[PATH_MAX], path[PATH_MAX], text[2048];
    snprintf(src, sizeof src, "%s/src-%s", l->tmp, version);
    snprintf(path, sizeof path, "%s/hoist.yml", src);
    s_subst(spec, l->mark, text, sizeof text);
    tu_write(path, text, (size_t)-1, 0644);
    snprintf(path, sizeof path, "%s/VERSION", src);
    tu_write(path, version, (size_t)-1, 0644);
    if (big_kb > 0) {
        tu_sh("head -c %dk /dev/urandom > %s/blob", big_kb, src);
    }
    tu_sh("tar -C %s -czf %s/web-%s.tar.gz . && %s release sign web %s "
          "%s/web-%s.tar.gz --sign-key %s/%s --sequence %d --env dev --out "
          "%s/web-%s.manifest >/dev/null",
          src, l->tmp, version, HOIST_CLI_BIN, version, l->tmp, version, l->tmp,
          key, seq, l->tmp, version);
    snprintf(path, sizeof path, "%s/web-%s.tar.gz", l->tmp, version);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    uint8_t d[DIGEST_BYTES];
    uint64_t size = 0;
    char hex[DIGEST_HEX_LEN];
    assert_true(fd >= 0);
    assert_int_equal(digest_fd(fd, d, &size, NULL), HOIST_OK);
    close(fd);
    tu_sh("cp %s %s/%s", path, l->store, digest_hex(d, hex));
}

/* Sends Deploy{DEPLOYMENT, web VERSION's manifest, ROLLBACK}. */
static void
s_deploy(lab_t *l, uint64_t deployment, const char *version, bool rollback)
{
    char path[PATH_MAX];
    size_t len = 0;
    snprintf(path, sizeof path, "%s/web-%s.manifest", l->tmp, version);
    char *bytes = tu_read(path, &len);
    assert_non_null(bytes);
    assert_non_null(l->fc.agent);
    Hoist__DeployOrder d = HOIST__DEPLOY_ORDER__INIT;
    d.deployment = deployment;
    d.manifest.data = (uint8_t *)bytes;
    d.manifest.len = len;
    d.rollback = rollback;
    envelope_t e = HOIST__ENVELOPE__INIT;
    e.id = 1000 + deployment;
    e.body_case = HOIST__ENVELOPE__BODY_DEPLOY;
    e.deploy = &d;
    fc_send(&l->fc, l->fc.agent, &e);
    free(bytes);
}

/* Deploys and waits for the result of DEPLOYMENT; returns it. */
static const result_t *
s_deploy_wait(lab_t *l, uint64_t deployment, const char *version, bool rollback)
{
    size_t n = l->fc.n_results;
    s_deploy(l, deployment, version, rollback);
    PUMP_UNTIL(l, l->fc.n_results > n);
    if (l->fc.n_results == n) {
        char *log = tu_read(l->log, NULL);
        fail_msg("no result for deployment %llu; the agent's log:\n%s",
                 (unsigned long long)deployment, log ? log : "");
    }
    assert_int_equal(l->fc.results[n].deployment, deployment);
    return &l->fc.results[n];
}

/* The version `current` points at ("" when none). */
static void
s_assert_live(lab_t *l, const char *version)
{
    char link[PATH_MAX], target[PATH_MAX] = "";
    snprintf(link, sizeof link, "%s/apps/web/current", l->root);
    ssize_t n = readlink(link, target, sizeof target - 1);
    assert_true(n > 0);
    target[n] = '\0';
    char want[PATH_MAX];
    snprintf(want, sizeof want, "releases/%s", version);
    assert_string_equal(target, want);
}

/* The steps reported for DEPLOYMENT, joined by spaces, into OUT. */
static void
s_steps(const lab_t *l, uint64_t deployment, char *out, size_t len)
{
    out[0] = '\0';
    for (size_t i = 0; i < l->fc.n_steps; i++) {
        if (l->fc.step_dep[i] == deployment) {
            size_t n = strlen(out);
            snprintf(out + n, len - n, "%s%s", n ? " " : "", l->fc.steps[i]);
        }
    }
}

/* ---- enroll -------------------------------------------------------------- */

static mode_t
s_mode(lab_t *l, const char *rel)
{
    char *path = tu_path(l->root, rel);
    struct stat st;
    assert_int_equal(lstat(path, &st), 0);
    free(path);
    return st.st_mode & 07777;
}

static void
test_enroll_accepted(void **state)
{
    lab_t *l = *state;
    char *out = NULL;
    assert_int_equal(s_enroll(l, l->server_pub, TOKEN_OK, NULL, &out), 0);
    assert_contains(out, "accepted into dev as " AGENT_NAME);
    free(out);
    /* What the controller heard, from an as yet unknown key. */
    assert_int_equal(l->fc.enrolls, 1);
    assert_string_equal(l->fc.enroll_token, TOKEN_OK);
    assert_string_equal(l->fc.enroll_env, "dev");
    assert_string_equal(l->fc.enroll_name, AGENT_NAME);
    assert_string_equal(l->fc.enroll_tags, "site=fra1;");
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    assert_string_equal(l->fc.enroll_host, host);
    char *pub = tu_path(l->root, "keys/agent");
    zcert_t *cert = zcert_load(pub);
    assert_non_null(cert);
    char uid[128];
    snprintf(uid, sizeof uid, "unknown:%s", zcert_public_txt(cert));
    assert_string_equal(l->fc.enroll_uid, uid);
    zcert_destroy(&cert);
    free(pub);
    /* The files and their modes. */
    assert_int_equal(s_mode(l, "keys"), 0700);
    assert_int_equal(s_mode(l, "keys/agent_secret"), 0600);
    assert_int_equal(s_mode(l, "trust"), 0700);
    char *trust = tu_path(l->root, "trust");
    assert_int_equal(tu_count_entries(trust), 1);
    free(trust);
    conf_t c;
    hoist_error_t err = {0};
    assert_int_equal(conf_load(l->root, &c, &err), HOIST_OK);
    assert_string_equal(c.controller, l->fc.endpoint);
    assert_string_equal(c.server_key, zcert_public_txt(l->server_cert));
    assert_string_equal(c.env, "dev");
    assert_string_equal(c.name, AGENT_NAME);
    assert_string_equal(c.user, s_me());
    assert_int_equal(c.n_tags, 1);
    /* Enrolled: a second enroll refuses without --force. */
    assert_int_equal(s_enroll(l, l->server_pub, TOKEN_OK, NULL, &out), 2);
    assert_contains(out, "--force");
    free(out);
    assert_int_equal(l->fc.enrolls, 1);
    assert_int_equal(s_enroll(l, l->server_pub, TOKEN_OK, "--force", &out), 0);
    free(out);
    assert_int_equal(l->fc.enrolls, 2);
}

static void
test_enroll_pending_and_refused(void **state)
{
    lab_t *l = *state;
    char *out = NULL;
    assert_int_equal(s_enroll(l, l->server_pub, "stale-token", NULL, &out), 3);
    assert_contains(out, "refused the enrollment");
    assert_contains(out, "unknown, used or expired");
    free(out);
    char *conf = tu_path(l->root, CONF_FILE);
    assert_false(tu_exists(conf));
    assert_int_equal(s_enroll(l, l->server_pub, NULL, NULL, &out), 0);
    assert_contains(out, "waiting as pending: ask an operator to run `hoist "
                         "agents accept " AGENT_NAME "`");
    free(out);
    assert_string_equal(l->fc.enroll_token, "");
    assert_true(tu_exists(conf));
    free(conf);
}

static void
test_enroll_wrong_key(void **state)
{
    lab_t *l = *state;
    zcert_t *other = zcert_new();
    char *file = tu_path(l->tmp, "wrong.key");
    char line[64];
    snprintf(line, sizeof line, "%s\n", zcert_public_txt(other));
    tu_write(file, line, (size_t)-1, 0644); /* the bare Z85 format */
    char *out = NULL;
    assert_int_equal(s_enroll(l, file, TOKEN_OK, NULL, &out), 1);
    assert_contains(out, "did not answer");
    assert_contains(out, "--controller-key");
    free(out);
    assert_int_equal(l->fc.enrolls, 0);
    char *conf = tu_path(l->root, CONF_FILE);
    assert_false(tu_exists(conf));
    free(conf);
    zcert_destroy(&other);
    free(file);
}

/* ---- run ----------------------------------------------------------------- */

static void
test_run_hello_heartbeats(void **state)
{
    lab_t *l = *state;
    s_enroll_ok(l);
    s_start_agent(l);
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    assert_string_equal(l->fc.hello_host, host);
    assert_string_equal(l->fc.hello_version, HOIST_VERSION);
    assert_true(l->fc.hello_os[0] != '\0');
    assert_true(l->fc.hello_free > 0);
    assert_string_equal(l->fc.hello_apps, "");
    PUMP_UNTIL(l, l->fc.heartbeats >= 5);
    assert_true(l->fc.heartbeats >= 5);
    assert_true(l->fc.seq_ok);
    /* Our heartbeats keep the agent's link up: 10 intervals, no loss. */
    fc_pump(&l->fc, 10 * HB_MS);
    assert_int_equal(l->fc.hellos, 1);
    assert_true(s_file_has(l->log, "connected to the controller"));
    assert_false(s_file_has(l->log, "lost the controller"));
    /* One daemon per root: a second one would be the same key twice. */
    char *log2 = tu_path(l->tmp, "second.log");
    const char *argv[] = {HOIST_AGENT_BIN, "run", "--root", l->root, NULL};
    pid_t pid = s_spawn(log2, argv);
    int rc = s_wait_exit(l, pid, WAIT_MS);
    if (rc < 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
    assert_int_equal(rc, 1);
    assert_true(s_file_has(log2, "another hoist-agent run serves"));
    free(log2);
    assert_int_equal(l->fc.hellos, 1);
}

static void
test_deploy_installed(void **state)
{
    lab_t *l = *state;
    s_release(l, "1.0.0", 1, GOOD_SPEC, "rel", 3 * 1024);
    s_enroll_ok(l);
    s_start_agent(l);
    /* Credit: with nothing answered, exactly one window is in flight. */
    l->fc.hold = true;
    s_deploy(l, 1, "1.0.0", false);
    PUMP_UNTIL(l, l->fc.fetches >= FETCH_WINDOW_CHUNKS);
    fc_pump(&l->fc, QUIET_MS);
    assert_int_equal(l->fc.fetches, FETCH_WINDOW_CHUNKS);
    for (size_t i = 0; i < l->fc.fetches; i++) {
        assert_int_equal(l->fc.fetch_off[i], i * FETCH_CHUNK_DEFAULT);
        assert_int_equal(l->fc.fetch_len[i], FETCH_CHUNK_DEFAULT);
        assert_int_equal(l->fc.fetch_id[i], ORDER_FETCH_ID(0));
    }
    fc_release(&l->fc);
    PUMP_UNTIL(l, l->fc.n_results == 1);
    assert_int_equal(l->fc.n_results, 1);
    const result_t *r = &l->fc.results[0];
    assert_int_equal(r->deployment, 1);
    assert_string_equal(r->outcome, "installed");
    assert_string_equal(r->failed_step, "");
    assert_string_equal(r->live, "1.0.0");
    assert_true(l->fc.fetches > FETCH_WINDOW_CHUNKS);
    char steps[512];
    s_steps(l, 1, steps, sizeof steps);
    assert_string_equal(steps, "fetch verify stage before_activate switch "
                               "activate health");
    s_assert_live(l, "1.0.0");
    char *active = tu_path(l->mark, "active"), *text = tu_read(active, NULL);
    assert_non_null(text);
    assert_string_equal(text, "1.0.0\n");
    free(text);
    free(active);
}

static void
test_deploy_rolled_back(void **state)
{
    lab_t *l = *state;
    s_release(l, "1.0.0", 1, GOOD_SPEC, "rel", 0);
    s_release(l, "2.0.0", 2, BAD_HEALTH_SPEC, "rel", 0);
    s_enroll_ok(l);
    s_start_agent(l);
    assert_string_equal(s_deploy_wait(l, 1, "1.0.0", false)->outcome,
                        "installed");
    const result_t *r = s_deploy_wait(l, 2, "2.0.0", false);
    assert_string_equal(r->outcome, "rolled-back");
    assert_string_equal(r->failed_step, "health");
    assert_string_equal(r->live, "1.0.0");
    assert_contains(r->message, "unhealthy-marker");
    assert_contains(r->message, "rolled back to 1.0.0");
    char steps[512];
    s_steps(l, 2, steps, sizeof steps);
    assert_string_equal(steps, "fetch verify stage before_activate switch "
                               "activate health rollback");
    s_assert_live(l, "1.0.0");
}

static void
test_deploy_untrusted(void **state)
{
    lab_t *l = *state;
    s_release(l, "1.0.0", 1, GOOD_SPEC, "other", 0);
    s_enroll_ok(l);
    s_start_agent(l);
    const result_t *r = s_deploy_wait(l, 7, "1.0.0", false);
    assert_string_equal(r->outcome, "rejected");
    assert_contains(r->message, "not trusted here");
    fc_pump(&l->fc, QUIET_MS);
    assert_int_equal(l->fc.fetches, 0);
    assert_int_equal(l->fc.n_steps, 0);
    char *cache = tu_path(l->root, "cache");
    assert_false(tu_exists(cache));
    free(cache);
    char *apps = tu_path(l->root, "apps/web");
    assert_false(tu_exists(apps));
    free(apps);
}

static void
test_deploy_busy(void **state)
{
    lab_t *l = *state;
    s_release(l, "1.0.0", 1, SLOW_SPEC, "rel", 0);
    s_enroll_ok(l);
    s_start_agent(l);
    s_deploy(l, 1, "1.0.0", false);
    PUMP_UNTIL(l, l->fc.n_steps > 0 &&
                      strcmp(l->fc.steps[l->fc.n_steps - 1], "activate") == 0);
    /* The same order again (a controller re-sends after a hello): it goes
     * on. Another one: refused while the first runs. */
    s_deploy(l, 1, "1.0.0", false);
    s_deploy(l, 2, "1.0.0", false);
    PUMP_UNTIL(l, l->fc.n_results >= 2);
    assert_int_equal(l->fc.n_results, 2);
    assert_int_equal(l->fc.results[0].deployment, 2);
    assert_string_equal(l->fc.results[0].outcome, "rejected");
    assert_contains(l->fc.results[0].message, "busy with deployment 1");
    assert_int_equal(l->fc.results[1].deployment, 1);
    assert_string_equal(l->fc.results[1].outcome, "installed");
    /* Asked again for the deployment that ended: its result, not a rerun. */
    size_t steps = l->fc.n_steps;
    const result_t *r = s_deploy_wait(l, 1, "1.0.0", false);
    assert_string_equal(r->outcome, "installed");
    assert_int_equal(l->fc.n_steps, steps);
}

/* Healthy unless the test has created @MARK@/sick: a kept release that
 * goes bad later, to fail a rollback to it. */
static const char *FRAGILE_SPEC =
    "hooks:\n"
    "  activate: echo \"$HOIST_VERSION\" > @MARK@/active\n"
    "health:\n"
    "  command: test ! -e @MARK@/sick && test \"$(cat @MARK@/active)\" = "
    "\"$HOIST_VERSION\"\n"
    "  retries: 2\n"
    "  interval: 50ms\n";

static void
test_deploy_rollback_order(void **state)
{
    lab_t *l = *state;
    s_release(l, "1.0.0", 1, FRAGILE_SPEC, "rel", 0);
    s_release(l, "1.1.0", 2, GOOD_SPEC, "rel", 0);
    s_release(l, "1.2.0", 3, GOOD_SPEC, "rel", 0);
    s_release(l, "0.9.0", 4, GOOD_SPEC, "rel", 0);
    s_enroll_ok(l);
    s_start_agent(l);
    const char *chain[] = {"1.0.0", "1.1.0", "1.2.0"};
    for (uint64_t i = 0; i < 3; i++) {
        assert_string_equal(s_deploy_wait(l, i + 1, chain[i], false)->outcome,
                            "installed");
    }
    size_t fetches = l->fc.fetches;
    /* 1.0.0 is older than the previous release (1.1.0) but still kept. It
     * turns unhealthy first: the rollback to it fails, 1.2.0 comes back,
     * and 1.0.0 stays on disk, since a kept release is never removed. */
    char sick[PATH_MAX], kept[PATH_MAX];
    snprintf(sick, sizeof sick, "%s/sick", l->mark);
    snprintf(kept, sizeof kept, "%s/apps/web/releases/1.0.0/VERSION", l->root);
    tu_write(sick, "", 0, 0644);
    const result_t *r = s_deploy_wait(l, 4, "1.0.0", true);
    assert_string_equal(r->outcome, "rolled-back");
    assert_string_equal(r->live, "1.2.0");
    s_assert_live(l, "1.2.0");
    assert_int_equal(access(kept, F_OK), 0);
    /* Healthy again: the rollback to the older kept release goes through. */
    unlink(sick);
    r = s_deploy_wait(l, 5, "1.0.0", true);
    assert_string_equal(r->outcome, "installed");
    assert_string_equal(r->live, "1.0.0");
    assert_int_equal(l->fc.fetches, fetches); /* nothing fetched */
    s_assert_live(l, "1.0.0");
    char steps[512];
    s_steps(l, 5, steps, sizeof steps);
    assert_string_equal(steps, "verify before_activate switch activate "
                               "health");
    /* A release never installed here is not kept: refused, nothing moves. */
    r = s_deploy_wait(l, 6, "0.9.0", true);
    assert_string_equal(r->outcome, "rejected");
    assert_contains(r->message, "not kept on this machine");
    s_assert_live(l, "1.0.0");
    /* Its hello now reports what it has. */
    s_kill_agent(l);
    s_start_agent(l);
    assert_string_equal(l->fc.hello_apps, "web=1.0.0/1.2.0;");
}

static void
test_reconnect(void **state)
{
    lab_t *l = *state;
    s_enroll_ok(l);
    s_start_agent(l);
    PUMP_UNTIL(l, l->fc.heartbeats >= 2);
    char endpoint[64];
    snprintf(endpoint, sizeof endpoint, "%s", l->fc.endpoint);
    fc_stop(&l->fc);
    PUMP_UNTIL(l, s_file_has(l->log, "lost the controller"));
    assert_true(s_file_has(l->log, "lost the controller; keeping " AGENT_NAME
                                   "'s current releases and reconnecting"));
    fc_start(&l->fc, endpoint);
    assert_string_equal(l->fc.endpoint, endpoint);
    PUMP_UNTIL(l, l->fc.hellos >= 2 && s_file_has(l->log, "reconnected"));
    assert_true(l->fc.hellos >= 2);
    assert_true(s_file_has(l->log, "reconnected to the controller"));
    int beats = l->fc.heartbeats;
    PUMP_UNTIL(l, l->fc.heartbeats >= beats + 3);
    assert_true(l->fc.heartbeats >= beats + 3);
}

static void
test_fetch_after_reconnect(void **state)
{
    lab_t *l = *state;
    s_release(l, "1.0.0", 1, GOOD_SPEC, "rel", 3 * 1024);
    s_enroll_ok(l);
    s_start_agent(l);
    l->fc.hold = true;
    s_deploy(l, 1, "1.0.0", false);
    PUMP_UNTIL(l, l->fc.fetches >= FETCH_WINDOW_CHUNKS);
    assert_int_equal(l->fc.fetches, FETCH_WINDOW_CHUNKS);
    /* The controller dies with the requests unanswered, and comes back. */
    char endpoint[64];
    snprintf(endpoint, sizeof endpoint, "%s", l->fc.endpoint);
    fc_stop(&l->fc);
    l->fc.hold = false;
    fc_pump(&l->fc, 5 * HB_MS);
    fc_start(&l->fc, endpoint);
    PUMP_UNTIL(l, l->fc.n_results == 1);
    assert_int_equal(l->fc.n_results, 1);
    assert_string_equal(l->fc.results[0].outcome, "installed");
    assert_true(l->fc.hellos >= 2);
    /* Asked again from the start, in a later epoch. */
    size_t again = FETCH_WINDOW_CHUNKS;
    assert_true(l->fc.fetches > again);
    assert_int_equal(l->fc.fetch_off[again], 0);
    assert_true(l->fc.fetch_id[again] > ORDER_FETCH_ID(0));
    s_assert_live(l, "1.0.0");
}

static void
test_sigterm(void **state)
{
    lab_t *l = *state;
    s_enroll_ok(l);
    s_start_agent(l);
    assert_int_equal(kill(l->pid, SIGTERM), 0);
    int rc = s_wait_exit(l, l->pid, 5000);
    if (rc >= 0) {
        l->pid = 0;
    }
    assert_int_equal(rc, 0);
    assert_true(s_file_has(l->log, "stopping"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backoff),
        cmocka_unit_test(test_link),
        cmocka_unit_test(test_conf),
        cmocka_unit_test(test_server_key_file),
        cmocka_unit_test(test_default_name),
        cmocka_unit_test(test_os_release),
        cmocka_unit_test(test_frame_take),
        cmocka_unit_test_setup_teardown(test_enroll_accepted, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_enroll_pending_and_refused,
                                        s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_enroll_wrong_key, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_run_hello_heartbeats, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_deploy_installed, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_deploy_rolled_back, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_deploy_untrusted, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_deploy_busy, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_deploy_rollback_order, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_reconnect, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_fetch_after_reconnect, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_sigterm, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
