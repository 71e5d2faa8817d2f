/*
 * store: the controller's state, in one SQLite database.
 *
 * Every state change is written here, and committed, before the controller
 * acts on it, so a controller killed at any moment restarts from what it
 * last committed: its rollouts, its agents, its tokens. This is the only
 * module that speaks SQL; the rest of the controller sees typed functions
 * per noun (agent, user, token, trusted release key, release, deployment,
 * task, audit entry, pipeline, approval, schedule) and plain row structs,
 * so that a PostgreSQL store can replace it without touching its callers.
 * This header is the whole interface; the code is one file per noun
 * (store_agent.c, store_audit.c, ...) over the shared machinery of
 * store_sql.h, with opening, migrations and transactions in store.c.
 *
 * The database runs in WAL mode with synchronous=FULL (a commit is on disk
 * when store_commit returns), foreign keys on and a busy timeout. Its schema
 * is versioned: store_open applies, each in its own transaction, the
 * migrations the file has not seen yet, and refuses a file written by a
 * newer Hoist. All values travel as bound parameters.
 *
 * Conventions: every function returns HOIST_OK or an error code and fills
 * ERR (which may be NULL) with a sentence naming what was wrong; output
 * arguments are written only on success. Times in rows are unix seconds
 * supplied by the caller, so the store never decides what "now" is. List
 * functions call FN once per row in the stated order and stop early, still
 * returning HOIST_OK, when FN returns non-zero; FN may read the store but must
 * not change the table being listed. Strings in row structs are NUL-terminated;
 * the store refuses (HOIST_ERR_LIMIT) any value longer than its field, so what
 * is written always reads back whole.
 */
#ifndef HOIST_STORE_H
#define HOIST_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "manifest.h"

/*
 * Codes this module returns besides the usual IO, BUSY, NOSPACE, NOMEM,
 * LIMIT, USAGE, KEY and STATE. A used and an expired enrollment token are
 * an authorization refusal and a timeout; their messages say which.
 */
#define STORE_ERR_NOTFOUND      HOIST_ERR_NOTFOUND /* no such row */
#define STORE_ERR_EXISTS        HOIST_ERR_EXISTS   /* name or key taken */
#define STORE_ERR_TOKEN_USED    HOIST_ERR_AUTH     /* token already consumed */
#define STORE_ERR_TOKEN_EXPIRED HOIST_ERR_TIMEOUT  /* token past its expiry */

/* Buffer sizes of row fields, terminating NUL included. */
#define STORE_NAME_SIZE     (MANIFEST_NAME_MAX + 1) /* app, env, agent, user */
#define STORE_VERSION_SIZE  (MANIFEST_VERSION_MAX + 1) /* release versions */
#define STORE_KEY_SIZE      41  /* CURVE public key, 40 Z85 characters */
#define STORE_KEYID_SIZE    17  /* release key id, 16 hex digits */
#define STORE_TRUSTKEY_SIZE 129 /* a release key's public line */
#define STORE_DIGEST_SIZE   DIGEST_HEX_LEN /* BLAKE2b-256, 64 hex digits */
#define STORE_ROLE_SIZE     33
#define STORE_TAGS_SIZE     1025 /* "k=v,k=v" */
#define STORE_HOST_SIZE     256
#define STORE_OS_SIZE       129
#define STORE_STEP_SIZE     33
#define STORE_TOKEN_HASH    32          /* bytes of BLAKE2b-256 */
#define STORE_MESSAGE_MAX   (64 * 1024) /* bytes of a task message kept */
#define STORE_MANIFEST_MAX  MANIFEST_MAX_BYTES
#define STORE_NOTES_MAX     (64 * 1024)
#define STORE_RESULT_SIZE   1024 /* an audit result, a halt reason, a note */

typedef struct store store_t;

/* --- opening and transactions ------------------------------------------ */

/* Opens the database at PATH, creating it if missing, and migrates it to
 * the newest schema this code knows. NULL on failure: IO when the file
 * cannot be opened, STATE when it is not a database, was written by a
 * newer Hoist or holds a row pointing at one that is not there (each
 * migration runs with foreign keys off, so that it may rebuild a table, and
 * checks them all before it commits; the file then stays at its schema),
 * BUSY when another process holds it locked past the timeout.
 * The result is the caller's; free it with store_close. */
store_t *store_open(const char *path, hoist_error_t *err);

/* Closes the database (rolling back an open transaction) and sets *P to
 * NULL. Accepts NULL and *P == NULL. */
void store_close(store_t **p);

/* The database's schema version after store_open. */
int store_schema_version(const store_t *s);

/* How many migrations store_open applied to this file (0 when the file
 * was already current). */
int store_migrations_applied(const store_t *s);

