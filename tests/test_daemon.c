/*
 * test_daemon: hoist-agent and hoist-controller as services. `run -n`
 * on good and bad config files (file:line:key messages), a flag winning
 * over the file, SIGHUP changing the controller's heartbeat (seen by an
 * agent's welcome) and a bad reload keeping the old one, and
 * READY=1/WATCHDOG=1/STOPPING=1 arriving on a NOTIFY_SOCKET this test
 * binds itself; the agent's watchdog stopping while its loop hangs, its
 * reload of the hook user and keep reaching the next install, and an app
 * a hook left running surviving the agent's stop.
 */
#include "testutil.h"

#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "fleetutil.h"
#include "monotime.h"

/* How many times NEEDLE occurs in the file at PATH (0 when missing). */
static int
s_count(const char *path, const char *needle)
{
    char *text = tu_read(path, NULL);
    int n = 0;
    for (const char *p = text; p && (p = strstr(p, needle)); p++) {
        n++;
    }
    free(text);
    return n;
}

/* Waits until NEEDLE occurs at least N times in the file at PATH. */
static void
s_wait_log(const char *path, const char *needle, int n)
{
    uint64_t until = monotime_ms() + WAIT_MS;
    while (s_count(path, needle) < n && monotime_ms() < until) {
        usleep(20 * 1000);
    }
    if (s_count(path, needle) < n) {
        char *text = tu_read(path, NULL);
        print_error("%s: no %d x '%s' in:\n%s\n", path, n, needle,
                    text ? text : "(missing)");
        free(text);
    }
    assert_true(s_count(path, needle) >= n);
}

