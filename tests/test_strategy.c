/*
 * test_strategy: the rollout strategy as the pipeline file, `hoist
 * export` and the --strategy override spell it.
 */
#include "testutil.h"

#include <stdio.h>
#include <string.h>
#include <yaml.h>

#include "strategy.h"
#include "yamlfile.h"

/* Reads every key of the YAML text TEXT (an environment's mapping) into
 * *S, which starts as the defaults of ENV. */
static hoist_err_t
s_read(const char *text, const char *env, strategy_t *s, hoist_error_t *err)
{
    yamlfile_t *yf = yamlfile_load(text, strlen(text), 65536, "pipeline.yml",
                                   HOIST_ERR_USAGE, err);
    if (!yf) {
        return err->code;
    }
    yaml_node_t *root = NULL;
    hoist_err_t rc = yamlfile_root(yf, &root, err);
    yamlfile_pair_t p;
    for (size_t i = 0;
         rc == HOIST_OK && yamlfile_next(yf, root, "production", &i, &p);) {
        rc = strategy_read_key(yf, &p, s, err);
    }
    yamlfile_destroy(&yf);
    return rc;
}

/* Reads TEXT over the defaults of production; the read must succeed. */
static strategy_t
s_ok(const char *text)
{
    strategy_t s;
    hoist_error_t err = {0};
    strategy_default(&s, "production");
    hoist_err_t rc = s_read(text, "production", &s, &err);
    if (rc != HOIST_OK) {
        print_error("%s: %s\n", text, err.msg);
    }
    assert_int_equal(rc, HOIST_OK);
    return s;
}

static void
test_defaults(void **state)
{
    (void)state;
    strategy_t p, d;
    strategy_default(&p, "production");
    strategy_default(&d, "dev");
    assert_int_equal(p.type, STRATEGY_ALL_AT_ONCE);
    assert_true(p.auto_rollback);
    assert_false(d.auto_rollback);
    assert_int_equal(d.progress_deadline_ms, 600000);
    assert_int_equal(d.offline_wait_ms, 600000);
    assert_int_equal(d.offline_then, STRATEGY_OFFLINE_FAIL);
    assert_int_equal(d.failure_threshold.value, 0);
    assert_false(strategy_equal(&p, &d));
    d.auto_rollback = true;
    assert_true(strategy_equal(&p, &d));
    assert_string_equal(strategy_keys[0], "strategy");
    assert_null(strategy_keys[5]);
}

static void
test_reads_every_form(void **state)
{
    (void)state;
    strategy_t s = s_ok("strategy: {type: all-at-once}\n");
    assert_int_equal(s.type, STRATEGY_ALL_AT_ONCE);

    s = s_ok("strategy: {type: rolling, batch: 2, max_unavailable: 1}\n");
    assert_int_equal(s.type, STRATEGY_ROLLING);
    assert_int_equal(s.batch.value, 2);
    assert_false(s.batch.percent);
    assert_int_equal(s.max_unavailable.value, 1);

    s = s_ok("strategy: {batch: 25%, type: rolling, max_unavailable: '10%'}\n");
    assert_int_equal(s.batch.value, 25);
    assert_true(s.batch.percent);
    assert_true(s.max_unavailable.percent);

    s = s_ok("strategy:\n  type: canary\n  count: 1\n  hold: 5m\n"
             "  then: manual\n  batch: 3\n  by: site\n  bake: 2m\n");
    assert_int_equal(s.type, STRATEGY_CANARY);
    assert_int_equal(s.canary.value, 1);
    assert_int_equal(s.hold_ms, 300000);
    assert_int_equal(s.then, STRATEGY_THEN_MANUAL);
    assert_int_equal(s.batch.value, 3);
    assert_true(s.by_site);
    assert_int_equal(s.bake_ms, 120000);

    s = s_ok("strategy: {type: canary, count: 10%}\n");
    assert_true(s.canary.percent);
    assert_int_equal(s.canary.value, 10);
    assert_int_equal(s.then, STRATEGY_THEN_AUTO);
    assert_int_equal(s.hold_ms, 0);

    s = s_ok("strategy: {type: rolling, batch: 5, waves: [{count: 1}, "
             "{percent: 10}, {site: fra1}, {site: ams1}]}\n");
    assert_int_equal(s.nwaves, 4);
    assert_int_equal(s.waves[0].kind, STRATEGY_WAVE_COUNT);
    assert_int_equal(s.waves[0].amount.value, 1);
    assert_false(s.waves[0].amount.percent);
    assert_int_equal(s.waves[1].amount.value, 10);
    assert_true(s.waves[1].amount.percent);
    assert_int_equal(s.waves[2].kind, STRATEGY_WAVE_SITE);
    assert_string_equal(s.waves[2].site, "fra1");
    assert_string_equal(s.waves[3].site, "ams1");
}

