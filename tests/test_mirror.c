/*
 * test_mirror: DR follows production (issue 6) with real processes: a
 * release that succeeds in production lands in dr by itself; with `sync:
 * manual` it waits for `hoist dr sync`; `hoist diff` shows the drift:
 * releases, variables (a secret by digest, never by value), agents.
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

static void
s_apply(fleet_t *f, const char *text)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/pipeline.yml", f->dir);
    tu_write(path, text, (size_t)-1, 0644);
    json_decref(fu_hoist_json(f, (const char *[]){"apply", path, NULL}));
}

/* Waits until agent I runs VERSION. */
static void
s_wait_live(fleet_t *f, int i, const char *version)
{
    uint64_t until = monotime_ms() + WAIT_MS;
    char *live = NULL;
    for (;;) {
        free(live);
        live = fu_live(f, i);
        if (strcmp(live, version) == 0 || monotime_ms() >= until) {
            break;
        }
        usleep(100 * 1000);
    }
    assert_string_equal(live, version);
    free(live);
}

/* hoist diff A B --json. */
static json_t *
s_diff(fleet_t *f, const char *a, const char *b)
{
    return fu_hoist_json(f, (const char *[]){"diff", a, b, NULL});
}

static void
s_var(fleet_t *f, const char *key, const char *value, const char *env,
      bool secret)
{
    const char *args[] = {"vars", "set",   "web", key,
                          value,  "--env", env,   secret ? "--secret" : NULL,
                          NULL};
    json_decref(fu_hoist_json(f, args));
}

static void
test_dr_follows_production(void **state)
{
    fleet_t *f = *state;
    fu_agent(f, "prod-1", "production");
    int dr = fu_agent(f, "dr-1", "dr");
    fu_wait_online(f, "prod-1");
    fu_wait_online(f, "dr-1");
    s_var(f, "DB_URL", "postgres://db/prod", "production", false);
    s_var(f, "DB_URL", "postgres://db/prod", "dr", false);
    s_var(f, "API_TOKEN", "s3cr3t-token-1", "production", true);
    s_var(f, "API_TOKEN", "s3cr3t-token-1", "dr", true);
    fu_release(f, "1.0.0", 1, FU_GOOD_SPEC);
    json_decref(fu_deploy_wait(f, "1.0.0", "production", 0));
    s_wait_live(f, dr, "1.0.0"); /* the default pipeline: dr mirrors */
    /* Same releases, same variables, same agents: no drift. Wait for
     * dr's deployment to be recorded as succeeded first. */
    uint64_t until = monotime_ms() + WAIT_MS;
    json_t *d = NULL;
    for (;;) {
        json_decref(d);
        d = s_diff(f, "production", "dr");
        if (json_integer_value(json_object_get(d, "drift")) == 0 ||
            monotime_ms() >= until) {
            break;
        }
        usleep(100 * 1000);
    }
    assert_int_equal(json_integer_value(json_object_get(d, "drift")), 0);
    char *text = json_dumps(d, 0);
    assert_null(strstr(text, "s3cr3t")); /* by digest, never by value */
    free(text);
    json_decref(d);
    /* A different secret in dr is drift, still without its value. */
    s_var(f, "API_TOKEN", "s3cr3t-token-2", "dr", true);
    d = s_diff(f, "production", "dr");
    json_t *v = json_object_get(json_object_get(d, "vars"), "web API_TOKEN");
    assert_false(json_is_true(json_object_get(v, "same")));
    text = json_dumps(d, 0);
    assert_null(strstr(text, "s3cr3t"));
    free(text);
    json_decref(d);
    s_var(f, "API_TOKEN", "s3cr3t-token-1", "dr", true);

    /* sync: manual: production moves on, dr waits for dr sync. */
    s_apply(f, "environments:\n"
               "  production: {}\n"
               "  dr: {mirror: production, sync: manual}\n");
    fu_release(f, "2.0.0", 2, FU_GOOD_SPEC);
    json_decref(fu_deploy_wait(f, "2.0.0", "production", 0));
    d = s_diff(f, "production", "dr");
    json_t *app = json_object_get(json_object_get(d, "apps"), "web");
    assert_string_equal(json_string_value(json_object_get(app, "a")), "2.0.0");
    assert_string_equal(json_string_value(json_object_get(app, "b")), "1.0.0");
    assert_true(json_integer_value(json_object_get(d, "drift")) > 0);
    json_decref(d);
    char *live = fu_live(f, dr);
    assert_string_equal(live, "1.0.0");
    free(live);
    json_decref(fu_hoist_json(f, (const char *[]){"dr", "sync", "web", NULL}));
    s_wait_live(f, dr, "2.0.0");
    /* A misspelt environment is an error, not "no drift". */
    tu_run_t r =
        fu_hoist(f, (const char *[]){"diff", "production", "prod", NULL});
    assert_int_equal(r.status, 2);
    assert_contains(r.out, "no environment 'prod' in the pipeline");
    tu_run_free(&r);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_dr_follows_production, fu_setup,
                                        fu_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, fu_kill_leftovers);
}
