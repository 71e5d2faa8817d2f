/*
 * order: see order.h.
 */
#include "order.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sodium.h>

#include "child.h"
#include "digest.h"
#include "fetch.h"
#include "install.h"
#include "journal.h"
#include "log.h"
#include "manifest.h"
#include "releases.h"
#include "seal.h"
#include "tree.h"

#define PIPE_BUF_CAP (ORDER_FRAME_MAX + 4)
#define MESSAGE_MAX  8192

/* The outcome names of install.h, for outcomes decided here. */
#define REJECTED install_outcome_name(INSTALL_REJECTED)
#define FAILED   install_outcome_name(INSTALL_ABANDONED)
#define ALREADY  install_outcome_name(INSTALL_ALREADY)

#define MASK_MIN 4 /* shorter secrets are not masked in reported output */

typedef enum { PHASE_FETCHING, PHASE_INSTALLING, PHASE_DONE } phase_t;

/* One variable of the order as it arrived: a plain value (NUL-terminated
 * one past LEN), or a secret's sealed box, opened only in the child. */
typedef struct {
    char key[INSTALL_VAR_KEY_MAX + 1];
    uint8_t *value;
    size_t len;
    bool sealed;
} order_var_t;

struct order {
    order_ctx_t ctx;
    uint64_t id; /* of the DeployOrder's envelope, echoed in reports */
    uint64_t deployment;
    bool rollback;
    uint8_t *manifest;
    size_t manifest_len;
    order_var_t *vars;
    size_t n_vars;
    char app[MANIFEST_NAME_MAX + 1];
    char version[MANIFEST_VERSION_MAX + 1];
    uint8_t digest[DIGEST_BYTES];
    uint64_t size;
    char cache[PATH_MAX];
    phase_t phase;
    fetch_t *fetch;
    uint64_t last_chunk; /* or the time the window was last (re)filled */
    unsigned strays;     /* chunks out of step */
    unsigned refusals;   /* fetches refused as out of place, in a row */
    bool paused;         /* no requests until the next welcome */
    pid_t child;         /* 0 when none or reaped */
    int fd;              /* the child's pipe, -1 when closed */
    uint8_t buf[PIPE_BUF_CAP];
    size_t buf_len;
    bool result_sent;
};

/* ---- reports ------------------------------------------------------------- */

/* Sends Result{DEPLOYMENT, ...} in an envelope of id ID through CTX. */
static void
s_answer(const order_ctx_t *ctx, uint64_t id, uint64_t deployment,
         bool rollback, const char *outcome, const char *failed_step,
         const char *message, const char *live)
{
    Hoist__Result r = HOIST__RESULT__INIT;
    r.deployment = deployment;
    r.rollback = rollback;
    r.outcome = (char *)outcome;
    r.failed_step = (char *)failed_step;
    r.message = (char *)message;
    r.live = (char *)live;
    envelope_t e = HOIST__ENVELOPE__INIT;
    e.id = id;
    e.body_case = HOIST__ENVELOPE__BODY_RESULT;
    e.result = &r;
    if (strcmp(outcome, install_outcome_name(INSTALL_INSTALLED)) == 0 ||
        strcmp(outcome, ALREADY) == 0) {
        log_info("deployment %llu: %s (live: %s)",
                 (unsigned long long)deployment, outcome, live);
    } else {
        log_warn("deployment %llu: %s%s%s: %s", (unsigned long long)deployment,
                 outcome, failed_step[0] ? " at " : "", failed_step, message);
    }
    ctx->send(ctx->arg, &e);
}

/* The version live for APP under ROOT (from its journal) into OUT. */
static void
s_live(const char *root, const char *app, char *out, size_t len)
{
    out[0] = '\0';
    journal_t *j = calloc(1, sizeof *j);
    releases_t *rel = releases_open(root, app, NULL);
    if (j && rel &&
        journal_load(releases_journal_path(rel), app, j, NULL) == HOIST_OK) {
        snprintf(out, len, "%s", j->current);
    }
    releases_destroy(&rel);
    free(j);
}

/* Ends O in the daemon with OUTCOME at STEP. */
static void
s_fail(order_t *o, const char *outcome, const char *step, const char *message)
{
    char live[MANIFEST_VERSION_MAX + 1];
    s_live(o->ctx.root, o->app, live, sizeof live);
    s_answer(&o->ctx, o->id, o->deployment, o->rollback, outcome, step, message,
             live);
    o->result_sent = true;
    fetch_destroy(&o->fetch);
    o->phase = PHASE_DONE;
}

