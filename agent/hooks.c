/*
 * hooks: runs one deploy-spec command as a child process and supervises it.
 *
 * The work splits in three. The parent first resolves everything that may
 * fail or allocate (the user, its groups, the environment) because after
 * fork() in a process that may have threads only async-signal-safe calls
 * are allowed. The child then only moves file descriptors, changes
 * directory and identity, and execs /bin/sh; it reports a failure before
 * exec through a close-on-exec pipe, so "directory missing" is an error
 * and not an exit code 127. Last, the parent reads the output into a ring
 * of output_max bytes (constant memory however much the hook prints) and
 * decides, from the clock and what it has seen, when to signal the
 * process group; that decision is the pure function s_decide.
 */
#include "hooks.h"
#include "monotime.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define HOOKS_DEFAULT_TIMEOUT_MS (5ull * 60 * 1000)
#define HOOKS_DEFAULT_OUTPUT_MAX ((size_t)64 * 1024)
/* The most output a caller may ask to keep: it is allocated up front. */
#define HOOKS_OUTPUT_LIMIT ((size_t)256 << 20)
/* After SIGTERM, how long the group gets to exit before SIGKILL. */
#define HOOKS_TERM_GRACE_MS 2000
/* After the hook itself exited, how long its leftover children may keep the
 * output pipe open before they are killed. */
#define HOOKS_DRAIN_GRACE_MS 1000
/* After SIGKILL, how long to keep reading before giving up on a pipe that
 * something outside our reach (in D state, or escaped) still holds. */
#define HOOKS_KILL_GRACE_MS 2000
/* What is read from the pipe once no one in the group is left to write. */
#define HOOKS_DRAIN_MAX ((size_t)16 << 20)
/* Without a pidfd we notice the child's exit by polling this often. */
#define HOOKS_TICK_MS 50
/* How much of the command a message quotes. */
#define HOOKS_MSG_CMD 200

static const char *const s_base_env[] = {
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG=C.UTF-8",
};

/* What the parent prepares before fork: the child only reads it. */
typedef struct {
    bool switch_user;
    uid_t uid;
    gid_t gid;
    gid_t *groups;
    int ngroups;
    char *home;
    char **envp; /* NULL-terminated, strings owned */
    size_t nenv;
} hooks_plan_t;

/* The steps of the child before exec; the parent names them in errors. */
typedef enum {
    STAGE_SETPGID,
    STAGE_FDS,
    STAGE_SETGROUPS,
    STAGE_SETGID,
    STAGE_SETUID,
    STAGE_CHDIR,
    STAGE_EXEC,
} hooks_stage_t;

typedef struct {
    int stage;
    int errnum;
} hooks_report_t;

/* The last CAP bytes of a stream. Reads go straight to buf + head: while
 * the ring is not full that is the free tail, once full it is the oldest
 * byte, so one read() never needs to wrap. */
typedef struct {
    char *buf; /* cap + 1 bytes, for the final NUL */
    size_t cap;
    size_t head;
    size_t len;
    bool truncated;
} hooks_ring_t;

typedef enum {
    ACT_WAIT,
    ACT_TERM_TIMEOUT, /* the hook ran out of time */
    ACT_TERM_ORPHANS, /* the hook exited, its children hold the pipe */
    ACT_KILL,
    ACT_STOP, /* stop reading: whatever holds the pipe is beyond reach */
    ACT_DONE,
} hooks_action_t;

/* What the supervisor knows; s_decide reads it, I/O code updates it. */
typedef struct {
    uint64_t deadline;
    bool exited;
    uint64_t exited_at;
    bool eof;
    bool group_alive; /* meaningful once exited */
    int stage;        /* 0 nothing sent, 1 SIGTERM sent, 2 SIGKILL sent */
    uint64_t stage_at;
} hooks_watch_t;

/* Looks NAME (or, when NULL, the effective uid) up in the user database.
 * Fills PW and BUF; returns false when there is no such user. */
