/*
 * test_drill_agent: the agent's side of DR drills (agent/drill). The pure
 * decisions first; then a real `hoist-agent run` against a test double of
 * the controller (the minimum of test_agent.c's: a CURVE ROUTER vetted by
 * the real ZAP handler that answers enroll, hello, heartbeat and fetch,
 * and records results). A real signed release is installed by a deploy
 * order, then HookOrders make the agent run its failover and failback
 * hooks. Hooks that must be caught while running wait for a file the test
 * writes, so nothing depends on timing. Everything is on 127.0.0.1 with
 * ephemeral ports; the daemon is killed and waited for in teardown.
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

#include "digest.h"
#include "drill.h"
#include "envelope.h"
#include "manifest.h"
#include "zap.h"

#define HB_MS       100   /* the fake controller's heartbeat interval */
#define WAIT_MS     15000 /* the longest wait for what must happen */
#define AGENT_NAME  "dr-01"
#define TOKEN_OK    "good-token"
#define RESULTS_MAX 16

/* ---- pure parts ---------------------------------------------------------- */

static void
test_decide(void **state)
{
    (void)state;
    assert_int_equal(drill_decide(true, HOIST_OK, false, HOIST_ERR_HEALTH),
                     DRILL_OK);
    assert_int_equal(drill_decide(true, HOIST_OK, true, HOIST_OK), DRILL_OK);
    assert_int_equal(drill_decide(true, HOIST_ERR_HOOK, true, HOIST_OK),
                     DRILL_FAILED);
    assert_int_equal(drill_decide(true, HOIST_ERR_TIMEOUT, false, HOIST_OK),
                     DRILL_FAILED);
    assert_int_equal(drill_decide(true, HOIST_OK, true, HOIST_ERR_HEALTH),
                     DRILL_FAILED);
    /* Without the hook: no-hook unless the health check, if run, failed. */
    assert_int_equal(drill_decide(false, HOIST_ERR_HOOK, false, HOIST_OK),
                     DRILL_NO_HOOK);
    assert_int_equal(drill_decide(false, HOIST_OK, true, HOIST_OK),
                     DRILL_NO_HOOK);
    assert_int_equal(drill_decide(false, HOIST_OK, true, HOIST_ERR_HEALTH),
                     DRILL_FAILED);
    assert_string_equal(drill_outcome_name(DRILL_NO_RELEASE), "no-release");
    assert_string_equal(drill_outcome_name(DRILL_BUSY), "busy");
    assert_string_equal(drill_outcome_name(DRILL_NO_HOOK), "no-hook");
    assert_true(drill_hook_valid("failover"));
    assert_true(drill_hook_valid("failback"));
    assert_false(drill_hook_valid("activate"));
    assert_false(drill_hook_valid(""));
    assert_false(drill_hook_valid(NULL));
}

/* ---- the test double of the controller ----------------------------------- */

typedef struct {
    uint64_t id, drill;
    char app[64], hook[32], outcome[32], live[64];
    char message[DRILL_MESSAGE_MAX + 1];
    uint64_t hook_ms, health_ms;
} hook_result_t;

typedef struct {
    uint64_t deployment;
    char outcome[32];
    char message[4096];
} result_t;

typedef struct {
    zsock_t *router;
    zap_t *zap;
    zcert_t *cert;
    char endpoint[64];
    const char *store; /* artifacts, named by hex digest */
    zframe_t *agent;   /* routing id of the agent's session */
    int64_t hb_at;
    int hellos;
    char steps[64][32];
    size_t n_steps;
    result_t results[RESULTS_MAX];
    size_t n_results;
    hook_result_t hooks[RESULTS_MAX];
    size_t n_hooks;
} fc_t;

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

