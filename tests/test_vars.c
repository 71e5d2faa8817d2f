/*
 * test_vars: per-environment variables and sealed secrets.
 *
 * First the pure parts: the names and values the controller accepts
 * (vars.h), and the agent's side of the contract (install.h): what an
 * order may carry, and the .hoist/env text, which a shell must read back
 * byte for byte. Then end to end with real processes (fleetutil.h): a
 * plain variable and a secret reach a hook's environment and its 0600
 * .hoist/env, and the secret is nowhere else on disk, nor in any JSON or
 * log; a box sealed to another agent is refused with nothing installed;
 * an agent accepted after a secret was set is refused by name until the
 * secret is set again; names the controller must refuse are refused.
 */
#include "testutil.h"

#include <ftw.h>
#include <jansson.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fleetutil.h"
#include "install.h"
#include "vars.h"

/* The secret of the end-to-end tests: a quote, a dollar and a space, so
 * that the file's quoting is exercised too. */
static const char s_secret[] = "Zq9-s3cr3t 'it''s' $HOME-8c1f";
/* What is searched for: the part before the first quote, which any
 * quoting (shell, JSON) leaves whole. */
#define S_SECRET_PART "Zq9-s3cr3t"
static const char s_plain[] = "postgres://db.internal/dev";

/* --- the pure parts ------------------------------------------------------ */

static void
test_keys(void **state)
{
    (void)state;
    hoist_error_t err = {0};
    char longest[VARS_KEY_MAX + 2];
    memset(longest, 'K', sizeof longest);
    longest[VARS_KEY_MAX] = '\0';
    const char *good[] = {"DB_URL", "_PRIVATE", "A1",   "X",
                          longest,  "HOIST",    "PATH", "LD"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        assert_int_equal(vars_check_key(good[i], &err), HOIST_OK);
        assert_true(install_var_key_valid(good[i]));
    }
    longest[VARS_KEY_MAX] = 'K';
    longest[VARS_KEY_MAX + 1] = '\0';
    const char *bad[] = {"",       "1ABC",       "db_url",          "DB-URL",
                         "DB URL", "É",          longest,           "HOIST_APP",
                         "HOIST_", "LD_PRELOAD", "LD_LIBRARY_PATH", "BASH_ENV",
                         "ENV",    "IFS",        "GCONV_PATH"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(vars_check_key(bad[i], &err), HOIST_ERR_USAGE);
        assert_false(install_var_key_valid(bad[i]));
    }
    assert_int_equal(vars_check_key("HOIST_VERSION", &err), HOIST_ERR_USAGE);
    assert_non_null(strstr(err.msg, "hooks' own variables"));
    assert_int_equal(vars_check_key("LD_PRELOAD", &err), HOIST_ERR_USAGE);
    assert_non_null(strstr(err.msg, "signed hooks"));
}

static void
test_values(void **state)
{
    (void)state;
    hoist_error_t err = {0};
    const uint8_t nul[] = "ab\0cd";
    assert_int_equal(vars_check_value(nul, 5, true, &err), HOIST_ERR_USAGE);
    assert_int_equal(vars_check_value(nul, 5, false, &err), HOIST_ERR_USAGE);
    /* Not UTF-8: refused as a plain value (vars list shows it in JSON),
     * taken as a secret; the message never quotes it. */
    const uint8_t latin1[] = "caf\xe9-pw-7781";
    assert_int_equal(vars_check_value(latin1, 12, false, &err),
                     HOIST_ERR_USAGE);
    assert_null(strstr(err.msg, "7781"));
    assert_int_equal(vars_check_value(latin1, 12, true, &err), HOIST_OK);
    assert_int_equal(vars_check_value((const uint8_t *)"", 0, false, &err),
                     HOIST_OK);
    uint8_t *big = malloc(STORE_VAR_VALUE_MAX + 1);
    assert_non_null(big);
    memset(big, 'v', STORE_VAR_VALUE_MAX + 1);
    assert_int_equal(vars_check_value(big, STORE_VAR_VALUE_MAX, false, &err),
                     HOIST_OK);
    assert_int_equal(vars_check_value(big, STORE_VAR_VALUE_MAX + 1, true, &err),
                     HOIST_ERR_LIMIT);
    free(big);
}

