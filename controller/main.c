/*
 * hoist-controller: the command line of the controller daemon.
 *
 *   hoist-controller init [--config FILE] [--data-dir DIR]
 *                         [--agent-endpoint E] [--api-endpoint E]
 *   hoist-controller run  [-n] [--config FILE] [--data-dir DIR]
 *                         [--agent-endpoint E] [--api-endpoint E]
 *                         [--heartbeat MS] [--log-level LEVEL]
 *   hoist-controller backup  [--config FILE] [--data-dir DIR] --out FILE
 *   hoist-controller restore [--config FILE] [--data-dir DIR] --from FILE
 *                            [--force]
 *   hoist-controller rotate-key [--config FILE] [--data-dir DIR] [--force]
 *
 * Both read /etc/hoist/controller.yml (or --config FILE, which must
 * exist; see controller.h) and take every flag given over the file; the
 * data directory defaults to /var/lib/hoist/controller. `run -n` checks
 * the file and the data directory, says what it found and exits 0 or 2.
 * SIGHUP makes `run` read the file again: heartbeat and log_level change
 * at once, the rest is logged as waiting for a restart, and a file that
 * does not read changes nothing.
 *
 * `run` writes DIR/cli.conf, so HOIST_CONFIG=DIR/cli.conf hoist ... works
 * at once for the admin.
 *
 * `backup` copies the data directory into a tar (0600) while the
 * controller runs; `restore` refuses a non-empty DIR unless --force (the
 * old one is then kept aside) and changes nothing unless the whole archive
 * checks out (backup.h).
 *
 * `rotate-key`, with the controller stopped, makes the next key that
 * `hoist controller key next` prepared the controller's key, once every
 * accepted agent has pinned it (--force cuts off those that have not;
 * serverkey.h).
 */
#include <czmq.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backup.h"
#include "controller.h"
#include "daemon.h"
#include "datadir.h"
#include "log.h"
#include "serverkey.h"

static const char s_usage[] =
    "usage:\n"
    "  hoist-controller init [--config FILE] [--data-dir DIR] "
    "[--agent-endpoint E] [--api-endpoint E]\n"
    "  hoist-controller run  [-n] [--config FILE] [--data-dir DIR] "
    "[--agent-endpoint E] [--api-endpoint E] [--heartbeat MS] "
    "[--log-level LEVEL]\n"
    "  hoist-controller backup  [--config FILE] [--data-dir DIR] --out FILE\n"
    "  hoist-controller restore [--config FILE] [--data-dir DIR] --from FILE "
    "[--force]\n"
    "  hoist-controller rotate-key [--config FILE] [--data-dir DIR] "
    "[--force]\n";

typedef struct {
    controller_opts_t flags; /* what the command line said */
    const char *config;      /* --config; NULL: the default, if present */
    bool check_only;         /* -n */
    const char *archive;     /* backup --out, restore --from */
    bool force;              /* restore --force */
    bool has_log_level;
    log_level_t log_level;
    controller_config_t file;     /* the file as read at start; in use */
    controller_config_t reloaded; /* as last read by a reload */
} args_t;

static int
s_option(args_t *a, int c)
{
    char *end = NULL;
    controller_opts_t *o = &a->flags;
    switch (c) {
    case 'd':
        o->data_dir = optarg;
        return 0;
    case 'a':
        o->agent_endpoint = optarg;
        return 0;
    case 'p':
        o->api_endpoint = optarg;
        return 0;
    case 'C':
        a->config = optarg;
        return 0;
    case 'n':
        a->check_only = true;
        return 0;
    case 'o':
        a->archive = optarg;
        return 0;
    case 'f':
        a->force = true;
        return 0;
    case 'L':
        if (!log_level_parse(optarg, &a->log_level)) {
            fprintf(stderr, "hoist-controller: --log-level takes debug, info, "
                            "warn or error\n");
            return 2;
        }
        a->has_log_level = true;
        return 0;
    case 'h':
        o->heartbeat_ms = (uint32_t)strtoul(optarg, &end, 10);
        if (*end || o->heartbeat_ms < CONTROLLER_HEARTBEAT_MIN ||
            o->heartbeat_ms > CONTROLLER_HEARTBEAT_MAX) {
            fprintf(stderr, "hoist-controller: --heartbeat takes 50 to "
                            "600000 ms\n");
            return 2;
        }
        return 0;
    default:
        fputs(s_usage, stderr);
        return 2;
    }
}

