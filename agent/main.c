/*
 * hoist-agent: the agent's command line: the daemon, its enrollment, and
 * the air-gapped path.
 *
 *   hoist-agent enroll  --root DIR --controller ENDPOINT --controller-key FILE
 *                       --env ENV --trust PUB [--trust PUB]... [--token T]
 *                       [--name N] [--tag K=V]... [--user USER] [--force]
 *                       [--timeout DUR]
 *   hoist-agent run     [-n] [--config FILE] [--root DIR] [--user USER]
 *                       [--keep N] [--log-level LEVEL]
 *   hoist-agent install --root DIR --env ENV --trust PUB [--trust PUB]...
 *                       --manifest FILE --artifact FILE
 *                       [--app APP] [--user USER] [--keep N]
 *   hoist-agent recover --root DIR [--user USER]
 *   hoist-agent status  --root DIR
 *   hoist-agent rekey   --root DIR [--timeout DUR]
 *
 * `run` reads /etc/hoist/agent.yml (or --config FILE; see conf.h) and
 * takes every flag it has over the file; --root defaults to
 * /var/lib/hoist. With -n it checks the configuration and the root's
 * enrollment, says what it found, and exits 0 (fine) or 2. SIGHUP reloads
 * the file on the agent's loop: the log level, the hook user and keep take
 * effect for what starts next; a changed root is logged as waiting for a
 * restart.
 *
 * `rekey` replaces the agent's key without enrolling it again and makes a
 * running daemon reconnect with it (newkey.h); SIGHUP makes the daemon
 * read its key again.
 *
 * Exit codes: 0 done, 1 failed (rolled back or abandoned; no answer from
 * the controller), 2 rejected or bad input, 3 refused by the controller.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <pwd.h>
#include <sys/file.h>
#include <unistd.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "conf.h"
#include "daemon.h"
#include "duration.h"
#include "enroll.h"
#include "install.h"
#include "keys.h"
#include "log.h"
#include "manifest.h"
#include "newkey.h"
#include "lockfile.h"

#define TRUST_MAX AGENT_TRUST_MAX

typedef struct {
    install_opts_t o;
    keys_public_t trusted[TRUST_MAX];
    const char *trust_files[TRUST_MAX];
    const char *manifest;
    const char *artifact;
    /* enroll */
    const char *controller;
    const char *controller_key;
    const char *token;
    const char *name;
    conf_tag_t tags[CONF_TAGS_MAX];
    size_t n_tags;
    bool force;
    uint64_t timeout_ms;
    /* run */
    const char *config; /* --config; NULL: CONF_SETTINGS_FILE if present */
    bool check_only;    /* -n */
    bool has_log_level; /* --log-level given */
    log_level_t log_level;
    bool has_keep;                 /* --keep given */
    conf_settings_t settings;      /* the file as read at start; in use */
    conf_settings_t reloaded;      /* as last read by a reload */
    const char *flag_user;         /* --user, or NULL */
    size_t flag_keep;              /* --keep, or the default */
    const conf_t *conf;            /* the root's agent.conf */
    agent_t *agent;                /* while it serves, for reloads */
    char user[LOGIN_NAME_MAX + 1]; /* the hook user after a reload */
} args_t;

typedef struct {
    const char *name;
    int (*fn)(args_t *a);
    const char *usage;
} command_t;

static int __attribute__((format(printf, 2, 3)))
s_usage_error(const char *usage, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "hoist-agent: ");
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nusage: hoist-agent %s\n", usage);
    return 2;
}

static int
s_fail(hoist_error_t *err)
{
    log_error("%s", err->msg);
    return error_exit_code(err->code);
}

