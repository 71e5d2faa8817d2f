/*
 * commands: see commands.h. Exit codes follow DESIGN.md: 0 done, 1 failed,
 * 2 usage or bad input, 3 refused by authorization, 4 refused by a gate.
 *
 * A remote command's handler turns its checked arguments into one request
 * (docs/protocol.md's command table) and prints the reply; the controller
 * decides what the command means and who may run it. Most commands need
 * nothing more than that and share s_remote; the others say why they
 * differ.
 */
#include "commands.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "atomicfile.h"
#include "config.h"
#include "duration.h"
#include "envname.h"
#include "input.h"
#include "keys.h"
#include "output.h"
#include "signing.h"
#include "upload.h"
#include "userkey.h"
#include "watch.h"

#define S_MAX_OPTS      8             /* named options of one command */
#define S_PUBKEY_MAX    4096          /* a release key's .pub file */
#define S_WORDS_MAX     64            /* "release create" and its kind */
#define S_PIPELINE_MAX  (1024 * 1024) /* a pipeline file (hoist apply) */
#define S_VAR_VALUE_MAX (64 * 1024)   /* a variable's value */
#define S_ONLY_MAX      256           /* an --only selector */

static int s_keygen(commands_ctx_t *, const commands_entry_t *,
                    const commands_args_t *);
static int s_release_sign(commands_ctx_t *, const commands_entry_t *,
                          const commands_args_t *);
static int s_release_create(commands_ctx_t *, const commands_entry_t *,
                            const commands_args_t *);
static int s_remote(commands_ctx_t *, const commands_entry_t *,
                    const commands_args_t *);
static int s_app_filter(commands_ctx_t *, const commands_entry_t *,
                        const commands_args_t *);
static int s_token_create(commands_ctx_t *, const commands_entry_t *,
                          const commands_args_t *);
static int s_trust_add(commands_ctx_t *, const commands_entry_t *,
                       const commands_args_t *);
static int s_deployment(commands_ctx_t *, const commands_entry_t *,
                        const commands_args_t *);
static int s_cancel(commands_ctx_t *, const commands_entry_t *,
                    const commands_args_t *);
static int s_drill(commands_ctx_t *, const commands_entry_t *,
                   const commands_args_t *);
static int s_watch(commands_ctx_t *, const commands_entry_t *,
                   const commands_args_t *);
static int s_users_add(commands_ctx_t *, const commands_entry_t *,
                       const commands_args_t *);
static int s_apply(commands_ctx_t *, const commands_entry_t *,
                   const commands_args_t *);
static int s_export(commands_ctx_t *, const commands_entry_t *,
                    const commands_args_t *);
static int s_promote(commands_ctx_t *, const commands_entry_t *,
                     const commands_args_t *);
static int s_audit_verify(commands_ctx_t *, const commands_entry_t *,
                          const commands_args_t *);
static int s_vars_set(commands_ctx_t *, const commands_entry_t *,
                      const commands_args_t *);
static int s_vars_unset(commands_ctx_t *, const commands_entry_t *,
                        const commands_args_t *);

/* ---- the table ---------------------------------------------------------- */

#define V COMMANDS_OPT_VALUE
#define R COMMANDS_OPT_REQUIRED
#define M COMMANDS_OPT_REPEAT
#define F COMMANDS_OPT_FLAG

static const commands_opt_t o_keygen[] = {{"out", R}, {"user", F}, {NULL, 0}};
static const commands_opt_t o_sign[] = {{"sign-key", R}, {"sequence", V},
                                        {"env", M},      {"notes", V},
                                        {"out", R},      {NULL, 0}};
static const commands_opt_t o_create[] = {
    {"sign-key", V}, {"sequence", V},  {"env", M}, {"manifest", V},
    {"notes", V},    {"lifecycle", V}, {NULL, 0}};
static const commands_opt_t o_env[] = {{"env", V}, {NULL, 0}};
static const commands_opt_t o_token[] = {{"env", R}, {"ttl", V}, {NULL, 0}};
static const commands_opt_t o_deploy[] = {
    {"env", R}, {"wait", F}, {"strategy", V}, {"only", V}, {NULL, 0}};
static const commands_opt_t o_rollback[] = {{"env", R},  {"to", V},
                                            {"wait", F}, {"strategy", V},
                                            {"only", V}, {NULL, 0}};
static const commands_opt_t o_cancel[] = {{"rollback", F}, {NULL, 0}};
static const commands_opt_t o_logs[] = {{"agent", V}, {NULL, 0}};
static const commands_opt_t o_to[] = {{"to", V}, {NULL, 0}};
static const commands_opt_t o_drill[] = {
    {"from", V}, {"to", V},    {"failback", F}, {"sync", F},
    {"at", V},   {"every", V}, {NULL, 0}};
static const commands_opt_t o_failover[] = {{"from", V}, {"to", V}, {NULL, 0}};
static const commands_opt_t o_env_req[] = {{"env", R}, {NULL, 0}};
static const commands_opt_t o_users_add[] = {
    {"role", R}, {"key", R}, {"env", V}, {NULL, 0}};
static const commands_opt_t o_promote[] = {
    {"to", R},     {"at", V},       {"wait", F}, {"override-freeze", F},
    {"reason", V}, {"strategy", V}, {"only", V}, {NULL, 0}};
static const commands_opt_t o_approve[] = {
    {"env", R}, {"comment", V}, {NULL, 0}};
static const commands_opt_t o_audit[] = {{"since", V}, {NULL, 0}};
static const commands_opt_t o_verify[] = {{"head", V}, {NULL, 0}};
static const commands_opt_t o_vars_set[] = {
    {"env", R}, {"secret", F}, {NULL, 0}};

