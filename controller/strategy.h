/*
 * strategy: how one environment rolls a release across its agents, and
 * how it reacts when agents fail. A plain value read from the pipeline
 * file (strategy_read_key), written back by `hoist export` (strategy_emit)
 * and overridden per deployment from the command line (strategy_parse).
 * The rollout planner (planner.h) turns it into decisions.
 *
 * Pipeline-file syntax, per environment (DESIGN.md keeps these keys):
 *
 *   strategy: {type: all-at-once}
 *   strategy: {type: rolling, batch: 2, max_unavailable: 1}  # or "25%"
 *   strategy: {type: canary, count: 1, hold: 5m, then: manual, batch: 3}
 *   strategy: {type: rolling, batch: 2, by: site, bake: 2m}
 *   strategy: {type: rolling, batch: 5,
 *              waves: [{count: 1}, {percent: 10}, {site: fra1}]}
 *   failure_threshold: 0          # or "10%": halt when failed > threshold
 *   auto_rollback: true           # default true only in "production"
 *   progress_deadline: 5m         # default 10m
 *   offline: {wait: 10m, then: fail}   # or skip; this is the default
 *
 * Keys inside `strategy` per type (anything else is refused, with its
 * line): all-at-once takes by, bake, waves, max_unavailable; rolling
 * takes batch (required), max_unavailable, by, bake, waves; canary takes
 * count (required: a count or "P%"), hold (default 0), then (auto, the
 * default, or manual), batch (the rest in batches; without it the rest
 * goes all at once, per wave), max_unavailable, by, bake, waves. `by:
 * site` and `waves` exclude each other; with canary they shape what
 * follows the canary.
 */
#ifndef HOIST_STRATEGY_H
#define HOIST_STRATEGY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <yaml.h>

#include "error.h"
#include "yamlfile.h"

#define STRATEGY_MAX_WAVES  32    /* entries of `waves` */
#define STRATEGY_SITE_MAX   64    /* characters of a site name */
#define STRATEGY_MAX_COUNT  65536 /* any count of agents */
#define STRATEGY_FORMAT_MAX 256   /* enough for strategy_format */

typedef enum {
    STRATEGY_ALL_AT_ONCE = 0,
    STRATEGY_ROLLING,
    STRATEGY_CANARY,
} strategy_type_t;

typedef enum {
    STRATEGY_THEN_AUTO = 0, /* continue once the canary held */
    STRATEGY_THEN_MANUAL,   /* wait for `hoist deployment continue` */
} strategy_then_t;

typedef enum {
    STRATEGY_OFFLINE_FAIL = 0, /* an agent offline past the wait failed */
    STRATEGY_OFFLINE_SKIP,     /* ... is left out, not a failure */
} strategy_offline_t;

/* A number of agents: VALUE agents, or VALUE percent of the targeted
 * agents when PERCENT. VALUE 0 without PERCENT means "not set" where a
 * field is optional. */
typedef struct {
    uint32_t value;
    bool percent;
} strategy_amount_t;

typedef enum {
    STRATEGY_WAVE_COUNT = 0, /* the next AMOUNT agents in the stable order */
    STRATEGY_WAVE_SITE,      /* every remaining agent of SITE */
} strategy_wave_kind_t;

/* One entry of `waves`: {count: N}, {count: "P%"}, {percent: P} or
 * {site: NAME}. */
typedef struct {
    strategy_wave_kind_t kind;
    strategy_amount_t amount;         /* STRATEGY_WAVE_COUNT */
    char site[STRATEGY_SITE_MAX + 1]; /* STRATEGY_WAVE_SITE */
} strategy_wave_t;

/* A strategy: a plain value, no pointers, copyable with =. Fields that
 * the type does not use are zero, so that strategy_equal and the emit /
 * read round trip see one form per meaning. */
typedef struct strategy {
    /* The shape (what strategy_parse replaces). */
    strategy_type_t type;
    strategy_amount_t batch;           /* rolling; canary's rest (0: all) */
    strategy_amount_t max_unavailable; /* 0: same as the batch */
    strategy_amount_t canary;          /* canary `count` */
    uint64_t hold_ms;                  /* canary `hold` */
    strategy_then_t then;              /* canary `then` */
    bool by_site;                      /* `by: site` */
    uint64_t bake_ms;                  /* wait between batches and waves */
    unsigned nwaves;
    strategy_wave_t waves[STRATEGY_MAX_WAVES];
    /* The reaction to failures (kept by strategy_parse). */
    strategy_amount_t failure_threshold; /* halt when failed > this */
    bool auto_rollback;
    uint64_t progress_deadline_ms;
    uint64_t offline_wait_ms;
    strategy_offline_t offline_then;
} strategy_t;

/* Environment keys this module reads, NULL-terminated:
 * {"strategy","failure_threshold","auto_rollback","progress_deadline",
 *  "offline",NULL} */
extern const char *const strategy_keys[];

/* Sets *S to the defaults of an environment named ENV: all-at-once,
 * threshold 0, progress deadline 10m, offline wait 10m then fail, and
 * auto_rollback on only for "production". */
void strategy_default(strategy_t *s, const char *env);

/* Reads one environment key named in strategy_keys (PAIR's value) into
 * S. Fails with yamlfile's code and a message naming file:line:key
 * (yamlfile_error); S is then unchanged. */
hoist_err_t strategy_read_key(yamlfile_t *yf, const yamlfile_pair_t *pair,
                              strategy_t *s, hoist_error_t *err);

/* Adds to the mapping node MAP of DOC every key of S that differs from
 * strategy_default(ENV), so that reading them back gives S again. Fails
 * with HOIST_ERR_NOMEM when libyaml cannot grow the document. */
hoist_err_t strategy_emit(const strategy_t *s, const char *env,
                          yaml_document_t *doc, int map, hoist_error_t *err);

/* Replaces the shape of *S with a per-deployment override from the
 * command line: "all-at-once", "rolling:batch=3,max_unavailable=1",
 * "rolling:batch=25%,by=site,bake=2m", "canary:count=1,hold=5m,then=manual".
 * Threshold, rollback, deadline and offline keep S's values; explicit
 * waves exist only in the pipeline file. Fails with HOIST_ERR_USAGE and S
 * unchanged. */
hoist_err_t strategy_parse(const char *text, strategy_t *s, hoist_error_t *err);

/* Writes one line for humans and logs into BUF ("rolling batch=3
 * max_unavailable=1 threshold=0 auto_rollback"); returns BUF. The line
 * is cut short if LEN is below STRATEGY_FORMAT_MAX. */
const char *strategy_format(const strategy_t *s, char *buf, size_t len);

/* True when A and B mean the same strategy. */
bool strategy_equal(const strategy_t *a, const strategy_t *b);

/* The name of TYPE as in the pipeline file ("all-at-once"). */
const char *strategy_type_name(strategy_type_t type);

/* AMOUNT resolved against N targeted agents: a percent rounds up, and a
 * set amount is at least 1 when N > 0. An unset amount gives 0. */
size_t strategy_amount_of(strategy_amount_t amount, size_t n);

#endif
