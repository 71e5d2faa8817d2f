/*
 * test_store_drill: DR drills and their step timelines on a real SQLite
 * file: every field written and read back, updates that leave the drill's
 * identity alone, both list orders and the state filter, the refusals
 * (NOTFOUND, USAGE, LIMIT) that change nothing, and a reopen that keeps
 * everything.
 */
#include "storeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"

/* --- helpers ------------------------------------------------------------ */

static store_drill_t
s_drill(store_drill_state_t state, int64_t at_ms)
{
    store_drill_t d;
    memset(&d, 0, sizeof d);
    snprintf(d.app, sizeof d.app, "web");
    snprintf(d.from, sizeof d.from, "production");
    snprintf(d.to, sizeof d.to, "dr");
    snprintf(d.created_by, sizeof d.created_by, "sre");
    d.state = state;
    d.created_at = 10;
    d.at_ms = at_ms;
    return d;
}

static store_drill_step_t
s_step(int64_t drill_id, const char *name, const char *agent)
{
    store_drill_step_t t;
    memset(&t, 0, sizeof t);
    t.drill_id = drill_id;
    snprintf(t.name, sizeof t.name, "%s", name);
    snprintf(t.agent, sizeof t.agent, "%s", agent);
    snprintf(t.state, sizeof t.state, "running");
    t.started_ms = 1000;
    return t;
}

static int64_t
s_add(store_t *s, const store_drill_t *d)
{
    hoist_error_t err = {0};
    int64_t id = -1;
    if (store_drill_add(s, d, &id, &err) != HOIST_OK) {
        fail_msg("add drill: %s", err.msg);
    }
    return id;
}

static int64_t
s_add_step(store_t *s, const store_drill_step_t *t)
{
    hoist_error_t err = {0};
    int64_t seq = -1;
    if (store_drill_step_add(s, t, &seq, &err) != HOIST_OK) {
        fail_msg("add drill step: %s", err.msg);
    }
    return seq;
}

static store_drill_t
s_get(store_t *s, int64_t id)
{
    hoist_error_t err = {0};
    store_drill_t out;
    if (store_drill_get(s, id, &out, &err) != HOIST_OK) {
        fail_msg("get drill: %s", err.msg);
    }
    return out;
}

static int64_t
s_add_deployment(store_t *s)
{
    hoist_error_t err = {0};
    store_deployment_t d;
    int64_t id = -1;
    su_add_release(s, "web", "1.0.0");
    memset(&d, 0, sizeof d);
    snprintf(d.app, sizeof d.app, "web");
    snprintf(d.version, sizeof d.version, "1.0.0");
    snprintf(d.env, sizeof d.env, "dr");
    snprintf(d.created_by, sizeof d.created_by, "sre");
    if (store_deployment_create(s, &d, &id, &err) != HOIST_OK) {
        fail_msg("create deployment: %s", err.msg);
    }
    return id;
}

typedef struct {
    char text[512];
    int n;
    int stop_after;
} seen_t;

static int
s_see_drill(const store_drill_t *row, void *arg)
{
    seen_t *seen = arg;
    size_t len = strlen(seen->text);
    snprintf(seen->text + len, sizeof seen->text - len, "%s%lld",
             len ? "," : "", (long long)row->id);
    seen->n++;
    return seen->stop_after && seen->n >= seen->stop_after;
}

static int
s_see_step(const store_drill_step_t *row, void *arg)
{
    seen_t *seen = arg;
    size_t len = strlen(seen->text);
    snprintf(seen->text + len, sizeof seen->text - len, "%s%lld:%s@%s=%s",
             len ? "," : "", (long long)row->seq, row->name, row->agent,
             row->state);
    seen->n++;
    return seen->stop_after && seen->n >= seen->stop_after;
}

static seen_t
s_list(store_t *s, int state)
{
    hoist_error_t err = {0};
    seen_t seen;
    memset(&seen, 0, sizeof seen);
    if (store_drill_list(s, state, s_see_drill, &seen, &err) != HOIST_OK) {
        fail_msg("list drills: %s", err.msg);
    }
    return seen;
}

static seen_t
s_steps(store_t *s, int64_t id)
{
    hoist_error_t err = {0};
    seen_t seen;
    memset(&seen, 0, sizeof seen);
    if (store_drill_step_list(s, id, s_see_step, &seen, &err) != HOIST_OK) {
        fail_msg("list drill steps: %s", err.msg);
    }
    return seen;
}

