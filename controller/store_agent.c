/*
 * store_agent: the store's agents: the machines that run releases, enrolled by
 * key, with the facts they report and whether they are connected. See store.h
 * for the interface and store_sql.h for the helpers.
 */
#include "store.h"

#include <string.h>

#include "store_sql.h"

/* Names of the enum values, as stored and as the CHECK constraints of
 * the schema list them; indexed by the enum value. */
static const char *const s_agent_states[] = {"pending", "accepted", "revoked"};

#define AGENT_SELECT                                                           \
    "SELECT name, pubkey, env, state, tags, hostname, os, agent_version,"      \
    " free_disk, last_seen, online, cloned, created_at, pinned_next,"          \
    " old_key FROM agents"

static void
s_agent_read(store_sql_row_t *r, void *row)
{
    store_agent_t *a = row;
    store_sql_text(r, a->name, sizeof a->name);
    store_sql_text(r, a->pubkey, sizeof a->pubkey);
    store_sql_text(r, a->env, sizeof a->env);
    a->state = store_sql_enum(r, s_agent_states, N_OF(s_agent_states));
    store_sql_text(r, a->tags, sizeof a->tags);
    store_sql_text(r, a->facts.hostname, sizeof a->facts.hostname);
    store_sql_text(r, a->facts.os, sizeof a->facts.os);
    store_sql_text(r, a->facts.agent_version, sizeof a->facts.agent_version);
    a->facts.free_disk = store_sql_uint(r);
    a->last_seen = store_sql_int(r);
    a->online = store_sql_int(r) != 0;
    a->cloned = store_sql_int(r) != 0;
    a->created_at = store_sql_int(r);
    store_sql_text(r, a->pinned_next, sizeof a->pinned_next);
    store_sql_text(r, a->old_key, sizeof a->old_key);
}

static int
s_agent_visit(const void *row, const store_sql_cb_t *cb)
{
    return cb->fn.agent(row, cb->arg);
}

static const store_sql_noun_t s_agent_noun = {
    "agents", s_agent_read, sizeof(store_agent_t), s_agent_visit};

const char *
store_agent_state_name(store_agent_state_t state)
{
    return store_sql_name(s_agent_states, N_OF(s_agent_states), (int)state);
}

static hoist_err_t
s_agent_check(const store_agent_t *a, hoist_error_t *err)
{
    hoist_err_t e =
        store_sql_check_text("agent name", a->name, sizeof a->name, true, err);
    if (e == HOIST_OK) {
        e = store_sql_check_key("agent", a->name, a->pubkey, err);
    }
    if (e == HOIST_OK) {
        e = store_sql_check_text("agent environment", a->env, sizeof a->env,
                                 true, err);
    }
    if (e == HOIST_OK) {
        e = store_sql_check_text("agent tags", a->tags, sizeof a->tags, false,
                                 err);
    }
    if (e == HOIST_OK && (unsigned)a->state >= N_OF(s_agent_states)) {
        e = error_set(err, HOIST_ERR_USAGE, "agent '%s': no state %d", a->name,
                      (int)a->state);
    }
    return e;
}

