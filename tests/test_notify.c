/*
 * test_notify: real notifier scripts in a temporary directory: one that
 * keeps what it reads, one that fails, one that hangs, one that never
 * reads; the queue overflowing; destroy with children running.
 *
 * Nothing here asserts on elapsed time. Waiting uses notify_drain (the
 * actor answers when the work is done), and "send did not wait for the
 * child" is shown by the child still running, by pid, after send returned.
 */
#include "testutil.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "notify.h"

/* Generous: only reached when something is broken. */
#define DRAIN_MS (60 * 1000)

typedef struct {
    char *dir;
} fixture_t;

static int
s_setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    f->dir = tu_tmpdir();
    *state = f;
    return 0;
}

static int
s_teardown(void **state)
{
    fixture_t *f = *state;
    tu_rmtree(f->dir);
    free(f);
    return 0;
}

/* Writes an executable script NAME in the fixture's directory with BODY
 * after the #! line; every "@" in BODY becomes the directory. Returns the
 * malloc'd path. */
static char *
s_script(const fixture_t *f, const char *name, const char *body)
{
    char *path = tu_path(f->dir, name);
    size_t dlen = strlen(f->dir), cap = strlen(body) * (dlen + 1) + 16;
    char *text = malloc(cap), *o = text;
    o += sprintf(o, "#!/bin/sh\n");
    for (const char *c = body; *c; c++) {
        if (*c == '@') {
            memcpy(o, f->dir, dlen);
            o += dlen;
        } else {
            *o++ = *c;
        }
    }
    *o = 0;
    tu_write(path, text, (size_t)-1, 0755);
    free(text);
    return path;
}

static notify_t *
s_new(const char *const *commands, size_t n, uint64_t timeout_ms,
      size_t queue_max)
{
    hoist_error_t err = {0};
    notify_config_t cfg = {.commands = commands,
                           .n_commands = n,
                           .timeout_ms = timeout_ms,
                           .queue_max = queue_max};
    notify_t *nt = notify_new(&cfg, &err);
    if (!nt) {
        fail_msg("notify_new: %s", err.msg);
    }
    return nt;
}

static notify_stats_t
s_stats(notify_t *nt)
{
    notify_stats_t s;
    hoist_error_t err = {0};
    if (notify_stats(nt, &s, &err) != HOIST_OK) {
        fail_msg("notify_stats: %s", err.msg);
    }
    return s;
}

static void
s_send(notify_t *nt, const char *json)
{
    hoist_error_t err = {0};
    if (notify_send(nt, json, &err) != HOIST_OK) {
        fail_msg("notify_send: %s", err.msg);
    }
}

/* True when PID is gone, or a zombie of someone else (a grandchild that
 * init has not reaped yet). */
static bool
s_gone(pid_t pid)
{
    if (kill(pid, 0) < 0 && errno == ESRCH) {
        return true;
    }
    char path[64], *stat;
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    stat = tu_read(path, NULL);
    bool zombie = stat && strstr(stat, ") Z ");
    free(stat);
    return zombie || !stat;
}

/* Waits for a file the script writes once it runs. */
static char *
s_await_file(const char *path)
{
    for (int i = 0; i < 6000; i++) {
        size_t len = 0;
        char *text = tu_read(path, &len);
        if (text && len > 0 && text[len - 1] == '\n') {
            return text;
        }
        free(text);
        usleep(10 * 1000);
    }
    fail_msg("%s never appeared", path);
    return NULL;
}

/* Every command gets every event, whole and in order, even one larger
 * than a pipe's buffer. */
static void
test_events_arrive_whole(void **state)
{
    fixture_t *f = *state;
    char *a = s_script(f, "a", "cat >> @/a.out; echo >> @/a.out\n");
    char *b = s_script(f, "b", "cat >> @/b.out; echo >> @/b.out\n");
    const char *cmds[] = {a, b};
    notify_t *nt = s_new(cmds, 2, 0, 0);

    size_t big_len = 300 * 1024;
    char *big = malloc(big_len + 64);
    int off = sprintf(big, "{\"event\":\"release.created\",\"notes\":\"");
    memset(big + off, 'x', big_len);
    strcpy(big + off + big_len, "\"}");
    const char *small = "{\"event\":\"promotion.started\",\"app\":\"web\"}";
    s_send(nt, small);
    s_send(nt, big);
    assert_true(notify_drain(nt, DRAIN_MS));

    notify_stats_t s = s_stats(nt);
    assert_int_equal(s.delivered, 4);
    assert_int_equal(s.failed + s.timed_out + s.dropped, 0);
    assert_int_equal(s.queued + s.in_flight, 0);
    char *want = NULL;
    assert_true(asprintf(&want, "%s\n%s\n", small, big) > 0);
    for (int i = 0; i < 2; i++) {
        char *path = tu_path(f->dir, i ? "b.out" : "a.out");
        char *got = tu_read(path, NULL);
        assert_non_null(got);
        assert_true(strcmp(got, want) == 0);
        free(got);
        free(path);
    }
    notify_destroy(&nt);
    assert_null(nt);
    free(want);
    free(big);
    free(a);
    free(b);
}

