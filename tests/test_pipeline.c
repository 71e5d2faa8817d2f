/*
 * test_pipeline: the pipeline file and the promotion gates.
 *
 * The example of DESIGN.md parses to what it says; every kind of mistake
 * is refused whole, with its line and dotted key; export and load round
 * trip to an equal pipeline and the second export is byte-identical;
 * lifecycles (the hotfix one skipping qa, the default one when none is
 * given) and mirrors answer the controller's lookups; each gate is unmet
 * alone, and all together.
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gates.h"
#include "pipeline.h"

/* The example of DESIGN.md, byte for byte. */
static const char s_design[] =
    "lifecycles:                      # a release follows one; the first is "
    "the default\n"
    "  default: [dev, qa, staging, production]\n"
    "  hotfix:  [dev, staging, production]\n"
    "environments:\n"
    "  dev:\n"
    "    auto_deploy: true            # every new release lands here at once\n"
    "  qa:\n"
    "    approvals: {count: 1, role: qa}\n"
    "  staging:\n"
    "    tags: {kind: on-prem, site: fra1}\n"
    "  production:\n"
    "    approvals: {count: 1, role: qa}\n"
    "    windows:  [{days: [tue, wed, thu], from: \"09:00\", to: \"16:00\", "
    "tz: Europe/Berlin}]\n"
    "    freezes:  [{from: 2026-12-20, to: 2027-01-04, reason: year-end}]\n"
    "    strategy: {type: rolling, batch: 2}   # all-at-once | rolling | "
    "canary {count, hold, then: auto|manual}\n"
    "    failure_threshold: 0         # failed agents (a count or \"10%\") "
    "before the rollout halts\n"
    "    auto_rollback: true          # a halted rollout puts the previous "
    "release back\n"
    "    progress_deadline: 5m\n"
    "    offline: {wait: 10m, then: fail}      # or skip\n"
    "  dr:\n"
    "    mirror: production           # gets what succeeds in production\n"
    "    tags: {kind: cloud, site: aws-eu-west-1}\n"
    "notify:\n"
    "  - command: /usr/local/bin/hoist-notify  # the event as JSON on stdin\n";

/* Every feature at once, with values that need quoting on the way out. */
static const char s_rich[] =
    "timezone: Europe/Berlin\n"
    "environments:\n"
    "  int:\n"
    "    auto_deploy: true\n"
    "    notify: [{command: /opt/hooks/notify-int}]\n"
    "  uat:\n"
    "    tags: {kind: cloud, site: 'null', owner: 'team: web #1'}\n"
    "    approvals: {count: 2, role: release-manager}\n"
    "    windows:\n"
    "      - {from: \"22:00\", to: \"02:00\"}\n"
    "      - {days: [sun, mon], from: \"06:00\", to: \"07:30\", "
    "tz: America/New_York}\n"
    "      - {days: [fri], from: \"10:00\", to: \"11:00\", tz: "
    "Europe/Berlin}\n"
    "    freezes:\n"
    "      - {from: 2026-12-24, to: 2026-12-24, reason: \"x-mas: \\\"no\\\" "
    "deploys\", tz: UTC}\n"
    "      - {from: 2027-02-01, to: 2027-02-03, reason: ~tilde}\n"
    "    strategy: {type: canary, count: 1, hold: 5m, then: manual}\n"
    "    failure_threshold: 10%\n"
    "  live:\n"
    "    auto_rollback: false\n"
    "    offline: {wait: 1m, then: skip}\n"
    "  live-dr:\n"
    "    mirror: live\n"
    "    sync: manual\n"
    "  live-dr2: {mirror: live, sync: auto}\n"
    "lifecycles:\n"
    "  main: [int, uat, live]\n"
    "  fast: [int, live]\n"
    "notify:\n"
    "  - command: /usr/bin/a\n"
    "  - {command: /usr/bin/b}\n";

#define MIN_MS  60000LL
#define HOUR_MS (60 * MIN_MS)

static int64_t
s_utc(int y, int mo, int d, int h, int mi)
{
    struct tm tm = {.tm_year = y - 1900,
                    .tm_mon = mo - 1,
                    .tm_mday = d,
                    .tm_hour = h,
                    .tm_min = mi};
    return (int64_t)timegm(&tm) * 1000;
}

static pipeline_t *
s_load(const char *text)
{
    hoist_error_t err = {0};
    pipeline_t *p = pipeline_load(text, strlen(text), "pipeline.yml", &err);
    if (!p) {
        fail_msg("refused: %s\n%s", err.msg, text);
    }
    return p;
}

