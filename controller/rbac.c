/*
 * rbac: see rbac.h. The decision is one table, in the order of the enum:
 * which roles may, whether the action falls under scope, and how a
 * refusal names it. Changing who may do what is changing a row.
 */
#include "rbac.h"

#include <stdio.h>
#include <string.h>

#define A (1u << RBAC_ADMIN)
#define R (1u << RBAC_RELEASE_MANAGER)
#define Q (1u << RBAC_QA)
#define O (1u << RBAC_OPERATOR)
#define V (1u << RBAC_VIEWER)

typedef struct {
    const char *name;  /* stable, for logs and the audit log */
    unsigned roles;    /* bit per rbac_role_t allowed */
    bool env;          /* touches one environment: scope applies */
    bool read;         /* a read: allowed to scoped users everywhere */
    const char *what;  /* "promote to" + " ENV" in messages */
    const char *needs; /* the roles a refusal names */
} rbac_rule_t;

static const rbac_rule_t s_rules[RBAC_ACTION__COUNT] = {
    [RBAC_READ] = {"read", A | R | Q | O | V, false, true, "read", "any"},
    [RBAC_AUDIT_READ] = {"audit.read", A | R | Q | O | V, false, true,
                         "read the audit log", "any"},
    [RBAC_AUDIT_VERIFY] = {"audit.verify", A | R | Q | O | V, false, true,
                           "verify the audit log", "any"},
    [RBAC_RELEASE_CREATE] = {"release.create", A | R | Q | O, false, false,
                             "create a release",
                             "the release-manager, qa or operator"},
    [RBAC_DEPLOY] = {"deploy", A, true, false, "deploy directly to",
                     "the admin"},
    [RBAC_PROMOTE] = {"promote", A | R, true, false, "promote to",
                      "the release-manager"},
    [RBAC_ROLLBACK] = {"rollback", A | R, true, false, "roll back",
                       "the release-manager"},
    [RBAC_APPROVE] = {"approve", A | R | Q, true, false, "approve for",
                      "the qa or release-manager"},
    [RBAC_DEPLOYMENT_CANCEL] = {"deployment.cancel", A | R | O, true, false,
                                "cancel a deployment in",
                                "the release-manager or operator"},
    [RBAC_DEPLOYMENT_CONTINUE] = {"deployment.continue", A | R, true, false,
                                  "continue a deployment in",
                                  "the release-manager"},
    [RBAC_SCHEDULE_CANCEL] = {"schedule.cancel", A | R, true, false,
                              "cancel a scheduled promotion to",
                              "the release-manager"},
    [RBAC_VARS_SET] = {"vars.set", A | R | O, true, false, "set variables in",
                       "the release-manager or operator"},
    [RBAC_VARS_LIST] = {"vars.list", A | R | Q | O | V, true, true,
                        "list variables in", "any"},
    [RBAC_AGENTS_MANAGE] = {"agents.manage", A | O, true, false,
                            "accept or revoke agents in", "the operator"},
    [RBAC_TOKEN_CREATE] = {"token.create", A | O, true, false,
                           "create an enrollment token for", "the operator"},
    [RBAC_USERS_MANAGE] = {"users.manage", A, false, false,
                           "add or remove users", "the admin"},
    [RBAC_USERS_LIST] = {"users.list", A | R | Q | O | V, false, true,
                         "list users", "any"},
    [RBAC_TRUST_MANAGE] = {"trust.manage", A, false, false,
                           "add or remove trusted release keys", "the admin"},
    [RBAC_TRUST_LIST] = {"trust.list", A | R | Q | O | V, false, true,
                         "list trusted release keys", "any"},
    [RBAC_PIPELINE_APPLY] = {"pipeline.apply", A, false, false,
                             "apply the pipeline file", "the admin"},
    [RBAC_DRILL_RUN] = {"drill.run", A | R | O, true, false, "run a drill in",
                        "the release-manager or operator"},
    [RBAC_FREEZE_OVERRIDE] = {"freeze.override", A, true, false,
                              "override the freeze of", "the admin"},
    [RBAC_SERVER_KEY] = {"server.key", A, false, false,
                         "prepare the controller's next key", "the admin"},
};

#undef A
#undef R
#undef Q
#undef O
#undef V

