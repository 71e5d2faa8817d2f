/*
 * install: see install.h, and steps.h for the state machine.
 *
 * Order matters for safety. Everything that can reject the release (the
 * manifest's signature and fields, the artifact's size and digest) is
 * checked before anything under releases/ is touched. The artifact is
 * hashed while it is copied into ROOT/cache, and it is that private copy
 * that gets unpacked, so a file changed after hashing cannot slip in.
 * Each step is written to the journal before it starts.
 */
#include "install.h"

#include "envname.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomicfile.h"
#include "digest.h"
#include "fault.h"
#include "health.h"
#include "hooks.h"
#include "journal.h"
#include "log.h"
#include "releases.h"
#include "spec.h"
#include "steps.h"
#include "tree.h"
#include "lockfile.h"

#define SPEC_FILE         "hoist.yml"
#define OUTPUT_TAIL_LINES 20

/* One install (or recovery) in progress. */
typedef struct {
    const install_opts_t *o;
    releases_t *rel;
    journal_t j;
    spec_t *spec; /* of the release being installed */
    const char *version;
    uint64_t sequence;
    install_report_t *rep;
    /* The hooks' environment of an install or rollback: the options'
     * variables as "KEY=VALUE" strings (in VAR_BLOCK, sodium_malloc'd:
     * values may be secrets), then room for the HOIST_* ones and the
     * NULL. NULL in a recovery, whose hooks get the HOIST_* ones only. */
    const char **envp;
    char *var_block;
} job_t;

static const char *s_outcome_names[] = {
    [INSTALL_INSTALLED] = "installed",
    [INSTALL_ALREADY] = "already-current",
    [INSTALL_REJECTED] = "rejected",
    [INSTALL_ABANDONED] = "failed",
    [INSTALL_ROLLED_BACK] = "rolled-back",
};

const char *
install_outcome_name(install_outcome_t outcome)
{
    return s_outcome_names[outcome];
}

int
install_exit_code(hoist_err_t rc, const install_report_t *rep)
{
    if (rc == HOIST_OK) {
        return 0;
    }
    if (rep->outcome == INSTALL_ROLLED_BACK ||
        rep->outcome == INSTALL_ABANDONED) {
        return 1;
    }
    return error_exit_code(rc);
}

void
install_opts_default(install_opts_t *o)
{
    memset(o, 0, sizeof *o);
    o->keep = 5;
    unpack_limits_default(&o->limits);
}

/* ---- variables ----------------------------------------------------------- */

bool
install_var_key_valid(const char *key)
{
    return envname_check(key, NULL) == HOIST_OK;
}

hoist_err_t
install_vars_check(const install_var_t *vars, size_t n, hoist_error_t *err)
{
    if (n > 0 && !vars) {
        return error_set(err, HOIST_ERR_USAGE, "%zu variables, but no list", n);
    }
    if (n > INSTALL_VARS_MAX) {
        return error_set(err, HOIST_ERR_LIMIT,
                         "%zu variables; an order carries at most %d", n,
                         INSTALL_VARS_MAX);
    }
    for (size_t i = 0; i < n; i++) {
        const install_var_t *v = &vars[i];
        if (!v->key || !install_var_key_valid(v->key)) {
            return error_set(err, HOIST_ERR_USAGE,
                             "variable '%.80s' is not [A-Z_][A-Z0-9_]{0,63} "
                             "or starts with HOIST_",
                             v->key ? v->key : "");
        }
        if (!v->value || v->len > INSTALL_VAR_VALUE_MAX ||
            memchr(v->value, '\0', v->len)) {
            return error_set(err, HOIST_ERR_LIMIT,
                             "variable %s: its value is over %d bytes or "
                             "holds a NUL byte",
                             v->key, INSTALL_VAR_VALUE_MAX);
        }
        for (size_t k = 0; k < i; k++) {
            if (strcmp(vars[k].key, v->key) == 0) {
                return error_set(err, HOIST_ERR_USAGE,
                                 "variable %s is given twice", v->key);
            }
        }
    }
    return HOIST_OK;
}

size_t
install_vars_format(const install_var_t *vars, size_t n, char *buf, size_t size)
{
    size_t len = 0;
#define PUT(ch)                                                                \
    do {                                                                       \
        if (len + 1 < size) {                                                  \
            buf[len] = (ch);                                                   \
        }                                                                      \
        len++;                                                                 \
    } while (0)
    for (size_t i = 0; i < n; i++) {
        for (const char *k = vars[i].key; *k; k++) {
            PUT(*k);
        }
        PUT('=');
        PUT('\'');
        for (size_t j = 0; j < vars[i].len; j++) {
            if (vars[i].value[j] == '\'') {
                PUT('\'');
                PUT('\\');
                PUT('\'');
                PUT('\'');
            } else {
                PUT(vars[i].value[j]);
            }
        }
        PUT('\'');
        PUT('\n');
    }
#undef PUT
    if (size > 0) {
        buf[len < size ? len : size - 1] = '\0';
    }
    return len;
}

/* Builds JOB's hook environment from the options' variables (see
 * job_t); with no variables it holds only room for the HOIST_* ones. */
static hoist_err_t
s_vars_env(job_t *job, hoist_error_t *err)
{
    const install_opts_t *o = job->o;
    size_t total = 1;
    for (size_t i = 0; i < o->n_vars; i++) {
        total += strlen(o->vars[i].key) + 1 + o->vars[i].len + 1;
    }
    if (sodium_init() < 0) {
        return error_set(err, HOIST_ERR_NOMEM, "libsodium cannot start");
    }
    job->envp = calloc(o->n_vars + 6, sizeof *job->envp);
    job->var_block = sodium_malloc(total);
    if (!job->envp || !job->var_block) {
        return error_set(err, HOIST_ERR_NOMEM, "out of memory");
    }
    char *p = job->var_block;
    for (size_t i = 0; i < o->n_vars; i++) {
        size_t k = strlen(o->vars[i].key);
        job->envp[i] = p;
        memcpy(p, o->vars[i].key, k);
        p[k] = '=';
        memcpy(p + k + 1, o->vars[i].value, o->vars[i].len);
        p[k + 1 + o->vars[i].len] = '\0';
        p += k + 1 + o->vars[i].len + 1;
    }
    return HOIST_OK;
}

