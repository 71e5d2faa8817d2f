/*
 * rbac: who may do what. Pure: it takes the caller's role and environment
 * scope, the action and the environment it touches, and says yes, or no
 * with a sentence naming the role that would be needed. The API module
 * looks the caller up and asks; the audit log records the answer.
 *
 * Roles, from the issue: only a release manager (or an admin) moves
 * releases (promote, roll back; a direct deploy is the admin's); QA
 * approves; operators manage agents and tokens; viewers read; an admin
 * does everything. The table
 * (A admin, R release-manager, Q qa, O operator, V viewer; "env" marks an
 * action that touches one environment and so falls under a user's scope):
 *
 *   action                            A R Q O V  scope
 *   read: list, show, status, logs,   x x x x x  -
 *     export, whoami, trust list,
 *     users list, vars list
 *   audit, audit verify               x x x x x  -
 *   release create                    x x x x .  -
 *   deploy APP VERSION --env ENV      x . . . .  env
 *   promote APP VERSION --to ENV      x x . . .  env
 *   rollback APP --env ENV            x x . . .  env
 *   approve APP VERSION --env ENV     x x x . .  env
 *   deployment cancel (halt)          x x . x .  env
 *   deployment continue (canary)      x x . . .  env
 *   schedule cancel                   x x . . .  env (its target)
 *   vars set, vars unset              x x . x .  env
 *   agents accept, agents revoke      x . . x .  env (the agent's)
 *   token create --env ENV            x . . x .  env
 *   drill run                         x x . x .  env (each env touched)
 *   promote --override-freeze         x . . . .  env
 *   users add, users remove           x . . . .  -
 *   trust add, trust remove           x . . . .  -
 *   apply (the pipeline file)         x . . . .  -
 *   controller key next               x . . . .  -
 *
 * Where the issue is silent, the table decides so:
 *   - Everyone reads everything, the audit log included (more eyes on the
 *     record); secret values are never shown to anyone anyway.
 *   - release create: a release is what a trusted release key signed; the
 *     uploader (CI) adds nothing to that trust, so any role but viewer.
 *   - deploy: a direct deploy passes no gate (no lifecycle order, no
 *     approval, no window, no freeze): it is the admin's way around the
 *     pipeline, on the record like everything else. Release managers
 *     move releases with promote, which checks every gate (the first
 *     environment of a lifecycle has no upstream gate).
 *   - approve: QA, and the release manager, since a pipeline may ask for
 *     a release manager's approval; the gate counts only approvals from
 *     the role the environment requires.
 *   - deployment cancel: stopping a bad rollout is an operator's safety
 *     act; continuing a held canary is a release decision.
 *   - vars: configuration and secrets belong to who runs the app.
 *   - drill run: a drill fails production over; operators and release
 *     managers run it. The caller asks once per environment touched.
 *   - apply: the pipeline file sets the gates; a release manager who could
 *     edit them could drop the approval he must pass. Admins only.
 *
 * Rolling back: the issue names production. The same rule holds for every
 * environment, because rbac cannot know which rung a team treats as
 * production (names vary: prod, live, dr), and a rule that is looser on a
 * misnamed production is a hole. Per-environment delegation is what scope
 * is for: a release manager scoped to dev owns dev.
 *
 * Scope: a user scoped to an environment performs "env" actions only in
 * that environment, and no other action except reading: reading is
 * allowed everywhere, so that a dev-scoped user can still see where a
 * release is on the ladder. An "env" action with no environment (NULL or
 * "") means every environment, which a scoped user may not touch. A
 * scoped admin is an admin of its environment only; users, trust and the
 * pipeline file need an unscoped admin.
 */
#ifndef HOIST_RBAC_H
#define HOIST_RBAC_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

typedef enum {
    RBAC_ADMIN,
    RBAC_RELEASE_MANAGER,
    RBAC_QA,
    RBAC_OPERATOR,
    RBAC_VIEWER,
    RBAC_ROLE__COUNT
} rbac_role_t;

