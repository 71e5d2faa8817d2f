/*
 * users: the people who may talk to the controller, each a CURVE key with
 * a role and an optional environment scope (rbac.h says what each role
 * may do). `hoist users add|list|remove`; a new key is let in by the ZAP
 * handler at once, a removed one is refused from its next request on. The
 * last unscoped admin cannot be removed.
 */
#ifndef HOIST_USERS_H
#define HOIST_USERS_H

#include "call.h"

/* users.add, users.list, users.remove. */
extern const call_command_t users_commands[];

#endif
