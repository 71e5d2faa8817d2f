/*
 * test_rollout: rollout strategies end to end with real processes: twelve
 * agents in production rolling three at a time, a release whose health
 * check fails on one agent of the second batch, and the rollout halting
 * and putting back exactly the agents that had taken it; a canary that
 * holds until `hoist deployment continue`; a cancel with --rollback.
 */
#include "testutil.h"

#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fleetutil.h"
#include "monotime.h"

/* Healthy unless ROOT/fail-health exists on the agent (the release runs
 * in ROOT/apps/web/releases/VERSION). */
static const char *FRAGILE_SPEC =
    "hooks:\n"
    "  activate: echo \"$HOIST_VERSION\" > active\n"
    "health:\n"
    "  command: test ! -e ../../../../fail-health\n"
    "  retries: 2\n"
    "  interval: 50ms\n";

/* Applies pipeline TEXT. */
static void
s_apply(fleet_t *f, const char *text)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/pipeline.yml", f->dir);
    tu_write(path, text, (size_t)-1, 0644);
    json_decref(fu_hoist_json(f, (const char *[]){"apply", path, NULL}));
}

/* Starts N agents PREFIX-01.. in ENV and waits until all are online. */
static void
s_fleet(fleet_t *f, const char *prefix, const char *env, int n)
{
    char name[32];
    for (int i = 1; i <= n; i++) {
        snprintf(name, sizeof name, "%s-%02d", prefix, i);
        fu_agent(f, name, env);
    }
    for (int i = 1; i <= n; i++) {
        snprintf(name, sizeof name, "%s-%02d", prefix, i);
        fu_wait_online(f, name);
    }
}

/* The newest deployment's JSON (deployment show). */
static json_t *
s_newest(fleet_t *f)
{
    json_t *list = fu_hoist_json(f, (const char *[]){"deployments", NULL});
    char id[32];
    snprintf(
        id, sizeof id, "%lld",
        (long long)json_integer_value(json_object_get(
            json_array_get(json_object_get(list, "deployments"), 0), "id")));
    json_decref(list);
    return fu_hoist_json(f, (const char *[]){"deployment", "show", id, NULL});
}

static void
test_rolling_halts_and_rolls_back(void **state)
{
    fleet_t *f = *state;
    s_apply(f, "environments:\n"
               "  production:\n"
               "    strategy: {type: rolling, batch: 3}\n");
    s_fleet(f, "prod", "production", 12);
    fu_release(f, "1.0.0", 1, FRAGILE_SPEC);
    tu_run_t r = fu_hoist(f, (const char *[]){"deploy", "web", "1.0.0", "--env",
                                              "production", "--strategy",
                                              "all-at-once", "--wait", NULL});
    assert_int_equal(r.status, 0);
    tu_run_free(&r);
    /* prod-05 sits in the second batch (by name: 01-03, 04-06, ...). */
    char fail[PATH_MAX];
    snprintf(fail, sizeof fail, "%s/fail-health", f->root[4]);
    assert_non_null(strstr(f->root[4], "prod-05"));
    tu_write(fail, "", 0, 0644);
    fu_release(f, "2.0.0", 2, FRAGILE_SPEC);
    r = fu_hoist(f, (const char *[]){"deploy", "web", "2.0.0", "--env",
                                     "production", "--wait", NULL});
    assert_int_equal(r.status, 1);
    tu_run_free(&r);
    json_t *d = s_newest(f);
    assert_string_equal(json_string_value(json_object_get(d, "state")),
                        "rolled_back");
    assert_true(json_is_true(json_object_get(d, "halted")));
    assert_non_null(strstr(json_string_value(json_object_get(d, "halt_reason")),
                           "threshold"));
    const char *want[12] = {"reverted",    "reverted", "reverted", "reverted",
                            "rolled_back", "reverted", "pending",  "pending",
                            "pending",     "pending",  "pending",  "pending"};
    char name[32];
    for (int i = 0; i < 12; i++) {
        snprintf(name, sizeof name, "prod-%02d", i + 1);
        if (strcmp(fu_task_state(d, name), want[i]) != 0) {
            print_error("%s: %s, not %s\n", name, fu_task_state(d, name),
                        want[i]);
        }
        assert_string_equal(fu_task_state(d, name), want[i]);
        /* Every agent runs what it ran before the rollout. */
        char *live = fu_live(f, i);
        assert_string_equal(live, "1.0.0");
        free(live);
    }
    json_decref(d);
}

