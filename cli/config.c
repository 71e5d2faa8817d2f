/*
 * config: see config.h. The file is small and read once per command, so
 * it is parsed into three strings and the YAML document is dropped.
 */
#include "config.h"

#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "curve.h"
#include "input.h"
#include "userkey.h"
#include "yamlfile.h"

struct config {
    char *path; /* the file, resolved */
    char *controller;
    char *server_key;
    char *identity;
};

enum { S_CONTROLLER, S_SERVER_KEY, S_IDENTITY };
static const char *const s_keys[] = {"controller", "server_key", "identity",
                                     NULL};

/* ---- finding the file --------------------------------------------------- */

/* The message when no config can be found; FLAG or ENV name a file that
 * was asked for and is missing. */
static hoist_err_t
s_not_found(const char *asked, const char *home, hoist_error_t *err)
{
    char missing[1024] = "";
    if (asked) {
        snprintf(missing, sizeof missing, "%s does not exist; ", asked);
    }
    return error_set(err, HOIST_ERR_USAGE,
                     "%sno CLI config found: pass --config FILE, set %s=FILE, "
                     "or create %s/%s (hoist-controller run writes "
                     "DATA_DIR/cli.conf for the admin)",
                     missing, CONFIG_ENV, home && *home ? home : "~",
                     CONFIG_HOME_PATH);
}

hoist_err_t
config_path(const char *flag, const char *env, const char *home, char **path,
            hoist_error_t *err)
{
    const char *asked = flag ? flag : (env && *env ? env : NULL);
    char *candidate = NULL;
    if (asked) {
        candidate = strdup(asked);
    } else if (home && *home &&
               asprintf(&candidate, "%s/%s", home, CONFIG_HOME_PATH) < 0) {
        candidate = NULL;
    }
    if ((asked || (home && *home)) && !candidate) {
        return error_set(err, HOIST_ERR_NOMEM, "out of memory");
    }
    struct stat st;
    if (!candidate || stat(candidate, &st) != 0) {
        free(candidate);
        return s_not_found(asked, home, err);
    }
    *path = candidate;
    return HOIST_OK;
}

/* ---- reading it --------------------------------------------------------- */

/* Checks an endpoint: the API socket is TCP (or IPC on one machine). */
static hoist_err_t
s_check_endpoint(yamlfile_t *yf, const yamlfile_pair_t *p, const char *v,
                 hoist_error_t *err)
{
    if (strncmp(v, "tcp://", 6) != 0 && strncmp(v, "ipc://", 6) != 0) {
        return yamlfile_error(yf, p, err,
                              "expected an endpoint like "
                              "tcp://127.0.0.1:7601, got '%s'",
                              v);
    }
    return HOIST_OK;
}

/* Checks a CURVE public key: 40 characters of Z85 that decode. */
static hoist_err_t
s_check_key(yamlfile_t *yf, const yamlfile_pair_t *p, const char *v,
            hoist_error_t *err)
{
    uint8_t key[32];
    if (strlen(v) != CURVE_KEY_Z85_LEN || !zmq_z85_decode(key, v)) {
        return yamlfile_error(yf, p, err,
                              "expected the controller's CURVE public key "
                              "(40 characters of Z85, as in DATA_DIR/keys/"
                              "server), got '%.64s'",
                              v);
    }
    return HOIST_OK;
}

/* Makes a relative identity path relative to the config's directory. */
static hoist_err_t
s_resolve_identity(config_t *cfg, hoist_error_t *err)
{
    if (cfg->identity[0] == '/') {
        return HOIST_OK;
    }
    char *dir = strdup(cfg->path);
    char *joined = NULL;
    if (!dir || asprintf(&joined, "%s/%s", dirname(dir), cfg->identity) < 0) {
        free(dir);
        return error_set(err, HOIST_ERR_NOMEM, "out of memory");
    }
    free(dir);
    free(cfg->identity);
    cfg->identity = joined;
    return HOIST_OK;
}

/* Reads one key of the root mapping into CFG. */
static hoist_err_t
s_pair(yamlfile_t *yf, const yamlfile_pair_t *p, config_t *cfg,
       hoist_error_t *err)
{
    int which = yamlfile_key(yf, p, s_keys, err);
    if (which < 0) {
        return HOIST_ERR_USAGE;
    }
    char **slot = which == S_CONTROLLER   ? &cfg->controller
                  : which == S_SERVER_KEY ? &cfg->server_key
                                          : &cfg->identity;
    free(*slot);
    *slot = NULL;
    hoist_err_t rc = yamlfile_string(yf, p, slot, err);
    if (rc == HOIST_OK && which == S_CONTROLLER) {
        rc = s_check_endpoint(yf, p, *slot, err);
    } else if (rc == HOIST_OK && which == S_SERVER_KEY) {
        rc = s_check_key(yf, p, *slot, err);
    }
    return rc;
}

