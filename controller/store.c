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
 * it in schema_version, with foreign keys off and checked before the commit
 * (s_migrate). A released migration is never edited; a change is a new
 * entry at the end. Times are unix seconds unless a column says
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
    /* 4: rollouts (issue 5): a deployment keeps its strategy, selector and
     * flags, and a task the release it replaces and its times, so that a
     * restarted controller resumes the same plan; new states for both.
     * SQLite cannot change a CHECK, so both tables are rebuilt the way its
     * documentation lays out: a new table, the rows copied, the old one
     * dropped, the new one renamed, its indexes made again. s_migrate runs
     * this with foreign keys off (else DROP TABLE would delete the rows
     * that tasks and schedules point at) and checks them before COMMIT.
     * tasks_new and schedules name their parent "deployments", which the
     * rebuilt table is by then. The AUTOINCREMENT high-water mark moves to
     * the new table, so an id used by a deleted deployment stays used. */
    "CREATE TABLE deployments_new ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " app TEXT NOT NULL,"
    " version TEXT NOT NULL,"
    " env TEXT NOT NULL,"
    " kind TEXT NOT NULL CHECK (kind IN ('deploy', 'rollback')),"
    " state TEXT NOT NULL CHECK (state IN"
    "  ('running', 'succeeded', 'failed', 'rolled_back', 'cancelled')),"
    " created_by TEXT NOT NULL,"
    " created_at INTEGER NOT NULL,"
    " finished_at INTEGER NOT NULL DEFAULT 0,"
    " strategy TEXT NOT NULL DEFAULT '',"
    " selector TEXT NOT NULL DEFAULT '',"
    " started_ms INTEGER NOT NULL DEFAULT 0,"
    " halted INTEGER NOT NULL DEFAULT 0 CHECK (halted IN (0, 1)),"
    " halt_reason TEXT NOT NULL DEFAULT '',"
    " continued_ms INTEGER NOT NULL DEFAULT 0,"
    " cancelled INTEGER NOT NULL DEFAULT 0 CHECK (cancelled IN (0, 1)),"
    " cancel_rollback INTEGER NOT NULL DEFAULT 0"
    "  CHECK (cancel_rollback IN (0, 1)),"
    " FOREIGN KEY (app, version) REFERENCES releases (app, version)"
    ") STRICT;"
    "INSERT INTO deployments_new (id, app, version, env, kind, state,"
    " created_by, created_at, finished_at)"
    " SELECT id, app, version, env, kind, state, created_by, created_at,"
    " finished_at FROM deployments;"
    "DELETE FROM sqlite_sequence WHERE name = 'deployments_new';"
    "INSERT INTO sqlite_sequence (name, seq) SELECT 'deployments_new', max("
    " coalesce((SELECT max(seq) FROM sqlite_sequence"
    "  WHERE name = 'deployments'), 0),"
    " coalesce((SELECT max(id) FROM deployments_new), 0));"
    "CREATE TABLE tasks_new ("
    " deployment_id INTEGER NOT NULL REFERENCES deployments (id),"
    " agent TEXT NOT NULL REFERENCES agents (name),"
    " state TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'running',"
    "  'succeeded', 'failed', 'rolled_back', 'rejected', 'unknown',"
    "  'skipped', 'reverting', 'reverted', 'revert_failed')),"
    " step TEXT NOT NULL DEFAULT '',"
    " message TEXT NOT NULL DEFAULT '',"
    " live_version TEXT NOT NULL DEFAULT '',"
    " updated_at INTEGER NOT NULL,"
    " previous TEXT NOT NULL DEFAULT '',"
    " started_ms INTEGER NOT NULL DEFAULT 0,"
    " progress_ms INTEGER NOT NULL DEFAULT 0,"
    " finished_ms INTEGER NOT NULL DEFAULT 0,"
    " PRIMARY KEY (deployment_id, agent)"
    ") STRICT;"
    "INSERT INTO tasks_new (deployment_id, agent, state, step, message,"
    " live_version, updated_at)"
    " SELECT deployment_id, agent, state, step, message, live_version,"
    " updated_at FROM tasks;"
    "DROP TABLE tasks;"
    "DROP TABLE deployments;"
    "ALTER TABLE deployments_new RENAME TO deployments;"
    "ALTER TABLE tasks_new RENAME TO tasks;"
    "CREATE INDEX deployments_app ON deployments (app, created_at);"
    "CREATE INDEX deployments_running ON deployments (id)"
    " WHERE state = 'running';"
    "CREATE INDEX tasks_agent ON tasks (agent);",
    /* 5: drift (issue 6): a secret's keyed digest, so two environments'
     * secrets compare without either value being kept. NULL for secrets
     * set before. */
    "ALTER TABLE vars ADD COLUMN digest BLOB"
    " CHECK (digest IS NULL OR length(digest) = 32);",
    /* 6: DR drills and failovers (issue 6), and the timeline of their
     * steps, which must outlive a controller restart in the middle of a
     * failover. A drill's sync_deployment is NULL until it waits for one.
     * A step's seq is unique across drills, so it orders one drill's
     * timeline and names its step with the drill's id. */
    "CREATE TABLE drills ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " app TEXT NOT NULL,"
    " from_env TEXT NOT NULL,"
    " to_env TEXT NOT NULL,"
    " failover INTEGER NOT NULL CHECK (failover IN (0, 1)),"
    " failback INTEGER NOT NULL CHECK (failback IN (0, 1)),"
    " sync INTEGER NOT NULL CHECK (sync IN (0, 1)),"
    " state TEXT NOT NULL CHECK (state IN ('scheduled', 'running',"
    "  'succeeded', 'failed', 'refused', 'cancelled')),"
    " created_by TEXT NOT NULL,"
    " created_at INTEGER NOT NULL,"
    " at_ms INTEGER NOT NULL DEFAULT 0,"
    " every_ms INTEGER NOT NULL DEFAULT 0 CHECK (every_ms >= 0),"
    " started_ms INTEGER NOT NULL DEFAULT 0,"
    " healthy_ms INTEGER NOT NULL DEFAULT 0,"
    " finished_ms INTEGER NOT NULL DEFAULT 0,"
    " sync_deployment INTEGER REFERENCES deployments (id),"
    " phase TEXT NOT NULL DEFAULT '',"
    " reason TEXT NOT NULL DEFAULT ''"
    ") STRICT;"
    "CREATE INDEX drills_state ON drills (state, at_ms, id);"
    "CREATE TABLE drill_steps ("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    " drill_id INTEGER NOT NULL REFERENCES drills (id),"
    " name TEXT NOT NULL,"
    " agent TEXT NOT NULL DEFAULT '',"
    " state TEXT NOT NULL,"
    " started_ms INTEGER NOT NULL DEFAULT 0,"
    " finished_ms INTEGER NOT NULL DEFAULT 0,"
    " message TEXT NOT NULL DEFAULT ''"
    ") STRICT;"
    "CREATE INDEX drill_steps_drill ON drill_steps (drill_id, seq);",

    /* 7: the controller key each agent has pinned as the next one
     * (serverkey.h), as its last hello said. */
    "ALTER TABLE agents ADD COLUMN pinned_next TEXT NOT NULL DEFAULT '';",

    /* 8: an agent's previous key after `hoist-agent rekey`, still
     * accepted until the agent says hello with its new one. */
    "ALTER TABLE agents ADD COLUMN old_key TEXT NOT NULL DEFAULT '';",
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

