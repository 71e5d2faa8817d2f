/*
 * serverkey: see serverkey.h. czmq writes and reads the certificates;
 * this file only decides names, modes and the order of the renames.
 */
#include "serverkey.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "atomicfile.h"
#include "curve.h"
#include "hub.h"
#include "lockfile.h"
#include "log.h"

#define DIGEST_LABEL "hoist-vars-digest-v1"

/* DIR/keys/NAME into BUF. */
static const char *
s_path(const char *dir, const char *name, char *buf, size_t len)
{
    snprintf(buf, len, "%s/keys/%s", dir, name);
    return buf;
}

zcert_t *
serverkey_load(const char *dir, const char *name, hoist_error_t *err)
{
    char keys[PATH_MAX];
    snprintf(keys, sizeof keys, "%s/keys", dir);
    return curve_cert_load(keys, name, err);
}

zcert_t *
serverkey_next(const char *dir, bool create, hoist_error_t *err)
{
    hoist_error_t mine = {0};
    zcert_t *cert = serverkey_load(dir, "server_next", &mine);
    if (cert || mine.code != HOIST_ERR_NOTFOUND || !create) {
        if (err && !cert) {
            *err = mine;
        }
        return cert;
    }
    cert = zcert_new();
    if (!cert) {
        error_set(err, HOIST_ERR_NOMEM, "cannot make a key pair");
        return NULL;
    }
    zcert_set_meta(cert, "name", "server");
    char keys[PATH_MAX];
    snprintf(keys, sizeof keys, "%s/keys", dir);
    if (curve_cert_save(cert, keys, "server_next", err) != HOIST_OK) {
        zcert_destroy(&cert);
    }
    return cert;
}

/* The digest key as derived from SECRET (the 32-byte CURVE secret). */
static void
s_derive(const uint8_t *secret, uint8_t out[SERVERKEY_DIGEST_BYTES])
{
    crypto_generichash(out, SERVERKEY_DIGEST_BYTES, secret, 32,
                       (const uint8_t *)DIGEST_LABEL, strlen(DIGEST_LABEL));
}

hoist_err_t
serverkey_digest_key(const char *dir, zcert_t *current,
                     uint8_t out[SERVERKEY_DIGEST_BYTES], hoist_error_t *err)
{
    char path[PATH_MAX + 64];
    s_path(dir, "vars_digest", path, sizeof path);
    if (access(path, F_OK) != 0 && errno == ENOENT) {
        s_derive(zcert_secret_key(current), out);
        return HOIST_OK;
    }
    uint8_t *buf = NULL;
    size_t len = 0;
    hoist_error_t mine = {0};
    hoist_err_t rc =
        atomicfile_read(path, SERVERKEY_DIGEST_BYTES + 1, &buf, &len, &mine);
    if (rc == HOIST_OK && len != SERVERKEY_DIGEST_BYTES) {
        rc = error_set(&mine, HOIST_ERR_KEY, "%s is not a %d-byte key", path,
                       SERVERKEY_DIGEST_BYTES);
    }
    if (rc == HOIST_OK) {
        memcpy(out, buf, SERVERKEY_DIGEST_BYTES);
    } else if (err) {
        *err = mine;
    }
    if (buf) {
        sodium_memzero(buf, len);
        free(buf);
    }
    return rc;
}

/* Writes keys/vars_digest from CURRENT unless a rotation did already. */
static hoist_err_t
s_keep_digest_key(const char *dir, zcert_t *current, hoist_error_t *err)
{
    char path[PATH_MAX + 64];
    s_path(dir, "vars_digest", path, sizeof path);
    if (access(path, F_OK) == 0) {
        return HOIST_OK;
    }
    uint8_t key[SERVERKEY_DIGEST_BYTES];
    s_derive(zcert_secret_key(current), key);
    hoist_err_t rc = atomicfile_write(path, key, sizeof key, 0600, err);
    sodium_memzero(key, sizeof key);
    return rc;
}

