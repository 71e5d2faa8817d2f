/*
 * drill: see drill.h. The daemon side (drill_on_order, the pipe, the kept
 * results) is at the bottom; the child that runs the hook and the health
 * check is in the middle.
 */
#include "drill.h"

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

#include "health.h"
#include "child.h"
#include "hooks.h"
#include "journal.h"
#include "lockfile.h"
#include "log.h"
#include "manifest.h"
#include "monotime.h"
#include "order.h"
#include "releases.h"
#include "spec.h"

#define PIPE_BUF_CAP (ORDER_FRAME_MAX + 4)
#define SPEC_FILE    "hoist.yml"
#define LOCK_FILE    ".lock" /* the lock install.c takes for each install */
#define OUTPUT_MAX   (16u * 1024u) /* hook output read, before the tail */

static const char *s_outcome_names[] = {
    [DRILL_OK] = "ok",           [DRILL_FAILED] = "failed",
    [DRILL_NO_HOOK] = "no-hook", [DRILL_NO_RELEASE] = "no-release",
    [DRILL_BUSY] = "busy",
};

/* One answered order, kept so that it is never run twice. */
typedef struct {
    bool used;
    uint64_t drill;
    char app[MANIFEST_NAME_MAX + 1];
    char hook[DRILL_HOOK_MAX];
    char outcome[16];
    char message[DRILL_MESSAGE_MAX + 1];
    char live[MANIFEST_VERSION_MAX + 1];
    uint64_t hook_ms, health_ms;
} kept_t;

struct drill {
    drill_ctx_t ctx;
    /* the order in hand; child 0 and fd -1 when none */
    uint64_t id, drill;
    char app[MANIFEST_NAME_MAX + 1];
    char hook[DRILL_HOOK_MAX];
    bool health;
    char what[MANIFEST_NAME_MAX + 64];
    pid_t child;
    int fd;
    bool reported;
    uint8_t buf[PIPE_BUF_CAP];
    size_t buf_len;
    kept_t kept[DRILL_KEPT_MAX];
    size_t next_kept; /* the slot the next result takes */
};

/* ---- pure parts ---------------------------------------------------------- */

const char *
drill_outcome_name(drill_outcome_t outcome)
{
    if ((size_t)outcome >= sizeof s_outcome_names / sizeof *s_outcome_names) {
        return "failed";
    }
    return s_outcome_names[outcome];
}

bool
drill_hook_valid(const char *hook)
{
    return hook &&
           (strcmp(hook, "failover") == 0 || strcmp(hook, "failback") == 0);
}

drill_outcome_t
drill_decide(bool has_hook, hoist_err_t hook_rc, bool health_asked,
             hoist_err_t health_rc)
{
    if (has_hook && hook_rc != HOIST_OK) {
        return DRILL_FAILED;
    }
    if (health_asked && health_rc != HOIST_OK) {
        return DRILL_FAILED;
    }
    return has_hook ? DRILL_OK : DRILL_NO_HOOK;
}

/* ---- the child ----------------------------------------------------------- */

/* What the child found and did, for its one HookResult. */
typedef struct {
    drill_outcome_t outcome;
    char message[DRILL_MESSAGE_MAX + 1];
    char live[MANIFEST_VERSION_MAX + 1];
    uint64_t hook_ms, health_ms;
} run_t;

/* Appends TEXT to R's message on a line of its own, made safe for a
 * terminal; when it does not fit, its end is kept (the end of a hook's
 * output says most). */
static void
s_say(run_t *r, const char *text)
{
    size_t used = strlen(r->message), n = strlen(text);
    if (n == 0) {
        return;
    }
    if (used > 0 && used < DRILL_MESSAGE_MAX) {
        r->message[used++] = '\n';
    }
    size_t room = DRILL_MESSAGE_MAX - used;
    const char *from = n > room ? text + (n - room) : text;
    char *out = r->message + used;
    snprintf(out, room + 1, "%s", from);
    for (char *p = out; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f) {
            *p = '?';
        }
    }
}

/* Writes R as one HookResult frame to the pipe. A failure is not
 * reported: the daemon then reports the run as ended without a result. */
