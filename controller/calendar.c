/*
 * calendar: wall-clock arithmetic over ICU's C calendar API.
 *
 * ICU rather than setenv("TZ") + mktime: TZ is process-global, and the
 * controller runs czmq's threads, so changing it under them is a race; a
 * UCalendar carries its own zone. ICU also lets us say explicitly what a
 * skipped or repeated wall time means (UCAL_SKIPPED_WALL_TIME,
 * UCAL_REPEATED_WALL_TIME) instead of inheriting mktime's tm_isdst
 * guesswork. Date arithmetic that needs no zone (which weekday, the next
 * day, a fixed UTC offset) is plain integer civil-date arithmetic, so a
 * date never passes through floating point or a zone by accident.
 *
 * Each call opens its own UCalendar and closes it before returning: the
 * module holds no state and is safe to call from any thread.
 */
#include "calendar.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unicode/ucal.h>
#include <unicode/ustring.h>

#include "duration.h"

#define S_MIN_MS   60000LL
#define S_DAY_MS   86400000LL
#define S_MIN_YEAR 1970
#define S_MAX_YEAR 9999
/* How far ahead next_window_start looks: a weekly window opens within
 * eight days; the rest is room for a skipped day (Pacific/Apia, 2011). */
#define S_SEARCH_DAYS 15
/* The characters of IANA zone ids; anything else is refused before it
 * reaches ICU, which would parse custom ids like "GMT+5". */
#define S_ZONE_CHARS                                                           \
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/_+-"

static const char *const s_day_names[] = {"mon", "tue", "wed", "thu",
                                          "fri", "sat", "sun"};

/* A wall-clock reading of one instant in one zone. */
typedef struct {
    calendar_date_t date;
    int wday;       /* 0 Monday .. 6 Sunday */
    int minute;     /* minutes after midnight */
    int second;     /* within the minute */
    int offset_min; /* zone offset plus daylight saving, in minutes */
} s_local_t;

/* Days from 1970-01-01 to Y-M-D in the proleptic Gregorian calendar
 * (Howard Hinnant's days_from_civil). */
static int64_t
s_days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* The inverse of s_days_from_civil. */
static calendar_date_t
s_civil_from_days(int64_t z)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t m = mp < 10 ? mp + 3 : mp - 9;
    calendar_date_t d = {
        .year = (int)(yoe + era * 400 + (m <= 2)),
        .month = (int)m,
        .day = (int)(doy - (153 * mp + 2) / 5 + 1),
    };
    return d;
}

/* 0 for Monday .. 6 for Sunday; 1970-01-01 was a Thursday. */
static int
s_weekday(int64_t days)
{
    return (int)(((days % 7) + 10) % 7);
}

static bool
s_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static bool
s_date_valid(const calendar_date_t *d)
{
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (d->year < S_MIN_YEAR || d->year > S_MAX_YEAR || d->month < 1 ||
        d->month > 12 || d->day < 1) {
        return false;
    }
    int max = mdays[d->month - 1] + (d->month == 2 && s_leap(d->year));
    return d->day <= max;
}

bool
calendar_zone_valid(const char *tz)
{
    if (!tz) {
        return false;
    }
    size_t n = strlen(tz);
    if (n == 0 || n >= CALENDAR_TZ_MAX || strspn(tz, S_ZONE_CHARS) != n) {
        return false;
    }
    UChar id[CALENDAR_TZ_MAX];
    UChar canon[128];
    char text[128];
    UBool system = false;
    UErrorCode st = U_ZERO_ERROR;
    u_uastrcpy(id, tz);
    int32_t len = ucal_getCanonicalTimeZoneID(id, -1, canon, 128, &system, &st);
    if (U_FAILURE(st) || !system || len <= 0 || len >= 128) {
        return false;
    }
    u_austrncpy(text, canon, sizeof text - 1);
    text[len] = '\0';
    /* ICU's stand-in for "no idea"; never a zone someone meant. */
    return strcmp(text, "Etc/Unknown") != 0;
}

