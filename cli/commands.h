/*
 * commands: the hoist CLI's command table. Each command has its words
 * ("release sign"), a handler, its usage line and summary, the controller
 * command it maps to (docs/protocol.md), how many positional arguments it
 * takes and its named options. Help and argument checks come from the
 * table; handlers see their arguments already checked.
 */
#ifndef HOIST_COMMANDS_H
#define HOIST_COMMANDS_H

#include <stdbool.h>
#include <stdio.h>

#include "client.h"

#define COMMANDS_ARGS_MAX   4  /* positional arguments of one command */
#define COMMANDS_VALUES_MAX 80 /* option values: --env may repeat 64 times */

/* The global flags, and the connection made on first use. */
typedef struct {
    const char *config;   /* --config FILE, or NULL */
    const char *identity; /* --identity PATH, or NULL */
    bool json;            /* --json */
    client_t *client;     /* made by the first remote command */
} commands_ctx_t;

typedef enum {
    COMMANDS_OPT_VALUE,    /* --name VALUE, at most once */
    COMMANDS_OPT_REQUIRED, /* --name VALUE, exactly once */
    COMMANDS_OPT_REPEAT,   /* --name VALUE, any number of times */
    COMMANDS_OPT_FLAG      /* --name */
} commands_opt_kind_t;

/* A named option. For remote commands, a value option is sent under its
 * own name ("--env dev" is option env=dev). */
typedef struct {
    const char *name;
    commands_opt_kind_t kind;
} commands_opt_t;

typedef struct commands_entry commands_entry_t;

/* What a handler sees, after the table's checks. */
typedef struct {
    char *args[COMMANDS_ARGS_MAX]; /* positional arguments */
    int nargs;
    const char *opts[2 * COMMANDS_VALUES_MAX + 1]; /* name, value, ..., NULL */
    unsigned flags; /* bit i: flag option i was given */
} commands_args_t;

typedef int (*commands_fn)(commands_ctx_t *ctx, const commands_entry_t *self,
                           const commands_args_t *a);

struct commands_entry {
    const char *words; /* "keygen", "release sign" */
    commands_fn fn;
    const char *usage;
    const char *summary;
    const char *api; /* the controller's command; NULL for local ones */
    int min_args, max_args;
    const commands_opt_t *opts; /* ends with {NULL}; NULL for none */
};

/* The entry whose words start ARGV, the longest such (so "agents accept"
 * wins over "agents"), or NULL. *NWORDS gets its number of words. */
const commands_entry_t *commands_find(int argc, char **argv, int *nwords);

/* Prints the synopsis and every command's usage and summary to F. */
void commands_usage(FILE *f);

/* Checks ARGV (the words after the command's own) against C's table
 * entry and runs C's handler. Returns the process exit code: the reply's,
 * or 2 for a usage error, and so on (DESIGN.md). */
int commands_run(commands_ctx_t *ctx, const commands_entry_t *c, int argc,
                 char **argv);

/* Closes the connection, if one was made. */
void commands_ctx_fini(commands_ctx_t *ctx);

#endif
