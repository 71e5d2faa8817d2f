/*
 * fleetutil: a real Hoist fleet for multi-process tests: a hoist-controller
 * with its data directory, hoist-agent daemons enrolled with real tokens,
 * the real hoist CLI with the admin's config. Every process is started in
 * its own process group and killed by fu_teardown (or, when a setup failed
 * half way, by fu_kill_leftovers as the group teardown); every port is an
 * ephemeral one on 127.0.0.1.
 */
#include "fleetutil.h"

#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sodium.h>
#include <sys/socket.h>

#include "monotime.h"

const char *const FU_GOOD_SPEC =
    "hooks:\n"
    "  activate: echo \"$HOIST_VERSION\" > active\n"
    "health:\n"
    "  command: test -f VERSION\n"
    "  retries: 3\n"
    "  interval: 50ms\n";

const char *const FU_BAD_SPEC = "hooks:\n"
                                "  activate: echo starting\n"
                                "health:\n"
                                "  command: echo health-probe-failed; exit 1\n"
                                "  retries: 2\n"
                                "  interval: 50ms\n";

const char *
fu_me(void)
{
    struct passwd *pw = getpwuid(geteuid());
    assert_non_null(pw);
    return pw->pw_name;
}

/* Every process this file started, so that the group teardown can stop
 * them even when a setup failed half way (cmocka then skips teardown). */
static pid_t s_spawned[256];
static size_t s_nspawned;

/* Starts ARGV in the background with output to LOG. */
pid_t
fu_spawn(const char *const *argv, const char *log)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        dup2(fd, 1);
        dup2(fd, 2);
        setpgid(0, 0);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    if (s_nspawned < sizeof s_spawned / sizeof *s_spawned) {
        s_spawned[s_nspawned++] = pid;
    }
    return pid;
}

int
fu_kill_leftovers(void **state)
{
    (void)state;
    for (size_t i = 0; i < s_nspawned; i++) {
        if (s_spawned[i] > 0 && kill(s_spawned[i], SIGKILL) == 0) {
            waitpid(s_spawned[i], NULL, 0);
        }
    }
    return 0;
}

void
fu_stop(pid_t *pid, int sig)
{
    for (size_t i = 0; i < s_nspawned; i++) {
        if (s_spawned[i] == *pid) {
            s_spawned[i] = 0; /* reaped below: its pid may be reused */
        }
    }
    if (*pid > 0) {
        kill(*pid, sig);
        int st;
        waitpid(*pid, &st, 0);
        *pid = 0;
    }
}

/* Runs the hoist CLI with the admin's config; returns its result. */
tu_run_t
fu_hoist(fleet_t *f, const char *const *args)
{
    const char *argv[32] = {HOIST_CLI_BIN};
    size_t n = 1;
    for (size_t i = 0; args[i] && n < 31; i++) {
        argv[n++] = args[i];
    }
    argv[n] = NULL;
    char env[PATH_MAX + 16];
    snprintf(env, sizeof env, "HOIST_CONFIG=%s", f->conf);
    const char *envp[] = {env, NULL};
    return tu_run(argv, envp);
}

/* Like fu_hoist, asserting exit 0, and returns the parsed JSON of --json. */
json_t *
fu_hoist_json(fleet_t *f, const char *const *args)
{
    const char *argv[32] = {"--json"};
    size_t n = 1;
    for (size_t i = 0; args[i] && n < 31; i++) {
        argv[n++] = args[i];
    }
    argv[n] = NULL;
    tu_run_t r = fu_hoist(f, argv);
    if (r.status != 0) {
        print_error("hoist %s exited %d:\n%s\n", args[0], r.status, r.out);
    }
    assert_int_equal(r.status, 0);
    json_error_t jerr;
    json_t *j = json_loads(r.out, 0, &jerr);
    if (!j) {
        print_error("not JSON: %s\n", r.out);
    }
    assert_non_null(j);
    tu_run_free(&r);
    return j;
}

