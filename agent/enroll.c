/*
 * enroll: see enroll.h.
 */
#include "enroll.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "atomicfile.h"
#include "facts.h"
#include "keys.h"
#include "log.h"
#include "monotime.h"
#include "tree.h"
#include "uplink.h"

#define ENROLL_ID    1
#define KEY_FILE_MAX 4096
#define PUB_FILE_MAX 4096

/* Checks that every --trust file holds a release key. */
static hoist_err_t
s_check_trust(const enroll_opts_t *o, hoist_error_t *err)
{
    if (o->n_trust == 0) {
        return error_set(err, HOIST_ERR_KEY,
                         "at least one --trust PUB is needed: the agent "
                         "installs only releases signed by keys it trusts");
    }
    for (size_t i = 0; i < o->n_trust; i++) {
        keys_public_t k;
        if (keys_public_load(o->trust[i], &k, err) != HOIST_OK) {
            error_prefix(err, "--trust");
            return HOIST_ERR_KEY;
        }
    }
    return HOIST_OK;
}

/* Checks O's names, tags and files; fills the conf to write later. */
static hoist_err_t
s_check(const enroll_opts_t *o, conf_t *c, hoist_error_t *err)
{
    uint8_t *text = NULL;
    size_t len = 0;
    memset(c, 0, sizeof *c);
    if (!conf_endpoint_valid(o->controller)) {
        return error_set(err, HOIST_ERR_USAGE,
                         "--controller '%.300s' is not an endpoint like "
                         "tcp://controller.example:7600",
                         o->controller);
    }
    snprintf(c->controller, sizeof c->controller, "%s", o->controller);
    if (s_check_trust(o, err) != HOIST_OK) {
        return HOIST_ERR_KEY;
    }
    if (atomicfile_read(o->controller_key, KEY_FILE_MAX, &text, &len, err) !=
        HOIST_OK) {
        error_prefix(err, "--controller-key");
        return HOIST_ERR_KEY;
    }
    char *s = strndup((const char *)text, len);
    free(text);
    hoist_err_t rc = s ? conf_server_key_parse(s, c->server_key, err)
                       : error_set(err, HOIST_ERR_NOMEM, "out of memory");
    free(s);
    if (rc != HOIST_OK) {
        error_prefix(err, "--controller-key %s", o->controller_key);
        return rc;
    }
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    if (o->name) {
        snprintf(c->name, sizeof c->name, "%s", o->name);
    } else {
        conf_default_name(host, c->name, sizeof c->name);
    }
    snprintf(c->env, sizeof c->env, "%s", o->env ? o->env : "");
    snprintf(c->user, sizeof c->user, "%s", o->user ? o->user : "");
    for (size_t i = 0; i < o->n_tags && i < CONF_TAGS_MAX; i++) {
        c->tags[c->n_tags++] = o->tags[i];
    }
    return conf_check(c, err);
}

/* Replaces ROOT/trust/ with the keys of O (each checked first), named by
 * their key ids. */
static hoist_err_t
s_trust(const enroll_opts_t *o, hoist_error_t *err)
{
    char dir[PATH_MAX], path[PATH_MAX + 64];
    keys_public_t k;
    snprintf(dir, sizeof dir, "%s/" AGENT_TRUST_DIR, o->root);
    hoist_err_t rc = tree_remove(dir, err);
    if (rc == HOIST_OK) {
        rc = tree_mkdirs(dir, 0700, err);
    }
    for (size_t i = 0; rc == HOIST_OK && i < o->n_trust; i++) {
        uint8_t *text = NULL;
        size_t len = 0;
        char id[KEYS_ID_HEX_LEN];
        rc = keys_public_load(o->trust[i], &k, err);
        if (rc == HOIST_OK) {
            rc = atomicfile_read(o->trust[i], PUB_FILE_MAX, &text, &len, err);
        }
        if (rc == HOIST_OK) {
            snprintf(path, sizeof path, "%s/%s.pub", dir,
                     keys_id_hex(k.id, id));
            rc = atomicfile_write(path, text, len, 0644, err);
        }
        free(text);
    }
    return rc;
}

/* Loads the certificate an earlier, unanswered attempt made, or makes
 * one (a new one with FORCE). */
static zcert_t *
s_cert(const enroll_opts_t *o, hoist_error_t *err)
{
    char secret[PATH_MAX];
    snprintf(secret, sizeof secret,
             "%s/" AGENT_KEYS_DIR "/" AGENT_CERT_NAME "_secret", o->root);
    if (!o->force && access(secret, F_OK) == 0) {
        return agent_cert_load(o->root, err);
    }
    return agent_cert_create(o->root, true, err);
}