/* TEXT must be refused: NULL, HOIST_ERR_USAGE, and a message that starts
 * with "pipeline.yml:LINE:" and contains WANT. */
static void
s_refused(const char *text, unsigned line, const char *want)
{
    hoist_error_t err = {0};
    pipeline_t *p = pipeline_load(text, strlen(text), "pipeline.yml", &err);
    if (p) {
        pipeline_destroy(&p);
        fail_msg("accepted, but expected '%s' for:\n%s", want, text);
    }
    char head[64];
    snprintf(head, sizeof head, "pipeline.yml:%u: ", line);
    if (strncmp(err.msg, head, strlen(head)) != 0) {
        fail_msg("expected a message starting '%s', got '%s'", head, err.msg);
    }
    assert_int_equal(err.code, HOIST_ERR_USAGE);
    assert_contains(err.msg, want);
}

static char *
s_export(const pipeline_t *p, size_t *len)
{
    hoist_error_t err = {0};
    char *yaml = NULL;
    if (pipeline_export(p, &yaml, len, &err) != HOIST_OK) {
        fail_msg("export: %s", err.msg);
    }
    assert_int_equal(strlen(yaml), *len);
    return yaml;
}

static void
test_design_example(void **state)
{
    (void)state;
    pipeline_t *p = s_load(s_design);
    assert_string_equal(p->timezone, "UTC");
    assert_int_equal(p->nenvs, 5);
    assert_int_equal(p->nlifecycles, 2);
    assert_string_equal(pipeline_lifecycle(p, NULL)->name, "default");
    assert_int_equal(pipeline_lifecycle(p, "hotfix")->count, 3);
    assert_null(pipeline_lifecycle(p, "nope"));

    const pipeline_env_t *dev = pipeline_env(p, "dev");
    assert_true(dev->auto_deploy);
    assert_int_equal(dev->approvals, 0);
    const pipeline_env_t *qa = pipeline_env(p, "qa");
    assert_int_equal(qa->approvals, 1);
    assert_int_equal(qa->approval_role, RBAC_QA);
    const pipeline_env_t *staging = pipeline_env(p, "staging");
    assert_string_equal(pipeline_env_tag(staging, "kind"), "on-prem");
    assert_string_equal(pipeline_env_tag(staging, "site"), "fra1");
    assert_null(pipeline_env_tag(staging, "owner"));

    const pipeline_env_t *prod = pipeline_env(p, "production");
    assert_int_equal(prod->nwindows, 1);
    assert_int_equal(prod->windows[0].days, 0x0e);
    assert_int_equal(prod->windows[0].from_min, 9 * 60);
    assert_int_equal(prod->windows[0].to_min, 16 * 60);
    assert_string_equal(prod->windows[0].tz, "Europe/Berlin");
    assert_int_equal(prod->nfreezes, 1);
    assert_int_equal(prod->freezes[0].from.year, 2026);
    assert_int_equal(prod->freezes[0].to.day, 4);
    assert_string_equal(prod->freezes[0].reason, "year-end");
    assert_string_equal(prod->freezes[0].tz, "UTC");
    assert_int_equal(prod->rollout.type, STRATEGY_ROLLING);
    assert_int_equal(prod->rollout.batch.value, 2);
    assert_true(prod->rollout.auto_rollback);
    assert_int_equal(prod->rollout.progress_deadline_ms, 5 * MIN_MS);

    const pipeline_env_t *dr = pipeline_env(p, "dr");
    assert_string_equal(dr->mirror, "production");
    assert_string_equal(pipeline_env_tag(dr, "kind"), "cloud");
    assert_null(pipeline_env(p, "Production"));
    assert_int_equal(p->nnotify, 1);
    assert_string_equal(p->notify[0].command, "/usr/local/bin/hoist-notify");
    pipeline_destroy(&p);
    assert_null(p);
    pipeline_destroy(&p);
    pipeline_destroy(NULL);
}

