/*
 * store: see store.h. The controller's state in SQLite: this file holds the
 * schema and its migrations, opening and closing, and transactions. The
 * statement runners and row readers every part shares are in store_sql.c;
 * each noun's functions are in a file of its own (store_agent.c,
 * store_user.c, store_token.c, store_trust.c, store_release.c,
 * store_deployment.c, store_task.c, store_audit.c, store_pipeline.c,
 * store_approval.c, store_schedule.c), each of which checks its input,
 * names the statement to run and turns a constraint failure into a
 * sentence about the agent, release or token concerned.
 */
#include "store.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_sql.h"

#define STORE_BUSY_MS    5000    /* wait this long for another writer */
#define STORE_SQLITE_MIN 3037000 /* STRICT tables (3.37), RETURNING (3.35) */

/*
 * The migrations, in order: migration N (1-based) takes a file from schema
 * version N-1 to N and runs in one transaction with the row that records
 * it in schema_version. A released migration is never edited; a change is
 * a new entry at the end. Times are unix seconds unless a column says
 * otherwise (_ms); 0 means "never" or "not yet". Tables are STRICT so a
 * value of the wrong type is refused.
 */
const char *const store_migrations[] = {
    /* 1: the first schema. */
    "CREATE TABLE agents ("
    " id INTEGER PRIMARY KEY,"
    " name TEXT NOT NULL UNIQUE,"
    " pubkey TEXT NOT NULL UNIQUE,"
    " env TEXT NOT NULL,"
    " state TEXT NOT NULL"
    "  CHECK (state IN ('pending', 'accepted', 'revoked')),"
    " tags TEXT NOT NULL DEFAULT '',"
    " hostname TEXT NOT NULL DEFAULT '',"
    " os TEXT NOT NULL DEFAULT '',"
    " agent_version TEXT NOT NULL DEFAULT '',"
    " free_disk INTEGER NOT NULL DEFAULT 0,"
    " last_seen INTEGER NOT NULL DEFAULT 0,"
    " online INTEGER NOT NULL DEFAULT 0,"
    " cloned INTEGER NOT NULL DEFAULT 0,"
    " created_at INTEGER NOT NULL"
    ") STRICT;"
    "CREATE INDEX agents_env ON agents (env, name);"
    "CREATE TABLE users ("
    " id INTEGER PRIMARY KEY,"
    " name TEXT NOT NULL UNIQUE,"
    " role TEXT NOT NULL,"
    " pubkey TEXT NOT NULL UNIQUE,"
    " env TEXT," /* NULL: every environment */
    " created_at INTEGER NOT NULL"
    ") STRICT;"
    "CREATE TABLE tokens ("
    " hash BLOB PRIMARY KEY CHECK (length(hash) = 32),"
    " env TEXT NOT NULL,"
    " created_by TEXT NOT NULL,"
    " created_at INTEGER NOT NULL,"
    " expires_at INTEGER NOT NULL,"
    " used_at INTEGER" /* NULL until consumed */
    ") STRICT;"
    "CREATE TABLE trust_keys ("
    " key_id TEXT PRIMARY KEY,"
    " pubkey TEXT NOT NULL,"
    " added_at INTEGER NOT NULL"
    ") STRICT;"
    "CREATE TABLE releases ("
    " id INTEGER PRIMARY KEY,"
    " app TEXT NOT NULL,"
    " version TEXT NOT NULL,"
    " sequence INTEGER NOT NULL,"
    " digest TEXT NOT NULL,"
    " size INTEGER NOT NULL,"
    " manifest BLOB NOT NULL,"
    " notes TEXT NOT NULL DEFAULT '',"
    " created_at INTEGER NOT NULL,"
    " UNIQUE (app, version)"
    ") STRICT;"
    "CREATE TABLE deployments ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " app TEXT NOT NULL,"
    " version TEXT NOT NULL,"
    " env TEXT NOT NULL,"
    " kind TEXT NOT NULL CHECK (kind IN ('deploy', 'rollback')),"
    " state TEXT NOT NULL CHECK (state IN"
    "  ('running', 'succeeded', 'failed', 'rolled_back')),"
    " created_by TEXT NOT NULL,"
    " created_at INTEGER NOT NULL,"
    " finished_at INTEGER NOT NULL DEFAULT 0,"
    " FOREIGN KEY (app, version) REFERENCES releases (app, version)"
    ") STRICT;"
    "CREATE INDEX deployments_app ON deployments (app, created_at);"
    "CREATE INDEX deployments_running ON deployments (id)"
    " WHERE state = 'running';"
    "CREATE TABLE tasks ("
    " deployment_id INTEGER NOT NULL REFERENCES deployments (id),"
    " agent TEXT NOT NULL REFERENCES agents (name),"
    " state TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'running',"
    "  'succeeded', 'failed', 'rolled_back', 'rejected', 'unknown')),"
    " step TEXT NOT NULL DEFAULT '',"
    " message TEXT NOT NULL DEFAULT '',"
    " live_version TEXT NOT NULL DEFAULT '',"
    " updated_at INTEGER NOT NULL,"
    " PRIMARY KEY (deployment_id, agent)"
    ") STRICT;"
    "CREATE INDEX tasks_agent ON tasks (agent);",
    /* 2: the promotion lifecycle (issue 4). The audit log refuses UPDATE
     * and DELETE in SQLite itself; its hash chain (audit.h) still catches
     * an edit made by someone who drops the triggers first. A schedule's
     * deployment_id is NULL until it fired. */
    "CREATE TABLE audit ("
    " id INTEGER PRIMARY KEY,"
    " time_ms INTEGER NOT NULL,"
    " user TEXT NOT NULL,"
    " action TEXT NOT NULL,"
    " target TEXT NOT NULL,"
    " result TEXT NOT NULL,"
    " exit_code INTEGER NOT NULL,"
    " detail TEXT NOT NULL,"
    " prev BLOB NOT NULL CHECK (length(prev) = 32),"
    " hash BLOB NOT NULL CHECK (length(hash) = 32)"
    ") STRICT;"
    "CREATE INDEX audit_time ON audit (time_ms);"
    "CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN"
    " SELECT RAISE(ABORT, 'the audit log is append-only'); END;"
    "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN"
    " SELECT RAISE(ABORT, 'the audit log is append-only'); END;"
    "CREATE TABLE pipeline ("
    " id INTEGER PRIMARY KEY,"
    " text TEXT NOT NULL,"
    " applied_by TEXT NOT NULL,"
    " applied_at INTEGER NOT NULL"
    ") STRICT;"
    "CREATE TABLE approvals ("
    " id INTEGER PRIMARY KEY,"
    " app TEXT NOT NULL,"
    " version TEXT NOT NULL,"
    " env TEXT NOT NULL,"
    " user TEXT NOT NULL,"
    " role TEXT NOT NULL,"
    " comment TEXT NOT NULL DEFAULT '',"
    " created_at INTEGER NOT NULL,"
    " UNIQUE (app, version, env, user),"
    " FOREIGN KEY (app, version) REFERENCES releases (app, version)"
    ") STRICT;"
    "CREATE TABLE schedules ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " app TEXT NOT NULL,"
    " version TEXT NOT NULL,"
    " env TEXT NOT NULL,"
    " at_ms INTEGER NOT NULL,"
    " at_text TEXT NOT NULL DEFAULT '',"
    " state TEXT NOT NULL CHECK (state IN"
    "  ('pending', 'fired', 'refused', 'cancelled')),"
    " created_by TEXT NOT NULL,"
    " created_at INTEGER NOT NULL,"
    " override_freeze INTEGER NOT NULL DEFAULT 0,"
    " reason TEXT NOT NULL DEFAULT '',"
    " note TEXT NOT NULL DEFAULT '',"
    " deployment_id INTEGER REFERENCES deployments (id),"
    " FOREIGN KEY (app, version) REFERENCES releases (app, version)"
    ") STRICT;"
    "CREATE INDEX schedules_due ON schedules (at_ms, id)"
    " WHERE state = 'pending';"
    "ALTER TABLE releases ADD COLUMN lifecycle TEXT NOT NULL DEFAULT '';",
    /* 3: per-environment variables (issue 4). A secret's value is NULL:
     * only its boxes, each sealed to one agent's CURVE key, are kept, in
     * var_seals, and go with their variable. */
    "CREATE TABLE vars ("
    " id INTEGER PRIMARY KEY,"
    " app TEXT NOT NULL,"
    " env TEXT NOT NULL,"
    " key TEXT NOT NULL,"
    " secret INTEGER NOT NULL CHECK (secret IN (0, 1)),"
    " value BLOB,"
    " size INTEGER NOT NULL CHECK (size >= 0),"
    " updated_by TEXT NOT NULL,"
    " updated_at INTEGER NOT NULL,"
    " UNIQUE (app, env, key),"
    " CHECK ((secret = 1) = (value IS NULL))"
    ") STRICT;"
    "CREATE TABLE var_seals ("
    " var INTEGER NOT NULL REFERENCES vars (id) ON DELETE CASCADE,"
    " agent TEXT NOT NULL REFERENCES agents (name),"
    " box BLOB NOT NULL,"
    " PRIMARY KEY (var, agent)"
    ") STRICT;",
};

