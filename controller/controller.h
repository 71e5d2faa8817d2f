/*
 * controller: hoist-controller's root object. One thread, one zloop: the
 * agents' ROUTER, the CLI's ROUTER, the ZAP handler's pipe and a
 * heartbeat timer are its readers; the hub (agents) and the api (CLI)
 * handle what arrives. Every state change goes to the store before it is
 * acted on, so a restarted controller resumes where it stood.
 *
 * Start-up order matters for safety: the ZAP handler is running and
 * loaded with every known key before the first bind, and every server
 * socket sets ZMQ_ZAP_ENFORCE_DOMAIN, so no connection is ever admitted
 * unauthenticated. If the handler dies, the loop ends and the controller
 * stops serving.
 */
#ifndef HOIST_CONTROLLER_H
#define HOIST_CONTROLLER_H

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

#include "envelope.h"
#include "error.h"
#include "log.h"

typedef struct controller controller_t;
typedef struct store store_t;
typedef struct artifacts artifacts_t;
typedef struct zap zap_t;
typedef struct hub hub_t;
typedef struct daemon_ctx daemon_t;

#define CONTROLLER_AGENT_ENDPOINT "tcp://*:7600"
#define CONTROLLER_API_ENDPOINT   "tcp://127.0.0.1:7601"
#define CONTROLLER_HEARTBEAT_MS   5000
#define CONTROLLER_HEARTBEAT_MIN  50
#define CONTROLLER_HEARTBEAT_MAX  600000

typedef struct {
    const char *data_dir;
    const char *agent_endpoint; /* NULL: CONTROLLER_AGENT_ENDPOINT */
    const char *api_endpoint;   /* NULL: CONTROLLER_API_ENDPOINT */
    uint32_t heartbeat_ms;      /* 0: CONTROLLER_HEARTBEAT_MS */
    /* Run by a service manager: SIGHUP calls RELOAD(self, RELOAD_ARG) on
     * the loop, READY=1/STOPPING=1/WATCHDOG=1 go out (daemon.h). NULL:
     * neither (tests, embedding). */
    daemon_t *daemon;
    void (*reload)(controller_t *self, void *arg);
    void *reload_arg;
} controller_opts_t;

/* ---- controller.yml: the operator's settings for `hoist-controller run`
 *
 *   data_dir: /var/lib/hoist/controller   # --data-dir
 *   agent_endpoint: "tcp://0.0.0.0:7600"  # --agent-endpoint
 *   api_endpoint: "tcp://127.0.0.1:7601"  # --api-endpoint
 *   heartbeat: 5s                         # --heartbeat MS (50ms to 10m)
 *   log_level: info                       # --log-level
 *
 * Every key is optional and a flag wins over the file; the endpoints
 * then fall back on DATA_DIR/controller.conf (written by init), then on
 * the defaults above. The data directory is state and never lives in
 * /etc. Of these, a SIGHUP applies heartbeat and log_level at once; the
 * data directory and endpoints need a restart (sockets are bound once).
 */
#define CONTROLLER_CONFIG_FILE "/etc/hoist/controller.yml"
#define CONTROLLER_DATA_DIR    "/var/lib/hoist/controller"

typedef struct {
    char data_dir[1024];      /* "" when not set */
    char agent_endpoint[256]; /* "" when not set */
    char api_endpoint[256];   /* "" when not set */
    uint32_t heartbeat_ms;    /* 0 when not set */
    bool has_log_level;
    log_level_t log_level;
} controller_config_t;

/* Parses LEN bytes of BUF (NAME starts every message) into *OUT, written
 * only on success. HOIST_ERR_USAGE says "NAME:LINE: key 'x': ..." for an
 * unknown key, a wrong type or a value out of range. */
hoist_err_t controller_config_parse(const char *buf, size_t len,
                                    const char *name, controller_config_t *out,
                                    hoist_error_t *err);

/* Reads the file at PATH into *OUT. A missing file gives an empty config
 * unless REQUIRED (then HOIST_ERR_NOTFOUND). */
hoist_err_t controller_config_load(const char *path, bool required,
                                   controller_config_t *out,
                                   hoist_error_t *err);

/* What `run -n` checks without binding or opening the store: O's data
 * directory has a readable controller.conf and a private server key. */
hoist_err_t controller_check(const controller_opts_t *o, hoist_error_t *err);

/* Changes the heartbeat interval agents are told in their next welcome
 * and the period of the loop's tick (re-armed when the loop runs). MS is
 * CONTROLLER_HEARTBEAT_MIN to _MAX. */
void controller_set_heartbeat_ms(controller_t *self, uint32_t ms);

/* Opens the data directory made by controller_init, starts the ZAP
 * handler with every known key, binds both sockets. NULL with ERR set when
 * any of it fails (nothing is left bound). Owned by the caller. */
controller_t *controller_new(const controller_opts_t *o, hoist_error_t *err);

void controller_destroy(controller_t **p);

/* Serves until interrupted (SIGINT/SIGTERM) or the ZAP handler dies.
 * Returns HOIST_OK on an orderly stop. */
hoist_err_t controller_run(controller_t *self, hoist_error_t *err);

/* The data directory this controller serves from. */
const char *controller_data_dir(controller_t *self);

/* What the hub and the api use. */
store_t *controller_store(controller_t *self);
artifacts_t *controller_artifacts(controller_t *self);
/* A keyed BLAKE2b-256 of LEN bytes of DATA into OUT, with a key only this
 * controller has (derived from its CURVE secret): a secret's digest. */
void controller_digest(controller_t *self, const void *data, size_t len,
                       uint8_t out[32]);
/* The pipeline in force (see policy.h). */
struct policy *controller_policy(controller_t *self);
/* The upload actor's handle (see uploader.h). */
struct uploader *controller_uploader(controller_t *self);
zap_t *controller_zap(controller_t *self);
hub_t *controller_hub(controller_t *self);
zsock_t *controller_agents_sock(controller_t *self);
const char *controller_server_key(controller_t *self);

/* Held in the data directory by a serving controller (and by rotate-key). */
#define CONTROLLER_RUN_LOCK ".run.lock"

/* The public key of the prepared next key (serverkey.h), "" for none. */
const char *controller_next_key(controller_t *self);

/* Prepares the next key if none is (loads or makes it: serverkey_next);
 * controller_next_key says it from then on. */
hoist_err_t controller_prepare_next_key(controller_t *self, hoist_error_t *err);
/* The agents' endpoint as an agent should dial it. */
const char *controller_agent_endpoint(controller_t *self);
const char *controller_api_endpoint(controller_t *self);
uint32_t controller_heartbeat_ms(controller_t *self);

/* Packs E and sends it to the peer ROUTING on SOCK (agents or api). A
 * peer that is gone is not an error: it will reconnect and converge. */
void controller_send(zsock_t *sock, zframe_t *routing, envelope_t *e);

/* Wall-clock seconds (records) and monotonic milliseconds (timers). */
int64_t controller_now(void);

#endif