static void
s_progress(order_t *o, const char *step, const char *detail)
{
    Hoist__Progress p = HOIST__PROGRESS__INIT;
    p.deployment = o->deployment;
    p.step = (char *)step;
    p.detail = (char *)detail;
    envelope_t e = HOIST__ENVELOPE__INIT;
    e.id = o->id;
    e.body_case = HOIST__ENVELOPE__BODY_PROGRESS;
    e.progress = &p;
    log_info("deployment %llu: %s %s: %s%s%s",
             (unsigned long long)o->deployment, o->app, o->version, step,
             detail[0] ? ": " : "", detail);
    o->ctx.send(o->ctx.arg, &e);
}

/* ---- the child ----------------------------------------------------------- */

typedef struct {
    const order_t *o;
    int fd;
} child_t;

/* Writes ENVELOPE as one frame to the pipe. Failures are ignored: the
 * parent then reports the install as ended without a result. */
static void
s_child_send(child_t *c, envelope_t *e)
{
    size_t len = 0;
    uint8_t *body = envelope_pack(e, &len);
    if (!body || len > ORDER_FRAME_MAX) {
        free(body);
        return;
    }
    uint8_t *frame = malloc(len + 4);
    if (frame) {
        frame[0] = (uint8_t)(len >> 24);
        frame[1] = (uint8_t)(len >> 16);
        frame[2] = (uint8_t)(len >> 8);
        frame[3] = (uint8_t)len;
        memcpy(frame + 4, body, len);
        for (size_t done = 0; done < len + 4;) {
            ssize_t n = write(c->fd, frame + done, len + 4 - done);
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n <= 0) {
                break;
            }
            done += (size_t)n;
        }
    }
    free(frame);
    free(body);
}

/* install_opts_t.on_step: one Progress frame per step. */
static void
s_child_step(void *arg, const char *step)
{
    child_t *c = arg;
    Hoist__Progress p = HOIST__PROGRESS__INIT;
    p.step = (char *)step;
    envelope_t e = HOIST__ENVELOPE__INIT;
    e.body_case = HOIST__ENVELOPE__BODY_PROGRESS;
    e.progress = &p;
    s_child_send(c, &e);
}

static void
s_child_result(child_t *c, const char *outcome, const char *step,
               const char *message, const char *live)
{
    Hoist__Result r = HOIST__RESULT__INIT;
    r.outcome = (char *)outcome;
    r.failed_step = (char *)step;
    r.message = (char *)message;
    r.live = (char *)live;
    envelope_t e = HOIST__ENVELOPE__INIT;
    e.body_case = HOIST__ENVELOPE__BODY_RESULT;
    e.result = &r;
    s_child_send(c, &e);
}

/* Checks the fetched bytes as they are on disk against the manifest's
 * size and digest and moves them to ROOT/cache/<hex> (path into PATH). */
static hoist_err_t
s_child_artifact(const order_t *o, char *path, size_t len, hoist_error_t *err)
{
    fetch_t *f = fetch_new(o->cache, o->digest, o->size, NULL, err);
    if (!f) {
        return err->code;
    }
    hoist_err_t rc = HOIST_OK;
    if (!fetch_complete(f)) {
        rc = error_set(err, HOIST_ERR_STATE,
                       "the artifact in %s is incomplete (%llu of %llu "
                       "bytes)",
                       o->cache, (unsigned long long)fetch_received(f),
                       (unsigned long long)o->size);
    } else {
        rc = fetch_finish(f, path, len, err);
    }
    fetch_destroy(&f);
    return rc;
}

/* Writes the manifest's bytes to a private file under ROOT/cache. */
static hoist_err_t
s_child_manifest(const order_t *o, char *path, size_t len, hoist_error_t *err)
{
    if (tree_mkdirs(o->cache, 0700, err) != HOIST_OK) {
        return err->code;
    }
    snprintf(path, len, "%s/.manifest-XXXXXX", o->cache);
    int fd = mkostemp(path, O_CLOEXEC);
    if (fd < 0) {
        return error_errno(err, error_from_errno(errno), errno, "create %s",
                           path);
    }
    ssize_t n = write(fd, o->manifest, o->manifest_len);
    int errnum = errno;
    close(fd);
    if (n != (ssize_t)o->manifest_len) {
        unlink(path);
        return error_errno(err, error_from_errno(errnum), errnum, "write %s",
                           path);
    }
    return HOIST_OK;
}

/* Fills VARS with the order's variables for the install: plain values as
 * they are, secrets opened with the agent's key pair into PLAIN[i]
 * (sodium memory, the caller's to seal_free; NULL for a plain one). An
 * error names the secret whose box does not open. */
