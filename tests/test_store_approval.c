/*
 * test_store_approval: approvals on a real SQLite file: recorded once per
 * user, release and environment, listed oldest first with or without an
 * environment, and refused for a release that does not exist.
 */
#include "storeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"

/* --- helpers ------------------------------------------------------------ */

static store_approval_t
s_approval(const char *version, const char *env, const char *user,
           int64_t created_at)
{
    store_approval_t a;
    memset(&a, 0, sizeof a);
    snprintf(a.app, sizeof a.app, "web");
    snprintf(a.version, sizeof a.version, "%s", version);
    snprintf(a.env, sizeof a.env, "%s", env);
    snprintf(a.user, sizeof a.user, "%s", user);
    snprintf(a.role, sizeof a.role, "qa");
    snprintf(a.comment, sizeof a.comment, "checked by %s", user);
    a.created_at = created_at;
    return a;
}

static void
s_add(store_t *s, const store_approval_t *a)
{
    hoist_error_t err = {0};
    if (store_approval_add(s, a, &err) != HOIST_OK) {
        fail_msg("add approval: %s", err.msg);
    }
}

typedef struct {
    char text[1024];
    int n;
    int stop_after;
    store_approval_t last;
} seen_t;

static int
s_see(const store_approval_t *row, void *arg)
{
    seen_t *seen = arg;
    size_t len = strlen(seen->text);
    snprintf(seen->text + len, sizeof seen->text - len, "%s%s@%s",
             len ? "," : "", row->user, row->env);
    seen->last = *row;
    seen->n++;
    return seen->stop_after && seen->n >= seen->stop_after;
}

static seen_t
s_list(store_t *s, const char *version, const char *env)
{
    hoist_error_t err = {0};
    seen_t seen;
    memset(&seen, 0, sizeof seen);
    if (store_approval_list(s, "web", version, env, s_see, &seen, &err) !=
        HOIST_OK) {
        fail_msg("list approvals: %s", err.msg);
    }
    return seen;
}

/* --- tests -------------------------------------------------------------- */

static void
test_add_and_list(void **state)
{
    su_fixture_t *f = *state;
    su_add_release(f->s, "web", "1.0.0");
    su_add_release(f->s, "web", "1.1.0");
    store_approval_t a = s_approval("1.0.0", "staging", "carol", 300);
    s_add(f->s, &a);
    store_approval_t b = s_approval("1.0.0", "production", "carol", 200);
    s_add(f->s, &b);
    store_approval_t c = s_approval("1.0.0", "staging", "dave", 300);
    s_add(f->s, &c);
    store_approval_t other = s_approval("1.1.0", "staging", "erin", 50);
    s_add(f->s, &other);

    /* Oldest first; a tie keeps the order of recording. */
    seen_t seen = s_list(f->s, "1.0.0", NULL);
    assert_string_equal(seen.text,
                        "carol@production,carol@staging,dave@staging");
    seen = s_list(f->s, "1.0.0", "");
    assert_int_equal(seen.n, 3);
    seen = s_list(f->s, "1.0.0", "staging");
    assert_string_equal(seen.text, "carol@staging,dave@staging");
    assert_string_equal(seen.last.app, "web");
    assert_string_equal(seen.last.version, "1.0.0");
    assert_string_equal(seen.last.role, "qa");
    assert_string_equal(seen.last.comment, "checked by dave");
    assert_int_equal(seen.last.created_at, 300);
    seen = s_list(f->s, "1.0.0", "qa");
    assert_int_equal(seen.n, 0);
    seen = s_list(f->s, "2.0.0", NULL);
    assert_int_equal(seen.n, 0);

    su_reopen(f);
    seen = s_list(f->s, "1.1.0", NULL);
    assert_string_equal(seen.text, "erin@staging");
}

static void
test_list_stops_early(void **state)
{
    su_fixture_t *f = *state;
    hoist_error_t err = {0};
    su_add_release(f->s, "web", "1.0.0");
    store_approval_t a = s_approval("1.0.0", "staging", "carol", 1);
    store_approval_t b = s_approval("1.0.0", "staging", "dave", 2);
    s_add(f->s, &a);
    s_add(f->s, &b);
    seen_t seen;
    memset(&seen, 0, sizeof seen);
    seen.stop_after = 1;
    assert_int_equal(
        store_approval_list(f->s, "web", "1.0.0", NULL, s_see, &seen, &err),
        HOIST_OK);
    assert_string_equal(seen.text, "carol@staging");
}

static void
test_approve_once(void **state)
{
    su_fixture_t *f = *state;
    hoist_error_t err = {0};
    su_add_release(f->s, "web", "1.0.0");
    store_approval_t a = s_approval("1.0.0", "staging", "carol", 1);
    s_add(f->s, &a);
    a.created_at = 2;
    snprintf(a.comment, sizeof a.comment, "again");
    assert_int_equal(store_approval_add(f->s, &a, &err), STORE_ERR_EXISTS);
    assert_contains(err.msg, "'carol' already approved web 1.0.0 for staging");
    seen_t seen = s_list(f->s, "1.0.0", NULL);
    assert_int_equal(seen.n, 1);
    assert_string_equal(seen.last.comment, "checked by carol");
}

static void
test_refusals(void **state)
{
    su_fixture_t *f = *state;
    hoist_error_t err = {0};
    su_add_release(f->s, "web", "1.0.0");

    store_approval_t a = s_approval("9.9.9", "staging", "carol", 1);
    assert_int_equal(store_approval_add(f->s, &a, &err), STORE_ERR_NOTFOUND);
    assert_contains(err.msg, "no release web 9.9.9");

    a = s_approval("1.0.0", "staging", "carol", 1);
    a.role[0] = '\0';
    assert_int_equal(store_approval_add(f->s, &a, &err), HOIST_ERR_USAGE);
    assert_contains(err.msg, "role");
    a = s_approval("1.0.0", "", "carol", 1);
    assert_int_equal(store_approval_add(f->s, &a, &err), HOIST_ERR_USAGE);
    a = s_approval("1.0.0", "staging", "", 1);
    assert_int_equal(store_approval_add(f->s, &a, &err), HOIST_ERR_USAGE);

    a = s_approval("1.0.0", "staging", "carol", 1);
    memset(a.comment, 'c', sizeof a.comment);
    assert_int_equal(store_approval_add(f->s, &a, &err), HOIST_ERR_LIMIT);
    assert_contains(err.msg, "comment");

    /* An empty comment is fine. */
    a = s_approval("1.0.0", "staging", "carol", 1);
    a.comment[0] = '\0';
    assert_int_equal(store_approval_add(f->s, &a, &err), HOIST_OK);
    seen_t seen = s_list(f->s, "1.0.0", NULL);
    assert_int_equal(seen.n, 1);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, su_setup, su_teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_add_and_list),
        T(test_list_stops_early),
        T(test_approve_once),
        T(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