/* How many times NEEDLE occurs in the file at PATH (0 when missing). */
static int
s_count(const char *path, const char *needle)
{
    char *text = tu_read(path, NULL);
    int n = 0;
    for (const char *p = text; p && (p = strstr(p, needle)); p++) {
        n++;
    }
    free(text);
    return n;
}

void
fu_start_controller(fleet_t *f)
{
    char log[PATH_MAX + 32];
    snprintf(log, sizeof log, "%s/controller.log", f->dir);
    unlink(f->conf);
    /* A restart binds the ports of the first start: agents know them. */
    const char *argv[] = {HOIST_CONTROLLER_BIN,
                          "run",
                          "--data-dir",
                          f->data,
                          "--heartbeat",
                          "200",
                          f->bound_agents[0] ? "--agent-endpoint" : NULL,
                          f->bound_agents,
                          "--api-endpoint",
                          f->bound_api,
                          NULL};
    int before = s_count(log, "serving agents on ");
    f->controller = fu_spawn(argv, log);
    uint64_t until = monotime_ms() + WAIT_MS;
    while (!tu_exists(f->conf) && monotime_ms() < until) {
        usleep(20 * 1000);
    }
    assert_true(tu_exists(f->conf));
    /* "serving agents on E1 and the API on E2": this start's ports (its
     * line follows cli.conf by a moment; a restart's log holds two). */
    char *text = NULL;
    const char *at = NULL;
    for (;;) {
        int seen = 0;
        free(text);
        text = tu_read(log, NULL);
        for (const char *p = text; p && (p = strstr(p, "serving agents on "));
             p++) {
            at = p;
            seen++;
        }
        if (seen > before || monotime_ms() >= until) {
            break;
        }
        usleep(20 * 1000);
    }
    assert_non_null(at);
    assert_int_equal(sscanf(at, "serving agents on %255s and the API on %255s",
                            f->bound_agents, f->bound_api),
                     2);
    free(text);
}

/* True when TCP PORT on 127.0.0.1 can be bound now. */
static bool
s_port_free(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bool ok = fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
    if (fd >= 0) {
        close(fd);
    }
    return ok;
}

/* A random pair of free ports below the kernel's ephemeral range (32768
 * and up), so that no socket bound to port 0 elsewhere can take them
 * while the controller is down between a kill and its restart. */
static int
s_port_pair(void)
{
    for (int i = 0; i < 200; i++) {
        int p = 20000 + (int)(randombytes_uniform(6000) * 2);
        if (s_port_free(p) && s_port_free(p + 1)) {
            return p;
        }
    }
    fail_msg("no free pair of ports on 127.0.0.1 in 20000-32000");
    return -1;
}

int
fu_setup(void **state)
{
    fleet_t *f = calloc(1, sizeof *f);
    f->dir = tu_tmpdir();
    f->data = tu_path(f->dir, "controller");
    f->conf = tu_path(f->data, "cli.conf");
    f->mark = tu_path(f->dir, "mark");
    mkdir(f->mark, 0755);
    int port = s_port_pair();
    tu_sh("%s init --data-dir %s --agent-endpoint tcp://127.0.0.1:%d "
          "--api-endpoint tcp://127.0.0.1:%d >/dev/null",
          HOIST_CONTROLLER_BIN, f->data, port, port + 1);
    tu_sh("cd %s && %s keygen --out rel >/dev/null && %s keygen --out other "
          ">/dev/null",
          f->dir, HOIST_CLI_BIN, HOIST_CLI_BIN);
    fu_start_controller(f);
    char pub[PATH_MAX + 16];
    snprintf(pub, sizeof pub, "%s/rel.pub", f->dir);
    json_t *j = fu_hoist_json(f, (const char *[]){"trust", "add", pub, NULL});
    json_decref(j);
    *state = f;
    return 0;
}

int
fu_teardown(void **state)
{
    fleet_t *f = *state;
    for (int i = 0; i < f->n; i++) {
        fu_stop(&f->agent[i], SIGKILL);
        free(f->root[i]);
    }
    fu_stop(&f->controller, SIGKILL);
    free(f->data);
    free(f->conf);
    free(f->mark);
    /* HOIST_KEEP_TEST_DIRS=1 keeps the logs and state of every fleet. */
    if (getenv("HOIST_KEEP_TEST_DIRS")) {
        fprintf(stderr, "fleet kept in %s\n", f->dir);
        free(f->dir);
    } else {
        tu_rmtree(f->dir);
    }
    free(f);
    return 0;
}

