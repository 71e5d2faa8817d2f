/*
 * planner: the rollout planner (the rules and the picture are in
 * planner.h).
 *
 * Each call rebuilds the plan from scratch (stable order, waves,
 * batches) and replays the rules over a scratch copy of the agents'
 * states, so that what one rule decides in this call is visible to the
 * next: an agent failed at its deadline counts toward the threshold in
 * the same call, and a threshold crossed in this call stops the starts
 * of this call. Nothing is remembered between calls; the store is the
 * memory.
 */
#include "planner.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duration.h"

/* One agent as the sort sees it. */
typedef struct {
    const char *site;
    const char *name;
    size_t index;
} s_key_t;

/* The plan and the scratch state of one call. */
typedef struct {
    const strategy_t *s;
    const planner_agent_t *agents;
    size_t n;
    const planner_rollout_t *r;
    uint64_t now;
    /* The plan: agent indices batch by batch; batch k is
     * order[first[k] .. first[k+1]). */
    size_t *order;
    size_t *first;
    size_t *wave; /* wave of batch k */
    size_t nbatches;
    bool canary; /* batch 0 is the canary */
    size_t max_running;
    /* Scratch state after the actions so far. */
    planner_state_t *state;
    uint64_t *finished;
    planner_action_t *actions;
    planner_decision_t *out;
    size_t cur; /* the first batch not done (nbatches: all done) */
} s_ctx_t;

static const char *
s_site(const planner_agent_t *a)
{
    return a->site ? a->site : "";
}

static int
s_key_cmp(const void *x, const void *y)
{
    const s_key_t *a = x, *b = y;
    int c = strcmp(a->site, b->site);
    return c ? c : strcmp(a->name, b->name);
}

/* Fills KEYS with the agents in the stable order; fails on a repeated
 * (site, name), which would make the order depend on the input's. */
static hoist_err_t
s_sort(const planner_agent_t *agents, size_t n, s_key_t *keys,
       hoist_error_t *err)
{
    for (size_t i = 0; i < n; i++) {
        assert(agents[i].name);
        keys[i] = (s_key_t){s_site(&agents[i]), agents[i].name, i};
    }
    qsort(keys, n, sizeof *keys, s_key_cmp);
    for (size_t i = 1; i < n; i++) {
        if (s_key_cmp(&keys[i - 1], &keys[i]) == 0) {
            return error_set(err, HOIST_ERR_USAGE,
                             "rollout: agent '%s' of site '%s' is targeted "
                             "twice; agent names must be unique",
                             keys[i].name, keys[i].site);
        }
    }
    return HOIST_OK;
}

/* Appends the wave made of the marked agents (TAKE[pos]) of KEYS to the
 * plan, split into batches of BATCH (0: one batch), and marks them
 * placed. */
static void
s_add_wave(s_ctx_t *c, const s_key_t *keys, bool *placed, const bool *take,
           size_t batch, size_t *nplaced, size_t *nwaves)
{
    size_t in_batch = 0, added = 0;
    for (size_t pos = 0; pos < c->n; pos++) {
        if (!take[pos] || placed[pos]) {
            continue;
        }
        if (in_batch == 0 || (batch && in_batch == batch)) {
            c->first[c->nbatches] = *nplaced;
            c->wave[c->nbatches] = *nwaves;
            c->nbatches++;
            in_batch = 0;
        }
        c->order[(*nplaced)++] = keys[pos].index;
        placed[pos] = true;
        in_batch++;
        added++;
    }
    if (added) {
        (*nwaves)++;
    }
}

/* Marks in TAKE the next COUNT unplaced agents (SITE NULL) or every
 * unplaced agent of SITE. */
static void
s_pick(const s_ctx_t *c, const s_key_t *keys, const bool *placed, bool *take,
       size_t count, const char *site)
{
    memset(take, 0, c->n * sizeof *take);
    for (size_t pos = 0; pos < c->n && (site || count); pos++) {
        if (placed[pos] || (site && strcmp(keys[pos].site, site) != 0)) {
            continue;
        }
        take[pos] = true;
        count -= site ? 0 : 1;
    }
}