static hoist_err_t
s_child_vars(const order_t *o, install_var_t *vars, uint8_t **plain,
             hoist_error_t *err)
{
    for (size_t i = 0; i < o->n_vars; i++) {
        const order_var_t *v = &o->vars[i];
        size_t len = 0;
        vars[i].key = v->key;
        vars[i].value = (const char *)v->value;
        vars[i].len = v->len;
        if (!v->sealed) {
            continue;
        }
        if (!o->ctx.cert) {
            return error_set(err, HOIST_ERR_KEY,
                             "secret %s: this agent has no key to open it",
                             v->key);
        }
        if (seal_open(zcert_public_key(o->ctx.cert),
                      zcert_secret_key(o->ctx.cert), v->value, v->len,
                      &plain[i], &len, err) != HOIST_OK) {
            error_prefix(err, "secret %s", v->key);
            return err->code;
        }
        vars[i].value = (const char *)plain[i];
        vars[i].len = len;
    }
    return HOIST_OK;
}

/* Masks in MSG every occurrence of a secret's value of MASK_MIN bytes or
 * more (PLAIN[i] set), so that a hook that prints one does not send it
 * to the controller's database and logs. Best effort: a value the report
 * altered (control characters made '?') or cut is not recognised. */
static void
s_mask(char *msg, const install_var_t *vars, uint8_t *const *plain, size_t n)
{
    size_t len = strlen(msg);
    for (size_t i = 0; i < n; i++) {
        if (!plain[i] || vars[i].len < MASK_MIN) {
            continue;
        }
        char *at = msg;
        while ((at = memmem(at, len - (size_t)(at - msg), vars[i].value,
                            vars[i].len)) != NULL) {
            memset(at, '*', vars[i].len);
            at += vars[i].len;
        }
    }
}

/* Runs the install (or rollback) with the variables VARS, of which the
 * secrets are marked in PLAIN, and reports its outcome. */
static void
s_child_run(child_t *c, const char *manifest, const char *artifact,
            const install_var_t *vars, uint8_t *const *plain)
{
    const order_t *o = c->o;
    install_opts_t opts;
    install_opts_default(&opts);
    opts.vars = vars;
    opts.n_vars = o->n_vars;
    opts.root = o->ctx.root;
    opts.env = o->ctx.env;
    opts.app = o->app;
    opts.trusted = o->ctx.trusted;
    opts.n_trusted = o->ctx.n_trusted;
    opts.hook_user = o->ctx.hook_user;
    opts.keep = o->ctx.keep ? o->ctx.keep : opts.keep;
    opts.on_step = s_child_step;
    opts.step_arg = c;
    install_report_t rep;
    hoist_error_t err = {0};
    hoist_err_t rc =
        o->rollback ? install_rollback(&opts, manifest, &rep, &err)
                    : install_release(&opts, manifest, artifact, &rep, &err);
    unlink(manifest); /* the result is the child's last act */
    static char message[MESSAGE_MAX];
    message[0] = '\0';
    if (rc != HOIST_OK) {
        snprintf(message, sizeof message, "%s%s%s%s%s", err.msg,
                 rep.output[0] ? "\n--- end of the " : "",
                 rep.output[0] ? rep.failed_step : "",
                 rep.output[0] ? " hook's output ---\n" : "", rep.output);
    }
    s_mask(message, vars, plain, o->n_vars);
    s_child_result(c, install_outcome_name(rep.outcome), rep.failed_step,
                   message, rep.live);
    /* Hook output may hold what the mask did not recognise. */
    sodium_memzero(message, sizeof message);
    sodium_memzero(&rep, sizeof rep);
}

/* Opens the order's secrets, runs the install and wipes them. A box that
 * does not open (it opened in the daemon: the key changed since) is a
 * rejection, with nothing installed. */
static void
s_child_install(child_t *c, const char *manifest, const char *artifact)
{
    const order_t *o = c->o;
    size_t n = o->n_vars ? o->n_vars : 1;
    install_var_t *vars = calloc(n, sizeof *vars);
    uint8_t **plain = calloc(n, sizeof *plain);
    hoist_error_t err = {0};
    char live[MANIFEST_VERSION_MAX + 1];
    if (!vars || !plain) {
        unlink(manifest);
        s_child_result(c, FAILED, "install", "out of memory", "");
    } else if (s_child_vars(o, vars, plain, &err) != HOIST_OK) {
        unlink(manifest);
        s_live(o->ctx.root, o->app, live, sizeof live);
        s_child_result(c, REJECTED, "vars", err.msg, live);
    } else {
        s_child_run(c, manifest, artifact, vars, plain);
    }
    for (size_t i = 0; plain && vars && i < o->n_vars; i++) {
        seal_free(&plain[i], vars[i].len);
    }
    free(plain);
    free(vars);
}

