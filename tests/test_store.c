/*
 * test_store: the controller's state store on real SQLite files: schema
 * and migrations, every noun's success and error paths, one-time tokens,
 * transactions, and durability across a kill -9.
 */
#include "storeutil.h"

#include <signal.h>
#include <sqlite3.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store.h"
#include "store_sql.h" /* store_migrations: a file of schema 1 */

/* --- helpers ------------------------------------------------------------ */

/* A distinct, valid 40-character Z85 key for N. */
static void
s_key(char out[STORE_KEY_SIZE], int n)
{
    snprintf(out, STORE_KEY_SIZE, "Agent+%034d", n);
}

static store_agent_t
s_agent(const char *name, const char *env, int key)
{
    store_agent_t a;
    memset(&a, 0, sizeof a);
    snprintf(a.name, sizeof a.name, "%s", name);
    snprintf(a.env, sizeof a.env, "%s", env);
    s_key(a.pubkey, key);
    a.state = STORE_AGENT_PENDING;
    snprintf(a.tags, sizeof a.tags, "kind=vm,site=fra1");
    a.created_at = 1000 + key;
    return a;
}

static void
s_add_agent(store_t *s, const char *name, const char *env, int key)
{
    hoist_error_t err = {0};
    store_agent_t a = s_agent(name, env, key);
    if (store_agent_add(s, &a, &err) != HOIST_OK) {
        fail_msg("add agent %s: %s", name, err.msg);
    }
}

static store_user_t
s_user(const char *name, const char *role, const char *env, int key)
{
    store_user_t u;
    memset(&u, 0, sizeof u);
    snprintf(u.name, sizeof u.name, "%s", name);
    snprintf(u.role, sizeof u.role, "%s", role);
    snprintf(u.env, sizeof u.env, "%s", env);
    s_key(u.pubkey, key);
    u.created_at = 500;
    return u;
}

/* A release (heap: it is large) with a manifest that holds NUL and 0xff
 * bytes, so that it must travel as a blob. */
static store_release_t *
s_release(const char *app, const char *version, int64_t created_at)
{
    store_release_t *r = calloc(1, sizeof *r);
    assert_non_null(r);
    snprintf(r->app, sizeof r->app, "%s", app);
    snprintf(r->version, sizeof r->version, "%s", version);
    r->sequence = (uint64_t)created_at;
    memset(r->digest, 'a', 64);
    r->digest[0] = '0';
    r->size = 12345;
    r->manifest_len = 300;
    for (size_t i = 0; i < r->manifest_len; i++) {
        r->manifest[i] = (uint8_t)(i * 7);
    }
    r->manifest[3] = 0;
    r->manifest[4] = 0xff;
    snprintf(r->notes, sizeof r->notes, "notes of %s %s", app, version);
    r->created_at = created_at;
    return r;
}

static void
s_add_release(store_t *s, const char *app, const char *version,
              int64_t created_at)
{
    hoist_error_t err = {0};
    store_release_t *r = s_release(app, version, created_at);
    if (store_release_add(s, r, &err) != HOIST_OK) {
        fail_msg("add release: %s", err.msg);
    }
    free(r);
}

static store_deployment_t
s_deployment(const char *app, const char *version, const char *env,
             int64_t created_at)
{
    store_deployment_t d;
    memset(&d, 0, sizeof d);
    snprintf(d.app, sizeof d.app, "%s", app);
    snprintf(d.version, sizeof d.version, "%s", version);
    snprintf(d.env, sizeof d.env, "%s", env);
    d.kind = STORE_KIND_DEPLOY;
    d.state = STORE_DEPLOY_RUNNING;
    snprintf(d.created_by, sizeof d.created_by, "alice");
    d.created_at = created_at;
    return d;
}

static int64_t
s_add_deployment(store_t *s, const char *app, const char *version,
                 int64_t created_at)
{
    hoist_error_t err = {0};
    int64_t id = -1;
    store_deployment_t d = s_deployment(app, version, "dev", created_at);
    if (store_deployment_create(s, &d, &id, &err) != HOIST_OK) {
        fail_msg("create deployment: %s", err.msg);
    }
    return id;
}

static store_task_t *
s_task(int64_t deployment_id, const char *agent)
{
    store_task_t *t = calloc(1, sizeof *t);
    assert_non_null(t);
    t->deployment_id = deployment_id;
    snprintf(t->agent, sizeof t->agent, "%s", agent);
    t->state = STORE_TASK_PENDING;
    t->updated_at = 2000;
    return t;
}

static void
s_token_hash(const char *token, uint8_t out[STORE_TOKEN_HASH])
{
    crypto_generichash(out, STORE_TOKEN_HASH, (const uint8_t *)token,
                       strlen(token), NULL, 0);
}

static store_token_t
s_token(const char *token, const char *env, int64_t created, int64_t expires)
{
    store_token_t t;
    memset(&t, 0, sizeof t);
    s_token_hash(token, t.hash);
    snprintf(t.env, sizeof t.env, "%s", env);
    snprintf(t.created_by, sizeof t.created_by, "admin");
    t.created_at = created;
    t.expires_at = expires;
    return t;
}

/* What a list function saw: the rows' keys joined with commas. */
typedef struct {
    char text[2048];
    int n;
    int stop_after; /* 0: never stop */
} seen_t;

static int
s_seen_add(seen_t *seen, const char *item)
{
    size_t len = strlen(seen->text);
    snprintf(seen->text + len, sizeof seen->text - len, "%s%s", len ? "," : "",
             item);
    seen->n++;
    return seen->stop_after && seen->n >= seen->stop_after;
}

static int
s_see_agent(const store_agent_t *row, void *arg)
{
    return s_seen_add(arg, row->name);
}

static int
s_see_user(const store_user_t *row, void *arg)
{
    return s_seen_add(arg, row->name);
}

static int
s_see_trust(const store_trust_t *row, void *arg)
{
    return s_seen_add(arg, row->key_id);
}

static int
s_see_release(const store_release_t *row, void *arg)
{
    char item[300];
    snprintf(item, sizeof item, "%s %s", row->app, row->version);
    return s_seen_add(arg, item);
}

static int
s_see_deployment(const store_deployment_t *row, void *arg)
{
    char item[32];
    snprintf(item, sizeof item, "%lld", (long long)row->id);
    return s_seen_add(arg, item);
}

static int
s_see_task(const store_task_t *row, void *arg)
{
    char item[128];
    snprintf(item, sizeof item, "%s:%s", row->agent,
             store_task_state_name(row->state));
    return s_seen_add(arg, item);
}

/* --- opening and schema ------------------------------------------------- */

static void
test_open_creates_wal_schema(void **state)
{
    su_fixture_t *f = *state;
    int version = store_schema_version(f->s);
    assert_true(version >= 1);
    assert_int_equal(store_migrations_applied(f->s), version);
    char *mode = su_raw_text(f->path, "PRAGMA journal_mode");
    assert_string_equal(mode, "wal");
    free(mode);
    assert_int_equal(
        su_raw_int(f->path, "SELECT max(version) FROM schema_version"),
        version);
    assert_int_equal(su_raw_int(f->path,
                                "SELECT count(*) FROM sqlite_master WHERE "
                                "type = 'table' AND name IN ('agents', "
                                "'users', 'tokens', 'trust_keys', 'releases', "
                                "'deployments', 'tasks')"),
                     7);
}

static void
test_reopen_applies_nothing_keeps_data(void **state)
{
    su_fixture_t *f = *state;
    store_agent_t a;
    int version = store_schema_version(f->s);
    s_add_agent(f->s, "web-1", "dev", 1);
    long long rows = su_raw_int(f->path, "SELECT count(*) FROM schema_version");
    su_reopen(f);
    assert_int_equal(store_migrations_applied(f->s), 0);
    assert_int_equal(store_schema_version(f->s), version);
    assert_int_equal(su_raw_int(f->path, "SELECT count(*) FROM schema_version"),
                     rows);
    assert_int_equal(store_agent_get(f->s, "web-1", &a, NULL), HOIST_OK);
    assert_string_equal(a.env, "dev");
}

