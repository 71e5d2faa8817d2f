/*
 * test_package: what `make package` built. The .deb files are not built by
 * `make check` (that takes a build of its own), so every test here is
 * skipped unless HOIST_PACKAGE_DIR names the directory holding them, as
 * .ci/run does after `make package`. Each package is unpacked with
 * `dpkg -x` into a scratch directory and its files and their modes are
 * checked, its conffiles read back with `dpkg-deb -I`, and the shipped
 * binaries are checked to run and to carry no test-only fault points.
 * Last, the three unpacked programs (not the build's) make a fleet of one
 * on 127.0.0.1: a controller, the CLI with its admin config, an agent
 * enrolled with a real token and seen online.
 */
#include "fleetutil.h"
#include "testutil.h"

#include <glob.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sodium.h>
#include <sys/socket.h>

#include "monotime.h"

/* One package and what it must hold. */
typedef struct {
    const char *name;     /* the package and its program */
    const char *conffile; /* its config under /etc/hoist, or NULL */
    bool maint_scripts;   /* postinst, prerm and postrm */
    const char *postinst; /* a part of the postinst, or NULL */
} package_t;

static const package_t s_agent = {"hoist-agent", "/etc/hoist/agent.yml", true,
                                  "deb-systemd-helper enable"};
static const package_t s_controller = {
    "hoist-controller", "/etc/hoist/controller.yml", true, "adduser --system"};
static const package_t s_cli = {"hoist", NULL, false, NULL};

/* The directory of built packages, or skips the test when there is none. */
static const char *
s_package_dir(void)
{
    const char *dir = getenv("HOIST_PACKAGE_DIR");
    if (!dir || !dir[0]) {
        print_message("HOIST_PACKAGE_DIR is not set: run `make package` and "
                      "point it at the .deb files to check them\n");
        skip();
    }
    return dir;
}

/* The one NAME_*.deb in DIR, malloc'd; fails the test unless there is
 * exactly one. */
static char *
s_find_deb(const char *dir, const char *name)
{
    char pattern[4096];
    snprintf(pattern, sizeof pattern, "%s/%s_*.deb", dir, name);
    glob_t g;
    int rc = glob(pattern, 0, NULL, &g);
    if (rc != 0 || g.gl_pathc != 1) {
        print_error("expected exactly one %s, found %zu\n", pattern,
                    rc == 0 ? g.gl_pathc : 0);
        globfree(&g);
        fail();
    }
    char *deb = strdup(g.gl_pathv[0]);
    globfree(&g);
    return deb;
}

/* Runs ARGV, asserts it exits 0 and returns its output (the caller
 * frees it). */
static char *
s_output(const char *const *argv)
{
    tu_run_t r = tu_run(argv, NULL);
    if (r.status != 0) {
        print_error("%s failed (%d):\n%s\n", argv[0], r.status, r.out);
    }
    assert_int_equal(r.status, 0);
    return r.out;
}

/* Asserts that ROOT/REL is a regular file with exactly MODE. */
static void
s_assert_file(const char *root, const char *rel, unsigned mode)
{
    char *path = tu_path(root, rel);
    struct stat st;
    if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
        print_error("the package has no file %s\n", rel);
        fail();
    }
    if ((st.st_mode & 07777) != mode) {
        print_error("%s has mode %04o, not %04o\n", rel,
                    (unsigned)(st.st_mode & 07777), mode);
        fail();
    }
    free(path);
}

/* Asserts that the file at PATH does not contain NEEDLE. */
static void
s_assert_lacks(const char *path, const char *needle)
{
    size_t len = 0;
    char *data = tu_read(path, &len);
    assert_non_null(data);
    if (memmem(data, len, needle, strlen(needle))) {
        print_error("%s contains \"%s\"\n", path, needle);
        fail();
    }
    free(data);
}

/* Asserts that every line of CONFFILES (dpkg's list) names a file in
 * ROOT, and that WANT is one of them. */