/* The install process (child.h: what every child does first). It
 * disables core dumps while secrets are in its memory. */
static _Noreturn void
s_child(const order_t *o, int wfd, pid_t parent)
{
    child_enter(wfd, parent);
    for (size_t i = 0; i < o->n_vars; i++) {
        if (o->vars[i].sealed) {
            /* No core file and no same-user ptrace while secrets are in
             * memory (hooks are exec'd, which resets it for them). */
            prctl(PR_SET_DUMPABLE, 0);
            break;
        }
    }
    child_t c = {.o = o, .fd = CHILD_FD};
    char artifact[PATH_MAX + 80] = "", manifest[PATH_MAX + 32];
    hoist_error_t err = {0};
    if (!o->rollback &&
        s_child_artifact(o, artifact, sizeof artifact, &err) != HOIST_OK) {
        char live[MANIFEST_VERSION_MAX + 1];
        s_live(o->ctx.root, o->app, live, sizeof live);
        bool bad = err.code == HOIST_ERR_DIGEST || err.code == HOIST_ERR_SIZE;
        s_child_result(&c, bad ? REJECTED : FAILED, "fetch", err.msg, live);
        _exit(0);
    }
    if (s_child_manifest(o, manifest, sizeof manifest, &err) != HOIST_OK) {
        s_child_result(&c, FAILED, "verify", err.msg, "");
        _exit(0);
    }
    s_child_install(&c, manifest, artifact);
    _exit(0);
}

/* ---- the child, seen from the daemon ------------------------------------- */

long
order_frame_take(const uint8_t *buf, size_t len, const uint8_t **body,
                 size_t *body_len)
{
    if (len < 4) {
        return 0;
    }
    size_t n = (size_t)buf[0] << 24 | (size_t)buf[1] << 16 |
               (size_t)buf[2] << 8 | (size_t)buf[3];
    if (n == 0 || n > ORDER_FRAME_MAX) {
        return -1;
    }
    if (len < n + 4) {
        return 0;
    }
    *body = buf + 4;
    *body_len = n;
    return (long)(n + 4);
}

/* Forwards one Progress or Result from the child with O's ids. */
static void
s_child_message(order_t *o, const uint8_t *body, size_t len)
{
    hoist_error_t err = {0};
    envelope_t *e = envelope_unpack(body, len, ORDER_FRAME_MAX, &err);
    if (!e) {
        log_warn("deployment %llu: the install process sent garbage: %s",
                 (unsigned long long)o->deployment, err.msg);
        return;
    }
    if (e->body_case == HOIST__ENVELOPE__BODY_PROGRESS) {
        s_progress(o, e->progress->step, "");
    } else if (e->body_case == HOIST__ENVELOPE__BODY_RESULT &&
               !o->result_sent) {
        Hoist__Result *r = e->result;
        s_answer(&o->ctx, o->id, o->deployment, o->rollback, r->outcome,
                 r->failed_step, r->message, r->live);
        o->result_sent = true;
    }
    envelope_destroy(&e);
}

/* Reaps the child once its pipe is closed; ends O when it has. */
static void
s_reap(order_t *o)
{
    int st = 0;
    pid_t got = waitpid(o->child, &st, WNOHANG);
    if (got == 0 || (got < 0 && errno == EINTR)) {
        return; /* closing its pipe was its last act: see the next tick */
    }
    o->child = 0;
    if (!o->result_sent) {
        char msg[256];
        if (got > 0 && WIFSIGNALED(st)) {
            snprintf(msg, sizeof msg,
                     "the install process was killed by "
                     "signal %d before it reported; the next install of %s "
                     "finishes or undoes its step",
                     WTERMSIG(st), o->app);
        } else {
            snprintf(msg, sizeof msg,
                     "the install process ended (status "
                     "%d) before it reported; the next install of %s "
                     "finishes or undoes its step",
                     got > 0 ? WEXITSTATUS(st) : -1, o->app);
        }
        s_fail(o, FAILED, "install", msg);
    }
    o->phase = PHASE_DONE;
}

