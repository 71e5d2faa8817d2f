/*
 * health: probes a release after activation and decides when it is
 * healthy.
 *
 * health_decide is the whole policy and takes its inputs, the clock
 * included, as arguments; health_run only probes, asks, and sleeps on the
 * monotonic clock (a wall-clock step must not stretch or cut a check).
 * A probe is a command (through hooks_run), a TCP connect, or an HTTP GET;
 * the last two use libcurl so that names, IPv6 and timeouts behave the same
 * way in both.
 */
#include "health.h"
#include "monotime.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#define HEALTH_DEFAULT_TIMEOUT_MS  5000
#define HEALTH_DEFAULT_INTERVAL_MS 1000
#define HEALTH_DEFAULT_RETRIES     10
/* Body bytes read from a health endpoint before the transfer is cut: the
 * status line decides, the body is only drained so the server is not
 * reset mid-write. */
#define HEALTH_BODY_MAX ((size_t)64 * 1024)
/* Lines of a failing command's output quoted in the error message. */
#define HEALTH_TAIL_LINES 3

/* What one probe found: WHAT names the failure ("tcp 127.0.0.1:9:
 * connection refused"), TAIL holds a command's last output lines, FATAL
 * marks a failure that no retry can mend (a malformed target). */
typedef struct {
    char what[768];
    char tail[768];
    bool fatal;
} health_probe_t;

/* curl_global_init is not thread-safe before libcurl 7.84 and must run
 * before any other thread uses libcurl, so it runs exactly once per
 * process through pthread_once; its result is kept for every later caller.
 * These two are the only process-wide state of the module, and
 * curl_global_cleanup is deliberately never called: the agent may probe
 * until it exits. */
static pthread_once_t s_curl_once = PTHREAD_ONCE_INIT;
static CURLcode s_curl_rc = CURLE_FAILED_INIT;

/* The pthread_once routine. */
static void
s_curl_global_init(void)
{
    s_curl_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

void
health_check_default(health_check_t *hc)
{
    memset(hc, 0, sizeof *hc);
    hc->kind = HEALTH_NONE;
    hc->timeout_ms = HEALTH_DEFAULT_TIMEOUT_MS;
    hc->interval_ms = HEALTH_DEFAULT_INTERVAL_MS;
    hc->retries = HEALTH_DEFAULT_RETRIES;
    hc->healthy_for_ms = 0;
}

health_verdict_t
health_decide(const health_check_t *hc, uint32_t probes, uint64_t first_ok_ms,
              bool last_ok, uint64_t now_ms)
{
    /* retries counts probes, and even 0 allows the first one. */
    uint32_t retries = hc->retries ? hc->retries : 1;
    if (probes == 0) {
        return HEALTH_PROBE_AGAIN;
    }
    if (first_ok_ms == UINT64_MAX) {
        return probes >= retries ? HEALTH_FAILED : HEALTH_PROBE_AGAIN;
    }
    /* Once it passed, every probe must pass until the window is over. */
    if (!last_ok) {
        return HEALTH_FAILED;
    }
    uint64_t healthy = now_ms > first_ok_ms ? now_ms - first_ok_ms : 0;
    return healthy >= hc->healthy_for_ms ? HEALTH_PASSED : HEALTH_PROBE_AGAIN;
}

/* HC's per-probe time limit; 0 would mean "none" to libcurl, and a probe
 * must never wait forever. */
static uint64_t
s_timeout(const health_check_t *hc)
{
    return hc->timeout_ms ? hc->timeout_ms : HEALTH_DEFAULT_TIMEOUT_MS;
}

/* Sleeps until MS on the monotonic clock, through signals. */
static void
s_sleep_until(uint64_t ms)
{
    struct timespec ts = {.tv_sec = (time_t)(ms / 1000),
                          .tv_nsec = (long)(ms % 1000) * 1000000};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) ==
           EINTR) {
    }
}

/* Copies at most the last few lines of S (LEN bytes) into DST on one
 * line: newlines become "; ", other control bytes "?", since the text ends
 * up in a one-line error message shown on terminals. */
static void
s_flatten(char *dst, size_t cap, const char *s, size_t len)
{
    size_t o = 0;
    while (len > 0 && (s[len - 1] == '\n' || s[len - 1] == '\r')) {
        len--;
    }
    for (size_t i = 0; i < len && o + 3 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n') {
            dst[o++] = ';';
            dst[o++] = ' ';
        } else {
            dst[o++] = c < 0x20 || c == 0x7f ? '?' : (char)c;
        }
    }
    dst[o] = '\0';
}

/* Probes by running HC's command with CTX's directory, environment and
 * user, bounded by HC's timeout. */
