/*
 * test_lab: the multi-host lab (deploy/lab/lab.sh) end to end. A controller
 * and eight agents run in network namespaces of their own, enrolled over
 * the lab's network; production rolls one agent at a time and skips an
 * agent offline for 5 s. prod3's link is cut while the rollout is under
 * way, before its batch: the controller marks it offline, the deployment
 * ends with prod3 skipped and the others updated, and once the link is
 * back prod3 reconnects and the next deployment brings it the release.
 *
 * It needs root and a kernel that lets it create namespaces; elsewhere it
 * says it skipped. Every link it makes lives in the lab's namespaces, never
 * in the host's; the teardown takes the lab down whatever happened.
 */
#include "testutil.h"

#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "monotime.h"

#define LAB_SH      HOIST_SOURCE_DIR "/deploy/lab/lab.sh"
#define LAB_WAIT_MS 60000

/* The release's activate hook waits for GATE to exist, which holds the
 * rollout in its first batch until the test has cut prod3's link. */
#define GATED_SPEC                                                             \
    "hooks:\n"                                                                 \
    "  activate: while [ ! -e %s ]; do sleep 0.1; done; echo "                 \
    "\"$HOIST_VERSION\" > active\n"                                            \
    "health:\n"                                                                \
    "  command: test -f VERSION\n"                                             \
    "  retries: 3\n"                                                           \
    "  interval: 50ms\n"

static const char *const PIPELINE = "environments:\n"
                                    "  production:\n"
                                    "    strategy: {type: rolling, batch: 1}\n"
                                    "    offline: {wait: 5s, then: skip}\n";

typedef struct {
    char *dir;  /* the test's files */
    char *lab;  /* the lab's directory (HOIST_LAB) */
    char *gate; /* created to let the first batch finish */
    bool up;    /* lab.sh up ran: the teardown takes the lab down */
    char env_lab[PATH_MAX + 16];
    /* The environment of every lab.sh run: the lab, the programs under
     * test and a short heartbeat, so that a cut link is noticed in 750 ms
     * and the test stays short. */
    const char *env[6];
} lab_t;

/* True when this process may create a network namespace: root, iproute2,
 * and a kernel (or container) that allows it. One is made and deleted. */
static bool
s_namespaces_work(void)
{
    if (geteuid() != 0) {
        return false;
    }
    char cmd[128];
    snprintf(cmd, sizeof cmd,
             "PATH=/usr/sbin:/sbin:$PATH; ip netns add hoist-probe-%d && "
             "ip netns del hoist-probe-%d",
             (int)getpid(), (int)getpid());
    tu_run_t r = tu_run((const char *[]){"/bin/sh", "-c", cmd, NULL}, NULL);
    bool ok = r.status == 0;
    tu_run_free(&r);
    return ok;
}

/* Runs lab.sh with ARGS; asserts it exits 0 and returns its output
 * (malloc'd). */
static char *
s_lab(lab_t *l, const char *const *args)
{
    const char *argv[32] = {"/bin/sh", LAB_SH};
    size_t n = 2;
    for (size_t i = 0; args[i] && n < 31; i++) {
        argv[n++] = args[i];
    }
    argv[n] = NULL;
    tu_run_t r = tu_run(argv, l->env);
    if (r.status != 0) {
        print_error("lab.sh %s exited %d:\n%s\n", args[0], r.status, r.out);
    }
    assert_int_equal(r.status, 0);
    return r.out;
}

/* Runs the hoist CLI with --json in the controller's namespace; asserts
 * exit 0 and returns the parsed document (the caller's). */
static json_t *
s_hoist(lab_t *l, const char *const *args)
{
    const char *argv[32] = {"exec", "ctl", HOIST_CLI_BIN, "--json"};
    size_t n = 4;
    for (size_t i = 0; args[i] && n < 31; i++) {
        argv[n++] = args[i];
    }
    argv[n] = NULL;
    char *out = s_lab(l, argv);
    json_error_t jerr;
    json_t *j = json_loads(out, 0, &jerr);
    if (!j) {
        print_error("hoist %s: not JSON: %s\n", args[0], out);
    }
    assert_non_null(j);
    free(out);
    return j;
}

