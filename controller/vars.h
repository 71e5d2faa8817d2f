/*
 * vars: `hoist vars set|list|unset`, the variables an app's hooks get in
 * one environment. They travel with every deploy order to the agents of
 * that environment (hub.c attaches them), which hand them to the hooks as
 * environment variables and write them to RELEASE/.hoist/env.
 *
 * A secret (`--secret`) is sealed at once to every accepted agent of the
 * environment, one libsodium sealed box per agent (seal.h), and only the
 * boxes are stored: the controller keeps no clear copy and cannot decrypt
 * what it keeps. An agent accepted later has no box for a secret set
 * before; its deploy is refused, naming the secret, until someone sets
 * the secret again. The value arrives as the request's data, never as an
 * option, so the audit log (which records arguments and options) never
 * sees it; replies, logs and `vars list` never show a secret's value.
 */
#ifndef HOIST_VARS_H
#define HOIST_VARS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "call.h"
#include "envname.h"
#include "error.h"

#define VARS_KEY_MAX ENVNAME_MAX /* characters of a variable's name */
/* Variables of one app in one environment: what one DeployOrder carries
 * (the agent refuses an order with more). */
#define VARS_MAX 256
/* Their names and values (a secret's as its box) together, so that a
 * deploy order stays well within one envelope (ENVELOPE_MAX_BYTES). */
#define VARS_BYTES_MAX (512 * 1024)

/* vars.set, vars.list, vars.unset. */
extern const call_command_t vars_commands[];

/* HOIST_OK when KEY may name a variable: [A-Z_][A-Z0-9_]{0,63} and not
 * starting with HOIST_, which would shadow the hooks' own variables.
 * HOIST_ERR_USAGE with a sentence naming the rule otherwise. Pure. */
hoist_err_t vars_check_key(const char *key, hoist_error_t *err);

/* HOIST_OK when the LEN bytes of VALUE may be a variable's value: at most
 * STORE_VAR_VALUE_MAX bytes (HOIST_ERR_LIMIT), no NUL byte, and for a
 * plain variable (which `vars list --json` shows) valid UTF-8
 * (HOIST_ERR_USAGE). The message never quotes the value. Pure. */
hoist_err_t vars_check_value(const uint8_t *value, size_t len, bool secret,
                             hoist_error_t *err);

#endif