/* A unix datagram socket at DIR/notify, as systemd's NOTIFY_SOCKET. */
static int
s_notify_socket(const char *dir, char *path, size_t len)
{
    snprintf(path, len, "%s/notify", dir);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    assert_true(strlen(path) < sizeof a.sun_path);
    memcpy(a.sun_path, path, strlen(path) + 1);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    struct timeval tv = {.tv_sec = 0, .tv_usec = 200 * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

/* Reads datagrams until one holds the line WANT ("READY=1"). */
static void
s_expect_notify(int fd, const char *want)
{
    uint64_t until = monotime_ms() + WAIT_MS;
    char buf[4096];
    while (monotime_ms() < until) {
        ssize_t n = recv(fd, buf, sizeof buf - 1, 0);
        if (n <= 0) {
            continue;
        }
        buf[n] = '\0';
        for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
            if (strcmp(line, want) == 0) {
                return;
            }
        }
    }
    fail_msg("no %s on the notify socket", want);
}

/* Runs ARGV, expecting exit WANT and NEEDLE in its output. */
static void
s_expect_run(const char *const *argv, int want, const char *needle)
{
    tu_run_t r = tu_run(argv, NULL);
    if (r.status != want) {
        print_error("%s %s: exit %d, want %d:\n%s\n", argv[0], argv[1],
                    r.status, want, r.out);
    }
    assert_int_equal(r.status, want);
    assert_contains(r.out, needle);
    tu_run_free(&r);
}

static void
test_agent_check(void **state)
{
    fleet_t *f = *state;
    char *token = fu_token(f, "dev");
    int i = fu_enroll(f, "chk-1", "dev", token, NULL);
    free(token);
    char *yml = tu_path(f->dir, "agent.yml");
    char text[PATH_MAX + 128];
    snprintf(text, sizeof text, "root: %s\nkeep: 3\nlog_level: warn\n",
             f->root[i]);
    tu_write(yml, text, (size_t)-1, 0644);
    const char *ok[] = {HOIST_AGENT_BIN, "run", "-n", "--config", yml, NULL};
    snprintf(text, sizeof text, "configuration ok: root %s, agent chk-1 in dev",
             f->root[i]);
    s_expect_run(ok, 0, text);
    s_expect_run(ok, 0, "log level warn");

    /* A flag wins over the file. */
    const char *level[] = {HOIST_AGENT_BIN, "run",   "-n", "--config", yml,
                           "--log-level",   "debug", NULL};
    s_expect_run(level, 0, "log level debug");
    tu_write(yml, "root: /nonexistent/hoist\n", (size_t)-1, 0644);
    s_expect_run(ok, 2, "/nonexistent/hoist/agent.conf does not exist");
    const char *root[] = {HOIST_AGENT_BIN, "run",      "-n", "--config", yml,
                          "--root",        f->root[i], NULL};
    s_expect_run(root, 0, "configuration ok");

    /* Strict: an unknown key and a wrong type name file, line and key. */
    snprintf(text, sizeof text, "root: %s\nkep: 3\n", f->root[i]);
    tu_write(yml, text, (size_t)-1, 0644);
    snprintf(text, sizeof text, "%s:2: unknown key 'kep'", yml);
    s_expect_run(ok, 2, text);
    tu_write(yml, "\nkeep: lots\n", (size_t)-1, 0644);
    snprintf(text, sizeof text, "%s:2: key 'keep'", yml);
    s_expect_run(ok, 2, text);
    tu_write(yml, "log_level: loud\n", (size_t)-1, 0644);
    snprintf(text, sizeof text, "%s:1: key 'log_level'", yml);
    s_expect_run(ok, 2, text);

    /* --config names a file that must exist. */
    unlink(yml);
    s_expect_run(ok, 2, "does not exist");
    free(yml);
}

static void
test_controller_check(void **state)
{
    fleet_t *f = *state;
    char *yml = tu_path(f->dir, "controller.yml");
    char text[PATH_MAX + 128];
    snprintf(text, sizeof text, "data_dir: %s\nheartbeat: 1s\n", f->data);
    tu_write(yml, text, (size_t)-1, 0644);
    const char *ok[] = {HOIST_CONTROLLER_BIN, "run", "-n",
                        "--config",           yml,   NULL};
    snprintf(text, sizeof text, "configuration ok: data dir %s", f->data);
    s_expect_run(ok, 0, text);
    s_expect_run(ok, 0, "heartbeat 1000 ms");
    const char *flag[] = {HOIST_CONTROLLER_BIN, "run", "-n", "--config", yml,
                          "--heartbeat",        "300", NULL};
    s_expect_run(flag, 0, "heartbeat 300 ms");

    snprintf(text, sizeof text, "data_dir: %s\nheartbeat: soon\n", f->data);
    tu_write(yml, text, (size_t)-1, 0644);
    snprintf(text, sizeof text, "%s:2: key 'heartbeat'", yml);
    s_expect_run(ok, 2, text);
    tu_write(yml, "# the defaults\nlisten: here\n", (size_t)-1, 0644);
    snprintf(text, sizeof text, "%s:2: unknown key 'listen'", yml);
    s_expect_run(ok, 2, text);
    tu_write(yml, "data_dir: /nonexistent/hoist\n", (size_t)-1, 0644);
    s_expect_run(ok, 2, "not a controller data directory");
    free(yml);
}

/* Restarts agent I and waits for its COUNT-th welcome at HB ms. */
static void
s_agent_sees(fleet_t *f, int i, const char *hb, int count)
{
    char log[PATH_MAX + 16], want[64];
    snprintf(log, sizeof log, "%s.log", f->root[i]);
    snprintf(want, sizeof want, "(heartbeat every %s ms)", hb);
    fu_stop(&f->agent[i], SIGTERM);
    fu_run_agent(f, i);
    s_wait_log(log, want, count);
}

/* Writes the controller's config with heartbeat HB to YML. */
static void
s_controller_yml(fleet_t *f, const char *yml, const char *hb)
{
    char text[PATH_MAX + 1024];
    snprintf(text, sizeof text,
             "data_dir: %s\nagent_endpoint: %s\napi_endpoint: %s\n"
             "heartbeat: %s\n",
             f->data, f->bound_agents, f->bound_api, hb);
    tu_write(yml, text, (size_t)-1, 0644);
}

static void
test_controller_reload_and_notify(void **state)
{
    fleet_t *f = *state;
    fu_stop(&f->controller, SIGTERM);
    char *yml = tu_path(f->dir, "controller.yml");
    char *log = tu_path(f->dir, "controller-yml.log");
    s_controller_yml(f, yml, "1s");

    char sock[PATH_MAX];
    int fd = s_notify_socket(f->dir, sock, sizeof sock);
    setenv("NOTIFY_SOCKET", sock, 1);
    setenv("WATCHDOG_USEC", "200000", 1);
    const char *argv[] = {HOIST_CONTROLLER_BIN, "run", "--config", yml, NULL};
    f->controller = fu_spawn(argv, log);
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
    s_expect_notify(fd, "READY=1");
    s_expect_notify(fd, "WATCHDOG=1");

    int i = fu_agent(f, "hb-1", "dev");
    char alog[PATH_MAX + 16];
    snprintf(alog, sizeof alog, "%s.log", f->root[i]);
    s_wait_log(alog, "(heartbeat every 1000 ms)", 1);

    /* SIGHUP applies a new heartbeat: the next welcome carries it. */
    s_controller_yml(f, yml, "300ms");
    kill(f->controller, SIGHUP);
    s_wait_log(log, "heartbeat: 1000 ms -> 300 ms", 1);
    s_expect_notify(fd, "RELOADING=1");
    s_agent_sees(f, i, "300", 1);

    /* A reload that fails keeps the heartbeat in force and says why. */
    s_controller_yml(f, yml, "soon");
    kill(f->controller, SIGHUP);
    s_wait_log(log, "reload failed, keeping the running configuration", 1);
    char where[PATH_MAX + 64];
    snprintf(where, sizeof where, "%s:4: key 'heartbeat'", yml);
    s_wait_log(log, where, 1);
    s_agent_sees(f, i, "300", 2);
    assert_int_equal(s_count(log, "(heartbeat every 1000 ms)"), 0);

    kill(f->controller, SIGTERM);
    s_expect_notify(fd, "STOPPING=1");
    fu_stop(&f->controller, SIGTERM);
    close(fd);
    free(yml);
    free(log);
}

static void
test_agent_reload_and_notify(void **state)
{
    fleet_t *f = *state;
    char *token = fu_token(f, "dev");
    int i = fu_enroll(f, "hup-1", "dev", token, NULL);
    free(token);
    char *yml = tu_path(f->dir, "agent.yml");
    char text[PATH_MAX + 64], log[PATH_MAX + 16], sock[PATH_MAX];
    snprintf(text, sizeof text, "root: %s\n", f->root[i]);
    tu_write(yml, text, (size_t)-1, 0644);
    snprintf(log, sizeof log, "%s.log", f->root[i]);

    int fd = s_notify_socket(f->dir, sock, sizeof sock);
    setenv("NOTIFY_SOCKET", sock, 1);
    const char *argv[] = {HOIST_AGENT_BIN, "run", "--config", yml, NULL};
    f->agent[i] = fu_spawn(argv, log);
    unsetenv("NOTIFY_SOCKET");
    /* Without a watchdog (test_agent_watchdog_follows_loop has one):
     * nothing reads this socket during the deploys below, and a full
     * datagram queue would block the agent's sd_notify. */
    s_expect_notify(fd, "READY=1");
    fu_wait_online(f, "hup-1");

    snprintf(text, sizeof text, "root: %s\nlog_level: debug\n", f->root[i]);
    tu_write(yml, text, (size_t)-1, 0644);
    kill(f->agent[i], SIGHUP);
    s_expect_notify(fd, "RELOADING=1");
    s_wait_log(log, "log_level: info -> debug", 1);
    tu_write(yml, "log_level: [debug]\n", (size_t)-1, 0644);
    kill(f->agent[i], SIGHUP);
    s_expect_notify(fd, "RELOADING=1");
    s_wait_log(log, "reload failed, keeping the running configuration", 1);
    snprintf(text, sizeof text, "root: %s\nuser: no-such-user-here\n",
             f->root[i]);
    tu_write(yml, text, (size_t)-1, 0644);
    kill(f->agent[i], SIGHUP);
    s_expect_notify(fd, "RELOADING=1");
    s_wait_log(log, "no such user for user:", 1);

    /* keep and the hook user reach the next install. Every directory on
     * the way must let the new user in. */
    const bool as_root = geteuid() == 0;
    snprintf(text, sizeof text, "root: %s\nkeep: 2\nuser: %s\n", f->root[i],
             as_root ? "nobody" : fu_me());
    tu_write(yml, text, (size_t)-1, 0644);
    kill(f->agent[i], SIGHUP);
    s_expect_notify(fd, "RELOADING=1");
    s_wait_log(log, "keep: 5 -> 2", 1);
    if (as_root) {
        s_wait_log(log, "user: 'root' -> 'nobody'", 1);
        assert_int_equal(chmod(f->dir, 0711), 0);
        assert_int_equal(chmod(f->root[i], 0711), 0);
    }
    /* The hook writes where its user may: a directory of the test's. */
    char out[PATH_MAX + 16], spec[PATH_MAX + 64], path[PATH_MAX + 64];
    snprintf(out, sizeof out, "%s/out", f->dir);
    assert_int_equal(mkdir(out, 0777), 0);
    assert_int_equal(chmod(out, 0777), 0);
    snprintf(spec, sizeof spec,
             "hooks:\n  activate: id -un > %s/whoami-$HOIST_VERSION\n", out);
    for (int v = 1; v <= 3; v++) {
        char version[16];
        snprintf(version, sizeof version, "1.0.%d", v);
        /* A release's top directory has the mode its archive gives it. */
        snprintf(path, sizeof path, "%s/src-%s", f->dir, version);
        assert_int_equal(mkdir(path, 0755), 0);
        fu_release(f, version, v, spec);
        json_decref(fu_deploy_wait(f, version, "dev", 0));
    }
    /* keep 2: 1.0.1 was pruned when 1.0.3 went live. */
    struct stat st;
    snprintf(path, sizeof path, "%s/apps/web/releases/1.0.1", f->root[i]);
    assert_int_equal(stat(path, &st), -1);
    snprintf(path, sizeof path, "%s/apps/web/releases/1.0.2", f->root[i]);
    assert_int_equal(stat(path, &st), 0);
    snprintf(path, sizeof path, "%s/whoami-1.0.3", out);
    char *who = tu_read(path, NULL);
    assert_non_null(who);
    char want[64];
    snprintf(want, sizeof want, "%s\n", as_root ? "nobody" : fu_me());
    assert_string_equal(who, want);
    free(who);

    kill(f->agent[i], SIGTERM);
    s_expect_notify(fd, "STOPPING=1");
    fu_stop(&f->agent[i], SIGTERM);
    close(fd);
    free(yml);
}

/* The watchdog pings come from the agent's loop: a loop that hangs
 * (HOIST_STALL holds every tick for 1.5 s) leaves gaps the length of the
 * hang, where pings from anywhere else would keep coming every 100 ms. */
static void
test_agent_watchdog_follows_loop(void **state)
{
    fleet_t *f = *state;
    char *token = fu_token(f, "dev");
    int i = fu_enroll(f, "wd-1", "dev", token, NULL);
    free(token);
    char log[PATH_MAX + 16], sock[PATH_MAX];
    snprintf(log, sizeof log, "%s.log", f->root[i]);
    int fd = s_notify_socket(f->dir, sock, sizeof sock);
    setenv("NOTIFY_SOCKET", sock, 1);
    setenv("WATCHDOG_USEC", "200000", 1);
    setenv("HOIST_STALL", "agent-loop", 1);
    setenv("HOIST_STALL_MS", "1500", 1);
    const char *argv[] = {HOIST_AGENT_BIN, "run",   "--root", f->root[i],
                          "--user",        fu_me(), NULL};
    f->agent[i] = fu_spawn(argv, log);
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
    unsetenv("HOIST_STALL");
    unsetenv("HOIST_STALL_MS");
    s_expect_notify(fd, "READY=1");
    s_expect_notify(fd, "WATCHDOG=1");
    uint64_t last = monotime_ms(), widest = 0;
    for (int pings = 0; pings < 4;) {
        char buf[256];
        ssize_t n = recv(fd, buf, sizeof buf - 1, 0);
        uint64_t now = monotime_ms();
        if (n > 0) {
            buf[n] = '\0';
            if (strstr(buf, "WATCHDOG=1")) {
                widest = now - last > widest ? now - last : widest;
                last = now;
                pings++;
            }
        }
        assert_true(now - last < WAIT_MS);
    }
    assert_true(widest >= 1000);
    fu_stop(&f->agent[i], SIGTERM);
    close(fd);
}

/* True when PID exists and is not a zombie (a killed orphan may wait to
 * be reaped: kill(pid, 0) alone would still succeed). */
static bool
s_running(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    char *text = tu_read(path, NULL);
    const char *end = text ? strrchr(text, ')') : NULL;
    bool running = end && end[1] == ' ' && end[2] != 'Z' && end[2] != 'X';
    free(text);
    return running;
}

/* What a hook starts and leaves running is the app's, not the agent's:
 * stopping the agent (a restart, a package upgrade: the unit's
 * KillMode=process leaves the rest to the agent) does not stop it. */
static void
test_agent_stop_keeps_app(void **state)
{
    fleet_t *f = *state;
    int i = fu_agent(f, "app-1", "dev");
    char spec[PATH_MAX + 128], pidfile[PATH_MAX + 16];
    snprintf(pidfile, sizeof pidfile, "%s/app.pid", f->dir);
    snprintf(spec, sizeof spec,
             "hooks:\n  activate: nohup sleep 300 >/dev/null 2>&1 & echo $! "
             "> %s\n",
             pidfile);
    fu_release(f, "1.0.0", 1, spec);
    json_decref(fu_deploy_wait(f, "1.0.0", "dev", 0));
    char *text = tu_read(pidfile, NULL);
    assert_non_null(text);
    pid_t app = (pid_t)strtol(text, NULL, 10);
    free(text);
    assert_true(app > 0);
    assert_int_equal(kill(app, 0), 0);
    fu_stop(&f->agent[i], SIGTERM);
    usleep(200 * 1000);
    bool alive = s_running(app);
    kill(app, SIGKILL);
    assert_true(alive);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_agent_check, fu_setup,
                                        fu_teardown),
        cmocka_unit_test_setup_teardown(test_controller_check, fu_setup,
                                        fu_teardown),
        cmocka_unit_test_setup_teardown(test_controller_reload_and_notify,
                                        fu_setup, fu_teardown),
        cmocka_unit_test_setup_teardown(test_agent_stop_keeps_app, fu_setup,
                                        fu_teardown),
        cmocka_unit_test_setup_teardown(test_agent_watchdog_follows_loop,
                                        fu_setup, fu_teardown),
        cmocka_unit_test_setup_teardown(test_agent_reload_and_notify, fu_setup,
                                        fu_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, fu_kill_leftovers);
}
