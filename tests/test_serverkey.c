/*
 * test_serverkey: rotating the controller's key with real processes.
 * `hoist controller key next` prepares the next key and the connected
 * agents pin it (their agent.conf); `hoist controller key` names the
 * agent that has not; `hoist-controller rotate-key` refuses while a
 * controller serves and while an accepted agent has not pinned it, and
 * changes nothing then; killed right after its switch it finishes when
 * run again; the restarted controller serves with the new key and the
 * agents that pinned it come back on their own and take deploys, while
 * the one left behind cannot connect. The digest key of secret variables
 * is the same after a rotation.
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
#include "serverkey.h"

/* The text of F's data directory's keys/NAME (malloc'd, NULL if none). */
static char *
s_key_file(fleet_t *f, const char *name)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/keys/%s", f->data, name);
    return tu_read(path, NULL);
}

/* Waits until agent I's agent.conf contains NEEDLE. */
static void
s_wait_conf(fleet_t *f, int i, const char *needle)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/agent.conf", f->root[i]);
    uint64_t until = monotime_ms() + WAIT_MS;
    char *text = NULL;
    for (;;) {
        free(text);
        text = tu_read(path, NULL);
        if ((text && strstr(text, needle)) || monotime_ms() > until) {
            break;
        }
        usleep(50 * 1000);
    }
    assert_non_null(text);
    assert_contains(text, needle);
    free(text);
}

/* Runs hoist-controller rotate-key on F (FORCE adds --force) with the
 * extra environment ENV; returns its result. */
static tu_run_t
s_rotate(fleet_t *f, bool force, const char *const *env)
{
    const char *argv[] = {
        HOIST_CONTROLLER_BIN,     "rotate-key", "--data-dir", f->data,
        force ? "--force" : NULL, NULL};
    return tu_run(argv, env);
}

/* `hoist controller key --json` until it counts READY agents. */
static json_t *
s_wait_ready(fleet_t *f, json_int_t ready)
{
    uint64_t until = monotime_ms() + WAIT_MS;
    for (;;) {
        json_t *j =
            fu_hoist_json(f, (const char *[]){"controller", "key", NULL});
        json_int_t n = json_integer_value(json_object_get(j, "agents_ready"));
        if (n == ready || monotime_ms() > until) {
            assert_int_equal(n, ready);
            return j;
        }
        json_decref(j);
        usleep(50 * 1000);
    }
}