static int
s_cmd_install(args_t *a)
{
    install_report_t rep;
    hoist_error_t err = {0};
    hoist_err_t rc =
        install_release(&a->o, a->manifest, a->artifact, &rep, &err);
    if (rc != HOIST_OK) {
        log_error("%s", err.msg);
        if (rep.output[0]) {
            fprintf(stderr, "--- end of the %s hook's output ---\n%s\n",
                    rep.failed_step[0] ? rep.failed_step : "failing",
                    rep.output);
        }
        return install_exit_code(rc, &rep);
    }
    if (rep.outcome == INSTALL_ALREADY) {
        printf("%s %s is already live\n", rep.app, rep.version);
    } else {
        printf("%s %s installed and healthy\n", rep.app, rep.version);
    }
    return 0;
}

static int
s_cmd_recover(args_t *a)
{
    hoist_error_t err = {0};
    int n = 0;
    if (install_recover(&a->o, &n, &err) != HOIST_OK) {
        return s_fail(&err);
    }
    printf("recovered %d interrupted install%s\n", n, n == 1 ? "" : "s");
    return 0;
}

static int
s_cmd_rekey(args_t *a)
{
    newkey_result_t res;
    hoist_error_t err = {0};
    if (newkey_run(a->o.root, a->timeout_ms, &res, &err) != HOIST_OK) {
        log_error("%s; the agent's key is unchanged", err.msg);
        return error_exit_code(err.code);
    }
    printf("%s this agent's key: %.8s... -> %.8s...\n",
           res.resumed ? "finished replacing" : "replaced", res.old_key,
           res.new_key);
    if (res.boxes_dropped) {
        printf("%u secret%s sealed to the old key %s dropped: set %s again "
               "(hoist vars set --secret) before the next deploy\n",
               res.boxes_dropped, res.boxes_dropped == 1 ? "" : "s",
               res.boxes_dropped == 1 ? "was" : "were",
               res.boxes_dropped == 1 ? "it" : "them");
    }
    if (res.daemon) {
        printf("told the running agent (pid %ld) to reconnect with it\n",
               (long)res.daemon);
    } else {
        printf("no agent runs on %s now; it uses the new key when it "
               "starts\n",
               a->o.root);
    }
    return 0;
}

static int
s_cmd_status(args_t *a)
{
    hoist_error_t err = {0};
    if (install_status(a->o.root, stdout, &err) != HOIST_OK) {
        return s_fail(&err);
    }
    return 0;
}

/* The packaged service runs `hoist-agent run --root` this root. */
#define SERVICE_ROOT "/var/lib/hoist"
#define SERVICE_UNIT "/lib/systemd/system/hoist-agent.service"

/* After an enrollment into the packaged service's root, as root, on a
 * machine booted with systemd and with the package's unit installed:
 * enables and starts the service, so that one command is all an operator
 * runs. Anywhere else it says how to start the daemon. */
static void
s_start_service(const char *root)
{
    struct stat st;
    bool service = geteuid() == 0 && strcmp(root, SERVICE_ROOT) == 0 &&
                   stat(SERVICE_UNIT, &st) == 0 &&
                   stat("/run/systemd/system", &st) == 0;
    if (!service) {
        printf("start the agent with: hoist-agent run --root %s\n", root);
        return;
    }
    pid_t pid = fork();
    if (pid == 0) {
        execl("/bin/systemctl", "systemctl", "enable", "--now",
              "hoist-agent.service", (char *)NULL);
        _exit(127);
    }
    int status = 0;
    if (pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
        WEXITSTATUS(status) == 0) {
        printf("started hoist-agent.service (systemctl status hoist-agent)\n");
    } else {
        printf("could not start hoist-agent.service: run `systemctl enable "
               "--now hoist-agent`\n");
    }
}

