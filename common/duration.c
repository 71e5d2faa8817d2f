/*
 * duration: the one way Hoist spells a span of time, in config files and
 * on the command line: a whole number and an optional unit.
 *
 * The grammar is deliberately tiny: DIGITS [ms|s|m|h|d], no sign, no
 * spaces, no fractions, no compound forms like "1h30m". Each refusal says
 * what it saw and what would have been accepted, because the text usually
 * comes from a person editing a YAML file.
 */
#include "duration.h"

#include <assert.h>
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define S_SECOND_MS 1000ULL
#define S_MINUTE_MS (60 * S_SECOND_MS)
#define S_HOUR_MS   (60 * S_MINUTE_MS)
#define S_DAY_MS    (24 * S_HOUR_MS)
/* Nothing Hoist waits for is longer than this; a bigger value is a typo
 * (an extra zero, "ms" meant as "m"), not a wish. */
#define S_MAX_MS (3650 * S_DAY_MS)

typedef struct {
    const char *suffix;
    uint64_t ms;
} s_unit_t;

/* Longest suffix first, so "ms" is not read as "m" followed by "s". */
static const s_unit_t s_units[] = {
    {"ms", 1},       {"s", S_SECOND_MS}, {"m", S_MINUTE_MS}, {"h", S_HOUR_MS},
    {"d", S_DAY_MS}, {"", S_SECOND_MS}, /* a bare number is seconds */
};

/* The common head of every refusal, so each names the text it refused. */
#define S_EXPECTED "expected a duration like 5s, got '%s'"

/* Returns the milliseconds per unit for SUFFIX, or 0 if it is unknown. */
static uint64_t
s_unit_ms(const char *suffix)
{
    for (size_t i = 0; i < sizeof s_units / sizeof s_units[0]; i++) {
        if (strcmp(suffix, s_units[i].suffix) == 0) {
            return s_units[i].ms;
        }
    }
    return 0;
}

/* Explains why the text after the digits, REST, is not a unit. */
static hoist_err_t
s_bad_unit(const char *s, const char *rest, hoist_error_t *err)
{
    if (*rest == '.' || *rest == ',') {
        return error_set(err, HOIST_ERR_USAGE,
                         S_EXPECTED " (no fractions: use a smaller unit, "
                                    "like 1500ms for 1.5s)",
                         s);
    }
    if (strpbrk(rest, " \t\r\n\v\f")) {
        return error_set(err, HOIST_ERR_USAGE,
                         S_EXPECTED " (no spaces: write it like 5s)", s);
    }
    return error_set(err, HOIST_ERR_USAGE,
                     S_EXPECTED " (unknown unit '%s': use ms, s, m, h or d)", s,
                     rest);
}

/* Explains why S does not start with a digit. */
static hoist_err_t
s_bad_start(const char *s, hoist_error_t *err)
{
    if (*s == '\0') {
        return error_set(err, HOIST_ERR_USAGE, S_EXPECTED " (it is empty)", s);
    }
    if (*s == '-' || *s == '+') {
        return error_set(err, HOIST_ERR_USAGE, S_EXPECTED " (no sign)", s);
    }
    if (isspace((unsigned char)*s)) {
        return error_set(err, HOIST_ERR_USAGE,
                         S_EXPECTED " (no spaces: write it like 5s)", s);
    }
    return error_set(err, HOIST_ERR_USAGE,
                     S_EXPECTED " (it must start with a number)", s);
}

hoist_err_t
duration_parse(const char *s, uint64_t *ms, hoist_error_t *err)
{
    assert(s && ms);
    if (!isdigit((unsigned char)*s)) {
        return s_bad_start(s, err);
    }
    /* Stop accumulating once past the limit: the value is refused anyway,
     * and this keeps the arithmetic far from wrapping around. */
    uint64_t n = 0;
    const char *p = s;
    for (; isdigit((unsigned char)*p); p++) {
        if (n <= S_MAX_MS) {
            n = n * 10 + (uint64_t)(*p - '0');
        }
    }
    uint64_t unit = s_unit_ms(p);
    if (unit == 0) {
        return s_bad_unit(s, p, err);
    }
    if (n > S_MAX_MS / unit) {
        return error_set(err, HOIST_ERR_USAGE,
                         S_EXPECTED " (more than 10 years, the limit is 3650d)",
                         s);
    }
    *ms = n * unit;
    return HOIST_OK;
}

const char *
duration_format(uint64_t ms, char *buf, unsigned len)
{
    assert(buf && len > 0);
    /* The largest unit that divides MS exactly, so the text parses back
     * to the same value; ms is the fallback. */
    static const s_unit_t largest_first[] = {
        {"d", S_DAY_MS},    {"h", S_HOUR_MS}, {"m", S_MINUTE_MS},
        {"s", S_SECOND_MS}, {"ms", 1},
    };
    size_t n = sizeof largest_first / sizeof largest_first[0];
    const s_unit_t *u = &largest_first[3]; /* 0 reads best as "0s" */
    for (size_t i = 0; ms != 0 && i < n; i++) {
        if (ms % largest_first[i].ms == 0) {
            u = &largest_first[i];
            break;
        }
    }
    snprintf(buf, len, "%" PRIu64 "%s", ms / u->ms, u->suffix);
    return buf;
}
