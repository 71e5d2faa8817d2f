/*
 * test_promotion: issue 4 end to end with real processes: a real
 * controller, real agents, the real hoist CLI for three users (the admin,
 * a release manager, a QA engineer), a pipeline file applied with hoist
 * apply, promotions through its gates, a schedule that outlives a
 * controller kill -9, and the audit log's hash chain against a row edited
 * behind the controller's back with the sqlite3 library.
 */
#include "testutil.h"

#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fleetutil.h"
#include "monotime.h"

/* Makes a user key DIR/NAME and registers it with ROLE. */
static void
s_user(fleet_t *f, const char *name, const char *role)
{
    char prefix[PATH_MAX];
    snprintf(prefix, sizeof prefix, "%s/%s", f->dir, name);
    tu_sh("%s keygen --user --out %s >/dev/null", HOIST_CLI_BIN, prefix);
    json_decref(
        fu_hoist_json(f, (const char *[]){"users", "add", name, "--role", role,
                                          "--key", prefix, NULL}));
}

/* Runs hoist as user NAME (its key made by s_user). */
static tu_run_t
s_as(fleet_t *f, const char *name, const char *const *args)
{
    char prefix[PATH_MAX];
    const char *argv[32] = {"--identity", prefix};
    size_t n = 2;
    snprintf(prefix, sizeof prefix, "%s/%s", f->dir, name);
    for (size_t i = 0; args[i] && n < 31; i++) {
        argv[n++] = args[i];
    }
    argv[n] = NULL;
    return fu_hoist(f, argv);
}

/* Applies the pipeline TEXT, asserting it is accepted. */
static void
s_apply(fleet_t *f, const char *text)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/pipeline.yml", f->dir);
    tu_write(path, text, (size_t)-1, 0644);
    json_decref(fu_hoist_json(f, (const char *[]){"apply", path, NULL}));
}

/* Runs hoist (as the admin) and asserts it exits WANT; returns its output
 * (malloc'd). */
static char *
s_expect(fleet_t *f, int want, const char *const *args)
{
    tu_run_t r = fu_hoist(f, args);
    if (r.status != want) {
        print_error("hoist %s exited %d, not %d:\n%s\n", args[0], r.status,
                    want, r.out);
    }
    assert_int_equal(r.status, want);
    char *out = strdup(r.out);
    tu_run_free(&r);
    return out;
}

/* The newest deployment of web to ENV in `hoist deployments --json`, or
 * NULL (a new reference). */
static json_t *
s_newest(fleet_t *f, const char *env)
{
    json_t *list = fu_hoist_json(f, (const char *[]){"deployments", NULL});
    json_t *d, *found = NULL;
    size_t k;
    json_array_foreach(json_object_get(list, "deployments"), k, d)
    {
        if (!found &&
            strcmp(json_string_value(json_object_get(d, "env")), env) == 0) {
            found = json_incref(d);
        }
    }
    json_decref(list);
    return found;
}

/* Waits for a deployment of web to ENV to appear and end in WANT. */
static void
s_wait_deployment(fleet_t *f, const char *env, const char *want)
{
    uint64_t until = monotime_ms() + WAIT_MS;
    json_t *d = NULL;
    while (!(d = s_newest(f, env)) && monotime_ms() < until) {
        usleep(100 * 1000);
    }
    if (!d) {
        print_error("no deployment to %s appeared\n", env);
    }
    assert_non_null(d);
    char id[32];
    snprintf(id, sizeof id, "%lld",
             (long long)json_integer_value(json_object_get(d, "id")));
    json_decref(d);
    fu_assert_ends(f, id, want, WAIT_MS);
}

static const char *LADDER = "lifecycles:\n"
                            "  default: [dev, qa, staging]\n"
                            "  hotfix: [dev, staging]\n"
                            "environments:\n"
                            "  dev: {}\n"
                            "  qa: {}\n"
                            "  staging:\n"
                            "    approvals: {count: 1, role: qa}\n";

/* Promotion before the release succeeded upstream: exit 4 and every unmet
 * gate listed; after dev succeeded, qa goes through. */