static void
fc_start(fc_t *fc)
{
    hoist_error_t err = {0};
    fc->router = zap_server_socket(ZMQ_ROUTER, fc->cert, ZAP_DOMAIN_AGENTS,
                                   ENVELOPE_MAX_BYTES, &err);
    if (!fc->router) {
        fail_msg("zap_server_socket: %s", err.msg);
    }
    zsock_set_linger(fc->router, 0);
    int port = zsock_bind(fc->router, "tcp://127.0.0.1:*");
    if (port <= 0) {
        fail_msg("bind: %s", zmq_strerror(zmq_errno()));
    }
    snprintf(fc->endpoint, sizeof fc->endpoint, "tcp://127.0.0.1:%d", port);
}

static void
fc_stop(fc_t *fc)
{
    zsock_destroy(&fc->router);
    zframe_destroy(&fc->agent);
}

static void
fc_on_enroll(fc_t *fc, zframe_t *routing, const char *uid, const envelope_t *e)
{
    const Hoist__EnrollRequest *r = e->enroll;
    if (strcmp(r->token, TOKEN_OK) != 0) {
        fc_error(fc, routing, e->id, HOIST_ERR_AUTH, "unknown token");
        return;
    }
    hoist_error_t err = {0};
    char user[128];
    snprintf(user, sizeof user, "agent:%s", r->name);
    assert_int_equal(
        zap_allow(fc->zap, uid + strlen(ZAP_UNKNOWN_PREFIX), user, &err),
        HOIST_OK);
    Hoist__EnrollReply reply = HOIST__ENROLL_REPLY__INIT;
    reply.name = r->name;
    reply.env = r->env;
    reply.state = "accepted";
    envelope_t out = HOIST__ENVELOPE__INIT;
    out.id = e->id;
    out.body_case = HOIST__ENVELOPE__BODY_ENROLLED;
    out.enrolled = &reply;
    fc_send(fc, routing, &out);
}

static void
fc_on_hello(fc_t *fc, zframe_t *routing, const envelope_t *e)
{
    fc->hellos++;
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
fc_on_hook_result(fc_t *fc, uint64_t id, const Hoist__HookResult *r)
{
    assert_true(fc->n_hooks < RESULTS_MAX);
    hook_result_t *h = &fc->hooks[fc->n_hooks++];
    h->id = id;
    h->drill = r->drill;
    snprintf(h->app, sizeof h->app, "%s", r->app);
    snprintf(h->hook, sizeof h->hook, "%s", r->hook);
    snprintf(h->outcome, sizeof h->outcome, "%s", r->outcome);
    snprintf(h->live, sizeof h->live, "%s", r->live);
    snprintf(h->message, sizeof h->message, "%s", r->message);
    h->hook_ms = r->hook_ms;
    h->health_ms = r->health_ms;
}

static void
fc_on_session(fc_t *fc, zframe_t *routing, const envelope_t *e)
{
    switch (e->body_case) {
    case HOIST__ENVELOPE__BODY_HEARTBEAT:
        return;
    case HOIST__ENVELOPE__BODY_FETCH:
        fc_serve(fc, routing, e);
        return;
    case HOIST__ENVELOPE__BODY_PROGRESS:
        if (fc->n_steps < 64) {
            snprintf(fc->steps[fc->n_steps++], 32, "%s", e->progress->step);
        }
        return;
    case HOIST__ENVELOPE__BODY_RESULT: {
        assert_true(fc->n_results < RESULTS_MAX);
        result_t *r = &fc->results[fc->n_results++];
        r->deployment = e->result->deployment;
        snprintf(r->outcome, sizeof r->outcome, "%s", e->result->outcome);
        snprintf(r->message, sizeof r->message, "%s", e->result->message);
        return;
    }
    case HOIST__ENVELOPE__BODY_HOOK_RESULT:
        fc_on_hook_result(fc, e->id, e->hook_result);
        return;
    default:
        fail_msg("the agent sent an unexpected %s",
                 envelope_body_name(e->body_case));
    }
}

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
    if (e->body_case == HOIST__ENVELOPE__BODY_ENROLL) {
        fc_on_enroll(fc, routing, uid, e);
    } else if (e->body_case == HOIST__ENVELOPE__BODY_HELLO) {
        fc_on_hello(fc, routing, e);
    } else if (!fc->agent || !zframe_eq(fc->agent, routing)) {
        fc_error(fc, routing, e->id, HOIST_ERR_PROTOCOL,
                 "this connection has not said hello");
    } else {
        fc_on_session(fc, routing, e);
    }
    envelope_destroy(&e);
    zmsg_destroy(&msg);
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
        fc_heartbeat(fc);
        zsock_set_rcvtimeo(fc->router, 5);
        zmsg_t *msg = zmsg_recv(fc->router);
        if (msg) {
            fc_handle(fc, msg);
        }
    } while (zclock_mono() < deadline);
}

