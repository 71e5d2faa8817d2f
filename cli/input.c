/*
 * input: see input.h.
 */
#include "input.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <termios.h>
#include <unistd.h>

#include <sodium.h>

#include "atomicfile.h"

char *
input_resolve(const char *path, const char *what, hoist_error_t *err)
{
    char *real = realpath(path, NULL);
    if (!real) {
        error_errno(err, errno == ENOMEM ? HOIST_ERR_NOMEM : HOIST_ERR_USAGE,
                    errno, "cannot read the %s %s", what, path);
    }
    return real;
}

hoist_err_t
input_read(const char *path, const char *what, size_t max, char **out,
           size_t *len, hoist_error_t *err)
{
    char *real = input_resolve(path, what, err);
    if (!real) {
        return err ? err->code : HOIST_ERR_USAGE;
    }
    uint8_t *buf = NULL;
    size_t n = 0;
    hoist_err_t rc = atomicfile_read(real, max, &buf, &n, err);
    free(real);
    if (rc != HOIST_OK) {
        error_prefix(err, "the %s %s", what, path);
        if (err && rc != HOIST_ERR_NOMEM) {
            err->code = HOIST_ERR_USAGE;
        }
        return rc == HOIST_ERR_NOMEM ? rc : HOIST_ERR_USAGE;
    }
    *out = (char *)buf;
    *len = n;
    return HOIST_OK;
}

/* ---- standard input ----------------------------------------------------- */

/* Reads FD to its end, or to its first newline when LINE, into BUF, at
 * most MAX + 3 bytes: a value of MAX bytes, its "\r\n", and one more byte
 * to notice that there is more. Returns the length, or -1 with errno on a
 * read error. */
static ssize_t
s_read_fd(int fd, bool line, char *buf, size_t max)
{
    size_t n = 0;
    while (n < max + 3) {
        ssize_t got = read(fd, buf + n, line ? 1 : max + 3 - n);
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got < 0) {
            return -1;
        }
        if (got == 0) {
            break;
        }
        n += (size_t)got;
        if (line && buf[n - 1] == '\n') {
            break;
        }
    }
    return (ssize_t)n;
}

/* Reads one line from the terminal on stdin, without echo when HIDE. */
static ssize_t
s_read_tty(const char *prompt, bool hide, char *buf, size_t max)
{
    struct termios saved, quiet;
    bool restore = hide && tcgetattr(0, &saved) == 0;
    fprintf(stderr, "%s", prompt);
    fflush(stderr);
    if (restore) {
        quiet = saved;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(0, TCSAFLUSH, &quiet);
    }
    ssize_t n = s_read_fd(0, true, buf, max);
    int saved_errno = errno;
    if (restore) {
        tcsetattr(0, TCSAFLUSH, &saved);
        fputc('\n', stderr); /* the Enter that was not echoed */
    }
    errno = saved_errno;
    return n;
}

hoist_err_t
input_read_stdin(const char *prompt, bool hide, size_t max, char **out,
                 size_t *len, hoist_error_t *err)
{
    char *buf = malloc(max + 4);
    if (!buf) {
        return error_set(err, HOIST_ERR_NOMEM, "out of memory");
    }
    ssize_t got = isatty(0) ? s_read_tty(prompt, hide, buf, max)
                            : s_read_fd(0, false, buf, max);
    if (got < 0) {
        sodium_memzero(buf, max + 4);
        free(buf);
        return error_errno(err, HOIST_ERR_USAGE, errno,
                           "cannot read the value from standard input");
    }
    size_t n = (size_t)got;
    if (n > 0 && buf[n - 1] == '\n') {
        n -= 1 + (n > 1 && buf[n - 2] == '\r');
    }
    if (n > max) {
        sodium_memzero(buf, max + 4);
        free(buf);
        return error_set(err, HOIST_ERR_USAGE,
                         "the value on standard input is over %zu bytes", max);
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return HOIST_OK;
}
