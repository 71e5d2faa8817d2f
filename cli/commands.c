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
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomicfile.h"
#include "config.h"
#include "duration.h"
#include "input.h"
#include "keys.h"
#include "output.h"
#include "signing.h"
#include "upload.h"
#include "watch.h"

#define S_MAX_OPTS   8    /* named options of one command */
#define S_PUBKEY_MAX 4096 /* a release key's .pub file */
#define S_WORDS_MAX  64   /* "release create" and its kind */

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

/* ---- the table ---------------------------------------------------------- */

#define V COMMANDS_OPT_VALUE
#define R COMMANDS_OPT_REQUIRED
#define M COMMANDS_OPT_REPEAT
#define F COMMANDS_OPT_FLAG

static const commands_opt_t o_keygen[] = {{"out", R}, {NULL, 0}};
static const commands_opt_t o_sign[] = {{"sign-key", R}, {"sequence", V},
                                        {"env", M},      {"notes", V},
                                        {"out", R},      {NULL, 0}};
static const commands_opt_t o_create[] = {{"sign-key", V}, {"sequence", V},
                                          {"env", M},      {"manifest", V},
                                          {"notes", V},    {NULL, 0}};
static const commands_opt_t o_env[] = {{"env", V}, {NULL, 0}};
static const commands_opt_t o_token[] = {{"env", R}, {"ttl", V}, {NULL, 0}};
static const commands_opt_t o_deploy[] = {{"env", R}, {"wait", F}, {NULL, 0}};
static const commands_opt_t o_rollback[] = {
    {"env", R}, {"to", V}, {"wait", F}, {NULL, 0}};
static const commands_opt_t o_logs[] = {{"agent", V}, {NULL, 0}};

static const commands_entry_t s_table[] = {
    {"keygen", s_keygen, "keygen --out PREFIX",
     "make a release-signing key pair PREFIX.key / PREFIX.pub", NULL, 0, 0,
     o_keygen},
    {"release sign", s_release_sign,
     "release sign APP VERSION ARTIFACT --sign-key PREFIX [--sequence N] "
     "[--env ENV]... [--notes FILE] --out MANIFEST",
     "sign a release offline, as a CI job does", NULL, 3, 3, o_sign},
    {"release create", s_release_create,
     "release create APP VERSION ARTIFACT (--sign-key PREFIX [--sequence N] "
     "[--env ENV]... | --manifest FILE) [--notes FILE]",
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
    {"deploy", s_deployment, "deploy APP VERSION --env ENV [--wait]",
     "deploy a release to every accepted agent of ENV", "deploy", 2, 2,
     o_deploy},
    {"rollback", s_deployment, "rollback APP --env ENV [--to VERSION] [--wait]",
     "put the previous (or a kept) release back in ENV", "rollback", 1, 1,
     o_rollback},
    {"status", s_app_filter, "status [APP]",
     "environment x app: version, agents ok/total", "status", 0, 1, NULL},
    {"deployments", s_app_filter, "deployments [APP]", "recent deployments",
     "deployments", 0, 1, NULL},
    {"deployment show", s_remote, "deployment show ID",
     "one deployment and its per-agent tasks", "deployment.show", 1, 1, NULL},
    {"logs", s_remote, "logs ID [--agent NAME]",
     "what the agents reported for a deployment (hook output)", "logs", 1, 1,
     o_logs},
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
    fprintf(f, "usage: hoist [--config FILE] [--json] [--identity PATH] "
               "COMMAND\n"
               "(the config also comes from $HOIST_CONFIG, else "
               "~/.config/hoist/cli.conf)\n\n");
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

/* deploy and rollback: the reply names a deployment, which --wait then
 * follows to its end. */
static int
s_deployment(commands_ctx_t *ctx, const commands_entry_t *self,
             const commands_args_t *a)
{
    client_reply_t *r = NULL;
    int rc = s_ask(ctx, self, a->args, a->nargs, a->opts, NULL, 0, &r);
    if (rc >= 0 || !s_flag(self, a, "wait") || r->exit != 0) {
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
        upload_release(client, s.manifest, s.manifest_len, s.notes, a->args[2],
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

/* keygen: a release-signing key pair, made here and never sent. */
static int
s_keygen(commands_ctx_t *ctx, const commands_entry_t *self,
         const commands_args_t *a)
{
    const char *out = s_opt(a, "out");
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