/* --- tests -------------------------------------------------------------- */

static void
test_add_get_every_field(void **state)
{
    su_fixture_t *f = *state;
    int64_t dep = s_add_deployment(f->s);
    store_drill_t d = s_drill(STORE_DRILL_RUNNING, 5000);
    d.id = 77;
    d.failover = true;
    d.failback = false;
    d.sync = true;
    d.every_ms = 604800000;
    d.started_ms = 5001;
    d.healthy_ms = 5002;
    d.finished_ms = 5003;
    d.sync_deployment = dep;
    snprintf(d.phase, sizeof d.phase, "sync");
    snprintf(d.reason, sizeof d.reason, "dr runs 0.9.0");
    int64_t id = s_add(f->s, &d);
    assert_int_equal(id, 1);

    store_drill_t back = s_get(f->s, id);
    assert_int_equal(back.id, 1);
    assert_string_equal(back.app, "web");
    assert_string_equal(back.from, "production");
    assert_string_equal(back.to, "dr");
    assert_true(back.failover);
    assert_false(back.failback);
    assert_true(back.sync);
    assert_int_equal(back.state, STORE_DRILL_RUNNING);
    assert_string_equal(back.created_by, "sre");
    assert_int_equal(back.created_at, 10);
    assert_int_equal(back.at_ms, 5000);
    assert_int_equal(back.every_ms, 604800000);
    assert_int_equal(back.started_ms, 5001);
    assert_int_equal(back.healthy_ms, 5002);
    assert_int_equal(back.finished_ms, 5003);
    assert_int_equal(back.sync_deployment, dep);
    assert_string_equal(back.phase, "sync");
    assert_string_equal(back.reason, "dr runs 0.9.0");

    /* The other booleans, the other way round, and no sync deployment. */
    d = s_drill(STORE_DRILL_SCHEDULED, 6000);
    d.failback = true;
    id = s_add(f->s, &d);
    assert_int_equal(id, 2);
    back = s_get(f->s, id);
    assert_false(back.failover);
    assert_true(back.failback);
    assert_false(back.sync);
    assert_int_equal(back.state, STORE_DRILL_SCHEDULED);
    assert_int_equal(back.sync_deployment, 0);
    assert_string_equal(back.phase, "");
    assert_string_equal(back.reason, "");
}

static void
test_update_keeps_identity(void **state)
{
    su_fixture_t *f = *state;
    int64_t dep = s_add_deployment(f->s);
    hoist_error_t err = {0};
    store_drill_t d = s_drill(STORE_DRILL_SCHEDULED, 5000);
    int64_t id = s_add(f->s, &d);

    store_drill_t u = s_get(f->s, id);
    snprintf(u.app, sizeof u.app, "api");
    snprintf(u.from, sizeof u.from, "qa");
    snprintf(u.to, sizeof u.to, "staging");
    snprintf(u.created_by, sizeof u.created_by, "mallory");
    u.created_at = 99;
    u.failover = true;
    u.failback = true;
    u.sync = true;
    u.state = STORE_DRILL_FAILED;
    u.at_ms = 7000;
    u.every_ms = 3600000;
    u.started_ms = 7001;
    u.healthy_ms = 7002;
    u.finished_ms = 7003;
    u.sync_deployment = dep;
    snprintf(u.phase, sizeof u.phase, "failover");
    snprintf(u.reason, sizeof u.reason, "dr-1 did not answer healthy");
    assert_int_equal(store_drill_update(f->s, &u, &err), HOIST_OK);

    store_drill_t back = s_get(f->s, id);
    assert_string_equal(back.app, "web");
    assert_string_equal(back.from, "production");
    assert_string_equal(back.to, "dr");
    assert_string_equal(back.created_by, "sre");
    assert_int_equal(back.created_at, 10);
    assert_true(back.failover);
    assert_true(back.failback);
    assert_true(back.sync);
    assert_int_equal(back.state, STORE_DRILL_FAILED);
    assert_int_equal(back.at_ms, 7000);
    assert_int_equal(back.every_ms, 3600000);
    assert_int_equal(back.started_ms, 7001);
    assert_int_equal(back.healthy_ms, 7002);
    assert_int_equal(back.finished_ms, 7003);
    assert_int_equal(back.sync_deployment, dep);
    assert_string_equal(back.phase, "failover");
    assert_string_equal(back.reason, "dr-1 did not answer healthy");

    /* Back to no sync deployment: 0 is stored as NULL again. */
    u.sync_deployment = 0;
    u.sync = false;
    assert_int_equal(store_drill_update(f->s, &u, &err), HOIST_OK);
    back = s_get(f->s, id);
    assert_int_equal(back.sync_deployment, 0);
    assert_false(back.sync);
}

