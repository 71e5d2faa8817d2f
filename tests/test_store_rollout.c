/*
 * test_store_rollout: what the store keeps for rollouts (issue 5): schema
 * migration 4, which rebuilds deployments and tasks to widen their states
 * and add the rollout's fields, on a file a schema-3 Hoist left behind
 * (rows, references and the id sequence kept; a foreign key violation
 * refused); and the new fields and states read back as written.
 */
#include "storeutil.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"
#include "store_sql.h" /* store_migrations: a file of schema 3 */

/* --- raw SQL on the file, behind the store's back ---------------------- */

/* Every row of TABLE, its columns COLS (an SQL list), as one text: how a
 * test sees that a migration kept each row as it was. */
static char *
s_dump(const char *path, const char *table, const char *cols)
{
    char sql[1024];
    snprintf(sql, sizeof sql,
             "SELECT count(*) || ':' || coalesce(group_concat(j, '|'), '')"
             " FROM (SELECT json_array(%s) AS j FROM %s ORDER BY j)",
             cols, table);
    return su_raw_text(path, sql);
}

/* --- a file of schema 3 -------------------------------------------------- */

/* The columns that tables had at schema 3, for s_dump. */
static const struct {
    const char *table;
    const char *cols;
} s_old_tables[] = {
    {"agents", "id, name, pubkey, env, state, created_at"},
    {"releases", "id, app, version, hex(manifest), lifecycle"},
    {"deployments", "id, app, version, env, kind, state, created_by,"
                    " created_at, finished_at"},
    {"tasks", "deployment_id, agent, state, step, message, live_version,"
              " updated_at"},
    {"schedules", "id, app, version, env, at_ms, at_text, state, created_by,"
                  " created_at, override_freeze, reason, note, deployment_id"},
    {"approvals", "id, app, version, env, user, role, comment, created_at"},
    {"vars", "id, app, env, key, secret, hex(value), size, updated_by,"
             " updated_at"},
    {"var_seals", "var, agent, hex(box)"},
};

#define OLD_TABLES (sizeof s_old_tables / sizeof s_old_tables[0])

/* Writes, at PATH, the database a Hoist of schema 3 left behind: the first
 * three migrations, their schema_version rows and a row or more of each
 * table, including a deployment that was deleted after its id was used
 * (id 3: the sequence says 3, the table's largest id is 2). EXTRA is more
 * SQL to run on it, with foreign keys off. */