/* Opens a Gregorian calendar in TZ with the module's DST rules: a
 * skipped wall time means the first valid time after the gap, a repeated
 * one its first occurrence (callers ask for the last explicitly). The
 * caller closes *OUT. */
static hoist_err_t
s_open(const char *tz, UCalendar **out, hoist_error_t *err)
{
    if (!calendar_zone_valid(tz)) {
        return error_set(err, HOIST_ERR_USAGE,
                         "unknown time zone '%s': use an IANA name such as "
                         "Europe/Berlin, America/New_York or UTC",
                         tz ? tz : "");
    }
    UChar id[CALENDAR_TZ_MAX];
    UErrorCode st = U_ZERO_ERROR;
    u_uastrcpy(id, tz);
    UCalendar *cal = ucal_open(id, -1, "en_US_POSIX", UCAL_GREGORIAN, &st);
    if (U_FAILURE(st) || !cal) {
        if (cal) {
            ucal_close(cal);
        }
        return error_set(
            err,
            st == U_MEMORY_ALLOCATION_ERROR ? HOIST_ERR_NOMEM : HOIST_ERR_IO,
            "ICU cannot open a calendar in %s: %s", tz, u_errorName(st));
    }
    ucal_setAttribute(cal, UCAL_SKIPPED_WALL_TIME, UCAL_WALLTIME_NEXT_VALID);
    ucal_setAttribute(cal, UCAL_REPEATED_WALL_TIME, UCAL_WALLTIME_FIRST);
    *out = cal;
    return HOIST_OK;
}

static hoist_err_t
s_icu_failed(UErrorCode st, hoist_error_t *err)
{
    return error_set(err, HOIST_ERR_USAGE,
                     "ICU cannot compute that time (%s): is it before 1970 "
                     "or after 9999?",
                     u_errorName(st));
}

/* Reads the wall clock of CAL's zone at MS into *OUT. */
static hoist_err_t
s_local(UCalendar *cal, int64_t ms, s_local_t *out, hoist_error_t *err)
{
    UErrorCode st = U_ZERO_ERROR;
    ucal_setMillis(cal, (UDate)ms, &st);
    calendar_date_t d = {
        .year = ucal_get(cal, UCAL_EXTENDED_YEAR, &st),
        .month = ucal_get(cal, UCAL_MONTH, &st) + 1,
        .day = ucal_get(cal, UCAL_DATE, &st),
    };
    int hour = ucal_get(cal, UCAL_HOUR_OF_DAY, &st);
    int minute = ucal_get(cal, UCAL_MINUTE, &st);
    int second = ucal_get(cal, UCAL_SECOND, &st);
    int offset = ucal_get(cal, UCAL_ZONE_OFFSET, &st) +
                 ucal_get(cal, UCAL_DST_OFFSET, &st);
    if (U_FAILURE(st)) {
        return s_icu_failed(st, err);
    }
    out->date = d;
    out->wday = s_weekday(s_days_from_civil(d.year, d.month, d.day));
    out->minute = hour * 60 + minute;
    out->second = second;
    out->offset_min = offset / 60000;
    return HOIST_OK;
}

/* Sets *MS to the instant the wall clock of CAL's zone reads D MINUTE:
 * SECOND. REPEATED (UCAL_WALLTIME_FIRST or _LAST) picks the occurrence of
 * a repeated time; a skipped one becomes the end of the gap. */
static hoist_err_t
s_wall(UCalendar *cal, const calendar_date_t *d, int minute, int second,
       int repeated, int64_t *ms, hoist_error_t *err)
{
    UErrorCode st = U_ZERO_ERROR;
    ucal_setAttribute(cal, UCAL_REPEATED_WALL_TIME, repeated);
    ucal_clear(cal);
    ucal_setDateTime(cal, d->year, d->month - 1, d->day, minute / 60,
                     minute % 60, second, &st);
    UDate v = ucal_getMillis(cal, &st);
    ucal_setAttribute(cal, UCAL_REPEATED_WALL_TIME, UCAL_WALLTIME_FIRST);
    if (U_FAILURE(st)) {
        return s_icu_failed(st, err);
    }
    *ms = (int64_t)v;
    return HOIST_OK;
}