/* Wipes and frees what s_vars_env made. */
static void
s_vars_env_free(job_t *job)
{
    sodium_free(job->var_block); /* wipes it */
    job->var_block = NULL;
    free(job->envp);
    job->envp = NULL;
}

/* Takes the root's lock so two installs never interleave their steps.
 * Returns the lock's fd, or -1 with ERR set. */
static int
s_lock(const char *root, hoist_error_t *err)
{
    char path[PATH_MAX], busy[PATH_MAX + 96];
    if (tree_mkdirs(root, 0755, err) != HOIST_OK) {
        return -1;
    }
    snprintf(path, sizeof path, "%s/.lock", root);
    snprintf(busy, sizeof busy,
             "another hoist-agent is installing under %s; try again when it "
             "is done",
             root);
    return lockfile_take(path, busy, err);
}

/* Tells the caller's progress callback, if any, that STEP starts. */
static void
s_step(const install_opts_t *o, const char *step)
{
    if (o->on_step) {
        o->on_step(o->step_arg, step);
    }
}

static hoist_err_t
s_save(job_t *job, journal_step_t step, hoist_error_t *err)
{
    job->j.step = step;
    hoist_err_t rc =
        journal_save(&job->j, releases_journal_path(job->rel), err);
    if (rc == HOIST_OK) {
        fault_point(journal_step_name(step));
    }
    if (step != JOURNAL_NONE) {
        s_step(job->o, journal_step_name(step));
    }
    return rc;
}

/* The environment of a hook or command check: who, what, where. */
typedef struct {
    char app[128], ver[192], env[128], dir[PATH_MAX + 32], other[192];
    const char *list[6];
} hook_env_t;

/* Fills E and returns the hook's environment list: the job's variables
 * first, then the HOIST_* entries, which hooks_run lets override an
 * earlier entry of the same name, so no variable can pose as one. The
 * list points into E and the job: it lives as long as both. */
static const char *const *
s_env(job_t *job, const char *version, const char *other, hook_env_t *e)
{
    char dir[PATH_MAX];
    releases_path(job->rel, version, dir, sizeof dir);
    snprintf(e->app, sizeof e->app, "HOIST_APP=%s", job->j.app);
    snprintf(e->ver, sizeof e->ver, "HOIST_VERSION=%s", version);
    snprintf(e->env, sizeof e->env, "HOIST_ENV=%s", job->j.env);
    snprintf(e->dir, sizeof e->dir, "HOIST_RELEASE_DIR=%s", dir);
    snprintf(e->other, sizeof e->other, "HOIST_PREVIOUS_VERSION=%s", other);
    const char *list[] = {e->app, e->ver, e->env, e->dir, e->other, NULL};
    memcpy(e->list, list, sizeof list);
    if (!job->envp) {
        return e->list;
    }
    memcpy(job->envp + job->o->n_vars, list, sizeof list);
    return job->envp;
}

/* Keeps the end of the first failing hook's output in the report, made
 * safe for a terminal. The first failure is the cause; later ones (the
 * old release's hooks during a rollback) are in the message. */
static void
s_keep_output(job_t *job, const char *tail)
{
    char *out = job->rep->output;
    size_t cap = sizeof job->rep->output, n = strlen(tail);
    if (out[0] || n == 0) {
        return;
    }
    const char *from = n >= cap ? tail + (n - cap + 1) : tail;
    snprintf(out, cap, "%s", from);
    for (char *p = out; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f) {
            *p = '?';
        }
    }
}

/* Runs one hook of SPEC for VERSION in its release directory. A missing
 * hook succeeds. On failure ERR ends with the tail of the hook's output. */
static hoist_err_t
s_hook(job_t *job, const spec_t *spec, const char *name, const char *cmd,
       const char *version, const char *other, hoist_error_t *err)
{
    if (!cmd) {
        return HOIST_OK;
    }
    hook_env_t env;
    const char *const *list = s_env(job, version, other, &env);
    hooks_cmd_t hc = {.command = cmd,
                      .dir = env.dir + strlen("HOIST_RELEASE_DIR="),
                      .env = list,
                      .user = job->o->hook_user,
                      .timeout_ms = spec->hook_timeout_ms};
    hooks_result_t res = {0};
    log_info("%s %s: running %s hook", job->j.app, version, name);
    hoist_err_t rc = hooks_run(&hc, &res, err);
    if (rc != HOIST_OK) {
        error_prefix(err, "%s hook", name);
        s_keep_output(job, hooks_result_tail(&res, OUTPUT_TAIL_LINES));
    }
    hooks_result_clear(&res);
    return rc;
}

static hoist_err_t
s_health(job_t *job, const spec_t *spec, const char *version, const char *other,
         hoist_error_t *err)
{
    if (spec->health.kind == HEALTH_NONE) {
        return HOIST_OK;
    }
    hook_env_t env;
    const char *const *list = s_env(job, version, other, &env);
    hooks_cmd_t ctx = {.dir = env.dir + strlen("HOIST_RELEASE_DIR="),
                       .env = list,
                       .user = job->o->hook_user};
    log_info("%s %s: checking health", job->j.app, version);
    return health_run(&spec->health, &ctx, err);
}

