/*
 * test_drill_agent: the agent's side of DR drills (agent/drill). The pure
 * decisions first; then a real `hoist-agent run` against the test double
 * of the controller in fakectl (a CURVE ROUTER vetted by the real ZAP
 * handler that answers enroll, hello, heartbeat and fetch, and records
 * results and hook results). A real signed release is installed by a
 * deploy order, then HookOrders make the agent run its failover and
 * failback hooks. Hooks that must be caught while running wait for a file
 * the test writes, so nothing depends on timing. Everything is on
 * 127.0.0.1 with ephemeral ports; the daemon is killed and waited for in
 * teardown.
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "drill.h"
#include "envelope.h"
#include "fakectl.h"

#define AGENT_NAME "dr-01"

/* A test in the lab of fakectl, whose agent is AGENT_NAME. */
#define LAB_TEST(f)                                                            \
    cmocka_unit_test_prestate_setup_teardown(f, fakectl_lab_setup,             \
                                             fakectl_lab_teardown, AGENT_NAME)

/* ---- pure parts ---------------------------------------------------------- */

static void
test_decide(void **state)
{
    (void)state;
    assert_int_equal(drill_decide(true, HOIST_OK, false, HOIST_ERR_HEALTH),
                     DRILL_OK);
    assert_int_equal(drill_decide(true, HOIST_OK, true, HOIST_OK), DRILL_OK);
    assert_int_equal(drill_decide(true, HOIST_ERR_HOOK, true, HOIST_OK),
                     DRILL_FAILED);
    assert_int_equal(drill_decide(true, HOIST_ERR_TIMEOUT, false, HOIST_OK),
                     DRILL_FAILED);
    assert_int_equal(drill_decide(true, HOIST_OK, true, HOIST_ERR_HEALTH),
                     DRILL_FAILED);
    /* Without the hook: no-hook unless the health check, if run, failed. */
    assert_int_equal(drill_decide(false, HOIST_ERR_HOOK, false, HOIST_OK),
                     DRILL_NO_HOOK);
    assert_int_equal(drill_decide(false, HOIST_OK, true, HOIST_OK),
                     DRILL_NO_HOOK);
    assert_int_equal(drill_decide(false, HOIST_OK, true, HOIST_ERR_HEALTH),
                     DRILL_FAILED);
    assert_string_equal(drill_outcome_name(DRILL_NO_RELEASE), "no-release");
    assert_string_equal(drill_outcome_name(DRILL_BUSY), "busy");
    assert_string_equal(drill_outcome_name(DRILL_NO_HOOK), "no-hook");
    assert_true(drill_hook_valid("failover"));
    assert_true(drill_hook_valid("failback"));
    assert_false(drill_hook_valid("activate"));
    assert_false(drill_hook_valid(""));
    assert_false(drill_hook_valid(NULL));
}

/* Sends HookOrder{DRILL, APP, HOOK, HEALTH} in an envelope of id ID. */
static void
s_hook(fakectl_lab_t *l, uint64_t id, uint64_t drill, const char *app,
       const char *hook, bool health)
{
    Hoist__HookOrder h = HOIST__HOOK_ORDER__INIT;
    h.drill = drill;
    h.app = (char *)app;
    h.hook = (char *)hook;
    h.health = health;
    envelope_t e = HOIST__ENVELOPE__INIT;
    e.id = id;
    e.body_case = HOIST__ENVELOPE__BODY_HOOK;
    e.hook = &h;
    fakectl_send(&l->fc, l->fc.agent, &e);
}

/* Sends a HookOrder and waits for its HookResult; returns it. */
static const fakectl_hook_result_t *
s_hook_wait(fakectl_lab_t *l, uint64_t id, uint64_t drill, const char *app,
            const char *hook, bool health)
{
    size_t n = l->fc.n_hooks;
    s_hook(l, id, drill, app, hook, health);
    FAKECTL_PUMP_UNTIL(l, l->fc.n_hooks > n);
    if (l->fc.n_hooks == n) {
        char *log = tu_read(l->log, NULL);
        fail_msg("no result for drill %llu's %s; the agent's log:\n%s",
                 (unsigned long long)drill, hook, log ? log : "");
    }
    const fakectl_hook_result_t *r = &l->fc.hooks[n];
    assert_int_equal(r->id, id);
    assert_int_equal(r->drill, drill);
    assert_string_equal(r->app, app);
    assert_string_equal(r->hook, hook);
    return r;
}