static void
test_upstream_gate(void **state)
{
    fleet_t *f = *state;
    fu_agent(f, "dev-1", "dev");
    int q = fu_agent(f, "qa-1", "qa");
    fu_wait_online(f, "dev-1");
    fu_wait_online(f, "qa-1");
    s_apply(f, LADDER);
    fu_release(f, "1.0.0", 1, FU_GOOD_SPEC);
    char *out = s_expect(
        f, 4, (const char *[]){"promote", "web", "1.0.0", "--to", "qa", NULL});
    assert_contains(out, "has not succeeded on every agent of dev");
    assert_contains(out, "never deployed there");
    free(out);
    assert_null(s_newest(f, "qa")); /* nothing started */
    json_decref(fu_deploy_wait(f, "1.0.0", "dev", 0));
    free(s_expect(f, 0,
                  (const char *[]){"promote", "web", "1.0.0", "--to", "qa",
                                   "--wait", NULL}));
    char *live = fu_live(f, q);
    assert_string_equal(live, "1.0.0");
    free(live);
    /* A rollback in qa after that takes qa's success away from staging. */
    fu_release(f, "1.1.0", 2, FU_GOOD_SPEC);
    json_decref(fu_deploy_wait(f, "1.1.0", "dev", 0));
    json_decref(fu_deploy_wait(f, "1.1.0", "qa", 0));
    free(s_expect(
        f, 0,
        (const char *[]){"rollback", "web", "--env", "qa", "--wait", NULL}));
    out = s_expect(
        f, 4,
        (const char *[]){"promote", "web", "1.1.0", "--to", "staging", NULL});
    assert_contains(out, "rolled back");
    free(out);
}

/* A QA user may approve but not promote (exit 3, the role named); after
 * QA's approval the release manager's promotion passes. */
static void
test_roles_and_approval(void **state)
{
    fleet_t *f = *state;
    fu_agent(f, "dev-1", "dev");
    int s = fu_agent(f, "staging-1", "staging");
    fu_wait_online(f, "dev-1");
    fu_wait_online(f, "staging-1");
    s_apply(f, LADDER);
    s_user(f, "quinn", "qa");
    s_user(f, "rita", "release-manager");
    fu_release_with(f, "2.0.0", 1, FU_GOOD_SPEC,
                    (const char *[]){"--lifecycle", "hotfix", NULL});
    json_decref(fu_deploy_wait(f, "2.0.0", "dev", 0));
    const char *promote[] = {"promote", "web",    "2.0.0", "--to",
                             "staging", "--wait", NULL};
    tu_run_t r = s_as(f, "quinn", promote);
    assert_int_equal(r.status, 3);
    assert_contains(r.out, "needs the release-manager role");
    assert_contains(r.out, "quinn has qa");
    tu_run_free(&r);
    /* The hotfix lifecycle skips qa: only the approval is missing. */
    r = s_as(f, "rita", promote);
    assert_int_equal(r.status, 4);
    assert_contains(r.out, "staging needs 1 approval from role qa, has 0");
    assert_true(strstr(r.out, "has not succeeded") == NULL);
    tu_run_free(&r);
    /* A release manager's approval does not count for a qa gate. */
    r = s_as(
        f, "rita",
        (const char *[]){"approve", "web", "2.0.0", "--env", "staging", NULL});
    assert_int_equal(r.status, 0);
    assert_contains(r.out, "yours is not one of them");
    tu_run_free(&r);
    r = s_as(f, "rita", promote);
    assert_int_equal(r.status, 4);
    assert_contains(r.out, "has 0");
    tu_run_free(&r);
    r = s_as(f, "quinn",
             (const char *[]){"approve", "web", "2.0.0", "--env", "staging",
                              "--comment", "smoke tests green", NULL});
    assert_int_equal(r.status, 0);
    tu_run_free(&r);
    r = s_as(f, "rita", promote);
    if (r.status != 0) {
        print_error("%s\n", r.out);
    }
    assert_int_equal(r.status, 0);
    tu_run_free(&r);
    char *live = fu_live(f, s);
    assert_string_equal(live, "2.0.0");
    free(live);
    /* release show lists the approvals with their comments. */
    char *out = s_expect(
        f, 0, (const char *[]){"release", "show", "web", "2.0.0", NULL});
    assert_contains(out, "smoke tests green");
    free(out);
}