static bool
s_probe_command(const health_check_t *hc, const hooks_cmd_t *ctx,
                health_probe_t *pr)
{
    hooks_cmd_t cmd = {0};
    if (ctx) {
        cmd = *ctx;
    }
    if (!cmd.dir) {
        cmd.dir = "/";
    }
    cmd.command = hc->target;
    cmd.timeout_ms = s_timeout(hc);
    hooks_result_t res = {0};
    hoist_error_t e = {0};
    hoist_err_t rc = hooks_run(&cmd, &res, &e);
    if (rc != HOIST_OK) {
        /* hooks' message already quotes the command: "'./check' exited
         * 1". A hook that could not even start will not start next time
         * either. */
        snprintf(pr->what, sizeof pr->what, "command %.700s", e.msg);
        pr->fatal = rc != HOIST_ERR_HOOK && rc != HOIST_ERR_TIMEOUT;
        const char *tail = hooks_result_tail(&res, HEALTH_TAIL_LINES);
        s_flatten(pr->tail, sizeof pr->tail, tail, strlen(tail));
    }
    hooks_result_clear(&res);
    return rc == HOIST_OK;
}

/* True if S is a usable host name or IPv4 address (letters, digits, '.',
 * '-', '_'), or, when BRACKETED, an IPv6 address. Anything else could
 * change the meaning of the URL built from it. */
static bool
s_host_ok(const char *s, size_t len, bool bracketed)
{
    if (len == 0) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        bool ok = isalnum(c) || c == '.' ||
                  (bracketed ? c == ':' : (c == '-' || c == '_'));
        if (!ok) {
            return false;
        }
    }
    return true;
}

/* Turns a tcp target "HOST:PORT" or "[V6]:PORT" into the URL libcurl
 * connects to. Returns false when the target is malformed. */
static bool
s_tcp_url(const char *target, char *url, size_t cap)
{
    const char *colon = strrchr(target, ':');
    if (!colon) {
        return false;
    }
    const char *host = target;
    size_t hlen = (size_t)(colon - target);
    bool v6 = hlen >= 2 && host[0] == '[' && host[hlen - 1] == ']';
    if (!(v6 ? s_host_ok(host + 1, hlen - 2, true)
             : s_host_ok(host, hlen, false))) {
        return false;
    }
    char *end = NULL;
    errno = 0;
    unsigned long port = strtoul(colon + 1, &end, 10);
    if (!isdigit((unsigned char)colon[1]) || *end || errno || port == 0 ||
        port > 65535) {
        return false;
    }
    int n = snprintf(url, cap, "http://%.*s:%lu/", (int)hlen, host, port);
    return n > 0 && (size_t)n < cap;
}

/* Write callback: counts and drops the body, and stops the transfer once
 * HEALTH_BODY_MAX bytes came, so a streaming endpoint costs nothing. */
static size_t
s_discard(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    (void)ptr;
    size_t *seen = userdata;
    *seen += size * nmemb;
    return *seen > HEALTH_BODY_MAX ? 0 : size * nmemb;
}

/* Copies the English sentence S with its first letter in lower case, to
 * read well after a colon: "connection refused". */
static void
s_lower_first(char *dst, size_t cap, const char *s)
{
    snprintf(dst, cap, "%s", s);
    if (isupper((unsigned char)dst[0]) && islower((unsigned char)dst[1])) {
        dst[0] = (char)tolower((unsigned char)dst[0]);
    }
}

/* Names why the transfer on H failed with RC: the system's reason when
 * there is one ("connection refused"), else libcurl's. */
static void
s_curl_reason(CURL *h, CURLcode rc, const char *errbuf, uint64_t timeout_ms,
              char *dst, size_t cap)
{
    long oserr = 0;
    curl_easy_getinfo(h, CURLINFO_OS_ERRNO, &oserr);
    if (rc == CURLE_OPERATION_TIMEDOUT) {
        snprintf(dst, cap, "timed out after %llu ms",
                 (unsigned long long)timeout_ms);
    } else if (oserr != 0 && strerrordesc_np((int)oserr)) {
        s_lower_first(dst, cap, strerrordesc_np((int)oserr));
    } else {
        s_lower_first(dst, cap, errbuf[0] ? errbuf : curl_easy_strerror(rc));
    }
}

/* Sets the options every probe shares on H. */
static void
s_curl_setup(CURL *h, const char *url, uint64_t timeout_ms, char *errbuf)
{
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    /* No SIGALRM for name lookups: the agent's signals are its own. */
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    /* A check of 127.0.0.1 must not go through $http_proxy. */
    curl_easy_setopt(h, CURLOPT_PROXY, "");
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    /* A redirect to a healthy page does not make this one healthy. */
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "hoist-agent health check");
}

