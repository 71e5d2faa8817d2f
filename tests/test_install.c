/*
 * test_install: the deploy core end to end, through the real hoist and
 * hoist-agent programs: real keys, real tarballs, real hooks, real
 * processes killed with SIGKILL at every step.
 */
#include "testutil.h"

#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "atomicfile.h"
#include "hoist.pb-c.h"

typedef struct {
    char *tmp;  /* everything of this test */
    char *root; /* the agent's root */
    char *mark; /* where hooks leave traces */
} lab_t;

/* A release whose activate hook records the live version and whose health
 * check confirms the recorded version is its own. */
static const char *GOOD_SPEC =
    "hooks:\n"
    "  activate: echo \"$HOIST_VERSION\" > @MARK@/active\n"
    "  after_rollback: echo \"after_rollback $HOIST_VERSION from "
    "$HOIST_PREVIOUS_VERSION\" >> @MARK@/log\n"
    "health:\n"
    "  command: test \"$(cat @MARK@/active)\" = \"$HOIST_VERSION\"\n"
    "  retries: 3\n"
    "  interval: 50ms\n";

static const char *BAD_HEALTH_SPEC =
    "hooks:\n"
    "  activate: echo \"$HOIST_VERSION\" > @MARK@/active\n"
    "health:\n"
    "  command: echo unhealthy-marker; exit 1\n"
    "  retries: 2\n"
    "  interval: 50ms\n";

static const char *SLOW_ACTIVATE_SPEC = "hooks:\n"
                                        "  activate: sleep 30\n"
                                        "  timeout: 300ms\n";

static const char *BAD_BEFORE_SPEC =
    "hooks:\n"
    "  before_activate: echo migration-check-failed; exit 3\n"
    "  activate: echo \"$HOIST_VERSION\" > @MARK@/active\n";

static int
s_setup(void **state)
{
    lab_t *l = calloc(1, sizeof *l);
    l->tmp = tu_tmpdir();
    l->root = tu_path(l->tmp, "root");
    l->mark = tu_path(l->tmp, "mark");
    mkdir(l->mark, 0755);
    tu_sh("cd %s && %s keygen --out rel >/dev/null && %s keygen --out other "
          ">/dev/null",
          l->tmp, HOIST_CLI_BIN, HOIST_CLI_BIN);
    *state = l;
    return 0;
}

static int
s_teardown(void **state)
{
    lab_t *l = *state;
    free(l->root);
    free(l->mark);
    tu_rmtree(l->tmp);
    free(l);
    return 0;
}

/* Replaces every @MARK@ in SPEC with MARK, into OUT. */
static void
s_subst(const char *spec, const char *mark, char *out, size_t len)
{
    size_t n = 0;
    for (const char *p = spec; *p && n + 1 < len;) {
        if (strncmp(p, "@MARK@", 6) == 0) {
            n += (size_t)snprintf(out + n, len - n, "%s", mark);
            p += 6;
        } else {
            out[n++] = *p++;
        }
    }
    out[n < len ? n : len - 1] = '\0';
}

/* Packs and signs APP VERSION with SEQ, the spec SPEC (@MARK@ stands for
 * the mark dir), allowed in ENV, with KEY ("rel" or "other"). */
static void
s_release_full(lab_t *l, const char *app, const char *version, int seq,
               const char *spec, const char *env, const char *key)
{
    char src[PATH_MAX], path[PATH_MAX], text[2048];
    snprintf(src, sizeof src, "%s/src-%s-%s", l->tmp, app, version);
    snprintf(path, sizeof path, "%s/hoist.yml", src);
    s_subst(spec, l->mark, text, sizeof text);
    tu_write(path, text, (size_t)-1, 0644);
    snprintf(path, sizeof path, "%s/VERSION", src);
    tu_write(path, version, (size_t)-1, 0644);
    snprintf(path, sizeof path, "%s/bin/app", src);
    tu_write(path, "#!/bin/sh\necho app\n", (size_t)-1, 0755);
    tu_sh("tar -C %s -czf %s/%s-%s.tar.gz . && %s release sign %s %s "
          "%s/%s-%s.tar.gz --sign-key %s/%s --sequence %d --env %s --out "
          "%s/%s-%s.manifest >/dev/null",
          src, l->tmp, app, version, HOIST_CLI_BIN, app, version, l->tmp, app,
          version, l->tmp, key, seq, env, l->tmp, app, version);
}