/* Parses the LEN bytes of BUF into CFG and checks that nothing is missing. */
static hoist_err_t
s_parse(config_t *cfg, const char *buf, size_t len, hoist_error_t *err)
{
    yamlfile_t *yf = yamlfile_load(buf, len, CONFIG_MAX_BYTES, cfg->path,
                                   HOIST_ERR_USAGE, err);
    if (!yf) {
        return err ? err->code : HOIST_ERR_USAGE;
    }
    yaml_node_t *root = NULL;
    hoist_err_t rc = yamlfile_root(yf, &root, err);
    yamlfile_pair_t p;
    for (size_t i = 0; rc == HOIST_OK && yamlfile_next(yf, root, "", &i, &p);) {
        rc = s_pair(yf, &p, cfg, err);
    }
    yamlfile_destroy(&yf);
    const char *missing = !cfg->controller   ? "controller"
                          : !cfg->server_key ? "server_key"
                          : !cfg->identity   ? "identity"
                                             : NULL;
    if (rc == HOIST_OK && missing) {
        rc = error_set(err, HOIST_ERR_USAGE,
                       "%s: key '%s' is missing (a CLI config needs "
                       "controller, server_key and identity)",
                       cfg->path, missing);
    }
    return rc == HOIST_OK ? s_resolve_identity(cfg, err) : rc;
}

config_t *
config_load(const char *path, hoist_error_t *err)
{
    config_t *cfg = calloc(1, sizeof *cfg);
    char *buf = NULL;
    size_t len = 0;
    if (!cfg) {
        error_set(err, HOIST_ERR_NOMEM, "out of memory");
        return NULL;
    }
    cfg->path = input_resolve(path, "CLI config", err);
    if (!cfg->path ||
        input_read(cfg->path, "CLI config", CONFIG_MAX_BYTES, &buf, &len,
                   err) != HOIST_OK ||
        s_parse(cfg, buf, len, err) != HOIST_OK) {
        config_destroy(&cfg);
    }
    free(buf);
    return cfg;
}

config_t *
config_find(const char *flag, hoist_error_t *err)
{
    char *path = NULL;
    if (config_path(flag, getenv(CONFIG_ENV), getenv("HOME"), &path, err) !=
        HOIST_OK) {
        return NULL;
    }
    config_t *cfg = config_load(path, err);
    free(path);
    return cfg;
}

void
config_destroy(config_t **p)
{
    if (!p || !*p) {
        return;
    }
    config_t *cfg = *p;
    free(cfg->path);
    free(cfg->controller);
    free(cfg->server_key);
    free(cfg->identity);
    free(cfg);
    *p = NULL;
}

const char *
config_controller(const config_t *cfg)
{
    return cfg->controller;
}

const char *
config_server_key(const config_t *cfg)
{
    return cfg->server_key;
}

const char *
config_identity(const config_t *cfg)
{
    return cfg->identity;
}

hoist_err_t
config_set_identity(config_t *cfg, const char *path, hoist_error_t *err)
{
    char *copy = strdup(path);
    if (!copy) {
        return error_set(err, HOIST_ERR_NOMEM, "out of memory");
    }
    free(cfg->identity);
    cfg->identity = copy;
    return HOIST_OK;
}

/* ---- the identity's certificate ----------------------------------------- */

/* Checks that SECRET is a regular file that only its owner can read. */
static hoist_err_t
s_check_secret(const char *secret, hoist_error_t *err)
{
    struct stat st;
    if (stat(secret, &st) != 0) {
        return error_errno(err, HOIST_ERR_KEY, errno,
                           "cannot read your identity's secret key %s (the "
                           "identity in the CLI config or --identity names "
                           "the public file; its secret half must be beside "
                           "it)",
                           secret);
    }
    if (!S_ISREG(st.st_mode)) {
        return error_set(err, HOIST_ERR_KEY, "%s is not a regular file",
                         secret);
    }
    if (st.st_mode & 077) {
        return error_set(err, HOIST_ERR_KEY,
                         "your identity's secret key %s has mode %04o: it "
                         "must not be readable by group or others (run: "
                         "chmod 600 %s, and consider the key exposed)",
                         secret, (unsigned)(st.st_mode & 07777), secret);
    }
    return HOIST_OK;
}

/* When PATH exists, checks that its public key is CERT's: the public file
 * is what the controller registered, so a mismatch would only show up as
 * a refused handshake (a timeout) much later. */
static hoist_err_t
s_check_public(const char *path, zcert_t *cert, hoist_error_t *err)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        return HOIST_OK;
    }
    char key[CURVE_KEY_Z85_LEN + 1];
    bool same = userkey_read_public(path, key, NULL) == HOIST_OK &&
                streq(key, zcert_public_txt(cert));
    if (!same) {
        return error_set(err, HOIST_ERR_KEY,
                         "the public key in %s is not the one in %s%s: the "
                         "pair does not belong together",
                         path, path, CONFIG_SECRET_TAIL);
    }
    return HOIST_OK;
}

zcert_t *
config_identity_load(const char *path, hoist_error_t *err)
{
    char *secret = NULL;
    if (asprintf(&secret, "%s%s", path, CONFIG_SECRET_TAIL) < 0) {
        error_set(err, HOIST_ERR_NOMEM, "out of memory");
        return NULL;
    }
    zcert_t *cert = NULL;
    if (s_check_secret(secret, err) == HOIST_OK) {
        cert = userkey_load_secret(secret, err);
    }
    if (cert && s_check_public(path, cert, err) != HOIST_OK) {
        zcert_destroy(&cert);
    }
    free(secret);
    return cert;
}
