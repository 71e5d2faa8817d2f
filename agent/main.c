/*
 * hoist-agent: the agent's command line. For now the air-gapped path:
 *
 *   hoist-agent install --root DIR --env ENV --trust PUB [--trust PUB]...
 *                       --manifest FILE --artifact FILE
 *                       [--app APP] [--user USER] [--keep N]
 *   hoist-agent recover --root DIR [--user USER]
 *   hoist-agent status  --root DIR
 *
 * Exit codes: 0 done, 1 failed (rolled back or abandoned), 2 rejected.
 */
#include <getopt.h>
#include <pwd.h>
#include <unistd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "install.h"
#include "keys.h"
#include "log.h"
#include "manifest.h"

#define TRUST_MAX 16

typedef struct {
    install_opts_t o;
    keys_public_t trusted[TRUST_MAX];
    const char *manifest;
    const char *artifact;
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
s_cmd_status(args_t *a)
{
    hoist_error_t err = {0};
    if (install_status(a->o.root, stdout, &err) != HOIST_OK) {
        return s_fail(&err);
    }
    return 0;
}

static const command_t s_commands[] = {
    {"install", s_cmd_install,
     "install --root DIR --env ENV --trust PUB... --manifest FILE "
     "--artifact FILE [--app APP] [--user USER] [--keep N]"},
    {"recover", s_cmd_recover, "recover --root DIR [--user USER]"},
    {"status", s_cmd_status, "status --root DIR"},
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
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

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
        a->o.n_trusted++;
        return 0;
    default:
        return s_usage_error(usage, "unknown option");
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

/* Checks that the options CMD needs are there. */
static int
s_require(const args_t *a, const command_t *cmd)
{
    if (!a->o.root) {
        return s_usage_error(cmd->usage, "%s needs --root DIR", cmd->name);
    }
    if (strcmp(cmd->name, "status") == 0) {
        return 0;
    }
    if (s_check_user(a, cmd) != 0) {
        return 2;
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
    while ((c = getopt_long(argc - 1, argv + 1, "", s_options, NULL)) != -1) {
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
