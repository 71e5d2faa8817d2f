/*
 * vars: see vars.h. The handlers check the request, seal a secret to the
 * environment's accepted agents, and hand rows to the store; none of them
 * writes a value to the reply's text, the JSON (a secret's), the log or
 * an error message.
 */
#include "vars.h"

#include "envname.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "manifest.h"
#include "seal.h"
#include "store.h"

#define SHOWN_MAX 120 /* characters of a plain value that vars list shows */

hoist_err_t
vars_check_key(const char *key, hoist_error_t *err)
{
    return envname_check(key, err);
}

hoist_err_t
vars_check_value(const uint8_t *value, size_t len, bool secret,
                 hoist_error_t *err)
{
    if (len > STORE_VAR_VALUE_MAX) {
        return error_set(err, HOIST_ERR_LIMIT,
                         "the value is %zu bytes; a variable holds at most %d",
                         len, STORE_VAR_VALUE_MAX);
    }
    if (len > 0 && memchr(value, '\0', len)) {
        return error_set(err, HOIST_ERR_USAGE,
                         "the value holds a NUL byte, which an environment "
                         "variable cannot");
    }
    /* jansson is the UTF-8 check: a plain value must go into vars list's
     * JSON. A secret is never shown, so it may be any bytes, and is not
     * copied into memory that nobody wipes. */
    json_t *probe = secret ? NULL : json_stringn((const char *)value, len);
    if (!secret && !probe) {
        return error_set(err, HOIST_ERR_USAGE,
                         "the value is not UTF-8 text; encode it (base64) or "
                         "set it as a --secret");
    }
    json_decref(probe);
    return HOIST_OK;
}

/* --- vars.set ------------------------------------------------------------ */

/* The boxes of one secret, one per accepted agent of its environment. */
typedef struct {
    store_var_seal_t *seals;
    char (*names)[STORE_NAME_SIZE];
    size_t n;
    const uint8_t *value;
    size_t len;
    hoist_error_t err;
} sealing_t;

static void
s_sealing_free(sealing_t *s)
{
    for (size_t i = 0; i < s->n; i++) {
        uint8_t *box = (uint8_t *)s->seals[i].box;
        seal_free(&box, s->seals[i].len);
    }
    free(s->seals);
    free(s->names);
    memset(s, 0, sizeof *s);
}

/* store_agent_list callback: seals the value to an accepted agent. */
static int
s_seal_one(const store_agent_t *a, void *arg)
{
    sealing_t *s = arg;
    if (a->state != STORE_AGENT_ACCEPTED) {
        return 0;
    }
    store_var_seal_t *seals = realloc(s->seals, (s->n + 1) * sizeof *seals);
    char(*names)[STORE_NAME_SIZE] =
        seals ? realloc(s->names, (s->n + 1) * sizeof *names) : NULL;
    if (seals) {
        s->seals = seals;
    }
    if (!names) {
        error_set(&s->err, HOIST_ERR_NOMEM, "out of memory");
        return 1;
    }
    s->names = names;
    uint8_t *box = NULL;
    size_t blen = 0;
    if (seal_to(a->pubkey, s->value, s->len, &box, &blen, &s->err) !=
        HOIST_OK) {
        error_prefix(&s->err, "sealing to agent %s", a->name);
        return 1;
    }
    snprintf(s->names[s->n], STORE_NAME_SIZE, "%s", a->name);
    /* The name is pointed at once every box is made: NAMES moves as it
     * grows. */
    s->seals[s->n] = (store_var_seal_t){NULL, box, blen};
    s->n++;
    return 0;
}

/* What one app's variables in one environment already hold, without the
 * one being set. */
typedef struct {
    const char *key;
    size_t count;
    size_t bytes;
} usage_t;

static int
s_usage_one(const store_var_t *v, void *arg)
{
    usage_t *u = arg;
    if (strcmp(v->key, u->key) != 0) {
        u->count++;
        u->bytes += strlen(v->key) + v->size + (v->secret ? SEAL_OVERHEAD : 0);
    }
    return 0;
}

/* Refuses a variable that would take APP in ENV past VARS_MAX or
 * VARS_BYTES_MAX. */