/* PATH and nothing else of ours; run in "/". */
static void
test_clean_environment(void **state)
{
    fixture_t *f = *state;
    char *cmd = s_script(f, "env",
                         "cat > /dev/null; pwd > @/env.out; "
                         "/usr/bin/env >> @/env.out\n");
    setenv("HOIST_TEST_LEAK", "do-not-pass", 1);
    notify_t *nt = s_new((const char *const[]){cmd}, 1, 0, 0);
    s_send(nt, "{\"event\":\"x\"}");
    assert_true(notify_drain(nt, DRAIN_MS));
    assert_int_equal(s_stats(nt).delivered, 1);
    char *path = tu_path(f->dir, "env.out");
    char *got = tu_read(path, NULL);
    assert_non_null(got);
    assert_true(strncmp(got, "/\n", 2) == 0);
    assert_contains(got, "PATH=/usr/local/sbin:");
    assert_null(strstr(got, "HOIST_TEST_LEAK"));
    assert_null(strstr(got, "HOME="));
    unsetenv("HOIST_TEST_LEAK");
    notify_destroy(&nt);
    free(got);
    free(path);
    free(cmd);
}

/* A non-zero exit, a command that never reads its input (its stdin
 * closes under us: no SIGPIPE may kill the test), and a command that is
 * not there: all counted as failed, and the next event still goes. */
static void
test_failures_counted(void **state)
{
    fixture_t *f = *state;
    char *fails = s_script(f, "fails", "cat > /dev/null; echo oops; exit 3\n");
    char *deaf = s_script(f, "deaf", "exit 4\n");
    char *missing = tu_path(f->dir, "missing");
    const char *cmds[] = {fails, deaf, missing};
    notify_t *nt = s_new(cmds, 3, 0, 0);
    char *big = malloc(512 * 1024);
    memset(big, ' ', 512 * 1024 - 1);
    memcpy(big, "{\"event\":\"deployment.failed\"}", 30);
    big[512 * 1024 - 1] = 0;
    s_send(nt, big);
    s_send(nt, "{\"event\":\"deployment.rolled_back\"}");
    assert_true(notify_drain(nt, DRAIN_MS));
    notify_stats_t s = s_stats(nt);
    assert_int_equal(s.failed, 6);
    assert_int_equal(s.delivered + s.timed_out + s.dropped, 0);
    notify_destroy(&nt);
    free(big);
    free(fails);
    free(deaf);
    free(missing);
}

/* A hanging notifier: send returns while it runs; at the time limit it is
 * killed with what it forked. */
static void
test_slow_notifier_killed(void **state)
{
    fixture_t *f = *state;
    char *slow = s_script(f, "slow",
                          "cat > /dev/null\n"
                          "sleep 30 & echo $! > @/bg.tmp\n"
                          "mv @/bg.tmp @/bg.pid\n"
                          "wait\n");
    notify_t *nt = s_new((const char *const[]){slow}, 1, 3000, 0);
    s_send(nt, "{\"event\":\"promotion.finished\"}");

    /* send returned; the child runs. */
    pid_t pid = 0;
    assert_int_equal(notify_pids(nt, &pid, 1), 1);
    char *bg_path = tu_path(f->dir, "bg.pid");
    char *bg_text = s_await_file(bg_path);
    pid_t bg = (pid_t)atoi(bg_text);
    assert_true(bg > 0);
    assert_int_equal(kill(pid, 0), 0);
    notify_stats_t s = s_stats(nt);
    assert_int_equal(s.in_flight, 1);
    assert_int_equal(s.delivered + s.failed + s.timed_out, 0);

    assert_true(notify_drain(nt, DRAIN_MS));
    s = s_stats(nt);
    assert_int_equal(s.timed_out, 1);
    assert_int_equal(s.in_flight + s.delivered + s.failed, 0);
    /* Reaped by the actor, not a zombie of ours. */
    assert_int_equal(kill(pid, 0), -1);
    assert_int_equal(errno, ESRCH);
    assert_true(s_gone(bg));
    notify_destroy(&nt);
    free(bg_text);
    free(bg_path);
    free(slow);
}

