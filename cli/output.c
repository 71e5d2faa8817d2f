/*
 * output: see output.h.
 */
#include "output.h"

#include <stdio.h>
#include <string.h>

/* Prints TEXT to F, ending it with a newline when it has none. */
static void
s_print(FILE *f, const char *prefix, const char *text)
{
    size_t n = strlen(text);
    if (n == 0) {
        return;
    }
    fprintf(f, "%s%s%s", prefix, text, text[n - 1] == '\n' ? "" : "\n");
}

int
output_reply(const client_reply_t *r, bool json)
{
    int code = r->exit >= 0 && r->exit <= 125 ? r->exit : 1;
    if (json) {
        /* One document, always: an empty one would break `| jq`. */
        s_print(stdout, "", r->json[0] ? r->json : "{}");
    }
    if (code == 0 && !json) {
        s_print(stdout, "", r->text);
    } else if (code != 0) {
        s_print(stderr, "hoist: ", r->text);
    }
    fflush(stdout);
    return code;
}

int
output_error(const hoist_error_t *err)
{
    fprintf(stderr, "hoist: %s\n", err->msg);
    return error_exit_code(err->code);
}