/* Loads the deploy spec of an installed VERSION (for rollback). */
static spec_t *
s_spec_of(job_t *job, const char *version, hoist_error_t *err)
{
    char dir[PATH_MAX], path[PATH_MAX + 16];
    releases_path(job->rel, version, dir, sizeof dir);
    snprintf(path, sizeof path, "%s/" SPEC_FILE, dir);
    return spec_load(path, err);
}

/* Removes the half-installed release unless it is one that must stay: the
 * live one, the previous one, or a kept release that a rollback was
 * putting back. */
static void
s_drop_pending(job_t *job)
{
    const char *v = job->j.pending;
    hoist_error_t e;
    if (v[0] && !job->j.pending_kept && strcmp(v, job->j.current) != 0 &&
        strcmp(v, job->j.previous) != 0 &&
        releases_remove(job->rel, v, &e) != HOIST_OK) {
        log_warn("%s: %s", job->j.app, e.msg);
    }
}

/* Removes what an interrupted copy left in ROOT/cache: temporary copies
 * and the pending artifact's copy. The root's lock is held, so no other
 * install is copying. */
static void
s_clean_cache(job_t *job)
{
    char dir[PATH_MAX], path[PATH_MAX * 2];
    snprintf(dir, sizeof dir, "%s/cache", job->o->root);
    DIR *d = opendir(dir);
    if (!d) {
        return;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, ".part-", 6) == 0 ||
            (job->j.pending_digest[0] &&
             strcmp(e->d_name, job->j.pending_digest) == 0)) {
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            unlink(path);
        }
    }
    closedir(d);
}

static hoist_err_t
s_idle(job_t *job, hoist_error_t *err)
{
    job->j.pending[0] = '\0';
    job->j.pending_digest[0] = '\0';
    job->j.pending_sequence = 0;
    job->j.pending_kept = false;
    job->j.failed_step[0] = '\0';
    return s_save(job, JOURNAL_NONE, err);
}

/* Undo before the switch: `current` never moved, so only clean up. */
static hoist_err_t
s_abandon(job_t *job, hoist_error_t *err)
{
    hoist_error_t e;
    if (releases_clean_staging(job->rel, &e) != HOIST_OK) {
        log_warn("%s: %s", job->j.app, e.msg);
    }
    s_clean_cache(job);
    s_drop_pending(job);
    return s_idle(job, err);
}

/* Starts the old release again after `current` was put back. Failures are
 * reported in NOTE, not returned: the rollback itself has happened. */
static void
s_restart_old(job_t *job, const char *old, const char *failed, char *note,
              size_t len)
{
    hoist_error_t e = {0};
    spec_t *spec = s_spec_of(job, old, &e);
    if (!spec || s_hook(job, spec, "activate", spec->activate, old, failed,
                        &e) != HOIST_OK) {
        snprintf(note, len, "; but restarting %s failed: %s", old, e.msg);
    } else if (s_hook(job, spec, "after_rollback", spec->after_rollback, old,
                      failed, &e) != HOIST_OK) {
        snprintf(note, len, "; after_rollback of %s failed: %s", old, e.msg);
    } else if (s_health(job, spec, old, failed, &e) != HOIST_OK) {
        snprintf(note, len, "; but %s is unhealthy too: %s", old, e.msg);
    } else {
        snprintf(note, len, " (healthy)");
    }
    spec_destroy(&spec);
}

/* Puts the journal's current release back as `current` (or removes the
 * link on a first install), restarts it, drops the failed release. NOTE
 * receives how the old release fared. Idempotent: recovery reruns it. */
static hoist_err_t
s_put_back(job_t *job, char *note, size_t len, hoist_error_t *err)
{
    char old[MANIFEST_VERSION_MAX + 1], failed[MANIFEST_VERSION_MAX + 1];
    snprintf(old, sizeof old, "%s", job->j.current);
    snprintf(failed, sizeof failed, "%s", job->j.pending);
    hoist_err_t rc = releases_switch_back(job->rel, old, err);
    if (rc != HOIST_OK) {
        return rc;
    }
    fault_point("rollback-switched");
    if (old[0]) {
        s_restart_old(job, old, failed, note, len);
    } else {
        snprintf(note, len, " (no previous release: nothing is live)");
    }
    s_drop_pending(job); /* frees the failed release's space first */
    s_clean_cache(job);
    hoist_error_t e;
    if (s_idle(job, &e) != HOIST_OK) {
        /* The journal still names the step in flight, so the next install
         * or recover puts the same release back again: harmless. */
        size_t n = strlen(note);
        snprintf(note + n, len - n,
                 "; the journal could not be updated (%s), so the next "
                 "install or recover repeats this rollback",
                 e.msg);
    }
    return HOIST_OK;
}

/* A step from the switch on failed with CAUSE (already in ERR): roll back
 * and return CAUSE's code with the whole story in ERR. */
static hoist_err_t
s_rollback(job_t *job, const char *failed, hoist_error_t *err)
{
    hoist_error_t cause = err ? *err : (hoist_error_t){0};
    hoist_err_t code = err ? err->code : HOIST_ERR_IO;
    snprintf(job->j.failed_step, sizeof job->j.failed_step, "%s", failed);
    log_warn("%s %s: %s failed; rolling back to %s", job->j.app, job->j.pending,
             failed, job->j.current[0] ? job->j.current : "nothing");
    char note[sizeof cause.msg] = "";
    hoist_error_t e;
    /* Best effort: the SWITCH, ACTIVATE or HEALTH entry already on disk
     * makes recovery roll back too, so a journal that cannot be written
     * (a full disk) must not stop the rollback itself. */
    if (s_save(job, JOURNAL_ROLLBACK, &e) != HOIST_OK) {
        log_warn("%s: journal: %s", job->j.app, e.msg);
    }
    hoist_err_t rc = s_put_back(job, note, sizeof note, err);
    job->rep->failed_step[0] = '\0';
    snprintf(job->rep->failed_step, sizeof job->rep->failed_step, "%s", failed);
    if (rc != HOIST_OK) {
        error_prefix(err, "rollback after %s failed (%s)", failed, cause.msg);
        return rc;
    }
    job->rep->outcome = INSTALL_ROLLED_BACK;
    return error_set(err, code, "step %s failed; rolled back to %s%s: %s",
                     failed, job->j.current[0] ? job->j.current : "nothing",
                     note, cause.msg);
}

