/*
 * fault: see fault.h. Compiled to nothing without HOIST_FAULT_POINTS.
 */
#include "fault.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

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
