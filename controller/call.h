/*
 * call: one API request being answered, and the helpers every command
 * handler writes its reply with. The API module (api.c) receives the
 * request, finds the command in the tables of the modules that serve
 * commands (api.c itself, policy, promotion, ledger, ...), checks the
 * caller's role, runs the handler and sends the reply; handlers only fill
 * the call: an exit code, text for a person, one JSON document.
 */
#ifndef HOIST_CALL_H
#define HOIST_CALL_H

#include <czmq.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "controller.h"
#include "error.h"
#include "rbac.h"
#include "store.h"
#include "wire.pb-c.h"

typedef struct call {
    controller_t *ctl;
    const Hoist__ApiRequest *req; /* NULL for a call the controller makes
                                     itself (a scheduled promotion) */
    store_user_t user;            /* the caller */
    int exit;
    char *text;
    size_t text_len;
    FILE *out; /* writes into text */
    json_t *json;
    uint64_t id;       /* the request's envelope id */
    zframe_t *routing; /* the client's, for deferred replies */
    bool deferred;     /* answered later (uploads) */
} call_t;

/* A command: its wire name, handler, number of positional arguments
 * (SIZE_MAX: any), the action rbac checks, the option holding the
 * environment it touches (NULL: none, or the handler finds it), usage,
 * and whether it only reads (a read that succeeds is not audited). */
typedef struct {
    const char *name;
    int (*fn)(call_t *c);
    size_t nargs;
    rbac_action_t action;
    const char *env_opt;
    const char *usage;
    bool reads;
} call_command_t;

/* Starts a call of CTL by USER (copied; NULL for none yet). False when
 * out of memory. */
bool call_init(call_t *c, controller_t *ctl, const store_user_t *user);

/* Frees what call_init made (the reply must have been taken). */
void call_fini(call_t *c);

/* Flushes the text written so far; call before reading c->text. */
void call_flush(call_t *c);

/* Appends to the reply's text. Returns 0. */
int call_say(call_t *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Fails the call with ERR: its exit code, its message in the text and in
 * the JSON ("error", "code"). Returns the exit code. */
int call_fail(call_t *c, const hoist_error_t *err);

/* call_fail with a message made here. */
int call_refuse(call_t *c, hoist_err_t code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The request's option KEY, or NULL. */
const char *call_opt(const call_t *c, const char *key);

/* The request's positional argument I, or "". */
const char *call_arg(const call_t *c, size_t i);

/* True when option KEY is the flag value "1". */
bool call_flag(const call_t *c, const char *key);

/* Checks that the caller may perform ACTION in ENV (NULL: none, or every
 * environment); on refusal fails the call (exit 3) and returns false. */
bool call_allowed(call_t *c, rbac_action_t action, const char *env);

#endif