static void
s_assert_conffiles(const char *root, char *conffiles, const char *want)
{
    bool found = false;
    char *save = NULL;
    for (char *line = strtok_r(conffiles, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        assert_true(line[0] == '/');
        s_assert_file(root, line + 1, 0644);
        found = found || strcmp(line, want) == 0;
    }
    if (!found) {
        print_error("%s is not among the conffiles\n", want);
        fail();
    }
}

/* Checks the control part of DEB: its version, its conffiles and its
 * maintainer scripts. */
static void
s_check_control(const package_t *p, const char *deb, const char *root)
{
    const char *const version[] = {"/usr/bin/dpkg-deb", "-f", deb, "Version",
                                   NULL};
    char *out = s_output(version);
    assert_contains(out, HOIST_VERSION "-");
    free(out);
    if (p->conffile) {
        const char *const argv[] = {"/usr/bin/dpkg-deb", "-I", deb, "conffiles",
                                    NULL};
        out = s_output(argv);
        s_assert_conffiles(root, out, p->conffile);
        free(out);
    }
    if (!p->maint_scripts) {
        return;
    }
    static const char *const scripts[] = {"postinst", "prerm", "postrm"};
    for (size_t i = 0; i < sizeof scripts / sizeof *scripts; i++) {
        const char *const argv[] = {"/usr/bin/dpkg-deb", "-I", deb, scripts[i],
                                    NULL};
        out = s_output(argv);
        assert_contains(out, "#!/bin/sh");
        if (i == 0 && p->postinst) {
            assert_contains(out, p->postinst);
        }
        free(out);
    }
}

/* Checks the files of package P once unpacked into ROOT. */
static void
s_check_tree(const package_t *p, const char *root)
{
    char rel[256];
    snprintf(rel, sizeof rel, "usr/bin/%s", p->name);
    s_assert_file(root, rel, 0755);
    /* Shipped binaries are built without the crash tests' kill points. */
    char *bin = tu_path(root, rel);
    s_assert_lacks(bin, "HOIST_FAULT");
    free(bin);
    snprintf(rel, sizeof rel, "usr/share/man/man1/%s.1.gz", p->name);
    s_assert_file(root, rel, 0644);
    snprintf(rel, sizeof rel, "usr/share/doc/%s/copyright", p->name);
    s_assert_file(root, rel, 0644);
    snprintf(rel, sizeof rel, "usr/share/doc/%s/changelog.Debian.gz", p->name);
    s_assert_file(root, rel, 0644);
    if (!p->conffile) {
        char *etc = tu_path(root, "etc");
        assert_false(tu_exists(etc));
        free(etc);
        return;
    }
    snprintf(rel, sizeof rel, "lib/systemd/system/%s.service", p->name);
    s_assert_file(root, rel, 0644);
    char *unit = tu_path(root, rel);
    char *text = tu_read(unit, NULL);
    assert_non_null(text);
    char exec[128];
    snprintf(exec, sizeof exec, "ExecStart=/usr/bin/%s run ", p->name);
    assert_contains(text, exec);
    assert_contains(text, "Restart=on-failure");
    assert_contains(text, "WantedBy=multi-user.target");
    free(text);
    free(unit);
}

/* Unpacks the package of STATE and checks it whole. */
static void
test_package(void **state)
{
    const package_t *p = *state;
    const char *dir = s_package_dir();
    char *deb = s_find_deb(dir, p->name);
    char *root = tu_tmpdir();
    const char *const argv[] = {"/usr/bin/dpkg", "-x", deb, root, NULL};
    free(s_output(argv));
    s_check_tree(p, root);
    s_check_control(p, deb, root);
    tu_rmtree(root);
    free(deb);
}

/* The unpacked programs run: the CLI reports this tree's version, the
 * daemons answer a bad command line with their usage and exit 2. */
static void
test_programs_run(void **state)
{
    (void)state;
    const char *dir = s_package_dir();
    static const package_t *const all[] = {&s_cli, &s_agent, &s_controller};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) {
        char *deb = s_find_deb(dir, all[i]->name);
        char *root = tu_tmpdir();
        const char *const x[] = {"/usr/bin/dpkg", "-x", deb, root, NULL};
        free(s_output(x));
        char rel[64];
        snprintf(rel, sizeof rel, "usr/bin/%s", all[i]->name);
        char *bin = tu_path(root, rel);
        const char *const argv[] = {
            bin, i == 0 ? "--version" : "no-such-command", NULL};
        tu_run_t r = tu_run(argv, NULL);
        assert_int_equal(r.status, i == 0 ? 0 : 2);
        assert_contains(r.out, i == 0 ? "hoist " HOIST_VERSION : "usage");
        tu_run_free(&r);
        free(bin);
        tu_rmtree(root);
        free(deb);
    }
}

/* The fleet of test_packaged_fleet, kept in the test's state so that its
 * teardown kills and removes it whatever the test got to. */
typedef struct {
    char *dir;     /* everything: the unpacked tree, data, keys, logs */
    char *usr_bin; /* DIR/pkg/usr/bin: the packages' programs */
    char *data;    /* the controller's data directory */
    char *conf;    /* DATA/cli.conf */
    pid_t controller;
    pid_t agent;
} pkg_fleet_t;

/* True when TCP PORT on 127.0.0.1 can be bound now. */
static bool
s_port_free(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bool ok = fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
    if (fd >= 0) {
        close(fd);
    }
    return ok;
}