/* ---- the lab ------------------------------------------------------------- */

typedef struct {
    char *tmp, *root, *mark, *store, *server_pub, *log;
    zcert_t *server_cert;
    zap_t *zap;
    fc_t fc;
    pid_t pid; /* the agent daemon, 0 when none */
} lab_t;

/* Pumps the fake controller until COND or WAIT_MS. */
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
    tu_sh("cd %s && %s keygen --out rel >/dev/null", l->tmp, HOIST_CLI_BIN);
    l->zap = zap_new(&err);
    if (!l->zap) {
        fail_msg("zap_new: %s", err.msg);
    }
    l->server_cert = zcert_new();
    assert_int_equal(zcert_save_public(l->server_cert, l->server_pub), 0);
    l->fc.zap = l->zap;
    l->fc.cert = l->server_cert;
    l->fc.store = l->store;
    fc_start(&l->fc);
    *state = l;
    return 0;
}

static int
s_teardown(void **state)
{
    lab_t *l = *state;
    if (l->pid > 0) {
        kill(l->pid, SIGKILL);
        while (waitpid(l->pid, NULL, 0) < 0 && errno == EINTR) {
        }
    }
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

/* Enrolls the agent (serving the fake controller meanwhile). */
static void
s_enroll(lab_t *l)
{
    char *log = tu_path(l->tmp, "enroll.log");
    char *trust = tu_path(l->tmp, "rel.pub");
    const char *argv[] = {HOIST_AGENT_BIN,
                          "enroll",
                          "--root",
                          l->root,
                          "--controller",
                          l->fc.endpoint,
                          "--controller-key",
                          l->server_pub,
                          "--env",
                          "dev",
                          "--trust",
                          trust,
                          "--name",
                          AGENT_NAME,
                          "--user",
                          s_me(),
                          "--timeout",
                          "5s",
                          "--token",
                          TOKEN_OK,
                          NULL};
    pid_t pid = s_spawn(log, argv);
    int64_t until = zclock_mono() + WAIT_MS;
    int st = 0;
    pid_t got = 0;
    while ((got = waitpid(pid, &st, WNOHANG)) == 0 && zclock_mono() < until) {
        fc_pump(&l->fc, 10);
    }
    if (got != pid) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
    if (got != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        char *out = tu_read(log, NULL);
        fail_msg("enroll failed: %s", out ? out : "");
    }
    free(trust);
    free(log);
}

/* Starts `hoist-agent run` and waits for its hello. */
static void
s_start_agent(lab_t *l)
{
    const char *argv[] = {HOIST_AGENT_BIN, "run", "--root", l->root, NULL};
    l->pid = s_spawn(l->log, argv);
    PUMP_UNTIL(l, l->fc.hellos > 0);
    if (l->fc.hellos == 0) {
        char *log = tu_read(l->log, NULL);
        fail_msg("no hello from the agent; its log:\n%s", log ? log : "");
    }
}

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

/* Packs web VERSION with SPEC, signs it for env dev and puts the
 * artifact in the fake controller's store. */
static void
s_release(lab_t *l, const char *version, int seq, const char *spec)
{
    char src[PATH_MAX], path[PATH_MAX], text[4096];
    snprintf(src, sizeof src, "%s/src-%s", l->tmp, version);
    snprintf(path, sizeof path, "%s/hoist.yml", src);
    s_subst(spec, l->mark, text, sizeof text);
    tu_write(path, text, (size_t)-1, 0644);
    tu_sh("tar -C %s -czf %s/web-%s.tar.gz . && %s release sign web %s "
          "%s/web-%s.tar.gz --sign-key %s/rel --sequence %d --env dev --out "
          "%s/web-%s.manifest >/dev/null",
          src, l->tmp, version, HOIST_CLI_BIN, version, l->tmp, version, l->tmp,
          seq, l->tmp, version);
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

/* Sends Deploy{DEPLOYMENT, web VERSION's manifest}. */
static void
s_deploy(lab_t *l, uint64_t deployment, const char *version)
{
    char path[PATH_MAX];
    size_t len = 0;
    snprintf(path, sizeof path, "%s/web-%s.manifest", l->tmp, version);
    char *bytes = tu_read(path, &len);
    assert_non_null(bytes);
    Hoist__DeployOrder d = HOIST__DEPLOY_ORDER__INIT;
    d.deployment = deployment;
    d.manifest.data = (uint8_t *)bytes;
    d.manifest.len = len;
    envelope_t e = HOIST__ENVELOPE__INIT;
    e.id = 1000 + deployment;
    e.body_case = HOIST__ENVELOPE__BODY_DEPLOY;
    e.deploy = &d;
    fc_send(&l->fc, l->fc.agent, &e);
    free(bytes);
}

/* Deploys VERSION and waits for DEPLOYMENT's result, which must be
 * OUTCOME. */
static void
s_deploy_wait(lab_t *l, uint64_t deployment, const char *version,
              const char *outcome)
{
    size_t n = l->fc.n_results;
    s_deploy(l, deployment, version);
    PUMP_UNTIL(l, l->fc.n_results > n);
    if (l->fc.n_results == n) {
        char *log = tu_read(l->log, NULL);
        fail_msg("no result for deployment %llu; the agent's log:\n%s",
                 (unsigned long long)deployment, log ? log : "");
    }
    assert_int_equal(l->fc.results[n].deployment, deployment);
    assert_string_equal(l->fc.results[n].outcome, outcome);
}

/* Sends HookOrder{DRILL, APP, HOOK, HEALTH} in an envelope of id ID. */
static void
s_hook(lab_t *l, uint64_t id, uint64_t drill, const char *app, const char *hook,
       bool health)
{
    Hoist__HookOrder h = HOIST__HOOK_ORDER__INIT;
    h.drill = drill;
    h.app = (char *)app;
    h.hook = (char *)hook;
    h.health = health;
    envelope_t e = HOIST__ENVELOPE__INIT;
    e.id = id;
    e.body_case = HOIST__ENVELOPE__BODY_HOOK;
    e.hook = &h;
    fc_send(&l->fc, l->fc.agent, &e);
}

/* Sends a HookOrder and waits for its HookResult; returns it. */
static const hook_result_t *
s_hook_wait(lab_t *l, uint64_t id, uint64_t drill, const char *app,
            const char *hook, bool health)
{
    size_t n = l->fc.n_hooks;
    s_hook(l, id, drill, app, hook, health);
    PUMP_UNTIL(l, l->fc.n_hooks > n);
    if (l->fc.n_hooks == n) {
        char *log = tu_read(l->log, NULL);
        fail_msg("no result for drill %llu's %s; the agent's log:\n%s",
                 (unsigned long long)drill, hook, log ? log : "");
    }
    const hook_result_t *r = &l->fc.hooks[n];
    assert_int_equal(r->id, id);
    assert_int_equal(r->drill, drill);
    assert_string_equal(r->app, app);
    assert_string_equal(r->hook, hook);
    return r;
}

/* The file MARK/NAME, read (the caller frees it; NULL when missing). */
static char *
s_mark(lab_t *l, const char *name)
{
    char *path = tu_path(l->mark, name);
    char *text = tu_read(path, NULL);
    free(path);
    return text;
}

/* Lines in MARK/NAME: how often a hook appended to it. */
static int
s_count(lab_t *l, const char *name)
{
    char *text = s_mark(l, name);
    int n = 0;
    for (const char *p = text; p && *p; p++) {
        n += *p == '\n';
    }
    free(text);
    return n;
}

/* Waits until MARK/NAME exists. */
static void
s_wait_mark(lab_t *l, const char *name)
{
    char *path = tu_path(l->mark, name);
    PUMP_UNTIL(l, tu_exists(path));
    assert_true(tu_exists(path));
    free(path);
}

static void
s_touch_mark(lab_t *l, const char *name)
{
    char *path = tu_path(l->mark, name);
    tu_write(path, "", 0, 0644);
    free(path);
}

/* ---- releases ------------------------------------------------------------ */

/* Records its environment and working directory, counts its runs, prints
 * a marker; the health check passes while MARK/healthy exists. */
static const char *DR_SPEC =
    "hooks:\n"
    "  activate: echo \"$HOIST_VERSION\" > @MARK@/active\n"
    "  failover: echo run >> @MARK@/failover.count; env | grep '^HOIST_' | "
    "sort > @MARK@/failover.env; echo \"failover-output-marker in $(pwd)\"\n"
    "  failback: echo failback-marker; exit 3\n"
    "health:\n"
    "  command: test -f @MARK@/healthy\n"
    "  retries: 2\n"
    "  interval: 50ms\n";

/* No failover or failback hook. */
static const char *PLAIN_SPEC =
    "hooks:\n"
    "  activate: echo \"$HOIST_VERSION\" > @MARK@/active\n"
    "health:\n"
    "  command: test -f @MARK@/healthy\n"
    "  retries: 2\n"
    "  interval: 50ms\n";

/* A failover that waits for MARK/go; an activate that waits for
 * MARK/go-install once MARK/hold-install exists. */
static const char *WAIT_SPEC =
    "hooks:\n"
    "  activate: if [ -f @MARK@/hold-install ]; then touch "
    "@MARK@/installing; while [ ! -f @MARK@/go-install ]; do sleep 0.02; "
    "done; fi\n"
    "  failover: echo run >> @MARK@/failover.count; touch @MARK@/started; "
    "while [ ! -f @MARK@/go ]; do sleep 0.02; done; echo waited-marker\n";

/* Enrolls, starts the agent and installs web 1.0.0 with SPEC. */
static void
s_lab_with(lab_t *l, const char *spec)
{
    s_touch_mark(l, "healthy");
    s_release(l, "1.0.0", 1, spec);
    s_enroll(l);
    s_start_agent(l);
    s_deploy_wait(l, 1, "1.0.0", "installed");
}

/* ---- tests --------------------------------------------------------------- */

static void
test_failover_runs(void **state)
{
    lab_t *l = *state;
    s_lab_with(l, DR_SPEC);
    char *journal = tu_path(l->root, "apps/web/state");
    size_t before_len = 0, after_len = 0;
    char *before = tu_read(journal, &before_len);
    assert_non_null(before);
    const hook_result_t *r = s_hook_wait(l, 501, 7, "web", "failover", true);
    assert_string_equal(r->outcome, "ok");
    assert_string_equal(r->live, "1.0.0");
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/apps/web/releases/1.0.0", l->root);
    char want[PATH_MAX + 64];
    snprintf(want, sizeof want, "failover-output-marker in %s", dir);
    assert_contains(r->message, want);
    /* The environment: the install's HOIST_* plus the drill's. */
    char *env = s_mark(l, "failover.env");
    assert_non_null(env);
    snprintf(want, sizeof want, "HOIST_RELEASE_DIR=%s\n", dir);
    assert_contains(env, want);
    assert_contains(env, "HOIST_APP=web\n");
    assert_contains(env, "HOIST_VERSION=1.0.0\n");
    assert_contains(env, "HOIST_ENV=dev\n");
    assert_contains(env, "HOIST_PREVIOUS_VERSION=\n");
    assert_contains(env, "HOIST_DRILL=7\n");
    assert_contains(env, "HOIST_HOOK=failover\n");
    free(env);
    assert_int_equal(s_count(l, "failover.count"), 1);
    /* The same order again: the kept result, the hook not run again. */
    const hook_result_t *again =
        s_hook_wait(l, 502, 7, "web", "failover", true);
    assert_string_equal(again->outcome, "ok");
    assert_string_equal(again->message, l->fc.hooks[0].message);
    assert_int_equal(again->hook_ms, l->fc.hooks[0].hook_ms);
    assert_int_equal(s_count(l, "failover.count"), 1);
    /* Another drill runs it again. */
    r = s_hook_wait(l, 503, 8, "web", "failover", false);
    assert_string_equal(r->outcome, "ok");
    assert_int_equal(r->health_ms, 0);
    assert_int_equal(s_count(l, "failover.count"), 2);
    /* Nothing live changed: `current` and the journal are as they were. */
    char link[PATH_MAX], target[PATH_MAX] = "";
    snprintf(link, sizeof link, "%s/apps/web/current", l->root);
    assert_true(readlink(link, target, sizeof target - 1) > 0);
    assert_string_equal(target, "releases/1.0.0");
    char *after = tu_read(journal, &after_len);
    assert_non_null(after);
    assert_int_equal(after_len, before_len);
    assert_memory_equal(after, before, before_len);
    free(after);
    free(before);
    free(journal);
}

static void
test_failing_hook(void **state)
{
    lab_t *l = *state;
    s_lab_with(l, DR_SPEC);
    const hook_result_t *r = s_hook_wait(l, 601, 9, "web", "failback", true);
    assert_string_equal(r->outcome, "failed");
    assert_string_equal(r->live, "1.0.0");
    assert_contains(r->message, "failback hook");
    assert_contains(r->message, "exited 3");
    assert_contains(r->message, "failback-marker");
    assert_int_equal(r->health_ms, 0); /* not run after a failed hook */
    /* A failure is kept too: asked again, the same answer. */
    r = s_hook_wait(l, 602, 9, "web", "failback", true);
    assert_string_equal(r->outcome, "failed");
    assert_contains(r->message, "failback-marker");
}

static void
test_no_hook_and_health(void **state)
{
    lab_t *l = *state;
    s_lab_with(l, PLAIN_SPEC);
    const hook_result_t *r = s_hook_wait(l, 701, 10, "web", "failover", true);
    assert_string_equal(r->outcome, "no-hook");
    assert_string_equal(r->live, "1.0.0");
    assert_contains(r->message, "has no failover hook");
    /* The health check failing makes it `failed`, naming the check. */
    char *healthy = tu_path(l->mark, "healthy");
    assert_int_equal(unlink(healthy), 0);
    free(healthy);
    r = s_hook_wait(l, 702, 11, "web", "failover", true);
    assert_string_equal(r->outcome, "failed");
    assert_contains(r->message, "health check of web 1.0.0");
    /* Without the health check asked for: no-hook. */
    r = s_hook_wait(l, 703, 12, "web", "failover", false);
    assert_string_equal(r->outcome, "no-hook");
}

static void
test_health_fails_after_hook(void **state)
{
    lab_t *l = *state;
    s_lab_with(l, DR_SPEC);
    char *healthy = tu_path(l->mark, "healthy");
    assert_int_equal(unlink(healthy), 0);
    free(healthy);
    const hook_result_t *r = s_hook_wait(l, 801, 13, "web", "failover", true);
    assert_string_equal(r->outcome, "failed");
    assert_contains(r->message, "failover-output-marker");
    assert_contains(r->message, "health check of web 1.0.0");
    assert_int_equal(s_count(l, "failover.count"), 1);
}

static void
test_no_release_and_bad_orders(void **state)
{
    lab_t *l = *state;
    s_lab_with(l, DR_SPEC);
    const hook_result_t *r = s_hook_wait(l, 901, 14, "db", "failover", true);
    assert_string_equal(r->outcome, "no-release");
    assert_string_equal(r->live, "");
    assert_contains(r->message, "db has no release");
    r = s_hook_wait(l, 902, 14, "../web", "failover", false);
    assert_string_equal(r->outcome, "failed");
    assert_contains(r->message, "not an app name");
    r = s_hook_wait(l, 903, 14, "web", "activate", false);
    assert_string_equal(r->outcome, "failed");
    assert_contains(r->message, "not a hook an order may run");
    assert_int_equal(s_count(l, "failover.count"), 0);
}

static void
test_busy(void **state)
{
    lab_t *l = *state;
    s_release(l, "2.0.0", 2, WAIT_SPEC); /* before the agent runs */
    s_lab_with(l, WAIT_SPEC);
    /* An install in progress: busy, and nothing runs. */
    s_touch_mark(l, "hold-install");
    s_deploy(l, 2, "2.0.0");
    s_wait_mark(l, "installing");
    const hook_result_t *r = s_hook_wait(l, 1001, 20, "web", "failover", true);
    assert_string_equal(r->outcome, "busy");
    assert_contains(r->message, "busy with deployment 2");
    assert_int_equal(s_count(l, "failover.count"), 0);
    s_touch_mark(l, "go-install");
    PUMP_UNTIL(l, l->fc.n_results == 2);
    assert_int_equal(l->fc.n_results, 2);
    assert_string_equal(l->fc.results[1].outcome, "installed");
    /* A busy answer is not kept: the same order now runs. */
    size_t n = l->fc.n_hooks;
    s_hook(l, 1002, 20, "web", "failover", false);
    s_wait_mark(l, "started");
    /* While the hook runs: the same order is ignored, another hook order
     * and a deploy order are refused as busy. */
    s_hook(l, 1003, 20, "web", "failover", false);
    r = s_hook_wait(l, 1004, 21, "web", "failback", false);
    assert_string_equal(r->outcome, "busy");
    assert_contains(r->message, "busy with drill 20: failover of web");
    s_deploy(l, 3, "1.0.0");
    PUMP_UNTIL(l, l->fc.n_results == 3);
    assert_int_equal(l->fc.n_results, 3);
    assert_string_equal(l->fc.results[2].outcome, "rejected");
    assert_contains(l->fc.results[2].message, "busy with drill 20");
    s_touch_mark(l, "go");
    PUMP_UNTIL(l, l->fc.n_hooks == n + 2);
    assert_int_equal(l->fc.n_hooks, n + 2);
    r = &l->fc.hooks[n + 1];
    assert_int_equal(r->id, 1002);
    assert_string_equal(r->outcome, "ok");
    assert_string_equal(r->live, "2.0.0");
    assert_contains(r->message, "waited-marker");
    /* The order sent twice ran once, and nothing more came for it. */
    fc_pump(&l->fc, 3 * HB_MS);
    assert_int_equal(l->fc.n_hooks, n + 2);
    assert_int_equal(s_count(l, "failover.count"), 1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decide),
        cmocka_unit_test_setup_teardown(test_failover_runs, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_failing_hook, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_no_hook_and_health, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_health_fails_after_hook, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_no_release_and_bad_orders, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_busy, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