static hoist_err_t
s_check_room(call_t *c, const store_var_t *v, hoist_error_t *err)
{
    usage_t u = {.key = v->key};
    hoist_err_t rc = store_var_list(controller_store(c->ctl), v->app, v->env,
                                    s_usage_one, &u, err);
    size_t add = strlen(v->key) + v->size + (v->secret ? SEAL_OVERHEAD : 0);
    if (rc == HOIST_OK && u.count + 1 > VARS_MAX) {
        rc = error_set(err, HOIST_ERR_LIMIT,
                       "%s has %zu variables in %s already, the most a deploy "
                       "order carries; unset one first",
                       v->app, u.count, v->env);
    } else if (rc == HOIST_OK && u.bytes + add > VARS_BYTES_MAX) {
        rc = error_set(err, HOIST_ERR_LIMIT,
                       "%s's variables in %s would hold %zu bytes, over the "
                       "%d a deploy order carries; keep large values in "
                       "files of the release",
                       v->app, v->env, u.bytes + add, VARS_BYTES_MAX);
    }
    return rc;
}

/* Checks the names of a vars request: APP, KEY (unless NULL) and ENV
 * (required unless ENV_OPTIONAL). Returns -1 when they pass, else the
 * exit code of the refusal. */
static int
s_check_names(call_t *c, const char *app, const char *key, const char *env,
              bool env_optional)
{
    hoist_error_t err = {0};
    if (!manifest_name_valid(app)) {
        return call_refuse(c, HOIST_ERR_USAGE,
                           "'%s' is not an app name ([a-z0-9][a-z0-9_-]*)",
                           app);
    }
    if ((!env || !env[0]) && !env_optional) {
        return call_refuse(c, HOIST_ERR_USAGE,
                           "a variable belongs to one environment: add --env "
                           "ENV");
    }
    if (env && env[0] && !manifest_name_valid(env)) {
        return call_refuse(c, HOIST_ERR_USAGE, "'%s' is not an environment",
                           env);
    }
    if (key && vars_check_key(key, &err) != HOIST_OK) {
        return call_fail(c, &err);
    }
    return -1;
}

/* Says what vars.set did; the value itself is never repeated. */
static void
s_set_reply(call_t *c, const store_var_t *v, const sealing_t *s)
{
    json_t *to = json_array();
    for (size_t i = 0; i < s->n; i++) {
        json_array_append_new(to, json_string(s->names[i]));
    }
    json_object_set_new(c->json, "app", json_string(v->app));
    json_object_set_new(c->json, "env", json_string(v->env));
    json_object_set_new(c->json, "key", json_string(v->key));
    json_object_set_new(c->json, "secret", json_boolean(v->secret));
    if (!v->secret) {
        json_decref(to);
        call_say(c, "%s: %s set in %s\n", v->app, v->key, v->env);
        return;
    }
    json_object_set_new(c->json, "sealed_to", to);
    if (s->n == 0) {
        call_say(c,
                 "%s: secret %s set in %s, but sealed to no agent: %s has no "
                 "accepted agent yet; set it again once agents are accepted\n",
                 v->app, v->key, v->env, v->env);
        return;
    }
    call_say(c, "%s: secret %s set in %s, sealed to %zu agent%s (", v->app,
             v->key, v->env, s->n, s->n == 1 ? "" : "s");
    for (size_t i = 0; i < s->n; i++) {
        call_say(c, "%s%s", i ? ", " : "", s->names[i]);
    }
    call_say(c, "); an agent accepted later gets it when it is set again\n");
}

static int
s_set(call_t *c)
{
    hoist_error_t err = {0};
    const char *app = call_arg(c, 0), *key = call_arg(c, 1);
    const char *env = call_opt(c, "env");
    int rc = s_check_names(c, app, key, env, false);
    if (rc >= 0 || !c->req) {
        return rc >= 0 ? rc : call_refuse(c, HOIST_ERR_USAGE, "no request");
    }
    store_var_t *v = calloc(1, sizeof *v);
    sealing_t s = {.value = c->req->data.data, .len = c->req->data.len};
    if (!v) {
        return call_refuse(c, HOIST_ERR_NOMEM, "out of memory");
    }
    snprintf(v->app, sizeof v->app, "%s", app);
    snprintf(v->env, sizeof v->env, "%s", env);
    snprintf(v->key, sizeof v->key, "%s", key);
    snprintf(v->updated_by, sizeof v->updated_by, "%s", c->user.name);
    v->secret = call_flag(c, "secret");
    v->size = s.len;
    v->updated_at = controller_now();
    store_t *st = controller_store(c->ctl);
    hoist_err_t e = vars_check_value(s.value, s.len, v->secret, &err);
    if (e == HOIST_OK) {
        e = s_check_room(c, v, &err);
    }
    if (e == HOIST_OK && v->secret) {
        /* Kept to compare environments (hoist diff), never the value. */
        controller_digest(c->ctl, s.value, s.len, v->digest);
        v->has_digest = true;
        e = store_agent_list(st, v->env, s_seal_one, &s, &err);
        if (e == HOIST_OK && s.err.code != HOIST_OK) {
            err = s.err;
            e = err.code;
        }
    } else if (e == HOIST_OK) {
        memcpy(v->value, s.value, s.len);
        v->value_len = s.len;
    }
    for (size_t i = 0; e == HOIST_OK && i < s.n; i++) {
        s.seals[i].agent = s.names[i];
    }
    if (e == HOIST_OK) {
        e = store_var_set(st, v, s.seals, s.n, &err);
    }
    /* The clear value is not needed any more: the request's copy of it
     * is wiped here rather than left to the allocator. */
    if (s.len > 0) {
        sodium_memzero(c->req->data.data, c->req->data.len);
    }
    if (e == HOIST_OK) {
        log_info("variable %s of %s in %s set by %s%s", v->key, v->app, v->env,
                 c->user.name, v->secret ? " (secret)" : "");
        s_set_reply(c, v, &s);
        rc = 0;
    } else {
        rc = call_fail(c, &err);
    }
    s_sealing_free(&s);
    free(v);
    return rc;
}

