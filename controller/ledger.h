/*
 * ledger: the audit log as the API sees it. Every request that changes
 * something, and every refused one, is recorded (who, when, what, the
 * result); `hoist audit` lists the record and `hoist audit verify` walks
 * its hash chain (audit.h) and prints the head to keep elsewhere.
 */
#ifndef HOIST_LEDGER_H
#define HOIST_LEDGER_H

#include "call.h"
#include "uploader.h"

/* The audit commands: audit.list, audit.verify. */
extern const call_command_t ledger_commands[];

/* Records call C of COMMAND (its arguments and options, never its data)
 * with its outcome. A failure to write is logged, not returned: the
 * request has already happened. */
void ledger_record(call_t *c, const char *command);

/* Records an upload step answered by the uploader (A). */
void ledger_record_upload(call_t *c, const char *command,
                          const uploader_answer_t *a);

/* Records an event the controller itself caused (a scheduled promotion
 * firing, an auto_deploy), as user "controller". */
void ledger_note(controller_t *ctl, const char *action, const char *target,
                 const char *result, int exit_code);

#endif
