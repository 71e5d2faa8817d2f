/*
 * newkey: see newkey.h.
 */
#include "newkey.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "curve.h"
#include "envelope.h"
#include "fault.h"
#include "lockfile.h"
#include "log.h"
#include "uplink.h"

#define NEXT_NAME "agent_next"
#define REKEY_ID  1

/* The key to offer: an interrupted run's, else a fresh one written to
 * KEYS/agent_next. *RESUMED says which. */
static zcert_t *
s_next(const char *keys, bool *resumed, hoist_error_t *err)
{
    hoist_error_t mine = {0};
    zcert_t *next = curve_cert_load(keys, NEXT_NAME, &mine);
    *resumed = next != NULL;
    if (next || mine.code != HOIST_ERR_NOTFOUND) {
        if (!next && err) {
            *err = mine;
        }
        return next;
    }
    next = zcert_new();
    if (!next) {
        error_set(err, HOIST_ERR_NOMEM, "cannot make a key pair");
        return NULL;
    }
    if (curve_cert_save(next, keys, NEXT_NAME, err) != HOIST_OK) {
        zcert_destroy(&next);
    }
    return next;
}

/* Offers NEXT's public key over a connection CUR authenticates. */
static hoist_err_t
s_offer(const conf_t *c, zcert_t *cur, zcert_t *next, uint64_t timeout_ms,
        newkey_result_t *res, hoist_error_t *err)
{
    uplink_t *u = uplink_new(c->controller, c->server_key, cur, err);
    if (!u) {
        return err ? err->code : HOIST_ERR_IO;
    }
    envelope_t e = HOIST__ENVELOPE__INIT;
    Hoist__RekeyRequest req = HOIST__REKEY_REQUEST__INIT;
    req.public_key = (char *)zcert_public_txt(next);
    e.id = REKEY_ID;
    e.body_case = HOIST__ENVELOPE__BODY_REKEY;
    e.rekey = &req;
    envelope_t *reply = NULL;
    hoist_err_t rc = uplink_connect(u, err);
    if (rc == HOIST_OK) {
        rc = uplink_send(u, &e, err);
    }
    if (rc == HOIST_OK) {
        rc = uplink_await(u, REKEY_ID, HOIST__ENVELOPE__BODY_REKEYED,
                          timeout_ms, &reply, err);
    }
    if (rc == HOIST_OK && reply->body_case == HOIST__ENVELOPE__BODY_ERROR) {
        rc = error_set(err,
                       reply->error->code < HOIST_ERR__COUNT
                           ? (hoist_err_t)reply->error->code
                           : HOIST_ERR_PROTOCOL,
                       "the controller refused the new key: %s",
                       reply->error->message);
    } else if (rc == HOIST_OK &&
               strcmp(reply->rekeyed->public_key, req.public_key) != 0) {
        rc = error_set(err, HOIST_ERR_PROTOCOL,
                       "the controller answered for another key");
    } else if (rc == HOIST_OK) {
        res->boxes_dropped = reply->rekeyed->boxes_dropped;
    }
    envelope_destroy(&reply);
    uplink_destroy(&u);
    return rc;
}

/* The pid of the daemon serving ROOT, or 0 when none holds its lock (a
 * pid left in the file by a daemon that stopped is never signalled: the
 * lock is free then). */
static pid_t
s_daemon(const char *root)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/.run.lock", root);
    hoist_error_t err = {0};
    int fd = lockfile_take(path, "busy", &err);
    if (fd >= 0 || err.code != HOIST_ERR_BUSY) {
        if (fd >= 0) {
            close(fd);
        }
        return 0;
    }
    FILE *f = fopen(path, "re");
    long pid = 0;
    if (!f || fscanf(f, "%ld", &pid) != 1 || pid <= 1) {
        pid = 0;
    }
    if (f) {
        fclose(f);
    }
    return (pid_t)pid;
}

hoist_err_t
newkey_run(const char *root, uint64_t timeout_ms, newkey_result_t *out,
           hoist_error_t *err)
{
    conf_t c;
    char keys[PATH_MAX];
    snprintf(keys, sizeof keys, "%s/" AGENT_KEYS_DIR, root);
    newkey_result_t res = {0};
    if (conf_load(root, &c, err) != HOIST_OK) {
        return err ? err->code : HOIST_ERR_USAGE;
    }
    zcert_t *cur = agent_cert_load(root, err);
    zcert_t *next = cur ? s_next(keys, &res.resumed, err) : NULL;
    hoist_err_t rc = next ? HOIST_OK : (err ? err->code : HOIST_ERR_KEY);
    if (rc == HOIST_OK) {
        snprintf(res.old_key, sizeof res.old_key, "%s", zcert_public_txt(cur));
        snprintf(res.new_key, sizeof res.new_key, "%s", zcert_public_txt(next));
        rc = s_offer(&c, cur, next, timeout_ms ? timeout_ms : NEWKEY_TIMEOUT_MS,
                     &res, err);
    }
    zcert_destroy(&cur);
    zcert_destroy(&next);
    if (rc == HOIST_OK) {
        fault_point("rekey-offered");
        rc = curve_cert_rename(keys, NEXT_NAME, AGENT_CERT_NAME, err);
    }
    if (rc != HOIST_OK) {
        return rc;
    }
    res.daemon = s_daemon(root);
    if (res.daemon > 0 && kill(res.daemon, SIGHUP) != 0) {
        res.daemon = 0;
    }
    *out = res;
    return HOIST_OK;
}

void
newkey_note_pid(int fd)
{
    char text[32];
    int n = snprintf(text, sizeof text, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, text, (size_t)n, 0) != n) {
        log_warn("cannot note this daemon's pid in its run lock: after "
                 "`hoist-agent rekey`, reload it by hand (SIGHUP)");
    }
}
