/*
 * pipeline: reads, validates, compares and writes back the pipeline file.
 *
 * Reading is strict and all-or-nothing: yamlfile refuses what no config
 * needs (aliases, duplicate keys, oversize input), and this module refuses
 * unknown keys, wrong types, names that do not exist and limits passed,
 * each with the file, the line and the dotted key. The file is read in a
 * fixed order rather than file order, because later parts depend on
 * earlier ones: `timezone` is the default of every window, and lifecycles
 * and mirrors name environments that may come after them in the file.
 *
 * Writing goes through libyaml's document API and emitter, never printf,
 * so that quoting is libyaml's problem: what export writes, load reads
 * back to an equal pipeline, and exporting that gives the same bytes.
 */
#include "pipeline.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "yamlfile.h"

#define S_CODE HOIST_ERR_USAGE
/* Room for a dotted key path such as
 * "environments.NAME.windows[15].days[6]". */
#define S_PREFIX_MAX 256

static const char *const s_root_keys[] = {"timezone", "lifecycles",
                                          "environments", "notify", NULL};
enum { S_ROOT_TZ, S_ROOT_LIFECYCLES, S_ROOT_ENVS, S_ROOT_NOTIFY, S_NROOT };

/* The environment's own keys; strategy_keys follow them. */
static const char *const s_env_keys[] = {"mirror",    "tags",    "auto_deploy",
                                         "approvals", "windows", "freezes",
                                         "notify",    "sync",    NULL};
enum {
    S_ENV_MIRROR,
    S_ENV_TAGS,
    S_ENV_AUTO,
    S_ENV_APPROVALS,
    S_ENV_WINDOWS,
    S_ENV_FREEZES,
    S_ENV_NOTIFY,
    S_ENV_SYNC,
    S_NENV_KEYS
};

static const char *const s_window_keys[] = {"days", "from", "to", "tz", NULL};
enum { S_WIN_DAYS, S_WIN_FROM, S_WIN_TO, S_WIN_TZ };

static const char *const s_freeze_keys[] = {"from", "to", "reason", "tz", NULL};
enum { S_FRZ_FROM, S_FRZ_TO, S_FRZ_REASON, S_FRZ_TZ };

static const char *const s_approval_keys[] = {"count", "role", NULL};
static const char *const s_notify_keys[] = {"command", NULL};

/* What reading one file needs to carry around. */
typedef struct {
    yamlfile_t *yf;
    /* libyaml's node table: node id N is base[N - 1]. yamlfile keeps the
     * document private and offers no sequence walker, so the base is
     * recovered from a mapping pair, whose value id and node yamlfile
     * both hand out (see s_find_base). */
    yaml_node_t *base;
    pipeline_t *p;
    /* Each environment's `mirror` key, checked once all are read. */
    yamlfile_pair_t mirror_pair[PIPELINE_MAX_ENVS];
    yamlfile_pair_t sync_pair[PIPELINE_MAX_ENVS]; /* key NULL: no sync key */
    char env_prefix[PIPELINE_MAX_ENVS][S_PREFIX_MAX];
} s_ctx_t;