static void
test_newer_schema_refused(void **state)
{
    su_fixture_t *f = *state;
    hoist_error_t err = {0};
    char sql[128], want[64];
    int version = store_schema_version(f->s);
    store_close(&f->s);
    snprintf(sql, sizeof sql, "INSERT INTO schema_version VALUES (%d, 0)",
             version + 1);
    su_raw_exec(f->path, sql);
    assert_null(store_open(f->path, &err));
    assert_int_equal(err.code, HOIST_ERR_STATE);
    snprintf(want, sizeof want, "schema version %d is newer", version + 1);
    assert_contains(err.msg, want);
    assert_contains(err.msg, "newer hoist-controller");
    /* Refusing changed nothing: the file opens once the row is gone. */
    snprintf(sql, sizeof sql, "DELETE FROM schema_version WHERE version = %d",
             version + 1);
    su_raw_exec(f->path, sql);
    su_reopen(f);
    assert_int_equal(store_migrations_applied(f->s), 0);
}

static void
test_open_errors(void **state)
{
    su_fixture_t *f = *state;
    hoist_error_t err = {0};
    char *missing = tu_path(f->dir, "no/such/dir/hoist.db");
    assert_null(store_open(missing, &err));
    assert_int_equal(err.code, HOIST_ERR_IO);
    assert_contains(err.msg, missing);
    free(missing);

    char *junk = tu_path(f->dir, "junk.db");
    char text[8192];
    memset(text, 'x', sizeof text - 1);
    text[sizeof text - 1] = '\0';
    tu_write(junk, text, (size_t)-1, 0600);
    memset(&err, 0, sizeof err);
    assert_null(store_open(junk, &err));
    assert_int_equal(err.code, HOIST_ERR_STATE);
    assert_contains(err.msg, "not a database");
    free(junk);
}

/* --- agents ------------------------------------------------------------- */

static void
test_agent_add_and_get(void **state)
{
    su_fixture_t *f = *state;
    hoist_error_t err = {0};
    store_agent_t a = s_agent("web-1", "dev", 1), back;
    assert_int_equal(store_agent_add(f->s, &a, &err), HOIST_OK);
    memset(&back, 0x55, sizeof back);
    assert_int_equal(store_agent_get(f->s, "web-1", &back, &err), HOIST_OK);
    assert_string_equal(back.name, "web-1");
    assert_string_equal(back.pubkey, a.pubkey);
    assert_string_equal(back.env, "dev");
    assert_int_equal(back.state, STORE_AGENT_PENDING);
    assert_string_equal(back.tags, "kind=vm,site=fra1");
    assert_string_equal(back.facts.hostname, "");
    assert_int_equal(back.facts.free_disk, 0);
    assert_int_equal(back.last_seen, 0);
    assert_false(back.online);
    assert_false(back.cloned);
    assert_int_equal(back.created_at, 1001);
    memset(&back, 0, sizeof back);
    assert_int_equal(store_agent_get_by_key(f->s, a.pubkey, &back, &err),
                     HOIST_OK);
    assert_string_equal(back.name, "web-1");
}

/* A rekey: the new key is the agent's, the old one kept until cleared;
 * the same offer again changes nothing; a taken or malformed key is
 * refused with nothing changed; the old key's secret boxes go. */
static void
test_agent_rekey(void **state)
{
    su_fixture_t *f = *state;
    hoist_error_t err = {0};
    s_add_agent(f->s, "web-1", "dev", 1);
    s_add_agent(f->s, "web-2", "dev", 2);
    store_agent_t a, b = s_agent("x", "dev", 1), c = s_agent("x", "dev", 3);
    su_raw_exec(f->path, "INSERT INTO vars (id, app, env, key, secret, size, "
                         "updated_by, updated_at) VALUES (1, 'web', 'dev', "
                         "'TOKEN', 1, 1, 'admin', 1);"
                         "INSERT INTO var_seals VALUES (1, 'web-1', x'00');"
                         "INSERT INTO var_seals VALUES (1, 'web-2', x'00');");
    int64_t dropped = -1;
    assert_int_equal(store_agent_rekey(f->s, "web-1", c.pubkey, &dropped, &err),
                     HOIST_OK);
    assert_int_equal(dropped, 1);
    assert_int_equal(store_agent_get(f->s, "web-1", &a, &err), HOIST_OK);
    assert_string_equal(a.pubkey, c.pubkey);
    assert_string_equal(a.old_key, b.pubkey);
    assert_int_equal(su_raw_int(f->path, "SELECT count(*) FROM var_seals"), 1);

    assert_int_equal(store_agent_rekey(f->s, "web-1", c.pubkey, &dropped, &err),
                     HOIST_OK);
    assert_int_equal(dropped, 0);
    assert_int_equal(store_agent_get(f->s, "web-1", &a, &err), HOIST_OK);
    assert_string_equal(a.old_key, b.pubkey);

    store_agent_t two = s_agent("x", "dev", 2), d = s_agent("x", "dev", 4);
    assert_int_equal(
        store_agent_rekey(f->s, "web-1", two.pubkey, &dropped, &err),
        STORE_ERR_EXISTS);
    assert_int_equal(store_agent_rekey(f->s, "web-2", b.pubkey, &dropped, &err),
                     STORE_ERR_EXISTS); /* web-1's old key */
    assert_int_equal(store_agent_rekey(f->s, "web-1", "short", &dropped, &err),
                     HOIST_ERR_KEY);
    assert_int_equal(
        store_agent_rekey(f->s, "nobody", d.pubkey, &dropped, &err),
        STORE_ERR_NOTFOUND);
    assert_int_equal(store_agent_get(f->s, "web-2", &a, &err), HOIST_OK);
    assert_string_equal(a.pubkey, two.pubkey);
    assert_string_equal(a.old_key, "");
    assert_int_equal(su_raw_int(f->path, "SELECT count(*) FROM var_seals"), 1);

    assert_int_equal(store_agent_clear_old_key(f->s, "web-1", &err), HOIST_OK);
    assert_int_equal(store_agent_get(f->s, "web-1", &a, &err), HOIST_OK);
    assert_string_equal(a.old_key, "");
}

static void
test_agent_add_errors(void **state)
{
    su_fixture_t *f = *state;
    hoist_error_t err = {0};
    s_add_agent(f->s, "web-1", "dev", 1);

    store_agent_t a = s_agent("web-1", "qa", 2);
    assert_int_equal(store_agent_add(f->s, &a, &err), STORE_ERR_EXISTS);
    assert_string_equal(err.msg, "agent 'web-1' already exists");

    a = s_agent("web-1", "dev", 1); /* name and key both taken */
    assert_int_equal(store_agent_add(f->s, &a, &err), STORE_ERR_EXISTS);
    assert_string_equal(err.msg, "agent 'web-1' already exists");

    a = s_agent("web-2", "dev", 1);
    assert_int_equal(store_agent_add(f->s, &a, &err), STORE_ERR_EXISTS);
    assert_contains(err.msg, "agent 'web-2': its key is already enrolled");

    a = s_agent("web-3", "dev", 3);
    a.pubkey[39] = '\0';
    assert_int_equal(store_agent_add(f->s, &a, &err), HOIST_ERR_KEY);
    assert_contains(err.msg, "agent 'web-3': key is not a CURVE public key");
    a = s_agent("web-3", "dev", 3);
    a.pubkey[5] = ',';
    assert_int_equal(store_agent_add(f->s, &a, &err), HOIST_ERR_KEY);

    a = s_agent("", "dev", 4);
    assert_int_equal(store_agent_add(f->s, &a, &err), HOIST_ERR_USAGE);
    assert_string_equal(err.msg, "agent name is empty");
    a = s_agent("web-4", "", 4);
    assert_int_equal(store_agent_add(f->s, &a, &err), HOIST_ERR_USAGE);
    assert_string_equal(err.msg, "agent environment is empty");
    a = s_agent("web-4", "dev", 4);
    a.state = (store_agent_state_t)7;
    assert_int_equal(store_agent_add(f->s, &a, &err), HOIST_ERR_USAGE);
    a = s_agent("web-4", "dev", 4);
    memset(a.tags, 't', sizeof a.tags);
    assert_int_equal(store_agent_add(f->s, &a, &err), HOIST_ERR_LIMIT);
    assert_contains(err.msg, "agent tags is longer than 1024 bytes");
    /* None of the refused agents landed. */
    assert_int_equal(su_raw_int(f->path, "SELECT count(*) FROM agents"), 1);
}