static void
s_write_schema3(const char *path, const char *extra)
{
    static const char rows[] =
        "CREATE TABLE schema_version (version INTEGER PRIMARY KEY,"
        " applied_at INTEGER NOT NULL) STRICT;"
        "INSERT INTO schema_version VALUES (1, 0), (2, 0), (3, 0);"
        "INSERT INTO agents (name, pubkey, env, state, created_at) VALUES"
        " ('web-1', 'Agent+0000000000000000000000000000000001', 'prod',"
        " 'accepted', 5),"
        " ('web-2', 'Agent+0000000000000000000000000000000002', 'prod',"
        " 'accepted', 6);"
        "INSERT INTO releases (app, version, sequence, digest, size,"
        " manifest, notes, created_at, lifecycle) VALUES"
        " ('web', '1.0.0', 1, '0aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        "aaaaaaaaaaaaaaaa', 10, x'00ff', '', 100, ''),"
        " ('web', '1.1.0', 2, '0aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        "aaaaaaaaaaaaaaaa', 10, x'01', '', 200, 'hotfix');"
        "INSERT INTO deployments (app, version, env, kind, state,"
        " created_by, created_at, finished_at) VALUES"
        " ('web', '1.0.0', 'prod', 'deploy', 'succeeded', 'alice', 101, 102),"
        " ('web', '1.1.0', 'prod', 'deploy', 'running', 'bob', 201, 0),"
        " ('web', '1.1.0', 'prod', 'rollback', 'rolled_back', 'bob', 301,"
        " 302);"
        "DELETE FROM deployments WHERE id = 3;"
        "INSERT INTO tasks (deployment_id, agent, state, step, message,"
        " live_version, updated_at) VALUES"
        " (1, 'web-1', 'succeeded', 'health', 'ok', '1.0.0', 110),"
        " (2, 'web-1', 'running', 'activate', '', '1.0.0', 210),"
        " (2, 'web-2', 'rolled_back', 'health', 'it broke', '1.0.0', 220);"
        "INSERT INTO schedules (id, app, version, env, at_ms, at_text, state,"
        " created_by, created_at, note, deployment_id) VALUES"
        " (1, 'web', '1.1.0', 'prod', 200000, 'tomorrow 09:00 UTC', 'fired',"
        " 'carol', 150, 'deployment 2', 2),"
        " (2, 'web', '1.1.0', 'prod', 900000, 'friday', 'pending', 'carol',"
        " 160, '', NULL);"
        "INSERT INTO approvals (app, version, env, user, role, comment,"
        " created_at) VALUES ('web', '1.1.0', 'prod', 'dave', 'qa', 'fine',"
        " 170);"
        "INSERT INTO vars (app, env, key, secret, value, size, updated_by,"
        " updated_at) VALUES"
        " ('web', 'prod', 'PORT', 0, x'38303830', 4, 'erin', 180),"
        " ('web', 'prod', 'TOKEN', 1, NULL, 6, 'erin', 181);"
        "INSERT INTO var_seals (var, agent, box) VALUES (2, 'web-1', "
        "x'c0ffee');";
    sqlite3 *db = su_raw_open(path);
    char *msg = NULL;
    assert_true(store_migrations_count >= 4);
    for (size_t i = 0; i < 3; i++) {
        if (sqlite3_exec(db, store_migrations[i], NULL, NULL, &msg) !=
            SQLITE_OK) {
            fail_msg("migration %zu: %s", i + 1, msg);
        }
    }
    if (sqlite3_exec(db, "PRAGMA foreign_keys = OFF", NULL, NULL, &msg) !=
            SQLITE_OK ||
        sqlite3_exec(db, rows, NULL, NULL, &msg) != SQLITE_OK ||
        (extra && sqlite3_exec(db, extra, NULL, NULL, &msg) != SQLITE_OK)) {
        fail_msg("schema 3: %s", msg);
    }
    sqlite3_close(db);
}

/* --- migrating ----------------------------------------------------------- */