bool
pipeline_name_valid(const char *name)
{
    static const char first[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    static const char rest[] = "abcdefghijklmnopqrstuvwxyz0123456789._-";
    size_t n = name ? strlen(name) : 0;
    return n >= 1 && n <= PIPELINE_NAME_MAX && strchr(first, name[0]) &&
           strspn(name, rest) == n;
}

/* True for a plain scalar YAML reads as null: "key:" with nothing. */
static bool
s_is_null(const yaml_node_t *node)
{
    if (node->type != YAML_SCALAR_NODE ||
        node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) {
        return false;
    }
    const char *v = (const char *)node->data.scalar.value;
    return strcmp(v, "") == 0 || strcmp(v, "~") == 0 ||
           strcmp(v, "null") == 0 || strcmp(v, "Null") == 0 ||
           strcmp(v, "NULL") == 0;
}

/* True when TEXT holds no control characters (tabs and newlines
 * included): it ends up in one-line messages and notifications. */
static bool
s_printable(const char *text)
{
    for (const unsigned char *c = (const unsigned char *)text; *c; c++) {
        if (*c < 0x20 || *c == 0x7f) {
            return false;
        }
    }
    return true;
}

/* Finds the node table through ROOT's first pair (see s_ctx_t.base). */
static void
s_find_base(s_ctx_t *c, yaml_node_t *root)
{
    yamlfile_pair_t pair;
    size_t i = 0;
    if (root && yamlfile_next(c->yf, root, "", &i, &pair)) {
        int id = root->data.mapping.pairs.start[0].value;
        c->base = pair.value - (id - 1);
    }
}

/* Sets *SEQ to PAIR's value if it is a list, or NULL when it is empty. */
static hoist_err_t
s_list(s_ctx_t *c, const yamlfile_pair_t *pair, yaml_node_t **seq,
       hoist_error_t *err)
{
    if (s_is_null(pair->value)) {
        *seq = NULL;
        return HOIST_OK;
    }
    if (pair->value->type == YAML_SCALAR_NODE) {
        return yamlfile_error(c->yf, pair, err,
                              "expected a list in brackets or with '- ' "
                              "items, got '%s'",
                              (const char *)pair->value->data.scalar.value);
    }
    if (pair->value->type != YAML_SEQUENCE_NODE) {
        return yamlfile_error(c->yf, pair, err,
                              "expected a list, got a mapping");
    }
    *seq = pair->value;
    return HOIST_OK;
}

static size_t
s_list_len(const yaml_node_t *seq)
{
    return seq ? (size_t)(seq->data.sequence.items.top -
                          seq->data.sequence.items.start)
               : 0;
}

/* Fills ITEM as a pair for item K of SEQ, the value of PAIR: key
 * "KEY[K]" (written into KEYBUF), PAIR's prefix and the item's line, so
 * that yamlfile's readers and messages work on list items too. */
static void
s_item(const s_ctx_t *c, const yamlfile_pair_t *pair, const yaml_node_t *seq,
       size_t k, char *keybuf, size_t keylen, yamlfile_pair_t *item)
{
    snprintf(keybuf, keylen, "%s[%zu]", pair->key, k);
    item->key = keybuf;
    item->prefix = pair->prefix;
    item->value = c->base + (seq->data.sequence.items.start[k] - 1);
    item->line = (unsigned)item->value->start_mark.line + 1;
}

/* Writes PAIR's dotted path into BUF: the prefix of what is inside it. */
static const char *
s_path(const yamlfile_pair_t *pair, char *buf, size_t len)
{
    snprintf(buf, len, "%s%s%s", pair->prefix, *pair->prefix ? "." : "",
             pair->key);
    return buf;
}

/* Copies PAIR's text into OUT (CAP bytes), refusing control characters
 * and text longer than CAP - 1. */
static hoist_err_t
s_text(s_ctx_t *c, const yamlfile_pair_t *pair, char *out, size_t cap,
       hoist_error_t *err)
{
    char *text = NULL;
    hoist_err_t rc = yamlfile_string(c->yf, pair, &text, err);
    if (rc != HOIST_OK) {
        return rc;
    }
    if (strlen(text) >= cap) {
        rc = yamlfile_error(c->yf, pair, err, "longer than %zu characters",
                            cap - 1);
    } else if (!s_printable(text)) {
        rc = yamlfile_error(c->yf, pair, err,
                            "contains a control character (tab, newline)");
    } else {
        memcpy(out, text, strlen(text) + 1);
    }
    free(text);
    return rc;
}

/* Reads PAIR as a name ([a-z0-9][a-z0-9._-]{0,63}) into OUT. */
static hoist_err_t
s_name(s_ctx_t *c, const yamlfile_pair_t *pair, char *out, hoist_error_t *err)
{
    char text[S_PREFIX_MAX];
    hoist_err_t rc = s_text(c, pair, text, sizeof text, err);
    if (rc == HOIST_OK && !pipeline_name_valid(text)) {
        rc = yamlfile_error(c->yf, pair, err,
                            "expected a name of lowercase letters, digits, "
                            "'.', '_' and '-' that starts with a letter or "
                            "digit (at most %d), got '%s'",
                            PIPELINE_NAME_MAX, text);
    }
    if (rc == HOIST_OK) {
        memcpy(out, text, strlen(text) + 1);
    }
    return rc;
}

/* Reads PAIR as an IANA zone into OUT. */
static hoist_err_t
s_zone(s_ctx_t *c, const yamlfile_pair_t *pair, char *out, hoist_error_t *err)
{
    char text[S_PREFIX_MAX];
    hoist_err_t rc = s_text(c, pair, text, sizeof text, err);
    if (rc == HOIST_OK && !calendar_zone_valid(text)) {
        rc = yamlfile_error(c->yf, pair, err,
                            "unknown time zone '%s': use an IANA name such "
                            "as Europe/Berlin, America/New_York or UTC",
                            text);
    }
    if (rc == HOIST_OK) {
        memcpy(out, text, strlen(text) + 1);
    }
    return rc;
}

/* Reads PAIR as "HH:MM". */
static hoist_err_t
s_hhmm(s_ctx_t *c, const yamlfile_pair_t *pair, uint16_t *out,
       hoist_error_t *err)
{
    char text[S_PREFIX_MAX];
    hoist_err_t rc = s_text(c, pair, text, sizeof text, err);
    if (rc == HOIST_OK && !calendar_parse_hhmm(text, out)) {
        rc = yamlfile_error(c->yf, pair, err, "expected HH:MM, got '%s'", text);
    }
    return rc;
}

/* Reads PAIR as "YYYY-MM-DD". */
static hoist_err_t
s_date(s_ctx_t *c, const yamlfile_pair_t *pair, calendar_date_t *out,
       hoist_error_t *err)
{
    char text[S_PREFIX_MAX];
    hoist_err_t rc = s_text(c, pair, text, sizeof text, err);
    if (rc == HOIST_OK && !calendar_parse_date(text, out)) {
        rc = yamlfile_error(c->yf, pair, err,
                            "expected a date YYYY-MM-DD from 1970 to 9999, "
                            "got '%s'",
                            text);
    }
    return rc;
}

/* Reads PAIR, a mapping in a list, checking its keys against KEYS and
 * handing each pair to FN; PREFIX names the mapping. */
typedef hoist_err_t (*s_entry_fn)(s_ctx_t *c, const yamlfile_pair_t *pair,
                                  int key, void *out, hoist_error_t *err);

static hoist_err_t
s_entry(s_ctx_t *c, const yamlfile_pair_t *pair, const char *const *keys,
        s_entry_fn fn, void *out, hoist_error_t *err)
{
    char prefix[S_PREFIX_MAX];
    yaml_node_t *map = NULL;
    yamlfile_pair_t p;
    s_path(pair, prefix, sizeof prefix);
    hoist_err_t rc = yamlfile_mapping(c->yf, pair, &map, err);
    for (size_t i = 0;
         rc == HOIST_OK && yamlfile_next(c->yf, map, prefix, &i, &p);) {
        int k = yamlfile_key(c->yf, &p, keys, err);
        rc = k < 0 ? S_CODE : fn(c, &p, k, out, err);
    }
    return rc;
}

/* Reads the days of a window: a non-empty list of mon..sun. */
static hoist_err_t
s_days(s_ctx_t *c, const yamlfile_pair_t *pair, uint8_t *days,
       hoist_error_t *err)
{
    yaml_node_t *seq = NULL;
    uint8_t bits = 0;
    hoist_err_t rc = s_list(c, pair, &seq, err);
    for (size_t k = 0; rc == HOIST_OK && k < s_list_len(seq); k++) {
        char key[32];
        char name[16];
        yamlfile_pair_t item;
        s_item(c, pair, seq, k, key, sizeof key, &item);
        rc = s_text(c, &item, name, sizeof name, err);
        int d = rc == HOIST_OK ? calendar_day_index(name) : 0;
        if (rc == HOIST_OK && d < 0) {
            rc = yamlfile_error(c->yf, &item, err,
                                "expected a day mon, tue, wed, thu, fri, sat "
                                "or sun, got '%s'",
                                name);
        } else if (rc == HOIST_OK && (bits & (1u << d))) {
            rc =
                yamlfile_error(c->yf, &item, err, "'%s' is listed twice", name);
        }
        bits |= rc == HOIST_OK ? (uint8_t)(1u << d) : 0;
    }
    if (rc == HOIST_OK && bits == 0) {
        rc = yamlfile_error(c->yf, pair, err,
                            "a window needs at least one day (leave days "
                            "out for every day)");
    }
    if (rc == HOIST_OK) {
        *days = bits;
    }
    return rc;
}

/* A window being read, with which keys were seen. */
typedef struct {
    calendar_window_t w;
    bool from;
    bool to;
} s_window_t;

static hoist_err_t
s_window_key(s_ctx_t *c, const yamlfile_pair_t *pair, int key, void *out,
             hoist_error_t *err)
{
    s_window_t *sw = out;
    switch (key) {
    case S_WIN_DAYS:
        return s_days(c, pair, &sw->w.days, err);
    case S_WIN_FROM:
        sw->from = true;
        return s_hhmm(c, pair, &sw->w.from_min, err);
    case S_WIN_TO:
        sw->to = true;
        return s_hhmm(c, pair, &sw->w.to_min, err);
    default:
        return s_zone(c, pair, sw->w.tz, err);
    }
}

/* Reads one window (ITEM) into *W. */
static hoist_err_t
s_window(s_ctx_t *c, const yamlfile_pair_t *item, calendar_window_t *w,
         hoist_error_t *err)
{
    s_window_t sw = {.w = {.days = CALENDAR_ALL_DAYS}};
    snprintf(sw.w.tz, sizeof sw.w.tz, "%s", c->p->timezone);
    hoist_err_t rc = s_entry(c, item, s_window_keys, s_window_key, &sw, err);
    if (rc == HOIST_OK && (!sw.from || !sw.to)) {
        rc = yamlfile_error(c->yf, item, err,
                            "a window needs from and to, like {days: [tue], "
                            "from: \"09:00\", to: \"16:00\"}");
    } else if (rc == HOIST_OK && sw.w.from_min == sw.w.to_min) {
        rc = yamlfile_error(c->yf, item, err,
                            "from and to are the same time; a window must "
                            "have a length (leave windows out to deploy at "
                            "any time)");
    }
    if (rc == HOIST_OK) {
        *w = sw.w;
    }
    return rc;
}

/* A freeze being read, with which keys were seen. */
typedef struct {
    calendar_freeze_t f;
    bool from;
    bool to;
} s_freeze_t;

static hoist_err_t
s_freeze_key(s_ctx_t *c, const yamlfile_pair_t *pair, int key, void *out,
             hoist_error_t *err)
{
    s_freeze_t *sf = out;
    switch (key) {
    case S_FRZ_FROM:
        sf->from = true;
        return s_date(c, pair, &sf->f.from, err);
    case S_FRZ_TO:
        sf->to = true;
        return s_date(c, pair, &sf->f.to, err);
    case S_FRZ_REASON:
        return s_text(c, pair, sf->f.reason, sizeof sf->f.reason, err);
    default:
        return s_zone(c, pair, sf->f.tz, err);
    }
}

/* Reads one freeze (ITEM) into *F. */
static hoist_err_t
s_freeze(s_ctx_t *c, const yamlfile_pair_t *item, calendar_freeze_t *f,
         hoist_error_t *err)
{
    s_freeze_t sf = {0};
    snprintf(sf.f.tz, sizeof sf.f.tz, "%s", c->p->timezone);
    hoist_err_t rc = s_entry(c, item, s_freeze_keys, s_freeze_key, &sf, err);
    if (rc == HOIST_OK && (!sf.from || !sf.to || !sf.f.reason[0])) {
        rc = yamlfile_error(c->yf, item, err,
                            "a freeze needs from, to and reason, like {from: "
                            "2026-12-20, to: 2027-01-04, reason: year-end}");
    } else if (rc == HOIST_OK && calendar_date_cmp(&sf.f.from, &sf.f.to) > 0) {
        char a[16];
        char b[16];
        rc = yamlfile_error(c->yf, item, err,
                            "to (%s) is before from (%s); both days are "
                            "included",
                            calendar_format_date(&sf.f.to, b, sizeof b),
                            calendar_format_date(&sf.f.from, a, sizeof a));
    }
    if (rc == HOIST_OK) {
        *f = sf.f;
    }
    return rc;
}

static hoist_err_t
s_notify_key(s_ctx_t *c, const yamlfile_pair_t *pair, int key, void *out,
             hoist_error_t *err)
{
    pipeline_notify_t *n = out;
    (void)key;
    hoist_err_t rc = s_text(c, pair, n->command, sizeof n->command, err);
    if (rc == HOIST_OK &&
        (n->command[0] != '/' || strpbrk(n->command, " \t") != NULL)) {
        rc = yamlfile_error(c->yf, pair, err,
                            "expected the absolute path of a program (it "
                            "runs without a shell and gets the event as "
                            "JSON on stdin), got '%s'",
                            n->command);
    }
    return rc;
}

/* Reads one notify target (ITEM) into *N. */
static hoist_err_t
s_notify_one(s_ctx_t *c, const yamlfile_pair_t *item, pipeline_notify_t *n,
             hoist_error_t *err)
{
    pipeline_notify_t t = {{0}};
    hoist_err_t rc = s_entry(c, item, s_notify_keys, s_notify_key, &t, err);
    if (rc == HOIST_OK && !t.command[0]) {
        rc = yamlfile_error(c->yf, item, err,
                            "needs a command, like {command: "
                            "/usr/local/bin/hoist-notify}");
    }
    if (rc == HOIST_OK) {
        *n = t;
    }
    return rc;
}

/* Reads the list PAIR of at most MAX entries of SIZE bytes at OUT with
 * ONE per entry; *N gets the count. */
typedef hoist_err_t (*s_one_fn)(s_ctx_t *c, const yamlfile_pair_t *item,
                                void *out, hoist_error_t *err);

static hoist_err_t
s_entries(s_ctx_t *c, const yamlfile_pair_t *pair, size_t max, size_t size,
          s_one_fn one, void *out, size_t *n, hoist_error_t *err)
{
    yaml_node_t *seq = NULL;
    hoist_err_t rc = s_list(c, pair, &seq, err);
    if (rc == HOIST_OK && s_list_len(seq) > max) {
        rc = yamlfile_error(c->yf, pair, err,
                            "%zu entries is more than the limit of %zu",
                            s_list_len(seq), max);
    }
    for (size_t k = 0; rc == HOIST_OK && k < s_list_len(seq); k++) {
        char key[64];
        yamlfile_pair_t item;
        s_item(c, pair, seq, k, key, sizeof key, &item);
        rc = one(c, &item, (char *)out + k * size, err);
    }
    if (rc == HOIST_OK) {
        *n = s_list_len(seq);
    }
    return rc;
}

/* Adapters from the typed readers to s_one_fn. */
static hoist_err_t
s_window_fn(s_ctx_t *c, const yamlfile_pair_t *item, void *out,
            hoist_error_t *err)
{
    return s_window(c, item, out, err);
}

static hoist_err_t
s_freeze_fn(s_ctx_t *c, const yamlfile_pair_t *item, void *out,
            hoist_error_t *err)
{
    return s_freeze(c, item, out, err);
}

static hoist_err_t
s_notify_fn(s_ctx_t *c, const yamlfile_pair_t *item, void *out,
            hoist_error_t *err)
{
    return s_notify_one(c, item, out, err);
}

/* Reads one tag (PAIR) into *T: a name-like key and a printable value;
 * `kind` is cloud or on-prem. */
static hoist_err_t
s_tag(s_ctx_t *c, const yamlfile_pair_t *pair, pipeline_tag_t *t,
      hoist_error_t *err)
{
    if (!pipeline_name_valid(pair->key)) {
        return yamlfile_error(c->yf, pair, err,
                              "a tag name is lowercase letters, digits, '.', "
                              "'_' and '-', at most %d",
                              PIPELINE_NAME_MAX);
    }
    hoist_err_t rc = s_text(c, pair, t->value, sizeof t->value, err);
    if (rc == HOIST_OK && strcmp(pair->key, "kind") == 0 &&
        strcmp(t->value, "cloud") != 0 && strcmp(t->value, "on-prem") != 0) {
        rc = yamlfile_error(c->yf, pair, err,
                            "expected cloud or on-prem, got '%s'", t->value);
    }
    if (rc == HOIST_OK) {
        snprintf(t->key, sizeof t->key, "%s", pair->key);
    }
    return rc;
}

static hoist_err_t
s_tags(s_ctx_t *c, const yamlfile_pair_t *pair, pipeline_env_t *e,
       hoist_error_t *err)
{
    char prefix[S_PREFIX_MAX];
    yaml_node_t *map = NULL;
    yamlfile_pair_t p;
    s_path(pair, prefix, sizeof prefix);
    hoist_err_t rc = yamlfile_mapping(c->yf, pair, &map, err);
    for (size_t i = 0;
         rc == HOIST_OK && yamlfile_next(c->yf, map, prefix, &i, &p);) {
        if (e->ntags == PIPELINE_MAX_TAGS) {
            rc = yamlfile_error(c->yf, &p, err, "more than %d tags",
                                PIPELINE_MAX_TAGS);
        } else {
            rc = s_tag(c, &p, &e->tags[e->ntags], err);
            e->ntags += rc == HOIST_OK;
        }
    }
    return rc;
}

/* What an approvals mapping has said so far. */
typedef struct {
    uint32_t count;
    bool role_set;
    rbac_role_t role;
} s_approvals_t;

static hoist_err_t
s_approvals_key(s_ctx_t *c, const yamlfile_pair_t *pair, int key, void *out,
                hoist_error_t *err)
{
    s_approvals_t *a = out;
    char text[S_PREFIX_MAX];
    hoist_error_t why;
    if (key == 0) {
        return yamlfile_uint(c->yf, pair, 1, PIPELINE_MAX_APPROVALS, &a->count,
                             err);
    }
    hoist_err_t rc = s_text(c, pair, text, sizeof text, err);
    if (rc == HOIST_OK && rbac_role_parse(text, &a->role, &why) != HOIST_OK) {
        rc = yamlfile_error(c->yf, pair, err,
                            "expected a role admin, release-manager, qa, "
                            "operator or viewer, got '%s'",
                            text);
    }
    a->role_set = rc == HOIST_OK;
    return rc;
}

static hoist_err_t
s_approvals(s_ctx_t *c, const yamlfile_pair_t *pair, pipeline_env_t *e,
            hoist_error_t *err)
{
    s_approvals_t a = {0};
    hoist_err_t rc =
        s_entry(c, pair, s_approval_keys, s_approvals_key, &a, err);
    if (rc == HOIST_OK && (a.count == 0 || !a.role_set)) {
        rc = yamlfile_error(c->yf, pair, err,
                            "needs count and role, like {count: 1, role: "
                            "qa}");
    }
    if (rc == HOIST_OK) {
        e->approvals = a.count;
        e->approval_role = a.role;
    }
    return rc;
}

/* Reads one key (PAIR, index K of s_env_keys + strategy_keys) of E. */
static hoist_err_t
s_env_key(s_ctx_t *c, const yamlfile_pair_t *pair, int k, pipeline_env_t *e,
          size_t idx, hoist_error_t *err)
{
    switch (k) {
    case S_ENV_MIRROR:
        c->mirror_pair[idx] = *pair;
        return s_name(c, pair, e->mirror, err);
    case S_ENV_TAGS:
        return s_tags(c, pair, e, err);
    case S_ENV_AUTO:
        return yamlfile_bool(c->yf, pair, &e->auto_deploy, err);
    case S_ENV_APPROVALS:
        return s_approvals(c, pair, e, err);
    case S_ENV_WINDOWS:
        return s_entries(c, pair, PIPELINE_MAX_WINDOWS, sizeof e->windows[0],
                         s_window_fn, e->windows, &e->nwindows, err);
    case S_ENV_FREEZES:
        return s_entries(c, pair, PIPELINE_MAX_FREEZES, sizeof e->freezes[0],
                         s_freeze_fn, e->freezes, &e->nfreezes, err);
    case S_ENV_NOTIFY:
        return s_entries(c, pair, PIPELINE_MAX_NOTIFY, sizeof e->notify[0],
                         s_notify_fn, e->notify, &e->nnotify, err);
    case S_ENV_SYNC: {
        char *v = NULL;
        hoist_err_t rc = yamlfile_string(c->yf, pair, &v, err);
        if (rc == HOIST_OK && strcmp(v, "auto") != 0 &&
            strcmp(v, "manual") != 0) {
            rc = yamlfile_error(c->yf, pair, err,
                                "expected auto or manual, got '%s'", v);
        }
        if (rc == HOIST_OK) {
            e->sync_manual = strcmp(v, "manual") == 0;
            c->sync_pair[idx] = *pair;
        }
        free(v);
        return rc;
    }
    default:
        return strategy_read_key(c->yf, pair, &e->rollout, err);
    }
}

/* Refuses PAIR's key unless it is a valid name; WHAT says of what. */
static hoist_err_t
s_key_name(s_ctx_t *c, const yamlfile_pair_t *pair, const char *what,
           hoist_error_t *err)
{
    if (pipeline_name_valid(pair->key)) {
        return HOIST_OK;
    }
    return yamlfile_error(c->yf, pair, err,
                          "%s name is lowercase letters, digits, '.', '_' "
                          "and '-', starting with a letter or digit, at most "
                          "%d characters",
                          what, PIPELINE_NAME_MAX);
}

/* Fills KEYS (CAP entries) with s_env_keys, then strategy_keys, then
 * NULL: every key an environment may have, for yamlfile_key. */
static void
s_all_env_keys(const char **keys, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; s_env_keys[i] && n + 1 < cap; i++) {
        keys[n++] = s_env_keys[i];
    }
    for (size_t i = 0; strategy_keys[i] && n + 1 < cap; i++) {
        keys[n++] = strategy_keys[i];
    }
    keys[n] = NULL;
}

