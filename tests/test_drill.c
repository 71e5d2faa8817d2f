/*
 * test_drill: DR drills and failovers (issue 6) with real processes: a
 * production agent and a DR agent, releases whose failover and failback
 * hooks leave traces, a drill that succeeds with its recovery time, one
 * refused because DR is a release behind (and one that syncs first), a
 * failing failover that puts DR back, a scheduled drill that outlives a
 * controller kill -9, and a QA user refused.
 */
#include "testutil.h"

#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fleetutil.h"
#include "monotime.h"

/* Hooks append to ROOT/drill.log; failover fails while ROOT/fail-failover
 * exists (the release runs in ROOT/apps/web/releases/VERSION). */
static const char *DR_SPEC =
    "hooks:\n"
    "  activate: echo \"$HOIST_VERSION\" > active\n"
    "  failover: test ! -e ../../../../fail-failover && echo \"failover "
    "$HOIST_DRILL\" >> ../../../../drill.log\n"
    "  failback: echo \"failback $HOIST_DRILL\" >> ../../../../drill.log\n"
    "health:\n"
    "  command: test -f VERSION\n";

typedef struct {
    int prod, dr;
} lab_t;

static lab_t
s_lab(fleet_t *f, bool manual_sync)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/pipeline.yml", f->dir);
    tu_write(path,
             manual_sync ? "environments:\n  production: {}\n"
                           "  dr: {mirror: production, sync: manual}\n"
                         : "environments:\n  production: {}\n"
                           "  dr: {mirror: production}\n",
             (size_t)-1, 0644);
    json_decref(fu_hoist_json(f, (const char *[]){"apply", path, NULL}));
    lab_t l = {.prod = fu_agent(f, "prod-1", "production"),
               .dr = fu_agent(f, "dr-1", "dr")};
    fu_wait_online(f, "prod-1");
    fu_wait_online(f, "dr-1");
    return l;
}

/* Waits until DR runs WANT. */
static void
s_wait_dr(fleet_t *f, lab_t *l, const char *want)
{
    uint64_t until = monotime_ms() + WAIT_MS;
    char *live = NULL;
    for (;;) {
        free(live);
        live = fu_live(f, l->dr);
        if (strcmp(live, want) == 0 || monotime_ms() >= until) {
            break;
        }
        usleep(100 * 1000);
    }
    assert_string_equal(live, want);
    free(live);
    /* DR's own deployment is recorded as ended before a drill reads it. */
    usleep(500 * 1000);
}

/* Deploys VERSION to production and waits until DR runs WANT_DR. */
static void
s_release_to_prod(fleet_t *f, lab_t *l, const char *version, int seq,
                  const char *want_dr)
{
    fu_release(f, version, seq, DR_SPEC);
    json_decref(fu_deploy_wait(f, version, "production", 0));
    s_wait_dr(f, l, want_dr);
}

/* Runs hoist drill ... as the admin; returns its result. */
static tu_run_t
s_drill(fleet_t *f, const char *const *args)
{
    const char *argv[24] = {"--json", "drill", "run", "web"};
    size_t n = 4;
    for (size_t i = 0; args && args[i] && n < 23; i++) {
        argv[n++] = args[i];
    }
    argv[n] = NULL;
    return fu_hoist(f, argv);
}

static char *
s_drill_log(fleet_t *f, lab_t *l)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/drill.log", f->root[l->dr]);
    char *t = tu_read(path, NULL);
    return t ? t : strdup("");
}

static void
test_drill_succeeds_with_recovery_time(void **state)
{
    fleet_t *f = *state;
    lab_t l = s_lab(f, false);
    s_release_to_prod(f, &l, "1.0.0", 1, "1.0.0");
    tu_run_t r = s_drill(f, (const char *[]){"--failback", NULL});
    if (r.status != 0) {
        print_error("%s\n", r.out);
    }
    assert_int_equal(r.status, 0);
    json_t *j = json_loads(r.out, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "state")),
                        "succeeded");
    assert_true(json_integer_value(json_object_get(j, "recovery_ms")) > 0);
    const char *want[] = {"readiness", "failover", "failback"};
    json_t *steps = json_object_get(j, "steps");
    assert_int_equal(json_array_size(steps), 3);
    for (size_t i = 0; i < 3; i++) {
        json_t *s = json_array_get(steps, i);
        assert_string_equal(json_string_value(json_object_get(s, "name")),
                            want[i]);
        assert_string_equal(json_string_value(json_object_get(s, "state")),
                            "ok");
    }
    json_int_t id = json_integer_value(json_object_get(j, "id"));
    json_decref(j);
    tu_run_free(&r);
    char *log = s_drill_log(f, &l), want_log[128];
    snprintf(want_log, sizeof want_log, "failover %lld\nfailback %lld\n",
             (long long)id, (long long)id);
    assert_string_equal(log, want_log);
    free(log);
    /* Production was never touched; drill list has it. */
    j = fu_hoist_json(f, (const char *[]){"drill", "list", NULL});
    assert_int_equal(json_array_size(json_object_get(j, "drills")), 1);
    json_decref(j);
}

