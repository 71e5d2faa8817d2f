/*
 * test_store_schedule: scheduled promotions on a real SQLite file: created
 * pending, listed by due time, ended exactly once (even by racing
 * processes), and kept across a reopen.
 */
#include "storeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store.h"

/* --- helpers ------------------------------------------------------------ */

static store_schedule_t
s_schedule(const char *version, const char *env, int64_t at_ms)
{
    store_schedule_t sch;
    memset(&sch, 0, sizeof sch);
    snprintf(sch.app, sizeof sch.app, "web");
    snprintf(sch.version, sizeof sch.version, "%s", version);
    snprintf(sch.env, sizeof sch.env, "%s", env);
    sch.at_ms = at_ms;
    snprintf(sch.at_text, sizeof sch.at_text, "2026-12-01 02:00 Europe/Berlin");
    snprintf(sch.created_by, sizeof sch.created_by, "rm");
    sch.created_at = 10;
    return sch;
}

static int64_t
s_add(store_t *s, const store_schedule_t *sch)
{
    hoist_error_t err = {0};
    int64_t id = -1;
    if (store_schedule_add(s, sch, &id, &err) != HOIST_OK) {
        fail_msg("add schedule: %s", err.msg);
    }
    return id;
}

static int64_t
s_add_deployment(store_t *s, const char *version)
{
    hoist_error_t err = {0};
    store_deployment_t d;
    int64_t id = -1;
    memset(&d, 0, sizeof d);
    snprintf(d.app, sizeof d.app, "web");
    snprintf(d.version, sizeof d.version, "%s", version);
    snprintf(d.env, sizeof d.env, "production");
    snprintf(d.created_by, sizeof d.created_by, "rm");
    if (store_deployment_create(s, &d, &id, &err) != HOIST_OK) {
        fail_msg("create deployment: %s", err.msg);
    }
    return id;
}

static store_schedule_t
s_get(store_t *s, int64_t id)
{
    hoist_error_t err = {0};
    store_schedule_t out;
    if (store_schedule_get(s, id, &out, &err) != HOIST_OK) {
        fail_msg("get schedule: %s", err.msg);
    }
    return out;
}

typedef struct {
    char text[256];
    int n;
    int stop_after;
} seen_t;

static int
s_see(const store_schedule_t *row, void *arg)
{
    seen_t *seen = arg;
    size_t len = strlen(seen->text);
    snprintf(seen->text + len, sizeof seen->text - len, "%s%lld",
             len ? "," : "", (long long)row->id);
    seen->n++;
    return seen->stop_after && seen->n >= seen->stop_after;
}

static seen_t
s_list(store_t *s, bool pending_only)
{
    hoist_error_t err = {0};
    seen_t seen;
    memset(&seen, 0, sizeof seen);
    if (store_schedule_list(s, pending_only, s_see, &seen, &err) != HOIST_OK) {
        fail_msg("list schedules: %s", err.msg);
    }
    return seen;
}

/* --- tests -------------------------------------------------------------- */

static void
test_add_get_pending(void **state)
{
    su_fixture_t *f = *state;
    su_add_release(f->s, "web", "1.0.0");
    store_schedule_t sch = s_schedule("1.0.0", "production", 1764550800000);
    sch.id = 77;
    sch.state = STORE_SCHEDULE_FIRED;
    sch.override_freeze = true;
    snprintf(sch.reason, sizeof sch.reason, "hotfix for INC-42");
    snprintf(sch.note, sizeof sch.note, "ignored");
    sch.deployment_id = 5;
    int64_t id = s_add(f->s, &sch);
    assert_int_equal(id, 1);

    store_schedule_t back = s_get(f->s, id);
    assert_int_equal(back.id, 1);
    assert_string_equal(back.app, "web");
    assert_string_equal(back.version, "1.0.0");
    assert_string_equal(back.env, "production");
    assert_int_equal(back.at_ms, 1764550800000);
    assert_string_equal(back.at_text, "2026-12-01 02:00 Europe/Berlin");
    assert_int_equal(back.state, STORE_SCHEDULE_PENDING);
    assert_string_equal(back.created_by, "rm");
    assert_int_equal(back.created_at, 10);
    assert_true(back.override_freeze);
    assert_string_equal(back.reason, "hotfix for INC-42");
    assert_string_equal(back.note, "");
    assert_int_equal(back.deployment_id, 0);

    /* It outlives the controller. */
    su_reopen(f);
    back = s_get(f->s, id);
    assert_int_equal(back.state, STORE_SCHEDULE_PENDING);
    assert_int_equal(s_add(f->s, &sch), 2);
}