static bool
s_getpw(const char *name, struct passwd *pw, char **buf)
{
    size_t cap = 4096;
    for (;;) {
        struct passwd *found = NULL;
        char *nb = realloc(*buf, cap);
        if (!nb) {
            return false;
        }
        *buf = nb;
        int rc = name ? getpwnam_r(name, pw, nb, cap, &found)
                      : getpwuid_r(geteuid(), pw, nb, cap, &found);
        if (rc == ERANGE && cap < (1u << 20)) {
            cap *= 2;
            continue;
        }
        return rc == 0 && found != NULL;
    }
}

/* Fills PLAN's group list with the supplementary groups of USER, as
 * initgroups(3) would, but here in the parent where NSS may be used. */
static hoist_err_t
s_plan_groups(hooks_plan_t *plan, const char *user, hoist_error_t *err)
{
    int n = 32;
    for (int tries = 0; tries < 8; tries++) {
        gid_t *g = realloc(plan->groups, (size_t)n * sizeof *g);
        if (!g) {
            return error_set(err, HOIST_ERR_NOMEM, "out of memory");
        }
        plan->groups = g;
        int want = n;
        if (getgrouplist(user, plan->gid, g, &want) >= 0) {
            plan->ngroups = want;
            return HOIST_OK;
        }
        n = want > n ? want : n * 2;
    }
    return error_set(err, HOIST_ERR_IO, "cannot list the groups of user '%s'",
                     user);
}

/* Resolves who the hook runs as and its HOME. Switching needs root unless
 * the user is the one we already are. */
static hoist_err_t
s_plan_user(hooks_plan_t *plan, const char *user, hoist_error_t *err)
{
    struct passwd pw;
    char *buf = NULL;
    hoist_err_t rc = HOIST_OK;
    if (!s_getpw(user, &pw, &buf)) {
        if (user) {
            rc = error_set(err, HOIST_ERR_USAGE,
                           "unknown user '%s' (check the hook user setting)",
                           user);
            goto out;
        }
        /* No passwd entry for ourselves (a container with an arbitrary
         * uid): run as we are, with a harmless HOME. */
        plan->home = strdup("/");
        goto out;
    }
    plan->home = strdup(pw.pw_dir);
    plan->uid = pw.pw_uid;
    plan->gid = pw.pw_gid;
    if (user && geteuid() != 0 && pw.pw_uid != geteuid()) {
        rc = error_set(err, HOIST_ERR_USAGE,
                       "running hooks as user '%s' needs the agent to run as "
                       "root",
                       user);
        goto out;
    }
    if (user && geteuid() == 0) {
        plan->switch_user = true;
        rc = s_plan_groups(plan, user, err);
    }
out:
    free(buf);
    if (rc == HOIST_OK && !plan->home) {
        rc = error_set(err, HOIST_ERR_NOMEM, "out of memory");
    }
    return rc;
}

/* Sets KV ("KEY=VALUE", copied) in PLAN's environment, replacing an entry
 * with the same key so that the caller's entries override the defaults. */
static bool
s_plan_setenv(hooks_plan_t *plan, const char *kv)
{
    const char *eq = strchr(kv, '=');
    assert(eq != NULL && eq != kv); /* entries come from code, not peers */
    size_t klen = (size_t)(eq - kv) + 1;
    char *copy = strdup(kv);
    if (!copy) {
        return false;
    }
    for (size_t i = 0; i < plan->nenv; i++) {
        if (strncmp(plan->envp[i], kv, klen) == 0) {
            free(plan->envp[i]);
            plan->envp[i] = copy;
            return true;
        }
    }
    char **e = realloc(plan->envp, (plan->nenv + 2) * sizeof *e);
    if (!e) {
        free(copy);
        return false;
    }
    plan->envp = e;
    e[plan->nenv++] = copy;
    e[plan->nenv] = NULL;
    return true;
}

/* Builds the clean environment: nothing of the agent's own environment
 * reaches a hook, so a secret in the agent's environment cannot leak into
 * hook output that is sent to the controller. */