static void
test_behind_refused_then_synced(void **state)
{
    fleet_t *f = *state;
    lab_t l = s_lab(f, true);
    fu_release(f, "1.0.0", 1, DR_SPEC);
    json_decref(fu_deploy_wait(f, "1.0.0", "production", 0));
    json_decref(fu_hoist_json(f, (const char *[]){"dr", "sync", "web", NULL}));
    s_wait_dr(f, &l, "1.0.0");
    fu_release(f, "2.0.0", 2, DR_SPEC);
    json_decref(fu_deploy_wait(f, "2.0.0", "production", 0));
    tu_run_t r = s_drill(f, NULL);
    assert_int_equal(r.status, 1);
    assert_contains(r.out, "refused");
    assert_contains(r.out, "production runs web 2.0.0 but dr runs 1.0.0");
    tu_run_free(&r);
    char *log = s_drill_log(f, &l);
    assert_string_equal(log, ""); /* nothing ran */
    free(log);
    r = s_drill(f, (const char *[]){"--sync", NULL});
    if (r.status != 0) {
        print_error("%s\n", r.out);
    }
    assert_int_equal(r.status, 0);
    assert_contains(r.out, "\"name\":\"sync\",\"agent\":\"\","
                           "\"state\":\"ok\"");
    tu_run_free(&r);
    char *live = fu_live(f, l.dr);
    assert_string_equal(live, "2.0.0");
    free(live);
}

static void
test_failing_failover_restores(void **state)
{
    fleet_t *f = *state;
    lab_t l = s_lab(f, false);
    s_release_to_prod(f, &l, "1.0.0", 1, "1.0.0");
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/fail-failover", f->root[l.dr]);
    tu_write(path, "", 0, 0644);
    tu_run_t r = s_drill(f, NULL);
    assert_int_equal(r.status, 1);
    json_t *j = json_loads(r.out, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "state")),
                        "failed");
    assert_non_null(strstr(json_string_value(json_object_get(j, "reason")),
                           "failover on dr-1"));
    json_t *last =
        json_array_get(json_object_get(j, "steps"),
                       json_array_size(json_object_get(j, "steps")) - 1);
    assert_string_equal(json_string_value(json_object_get(last, "name")),
                        "restore");
    assert_string_equal(json_string_value(json_object_get(last, "state")),
                        "ok");
    json_decref(j);
    tu_run_free(&r);
    /* failover failed before writing; failback put DR back. */
    char *log = s_drill_log(f, &l);
    assert_non_null(strstr(log, "failback"));
    assert_null(strstr(log, "failover"));
    free(log);
}

static void
test_scheduled_drill_survives_restart(void **state)
{
    fleet_t *f = *state;
    lab_t l = s_lab(f, false);
    s_release_to_prod(f, &l, "1.0.0", 1, "1.0.0");
    json_t *j = fu_hoist_json(
        f, (const char *[]){"drill", "run", "web", "--at", "+3s", NULL});
    json_int_t id = json_integer_value(json_object_get(j, "drill"));
    json_decref(j);
    fu_stop(&f->controller, SIGKILL);
    sleep(4);
    fu_start_controller(f);
    char ids[32];
    snprintf(ids, sizeof ids, "%lld", (long long)id);
    uint64_t until = monotime_ms() + WAIT_MS;
    char st[32] = "";
    while (monotime_ms() < until) {
        j = fu_hoist_json(f, (const char *[]){"drill", "show", ids, NULL});
        snprintf(st, sizeof st, "%s",
                 json_string_value(json_object_get(j, "state")));
        json_decref(j);
        if (strcmp(st, "succeeded") == 0 || strcmp(st, "failed") == 0 ||
            strcmp(st, "refused") == 0) {
            break;
        }
        usleep(200 * 1000);
    }
    assert_string_equal(st, "succeeded");
    char *log = s_drill_log(f, &l);
    assert_non_null(strstr(log, "failover"));
    free(log);
}

static void
test_qa_user_refused(void **state)
{
    fleet_t *f = *state;
    char prefix[PATH_MAX];
    snprintf(prefix, sizeof prefix, "%s/quinn", f->dir);
    tu_sh("%s keygen --user --out %s >/dev/null", HOIST_CLI_BIN, prefix);
    json_decref(
        fu_hoist_json(f, (const char *[]){"users", "add", "quinn", "--role",
                                          "qa", "--key", prefix, NULL}));
    tu_run_t r = fu_hoist(
        f, (const char *[]){"--identity", prefix, "drill", "run", "web", NULL});
    assert_int_equal(r.status, 3);
    assert_contains(r.out, "quinn has qa");
    tu_run_free(&r);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_drill_succeeds_with_recovery_time,
                                        fu_setup, fu_teardown),
        cmocka_unit_test_setup_teardown(test_behind_refused_then_synced,
                                        fu_setup, fu_teardown),
        cmocka_unit_test_setup_teardown(test_failing_failover_restores,
                                        fu_setup, fu_teardown),
        cmocka_unit_test_setup_teardown(test_scheduled_drill_survives_restart,
                                        fu_setup, fu_teardown),
        cmocka_unit_test_setup_teardown(test_qa_user_refused, fu_setup,
                                        fu_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, fu_kill_leftovers);
}