/* Starts a transaction that holds the write lock from its first statement,
 * so that a multi-step change is all or nothing. Transactions do not nest
 * (an assertion). */
hoist_err_t store_begin(store_t *s, hoist_error_t *err);

/* Commits the open transaction; it is on disk when this returns HOIST_OK.
 * On failure the transaction may still be open: call store_rollback. */
hoist_err_t store_commit(store_t *s, hoist_error_t *err);

/* Undoes the open transaction. Without one it does nothing and returns
 * HOIST_OK, so that cleanup paths may always call it. */
hoist_err_t store_rollback(store_t *s, hoist_error_t *err);

/* --- agents ------------------------------------------------------------- */

typedef enum {
    STORE_AGENT_PENDING = 0,
    STORE_AGENT_ACCEPTED,
    STORE_AGENT_REVOKED,
} store_agent_state_t;

/* What an agent reports about its machine. */
typedef struct {
    char hostname[STORE_HOST_SIZE];
    char os[STORE_OS_SIZE];
    char agent_version[STORE_VERSION_SIZE];
    uint64_t free_disk; /* bytes */
} store_facts_t;

typedef struct {
    char name[STORE_NAME_SIZE];
    char pubkey[STORE_KEY_SIZE]; /* CURVE public key, Z85 */
    char env[STORE_NAME_SIZE];
    store_agent_state_t state;
    char tags[STORE_TAGS_SIZE]; /* "k=v,k=v", "" for none */
    store_facts_t facts;
    int64_t last_seen; /* 0: never */
    bool online;
    bool cloned; /* its key was seen on two connections at once */
    int64_t created_at;
    char pinned_next[STORE_KEY_SIZE]; /* next controller key it pinned, "" */
    char old_key[STORE_KEY_SIZE]; /* before a rekey, until the new is seen */
} store_agent_t;

typedef int (*store_agent_fn)(const store_agent_t *row, void *arg);

/* "pending", "accepted", "revoked"; "unknown" out of range. */
const char *store_agent_state_name(store_agent_state_t state);

/* Adds agent A (name, pubkey, env, state, tags, created_at; the facts,
 * last_seen and flags start empty). STORE_ERR_EXISTS when the name or the
 * key is taken (by an agent or a user), KEY when the key is not 40 Z85
 * characters, USAGE when a field is empty or the state out of range. */
hoist_err_t store_agent_add(store_t *s, const store_agent_t *a,
                            hoist_error_t *err);

/* Reads the agent named NAME into *OUT; STORE_ERR_NOTFOUND if none. */
hoist_err_t store_agent_get(store_t *s, const char *name, store_agent_t *out,
                            hoist_error_t *err);

/* Reads the agent whose CURVE public key is PUBKEY into *OUT;
 * STORE_ERR_NOTFOUND if none. */
hoist_err_t store_agent_get_by_key(store_t *s, const char *pubkey,
                                   store_agent_t *out, hoist_error_t *err);

/* Calls FN for each agent of ENV (every agent when ENV is NULL or ""),
 * ordered by name. */
hoist_err_t store_agent_list(store_t *s, const char *env, store_agent_fn fn,
                             void *arg, hoist_error_t *err);

/* Sets the agent's state; STORE_ERR_NOTFOUND if there is no such agent. */
hoist_err_t store_agent_set_state(store_t *s, const char *name,
                                  store_agent_state_t state,
                                  hoist_error_t *err);

/* Replaces the agent's facts and sets last_seen to NOW. LIMIT when a fact
 * does not fit (facts come from the agent: check them before). */
hoist_err_t store_agent_set_facts(store_t *s, const char *name,
                                  const store_facts_t *facts, int64_t now,
                                  hoist_error_t *err);

/* Marks the agent online or offline. */
hoist_err_t store_agent_set_online(store_t *s, const char *name, bool online,
                                   hoist_error_t *err);

/* Records the next controller key the agent said it pinned (Z85, or ""
 * for none). KEY when it is neither. */
hoist_err_t store_agent_set_pinned_next(store_t *s, const char *name,
                                        const char *key, hoist_error_t *err);

/* Makes NEWKEY agent NAME's key and its current one its old_key (still
 * accepted until cleared), and drops the secret boxes sealed to the old
 * key (*DROPPED: how many), in one transaction. STORE_ERR_EXISTS when
 * NEWKEY is any other agent's or user's key (current or old), KEY when it
 * is not 40 Z85 characters, NOTFOUND for no such agent. The same NEWKEY
 * again changes nothing (*DROPPED 0). */
hoist_err_t store_agent_rekey(store_t *s, const char *name, const char *newkey,
                              int64_t *dropped, hoist_error_t *err);

