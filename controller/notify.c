/*
 * notify: see notify.h. The caller's side only checks an event and puts
 * it on the actor's pipe without waiting (ZMQ_DONTWAIT). The actor runs
 * one zmq_poll loop over its pipe and, per running delivery, the child's
 * stdin (a socket, so that a write to a child that does not read fails
 * with EPIPE instead of raising SIGPIPE in the controller), its output
 * pipe and a pidfd that becomes readable when it exits (a short tick
 * replaces the pidfd on kernels without one).
 *
 * Children start with posix_spawn: the controller has threads (libzmq's),
 * and posix_spawn does only what is safe between fork and exec. Each
 * child leads a new process group so that one kill(-pid) reaches what it
 * forked. A child's exit is noticed with waitid(WNOWAIT), which leaves it
 * a zombie: its pid, and so its group id, cannot be reused until it is
 * reaped, so killing the group's leftovers just before reaping cannot hit
 * a stranger.
 *
 * An event is shared by the queues of all commands and freed when the
 * last of them is done with it.
 */
#include "notify.h"

#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "monotime.h"

/* Without a pidfd, how often a running child is checked for its exit. */
#define NOTIFY_TICK_MS 50
/* Output read from one child per round, so that a chatty child cannot
 * keep the actor from its other children. */
#define NOTIFY_PUMP_MAX    ((size_t)64 * 1024)
#define NOTIFY_TYPE_MAX    64
#define NOTIFY_QUEUE_LIMIT 65536
/* The longest notify_drain waits, whatever it is asked. */
#define NOTIFY_DRAIN_MAX_MS (24ull * 3600 * 1000)
/* How much of a command's output a log line quotes. */
#define NOTIFY_LOG_OUTPUT 200

static char *const s_env[] = {
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    NULL,
};

struct notify {
    zactor_t *actor;
    uint64_t dropped; /* refused before reaching the actor: pipe full */
};

/* --- the actor's state ---------------------------------------------------- */

typedef struct {
    int refs; /* queues and deliveries holding it */
    char type[NOTIFY_TYPE_MAX];
    size_t len;
    char json[];
} event_t;

/* One event being handed to one command. */
typedef struct {
    bool active;
    bool killed; /* SIGKILL sent at the time limit */
    pid_t pid;
    int pidfd;  /* -1 without pidfd support */
    int in_fd;  /* our end of the child's stdin; -1 once all is written */
    int out_fd; /* our end of its stdout and stderr; -1 at EOF */
    event_t *ev;
    size_t off; /* bytes of the event written */
    uint64_t deadline;
    char out[NOTIFY_OUTPUT_MAX + 1];
    size_t out_len;
} delivery_t;

typedef struct {
    char *command;
    event_t **ring; /* queue_max slots */
    size_t head, count;
    bool dropping;  /* in a burst of drops (logged at its start) */
    uint64_t burst; /* drops in the current burst */
    delivery_t run;
} target_t;

typedef struct {
    zsock_t *pipe;
    target_t *targets;
    size_t n;
    uint64_t timeout_ms;
    size_t queue_max;
    notify_stats_t stats;
    bool draining; /* a notify_drain caller waits for an answer */
    uint64_t drain_deadline;
} actor_t;

static void
s_event_release(event_t **p)
{
    if (*p && --(*p)->refs == 0) {
        free(*p);
    }
    *p = NULL;
}

static void
s_close(int *fd)
{
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}

static void
s_actor_free(actor_t *a)
{
    for (size_t i = 0; a->targets && i < a->n; i++) {
        free(a->targets[i].command);
        free(a->targets[i].ring);
    }
    free(a->targets);
    free(a);
}

/* --- one delivery --------------------------------------------------------- */

/* Moves FD above 2, so that the child's dup2 onto 0, 1 and 2 cannot land
 * on another of its descriptors (a daemon started with 0-2 closed). */
