/*
 * daemon: see daemon.h. sd_notify does the talking: it handles abstract
 * and path sockets, credentials and the datagram format, so nothing of
 * the protocol is re-implemented here.
 */
#include "daemon.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "log.h"

struct daemon_ctx {
    int hup_fd;           /* signalfd for SIGHUP */
    uint64_t watchdog_ms; /* 0: off */
    daemon_reload_fn *reload;
    void *arg;
};

daemon_t *
daemon_new(hoist_error_t *err)
{
    daemon_t *d = calloc(1, sizeof *d);
    if (!d) {
        error_set(err, HOIST_ERR_NOMEM, "out of memory");
        return NULL;
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    d->hup_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (d->hup_fd < 0) {
        error_errno(err, HOIST_ERR_IO, errno, "make a signalfd for SIGHUP");
        free(d);
        return NULL;
    }
    uint64_t usec = 0;
    if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
        d->watchdog_ms = usec / 2000 ? usec / 2000 : 1;
    }
    return d;
}

void
daemon_destroy(daemon_t **p)
{
    if (!p || !*p) {
        return;
    }
    daemon_t *d = *p;
    close(d->hup_fd);
    free(d);
    *p = NULL;
}

bool
daemon_journal_stream(void)
{
    const char *v = getenv("JOURNAL_STREAM");
    unsigned long long dev = 0, ino = 0;
    struct stat st;
    if (!v || sscanf(v, "%llu:%llu", &dev, &ino) != 2 ||
        fstat(STDERR_FILENO, &st) != 0) {
        return false;
    }
    return (unsigned long long)st.st_dev == dev &&
           (unsigned long long)st.st_ino == ino;
}

void
daemon_notify(daemon_t *d, const char *state)
{
    (void)d;
    int rc = sd_notify(0, state);
    if (rc < 0) {
        log_debug("sd_notify(%s): %s", state, strerror(-rc));
    }
}

uint64_t
daemon_watchdog_ms(const daemon_t *d)
{
    return d->watchdog_ms;
}

/* Empties the signalfd; true when at least one SIGHUP was in it. */
static bool
s_take_hup(daemon_t *d)
{
    struct signalfd_siginfo si;
    bool got = false;
    while (read(d->hup_fd, &si, sizeof si) == (ssize_t)sizeof si) {
        got = true;
    }
    return got;
}

/* A burst of SIGHUPs is one reload: the file is read once, as it is now. */
static void
s_reload(daemon_t *d)
{
    if (!s_take_hup(d)) {
        return;
    }
    daemon_notify(d, "RELOADING=1");
    log_info("SIGHUP: reloading the configuration");
    if (d->reload) {
        d->reload(d->arg);
    }
    daemon_notify(d, "READY=1");
}

static int
s_on_hup(zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    s_reload(arg);
    return 0;
}

static int
s_on_watchdog(zloop_t *loop, int timer_id, void *arg)
{
    daemon_notify(arg, "WATCHDOG=1");
    return 0;
}

hoist_err_t
daemon_attach(daemon_t *d, zloop_t *loop, daemon_reload_fn *reload, void *arg,
              hoist_error_t *err)
{
    d->reload = reload;
    d->arg = arg;
    zmq_pollitem_t item = {NULL, d->hup_fd, ZMQ_POLLIN, 0};
    if (zloop_poller(loop, &item, s_on_hup, d) != 0) {
        return error_set(err, HOIST_ERR_IO, "cannot watch for SIGHUP");
    }
    if (d->watchdog_ms &&
        zloop_timer(loop, (size_t)d->watchdog_ms, 0, s_on_watchdog, d) < 0) {
        return error_set(err, HOIST_ERR_IO, "cannot start the watchdog timer");
    }
    return HOIST_OK;
}
