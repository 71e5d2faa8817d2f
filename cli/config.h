/*
 * config: what `hoist` needs to reach the controller, read from cli.conf.
 *
 *     controller: tcp://127.0.0.1:7601     # the controller's API endpoint
 *     server_key: <40 characters of Z85>   # the controller's CURVE key
 *     identity: /path/to/admin             # a zcert public file; its
 *                                          # secret is /path/to/admin_secret
 *
 * `hoist-controller run` writes DIR/cli.conf for the first admin. The file
 * is found from --config FILE, else $HOIST_CONFIG, else
 * ~/.config/hoist/cli.conf. It is strict (common/yamlfile): an unknown key
 * or a malformed value is an error that names the file and the line. A
 * relative identity path is taken from the config file's directory, so a
 * config and its certificate can move together.
 *
 * The identity's secret half (PATH_secret) must not be readable by group
 * or others: a CURVE secret that others could read must be treated as
 * leaked, as keys_secret_load does for release keys.
 */
#ifndef HOIST_CONFIG_H
#define HOIST_CONFIG_H

#include <czmq.h>

#include "error.h"

#define CONFIG_ENV         "HOIST_CONFIG"
#define CONFIG_HOME_PATH   ".config/hoist/cli.conf" /* under $HOME */
#define CONFIG_MAX_BYTES   (16 * 1024)
#define CONFIG_SECRET_TAIL "_secret"

typedef struct config config_t;

/* Chooses the config file: FLAG (--config) if given, else ENV (the value
 * of $HOIST_CONFIG) if set and not empty, else HOME/.config/hoist/cli.conf
 * if it exists. Any of them may be NULL. Sets *PATH to a malloc'd copy
 * (the caller's). Fails with HOIST_ERR_USAGE and a message naming all
 * three places when none applies. */
hoist_err_t config_path(const char *flag, const char *env, const char *home,
                        char **path, hoist_error_t *err);

/* Reads and checks the config file at PATH. Returns the config, owned by
 * the caller (config_destroy), or NULL with HOIST_ERR_USAGE (missing or
 * malformed file: the message names the file and line). The identity's
 * key files are not read here: see config_identity_load. */
config_t *config_load(const char *path, hoist_error_t *err);

/* config_path with the real environment ($HOIST_CONFIG, $HOME), then
 * config_load. */
config_t *config_find(const char *flag, hoist_error_t *err);

/* Frees the config and sets *P to NULL. Accepts NULL. */
void config_destroy(config_t **p);

/* The controller's API endpoint ("tcp://127.0.0.1:7601"). */
const char *config_controller(const config_t *cfg);

/* The controller's CURVE public key, 40 characters of Z85. */
const char *config_server_key(const config_t *cfg);

/* The path of the identity's public certificate file, as resolved. */
const char *config_identity(const config_t *cfg);

/* Replaces the identity path (the --identity flag). HOIST_ERR_NOMEM on
 * failure, the config unchanged. */
hoist_err_t config_set_identity(config_t *cfg, const char *path,
                                hoist_error_t *err);

/* Loads the CURVE certificate whose public file is PATH from PATH_secret,
 * after checking that PATH_secret is a regular file not readable by group
 * or others and, when PATH exists, that both hold the same public key.
 * Returns the certificate (the caller's: zcert_destroy), or NULL with
 * HOIST_ERR_KEY and what to do. */
zcert_t *config_identity_load(const char *path, hoist_error_t *err);

#endif