/* Builds the waves and batches of planner.h into C. */
static void
s_build(s_ctx_t *c, const s_key_t *keys, bool *placed, bool *take)
{
    const strategy_t *s = c->s;
    size_t n = c->n, nplaced = 0, nwaves = 0;
    size_t batch = s->batch.value ? strategy_amount_of(s->batch, n) : 0;
    batch = s->batch.value && batch == 0 ? 1 : batch;
    memset(placed, 0, n * sizeof *placed);
    c->nbatches = 0;
    if (s->type == STRATEGY_CANARY && n > 0) {
        size_t k = strategy_amount_of(s->canary, n);
        s_pick(c, keys, placed, take, k ? k : 1, NULL);
        s_add_wave(c, keys, placed, take, 0, &nplaced, &nwaves);
        c->canary = true;
    }
    for (unsigned w = 0; w < s->nwaves && w < STRATEGY_MAX_WAVES; w++) {
        const strategy_wave_t *wv = &s->waves[w];
        if (wv->kind == STRATEGY_WAVE_SITE) {
            s_pick(c, keys, placed, take, 0, wv->site);
        } else {
            size_t k = strategy_amount_of(wv->amount, n);
            s_pick(c, keys, placed, take, k ? k : 1, NULL);
        }
        s_add_wave(c, keys, placed, take, batch, &nplaced, &nwaves);
    }
    for (size_t pos = 0; s->by_site && pos < n; pos++) {
        if (!placed[pos]) {
            s_pick(c, keys, placed, take, 0, keys[pos].site);
            s_add_wave(c, keys, placed, take, batch, &nplaced, &nwaves);
        }
    }
    for (size_t pos = 0; pos < n; pos++) {
        take[pos] = true;
    }
    s_add_wave(c, keys, placed, take, batch, &nplaced, &nwaves);
    assert(nplaced == n);
    c->first[c->nbatches] = n;
    size_t mu = strategy_amount_of(s->max_unavailable, n);
    c->max_running = s->max_unavailable.value ? (mu ? mu : 1)
                     : batch                  ? batch
                                              : n;
}

/* Allocates the plan and scratch arrays of C and builds the plan. */
static hoist_err_t
s_plan(s_ctx_t *c, hoist_error_t *err)
{
    size_t n = c->n;
    if (n > PLANNER_MAX_AGENTS) {
        return error_set(err, HOIST_ERR_LIMIT,
                         "rollout: %zu agents is more than the limit of %d", n,
                         PLANNER_MAX_AGENTS);
    }
    s_key_t *keys = calloc(n + 1, sizeof *keys);
    bool *flags = calloc(2 * n + 1, sizeof *flags);
    c->order = calloc(n + 1, sizeof *c->order);
    c->first = calloc(n + 2, sizeof *c->first);
    c->wave = calloc(n + 2, sizeof *c->wave);
    c->state = calloc(n + 1, sizeof *c->state);
    c->finished = calloc(n + 1, sizeof *c->finished);
    hoist_err_t rc = HOIST_OK;
    if (!keys || !flags || !c->order || !c->first || !c->wave || !c->state ||
        !c->finished) {
        rc = error_set(err, HOIST_ERR_NOMEM, "rollout: out of memory");
    } else if ((rc = s_sort(c->agents, n, keys, err)) == HOIST_OK) {
        s_build(c, keys, flags, flags + n);
    }
    free(keys);
    free(flags);
    return rc;
}

static void
s_free(s_ctx_t *c)
{
    free(c->order);
    free(c->first);
    free(c->wave);
    free(c->state);
    free(c->finished);
}

/* ---- Deciding ---- */

/* Records action WHAT for agent I with a reason, and applies it to the
 * scratch state. */