/* Copies the artifact into ROOT/cache while hashing it and checks size
 * and digest against the manifest. Returns a read fd on the private copy
 * (positioned at 0) or -1 with ERR set; nothing stays in the cache on
 * failure. */
static int
s_take_artifact(job_t *job, const manifest_t *m, const char *path,
                hoist_error_t *err)
{
    char cache[PATH_MAX], tmp[PATH_MAX + 32], dst[PATH_MAX + 80];
    char want[DIGEST_HEX_LEN], got[DIGEST_HEX_LEN];
    uint8_t digest[DIGEST_BYTES];
    uint64_t size = 0;
    /* O_NONBLOCK so that a FIFO cannot hold the agent (and its lock). */
    int out = -1, in = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (in < 0) {
        error_errno(err, HOIST_ERR_USAGE, errno, "open artifact %s", path);
        return -1;
    }
    struct stat st;
    if (fstat(in, &st) != 0 || !S_ISREG(st.st_mode)) {
        error_set(err, HOIST_ERR_USAGE, "artifact %s is not a regular file",
                  path);
        goto fail;
    }
    fcntl(in, F_SETFL, fcntl(in, F_GETFL) & ~O_NONBLOCK);
    if ((uint64_t)st.st_size != manifest_artifact_size(m)) {
        error_set(err, HOIST_ERR_SIZE,
                  "artifact %s is %lld bytes but the manifest says %llu: "
                  "wrong or truncated file",
                  path, (long long)st.st_size,
                  (unsigned long long)manifest_artifact_size(m));
        goto fail;
    }
    snprintf(cache, sizeof cache, "%s/cache", job->o->root);
    snprintf(tmp, sizeof tmp, "%s/.part-XXXXXX", cache);
    if (tree_mkdirs(cache, 0700, err) != HOIST_OK ||
        (out = mkostemp(tmp, O_CLOEXEC)) < 0) {
        if (out < 0 && err && err->code == HOIST_OK) {
            error_errno(err, error_from_errno(errno), errno, "create %s", tmp);
        }
        goto fail;
    }
    if (digest_copy(in, out, manifest_artifact_size(m), digest, &size, err) !=
        HOIST_OK) {
        goto fail_unlink;
    }
    digest_hex(manifest_artifact_digest(m), want);
    if (size != manifest_artifact_size(m) ||
        !digest_equal(digest, manifest_artifact_digest(m))) {
        error_set(err, HOIST_ERR_DIGEST,
                  "artifact digest mismatch: the manifest says %s, %s hashes "
                  "to %s (tampered with, or not this release's artifact)",
                  want, path, digest_hex(digest, got));
        goto fail_unlink;
    }
    snprintf(dst, sizeof dst, "%s/%s", cache, want);
    if (fsync(out) != 0 || rename(tmp, dst) != 0) {
        error_errno(err, error_from_errno(errno), errno, "store %s", dst);
        goto fail_unlink;
    }
    close(in);
    lseek(out, 0, SEEK_SET);
    return out;
fail_unlink:
    unlink(tmp);
fail:
    if (out >= 0) {
        close(out);
    }
    close(in);
    return -1;
}

/* Drops the private artifact copy once it has been unpacked. */
static void
s_release_artifact(job_t *job, const manifest_t *m, int fd)
{
    char hex[DIGEST_HEX_LEN], path[PATH_MAX + 80];
    snprintf(path, sizeof path, "%s/cache/%s", job->o->root,
             digest_hex(manifest_artifact_digest(m), hex));
    unlink(path);
    close(fd);
}

/* Reads the staged hoist.yml; messages name it as the artifact's, not by
 * the staging path that is about to disappear. */
static hoist_err_t
s_read_spec(job_t *job, const char *path, hoist_error_t *err)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    hoist_error_t e = {0};
    if (atomicfile_read(path, 64 * 1024, &buf, &len, &e) != HOIST_OK) {
        return error_set(err, HOIST_ERR_SPEC,
                         "the artifact has no usable " SPEC_FILE
                         " at its root (a regular file of at most 64 KiB, "
                         "possibly empty)");
    }
    job->spec = spec_parse((const char *)buf, len, SPEC_FILE, err);
    free(buf);
    return job->spec ? HOIST_OK : (err ? err->code : HOIST_ERR_SPEC);
}

/* STAGE: unpack into a fresh staging directory, read its deploy spec,
 * publish it as releases/VERSION. */
static hoist_err_t
s_stage(job_t *job, int fd, uint64_t size, hoist_error_t *err)
{
    char staging[PATH_MAX], spec_path[PATH_MAX + 16];
    hoist_err_t rc = releases_clean_staging(job->rel, err);
    if (rc == HOIST_OK) {
        rc = releases_stage(job->rel, staging, sizeof staging, err);
    }
    if (rc != HOIST_OK) {
        return rc;
    }
    rc = unpack_archive(fd, size, staging, &job->o->limits, err);
    if (rc == HOIST_OK) {
        fault_point("unpacked");
        snprintf(spec_path, sizeof spec_path, "%s/" SPEC_FILE, staging);
        rc = s_read_spec(job, spec_path, err);
    }
    if (rc == HOIST_OK) {
        rc = releases_publish(job->rel, staging, job->version, err);
    }
    if (rc != HOIST_OK) {
        hoist_error_t e;
        if (tree_remove(staging, &e) != HOIST_OK) {
            log_warn("%s", e.msg);
        }
    }
    return rc;
}