/* Whether agent NAME is online in `hoist agents`. */
static bool
s_online(lab_t *l, const char *name)
{
    json_t *j = s_hoist(l, (const char *[]){"agents", NULL});
    json_t *a;
    size_t i;
    bool online = false;
    json_array_foreach(json_object_get(j, "agents"), i, a)
    {
        if (strcmp(json_string_value(json_object_get(a, "name")), name) == 0) {
            online = json_is_true(json_object_get(a, "online"));
        }
    }
    json_decref(j);
    return online;
}

/* Waits until NAME's online state is WANT; asserts it gets there. */
static void
s_wait_online(lab_t *l, const char *name, bool want)
{
    uint64_t until = monotime_ms() + LAB_WAIT_MS;
    bool now = s_online(l, name);
    while (now != want && monotime_ms() < until) {
        usleep(100 * 1000);
        now = s_online(l, name);
    }
    if (now != want) {
        print_error("agent %s never went %s\n", name,
                    want ? "online" : "offline");
    }
    assert_true(now == want);
}

/* Deployment ID's JSON (deployment show; the caller's). */
static json_t *
s_deployment(lab_t *l, const char *id)
{
    return s_hoist(l, (const char *[]){"deployment", "show", id, NULL});
}

/* The state of AGENT's task in deployment JSON D, or "absent". */
static const char *
s_task(json_t *d, const char *agent)
{
    json_t *t;
    size_t i;
    json_array_foreach(json_object_get(d, "tasks"), i, t)
    {
        if (strcmp(json_string_value(json_object_get(t, "agent")), agent) ==
            0) {
            return json_string_value(json_object_get(t, "state"));
        }
    }
    return "absent";
}

/* Polls deployment ID until it leaves running; returns its JSON. */
static json_t *
s_wait_end(lab_t *l, const char *id)
{
    uint64_t until = monotime_ms() + LAB_WAIT_MS;
    json_t *d = s_deployment(l, id);
    while (strcmp(json_string_value(json_object_get(d, "state")), "running") ==
               0 &&
           monotime_ms() < until) {
        json_decref(d);
        usleep(200 * 1000);
        d = s_deployment(l, id);
    }
    return d;
}

/* The version HOST's agent runs ("" when none; malloc'd). */
static char *
s_live(lab_t *l, const char *host)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/agents/%s/apps/web/current/VERSION", l->lab,
             host);
    char *v = tu_read(path, NULL);
    return v ? v : strdup("");
}

/* Packs, signs and uploads web 1.0.0 with the gated spec. */
static void
s_release(lab_t *l)
{
    char path[PATH_MAX], spec[1024];
    snprintf(spec, sizeof spec, GATED_SPEC, l->gate);
    snprintf(path, sizeof path, "%s/src/hoist.yml", l->dir);
    tu_write(path, spec, (size_t)-1, 0644);
    snprintf(path, sizeof path, "%s/src/VERSION", l->dir);
    tu_write(path, "1.0.0", (size_t)-1, 0644);
    tu_sh("tar -C %s/src -czf %s/web-1.0.0.tar.gz .", l->dir, l->dir);
    char art[PATH_MAX], key[PATH_MAX];
    snprintf(art, sizeof art, "%s/web-1.0.0.tar.gz", l->dir);
    snprintf(key, sizeof key, "%s/release", l->lab);
    json_decref(s_hoist(l, (const char *[]){"release", "create", "web", "1.0.0",
                                            art, "--sign-key", key,
                                            "--sequence", "1", NULL}));
}

static int
s_setup(void **state)
{
    lab_t *l = calloc(1, sizeof *l);
    l->dir = tu_tmpdir();
    l->lab = tu_path(l->dir, "lab");
    l->gate = tu_path(l->dir, "go");
    snprintf(l->env_lab, sizeof l->env_lab, "HOIST_LAB=%s", l->lab);
    const char *env[] = {l->env_lab,
                         "HOIST_CONTROLLER_BIN=" HOIST_CONTROLLER_BIN,
                         "HOIST_AGENT_BIN=" HOIST_AGENT_BIN,
                         "HOIST_CLI_BIN=" HOIST_CLI_BIN,
                         "HOIST_LAB_HEARTBEAT=250",
                         NULL};
    memcpy(l->env, env, sizeof env);
    *state = l;
    return 0;
}

/* Takes the lab down (its processes, namespaces and links) whatever the
 * test did; HOIST_KEEP_TEST_DIRS=1 keeps the logs. */