/* A one-time token for ENV; fills F's endpoint and server key. */
char *
fu_token(fleet_t *f, const char *env)
{
    json_t *j = fu_hoist_json(
        f, (const char *[]){"token", "create", "--env", env, NULL});
    snprintf(f->endpoint, sizeof f->endpoint, "%s",
             json_string_value(json_object_get(j, "endpoint")));
    snprintf(f->server_key, sizeof f->server_key, "%s",
             json_string_value(json_object_get(j, "server_key")));
    char *token = strdup(json_string_value(json_object_get(j, "token")));
    json_decref(j);
    return token;
}

/* Enrolls agent NAME into ENV with TOKEN ("" for none); returns its
 * index. The enroll command's result is left in *OUT if not NULL. */
int
fu_enroll(fleet_t *f, const char *name, const char *env, const char *token,
          tu_run_t *out)
{
    assert_true(f->n < MAX_AGENTS);
    int i = f->n++;
    char root[PATH_MAX], key[PATH_MAX], pub[PATH_MAX];
    snprintf(root, sizeof root, "%s/agent-%s", f->dir, name);
    snprintf(key, sizeof key, "%s/controller.key", f->dir);
    snprintf(pub, sizeof pub, "%s/rel.pub", f->dir);
    f->root[i] = strdup(root);
    snprintf(f->name[i], sizeof f->name[i], "%s", name);
    if (!f->server_key[0]) {
        free(fu_token(f, env)); /* learns the endpoint and key */
    }
    tu_write(key, f->server_key, (size_t)-1, 0644);
    const char *argv[] = {HOIST_AGENT_BIN,
                          "enroll",
                          "--root",
                          root,
                          "--controller",
                          f->endpoint,
                          "--controller-key",
                          key,
                          "--env",
                          env,
                          "--trust",
                          pub,
                          "--name",
                          name,
                          "--user",
                          fu_me(),
                          token[0] ? "--token" : NULL,
                          token,
                          NULL};
    tu_run_t r = tu_run(argv, NULL);
    if (out) {
        *out = r;
    } else {
        if (r.status != 0) {
            print_error("enroll %s: %s\n", name, r.out);
        }
        assert_int_equal(r.status, 0);
        tu_run_free(&r);
    }
    return i;
}

void
fu_run_agent(fleet_t *f, int i)
{
    char log[PATH_MAX + 16];
    snprintf(log, sizeof log, "%s.log", f->root[i]);
    const char *argv[] = {HOIST_AGENT_BIN, "run",   "--root", f->root[i],
                          "--user",        fu_me(), NULL};
    f->agent[i] = fu_spawn(argv, log);
}

/* Enrolls with a fresh token and starts the daemon. */
int
fu_agent(fleet_t *f, const char *name, const char *env)
{
    char *token = fu_token(f, env);
    int i = fu_enroll(f, name, env, token, NULL);
    free(token);
    fu_run_agent(f, i);
    return i;
}

/* The agents entry of NAME in `hoist agents --json` (a new reference). */
json_t *
fu_agent_row(fleet_t *f, const char *name)
{
    json_t *j = fu_hoist_json(f, (const char *[]){"agents", "list", NULL});
    json_t *row = NULL, *a;
    size_t k;
    json_array_foreach(json_object_get(j, "agents"), k, a)
    {
        if (strcmp(json_string_value(json_object_get(a, "name")), name) == 0) {
            row = json_incref(a);
        }
    }
    json_decref(j);
    return row;
}

void
fu_wait_online(fleet_t *f, const char *name)
{
    uint64_t until = monotime_ms() + WAIT_MS;
    bool online = false;
    while (!online && monotime_ms() < until) {
        json_t *row = fu_agent_row(f, name);
        online = row && json_is_true(json_object_get(row, "online"));
        json_decref(row);
        if (!online) {
            usleep(50 * 1000);
        }
    }
    if (!online) {
        print_error("agent %s never came online\n", name);
    }
    assert_true(online);
}

