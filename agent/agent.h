/*
 * agent: the hoist-agent daemon's root object and its event loop.
 *
 * One thread runs one zloop. It holds the uplink to the controller (see
 * uplink.h for the liveness state machine), says hello with this
 * machine's facts on every connection, heartbeats both ways, reconnects
 * with backoff when the controller goes silent, and carries out one
 * deploy order at a time (order.h), whose install runs in a child
 * process. What the agent does on the wire:
 *
 *   sends      hello{facts}          on every connection, id 1
 *              heartbeat{seq}        every welcome.heartbeat_ms, id 2
 *              fetch{digest, offset, length}   id ORDER_FETCH_ID(epoch)
 *              progress{deployment, step}      id of the deploy order
 *              result{deployment, outcome, failed_step, message, live}
 *                                    id of the deploy order
 *   expects    welcome{heartbeat_ms}, heartbeat{seq}, deploy{deployment,
 *              manifest, rollback}, chunk{digest, offset, data} (id echoed
 *              from its fetch), error{code, message} (id echoed)
 *
 * An Error{protocol} answering the hello or a heartbeat means the
 * controller does not know this connection (it restarted): the agent says
 * hello again, at most once per heartbeat interval. A deploy order for
 * the deployment in progress is ignored (controllers send the orders of
 * unfinished tasks again after a hello); one for the deployment that just
 * ended is answered with its result again; any other while one runs is
 * answered `rejected` ("busy with deployment N"). A result that may have
 * been lost (it could not be queued, or nothing but refusals came from
 * the controller between sending it and giving the connection up or
 * being refused) is sent again after the next welcome, at most three
 * times: a controller must take results as idempotent. Anything else out
 * of place is logged and dropped.
 *
 * The agent's root:
 *   ROOT/agent.conf           conf.h
 *   ROOT/keys/agent, agent_secret   its CURVE certificate (czmq zcert)
 *   ROOT/trust/<key id>.pub          the release keys it trusts
 */
#ifndef HOIST_AGENT_H
#define HOIST_AGENT_H

#include <stddef.h>
#include <stdint.h>

#include <czmq.h>

#include "conf.h"
#include "error.h"
#include "keys.h"

#define AGENT_KEYS_DIR  "keys"
#define AGENT_CERT_NAME "agent" /* keys/agent and keys/agent_secret */
#define AGENT_TRUST_DIR "trust"
#define AGENT_TRUST_MAX 16

typedef struct {
    const char *root;
    const conf_t *conf;
    zcert_t *cert; /* the agent's key pair */
    const keys_public_t *trusted;
    size_t n_trusted;
    const char *hook_user; /* NULL: hooks run as the agent's user */
    size_t keep;           /* releases kept per app; 0 for the default */
    uint64_t stall_ms;     /* fetch stall timeout; 0 for the default */
} agent_opts_t;

typedef struct agent agent_t;

/* A daemon for O (copied; what it points at must outlive the agent).
 * NULL with ERR when the conf's controller or key is unusable. The
 * result belongs to the caller. */
agent_t *agent_new(const agent_opts_t *o, hoist_error_t *err);

/* Stops a running install (see order_destroy), closes the uplink, frees
 * *P and sets it to NULL. Accepts NULL. */
void agent_destroy(agent_t **p);

/* The agent's event loop, for what else the daemon watches on it (SIGHUP,
 * the watchdog: common/daemon.h). Owned by the agent. */
zloop_t *agent_loop(agent_t *a);

/* What a reload may change while the agent serves, on the loop's thread.
 * Both apply to the next install or hook run; one already running keeps
 * what it started with. USER is copied (NULL: hooks run as the agent's
 * user); HOIST_ERR_USAGE when it is longer than a user name can be.
 * KEEP 0 means the default. */
hoist_err_t agent_set_hook_user(agent_t *a, const char *user,
                                hoist_error_t *err);
void agent_set_keep(agent_t *a, size_t keep);

/* The agent's key was replaced (newkey.h): from now on it connects with
 * CERT, which it takes over, and it drops its connection to make a new
 * one. The key it replaces stays valid for an install that runs. */
void agent_set_cert(agent_t *a, zcert_t *cert);

/* The agent's key pair now (owned by the agent or by its creator). */
zcert_t *agent_cert(agent_t *a);

/* Serves until SIGINT or SIGTERM (czmq's zsys_interrupted). Returns
 * HOIST_OK then; HOIST_ERR_IO when the loop could not run. */
hoist_err_t agent_run(agent_t *a, hoist_error_t *err);

/* Loads the agent's certificate from ROOT/keys/agent(_secret), refusing
 * a secret file that group or others may read (HOIST_ERR_KEY). The result
 * belongs to the caller (zcert_destroy). */
zcert_t *agent_cert_load(const char *root, hoist_error_t *err);

/* Makes a fresh certificate and writes ROOT/keys/agent (0644) and
 * agent_secret (0600) in ROOT/keys (0700); with REPLACE an existing one
 * is overwritten, else HOIST_ERR_EXISTS. The result belongs to the
 * caller. */
zcert_t *agent_cert_create(const char *root, bool replace, hoist_error_t *err);

/* Loads every ROOT/trust/<key id>.pub into KEYS (at most MAX); *N gets the
 * count. HOIST_ERR_KEY for a malformed file or when there is none. */
hoist_err_t agent_trust_load(const char *root, keys_public_t *keys, size_t max,
                             size_t *n, hoist_error_t *err);

#endif
