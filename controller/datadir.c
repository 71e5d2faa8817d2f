/*
 * datadir: see datadir.h.
 */
#include "datadir.h"

#include <czmq.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomicfile.h"
#include "store.h"
#include "tree.h"

/* Saves a fresh certificate as DIR/keys/NAME and NAME_secret (0600). */
static hoist_err_t
s_new_cert(const char *dir, const char *name, char *public_out,
           hoist_error_t *err)
{
    char path[PATH_MAX], secret[PATH_MAX + 8];
    snprintf(path, sizeof path, "%s/keys/%s", dir, name);
    snprintf(secret, sizeof secret, "%s_secret", path);
    zcert_t *cert = zcert_new();
    if (!cert) {
        return error_set(err, HOIST_ERR_NOMEM, "cannot make a key pair");
    }
    zcert_set_meta(cert, "name", "%s", name);
    int rc = zcert_save(cert, path);
    if (public_out) {
        snprintf(public_out, 41, "%s", zcert_public_txt(cert));
    }
    zcert_destroy(&cert);
    if (rc != 0 || chmod(secret, 0600) != 0 || chmod(path, 0644) != 0) {
        return error_errno(err, HOIST_ERR_IO, errno, "save %s", path);
    }
    return HOIST_OK;
}

static hoist_err_t
s_admin(const char *dir, const char *key, hoist_error_t *err)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/controller.db", dir);
    store_t *store = store_open(path, err);
    if (!store) {
        return err ? err->code : HOIST_ERR_IO;
    }
    store_user_t u = {
        .name = "admin", .role = "admin", .created_at = (int64_t)time(NULL)};
    snprintf(u.pubkey, sizeof u.pubkey, "%s", key);
    hoist_err_t rc = store_user_add(store, &u, err);
    store_close(&store);
    return rc;
}

hoist_err_t
datadir_init(const char *dir, const char *agent_endpoint,
             const char *api_endpoint, hoist_error_t *err)
{
    char path[PATH_MAX + 32], admin_key[41];
    snprintf(path, sizeof path, "%s/controller.conf", dir);
    if (access(path, F_OK) == 0) {
        return error_set(err, HOIST_ERR_EXISTS,
                         "%s already holds a controller; init never "
                         "overwrites its keys",
                         dir);
    }
    hoist_err_t rc = tree_mkdirs(dir, 0700, err);
    snprintf(path, sizeof path, "%s/keys", dir);
    if (rc == HOIST_OK && chmod(dir, 0700) != 0) {
        rc = error_errno(err, HOIST_ERR_IO, errno, "chmod %s", dir);
    }
    if (rc == HOIST_OK) {
        rc = tree_mkdirs(path, 0700, err);
    }
    if (rc == HOIST_OK) {
        rc = s_new_cert(dir, "server", NULL, err);
    }
    if (rc == HOIST_OK) {
        rc = s_new_cert(dir, "admin", admin_key, err);
    }
    if (rc == HOIST_OK) {
        rc = s_admin(dir, admin_key, err);
    }
    if (rc != HOIST_OK) {
        return rc;
    }
    char conf[1024];
    int n = snprintf(conf, sizeof conf,
                     "# hoist-controller: where it listens. Flags to `run` "
                     "override these.\nagent_endpoint: \"%s\"\napi_endpoint: "
                     "\"%s\"\n",
                     agent_endpoint, api_endpoint);
    snprintf(path, sizeof path, "%s/controller.conf", dir);
    return atomicfile_write(path, conf, (size_t)n, 0644, err);
}

hoist_err_t
datadir_write_cli_conf(const char *dir, const char *api_endpoint,
                       const char *server_key, hoist_error_t *err)
{
    char conf[PATH_MAX * 2 + 512], path[PATH_MAX + 32], abs[PATH_MAX];
    /* Absolute: the CLI reads a relative identity from the config file's
     * own directory, and the admin may run it from anywhere. */
    if (!realpath(dir, abs)) {
        return error_errno(err, HOIST_ERR_IO, errno, "resolve %s", dir);
    }
    dir = abs;
    int n = snprintf(conf, sizeof conf,
                     "# Written by hoist-controller run: the admin's CLI "
                     "config.\n# Use it with HOIST_CONFIG=%s/cli.conf hoist "
                     "...\ncontroller: \"%s\"\nserver_key: \"%s\"\nidentity: "
                     "\"%s/keys/admin\"\n",
                     dir, api_endpoint, server_key, dir);
    snprintf(path, sizeof path, "%s/cli.conf", dir);
    return atomicfile_write(path, conf, (size_t)n, 0600, err);
}
