/*
 * mirror: an environment that follows another (dr follows production,
 * `mirror: production` in the pipeline file). A release that succeeds in
 * the source is deployed to its mirrors at once, unless the mirror says
 * `sync: manual`, in which case `hoist dr sync APP` does it. `hoist diff
 * ENV_A ENV_B [APP]` shows the drift between any two environments: the
 * releases live in each, the variables (a secret by its digest, never its
 * value), the agents per role and the agents offline.
 */
#ifndef HOIST_MIRROR_H
#define HOIST_MIRROR_H

#include <stdbool.h>

#include "call.h"
#include "store.h"

/* Deployment D ended succeeded: deploys its release to every mirror of
 * its environment that syncs by itself. Failures are logged and
 * recorded, not returned: D itself succeeded. */
void mirror_on_success(controller_t *ctl, const store_deployment_t *d);

/* Sets OUT (STORE_VERSION_SIZE bytes) to the version of APP live in ENV:
 * that of the newest deployment into ENV that succeeded; "" when none. */
void mirror_live(controller_t *ctl, const char *app, const char *env,
                 char *out);

/* dr.sync and diff. */
extern const call_command_t mirror_commands[];

#endif