static void
s_child_report(const drill_t *d, const run_t *r)
{
    Hoist__HookResult h = HOIST__HOOK_RESULT__INIT;
    h.drill = d->drill;
    h.app = (char *)d->app;
    h.hook = (char *)d->hook;
    h.outcome = (char *)drill_outcome_name(r->outcome);
    h.message = (char *)r->message;
    h.live = (char *)r->live;
    h.hook_ms = r->hook_ms;
    h.health_ms = r->health_ms;
    envelope_t e = HOIST__ENVELOPE__INIT;
    e.body_case = HOIST__ENVELOPE__BODY_HOOK_RESULT;
    e.hook_result = &h;
    size_t len = 0;
    uint8_t *body = envelope_pack(&e, &len);
    uint8_t head[4] = {(uint8_t)(len >> 24), (uint8_t)(len >> 16),
                       (uint8_t)(len >> 8), (uint8_t)len};
    if (!body || len > ORDER_FRAME_MAX) {
        free(body);
        return;
    }
    const uint8_t *parts[2] = {head, body};
    size_t sizes[2] = {4, len};
    for (int i = 0; i < 2; i++) {
        for (size_t done = 0; done < sizes[i];) {
            ssize_t n = write(CHILD_FD, parts[i] + done, sizes[i] - done);
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n <= 0) {
                free(body);
                return;
            }
            done += (size_t)n;
        }
    }
    free(body);
}

/* The hook's environment: the install's HOIST_* variables plus
 * HOIST_DRILL and HOIST_HOOK. */
typedef struct {
    char app[128], ver[192], env[128], dir[PATH_MAX + 32], prev[192];
    char drill[64], hook[64];
    const char *list[8];
} hook_env_t;

static void
s_env(const drill_t *d, const journal_t *j, const char *dir, hook_env_t *e)
{
    snprintf(e->app, sizeof e->app, "HOIST_APP=%s", d->app);
    snprintf(e->ver, sizeof e->ver, "HOIST_VERSION=%s", j->current);
    snprintf(e->env, sizeof e->env, "HOIST_ENV=%s", d->ctx.env);
    snprintf(e->dir, sizeof e->dir, "HOIST_RELEASE_DIR=%s", dir);
    snprintf(e->prev, sizeof e->prev, "HOIST_PREVIOUS_VERSION=%s", j->previous);
    snprintf(e->drill, sizeof e->drill, "HOIST_DRILL=%llu",
             (unsigned long long)d->drill);
    snprintf(e->hook, sizeof e->hook, "HOIST_HOOK=%s", d->hook);
    const char *list[] = {e->app,  e->ver,   e->env,  e->dir,
                          e->prev, e->drill, e->hook, NULL};
    memcpy(e->list, list, sizeof list);
}

/* Runs the hook CMD (NULL: the release has none), then the health check
 * when the order asks for it and the hook did not fail. The message says
 * the causes first (a controller's log line shows the first line), then
 * the hook's output. */
static void
s_child_hook_health(const drill_t *d, const spec_t *spec, const char *cmd,
                    const hook_env_t *env, const char *dir, run_t *r)
{
    hoist_error_t err = {0};
    hoist_err_t hook_rc = HOIST_OK, health_rc = HOIST_OK;
    hooks_result_t res = {0};
    char note[256] = "";
    if (cmd) {
        hooks_cmd_t hc = {.command = cmd,
                          .dir = dir,
                          .env = env->list,
                          .user = d->ctx.hook_user,
                          .timeout_ms = spec->hook_timeout_ms,
                          .output_max = OUTPUT_MAX};
        uint64_t start = monotime_ms();
        hook_rc = hooks_run(&hc, &res, &err);
        r->hook_ms = monotime_ms() - start;
        if (hook_rc != HOIST_OK) {
            error_prefix(&err, "%s hook", d->hook);
            s_say(r, err.msg);
        }
    } else {
        snprintf(note, sizeof note, "%s %s has no %s hook", d->app, r->live,
                 d->hook);
    }
    bool health = d->health && hook_rc == HOIST_OK;
    if (health) {
        hooks_cmd_t ctx = {
            .dir = dir, .env = env->list, .user = d->ctx.hook_user};
        uint64_t start = monotime_ms();
        err = (hoist_error_t){0};
        health_rc = health_run(&spec->health, &ctx, &err);
        r->health_ms = monotime_ms() - start;
        if (health_rc != HOIST_OK) {
            error_prefix(&err, "health check of %s %s", d->app, r->live);
            s_say(r, err.msg);
        }
    }
    s_say(r, note);
    const char *tail = cmd ? hooks_result_tail(&res, DRILL_OUTPUT_LINES) : "";
    if (tail[0]) {
        char head[64];
        snprintf(head, sizeof head, "--- the %s hook's output ---", d->hook);
        s_say(r, head);
        s_say(r, tail);
    }
    hooks_result_clear(&res);
    r->outcome = drill_decide(cmd != NULL, hook_rc, health, health_rc);
}