/* Sends the enrollment request on U. */
static hoist_err_t
s_send(uplink_t *u, const conf_t *c, const char *token, const char *root,
       hoist_error_t *err)
{
    facts_t *f = malloc(sizeof *f);
    facts_pb_t *pb = malloc(sizeof *pb);
    Hoist__EnrollRequest__TagsEntry tags[CONF_TAGS_MAX];
    Hoist__EnrollRequest__TagsEntry *ptrs[CONF_TAGS_MAX];
    if (!f || !pb) {
        free(f);
        free(pb);
        return error_set(err, HOIST_ERR_NOMEM, "out of memory");
    }
    facts_gather(root, f);
    facts_to_pb(f, pb);
    Hoist__EnrollRequest r = HOIST__ENROLL_REQUEST__INIT;
    r.token = (char *)(token ? token : "");
    r.env = (char *)c->env;
    r.name = (char *)c->name;
    r.facts = &pb->msg;
    for (size_t i = 0; i < c->n_tags; i++) {
        hoist__enroll_request__tags_entry__init(&tags[i]);
        tags[i].key = (char *)c->tags[i].key;
        tags[i].value = (char *)c->tags[i].value;
        ptrs[i] = &tags[i];
    }
    r.n_tags = c->n_tags;
    r.tags = c->n_tags ? ptrs : NULL;
    envelope_t e = HOIST__ENVELOPE__INIT;
    e.id = ENROLL_ID;
    e.body_case = HOIST__ENVELOPE__BODY_ENROLL;
    e.enroll = &r;
    hoist_err_t rc = uplink_send(u, &e, err);
    free(pb);
    free(f);
    return rc;
}

/* Turns the controller's answer E into RES, or into an error. */
static hoist_err_t
s_answer(const envelope_t *e, const conf_t *c, enroll_result_t *res,
         hoist_error_t *err)
{
    if (e->body_case == HOIST__ENVELOPE__BODY_ERROR) {
        const char *msg = e->error->message ? e->error->message : "";
        hoist_err_t code =
            e->error->code > HOIST_OK && e->error->code < HOIST_ERR__COUNT
                ? (hoist_err_t)e->error->code
                : HOIST_ERR_PROTOCOL;
        if (code == HOIST_ERR_AUTH) {
            return error_set(err, code,
                             "the controller refused the enrollment: %s "
                             "(tokens are single-use and expire: ask for a "
                             "new one with `hoist token create --env %s`)",
                             msg, c->env);
        }
        return error_set(err, code,
                         "the controller refused the enrollment: "
                         "%s",
                         msg);
    }
    const Hoist__EnrollReply *r = e->enrolled;
    memset(res, 0, sizeof *res);
    res->accepted = r->state && strcmp(r->state, "accepted") == 0;
    bool named = r->name && manifest_name_valid(r->name);
    bool in_env = r->env && manifest_name_valid(r->env);
    snprintf(res->name, sizeof res->name, "%s", named ? r->name : c->name);
    snprintf(res->env, sizeof res->env, "%s", in_env ? r->env : c->env);
    return HOIST_OK;
}

/* Waits on U for the answer to the enrollment, up to TIMEOUT_MS. */
static hoist_err_t
s_wait(uplink_t *u, const conf_t *c, uint64_t timeout_ms, enroll_result_t *res,
       hoist_error_t *err)
{
    envelope_t *e = NULL;
    hoist_err_t rc = uplink_await(u, ENROLL_ID, HOIST__ENVELOPE__BODY_ENROLLED,
                                  timeout_ms, &e, err);
    if (rc == HOIST_ERR_USAGE) {
        return error_set(err, HOIST_ERR_USAGE,
                         "interrupted; nothing was written to agent.conf");
    }
    if (rc == HOIST_OK) {
        rc = s_answer(e, c, res, err);
        envelope_destroy(&e);
    }
    if (rc == HOIST_ERR_TIMEOUT) {
        error_set(err, rc,
                  "the controller at %s did not answer within %llu ms. A "
                  "wrong controller key makes the CURVE handshake fail "
                  "without any message: check that --controller-key is the "
                  "controller's public key (its keys/server file), and that "
                  "%s is reachable from here",
                  c->controller, (unsigned long long)timeout_ms, c->controller);
    }
    return rc;
}

/* Connects with CERT and exchanges the enrollment. */
static hoist_err_t
s_exchange(const enroll_opts_t *o, const conf_t *c, zcert_t *cert,
           enroll_result_t *res, hoist_error_t *err)
{
    uplink_t *u = uplink_new(c->controller, c->server_key, cert, err);
    if (!u) {
        return err->code;
    }
    hoist_err_t rc = uplink_connect(u, err);
    if (rc == HOIST_OK) {
        rc = s_send(u, c, o->token, o->root, err);
    }
    if (rc == HOIST_OK) {
        rc = s_wait(u, c, o->timeout_ms ? o->timeout_ms : ENROLL_TIMEOUT_MS,
                    res, err);
    }
    uplink_destroy(&u);
    return rc;
}

hoist_err_t
enroll_run(const enroll_opts_t *o, enroll_result_t *res, hoist_error_t *err)
{
    char path[PATH_MAX];
    conf_t c;
    snprintf(path, sizeof path, "%s/" CONF_FILE, o->root);
    if (!o->force && access(path, F_OK) == 0) {
        return error_set(err, HOIST_ERR_EXISTS,
                         "%s is enrolled already (%s exists); enrolling it "
                         "again makes a new key and a new agent: add --force "
                         "to do that",
                         o->root, path);
    }
    if (s_check(o, &c, err) != HOIST_OK) {
        return err->code;
    }
    if (tree_mkdirs(o->root, 0755, err) != HOIST_OK ||
        s_trust(o, err) != HOIST_OK) {
        return err->code;
    }
    zcert_t *cert = s_cert(o, err);
    if (!cert) {
        return err->code;
    }
    hoist_err_t rc = s_exchange(o, &c, cert, res, err);
    zcert_destroy(&cert);
    if (rc == HOIST_OK) {
        snprintf(c.name, sizeof c.name, "%s", res->name);
        snprintf(c.env, sizeof c.env, "%s", res->env);
        rc = conf_save(o->root, &c, err);
    }
    return rc;
}