static void __attribute__((format(printf, 4, 5)))
s_act(s_ctx_t *c, size_t i, planner_do_t what, const char *fmt, ...)
{
    planner_action_t *a = &c->actions[c->out->nactions++];
    assert(c->out->nactions <= c->n);
    a->agent = i;
    a->what = what;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->reason, sizeof a->reason, fmt, ap);
    va_end(ap);
    static const planner_state_t to[] = {
        [PLANNER_DO_START] = PLANNER_RUNNING,
        [PLANNER_DO_FAIL] = PLANNER_FAILED,
        [PLANNER_DO_SKIP] = PLANNER_SKIPPED,
        [PLANNER_DO_ROLLBACK] = PLANNER_ROLLING_BACK,
        [PLANNER_DO_GIVE_UP] = PLANNER_ROLLBACK_FAILED,
    };
    c->state[i] = to[what];
    if (what != PLANNER_DO_START && what != PLANNER_DO_ROLLBACK) {
        c->finished[i] = c->now;
    }
}

/* Lowers the time of the next call to AT. */
static void
s_wake(s_ctx_t *c, uint64_t at)
{
    if (c->out->next_ms == 0 || at < c->out->next_ms) {
        c->out->next_ms = at;
    }
}

/* Starts agent I or orders it back (WHAT), with REASON: its progress
 * deadline runs from now, so the next call must come by then. */
static void
s_send(s_ctx_t *c, size_t i, planner_do_t what, const char *reason)
{
    s_act(c, i, what, "%s", reason);
    s_wake(c, c->now + c->s->progress_deadline_ms);
}

static bool
s_stopped(const s_ctx_t *c)
{
    return c->r->halted || c->r->cancelled || c->out->halt_now;
}

/* Fails RUNNING agents, and gives up ROLLING_BACK ones, whose last report
 * is progress_deadline old. */
static void
s_deadlines(s_ctx_t *c)
{
    char d[32];
    duration_format(c->s->progress_deadline_ms, d, sizeof d);
    for (size_t p = 0; p < c->n; p++) {
        size_t i = c->order[p];
        const planner_agent_t *a = &c->agents[i];
        if (c->state[i] != PLANNER_RUNNING &&
            c->state[i] != PLANNER_ROLLING_BACK) {
            continue;
        }
        uint64_t since = a->last_progress_ms > a->started_ms
                             ? a->last_progress_ms
                             : a->started_ms;
        uint64_t at = since + c->s->progress_deadline_ms;
        if (c->now < at) {
            s_wake(c, at);
        } else if (c->state[i] == PLANNER_RUNNING) {
            s_act(c, i, PLANNER_DO_FAIL, "no progress for %s", d);
        } else {
            s_act(c, i, PLANNER_DO_GIVE_UP, "rollback: no progress for %s", d);
        }
    }
}

/* Halts (halt_now and the reason) when a canary failed or the failures
 * crossed the threshold, unless the rollout is stopped already. */
static void
s_check_halt(s_ctx_t *c)
{
    if (s_stopped(c)) {
        return;
    }
    size_t failed = 0, canary_failed = 0;
    const char *first = NULL;
    for (size_t p = 0; p < c->n; p++) {
        size_t i = c->order[p];
        if (c->state[i] != PLANNER_FAILED) {
            continue;
        }
        failed++;
        if (c->canary && p < c->first[1]) {
            first = first ? first : c->agents[i].name;
            canary_failed++;
        }
    }
    strategy_amount_t t = c->s->failure_threshold;
    bool over = t.percent ? (uint64_t)failed * 100 > (uint64_t)t.value * c->n
                          : failed > t.value;
    if (canary_failed) {
        c->out->halt_now = true;
        snprintf(c->out->reason, sizeof c->out->reason, "canary %s failed%s",
                 first, canary_failed > 1 ? " (and others)" : "");
    } else if (over) {
        c->out->halt_now = true;
        snprintf(c->out->reason, sizeof c->out->reason,
                 "%zu of %zu agents failed, threshold %u%s", failed, c->n,
                 t.value, t.percent ? "%" : "");
    }
}