/* Whether W is open at a wall reading L (see calendar.h: wall-clock
 * semantics, a midnight-spanning window belongs to the day it opens). */
static bool
s_window_open(const calendar_window_t *w, const s_local_t *l)
{
    bool today = w->days & (1u << l->wday);
    if (w->from_min < w->to_min) {
        return today && l->minute >= w->from_min && l->minute < w->to_min;
    }
    bool yesterday = w->days & (1u << ((l->wday + 6) % 7));
    return (today && l->minute >= w->from_min) ||
           (yesterday && l->minute < w->to_min);
}

static hoist_err_t
s_open_at(UCalendar *cal, const calendar_window_t *w, int64_t t, bool *inside,
          hoist_error_t *err)
{
    s_local_t l;
    hoist_err_t rc = s_local(cal, t, &l, err);
    if (rc == HOIST_OK) {
        *inside = s_window_open(w, &l);
    }
    return rc;
}

hoist_err_t
calendar_in_window(const calendar_window_t *w, int64_t t_ms, bool *inside,
                   hoist_error_t *err)
{
    UCalendar *cal = NULL;
    hoist_err_t rc = s_open(w->tz, &cal, err);
    if (rc != HOIST_OK) {
        return rc;
    }
    rc = s_open_at(cal, w, t_ms, inside, err);
    ucal_close(cal);
    return rc;
}

/* Lowers *BEST to C if C is after T and W is open at C. */
static hoist_err_t
s_consider(UCalendar *cal, const calendar_window_t *w, int64_t t, int64_t c,
           int64_t *best, hoist_error_t *err)
{
    bool inside = false;
    if (c <= t || c >= *best) {
        return HOIST_OK;
    }
    hoist_err_t rc = s_open_at(cal, w, c, &inside, err);
    if (rc == HOIST_OK && inside) {
        *best = c;
    }
    return rc;
}

/* Candidate openings from each day's FROM time, in both occurrences when
 * it repeats (the fall-back night passes it twice). */
static hoist_err_t
s_from_candidates(UCalendar *cal, const calendar_window_t *w, int64_t t,
                  const s_local_t *l, int64_t *best, hoist_error_t *err)
{
    int64_t day0 = s_days_from_civil(l->date.year, l->date.month, l->date.day);
    hoist_err_t rc = HOIST_OK;
    for (int k = 0; k <= S_SEARCH_DAYS && rc == HOIST_OK; k++) {
        calendar_date_t d = s_civil_from_days(day0 + k);
        if (!(w->days & (1u << s_weekday(day0 + k)))) {
            continue;
        }
        int64_t first = 0;
        int64_t last = 0;
        rc = s_wall(cal, &d, w->from_min, 0, UCAL_WALLTIME_FIRST, &first, err);
        if (rc == HOIST_OK) {
            rc =
                s_wall(cal, &d, w->from_min, 0, UCAL_WALLTIME_LAST, &last, err);
        }
        if (rc == HOIST_OK) {
            rc = s_consider(cal, w, t, first, best, err);
        }
        if (rc == HOIST_OK) {
            rc = s_consider(cal, w, t, last, best, err);
        }
    }
    return rc;
}

/* Candidate openings at the zone's transitions: on the fall-back night
 * the clock can jump back into a window without passing its FROM time
 * (01:30-02:30 in Berlin reopens at 02:00 CET). */
static hoist_err_t
s_transition_candidates(UCalendar *cal, const calendar_window_t *w, int64_t t,
                        int64_t *best, hoist_error_t *err)
{
    int64_t at = t;
    int64_t limit = t + (S_SEARCH_DAYS + 1) * S_DAY_MS;
    hoist_err_t rc = HOIST_OK;
    while (rc == HOIST_OK && at < limit && at < *best) {
        UErrorCode st = U_ZERO_ERROR;
        UDate next = 0;
        ucal_setMillis(cal, (UDate)at, &st);
        if (U_FAILURE(st) ||
            !ucal_getTimeZoneTransitionDate(cal, UCAL_TZ_TRANSITION_NEXT, &next,
                                            &st) ||
            U_FAILURE(st) || (int64_t)next <= at) {
            break;
        }
        at = (int64_t)next;
        rc = s_consider(cal, w, t, at, best, err);
    }
    return rc;
}

