/*
 * releases: one app's directory on the agent's disk.
 *
 *   ROOT/apps/APP/releases/VERSION/   one unpacked release each
 *   ROOT/apps/APP/current -> releases/VERSION
 *   ROOT/apps/APP/state               the journal
 *   ROOT/apps/APP/.staging-XXXXXX/    a release being unpacked
 *
 * A release directory appears only by rename(2) of a complete, synced
 * staging directory, so `current` can only ever point at a complete one.
 * App and version strings must have passed manifest_*_valid before they
 * reach this module: they become path components.
 */
#ifndef HOIST_RELEASES_H
#define HOIST_RELEASES_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"
#include "journal.h"

typedef struct releases releases_t;

/* The layout of ROOT/apps/APP; touches no disk. NULL when out of memory. */
releases_t *releases_open(const char *root, const char *app,
                          hoist_error_t *err);

/* Creates ROOT/apps/APP/releases and its parents when missing. */
hoist_err_t releases_ensure(releases_t *r, hoist_error_t *err);
void releases_destroy(releases_t **p);

/* ROOT/apps/APP. */
const char *releases_app_dir(const releases_t *r);
/* ROOT/apps/APP/state. */
const char *releases_journal_path(const releases_t *r);

/* ROOT/apps/APP/releases/VERSION into BUF. Returns BUF. */
const char *releases_path(const releases_t *r, const char *version, char *buf,
                          size_t len);

/* Makes a fresh staging directory (0755, like every release: the hook
 * user reads it); its path goes to BUF. */
hoist_err_t releases_stage(releases_t *r, char *buf, size_t len,
                           hoist_error_t *err);

/* Syncs STAGING and renames it to releases/VERSION, replacing a stale
 * directory of that name (never the live one: the caller checks). */
hoist_err_t releases_publish(releases_t *r, const char *staging,
                             const char *version, hoist_error_t *err);

/* Points `current` at releases/VERSION, or removes it when VERSION is
 * NULL or "". Atomic, durable. */
hoist_err_t releases_switch(releases_t *r, const char *version,
                            hoist_error_t *err);

/* Makes `current.back`, a link to releases/OLD, before `current` moves
 * away from OLD, so that putting OLD back later is one rename(2) that
 * needs no free disk space. OLD "" (a first install) makes none. */
hoist_err_t releases_prepare_back(releases_t *r, const char *old,
                                  hoist_error_t *err);

/* Points `current` at OLD again: renames `current.back` over it when that
 * link points at OLD, else makes a new link; OLD "" removes `current`.
 * Atomic, durable. */
hoist_err_t releases_switch_back(releases_t *r, const char *old,
                                 hoist_error_t *err);

/* Reads the version `current` points at into BUF ("" when absent). */
hoist_err_t releases_current(const releases_t *r, char *buf, size_t len,
                             hoist_error_t *err);

/* Removes releases/VERSION (which must not be live). */
hoist_err_t releases_remove(releases_t *r, const char *version,
                            hoist_error_t *err);

/* Removes leftovers of a crashed run: staging directories, temporary
 * links, and `current.back`. */
hoist_err_t releases_clean_staging(releases_t *r, hoist_error_t *err);

/* The pure pruning decision: which versions of J's history to delete so
 * that at most KEEP remain, newest kept, never J's current or previous.
 * Writes indexes into J->history to DROP (capacity JOURNAL_HISTORY_MAX)
 * and returns their count. */
size_t releases_plan_prune(const journal_t *j, size_t keep, size_t *drop);

/* Applies the plan: deletes those releases and drops them from J's
 * history. The caller saves J. */
hoist_err_t releases_prune(releases_t *r, journal_t *j, size_t keep,
                           hoist_error_t *err);

#endif
