/*
 * releases: see releases.h.
 */
#include "releases.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomicfile.h"
#include "tree.h"

#define STAGING_PREFIX ".staging-"

struct releases {
    char app_dir[PATH_MAX];
    char rel_dir[PATH_MAX];
    char current[PATH_MAX];
    char back[PATH_MAX];
    char journal[PATH_MAX];
};

releases_t *
releases_open(const char *root, const char *app, hoist_error_t *err)
{
    releases_t *r = calloc(1, sizeof *r);
    if (!r) {
        error_set(err, HOIST_ERR_NOMEM, "out of memory");
        return NULL;
    }
    snprintf(r->app_dir, sizeof r->app_dir, "%s/apps/%s", root, app);
    snprintf(r->rel_dir, sizeof r->rel_dir, "%s/releases", r->app_dir);
    snprintf(r->current, sizeof r->current, "%s/current", r->app_dir);
    snprintf(r->back, sizeof r->back, "%s/current.back", r->app_dir);
    snprintf(r->journal, sizeof r->journal, "%s/state", r->app_dir);
    return r;
}

hoist_err_t
releases_ensure(releases_t *r, hoist_error_t *err)
{
    return tree_mkdirs(r->rel_dir, 0755, err);
}

void
releases_destroy(releases_t **p)
{
    if (p && *p) {
        free(*p);
        *p = NULL;
    }
}

const char *
releases_app_dir(const releases_t *r)
{
    return r->app_dir;
}

const char *
releases_journal_path(const releases_t *r)
{
    return r->journal;
}

const char *
releases_path(const releases_t *r, const char *version, char *buf, size_t len)
{
    snprintf(buf, len, "%s/%s", r->rel_dir, version);
    return buf;
}

hoist_err_t
releases_stage(releases_t *r, char *buf, size_t len, hoist_error_t *err)
{
    snprintf(buf, len, "%s/" STAGING_PREFIX "XXXXXX", r->app_dir);
    if (!mkdtemp(buf)) {
        return error_errno(err, error_from_errno(errno), errno,
                           "create staging directory in %s", r->app_dir);
    }
    /* mkdtemp makes it 0700, and the archive's "./" does not change the
     * root: without this a hook user other than root could not even
     * enter its release. */
    if (chmod(buf, 0755) != 0) {
        hoist_err_t rc =
            error_errno(err, HOIST_ERR_IO, errno, "make %s readable", buf);
        rmdir(buf);
        return rc;
    }
    return HOIST_OK;
}

hoist_err_t
releases_publish(releases_t *r, const char *staging, const char *version,
                 hoist_error_t *err)
{
    char dst[PATH_MAX];
    releases_path(r, version, dst, sizeof dst);
    hoist_err_t rc = tree_sync(staging, err);
    if (rc == HOIST_OK) {
        rc = tree_remove(dst, err);
    }
    if (rc != HOIST_OK) {
        return rc;
    }
    if (rename(staging, dst) != 0) {
        return error_errno(err, HOIST_ERR_IO, errno, "rename %s to %s", staging,
                           dst);
    }
    if ((rc = atomicfile_sync_dir(r->rel_dir, err)) != HOIST_OK) {
        return rc;
    }
    return atomicfile_sync_dir(r->app_dir, err);
}

hoist_err_t
releases_switch(releases_t *r, const char *version, hoist_error_t *err)
{
    if (!version || !version[0]) {
        if (unlink(r->current) != 0 && errno != ENOENT) {
            return error_errno(err, HOIST_ERR_IO, errno, "remove %s",
                               r->current);
        }
        return atomicfile_sync_dir(r->app_dir, err);
    }
    /* Relative, so the whole root can be moved or mounted elsewhere. */
    char target[PATH_MAX];
    snprintf(target, sizeof target, "releases/%s", version);
    return atomicfile_symlink(target, r->current, err);
}