static int
s_above_stdio(int fd)
{
    if (fd > 2) {
        return fd;
    }
    int moved = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    close(fd);
    return moved;
}

/* Starts COMMAND with IN_CHILD as stdin and OUT_CHILD as stdout and
 * stderr; returns 0 and the pid, or an errno value. */
static int
s_spawn(const char *command, int in_child, int out_child, pid_t *pid)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    sigdelset(&all, SIGKILL);
    sigdelset(&all, SIGSTOP);
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&at);
    int rc = posix_spawn_file_actions_adddup2(&fa, in_child, 0);
    rc = rc ? rc : posix_spawn_file_actions_adddup2(&fa, out_child, 1);
    rc = rc ? rc : posix_spawn_file_actions_adddup2(&fa, out_child, 2);
    rc = rc ? rc : posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    rc = rc ? rc : posix_spawn_file_actions_addchdir_np(&fa, "/");
    rc = rc ? rc
            : posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP |
                                                POSIX_SPAWN_SETSIGMASK |
                                                POSIX_SPAWN_SETSIGDEF);
    rc = rc ? rc : posix_spawnattr_setpgroup(&at, 0);
    rc = rc ? rc : posix_spawnattr_setsigmask(&at, &none);
    rc = rc ? rc : posix_spawnattr_setsigdefault(&at, &all);
    if (rc == 0) {
        char *const argv[] = {(char *)command, NULL};
        rc = posix_spawn(pid, command, &fa, &at, argv, s_env);
    }
    posix_spawnattr_destroy(&at);
    posix_spawn_file_actions_destroy(&fa);
    return rc;
}

/* Starts delivering D's event to T's command. Returns 0 or an errno. */
static int
s_start_child(actor_t *a, target_t *t, delivery_t *d)
{
    int in[2] = {-1, -1}, out[2] = {-1, -1};
    /* O_NONBLOCK on our read end only: the child's end is another open
     * file description and stays blocking, as programs expect. */
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in) < 0 ||
        pipe2(out, O_CLOEXEC) < 0 || fcntl(out[0], F_SETFL, O_NONBLOCK) < 0) {
        int e = errno;
        s_close(&in[0]);
        s_close(&in[1]);
        s_close(&out[0]);
        s_close(&out[1]);
        return e;
    }
    in[1] = s_above_stdio(in[1]);
    out[1] = s_above_stdio(out[1]);
    int rc = in[1] < 0 || out[1] < 0
                 ? errno
                 : s_spawn(t->command, in[1], out[1], &d->pid);
    s_close(&in[1]);
    s_close(&out[1]);
    if (rc != 0) {
        s_close(&in[0]);
        s_close(&out[0]);
        return rc;
    }
    d->in_fd = in[0];
    d->out_fd = out[0];
#ifdef SYS_pidfd_open
    d->pidfd = (int)syscall(SYS_pidfd_open, d->pid, 0);
#else
    d->pidfd = -1;
#endif
    d->deadline = monotime_ms() + a->timeout_ms;
    return 0;
}

/* Hands EV (whose reference the caller passes on) to T's command. */
static void
s_start(actor_t *a, target_t *t, event_t *ev)
{
    delivery_t *d = &t->run;
    memset(d, 0, sizeof *d);
    d->pidfd = d->in_fd = d->out_fd = -1;
    d->ev = ev;
    int rc = s_start_child(a, t, d);
    if (rc != 0) {
        a->stats.failed++;
        log_warn("notify: cannot start %s for event %s: %s", t->command,
                 ev->type, strerror(rc));
        s_event_release(&d->ev);
        return;
    }
    d->active = true;
}

/* Writes what the child's stdin takes now; closes it when all is written
 * or the child will not read (its exit status then tells). */