/* Refusal messages for steps_admit's verdicts. */
static hoist_err_t
s_admit(job_t *job, const manifest_t *m, hoist_error_t *err)
{
    const char *app = manifest_app(m);
    switch (steps_admit(&job->j, job->o->app, app, job->version, job->sequence,
                        manifest_env_allowed(m, job->o->env))) {
    case STEPS_ADMIT:
        return HOIST_OK;
    case STEPS_ALREADY_CURRENT:
        return HOIST_OK;
    case STEPS_REFUSE_APP:
        return error_set(err, HOIST_ERR_APP,
                         "the manifest is for app '%s', not '%s'", app,
                         job->o->app);
    case STEPS_REFUSE_ENV:
        return error_set(err, HOIST_ERR_ENV,
                         "%s %s may not run in environment '%s': its "
                         "manifest allows only %s%s",
                         app, job->version, job->o->env, manifest_env(m, 0),
                         manifest_env_count(m) > 1 ? " and others" : "");
    case STEPS_REFUSE_KEPT:
        return error_set(err, HOIST_ERR_SEQUENCE,
                         "%s %s is kept on this machine already (as a "
                         "previous release): a version's bytes never change, "
                         "so publish the change as a new version",
                         app, job->version);
    case STEPS_REFUSE_SEQUENCE:
        return error_set(err, HOIST_ERR_SEQUENCE,
                         "%s %s has build sequence %llu, below %llu already "
                         "installed here: refusing a downgrade",
                         app, job->version, (unsigned long long)job->sequence,
                         (unsigned long long)job->j.highest_sequence);
    }
    return error_set(err, HOIST_ERR_STATE, "unknown admission verdict");
}

/* HEALTH passed: record the new release as live and prune old ones. */
static hoist_err_t
s_commit(job_t *job, hoist_error_t *err)
{
    /* Built aside: if it cannot be recorded, the release is not live as
     * far as the journal knows, so it is rolled back like any failure. */
    journal_t next = job->j;
    snprintf(next.previous, sizeof next.previous, "%s", job->j.current);
    snprintf(next.current, sizeof next.current, "%s", job->version);
    if (job->sequence > next.highest_sequence) {
        next.highest_sequence = job->sequence;
    }
    journal_history_add(&next, job->version);
    next.step = JOURNAL_NONE;
    next.pending[0] = next.pending_digest[0] = next.failed_step[0] = '\0';
    next.pending_sequence = 0;
    next.pending_kept = false;
    if (journal_save(&next, releases_journal_path(job->rel), err) != HOIST_OK) {
        return s_rollback(job, "commit", err);
    }
    job->j = next;
    fault_point("none");
    fault_point("committed");
    hoist_error_t e;
    if (releases_clean_staging(job->rel, &e) != HOIST_OK ||
        releases_prune(job->rel, &job->j, job->o->keep, &e) != HOIST_OK ||
        journal_save(&job->j, releases_journal_path(job->rel), &e) !=
            HOIST_OK) {
        log_warn("%s: tidying old releases: %s", job->j.app, e.msg);
    }
    return HOIST_OK;
}

/* The uid and gid of the hook user, into *UID and *GID; false (with ERR)
 * when the user is unknown. */
static bool
s_hook_owner(const char *user, uid_t *uid, gid_t *gid, hoist_error_t *err)
{
    struct passwd pw, *found = NULL;
    char buf[4096];
    int rc = getpwnam_r(user, &pw, buf, sizeof buf, &found);
    if (rc != 0 || !found) {
        error_set(err, HOIST_ERR_USAGE,
                  "hook user '%s' is unknown: the variables file cannot be "
                  "given to it",
                  user);
        return false;
    }
    *uid = pw.pw_uid;
    *gid = pw.pw_gid;
    return true;
}

/* Writes the LEN bytes of TEXT to a new file in directory DFD under a
 * random name (created O_EXCL|O_NOFOLLOW, 0600, given to the hook user
 * before a byte is written), syncs it and renames it to "env": a link or
 * file planted at either name is replaced, never followed. */
static hoist_err_t
s_put_env(job_t *job, int dfd, const char *text, size_t len, hoist_error_t *err)
{
    char tmp[32];
    snprintf(tmp, sizeof tmp, ".env-%08x%08x", randombytes_random(),
             randombytes_random());
    int fd = openat(dfd, tmp,
                    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        return error_errno(err, error_from_errno(errno), errno,
                           "create " INSTALL_VARS_FILE);
    }
    uid_t uid;
    gid_t gid;
    hoist_err_t rc = HOIST_OK;
    if (fchmod(fd, 0600) != 0) {
        rc = error_errno(err, HOIST_ERR_IO, errno, "chmod " INSTALL_VARS_FILE);
    } else if (job->o->hook_user) {
        if (!s_hook_owner(job->o->hook_user, &uid, &gid, err)) {
            rc = HOIST_ERR_USAGE;
        } else if (fchown(fd, uid, gid) != 0) {
            rc = error_errno(err, HOIST_ERR_IO, errno,
                             "give " INSTALL_VARS_FILE " to user %s",
                             job->o->hook_user);
        }
    }
    for (size_t done = 0; rc == HOIST_OK && done < len;) {
        ssize_t n = write(fd, text + done, len - done);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            rc = error_errno(err, error_from_errno(errno), errno,
                             "write " INSTALL_VARS_FILE);
        } else {
            done += (size_t)n;
        }
    }
    if (rc == HOIST_OK &&
        (fsync(fd) != 0 || renameat(dfd, tmp, dfd, "env") != 0 ||
         fsync(dfd) != 0)) {
        rc = error_errno(err, error_from_errno(errno), errno,
                         "put " INSTALL_VARS_FILE " in place");
    }
    close(fd);
    if (rc != HOIST_OK) {
        unlinkat(dfd, tmp, 0);
    }
    return rc;
}