/* Reads environment number IDX: PAIR's key is its name, its value the
 * mapping of its keys (or nothing, for all defaults). */
static hoist_err_t
s_env(s_ctx_t *c, const yamlfile_pair_t *pair, size_t idx, hoist_error_t *err)
{
    const char *keys[S_NENV_KEYS + 16];
    s_all_env_keys(keys, sizeof keys / sizeof *keys);
    pipeline_env_t *e = &c->p->envs[idx];
    char *prefix = c->env_prefix[idx];
    yaml_node_t *map = NULL;
    yamlfile_pair_t p;
    hoist_err_t rc = s_key_name(c, pair, "an environment", err);
    if (rc == HOIST_OK) {
        snprintf(e->name, sizeof e->name, "%s", pair->key);
        strategy_default(&e->rollout, e->name);
        s_path(pair, prefix, S_PREFIX_MAX);
        rc = yamlfile_mapping(c->yf, pair, &map, err);
    }
    for (size_t i = 0;
         rc == HOIST_OK && yamlfile_next(c->yf, map, prefix, &i, &p);) {
        int k = yamlfile_key(c->yf, &p, keys, err);
        rc = k < 0 ? S_CODE : s_env_key(c, &p, k, e, idx, err);
    }
    return rc;
}

static hoist_err_t
s_envs(s_ctx_t *c, const yamlfile_pair_t *pair, hoist_error_t *err)
{
    yaml_node_t *map = NULL;
    yamlfile_pair_t p;
    hoist_err_t rc = yamlfile_mapping(c->yf, pair, &map, err);
    for (size_t i = 0;
         rc == HOIST_OK && yamlfile_next(c->yf, map, "environments", &i, &p);) {
        if (c->p->nenvs == PIPELINE_MAX_ENVS) {
            rc = yamlfile_error(c->yf, &p, err, "more than %d environments",
                                PIPELINE_MAX_ENVS);
        } else {
            rc = s_env(c, &p, c->p->nenvs, err);
            c->p->nenvs += rc == HOIST_OK;
        }
    }
    return rc;
}

