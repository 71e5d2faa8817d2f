/*
 * test_yamlfile: loading strict YAML (caps, aliases, duplicate and
 * non-scalar keys, extra documents, syntax errors with their line) and the
 * typed readers with the exact words and lines of their messages.
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "yamlfile.h"

/* A code no other layer would set, to show the caller's code is used. */
#define CODE HOIST_ERR_STATE

/* Loads TEXT as "t.yml" with a generous cap. */
static yamlfile_t *
s_load(const char *text, hoist_error_t *err)
{
    return yamlfile_load(text, strlen(text), 4096, "t.yml", CODE, err);
}

/* Loads TEXT, which must fail, and checks the code and that the message
 * contains WANT. */
static void
s_refused(const char *text, const char *want)
{
    hoist_error_t err = {0};
    yamlfile_t *yf = s_load(text, &err);
    if (yf) {
        yamlfile_destroy(&yf);
        fail_msg("loaded, but expected '%s' for:\n%s", want, text);
    }
    assert_int_equal(err.code, CODE);
    assert_contains(err.msg, want);
}

/* Finds KEY in MAP (under PREFIX) and fills PAIR; fails the test if it is
 * not there. */
static void
s_find(yamlfile_t *yf, yaml_node_t *map, const char *prefix, const char *key,
       yamlfile_pair_t *pair)
{
    for (size_t i = 0; yamlfile_next(yf, map, prefix, &i, pair);) {
        if (strcmp(pair->key, key) == 0) {
            return;
        }
    }
    fail_msg("key %s not found", key);
}

/* Loads TEXT and finds the top-level KEY; the caller destroys *YF. */
static void
s_root_pair(const char *text, const char *key, yamlfile_t **yf,
            yamlfile_pair_t *pair)
{
    hoist_error_t err = {0};
    yaml_node_t *root = NULL;
    *yf = s_load(text, &err);
    if (!*yf) {
        fail_msg("load failed: %s", err.msg);
    }
    assert_int_equal(yamlfile_root(*yf, &root, &err), HOIST_OK);
    assert_non_null(root);
    s_find(*yf, root, "", key, pair);
}

static void
test_walk_in_file_order(void **state)
{
    (void)state;
    const char *text = "# a comment\n"
                       "name: web\n"
                       "count: 3\n"
                       "nested:\n"
                       "  inner: text\n"
                       "  deep: {x: 1}\n";
    hoist_error_t err = {0};
    yamlfile_t *yf = s_load(text, &err);
    assert_non_null(yf);
    yaml_node_t *root = NULL;
    assert_int_equal(yamlfile_root(yf, &root, &err), HOIST_OK);
    assert_non_null(root);

    static const char *keys[] = {"name", "count", "nested"};
    static const unsigned lines[] = {2, 3, 4};
    yamlfile_pair_t p;
    size_t i = 0, n = 0;
    while (yamlfile_next(yf, root, "", &i, &p)) {
        assert_true(n < 3);
        assert_string_equal(p.key, keys[n]);
        assert_int_equal(p.line, lines[n]);
        assert_string_equal(p.prefix, "");
        n++;
    }
    assert_int_equal(n, 3);
    assert_false(yamlfile_next(yf, root, "", &i, &p)); /* stays at the end */

    yaml_node_t *nested = NULL;
    assert_int_equal(yamlfile_mapping(yf, &p, &nested, &err), HOIST_OK);
    assert_non_null(nested);
    i = 0;
    assert_true(yamlfile_next(yf, nested, "nested", &i, &p));
    assert_string_equal(p.key, "inner");
    assert_string_equal(p.prefix, "nested");
    assert_int_equal(p.line, 5);
    assert_true(yamlfile_next(yf, nested, "nested", &i, &p));
    assert_string_equal(p.key, "deep");
    assert_int_equal(p.line, 6);
    assert_false(yamlfile_next(yf, nested, "nested", &i, &p));
    yamlfile_destroy(&yf);
    assert_null(yf);
    yamlfile_destroy(&yf); /* NULL is fine */
    yamlfile_destroy(NULL);
}