static void
s_release(lab_t *l, const char *version, int seq, const char *spec)
{
    s_release_full(l, "web", version, seq, spec, "prod", "rel");
}

/* The user the tests run as, named explicitly for --user (required when
 * running as root, as CI does). */
static const char *
s_me(void)
{
    struct passwd *pw = getpwuid(geteuid());
    assert_non_null(pw);
    return pw->pw_name;
}

/* Runs hoist-agent install of web VERSION; EXTRA_ENV may set HOIST_FAULT. */
static tu_run_t
s_install_app(lab_t *l, const char *app, const char *version,
              const char *extra_env, const char *extra_arg)
{
    char manifest[PATH_MAX], artifact[PATH_MAX], trust[PATH_MAX];
    snprintf(manifest, sizeof manifest, "%s/%s-%s.manifest", l->tmp, app,
             version);
    snprintf(artifact, sizeof artifact, "%s/%s-%s.tar.gz", l->tmp, app,
             version);
    snprintf(trust, sizeof trust, "%s/rel.pub", l->tmp);
    const char *argv[] = {
        HOIST_AGENT_BIN, "install",    "--root",
        l->root,         "--env",      "prod",
        "--trust",       trust,        "--manifest",
        manifest,        "--artifact", artifact,
        "--user",        s_me(),       extra_arg ? "--app" : NULL,
        extra_arg,       NULL};
    const char *env[] = {extra_env, NULL};
    return tu_run(argv, extra_env ? env : NULL);
}

static tu_run_t
s_install(lab_t *l, const char *version, const char *extra_env)
{
    return s_install_app(l, "web", version, extra_env, NULL);
}

static void
s_install_ok(lab_t *l, const char *version)
{
    tu_run_t r = s_install(l, version, NULL);
    if (r.status != 0) {
        print_error("install %s: %s\n", version, r.out);
    }
    assert_int_equal(r.status, 0);
    tu_run_free(&r);
}

/* The version `current` points at, checked to be a complete release
 * (its VERSION file says the same); "" when there is no current. */
static char *
s_live(lab_t *l)
{
    char link[PATH_MAX], target[PATH_MAX] = "", file[PATH_MAX * 2];
    snprintf(link, sizeof link, "%s/apps/web/current", l->root);
    ssize_t n = readlink(link, target, sizeof target - 1);
    if (n < 0) {
        return strdup("");
    }
    target[n] = '\0';
    assert_true(strncmp(target, "releases/", 9) == 0);
    snprintf(file, sizeof file, "%s/apps/web/%s/VERSION", l->root, target);
    char *content = tu_read(file, NULL);
    assert_non_null(content); /* a complete release, never a partial one */
    assert_string_equal(content, target + 9);
    return content;
}

static void
s_assert_live(lab_t *l, const char *version)
{
    char *v = s_live(l);
    assert_string_equal(v, version);
    free(v);
}

static char *
s_mark(lab_t *l, const char *name)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", l->mark, name);
    char *s = tu_read(path, NULL);
    if (s && s[0] && s[strlen(s) - 1] == '\n') {
        s[strlen(s) - 1] = '\0';
    }
    return s ? s : strdup("");
}

/* A listing of everything under the app's releases/ and the target of
 * current, to compare before and after a rejected install. */
static char *
s_snapshot(lab_t *l)
{
    char cmd[PATH_MAX * 3];
    snprintf(cmd, sizeof cmd,
             "cd %s && { find apps -path '*/run' -prune -o -print | grep -v "
             "'/state$' | sort; readlink apps/web/current; ls -A cache "
             "2>/dev/null; } 2>/dev/null",
             l->root);
    const char *argv[] = {"/bin/sh", "-c", cmd, NULL};
    tu_run_t r = tu_run(argv, NULL);
    return r.out;
}

