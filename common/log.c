/*
 * log: stderr lines "hoist-agent: warn: ...". The process-wide settings
 * are the one exception to "no mutable globals": stderr itself is global.
 * The level is atomic because a daemon may change it on SIGHUP from a
 * thread beside its loop.
 */
#include "log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

static const char *s_prog = "hoist";
static atomic_int s_min = LOG_LEVEL_INFO;
static atomic_bool s_journal = false;

static const char *const s_names[] = {"debug", "info", "warn", "error"};
/* syslog priorities: debug 7, info 6, warning 4, err 3 (sd-daemon.h). */
static const int s_priorities[] = {7, 6, 4, 3};

void
log_init(const char *progname, log_level_t min)
{
    s_prog = progname;
    atomic_store(&s_min, (int)min);
}

void
log_set_level(log_level_t min)
{
    atomic_store(&s_min, (int)min);
}

log_level_t
log_level(void)
{
    return (log_level_t)atomic_load(&s_min);
}

void
log_set_journal(bool journal)
{
    atomic_store(&s_journal, journal);
}

bool
log_level_parse(const char *s, log_level_t *out)
{
    for (size_t i = 0; s && i < sizeof s_names / sizeof *s_names; i++) {
        if (strcmp(s, s_names[i]) == 0) {
            *out = (log_level_t)i;
            return true;
        }
    }
    return false;
}

const char *
log_level_name(log_level_t level)
{
    return (unsigned)level < sizeof s_names / sizeof *s_names ? s_names[level]
                                                              : "?";
}

static void
s_log(log_level_t level, const char *tag, const char *fmt, va_list ap)
{
    if ((int)level < atomic_load(&s_min)) {
        return;
    }
    char line[4096];
    vsnprintf(line, sizeof line, fmt, ap);
    if (atomic_load(&s_journal)) {
        fprintf(stderr, "<%d>%s%s\n", s_priorities[level], tag, line);
    } else {
        fprintf(stderr, "%s: %s%s\n", s_prog, tag, line);
    }
}

#define LOG_FN(name, level, tag)                                               \
    void name(const char *fmt, ...)                                            \
    {                                                                          \
        va_list ap;                                                            \
        va_start(ap, fmt);                                                     \
        s_log(level, tag, fmt, ap);                                            \
        va_end(ap);                                                            \
    }

LOG_FN(log_debug, LOG_LEVEL_DEBUG, "debug: ")
LOG_FN(log_info, LOG_LEVEL_INFO, "")
LOG_FN(log_warn, LOG_LEVEL_WARN, "warning: ")
LOG_FN(log_error, LOG_LEVEL_ERROR, "error: ")
