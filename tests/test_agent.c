/*
 * test_agent: the agent daemon (hoist-agent enroll and run) as a real
 * process against the test double of the controller in fakectl (real
 * libraries: a CURVE ROUTER vetted by the real ZAP handler, answering
 * enroll, hello, heartbeat and fetch the way docs/protocol.md says, and
 * recording what the agent sent). Releases are real: signed by the real
 * `hoist` binary, real tarballs with a hoist.yml, installed by real
 * hooks. Everything is on 127.0.0.1 with ephemeral ports; every process
 * is killed and waited for in teardown.
 *
 * The pure parts (backoff, the link state machine, conf, facts, the pipe
 * framing) are tested first, without processes.
 */
#include "testutil.h"

#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <czmq.h>

#include "conf.h"
#include "envelope.h"
#include "facts.h"
#include "fakectl.h"
#include "fetch.h"
#include "fleetutil.h"
#include "order.h"
#include "uplink.h"

#define QUIET_MS   400 /* how long we watch for what must not happen */
#define AGENT_NAME "web-01"

/* A test in the lab of fakectl, whose agent is AGENT_NAME. */
#define LAB_TEST(f)                                                            \
    cmocka_unit_test_prestate_setup_teardown(f, fakectl_lab_setup,             \
                                             fakectl_lab_teardown, AGENT_NAME)

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

/* The controller's next key: tried every other attempt once lost, made
 * the key by a welcome that came through it, learnt from a welcome,
 * forgotten when no longer announced. */
static void
test_pin(void **state)
{
    (void)state;
    char k1[41], k2[41];
    memset(k1, 'a', 40);
    memset(k2, 'b', 40);
    k1[40] = k2[40] = '\0';
    assert_false(uplink_use_next_key(0, true));
    assert_true(uplink_use_next_key(1, true));
    assert_false(uplink_use_next_key(2, true));
    assert_true(uplink_use_next_key(3, true));
    assert_false(uplink_use_next_key(1, false));
    assert_int_equal(uplink_pin_decide(false, "", ""), UPLINK_PIN_KEEP);
    assert_int_equal(uplink_pin_decide(false, "", k1), UPLINK_PIN_LEARN);
    assert_int_equal(uplink_pin_decide(false, k1, k1), UPLINK_PIN_KEEP);
    assert_int_equal(uplink_pin_decide(false, k1, k2), UPLINK_PIN_LEARN);
    assert_int_equal(uplink_pin_decide(false, k1, ""), UPLINK_PIN_FORGET);
    assert_int_equal(uplink_pin_decide(true, k1, ""), UPLINK_PIN_PROMOTE);
    assert_int_equal(uplink_pin_decide(true, k1, k2), UPLINK_PIN_PROMOTE);
    /* A malformed announcement is not pinned, nor taken for "none". */
    assert_int_equal(uplink_pin_decide(false, "", "short"), UPLINK_PIN_KEEP);
    assert_int_equal(uplink_pin_decide(false, k1, "short"), UPLINK_PIN_KEEP);
}