static void
test_agent_checks_an_order(void **state)
{
    (void)state;
    hoist_error_t err = {0};
    install_var_t ok[] = {{"A", "1", 1}, {"B", "", 0}};
    assert_int_equal(install_vars_check(ok, 2, &err), HOIST_OK);
    assert_int_equal(install_vars_check(NULL, 0, &err), HOIST_OK);
    install_var_t twice[] = {{"A", "1", 1}, {"A", "2", 1}};
    assert_int_equal(install_vars_check(twice, 2, &err), HOIST_ERR_USAGE);
    assert_non_null(strstr(err.msg, "given twice"));
    install_var_t hoist[] = {{"HOIST_ENV", "production", 10}};
    assert_int_equal(install_vars_check(hoist, 1, &err), HOIST_ERR_USAGE);
    install_var_t nul[] = {{"A", "a\0b", 3}};
    assert_int_equal(install_vars_check(nul, 1, &err), HOIST_ERR_LIMIT);
    install_var_t *many = calloc(INSTALL_VARS_MAX + 1, sizeof *many);
    assert_non_null(many);
    assert_int_equal(install_vars_check(many, INSTALL_VARS_MAX + 1, &err),
                     HOIST_ERR_LIMIT);
    free(many);
}

/* The .hoist/env text, read back by /bin/sh, gives every value back byte
 * for byte, whatever quotes, dollars, backslashes or newlines it holds. */
static void
test_env_file_round_trip(void **state)
{
    (void)state;
    const char *values[] = {
        "plain",          "",
        "it's",           "'''",
        "a b\tc",         "$HOME `id` $(id) \\n \\",
        "line1\nline2\n", "\"double\"",
        s_secret,
    };
    enum { N = sizeof values / sizeof *values };
    install_var_t vars[N];
    char keys[N][8];
    for (size_t i = 0; i < N; i++) {
        snprintf(keys[i], sizeof keys[i], "V%zu", i);
        vars[i] = (install_var_t){keys[i], values[i], strlen(values[i])};
    }
    size_t len = install_vars_format(vars, N, NULL, 0);
    char *text = malloc(len + 1);
    assert_non_null(text);
    assert_int_equal(install_vars_format(vars, N, text, len + 1), len);
    assert_int_equal(strlen(text), len);
    /* A short buffer gets a cut, terminated text and the full length. */
    char small[8];
    assert_int_equal(install_vars_format(vars, N, small, sizeof small), len);
    assert_int_equal(strlen(small), sizeof small - 1);
    assert_memory_equal(small, text, sizeof small - 1);

    char *dir = tu_tmpdir();
    char *file = tu_path(dir, "env");
    tu_write(file, text, len, 0600);
    for (size_t i = 0; i < N; i++) {
        char *out = tu_path(dir, keys[i]);
        tu_sh("set -e; . %s; printf '%%s' \"$%s\" > %s", file, keys[i], out);
        size_t n = 0;
        char *got = tu_read(out, &n);
        assert_non_null(got);
        assert_int_equal(n, strlen(values[i]));
        assert_memory_equal(got, values[i], n);
        free(got);
        free(out);
    }
    free(file);
    tu_rmtree(dir);
    free(text);
}

/* --- end to end ---------------------------------------------------------- */

/* A release whose activate hook leaves in MARK what it saw: its
 * environment, .hoist/env, its mode and owner, and the secret as the
 * shell reads it back from the file. */
static void
s_release(fleet_t *f, const char *version, int seq)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/src-%s/hook.sh", f->dir, version);
    char *script = NULL;
    assert_true(
        asprintf(&script,
                 "#!/bin/sh\n"
                 "set -e\n"
                 "m=%s/$HOIST_VERSION-$(basename $(dirname "
                 "$(dirname $(dirname $(dirname \"$HOIST_RELEASE_DIR\")))))\n"
                 "mkdir -p \"$m\"\n"
                 "env > \"$m/env\"\n"
                 "cat .hoist/env > \"$m/file\"\n"
                 "stat -c %%a .hoist/env > \"$m/mode\"\n"
                 "stat -c %%U .hoist/env > \"$m/owner\"\n"
                 "(. ./.hoist/env; printf '%%s' \"$DB_PASSWORD\" > "
                 "\"$m/sourced\")\n",
                 f->mark) > 0);
    tu_write(path, script, (size_t)-1, 0755);
    free(script);
    fu_release(f, version, seq,
               "hooks:\n"
               "  activate: ./hook.sh\n"
               "health:\n"
               "  command: test -f VERSION\n"
               "  interval: 50ms\n");
}

/* What agent NAME's hook of VERSION left as WHAT (malloc'd, or NULL). */
static char *
s_mark(fleet_t *f, const char *version, const char *name, const char *what)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s-agent-%s/%s", f->mark, version, name,
             what);
    return tu_read(path, NULL);
}

/* `hoist vars set web KEY VALUE --env ENV [--secret]`, the value on
 * standard input (as a person would pass a secret); returns the exit. */
