/*
 * test_planner: the rollout planner, by hand-made cases and by simulating
 * many generated fleets against invariants.
 */
#include "testutil.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "planner.h"
#include "strategy.h"

#define MIN       60000ULL
#define T0        1000000000ULL /* the rollout's start, in ms */
#define MAXAGENTS 64

/* A fleet and its rollout, as the store would hold them. */
typedef struct {
    planner_agent_t a[MAXAGENTS];
    char names[MAXAGENTS][16];
    char sites[MAXAGENTS][16];
    size_t n;
    strategy_t s;
    planner_rollout_t r;
    uint64_t now;
    planner_action_t acts[MAXAGENTS];
    planner_decision_t d;
} fleet_t;

/* N agents a00.. spread over NSITES sites s0.. (agent i in site i %
 * NSITES), all online and waiting, under the override TEXT in
 * production with a 5m progress deadline. */
static void
f_init(fleet_t *f, size_t n, size_t nsites, const char *text)
{
    memset(f, 0, sizeof *f);
    strategy_default(&f->s, "production");
    f->s.progress_deadline_ms = 5 * MIN; /* progress_deadline: 5m */
    hoist_error_t err = {0};
    if (text && strategy_parse(text, &f->s, &err) != HOIST_OK) {
        fail_msg("%s", err.msg);
    }
    f->n = n;
    for (size_t i = 0; i < n; i++) {
        snprintf(f->names[i], sizeof f->names[i], "a%02zu", i);
        snprintf(f->sites[i], sizeof f->sites[i], "s%zu", i % nsites);
        f->a[i] = (planner_agent_t){
            .name = f->names[i], .site = f->sites[i], .online = true};
    }
    f->r.started_ms = T0;
    f->now = T0;
}

/* Decides at f->now; the call must succeed. */
static const planner_decision_t *
f_decide(fleet_t *f)
{
    hoist_error_t err = {0};
    memset(f->acts, 0xa5, sizeof f->acts);
    if (planner_decide(&f->s, f->a, f->n, &f->r, f->now, f->acts, &f->d,
                       &err) != HOIST_OK) {
        fail_msg("planner_decide: %s", err.msg);
    }
    return &f->d;
}

/* Applies the last decision as the rollout driver would. */
static void
f_apply(fleet_t *f)
{
    for (size_t k = 0; k < f->d.nactions; k++) {
        planner_agent_t *a = &f->a[f->acts[k].agent];
        switch (f->acts[k].what) {
        case PLANNER_DO_START:
            a->state = PLANNER_RUNNING;
            a->started_ms = a->last_progress_ms = f->now;
            break;
        case PLANNER_DO_ROLLBACK:
            a->state = PLANNER_ROLLING_BACK;
            a->started_ms = a->last_progress_ms = f->now;
            break;
        case PLANNER_DO_FAIL:
            a->state = PLANNER_FAILED;
            a->finished_ms = f->now;
            break;
        case PLANNER_DO_SKIP:
            a->state = PLANNER_SKIPPED;
            a->finished_ms = f->now;
            break;
        case PLANNER_DO_GIVE_UP:
            a->state = PLANNER_ROLLBACK_FAILED;
            a->finished_ms = f->now;
            break;
        }
    }
    if (f->d.halt_now) {
        f->r.halted = true;
    }
}

/* Decides and applies at time AT. */
static const planner_decision_t *
f_step(fleet_t *f, uint64_t at)
{
    f->now = at;
    f_decide(f);
    f_apply(f);
    return &f->d;
}

/* Agent I reports that it reached STATE now. */
static void
f_report(fleet_t *f, size_t i, planner_state_t state)
{
    f->a[i].state = state;
    f->a[i].last_progress_ms = f->now;
    f->a[i].finished_ms = f->now;
}

/* The agents that the last decision gave action WHAT, as "a00 a01". */
static const char *
f_who(const fleet_t *f, planner_do_t what)
{
    static char buf[MAXAGENTS * 4 + 1];
    buf[0] = '\0';
    for (size_t k = 0; k < f->d.nactions; k++) {
        if (f->acts[k].what == what) {
            strcat(buf, *buf ? " " : "");
            strcat(buf, f->a[f->acts[k].agent].name);
        }
    }
    return buf;
}

/* The reason of the last decision's action for agent I. */
static const char *
f_reason(const fleet_t *f, size_t i)
{
    for (size_t k = 0; k < f->d.nactions; k++) {
        if (f->acts[k].agent == i) {
            return f->acts[k].reason;
        }
    }
    return "(no action)";
}

static void
test_all_at_once(void **state)
{
    (void)state;
    fleet_t f;
    f_init(&f, 5, 1, "all-at-once");
    f.a[3].online = false;
    f.a[3].offline_since_ms = T0 - 5 * MIN;
    const planner_decision_t *d = f_step(&f, T0);
    assert_string_equal(f_who(&f, PLANNER_DO_START), "a00 a01 a02 a04");
    assert_int_equal(d->running, 4);
    assert_int_equal(d->waiting, 1);
    assert_int_equal(d->nbatches, 1);
    /* The offline agent's wait counts from its batch's due time. */
    assert_int_equal(d->next_ms, T0 + 5 * MIN); /* progress deadline */
    assert_int_equal(d->end, PLANNER_END_NONE);
    f.now = T0 + MIN;
    for (size_t i = 0; i < 5; i++) {
        if (i != 3) {
            f_report(&f, i, PLANNER_SUCCEEDED);
        }
    }
    d = f_step(&f, T0 + MIN);
    assert_int_equal(d->nactions, 0);
    assert_int_equal(d->next_ms, T0 + 10 * MIN);
    d = f_step(&f, T0 + 10 * MIN);
    assert_string_equal(f_who(&f, PLANNER_DO_FAIL), "a03");
    assert_string_equal(f_reason(&f, 3), "offline for more than 10m");
    /* One failure with threshold 0 halts; production rolls back. */
    assert_true(d->halt_now);
    assert_string_equal(d->reason, "1 of 5 agents failed, threshold 0");
    assert_string_equal(f_who(&f, PLANNER_DO_ROLLBACK), "a00 a01 a02 a04");
    assert_string_equal(f_reason(&f, 0),
                        "halted: 1 of 5 agents failed, threshold 0");
}

