/*
 * test_hooks: real /bin/sh children: exit codes, signals, a clean
 * environment, the working directory, time limits that kill the whole
 * process group, hooks that leave daemons holding the pipe, the output
 * ring, and user switching.
 */
#include "testutil.h"
#include "monotime.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hooks.h"

#define BASE_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* Runs COMMAND in DIR with the given limits; fills RES and ERR. */
static hoist_err_t
s_run(const char *command, const char *dir, const char *const *env,
      uint64_t timeout_ms, size_t output_max, hooks_result_t *res,
      hoist_error_t *err)
{
    hooks_cmd_t cmd = {.command = command,
                       .dir = dir,
                       .env = env,
                       .timeout_ms = timeout_ms,
                       .output_max = output_max};
    if (err) {
        memset(err, 0, sizeof *err);
    }
    return hooks_run(&cmd, res, err);
}

/* Asserts that HAYSTACK does not contain NEEDLE. */
static void
s_assert_absent(const char *haystack, const char *needle)
{
    if (strstr(haystack, needle)) {
        print_error("did not expect \"%s\" in:\n%s\n", needle, haystack);
        fail();
    }
}

/* Reads the pid a hook wrote to DIR/NAME. */
static pid_t
s_read_pid(const char *dir, const char *name)
{
    char *path = tu_path(dir, name);
    char *text = tu_read(path, NULL);
    assert_non_null(text);
    pid_t pid = (pid_t)atoi(text);
    assert_true(pid > 1);
    free(text);
    free(path);
    return pid;
}

/* True once PID is gone or a zombie (dead, but our container's init may
 * not reap orphans), polling for up to two seconds. */
static bool
s_pid_dead(pid_t pid)
{
    for (int i = 0; i < 200; i++) {
        if (kill(pid, 0) < 0 && errno == ESRCH) {
            return true;
        }
        char path[64], state = '?';
        snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
        FILE *f = fopen(path, "r");
        if (f) {
            /* "PID (COMM) STATE ...": sleep's comm has no ')'. */
            int got = fscanf(f, "%*d (%*[^)]) %c", &state);
            fclose(f);
            if (got == 1 && (state == 'Z' || state == 'X')) {
                return true;
            }
        }
        usleep(10 * 1000);
    }
    return false;
}

static void
test_exit_zero(void **state)
{
    (void)state;
    hooks_result_t res;
    hoist_error_t err;
    assert_int_equal(
        s_run("echo hello; echo oops >&2", "/", NULL, 0, 0, &res, &err),
        HOIST_OK);
    assert_int_equal(res.exit_code, 0);
    assert_int_equal(res.signal, 0);
    assert_false(res.timed_out);
    assert_false(res.truncated);
    assert_string_equal(res.output, "hello\noops\n");
    assert_int_equal(res.output_len, 11);
    hooks_result_clear(&res);
    assert_null(res.output);
}

static void
test_exit_nonzero(void **state)
{
    (void)state;
    hooks_result_t res;
    hoist_error_t err;
    assert_int_equal(s_run("echo failing; exit 3", "/", NULL, 0, 0, &res, &err),
                     HOIST_ERR_HOOK);
    assert_int_equal(err.code, HOIST_ERR_HOOK);
    assert_string_equal(err.msg, "'echo failing; exit 3' exited 3");
    assert_int_equal(res.exit_code, 3);
    assert_int_equal(res.signal, 0);
    assert_string_equal(res.output, "failing\n");
    hooks_result_clear(&res);
}

static void
test_killed_by_signal(void **state)
{
    (void)state;
    hooks_result_t res;
    hoist_error_t err;
    assert_int_equal(
        s_run("echo bye; kill -KILL $$", "/", NULL, 0, 0, &res, &err),
        HOIST_ERR_HOOK);
    assert_int_equal(res.exit_code, -1);
    assert_int_equal(res.signal, SIGKILL);
    assert_false(res.timed_out);
    assert_contains(err.msg, "killed by signal 9 (SIGKILL)");
    assert_string_equal(res.output, "bye\n");
    hooks_result_clear(&res);
}

static void
test_no_result_wanted(void **state)
{
    (void)state;
    hoist_error_t err;
    assert_int_equal(s_run("echo x; exit 1", "/", NULL, 0, 0, NULL, &err),
                     HOIST_ERR_HOOK);
    assert_int_equal(s_run("true", "/", NULL, 0, 0, NULL, NULL), HOIST_OK);
}