static void
test_empty_documents_have_no_pairs(void **state)
{
    (void)state;
    static const char *texts[] = {
        "", "# only a comment\n", "---\n", "~\n", "null\n", "\n\n\n"};
    for (size_t t = 0; t < sizeof texts / sizeof texts[0]; t++) {
        hoist_error_t err = {0};
        yamlfile_t *yf = s_load(texts[t], &err);
        if (!yf) {
            fail_msg("'%s' refused: %s", texts[t], err.msg);
        }
        yaml_node_t *root = (yaml_node_t *)&err; /* must be overwritten */
        assert_int_equal(yamlfile_root(yf, &root, &err), HOIST_OK);
        assert_null(root);
        yamlfile_pair_t p;
        size_t i = 0;
        assert_false(yamlfile_next(yf, root, "", &i, &p));
        yamlfile_destroy(&yf);
    }
    /* A NULL buffer of length 0 is an empty document too. */
    hoist_error_t err = {0};
    yamlfile_t *yf = yamlfile_load(NULL, 0, 10, "t.yml", CODE, &err);
    assert_non_null(yf);
    yamlfile_destroy(&yf);
}

static void
test_root_must_be_a_mapping(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        const char *want;
    } cases[] = {
        {"- a\n- b\n", "t.yml:1: expected a mapping of keys at the top of "
                       "the file, got a list"},
        {"\n\nhello\n", "t.yml:3: expected a mapping of keys at the top of "
                        "the file, got plain text"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        hoist_error_t err = {0};
        yamlfile_t *yf = s_load(cases[c].text, &err);
        assert_non_null(yf);
        yaml_node_t *root = (yaml_node_t *)&err;
        assert_int_equal(yamlfile_root(yf, &root, &err), CODE);
        assert_ptr_equal(root, (yaml_node_t *)&err); /* untouched */
        assert_contains(err.msg, cases[c].want);
        yamlfile_destroy(&yf);
    }
}

static void
test_syntax_errors_name_the_line(void **state)
{
    (void)state;
    s_refused("a: 1\n  b: 2\n",
              "t.yml:2: mapping values are not allowed in this context");
    s_refused("a: 1\nb: 2\nc: [1, 2\n", "t.yml:4: did not find expected");
    s_refused("a: 1\nb: \"open\n", "t.yml:3: found unexpected end of stream");
    s_refused("a: 1\n\tb: 2\n",
              "t.yml:2: found a tab character that violates indentation");
}

static void
test_bad_encoding_is_refused(void **state)
{
    (void)state;
    s_refused("a: \xff\xfe\n", "t.yml: invalid leading UTF-8 octet at byte 3");
    /* A NUL inside the buffer (not at its end) is not YAML either. */
    hoist_error_t err = {0};
    yamlfile_t *yf =
        yamlfile_load("a: 1\0b: 2\n", 10, 100, "t.yml", CODE, &err);
    assert_null(yf);
    assert_int_equal(err.code, CODE);
    assert_contains(err.msg, "t.yml:");
    assert_contains(err.msg, "control characters are not allowed");
}

static void
test_size_cap(void **state)
{
    (void)state;
    const char *text = "a: 123456\n"; /* 10 bytes */
    hoist_error_t err = {0};
    yamlfile_t *yf = yamlfile_load(text, 10, 10, "t.yml", CODE, &err);
    assert_non_null(yf); /* exactly the cap is fine */
    yamlfile_destroy(&yf);
    yf = yamlfile_load(text, 10, 9, "t.yml", CODE, &err);
    assert_null(yf);
    assert_int_equal(err.code, CODE);
    assert_string_equal(err.msg, "t.yml: 10 bytes is more than the limit of 9");
}

static void
test_anchors_and_aliases_are_refused(void **state)
{
    (void)state;
    s_refused("a: 1\nbase: &b {x: 1}\n",
              "t.yml:2: anchors and aliases are not allowed (found &b)");
    s_refused("a: 1\nb: 2\nc: *x\n",
              "t.yml:3: anchors and aliases are not allowed (found *x)");
    /* An anchor that is never used is refused too: nothing in a config
     * file needs one. */
    s_refused("a: &lonely 1\n", "t.yml:1: anchors and aliases are not "
                                "allowed (found &lonely)");
    /* The classic billion laughs, refused before anything is built. */
    s_refused("a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
              "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
              "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
              "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n",
              "t.yml:1: anchors and aliases are not allowed (found &a)");
    /* "&" inside a value is just text. */
    yamlfile_t *yf = NULL;
    yamlfile_pair_t p;
    s_root_pair("cmd: \"a && b\"\nurl: x?a=1&b=2\n", "url", &yf, &p);
    char *s = NULL;
    assert_int_equal(yamlfile_string(yf, &p, &s, NULL), HOIST_OK);
    assert_string_equal(s, "x?a=1&b=2");
    free(s);
    yamlfile_destroy(&yf);
}