static hoist_err_t
s_plan_env(hooks_plan_t *plan, const char *const *extra, hoist_error_t *err)
{
    char *home = NULL;
    if (asprintf(&home, "HOME=%s", plan->home) < 0) {
        return error_set(err, HOIST_ERR_NOMEM, "out of memory");
    }
    bool ok = s_plan_setenv(plan, s_base_env[0]) && s_plan_setenv(plan, home) &&
              s_plan_setenv(plan, s_base_env[1]);
    free(home);
    for (size_t i = 0; ok && extra && extra[i]; i++) {
        ok = s_plan_setenv(plan, extra[i]);
    }
    return ok ? HOIST_OK : error_set(err, HOIST_ERR_NOMEM, "out of memory");
}

/* Frees what PLAN owns. */
static void
s_plan_free(hooks_plan_t *plan)
{
    for (size_t i = 0; i < plan->nenv; i++) {
        free(plan->envp[i]);
    }
    free(plan->envp);
    free(plan->groups);
    free(plan->home);
    memset(plan, 0, sizeof *plan);
}

/* Child: reports STAGE and ERRNUM to the parent and exits. */
static _Noreturn void
s_child_fail(int errfd, hooks_stage_t stage, int errnum)
{
    hooks_report_t r = {.stage = stage, .errnum = errnum};
    ssize_t n;
    do {
        n = write(errfd, &r, sizeof r);
    } while (n < 0 && errno == EINTR);
    _exit(127);
}

/* Child: undoes what the agent may have set for itself. Ignored signals
 * and the blocked mask survive exec, and a hook must not start with, say,
 * SIGPIPE ignored or SIGTERM blocked. */
