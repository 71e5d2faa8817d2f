/*
 * test_fleet: Hoist end to end with real processes on loopback: a real
 * hoist-controller, real hoist-agent daemons, the real hoist CLI, real
 * CURVE, real SQLite, real tarballs. Every process is started by the test
 * and killed in its teardown; every port is an ephemeral one on 127.0.0.1.
 */
#include "testutil.h"

#include <fcntl.h>
#include <czmq.h>
#include <jansson.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "envelope.h"
#include "fleetutil.h"
#include "monotime.h"

static void
test_enroll_token_and_pending(void **state)
{
    fleet_t *f = *state;
    int a = fu_agent(f, "dev-1", "dev");
    fu_wait_online(f, "dev-1");
    json_t *row = fu_agent_row(f, "dev-1");
    assert_string_equal(json_string_value(json_object_get(row, "state")),
                        "accepted");
    assert_string_equal(json_string_value(json_object_get(row, "env")), "dev");
    assert_true(strlen(json_string_value(json_object_get(row, "hostname"))) >
                0);
    json_decref(row);
    (void)a;

    /* Without a token: pending until an operator accepts. */
    tu_run_t r;
    int b = fu_enroll(f, "dev-2", "dev", "", &r);
    assert_int_equal(r.status, 0);
    assert_contains(r.out, "pending");
    tu_run_free(&r);
    row = fu_agent_row(f, "dev-2");
    assert_string_equal(json_string_value(json_object_get(row, "state")),
                        "pending");
    json_decref(row);
    json_decref(
        fu_hoist_json(f, (const char *[]){"agents", "accept", "dev-2", NULL}));
    fu_run_agent(f, b);
    fu_wait_online(f, "dev-2");

    /* A token is spent once. */
    char *token = fu_token(f, "dev");
    fu_enroll(f, "dev-3", "dev", token, NULL);
    int c = fu_enroll(f, "dev-4", "dev", token, &r);
    assert_int_not_equal(r.status, 0);
    assert_contains(r.out, "already used");
    tu_run_free(&r);
    (void)c;
    free(token);
}

static void
test_deploy_to_three_agents(void **state)
{
    fleet_t *f = *state;
    const char *names[] = {"web-1", "web-2", "web-3"};
    for (int i = 0; i < 3; i++) {
        fu_agent(f, names[i], "dev");
    }
    for (int i = 0; i < 3; i++) {
        fu_wait_online(f, names[i]);
    }
    fu_release(f, "1.0.0", 1, FU_GOOD_SPEC);
    json_t *d = fu_deploy_wait(f, "1.0.0", "dev", 0);
    assert_string_equal(json_string_value(json_object_get(d, "state")),
                        "succeeded");
    for (int i = 0; i < 3; i++) {
        assert_string_equal(fu_task_state(d, names[i]), "succeeded");
        char *live = fu_live(f, i);
        assert_string_equal(live, "1.0.0");
        free(live);
    }
    json_decref(d);
}

static void
test_failing_health_rolls_back(void **state)
{
    fleet_t *f = *state;
    fu_agent(f, "qa-1", "qa");
    fu_agent(f, "qa-2", "qa");
    fu_wait_online(f, "qa-1");
    fu_wait_online(f, "qa-2");
    fu_release(f, "1.0.0", 1, FU_GOOD_SPEC);
    fu_release(f, "1.1.0", 2, FU_BAD_SPEC);
    json_decref(fu_deploy_wait(f, "1.0.0", "qa", 0));
    json_t *d = fu_deploy_wait(f, "1.1.0", "qa", 1);
    assert_string_equal(json_string_value(json_object_get(d, "state")),
                        "rolled_back");
    assert_string_equal(fu_task_state(d, "qa-1"), "rolled_back");
    char id[32];
    snprintf(id, sizeof id, "%lld",
             (long long)json_integer_value(json_object_get(d, "id")));
    json_decref(d);
    for (int i = 0; i < 2; i++) {
        char *live = fu_live(f, i);
        assert_string_equal(live, "1.0.0");
        free(live);
    }
    tu_run_t r =
        fu_hoist(f, (const char *[]){"logs", id, "--agent", "qa-1", NULL});
    assert_int_equal(r.status, 0);
    assert_contains(r.out, "health-probe-failed");
    tu_run_free(&r);
}

/* The controller's stored artifact is altered after upload: every agent
 * refuses it (the agents verify against their own trust), nothing moves. */
