/*
 * test_journal: the agent's per-app journal on a real file.
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "journal.h"

static void
test_roundtrip(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    char *path = tu_path(dir, "state");
    journal_t j, back;
    journal_init(&j, "web");
    strcpy(j.env, "prod");
    strcpy(j.current, "1.1.0");
    strcpy(j.previous, "1.0.0");
    j.highest_sequence = 42;
    journal_history_add(&j, "1.0.0");
    journal_history_add(&j, "1.1.0");
    j.step = JOURNAL_HEALTH;
    strcpy(j.pending, "1.2.0");
    j.pending_sequence = 43;
    assert_int_equal(journal_save(&j, path, NULL), HOIST_OK);
    assert_int_equal(journal_load(path, "web", &back, NULL), HOIST_OK);
    assert_string_equal(back.env, "prod");
    assert_string_equal(back.current, "1.1.0");
    assert_string_equal(back.previous, "1.0.0");
    assert_int_equal(back.highest_sequence, 42);
    assert_int_equal(back.n_history, 2);
    assert_string_equal(back.history[1], "1.1.0");
    assert_int_equal(back.step, JOURNAL_HEALTH);
    assert_string_equal(back.pending, "1.2.0");
    assert_int_equal(back.pending_sequence, 43);
    /* No temporary files are left next to it. */
    assert_int_equal(tu_count_entries(dir), 1);
    free(path);
    tu_rmtree(dir);
}

static void
test_missing_is_empty(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    char *path = tu_path(dir, "state");
    journal_t j;
    memset(&j, 0xff, sizeof j);
    assert_int_equal(journal_load(path, "web", &j, NULL), HOIST_OK);
    assert_string_equal(j.app, "web");
    assert_string_equal(j.current, "");
    assert_int_equal(j.step, JOURNAL_NONE);
    free(path);
    tu_rmtree(dir);
}

static void
test_garbage_and_wrong_app_refused(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    char *path = tu_path(dir, "state");
    hoist_error_t err = {0};
    journal_t j;
    tu_write(path, "\xff\xff\xff\xff not protobuf", (size_t)-1, 0644);
    assert_int_equal(journal_load(path, "web", &j, &err), HOIST_ERR_STATE);
    assert_contains(err.msg, "does not decode");
    journal_init(&j, "billing");
    assert_int_equal(journal_save(&j, path, NULL), HOIST_OK);
    assert_int_equal(journal_load(path, "web", &j, &err), HOIST_ERR_STATE);
    free(path);
    tu_rmtree(dir);
}

static void
test_path_like_versions_refused(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    char *path = tu_path(dir, "state");
    hoist_error_t err = {0};
    journal_t j;
    journal_init(&j, "web");
    strcpy(j.current, "../../etc");
    assert_int_equal(journal_save(&j, path, NULL), HOIST_OK);
    assert_int_equal(journal_load(path, "web", &j, &err), HOIST_ERR_STATE);
    assert_contains(err.msg, "inconsistent");
    free(path);
    tu_rmtree(dir);
}

static void
test_history(void **state)
{
    (void)state;
    journal_t j;
    journal_init(&j, "web");
    journal_history_add(&j, "a");
    journal_history_add(&j, "b");
    journal_history_add(&j, "a"); /* re-install moves it to the end */
    assert_int_equal(j.n_history, 2);
    assert_string_equal(j.history[0], "b");
    assert_string_equal(j.history[1], "a");
    journal_history_remove(&j, "b");
    assert_int_equal(j.n_history, 1);
    assert_string_equal(j.history[0], "a");
    char v[16];
    for (int i = 0; i < JOURNAL_HISTORY_MAX + 3; i++) {
        snprintf(v, sizeof v, "v%d", i);
        journal_history_add(&j, v);
    }
    assert_int_equal(j.n_history, JOURNAL_HISTORY_MAX);
    snprintf(v, sizeof v, "v%d", JOURNAL_HISTORY_MAX + 2);
    assert_string_equal(j.history[JOURNAL_HISTORY_MAX - 1], v);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_missing_is_empty),
        cmocka_unit_test(test_garbage_and_wrong_app_refused),
        cmocka_unit_test(test_path_like_versions_refused),
        cmocka_unit_test(test_history),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
