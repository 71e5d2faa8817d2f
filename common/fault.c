/*
 * fault: see fault.h. Compiled to nothing without HOIST_FAULT_POINTS.
 */
#include "fault.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void
fault_point(const char *name)
{
#ifdef HOIST_FAULT_POINTS
    const char *want = getenv("HOIST_FAULT");
    if (want && strcmp(want, name) == 0) {
        raise(SIGKILL);
    }
#else
    (void)name;
#endif
}

void
fault_stall(const char *name)
{
#ifdef HOIST_FAULT_POINTS
    const char *want = getenv("HOIST_STALL");
    if (want && strcmp(want, name) == 0) {
        const char *ms = getenv("HOIST_STALL_MS");
        long n = ms ? strtol(ms, NULL, 10) : 1000;
        struct timespec ts = {.tv_sec = n / 1000,
                              .tv_nsec = (n % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) != 0) {
        }
    }
#else
    (void)name;
#endif
}
