/*
 * storeutil: see storeutil.h.
 */
#include "storeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
su_setup(void **state)
{
    su_fixture_t *f = calloc(1, sizeof *f);
    hoist_error_t err = {0};
    assert_non_null(f);
    f->dir = tu_tmpdir();
    f->path = tu_path(f->dir, "hoist.db");
    f->s = store_open(f->path, &err);
    if (!f->s) {
        fail_msg("store_open: %s", err.msg);
    }
    *state = f;
    return 0;
}

int
su_teardown(void **state)
{
    su_fixture_t *f = *state;
    store_close(&f->s);
    free(f->path);
    tu_rmtree(f->dir);
    free(f);
    return 0;
}

void
su_reopen(su_fixture_t *f)
{
    hoist_error_t err = {0};
    store_close(&f->s);
    assert_null(f->s);
    f->s = store_open(f->path, &err);
    if (!f->s) {
        fail_msg("store_open: %s", err.msg);
    }
}

void
su_add_release(store_t *s, const char *app, const char *version)
{
    hoist_error_t err = {0};
    store_release_t *r = calloc(1, sizeof *r);
    assert_non_null(r);
    snprintf(r->app, sizeof r->app, "%s", app);
    snprintf(r->version, sizeof r->version, "%s", version);
    memset(r->digest, 'a', 64);
    r->manifest_len = 1;
    r->created_at = 100;
    if (store_release_add(s, r, &err) != HOIST_OK) {
        fail_msg("add release %s %s: %s", app, version, err.msg);
    }
    free(r);
}
