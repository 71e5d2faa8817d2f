/*
 * output: how `hoist` shows what the controller answered and what went
 * wrong. A reply's text goes to stdout when it succeeded and to stderr
 * otherwise; with --json, stdout gets exactly the reply's JSON document
 * (and the text, when the reply failed, still goes to stderr for the
 * person watching). The exit code is the reply's.
 */
#ifndef HOIST_OUTPUT_H
#define HOIST_OUTPUT_H

#include <stdbool.h>

#include "client.h"
#include "error.h"

/* Prints R as above and returns its exit code (one outside 0..125 is
 * taken as 1, since shells read higher codes as signals). */
int output_reply(const client_reply_t *r, bool json);

/* Prints "hoist: MESSAGE" on stderr and returns the exit code of ERR's
 * code (DESIGN.md: 2 bad input, 3 refused, 1 failed). */
int output_error(const hoist_error_t *err);

#endif