static void
test_migrates_schema3_file_keeping_rows(void **state)
{
    su_fixture_t *f = *state;
    hoist_error_t err = {0};
    char *old = tu_path(f->dir, "old.db");
    char *before[OLD_TABLES];
    s_write_schema3(old, NULL);
    assert_int_equal(su_raw_int(old, "SELECT seq FROM sqlite_sequence"
                                     " WHERE name = 'deployments'"),
                     3);
    for (size_t i = 0; i < OLD_TABLES; i++) {
        before[i] = s_dump(old, s_old_tables[i].table, s_old_tables[i].cols);
    }

    store_t *s = store_open(old, &err);
    if (!s) {
        fail_msg("store_open: %s", err.msg);
    }
    assert_int_equal(store_schema_version(s), (int)store_migrations_count);
    assert_int_equal(store_migrations_applied(s),
                     (int)store_migrations_count - 3);

    /* Every row of every table is there as it was. */
    for (size_t i = 0; i < OLD_TABLES; i++) {
        char *after = s_dump(old, s_old_tables[i].table, s_old_tables[i].cols);
        assert_string_equal(after, before[i]);
        free(after);
        free(before[i]);
    }
    assert_int_equal(su_raw_int(old, "SELECT count(*) FROM deployments"), 2);
    assert_int_equal(su_raw_int(old, "SELECT count(*) FROM tasks"), 3);

    /* They read through the store, the new fields at their defaults. */
    store_deployment_t d;
    assert_int_equal(store_deployment_get(s, 2, &d, &err), HOIST_OK);
    assert_int_equal(d.state, STORE_DEPLOY_RUNNING);
    assert_string_equal(d.created_by, "bob");
    assert_string_equal(d.strategy, "");
    assert_string_equal(d.selector, "");
    assert_int_equal(d.started_ms, 0);
    assert_false(d.halted);
    assert_string_equal(d.halt_reason, "");
    assert_int_equal(d.continued_ms, 0);
    assert_false(d.cancelled);
    assert_false(d.cancel_rollback);
    store_task_t *t = calloc(1, sizeof *t);
    assert_non_null(t);
    assert_int_equal(store_task_get(s, 2, "web-2", t, &err), HOIST_OK);
    assert_int_equal(t->state, STORE_TASK_ROLLED_BACK);
    assert_string_equal(t->message, "it broke");
    assert_string_equal(t->live_version, "1.0.0");
    assert_string_equal(t->previous, "");
    assert_int_equal(t->started_ms, 0);
    assert_int_equal(t->progress_ms, 0);
    assert_int_equal(t->finished_ms, 0);
    assert_int_equal(t->updated_at, 220);
    store_schedule_t sch;
    assert_int_equal(store_schedule_get(s, 1, &sch, &err), HOIST_OK);
    assert_int_equal(sch.deployment_id, 2);

    /* No id is used twice: not even 3, whose deployment is gone. */
    memset(&d, 0, sizeof d);
    snprintf(d.app, sizeof d.app, "web");
    snprintf(d.version, sizeof d.version, "1.1.0");
    snprintf(d.env, sizeof d.env, "prod");
    snprintf(d.created_by, sizeof d.created_by, "bob");
    int64_t id = 0;
    assert_int_equal(store_deployment_create(s, &d, &id, &err), HOIST_OK);
    assert_int_equal(id, 4);
    store_close(&s);
    assert_int_equal(su_raw_int(old, "SELECT count(*) FROM sqlite_sequence"
                                     " WHERE name LIKE 'deployments%'"),
                     1);

    /* Migrated once: the next open applies nothing. */
    s = store_open(old, &err);
    assert_non_null(s);
    assert_int_equal(store_migrations_applied(s), 0);
    store_close(&s);
    free(t);
    free(old);
}

