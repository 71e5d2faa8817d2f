/*
 * api: the controller's side of the CLI's socket. A request names a
 * command of the table in api.c (docs/protocol.md lists them); the caller
 * is the user whose key the ZAP handler admitted, checked against the
 * store on every request. Each reply carries the CLI's exit code, text
 * for a person and one JSON document for --json.
 *
 * Uploads (release.begin, .chunk, .commit) are answered later: the call
 * goes to the uploader actor with the client's routing id in a cookie,
 * and api_on_upload replies when the actor is done, so hashing and
 * fsyncing an artifact never hold the loop.
 */
#ifndef HOIST_API_H
#define HOIST_API_H

#include <czmq.h>

#include "controller.h"
#include "uploader.h"

typedef struct api api_t;

api_t *api_new(controller_t *ctl, hoist_error_t *err);
void api_destroy(api_t **p);

/* Handles one request BODY from ROUTING on SOCK and replies. */
void api_on_message(api_t *self, zsock_t *sock, zframe_t *routing,
                    zframe_t *body);

/* Turns answer A of the uploader actor into the reply to the request it
 * answers, sent on SOCK (the API socket). A stays the caller's. */
void api_on_upload(api_t *self, zsock_t *sock, uploader_answer_t *a);

#endif