const size_t store_migrations_count = N_OF(store_migrations);

/* --- opening and migrating ---------------------------------------------- */

int
store_schema_version(const store_t *s)
{
    return s->version;
}

int
store_migrations_applied(const store_t *s)
{
    return s->migrated;
}

/* WAL, full sync, foreign keys, busy timeout; refuses a file that cannot
 * do WAL or a library without foreign keys. */
static hoist_err_t
s_configure(store_t *s, hoist_error_t *err)
{
    char mode[STORE_NAME_SIZE];
    int64_t fk = 0;
    sqlite3_extended_result_codes(s->db, 1);
    sqlite3_busy_timeout(s->db, STORE_BUSY_MS);
    hoist_err_t e =
        store_sql_get(s, &store_sql_name_noun, "PRAGMA journal_mode = WAL",
                      NO_ARGS, mode, err, "journal_mode gave no answer");
    if (e == HOIST_OK && strcmp(mode, "wal") != 0) {
        return error_set(err, HOIST_ERR_IO,
                         "store %s: cannot use WAL (journal mode stays '%s'); "
                         "put the data directory on a local file system",
                         s->path, mode);
    }
    if (e == HOIST_OK) {
        e = store_sql_exec(s, "synchronous", "PRAGMA synchronous = FULL",
                           NO_ARGS, NULL, err);
    }
    if (e == HOIST_OK) {
        e = store_sql_exec(s, "foreign keys", "PRAGMA foreign_keys = ON",
                           NO_ARGS, NULL, err);
    }
    if (e == HOIST_OK) {
        e = store_sql_get(s, &store_sql_count_noun, "PRAGMA foreign_keys",
                          NO_ARGS, &fk, err, "foreign_keys gave no answer");
    }
    if (e == HOIST_OK && fk != 1) {
        return error_set(err, HOIST_ERR_STATE,
                         "store %s: this SQLite cannot enforce foreign keys",
                         s->path);
    }
    return e;
}

