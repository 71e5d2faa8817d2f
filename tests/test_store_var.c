/*
 * test_store_var: per-environment variables on a real SQLite file: plain
 * values kept as they are, secrets kept only as boxes sealed to agents
 * (never a clear byte of them in the database file or its WAL), a
 * variable replaced whole with its boxes, unset, and every refusal.
 */
#include "testutil.h"

#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "seal.h"
#include "store.h"
#include "store_sql.h" /* raw counts of var_seals rows */

static const char s_secret[] = "hunter2-correct-horse-battery";

typedef struct {
    char *dir;
    char *path;
    store_t *s;
    zcert_t *cert[2]; /* agents web-1 and web-2 of dev */
} fixture_t;

static void
s_add_agent(store_t *s, const char *name, const char *env, zcert_t *cert)
{
    hoist_error_t err = {0};
    store_agent_t a;
    memset(&a, 0, sizeof a);
    snprintf(a.name, sizeof a.name, "%s", name);
    snprintf(a.env, sizeof a.env, "%s", env);
    snprintf(a.pubkey, sizeof a.pubkey, "%s", zcert_public_txt(cert));
    a.state = STORE_AGENT_ACCEPTED;
    a.created_at = 1;
    if (store_agent_add(s, &a, &err) != HOIST_OK) {
        fail_msg("add agent %s: %s", name, err.msg);
    }
}

static int
s_setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    hoist_error_t err = {0};
    assert_non_null(f);
    f->dir = tu_tmpdir();
    f->path = tu_path(f->dir, "hoist.db");
    f->s = store_open(f->path, &err);
    if (!f->s) {
        fail_msg("store_open: %s", err.msg);
    }
    for (int i = 0; i < 2; i++) {
        f->cert[i] = zcert_new();
        assert_non_null(f->cert[i]);
    }
    s_add_agent(f->s, "web-1", "dev", f->cert[0]);
    s_add_agent(f->s, "web-2", "dev", f->cert[1]);
    *state = f;
    return 0;
}

static int
s_teardown(void **state)
{
    fixture_t *f = *state;
    store_close(&f->s);
    for (int i = 0; i < 2; i++) {
        zcert_destroy(&f->cert[i]);
    }
    free(f->path);
    tu_rmtree(f->dir);
    free(f);
    return 0;
}

/* A variable row (heap: the struct is about 64 KiB). */
static store_var_t *
s_var(const char *env, const char *key, const char *value, bool secret)
{
    store_var_t *v = calloc(1, sizeof *v);
    assert_non_null(v);
    snprintf(v->app, sizeof v->app, "web");
    snprintf(v->env, sizeof v->env, "%s", env);
    snprintf(v->key, sizeof v->key, "%s", key);
    snprintf(v->updated_by, sizeof v->updated_by, "alice");
    v->updated_at = 1234;
    v->secret = secret;
    v->size = strlen(value);
    if (!secret) {
        memcpy(v->value, value, strlen(value));
        v->value_len = strlen(value);
    }
    return v;
}

static void
s_set_plain(fixture_t *f, const char *env, const char *key, const char *value)
{
    hoist_error_t err = {0};
    store_var_t *v = s_var(env, key, value, false);
    if (store_var_set(f->s, v, NULL, 0, &err) != HOIST_OK) {
        fail_msg("set %s: %s", key, err.msg);
    }
    free(v);
}

/* Sets secret KEY in dev to VALUE, sealed to the first N agents. */
static void
s_set_secret(fixture_t *f, const char *key, const char *value, size_t n)
{
    hoist_error_t err = {0};
    store_var_t *v = s_var("dev", key, value, true);
    store_var_seal_t seals[2];
    const char *names[] = {"web-1", "web-2"};
    uint8_t *boxes[2] = {NULL, NULL};
    for (size_t i = 0; i < n; i++) {
        size_t len = 0;
        assert_int_equal(seal_to(zcert_public_txt(f->cert[i]), value,
                                 strlen(value), &boxes[i], &len, &err),
                         HOIST_OK);
        seals[i] = (store_var_seal_t){names[i], boxes[i], len};
    }
    if (store_var_set(f->s, v, seals, n, &err) != HOIST_OK) {
        fail_msg("set secret %s: %s", key, err.msg);
    }
    for (size_t i = 0; i < n; i++) {
        seal_free(&boxes[i], seals[i].len);
    }
    free(v);
}