static int
s_cmd_enroll(args_t *a)
{
    enroll_opts_t eo = {.root = a->o.root,
                        .controller = a->controller,
                        .controller_key = a->controller_key,
                        .token = a->token,
                        .env = a->o.env,
                        .name = a->name,
                        .user = a->o.hook_user,
                        .trust = a->trust_files,
                        .n_trust = a->o.n_trusted,
                        .tags = a->tags,
                        .n_tags = a->n_tags,
                        .force = a->force,
                        .timeout_ms = a->timeout_ms};
    enroll_result_t res;
    hoist_error_t err = {0};
    if (enroll_run(&eo, &res, &err) != HOIST_OK) {
        return s_fail(&err);
    }
    if (res.accepted) {
        printf("accepted into %s as %s\n", res.env, res.name);
    } else {
        printf("waiting as pending: ask an operator to run `hoist agents "
               "accept %s`\n",
               res.name);
    }
    s_start_service(a->o.root);
    return 0;
}

/* Holds ROOT/.run.lock for the daemon's life: two daemons on one root
 * would be one key connected twice, which the controller flags as a
 * cloned machine. Returns the fd or -1 with ERR set. */
static int
s_run_lock(const char *root, hoist_error_t *err)
{
    char path[PATH_MAX], busy[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/.run.lock", root);
    snprintf(busy, sizeof busy, "another hoist-agent run serves %s already",
             root);
    int fd = lockfile_take(path, busy, err);
    if (fd >= 0) {
        newkey_note_pid(fd);
    }
    return fd;
}

/* The settings in force: a flag, else the file, else the default. */
static void
s_merge(args_t *a, const args_t *flags, const conf_settings_t *file)
{
    a->o.root = flags->o.root   ? flags->o.root
                : file->root[0] ? file->root
                                : CONF_DEFAULT_ROOT;
    a->o.hook_user = flags->o.hook_user ? flags->o.hook_user
                     : file->user[0]    ? file->user
                                        : NULL;
    a->o.keep = flags->has_keep ? flags->o.keep
                : file->keep    ? file->keep
                                : flags->o.keep; /* the default */
    a->log_level = flags->has_log_level  ? flags->log_level
                   : file->has_log_level ? file->log_level
                                         : LOG_LEVEL_INFO;
}

/* Reads the config file named by --config (which must exist) or the
 * default one (which may not) into *OUT. */
static hoist_err_t
s_read_settings(const args_t *a, conf_settings_t *out, hoist_error_t *err)
{
    const char *path = a->config ? a->config : CONF_SETTINGS_FILE;
    return conf_settings_load(path, a->config != NULL, out, err);
}

/* The hook user a reload puts in force: the flag, else the file, else
 * agent.conf's (enrollment's) user; NULL when none names one. */
static const char *
s_reload_user(const args_t *a, const conf_settings_t *file)
{
    return a->flag_user       ? a->flag_user
           : file->user[0]    ? file->user
           : a->conf->user[0] ? a->conf->user
                              : NULL;
}

/* Reads the agent's key again: `hoist-agent rekey` replaced it. */
static void
s_reload_cert(args_t *a)
{
    hoist_error_t err = {0};
    zcert_t *fresh = agent_cert_load(a->o.root, &err);
    if (!fresh) {
        log_error("cannot read this agent's key, keeping the one in use: %s",
                  err.msg);
        return;
    }
    if (streq(zcert_public_txt(fresh),
              zcert_public_txt(agent_cert(a->agent)))) {
        zcert_destroy(&fresh);
        return;
    }
    agent_set_cert(a->agent, fresh);
}

/* daemon_reload_fn, on the agent's loop: reads the key and the file again and
 * puts the log level, the hook user and keep in force for what starts next (an
 * install or hook already running keeps what it started with). A changed root
 * waits for a restart. A file that does not read, or names a user this machine
 * does not have, keeps everything as it was. */
static void
s_reload(void *arg)
{
    args_t *a = arg;
    hoist_error_t err = {0};
    conf_settings_t fresh;
    s_reload_cert(a);
    if (s_read_settings(a, &fresh, &err) != HOIST_OK) {
        log_error("reload failed, keeping the running configuration: %s",
                  err.msg);
        return;
    }
    const char *user = s_reload_user(a, &fresh);
    if ((user && !getpwnam(user)) || (!user && geteuid() == 0)) {
        log_error("reload failed, keeping the running configuration: %s",
                  user ? "no such user for user:"
                       : "running as root "
                         "needs a user: for hooks");
        return;
    }
    const char *was_user = a->o.hook_user ? a->o.hook_user : "";
    if (strcmp(was_user, user ? user : "") != 0) {
        if (agent_set_hook_user(a->agent, user, &err) != HOIST_OK) {
            log_error("reload failed, keeping the running configuration: %s",
                      err.msg);
            return;
        }
        log_warn("user: '%s' -> '%s' (for the next install or hook)", was_user,
                 user ? user : "");
        snprintf(a->user, sizeof a->user, "%s", user ? user : "");
        a->o.hook_user = user ? a->user : NULL;
    }
    size_t keep = a->has_keep  ? a->flag_keep
                  : fresh.keep ? fresh.keep
                               : a->flag_keep;
    if (keep != a->o.keep) {
        log_warn("keep: %zu -> %zu (from the next install)", a->o.keep, keep);
        agent_set_keep(a->agent, keep);
        a->o.keep = keep;
    }
    log_level_t level = a->has_log_level      ? a->log_level
                        : fresh.has_log_level ? fresh.log_level
                                              : LOG_LEVEL_INFO;
    if (level != log_level()) {
        log_warn("log_level: %s -> %s", log_level_name(log_level()),
                 log_level_name(level));
        log_set_level(level);
    }
    if (strcmp(a->reloaded.root, fresh.root) != 0) {
        log_warn("root changed in the configuration: it takes effect when "
                 "hoist-agent restarts");
    }
    a->reloaded = fresh;
    log_info("configuration reloaded");
}

/* The daemon, once its root's files are loaded and checked. */
static int
s_serve(args_t *a, const conf_t *conf, zcert_t *cert, size_t n_trusted,
        daemon_t *d)
{
    hoist_error_t err = {0};
    int n = 0;
    a->o.trusted = a->trusted;
    a->o.n_trusted = n_trusted;
    if (install_recover(&a->o, &n, &err) != HOIST_OK) {
        return s_fail(&err);
    }
    if (n > 0) {
        log_info("recovered %d interrupted install%s", n, n == 1 ? "" : "s");
    }
    agent_opts_t ao = {.root = a->o.root,
                       .conf = conf,
                       .cert = cert,
                       .trusted = a->trusted,
                       .n_trusted = n_trusted,
                       .hook_user = a->o.hook_user,
                       .keep = a->o.keep};
    agent_t *agent = agent_new(&ao, &err);
    a->agent = agent;
    hoist_err_t rc = HOIST_ERR_IO;
    if (agent &&
        daemon_attach(d, agent_loop(agent), s_reload, a, &err) == HOIST_OK) {
        /* The loop starts at once inside agent_run and connects on its
         * own schedule: being ready means serving, not being online. */
        daemon_notify(d, "READY=1");
        rc = agent_run(agent, &err);
        daemon_notify(d, "STOPPING=1");
    } else if (!agent) {
        rc = err.code;
    }
    agent_destroy(&agent);
    a->agent = NULL;
    return rc == HOIST_OK ? 0 : s_fail(&err);
}

static int s_check_user(const args_t *a, const command_t *cmd);

#define RUN_USAGE                                                              \
    "run [-n] [--config FILE] [--root DIR] [--user USER] [--keep N] "          \
    "[--log-level LEVEL]"

/* Loads and checks everything run needs: the settings, the root's
 * agent.conf, trust and key. Returns 0 (with *CERT owned by the caller)
 * or an exit code, having said why. */
static int
s_prepare(args_t *a, conf_t *conf, size_t *n_trusted, zcert_t **cert)
{
    hoist_error_t err = {0};
    static args_t flags;
    flags = *a;
    if (s_read_settings(a, &a->settings, &err) != HOIST_OK) {
        log_error("%s", err.msg);
        return 2;
    }
    a->reloaded = a->settings;
    a->flag_user = flags.o.hook_user;
    a->flag_keep = flags.o.keep;
    a->conf = conf;
    s_merge(a, &flags, &a->settings);
    log_set_level(a->log_level);
    if (conf_load(a->o.root, conf, &err) != HOIST_OK) {
        return s_fail(&err);
    }
    if (!a->o.hook_user && conf->user[0]) {
        a->o.hook_user = conf->user;
    }
    const command_t run = {"run", NULL, RUN_USAGE};
    int rc = s_check_user(a, &run);
    if (rc != 0) {
        return rc;
    }
    if (agent_trust_load(a->o.root, a->trusted, TRUST_MAX, n_trusted, &err) !=
        HOIST_OK) {
        return s_fail(&err);
    }
    *cert = agent_cert_load(a->o.root, &err);
    return *cert ? 0 : s_fail(&err);
}

/* run -n: everything run would load, checked, and a line saying so. */
static int
s_check(args_t *a)
{
    static conf_t conf;
    size_t n_trusted = 0;
    zcert_t *cert = NULL;
    int rc = s_prepare(a, &conf, &n_trusted, &cert);
    zcert_destroy(&cert);
    if (rc != 0) {
        fprintf(stderr, "hoist-agent: configuration check failed\n");
        return 2;
    }
    printf("configuration ok: root %s, agent %s in %s, controller %s, "
           "hooks run as %s, %zu trusted release key%s, log level %s\n",
           a->o.root, conf.name, conf.env, conf.controller,
           a->o.hook_user ? a->o.hook_user : "the agent's user", n_trusted,
           n_trusted == 1 ? "" : "s", log_level_name(a->log_level));
    return 0;
}

static int
s_cmd_run(args_t *a)
{
    static conf_t conf;
    hoist_error_t err = {0};
    if (a->check_only) {
        return s_check(a);
    }
    /* Before any thread exists: they all inherit SIGHUP blocked. */
    daemon_t *d = daemon_new(&err);
    if (!d) {
        return s_fail(&err);
    }
    log_set_journal(daemon_journal_stream());
    size_t n_trusted = 0;
    zcert_t *cert = NULL;
    int rc = s_prepare(a, &conf, &n_trusted, &cert);
    int lock = rc == 0 ? s_run_lock(a->o.root, &err) : -1;
    if (rc == 0) {
        rc = lock >= 0 ? s_serve(a, &conf, cert, n_trusted, d) : s_fail(&err);
    }
    zcert_destroy(&cert);
    if (lock >= 0) {
        close(lock);
    }
    daemon_destroy(&d);
    return rc;
}

static const command_t s_commands[] = {
    {"enroll", s_cmd_enroll,
     "enroll --root DIR --controller ENDPOINT --controller-key FILE --env ENV "
     "--trust PUB... [--token TOKEN] [--name NAME] [--tag K=V]... "
     "[--user USER] [--force] [--timeout DUR]"},
    {"run", s_cmd_run, RUN_USAGE},
    {"install", s_cmd_install,
     "install --root DIR --env ENV --trust PUB... --manifest FILE "
     "--artifact FILE [--app APP] [--user USER] [--keep N]"},
    {"recover", s_cmd_recover, "recover --root DIR [--user USER]"},
    {"status", s_cmd_status, "status --root DIR"},
    {"rekey", s_cmd_rekey, "rekey --root DIR [--timeout DUR]"},
};

static const struct option s_options[] = {
    {"root", required_argument, NULL, 'r'},
    {"env", required_argument, NULL, 'e'},
    {"trust", required_argument, NULL, 't'},
    {"manifest", required_argument, NULL, 'm'},
    {"artifact", required_argument, NULL, 'a'},
    {"app", required_argument, NULL, 'A'},
    {"user", required_argument, NULL, 'u'},
    {"keep", required_argument, NULL, 'k'},
    {"controller", required_argument, NULL, 'c'},
    {"controller-key", required_argument, NULL, 'K'},
    {"token", required_argument, NULL, 'T'},
    {"name", required_argument, NULL, 'N'},
    {"tag", required_argument, NULL, 'g'},
    {"force", no_argument, NULL, 'f'},
    {"timeout", required_argument, NULL, 'w'},
    {"config", required_argument, NULL, 'C'},
    {"log-level", required_argument, NULL, 'L'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* Applies one parsed option of enroll; returns 0 or an exit code. */
static int
s_enroll_option(args_t *a, int c, const char *usage)
{
    hoist_error_t err = {0};
    switch (c) {
    case 'c':
        a->controller = optarg;
        return 0;
    case 'K':
        a->controller_key = optarg;
        return 0;
    case 'T':
        a->token = optarg;
        return 0;
    case 'N':
        a->name = optarg;
        return 0;
    case 'f':
        a->force = true;
        return 0;
    case 'g':
        if (a->n_tags == CONF_TAGS_MAX) {
            return s_usage_error(usage, "at most %d --tag", CONF_TAGS_MAX);
        }
        if (conf_tag_parse(optarg, &a->tags[a->n_tags], &err) != HOIST_OK) {
            return s_usage_error(usage, "%s", err.msg);
        }
        a->n_tags++;
        return 0;
    case 'C':
        a->config = optarg;
        return 0;
    case 'n':
        a->check_only = true;
        return 0;
    case 'L':
        if (!log_level_parse(optarg, &a->log_level)) {
            return s_usage_error(usage,
                                 "--log-level takes debug, info, warn or "
                                 "error, not '%s'",
                                 optarg);
        }
        a->has_log_level = true;
        return 0;
    case 'w':
        if (duration_parse(optarg, &a->timeout_ms, &err) != HOIST_OK ||
            a->timeout_ms == 0) {
            return s_usage_error(usage,
                                 "--timeout takes a duration like 10s, "
                                 "not '%s'",
                                 optarg);
        }
        return 0;
    default:
        return s_usage_error(usage, "unknown option");
    }
}

/* Applies one parsed option; returns 0 or an exit code. */
static int
s_option(args_t *a, int c, const char *usage)
{
    hoist_error_t err = {0};
    char *end = NULL;
    switch (c) {
    case 'r':
        a->o.root = optarg;
        return 0;
    case 'e':
        a->o.env = optarg;
        return 0;
    case 'm':
        a->manifest = optarg;
        return 0;
    case 'a':
        a->artifact = optarg;
        return 0;
    case 'A':
        a->o.app = optarg;
        return 0;
    case 'u':
        a->o.hook_user = optarg;
        return 0;
    case 'k':
        a->o.keep = strtoul(optarg, &end, 10);
        a->has_keep = true;
        if (*end || a->o.keep < 2 || a->o.keep > 50) {
            return s_usage_error(usage, "--keep takes 2 to 50, not '%s'",
                                 optarg);
        }
        return 0;
    case 't':
        if (a->o.n_trusted == TRUST_MAX) {
            return s_usage_error(usage, "at most 16 --trust keys");
        }
        if (keys_public_load(optarg, &a->trusted[a->o.n_trusted], &err)) {
            return s_usage_error(usage, "%s", err.msg);
        }
        a->trust_files[a->o.n_trusted++] = optarg;
        return 0;
    default:
        return s_enroll_option(a, c, usage);
    }
}

/* Hooks run as a configured user. As root, the operator must say which
 * (`--user root` included): running release code as root by default is
 * how a bad release becomes a compromised machine. */
static int
s_check_user(const args_t *a, const command_t *cmd)
{
    if (a->o.hook_user && !getpwnam(a->o.hook_user)) {
        return s_usage_error(cmd->usage, "no such user '%s' for --user",
                             a->o.hook_user);
    }
    if (!a->o.hook_user && geteuid() == 0) {
        return s_usage_error(cmd->usage,
                             "running as root: say which user hooks run as "
                             "with --user USER (--user root to accept root)");
    }
    return 0;
}

/* Checks the options of enroll. */
static int
s_require_enroll(const args_t *a, const command_t *cmd)
{
    if (!a->controller || !a->controller_key || !a->o.env) {
        return s_usage_error(cmd->usage,
                             "enroll needs --controller, --controller-key "
                             "and --env");
    }
    if (!manifest_name_valid(a->o.env) ||
        (a->name && !manifest_name_valid(a->name))) {
        return s_usage_error(cmd->usage,
                             "environment and agent names use a-z 0-9 - _ "
                             "(got --env '%s', --name '%s')",
                             a->o.env, a->name ? a->name : "");
    }
    if (a->o.n_trusted == 0) {
        return s_usage_error(cmd->usage,
                             "enroll needs at least one --trust PUB: the "
                             "agent installs only releases signed by keys "
                             "it trusts");
    }
    return 0;
}

/* Checks that the options CMD needs are there. */
static int
s_require(const args_t *a, const command_t *cmd)
{
    if (strcmp(cmd->name, "run") == 0) {
        return 0; /* run reads its root and user from the config too */
    }
    if ((a->config || a->check_only || a->has_log_level)) {
        return s_usage_error(cmd->usage,
                             "-n, --config and --log-level are for run");
    }
    if (!a->o.root) {
        return s_usage_error(cmd->usage, "%s needs --root DIR", cmd->name);
    }
    if (strcmp(cmd->name, "status") == 0 || strcmp(cmd->name, "rekey") == 0) {
        return 0;
    }
    if (s_check_user(a, cmd) != 0) {
        return 2;
    }
    if (strcmp(cmd->name, "enroll") == 0) {
        return s_require_enroll(a, cmd);
    }
    if (strcmp(cmd->name, "install") != 0) {
        return 0;
    }
    if (!a->o.env || !a->manifest || !a->artifact) {
        return s_usage_error(
            cmd->usage, "%s needs --env, --manifest and --artifact", cmd->name);
    }
    if (!manifest_name_valid(a->o.env) ||
        (a->o.app && !manifest_name_valid(a->o.app))) {
        return s_usage_error(cmd->usage,
                             "environment and app names use a-z 0-9 - _ "
                             "(got '%s')",
                             a->o.env);
    }
    if (a->o.n_trusted == 0) {
        return s_usage_error(cmd->usage,
                             "%s needs at least one --trust PUB: the agent "
                             "installs only releases signed by keys it trusts",
                             cmd->name);
    }
    return 0;
}

int
main(int argc, char **argv)
{
    log_init("hoist-agent", LOG_LEVEL_INFO);
    const command_t *cmd = NULL;
    for (size_t i = 0; argc > 1 && i < sizeof s_commands / sizeof *s_commands;
         i++) {
        if (strcmp(argv[1], s_commands[i].name) == 0) {
            cmd = &s_commands[i];
        }
    }
    if (!cmd) {
        fprintf(stderr, "usage:\n");
        for (size_t i = 0; i < sizeof s_commands / sizeof *s_commands; i++) {
            fprintf(stderr, "  hoist-agent %s\n", s_commands[i].usage);
        }
        return 2;
    }
    static args_t a;
    install_opts_default(&a.o);
    a.o.trusted = a.trusted;
    int c, rc;
    while ((c = getopt_long(argc - 1, argv + 1, "n", s_options, NULL)) != -1) {
        if ((rc = s_option(&a, c, cmd->usage)) != 0) {
            return rc;
        }
    }
    if (optind < argc - 1) {
        return s_usage_error(cmd->usage, "unexpected argument '%s'",
                             argv[optind + 1]);
    }
    if ((rc = s_require(&a, cmd)) != 0) {
        return rc;
    }
    return cmd->fn(&a);
}