static void
test_duplicate_keys_are_refused(void **state)
{
    (void)state;
    s_refused("a: 1\nb: 2\na: 3\n", "t.yml:3: duplicate key 'a' (first on "
                                    "line 1)");
    s_refused("top:\n  x: 1\n  y: 2\n  x: 3\n",
              "t.yml:4: duplicate key 'x' (first on line 2)");
    /* Quoting does not make a different key. */
    s_refused("a: 1\n'a': 2\n", "t.yml:2: duplicate key 'a' (first on line "
                                "1)");
    s_refused("{k: 1, j: 2, k: 3}\n", "t.yml:1: duplicate key 'k'");
    /* Keys that share a prefix are different keys. */
    hoist_error_t err = {0};
    yamlfile_t *yf = s_load("ab: 1\na: 2\nabc: 3\n", &err);
    assert_non_null(yf);
    yamlfile_destroy(&yf);
}

static void
test_non_scalar_keys_are_refused(void **state)
{
    (void)state;
    s_refused("a: 1\n? [x, y]\n: 2\n",
              "t.yml:2: a key must be plain text, not a list or a mapping");
    s_refused("a:\n  ? {x: 1}\n  : 2\n",
              "t.yml:2: a key must be plain text, not a list or a mapping");
}

static void
test_one_document_only(void **state)
{
    (void)state;
    s_refused("a: 1\n---\nb: 2\n",
              "t.yml:3: only one YAML document is allowed per file");
    /* A document end marker with nothing after it is fine. */
    hoist_error_t err = {0};
    yamlfile_t *yf = s_load("---\na: 1\n...\n", &err);
    assert_non_null(yf);
    yamlfile_destroy(&yf);
}

static void
test_string(void **state)
{
    (void)state;
    yamlfile_t *yf = NULL;
    yamlfile_pair_t p;
    char *s = NULL;
    hoist_error_t err = {0};
    s_root_pair("x: 1\nrun: ./bin/migrate --check\n", "run", &yf, &p);
    assert_int_equal(yamlfile_string(yf, &p, &s, &err), HOIST_OK);
    assert_string_equal(s, "./bin/migrate --check");
    free(s);
    yamlfile_destroy(&yf);

    s_root_pair("run: |\n  echo one\n  echo two\n", "run", &yf, &p);
    assert_int_equal(yamlfile_string(yf, &p, &s, &err), HOIST_OK);
    assert_string_equal(s, "echo one\necho two\n");
    free(s);
    yamlfile_destroy(&yf);

    static const struct {
        const char *text;
        const char *want;
    } bad[] = {
        {"x: 1\nrun:\n", "t.yml:2: key 'run': expected text, got nothing"},
        {"run: ~\n", "t.yml:1: key 'run': expected text, got nothing"},
        {"run: \"\"\n", "t.yml:1: key 'run': expected text, got nothing"},
        {"run: [a, b]\n", "t.yml:1: key 'run': expected text, got a list"},
        {"run: {a: b}\n", "t.yml:1: key 'run': expected text, got a mapping"},
        {"\nrun: \"a\\0b\"\n", "t.yml:2: key 'run': contains a NUL byte"},
    };
    for (size_t c = 0; c < sizeof bad / sizeof bad[0]; c++) {
        s = (char *)"untouched";
        s_root_pair(bad[c].text, "run", &yf, &p);
        assert_int_equal(yamlfile_string(yf, &p, &s, &err), CODE);
        assert_int_equal(err.code, CODE);
        assert_string_equal(err.msg, bad[c].want);
        assert_string_equal(s, "untouched");
        yamlfile_destroy(&yf);
    }
}

