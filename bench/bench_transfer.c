/*
 * bench_transfer: how fast Hoist moves an artifact from the controller to
 * its agents, next to a plain TCP copy of the same bytes.
 *
 * Starts a real hoist-controller and real hoist-agent daemons on loopback
 * (the binaries next to this one in the build directory), in a temporary
 * directory, then for each artifact size (100 MB and 1 GB; override with
 * BENCH_SIZES_MB="100 1000") and each fleet size (1 and 8 agents; override
 * with BENCH_AGENTS="1 8"):
 *   - packs an incompressible artifact (a plain .tar of a random file and
 *     a hoist.yml with no hooks and no health check), uploads it with
 *     `hoist release create`, and times `hoist deploy --wait` end to end;
 *   - copies the same bytes over a plain TCP socket on loopback to as many
 *     concurrent readers, each writing them to a file and fsyncing it;
 * and prints MB/s (10^6 bytes per second) per agent and in aggregate, and
 * the ratio Hoist time / plain copy time.
 *
 * The plain copy is a floor, not a like-for-like: Hoist's time also
 * includes the deploy order and the reports, CURVE encryption of every
 * chunk, hashing on both ends (the controller's store read and the agent's
 * chunk-by-chunk digest), the agent's cache write, unpacking the tarball
 * into a release directory and the deploy steps (activate, journal).
 *
 * Each fleet size gets its own environment (bench-1, bench-8, ...) so that
 * a deploy reaches exactly that many agents. Every process is stopped and
 * the directory removed at the end, also on failure or on SIGINT/SIGTERM.
 * Only 127.0.0.1 is bound.
 *
 * Run with `make bench`; never part of `make check`.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_PROCS  64
#define MAX_AGENTS 32
#define MAX_LIST   8
#define WAIT_S     60
#define BUF        (1u << 20)

static char s_dir[PATH_MAX];  /* the temporary directory, "" when gone */
static char s_bin[PATH_MAX];  /* the build directory holding the binaries */
static char s_conf[PATH_MAX]; /* the admin's cli.conf */
static pid_t s_procs[MAX_PROCS];
static volatile sig_atomic_t s_nprocs;

/* Seconds on the monotonic clock. */
static double
s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Stops every process this bench started (its whole process group):
 * SIGTERM, up to 5 s, then SIGKILL; reaps them; removes the directory.
 * Only async-signal-safe calls: it also runs from the signal handler. */
static void
s_cleanup(void)
{
    int n = s_nprocs;
    for (int i = n - 1; i >= 0; i--) {
        if (s_procs[i] > 0) {
            kill(-s_procs[i], SIGTERM);
        }
    }
    for (int i = n - 1; i >= 0; i--) {
        if (s_procs[i] <= 0) {
            continue;
        }
        int reaped = 0;
        for (int t = 0; t < 500 && !reaped; t++) {
            reaped = waitpid(s_procs[i], NULL, WNOHANG) == s_procs[i];
            if (!reaped) {
                struct timespec ts = {0, 10 * 1000 * 1000};
                nanosleep(&ts, NULL);
            }
        }
        if (!reaped) {
            kill(-s_procs[i], SIGKILL);
            waitpid(s_procs[i], NULL, 0);
        }
        s_procs[i] = 0;
    }
    s_nprocs = 0;
    if (s_dir[0]) {
        pid_t pid = fork();
        if (pid == 0) {
            char *const argv[] = {"/bin/rm", "-rf", s_dir, NULL};
            execv(argv[0], argv);
            _exit(127);
        }
        if (pid > 0) {
            waitpid(pid, NULL, 0);
        }
        s_dir[0] = '\0';
    }
}

static void
s_on_signal(int sig)
{
    s_cleanup();
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Reports a failure, cleans up and exits 1. */
static void s_die(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

static void
s_die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "bench_transfer: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    if (s_dir[0]) {
        fprintf(stderr, "(logs were in %s)\n", s_dir);
    }
    s_cleanup();
    exit(1);
}

/* SIZE bytes at S_DIR/NAME. */
static void
s_path(char *buf, size_t size, const char *name)
{
    if ((size_t)snprintf(buf, size, "%s/%s", s_dir, name) >= size) {
        s_die("path too long: %s", name);
    }
}

/* Starts ARGV in its own process group with stdout and stderr going to
 * LOG (or to a pipe whose read end is returned in *OUT_FD). */