hoist_err_t
calendar_next_window_start(const calendar_window_t *w, int64_t t_ms,
                           int64_t *start_ms, hoist_error_t *err)
{
    UCalendar *cal = NULL;
    s_local_t l;
    int64_t best = INT64_MAX;
    bool inside = false;
    hoist_err_t rc = s_open(w->tz, &cal, err);
    if (rc != HOIST_OK) {
        return rc;
    }
    rc = s_local(cal, t_ms, &l, err);
    if (rc == HOIST_OK) {
        inside = s_window_open(w, &l);
        best = inside ? t_ms : INT64_MAX;
    }
    if (rc == HOIST_OK && !inside) {
        rc = s_from_candidates(cal, w, t_ms, &l, &best, err);
    }
    if (rc == HOIST_OK && !inside) {
        rc = s_transition_candidates(cal, w, t_ms, &best, err);
    }
    ucal_close(cal);
    if (rc == HOIST_OK && best == INT64_MAX) {
        rc = error_set(err, HOIST_ERR_NOTFOUND,
                       "the window never opens: give it at least one day");
    }
    if (rc == HOIST_OK) {
        *start_ms = best;
    }
    return rc;
}

hoist_err_t
calendar_freeze_bounds(const calendar_freeze_t *f, int64_t *start_ms,
                       int64_t *end_ms, hoist_error_t *err)
{
    UCalendar *cal = NULL;
    int64_t start = 0;
    int64_t end = 0;
    if (!s_date_valid(&f->from) || !s_date_valid(&f->to)) {
        return error_set(err, HOIST_ERR_USAGE,
                         "a freeze needs real dates from 1970 to 9999");
    }
    hoist_err_t rc = s_open(f->tz, &cal, err);
    if (rc != HOIST_OK) {
        return rc;
    }
    calendar_date_t after = s_civil_from_days(
        s_days_from_civil(f->to.year, f->to.month, f->to.day) + 1);
    rc = s_wall(cal, &f->from, 0, 0, UCAL_WALLTIME_FIRST, &start, err);
    if (rc == HOIST_OK) {
        rc = s_wall(cal, &after, 0, 0, UCAL_WALLTIME_FIRST, &end, err);
    }
    ucal_close(cal);
    if (rc == HOIST_OK) {
        *start_ms = start;
        *end_ms = end;
    }
    return rc;
}

hoist_err_t
calendar_in_freeze(const calendar_freeze_t *f, int64_t t_ms, bool *inside,
                   hoist_error_t *err)
{
    int64_t start = 0;
    int64_t end = 0;
    hoist_err_t rc = calendar_freeze_bounds(f, &start, &end, err);
    if (rc == HOIST_OK) {
        *inside = t_ms >= start && t_ms < end;
    }
    return rc;
}

const char *
calendar_format(int64_t ms, const char *tz, char *buf, size_t len)
{
    UCalendar *cal = NULL;
    s_local_t l;
    const char *zone = calendar_zone_valid(tz) ? tz : "UTC";
    if (len == 0) {
        return buf;
    }
    if (s_open(zone, &cal, NULL) != HOIST_OK ||
        s_local(cal, ms, &l, NULL) != HOIST_OK) {
        snprintf(buf, len, "%lld ms after 1970 UTC", (long long)ms);
    } else {
        int off = l.offset_min < 0 ? -l.offset_min : l.offset_min;
        snprintf(buf, len, "%04d-%02d-%02d %02d:%02d %s (%c%02d:%02d)",
                 l.date.year, l.date.month, l.date.day, l.minute / 60,
                 l.minute % 60, zone, l.offset_min < 0 ? '-' : '+', off / 60,
                 off % 60);
    }
    if (cal) {
        ucal_close(cal);
    }
    return buf;
}