/* The file MARK/NAME, read (the caller frees it; NULL when missing). */
static char *
s_mark(fakectl_lab_t *l, const char *name)
{
    char *path = tu_path(l->mark, name);
    char *text = tu_read(path, NULL);
    free(path);
    return text;
}

/* Lines in MARK/NAME: how often a hook appended to it. */
static int
s_count(fakectl_lab_t *l, const char *name)
{
    char *text = s_mark(l, name);
    int n = 0;
    for (const char *p = text; p && *p; p++) {
        n += *p == '\n';
    }
    free(text);
    return n;
}

/* Waits until MARK/NAME exists. */
static void
s_wait_mark(fakectl_lab_t *l, const char *name)
{
    char *path = tu_path(l->mark, name);
    FAKECTL_PUMP_UNTIL(l, tu_exists(path));
    assert_true(tu_exists(path));
    free(path);
}

static void
s_touch_mark(fakectl_lab_t *l, const char *name)
{
    char *path = tu_path(l->mark, name);
    tu_write(path, "", 0, 0644);
    free(path);
}

/* ---- releases ------------------------------------------------------------ */

/* Records its environment and working directory, counts its runs, prints
 * a marker; the health check passes while MARK/healthy exists. */
static const char *DR_SPEC =
    "hooks:\n"
    "  activate: echo \"$HOIST_VERSION\" > @MARK@/active\n"
    "  failover: echo run >> @MARK@/failover.count; env | grep '^HOIST_' | "
    "sort > @MARK@/failover.env; echo \"failover-output-marker in $(pwd)\"\n"
    "  failback: echo failback-marker; exit 3\n"
    "health:\n"
    "  command: test -f @MARK@/healthy\n"
    "  retries: 2\n"
    "  interval: 50ms\n";

/* No failover or failback hook. */
static const char *PLAIN_SPEC =
    "hooks:\n"
    "  activate: echo \"$HOIST_VERSION\" > @MARK@/active\n"
    "health:\n"
    "  command: test -f @MARK@/healthy\n"
    "  retries: 2\n"
    "  interval: 50ms\n";

/* A failover that waits for MARK/go; an activate that waits for
 * MARK/go-install once MARK/hold-install exists. */
static const char *WAIT_SPEC =
    "hooks:\n"
    "  activate: if [ -f @MARK@/hold-install ]; then touch "
    "@MARK@/installing; while [ ! -f @MARK@/go-install ]; do sleep 0.02; "
    "done; fi\n"
    "  failover: echo run >> @MARK@/failover.count; touch @MARK@/started; "
    "while [ ! -f @MARK@/go ]; do sleep 0.02; done; echo waited-marker\n";

/* Enrolls, starts the agent and installs web 1.0.0 with SPEC. */
static void
s_lab_with(fakectl_lab_t *l, const char *spec)
{
    s_touch_mark(l, "healthy");
    fakectl_lab_release(l, "1.0.0", 1, spec, "rel", 0);
    fakectl_lab_enroll_ok(l);
    fakectl_lab_start_agent(l);
    assert_string_equal(fakectl_lab_deploy_wait(l, 1, "1.0.0", false)->outcome,
                        "installed");
}

/* ---- tests --------------------------------------------------------------- */

