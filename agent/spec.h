/*
 * spec: the deploy spec, `hoist.yml` at the root of a release artifact.
 *
 *   hooks:
 *     before_activate: CMD     activate: CMD     after_rollback: CMD
 *     failover: CMD            failback: CMD
 *     timeout: 5m              # time limit of each hook (an extension)
 *   health:                    # one of command | tcp | http
 *     command: CMD | tcp: HOST:PORT | http: http://...
 *     timeout: 5s  interval: 1s  retries: 10  healthy_for: 10s
 *
 * Every key is optional. An unknown key, a wrong type, or a malformed value
 * is an error that names the key and its line.
 */
#ifndef HOIST_SPEC_H
#define HOIST_SPEC_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "health.h"

typedef struct {
    char *before_activate; /* NULL when absent */
    char *activate;
    char *after_rollback;
    char *failover;
    char *failback;
    uint64_t hook_timeout_ms; /* default 5 minutes */
    health_check_t health;
} spec_t;

/* Parses LEN bytes of YAML. NAME is used in messages ("hoist.yml:7: ...").
 * Returns a spec owned by the caller, or NULL with HOIST_ERR_SPEC. */
spec_t *spec_parse(const char *buf, size_t len, const char *name,
                   hoist_error_t *err);

/* Reads and parses the file at PATH, which must be a regular file (not a
 * symlink) of at most 64 KiB. NULL with HOIST_ERR_SPEC or _IO on failure. */
spec_t *spec_load(const char *path, hoist_error_t *err);

void spec_destroy(spec_t **p);

#endif