/* Opens VERSION's .hoist directory, making it (0755: the file in it is
 * what is private) if needed. A .hoist that is a link or a file (shipped
 * in the artifact) is refused: the name is reserved for Hoist. */
static int
s_open_dot_hoist(job_t *job, const char *version, hoist_error_t *err)
{
    char dir[PATH_MAX];
    releases_path(job->rel, version, dir, sizeof dir);
    int rfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (rfd < 0) {
        error_errno(err, error_from_errno(errno), errno, "open %s", dir);
        return -1;
    }
    if (mkdirat(rfd, ".hoist", 0755) != 0 && errno != EEXIST) {
        error_errno(err, error_from_errno(errno), errno, "create %s/.hoist",
                    dir);
        close(rfd);
        return -1;
    }
    int dfd =
        openat(rfd, ".hoist", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0) {
        error_errno(err, HOIST_ERR_ARCHIVE, errno,
                    "%s/.hoist is not a directory (does the artifact ship "
                    "one? the name is reserved for Hoist)",
                    dir);
    }
    close(rfd);
    return dfd;
}

/* Writes the job's variables to VERSION's INSTALL_VARS_FILE, replacing
 * what an earlier activation of that release left. */
static hoist_err_t
s_write_vars(job_t *job, const char *version, hoist_error_t *err)
{
    const install_opts_t *o = job->o;
    size_t len = install_vars_format(o->vars, o->n_vars, NULL, 0);
    char *text = sodium_malloc(len + 1);
    if (!text) {
        return error_set(err, HOIST_ERR_NOMEM, "out of memory");
    }
    install_vars_format(o->vars, o->n_vars, text, len + 1);
    int dfd = s_open_dot_hoist(job, version, err);
    hoist_err_t rc = dfd < 0 ? (err ? err->code : HOIST_ERR_IO)
                             : s_put_env(job, dfd, text, len, err);
    if (dfd >= 0) {
        close(dfd);
    }
    sodium_free(text); /* wipes it */
    if (rc != HOIST_OK) {
        error_prefix(err, "the variables of %s %s", job->j.app, version);
    }
    return rc;
}

/* The steps after STAGE, in order; see steps.h. */
static hoist_err_t
s_go_live(job_t *job, hoist_error_t *err)
{
    const char *v = job->version, *old = job->j.current;
    hoist_err_t rc = s_save(job, JOURNAL_BEFORE_ACTIVATE, err);
    if (rc != HOIST_OK) {
        return rc;
    }
    if ((rc = s_write_vars(job, v, err)) != HOIST_OK ||
        (rc = s_hook(job, job->spec, "before_activate",
                     job->spec->before_activate, v, old, err)) != HOIST_OK) {
        hoist_error_t e;
        s_abandon(job, &e);
        if (job->rep) {
            job->rep->outcome = INSTALL_ABANDONED;
            snprintf(job->rep->failed_step, sizeof job->rep->failed_step,
                     "before_activate");
        }
        error_prefix(err, "%s is still live; step before_activate failed",
                     old[0] ? old : "nothing");
        return rc;
    }
    /* The way back is made before the way forward is taken. */
    if ((rc = releases_prepare_back(job->rel, old, err)) != HOIST_OK ||
        (rc = s_save(job, JOURNAL_SWITCH, err)) != HOIST_OK) {
        hoist_error_t e;
        s_abandon(job, &e);
        job->rep->outcome = INSTALL_ABANDONED;
        return rc;
    }
    if ((rc = releases_switch(job->rel, v, err)) != HOIST_OK) {
        return s_rollback(job, "switch", err);
    }
    fault_point("switched");
    if ((rc = s_save(job, JOURNAL_ACTIVATE, err)) != HOIST_OK ||
        (rc = s_hook(job, job->spec, "activate", job->spec->activate, v, old,
                     err)) != HOIST_OK) {
        return s_rollback(job, "activate", err);
    }
    if ((rc = s_save(job, JOURNAL_HEALTH, err)) != HOIST_OK ||
        (rc = s_health(job, job->spec, v, old, err)) != HOIST_OK) {
        return s_rollback(job, "health", err);
    }
    return s_commit(job, err);
}

/* Finishes or undoes the step a crash left in JOB's journal. */
static hoist_err_t
s_recover(job_t *job, hoist_error_t *err)
{
    journal_step_t step = job->j.step;
    log_warn("%s: an install of %s was interrupted at step %s; %s", job->j.app,
             job->j.pending, journal_step_name(step),
             steps_recovery(step) == STEPS_ABANDON ? "abandoning it"
                                                   : "rolling back");
    switch (steps_recovery(step)) {
    case STEPS_NOTHING:
        return HOIST_OK;
    case STEPS_ABANDON:
        return s_abandon(job, err);
    case STEPS_ROLLBACK:
        break;
    }
    char note[1024] = "";
    hoist_error_t e;
    if (step != JOURNAL_ROLLBACK) {
        snprintf(job->j.failed_step, sizeof job->j.failed_step, "%s",
                 journal_step_name(step));
    }
    if (s_save(job, JOURNAL_ROLLBACK, &e) != HOIST_OK) {
        log_warn("%s: journal: %s", job->j.app, e.msg); /* see s_rollback */
    }
    hoist_err_t rc = s_put_back(job, note, sizeof note, err);
    if (rc == HOIST_OK) {
        log_info("%s: rolled back to %s%s", job->j.app,
                 job->j.current[0] ? job->j.current : "nothing", note);
    }
    return rc;
}