static void
test_agent_get_missing_leaves_output(void **state)
{
    su_fixture_t *f = *state;
    hoist_error_t err = {0};
    store_agent_t out, before;
    char key[STORE_KEY_SIZE];
    memset(&out, 0x5a, sizeof out);
    memcpy(&before, &out, sizeof out);
    assert_int_equal(store_agent_get(f->s, "nope", &out, &err),
                     STORE_ERR_NOTFOUND);
    assert_string_equal(err.msg, "no agent 'nope'");
    assert_memory_equal(&out, &before, sizeof out);
    s_key(key, 9);
    assert_int_equal(store_agent_get_by_key(f->s, key, &out, &err),
                     STORE_ERR_NOTFOUND);
    assert_contains(err.msg, "no agent with key Agent+");
    assert_memory_equal(&out, &before, sizeof out);
    /* A NULL err is allowed. */
    assert_int_equal(store_agent_get(f->s, "nope", &out, NULL),
                     STORE_ERR_NOTFOUND);
}

static void
test_agent_updates(void **state)
{
    su_fixture_t *f = *state;
    hoist_error_t err = {0};
    store_agent_t a;
    store_facts_t facts = {"web-1.example", "Debian 12", "0.1.0", 1u << 30};
    s_add_agent(f->s, "web-1", "dev", 1);
    s_add_agent(f->s, "web-2", "dev", 2);

    assert_int_equal(
        store_agent_set_state(f->s, "web-1", STORE_AGENT_ACCEPTED, &err),
        HOIST_OK);
    assert_int_equal(store_agent_set_facts(f->s, "web-1", &facts, 4242, &err),
                     HOIST_OK);
    assert_int_equal(store_agent_set_online(f->s, "web-1", true, &err),
                     HOIST_OK);
    assert_int_equal(store_agent_set_online(f->s, "web-2", true, &err),
                     HOIST_OK);
    assert_int_equal(store_agent_set_cloned(f->s, "web-1", true, &err),
                     HOIST_OK);
    assert_int_equal(store_agent_get(f->s, "web-1", &a, &err), HOIST_OK);
    assert_int_equal(a.state, STORE_AGENT_ACCEPTED);
    assert_string_equal(a.facts.hostname, "web-1.example");
    assert_string_equal(a.facts.os, "Debian 12");
    assert_string_equal(a.facts.agent_version, "0.1.0");
    assert_int_equal(a.facts.free_disk, 1u << 30);
    assert_int_equal(a.last_seen, 4242);
    assert_true(a.online);
    assert_true(a.cloned);

    assert_int_equal(store_agent_set_cloned(f->s, "web-1", false, &err),
                     HOIST_OK);
    assert_int_equal(store_agent_reset_online(f->s, &err), HOIST_OK);
    assert_int_equal(store_agent_get(f->s, "web-1", &a, &err), HOIST_OK);
    assert_false(a.online);
    assert_false(a.cloned);
    assert_int_equal(store_agent_get(f->s, "web-2", &a, &err), HOIST_OK);
    assert_false(a.online);
    assert_int_equal(store_agent_get(f->s, "web-2", &a, &err), HOIST_OK);
    assert_int_equal(a.state, STORE_AGENT_PENDING);
}

static void
test_agent_update_errors(void **state)
{
    su_fixture_t *f = *state;
    hoist_error_t err = {0};
    store_facts_t facts = {"h", "os", "1", 1};
    s_add_agent(f->s, "web-1", "dev", 1);

    assert_int_equal(
        store_agent_set_state(f->s, "ghost", STORE_AGENT_REVOKED, &err),
        STORE_ERR_NOTFOUND);
    assert_string_equal(err.msg, "no agent 'ghost'");
    assert_int_equal(
        store_agent_set_state(f->s, "web-1", (store_agent_state_t)3, &err),
        HOIST_ERR_USAGE);
    assert_int_equal(store_agent_set_facts(f->s, "ghost", &facts, 1, &err),
                     STORE_ERR_NOTFOUND);
    assert_string_equal(err.msg, "no agent 'ghost'");
    assert_int_equal(store_agent_set_online(f->s, "ghost", true, &err),
                     STORE_ERR_NOTFOUND);
    assert_int_equal(store_agent_set_cloned(f->s, "ghost", true, &err),
                     STORE_ERR_NOTFOUND);
    assert_string_equal(err.msg, "no agent 'ghost'");

    memset(facts.hostname, 'h', sizeof facts.hostname);
    assert_int_equal(store_agent_set_facts(f->s, "web-1", &facts, 1, &err),
                     HOIST_ERR_LIMIT);
    assert_contains(err.msg, "facts of agent 'web-1': host name is longer");
    snprintf(facts.hostname, sizeof facts.hostname, "h");
    facts.free_disk = UINT64_MAX;
    assert_int_equal(store_agent_set_facts(f->s, "web-1", &facts, 1, &err),
                     HOIST_ERR_LIMIT);
    assert_contains(err.msg, "free disk");
}

static void
test_agent_list_filters_and_order(void **state)
{
    su_fixture_t *f = *state;
    hoist_error_t err = {0};
    seen_t seen = {0};
    s_add_agent(f->s, "c-db", "dev", 1);
    s_add_agent(f->s, "a-web", "production", 2);
    s_add_agent(f->s, "b-web", "dev", 3);

    assert_int_equal(store_agent_list(f->s, NULL, s_see_agent, &seen, &err),
                     HOIST_OK);
    assert_string_equal(seen.text, "a-web,b-web,c-db");
    memset(&seen, 0, sizeof seen);
    assert_int_equal(store_agent_list(f->s, "", s_see_agent, &seen, &err),
                     HOIST_OK);
    assert_string_equal(seen.text, "a-web,b-web,c-db");
    memset(&seen, 0, sizeof seen);
    assert_int_equal(store_agent_list(f->s, "dev", s_see_agent, &seen, &err),
                     HOIST_OK);
    assert_string_equal(seen.text, "b-web,c-db");
    memset(&seen, 0, sizeof seen);
    assert_int_equal(store_agent_list(f->s, "qa", s_see_agent, &seen, &err),
                     HOIST_OK);
    assert_int_equal(seen.n, 0);
    /* A callback that returns non-zero stops the walk. */
    memset(&seen, 0, sizeof seen);
    seen.stop_after = 2;
    assert_int_equal(store_agent_list(f->s, NULL, s_see_agent, &seen, &err),
                     HOIST_OK);
    assert_string_equal(seen.text, "a-web,b-web");
}

static void
test_bad_row_in_db_refused(void **state)
{
    su_fixture_t *f = *state;
    hoist_error_t err = {0};
    store_agent_t a, before;
    seen_t seen = {0};
    /* The longest value that fits goes in and comes back whole. */
    a = s_agent("web-1", "dev", 1);
    memset(a.tags, 't', sizeof a.tags - 1);
    a.tags[sizeof a.tags - 1] = '\0';
    assert_int_equal(store_agent_add(f->s, &a, &err), HOIST_OK);
    memset(&a, 0, sizeof a);
    assert_int_equal(store_agent_get(f->s, "web-1", &a, &err), HOIST_OK);
    assert_int_equal(strlen(a.tags), STORE_TAGS_SIZE - 1);
    /* One byte more, written behind the store's back, is refused. */
    su_raw_exec(f->path, "UPDATE agents SET tags = printf('%.1025c', 'x')");
    memset(&a, 0x5a, sizeof a);
    memcpy(&before, &a, sizeof a);
    assert_int_equal(store_agent_get(f->s, "web-1", &a, &err), HOIST_ERR_STATE);
    assert_contains(err.msg, "agents.tags holds a value");
    assert_memory_equal(&a, &before, sizeof a);
    assert_int_equal(store_agent_list(f->s, NULL, s_see_agent, &seen, &err),
                     HOIST_ERR_STATE);
    assert_int_equal(seen.n, 0);
    /* So is a state the code does not know. */
    su_raw_exec(f->path, "UPDATE agents SET tags = '';"
                         "PRAGMA ignore_check_constraints = ON;"
                         "UPDATE agents SET state = 'bogus'");
    assert_int_equal(store_agent_get(f->s, "web-1", &a, &err), HOIST_ERR_STATE);
    assert_contains(err.msg, "agents.state holds a value");
}

/* --- users -------------------------------------------------------------- */