/* Reads exactly N decimal digits at *P into *V and advances *P. */
static bool
s_digits(const char **p, int n, int *v)
{
    int x = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9') {
            return false;
        }
        x = x * 10 + (c - '0');
    }
    *p += n;
    *v = x;
    return true;
}

/* Reads "HH:MM" at *P (00:00-23:59) into minutes; advances *P. */
static bool
s_hhmm(const char **p, int *minutes)
{
    int h = 0;
    int m = 0;
    const char *q = *p;
    if (!s_digits(&q, 2, &h) || *q++ != ':' || !s_digits(&q, 2, &m) || h > 23 ||
        m > 59) {
        return false;
    }
    *p = q;
    *minutes = h * 60 + m;
    return true;
}

/* Reads "YYYY-MM-DD" at *P (any digits; validity is checked apart so
 * that the message can say which part is wrong); advances *P. */
static bool
s_ymd(const char **p, calendar_date_t *d)
{
    const char *q = *p;
    if (!s_digits(&q, 4, &d->year) || *q++ != '-' ||
        !s_digits(&q, 2, &d->month) || *q++ != '-' ||
        !s_digits(&q, 2, &d->day)) {
        return false;
    }
    *p = q;
    return true;
}

/* Reads "+HH:MM" or "-HH:MM" at *P into signed minutes; advances *P. */
static bool
s_offset(const char **p, int *minutes)
{
    const char *q = *p;
    int sign = *q == '+' ? 1 : *q == '-' ? -1 : 0;
    int m = 0;
    if (sign == 0) {
        return false;
    }
    q++;
    if (!s_hhmm(&q, &m)) {
        return false;
    }
    *p = q;
    *minutes = sign * m;
    return true;
}

bool
calendar_parse_hhmm(const char *text, uint16_t *minutes)
{
    int m = 0;
    const char *p = text;
    if (!text || !s_hhmm(&p, &m) || *p != '\0') {
        return false;
    }
    *minutes = (uint16_t)m;
    return true;
}

const char *
calendar_format_hhmm(uint16_t minutes, char *buf, size_t len)
{
    snprintf(buf, len, "%02d:%02d", minutes / 60 % 100, minutes % 60);
    return buf;
}

bool
calendar_parse_date(const char *text, calendar_date_t *date)
{
    calendar_date_t d;
    const char *p = text;
    if (!text || !s_ymd(&p, &d) || *p != '\0' || !s_date_valid(&d)) {
        return false;
    }
    *date = d;
    return true;
}

const char *
calendar_format_date(const calendar_date_t *date, char *buf, size_t len)
{
    snprintf(buf, len, "%04d-%02d-%02d", date->year, date->month, date->day);
    return buf;
}

int
calendar_date_cmp(const calendar_date_t *a, const calendar_date_t *b)
{
    if (a->year != b->year) {
        return a->year < b->year ? -1 : 1;
    }
    if (a->month != b->month) {
        return a->month < b->month ? -1 : 1;
    }
    if (a->day != b->day) {
        return a->day < b->day ? -1 : 1;
    }
    return 0;
}

int
calendar_day_index(const char *name)
{
    for (int i = 0; name && i < 7; i++) {
        if (strcmp(name, s_day_names[i]) == 0) {
            return i;
        }
    }
    return -1;
}

const char *
calendar_day_name(int i)
{
    return i >= 0 && i < 7 ? s_day_names[i] : "?";
}

/* What calendar_parse_at reads from its text. */
typedef struct {
    calendar_date_t date;
    int minute;
    int second;
    char zone[CALENDAR_TZ_MAX]; /* "" with a fixed offset */
    bool has_offset;            /* an ISO offset, "Z", or "(+01:00)" */
    int offset_min;
} s_at_t;