static void
s_child_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++) {
        sigaction(sig, &sa, NULL); /* fails harmlessly for KILL, STOP */
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

/* Child: stdin from /dev/null, stdout and stderr to OUTFD, every other
 * descriptor closed at exec. Returns false with errno set on failure. */
static bool
s_child_fds(int outfd)
{
    int nul = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (nul < 0) {
        return false;
    }
    /* dup2 onto itself would keep O_CLOEXEC, so clear it by hand. */
    if (nul == 0 ? fcntl(0, F_SETFD, 0) < 0 : dup2(nul, 0) < 0) {
        return false;
    }
    if (dup2(outfd, 1) < 0 || dup2(outfd, 2) < 0) {
        return false;
    }
    if (close_range(3, ~0u, CLOSE_RANGE_CLOEXEC) == 0) {
        return true;
    }
    /* Kernels before 5.11: mark them one by one. */
    long max = sysconf(_SC_OPEN_MAX);
    for (int fd = 3; fd < (max > 0 && max < 65536 ? max : 65536); fd++) {
        fcntl(fd, F_SETFD, FD_CLOEXEC);
    }
    return true;
}

/* Child: becomes the hook. Only async-signal-safe calls from here on:
 * the agent may have threads, and one of them may have held the malloc
 * or NSS lock at the moment of fork. Never returns. */
static _Noreturn void
s_child(const hooks_cmd_t *cmd, const hooks_plan_t *plan, int outfd, int errfd,
        pid_t parent)
{
    /* The dup2 calls below must not land on our own pipes, which a
     * daemon started with 0, 1 or 2 closed may have been given. */
    if (outfd < 3) {
        outfd = fcntl(outfd, F_DUPFD_CLOEXEC, 3);
    }
    if (errfd < 3) {
        errfd = fcntl(errfd, F_DUPFD_CLOEXEC, 3);
    }
    if (outfd < 0 || errfd < 0) {
        _exit(127); /* cannot even report; the parent sees exit 127 */
    }
    if (setpgid(0, 0) < 0) {
        s_child_fail(errfd, STAGE_SETPGID, errno);
    }
    s_child_signals();
    if (!s_child_fds(outfd)) {
        s_child_fail(errfd, STAGE_FDS, errno);
    }
    if (plan->switch_user) {
        if (setgroups((size_t)plan->ngroups, plan->groups) < 0) {
            s_child_fail(errfd, STAGE_SETGROUPS, errno);
        }
        if (setgid(plan->gid) < 0) {
            s_child_fail(errfd, STAGE_SETGID, errno);
        }
        if (setuid(plan->uid) < 0) {
            s_child_fail(errfd, STAGE_SETUID, errno);
        }
    }
    /* The hook dies with the agent (kill -9, OOM): a hook left running
     * would race the old release's activate that recovery runs. Set after
     * the user switch, which clears it; if the agent is already gone,
     * stop here. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent) {
        _exit(127);
    }
    /* After the switch, so that a directory the user cannot enter is an
     * error here rather than a confusing failure inside the hook. */
    if (chdir(cmd->dir) < 0) {
        s_child_fail(errfd, STAGE_CHDIR, errno);
    }
    char *const argv[] = {"sh", "-c", (char *)cmd->command, NULL};
    execve("/bin/sh", argv, plan->envp);
    s_child_fail(errfd, STAGE_EXEC, errno);
}

/* Turns the child's report R into an error naming what failed. */
static hoist_err_t
s_report_error(const hooks_cmd_t *cmd, const hooks_report_t *r,
               const hooks_plan_t *plan, hoist_error_t *err)
{
    static const char *const what[] = {
        [STAGE_SETPGID] = "setpgid",     [STAGE_FDS] = "set up stdin/stdout",
        [STAGE_SETGROUPS] = "setgroups", [STAGE_SETGID] = "setgid",
        [STAGE_SETUID] = "setuid",       [STAGE_EXEC] = "exec /bin/sh",
    };
    if (r->stage == STAGE_CHDIR) {
        return error_errno(err, HOIST_ERR_IO, r->errnum,
                           "'%.*s': cannot enter directory %s", HOOKS_MSG_CMD,
                           cmd->command, cmd->dir);
    }
    const char *w = r->stage >= 0 && r->stage <= STAGE_EXEC && what[r->stage]
                        ? what[r->stage]
                        : "start";
    return error_errno(err, HOIST_ERR_IO, r->errnum,
                       "'%.*s': %s (uid %u) failed", HOOKS_MSG_CMD,
                       cmd->command, w, (unsigned)plan->uid);
}

/* Reads the child's pre-exec report from ERRFD: HOIST_OK when it reached
 * exec (the pipe closed empty), an error when it reported a failure. */
static hoist_err_t
s_await_exec(const hooks_cmd_t *cmd, const hooks_plan_t *plan, int errfd,
             hoist_error_t *err)
{
    hooks_report_t r;
    ssize_t n;
    do {
        n = read(errfd, &r, sizeof r);
    } while (n < 0 && errno == EINTR);
    if (n == 0) {
        return HOIST_OK;
    }
    if (n != (ssize_t)sizeof r) {
        return error_errno(err, HOIST_ERR_IO, n < 0 ? errno : EIO,
                           "'%.*s': reading the start report", HOOKS_MSG_CMD,
                           cmd->command);
    }
    return s_report_error(cmd, &r, plan, err);
}

/* Waits for PID to be reaped, retrying on EINTR. Returns its status. */
static int
s_reap_blocking(pid_t pid)
{
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return status;
}

/* Forks and execs the hook. On success *PID is the child (its own process
 * group leader) and *OUTFD the read end of its output pipe. */
static hoist_err_t
s_spawn(const hooks_cmd_t *cmd, const hooks_plan_t *plan, pid_t *pid,
        int *outfd, hoist_error_t *err)
{
    int out[2] = {-1, -1}, rep[2] = {-1, -1};
    hoist_err_t rc = HOIST_OK;
    /* Close-on-exec on both: hooks started by other threads must not
     * inherit our pipes, or our EOF would wait for their hooks. */
    if (pipe2(out, O_CLOEXEC) < 0 || pipe2(rep, O_CLOEXEC) < 0) {
        rc = error_errno(err, error_from_errno(errno), errno, "pipe");
        goto out;
    }
    pid_t parent = getpid();
    pid_t p = fork();
    if (p < 0) {
        rc = error_errno(err, error_from_errno(errno), errno, "fork");
        goto out;
    }
    if (p == 0) {
        close(out[0]);
        close(rep[0]);
        s_child(cmd, plan, out[1], rep[1], parent);
    }
    close(rep[1]);
    rep[1] = -1;
    close(out[1]);
    out[1] = -1;
    rc = s_await_exec(cmd, plan, rep[0], err);
    if (rc != HOIST_OK) {
        s_reap_blocking(p);
        goto out;
    }
    *pid = p;
    *outfd = out[0];
    out[0] = -1;
out:
    for (int i = 0; i < 2; i++) {
        if (out[i] >= 0) {
            close(out[i]);
        }
        if (rep[i] >= 0) {
            close(rep[i]);
        }
    }
    return rc;
}

/* Allocates a ring keeping the last CAP bytes. */
static bool
s_ring_init(hooks_ring_t *ring, size_t cap)
{
    memset(ring, 0, sizeof *ring);
    ring->buf = malloc(cap + 1);
    ring->cap = cap;
    return ring->buf != NULL;
}

/* Reads once from FD into RING. Returns the read() result. */
static ssize_t
s_ring_read(hooks_ring_t *ring, int fd)
{
    ssize_t n = read(fd, ring->buf + ring->head, ring->cap - ring->head);
    if (n <= 0) {
        return n;
    }
    if (ring->len == ring->cap) {
        ring->truncated = true; /* overwrote the oldest bytes */
    }
    ring->head = (ring->head + (size_t)n) % ring->cap;
    ring->len =
        ring->len + (size_t)n > ring->cap ? ring->cap : ring->len + (size_t)n;
    return n;
}

/* Reverses BUF[a, b). */
static void
s_reverse(char *buf, size_t a, size_t b)
{
    while (a + 1 < b) {
        char t = buf[a];
        buf[a++] = buf[--b];
        buf[b] = t;
    }
}

/* Puts RING's bytes in order, oldest first, and NUL-terminates them. The
 * three reversals rotate in place, so no second buffer is needed. */
static void
s_ring_finish(hooks_ring_t *ring)
{
    if (ring->len == ring->cap && ring->head != 0) {
        s_reverse(ring->buf, 0, ring->head);
        s_reverse(ring->buf, ring->head, ring->cap);
        s_reverse(ring->buf, 0, ring->cap);
    }
    ring->buf[ring->len] = '\0';
}

/* The supervision policy: what to do now, given what W has seen, and
 * (in *WAIT_MS) how long nothing will need doing. Pure.
 *
 *   running --deadline--> TERM(timeout) --grace--> KILL --EOF, reaped--> done
 *   exited, pipe still open --drain grace--> TERM(orphans) --grace--> KILL
 *   exited, pipe open, no one left in the group --> STOP
 *   exited, pipe still open after KILL and its grace --> STOP
 *
 * The hook itself is always reaped: if it survives SIGKILL (stuck in the
 * kernel) we wait for it, since leaving it unreaped would leak a zombie.
 */
static hooks_action_t
s_decide(const hooks_watch_t *w, uint64_t now, uint64_t *wait_ms)
{
    uint64_t next = UINT64_MAX;
    if (w->exited && w->eof) {
        return ACT_DONE;
    }
    if (w->exited && !w->group_alive) {
        return ACT_STOP;
    }
    if (w->stage == 0) {
        uint64_t at = w->deadline;
        if (w->exited && w->exited_at + HOOKS_DRAIN_GRACE_MS < at) {
            at = w->exited_at + HOOKS_DRAIN_GRACE_MS;
        }
        if (now >= at) {
            return w->exited ? ACT_TERM_ORPHANS : ACT_TERM_TIMEOUT;
        }
        next = at;
    } else if (w->stage == 1) {
        if (now >= w->stage_at + HOOKS_TERM_GRACE_MS) {
            return ACT_KILL;
        }
        next = w->stage_at + HOOKS_TERM_GRACE_MS;
    } else if (w->exited) {
        /* Only the hook itself must be reaped; a pipe held past SIGKILL
         * is abandoned. */
        if (now >= w->stage_at + HOOKS_KILL_GRACE_MS) {
            return ACT_STOP;
        }
        next = w->stage_at + HOOKS_KILL_GRACE_MS;
    }
    *wait_ms = next == UINT64_MAX ? HOOKS_TICK_MS : next - now;
    return ACT_WAIT;
}

/* Reaps PID if it has exited, recording its STATUS in W. Once it is gone,
 * also checks whether anything is left in its process group. */
static void
s_watch_reap(hooks_watch_t *w, pid_t pid, int *status, uint64_t now)
{
    if (!w->exited) {
        pid_t r;
        do {
            r = waitpid(pid, status, WNOHANG);
        } while (r < 0 && errno == EINTR);
        if (r == pid) {
            w->exited = true;
            w->exited_at = now;
        }
    }
    if (w->exited && !w->eof) {
        /* EPERM means someone is there that we may not signal. */
        w->group_alive = kill(-pid, 0) == 0 || errno == EPERM;
    }
}

/* Waits up to WAIT_MS for output (into RING) or, with a pidfd, for the
 * child's exit. Marks W->eof at the end of the output. */
static void
s_watch_wait(hooks_watch_t *w, int outfd, int pidfd, hooks_ring_t *ring,
             uint64_t wait_ms)
{
    struct pollfd p[2] = {{.fd = w->eof ? -1 : outfd, .events = POLLIN},
                          {.fd = w->exited ? -1 : pidfd, .events = POLLIN}};
    if (pidfd < 0 && !w->exited && wait_ms > HOOKS_TICK_MS) {
        wait_ms = HOOKS_TICK_MS;
    }
    if (w->exited && wait_ms > HOOKS_TICK_MS) {
        wait_ms = HOOKS_TICK_MS; /* to notice an emptied group */
    }
    if (poll(p, 2, (int)wait_ms) <= 0 || !(p[0].revents)) {
        return; /* timeout, EINTR, or only the pidfd */
    }
    ssize_t n = s_ring_read(ring, outfd);
    if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) {
        w->eof = true;
    }
}

