/*
 * test_calendar: --at times in every accepted form and each refusal
 * (bad date, unknown zone, a wall time in the spring-forward gap); deploy
 * windows on ordinary days, across midnight, and on both daylight-saving
 * transitions of Europe/Berlin and America/New_York; the next opening of
 * a window; freezes with their inclusive first and last days.
 *
 * Expected instants are computed with timegm (UTC only, no TZ involved),
 * so the tests do not check ICU against itself.
 */
#include "testutil.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "calendar.h"

#define MIN_MS  60000LL
#define HOUR_MS (60 * MIN_MS)

/* Unix milliseconds of a UTC date and time. */
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

/* Parses TEXT with DEFAULT_TZ; fails the test if it is refused. */
static int64_t
s_at(const char *text, const char *default_tz)
{
    hoist_error_t err = {0};
    int64_t ms = -1;
    if (calendar_parse_at(text, default_tz, 0, &ms, &err) != HOIST_OK) {
        fail_msg("'%s' refused: %s", text, err.msg);
    }
    return ms;
}

/* TEXT must be refused with a message containing WANT, leaving the
 * output untouched. */
static void
s_at_refused(const char *text, const char *default_tz, const char *want)
{
    hoist_error_t err = {0};
    int64_t ms = 42;
    hoist_err_t rc = calendar_parse_at(text, default_tz, 0, &ms, &err);
    if (rc == HOIST_OK) {
        fail_msg("'%s' accepted, expected '%s'", text, want);
    }
    assert_int_equal(rc, HOIST_ERR_USAGE);
    assert_int_equal(ms, 42);
    assert_contains(err.msg, want);
}

static calendar_window_t
s_window(uint8_t days, const char *from, const char *to, const char *tz)
{
    calendar_window_t w = {.days = days};
    assert_true(calendar_parse_hhmm(from, &w.from_min));
    assert_true(calendar_parse_hhmm(to, &w.to_min));
    snprintf(w.tz, sizeof w.tz, "%s", tz);
    return w;
}

static bool
s_inside(const calendar_window_t *w, int64_t t)
{
    hoist_error_t err = {0};
    bool inside = false;
    if (calendar_in_window(w, t, &inside, &err) != HOIST_OK) {
        fail_msg("in_window: %s", err.msg);
    }
    return inside;
}

static int64_t
s_next(const calendar_window_t *w, int64_t t)
{
    hoist_error_t err = {0};
    int64_t start = -1;
    if (calendar_next_window_start(w, t, &start, &err) != HOIST_OK) {
        fail_msg("next_window_start: %s", err.msg);
    }
    return start;
}

/* How many minutes of [FROM, FROM + HOURS) W is open. */
static int
s_open_minutes(const calendar_window_t *w, int64_t from, int hours)
{
    int n = 0;
    for (int64_t t = from; t < from + hours * HOUR_MS; t += MIN_MS) {
        n += s_inside(w, t);
    }
    return n;
}

static void
test_parse_at_forms(void **state)
{
    (void)state;
    assert_int_equal(s_at("2026-12-01 02:00 Europe/Berlin", NULL),
                     s_utc(2026, 12, 1, 1, 0));
    assert_int_equal(s_at("2026-12-01 02:00", "America/New_York"),
                     s_utc(2026, 12, 1, 7, 0));
    assert_int_equal(s_at("2026-07-01 02:00 Europe/Berlin", "UTC"),
                     s_utc(2026, 7, 1, 0, 0));
    assert_int_equal(s_at("2026-07-01 02:00:30 Europe/Berlin", NULL),
                     s_utc(2026, 7, 1, 0, 0) + 30000);
    assert_int_equal(s_at("2026-12-01T02:00:00Z", NULL),
                     s_utc(2026, 12, 1, 2, 0));
    assert_int_equal(s_at("2026-12-01T02:00+01:00", NULL),
                     s_utc(2026, 12, 1, 1, 0));
    assert_int_equal(s_at("2026-12-01T02:00:00-05:30", NULL),
                     s_utc(2026, 12, 1, 7, 30));
    assert_int_equal(s_at("2026-12-01 02:00 UTC", "Europe/Berlin"),
                     s_utc(2026, 12, 1, 2, 0));

    hoist_error_t err = {0};
    int64_t ms = 0;
    assert_int_equal(calendar_parse_at("+10m", NULL, 1000, &ms, &err),
                     HOIST_OK);
    assert_int_equal(ms, 1000 + 10 * MIN_MS);
    assert_int_equal(calendar_parse_at("now", NULL, 1234, &ms, &err), HOIST_OK);
    assert_int_equal(ms, 1234);
}

