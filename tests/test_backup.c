/*
 * test_backup: `hoist-controller backup` and `restore`, run as the real
 * program. A backup taken from a running controller, while another
 * connection keeps writing to its database, restores into an empty
 * directory from which a controller serves the same releases,
 * deployments and agents. Tampered and unsafe archives and a non-empty
 * target are refused, each leaving the target as it was.
 */
#include <archive.h>
#include <archive_entry.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fleetutil.h"
#include "store.h"

/* --- helpers ------------------------------------------------------------ */

static tu_run_t
s_backup(const char *data, const char *out)
{
    const char *argv[] = {
        HOIST_CONTROLLER_BIN, "backup", "--data-dir", data, "--out", out, NULL};
    return tu_run(argv, NULL);
}

static tu_run_t
s_restore(const char *from, const char *data, bool force)
{
    const char *argv[] = {
        HOIST_CONTROLLER_BIN,     "restore", "--data-dir", data, "--from", from,
        force ? "--force" : NULL, NULL};
    return tu_run(argv, NULL);
}

/* A second connection that commits a token row after another until told
 * to stop: the controller's database is written while it is copied. */
typedef struct {
    char *db;
    atomic_bool stop;
    atomic_int written;
    hoist_err_t failed;
} writer_t;

static void *
s_writer(void *arg)
{
    writer_t *w = arg;
    hoist_error_t err = {0};
    store_t *s = store_open(w->db, &err);
    if (!s) {
        w->failed = err.code;
        return NULL;
    }
    while (!atomic_load(&w->stop)) {
        store_token_t t = {.created_at = 1, .expires_at = 2};
        randombytes_buf(t.hash, sizeof t.hash);
        snprintf(t.env, sizeof t.env, "dev");
        snprintf(t.created_by, sizeof t.created_by, "admin");
        hoist_err_t rc = store_token_create(s, &t, &err);
        if (rc != HOIST_OK && rc != HOIST_ERR_BUSY) {
            w->failed = rc;
            break;
        }
        atomic_fetch_add(&w->written, rc == HOIST_OK);
    }
    store_close(&s);
    return NULL;
}

/* The result of `hoist ARGS --json` against F's controller. */
static json_t *
s_list(fleet_t *f, const char *a, const char *b)
{
    return fu_hoist_json(f, (const char *[]){a, b, NULL});
}

/* "name/env/state" of every agent of `hoist agents --json`, joined. */
static char *
s_agents(fleet_t *f)
{
    json_t *j = s_list(f, "agents", NULL);
    json_t *rows = json_is_array(j) ? j : json_object_get(j, "agents");
    char *out = calloc(1, 4096);
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row)
    {
        char line[256];
        snprintf(line, sizeof line, "%s/%s/%s;",
                 json_string_value(json_object_get(row, "name")),
                 json_string_value(json_object_get(row, "env")),
                 json_string_value(json_object_get(row, "state")));
        strncat(out, line, 4095 - strlen(out));
    }
    json_decref(j);
    return out;
}

/* SQLite's own verdict on the database at PATH. */
static void
s_assert_integrity(const char *path)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL),
                     SQLITE_OK);
    assert_int_equal(
        sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL),
        SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
    sqlite3_finalize(st);
    sqlite3_close(db);
}

/* --- the round trip ----------------------------------------------------- */