static void
test_failover_runs(void **state)
{
    fakectl_lab_t *l = *state;
    s_lab_with(l, DR_SPEC);
    char *journal = tu_path(l->root, "apps/web/state");
    size_t before_len = 0, after_len = 0;
    char *before = tu_read(journal, &before_len);
    assert_non_null(before);
    const fakectl_hook_result_t *r =
        s_hook_wait(l, 501, 7, "web", "failover", true);
    assert_string_equal(r->outcome, "ok");
    assert_string_equal(r->live, "1.0.0");
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/apps/web/releases/1.0.0", l->root);
    char want[PATH_MAX + 64];
    snprintf(want, sizeof want, "failover-output-marker in %s", dir);
    assert_contains(r->message, want);
    /* The environment: the install's HOIST_* plus the drill's. */
    char *env = s_mark(l, "failover.env");
    assert_non_null(env);
    snprintf(want, sizeof want, "HOIST_RELEASE_DIR=%s\n", dir);
    assert_contains(env, want);
    assert_contains(env, "HOIST_APP=web\n");
    assert_contains(env, "HOIST_VERSION=1.0.0\n");
    assert_contains(env, "HOIST_ENV=dev\n");
    assert_contains(env, "HOIST_PREVIOUS_VERSION=\n");
    assert_contains(env, "HOIST_DRILL=7\n");
    assert_contains(env, "HOIST_HOOK=failover\n");
    free(env);
    assert_int_equal(s_count(l, "failover.count"), 1);
    /* The same order again: the kept result, the hook not run again. */
    const fakectl_hook_result_t *again =
        s_hook_wait(l, 502, 7, "web", "failover", true);
    assert_string_equal(again->outcome, "ok");
    assert_string_equal(again->message, l->fc.hooks[0].message);
    assert_int_equal(again->hook_ms, l->fc.hooks[0].hook_ms);
    assert_int_equal(s_count(l, "failover.count"), 1);
    /* Another drill runs it again. */
    r = s_hook_wait(l, 503, 8, "web", "failover", false);
    assert_string_equal(r->outcome, "ok");
    assert_int_equal(r->health_ms, 0);
    assert_int_equal(s_count(l, "failover.count"), 2);
    /* Nothing live changed: `current` and the journal are as they were. */
    char link[PATH_MAX], target[PATH_MAX] = "";
    snprintf(link, sizeof link, "%s/apps/web/current", l->root);
    assert_true(readlink(link, target, sizeof target - 1) > 0);
    assert_string_equal(target, "releases/1.0.0");
    char *after = tu_read(journal, &after_len);
    assert_non_null(after);
    assert_int_equal(after_len, before_len);
    assert_memory_equal(after, before, before_len);
    free(after);
    free(before);
    free(journal);
}

static void
test_failing_hook(void **state)
{
    fakectl_lab_t *l = *state;
    s_lab_with(l, DR_SPEC);
    const fakectl_hook_result_t *r =
        s_hook_wait(l, 601, 9, "web", "failback", true);
    assert_string_equal(r->outcome, "failed");
    assert_string_equal(r->live, "1.0.0");
    assert_contains(r->message, "failback hook");
    assert_contains(r->message, "exited 3");
    assert_contains(r->message, "failback-marker");
    assert_int_equal(r->health_ms, 0); /* not run after a failed hook */
    /* A failure is kept too: asked again, the same answer. */
    r = s_hook_wait(l, 602, 9, "web", "failback", true);
    assert_string_equal(r->outcome, "failed");
    assert_contains(r->message, "failback-marker");
}

static void
test_no_hook_and_health(void **state)
{
    fakectl_lab_t *l = *state;
    s_lab_with(l, PLAIN_SPEC);
    const fakectl_hook_result_t *r =
        s_hook_wait(l, 701, 10, "web", "failover", true);
    assert_string_equal(r->outcome, "no-hook");
    assert_string_equal(r->live, "1.0.0");
    assert_contains(r->message, "has no failover hook");
    /* The health check failing makes it `failed`, naming the check. */
    char *healthy = tu_path(l->mark, "healthy");
    assert_int_equal(unlink(healthy), 0);
    free(healthy);
    r = s_hook_wait(l, 702, 11, "web", "failover", true);
    assert_string_equal(r->outcome, "failed");
    assert_contains(r->message, "health check of web 1.0.0");
    /* Without the health check asked for: no-hook. */
    r = s_hook_wait(l, 703, 12, "web", "failover", false);
    assert_string_equal(r->outcome, "no-hook");
}

