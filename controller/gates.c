/*
 * gates: see gates.h. Each gate is a small function that appends its
 * sentence to the result when it is not met; gates_check runs them all,
 * so a refused promotion lists everything that stands in its way at once
 * instead of making the release manager fix one thing per attempt.
 */
#include "gates.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Appends an unmet gate of KIND with the formatted sentence. */
static void __attribute__((format(printf, 3, 4)))
s_unmet(gates_result_t *r, gates_kind_t kind, const char *fmt, ...)
{
    if (r->count == GATES_MAX) {
        return;
    }
    gates_unmet_t *u = &r->unmet[r->count++];
    va_list ap;
    va_start(ap, fmt);
    u->kind = kind;
    vsnprintf(u->text, sizeof u->text, fmt, ap);
    va_end(ap);
}

static const char *
s_or(const char *s, const char *fallback)
{
    return s && *s ? s : fallback;
}

/* Writes LC's environments as "dev -> qa -> production" into BUF. */
static const char *
s_ladder(const pipeline_lifecycle_t *lc, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < lc->count && used < len; i++) {
        int n = snprintf(buf + used, len - used, "%s%s", i ? " -> " : "",
                         lc->envs[i]);
        used += n > 0 ? (size_t)n : 0;
    }
    return buf;
}

/* The lifecycle gate, then the upstream gate when ENV has a place. */
static void
s_ladder_gates(const pipeline_lifecycle_t *lc, const pipeline_env_t *e,
               const gates_input_t *in, gates_result_t *r)
{
    char ladder[1024];
    int i = pipeline_lifecycle_index(lc, e->name);
    if (e->mirror[0]) {
        s_unmet(r, GATES_LIFECYCLE,
                "%s mirrors %s: it gets what succeeds there and is not "
                "promoted to",
                e->name, e->mirror);
        return;
    }
    if (i < 0) {
        s_unmet(r, GATES_LIFECYCLE, "%s is not in lifecycle %s (%s)", e->name,
                lc->name, s_ladder(lc, ladder, sizeof ladder));
        return;
    }
    if (i > 0 && !in->upstream_succeeded) {
        const char *prev = lc->envs[i - 1];
        char detail[128] = "";
        if (in->upstream_detail && *in->upstream_detail) {
            snprintf(detail, sizeof detail, " (%s)", in->upstream_detail);
        }
        s_unmet(r, GATES_UPSTREAM,
                "%s: %s %s has not succeeded on every agent of %s%s: "
                "promote it to %s first",
                e->name, s_or(in->app, "APP"), s_or(in->version, "VERSION"),
                prev, detail, prev);
    }
}

/* Whether approval K is the first from its user among those counted. */
static bool
s_first_from_user(const gates_input_t *in, size_t k, const char *env,
                  rbac_role_t role)
{
    for (size_t j = 0; j < k; j++) {
        const gates_approval_t *a = &in->approvals[j];
        if (a->role == role && a->env && strcmp(a->env, env) == 0 && a->user &&
            strcmp(a->user, in->approvals[k].user) == 0) {
            return false;
        }
    }
    return true;
}

static void
s_approval_gate(const pipeline_env_t *e, const gates_input_t *in,
                gates_result_t *r)
{
    size_t have = 0;
    if (e->approvals == 0) {
        return;
    }
    for (size_t k = 0; k < in->napprovals; k++) {
        const gates_approval_t *a = &in->approvals[k];
        if (a->user && a->env && a->role == e->approval_role &&
            strcmp(a->env, e->name) == 0 &&
            s_first_from_user(in, k, e->name, e->approval_role)) {
            have++;
        }
    }
    if (have < e->approvals) {
        const char *role = rbac_role_name(e->approval_role);
        s_unmet(r, GATES_APPROVALS,
                "%s needs %u approval%s from role %s, has %zu: run hoist "
                "approve %s %s --env %s as a %s user",
                e->name, e->approvals, e->approvals == 1 ? "" : "s", role, have,
                s_or(in->app, "APP"), s_or(in->version, "VERSION"), e->name,
                role);
    }
}

