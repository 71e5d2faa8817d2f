/*
 * testutil: what the tests share: temporary directories that clean up,
 * files written in one call, and real child processes whose exit status
 * and output are captured.
 */
#ifndef HOIST_TESTUTIL_H
#define HOIST_TESTUTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

/* Creates a fresh directory under $TMPDIR (or /tmp); returns a malloc'd
 * path. Aborts the test on failure. */
char *tu_tmpdir(void);

/* Removes DIR and everything in it, then frees DIR. Accepts NULL. */
void tu_rmtree(char *dir);

/* Joins A and B with "/" into a malloc'd string. */
char *tu_path(const char *a, const char *b);

/* Writes LEN bytes (or strlen(DATA) when LEN is (size_t)-1) to PATH,
 * creating parent directories; MODE applies to a new file. */
void tu_write(const char *path, const char *data, size_t len, unsigned mode);

/* Reads a whole file into a malloc'd NUL-terminated buffer; NULL if it
 * cannot be read. LEN gets the size when not NULL. */
char *tu_read(const char *path, size_t *len);

/* True if PATH exists (lstat). */
bool tu_exists(const char *path);

/* Counts the entries under DIR, recursively, without following links. */
int tu_count_entries(const char *dir);

typedef struct {
    int status; /* exit code, or 128+signal when killed */
    bool signaled;
    int signal;
    char *out; /* stdout and stderr together, NUL-terminated */
} tu_run_t;

/* Runs ARGV[0] with ARGV (NULL-terminated) and extra environment entries
 * ENV ("K=V", NULL-terminated, may be NULL), waits, and captures output. */
tu_run_t tu_run(const char *const *argv, const char *const *env);

/* Runs `/bin/sh -c CMD`; aborts the test if it does not exit 0. */
void tu_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

void tu_run_free(tu_run_t *r);

/* Asserts that HAYSTACK contains NEEDLE, printing both when it does not. */
#define assert_contains(haystack, needle)                                      \
    tu_assert_contains((haystack), (needle), __FILE__, __LINE__)
void tu_assert_contains(const char *haystack, const char *needle,
                        const char *file, int line);

#endif