static void
test_backup_while_running_restores(void **state)
{
    fleet_t *f = *state;
    fu_agent(f, "dev-1", "dev");
    fu_wait_online(f, "dev-1");
    fu_release(f, "1.0.0", 1, FU_GOOD_SPEC);
    json_decref(fu_deploy_wait(f, "1.0.0", "dev", 0));

    writer_t w = {.db = tu_path(f->data, "controller.db")};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, s_writer, &w), 0);
    while (atomic_load(&w.written) == 0 && w.failed == HOIST_OK) {
        usleep(1000);
    }
    char *tar = tu_path(f->dir, "backup.tar");
    tu_run_t r = s_backup(f->data, tar);
    atomic_store(&w.stop, true);
    pthread_join(th, NULL);
    assert_int_equal(w.failed, HOIST_OK);
    if (r.status != 0) {
        fail_msg("backup: %s", r.out);
    }
    tu_run_free(&r);
    struct stat st;
    assert_int_equal(stat(tar, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);

    json_t *releases = s_list(f, "release", "list");
    json_t *deployments = s_list(f, "deployments", NULL);
    char *agents = s_agents(f);
    assert_contains(agents, "dev-1/dev/accepted");

    /* The machine is lost: the backup comes back into an empty directory
     * and a controller starts from it, on the same ports. */
    fu_stop(&f->controller, SIGTERM);
    char *restored = tu_path(f->dir, "restored");
    assert_int_equal(mkdir(restored, 0750), 0);
    r = s_restore(tar, restored, false);
    if (r.status != 0) {
        fail_msg("restore: %s", r.out);
    }
    tu_run_free(&r);
    char *db = tu_path(restored, "controller.db");
    s_assert_integrity(db);
    char *secret = tu_path(restored, "keys/server_secret");
    assert_int_equal(stat(secret, &st), 0);
    assert_int_equal(st.st_mode & 077, 0);
    assert_int_equal(stat(restored, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0750); /* the mode it had */

    free(f->data);
    free(f->conf);
    f->data = restored;
    f->conf = tu_path(restored, "cli.conf");
    fu_start_controller(f);
    json_t *releases2 = s_list(f, "release", "list");
    json_t *deployments2 = s_list(f, "deployments", NULL);
    char *agents2 = s_agents(f);
    assert_true(json_equal(releases, releases2));
    assert_true(json_equal(deployments, deployments2));
    assert_string_equal(agents, agents2);
    /* The agent knows this controller's key: it comes back online. */
    fu_wait_online(f, "dev-1");

    json_decref(releases);
    json_decref(releases2);
    json_decref(deployments);
    json_decref(deployments2);
    free(agents);
    free(agents2);
    free(secret);
    free(db);
    free(tar);
    free(w.db);
}

/* --- refusals ----------------------------------------------------------- */

typedef struct {
    char *dir;    /* the test's temporary directory */
    char *data;   /* a controller's data directory, with one artifact */
    char *good;   /* its backup */
    char *target; /* an empty directory to restore into */
} refusal_t;

static int
s_setup_refusal(void **state)
{
    refusal_t *t = calloc(1, sizeof *t);
    t->dir = tu_tmpdir();
    t->data = tu_path(t->dir, "data");
    t->good = tu_path(t->dir, "good.tar");
    t->target = tu_path(t->dir, "target");
    tu_sh("%s init --data-dir %s >/dev/null", HOIST_CONTROLLER_BIN, t->data);
    static const char body[] = "an artifact's bytes";
    uint8_t d[32];
    char hex[65], name[128];
    crypto_generichash(d, sizeof d, (const uint8_t *)body, strlen(body), NULL,
                       0);
    sodium_bin2hex(hex, sizeof hex, d, sizeof d);
    snprintf(name, sizeof name, "artifacts/%s", hex);
    char *art = tu_path(t->data, name);
    tu_write(art, body, (size_t)-1, 0600);
    free(art);
    tu_run_t r = s_backup(t->data, t->good);
    assert_int_equal(r.status, 0);
    tu_run_free(&r);
    assert_int_equal(mkdir(t->target, 0700), 0);
    *state = t;
    return 0;
}

static int
s_teardown_refusal(void **state)
{
    refusal_t *t = *state;
    free(t->data);
    free(t->good);
    free(t->target);
    tu_rmtree(t->dir);
    free(t);
    return 0;
}

typedef enum {
    EXTRA_NONE,
    EXTRA_DOTDOT,
    EXTRA_ABSOLUTE,
    EXTRA_SYMLINK,
    EXTRA_UNKNOWN,
} extra_t;

/* Copies the archive SRC to DST, flipping a byte of each artifact when
 * TAMPER, then appends the entry EXTRA. */
static void
s_rewrite(const char *src, const char *dst, bool tamper, extra_t extra)
{
    struct archive *in = archive_read_new(), *out = archive_write_new();
    archive_read_support_format_tar(in);
    assert_int_equal(archive_read_open_filename(in, src, 10240), ARCHIVE_OK);
    archive_write_set_format_pax_restricted(out);
    assert_int_equal(archive_write_open_filename(out, dst), ARCHIVE_OK);
    struct archive_entry *e;
    static char buf[1 << 20];
    while (archive_read_next_header(in, &e) == ARCHIVE_OK) {
        la_ssize_t n = archive_read_data(in, buf, sizeof buf);
        assert_true(n >= 0);
        if (tamper && n > 0 &&
            strncmp(archive_entry_pathname(e), "artifacts/", 10) == 0) {
            buf[0] ^= 1;
        }
        assert_int_equal(archive_write_header(out, e), ARCHIVE_OK);
        assert_int_equal(archive_write_data(out, buf, (size_t)n), n);
    }
    static const char *const names[] = {NULL, "../evil", "/tmp/evil",
                                        "keys/evil", "notes.txt"};
    if (extra != EXTRA_NONE) {
        e = archive_entry_new();
        archive_entry_set_pathname(e, names[extra]);
        archive_entry_set_perm(e, 0644);
        if (extra == EXTRA_SYMLINK) {
            archive_entry_set_filetype(e, AE_IFLNK);
            archive_entry_set_symlink(e, "/etc/passwd");
        } else {
            archive_entry_set_filetype(e, AE_IFREG);
            archive_entry_set_size(e, 5);
        }
        assert_int_equal(archive_write_header(out, e), ARCHIVE_OK);
        if (extra != EXTRA_SYMLINK) {
            assert_int_equal(archive_write_data(out, "evil\n", 5), 5);
        }
        archive_entry_free(e);
    }
    archive_read_free(in);
    assert_int_equal(archive_write_close(out), ARCHIVE_OK);
    archive_write_free(out);
}

/* Restores ARCHIVE into T's empty target, expecting a refusal saying
 * WHY, and checks that nothing changed: the target is still empty and no
 * staging directory is left beside it. */
static void
s_assert_refused(refusal_t *t, const char *archive, const char *why)
{
    int before = tu_count_entries(t->dir);
    tu_run_t r = s_restore(archive, t->target, false);
    assert_int_not_equal(r.status, 0);
    assert_contains(r.out, why);
    assert_contains(r.out, "nothing changed");
    tu_run_free(&r);
    assert_int_equal(tu_count_entries(t->target), 0);
    assert_int_equal(tu_count_entries(t->dir), before);
}

static void
test_good_archive_restores(void **state)
{
    refusal_t *t = *state;
    tu_run_t r = s_restore(t->good, t->target, false);
    assert_int_equal(r.status, 0);
    tu_run_free(&r);
    /* The restored directory passes what `run -n` checks. */
    char *conf = tu_path(t->dir, "controller.yml");
    tu_write(conf, "# defaults\n", (size_t)-1, 0644);
    const char *argv[] = {
        HOIST_CONTROLLER_BIN, "run",     "-n", "--config", conf,
        "--data-dir",         t->target, NULL};
    r = tu_run(argv, NULL);
    assert_int_equal(r.status, 0);
    assert_contains(r.out, "configuration ok");
    tu_run_free(&r);
    free(conf);
}

static void
test_tampered_artifact_refused(void **state)
{
    refusal_t *t = *state;
    char *bad = tu_path(t->dir, "tampered.tar");
    s_rewrite(t->good, bad, true, EXTRA_NONE);
    s_assert_refused(t, bad, "corrupt or was altered");
    free(bad);
}

static void
test_unsafe_entries_refused(void **state)
{
    refusal_t *t = *state;
    static const struct {
        extra_t extra;
        const char *why;
    } cases[] = {
        {EXTRA_DOTDOT, "climbs out with '..'"},
        {EXTRA_ABSOLUTE, "absolute path"},
        {EXTRA_SYMLINK, "is a link"},
        {EXTRA_UNKNOWN, "unknown entry 'notes.txt'"},
    };
    char *bad = tu_path(t->dir, "bad.tar");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        s_rewrite(t->good, bad, false, cases[i].extra);
        s_assert_refused(t, bad, cases[i].why);
        unlink(bad);
    }
    char *evil = tu_path(t->dir, "evil");
    assert_false(tu_exists(evil));
    free(evil);
    free(bad);
}

