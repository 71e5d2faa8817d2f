/*
 * storeutil: a store in a fresh temporary directory, for the store's
 * tests (test_store*.c): cmocka setup and teardown, reopening the file,
 * and a minimal release to hang rows on.
 */
#ifndef HOIST_STOREUTIL_H
#define HOIST_STOREUTIL_H

#include "testutil.h"

#include <sqlite3.h>

#include "store.h"

typedef struct {
    char *dir;  /* the temporary directory */
    char *path; /* DIR/hoist.db */
    store_t *s;
} su_fixture_t;

/* cmocka setup: opens a new store; *STATE gets the su_fixture_t. */
int su_setup(void **state);

/* cmocka teardown: closes the store and removes its directory. */
int su_teardown(void **state);

/* Closes and opens the fixture's database again (what a restart sees). */
void su_reopen(su_fixture_t *f);

/* Adds release APP VERSION with placeholder digest and manifest. */
void su_add_release(store_t *s, const char *app, const char *version);

/* Raw SQL on the file at PATH, behind the store's back: how a test looks
 * at what is on disk, or damages it. su_raw_open's handle is the
 * caller's (sqlite3_close); su_raw_exec fails the test on an error. */
sqlite3 *su_raw_open(const char *path);
void su_raw_exec(const char *path, const char *sql);

/* The first column of the first row of SQL as text ("" for NULL), or
 * NULL when there is no row; malloc'd. su_raw_int reads it as a number
 * and fails the test when there is no row. */
char *su_raw_text(const char *path, const char *sql);
long long su_raw_int(const char *path, const char *sql);

#endif