/* --- vars.list, vars.unset ----------------------------------------------- */

/* VALUE as vars list prints it in text: one line, at most SHOWN_MAX
 * characters, control characters as '?'. */
static void
s_shown(const store_var_t *v, char *out, size_t size)
{
    size_t n = v->value_len < SHOWN_MAX ? v->value_len : SHOWN_MAX;
    n = n < size - 4 ? n : size - 4;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = v->value[i];
        out[i] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
    }
    snprintf(out + n, size - n, "%s", n < v->value_len ? "..." : "");
}

typedef struct {
    call_t *c;
    bool all_envs;
} listing_t;

static int
s_list_row(const store_var_t *v, void *arg)
{
    listing_t *l = arg;
    char shown[SHOWN_MAX + 4];
    json_t *o = json_object();
    json_object_set_new(o, "key", json_string(v->key));
    json_object_set_new(o, "env", json_string(v->env));
    json_object_set_new(o, "secret", json_boolean(v->secret));
    json_object_set_new(
        o, "value",
        v->secret ? json_null()
                  : json_stringn((const char *)v->value, v->value_len));
    json_object_set_new(o, "updated_by", json_string(v->updated_by));
    json_object_set_new(o, "updated_at", json_integer(v->updated_at));
    json_array_append_new(json_object_get(l->c->json, "vars"), o);
    if (v->secret) {
        snprintf(shown, sizeof shown, "(secret)");
    } else {
        s_shown(v, shown, sizeof shown);
    }
    if (l->all_envs) {
        call_say(l->c, "%-16s ", v->env);
    }
    call_say(l->c, "%-24s %s\n", v->key, shown);
    return 0;
}

static int
s_list(call_t *c)
{
    hoist_error_t err = {0};
    const char *app = call_arg(c, 0), *env = call_opt(c, "env");
    int rc = s_check_names(c, app, NULL, env, true);
    if (rc >= 0) {
        return rc;
    }
    listing_t l = {c, !env || !env[0]};
    json_object_set_new(c->json, "vars", json_array());
    if (l.all_envs) {
        call_say(c, "%-16s ", "ENV");
    }
    call_say(c, "%-24s %s\n", "KEY", "VALUE");
    if (store_var_list(controller_store(c->ctl), app, env, s_list_row, &l,
                       &err) != HOIST_OK) {
        return call_fail(c, &err);
    }
    return 0;
}

static int
s_unset(call_t *c)
{
    hoist_error_t err = {0};
    const char *app = call_arg(c, 0), *key = call_arg(c, 1);
    const char *env = call_opt(c, "env");
    int rc = s_check_names(c, app, key, env, false);
    if (rc >= 0) {
        return rc;
    }
    if (store_var_unset(controller_store(c->ctl), app, env, key, &err) !=
        HOIST_OK) {
        return call_fail(c, &err);
    }
    log_info("variable %s of %s in %s unset by %s", key, app, env,
             c->user.name);
    call_say(c, "%s: %s unset in %s\n", app, key, env);
    json_object_set_new(c->json, "app", json_string(app));
    json_object_set_new(c->json, "env", json_string(env));
    json_object_set_new(c->json, "key", json_string(key));
    return 0;
}

const call_command_t vars_commands[] = {
    {"vars.set", s_set, 2, RBAC_VARS_SET, "env",
     "vars set APP KEY VALUE --env ENV [--secret]", false},
    {"vars.list", s_list, 1, RBAC_VARS_LIST, NULL, "vars list APP [--env ENV]",
     true},
    {"vars.unset", s_unset, 2, RBAC_VARS_SET, "env",
     "vars unset APP KEY --env ENV", false},
    {NULL, NULL, 0, RBAC_READ, NULL, NULL, false},
};