typedef struct {
    char text[2048];
    int n;
    int stop_after;
    char value[256]; /* of the last row, as text */
    size_t value_len;
    bool secret;
} seen_t;

static int
s_see(const store_var_t *row, void *arg)
{
    seen_t *seen = arg;
    size_t len = strlen(seen->text);
    snprintf(seen->text + len, sizeof seen->text - len, "%s%s/%s%s",
             len ? "," : "", row->env, row->key, row->secret ? "*" : "");
    seen->value_len = row->value_len;
    seen->secret = row->secret;
    snprintf(seen->value, sizeof seen->value, "%.*s", (int)row->value_len,
             (const char *)row->value);
    seen->n++;
    return seen->stop_after && seen->n >= seen->stop_after;
}

static seen_t
s_list(fixture_t *f, const char *env)
{
    hoist_error_t err = {0};
    seen_t seen;
    memset(&seen, 0, sizeof seen);
    if (store_var_list(f->s, "web", env, s_see, &seen, &err) != HOIST_OK) {
        fail_msg("list: %s", err.msg);
    }
    return seen;
}

/* What AGENT receives of KEY, the only variable listed with it set. */
typedef struct {
    const char *key;
    store_var_t row;
    bool found;
} pick_t;

static int
s_pick(const store_var_t *row, void *arg)
{
    pick_t *p = arg;
    if (strcmp(row->key, p->key) == 0) {
        p->row = *row;
        p->found = true;
    }
    return 0;
}

static pick_t *
s_for(fixture_t *f, const char *agent, const char *key)
{
    hoist_error_t err = {0};
    pick_t *p = calloc(1, sizeof *p);
    assert_non_null(p);
    p->key = key;
    if (store_var_list_for(f->s, "web", "dev", agent, s_pick, p, &err) !=
        HOIST_OK) {
        fail_msg("list for %s: %s", agent, err.msg);
    }
    return p;
}

static long long
s_count(fixture_t *f, const char *sql)
{
    hoist_error_t err = {0};
    int64_t n = -1;
    if (store_sql_get(f->s, &store_sql_count_noun, sql, NO_ARGS, &n, &err,
                      "no answer") != HOIST_OK) {
        fail_msg("%s: %s", sql, err.msg);
    }
    return (long long)n;
}

/* True if the file at PATH holds the LEN bytes of NEEDLE. */
static bool
s_file_holds(const char *path, const void *needle, size_t len)
{
    size_t n = 0;
    char *data = tu_read(path, &n);
    bool found = data && memmem(data, n, needle, len) != NULL;
    free(data);
    return found;
}

/* --- tests -------------------------------------------------------------- */

