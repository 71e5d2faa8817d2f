/*
 * test_health: the policy (health_decide) over a table of cases, then the
 * probes for real: TCP against listening and closed loopback ports, HTTP
 * against a small responder thread, and commands whose outcome changes
 * from one probe to the next through a counter file.
 */
#include "testutil.h"
#include "monotime.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "health.h"

#define NONE UINT64_MAX

/* A check of KIND on TARGET with short, test-friendly timings. */
static health_check_t
s_check(health_kind_t kind, char *target, uint32_t retries)
{
    health_check_t hc;
    health_check_default(&hc);
    hc.kind = kind;
    hc.target = target;
    hc.timeout_ms = 1000;
    hc.interval_ms = 50;
    hc.retries = retries;
    return hc;
}

/* A socket of FAMILY bound to loopback on an ephemeral port, listening
 * when LISTEN. Returns the fd (or -1 if FAMILY has no loopback here) and
 * the port in *PORT. */
static int
s_loopback(int family, bool listen_too, int *port)
{
    struct sockaddr_storage ss = {0};
    socklen_t len;
    if (family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_addr = in6addr_loopback;
        len = sizeof *a;
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        len = sizeof *a;
    }
    int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&ss, len) < 0 ||
        (listen_too && listen(fd, 16) < 0) ||
        getsockname(fd, (struct sockaddr *)&ss, &len) < 0) {
        if (fd >= 0) {
            close(fd);
        }
        return -1;
    }
    *port = ntohs(family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                     : ((struct sockaddr_in *)&ss)->sin_port);
    return fd;
}

/* A port on FAMILY's loopback that nothing listens on (bound, then
 * closed). */
static int
s_closed_port(int family)
{
    int port = 0;
    int fd = s_loopback(family, false, &port);
    assert_true(fd >= 0);
    close(fd);
    return port;
}

/* --- the policy --------------------------------------------------- */

typedef struct {
    const char *name;
    uint32_t retries;
    uint64_t healthy_for;
    uint32_t probes;
    uint64_t first_ok;
    bool last_ok;
    uint64_t now;
    health_verdict_t want;
} decide_case_t;

static void
test_decide_table(void **state)
{
    (void)state;
    static const decide_case_t cases[] = {
        {"nothing probed yet", 3, 0, 0, NONE, false, 0, HEALTH_PROBE_AGAIN},
        {"failing, retries left", 3, 0, 2, NONE, false, 100,
         HEALTH_PROBE_AGAIN},
        {"retries exhausted", 3, 0, 3, NONE, false, 200, HEALTH_FAILED},
        {"retries 0 still probes once", 0, 0, 1, NONE, false, 0, HEALTH_FAILED},
        {"passed, no healthy_for", 3, 0, 1, 0, true, 0, HEALTH_PASSED},
        {"passed on the last retry", 3, 0, 3, 200, true, 200, HEALTH_PASSED},
        {"last retry passed, window open", 3, 500, 3, 200, true, 200,
         HEALTH_PROBE_AGAIN},
        {"inside the window", 3, 500, 2, 100, true, 300, HEALTH_PROBE_AGAIN},
        {"just before the window ends", 3, 500, 6, 100, true, 599,
         HEALTH_PROBE_AGAIN},
        {"window over", 3, 500, 7, 100, true, 600, HEALTH_PASSED},
        {"window outlives retries", 3, 500, 9, 100, true, 400,
         HEALTH_PROBE_AGAIN},
        {"failed inside the window", 3, 500, 3, 100, false, 300, HEALTH_FAILED},
        {"failed with retries left", 10, 500, 2, 0, false, 50, HEALTH_FAILED},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const decide_case_t *c = &cases[i];
        health_check_t hc;
        health_check_default(&hc);
        hc.retries = c->retries;
        hc.healthy_for_ms = c->healthy_for;
        health_verdict_t got =
            health_decide(&hc, c->probes, c->first_ok, c->last_ok, c->now);
        if (got != c->want) {
            print_error("case '%s': got %d, want %d\n", c->name, got, c->want);
        }
        assert_int_equal(got, c->want);
    }
}

