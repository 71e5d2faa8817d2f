/*
 * facts: see facts.h.
 */
#include "facts.h"

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "journal.h"
#include "log.h"
#include "releases.h"

#define OS_RELEASE_MAX (16 * 1024)

/* Copies the value of KEY= from the os-release TEXT into OUT, without
 * its quotes. False when TEXT has no such line. */
static bool
s_os_value(const char *text, const char *key, char *out, size_t len)
{
    size_t klen = strlen(key);
    for (const char *line = text; line && *line;) {
        const char *end = strchr(line, '\n');
        size_t n = end ? (size_t)(end - line) : strlen(line);
        if (n > klen && strncmp(line, key, klen) == 0 && line[klen] == '=') {
            const char *v = line + klen + 1;
            size_t vlen = n - klen - 1;
            if (vlen >= 2 && (v[0] == '"' || v[0] == '\'') &&
                v[vlen - 1] == v[0]) {
                v++;
                vlen -= 2;
            }
            snprintf(out, len, "%.*s", (int)vlen, v);
            return vlen > 0;
        }
        line = end ? end + 1 : NULL;
    }
    return false;
}

void
facts_os_release(const char *text, char *out, size_t len)
{
    char name[128], version[64];
    out[0] = '\0';
    if (s_os_value(text, "PRETTY_NAME", out, len)) {
        return;
    }
    if (s_os_value(text, "NAME", name, sizeof name)) {
        if (s_os_value(text, "VERSION_ID", version, sizeof version)) {
            snprintf(out, len, "%s %s", name, version);
        } else {
            snprintf(out, len, "%s", name);
        }
    }
}

/* Reads the first of the os-release files, else asks uname. */
static void
s_os(char *out, size_t len)
{
    static const char *const paths[] = {"/etc/os-release",
                                        "/usr/lib/os-release"};
    char buf[OS_RELEASE_MAX + 1];
    out[0] = '\0';
    for (size_t i = 0; i < 2 && !out[0]; i++) {
        FILE *f = fopen(paths[i], "re");
        if (f) {
            size_t n = fread(buf, 1, OS_RELEASE_MAX, f);
            buf[n] = '\0';
            fclose(f);
            facts_os_release(buf, out, len);
        }
    }
    struct utsname u;
    if (!out[0] && uname(&u) == 0) {
        snprintf(out, len, "%s %s", u.sysname, u.release);
    }
}

/* Adds APP's current and previous releases, from its journal, to F. */
static void
s_app(const char *root, const char *app, facts_t *f)
{
    hoist_error_t err = {0};
    journal_t *j = calloc(1, sizeof *j);
    releases_t *rel = releases_open(root, app, &err);
    if (j && rel &&
        journal_load(releases_journal_path(rel), app, j, &err) == HOIST_OK) {
        facts_app_t *a = &f->apps[f->n_apps++];
        snprintf(a->app, sizeof a->app, "%s", app);
        snprintf(a->current, sizeof a->current, "%s", j->current);
        snprintf(a->previous, sizeof a->previous, "%s", j->previous);
    } else if (err.code != HOIST_OK) {
        log_warn("facts: %s: %s", app, err.msg);
    }
    releases_destroy(&rel);
    free(j);
}

/* Lists the apps under ROOT/apps. */
static void
s_apps(const char *root, facts_t *f)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/apps", root);
    DIR *d = opendir(dir);
    if (!d) {
        return;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL && f->n_apps < FACTS_APPS_MAX) {
        if (manifest_name_valid(e->d_name)) {
            s_app(root, e->d_name, f);
        }
    }
    closedir(d);
}

void
facts_gather(const char *root, facts_t *f)
{
    memset(f, 0, sizeof *f);
    if (gethostname(f->hostname, sizeof f->hostname - 1) != 0) {
        f->hostname[0] = '\0';
    }
    s_os(f->os, sizeof f->os);
    snprintf(f->agent_version, sizeof f->agent_version, "%s", HOIST_VERSION);
    struct statvfs vfs;
    if (statvfs(root, &vfs) == 0) {
        f->free_disk = (uint64_t)vfs.f_bavail * (uint64_t)vfs.f_frsize;
    }
    s_apps(root, f);
}

void
facts_to_pb(const facts_t *f, facts_pb_t *pb)
{
    hoist__facts__init(&pb->msg);
    pb->msg.hostname = (char *)f->hostname;
    pb->msg.os = (char *)f->os;
    pb->msg.agent_version = (char *)f->agent_version;
    pb->msg.free_disk = f->free_disk;
    for (size_t i = 0; i < f->n_apps; i++) {
        hoist__installed_app__init(&pb->apps[i]);
        pb->apps[i].app = (char *)f->apps[i].app;
        pb->apps[i].current = (char *)f->apps[i].current;
        pb->apps[i].previous = (char *)f->apps[i].previous;
        pb->ptrs[i] = &pb->apps[i];
    }
    pb->msg.n_apps = f->n_apps;
    pb->msg.apps = f->n_apps ? pb->ptrs : NULL;
}