typedef enum {
    RBAC_READ,                /* any list, show, status, logs, export */
    RBAC_AUDIT_READ,          /* hoist audit */
    RBAC_AUDIT_VERIFY,        /* hoist audit verify */
    RBAC_RELEASE_CREATE,      /* hoist release create */
    RBAC_DEPLOY,              /* hoist deploy --env ENV */
    RBAC_PROMOTE,             /* hoist promote --to ENV */
    RBAC_ROLLBACK,            /* hoist rollback --env ENV */
    RBAC_APPROVE,             /* hoist approve --env ENV */
    RBAC_DEPLOYMENT_CANCEL,   /* halt a deployment in ENV */
    RBAC_DEPLOYMENT_CONTINUE, /* let a held (canary) deployment in ENV go on */
    RBAC_SCHEDULE_CANCEL,     /* hoist schedule cancel (ENV: its target) */
    RBAC_VARS_SET,            /* hoist vars set/unset --env ENV */
    RBAC_VARS_LIST,           /* hoist vars list (a read) */
    RBAC_AGENTS_MANAGE,       /* hoist agents accept/revoke (ENV: agent's) */
    RBAC_TOKEN_CREATE,        /* hoist token create --env ENV */
    RBAC_USERS_MANAGE,        /* hoist users add/remove */
    RBAC_USERS_LIST,          /* hoist users list (a read) */
    RBAC_TRUST_MANAGE,        /* hoist trust add/remove */
    RBAC_TRUST_LIST,          /* hoist trust list (a read) */
    RBAC_PIPELINE_APPLY,      /* hoist apply */
    RBAC_DRILL_RUN,           /* hoist drill run (ENV: each env touched) */
    RBAC_FREEZE_OVERRIDE,     /* promote --override-freeze into ENV */
    RBAC_SERVER_KEY,          /* hoist controller key next */
    RBAC_ACTION__COUNT
} rbac_action_t;

/* Parses a role name ("admin", "release-manager", "qa", "operator",
 * "viewer") into *OUT. HOIST_ERR_USAGE naming the choices otherwise. */
hoist_err_t rbac_role_parse(const char *name, rbac_role_t *out,
                            hoist_error_t *err);

/* The role's name as rbac_role_parse reads it; "?" for a value out of
 * range. Static storage. */
const char *rbac_role_name(rbac_role_t role);

/* A stable short name of ACTION for logs and the audit log ("promote",
 * "agents.manage"); "?" out of range. Static storage. */
const char *rbac_action_name(rbac_action_t action);

/* True when ACTION touches one environment and so falls under scope. */
bool rbac_action_has_env(rbac_action_t action);

/* Decides whether USER (for messages; NULL reads "this user") holding
 * ROLE, scoped to SCOPE_ENV (NULL or "" for every environment), may
 * perform ACTION in ENV (NULL or "" for none, or every). HOIST_OK, or
 * HOIST_ERR_AUTH with a sentence such as "refused: promote to production
 * needs the release-manager role; alice has qa". */
hoist_err_t rbac_check(const char *user, rbac_role_t role,
                       const char *scope_env, rbac_action_t action,
                       const char *env, hoist_error_t *err);

/* True when ROLE and SCOPE_ENV make an admin of everything: the kind of
 * user that can manage users, and of which one must always be left. */
bool rbac_is_root_admin(rbac_role_t role, const char *scope_env);

/* Decides whether user NAME (ROLE, SCOPE_ENV) may stop being what it is:
 * be removed, or changed to another role or scope. ROOT_ADMINS counts the
 * unscoped admins there are now, NAME included. Removing or demoting (or
 * scoping) the last unscoped admin would leave nobody able to manage
 * users and trust, so that is HOIST_ERR_AUTH; anything else HOIST_OK. */
hoist_err_t rbac_check_removal(const char *name, rbac_role_t role,
                               const char *scope_env, size_t root_admins,
                               hoist_error_t *err);

#endif