static const char *const s_role_names[RBAC_ROLE__COUNT] = {
    [RBAC_ADMIN] = "admin",   [RBAC_RELEASE_MANAGER] = "release-manager",
    [RBAC_QA] = "qa",         [RBAC_OPERATOR] = "operator",
    [RBAC_VIEWER] = "viewer",
};

hoist_err_t
rbac_role_parse(const char *name, rbac_role_t *out, hoist_error_t *err)
{
    for (int r = 0; name && r < RBAC_ROLE__COUNT; r++) {
        if (strcmp(name, s_role_names[r]) == 0) {
            *out = (rbac_role_t)r;
            return HOIST_OK;
        }
    }
    return error_set(err, HOIST_ERR_USAGE,
                     "unknown role '%s': use admin, release-manager, qa, "
                     "operator or viewer",
                     name ? name : "");
}

const char *
rbac_role_name(rbac_role_t role)
{
    return (unsigned)role < RBAC_ROLE__COUNT ? s_role_names[role] : "?";
}

const char *
rbac_action_name(rbac_action_t action)
{
    return (unsigned)action < RBAC_ACTION__COUNT ? s_rules[action].name : "?";
}

bool
rbac_action_has_env(rbac_action_t action)
{
    return (unsigned)action < RBAC_ACTION__COUNT && s_rules[action].env;
}

static bool
s_empty(const char *s)
{
    return !s || !s[0];
}

/* "promote to production", or "promote to every environment". */
static void
s_what(const rbac_rule_t *rule, const char *env, char *buf, size_t size)
{
    if (!rule->env) {
        snprintf(buf, size, "%s", rule->what);
    } else {
        snprintf(buf, size, "%s %s", rule->what,
                 s_empty(env) ? "every environment" : env);
    }
}

/* Refuses a scoped user outside its scope; HOIST_OK when scope allows. */
static hoist_err_t
s_check_scope(const char *who, const rbac_rule_t *rule, const char *scope_env,
              const char *env, hoist_error_t *err)
{
    if (s_empty(scope_env) || rule->read) {
        return HOIST_OK;
    }
    if (rule->env && !s_empty(env) && strcmp(env, scope_env) == 0) {
        return HOIST_OK;
    }
    char what[256];
    s_what(rule, env, what, sizeof what);
    if (!rule->env) {
        return error_set(err, HOIST_ERR_AUTH,
                         "refused: %s needs a user not limited to one "
                         "environment; %s is limited to %s",
                         what, who, scope_env);
    }
    return error_set(err, HOIST_ERR_AUTH,
                     "refused: %s is outside the scope of %s, who is "
                     "limited to environment %s",
                     what, who, scope_env);
}

hoist_err_t
rbac_check(const char *user, rbac_role_t role, const char *scope_env,
           rbac_action_t action, const char *env, hoist_error_t *err)
{
    const char *who = s_empty(user) ? "this user" : user;
    if ((unsigned)action >= RBAC_ACTION__COUNT ||
        (unsigned)role >= RBAC_ROLE__COUNT) {
        return error_set(err, HOIST_ERR_AUTH,
                         "refused: unknown action or role for %s", who);
    }
    const rbac_rule_t *rule = &s_rules[action];
    if (!(rule->roles & (1u << role))) {
        char what[256];
        s_what(rule, env, what, sizeof what);
        return error_set(err, HOIST_ERR_AUTH,
                         "refused: %s needs %s role; %s has %s", what,
                         rule->needs, who, s_role_names[role]);
    }
    return s_check_scope(who, rule, scope_env, env, err);
}

bool
rbac_is_root_admin(rbac_role_t role, const char *scope_env)
{
    return role == RBAC_ADMIN && s_empty(scope_env);
}

hoist_err_t
rbac_check_removal(const char *name, rbac_role_t role, const char *scope_env,
                   size_t root_admins, hoist_error_t *err)
{
    if (rbac_is_root_admin(role, scope_env) && root_admins <= 1) {
        return error_set(err, HOIST_ERR_AUTH,
                         "refused: %s is the last admin not limited to one "
                         "environment; add another admin first",
                         s_empty(name) ? "this user" : name);
    }
    return HOIST_OK;
}