static void
test_users(void **state)
{
    su_fixture_t *f = *state;
    hoist_error_t err = {0};
    store_user_t u = s_user("root", "admin", "", 1), back;
    seen_t seen = {0};
    int64_t n = -1;
    assert_int_equal(store_user_add(f->s, &u, &err), HOIST_OK);
    u = s_user("quinn", "qa", "qa", 2);
    assert_int_equal(store_user_add(f->s, &u, &err), HOIST_OK);
    u = s_user("bob", "qa", "staging", 3);
    assert_int_equal(store_user_add(f->s, &u, &err), HOIST_OK);

    assert_int_equal(store_user_get(f->s, "root", &back, &err), HOIST_OK);
    assert_string_equal(back.role, "admin");
    assert_string_equal(back.env, "");
    assert_int_equal(back.created_at, 500);
    assert_int_equal(
        su_raw_int(f->path, "SELECT env IS NULL FROM users WHERE name='root'"),
        1);
    assert_int_equal(store_user_get_by_key(f->s, u.pubkey, &back, &err),
                     HOIST_OK);
    assert_string_equal(back.name, "bob");
    assert_string_equal(back.env, "staging");
    assert_int_equal(store_user_list(f->s, s_see_user, &seen, &err), HOIST_OK);
    assert_string_equal(seen.text, "bob,quinn,root");
    assert_int_equal(store_user_count_role(f->s, "qa", &n, &err), HOIST_OK);
    assert_int_equal(n, 2);
    assert_int_equal(store_user_count_role(f->s, "viewer", &n, &err), HOIST_OK);
    assert_int_equal(n, 0);

    assert_int_equal(store_user_remove(f->s, "root", &err), HOIST_OK);
    assert_int_equal(store_user_count_role(f->s, "admin", &n, &err), HOIST_OK);
    assert_int_equal(n, 0);
    assert_int_equal(store_user_get(f->s, "root", &back, &err),
                     STORE_ERR_NOTFOUND);
    assert_string_equal(err.msg, "no user 'root'");
    assert_int_equal(store_user_remove(f->s, "root", &err), STORE_ERR_NOTFOUND);
    assert_string_equal(err.msg, "no user 'root'");
    assert_int_equal(store_user_get_by_key(f->s, "nokey", &back, &err),
                     STORE_ERR_NOTFOUND);
}

static void
test_user_errors_and_shared_keys(void **state)
{
    su_fixture_t *f = *state;
    hoist_error_t err = {0};
    store_user_t u = s_user("root", "admin", "", 1);
    assert_int_equal(store_user_add(f->s, &u, &err), HOIST_OK);
    assert_int_equal(store_user_add(f->s, &u, &err), STORE_ERR_EXISTS);
    assert_string_equal(err.msg, "user 'root' already exists");
    u = s_user("other", "admin", "", 1);
    assert_int_equal(store_user_add(f->s, &u, &err), STORE_ERR_EXISTS);
    assert_contains(err.msg, "user 'other': the key belongs to another user");
    u = s_user("x", "", "", 5);
    assert_int_equal(store_user_add(f->s, &u, &err), HOIST_ERR_USAGE);
    assert_string_equal(err.msg, "user role is empty");
    u = s_user("x", "qa", "", 5);
    memset(u.pubkey, 'k', 20);
    u.pubkey[20] = '\0';
    assert_int_equal(store_user_add(f->s, &u, &err), HOIST_ERR_KEY);

    /* One key is one identity: never an agent and a user at once. */
    s_add_agent(f->s, "web-1", "dev", 7);
    u = s_user("mallory", "admin", "", 7);
    assert_int_equal(store_user_add(f->s, &u, &err), STORE_ERR_EXISTS);
    assert_contains(err.msg, "user 'mallory': the key belongs to an agent");
    store_agent_t a = s_agent("web-9", "dev", 1);
    assert_int_equal(store_agent_add(f->s, &a, &err), STORE_ERR_EXISTS);
    assert_contains(err.msg,
                    "agent 'web-9': its key already belongs to a user");
    assert_int_equal(su_raw_int(f->path, "SELECT count(*) FROM users"), 1);
    assert_int_equal(su_raw_int(f->path, "SELECT count(*) FROM agents"), 1);
}

/* --- tokens ------------------------------------------------------------- */

static void
test_token_is_one_time(void **state)
{
    su_fixture_t *f = *state;
    hoist_error_t err = {0};
    store_token_t t = s_token("enroll-secret-7f3a", "dev", 1000, 2000);
    char env[STORE_NAME_SIZE];
    assert_int_equal(store_token_create(f->s, &t, &err), HOIST_OK);
    assert_int_equal(store_token_consume(f->s, t.hash, 1500, env, &err),
                     HOIST_OK);
    assert_string_equal(env, "dev");

    snprintf(env, sizeof env, "untouched");
    assert_int_equal(store_token_consume(f->s, t.hash, 1600, env, &err),
                     STORE_ERR_TOKEN_USED);
    assert_contains(err.msg, "enrollment token was already used");
    assert_string_equal(env, "untouched");
    assert_int_not_equal(STORE_ERR_TOKEN_USED, STORE_ERR_TOKEN_EXPIRED);

    uint8_t unknown[STORE_TOKEN_HASH];
    s_token_hash("never-issued", unknown);
    assert_int_equal(store_token_consume(f->s, unknown, 1500, env, &err),
                     STORE_ERR_NOTFOUND);
    assert_contains(err.msg, "unknown enrollment token");
    assert_string_equal(env, "untouched");
}

static void
test_token_expiry(void **state)
{
    su_fixture_t *f = *state;
    hoist_error_t err = {0};
    store_token_t t = s_token("tok-2", "qa", 1000, 2000);
    char env[STORE_NAME_SIZE] = "untouched";
    assert_int_equal(store_token_create(f->s, &t, &err), HOIST_OK);
    /* Valid while now < expires_at. */
    assert_int_equal(store_token_consume(f->s, t.hash, 2000, env, &err),
                     STORE_ERR_TOKEN_EXPIRED);
    assert_contains(err.msg, "enrollment token expired (1970-01-01 00:33:20");
    assert_string_equal(env, "untouched");
    assert_int_equal(store_token_consume(f->s, t.hash, 9999, env, &err),
                     STORE_ERR_TOKEN_EXPIRED);
    /* An expired token was not marked used by the attempts. */
    assert_int_equal(
        su_raw_int(f->path,
                   "SELECT count(*) FROM tokens WHERE used_at IS NULL"),
        1);
    t = s_token("tok-3", "qa", 1000, 2000);
    assert_int_equal(store_token_consume(f->s, t.hash, 1999, env, &err),
                     STORE_ERR_NOTFOUND);
    assert_int_equal(store_token_create(f->s, &t, &err), HOIST_OK);
    assert_int_equal(store_token_consume(f->s, t.hash, 1999, env, &err),
                     HOIST_OK);
    assert_string_equal(env, "qa");
}

static void
test_token_create_errors(void **state)
{
    su_fixture_t *f = *state;
    hoist_error_t err = {0};
    store_token_t t = s_token("tok", "dev", 1000, 2000);
    assert_int_equal(store_token_create(f->s, &t, &err), HOIST_OK);
    assert_int_equal(store_token_create(f->s, &t, &err), STORE_ERR_EXISTS);
    assert_contains(err.msg, "already exists");
    t = s_token("tok-b", "dev", 1000, 1000);
    assert_int_equal(store_token_create(f->s, &t, &err), HOIST_ERR_USAGE);
    assert_contains(err.msg, "would expire before it is created");
    t = s_token("tok-c", "", 1000, 2000);
    assert_int_equal(store_token_create(f->s, &t, &err), HOIST_ERR_USAGE);
    assert_string_equal(err.msg, "token environment is empty");
    assert_int_equal(su_raw_int(f->path, "SELECT count(*) FROM tokens"), 1);
}

/* True if the bytes of NEEDLE occur in the file at PATH. */
static bool
s_file_holds(const char *path, const char *needle)
{
    size_t len = 0;
    char *data = tu_read(path, &len);
    bool found = data && memmem(data, len, needle, strlen(needle)) != NULL;
    free(data);
    return found;
}