static void
test_max_unavailable_respected(void **state)
{
    (void)state;
    fleet_t f;
    f_init(&f, 7, 1, "rolling:batch=3,max_unavailable=2");
    f.s.failure_threshold.value = 5;
    const planner_decision_t *d = f_step(&f, T0);
    assert_string_equal(f_who(&f, PLANNER_DO_START), "a00 a01");
    assert_int_equal(d->nbatches, 3);
    assert_int_equal(d->batch, 0);
    f.now = T0 + MIN;
    f_report(&f, 0, PLANNER_SUCCEEDED);
    d = f_step(&f, f.now);
    assert_string_equal(f_who(&f, PLANNER_DO_START), "a02");
    assert_int_equal(d->running, 2);
    f.now = T0 + 2 * MIN;
    f_report(&f, 1, PLANNER_FAILED);
    d = f_step(&f, f.now);
    /* a02 still runs: batch 0 is not done, so batch 1 waits. */
    assert_int_equal(d->nactions, 0);
    f.now = T0 + 3 * MIN;
    f_report(&f, 2, PLANNER_SUCCEEDED);
    d = f_step(&f, f.now);
    assert_string_equal(f_who(&f, PLANNER_DO_START), "a03 a04");
    assert_int_equal(d->batch, 1);
    assert_false(d->halted);
}

static void
test_canary_failure_rolls_back_only_canaries(void **state)
{
    (void)state;
    fleet_t f;
    f_init(&f, 10, 2, "canary:count=2,hold=5m,batch=4");
    f.s.failure_threshold.value = 3; /* the canary halts regardless */
    const planner_decision_t *d = f_step(&f, T0);
    /* Stable order is by site, then name: s0 holds a00 a02 a04 ... */
    assert_string_equal(f_who(&f, PLANNER_DO_START), "a00 a02");
    f.now = T0 + MIN;
    f_report(&f, 0, PLANNER_SUCCEEDED);
    f_report(&f, 2, PLANNER_FAILED);
    d = f_step(&f, f.now);
    assert_true(d->halt_now);
    assert_string_equal(d->reason, "canary a02 failed");
    assert_string_equal(f_who(&f, PLANNER_DO_ROLLBACK), "a00");
    assert_string_equal(f_who(&f, PLANNER_DO_START), "");
    assert_int_equal(d->end, PLANNER_END_NONE);
    f.now = T0 + 2 * MIN;
    f_report(&f, 0, PLANNER_ROLLED_BACK);
    d = f_step(&f, f.now);
    assert_int_equal(d->end, PLANNER_END_ROLLED_BACK);
    assert_int_equal(d->waiting, 8);
    assert_int_equal(d->rolled_back, 1);
    assert_int_equal(d->nactions, 0);
}

/* Runs 10 agents all at once with a 25% threshold, FAILS of them
 * failing; returns the end state. */
static planner_end_t
s_percent_threshold(size_t fails)
{
    fleet_t f;
    f_init(&f, 10, 1, "all-at-once");
    f.s.failure_threshold = (strategy_amount_t){25, true};
    f_step(&f, T0);
    f.now = T0 + MIN;
    for (size_t i = 0; i < 10; i++) {
        f_report(&f, i, i < fails ? PLANNER_FAILED : PLANNER_SUCCEEDED);
    }
    const planner_decision_t *d = f_step(&f, f.now);
    if (fails * 10 > 25) {
        assert_true(d->halt_now);
        char want[64];
        snprintf(want, sizeof want, "%zu of 10 agents failed, threshold 25%%",
                 fails);
        assert_string_equal(d->reason, want);
        assert_int_equal(d->rolling_back, 10 - fails);
        f.now = T0 + 2 * MIN;
        for (size_t i = fails; i < 10; i++) {
            f_report(&f, i, PLANNER_ROLLED_BACK);
        }
        d = f_step(&f, f.now);
    } else {
        assert_false(d->halted);
        assert_string_equal(f_who(&f, PLANNER_DO_ROLLBACK), "");
    }
    return d->end;
}

static void
test_percent_threshold(void **state)
{
    (void)state;
    assert_int_equal(s_percent_threshold(3), PLANNER_END_ROLLED_BACK);
    /* 20% is within 25%: no halt, but a failure makes the end failed. */
    assert_int_equal(s_percent_threshold(2), PLANNER_END_FAILED);
    assert_int_equal(s_percent_threshold(0), PLANNER_END_SUCCEEDED);
}

static void
test_agent_disappears_mid_batch(void **state)
{
    (void)state;
    fleet_t f;
    f_init(&f, 4, 1, "rolling:batch=2");
    const planner_decision_t *d = f_step(&f, T0);
    assert_string_equal(f_who(&f, PLANNER_DO_START), "a00 a01");
    /* a01 vanishes: it goes offline and never reports again. */
    f.a[1].online = false;
    f.a[1].offline_since_ms = T0 + 30000;
    f.now = T0 + MIN;
    f_report(&f, 0, PLANNER_SUCCEEDED);
    d = f_step(&f, f.now);
    assert_int_equal(d->nactions, 0);
    assert_int_equal(d->next_ms, T0 + 5 * MIN);
    d = f_step(&f, T0 + 5 * MIN);
    assert_string_equal(f_who(&f, PLANNER_DO_FAIL), "a01");
    assert_string_equal(f_reason(&f, 1), "no progress for 5m");
    assert_true(d->halt_now);
    assert_string_equal(d->reason, "1 of 4 agents failed, threshold 0");
    assert_string_equal(f_who(&f, PLANNER_DO_ROLLBACK), "a00");

    /* With a threshold of 1 the same loss lets the next batch go. */
    f_init(&f, 4, 1, "rolling:batch=2");
    f.s.failure_threshold.value = 1;
    f_step(&f, T0);
    f.a[1].online = false;
    f.now = T0 + MIN;
    f_report(&f, 0, PLANNER_SUCCEEDED);
    d = f_step(&f, T0 + 5 * MIN);
    assert_string_equal(f_who(&f, PLANNER_DO_FAIL), "a01");
    assert_string_equal(f_who(&f, PLANNER_DO_START), "a02 a03");
    assert_false(d->halted);
}