static void
test_list_orders_and_filter(void **state)
{
    su_fixture_t *f = *state;
    hoist_error_t err = {0};
    store_drill_t a = s_drill(STORE_DRILL_SCHEDULED, 3000);
    store_drill_t b = s_drill(STORE_DRILL_SCHEDULED, 1000);
    store_drill_t c = s_drill(STORE_DRILL_RUNNING, 500);
    store_drill_t d = s_drill(STORE_DRILL_SCHEDULED, 3000);
    store_drill_t e = s_drill(STORE_DRILL_SCHEDULED, 2000);
    s_add(f->s, &a); /* 1 */
    s_add(f->s, &b); /* 2 */
    s_add(f->s, &c); /* 3 */
    s_add(f->s, &d); /* 4 */
    s_add(f->s, &e); /* 5 */

    assert_string_equal(s_list(f->s, -1).text, "5,4,3,2,1");
    assert_string_equal(s_list(f->s, STORE_DRILL_SCHEDULED).text, "2,5,1,4");
    assert_string_equal(s_list(f->s, STORE_DRILL_RUNNING).text, "3");
    assert_int_equal(s_list(f->s, STORE_DRILL_SUCCEEDED).n, 0);

    /* A drill that leaves the state leaves the filtered list. */
    store_drill_t u = s_get(f->s, 5);
    u.state = STORE_DRILL_CANCELLED;
    assert_int_equal(store_drill_update(f->s, &u, &err), HOIST_OK);
    assert_string_equal(s_list(f->s, STORE_DRILL_SCHEDULED).text, "2,1,4");
    assert_string_equal(s_list(f->s, STORE_DRILL_CANCELLED).text, "5");
    assert_string_equal(s_list(f->s, -1).text, "5,4,3,2,1");

    /* FN stops the walk early, still HOIST_OK. */
    seen_t seen;
    memset(&seen, 0, sizeof seen);
    seen.stop_after = 2;
    assert_int_equal(store_drill_list(f->s, -1, s_see_drill, &seen, &err),
                     HOIST_OK);
    assert_string_equal(seen.text, "5,4");
}

/* Copies the step whose seq is in *ARG's seq into *ARG. */
static int
s_find_step(const store_drill_step_t *row, void *arg)
{
    store_drill_step_t *want = arg;
    if (row->seq == want->seq) {
        *want = *row;
        return 1;
    }
    return 0;
}

static store_drill_step_t
s_get_step(store_t *s, int64_t drill_id, int64_t seq)
{
    hoist_error_t err = {0};
    store_drill_step_t t;
    memset(&t, 0, sizeof t);
    t.seq = seq;
    if (store_drill_step_list(s, drill_id, s_find_step, &t, &err) != HOIST_OK) {
        fail_msg("list drill steps: %s", err.msg);
    }
    if (t.drill_id != drill_id) {
        fail_msg("drill %lld has no step %lld", (long long)drill_id,
                 (long long)seq);
    }
    return t;
}