static void
test_set_and_list(void **state)
{
    fixture_t *f = *state;
    s_set_plain(f, "dev", "LOG_LEVEL", "debug");
    s_set_plain(f, "dev", "DB_URL", "postgres://db/dev");
    s_set_plain(f, "staging", "DB_URL", "postgres://db/staging");
    s_set_plain(f, "dev", "EMPTY", "");
    s_set_secret(f, "DB_PASSWORD", s_secret, 2);

    /* By environment, then key; a secret without its value. */
    seen_t seen = s_list(f, NULL);
    assert_string_equal(seen.text, "dev/DB_PASSWORD*,dev/DB_URL,dev/EMPTY,"
                                   "dev/LOG_LEVEL,staging/DB_URL");
    seen = s_list(f, "dev");
    assert_int_equal(seen.n, 4);
    assert_string_equal(seen.value, "debug");
    seen = s_list(f, "staging");
    assert_string_equal(seen.value, "postgres://db/staging");

    /* Stopping early. */
    memset(&seen, 0, sizeof seen);
    seen.stop_after = 1;
    hoist_error_t err = {0};
    assert_int_equal(store_var_list(f->s, "web", "", s_see, &seen, &err),
                     HOIST_OK);
    assert_string_equal(seen.text, "dev/DB_PASSWORD*");
    assert_true(seen.secret);
    assert_int_equal(seen.value_len, 0);

    /* A plain value, empty or not, reads back whole, with who and when. */
    pick_t *p = s_for(f, "web-1", "EMPTY");
    assert_true(p->found);
    assert_false(p->row.secret);
    assert_int_equal(p->row.value_len, 0);
    free(p);
    p = s_for(f, "web-1", "DB_URL");
    assert_int_equal(p->row.value_len, strlen("postgres://db/dev"));
    assert_memory_equal(p->row.value, "postgres://db/dev", p->row.value_len);
    assert_string_equal(p->row.updated_by, "alice");
    assert_int_equal(p->row.updated_at, 1234);
    free(p);
}

/* Each agent receives the box sealed to it, which only it can open; an
 * agent with no box (accepted after the secret was set) gets none. */
static void
test_each_agent_gets_its_own_box(void **state)
{
    fixture_t *f = *state;
    s_set_secret(f, "API_TOKEN", s_secret, 1); /* web-1 only */
    pick_t *p1 = s_for(f, "web-1", "API_TOKEN");
    pick_t *p2 = s_for(f, "web-2", "API_TOKEN");
    assert_true(p1->found && p2->found);
    assert_true(p1->row.secret);
    assert_int_equal(p1->row.size, strlen(s_secret));
    assert_int_equal(p1->row.value_len, strlen(s_secret) + SEAL_OVERHEAD);
    assert_int_equal(p2->row.value_len, 0);
    uint8_t *plain = NULL;
    size_t len = 0;
    assert_int_equal(seal_open(zcert_public_key(f->cert[0]),
                               zcert_secret_key(f->cert[0]), p1->row.value,
                               p1->row.value_len, &plain, &len, NULL),
                     HOIST_OK);
    assert_string_equal((char *)plain, s_secret);
    seal_free(&plain, len);
    assert_int_not_equal(seal_open(zcert_public_key(f->cert[1]),
                                   zcert_secret_key(f->cert[1]), p1->row.value,
                                   p1->row.value_len, &plain, &len, NULL),
                         HOIST_OK);
    free(p1);
    free(p2);

    /* Set again for both: both get a box, and the old one is gone. */
    s_set_secret(f, "API_TOKEN", "rotated-value", 2);
    assert_int_equal(s_count(f, "SELECT count(*) FROM var_seals"), 2);
    p2 = s_for(f, "web-2", "API_TOKEN");
    assert_int_equal(p2->row.value_len,
                     strlen("rotated-value") + SEAL_OVERHEAD);
    free(p2);

    /* Made plain: its boxes go. */
    s_set_plain(f, "dev", "API_TOKEN", "public-now");
    assert_int_equal(s_count(f, "SELECT count(*) FROM var_seals"), 0);
    p1 = s_for(f, "web-1", "API_TOKEN");
    assert_false(p1->row.secret);
    assert_memory_equal(p1->row.value, "public-now", p1->row.value_len);
    free(p1);
}

static void
test_unset(void **state)
{
    fixture_t *f = *state;
    hoist_error_t err = {0};
    s_set_plain(f, "dev", "A", "1");
    s_set_secret(f, "B", s_secret, 2);
    assert_int_equal(store_var_unset(f->s, "web", "dev", "B", &err), HOIST_OK);
    assert_int_equal(s_count(f, "SELECT count(*) FROM var_seals"), 0);
    assert_string_equal(s_list(f, "dev").text, "dev/A");
    assert_int_equal(store_var_unset(f->s, "web", "dev", "B", &err),
                     STORE_ERR_NOTFOUND);
    assert_non_null(strstr(err.msg, "no variable B in dev"));
    assert_int_equal(store_var_unset(f->s, "web", "staging", "A", &err),
                     STORE_ERR_NOTFOUND);
    assert_string_equal(s_list(f, "dev").text, "dev/A");
}