static void
test_not_a_tar_refused(void **state)
{
    refusal_t *t = *state;
    char *junk = tu_path(t->dir, "junk.tar");
    tu_write(junk, "this is not a tar archive at all\n", (size_t)-1, 0600);
    s_assert_refused(t, junk, "not a readable tar archive");
    free(junk);
}

static void
test_non_empty_target_refused(void **state)
{
    refusal_t *t = *state;
    char *precious = tu_path(t->target, "precious");
    tu_write(precious, "keep me\n", (size_t)-1, 0600);
    tu_run_t r = s_restore(t->good, t->target, false);
    assert_int_not_equal(r.status, 0);
    assert_contains(r.out, "is not empty");
    tu_run_free(&r);
    assert_int_equal(tu_count_entries(t->target), 1);
    char *text = tu_read(precious, NULL);
    assert_string_equal(text, "keep me\n");
    free(text);

    /* --force replaces it and keeps the old one aside. */
    r = s_restore(t->good, t->target, true);
    assert_int_equal(r.status, 0);
    assert_contains(r.out, "is kept in");
    tu_run_free(&r);
    assert_false(tu_exists(precious));
    char *conf = tu_path(t->target, "controller.conf");
    assert_true(tu_exists(conf));
    free(conf);
    free(precious);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_backup_while_running_restores,
                                        fu_setup, fu_teardown),
        cmocka_unit_test_setup_teardown(test_good_archive_restores,
                                        s_setup_refusal, s_teardown_refusal),
        cmocka_unit_test_setup_teardown(test_tampered_artifact_refused,
                                        s_setup_refusal, s_teardown_refusal),
        cmocka_unit_test_setup_teardown(test_unsafe_entries_refused,
                                        s_setup_refusal, s_teardown_refusal),
        cmocka_unit_test_setup_teardown(test_not_a_tar_refused, s_setup_refusal,
                                        s_teardown_refusal),
        cmocka_unit_test_setup_teardown(test_non_empty_target_refused,
                                        s_setup_refusal, s_teardown_refusal),
    };
    return cmocka_run_group_tests(tests, NULL, fu_kill_leftovers);
}