/* A freeze blocks; an admin's override with a reason passes and is on
 * the record. */
static void
test_freeze_and_override(void **state)
{
    fleet_t *f = *state;
    fu_agent(f, "dev-1", "dev");
    fu_agent(f, "prod-1", "production");
    fu_wait_online(f, "dev-1");
    fu_wait_online(f, "prod-1");
    char text[1024], from[16], to[16];
    time_t now = time(NULL), a = now - 86400, b = now + 86400;
    strftime(from, sizeof from, "%Y-%m-%d", gmtime(&a));
    strftime(to, sizeof to, "%Y-%m-%d", gmtime(&b));
    snprintf(text, sizeof text,
             "lifecycles:\n"
             "  default: [dev, production]\n"
             "environments:\n"
             "  dev: {}\n"
             "  production:\n"
             "    freezes: [{from: %s, to: %s, reason: year-end}]\n",
             from, to);
    s_apply(f, text);
    fu_release(f, "3.0.0", 1, FU_GOOD_SPEC);
    json_decref(fu_deploy_wait(f, "3.0.0", "dev", 0));
    char *out = s_expect(f, 4,
                         (const char *[]){"promote", "web", "3.0.0", "--to",
                                          "production", NULL});
    assert_contains(out, "production is frozen until");
    assert_contains(out, "year-end");
    free(out);
    free(
        s_expect(f, 0,
                 (const char *[]){"promote", "web", "3.0.0", "--to",
                                  "production", "--override-freeze", "--reason",
                                  "security fix CVE-1", "--wait", NULL}));
    json_t *audit = fu_hoist_json(f, (const char *[]){"audit", NULL});
    json_t *e;
    size_t k;
    int refused = 0, overridden = 0;
    json_array_foreach(json_object_get(audit, "entries"), k, e)
    {
        const char *action = json_string_value(json_object_get(e, "action"));
        const char *target = json_string_value(json_object_get(e, "target"));
        const char *result = json_string_value(json_object_get(e, "result"));
        if (strcmp(action, "promote") != 0) {
            continue;
        }
        if (strstr(result, "frozen") &&
            json_integer_value(json_object_get(e, "exit")) == 4) {
            refused++;
        }
        if (strstr(target, "override_freeze=1") &&
            strstr(target, "reason=security fix CVE-1") &&
            strcmp(result, "ok") == 0) {
            overridden++;
        }
    }
    json_decref(audit);
    assert_int_equal(refused, 1);
    assert_int_equal(overridden, 1);
}

/* A promotion scheduled a few seconds ahead outlives a controller killed
 * with SIGKILL: started again after its time, the controller fires it
 * and says it was late. */
static void
test_schedule_survives_restart(void **state)
{
    fleet_t *f = *state;
    fu_agent(f, "dev-1", "dev");
    int q = fu_agent(f, "qa-1", "qa");
    fu_wait_online(f, "dev-1");
    fu_wait_online(f, "qa-1");
    fu_release(f, "4.0.0", 1, FU_GOOD_SPEC);
    json_decref(fu_deploy_wait(f, "4.0.0", "dev", 0));
    json_t *j =
        fu_hoist_json(f, (const char *[]){"promote", "web", "4.0.0", "--to",
                                          "qa", "--at", "+3s", NULL});
    json_int_t id = json_integer_value(json_object_get(j, "schedule"));
    json_decref(j);
    assert_true(id > 0);
    assert_null(s_newest(f, "qa"));
    fu_stop(&f->controller, SIGKILL);
    sleep(4); /* its time passes while the controller is down */
    fu_start_controller(f);
    s_wait_deployment(f, "qa", "succeeded");
    char *live = fu_live(f, q);
    assert_string_equal(live, "4.0.0");
    free(live);
    j = fu_hoist_json(f, (const char *[]){"schedule", "list", NULL});
    json_t *s = json_array_get(json_object_get(j, "schedules"), 0);
    assert_int_equal(json_integer_value(json_object_get(s, "id")), id);
    assert_string_equal(json_string_value(json_object_get(s, "state")),
                        "fired");
    assert_non_null(
        strstr(json_string_value(json_object_get(s, "note")), "late"));
    json_decref(j);
}

