/*
 * fakectl: the test double of the controller that test_agent and
 * test_drill_agent run `hoist-agent` against, and the lab around it (see
 * fakectl.h). It handles messages like the real hub: identity from the
 * ZAP User-Id only, and a connection that has not said hello is refused.
 * Any assertion failing in here fails the running test.
 */
#include "fakectl.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "digest.h"
#include "fleetutil.h"

void
fakectl_send(fakectl_t *fc, zframe_t *routing, envelope_t *e)
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

/* Sends an Error{CODE, TEXT} answering envelope ID. */
static void
s_error(fakectl_t *fc, zframe_t *routing, uint64_t id, hoist_err_t code,
        const char *text)
{
    envelope_t e;
    Hoist__Error body;
    envelope_error(&e, &body, id, code, text);
    fakectl_send(fc, routing, &e);
}

void
fakectl_start(fakectl_t *fc, const char *endpoint)
{
    hoist_error_t err = {0};
    fc->router = zap_server_socket(ZMQ_ROUTER, fc->cert, ZAP_DOMAIN_AGENTS,
                                   ENVELOPE_MAX_BYTES, &err);
    if (!fc->router) {
        fail_msg("zap_server_socket: %s", err.msg);
    }
    zsock_set_linger(fc->router, 0);
    /* The old listener goes away asynchronously (see fakectl_stop): a
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

/* The endpoint is unbound first: closing alone leaves the listener to
 * libzmq's reaper, which now and then keeps it for a long time when a
 * connection arrives while the socket is being torn down. */
void
fakectl_stop(fakectl_t *fc)
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

/* Records an EnrollRequest. FAKECTL_TOKEN is accepted (the key allowed
 * as the agent), no token leaves it pending, any other is refused. */
static void
s_on_enroll(fakectl_t *fc, zframe_t *routing, const char *uid,
            const envelope_t *e)
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
    bool good = strcmp(r->token, FAKECTL_TOKEN) == 0;
    if (!good && r->token[0]) {
        s_error(fc, routing, e->id, HOIST_ERR_AUTH,
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
    fakectl_send(fc, routing, &out);
}

/* Records a Hello's facts, makes ROUTING the session and welcomes it. */
static void
s_on_hello(fakectl_t *fc, zframe_t *routing, const char *uid,
           const envelope_t *e)
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
    w.heartbeat_ms = FAKECTL_HB_MS;
    envelope_t out = HOIST__ENVELOPE__INIT;
    out.id = e->id;
    out.body_case = HOIST__ENVELOPE__BODY_WELCOME;
    out.welcome = &w;
    fakectl_send(fc, routing, &out);
}

/* Answers one FetchRequest from the store. */
static void
s_serve(fakectl_t *fc, zframe_t *routing, const envelope_t *e)
{
    const Hoist__FetchRequest *r = e->fetch;
    char hex[DIGEST_HEX_LEN], path[PATH_MAX];
    assert_int_equal(r->digest.len, DIGEST_BYTES);
    snprintf(path, sizeof path, "%s/%s", fc->store,
             digest_hex(r->digest.data, hex));
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        s_error(fc, routing, e->id, HOIST_ERR_NOTFOUND, "no such artifact");
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
    fakectl_send(fc, routing, &out);
    free(buf);
}

static void
s_on_result(fakectl_t *fc, const Hoist__Result *r)
{
    assert_true(fc->n_results < FAKECTL_RESULTS_MAX);
    fakectl_result_t *res = &fc->results[fc->n_results++];
    res->deployment = r->deployment;
    snprintf(res->outcome, sizeof res->outcome, "%s", r->outcome);
    snprintf(res->failed_step, sizeof res->failed_step, "%s", r->failed_step);
    snprintf(res->live, sizeof res->live, "%s", r->live);
    snprintf(res->message, sizeof res->message, "%s", r->message);
}

static void
s_on_hook_result(fakectl_t *fc, uint64_t id, const Hoist__HookResult *r)
{
    assert_true(fc->n_hooks < FAKECTL_RESULTS_MAX);
    fakectl_hook_result_t *h = &fc->hooks[fc->n_hooks++];
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

/* What an accepted agent's session may send. Returns true when MSG was
 * kept (a held fetch). */
static bool
s_on_session(fakectl_t *fc, zmsg_t *msg, const envelope_t *e)
{
    switch (e->body_case) {
    case HOIST__ENVELOPE__BODY_HEARTBEAT:
        fc->seq_ok = fc->seq_ok && e->heartbeat->seq > fc->last_seq;
        fc->last_seq = e->heartbeat->seq;
        fc->heartbeats++;
        return false;
    case HOIST__ENVELOPE__BODY_FETCH:
        assert_true(fc->fetches < FAKECTL_FETCH_MAX);
        fc->fetch_id[fc->fetches] = e->id;
        fc->fetch_off[fc->fetches] = e->fetch->offset;
        fc->fetch_len[fc->fetches++] = e->fetch->length;
        if (fc->hold) {
            fc->held[fc->n_held++] = msg;
            return true;
        }
        s_serve(fc, zmsg_first(msg), e);
        return false;
    case HOIST__ENVELOPE__BODY_PROGRESS:
        assert_true(fc->n_steps < FAKECTL_STEPS_MAX);
        fc->step_dep[fc->n_steps] = e->progress->deployment;
        snprintf(fc->steps[fc->n_steps++], 32, "%s", e->progress->step);
        return false;
    case HOIST__ENVELOPE__BODY_RESULT:
        s_on_result(fc, e->result);
        return false;
    case HOIST__ENVELOPE__BODY_HOOK_RESULT:
        s_on_hook_result(fc, e->id, e->hook_result);
        return false;
    default:
        fail_msg("the agent sent an unexpected %s",
                 envelope_body_name(e->body_case));
    }
    return false;
}

/* One message from the ROUTER; destroys it unless it was held. */
static void
s_handle(fakectl_t *fc, zmsg_t *msg)
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
        s_on_enroll(fc, routing, uid, e);
    } else if (e->body_case == HOIST__ENVELOPE__BODY_HELLO) {
        s_on_hello(fc, routing, uid, e);
    } else if (!fc->agent || !zframe_eq(fc->agent, routing)) {
        fc->refused++;
        s_error(fc, routing, e->id, HOIST_ERR_PROTOCOL,
                "this connection has not said hello");
    } else {
        kept = s_on_session(fc, msg, e);
    }
    envelope_destroy(&e);
    if (!kept) {
        zmsg_destroy(&msg);
    }
}