/* Forgets agent NAME's old_key (it has said hello with its new one). */
hoist_err_t store_agent_clear_old_key(store_t *s, const char *name,
                                      hoist_error_t *err);

/* Sets or clears the agent's cloned-key flag. */
hoist_err_t store_agent_set_cloned(store_t *s, const char *name, bool cloned,
                                   hoist_error_t *err);

/* Marks every agent offline: what a controller does as it starts, since
 * the connections of its previous life are gone. */
hoist_err_t store_agent_reset_online(store_t *s, hoist_error_t *err);

/* --- users -------------------------------------------------------------- */

typedef struct {
    char name[STORE_NAME_SIZE];
    char role[STORE_ROLE_SIZE]; /* checked by rbac, not here */
    char pubkey[STORE_KEY_SIZE];
    char env[STORE_NAME_SIZE]; /* "" = every environment */
    int64_t created_at;
} store_user_t;

typedef int (*store_user_fn)(const store_user_t *row, void *arg);

/* Adds user U. STORE_ERR_EXISTS when the name or the key is taken (by a
 * user or an agent), KEY for a malformed key, USAGE for an empty field. */
hoist_err_t store_user_add(store_t *s, const store_user_t *u,
                           hoist_error_t *err);

/* Reads the user named NAME; STORE_ERR_NOTFOUND if none. */
hoist_err_t store_user_get(store_t *s, const char *name, store_user_t *out,
                           hoist_error_t *err);

/* Reads the user whose CURVE public key is PUBKEY; STORE_ERR_NOTFOUND if
 * none. */
hoist_err_t store_user_get_by_key(store_t *s, const char *pubkey,
                                  store_user_t *out, hoist_error_t *err);

/* Calls FN for every user, ordered by name. */
hoist_err_t store_user_list(store_t *s, store_user_fn fn, void *arg,
                            hoist_error_t *err);

/* Removes the user named NAME; STORE_ERR_NOTFOUND if none. */
hoist_err_t store_user_remove(store_t *s, const char *name, hoist_error_t *err);

/* Sets *N to the number of users with ROLE. */
hoist_err_t store_user_count_role(store_t *s, const char *role, int64_t *n,
                                  hoist_error_t *err);

/* --- enrollment tokens -------------------------------------------------- */

/* A token is kept only as its BLAKE2b-256 hash: the store never sees the
 * token itself. */
typedef struct {
    uint8_t hash[STORE_TOKEN_HASH];
    char env[STORE_NAME_SIZE];
    char created_by[STORE_NAME_SIZE];
    int64_t created_at;
    int64_t expires_at; /* valid while now < expires_at */
} store_token_t;

/* Records token T. USAGE when it would expire before it was created,
 * STORE_ERR_EXISTS when the hash is already known. */
hoist_err_t store_token_create(store_t *s, const store_token_t *t,
                               hoist_error_t *err);

/* Marks the token with HASH used at NOW, in one statement, if it is unused
 * and unexpired, and copies its environment to ENV_OUT. Otherwise
 * STORE_ERR_TOKEN_USED, STORE_ERR_TOKEN_EXPIRED, or STORE_ERR_NOTFOUND for
 * a hash never issued. Two concurrent consumers cannot both succeed. */
hoist_err_t store_token_consume(store_t *s,
                                const uint8_t hash[STORE_TOKEN_HASH],
                                int64_t now, char env_out[STORE_NAME_SIZE],
                                hoist_error_t *err);

/* --- trusted release keys ----------------------------------------------- */

typedef struct {
    char key_id[STORE_KEYID_SIZE];    /* 16 lowercase hex digits */
    char pubkey[STORE_TRUSTKEY_SIZE]; /* "hoist-ed25519-public ..." */
    int64_t added_at;
} store_trust_t;

typedef int (*store_trust_fn)(const store_trust_t *row, void *arg);

/* Trusts key K. STORE_ERR_EXISTS when its id is already trusted, USAGE for
 * a malformed id or an empty key line. */
hoist_err_t store_trust_add(store_t *s, const store_trust_t *k,
                            hoist_error_t *err);

/* Calls FN for every trusted key, oldest first. */
hoist_err_t store_trust_list(store_t *s, store_trust_fn fn, void *arg,
                             hoist_error_t *err);

/* Stops trusting KEY_ID. USAGE for a malformed id, STORE_ERR_NOTFOUND when
 * it is not trusted. */
hoist_err_t store_trust_remove(store_t *s, const char *key_id,
                               hoist_error_t *err);

/* --- releases ----------------------------------------------------------- */

