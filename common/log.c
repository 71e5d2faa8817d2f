/*
 * log: stderr lines "hoist-agent: warn: ...". The process-wide settings
 * are the one exception to "no mutable globals": stderr itself is global.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>

static const char *s_prog = "hoist";
static log_level_t s_min = LOG_LEVEL_INFO;

void
log_init(const char *progname, log_level_t min)
{
    s_prog = progname;
    s_min = min;
}

static void
s_log(log_level_t level, const char *tag, const char *fmt, va_list ap)
{
    if (level < s_min) {
        return;
    }
    char line[4096];
    vsnprintf(line, sizeof line, fmt, ap);
    fprintf(stderr, "%s: %s%s\n", s_prog, tag, line);
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
