/*
 * commands: the hoist CLI's command table. Each command has its words
 * ("release sign"), a handler, and its usage line; help and argument
 * checks come from the table.
 */
#ifndef HOIST_COMMANDS_H
#define HOIST_COMMANDS_H

typedef struct {
    const char *words; /* "keygen", "release sign" */
    int nwords;
    int (*fn)(int argc, char **argv); /* argv[0] is the last word */
    const char *usage;
    const char *summary;
} commands_entry_t;

/* The entry whose words start ARGV, or NULL. */
const commands_entry_t *commands_find(int argc, char **argv);

/* Prints every command's usage to stderr. */
void commands_usage(void);

#endif
