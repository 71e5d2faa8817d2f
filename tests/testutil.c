/*
 * testutil: shared test plumbing. Child processes are real: fork, exec,
 * waitpid, with output captured through a pipe.
 */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

char *
tu_tmpdir(void)
{
    const char *base = getenv("TMPDIR");
    char tmpl[4096];
    snprintf(tmpl, sizeof tmpl, "%s/hoist-test-XXXXXX", base ? base : "/tmp");
    char *d = mkdtemp(tmpl);
    assert_non_null(d);
    /* Resolve symlinks so paths compare equal to what the code computes. */
    char *real = realpath(d, NULL);
    assert_non_null(real);
    return real;
}

static int
s_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (flag == FTW_DP || flag == FTW_D) {
        chmod(path, 0700);
        return rmdir(path) == 0 || errno == ENOENT ? 0 : 0;
    }
    unlink(path);
    return 0;
}

static int
s_chmod(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)ftw;
    if (flag == FTW_D && st) {
        chmod(path, 0700);
    }
    return 0;
}

void
tu_rmtree(char *dir)
{
    if (!dir) {
        return;
    }
    nftw(dir, s_chmod, 16, FTW_PHYS);
    nftw(dir, s_rm, 16, FTW_PHYS | FTW_DEPTH);
    free(dir);
}

char *
tu_path(const char *a, const char *b)
{
    char *p = NULL;
    assert_true(asprintf(&p, "%s/%s", a, b) > 0);
    return p;
}

void
tu_write(const char *path, const char *data, size_t len, unsigned mode)
{
    if (len == (size_t)-1) {
        len = strlen(data);
    }
    char *dir = strdup(path);
    for (char *p = dir + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            mkdir(dir, 0755);
            *p = '/';
        }
    }
    free(dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    close(fd);
}

char *
tu_read(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        return NULL;
    }
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap + 1);
    size_t r;
    while ((r = fread(buf + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap) {
            cap *= 2;
            buf = realloc(buf, cap + 1);
        }
    }
    fclose(f);
    buf[n] = '\0';
    if (len) {
        *len = n;
    }
    return buf;
}

bool
tu_exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

static int s_count;

static int
s_count_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)path;
    (void)st;
    (void)flag;
    if (ftw->level > 0) {
        s_count++;
    }
    return 0;
}

int
tu_count_entries(const char *dir)
{
    s_count = 0;
    if (nftw(dir, s_count_one, 16, FTW_PHYS) != 0) {
        return -1;
    }
    return s_count;
}

tu_run_t
tu_run(const char *const *argv, const char *const *env)
{
    tu_run_t r = {0};
    int pipefd[2];
    assert_int_equal(pipe2(pipefd, O_CLOEXEC), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(pipefd[1], 1);
        dup2(pipefd[1], 2);
        for (int i = 0; env && env[i]; i++) {
            putenv((char *)env[i]);
        }
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(pipefd[1]);
    size_t cap = 4096, n = 0;
    r.out = malloc(cap + 1);
    ssize_t got;
    while ((got = read(pipefd[0], r.out + n, cap - n)) > 0 ||
           (got < 0 && errno == EINTR)) {
        if (got < 0) {
            continue;
        }
        n += (size_t)got;
        if (n == cap) {
            cap *= 2;
            r.out = realloc(r.out, cap + 1);
        }
    }
    r.out[n] = '\0';
    close(pipefd[0]);
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    if (WIFSIGNALED(st)) {
        r.signaled = true;
        r.signal = WTERMSIG(st);
        r.status = 128 + r.signal;
    } else {
        r.status = WEXITSTATUS(st);
    }
    return r;
}

void
tu_sh(const char *fmt, ...)
{
    char *cmd = NULL;
    va_list ap;
    va_start(ap, fmt);
    assert_true(vasprintf(&cmd, fmt, ap) > 0);
    va_end(ap);
    const char *argv[] = {"/bin/sh", "-c", cmd, NULL};
    tu_run_t r = tu_run(argv, NULL);
    if (r.status != 0) {
        print_error("command failed (%d): %s\n%s\n", r.status, cmd, r.out);
    }
    assert_int_equal(r.status, 0);
    tu_run_free(&r);
    free(cmd);
}

void
tu_run_free(tu_run_t *r)
{
    free(r->out);
    r->out = NULL;
}

void
tu_assert_contains(const char *haystack, const char *needle, const char *file,
                   int line)
{
    if (!haystack || !strstr(haystack, needle)) {
        print_error("%s:%d: expected to find \"%s\" in:\n%s\n", file, line,
                    needle, haystack ? haystack : "(null)");
        fail();
    }
}
