/*
 * users: see users.h.
 */
#include "users.h"

#include <string.h>

#include "log.h"
#include "manifest.h"
#include "zap.h"

static int
s_add(call_t *c)
{
    hoist_error_t err = {0};
    const char *role = call_opt(c, "role"), *key = call_opt(c, "key");
    const char *env = call_opt(c, "env");
    store_user_t u = {.created_at = controller_now()};
    rbac_role_t r;
    char id[STORE_NAME_SIZE + 8];
    if (!manifest_name_valid(call_arg(c, 0))) {
        return call_refuse(c, HOIST_ERR_USAGE,
                           "a user name is [a-z0-9][a-z0-9_-]{0,63}, not '%s'",
                           call_arg(c, 0));
    }
    if (!role || rbac_role_parse(role, &r, &err) != HOIST_OK) {
        return role ? call_fail(c, &err)
                    : call_refuse(c, HOIST_ERR_USAGE, "users add needs --role");
    }
    if (env && env[0] && !manifest_name_valid(env)) {
        return call_refuse(c, HOIST_ERR_USAGE, "'%s' is not an environment",
                           env);
    }
    if (!key || strlen(key) != STORE_KEY_SIZE - 1) {
        return call_refuse(c, HOIST_ERR_KEY,
                           "users add needs the user's CURVE public key "
                           "(--key FILE, made by hoist keygen --user)");
    }
    snprintf(u.name, sizeof u.name, "%s", call_arg(c, 0));
    snprintf(u.role, sizeof u.role, "%s", rbac_role_name(r));
    snprintf(u.pubkey, sizeof u.pubkey, "%s", key);
    snprintf(u.env, sizeof u.env, "%s", env ? env : "");
    snprintf(id, sizeof id, "user:%s", u.name);
    if (store_user_add(controller_store(c->ctl), &u, &err) != HOIST_OK ||
        zap_allow(controller_zap(c->ctl), u.pubkey, id, &err) != HOIST_OK) {
        return call_fail(c, &err);
    }
    log_info("user %s (%s%s%s) added by %s", u.name, u.role,
             u.env[0] ? " in " : "", u.env, c->user.name);
    call_say(c, "user %s added: %s%s%s\n", u.name, u.role,
             u.env[0] ? " in " : "", u.env);
    json_object_set_new(c->json, "name", json_string(u.name));
    json_object_set_new(c->json, "role", json_string(u.role));
    json_object_set_new(c->json, "env", json_string(u.env));
    return 0;
}

static int
s_row(const store_user_t *u, void *arg)
{
    call_t *c = arg;
    call_say(c, "%-16s %-16s %s\n", u->name, u->role, u->env[0] ? u->env : "*");
    json_t *o = json_object();
    json_object_set_new(o, "name", json_string(u->name));
    json_object_set_new(o, "role", json_string(u->role));
    json_object_set_new(o, "env", json_string(u->env));
    json_object_set_new(o, "created_at", json_integer(u->created_at));
    json_array_append_new(json_object_get(c->json, "users"), o);
    return 0;
}

static int
s_list(call_t *c)
{
    hoist_error_t err = {0};
    json_object_set_new(c->json, "users", json_array());
    call_say(c, "%-16s %-16s %s\n", "NAME", "ROLE", "ENV");
    if (store_user_list(controller_store(c->ctl), s_row, c, &err) != HOIST_OK) {
        return call_fail(c, &err);
    }
    return 0;
}

static int
s_count_root(const store_user_t *u, void *arg)
{
    rbac_role_t r;
    if (rbac_role_parse(u->role, &r, NULL) == HOIST_OK &&
        rbac_is_root_admin(r, u->env)) {
        (*(size_t *)arg)++;
    }
    return 0;
}

static int
s_remove(call_t *c)
{
    hoist_error_t err = {0};
    store_t *st = controller_store(c->ctl);
    store_user_t u;
    rbac_role_t r;
    size_t roots = 0;
    if (store_user_get(st, call_arg(c, 0), &u, &err) != HOIST_OK ||
        store_user_list(st, s_count_root, &roots, &err) != HOIST_OK) {
        return call_fail(c, &err);
    }
    if (rbac_role_parse(u.role, &r, &err) == HOIST_OK &&
        rbac_check_removal(u.name, r, u.env, roots, &err) != HOIST_OK) {
        return call_fail(c, &err);
    }
    if (store_user_remove(st, u.name, &err) != HOIST_OK ||
        zap_deny(controller_zap(c->ctl), u.pubkey, &err) != HOIST_OK) {
        return call_fail(c, &err);
    }
    log_info("user %s removed by %s", u.name, c->user.name);
    call_say(c, "user %s removed\n", u.name);
    return 0;
}

const call_command_t users_commands[] = {
    {"users.add", s_add, 1, RBAC_USERS_MANAGE, NULL,
     "users add NAME --role ROLE --key FILE [--env ENV]", false},
    {"users.list", s_list, 0, RBAC_USERS_LIST, NULL, "users list", true},
    {"users.remove", s_remove, 1, RBAC_USERS_MANAGE, NULL, "users remove NAME",
     false},
    {NULL, NULL, 0, RBAC_READ, NULL, NULL, false},
};