/* Copies F's agents into G in another order, with fresh name buffers,
 * as a restarted controller would load them. PERM[i] is where agent i
 * goes. */
static void
s_reload(const fleet_t *f, fleet_t *g, const size_t *perm)
{
    *g = *f;
    for (size_t i = 0; i < f->n; i++) {
        size_t j = perm[i];
        g->a[j] = f->a[i];
        snprintf(g->names[j], sizeof g->names[j], "%s", f->a[i].name);
        snprintf(g->sites[j], sizeof g->sites[j], "%s", f->a[i].site);
        g->a[j].name = g->names[j];
        g->a[j].site = g->sites[j];
    }
}

/* Asserts that F's and G's last decisions are the same, G's agents
 * being F's moved by PERM. */
static void
s_same_decision(const fleet_t *f, const fleet_t *g, const size_t *perm)
{
    const planner_decision_t *x = &f->d, *y = &g->d;
    assert_int_equal(x->nactions, y->nactions);
    for (size_t k = 0; k < x->nactions; k++) {
        assert_int_equal(perm[f->acts[k].agent], g->acts[k].agent);
        assert_int_equal(f->acts[k].what, g->acts[k].what);
        assert_string_equal(f->acts[k].reason, g->acts[k].reason);
    }
    assert_int_equal(x->halt_now, y->halt_now);
    assert_string_equal(x->reason, y->reason);
    assert_int_equal(x->halted, y->halted);
    assert_int_equal(x->waiting_continue, y->waiting_continue);
    assert_int_equal(x->next_ms, y->next_ms);
    assert_int_equal(x->end, y->end);
    assert_int_equal(x->batch, y->batch);
    assert_int_equal(x->running, y->running);
}

static void
test_restart_resumes_same_plan(void **state)
{
    (void)state;
    fleet_t f, g;
    size_t perm[MAXAGENTS];
    f_init(&f, 12, 3, "rolling:batch=25%,by=site,bake=2m");
    f.s.failure_threshold.value = 2;
    f_step(&f, T0);
    assert_string_equal(f_who(&f, PLANNER_DO_START), "a00 a03 a06");
    f.now = T0 + MIN;
    f_report(&f, 0, PLANNER_SUCCEEDED);
    f_report(&f, 3, PLANNER_FAILED);
    f_report(&f, 6, PLANNER_SUCCEEDED);
    f_step(&f, T0 + 2 * MIN); /* bake: nothing until T0 + 3m */
    assert_int_equal(f.d.next_ms, T0 + 3 * MIN);
    /* The controller restarts; the store hands the agents back reversed. */
    for (size_t i = 0; i < f.n; i++) {
        perm[i] = f.n - 1 - i;
    }
    s_reload(&f, &g, perm);
    f.now = g.now = T0 + 3 * MIN;
    f_decide(&f);
    f_decide(&g);
    assert_string_equal(f_who(&f, PLANNER_DO_START), "a09");
    s_same_decision(&f, &g, perm);
    /* And in a shuffled order, later on. */
    f_apply(&f);
    for (size_t i = 0; i < f.n; i++) {
        perm[i] = (i * 5 + 3) % f.n;
    }
    s_reload(&f, &g, perm);
    f.now = g.now = T0 + 9 * MIN;
    f_decide(&f);
    f_decide(&g);
    s_same_decision(&f, &g, perm);
    assert_string_equal(f_who(&f, PLANNER_DO_FAIL), "a09");
}

static void
test_manual_canary_waits_for_continue(void **state)
{
    (void)state;
    fleet_t f;
    f_init(&f, 5, 1, "canary:count=1,hold=5m,then=manual");
    const planner_decision_t *d = f_step(&f, T0);
    assert_string_equal(f_who(&f, PLANNER_DO_START), "a00");
    assert_int_equal(d->nbatches, 2);
    f.now = T0 + MIN;
    f_report(&f, 0, PLANNER_SUCCEEDED);
    d = f_step(&f, T0 + 2 * MIN);
    assert_false(d->waiting_continue);
    assert_int_equal(d->next_ms, T0 + 6 * MIN); /* the hold's end */
    /* A continue given during the hold still waits for its end. */
    f.r.continued = true;
    f.r.continued_ms = T0 + 3 * MIN;
    d = f_step(&f, T0 + 3 * MIN);
    assert_int_equal(d->nactions, 0);
    f.r.continued = false;
    d = f_step(&f, T0 + 6 * MIN);
    assert_true(d->waiting_continue);
    assert_int_equal(d->nactions, 0);
    assert_int_equal(d->next_ms, 0);
    assert_int_equal(d->end, PLANNER_END_NONE);
    d = f_step(&f, T0 + 60 * MIN);
    assert_true(d->waiting_continue);
    f.r.continued = true;
    f.r.continued_ms = T0 + 61 * MIN;
    d = f_step(&f, T0 + 61 * MIN);
    assert_false(d->waiting_continue);
    assert_string_equal(f_who(&f, PLANNER_DO_START), "a01 a02 a03 a04");

    /* then=auto goes on by itself once the hold is over. */
    f_init(&f, 3, 1, "canary:count=1,hold=5m");
    f_step(&f, T0);
    f.now = T0 + MIN;
    f_report(&f, 0, PLANNER_SUCCEEDED);
    d = f_step(&f, T0 + 5 * MIN);
    assert_int_equal(d->nactions, 0);
    d = f_step(&f, T0 + 6 * MIN);
    assert_string_equal(f_who(&f, PLANNER_DO_START), "a01 a02");
}