/* A canary of one that holds until a release manager says continue. */
static void
test_canary_waits_for_continue(void **state)
{
    fleet_t *f = *state;
    s_apply(f, "environments:\n"
               "  production:\n"
               "    strategy: {type: canary, count: 1, then: manual}\n");
    s_fleet(f, "prod", "production", 3);
    fu_release(f, "1.0.0", 1, FRAGILE_SPEC);
    json_t *j = fu_hoist_json(f, (const char *[]){"deploy", "web", "1.0.0",
                                                  "--env", "production", NULL});
    char id[32];
    snprintf(id, sizeof id, "%lld",
             (long long)json_integer_value(json_object_get(j, "deployment")));
    json_decref(j);
    uint64_t until = monotime_ms() + WAIT_MS;
    bool waiting = false;
    while (!waiting && monotime_ms() < until) {
        j = fu_hoist_json(f, (const char *[]){"deployment", "show", id, NULL});
        waiting = json_is_true(json_object_get(j, "waiting_continue"));
        if (waiting) {
            assert_string_equal(fu_task_state(j, "prod-01"), "succeeded");
            assert_string_equal(fu_task_state(j, "prod-02"), "pending");
            assert_string_equal(fu_task_state(j, "prod-03"), "pending");
        }
        json_decref(j);
        usleep(100 * 1000);
    }
    assert_true(waiting);
    json_decref(
        fu_hoist_json(f, (const char *[]){"deployment", "continue", id, NULL}));
    fu_assert_ends(f, id, "succeeded", WAIT_MS);
    for (int i = 0; i < 3; i++) {
        char *live = fu_live(f, i);
        assert_string_equal(live, "1.0.0");
        free(live);
    }
}

/* Cancel with --rollback: nothing new starts and those done go back. */
static void
test_cancel_with_rollback(void **state)
{
    fleet_t *f = *state;
    s_apply(f, "environments:\n"
               "  production:\n"
               "    strategy: {type: canary, count: 1, then: manual}\n");
    s_fleet(f, "prod", "production", 2);
    fu_release(f, "1.0.0", 1, FRAGILE_SPEC);
    tu_run_t r = fu_hoist(f, (const char *[]){"deploy", "web", "1.0.0", "--env",
                                              "production", "--strategy",
                                              "all-at-once", "--wait", NULL});
    assert_int_equal(r.status, 0);
    tu_run_free(&r);
    fu_release(f, "2.0.0", 2, FRAGILE_SPEC);
    json_t *j = fu_hoist_json(f, (const char *[]){"deploy", "web", "2.0.0",
                                                  "--env", "production", NULL});
    char id[32];
    snprintf(id, sizeof id, "%lld",
             (long long)json_integer_value(json_object_get(j, "deployment")));
    json_decref(j);
    uint64_t until = monotime_ms() + WAIT_MS;
    bool waiting = false;
    while (!waiting && monotime_ms() < until) {
        j = fu_hoist_json(f, (const char *[]){"deployment", "show", id, NULL});
        waiting = json_is_true(json_object_get(j, "waiting_continue"));
        json_decref(j);
        usleep(100 * 1000);
    }
    assert_true(waiting);
    json_decref(fu_hoist_json(
        f, (const char *[]){"deployment", "cancel", id, "--rollback", NULL}));
    fu_assert_ends(f, id, "cancelled", WAIT_MS);
    j = fu_hoist_json(f, (const char *[]){"deployment", "show", id, NULL});
    assert_string_equal(fu_task_state(j, "prod-01"), "reverted");
    assert_string_equal(fu_task_state(j, "prod-02"), "pending");
    json_decref(j);
    for (int i = 0; i < 2; i++) {
        char *live = fu_live(f, i);
        assert_string_equal(live, "1.0.0");
        free(live);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_rolling_halts_and_rolls_back,
                                        fu_setup, fu_teardown),
        cmocka_unit_test_setup_teardown(test_canary_waits_for_continue,
                                        fu_setup, fu_teardown),
        cmocka_unit_test_setup_teardown(test_cancel_with_rollback, fu_setup,
                                        fu_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, fu_kill_leftovers);
}