static const commands_entry_t s_table[] = {
    {"keygen", s_keygen, "keygen [--user] --out PREFIX",
     "make a release-signing key pair PREFIX.key / PREFIX.pub; with --user, "
     "a CURVE user key PREFIX / PREFIX_secret for --identity",
     NULL, 0, 0, o_keygen},
    {"release sign", s_release_sign,
     "release sign APP VERSION ARTIFACT --sign-key PREFIX [--sequence N] "
     "[--env ENV]... [--notes FILE] --out MANIFEST",
     "sign a release offline, as a CI job does", NULL, 3, 3, o_sign},
    {"release create", s_release_create,
     "release create APP VERSION ARTIFACT (--sign-key PREFIX [--sequence N] "
     "[--env ENV]... | --manifest FILE) [--notes FILE] [--lifecycle NAME]",
     "sign (or take a signed manifest) and upload a release", "release.begin",
     3, 3, o_create},
    {"release list", s_app_filter, "release list [APP]",
     "releases the controller holds", "release.list", 0, 1, NULL},
    {"release show", s_remote, "release show APP VERSION",
     "one release: manifest, notes, where it runs", "release.show", 2, 2, NULL},
    {"trust add", s_trust_add, "trust add PUBFILE",
     "accept releases signed by this key (admin)", "trust.add", 1, 1, NULL},
    {"trust list", s_remote, "trust list",
     "release keys the controller accepts", "trust.list", 0, 0, NULL},
    {"trust remove", s_remote, "trust remove KEYID",
     "stop accepting releases signed by a key", "trust.remove", 1, 1, NULL},
    {"token create", s_token_create, "token create --env ENV [--ttl DUR]",
     "a one-time enrollment token and the hoist-agent enroll line",
     "token.create", 0, 0, o_token},
    {"agents", s_remote, "agents [list] [--env ENV]",
     "agents, their state and health", "agents.list", 0, 0, o_env},
    {"agents list", s_remote, "agents list [--env ENV]", "the same as agents",
     "agents.list", 0, 0, o_env},
    {"agents accept", s_remote, "agents accept NAME", "let a pending agent in",
     "agents.accept", 1, 1, NULL},
    {"agents revoke", s_remote, "agents revoke NAME",
     "cut an agent off (its key is refused at once)", "agents.revoke", 1, 1,
     NULL},
    {"controller key", s_remote, "controller key",
     "the controller's key, its next key, and which agents have pinned it",
     "controller.key", 0, 0, NULL},
    {"controller key next", s_remote, "controller key next",
     "prepare the controller's next key and announce it to the agents "
     "(admin; then hoist-controller rotate-key)",
     "controller.key_next", 0, 0, NULL},
    {"users add", s_users_add,
     "users add NAME --role ROLE --key FILE [--env ENV]",
     "let a person in: ROLE is admin, release-manager, qa, operator or "
     "viewer; FILE from hoist keygen --user; --env scopes the role",
     "users.add", 1, 1, o_users_add},
    {"users list", s_remote, "users list", "users, their roles and scopes",
     "users.list", 0, 0, NULL},
    {"users remove", s_remote, "users remove NAME",
     "shut a user out (the last admin stays)", "users.remove", 1, 1, NULL},
    {"apply", s_apply, "apply FILE",
     "load the pipeline file (environments, lifecycles, policy), whole or "
     "not at all",
     "pipeline.apply", 1, 1, NULL},
    {"export", s_export, "export",
     "print the pipeline file in force (hoist export > p.yml; hoist apply "
     "p.yml changes nothing)",
     "pipeline.export", 0, 0, NULL},
    {"deploy", s_deployment,
     "deploy APP VERSION --env ENV [--wait] [--strategy SPEC] "
     "[--only k=v,...]",
     "deploy a release to every accepted agent of ENV (--only: those with "
     "these tags; --strategy: all-at-once, rolling:batch=3,max_unavailable=1, "
     "canary:count=1,hold=5m,then=manual instead of ENV's)",
     "deploy", 2, 2, o_deploy},
    {"rollback", s_deployment,
     "rollback APP --env ENV [--to VERSION] [--wait] [--strategy SPEC] "
     "[--only k=v,...]",
     "put the previous (or a kept) release back in ENV", "rollback", 1, 1,
     o_rollback},
    {"promote", s_promote,
     "promote APP VERSION --to ENV [--at TIME] [--wait] "
     "[--override-freeze --reason TEXT] [--strategy SPEC] [--only k=v,...]",
     "move a release up its lifecycle, now or at TIME ('2026-12-01 02:00 "
     "Europe/Berlin'); exit 4 lists the gates not met",
     "promote", 2, 2, o_promote},
    {"approve", s_remote, "approve APP VERSION --env ENV [--comment TEXT]",
     "record that a release is okay to go to ENV", "approve", 2, 2, o_approve},
    {"schedule list", s_remote, "schedule list",
     "scheduled promotions and what became of them", "schedule.list", 0, 0,
     NULL},
    {"schedule cancel", s_remote, "schedule cancel ID",
     "cancel a scheduled promotion before it fires", "schedule.cancel", 1, 1,
     NULL},
    {"status", s_app_filter, "status [APP]",
     "environment x app: version, agents ok/total", "status", 0, 1, NULL},
    {"deployments", s_app_filter, "deployments [APP]", "recent deployments",
     "deployments", 0, 1, NULL},
    {"deployment show", s_remote, "deployment show ID",
     "one deployment and its per-agent tasks", "deployment.show", 1, 1, NULL},
    {"deployment cancel", s_cancel, "deployment cancel ID [--rollback]",
     "start no more agents; with --rollback, also put the previous release "
     "back on those done",
     "deployment.cancel", 1, 1, o_cancel},
    {"deployment continue", s_remote, "deployment continue ID",
     "let a rollout whose canary holds for a release manager go on",
     "deployment.continue", 1, 1, NULL},
    {"watch", s_watch, "watch ID",
     "follow a deployment to its end, as --wait does (exit 0 when it "
     "succeeded, 1 when not)",
     "deployment.show", 1, 1, NULL},
    {"drill run", s_drill,
     "drill run APP [--from ENV] [--to ENV] [--failback] [--sync] [--at "
     "TIME] [--every DUR]",
     "prove DR can take over: readiness, failover hook and health on the "
     "target, optional failback; waits and prints the timeline (exit 1 when "
     "a step failed)",
     "drill.run", 1, 1, o_drill},
    {"drill list", s_remote, "drill list",
     "drills and failovers, their state and recovery time", "drill.list", 0, 0,
     NULL},
    {"drill show", s_remote, "drill show ID",
     "one drill's timeline and recovery time", "drill.show", 1, 1, NULL},
    {"failover", s_drill, "failover APP [--from ENV] [--to ENV]",
     "fail over for real: the drill's steps without its readiness veto or "
     "failback (release manager)",
     "failover", 1, 1, o_failover},
    {"dr sync", s_remote, "dr sync APP [--to ENV]",
     "deploy to each mirror (dr) the release live in what it mirrors",
     "dr.sync", 1, 1, o_to},
    {"diff", s_remote, "diff ENV_A ENV_B [APP]",
     "drift between two environments: releases, variables (secrets by "
     "digest), agents per role, agents offline",
     "diff", 2, 3, NULL},
    {"logs", s_remote, "logs ID [--agent NAME]",
     "what the agents reported for a deployment (hook output)", "logs", 1, 1,
     o_logs},
    {"audit", s_remote, "audit [--since TIME]",
     "the audit log: who did what, when, and the answer", "audit.list", 0, 0,
     o_audit},
    {"audit verify", s_audit_verify, "audit verify [--head ID:HEX]",
     "check the audit log's hash chain (--head: the head an earlier verify "
     "printed)",
     "audit.verify", 0, 0, o_verify},
    {"vars set", s_vars_set, "vars set APP KEY VALUE --env ENV [--secret]",
     "set a variable the hooks get; VALUE - reads it from stdin; --secret "
     "seals it to the agents and never shows it again",
     "vars.set", 3, 3, o_vars_set},
    {"vars list", s_remote, "vars list APP --env ENV",
     "an app's variables in ENV (secrets without their values)", "vars.list", 1,
     1, o_env_req},
    {"vars unset", s_vars_unset, "vars unset APP KEY --env ENV",
     "remove a variable", "vars.unset", 2, 2, o_env_req},
    {"whoami", s_remote, "whoami", "your user name and role", "whoami", 0, 0,
     NULL},
};