static hoist_err_t
s_window_gate(const pipeline_env_t *e, int64_t now, gates_result_t *r,
              hoist_error_t *err)
{
    int64_t next = INT64_MAX;
    size_t which = 0;
    for (size_t i = 0; i < e->nwindows; i++) {
        int64_t start = 0;
        hoist_err_t rc =
            calendar_next_window_start(&e->windows[i], now, &start, err);
        if (rc != HOIST_OK) {
            return rc;
        }
        if (start == now) {
            return HOIST_OK;
        }
        if (start < next) {
            next = start;
            which = i;
        }
    }
    if (e->nwindows) {
        char when[128];
        calendar_format(next, e->windows[which].tz, when, sizeof when);
        s_unmet(r, GATES_WINDOW,
                "%s is outside its deploy windows; next window opens %s: "
                "schedule it with --at '%s'",
                e->name, when, when);
    }
    return HOIST_OK;
}

/* The freeze gate for freeze F, in force now. */
static void
s_frozen(const pipeline_env_t *e, const calendar_freeze_t *f,
         const gates_input_t *in, gates_result_t *r)
{
    char to[16];
    const char *what = "an admin may pass with --override-freeze --reason "
                       "TEXT";
    if (in->override_freeze && !in->requester_admin) {
        what = "only an admin may pass with --override-freeze";
    } else if (in->override_freeze &&
               !(in->override_reason && *in->override_reason)) {
        what = "--override-freeze needs --reason TEXT, which is audited";
    } else if (in->override_freeze) {
        r->freeze_overridden = true;
        return;
    }
    s_unmet(r, GATES_FREEZE,
            "%s is frozen until %s inclusive, %s time (%s): %s", e->name,
            calendar_format_date(&f->to, to, sizeof to), f->tz, f->reason,
            what);
}

static hoist_err_t
s_freeze_gate(const pipeline_env_t *e, const gates_input_t *in,
              gates_result_t *r, hoist_error_t *err)
{
    for (size_t i = 0; i < e->nfreezes; i++) {
        bool inside = false;
        hoist_err_t rc =
            calendar_in_freeze(&e->freezes[i], in->now_ms, &inside, err);
        if (rc != HOIST_OK) {
            return rc;
        }
        if (inside) {
            s_frozen(e, &e->freezes[i], in, r);
        }
    }
    return HOIST_OK;
}

hoist_err_t
gates_check(const pipeline_t *p, const gates_input_t *in, gates_result_t *out,
            hoist_error_t *err)
{
    const pipeline_env_t *e = pipeline_env(p, in->env);
    const pipeline_lifecycle_t *lc = pipeline_lifecycle(p, in->lifecycle);
    gates_result_t r;
    if (!e) {
        return error_set(err, HOIST_ERR_NOTFOUND,
                         "no environment '%s' in the pipeline file",
                         s_or(in->env, ""));
    }
    if (!lc) {
        return error_set(err, HOIST_ERR_NOTFOUND,
                         "no lifecycle '%s' in the pipeline file",
                         s_or(in->lifecycle, "default"));
    }
    memset(&r, 0, sizeof r);
    s_ladder_gates(lc, e, in, &r);
    s_approval_gate(e, in, &r);
    hoist_err_t rc = s_window_gate(e, in->now_ms, &r, err);
    if (rc == HOIST_OK) {
        rc = s_freeze_gate(e, in, &r, err);
    }
    if (rc == HOIST_OK) {
        *out = r;
    }
    return rc;
}

const char *
gates_format(const gates_result_t *r, char *buf, size_t len)
{
    size_t used = 0;
    if (len == 0) {
        return buf;
    }
    buf[0] = '\0';
    for (size_t i = 0; i < r->count && used < len; i++) {
        int n = snprintf(buf + used, len - used, "%s%s", i ? "\n" : "",
                         r->unmet[i].text);
        used += n > 0 ? (size_t)n : 0;
    }
    return buf;
}