/* auto_deploy: a release created lands in dev at once. */
static void
test_auto_deploy(void **state)
{
    fleet_t *f = *state;
    int d = fu_agent(f, "dev-1", "dev");
    fu_wait_online(f, "dev-1");
    s_apply(f, "environments:\n"
               "  dev: {auto_deploy: true}\n"
               "  production: {}\n");
    fu_release(f, "5.0.0", 1, FU_GOOD_SPEC);
    s_wait_deployment(f, "dev", "succeeded");
    char *live = fu_live(f, d);
    assert_string_equal(live, "5.0.0");
    free(live);
    /* export prints what apply took; applying it again changes nothing. */
    char *out = s_expect(f, 0, (const char *[]){"export", NULL});
    assert_contains(out, "auto_deploy: true");
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/exported.yml", f->dir);
    tu_write(path, out, (size_t)-1, 0644);
    free(out);
    json_t *j = fu_hoist_json(f, (const char *[]){"apply", path, NULL});
    assert_true(json_is_false(json_object_get(j, "changed")));
    json_decref(j);
    /* An invalid file is refused whole, with its line. */
    tu_write(path, "environments:\n  dev: {auto_deploy: yes}\n", (size_t)-1,
             0644);
    out = s_expect(f, 2, (const char *[]){"apply", path, NULL});
    assert_contains(out, "exported.yml:2");
    free(out);
    out = s_expect(f, 0, (const char *[]){"export", NULL});
    assert_contains(out, "production");
    free(out);
}

/* An audit row edited behind the controller's back (after dropping the
 * trigger that forbids it) is found by hoist audit verify. */
static void
test_audit_edit_detected(void **state)
{
    fleet_t *f = *state;
    char pub[PATH_MAX];
    snprintf(pub, sizeof pub, "%s/other.pub", f->dir);
    free(s_expect(f, 0, (const char *[]){"trust", "add", pub, NULL}));
    s_user(f, "vic", "viewer");
    tu_run_t r =
        s_as(f, "vic",
             (const char *[]){"trust", "remove", "0000000000000000", NULL});
    assert_int_equal(r.status, 3); /* refused, and recorded */
    tu_run_free(&r);
    json_t *j = fu_hoist_json(f, (const char *[]){"audit", NULL});
    json_t *entries = json_object_get(j, "entries");
    json_t *row = json_array_get(entries, json_array_size(entries) - 1);
    assert_string_equal(json_string_value(json_object_get(row, "user")), "vic");
    assert_string_equal(json_string_value(json_object_get(row, "action")),
                        "trust.remove");
    assert_int_equal(json_integer_value(json_object_get(row, "exit")), 3);
    json_decref(j);
    j = fu_hoist_json(f, (const char *[]){"audit", "verify", NULL});
    assert_true(json_is_true(json_object_get(j, "ok")));
    assert_true(json_integer_value(json_object_get(j, "rows")) >= 3);
    json_decref(j);

    char db[PATH_MAX + 32];
    snprintf(db, sizeof db, "%s/controller.db", f->data);
    sqlite3 *h = NULL;
    assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
    sqlite3_busy_timeout(h, 5000);
    char *msg = NULL;
    /* The trigger stops a plain edit. */
    assert_int_not_equal(
        sqlite3_exec(h, "UPDATE audit SET user = 'mallory' WHERE id = 2", NULL,
                     NULL, &msg),
        SQLITE_OK);
    sqlite3_free(msg);
    msg = NULL;
    assert_int_equal(sqlite3_exec(h,
                                  "DROP TRIGGER audit_no_update;"
                                  "UPDATE audit SET user = 'mallory' WHERE "
                                  "id = 2;",
                                  NULL, NULL, &msg),
                     SQLITE_OK);
    sqlite3_close(h);
    char *out =
        s_expect(f, 1, (const char *[]){"--json", "audit", "verify", NULL});
    j = strchr(out, '{')
            ? json_loads(strchr(out, '{'), JSON_DISABLE_EOF_CHECK, NULL)
            : NULL;
    if (!j) {
        print_error("not JSON: %s\n", out);
    }
    free(out);
    assert_non_null(j);
    assert_false(json_is_true(json_object_get(j, "ok")));
    assert_int_equal(json_integer_value(json_object_get(j, "bad_id")), 2);
    json_decref(j);
    j = fu_hoist_json(f, (const char *[]){"audit", NULL});
    bool seen = false;
    json_t *e;
    size_t k;
    json_array_foreach(json_object_get(j, "entries"), k, e)
    {
        seen |= json_integer_value(json_object_get(e, "id")) == 2 &&
                strcmp(json_string_value(json_object_get(e, "user")),
                       "mallory") == 0;
    }
    json_decref(j);
    assert_true(seen);
}