#undef V
#undef R
#undef M
#undef F

#define NCOMMANDS (sizeof s_table / sizeof *s_table)

/* The number of words in "release create". */
static int
s_nwords(const char *words)
{
    int n = 1;
    for (const char *p = words; *p; p++) {
        n += *p == ' ';
    }
    return n;
}

/* True when ARGV (of ARGC) starts with the words of C. */
static bool
s_matches(const commands_entry_t *c, int argc, char **argv)
{
    int n = s_nwords(c->words);
    if (argc < n) {
        return false;
    }
    char words[S_WORDS_MAX] = "";
    for (int w = 0; w < n; w++) {
        if (strlen(words) + strlen(argv[w]) + 2 > sizeof words) {
            return false;
        }
        strcat(words, argv[w]);
        if (w + 1 < n) {
            strcat(words, " ");
        }
    }
    return strcmp(words, c->words) == 0;
}

const commands_entry_t *
commands_find(int argc, char **argv, int *nwords)
{
    const commands_entry_t *best = NULL;
    for (size_t i = 0; i < NCOMMANDS; i++) {
        const commands_entry_t *c = &s_table[i];
        if (s_matches(c, argc, argv) &&
            (!best || s_nwords(c->words) > s_nwords(best->words))) {
            best = c;
        }
    }
    if (best) {
        *nwords = s_nwords(best->words);
    }
    return best;
}

void
commands_usage(FILE *f)
{
    fprintf(f, "usage: hoist [--config FILE] [--json] [--identity PREFIX] "
               "COMMAND\n"
               "(the config also comes from $HOIST_CONFIG, else "
               "~/.config/hoist/cli.conf;\n"
               " --identity PREFIX: a key from hoist keygen --user, instead "
               "of the config's)\n\n");
    for (size_t i = 0; i < NCOMMANDS; i++) {
        fprintf(f, "  %s\n      %s\n", s_table[i].usage, s_table[i].summary);
    }
}

/* ---- checking arguments against the table ------------------------------- */

/* Prints "hoist: MESSAGE" and C's usage line; returns 2. */
static int __attribute__((format(printf, 2, 3)))
s_usage(const commands_entry_t *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "hoist: %s: ", c->words);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nusage: hoist %s\n", c->usage);
    return 2;
}

/* The number of named options of C. */
static size_t
s_nopts(const commands_entry_t *c)
{
    size_t n = 0;
    while (c->opts && c->opts[n].name) {
        n++;
    }
    return n;
}

/* Fills LONGOPTS from C's options plus --json and --help (returned as
 * 'j' and 'h'); option i is returned as 256 + i. */
static void
s_longopts(const commands_entry_t *c, struct option *longopts)
{
    size_t n = s_nopts(c);
    assert(n <= S_MAX_OPTS);
    for (size_t i = 0; i < n; i++) {
        bool flag = c->opts[i].kind == COMMANDS_OPT_FLAG;
        longopts[i] = (struct option){c->opts[i].name,
                                      flag ? no_argument : required_argument,
                                      NULL, 256 + (int)i};
    }
    longopts[n] = (struct option){"json", no_argument, NULL, 'j'};
    longopts[n + 1] = (struct option){"help", no_argument, NULL, 'h'};
    longopts[n + 2] = (struct option){NULL, 0, NULL, 0};
}

/* Records option I of C with VALUE in A; COUNT counts its uses. */
static int
s_take_opt(const commands_entry_t *c, size_t i, const char *value,
           unsigned *count, commands_args_t *a)
{
    const commands_opt_t *o = &c->opts[i];
    if (o->kind != COMMANDS_OPT_REPEAT && count[i] > 0) {
        return s_usage(c, "--%s given twice", o->name);
    }
    count[i]++;
    if (o->kind == COMMANDS_OPT_FLAG) {
        a->flags |= 1u << i;
        return 0;
    }
    size_t k = 0;
    while (a->opts[k]) {
        k += 2;
    }
    if (k / 2 >= COMMANDS_VALUES_MAX) {
        return s_usage(c, "too many options");
    }
    a->opts[k] = o->name;
    a->opts[k + 1] = value;
    return 0;
}

/* Checks the options that must be there, and the positional count. */
static int
s_check_counts(const commands_entry_t *c, const unsigned *count,
               const commands_args_t *a)
{
    for (size_t i = 0; i < s_nopts(c); i++) {
        if (c->opts[i].kind == COMMANDS_OPT_REQUIRED && count[i] == 0) {
            return s_usage(c, "--%s is required", c->opts[i].name);
        }
    }
    if (a->nargs < c->min_args) {
        return s_usage(c, "missing arguments");
    }
    if (a->nargs > c->max_args) {
        return s_usage(c, "unexpected argument '%s'", a->args[c->max_args]);
    }
    return 0;
}

