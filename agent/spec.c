/*
 * spec: reads hoist.yml, the deploy spec that travels signed inside each
 * artifact, into a spec_t.
 *
 * The file is strict on purpose: a misspelled key ("healthy-for") or a
 * second health probe would otherwise be ignored and the deploy would run
 * with a check nobody meant. Every refusal names the file, the line and
 * the dotted key. The YAML work (size cap, aliases, duplicate keys, typed
 * values) is yamlfile's; this module knows the keys and what they mean.
 */
#include "spec.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "duration.h"
#include "yamlfile.h"

/* hoist.yml holds a few commands and numbers; anything near this size is
 * not a deploy spec, and the cap bounds what parsing can cost. */
#define S_MAX_BYTES       (64 * 1024)
#define S_HOOK_TIMEOUT_MS (5 * 60 * 1000ULL)
#define S_MAX_RETRIES     10000
/* Upper bounds: a deploy holds the agent's lock, so no spec may keep it
 * for days by accident (or by a hostile signer's design). */
#define S_HOUR_MS          (3600 * 1000ULL)
#define S_HOOK_TIMEOUT_MAX (24 * S_HOUR_MS)
#define S_PROBE_MAX        (10 * 60 * 1000ULL)
#define S_HEALTHY_FOR_MAX  S_HOUR_MS
#define S_HEALTH_TOTAL_MAX (6 * S_HOUR_MS)

static const char *const s_root_keys[] = {"hooks", "health", NULL};
enum { S_ROOT_HOOKS, S_ROOT_HEALTH };

/* The order matches the command slots in s_hooks; timeout comes last. */
static const char *const s_hook_keys[] = {
    "before_activate", "activate", "after_rollback", "failover", "failback",
    "timeout",         NULL};
enum { S_HOOK_TIMEOUT = 5 };

/* The three probes come first, in the order of s_probe_kinds. */
static const char *const s_health_keys[] = {
    "command",  "tcp",     "http",        "timeout",
    "interval", "retries", "healthy_for", NULL};
enum {
    S_HEALTH_TIMEOUT = 3,
    S_HEALTH_INTERVAL,
    S_HEALTH_RETRIES,
    S_HEALTH_HEALTHY_FOR
};
static const health_kind_t s_probe_kinds[] = {HEALTH_COMMAND, HEALTH_TCP,
                                              HEALTH_HTTP};

/* Reads PAIR as a duration of at most MAX. */
static hoist_err_t
s_bounded(yamlfile_t *yf, const yamlfile_pair_t *pair, uint64_t max,
          uint64_t *ms, hoist_error_t *err)
{
    uint64_t v = 0;
    char buf[32];
    hoist_err_t rc = yamlfile_duration(yf, pair, &v, err);
    if (rc != HOIST_OK) {
        return rc;
    }
    if (v > max) {
        return yamlfile_error(yf, pair, err, "must be at most %s",
                              duration_format(max, buf, sizeof buf));
    }
    *ms = v;
    return HOIST_OK;
}

/* Reads PAIR as a time limit: more than 0 (a zero limit would fail every
 * hook or probe before it starts) and at most MAX. */
static hoist_err_t
s_time_limit(yamlfile_t *yf, const yamlfile_pair_t *pair, uint64_t max,
             uint64_t *ms, hoist_error_t *err)
{
    uint64_t v = 0;
    hoist_err_t rc = s_bounded(yf, pair, max, &v, err);
    if (rc != HOIST_OK) {
        return rc;
    }
    if (v == 0) {
        return yamlfile_error(yf, pair, err,
                              "a time limit must be more than 0, like 5s");
    }
    *ms = v;
    return HOIST_OK;
}