/* Checks each `mirror` once every environment is known: it names another
 * environment, which is not a mirror itself; a mirror does not
 * auto_deploy. */
static hoist_err_t
s_check_mirrors(s_ctx_t *c, hoist_error_t *err)
{
    for (size_t i = 0; i < c->p->nenvs; i++) {
        const pipeline_env_t *e = &c->p->envs[i];
        const yamlfile_pair_t *pair = &c->mirror_pair[i];
        const pipeline_env_t *src = pipeline_env(c->p, e->mirror);
        if (!e->mirror[0]) {
            if (e->sync_manual || c->sync_pair[i].key) {
                return yamlfile_error(c->yf, &c->sync_pair[i], err,
                                      "sync applies to a mirror only (add "
                                      "mirror: ENV)");
            }
            continue;
        }
        if (!src) {
            return yamlfile_error(c->yf, pair, err,
                                  "no environment '%s' to mirror", e->mirror);
        }
        if (src == e) {
            return yamlfile_error(c->yf, pair, err,
                                  "an environment cannot mirror itself");
        }
        if (src->mirror[0]) {
            return yamlfile_error(c->yf, pair, err,
                                  "'%s' is itself a mirror of '%s'; mirror "
                                  "'%s' directly",
                                  src->name, src->mirror, src->mirror);
        }
        if (e->auto_deploy) {
            return yamlfile_error(c->yf, pair, err,
                                  "a mirror gets what succeeds in '%s'; it "
                                  "cannot also auto_deploy",
                                  e->mirror);
        }
    }
    return HOIST_OK;
}