/* Signals the process group of PID as ACT asks, and records it in W. */
static void
s_watch_signal(hooks_watch_t *w, pid_t pid, hooks_action_t act, uint64_t now)
{
    /* ESRCH (the group is empty) is fine: it is what we wanted. */
    kill(-pid, act == ACT_KILL ? SIGKILL : SIGTERM);
    w->stage = act == ACT_KILL ? 2 : 1;
    w->stage_at = now;
}

/* Reads PID's output into RING until it has exited and the output ended,
 * signalling its group on timeout. Sets *STATUS and *TIMED_OUT. */
static void
s_supervise(pid_t pid, int outfd, uint64_t timeout_ms, hooks_ring_t *ring,
            int *status, bool *timed_out)
{
    hooks_watch_t w = {.deadline = monotime_ms() + timeout_ms};
#ifdef SYS_pidfd_open
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
#else
    int pidfd = -1;
#endif
    fcntl(outfd, F_SETFL, O_NONBLOCK);
    for (;;) {
        uint64_t now = monotime_ms(), wait_ms = 0;
        s_watch_reap(&w, pid, status, now);
        hooks_action_t act = s_decide(&w, now, &wait_ms);
        if (act == ACT_DONE || act == ACT_STOP) {
            break;
        }
        if (act == ACT_WAIT) {
            s_watch_wait(&w, outfd, pidfd, ring, wait_ms);
            continue;
        }
        *timed_out = *timed_out || act == ACT_TERM_TIMEOUT;
        s_watch_signal(&w, pid, act, now);
    }
    /* Keep what is already in the pipe even if a stranger holds it (the
     * bound is for a stranger that never stops writing). */
    for (size_t got = 0; !w.eof && got < HOOKS_DRAIN_MAX;) {
        ssize_t n = s_ring_read(ring, outfd);
        if (n <= 0) {
            break;
        }
        got += (size_t)n;
    }
    if (pidfd >= 0) {
        close(pidfd);
    }
}