/* About 130 KiB: allocate it rather than putting it on a small stack. */
typedef struct {
    char app[STORE_NAME_SIZE];
    char version[STORE_VERSION_SIZE];
    uint64_t sequence;
    char digest[STORE_DIGEST_SIZE]; /* artifact BLAKE2b-256, lowercase hex */
    uint64_t size;                  /* artifact bytes */
    uint8_t manifest[STORE_MANIFEST_MAX]; /* the SignedManifest bytes */
    size_t manifest_len;
    char notes[STORE_NOTES_MAX + 1];
    char lifecycle[STORE_NAME_SIZE]; /* chosen at creation; "" = default */
    int64_t created_at;
} store_release_t;

typedef int (*store_release_fn)(const store_release_t *row, void *arg);

/* Adds release R. STORE_ERR_EXISTS when APP VERSION is already there;
 * USAGE for an empty name, a digest that is not 64 hex digits or an empty
 * manifest; LIMIT when a value does not fit. */
hoist_err_t store_release_add(store_t *s, const store_release_t *r,
                              hoist_error_t *err);

/* Reads release APP VERSION; STORE_ERR_NOTFOUND if none. */
hoist_err_t store_release_get(store_t *s, const char *app, const char *version,
                              store_release_t *out, hoist_error_t *err);

/* Calls FN for each release of APP (every app when APP is NULL or ""),
 * newest first (created_at, then order of addition). */
hoist_err_t store_release_list(store_t *s, const char *app, store_release_fn fn,
                               void *arg, hoist_error_t *err);

/* --- deployments -------------------------------------------------------- */

typedef enum {
    STORE_KIND_DEPLOY = 0,
    STORE_KIND_ROLLBACK,
} store_deploy_kind_t;

typedef enum {
    STORE_DEPLOY_RUNNING = 0,
    STORE_DEPLOY_SUCCEEDED,
    STORE_DEPLOY_FAILED,
    STORE_DEPLOY_ROLLED_BACK,
    STORE_DEPLOY_CANCELLED, /* `hoist deployment cancel` */
} store_deploy_state_t;

#define STORE_STRATEGY_SIZE 256 /* a strategy override, strategy_parse's */

typedef struct {
    int64_t id; /* chosen by the store, never reused */
    char app[STORE_NAME_SIZE];
    char version[STORE_VERSION_SIZE];
    char env[STORE_NAME_SIZE];
    store_deploy_kind_t kind;
    store_deploy_state_t state;
    char created_by[STORE_NAME_SIZE];
    int64_t created_at;
    int64_t finished_at; /* 0 while running */
    /* The rollout (see planner.h): how, over which agents, and its flags,
     * all of which a restarted controller needs to resume the same plan. */
    char strategy[STORE_STRATEGY_SIZE]; /* an override; "" = the env's */
    char selector[STORE_TAGS_SIZE];     /* --only k=v,...; "" = all */
    int64_t started_ms;                 /* when the rollout began */
    bool halted;
    char halt_reason[STORE_RESULT_SIZE];
    int64_t continued_ms; /* `deployment continue`; 0 = not yet */
    bool cancelled;
    bool cancel_rollback; /* cancelled with --rollback */
} store_deployment_t;

typedef int (*store_deployment_fn)(const store_deployment_t *row, void *arg);

/* "deploy", "rollback"; "unknown" out of range. */
const char *store_deploy_kind_name(store_deploy_kind_t kind);

/* "running", "succeeded", "failed", "rolled_back", "cancelled"; "unknown"
 * out of range. */
const char *store_deploy_state_name(store_deploy_state_t state);

/* Records deployment D (its id is ignored; strategy, selector and
 * started_ms are kept, the flags start clear) and sets *ID to the new id.
 * STORE_ERR_NOTFOUND when the release APP VERSION does not exist. */
hoist_err_t store_deployment_create(store_t *s, const store_deployment_t *d,
                                    int64_t *id, hoist_error_t *err);

/* Reads deployment ID; STORE_ERR_NOTFOUND if none. */
hoist_err_t store_deployment_get(store_t *s, int64_t id,
                                 store_deployment_t *out, hoist_error_t *err);

/* Calls FN for each deployment of APP (all when APP is NULL or ""), newest
 * first (created_at, then id). */
hoist_err_t store_deployment_list(store_t *s, const char *app,
                                  store_deployment_fn fn, void *arg,
                                  hoist_error_t *err);

/* Calls FN for each deployment still running, oldest first: what a
 * restarted controller resumes. */
hoist_err_t store_deployment_list_running(store_t *s, store_deployment_fn fn,
                                          void *arg, hoist_error_t *err);

/* Writes the rollout flags of deployment D->id: halted, halt_reason,
 * continued_ms, cancelled, cancel_rollback. STORE_ERR_NOTFOUND if there
 * is no such deployment. */
hoist_err_t store_deployment_set_flags(store_t *s, const store_deployment_t *d,
                                       hoist_error_t *err);