/* Appends the environment named by ITEM to LC: it exists, is not a
 * mirror, and is not in LC yet. */
static hoist_err_t
s_lifecycle_env(s_ctx_t *c, pipeline_lifecycle_t *lc,
                const yamlfile_pair_t *item, hoist_error_t *err)
{
    char name[PIPELINE_NAME_MAX + 1];
    hoist_err_t rc = s_name(c, item, name, err);
    if (rc != HOIST_OK) {
        return rc;
    }
    const pipeline_env_t *e = pipeline_env(c->p, name);
    if (!e) {
        return yamlfile_error(c->yf, item, err,
                              "no environment '%s' (add it under "
                              "environments)",
                              name);
    }
    if (e->mirror[0]) {
        return yamlfile_error(c->yf, item, err,
                              "'%s' mirrors '%s' and follows it; a mirror "
                              "is in no lifecycle",
                              name, e->mirror);
    }
    /* Every entry is a distinct environment, so this cannot overflow;
     * the check keeps that true if the rules above ever loosen. */
    if (pipeline_lifecycle_index(lc, name) >= 0 ||
        lc->count == PIPELINE_MAX_ENVS) {
        return yamlfile_error(c->yf, item, err,
                              "'%s' is in this lifecycle twice", name);
    }
    memcpy(lc->envs[lc->count++], name, sizeof name);
    return HOIST_OK;
}

/* Reads lifecycle number IDX: PAIR's key is its name, its value the list
 * of its environments. */
static hoist_err_t
s_lifecycle(s_ctx_t *c, const yamlfile_pair_t *pair, size_t idx,
            hoist_error_t *err)
{
    pipeline_lifecycle_t *lc = &c->p->lifecycles[idx];
    yaml_node_t *seq = NULL;
    hoist_err_t rc = s_key_name(c, pair, "a lifecycle", err);
    if (rc == HOIST_OK) {
        snprintf(lc->name, sizeof lc->name, "%s", pair->key);
        rc = s_list(c, pair, &seq, err);
    }
    if (rc == HOIST_OK && s_list_len(seq) == 0) {
        rc = yamlfile_error(c->yf, pair, err,
                            "a lifecycle needs at least one environment");
    }
    for (size_t k = 0; rc == HOIST_OK && k < s_list_len(seq); k++) {
        char key[PIPELINE_NAME_MAX + 16];
        yamlfile_pair_t item;
        s_item(c, pair, seq, k, key, sizeof key, &item);
        rc = s_lifecycle_env(c, lc, &item, err);
    }
    return rc;
}

static hoist_err_t
s_lifecycles(s_ctx_t *c, const yamlfile_pair_t *pair, hoist_error_t *err)
{
    yaml_node_t *map = NULL;
    yamlfile_pair_t p;
    hoist_err_t rc = yamlfile_mapping(c->yf, pair, &map, err);
    for (size_t i = 0;
         rc == HOIST_OK && yamlfile_next(c->yf, map, "lifecycles", &i, &p);) {
        if (c->p->nlifecycles == PIPELINE_MAX_LIFECYCLES) {
            rc = yamlfile_error(c->yf, &p, err, "more than %d lifecycles",
                                PIPELINE_MAX_LIFECYCLES);
        } else {
            rc = s_lifecycle(c, &p, c->p->nlifecycles, err);
            c->p->nlifecycles += rc == HOIST_OK;
        }
    }
    return rc;
}

/* Without lifecycles, "default" holds every environment that is not a
 * mirror, in file order (none when there are no such environments). */
static void
s_default_lifecycle(pipeline_t *p)
{
    pipeline_lifecycle_t *lc = &p->lifecycles[0];
    memset(lc, 0, sizeof *lc);
    snprintf(lc->name, sizeof lc->name, "default");
    for (size_t i = 0; i < p->nenvs; i++) {
        if (!p->envs[i].mirror[0]) {
            snprintf(lc->envs[lc->count++], sizeof lc->envs[0], "%s",
                     p->envs[i].name);
        }
    }
    p->nlifecycles = lc->count > 0;
}

/* Reads the root mapping: finds the top-level keys first, then reads
 * them in dependency order (see the top of this file). */