static void
test_altered_artifact_refused(void **state)
{
    fleet_t *f = *state;
    fu_agent(f, "st-1", "staging");
    fu_agent(f, "st-2", "staging");
    fu_wait_online(f, "st-1");
    fu_wait_online(f, "st-2");
    fu_release(f, "1.0.0", 1, FU_GOOD_SPEC);
    json_decref(fu_deploy_wait(f, "1.0.0", "staging", 0));
    fu_release(f, "1.1.0", 2, FU_GOOD_SPEC);
    json_t *rel = fu_hoist_json(
        f, (const char *[]){"release", "show", "web", "1.1.0", NULL});
    char path[PATH_MAX * 2];
    snprintf(path, sizeof path, "%s/artifacts/%s", f->data,
             json_string_value(json_object_get(rel, "digest")));
    json_decref(rel);
    /* One bit flipped (a fixed byte might already be there). The store
     * keeps artifacts read-only: make it writable to alter it. */
    chmod(path, 0600);
    size_t len = 0;
    char *bytes = tu_read(path, &len);
    assert_true(bytes && len > 40);
    bytes[40] ^= 1;
    tu_write(path, bytes, len, 0600);
    free(bytes);
    json_t *d = fu_deploy_wait(f, "1.1.0", "staging", 1);
    assert_string_not_equal(json_string_value(json_object_get(d, "state")),
                            "succeeded");
    assert_string_not_equal(fu_task_state(d, "st-1"), "succeeded");
    assert_string_not_equal(fu_task_state(d, "st-2"), "succeeded");
    json_decref(d);
    for (int i = 0; i < 2; i++) {
        char *live = fu_live(f, i);
        assert_string_equal(live, "1.0.0");
        free(live);
    }
}

static void
test_revoked_agent_is_cut_off(void **state)
{
    fleet_t *f = *state;
    fu_agent(f, "prod-1", "production");
    fu_wait_online(f, "prod-1");
    json_decref(
        fu_hoist_json(f, (const char *[]){"agents", "revoke", "prod-1", NULL}));
    fu_release(f, "1.0.0", 1, FU_GOOD_SPEC);
    tu_run_t r = fu_hoist(f, (const char *[]){"deploy", "web", "1.0.0", "--env",
                                              "production", NULL});
    assert_int_equal(r.status, 2);
    assert_contains(r.out, "no accepted agents");
    tu_run_free(&r);
    /* Its open connection is refused at its next heartbeat: it goes
     * offline and stays there. */
    uint64_t until = monotime_ms() + WAIT_MS;
    bool online = true;
    while (online && monotime_ms() < until) {
        json_t *row = fu_agent_row(f, "prod-1");
        online = json_is_true(json_object_get(row, "online"));
        json_decref(row);
        usleep(100 * 1000);
    }
    assert_false(online);
}

/* Two machines with one key: the second connection is refused and the
 * agent is flagged. */
static void
test_cloned_key_refused(void **state)
{
    fleet_t *f = *state;
    int a = fu_agent(f, "dr-1", "dr");
    fu_wait_online(f, "dr-1");
    assert_true(f->n < MAX_AGENTS);
    int b = f->n++;
    char root[PATH_MAX];
    snprintf(root, sizeof root, "%s/agent-dr-1-clone", f->dir);
    tu_sh("cp -a %s %s", f->root[a], root);
    f->root[b] = strdup(root);
    fu_run_agent(f, b);
    uint64_t until = monotime_ms() + WAIT_MS;
    bool cloned = false;
    while (!cloned && monotime_ms() < until) {
        json_t *row = fu_agent_row(f, "dr-1");
        cloned = json_is_true(json_object_get(row, "cloned"));
        json_decref(row);
        usleep(100 * 1000);
    }
    assert_true(cloned);
    tu_run_t r = fu_hoist(f, (const char *[]){"agents", NULL});
    assert_contains(r.out, "CLONED-KEY");
    tu_run_free(&r);
}

/* The controller dies (kill -9) while a deployment runs; restarted, it
 * finishes it. */
static void
test_controller_killed_mid_deployment(void **state)
{
    fleet_t *f = *state;
    fu_agent(f, "dev-1", "dev");
    fu_agent(f, "dev-2", "dev");
    fu_wait_online(f, "dev-1");
    fu_wait_online(f, "dev-2");
    fu_release(f, "2.0.0", 1,
               "hooks:\n  activate: sleep 1\nhealth:\n  command: true\n");
    json_t *j = fu_hoist_json(
        f, (const char *[]){"deploy", "web", "2.0.0", "--env", "dev", NULL});
    char id[32];
    snprintf(id, sizeof id, "%lld",
             (long long)json_integer_value(json_object_get(j, "deployment")));
    json_decref(j);
    usleep(300 * 1000);
    fu_stop(&f->controller, SIGKILL);
    fu_start_controller(f);
    fu_assert_ends(f, id, "succeeded", WAIT_MS);
    for (int i = 0; i < 2; i++) {
        char *live = fu_live(f, i);
        assert_string_equal(live, "2.0.0");
        free(live);
    }
}