static int
s_set(fleet_t *f, const char *key, const char *value, const char *env,
      bool secret, char **out)
{
    char conf[PATH_MAX + 16], val[256], cmd[PATH_MAX + 256];
    snprintf(conf, sizeof conf, "HOIST_CONFIG=%s", f->conf);
    snprintf(val, sizeof val, "V=%s", value);
    snprintf(cmd, sizeof cmd,
             "printf '%%s' \"$V\" | %s vars set web %s - --env %s %s",
             HOIST_CLI_BIN, key, env, secret ? "--secret" : "");
    const char *argv[] = {"/bin/sh", "-c", cmd, NULL};
    const char *envp[] = {conf, val, NULL};
    tu_run_t r = tu_run(argv, envp);
    if (out) {
        *out = r.out;
        r.out = NULL;
    }
    tu_run_free(&r);
    return r.status;
}

static void
s_set_ok(fleet_t *f, const char *key, const char *value, bool secret)
{
    char *out = NULL;
    int rc = s_set(f, key, value, "dev", secret, &out);
    if (rc != 0) {
        print_error("vars set %s exited %d: %s\n", key, rc, out);
    }
    assert_int_equal(rc, 0);
    assert_null(strstr(out, value)); /* never repeated */
    free(out);
}

/* Every regular file under a walked tree that holds (part of) the
 * secret, except the release's own .hoist/env. */
static char s_found[4096];

static int
s_scan_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    size_t len = strlen(path), n = 0;
    static const char env_file[] = "/.hoist/env";
    bool allowed = len > sizeof env_file &&
                   strcmp(path + len - (sizeof env_file - 1), env_file) == 0 &&
                   strstr(path, "/apps/web/releases/") != NULL;
    if (type != FTW_F || allowed) {
        return 0;
    }
    char *data = tu_read(path, &n);
    if (data && memmem(data, n, S_SECRET_PART, strlen(S_SECRET_PART))) {
        size_t at = strlen(s_found);
        snprintf(s_found + at, sizeof s_found - at, "%s\n", path);
    }
    free(data);
    return 0;
}

/* Asserts that nothing under PATH (a file or a tree) holds the secret
 * but a release's .hoist/env. */
static void
s_assert_no_secret_under(const char *path)
{
    s_found[0] = '\0';
    assert_int_equal(nftw(path, s_scan_one, 16, FTW_PHYS), 0);
    if (s_found[0]) {
        print_error("the secret is in:\n%s", s_found);
    }
    assert_string_equal(s_found, "");
}

/* hoist ARGS with --json: exit 0 and no secret in its output. */
static void
s_assert_no_secret_in(fleet_t *f, const char *const *args)
{
    const char *argv[16] = {"--json"};
    size_t n = 1;
    for (size_t i = 0; args[i] && n < 15; i++) {
        argv[n++] = args[i];
    }
    argv[n] = NULL;
    tu_run_t r = fu_hoist(f, argv);
    assert_int_equal(r.status, 0);
    assert_null(strstr(r.out, S_SECRET_PART));
    tu_run_free(&r);
}