static int
s_parse(int argc, char **argv, args_t *a)
{
    static const struct option opts[] = {
        {"data-dir", required_argument, NULL, 'd'},
        {"agent-endpoint", required_argument, NULL, 'a'},
        {"api-endpoint", required_argument, NULL, 'p'},
        {"heartbeat", required_argument, NULL, 'h'},
        {"config", required_argument, NULL, 'C'},
        {"log-level", required_argument, NULL, 'L'},
        {NULL, 0, NULL, 0}};
    int c, rc;
    while ((c = getopt_long(argc, argv, "n", opts, NULL)) != -1) {
        if ((rc = s_option(a, c)) != 0) {
            return rc;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "hoist-controller: unexpected argument '%s'\n%s",
                argv[optind], s_usage);
        return 2;
    }
    return 0;
}

/* The flags of backup (--out), restore (--from, --force) and rotate-key
 * (--force): the data directory comes from --data-dir or the config
 * file, as for run. */
static int
s_parse_archive(int argc, char **argv, bool restore, args_t *a)
{
    bool rotate = strcmp(argv[0], "rotate-key") == 0;
    static const struct option backup_opts[] = {
        {"data-dir", required_argument, NULL, 'd'},
        {"config", required_argument, NULL, 'C'},
        {"out", required_argument, NULL, 'o'},
        {NULL, 0, NULL, 0}};
    static const struct option rotate_opts[] = {
        {"data-dir", required_argument, NULL, 'd'},
        {"config", required_argument, NULL, 'C'},
        {"force", no_argument, NULL, 'f'},
        {NULL, 0, NULL, 0}};
    static const struct option restore_opts[] = {
        {"data-dir", required_argument, NULL, 'd'},
        {"config", required_argument, NULL, 'C'},
        {"from", required_argument, NULL, 'o'},
        {"force", no_argument, NULL, 'f'},
        {NULL, 0, NULL, 0}};
    int c, rc;
    const struct option *opts = rotate    ? rotate_opts
                                : restore ? restore_opts
                                          : backup_opts;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if ((rc = s_option(a, c)) != 0) {
            return rc;
        }
    }
    if (rotate && optind != argc) {
        fprintf(stderr, "hoist-controller: rotate-key takes no arguments\n%s",
                s_usage);
        return 2;
    }
    if (!rotate && (optind != argc || !a->archive)) {
        fprintf(stderr, "hoist-controller: %s needs %s\n%s", argv[0],
                restore ? "--from FILE" : "--out FILE", s_usage);
        return 2;
    }
    return 0;
}

/* Reads the config file named by --config (which must exist) or the
 * default one (which may not) into *OUT. */
static hoist_err_t
s_read_file(const args_t *a, controller_config_t *out, hoist_error_t *err)
{
    const char *path = a->config ? a->config : CONTROLLER_CONFIG_FILE;
    return controller_config_load(path, a->config != NULL, out, err);
}

/* The settings in force: a flag, else the file, else the default (for
 * the endpoints: DATA_DIR/controller.conf, read by the controller). */
static void
s_merge(const args_t *a, const controller_config_t *f, controller_opts_t *o,
        log_level_t *level)
{
    const controller_opts_t *fl = &a->flags;
    *o = *fl;
    o->data_dir = fl->data_dir     ? fl->data_dir
                  : f->data_dir[0] ? f->data_dir
                                   : CONTROLLER_DATA_DIR;
    o->agent_endpoint = fl->agent_endpoint     ? fl->agent_endpoint
                        : f->agent_endpoint[0] ? f->agent_endpoint
                                               : NULL;
    o->api_endpoint = fl->api_endpoint     ? fl->api_endpoint
                      : f->api_endpoint[0] ? f->api_endpoint
                                           : NULL;
    o->heartbeat_ms = fl->heartbeat_ms ? fl->heartbeat_ms : f->heartbeat_ms;
    *level = a->has_log_level   ? a->log_level
             : f->has_log_level ? f->log_level
                                : LOG_LEVEL_INFO;
}