/* The agent dies (kill -9) while it fetches a large artifact; restarted,
 * it resumes from its partial download and the deployment succeeds. */
static void
test_agent_killed_mid_transfer(void **state)
{
    fleet_t *f = *state;
    int a = fu_agent(f, "big-1", "dev");
    fu_wait_online(f, "big-1");
    char src[PATH_MAX], art[PATH_MAX], key[PATH_MAX], path[PATH_MAX + 32];
    snprintf(src, sizeof src, "%s/src-big", f->dir);
    snprintf(path, sizeof path, "%s/hoist.yml", src);
    tu_write(path, FU_GOOD_SPEC, (size_t)-1, 0644);
    snprintf(path, sizeof path, "%s/VERSION", src);
    tu_write(path, "3.0.0", (size_t)-1, 0644);
    snprintf(art, sizeof art, "%s/web-3.0.0.tar", f->dir);
    snprintf(key, sizeof key, "%s/rel", f->dir);
    tu_sh("head -c 150000000 /dev/urandom > %s/blob && tar -C %s -cf %s .", src,
          src, art);
    json_decref(fu_hoist_json(
        f, (const char *[]){"release", "create", "web", "3.0.0", art,
                            "--sign-key", key, "--sequence", "3", NULL}));
    json_t *j = fu_hoist_json(
        f, (const char *[]){"deploy", "web", "3.0.0", "--env", "dev", NULL});
    char id[32];
    snprintf(id, sizeof id, "%lld",
             (long long)json_integer_value(json_object_get(j, "deployment")));
    json_decref(j);
    /* Kill it once part of the artifact has arrived. */
    char cache[PATH_MAX + 16];
    snprintf(cache, sizeof cache, "%s/cache", f->root[a]);
    uint64_t until = monotime_ms() + WAIT_MS;
    bool partial = false;
    while (!partial && monotime_ms() < until) {
        const char *argv[] = {"/bin/sh", "-c", NULL, NULL};
        char cmd[PATH_MAX * 2];
        snprintf(cmd, sizeof cmd,
                 "find %s -name '*.part' -size +1M 2>/dev/null | grep -q .",
                 cache);
        argv[2] = cmd;
        tu_run_t r = tu_run(argv, NULL);
        partial = r.status == 0;
        tu_run_free(&r);
    }
    assert_true(partial);
    fu_stop(&f->agent[a], SIGKILL);
    fu_run_agent(f, a);
    fu_assert_ends(f, id, "succeeded", 2 * WAIT_MS);
    char *live = fu_live(f, a);
    assert_string_equal(live, "3.0.0");
    free(live);
}

/* A CLI key the controller does not know: CURVE admits nobody on the API
 * socket without a registered key, so nothing can be deployed. */
static void
test_unknown_user_cannot_deploy(void **state)
{
    fleet_t *f = *state;
    fu_agent(f, "dev-1", "dev");
    fu_wait_online(f, "dev-1");
    fu_release(f, "1.0.0", 1, FU_GOOD_SPEC);
    char conf[PATH_MAX], id[PATH_MAX], text[PATH_MAX * 2];
    snprintf(id, sizeof id, "%s/stranger", f->dir);
    zcert_t *cert = zcert_new();
    assert_int_equal(zcert_save(cert, id), 0);
    zcert_destroy(&cert);
    char secret[PATH_MAX + 16];
    snprintf(secret, sizeof secret, "%s_secret", id);
    chmod(secret, 0600);
    char *admin = tu_read(f->conf, NULL);
    char *line = strstr(admin, "identity:");
    assert_non_null(line);
    *line = '\0';
    snprintf(text, sizeof text, "%sidentity: \"%s\"\n", admin, id);
    free(admin);
    snprintf(conf, sizeof conf, "%s/stranger.conf", f->dir);
    tu_write(conf, text, (size_t)-1, 0600);
    const char *argv[] = {"/usr/bin/timeout",
                          "30",
                          HOIST_CLI_BIN,
                          "--config",
                          conf,
                          "deploy",
                          "web",
                          "1.0.0",
                          "--env",
                          "dev",
                          NULL};
    tu_run_t r = tu_run(argv, NULL);
    assert_int_not_equal(r.status, 0);
    assert_int_not_equal(r.status, 124); /* it gave up by itself */
    assert_contains(r.out, "did not answer");
    tu_run_free(&r);
    json_t *list = fu_hoist_json(f, (const char *[]){"deployments", NULL});
    assert_int_equal(json_array_size(json_object_get(list, "deployments")), 0);
    json_decref(list);
}