static void
s_feed(delivery_t *d)
{
    while (d->in_fd >= 0 && d->off < d->ev->len) {
        ssize_t n = send(d->in_fd, d->ev->json + d->off, d->ev->len - d->off,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            d->off += (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return;
        } else {
            break;
        }
    }
    s_close(&d->in_fd);
}

/* Reads what the child printed, keeping the first NOTIFY_OUTPUT_MAX
 * bytes; closes the pipe at EOF. */
static void
s_drain_output(delivery_t *d)
{
    char buf[4096];
    size_t total = 0;
    while (d->out_fd >= 0 && total < NOTIFY_PUMP_MAX) {
        ssize_t n = read(d->out_fd, buf, sizeof buf);
        if (n > 0) {
            size_t keep = NOTIFY_OUTPUT_MAX - d->out_len;
            keep = (size_t)n < keep ? (size_t)n : keep;
            memcpy(d->out + d->out_len, buf, keep);
            d->out_len += keep;
            total += (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return;
        } else {
            s_close(&d->out_fd);
        }
    }
}

/* The output as one printable line, for a log message. */
static const char *
s_output_line(delivery_t *d)
{
    d->out[d->out_len] = 0;
    for (size_t i = 0; i < d->out_len; i++) {
        unsigned char c = (unsigned char)d->out[i];
        if (c < 0x20 || c == 0x7f) {
            d->out[i] = ' ';
        }
    }
    while (d->out_len > 0 && d->out[d->out_len - 1] == ' ') {
        d->out[--d->out_len] = 0;
    }
    return d->out;
}

/* Counts and logs how the delivery on T ended with wait STATUS. */
static void
s_report(actor_t *a, target_t *t, int status)
{
    delivery_t *d = &t->run;
    const char *out = s_output_line(d);
    const char *sep = out[0] ? ": " : "";
    if (d->killed) {
        a->stats.timed_out++;
        log_warn("notify: %s ran longer than %" PRIu64 "ms on event %s and "
                 "was killed%s%.*s",
                 t->command, a->timeout_ms, d->ev->type, sep, NOTIFY_LOG_OUTPUT,
                 out);
    } else if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        a->stats.delivered++;
    } else if (WIFEXITED(status)) {
        a->stats.failed++;
        log_warn("notify: %s exited %d on event %s%s%.*s", t->command,
                 WEXITSTATUS(status), d->ev->type, sep, NOTIFY_LOG_OUTPUT, out);
    } else {
        a->stats.failed++;
        log_warn("notify: %s died of signal %d on event %s%s%.*s", t->command,
                 WIFSIGNALED(status) ? WTERMSIG(status) : 0, d->ev->type, sep,
                 NOTIFY_LOG_OUTPUT, out);
    }
}

/* Frees what T's delivery holds and makes it idle. */
static void
s_finish(target_t *t)
{
    delivery_t *d = &t->run;
    s_close(&d->in_fd);
    s_close(&d->out_fd);
    s_close(&d->pidfd);
    s_event_release(&d->ev);
    d->active = false;
}

/* Starts T's next queued event when T is idle. */
static void
s_next(actor_t *a, target_t *t)
{
    while (!t->run.active && t->count > 0) {
        event_t *ev = t->ring[t->head];
        t->ring[t->head] = NULL;
        t->head = (t->head + 1) % a->queue_max;
        t->count--;
        if (t->dropping) {
            log_info("notify: the queue of %s has room again; %" PRIu64
                     " events were dropped",
                     t->command, t->burst);
            t->dropping = false;
            t->burst = 0;
        }
        s_start(a, t, ev);
    }
}

/* Moves T's delivery on: input, output, exit, time limit. */
static void
s_watch(actor_t *a, target_t *t)
{
    delivery_t *d = &t->run;
    if (!d->active) {
        return;
    }
    s_feed(d);
    s_drain_output(d);
    siginfo_t si;
    memset(&si, 0, sizeof si);
    int rc = waitid(P_PID, (id_t)d->pid, &si, WEXITED | WNOHANG | WNOWAIT);
    if (rc == 0 && si.si_pid == d->pid) {
        /* A zombie now: its group id is still ours to kill. */
        kill(-d->pid, SIGKILL);
        int status = 0;
        while (waitpid(d->pid, &status, 0) < 0 && errno == EINTR) {
        }
        s_drain_output(d);
        s_report(a, t, status);
        s_finish(t);
        s_next(a, t);
        return;
    }
    if (rc < 0 && errno == ECHILD) {
        /* Someone else reaped it (SIGCHLD ignored, a stray waitpid(-1)). */
        a->stats.failed++;
        log_warn("notify: lost track of %s (pid %d) on event %s", t->command,
                 (int)d->pid, d->ev->type);
        kill(-d->pid, SIGKILL);
        s_finish(t);
        s_next(a, t);
        return;
    }
    if (!d->killed && monotime_ms() >= d->deadline) {
        kill(-d->pid, SIGKILL);
        d->killed = true;
    }
}

/* --- the queue ------------------------------------------------------------ */

static void
s_enqueue(actor_t *a, target_t *t, event_t *ev)
{
    if (!t->run.active && t->count == 0) {
        ev->refs++;
        s_start(a, t, ev);
        return;
    }
    if (t->count == a->queue_max) {
        a->stats.dropped++;
        t->burst++;
        if (!t->dropping) {
            t->dropping = true;
            log_warn("notify: %zu events wait for %s already; dropping new "
                     "events (first: %s) until it catches up",
                     a->queue_max, t->command, ev->type);
        }
        return;
    }
    ev->refs++;
    t->ring[(t->head + t->count) % a->queue_max] = ev;
    t->count++;
}

/* SEND, TYPE, JSON: one event for every command. */
static void
s_on_send(actor_t *a, zmsg_t *msg)
{
    char *type = zmsg_popstr(msg);
    zframe_t *json = zmsg_pop(msg);
    event_t *ev = json ? malloc(sizeof *ev + zframe_size(json) + 1) : NULL;
    if (!type || !ev) {
        log_error("notify: an event was lost (out of memory)");
        a->stats.dropped += a->n;
        goto out;
    }
    ev->refs = 1; /* ours, until every queue has seen it */
    snprintf(ev->type, sizeof ev->type, "%s", type);
    ev->len = zframe_size(json);
    memcpy(ev->json, zframe_data(json), ev->len);
    ev->json[ev->len] = 0;
    for (size_t i = 0; i < a->n; i++) {
        s_enqueue(a, &a->targets[i], ev);
    }
    s_event_release(&ev);
out:
    zstr_free(&type);
    zframe_destroy(&json);
}

/* --- the actor's loop ----------------------------------------------------- */

static uint64_t
s_queued(const actor_t *a, uint64_t *in_flight)
{
    uint64_t q = 0, f = 0;
    for (size_t i = 0; i < a->n; i++) {
        q += a->targets[i].count;
        f += a->targets[i].run.active;
    }
    if (in_flight) {
        *in_flight = f;
    }
    return q;
}

static void
s_on_stats(actor_t *a)
{
    notify_stats_t s = a->stats;
    s.queued = s_queued(a, &s.in_flight);
    zsock_send(a->pipe, "888888", s.delivered, s.failed, s.timed_out, s.dropped,
               s.queued, s.in_flight);
}

static void
s_on_pids(actor_t *a)
{
    pid_t pids[NOTIFY_MAX_COMMANDS];
    size_t n = 0;
    for (size_t i = 0; i < a->n; i++) {
        if (a->targets[i].run.active) {
            pids[n++] = a->targets[i].run.pid;
        }
    }
    zsock_send(a->pipe, "b", pids, n * sizeof *pids);
}

/* Answers a waiting notify_drain once idle or out of time. */
static void
s_check_drain(actor_t *a)
{
    uint64_t in_flight;
    if (!a->draining) {
        return;
    }
    bool idle = s_queued(a, &in_flight) == 0 && in_flight == 0;
    if (idle || monotime_ms() >= a->drain_deadline) {
        a->draining = false;
        zsock_send(a->pipe, "i", idle ? 1 : 0);
    }
}

/* Serves one message from the pipe; false on $TERM. */
static bool
s_on_pipe(actor_t *a)
{
    zmsg_t *msg = zmsg_recv(a->pipe);
    if (!msg) {
        return true; /* interrupted: the next round tries again */
    }
    char *cmd = zmsg_popstr(msg);
    bool go_on = !cmd || strcmp(cmd, "$TERM") != 0;
    if (!cmd || !go_on) {
        /* an empty message is ignored; $TERM ends the loop */
    } else if (strcmp(cmd, "SEND") == 0) {
        s_on_send(a, msg);
    } else if (strcmp(cmd, "STATS") == 0) {
        s_on_stats(a);
    } else if (strcmp(cmd, "PIDS") == 0) {
        s_on_pids(a);
    } else if (strcmp(cmd, "DRAIN") == 0) {
        char *text = zmsg_popstr(msg);
        uint64_t ms = text ? strtoull(text, NULL, 10) : 0;
        a->draining = true;
        a->drain_deadline =
            monotime_ms() +
            (ms < NOTIFY_DRAIN_MAX_MS ? ms : NOTIFY_DRAIN_MAX_MS);
        zstr_free(&text);
    }
    zstr_free(&cmd);
    zmsg_destroy(&msg);
    return go_on;
}

/* How long zmq_poll may sleep: until the nearest time limit, or a tick
 * for children without a pidfd; -1 for ever. */
static long
s_poll_timeout(const actor_t *a)
{
    uint64_t now = monotime_ms(), wait = UINT64_MAX;
    for (size_t i = 0; i < a->n; i++) {
        const delivery_t *d = &a->targets[i].run;
        if (!d->active) {
            continue;
        }
        if (!d->killed) {
            uint64_t left = d->deadline > now ? d->deadline - now : 0;
            wait = left < wait ? left : wait;
        }
        if (d->pidfd < 0 && wait > NOTIFY_TICK_MS) {
            wait = NOTIFY_TICK_MS;
        }
    }
    if (a->draining) {
        uint64_t left = a->drain_deadline > now ? a->drain_deadline - now : 0;
        wait = left < wait ? left : wait;
    }
    return wait == UINT64_MAX ? -1 : (long)wait;
}

static void
s_add_fd(zmq_pollitem_t *items, size_t *n, int fd, short events)
{
    if (fd >= 0) {
        items[(*n)++] = (zmq_pollitem_t){.fd = fd, .events = events};
    }
}

static void
s_loop(actor_t *a)
{
    for (;;) {
        zmq_pollitem_t items[1 + 3 * NOTIFY_MAX_COMMANDS];
        size_t n = 0;
        items[n++] = (zmq_pollitem_t){.socket = zsock_resolve(a->pipe),
                                      .events = ZMQ_POLLIN};
        for (size_t i = 0; i < a->n; i++) {
            const delivery_t *d = &a->targets[i].run;
            if (d->active) {
                s_add_fd(items, &n, d->in_fd, ZMQ_POLLOUT);
                s_add_fd(items, &n, d->out_fd, ZMQ_POLLIN);
                s_add_fd(items, &n, d->pidfd, ZMQ_POLLIN);
            }
        }
        if (zmq_poll(items, (int)n, s_poll_timeout(a)) < 0 &&
            zmq_errno() != EINTR) {
            log_error("notify: the actor cannot poll: %s",
                      zmq_strerror(zmq_errno()));
            return;
        }
        while (zsock_events(a->pipe) & ZMQ_POLLIN) {
            if (!s_on_pipe(a)) {
                return;
            }
        }
        for (size_t i = 0; i < a->n; i++) {
            s_watch(a, &a->targets[i]);
        }
        s_check_drain(a);
    }
}

/* Kills and reaps what runs and drops what waits. */
static void
s_shutdown(actor_t *a)
{
    uint64_t dropped = 0;
    for (size_t i = 0; i < a->n; i++) {
        target_t *t = &a->targets[i];
        if (t->run.active) {
            kill(-t->run.pid, SIGKILL);
            while (waitpid(t->run.pid, NULL, 0) < 0 && errno == EINTR) {
            }
            dropped++;
            s_finish(t);
        }
        for (; t->count > 0; t->count--) {
            s_event_release(&t->ring[t->head]);
            t->head = (t->head + 1) % a->queue_max;
            dropped++;
        }
    }
    if (dropped > 0) {
        log_warn("notify: stopping with %" PRIu64 " deliveries not done",
                 dropped);
    }
}

static void
s_actor(zsock_t *pipe, void *args)
{
    actor_t *a = args;
    a->pipe = pipe;
    zsock_signal(pipe, 0);
    s_loop(a);
    s_shutdown(a);
    s_actor_free(a);
}

/* --- the caller's side ---------------------------------------------------- */

/* The actor's state for CFG, checked. NULL with ERR set. */
static actor_t *
s_actor_new(const notify_config_t *cfg, hoist_error_t *err)
{
    if (!cfg || cfg->n_commands > NOTIFY_MAX_COMMANDS ||
        (cfg->n_commands > 0 && !cfg->commands) ||
        cfg->queue_max > NOTIFY_QUEUE_LIMIT) {
        error_set(err, HOIST_ERR_USAGE,
                  "notify: at most %d commands and %d queued events",
                  NOTIFY_MAX_COMMANDS, NOTIFY_QUEUE_LIMIT);
        return NULL;
    }
    for (size_t i = 0; i < cfg->n_commands; i++) {
        const char *c = cfg->commands[i];
        if (!c || c[0] != '/' || strlen(c) >= 4096) {
            error_set(err, HOIST_ERR_USAGE,
                      "notify: command '%.200s' must be an absolute path "
                      "(it runs without a shell or PATH search)",
                      c ? c : "");
            return NULL;
        }
    }
    actor_t *a = calloc(1, sizeof *a);
    if (!a) {
        error_set(err, HOIST_ERR_NOMEM, "notify: out of memory");
        return NULL;
    }
    a->n = cfg->n_commands;
    a->timeout_ms =
        cfg->timeout_ms ? cfg->timeout_ms : NOTIFY_DEFAULT_TIMEOUT_MS;
    a->queue_max = cfg->queue_max ? cfg->queue_max : NOTIFY_DEFAULT_QUEUE;
    a->targets = calloc(a->n ? a->n : 1, sizeof *a->targets);
    bool ok = a->targets != NULL;
    for (size_t i = 0; ok && i < a->n; i++) {
        a->targets[i].command = strdup(cfg->commands[i]);
        a->targets[i].ring = calloc(a->queue_max, sizeof(event_t *));
        ok = a->targets[i].command && a->targets[i].ring;
    }
    if (!ok) {
        s_actor_free(a);
        error_set(err, HOIST_ERR_NOMEM, "notify: out of memory");
        return NULL;
    }
    return a;
}

notify_t *
notify_new(const notify_config_t *cfg, hoist_error_t *err)
{
    actor_t *a = s_actor_new(cfg, err);
    if (!a) {
        return NULL;
    }
    notify_t *self = calloc(1, sizeof *self);
    if (!self) {
        s_actor_free(a);
        error_set(err, HOIST_ERR_NOMEM, "notify: out of memory");
        return NULL;
    }
    /* zactor_new fails only before the thread starts: A is still ours. */
    self->actor = zactor_new(s_actor, a);
    if (!self->actor) {
        s_actor_free(a);
        free(self);
        error_set(err, HOIST_ERR_IO, "notify: cannot start the actor");
        return NULL;
    }
    return self;
}

void
notify_destroy(notify_t **p)
{
    if (!p || !*p) {
        return;
    }
    zactor_destroy(&(*p)->actor);
    free(*p);
    *p = NULL;
}

/* The event's "event" member, printable, into TYPE. */
static hoist_err_t
s_event_type(const char *json, size_t len, char type[NOTIFY_TYPE_MAX],
             hoist_error_t *err)
{
    json_error_t je;
    json_t *o = json_loadb(json, len, 0, &je);
    if (!json_is_object(o)) {
        json_decref(o);
        return error_set(err, HOIST_ERR_USAGE,
                         "notify: an event must be a JSON object (%s)",
                         o ? "not an object" : je.text);
    }
    const char *t = json_string_value(json_object_get(o, "event"));
    snprintf(type, NOTIFY_TYPE_MAX, "%s", t && t[0] ? t : "(no type)");
    for (char *c = type; *c; c++) {
        if ((unsigned char)*c < 0x20 || *c == 0x7f) {
            *c = '?';
        }
    }
    json_decref(o);
    return HOIST_OK;
}

hoist_err_t
notify_send(notify_t *self, const char *event_json, hoist_error_t *err)
{
    size_t len = event_json ? strlen(event_json) : 0;
    char type[NOTIFY_TYPE_MAX];
    if (len > NOTIFY_EVENT_MAX) {
        return error_set(err, HOIST_ERR_LIMIT,
                         "notify: an event of %zu bytes is over the limit of "
                         "%zu",
                         len, NOTIFY_EVENT_MAX);
    }
    hoist_err_t rc = s_event_type(event_json ? event_json : "", len, type, err);
    if (rc != HOIST_OK) {
        return rc;
    }
    /* Only the first frame can find the pipe full; once it is taken the
     * rest of the message is taken too. */
    void *sock = zsock_resolve(self->actor);
    if (zmq_send(sock, "SEND", 4, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) {
        self->dropped++;
        log_warn("notify: dropped event %s: the notifier is %s", type,
                 zmq_errno() == EAGAIN ? "too far behind" : "not running");
        return error_set(err, HOIST_ERR_LIMIT,
                         "notify: dropped event %s: the notifier is behind",
                         type);
    }
    zmq_send(sock, type, strlen(type), ZMQ_SNDMORE);
    zmq_send(sock, event_json, len, 0);
    return HOIST_OK;
}

hoist_err_t
notify_stats(notify_t *self, notify_stats_t *out, hoist_error_t *err)
{
    notify_stats_t s;
    if (zstr_send(self->actor, "STATS") != 0 ||
        zsock_recv(self->actor, "888888", &s.delivered, &s.failed, &s.timed_out,
                   &s.dropped, &s.queued, &s.in_flight) != 0) {
        return error_set(err, HOIST_ERR_IO,
                         "notify: the actor does not answer");
    }
    s.dropped += self->dropped;
    *out = s;
    return HOIST_OK;
}

size_t
notify_pids(notify_t *self, pid_t *pids, size_t max)
{
    if (zstr_send(self->actor, "PIDS") != 0) {
        return 0;
    }
    zframe_t *f = zframe_recv(self->actor);
    size_t n = f ? zframe_size(f) / sizeof(pid_t) : 0;
    if (n > 0) {
        memcpy(pids, zframe_data(f), (n < max ? n : max) * sizeof(pid_t));
    }
    zframe_destroy(&f);
    return n;
}

bool
notify_drain(notify_t *self, uint64_t timeout_ms)
{
    int idle = 0;
    if (zstr_sendm(self->actor, "DRAIN") != 0 ||
        zstr_sendf(self->actor, "%" PRIu64, timeout_ms) != 0 ||
        zsock_recv(self->actor, "i", &idle) != 0) {
        return false;
    }
    return idle == 1;
}