/* Says which settings of the file changed that only a restart applies. */
static void
s_warn_restart(const controller_config_t *was, const controller_config_t *now)
{
    if (strcmp(was->data_dir, now->data_dir) != 0 ||
        strcmp(was->agent_endpoint, now->agent_endpoint) != 0 ||
        strcmp(was->api_endpoint, now->api_endpoint) != 0) {
        log_warn("data_dir or an endpoint changed in the configuration: "
                 "they take effect when hoist-controller restarts");
    }
}

/* controller_opts_t.reload: SIGHUP, on the loop. Reads the file again
 * and applies the heartbeat and the log level; a file that does not read
 * keeps everything as it was. */
static void
s_reload(controller_t *c, void *arg)
{
    args_t *a = arg;
    hoist_error_t err = {0};
    controller_config_t fresh;
    if (s_read_file(a, &fresh, &err) != HOIST_OK) {
        log_error("reload failed, keeping the running configuration: %s",
                  err.msg);
        return;
    }
    controller_opts_t o;
    log_level_t level;
    s_merge(a, &fresh, &o, &level);
    uint32_t hb = o.heartbeat_ms ? o.heartbeat_ms : CONTROLLER_HEARTBEAT_MS;
    if (hb != controller_heartbeat_ms(c)) {
        /* Connected agents learn it from their next welcome. */
        log_info("heartbeat: %u ms -> %u ms", controller_heartbeat_ms(c), hb);
        controller_set_heartbeat_ms(c, hb);
    }
    if (level != log_level()) {
        log_warn("log_level: %s -> %s", log_level_name(log_level()),
                 log_level_name(level));
        log_set_level(level);
    }
    s_warn_restart(&a->reloaded, &fresh);
    a->reloaded = fresh;
    log_info("configuration reloaded");
}

static int
s_init(const controller_opts_t *o)
{
    hoist_error_t err = {0};
    if (datadir_init(
            o->data_dir,
            o->agent_endpoint ? o->agent_endpoint : CONTROLLER_AGENT_ENDPOINT,
            o->api_endpoint ? o->api_endpoint : CONTROLLER_API_ENDPOINT,
            &err) != HOIST_OK) {
        log_error("%s", err.msg);
        return error_exit_code(err.code);
    }
    printf("controller data directory ready in %s\n"
           "start it with: hoist-controller run --data-dir %s\n",
           o->data_dir, o->data_dir);
    return 0;
}

static int
s_backup(const args_t *a, const controller_opts_t *o)
{
    hoist_error_t err = {0};
    if (backup_create(o->data_dir, a->archive, &err) != HOIST_OK) {
        log_error("backup of %s failed: %s", o->data_dir, err.msg);
        return error_exit_code(err.code);
    }
    printf("backed up %s to %s\n", o->data_dir, a->archive);
    return 0;
}

static int
s_restore(const args_t *a, const controller_opts_t *o)
{
    hoist_error_t err = {0};
    backup_restore_opts_t ro = {.force = a->force};
    if (backup_restore(a->archive, o->data_dir, &ro, &err) != HOIST_OK) {
        log_error("restore into %s failed, nothing changed: %s", o->data_dir,
                  err.msg);
        return error_exit_code(err.code);
    }
    printf("restored %s into %s\n", a->archive, o->data_dir);
    if (ro.kept[0]) {
        printf("the directory it replaced is kept in %s; remove it once "
               "the restored controller runs\n",
               ro.kept);
    }
    printf("start it with: hoist-controller run --data-dir %s\n", o->data_dir);
    return 0;
}

static int
s_rotate_key(const args_t *a, const controller_opts_t *o)
{
    hoist_error_t err = {0};
    size_t left = 0;
    if (serverkey_rotate_stopped(o->data_dir, a->force, &left, &err) !=
        HOIST_OK) {
        log_error("%s", err.msg);
        return error_exit_code(err.code);
    }
    printf("rotated the controller's key in %s/keys\n", o->data_dir);
    if (left > 0) {
        printf("%zu agent%s that had not pinned the new key cannot connect "
               "until enrolled again (hoist-agent enroll --force)\n",
               left, left == 1 ? "" : "s");
    }
    printf("start the controller (systemctl start hoist-controller); agents "
           "switch to the new key on their own.\n"
           "CLI users: the new key is server_key in %s/cli.conf once it runs; "
           "copy it into each user's cli.conf.\n",
           o->data_dir);
    return 0;
}