static void
test_install_and_upgrade(void **state)
{
    lab_t *l = *state;
    s_release(l, "1.0.0", 1, GOOD_SPEC);
    s_release(l, "1.1.0", 2, GOOD_SPEC);
    s_install_ok(l, "1.0.0");
    s_assert_live(l, "1.0.0");
    char *active = s_mark(l, "active");
    assert_string_equal(active, "1.0.0");
    free(active);
    s_install_ok(l, "1.1.0");
    s_assert_live(l, "1.1.0");
    active = s_mark(l, "active");
    assert_string_equal(active, "1.1.0");
    free(active);
    /* The executable bit survived unpacking. */
    char *bin = tu_path(l->root, "apps/web/releases/1.1.0/bin/app");
    assert_int_equal(access(bin, X_OK), 0);
    free(bin);
    /* Installing the live version again changes nothing. */
    tu_run_t r = s_install(l, "1.1.0", NULL);
    assert_int_equal(r.status, 0);
    assert_contains(r.out, "already live");
    tu_run_free(&r);
    /* No private artifact copies are left behind. */
    char *cache = tu_path(l->root, "cache");
    assert_int_equal(tu_count_entries(cache), 0);
    free(cache);
}

static void
test_health_failure_rolls_back(void **state)
{
    lab_t *l = *state;
    s_release(l, "1.0.0", 1, GOOD_SPEC);
    s_release(l, "2.0.0", 2, BAD_HEALTH_SPEC);
    s_install_ok(l, "1.0.0");
    tu_run_t r = s_install(l, "2.0.0", NULL);
    assert_int_equal(r.status, 1);
    assert_contains(r.out, "step health failed");
    assert_contains(r.out, "rolled back to 1.0.0 (healthy)");
    assert_contains(r.out, "unhealthy-marker");
    tu_run_free(&r);
    s_assert_live(l, "1.0.0");
    /* The previous release was restarted and told it was rolled back to. */
    char *active = s_mark(l, "active"), *log = s_mark(l, "log");
    assert_string_equal(active, "1.0.0");
    assert_contains(log, "after_rollback 1.0.0 from 2.0.0");
    free(active);
    free(log);
    /* The failed release does not linger. */
    char *dir = tu_path(l->root, "apps/web/releases/2.0.0");
    assert_false(tu_exists(dir));
    free(dir);
}

static void
test_activate_timeout_rolls_back(void **state)
{
    lab_t *l = *state;
    s_release(l, "1.0.0", 1, GOOD_SPEC);
    s_release(l, "1.1.0", 2, SLOW_ACTIVATE_SPEC);
    s_install_ok(l, "1.0.0");
    tu_run_t r = s_install(l, "1.1.0", NULL);
    assert_int_equal(r.status, 1);
    assert_contains(r.out, "step activate failed");
    assert_contains(r.out, "rolled back to 1.0.0");
    tu_run_free(&r);
    s_assert_live(l, "1.0.0");
    char *active = s_mark(l, "active");
    assert_string_equal(active, "1.0.0");
    free(active);
}

static void
test_before_activate_failure_keeps_current(void **state)
{
    lab_t *l = *state;
    s_release(l, "1.0.0", 1, GOOD_SPEC);
    s_release(l, "1.1.0", 2, BAD_BEFORE_SPEC);
    s_install_ok(l, "1.0.0");
    tu_run_t r = s_install(l, "1.1.0", NULL);
    assert_int_equal(r.status, 1);
    assert_contains(r.out, "1.0.0 is still live");
    assert_contains(r.out, "before_activate");
    assert_contains(r.out, "migration-check-failed");
    tu_run_free(&r);
    s_assert_live(l, "1.0.0");
}

static void
test_first_install_failure_leaves_nothing_live(void **state)
{
    lab_t *l = *state;
    s_release(l, "1.0.0", 1, BAD_HEALTH_SPEC);
    tu_run_t r = s_install(l, "1.0.0", NULL);
    assert_int_equal(r.status, 1);
    assert_contains(r.out, "rolled back to nothing");
    tu_run_free(&r);
    char *v = s_live(l);
    assert_string_equal(v, "");
    free(v);
}

/* Each rejection: exit 2, its own message, nothing changed on disk. */
static void
s_assert_rejected(lab_t *l, const char *version, const char *app_arg,
                  const char *message)
{
    char *before = s_snapshot(l);
    tu_run_t r = s_install_app(l, "web", version, NULL, app_arg);
    if (r.status != 2) {
        print_error("%s\n", r.out);
    }
    assert_int_equal(r.status, 2);
    assert_contains(r.out, message);
    tu_run_free(&r);
    char *after = s_snapshot(l);
    assert_string_equal(before, after);
    free(before);
    free(after);
    s_assert_live(l, "1.0.0");
}