/* Stops watching and closes the child's pipe. */
static void
s_close_pipe(order_t *o)
{
    if (o->fd < 0) {
        return;
    }
    zmq_pollitem_t item = {NULL, o->fd, ZMQ_POLLIN, 0};
    zloop_poller_end(o->ctx.loop, &item);
    close(o->fd);
    o->fd = -1;
}

/* Takes every complete frame out of the buffer. False when the child
 * sent a frame that cannot be one. */
static bool
s_frames(order_t *o)
{
    const uint8_t *body;
    size_t len;
    long n;
    while ((n = order_frame_take(o->buf, o->buf_len, &body, &len)) > 0) {
        s_child_message(o, body, len);
        memmove(o->buf, o->buf + n, o->buf_len - (size_t)n);
        o->buf_len -= (size_t)n;
    }
    return n == 0;
}

/* zloop poller: the child wrote, or closed its end (it exited). */
static int
s_on_pipe(zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    order_t *o = arg;
    for (;;) {
        ssize_t n = read(o->fd, o->buf + o->buf_len, PIPE_BUF_CAP - o->buf_len);
        if (n > 0) {
            o->buf_len += (size_t)n;
            if (s_frames(o)) {
                continue;
            }
            log_error("deployment %llu: the install process sent an "
                      "oversized report; stopping it",
                      (unsigned long long)o->deployment);
            kill(o->child, SIGKILL);
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && errno == EAGAIN) {
            return 0;
        }
        s_close_pipe(o);
        s_reap(o);
        return 0;
    }
}

/* Starts the install process on the fetched artifact. */
static void
s_install(order_t *o)
{
    fetch_destroy(&o->fetch); /* the child verifies the bytes on disk */
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) {
        s_fail(o, FAILED, "install", "cannot make a pipe for the install");
        return;
    }
    pid_t parent = getpid(), pid = fork();
    if (pid == 0) {
        close(p[0]);
        s_child(o, p[1], parent);
    }
    close(p[1]);
    if (pid < 0) {
        close(p[0]);
        s_fail(o, FAILED, "install", "cannot start the install process");
        return;
    }
    o->child = pid;
    o->fd = p[0];
    fcntl(o->fd, F_SETFL, fcntl(o->fd, F_GETFL) | O_NONBLOCK);
    zmq_pollitem_t item = {NULL, o->fd, ZMQ_POLLIN, 0};
    zloop_poller(o->ctx.loop, &item, s_on_pipe, o);
    zloop_poller_set_tolerant(o->ctx.loop, &item);
    o->phase = PHASE_INSTALLING;
}

/* ---- the fetch ----------------------------------------------------------- */

/* Sends FetchRequests until the window is full; forgets them all if one
 * cannot be sent (the next tick asks again). */
static void
s_pump(order_t *o, uint64_t now)
{
    if (o->phase != PHASE_FETCHING || o->paused || !o->ctx.online(o->ctx.arg)) {
        return;
    }
    if (fetch_outstanding(o->fetch) == 0) {
        o->last_chunk = now; /* the stall clock starts with the window */
    }
    fetch_req_t reqs[FETCH_WINDOW_CHUNKS];
    size_t n;
    while ((n = fetch_next(o->fetch, reqs, FETCH_WINDOW_CHUNKS)) > 0) {
        for (size_t i = 0; i < n; i++) {
            Hoist__FetchRequest r = HOIST__FETCH_REQUEST__INIT;
            r.digest.data = o->digest;
            r.digest.len = DIGEST_BYTES;
            r.offset = reqs[i].offset;
            r.length = reqs[i].length;
            envelope_t e = HOIST__ENVELOPE__INIT;
            e.id = ORDER_FETCH_ID(fetch_epoch(o->fetch));
            e.body_case = HOIST__ENVELOPE__BODY_FETCH;
            e.fetch = &r;
            if (o->ctx.send(o->ctx.arg, &e) != HOIST_OK) {
                fetch_reset(o->fetch);
                return;
            }
        }
    }
}

/* Opens (or resumes) the fetch into ROOT/cache. */
static void
s_fetch_begin(order_t *o, uint64_t now)
{
    hoist_error_t err = {0};
    char detail[128];
    if (tree_mkdirs(o->cache, 0700, &err) != HOIST_OK ||
        !(o->fetch = fetch_new(o->cache, o->digest, o->size, NULL, &err))) {
        s_fail(o, FAILED, "fetch", err.msg);
        return;
    }
    if (fetch_received(o->fetch) > 0) {
        snprintf(detail, sizeof detail, "resuming at %llu of %llu bytes",
                 (unsigned long long)fetch_received(o->fetch),
                 (unsigned long long)o->size);
    } else {
        snprintf(detail, sizeof detail, "%llu bytes",
                 (unsigned long long)o->size);
    }
    s_progress(o, "fetch", detail);
    if (fetch_complete(o->fetch)) {
        s_install(o);
    } else {
        s_pump(o, now);
    }
}

