/*
 * storeutil: a store in a fresh temporary directory, for the store's
 * tests (test_store*.c): cmocka setup and teardown, reopening the file,
 * and a minimal release to hang rows on.
 */
#ifndef HOIST_STOREUTIL_H
#define HOIST_STOREUTIL_H

#include "testutil.h"

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

#endif