static void
test_env_is_clean(void **state)
{
    (void)state;
    const char *env[] = {"HOIST_APP=web", "HOIST_VERSION=1.2.0",
                         "HOIST_ENV=staging", NULL};
    assert_int_equal(setenv("HOIST_TEST_LEAK_MARKER", "secret", 1), 0);
    hooks_result_t res;
    hoist_error_t err;
    /* The shell's initial environment, exactly as exec'd. */
    assert_int_equal(
        s_run("tr '\\0' '\\n' < /proc/$$/environ", "/", env, 0, 0, &res, &err),
        HOIST_OK);
    assert_contains(res.output, "HOIST_APP=web\n");
    assert_contains(res.output, "HOIST_VERSION=1.2.0\n");
    assert_contains(res.output, "HOIST_ENV=staging\n");
    assert_contains(res.output, "PATH=" BASE_PATH "\n");
    assert_contains(res.output, "LANG=C.UTF-8\n");
    struct passwd *pw = getpwuid(geteuid());
    if (pw) {
        char home[4096];
        snprintf(home, sizeof home, "HOME=%s\n", pw->pw_dir);
        assert_contains(res.output, home);
    }
    s_assert_absent(res.output, "HOIST_TEST_LEAK_MARKER");
    s_assert_absent(res.output, "secret");
    unsetenv("HOIST_TEST_LEAK_MARKER");
    hooks_result_clear(&res);
}

static void
test_env_overrides_defaults(void **state)
{
    (void)state;
    const char *env[] = {"PATH=/opt/hoist/bin", NULL};
    hooks_result_t res;
    hoist_error_t err;
    assert_int_equal(s_run("echo \"$PATH\"; "
                           "/usr/bin/tr '\\0' '\\n' < /proc/$$/environ",
                           "/", env, 0, 0, &res, &err),
                     HOIST_OK);
    /* Replaced, not added twice. */
    assert_true(strncmp(res.output, "/opt/hoist/bin\n", 15) == 0);
    assert_contains(res.output, "\nPATH=/opt/hoist/bin\n");
    s_assert_absent(res.output, BASE_PATH);
    hooks_result_clear(&res);
}

static void
test_working_dir(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    char *expect = NULL;
    assert_true(asprintf(&expect, "%s\n", dir) > 0);
    hooks_result_t res;
    hoist_error_t err;
    assert_int_equal(s_run("pwd -P", dir, NULL, 0, 0, &res, &err), HOIST_OK);
    assert_string_equal(res.output, expect);
    hooks_result_clear(&res);
    free(expect);
    tu_rmtree(dir);
}

static void
test_missing_dir(void **state)
{
    (void)state;
    hooks_result_t res = {0};
    hoist_error_t err;
    assert_int_equal(
        s_run("true", "/nonexistent/hoist", NULL, 0, 0, &res, &err),
        HOIST_ERR_IO);
    assert_contains(err.msg, "cannot enter directory /nonexistent/hoist");
    assert_contains(err.msg, "No such file or directory");
    assert_null(res.output);
}

static void
test_stdin_and_fds(void **state)
{
    (void)state;
    /* A descriptor the agent opened without O_CLOEXEC must not reach the
     * hook. */
    int leak = open("/dev/zero", O_RDONLY);
    assert_true(leak > 2);
    /* Our own stdin may already be /dev/null; make it something else so
     * that inheriting it would show. */
    int saved = dup(0);
    assert_true(saved >= 0);
    assert_int_equal(dup2(leak, 0), 0);
    char cmd[256];
    snprintf(cmd, sizeof cmd,
             "readlink /proc/$$/fd/0; "
             "if [ -e /proc/$$/fd/%d ]; then echo LEAK; else echo CLEAN; fi",
             leak);
    hooks_result_t res;
    hoist_error_t err;
    hoist_err_t rc = s_run(cmd, "/", NULL, 0, 0, &res, &err);
    dup2(saved, 0);
    close(saved);
    assert_int_equal(rc, HOIST_OK);
    assert_string_equal(res.output, "/dev/null\nCLEAN\n");
    hooks_result_clear(&res);
    close(leak);
}