/* Finds APP's current release and runs the order on it, holding the
 * install lock all along. */
static void
s_child_run(const drill_t *d, run_t *r)
{
    char lock[PATH_MAX], dir[PATH_MAX], path[PATH_MAX + 16];
    hoist_error_t err = {0};
    snprintf(lock, sizeof lock, "%s/" LOCK_FILE, d->ctx.root);
    int fd = lockfile_take(lock, "an install is running", &err);
    journal_t *j = calloc(1, sizeof *j);
    releases_t *rel = releases_open(d->ctx.root, d->app, &err);
    spec_t *spec = NULL;
    r->outcome = DRILL_FAILED;
    if (fd < 0) {
        r->outcome = err.code == HOIST_ERR_BUSY ? DRILL_BUSY : DRILL_FAILED;
        s_say(r, err.msg);
    } else if (!j || !rel) {
        s_say(r, "out of memory");
    } else if (journal_load(releases_journal_path(rel), d->app, j, &err) !=
               HOIST_OK) {
        s_say(r, err.msg);
    } else if (!j->current[0]) {
        r->outcome = DRILL_NO_RELEASE;
        snprintf(path, sizeof path, "%s has no release on this machine",
                 d->app);
        s_say(r, path);
    } else {
        snprintf(r->live, sizeof r->live, "%s", j->current);
        releases_path(rel, j->current, dir, sizeof dir);
        snprintf(path, sizeof path, "%s/" SPEC_FILE, dir);
        if (!(spec = spec_load(path, &err))) {
            s_say(r, err.msg);
        } else {
            hook_env_t env;
            s_env(d, j, dir, &env);
            const char *cmd = strcmp(d->hook, "failover") == 0 ? spec->failover
                                                               : spec->failback;
            s_child_hook_health(d, spec, cmd, &env, dir, r);
        }
    }
    spec_destroy(&spec);
    releases_destroy(&rel);
    free(j);
    if (fd >= 0) {
        close(fd);
    }
}

/* The hook process (child.h: what every child does first). */
static _Noreturn void
s_child(const drill_t *d, int wfd, pid_t parent)
{
    child_enter(wfd, parent);
    run_t *r = calloc(1, sizeof *r);
    if (r) {
        s_child_run(d, r);
        s_child_report(d, r);
    }
    free(r);
    _exit(0);
}

/* ---- the daemon side ----------------------------------------------------- */

/* Sends HookResult{H's drill, app, hook, ...} in an envelope of id ID. */
static void
s_answer(drill_t *d, uint64_t id, Hoist__HookResult *h)
{
    envelope_t e = HOIST__ENVELOPE__INIT;
    e.id = id;
    e.body_case = HOIST__ENVELOPE__BODY_HOOK_RESULT;
    e.hook_result = h;
    if (strcmp(h->outcome, "ok") == 0 || strcmp(h->outcome, "no-hook") == 0) {
        log_info("drill %llu: %s of %s: %s (live: %s)",
                 (unsigned long long)h->drill, h->hook, h->app, h->outcome,
                 h->live);
    } else {
        /* The first line is the cause; the controller gets the rest. */
        int first = (int)strcspn(h->message, "\n");
        log_warn("drill %llu: %s of %s: %s: %.*s", (unsigned long long)h->drill,
                 h->hook, h->app, h->outcome, first, h->message);
    }
    d->ctx.send(d->ctx.arg, &e);
}

/* Answers order H of envelope ID at once with OUTCOME and MESSAGE. */
static void
s_answer_now(drill_t *d, uint64_t id, const Hoist__HookOrder *h,
             drill_outcome_t outcome, const char *message)
{
    Hoist__HookResult r = HOIST__HOOK_RESULT__INIT;
    r.drill = h->drill;
    r.app = h->app ? h->app : "";
    r.hook = h->hook ? h->hook : "";
    r.outcome = (char *)drill_outcome_name(outcome);
    r.message = (char *)message;
    s_answer(d, id, &r);
}

static kept_t *
s_kept_find(drill_t *d, uint64_t drill, const char *app, const char *hook)
{
    for (size_t i = 0; i < DRILL_KEPT_MAX; i++) {
        kept_t *k = &d->kept[i];
        if (k->used && k->drill == drill && strcmp(k->app, app) == 0 &&
            strcmp(k->hook, hook) == 0) {
            return k;
        }
    }
    return NULL;
}

