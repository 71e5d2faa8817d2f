/*
 * conf: the agent's own settings, ROOT/agent.conf, written by
 * `hoist-agent enroll` and read by `hoist-agent run`.
 *
 *   controller: "tcp://controller.example:7600"
 *   server_key: "<the controller's CURVE public key, 40 characters Z85>"
 *   next_server_key: "<...>"      # optional: the key it rotates to
 *   env: "production"
 *   name: "web-01"
 *   user: "www-data"              # optional: hooks run as this user
 *   tags:                         # optional
 *     site: "fra1"
 *
 * The file is strict YAML (common/yamlfile): an unknown or duplicate key,
 * a wrong type or a malformed value is an error that names the line. Every
 * value is checked on load as on save, so what `run` reads is exactly what
 * `enroll` could have written. The release keys the agent trusts are not
 * here but in ROOT/trust/<key id>.pub, its CURVE certificate in ROOT/keys/.
 */
#ifndef HOIST_CONF_H
#define HOIST_CONF_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"
#include "log.h"
#include "manifest.h"

#define CONF_FILE          "agent.conf"
#define CONF_MAX_BYTES     (16 * 1024)
#define CONF_ENDPOINT_MAX  255
#define CONF_KEY_Z85_LEN   40 /* a CURVE public key in Z85 */
#define CONF_USER_MAX      64
#define CONF_TAGS_MAX      32
#define CONF_TAG_KEY_MAX   63
#define CONF_TAG_VALUE_MAX 127

typedef struct {
    char key[CONF_TAG_KEY_MAX + 1];
    char value[CONF_TAG_VALUE_MAX + 1];
} conf_tag_t;

typedef struct {
    char controller[CONF_ENDPOINT_MAX + 1];     /* the controller's endpoint */
    char server_key[CONF_KEY_Z85_LEN + 1];      /* its pinned CURVE key */
    char next_server_key[CONF_KEY_Z85_LEN + 1]; /* announced next; "" */
    char env[MANIFEST_NAME_MAX + 1];
    char name[MANIFEST_NAME_MAX + 1];
    char user[CONF_USER_MAX + 1]; /* hook user; "" when not set */
    conf_tag_t tags[CONF_TAGS_MAX];
    size_t n_tags;
} conf_t;

/* Parses LEN bytes of BUF (NAME starts every message) into *OUT, written
 * only on success. HOIST_ERR_USAGE names the line and key of anything
 * wrong, or the missing key (controller, server_key, env and name are
 * required). */
hoist_err_t conf_parse(const char *buf, size_t len, const char *name,
                       conf_t *out, hoist_error_t *err);

/* The YAML text of C (valid: see conf_check), malloc'd and owned by the
 * caller; NULL when out of memory. */
char *conf_format(const conf_t *c);

/* Checks every field of C as conf_parse would; HOIST_ERR_USAGE names the
 * first bad one. */
hoist_err_t conf_check(const conf_t *c, hoist_error_t *err);

/* Reads ROOT/agent.conf into *OUT. HOIST_ERR_NOTFOUND when the root has
 * not been enrolled (no such file). */
hoist_err_t conf_load(const char *root, conf_t *out, hoist_error_t *err);

/* Checks C and writes ROOT/agent.conf atomically (mode 0644). */
hoist_err_t conf_save(const char *root, const conf_t *c, hoist_error_t *err);

/* True for "tcp://HOST:PORT" with a printable host (no quotes, spaces,
 * backslashes) and a port of 1 to 65535, at most CONF_ENDPOINT_MAX long. */
bool conf_endpoint_valid(const char *s);

/* True for a CURVE public key: 40 characters of canonical Z85. */
bool conf_key_valid(const char *s);

/* Parses "KEY=VALUE" into *OUT: KEY is [a-z0-9_.-], 1..63 characters,
 * VALUE [A-Za-z0-9_.:/@+-], 1..127 characters. HOIST_ERR_USAGE says
 * which rule was broken. */
hoist_err_t conf_tag_parse(const char *kv, conf_tag_t *out, hoist_error_t *err);

/* The name an agent takes by default: HOST lowercased, every character
 * outside [a-z0-9_-] replaced by '-', leading non-alphanumerics dropped,
 * cut to MANIFEST_NAME_MAX; "agent" when nothing is left. Writes OUT (LEN
 * bytes, at least MANIFEST_NAME_MAX + 1). */
void conf_default_name(const char *host, char *out, size_t len);

/* Reads the controller's public key out of TEXT, either a czmq zcert
 * public file (its `public-key = "..."` line) or one bare line of 40 Z85
 * characters, into OUT. HOIST_ERR_KEY when neither is found. */
hoist_err_t conf_server_key_parse(const char *text,
                                  char out[CONF_KEY_Z85_LEN + 1],
                                  hoist_error_t *err);

/* ---- agent.yml: the operator's settings for `hoist-agent run` -----------
 *
 * agent.conf above is state (enroll writes it, under the root); this file
 * is configuration (the operator writes it, a conffile in /etc):
 *
 *   root: /var/lib/hoist     # --root: enrollment, keys, releases
 *   user: www-data           # --user: hooks run as this user
 *   keep: 5                  # --keep: releases kept per app (2 to 50)
 *   log_level: info          # --log-level: debug, info, warn, error
 *
 * Every key is optional; a flag given to `run` wins over the file. A
 * missing default file is an empty one (a root given by flags needs no
 * /etc); a missing file named by --config is an error.
 */
#define CONF_SETTINGS_FILE "/etc/hoist/agent.yml"
#define CONF_DEFAULT_ROOT  "/var/lib/hoist"
#define CONF_PATH_MAX      1023
#define CONF_KEEP_MIN      2
#define CONF_KEEP_MAX      50

typedef struct {
    char root[CONF_PATH_MAX + 1]; /* "" when not set */
    char user[CONF_USER_MAX + 1]; /* "" when not set */
    unsigned keep;                /* 0 when not set */
    bool has_log_level;
    log_level_t log_level;
} conf_settings_t;

/* Parses LEN bytes of BUF (NAME starts every message) into *OUT, written
 * only on success. HOIST_ERR_USAGE says "NAME:LINE: key 'x': ..." for an
 * unknown key, a wrong type or a value out of range. */
hoist_err_t conf_settings_parse(const char *buf, size_t len, const char *name,
                                conf_settings_t *out, hoist_error_t *err);

/* Reads the file at PATH into *OUT. A missing file gives empty settings
 * unless REQUIRED (then HOIST_ERR_NOTFOUND). */
hoist_err_t conf_settings_load(const char *path, bool required,
                               conf_settings_t *out, hoist_error_t *err);

#endif