hoist_err_t
store_agent_add(store_t *s, const store_agent_t *a, hoist_error_t *err)
{
    int changes = 0;
    hoist_err_t e = s_agent_check(a, err);
    if (e != HOIST_OK) {
        return e;
    }
    /* A key is one identity: it may not be an agent and a user at once. */
    e = store_sql_exec(
        s, "add agent",
        "INSERT INTO agents (name, pubkey, env, state, tags, created_at)"
        " SELECT ?1, ?2, ?3, ?4, ?5, ?6"
        " WHERE NOT EXISTS (SELECT 1 FROM users WHERE pubkey = ?2)",
        ARGS(A_TEXT(a->name), A_TEXT(a->pubkey), A_TEXT(a->env),
             A_TEXT(s_agent_states[a->state]), A_TEXT(a->tags),
             A_INT(a->created_at)),
        &changes, err);
    if (e == HOIST_OK && changes == 0) {
        return error_set(err, STORE_ERR_EXISTS,
                         "agent '%s': its key already belongs to a user",
                         a->name);
    }
    if (e != HOIST_OK && s->fail == STORE_SQL_FAIL_UNIQUE) {
        if (store_sql_any(s, "SELECT count(*) FROM agents WHERE name = ?1",
                          a->name)) {
            return error_set(err, STORE_ERR_EXISTS, "agent '%s' already exists",
                             a->name);
        }
        return error_set(err, STORE_ERR_EXISTS,
                         "agent '%s': its key is already enrolled as "
                         "another agent; see `hoist agents`",
                         a->name);
    }
    return e;
}

hoist_err_t
store_agent_get(store_t *s, const char *name, store_agent_t *out,
                hoist_error_t *err)
{
    return store_sql_get(s, &s_agent_noun, AGENT_SELECT " WHERE name = ?1",
                         ARGS(A_TEXT(name)), out, err, "no agent '%s'", name);
}

hoist_err_t
store_agent_get_by_key(store_t *s, const char *pubkey, store_agent_t *out,
                       hoist_error_t *err)
{
    return store_sql_get(s, &s_agent_noun, AGENT_SELECT " WHERE pubkey = ?1",
                         ARGS(A_TEXT(pubkey)), out, err,
                         "no agent with key %.40s", pubkey);
}

hoist_err_t
store_agent_list(store_t *s, const char *env, store_agent_fn fn, void *arg,
                 hoist_error_t *err)
{
    store_sql_cb_t cb = {.fn.agent = fn, .arg = arg};
    return store_sql_each(s, &s_agent_noun,
                          AGENT_SELECT
                          " WHERE ?1 IS NULL OR env = ?1 ORDER BY name",
                          ARGS(A_OPT(env)), &cb, err);
}

hoist_err_t
store_agent_set_state(store_t *s, const char *name, store_agent_state_t state,
                      hoist_error_t *err)
{
    if ((unsigned)state >= N_OF(s_agent_states)) {
        return error_set(err, HOIST_ERR_USAGE, "agent '%s': no state %d", name,
                         (int)state);
    }
    return store_sql_change(s, "set agent state",
                            "UPDATE agents SET state = ?1 WHERE name = ?2",
                            ARGS(A_TEXT(s_agent_states[state]), A_TEXT(name)),
                            err, "no agent '%s'", name);
}

hoist_err_t
store_agent_set_facts(store_t *s, const char *name, const store_facts_t *f,
                      int64_t now, hoist_error_t *err)
{
    hoist_err_t e = store_sql_check_text("host name", f->hostname,
                                         sizeof f->hostname, false, err);
    if (e == HOIST_OK) {
        e = store_sql_check_text("OS", f->os, sizeof f->os, false, err);
    }
    if (e == HOIST_OK) {
        e = store_sql_check_text("agent version", f->agent_version,
                                 sizeof f->agent_version, false, err);
    }
    if (e == HOIST_OK && f->free_disk > (uint64_t)INT64_MAX) {
        e = error_set(err, HOIST_ERR_LIMIT, "free disk %llu is out of range",
                      (unsigned long long)f->free_disk);
    }
    if (e != HOIST_OK) {
        error_prefix(err, "facts of agent '%s'", name);
        return e;
    }
    return store_sql_change(
        s, "set agent facts",
        "UPDATE agents SET hostname = ?1, os = ?2,"
        " agent_version = ?3, free_disk = ?4, last_seen = ?5"
        " WHERE name = ?6",
        ARGS(A_TEXT(f->hostname), A_TEXT(f->os), A_TEXT(f->agent_version),
             A_INT(f->free_disk), A_INT(now), A_TEXT(name)),
        err, "no agent '%s'", name);
}