static void
test_defaults(void **state)
{
    (void)state;
    health_check_t hc;
    memset(&hc, 0xab, sizeof hc);
    health_check_default(&hc);
    assert_int_equal(hc.kind, HEALTH_NONE);
    assert_null(hc.target);
    assert_int_equal(hc.timeout_ms, 5000);
    assert_int_equal(hc.interval_ms, 1000);
    assert_int_equal(hc.retries, 10);
    assert_int_equal(hc.healthy_for_ms, 0);
    hoist_error_t err = {0};
    assert_int_equal(health_run(&hc, NULL, &err), HOIST_OK);
}

/* --- tcp ------------------------------------------------------------ */

static void
test_tcp_listening(void **state)
{
    (void)state;
    int port = 0;
    int fd = s_loopback(AF_INET, true, &port);
    assert_true(fd >= 0);
    char target[64];
    snprintf(target, sizeof target, "127.0.0.1:%d", port);
    health_check_t hc = s_check(HEALTH_TCP, target, 1);
    hoist_error_t err = {0};
    assert_int_equal(health_run(&hc, NULL, &err), HOIST_OK);
    close(fd);
}

static void
test_tcp_closed(void **state)
{
    (void)state;
    char target[64], want[256];
    int port = s_closed_port(AF_INET);
    snprintf(target, sizeof target, "127.0.0.1:%d", port);
    snprintf(want, sizeof want,
             "health: tcp 127.0.0.1:%d: connection refused after 2 probes",
             port);
    health_check_t hc = s_check(HEALTH_TCP, target, 2);
    hoist_error_t err = {0};
    assert_int_equal(health_run(&hc, NULL, &err), HOIST_ERR_HEALTH);
    assert_int_equal(err.code, HOIST_ERR_HEALTH);
    assert_string_equal(err.msg, want);
}

static void
test_tcp_ipv6(void **state)
{
    (void)state;
    int port = 0;
    int fd = s_loopback(AF_INET6, true, &port);
    if (fd < 0) {
        skip(); /* no ::1 in this sandbox */
    }
    char target[64];
    snprintf(target, sizeof target, "[::1]:%d", port);
    health_check_t hc = s_check(HEALTH_TCP, target, 1);
    hoist_error_t err = {0};
    assert_int_equal(health_run(&hc, NULL, &err), HOIST_OK);
    close(fd);
    snprintf(target, sizeof target, "[::1]:%d", s_closed_port(AF_INET6));
    assert_int_equal(health_run(&hc, NULL, &err), HOIST_ERR_HEALTH);
    assert_contains(err.msg, "connection refused");
}

static void
test_tcp_bad_targets(void **state)
{
    (void)state;
    const char *bad[] = {
        "localhost",     "localhost:", "localhost:0", "localhost:65536",
        "localhost:80x", "::1:80",     "[::1]",       "a b:80",
        "user@host:80",  ":80",        "[]:80",       "host/x:80"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        health_check_t hc = s_check(HEALTH_TCP, (char *)bad[i], 5);
        hc.interval_ms = 1000;
        hoist_error_t err = {0};
        uint64_t t0 = monotime_ms();
        assert_int_equal(health_run(&hc, NULL, &err), HOIST_ERR_HEALTH);
        /* Malformed is final: no retries, no waiting. */
        assert_true(monotime_ms() - t0 < 500);
        assert_contains(err.msg, "is not HOST:PORT");
        assert_contains(err.msg, "after 1 probe");
    }
}

/* --- http ------------------------------------------------------------ */

/* A one-connection-at-a-time HTTP responder. Connection number i gets
 * status[i] (the last one repeats); status 0 reads the request and never
 * answers. */
typedef struct {
    int fd;
    int port;
    int status[4];
    int nstatus;
    size_t body_len;
    int served;
    pthread_t thread;
} responder_t;

/* Reads the request head from C (or until the peer goes away). */
static void
s_read_request(int c)
{
    char buf[4096];
    size_t n = 0;
    while (n < sizeof buf - 1) {
        ssize_t r = read(c, buf + n, sizeof buf - 1 - n);
        if (r <= 0) {
            return;
        }
        n += (size_t)r;
        buf[n] = '\0';
        if (strstr(buf, "\r\n\r\n")) {
            return;
        }
    }
}

/* Answers on C with STATUS and R's body; MSG_NOSIGNAL since the client
 * may hang up mid-body. */