/* Events reach the notify command as JSON on stdin; a notifier that
 * hangs does not hold a promotion back. */
static void
test_notifications(void **state)
{
    fleet_t *f = *state;
    fu_agent(f, "dev-1", "dev");
    fu_agent(f, "prod-1", "production");
    fu_wait_online(f, "dev-1");
    fu_wait_online(f, "prod-1");
    char good[PATH_MAX], slow[PATH_MAX], events[PATH_MAX], text[PATH_MAX * 4];
    snprintf(good, sizeof good, "%s/notify-good", f->dir);
    snprintf(slow, sizeof slow, "%s/notify-slow", f->dir);
    snprintf(events, sizeof events, "%s/events.jsonl", f->dir);
    snprintf(text, sizeof text, "#!/bin/sh\ncat >> %s\necho >> %s\n", events,
             events);
    tu_write(good, text, (size_t)-1, 0755);
    char pidfile[PATH_MAX + 8];
    snprintf(pidfile, sizeof pidfile, "%s/slow.pid", f->dir);
    /* The first delivery writes its pid; later ones leave it. */
    snprintf(text, sizeof text,
             "#!/bin/sh\n[ -e %s ] || echo $$ > %s\nexec sleep 60\n", pidfile,
             pidfile);
    tu_write(slow, text, (size_t)-1, 0755);
    snprintf(text, sizeof text,
             "lifecycles:\n"
             "  default: [dev, production]\n"
             "environments:\n"
             "  dev: {}\n"
             "  production:\n"
             "    notify: [{command: %s}]\n"
             "notify: [{command: %s}]\n",
             slow, good);
    s_apply(f, text);
    fu_release(f, "6.0.0", 1, FU_GOOD_SPEC);
    free(s_expect(f, 4,
                  (const char *[]){"promote", "web", "6.0.0", "--to",
                                   "production", NULL}));
    json_decref(fu_deploy_wait(f, "6.0.0", "dev", 0));
    free(s_expect(f, 0,
                  (const char *[]){"promote", "web", "6.0.0", "--to",
                                   "production", "--wait", NULL}));
    /* The second promotion went through while production's notifier still
     * hangs on the first one's refusal: had sending waited for it, the
     * refusal itself would have waited until its 10 s limit killed it. */
    char *pid = tu_read(pidfile, NULL);
    assert_non_null(pid);
    assert_int_equal(kill((pid_t)atoi(pid), 0), 0);
    free(pid);
    const char *want[] = {"release.created", "promotion.refused",
                          "promotion.started"};
    uint64_t until = monotime_ms() + WAIT_MS;
    size_t seen = 0;
    while (seen < 3 && monotime_ms() < until) {
        char *all = tu_read(events, NULL);
        seen = 0;
        for (size_t i = 0; all && i < 3; i++) {
            char key[64];
            snprintf(key, sizeof key, "\"event\":\"%s\"", want[i]);
            seen += strstr(all, key) != NULL;
        }
        free(all);
        if (seen < 3) {
            usleep(100 * 1000);
        }
    }
    assert_int_equal(seen, 3);
    /* Each line is one JSON object naming the release. */
    char *all = tu_read(events, NULL);
    for (char *line = strtok(all, "\n"); line; line = strtok(NULL, "\n")) {
        json_t *j = json_loads(line, 0, NULL);
        assert_non_null(j);
        assert_string_equal(json_string_value(json_object_get(j, "app")),
                            "web");
        json_decref(j);
    }
    free(all);
}