/* Sends envelope E on a DEALER to ENDPOINT with security MECH ("null" or
 * "plain") and asserts that the handshake fails (the socket's monitor
 * reports HANDSHAKE_FAILED_*, never HANDSHAKE_SUCCEEDED) and that nothing
 * answers. */
static void
s_forge(const char *mech, const char *endpoint, envelope_t *e)
{
    zsock_t *s = zsock_new(ZMQ_DEALER);
    assert_non_null(s);
    if (strcmp(mech, "plain") == 0) {
        zsock_set_plain_username(s, "admin");
        zsock_set_plain_password(s, "admin");
    }
    zsock_set_linger(s, 0);
    zactor_t *mon = zactor_new(zmonitor, s);
    assert_non_null(mon);
    zstr_sendx(mon, "LISTEN", "ALL", NULL);
    zstr_send(mon, "START");
    zsock_wait(mon);
    assert_int_equal(zsock_connect(s, "%s", endpoint), 0);
    size_t len;
    uint8_t *buf = envelope_pack(e, &len);
    assert_non_null(buf);
    zframe_t *fr = zframe_new(buf, len);
    free(buf);
    /* A refused handshake never opens the pipe, so the send may not even
     * leave; either way nothing may come back. */
    zframe_send(&fr, s, ZFRAME_DONTWAIT);
    zframe_destroy(&fr);
    bool failed = false, succeeded = false;
    zpoller_t *p = zpoller_new(s, mon, NULL);
    uint64_t until = monotime_ms() + 1500;
    while (monotime_ms() < until) {
        void *which = zpoller_wait(p, 100);
        assert_true(which != s); /* no answer, ever */
        if (which == mon) {
            char *event = NULL;
            zstr_recvx(mon, &event, NULL);
            failed |= event && strncmp(event, "HANDSHAKE_FAILED", 16) == 0;
            succeeded |= event && strcmp(event, "HANDSHAKE_SUCCEEDED") == 0;
            zstr_free(&event);
        }
    }
    zpoller_destroy(&p);
    zactor_destroy(&mon);
    zsock_destroy(&s);
    assert_true(failed);
    assert_false(succeeded);
}

/* NULL and PLAIN clients reach neither socket: a deploy request to the
 * API and a forged result or hello to the agents' socket are dropped at
 * the handshake, and the controller's record does not move. */
static void
test_null_and_plain_clients_refused(void **state)
{
    fleet_t *f = *state;
    fu_agent(f, "dev-1", "dev");
    fu_wait_online(f, "dev-1");
    fu_release(f, "1.0.0", 1, FU_GOOD_SPEC);
    fu_release(f, "2.0.0", 2, FU_GOOD_SPEC);
    json_t *d = fu_deploy_wait(f, "1.0.0", "dev", 0);
    json_int_t id = json_integer_value(json_object_get(d, "id"));
    json_decref(d);
    char *conf = tu_read(f->conf, NULL), api[256] = "";
    const char *at = strstr(conf, "controller: \"");
    assert_non_null(at);
    sscanf(at, "controller: \"%255[^\"]\"", api);
    free(conf);
    assert_true(strncmp(api, "tcp://127.0.0.1:", 16) == 0);

    Hoist__ApiRequest req = HOIST__API_REQUEST__INIT;
    char *args[] = {"web", "2.0.0"};
    Hoist__ApiRequest__OptionsEntry opt =
        HOIST__API_REQUEST__OPTIONS_ENTRY__INIT;
    Hoist__ApiRequest__OptionsEntry *opts[] = {&opt};
    opt.key = "env";
    opt.value = "dev";
    req.command = "deploy";
    req.n_args = 2;
    req.args = args;
    req.n_options = 1;
    req.options = opts;
    envelope_t deploy = HOIST__ENVELOPE__INIT;
    deploy.version = 1;
    deploy.id = 7;
    deploy.body_case = HOIST__ENVELOPE__BODY_REQUEST;
    deploy.request = &req;

    Hoist__Result res = HOIST__RESULT__INIT;
    res.deployment = (uint64_t)id;
    res.outcome = "failed";
    res.message = "forged";
    res.live = "";
    envelope_t report = HOIST__ENVELOPE__INIT;
    report.version = 1;
    report.body_case = HOIST__ENVELOPE__BODY_RESULT;
    report.result = &res;

    const char *mechs[] = {"null", "plain"};
    for (size_t m = 0; m < 2; m++) {
        s_forge(mechs[m], api, &deploy);
        s_forge(mechs[m], f->endpoint, &report);
    }
    /* Nothing recorded: one deployment, still succeeded on dev-1. */
    json_t *list = fu_hoist_json(f, (const char *[]){"deployments", NULL});
    assert_int_equal(json_array_size(json_object_get(list, "deployments")), 1);
    json_decref(list);
    char ids[32];
    snprintf(ids, sizeof ids, "%lld", (long long)id);
    d = fu_hoist_json(f, (const char *[]){"deployment", "show", ids, NULL});
    assert_string_equal(json_string_value(json_object_get(d, "state")),
                        "succeeded");
    assert_string_equal(fu_task_state(d, "dev-1"), "succeeded");
    json_decref(d);
    char *live = fu_live(f, 0);
    assert_string_equal(live, "1.0.0");
    free(live);
}