/* Reads the hooks mapping into SPEC's commands and hook timeout. */
static hoist_err_t
s_hooks(yamlfile_t *yf, const yamlfile_pair_t *hooks, spec_t *spec,
        hoist_error_t *err)
{
    char **slots[] = {&spec->before_activate, &spec->activate,
                      &spec->after_rollback, &spec->failover, &spec->failback};
    yaml_node_t *map = NULL;
    hoist_err_t rc = yamlfile_mapping(yf, hooks, &map, err);
    yamlfile_pair_t p;
    for (size_t i = 0;
         rc == HOIST_OK && yamlfile_next(yf, map, "hooks", &i, &p);) {
        int k = yamlfile_key(yf, &p, s_hook_keys, err);
        if (k < 0) {
            rc = HOIST_ERR_SPEC;
        } else if (k == S_HOOK_TIMEOUT) {
            rc = s_time_limit(yf, &p, S_HOOK_TIMEOUT_MAX,
                              &spec->hook_timeout_ms, err);
        } else {
            rc = yamlfile_string(yf, &p, slots[k], err);
        }
    }
    return rc;
}

/* Why TARGET is not "HOST:PORT" with port 1..65535, or NULL if it is.
 * An IPv6 address must be bracketed, or its colons would be ambiguous. */
static const char *
s_tcp_problem(const char *t)
{
    const char *colon = NULL;
    if (t[0] == '[') {
        const char *close = strchr(t, ']');
        size_t n = close ? (size_t)(close - t - 1) : 0;
        if (n == 0 || strspn(t + 1, "0123456789abcdefABCDEF:.") != n) {
            return "an IPv6 address goes in brackets, like [::1]:80";
        }
        colon = close + 1;
    } else if (strstr(t, "://")) {
        return "a tcp check takes HOST:PORT, not a URL";
    } else {
        colon = strchr(t, ':');
        if (!colon) {
            return "the port is missing";
        }
        size_t n = (size_t)(colon - t);
        if (strchr(colon + 1, ':')) {
            return "an IPv6 address goes in brackets, like [::1]:80";
        }
        if (n == 0 ||
            strspn(t, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                      "0123456789.-_") != n) {
            return "the host must be a name or an address";
        }
    }
    if (*colon != ':') {
        return "the port is missing";
    }
    size_t digits = strspn(colon + 1, "0123456789");
    long port = digits >= 1 && digits <= 5 ? strtol(colon + 1, NULL, 10) : 0;
    if (colon[1 + digits] != '\0' || port < 1 || port > 65535) {
        return "the port must be a number from 1 to 65535";
    }
    return NULL;
}

/* Why URL is not an http:// or https:// URL with a host, or NULL. */
static const char *
s_http_problem(const char *url)
{
    const char *rest = NULL;
    if (strncmp(url, "http://", 7) == 0) {
        rest = url + 7;
    } else if (strncmp(url, "https://", 8) == 0) {
        rest = url + 8;
    } else {
        return "it must start with http:// or https://";
    }
    if (*rest == '\0' || strchr("/?#", *rest)) {
        return "the host is missing";
    }
    for (const char *c = url; *c; c++) {
        if ((unsigned char)*c <= ' ' || *c == 0x7f) {
            return "a URL cannot contain spaces or control characters";
        }
    }
    return NULL;
}

/* Reads the probe of index K in s_health_keys (command, tcp or http) into
 * HC, refusing a second probe and a malformed target. */
static hoist_err_t
s_probe(yamlfile_t *yf, const yamlfile_pair_t *p, int k, health_check_t *hc,
        hoist_error_t *err)
{
    if (hc->kind != HEALTH_NONE) {
        return yamlfile_error(yf, p, err,
                              "only one of command, tcp or http may be set, "
                              "and %s is set already",
                              s_health_keys[hc->kind - HEALTH_COMMAND]);
    }
    char *target = NULL;
    hoist_err_t rc = yamlfile_string(yf, p, &target, err);
    if (rc != HOIST_OK) {
        return rc;
    }
    const char *why = NULL;
    if (s_probe_kinds[k] == HEALTH_TCP && (why = s_tcp_problem(target))) {
        rc = yamlfile_error(yf, p, err,
                            "expected HOST:PORT like 127.0.0.1:8080, got '%s' "
                            "(%s)",
                            target, why);
    } else if (s_probe_kinds[k] == HEALTH_HTTP &&
               (why = s_http_problem(target))) {
        rc = yamlfile_error(yf, p, err, "expected a URL, got '%s' (%s)", target,
                            why);
    }
    if (rc != HOIST_OK) {
        free(target);
        return rc;
    }
    hc->kind = s_probe_kinds[k];
    hc->target = target;
    return HOIST_OK;
}