/* The repeated hour of a fall-back night: the first occurrence unless an
 * offset picks one. */
static void
test_parse_at_fall_back(void **state)
{
    (void)state;
    assert_int_equal(s_at("2026-10-25 02:30 Europe/Berlin", NULL),
                     s_utc(2026, 10, 25, 0, 30));
    assert_int_equal(s_at("2026-10-25 02:30 Europe/Berlin (+02:00)", NULL),
                     s_utc(2026, 10, 25, 0, 30));
    assert_int_equal(s_at("2026-10-25 02:30 Europe/Berlin (+01:00)", NULL),
                     s_utc(2026, 10, 25, 1, 30));
    assert_int_equal(s_at("2026-11-01 01:30 America/New_York", NULL),
                     s_utc(2026, 11, 1, 5, 30));
    assert_int_equal(s_at("2026-11-01 01:30 America/New_York (-05:00)", NULL),
                     s_utc(2026, 11, 1, 6, 30));
    s_at_refused("2026-10-25 02:30 Europe/Berlin (+03:00)", NULL,
                 "offset does not match Europe/Berlin");
    s_at_refused("2026-12-01 02:00 Europe/Berlin (+02:00)", NULL,
                 "offset does not match");
}

static void
test_parse_at_refusals(void **state)
{
    (void)state;
    s_at_refused("2026-13-01 02:00 UTC", NULL, "no such date");
    s_at_refused("2026-02-29 02:00 UTC", NULL, "no such date");
    s_at_refused("2026-04-31 02:00 UTC", NULL, "no such date");
    s_at_refused("1969-12-31 23:00 UTC", NULL, "1970 to 9999");
    s_at_refused("2026-12-01 25:00 UTC", NULL, "expected a time HH:MM");
    s_at_refused("2026-12-01 9am UTC", NULL, "expected a time HH:MM");
    s_at_refused("2026-12-01 02:00:61 UTC", NULL, "seconds");
    s_at_refused("01.12.2026 02:00", "UTC", "expected a date YYYY-MM-DD");
    s_at_refused("tomorrow", "UTC", "'tomorrow'");
    s_at_refused("", "UTC", "it is empty");
    s_at_refused("+10x", NULL, "'+10x'");
    s_at_refused("2026-12-01 02:00", NULL, "needs a time zone");
    s_at_refused("2026-12-01 02:00 Mars/Olympus", NULL,
                 "unknown time zone 'Mars/Olympus'");
    s_at_refused("2026-12-01 02:00 europe/berlin", NULL,
                 "unknown time zone 'europe/berlin'");
    /* ICU's own fallbacks must not pass for a zone. */
    s_at_refused("2026-12-01 02:00 Etc/Unknown", NULL, "unknown time zone");
    s_at_refused("2026-12-01 02:00 GMT+05:00", NULL, "unknown time zone");
    s_at_refused("2026-12-01 02:00", "Nowhere", "unknown time zone 'Nowhere'");
    s_at_refused("2026-12-01 02:00 Europe/Berlin extra", NULL,
                 "after the time");
    s_at_refused("2026-12-01T02:00+1", NULL, "after the time");
}