/* ---- the order ----------------------------------------------------------- */

/* Frees O's variables (a plain value is wiped too: cheap, and the
 * distinction is the controller's to keep right). */
static void
s_free_vars(order_t *o)
{
    for (size_t i = 0; o->vars && i < o->n_vars; i++) {
        if (o->vars[i].value) {
            sodium_memzero(o->vars[i].value, o->vars[i].len);
        }
        free(o->vars[i].value);
    }
    free(o->vars);
    o->vars = NULL;
    o->n_vars = 0;
}

/* Copies DEPLOY's variables (checked by s_check_vars) into O; false when
 * out of memory. */
static bool
s_copy_vars(order_t *o, const Hoist__DeployOrder *deploy)
{
    if (deploy->n_vars == 0) {
        return true;
    }
    o->vars = calloc(deploy->n_vars, sizeof *o->vars);
    if (!o->vars) {
        return false;
    }
    o->n_vars = deploy->n_vars;
    for (size_t i = 0; i < deploy->n_vars; i++) {
        const Hoist__Var *v = deploy->vars[i];
        order_var_t *x = &o->vars[i];
        snprintf(x->key, sizeof x->key, "%s", v->key);
        x->sealed = v->sealed;
        x->len = v->value.len;
        if (!(x->value = malloc(v->value.len + 1))) {
            return false;
        }
        if (v->value.len > 0) {
            memcpy(x->value, v->value.data, v->value.len);
        }
        x->value[v->value.len] = '\0';
    }
    return true;
}

/* Checks one variable of an order: its name, and its value, opening a
 * secret's box with the agent's key pair (the plaintext is wiped at
 * once: the child opens it again when it needs it). */
static hoist_err_t
s_check_var(const order_ctx_t *ctx, const Hoist__Var *v, hoist_error_t *err)
{
    if (!v->key || !install_var_key_valid(v->key)) {
        return error_set(err, HOIST_ERR_USAGE,
                         "variable '%.80s' is not [A-Z_][A-Z0-9_]{0,63} or "
                         "starts with HOIST_",
                         v->key ? v->key : "");
    }
    const uint8_t *value = v->value.data;
    size_t len = v->value.len;
    uint8_t *plain = NULL;
    if (v->sealed && !ctx->cert) {
        return error_set(err, HOIST_ERR_KEY,
                         "secret %s: this agent has no key to open it", v->key);
    }
    if (v->sealed &&
        seal_open(zcert_public_key(ctx->cert), zcert_secret_key(ctx->cert),
                  value, len, &plain, &len, err) != HOIST_OK) {
        error_prefix(err,
                     "secret %s does not open with this agent's key "
                     "(sealed to another agent, or altered)",
                     v->key);
        return err->code;
    }
    hoist_err_t rc = HOIST_OK;
    if (v->sealed) {
        value = plain;
    }
    if (len > INSTALL_VAR_VALUE_MAX || (len > 0 && memchr(value, '\0', len))) {
        rc = error_set(err, HOIST_ERR_LIMIT,
                       "variable %s: its value is over %d bytes or holds a "
                       "NUL byte",
                       v->key, INSTALL_VAR_VALUE_MAX);
    }
    seal_free(&plain, len);
    return rc;
}

/* Checks DEPLOY's variables: how many, each name once, each value. */
static hoist_err_t
s_check_vars(const order_ctx_t *ctx, const Hoist__DeployOrder *d,
             hoist_error_t *err)
{
    if (d->n_vars > INSTALL_VARS_MAX) {
        return error_set(err, HOIST_ERR_LIMIT,
                         "the order carries %zu variables; at most %d",
                         d->n_vars, INSTALL_VARS_MAX);
    }
    for (size_t i = 0; i < d->n_vars; i++) {
        hoist_err_t rc = s_check_var(ctx, d->vars[i], err);
        if (rc != HOIST_OK) {
            return rc;
        }
        for (size_t k = 0; k < i; k++) {
            if (strcmp(d->vars[k]->key, d->vars[i]->key) == 0) {
                return error_set(err, HOIST_ERR_USAGE,
                                 "variable %s is given twice", d->vars[i]->key);
            }
        }
    }
    return HOIST_OK;
}