static void
test_lifecycles_and_mirrors(void **state)
{
    (void)state;
    pipeline_t *p = s_load(s_design);
    hoist_error_t err = {0};
    const char *prev = "unset";
    assert_int_equal(pipeline_previous_env(p, NULL, "staging", &prev, &err),
                     HOIST_OK);
    assert_string_equal(prev, "qa");
    /* The hotfix lifecycle skips qa. */
    assert_int_equal(pipeline_previous_env(p, "hotfix", "staging", &prev, &err),
                     HOIST_OK);
    assert_string_equal(prev, "dev");
    assert_int_equal(pipeline_previous_env(p, "hotfix", "dev", &prev, &err),
                     HOIST_OK);
    assert_null(prev);
    prev = "unset";
    assert_int_equal(pipeline_previous_env(p, "hotfix", "qa", &prev, &err),
                     HOIST_ERR_NOTFOUND);
    assert_contains(err.msg, "'qa' is not in lifecycle 'hotfix'");
    assert_string_equal(prev, "unset");
    assert_int_equal(pipeline_previous_env(p, "weekly", "qa", &prev, &err),
                     HOIST_ERR_NOTFOUND);
    assert_contains(err.msg, "no lifecycle 'weekly'");
    assert_int_equal(pipeline_previous_env(p, NULL, "dr", &prev, &err),
                     HOIST_ERR_NOTFOUND);

    assert_string_equal(pipeline_mirror_of(p, "dr"), "production");
    assert_null(pipeline_mirror_of(p, "production"));
    assert_null(pipeline_mirror_of(p, "nope"));
    const char *m[4] = {NULL};
    assert_int_equal(pipeline_mirrors(p, "production", m, 4), 1);
    assert_string_equal(m[0], "dr");
    assert_int_equal(pipeline_mirrors(p, "staging", m, 4), 0);
    pipeline_destroy(&p);

    /* Without lifecycles: "default" is every non-mirror env, in order. */
    p = s_load("environments:\n"
               "  dev: {auto_deploy: true}\n"
               "  dr: {mirror: prod}\n"
               "  test:\n"
               "  prod:\n");
    assert_int_equal(p->nlifecycles, 1);
    const pipeline_lifecycle_t *lc = pipeline_lifecycle(p, NULL);
    assert_string_equal(lc->name, "default");
    assert_int_equal(lc->count, 3);
    assert_string_equal(lc->envs[0], "dev");
    assert_string_equal(lc->envs[1], "test");
    assert_string_equal(lc->envs[2], "prod");
    assert_int_equal(pipeline_lifecycle_index(lc, "dr"), -1);
    pipeline_destroy(&p);

    /* Two mirrors of one environment. */
    p = s_load(s_rich);
    assert_int_equal(pipeline_mirrors(p, "live", m, 1), 2);
    assert_string_equal(m[0], "live-dr");
    assert_true(pipeline_env(p, "live-dr")->sync_manual);
    assert_false(pipeline_env(p, "live-dr2")->sync_manual);
    pipeline_destroy(&p);

    /* An empty file is an empty pipeline. */
    p = s_load("# nothing yet\n");
    assert_int_equal(p->nenvs, 0);
    assert_int_equal(p->nlifecycles, 0);
    assert_null(pipeline_lifecycle(p, NULL));
    pipeline_destroy(&p);
}

static void
test_rich_values(void **state)
{
    (void)state;
    pipeline_t *p = s_load(s_rich);
    assert_string_equal(p->timezone, "Europe/Berlin");
    const pipeline_env_t *uat = pipeline_env(p, "uat");
    assert_string_equal(pipeline_env_tag(uat, "site"), "null");
    assert_string_equal(pipeline_env_tag(uat, "owner"), "team: web #1");
    assert_int_equal(uat->approvals, 2);
    assert_int_equal(uat->approval_role, RBAC_RELEASE_MANAGER);
    assert_int_equal(uat->windows[0].days, CALENDAR_ALL_DAYS);
    assert_string_equal(uat->windows[0].tz, "Europe/Berlin");
    assert_int_equal(uat->windows[1].days, (1u << 6) | 1u);
    assert_string_equal(uat->windows[1].tz, "America/New_York");
    assert_string_equal(uat->freezes[0].reason, "x-mas: \"no\" deploys");
    assert_string_equal(uat->freezes[0].tz, "UTC");
    assert_string_equal(uat->freezes[1].tz, "Europe/Berlin");
    assert_int_equal(uat->rollout.type, STRATEGY_CANARY);
    assert_true(uat->rollout.failure_threshold.percent);
    const pipeline_env_t *in = pipeline_env(p, "int");
    assert_int_equal(in->nnotify, 1);
    assert_string_equal(in->notify[0].command, "/opt/hooks/notify-int");
    assert_int_equal(p->nnotify, 2);
    assert_string_equal(pipeline_lifecycle(p, NULL)->name, "main");
    pipeline_destroy(&p);
}

