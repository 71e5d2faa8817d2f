/*
 * bench_unpack: unpack_archive, with every admission check and cap, against
 * GNU tar extracting the same archive in the same run (the baseline), over
 * two shapes of release: many small files and a few large ones.
 *
 * Run with `make bench`; never part of `make check`.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tree.h"
#include "unpack.h"

#define ROUNDS 3

static double
s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
s_sh(const char *cmd)
{
    if (system(cmd) != 0) {
        fprintf(stderr, "bench_unpack: failed: %s\n", cmd);
        exit(1);
    }
}

/* Best of ROUNDS for GNU tar extracting ARCHIVE into a fresh directory. */
static double
s_time_tar(const char *work, const char *archive)
{
    char cmd[8192];
    double best = 1e9;
    for (int i = 0; i < ROUNDS; i++) {
        snprintf(cmd, sizeof cmd, "rm -rf %s/out && mkdir %s/out", work, work);
        s_sh(cmd);
        snprintf(cmd, sizeof cmd, "tar -C %s/out -xf %s", work, archive);
        double t = s_now();
        s_sh(cmd);
        double d = s_now() - t;
        best = d < best ? d : best;
    }
    return best;
}

static double
s_time_unpack(const char *work, const char *archive)
{
    char out[4096], cmd[8192];
    double best = 1e9;
    unpack_limits_t lim;
    unpack_limits_default(&lim);
    snprintf(out, sizeof out, "%s/out", work);
    for (int i = 0; i < ROUNDS; i++) {
        snprintf(cmd, sizeof cmd, "rm -rf %s && mkdir %s", out, out);
        s_sh(cmd);
        int fd = open(archive, O_RDONLY);
        struct stat st;
        fstat(fd, &st);
        hoist_error_t err = {0};
        double t = s_now();
        if (unpack_archive(fd, (uint64_t)st.st_size, out, &lim, &err) !=
            HOIST_OK) {
            fprintf(stderr, "bench_unpack: %s\n", err.msg);
            exit(1);
        }
        double d = s_now() - t;
        close(fd);
        best = d < best ? d : best;
    }
    return best;
}

static void
s_case(const char *work, const char *file, const char *name,
       const char *make_tree)
{
    char cmd[8192], archive[4096];
    snprintf(cmd, sizeof cmd,
             "rm -rf %1$s/src && mkdir -p %1$s/src && cd "
             "%1$s/src && %2$s",
             work, make_tree);
    s_sh(cmd);
    snprintf(archive, sizeof archive, "%s/%s.tar.gz", work, file);
    snprintf(cmd, sizeof cmd, "tar -C %s/src -czf %s .", work, archive);
    s_sh(cmd);
    double tar = s_time_tar(work, archive);
    double ours = s_time_unpack(work, archive);
    /* A fast wrong answer is no answer: the tree must match its source. */
    snprintf(cmd, sizeof cmd, "diff -r %1$s/src %1$s/out", work);
    s_sh(cmd);
    printf("%-28s GNU tar %.3fs  unpack_archive %.3fs  ratio %.2f\n", name, tar,
           ours, ours / tar);
}

int
main(void)
{
    char work[] = "/tmp/hoist-bench-unpack-XXXXXX";
    if (!mkdtemp(work)) {
        perror("mkdtemp");
        return 1;
    }
    printf("best of %d runs each; ratio = unpack_archive / GNU tar\n\n",
           ROUNDS);
    s_case(work, "small", "5000 files of 4 KiB",
           "for d in $(seq 50); do mkdir d$d; for f in $(seq 100); do head "
           "-c 4096 /dev/urandom > d$d/f$f; done; done");
    s_case(work, "large", "4 files of 64 MiB",
           "for f in 1 2 3 4; do head -c 67108864 /dev/urandom > big$f; "
           "done");
    tree_remove(work, NULL);
    return 0;
}