static hoist_err_t
s_root(s_ctx_t *c, hoist_error_t *err)
{
    yaml_node_t *root = NULL;
    yamlfile_pair_t pairs[S_NROOT];
    bool seen[S_NROOT] = {false};
    yamlfile_pair_t p;
    hoist_err_t rc = yamlfile_root(c->yf, &root, err);
    s_find_base(c, root);
    for (size_t i = 0;
         rc == HOIST_OK && yamlfile_next(c->yf, root, "", &i, &p);) {
        int k = yamlfile_key(c->yf, &p, s_root_keys, err);
        if (k < 0) {
            rc = S_CODE;
        } else {
            pairs[k] = p;
            seen[k] = true;
        }
    }
    if (rc == HOIST_OK && seen[S_ROOT_TZ]) {
        rc = s_zone(c, &pairs[S_ROOT_TZ], c->p->timezone, err);
    }
    if (rc == HOIST_OK && seen[S_ROOT_ENVS]) {
        rc = s_envs(c, &pairs[S_ROOT_ENVS], err);
    }
    if (rc == HOIST_OK) {
        rc = s_check_mirrors(c, err);
    }
    if (rc == HOIST_OK && seen[S_ROOT_LIFECYCLES]) {
        rc = s_lifecycles(c, &pairs[S_ROOT_LIFECYCLES], err);
    }
    if (rc == HOIST_OK && c->p->nlifecycles == 0) {
        s_default_lifecycle(c->p);
    }
    if (rc == HOIST_OK && seen[S_ROOT_NOTIFY]) {
        rc = s_entries(c, &pairs[S_ROOT_NOTIFY], PIPELINE_MAX_NOTIFY,
                       sizeof c->p->notify[0], s_notify_fn, c->p->notify,
                       &c->p->nnotify, err);
    }
    return rc;
}

pipeline_t *
pipeline_load(const char *buf, size_t len, const char *name, hoist_error_t *err)
{
    s_ctx_t *c = calloc(1, sizeof *c);
    pipeline_t *p = calloc(1, sizeof *p);
    if (!c || !p) {
        free(c);
        free(p);
        error_set(err, HOIST_ERR_NOMEM, "%s: out of memory", name);
        return NULL;
    }
    c->p = p;
    snprintf(p->timezone, sizeof p->timezone, "UTC");
    c->yf = yamlfile_load(buf, len, PIPELINE_MAX_BYTES, name, S_CODE, err);
    if (!c->yf || s_root(c, err) != HOIST_OK) {
        pipeline_destroy(&p);
    }
    yamlfile_destroy(&c->yf);
    free(c);
    return p;
}

void
pipeline_destroy(pipeline_t **p)
{
    if (!p || !*p) {
        return;
    }
    free(*p);
    *p = NULL;
}

/* ---- Lookups ---- */

const pipeline_env_t *
pipeline_env(const pipeline_t *p, const char *name)
{
    for (size_t i = 0; name && i < p->nenvs; i++) {
        if (strcmp(p->envs[i].name, name) == 0) {
            return &p->envs[i];
        }
    }
    return NULL;
}

const pipeline_lifecycle_t *
pipeline_lifecycle(const pipeline_t *p, const char *name)
{
    if (!name) {
        return p->nlifecycles ? &p->lifecycles[0] : NULL;
    }
    for (size_t i = 0; i < p->nlifecycles; i++) {
        if (strcmp(p->lifecycles[i].name, name) == 0) {
            return &p->lifecycles[i];
        }
    }
    return NULL;
}

int
pipeline_lifecycle_index(const pipeline_lifecycle_t *lc, const char *env)
{
    for (size_t i = 0; env && i < lc->count; i++) {
        if (strcmp(lc->envs[i], env) == 0) {
            return (int)i;
        }
    }
    return -1;
}

hoist_err_t
pipeline_previous_env(const pipeline_t *p, const char *lifecycle,
                      const char *env, const char **prev, hoist_error_t *err)
{
    const pipeline_lifecycle_t *lc = pipeline_lifecycle(p, lifecycle);
    if (!lc) {
        return error_set(err, HOIST_ERR_NOTFOUND,
                         "no lifecycle '%s' in the pipeline file",
                         lifecycle ? lifecycle : "default");
    }
    int i = pipeline_lifecycle_index(lc, env);
    if (i < 0) {
        return error_set(err, HOIST_ERR_NOTFOUND,
                         "environment '%s' is not in lifecycle '%s'",
                         env ? env : "", lc->name);
    }
    *prev = i == 0 ? NULL : lc->envs[i - 1];
    return HOIST_OK;
}

const char *
pipeline_mirror_of(const pipeline_t *p, const char *env)
{
    const pipeline_env_t *e = pipeline_env(p, env);
    return e && e->mirror[0] ? e->mirror : NULL;
}

size_t
pipeline_mirrors(const pipeline_t *p, const char *env, const char **out,
                 size_t max)
{
    size_t n = 0;
    for (size_t i = 0; env && i < p->nenvs; i++) {
        if (strcmp(p->envs[i].mirror, env) == 0) {
            if (n < max) {
                out[n] = p->envs[i].name;
            }
            n++;
        }
    }
    return n;
}

const char *
pipeline_env_tag(const pipeline_env_t *e, const char *key)
{
    for (size_t i = 0; key && i < e->ntags; i++) {
        if (strcmp(e->tags[i].key, key) == 0) {
            return e->tags[i].value;
        }
    }
    return NULL;
}

/* ---- Equality ---- */

static bool
s_window_equal(const calendar_window_t *a, const calendar_window_t *b)
{
    return a->days == b->days && a->from_min == b->from_min &&
           a->to_min == b->to_min && strcmp(a->tz, b->tz) == 0;
}

static bool
s_freeze_equal(const calendar_freeze_t *a, const calendar_freeze_t *b)
{
    return calendar_date_cmp(&a->from, &b->from) == 0 &&
           calendar_date_cmp(&a->to, &b->to) == 0 &&
           strcmp(a->tz, b->tz) == 0 && strcmp(a->reason, b->reason) == 0;
}

static bool
s_notify_equal(const pipeline_notify_t *a, size_t na,
               const pipeline_notify_t *b, size_t nb)
{
    if (na != nb) {
        return false;
    }
    for (size_t i = 0; i < na; i++) {
        if (strcmp(a[i].command, b[i].command) != 0) {
            return false;
        }
    }
    return true;
}