/* Keeps the result H of a run, replacing the oldest kept one. */
static void
s_keep(drill_t *d, const Hoist__HookResult *h)
{
    kept_t *k = &d->kept[d->next_kept];
    d->next_kept = (d->next_kept + 1) % DRILL_KEPT_MAX;
    k->used = true;
    k->drill = d->drill;
    snprintf(k->app, sizeof k->app, "%s", d->app);
    snprintf(k->hook, sizeof k->hook, "%s", d->hook);
    snprintf(k->outcome, sizeof k->outcome, "%s", h->outcome);
    snprintf(k->message, sizeof k->message, "%s", h->message);
    snprintf(k->live, sizeof k->live, "%s", h->live);
    k->hook_ms = h->hook_ms;
    k->health_ms = h->health_ms;
}

/* Sends the kept result K again, in an envelope of id ID. */
static void
s_answer_kept(drill_t *d, uint64_t id, kept_t *k)
{
    Hoist__HookResult r = HOIST__HOOK_RESULT__INIT;
    r.drill = k->drill;
    r.app = k->app;
    r.hook = k->hook;
    r.outcome = k->outcome;
    r.message = k->message;
    r.live = k->live;
    r.hook_ms = k->hook_ms;
    r.health_ms = k->health_ms;
    log_info("drill %llu: %s of %s: answered already; sending its result "
             "again",
             (unsigned long long)k->drill, k->hook, k->app);
    s_answer(d, id, &r);
}

/* Forwards the child's HookResult with the order's ids, and keeps it
 * unless asking again later may give another answer. */
static void
s_child_message(drill_t *d, const uint8_t *body, size_t len)
{
    hoist_error_t err = {0};
    envelope_t *e = envelope_unpack(body, len, ORDER_FRAME_MAX, &err);
    if (!e || e->body_case != HOIST__ENVELOPE__BODY_HOOK_RESULT ||
        d->reported) {
        log_warn("drill %llu: the hook process sent garbage: %s",
                 (unsigned long long)d->drill, e ? "not a result" : err.msg);
        envelope_destroy(&e);
        return;
    }
    const Hoist__HookResult *c = e->hook_result;
    Hoist__HookResult h = *c;
    h.drill = d->drill;
    h.app = d->app;
    h.hook = d->hook;
    if (strcmp(h.outcome, "busy") != 0 &&
        strcmp(h.outcome, "no-release") != 0) {
        s_keep(d, &h);
    }
    s_answer(d, d->id, &h);
    d->reported = true;
    envelope_destroy(&e);
}

/* Stops watching and closes the child's pipe. */
static void
s_close_pipe(drill_t *d)
{
    if (d->fd < 0) {
        return;
    }
    zmq_pollitem_t item = {NULL, d->fd, ZMQ_POLLIN, 0};
    zloop_poller_end(d->ctx.loop, &item);
    close(d->fd);
    d->fd = -1;
}

/* Reaps the child once its pipe is closed; one that did not report is
 * answered `failed` (not kept: the controller may ask again). */
static void
s_reap(drill_t *d)
{
    int st = 0;
    pid_t got = waitpid(d->child, &st, WNOHANG);
    if (got == 0 || (got < 0 && errno == EINTR)) {
        return; /* closing its pipe was its last act: see the next tick */
    }
    d->child = 0;
    if (!d->reported) {
        char msg[256];
        snprintf(msg, sizeof msg,
                 "the hook process ended (%s %d) before it reported",
                 got > 0 && WIFSIGNALED(st) ? "signal" : "status",
                 got > 0 && WIFSIGNALED(st) ? WTERMSIG(st)
                 : got > 0                  ? WEXITSTATUS(st)
                                            : -1);
        Hoist__HookOrder h = HOIST__HOOK_ORDER__INIT;
        h.drill = d->drill;
        h.app = d->app;
        h.hook = d->hook;
        s_answer_now(d, d->id, &h, DRILL_FAILED, msg);
        d->reported = true;
    }
    d->what[0] = '\0';
}

/* zloop poller: the child wrote, or closed its end (it exited). */
static int
s_on_pipe(zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    drill_t *d = arg;
    for (;;) {
        ssize_t n = read(d->fd, d->buf + d->buf_len, PIPE_BUF_CAP - d->buf_len);
        if (n > 0) {
            d->buf_len += (size_t)n;
            const uint8_t *body;
            size_t len;
            long took;
            while ((took = order_frame_take(d->buf, d->buf_len, &body, &len)) >
                   0) {
                s_child_message(d, body, len);
                memmove(d->buf, d->buf + took, d->buf_len - (size_t)took);
                d->buf_len -= (size_t)took;
            }
            if (took == 0) {
                continue;
            }
            log_error("drill %llu: the hook process sent an oversized "
                      "report; stopping it",
                      (unsigned long long)d->drill);
            kill(d->child, SIGKILL);
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && errno == EAGAIN) {
            return 0;
        }
        s_close_pipe(d);
        s_reap(d);
        return 0;
    }
}

