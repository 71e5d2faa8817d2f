/*
 * api: the controller's side of the CLI's socket. A request names a
 * command of the table in api.c (docs/protocol.md lists them); the caller
 * is the user whose key the ZAP handler admitted, checked against the
 * store on every request. Each reply carries the CLI's exit code, text
 * for a person and one JSON document for --json.
 */
#ifndef HOIST_API_H
#define HOIST_API_H

#include <czmq.h>

#include "controller.h"

typedef struct api api_t;

api_t *api_new(controller_t *ctl, hoist_error_t *err);
void api_destroy(api_t **p);

/* Handles one request BODY from ROUTING on SOCK and replies. */
void api_on_message(api_t *self, zsock_t *sock, zframe_t *routing,
                    zframe_t *body);

/* Expires idle uploads. NOW_MS is monotonic. */
void api_tick(api_t *self, int64_t now_ms);

#endif