/* Loads TEXT, exports it, loads the export, and checks equality and a
 * byte-identical second export. Returns the first export. */
static char *
s_round_trip(const char *text)
{
    size_t len1 = 0;
    size_t len2 = 0;
    pipeline_t *p = s_load(text);
    char *once = s_export(p, &len1);
    pipeline_t *q = s_load(once);
    if (!pipeline_equal(p, q)) {
        fail_msg("not equal after a round trip:\n%s", once);
    }
    char *twice = s_export(q, &len2);
    assert_int_equal(len1, len2);
    assert_memory_equal(once, twice, len1);
    free(twice);
    pipeline_destroy(&p);
    pipeline_destroy(&q);
    return once;
}

static void
test_export_round_trip(void **state)
{
    (void)state;
    char *yaml = s_round_trip(s_design);
    /* Block style, the design's flow lists, quoted times, only what is
     * not a default (failure_threshold 0, offline 10m/fail and
     * auto_rollback in production are). */
    assert_contains(yaml, "lifecycles:\n  default: [dev, qa, staging, "
                          "production]\n  hotfix: [dev, staging, "
                          "production]\nenvironments:\n  dev:\n    "
                          "auto_deploy: true\n");
    assert_contains(yaml, "    windows:\n    - {days: [tue, wed, thu], from: "
                          "\"09:00\", to: \"16:00\", tz: Europe/Berlin}\n");
    assert_contains(yaml, "{from: 2026-12-20, to: 2027-01-04, reason: "
                          "year-end}\n");
    assert_contains(yaml, "  dr:\n    mirror: production\n    tags: {kind: "
                          "cloud, site: aws-eu-west-1}\n");
    assert_contains(yaml, "notify:\n- command: /usr/local/bin/hoist-notify\n");
    assert_null(strstr(yaml, "failure_threshold"));
    assert_null(strstr(yaml, "auto_rollback"));
    assert_null(strstr(yaml, "timezone"));
    free(yaml);

    yaml = s_round_trip(s_rich);
    assert_contains(yaml, "timezone: Europe/Berlin\n");
    /* A tz equal to the file's timezone is left out; others stay. */
    assert_contains(yaml, "- {from: \"22:00\", to: \"02:00\"}\n");
    assert_contains(yaml, "{days: [fri], from: \"10:00\", to: \"11:00\"}\n");
    assert_contains(yaml, "tz: America/New_York}");
    assert_contains(yaml, "site: \"null\"");
    assert_contains(yaml, "    mirror: live\n    sync: manual\n");
    free(yaml);

    yaml = s_round_trip("");
    free(yaml);
    yaml = s_round_trip("environments: {solo: {}}\n");
    assert_contains(yaml, "solo: {}");
    free(yaml);
}

static void
test_equal_sees_differences(void **state)
{
    (void)state;
    pipeline_t *a = s_load(s_rich);
    pipeline_t *b = s_load(s_rich);
    assert_true(pipeline_equal(a, b));
    b->envs[1].windows[1].to_min++;
    assert_false(pipeline_equal(a, b));
    b->envs[1].windows[1].to_min--;
    b->envs[1].rollout.hold_ms++;
    assert_false(pipeline_equal(a, b));
    b->envs[1].rollout.hold_ms--;
    snprintf(b->lifecycles[1].envs[0], sizeof b->lifecycles[1].envs[0], "uat");
    assert_false(pipeline_equal(a, b));
    snprintf(b->lifecycles[1].envs[0], sizeof b->lifecycles[1].envs[0], "int");
    b->notify[1].command[1] = 'x';
    assert_false(pipeline_equal(a, b));
    b->notify[1].command[1] = 'u';
    assert_true(pipeline_equal(a, b));
    pipeline_destroy(&a);
    pipeline_destroy(&b);
}

