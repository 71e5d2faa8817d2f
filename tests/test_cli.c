/*
 * test_cli: the hoist CLI's side of the API. The config (found, strict,
 * identity secret checked), the client over real CURVE sockets, and the
 * real `hoist` binary, all against FAKE CONTROLLER, a test double written
 * here: a CURVE ROUTER on tcp://127.0.0.1:<ephemeral> behind the real ZAP
 * handler (controller/zap), which records every ApiRequest it gets and
 * answers with canned ApiReplies. It reassembles uploads, so the test can
 * compare bytes and offsets, and plays back a script of deployment.show
 * documents for --wait.
 *
 * The issue-4 commands (users, apply/export, promote, approve, schedule,
 * audit, vars, keygen --user, --identity, release create --lifecycle)
 * are checked the same way: each sends exactly the request of
 * docs/protocol.md's table, and each refusal made on the client's side
 * exits 2 and sends nothing.
 *
 * Issue 5: --strategy and --only, deployment cancel/continue, and the
 * progress of watch / --wait: cli/progress on its own (pure: documents
 * in, text out, no terminal), then the binary against scripted
 * deployment.show sequences in plain and --json modes, and once under
 * script(1) for a real terminal.
 *
 * Every run of the binary is wrapped in timeout(1), so a hang fails the
 * test instead of stalling it; every test checks in its teardown that the
 * fake's thread is gone.
 */
#include "testutil.h"

#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <czmq.h>
#include <sodium.h>

#include "client.h"
#include "config.h"
#include "digest.h"
#include "envelope.h"
#include "keys.h"
#include "manifest.h"
#include "progress.h"
#include "watch.h"
#include "zap.h"

#define MIB           (1024 * 1024)
#define FAKE_KEEP_MAX (8 * MIB) /* upload bytes the fake keeps to compare */
#define FAKE_REQS_MAX 512
#define FAKE_DATA_MAX (64 * 1024) /* request data the fake records */
#define FAKE_CANNED   16
#define FAKE_SHOWS    8
#define FAKE_UPLOAD   "up-1"
#define SHORT_MS      1000 /* the client's timeout in timeout tests */

/* ---- FAKE CONTROLLER (test double) -------------------------------------- */

/* One request as the fake received it. */
typedef struct {
    char *command;
    char *args;    /* joined with spaces */
    char *options; /* "k=v" sorted by key, joined with "," */
    uint8_t *data; /* a copy when len <= FAKE_DATA_MAX, else NULL */
    size_t len;
    char *user_id;
} fake_req_t;

/* A canned answer to one command: a reply, or an Error when code != 0. */
typedef struct {
    const char *command;
    int exit;
    const char *text;
    const char *json;
    hoist_err_t error;
    const char *message;
} fake_canned_t;

typedef struct {
    pthread_mutex_t lock;
    /* what to answer; set by the test before it makes a call */
    bool silent;
    bool stray; /* send an answer with another id before each reply */
    fake_canned_t canned[FAKE_CANNED];
    size_t ncanned;
    const char *shows[FAKE_SHOWS]; /* deployment.show, in order; last repeats */
    size_t nshows, next_show;
    size_t chunk; /* announced by release.begin; 0: not announced */
    /* what came in */
    fake_req_t reqs[FAKE_REQS_MAX];
    size_t nreqs;
    uint64_t offsets[4096];
    size_t chunk_lens[4096];
    size_t noffsets;
    uint64_t received;
    digest_t *hash;
    uint8_t *kept; /* the upload's first FAKE_KEEP_MAX bytes */
    bool out_of_order;
    /* the actor */
    zcert_t *server_cert;
    zactor_t *actor;
    char endpoint[256];
} fake_t;

/* Copies a request's key/value options into one sorted string. */
static char *
s_fake_options(const Hoist__ApiRequest *req)
{
    zlistx_t *list = zlistx_new();
    zlistx_set_destructor(list, (zlistx_destructor_fn *)zstr_free);
    zlistx_set_comparator(list, (zlistx_comparator_fn *)strcmp);
    for (size_t i = 0; i < req->n_options; i++) {
        zlistx_add_end(list, zsys_sprintf("%s=%s", req->options[i]->key,
                                          req->options[i]->value));
    }
    zlistx_sort(list);
    char *out = strdup("");
    for (char *s = zlistx_first(list); s; s = zlistx_next(list)) {
        char *joined = zsys_sprintf("%s%s%s", out, *out ? "," : "", s);
        free(out);
        out = joined;
    }
    zlistx_destroy(&list);
    return out;
}

/* Records REQ from USER_ID. Called with the lock held. */
static void
s_fake_record(fake_t *f, const Hoist__ApiRequest *req, const char *user_id)
{
    if (f->nreqs == FAKE_REQS_MAX) {
        return;
    }
    fake_req_t *r = &f->reqs[f->nreqs++];
    r->command = strdup(req->command);
    r->args = strdup("");
    for (size_t i = 0; i < req->n_args; i++) {
        char *joined =
            zsys_sprintf("%s%s%s", r->args, i ? " " : "", req->args[i]);
        free(r->args);
        r->args = joined;
    }
    r->options = s_fake_options(req);
    r->len = req->data.len;
    if (r->len <= FAKE_DATA_MAX) {
        r->data = malloc(r->len + 1);
        if (r->len > 0) {
            memcpy(r->data, req->data.data, r->len);
        }
    }
    r->user_id = strdup(user_id ? user_id : "");
}

/* The value of option KEY of REQ, or NULL. */
static const char *
s_fake_opt(const Hoist__ApiRequest *req, const char *key)
{
    for (size_t i = 0; i < req->n_options; i++) {
        if (streq(req->options[i]->key, key)) {
            return req->options[i]->value;
        }
    }
    return NULL;
}

/* Takes one chunk of the upload. Returns the reply's exit code. */
static int
s_fake_chunk(fake_t *f, const Hoist__ApiRequest *req)
{
    const char *off = s_fake_opt(req, "offset");
    uint64_t offset = off ? strtoull(off, NULL, 10) : UINT64_MAX;
    if (req->n_args != 1 || !streq(req->args[0], FAKE_UPLOAD) ||
        offset != f->received || f->noffsets == 4096) {
        f->out_of_order = true;
        return 2;
    }
    f->offsets[f->noffsets] = offset;
    f->chunk_lens[f->noffsets++] = req->data.len;
    digest_update(f->hash, req->data.data, req->data.len);
    if (offset + req->data.len <= FAKE_KEEP_MAX) {
        memcpy(f->kept + offset, req->data.data, req->data.len);
    }
    f->received += req->data.len;
    return 0;
}

/* Fills REPLY for REQ (with the lock held). TEXT and JSON get strings that
 * the caller frees. Returns false when the fake stays silent or answers
 * with an Error (*ERROR set). */
static bool
s_fake_answer(fake_t *f, const Hoist__ApiRequest *req, Hoist__ApiReply *reply,
              const fake_canned_t **error)
{
    for (size_t i = 0; i < f->ncanned; i++) {
        const fake_canned_t *c = &f->canned[i];
        if (streq(c->command, req->command) && c->error) {
            *error = c;
            return false;
        }
        if (streq(c->command, req->command)) {
            reply->exit = c->exit;
            reply->text = strdup(c->text);
            reply->json = strdup(c->json);
            return true;
        }
    }
    if (streq(req->command, "release.begin")) {
        /* A new upload: what the previous one sent is forgotten. */
        f->received = 0;
        f->noffsets = 0;
        digest_destroy(&f->hash);
        f->hash = digest_new();
        reply->json = f->chunk
                          ? zsys_sprintf("{\"upload\": \"%s\", \"size\": "
                                         "0, \"chunk\": %zu}",
                                         FAKE_UPLOAD, f->chunk)
                          : zsys_sprintf("{\"upload\": \"%s\"}", FAKE_UPLOAD);
        reply->text = strdup("upload started");
    } else if (streq(req->command, "release.chunk")) {
        reply->exit = s_fake_chunk(f, req);
        reply->text = strdup(reply->exit ? "chunk out of order" : "");
        reply->json = zsys_sprintf("{\"received\": %llu}",
                                   (unsigned long long)f->received);
    } else if (streq(req->command, "deployment.show") && f->nshows) {
        size_t i = f->next_show < f->nshows ? f->next_show++ : f->nshows - 1;
        reply->text = strdup("deployment");
        reply->json = strdup(f->shows[i]);
    } else {
        reply->text = zsys_sprintf("ok %s", req->command);
        reply->json = zsys_sprintf("{\"command\": \"%s\"}", req->command);
    }
    return true;
}

/* Sends envelope E to the peer ROUTING_ID. */
static void
s_fake_send(zsock_t *router, zframe_t *routing_id, envelope_t *e)
{
    size_t len = 0;
    uint8_t *buf = envelope_pack(e, &len);
    assert(buf);
    zmsg_t *msg = zmsg_new();
    zmsg_append(msg, &routing_id);
    zmsg_addmem(msg, buf, len);
    free(buf);
    zmsg_send(&msg, router);
}

/* Answers one request envelope E that came from ROUTING_ID. */
static void
s_fake_serve(fake_t *f, zsock_t *router, zframe_t *routing_id,
             const envelope_t *e, const char *user_id)
{
    Hoist__ApiReply reply = HOIST__API_REPLY__INIT;
    reply.text = reply.json = NULL; /* INIT points them at a constant "" */
    const fake_canned_t *error = NULL;
    pthread_mutex_lock(&f->lock);
    s_fake_record(f, e->request, user_id);
    bool answer = !f->silent && s_fake_answer(f, e->request, &reply, &error);
    bool stray = f->stray;
    pthread_mutex_unlock(&f->lock);
    envelope_t out = HOIST__ENVELOPE__INIT;
    Hoist__Error body;
    if (answer && stray) {
        Hoist__ApiReply other = HOIST__API_REPLY__INIT;
        other.text = "stray";
        out.id = e->id + 1;
        out.body_case = HOIST__ENVELOPE__BODY_REPLY;
        out.reply = &other;
        s_fake_send(router, zframe_dup(routing_id), &out);
    }
    if (answer) {
        out.id = e->id;
        out.body_case = HOIST__ENVELOPE__BODY_REPLY;
        out.reply = &reply;
        s_fake_send(router, routing_id, &out);
    } else if (error) {
        envelope_error(&out, &body, e->id, error->error, error->message);
        s_fake_send(router, routing_id, &out);
    } else {
        zframe_destroy(&routing_id);
    }
    free(reply.text);
    free(reply.json);
}

/* Reads one message off ROUTER and serves it. */
static void
s_fake_receive(fake_t *f, zsock_t *router)
{
    zmsg_t *msg = zmsg_recv(router);
    if (!msg || zmsg_size(msg) != 2) {
        zmsg_destroy(&msg);
        return;
    }
    zframe_t *routing_id = zmsg_pop(msg);
    zframe_t *body = zmsg_first(msg);
    envelope_t *e = envelope_unpack(zframe_data(body), zframe_size(body),
                                    ENVELOPE_MAX_BYTES, NULL);
    if (e && e->body_case == HOIST__ENVELOPE__BODY_REQUEST) {
        s_fake_serve(f, router, routing_id, e, zap_user_id(body));
    } else {
        zframe_destroy(&routing_id);
    }
    envelope_destroy(&e);
    zmsg_destroy(&msg);
}

/* The fake's thread: a CURVE ROUTER on the "api" domain. */
static void
s_fake_actor(zsock_t *pipe, void *args)
{
    fake_t *f = args;
    zsock_t *router = zap_server_socket(
        ZMQ_ROUTER, f->server_cert, ZAP_DOMAIN_API, ENVELOPE_MAX_BYTES, NULL);
    int port = router ? zsock_bind(router, "tcp://127.0.0.1:*") : -1;
    zsock_signal(pipe, 0);
    zstr_send(pipe, port > 0 ? zsock_endpoint(router) : "");
    zpoller_t *poller = zpoller_new(pipe, router, NULL);
    while (port > 0) {
        void *which = zpoller_wait(poller, -1);
        if (which == router) {
            s_fake_receive(f, router);
        } else {
            break; /* $TERM, or the pipe is gone */
        }
    }
    zpoller_destroy(&poller);
    zsock_destroy(&router);
}

/* Starts the fake with SERVER_CERT's key pair. */
static fake_t *
s_fake_new(zcert_t *server_cert)
{
    fake_t *f = calloc(1, sizeof *f);
    assert_non_null(f);
    pthread_mutex_init(&f->lock, NULL);
    f->server_cert = server_cert;
    f->hash = digest_new();
    f->kept = calloc(1, FAKE_KEEP_MAX);
    assert_non_null(f->kept);
    f->actor = zactor_new(s_fake_actor, f);
    assert_non_null(f->actor);
    char *endpoint = zstr_recv(f->actor);
    assert_non_null(endpoint);
    assert_true(strncmp(endpoint, "tcp://127.0.0.1:", 16) == 0);
    snprintf(f->endpoint, sizeof f->endpoint, "%s", endpoint);
    zstr_free(&endpoint);
    return f;
}

/* Stops the fake's thread and frees everything. */
static void
s_fake_destroy(fake_t **p)
{
    fake_t *f = *p;
    zactor_destroy(&f->actor);
    for (size_t i = 0; i < f->nreqs; i++) {
        free(f->reqs[i].command);
        free(f->reqs[i].args);
        free(f->reqs[i].options);
        free(f->reqs[i].data);
        free(f->reqs[i].user_id);
    }
    digest_destroy(&f->hash);
    free(f->kept);
    pthread_mutex_destroy(&f->lock);
    free(f);
    *p = NULL;
}

/* Cans the answer to COMMAND: a reply with EXIT, TEXT and JSON. */
static void
s_fake_can(fake_t *f, const char *command, int exit_code, const char *text,
           const char *json)
{
    pthread_mutex_lock(&f->lock);
    assert_true(f->ncanned < FAKE_CANNED);
    f->canned[f->ncanned++] =
        (fake_canned_t){command, exit_code, text, json, HOIST_OK, NULL};
    pthread_mutex_unlock(&f->lock);
}

/* Cans an Error with CODE and MESSAGE as the answer to COMMAND. */
static void
s_fake_can_error(fake_t *f, const char *command, hoist_err_t code,
                 const char *message)
{
    pthread_mutex_lock(&f->lock);
    assert_true(f->ncanned < FAKE_CANNED);
    f->canned[f->ncanned++] =
        (fake_canned_t){command, 0, "", "", code, message};
    pthread_mutex_unlock(&f->lock);
}

/* Sets the fake's SILENT, STRAY and CHUNK behaviour. */
static void
s_fake_mode(fake_t *f, bool silent, bool stray, size_t chunk)
{
    pthread_mutex_lock(&f->lock);
    f->silent = silent;
    f->stray = stray;
    f->chunk = chunk;
    pthread_mutex_unlock(&f->lock);
}

/* The number of requests the fake has recorded. */
static size_t
s_fake_count(fake_t *f)
{
    pthread_mutex_lock(&f->lock);
    size_t n = f->nreqs;
    pthread_mutex_unlock(&f->lock);
    return n;
}

/* Asserts that request I was COMMAND with ARGS and OPTIONS. */
static void
s_assert_req(fake_t *f, size_t i, const char *command, const char *args,
             const char *options)
{
    pthread_mutex_lock(&f->lock);
    assert_true(i < f->nreqs);
    fake_req_t r = f->reqs[i];
    pthread_mutex_unlock(&f->lock);
    assert_string_equal(r.command, command);
    assert_string_equal(r.args, args);
    assert_string_equal(r.options, options);
    assert_string_equal(r.user_id, "user:tester");
}

