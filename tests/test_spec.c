/*
 * test_spec: hoist.yml as DESIGN.md writes it, the defaults, every key,
 * every refusal with its key and line, and spec_load's file checks
 * (symlink, size, non-regular files) on real files in a temp directory.
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "spec.h"

/* The example of DESIGN.md, byte for byte. */
static const char s_design_example[] =
    "hooks:                           # run in the release directory, with a "
    "time limit\n"
    "  before_activate: ./bin/migrate --check\n"
    "  activate: systemctl restart web\n"
    "  after_rollback: ./bin/notify-rollback\n"
    "  failover: ./bin/promote-replica # DR drills and failover\n"
    "  failback: ./bin/demote-replica\n"
    "health:                          # one of command | tcp | http\n"
    "  http: http://127.0.0.1:8080/healthz\n"
    "  timeout: 5s\n"
    "  interval: 1s\n"
    "  retries: 10\n"
    "  healthy_for: 10s               # must stay healthy this long\n";

/* Parses TEXT as "hoist.yml"; fails the test if it is refused. */
static spec_t *
s_parse(const char *text)
{
    hoist_error_t err = {0};
    spec_t *spec = spec_parse(text, strlen(text), "hoist.yml", &err);
    if (!spec) {
        fail_msg("refused: %s\n%s", err.msg, text);
    }
    return spec;
}

/* Parses TEXT, which must be refused with HOIST_ERR_SPEC and a message
 * containing WANT. */
static void
s_refused(const char *text, const char *want)
{
    hoist_error_t err = {0};
    spec_t *spec = spec_parse(text, strlen(text), "hoist.yml", &err);
    if (spec) {
        spec_destroy(&spec);
        fail_msg("accepted, but expected '%s' for:\n%s", want, text);
    }
    assert_int_equal(err.code, HOIST_ERR_SPEC);
    assert_contains(err.msg, want);
}

/* Asserts that SPEC holds only the documented defaults. */
static void
s_assert_defaults(const spec_t *spec)
{
    assert_null(spec->before_activate);
    assert_null(spec->activate);
    assert_null(spec->after_rollback);
    assert_null(spec->failover);
    assert_null(spec->failback);
    assert_int_equal(spec->hook_timeout_ms, 5 * 60 * 1000);
    assert_int_equal(spec->health.kind, HEALTH_NONE);
    assert_null(spec->health.target);
    assert_int_equal(spec->health.timeout_ms, 5000);
    assert_int_equal(spec->health.interval_ms, 1000);
    assert_int_equal(spec->health.retries, 10);
    assert_int_equal(spec->health.healthy_for_ms, 0);
}

static void
test_design_example(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    char *path = tu_path(dir, "hoist.yml");
    tu_write(path, s_design_example, (size_t)-1, 0644);
    hoist_error_t err = {0};
    spec_t *spec = spec_load(path, &err);
    if (!spec) {
        fail_msg("refused: %s", err.msg);
    }
    assert_string_equal(spec->before_activate, "./bin/migrate --check");
    assert_string_equal(spec->activate, "systemctl restart web");
    assert_string_equal(spec->after_rollback, "./bin/notify-rollback");
    assert_string_equal(spec->failover, "./bin/promote-replica");
    assert_string_equal(spec->failback, "./bin/demote-replica");
    assert_int_equal(spec->hook_timeout_ms, 5 * 60 * 1000);
    assert_int_equal(spec->health.kind, HEALTH_HTTP);
    assert_string_equal(spec->health.target, "http://127.0.0.1:8080/healthz");
    assert_int_equal(spec->health.timeout_ms, 5000);
    assert_int_equal(spec->health.interval_ms, 1000);
    assert_int_equal(spec->health.retries, 10);
    assert_int_equal(spec->health.healthy_for_ms, 10000);
    spec_destroy(&spec);
    assert_null(spec);
    spec_destroy(&spec); /* NULL is fine */
    spec_destroy(NULL);
    free(path);
    tu_rmtree(dir);
}

static void
test_empty_means_defaults(void **state)
{
    (void)state;
    static const char *texts[] = {"",     "# nothing yet\n", "---\n",
                                  "\n\n", "hooks:\n",        "hooks: {}\n"};
    for (size_t t = 0; t < sizeof texts / sizeof texts[0]; t++) {
        spec_t *spec = s_parse(texts[t]);
        s_assert_defaults(spec);
        spec_destroy(&spec);
    }
    /* An empty file on disk too. */
    char *dir = tu_tmpdir();
    char *path = tu_path(dir, "hoist.yml");
    tu_write(path, "", 0, 0644);
    hoist_error_t err = {0};
    spec_t *spec = spec_load(path, &err);
    assert_non_null(spec);
    s_assert_defaults(spec);
    spec_destroy(&spec);
    free(path);
    tu_rmtree(dir);
}