/* A random pair of free ports below the kernel's ephemeral range, as
 * fleetutil picks them (its s_port_pair is file-local). */
static int
s_port_pair(void)
{
    for (int i = 0; i < 200; i++) {
        int p = 20000 + (int)(randombytes_uniform(6000) * 2);
        if (s_port_free(p) && s_port_free(p + 1)) {
            return p;
        }
    }
    fail_msg("no free pair of ports on 127.0.0.1 in 20000-32000");
    return -1;
}

/* The unpacked program NAME (malloc'd). */
static char *
s_bin(const pkg_fleet_t *f, const char *name)
{
    return tu_path(f->usr_bin, name);
}

/* Prints the log NAME of F's directory, to explain a failure. */
static void
s_dump_log(const pkg_fleet_t *f, const char *name)
{
    char *path = tu_path(f->dir, name);
    char *text = tu_read(path, NULL);
    print_error("--- %s:\n%s\n", name, text ? text : "(none)");
    free(text);
    free(path);
}

/* Runs the unpacked hoist with ARGS (NULL-terminated) and the admin's
 * config; asserts it exits 0 and returns its output (the caller frees). */
static char *
s_hoist(const pkg_fleet_t *f, const char *const *args)
{
    const char *argv[16];
    size_t n = 0;
    char *bin = s_bin(f, "hoist");
    argv[n++] = bin;
    for (size_t i = 0; args[i] && n < 15; i++) {
        argv[n++] = args[i];
    }
    argv[n] = NULL;
    char env[PATH_MAX + 16];
    snprintf(env, sizeof env, "HOIST_CONFIG=%s", f->conf);
    const char *const envp[] = {env, NULL};
    tu_run_t r = tu_run(argv, envp);
    free(bin);
    if (r.status != 0) {
        print_error("hoist %s exited %d:\n%s\n", args[0], r.status, r.out);
        s_dump_log(f, "controller.log");
    }
    assert_int_equal(r.status, 0);
    return r.out;
}

/* Like s_hoist with --json: the parsed output (a new reference). */
static json_t *
s_hoist_json(const pkg_fleet_t *f, const char *const *args)
{
    const char *argv[16] = {"--json"};
    size_t n = 1;
    for (size_t i = 0; args[i] && n < 15; i++) {
        argv[n++] = args[i];
    }
    argv[n] = NULL;
    char *out = s_hoist(f, argv);
    json_t *j = json_loads(out, 0, NULL);
    if (!j) {
        print_error("not JSON: %s\n", out);
    }
    assert_non_null(j);
    free(out);
    return j;
}

/* True when `hoist agents` shows NAME online. */
static bool
s_online(const pkg_fleet_t *f, const char *name)
{
    json_t *j = s_hoist_json(f, (const char *[]){"agents", NULL});
    bool online = false;
    json_t *a;
    size_t k;
    json_array_foreach(json_object_get(j, "agents"), k, a)
    {
        const char *n = json_string_value(json_object_get(a, "name"));
        if (n && strcmp(n, name) == 0) {
            online = json_is_true(json_object_get(a, "online"));
        }
    }
    json_decref(j);
    return online;
}

/* Kills the whole process group of *PID (it leads its own) and reaps it. */
static void
s_kill(pid_t *pid)
{
    if (*pid > 0) {
        kill(-*pid, SIGKILL);
    }
    fu_stop(pid, SIGKILL);
}

/* Teardown of test_packaged_fleet: kills the daemons, removes it all. */
static int
s_fleet_teardown(void **state)
{
    pkg_fleet_t *f = *state;
    if (!f) {
        return 0; /* skipped before anything started */
    }
    s_kill(&f->agent);
    s_kill(&f->controller);
    free(f->usr_bin);
    free(f->data);
    free(f->conf);
    if (getenv("HOIST_KEEP_TEST_DIRS")) {
        fprintf(stderr, "packaged fleet kept in %s\n", f->dir);
        free(f->dir);
    } else {
        tu_rmtree(f->dir);
    }
    free(f);
    *state = NULL;
    return 0;
}

/* The packages work together, not only one by one: from the unpacked
 * tree, a controller is initialised and run, the CLI trusts a release key
 * and creates a token, an agent enrolls with it and, once running, comes
 * online. */