/* ---- fixtures ----------------------------------------------------------- */

typedef struct {
    char *dir;
    zap_t *zap;
    zcert_t *server_cert;
    zcert_t *user_cert;
    char *user;   /* the user's certificate file (public half) */
    char *conf;   /* a cli.conf for the fake */
    char *relkey; /* release key PREFIX */
    int threads;  /* this process's threads between tests */
    fake_t *fake;
} fx_t;

static fx_t *s_fx;

/* The number of threads of this process. */
static int
s_threads(void)
{
    DIR *d = opendir("/proc/self/task");
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        n += e->d_name[0] != '.';
    }
    closedir(d);
    return n;
}

/* Writes a cli.conf at PATH. */
static void
s_write_conf(const char *path, const char *endpoint, const char *server_key,
             const char *identity)
{
    char *text = zsys_sprintf("controller: %s\nserver_key: \"%s\"\n"
                              "identity: %s\n",
                              endpoint, server_key, identity);
    tu_write(path, text, (size_t)-1, 0644);
    free(text);
}

/* Saves CERT as PATH and PATH_secret (mode 0600). */
static void
s_save_cert(zcert_t *cert, const char *path)
{
    assert_int_equal(zcert_save(cert, path), 0);
    char *secret = zsys_sprintf("%s_secret", path);
    assert_int_equal(chmod(secret, 0600), 0);
    free(secret);
}

static int
s_group_setup(void **state)
{
    fx_t *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    assert_true(sodium_init() >= 0);
    fx->dir = tu_tmpdir();
    hoist_error_t err = {0};
    fx->zap = zap_new(&err);
    if (!fx->zap) {
        fail_msg("zap_new: %s", err.msg);
    }
    fx->server_cert = zcert_new();
    fx->user_cert = zcert_new();
    fx->user = tu_path(fx->dir, "keys/tester");
    tu_write(fx->user, "", 0, 0644); /* makes keys/ */
    s_save_cert(fx->user_cert, fx->user);
    assert_int_equal(zap_allow(fx->zap, zcert_public_txt(fx->user_cert),
                               "user:tester", &err),
                     HOIST_OK);
    fx->relkey = tu_path(fx->dir, "rel");
    assert_int_equal(keys_generate(fx->relkey, &err), HOIST_OK);
    fx->conf = tu_path(fx->dir, "cli.conf");
    fx->threads = s_threads();
    s_fx = fx;
    *state = fx;
    return 0;
}

static int
s_group_teardown(void **state)
{
    fx_t *fx = *state;
    zap_destroy(&fx->zap);
    zcert_destroy(&fx->server_cert);
    zcert_destroy(&fx->user_cert);
    free(fx->user);
    free(fx->conf);
    free(fx->relkey);
    tu_rmtree(fx->dir);
    free(fx);
    return 0;
}

/* Starts a fresh fake and points cli.conf at it. */
static int
s_setup(void **state)
{
    fx_t *fx = *state;
    fx->fake = s_fake_new(fx->server_cert);
    s_write_conf(fx->conf, fx->fake->endpoint,
                 zcert_public_txt(fx->server_cert), "keys/tester");
    return 0;
}

/* Stops the fake and checks that its thread is gone. */
static int
s_teardown(void **state)
{
    fx_t *fx = *state;
    s_fake_destroy(&fx->fake);
    int64_t deadline = zclock_mono() + 2000;
    while (s_threads() != fx->threads && zclock_mono() < deadline) {
        zclock_sleep(10);
    }
    assert_int_equal(s_threads(), fx->threads);
    return 0;
}

/* ---- running the binary ------------------------------------------------- */

#define MAX_ARGV 48

/* Runs `hoist ARGS...` (NULL-terminated) with HOIST_CONFIG set to the
 * fixture's config, under timeout(1). With STDOUT_ONLY, stderr is
 * dropped, so OUT is exactly what went to stdout. With INPUT (a file's
 * path), standard input comes from that file. */
static tu_run_t
s_hoist_run(bool stdout_only, const char *input, const char *const *args)
{
    const char *argv[MAX_ARGV];
    size_t n = 0;
    argv[n++] = "/usr/bin/timeout";
    argv[n++] = "-k";
    argv[n++] = "5";
    argv[n++] = "60";
    if (stdout_only || input) {
        argv[n++] = "/bin/sh";
        argv[n++] = "-c";
        argv[n++] = stdout_only && input
                        ? "exec \"$0\" \"$@\" 2>/dev/null <\"$HOIST_TEST_IN\""
                    : stdout_only ? "exec \"$0\" \"$@\" 2>/dev/null"
                                  : "exec \"$0\" \"$@\" <\"$HOIST_TEST_IN\"";
    }
    argv[n++] = HOIST_CLI_BIN;
    for (size_t i = 0; args[i]; i++) {
        assert_true(n + 1 < MAX_ARGV);
        argv[n++] = args[i];
    }
    argv[n] = NULL;
    char *config = zsys_sprintf("HOIST_CONFIG=%s", s_fx->conf);
    char *in = zsys_sprintf("HOIST_TEST_IN=%s", input ? input : "");
    const char *env[] = {config, in, NULL};
    tu_run_t r = tu_run(argv, env);
    free(in);
    free(config);
    assert_int_not_equal(r.status, 124); /* timeout(1): it hung */
    return r;
}

static tu_run_t
s_hoist_v(bool stdout_only, const char *const *args)
{
    return s_hoist_run(stdout_only, NULL, args);
}

#define s_hoist(...) s_hoist_v(false, (const char *const[]){__VA_ARGS__, NULL})
#define s_hoist_stdout(...)                                                    \
    s_hoist_v(true, (const char *const[]){__VA_ARGS__, NULL})
#define s_hoist_in(input, ...)                                                 \
    s_hoist_run(false, (input), (const char *const[]){__VA_ARGS__, NULL})

/* Runs hoist ARGS and asserts it exits EXPECT. */
#define s_hoist_ok(expect, ...)                                                \
    do {                                                                       \
        tu_run_t r_ = s_hoist(__VA_ARGS__);                                    \
        if (r_.status != (expect)) {                                           \
            print_error("hoist exited %d:\n%s\n", r_.status, r_.out);          \
        }                                                                      \
        assert_int_equal(r_.status, (expect));                                 \
        tu_run_free(&r_);                                                      \
    } while (0)

/* A client of the fixture's user, connected to ENDPOINT, pinned to
 * SERVER_KEY. */
static client_t *
s_client(const fx_t *fx, zcert_t *cert, const char *endpoint,
         const char *server_key)
{
    hoist_error_t err = {0};
    client_t *c = client_new(endpoint, server_key, cert, &err);
    if (!c) {
        fail_msg("client_new: %s", err.msg);
    }
    return c;
}

/* ---- config ------------------------------------------------------------- */

/* A valid config: values, identity relative to the file, the certificate. */
static void
test_config_valid(void **state)
{
    fx_t *fx = *state;
    hoist_error_t err = {0};
    char *path = tu_path(fx->dir, "conf/ok.conf");
    char *text = zsys_sprintf("# written by hoist-controller run\n"
                              "controller: tcp://127.0.0.1:7601\n"
                              "server_key: \"%s\"\n"
                              "identity: ../keys/tester\n",
                              zcert_public_txt(fx->server_cert));
    tu_write(path, text, (size_t)-1, 0644);
    config_t *cfg = config_load(path, &err);
    if (!cfg) {
        fail_msg("config_load: %s", err.msg);
    }
    assert_string_equal(config_controller(cfg), "tcp://127.0.0.1:7601");
    assert_string_equal(config_server_key(cfg),
                        zcert_public_txt(fx->server_cert));
    /* Relative to the config's directory, not to the working directory. */
    char *expect = zsys_sprintf("%s/conf/../keys/tester", fx->dir);
    assert_string_equal(config_identity(cfg), expect);
    zcert_t *cert = config_identity_load(config_identity(cfg), &err);
    if (!cert) {
        fail_msg("config_identity_load: %s", err.msg);
    }
    assert_string_equal(zcert_public_txt(cert),
                        zcert_public_txt(fx->user_cert));
    assert_string_equal(zcert_secret_txt(cert),
                        zcert_secret_txt(fx->user_cert));
    assert_int_equal(config_set_identity(cfg, "/elsewhere", &err), HOIST_OK);
    assert_string_equal(config_identity(cfg), "/elsewhere");
    zcert_destroy(&cert);
    config_destroy(&cfg);
    assert_null(cfg);
    free(expect);
    free(text);
    free(path);
}

/* Loads TEXT as a config and asserts it fails with a message holding
 * NEEDLE and NEEDLE2. */
static void
s_assert_config_refused(const fx_t *fx, const char *text, const char *needle,
                        const char *needle2)
{
    char *path = tu_path(fx->dir, "cli.conf");
    tu_write(path, text, (size_t)-1, 0644);
    hoist_error_t err = {0};
    config_t *cfg = config_load(path, &err);
    assert_null(cfg);
    assert_int_equal(err.code, HOIST_ERR_USAGE);
    assert_contains(err.msg, needle);
    assert_contains(err.msg, needle2);
    free(path);
}

/* Unknown keys, bad values, missing and duplicate keys name file and line. */
static void
test_config_refused(void **state)
{
    fx_t *fx = *state;
    char *key =
        zsys_sprintf("server_key: \"%s\"\n", zcert_public_txt(fx->server_cert));
    char *text = zsys_sprintf("controller: tcp://127.0.0.1:7601\n%s"
                              "bogus: 1\nidentity: x\n",
                              key);
    s_assert_config_refused(fx, text, "cli.conf:3:", "unknown key 'bogus'");
    free(text);
    s_assert_config_refused(fx,
                            "controller: tcp://127.0.0.1:7601\n"
                            "server_key: abc\nidentity: x\n",
                            "cli.conf:2:", "server_key");
    text = zsys_sprintf("controller: localhost:7601\n%sidentity: x\n", key);
    s_assert_config_refused(fx, text, "cli.conf:1:", "tcp://");
    free(text);
    text = zsys_sprintf("controller: tcp://127.0.0.1:7601\n%s", key);
    s_assert_config_refused(fx, text, "'identity' is missing", "cli.conf");
    free(text);
    text =
        zsys_sprintf("controller: tcp://a:1\ncontroller: tcp://b:2\n%s", key);
    s_assert_config_refused(fx, text, "cli.conf:2:", "duplicate");
    free(text);
    free(key);
}

/* No config anywhere: the message names --config, $HOIST_CONFIG and
 * ~/.config/hoist/cli.conf; and the order in which they are tried. */
static void
test_config_missing(void **state)
{
    fx_t *fx = *state;
    hoist_error_t err = {0};
    char *path = NULL;
    char *home = tu_path(fx->dir, "home");
    assert_int_equal(config_path(NULL, NULL, home, &path, &err),
                     HOIST_ERR_USAGE);
    assert_null(path);
    assert_contains(err.msg, "--config FILE");
    assert_contains(err.msg, "HOIST_CONFIG");
    assert_contains(err.msg, "home/.config/hoist/cli.conf");
    /* A named file that is missing is named, with the alternatives. */
    assert_int_equal(
        config_path("/nonexistent/x.conf", NULL, home, &path, &err),
        HOIST_ERR_USAGE);
    assert_contains(err.msg, "/nonexistent/x.conf does not exist");
    assert_contains(err.msg, "HOIST_CONFIG");
    /* The order: --config, then $HOIST_CONFIG, then ~/.config. */
    char *in_home = tu_path(home, ".config/hoist/cli.conf");
    tu_write(in_home, "", 0, 0644);
    assert_int_equal(config_path(NULL, "", home, &path, &err), HOIST_OK);
    assert_string_equal(path, in_home);
    free(path);
    assert_int_equal(config_path(NULL, fx->conf, home, &path, &err), HOIST_OK);
    assert_string_equal(path, fx->conf);
    free(path);
    assert_int_equal(config_path(in_home, fx->conf, home, &path, &err),
                     HOIST_OK);
    assert_string_equal(path, in_home);
    free(path);
    /* And the binary says the same, with exit code 2. */
    char *home_env = zsys_sprintf("HOME=%s/nohome", fx->dir);
    const char *argv[] = {HOIST_CLI_BIN, "whoami", NULL};
    const char *env[] = {home_env, "HOIST_CONFIG=", NULL};
    tu_run_t r = tu_run(argv, env);
    assert_int_equal(r.status, 2);
    assert_contains(r.out, "--config FILE");
    assert_contains(r.out, "HOIST_CONFIG");
    assert_contains(r.out, "nohome/.config/hoist/cli.conf");
    assert_int_equal(s_fake_count(fx->fake), 0);
    tu_run_free(&r);
    free(home_env);
    free(in_home);
    free(home);
}

/* An identity secret readable by group or others is refused, here and
 * by the binary, before anything is sent; a mismatched pair too. */
static void
test_identity_secret_mode(void **state)
{
    fx_t *fx = *state;
    char *secret = zsys_sprintf("%s_secret", fx->user);
    hoist_error_t err = {0};
    static const unsigned modes[] = {0640, 0604, 0644, 0660, 0606};
    for (size_t i = 0; i < sizeof modes / sizeof *modes; i++) {
        assert_int_equal(chmod(secret, modes[i]), 0);
        assert_null(config_identity_load(fx->user, &err));
        assert_int_equal(err.code, HOIST_ERR_KEY);
        assert_contains(err.msg, "chmod 600");
        assert_contains(err.msg, secret);
    }
    /* The binary refuses too, before it sends anything. */
    assert_int_equal(chmod(secret, 0644), 0);
    tu_run_t r = s_hoist("whoami");
    assert_int_equal(r.status, 2);
    assert_contains(r.out, "must not be readable by group or others");
    assert_int_equal(s_fake_count(fx->fake), 0);
    tu_run_free(&r);
    assert_int_equal(chmod(secret, 0600), 0);
    zcert_t *cert = config_identity_load(fx->user, &err);
    assert_non_null(cert);
    zcert_destroy(&cert);
    /* A public file that does not match its secret is refused. */
    zcert_t *other = zcert_new();
    char *mixed = tu_path(fx->dir, "keys/mixed");
    assert_int_equal(zcert_save_public(other, mixed), 0);
    char *mixed_secret = zsys_sprintf("%s_secret", mixed);
    assert_int_equal(zcert_save_secret(fx->user_cert, mixed_secret), 0);
    assert_int_equal(chmod(mixed_secret, 0600), 0);
    assert_null(config_identity_load(mixed, &err));
    assert_contains(err.msg, "does not belong together");
    zcert_destroy(&other);
    free(mixed_secret);
    free(mixed);
    free(secret);
}

/* ---- the client --------------------------------------------------------- */

/* client_call sends command, args, options and data as given, returns the
 * reply, and turns an Error into our error. */