/* Sets ERR to a refusal of TEXT with REASON and the accepted forms. */
static hoist_err_t
s_bad_at(hoist_error_t *err, const char *text, const char *reason)
{
    return error_set(err, HOIST_ERR_USAGE,
                     "cannot read the time '%s': %s (write it like "
                     "'2026-12-01 02:00 Europe/Berlin', "
                     "'2026-12-01T01:00:00Z' or '+10m')",
                     text, reason);
}

/* Reads what follows the time: nothing, "Z", an ISO offset, or " ZONE"
 * with an optional " (+HH:MM)". */
static bool
s_at_zone(const char *p, s_at_t *at)
{
    if (*p == '\0') {
        return true;
    }
    if (strcmp(p, "Z") == 0) {
        at->has_offset = true;
        at->offset_min = 0;
        return true;
    }
    if (*p == '+' || *p == '-') {
        at->has_offset = true;
        return s_offset(&p, &at->offset_min) && *p == '\0';
    }
    if (*p++ != ' ') {
        return false;
    }
    size_t n = strcspn(p, " ");
    if (n == 0 || n >= sizeof at->zone) {
        return false;
    }
    memcpy(at->zone, p, n);
    at->zone[n] = '\0';
    p += n;
    if (*p == '\0') {
        return true;
    }
    at->has_offset = true;
    if (strncmp(p, " (", 2) != 0) {
        return false;
    }
    p += 2;
    return s_offset(&p, &at->offset_min) && strcmp(p, ")") == 0;
}

/* Reads "YYYY-MM-DD[ T]HH:MM[:SS]" and the zone part into *AT. */
static hoist_err_t
s_at_read(const char *text, s_at_t *at, hoist_error_t *err)
{
    const char *p = text;
    memset(at, 0, sizeof *at);
    if (!s_ymd(&p, &at->date)) {
        return s_bad_at(err, text, "expected a date YYYY-MM-DD first");
    }
    if (*p != ' ' && *p != 'T') {
        return s_bad_at(err, text, "expected a time HH:MM after the date");
    }
    p++;
    if (!s_hhmm(&p, &at->minute)) {
        return s_bad_at(err, text, "expected a time HH:MM after the date");
    }
    if (*p == ':') {
        p++;
        if (!s_digits(&p, 2, &at->second) || at->second > 59) {
            return s_bad_at(err, text, "seconds must be 00 to 59");
        }
    }
    if (!s_at_zone(p, at)) {
        return s_bad_at(err, text,
                        "after the time, expected a time zone, Z or an "
                        "offset like +01:00");
    }
    if (!s_date_valid(&at->date)) {
        return s_bad_at(err, text,
                        "no such date (years run from 1970 to 9999)");
    }
    return HOIST_OK;
}

/* One reading of a wall time: the instant and the clock there. */
typedef struct {
    int64_t ms;
    s_local_t local;
} s_reading_t;

/* The first and the last occurrence of AT's wall time in CAL's zone (the
 * same instant unless the hour repeats). */
static hoist_err_t
s_at_readings(UCalendar *cal, const s_at_t *at, s_reading_t r[2],
              hoist_error_t *err)
{
    static const int opts[2] = {UCAL_WALLTIME_FIRST, UCAL_WALLTIME_LAST};
    hoist_err_t rc = HOIST_OK;
    for (int i = 0; i < 2 && rc == HOIST_OK; i++) {
        rc = s_wall(cal, &at->date, at->minute, at->second, opts[i], &r[i].ms,
                    err);
        if (rc == HOIST_OK) {
            rc = s_local(cal, r[i].ms, &r[i].local, err);
        }
    }
    return rc;
}

/* True when the clock at R does not read AT: ICU moved a skipped wall
 * time to the end of the gap. */
static bool
s_in_gap(const s_at_t *at, const s_reading_t *r)
{
    return r->local.minute != at->minute || r->local.second != at->second ||
           calendar_date_cmp(&r->local.date, &at->date) != 0;
}

/* Refuses AT, a wall time in the gap that ends at END, saying where the
 * clocks jump from (the reading just before END) and to. */
