/*
 * commands: see commands.h. Exit codes follow DESIGN.md: 0 done, 1 failed,
 * 2 usage or bad input, 3 refused by authorization, 4 refused by a gate.
 */
#include "commands.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "atomicfile.h"
#include "digest.h"
#include "keys.h"
#include "manifest.h"

static int s_keygen(int argc, char **argv);
static int s_release_sign(int argc, char **argv);

static const commands_entry_t s_table[] = {
    {"keygen", 1, s_keygen, "keygen --out PREFIX",
     "make a release-signing key pair PREFIX.key / PREFIX.pub"},
    {"release sign", 2, s_release_sign,
     "release sign APP VERSION ARTIFACT --sign-key PREFIX [--sequence N] "
     "[--env ENV]... [--notes FILE] --out MANIFEST",
     "sign a release offline, as a CI job does"},
};

#define NCOMMANDS (sizeof s_table / sizeof *s_table)

const commands_entry_t *
commands_find(int argc, char **argv)
{
    for (size_t i = 0; i < NCOMMANDS; i++) {
        const commands_entry_t *c = &s_table[i];
        if (argc < c->nwords) {
            continue;
        }
        char words[64] = "";
        for (int w = 0; w < c->nwords; w++) {
            strncat(words, argv[w], sizeof words - strlen(words) - 2);
            if (w + 1 < c->nwords) {
                strcat(words, " ");
            }
        }
        if (strcmp(words, c->words) == 0) {
            return c;
        }
    }
    return NULL;
}

void
commands_usage(void)
{
    fprintf(stderr, "usage: hoist COMMAND\n");
    for (size_t i = 0; i < NCOMMANDS; i++) {
        fprintf(stderr, "  %-60s %s\n", s_table[i].usage, s_table[i].summary);
    }
}

static int __attribute__((format(printf, 2, 3)))
s_usage(const char *words, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "hoist: ");
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    for (size_t i = 0; i < NCOMMANDS; i++) {
        if (strcmp(s_table[i].words, words) == 0) {
            fprintf(stderr, "\nusage: hoist %s\n", s_table[i].usage);
        }
    }
    return 2;
}

static int
s_fail(const hoist_error_t *err)
{
    fprintf(stderr, "hoist: %s\n", err->msg);
    return error_exit_code(err->code);
}

static int
s_keygen(int argc, char **argv)
{
    static const struct option opts[] = {{"out", required_argument, NULL, 'o'},
                                         {NULL, 0, NULL, 0}};
    const char *out = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c != 'o') {
            return s_usage("keygen", "unknown option");
        }
        out = optarg;
    }
    if (!out || optind != argc) {
        return s_usage("keygen", "keygen needs --out PREFIX");
    }
    hoist_error_t err = {0};
    if (keys_generate(out, &err) != HOIST_OK) {
        return s_fail(&err);
    }
    printf("wrote %s.key (secret, mode 0600) and %s.pub\n", out, out);
    return 0;
}

typedef struct {
    const char *key, *notes, *out;
    const char *envs[MANIFEST_ENVS_MAX];
    size_t n_envs;
    unsigned long long sequence;
    int has_sequence;
} sign_args_t;

static int
s_sign_options(int argc, char **argv, sign_args_t *a)
{
    static const struct option opts[] = {
        {"sign-key", required_argument, NULL, 'k'},
        {"sequence", required_argument, NULL, 's'},
        {"env", required_argument, NULL, 'e'},
        {"notes", required_argument, NULL, 'n'},
        {"out", required_argument, NULL, 'o'},
        {NULL, 0, NULL, 0}};
    const char *me = "release sign";
    int c;
    char *end;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'k':
            a->key = optarg;
            break;
        case 'n':
            a->notes = optarg;
            break;
        case 'o':
            a->out = optarg;
            break;
        case 'e':
            if (a->n_envs == MANIFEST_ENVS_MAX) {
                return s_usage(me, "too many --env");
            }
            a->envs[a->n_envs++] = optarg;
            break;
        case 's':
            errno = 0;
            a->sequence = strtoull(optarg, &end, 10);
            if (errno || *end || optarg[0] == '-' || !optarg[0]) {
                return s_usage(me, "--sequence takes a number, not '%s'",
                               optarg);
            }
            a->has_sequence = 1;
            break;
        default:
            return s_usage(me, "unknown option");
        }
    }
    if (argc - optind != 3 || !a->key || !a->out) {
        return s_usage(me,
                       "release sign needs APP VERSION ARTIFACT, --sign-key "
                       "and --out");
    }
    return 0;
}

/* Hashes the file at PATH into D and its size into SIZE. */
static hoist_err_t
s_hash_file(const char *path, uint8_t d[DIGEST_BYTES], uint64_t *size,
            hoist_error_t *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return error_errno(err, HOIST_ERR_USAGE, errno, "open %s", path);
    }
    hoist_err_t rc = digest_fd(fd, d, size, err);
    close(fd);
    return rc;
}

static int
s_release_sign(int argc, char **argv)
{
    sign_args_t a = {0};
    int rc = s_sign_options(argc, argv, &a);
    if (rc != 0) {
        return rc;
    }
    manifest_fields_t f = {.app = argv[optind],
                           .version = argv[optind + 1],
                           .envs = a.envs,
                           .n_envs = a.n_envs,
                           .created_at = (int64_t)time(NULL)};
    /* Without --sequence the creation time orders builds: monotonic as
     * long as the signer's clock is. CI should pass its build number. */
    f.sequence = a.has_sequence ? a.sequence : (uint64_t)f.created_at;
    hoist_error_t err = {0};
    char keypath[4096];
    snprintf(keypath, sizeof keypath, "%s.key", a.key);
    keys_secret_t *sk = NULL;
    uint8_t *out = NULL;
    size_t len = 0;
    if (!manifest_name_valid(f.app) || !manifest_version_valid(f.version)) {
        return s_usage("release sign",
                       "'%s %s' is not a valid app name and version: apps "
                       "use a-z 0-9 - _, versions A-Z a-z 0-9 . _ + -",
                       f.app, f.version);
    }
    if (s_hash_file(argv[optind + 2], f.artifact_digest, &f.artifact_size,
                    &err) != HOIST_OK ||
        (a.notes && s_hash_file(a.notes, f.notes_digest, &(uint64_t){0},
                                &err) != HOIST_OK) ||
        !(sk = keys_secret_load(keypath, &err)) ||
        (f.has_notes = a.notes != NULL,
         manifest_sign(&f, sk, &out, &len, &err)) != HOIST_OK ||
        atomicfile_write(a.out, out, len, 0644, &err) != HOIST_OK) {
        rc = s_fail(&err);
    } else {
        char id[KEYS_ID_HEX_LEN], hex[DIGEST_HEX_LEN];
        printf("signed %s %s (sequence %llu, %llu bytes, blake2b-256 %s) "
               "with key %s into %s\n",
               f.app, f.version, (unsigned long long)f.sequence,
               (unsigned long long)f.artifact_size,
               digest_hex(f.artifact_digest, hex),
               keys_id_hex(keys_secret_public(sk)->id, id), a.out);
    }
    keys_secret_destroy(&sk);
    free(out);
    return rc;
}