static void
test_token_itself_never_stored(void **state)
{
    su_fixture_t *f = *state;
    const char *secret = "enroll-secret-QWERTY123456";
    store_token_t t = s_token(secret, "envmarkerq7", 1000, 2000);
    char *wal = NULL;
    assert_int_equal(store_token_create(f->s, &t, NULL), HOIST_OK);
    assert_true(asprintf(&wal, "%s-wal", f->path) > 0);
    /* The search does find what is on disk: the environment name. */
    assert_true(s_file_holds(f->path, "envmarkerq7") ||
                s_file_holds(wal, "envmarkerq7"));
    assert_false(s_file_holds(f->path, secret));
    assert_false(s_file_holds(wal, secret));
    store_close(&f->s);
    assert_true(s_file_holds(f->path, "envmarkerq7"));
    assert_false(s_file_holds(f->path, secret));
    su_reopen(f);
    free(wal);
}

/* Several processes race for one token: exactly one wins. */
static void
test_token_race_has_one_winner(void **state)
{
    su_fixture_t *f = *state;
    enum { RACERS = 8 };
    store_token_t t = s_token("race", "dev", 1000, 2000);
    pid_t pids[RACERS];
    int winners = 0, losers = 0;
    assert_int_equal(store_token_create(f->s, &t, NULL), HOIST_OK);
    store_close(&f->s);
    for (int i = 0; i < RACERS; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0) {
            char env[STORE_NAME_SIZE];
            hoist_error_t err = {0};
            store_t *s = store_open(f->path, NULL);
            hoist_err_t e = s ? store_token_consume(s, t.hash, 1500, env, &err)
                              : HOIST_ERR_IO;
            _exit(e == HOIST_OK                                          ? 0
                  : e == STORE_ERR_TOKEN_USED && strstr(err.msg, "used") ? 1
                                                                         : 2);
        }
    }
    for (int i = 0; i < RACERS; i++) {
        int status = 0;
        assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
        assert_true(WIFEXITED(status));
        winners += WEXITSTATUS(status) == 0;
        losers += WEXITSTATUS(status) == 1;
    }
    assert_int_equal(winners, 1);
    assert_int_equal(losers, RACERS - 1);
    su_reopen(f);
}

/* --- trusted release keys ----------------------------------------------- */

static store_trust_t
s_trust(const char *key_id, int64_t added_at)
{
    store_trust_t k;
    memset(&k, 0, sizeof k);
    snprintf(k.key_id, sizeof k.key_id, "%s", key_id);
    snprintf(k.pubkey, sizeof k.pubkey, "hoist-ed25519-public %s", key_id);
    k.added_at = added_at;
    return k;
}

static void
test_trust_keys(void **state)
{
    su_fixture_t *f = *state;
    hoist_error_t err = {0};
    seen_t seen = {0};
    store_trust_t k = s_trust("00112233aabbccdd", 100);
    assert_int_equal(store_trust_add(f->s, &k, &err), HOIST_OK);
    k = s_trust("ffeeddcc00000000", 50);
    assert_int_equal(store_trust_add(f->s, &k, &err), HOIST_OK);
    assert_int_equal(store_trust_add(f->s, &k, &err), STORE_ERR_EXISTS);
    assert_string_equal(err.msg,
                        "release key ffeeddcc00000000 is already trusted");
    assert_int_equal(store_trust_list(f->s, s_see_trust, &seen, &err),
                     HOIST_OK);
    assert_string_equal(seen.text, "ffeeddcc00000000,00112233aabbccdd");

    assert_int_equal(store_trust_remove(f->s, "00112233aabbccdd", &err),
                     HOIST_OK);
    assert_int_equal(store_trust_remove(f->s, "00112233aabbccdd", &err),
                     STORE_ERR_NOTFOUND);
    assert_contains(err.msg, "release key 00112233aabbccdd is not trusted");
    memset(&seen, 0, sizeof seen);
    assert_int_equal(store_trust_list(f->s, s_see_trust, &seen, &err),
                     HOIST_OK);
    assert_string_equal(seen.text, "ffeeddcc00000000");
}

static void
test_trust_key_errors(void **state)
{
    su_fixture_t *f = *state;
    hoist_error_t err = {0};
    store_trust_t k = s_trust("0011223344556677", 1);
    k.pubkey[0] = '\0';
    assert_int_equal(store_trust_add(f->s, &k, &err), HOIST_ERR_USAGE);
    assert_string_equal(err.msg, "release key is empty");
    k = s_trust("0011223344556677", 1);
    k.key_id[15] = '\0';
    assert_int_equal(store_trust_add(f->s, &k, &err), HOIST_ERR_USAGE);
    assert_contains(err.msg, "is not 16 lowercase hex digits");
    k = s_trust("0011223344556677", 1);
    k.key_id[0] = 'A';
    assert_int_equal(store_trust_add(f->s, &k, &err), HOIST_ERR_USAGE);
    assert_int_equal(store_trust_remove(f->s, "xyz", &err), HOIST_ERR_USAGE);
    assert_contains(err.msg, "release key id 'xyz'");
    assert_int_equal(su_raw_int(f->path, "SELECT count(*) FROM trust_keys"), 0);
}

/* --- releases ----------------------------------------------------------- */

static void
test_release_add_get(void **state)
{
    su_fixture_t *f = *state;
    hoist_error_t err = {0};
    store_release_t *r = s_release("web", "1.2.0", 100);
    store_release_t *back = calloc(1, sizeof *back);
    assert_non_null(back);
    assert_int_equal(store_release_add(f->s, r, &err), HOIST_OK);
    assert_int_equal(store_release_get(f->s, "web", "1.2.0", back, &err),
                     HOIST_OK);
    assert_string_equal(back->app, "web");
    assert_string_equal(back->version, "1.2.0");
    assert_int_equal(back->sequence, 100);
    assert_string_equal(back->digest, r->digest);
    assert_int_equal(back->size, 12345);
    assert_int_equal(back->manifest_len, 300);
    assert_memory_equal(back->manifest, r->manifest, 300);
    assert_string_equal(back->notes, "notes of web 1.2.0");
    assert_int_equal(back->created_at, 100);

    assert_int_equal(store_release_add(f->s, r, &err), STORE_ERR_EXISTS);
    assert_contains(err.msg, "release web 1.2.0 already exists");
    memset(back, 0x33, sizeof *back);
    assert_int_equal(store_release_get(f->s, "web", "9.9.9", back, &err),
                     STORE_ERR_NOTFOUND);
    assert_string_equal(err.msg, "no release web 9.9.9");
    assert_int_equal(back->manifest[0], 0x33);
    free(back);
    free(r);
}

static void
test_release_errors(void **state)
{
    su_fixture_t *f = *state;
    hoist_error_t err = {0};
    store_release_t *r = s_release("web", "1.0", 1);
    r->digest[10] = 'G';
    assert_int_equal(store_release_add(f->s, r, &err), HOIST_ERR_USAGE);
    assert_contains(err.msg, "release web 1.0: digest is not 64");
    free(r);
    r = s_release("web", "1.0", 1);
    r->manifest_len = 0;
    assert_int_equal(store_release_add(f->s, r, &err), HOIST_ERR_LIMIT);
    r->manifest_len = STORE_MANIFEST_MAX + 1;
    assert_int_equal(store_release_add(f->s, r, &err), HOIST_ERR_LIMIT);
    r->manifest_len = 10;
    r->sequence = UINT64_MAX;
    assert_int_equal(store_release_add(f->s, r, &err), HOIST_ERR_LIMIT);
    assert_contains(err.msg, "release web 1.0:");
    r->sequence = 1;
    memset(r->notes, 'n', sizeof r->notes);
    assert_int_equal(store_release_add(f->s, r, &err), HOIST_ERR_LIMIT);
    assert_contains(err.msg, "notes is longer than 65536 bytes");
    free(r);
    r = s_release("", "1.0", 1);
    assert_int_equal(store_release_add(f->s, r, &err), HOIST_ERR_USAGE);
    assert_string_equal(err.msg, "app is empty");
    free(r);
    assert_int_equal(su_raw_int(f->path, "SELECT count(*) FROM releases"), 0);
}

