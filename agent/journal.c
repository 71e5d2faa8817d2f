/*
 * journal: see journal.h. The protobuf Journal is only the file format;
 * the agent works on the plain journal_t, so the step machine and tests
 * need no protobuf.
 */
#include "journal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "atomicfile.h"
#include "hoist.pb-c.h"

#define JOURNAL_FORMAT    1
#define JOURNAL_MAX_BYTES (64 * 1024)

static const char *s_step_names[] = {
    [JOURNAL_NONE] = "none",
    [JOURNAL_STAGE] = "stage",
    [JOURNAL_BEFORE_ACTIVATE] = "before_activate",
    [JOURNAL_SWITCH] = "switch",
    [JOURNAL_ACTIVATE] = "activate",
    [JOURNAL_HEALTH] = "health",
    [JOURNAL_ROLLBACK] = "rollback",
};

const char *
journal_step_name(journal_step_t step)
{
    if ((unsigned)step > JOURNAL_ROLLBACK) {
        return "unknown";
    }
    return s_step_names[step];
}

void
journal_init(journal_t *j, const char *app)
{
    memset(j, 0, sizeof *j);
    snprintf(j->app, sizeof j->app, "%s", app);
}

/* Copies a version read from disk, refusing anything that is not a valid
 * version (the journal's strings become paths). */
static int
s_copy_version(char *dst, size_t len, const char *src)
{
    if (src[0] != '\0' && !manifest_version_valid(src)) {
        return -1;
    }
    snprintf(dst, len, "%s", src);
    return 0;
}

/* A digest read from disk becomes a file name: 64 hex digits or none. */
static bool
s_hex_or_empty(const char *s)
{
    size_t n = strlen(s);
    if (n != 0 && n != 64) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) {
            return false;
        }
    }
    return true;
}

static hoist_err_t
s_from_pb(const Hoist__Journal *pb, const char *app, journal_t *j,
          hoist_error_t *err)
{
    journal_init(j, app);
    if (pb->format != JOURNAL_FORMAT || strcmp(pb->app, app) != 0 ||
        pb->n_history > JOURNAL_HISTORY_MAX ||
        (unsigned)pb->step > JOURNAL_ROLLBACK ||
        (pb->env[0] && !manifest_name_valid(pb->env)) ||
        !s_hex_or_empty(pb->pending_digest) ||
        s_copy_version(j->current, sizeof j->current, pb->current) ||
        s_copy_version(j->previous, sizeof j->previous, pb->previous) ||
        s_copy_version(j->pending, sizeof j->pending, pb->pending_version)) {
        return error_set(err, HOIST_ERR_STATE, "journal is inconsistent");
    }
    for (size_t i = 0; i < pb->n_history; i++) {
        if (!pb->history[i][0] ||
            s_copy_version(j->history[i], sizeof j->history[i],
                           pb->history[i])) {
            return error_set(err, HOIST_ERR_STATE, "journal is inconsistent");
        }
    }
    j->n_history = pb->n_history;
    snprintf(j->env, sizeof j->env, "%s", pb->env);
    j->highest_sequence = pb->highest_sequence;
    j->step = (journal_step_t)pb->step;
    j->pending_sequence = pb->pending_sequence;
    snprintf(j->pending_digest, sizeof j->pending_digest, "%s",
             pb->pending_digest);
    j->pending_kept = pb->pending_kept;
    snprintf(j->failed_step, sizeof j->failed_step, "%s", pb->failed_step);
    return HOIST_OK;
}

hoist_err_t
journal_load(const char *path, const char *app, journal_t *j,
             hoist_error_t *err)
{
    if (access(path, F_OK) != 0 && errno == ENOENT) {
        journal_init(j, app);
        return HOIST_OK;
    }
    uint8_t *buf = NULL;
    size_t len = 0;
    hoist_err_t rc = atomicfile_read(path, JOURNAL_MAX_BYTES, &buf, &len, err);
    if (rc != HOIST_OK) {
        return rc;
    }
    Hoist__Journal *pb = hoist__journal__unpack(NULL, len, buf);
    free(buf);
    if (!pb) {
        return error_set(err, HOIST_ERR_STATE,
                         "journal %s does not decode; it was not written by "
                         "this agent",
                         path);
    }
    journal_t tmp;
    rc = s_from_pb(pb, app, &tmp, err);
    hoist__journal__free_unpacked(pb, NULL);
    if (rc != HOIST_OK) {
        error_prefix(err, "%s", path);
        return rc;
    }
    *j = tmp;
    return HOIST_OK;
}

hoist_err_t
journal_save(const journal_t *j, const char *path, hoist_error_t *err)
{
    Hoist__Journal pb = HOIST__JOURNAL__INIT;
    char *hist[JOURNAL_HISTORY_MAX];
    pb.format = JOURNAL_FORMAT;
    pb.app = (char *)j->app;
    pb.env = (char *)j->env;
    pb.current = (char *)j->current;
    pb.previous = (char *)j->previous;
    pb.highest_sequence = j->highest_sequence;
    for (size_t i = 0; i < j->n_history; i++) {
        hist[i] = (char *)j->history[i];
    }
    pb.history = hist;
    pb.n_history = j->n_history;
    pb.step = (Hoist__Journal__Step)j->step;
    pb.pending_version = (char *)j->pending;
    pb.pending_sequence = j->pending_sequence;
    pb.pending_digest = (char *)j->pending_digest;
    pb.pending_kept = j->pending_kept;
    pb.failed_step = (char *)j->failed_step;
    size_t len = hoist__journal__get_packed_size(&pb);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf) {
        return error_set(err, HOIST_ERR_NOMEM, "out of memory");
    }
    hoist__journal__pack(&pb, buf);
    hoist_err_t rc = atomicfile_write(path, buf, len, 0644, err);
    free(buf);
    return rc;
}

bool
journal_history_has(const journal_t *j, const char *version)
{
    for (size_t i = 0; i < j->n_history; i++) {
        if (strcmp(j->history[i], version) == 0) {
            return true;
        }
    }
    return false;
}

void
journal_history_remove(journal_t *j, const char *version)
{
    for (size_t i = 0; i < j->n_history; i++) {
        if (strcmp(j->history[i], version) == 0) {
            memmove(j->history[i], j->history[i + 1],
                    (j->n_history - i - 1) * sizeof j->history[0]);
            j->n_history--;
            return;
        }
    }
}

void
journal_history_add(journal_t *j, const char *version)
{
    journal_history_remove(j, version);
    if (j->n_history == JOURNAL_HISTORY_MAX) {
        memmove(j->history[0], j->history[1],
                (JOURNAL_HISTORY_MAX - 1) * sizeof j->history[0]);
        j->n_history--;
    }
    snprintf(j->history[j->n_history], sizeof j->history[0], "%s", version);
    j->n_history++;
}