static void
test_cancel(void **state)
{
    (void)state;
    for (int with_rollback = 0; with_rollback < 2; with_rollback++) {
        fleet_t f;
        f_init(&f, 6, 1, "rolling:batch=2");
        f_step(&f, T0);
        f.now = T0 + MIN;
        f_report(&f, 0, PLANNER_SUCCEEDED);
        f.r.cancelled = true;
        f.r.cancel_with_rollback = with_rollback;
        const planner_decision_t *d = f_step(&f, T0 + MIN);
        assert_true(d->halted);
        assert_false(d->halt_now);
        assert_string_equal(f_who(&f, PLANNER_DO_START), "");
        assert_string_equal(f_who(&f, PLANNER_DO_ROLLBACK),
                            with_rollback ? "a00" : "");
        if (with_rollback) {
            assert_string_equal(f_reason(&f, 0), "deployment cancelled");
        }
        assert_int_equal(d->end, PLANNER_END_NONE); /* a01 still runs */
        f.now = T0 + 2 * MIN;
        f_report(&f, 1, PLANNER_SUCCEEDED);
        d = f_step(&f, f.now);
        assert_string_equal(f_who(&f, PLANNER_DO_ROLLBACK),
                            with_rollback ? "a01" : "");
        if (with_rollback) {
            assert_int_equal(d->end, PLANNER_END_NONE);
            f.now = T0 + 3 * MIN;
            f_report(&f, 0, PLANNER_ROLLED_BACK);
            f_report(&f, 1, PLANNER_ROLLED_BACK);
            d = f_step(&f, f.now);
        }
        assert_int_equal(d->end, PLANNER_END_CANCELLED);
        assert_int_equal(d->succeeded, with_rollback ? 0 : 2);
        assert_int_equal(d->waiting, 4);
    }
}

static void
test_offline_skip_vs_fail(void **state)
{
    (void)state;
    for (int skip = 0; skip < 2; skip++) {
        fleet_t f;
        f_init(&f, 3, 1, "all-at-once");
        f.s.failure_threshold.value = 1;
        f.s.offline_then = skip ? STRATEGY_OFFLINE_SKIP : STRATEGY_OFFLINE_FAIL;
        f.s.offline_wait_ms = 10 * MIN;
        f.a[1].online = false;
        f.a[1].offline_since_ms = T0 - 60 * MIN;
        const planner_decision_t *d = f_step(&f, T0);
        assert_string_equal(f_who(&f, PLANNER_DO_START), "a00 a02");
        f.now = T0 + MIN;
        f_report(&f, 0, PLANNER_SUCCEEDED);
        f_report(&f, 2, PLANNER_SUCCEEDED);
        d = f_step(&f, f.now);
        assert_int_equal(d->next_ms, T0 + 10 * MIN);
        d = f_step(&f, T0 + 10 * MIN);
        assert_string_equal(f_who(&f, skip ? PLANNER_DO_SKIP : PLANNER_DO_FAIL),
                            "a01");
        assert_false(d->halted);
        assert_int_equal(d->end,
                         skip ? PLANNER_END_SUCCEEDED : PLANNER_END_FAILED);
    }
    /* Back online before the wait is over: it starts like the others. */
    fleet_t f;
    f_init(&f, 2, 1, "all-at-once");
    f.a[1].online = false;
    f.a[1].offline_since_ms = T0 + 0;
    f_step(&f, T0);
    f.now = T0 + MIN;
    f_report(&f, 0, PLANNER_SUCCEEDED);
    f.a[1].online = true;
    f_step(&f, T0 + 9 * MIN);
    assert_string_equal(f_who(&f, PLANNER_DO_START), "a01");
}

static void
test_by_site_waves_in_order_with_bake(void **state)
{
    (void)state;
    fleet_t f;
    f_init(&f, 6, 3, "all-at-once:by=site,bake=2m");
    const planner_decision_t *d = f_step(&f, T0);
    assert_string_equal(f_who(&f, PLANNER_DO_START), "a00 a03");
    assert_int_equal(d->nbatches, 3);
    f.now = T0 + MIN;
    f_report(&f, 0, PLANNER_SUCCEEDED);
    f.now = T0 + 90000;
    f_report(&f, 3, PLANNER_SUCCEEDED);
    d = f_step(&f, T0 + 2 * MIN);
    assert_int_equal(d->nactions, 0);
    assert_int_equal(d->batch, 1);
    assert_int_equal(d->next_ms, T0 + 90000 + 2 * MIN); /* last finish */
    d = f_step(&f, T0 + 90000 + 2 * MIN);
    assert_string_equal(f_who(&f, PLANNER_DO_START), "a01 a04");
    f.now = T0 + 5 * MIN;
    f_report(&f, 1, PLANNER_SUCCEEDED);
    f_report(&f, 4, PLANNER_SUCCEEDED);
    d = f_step(&f, T0 + 7 * MIN);
    assert_string_equal(f_who(&f, PLANNER_DO_START), "a02 a05");
    f.now = T0 + 8 * MIN;
    f_report(&f, 2, PLANNER_SUCCEEDED);
    f_report(&f, 5, PLANNER_SUCCEEDED);
    d = f_step(&f, f.now);
    assert_int_equal(d->end, PLANNER_END_SUCCEEDED);
    assert_int_equal(d->batch, 3);
}