static void
test_rejections(void **state)
{
    lab_t *l = *state;
    char path[PATH_MAX];
    s_release(l, "1.0.0", 5, GOOD_SPEC);
    s_install_ok(l, "1.0.0");

    s_release(l, "1.1.0", 6, GOOD_SPEC); /* tampered after signing */
    snprintf(path, sizeof path, "%s/web-1.1.0.tar.gz", l->tmp);
    /* One bit flipped: writing a fixed byte would change nothing when the
     * artifact happens to hold that byte there. */
    size_t len = 0;
    char *bytes = tu_read(path, &len);
    assert_true(bytes && len > 100);
    bytes[100] ^= 1;
    tu_write(path, bytes, len, 0644);
    free(bytes);
    s_assert_rejected(l, "1.1.0", NULL, "artifact digest mismatch");

    s_release(l, "1.2.0", 6, GOOD_SPEC); /* truncated artifact */
    snprintf(path, sizeof path, "%s/web-1.2.0.tar.gz", l->tmp);
    tu_sh("truncate -s -10 %s", path);
    s_assert_rejected(l, "1.2.0", NULL, "but the manifest says");

    s_release_full(l, "web", "1.3.0", 6, GOOD_SPEC, "prod", "other");
    s_assert_rejected(l, "1.3.0", NULL, "which is not trusted");

    s_release(l, "1.4.0", 6, GOOD_SPEC);
    s_assert_rejected(l, "1.4.0", "billing", "is for app 'web', not 'billing'");

    s_release_full(l, "web", "1.5.0", 6, GOOD_SPEC, "staging", "rel");
    s_assert_rejected(l, "1.5.0", NULL, "may not run in environment 'prod'");

    s_release(l, "1.6.0", 4, GOOD_SPEC);
    s_assert_rejected(l, "1.6.0", NULL, "below 5 already installed");

    s_release(l, "1.7.0", 6, "hooks:\n  activate: true\n  actvate: x\n");
    s_assert_rejected(l, "1.7.0", NULL, "actvate");
}

/* Rewrites the manifest of VERSION with its signature replaced by SIG. */
static void
s_forge_signature(lab_t *l, const char *version, const uint8_t *sig, size_t len)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/web-%s.manifest", l->tmp, version);
    size_t n = 0;
    uint8_t *buf = (uint8_t *)tu_read(path, &n);
    Hoist__SignedManifest *sm = hoist__signed_manifest__unpack(NULL, n, buf);
    assert_non_null(sm);
    ProtobufCBinaryData original = sm->signature;
    sm->signature.data = (uint8_t *)sig;
    sm->signature.len = len;
    size_t out_len = hoist__signed_manifest__get_packed_size(sm);
    uint8_t *out = malloc(out_len);
    hoist__signed_manifest__pack(sm, out);
    assert_int_equal(atomicfile_write(path, out, out_len, 0644, NULL), 0);
    sm->signature = original; /* free what unpack allocated, not SIG */
    hoist__signed_manifest__free_unpacked(sm, NULL);
    free(out);
    free(buf);
}

static void
test_bad_signatures(void **state)
{
    lab_t *l = *state;
    static const uint8_t zero[64];
    s_release(l, "1.0.0", 1, GOOD_SPEC);
    s_install_ok(l, "1.0.0");
    s_release(l, "1.1.0", 2, GOOD_SPEC);
    s_forge_signature(l, "1.1.0", NULL, 0);
    s_assert_rejected(l, "1.1.0", NULL, "manifest is not signed");
    s_release(l, "1.2.0", 2, GOOD_SPEC);
    s_forge_signature(l, "1.2.0", zero, sizeof zero);
    s_assert_rejected(l, "1.2.0", NULL, "all zeros");
    s_release(l, "1.3.0", 2, GOOD_SPEC);
    s_forge_signature(l, "1.3.0", zero, 40);
    s_assert_rejected(l, "1.3.0", NULL, "truncated");
}