static void
test_secret_reaches_the_hook_and_nowhere_else(void **state)
{
    fleet_t *f = *state;
    int a = fu_agent(f, "dev-1", "dev");
    fu_wait_online(f, "dev-1");
    s_set_ok(f, "DB_URL", s_plain, false);
    s_set_ok(f, "DB_PASSWORD", s_secret, true);
    s_release(f, "1.0.0", 1);
    json_t *d = fu_deploy_wait(f, "1.0.0", "dev", 0);
    json_decref(d);

    /* The hook saw both, in its environment and in the file. */
    char *env = s_mark(f, "1.0.0", "dev-1", "env");
    assert_non_null(env);
    char want[512];
    snprintf(want, sizeof want, "DB_URL=%s\n", s_plain);
    assert_contains(env, want);
    snprintf(want, sizeof want, "DB_PASSWORD=%s\n", s_secret);
    assert_contains(env, want);
    assert_contains(env, "HOIST_APP=web\n");
    free(env);
    char *file = s_mark(f, "1.0.0", "dev-1", "file");
    assert_contains(file, "DB_URL='postgres://db.internal/dev'\n");
    assert_contains(file, "DB_PASSWORD='Zq9-s3cr3t '\\''it'\\'''\\''s'\\'' "
                          "$HOME-8c1f'\n");
    free(file);
    char *sourced = s_mark(f, "1.0.0", "dev-1", "sourced");
    assert_string_equal(sourced, s_secret);
    free(sourced);
    char *mode = s_mark(f, "1.0.0", "dev-1", "mode");
    assert_string_equal(mode, "600\n");
    free(mode);
    char *owner = s_mark(f, "1.0.0", "dev-1", "owner");
    snprintf(want, sizeof want, "%s\n", fu_me());
    assert_string_equal(owner, want);
    free(owner);

    /* Nowhere else: not the controller's data directory (database, WAL,
     * keys, artifacts), not its log, not the agent's root outside the
     * release's .hoist/env, not the agent's log. */
    char log[PATH_MAX + 32];
    s_assert_no_secret_under(f->data);
    snprintf(log, sizeof log, "%s/controller.log", f->dir);
    s_assert_no_secret_under(log);
    s_assert_no_secret_under(f->root[a]);
    snprintf(log, sizeof log, "%s.log", f->root[a]);
    s_assert_no_secret_under(log);
    char *kept = tu_path(f->root[a], "apps/web/releases/1.0.0/.hoist/env");
    size_t n = 0;
    char *text = tu_read(kept, &n);
    /* where it belongs */
    assert_non_null(memmem(text, n, S_SECRET_PART, strlen(S_SECRET_PART)));
    free(text);
    free(kept);

    /* Nor in what the CLI shows: the list (a secret's value is null), the
     * audit log, the deployment and its logs. */
    s_assert_no_secret_in(
        f, (const char *[]){"vars", "list", "web", "--env", "dev", NULL});
    s_assert_no_secret_in(f, (const char *[]){"audit", NULL});
    s_assert_no_secret_in(f, (const char *[]){"deployment", "show", "1", NULL});
    s_assert_no_secret_in(f, (const char *[]){"logs", "1", NULL});
    json_t *j = fu_hoist_json(
        f, (const char *[]){"vars", "list", "web", "--env", "dev", NULL});
    json_t *vars = json_object_get(j, "vars");
    assert_int_equal(json_array_size(vars), 2);
    json_t *pw = json_array_get(vars, 0), *url = json_array_get(vars, 1);
    assert_string_equal(json_string_value(json_object_get(pw, "key")),
                        "DB_PASSWORD");
    assert_true(json_is_true(json_object_get(pw, "secret")));
    assert_true(json_is_null(json_object_get(pw, "value")));
    assert_string_equal(json_string_value(json_object_get(url, "value")),
                        s_plain);
    json_decref(j);
    tu_run_t r = fu_hoist(
        f, (const char *[]){"vars", "list", "web", "--env", "dev", NULL});
    assert_contains(r.out, "(secret)");
    assert_contains(r.out, s_plain);
    tu_run_free(&r);

    /* Unset: the next release gets neither, and its file is empty. */
    r = fu_hoist(f, (const char *[]){"vars", "unset", "web", "DB_PASSWORD",
                                     "--env", "dev", NULL});
    assert_int_equal(r.status, 0);
    tu_run_free(&r);
    s_release(f, "1.1.0", 2);
    json_decref(fu_deploy_wait(f, "1.1.0", "dev", 0));
    env = s_mark(f, "1.1.0", "dev-1", "env");
    assert_null(strstr(env, "DB_PASSWORD"));
    assert_contains(env, "DB_URL=");
    free(env);
}

/* Bad names are refused (exit 2), and nothing is stored: a key that is no
 * environment variable name and one that would shadow HOIST_* (the CLI
 * refuses both before asking, with the controller's rule, envname; the
 * controller's own check is test_keys'), a missing environment. */
static void
test_bad_names_refused(void **state)
{
    fleet_t *f = *state;
    char *out = NULL;
    assert_int_equal(s_set(f, "db-url", "x", "dev", false, &out), 2);
    assert_contains(out, "cannot name a variable");
    free(out);
    assert_int_equal(s_set(f, "HOIST_ENV", "production", "dev", true, &out), 2);
    assert_contains(out, "hooks' own variables");
    free(out);
    assert_int_equal(s_set(f, "HOIST_APP", "evil", "dev", false, &out), 2);
    free(out);
    assert_int_equal(s_set(f, "OK_NAME", "x", "Not_An_Env", false, &out), 2);
    free(out);
    tu_run_t r = fu_hoist(f, (const char *[]){"vars", "unset", "web", "NOT_SET",
                                              "--env", "dev", NULL});
    assert_int_equal(r.status, 2);
    assert_contains(r.out, "no variable NOT_SET");
    tu_run_free(&r);
    json_t *j = fu_hoist_json(
        f, (const char *[]){"vars", "list", "web", "--env", "dev", NULL});
    assert_int_equal(json_array_size(json_object_get(j, "vars")), 0);
    json_decref(j);
    /* The refusals that reached the controller are on the record, without
     * the values. */
    r = fu_hoist(f, (const char *[]){"--json", "audit", NULL});
    assert_contains(r.out, "Not_An_Env");
    assert_null(strstr(r.out, "evil"));
    tu_run_free(&r);
}