static void
test_explicit_waves(void **state)
{
    (void)state;
    fleet_t f;
    f_init(&f, 20, 4, "rolling:batch=3");
    /* canary host, then 10%, then site s3, then site s1, then the rest. */
    f.s.nwaves = 4;
    f.s.waves[0] =
        (strategy_wave_t){.kind = STRATEGY_WAVE_COUNT, .amount = {1, false}};
    f.s.waves[1] =
        (strategy_wave_t){.kind = STRATEGY_WAVE_COUNT, .amount = {10, true}};
    f.s.waves[2] = (strategy_wave_t){.kind = STRATEGY_WAVE_SITE, .site = "s3"};
    f.s.waves[3] = (strategy_wave_t){.kind = STRATEGY_WAVE_SITE, .site = "s1"};
    planner_slot_t slots[MAXAGENTS];
    size_t nb = 0;
    hoist_error_t err = {0};
    assert_int_equal(planner_plan(&f.s, f.a, f.n, slots, &nb, &err), HOIST_OK);
    /* s0 = a00 a04 a08 a12 a16, s1 = a01 a05 .., s3 = a03 a07 .. */
    assert_int_equal(slots[0].wave, 0);
    assert_int_equal(slots[4].wave, 1);
    assert_int_equal(slots[8].wave, 1); /* 10% of 20 is 2 */
    assert_int_equal(slots[12].wave, 4);
    assert_int_equal(slots[3].wave, 2);
    assert_int_equal(slots[19].wave, 2);
    assert_int_equal(slots[1].wave, 3);
    assert_int_equal(slots[2].wave, 4);
    /* Batches: [a00] [a04 a08] [s3: 3+2] [s1: 3+2] [rest 7: 3+3+1] */
    assert_int_equal(nb, 1 + 1 + 2 + 2 + 3);
    assert_false(slots[0].canary);
    assert_int_equal(slots[3].batch, 2);
    assert_int_equal(slots[15].batch, 3);

    /* With a canary, the canary comes first and the waves follow. */
    f.s.type = STRATEGY_CANARY;
    f.s.canary = (strategy_amount_t){1, false};
    f.s.batch = (strategy_amount_t){0, false};
    assert_int_equal(planner_plan(&f.s, f.a, f.n, slots, &nb, &err), HOIST_OK);
    assert_true(slots[0].canary);
    assert_int_equal(slots[4].wave, 1); /* the {count: 1} wave */
    assert_int_equal(nb, 6);
}

static void
test_refuses_bad_input(void **state)
{
    (void)state;
    fleet_t f;
    f_init(&f, 3, 1, "all-at-once");
    f.a[2].name = f.a[0].name;
    planner_decision_t d = {.nactions = 77};
    hoist_error_t err = {0};
    assert_int_equal(planner_decide(&f.s, f.a, f.n, &f.r, T0, f.acts, &d, &err),
                     HOIST_ERR_USAGE);
    assert_contains(err.msg, "agent 'a00' of site 's0' is targeted twice");
    assert_int_equal(d.nactions, 77);
    assert_int_equal(planner_decide(&f.s, f.a, PLANNER_MAX_AGENTS + 1, &f.r, T0,
                                    f.acts, &d, &err),
                     HOIST_ERR_LIMIT);
    /* The same name in two sites is two agents. */
    f.a[2].site = "s9";
    assert_int_equal(planner_decide(&f.s, f.a, f.n, &f.r, T0, f.acts, &d, &err),
                     HOIST_OK);
    /* No agents at all: nothing to do, and done. */
    assert_int_equal(planner_decide(&f.s, f.a, 0, &f.r, T0, f.acts, &d, &err),
                     HOIST_OK);
    assert_int_equal(d.end, PLANNER_END_SUCCEEDED);
}

static void
test_select(void **state)
{
    (void)state;
    assert_true(planner_select("role=web,site=fra1", "role=web"));
    assert_true(planner_select("role=web,site=fra1", "site=fra1,role=web"));
    assert_true(planner_select("role=db,role=web", "role=web"));
    assert_false(planner_select("role=web,site=fra1", "role=db"));
    assert_false(planner_select("role=webserver", "role=web"));
    assert_false(planner_select("role=web", "role=web,site=fra1"));
    assert_false(planner_select(NULL, "role=web"));
    assert_true(planner_select(NULL, NULL));
    assert_true(planner_select("a=b", ""));
    assert_false(planner_select("role=web", "role"));
    hoist_error_t err = {0};
    assert_int_equal(planner_selector_check("role=web,site=fra1", &err),
                     HOIST_OK);
    const char *bad[] = {"role",      "=web",  "role=",      "role=web,",
                         ",role=web", "a=b=c", "role = web", "role=web,,a=b"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(planner_selector_check(bad[i], &err), HOIST_ERR_USAGE);
        assert_contains(err.msg, "--only");
        assert_false(planner_select("role=web,a=b", bad[i]));
    }
    assert_string_equal(planner_state_name(PLANNER_ROLLING_BACK),
                        "rolling_back");
    assert_string_equal(planner_end_name(PLANNER_END_ROLLED_BACK),
                        "rolled_back");
}

/* ---- Generated fleets ---- */

typedef struct {
    uint64_t x;
} rng_t;