static void
test_health_fails_after_hook(void **state)
{
    fakectl_lab_t *l = *state;
    s_lab_with(l, DR_SPEC);
    char *healthy = tu_path(l->mark, "healthy");
    assert_int_equal(unlink(healthy), 0);
    free(healthy);
    const fakectl_hook_result_t *r =
        s_hook_wait(l, 801, 13, "web", "failover", true);
    assert_string_equal(r->outcome, "failed");
    assert_contains(r->message, "failover-output-marker");
    assert_contains(r->message, "health check of web 1.0.0");
    assert_int_equal(s_count(l, "failover.count"), 1);
}

static void
test_no_release_and_bad_orders(void **state)
{
    fakectl_lab_t *l = *state;
    s_lab_with(l, DR_SPEC);
    const fakectl_hook_result_t *r =
        s_hook_wait(l, 901, 14, "db", "failover", true);
    assert_string_equal(r->outcome, "no-release");
    assert_string_equal(r->live, "");
    assert_contains(r->message, "db has no release");
    r = s_hook_wait(l, 902, 14, "../web", "failover", false);
    assert_string_equal(r->outcome, "failed");
    assert_contains(r->message, "not an app name");
    r = s_hook_wait(l, 903, 14, "web", "activate", false);
    assert_string_equal(r->outcome, "failed");
    assert_contains(r->message, "not a hook an order may run");
    assert_int_equal(s_count(l, "failover.count"), 0);
}

static void
test_busy(void **state)
{
    fakectl_lab_t *l = *state;
    fakectl_lab_release(l, "2.0.0", 2, WAIT_SPEC, "rel",
                        0); /* before the agent runs */
    s_lab_with(l, WAIT_SPEC);
    /* An install in progress: busy, and nothing runs. */
    s_touch_mark(l, "hold-install");
    fakectl_lab_deploy(l, 2, "2.0.0", false);
    s_wait_mark(l, "installing");
    const fakectl_hook_result_t *r =
        s_hook_wait(l, 1001, 20, "web", "failover", true);
    assert_string_equal(r->outcome, "busy");
    assert_contains(r->message, "busy with deployment 2");
    assert_int_equal(s_count(l, "failover.count"), 0);
    s_touch_mark(l, "go-install");
    FAKECTL_PUMP_UNTIL(l, l->fc.n_results == 2);
    assert_int_equal(l->fc.n_results, 2);
    assert_string_equal(l->fc.results[1].outcome, "installed");
    /* A busy answer is not kept: the same order now runs. */
    size_t n = l->fc.n_hooks;
    s_hook(l, 1002, 20, "web", "failover", false);
    s_wait_mark(l, "started");
    /* While the hook runs: the same order is ignored, another hook order
     * and a deploy order are refused as busy. */
    s_hook(l, 1003, 20, "web", "failover", false);
    r = s_hook_wait(l, 1004, 21, "web", "failback", false);
    assert_string_equal(r->outcome, "busy");
    assert_contains(r->message, "busy with drill 20: failover of web");
    fakectl_lab_deploy(l, 3, "1.0.0", false);
    FAKECTL_PUMP_UNTIL(l, l->fc.n_results == 3);
    assert_int_equal(l->fc.n_results, 3);
    assert_string_equal(l->fc.results[2].outcome, "rejected");
    assert_contains(l->fc.results[2].message, "busy with drill 20");
    s_touch_mark(l, "go");
    FAKECTL_PUMP_UNTIL(l, l->fc.n_hooks == n + 2);
    assert_int_equal(l->fc.n_hooks, n + 2);
    r = &l->fc.hooks[n + 1];
    assert_int_equal(r->id, 1002);
    assert_string_equal(r->outcome, "ok");
    assert_string_equal(r->live, "2.0.0");
    assert_contains(r->message, "waited-marker");
    /* The order sent twice ran once, and nothing more came for it. */
    fakectl_pump(&l->fc, 3 * FAKECTL_HB_MS);
    assert_int_equal(l->fc.n_hooks, n + 2);
    assert_int_equal(s_count(l, "failover.count"), 1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decide),
        LAB_TEST(test_failover_runs),
        LAB_TEST(test_failing_hook),
        LAB_TEST(test_no_hook_and_health),
        LAB_TEST(test_health_fails_after_hook),
        LAB_TEST(test_no_release_and_bad_orders),
        LAB_TEST(test_busy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
