/*
 * calendar: wall-clock time in IANA time zones, for deploy windows,
 * freezes and `hoist promote --at TIME`.
 *
 * Every instant is int64 unix milliseconds (UTC); "now" is always an
 * argument, so the module is pure apart from reading ICU's copy of the tz
 * database. Zones are IANA ids ("Europe/Berlin", "UTC"); an id ICU does
 * not know is refused, never silently read as GMT.
 *
 * Daylight saving, decided once for the whole module:
 *   - A window is a range of wall-clock times: it is open whenever the
 *     clock on the wall in its zone reads a time inside it. So a window
 *     01:00-03:00 on the spring-forward day is one hour shorter (02:00-03:00
 *     never happens in Europe/Berlin), and on the fall-back day it is one
 *     hour longer (the hour that repeats is inside twice). A window whose
 *     hours all fall into the gap does not open that day.
 *   - A freeze covers whole days: from 00:00 of its first day to 00:00 of
 *     the day after its last, in its zone (where a midnight does not exist,
 *     the first valid time after it).
 *   - `--at` refuses a wall time that does not exist (the spring-forward
 *     gap) and takes the first of two (the fall-back hour) unless an offset
 *     in parentheses says which: "2026-10-25 02:30 Europe/Berlin (+01:00)".
 */
#ifndef HOIST_CALENDAR_H
#define HOIST_CALENDAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* Room for a zone id and its NUL; the longest IANA id has 32 bytes. */
#define CALENDAR_TZ_MAX 64
/* Room for a freeze's reason and its NUL. */
#define CALENDAR_REASON_MAX 128
/* Bits of calendar_window_t.days: bit 0 is Monday, bit 6 Sunday. */
#define CALENDAR_ALL_DAYS 0x7f

/* A calendar day; month 1-12, day 1-31. */
typedef struct {
    int year;
    int month;
    int day;
} calendar_date_t;

/* A weekly deploy window: open on DAYS from FROM_MIN to TO_MIN (minutes
 * after midnight, wall time in TZ). TO_MIN below FROM_MIN spans midnight:
 * the window belongs to the day it opens (fri 22:00-02:00 closes early on
 * Saturday). FROM_MIN == TO_MIN is not a window. */
typedef struct {
    uint8_t days; /* CALENDAR_ALL_DAYS bits */
    uint16_t from_min;
    uint16_t to_min;
    char tz[CALENDAR_TZ_MAX];
} calendar_window_t;

/* A freeze: every day from FROM to TO, both included, in TZ. */
typedef struct {
    calendar_date_t from;
    calendar_date_t to;
    char tz[CALENDAR_TZ_MAX];
    char reason[CALENDAR_REASON_MAX];
} calendar_freeze_t;

/* True if TZ is an IANA zone id that ICU knows (case matters, as in the
 * tz database: "Europe/Berlin", "UTC", "US/Eastern"). Custom ids such as
 * "GMT+05:00" and ICU's "Etc/Unknown" are refused. */
bool calendar_zone_valid(const char *tz);

/* Parses a time given on the command line into *OUT_MS:
 *   "2026-12-01 02:00 Europe/Berlin"    a wall time in a zone
 *   "2026-12-01 02:00"                  the same in DEFAULT_TZ
 *   "2026-12-01 02:00:30 Europe/Berlin" seconds are optional everywhere
 *   "2026-10-25 02:30 Europe/Berlin (+01:00)"  picks one of two
 *   "2026-12-01T02:00:00Z", "2026-12-01T02:00+01:00"  ISO 8601
 *   "+10m", "now"                       relative to NOW_MS (durations as
 *                                       in the pipeline file)
 * Years run from 1970 to 9999. A wall time in a spring-forward gap is
 * refused with a message saying so; one in the repeated fall-back hour is
 * its first occurrence. A time in the past is not refused here: whether
 * that is an error is the caller's decision. Fails with HOIST_ERR_USAGE
 * and a message quoting TEXT. */
hoist_err_t calendar_parse_at(const char *text, const char *default_tz,
                              int64_t now_ms, int64_t *out_ms,
                              hoist_error_t *err);

/* Sets *INSIDE to whether W is open at T_MS. Fails (HOIST_ERR_USAGE) only
 * for an unknown zone in W. */
hoist_err_t calendar_in_window(const calendar_window_t *w, int64_t t_ms,
                               bool *inside, hoist_error_t *err);

/* Sets *START_MS to the first instant at or after T_MS at which W is
 * open: T_MS itself when W is open then, else the next opening. Fails for
 * an unknown zone, and with HOIST_ERR_NOTFOUND for a window that never
 * opens (no days). */
hoist_err_t calendar_next_window_start(const calendar_window_t *w, int64_t t_ms,
                                       int64_t *start_ms, hoist_error_t *err);

/* Sets *START_MS and *END_MS to the instants F begins and ends (END is
 * the first instant after it). Fails for an unknown zone. */
hoist_err_t calendar_freeze_bounds(const calendar_freeze_t *f,
                                   int64_t *start_ms, int64_t *end_ms,
                                   hoist_error_t *err);

/* Sets *INSIDE to whether T_MS falls in F. Fails for an unknown zone. */
hoist_err_t calendar_in_freeze(const calendar_freeze_t *f, int64_t t_ms,
                               bool *inside, hoist_error_t *err);

/* Writes MS as a wall time in TZ with its offset, "2026-12-01 02:00
 * Europe/Berlin (+01:00)", which calendar_parse_at reads back to the same
 * minute. An unknown TZ writes UTC instead. Returns BUF. */
const char *calendar_format(int64_t ms, const char *tz, char *buf, size_t len);

/* Reads "HH:MM" (two digits each, 00:00 to 23:59) into minutes after
 * midnight. False for anything else ("9am", "9:00", "24:00"). */
bool calendar_parse_hhmm(const char *text, uint16_t *minutes);

/* Writes MINUTES as "HH:MM" into BUF (at least 6 bytes); returns BUF. */
const char *calendar_format_hhmm(uint16_t minutes, char *buf, size_t len);

/* Reads "YYYY-MM-DD", a real date from 1970 to 9999. */
bool calendar_parse_date(const char *text, calendar_date_t *date);

/* Writes DATE as "YYYY-MM-DD" into BUF (at least 11 bytes); returns BUF. */
const char *calendar_format_date(const calendar_date_t *date, char *buf,
                                 size_t len);

/* Orders two dates like strcmp. */
int calendar_date_cmp(const calendar_date_t *a, const calendar_date_t *b);

/* The index (0 Monday .. 6 Sunday) of a day named "mon".."sun", or -1. */
int calendar_day_index(const char *name);

/* The short name of day I (0 Monday .. 6 Sunday): "mon".."sun". */
const char *calendar_day_name(int i);

#endif