static void
test_release_list_newest_first(void **state)
{
    su_fixture_t *f = *state;
    hoist_error_t err = {0};
    seen_t seen = {0};
    s_add_release(f->s, "web", "1.0.0", 100);
    s_add_release(f->s, "web", "1.1.0", 200);
    s_add_release(f->s, "api", "2.0", 150);
    s_add_release(f->s, "web", "1.2.0", 200); /* same second: later wins */
    assert_int_equal(store_release_list(f->s, NULL, s_see_release, &seen, &err),
                     HOIST_OK);
    assert_string_equal(seen.text, "web 1.2.0,web 1.1.0,api 2.0,web 1.0.0");
    memset(&seen, 0, sizeof seen);
    assert_int_equal(
        store_release_list(f->s, "web", s_see_release, &seen, &err), HOIST_OK);
    assert_string_equal(seen.text, "web 1.2.0,web 1.1.0,web 1.0.0");
    memset(&seen, 0, sizeof seen);
    seen.stop_after = 1;
    assert_int_equal(
        store_release_list(f->s, "api", s_see_release, &seen, &err), HOIST_OK);
    assert_string_equal(seen.text, "api 2.0");
}

/* --- deployments -------------------------------------------------------- */

static void
test_deployments(void **state)
{
    su_fixture_t *f = *state;
    hoist_error_t err = {0};
    store_deployment_t d;
    seen_t seen = {0};
    s_add_release(f->s, "web", "1.0", 1);
    s_add_release(f->s, "api", "2.0", 1);
    int64_t d1 = s_add_deployment(f->s, "web", "1.0", 100);
    int64_t d2 = s_add_deployment(f->s, "web", "1.0", 200);
    int64_t d3 = s_add_deployment(f->s, "api", "2.0", 150);
    assert_true(d1 > 0 && d2 > d1 && d3 > d2);

    assert_int_equal(store_deployment_get(f->s, d1, &d, &err), HOIST_OK);
    assert_int_equal(d.id, d1);
    assert_string_equal(d.app, "web");
    assert_string_equal(d.version, "1.0");
    assert_string_equal(d.env, "dev");
    assert_int_equal(d.kind, STORE_KIND_DEPLOY);
    assert_int_equal(d.state, STORE_DEPLOY_RUNNING);
    assert_string_equal(d.created_by, "alice");
    assert_int_equal(d.created_at, 100);
    assert_int_equal(d.finished_at, 0);

    assert_int_equal(
        store_deployment_list(f->s, NULL, s_see_deployment, &seen, &err),
        HOIST_OK);
    char want[64];
    snprintf(want, sizeof want, "%lld,%lld,%lld", (long long)d2, (long long)d3,
             (long long)d1);
    assert_string_equal(seen.text, want);
    memset(&seen, 0, sizeof seen);
    assert_int_equal(
        store_deployment_list(f->s, "web", s_see_deployment, &seen, &err),
        HOIST_OK);
    snprintf(want, sizeof want, "%lld,%lld", (long long)d2, (long long)d1);
    assert_string_equal(seen.text, want);

    assert_int_equal(store_deployment_set_state(
                         f->s, d1, STORE_DEPLOY_ROLLED_BACK, 300, &err),
                     HOIST_OK);
    assert_int_equal(store_deployment_get(f->s, d1, &d, &err), HOIST_OK);
    assert_int_equal(d.state, STORE_DEPLOY_ROLLED_BACK);
    assert_int_equal(d.finished_at, 300);
    memset(&seen, 0, sizeof seen);
    assert_int_equal(
        store_deployment_list_running(f->s, s_see_deployment, &seen, &err),
        HOIST_OK);
    snprintf(want, sizeof want, "%lld,%lld", (long long)d2, (long long)d3);
    assert_string_equal(seen.text, want);
    assert_int_equal(
        store_deployment_set_state(f->s, d1, STORE_DEPLOY_RUNNING, 400, &err),
        HOIST_OK);
    assert_int_equal(store_deployment_get(f->s, d1, &d, &err), HOIST_OK);
    assert_int_equal(d.finished_at, 0);
}

static void
test_deployment_errors(void **state)
{
    su_fixture_t *f = *state;
    hoist_error_t err = {0};
    store_deployment_t d = s_deployment("web", "9.9", "dev", 1), out;
    int64_t id = -7;
    assert_int_equal(store_deployment_create(f->s, &d, &id, &err),
                     STORE_ERR_NOTFOUND);
    assert_string_equal(err.msg, "no release web 9.9");
    assert_int_equal(id, -7);
    s_add_release(f->s, "web", "9.9", 1);
    d.kind = (store_deploy_kind_t)5;
    assert_int_equal(store_deployment_create(f->s, &d, &id, &err),
                     HOIST_ERR_USAGE);
    d = s_deployment("web", "9.9", "", 1);
    assert_int_equal(store_deployment_create(f->s, &d, &id, &err),
                     HOIST_ERR_USAGE);
    assert_string_equal(err.msg, "environment is empty");
    assert_int_equal(id, -7);

    memset(&out, 0x11, sizeof out);
    assert_int_equal(store_deployment_get(f->s, 999, &out, &err),
                     STORE_ERR_NOTFOUND);
    assert_string_equal(err.msg, "no deployment 999");
    assert_int_equal(out.id, 0x1111111111111111LL);
    assert_int_equal(
        store_deployment_set_state(f->s, 999, STORE_DEPLOY_FAILED, 1, &err),
        STORE_ERR_NOTFOUND);
    assert_string_equal(err.msg, "no deployment 999");
    assert_int_equal(
        store_deployment_set_state(f->s, 999, (store_deploy_state_t)9, 1, &err),
        HOIST_ERR_USAGE);
}

/* --- tasks -------------------------------------------------------------- */

static void
test_tasks(void **state)
{
    su_fixture_t *f = *state;
    hoist_error_t err = {0};
    seen_t seen = {0};
    s_add_agent(f->s, "web-1", "dev", 1);
    s_add_agent(f->s, "web-2", "dev", 2);
    s_add_release(f->s, "web", "1.0", 1);
    int64_t d1 = s_add_deployment(f->s, "web", "1.0", 10);
    int64_t d2 = s_add_deployment(f->s, "web", "1.0", 20);
    store_task_t *t = s_task(d1, "web-2");
    store_task_t *back = calloc(1, sizeof *back);
    assert_non_null(back);
    assert_int_equal(store_task_create(f->s, t, &err), HOIST_OK);
    free(t);
    t = s_task(d1, "web-1");
    t->state = STORE_TASK_SENT;
    assert_int_equal(store_task_create(f->s, t, &err), HOIST_OK);

    assert_int_equal(store_task_list(f->s, d1, s_see_task, &seen, &err),
                     HOIST_OK);
    assert_string_equal(seen.text, "web-1:sent,web-2:pending");
    memset(&seen, 0, sizeof seen);
    assert_int_equal(store_task_list(f->s, d2, s_see_task, &seen, &err),
                     HOIST_OK);
    assert_int_equal(seen.n, 0);

    t->state = STORE_TASK_ROLLED_BACK;
    snprintf(t->step, sizeof t->step, "health");
    snprintf(t->live_version, sizeof t->live_version, "0.9");
    snprintf(t->message, sizeof t->message, "health check failed:\nboom");
    t->updated_at = 3000;
    assert_int_equal(store_task_update(f->s, t, &err), HOIST_OK);
    assert_int_equal(store_task_get(f->s, d1, "web-1", back, &err), HOIST_OK);
    assert_int_equal(back->deployment_id, d1);
    assert_string_equal(back->agent, "web-1");
    assert_int_equal(back->state, STORE_TASK_ROLLED_BACK);
    assert_string_equal(back->step, "health");
    assert_string_equal(back->live_version, "0.9");
    assert_string_equal(back->message, "health check failed:\nboom");
    assert_int_equal(back->updated_at, 3000);
    /* The other task was left alone. */
    assert_int_equal(store_task_get(f->s, d1, "web-2", back, &err), HOIST_OK);
    assert_int_equal(back->state, STORE_TASK_PENDING);
    assert_string_equal(back->message, "");
    free(back);
    free(t);
}