/* Sends the session a heartbeat when one is due. */
static void
s_heartbeat(fakectl_t *fc)
{
    if (!fc->agent || zclock_mono() - fc->hb_at < FAKECTL_HB_MS) {
        return;
    }
    fc->hb_at = zclock_mono();
    Hoist__Heartbeat hb = HOIST__HEARTBEAT__INIT;
    envelope_t e = HOIST__ENVELOPE__INIT;
    e.body_case = HOIST__ENVELOPE__BODY_HEARTBEAT;
    e.heartbeat = &hb;
    fakectl_send(fc, fc->agent, &e);
}

void
fakectl_pump(fakectl_t *fc, int ms)
{
    int64_t deadline = zclock_mono() + ms;
    do {
        if (!fc->router) {
            zclock_sleep(5);
            continue;
        }
        s_heartbeat(fc);
        zsock_set_rcvtimeo(fc->router, 5);
        zmsg_t *msg = zmsg_recv(fc->router);
        if (msg) {
            s_handle(fc, msg);
        }
    } while (zclock_mono() < deadline);
}

void
fakectl_unhold(fakectl_t *fc)
{
    fc->hold = false;
    for (size_t i = 0; i < fc->n_held; i++) {
        zframe_t *body = zmsg_last(fc->held[i]);
        envelope_t *e = envelope_unpack(zframe_data(body), zframe_size(body),
                                        ENVELOPE_MAX_BYTES, NULL);
        s_serve(fc, zmsg_first(fc->held[i]), e);
        envelope_destroy(&e);
        zmsg_destroy(&fc->held[i]);
    }
    fc->n_held = 0;
}

/* ---- the lab ------------------------------------------------------------ */

fakectl_lab_t *
fakectl_lab_new(const char *agent_name)
{
    fakectl_lab_t *l = calloc(1, sizeof *l);
    assert_non_null(l);
    hoist_error_t err = {0};
    snprintf(l->agent_name, sizeof l->agent_name, "%s", agent_name);
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
    fakectl_start(&l->fc, "tcp://127.0.0.1:*");
    return l;
}