hoist_err_t
serverkey_rotate(const char *dir, hoist_error_t *err)
{
    char keys[PATH_MAX], next[PATH_MAX + 32], pub[PATH_MAX + 32];
    snprintf(keys, sizeof keys, "%s/keys", dir);
    s_path(dir, "server_next_secret", next, sizeof next);
    s_path(dir, "server_next", pub, sizeof pub);
    if (access(next, F_OK) != 0) {
        if (access(pub, F_OK) == 0) { /* a crash right after the switch */
            return curve_cert_rename(keys, "server_next", "server", err);
        }
        return error_set(err, HOIST_ERR_NOTFOUND,
                         "no next key is prepared in %s: run `hoist "
                         "controller key next` first (with the controller "
                         "running, so that agents learn it)",
                         keys);
    }
    zcert_t *cur = serverkey_load(dir, "server", err);
    zcert_t *nxt = cur ? serverkey_load(dir, "server_next", err) : NULL;
    hoist_err_t rc = nxt ? s_keep_digest_key(dir, cur, err)
                         : (err ? err->code : HOIST_ERR_KEY);
    zcert_destroy(&cur);
    zcert_destroy(&nxt);
    return rc == HOIST_OK
               ? curve_cert_rename(keys, "server_next", "server", err)
               : rc;
}

/* --- which agents are ready ---------------------------------------------- */

bool
serverkey_agent_ready(const store_agent_t *a, const char *next)
{
    return a->state != STORE_AGENT_ACCEPTED ||
           strcmp(a->pinned_next, next) == 0;
}

typedef struct {
    call_t *c;
    const char *next;
    size_t ready, total;
    json_t *missing;
} s_tally_t;

static int
s_tally_one(const store_agent_t *a, void *arg)
{
    s_tally_t *t = arg;
    if (a->state != STORE_AGENT_ACCEPTED) {
        return 0;
    }
    t->total++;
    if (serverkey_agent_ready(a, t->next)) {
        t->ready++;
    } else {
        json_array_append_new(t->missing, json_string(a->name));
        call_say(t->c, "  %-16s %-12s %s\n", a->name, a->env,
                 a->online ? "online: not pinned yet"
                           : "offline: cannot learn it until it connects");
    }
    return 0;
}

/* controller.key: the key, the next one and who has pinned it. */
static int
s_show(call_t *c)
{
    const char *next = controller_next_key(c->ctl);
    call_say(c, "key       %s\nnext key  %s\n", controller_server_key(c->ctl),
             next[0] ? next : "(none prepared: hoist controller key next)");
    json_object_set_new(c->json, "server_key",
                        json_string(controller_server_key(c->ctl)));
    json_object_set_new(c->json, "next_key", json_string(next));
    if (!next[0]) {
        return 0;
    }
    s_tally_t t = {.c = c, .next = next, .missing = json_array()};
    hoist_error_t err = {0};
    call_say(c, "agents that have not pinned it:\n");
    if (store_agent_list(controller_store(c->ctl), NULL, s_tally_one, &t,
                         &err) != HOIST_OK) {
        json_decref(t.missing);
        return call_fail(c, &err);
    }
    call_say(c, "%zu of %zu accepted agents have pinned the next key%s\n",
             t.ready, t.total,
             t.ready == t.total ? ": stop the controller and run "
                                  "`hoist-controller rotate-key`"
                                : "");
    json_object_set_new(c->json, "agents_ready",
                        json_integer((json_int_t)t.ready));
    json_object_set_new(c->json, "agents_total",
                        json_integer((json_int_t)t.total));
    json_object_set_new(c->json, "missing", t.missing);
    return 0;
}

