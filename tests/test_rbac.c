/*
 * test_rbac: the role table, scope, refusal sentences and the last-admin
 * rule, without a store.
 */
#include "testutil.h"

#include <string.h>

#include "rbac.h"

static bool
s_may(rbac_role_t role, const char *scope, rbac_action_t action,
      const char *env)
{
    hoist_error_t err = {0};
    hoist_err_t rc = rbac_check("u", role, scope, action, env, &err);
    if (rc != HOIST_OK) {
        assert_int_equal(rc, HOIST_ERR_AUTH);
        assert_true(strncmp(err.msg, "refused: ", 9) == 0);
    }
    return rc == HOIST_OK;
}

static void
test_role_names_round_trip(void **state)
{
    (void)state;
    for (int r = 0; r < RBAC_ROLE__COUNT; r++) {
        rbac_role_t got = RBAC_ROLE__COUNT;
        assert_int_equal(
            rbac_role_parse(rbac_role_name((rbac_role_t)r), &got, NULL),
            HOIST_OK);
        assert_int_equal(got, r);
    }
    assert_string_equal(rbac_role_name(RBAC_RELEASE_MANAGER),
                        "release-manager");
    assert_string_equal(rbac_role_name(RBAC_ROLE__COUNT), "?");
    assert_string_equal(rbac_action_name(RBAC_PROMOTE), "promote");
    assert_string_equal(rbac_action_name(RBAC_ACTION__COUNT), "?");
}

static void
test_role_parse_refuses_unknown(void **state)
{
    (void)state;
    hoist_error_t err = {0};
    rbac_role_t got = RBAC_VIEWER;
    assert_int_equal(rbac_role_parse("Admin", &got, &err), HOIST_ERR_USAGE);
    assert_contains(err.msg, "unknown role 'Admin'");
    assert_contains(err.msg, "release-manager");
    assert_int_equal(got, RBAC_VIEWER); /* untouched on failure */
    assert_int_equal(rbac_role_parse("release_manager", &got, NULL),
                     HOIST_ERR_USAGE);
    assert_int_equal(rbac_role_parse(NULL, &got, NULL), HOIST_ERR_USAGE);
}

/* The sentence of the issue, word for word. */
static void
test_refusal_names_needed_role(void **state)
{
    (void)state;
    hoist_error_t err = {0};
    assert_int_equal(
        rbac_check("alice", RBAC_QA, NULL, RBAC_PROMOTE, "production", &err),
        HOIST_ERR_AUTH);
    assert_string_equal(err.msg, "refused: promote to production needs the "
                                 "release-manager role; alice has qa");
    assert_int_equal(
        rbac_check("bob", RBAC_VIEWER, "", RBAC_AGENTS_MANAGE, "dev", &err),
        HOIST_ERR_AUTH);
    assert_string_equal(err.msg, "refused: accept or revoke agents in dev "
                                 "needs the operator role; bob has viewer");
    assert_int_equal(
        rbac_check(NULL, RBAC_OPERATOR, NULL, RBAC_TRUST_MANAGE, NULL, &err),
        HOIST_ERR_AUTH);
    assert_contains(err.msg, "needs the admin role; this user has operator");
}

/* The table of rbac.h, written out again here so that a changed row in
 * rbac.c shows up as a failing test. Columns: admin, release-manager, qa,
 * operator, viewer. */
static void
test_table_unscoped(void **state)
{
    (void)state;
    static const struct {
        rbac_action_t action;
        bool may[RBAC_ROLE__COUNT];
    } rows[] = {
        {RBAC_READ, {1, 1, 1, 1, 1}},
        {RBAC_AUDIT_READ, {1, 1, 1, 1, 1}},
        {RBAC_AUDIT_VERIFY, {1, 1, 1, 1, 1}},
        {RBAC_RELEASE_CREATE, {1, 1, 1, 1, 0}},
        {RBAC_DEPLOY, {1, 0, 0, 0, 0}},
        {RBAC_PROMOTE, {1, 1, 0, 0, 0}},
        {RBAC_ROLLBACK, {1, 1, 0, 0, 0}},
        {RBAC_APPROVE, {1, 1, 1, 0, 0}},
        {RBAC_DEPLOYMENT_CANCEL, {1, 1, 0, 1, 0}},
        {RBAC_DEPLOYMENT_CONTINUE, {1, 1, 0, 0, 0}},
        {RBAC_SCHEDULE_CANCEL, {1, 1, 0, 0, 0}},
        {RBAC_VARS_SET, {1, 1, 0, 1, 0}},
        {RBAC_VARS_LIST, {1, 1, 1, 1, 1}},
        {RBAC_AGENTS_MANAGE, {1, 0, 0, 1, 0}},
        {RBAC_TOKEN_CREATE, {1, 0, 0, 1, 0}},
        {RBAC_USERS_MANAGE, {1, 0, 0, 0, 0}},
        {RBAC_USERS_LIST, {1, 1, 1, 1, 1}},
        {RBAC_TRUST_MANAGE, {1, 0, 0, 0, 0}},
        {RBAC_TRUST_LIST, {1, 1, 1, 1, 1}},
        {RBAC_PIPELINE_APPLY, {1, 0, 0, 0, 0}},
        {RBAC_DRILL_RUN, {1, 1, 0, 1, 0}},
        {RBAC_FREEZE_OVERRIDE, {1, 0, 0, 0, 0}},
        {RBAC_SERVER_KEY, {1, 0, 0, 0, 0}},
    };
    assert_int_equal(sizeof rows / sizeof *rows, RBAC_ACTION__COUNT);
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
        for (int r = 0; r < RBAC_ROLE__COUNT; r++) {
            bool got = s_may((rbac_role_t)r, NULL, rows[i].action, "staging");
            if (got != rows[i].may[r]) {
                fail_msg("%s by %s: got %d, want %d",
                         rbac_action_name(rows[i].action),
                         rbac_role_name((rbac_role_t)r), got, rows[i].may[r]);
            }
        }
    }
}