/* Starts the child for the order now in D. */
static void
s_start(drill_t *d, const Hoist__HookOrder *h)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) {
        s_answer_now(d, d->id, h, DRILL_FAILED,
                     "cannot make a pipe for the hook process");
        return;
    }
    pid_t parent = getpid(), pid = fork();
    if (pid == 0) {
        close(p[0]);
        s_child(d, p[1], parent);
    }
    close(p[1]);
    if (pid < 0) {
        close(p[0]);
        s_answer_now(d, d->id, h, DRILL_FAILED,
                     "cannot start the hook process");
        return;
    }
    d->child = pid;
    d->fd = p[0];
    d->reported = false;
    d->buf_len = 0;
    snprintf(d->what, sizeof d->what, "drill %llu: %s of %s",
             (unsigned long long)d->drill, d->hook, d->app);
    fcntl(d->fd, F_SETFL, fcntl(d->fd, F_GETFL) | O_NONBLOCK);
    zmq_pollitem_t item = {NULL, d->fd, ZMQ_POLLIN, 0};
    zloop_poller(d->ctx.loop, &item, s_on_pipe, d);
    zloop_poller_set_tolerant(d->ctx.loop, &item);
    log_info("%s%s", d->what, d->health ? ", then the health check" : "");
}

drill_t *
drill_new(const drill_ctx_t *ctx)
{
    drill_t *d = calloc(1, sizeof *d);
    if (d) {
        d->ctx = *ctx;
        d->fd = -1;
    }
    return d;
}

void
drill_set_hook_user(drill_t *d, const char *user)
{
    d->ctx.hook_user = user;
}

void
drill_destroy(drill_t **p)
{
    if (!p || !*p) {
        return;
    }
    drill_t *d = *p;
    if (d->child > 0 && !d->reported) {
        log_warn("%s: stopping the hook process", d->what);
        kill(d->child, SIGKILL);
    }
    while (d->child > 0 && waitpid(d->child, NULL, 0) < 0 && errno == EINTR) {
    }
    s_close_pipe(d);
    free(d);
    *p = NULL;
}

void
drill_on_order(drill_t *d, uint64_t id, const Hoist__HookOrder *h,
               const char *busy)
{
    const char *app = h->app ? h->app : "", *hook = h->hook ? h->hook : "";
    kept_t *k = s_kept_find(d, h->drill, app, hook);
    char msg[MANIFEST_NAME_MAX + 128];
    if (k) {
        s_answer_kept(d, id, k);
    } else if (drill_running(d) && d->drill == h->drill &&
               strcmp(d->app, app) == 0 && strcmp(d->hook, hook) == 0) {
        log_debug("%s: in progress already", d->what);
    } else if (busy) {
        s_answer_now(d, id, h, DRILL_BUSY, busy);
    } else if (drill_running(d)) {
        snprintf(msg, sizeof msg, "busy with %s", d->what);
        s_answer_now(d, id, h, DRILL_BUSY, msg);
    } else if (!drill_hook_valid(hook)) {
        snprintf(msg, sizeof msg,
                 "'%.16s' is not a hook an order may run (failover or "
                 "failback)",
                 hook);
        s_answer_now(d, id, h, DRILL_FAILED, msg);
    } else if (!manifest_name_valid(app)) {
        snprintf(msg, sizeof msg, "'%.64s' is not an app name", app);
        s_answer_now(d, id, h, DRILL_FAILED, msg);
    } else {
        /* The previous child, if any, reported and is exiting. */
        while (d->child > 0 && waitpid(d->child, NULL, 0) < 0 &&
               errno == EINTR) {
        }
        d->child = 0;
        s_close_pipe(d);
        d->id = id;
        d->drill = h->drill;
        snprintf(d->app, sizeof d->app, "%s", app);
        snprintf(d->hook, sizeof d->hook, "%s", hook);
        d->health = h->health;
        s_start(d, h);
    }
}

bool
drill_running(const drill_t *d)
{
    return d->child > 0 && !d->reported;
}

const char *
drill_running_what(const drill_t *d)
{
    return drill_running(d) ? d->what : "";
}

void
drill_tick(drill_t *d)
{
    if (d->child > 0 && d->fd < 0) {
        s_reap(d);
    }
}