/* controller.key_next: prepares the next key and announces it. */
static int
s_next(call_t *c)
{
    hoist_error_t err = {0};
    bool had = controller_next_key(c->ctl)[0] != '\0';
    if (controller_prepare_next_key(c->ctl, &err) != HOIST_OK) {
        return call_fail(c, &err);
    }
    const char *next = controller_next_key(c->ctl);
    size_t n = hub_announce_key(controller_hub(c->ctl));
    log_warn("controller key rotation: next key %.8s... %s by %s, announced "
             "to %zu connected agents",
             next, had ? "announced again" : "prepared", c->user.name, n);
    call_say(c,
             "next key %s %s; announced to %zu connected agent%s.\n"
             "`hoist controller key` shows which agents have pinned it; "
             "when all have, stop the controller and run `hoist-controller "
             "rotate-key`.\n",
             next, had ? "(prepared before)" : "prepared", n,
             n == 1 ? "" : "s");
    json_object_set_new(c->json, "next_key", json_string(next));
    json_object_set_new(c->json, "announced", json_integer((json_int_t)n));
    return 0;
}

const call_command_t serverkey_commands[] = {
    {"controller.key", s_show, 0, RBAC_READ, NULL, "controller key", true},
    {"controller.key_next", s_next, 0, RBAC_SERVER_KEY, NULL,
     "controller key next", false},
    {NULL, NULL, 0, RBAC_READ, NULL, NULL, false},
};

/* --- rotate-key ------------------------------------------------------------
 */

typedef struct {
    const char *next;
    size_t left;
    char names[1024]; /* "a, b, c" */
} s_behind_t;

static int
s_behind_one(const store_agent_t *a, void *arg)
{
    s_behind_t *b = arg;
    if (!serverkey_agent_ready(a, b->next)) {
        size_t len = strlen(b->names);
        snprintf(b->names + len, sizeof b->names - len, "%s%s",
                 b->left ? ", " : "", a->name);
        b->left++;
    }
    return 0;
}

/* Counts into *B the accepted agents of DIR's store that have not pinned
 * NEXT. */
static hoist_err_t
s_behind(const char *dir, const char *next, s_behind_t *b, hoist_error_t *err)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/controller.db", dir);
    store_t *st = store_open(path, err);
    if (!st) {
        return err ? err->code : HOIST_ERR_IO;
    }
    b->next = next;
    hoist_err_t rc = store_agent_list(st, NULL, s_behind_one, b, err);
    store_close(&st);
    return rc;
}

hoist_err_t
serverkey_rotate_stopped(const char *dir, bool force, size_t *left,
                         hoist_error_t *err)
{
    char path[PATH_MAX + 32], busy[PATH_MAX + 96];
    snprintf(path, sizeof path, "%s/" CONTROLLER_RUN_LOCK, dir);
    snprintf(busy, sizeof busy,
             "a controller serves %s: stop it first (systemctl stop "
             "hoist-controller)",
             dir);
    int lock = lockfile_take(path, busy, err);
    if (lock < 0) {
        return err ? err->code : HOIST_ERR_BUSY;
    }
    hoist_error_t mine = {0};
    zcert_t *next = serverkey_load(dir, "server_next", &mine);
    s_behind_t b = {0};
    hoist_err_t rc = HOIST_OK;
    if (next) {
        rc = s_behind(dir, zcert_public_txt(next), &b, err);
    }
    zcert_destroy(&next);
    if (rc == HOIST_OK && b.left > 0 && !force) {
        rc = error_set(err, HOIST_ERR_GATE,
                       "%zu accepted agent%s ha%s not pinned the next key "
                       "(%s): start the controller and let them connect "
                       "(`hoist controller key` lists them), or pass "
                       "--force to cut them off until they are enrolled "
                       "again; nothing changed",
                       b.left, b.left == 1 ? "" : "s", b.left == 1 ? "s" : "ve",
                       b.names);
    }
    if (rc == HOIST_OK) {
        rc = serverkey_rotate(dir, err);
    }
    close(lock);
    if (rc == HOIST_OK && left) {
        *left = b.left;
    }
    return rc;
}