static void
test_uint(void **state)
{
    (void)state;
    static const struct {
        const char *value;
        uint32_t min, max, want;
    } good[] = {
        {"10", 1, 100, 10},     {"1", 1, 100, 1},
        {"100", 1, 100, 100},   {"0", 0, 5, 0},
        {"007", 0, 10, 7},      {"4294967295", 0, UINT32_MAX, UINT32_MAX},
        {"\"12\"", 0, 100, 12}, /* quoting does not change the number */
    };
    for (size_t c = 0; c < sizeof good / sizeof good[0]; c++) {
        char text[64];
        snprintf(text, sizeof text, "n: %s\n", good[c].value);
        yamlfile_t *yf = NULL;
        yamlfile_pair_t p;
        uint32_t v = 99;
        hoist_error_t err = {0};
        s_root_pair(text, "n", &yf, &p);
        if (yamlfile_uint(yf, &p, good[c].min, good[c].max, &v, &err)) {
            fail_msg("'%s' refused: %s", good[c].value, err.msg);
        }
        assert_int_equal(v, good[c].want);
        yamlfile_destroy(&yf);
    }
    static const char *bad[] = {"0",    "101",         "-1",         "+1",
                                "1.5",  "0x10",        "ten",        "1e2",
                                " 5 x", "99999999999", "4294967296", "\"\""};
    for (size_t c = 0; c < sizeof bad / sizeof bad[0]; c++) {
        char text[64];
        snprintf(text, sizeof text, "a: 1\nhealth:\n  retries: %s\n", bad[c]);
        yamlfile_t *yf = NULL;
        yamlfile_pair_t p;
        yaml_node_t *map = NULL;
        uint32_t v = 99;
        hoist_error_t err = {0};
        s_root_pair(text, "health", &yf, &p);
        assert_int_equal(yamlfile_mapping(yf, &p, &map, &err), HOIST_OK);
        s_find(yf, map, "health", "retries", &p);
        assert_int_equal(yamlfile_uint(yf, &p, 1, 100, &v, &err), CODE);
        assert_contains(err.msg, "t.yml:3: key 'health.retries': expected a "
                                 "whole number from 1 to 100, got '");
        assert_int_equal(v, 99);
        yamlfile_destroy(&yf);
    }
    /* A list is named as such. */
    yamlfile_t *yf = NULL;
    yamlfile_pair_t p;
    uint32_t v = 0;
    hoist_error_t err = {0};
    s_root_pair("n: [1]\n", "n", &yf, &p);
    assert_int_equal(yamlfile_uint(yf, &p, 0, 9, &v, &err), CODE);
    assert_string_equal(err.msg, "t.yml:1: key 'n': expected a whole number "
                                 "from 0 to 9, got a list");
    yamlfile_destroy(&yf);
}

static void
test_bool(void **state)
{
    (void)state;
    yamlfile_t *yf = NULL;
    yamlfile_pair_t p;
    hoist_error_t err = {0};
    bool b = false;
    s_root_pair("on_: true\noff_: false\n", "on_", &yf, &p);
    assert_int_equal(yamlfile_bool(yf, &p, &b, &err), HOIST_OK);
    assert_true(b);
    yamlfile_destroy(&yf);
    s_root_pair("on_: true\noff_: false\n", "off_", &yf, &p);
    assert_int_equal(yamlfile_bool(yf, &p, &b, &err), HOIST_OK);
    assert_false(b);
    yamlfile_destroy(&yf);

    static const char *bad[] = {"yes", "no", "on", "True", "1", "\"\""};
    for (size_t c = 0; c < sizeof bad / sizeof bad[0]; c++) {
        char text[64], want[128];
        snprintf(text, sizeof text, "\nflag: %s\n", bad[c]);
        s_root_pair(text, "flag", &yf, &p);
        b = true;
        assert_int_equal(yamlfile_bool(yf, &p, &b, &err), CODE);
        snprintf(want, sizeof want,
                 "t.yml:2: key 'flag': expected true or false, got '%s'",
                 strcmp(bad[c], "\"\"") == 0 ? "" : bad[c]);
        assert_string_equal(err.msg, want);
        assert_true(b);
        yamlfile_destroy(&yf);
    }
}

static void
test_duration(void **state)
{
    (void)state;
    const char *text = "health:\n"
                       "  interval: 1s\n"
                       "  timeout: abc\n"
                       "  healthy_for: 4000d\n"
                       "  retries: [1]\n";
    yamlfile_t *yf = NULL;
    yamlfile_pair_t h, p;
    yaml_node_t *map = NULL;
    hoist_error_t err = {0};
    uint64_t ms = 7;
    s_root_pair(text, "health", &yf, &h);
    assert_int_equal(yamlfile_mapping(yf, &h, &map, &err), HOIST_OK);

    s_find(yf, map, "health", "interval", &p);
    assert_int_equal(yamlfile_duration(yf, &p, &ms, &err), HOIST_OK);
    assert_int_equal(ms, 1000);

    s_find(yf, map, "health", "timeout", &p);
    assert_int_equal(yamlfile_duration(yf, &p, &ms, &err), CODE);
    assert_int_equal(err.code, CODE); /* not duration_parse's USAGE */
    assert_string_equal(err.msg,
                        "t.yml:3: key 'health.timeout': expected a duration "
                        "like 5s, got 'abc' (it must start with a number)");
    assert_int_equal(ms, 1000);

    s_find(yf, map, "health", "healthy_for", &p);
    assert_int_equal(yamlfile_duration(yf, &p, &ms, &err), CODE);
    assert_contains(err.msg, "t.yml:4: key 'health.healthy_for': expected a "
                             "duration like 5s, got '4000d' (more than 10 "
                             "years");

    s_find(yf, map, "health", "retries", &p);
    assert_int_equal(yamlfile_duration(yf, &p, &ms, &err), CODE);
    assert_string_equal(err.msg, "t.yml:5: key 'health.retries': expected a "
                                 "duration like 5s, got a list");
    assert_int_equal(ms, 1000);
    yamlfile_destroy(&yf);
}