/* Queue of 2: the first event runs, two wait, the rest are dropped. */
static void
test_queue_overflow_dropped(void **state)
{
    fixture_t *f = *state;
    char *slow = s_script(f, "slow", "cat > /dev/null; exec sleep 30\n");
    notify_t *nt = s_new((const char *const[]){slow}, 1, 60 * 1000, 2);
    for (int i = 0; i < 5; i++) {
        s_send(nt, "{\"event\":\"approval.given\"}");
    }
    notify_stats_t s = s_stats(nt);
    assert_int_equal(s.in_flight, 1);
    assert_int_equal(s.queued, 2);
    assert_int_equal(s.dropped, 2);
    assert_false(notify_drain(nt, 10)); /* still busy */
    notify_destroy(&nt);
    free(slow);
}

/* destroy does not wait for the children: it kills and reaps them. */
static void
test_destroy_leaves_nothing_behind(void **state)
{
    fixture_t *f = *state;
    char *slow1 = s_script(f, "s1", "cat > /dev/null; exec sleep 30\n");
    char *slow2 = s_script(f, "s2", "exec sleep 30\n");
    const char *cmds[] = {slow1, slow2};
    notify_t *nt = s_new(cmds, 2, 60 * 1000, 0);
    s_send(nt, "{\"event\":\"release.created\"}");
    s_send(nt, "{\"event\":\"release.created\"}");
    pid_t pids[4] = {0};
    assert_int_equal(notify_pids(nt, pids, 4), 2);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(kill(pids[i], 0), 0);
    }
    notify_destroy(&nt);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(kill(pids[i], 0), -1);
        assert_int_equal(errno, ESRCH);
    }
    notify_destroy(&nt); /* NULL is fine */
    notify_destroy(NULL);
    free(slow1);
    free(slow2);
}

static void
test_bad_config_refused(void **state)
{
    (void)state;
    hoist_error_t err = {0};
    const char *relative[] = {"bin/notify"};
    notify_config_t cfg = {.commands = relative, .n_commands = 1};
    assert_null(notify_new(&cfg, &err));
    assert_int_equal(err.code, HOIST_ERR_USAGE);
    assert_contains(err.msg, "must be an absolute path");
    const char *many[NOTIFY_MAX_COMMANDS + 1];
    for (size_t i = 0; i <= NOTIFY_MAX_COMMANDS; i++) {
        many[i] = "/bin/true";
    }
    cfg = (notify_config_t){.commands = many,
                            .n_commands = NOTIFY_MAX_COMMANDS + 1};
    assert_null(notify_new(&cfg, &err));
    cfg = (notify_config_t){.commands = NULL, .n_commands = 1};
    assert_null(notify_new(&cfg, &err));
    assert_null(notify_new(NULL, &err));
    /* No commands: a notifier that sends nowhere. */
    cfg = (notify_config_t){0};
    notify_t *nt = notify_new(&cfg, &err);
    assert_non_null(nt);
    s_send(nt, "{\"event\":\"x\"}");
    assert_true(notify_drain(nt, DRAIN_MS));
    notify_stats_t s = s_stats(nt);
    assert_int_equal(s.delivered + s.failed + s.dropped, 0);
    notify_destroy(&nt);
}

static void
test_bad_events_refused(void **state)
{
    fixture_t *f = *state;
    char *ok = s_script(f, "ok", "cat > /dev/null\n");
    notify_t *nt = s_new((const char *const[]){ok}, 1, 0, 0);
    hoist_error_t err = {0};
    assert_int_equal(notify_send(nt, "not json", &err), HOIST_ERR_USAGE);
    assert_contains(err.msg, "must be a JSON object");
    assert_int_equal(notify_send(nt, "[1,2]", &err), HOIST_ERR_USAGE);
    assert_int_equal(notify_send(nt, NULL, &err), HOIST_ERR_USAGE);
    char *huge = malloc(NOTIFY_EVENT_MAX + 2);
    memset(huge, ' ', NOTIFY_EVENT_MAX + 1);
    huge[NOTIFY_EVENT_MAX + 1] = 0;
    assert_int_equal(notify_send(nt, huge, &err), HOIST_ERR_LIMIT);
    /* An event without a type still goes. */
    s_send(nt, "{\"app\":\"web\"}");
    assert_true(notify_drain(nt, DRAIN_MS));
    notify_stats_t s = s_stats(nt);
    assert_int_equal(s.delivered, 1);
    assert_int_equal(s.dropped + s.failed, 0);
    notify_destroy(&nt);
    free(huge);
    free(ok);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_events_arrive_whole, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_clean_environment, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_failures_counted, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_slow_notifier_killed, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_queue_overflow_dropped, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_destroy_leaves_nothing_behind,
                                        s_setup, s_teardown),
        cmocka_unit_test(test_bad_config_refused),
        cmocka_unit_test_setup_teardown(test_bad_events_refused, s_setup,
                                        s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