static void
test_task_errors(void **state)
{
    su_fixture_t *f = *state;
    hoist_error_t err = {0};
    s_add_agent(f->s, "web-1", "dev", 1);
    s_add_release(f->s, "web", "1.0", 1);
    int64_t d1 = s_add_deployment(f->s, "web", "1.0", 10);
    store_task_t *t = s_task(d1, "web-1");
    assert_int_equal(store_task_create(f->s, t, &err), HOIST_OK);
    assert_int_equal(store_task_create(f->s, t, &err), STORE_ERR_EXISTS);
    assert_contains(err.msg, "already has a task for agent 'web-1'");

    t->deployment_id = 999;
    assert_int_equal(store_task_create(f->s, t, &err), STORE_ERR_NOTFOUND);
    assert_string_equal(err.msg, "no deployment 999");
    t->deployment_id = d1;
    snprintf(t->agent, sizeof t->agent, "ghost");
    assert_int_equal(store_task_create(f->s, t, &err), STORE_ERR_NOTFOUND);
    assert_string_equal(err.msg, "no agent 'ghost'");
    assert_int_equal(store_task_update(f->s, t, &err), STORE_ERR_NOTFOUND);
    assert_contains(err.msg, "no task for agent 'ghost' in deployment");
    assert_int_equal(store_task_get(f->s, d1, "ghost", t, &err),
                     STORE_ERR_NOTFOUND);
    assert_string_equal(t->agent, "ghost");
    t->state = (store_task_state_t)42;
    assert_int_equal(store_task_update(f->s, t, &err), HOIST_ERR_USAGE);
    snprintf(t->agent, sizeof t->agent, "web-1");
    t->state = STORE_TASK_FAILED;
    memset(t->step, 's', sizeof t->step);
    assert_int_equal(store_task_update(f->s, t, &err), HOIST_ERR_LIMIT);
    assert_contains(err.msg, "task step is longer");
    assert_int_equal(su_raw_int(f->path, "SELECT count(*) FROM tasks"), 1);
    free(t);
}

static void
test_task_message_keeps_tail(void **state)
{
    su_fixture_t *f = *state;
    hoist_error_t err = {0};
    size_t len = 100 * 1024;
    char *big = malloc(len);
    store_task_t *t = s_task(0, "web-1");
    store_task_t *back = calloc(1, sizeof *back);
    assert_non_null(big);
    assert_non_null(back);
    memset(big, 'x', len);
    memcpy(big, "the start", 9);
    memcpy(big + len - 7, "the end", 7);
    store_task_set_message(t, big, len);
    assert_int_equal(strlen(t->message), STORE_MESSAGE_MAX);
    assert_string_equal(t->message + STORE_MESSAGE_MAX - 7, "the end");
    assert_null(strstr(t->message, "the start"));

    /* The cut falls inside a two-byte character: its tail is dropped. */
    big[len - STORE_MESSAGE_MAX - 1] = (char)0xc3;
    big[len - STORE_MESSAGE_MAX] = (char)0xa9;
    store_task_set_message(t, big, len);
    assert_int_equal(strlen(t->message), STORE_MESSAGE_MAX - 1);
    assert_int_equal(t->message[0], 'x');

    store_task_set_message(t, "a\0b", 3);
    assert_string_equal(t->message, "a?b");
    store_task_set_message(t, NULL, 0);
    assert_string_equal(t->message, "");

    /* A full-size message goes in and comes back whole. */
    s_add_agent(f->s, "web-1", "dev", 1);
    s_add_release(f->s, "web", "1.0", 1);
    t->deployment_id = s_add_deployment(f->s, "web", "1.0", 10);
    store_task_set_message(t, big, len);
    assert_int_equal(store_task_create(f->s, t, &err), HOIST_OK);
    assert_int_equal(
        store_task_get(f->s, t->deployment_id, "web-1", back, &err), HOIST_OK);
    assert_string_equal(back->message, t->message);
    free(back);
    free(t);
    free(big);
}

/* --- transactions and durability ---------------------------------------- */

static void
test_transactions(void **state)
{
    su_fixture_t *f = *state;
    hoist_error_t err = {0};
    store_agent_t a;
    assert_int_equal(store_rollback(f->s, &err), HOIST_OK);
    assert_int_not_equal(store_commit(f->s, &err), HOIST_OK);

    assert_int_equal(store_begin(f->s, &err), HOIST_OK);
    s_add_agent(f->s, "gone", "dev", 1);
    assert_int_equal(store_rollback(f->s, &err), HOIST_OK);
    assert_int_equal(store_agent_get(f->s, "gone", &a, &err),
                     STORE_ERR_NOTFOUND);

    /* A deployment and its tasks: all or nothing. */
    s_add_release(f->s, "web", "1.0", 1);
    assert_int_equal(store_begin(f->s, &err), HOIST_OK);
    int64_t id = s_add_deployment(f->s, "web", "1.0", 10);
    store_task_t *t = s_task(id, "no-such-agent");
    assert_int_equal(store_task_create(f->s, t, &err), STORE_ERR_NOTFOUND);
    assert_int_equal(store_rollback(f->s, &err), HOIST_OK);
    assert_int_equal(su_raw_int(f->path, "SELECT count(*) FROM deployments"),
                     0);

    assert_int_equal(store_begin(f->s, &err), HOIST_OK);
    s_add_agent(f->s, "kept", "dev", 2);
    assert_int_equal(store_commit(f->s, &err), HOIST_OK);
    su_reopen(f);
    assert_int_equal(store_agent_get(f->s, "kept", &a, &err), HOIST_OK);
    free(t);
}

static void
test_running_deployment_resumes_after_reopen(void **state)
{
    su_fixture_t *f = *state;
    hoist_error_t err = {0};
    seen_t seen = {0};
    s_add_agent(f->s, "web-1", "dev", 1);
    s_add_release(f->s, "web", "1.0", 1);
    int64_t done = s_add_deployment(f->s, "web", "1.0", 5);
    assert_int_equal(
        store_deployment_set_state(f->s, done, STORE_DEPLOY_SUCCEEDED, 6, &err),
        HOIST_OK);
    int64_t id = s_add_deployment(f->s, "web", "1.0", 10);
    store_task_t *t = s_task(id, "web-1");
    t->state = STORE_TASK_SENT;
    assert_int_equal(store_task_create(f->s, t, &err), HOIST_OK);
    su_reopen(f);
    assert_int_equal(
        store_deployment_list_running(f->s, s_see_deployment, &seen, &err),
        HOIST_OK);
    char want[32];
    snprintf(want, sizeof want, "%lld", (long long)id);
    assert_string_equal(seen.text, want);
    memset(&seen, 0, sizeof seen);
    assert_int_equal(store_task_list(f->s, id, s_see_task, &seen, &err),
                     HOIST_OK);
    assert_string_equal(seen.text, "web-1:sent");
    free(t);
}

/* A child commits, starts a second change, and is killed with SIGKILL
 * before it commits that: the parent sees the first and not the second. */
static void
test_kill9_keeps_what_was_committed(void **state)
{
    su_fixture_t *f = *state;
    store_agent_t a;
    int status = 0;
    store_close(&f->s);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        store_t *s = store_open(f->path, NULL);
        store_agent_t c = s_agent("committed", "dev", 1);
        store_agent_t u = s_agent("uncommitted", "dev", 2);
        if (!s || store_begin(s, NULL) || store_agent_add(s, &c, NULL) ||
            store_commit(s, NULL) ||
            store_agent_set_online(s, "committed", true, NULL) ||
            store_begin(s, NULL) || store_agent_add(s, &u, NULL)) {
            _exit(1);
        }
        raise(SIGKILL);
        _exit(2);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGKILL);
    su_reopen(f);
    assert_int_equal(store_agent_get(f->s, "committed", &a, NULL), HOIST_OK);
    assert_true(a.online);
    assert_int_equal(store_agent_get(f->s, "uncommitted", &a, NULL),
                     STORE_ERR_NOTFOUND);
}

static void
test_state_names(void **state)
{
    (void)state;
    assert_string_equal(store_agent_state_name(STORE_AGENT_REVOKED), "revoked");
    assert_string_equal(store_agent_state_name((store_agent_state_t)9),
                        "unknown");
    assert_string_equal(store_deploy_kind_name(STORE_KIND_ROLLBACK),
                        "rollback");
    assert_string_equal(store_deploy_state_name(STORE_DEPLOY_ROLLED_BACK),
                        "rolled_back");
    assert_string_equal(store_deploy_state_name((store_deploy_state_t)-1),
                        "unknown");
    assert_string_equal(store_task_state_name(STORE_TASK_REJECTED), "rejected");
    assert_string_equal(store_task_state_name(STORE_TASK_UNKNOWN), "unknown");
}

/* --- migrating an older file -------------------------------------------- */