static bool
s_env_equal(const pipeline_env_t *a, const pipeline_env_t *b)
{
    if (strcmp(a->name, b->name) != 0 || strcmp(a->mirror, b->mirror) != 0 ||
        a->ntags != b->ntags || a->auto_deploy != b->auto_deploy ||
        a->sync_manual != b->sync_manual || a->approvals != b->approvals ||
        (a->approvals && a->approval_role != b->approval_role) ||
        a->nwindows != b->nwindows || a->nfreezes != b->nfreezes ||
        !s_notify_equal(a->notify, a->nnotify, b->notify, b->nnotify) ||
        !strategy_equal(&a->rollout, &b->rollout)) {
        return false;
    }
    for (size_t i = 0; i < a->ntags; i++) {
        if (strcmp(a->tags[i].key, b->tags[i].key) != 0 ||
            strcmp(a->tags[i].value, b->tags[i].value) != 0) {
            return false;
        }
    }
    for (size_t i = 0; i < a->nwindows; i++) {
        if (!s_window_equal(&a->windows[i], &b->windows[i])) {
            return false;
        }
    }
    for (size_t i = 0; i < a->nfreezes; i++) {
        if (!s_freeze_equal(&a->freezes[i], &b->freezes[i])) {
            return false;
        }
    }
    return true;
}

static bool
s_lifecycle_equal(const pipeline_lifecycle_t *a, const pipeline_lifecycle_t *b)
{
    if (strcmp(a->name, b->name) != 0 || a->count != b->count) {
        return false;
    }
    for (size_t i = 0; i < a->count; i++) {
        if (strcmp(a->envs[i], b->envs[i]) != 0) {
            return false;
        }
    }
    return true;
}

bool
pipeline_equal(const pipeline_t *a, const pipeline_t *b)
{
    if (strcmp(a->timezone, b->timezone) != 0 || a->nenvs != b->nenvs ||
        a->nlifecycles != b->nlifecycles ||
        !s_notify_equal(a->notify, a->nnotify, b->notify, b->nnotify)) {
        return false;
    }
    for (size_t i = 0; i < a->nenvs; i++) {
        if (!s_env_equal(&a->envs[i], &b->envs[i])) {
            return false;
        }
    }
    for (size_t i = 0; i < a->nlifecycles; i++) {
        if (!s_lifecycle_equal(&a->lifecycles[i], &b->lifecycles[i])) {
            return false;
        }
    }
    return true;
}

/* ---- Writing the file back ---- */

/* Adds a scalar. Text that YAML would read as null goes in double
 * quotes; for the rest libyaml picks plain or the quoting it needs. */
static int
s_scalar(yaml_document_t *doc, const char *text)
{
    static const char *const nulls[] = {"~", "null", "Null", "NULL", ""};
    yaml_scalar_style_t style = YAML_ANY_SCALAR_STYLE;
    for (size_t i = 0; i < sizeof nulls / sizeof *nulls; i++) {
        if (strcmp(text, nulls[i]) == 0) {
            style = YAML_DOUBLE_QUOTED_SCALAR_STYLE;
        }
    }
    return yaml_document_add_scalar(doc, NULL, (yaml_char_t *)text, -1, style);
}

/* Appends KEY: VALUE (a node id, 0 when adding it failed) to MAP. */
static bool
s_put(yaml_document_t *doc, int map, const char *key, int value)
{
    int k = s_scalar(doc, key);
    return k && value && yaml_document_append_mapping_pair(doc, map, k, value);
}

static bool
s_put_text(yaml_document_t *doc, int map, const char *key, const char *text)
{
    return s_put(doc, map, key, s_scalar(doc, text));
}

/* "09:00" goes in double quotes as in DESIGN.md: plain, YAML 1.1 tools
 * would read it as a number (sexagesimal 540). */
static bool
s_put_hhmm(yaml_document_t *doc, int map, const char *key, uint16_t minutes)
{
    char buf[8];
    calendar_format_hhmm(minutes, buf, sizeof buf);
    return s_put(doc, map, key,
                 yaml_document_add_scalar(doc, NULL, (yaml_char_t *)buf, -1,
                                          YAML_DOUBLE_QUOTED_SCALAR_STYLE));
}

static bool
s_emit_notify(yaml_document_t *doc, int map, const pipeline_notify_t *n,
              size_t count)
{
    int seq = yaml_document_add_sequence(doc, NULL, YAML_BLOCK_SEQUENCE_STYLE);
    bool ok = count == 0 || s_put(doc, map, "notify", seq);
    for (size_t i = 0; ok && i < count; i++) {
        int m = yaml_document_add_mapping(doc, NULL, YAML_BLOCK_MAPPING_STYLE);
        ok = m && yaml_document_append_sequence_item(doc, seq, m) &&
             s_put_text(doc, m, "command", n[i].command);
    }
    return ok;
}

static bool
s_emit_window(yaml_document_t *doc, int seq, const calendar_window_t *w,
              const char *tz)
{
    int m = yaml_document_add_mapping(doc, NULL, YAML_FLOW_MAPPING_STYLE);
    bool ok = m && yaml_document_append_sequence_item(doc, seq, m);
    if (ok && w->days != CALENDAR_ALL_DAYS) {
        int days =
            yaml_document_add_sequence(doc, NULL, YAML_FLOW_SEQUENCE_STYLE);
        ok = s_put(doc, m, "days", days);
        for (int d = 0; ok && d < 7; d++) {
            ok = !(w->days & (1u << d)) ||
                 yaml_document_append_sequence_item(
                     doc, days, s_scalar(doc, calendar_day_name(d)));
        }
    }
    ok = ok && s_put_hhmm(doc, m, "from", w->from_min) &&
         s_put_hhmm(doc, m, "to", w->to_min);
    if (ok && strcmp(w->tz, tz) != 0) {
        ok = s_put_text(doc, m, "tz", w->tz);
    }
    return ok;
}

static bool
s_emit_freeze(yaml_document_t *doc, int seq, const calendar_freeze_t *f,
              const char *tz)
{
    char from[16];
    char to[16];
    int m = yaml_document_add_mapping(doc, NULL, YAML_FLOW_MAPPING_STYLE);
    bool ok =
        m && yaml_document_append_sequence_item(doc, seq, m) &&
        s_put_text(doc, m, "from",
                   calendar_format_date(&f->from, from, sizeof from)) &&
        s_put_text(doc, m, "to", calendar_format_date(&f->to, to, sizeof to)) &&
        s_put_text(doc, m, "reason", f->reason);
    if (ok && strcmp(f->tz, tz) != 0) {
        ok = s_put_text(doc, m, "tz", f->tz);
    }
    return ok;
}

/* Adds E's calendar: windows and freezes, one flow mapping a line. */
static bool
s_emit_calendar(yaml_document_t *doc, int map, const pipeline_env_t *e,
                const char *tz)
{
    bool ok = true;
    if (e->nwindows) {
        int seq =
            yaml_document_add_sequence(doc, NULL, YAML_BLOCK_SEQUENCE_STYLE);
        ok = s_put(doc, map, "windows", seq);
        for (size_t i = 0; ok && i < e->nwindows; i++) {
            ok = s_emit_window(doc, seq, &e->windows[i], tz);
        }
    }
    if (ok && e->nfreezes) {
        int seq =
            yaml_document_add_sequence(doc, NULL, YAML_BLOCK_SEQUENCE_STYLE);
        ok = s_put(doc, map, "freezes", seq);
        for (size_t i = 0; ok && i < e->nfreezes; i++) {
            ok = s_emit_freeze(doc, seq, &e->freezes[i], tz);
        }
    }
    return ok;
}

