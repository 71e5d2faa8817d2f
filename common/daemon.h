/*
 * daemon: what makes hoist-agent and hoist-controller behave like the
 * other services on a systemd machine: readiness and watchdog through
 * sd_notify (libsystemd), SIGHUP delivered to the loop as a readable file
 * descriptor (a signalfd) instead of a handler, and knowing whether
 * stderr is the journal.
 *
 * Without systemd (no NOTIFY_SOCKET, no WATCHDOG_USEC) every notification
 * is a no-op and the watchdog is off; SIGHUP still reloads.
 *
 * A daemon calls daemon_new before it makes any thread (czmq makes some
 * on its first socket): SIGHUP is blocked in the calling thread, and only
 * threads created afterwards inherit that mask, so no thread ever takes
 * the signal's default action (which is to die).
 */
#ifndef HOIST_DAEMON_H
#define HOIST_DAEMON_H

#include <stdbool.h>
#include <stdint.h>

#include <czmq.h>

#include "error.h"

typedef struct daemon_ctx daemon_t;

/* Called on the loop's thread (daemon_attach) when SIGHUP arrives. */
typedef void(daemon_reload_fn)(void *arg);

/* Blocks SIGHUP, opens a signalfd for it and reads WATCHDOG_USEC. NULL
 * with ERR (HOIST_ERR_IO) when the signalfd cannot be made. The result
 * belongs to the caller. */
daemon_t *daemon_new(hoist_error_t *err);

/* Closes the signalfd,
 * frees *P and sets it to NULL. Accepts NULL. SIGHUP stays blocked. */
void daemon_destroy(daemon_t **p);

/* True when stderr is the journal: JOURNAL_STREAM names stderr's device
 * and inode (systemd's own test; a child that inherited the variable but
 * not the stream gets false). */
bool daemon_journal_stream(void);

/* Sends STATE ("READY=1", "STOPPING=1", "WATCHDOG=1", "STATUS=...") to
 * the service manager. A no-op when not run by one. */
void daemon_notify(daemon_t *d, const char *state);

/* How often the watchdog wants WATCHDOG=1 (half of WATCHDOG_USEC, in
 * ms), or 0 when it is off. */
uint64_t daemon_watchdog_ms(const daemon_t *d);

/* Makes LOOP serve the daemon: SIGHUP calls RELOAD(ARG) between
 * RELOADING=1 and READY=1, and a timer sends WATCHDOG=1 when the
 * watchdog is on, so a loop that stops turning is restarted. HOIST_ERR_IO
 * when LOOP refuses the reader or the timer. */
hoist_err_t daemon_attach(daemon_t *d, zloop_t *loop, daemon_reload_fn *reload,
                          void *arg, hoist_error_t *err);

#endif