/* Applies migration VERSION (1-based) and records it, inside the open
 * transaction, then commits. */
static hoist_err_t
s_apply(store_t *s, int version, hoist_error_t *err)
{
    char *msg = NULL;
    int rc =
        sqlite3_exec(s->db, store_migrations[version - 1], NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        hoist_err_t e = error_set(err, store_sql_code(rc),
                                  "store %s: migration to schema %d: %s",
                                  s->path, version, msg ? msg : "failed");
        sqlite3_free(msg);
        return e;
    }
    hoist_err_t e =
        store_sql_exec(s, "record migration",
                       "INSERT INTO schema_version (version, applied_at)"
                       " VALUES (?1, CAST(strftime('%s', 'now') AS INTEGER))",
                       ARGS(A_INT(version)), NULL, err);
    if (e == HOIST_OK) {
        e = store_commit(s, err);
    }
    return e;
}

/* Brings the file to the newest schema, one migration per transaction.
 * The version is read under the write lock, so two controllers starting
 * on one file cannot both apply a migration. */
static hoist_err_t
s_migrate(store_t *s, hoist_error_t *err)
{
    const int64_t latest = (int64_t)store_migrations_count;
    for (;;) {
        int64_t v = 0;
        hoist_err_t e = store_begin(s, err);
        if (e == HOIST_OK) {
            e = store_sql_exec(s, "create schema_version",
                               "CREATE TABLE IF NOT EXISTS schema_version ("
                               " version INTEGER PRIMARY KEY,"
                               " applied_at INTEGER NOT NULL) STRICT",
                               NO_ARGS, NULL, err);
        }
        if (e == HOIST_OK) {
            e = store_sql_get(
                s, &store_sql_count_noun,
                "SELECT coalesce(max(version), 0) FROM schema_version", NO_ARGS,
                &v, err, "schema_version gave no answer");
        }
        if (e == HOIST_OK && v > latest) {
            e = error_set(err, HOIST_ERR_STATE,
                          "store %s: schema version %lld is newer than the "
                          "%lld this hoist-controller knows; run a newer "
                          "hoist-controller",
                          s->path, (long long)v, (long long)latest);
        }
        if (e != HOIST_OK || v == latest) {
            store_rollback(s, NULL);
            s->version = (int)v;
            return e;
        }
        e = s_apply(s, (int)v + 1, err);
        if (e != HOIST_OK) {
            store_rollback(s, NULL);
            return e;
        }
        s->migrated++;
    }
}