/* Adds E's mirror, tags, auto_deploy and approvals to MAP. */
static bool
s_emit_policy(yaml_document_t *doc, int map, const pipeline_env_t *e)
{
    char count[16];
    bool ok = !e->mirror[0] || s_put_text(doc, map, "mirror", e->mirror);
    if (ok && e->ntags) {
        int tags =
            yaml_document_add_mapping(doc, NULL, YAML_FLOW_MAPPING_STYLE);
        ok = s_put(doc, map, "tags", tags);
        for (size_t i = 0; ok && i < e->ntags; i++) {
            ok = s_put_text(doc, tags, e->tags[i].key, e->tags[i].value);
        }
    }
    if (ok && e->auto_deploy) {
        ok = s_put_text(doc, map, "auto_deploy", "true");
    }
    if (ok && e->sync_manual) {
        ok = s_put_text(doc, map, "sync", "manual");
    }
    if (ok && e->approvals) {
        int a = yaml_document_add_mapping(doc, NULL, YAML_FLOW_MAPPING_STYLE);
        snprintf(count, sizeof count, "%u", e->approvals);
        ok = s_put(doc, map, "approvals", a) &&
             s_put_text(doc, a, "count", count) &&
             s_put_text(doc, a, "role", rbac_role_name(e->approval_role));
    }
    return ok;
}

/* Adds environment E under ENVS. */
static hoist_err_t
s_emit_env(yaml_document_t *doc, int envs, const pipeline_env_t *e,
           const char *tz, hoist_error_t *err)
{
    int map = yaml_document_add_mapping(doc, NULL, YAML_BLOCK_MAPPING_STYLE);
    if (!s_put(doc, envs, e->name, map) || !s_emit_policy(doc, map, e) ||
        !s_emit_calendar(doc, map, e, tz)) {
        return error_set(err, HOIST_ERR_NOMEM, "out of memory");
    }
    hoist_err_t rc = strategy_emit(&e->rollout, e->name, doc, map, err);
    if (rc == HOIST_OK && !s_emit_notify(doc, map, e->notify, e->nnotify)) {
        rc = error_set(err, HOIST_ERR_NOMEM, "out of memory");
    }
    return rc;
}

static bool
s_emit_lifecycles(yaml_document_t *doc, int root, const pipeline_t *p)
{
    int map = yaml_document_add_mapping(doc, NULL, YAML_BLOCK_MAPPING_STYLE);
    bool ok = p->nlifecycles == 0 || s_put(doc, root, "lifecycles", map);
    for (size_t i = 0; ok && i < p->nlifecycles; i++) {
        const pipeline_lifecycle_t *lc = &p->lifecycles[i];
        int seq =
            yaml_document_add_sequence(doc, NULL, YAML_FLOW_SEQUENCE_STYLE);
        ok = s_put(doc, map, lc->name, seq);
        for (size_t k = 0; ok && k < lc->count; k++) {
            ok = yaml_document_append_sequence_item(doc, seq,
                                                    s_scalar(doc, lc->envs[k]));
        }
    }
    return ok;
}

/* Builds the document of P into DOC (initialized by the caller). */
static hoist_err_t
s_build(yaml_document_t *doc, const pipeline_t *p, hoist_error_t *err)
{
    int root = yaml_document_add_mapping(doc, NULL, YAML_BLOCK_MAPPING_STYLE);
    bool ok = root && (strcmp(p->timezone, "UTC") == 0 ||
                       s_put_text(doc, root, "timezone", p->timezone));
    ok = ok && s_emit_lifecycles(doc, root, p);
    int envs = yaml_document_add_mapping(doc, NULL, YAML_BLOCK_MAPPING_STYLE);
    ok = ok && (p->nenvs == 0 || s_put(doc, root, "environments", envs));
    if (!ok) {
        return error_set(err, HOIST_ERR_NOMEM, "out of memory");
    }
    hoist_err_t rc = HOIST_OK;
    for (size_t i = 0; rc == HOIST_OK && i < p->nenvs; i++) {
        rc = s_emit_env(doc, envs, &p->envs[i], p->timezone, err);
    }
    if (rc == HOIST_OK && !s_emit_notify(doc, root, p->notify, p->nnotify)) {
        rc = error_set(err, HOIST_ERR_NOMEM, "out of memory");
    }
    return rc;
}

/* The emitter's output: a growing NUL-terminated buffer. */
typedef struct {
    char *buf;
    size_t len;
    size_t cap;
} s_out_t;

static int
s_write(void *data, unsigned char *bytes, size_t size)
{
    s_out_t *o = data;
    if (o->len + size + 1 > o->cap) {
        size_t cap = (o->len + size + 1) * 2;
        char *b = realloc(o->buf, cap);
        if (!b) {
            return 0;
        }
        o->buf = b;
        o->cap = cap;
    }
    memcpy(o->buf + o->len, bytes, size);
    o->len += size;
    o->buf[o->len] = '\0';
    return 1;
}

hoist_err_t
pipeline_export(const pipeline_t *p, char **yaml_out, size_t *len,
                hoist_error_t *err)
{
    yaml_document_t doc;
    yaml_emitter_t emitter;
    s_out_t out = {0};
    if (!yaml_document_initialize(&doc, NULL, NULL, NULL, 1, 1)) {
        return error_set(err, HOIST_ERR_NOMEM, "out of memory");
    }
    hoist_err_t rc = s_build(&doc, p, err);
    if (rc != HOIST_OK) {
        yaml_document_delete(&doc);
        return rc;
    }
    if (!yaml_emitter_initialize(&emitter)) {
        yaml_document_delete(&doc);
        return error_set(err, HOIST_ERR_NOMEM, "out of memory");
    }
    yaml_emitter_set_output(&emitter, s_write, &out);
    yaml_emitter_set_unicode(&emitter, 1);
    /* No folding of long flow lines: one window or freeze a line. */
    yaml_emitter_set_width(&emitter, -1);
    /* yaml_emitter_dump frees the document whether or not it succeeds. */
    bool ok = yaml_emitter_open(&emitter) &&
              yaml_emitter_dump(&emitter, &doc) &&
              yaml_emitter_close(&emitter) && yaml_emitter_flush(&emitter);
    if (!emitter.opened) {
        yaml_document_delete(&doc);
    }
    yaml_emitter_delete(&emitter);
    if (!ok || !out.buf) {
        free(out.buf);
        return error_set(err, HOIST_ERR_NOMEM,
                         "cannot write the pipeline file as YAML");
    }
    *yaml_out = out.buf;
    *len = out.len;
    return HOIST_OK;
}