static void
test_scope_limits_env_actions(void **state)
{
    (void)state;
    hoist_error_t err = {0};
    assert_true(s_may(RBAC_QA, "qa", RBAC_APPROVE, "qa"));
    assert_int_equal(
        rbac_check("carol", RBAC_QA, "qa", RBAC_APPROVE, "production", &err),
        HOIST_ERR_AUTH);
    assert_contains(err.msg, "approve for production is outside the scope "
                             "of carol");
    assert_contains(err.msg, "limited to environment qa");
    /* "Every environment" is not inside one. */
    assert_false(s_may(RBAC_OPERATOR, "dev", RBAC_TOKEN_CREATE, NULL));
    assert_false(s_may(RBAC_OPERATOR, "dev", RBAC_TOKEN_CREATE, ""));
    assert_true(s_may(RBAC_OPERATOR, NULL, RBAC_TOKEN_CREATE, NULL));
    /* Scope never widens a role. */
    assert_false(s_may(RBAC_QA, "qa", RBAC_PROMOTE, "qa"));
    assert_true(s_may(RBAC_RELEASE_MANAGER, "dev", RBAC_ROLLBACK, "dev"));
    assert_false(s_may(RBAC_RELEASE_MANAGER, "dev", RBAC_ROLLBACK, "devx"));
}

static void
test_scoped_users_read_everywhere(void **state)
{
    (void)state;
    assert_true(s_may(RBAC_VIEWER, "dev", RBAC_READ, NULL));
    assert_true(s_may(RBAC_VIEWER, "dev", RBAC_VARS_LIST, "production"));
    assert_true(s_may(RBAC_QA, "qa", RBAC_AUDIT_VERIFY, NULL));
    assert_true(s_may(RBAC_OPERATOR, "qa", RBAC_USERS_LIST, NULL));
}

static void
test_scoped_admin_is_not_root(void **state)
{
    (void)state;
    hoist_error_t err = {0};
    assert_true(s_may(RBAC_ADMIN, "staging", RBAC_FREEZE_OVERRIDE, "staging"));
    assert_false(s_may(RBAC_ADMIN, "staging", RBAC_PROMOTE, "production"));
    assert_int_equal(rbac_check("dave", RBAC_ADMIN, "staging",
                                RBAC_USERS_MANAGE, NULL, &err),
                     HOIST_ERR_AUTH);
    assert_contains(err.msg, "add or remove users needs a user not limited "
                             "to one environment; dave is limited to staging");
    assert_false(s_may(RBAC_ADMIN, "staging", RBAC_PIPELINE_APPLY, NULL));
    assert_false(s_may(RBAC_OPERATOR, "dev", RBAC_RELEASE_CREATE, NULL));
    assert_true(rbac_is_root_admin(RBAC_ADMIN, NULL));
    assert_true(rbac_is_root_admin(RBAC_ADMIN, ""));
    assert_false(rbac_is_root_admin(RBAC_ADMIN, "dev"));
    assert_false(rbac_is_root_admin(RBAC_RELEASE_MANAGER, NULL));
}

static void
test_out_of_range_is_refused(void **state)
{
    (void)state;
    assert_false(s_may(RBAC_ADMIN, NULL, RBAC_ACTION__COUNT, NULL));
    assert_false(s_may(RBAC_ROLE__COUNT, NULL, RBAC_READ, NULL));
    assert_false(rbac_action_has_env(RBAC_ACTION__COUNT));
    assert_true(rbac_action_has_env(RBAC_PROMOTE));
    assert_false(rbac_action_has_env(RBAC_USERS_MANAGE));
}

static void
test_last_admin_stays(void **state)
{
    (void)state;
    hoist_error_t err = {0};
    assert_int_equal(rbac_check_removal("root", RBAC_ADMIN, NULL, 1, &err),
                     HOIST_ERR_AUTH);
    assert_contains(err.msg, "root is the last admin");
    assert_int_equal(rbac_check_removal("root", RBAC_ADMIN, "", 0, NULL),
                     HOIST_ERR_AUTH);
    assert_int_equal(rbac_check_removal("root", RBAC_ADMIN, NULL, 2, NULL),
                     HOIST_OK);
    /* A scoped admin or anyone else can go, even with one admin left. */
    assert_int_equal(rbac_check_removal("ops", RBAC_ADMIN, "dev", 1, NULL),
                     HOIST_OK);
    assert_int_equal(rbac_check_removal("qa1", RBAC_QA, NULL, 1, NULL),
                     HOIST_OK);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_role_names_round_trip),
        cmocka_unit_test(test_role_parse_refuses_unknown),
        cmocka_unit_test(test_refusal_names_needed_role),
        cmocka_unit_test(test_table_unscoped),
        cmocka_unit_test(test_scope_limits_env_actions),
        cmocka_unit_test(test_scoped_users_read_everywhere),
        cmocka_unit_test(test_scoped_admin_is_not_root),
        cmocka_unit_test(test_out_of_range_is_refused),
        cmocka_unit_test(test_last_admin_stays),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
