/*
 * fleetutil: see fleetutil.c. Linked into every test; used by the
 * multi-process ones (test_fleet, test_promotion, test_vars).
 */
#ifndef HOIST_FLEETUTIL_H
#define HOIST_FLEETUTIL_H

#include "testutil.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define MAX_AGENTS 16
#define WAIT_MS    20000

typedef struct {
    char *dir;  /* everything of this test */
    char *data; /* the controller's data directory */
    char *conf; /* the admin's cli.conf */
    char *mark; /* where hooks leave traces */
    char endpoint[256];
    char bound_agents[256]; /* the controller's ports, kept for restarts */
    char bound_api[256];
    char server_key[64];
    pid_t controller;
    pid_t agent[MAX_AGENTS];
    char *root[MAX_AGENTS];
    char name[MAX_AGENTS][32];
    int n;
} fleet_t;

/* A release whose activate hook writes ./active and whose health check
 * passes; one whose health check always fails. */
extern const char *const FU_GOOD_SPEC;
extern const char *const FU_BAD_SPEC;

/* The user running the tests (hooks run as it). */
const char *fu_me(void);

/* Starts ARGV in the background (own process group) with output to LOG;
 * remembered for fu_kill_leftovers. */
pid_t fu_spawn(const char *const *argv, const char *log);

/* Group teardown: SIGKILLs every process fu_spawn started. */
int fu_kill_leftovers(void **state);

/* Sends SIG to *PID, reaps it and sets *PID to 0. */
void fu_stop(pid_t *pid, int sig);

/* Runs the hoist CLI with the admin's config; returns its result. */
tu_run_t fu_hoist(fleet_t *f, const char *const *args);

/* Like fu_hoist with --json, asserting exit 0; returns the parsed JSON. */
json_t *fu_hoist_json(fleet_t *f, const char *const *args);

/* (Re)starts the controller on F's data directory and waits for cli.conf. */
void fu_start_controller(fleet_t *f);

/* cmocka setup/teardown: a controller with release key rel trusted (and a
 * second key, other, that is not). */
int fu_setup(void **state);
int fu_teardown(void **state);

/* A one-time token for ENV (malloc'd); fills F's endpoint and server key. */
char *fu_token(fleet_t *f, const char *env);

/* Enrolls agent NAME into ENV with TOKEN ("" for none); returns its index.
 * The enroll command's result goes to *OUT if not NULL, else must be 0. */
int fu_enroll(fleet_t *f, const char *name, const char *env, const char *token,
              tu_run_t *out);

/* Starts the daemon of agent I. */
void fu_run_agent(fleet_t *f, int i);

/* Enrolls NAME into ENV with a fresh token and starts it; its index. */
int fu_agent(fleet_t *f, const char *name, const char *env);

/* NAME's entry of `hoist agents --json` (a new reference), or NULL. */
json_t *fu_agent_row(fleet_t *f, const char *name);

/* Waits until NAME is online (asserts it gets there). */
void fu_wait_online(fleet_t *f, const char *name);

/* Packs, signs and uploads web VERSION (sequence SEQ) with SPEC; _with
 * adds the options EXTRA (NULL-terminated) to release create. */
void fu_release(fleet_t *f, const char *version, int seq, const char *spec);
void fu_release_with(fleet_t *f, const char *version, int seq, const char *spec,
                     const char *const *extra);

/* Deploys web VERSION to ENV with --wait, asserting exit WANT_EXIT;
 * returns the deployment's JSON (deployment show). */
json_t *fu_deploy_wait(fleet_t *f, const char *version, const char *env,
                       int want_exit);

/* Polls deployment ID until it leaves running (at most MS); asserts WANT. */
void fu_assert_ends(fleet_t *f, const char *id, const char *want, uint64_t ms);

/* The version agent I runs (malloc'd, "" when none). */
char *fu_live(fleet_t *f, int i);

/* The state of AGENT's task in deployment JSON D, or "absent". */
const char *fu_task_state(json_t *d, const char *agent);

#endif