static void
test_steps_timeline(void **state)
{
    su_fixture_t *f = *state;
    hoist_error_t err = {0};
    char want[256];
    store_drill_t d = s_drill(STORE_DRILL_RUNNING, 1000);
    int64_t one = s_add(f->s, &d);
    int64_t two = s_add(f->s, &d);

    /* Steps of two drills, interleaved: each drill lists its own, in the
     * order they were added; the seq given is ignored. */
    store_drill_step_t t = s_step(one, "readiness", "");
    t.seq = 99;
    t.finished_ms = 1001;
    snprintf(t.state, sizeof t.state, "ok");
    snprintf(t.message, sizeof t.message, "2 of 2 dr agents online");
    int64_t s1 = s_add_step(f->s, &t);
    store_drill_step_t t2 = s_step(two, "readiness", "");
    int64_t s2 = s_add_step(f->s, &t2);
    store_drill_step_t t3 = s_step(one, "failover", "dr-1");
    int64_t s3 = s_add_step(f->s, &t3);
    store_drill_step_t t4 = s_step(one, "failover", "dr-2");
    int64_t s4 = s_add_step(f->s, &t4);
    assert_int_not_equal(s1, 99);
    assert_true(s1 < s2 && s2 < s3 && s3 < s4);

    snprintf(want, sizeof want,
             "%lld:readiness@=ok,%lld:failover@dr-1=running,"
             "%lld:failover@dr-2=running",
             (long long)s1, (long long)s3, (long long)s4);
    assert_string_equal(s_steps(f->s, one).text, want);
    snprintf(want, sizeof want, "%lld:readiness@=running", (long long)s2);
    assert_string_equal(s_steps(f->s, two).text, want);

    store_drill_step_t back = s_get_step(f->s, one, s1);
    assert_int_equal(back.drill_id, one);
    assert_int_equal(back.seq, s1);
    assert_string_equal(back.name, "readiness");
    assert_string_equal(back.agent, "");
    assert_string_equal(back.state, "ok");
    assert_int_equal(back.started_ms, 1000);
    assert_int_equal(back.finished_ms, 1001);
    assert_string_equal(back.message, "2 of 2 dr agents online");

    /* An update writes state, finished_ms and message, nothing else. */
    store_drill_step_t u = t3;
    u.seq = s3;
    snprintf(u.name, sizeof u.name, "failback");
    snprintf(u.agent, sizeof u.agent, "dr-9");
    u.started_ms = 1;
    snprintf(u.state, sizeof u.state, "failed");
    u.finished_ms = 2000;
    snprintf(u.message, sizeof u.message, "health check timed out");
    assert_int_equal(store_drill_step_update(f->s, &u, &err), HOIST_OK);
    back = s_get_step(f->s, one, s3);
    assert_string_equal(back.name, "failover");
    assert_string_equal(back.agent, "dr-1");
    assert_int_equal(back.started_ms, 1000);
    assert_string_equal(back.state, "failed");
    assert_int_equal(back.finished_ms, 2000);
    assert_string_equal(back.message, "health check timed out");
    /* The other steps did not move. */
    assert_string_equal(s_get_step(f->s, one, s4).state, "running");
    assert_string_equal(s_get_step(f->s, two, s2).state, "running");

    /* No steps (or no drill) is an empty list; FN can stop the walk. */
    assert_int_equal(s_steps(f->s, 999).n, 0);
    seen_t seen;
    memset(&seen, 0, sizeof seen);
    seen.stop_after = 1;
    assert_int_equal(store_drill_step_list(f->s, one, s_see_step, &seen, &err),
                     HOIST_OK);
    assert_int_equal(seen.n, 1);
}

