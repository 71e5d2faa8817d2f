/*
 * log: one line per event on stderr, with a level and the program's name.
 * Log once, where the context (which app, which release) is known.
 *
 * Under systemd (daemon_journal_stream says so) each line instead starts
 * with the syslog priority the journal reads, "<4>warning: ...", and
 * leaves out the program's name, which the journal records itself.
 */
#ifndef HOIST_LOG_H
#define HOIST_LOG_H

#include <stdbool.h>

typedef enum {
    LOG_LEVEL_DEBUG,
    LOG_LEVEL_INFO,
    LOG_LEVEL_WARN,
    LOG_LEVEL_ERROR
} log_level_t;

/* Sets the name printed before each line and the lowest level printed. */
void log_init(const char *progname, log_level_t min);

/* Changes the lowest level printed; safe from any thread (a daemon's
 * reload may run beside its loop). */
void log_set_level(log_level_t min);

/* The lowest level printed now. */
log_level_t log_level(void);

/* With JOURNAL, lines carry "<N>" priority prefixes for the journal
 * instead of the program's name. */
void log_set_journal(bool journal);

/* Reads "debug", "info", "warn" or "error" into *OUT; false (and *OUT
 * untouched) for anything else. */
bool log_level_parse(const char *s, log_level_t *out);

/* The name log_level_parse reads for LEVEL. */
const char *log_level_name(log_level_t level);

void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
