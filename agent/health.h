/*
 * health: the deploy spec's health check: a command, a TCP connect to
 * HOST:PORT, or an HTTP GET expecting 2xx (libcurl).
 *
 * Policy: up to `retries` probes, `interval` apart, each bounded by
 * `timeout`, until one passes; then the check keeps probing every
 * `interval` until the release has been healthy for `healthy_for`; a
 * failure inside that window fails the check. The policy is a pure
 * function (health_decide) over the probe results and elapsed time, tested
 * without sockets or clocks; health_run does the probing and sleeping.
 */
#ifndef HOIST_HEALTH_H
#define HOIST_HEALTH_H

#include <stdbool.h>
#include <stdint.h>

#include "error.h"
#include "hooks.h"

typedef enum {
    HEALTH_NONE = 0, /* no check configured: healthy once activated */
    HEALTH_COMMAND,
    HEALTH_TCP,
    HEALTH_HTTP,
} health_kind_t;

typedef struct {
    health_kind_t kind;
    char *target;            /* command line, "HOST:PORT" or URL; owned by
                                whoever owns the struct (the spec) */
    uint64_t timeout_ms;     /* per probe, default 5s */
    uint64_t interval_ms;    /* between probes, default 1s */
    uint32_t retries;        /* probes before giving up, default 10 */
    uint64_t healthy_for_ms; /* must stay healthy this long, default 0 */
} health_check_t;

/* Sets the defaults above and kind HEALTH_NONE. */
void health_check_default(health_check_t *hc);

typedef enum {
    HEALTH_PROBE_AGAIN, /* wait interval, probe again */
    HEALTH_PASSED,      /* healthy for long enough */
    HEALTH_FAILED,      /* retries exhausted, or unhealthy inside window */
} health_verdict_t;

/* The policy. PROBES is how many probes ran, FIRST_OK_MS the elapsed time
 * of the first passing probe (or UINT64_MAX if none passed), LAST_OK the
 * result of the latest probe, NOW_MS the elapsed time since the check
 * started. Pure. */
health_verdict_t health_decide(const health_check_t *hc, uint32_t probes,
                               uint64_t first_ok_ms, bool last_ok,
                               uint64_t now_ms);

/* Runs the check. CTX supplies the directory, environment and user for a
 * command check (its command and timeout are taken from HC). Returns
 * HOIST_OK when healthy, HOIST_ERR_HEALTH otherwise with a message naming
 * the last probe's failure (and a command check's output tail). */
hoist_err_t health_run(const health_check_t *hc, const hooks_cmd_t *ctx,
                       hoist_error_t *err);

#endif