/* One promotion of an app into an environment at a time: a second is
 * refused with the first one's id. A schedule can be cancelled, and a
 * cancelled one never fires. */
static void
test_one_at_a_time_and_cancel(void **state)
{
    fleet_t *f = *state;
    fu_agent(f, "dev-1", "dev");
    fu_agent(f, "qa-1", "qa");
    fu_wait_online(f, "dev-1");
    fu_wait_online(f, "qa-1");
    fu_release(f, "7.0.0", 1,
               "hooks:\n  activate: sleep 3\nhealth:\n  command: true\n");
    json_decref(fu_deploy_wait(f, "7.0.0", "dev", 0));
    json_t *j = fu_hoist_json(
        f, (const char *[]){"promote", "web", "7.0.0", "--to", "qa", NULL});
    json_int_t first = json_integer_value(json_object_get(j, "deployment"));
    json_decref(j);
    char *out = s_expect(
        f, 4, (const char *[]){"promote", "web", "7.0.0", "--to", "qa", NULL});
    char want[64];
    snprintf(want, sizeof want, "deployment %lld of web to qa is still running",
             (long long)first);
    assert_contains(out, want);
    free(out);
    char first_id[32];
    snprintf(first_id, sizeof first_id, "%lld", (long long)first);
    fu_assert_ends(f, first_id, "succeeded", WAIT_MS);
    /* A schedule cancelled before its time is left alone (had it fired,
     * nothing would stop it now: it would start a new deployment). */
    j = fu_hoist_json(f, (const char *[]){"promote", "web", "7.0.0", "--to",
                                          "qa", "--at", "+2s", NULL});
    char id[32];
    snprintf(id, sizeof id, "%lld",
             (long long)json_integer_value(json_object_get(j, "schedule")));
    json_decref(j);
    free(s_expect(f, 0, (const char *[]){"schedule", "cancel", id, NULL}));
    out = s_expect(f, 1, (const char *[]){"schedule", "cancel", id, NULL});
    assert_contains(out, "no longer pending");
    free(out);
    sleep(3);
    j = fu_hoist_json(f, (const char *[]){"schedule", "list", NULL});
    json_t *sch = json_array_get(json_object_get(j, "schedules"), 0);
    assert_string_equal(json_string_value(json_object_get(sch, "state")),
                        "cancelled");
    json_decref(j);
    json_t *d = s_newest(f, "qa");
    assert_int_equal(json_integer_value(json_object_get(d, "id")), first);
    json_decref(d);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_upstream_gate, fu_setup,
                                        fu_teardown),
        cmocka_unit_test_setup_teardown(test_roles_and_approval, fu_setup,
                                        fu_teardown),
        cmocka_unit_test_setup_teardown(test_freeze_and_override, fu_setup,
                                        fu_teardown),
        cmocka_unit_test_setup_teardown(test_schedule_survives_restart,
                                        fu_setup, fu_teardown),
        cmocka_unit_test_setup_teardown(test_auto_deploy, fu_setup,
                                        fu_teardown),
        cmocka_unit_test_setup_teardown(test_audit_edit_detected, fu_setup,
                                        fu_teardown),
        cmocka_unit_test_setup_teardown(test_notifications, fu_setup,
                                        fu_teardown),
        cmocka_unit_test_setup_teardown(test_one_at_a_time_and_cancel, fu_setup,
                                        fu_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, fu_kill_leftovers);
}