/* True when no agent of batch K is WAITING or RUNNING. */
static bool
s_done(const s_ctx_t *c, size_t k)
{
    for (size_t p = c->first[k]; p < c->first[k + 1]; p++) {
        planner_state_t st = c->state[c->order[p]];
        if (st == PLANNER_WAITING || st == PLANNER_RUNNING) {
            return false;
        }
    }
    return true;
}

/* The time batch K (> 0) is due, batch K-1 being done and batch K-1 due
 * at PREV; false (with a wake-up time where there is one) when it is not
 * due yet at all. */
static bool
s_gate(s_ctx_t *c, size_t k, uint64_t prev, uint64_t *due)
{
    uint64_t last = prev;
    size_t ok = 0;
    for (size_t p = c->first[k - 1]; p < c->first[k]; p++) {
        size_t i = c->order[p];
        last = c->finished[i] > last ? c->finished[i] : last;
        ok += c->state[i] == PLANNER_SUCCEEDED;
    }
    const strategy_t *s = c->s;
    bool after_canary = c->canary && k == 1;
    uint64_t at = last + (after_canary ? s->hold_ms : s->bake_ms);
    if (after_canary && ok == 0) {
        c->out->halt_now = true;
        snprintf(c->out->reason, sizeof c->out->reason,
                 "no canary agent took the release (all were skipped)");
        return false;
    }
    if (after_canary && s->then == STRATEGY_THEN_MANUAL) {
        if (!c->r->continued) {
            if (c->now >= at) {
                c->out->waiting_continue = true;
            } else {
                s_wake(c, at);
            }
            return false;
        }
        at = c->r->continued_ms > at ? c->r->continued_ms : at;
    }
    if (c->now < at) {
        s_wake(c, at);
        return false;
    }
    *due = at;
    return true;
}

/* Fails or skips the offline WAITING agents of batch K (due at DUE)
 * whose wait is over. */
static void
s_offline(s_ctx_t *c, size_t k, uint64_t due)
{
    char w[32];
    duration_format(c->s->offline_wait_ms, w, sizeof w);
    for (size_t p = c->first[k]; p < c->first[k + 1]; p++) {
        size_t i = c->order[p];
        const planner_agent_t *a = &c->agents[i];
        if (c->state[i] != PLANNER_WAITING || a->online) {
            continue;
        }
        uint64_t from = a->offline_since_ms > due ? a->offline_since_ms : due;
        uint64_t at = from + c->s->offline_wait_ms;
        if (c->now < at) {
            s_wake(c, at);
        } else if (c->s->offline_then == STRATEGY_OFFLINE_SKIP) {
            s_act(c, i, PLANNER_DO_SKIP, "offline for more than %s", w);
        } else {
            s_act(c, i, PLANNER_DO_FAIL, "offline for more than %s", w);
        }
    }
}

/* Walks the batches in order to the first one not done, settling the
 * offline agents of each due batch on the way. Sets C->cur; returns true
 * when that batch is due (its agents may start). */
static bool
s_walk(s_ctx_t *c)
{
    uint64_t due = c->r->started_ms;
    for (size_t k = 0; k < c->nbatches; k++) {
        c->cur = k;
        if (k > 0 && !s_gate(c, k, due, &due)) {
            return false;
        }
        s_offline(c, k, due);
        s_check_halt(c);
        if (s_stopped(c)) {
            return false;
        }
        if (!s_done(c, k)) {
            return true;
        }
    }
    c->cur = c->nbatches;
    return false;
}

/* Starts the online WAITING agents of the current batch while fewer than
 * max_running agents run. */
static void
s_start(s_ctx_t *c)
{
    size_t running = 0;
    for (size_t i = 0; i < c->n; i++) {
        running += c->state[i] == PLANNER_RUNNING;
    }
    for (size_t p = c->first[c->cur];
         p < c->first[c->cur + 1] && running < c->max_running; p++) {
        size_t i = c->order[p];
        if (c->state[i] == PLANNER_WAITING && c->agents[i].online) {
            s_send(c, i, PLANNER_DO_START, "");
            running++;
        }
    }
}