static void
test_unknown_key(void **state)
{
    (void)state;
    static const char *const keys[] = {"command", "tcp", "http", NULL};
    const char *text = "health:\n  tcp: x\n  colour: blue\n";
    yamlfile_t *yf = NULL;
    yamlfile_pair_t h, p;
    yaml_node_t *map = NULL;
    hoist_error_t err = {0};
    s_root_pair(text, "health", &yf, &h);
    assert_int_equal(yamlfile_mapping(yf, &h, &map, &err), HOIST_OK);
    s_find(yf, map, "health", "tcp", &p);
    assert_int_equal(yamlfile_key(yf, &p, keys, &err), 1);
    s_find(yf, map, "health", "colour", &p);
    assert_int_equal(yamlfile_key(yf, &p, keys, &err), -1);
    assert_int_equal(err.code, CODE);
    assert_string_equal(err.msg, "t.yml:3: unknown key 'health.colour' "
                                 "(allowed: command, tcp, http)");
    /* At the root there is no prefix. */
    static const char *const root_keys[] = {"hooks", NULL};
    assert_int_equal(yamlfile_key(yf, &h, root_keys, &err), -1);
    assert_string_equal(err.msg,
                        "t.yml:1: unknown key 'health' (allowed: hooks)");
    /* A NULL error is allowed. */
    assert_int_equal(yamlfile_key(yf, &h, root_keys, NULL), -1);
    yamlfile_destroy(&yf);
}

static void
test_mapping(void **state)
{
    (void)state;
    const char *text = "empty:\n"
                       "scalar: abc\n"
                       "list: [1]\n";
    yamlfile_t *yf = NULL;
    yamlfile_pair_t p;
    hoist_error_t err = {0};
    yaml_node_t *map = (yaml_node_t *)&err;
    s_root_pair(text, "empty", &yf, &p);
    assert_int_equal(yamlfile_mapping(yf, &p, &map, &err), HOIST_OK);
    assert_null(map); /* "empty:" is a mapping without pairs */
    yamlfile_destroy(&yf);

    s_root_pair(text, "scalar", &yf, &p);
    assert_int_equal(yamlfile_mapping(yf, &p, &map, &err), CODE);
    assert_string_equal(err.msg,
                        "t.yml:2: key 'scalar': expected a mapping, got 'abc'");
    yamlfile_destroy(&yf);

    s_root_pair(text, "list", &yf, &p);
    assert_int_equal(yamlfile_mapping(yf, &p, &map, &err), CODE);
    assert_string_equal(err.msg,
                        "t.yml:3: key 'list': expected a mapping, got a list");
    yamlfile_destroy(&yf);
}

static void
test_error_format(void **state)
{
    (void)state;
    yamlfile_t *yf = NULL;
    yamlfile_pair_t p;
    hoist_error_t err = {0};
    s_root_pair("a: 1\n\n\nkey: v\n", "key", &yf, &p);
    assert_int_equal(yamlfile_error(yf, &p, &err, "bad %s %d", "thing", 7),
                     CODE);
    assert_int_equal(err.code, CODE);
    assert_string_equal(err.msg, "t.yml:4: key 'key': bad thing 7");
    assert_int_equal(yamlfile_error(yf, &p, NULL, "x"), CODE);
    yamlfile_destroy(&yf);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_walk_in_file_order),
        cmocka_unit_test(test_empty_documents_have_no_pairs),
        cmocka_unit_test(test_root_must_be_a_mapping),
        cmocka_unit_test(test_syntax_errors_name_the_line),
        cmocka_unit_test(test_bad_encoding_is_refused),
        cmocka_unit_test(test_size_cap),
        cmocka_unit_test(test_anchors_and_aliases_are_refused),
        cmocka_unit_test(test_duplicate_keys_are_refused),
        cmocka_unit_test(test_non_scalar_keys_are_refused),
        cmocka_unit_test(test_one_document_only),
        cmocka_unit_test(test_string),
        cmocka_unit_test(test_uint),
        cmocka_unit_test(test_bool),
        cmocka_unit_test(test_duration),
        cmocka_unit_test(test_unknown_key),
        cmocka_unit_test(test_mapping),
        cmocka_unit_test(test_error_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