/* Turns foreign key enforcement ON or off and reads it back: the pragma
 * is silently ignored inside a transaction, and neither a controller
 * running without its foreign keys nor a table rebuilt with them on (its
 * DROP TABLE would delete the rows pointing at it) may pass unnoticed. */
static hoist_err_t
s_foreign_keys(store_t *s, bool on, hoist_error_t *err)
{
    int64_t fk = -1;
    hoist_err_t e = store_sql_exec(s, "foreign keys",
                                   on ? "PRAGMA foreign_keys = ON"
                                      : "PRAGMA foreign_keys = OFF",
                                   NO_ARGS, NULL, err);
    if (e == HOIST_OK) {
        e = store_sql_get(s, &store_sql_count_noun, "PRAGMA foreign_keys",
                          NO_ARGS, &fk, err, "foreign_keys gave no answer");
    }
    if (e == HOIST_OK && fk != (on ? 1 : 0)) {
        e = on ? error_set(err, HOIST_ERR_STATE,
                           "store %s: this SQLite cannot enforce foreign keys",
                           s->path)
               : error_set(err, HOIST_ERR_STATE,
                           "store %s: cannot turn foreign keys off to migrate "
                           "the schema",
                           s->path);
    }
    return e;
}

/* WAL, full sync, foreign keys, busy timeout; refuses a file that cannot
 * do WAL or a library without foreign keys. */
static hoist_err_t
s_configure(store_t *s, hoist_error_t *err)
{
    char mode[STORE_NAME_SIZE];
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
        e = s_foreign_keys(s, true, err);
    }
    return e;
}

/* A row PRAGMA foreign_key_check reports: a row of TABLE whose parent row
 * in PARENT is missing. */
typedef struct {
    char table[STORE_NAME_SIZE];
    int64_t rowid;
    char parent[STORE_NAME_SIZE];
} fk_violation_t;