/* Sets deployment ID's state; a final state sets finished_at to NOW,
 * running clears it. STORE_ERR_NOTFOUND if there is no such deployment. */
hoist_err_t store_deployment_set_state(store_t *s, int64_t id,
                                       store_deploy_state_t state, int64_t now,
                                       hoist_error_t *err);

/* --- tasks: one per (deployment, agent) --------------------------------- */

typedef enum {
    STORE_TASK_PENDING = 0,
    STORE_TASK_SENT,
    STORE_TASK_RUNNING,
    STORE_TASK_SUCCEEDED,
    STORE_TASK_FAILED,
    STORE_TASK_ROLLED_BACK,
    STORE_TASK_REJECTED,
    STORE_TASK_UNKNOWN,
    STORE_TASK_SKIPPED,       /* offline past the wait, policy skip */
    STORE_TASK_REVERTING,     /* the rollout ordered it back */
    STORE_TASK_REVERTED,      /* back on the release it had */
    STORE_TASK_REVERT_FAILED, /* going back failed or stalled */
} store_task_state_t;

/* About 64 KiB: allocate it rather than putting it on a small stack. */
typedef struct {
    int64_t deployment_id;
    char agent[STORE_NAME_SIZE];
    store_task_state_t state;
    char step[STORE_STEP_SIZE];            /* the agent's deploy step */
    char live_version[STORE_VERSION_SIZE]; /* what the agent runs now */
    char previous[STORE_VERSION_SIZE];     /* what it ran before; "" = none */
    int64_t started_ms;  /* the order went out; 0 = not started */
    int64_t progress_ms; /* its last report */
    int64_t finished_ms; /* it reached a final state */
    int64_t updated_at;
    char message[STORE_MESSAGE_MAX + 1]; /* result, hook output tail */
} store_task_t;

typedef int (*store_task_fn)(const store_task_t *row, void *arg);

/* "pending", "sent", "running", "succeeded", "failed", "rolled_back",
 * "rejected", "unknown", "skipped", "reverting", "reverted",
 * "revert_failed". */
const char *store_task_state_name(store_task_state_t state);

/* Copies the last STORE_MESSAGE_MAX bytes of the LEN bytes of MSG into
 * T->message, starting at a UTF-8 character boundary: the end of a hook's
 * output says why it failed. */
void store_task_set_message(store_task_t *t, const char *msg, size_t len);

/* Records task T (deployment_id, agent, state, step, message,
 * live_version, previous, started_ms, progress_ms, finished_ms,
 * updated_at). STORE_ERR_EXISTS when the deployment already
 * has a task for the agent, STORE_ERR_NOTFOUND when the deployment or the
 * agent does not exist. */
hoist_err_t store_task_create(store_t *s, const store_task_t *t,
                              hoist_error_t *err);

/* Reads the task of AGENT in deployment DEPLOYMENT_ID; STORE_ERR_NOTFOUND
 * if none. */
hoist_err_t store_task_get(store_t *s, int64_t deployment_id, const char *agent,
                           store_task_t *out, hoist_error_t *err);

/* Calls FN for each task of deployment DEPLOYMENT_ID, ordered by agent. */
hoist_err_t store_task_list(store_t *s, int64_t deployment_id, store_task_fn fn,
                            void *arg, hoist_error_t *err);

/* Writes state, step, message, live_version, previous, started_ms,
 * progress_ms, finished_ms and updated_at of the task (T->deployment_id,
 * T->agent); STORE_ERR_NOTFOUND if there is none. */
hoist_err_t store_task_update(store_t *s, const store_task_t *t,
                              hoist_error_t *err);

/* --- the audit log: append-only, hash-chained (see audit.h) ------------- */

#define STORE_ACTION_SIZE 64
#define STORE_TARGET_SIZE 512
#define STORE_DETAIL_SIZE 4096

typedef struct {
    int64_t id; /* 1, 2, 3, ... */
    int64_t time_ms;
    char user[STORE_NAME_SIZE];
    char action[STORE_ACTION_SIZE]; /* "promote" */
    char target[STORE_TARGET_SIZE]; /* "web 1.2.0 -> production" */
    char result[STORE_RESULT_SIZE]; /* "ok", "refused: ..." */
    int exit_code;
    char detail[STORE_DETAIL_SIZE]; /* JSON text or "" */
    uint8_t prev[32];               /* the previous row's hash */
    uint8_t hash[32];               /* audit_hash(prev, this row) */
} store_audit_t;

typedef int (*store_audit_fn)(const store_audit_t *row, void *arg);