static void
test_list_by_due_time(void **state)
{
    su_fixture_t *f = *state;
    hoist_error_t err = {0};
    su_add_release(f->s, "web", "1.0.0");
    store_schedule_t a = s_schedule("1.0.0", "production", 3000);
    store_schedule_t b = s_schedule("1.0.0", "staging", 1000);
    store_schedule_t c = s_schedule("1.0.0", "qa", 3000);
    store_schedule_t d = s_schedule("1.0.0", "dr", 2000);
    s_add(f->s, &a); /* 1 */
    s_add(f->s, &b); /* 2 */
    s_add(f->s, &c); /* 3 */
    s_add(f->s, &d); /* 4 */
    seen_t seen = s_list(f->s, false);
    assert_string_equal(seen.text, "2,4,1,3");

    assert_int_equal(store_schedule_finish(f->s, 4, STORE_SCHEDULE_CANCELLED,
                                           "cancelled by rm", 0, &err),
                     HOIST_OK);
    seen = s_list(f->s, true);
    assert_string_equal(seen.text, "2,1,3");
    seen = s_list(f->s, false);
    assert_string_equal(seen.text, "2,4,1,3");

    memset(&seen, 0, sizeof seen);
    seen.stop_after = 2;
    assert_int_equal(store_schedule_list(f->s, false, s_see, &seen, &err),
                     HOIST_OK);
    assert_string_equal(seen.text, "2,4");
}

static void
test_finish_fired_once(void **state)
{
    su_fixture_t *f = *state;
    hoist_error_t err = {0};
    su_add_release(f->s, "web", "1.0.0");
    store_schedule_t sch = s_schedule("1.0.0", "production", 1000);
    int64_t id = s_add(f->s, &sch);
    int64_t dep = s_add_deployment(f->s, "1.0.0");
    char note[64];
    snprintf(note, sizeof note, "deployment %lld started", (long long)dep);
    assert_int_equal(
        store_schedule_finish(f->s, id, STORE_SCHEDULE_FIRED, note, dep, &err),
        HOIST_OK);
    store_schedule_t back = s_get(f->s, id);
    assert_int_equal(back.state, STORE_SCHEDULE_FIRED);
    assert_int_equal(back.deployment_id, dep);
    assert_string_equal(back.note, note);

    /* A late cancel loses and is told what happened instead. */
    assert_int_equal(store_schedule_finish(f->s, id, STORE_SCHEDULE_CANCELLED,
                                           "cancelled", 0, &err),
                     HOIST_ERR_STATE);
    assert_contains(err.msg, "no longer pending");
    assert_contains(err.msg, "fired");
    assert_contains(err.msg, note);
    back = s_get(f->s, id);
    assert_int_equal(back.state, STORE_SCHEDULE_FIRED);
    assert_string_equal(back.note, note);
}

static void
test_finish_refused_and_cancelled(void **state)
{
    su_fixture_t *f = *state;
    hoist_error_t err = {0};
    su_add_release(f->s, "web", "1.0.0");
    store_schedule_t sch = s_schedule("1.0.0", "production", 1000);
    int64_t a = s_add(f->s, &sch);
    int64_t b = s_add(f->s, &sch);
    assert_int_equal(store_schedule_finish(f->s, a, STORE_SCHEDULE_REFUSED,
                                           "gates: production is frozen", 0,
                                           &err),
                     HOIST_OK);
    assert_int_equal(
        store_schedule_finish(f->s, b, STORE_SCHEDULE_CANCELLED, NULL, 0, &err),
        HOIST_OK);
    assert_int_equal(s_get(f->s, a).state, STORE_SCHEDULE_REFUSED);
    assert_int_equal(s_get(f->s, b).state, STORE_SCHEDULE_CANCELLED);
    assert_string_equal(s_get(f->s, b).note, "");
    assert_int_equal(
        store_schedule_finish(f->s, b, STORE_SCHEDULE_REFUSED, "late", 0, &err),
        HOIST_ERR_STATE);
    assert_contains(err.msg, "it was cancelled");
    assert_int_equal(
        store_schedule_finish(f->s, a, STORE_SCHEDULE_FIRED, "x", 0, &err),
        HOIST_ERR_STATE);
    assert_contains(err.msg, "refused (gates: production is frozen)");
}

