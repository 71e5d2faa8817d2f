/*
 * policy: the pipeline file the controller runs by. It holds the current
 * pipeline (pipeline.h) in memory, loaded at start from the store (or the
 * built-in default when none was ever applied), and serves `hoist apply`
 * and `hoist export`. A file is checked whole before anything changes;
 * a valid one is stored (its canonical export) and then takes effect.
 */
#ifndef HOIST_POLICY_H
#define HOIST_POLICY_H

#include "call.h"
#include "pipeline.h"

typedef struct policy policy_t;

/* The pipeline in force before any `hoist apply`: the lifecycle dev → qa
 * → staging → production, dr mirroring production, no gates. */
extern const char policy_default_text[];

/* Loads the pipeline stored in ST, or the default. NULL with the reason
 * (a stored pipeline this build cannot read: STATE). */
policy_t *policy_new(store_t *st, hoist_error_t *err);

/* Frees *P and sets it to NULL. Accepts NULL. */
void policy_destroy(policy_t **p);

/* The pipeline in force; valid until the next apply. */
const pipeline_t *policy_pipeline(const policy_t *p);

/* Sends EVENT ("release.created", "promotion.refused", ...) to the
 * notify targets: the pipeline's top-level ones, and ENV's own when ENV
 * (may be NULL) has some. FIELDS (a JSON object, stolen) gets "event",
 * "time" (unix ms) and "env" added. Never waits: a slow or failing
 * notifier is the notify actor's problem, logged there. */
void policy_notify(policy_t *p, const char *event, const char *env,
                   json_t *fields);

/* pipeline.apply and pipeline.export. */
extern const call_command_t policy_commands[];

#endif