static void
test_migrated_schema_keeps_its_shape(void **state)
{
    su_fixture_t *f = *state;
    hoist_error_t err = {0};
    char *old = tu_path(f->dir, "old.db");
    s_write_schema3(old, NULL);
    store_t *s = store_open(old, &err);
    if (!s) {
        fail_msg("store_open: %s", err.msg);
    }

    /* No table of the rebuild is left over; the indexes are back. */
    assert_int_equal(su_raw_int(old, "SELECT count(*) FROM sqlite_master"
                                     " WHERE name LIKE '%\\_new' ESCAPE '\\'"),
                     0);
    assert_int_equal(
        su_raw_int(old, "SELECT count(*) FROM sqlite_master WHERE type ="
                        " 'index' AND name IN ('deployments_app',"
                        " 'deployments_running', 'tasks_agent')"),
        3);
    assert_int_equal(
        su_raw_int(old, "SELECT count(*) FROM sqlite_master WHERE name ="
                        " 'deployments_running' AND sql LIKE"
                        " '%WHERE state = ''running''%'"),
        1);
    assert_int_equal(su_raw_int(old, "SELECT count(*) FROM sqlite_master"
                                     " WHERE name = 'deployments' AND sql"
                                     " LIKE '%AUTOINCREMENT%STRICT'"),
                     1);
    assert_int_equal(su_raw_int(old, "SELECT count(*) FROM sqlite_master"
                                     " WHERE name = 'tasks' AND sql LIKE"
                                     " '%STRICT'"),
                     1);

    /* Foreign keys are on again, and the tables pointing at deployments
     * point at the rebuilt one. */
    int64_t fk = 0;
    assert_int_equal(store_sql_get(s, &store_sql_count_noun,
                                   "PRAGMA foreign_keys", NO_ARGS, &fk, &err,
                                   "no answer"),
                     HOIST_OK);
    assert_int_equal(fk, 1);
    assert_int_equal(su_raw_int(old, "SELECT count(*) FROM"
                                     " pragma_foreign_key_list('tasks')"
                                     " WHERE \"table\" IN ('deployments',"
                                     " 'agents')"),
                     2);
    assert_int_not_equal(sqlite3_exec(s->db,
                                      "DELETE FROM deployments WHERE id = 1",
                                      NULL, NULL, NULL),
                         SQLITE_OK);
    assert_int_not_equal(sqlite3_exec(s->db,
                                      "UPDATE schedules SET deployment_id = 99"
                                      " WHERE id = 1",
                                      NULL, NULL, NULL),
                         SQLITE_OK);
    store_task_t *t = calloc(1, sizeof *t);
    assert_non_null(t);
    t->deployment_id = 99;
    snprintf(t->agent, sizeof t->agent, "web-1");
    assert_int_equal(store_task_create(s, t, &err), STORE_ERR_NOTFOUND);
    assert_string_equal(err.msg, "no deployment 99");
    t->deployment_id = 2;
    snprintf(t->agent, sizeof t->agent, "ghost");
    assert_int_equal(store_task_create(s, t, &err), STORE_ERR_NOTFOUND);
    assert_string_equal(err.msg, "no agent 'ghost'");
    assert_int_equal(
        store_schedule_finish(s, 2, STORE_SCHEDULE_FIRED, "x", 99, &err),
        STORE_ERR_NOTFOUND);
    assert_contains(err.msg, "no deployment 99");

    /* The widened CHECKs take the new states and only those. */
    assert_int_equal(sqlite3_exec(s->db,
                                  "UPDATE deployments SET state = 'cancelled'"
                                  " WHERE id = 2",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    assert_int_not_equal(sqlite3_exec(s->db,
                                      "UPDATE deployments SET state = 'bogus'"
                                      " WHERE id = 2",
                                      NULL, NULL, NULL),
                         SQLITE_OK);
    assert_int_not_equal(sqlite3_exec(s->db,
                                      "UPDATE deployments SET halted = 2"
                                      " WHERE id = 2",
                                      NULL, NULL, NULL),
                         SQLITE_OK);
    assert_int_equal(sqlite3_exec(s->db,
                                  "UPDATE tasks SET state = 'revert_failed'"
                                  " WHERE deployment_id = 2",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    assert_int_not_equal(sqlite3_exec(s->db,
                                      "UPDATE tasks SET state = 'bogus'"
                                      " WHERE deployment_id = 2",
                                      NULL, NULL, NULL),
                         SQLITE_OK);
    assert_int_not_equal(sqlite3_exec(s->db,
                                      "UPDATE tasks SET started_ms = 'soon'"
                                      " WHERE deployment_id = 2",
                                      NULL, NULL, NULL),
                         SQLITE_OK);
    store_close(&s);
    free(t);
    free(old);
}

static void
test_migration_with_dangling_reference_refused(void **state)
{
    su_fixture_t *f = *state;
    hoist_error_t err = {0};
    char *old = tu_path(f->dir, "old.db");
    /* A task whose deployment is gone: the rebuilt tasks table would carry
     * it over, so the check before COMMIT finds it. */
    s_write_schema3(old, "INSERT INTO tasks (deployment_id, agent, state,"
                         " updated_at) VALUES (3, 'web-2', 'failed', 1)");

    assert_null(store_open(old, &err));
    assert_int_equal(err.code, HOIST_ERR_STATE);
    assert_contains(err.msg, "migration to schema 4 refused");
    assert_contains(err.msg, "table tasks");
    assert_contains(err.msg, "row of deployments");
    assert_contains(err.msg, "left at schema 3");

    /* Nothing of the migration stayed: the old schema, every row. */
    assert_int_equal(su_raw_int(old, "SELECT max(version) FROM schema_version"),
                     3);
    assert_int_equal(su_raw_int(old, "SELECT count(*) FROM sqlite_master"
                                     " WHERE name LIKE '%\\_new' ESCAPE '\\'"),
                     0);
    assert_int_equal(su_raw_int(old, "SELECT count(*) FROM"
                                     " pragma_table_info('tasks')"
                                     " WHERE name = 'previous'"),
                     0);
    assert_int_equal(su_raw_int(old, "SELECT count(*) FROM tasks"), 4);

    /* Repaired by hand, it migrates. */
    su_raw_exec(old, "DELETE FROM tasks WHERE deployment_id = 3");
    store_t *s = store_open(old, &err);
    if (!s) {
        fail_msg("store_open: %s", err.msg);
    }
    /* Migration 4 and every one after it. */
    assert_int_equal(store_migrations_applied(s),
                     (int)store_migrations_count - 3);
    store_close(&s);
    free(old);
}

static void
test_ids_never_reused_on_new_file(void **state)
{
    su_fixture_t *f = *state;
    hoist_error_t err = {0};
    store_deployment_t d;
    memset(&d, 0, sizeof d);
    su_add_release(f->s, "web", "1.0");
    snprintf(d.app, sizeof d.app, "web");
    snprintf(d.version, sizeof d.version, "1.0");
    snprintf(d.env, sizeof d.env, "dev");
    snprintf(d.created_by, sizeof d.created_by, "alice");
    int64_t a = 0, b = 0, c = 0;
    assert_int_equal(store_deployment_create(f->s, &d, &a, &err), HOIST_OK);
    assert_int_equal(store_deployment_create(f->s, &d, &b, &err), HOIST_OK);
    assert_int_equal(sqlite3_exec(f->s->db,
                                  "DELETE FROM deployments WHERE id ="
                                  " (SELECT max(id) FROM deployments)",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    su_reopen(f);
    assert_int_equal(store_deployment_create(f->s, &d, &c, &err), HOIST_OK);
    assert_true(b > a);
    assert_int_equal(c, b + 1);
}

/* --- deployments --------------------------------------------------------- */

static store_deployment_t
s_deployment(const char *version)
{
    store_deployment_t d;
    memset(&d, 0, sizeof d);
    snprintf(d.app, sizeof d.app, "web");
    snprintf(d.version, sizeof d.version, "%s", version);
    snprintf(d.env, sizeof d.env, "prod");
    d.kind = STORE_KIND_DEPLOY;
    d.state = STORE_DEPLOY_RUNNING;
    snprintf(d.created_by, sizeof d.created_by, "alice");
    d.created_at = 100;
    return d;
}

static int64_t
s_create(store_t *s, const store_deployment_t *d)
{
    hoist_error_t err = {0};
    int64_t id = 0;
    if (store_deployment_create(s, d, &id, &err) != HOIST_OK) {
        fail_msg("create deployment: %s", err.msg);
    }
    return id;
}

/* Keeps the last row a list function saw. */
static int
s_keep_deployment(const store_deployment_t *row, void *arg)
{
    memcpy(arg, row, sizeof *row);
    return 0;
}

static void
test_deployment_rollout_fields_round_trip(void **state)
{
    su_fixture_t *f = *state;
    hoist_error_t err = {0};
    su_add_release(f->s, "web", "1.0");
    store_deployment_t d = s_deployment("1.0"), back;
    snprintf(d.strategy, sizeof d.strategy, "canary 1 then rolling 25%%");
    snprintf(d.selector, sizeof d.selector, "role=web,site=fra1");
    d.started_ms = 1767225600123LL;
    /* Flags given at creation are not kept: a rollout starts clear. */
    d.halted = true;
    snprintf(d.halt_reason, sizeof d.halt_reason, "stale");
    d.continued_ms = 5;
    d.cancelled = true;
    d.cancel_rollback = true;
    int64_t id = s_create(f->s, &d);

    su_reopen(f);
    assert_int_equal(store_deployment_get(f->s, id, &back, &err), HOIST_OK);
    assert_string_equal(back.strategy, "canary 1 then rolling 25%");
    assert_string_equal(back.selector, "role=web,site=fra1");
    assert_int_equal(back.started_ms, 1767225600123LL);
    assert_false(back.halted);
    assert_string_equal(back.halt_reason, "");
    assert_int_equal(back.continued_ms, 0);
    assert_false(back.cancelled);
    assert_false(back.cancel_rollback);

    /* The list functions read the same columns. */
    memset(&back, 0, sizeof back);
    assert_int_equal(
        store_deployment_list_running(f->s, s_keep_deployment, &back, &err),
        HOIST_OK);
    assert_int_equal(back.id, id);
    assert_string_equal(back.selector, "role=web,site=fra1");
    memset(&back, 0, sizeof back);
    assert_int_equal(
        store_deployment_list(f->s, "web", s_keep_deployment, &back, &err),
        HOIST_OK);
    assert_int_equal(back.started_ms, 1767225600123LL);

    /* Cancelled is a final state. */
    assert_int_equal(
        store_deployment_set_state(f->s, id, STORE_DEPLOY_CANCELLED, 500, &err),
        HOIST_OK);
    assert_int_equal(store_deployment_get(f->s, id, &back, &err), HOIST_OK);
    assert_int_equal(back.state, STORE_DEPLOY_CANCELLED);
    assert_int_equal(back.finished_at, 500);
    memset(&back, 0, sizeof back);
    assert_int_equal(
        store_deployment_list_running(f->s, s_keep_deployment, &back, &err),
        HOIST_OK);
    assert_int_equal(back.id, 0);
    assert_string_equal(store_deploy_state_name(STORE_DEPLOY_CANCELLED),
                        "cancelled");
    assert_string_equal(store_deploy_state_name(
                            (store_deploy_state_t)(STORE_DEPLOY_CANCELLED + 1)),
                        "unknown");
}

static void
test_deployment_field_limits(void **state)
{
    su_fixture_t *f = *state;
    hoist_error_t err = {0};
    su_add_release(f->s, "web", "1.0");
    store_deployment_t d = s_deployment("1.0"), back;
    int64_t id = -7;
    memset(d.strategy, 's', sizeof d.strategy);
    assert_int_equal(store_deployment_create(f->s, &d, &id, &err),
                     HOIST_ERR_LIMIT);
    assert_contains(err.msg, "deployment strategy is longer");
    d = s_deployment("1.0");
    memset(d.selector, 'k', sizeof d.selector);
    assert_int_equal(store_deployment_create(f->s, &d, &id, &err),
                     HOIST_ERR_LIMIT);
    assert_contains(err.msg, "deployment selector is longer");
    /* At their longest they fit. */
    d = s_deployment("1.0");
    memset(d.strategy, 's', sizeof d.strategy - 1);
    memset(d.selector, 'k', sizeof d.selector - 1);
    d.state = (store_deploy_state_t)(STORE_DEPLOY_CANCELLED + 1);
    assert_int_equal(store_deployment_create(f->s, &d, &id, &err),
                     HOIST_ERR_USAGE);
    assert_int_equal(id, -7);
    d.state = STORE_DEPLOY_CANCELLED;
    id = s_create(f->s, &d);
    assert_int_equal(store_deployment_get(f->s, id, &back, &err), HOIST_OK);
    assert_int_equal(strlen(back.strategy), sizeof back.strategy - 1);
    assert_int_equal(strlen(back.selector), sizeof back.selector - 1);
    assert_int_equal(back.state, STORE_DEPLOY_CANCELLED);
}

static void
test_deployment_set_flags(void **state)
{
    su_fixture_t *f = *state;
    hoist_error_t err = {0};
    su_add_release(f->s, "web", "1.0");
    store_deployment_t d = s_deployment("1.0"), back, other;
    snprintf(d.strategy, sizeof d.strategy, "rolling 3");
    d.started_ms = 42;
    int64_t id = s_create(f->s, &d);
    int64_t id2 = s_create(f->s, &d);

    assert_int_equal(store_deployment_get(f->s, id, &d, &err), HOIST_OK);
    d.halted = true;
    snprintf(d.halt_reason, sizeof d.halt_reason,
             "2 of 6 agents failed (33%% > 25%%)");
    /* Set flags writes the flags only, not what else the row says. */
    snprintf(d.strategy, sizeof d.strategy, "all-at-once");
    d.state = STORE_DEPLOY_FAILED;
    d.started_ms = 7;
    assert_int_equal(store_deployment_set_flags(f->s, &d, &err), HOIST_OK);
    su_reopen(f);
    assert_int_equal(store_deployment_get(f->s, id, &back, &err), HOIST_OK);
    assert_true(back.halted);
    assert_string_equal(back.halt_reason, "2 of 6 agents failed (33% > 25%)");
    assert_int_equal(back.continued_ms, 0);
    assert_false(back.cancelled);
    assert_false(back.cancel_rollback);
    assert_string_equal(back.strategy, "rolling 3");
    assert_int_equal(back.state, STORE_DEPLOY_RUNNING);
    assert_int_equal(back.started_ms, 42);
    assert_int_equal(store_deployment_get(f->s, id2, &other, &err), HOIST_OK);
    assert_false(other.halted);
    assert_string_equal(other.halt_reason, "");

    back.halted = false;
    back.halt_reason[0] = '\0';
    back.continued_ms = 9999;
    back.cancelled = true;
    back.cancel_rollback = true;
    assert_int_equal(store_deployment_set_flags(f->s, &back, &err), HOIST_OK);
    assert_int_equal(store_deployment_get(f->s, id, &back, &err), HOIST_OK);
    assert_false(back.halted);
    assert_string_equal(back.halt_reason, "");
    assert_int_equal(back.continued_ms, 9999);
    assert_true(back.cancelled);
    assert_true(back.cancel_rollback);

    /* Refusals change nothing. */
    memset(back.halt_reason, 'r', sizeof back.halt_reason);
    back.halted = true;
    assert_int_equal(store_deployment_set_flags(f->s, &back, &err),
                     HOIST_ERR_LIMIT);
    assert_contains(err.msg, "halt reason is longer");
    assert_int_equal(store_deployment_get(f->s, id, &back, &err), HOIST_OK);
    assert_false(back.halted);
    back.id = 999;
    assert_int_equal(store_deployment_set_flags(f->s, &back, &err),
                     STORE_ERR_NOTFOUND);
    assert_string_equal(err.msg, "no deployment 999");
}

/* --- tasks --------------------------------------------------------------- */

static int
s_see_task(const store_task_t *row, void *arg)
{
    char *seen = arg;
    size_t len = strlen(seen);
    snprintf(seen + len, 256 - len, "%s%s:%s:%s", len ? "," : "", row->agent,
             store_task_state_name(row->state), row->previous);
    return 0;
}

static void
test_task_rollout_fields_round_trip(void **state)
{
    su_fixture_t *f = *state;
    hoist_error_t err = {0};
    store_agent_t a;
    memset(&a, 0, sizeof a);
    snprintf(a.name, sizeof a.name, "web-1");
    snprintf(a.env, sizeof a.env, "prod");
    snprintf(a.pubkey, sizeof a.pubkey, "Agent+%034d", 1);
    assert_int_equal(store_agent_add(f->s, &a, &err), HOIST_OK);
    su_add_release(f->s, "web", "1.0");
    store_deployment_t d = s_deployment("1.0");
    int64_t id = s_create(f->s, &d);

    store_task_t *t = calloc(1, sizeof *t);
    store_task_t *back = calloc(1, sizeof *back);
    assert_non_null(t);
    assert_non_null(back);
    t->deployment_id = id;
    snprintf(t->agent, sizeof t->agent, "web-1");
    t->state = STORE_TASK_SKIPPED;
    snprintf(t->previous, sizeof t->previous, "0.9.1");
    t->started_ms = 1000;
    t->progress_ms = 2000;
    t->finished_ms = 3000;
    t->updated_at = 3;
    assert_int_equal(store_task_create(f->s, t, &err), HOIST_OK);
    assert_int_equal(store_task_get(f->s, id, "web-1", back, &err), HOIST_OK);
    assert_int_equal(back->state, STORE_TASK_SKIPPED);
    assert_string_equal(back->previous, "0.9.1");
    assert_int_equal(back->started_ms, 1000);
    assert_int_equal(back->progress_ms, 2000);
    assert_int_equal(back->finished_ms, 3000);
    assert_int_equal(back->updated_at, 3);

    static const store_task_state_t states[] = {
        STORE_TASK_REVERTING, STORE_TASK_REVERTED, STORE_TASK_REVERT_FAILED};
    static const char *const names[] = {"reverting", "reverted",
                                        "revert_failed"};
    for (size_t i = 0; i < 3; i++) {
        t->state = states[i];
        t->progress_ms = 4000 + (int64_t)i;
        t->finished_ms = i == 1 ? 5000 : 0;
        snprintf(t->previous, sizeof t->previous, "0.9.%zu", i + 2);
        assert_int_equal(store_task_update(f->s, t, &err), HOIST_OK);
        assert_int_equal(store_task_get(f->s, id, "web-1", back, &err),
                         HOIST_OK);
        assert_int_equal(back->state, states[i]);
        assert_int_equal(back->started_ms, 1000);
        assert_int_equal(back->progress_ms, 4000 + (int64_t)i);
        assert_int_equal(back->finished_ms, i == 1 ? 5000 : 0);
        char seen[256] = "", want[64];
        assert_int_equal(store_task_list(f->s, id, s_see_task, seen, &err),
                         HOIST_OK);
        snprintf(want, sizeof want, "web-1:%s:0.9.%zu", names[i], i + 2);
        assert_string_equal(seen, want);
        assert_string_equal(store_task_state_name(states[i]), names[i]);
    }
    assert_string_equal(store_task_state_name(STORE_TASK_SKIPPED), "skipped");
    assert_string_equal(store_task_state_name(
                            (store_task_state_t)(STORE_TASK_REVERT_FAILED + 1)),
                        "unknown");

    /* A previous version too long is refused, never cut. */
    memset(t->previous, 'v', sizeof t->previous);
    assert_int_equal(store_task_update(f->s, t, &err), HOIST_ERR_LIMIT);
    assert_contains(err.msg, "previous version is longer");
    t->deployment_id = id;
    snprintf(t->agent, sizeof t->agent, "web-2");
    assert_int_equal(store_task_create(f->s, t, &err), HOIST_ERR_LIMIT);
    assert_int_equal(store_task_get(f->s, id, "web-1", back, &err), HOIST_OK);
    assert_string_equal(back->previous, "0.9.4");
    free(back);
    free(t);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, su_setup, su_teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_migrates_schema3_file_keeping_rows),
        T(test_migrated_schema_keeps_its_shape),
        T(test_migration_with_dangling_reference_refused),
        T(test_ids_never_reused_on_new_file),
        T(test_deployment_rollout_fields_round_trip),
        T(test_deployment_field_limits),
        T(test_deployment_set_flags),
        T(test_task_rollout_fields_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