/* Appends an entry with the next id, chained to the last row (audit_hash).
 * Values too long for their field are cut (at a UTF-8 boundary), never
 * refused: a request must not escape the log by being long; a NULL string
 * reads as "". Runs in its own transaction (BEGIN IMMEDIATE) unless one is
 * open, so that the id and prev it reads are still the last row's when it
 * inserts. OUT (may be NULL) gets the row. */
hoist_err_t store_audit_append(store_t *s, int64_t time_ms, const char *user,
                               const char *action, const char *target,
                               const char *result, int exit_code,
                               const char *detail, store_audit_t *out,
                               hoist_error_t *err);

/* Calls FN for each row with time_ms >= SINCE_MS, in id order (INT64_MIN
 * for every row: what a verify walks, with audit_walk_step per row). */
hoist_err_t store_audit_list(store_t *s, int64_t since_ms, store_audit_fn fn,
                             void *arg, hoist_error_t *err);

/* --- the pipeline file ------------------------------------------------- */

/* Records TEXT (the pipeline as `hoist export` prints it) as the current
 * one, applied by USER at NOW. Earlier versions are kept; the one recorded
 * last wins, whatever NOW says. USAGE for an empty TEXT or USER, LIMIT for
 * a USER that does not fit a name. */
hoist_err_t store_pipeline_set(store_t *s, const char *text, const char *user,
                               int64_t now, hoist_error_t *err);

/* Sets *TEXT (malloc'd, the caller's) to the current pipeline;
 * STORE_ERR_NOTFOUND when none was ever applied. */
hoist_err_t store_pipeline_get(store_t *s, char **text, hoist_error_t *err);

/* --- approvals ---------------------------------------------------------- */

#define STORE_COMMENT_SIZE 1024

typedef struct {
    char app[STORE_NAME_SIZE];
    char version[STORE_VERSION_SIZE];
    char env[STORE_NAME_SIZE]; /* the environment it is approved for */
    char user[STORE_NAME_SIZE];
    char role[STORE_ROLE_SIZE]; /* the approver's role when approving */
    char comment[STORE_COMMENT_SIZE];
    int64_t created_at;
} store_approval_t;

typedef int (*store_approval_fn)(const store_approval_t *row, void *arg);

/* Records approval A. STORE_ERR_EXISTS when A->user already approved that
 * release for that environment; STORE_ERR_NOTFOUND when the release does
 * not exist; USAGE when a field other than the comment is empty; LIMIT
 * when a value does not fit. */
hoist_err_t store_approval_add(store_t *s, const store_approval_t *a,
                               hoist_error_t *err);

/* Calls FN for each approval of APP VERSION (for ENV only, unless ENV is
 * NULL or ""), oldest first. */
hoist_err_t store_approval_list(store_t *s, const char *app,
                                const char *version, const char *env,
                                store_approval_fn fn, void *arg,
                                hoist_error_t *err);

/* --- scheduled promotions ---------------------------------------------- */

typedef enum {
    STORE_SCHEDULE_PENDING = 0,
    STORE_SCHEDULE_FIRED,     /* its gates passed; a deployment started */
    STORE_SCHEDULE_REFUSED,   /* its gates failed when it came due */
    STORE_SCHEDULE_CANCELLED, /* `hoist schedule cancel` */
} store_schedule_state_t;

typedef struct {
    int64_t id; /* chosen by the store */
    char app[STORE_NAME_SIZE];
    char version[STORE_VERSION_SIZE];
    char env[STORE_NAME_SIZE];
    int64_t at_ms;     /* when it is due, unix milliseconds */
    char at_text[128]; /* as the user wrote it, with its zone */
    store_schedule_state_t state;
    char created_by[STORE_NAME_SIZE];
    int64_t created_at;
    bool override_freeze;
    char reason[STORE_COMMENT_SIZE]; /* --reason of an override */
    char note[STORE_RESULT_SIZE];    /* why it ended: deployment id, gates */
    int64_t deployment_id;           /* 0 unless FIRED */
} store_schedule_t;

typedef int (*store_schedule_fn)(const store_schedule_t *row, void *arg);

/* "pending", "fired", "refused", "cancelled"; "unknown" out of range. */
const char *store_schedule_state_name(store_schedule_state_t state);

/* Records schedule SCH as pending (its id, state, note and deployment_id
 * are ignored: they belong to its end) and sets *ID. STORE_ERR_NOTFOUND
 * when the release does not exist; USAGE for an empty app, version,
 * environment or creator; LIMIT when a value does not fit. */
hoist_err_t store_schedule_add(store_t *s, const store_schedule_t *sch,
                               int64_t *id, hoist_error_t *err);

/* Reads schedule ID; STORE_ERR_NOTFOUND if none. */
hoist_err_t store_schedule_get(store_t *s, int64_t id, store_schedule_t *out,
                               hoist_error_t *err);