/* A new order for the verified manifest M of DEPLOY. */
static order_t *
s_new(const order_ctx_t *ctx, uint64_t id, const Hoist__DeployOrder *deploy,
      const manifest_t *m)
{
    order_t *o = calloc(1, sizeof *o);
    if (!o || !(o->manifest = malloc(deploy->manifest.len))) {
        free(o);
        return NULL;
    }
    memcpy(o->manifest, deploy->manifest.data, deploy->manifest.len);
    o->manifest_len = deploy->manifest.len;
    if (!s_copy_vars(o, deploy)) {
        s_free_vars(o);
        free(o->manifest);
        free(o);
        return NULL;
    }
    o->ctx = *ctx;
    o->id = id;
    o->deployment = deploy->deployment;
    o->rollback = deploy->rollback;
    snprintf(o->app, sizeof o->app, "%s", manifest_app(m));
    snprintf(o->version, sizeof o->version, "%s", manifest_version(m));
    memcpy(o->digest, manifest_artifact_digest(m), DIGEST_BYTES);
    o->size = manifest_artifact_size(m);
    snprintf(o->cache, sizeof o->cache, "%s/cache", ctx->root);
    o->fd = -1;
    o->phase = PHASE_FETCHING;
    return o;
}

/* Verifies DEPLOY's manifest. NULL (answered) when it is refused or when
 * its release is live already. */
static manifest_t *
s_admit(const order_ctx_t *ctx, uint64_t id, const Hoist__DeployOrder *d)
{
    hoist_error_t err = {0};
    char live[MANIFEST_VERSION_MAX + 1];
    manifest_t *m = NULL;
    if (d->manifest.len == 0 || d->manifest.len > MANIFEST_MAX_BYTES) {
        error_set(&err, HOIST_ERR_MANIFEST,
                  "the manifest is empty or "
                  "larger than %d bytes",
                  MANIFEST_MAX_BYTES);
    } else if ((m = manifest_verify(d->manifest.data, d->manifest.len,
                                    ctx->trusted, ctx->n_trusted, &err)) &&
               !manifest_env_allowed(m, ctx->env)) {
        error_set(&err, HOIST_ERR_ENV,
                  "%s %s may not run in environment "
                  "'%s'",
                  manifest_app(m), manifest_version(m), ctx->env);
        manifest_destroy(&m);
    }
    if (!m) {
        s_answer(ctx, id, d->deployment, d->rollback, REJECTED, "verify",
                 err.msg, "");
        return NULL;
    }
    s_live(ctx->root, manifest_app(m), live, sizeof live);
    if (s_check_vars(ctx, d, &err) != HOIST_OK) {
        char msg[sizeof err.msg + 64];
        snprintf(msg, sizeof msg, "%s; nothing was installed", err.msg);
        s_answer(ctx, id, d->deployment, d->rollback, REJECTED, "vars", msg,
                 live);
        manifest_destroy(&m);
        return NULL;
    }
    if (strcmp(live, manifest_version(m)) == 0) {
        s_answer(ctx, id, d->deployment, d->rollback, ALREADY, "", "", live);
        manifest_destroy(&m);
    }
    return m;
}

order_t *
order_start(const order_ctx_t *ctx, uint64_t id,
            const Hoist__DeployOrder *deploy, uint64_t now)
{
    manifest_t *m = s_admit(ctx, id, deploy);
    if (!m) {
        return NULL;
    }
    order_t *o = s_new(ctx, id, deploy, m);
    manifest_destroy(&m);
    if (!o) {
        s_answer(ctx, id, deploy->deployment, deploy->rollback, FAILED, "fetch",
                 "out of memory", "");
        return NULL;
    }
    log_info("deployment %llu: %s %s %s", (unsigned long long)o->deployment,
             o->rollback ? "rolling back to" : "installing", o->app,
             o->version);
    if (o->rollback) {
        s_install(o); /* a kept release: nothing to fetch */
    } else {
        s_fetch_begin(o, now);
    }
    if (o->phase == PHASE_DONE) {
        order_destroy(&o);
    }
    return o;
}

void
order_destroy(order_t **p)
{
    if (!p || !*p) {
        return;
    }
    order_t *o = *p;
    if (o->child > 0 && !o->result_sent) {
        log_warn("deployment %llu: stopping the install of %s %s; the next "
                 "start finishes or undoes its step",
                 (unsigned long long)o->deployment, o->app, o->version);
        kill(o->child, SIGKILL);
    }
    /* A child that reported is exiting: its result was its last act. */
    while (o->child > 0 && waitpid(o->child, NULL, 0) < 0 && errno == EINTR) {
    }
    s_close_pipe(o);
    fetch_destroy(&o->fetch);
    s_free_vars(o);
    free(o->manifest);
    free(o);
    *p = NULL;
}