hoist_err_t
releases_prepare_back(releases_t *r, const char *old, hoist_error_t *err)
{
    if (!old[0]) {
        return HOIST_OK;
    }
    char target[PATH_MAX];
    snprintf(target, sizeof target, "releases/%s", old);
    return atomicfile_symlink(target, r->back, err);
}

hoist_err_t
releases_switch_back(releases_t *r, const char *old, hoist_error_t *err)
{
    char want[PATH_MAX], have[PATH_MAX];
    if (!old[0]) {
        return releases_switch(r, NULL, err);
    }
    snprintf(want, sizeof want, "releases/%s", old);
    ssize_t n = readlink(r->back, have, sizeof have - 1);
    if (n < 0 || (have[n] = '\0', strcmp(have, want) != 0)) {
        return releases_switch(r, old, err);
    }
    if (rename(r->back, r->current) != 0) {
        return error_errno(err, HOIST_ERR_IO, errno, "rename %s", r->back);
    }
    return atomicfile_sync_dir(r->app_dir, err);
}

hoist_err_t
releases_current(const releases_t *r, char *buf, size_t len, hoist_error_t *err)
{
    char target[PATH_MAX];
    ssize_t n = readlink(r->current, target, sizeof target - 1);
    if (n < 0) {
        if (errno == ENOENT) {
            buf[0] = '\0';
            return HOIST_OK;
        }
        return error_errno(err, HOIST_ERR_STATE, errno, "read link %s",
                           r->current);
    }
    target[n] = '\0';
    const char *prefix = "releases/";
    if (strncmp(target, prefix, strlen(prefix)) != 0) {
        return error_set(err, HOIST_ERR_STATE,
                         "%s points outside releases/: %s", r->current, target);
    }
    snprintf(buf, len, "%s", target + strlen(prefix));
    return HOIST_OK;
}

hoist_err_t
releases_remove(releases_t *r, const char *version, hoist_error_t *err)
{
    char path[PATH_MAX];
    return tree_remove(releases_path(r, version, path, sizeof path), err);
}

hoist_err_t
releases_clean_staging(releases_t *r, hoist_error_t *err)
{
    DIR *d = opendir(r->app_dir);
    if (!d) {
        return error_errno(err, HOIST_ERR_IO, errno, "open %s", r->app_dir);
    }
    hoist_err_t rc = HOIST_OK;
    struct dirent *e;
    while (rc == HOIST_OK && (e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, STAGING_PREFIX, strlen(STAGING_PREFIX)) != 0 &&
            strncmp(e->d_name, "current.tmp-", 12) != 0 &&
            strcmp(e->d_name, "current.back") != 0) {
            continue;
        }
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", r->app_dir, e->d_name);
        rc = tree_remove(path, err);
    }
    closedir(d);
    return rc;
}

size_t
releases_plan_prune(const journal_t *j, size_t keep, size_t *drop)
{
    size_t n = 0;
    size_t excess = j->n_history > keep ? j->n_history - keep : 0;
    /* Oldest first: drop from the front, skipping what must stay. */
    for (size_t i = 0; i < j->n_history && n < excess; i++) {
        const char *v = j->history[i];
        if (strcmp(v, j->current) == 0 || strcmp(v, j->previous) == 0) {
            continue;
        }
        drop[n++] = i;
    }
    return n;
}

hoist_err_t
releases_prune(releases_t *r, journal_t *j, size_t keep, hoist_error_t *err)
{
    size_t drop[JOURNAL_HISTORY_MAX];
    size_t n = releases_plan_prune(j, keep, drop);
    char victims[JOURNAL_HISTORY_MAX][MANIFEST_VERSION_MAX + 1];
    for (size_t i = 0; i < n; i++) {
        memcpy(victims[i], j->history[drop[i]], sizeof victims[i]);
    }
    for (size_t i = 0; i < n; i++) {
        hoist_err_t rc = releases_remove(r, victims[i], err);
        if (rc != HOIST_OK) {
            return rc;
        }
        journal_history_remove(j, victims[i]);
    }
    return HOIST_OK;
}