hoist_err_t
store_agent_set_online(store_t *s, const char *name, bool online,
                       hoist_error_t *err)
{
    return store_sql_change(
        s, "set agent online", "UPDATE agents SET online = ?1 WHERE name = ?2",
        ARGS(A_INT(online), A_TEXT(name)), err, "no agent '%s'", name);
}

hoist_err_t
store_agent_set_pinned_next(store_t *s, const char *name, const char *key,
                            hoist_error_t *err)
{
    if (key[0]) {
        hoist_err_t e = store_sql_check_key("agent", name, key, err);
        if (e != HOIST_OK) {
            return e;
        }
    }
    return store_sql_change(
        s, "set agent pinned key",
        "UPDATE agents SET pinned_next = ?1 WHERE name = ?2",
        ARGS(A_TEXT(key), A_TEXT(name)), err, "no agent '%s'", name);
}

/* The steps of store_agent_rekey, inside its transaction. */
static hoist_err_t
s_rekey(store_t *s, const char *name, const char *newkey, int64_t *dropped,
        hoist_error_t *err)
{
    store_agent_t a;
    hoist_err_t e = store_agent_get(s, name, &a, err);
    if (e != HOIST_OK || strcmp(a.pubkey, newkey) == 0) {
        return e; /* the same offer again: nothing to do */
    }
    if (store_sql_any(s,
                      "SELECT (SELECT count(*) FROM agents WHERE pubkey = ?1"
                      " OR old_key = ?1) + (SELECT count(*) FROM users"
                      " WHERE pubkey = ?1)",
                      newkey)) {
        return error_set(err, STORE_ERR_EXISTS,
                         "agent '%s': the offered key already belongs to an "
                         "agent or a user",
                         name);
    }
    int n = 0;
    e = store_sql_exec(s, "drop boxes sealed to an old key",
                       "DELETE FROM var_seals WHERE agent = ?1",
                       ARGS(A_TEXT(name)), &n, err);
    if (e == HOIST_OK) {
        e = store_sql_change(s, "rekey agent",
                             "UPDATE agents SET old_key = pubkey, pubkey = ?1"
                             " WHERE name = ?2",
                             ARGS(A_TEXT(newkey), A_TEXT(name)), err,
                             "no agent '%s'", name);
    }
    *dropped = n;
    return e;
}

hoist_err_t
store_agent_rekey(store_t *s, const char *name, const char *newkey,
                  int64_t *dropped, hoist_error_t *err)
{
    hoist_err_t e = store_sql_check_key("agent", name, newkey, err);
    int64_t n = 0;
    if (e == HOIST_OK && (e = store_begin(s, err)) == HOIST_OK) {
        e = s_rekey(s, name, newkey, &n, err);
        e = e == HOIST_OK ? store_commit(s, err) : e;
        if (e != HOIST_OK) {
            store_rollback(s, NULL);
        }
    }
    if (e == HOIST_OK && dropped) {
        *dropped = n;
    }
    return e;
}

hoist_err_t
store_agent_clear_old_key(store_t *s, const char *name, hoist_error_t *err)
{
    return store_sql_change(s, "forget an old agent key",
                            "UPDATE agents SET old_key = '' WHERE name = ?1",
                            ARGS(A_TEXT(name)), err, "no agent '%s'", name);
}

hoist_err_t
store_agent_set_cloned(store_t *s, const char *name, bool cloned,
                       hoist_error_t *err)
{
    return store_sql_change(
        s, "set agent cloned", "UPDATE agents SET cloned = ?1 WHERE name = ?2",
        ARGS(A_INT(cloned), A_TEXT(name)), err, "no agent '%s'", name);
}

hoist_err_t
store_agent_reset_online(store_t *s, hoist_error_t *err)
{
    return store_sql_exec(s, "reset online", "UPDATE agents SET online = 0",
                          NO_ARGS, NULL, err);
}
