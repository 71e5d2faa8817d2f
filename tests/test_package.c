/*
 * test_package: what `make package` built. The .deb files are not built by
 * `make check` (that takes a build of its own), so every test here is
 * skipped unless HOIST_PACKAGE_DIR names the directory holding them, as
 * .ci/run does after `make package`. Each package is unpacked with
 * `dpkg -x` into a scratch directory and its files and their modes are
 * checked, its conffiles read back with `dpkg-deb -I`, and the shipped
 * binaries are checked to run and to carry no test-only fault points.
 */
#include "testutil.h"

#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