/* Parses ARGV (ARGV[0] is the command's last word) into A. Returns -1 when
 * it is fine to go on, else the exit code (0 after --help). */
static int
s_parse(commands_ctx_t *ctx, const commands_entry_t *c, int argc, char **argv,
        commands_args_t *a)
{
    struct option longopts[S_MAX_OPTS + 3];
    unsigned count[S_MAX_OPTS] = {0};
    s_longopts(c, longopts);
    optind = 0; /* GNU: start afresh, options may follow arguments */
    opterr = 0;
    int ch, rc = 0;
    while (rc == 0 &&
           (ch = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
        if (ch == 'j') {
            ctx->json = true;
        } else if (ch == 'h') {
            printf("usage: hoist %s\n  %s\n", c->usage, c->summary);
            return 0;
        } else if (ch >= 256) {
            rc = s_take_opt(c, (size_t)(ch - 256), optarg, count, a);
        } else {
            rc = s_usage(c,
                         ch == ':' ? "option '%s' needs a value"
                                   : "unknown option '%s'",
                         argv[optind - 1]);
        }
    }
    for (int i = optind; rc == 0 && i < argc; i++) {
        if (a->nargs == COMMANDS_ARGS_MAX) {
            return s_usage(c, "too many arguments");
        }
        a->args[a->nargs++] = argv[i];
    }
    if (rc == 0) {
        rc = s_check_counts(c, count, a);
    }
    return rc != 0 ? rc : -1;
}

int
commands_run(commands_ctx_t *ctx, const commands_entry_t *c, int argc,
             char **argv)
{
    commands_args_t a = {0};
    int rc = s_parse(ctx, c, argc, argv, &a);
    return rc >= 0 ? rc : c->fn(ctx, c, &a);
}

/* True when flag option NAME of C was given. */
static bool
s_flag(const commands_entry_t *c, const commands_args_t *a, const char *name)
{
    for (size_t i = 0; i < s_nopts(c); i++) {
        if (strcmp(c->opts[i].name, name) == 0) {
            return (a->flags >> i) & 1u;
        }
    }
    return false;
}

/* The value of option NAME in A, or NULL (the last one, if repeated). */
static const char *
s_opt(const commands_args_t *a, const char *name)
{
    const char *v = NULL;
    for (size_t k = 0; a->opts[k]; k += 2) {
        if (strcmp(a->opts[k], name) == 0) {
            v = a->opts[k + 1];
        }
    }
    return v;
}

/* ---- the connection ----------------------------------------------------- */

/* The client, made on first use from the config and --identity. NULL
 * with ERR when the config, the identity or the endpoint is wrong. */
static client_t *
s_client(commands_ctx_t *ctx, hoist_error_t *err)
{
    if (ctx->client) {
        return ctx->client;
    }
    config_t *cfg = config_find(ctx->config, err);
    zcert_t *cert = NULL;
    if (cfg && (!ctx->identity ||
                config_set_identity(cfg, ctx->identity, err) == HOIST_OK)) {
        cert = config_identity_load(config_identity(cfg), err);
    }
    if (cert) {
        ctx->client = client_new(config_controller(cfg), config_server_key(cfg),
                                 cert, err);
    }
    zcert_destroy(&cert);
    config_destroy(&cfg);
    return ctx->client;
}

void
commands_ctx_fini(commands_ctx_t *ctx)
{
    client_destroy(&ctx->client);
}

/* Sends C's request with ARGS, OPTS and DATA; sets *REPLY. Returns -1 when
 * a reply came, else the exit code of the error it printed. */
static int
s_ask(commands_ctx_t *ctx, const commands_entry_t *c, char *const *args,
      int nargs, const char *const *opts, const void *data, size_t len,
      client_reply_t **reply)
{
    hoist_error_t err = {0};
    client_t *client = s_client(ctx, &err);
    if (!client ||
        client_call(client, c->api, (const char *const *)args, (size_t)nargs,
                    opts, data, len, reply, &err) != HOIST_OK) {
        return output_error(&err);
    }
    return -1;
}

/* Sends one request and prints its reply; returns the exit code. */
static int
s_call(commands_ctx_t *ctx, const commands_entry_t *c, char *const *args,
       int nargs, const char *const *opts, const void *data, size_t len)
{
    client_reply_t *r = NULL;
    int rc = s_ask(ctx, c, args, nargs, opts, data, len, &r);
    if (rc < 0) {
        rc = output_reply(r, ctx->json);
    }
    client_reply_destroy(&r);
    return rc;
}

/* ---- remote commands ---------------------------------------------------- */

/* The positional arguments and named options go out as they are. */
static int
s_remote(commands_ctx_t *ctx, const commands_entry_t *self,
         const commands_args_t *a)
{
    return s_call(ctx, self, a->args, a->nargs, a->opts, NULL, 0);
}

/* "release list [APP]", "status [APP]", "deployments [APP]": the optional
 * APP is a filter, so it travels as option app (docs/protocol.md). */
static int
s_app_filter(commands_ctx_t *ctx, const commands_entry_t *self,
             const commands_args_t *a)
{
    const char *opts[] = {"app", a->nargs ? a->args[0] : NULL, NULL};
    return s_call(ctx, self, NULL, 0, a->nargs ? opts : NULL, NULL, 0);
}

/* A malformed --ttl is caught here, before it reaches the controller. */
static int
s_token_create(commands_ctx_t *ctx, const commands_entry_t *self,
               const commands_args_t *a)
{
    const char *ttl = s_opt(a, "ttl");
    uint64_t ms = 0;
    hoist_error_t err = {0};
    if (ttl && duration_parse(ttl, &ms, &err) != HOIST_OK) {
        return s_usage(self, "--ttl: %s", err.msg);
    }
    return s_remote(ctx, self, a);
}

/* The key file's text travels as data, after a local check that it is a
 * release key (a CURVE certificate or a secret key is a common mix-up). */
static int
s_trust_add(commands_ctx_t *ctx, const commands_entry_t *self,
            const commands_args_t *a)
{
    char *text = NULL;
    size_t len = 0;
    keys_public_t key;
    hoist_error_t err = {0};
    if (input_read(a->args[0], "public key", S_PUBKEY_MAX, &text, &len, &err) !=
            HOIST_OK ||
        keys_public_parse(text, &key, &err) != HOIST_OK) {
        error_prefix(&err,
                     "trust add %s (expected a PREFIX.pub made by "
                     "hoist keygen)",
                     a->args[0]);
        free(text);
        return output_error(&err);
    }
    int rc = s_call(ctx, self, NULL, 0, NULL, text, len);
    free(text);
    return rc;
}

/* Sends C's request and prints its reply; with WAIT, and when the reply
 * is a success, follows the deployment it names to its end (cli/watch)
 * and returns the deployment's outcome instead. */
static int
s_follow(commands_ctx_t *ctx, const commands_entry_t *c, char *const *args,
         int nargs, const char *const *opts, bool wait)
{
    client_reply_t *r = NULL;
    int rc = s_ask(ctx, c, args, nargs, opts, NULL, 0, &r);
    if (rc >= 0 || !wait || r->exit != 0) {
        rc = rc >= 0 ? rc : output_reply(r, ctx->json);
        client_reply_destroy(&r);
        return rc;
    }
    if (!ctx->json) {
        output_reply(r, false);
    }
    char id[WATCH_ID_MAX + 1];
    hoist_error_t err = {0};
    watch_opts_t o = {.json = ctx->json, .tty = isatty(1), .out = stdout};
    if (watch_id(r->json, id, &err) != HOIST_OK ||
        watch_deployment(ctx->client, id, &o, &rc, &err) != HOIST_OK) {
        rc = output_error(&err);
    }
    client_reply_destroy(&r);
    return rc;
}

/* True for a selector key's characters. */
static bool
s_only_key_ok(const char *key, size_t len)
{
    static const char ok[] = "abcdefghijklmnopqrstuvwxyz0123456789_-";
    return len > 0 && strspn(key, ok) >= len;
}

/* True for a selector value: not empty, no ',' or '=', no control
 * character. */
static bool
s_only_value_ok(const char *value, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)value[i];
        if (c == '=' || c < 0x20 || c == 0x7f) {
            return false;
        }
    }
    return len > 0;
}