/* Rolls back every SUCCEEDED agent when the rollout halted with
 * auto_rollback or was cancelled with rollback. */
static void
s_rollback(s_ctx_t *c)
{
    const planner_rollout_t *r = c->r;
    bool halted = r->halted || c->out->halt_now;
    if (!(halted && c->s->auto_rollback) &&
        !(r->cancelled && r->cancel_with_rollback)) {
        return;
    }
    char why[PLANNER_REASON_MAX];
    if (c->out->halt_now) {
        snprintf(why, sizeof why, "halted: %s", c->out->reason);
    } else {
        snprintf(why, sizeof why, "%s",
                 r->cancelled ? "deployment cancelled" : "deployment halted");
    }
    for (size_t p = 0; p < c->n; p++) {
        size_t i = c->order[p];
        if (c->state[i] != PLANNER_SUCCEEDED) {
            continue;
        }
        s_send(c, i, PLANNER_DO_ROLLBACK, why);
    }
}

/* Counts the scratch states into OUT and decides the end state. */
static void
s_finish(s_ctx_t *c)
{
    planner_decision_t *o = c->out;
    size_t *count[] = {
        [PLANNER_WAITING] = &o->waiting,
        [PLANNER_RUNNING] = &o->running,
        [PLANNER_SUCCEEDED] = &o->succeeded,
        [PLANNER_FAILED] = &o->failed,
        [PLANNER_ROLLING_BACK] = &o->rolling_back,
        [PLANNER_ROLLED_BACK] = &o->rolled_back,
        [PLANNER_ROLLBACK_FAILED] = &o->rollback_failed,
        [PLANNER_SKIPPED] = &o->skipped,
    };
    for (size_t i = 0; i < c->n; i++) {
        if ((unsigned)c->state[i] < sizeof count / sizeof *count) {
            (*count[c->state[i]])++;
        }
    }
    o->halted = s_stopped(c);
    /* A stopped rollout never walked its gates: show where it stopped. */
    for (c->cur = o->halted ? 0 : c->cur;
         o->halted && c->cur < c->nbatches && s_done(c, c->cur);) {
        c->cur++;
    }
    o->batch = c->cur;
    o->nbatches = c->nbatches;
    if (o->running || o->rolling_back) {
        return;
    }
    if (c->r->cancelled) {
        o->end = PLANNER_END_CANCELLED;
    } else if (o->halted) {
        o->end = c->s->auto_rollback && o->rollback_failed == 0
                     ? PLANNER_END_ROLLED_BACK
                     : PLANNER_END_FAILED;
    } else if (c->cur == c->nbatches) {
        o->end = o->failed || o->rollback_failed ? PLANNER_END_FAILED
                                                 : PLANNER_END_SUCCEEDED;
    }
    if (o->end != PLANNER_END_NONE) {
        o->next_ms = 0;
        o->waiting_continue = false;
    }
}

hoist_err_t
planner_decide(const strategy_t *s, const planner_agent_t *agents, size_t n,
               const planner_rollout_t *r, uint64_t now_ms,
               planner_action_t *actions, planner_decision_t *out,
               hoist_error_t *err)
{
    planner_decision_t d = {0};
    s_ctx_t c = {.s = s,
                 .agents = agents,
                 .n = n,
                 .r = r,
                 .now = now_ms,
                 .actions = actions,
                 .out = &d};
    hoist_err_t rc = s_plan(&c, err);
    if (rc != HOIST_OK) {
        s_free(&c);
        return rc;
    }
    for (size_t i = 0; i < n; i++) {
        c.state[i] = agents[i].state;
        c.finished[i] = agents[i].finished_ms;
    }
    s_deadlines(&c);
    s_check_halt(&c);
    c.cur = 0;
    if (!s_stopped(&c) && s_walk(&c) && !s_stopped(&c)) {
        s_start(&c);
    }
    s_rollback(&c);
    s_finish(&c);
    s_free(&c);
    *out = d;
    return HOIST_OK;
}