/* Fills RES from the wait STATUS and the ring, handing the buffer over. */
static void
s_fill_result(hooks_result_t *res, int status, bool timed_out,
              hooks_ring_t *ring)
{
    memset(res, 0, sizeof *res);
    if (WIFSIGNALED(status)) {
        res->exit_code = -1;
        res->signal = WTERMSIG(status);
    } else {
        res->exit_code = WEXITSTATUS(status);
    }
    res->timed_out = timed_out;
    s_ring_finish(ring);
    res->output = ring->buf;
    res->output_len = ring->len;
    res->truncated = ring->truncated;
    ring->buf = NULL;
}

/* The error for a finished hook RES, or HOIST_OK. */
static hoist_err_t
s_verdict(const hooks_cmd_t *cmd, uint64_t timeout_ms,
          const hooks_result_t *res, hoist_error_t *err)
{
    if (res->timed_out) {
        return error_set(err, HOIST_ERR_TIMEOUT,
                         "'%.*s' timed out after %llu ms", HOOKS_MSG_CMD,
                         cmd->command, (unsigned long long)timeout_ms);
    }
    if (res->signal) {
        const char *name = sigabbrev_np(res->signal);
        return error_set(err, HOIST_ERR_HOOK,
                         "'%.*s' killed by signal %d (SIG%s)", HOOKS_MSG_CMD,
                         cmd->command, res->signal, name ? name : "?");
    }
    if (res->exit_code != 0) {
        return error_set(err, HOIST_ERR_HOOK, "'%.*s' exited %d", HOOKS_MSG_CMD,
                         cmd->command, res->exit_code);
    }
    return HOIST_OK;
}