/* Checks --only ONLY: comma-separated k=v terms, k of [a-z0-9_-], v
 * without ',' or '=', at most S_ONLY_MAX characters. Returns -1 when it
 * passes (or is absent), else 2 after naming the bad term: a selector
 * the controller would read as "no agent" must not start a deployment
 * that does nothing, nor one that does more than asked. */
static int
s_check_only(const commands_entry_t *self, const char *only)
{
    if (!only) {
        return -1;
    }
    size_t len = strlen(only);
    if (len == 0 || len > S_ONLY_MAX) {
        return s_usage(self,
                       "--only takes 1 to %d characters (like "
                       "role=web,site=fra1), not %zu",
                       S_ONLY_MAX, len);
    }
    for (const char *t = only;; t++) {
        size_t n = strcspn(t, ",");
        const char *eq = memchr(t, '=', n);
        size_t k = eq ? (size_t)(eq - t) : n;
        if (n == 0) {
            return s_usage(self,
                           "--only '%s' has an empty term (a comma too "
                           "many)",
                           only);
        }
        if (!eq || !s_only_key_ok(t, k) ||
            !s_only_value_ok(eq + 1, n - k - 1)) {
            return s_usage(self,
                           "--only: '%.*s' is not a k=v term (k of a-z, 0-9, "
                           "_ and -; v not empty, without ',', '=' or control "
                           "characters); "
                           "terms are separated by commas, as in "
                           "role=web,site=fra1",
                           (int)n, t);
        }
        t += n;
        if (*t == '\0') {
            return -1;
        }
    }
}

/* deploy and rollback: the reply names a deployment, which --wait then
 * follows to its end. --strategy travels as it is (the controller parses
 * it), --only after a check of its form. */
static int
s_deployment(commands_ctx_t *ctx, const commands_entry_t *self,
             const commands_args_t *a)
{
    int rc = s_check_only(self, s_opt(a, "only"));
    return rc >= 0 ? rc
                   : s_follow(ctx, self, a->args, a->nargs, a->opts,
                              s_flag(self, a, "wait"));
}

/* Copies A's value options into OUT (of 2 * COMMANDS_VALUES_MAX + 3) and
 * adds the flag FLAG (a wire option name, sent as "1") when ON: the table
 * sends value options under their own names, flags are the handler's. */
static void
s_opts_with_flag(const commands_args_t *a, const char *flag, bool on,
                 const char **out)
{
    size_t k = 0;
    for (; a->opts[k]; k += 2) {
        out[k] = a->opts[k];
        out[k + 1] = a->opts[k + 1];
    }
    if (on) {
        out[k++] = flag;
        out[k++] = "1";
    }
    out[k] = NULL;
}

/* deployment cancel: --rollback travels as option rollback=1. */
static int
s_cancel(commands_ctx_t *ctx, const commands_entry_t *self,
         const commands_args_t *a)
{
    const char *opts[2 * COMMANDS_VALUES_MAX + 3];
    s_opts_with_flag(a, "rollback", s_flag(self, a, "rollback"), opts);
    return s_call(ctx, self, a->args, a->nargs, opts, NULL, 0);
}

/* watch: what --wait does, for a deployment started elsewhere (another
 * terminal, a schedule, a CI job). */
static int
s_watch(commands_ctx_t *ctx, const commands_entry_t *self,
        const commands_args_t *a)
{
    const char *id = a->args[0];
    if (strlen(id) == 0 || strlen(id) > WATCH_ID_MAX) {
        return s_usage(self, "ID is a deployment's id, as hoist deployments "
                             "lists them");
    }
    hoist_error_t err = {0};
    int rc = 0;
    client_t *client = s_client(ctx, &err);
    watch_opts_t o = {.json = ctx->json, .tty = isatty(1), .out = stdout};
    if (!client || watch_deployment(client, id, &o, &rc, &err) != HOIST_OK) {
        rc = output_error(&err);
    }
    return rc;
}

/* True when TEXT is empty or only blanks. */
static bool
s_blank(const char *text)
{
    return text[strspn(text, " \t\r\n")] == '\0';
}

/* promote: the combinations that cannot mean anything are refused here;
 * the gates are the controller's. --wait follows the deployment as
 * deploy --wait does. */
