/*
 * log: one line per event on stderr, with a level and the program's name.
 * Log once, where the context (which app, which release) is known.
 */
#ifndef HOIST_LOG_H
#define HOIST_LOG_H

typedef enum {
    LOG_LEVEL_DEBUG,
    LOG_LEVEL_INFO,
    LOG_LEVEL_WARN,
    LOG_LEVEL_ERROR
} log_level_t;

/* Sets the name printed before each line and the lowest level printed. */
void log_init(const char *progname, log_level_t min);

void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
