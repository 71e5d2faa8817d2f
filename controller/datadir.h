/*
 * datadir: the controller's data directory on disk (docs/protocol.md,
 * "Files"): made once by `hoist-controller init`, plus the cli.conf that
 * `run` writes for the admin.
 */
#ifndef HOIST_DATADIR_H
#define HOIST_DATADIR_H

#include "error.h"

/* Creates DIR (0700) with the server and admin certificates, the
 * database with the admin user, the artifact folders and controller.conf
 * naming AGENT_ENDPOINT and API_ENDPOINT. Refuses a DIR that already has a
 * controller.conf: init never overwrites keys. */
hoist_err_t datadir_init(const char *dir, const char *agent_endpoint,
                         const char *api_endpoint, hoist_error_t *err);

/* Writes DIR/cli.conf (0600): the API endpoint to dial, the server's
 * public key, and the admin certificate as identity. */
hoist_err_t datadir_write_cli_conf(const char *dir, const char *api_endpoint,
                                   const char *server_key, hoist_error_t *err);

#endif