static void
test_reads_reaction_keys(void **state)
{
    (void)state;
    strategy_t s = s_ok("failure_threshold: 2\nauto_rollback: false\n"
                        "progress_deadline: 5m\n"
                        "offline: {wait: 2m, then: skip}\n");
    assert_int_equal(s.failure_threshold.value, 2);
    assert_false(s.failure_threshold.percent);
    assert_false(s.auto_rollback);
    assert_int_equal(s.progress_deadline_ms, 300000);
    assert_int_equal(s.offline_wait_ms, 120000);
    assert_int_equal(s.offline_then, STRATEGY_OFFLINE_SKIP);

    s = s_ok("failure_threshold: \"10%\"\noffline: {then: skip}\n");
    assert_int_equal(s.failure_threshold.value, 10);
    assert_true(s.failure_threshold.percent);
    /* A key left out of `offline` keeps its default. */
    assert_int_equal(s.offline_wait_ms, 600000);

    s = s_ok("failure_threshold: 0%\n");
    assert_true(s.failure_threshold.percent);
    assert_int_equal(s.failure_threshold.value, 0);
}

typedef struct {
    const char *yaml;
    const char *where; /* "pipeline.yml:LINE: key '...'" */
    const char *why;
} s_bad_t;

static void
test_refuses_bad_forms(void **state)
{
    (void)state;
    static const s_bad_t bad[] = {
        {"strategy: rolling\n", "pipeline.yml:1: key 'production.strategy'",
         "expected a mapping"},
        {"strategy: {batch: 2}\n", ":1: key 'production.strategy'",
         "missing 'type'"},
        {"strategy: {type: blue-green}\n", ":1: key 'production.strategy.type'",
         "expected all-at-once, rolling or canary"},
        {"strategy:\n  type: rolling\n  batch: 2\n  speed: 3\n",
         ":4: key 'production.strategy.speed'", "unknown key"},
        {"strategy:\n  type: rolling\n  batch: 0\n",
         ":3: key 'production.strategy.batch'", "from 1 to"},
        {"strategy:\n  type: rolling\n  batch: 101%\n",
         ":3: key 'production.strategy.batch'", "to 100%"},
        {"strategy:\n  type: rolling\n  batch: -1\n", ":3:", "got '-1'"},
        {"strategy:\n  type: rolling\n  batch: 70000\n", ":3:", "to 65536"},
        {"strategy:\n  type: rolling\n  batch: 2\n  max_unavailable: 0\n",
         ":4: key 'production.strategy.max_unavailable'", "from 1 to"},
        {"strategy:\n  type: rolling\n", ":1: key 'production.strategy'",
         "needs a batch size"},
        {"strategy:\n  type: canary\n  hold: 5m\n",
         ":1: key 'production.strategy'", "needs the canary's size"},
        {"strategy:\n  type: canary\n  count: 0\n", ":3:", "from 1 to"},
        {"strategy:\n  type: rolling\n  batch: 1\n  count: 1\n",
         ":4: key 'production.strategy.count'",
         "does not apply to a rolling strategy"},
        {"strategy:\n  type: all-at-once\n  batch: 1\n",
         ":3:", "does not apply to a all-at-once strategy"},
        {"strategy:\n  type: canary\n  count: 1\n  then: later\n",
         ":4:", "expected auto or manual"},
        {"strategy:\n  type: canary\n  count: 1\n  hold: 5x\n",
         ":4: key 'production.strategy.hold'", "expected a duration"},
        {"strategy:\n  type: canary\n  count: 1\n  hold: 30d\n",
         ":4:", "from 0s to 7d"},
        {"strategy:\n  type: rolling\n  batch: 1\n  by: region\n",
         ":4:", "expected site"},
        {"strategy:\n  type: rolling\n  batch: 1\n  by: site\n"
         "  waves: [{site: a}]\n",
         ":1: key 'production.strategy'", "keep one"},
        {"strategy:\n  type: rolling\n  batch: 1\n  waves: []\n",
         ":4: key 'production.strategy.waves'", "1 to 32 waves"},
        {"strategy:\n  type: rolling\n  batch: 1\n  waves: {count: 1}\n",
         ":4:", "expected a list"},
        {"strategy:\n  type: rolling\n  batch: 1\n  waves:\n"
         "    - {count: 1}\n    - {count: 1, site: a}\n",
         ":6: key 'production.strategy.waves[1]'", "expected one of"},
        {"strategy:\n  type: rolling\n  batch: 1\n  waves:\n"
         "    - {count: 1}\n    - {region: a}\n",
         ":6: key 'production.strategy.waves[1].region'", "unknown key"},
        {"strategy:\n  type: rolling\n  batch: 1\n  waves:\n"
         "    - {percent: 101}\n",
         ":5: key 'production.strategy.waves[0].percent'", "from 1 to 100"},
        {"strategy:\n  type: rolling\n  batch: 1\n  waves:\n"
         "    - {percent: 0}\n",
         ":5:", "from 1 to 100"},
        {"strategy:\n  type: rolling\n  batch: 1\n  waves:\n"
         "    - {site: 'fra 1'}\n",
         ":5: key 'production.strategy.waves[0].site'", "site name"},
        {"strategy:\n  type: rolling\n  batch: 1\n  waves:\n"
         "    - {site: fra1}\n    - {site: fra1}\n",
         ":6: key 'production.strategy.waves[1]'", "has a wave already"},
        {"strategy:\n  type: rolling\n  batch: 1\n  waves:\n    - 3\n",
         ":5:", "expected a mapping"},
        {"failure_threshold: 101%\n", ":1: key 'production.failure_threshold'",
         "to 100%"},
        {"failure_threshold: many\n", ":1:", "got 'many'"},
        {"failure_threshold: [1]\n", ":1:", "got a list"},
        {"auto_rollback: yes\n", ":1: key 'production.auto_rollback'",
         "true or false"},
        {"progress_deadline: 0\n", ":1: key 'production.progress_deadline'",
         "from 1s to 7d"},
        {"progress_deadline: 8d\n", ":1:", "from 1s to 7d"},
        {"\n\noffline: {wait: 1m, then: maybe}\n",
         ":3: key 'production.offline.then'", "expected fail or skip"},
        {"offline: {wait: 1m, retry: 3}\n",
         ":1: key 'production.offline.retry'", "unknown key"},
        {"offline: {wait: soon}\n", ":1: key 'production.offline.wait'",
         "expected a duration"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        strategy_t s, before;
        strategy_default(&s, "production");
        s.failure_threshold.value = 7; /* must survive a refusal */
        before = s;
        hoist_error_t err = {0};
        hoist_err_t rc = s_read(bad[i].yaml, "production", &s, &err);
        if (rc == HOIST_OK || !strstr(err.msg, bad[i].where) ||
            !strstr(err.msg, bad[i].why)) {
            print_error("case %zu: %s-> %s\n", i, bad[i].yaml, err.msg);
        }
        assert_int_equal(rc, HOIST_ERR_USAGE);
        assert_contains(err.msg, bad[i].where);
        assert_contains(err.msg, bad[i].why);
        assert_true(strategy_equal(&s, &before));
    }
}

static void
test_refuses_too_many_waves(void **state)
{
    (void)state;
    char yaml[4096] = "strategy:\n  type: rolling\n  batch: 1\n  waves:\n";
    for (int i = 0; i < 33; i++) {
        char line[64];
        snprintf(line, sizeof line, "    - {site: s%d}\n", i);
        strcat(yaml, line);
    }
    strategy_t s;
    strategy_default(&s, "dev");
    hoist_error_t err = {0};
    assert_int_equal(s_read(yaml, "dev", &s, &err), HOIST_ERR_USAGE);
    assert_contains(err.msg, "pipeline.yml:4:");
    assert_contains(err.msg, "got 33");

    char site[128];
    memset(site, 'x', 65);
    site[65] = '\0';
    snprintf(yaml, sizeof yaml,
             "strategy: {type: rolling, batch: 1, waves: [{site: %s}]}\n",
             site);
    assert_int_equal(s_read(yaml, "dev", &s, &err), HOIST_ERR_USAGE);
    assert_contains(err.msg, "1 to 64");
}

/* Emits S for ENV into YAML text with libyaml's emitter; returns the
 * number of bytes written into BUF. */
static size_t
s_emit(const strategy_t *s, const char *env, unsigned char *buf, size_t len)
{
    yaml_document_t doc;
    assert_true(yaml_document_initialize(&doc, NULL, NULL, NULL, 1, 1));
    int map = yaml_document_add_mapping(&doc, NULL, YAML_BLOCK_MAPPING_STYLE);
    assert_true(map);
    hoist_error_t err = {0};
    assert_int_equal(strategy_emit(s, env, &doc, map, &err), HOIST_OK);
    yaml_emitter_t e;
    size_t written = 0;
    assert_true(yaml_emitter_initialize(&e));
    yaml_emitter_set_output_string(&e, buf, len - 1, &written);
    assert_true(yaml_emitter_open(&e));
    assert_true(yaml_emitter_dump(&e, &doc)); /* deletes doc */
    assert_true(yaml_emitter_close(&e));
    yaml_emitter_delete(&e);
    buf[written] = '\0';
    return written;
}

static void
s_round_trip(const strategy_t *s, const char *env)
{
    unsigned char buf[8192];
    s_emit(s, env, buf, sizeof buf);
    strategy_t back;
    strategy_default(&back, env);
    hoist_error_t err = {0};
    hoist_err_t rc = s_read((const char *)buf, env, &back, &err);
    if (rc != HOIST_OK || !strategy_equal(s, &back)) {
        print_error("emitted:\n%s\nerror: %s\n", buf, err.msg);
    }
    assert_int_equal(rc, HOIST_OK);
    assert_true(strategy_equal(s, &back));
}

static void
test_emit_round_trip(void **state)
{
    (void)state;
    strategy_t s;
    unsigned char buf[8192];
    /* The defaults emit nothing at all. */
    strategy_default(&s, "production");
    s_emit(&s, "production", buf, sizeof buf);
    assert_null(strstr((char *)buf, "strategy"));
    assert_null(strstr((char *)buf, "auto_rollback"));
    s_round_trip(&s, "production");

    const char *forms[] = {
        "strategy: {type: rolling, batch: 2, max_unavailable: 1}\n",
        "strategy: {type: rolling, batch: 25%, by: site, bake: 90s}\n",
        "strategy: {type: canary, count: 10%, hold: 1500ms, then: manual, "
        "batch: 3, max_unavailable: 50%}\n"
        "failure_threshold: 10%\nauto_rollback: false\n",
        "strategy: {type: canary, count: 2, bake: 1h, waves: [{count: 1}, "
        "{percent: 10}, {site: fra1}, {site: ams-1.b}]}\n"
        "progress_deadline: 5m\noffline: {wait: 0, then: skip}\n",
        "strategy: {type: all-at-once, by: site}\nfailure_threshold: 3\n",
    };
    for (size_t i = 0; i < sizeof forms / sizeof *forms; i++) {
        s = s_ok(forms[i]);
        s_round_trip(&s, "production");
        s_round_trip(&s, "dev");
    }
    /* auto_rollback off in production and on in dev are both written. */
    strategy_default(&s, "dev");
    s.auto_rollback = true;
    s_emit(&s, "dev", buf, sizeof buf);
    assert_contains((char *)buf, "auto_rollback: true");
    s_round_trip(&s, "dev");
}

static void
test_parse_override(void **state)
{
    (void)state;
    strategy_t s = s_ok("strategy: {type: canary, count: 1, hold: 5m}\n"
                        "failure_threshold: 2\nprogress_deadline: 3m\n"
                        "offline: {then: skip}\n");
    strategy_t base = s;
    hoist_error_t err = {0};
    assert_int_equal(
        strategy_parse("rolling:batch=3,max_unavailable=1", &s, &err),
        HOIST_OK);
    assert_int_equal(s.type, STRATEGY_ROLLING);
    assert_int_equal(s.batch.value, 3);
    assert_int_equal(s.max_unavailable.value, 1);
    /* The shape changed, the reaction to failures did not. */
    assert_int_equal(s.canary.value, 0);
    assert_int_equal(s.hold_ms, 0);
    assert_int_equal(s.failure_threshold.value, 2);
    assert_true(s.auto_rollback);
    assert_int_equal(s.progress_deadline_ms, 180000);
    assert_int_equal(s.offline_then, STRATEGY_OFFLINE_SKIP);

    assert_int_equal(strategy_parse("all-at-once", &s, &err), HOIST_OK);
    assert_int_equal(s.type, STRATEGY_ALL_AT_ONCE);
    assert_int_equal(s.batch.value, 0);

    assert_int_equal(
        strategy_parse("rolling:batch=25%,by=site,bake=2m", &s, &err),
        HOIST_OK);
    assert_true(s.batch.percent);
    assert_true(s.by_site);
    assert_int_equal(s.bake_ms, 120000);

    assert_int_equal(
        strategy_parse("canary:count=1,hold=5m,then=manual", &s, &err),
        HOIST_OK);
    strategy_t want = base;
    want.then = STRATEGY_THEN_MANUAL;
    assert_true(strategy_equal(&s, &want));

    static const char *const bad[][2] = {
        {"", "1 to 256 characters"},
        {"blue-green", "expected all-at-once, rolling or canary"},
        {"rolling", "needs a batch size"},
        {"rolling:", "expected key=value"},
        {"rolling:batch=0", "batch: expected a number of agents from 1"},
        {"rolling:batch=3,", "expected key=value"},
        {"rolling:batch=200%", "to 100%"},
        {"rolling:batch=2,count=1", "does not apply to a rolling"},
        {"canary:hold=5m", "needs the canary's size"},
        {"canary:count=1,then=later", "expected auto or manual"},
        {"canary:count=1,waves=3", "waves only in the pipeline file"},
        {"canary:count=1,type=rolling", "unknown key 'type'"},
        {"rolling:batch", "expected key=value"},
        {"rolling:batch=2,bake=forever", "expected a duration"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        strategy_t before = s;
        err.msg[0] = '\0';
        assert_int_equal(strategy_parse(bad[i][0], &s, &err), HOIST_ERR_USAGE);
        assert_contains(err.msg, bad[i][1]);
        assert_true(strategy_equal(&s, &before));
    }
    char big[400];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(strategy_parse(big, &s, &err), HOIST_ERR_USAGE);
}

static void
test_format(void **state)
{
    (void)state;
    strategy_t s;
    char buf[STRATEGY_FORMAT_MAX];
    strategy_default(&s, "production");
    hoist_error_t err = {0};
    assert_int_equal(
        strategy_parse("rolling:batch=3,max_unavailable=1", &s, &err),
        HOIST_OK);
    assert_string_equal(strategy_format(&s, buf, sizeof buf),
                        "rolling batch=3 max_unavailable=1 threshold=0 "
                        "auto_rollback");
    s = s_ok("strategy: {type: canary, count: 10%, hold: 5m, then: manual}\n"
             "failure_threshold: 25%\nauto_rollback: false\n"
             "offline: {then: skip}\n");
    assert_string_equal(strategy_format(&s, buf, sizeof buf),
                        "canary count=10% hold=5m then=manual threshold=25% "
                        "offline=10m,skip");
    /* A short buffer gets a cut, terminated line. */
    char small[8];
    assert_string_equal(strategy_format(&s, small, sizeof small), "canary ");
}

static void
test_amount_of(void **state)
{
    (void)state;
    strategy_amount_t three = {3, false}, quarter = {25, true}, none = {0, 0};
    strategy_amount_t all = {100, true}, zero_pct = {0, true};
    assert_int_equal(strategy_amount_of(three, 10), 3);
    assert_int_equal(strategy_amount_of(quarter, 10), 3); /* 2.5 rounds up */
    assert_int_equal(strategy_amount_of(quarter, 8), 2);
    assert_int_equal(strategy_amount_of(quarter, 1), 1);
    assert_int_equal(strategy_amount_of(quarter, 0), 0);
    assert_int_equal(strategy_amount_of(all, 7), 7);
    assert_int_equal(strategy_amount_of(none, 7), 0);
    assert_int_equal(strategy_amount_of(zero_pct, 7), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_reads_every_form),
        cmocka_unit_test(test_reads_reaction_keys),
        cmocka_unit_test(test_refuses_bad_forms),
        cmocka_unit_test(test_refuses_too_many_waves),
        cmocka_unit_test(test_emit_round_trip),
        cmocka_unit_test(test_parse_override),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_amount_of),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
