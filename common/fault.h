/*
 * fault: test-only kill points for the crash tests.
 *
 * When built with HOIST_FAULT_POINTS (the default for development builds;
 * packages are built without) and the environment variable HOIST_FAULT
 * equals NAME, the process kills itself with SIGKILL at that point: the
 * same as a power cut or an OOM kill, with no chance to clean up. The
 * tests use it to prove that every step can be recovered.
 */
#ifndef HOIST_FAULT_H
#define HOIST_FAULT_H

void fault_point(const char *name);

/* The same switch for a hang instead of a crash: when HOIST_STALL equals
 * NAME the calling thread sleeps HOIST_STALL_MS milliseconds (default
 * 1000), as a loop blocked on a stuck disk would. The watchdog test uses
 * it to show that a loop that stops turning stops the pings. */
void fault_stall(const char *name);

#endif