static pid_t
s_start(const char *const *argv, const char *log, int *out_fd)
{
    int p[2] = {-1, -1};
    if (out_fd && pipe(p) != 0) {
        s_die("pipe: %s", strerror(errno));
    }
    if (s_nprocs >= MAX_PROCS) {
        s_die("too many processes");
    }
    pid_t pid = fork();
    if (pid < 0) {
        s_die("fork: %s", strerror(errno));
    }
    if (pid == 0) {
        setpgid(0, 0);
        if (out_fd) {
            close(p[0]);
        }
        int fd = out_fd ? p[1] : open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        dup2(fd, 1);
        if (log) {
            int e = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
            dup2(e, 2);
        } else {
            dup2(fd, 2);
        }
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    setpgid(pid, pid);
    s_procs[s_nprocs] = pid;
    s_nprocs = s_nprocs + 1;
    if (out_fd) {
        close(p[1]);
        *out_fd = p[0];
    }
    return pid;
}

/* Forgets PID (reaped by the caller). */
static void
s_forget(pid_t pid)
{
    for (int i = 0; i < s_nprocs; i++) {
        if (s_procs[i] == pid) {
            s_procs[i] = 0;
        }
    }
}

/* Runs ARGV to completion; its stdout (stderr goes to S_DIR/cmd.log) is
 * returned (to free) and its exit status stored in *STATUS. */
static char *
s_run(const char *const *argv, int *status)
{
    char log[PATH_MAX];
    s_path(log, sizeof log, "cmd.log");
    int fd;
    pid_t pid = s_start(argv, log, &fd);
    size_t len = 0, cap = 4096;
    char *out = malloc(cap);
    ssize_t r;
    while ((r = read(fd, out + len, cap - len - 1)) != 0) {
        if (r < 0) {
            if (errno == EINTR) {
                continue;
            }
            break;
        }
        len += (size_t)r;
        if (cap - len < 2) {
            cap *= 2;
            out = realloc(out, cap);
        }
    }
    out[len] = '\0';
    close(fd);
    int st;
    waitpid(pid, &st, 0);
    s_forget(pid);
    *status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return out;
}

/* Runs ARGV and dies unless it exits 0; returns its stdout (to free). */
static char *
s_must(const char *const *argv)
{
    int st;
    char *out = s_run(argv, &st);
    if (st != 0) {
        s_die("%s %s exited %d:\n%s", argv[0], argv[1] ? argv[1] : "", st, out);
    }
    return out;
}

/* The binary NAME of the build directory. */
static void
s_binary(char *buf, size_t size, const char *name)
{
    if ((size_t)snprintf(buf, size, "%s/%s", s_bin, name) >= size) {
        s_die("path too long");
    }
    if (access(buf, X_OK) != 0) {
        s_die("%s not built (cmake --build ... --target %s)", buf, name);
    }
}

/* `hoist --json ARGS...` parsed (a new reference). */
static json_t *
s_hoist_json(const char *const *args)
{
    char hoist[PATH_MAX];
    s_binary(hoist, sizeof hoist, "hoist");
    const char *argv[32] = {hoist, "--json"};
    size_t n = 2;
    for (size_t i = 0; args[i] && n < 31; i++) {
        argv[n++] = args[i];
    }
    argv[n] = NULL;
    char *out = s_must(argv);
    json_error_t jerr;
    json_t *j = json_loads(out, 0, &jerr);
    if (!j) {
        s_die("hoist %s: not JSON: %s", args[0], out);
    }
    free(out);
    return j;
}

/* A JSON string member or dies. */
static const char *
s_jstr(json_t *j, const char *key)
{
    const char *s = json_string_value(json_object_get(j, key));
    if (!s) {
        s_die("no \"%s\" in the JSON answer", key);
    }
    return s;
}

/* Writes the string DATA to PATH. */
static void
s_write(const char *path, const char *data)
{
    FILE *f = fopen(path, "w");
    if (!f || fputs(data, f) < 0 || fclose(f) != 0) {
        s_die("%s: %s", path, strerror(errno));
    }
}

/* Parses a list of positive numbers from ENV (or DEF); returns count. */
static int
s_list(const char *env, const char *def, long *out)
{
    const char *s = getenv(env);
    if (!s || !*s) {
        s = def;
    }
    int n = 0;
    while (*s && n < MAX_LIST) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s) {
            s++;
            continue;
        }
        if (v > 0) {
            out[n++] = v;
        }
        s = end;
    }
    if (n == 0) {
        s_die("%s: no positive numbers in \"%s\"", env, s);
    }
    return n;
}

