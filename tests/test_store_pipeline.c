/*
 * test_store_pipeline: the store's copy of the pipeline file on a real
 * SQLite file: nothing before the first apply, the last text recorded
 * wins and earlier ones are kept, and what is refused.
 */
#include "storeutil.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"

/* --- helpers ------------------------------------------------------------ */

static long long
s_raw_count(const char *path)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_prepare_v2(db, "SELECT count(*) FROM pipeline", -1, &st, NULL),
        SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    long long n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

static char *
s_get(store_t *s)
{
    hoist_error_t err = {0};
    char *text = NULL;
    if (store_pipeline_get(s, &text, &err) != HOIST_OK) {
        fail_msg("pipeline get: %s", err.msg);
    }
    return text;
}

/* --- tests -------------------------------------------------------------- */

static void
test_nothing_before_first_apply(void **state)
{
    su_fixture_t *f = *state;
    hoist_error_t err = {0};
    char *text = (char *)"untouched";
    assert_int_equal(store_pipeline_get(f->s, &text, &err), STORE_ERR_NOTFOUND);
    assert_contains(err.msg, "hoist apply");
    assert_string_equal(text, "untouched");
}

static void
test_last_recorded_wins_and_history_kept(void **state)
{
    su_fixture_t *f = *state;
    hoist_error_t err = {0};
    const char *v1 = "environments:\n  dev: {}\n";
    const char *v2 = "environments:\n  dev: {}\n  qa: {}\n# caf\xc3\xa9\n";
    assert_int_equal(store_pipeline_set(f->s, v1, "alice", 2000, &err),
                     HOIST_OK);
    char *text = s_get(f->s);
    assert_string_equal(text, v1);
    free(text);
    /* An earlier clock does not make the newer text lose. */
    assert_int_equal(store_pipeline_set(f->s, v2, "bob", 1000, &err), HOIST_OK);
    text = s_get(f->s);
    assert_string_equal(text, v2);
    free(text);
    assert_int_equal(s_raw_count(f->path), 2);

    su_reopen(f);
    text = s_get(f->s);
    assert_string_equal(text, v2);
    free(text);
}

static void
test_large_text_whole(void **state)
{
    su_fixture_t *f = *state;
    hoist_error_t err = {0};
    size_t len = 256 * 1024;
    char *big = malloc(len + 1);
    assert_non_null(big);
    for (size_t i = 0; i < len; i++) {
        big[i] = i % 64 == 63 ? '\n' : (char)('a' + i % 26);
    }
    big[len] = '\0';
    assert_int_equal(store_pipeline_set(f->s, big, "alice", 1, &err), HOIST_OK);
    char *text = s_get(f->s);
    assert_int_equal(strlen(text), len);
    assert_string_equal(text, big);
    free(text);
    free(big);
}

static void
test_refusals(void **state)
{
    su_fixture_t *f = *state;
    hoist_error_t err = {0};
    char name[STORE_NAME_SIZE + 1];
    memset(name, 'u', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    assert_int_equal(store_pipeline_set(f->s, "", "alice", 1, &err),
                     HOIST_ERR_USAGE);
    assert_contains(err.msg, "empty");
    assert_int_equal(store_pipeline_set(f->s, "x: 1\n", "", 1, &err),
                     HOIST_ERR_USAGE);
    assert_int_equal(store_pipeline_set(f->s, "x: 1\n", name, 1, &err),
                     HOIST_ERR_LIMIT);
    assert_int_equal(s_raw_count(f->path), 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, su_setup, su_teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_nothing_before_first_apply),
        T(test_last_recorded_wins_and_history_kept),
        T(test_large_text_whole),
        T(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