static void
test_rotate(void **state)
{
    fleet_t *f = *state;
    int a1 = fu_agent(f, "key-1", "dev");
    int a2 = fu_agent(f, "key-2", "dev");
    char *token = fu_token(f, "qa");
    int left = fu_enroll(f, "key-3", "qa", token, NULL); /* never runs */
    free(token);
    fu_wait_online(f, "key-1");
    fu_wait_online(f, "key-2");
    char old[64];
    snprintf(old, sizeof old, "%s", f->server_key);

    json_t *j = fu_hoist_json(f, (const char *[]){"controller", "key", NULL});
    assert_string_equal(json_string_value(json_object_get(j, "next_key")), "");
    json_decref(j);
    /* While a controller serves its directory, rotate-key refuses. */
    tu_run_t r = s_rotate(f, false, NULL);
    assert_int_not_equal(r.status, 0);
    assert_contains(r.out, "stop it first");
    tu_run_free(&r);

    j = fu_hoist_json(f, (const char *[]){"controller", "key", "next", NULL});
    char next[64];
    snprintf(next, sizeof next, "%s",
             json_string_value(json_object_get(j, "next_key")));
    assert_int_equal(strlen(next), 40);
    assert_string_not_equal(next, old);
    json_decref(j);
    char want[128];
    snprintf(want, sizeof want, "next_server_key: \"%s\"", next);
    s_wait_conf(f, a1, want);
    s_wait_conf(f, a2, want);

    j = s_wait_ready(f, 2);
    assert_int_equal(json_integer_value(json_object_get(j, "agents_total")), 3);
    json_t *missing = json_object_get(j, "missing");
    assert_int_equal(json_array_size(missing), 1);
    assert_string_equal(json_string_value(json_array_get(missing, 0)), "key-3");
    json_decref(j);

    /* Stopped, but key-3 has not pinned it: refused, nothing changed. */
    fu_stop(&f->controller, SIGTERM);
    char *before = s_key_file(f, "server_secret");
    r = s_rotate(f, false, NULL);
    assert_int_equal(r.status, 4);
    assert_contains(r.out, "key-3");
    assert_contains(r.out, "nothing changed");
    tu_run_free(&r);
    char *after = s_key_file(f, "server_secret");
    assert_string_equal(before, after);
    free(after);

    /* Killed right after the switch: run again, it finishes. */
    r = s_rotate(f, true, (const char *[]){"HOIST_FAULT=cert-switched", NULL});
    assert_true(r.signaled);
    tu_run_free(&r);
    r = s_rotate(f, true, NULL);
    assert_int_equal(r.status, 0);
    assert_contains(r.out, "rotated");
    tu_run_free(&r);
    after = s_key_file(f, "server_secret");
    assert_non_null(after);
    assert_contains(after, next);
    assert_string_not_equal(before, after);
    free(before);
    free(after);
    assert_null(s_key_file(f, "server_next"));
    assert_null(s_key_file(f, "server_next_secret"));
    char *pub = s_key_file(f, "server");
    assert_contains(pub, next);
    free(pub);

    /* Serving with the new key: the agents that pinned it come back and
     * make it their key. */
    fu_start_controller(f);
    fu_wait_online(f, "key-1");
    fu_wait_online(f, "key-2");
    snprintf(want, sizeof want, "server_key: \"%s\"", next);
    s_wait_conf(f, a1, want);
    s_wait_conf(f, a2, want);
    j = fu_hoist_json(f, (const char *[]){"controller", "key", NULL});
    assert_string_equal(json_string_value(json_object_get(j, "server_key")),
                        next);
    json_decref(j);
    fu_release(f, "2.0.0", 1, FU_GOOD_SPEC);
    json_decref(fu_deploy_wait(f, "2.0.0", "dev", 0));

    /* The agent left behind pins the old key: the controller never hears
     * from it (its connections get no answer). */
    fu_run_agent(f, left);
    usleep(1500 * 1000);
    json_t *row = fu_agent_row(f, "key-3");
    assert_non_null(row);
    assert_false(json_is_true(json_object_get(row, "online")));
    json_decref(row);
}

/* The digests of secret variables compare across a rotation: the digest
 * key is the same before and after. */
static void
test_digest_key_kept(void **state)
{
    fleet_t *f = *state;
    fu_stop(&f->controller, SIGTERM);
    hoist_error_t err = {0};
    zcert_t *cur = serverkey_load(f->data, "server", &err);
    assert_non_null(cur);
    uint8_t before[SERVERKEY_DIGEST_BYTES], after[SERVERKEY_DIGEST_BYTES];
    assert_int_equal(serverkey_digest_key(f->data, cur, before, &err),
                     HOIST_OK);
    zcert_destroy(&cur);
    assert_null(serverkey_next(f->data, false, &err));
    assert_int_equal(err.code, HOIST_ERR_NOTFOUND);
    zcert_t *next = serverkey_next(f->data, true, &err);
    assert_non_null(next);
    zcert_destroy(&next);
    assert_int_equal(serverkey_rotate(f->data, &err), HOIST_OK);
    cur = serverkey_load(f->data, "server", &err);
    assert_non_null(cur);
    assert_int_equal(serverkey_digest_key(f->data, cur, after, &err), HOIST_OK);
    zcert_destroy(&cur);
    assert_memory_equal(before, after, sizeof before);
    /* A second rotation keeps it too. */
    next = serverkey_next(f->data, true, &err);
    zcert_destroy(&next);
    assert_int_equal(serverkey_rotate(f->data, &err), HOIST_OK);
    cur = serverkey_load(f->data, "server", &err);
    assert_int_equal(serverkey_digest_key(f->data, cur, after, &err), HOIST_OK);
    zcert_destroy(&cur);
    assert_memory_equal(before, after, sizeof before);
    /* Nothing prepared: nothing to rotate. */
    assert_int_equal(serverkey_rotate(f->data, &err), HOIST_ERR_NOTFOUND);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_rotate, fu_setup, fu_teardown),
        cmocka_unit_test_setup_teardown(test_digest_key_kept, fu_setup,
                                        fu_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, fu_kill_leftovers);
}