static void
s_respond(const responder_t *r, int c, int status)
{
    char head[512];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d Test\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n%s\r\n",
                     status, r->body_len,
                     status == 302 ? "Location: /elsewhere\r\n" : "");
    send(c, head, (size_t)n, MSG_NOSIGNAL);
    char chunk[16384];
    memset(chunk, 'x', sizeof chunk);
    for (size_t sent = 0; sent < r->body_len;) {
        size_t k = r->body_len - sent < sizeof chunk ? r->body_len - sent
                                                     : sizeof chunk;
        ssize_t w = send(c, chunk, k, MSG_NOSIGNAL);
        if (w <= 0) {
            return;
        }
        sent += (size_t)w;
    }
}

/* The responder thread: serves until its socket is shut down. */
static void *
s_responder_main(void *arg)
{
    responder_t *r = arg;
    for (;;) {
        int c = accept(r->fd, NULL, NULL);
        if (c < 0) {
            if (errno == EINTR) {
                continue;
            }
            return NULL;
        }
        int i = r->served < r->nstatus ? r->served : r->nstatus - 1;
        r->served++;
        s_read_request(c);
        if (r->status[i] == 0) {
            s_read_request(c); /* until the client gives up */
        } else {
            s_respond(r, c, r->status[i]);
        }
        close(c);
    }
}

/* Starts R answering with the given statuses. */
static void
s_responder_start(responder_t *r, size_t body_len, int nstatus, ...)
{
    memset(r, 0, sizeof *r);
    r->fd = s_loopback(AF_INET, true, &r->port);
    assert_true(r->fd >= 0);
    va_list ap;
    va_start(ap, nstatus);
    for (int i = 0; i < nstatus && i < 4; i++) {
        r->status[i] = va_arg(ap, int);
    }
    va_end(ap);
    r->nstatus = nstatus;
    r->body_len = body_len;
    assert_int_equal(pthread_create(&r->thread, NULL, s_responder_main, r), 0);
}

/* Stops R: shutdown() wakes the blocked accept(). Returns how many
 * connections it served. */
static int
s_responder_stop(responder_t *r)
{
    shutdown(r->fd, SHUT_RDWR);
    pthread_join(r->thread, NULL);
    close(r->fd);
    return r->served;
}

/* Runs an http check of R's /healthz with RETRIES; fills ERR and URL. */
static hoist_err_t
s_http(const responder_t *r, uint32_t retries, char *url, size_t cap,
       hoist_error_t *err)
{
    snprintf(url, cap, "http://127.0.0.1:%d/healthz", r->port);
    health_check_t hc = s_check(HEALTH_HTTP, url, retries);
    memset(err, 0, sizeof *err);
    return health_run(&hc, NULL, err);
}

static void
test_http_200(void **state)
{
    (void)state;
    responder_t r;
    char url[128];
    hoist_error_t err;
    s_responder_start(&r, 2, 1, 200);
    assert_int_equal(s_http(&r, 3, url, sizeof url, &err), HOIST_OK);
    assert_int_equal(s_responder_stop(&r), 1);
}

static void
test_http_503(void **state)
{
    (void)state;
    responder_t r;
    char url[128], want[256];
    hoist_error_t err;
    s_responder_start(&r, 0, 1, 503);
    assert_int_equal(s_http(&r, 3, url, sizeof url, &err), HOIST_ERR_HEALTH);
    snprintf(want, sizeof want, "health: http %s returned 503 after 3 probes",
             url);
    assert_string_equal(err.msg, want);
    assert_int_equal(s_responder_stop(&r), 3);
}

static void
test_http_recovers(void **state)
{
    (void)state;
    responder_t r;
    char url[128];
    hoist_error_t err;
    s_responder_start(&r, 0, 3, 503, 503, 204);
    assert_int_equal(s_http(&r, 3, url, sizeof url, &err), HOIST_OK);
    assert_int_equal(s_responder_stop(&r), 3);
}

static void
test_http_redirect_not_followed(void **state)
{
    (void)state;
    responder_t r;
    char url[128];
    hoist_error_t err;
    /* Following the Location would reach the 200. */
    s_responder_start(&r, 0, 2, 302, 200);
    assert_int_equal(s_http(&r, 1, url, sizeof url, &err), HOIST_ERR_HEALTH);
    assert_contains(err.msg, "returned 302 after 1 probe");
    assert_int_equal(s_responder_stop(&r), 1);
}