/* Reads one key of the health mapping into HC. */
static hoist_err_t
s_health_key(yamlfile_t *yf, const yamlfile_pair_t *p, health_check_t *hc,
             hoist_error_t *err)
{
    int k = yamlfile_key(yf, p, s_health_keys, err);
    switch (k) {
    case -1:
        return HOIST_ERR_SPEC;
    case S_HEALTH_TIMEOUT:
        return s_time_limit(yf, p, S_PROBE_MAX, &hc->timeout_ms, err);
    case S_HEALTH_INTERVAL:
        return s_bounded(yf, p, S_PROBE_MAX, &hc->interval_ms, err);
    case S_HEALTH_RETRIES:
        return yamlfile_uint(yf, p, 1, S_MAX_RETRIES, &hc->retries, err);
    case S_HEALTH_HEALTHY_FOR:
        return s_bounded(yf, p, S_HEALTHY_FOR_MAX, &hc->healthy_for_ms, err);
    default:
        return s_probe(yf, p, k, hc, err);
    }
}

/* Reads the health mapping into HC. A health section must say what to
 * probe: timings without a probe are a mistake, not "no check". */
static hoist_err_t
s_health(yamlfile_t *yf, const yamlfile_pair_t *health, health_check_t *hc,
         hoist_error_t *err)
{
    yaml_node_t *map = NULL;
    hoist_err_t rc = yamlfile_mapping(yf, health, &map, err);
    yamlfile_pair_t p;
    for (size_t i = 0;
         rc == HOIST_OK && yamlfile_next(yf, map, "health", &i, &p);) {
        rc = s_health_key(yf, &p, hc, err);
    }
    if (rc == HOIST_OK && hc->kind == HEALTH_NONE) {
        rc = yamlfile_error(yf, health, err,
                            "needs one of command, tcp or http (or remove "
                            "the health section for no check)");
    }
    /* The longest the whole check can take: every probe timing out, then
     * the stability window with one more probe in flight. */
    uint64_t worst =
        (uint64_t)hc->retries * (hc->timeout_ms + hc->interval_ms) +
        hc->healthy_for_ms + hc->timeout_ms;
    if (rc == HOIST_OK && worst > S_HEALTH_TOTAL_MAX) {
        rc = yamlfile_error(yf, health, err,
                            "could take up to %llu minutes (retries x "
                            "(timeout + interval) + healthy_for); keep it "
                            "under 6h",
                            (unsigned long long)(worst / 60000));
    }
    return rc;
}

/* Reads the document's root mapping into SPEC. */
static hoist_err_t
s_root(yamlfile_t *yf, spec_t *spec, hoist_error_t *err)
{
    yaml_node_t *root = NULL;
    hoist_err_t rc = yamlfile_root(yf, &root, err);
    yamlfile_pair_t p;
    for (size_t i = 0; rc == HOIST_OK && yamlfile_next(yf, root, "", &i, &p);) {
        switch (yamlfile_key(yf, &p, s_root_keys, err)) {
        case S_ROOT_HOOKS:
            rc = s_hooks(yf, &p, spec, err);
            break;
        case S_ROOT_HEALTH:
            rc = s_health(yf, &p, &spec->health, err);
            break;
        default:
            rc = HOIST_ERR_SPEC;
            break;
        }
    }
    return rc;
}