/* --- the fleet ---------------------------------------------------------- */

static void
s_start_controller(void)
{
    char ctl[PATH_MAX], data[PATH_MAX], log[PATH_MAX];
    s_binary(ctl, sizeof ctl, "hoist-controller");
    s_path(data, sizeof data, "controller");
    s_path(log, sizeof log, "controller.log");
    s_path(s_conf, sizeof s_conf, "controller/cli.conf");
    free(s_must((const char *[]){ctl, "init", "--data-dir", data,
                                 "--agent-endpoint", "tcp://127.0.0.1:*",
                                 "--api-endpoint", "tcp://127.0.0.1:*", NULL}));
    s_start((const char *[]){ctl, "run", "--data-dir", data, "--heartbeat",
                             "500", NULL},
            log, NULL);
    double until = s_now() + WAIT_S;
    while (access(s_conf, R_OK) != 0) {
        if (s_now() > until) {
            s_die("the controller never wrote %s", s_conf);
        }
        usleep(20 * 1000);
    }
    setenv("HOIST_CONFIG", s_conf, 1);
}

/* Enrolls agent NAME into ENV with a fresh token and starts it. */
static void
s_start_agent(const char *name, const char *env)
{
    char agent[PATH_MAX], root[PATH_MAX], log[PATH_MAX], key[PATH_MAX],
        pub[PATH_MAX], tmp[64];
    s_binary(agent, sizeof agent, "hoist-agent");
    snprintf(tmp, sizeof tmp, "agent-%s", name);
    s_path(root, sizeof root, tmp);
    snprintf(tmp, sizeof tmp, "agent-%s.log", name);
    s_path(log, sizeof log, tmp);
    s_path(key, sizeof key, "controller.key");
    s_path(pub, sizeof pub, "rel.pub");
    json_t *tok =
        s_hoist_json((const char *[]){"token", "create", "--env", env, NULL});
    s_write(key, s_jstr(tok, "server_key"));
    struct passwd *pw = getpwuid(geteuid());
    if (!pw) {
        s_die("who am I?");
    }
    free(s_must((const char *[]){
        agent, "enroll", "--root", root, "--controller",
        s_jstr(tok, "endpoint"), "--controller-key", key, "--token",
        s_jstr(tok, "token"), "--env", env, "--trust", pub, "--name", name,
        "--user", pw->pw_name, NULL}));
    json_decref(tok);
    s_start((const char *[]){agent, "run", "--root", root, "--user",
                             pw->pw_name, NULL},
            log, NULL);
}

/* Waits until WANT agents are online. */
static void
s_wait_online(int want)
{
    double until = s_now() + WAIT_S;
    for (;;) {
        json_t *j = s_hoist_json((const char *[]){"agents", NULL});
        json_t *a;
        size_t k;
        int online = 0;
        json_array_foreach(json_object_get(j, "agents"), k, a)
        {
            online += json_is_true(json_object_get(a, "online"));
        }
        json_decref(j);
        if (online >= want) {
            return;
        }
        if (s_now() > until) {
            s_die("only %d of %d agents came online", online, want);
        }
        usleep(100 * 1000);
    }
}

/* Packs an incompressible artifact of MB * 10^6 random bytes into ART. */
static void
s_pack(long mb, const char *art)
{
    char src[PATH_MAX], path[PATH_MAX + 16], name[64];
    snprintf(name, sizeof name, "src-%ld", mb);
    s_path(src, sizeof src, name);
    if (mkdir(src, 0755) != 0) {
        s_die("%s: %s", src, strerror(errno));
    }
    snprintf(path, sizeof path, "%s/hoist.yml", src);
    s_write(path, "hooks: {}\n");
    snprintf(path, sizeof path, "%s/blob", src);
    int in = open("/dev/urandom", O_RDONLY);
    int out = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (in < 0 || out < 0) {
        s_die("random blob: %s", strerror(errno));
    }
    char *buf = malloc(BUF);
    for (long long left = (long long)mb * 1000000; left > 0;) {
        size_t want = left < (long long)BUF ? (size_t)left : BUF;
        ssize_t r = read(in, buf, want);
        if (r <= 0 || write(out, buf, (size_t)r) != r) {
            s_die("random blob: %s", strerror(errno));
        }
        left -= r;
    }
    free(buf);
    close(in);
    close(out);
    free(
        s_must((const char *[]){"/bin/tar", "-C", src, "-cf", art, ".", NULL}));
    free(s_must((const char *[]){"/bin/rm", "-rf", src, NULL}));
}