static void
test_timeout_kills_group(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    hooks_result_t res;
    hoist_error_t err;
    uint64_t t0 = monotime_ms();
    assert_int_equal(s_run("sleep 100 & echo $! > child.pid; echo waiting; "
                           "sleep 100",
                           dir, NULL, 300, 0, &res, &err),
                     HOIST_ERR_TIMEOUT);
    uint64_t took = monotime_ms() - t0;
    assert_true(took >= 300);
    assert_true(took < 2000);
    assert_true(res.timed_out);
    assert_int_equal(res.exit_code, -1);
    assert_int_equal(res.signal, SIGTERM);
    assert_string_equal(res.output, "waiting\n");
    assert_contains(err.msg, "timed out after 300 ms");
    assert_true(s_pid_dead(s_read_pid(dir, "child.pid")));
    hooks_result_clear(&res);
    tu_rmtree(dir);
}

static void
test_timeout_escalates_to_sigkill(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    hooks_result_t res;
    hoist_error_t err;
    uint64_t t0 = monotime_ms();
    /* SIGTERM is ignored by the shell and, inherited, by its child. */
    assert_int_equal(s_run("trap '' TERM; sleep 100 & echo $! > child.pid; "
                           "sleep 100",
                           dir, NULL, 200, 0, &res, &err),
                     HOIST_ERR_TIMEOUT);
    uint64_t took = monotime_ms() - t0;
    assert_true(took >= 2200); /* the SIGTERM grace was given */
    assert_true(took < 4000);
    assert_true(res.timed_out);
    assert_int_equal(res.signal, SIGKILL);
    assert_true(s_pid_dead(s_read_pid(dir, "child.pid")));
    hooks_result_clear(&res);
    tu_rmtree(dir);
}

static void
test_daemon_holding_pipe(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    hooks_result_t res;
    hoist_error_t err;
    uint64_t t0 = monotime_ms();
    assert_int_equal(s_run("sleep 100 & echo $! > child.pid; echo started", dir,
                           NULL, 10000, 0, &res, &err),
                     HOIST_OK);
    assert_true(monotime_ms() - t0 < 3000);
    assert_int_equal(res.exit_code, 0);
    assert_false(res.timed_out);
    assert_string_equal(res.output, "started\n");
    /* Left in the hook's group, it was cleaned up with it. */
    assert_true(s_pid_dead(s_read_pid(dir, "child.pid")));
    hooks_result_clear(&res);
    tu_rmtree(dir);
}

static void
test_escaped_daemon_holding_pipe(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    hooks_result_t res;
    hoist_error_t err;
    uint64_t t0 = monotime_ms();
    /* setsid puts the sleep beyond the reach of a group kill; hooks_run
     * must stop reading rather than wait for it. */
    assert_int_equal(s_run("setsid sleep 100 & echo $! > child.pid; "
                           "echo started",
                           dir, NULL, 10000, 0, &res, &err),
                     HOIST_OK);
    assert_true(monotime_ms() - t0 < 1500);
    assert_string_equal(res.output, "started\n");
    pid_t pid = s_read_pid(dir, "child.pid");
    assert_int_equal(kill(pid, 0), 0); /* it really escaped */
    kill(pid, SIGKILL);
    hooks_result_clear(&res);
    tu_rmtree(dir);
}

/* Writes LEN bytes of numbered lines to DIR/NAME; returns them. */
static char *
s_write_pattern(const char *dir, const char *name, size_t len)
{
    char *buf = malloc(len + 16);
    assert_non_null(buf);
    size_t n = 0;
    for (int i = 0; n < len; i++) {
        n += (size_t)snprintf(buf + n, 16, "line %07d\n", i);
    }
    char *path = tu_path(dir, name);
    tu_write(path, buf, len, 0644);
    free(path);
    return buf;
}

/* Runs `cat NAME` in DIR keeping OUTPUT_MAX bytes, and checks that exactly
 * the last ones of the LEN-byte file FULL were kept. */
static void
s_check_cap(const char *dir, const char *full, size_t len, size_t output_max,
            size_t keep, bool truncated)
{
    hooks_result_t res;
    hoist_error_t err;
    assert_int_equal(s_run("cat big.txt", dir, NULL, 0, output_max, &res, &err),
                     HOIST_OK);
    assert_int_equal(res.output_len, keep);
    assert_int_equal(res.truncated, truncated);
    assert_memory_equal(res.output, full + len - keep, keep);
    assert_int_equal(res.output[keep], '\0');
    hooks_result_clear(&res);
}