static void
test_refusals_change_nothing(void **state)
{
    fixture_t *f = *state;
    hoist_error_t err = {0};
    s_set_plain(f, "dev", "KEEP", "old");

    /* A secret given its clear value. */
    store_var_t *v = s_var("dev", "KEEP", s_secret, true);
    memcpy(v->value, s_secret, strlen(s_secret));
    v->value_len = strlen(s_secret);
    assert_int_equal(store_var_set(f->s, v, NULL, 0, &err), HOIST_ERR_USAGE);
    assert_non_null(strstr(err.msg, "never stored"));
    free(v);

    /* A plain variable given boxes. */
    uint8_t box[64] = {1};
    store_var_seal_t seal = {"web-1", box, sizeof box};
    v = s_var("dev", "KEEP", "new", false);
    assert_int_equal(store_var_set(f->s, v, &seal, 1, &err), HOIST_ERR_USAGE);
    free(v);

    /* A box for an agent that does not exist: all or nothing. */
    v = s_var("dev", "KEEP", "new", true);
    store_var_seal_t seals[] = {{"web-1", box, sizeof box},
                                {"ghost", box, sizeof box}};
    assert_int_equal(store_var_set(f->s, v, seals, 2, &err),
                     STORE_ERR_NOTFOUND);
    assert_non_null(strstr(err.msg, "ghost"));
    free(v);

    /* Too long, empty names. */
    v = s_var("dev", "KEEP", "new", false);
    v->value_len = STORE_VAR_VALUE_MAX + 1;
    assert_int_equal(store_var_set(f->s, v, NULL, 0, &err), HOIST_ERR_LIMIT);
    v->value_len = 3;
    v->key[0] = '\0';
    assert_int_equal(store_var_set(f->s, v, NULL, 0, &err), HOIST_ERR_USAGE);
    free(v);

    pick_t *p = s_for(f, "web-1", "KEEP");
    assert_false(p->row.secret);
    assert_memory_equal(p->row.value, "old", 3);
    free(p);
    assert_int_equal(s_count(f, "SELECT count(*) FROM var_seals"), 0);
    assert_int_equal(s_count(f, "SELECT count(*) FROM vars"), 1);
}

/* The raw bytes of the database and its WAL never hold a secret's clear
 * value, while they do hold a plain one (so the search can find what is
 * there), before and after the file is closed and opened again. */
static void
test_no_clear_secret_in_database_file(void **state)
{
    fixture_t *f = *state;
    static const char plain[] = "plain-marker-7f3a9c";
    s_set_plain(f, "dev", "VISIBLE", plain);
    s_set_secret(f, "HIDDEN", s_secret, 2);
    s_set_secret(f, "HIDDEN", s_secret, 2); /* replaced: old pages too */
    char *wal = NULL;
    assert_true(asprintf(&wal, "%s-wal", f->path) > 0);
    bool plain_seen = s_file_holds(f->path, plain, strlen(plain)) ||
                      s_file_holds(wal, plain, strlen(plain));
    assert_true(plain_seen);
    assert_false(s_file_holds(f->path, s_secret, strlen(s_secret)));
    assert_false(s_file_holds(wal, s_secret, strlen(s_secret)));

    hoist_error_t err = {0};
    store_close(&f->s);
    f->s = store_open(f->path, &err);
    assert_non_null(f->s);
    assert_true(s_file_holds(f->path, plain, strlen(plain)) ||
                s_file_holds(wal, plain, strlen(plain)));
    assert_false(s_file_holds(f->path, s_secret, strlen(s_secret)));
    assert_false(s_file_holds(wal, s_secret, strlen(s_secret)));
    free(wal);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_set_and_list, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_each_agent_gets_its_own_box,
                                        s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_unset, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_refusals_change_nothing, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_no_clear_secret_in_database_file,
                                        s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