/* Writes, at PATH, the database a Hoist of schema 1 left behind: the first
 * migration, its schema_version row, and an agent, a release and a
 * deployment in it. */
static void
s_write_schema1(const char *path)
{
    sqlite3 *db = su_raw_open(path);
    char *msg = NULL;
    const char *rows =
        "CREATE TABLE schema_version (version INTEGER PRIMARY KEY,"
        " applied_at INTEGER NOT NULL) STRICT;"
        "INSERT INTO schema_version VALUES (1, 0);"
        "INSERT INTO agents (name, pubkey, env, state, created_at) VALUES"
        " ('web-1', 'Agent+0000000000000000000000000000000001', 'dev',"
        " 'accepted', 5);"
        "INSERT INTO releases (app, version, sequence, digest, size,"
        " manifest, notes, created_at) VALUES ('web', '1.0.0', 1,"
        " '0aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa',"
        " 10, x'00ff', 'old notes', 100);"
        "INSERT INTO deployments (app, version, env, kind, state,"
        " created_by, created_at) VALUES ('web', '1.0.0', 'dev', 'deploy',"
        " 'succeeded', 'alice', 101);";
    assert_true(store_migrations_count >= 2);
    if (sqlite3_exec(db, store_migrations[0], NULL, NULL, &msg) != SQLITE_OK ||
        sqlite3_exec(db, rows, NULL, NULL, &msg) != SQLITE_OK) {
        fail_msg("schema 1: %s", msg);
    }
    sqlite3_close(db);
}

static int
s_see_approval(const store_approval_t *row, void *arg)
{
    return s_seen_add(arg, row->user);
}

static void
test_migrates_schema1_file_keeping_rows(void **state)
{
    su_fixture_t *f = *state;
    hoist_error_t err = {0};
    char *old = tu_path(f->dir, "old.db");
    s_write_schema1(old);
    assert_int_equal(su_raw_int(old, "SELECT count(*) FROM sqlite_master WHERE"
                                     " name IN ('audit', 'approvals')"),
                     0);

    store_t *s = store_open(old, &err);
    if (!s) {
        fail_msg("store_open: %s", err.msg);
    }
    assert_int_equal(store_schema_version(s), (int)store_migrations_count);
    assert_int_equal(store_migrations_applied(s),
                     (int)store_migrations_count - 1);

    /* The old rows are there, the release with the default lifecycle. */
    store_agent_t a;
    assert_int_equal(store_agent_get(s, "web-1", &a, &err), HOIST_OK);
    assert_int_equal(a.state, STORE_AGENT_ACCEPTED);
    store_release_t *r = calloc(1, sizeof *r);
    assert_non_null(r);
    assert_int_equal(store_release_get(s, "web", "1.0.0", r, &err), HOIST_OK);
    assert_string_equal(r->notes, "old notes");
    assert_string_equal(r->lifecycle, "");
    assert_int_equal(r->manifest_len, 2);
    free(r);
    store_deployment_t d;
    assert_int_equal(store_deployment_get(s, 1, &d, &err), HOIST_OK);
    assert_int_equal(d.state, STORE_DEPLOY_SUCCEEDED);

    /* The new tables work against the old rows. */
    store_approval_t ap;
    memset(&ap, 0, sizeof ap);
    snprintf(ap.app, sizeof ap.app, "web");
    snprintf(ap.version, sizeof ap.version, "1.0.0");
    snprintf(ap.env, sizeof ap.env, "qa");
    snprintf(ap.user, sizeof ap.user, "carol");
    snprintf(ap.role, sizeof ap.role, "qa");
    assert_int_equal(store_approval_add(s, &ap, &err), HOIST_OK);
    seen_t seen = {0};
    assert_int_equal(store_approval_list(s, "web", "1.0.0", NULL,
                                         s_see_approval, &seen, &err),
                     HOIST_OK);
    assert_string_equal(seen.text, "carol");
    store_audit_t row;
    assert_int_equal(store_audit_append(s, 1, "carol", "approve", "web 1.0.0",
                                        "ok", 0, "", &row, &err),
                     HOIST_OK);
    assert_int_equal(row.id, 1);
    store_close(&s);

    /* Migrated once: the next open applies nothing. */
    s = store_open(old, &err);
    assert_non_null(s);
    assert_int_equal(store_migrations_applied(s), 0);
    store_close(&s);
    assert_int_equal(su_raw_int(old, "SELECT count(*) FROM schema_version"),
                     (long long)store_migrations_count);
    free(old);
}

static void
test_new_schema_tables(void **state)
{
    su_fixture_t *f = *state;
    assert_true(store_schema_version(f->s) >= 2);
    assert_int_equal(su_raw_int(f->path,
                                "SELECT count(*) FROM sqlite_master WHERE "
                                "type = 'table' AND name IN ('audit', "
                                "'pipeline', 'approvals', 'schedules')"),
                     4);
    assert_int_equal(su_raw_int(f->path,
                                "SELECT count(*) FROM sqlite_master WHERE "
                                "type = 'trigger' AND tbl_name = 'audit'"),
                     2);
    /* A state the CHECK does not list is refused by SQLite itself. */
    s_add_release(f->s, "web", "1.0.0", 100);
    sqlite3 *db = su_raw_open(f->path);
    assert_int_not_equal(
        sqlite3_exec(db,
                     "INSERT INTO schedules (app, version, env, at_ms, state,"
                     " created_by, created_at) VALUES ('web', '1.0.0', 'qa',"
                     " 1, 'done', 'rm', 1)",
                     NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);
}

/* --- release lifecycles ------------------------------------------------- */

static void
test_release_lifecycle(void **state)
{
    su_fixture_t *f = *state;
    hoist_error_t err = {0};
    store_release_t *r = s_release("web", "1.0.1", 100);
    store_release_t *back = calloc(1, sizeof *back);
    assert_non_null(back);
    snprintf(r->lifecycle, sizeof r->lifecycle, "hotfix");
    assert_int_equal(store_release_add(f->s, r, &err), HOIST_OK);
    s_add_release(f->s, "web", "1.1.0", 200);

    assert_int_equal(store_release_get(f->s, "web", "1.0.1", back, &err),
                     HOIST_OK);
    assert_string_equal(back->lifecycle, "hotfix");
    assert_string_equal(back->notes, "notes of web 1.0.1");
    assert_int_equal(back->created_at, 100);
    assert_int_equal(store_release_get(f->s, "web", "1.1.0", back, &err),
                     HOIST_OK);
    assert_string_equal(back->lifecycle, "");

    seen_t seen = {0};
    assert_int_equal(
        store_release_list(f->s, "web", s_see_release, &seen, &err), HOIST_OK);
    assert_string_equal(seen.text, "web 1.1.0,web 1.0.1");

    memset(r->lifecycle, 'l', sizeof r->lifecycle);
    snprintf(r->version, sizeof r->version, "1.0.2");
    assert_int_equal(store_release_add(f->s, r, &err), HOIST_ERR_LIMIT);
    assert_contains(err.msg, "lifecycle");
    free(back);
    free(r);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, su_setup, su_teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_open_creates_wal_schema),
        T(test_reopen_applies_nothing_keeps_data),
        T(test_newer_schema_refused),
        T(test_open_errors),
        T(test_agent_add_and_get),
        T(test_agent_rekey),
        T(test_agent_add_errors),
        T(test_agent_get_missing_leaves_output),
        T(test_agent_updates),
        T(test_agent_update_errors),
        T(test_agent_list_filters_and_order),
        T(test_bad_row_in_db_refused),
        T(test_users),
        T(test_user_errors_and_shared_keys),
        T(test_token_is_one_time),
        T(test_token_expiry),
        T(test_token_create_errors),
        T(test_token_itself_never_stored),
        T(test_token_race_has_one_winner),
        T(test_trust_keys),
        T(test_trust_key_errors),
        T(test_release_add_get),
        T(test_release_errors),
        T(test_release_list_newest_first),
        T(test_deployments),
        T(test_deployment_errors),
        T(test_tasks),
        T(test_task_errors),
        T(test_task_message_keeps_tail),
        T(test_transactions),
        T(test_running_deployment_resumes_after_reopen),
        T(test_kill9_keeps_what_was_committed),
        T(test_state_names),
        T(test_migrates_schema1_file_keeping_rows),
        T(test_new_schema_tables),
        T(test_release_lifecycle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
