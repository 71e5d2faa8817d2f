/*
 * conf: see conf.h. Values are written double-quoted; every value is
 * restricted to characters that need no escaping inside double quotes,
 * so formatting is plain string assembly and parsing the result gives
 * back the same conf_t.
 */
#include "conf.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "atomicfile.h"
#include "curve.h"
#include "yamlfile.h"

static const char *const s_keys[] = {
    "controller", "server_key",      "env", "name", "user",
    "tags",       "next_server_key", NULL};
enum {
    K_CONTROLLER,
    K_SERVER_KEY,
    K_ENV,
    K_NAME,
    K_USER,
    K_TAGS,
    K_NEXT_SERVER_KEY
};

static const char s_tag_key_chars[] = "abcdefghijklmnopqrstuvwxyz0123456789_.-";
static const char s_tag_value_chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.:/@+-";

/* True when S is 1..MAX characters, all from ALLOWED. */
static bool
s_only(const char *s, const char *allowed, size_t max)
{
    size_t n = strlen(s);
    return n > 0 && n <= max && strspn(s, allowed) == n;
}

bool
conf_endpoint_valid(const char *s)
{
    if (!s || strncmp(s, "tcp://", 6) != 0 || strlen(s) > CONF_ENDPOINT_MAX) {
        return false;
    }
    for (const char *p = s; *p; p++) {
        if (!isgraph((unsigned char)*p) || *p == '"' || *p == '\\') {
            return false;
        }
    }
    const char *colon = strrchr(s + 6, ':');
    if (!colon || colon == s + 6) {
        return false;
    }
    char *end = NULL;
    errno = 0;
    long port = strtol(colon + 1, &end, 10);
    return errno == 0 && *end == '\0' && isdigit((unsigned char)colon[1]) &&
           port >= 1 && port <= 65535;
}

bool
conf_key_valid(const char *s)
{
    char canonical[CURVE_KEY_Z85_LEN + 1];
    return curve_key_canonical(s, canonical);
}

static bool
s_user_valid(const char *s)
{
    static const char chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrst"
                                "uvwxyz0123456789_.-$";
    return s_only(s, chars, CONF_USER_MAX) && s[0] != '-';
}

hoist_err_t
conf_tag_parse(const char *kv, conf_tag_t *out, hoist_error_t *err)
{
    const char *eq = strchr(kv, '=');
    if (!eq) {
        return error_set(err, HOIST_ERR_USAGE,
                         "tag '%.200s' is not KEY=VALUE (like site=fra1)", kv);
    }
    size_t klen = (size_t)(eq - kv);
    char key[CONF_TAG_KEY_MAX + 1];
    if (klen == 0 || klen > CONF_TAG_KEY_MAX) {
        return error_set(err, HOIST_ERR_USAGE,
                         "tag '%.200s': the key must be 1 to %d characters", kv,
                         CONF_TAG_KEY_MAX);
    }
    memcpy(key, kv, klen);
    key[klen] = '\0';
    if (!s_only(key, s_tag_key_chars, CONF_TAG_KEY_MAX)) {
        return error_set(err, HOIST_ERR_USAGE,
                         "tag '%.200s': keys use a-z 0-9 _ . - only", kv);
    }
    if (!s_only(eq + 1, s_tag_value_chars, CONF_TAG_VALUE_MAX)) {
        return error_set(err, HOIST_ERR_USAGE,
                         "tag '%.200s': values are 1 to %d characters of "
                         "A-Z a-z 0-9 _ . : / @ + -",
                         kv, CONF_TAG_VALUE_MAX);
    }
    snprintf(out->key, sizeof out->key, "%s", key);
    snprintf(out->value, sizeof out->value, "%s", eq + 1);
    return HOIST_OK;
}