static void
test_http_large_body(void **state)
{
    (void)state;
    responder_t r;
    char url[128];
    hoist_error_t err;
    /* The body is dropped, and cut short, without changing the verdict. */
    s_responder_start(&r, 4u << 20, 1, 200);
    assert_int_equal(s_http(&r, 1, url, sizeof url, &err), HOIST_OK);
    s_responder_stop(&r);
    s_responder_start(&r, 4u << 20, 1, 500);
    assert_int_equal(s_http(&r, 1, url, sizeof url, &err), HOIST_ERR_HEALTH);
    assert_contains(err.msg, "returned 500 after 1 probe");
    s_responder_stop(&r);
}

static void
test_http_ignores_proxy_env(void **state)
{
    (void)state;
    char proxy[64];
    snprintf(proxy, sizeof proxy, "http://127.0.0.1:%d",
             s_closed_port(AF_INET));
    setenv("http_proxy", proxy, 1);
    setenv("ALL_PROXY", proxy, 1);
    responder_t r;
    char url[128];
    hoist_error_t err;
    s_responder_start(&r, 0, 1, 200);
    hoist_err_t rc = s_http(&r, 1, url, sizeof url, &err);
    unsetenv("http_proxy");
    unsetenv("ALL_PROXY");
    if (rc != HOIST_OK) {
        print_error("%s\n", err.msg);
    }
    assert_int_equal(rc, HOIST_OK);
    assert_int_equal(s_responder_stop(&r), 1);
}

static void
test_http_timeout(void **state)
{
    (void)state;
    responder_t r;
    char url[128];
    s_responder_start(&r, 0, 1, 0);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/healthz", r.port);
    health_check_t hc = s_check(HEALTH_HTTP, url, 1);
    hc.timeout_ms = 200;
    hoist_error_t err = {0};
    uint64_t t0 = monotime_ms();
    assert_int_equal(health_run(&hc, NULL, &err), HOIST_ERR_HEALTH);
    uint64_t took = monotime_ms() - t0;
    assert_true(took >= 200);
    assert_true(took < 1500);
    assert_contains(err.msg, ": timed out after 200 ms after 1 probe");
    s_responder_stop(&r);
}

static void
test_http_closed_and_bad_scheme(void **state)
{
    (void)state;
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", s_closed_port(AF_INET));
    health_check_t hc = s_check(HEALTH_HTTP, url, 1);
    hoist_error_t err = {0};
    assert_int_equal(health_run(&hc, NULL, &err), HOIST_ERR_HEALTH);
    assert_contains(err.msg, "connection refused");
    hc.target = "file:///etc/hostname";
    assert_int_equal(health_run(&hc, NULL, &err), HOIST_ERR_HEALTH);
    assert_contains(err.msg, "health: http file:///etc/hostname: ");
}

/* --- commands --------------------------------------------------------- */

/* Writes DIR/check: it counts its runs in DIR/count and passes while
 * PASS_IF (a test(1) expression on $n) holds. */
static void
s_write_check(const char *dir, const char *pass_if)
{
    char script[512];
    snprintf(script, sizeof script,
             "#!/bin/sh\n"
             "n=$(cat count 2>/dev/null || echo 0); n=$((n + 1))\n"
             "echo $n > count\n"
             "if [ %s ]; then exit 0; fi\n"
             "echo \"probe $n failing\"\n"
             "exit 1\n",
             pass_if);
    char *path = tu_path(dir, "check");
    tu_write(path, script, (size_t)-1, 0755);
    free(path);
    path = tu_path(dir, "count");
    unlink(path);
    free(path);
}

/* How many times DIR/check ran. */
static int
s_count(const char *dir)
{
    char *path = tu_path(dir, "count");
    char *text = tu_read(path, NULL);
    int n = text ? atoi(text) : 0;
    free(text);
    free(path);
    return n;
}

static void
test_command_retries(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    hooks_cmd_t ctx = {.dir = dir};
    hoist_error_t err = {0};
    s_write_check(dir, "$n -ge 3");
    health_check_t hc = s_check(HEALTH_COMMAND, "./check", 3);
    assert_int_equal(health_run(&hc, &ctx, &err), HOIST_OK);
    assert_int_equal(s_count(dir), 3);
    s_write_check(dir, "$n -ge 3");
    hc.retries = 2;
    assert_int_equal(health_run(&hc, &ctx, &err), HOIST_ERR_HEALTH);
    assert_string_equal(err.msg, "health: command './check' exited 1 after 2 "
                                 "probes: probe 2 failing");
    assert_int_equal(s_count(dir), 2);
    tu_rmtree(dir);
}