hoist_err_t
planner_plan(const strategy_t *s, const planner_agent_t *agents, size_t n,
             planner_slot_t *slots, size_t *nbatches, hoist_error_t *err)
{
    s_ctx_t c = {.s = s, .agents = agents, .n = n};
    hoist_err_t rc = s_plan(&c, err);
    if (rc != HOIST_OK) {
        s_free(&c);
        return rc;
    }
    for (size_t k = 0; k < c.nbatches; k++) {
        for (size_t p = c.first[k]; p < c.first[k + 1]; p++) {
            slots[c.order[p]] = (planner_slot_t){
                .wave = c.wave[k], .batch = k, .canary = c.canary && k == 0};
        }
    }
    *nbatches = c.nbatches;
    s_free(&c);
    return HOIST_OK;
}

/* ---- Selection ---- */

/* True if the comma-separated LIST has the term TERM (LEN bytes). */
static bool
s_has(const char *list, const char *term, size_t len)
{
    while (list && *list) {
        size_t n = strcspn(list, ",");
        if (n == len && memcmp(list, term, len) == 0) {
            return true;
        }
        list += n + (list[n] == ',');
    }
    return false;
}

hoist_err_t
planner_selector_check(const char *selector, hoist_error_t *err)
{
    static const char ok[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVW"
                             "XYZ0123456789._-/:@+";
    size_t len = selector ? strlen(selector) : 0;
    if (len == 0 || len > PLANNER_SELECTOR_MAX) {
        return error_set(err, HOIST_ERR_USAGE,
                         "--only: expected 1 to %d characters like role=web, "
                         "got %zu",
                         PLANNER_SELECTOR_MAX, len);
    }
    for (const char *t = selector; *t;) {
        size_t n = strcspn(t, ",");
        size_t k = strspn(t, ok);
        if (k == 0 || t[k] != '=' || k + 1 >= n ||
            strspn(t + k + 1, ok) != n - k - 1) {
            return error_set(err, HOIST_ERR_USAGE,
                             "--only: expected key=value terms separated by "
                             "commas (like role=web,site=fra1), got '%.*s'",
                             (int)n, t);
        }
        t += n;
        if (*t == ',' && *++t == '\0') {
            return error_set(err, HOIST_ERR_USAGE,
                             "--only: '%s' ends with a comma", selector);
        }
    }
    return HOIST_OK;
}

bool
planner_select(const char *tags, const char *selector)
{
    if (!selector || !*selector) {
        return true;
    }
    if (planner_selector_check(selector, NULL) != HOIST_OK) {
        return false;
    }
    for (const char *t = selector; *t;) {
        size_t n = strcspn(t, ",");
        if (!s_has(tags, t, n)) {
            return false;
        }
        t += n + (t[n] == ',');
    }
    return true;
}

const char *
planner_state_name(planner_state_t state)
{
    static const char *const names[] = {
        [PLANNER_WAITING] = "waiting",
        [PLANNER_RUNNING] = "running",
        [PLANNER_SUCCEEDED] = "succeeded",
        [PLANNER_FAILED] = "failed",
        [PLANNER_ROLLING_BACK] = "rolling_back",
        [PLANNER_ROLLED_BACK] = "rolled_back",
        [PLANNER_ROLLBACK_FAILED] = "rollback_failed",
        [PLANNER_SKIPPED] = "skipped",
    };
    if ((unsigned)state >= sizeof names / sizeof *names) {
        return "unknown";
    }
    return names[state];
}

const char *
planner_end_name(planner_end_t end)
{
    static const char *const names[] = {
        [PLANNER_END_NONE] = "running",
        [PLANNER_END_SUCCEEDED] = "succeeded",
        [PLANNER_END_FAILED] = "failed",
        [PLANNER_END_ROLLED_BACK] = "rolled_back",
        [PLANNER_END_CANCELLED] = "cancelled",
    };
    if ((unsigned)end >= sizeof names / sizeof *names) {
        return "unknown";
    }
    return names[end];
}