/* Opens APP's directory and journal under the held lock, recovering an
 * interrupted step first. */
static hoist_err_t
s_open_app(job_t *job, const char *app, hoist_error_t *err)
{
    job->rel = releases_open(job->o->root, app, err);
    if (!job->rel) {
        return HOIST_ERR_NOMEM;
    }
    hoist_err_t rc =
        journal_load(releases_journal_path(job->rel), app, &job->j, err);
    if (rc == HOIST_OK && job->j.step != JOURNAL_NONE) {
        rc = s_recover(job, err);
    }
    return rc;
}

/* Journals STAGE, naming the release and its artifact, so that a crash
 * from here on can be cleaned up (staging, the cache copy). */
static hoist_err_t
s_begin(job_t *job, const manifest_t *m, hoist_error_t *err)
{
    snprintf(job->j.env, sizeof job->j.env, "%s", job->o->env);
    snprintf(job->j.pending, sizeof job->j.pending, "%s", job->version);
    digest_hex(manifest_artifact_digest(m), job->j.pending_digest);
    job->j.pending_sequence = job->sequence;
    return s_save(job, JOURNAL_STAGE, err);
}

static hoist_err_t
s_install_locked(job_t *job, const manifest_t *m, const char *artifact,
                 hoist_error_t *err)
{
    /* Refused before any recovery runs another app's hooks. */
    if (job->o->app && strcmp(job->o->app, manifest_app(m)) != 0) {
        return error_set(err, HOIST_ERR_APP,
                         "the manifest is for app '%s', not '%s'",
                         manifest_app(m), job->o->app);
    }
    hoist_err_t rc = s_open_app(job, manifest_app(m), err);
    if (rc == HOIST_OK) {
        rc = s_admit(job, m, err);
    }
    if (rc != HOIST_OK) {
        return rc;
    }
    if (strcmp(job->j.current, job->version) == 0) {
        job->rep->outcome = INSTALL_ALREADY;
        return HOIST_OK;
    }
    if ((rc = releases_ensure(job->rel, err)) != HOIST_OK ||
        (rc = s_begin(job, m, err)) != HOIST_OK) {
        return rc;
    }
    int fd = s_take_artifact(job, m, artifact, err);
    if (fd < 0) {
        hoist_error_t e;
        s_idle(job, &e);
        return err ? err->code : HOIST_ERR_DIGEST;
    }
    rc = s_stage(job, fd, manifest_artifact_size(m), err);
    s_release_artifact(job, m, fd);
    if (rc != HOIST_OK) {
        hoist_error_t e;
        s_idle(job, &e);
        return rc;
    }
    job->rep->outcome = INSTALL_ABANDONED;
    rc = s_go_live(job, err);
    if (rc == HOIST_OK) {
        job->rep->outcome = INSTALL_INSTALLED;
    }
    return rc;
}

/* Puts JOB's version, a kept release, back; see
 * install_rollback. */
static hoist_err_t
s_restore_locked(job_t *job, const manifest_t *m, const char *artifact,
                 hoist_error_t *err)
{
    const char *app = manifest_app(m), *v = job->version;
    if (job->o->app && strcmp(job->o->app, app) != 0) {
        return error_set(err, HOIST_ERR_APP,
                         "the manifest is for app '%s', not '%s'", app,
                         job->o->app);
    }
    hoist_err_t rc = s_open_app(job, app, err);
    if (rc != HOIST_OK) {
        return rc;
    }
    if (strcmp(job->j.current, v) == 0) {
        job->rep->outcome = INSTALL_ALREADY;
        return HOIST_OK;
    }
    if (!manifest_env_allowed(m, job->o->env)) {
        return error_set(err, HOIST_ERR_ENV,
                         "%s %s may not run in environment '%s'", app, v,
                         job->o->env);
    }
    if (!journal_history_has(&job->j, v)) {
        return error_set(err, HOIST_ERR_NOTFOUND,
                         "%s %s is not kept on this machine (the previous "
                         "release is %s): install it again instead",
                         app, v, job->j.previous[0] ? job->j.previous : "none");
    }
    if (!(job->spec = s_spec_of(job, v, err))) {
        return err ? err->code : HOIST_ERR_SPEC;
    }
    /* PENDING names a kept release: abandoning or rolling back must not
     * remove it, whether or not it is the journal's previous release. */
    snprintf(job->j.env, sizeof job->j.env, "%s", job->o->env);
    snprintf(job->j.pending, sizeof job->j.pending, "%s", v);
    job->j.pending_digest[0] = '\0';
    job->j.pending_sequence = job->sequence;
    job->j.pending_kept = true;
    job->rep->outcome = INSTALL_ABANDONED;
    rc = s_go_live(job, err);
    if (rc == HOIST_OK) {
        job->rep->outcome = INSTALL_INSTALLED;
    }
    return rc;
}

typedef hoist_err_t (*locked_fn)(job_t *job, const manifest_t *m,
                                 const char *artifact, hoist_error_t *err);

/* Verifies the manifest, takes the root's lock and runs FN (an install or
 * a rollback) under it; VERB names the operation in errors. */