static int
s_promote(commands_ctx_t *ctx, const commands_entry_t *self,
          const commands_args_t *a)
{
    bool wait = s_flag(self, a, "wait");
    bool override = s_flag(self, a, "override-freeze");
    const char *reason = s_opt(a, "reason");
    if (s_opt(a, "at") && wait) {
        return s_usage(self, "--wait follows a promotion that starts now; "
                             "one scheduled with --at shows in hoist "
                             "schedule list");
    }
    if (override && (!reason || s_blank(reason))) {
        return s_usage(self, "--override-freeze needs --reason TEXT: the "
                             "audit log records why the freeze was passed");
    }
    if (reason && !override) {
        return s_usage(self, "--reason goes with --override-freeze");
    }
    int rc = s_check_only(self, s_opt(a, "only"));
    if (rc >= 0) {
        return rc;
    }
    const char *opts[2 * COMMANDS_VALUES_MAX + 3];
    s_opts_with_flag(a, "override_freeze", override, opts);
    return s_follow(ctx, self, a->args, a->nargs, opts, wait);
}

/* ---- users -------------------------------------------------------------- */

/* True when ROLE is one of the five (controller/rbac.h). */
static bool
s_known_role(const char *role)
{
    static const char *const roles[] = {"admin",    "release-manager", "qa",
                                        "operator", "viewer",          NULL};
    for (size_t i = 0; roles[i]; i++) {
        if (strcmp(role, roles[i]) == 0) {
            return true;
        }
    }
    return false;
}

/* users add: the role is checked here, and only the public key of --key
 * travels (as Z85), even when the file given is the _secret one. */
static int
s_users_add(commands_ctx_t *ctx, const commands_entry_t *self,
            const commands_args_t *a)
{
    const char *role = s_opt(a, "role");
    if (!s_known_role(role)) {
        return s_usage(self,
                       "unknown role '%s': give admin, release-manager, qa, "
                       "operator or viewer",
                       role);
    }
    char key[CURVE_KEY_Z85_LEN + 1];
    hoist_error_t err = {0};
    if (userkey_read_public(s_opt(a, "key"), key, &err) != HOIST_OK) {
        return output_error(&err);
    }
    const char *env = s_opt(a, "env");
    const char *opts[] = {"role", role, "key", key, env ? "env" : NULL,
                          env,    NULL};
    return s_call(ctx, self, a->args, a->nargs, opts, NULL, 0);
}

/* ---- the pipeline file -------------------------------------------------- */