/* Calls FN for each schedule, by at_ms then id; only pending ones when
 * PENDING_ONLY. */
hoist_err_t store_schedule_list(store_t *s, bool pending_only,
                                store_schedule_fn fn, void *arg,
                                hoist_error_t *err);

/* Ends pending schedule ID in STATE (not PENDING) with NOTE (NULL reads
 * as "") and DEPLOYMENT_ID (0 for none), in one statement that matches
 * only a pending row. STORE_ERR_NOTFOUND if there is no such schedule or
 * no such deployment; HOIST_ERR_STATE when it is no longer pending (the
 * message says what it became); USAGE for STATE PENDING; LIMIT when NOTE
 * does not fit (the store's rule: refuse, never cut). */
hoist_err_t store_schedule_finish(store_t *s, int64_t id,
                                  store_schedule_state_t state,
                                  const char *note, int64_t deployment_id,
                                  hoist_error_t *err);

/* --- per-environment variables ----------------------------------------- */

/* A variable an app's hooks get in one environment (`hoist vars set`).
 * A plain variable's value is kept as it is. A secret is never kept in
 * clear: the caller seals it to each accepted agent of the environment
 * (seal.h) and the store keeps only those boxes, one per agent, so the
 * controller's disk holds nothing the controller could decrypt. An agent
 * accepted after a secret was set has no box for it until it is set
 * again. Setting a variable replaces it whole, boxes included. */

#define STORE_VAR_KEY_SIZE  65          /* [A-Z_][A-Z0-9_]{0,63} */
#define STORE_VAR_VALUE_MAX (64 * 1024) /* bytes of a value in clear */
#define STORE_VAR_BOX_MAX   (STORE_VAR_VALUE_MAX + 64) /* one sealed box */

/* About 64 KiB: allocate it rather than putting it on a small stack. */
typedef struct {
    char app[STORE_NAME_SIZE];
    char env[STORE_NAME_SIZE];
    char key[STORE_VAR_KEY_SIZE];
    bool secret;
    size_t size; /* bytes of the value in clear, a secret's too */
    /* A plain variable's value. For a secret: nothing in store_var_list,
     * the box sealed to the agent asked about in store_var_list_for. */
    uint8_t value[STORE_VAR_BOX_MAX];
    size_t value_len;
    char updated_by[STORE_NAME_SIZE];
    int64_t updated_at;
    /* A secret's keyed digest (controller_digest), to compare it with
     * another environment's without its value; has_digest false for a
     * plain variable and for a secret set before digests were kept. */
    bool has_digest;
    uint8_t digest[32];
} store_var_t;

/* A secret's box for one agent, as store_var_set takes it. */
typedef struct {
    const char *agent;
    const uint8_t *box;
    size_t len;
} store_var_seal_t;

typedef int (*store_var_fn)(const store_var_t *row, void *arg);

/* Sets variable V (app, env, key, secret, size, updated_by, updated_at,
 * and a plain variable's value), replacing the one of the same app, env
 * and key with its boxes, and stores the N boxes SEALS of a secret: all
 * or nothing, in its own transaction unless one is open. USAGE for an
 * empty app, env, key or updated_by, a secret given a value (its clear
 * value is never stored) or a plain variable given boxes; LIMIT for a
 * value or box too long; STORE_ERR_NOTFOUND when a box names an agent
 * that does not exist. */
hoist_err_t store_var_set(store_t *s, const store_var_t *v,
                          const store_var_seal_t *seals, size_t n,
                          hoist_error_t *err);

/* Removes APP's variable KEY in ENV and its boxes; STORE_ERR_NOTFOUND if
 * there is none. */
hoist_err_t store_var_unset(store_t *s, const char *app, const char *env,
                            const char *key, hoist_error_t *err);

/* Calls FN for each variable of APP in ENV (every environment when ENV is
 * NULL or ""), by environment then key. A secret comes without a value. */
hoist_err_t store_var_list(store_t *s, const char *app, const char *env,
                           store_var_fn fn, void *arg, hoist_error_t *err);

/* Calls FN for each variable of APP in ENV as agent AGENT receives it, by
 * key: a plain one with its value, a secret with the box sealed to AGENT
 * (value_len 0 when there is none: it was set before AGENT was
 * accepted). */
hoist_err_t store_var_list_for(store_t *s, const char *app, const char *env,
                               const char *agent, store_var_fn fn, void *arg,
                               hoist_error_t *err);

/* --- DR drills and failovers (issue 6) ----------------------------------- */

typedef enum {
    STORE_DRILL_SCHEDULED = 0, /* waits for at_ms */
    STORE_DRILL_RUNNING,
    STORE_DRILL_SUCCEEDED,
    STORE_DRILL_FAILED,    /* a step failed; the target was put back */
    STORE_DRILL_REFUSED,   /* not ready: nothing was run */
    STORE_DRILL_CANCELLED, /* a schedule cancelled */
} store_drill_state_t;

