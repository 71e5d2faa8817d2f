/*
 * notify: hands events (release created, approval given, promotion
 * started, deployment rolled back, ...) to the commands the pipeline file
 * names, each event as one JSON document on the command's stdin.
 *
 * A notifier is someone else's script: it may be slow, hang, fail or
 * never read its input, and none of that may hold up a deployment. So
 * notify_send only copies the event into a background actor and returns;
 * the actor runs the commands as child processes and watches them without
 * blocking:
 *
 *   - each command gets the events in the order sent, one at a time; the
 *     commands run side by side;
 *   - each command has a queue of at most queue_max events waiting; when
 *     it is full a new event is dropped for that command (logged once per
 *     burst, counted);
 *   - a delivery that outlives timeout_ms is killed with SIGKILL, with its
 *     whole process group (a notifier that forks `curl` cannot hide it);
 *     when the command itself exits, whatever it left in its group is
 *     killed as well, so notifiers never pile up; a notifier that wants
 *     something to outlive it must start its own session;
 *   - a non-zero exit, a signal or a timeout is logged once, naming the
 *     command, the event type and the start of its output;
 *   - children are reaped as they end, and notify_destroy kills and reaps
 *     those still running and drops the queue, so it returns at once.
 *
 * A command is an absolute path, run directly (no shell, no arguments),
 * in "/", with an environment of PATH alone (nothing of the controller's
 * environment reaches it), stdin the event, stdout and stderr captured
 * (the first NOTIFY_OUTPUT_MAX bytes, for the log line). The event type in
 * log lines is the event's "event" member.
 *
 * The counters count deliveries, one per event per command.
 */
#ifndef HOIST_NOTIFY_H
#define HOIST_NOTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"

#define NOTIFY_MAX_COMMANDS       16
#define NOTIFY_DEFAULT_TIMEOUT_MS (10 * 1000)
#define NOTIFY_DEFAULT_QUEUE      256
/* The largest event: far above any event Hoist sends. */
#define NOTIFY_EVENT_MAX ((size_t)1 << 20)
/* Output kept from a command for its log line. */
#define NOTIFY_OUTPUT_MAX 512

typedef struct {
    const char *const *commands; /* absolute paths, N_COMMANDS of them */
    size_t n_commands;           /* 0 makes a notifier that sends nothing */
    uint64_t timeout_ms;         /* per delivery; 0 = 10 s */
    size_t queue_max;            /* events waiting per command; 0 = 256 */
} notify_config_t;

typedef struct {
    uint64_t delivered; /* the command exited 0 */
    uint64_t failed;    /* exited non-zero, died of a signal, or no start */
    uint64_t timed_out; /* killed at the time limit */
    uint64_t dropped;   /* not queued: the queue was full */
    uint64_t queued;    /* waiting now */
    uint64_t in_flight; /* running now */
} notify_stats_t;

typedef struct notify notify_t;

/* Starts a notifier for CFG (copied: the caller may free it). NULL with
 * HOIST_ERR_USAGE when a command is not an absolute path or there are
 * more than NOTIFY_MAX_COMMANDS; HOIST_ERR_NOMEM; HOIST_ERR_IO when the
 * actor cannot start. The result belongs to the caller: notify_destroy. */
notify_t *notify_new(const notify_config_t *cfg, hoist_error_t *err);

/* Kills and reaps the deliveries running, drops the queued events (logged
 * with their count), stops the actor, frees, and sets *P to NULL. Accepts
 * NULL and *P == NULL. */
void notify_destroy(notify_t **p);

/* Queues EVENT_JSON (a JSON object) for every command and returns without
 * waiting for anything. HOIST_OK once the actor has it (a full queue then
 * drops it there, counted); HOIST_ERR_USAGE when it is not a JSON object;
 * HOIST_ERR_LIMIT when it exceeds NOTIFY_EVENT_MAX or the actor's pipe is
 * full (counted as dropped). */
hoist_err_t notify_send(notify_t *self, const char *event_json,
                        hoist_error_t *err);

/* Asks the actor for its counters, into *OUT. HOIST_ERR_IO when the actor
 * does not answer. */
hoist_err_t notify_stats(notify_t *self, notify_stats_t *out,
                         hoist_error_t *err);

/* Writes the process ids of the deliveries running now (the leaders of
 * their process groups) into PIDS, at most MAX; returns how many there
 * are (which may exceed MAX). For tests and diagnostics. */
size_t notify_pids(notify_t *self, pid_t *pids, size_t max);

/* Waits until nothing is queued or running, at most TIMEOUT_MS (capped at
 * a day). True when that happened. Blocks the caller: meant for tests and
 * for a shutdown that wants the last events out, never for the event
 * loop. */
bool notify_drain(notify_t *self, uint64_t timeout_ms);

#endif
