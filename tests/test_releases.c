/*
 * test_releases: the app directory layout, the atomic switch of
 * `current`, and the pruning plan.
 */
#include "testutil.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "releases.h"

static void
s_publish(releases_t *r, const char *version)
{
    char staging[PATH_MAX], file[PATH_MAX + 16];
    assert_int_equal(releases_stage(r, staging, sizeof staging, NULL),
                     HOIST_OK);
    snprintf(file, sizeof file, "%s/VERSION", staging);
    tu_write(file, version, (size_t)-1, 0644);
    assert_int_equal(releases_publish(r, staging, version, NULL), HOIST_OK);
    assert_false(tu_exists(staging));
}

static void
test_publish_and_switch(void **state)
{
    (void)state;
    char *root = tu_tmpdir();
    char cur[64];
    releases_t *r = releases_open(root, "web", NULL);
    assert_non_null(r);
    assert_int_equal(releases_ensure(r, NULL), HOIST_OK);
    assert_int_equal(releases_current(r, cur, sizeof cur, NULL), HOIST_OK);
    assert_string_equal(cur, "");
    s_publish(r, "1.0.0");
    s_publish(r, "1.1.0");
    assert_int_equal(releases_switch(r, "1.0.0", NULL), HOIST_OK);
    assert_int_equal(releases_current(r, cur, sizeof cur, NULL), HOIST_OK);
    assert_string_equal(cur, "1.0.0");
    assert_int_equal(releases_switch(r, "1.1.0", NULL), HOIST_OK);
    assert_int_equal(releases_current(r, cur, sizeof cur, NULL), HOIST_OK);
    assert_string_equal(cur, "1.1.0");
    /* The link is relative and resolves to the complete release. */
    char *file = tu_path(root, "apps/web/current/VERSION");
    char *content = tu_read(file, NULL);
    assert_string_equal(content, "1.1.0");
    free(content);
    free(file);
    /* Only releases/, current and nothing temporary in the app dir. */
    char *app = tu_path(root, "apps/web");
    assert_int_equal(tu_count_entries(app), 2 + 2 + 2);
    free(app);
    assert_int_equal(releases_switch(r, NULL, NULL), HOIST_OK);
    assert_int_equal(releases_current(r, cur, sizeof cur, NULL), HOIST_OK);
    assert_string_equal(cur, "");
    releases_destroy(&r);
    assert_null(r);
    tu_rmtree(root);
}

static void
test_current_pointing_outside_is_refused(void **state)
{
    (void)state;
    char *root = tu_tmpdir();
    char cur[64];
    hoist_error_t err = {0};
    releases_t *r = releases_open(root, "web", NULL);
    assert_int_equal(releases_ensure(r, NULL), HOIST_OK);
    char *link = tu_path(root, "apps/web/current");
    assert_int_equal(symlink("/etc", link), 0);
    assert_int_equal(releases_current(r, cur, sizeof cur, &err),
                     HOIST_ERR_STATE);
    assert_contains(err.msg, "outside releases/");
    free(link);
    releases_destroy(&r);
    tu_rmtree(root);
}

static void
test_clean_staging(void **state)
{
    (void)state;
    char *root = tu_tmpdir();
    char staging[PATH_MAX];
    releases_t *r = releases_open(root, "web", NULL);
    assert_int_equal(releases_ensure(r, NULL), HOIST_OK);
    assert_int_equal(releases_stage(r, staging, sizeof staging, NULL),
                     HOIST_OK);
    char *f = tu_path(staging, "half/written");
    tu_write(f, "x", (size_t)-1, 0644);
    free(f);
    assert_int_equal(releases_clean_staging(r, NULL), HOIST_OK);
    assert_false(tu_exists(staging));
    releases_destroy(&r);
    tu_rmtree(root);
}

static void
s_history(journal_t *j, int n)
{
    char v[16];
    for (int i = 1; i <= n; i++) {
        snprintf(v, sizeof v, "%d", i);
        journal_history_add(j, v);
    }
}

static void
test_prune_plan(void **state)
{
    (void)state;
    journal_t j;
    size_t drop[JOURNAL_HISTORY_MAX];
    journal_init(&j, "web");
    s_history(&j, 3);
    assert_int_equal(releases_plan_prune(&j, 5, drop), 0);
    journal_init(&j, "web");
    s_history(&j, 8);
    strcpy(j.current, "8");
    strcpy(j.previous, "7");
    assert_int_equal(releases_plan_prune(&j, 5, drop), 3);
    assert_string_equal(j.history[drop[0]], "1");
    assert_string_equal(j.history[drop[2]], "3");
    /* A rolled-back-to old release stays even when it is the oldest. */
    strcpy(j.current, "1");
    strcpy(j.previous, "2");
    assert_int_equal(releases_plan_prune(&j, 5, drop), 3);
    assert_string_equal(j.history[drop[0]], "3");
    assert_string_equal(j.history[drop[2]], "5");
    /* keep smaller than what must stay: keeps current and previous. */
    assert_int_equal(releases_plan_prune(&j, 0, drop), 6);
}

static void
test_prune_removes_dirs(void **state)
{
    (void)state;
    char *root = tu_tmpdir();
    releases_t *r = releases_open(root, "web", NULL);
    assert_int_equal(releases_ensure(r, NULL), HOIST_OK);
    journal_t j;
    journal_init(&j, "web");
    char v[16];
    for (int i = 1; i <= 4; i++) {
        snprintf(v, sizeof v, "%d", i);
        s_publish(r, v);
        journal_history_add(&j, v);
    }
    strcpy(j.current, "4");
    strcpy(j.previous, "3");
    assert_int_equal(releases_prune(r, &j, 2, NULL), HOIST_OK);
    assert_int_equal(j.n_history, 2);
    char *rel = tu_path(root, "apps/web/releases");
    tu_sh("test -d %1$s/4 && test -d %1$s/3 && test ! -e %1$s/2 && "
          "test ! -e %1$s/1",
          rel);
    free(rel);
    releases_destroy(&r);
    tu_rmtree(root);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_publish_and_switch),
        cmocka_unit_test(test_current_pointing_outside_is_refused),
        cmocka_unit_test(test_clean_staging),
        cmocka_unit_test(test_prune_plan),
        cmocka_unit_test(test_prune_removes_dirs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