/* Resolves the user and environment into PLAN and allocates RING. */
static hoist_err_t
s_prepare(const hooks_cmd_t *cmd, hooks_plan_t *plan, hooks_ring_t *ring,
          hoist_error_t *err)
{
    hoist_err_t rc = s_plan_user(plan, cmd->user, err);
    if (rc == HOIST_OK) {
        rc = s_plan_env(plan, cmd->env, err);
    }
    size_t cap = cmd->output_max ? cmd->output_max : HOOKS_DEFAULT_OUTPUT_MAX;
    if (rc == HOIST_OK && cap > HOOKS_OUTPUT_LIMIT) {
        rc = error_set(err, HOIST_ERR_USAGE,
                       "hook output_max %zu is above the limit of %zu bytes",
                       cap, HOOKS_OUTPUT_LIMIT);
    }
    if (rc == HOIST_OK && !s_ring_init(ring, cap)) {
        rc = error_set(err, HOIST_ERR_NOMEM, "out of memory");
    }
    return rc;
}

hoist_err_t
hooks_run(const hooks_cmd_t *cmd, hooks_result_t *res, hoist_error_t *err)
{
    assert(cmd && cmd->command && cmd->dir);
    uint64_t timeout =
        cmd->timeout_ms ? cmd->timeout_ms : HOOKS_DEFAULT_TIMEOUT_MS;
    hooks_plan_t plan = {0};
    hooks_ring_t ring = {0};
    hooks_result_t local = {0};
    pid_t pid = -1;
    int outfd = -1, status = 0;
    bool timed_out = false;
    hoist_err_t rc = s_prepare(cmd, &plan, &ring, err);
    if (rc == HOIST_OK) {
        rc = s_spawn(cmd, &plan, &pid, &outfd, err);
    }
    if (rc != HOIST_OK) {
        goto out;
    }
    s_supervise(pid, outfd, timeout, &ring, &status, &timed_out);
    close(outfd);
    s_fill_result(&local, status, timed_out, &ring);
    rc = s_verdict(cmd, timeout, &local, err);
    if (res) {
        *res = local;
    } else {
        hooks_result_clear(&local);
    }
out:
    free(ring.buf);
    s_plan_free(&plan);
    return rc;
}

void
hooks_result_clear(hooks_result_t *res)
{
    if (!res) {
        return;
    }
    free(res->output);
    memset(res, 0, sizeof *res);
}

const char *
hooks_result_tail(const hooks_result_t *res, int lines)
{
    if (!res || !res->output || res->output_len == 0 || lines <= 0) {
        return "";
    }
    const char *buf = res->output;
    size_t i = res->output_len;
    /* A final newline ends the last line; it does not start another. */
    if (buf[i - 1] == '\n') {
        i--;
    }
    while (i > 0) {
        if (buf[i - 1] == '\n' && --lines == 0) {
            return buf + i;
        }
        i--;
    }
    return buf;
}