typedef struct {
    int64_t id; /* chosen by the store */
    char app[STORE_NAME_SIZE];
    char from[STORE_NAME_SIZE]; /* the serving side: production */
    char to[STORE_NAME_SIZE];   /* the side that takes over: dr */
    bool failover;              /* the real thing, not a drill */
    bool failback;              /* run failback at the end */
    bool sync;                  /* sync the release first if it differs */
    store_drill_state_t state;
    char created_by[STORE_NAME_SIZE];
    int64_t created_at;      /* unix s */
    int64_t at_ms;           /* when it is due (scheduled) */
    int64_t every_ms;        /* a recurring drill's period; 0 = once */
    int64_t started_ms;      /* 0 until it runs */
    int64_t healthy_ms;      /* the target answered healthy: recovery ends */
    int64_t finished_ms;     /* 0 until it ends */
    int64_t sync_deployment; /* the sync it waits for; 0 = none */
    char phase[STORE_STEP_SIZE];    /* readiness, sync, failover, failback */
    char reason[STORE_RESULT_SIZE]; /* why it failed or was refused */
} store_drill_t;

/* One step of a drill on one agent ("" for the drill as a whole). */
typedef struct {
    int64_t drill_id;
    int64_t seq;                /* chosen by the store: order of the timeline */
    char name[STORE_STEP_SIZE]; /* readiness, sync, failover, failback */
    char agent[STORE_NAME_SIZE];
    char state[STORE_STEP_SIZE]; /* running, ok, failed, skipped, warning */
    int64_t started_ms;
    int64_t finished_ms; /* 0 while running */
    char message[STORE_RESULT_SIZE];
} store_drill_step_t;

typedef int (*store_drill_fn)(const store_drill_t *row, void *arg);
typedef int (*store_drill_step_fn)(const store_drill_step_t *row, void *arg);

/* "scheduled", "running", "succeeded", "failed", "refused", "cancelled";
 * "unknown" out of range. */
const char *store_drill_state_name(store_drill_state_t state);

/* Records drill D (its id is ignored) and sets *ID; every other field is
 * kept as given, its state included. Whether the app has a release and
 * the environments exist is the caller's to check, not the store's.
 * HOIST_ERR_USAGE for an empty app, from, to or created_by, a state out
 * of range or a negative every_ms or sync_deployment; HOIST_ERR_LIMIT for
 * a field too long; STORE_ERR_NOTFOUND when sync_deployment names no
 * deployment. */
hoist_err_t store_drill_add(store_t *s, const store_drill_t *d, int64_t *id,
                            hoist_error_t *err);

/* Reads drill ID; STORE_ERR_NOTFOUND if none. */
hoist_err_t store_drill_get(store_t *s, int64_t id, store_drill_t *out,
                            hoist_error_t *err);

/* Writes every field of drill D->id but its id, app, from, to, created_by
 * and created_at. STORE_ERR_NOTFOUND if there is no such drill or
 * sync_deployment names no deployment; USAGE and LIMIT as for
 * store_drill_add. */
hoist_err_t store_drill_update(store_t *s, const store_drill_t *d,
                               hoist_error_t *err);

/* Calls FN for each drill: every drill, newest (highest id) first, when
 * STATE is -1; else only those in STATE (a store_drill_state_t), by at_ms
 * then id, the earliest due first. HOIST_ERR_USAGE for any other STATE. */
hoist_err_t store_drill_list(store_t *s, int state, store_drill_fn fn,
                             void *arg, hoist_error_t *err);

/* Appends step T (its seq is ignored) to drill T->drill_id and sets *SEQ,
 * which is higher than that of every step added before, to any drill.
 * STORE_ERR_NOTFOUND when the drill does not exist; USAGE for an empty
 * name or state; LIMIT for a field too long. */
hoist_err_t store_drill_step_add(store_t *s, const store_drill_step_t *t,
                                 int64_t *seq, hoist_error_t *err);

/* Writes state, finished_ms and message of step (T->drill_id, T->seq).
 * STORE_ERR_NOTFOUND if drill T->drill_id has no step T->seq; USAGE for an
 * empty state; LIMIT for a field too long. */
hoist_err_t store_drill_step_update(store_t *s, const store_drill_step_t *t,
                                    hoist_error_t *err);

/* Calls FN for each step of drill ID, in seq order; none (and HOIST_OK)
 * for a drill without steps or no drill at all. */
hoist_err_t store_drill_step_list(store_t *s, int64_t id,
                                  store_drill_step_fn fn, void *arg,
                                  hoist_error_t *err);

#endif
