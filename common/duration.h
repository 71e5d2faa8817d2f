/*
 * duration: "500ms", "5s", "10m", "1h", "7d" or a bare number of seconds.
 */
#ifndef HOIST_DURATION_H
#define HOIST_DURATION_H

#include <stdint.h>

#include "error.h"

/* Parses S into milliseconds. Rejects empty strings, signs, spaces,
 * unknown units, fractions and values past 10 years. */
hoist_err_t duration_parse(const char *s, uint64_t *ms, hoist_error_t *err);

/* Formats MS the short way ("1500ms", "90s", "10m") into BUF. */
const char *duration_format(uint64_t ms, char *buf, unsigned len);

#endif