static void
test_client_call(void **state)
{
    fx_t *fx = *state;
    s_fake_can(fx->fake, "agents.list", 1, "some text", "{\"agents\": []}");
    client_t *c = s_client(fx, fx->user_cert, fx->fake->endpoint,
                           zcert_public_txt(fx->server_cert));
    const char *args[] = {"one", "two words"};
    const char *opts[] = {"env", "dev", "app", "web", NULL};
    const uint8_t data[] = {0, 1, 2, 0xff, 0};
    client_reply_t *r = NULL;
    hoist_error_t err = {0};
    assert_int_equal(client_call(c, "agents.list", args, 2, opts, data,
                                 sizeof data, &r, &err),
                     HOIST_OK);
    assert_int_equal(r->exit, 1);
    assert_string_equal(r->text, "some text");
    assert_string_equal(r->json, "{\"agents\": []}");
    client_reply_destroy(&r);
    assert_null(r);
    s_assert_req(fx->fake, 0, "agents.list", "one two words",
                 "app=web,env=dev");
    assert_int_equal(fx->fake->reqs[0].len, sizeof data);
    assert_memory_equal(fx->fake->reqs[0].data, data, sizeof data);
    /* A second call on the same connection, no options or data. */
    assert_int_equal(client_call(c, "whoami", NULL, 0, NULL, NULL, 0, &r, &err),
                     HOIST_OK);
    assert_string_equal(r->text, "ok whoami");
    client_reply_destroy(&r);
    s_assert_req(fx->fake, 1, "whoami", "", "");
    assert_int_equal(fx->fake->reqs[1].len, 0);
    /* An Error answer becomes our error, code and message. */
    s_fake_can_error(fx->fake, "trust.remove", HOIST_ERR_NOTFOUND,
                     "no key abcd: see hoist trust list");
    const char *id[] = {"abcd"};
    assert_int_equal(
        client_call(c, "trust.remove", id, 1, NULL, NULL, 0, &r, &err),
        HOIST_ERR_NOTFOUND);
    assert_null(r);
    assert_contains(err.msg, "no key abcd: see hoist trust list");
    client_destroy(&c);
    assert_null(c);
}

/* A request over ENVELOPE_MAX_BYTES is refused before it is sent (the
 * controller's ZMQ_MAXMSGSIZE would drop the connection instead). */
static void
test_client_refuses_oversized(void **state)
{
    fx_t *fx = *state;
    client_t *c = s_client(fx, fx->user_cert, fx->fake->endpoint,
                           zcert_public_txt(fx->server_cert));
    size_t len = ENVELOPE_MAX_BYTES;
    uint8_t *data = calloc(1, len);
    client_reply_t *r = NULL;
    hoist_error_t err = {0};
    assert_int_equal(
        client_call(c, "release.chunk", NULL, 0, NULL, data, len, &r, &err),
        HOIST_ERR_LIMIT);
    assert_contains(err.msg, "over the protocol's limit");
    assert_int_equal(s_fake_count(fx->fake), 0);
    free(data);
    client_destroy(&c);
}

/* Calls whoami on C and asserts the timeout error within the bounds. */
static void
s_assert_times_out(client_t *c, const char *endpoint)
{
    client_reply_t *r = NULL;
    hoist_error_t err = {0};
    int64_t start = zclock_mono();
    assert_int_equal(client_call(c, "whoami", NULL, 0, NULL, NULL, 0, &r, &err),
                     HOIST_ERR_TIMEOUT);
    int64_t took = zclock_mono() - start;
    assert_null(r);
    assert_true(took >= SHORT_MS - 50);
    assert_true(took < SHORT_MS + 1500);
    char *expect = zsys_sprintf(
        "the controller at %s did not answer within 1s (is it running? is "
        "server_key in the config the controller's key? is your key "
        "registered?)",
        endpoint);
    assert_string_equal(err.msg, expect);
    free(expect);
}

/* A controller that never answers: the timeout message, on time. */
static void
test_timeout_silent_server(void **state)
{
    fx_t *fx = *state;
    s_fake_mode(fx->fake, true, false, 0);
    client_t *c = s_client(fx, fx->user_cert, fx->fake->endpoint,
                           zcert_public_txt(fx->server_cert));
    client_set_timeout(c, SHORT_MS);
    s_assert_times_out(c, fx->fake->endpoint);
    /* It was heard, and ignored: silence, not a failed connection. */
    assert_int_equal(s_fake_count(fx->fake), 1);
    /* An answer with another id (a late one to an earlier call) is
     * dropped: the call takes only its own. */
    s_fake_mode(fx->fake, false, true, 0);
    client_reply_t *r = NULL;
    hoist_error_t err = {0};
    assert_int_equal(client_call(c, "status", NULL, 0, NULL, NULL, 0, &r, &err),
                     HOIST_OK);
    assert_string_equal(r->text, "ok status");
    client_reply_destroy(&r);
    client_destroy(&c);
}

/* A wrong server key or an unregistered user key: the same timeout, no
 * hang, also from the binary with its default timeout. */
static void
test_timeout_wrong_server_key(void **state)
{
    fx_t *fx = *state;
    zcert_t *impostor = zcert_new();
    client_t *c = s_client(fx, fx->user_cert, fx->fake->endpoint,
                           zcert_public_txt(impostor));
    client_set_timeout(c, SHORT_MS);
    s_assert_times_out(c, fx->fake->endpoint);
    /* The handshake failed and the pipe is gone: a second send must not
     * block for ever either. */
    s_assert_times_out(c, fx->fake->endpoint);
    assert_int_equal(s_fake_count(fx->fake), 0);
    client_destroy(&c);
    /* An unregistered user key looks the same. */
    zcert_t *stranger = zcert_new();
    c = s_client(fx, stranger, fx->fake->endpoint,
                 zcert_public_txt(fx->server_cert));
    client_set_timeout(c, SHORT_MS);
    s_assert_times_out(c, fx->fake->endpoint);
    assert_int_equal(s_fake_count(fx->fake), 0);
    client_destroy(&c);
    /* The binary, with its default of 10s, gives the same message. */
    s_write_conf(fx->conf, fx->fake->endpoint, zcert_public_txt(impostor),
                 fx->user);
    int64_t start = zclock_mono();
    tu_run_t r = s_hoist("whoami");
    int64_t took = zclock_mono() - start;
    assert_int_equal(r.status, 1);
    assert_contains(r.out, "did not answer within 10s (is it running?");
    assert_true(took >= CLIENT_TIMEOUT_MS - 100);
    assert_true(took < CLIENT_TIMEOUT_MS + 5000);
    assert_int_equal(s_fake_count(fx->fake), 0);
    tu_run_free(&r);
    zcert_destroy(&stranger);
    zcert_destroy(&impostor);
}

/* ---- the binary: requests ----------------------------------------------- */

/* A head as audit verify prints it: ID, a colon, 64 hex digits. */
#define AUDIT_HEAD                                                             \
    "42:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

/* One command line and the request it must make. */
typedef struct {
    const char *argv[10];
    const char *command, *args, *options;
} s_case_t;

/* Each command line of the binary makes exactly the request of
 * docs/protocol.md's table. */