static void
test_packaged_fleet(void **state)
{
    const char *dir = s_package_dir();
    pkg_fleet_t *f = calloc(1, sizeof *f);
    assert_non_null(f);
    *state = f;
    f->dir = tu_tmpdir();
    char *pkg = tu_path(f->dir, "pkg");
    static const package_t *const all[] = {&s_cli, &s_agent, &s_controller};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) {
        char *deb = s_find_deb(dir, all[i]->name);
        const char *const x[] = {"/usr/bin/dpkg", "-x", deb, pkg, NULL};
        free(s_output(x));
        free(deb);
    }
    f->usr_bin = tu_path(pkg, "usr/bin");
    free(pkg);
    f->data = tu_path(f->dir, "controller");
    f->conf = tu_path(f->data, "cli.conf");

    char *ctl = s_bin(f, "hoist-controller");
    int port = s_port_pair();
    char agents_ep[64], api_ep[64];
    snprintf(agents_ep, sizeof agents_ep, "tcp://127.0.0.1:%d", port);
    snprintf(api_ep, sizeof api_ep, "tcp://127.0.0.1:%d", port + 1);
    const char *const init[] = {
        ctl,       "init",           "--data-dir", f->data, "--agent-endpoint",
        agents_ep, "--api-endpoint", api_ep,       NULL};
    free(s_output(init));
    const char *const run[] = {ctl, "run", "--data-dir", f->data, NULL};
    char *log = tu_path(f->dir, "controller.log");
    f->controller = fu_spawn(run, log);
    free(log);
    free(ctl);
    uint64_t until = monotime_ms() + WAIT_MS;
    while (!tu_exists(f->conf) && monotime_ms() < until) {
        usleep(20 * 1000);
    }
    if (!tu_exists(f->conf)) {
        s_dump_log(f, "controller.log");
    }
    assert_true(tu_exists(f->conf));

    char *key = tu_path(f->dir, "rel");
    char *pub = tu_path(f->dir, "rel.pub");
    free(s_hoist(f, (const char *[]){"keygen", "--out", key, NULL}));
    free(s_hoist(f, (const char *[]){"trust", "add", pub, NULL}));
    json_t *tok = s_hoist_json(
        f, (const char *[]){"token", "create", "--env", "dev", NULL});
    const char *endpoint = json_string_value(json_object_get(tok, "endpoint"));
    const char *server_key =
        json_string_value(json_object_get(tok, "server_key"));
    const char *token = json_string_value(json_object_get(tok, "token"));
    assert_non_null(endpoint);
    assert_non_null(server_key);
    assert_non_null(token);
    char *server_key_file = tu_path(f->dir, "controller.key");
    tu_write(server_key_file, server_key, (size_t)-1, 0644);

    char *agent = s_bin(f, "hoist-agent");
    char *root = tu_path(f->dir, "agent");
    const char *const enroll[] = {agent,
                                  "enroll",
                                  "--root",
                                  root,
                                  "--controller",
                                  endpoint,
                                  "--controller-key",
                                  server_key_file,
                                  "--token",
                                  token,
                                  "--env",
                                  "dev",
                                  "--trust",
                                  pub,
                                  "--name",
                                  "pkg-1",
                                  "--user",
                                  fu_me(),
                                  NULL};
    tu_run_t r = tu_run(enroll, NULL);
    if (r.status != 0) {
        print_error("enroll exited %d:\n%s\n", r.status, r.out);
        s_dump_log(f, "controller.log");
    }
    assert_int_equal(r.status, 0);
    assert_contains(r.out, "accepted into dev as pkg-1");
    tu_run_free(&r);
    json_decref(tok);

    const char *const agent_run[] = {agent,    "run",   "--root", root,
                                     "--user", fu_me(), NULL};
    log = tu_path(f->dir, "agent.log");
    f->agent = fu_spawn(agent_run, log);
    free(log);
    until = monotime_ms() + WAIT_MS;
    bool online = false;
    while (!(online = s_online(f, "pkg-1")) && monotime_ms() < until) {
        usleep(50 * 1000);
    }
    if (!online) {
        print_error("agent pkg-1 never came online\n");
        s_dump_log(f, "controller.log");
        s_dump_log(f, "agent.log");
    }
    assert_true(online);
    free(root);
    free(agent);
    free(server_key_file);
    free(pub);
    free(key);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        {.name = "test_package_agent",
         .test_func = test_package,
         .initial_state = (void *)&s_agent},
        {.name = "test_package_controller",
         .test_func = test_package,
         .initial_state = (void *)&s_controller},
        {.name = "test_package_cli",
         .test_func = test_package,
         .initial_state = (void *)&s_cli},
        cmocka_unit_test(test_programs_run),
        cmocka_unit_test_teardown(test_packaged_fleet, s_fleet_teardown),
    };
    /* fu_kill_leftovers: whatever fu_spawn started, should a teardown
     * not have run. */
    return cmocka_run_group_tests(tests, NULL, fu_kill_leftovers);
}