static int
s_teardown(void **state)
{
    lab_t *l = *state;
    bool keep = getenv("HOIST_KEEP_TEST_DIRS") != NULL;
    if (l->up) {
        const char *argv[] = {"/bin/sh", LAB_SH, "down", keep ? "--keep" : NULL,
                              NULL};
        tu_run_t r = tu_run(argv, l->env);
        if (r.status != 0) {
            fprintf(stderr, "lab.sh down exited %d:\n%s\n", r.status, r.out);
        }
        tu_run_free(&r);
    }
    free(l->lab);
    free(l->gate);
    if (keep) {
        fprintf(stderr, "lab kept in %s\n", l->dir);
        free(l->dir);
    } else {
        tu_rmtree(l->dir);
    }
    free(l);
    return 0;
}

/* Brings the lab up and checks every agent came online over it. */
static void
s_up(lab_t *l)
{
    l->up = true;
    char *out = s_lab(l, (const char *[]){"up", NULL});
    assert_contains(out, l->lab);
    free(out);
    const char *hosts[] = {"dev1",  "dev2",  "qa1",   "stg1",
                           "prod1", "prod2", "prod3", "dr1"};
    for (size_t i = 0; i < sizeof hosts / sizeof *hosts; i++) {
        assert_true(s_online(l, hosts[i]));
    }
}

static void
test_cut_link_skips_then_converges(void **state)
{
    lab_t *l = *state;
    if (!s_namespaces_work()) {
        print_message("needs root and `ip netns add`: skipped\n");
        skip();
    }
    s_up(l);
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/pipeline.yml", l->dir);
    tu_write(path, PIPELINE, (size_t)-1, 0644);
    json_decref(s_hoist(l, (const char *[]){"apply", path, NULL}));
    s_release(l);

    json_t *j = s_hoist(l, (const char *[]){"deploy", "web", "1.0.0", "--env",
                                            "production", NULL});
    char id[32];
    snprintf(id, sizeof id, "%lld",
             (long long)json_integer_value(json_object_get(j, "deployment")));
    json_decref(j);

    /* Under way: prod1 (first by name) started; it waits at the gate. */
    uint64_t until = monotime_ms() + LAB_WAIT_MS;
    json_t *d = s_deployment(l, id);
    while (strcmp(s_task(d, "prod1"), "pending") == 0 &&
           monotime_ms() < until) {
        json_decref(d);
        usleep(100 * 1000);
        d = s_deployment(l, id);
    }
    assert_string_not_equal(s_task(d, "prod1"), "pending");
    json_decref(d);

    free(s_lab(l, (const char *[]){"cut", "prod3", NULL}));
    s_wait_online(l, "prod3", false);
    d = s_deployment(l, id);
    assert_string_equal(json_string_value(json_object_get(d, "state")),
                        "running");
    assert_string_equal(s_task(d, "prod3"), "pending");
    json_decref(d);

    /* The rollout goes on: prod3's batch finds it offline, waits 5 s and
     * skips it. */
    tu_write(l->gate, "", 0, 0644);
    d = s_wait_end(l, id);
    assert_string_equal(json_string_value(json_object_get(d, "state")),
                        "succeeded");
    assert_string_equal(s_task(d, "prod1"), "succeeded");
    assert_string_equal(s_task(d, "prod2"), "succeeded");
    assert_string_equal(s_task(d, "prod3"), "skipped");
    json_decref(d);
    char *live = s_live(l, "prod2");
    assert_string_equal(live, "1.0.0");
    free(live);
    live = s_live(l, "prod3");
    assert_string_equal(live, "");
    free(live);

    /* The link is back: prod3 reconnects, and the next deployment brings
     * it what production runs. */
    free(s_lab(l, (const char *[]){"restore", "prod3", NULL}));
    s_wait_online(l, "prod3", true);
    j = s_hoist(l, (const char *[]){"deploy", "web", "1.0.0", "--env",
                                    "production", NULL});
    snprintf(id, sizeof id, "%lld",
             (long long)json_integer_value(json_object_get(j, "deployment")));
    json_decref(j);
    d = s_wait_end(l, id);
    assert_string_equal(json_string_value(json_object_get(d, "state")),
                        "succeeded");
    assert_string_equal(s_task(d, "prod3"), "succeeded");
    json_decref(d);
    live = s_live(l, "prod3");
    assert_string_equal(live, "1.0.0");
    free(live);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_cut_link_skips_then_converges,
                                        s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