static void
test_conf(void **state)
{
    (void)state;
    conf_t c, back;
    char buf[1024];
    hoist_error_t err = {0};
    assert_int_equal(
        conf_parse(CONF_TEXT, strlen(CONF_TEXT), "agent.conf", &c, &err),
        HOIST_OK);
    assert_string_equal(c.controller, "tcp://10.0.0.1:7600");
    assert_string_equal(c.env, "prod");
    assert_string_equal(c.user, "");
    assert_int_equal(c.n_tags, 1);
    assert_string_equal(c.tags[0].value, "fra1");
    assert_string_equal(c.next_server_key, "");
    snprintf(c.user, sizeof c.user, "www-data");
    snprintf(c.next_server_key, sizeof c.next_server_key, "%s", c.server_key);
    char *text = conf_format(&c);
    assert_non_null(text);
    assert_int_equal(conf_parse(text, strlen(text), "agent.conf", &back, &err),
                     HOIST_OK);
    assert_string_equal(back.controller, c.controller);
    assert_string_equal(back.server_key, c.server_key);
    assert_string_equal(back.env, c.env);
    assert_string_equal(back.name, c.name);
    assert_string_equal(back.user, "www-data");
    assert_string_equal(back.next_server_key, c.server_key);
    assert_int_equal(back.n_tags, 1);
    assert_string_equal(back.tags[0].key, "site");
    assert_string_equal(back.tags[0].value, "fra1");
    free(text);
    s_conf_refused("controller: \"tcp://x:1\"\n", "required");
    s_conf_refused("nmae: \"x\"\n", "unknown key");
    snprintf(buf, sizeof buf, "%snext_server_key: \"short\"\n", CONF_TEXT);
    s_conf_refused(buf, "next_server_key is not a CURVE public key");
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

/* True when the file at PATH contains NEEDLE. */
static bool
s_file_has(const char *path, const char *needle)
{
    char *text = tu_read(path, NULL);
    bool has = text && strstr(text, needle);
    free(text);
    return has;
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

/* The version `current` points at ("" when none). */
static void
s_assert_live(fakectl_lab_t *l, const char *version)
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
s_steps(const fakectl_lab_t *l, uint64_t deployment, char *out, size_t len)
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
s_mode(fakectl_lab_t *l, const char *rel)
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
    fakectl_lab_t *l = *state;
    char *out = NULL;
    assert_int_equal(
        fakectl_lab_enroll(l, l->server_pub, FAKECTL_TOKEN, NULL, &out), 0);
    assert_contains(out, "accepted into dev as " AGENT_NAME);
    free(out);
    /* What the controller heard, from an as yet unknown key. */
    assert_int_equal(l->fc.enrolls, 1);
    assert_string_equal(l->fc.enroll_token, FAKECTL_TOKEN);
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
    assert_string_equal(c.user, fu_me());
    assert_int_equal(c.n_tags, 1);
    /* Enrolled: a second enroll refuses without --force. */
    assert_int_equal(
        fakectl_lab_enroll(l, l->server_pub, FAKECTL_TOKEN, NULL, &out), 2);
    assert_contains(out, "--force");
    free(out);
    assert_int_equal(l->fc.enrolls, 1);
    assert_int_equal(
        fakectl_lab_enroll(l, l->server_pub, FAKECTL_TOKEN, "--force", &out),
        0);
    free(out);
    assert_int_equal(l->fc.enrolls, 2);
}

static void
test_enroll_pending_and_refused(void **state)
{
    fakectl_lab_t *l = *state;
    char *out = NULL;
    assert_int_equal(
        fakectl_lab_enroll(l, l->server_pub, "stale-token", NULL, &out), 3);
    assert_contains(out, "refused the enrollment");
    assert_contains(out, "unknown, used or expired");
    free(out);
    char *conf = tu_path(l->root, CONF_FILE);
    assert_false(tu_exists(conf));
    assert_int_equal(fakectl_lab_enroll(l, l->server_pub, NULL, NULL, &out), 0);
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
    fakectl_lab_t *l = *state;
    zcert_t *other = zcert_new();
    char *file = tu_path(l->tmp, "wrong.key");
    char line[64];
    snprintf(line, sizeof line, "%s\n", zcert_public_txt(other));
    tu_write(file, line, (size_t)-1, 0644); /* the bare Z85 format */
    char *out = NULL;
    assert_int_equal(fakectl_lab_enroll(l, file, FAKECTL_TOKEN, NULL, &out), 1);
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
    fakectl_lab_t *l = *state;
    fakectl_lab_enroll_ok(l);
    fakectl_lab_start_agent(l);
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    assert_string_equal(l->fc.hello_host, host);
    assert_string_equal(l->fc.hello_version, HOIST_VERSION);
    assert_true(l->fc.hello_os[0] != '\0');
    assert_true(l->fc.hello_free > 0);
    assert_string_equal(l->fc.hello_apps, "");
    FAKECTL_PUMP_UNTIL(l, l->fc.heartbeats >= 5);
    assert_true(l->fc.heartbeats >= 5);
    assert_true(l->fc.seq_ok);
    /* Our heartbeats keep the agent's link up: 10 intervals, no loss. */
    fakectl_pump(&l->fc, 10 * FAKECTL_HB_MS);
    assert_int_equal(l->fc.hellos, 1);
    assert_true(s_file_has(l->log, "connected to the controller"));
    assert_false(s_file_has(l->log, "lost the controller"));
    /* One daemon per root: a second one would be the same key twice. */
    char *log2 = tu_path(l->tmp, "second.log");
    const char *argv[] = {HOIST_AGENT_BIN, "run", "--root", l->root, NULL};
    pid_t pid = fakectl_spawn(log2, argv);
    int rc = fakectl_lab_wait_exit(l, pid, FAKECTL_WAIT_MS);
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
    fakectl_lab_t *l = *state;
    fakectl_lab_release(l, "1.0.0", 1, GOOD_SPEC, "rel", 3 * 1024);
    fakectl_lab_enroll_ok(l);
    fakectl_lab_start_agent(l);
    /* Credit: with nothing answered, exactly one window is in flight. */
    l->fc.hold = true;
    fakectl_lab_deploy(l, 1, "1.0.0", false);
    FAKECTL_PUMP_UNTIL(l, l->fc.fetches >= FETCH_WINDOW_CHUNKS);
    fakectl_pump(&l->fc, QUIET_MS);
    assert_int_equal(l->fc.fetches, FETCH_WINDOW_CHUNKS);
    for (size_t i = 0; i < l->fc.fetches; i++) {
        assert_int_equal(l->fc.fetch_off[i], i * FETCH_CHUNK_DEFAULT);
        assert_int_equal(l->fc.fetch_len[i], FETCH_CHUNK_DEFAULT);
        assert_int_equal(l->fc.fetch_id[i], ORDER_FETCH_ID(0));
    }
    fakectl_unhold(&l->fc);
    FAKECTL_PUMP_UNTIL(l, l->fc.n_results == 1);
    assert_int_equal(l->fc.n_results, 1);
    const fakectl_result_t *r = &l->fc.results[0];
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
    fakectl_lab_t *l = *state;
    fakectl_lab_release(l, "1.0.0", 1, GOOD_SPEC, "rel", 0);
    fakectl_lab_release(l, "2.0.0", 2, BAD_HEALTH_SPEC, "rel", 0);
    fakectl_lab_enroll_ok(l);
    fakectl_lab_start_agent(l);
    assert_string_equal(fakectl_lab_deploy_wait(l, 1, "1.0.0", false)->outcome,
                        "installed");
    const fakectl_result_t *r = fakectl_lab_deploy_wait(l, 2, "2.0.0", false);
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
    fakectl_lab_t *l = *state;
    fakectl_lab_release(l, "1.0.0", 1, GOOD_SPEC, "other", 0);
    fakectl_lab_enroll_ok(l);
    fakectl_lab_start_agent(l);
    const fakectl_result_t *r = fakectl_lab_deploy_wait(l, 7, "1.0.0", false);
    assert_string_equal(r->outcome, "rejected");
    assert_contains(r->message, "not trusted here");
    fakectl_pump(&l->fc, QUIET_MS);
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
    fakectl_lab_t *l = *state;
    fakectl_lab_release(l, "1.0.0", 1, SLOW_SPEC, "rel", 0);
    fakectl_lab_enroll_ok(l);
    fakectl_lab_start_agent(l);
    fakectl_lab_deploy(l, 1, "1.0.0", false);
    FAKECTL_PUMP_UNTIL(
        l, l->fc.n_steps > 0 &&
               strcmp(l->fc.steps[l->fc.n_steps - 1], "activate") == 0);
    /* The same order again (a controller re-sends after a hello): it goes
     * on. Another one: refused while the first runs. */
    fakectl_lab_deploy(l, 1, "1.0.0", false);
    fakectl_lab_deploy(l, 2, "1.0.0", false);
    FAKECTL_PUMP_UNTIL(l, l->fc.n_results >= 2);
    assert_int_equal(l->fc.n_results, 2);
    assert_int_equal(l->fc.results[0].deployment, 2);
    assert_string_equal(l->fc.results[0].outcome, "rejected");
    assert_contains(l->fc.results[0].message, "busy with deployment 1");
    assert_int_equal(l->fc.results[1].deployment, 1);
    assert_string_equal(l->fc.results[1].outcome, "installed");
    /* Asked again for the deployment that ended: its result, not a rerun. */
    size_t steps = l->fc.n_steps;
    const fakectl_result_t *r = fakectl_lab_deploy_wait(l, 1, "1.0.0", false);
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
    fakectl_lab_t *l = *state;
    fakectl_lab_release(l, "1.0.0", 1, FRAGILE_SPEC, "rel", 0);
    fakectl_lab_release(l, "1.1.0", 2, GOOD_SPEC, "rel", 0);
    fakectl_lab_release(l, "1.2.0", 3, GOOD_SPEC, "rel", 0);
    fakectl_lab_release(l, "0.9.0", 4, GOOD_SPEC, "rel", 0);
    fakectl_lab_enroll_ok(l);
    fakectl_lab_start_agent(l);
    const char *chain[] = {"1.0.0", "1.1.0", "1.2.0"};
    for (uint64_t i = 0; i < 3; i++) {
        assert_string_equal(
            fakectl_lab_deploy_wait(l, i + 1, chain[i], false)->outcome,
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
    const fakectl_result_t *r = fakectl_lab_deploy_wait(l, 4, "1.0.0", true);
    assert_string_equal(r->outcome, "rolled-back");
    assert_string_equal(r->live, "1.2.0");
    s_assert_live(l, "1.2.0");
    assert_int_equal(access(kept, F_OK), 0);
    /* Healthy again: the rollback to the older kept release goes through. */
    unlink(sick);
    r = fakectl_lab_deploy_wait(l, 5, "1.0.0", true);
    assert_string_equal(r->outcome, "installed");
    assert_string_equal(r->live, "1.0.0");
    assert_int_equal(l->fc.fetches, fetches); /* nothing fetched */
    s_assert_live(l, "1.0.0");
    char steps[512];
    s_steps(l, 5, steps, sizeof steps);
    assert_string_equal(steps, "verify before_activate switch activate "
                               "health");
    /* A release never installed here is not kept: refused, nothing moves. */
    r = fakectl_lab_deploy_wait(l, 6, "0.9.0", true);
    assert_string_equal(r->outcome, "rejected");
    assert_contains(r->message, "not kept on this machine");
    s_assert_live(l, "1.0.0");
    /* Its hello now reports what it has. */
    fakectl_lab_kill_agent(l);
    fakectl_lab_start_agent(l);
    assert_string_equal(l->fc.hello_apps, "web=1.0.0/1.2.0;");
}

static void
test_reconnect(void **state)
{
    fakectl_lab_t *l = *state;
    fakectl_lab_enroll_ok(l);
    fakectl_lab_start_agent(l);
    FAKECTL_PUMP_UNTIL(l, l->fc.heartbeats >= 2);
    char endpoint[64];
    snprintf(endpoint, sizeof endpoint, "%s", l->fc.endpoint);
    fakectl_stop(&l->fc);
    FAKECTL_PUMP_UNTIL(l, s_file_has(l->log, "lost the controller"));
    assert_true(s_file_has(l->log, "lost the controller; keeping " AGENT_NAME
                                   "'s current releases and reconnecting"));
    fakectl_start(&l->fc, endpoint);
    assert_string_equal(l->fc.endpoint, endpoint);
    FAKECTL_PUMP_UNTIL(l,
                       l->fc.hellos >= 2 && s_file_has(l->log, "reconnected"));
    assert_true(l->fc.hellos >= 2);
    assert_true(s_file_has(l->log, "reconnected to the controller"));
    int beats = l->fc.heartbeats;
    FAKECTL_PUMP_UNTIL(l, l->fc.heartbeats >= beats + 3);
    assert_true(l->fc.heartbeats >= beats + 3);
}

static void
test_fetch_after_reconnect(void **state)
{
    fakectl_lab_t *l = *state;
    fakectl_lab_release(l, "1.0.0", 1, GOOD_SPEC, "rel", 3 * 1024);
    fakectl_lab_enroll_ok(l);
    fakectl_lab_start_agent(l);
    l->fc.hold = true;
    fakectl_lab_deploy(l, 1, "1.0.0", false);
    FAKECTL_PUMP_UNTIL(l, l->fc.fetches >= FETCH_WINDOW_CHUNKS);
    assert_int_equal(l->fc.fetches, FETCH_WINDOW_CHUNKS);
    /* The controller dies with the requests unanswered, and comes back. */
    char endpoint[64];
    snprintf(endpoint, sizeof endpoint, "%s", l->fc.endpoint);
    fakectl_stop(&l->fc);
    l->fc.hold = false;
    fakectl_pump(&l->fc, 5 * FAKECTL_HB_MS);
    fakectl_start(&l->fc, endpoint);
    FAKECTL_PUMP_UNTIL(l, l->fc.n_results == 1);
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
    fakectl_lab_t *l = *state;
    fakectl_lab_enroll_ok(l);
    fakectl_lab_start_agent(l);
    assert_int_equal(kill(l->pid, SIGTERM), 0);
    int rc = fakectl_lab_wait_exit(l, l->pid, 5000);
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
        cmocka_unit_test(test_pin),
        cmocka_unit_test(test_conf),
        cmocka_unit_test(test_server_key_file),
        cmocka_unit_test(test_default_name),
        cmocka_unit_test(test_os_release),
        cmocka_unit_test(test_frame_take),
        LAB_TEST(test_enroll_accepted),
        LAB_TEST(test_enroll_pending_and_refused),
        LAB_TEST(test_enroll_wrong_key),
        LAB_TEST(test_run_hello_heartbeats),
        LAB_TEST(test_deploy_installed),
        LAB_TEST(test_deploy_rolled_back),
        LAB_TEST(test_deploy_untrusted),
        LAB_TEST(test_deploy_busy),
        LAB_TEST(test_deploy_rollback_order),
        LAB_TEST(test_reconnect),
        LAB_TEST(test_fetch_after_reconnect),
        LAB_TEST(test_sigterm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