static void
test_parse_at_gap(void **state)
{
    (void)state;
    s_at_refused("2026-03-29 02:30 Europe/Berlin", NULL,
                 "does not exist in Europe/Berlin: on that day the clocks "
                 "jump from 02:00 to 03:00");
    s_at_refused("2026-03-29 02:00", "Europe/Berlin", "does not exist");
    s_at_refused("2026-03-08 02:59 America/New_York", NULL,
                 "jump from 02:00 to 03:00");
    /* The edges of the gap exist. */
    assert_int_equal(s_at("2026-03-29 01:59 Europe/Berlin", NULL),
                     s_utc(2026, 3, 29, 0, 59));
    assert_int_equal(s_at("2026-03-29 03:00 Europe/Berlin", NULL),
                     s_utc(2026, 3, 29, 1, 0));
}

static void
test_zone_valid(void **state)
{
    (void)state;
    assert_true(calendar_zone_valid("Europe/Berlin"));
    assert_true(calendar_zone_valid("America/New_York"));
    assert_true(calendar_zone_valid("UTC"));
    assert_true(calendar_zone_valid("US/Eastern"));
    assert_false(calendar_zone_valid(NULL));
    assert_false(calendar_zone_valid(""));
    assert_false(calendar_zone_valid("Mars/Olympus"));
    assert_false(calendar_zone_valid("Etc/Unknown"));
    assert_false(calendar_zone_valid("GMT+05:00"));
    assert_false(calendar_zone_valid("Europe/Berlin "));
    assert_false(calendar_zone_valid("Europe/Berlin\n"));
    char longname[200];
    memset(longname, 'A', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    assert_false(calendar_zone_valid(longname));
}

static void
test_format(void **state)
{
    (void)state;
    char buf[96];
    assert_string_equal(calendar_format(s_utc(2026, 12, 1, 1, 0),
                                        "Europe/Berlin", buf, sizeof buf),
                        "2026-12-01 02:00 Europe/Berlin (+01:00)");
    assert_string_equal(calendar_format(s_utc(2026, 7, 1, 12, 0),
                                        "America/New_York", buf, sizeof buf),
                        "2026-07-01 08:00 America/New_York (-04:00)");
    assert_string_equal(calendar_format(s_utc(2026, 7, 1, 12, 0), "Bogus/Zone",
                                        buf, sizeof buf),
                        "2026-07-01 12:00 UTC (+00:00)");
    /* The second 02:30 of the fall-back night reads back as itself. */
    int64_t second = s_utc(2026, 10, 25, 1, 30);
    calendar_format(second, "Europe/Berlin", buf, sizeof buf);
    assert_string_equal(buf, "2026-10-25 02:30 Europe/Berlin (+01:00)");
    assert_int_equal(s_at(buf, NULL), second);
}

static void
test_hhmm_and_dates(void **state)
{
    (void)state;
    uint16_t m = 7;
    char buf[16];
    assert_true(calendar_parse_hhmm("00:00", &m));
    assert_int_equal(m, 0);
    assert_true(calendar_parse_hhmm("23:59", &m));
    assert_int_equal(m, 23 * 60 + 59);
    assert_string_equal(calendar_format_hhmm(m, buf, sizeof buf), "23:59");
    const char *bad[] = {"9am",      "9:00", "24:00", "12:60",
                         "12:00:00", "",     "1200"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        m = 7;
        assert_false(calendar_parse_hhmm(bad[i], &m));
        assert_int_equal(m, 7);
    }
    calendar_date_t d = {0};
    assert_true(calendar_parse_date("2028-02-29", &d));
    assert_string_equal(calendar_format_date(&d, buf, sizeof buf),
                        "2028-02-29");
    assert_false(calendar_parse_date("2026-02-29", &d));
    assert_false(calendar_parse_date("2100-02-29", &d));
    assert_true(calendar_parse_date("2000-02-29", &d));
    assert_false(calendar_parse_date("2026-1-01", &d));
    assert_false(calendar_parse_date("2026-12-01x", &d));
    calendar_date_t a = {2026, 12, 20};
    calendar_date_t b = {2027, 1, 4};
    assert_true(calendar_date_cmp(&a, &b) < 0);
    assert_true(calendar_date_cmp(&b, &a) > 0);
    assert_int_equal(calendar_date_cmp(&a, &a), 0);
    assert_int_equal(calendar_day_index("tue"), 1);
    assert_int_equal(calendar_day_index("Tue"), -1);
    assert_string_equal(calendar_day_name(6), "sun");
}

/* tue, wed, thu 09:00-16:00 Europe/Berlin, as in DESIGN.md. */
static void
test_window_weekly(void **state)
{
    (void)state;
    calendar_window_t w = s_window(0x0e, "09:00", "16:00", "Europe/Berlin");
    /* Tuesday 2026-12-01, CET (UTC+1). */
    assert_false(s_inside(&w, s_utc(2026, 12, 1, 7, 59)));
    assert_true(s_inside(&w, s_utc(2026, 12, 1, 8, 0)));
    assert_true(s_inside(&w, s_utc(2026, 12, 1, 14, 59)));
    assert_false(s_inside(&w, s_utc(2026, 12, 1, 15, 0)));
    /* Monday and Friday at noon are outside. */
    assert_false(s_inside(&w, s_utc(2026, 11, 30, 11, 0)));
    assert_false(s_inside(&w, s_utc(2026, 12, 4, 11, 0)));
    /* In summer the same wall hours are an hour earlier in UTC. */
    assert_true(s_inside(&w, s_utc(2026, 7, 7, 7, 0)));
    assert_false(s_inside(&w, s_utc(2026, 7, 7, 14, 0)));

    /* Next openings: from Monday to Tuesday 09:00; from Thursday evening
     * to the next Tuesday; inside, the instant itself. */
    assert_int_equal(s_next(&w, s_utc(2026, 11, 30, 11, 0)),
                     s_utc(2026, 12, 1, 8, 0));
    assert_int_equal(s_next(&w, s_utc(2026, 12, 3, 15, 0)),
                     s_utc(2026, 12, 8, 8, 0));
    assert_int_equal(s_next(&w, s_utc(2026, 12, 2, 10, 17)),
                     s_utc(2026, 12, 2, 10, 17));
    /* Before the opening on an open day: that day's opening. */
    assert_int_equal(s_next(&w, s_utc(2026, 12, 2, 0, 0)),
                     s_utc(2026, 12, 2, 8, 0));
}

/* fri 22:00-02:00 UTC: the window belongs to Friday and ends on Saturday. */
static void
test_window_midnight(void **state)
{
    (void)state;
    calendar_window_t w = s_window(1u << 4, "22:00", "02:00", "UTC");
    assert_false(s_inside(&w, s_utc(2026, 12, 4, 21, 59)));
    assert_true(s_inside(&w, s_utc(2026, 12, 4, 22, 0)));
    assert_true(s_inside(&w, s_utc(2026, 12, 5, 1, 59)));
    assert_false(s_inside(&w, s_utc(2026, 12, 5, 2, 0)));
    /* Saturday night is not Friday's window; Friday early morning is the
     * tail of Thursday's, which does not exist. */
    assert_false(s_inside(&w, s_utc(2026, 12, 5, 23, 0)));
    assert_false(s_inside(&w, s_utc(2026, 12, 4, 1, 0)));
    assert_int_equal(s_next(&w, s_utc(2026, 12, 5, 3, 0)),
                     s_utc(2026, 12, 11, 22, 0));
    assert_int_equal(s_open_minutes(&w, s_utc(2026, 12, 4, 12, 0), 24), 4 * 60);
}

/* 01:00-03:00 every day: one hour shorter on the spring-forward day, one
 * hour longer on the fall-back day, in both zones. */
static void
test_window_dst(void **state)
{
    (void)state;
    calendar_window_t ber =
        s_window(CALENDAR_ALL_DAYS, "01:00", "03:00", "Europe/Berlin");
    calendar_window_t nyc =
        s_window(CALENDAR_ALL_DAYS, "01:00", "03:00", "America/New_York");
    /* An ordinary day: two hours. */
    assert_int_equal(s_open_minutes(&ber, s_utc(2026, 3, 21, 12, 0), 24), 120);
    /* Berlin, 2026-03-29: 02:00 CET jumps to 03:00 CEST at 01:00 UTC. */
    assert_int_equal(s_next(&ber, s_utc(2026, 3, 28, 12, 0)),
                     s_utc(2026, 3, 29, 0, 0));
    assert_true(s_inside(&ber, s_utc(2026, 3, 29, 0, 59)));
    assert_false(s_inside(&ber, s_utc(2026, 3, 29, 1, 0)));
    assert_int_equal(s_open_minutes(&ber, s_utc(2026, 3, 28, 12, 0), 24), 60);
    /* Berlin, 2026-10-25: 03:00 CEST falls back to 02:00 CET at 01:00 UTC;
     * open from 01:00 CEST (23:00 UTC) to 03:00 CET (02:00 UTC). */
    assert_int_equal(s_next(&ber, s_utc(2026, 10, 24, 12, 0)),
                     s_utc(2026, 10, 24, 23, 0));
    assert_true(s_inside(&ber, s_utc(2026, 10, 25, 1, 59)));
    assert_false(s_inside(&ber, s_utc(2026, 10, 25, 2, 0)));
    assert_int_equal(s_open_minutes(&ber, s_utc(2026, 10, 24, 12, 0), 24), 180);
    /* New York, 2026-03-08: 02:00 EST jumps to 03:00 EDT at 07:00 UTC. */
    assert_int_equal(s_next(&nyc, s_utc(2026, 3, 7, 18, 0)),
                     s_utc(2026, 3, 8, 6, 0));
    assert_false(s_inside(&nyc, s_utc(2026, 3, 8, 7, 0)));
    assert_int_equal(s_open_minutes(&nyc, s_utc(2026, 3, 7, 18, 0), 24), 60);
    /* New York, 2026-11-01: 02:00 EDT falls back to 01:00 EST at 06:00
     * UTC; open from 01:00 EDT (05:00 UTC) to 03:00 EST (08:00 UTC). */
    assert_int_equal(s_next(&nyc, s_utc(2026, 10, 31, 18, 0)),
                     s_utc(2026, 11, 1, 5, 0));
    assert_true(s_inside(&nyc, s_utc(2026, 11, 1, 7, 59)));
    assert_false(s_inside(&nyc, s_utc(2026, 11, 1, 8, 0)));
    assert_int_equal(s_open_minutes(&nyc, s_utc(2026, 10, 31, 18, 0), 24), 180);
}

/* Windows with an edge inside the gap or the repeated hour. */
static void
test_window_dst_edges(void **state)
{
    (void)state;
    /* All of it in Berlin's gap: no window that day, the next is Monday. */
    calendar_window_t gap =
        s_window(CALENDAR_ALL_DAYS, "02:10", "02:50", "Europe/Berlin");
    assert_int_equal(s_next(&gap, s_utc(2026, 3, 28, 12, 0)),
                     s_utc(2026, 3, 30, 0, 10));
    /* Opening inside the gap: opens when the gap ends, 03:00 CEST. */
    calendar_window_t late =
        s_window(CALENDAR_ALL_DAYS, "02:30", "04:00", "Europe/Berlin");
    assert_int_equal(s_next(&late, s_utc(2026, 3, 28, 12, 0)),
                     s_utc(2026, 3, 29, 1, 0));
    assert_int_equal(s_open_minutes(&late, s_utc(2026, 3, 28, 12, 0), 24), 60);
    /* Wholly inside the repeated hour: open in both passes. */
    calendar_window_t twice =
        s_window(CALENDAR_ALL_DAYS, "02:00", "02:30", "Europe/Berlin");
    assert_int_equal(s_next(&twice, s_utc(2026, 10, 25, 0, 30)),
                     s_utc(2026, 10, 25, 1, 0));
    assert_int_equal(s_open_minutes(&twice, s_utc(2026, 10, 24, 12, 0), 24),
                     60);
    /* 01:30-02:30: closes at 02:30 CEST and reopens when the clock falls
     * back to 02:00 CET, without passing 01:30 again. */
    calendar_window_t back =
        s_window(CALENDAR_ALL_DAYS, "01:30", "02:30", "Europe/Berlin");
    assert_false(s_inside(&back, s_utc(2026, 10, 25, 0, 45)));
    assert_int_equal(s_next(&back, s_utc(2026, 10, 25, 0, 45)),
                     s_utc(2026, 10, 25, 1, 0));
    /* A midnight-spanning window across the fall-back night. */
    calendar_window_t night =
        s_window(1u << 5, "23:00", "03:00", "Europe/Berlin");
    assert_int_equal(s_open_minutes(&night, s_utc(2026, 10, 24, 12, 0), 24),
                     5 * 60);
}

static void
test_window_errors(void **state)
{
    (void)state;
    hoist_error_t err = {0};
    bool inside = true;
    int64_t start = 5;
    calendar_window_t w =
        s_window(CALENDAR_ALL_DAYS, "09:00", "10:00", "Mars/Olympus");
    assert_int_equal(calendar_in_window(&w, 0, &inside, &err), HOIST_ERR_USAGE);
    assert_contains(err.msg, "unknown time zone 'Mars/Olympus'");
    assert_true(inside);
    calendar_window_t never = s_window(0, "09:00", "10:00", "UTC");
    assert_int_equal(calendar_next_window_start(&never, 0, &start, &err),
                     HOIST_ERR_NOTFOUND);
    assert_int_equal(start, 5);
}

static bool
s_frozen(const calendar_freeze_t *f, int64_t t)
{
    hoist_error_t err = {0};
    bool inside = false;
    if (calendar_in_freeze(f, t, &inside, &err) != HOIST_OK) {
        fail_msg("in_freeze: %s", err.msg);
    }
    return inside;
}

/* 2026-12-20 to 2027-01-04 in Europe/Berlin (CET, UTC+1), both days in. */
static void
test_freeze(void **state)
{
    (void)state;
    calendar_freeze_t f = {.from = {2026, 12, 20},
                           .to = {2027, 1, 4},
                           .tz = "Europe/Berlin",
                           .reason = "year-end"};
    assert_false(s_frozen(&f, s_utc(2026, 12, 19, 22, 59)));
    assert_true(s_frozen(&f, s_utc(2026, 12, 19, 23, 0)));
    assert_true(s_frozen(&f, s_utc(2026, 12, 31, 12, 0)));
    assert_true(s_frozen(&f, s_utc(2027, 1, 4, 22, 59)));
    assert_false(s_frozen(&f, s_utc(2027, 1, 4, 23, 0)));
    int64_t start = 0;
    int64_t end = 0;
    hoist_error_t err = {0};
    assert_int_equal(calendar_freeze_bounds(&f, &start, &end, &err), HOIST_OK);
    assert_int_equal(start, s_utc(2026, 12, 19, 23, 0));
    assert_int_equal(end, s_utc(2027, 1, 4, 23, 0));

    /* One day, in a zone where it is 23 hours long (spring forward). */
    calendar_freeze_t day = {.from = {2026, 3, 8},
                             .to = {2026, 3, 8},
                             .tz = "America/New_York",
                             .reason = "dst"};
    assert_int_equal(calendar_freeze_bounds(&day, &start, &end, &err),
                     HOIST_OK);
    assert_int_equal(start, s_utc(2026, 3, 8, 5, 0));
    assert_int_equal(end, s_utc(2026, 3, 9, 4, 0));

    calendar_freeze_t bad = f;
    snprintf(bad.tz, sizeof bad.tz, "Nowhere/Else");
    bool inside = true;
    assert_int_equal(calendar_in_freeze(&bad, 0, &inside, &err),
                     HOIST_ERR_USAGE);
    assert_contains(err.msg, "Nowhere/Else");
    assert_true(inside);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_at_forms),
        cmocka_unit_test(test_parse_at_fall_back),
        cmocka_unit_test(test_parse_at_refusals),
        cmocka_unit_test(test_parse_at_gap),
        cmocka_unit_test(test_zone_valid),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_hhmm_and_dates),
        cmocka_unit_test(test_window_weekly),
        cmocka_unit_test(test_window_midnight),
        cmocka_unit_test(test_window_dst),
        cmocka_unit_test(test_window_dst_edges),
        cmocka_unit_test(test_window_errors),
        cmocka_unit_test(test_freeze),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