/* --- the plain TCP copy -------------------------------------------------- */

typedef struct {
    const char *art; /* the file to send */
    int fd;          /* a connected socket */
} sender_t;

typedef struct {
    unsigned short port;
    char out[PATH_MAX]; /* where the received bytes go */
    long long got;
    int failed;
} reader_t;

static void *
s_sender(void *arg)
{
    sender_t *s = arg;
    char *buf = malloc(BUF);
    int fd = open(s->art, O_RDONLY);
    ssize_t r;
    while (fd >= 0 && (r = read(fd, buf, BUF)) > 0) {
        for (ssize_t off = 0; off < r;) {
            ssize_t w = send(s->fd, buf + off, (size_t)(r - off), MSG_NOSIGNAL);
            if (w <= 0) {
                goto out;
            }
            off += w;
        }
    }
out:
    if (fd >= 0) {
        close(fd);
    }
    close(s->fd);
    free(buf);
    return NULL;
}

static void *
s_reader(void *arg)
{
    reader_t *r = arg;
    r->failed = 1;
    int sock = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons(r->port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (sock < 0 || connect(sock, (struct sockaddr *)&sa, sizeof sa) != 0) {
        if (sock >= 0) {
            close(sock);
        }
        return NULL;
    }
    int out = open(r->out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    char *buf = malloc(BUF);
    ssize_t n;
    while (out >= 0 && (n = recv(sock, buf, BUF, 0)) > 0) {
        if (write(out, buf, (size_t)n) != n) {
            break;
        }
        r->got += n;
    }
    if (out >= 0 && fsync(out) == 0 && close(out) == 0) {
        r->failed = 0;
    }
    close(sock);
    free(buf);
    return NULL;
}

typedef struct {
    int lsock;
    int n;
    const char *art;
    sender_t senders[MAX_AGENTS];
    pthread_t threads[MAX_AGENTS];
} server_t;

/* Accepts N connections, each served by its own sender thread. */
static void *
s_server(void *arg)
{
    server_t *sv = arg;
    for (int i = 0; i < sv->n; i++) {
        sv->senders[i].art = sv->art;
        sv->senders[i].fd = accept(sv->lsock, NULL, NULL);
        if (sv->senders[i].fd < 0 ||
            pthread_create(&sv->threads[i], NULL, s_sender, &sv->senders[i]) !=
                0) {
            s_die("accept: %s", strerror(errno));
        }
    }
    for (int i = 0; i < sv->n; i++) {
        pthread_join(sv->threads[i], NULL);
    }
    return NULL;
}

/* Copies ART to N concurrent readers over loopback; returns seconds. */
static double
s_plain_copy(const char *art, int n, long long size)
{
    server_t sv = {.n = n, .art = art};
    sv.lsock = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = 0,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    if (sv.lsock < 0 || bind(sv.lsock, (struct sockaddr *)&sa, sizeof sa) ||
        listen(sv.lsock, n) ||
        getsockname(sv.lsock, (struct sockaddr *)&sa, &len)) {
        s_die("listen on 127.0.0.1: %s", strerror(errno));
    }
    static reader_t readers[MAX_AGENTS];
    pthread_t server, threads[MAX_AGENTS];
    double t = s_now();
    pthread_create(&server, NULL, s_server, &sv);
    for (int i = 0; i < n; i++) {
        char name[64];
        snprintf(name, sizeof name, "copy-%d", i);
        memset(&readers[i], 0, sizeof readers[i]);
        readers[i].port = ntohs(sa.sin_port);
        s_path(readers[i].out, sizeof readers[i].out, name);
        pthread_create(&threads[i], NULL, s_reader, &readers[i]);
    }
    for (int i = 0; i < n; i++) {
        pthread_join(threads[i], NULL);
    }
    pthread_join(server, NULL);
    t = s_now() - t;
    close(sv.lsock);
    for (int i = 0; i < n; i++) {
        if (readers[i].failed || readers[i].got != size) {
            s_die("plain copy %d: %lld of %lld bytes", i, readers[i].got, size);
        }
        unlink(readers[i].out);
    }
    return t;
}

/* --- main ---------------------------------------------------------------- */

int
main(void)
{
    long sizes[MAX_LIST], fleets[MAX_LIST];
    int nsizes = s_list("BENCH_SIZES_MB", "100 1000", sizes);
    int nfleets = s_list("BENCH_AGENTS", "1 8", fleets);
    for (int i = 0; i < nfleets; i++) {
        if (fleets[i] > MAX_AGENTS) {
            s_die("at most %d agents", MAX_AGENTS);
        }
    }

    ssize_t r = readlink("/proc/self/exe", s_bin, sizeof s_bin - 1);
    if (r <= 0) {
        s_die("readlink /proc/self/exe: %s", strerror(errno));
    }
    s_bin[r] = '\0';
    *strrchr(s_bin, '/') = '\0';

    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(s_dir, sizeof s_dir, "%s/hoist-bench-XXXXXX", tmp);
    if (!mkdtemp(s_dir)) {
        s_dir[0] = '\0';
        s_die("mkdtemp: %s", strerror(errno));
    }
    signal(SIGINT, s_on_signal);
    signal(SIGTERM, s_on_signal);
    signal(SIGHUP, s_on_signal);

    char hoist[PATH_MAX], key[PATH_MAX], pub[PATH_MAX];
    s_binary(hoist, sizeof hoist, "hoist");
    s_path(key, sizeof key, "rel");
    s_path(pub, sizeof pub, "rel.pub");
    s_start_controller();
    free(s_must((const char *[]){hoist, "keygen", "--out", key, NULL}));
    free(s_must((const char *[]){hoist, "trust", "add", pub, NULL}));

    int total = 0;
    for (int f = 0; f < nfleets; f++) {
        char env[32];
        snprintf(env, sizeof env, "bench-%ld", fleets[f]);
        for (long a = 0; a < fleets[f]; a++) {
            char name[64];
            snprintf(name, sizeof name, "%ld-%ld", fleets[f], a + 1);
            s_start_agent(name, env);
            total++;
        }
    }
    s_wait_online(total);
    printf("fleet: 1 controller, %d agents online (loopback, CURVE); "
           "MB = 10^6 bytes\n",
           total);

    for (int s = 0; s < nsizes; s++) {
        char art[PATH_MAX], name[64], version[32], seq[16];
        snprintf(name, sizeof name, "web-%ld.tar", sizes[s]);
        s_path(art, sizeof art, name);
        s_pack(sizes[s], art);
        struct stat st;
        if (stat(art, &st) != 0) {
            s_die("%s: %s", art, strerror(errno));
        }
        long long bytes = (long long)st.st_size;
        double mb = (double)bytes / 1e6;
        snprintf(version, sizeof version, "%ld.0.0", sizes[s]);
        snprintf(seq, sizeof seq, "%d", s + 1);
        double t = s_now();
        free(s_must((const char *[]){hoist, "release", "create", "web", version,
                                     art, "--sign-key", key, "--sequence", seq,
                                     NULL}));
        t = s_now() - t;
        printf("\n%ld MB artifact (%.1f MB tar): release create (sign + "
               "upload) %.2fs, %.1f MB/s\n",
               sizes[s], mb, t, mb / t);
        fflush(stdout);
        for (int f = 0; f < nfleets; f++) {
            long n = fleets[f];
            char env[32];
            snprintf(env, sizeof env, "bench-%ld", n);
            double th = s_now();
            free(s_must((const char *[]){hoist, "deploy", "web", version,
                                         "--env", env, "--wait", NULL}));
            th = s_now() - th;
            double tc = s_plain_copy(art, (int)n, bytes);
            printf("  %ld agent%s: hoist deploy --wait %.2fs, %.1f MB/s per "
                   "agent, %.1f MB/s aggregate\n",
                   n, n == 1 ? " " : "s", th, mb / th, mb * (double)n / th);
            printf("            plain TCP copy + fsync %.2fs, %.1f MB/s per "
                   "reader, %.1f MB/s aggregate\n",
                   tc, mb / tc, mb * (double)n / tc);
            printf("            ratio hoist/copy %.2f\n", th / tc);
            fflush(stdout);
        }
        unlink(art);
    }
    s_cleanup();
    return 0;
}
