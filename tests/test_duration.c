/*
 * test_duration: every accepted spelling of a duration, every refusal with
 * the words it must use, and formatting that parses back to the same value.
 */
#include "testutil.h"

#include <stdio.h>
#include <string.h>

#include "duration.h"

typedef struct {
    const char *text;
    uint64_t ms;
} good_t;

typedef struct {
    const char *text;
    const char *reason; /* a part of the message besides the text */
} bad_t;

static void
test_valid_forms(void **state)
{
    (void)state;
    static const good_t cases[] = {
        {"500ms", 500},
        {"0ms", 0},
        {"5s", 5000},
        {"10m", 600000},
        {"1h", 3600000},
        {"7d", 604800000},
        {"30", 30000}, /* a bare number is seconds */
        {"0", 0},
        {"007s", 7000},
        {"3650d", 3650ULL * 86400000}, /* exactly the 10-year limit */
        {"87600h", 3650ULL * 86400000},
        {"315360000000ms", 3650ULL * 86400000},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint64_t ms = 12345;
        hoist_error_t err = {0};
        if (duration_parse(cases[i].text, &ms, &err) != HOIST_OK) {
            fail_msg("'%s' refused: %s", cases[i].text, err.msg);
        }
        if (ms != cases[i].ms) {
            fail_msg("'%s' gave %llu ms", cases[i].text,
                     (unsigned long long)ms);
        }
    }
}

static void
test_refusals_name_the_text(void **state)
{
    (void)state;
    static const bad_t cases[] = {
        {"", "it is empty"},
        {"-5s", "no sign"},
        {"+5s", "no sign"},
        {" 5s", "no spaces"},
        {"5s ", "no spaces"},
        {"5 s", "no spaces"},
        {"\t5s", "no spaces"},
        {"1.5s", "no fractions"},
        {"1,5s", "no fractions"},
        {"5x", "unknown unit 'x'"},
        {"5S", "unknown unit 'S'"},
        {"5sec", "unknown unit 'sec'"},
        {"1h30m", "unknown unit 'h30m'"},
        {"5us", "unknown unit 'us'"},
        {"s", "must start with a number"},
        {"ms", "must start with a number"},
        {"abc", "must start with a number"},
        {"3651d", "more than 10 years"},
        {"87601h", "more than 10 years"},
        {"315360000001ms", "more than 10 years"},
        {"99999999999999999999999999", "more than 10 years"},
        {"18446744073709551616s", "more than 10 years"}, /* 2^64 */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint64_t ms = 12345;
        hoist_error_t err = {0};
        char want[128];
        assert_int_equal(duration_parse(cases[i].text, &ms, &err),
                         HOIST_ERR_USAGE);
        assert_int_equal(err.code, HOIST_ERR_USAGE);
        snprintf(want, sizeof want, "expected a duration like 5s, got '%s'",
                 cases[i].text);
        assert_contains(err.msg, want);
        assert_contains(err.msg, cases[i].reason);
        /* Output arguments are written only on success. */
        assert_int_equal(ms, 12345);
    }
}

static void
test_null_error_is_allowed(void **state)
{
    (void)state;
    uint64_t ms = 0;
    assert_int_equal(duration_parse("5q", &ms, NULL), HOIST_ERR_USAGE);
    assert_int_equal(duration_parse("5m", &ms, NULL), HOIST_OK);
    assert_int_equal(ms, 300000);
}

static void
test_format(void **state)
{
    (void)state;
    static const good_t cases[] = {
        {"0s", 0},
        {"1ms", 1},
        {"1500ms", 1500},
        {"1s", 1000},
        {"90s", 90000},
        {"10m", 600000},
        {"90m", 5400000},
        {"1h", 3600000},
        {"25h", 90000000},
        {"7d", 604800000},
        {"3650d", 3650ULL * 86400000},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char buf[32];
        assert_string_equal(duration_format(cases[i].ms, buf, sizeof buf),
                            cases[i].text);
        uint64_t back = 1;
        assert_int_equal(duration_parse(buf, &back, NULL), HOIST_OK);
        assert_int_equal(back, cases[i].ms);
    }
}

static void
test_format_truncates_safely(void **state)
{
    (void)state;
    char buf[4] = "zzz";
    const char *s = duration_format(1500, buf, sizeof buf);
    assert_ptr_equal(s, buf);
    assert_string_equal(buf, "150");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_forms),
        cmocka_unit_test(test_refusals_name_the_text),
        cmocka_unit_test(test_null_error_is_allowed),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_format_truncates_safely),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