static void
test_every_key_overrides_its_default(void **state)
{
    (void)state;
    spec_t *spec = s_parse("hooks:\n"
                           "  activate: |\n"
                           "    systemctl daemon-reload\n"
                           "    systemctl restart web\n"
                           "  timeout: 90s\n"
                           "health:\n"
                           "  command: \"curl -fsS localhost:8080/ok\"\n"
                           "  timeout: 2s\n"
                           "  interval: 250ms\n"
                           "  retries: 3\n"
                           "  healthy_for: 1m\n");
    assert_null(spec->before_activate);
    assert_string_equal(spec->activate,
                        "systemctl daemon-reload\nsystemctl restart web\n");
    assert_int_equal(spec->hook_timeout_ms, 90000);
    assert_int_equal(spec->health.kind, HEALTH_COMMAND);
    assert_string_equal(spec->health.target, "curl -fsS localhost:8080/ok");
    assert_int_equal(spec->health.timeout_ms, 2000);
    assert_int_equal(spec->health.interval_ms, 250);
    assert_int_equal(spec->health.retries, 3);
    assert_int_equal(spec->health.healthy_for_ms, 60000);
    spec_destroy(&spec);

    /* The limits of retries, and a zero interval, are accepted. */
    spec = s_parse("health: {tcp: 'db:5432', retries: 1, interval: 0}\n");
    assert_int_equal(spec->health.kind, HEALTH_TCP);
    assert_int_equal(spec->health.retries, 1);
    assert_int_equal(spec->health.interval_ms, 0);
    spec_destroy(&spec);
    spec = s_parse("health: {tcp: 'db:5432', retries: 10000, timeout: 1s, "
                   "interval: 1s}\n");
    assert_int_equal(spec->health.retries, 10000);
    spec_destroy(&spec);
}