static uint64_t
r_next(rng_t *r)
{
    uint64_t z = (r->x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t
r_below(rng_t *r, uint64_t n)
{
    return n ? r_next(r) % n : 0;
}

/* True with probability P percent. */
static bool
r_chance(rng_t *r, unsigned p)
{
    return r_below(r, 100) < p;
}

static strategy_amount_t
r_amount(rng_t *r, uint32_t maxcount, uint32_t lo_pct, uint32_t hi_pct)
{
    if (r_chance(r, 50)) {
        return (strategy_amount_t){(uint32_t)(1 + r_below(r, maxcount)), false};
    }
    return (strategy_amount_t){
        (uint32_t)(lo_pct + r_below(r, hi_pct - lo_pct + 1)), true};
}

/* A random valid strategy over NSITES sites. */
static void
r_strategy(rng_t *r, size_t nsites, strategy_t *s)
{
    strategy_default(s, "production");
    s->type = (strategy_type_t)r_below(r, 3);
    if (s->type == STRATEGY_ROLLING ||
        (s->type == STRATEGY_CANARY && r_chance(r, 50))) {
        s->batch = r_amount(r, 6, 5, 50);
    }
    if (s->type == STRATEGY_CANARY) {
        s->canary = r_amount(r, 3, 5, 30);
        s->hold_ms = r_below(r, 4) * MIN;
        s->then = r_chance(r, 50) ? STRATEGY_THEN_MANUAL : STRATEGY_THEN_AUTO;
    }
    if (r_chance(r, 30)) {
        s->max_unavailable = r_amount(r, 4, 10, 60);
    }
    if (r_chance(r, 30)) {
        s->by_site = true;
    } else if (r_chance(r, 25)) {
        s->nwaves = (unsigned)(1 + r_below(r, 4));
        for (unsigned w = 0; w < s->nwaves; w++) {
            if (r_chance(r, 50)) {
                s->waves[w].kind = STRATEGY_WAVE_COUNT;
                s->waves[w].amount = r_amount(r, 3, 5, 40);
            } else {
                /* Sites may repeat here: the second wave is empty. */
                s->waves[w].kind = STRATEGY_WAVE_SITE;
                snprintf(s->waves[w].site, sizeof s->waves[w].site, "s%u",
                         (unsigned)r_below(r, nsites + 1));
            }
        }
    }
    s->bake_ms = r_below(r, 5) * 30000;
    s->failure_threshold =
        r_chance(r, 50) ? (strategy_amount_t){(uint32_t)r_below(r, 4), false}
                        : (strategy_amount_t){(uint32_t)r_below(r, 51), true};
    s->auto_rollback = r_chance(r, 60);
    s->progress_deadline_ms = 5 * MIN;
    s->offline_wait_ms = r_below(r, 11) * MIN;
    s->offline_then =
        r_chance(r, 50) ? STRATEGY_OFFLINE_SKIP : STRATEGY_OFFLINE_FAIL;
}

/* What happens to one simulated agent. */
typedef enum { FATE_OK, FATE_FAIL, FATE_VANISH } fate_t;

typedef struct {
    fate_t deploy, rollback;
    uint64_t deploy_ms; /* how long its deploy takes (< the deadline) */
    uint64_t back_at;   /* an offline agent comes back (UINT64_MAX: no) */
    uint64_t vanished;  /* it vanished at this time (0: not) */
    bool ever_started;
    bool canary;
    size_t batch;
} sim_agent_t;

typedef struct {
    fleet_t f;
    sim_agent_t sa[MAXAGENTS];
    rng_t rng;
    uint64_t cancel_at, continue_at; /* 0: not scheduled */
    bool cancel_rollback;
    size_t max_running;
    size_t started_batch; /* the highest batch started so far */
    size_t steps;
} sim_t;

static void
sim_init(sim_t *m, uint64_t seed)
{
    memset(m, 0, sizeof *m);
    m->rng.x = seed;
    rng_t *r = &m->rng;
    size_t n = 1 + r_below(r, 60), nsites = 1 + r_below(r, 4);
    f_init(&m->f, n, nsites, NULL);
    r_strategy(r, nsites, &m->f.s);
    /* Some fleets are healthy, some are a bad release. */
    unsigned pfail = (unsigned)r_below(r, 20),
             pvanish = (unsigned)r_below(r, 6);
    for (size_t i = 0; i < n; i++) {
        sim_agent_t *a = &m->sa[i];
        unsigned roll = (unsigned)r_below(r, 100);
        a->deploy = roll < pfail             ? FATE_FAIL
                    : roll < pfail + pvanish ? FATE_VANISH
                                             : FATE_OK;
        roll = (unsigned)r_below(r, 100);
        a->rollback = roll < 5 ? FATE_FAIL : roll < 10 ? FATE_VANISH : FATE_OK;
        a->deploy_ms = (1 + r_below(r, 4)) * MIN - r_below(r, 30000);
        a->back_at = UINT64_MAX;
        if (r_chance(r, 10)) {
            m->f.a[i].online = false;
            m->f.a[i].offline_since_ms = T0 - r_below(r, 30) * MIN;
            if (r_chance(r, 50)) {
                a->back_at = T0 + r_below(r, 40) * MIN;
            }
        }
    }
    if (r_chance(r, 15)) {
        m->cancel_at = T0 + r_below(r, 60) * MIN + 1;
        m->cancel_rollback = r_chance(r, 50);
    }
    const strategy_t *s = &m->f.s;
    size_t b = s->batch.value ? strategy_amount_of(s->batch, n) : 0;
    size_t mu = strategy_amount_of(s->max_unavailable, n);
    m->max_running = s->max_unavailable.value ? (mu ? mu : 1)
                     : s->batch.value         ? (b ? b : 1)
                                              : n;
    planner_slot_t slots[MAXAGENTS];
    size_t nb = 0;
    hoist_error_t err = {0};
    assert_int_equal(planner_plan(s, m->f.a, n, slots, &nb, &err), HOIST_OK);
    for (size_t i = 0; i < n; i++) {
        m->sa[i].batch = slots[i].batch;
        m->sa[i].canary = slots[i].canary;
    }
}

/* The time of the next thing the world does after NOW (UINT64_MAX: none). */
static uint64_t
sim_next_event(const sim_t *m)
{
    uint64_t at = UINT64_MAX;
    for (size_t i = 0; i < m->f.n; i++) {
        const planner_agent_t *a = &m->f.a[i];
        const sim_agent_t *sa = &m->sa[i];
        uint64_t t = UINT64_MAX;
        if (!a->online && sa->back_at != UINT64_MAX && !sa->vanished) {
            t = sa->back_at;
        } else if (a->state == PLANNER_RUNNING && !sa->vanished) {
            t = a->started_ms + sa->deploy_ms;
        } else if (a->state == PLANNER_ROLLING_BACK && !sa->vanished) {
            t = a->started_ms + MIN;
        }
        at = t < at ? t : at;
    }
    if (m->cancel_at && !m->f.r.cancelled && m->cancel_at < at) {
        at = m->cancel_at;
    }
    if (m->continue_at && !m->f.r.continued && m->continue_at < at) {
        at = m->continue_at;
    }
    return at;
}

/* Lets the world act at f.now: reports, returns, continue, cancel. */
static void
sim_world(sim_t *m)
{
    fleet_t *f = &m->f;
    for (size_t i = 0; i < f->n; i++) {
        planner_agent_t *a = &f->a[i];
        sim_agent_t *sa = &m->sa[i];
        if (!a->online && !sa->vanished && sa->back_at <= f->now) {
            a->online = true;
        }
        if (sa->vanished) {
            continue;
        }
        bool running = a->state == PLANNER_RUNNING;
        bool back = a->state == PLANNER_ROLLING_BACK;
        uint64_t end = a->started_ms + (running ? sa->deploy_ms : MIN);
        if ((!running && !back) || end > f->now) {
            continue;
        }
        fate_t fate = running ? sa->deploy : sa->rollback;
        if (fate == FATE_VANISH) {
            sa->vanished = f->now;
            a->online = false;
            a->offline_since_ms = f->now;
        } else if (running) {
            f_report(f, i,
                     fate == FATE_OK ? PLANNER_SUCCEEDED : PLANNER_FAILED);
        } else {
            f_report(f, i,
                     fate == FATE_OK ? PLANNER_ROLLED_BACK
                                     : PLANNER_ROLLBACK_FAILED);
        }
    }
    if (m->cancel_at && m->cancel_at <= f->now && !f->r.cancelled) {
        f->r.cancelled = true;
        f->r.cancel_with_rollback = m->cancel_rollback;
    }
    if (m->continue_at && m->continue_at <= f->now && !f->r.continued) {
        f->r.continued = true;
        f->r.continued_ms = f->now;
    }
}

/* Checks the last decision's actions against the states before it. */
static void
sim_check_actions(sim_t *m, const planner_agent_t *before, bool stopped)
{
    fleet_t *f = &m->f;
    bool seen[MAXAGENTS] = {0};
    for (size_t k = 0; k < f->d.nactions; k++) {
        const planner_action_t *a = &f->acts[k];
        assert_true(a->agent < f->n);
        assert_false(seen[a->agent]);
        seen[a->agent] = true;
        planner_state_t st = before[a->agent].state;
        switch (a->what) {
        case PLANNER_DO_START:
            assert_int_equal(st, PLANNER_WAITING);
            assert_true(before[a->agent].online);
            /* Nothing starts after a halt or a cancel. */
            assert_false(stopped || f->d.halt_now);
            /* Waves and batches start in order. */
            assert_true(m->sa[a->agent].batch >= m->started_batch);
            m->started_batch = m->sa[a->agent].batch;
            m->sa[a->agent].ever_started = true;
            break;
        case PLANNER_DO_FAIL:
            assert_true(st == PLANNER_RUNNING ||
                        (st == PLANNER_WAITING && !before[a->agent].online));
            break;
        case PLANNER_DO_SKIP:
            assert_int_equal(st, PLANNER_WAITING);
            assert_false(before[a->agent].online);
            assert_int_equal(f->s.offline_then, STRATEGY_OFFLINE_SKIP);
            break;
        case PLANNER_DO_ROLLBACK:
            assert_int_equal(st, PLANNER_SUCCEEDED);
            break;
        case PLANNER_DO_GIVE_UP:
            assert_int_equal(st, PLANNER_ROLLING_BACK);
            break;
        }
    }
}

/* Checks the states after the last decision was applied. */
static void
sim_check_states(sim_t *m)
{
    fleet_t *f = &m->f;
    size_t running = 0, failed = 0;
    for (size_t i = 0; i < f->n; i++) {
        running += f->a[i].state == PLANNER_RUNNING;
        failed += f->a[i].state == PLANNER_FAILED;
        /* A started agent's batch has every earlier batch done. */
        if (f->a[i].state != PLANNER_RUNNING || f->r.halted || f->r.cancelled) {
            continue;
        }
        for (size_t j = 0; j < f->n; j++) {
            if (m->sa[j].batch < m->sa[i].batch) {
                assert_true(f->a[j].state != PLANNER_WAITING &&
                            f->a[j].state != PLANNER_RUNNING);
            }
        }
    }
    assert_true(running <= m->max_running);
    assert_int_equal(running, f->d.running);
    assert_int_equal(failed, f->d.failed);
    /* The next call comes by every running agent's deadline. */
    for (size_t i = 0; i < f->n; i++) {
        const planner_agent_t *a = &f->a[i];
        if (a->state == PLANNER_RUNNING || a->state == PLANNER_ROLLING_BACK) {
            uint64_t since = a->last_progress_ms > a->started_ms
                                 ? a->last_progress_ms
                                 : a->started_ms;
            assert_true(f->d.next_ms > f->now);
            assert_true(f->d.next_ms <= since + f->s.progress_deadline_ms);
        }
    }
    if (f->d.halt_now) {
        assert_true(f->d.reason[0] != '\0');
    }
}

/* Checks the end state against the agents' final states. */
static void
sim_check_end(const sim_t *m)
{
    const fleet_t *f = &m->f;
    const planner_decision_t *d = &f->d;
    size_t count[PLANNER_SKIPPED + 1] = {0};
    for (size_t i = 0; i < f->n; i++) {
        count[f->a[i].state]++;
        /* Every started agent ended in a terminal state. */
        if (m->sa[i].ever_started) {
            assert_true(f->a[i].state != PLANNER_RUNNING &&
                        f->a[i].state != PLANNER_ROLLING_BACK &&
                        f->a[i].state != PLANNER_WAITING &&
                        f->a[i].state != PLANNER_SKIPPED);
        }
    }
    bool halted = f->r.halted;
    strategy_amount_t t = f->s.failure_threshold;
    size_t failed = count[PLANNER_FAILED];
    bool over =
        t.percent ? failed * 100 > (size_t)t.value * f->n : failed > t.value;
    assert_int_equal(d->end == PLANNER_END_CANCELLED, f->r.cancelled);
    if (!f->r.cancelled && over) {
        assert_true(halted);
    }
    for (size_t i = 0; i < f->n && !f->r.cancelled; i++) {
        if (m->sa[i].canary && f->a[i].state == PLANNER_FAILED) {
            assert_true(halted); /* a failed canary halts */
        }
    }
    switch (d->end) {
    case PLANNER_END_SUCCEEDED:
        assert_false(halted);
        assert_int_equal(failed + count[PLANNER_ROLLBACK_FAILED] +
                             count[PLANNER_WAITING],
                         0);
        assert_int_equal(count[PLANNER_SUCCEEDED] + count[PLANNER_SKIPPED],
                         f->n);
        break;
    case PLANNER_END_ROLLED_BACK:
        assert_true(halted && f->s.auto_rollback);
        assert_int_equal(count[PLANNER_SUCCEEDED], 0);
        assert_int_equal(count[PLANNER_ROLLBACK_FAILED], 0);
        break;
    case PLANNER_END_FAILED:
        assert_true(failed > 0 || count[PLANNER_ROLLBACK_FAILED] > 0 ||
                    (halted && !f->s.auto_rollback));
        break;
    case PLANNER_END_CANCELLED:
        if (f->r.cancel_with_rollback) {
            assert_int_equal(count[PLANNER_SUCCEEDED], 0);
        }
        break;
    default:
        fail_msg("the simulation stopped before the end");
    }
    /* After a halt with auto_rollback no agent keeps the release. */
    if (halted && f->s.auto_rollback) {
        assert_int_equal(count[PLANNER_SUCCEEDED], 0);
    }
}

/* Decides again on a reloaded, shuffled copy and compares. */
static void
sim_check_restart(sim_t *m)
{
    static fleet_t g;
    size_t perm[MAXAGENTS];
    size_t n = m->f.n;
    for (size_t i = 0; i < n; i++) {
        perm[i] = i;
    }
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)r_below(&m->rng, i);
        size_t x = perm[i - 1];
        perm[i - 1] = perm[j];
        perm[j] = x;
    }
    s_reload(&m->f, &g, perm);
    f_decide(&g);
    s_same_decision(&m->f, &g, perm);
}

