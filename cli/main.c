/*
 * hoist: the command line of operators, release managers and CI jobs.
 * Parses the global flags and the command words and hands over to the
 * command table.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <czmq.h>

#include "commands.h"

/* Takes a global flag's value: "--config FILE" or "--config=FILE". Returns
 * the value and advances *I past it, or NULL when ARGV[*I] is not NAME. */
static const char *
s_value(int argc, char **argv, int *i, const char *name, bool *missing)
{
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n) != 0) {
        return NULL;
    }
    if (argv[*i][n] == '=') {
        return argv[*i] + n + 1;
    }
    if (argv[*i][n] != '\0') {
        return NULL;
    }
    if (*i + 1 >= argc) {
        *missing = true;
        return NULL;
    }
    return argv[++*i];
}

/* Reads the global flags before the command into CTX. Returns the index
 * of the command's first word, 0 for --help, or -1 after printing what is
 * wrong. */
static int
s_globals(int argc, char **argv, commands_ctx_t *ctx)
{
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        bool missing = false;
        const char *v;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            return 0;
        } else if (strcmp(argv[i], "--json") == 0) {
            ctx->json = true;
        } else if ((v = s_value(argc, argv, &i, "--config", &missing))) {
            ctx->config = v;
        } else if ((v = s_value(argc, argv, &i, "--identity", &missing))) {
            ctx->identity = v;
        } else {
            fprintf(stderr, "hoist: %s '%s'\n",
                    missing ? "a value is missing after" : "unknown flag",
                    argv[i]);
            return -1;
        }
    }
    return i;
}

int
main(int argc, char **argv)
{
    /* A CLI is stopped by Ctrl-C like any other program: czmq's handler
     * would only make the next receive return early. */
    zsys_handler_set(NULL);
    /* czmq logs to stdout, where it would corrupt --json and export
     * output; and its parser's complaints quote the offending line, which
     * in a malformed _secret file may be the key. hoist reports every
     * failure itself. */
    zsys_set_logstream(NULL);
    commands_ctx_t ctx = {0};
    if (argc == 2 && strcmp(argv[1], "--version") == 0) {
        printf("hoist %s\n", HOIST_VERSION);
        return 0;
    }
    int first = s_globals(argc, argv, &ctx);
    if (first == 0 ||
        (first > 0 && first < argc && strcmp(argv[first], "help") == 0)) {
        commands_usage(stdout);
        return 0;
    }
    int nwords = 0;
    const commands_entry_t *c =
        first > 0 ? commands_find(argc - first, argv + first, &nwords) : NULL;
    if (!c) {
        if (first > 0 && first < argc) {
            fprintf(stderr, "hoist: unknown command '%s'\n", argv[first]);
        } else if (first > 0) {
            fprintf(stderr, "hoist: no command given\n");
        }
        commands_usage(stderr);
        return 2;
    }
    /* The handler sees its last word as argv[0], then its arguments. */
    int first_arg = first + nwords - 1;
    int rc = commands_run(&ctx, c, argc - first_arg, argv + first_arg);
    commands_ctx_fini(&ctx);
    return rc;
}