static void
test_command_healthy_for_fails(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    hooks_cmd_t ctx = {.dir = dir};
    hoist_error_t err = {0};
    s_write_check(dir, "$n -le 1");
    health_check_t hc = s_check(HEALTH_COMMAND, "./check", 3);
    hc.healthy_for_ms = 300;
    assert_int_equal(health_run(&hc, &ctx, &err), HOIST_ERR_HEALTH);
    assert_contains(err.msg, "health: command './check' exited 1 after 2 "
                             "probes (healthy for ");
    assert_contains(err.msg, " of the required 300 ms): probe 2 failing");
    assert_int_equal(s_count(dir), 2);
    tu_rmtree(dir);
}

static void
test_command_healthy_for_passes(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    hooks_cmd_t ctx = {.dir = dir};
    hoist_error_t err = {0};
    s_write_check(dir, "$n -ge 1");
    health_check_t hc = s_check(HEALTH_COMMAND, "./check", 1);
    hc.healthy_for_ms = 200;
    uint64_t t0 = monotime_ms();
    assert_int_equal(health_run(&hc, &ctx, &err), HOIST_OK);
    assert_true(monotime_ms() - t0 >= 200);
    /* Probed through the window (at 0, ~50, ~100, ~150, ~200 ms when the
     * machine is idle): at least once at the start and once after it,
     * however slowly a loaded machine forks the probes. */
    assert_true(s_count(dir) >= 2);
    tu_rmtree(dir);
}

static void
test_command_context(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    const char *env[] = {"HOIST_APP=web", NULL};
    hooks_cmd_t ctx = {.dir = dir, .env = env};
    char cmd[4200];
    snprintf(cmd, sizeof cmd,
             "test \"$HOIST_APP\" = web && test \"$(pwd -P)\" = '%s'", dir);
    health_check_t hc = s_check(HEALTH_COMMAND, cmd, 1);
    hoist_error_t err = {0};
    assert_int_equal(health_run(&hc, &ctx, &err), HOIST_OK);
    ctx.env = NULL;
    assert_int_equal(health_run(&hc, &ctx, &err), HOIST_ERR_HEALTH);
    tu_rmtree(dir);
}

static void
test_command_timeout(void **state)
{
    (void)state;
    health_check_t hc = s_check(HEALTH_COMMAND, "sleep 5", 1);
    hc.timeout_ms = 100;
    hoist_error_t err = {0};
    uint64_t t0 = monotime_ms();
    assert_int_equal(health_run(&hc, NULL, &err), HOIST_ERR_HEALTH);
    assert_true(monotime_ms() - t0 < 1500);
    assert_string_equal(err.msg, "health: command 'sleep 5' timed out after "
                                 "100 ms after 1 probe");
}

static void
test_command_cannot_start(void **state)
{
    (void)state;
    hooks_cmd_t ctx = {.dir = "/nonexistent/hoist"};
    health_check_t hc = s_check(HEALTH_COMMAND, "true", 5);
    hc.interval_ms = 1000;
    hoist_error_t err = {0};
    uint64_t t0 = monotime_ms();
    assert_int_equal(health_run(&hc, &ctx, &err), HOIST_ERR_HEALTH);
    assert_true(monotime_ms() - t0 < 500);
    assert_contains(err.msg, "cannot enter directory /nonexistent/hoist");
    assert_contains(err.msg, "after 1 probe");
}

int
main(void)
{
    /* A regression that hangs should fail in a minute. */
    alarm(60);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decide_table),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_tcp_listening),
        cmocka_unit_test(test_tcp_closed),
        cmocka_unit_test(test_tcp_ipv6),
        cmocka_unit_test(test_tcp_bad_targets),
        cmocka_unit_test(test_http_200),
        cmocka_unit_test(test_http_503),
        cmocka_unit_test(test_http_recovers),
        cmocka_unit_test(test_http_redirect_not_followed),
        cmocka_unit_test(test_http_large_body),
        cmocka_unit_test(test_http_ignores_proxy_env),
        cmocka_unit_test(test_http_timeout),
        cmocka_unit_test(test_http_closed_and_bad_scheme),
        cmocka_unit_test(test_command_retries),
        cmocka_unit_test(test_command_healthy_for_fails),
        cmocka_unit_test(test_command_healthy_for_passes),
        cmocka_unit_test(test_command_context),
        cmocka_unit_test(test_command_timeout),
        cmocka_unit_test(test_command_cannot_start),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
