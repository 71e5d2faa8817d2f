/*
 * facts: what an agent tells the controller about its machine in every
 * hello (and in its enrollment request): host name, operating system,
 * agent version, free disk under its root, and the apps it has installed
 * with their current and previous releases, read from their journals.
 *
 * Gathering never fails: a fact that cannot be read is left empty (and
 * logged), because a hello with a missing fact is better than no hello.
 */
#ifndef HOIST_FACTS_H
#define HOIST_FACTS_H

#include <stddef.h>
#include <stdint.h>

#include "manifest.h"
#include "wire.pb-c.h"

#define FACTS_APPS_MAX 64
#define FACTS_TEXT_MAX 255

typedef struct {
    char app[MANIFEST_NAME_MAX + 1];
    char current[MANIFEST_VERSION_MAX + 1];  /* "" when none */
    char previous[MANIFEST_VERSION_MAX + 1]; /* "" when none */
} facts_app_t;

typedef struct {
    char hostname[FACTS_TEXT_MAX + 1];
    char os[FACTS_TEXT_MAX + 1];
    char agent_version[32];
    uint64_t free_disk; /* bytes available to the agent under its root */
    facts_app_t apps[FACTS_APPS_MAX];
    size_t n_apps;
} facts_t;

/* Fills *F for the agent whose root is ROOT. */
void facts_gather(const char *root, facts_t *f);

/* The operating system named by the text of an os-release file (TEXT):
 * PRETTY_NAME, else NAME and VERSION_ID, unquoted, into OUT (LEN bytes).
 * "" when the text names none. */
void facts_os_release(const char *text, char *out, size_t len);

/* A protobuf view of facts: the message and the storage it points into. */
typedef struct {
    Hoist__Facts msg;
    Hoist__InstalledApp apps[FACTS_APPS_MAX];
    Hoist__InstalledApp *ptrs[FACTS_APPS_MAX];
} facts_pb_t;

/* Fills PB to describe F; PB points into F, which must outlive it. */
void facts_to_pb(const facts_t *f, facts_pb_t *pb);

#endif