static void
s_violation_read(store_sql_row_t *r, void *row)
{
    fk_violation_t *v = row;
    store_sql_text(r, v->table, sizeof v->table);
    v->rowid = store_sql_int(r);
    store_sql_text(r, v->parent, sizeof v->parent);
}

static const store_sql_noun_t s_violation_noun = {
    "foreign_key_check", s_violation_read, sizeof(fk_violation_t), NULL};

/* HOIST_ERR_STATE, naming the table, when any row of the database points
 * at a row that is not there: what a migration run with foreign keys off
 * must not commit. VERSION is the migration's, for the message. */
static hoist_err_t
s_check_foreign(store_t *s, int version, hoist_error_t *err)
{
    fk_violation_t v;
    hoist_error_t none = {0};
    hoist_err_t e = store_sql_get(s, &s_violation_noun,
                                  "SELECT \"table\", coalesce(rowid, 0), parent"
                                  " FROM pragma_foreign_key_check LIMIT 1",
                                  NO_ARGS, &v, &none, "no violation");
    if (e == STORE_ERR_NOTFOUND && s->fail == STORE_SQL_FAIL_NOROW) {
        return HOIST_OK;
    }
    if (e != HOIST_OK) {
        return error_set(err, e, "%s", none.msg);
    }
    return error_set(err, HOIST_ERR_STATE,
                     "store %s: migration to schema %d refused: row %lld of "
                     "table %s refers to a row of %s that does not exist; "
                     "the file is left at schema %d: remove or repair that "
                     "row and start again",
                     s->path, version, (long long)v.rowid, v.table, v.parent,
                     version - 1);
}

/* Applies migration VERSION (1-based) inside the open transaction, checks
 * that it left every foreign key satisfied, records it and commits. */
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
    hoist_err_t e = s_check_foreign(s, version, err);
    if (e == HOIST_OK) {
        e = store_sql_exec(
            s, "record migration",
            "INSERT INTO schema_version (version, applied_at)"
            " VALUES (?1, CAST(strftime('%s', 'now') AS INTEGER))",
            ARGS(A_INT(version)), NULL, err);
    }
    if (e == HOIST_OK) {
        e = store_commit(s, err);
    }
    return e;
}

/* Reads the schema version into *V under the open transaction, creating
 * the table that records it on a new file. */
static hoist_err_t
s_read_version(store_t *s, int64_t *v, hoist_error_t *err)
{
    hoist_err_t e = store_sql_exec(s, "create schema_version",
                                   "CREATE TABLE IF NOT EXISTS schema_version ("
                                   " version INTEGER PRIMARY KEY,"
                                   " applied_at INTEGER NOT NULL) STRICT",
                                   NO_ARGS, NULL, err);
    if (e == HOIST_OK) {
        e = store_sql_get(
            s, &store_sql_count_noun,
            "SELECT coalesce(max(version), 0) FROM schema_version", NO_ARGS, v,
            err, "schema_version gave no answer");
    }
    return e;
}

/* Brings the file to the newest schema, one migration per transaction.
 * The version is read under the write lock (BEGIN IMMEDIATE), so two
 * controllers starting on one file cannot both apply a migration. Each
 * transaction runs with foreign keys off, since a migration may have to
 * rebuild a table others point at and SQLite cannot change the setting
 * inside a transaction; s_apply checks them all before it commits, and
 * they are on again after, whatever happened. */
static hoist_err_t
s_migrate(store_t *s, hoist_error_t *err)
{
    const int64_t latest = (int64_t)store_migrations_count;
    for (;;) {
        int64_t v = 0;
        hoist_err_t e = s_foreign_keys(s, false, err);
        if (e == HOIST_OK) {
            e = store_begin(s, err);
        }
        if (e == HOIST_OK) {
            e = s_read_version(s, &v, err);
        }
        if (e == HOIST_OK && v > latest) {
            e = error_set(err, HOIST_ERR_STATE,
                          "store %s: schema version %lld is newer than the "
                          "%lld this hoist-controller knows; run a newer "
                          "hoist-controller",
                          s->path, (long long)v, (long long)latest);
        }
        if (e == HOIST_OK && v < latest) {
            e = s_apply(s, (int)v + 1, err);
        }
        store_rollback(s, NULL); /* nothing to undo after a commit */
        hoist_err_t on = s_foreign_keys(s, true, e == HOIST_OK ? err : NULL);
        if (e == HOIST_OK) {
            e = on;
        }
        if (e != HOIST_OK) {
            return e;
        }
        if (v == latest) {
            s->version = (int)v;
            return HOIST_OK;
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