/* Runs SQL on the controller's database behind its back. */
static void
s_sql(fleet_t *f, const char *sql)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/controller.db", f->data);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        print_error("%s: %s\n", sql, msg);
        fail();
    }
    sqlite3_close(db);
}

/* The box sent to dev-1 is one sealed to dev-2 (swapped in the database):
 * dev-1 cannot open it and refuses the order, nothing installed; dev-2
 * installs. */
static void
test_box_for_another_agent_refused(void **state)
{
    fleet_t *f = *state;
    int a = fu_agent(f, "dev-1", "dev"), b = fu_agent(f, "dev-2", "dev");
    fu_wait_online(f, "dev-1");
    fu_wait_online(f, "dev-2");
    s_set_ok(f, "DB_PASSWORD", s_secret, true);
    s_sql(f, "UPDATE var_seals SET box = (SELECT box FROM var_seals WHERE "
             "agent = 'dev-2') WHERE agent = 'dev-1'");
    s_release(f, "1.0.0", 1);
    json_t *d = fu_deploy_wait(f, "1.0.0", "dev", 1);
    assert_string_equal(fu_task_state(d, "dev-1"), "rejected");
    assert_string_equal(fu_task_state(d, "dev-2"), "succeeded");
    json_decref(d);
    tu_run_t r =
        fu_hoist(f, (const char *[]){"logs", "1", "--agent", "dev-1", NULL});
    assert_contains(r.out, "DB_PASSWORD does not open with this agent's key");
    assert_contains(r.out, "nothing was installed");
    tu_run_free(&r);
    char *live = fu_live(f, a);
    assert_string_equal(live, "");
    free(live);
    char *rel = tu_path(f->root[a], "apps/web/releases/1.0.0");
    assert_false(tu_exists(rel));
    free(rel);
    live = fu_live(f, b);
    assert_string_equal(live, "1.0.0");
    free(live);
}

/* A secret set before an agent was accepted is not sealed to it: its
 * task is refused, naming the secret, and set again it goes through. */
static void
test_agent_accepted_later(void **state)
{
    fleet_t *f = *state;
    fu_agent(f, "dev-1", "dev");
    fu_wait_online(f, "dev-1");
    s_set_ok(f, "DB_PASSWORD", s_secret, true);
    int b = fu_agent(f, "dev-2", "dev");
    fu_wait_online(f, "dev-2");
    s_release(f, "1.0.0", 1);
    json_t *d = fu_deploy_wait(f, "1.0.0", "dev", 1);
    assert_string_equal(fu_task_state(d, "dev-1"), "succeeded");
    assert_string_equal(fu_task_state(d, "dev-2"), "rejected");
    json_decref(d);
    tu_run_t r =
        fu_hoist(f, (const char *[]){"logs", "1", "--agent", "dev-2", NULL});
    assert_contains(r.out, "secret DB_PASSWORD of web in dev was set before "
                           "agent dev-2 was accepted");
    tu_run_free(&r);

    char *out = NULL;
    assert_int_equal(s_set(f, "DB_PASSWORD", s_secret, "dev", true, &out), 0);
    assert_contains(out, "sealed to 2 agents (dev-1, dev-2)");
    free(out);
    d = fu_deploy_wait(f, "1.0.0", "dev", 0);
    assert_string_equal(fu_task_state(d, "dev-2"), "succeeded");
    json_decref(d);
    char *sourced = s_mark(f, "1.0.0", "dev-2", "sourced");
    assert_string_equal(sourced, s_secret);
    free(sourced);
    char *live = fu_live(f, b);
    assert_string_equal(live, "1.0.0");
    free(live);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_agent_checks_an_order),
        cmocka_unit_test(test_env_file_round_trip),
        cmocka_unit_test_setup_teardown(
            test_secret_reaches_the_hook_and_nowhere_else, fu_setup,
            fu_teardown),
        cmocka_unit_test_setup_teardown(test_bad_names_refused, fu_setup,
                                        fu_teardown),
        cmocka_unit_test_setup_teardown(test_box_for_another_agent_refused,
                                        fu_setup, fu_teardown),
        cmocka_unit_test_setup_teardown(test_agent_accepted_later, fu_setup,
                                        fu_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, fu_kill_leftovers);
}