/* What the generated fleets went through, so that the test can show it
 * covered every ending and every kind of action. */
typedef struct {
    size_t ends[PLANNER_END_CANCELLED + 1];
    size_t acts[PLANNER_DO_GIVE_UP + 1];
    size_t halts, waits, steps;
} sim_tally_t;

/* Runs one generated fleet to its end, checking after every step. */
static void
sim_run(uint64_t seed, sim_tally_t *tally)
{
    static sim_t m;
    planner_agent_t before[MAXAGENTS];
    sim_init(&m, seed);
    fleet_t *f = &m.f;
    for (m.steps = 0;; m.steps++) {
        if (m.steps > 2000) {
            fail_msg("seed %" PRIu64 ": no end after 2000 steps", seed);
        }
        sim_world(&m);
        memcpy(before, f->a, sizeof before);
        bool stopped = f->r.halted || f->r.cancelled;
        f_decide(f);
        if (m.steps % 3 == 0) {
            sim_check_restart(&m);
        }
        sim_check_actions(&m, before, stopped);
        for (size_t k = 0; k < f->d.nactions; k++) {
            tally->acts[f->acts[k].what]++;
        }
        tally->halts += f->d.halt_now;
        tally->waits += f->d.waiting_continue;
        tally->steps++;
        f_apply(f);
        sim_check_states(&m);
        if (f->d.end != PLANNER_END_NONE) {
            break;
        }
        if (f->d.waiting_continue && !m.continue_at) {
            m.continue_at = f->now + 1 + r_below(&m.rng, 30) * MIN;
        }
        uint64_t next = sim_next_event(&m);
        if (f->d.next_ms && f->d.next_ms < next) {
            next = f->d.next_ms;
        }
        if (next == UINT64_MAX) {
            fail_msg("seed %" PRIu64 ": stuck at step %zu", seed, m.steps);
        }
        assert_true(next > f->now);
        f->now = next;
    }
    sim_check_end(&m);
    tally->ends[f->d.end]++;
}