/* Packs, signs and uploads web VERSION (sequence SEQ) with SPEC, with the
 * options EXTRA (NULL-terminated, may be NULL) added to release create. */
void
fu_release_with(fleet_t *f, const char *version, int seq, const char *spec,
                const char *const *extra)
{
    char src[PATH_MAX], path[PATH_MAX + 32], art[PATH_MAX], key[PATH_MAX];
    snprintf(src, sizeof src, "%s/src-%s", f->dir, version);
    snprintf(path, sizeof path, "%s/hoist.yml", src);
    tu_write(path, spec, (size_t)-1, 0644);
    snprintf(path, sizeof path, "%s/VERSION", src);
    tu_write(path, version, (size_t)-1, 0644);
    snprintf(art, sizeof art, "%s/web-%s.tar.gz", f->dir, version);
    snprintf(key, sizeof key, "%s/rel", f->dir);
    tu_sh("tar -C %s -czf %s .", src, art);
    char seqs[16];
    snprintf(seqs, sizeof seqs, "%d", seq);
    const char *args[24] = {"release",    "create", "web",        version, art,
                            "--sign-key", key,      "--sequence", seqs};
    size_t n = 9;
    for (size_t i = 0; extra && extra[i] && n < 23; i++) {
        args[n++] = extra[i];
    }
    args[n] = NULL;
    json_decref(fu_hoist_json(f, args));
}

void
fu_release(fleet_t *f, const char *version, int seq, const char *spec)
{
    fu_release_with(f, version, seq, spec, NULL);
}

/* Deploys web VERSION to ENV and waits; returns the deployment's JSON. */
json_t *
fu_deploy_wait(fleet_t *f, const char *version, const char *env, int want_exit)
{
    tu_run_t r = fu_hoist(f, (const char *[]){"deploy", "web", version, "--env",
                                              env, "--wait", NULL});
    if (r.status != want_exit) {
        print_error("deploy exited %d, not %d:\n%s\n", r.status, want_exit,
                    r.out);
    }
    assert_int_equal(r.status, want_exit);
    tu_run_free(&r);
    json_t *list = fu_hoist_json(f, (const char *[]){"deployments", NULL});
    json_t *newest = json_array_get(json_object_get(list, "deployments"), 0);
    char id[32];
    snprintf(id, sizeof id, "%lld",
             (long long)json_integer_value(json_object_get(newest, "id")));
    json_decref(list);
    return fu_hoist_json(f, (const char *[]){"deployment", "show", id, NULL});
}

/* Polls deployment ID until it leaves "running" (at most MS) and asserts
 * it ended in WANT. */
void
fu_assert_ends(fleet_t *f, const char *id, const char *want, uint64_t ms)
{
    uint64_t until = monotime_ms() + ms;
    char st[32] = "running";
    while (strcmp(st, "running") == 0 && monotime_ms() < until) {
        json_t *d =
            fu_hoist_json(f, (const char *[]){"deployment", "show", id, NULL});
        snprintf(st, sizeof st, "%s",
                 json_string_value(json_object_get(d, "state")));
        json_decref(d);
        if (strcmp(st, "running") == 0) {
            usleep(100 * 1000);
        }
    }
    assert_string_equal(st, want);
}

/* The version agent I runs: `current` of its app, checked complete. */
char *
fu_live(fleet_t *f, int i)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/apps/web/current/VERSION", f->root[i]);
    char *v = tu_read(path, NULL);
    return v ? v : strdup("");
}

const char *
fu_task_state(json_t *d, const char *agent)
{
    json_t *t;
    size_t k;
    json_array_foreach(json_object_get(d, "tasks"), k, t)
    {
        if (strcmp(json_string_value(json_object_get(t, "agent")), agent) ==
            0) {
            return json_string_value(json_object_get(t, "state"));
        }
    }
    return "absent";
}