spec_t *
spec_parse(const char *buf, size_t len, const char *name, hoist_error_t *err)
{
    yamlfile_t *yf =
        yamlfile_load(buf, len, S_MAX_BYTES, name, HOIST_ERR_SPEC, err);
    if (!yf) {
        return NULL;
    }
    spec_t *spec = calloc(1, sizeof *spec);
    if (!spec) {
        error_set(err, HOIST_ERR_NOMEM, "%s: out of memory", name);
        goto out;
    }
    spec->hook_timeout_ms = S_HOOK_TIMEOUT_MS;
    health_check_default(&spec->health);
    if (s_root(yf, spec, err) != HOIST_OK) {
        spec_destroy(&spec);
    }
out:
    yamlfile_destroy(&yf);
    return spec;
}

/* Checks that the open FD at PATH is a regular file of at most
 * S_MAX_BYTES. */
static hoist_err_t
s_check_file(int fd, const char *path, hoist_error_t *err)
{
    struct stat st;
    if (fstat(fd, &st) != 0) {
        return error_errno(err, HOIST_ERR_IO, errno, "stat %s", path);
    }
    if (!S_ISREG(st.st_mode)) {
        return error_set(err, HOIST_ERR_SPEC,
                         "%s is not a regular file; the deploy spec must be "
                         "one",
                         path);
    }
    if (st.st_size > S_MAX_BYTES) {
        return error_set(err, HOIST_ERR_SPEC,
                         "%s is %lld bytes, larger than the 64 KiB limit of "
                         "a deploy spec",
                         path, (long long)st.st_size);
    }
    return HOIST_OK;
}

/* Opens PATH for reading as a regular file of at most S_MAX_BYTES; returns
 * the descriptor or -1. O_NOFOLLOW refuses a symlink planted in the
 * artifact to make the agent read some other file; O_NONBLOCK keeps a FIFO
 * from hanging the open until s_check_file turns it away. */
static int
s_open(const char *path, hoist_error_t *err)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0 && errno == ELOOP) {
        error_set(err, HOIST_ERR_SPEC,
                  "%s is a symbolic link; the deploy spec must be a "
                  "regular file",
                  path);
        return -1;
    }
    if (fd < 0) {
        error_errno(err, error_from_errno(errno), errno, "open %s", path);
        return -1;
    }
    if (s_check_file(fd, path, err) != HOIST_OK) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Reads all of FD into BUF (S_MAX_BYTES + 1 long); sets *LEN. One byte
 * more than the cap is asked for, so a file that grew after fstat is
 * still caught. */
static hoist_err_t
s_read_all(int fd, const char *path, char *buf, size_t *len, hoist_error_t *err)
{
    size_t got = 0;
    while (got <= S_MAX_BYTES) {
        ssize_t n = read(fd, buf + got, S_MAX_BYTES + 1 - got);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return error_errno(err, HOIST_ERR_IO, errno, "read %s", path);
        }
        if (n == 0) {
            break;
        }
        got += (size_t)n;
    }
    if (got > S_MAX_BYTES) {
        return error_set(err, HOIST_ERR_SPEC,
                         "%s grew past the 64 KiB limit of a deploy spec "
                         "while it was read",
                         path);
    }
    *len = got;
    return HOIST_OK;
}

spec_t *
spec_load(const char *path, hoist_error_t *err)
{
    spec_t *spec = NULL;
    size_t len = 0;
    char *buf = NULL;
    int fd = s_open(path, err);
    if (fd < 0) {
        return NULL;
    }
    buf = malloc(S_MAX_BYTES + 1);
    if (!buf) {
        error_set(err, HOIST_ERR_NOMEM, "%s: out of memory", path);
        goto out;
    }
    if (s_read_all(fd, path, buf, &len, err) == HOIST_OK) {
        spec = spec_parse(buf, len, path, err);
    }
out:
    free(buf);
    close(fd);
    return spec;
}

void
spec_destroy(spec_t **p)
{
    if (!p || !*p) {
        return;
    }
    spec_t *spec = *p;
    free(spec->before_activate);
    free(spec->activate);
    free(spec->after_rollback);
    free(spec->failover);
    free(spec->failback);
    free(spec->health.target);
    free(spec);
    *p = NULL;
}
