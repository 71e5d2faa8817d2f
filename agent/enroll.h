/*
 * enroll: `hoist-agent enroll`: makes an agent's root and introduces the
 * agent to its controller.
 *
 * It checks everything it was given first (the controller's key, the
 * trusted release keys, names and tags), then makes the agent's CURVE
 * certificate (ROOT/keys, 0700; the secret 0600; kept from an earlier
 * attempt that got no answer, so the controller sees the same key),
 * copies the trusted keys into ROOT/trust/, connects with the pinned
 * controller key and sends Envelope{enroll{token, env, name, tags,
 * facts}}. It waits for Envelope{enrolled} or an Error, and writes
 * ROOT/agent.conf only when the controller has answered, so a root is
 * "enrolled" exactly when agent.conf exists.
 *
 * A wrong controller key makes the CURVE handshake fail without a word
 * from either side, so no answer is reported as such, naming
 * --controller-key.
 */
#ifndef HOIST_ENROLL_H
#define HOIST_ENROLL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "error.h"
#include "manifest.h"

#define ENROLL_TIMEOUT_MS 10000u

typedef struct {
    const char *root;
    const char *controller;     /* endpoint */
    const char *controller_key; /* file: zcert public file or Z85 line */
    const char *token;          /* NULL or "": wait as pending */
    const char *env;
    const char *name;         /* NULL: from the host name */
    const char *user;         /* hook user to record, or NULL */
    const char *const *trust; /* .pub files */
    size_t n_trust;
    const conf_tag_t *tags;
    size_t n_tags;
    bool force;          /* enroll an enrolled root again, with a new key */
    uint64_t timeout_ms; /* 0 for ENROLL_TIMEOUT_MS */
} enroll_opts_t;

typedef struct {
    bool accepted; /* false: pending */
    char name[MANIFEST_NAME_MAX + 1];
    char env[MANIFEST_NAME_MAX + 1];
} enroll_result_t;

/* Enrolls the agent of O->root (see above). On success *RES says how the
 * controller answered. Errors: HOIST_ERR_EXISTS (enrolled already, no
 * --force), HOIST_ERR_USAGE and HOIST_ERR_KEY (bad input), HOIST_ERR_TIMEOUT
 * (no answer), HOIST_ERR_AUTH (the controller refused the token), or the
 * code of any other Error the controller sent. ERR must not be NULL. */
hoist_err_t enroll_run(const enroll_opts_t *o, enroll_result_t *res,
                       hoist_error_t *err);

#endif