hoist_err_t
conf_check(const conf_t *c, hoist_error_t *err)
{
    if (!conf_endpoint_valid(c->controller)) {
        return error_set(err, HOIST_ERR_USAGE,
                         "controller '%.300s' is not an endpoint like "
                         "tcp://controller.example:7600",
                         c->controller);
    }
    if (!conf_key_valid(c->server_key)) {
        return error_set(err, HOIST_ERR_USAGE,
                         "server_key is not a CURVE public key (40 "
                         "characters of Z85)");
    }
    if (c->next_server_key[0] && !conf_key_valid(c->next_server_key)) {
        return error_set(err, HOIST_ERR_USAGE,
                         "next_server_key is not a CURVE public key (40 "
                         "characters of Z85)");
    }
    if (!manifest_name_valid(c->env) || !manifest_name_valid(c->name)) {
        return error_set(err, HOIST_ERR_USAGE,
                         "env '%s' and name '%s' must use a-z 0-9 - _ "
                         "(at most 64, starting with a letter or digit)",
                         c->env, c->name);
    }
    if (c->user[0] && !s_user_valid(c->user)) {
        return error_set(err, HOIST_ERR_USAGE, "user '%s' is not a user name",
                         c->user);
    }
    if (c->n_tags > CONF_TAGS_MAX) {
        return error_set(err, HOIST_ERR_USAGE, "more than %d tags",
                         CONF_TAGS_MAX);
    }
    for (size_t i = 0; i < c->n_tags; i++) {
        char kv[sizeof c->tags[i].key + sizeof c->tags[i].value + 2];
        conf_tag_t t;
        snprintf(kv, sizeof kv, "%s=%s", c->tags[i].key, c->tags[i].value);
        if (conf_tag_parse(kv, &t, err) != HOIST_OK) {
            return HOIST_ERR_USAGE;
        }
    }
    return HOIST_OK;
}

/* Appends the formatted text to *BUF (of *LEN used, *CAP allocated). */
static bool __attribute__((format(printf, 4, 5)))
s_append(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(*buf + *len, *cap - *len, fmt, ap);
    va_end(ap);
    if (n < 0) {
        return false;
    }
    if ((size_t)n >= *cap - *len) {
        size_t want = *len + (size_t)n + 1024;
        char *grown = realloc(*buf, want);
        if (!grown) {
            return false;
        }
        *buf = grown;
        *cap = want;
        va_start(ap, fmt);
        vsnprintf(*buf + *len, *cap - *len, fmt, ap);
        va_end(ap);
    }
    *len += (size_t)n;
    return true;
}

