/*
 * fakectl: a test double of the controller, and the lab around it, for
 * the tests that run a real `hoist-agent` (test_agent, test_drill_agent).
 * The double is written with the real libraries: a CURVE ROUTER made by
 * zap_server_socket and vetted by the real ZAP handler (controller/zap),
 * answering enroll, hello, heartbeat and fetch the way docs/protocol.md
 * says, serving artifacts from a directory by digest, and recording what
 * the agent sent so that the tests can assert on it. The lab holds the
 * temporary directory, the keys, the releases and the agent daemon.
 * Everything is on 127.0.0.1 with ephemeral ports.
 */
#ifndef HOIST_FAKECTL_H
#define HOIST_FAKECTL_H

#include "testutil.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <czmq.h>

#include "drill.h"
#include "envelope.h"
#include "manifest.h"
#include "zap.h"

#define FAKECTL_HB_MS       100   /* the double's heartbeat interval */
#define FAKECTL_WAIT_MS     15000 /* the longest wait for what must happen */
#define FAKECTL_TOKEN       "good-token" /* the one token it accepts */
#define FAKECTL_STEPS_MAX   64
#define FAKECTL_FETCH_MAX   512
#define FAKECTL_RESULTS_MAX 16

/* A Result the agent sent. */
typedef struct {
    uint64_t deployment;
    char outcome[32];
    char failed_step[32];
    char live[MANIFEST_VERSION_MAX + 1];
    char message[8192];
} fakectl_result_t;

/* A HookResult the agent sent, with its envelope's id. */
typedef struct {
    uint64_t id, drill;
    char app[64], hook[32], outcome[32], live[64];
    char message[DRILL_MESSAGE_MAX + 1];
    uint64_t hook_ms, health_ms;
} fakectl_hook_result_t;

/* The double. The lab fills zap, cert and store; the rest is its state
 * and what arrived, for the tests to read. */
typedef struct {
    zsock_t *router;
    zap_t *zap;    /* the lab's */
    zcert_t *cert; /* the lab's */
    char endpoint[64];
    const char *store; /* artifacts, named by hex digest */
    zframe_t *agent;   /* routing id of the agent's session */
    int64_t hb_at;
    bool hold; /* keep fetch requests unanswered */
    zmsg_t *held[FAKECTL_FETCH_MAX];
    size_t n_held;
    /* what arrived */
    int enrolls, hellos, heartbeats, refused;
    uint64_t last_seq;
    bool seq_ok; /* every heartbeat's seq above the one before */
    char enroll_uid[128], enroll_token[64], enroll_env[64], enroll_name[64];
    char enroll_tags[256], enroll_host[256];
    char hello_host[256], hello_os[256], hello_version[64];
    uint64_t hello_free;
    char hello_apps[512]; /* "app=current/previous;" */
    size_t fetches;
    uint64_t fetch_id[FAKECTL_FETCH_MAX], fetch_off[FAKECTL_FETCH_MAX];
    uint32_t fetch_len[FAKECTL_FETCH_MAX];
    char steps[FAKECTL_STEPS_MAX][32];
    uint64_t step_dep[FAKECTL_STEPS_MAX];
    size_t n_steps;
    fakectl_result_t results[FAKECTL_RESULTS_MAX];
    size_t n_results;
    fakectl_hook_result_t hooks[FAKECTL_RESULTS_MAX];
    size_t n_hooks;
} fakectl_t;

/* Binds a fresh ROUTER at ENDPOINT ("tcp://127.0.0.1:*" picks a port),
 * waiting for a port the previous listener still holds; fills
 * FC->endpoint. Fails the test when it cannot bind. */
void fakectl_start(fakectl_t *fc, const char *endpoint);

/* Closes the ROUTER and forgets the session and the held fetches: a
 * controller that died. Accepts a stopped FC. */
void fakectl_stop(fakectl_t *fc);

/* Sends E to the peer ROUTING (the agent's session: FC->agent). A send
 * that times out is dropped, as a real controller's would be. */
void fakectl_send(fakectl_t *fc, zframe_t *routing, envelope_t *e);

/* Serves (answers, records, sends heartbeats) for MS milliseconds; with
 * the ROUTER stopped, only lets the time pass. */
void fakectl_pump(fakectl_t *fc, int ms);

/* Answers the fetch requests held so far and stops holding. */
void fakectl_unhold(fakectl_t *fc);