static void
test_output_capped(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    size_t mb = 1024 * 1024;
    char *full = s_write_pattern(dir, "big.txt", mb);
    s_check_cap(dir, full, mb, 0, 64 * 1024, true); /* the default */
    s_check_cap(dir, full, mb, 1000, 1000, true);   /* wraps mid-read */
    s_check_cap(dir, full, mb, mb, mb, false);      /* exactly full */
    s_check_cap(dir, full, mb, mb + 1, mb, false);
    free(full);
    tu_rmtree(dir);
}

static void
test_unknown_user(void **state)
{
    (void)state;
    hooks_cmd_t cmd = {
        .command = "true", .dir = "/", .user = "hoist-no-such-user"};
    hooks_result_t res = {0};
    hoist_error_t err = {0};
    assert_int_equal(hooks_run(&cmd, &res, &err), HOIST_ERR_USAGE);
    assert_contains(err.msg, "unknown user 'hoist-no-such-user'");
    assert_null(res.output);
}

static void
test_run_as_user(void **state)
{
    (void)state;
    if (geteuid() != 0) {
        skip();
    }
    struct passwd *pw = getpwnam("nobody");
    if (!pw) {
        skip();
    }
    char expect[4096];
    snprintf(expect, sizeof expect, "%u %u %s\n", (unsigned)pw->pw_uid,
             (unsigned)pw->pw_gid, pw->pw_dir);
    hooks_cmd_t cmd = {.command = "echo \"$(id -u) $(id -g) $HOME\"",
                       .dir = "/",
                       .user = "nobody"};
    hooks_result_t res;
    hoist_error_t err;
    assert_int_equal(hooks_run(&cmd, &res, &err), HOIST_OK);
    assert_string_equal(res.output, expect);
    hooks_result_clear(&res);
}

/* In a child that is not root, asks for user root; exits 0 when refused
 * with the expected error. */
static int
s_user_without_root(void)
{
    if (geteuid() == 0 && setuid(65534) < 0) {
        return 2;
    }
    hooks_cmd_t cmd = {.command = "true", .dir = "/", .user = "root"};
    hoist_error_t err = {0};
    hoist_err_t rc = hooks_run(&cmd, NULL, &err);
    return rc == HOIST_ERR_USAGE && strstr(err.msg, "needs the agent to run "
                                                    "as root")
               ? 0
               : 1;
}

static void
test_user_needs_root(void **state)
{
    (void)state;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        _exit(s_user_without_root());
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static void
test_tail(void **state)
{
    (void)state;
    char text[] = "one\ntwo\nthree\n";
    hooks_result_t res = {.output = text, .output_len = strlen(text)};
    assert_string_equal(hooks_result_tail(&res, 1), "three\n");
    assert_string_equal(hooks_result_tail(&res, 2), "two\nthree\n");
    assert_string_equal(hooks_result_tail(&res, 3), text);
    assert_string_equal(hooks_result_tail(&res, 9), text);
    assert_string_equal(hooks_result_tail(&res, 0), "");
    char bare[] = "a\nb";
    hooks_result_t r2 = {.output = bare, .output_len = 3};
    assert_string_equal(hooks_result_tail(&r2, 1), "b");
    hooks_result_t zero = {0};
    assert_string_equal(hooks_result_tail(&zero, 3), "");
    hooks_result_clear(&zero);
    hooks_result_clear(NULL);
}

int
main(void)
{
    /* A regression that hangs should fail in a minute, not at ctest's
     * limit. */
    alarm(60);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exit_zero),
        cmocka_unit_test(test_exit_nonzero),
        cmocka_unit_test(test_killed_by_signal),
        cmocka_unit_test(test_no_result_wanted),
        cmocka_unit_test(test_env_is_clean),
        cmocka_unit_test(test_env_overrides_defaults),
        cmocka_unit_test(test_working_dir),
        cmocka_unit_test(test_missing_dir),
        cmocka_unit_test(test_stdin_and_fds),
        cmocka_unit_test(test_timeout_kills_group),
        cmocka_unit_test(test_timeout_escalates_to_sigkill),
        cmocka_unit_test(test_daemon_holding_pipe),
        cmocka_unit_test(test_escaped_daemon_holding_pipe),
        cmocka_unit_test(test_output_capped),
        cmocka_unit_test(test_unknown_user),
        cmocka_unit_test(test_run_as_user),
        cmocka_unit_test(test_user_needs_root),
        cmocka_unit_test(test_tail),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