uint64_t
order_deployment(const order_t *o)
{
    return o->deployment;
}

bool
order_rollback(const order_t *o)
{
    return o->rollback;
}

bool
order_done(const order_t *o)
{
    return o->phase == PHASE_DONE;
}

bool
order_reported(const order_t *o)
{
    return o->result_sent;
}

/* A chunk that fits the window: written and hashed; the window moves. */
static void
s_accept_chunk(order_t *o, const Hoist__Chunk *c, uint64_t now)
{
    hoist_error_t err = {0};
    hoist_err_t rc =
        fetch_chunk(o->fetch, c->offset, c->data.data, c->data.len, &err);
    if (rc == HOIST_ERR_PROTOCOL && ++o->strays <= ORDER_STRAYS_MAX) {
        log_warn("deployment %llu: %s; asking again",
                 (unsigned long long)o->deployment, err.msg);
        fetch_reset(o->fetch);
        s_pump(o, now);
        return;
    }
    if (rc != HOIST_OK) {
        s_fail(o, FAILED, "fetch", err.msg);
        return;
    }
    o->refusals = 0;
    if (fetch_complete(o->fetch)) {
        s_install(o);
    } else {
        s_pump(o, now);
    }
}

void
order_on_chunk(order_t *o, uint64_t id, const Hoist__Chunk *c, uint64_t now)
{
    if (o->phase != PHASE_FETCHING || !o->fetch) {
        return; /* late: the transfer is over */
    }
    if (id != ORDER_FETCH_ID(fetch_epoch(o->fetch))) {
        return; /* answers a request forgotten by a reset */
    }
    if (c->digest.len != DIGEST_BYTES ||
        memcmp(c->digest.data, o->digest, DIGEST_BYTES) != 0) {
        log_warn("deployment %llu: dropped a chunk of another artifact",
                 (unsigned long long)o->deployment);
        return;
    }
    o->last_chunk = now;
    if (c->data.len == 0) {
        char msg[256];
        snprintf(msg, sizeof msg,
                 "the controller's copy of the artifact "
                 "ends at %llu bytes, but the manifest says %llu",
                 (unsigned long long)c->offset, (unsigned long long)o->size);
        s_fail(o, FAILED, "fetch", msg);
        return;
    }
    s_accept_chunk(o, c, now);
}

order_error_t
order_on_error(order_t *o, uint64_t id, const Hoist__Error *e)
{
    if (o->phase != PHASE_FETCHING || !o->fetch ||
        id != ORDER_FETCH_ID(fetch_epoch(o->fetch))) {
        return ORDER_ERROR_NOT_OURS;
    }
    const char *text = e->message ? e->message : "";
    if (e->code == HOIST_ERR_PROTOCOL && ++o->refusals <= ORDER_STRAYS_MAX) {
        log_warn("deployment %llu: the controller refused a fetch (%s); "
                 "asking again after its next welcome",
                 (unsigned long long)o->deployment, text);
        fetch_reset(o->fetch); /* its other answers are of an old epoch */
        o->paused = true;
        return ORDER_ERROR_RETRY;
    }
    char msg[1024];
    snprintf(msg, sizeof msg,
             "the controller could not send the artifact: %s (%s)", text,
             hoist_strerror((hoist_err_t)e->code));
    s_fail(o, FAILED, "fetch", msg);
    return ORDER_ERROR_FAILED;
}

void
order_on_online(order_t *o, uint64_t now)
{
    if (o->phase == PHASE_FETCHING && o->fetch) {
        o->paused = false;
        fetch_reset(o->fetch);
        s_pump(o, now);
    }
}

void
order_tick(order_t *o, uint64_t now)
{
    uint64_t stall = o->ctx.stall_ms ? o->ctx.stall_ms : ORDER_STALL_MS;
    if (o->phase == PHASE_FETCHING && o->fetch) {
        if (fetch_outstanding(o->fetch) > 0 && now - o->last_chunk >= stall) {
            log_warn("deployment %llu: no chunk for %llu ms; asking again "
                     "from byte %llu",
                     (unsigned long long)o->deployment,
                     (unsigned long long)stall,
                     (unsigned long long)fetch_received(o->fetch));
            fetch_reset(o->fetch);
        }
        s_pump(o, now);
    }
    if (o->child > 0 && o->fd < 0) {
        s_reap(o);
    }
}