static hoist_err_t
s_at_gap(UCalendar *cal, const char *text, const s_at_t *at,
         const s_reading_t *end, hoist_error_t *err)
{
    s_local_t before;
    char msg[256];
    hoist_err_t rc = s_local(cal, end->ms - 1, &before, err);
    if (rc != HOIST_OK) {
        return rc;
    }
    int from = before.minute + 1;
    snprintf(msg, sizeof msg,
             "it does not exist in %s: on that day the clocks jump from "
             "%02d:%02d to %02d:%02d (daylight saving); pick a time outside "
             "that gap",
             at->zone, from / 60 % 24, from % 60, end->local.minute / 60,
             end->local.minute % 60);
    return s_bad_at(err, text, msg);
}

/* The instant of AT in its zone: refuses a wall time in a gap; picks the
 * occurrence AT's offset names, or the first, in a repeated hour. */
static hoist_err_t
s_at_zoned(const char *text, const s_at_t *at, int64_t *out, hoist_error_t *err)
{
    UCalendar *cal = NULL;
    s_reading_t r[2];
    hoist_err_t rc = s_open(at->zone, &cal, err);
    if (rc != HOIST_OK) {
        return rc;
    }
    rc = s_at_readings(cal, at, r, err);
    if (rc == HOIST_OK && s_in_gap(at, &r[0])) {
        rc = s_at_gap(cal, text, at, &r[0], err);
    }
    ucal_close(cal);
    for (int i = 0; rc == HOIST_OK && i < 2; i++) {
        if (!at->has_offset || at->offset_min == r[i].local.offset_min) {
            *out = r[i].ms;
            return HOIST_OK;
        }
    }
    if (rc == HOIST_OK) {
        char msg[256];
        snprintf(msg, sizeof msg, "the offset does not match %s at that time",
                 at->zone);
        rc = s_bad_at(err, text, msg);
    }
    return rc;
}

/* Reads "+DURATION" relative to NOW. */
static hoist_err_t
s_at_relative(const char *text, int64_t now, int64_t *out, hoist_error_t *err)
{
    uint64_t ms = 0;
    hoist_error_t why;
    if (duration_parse(text + 1, &ms, &why) != HOIST_OK) {
        return s_bad_at(err, text, why.msg);
    }
    if (now > INT64_MAX - (int64_t)ms) {
        return s_bad_at(err, text, "too far in the future");
    }
    *out = now + (int64_t)ms;
    return HOIST_OK;
}

hoist_err_t
calendar_parse_at(const char *text, const char *default_tz, int64_t now_ms,
                  int64_t *out_ms, hoist_error_t *err)
{
    s_at_t at;
    if (!text || *text == '\0') {
        return s_bad_at(err, "", "it is empty");
    }
    if (strcmp(text, "now") == 0) {
        *out_ms = now_ms;
        return HOIST_OK;
    }
    if (text[0] == '+') {
        return s_at_relative(text, now_ms, out_ms, err);
    }
    hoist_err_t rc = s_at_read(text, &at, err);
    if (rc != HOIST_OK) {
        return rc;
    }
    if (at.has_offset && at.zone[0] == '\0') {
        int64_t days =
            s_days_from_civil(at.date.year, at.date.month, at.date.day);
        *out_ms = days * S_DAY_MS + (int64_t)at.minute * S_MIN_MS +
                  (int64_t)at.second * 1000 - (int64_t)at.offset_min * S_MIN_MS;
        return HOIST_OK;
    }
    if (at.zone[0] == '\0') {
        if (!default_tz || !*default_tz) {
            return s_bad_at(err, text, "it needs a time zone");
        }
        snprintf(at.zone, sizeof at.zone, "%s", default_tz);
    }
    if (!calendar_zone_valid(at.zone)) {
        char msg[256];
        snprintf(msg, sizeof msg,
                 "unknown time zone '%s' (use an IANA name such as "
                 "Europe/Berlin or UTC)",
                 at.zone);
        return s_bad_at(err, text, msg);
    }
    return s_at_zoned(text, &at, out_ms, err);
}