static void
test_cli_requests(void **state)
{
    fx_t *fx = *state;
    static const s_case_t cases[] = {
        {{"whoami"}, "whoami", "", ""},
        {{"agents"}, "agents.list", "", ""},
        {{"agents", "list", "--env", "dev"}, "agents.list", "", "env=dev"},
        {{"agents", "--env", "qa"}, "agents.list", "", "env=qa"},
        {{"agents", "accept", "web-1"}, "agents.accept", "web-1", ""},
        {{"agents", "revoke", "web-1"}, "agents.revoke", "web-1", ""},
        {{"trust", "list"}, "trust.list", "", ""},
        {{"trust", "remove", "0123abcd"}, "trust.remove", "0123abcd", ""},
        {{"token", "create", "--env", "dev"}, "token.create", "", "env=dev"},
        {{"token", "create", "--ttl", "2h", "--env", "qa"},
         "token.create",
         "",
         "env=qa,ttl=2h"},
        {{"release", "list"}, "release.list", "", ""},
        {{"release", "list", "web"}, "release.list", "", "app=web"},
        {{"release", "show", "web", "1.2.0"}, "release.show", "web 1.2.0", ""},
        {{"deploy", "web", "1.2.0", "--env", "dev"},
         "deploy",
         "web 1.2.0",
         "env=dev"},
        {{"deploy", "--env=staging", "web", "1.2.0"},
         "deploy",
         "web 1.2.0",
         "env=staging"},
        {{"rollback", "web", "--env", "dev"}, "rollback", "web", "env=dev"},
        {{"rollback", "web", "--env", "dev", "--to", "1.1.0"},
         "rollback",
         "web",
         "env=dev,to=1.1.0"},
        {{"status"}, "status", "", ""},
        {{"status", "web"}, "status", "", "app=web"},
        {{"deployments"}, "deployments", "", ""},
        {{"deployments", "web"}, "deployments", "", "app=web"},
        {{"deployment", "show", "17"}, "deployment.show", "17", ""},
        {{"logs", "17"}, "logs", "17", ""},
        {{"logs", "17", "--agent", "web-2"}, "logs", "17", "agent=web-2"},
        {{"users", "list"}, "users.list", "", ""},
        {{"users", "remove", "bob"}, "users.remove", "bob", ""},
        {{"approve", "web", "1.2.0", "--env", "qa"},
         "approve",
         "web 1.2.0",
         "env=qa"},
        {{"approve", "web", "1.2.0", "--env", "qa", "--comment", "looks good"},
         "approve",
         "web 1.2.0",
         "comment=looks good,env=qa"},
        {{"promote", "web", "1.2.0", "--to", "staging"},
         "promote",
         "web 1.2.0",
         "to=staging"},
        {{"promote", "web", "1.2.0", "--to", "production", "--at",
          "2026-12-01 02:00 Europe/Berlin"},
         "promote",
         "web 1.2.0",
         "at=2026-12-01 02:00 Europe/Berlin,to=production"},
        {{"promote", "web", "1.2.0", "--override-freeze", "--to", "production",
          "--reason", "CVE-2026-1234"},
         "promote",
         "web 1.2.0",
         "override_freeze=1,reason=CVE-2026-1234,to=production"},
        {{"schedule", "list"}, "schedule.list", "", ""},
        {{"schedule", "cancel", "3"}, "schedule.cancel", "3", ""},
        {{"audit"}, "audit.list", "", ""},
        {{"audit", "--since", "2026-11-01 00:00 UTC"},
         "audit.list",
         "",
         "since=2026-11-01 00:00 UTC"},
        {{"audit", "verify"}, "audit.verify", "", ""},
        {{"audit", "verify", "--head", AUDIT_HEAD},
         "audit.verify",
         "",
         "head=" AUDIT_HEAD},
        {{"vars", "list", "web", "--env", "dev"},
         "vars.list",
         "web",
         "env=dev"},
        {{"vars", "unset", "web", "DB_URL", "--env", "dev"},
         "vars.unset",
         "web DB_URL",
         "env=dev"},
        /* issue 5 */
        {{"deploy", "web", "1.2.0", "--env", "dev", "--strategy",
          "rolling:batch=3,max_unavailable=1", "--only", "role=web,site=fra1"},
         "deploy",
         "web 1.2.0",
         "env=dev,only=role=web,site=fra1,strategy=rolling:batch=3,"
         "max_unavailable=1"},
        {{"deploy", "web", "1.2.0", "--env", "dev",
          "--strategy=rolling:batch=25%", "--only=k-_9=fra 1"},
         "deploy",
         "web 1.2.0",
         "env=dev,only=k-_9=fra 1,strategy=rolling:batch=25%"},
        {{"rollback", "web", "--env", "dev", "--strategy", "all-at-once",
          "--only", "role=web"},
         "rollback",
         "web",
         "env=dev,only=role=web,strategy=all-at-once"},
        {{"promote", "web", "1.2.0", "--to", "production", "--strategy",
          "canary:count=1,hold=5m,then=manual", "--only", "site=fra1"},
         "promote",
         "web 1.2.0",
         "only=site=fra1,strategy=canary:count=1,hold=5m,then=manual,"
         "to=production"},
        {{"deployment", "cancel", "7"}, "deployment.cancel", "7", ""},
        {{"deployment", "cancel", "7", "--rollback"},
         "deployment.cancel",
         "7",
         "rollback=1"},
        {{"deployment", "continue", "7"}, "deployment.continue", "7", ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const s_case_t *c = &cases[i];
        tu_run_t r = s_hoist_v(false, c->argv);
        if (r.status != 0) {
            print_error("case %zu (%s): %s\n", i, c->command, r.out);
        }
        assert_int_equal(r.status, 0);
        char *expect = zsys_sprintf("ok %s\n", c->command);
        assert_string_equal(r.out, expect);
        free(expect);
        tu_run_free(&r);
        assert_int_equal(s_fake_count(fx->fake), i + 1);
        s_assert_req(fx->fake, i, c->command, c->args, c->options);
        assert_int_equal(fx->fake->reqs[i].len, 0);
    }
}

/* trust add sends the .pub file's text, and refuses other files. */
static void
test_cli_trust_add(void **state)
{
    fx_t *fx = *state;
    char *pub = zsys_sprintf("%s.pub", fx->relkey);
    size_t len = 0;
    char *text = tu_read(pub, &len);
    assert_non_null(text);
    s_hoist_ok(0, "trust", "add", pub);
    s_assert_req(fx->fake, 0, "trust.add", "", "");
    assert_int_equal(fx->fake->reqs[0].len, len);
    assert_memory_equal(fx->fake->reqs[0].data, text, len);
    /* A file that is not a release key is refused here, with exit 2. */
    char *cert = zsys_sprintf("%s", fx->user);
    tu_run_t r = s_hoist("trust", "add", cert);
    assert_int_equal(r.status, 2);
    assert_contains(r.out, "hoist keygen");
    assert_int_equal(s_fake_count(fx->fake), 1);
    tu_run_free(&r);
    free(cert);
    free(text);
    free(pub);
}

/* Bad command lines exit 2 with the usage, and send nothing. */
static void
test_cli_usage_errors(void **state)
{
    fx_t *fx = *state;
    static const char *const bad[][10] = {
        {"deploy", "web"},                   /* missing VERSION */
        {"deploy", "web", "1.2.0"},          /* missing --env */
        {"deploy", "web", "1.2.0", "--env"}, /* --env needs value */
        {"deploy", "web", "1.2.0", "--env", "a", "--env", "b"}, /* twice */
        {"deploy", "web", "1.2.0", "--env", "dev", "--bogus"},
        {"agents", "accept"},     /* missing NAME */
        {"agents", "frobnicate"}, /* no such command */
        {"whoami", "extra"},
        {"token", "create", "--env", "dev", "--ttl", "5 minutes"},
        {"release", "create", "web", "1.0", "/dev/null"}, /* no key */
        {"nonsense"},
        {"--bogus-flag", "whoami"},
        {"keygen", "--user"},                    /* missing --out */
        {"users", "add", "bob", "--role", "qa"}, /* missing --key */
        {"users", "add", "bob", "--role", "boss", "--key", "/dev/null"},
        {"users", "add", "bob", "--role", "QA", "--key", "/dev/null"},
        {"users", "add", "--role", "qa", "--key", "/dev/null"}, /* NAME */
        {"apply"},
        {"export", "extra"},
        {"promote", "web", "1.2.0"}, /* missing --to */
        {"promote", "web", "1.2.0", "--to", "production", "--override-freeze"},
        {"promote", "web", "1.2.0", "--to", "production", "--override-freeze",
         "--reason", "  "},
        {"promote", "web", "1.2.0", "--to", "production", "--reason", "why"},
        {"promote", "web", "1.2.0", "--to", "production", "--at",
         "2026-12-01 02:00", "--wait"},
        {"approve", "web", "1.2.0"}, /* missing --env */
        {"schedule", "cancel"},
        {"audit", "verify", "--head", "abc"},
        {"audit", "verify", "--head", "42:0123"},
        {"vars", "set", "web", "DB_URL", "x"}, /* missing --env */
        {"vars", "set", "web", "db_url", "x", "--env", "dev"},
        {"vars", "unset", "web", "1X", "--env", "dev"},
        {"vars", "list", "web"}, /* missing --env */
        {"release", "create", "web", "1.0", "/dev/null", "--lifecycle"},
        /* issue 5: --only's form, cancel/continue/watch's arguments */
        {"deploy", "web", "1.2.0", "--env", "dev", "--only", ""},
        {"deploy", "web", "1.2.0", "--env", "dev", "--only", "role"},
        {"deploy", "web", "1.2.0", "--env", "dev", "--only", "Role=web"},
        {"deploy", "web", "1.2.0", "--env", "dev", "--only", "role="},
        {"deploy", "web", "1.2.0", "--env", "dev", "--only", "=web"},
        {"deploy", "web", "1.2.0", "--env", "dev", "--only", "role=a=b"},
        {"deploy", "web", "1.2.0", "--env", "dev", "--only", "role=web,"},
        {"deploy", "web", "1.2.0", "--env", "dev", "--only", ",role=web"},
        {"deploy", "web", "1.2.0", "--env", "dev", "--only", "a=1,,b=2"},
        {"deploy", "web", "1.2.0", "--env", "dev", "--only", "role.x=web"},
        {"deploy", "web", "1.2.0", "--env", "dev", "--only", "role=w\teb"},
        {"deploy", "web", "1.2.0", "--env", "dev", "--only", "role=web",
         "--only", "site=fra1"},
        {"deploy", "web", "1.2.0", "--env", "dev", "--strategy"},
        {"rollback", "web", "--env", "dev", "--only", "role=web,site"},
        {"promote", "web", "1.2.0", "--to", "production", "--only", "x"},
        {"deployment", "cancel"},
        {"deployment", "cancel", "7", "8"},
        {"deployment", "continue"},
        {"deployment", "continue", "7", "--rollback"},
        {"watch"},
        {"watch", "7", "--wait"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        tu_run_t r = s_hoist_v(false, bad[i]);
        if (r.status != 2) {
            print_error("case %zu: exit %d: %s\n", i, r.status, r.out);
        }
        assert_int_equal(r.status, 2);
        assert_contains(r.out, "hoist");
        assert_contains(r.out, "usage");
        tu_run_free(&r);
    }
    assert_int_equal(s_fake_count(fx->fake), 0);
}

/* --help lists every command and the global flags. */
static void
test_cli_help_lists_all(void **state)
{
    (void)state;
    static const char *const words[] = {"keygen [--user] --out",
                                        "trust add",
                                        "trust list",
                                        "trust remove",
                                        "token create",
                                        "agents [list]",
                                        "agents accept",
                                        "agents revoke",
                                        "release create",
                                        "release sign",
                                        "release list",
                                        "release show",
                                        "deploy APP",
                                        "rollback APP",
                                        "status [APP]",
                                        "deployments [APP]",
                                        "deployment show",
                                        "logs ID",
                                        "whoami",
                                        "--config FILE",
                                        "--json",
                                        "--identity PREFIX",
                                        "users add NAME --role ROLE --key "
                                        "FILE [--env ENV]",
                                        "users list",
                                        "users remove NAME",
                                        "apply FILE",
                                        "export",
                                        "promote APP VERSION --to ENV [--at "
                                        "TIME] [--wait] [--override-freeze "
                                        "--reason TEXT]",
                                        "approve APP VERSION --env ENV "
                                        "[--comment TEXT]",
                                        "schedule list",
                                        "schedule cancel ID",
                                        "audit [--since TIME]",
                                        "audit verify [--head ID:HEX]",
                                        "vars set APP KEY VALUE --env ENV "
                                        "[--secret]",
                                        "vars list APP --env ENV",
                                        "vars unset APP KEY --env ENV",
                                        "--lifecycle NAME",
                                        "deploy APP VERSION --env ENV [--wait] "
                                        "[--strategy SPEC] [--only k=v,...]",
                                        "rollback APP --env ENV [--to VERSION] "
                                        "[--wait] [--strategy SPEC] [--only "
                                        "k=v,...]",
                                        "deployment cancel ID [--rollback]",
                                        "deployment continue ID",
                                        "watch ID"};
    /* --help and the help command print the same list. */
    static const char *const how[] = {"--help", "help"};
    for (size_t k = 0; k < 2; k++) {
        tu_run_t r = s_hoist(how[k]);
        assert_int_equal(r.status, 0);
        for (size_t i = 0; i < sizeof words / sizeof *words; i++) {
            assert_contains(r.out, words[i]);
        }
        tu_run_free(&r);
    }
    tu_run_t r = s_hoist("deploy", "--help");
    assert_int_equal(r.status, 0);
    assert_contains(r.out, "usage: hoist deploy APP VERSION --env ENV");
    tu_run_free(&r);
}

/* --identity replaces the config's identity; --config beats $HOIST_CONFIG. */
static void
test_cli_global_flags(void **state)
{
    fx_t *fx = *state;
    /* The config names an identity that does not exist... */
    s_write_conf(fx->conf, fx->fake->endpoint,
                 zcert_public_txt(fx->server_cert), "keys/nobody");
    tu_run_t r = s_hoist("whoami");
    assert_int_equal(r.status, 2);
    assert_contains(r.out, "keys/nobody_secret");
    tu_run_free(&r);
    /* ...and --identity replaces it. */
    s_hoist_ok(0, "--identity", fx->user, "whoami");
    s_assert_req(fx->fake, 0, "whoami", "", "");
    /* --config wins over $HOIST_CONFIG (which s_hoist sets). */
    char *good = tu_path(fx->dir, "good.conf");
    s_write_conf(good, fx->fake->endpoint, zcert_public_txt(fx->server_cert),
                 fx->user);
    s_hoist_ok(0, "--config", good, "status");
    char *joined = zsys_sprintf("--config=%s", good);
    s_hoist_ok(0, "--json", joined, "whoami");
    free(joined);
    s_assert_req(fx->fake, 1, "status", "", "");
    s_assert_req(fx->fake, 2, "whoami", "", "");
    r = s_hoist("--config");
    assert_int_equal(r.status, 2);
    assert_contains(r.out, "a value is missing after '--config'");
    tu_run_free(&r);
    assert_int_equal(s_fake_count(fx->fake), 3);
    free(good);
}

/* ---- output and exit codes ---------------------------------------------- */

/* --json prints the reply's JSON document exactly, before or after the
 * command. */
static void
test_cli_json_exact(void **state)
{
    fx_t *fx = *state;
    static const char json[] =
        "{\"envs\": [{\"env\": \"dev\", \"web\": \"1.2.0\"}],  \"n\": 1}";
    s_fake_can(fx->fake, "status", 0, "ENV  WEB\ndev  1.2.0\n", json);
    /* stdout and stderr together: nothing but the document. */
    tu_run_t r = s_hoist("--json", "status");
    assert_int_equal(r.status, 0);
    assert_string_equal(r.out, "{\"envs\": [{\"env\": \"dev\", \"web\": "
                               "\"1.2.0\"}],  \"n\": 1}\n");
    tu_run_free(&r);
    /* After the command too. */
    r = s_hoist("status", "--json");
    assert_int_equal(r.status, 0);
    assert_string_equal(r.out, "{\"envs\": [{\"env\": \"dev\", \"web\": "
                               "\"1.2.0\"}],  \"n\": 1}\n");
    tu_run_free(&r);
    /* Without --json: the text. */
    r = s_hoist("status");
    assert_int_equal(r.status, 0);
    assert_string_equal(r.out, "ENV  WEB\ndev  1.2.0\n");
    tu_run_free(&r);
}

/* The reply's exit code is the process's (0/1/2/3); an Error maps by its
 * code; failures go to stderr. */
static void
test_cli_exit_codes(void **state)
{
    fx_t *fx = *state;
    s_fake_can(fx->fake, "deploy", 1, "deploy failed", "{\"exit\": 1}");
    s_fake_can(fx->fake, "release.show", 2,
               "no release web 9: see hoist "
               "release list",
               "{}");
    s_fake_can(fx->fake, "agents.revoke", 3, "refused: admin only", "{}");
    s_fake_can(fx->fake, "whoami", 0, "tester (admin)", "{}");
    s_fake_can_error(fx->fake, "trust.list", HOIST_ERR_AUTH,
                     "user:tester may not list keys");
    s_fake_can_error(fx->fake, "logs", HOIST_ERR_NOTFOUND, "no deployment 4");
    s_hoist_ok(0, "whoami");
    s_hoist_ok(1, "deploy", "web", "1.2.0", "--env", "dev");
    s_hoist_ok(2, "release", "show", "web", "9");
    s_hoist_ok(3, "agents", "revoke", "web-1");
    s_hoist_ok(3, "trust", "list");
    s_hoist_ok(2, "logs", "4");
    /* A failure's text goes to stderr, not stdout... */
    tu_run_t r = s_hoist_stdout("release", "show", "web", "9");
    assert_int_equal(r.status, 2);
    assert_string_equal(r.out, "");
    tu_run_free(&r);
    r = s_hoist("release", "show", "web", "9");
    assert_string_equal(r.out, "hoist: no release web 9: see hoist release "
                               "list\n");
    tu_run_free(&r);
    r = s_hoist("trust", "list");
    assert_contains(r.out, "user:tester may not list keys");
    tu_run_free(&r);
    /* ...and with --json stdout still gets the document. */
    r = s_hoist_stdout("--json", "deploy", "web", "1.2.0", "--env", "dev");
    assert_int_equal(r.status, 1);
    assert_string_equal(r.out, "{\"exit\": 1}\n");
    tu_run_free(&r);
}

/* ---- uploads ------------------------------------------------------------ */

/* Writes LEN pseudo-random bytes to PATH. */
static void
s_write_random(const char *path, size_t len)
{
    uint8_t *buf = malloc(len);
    assert_non_null(buf);
    randombytes_buf(buf, len);
    tu_write(path, (const char *)buf, len, 0644);
    free(buf);
}

/* Asserts what the fake got for an upload of the file at PATH, in chunks
 * of CHUNK bytes: begin, the chunks in order, commit; the bytes. Returns
 * the manifest data of release.begin (the caller's). */
static uint8_t *
s_assert_upload(fx_t *fx, const char *path, size_t chunk, const char *notes,
                size_t *manifest_len)
{
    fake_t *f = fx->fake;
    size_t len = 0;
    char *bytes = tu_read(path, &len);
    size_t nchunks = (len + chunk - 1) / chunk;
    assert_int_equal(s_fake_count(f), nchunks + 2);
    char *opts = notes ? zsys_sprintf("notes=%s", notes) : strdup("");
    s_assert_req(f, 0, "release.begin", "", opts);
    free(opts);
    for (size_t i = 0; i < nchunks; i++) {
        char *off = zsys_sprintf("offset=%zu", i * chunk);
        s_assert_req(f, i + 1, "release.chunk", FAKE_UPLOAD, off);
        free(off);
        assert_int_equal(f->offsets[i], i * chunk);
        assert_int_equal(f->chunk_lens[i],
                         i + 1 < nchunks ? chunk : len - i * chunk);
    }
    s_assert_req(f, nchunks + 1, "release.commit", FAKE_UPLOAD, "");
    assert_false(f->out_of_order);
    assert_int_equal(f->received, len);
    assert_memory_equal(f->kept, bytes, len);
    free(bytes);
    *manifest_len = f->reqs[0].len;
    uint8_t *m = malloc(*manifest_len);
    memcpy(m, f->reqs[0].data, *manifest_len);
    return m;
}

/* release create signs and uploads a 2.5 MiB artifact in 1 MiB chunks:
 * offsets, bytes, and a manifest that verifies and matches them. */
static void
test_upload_multichunk(void **state)
{
    fx_t *fx = *state;
    char *art = tu_path(fx->dir, "web-1.2.0.tar.gz");
    size_t len = 2 * MIB + MIB / 2 + 123;
    s_write_random(art, len);
    char *notes = tu_path(fx->dir, "NOTES.md");
    tu_write(notes, "# 1.2.0\n\n- faster\n", (size_t)-1, 0644);
    s_fake_can(fx->fake, "release.commit", 0, "release web 1.2.0 recorded",
               "{\"app\": \"web\"}");
    tu_run_t r = s_hoist("release", "create", "web", "1.2.0", art, "--sign-key",
                         fx->relkey, "--sequence", "42", "--env", "dev",
                         "--env", "qa", "--notes", notes);
    if (r.status != 0) {
        print_error("%s\n", r.out);
    }
    assert_int_equal(r.status, 0);
    assert_contains(r.out, "signed web 1.2.0 (sequence 42");
    assert_contains(r.out, "release web 1.2.0 recorded\n");
    tu_run_free(&r);
    size_t mlen = 0;
    uint8_t *m = s_assert_upload(fx, art, MIB, "# 1.2.0\n\n- faster\n", &mlen);
    /* The manifest sent verifies against the release key and describes
     * exactly the bytes that were uploaded. */
    char *pubpath = zsys_sprintf("%s.pub", fx->relkey);
    keys_public_t pub;
    hoist_error_t err = {0};
    assert_int_equal(keys_public_load(pubpath, &pub, &err), HOIST_OK);
    manifest_t *man = manifest_verify(m, mlen, &pub, 1, &err);
    if (!man) {
        fail_msg("manifest_verify: %s", err.msg);
    }
    assert_string_equal(manifest_app(man), "web");
    assert_string_equal(manifest_version(man), "1.2.0");
    assert_int_equal(manifest_sequence(man), 42);
    assert_int_equal(manifest_artifact_size(man), len);
    assert_int_equal(manifest_env_count(man), 2);
    assert_string_equal(manifest_env(man, 1), "qa");
    uint8_t d[DIGEST_BYTES];
    digest_final(fx->fake->hash, d);
    assert_true(digest_equal(manifest_artifact_digest(man), d));
    assert_non_null(manifest_notes_digest(man));
    manifest_destroy(&man);
    free(pubpath);
    free(m);
    free(notes);
    free(art);
}

/* The chunk size announced by release.begin is honoured. */
static void
test_upload_controller_chunk_size(void **state)
{
    fx_t *fx = *state;
    s_fake_mode(fx->fake, false, false, 300000);
    char *art = tu_path(fx->dir, "small.tar");
    s_write_random(art, 1000001);
    s_hoist_ok(0, "release", "create", "web", "1.3.0", art, "--sign-key",
               fx->relkey);
    size_t mlen = 0;
    free(s_assert_upload(fx, art, 300000, NULL, &mlen));
    free(art);
}

/* --manifest from release sign is sent byte for byte, after a check
 * that it matches the command line. */
static void
test_upload_offline_manifest(void **state)
{
    fx_t *fx = *state;
    char *art = tu_path(fx->dir, "offline.tar");
    char *man = tu_path(fx->dir, "offline.manifest");
    char *notes = tu_path(fx->dir, "offline.md");
    s_write_random(art, MIB + 1);
    tu_write(notes, "offline notes\n", (size_t)-1, 0644);
    s_hoist_ok(0, "release", "sign", "web", "2.0.0", art, "--sign-key",
               fx->relkey, "--notes", notes, "--out", man);
    assert_int_equal(s_fake_count(fx->fake), 0);
    /* The wrong version, and missing notes, are caught before uploading. */
    tu_run_t r = s_hoist("release", "create", "web", "2.0.1", art, "--manifest",
                         man, "--notes", notes);
    assert_int_equal(r.status, 2);
    assert_contains(r.out, "the manifest is for web 2.0.0, not web 2.0.1");
    tu_run_free(&r);
    r = s_hoist("release", "create", "web", "2.0.0", art, "--manifest", man);
    assert_int_equal(r.status, 2);
    assert_contains(r.out, "pass the same file with --notes");
    tu_run_free(&r);
    r = s_hoist("release", "create", "web", "2.0.0", art, "--manifest", man,
                "--sign-key", fx->relkey);
    assert_int_equal(r.status, 2);
    tu_run_free(&r);
    assert_int_equal(s_fake_count(fx->fake), 0);
    s_hoist_ok(0, "release", "create", "web", "2.0.0", art, "--manifest", man,
               "--notes", notes);
    size_t mlen = 0, flen = 0;
    uint8_t *sent = s_assert_upload(fx, art, MIB, "offline notes\n", &mlen);
    char *file = tu_read(man, &flen);
    assert_int_equal(mlen, flen);
    assert_memory_equal(sent, file, flen);
    free(file);
    free(sent);
    free(notes);
    free(man);
    free(art);
}

/* A refused release.begin stops the upload and passes its exit code on. */
static void
test_upload_refused(void **state)
{
    fx_t *fx = *state;
    s_fake_can(fx->fake, "release.begin", 2,
               "signed by key 0011 which is not trusted: hoist trust add",
               "{}");
    char *art = tu_path(fx->dir, "refused.tar");
    s_write_random(art, 3 * MIB);
    tu_run_t r = s_hoist("release", "create", "web", "1.0.0", art, "--sign-key",
                         fx->relkey);
    assert_int_equal(r.status, 2);
    assert_contains(r.out, "hoist trust add");
    tu_run_free(&r);
    /* Nothing after the refusal. */
    assert_int_equal(s_fake_count(fx->fake), 1);
    s_assert_req(fx->fake, 0, "release.begin", "", "");
    free(art);
}

/* Runs `hoist release create APP 1.0.0 PATH --sign-key ...` for a sparse
 * artifact of SIZE bytes at PATH, and returns the peak RSS of that one
 * process in KiB (from wait4). */
static long
s_upload_rss(const fx_t *fx, const char *path, const char *app, off_t size)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(ftruncate(fileno(f), size), 0); /* sparse: zeros */
    fclose(f);
    char *config = zsys_sprintf("HOIST_CONFIG=%s", fx->conf);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        putenv(config);
        freopen("/dev/null", "w", stdout);
        execl(HOIST_CLI_BIN, HOIST_CLI_BIN, "release", "create", app, "1.0.0",
              path, "--sign-key", fx->relkey, (char *)NULL);
        _exit(127);
    }
    int status = 0;
    struct rusage ru;
    assert_int_equal(wait4(pid, &status, 0, &ru), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    unlink(path);
    free(config);
    return ru.ru_maxrss;
}

/* The CLI's memory does not grow with the artifact's size. */
static void
test_upload_constant_memory(void **state)
{
    fx_t *fx = *state;
    char *art = tu_path(fx->dir, "big.tar");
    long small = s_upload_rss(fx, art, "small", 16 * MIB);
    long big = s_upload_rss(fx, art, "big", 160 * MIB);
    print_message("peak RSS: %ld KiB for 16 MiB, %ld KiB for 160 MiB\n", small,
                  big);
#ifndef __SANITIZE_ADDRESS__
    /* Ten times the bytes, about the same memory, far below the size of
     * the artifact. */
    assert_true(big < small + 8 * 1024);
    assert_true(big < 80 * 1024);
#else
    /* AddressSanitizer keeps freed blocks in quarantine and does not give
     * back the shadow of unmapped ones: its RSS grows with every 1 MiB
     * message whatever the code does, so only the plain build judges. */
    print_message("(peak RSS not compared under AddressSanitizer)\n");
#endif
    assert_int_equal(fx->fake->received, (uint64_t)160 * MIB);
    assert_int_equal(fx->fake->noffsets, 160);
    assert_false(fx->fake->out_of_order);
    free(art);
}

/* ---- --wait ------------------------------------------------------------- */

#define SHOW_1                                                                 \
    "{\"id\": 7, \"app\": \"web\", \"version\": \"1.2.0\", \"env\": "          \
    "\"dev\", \"kind\": \"deploy\", \"state\": \"running\", \"tasks\": ["      \
    "{\"agent\": \"web-1\", \"state\": \"running\", \"step\": \"fetch\"},"     \
    "{\"agent\": \"web-2\", \"state\": \"sent\", \"step\": \"\"}]}"
#define SHOW_2                                                                 \
    "{\"id\": 7, \"app\": \"web\", \"version\": \"1.2.0\", \"env\": "          \
    "\"dev\", \"kind\": \"deploy\", \"state\": \"running\", \"tasks\": ["      \
    "{\"agent\": \"web-1\", \"state\": \"succeeded\", \"step\": "              \
    "\"health\", \"live\": \"1.2.0\"},"                                        \
    "{\"agent\": \"web-2\", \"state\": \"running\", \"step\": \"health\"}]}"
#define SHOW_OK                                                                \
    "{\"id\": 7, \"app\": \"web\", \"version\": \"1.2.0\", \"env\": "          \
    "\"dev\", \"kind\": \"deploy\", \"state\": \"succeeded\", \"tasks\": ["    \
    "{\"agent\": \"web-1\", \"state\": \"succeeded\", \"step\": "              \
    "\"health\", \"live\": \"1.2.0\"},"                                        \
    "{\"agent\": \"web-2\", \"state\": \"succeeded\", \"step\": "              \
    "\"health\", \"live\": \"1.2.0\"}]}"
#define SHOW_FAILED                                                            \
    "{\"id\": 7, \"app\": \"web\", \"version\": \"1.2.0\", \"env\": "          \
    "\"dev\", \"kind\": \"deploy\", \"state\": \"rolled_back\", \"tasks\": ["  \
    "{\"agent\": \"web-1\", \"state\": \"rolled_back\", \"step\": "            \
    "\"health\", \"live\": \"1.1.0\", \"message\": \"health: GET /healthz "    \
    "returned 500\\nsecond line\"},"                                           \
    "{\"agent\": \"web-2\", \"state\": \"succeeded\", \"step\": "              \
    "\"health\", \"live\": \"1.2.0\"}]}"

/* Scripts the fake for a deploy of deployment 7 that goes through SHOWS. */
static void
s_script(fake_t *f, const char *const *shows, size_t n)
{
    s_fake_can(f, "deploy", 0, "deployment 7: web 1.2.0 to dev (2 agents)",
               "{\"deployment\": 7}");
    pthread_mutex_lock(&f->lock);
    for (size_t i = 0; i < n; i++) {
        f->shows[i] = shows[i];
    }
    f->nshows = n;
    pthread_mutex_unlock(&f->lock);
}

/* Counts the occurrences of NEEDLE in HAYSTACK. */
static int
s_count(const char *haystack, const char *needle)
{
    int n = 0;
    for (const char *p = haystack; (p = strstr(p, needle)); p++) {
        n++;
    }
    return n;
}

/* --wait without a terminal: a line per change, the table, exit 0. */
static void
test_wait_plain(void **state)
{
    fx_t *fx = *state;
    const char *shows[] = {SHOW_1, SHOW_1, SHOW_2, SHOW_OK};
    s_script(fx->fake, shows, 4);
    tu_run_t r = s_hoist("deploy", "web", "1.2.0", "--env", "dev", "--wait");
    if (r.status != 0) {
        print_error("%s\n", r.out);
    }
    assert_int_equal(r.status, 0);
    assert_contains(r.out, "deployment 7: web 1.2.0 to dev (2 agents)\n"
                           "web-1: fetch (running)\nweb-2: sent\n");
    /* One line per change, none for a poll that saw no change. */
    assert_int_equal(s_count(r.out, "web-1: fetch (running)"), 1);
    assert_int_equal(s_count(r.out, "web-1: health (succeeded)"), 1);
    assert_int_equal(s_count(r.out, "web-2: health (running)"), 1);
    assert_int_equal(s_count(r.out, "web-2: health (succeeded)"), 1);
    assert_contains(r.out, "AGENT  STATE      STEP    LIVE   MESSAGE\n"
                           "web-1  succeeded  health  1.2.0  \n"
                           "web-2  succeeded  health  1.2.0  \n"
                           "deployment 7 succeeded\n");
    tu_run_free(&r);
    size_t n = s_fake_count(fx->fake);
    assert_int_equal(n, 5);
    s_assert_req(fx->fake, 0, "deploy", "web 1.2.0", "env=dev");
    for (size_t i = 1; i < n; i++) {
        s_assert_req(fx->fake, i, "deployment.show", "7", "");
    }
}

/* --wait on a deployment that rolled back: exit 1; with --json, an event
 * per change and the end event. */
static void
test_wait_failed(void **state)
{
    fx_t *fx = *state;
    const char *shows[] = {SHOW_1, SHOW_FAILED};
    s_script(fx->fake, shows, 2);
    tu_run_t r = s_hoist("deploy", "web", "1.2.0", "--env", "dev", "--wait");
    assert_int_equal(r.status, 1);
    assert_contains(r.out, "web-1  rolled_back  health  1.1.0  health: GET "
                           "/healthz returned 500...\n");
    assert_contains(r.out, "deployment 7 rolled_back\n");
    assert_contains(r.out, "hoist logs 7");
    tu_run_free(&r);
    /* With --json: the events and nothing else, and the same exit. */
    pthread_mutex_lock(&fx->fake->lock);
    fx->fake->next_show = 0;
    pthread_mutex_unlock(&fx->fake->lock);
    r = s_hoist("--json", "deploy", "web", "1.2.0", "--env", "dev", "--wait");
    assert_int_equal(r.status, 1);
    assert_string_equal(
        r.out, "{\"event\":\"task\",\"agent\":\"web-1\",\"state\":"
               "\"running\",\"step\":\"fetch\",\"batch\":0}\n"
               "{\"event\":\"task\",\"agent\":\"web-2\",\"state\":\"sent\","
               "\"step\":\"\",\"batch\":0}\n"
               "{\"event\":\"task\",\"agent\":\"web-1\",\"state\":"
               "\"rolled_back\",\"step\":\"health\",\"batch\":0}\n"
               "{\"event\":\"task\",\"agent\":\"web-2\",\"state\":"
               "\"succeeded\",\"step\":\"health\",\"batch\":0}\n"
               "{\"event\":\"end\",\"state\":\"rolled_back\","
               "\"deployment\":7}\n");
    tu_run_free(&r);
}

/* On a terminal: a block rewritten in place (the header and the batch
 * in progress), the finished batch kept above it, then the table. */
static void
test_wait_live_line(void **state)
{
    fx_t *fx = *state;
    const char *shows[] = {SHOW_1, SHOW_2, SHOW_OK};
    s_script(fx->fake, shows, 3);
    client_t *c = s_client(fx, fx->user_cert, fx->fake->endpoint,
                           zcert_public_txt(fx->server_cert));
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    watch_opts_t o = {.json = false, .tty = true, .width = 200, .out = out};
    int code = -1;
    hoist_error_t err = {0};
    assert_int_equal(watch_deployment(c, "7", &o, &code, &err), HOIST_OK);
    fclose(out);
    assert_int_equal(code, 0);
    assert_contains(buf,
                    "\033[Kdeployment 7  deploy web 1.2.0 to dev  running\n"
                    "\033[Kbatch 1/1 (2 agents)  done 0  failed 0  running 2  "
                    "web-1: fetch  web-2: sent\n\033[J"
                    "\r\033[2A"
                    "\033[Kdeployment 7  deploy web 1.2.0 to dev  running\n"
                    "\033[Kbatch 1/1 (2 agents)  done 1  failed 0  running 1  "
                    "web-2: health\n\033[J"
                    "\r\033[2A"
                    "\033[Kbatch 1/1 (2 agents)  done 2  failed 0  running 0\n"
                    "\033[Kdeployment 7  deploy web 1.2.0 to dev  succeeded\n"
                    "\033[JAGENT");
    assert_int_equal(s_count(buf, "\n"), 10); /* blocks 2 + 2 + 2, table 4 */
    free(buf);
    client_destroy(&c);
}

/* --wait when deployment.show refuses, or the reply names no deployment. */
static void
test_wait_deployment_missing(void **state)
{
    fx_t *fx = *state;
    s_fake_can(fx->fake, "deploy", 0, "deployment 7", "{\"deployment\": 7}");
    s_fake_can(fx->fake, "deployment.show", 2, "no deployment 7", "{}");
    tu_run_t r = s_hoist("deploy", "web", "1.2.0", "--env", "dev", "--wait");
    assert_int_equal(r.status, 2);
    assert_contains(r.out, "hoist: no deployment 7");
    tu_run_free(&r);
    /* A reply that names no deployment is a protocol error, exit 1. */
    s_fake_can(fx->fake, "rollback", 0, "rolled back", "{}");
    r = s_hoist("rollback", "web", "--env", "dev", "--wait");
    assert_int_equal(r.status, 1);
    assert_contains(r.out, "names no deployment");
    tu_run_free(&r);
}

/* ---- issue 4: user keys and --identity ---------------------------------- */

/* Runs `hoist keygen --user --out PREFIX` and returns the public key it
 * printed (the caller's). */
static char *
s_keygen_user(const char *prefix)
{
    tu_run_t r = s_hoist("keygen", "--user", "--out", prefix);
    if (r.status != 0) {
        print_error("%s\n", r.out);
    }
    assert_int_equal(r.status, 0);
    const char *p = strstr(r.out, "public key: ");
    assert_non_null(p);
    char *key = strndup(p + strlen("public key: "), 40);
    tu_run_free(&r);
    return key;
}

/* keygen --user: a zcert pair that config_identity_load reads back, the
 * secret 0600 and the public 0644 whatever the umask, and the line to
 * give the admin. It never overwrites either file. */
static void
test_keygen_user(void **state)
{
    fx_t *fx = *state;
    char *prefix = tu_path(fx->dir, "keys/alice");
    char *secret = zsys_sprintf("%s_secret", prefix);
    mode_t old = umask(0); /* the child inherits it */
    tu_run_t r = s_hoist("keygen", "--user", "--out", prefix);
    umask(old);
    assert_int_equal(r.status, 0);
    char *line =
        zsys_sprintf("hoist users add NAME --role ROLE --key %s\n", prefix);
    assert_contains(r.out, line);
    free(line);
    struct stat st;
    assert_int_equal(stat(secret, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(stat(prefix, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0644);
    /* Loadable as an identity, and the key printed is the one saved. */
    hoist_error_t err = {0};
    zcert_t *cert = config_identity_load(prefix, &err);
    if (!cert) {
        fail_msg("config_identity_load: %s", err.msg);
    }
    char *printed = zsys_sprintf("public key: %s\n", zcert_public_txt(cert));
    assert_contains(r.out, printed);
    free(printed);
    tu_run_free(&r);
    zcert_t *pub = zcert_load(prefix); /* zcert_load prefers _secret */
    assert_non_null(pub);
    assert_string_equal(zcert_public_txt(pub), zcert_public_txt(cert));
    zcert_destroy(&pub);
    /* A second run over the same prefix is refused; nothing changes. */
    size_t len0 = 0, len1 = 0;
    char *before = tu_read(secret, &len0);
    r = s_hoist("keygen", "--user", "--out", prefix);
    assert_int_equal(r.status, 2);
    assert_contains(r.out, "exists already");
    tu_run_free(&r);
    char *after = tu_read(secret, &len1);
    assert_int_equal(len0, len1);
    assert_memory_equal(before, after, len0);
    free(after);
    free(before);
    /* Half a pair is refused too, and not completed. */
    assert_int_equal(unlink(prefix), 0);
    r = s_hoist("keygen", "--user", "--out", prefix);
    assert_int_equal(r.status, 2);
    assert_contains(r.out, secret);
    assert_false(tu_exists(prefix));
    tu_run_free(&r);
    /* --json: one document naming the key and both files. */
    char *bob = tu_path(fx->dir, "keys/bob");
    r = s_hoist_stdout("--json", "keygen", "--user", "--out", bob);
    assert_int_equal(r.status, 0);
    assert_true(r.out[0] == '{');
    char *secret_file = zsys_sprintf("\"secret_file\":\"%s_secret\"", bob);
    assert_contains(r.out, secret_file);
    assert_contains(r.out, "\"public_key\":\"");
    free(secret_file);
    tu_run_free(&r);
    assert_int_equal(s_fake_count(fx->fake), 0);
    free(bob);
    zcert_destroy(&cert);
    free(secret);
    free(prefix);
}

/* --identity PREFIX is the key the controller sees: the fake's ZAP
 * handler maps it to user:carol. A missing identity fails before
 * anything is sent. */
static void
test_identity_flag(void **state)
{
    fx_t *fx = *state;
    char *prefix = tu_path(fx->dir, "keys/carol");
    char *key = s_keygen_user(prefix);
    hoist_error_t err = {0};
    assert_int_equal(zap_allow(fx->zap, key, "user:carol", &err), HOIST_OK);
    s_hoist_ok(0, "--identity", prefix, "whoami");
    s_hoist_ok(0, "whoami"); /* without it: the config's identity */
    assert_int_equal(s_fake_count(fx->fake), 2);
    assert_string_equal(fx->fake->reqs[0].user_id, "user:carol");
    assert_string_equal(fx->fake->reqs[1].user_id, "user:tester");
    /* A missing identity: exit 2, the file named, nothing sent. */
    char *missing = tu_path(fx->dir, "keys/nobody");
    tu_run_t r = s_hoist("--identity", missing, "whoami");
    assert_int_equal(r.status, 2);
    assert_contains(r.out, "keys/nobody_secret");
    assert_contains(r.out, "--identity");
    tu_run_free(&r);
    assert_int_equal(s_fake_count(fx->fake), 2);
    /* A malformed secret file: exit 2, and not a line of it printed. */
    char *broken = tu_path(fx->dir, "keys/broken");
    char *broken_secret = zsys_sprintf("%s_secret", broken);
    tu_write(broken_secret,
             "curve\n    secret-key = \"TOPSECRET\"\n    oops TOPSECRET\n",
             (size_t)-1, 0600);
    r = s_hoist_stdout("--json", "--identity", broken, "whoami");
    assert_int_equal(r.status, 2);
    assert_string_equal(r.out, "");
    tu_run_free(&r);
    r = s_hoist("--identity", broken, "whoami");
    assert_int_equal(r.status, 2);
    assert_contains(r.out, "is not a CURVE secret certificate");
    assert_null(strstr(r.out, "TOPSECRET"));
    tu_run_free(&r);
    assert_int_equal(s_fake_count(fx->fake), 2);
    free(broken_secret);
    free(broken);
    free(missing);
    free(key);
    free(prefix);
}

/* ---- issue 4: users ----------------------------------------------------- */

/* users add sends NAME, role, the key in Z85 and the scope; from the
 * _secret file it sends the public key and nothing of the secret. */
static void
test_cli_users_add(void **state)
{
    fx_t *fx = *state;
    char *prefix = tu_path(fx->dir, "keys/dave");
    char *key = s_keygen_user(prefix);
    s_hoist_ok(0, "users", "add", "dave", "--role", "qa", "--key", prefix);
    char *opts = zsys_sprintf("key=%s,role=qa", key);
    s_assert_req(fx->fake, 0, "users.add", "dave", opts);
    free(opts);
    assert_int_equal(fx->fake->reqs[0].len, 0);
    char *secret = zsys_sprintf("%s_secret", prefix);
    s_hoist_ok(0, "users", "add", "dave", "--key", secret, "--role",
               "release-manager", "--env", "production");
    opts = zsys_sprintf("env=production,key=%s,role=release-manager", key);
    s_assert_req(fx->fake, 1, "users.add", "dave", opts);
    free(opts);
    zcert_t *cert = zcert_load(secret);
    assert_non_null(cert);
    assert_null(strstr(fx->fake->reqs[1].options, zcert_secret_txt(cert)));
    zcert_destroy(&cert);
    /* Every role name passes; the check is exact. */
    static const char *const roles[] = {"admin", "operator", "viewer"};
    for (size_t i = 0; i < 3; i++) {
        s_hoist_ok(0, "users", "add", "eve", "--role", roles[i], "--key",
                   prefix);
    }
    assert_int_equal(s_fake_count(fx->fake), 5);
    /* A bad role, a release key, a missing file: exit 2, nothing sent. */
    tu_run_t r =
        s_hoist("users", "add", "eve", "--role", "manager", "--key", prefix);
    assert_int_equal(r.status, 2);
    assert_contains(r.out, "unknown role 'manager'");
    assert_contains(r.out, "release-manager");
    tu_run_free(&r);
    char *pub = zsys_sprintf("%s.pub", fx->relkey);
    r = s_hoist("users", "add", "eve", "--role", "qa", "--key", pub);
    assert_int_equal(r.status, 2);
    assert_contains(r.out, "not a CURVE user certificate");
    assert_contains(r.out, "hoist keygen --user");
    tu_run_free(&r);
    /* Nothing on stdout: czmq's parser does not log there. */
    r = s_hoist_stdout("users", "add", "eve", "--role", "qa", "--key", pub);
    assert_int_equal(r.status, 2);
    assert_string_equal(r.out, "");
    tu_run_free(&r);
    r = s_hoist("users", "add", "eve", "--role", "qa", "--key",
                "/nonexistent/key");
    assert_int_equal(r.status, 2);
    assert_contains(r.out, "/nonexistent/key");
    tu_run_free(&r);
    assert_int_equal(s_fake_count(fx->fake), 5);
    free(pub);
    free(secret);
    free(key);
    free(prefix);
}

/* ---- issue 4: the pipeline file ----------------------------------------- */

#define PIPELINE_TEXT                                                          \
    "lifecycles:\n  default: [dev, qa, staging, production]\n"                 \
    "environments:\n  dev:\n    auto_deploy: true\n# no newline at the end"

/* apply sends the file's bytes and its base name; export prints the
 * text byte for byte, so export > file, apply file sends what export
 * got. */
static void
test_cli_apply_export(void **state)
{
    fx_t *fx = *state;
    s_fake_can(fx->fake, "pipeline.export", 0, PIPELINE_TEXT,
               "{\"pipeline\": \"...\"}");
    tu_run_t r = s_hoist_stdout("export");
    assert_int_equal(r.status, 0);
    assert_string_equal(r.out, PIPELINE_TEXT); /* no newline added */
    char *path = tu_path(fx->dir, "conf/pipeline.yml");
    tu_write(path, r.out, (size_t)-1, 0644);
    tu_run_free(&r);
    s_hoist_ok(0, "apply", path);
    s_assert_req(fx->fake, 0, "pipeline.export", "", "");
    s_assert_req(fx->fake, 1, "pipeline.apply", "", "name=pipeline.yml");
    assert_int_equal(fx->fake->reqs[1].len, strlen(PIPELINE_TEXT));
    assert_memory_equal(fx->fake->reqs[1].data, PIPELINE_TEXT,
                        strlen(PIPELINE_TEXT));
    /* With --json, export prints the document. */
    r = s_hoist_stdout("--json", "export");
    assert_int_equal(r.status, 0);
    assert_string_equal(r.out, "{\"pipeline\": \"...\"}\n");
    tu_run_free(&r);
    /* Exactly 1 MiB is sent whole. */
    char *big = tu_path(fx->dir, "big.yml");
    s_write_random(big, MIB);
    s_hoist_ok(0, "apply", big);
    s_assert_req(fx->fake, 3, "pipeline.apply", "", "name=big.yml");
    assert_int_equal(fx->fake->reqs[3].len, MIB);
    free(big);
    free(path);
}

/* apply refuses, before sending, what cannot be a pipeline file. */
static void
test_cli_apply_refused(void **state)
{
    fx_t *fx = *state;
    char *big = tu_path(fx->dir, "toobig.yml");
    s_write_random(big, MIB + 1);
    char *fifo = tu_path(fx->dir, "fifo.yml");
    assert_int_equal(mkfifo(fifo, 0600), 0);
    const struct {
        const char *path, *needle;
    } cases[] = {
        {fx->dir, "is a directory"},
        {big, "at most 1048576 (1 MiB)"},
        {fifo, "is not a regular file"},
        {"/nonexistent/p.yml", "cannot read the pipeline file"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        tu_run_t r = s_hoist("apply", cases[i].path);
        assert_int_equal(r.status, 2);
        assert_contains(r.out, cases[i].needle);
        assert_contains(r.out, cases[i].path);
        tu_run_free(&r);
    }
    assert_int_equal(s_fake_count(fx->fake), 0);
    unlink(fifo);
    free(fifo);
    free(big);
}

/* ---- issue 4: promote --------------------------------------------------- */

#define GATES_TEXT                                                             \
    "promote web 1.2.0 to production refused:\n"                               \
    "  - web 1.2.0 has not succeeded in staging\n"                             \
    "  - 0 of 1 approvals from qa"
#define GATES_JSON "{\"gates\": [\"upstream\", \"approvals\"]}"

/* A promotion refused by its gates exits 4 and prints every gate; with
 * --wait nothing is followed. A refusal by role exits 3. */
static void
test_cli_promote_refused(void **state)
{
    fx_t *fx = *state;
    s_fake_can(fx->fake, "promote", 4, GATES_TEXT, GATES_JSON);
    s_fake_can(fx->fake, "approve", 3,
               "approve needs the qa or release-manager role; carol has "
               "viewer",
               "{}");
    tu_run_t r =
        s_hoist("promote", "web", "1.2.0", "--to", "production", "--wait");
    assert_int_equal(r.status, 4);
    assert_contains(r.out, "has not succeeded in staging\n");
    assert_contains(r.out, "0 of 1 approvals from qa");
    tu_run_free(&r);
    assert_int_equal(s_fake_count(fx->fake), 1); /* no deployment.show */
    s_assert_req(fx->fake, 0, "promote", "web 1.2.0", "to=production");
    /* The text goes to stderr; --json puts the document on stdout. */
    r = s_hoist_stdout("promote", "web", "1.2.0", "--to", "production");
    assert_int_equal(r.status, 4);
    assert_string_equal(r.out, "");
    tu_run_free(&r);
    r = s_hoist_stdout("--json", "promote", "web", "1.2.0", "--to",
                       "production");
    assert_int_equal(r.status, 4);
    assert_string_equal(r.out, GATES_JSON "\n");
    tu_run_free(&r);
    r = s_hoist("approve", "web", "1.2.0", "--env", "qa");
    assert_int_equal(r.status, 3);
    assert_contains(r.out, "needs the qa or release-manager role");
    tu_run_free(&r);
}

/* promote --wait follows the deployment named in the reply, as deploy
 * --wait does. */
static void
test_cli_promote_wait(void **state)
{
    fx_t *fx = *state;
    s_fake_can(fx->fake, "promote", 0,
               "deployment 7: web 1.2.0 to dev (2 agents)",
               "{\"deployment\": 7}");
    pthread_mutex_lock(&fx->fake->lock);
    fx->fake->shows[0] = SHOW_1;
    fx->fake->shows[1] = SHOW_OK;
    fx->fake->nshows = 2;
    pthread_mutex_unlock(&fx->fake->lock);
    tu_run_t r = s_hoist("promote", "web", "1.2.0", "--to", "dev", "--wait");
    assert_int_equal(r.status, 0);
    assert_contains(r.out, "deployment 7: web 1.2.0 to dev (2 agents)\n");
    assert_contains(r.out, "deployment 7 succeeded\n");
    tu_run_free(&r);
    size_t n = s_fake_count(fx->fake);
    assert_true(n >= 3);
    s_assert_req(fx->fake, 0, "promote", "web 1.2.0", "to=dev");
    for (size_t i = 1; i < n; i++) {
        s_assert_req(fx->fake, i, "deployment.show", "7", "");
    }
    /* A failed deployment: exit 1. */
    pthread_mutex_lock(&fx->fake->lock);
    fx->fake->shows[1] = SHOW_FAILED;
    fx->fake->next_show = 0;
    pthread_mutex_unlock(&fx->fake->lock);
    s_hoist_ok(1, "promote", "web", "1.2.0", "--to", "dev", "--wait");
}

/* ---- issue 4: variables ------------------------------------------------- */

/* vars set sends APP KEY as arguments and the value as data; "-" reads it
 * from stdin (one trailing newline dropped), and a secret read that way
 * is shown nowhere. */
static void
test_cli_vars_set(void **state)
{
    fx_t *fx = *state;
    s_hoist_ok(0, "vars", "set", "web", "DB_URL", "postgres://db/web", "--env",
               "dev");
    s_assert_req(fx->fake, 0, "vars.set", "web DB_URL", "env=dev");
    assert_int_equal(fx->fake->reqs[0].len, strlen("postgres://db/web"));
    assert_memory_equal(fx->fake->reqs[0].data, "postgres://db/web",
                        strlen("postgres://db/web"));
    char *in = tu_path(fx->dir, "stdin");
    tu_write(in, "s3cr3t-value\n", (size_t)-1, 0600);
    tu_run_t r = s_hoist_in(in, "vars", "set", "web", "API_TOKEN", "-", "--env",
                            "production", "--secret");
    assert_int_equal(r.status, 0);
    assert_null(strstr(r.out, "s3cr3t"));
    tu_run_free(&r);
    s_assert_req(fx->fake, 1, "vars.set", "web API_TOKEN",
                 "env=production,secret=1");
    assert_int_equal(fx->fake->reqs[1].len, strlen("s3cr3t-value"));
    assert_memory_equal(fx->fake->reqs[1].data, "s3cr3t-value",
                        strlen("s3cr3t-value"));
    /* Only one newline goes; "\r\n" counts as one; inner ones stay. */
    tu_write(in, "a\nb\n\r\n", (size_t)-1, 0600);
    r = s_hoist_in(in, "vars", "set", "web", "_X9", "-", "--env", "dev");
    assert_int_equal(r.status, 0);
    tu_run_free(&r);
    s_assert_req(fx->fake, 2, "vars.set", "web _X9", "env=dev");
    assert_int_equal(fx->fake->reqs[2].len, 4);
    assert_memory_equal(fx->fake->reqs[2].data, "a\nb\n", 4);
    /* The longest KEY, and an empty value. */
    char key[65];
    memset(key, 'K', 64);
    key[64] = '\0';
    s_hoist_ok(0, "vars", "set", "web", key, "", "--env", "dev");
    assert_int_equal(fx->fake->reqs[3].len, 0);
    assert_int_equal(s_fake_count(fx->fake), 4);
    free(in);
}

/* KEYs that cannot be environment variables, and values that cannot be
 * one's value, are refused with exit 2 before anything is sent. */
static void
test_cli_vars_refused(void **state)
{
    fx_t *fx = *state;
    char longkey[66];
    memset(longkey, 'K', 65);
    longkey[65] = '\0';
    const char *const keys[] = {"db_url",     "1X",      "A-B",   "A B",
                                "",           "É",       longkey, "HOIST_APP",
                                "LD_PRELOAD", "BASH_ENV"};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        tu_run_t r =
            s_hoist("vars", "set", "web", keys[i], "v", "--env", "dev");
        assert_int_equal(r.status, 2);
        assert_contains(r.out, "KEY: ");
        tu_run_free(&r);
        r = s_hoist("vars", "unset", "web", keys[i], "--env", "dev");
        assert_int_equal(r.status, 2);
        tu_run_free(&r);
    }
    /* Over 64 KiB on stdin, and a NUL byte. */
    char *in = tu_path(fx->dir, "stdin");
    size_t len = 64 * 1024 + 1;
    char *buf = malloc(len);
    memset(buf, 'v', len);
    tu_write(in, buf, len, 0600);
    tu_run_t r =
        s_hoist_in(in, "vars", "set", "web", "BIG", "-", "--env", "dev");
    assert_int_equal(r.status, 2);
    assert_contains(r.out, "over 65536 bytes");
    tu_run_free(&r);
    tu_write(in, "a\0b", 3, 0600);
    r = s_hoist_in(in, "vars", "set", "web", "NUL", "-", "--env", "dev");
    assert_int_equal(r.status, 2);
    assert_contains(r.out, "NUL byte");
    tu_run_free(&r);
    assert_int_equal(s_fake_count(fx->fake), 0);
    /* Exactly 64 KiB plus its newline is fine. */
    buf[len - 1] = '\n';
    tu_write(in, buf, len, 0600);
    r = s_hoist_in(in, "vars", "set", "web", "BIG", "-", "--env", "dev");
    assert_int_equal(r.status, 0);
    tu_run_free(&r);
    assert_int_equal(fx->fake->reqs[0].len, 64 * 1024);
    free(buf);
    free(in);
}

/* ---- issue 4: release create --lifecycle, exit codes -------------------- */

/* --lifecycle travels as release.begin's option lifecycle. */
static void
test_cli_release_lifecycle(void **state)
{
    fx_t *fx = *state;
    char *art = tu_path(fx->dir, "hotfix.tar");
    s_write_random(art, 1000);
    char *notes = tu_path(fx->dir, "hotfix.md");
    tu_write(notes, "hotfix", (size_t)-1, 0644);
    s_hoist_ok(0, "release", "create", "web", "1.2.1", art, "--sign-key",
               fx->relkey, "--lifecycle", "hotfix");
    s_assert_req(fx->fake, 0, "release.begin", "", "lifecycle=hotfix");
    s_assert_req(fx->fake, 2, "release.commit", FAKE_UPLOAD, "");
    s_hoist_ok(0, "release", "create", "web", "1.2.2", art, "--sign-key",
               fx->relkey, "--notes", notes, "--lifecycle", "hotfix");
    s_assert_req(fx->fake, 3, "release.begin", "",
                 "lifecycle=hotfix,notes=hotfix");
    free(notes);
    free(art);
}

/* The new commands pass the reply's exit code on, 1 to 4, the text on
 * stderr. */
static void
test_cli_exit_codes_issue4(void **state)
{
    fx_t *fx = *state;
    s_fake_can(fx->fake, "users.add", 3,
               "users add needs the admin role; carol has qa", "{}");
    s_fake_can(fx->fake, "users.remove", 2,
               "admin is the last admin: add another admin first", "{}");
    s_fake_can(fx->fake, "pipeline.apply", 2,
               "pipeline.yml:3: environments.dev: unknown key 'auto_deplo'",
               "{}");
    s_fake_can(fx->fake, "audit.verify", 1,
               "audit row 7 was edited: its hash does not match", "{}");
    s_fake_can(fx->fake, "schedule.cancel", 2, "no pending schedule 9", "{}");
    s_fake_can(fx->fake, "vars.set", 3, "vars set needs operator", "{}");
    s_fake_can(fx->fake, "pipeline.export", 3, "export refused", "{}");
    char *prefix = tu_path(fx->dir, "keys/frank");
    free(s_keygen_user(prefix));
    char *path = tu_path(fx->dir, "pipeline.yml");
    tu_write(path, "environments: {}\n", (size_t)-1, 0644);
    tu_run_t r =
        s_hoist("users", "add", "frank", "--role", "qa", "--key", prefix);
    assert_int_equal(r.status, 3);
    assert_string_equal(
        r.out, "hoist: users add needs the admin role; carol has qa\n");
    tu_run_free(&r);
    s_hoist_ok(2, "users", "remove", "admin");
    r = s_hoist("apply", path);
    assert_int_equal(r.status, 2);
    assert_contains(r.out, "pipeline.yml:3:");
    tu_run_free(&r);
    r = s_hoist_stdout("audit", "verify");
    assert_int_equal(r.status, 1);
    assert_string_equal(r.out, "");
    tu_run_free(&r);
    s_hoist_ok(2, "schedule", "cancel", "9");
    s_hoist_ok(3, "vars", "set", "web", "A", "b", "--env", "dev");
    r = s_hoist_stdout("export");
    assert_int_equal(r.status, 3);
    assert_string_equal(r.out, ""); /* a refusal is not a pipeline file */
    tu_run_free(&r);
    assert_int_equal(s_fake_count(fx->fake), 7);
    free(path);
    free(prefix);
}

/* ---- issue 5: progress of a rollout ------------------------------------- */

#define ROLLING "rolling batch=2 max_unavailable=2 threshold=0 auto_rollback"
#define CANARY  "canary count=1 hold=5m then=manual"
#define HALT    "1 agent failed (threshold 0)"
#define HEADER  "deployment 7  deploy web 1.2.0 to production  " ROLLING "  "

/* A task of a scripted rollout document. */
typedef struct {
    const char *agent, *state, *step;
    int batch;
    bool canary;
} s_task_spec_t;

/* How a scripted rollout document stands. */
typedef struct {
    const char *state, *strategy;
    int batch, nbatches;
    const char *halted; /* the halt's reason, or NULL */
    bool waiting;       /* waiting_continue */
} s_doc_spec_t;

/* The deployment.show document of deployment 7 (web 1.2.0 to
 * production) as D says, with TASKS (up to a NULL agent); a failed task
 * has a message. The caller's (free). */
static char *
s_doc(s_doc_spec_t d, const s_task_spec_t *tasks)
{
    json_t *list = json_array();
    for (size_t i = 0; tasks[i].agent; i++) {
        const s_task_spec_t *t = &tasks[i];
        bool failed = streq(t->state, "failed");
        json_array_append_new(
            list,
            json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:b}", "agent", t->agent,
                      "state", t->state, "step", t->step, "live", "", "message",
                      failed ? "health: GET /healthz returned 500" : "",
                      "batch", t->batch, "canary", t->canary));
    }
    json_t *doc = json_pack(
        "{s:i, s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:s, s:b, s:i, s:i, s:o}",
        "id", 7, "app", "web", "version", "1.2.0", "env", "production", "kind",
        "deploy", "state", d.state, "strategy", d.strategy, "halted",
        d.halted != NULL, "halt_reason", d.halted ? d.halted : "",
        "waiting_continue", d.waiting, "batch", d.batch, "nbatches", d.nbatches,
        "tasks", list);
    assert_non_null(doc);
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    return text;
}

#define N_ROLLING 4
#define N_CANARY  4

/* A rolling rollout of 4 agents in 2 batches: the second batch has a
 * failure, the rollout halts and puts the first batch back. SHOWS gets
 * the 4 documents (the caller frees them). */
static void
s_rolling(char *shows[N_ROLLING])
{
    shows[0] =
        s_doc((s_doc_spec_t){"running", ROLLING, 0, 2, NULL, false},
              (const s_task_spec_t[]){{"web-1", "running", "fetch", 0, false},
                                      {"web-2", "sent", "", 0, false},
                                      {"web-3", "pending", "", 1, false},
                                      {"web-4", "pending", "", 1, false},
                                      {0}});
    shows[1] = s_doc(
        (s_doc_spec_t){"running", ROLLING, 1, 2, NULL, false},
        (const s_task_spec_t[]){{"web-1", "succeeded", "health", 0, false},
                                {"web-2", "succeeded", "health", 0, false},
                                {"web-3", "running", "health", 1, false},
                                {"web-4", "failed", "health", 1, false},
                                {0}});
    shows[2] = s_doc(
        (s_doc_spec_t){"running", ROLLING, 1, 2, HALT, false},
        (const s_task_spec_t[]){{"web-1", "reverting", "health", 0, false},
                                {"web-2", "reverted", "health", 0, false},
                                {"web-3", "running", "health", 1, false},
                                {"web-4", "failed", "health", 1, false},
                                {0}});
    shows[3] =
        s_doc((s_doc_spec_t){"rolled_back", ROLLING, 1, 2, HALT, false},
              (const s_task_spec_t[]){{"web-1", "reverted", "health", 0, false},
                                      {"web-2", "reverted", "health", 0, false},
                                      {"web-3", "reverted", "health", 1, false},
                                      {"web-4", "failed", "health", 1, false},
                                      {0}});
}

/* A canary that holds for `continue`, then a cancel. */
static void
s_canary(char *shows[N_CANARY])
{
    shows[0] =
        s_doc((s_doc_spec_t){"running", CANARY, 0, 3, NULL, false},
              (const s_task_spec_t[]){{"web-1", "running", "health", 0, true},
                                      {"web-2", "pending", "", 1, false},
                                      {"web-3", "pending", "", 1, false},
                                      {"web-4", "pending", "", 2, false},
                                      {0}});
    shows[1] =
        s_doc((s_doc_spec_t){"running", CANARY, 1, 3, NULL, true},
              (const s_task_spec_t[]){{"web-1", "succeeded", "health", 0, true},
                                      {"web-2", "pending", "", 1, false},
                                      {"web-3", "pending", "", 1, false},
                                      {"web-4", "pending", "", 2, false},
                                      {0}});
    shows[2] =
        s_doc((s_doc_spec_t){"running", CANARY, 1, 3, NULL, false},
              (const s_task_spec_t[]){{"web-1", "succeeded", "health", 0, true},
                                      {"web-2", "running", "fetch", 1, false},
                                      {"web-3", "pending", "", 1, false},
                                      {"web-4", "pending", "", 2, false},
                                      {0}});
    shows[3] = s_doc(
        (s_doc_spec_t){"cancelled", CANARY, 1, 3, NULL, false},
        (const s_task_spec_t[]){{"web-1", "succeeded", "health", 0, true},
                                {"web-2", "succeeded", "health", 1, false},
                                {"web-3", "pending", "", 1, false},
                                {"web-4", "pending", "", 2, false},
                                {0}});
}

static void
s_free_shows(char **shows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(shows[i]);
    }
}

/* Feeds SHOWS[i] to P and asserts that it prints WANT[i]; then, when END
 * is not NULL, that the end prints END. */
static void
s_assert_progress(progress_t *p, char *const *shows, const char *const *want,
                  size_t n, const char *end)
{
    json_t *doc = NULL;
    for (size_t i = 0; i < n; i++) {
        json_decref(doc);
        doc = json_loads(shows[i], 0, NULL);
        assert_non_null(doc);
        char *text = progress_update(p, doc);
        assert_non_null(text);
        if (!streq(text, want[i])) {
            print_error("document %zu printed:\n%s\n", i, text);
        }
        assert_string_equal(text, want[i]);
        free(text);
    }
    if (end) {
        char *text = progress_end(p, doc);
        assert_non_null(text);
        if (!streq(text, end)) {
            print_error("the end printed:\n%s\n", text);
        }
        assert_string_equal(text, end);
        free(text);
    }
    json_decref(doc);
}

/* The rolling rollout's plain lines, which the binary prints too. */
static const char *const s_rolling_plain[] = {"batch 1/2 started (2 agents)\n"
                                              "web-1: fetch (running)\n"
                                              "web-2: sent\n"
                                              "web-3: pending\n"
                                              "web-4: pending\n",
                                              "",
                                              "web-1: health (succeeded)\n"
                                              "web-2: health (succeeded)\n"
                                              "batch 2/2 started (2 agents)\n"
                                              "web-3: health (running)\n"
                                              "web-4: health (failed)\n",
                                              "web-1: health (reverting)\n"
                                              "web-2: health (reverted)\n"
                                              "halted: " HALT "\n",
                                              "web-1: health (reverted)\n"
                                              "web-3: health (reverted)\n"};

#define ROLLING_END                                                            \
    "AGENT  BATCH   STATE     STEP    LIVE  MESSAGE\n"                         \
    "web-1  1       reverted  health        \n"                                \
    "web-2  1       reverted  health        \n"                                \
    "web-3  2       reverted  health        \n"                                \
    "web-4  2       failed    health        health: GET /healthz returned "    \
    "500\n"                                                                    \
    "deployment 7 rolled_back (halted: " HALT ")\n"

/* Plain: a line per change of a task, a line when a batch starts, when
 * the rollout halts, nothing for a poll that changed nothing; the end is
 * the table (with BATCH) and the outcome with the halt's reason. */
static void
test_progress_plain(void **state)
{
    (void)state;
    char *r[N_ROLLING];
    s_rolling(r);
    char *shows[] = {r[0], r[0], r[1], r[2], r[3]};
    progress_t *p = progress_new(PROGRESS_PLAIN, "7", 0);
    assert_non_null(p);
    s_assert_progress(p, shows, s_rolling_plain, 5, ROLLING_END);
    progress_destroy(&p);
    assert_null(p);
    progress_destroy(&p); /* accepts NULL */
    /* A canary: its batch says so, and the wait for continue is a line
     * (once); a cancelled deployment exits 1. */
    char *c[N_CANARY];
    s_canary(c);
    static const char *const want[] = {
        "batch 1/3 started (1 agent, canary)\n"
        "web-1: health (running)\n"
        "web-2: pending\nweb-3: pending\nweb-4: pending\n",
        "web-1: health (succeeded)\n"
        "waiting for hoist deployment continue 7 (the canary holds)\n",
        "",
        "batch 2/3 started (2 agents)\n"
        "web-2: fetch (running)\n",
        "web-2: health (succeeded)\n"};
    char *cshows[] = {c[0], c[1], c[1], c[2], c[3]};
    p = progress_new(PROGRESS_PLAIN, "7", 0);
    s_assert_progress(p, cshows, want, 5, NULL);
    progress_destroy(&p);
    json_t *doc = json_loads(c[3], 0, NULL);
    assert_int_equal(progress_exit_code(doc), 1);
    json_decref(doc);
    s_free_shows(c, N_CANARY);
    s_free_shows(r, N_ROLLING);
}

/* --json: an event per change, the halt and the wait for continue, the
 * end last; batches 0-based as in deployment.show. */
static void
test_progress_json(void **state)
{
    (void)state;
    char *c[N_CANARY];
    s_canary(c);
    static const char *const want[] = {
        "{\"event\":\"task\",\"agent\":\"web-1\",\"state\":\"running\","
        "\"step\":\"health\",\"batch\":0}\n"
        "{\"event\":\"task\",\"agent\":\"web-2\",\"state\":\"pending\","
        "\"step\":\"\",\"batch\":1}\n"
        "{\"event\":\"task\",\"agent\":\"web-3\",\"state\":\"pending\","
        "\"step\":\"\",\"batch\":1}\n"
        "{\"event\":\"task\",\"agent\":\"web-4\",\"state\":\"pending\","
        "\"step\":\"\",\"batch\":2}\n",
        "{\"event\":\"task\",\"agent\":\"web-1\",\"state\":\"succeeded\","
        "\"step\":\"health\",\"batch\":0}\n"
        "{\"event\":\"waiting_continue\"}\n",
        "",
        "{\"event\":\"task\",\"agent\":\"web-2\",\"state\":\"running\","
        "\"step\":\"fetch\",\"batch\":1}\n",
        "{\"event\":\"task\",\"agent\":\"web-2\",\"state\":\"succeeded\","
        "\"step\":\"health\",\"batch\":1}\n"};
    char *shows[] = {c[0], c[1], c[1], c[2], c[3]};
    progress_t *p = progress_new(PROGRESS_JSON, "7", 0);
    s_assert_progress(p, shows, want, 5,
                      "{\"event\":\"end\",\"state\":\"cancelled\","
                      "\"deployment\":7}\n");
    char *text = progress_refused(p, 2, "no deployment 7");
    assert_string_equal(text, "{\"event\":\"error\",\"exit\":2,\"message\":"
                              "\"no deployment 7\"}\n");
    free(text);
    progress_destroy(&p);
    /* The halt is an event with its reason, and the end carries it. */
    char *r[N_ROLLING];
    s_rolling(r);
    p = progress_new(PROGRESS_JSON, "7", 0);
    s_assert_progress(p, r, (const char *const[]){"", "", "", ""}, 0, NULL);
    json_t *doc = json_loads(r[2], 0, NULL);
    text = progress_update(p, doc);
    assert_contains(text, "{\"event\":\"halted\",\"reason\":\"" HALT "\"}\n");
    free(text);
    text = progress_end(p, doc);
    json_decref(doc);
    assert_string_equal(text, "{\"event\":\"end\",\"state\":\"running\","
                              "\"deployment\":7,\"reason\":\"" HALT "\"}\n");
    free(text);
    progress_destroy(&p);
    /* Not in --json, a refusal prints nothing on stdout. */
    p = progress_new(PROGRESS_PLAIN, "7", 0);
    text = progress_refused(p, 2, "no deployment 7");
    assert_string_equal(text, "");
    free(text);
    progress_destroy(&p);
    s_free_shows(r, N_ROLLING);
    s_free_shows(c, N_CANARY);
}

/* On a terminal: the block (header, batch in progress, halt, rollback
 * count) is redrawn in place only when it changed; a finished batch is
 * printed above it for good. */
static void
test_progress_terminal(void **state)
{
    (void)state;
    char *r[N_ROLLING];
    s_rolling(r);
    static const char *const want[] = {
        "\033[K" HEADER "running\n"
        "\033[Kbatch 1/2 (2 agents)  done 0  failed 0  running 2  "
        "web-1: fetch  web-2: sent\n"
        "\033[J",
        "",
        "\r\033[2A"
        "\033[Kbatch 1/2 (2 agents)  done 2  failed 0  running 0\n"
        "\033[K" HEADER "running\n"
        "\033[Kbatch 2/2 (2 agents)  done 0  failed 1  running 1  "
        "web-3: health\n"
        "\033[J",
        "\r\033[2A"
        "\033[K" HEADER "running\n"
        "\033[Kbatch 2/2 (2 agents)  done 0  failed 1  running 1  "
        "web-3: health\n"
        "\033[Khalted: " HALT "\n"
        "\033[Krolling back: reverted 1/2\n"
        "\033[J",
        "\r\033[4A"
        "\033[Kbatch 2/2 (2 agents)  done 0  failed 1  running 0  "
        "reverted 1\n"
        "\033[K" HEADER "rolled_back\n"
        "\033[Khalted: " HALT "\n"
        "\033[Krolling back: reverted 3/3\n"
        "\033[J"};
    char *shows[] = {r[0], r[0], r[1], r[2], r[3]};
    progress_t *p = progress_new(PROGRESS_TERMINAL, "7", 200);
    s_assert_progress(p, shows, want, 5, ROLLING_END);
    progress_destroy(&p);
    s_free_shows(r, N_ROLLING);
}

/* On a narrow terminal every rewritten line is cut to width - 1 columns
 * (a wrapped line would throw the cursor-up count off). */
static void
test_progress_terminal_width(void **state)
{
    (void)state;
    char *r[N_ROLLING];
    s_rolling(r);
    progress_t *p = progress_new(PROGRESS_TERMINAL, "7", 30);
    for (size_t i = 0; i < N_ROLLING; i++) {
        json_t *doc = json_loads(r[i], 0, NULL);
        char *text = progress_update(p, doc);
        json_decref(doc);
        size_t lines = 0;
        for (const char *l = strstr(text, "\033[K"); l;
             l = strstr(l, "\033[K")) {
            l += 3;
            size_t n = strcspn(l, "\n");
            /* finished batches are not rewritten: they may be longer */
            if (strncmp(l, "batch 1/2 (2 agents)  done 2", 28) != 0 &&
                !strstr(text, "\033[4A")) {
                assert_true(n <= 29);
            }
            lines++;
        }
        assert_true(lines >= 2);
        free(text);
    }
    progress_destroy(&p);
    /* A narrower terminal than PROGRESS_WIDTH_MIN is taken as that. */
    p = progress_new(PROGRESS_TERMINAL, "7", 3);
    json_t *doc = json_loads(r[0], 0, NULL);
    char *text = progress_update(p, doc);
    assert_contains(text, "\033[Kdeployment 7  deplo\n"); /* 19 */
    free(text);
    json_decref(doc);
    progress_destroy(&p);
    s_free_shows(r, N_ROLLING);
}

/* What the controller sends is text, not terminal control: escapes and
 * newlines in names, steps and reasons are shown as '?', and numbers out
 * of range or of the wrong type neither crash nor loop. */
static void
test_progress_hostile(void **state)
{
    (void)state;
    const char *doc_text =
        "{\"id\": \"7\", \"state\": \"running\", \"halted\": true, "
        "\"halt_reason\": \"x\\u001b[2Jy\\nweb-9: health (succeeded)\", "
        "\"batch\": -5, \"nbatches\": 1000000000000000000, \"tasks\": ["
        "{\"agent\": \"ev\\u001b[1Ail\\nweb-8: fetch (running)\", \"state\": "
        "\"running\", \"step\": \"\\r\", \"batch\": 99999999999},"
        "7, {\"agent\": 3, \"batch\": \"x\"}, null]}";
    json_t *doc = json_loads(doc_text, 0, NULL);
    assert_non_null(doc);
    static const progress_mode_t modes[] = {PROGRESS_PLAIN, PROGRESS_TERMINAL,
                                            PROGRESS_JSON};
    for (size_t m = 0; m < 3; m++) {
        progress_t *p = progress_new(modes[m], "7", 80);
        char *text = progress_update(p, doc);
        assert_non_null(text);
        char *end = progress_end(p, doc);
        assert_non_null(end);
        if (modes[m] != PROGRESS_JSON) {
            assert_null(strstr(text, "\033[1A"));
            assert_null(strstr(text, "\033[2J"));
            assert_null(strstr(text, "\nweb-8"));
            assert_null(strstr(text, "\nweb-9"));
            assert_null(strstr(end, "\033[2J"));
            assert_contains(text, "x?[2Jy?web-9");
        }
        if (modes[m] == PROGRESS_PLAIN) {
            assert_contains(text,
                            "ev?[1Ail?web-8: fetch (running): ? (running)\n");
        } else if (modes[m] == PROGRESS_JSON) {
            assert_contains(text, "\\u001B[1Ail\\nweb-8");
            assert_contains(end, "\"deployment\":\"7\"");
        }
        free(text);
        free(end);
        progress_destroy(&p);
    }
    json_decref(doc);
}

/* Puts SHOWS (N of them) in the fake's deployment.show script. */
static void
s_shows(fake_t *f, char *const *shows, size_t n)
{
    pthread_mutex_lock(&f->lock);
    for (size_t i = 0; i < n; i++) {
        f->shows[i] = shows[i];
    }
    f->nshows = n;
    f->next_show = 0;
    pthread_mutex_unlock(&f->lock);
}

/* hoist watch ID, not on a terminal: the plain lines of each change, the
 * table, exit 1 for a rollout that rolled back; only deployment.show
 * ID is asked. */
static void
test_watch_plain(void **state)
{
    fx_t *fx = *state;
    char *r[N_ROLLING];
    s_rolling(r);
    char *shows[] = {r[0], r[0], r[1], r[2], r[3]};
    s_shows(fx->fake, shows, 5);
    tu_run_t run = s_hoist("watch", "7");
    assert_int_equal(run.status, 1);
    char *want = NULL;
    for (size_t i = 0; i < 5; i++) {
        char *more = zsys_sprintf("%s%s", want ? want : "", s_rolling_plain[i]);
        free(want);
        want = more;
    }
    char *all = zsys_sprintf("%s%s", want, ROLLING_END);
    assert_string_equal(run.out, all);
    free(all);
    free(want);
    tu_run_free(&run);
    size_t n = s_fake_count(fx->fake);
    assert_int_equal(n, 5);
    for (size_t i = 0; i < n; i++) {
        s_assert_req(fx->fake, i, "deployment.show", "7", "");
    }
    /* A cancelled deployment also exits 1; a succeeded one 0. */
    char *c[N_CANARY];
    s_canary(c);
    s_shows(fx->fake, &c[3], 1);
    s_hoist_ok(1, "watch", "7");
    const char *ok[] = {SHOW_OK};
    s_shows(fx->fake, (char *const *)ok, 1);
    s_hoist_ok(0, "watch", "7");
    s_free_shows(c, N_CANARY);
    s_free_shows(r, N_ROLLING);
}

/* --json: watch and deploy --wait print the event stream and nothing
 * else on stdout; deploy sends --strategy and --only as they are. */
static void
test_watch_json(void **state)
{
    fx_t *fx = *state;
    char *c[N_CANARY];
    s_canary(c);
    char *shows[] = {c[0], c[1], c[1], c[2], c[3]};
    s_shows(fx->fake, shows, 5);
    tu_run_t r = s_hoist("--json", "watch", "7");
    assert_int_equal(r.status, 1);
    assert_string_equal(
        r.out,
        "{\"event\":\"task\",\"agent\":\"web-1\",\"state\":\"running\","
        "\"step\":\"health\",\"batch\":0}\n"
        "{\"event\":\"task\",\"agent\":\"web-2\",\"state\":\"pending\","
        "\"step\":\"\",\"batch\":1}\n"
        "{\"event\":\"task\",\"agent\":\"web-3\",\"state\":\"pending\","
        "\"step\":\"\",\"batch\":1}\n"
        "{\"event\":\"task\",\"agent\":\"web-4\",\"state\":\"pending\","
        "\"step\":\"\",\"batch\":2}\n"
        "{\"event\":\"task\",\"agent\":\"web-1\",\"state\":\"succeeded\","
        "\"step\":\"health\",\"batch\":0}\n"
        "{\"event\":\"waiting_continue\"}\n"
        "{\"event\":\"task\",\"agent\":\"web-2\",\"state\":\"running\","
        "\"step\":\"fetch\",\"batch\":1}\n"
        "{\"event\":\"task\",\"agent\":\"web-2\",\"state\":\"succeeded\","
        "\"step\":\"health\",\"batch\":1}\n"
        "{\"event\":\"end\",\"state\":\"cancelled\",\"deployment\":7}\n");
    tu_run_free(&r);
    /* deploy --wait --json: the deploy's own reply is not in the stream. */
    char *r4[N_ROLLING];
    s_rolling(r4);
    s_script(fx->fake, (const char *const *)r4, N_ROLLING);
    r = s_hoist_stdout("deploy", "web", "1.2.0", "--env", "production",
                       "--strategy", "rolling:batch=2", "--only", "role=web",
                       "--wait", "--json");
    assert_int_equal(r.status, 1);
    assert_true(strncmp(r.out, "{\"event\":\"task\"", 15) == 0);
    assert_contains(r.out, "{\"event\":\"halted\",\"reason\":\"" HALT "\"}\n");
    assert_contains(r.out, "\n{\"event\":\"end\",\"state\":\"rolled_back\","
                           "\"deployment\":7,\"reason\":\"" HALT "\"}\n");
    assert_null(strstr(r.out, "deployment 7:"));
    tu_run_free(&r);
    size_t base = 5; /* the watch's polls */
    s_assert_req(fx->fake, base, "deploy", "web 1.2.0",
                 "env=production,only=role=web,strategy=rolling:batch=2");
    s_assert_req(fx->fake, base + 1, "deployment.show", "7", "");
    s_free_shows(r4, N_ROLLING);
    s_free_shows(c, N_CANARY);
}

/* A refused poll: its exit and text (stderr); with --json an error event
 * on stdout instead of an end. */
static void
test_watch_refused(void **state)
{
    fx_t *fx = *state;
    s_fake_can(fx->fake, "deployment.show", 2,
               "no deployment 9: see hoist deployments", "{}");
    tu_run_t r = s_hoist("watch", "9");
    assert_int_equal(r.status, 2);
    assert_string_equal(r.out, "hoist: no deployment 9: see hoist "
                               "deployments\n");
    tu_run_free(&r);
    r = s_hoist_stdout("--json", "watch", "9");
    assert_int_equal(r.status, 2);
    assert_string_equal(r.out, "{\"event\":\"error\",\"exit\":2,\"message\":"
                               "\"no deployment 9: see hoist "
                               "deployments\"}\n");
    tu_run_free(&r);
    /* Refused by role: exit 3. */
    s_fake_can_error(fx->fake, "deployment.continue", HOIST_ERR_AUTH,
                     "deployment continue needs the release-manager role");
    s_hoist_ok(3, "deployment", "continue", "9");
    assert_int_equal(s_fake_count(fx->fake), 3);
}

/* On a real terminal (script(1) gives hoist a pty): the block is drawn
 * and rewritten with cursor-up, and the outcome follows. */
static void
test_watch_terminal(void **state)
{
    fx_t *fx = *state;
    if (access("/usr/bin/script", X_OK) != 0) {
        skip(); /* util-linux's script is not installed */
    }
    const char *shows[] = {SHOW_1, SHOW_2, SHOW_OK};
    s_shows(fx->fake, (char *const *)shows, 3);
    char *cmd = zsys_sprintf("exec '%s' watch 7", HOIST_CLI_BIN);
    const char *argv[] = {
        "/usr/bin/timeout", "-k", "5", "60", "/usr/bin/script", "-qec", cmd,
        "/dev/null",        NULL};
    char *config = zsys_sprintf("HOIST_CONFIG=%s", fx->conf);
    const char *env[] = {config, "COLUMNS=100", NULL};
    tu_run_t r = tu_run(argv, env);
    if (r.status != 0) {
        print_error("script exited %d:\n%s\n", r.status, r.out);
    }
    assert_int_equal(r.status, 0);
    assert_contains(r.out, "\033[Kdeployment 7  deploy web 1.2.0 to dev  "
                           "running");
    assert_contains(r.out, "\r\033[2A\033[K");
    assert_contains(r.out, "deployment 7 succeeded");
    assert_null(strstr(r.out, "web-1: fetch (running)")); /* no plain lines */
    tu_run_free(&r);
    free(config);
    free(cmd);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_config_valid, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_config_refused, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_config_missing, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_identity_secret_mode, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_client_call, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_client_refuses_oversized, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_timeout_silent_server, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_timeout_wrong_server_key, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_cli_requests, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_cli_trust_add, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_cli_usage_errors, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_cli_help_lists_all, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_cli_global_flags, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_cli_json_exact, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_cli_exit_codes, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_upload_multichunk, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_upload_controller_chunk_size,
                                        s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_upload_offline_manifest, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_upload_refused, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_upload_constant_memory, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_wait_plain, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_wait_failed, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_wait_live_line, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_wait_deployment_missing, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_keygen_user, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_identity_flag, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_cli_users_add, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_cli_apply_export, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_cli_apply_refused, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_cli_promote_refused, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_cli_promote_wait, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_cli_vars_set, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_cli_vars_refused, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_cli_release_lifecycle, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_cli_exit_codes_issue4, s_setup,
                                        s_teardown),
        cmocka_unit_test(test_progress_plain),
        cmocka_unit_test(test_progress_json),
        cmocka_unit_test(test_progress_terminal),
        cmocka_unit_test(test_progress_terminal_width),
        cmocka_unit_test(test_progress_hostile),
        cmocka_unit_test_setup_teardown(test_watch_plain, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_watch_json, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_watch_refused, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_watch_terminal, s_setup,
                                        s_teardown),
    };
    return cmocka_run_group_tests(tests, s_group_setup, s_group_teardown);
}
