/*
 * test_rekey: `hoist-agent rekey` with real processes. The running agent
 * is told to reconnect and comes back with the new key, which `hoist
 * agents` shows; deploys still work; the old key is refused once the new
 * one has said hello; killed between the controller's answer and the
 * switch, the agent still connects with its old key and a second rekey
 * finishes; with no controller answering it fails and the key in use is
 * unchanged.
 */
#include "testutil.h"

#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fleetutil.h"
#include "monotime.h"

/* Runs hoist-agent rekey on agent I's root with the extra environment
 * ENV (may be NULL). */
static tu_run_t
s_rekey(fleet_t *f, int i, const char *const *env)
{
    const char *argv[] = {HOIST_AGENT_BIN, "rekey", "--root", f->root[i],
                          "--timeout",     "5s",    NULL};
    return tu_run(argv, env);
}

/* The agent's secret key file (malloc'd). */
static char *
s_secret(fleet_t *f, int i, const char *name)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/keys/%s", f->root[i], name);
    return tu_read(path, NULL);
}

/* NAME's key as `hoist agents --json` has it (malloc'd). */
static char *
s_key(fleet_t *f, const char *name, bool *pending)
{
    json_t *row = fu_agent_row(f, name);
    assert_non_null(row);
    char *key = strdup(json_string_value(json_object_get(row, "key")));
    if (pending) {
        *pending = json_is_true(json_object_get(row, "rekey_pending"));
    }
    json_decref(row);
    return key;
}

/* Waits until NAME holds key KEY with no rekey pending, online. */
static void
s_wait_settled(fleet_t *f, const char *name, const char *key)
{
    uint64_t until = monotime_ms() + WAIT_MS;
    for (;;) {
        bool pending = true;
        char *now = s_key(f, name, &pending);
        json_t *row = fu_agent_row(f, name);
        bool online = json_is_true(json_object_get(row, "online"));
        json_decref(row);
        bool done = strcmp(now, key) == 0 && !pending && online;
        free(now);
        if (done) {
            return;
        }
        assert_true(monotime_ms() < until);
        usleep(50 * 1000);
    }
}

/* True when the file's public-key line holds the agent's key KEY. */
static void
s_assert_key_file(fleet_t *f, int i, const char *key)
{
    char *text = s_secret(f, i, "agent_secret");
    assert_non_null(text);
    assert_contains(text, key);
    free(text);
}

static void
test_rekey_online(void **state)
{
    fleet_t *f = *state;
    int i = fu_agent(f, "rk-1", "dev");
    fu_wait_online(f, "rk-1");
    char *old = s_key(f, "rk-1", NULL);
    char copy[PATH_MAX + 16];
    snprintf(copy, sizeof copy, "%s-old", f->root[i]);
    tu_sh("cp -a %s %s && rm -f %s/.run.lock", f->root[i], copy, copy);

    tu_run_t r = s_rekey(f, i, NULL);
    if (r.status != 0) {
        print_error("%s\n", r.out);
    }
    assert_int_equal(r.status, 0);
    assert_contains(r.out, "replaced this agent's key");
    assert_contains(r.out, "told the running agent");
    tu_run_free(&r);
    bool pending = false;
    char *fresh = s_key(f, "rk-1", &pending);
    assert_string_not_equal(fresh, old);
    s_assert_key_file(f, i, fresh);
    /* The daemon reconnects with it, and the controller retires the old. */
    s_wait_settled(f, "rk-1", fresh);
    fu_release(f, "1.0.0", 1, FU_GOOD_SPEC);
    json_decref(fu_deploy_wait(f, "1.0.0", "dev", 0));

    /* The old key no longer gets in: a daemon on a copy of the old root
     * never shows up, and the agent is not flagged as cloned. */
    const char *argv[] = {HOIST_AGENT_BIN, "run",   "--root", copy,
                          "--user",        fu_me(), NULL};
    char log[PATH_MAX + 32];
    snprintf(log, sizeof log, "%s.log", copy);
    pid_t stale = fu_spawn(argv, log);
    usleep(1500 * 1000);
    json_t *row = fu_agent_row(f, "rk-1");
    assert_false(json_is_true(json_object_get(row, "cloned")));
    assert_string_equal(json_string_value(json_object_get(row, "key")), fresh);
    json_decref(row);
    char *text = tu_read(log, NULL);
    assert_null(strstr(text ? text : "", "connected to the controller"));
    free(text);
    fu_stop(&stale, SIGTERM);

    /* The audit log has it. */
    r = fu_hoist(f, (const char *[]){"audit", NULL});
    assert_contains(r.out, "agent.rekey");
    tu_run_free(&r);
    free(old);
    free(fresh);
}

static void
test_rekey_interrupted(void **state)
{
    fleet_t *f = *state;
    int i = fu_agent(f, "rk-2", "dev");
    fu_wait_online(f, "rk-2");
    char *old = s_key(f, "rk-2", NULL);
    char *before = s_secret(f, i, "agent_secret");

    /* Killed after the controller took the new key, before the switch. */
    tu_run_t r =
        s_rekey(f, i, (const char *[]){"HOIST_FAULT=rekey-offered", NULL});
    assert_true(r.signaled);
    tu_run_free(&r);
    char *after = s_secret(f, i, "agent_secret");
    assert_string_equal(before, after);
    free(after);
    bool pending = false;
    char *fresh = s_key(f, "rk-2", &pending);
    assert_string_not_equal(fresh, old);
    assert_true(pending);

    /* The agent, restarted on its old key, still gets in. */
    fu_stop(&f->agent[i], SIGKILL);
    fu_run_agent(f, i);
    fu_wait_online(f, "rk-2");

    /* Run again: the same new key is offered, and the switch happens. */
    r = s_rekey(f, i, NULL);
    assert_int_equal(r.status, 0);
    assert_contains(r.out, "finished replacing");
    tu_run_free(&r);
    s_assert_key_file(f, i, fresh);
    s_wait_settled(f, "rk-2", fresh);
    free(before);
    free(old);
    free(fresh);
}

static void
test_rekey_no_controller(void **state)
{
    fleet_t *f = *state;
    int i = fu_agent(f, "rk-3", "dev");
    fu_wait_online(f, "rk-3");
    char *before = s_secret(f, i, "agent_secret");
    fu_stop(&f->controller, SIGTERM);
    tu_run_t r = s_rekey(f, i, NULL);
    assert_int_not_equal(r.status, 0);
    assert_contains(r.out, "the agent's key is unchanged");
    tu_run_free(&r);
    char *after = s_secret(f, i, "agent_secret");
    assert_string_equal(before, after);
    free(before);
    free(after);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_rekey_online, fu_setup,
                                        fu_teardown),
        cmocka_unit_test_setup_teardown(test_rekey_interrupted, fu_setup,
                                        fu_teardown),
        cmocka_unit_test_setup_teardown(test_rekey_no_controller, fu_setup,
                                        fu_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, fu_kill_leftovers);
}