/* The base name of PATH, which names a regular file (no trailing '/'). */
static const char *
s_basename(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* Checks that PATH is a regular file of at most S_PIPELINE_MAX bytes,
 * before anything is sent. Returns -1 when it is, else 2 after saying
 * what is wrong. */
static int
s_check_pipeline_file(const char *path)
{
    struct stat st;
    hoist_error_t err = {0};
    if (stat(path, &st) != 0) {
        error_errno(&err, HOIST_ERR_USAGE, errno,
                    "apply: cannot read the pipeline file %s", path);
    } else if (S_ISDIR(st.st_mode)) {
        error_set(&err, HOIST_ERR_USAGE,
                  "apply: %s is a directory: give the pipeline file itself "
                  "(hoist export > pipeline.yml writes the one in force)",
                  path);
    } else if (!S_ISREG(st.st_mode)) {
        error_set(&err, HOIST_ERR_USAGE,
                  "apply: %s is not a regular file: give the pipeline file "
                  "itself, not a pipe or a device",
                  path);
    } else if (st.st_size > S_PIPELINE_MAX) {
        error_set(&err, HOIST_ERR_USAGE,
                  "apply: %s is %lld bytes; a pipeline file may have at most "
                  "%d (1 MiB)",
                  path, (long long)st.st_size, S_PIPELINE_MAX);
    } else {
        return -1;
    }
    return output_error(&err);
}

/* apply: the file's bytes as they are, and its name for the controller's
 * messages ("pipeline.yml:12: ..."); the controller validates it whole. */
static int
s_apply(commands_ctx_t *ctx, const commands_entry_t *self,
        const commands_args_t *a)
{
    const char *path = a->args[0];
    int rc = s_check_pipeline_file(path);
    if (rc >= 0) {
        return rc;
    }
    char *text = NULL;
    size_t len = 0;
    hoist_error_t err = {0};
    if (input_read(path, "pipeline file", S_PIPELINE_MAX, &text, &len, &err) !=
        HOIST_OK) {
        return output_error(&err);
    }
    const char *opts[] = {"name", s_basename(path), NULL};
    rc = s_call(ctx, self, NULL, 0, opts, text, len);
    free(text);
    return rc;
}

/* export: the reply's text is the file, printed byte for byte (no newline
 * added), so that hoist export > p.yml && hoist apply p.yml round-trips.
 * A full disk under the redirection is a failure, not a short file. */
static int
s_export(commands_ctx_t *ctx, const commands_entry_t *self,
         const commands_args_t *a)
{
    client_reply_t *r = NULL;
    int rc = s_ask(ctx, self, a->args, a->nargs, a->opts, NULL, 0, &r);
    if (rc >= 0) {
        return rc;
    }
    if (ctx->json || r->exit != 0) {
        rc = output_reply(r, ctx->json);
    } else if (fputs(r->text, stdout) == EOF || fflush(stdout) != 0) {
        hoist_error_t err = {0};
        error_errno(&err, HOIST_ERR_IO, errno,
                    "export: cannot write the pipeline file to stdout");
        rc = output_error(&err);
    } else {
        rc = 0;
    }
    client_reply_destroy(&r);
    return rc;
}

/* ---- audit -------------------------------------------------------------- */

/* True for "ID:HEX" as audit verify prints it: up to 19 digits, a colon,
 * 64 hex digits (controller/audit.h). */
static bool
s_audit_head_ok(const char *head)
{
    size_t digits = strspn(head, "0123456789");
    const char *hex = head + digits + 1;
    return digits >= 1 && digits <= 19 && head[digits] == ':' &&
           strlen(hex) == 64 && strspn(hex, "0123456789abcdefABCDEF") == 64;
}

/* audit verify: a mistyped --head would be reported by the controller as
 * a log that does not match it, which reads like tampering. */
static int
s_audit_verify(commands_ctx_t *ctx, const commands_entry_t *self,
               const commands_args_t *a)
{
    const char *head = s_opt(a, "head");
    if (head && !s_audit_head_ok(head)) {
        return s_usage(self,
                       "--head '%s' is not ID:HEX (the head an earlier hoist "
                       "audit verify printed, e.g. 42:followed by 64 hex "
                       "digits)",
                       head);
    }
    return s_remote(ctx, self, a);
}

/* drill run / failover: starts it, then (unless scheduled) follows
 * drill.show until it ends and prints its timeline; exit 0 only when it
 * succeeded. */
static int
s_drill(commands_ctx_t *ctx, const commands_entry_t *self,
        const commands_args_t *a)
{
    static const commands_entry_t show = {"drill show", NULL, NULL, NULL,
                                          "drill.show", 1,    1,    NULL};
    const char *opts[2 * COMMANDS_VALUES_MAX + 5];
    bool failover = strcmp(self->api, "failover") == 0;
    const char *with[2 * COMMANDS_VALUES_MAX + 5];
    s_opts_with_flag(a, "failback", !failover && s_flag(self, a, "failback"),
                     with);
    size_t k = 0;
    for (; with[k]; k++) {
        opts[k] = with[k];
    }
    if (!failover && s_flag(self, a, "sync")) {
        opts[k++] = "sync";
        opts[k++] = "1";
    }
    opts[k] = NULL;
    client_reply_t *r = NULL;
    int rc = s_ask(ctx, self, a->args, a->nargs, opts, NULL, 0, &r);
    if (rc >= 0) {
        return rc;
    }
    json_t *j = json_loads(r->json, 0, NULL);
    json_int_t id = json_integer_value(json_object_get(j, "drill"));
    bool scheduled = json_object_get(j, "at") != NULL;
    json_decref(j);
    if (r->exit != 0 || scheduled || id <= 0) {
        rc = output_reply(r, ctx->json);
        client_reply_destroy(&r);
        return rc;
    }
    if (!ctx->json) {
        output_reply(r, false);
    }
    client_reply_destroy(&r);
    char ids[32];
    snprintf(ids, sizeof ids, "%lld", (long long)id);
    char *args[] = {ids};
    for (;;) {
        rc = s_ask(ctx, &show, args, 1, NULL, NULL, 0, &r);
        if (rc >= 0) {
            return rc;
        }
        j = json_loads(r->json, 0, NULL);
        const char *st = json_string_value(json_object_get(j, "state"));
        bool done =
            r->exit != 0 || !st ||
            (strcmp(st, "running") != 0 && strcmp(st, "scheduled") != 0);
        bool ok = st && strcmp(st, "succeeded") == 0;
        json_decref(j);
        if (done) {
            rc = output_reply(r, ctx->json);
            client_reply_destroy(&r);
            return rc != 0 ? rc : ok ? 0 : 1;
        }
        client_reply_destroy(&r);
        usleep(200 * 1000);
    }
}

/* ---- variables ---------------------------------------------------------- */

/* Checks KEY with envname_check, the rule the controller and the agents
 * apply too. Returns -1 when it passes, else 2. */
static int
s_check_var_key(const commands_entry_t *self, const char *key)
{
    hoist_error_t err = {0};
    if (envname_check(key, &err) != HOIST_OK) {
        return s_usage(self, "KEY: %s", err.msg);
    }
    return -1;
}

/* The value of vars set: the argument, or stdin for "-". Sets *VALUE (a
 * copy, the caller's to wipe and free) and *LEN; returns -1, else the
 * exit code after saying what is wrong. */
static int
s_var_value(const commands_entry_t *self, const commands_args_t *a, bool secret,
            char **value, size_t *len)
{
    hoist_error_t err = {0};
    if (strcmp(a->args[2], "-") == 0) {
        char prompt[256];
        snprintf(prompt, sizeof prompt,
                 "value of %.64s for %.64s in %.64s: ", a->args[1], a->args[0],
                 s_opt(a, "env"));
        if (input_read_stdin(prompt, secret, S_VAR_VALUE_MAX, value, len,
                             &err) != HOIST_OK) {
            return output_error(&err);
        }
    } else if (!(*value = strdup(a->args[2]))) {
        error_set(&err, HOIST_ERR_NOMEM, "out of memory");
        return output_error(&err);
    } else {
        *len = strlen(*value);
    }
    if (*len > S_VAR_VALUE_MAX || memchr(*value, '\0', *len)) {
        bool big = *len > S_VAR_VALUE_MAX;
        sodium_memzero(*value, *len);
        free(*value);
        *value = NULL;
        return big ? s_usage(self, "the value is over %d bytes",
                             S_VAR_VALUE_MAX)
                   : s_usage(self, "the value holds a NUL byte, which an "
                                   "environment variable cannot");
    }
    return -1;
}

/* vars set: APP and KEY as arguments, the value as data (so that it is
 * never an option the controller might log), secret=1 for --secret. */
static int
s_vars_set(commands_ctx_t *ctx, const commands_entry_t *self,
           const commands_args_t *a)
{
    int rc = s_check_var_key(self, a->args[1]);
    if (rc >= 0) {
        return rc;
    }
    bool secret = s_flag(self, a, "secret");
    char *value = NULL;
    size_t len = 0;
    if ((rc = s_var_value(self, a, secret, &value, &len)) >= 0) {
        return rc;
    }
    const char *opts[2 * COMMANDS_VALUES_MAX + 3];
    s_opts_with_flag(a, "secret", secret, opts);
    rc = s_call(ctx, self, a->args, 2, opts, value, len);
    sodium_memzero(value, len);
    free(value);
    return rc;
}

/* vars unset: the same KEY check as vars set, so a typo is named here. */
static int
s_vars_unset(commands_ctx_t *ctx, const commands_entry_t *self,
             const commands_args_t *a)
{
    int rc = s_check_var_key(self, a->args[1]);
    return rc >= 0 ? rc : s_remote(ctx, self, a);
}

/* ---- release create ----------------------------------------------------- */

/* Reads an offline manifest and checks it against the command line. */
static hoist_err_t
s_offline_manifest(const commands_args_t *a, signing_result_t *s,
                   hoist_error_t *err)
{
    struct stat st;
    char *buf = NULL;
    hoist_err_t rc =
        input_read(s_opt(a, "manifest"), "manifest", MANIFEST_MAX_BYTES, &buf,
                   &s->manifest_len, err);
    s->manifest = (uint8_t *)buf;
    if (rc == HOIST_OK && stat(a->args[2], &st) != 0) {
        rc = error_errno(err, HOIST_ERR_USAGE, errno,
                         "cannot read the artifact %s", a->args[2]);
    }
    if (rc == HOIST_OK) {
        rc = signing_check_manifest(s->manifest, s->manifest_len, a->args[0],
                                    a->args[1], (uint64_t)st.st_size,
                                    s_opt(a, "notes") != NULL, err);
    }
    if (rc == HOIST_OK && s_opt(a, "notes")) {
        rc = signing_read_notes(s_opt(a, "notes"), &s->notes, &s->notes_len,
                                err);
    }
    return rc;
}

/* Signs with --sign-key, as release sign does. */
static hoist_err_t
s_sign_now(const commands_args_t *a, signing_result_t *s, bool quiet,
           hoist_error_t *err)
{
    signing_args_t sa = {
        .app = a->args[0], .version = a->args[1], .artifact = a->args[2]};
    hoist_err_t rc = HOIST_OK;
    for (size_t k = 0; rc == HOIST_OK && a->opts[k]; k += 2) {
        rc = signing_option(&sa, a->opts[k], a->opts[k + 1], err);
    }
    if (rc == HOIST_OK) {
        rc = signing_sign(&sa, s, err);
    }
    if (rc == HOIST_OK && !quiet) {
        printf("signed %s %s (sequence %llu, %llu bytes, blake2b-256 %s) "
               "with key %s\n",
               sa.app, sa.version, (unsigned long long)s->sequence,
               (unsigned long long)s->artifact_size, s->digest_hex,
               s->key_id_hex);
        fflush(stdout);
    }
    return rc;
}

/* Either --sign-key (with its companions) or --manifest, not both. */
static int
s_create_check(const commands_entry_t *self, const commands_args_t *a)
{
    bool key = s_opt(a, "sign-key"), manifest = s_opt(a, "manifest");
    if (key == manifest) {
        return s_usage(self, "give --sign-key PREFIX to sign here, or "
                             "--manifest FILE from hoist release sign");
    }
    if (manifest && (s_opt(a, "sequence") || s_opt(a, "env"))) {
        return s_usage(self, "--sequence and --env are signed into the "
                             "manifest: give them to hoist release sign");
    }
    return -1;
}

/* release create: sign (or take --manifest), then upload the artifact in
 * chunks (cli/upload); prints release.commit's reply. */
static int
s_release_create(commands_ctx_t *ctx, const commands_entry_t *self,
                 const commands_args_t *a)
{
    int rc = s_create_check(self, a);
    if (rc >= 0) {
        return rc;
    }
    hoist_error_t err = {0};
    signing_result_t s = {0};
    client_reply_t *r = NULL;
    client_t *client = s_client(ctx, &err);
    if (!client ||
        (s_opt(a, "manifest")
             ? s_offline_manifest(a, &s, &err)
             : s_sign_now(a, &s, ctx->json, &err)) != HOIST_OK ||
        upload_release(client, s.manifest, s.manifest_len, s.notes,
                       s_opt(a, "lifecycle"), a->args[2],
                       isatty(2) && !ctx->json, &r, &err) != HOIST_OK) {
        rc = output_error(&err);
    } else {
        rc = output_reply(r, ctx->json);
    }
    client_reply_destroy(&r);
    signing_result_free(&s);
    return rc;
}

/* ---- local commands ----------------------------------------------------- */

/* keygen --user: a CURVE user key pair, and what to do with it. */
static int
s_keygen_user(commands_ctx_t *ctx, const char *out)
{
    char key[CURVE_KEY_Z85_LEN + 1];
    hoist_error_t err = {0};
    if (userkey_generate(out, key, &err) != HOIST_OK) {
        return output_error(&err);
    }
    if (ctx->json) {
        char *secret = NULL;
        json_t *doc =
            asprintf(&secret, "%s%s", out, CONFIG_SECRET_TAIL) < 0
                ? NULL
                : json_pack("{s:s, s:s, s:s}", "public_key", key, "public_file",
                            out, "secret_file", secret);
        free(secret);
        char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
        printf("%s\n", text ? text : "{}");
        free(text);
        json_decref(doc);
        return 0;
    }
    printf("wrote %s (public) and %s%s (secret, mode 0600)\n"
           "public key: %s\n"
           "give %s (never the _secret file) to an admin, who runs:\n"
           "  hoist users add NAME --role ROLE --key %s\n"
           "then connect with: hoist --identity %s COMMAND "
           "(or identity: %s in cli.conf)\n",
           out, out, CONFIG_SECRET_TAIL, key, out, out, out, out);
    return 0;
}

/* keygen: a release-signing key pair, made here and never sent; with
 * --user, a user's CURVE key pair. */
static int
s_keygen(commands_ctx_t *ctx, const commands_entry_t *self,
         const commands_args_t *a)
{
    const char *out = s_opt(a, "out");
    if (s_flag(self, a, "user")) {
        return s_keygen_user(ctx, out);
    }
    hoist_error_t err = {0};
    if (keys_generate(out, &err) != HOIST_OK) {
        return output_error(&err);
    }
    printf("wrote %s.key (secret, mode 0600) and %s.pub\n", out, out);
    return 0;
}

/* release sign: the manifest, signed offline into --out, for a later
 * release create --manifest (a CI job that holds the key). */
static int
s_release_sign(commands_ctx_t *ctx, const commands_entry_t *self,
               const commands_args_t *a)
{
    signing_args_t sa = {
        .app = a->args[0], .version = a->args[1], .artifact = a->args[2]};
    signing_result_t s = {0};
    hoist_error_t err = {0};
    const char *out = s_opt(a, "out");
    int rc = 0;
    hoist_err_t e = HOIST_OK;
    for (size_t k = 0; e == HOIST_OK && a->opts[k]; k += 2) {
        e = signing_option(&sa, a->opts[k], a->opts[k + 1], &err);
    }
    if (e != HOIST_OK || signing_sign(&sa, &s, &err) != HOIST_OK ||
        atomicfile_write(out, s.manifest, s.manifest_len, 0644, &err) !=
            HOIST_OK) {
        rc = output_error(&err);
    } else {
        printf("signed %s %s (sequence %llu, %llu bytes, blake2b-256 %s) "
               "with key %s into %s\n",
               sa.app, sa.version, (unsigned long long)s.sequence,
               (unsigned long long)s.artifact_size, s.digest_hex, s.key_id_hex,
               out);
    }
    signing_result_free(&s);
    return rc;
}