static void
test_refusals(void **state)
{
    su_fixture_t *f = *state;
    hoist_error_t err = {0};
    int64_t id = 99;
    store_drill_t d, out;

    /* Empty required fields. */
    const size_t offsets[] = {
        offsetof(store_drill_t, app), offsetof(store_drill_t, from),
        offsetof(store_drill_t, to), offsetof(store_drill_t, created_by)};
    for (size_t i = 0; i < sizeof offsets / sizeof offsets[0]; i++) {
        d = s_drill(STORE_DRILL_SCHEDULED, 1000);
        ((char *)&d)[offsets[i]] = '\0';
        assert_int_equal(store_drill_add(f->s, &d, &id, &err), HOIST_ERR_USAGE);
        assert_contains(err.msg, "empty");
    }
    /* Too long, text by text. */
    d = s_drill(STORE_DRILL_SCHEDULED, 1000);
    memset(d.to, 't', sizeof d.to);
    assert_int_equal(store_drill_add(f->s, &d, &id, &err), HOIST_ERR_LIMIT);
    d = s_drill(STORE_DRILL_SCHEDULED, 1000);
    memset(d.phase, 'p', sizeof d.phase);
    assert_int_equal(store_drill_add(f->s, &d, &id, &err), HOIST_ERR_LIMIT);
    d = s_drill(STORE_DRILL_SCHEDULED, 1000);
    memset(d.reason, 'r', sizeof d.reason);
    assert_int_equal(store_drill_add(f->s, &d, &id, &err), HOIST_ERR_LIMIT);
    assert_contains(err.msg, "drill reason");
    /* Out of range. */
    d = s_drill((store_drill_state_t)6, 1000);
    assert_int_equal(store_drill_add(f->s, &d, &id, &err), HOIST_ERR_USAGE);
    d = s_drill(STORE_DRILL_SCHEDULED, 1000);
    d.every_ms = -1;
    assert_int_equal(store_drill_add(f->s, &d, &id, &err), HOIST_ERR_USAGE);
    d = s_drill(STORE_DRILL_SCHEDULED, 1000);
    d.sync_deployment = 12345;
    assert_int_equal(store_drill_add(f->s, &d, &id, &err), STORE_ERR_NOTFOUND);
    assert_contains(err.msg, "no deployment 12345");
    /* None of it was written, nor was *ID. */
    assert_int_equal(id, 99);
    assert_int_equal(s_list(f->s, -1).n, 0);

    memset(&out, 0x55, sizeof out);
    assert_int_equal(store_drill_get(f->s, 5, &out, &err), STORE_ERR_NOTFOUND);
    assert_contains(err.msg, "no drill 5");
    assert_int_equal(out.id, 0x5555555555555555);

    d = s_drill(STORE_DRILL_SCHEDULED, 1000);
    d.id = 5;
    assert_int_equal(store_drill_update(f->s, &d, &err), STORE_ERR_NOTFOUND);
    assert_contains(err.msg, "no drill 5");

    /* A real drill refuses bad updates and keeps what it had. */
    d.id = s_add(f->s, &d);
    store_drill_t u = d;
    u.state = (store_drill_state_t)-2;
    assert_int_equal(store_drill_update(f->s, &u, &err), HOIST_ERR_USAGE);
    u = d;
    u.state = STORE_DRILL_RUNNING;
    memset(u.reason, 'r', sizeof u.reason);
    assert_int_equal(store_drill_update(f->s, &u, &err), HOIST_ERR_LIMIT);
    u = d;
    u.state = STORE_DRILL_RUNNING;
    u.sync_deployment = 12345;
    assert_int_equal(store_drill_update(f->s, &u, &err), STORE_ERR_NOTFOUND);
    assert_contains(err.msg, "no deployment 12345");
    u = d;
    u.sync_deployment = -3;
    assert_int_equal(store_drill_update(f->s, &u, &err), HOIST_ERR_USAGE);
    assert_int_equal(s_get(f->s, d.id).state, STORE_DRILL_SCHEDULED);

    seen_t seen;
    memset(&seen, 0, sizeof seen);
    assert_int_equal(store_drill_list(f->s, 6, s_see_drill, &seen, &err),
                     HOIST_ERR_USAGE);
    assert_int_equal(store_drill_list(f->s, -2, s_see_drill, &seen, &err),
                     HOIST_ERR_USAGE);
    assert_int_equal(seen.n, 0);

    /* Steps: no drill, empty name or state, too long. */
    int64_t seq = 99;
    store_drill_step_t t = s_step(12345, "readiness", "");
    assert_int_equal(store_drill_step_add(f->s, &t, &seq, &err),
                     STORE_ERR_NOTFOUND);
    assert_contains(err.msg, "no drill 12345");
    t = s_step(d.id, "", "");
    assert_int_equal(store_drill_step_add(f->s, &t, &seq, &err),
                     HOIST_ERR_USAGE);
    t = s_step(d.id, "readiness", "");
    t.state[0] = '\0';
    assert_int_equal(store_drill_step_add(f->s, &t, &seq, &err),
                     HOIST_ERR_USAGE);
    t = s_step(d.id, "readiness", "");
    memset(t.agent, 'a', sizeof t.agent);
    assert_int_equal(store_drill_step_add(f->s, &t, &seq, &err),
                     HOIST_ERR_LIMIT);
    t = s_step(d.id, "readiness", "");
    memset(t.message, 'm', sizeof t.message);
    assert_int_equal(store_drill_step_add(f->s, &t, &seq, &err),
                     HOIST_ERR_LIMIT);
    assert_int_equal(seq, 99);
    assert_int_equal(s_steps(f->s, d.id).n, 0);

    t = s_step(d.id, "readiness", "");
    t.seq = s_add_step(f->s, &t);
    store_drill_step_t u2 = t;
    u2.drill_id = d.id + 1; /* the seq exists, but under another drill */
    assert_int_equal(store_drill_step_update(f->s, &u2, &err),
                     STORE_ERR_NOTFOUND);
    assert_contains(err.msg, "has no step");
    u2 = t;
    u2.seq = t.seq + 1;
    assert_int_equal(store_drill_step_update(f->s, &u2, &err),
                     STORE_ERR_NOTFOUND);
    u2 = t;
    u2.state[0] = '\0';
    assert_int_equal(store_drill_step_update(f->s, &u2, &err), HOIST_ERR_USAGE);
    u2 = t;
    memset(u2.message, 'm', sizeof u2.message);
    assert_int_equal(store_drill_step_update(f->s, &u2, &err), HOIST_ERR_LIMIT);
    assert_string_equal(s_get_step(f->s, d.id, t.seq).state, "running");
}