/* Probes URL with libcurl: a connect only (KIND "tcp", named by LABEL) or
 * a GET that must answer 2xx. Fills PR on failure. */
static bool
s_probe_curl(const health_check_t *hc, const char *kind, const char *label,
             const char *url, health_probe_t *pr)
{
    pthread_once(&s_curl_once, s_curl_global_init);
    CURL *h = s_curl_rc == CURLE_OK ? curl_easy_init() : NULL;
    if (!h) {
        snprintf(pr->what, sizeof pr->what, "%s %s: libcurl did not start",
                 kind, label);
        return false;
    }
    char errbuf[CURL_ERROR_SIZE] = "";
    size_t seen = 0;
    bool connect_only = strcmp(kind, "tcp") == 0;
    s_curl_setup(h, url, s_timeout(hc), errbuf);
    curl_easy_setopt(h, CURLOPT_CONNECT_ONLY, connect_only ? 1L : 0L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, s_discard);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &seen);
    CURLcode rc = curl_easy_perform(h);
    long code = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    bool cut = rc == CURLE_WRITE_ERROR && seen > HEALTH_BODY_MAX;
    bool ok = (rc == CURLE_OK || cut) &&
              (connect_only || (code >= 200 && code <= 299));
    if (!ok && (rc == CURLE_OK || cut)) {
        snprintf(pr->what, sizeof pr->what, "%s %s returned %ld", kind, label,
                 code);
    } else if (!ok) {
        char why[512];
        s_curl_reason(h, rc, errbuf, s_timeout(hc), why, sizeof why);
        snprintf(pr->what, sizeof pr->what, "%s %s: %s", kind, label, why);
    }
    curl_easy_cleanup(h);
    return ok;
}

/* Runs one probe of HC. Returns true when it passed; fills PR when not. */
static bool
s_probe(const health_check_t *hc, const hooks_cmd_t *ctx, health_probe_t *pr)
{
    memset(pr, 0, sizeof *pr);
    switch (hc->kind) {
    case HEALTH_COMMAND:
        return s_probe_command(hc, ctx, pr);
    case HEALTH_TCP: {
        char url[600];
        if (!s_tcp_url(hc->target, url, sizeof url)) {
            snprintf(pr->what, sizeof pr->what,
                     "tcp target '%.200s' is not HOST:PORT ([ADDR]:PORT for "
                     "IPv6)",
                     hc->target);
            pr->fatal = true;
            return false;
        }
        return s_probe_curl(hc, "tcp", hc->target, url, pr);
    }
    case HEALTH_HTTP:
        return s_probe_curl(hc, "http", hc->target, hc->target, pr);
    case HEALTH_NONE:
        break;
    }
    return true;
}

/* Sets the HOIST_ERR_HEALTH error for a check that failed on probe number
 * PROBES, described by PR; FIRST_OK_MS and NOW_MS tell whether it failed
 * inside the healthy_for window. */
static hoist_err_t
s_fail(const health_check_t *hc, const health_probe_t *pr, uint32_t probes,
       uint64_t first_ok_ms, uint64_t now_ms, hoist_error_t *err)
{
    char window[160] = "";
    if (first_ok_ms != UINT64_MAX) {
        snprintf(window, sizeof window,
                 " (healthy for %llu ms of the required %llu ms)",
                 (unsigned long long)(now_ms - first_ok_ms),
                 (unsigned long long)hc->healthy_for_ms);
    }
    return error_set(err, HOIST_ERR_HEALTH, "health: %s after %u probe%s%s%s%s",
                     pr->what, probes, probes == 1 ? "" : "s", window,
                     pr->tail[0] ? ": " : "", pr->tail);
}

hoist_err_t
health_run(const health_check_t *hc, const hooks_cmd_t *ctx, hoist_error_t *err)
{
    if (hc->kind == HEALTH_NONE) {
        return HOIST_OK;
    }
    uint64_t start = monotime_ms(), first_ok = UINT64_MAX;
    health_probe_t pr;
    for (uint32_t probes = 1;; probes++) {
        bool ok = s_probe(hc, ctx, &pr);
        uint64_t now = monotime_ms() - start;
        if (ok && first_ok == UINT64_MAX) {
            first_ok = now;
        }
        health_verdict_t v = health_decide(hc, probes, first_ok, ok, now);
        if (v == HEALTH_PASSED) {
            return HOIST_OK;
        }
        if (v == HEALTH_FAILED || pr.fatal) {
            return s_fail(hc, &pr, probes, first_ok, now, err);
        }
        s_sleep_until(monotime_ms() + hc->interval_ms);
    }
}