static void
test_generated_fleets(void **state)
{
    (void)state;
    sim_tally_t t = {0};
    for (uint64_t seed = 1; seed <= 500; seed++) {
        sim_run(seed * 7919, &t);
    }
    print_message("500 fleets, %zu steps: %zu succeeded, %zu failed, %zu "
                  "rolled back, %zu cancelled; %zu halts, %zu skips, %zu "
                  "given-up rollbacks\n",
                  t.steps, t.ends[PLANNER_END_SUCCEEDED],
                  t.ends[PLANNER_END_FAILED], t.ends[PLANNER_END_ROLLED_BACK],
                  t.ends[PLANNER_END_CANCELLED], t.halts,
                  t.acts[PLANNER_DO_SKIP], t.acts[PLANNER_DO_GIVE_UP]);
    for (int e = PLANNER_END_SUCCEEDED; e <= PLANNER_END_CANCELLED; e++) {
        assert_true(t.ends[e] > 0);
    }
    for (int a = PLANNER_DO_START; a <= PLANNER_DO_GIVE_UP; a++) {
        assert_true(t.acts[a] > 0);
    }
    assert_true(t.halts > 0 && t.waits > 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_all_at_once),
        cmocka_unit_test(test_max_unavailable_respected),
        cmocka_unit_test(test_canary_failure_rolls_back_only_canaries),
        cmocka_unit_test(test_percent_threshold),
        cmocka_unit_test(test_agent_disappears_mid_batch),
        cmocka_unit_test(test_restart_resumes_same_plan),
        cmocka_unit_test(test_manual_canary_waits_for_continue),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_offline_skip_vs_fail),
        cmocka_unit_test(test_by_site_waves_in_order_with_bake),
        cmocka_unit_test(test_explicit_waves),
        cmocka_unit_test(test_refuses_bad_input),
        cmocka_unit_test(test_select),
        cmocka_unit_test(test_generated_fleets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
