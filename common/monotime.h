/*
 * monotime: milliseconds on the monotonic clock, which wall-clock steps
 * (NTP, an operator's `date -s`) cannot move. Deadlines and durations use
 * it; timestamps that people read use the wall clock.
 */
#ifndef HOIST_MONOTIME_H
#define HOIST_MONOTIME_H

#include <stdint.h>

/* Milliseconds since an arbitrary fixed point. */
uint64_t monotime_ms(void);

#endif