static hoist_err_t
s_run(const install_opts_t *o, const char *manifest_path,
      const char *artifact_path, locked_fn fn, const char *verb,
      install_report_t *rep, hoist_error_t *err)
{
    install_report_t dummy;
    job_t job = {.o = o, .rep = rep ? rep : &dummy};
    memset(job.rep, 0, sizeof *job.rep);
    job.rep->outcome = INSTALL_REJECTED;
    s_step(o, "verify");
    hoist_err_t rc = install_vars_check(o->vars, o->n_vars, err);
    if (rc == HOIST_OK) {
        rc = s_vars_env(&job, err);
    }
    manifest_t *m = NULL;
    if (rc == HOIST_OK &&
        !(m = manifest_load(manifest_path, o->trusted, o->n_trusted, err))) {
        rc = err ? err->code : HOIST_ERR_MANIFEST;
    }
    if (rc != HOIST_OK) {
        s_vars_env_free(&job);
        return rc;
    }
    job.version = manifest_version(m);
    job.sequence = manifest_sequence(m);
    snprintf(job.rep->app, sizeof job.rep->app, "%s", manifest_app(m));
    snprintf(job.rep->version, sizeof job.rep->version, "%s", job.version);
    int lock = s_lock(o->root, err);
    if (lock < 0) {
        rc = err ? err->code : HOIST_ERR_BUSY;
    } else {
        rc = fn(&job, m, artifact_path, err);
        close(lock);
    }
    if (rc != HOIST_OK) {
        error_prefix(err, "%s %s %s", verb, manifest_app(m), job.version);
    }
    snprintf(job.rep->live, sizeof job.rep->live, "%s", job.j.current);
    spec_destroy(&job.spec);
    releases_destroy(&job.rel);
    manifest_destroy(&m);
    s_vars_env_free(&job);
    return rc;
}

hoist_err_t
install_release(const install_opts_t *o, const char *manifest_path,
                const char *artifact_path, install_report_t *rep,
                hoist_error_t *err)
{
    return s_run(o, manifest_path, artifact_path, s_install_locked, "install",
                 rep, err);
}

hoist_err_t
install_rollback(const install_opts_t *o, const char *manifest_path,
                 install_report_t *rep, hoist_error_t *err)
{
    return s_run(o, manifest_path, NULL, s_restore_locked, "roll back to", rep,
                 err);
}

/* Calls FN for every valid app directory under ROOT/apps. */
static hoist_err_t
s_each_app(const char *root,
           hoist_err_t (*fn)(const char *app, void *arg, hoist_error_t *err),
           void *arg, hoist_error_t *err)
{
    char apps[PATH_MAX];
    snprintf(apps, sizeof apps, "%s/apps", root);
    DIR *d = opendir(apps);
    if (!d) {
        if (errno == ENOENT) {
            return HOIST_OK;
        }
        return error_errno(err, HOIST_ERR_IO, errno, "open %s", apps);
    }
    hoist_err_t rc = HOIST_OK;
    struct dirent *e;
    while (rc == HOIST_OK && (e = readdir(d)) != NULL) {
        if (manifest_name_valid(e->d_name)) {
            rc = fn(e->d_name, arg, err);
        }
    }
    closedir(d);
    return rc;
}

typedef struct {
    const install_opts_t *o;
    int recovered;
} recover_arg_t;

static hoist_err_t
s_recover_app(const char *app, void *arg, hoist_error_t *err)
{
    recover_arg_t *ra = arg;
    install_report_t rep;
    job_t job = {.o = ra->o, .rep = &rep};
    job.rel = releases_open(ra->o->root, app, err);
    if (!job.rel) {
        return HOIST_ERR_NOMEM;
    }
    hoist_err_t rc =
        journal_load(releases_journal_path(job.rel), app, &job.j, err);
    if (rc == HOIST_OK && job.j.step != JOURNAL_NONE) {
        ra->recovered++;
        rc = s_recover(&job, err);
    } else if (rc == HOIST_OK) {
        /* Idle, but a crash right after a commit can leave the way back
         * (current.back) and temporary files behind. */
        hoist_error_t e;
        if (releases_clean_staging(job.rel, &e) != HOIST_OK) {
            log_warn("%s: %s", app, e.msg);
        }
        s_clean_cache(&job);
    }
    releases_destroy(&job.rel);
    if (rc != HOIST_OK) {
        error_prefix(err, "recover %s", app);
    }
    return rc;
}

hoist_err_t
install_recover(const install_opts_t *o, int *recovered, hoist_error_t *err)
{
    recover_arg_t ra = {.o = o};
    int lock = s_lock(o->root, err);
    if (lock < 0) {
        return err ? err->code : HOIST_ERR_BUSY;
    }
    hoist_err_t rc = s_each_app(o->root, s_recover_app, &ra, err);
    close(lock);
    if (recovered) {
        *recovered = ra.recovered;
    }
    return rc;
}

typedef struct {
    const char *root;
    FILE *out;
} status_arg_t;

static hoist_err_t
s_status_app(const char *app, void *arg, hoist_error_t *err)
{
    status_arg_t *sa = arg;
    journal_t j;
    char live[MANIFEST_VERSION_MAX + 1] = "";
    releases_t *rel = releases_open(sa->root, app, err);
    if (!rel) {
        return HOIST_ERR_NOMEM;
    }
    hoist_err_t rc = journal_load(releases_journal_path(rel), app, &j, err);
    if (rc == HOIST_OK) {
        rc = releases_current(rel, live, sizeof live, err);
    }
    if (rc == HOIST_OK) {
        fprintf(sa->out, "%-16s %-16s %-16s %s%s\n", app, live[0] ? live : "-",
                j.previous[0] ? j.previous : "-",
                j.step == JOURNAL_NONE ? "idle" : "interrupted at ",
                j.step == JOURNAL_NONE ? "" : journal_step_name(j.step));
    }
    releases_destroy(&rel);
    return rc;
}

hoist_err_t
install_status(const char *root, FILE *out, hoist_error_t *err)
{
    status_arg_t sa = {.root = root, .out = out};
    fprintf(out, "%-16s %-16s %-16s %s\n", "APP", "CURRENT", "PREVIOUS",
            "STATE");
    return s_each_app(root, s_status_app, &sa, err);
}