void
fakectl_lab_kill_agent(fakectl_lab_t *l)
{
    if (l->pid > 0) {
        kill(l->pid, SIGKILL);
        while (waitpid(l->pid, NULL, 0) < 0 && errno == EINTR) {
        }
        l->pid = 0;
    }
}

void
fakectl_lab_destroy(fakectl_lab_t **p)
{
    fakectl_lab_t *l = *p;
    if (!l) {
        return;
    }
    fakectl_lab_kill_agent(l);
    if (getenv("TEST_AGENT_LOG")) { /* for debugging: the daemon's log */
        char *log = tu_read(l->log, NULL);
        print_message("--- agent log ---\n%s", log ? log : "");
        free(log);
    }
    fakectl_stop(&l->fc);
    zap_destroy(&l->zap);
    zcert_destroy(&l->server_cert);
    free(l->root);
    free(l->mark);
    free(l->store);
    free(l->log);
    free(l->server_pub);
    tu_rmtree(l->tmp);
    free(l);
    *p = NULL;
}

int
fakectl_lab_setup(void **state)
{
    assert_non_null(*state);
    *state = fakectl_lab_new(*state);
    return 0;
}

int
fakectl_lab_teardown(void **state)
{
    fakectl_lab_t *l = *state;
    fakectl_lab_destroy(&l);
    *state = NULL;
    return 0;
}

pid_t
fakectl_spawn(const char *log, const char *const *argv)
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

int
fakectl_lab_wait_exit(fakectl_lab_t *l, pid_t pid, int ms)
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
        fakectl_pump(&l->fc, 10);
    }
}

int
fakectl_lab_enroll(fakectl_lab_t *l, const char *key_file, const char *token,
                   const char *extra, char **out)
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
                          l->agent_name,
                          "--tag",
                          "site=fra1",
                          "--user",
                          fu_me(),
                          "--timeout",
                          "1s",
                          token ? "--token" : extra,
                          token ? token : NULL,
                          token ? extra : NULL,
                          NULL};
    pid_t pid = fakectl_spawn(log, argv);
    int rc = fakectl_lab_wait_exit(l, pid, FAKECTL_WAIT_MS);
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

void
fakectl_lab_enroll_ok(fakectl_lab_t *l)
{
    char *out = NULL;
    int rc = fakectl_lab_enroll(l, l->server_pub, FAKECTL_TOKEN, NULL, &out);
    if (rc != 0) {
        fail_msg("enroll exited %d: %s", rc, out);
    }
    free(out);
}

void
fakectl_lab_start_agent(fakectl_lab_t *l)
{
    const char *argv[] = {HOIST_AGENT_BIN, "run", "--root", l->root, NULL};
    int hellos = l->fc.hellos;
    l->pid = fakectl_spawn(l->log, argv);
    FAKECTL_PUMP_UNTIL(l, l->fc.hellos > hellos);
    if (l->fc.hellos == hellos) {
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

void
fakectl_lab_release(fakectl_lab_t *l, const char *version, int seq,
                    const char *spec, const char *key, int big_kb)
{
    char src[PATH_MAX], path[PATH_MAX], text[4096];
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

void
fakectl_lab_deploy(fakectl_lab_t *l, uint64_t deployment, const char *version,
                   bool rollback)
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
    fakectl_send(&l->fc, l->fc.agent, &e);
    free(bytes);
}

const fakectl_result_t *
fakectl_lab_deploy_wait(fakectl_lab_t *l, uint64_t deployment,
                        const char *version, bool rollback)
{
    size_t n = l->fc.n_results;
    fakectl_lab_deploy(l, deployment, version, rollback);
    FAKECTL_PUMP_UNTIL(l, l->fc.n_results > n);
    if (l->fc.n_results == n) {
        char *log = tu_read(l->log, NULL);
        fail_msg("no result for deployment %llu; the agent's log:\n%s",
                 (unsigned long long)deployment, log ? log : "");
    }
    assert_int_equal(l->fc.results[n].deployment, deployment);
    return &l->fc.results[n];
}
