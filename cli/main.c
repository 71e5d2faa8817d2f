/*
 * hoist: the command line of operators, release managers and CI jobs.
 * Parses the command words and hands over to the command table.
 */
#include <stdio.h>
#include <string.h>

#include "commands.h"

int
main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "help") == 0) {
        commands_usage();
        return argc < 2 ? 2 : 0;
    }
    const commands_entry_t *c = commands_find(argc - 1, argv + 1);
    if (!c) {
        fprintf(stderr, "hoist: unknown command '%s'\n", argv[1]);
        commands_usage();
        return 2;
    }
    /* The handler sees its last word as argv[0], then its arguments. */
    return c->fn(argc - c->nwords, argv + c->nwords);
}