store_t *
store_open(const char *path, hoist_error_t *err)
{
    if (sqlite3_libversion_number() < STORE_SQLITE_MIN) {
        error_set(err, HOIST_ERR_STATE,
                  "store: SQLite %s is too old; Hoist needs 3.37 or newer",
                  sqlite3_libversion());
        return NULL;
    }
    store_t *s = calloc(1, sizeof *s);
    if (!s) {
        error_set(err, HOIST_ERR_NOMEM, "store %s: out of memory", path);
        return NULL;
    }
    snprintf(s->path, sizeof s->path, "%s", path);
    int rc = sqlite3_open_v2(path, &s->db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc != SQLITE_OK) {
        error_set(err, rc == SQLITE_NOMEM ? HOIST_ERR_NOMEM : HOIST_ERR_IO,
                  "store %s: cannot open: %s", path,
                  s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
        store_close(&s);
        return NULL;
    }
    if (s_configure(s, err) != HOIST_OK || s_migrate(s, err) != HOIST_OK) {
        store_close(&s);
    }
    return s;
}

void
store_close(store_t **p)
{
    if (!p || !*p) {
        return;
    }
    store_t *s = *p;
    /* Fails only while a statement is open: a bug in this file. */
    int rc = sqlite3_close(s->db);
    assert(rc == SQLITE_OK);
    (void)rc;
    free(s);
    *p = NULL;
}

hoist_err_t
store_begin(store_t *s, hoist_error_t *err)
{
    assert(sqlite3_get_autocommit(s->db));
    return store_sql_exec(s, "begin", "BEGIN IMMEDIATE", NO_ARGS, NULL, err);
}

hoist_err_t
store_commit(store_t *s, hoist_error_t *err)
{
    return store_sql_exec(s, "commit", "COMMIT", NO_ARGS, NULL, err);
}

hoist_err_t
store_rollback(store_t *s, hoist_error_t *err)
{
    if (sqlite3_get_autocommit(s->db)) {
        return HOIST_OK;
    }
    return store_sql_exec(s, "rollback", "ROLLBACK", NO_ARGS, NULL, err);
}