/* A spec cannot hold the agent (and its lock) for days. */
static void
test_time_caps(void **state)
{
    (void)state;
    static const struct {
        const char *yaml;
        const char *msg;
    } cases[] = {
        {"hooks: {timeout: 25h}\n", "must be at most 1d"},
        {"health: {tcp: 'a:1', interval: 3650d}\n", "must be at most 10m"},
        {"health: {tcp: 'a:1', timeout: 11m}\n", "must be at most 10m"},
        {"health: {tcp: 'a:1', healthy_for: 2h}\n", "must be at most 1h"},
        {"health: {tcp: 'a:1', retries: 10000}\n", "keep it under 6h"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        hoist_error_t err = {0};
        spec_t *spec =
            spec_parse(cases[i].yaml, strlen(cases[i].yaml), "hoist.yml", &err);
        if (spec) {
            fail_msg("accepted: %s", cases[i].yaml);
        }
        assert_int_equal(err.code, HOIST_ERR_SPEC);
        assert_contains(err.msg, cases[i].msg);
    }
    /* Right at the caps is fine. */
    const char *edge = "hooks: {timeout: 24h}\nhealth: {tcp: 'a:1', "
                       "timeout: 10m, interval: 10m, healthy_for: 1h, "
                       "retries: 10}\n";
    spec_t *spec = spec_parse(edge, strlen(edge), "hoist.yml", NULL);
    assert_non_null(spec);
    spec_destroy(&spec);
}

static void
test_tcp_targets(void **state)
{
    (void)state;
    static const char *good[] = {
        "127.0.0.1:8080", "localhost:80",         "db-1.internal_x:5432",
        "[::1]:80",       "[2001:db8::1]:443",    "host:65535",
        "host:1",         "[::ffff:10.0.0.1]:22",
    };
    for (size_t c = 0; c < sizeof good / sizeof good[0]; c++) {
        char text[128];
        snprintf(text, sizeof text, "health:\n  tcp: \"%s\"\n", good[c]);
        spec_t *spec = s_parse(text);
        assert_int_equal(spec->health.kind, HEALTH_TCP);
        assert_string_equal(spec->health.target, good[c]);
        spec_destroy(&spec);
    }
    static const struct {
        const char *target;
        const char *why;
    } bad[] = {
        {"localhost", "the port is missing"},
        {"localhost:", "the port must be a number from 1 to 65535"},
        {"host:0", "the port must be a number from 1 to 65535"},
        {"host:65536", "the port must be a number from 1 to 65535"},
        {"host:123456", "the port must be a number from 1 to 65535"},
        {"host:+80", "the port must be a number from 1 to 65535"},
        {"host:http", "the port must be a number from 1 to 65535"},
        {"host:80x", "the port must be a number from 1 to 65535"},
        {":80", "the host must be a name or an address"},
        {"ho st:80", "the host must be a name or an address"},
        {"http://host:80", "a tcp check takes HOST:PORT, not a URL"},
        {"::1:80", "an IPv6 address goes in brackets, like [::1]:80"},
        {"[::1]", "the port is missing"},
        {"[::1]80", "the port is missing"},
        {"[]:80", "an IPv6 address goes in brackets"},
        {"[::1:80", "an IPv6 address goes in brackets"},
        {"[::g]:80", "an IPv6 address goes in brackets"},
    };
    for (size_t c = 0; c < sizeof bad / sizeof bad[0]; c++) {
        char text[128], want[256];
        snprintf(text, sizeof text, "# spec\nhealth:\n  tcp: \"%s\"\n",
                 bad[c].target);
        snprintf(want, sizeof want,
                 "hoist.yml:3: key 'health.tcp': expected HOST:PORT like "
                 "127.0.0.1:8080, got '%s' (%s",
                 bad[c].target, bad[c].why);
        s_refused(text, want);
    }
}

static void
test_http_targets(void **state)
{
    (void)state;
    static const char *good[] = {"http://127.0.0.1:8080/healthz",
                                 "https://web.example/ok?deep=1",
                                 "http://[::1]:8080/"};
    for (size_t c = 0; c < sizeof good / sizeof good[0]; c++) {
        char text[128];
        snprintf(text, sizeof text, "health: {http: \"%s\"}\n", good[c]);
        spec_t *spec = s_parse(text);
        assert_int_equal(spec->health.kind, HEALTH_HTTP);
        assert_string_equal(spec->health.target, good[c]);
        spec_destroy(&spec);
    }
    static const struct {
        const char *url;
        const char *why;
    } bad[] = {
        {"127.0.0.1:8080/healthz", "it must start with http:// or https://"},
        {"ftp://host/x", "it must start with http:// or https://"},
        {"HTTP://host/", "it must start with http:// or https://"},
        {"http://", "the host is missing"},
        {"https:///path", "the host is missing"},
        {"http://host/a b", "a URL cannot contain spaces"},
    };
    for (size_t c = 0; c < sizeof bad / sizeof bad[0]; c++) {
        char text[128], want[256];
        snprintf(text, sizeof text, "health:\n  retries: 2\n  http: \"%s\"\n",
                 bad[c].url);
        snprintf(want, sizeof want,
                 "hoist.yml:3: key 'health.http': expected a URL, got '%s' "
                 "(%s",
                 bad[c].url, bad[c].why);
        s_refused(text, want);
    }
}

static void
test_exactly_one_probe(void **state)
{
    (void)state;
    s_refused("health:\n"
              "  tcp: localhost:80\n"
              "  timeout: 1s\n"
              "  http: http://localhost/\n",
              "hoist.yml:4: key 'health.http': only one of command, tcp or "
              "http may be set, and tcp is set already");
    s_refused("health:\n  command: true\n  command2: x\n",
              "hoist.yml:3: unknown key 'health.command2'");
    s_refused("health:\n  http: http://x/\n  command: true\n",
              "hoist.yml:3: key 'health.command': only one of command, tcp "
              "or http may be set, and http is set already");
    /* Timings without a probe name the health key's line. */
    s_refused("hooks:\n  activate: x\nhealth:\n  timeout: 5s\n",
              "hoist.yml:3: key 'health': needs one of command, tcp or http");
    s_refused("health:\n", "hoist.yml:1: key 'health': needs one of");
    s_refused("health: {}\n", "hoist.yml:1: key 'health': needs one of");
}

static void
test_unknown_keys_name_key_and_line(void **state)
{
    (void)state;
    s_refused("hooks: {}\n\nhealthcheck:\n  tcp: x:1\n",
              "hoist.yml:3: unknown key 'healthcheck' (allowed: hooks, "
              "health)");
    s_refused("hooks:\n  activate: x\n  before_activte: y\n",
              "hoist.yml:3: unknown key 'hooks.before_activte' (allowed: "
              "before_activate, activate, after_rollback, failover, "
              "failback, timeout)");
    s_refused("health:\n  tcp: db:5432\n  healthy-for: 10s\n",
              "hoist.yml:3: unknown key 'health.healthy-for' (allowed: "
              "command, tcp, http, timeout, interval, retries, "
              "healthy_for)");
    /* Keys are case-sensitive. */
    s_refused("Hooks: {}\n", "hoist.yml:1: unknown key 'Hooks'");
}

static void
test_wrong_values_name_key_and_line(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        const char *want;
    } cases[] = {
        {"- hooks\n", "hoist.yml:1: expected a mapping of keys at the top"},
        {"hooks: [a]\n",
         "hoist.yml:1: key 'hooks': expected a mapping, got a list"},
        {"health: http://x/\n",
         "hoist.yml:1: key 'health': expected a mapping, got 'http://x/'"},
        {"hooks:\n  activate:\n",
         "hoist.yml:2: key 'hooks.activate': expected text, got nothing"},
        {"hooks:\n  failback: [a, b]\n",
         "hoist.yml:2: key 'hooks.failback': expected text, got a list"},
        {"hooks:\n  timeout: 5 minutes\n",
         "hoist.yml:2: key 'hooks.timeout': expected a duration like 5s, got "
         "'5 minutes' (no spaces"},
        {"hooks:\n  timeout: 0\n",
         "hoist.yml:2: key 'hooks.timeout': a time limit must be more than "
         "0, like 5s"},
        {"health:\n  tcp: db:1\n  timeout: abc\n",
         "hoist.yml:3: key 'health.timeout': expected a duration like 5s, got "
         "'abc'"},
        {"health:\n  tcp: db:1\n  timeout: 0ms\n",
         "hoist.yml:3: key 'health.timeout': a time limit must be more than "
         "0"},
        {"health:\n  tcp: db:1\n  interval: -1s\n",
         "hoist.yml:3: key 'health.interval': expected a duration like 5s, "
         "got '-1s' (no sign)"},
        {"health:\n  tcp: db:1\n  healthy_for: 1.5m\n",
         "hoist.yml:3: key 'health.healthy_for': expected a duration like 5s, "
         "got '1.5m' (no fractions"},
        {"health:\n  tcp: db:1\n  retries: ten\n",
         "hoist.yml:3: key 'health.retries': expected a whole number from 1 "
         "to 10000, got 'ten'"},
        {"health:\n  tcp: db:1\n  retries: 0\n",
         "hoist.yml:3: key 'health.retries': expected a whole number from 1 "
         "to 10000, got '0'"},
        {"health:\n  tcp: db:1\n  retries: 10001\n",
         "hoist.yml:3: key 'health.retries': expected a whole number from 1 "
         "to 10000, got '10001'"},
        {"health:\n  command: \"\"\n",
         "hoist.yml:2: key 'health.command': expected text, got nothing"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        s_refused(cases[c].text, cases[c].want);
    }
}

static void
test_yaml_level_refusals(void **state)
{
    (void)state;
    s_refused("hooks:\n  activate: &cmd systemctl restart web\n"
              "  failback: *cmd\n",
              "hoist.yml:2: anchors and aliases are not allowed (found &cmd)");
    s_refused("hooks:\n  activate: a\n  activate: b\n",
              "hoist.yml:3: duplicate key 'activate' (first on line 2)");
    s_refused("hooks: {}\nhooks: {}\n",
              "hoist.yml:2: duplicate key 'hooks' (first on line 1)");
    s_refused("hooks:\n  activate: a\n    b: c\n",
              "hoist.yml:3: mapping values are not allowed");
    s_refused("hooks: {}\n---\nhealth: {}\n",
              "hoist.yml:3: only one YAML document is allowed");
    /* spec_parse applies the same 64 KiB cap as spec_load. */
    size_t len = 64 * 1024 + 1;
    char *big = malloc(len);
    assert_non_null(big);
    memset(big, '\n', len);
    hoist_error_t err = {0};
    assert_null(spec_parse(big, len, "hoist.yml", &err));
    assert_int_equal(err.code, HOIST_ERR_SPEC);
    assert_contains(err.msg, "hoist.yml: 65537 bytes is more than the limit "
                             "of 65536");
    free(big);
}

static void
test_load_refuses_symlink(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    char *real = tu_path(dir, "real.yml");
    char *link = tu_path(dir, "hoist.yml");
    tu_write(real, s_design_example, (size_t)-1, 0644);
    assert_int_equal(symlink("real.yml", link), 0);
    hoist_error_t err = {0};
    assert_null(spec_load(link, &err));
    assert_int_equal(err.code, HOIST_ERR_SPEC);
    assert_contains(err.msg, link);
    assert_contains(err.msg, "is a symbolic link");
    /* The target itself is fine: the refusal is about the link. */
    spec_t *spec = spec_load(real, &err);
    assert_non_null(spec);
    spec_destroy(&spec);
    free(real);
    free(link);
    tu_rmtree(dir);
}

static void
test_load_size_limit(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    char *path = tu_path(dir, "hoist.yml");
    size_t cap = 64 * 1024;
    char *data = malloc(cap + 1);
    assert_non_null(data);
    /* Exactly 64 KiB: a valid spec padded with a comment. */
    const char *head = "hooks: {activate: x}\n#";
    memset(data, 'x', cap + 1);
    memcpy(data, head, strlen(head));
    data[cap - 1] = '\n';
    tu_write(path, data, cap, 0644);
    hoist_error_t err = {0};
    spec_t *spec = spec_load(path, &err);
    if (!spec) {
        fail_msg("64 KiB refused: %s", err.msg);
    }
    assert_string_equal(spec->activate, "x");
    spec_destroy(&spec);
    /* One byte more is refused before it is parsed. */
    data[cap - 1] = 'x';
    data[cap] = '\n';
    tu_write(path, data, cap + 1, 0644);
    assert_null(spec_load(path, &err));
    assert_int_equal(err.code, HOIST_ERR_SPEC);
    assert_contains(err.msg, path);
    assert_contains(err.msg, "is 65537 bytes, larger than the 64 KiB limit");
    free(data);
    free(path);
    tu_rmtree(dir);
}

static void
test_load_refuses_non_regular_files(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    char *sub = tu_path(dir, "hoist.yml");
    char *fifo = tu_path(dir, "fifo.yml");
    assert_int_equal(mkdir(sub, 0755), 0);
    assert_int_equal(mkfifo(fifo, 0644), 0);
    hoist_error_t err = {0};
    assert_null(spec_load(sub, &err));
    assert_int_equal(err.code, HOIST_ERR_SPEC);
    assert_contains(err.msg, sub);
    assert_contains(err.msg, "is not a regular file; the deploy spec must be "
                             "one");
    /* A FIFO with no writer must not hang the agent. */
    memset(&err, 0, sizeof err);
    assert_null(spec_load(fifo, &err));
    assert_int_equal(err.code, HOIST_ERR_SPEC);
    assert_contains(err.msg, "is not a regular file");
    free(sub);
    free(fifo);
    tu_rmtree(dir);
}

static void
test_load_missing_file(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    char *path = tu_path(dir, "hoist.yml");
    hoist_error_t err = {0};
    assert_null(spec_load(path, &err));
    assert_int_equal(err.code, HOIST_ERR_IO);
    assert_contains(err.msg, path);
    assert_contains(err.msg, "No such file or directory");
    free(path);
    tu_rmtree(dir);
}

static void
test_load_messages_start_with_the_path(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    char *path = tu_path(dir, "hoist.yml");
    tu_write(path, "hooks:\n  activate: x\n  timeout: soon\n", (size_t)-1,
             0644);
    hoist_error_t err = {0};
    assert_null(spec_load(path, &err));
    assert_int_equal(err.code, HOIST_ERR_SPEC);
    char want[4200];
    snprintf(want, sizeof want,
             "%s:3: key 'hooks.timeout': expected a duration like 5s, got "
             "'soon'",
             path);
    assert_contains(err.msg, want);
    assert_true(strncmp(err.msg, path, strlen(path)) == 0);
    free(path);
    tu_rmtree(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_design_example),
        cmocka_unit_test(test_empty_means_defaults),
        cmocka_unit_test(test_every_key_overrides_its_default),
        cmocka_unit_test(test_tcp_targets),
        cmocka_unit_test(test_time_caps),
        cmocka_unit_test(test_http_targets),
        cmocka_unit_test(test_exactly_one_probe),
        cmocka_unit_test(test_unknown_keys_name_key_and_line),
        cmocka_unit_test(test_wrong_values_name_key_and_line),
        cmocka_unit_test(test_yaml_level_refusals),
        cmocka_unit_test(test_load_refuses_symlink),
        cmocka_unit_test(test_load_size_limit),
        cmocka_unit_test(test_load_refuses_non_regular_files),
        cmocka_unit_test(test_load_missing_file),
        cmocka_unit_test(test_load_messages_start_with_the_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