/* hoist rollback: to the release before the live one, then with --to to
 * an older one the agents still keep. */
static void
test_rollback_to_previous_and_kept(void **state)
{
    fleet_t *f = *state;
    int a = fu_agent(f, "dev-1", "dev"), b = fu_agent(f, "dev-2", "dev");
    fu_wait_online(f, "dev-1");
    fu_wait_online(f, "dev-2");
    const char *versions[] = {"1.0.0", "2.0.0", "3.0.0"};
    for (int i = 0; i < 3; i++) {
        fu_release(f, versions[i], i + 1, FU_GOOD_SPEC);
        json_decref(fu_deploy_wait(f, versions[i], "dev", 0));
    }
    struct {
        const char *to, *want;
    } steps[] = {{NULL, "2.0.0"}, {"1.0.0", "1.0.0"}};
    for (size_t i = 0; i < 2; i++) {
        const char *args[] = {"rollback",  "web",
                              "--env",     "dev",
                              "--wait",    steps[i].to ? "--to" : NULL,
                              steps[i].to, NULL};
        tu_run_t r = fu_hoist(f, args);
        if (r.status != 0) {
            print_error("rollback exited %d:\n%s\n", r.status, r.out);
        }
        assert_int_equal(r.status, 0);
        tu_run_free(&r);
        int agents[] = {a, b};
        for (int k = 0; k < 2; k++) {
            char *live = fu_live(f, agents[k]);
            assert_string_equal(live, steps[i].want);
            free(live);
        }
    }
    /* 1.0.0 is the oldest: rolling back again does not go forward to the
     * 3.0.0 that was live before the last rollback. */
    tu_run_t r =
        fu_hoist(f, (const char *[]){"rollback", "web", "--env", "dev", NULL});
    assert_int_equal(r.status, 2);
    assert_contains(r.out, "no earlier release that succeeded in dev");
    tu_run_free(&r);
    /* A version that never ran in dev is no rollback target: promote it. */
    fu_release(f, "0.9.0", 4, FU_GOOD_SPEC);
    r = fu_hoist(f, (const char *[]){"rollback", "web", "--env", "dev", "--to",
                                     "0.9.0", "--wait", NULL});
    assert_int_equal(r.status, 2);
    assert_contains(r.out, "web 0.9.0 never succeeded in dev");
    tu_run_free(&r);
    char *live = fu_live(f, a);
    assert_string_equal(live, "1.0.0");
    free(live);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_enroll_token_and_pending, fu_setup,
                                        fu_teardown),
        cmocka_unit_test_setup_teardown(test_deploy_to_three_agents, fu_setup,
                                        fu_teardown),
        cmocka_unit_test_setup_teardown(test_failing_health_rolls_back,
                                        fu_setup, fu_teardown),
        cmocka_unit_test_setup_teardown(test_altered_artifact_refused, fu_setup,
                                        fu_teardown),
        cmocka_unit_test_setup_teardown(test_revoked_agent_is_cut_off, fu_setup,
                                        fu_teardown),
        cmocka_unit_test_setup_teardown(test_cloned_key_refused, fu_setup,
                                        fu_teardown),
        cmocka_unit_test_setup_teardown(test_controller_killed_mid_deployment,
                                        fu_setup, fu_teardown),
        cmocka_unit_test_setup_teardown(test_agent_killed_mid_transfer,
                                        fu_setup, fu_teardown),
        cmocka_unit_test_setup_teardown(test_unknown_user_cannot_deploy,
                                        fu_setup, fu_teardown),
        cmocka_unit_test_setup_teardown(test_null_and_plain_clients_refused,
                                        fu_setup, fu_teardown),
        cmocka_unit_test_setup_teardown(test_rollback_to_previous_and_kept,
                                        fu_setup, fu_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, fu_kill_leftovers);
}