/* What a restart sees: every drill, every step, and ids that go on from
 * where they were. */
static void
test_reopen_keeps_everything(void **state)
{
    su_fixture_t *f = *state;
    int64_t dep = s_add_deployment(f->s);
    store_drill_t d = s_drill(STORE_DRILL_RUNNING, 4000);
    d.failover = true;
    d.sync = true;
    d.every_ms = 86400000;
    d.started_ms = 4001;
    d.sync_deployment = dep;
    snprintf(d.phase, sizeof d.phase, "sync");
    int64_t id = s_add(f->s, &d);
    store_drill_t e = s_drill(STORE_DRILL_SCHEDULED, 9000);
    int64_t later = s_add(f->s, &e);
    store_drill_step_t t = s_step(id, "sync", "dr-1");
    snprintf(t.message, sizeof t.message, "deployment %lld", (long long)dep);
    int64_t seq = s_add_step(f->s, &t);

    su_reopen(f);
    store_drill_t back = s_get(f->s, id);
    assert_string_equal(back.app, "web");
    assert_string_equal(back.from, "production");
    assert_string_equal(back.to, "dr");
    assert_true(back.failover);
    assert_false(back.failback);
    assert_true(back.sync);
    assert_int_equal(back.state, STORE_DRILL_RUNNING);
    assert_int_equal(back.at_ms, 4000);
    assert_int_equal(back.every_ms, 86400000);
    assert_int_equal(back.started_ms, 4001);
    assert_int_equal(back.sync_deployment, dep);
    assert_string_equal(back.phase, "sync");
    assert_int_equal(s_get(f->s, later).state, STORE_DRILL_SCHEDULED);
    store_drill_step_t step = s_get_step(f->s, id, seq);
    assert_string_equal(step.name, "sync");
    assert_string_equal(step.agent, "dr-1");
    assert_string_equal(step.message, t.message);
    assert_int_equal(s_list(f->s, STORE_DRILL_SCHEDULED).n, 1);

    assert_int_equal(s_add(f->s, &e), later + 1);
    assert_int_equal(s_add_step(f->s, &t), seq + 1);
}

static void
test_state_names(void **state)
{
    (void)state;
    assert_string_equal(store_drill_state_name(STORE_DRILL_SCHEDULED),
                        "scheduled");
    assert_string_equal(store_drill_state_name(STORE_DRILL_RUNNING), "running");
    assert_string_equal(store_drill_state_name(STORE_DRILL_SUCCEEDED),
                        "succeeded");
    assert_string_equal(store_drill_state_name(STORE_DRILL_FAILED), "failed");
    assert_string_equal(store_drill_state_name(STORE_DRILL_REFUSED), "refused");
    assert_string_equal(store_drill_state_name(STORE_DRILL_CANCELLED),
                        "cancelled");
    assert_string_equal(store_drill_state_name((store_drill_state_t)6),
                        "unknown");
    assert_string_equal(store_drill_state_name((store_drill_state_t)-1),
                        "unknown");
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, su_setup, su_teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_add_get_every_field),
        T(test_update_keeps_identity),
        T(test_list_orders_and_filter),
        T(test_steps_timeline),
        T(test_refusals),
        T(test_reopen_keeps_everything),
        T(test_state_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