static void
test_hostile_archive_rejected(void **state)
{
    lab_t *l = *state;
    char src[PATH_MAX];
    s_release(l, "1.0.0", 1, GOOD_SPEC);
    s_install_ok(l, "1.0.0");
    /* A signed archive whose entry climbs out: the signer is trusted, the
     * archive still is not. Built with GNU tar's --transform. */
    snprintf(src, sizeof src, "%s/evil", l->tmp);
    tu_sh("mkdir -p %1$s && echo x > %1$s/hoist.yml && echo pwned > %1$s/f "
          "&& tar -C %1$s -czf %2$s/web-6.6.6.tar.gz --transform "
          "'s,^\\./f$,../../escaped,' . && %3$s release sign web 6.6.6 "
          "%2$s/web-6.6.6.tar.gz --sign-key %2$s/rel --sequence 9 --out "
          "%2$s/web-6.6.6.manifest >/dev/null",
          src, l->tmp, HOIST_CLI_BIN);
    s_assert_rejected(l, "6.6.6", NULL, "escaped");
    char *escaped = tu_path(l->root, "escaped");
    assert_false(tu_exists(escaped));
    free(escaped);
    char *escaped2 = tu_path(l->root, "apps/escaped");
    assert_false(tu_exists(escaped2));
    free(escaped2);
}

static void
test_keep_prunes_old_releases(void **state)
{
    lab_t *l = *state;
    char v[16];
    for (int i = 1; i <= 7; i++) {
        snprintf(v, sizeof v, "1.%d.0", i);
        s_release(l, v, i, GOOD_SPEC);
        s_install_ok(l, v);
    }
    char *rel = tu_path(l->root, "apps/web/releases");
    /* Five release directories remain: the newest five (default keep). */
    tu_sh("test $(ls %s | wc -l) -eq 5 && test -d %s/1.7.0 && test -d "
          "%s/1.6.0 && test ! -e %s/1.2.0 && test ! -e %s/1.1.0",
          rel, rel, rel, rel, rel);
    free(rel);
    s_assert_live(l, "1.7.0");
}

/* Full disk: the root on a 1 MiB tmpfs, an incompressible 2 MiB release.
 * Needs root (mount); skipped otherwise. */
static void
test_full_disk_changes_nothing(void **state)
{
    lab_t *l = *state;
    mkdir(l->root, 0755);
    if (mount("tmpfs", l->root, "tmpfs", 0, "size=1m") != 0) {
        skip();
    }
    s_release(l, "1.0.0", 1, GOOD_SPEC);
    s_install_ok(l, "1.0.0");
    char src[PATH_MAX];
    snprintf(src, sizeof src, "%s/src-web-1.1.0", l->tmp);
    tu_sh("mkdir -p %s && head -c 2097152 /dev/urandom > %s/blob", src, src);
    s_release(l, "1.1.0", 2, GOOD_SPEC);
    char *before = s_snapshot(l);
    tu_run_t r = s_install(l, "1.1.0", NULL);
    int status = r.status;
    char *after = s_snapshot(l);
    if (status != 1) {
        print_error("%s\n", r.out);
    }
    assert_int_equal(status, 1);
    assert_contains(r.out, "No space left on device");
    assert_string_equal(before, after);
    s_assert_live(l, "1.0.0");
    tu_run_free(&r);
    free(before);
    free(after);
    assert_int_equal(umount(l->root), 0);
}

/* A kill -9 at one fault point, then recovery. WANT is the version that
 * must be live afterwards. */
static void
s_crash_and_recover(const char *point, const char *spec, const char *want)
{
    lab_t *l = NULL;
    s_setup((void **)&l);
    s_release(l, "1.0.0", 1, GOOD_SPEC);
    s_release(l, "1.1.0", 2, spec);
    s_release(l, "1.2.0", 3, GOOD_SPEC);
    s_install_ok(l, "1.0.0");
    char fault[64];
    snprintf(fault, sizeof fault, "HOIST_FAULT=%s", point);
    tu_run_t r = s_install(l, "1.1.0", fault);
    if (!r.signaled) {
        print_error("fault point %s was not reached:\n%s\n", point, r.out);
    }
    assert_true(r.signaled);
    assert_int_equal(r.signal, SIGKILL);
    tu_run_free(&r);
    free(s_live(l)); /* asserts current is complete, whatever it is */

    const char *argv[] = {HOIST_AGENT_BIN, "recover", "--root", l->root,
                          "--user",        s_me(),    NULL};
    r = tu_run(argv, NULL);
    if (r.status != 0) {
        print_error("recover after %s: %s\n", point, r.out);
    }
    assert_int_equal(r.status, 0);
    tu_run_free(&r);
    s_assert_live(l, want);
    /* Recovery leaves no staging, temporary link or artifact copy. */
    char *cache = tu_path(l->root, "cache");
    assert_true(tu_count_entries(cache) <= 0);
    free(cache);
    tu_sh("cd %s/apps/web && test -z \"$(ls -A | grep -v -e '^releases$' -e "
          "'^current$' -e '^state$')\"",
          l->root);
    /* The live release is the one running: its activate ran last. */
    char *active = s_mark(l, "active");
    assert_string_equal(active, want);
    free(active);
    const char *st[] = {HOIST_AGENT_BIN, "status", "--root", l->root, NULL};
    r = tu_run(st, NULL);
    assert_int_equal(r.status, 0);
    assert_contains(r.out, "idle");
    tu_run_free(&r);
    /* And the agent carries on. */
    s_install_ok(l, "1.2.0");
    s_assert_live(l, "1.2.0");
    s_teardown((void **)&l);
}