/* run -n: the file and the data directory, checked, and a line saying
 * what would run. */
static int
s_check(const controller_opts_t *o, log_level_t level)
{
    hoist_error_t err = {0};
    if (controller_check(o, &err) != HOIST_OK) {
        log_error("%s", err.msg);
        fprintf(stderr, "hoist-controller: configuration check failed\n");
        return 2;
    }
    printf("configuration ok: data dir %s, agents on %s, API on %s, "
           "heartbeat %u ms, log level %s\n",
           o->data_dir,
           o->agent_endpoint ? o->agent_endpoint : "(controller.conf)",
           o->api_endpoint ? o->api_endpoint : "(controller.conf)",
           o->heartbeat_ms ? o->heartbeat_ms : CONTROLLER_HEARTBEAT_MS,
           log_level_name(level));
    return 0;
}

static int
s_run(args_t *a, controller_opts_t *o)
{
    hoist_error_t err = {0};
    /* Before any thread exists (zsys_init makes some): they all inherit
     * SIGHUP blocked, and the loop reads it from a signalfd. */
    daemon_t *d = daemon_new(&err);
    if (!d) {
        log_error("%s", err.msg);
        return 1;
    }
    log_set_journal(daemon_journal_stream());
    zsys_init(); /* SIGINT and SIGTERM end the loop (zsys_interrupted) */
    o->daemon = d;
    o->reload = s_reload;
    o->reload_arg = a;
    controller_t *c = controller_new(o, &err);
    if (!c ||
        datadir_write_cli_conf(o->data_dir, controller_api_endpoint(c),
                               controller_server_key(c), &err) != HOIST_OK) {
        log_error("%s", err.msg);
        controller_destroy(&c);
        daemon_destroy(&d);
        return 1;
    }
    hoist_err_t rc = controller_run(c, &err);
    if (rc != HOIST_OK) {
        log_error("%s", err.msg);
    }
    controller_destroy(&c);
    daemon_destroy(&d);
    return rc == HOIST_OK ? 0 : 1;
}

int
main(int argc, char **argv)
{
    log_init("hoist-controller", LOG_LEVEL_INFO);
    static args_t a;
    if (argc < 2) {
        fputs(s_usage, stderr);
        return 2;
    }
    const char *cmd = argv[1];
    bool archive_cmd = strcmp(cmd, "backup") == 0 ||
                       strcmp(cmd, "restore") == 0 ||
                       strcmp(cmd, "rotate-key") == 0;
    if (strcmp(cmd, "init") != 0 && strcmp(cmd, "run") != 0 && !archive_cmd) {
        fprintf(stderr, "hoist-controller: unknown command '%s'\n%s", cmd,
                s_usage);
        return 2;
    }
    int rc = archive_cmd ? s_parse_archive(argc - 1, argv + 1,
                                           strcmp(cmd, "restore") == 0, &a)
                         : s_parse(argc - 1, argv + 1, &a);
    if (rc != 0) {
        return rc;
    }
    hoist_error_t err = {0};
    if (s_read_file(&a, &a.file, &err) != HOIST_OK) {
        log_error("%s", err.msg);
        return 2;
    }
    a.reloaded = a.file;
    controller_opts_t o;
    log_level_t level;
    s_merge(&a, &a.file, &o, &level);
    log_set_level(level);
    if (strcmp(cmd, "init") == 0) {
        return s_init(&o);
    }
    if (strcmp(cmd, "backup") == 0) {
        return s_backup(&a, &o);
    }
    if (strcmp(cmd, "restore") == 0) {
        return s_restore(&a, &o);
    }
    if (strcmp(cmd, "rotate-key") == 0) {
        return s_rotate_key(&a, &o);
    }
    return a.check_only ? s_check(&o, level) : s_run(&a, &o);
}