static void
test_refusals(void **state)
{
    su_fixture_t *f = *state;
    hoist_error_t err = {0};
    int64_t id = 99;
    store_schedule_t out;

    store_schedule_t sch = s_schedule("1.0.0", "production", 1000);
    assert_int_equal(store_schedule_add(f->s, &sch, &id, &err),
                     STORE_ERR_NOTFOUND);
    assert_contains(err.msg, "no release web 1.0.0");
    assert_int_equal(id, 99);

    su_add_release(f->s, "web", "1.0.0");
    sch.created_by[0] = '\0';
    assert_int_equal(store_schedule_add(f->s, &sch, &id, &err),
                     HOIST_ERR_USAGE);
    sch = s_schedule("1.0.0", "production", 1000);
    memset(sch.reason, 'r', sizeof sch.reason);
    assert_int_equal(store_schedule_add(f->s, &sch, &id, &err),
                     HOIST_ERR_LIMIT);
    assert_int_equal(id, 99);

    memset(&out, 0x55, sizeof out);
    assert_int_equal(store_schedule_get(f->s, 5, &out, &err),
                     STORE_ERR_NOTFOUND);
    assert_contains(err.msg, "no schedule 5");
    assert_int_equal(out.id, 0x5555555555555555);

    assert_int_equal(
        store_schedule_finish(f->s, 5, STORE_SCHEDULE_CANCELLED, "", 0, &err),
        STORE_ERR_NOTFOUND);
    assert_contains(err.msg, "no schedule 5");

    sch = s_schedule("1.0.0", "production", 1000);
    id = s_add(f->s, &sch);
    assert_int_equal(
        store_schedule_finish(f->s, id, STORE_SCHEDULE_PENDING, "", 0, &err),
        HOIST_ERR_USAGE);
    assert_int_equal(
        store_schedule_finish(f->s, id, (store_schedule_state_t)9, "", 0, &err),
        HOIST_ERR_USAGE);
    assert_int_equal(
        store_schedule_finish(f->s, id, STORE_SCHEDULE_FIRED, "", 12345, &err),
        STORE_ERR_NOTFOUND);
    assert_contains(err.msg, "no deployment 12345");
    char note[STORE_RESULT_SIZE + 1];
    memset(note, 'n', sizeof note - 1);
    note[sizeof note - 1] = '\0';
    assert_int_equal(
        store_schedule_finish(f->s, id, STORE_SCHEDULE_REFUSED, note, 0, &err),
        HOIST_ERR_LIMIT);
    /* Every refusal left it pending. */
    assert_int_equal(s_get(f->s, id).state, STORE_SCHEDULE_PENDING);
}

/* Processes racing to end one schedule: exactly one wins, the others are
 * told it is no longer pending. */
static void
test_finish_race_has_one_winner(void **state)
{
    su_fixture_t *f = *state;
    enum { RACERS = 8 };
    pid_t pids[RACERS];
    int winners = 0, losers = 0;
    su_add_release(f->s, "web", "1.0.0");
    store_schedule_t sch = s_schedule("1.0.0", "production", 1000);
    int64_t id = s_add(f->s, &sch);
    store_close(&f->s);
    for (int i = 0; i < RACERS; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0) {
            hoist_error_t err = {0};
            store_t *s = store_open(f->path, NULL);
            store_schedule_state_t to =
                i % 2 ? STORE_SCHEDULE_CANCELLED : STORE_SCHEDULE_REFUSED;
            hoist_err_t e =
                s ? store_schedule_finish(s, id, to, "race", 0, &err)
                  : HOIST_ERR_IO;
            _exit(e == HOIST_OK                                          ? 0
                  : e == HOIST_ERR_STATE && strstr(err.msg, "no longer") ? 1
                                                                         : 2);
        }
    }
    for (int i = 0; i < RACERS; i++) {
        int status = 0;
        assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
        assert_true(WIFEXITED(status));
        winners += WEXITSTATUS(status) == 0;
        losers += WEXITSTATUS(status) == 1;
    }
    assert_int_equal(winners, 1);
    assert_int_equal(losers, RACERS - 1);
    su_reopen(f);
    assert_int_not_equal(s_get(f->s, id).state, STORE_SCHEDULE_PENDING);
}

static void
test_state_names(void **state)
{
    (void)state;
    assert_string_equal(store_schedule_state_name(STORE_SCHEDULE_PENDING),
                        "pending");
    assert_string_equal(store_schedule_state_name(STORE_SCHEDULE_FIRED),
                        "fired");
    assert_string_equal(store_schedule_state_name(STORE_SCHEDULE_REFUSED),
                        "refused");
    assert_string_equal(store_schedule_state_name(STORE_SCHEDULE_CANCELLED),
                        "cancelled");
    assert_string_equal(store_schedule_state_name((store_schedule_state_t)-1),
                        "unknown");
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, su_setup, su_teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_add_get_pending),   T(test_list_by_due_time),
        T(test_finish_fired_once), T(test_finish_refused_and_cancelled),
        T(test_refusals),          T(test_finish_race_has_one_winner),
        T(test_state_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