char *
conf_format(const conf_t *c)
{
    size_t len = 0, cap = 1024;
    char *buf = malloc(cap);
    bool ok = buf && s_append(&buf, &len, &cap,
                              "# hoist-agent: written by `hoist-agent "
                              "enroll`\ncontroller: \"%s\"\nserver_key: "
                              "\"%s\"\nenv: \"%s\"\nname: \"%s\"\n",
                              c->controller, c->server_key, c->env, c->name);
    if (ok && c->next_server_key[0]) {
        ok = s_append(&buf, &len, &cap, "next_server_key: \"%s\"\n",
                      c->next_server_key);
    }
    if (ok && c->user[0]) {
        ok = s_append(&buf, &len, &cap, "user: \"%s\"\n", c->user);
    }
    if (ok && c->n_tags > 0) {
        ok = s_append(&buf, &len, &cap, "tags:\n");
    }
    for (size_t i = 0; ok && i < c->n_tags; i++) {
        ok = s_append(&buf, &len, &cap, "  %s: \"%s\"\n", c->tags[i].key,
                      c->tags[i].value);
    }
    if (!ok) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* Copies PAIR's string value into DST (LEN bytes), refusing longer ones. */
static hoist_err_t
s_string(yamlfile_t *yf, const yamlfile_pair_t *p, char *dst, size_t len,
         hoist_error_t *err)
{
    char *s = NULL;
    hoist_err_t rc = yamlfile_string(yf, p, &s, err);
    if (rc != HOIST_OK) {
        return rc;
    }
    if (strlen(s) >= len) {
        rc = yamlfile_error(yf, p, err, "longer than %zu characters", len - 1);
    } else {
        memcpy(dst, s, strlen(s) + 1);
    }
    free(s);
    return rc;
}

/* Adds PAIR (one tag: its key and its string value) to C. */
static hoist_err_t
s_tag(yamlfile_t *yf, const yamlfile_pair_t *p, conf_t *c, hoist_error_t *err)
{
    char value[CONF_TAG_VALUE_MAX + 1];
    char kv[CONF_TAG_KEY_MAX + CONF_TAG_VALUE_MAX + 2];
    if (c->n_tags == CONF_TAGS_MAX) {
        return yamlfile_error(yf, p, err, "more than %d tags", CONF_TAGS_MAX);
    }
    if (strlen(p->key) > CONF_TAG_KEY_MAX) {
        return yamlfile_error(yf, p, err, "a tag key is at most %d characters",
                              CONF_TAG_KEY_MAX);
    }
    hoist_err_t rc = s_string(yf, p, value, sizeof value, err);
    if (rc != HOIST_OK) {
        return rc;
    }
    snprintf(kv, sizeof kv, "%s=%s", p->key, value);
    hoist_error_t e = {0};
    if (conf_tag_parse(kv, &c->tags[c->n_tags], &e) != HOIST_OK) {
        return yamlfile_error(yf, p, err, "%s", e.msg);
    }
    c->n_tags++;
    return HOIST_OK;
}

/* Reads the tags mapping into C. */
static hoist_err_t
s_tags(yamlfile_t *yf, const yamlfile_pair_t *tags, conf_t *c,
       hoist_error_t *err)
{
    yaml_node_t *map = NULL;
    hoist_err_t rc = yamlfile_mapping(yf, tags, &map, err);
    yamlfile_pair_t p;
    for (size_t i = 0;
         rc == HOIST_OK && yamlfile_next(yf, map, "tags", &i, &p);) {
        rc = s_tag(yf, &p, c, err);
    }
    return rc;
}

/* Reads one root key into C. */
static hoist_err_t
s_root_pair(yamlfile_t *yf, const yamlfile_pair_t *p, conf_t *c,
            hoist_error_t *err)
{
    switch (yamlfile_key(yf, p, s_keys, err)) {
    case K_CONTROLLER:
        return s_string(yf, p, c->controller, sizeof c->controller, err);
    case K_SERVER_KEY:
        return s_string(yf, p, c->server_key, sizeof c->server_key, err);
    case K_ENV:
        return s_string(yf, p, c->env, sizeof c->env, err);
    case K_NAME:
        return s_string(yf, p, c->name, sizeof c->name, err);
    case K_USER:
        return s_string(yf, p, c->user, sizeof c->user, err);
    case K_TAGS:
        return s_tags(yf, p, c, err);
    case K_NEXT_SERVER_KEY:
        return s_string(yf, p, c->next_server_key, sizeof c->next_server_key,
                        err);
    default:
        return HOIST_ERR_USAGE;
    }
}

hoist_err_t
conf_parse(const char *buf, size_t len, const char *name, conf_t *out,
           hoist_error_t *err)
{
    yamlfile_t *yf =
        yamlfile_load(buf, len, CONF_MAX_BYTES, name, HOIST_ERR_USAGE, err);
    if (!yf) {
        return err ? err->code : HOIST_ERR_USAGE;
    }
    conf_t *c = calloc(1, sizeof *c);
    yaml_node_t *root = NULL;
    hoist_err_t rc = c ? yamlfile_root(yf, &root, err)
                       : error_set(err, HOIST_ERR_NOMEM, "out of memory");
    yamlfile_pair_t p;
    for (size_t i = 0; rc == HOIST_OK && yamlfile_next(yf, root, "", &i, &p);) {
        rc = s_root_pair(yf, &p, c, err);
    }
    if (rc == HOIST_OK &&
        (!c->controller[0] || !c->server_key[0] || !c->env[0] || !c->name[0])) {
        rc = error_set(err, HOIST_ERR_USAGE,
                       "%s: controller, server_key, env and name are all "
                       "required (run `hoist-agent enroll` again)",
                       name);
    }
    if (rc == HOIST_OK && conf_check(c, err) != HOIST_OK) {
        error_prefix(err, "%s", name);
        rc = HOIST_ERR_USAGE;
    }
    if (rc == HOIST_OK) {
        *out = *c;
    }
    free(c);
    yamlfile_destroy(&yf);
    return rc;
}

hoist_err_t
conf_load(const char *root, conf_t *out, hoist_error_t *err)
{
    char path[PATH_MAX];
    uint8_t *buf = NULL;
    size_t len = 0;
    snprintf(path, sizeof path, "%s/" CONF_FILE, root);
    hoist_error_t e = {0};
    if (atomicfile_read(path, CONF_MAX_BYTES, &buf, &len, &e) != HOIST_OK) {
        if (access(path, F_OK) != 0 && errno == ENOENT) {
            return error_set(err, HOIST_ERR_NOTFOUND,
                             "%s does not exist: enroll this agent first "
                             "with `hoist-agent enroll --root %s ...`",
                             path, root);
        }
        if (err) {
            *err = e;
        }
        return e.code;
    }
    hoist_err_t rc = conf_parse((const char *)buf, len, path, out, err);
    free(buf);
    return rc;
}

hoist_err_t
conf_save(const char *root, const conf_t *c, hoist_error_t *err)
{
    if (conf_check(c, err) != HOIST_OK) {
        return HOIST_ERR_USAGE;
    }
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/" CONF_FILE, root);
    char *text = conf_format(c);
    if (!text) {
        return error_set(err, HOIST_ERR_NOMEM, "out of memory");
    }
    hoist_err_t rc = atomicfile_write(path, text, strlen(text), 0644, err);
    free(text);
    return rc;
}

void
conf_default_name(const char *host, char *out, size_t len)
{
    size_t n = 0;
    for (const char *p = host; *p && n + 1 < len && n < MANIFEST_NAME_MAX;
         p++) {
        char ch = (char)tolower((unsigned char)*p);
        bool alnum = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
        if (n == 0 && !alnum) {
            continue; /* names start with a letter or digit */
        }
        out[n++] = alnum || ch == '_' || ch == '-' ? ch : '-';
    }
    out[n] = '\0';
    if (n == 0) {
        snprintf(out, len, "agent");
    }
}

/* The 40 Z85 characters that follow `public-key = "` in a zcert file. */
static bool
s_zcert_key(const char *text, char out[CONF_KEY_Z85_LEN + 1])
{
    const char *p = strstr(text, "public-key");
    while (p && (p == text || p[-1] == '\n' || p[-1] == ' ' || p[-1] == '\t')) {
        const char *q = p + strlen("public-key");
        q += strspn(q, " \t");
        if (*q++ != '=') {
            break;
        }
        q += strspn(q, " \t");
        if (*q++ != '"' || strlen(q) < CONF_KEY_Z85_LEN + 1 ||
            q[CONF_KEY_Z85_LEN] != '"') {
            break;
        }
        memcpy(out, q, CONF_KEY_Z85_LEN);
        out[CONF_KEY_Z85_LEN] = '\0';
        return true;
    }
    return false;
}

hoist_err_t
conf_server_key_parse(const char *text, char out[CONF_KEY_Z85_LEN + 1],
                      hoist_error_t *err)
{
    char key[CONF_KEY_Z85_LEN + 1] = "";
    if (!s_zcert_key(text, key)) {
        const char *p = text + strspn(text, " \t\r\n");
        size_t n = strcspn(p, " \t\r\n");
        if (n == CONF_KEY_Z85_LEN && p[n + strspn(p + n, " \t\r\n")] == '\0') {
            memcpy(key, p, n);
            key[n] = '\0';
        }
    }
    if (!conf_key_valid(key)) {
        return error_set(err, HOIST_ERR_KEY,
                         "no CURVE public key found: expected a czmq "
                         "certificate's public file (public-key = \"...\") "
                         "or one line of 40 Z85 characters");
    }
    memcpy(out, key, sizeof key);
    return HOIST_OK;
}

/* ---- agent.yml ----------------------------------------------------------- */

static const char *const s_settings_keys[] = {"root", "user", "keep",
                                              "log_level", NULL};
enum { S_ROOT, S_USER, S_KEEP, S_LOG_LEVEL };

/* Reads one key of agent.yml into S. */
static hoist_err_t
s_settings_pair(yamlfile_t *yf, const yamlfile_pair_t *p, conf_settings_t *s,
                hoist_error_t *err)
{
    char level[16];
    uint32_t keep = 0;
    hoist_err_t rc;
    switch (yamlfile_key(yf, p, s_settings_keys, err)) {
    case S_ROOT:
        rc = s_string(yf, p, s->root, sizeof s->root, err);
        if (rc == HOIST_OK && s->root[0] != '/') {
            rc = yamlfile_error(yf, p, err,
                                "expected an absolute path, got "
                                "'%s'",
                                s->root);
        }
        return rc;
    case S_USER:
        rc = s_string(yf, p, s->user, sizeof s->user, err);
        if (rc == HOIST_OK && !s_user_valid(s->user)) {
            rc = yamlfile_error(yf, p, err, "'%s' is not a user name", s->user);
        }
        return rc;
    case S_KEEP:
        rc = yamlfile_uint(yf, p, CONF_KEEP_MIN, CONF_KEEP_MAX, &keep, err);
        s->keep = keep;
        return rc;
    case S_LOG_LEVEL:
        rc = s_string(yf, p, level, sizeof level, err);
        if (rc == HOIST_OK && !log_level_parse(level, &s->log_level)) {
            rc = yamlfile_error(yf, p, err,
                                "expected debug, info, warn or error, got "
                                "'%s'",
                                level);
        }
        s->has_log_level = rc == HOIST_OK;
        return rc;
    default:
        return HOIST_ERR_USAGE;
    }
}

hoist_err_t
conf_settings_parse(const char *buf, size_t len, const char *name,
                    conf_settings_t *out, hoist_error_t *err)
{
    yamlfile_t *yf =
        yamlfile_load(buf, len, CONF_MAX_BYTES, name, HOIST_ERR_USAGE, err);
    if (!yf) {
        return err ? err->code : HOIST_ERR_USAGE;
    }
    conf_settings_t s = {0};
    yaml_node_t *root = NULL;
    hoist_err_t rc = yamlfile_root(yf, &root, err);
    yamlfile_pair_t p;
    for (size_t i = 0; rc == HOIST_OK && yamlfile_next(yf, root, "", &i, &p);) {
        rc = s_settings_pair(yf, &p, &s, err);
    }
    if (rc == HOIST_OK) {
        *out = s;
    }
    yamlfile_destroy(&yf);
    return rc;
}

hoist_err_t
conf_settings_load(const char *path, bool required, conf_settings_t *out,
                   hoist_error_t *err)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    hoist_error_t e = {0};
    if (atomicfile_read(path, CONF_MAX_BYTES, &buf, &len, &e) != HOIST_OK) {
        if (access(path, F_OK) != 0 && errno == ENOENT) {
            if (!required) {
                *out = (conf_settings_t){0};
                return HOIST_OK;
            }
            return error_set(err, HOIST_ERR_NOTFOUND, "%s does not exist",
                             path);
        }
        if (err) {
            *err = e;
        }
        return e.code;
    }
    hoist_err_t rc =
        conf_settings_parse((const char *)buf, len, path, out, err);
    free(buf);
    return rc;
}