/* ---- the lab ------------------------------------------------------------ */

typedef struct {
    char *tmp, *root, *mark, *store;
    char *server_pub; /* the controller's public key, a zcert file */
    char *log;        /* the agent daemon's output */
    char agent_name[64];
    zcert_t *server_cert;
    zap_t *zap;
    fakectl_t fc;
    pid_t pid; /* the agent daemon, 0 when none */
} fakectl_lab_t;

/* Pumps L's double until COND holds or FAKECTL_WAIT_MS passed; the caller
 * asserts COND afterwards. */
#define FAKECTL_PUMP_UNTIL(l, cond)                                            \
    do {                                                                       \
        int64_t until_ = zclock_mono() + FAKECTL_WAIT_MS;                      \
        while (!(cond) && zclock_mono() < until_) {                            \
            fakectl_pump(&(l)->fc, 10);                                        \
        }                                                                      \
    } while (0)

/* A lab in a fresh temporary directory: release keys rel (trusted by
 * enroll) and other (not), a server certificate, the double listening on
 * an ephemeral port; the agent will enroll as AGENT_NAME. Fails the test
 * on error; the caller owns the result (fakectl_lab_destroy). */
fakectl_lab_t *fakectl_lab_new(const char *agent_name);

/* Kills the agent daemon, stops the double, removes the directory and
 * frees *P; sets *P to NULL. Accepts NULL. With TEST_AGENT_LOG set in
 * the environment, prints the daemon's log first. */
void fakectl_lab_destroy(fakectl_lab_t **p);

/* cmocka setup and teardown around fakectl_lab_new and
 * fakectl_lab_destroy: the test's prestate is the agent's name (a
 * string), its state the lab. A table entry reads
 *   cmocka_unit_test_prestate_setup_teardown(test_x, fakectl_lab_setup,
 *                                            fakectl_lab_teardown, "web-01")
 */
int fakectl_lab_setup(void **state);
int fakectl_lab_teardown(void **state);

/* Starts ARGV with its output appended to LOG; returns its pid. */
pid_t fakectl_spawn(const char *log, const char *const *argv);

/* Waits up to MS for PID to exit, serving meanwhile; its exit code,
 * 128 + signal, or -1 when it is still running. */
int fakectl_lab_wait_exit(fakectl_lab_t *l, pid_t pid, int ms);

/* Runs hoist-agent enroll with KEY_FILE and TOKEN (NULL: none) and
 * EXTRA (NULL or one more argument), serving meanwhile; returns its exit
 * code, and its output in *OUT (malloc'd, the caller frees it). */
int fakectl_lab_enroll(fakectl_lab_t *l, const char *key_file,
                       const char *token, const char *extra, char **out);

/* Enrolls with the lab's key and FAKECTL_TOKEN; fails the test unless
 * enroll exits 0. */
void fakectl_lab_enroll_ok(fakectl_lab_t *l);

/* Starts `hoist-agent run` and waits for its hello; fails the test,
 * showing the daemon's log, without one. From here on the test must keep
 * pumping the double (no long work in between, such as building a
 * release): an agent that misses three heartbeats reconnects, and an
 * order sent to its old connection is lost. */
void fakectl_lab_start_agent(fakectl_lab_t *l);

/* Kills the agent daemon, if it runs, and waits for it. */
void fakectl_lab_kill_agent(fakectl_lab_t *l);

/* Packs web VERSION with SPEC (its @MARK@ replaced by the lab's mark
 * directory) and a VERSION file, plus BIG_KB of random bytes; signs it
 * with KEY ("rel" or "other") at SEQ for env dev; and puts the artifact
 * in the double's store. */
void fakectl_lab_release(fakectl_lab_t *l, const char *version, int seq,
                         const char *spec, const char *key, int big_kb);

/* Sends Deploy{DEPLOYMENT, web VERSION's manifest, ROLLBACK} to the
 * agent's session. */
void fakectl_lab_deploy(fakectl_lab_t *l, uint64_t deployment,
                        const char *version, bool rollback);

/* Deploys and waits for the result of DEPLOYMENT; returns it (owned by
 * the double). Fails the test, showing the daemon's log, without one. */
const fakectl_result_t *fakectl_lab_deploy_wait(fakectl_lab_t *l,
                                                uint64_t deployment,
                                                const char *version,
                                                bool rollback);

#endif