static void
test_kill9_at_every_step(void **state)
{
    (void)state;
    static const struct {
        const char *point;
        int bad;
        const char *want;
    } cases[] = {
        {"stage", 0, "1.0.0"},
        {"unpacked", 0, "1.0.0"},
        {"before_activate", 0, "1.0.0"},
        {"switch", 0, "1.0.0"},
        {"switched", 0, "1.0.0"},
        {"activate", 0, "1.0.0"},
        {"health", 0, "1.0.0"},
        {"none", 0, "1.1.0"},
        {"committed", 0, "1.1.0"},
        {"rollback", 1, "1.0.0"},
        {"rollback-switched", 1, "1.0.0"},
        {"none", 1, "1.0.0"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        print_message("kill -9 at %s (%s release)\n", cases[i].point,
                      cases[i].bad ? "unhealthy" : "healthy");
        s_crash_and_recover(cases[i].point,
                            cases[i].bad ? BAD_HEALTH_SPEC : GOOD_SPEC,
                            cases[i].want);
    }
}

static void
test_install_after_crash_recovers_first(void **state)
{
    lab_t *l = *state;
    s_release(l, "1.0.0", 1, GOOD_SPEC);
    s_release(l, "1.1.0", 2, GOOD_SPEC);
    s_install_ok(l, "1.0.0");
    tu_run_t r = s_install(l, "1.1.0", "HOIST_FAULT=switched");
    assert_true(r.signaled);
    tu_run_free(&r);
    /* No explicit recover: the next install finishes the old business. */
    r = s_install(l, "1.1.0", NULL);
    assert_int_equal(r.status, 0);
    assert_contains(r.out, "interrupted at step switch");
    tu_run_free(&r);
    s_assert_live(l, "1.1.0");
}

/* The disk fills up after the switch (here: the new release's activate
 * hook fills it, then fails). The journal cannot be written, yet the
 * previous release must go back: the way back was made in advance. */
static void
test_disk_full_after_switch_still_rolls_back(void **state)
{
    lab_t *l = *state;
    mkdir(l->root, 0755);
    if (mount("tmpfs", l->root, "tmpfs", 0, "size=1m") != 0) {
        skip();
    }
    s_release(l, "1.0.0", 1, GOOD_SPEC);
    s_release(l, "1.1.0", 2,
              "hooks:\n"
              "  activate: echo 1.1.0 > @MARK@/active; dd if=/dev/zero "
              "of=fill bs=64k 2>/dev/null; echo disk-is-full; exit 1\n");
    s_install_ok(l, "1.0.0");
    tu_run_t r = s_install(l, "1.1.0", NULL);
    int status = r.status;
    if (status != 1) {
        print_error("%s\n", r.out);
    }
    assert_int_equal(status, 1);
    assert_contains(r.out, "step activate failed; rolled back to 1.0.0");
    tu_run_free(&r);
    s_assert_live(l, "1.0.0");
    char *active = s_mark(l, "active");
    assert_string_equal(active, "1.0.0");
    free(active);
    char *dir = tu_path(l->root, "apps/web/releases/1.1.0");
    assert_false(tu_exists(dir));
    free(dir);
    assert_int_equal(umount(l->root), 0);
}

static void
test_long_hook_output_keeps_its_end(void **state)
{
    lab_t *l = *state;
    s_release(l, "1.0.0", 1, GOOD_SPEC);
    s_release(l, "1.1.0", 2,
              "hooks:\n"
              "  activate: for i in $(seq 40); do printf 'line %s %0100d\\n' "
              "$i 0; done; echo FINAL-REASON-db-unreachable; exit 1\n");
    s_install_ok(l, "1.0.0");
    tu_run_t r = s_install(l, "1.1.0", NULL);
    assert_int_equal(r.status, 1);
    assert_contains(r.out, "rolled back to 1.0.0");
    assert_contains(r.out, "end of the activate hook's output");
    assert_contains(r.out, "FINAL-REASON-db-unreachable");
    tu_run_free(&r);
}

static void
test_hook_environment(void **state)
{
    lab_t *l = *state;
    s_release(l, "1.0.0", 1, GOOD_SPEC);
    s_release(l, "1.1.0", 2,
              "hooks:\n"
              "  activate: env | grep ^HOIST_ | sort > @MARK@/env\n");
    s_install_ok(l, "1.0.0");
    s_install_ok(l, "1.1.0");
    char *env = s_mark(l, "env");
    char want[PATH_MAX + 64];
    assert_contains(env, "HOIST_APP=web\n");
    assert_contains(env, "HOIST_ENV=prod\n");
    assert_contains(env, "HOIST_VERSION=1.1.0"); /* the last line */
    assert_contains(env, "HOIST_PREVIOUS_VERSION=1.0.0\n");
    snprintf(want, sizeof want, "HOIST_RELEASE_DIR=%s/apps/web/releases/1.1.0",
             l->root);
    assert_contains(env, want);
    free(env);
}

static void
test_user_is_checked_first(void **state)
{
    lab_t *l = *state;
    char manifest[PATH_MAX], artifact[PATH_MAX], trust[PATH_MAX];
    s_release(l, "1.0.0", 1, GOOD_SPEC);
    snprintf(manifest, sizeof manifest, "%s/web-1.0.0.manifest", l->tmp);
    snprintf(artifact, sizeof artifact, "%s/web-1.0.0.tar.gz", l->tmp);
    snprintf(trust, sizeof trust, "%s/rel.pub", l->tmp);
    const char *argv[] = {HOIST_AGENT_BIN,
                          "install",
                          "--root",
                          l->root,
                          "--env",
                          "prod",
                          "--trust",
                          trust,
                          "--manifest",
                          manifest,
                          "--artifact",
                          artifact,
                          "--user",
                          "no-such-user-hoist",
                          NULL};
    tu_run_t r = tu_run(argv, NULL);
    assert_int_equal(r.status, 2);
    assert_contains(r.out, "no such user 'no-such-user-hoist'");
    tu_run_free(&r);
    assert_false(tu_exists(l->root));
    if (geteuid() == 0) {
        argv[12] = NULL; /* no --user at all, as root */
        r = tu_run(argv, NULL);
        assert_int_equal(r.status, 2);
        assert_contains(r.out, "--user root to accept root");
        tu_run_free(&r);
        assert_false(tu_exists(l->root));
    }
}

static void
test_fifo_artifact_is_refused_at_once(void **state)
{
    lab_t *l = *state;
    char fifo[PATH_MAX], manifest[PATH_MAX], trust[PATH_MAX];
    s_release(l, "1.0.0", 1, GOOD_SPEC);
    snprintf(fifo, sizeof fifo, "%s/fifo", l->tmp);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    snprintf(manifest, sizeof manifest, "%s/web-1.0.0.manifest", l->tmp);
    snprintf(trust, sizeof trust, "%s/rel.pub", l->tmp);
    /* timeout(1) turns a hang into a failure instead of a stuck suite. */
    const char *argv[] = {"/usr/bin/timeout",
                          "20",
                          HOIST_AGENT_BIN,
                          "install",
                          "--root",
                          l->root,
                          "--env",
                          "prod",
                          "--trust",
                          trust,
                          "--manifest",
                          manifest,
                          "--artifact",
                          fifo,
                          "--user",
                          s_me(),
                          NULL};
    tu_run_t r = tu_run(argv, NULL);
    assert_int_equal(r.status, 2);
    assert_contains(r.out, "is not a regular file");
    tu_run_free(&r);
}

static void
test_kept_version_is_never_overwritten(void **state)
{
    lab_t *l = *state;
    s_release(l, "5.0.0", 50, GOOD_SPEC);
    s_release(l, "5.1.0", 51, GOOD_SPEC);
    s_install_ok(l, "5.0.0");
    s_install_ok(l, "5.1.0");
    char *file = tu_path(l->root, "apps/web/releases/5.0.0/hoist.yml");
    char *before = tu_read(file, NULL);
    /* The same version, re-signed with other bytes and a higher sequence. */
    s_release(l, "5.0.0", 52, BAD_HEALTH_SPEC);
    tu_run_t r = s_install(l, "5.0.0", NULL);
    assert_int_equal(r.status, 2);
    assert_contains(r.out, "kept on this machine already");
    tu_run_free(&r);
    char *after = tu_read(file, NULL);
    assert_string_equal(before, after);
    free(before);
    free(after);
    free(file);
    s_assert_live(l, "5.1.0");
}

/* The agent is killed while a hook runs: the hook dies with it, so it
 * cannot race the old release's activate that recovery runs. */
static void
test_hook_dies_with_the_agent(void **state)
{
    lab_t *l = *state;
    char manifest[PATH_MAX], artifact[PATH_MAX], trust[PATH_MAX];
    s_release(l, "1.0.0", 1, GOOD_SPEC);
    s_release(l, "1.1.0", 2,
              "hooks:\n"
              "  activate: echo $$ > @MARK@/hookpid; exec sleep 60\n");
    s_install_ok(l, "1.0.0");
    snprintf(manifest, sizeof manifest, "%s/web-1.1.0.manifest", l->tmp);
    snprintf(artifact, sizeof artifact, "%s/web-1.1.0.tar.gz", l->tmp);
    snprintf(trust, sizeof trust, "%s/rel.pub", l->tmp);
    pid_t agent = fork();
    assert_true(agent >= 0);
    if (agent == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        dup2(null, 2);
        execl(HOIST_AGENT_BIN, HOIST_AGENT_BIN, "install", "--root", l->root,
              "--env", "prod", "--trust", trust, "--manifest", manifest,
              "--artifact", artifact, "--user", s_me(), (char *)NULL);
        _exit(127);
    }
    char *pidfile = tu_path(l->mark, "hookpid");
    char *text = NULL;
    for (int i = 0; i < 200 && !(text = tu_read(pidfile, NULL)); i++) {
        usleep(50 * 1000);
    }
    assert_non_null(text);
    pid_t hook = (pid_t)atoi(text);
    assert_true(hook > 0);
    assert_int_equal(kill(hook, 0), 0); /* the hook is running */
    assert_int_equal(kill(agent, SIGKILL), 0);
    int st;
    assert_int_equal(waitpid(agent, &st, 0), agent);
    int alive = 1;
    for (int i = 0; i < 100 && alive; i++) {
        alive = kill(hook, 0) == 0;
        usleep(20 * 1000);
    }
    assert_false(alive);
    free(text);
    free(pidfile);
    const char *argv[] = {HOIST_AGENT_BIN, "recover", "--root", l->root,
                          "--user",        s_me(),    NULL};
    tu_run_t r = tu_run(argv, NULL);
    assert_int_equal(r.status, 0);
    tu_run_free(&r);
    s_assert_live(l, "1.0.0");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_install_and_upgrade, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_health_failure_rolls_back, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_activate_timeout_rolls_back,
                                        s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(
            test_before_activate_failure_keeps_current, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(
            test_first_install_failure_leaves_nothing_live, s_setup,
            s_teardown),
        cmocka_unit_test_setup_teardown(test_rejections, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_bad_signatures, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_hostile_archive_rejected, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_keep_prunes_old_releases, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_full_disk_changes_nothing, s_setup,
                                        s_teardown),
        cmocka_unit_test(test_kill9_at_every_step),
        cmocka_unit_test_setup_teardown(
            test_disk_full_after_switch_still_rolls_back, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_long_hook_output_keeps_its_end,
                                        s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_hook_environment, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_user_is_checked_first, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_fifo_artifact_is_refused_at_once,
                                        s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_kept_version_is_never_overwritten,
                                        s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_hook_dies_with_the_agent, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_install_after_crash_recovers_first,
                                        s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