/* Each kind of mistake, with the line it is on. */
static void
test_refusals(void **state)
{
    (void)state;
    static const struct {
        const char *yaml;
        unsigned line;
        const char *msg;
    } cases[] = {
        {"environment: {}\n", 1, "unknown key 'environment' (allowed: "},
        {"environments:\n  prod:\n    sync: manual\n", 3,
         "sync applies to a mirror only"},
        {"environments:\n  prod: {}\n  dr:\n    mirror: prod\n    sync: "
         "later\n",
         5, "expected auto or manual, got 'later'"},
        {"environments:\n  prod:\n    colour: red\n", 3,
         "unknown key 'environments.prod.colour'"},
        {"environments:\n  prod:\n    windows:\n"
         "      - {days: [tue], from: 9am, to: \"16:00\"}\n",
         4,
         "key 'environments.prod.windows[0].from': expected HH:MM, got "
         "'9am'"},
        {"environments:\n  prod:\n    windows: [{from: \"09:00\"}]\n", 3,
         "key 'environments.prod.windows[0]': a window needs from and to"},
        {"environments:\n  prod:\n    windows: [{from: \"09:00\", to: "
         "\"09:00\"}]\n",
         3, "from and to are the same time"},
        {"environments:\n  prod:\n    windows:\n      - days: [tue, funday]\n"
         "        from: \"09:00\"\n        to: \"10:00\"\n",
         4, "key 'environments.prod.windows[0].days[1]': expected a day"},
        {"environments:\n  prod:\n    windows: [{days: [tue, tue], from: "
         "\"09:00\", to: \"10:00\"}]\n",
         3, "'tue' is listed twice"},
        {"environments:\n  prod:\n    windows: [{days: [], from: \"09:00\", "
         "to: \"10:00\"}]\n",
         3, "at least one day"},
        {"environments:\n  prod:\n    windows: [{from: \"09:00\", to: "
         "\"10:00\", tz: Mars/Olympus}]\n",
         3, "unknown time zone 'Mars/Olympus'"},
        {"environments:\n  prod:\n    windows: {from: \"09:00\"}\n", 3,
         "key 'environments.prod.windows': expected a list, got a mapping"},
        {"timezone: Berlin\n", 1, "key 'timezone': unknown time zone"},
        {"environments:\n  prod:\n    freezes: [{from: 2026-12-32, to: "
         "2027-01-04, reason: x}]\n",
         3, "freezes[0].from': expected a date YYYY-MM-DD"},
        {"environments:\n  prod:\n    freezes: [{from: 2027-01-05, to: "
         "2027-01-04, reason: x}]\n",
         3, "to (2027-01-04) is before from (2027-01-05)"},
        {"environments:\n  prod:\n    freezes:\n    - from: 2026-12-20\n"
         "      to: 2027-01-04\n",
         4, "a freeze needs from, to and reason"},
        {"environments:\n  prod:\n    approvals: {count: 1, role: boss}\n", 3,
         "approvals.role': expected a role admin, release-manager"},
        {"environments:\n  prod:\n    approvals: {count: 0, role: qa}\n", 3,
         "approvals.count': expected a whole number from 1 to 16"},
        {"environments:\n  prod:\n    approvals: {count: 17, role: qa}\n", 3,
         "got '17'"},
        {"environments:\n  prod:\n    approvals: {count: 1}\n", 3,
         "needs count and role"},
        {"environments:\n  prod:\n    tags: {kind: hybrid}\n", 3,
         "tags.kind': expected cloud or on-prem, got 'hybrid'"},
        {"environments:\n  prod:\n    tags: {Site: x}\n", 3,
         "a tag name is lowercase"},
        {"environments:\n  prod:\n    tags: {site: \"a\\tb\"}\n", 3,
         "control character"},
        {"environments:\n  Prod: {}\n", 2,
         "key 'environments.Prod': an environment name is lowercase"},
        {"environments:\n  prod:\n    auto_deploy: yes\n", 3,
         "expected true or false, got 'yes'"},
        {"environments:\n  prod: {}\n  dr:\n    mirror: prd\n", 4,
         "key 'environments.dr.mirror': no environment 'prd' to mirror"},
        {"environments:\n  prod:\n    mirror: prod\n", 3,
         "cannot mirror itself"},
        {"environments:\n  prod: {}\n  dr: {mirror: prod}\n"
         "  dr2: {mirror: dr}\n",
         4, "'dr' is itself a mirror of 'prod'; mirror 'prod' directly"},
        {"environments:\n  prod: {}\n  dr: {mirror: prod, auto_deploy: "
         "true}\n",
         3, "cannot also auto_deploy"},
        {"lifecycles:\n  default: [dev, qa]\nenvironments:\n  dev: {}\n", 2,
         "key 'lifecycles.default[1]': no environment 'qa'"},
        {"lifecycles:\n  default:\n    - dev\n    - dev\n"
         "environments:\n  dev: {}\n",
         4, "'dev' is in this lifecycle twice"},
        {"lifecycles:\n  default: [prod, dr]\nenvironments:\n  prod: {}\n"
         "  dr: {mirror: prod}\n",
         2, "'dr' mirrors 'prod' and follows it"},
        {"lifecycles:\n  default: []\nenvironments:\n  dev: {}\n", 2,
         "needs at least one environment"},
        {"lifecycles:\n  Hot Fix: [dev]\nenvironments:\n  dev: {}\n", 2,
         "a lifecycle name is lowercase"},
        {"notify:\n  - command: notify.sh\n", 2,
         "key 'notify[0].command': expected the absolute path"},
        {"notify:\n  - command: /bin/notify --all\n", 2,
         "expected the absolute path"},
        {"notify:\n  - cmd: /bin/notify\n", 2, "unknown key 'notify[0].cmd'"},
        {"notify:\n  - /bin/notify\n", 2,
         "key 'notify[0]': expected a mapping, got '/bin/notify'"},
        {"environments:\n  prod:\n    strategy: {type: sideways}\n", 3,
         "expected all-at-once, rolling or canary"},
        {"environments:\n  prod:\n    failure_threshold: lots\n", 3,
         "failure_threshold"},
        {"environments:\n  a: {}\n  a: {}\n", 3, "duplicate key 'a'"},
        {"x: &a 1\n", 1, "anchors and aliases are not allowed"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        s_refused(cases[i].yaml, cases[i].line, cases[i].msg);
    }
}

/* Limits: counts of lists and the size of the file. */
static void
test_limits(void **state)
{
    (void)state;
    size_t cap = 64 * 1024;
    char *text = malloc(cap);
    size_t n = (size_t)snprintf(text, cap,
                                "environments:\n  prod:\n"
                                "    windows:\n");
    for (int i = 0; i < PIPELINE_MAX_WINDOWS + 1; i++) {
        n += (size_t)snprintf(text + n, cap - n,
                              "      - {from: \"09:00\", to: \"10:00\"}\n");
    }
    s_refused(text, 3, "17 entries is more than the limit of 16");

    n = (size_t)snprintf(text, cap, "environments:\n");
    for (int i = 0; i < PIPELINE_MAX_ENVS + 1; i++) {
        n += (size_t)snprintf(text + n, cap - n, "  e%d: {}\n", i);
    }
    s_refused(text, 66, "more than 64 environments");
    free(text);

    hoist_error_t err = {0};
    size_t big = PIPELINE_MAX_BYTES + 1;
    char *huge = malloc(big);
    memset(huge, '#', big);
    assert_null(pipeline_load(huge, big, "pipeline.yml", &err));
    assert_contains(err.msg, "more than the limit");
    free(huge);
}

/* ---- Gates ---- */

/* Tuesday 2026-12-01 10:00 in Berlin: inside production's window, before
 * the freeze. */
#define S_OPEN s_utc(2026, 12, 1, 9, 0)

static const gates_approval_t s_qa_ok[] = {
    {"alice", RBAC_QA, "production"},
    {"alice", RBAC_QA, "qa"},
};

static gates_input_t
s_input(const char *env, int64_t now)
{
    gates_input_t in = {
        .app = "web",
        .version = "1.2.0",
        .env = env,
        .now_ms = now,
        .upstream_succeeded = true,
        .approvals = s_qa_ok,
        .napprovals = 2,
    };
    return in;
}

static gates_result_t
s_gates(const pipeline_t *p, const gates_input_t *in)
{
    gates_result_t r;
    hoist_error_t err = {0};
    if (gates_check(p, in, &r, &err) != HOIST_OK) {
        fail_msg("gates_check: %s", err.msg);
    }
    return r;
}

/* R has exactly one unmet gate, of KIND, whose sentence contains WANT. */
static void
s_one_gate(const gates_result_t *r, gates_kind_t kind, const char *want)
{
    if (r->count != 1) {
        char buf[4096];
        fail_msg("expected one unmet gate, got %zu:\n%s", r->count,
                 gates_format(r, buf, sizeof buf));
    }
    assert_int_equal(r->unmet[0].kind, kind);
    assert_contains(r->unmet[0].text, want);
}

static void
test_gates_all_met(void **state)
{
    (void)state;
    pipeline_t *p = s_load(s_design);
    gates_input_t in = s_input("production", S_OPEN);
    gates_result_t r = s_gates(p, &in);
    assert_int_equal(r.count, 0);
    assert_false(r.freeze_overridden);
    char buf[64];
    assert_string_equal(gates_format(&r, buf, sizeof buf), "");
    /* The first environment has no upstream gate. */
    in = s_input("dev", S_OPEN);
    in.upstream_succeeded = false;
    assert_int_equal(s_gates(p, &in).count, 0);
    pipeline_destroy(&p);
}

static void
test_gate_lifecycle(void **state)
{
    (void)state;
    pipeline_t *p = s_load(s_design);
    gates_input_t in = s_input("qa", S_OPEN);
    in.lifecycle = "hotfix";
    gates_result_t r = s_gates(p, &in);
    s_one_gate(&r, GATES_LIFECYCLE,
               "qa is not in lifecycle hotfix (dev -> staging -> production)");
    in = s_input("dr", S_OPEN);
    r = s_gates(p, &in);
    s_one_gate(&r, GATES_LIFECYCLE, "dr mirrors production");

    /* Unknown names are errors, not gates; the result is untouched. */
    hoist_error_t err = {0};
    r.count = 99;
    in = s_input("prod", S_OPEN);
    assert_int_equal(gates_check(p, &in, &r, &err), HOIST_ERR_NOTFOUND);
    assert_contains(err.msg, "no environment 'prod'");
    in = s_input("qa", S_OPEN);
    in.lifecycle = "weekly";
    assert_int_equal(gates_check(p, &in, &r, &err), HOIST_ERR_NOTFOUND);
    assert_contains(err.msg, "no lifecycle 'weekly'");
    assert_int_equal(r.count, 99);
    pipeline_destroy(&p);
}

static void
test_gate_upstream(void **state)
{
    (void)state;
    pipeline_t *p = s_load(s_design);
    gates_input_t in = s_input("staging", S_OPEN);
    in.upstream_succeeded = false;
    in.upstream_detail = "2 of 3";
    gates_result_t r = s_gates(p, &in);
    s_one_gate(&r, GATES_UPSTREAM,
               "staging: web 1.2.0 has not succeeded on every agent of qa "
               "(2 of 3)");
    /* In the hotfix lifecycle staging follows dev. */
    in.lifecycle = "hotfix";
    in.upstream_detail = NULL;
    r = s_gates(p, &in);
    s_one_gate(&r, GATES_UPSTREAM, "every agent of dev: promote it to dev");
    pipeline_destroy(&p);
}

static void
test_gate_approvals(void **state)
{
    (void)state;
    pipeline_t *p = s_load(s_design);
    /* A release manager's approval, and QA's for another env, do not
     * count for production. */
    const gates_approval_t wrong[] = {
        {"bob", RBAC_RELEASE_MANAGER, "production"},
        {"alice", RBAC_QA, "staging"},
    };
    gates_input_t in = s_input("production", S_OPEN);
    in.approvals = wrong;
    in.napprovals = 2;
    gates_result_t r = s_gates(p, &in);
    s_one_gate(&r, GATES_APPROVALS,
               "production needs 1 approval from role qa, has 0: run hoist "
               "approve web 1.2.0 --env production as a qa user");
    pipeline_destroy(&p);

    /* Two approvals needed: one user approving twice counts once. */
    p = s_load("environments:\n  a: {}\n"
               "  b: {approvals: {count: 2, role: qa}}\n");
    const gates_approval_t twice[] = {
        {"carol", RBAC_QA, "b"},
        {"carol", RBAC_QA, "b"},
    };
    in = s_input("b", S_OPEN);
    in.approvals = twice;
    in.napprovals = 2;
    r = s_gates(p, &in);
    s_one_gate(&r, GATES_APPROVALS, "needs 2 approvals from role qa, has 1");
    const gates_approval_t two[] = {
        {"carol", RBAC_QA, "b"},
        {"dave", RBAC_QA, "b"},
    };
    in.approvals = two;
    assert_int_equal(s_gates(p, &in).count, 0);
    pipeline_destroy(&p);
}

static void
test_gate_window(void **state)
{
    (void)state;
    pipeline_t *p = s_load(s_design);
    /* Monday noon: the next window is Tuesday 09:00 in Berlin. */
    gates_input_t in = s_input("production", s_utc(2026, 11, 30, 12, 0));
    gates_result_t r = s_gates(p, &in);
    s_one_gate(&r, GATES_WINDOW,
               "production is outside its deploy windows; next window opens "
               "2026-12-01 09:00 Europe/Berlin (+01:00)");
    /* The hint is a valid --at time. */
    hoist_error_t err = {0};
    int64_t at = 0;
    assert_int_equal(calendar_parse_at("2026-12-01 09:00 Europe/Berlin "
                                       "(+01:00)",
                                       NULL, 0, &at, &err),
                     HOIST_OK);
    assert_int_equal(at, s_utc(2026, 12, 1, 8, 0));
    /* The earliest of several windows is named. */
    pipeline_t *q =
        s_load("environments:\n  e:\n    windows:\n"
               "      - {days: [fri], from: \"08:00\", to: \"09:00\"}\n"
               "      - {days: [wed], from: \"20:00\", to: \"21:00\", tz: "
               "America/New_York}\n");
    in = s_input("e", s_utc(2026, 12, 1, 12, 0));
    r = s_gates(q, &in);
    s_one_gate(&r, GATES_WINDOW,
               "next window opens 2026-12-02 20:00 America/New_York (-05:00)");
    pipeline_destroy(&q);
    pipeline_destroy(&p);
}

static void
test_gate_freeze(void **state)
{
    (void)state;
    pipeline_t *p = s_load(s_design);
    /* Tuesday 2026-12-22 11:00 in Berlin: in the window, in the freeze. */
    gates_input_t in = s_input("production", s_utc(2026, 12, 22, 10, 0));
    gates_result_t r = s_gates(p, &in);
    s_one_gate(&r, GATES_FREEZE,
               "production is frozen until 2027-01-04 inclusive, UTC time "
               "(year-end): an admin may pass with --override-freeze "
               "--reason TEXT");
    assert_false(r.freeze_overridden);

    in.override_freeze = true;
    r = s_gates(p, &in);
    s_one_gate(&r, GATES_FREEZE, "only an admin may pass");
    in.requester_admin = true;
    r = s_gates(p, &in);
    s_one_gate(&r, GATES_FREEZE, "--override-freeze needs --reason TEXT");
    in.override_reason = "security fix CVE-2026-1234";
    r = s_gates(p, &in);
    assert_int_equal(r.count, 0);
    assert_true(r.freeze_overridden);
    /* Overriding when nothing is frozen is no override. */
    in.now_ms = S_OPEN;
    r = s_gates(p, &in);
    assert_int_equal(r.count, 0);
    assert_false(r.freeze_overridden);
    pipeline_destroy(&p);
}

static void
test_gates_all_together(void **state)
{
    (void)state;
    pipeline_t *p = s_load(s_design);
    /* Monday 2026-12-21: frozen, outside the window, nothing approved,
     * staging not done. */
    gates_input_t in = s_input("production", s_utc(2026, 12, 21, 12, 0));
    in.upstream_succeeded = false;
    in.upstream_detail = "0 of 2";
    in.approvals = NULL;
    in.napprovals = 0;
    in.override_freeze = true;
    in.override_reason = "please";
    gates_result_t r = s_gates(p, &in);
    assert_int_equal(r.count, 4);
    assert_int_equal(r.unmet[0].kind, GATES_UPSTREAM);
    assert_int_equal(r.unmet[1].kind, GATES_APPROVALS);
    assert_int_equal(r.unmet[2].kind, GATES_WINDOW);
    assert_int_equal(r.unmet[3].kind, GATES_FREEZE);
    assert_contains(r.unmet[0].text, "agent of staging (0 of 2)");
    assert_contains(r.unmet[2].text, "next window opens 2026-12-22 09:00");
    assert_contains(r.unmet[3].text, "only an admin");
    char buf[4096];
    gates_format(&r, buf, sizeof buf);
    assert_contains(buf, "(0 of 2): promote it to staging first\nproduction "
                         "needs 1 approval");

    /* Not in the lifecycle, and closed: both reported. */
    in = s_input("qa", s_utc(2026, 12, 21, 12, 0));
    in.lifecycle = "hotfix";
    in.approvals = NULL;
    in.napprovals = 0;
    r = s_gates(p, &in);
    assert_int_equal(r.count, 2);
    assert_int_equal(r.unmet[0].kind, GATES_LIFECYCLE);
    assert_int_equal(r.unmet[1].kind, GATES_APPROVALS);
    pipeline_destroy(&p);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_design_example),
        cmocka_unit_test(test_lifecycles_and_mirrors),
        cmocka_unit_test(test_rich_values),
        cmocka_unit_test(test_export_round_trip),
        cmocka_unit_test(test_equal_sees_differences),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_gates_all_met),
        cmocka_unit_test(test_gate_lifecycle),
        cmocka_unit_test(test_gate_upstream),
        cmocka_unit_test(test_gate_approvals),
        cmocka_unit_test(test_gate_window),
        cmocka_unit_test(test_gate_freeze),
        cmocka_unit_test(test_gates_all_together),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
