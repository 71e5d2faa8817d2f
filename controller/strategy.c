/*
 * strategy: reading, writing and overriding a rollout strategy.
 *
 * The pipeline file and the command line spell the shape with the same
 * keys and the same values ("batch: 25%" and "rolling:batch=25%"), so
 * both go through one setter, s_shape_set, which explains a refusal in a
 * sentence; the YAML side adds file:line:key to it (yamlfile_error), the
 * command-line side the text it was given. Every number has a bound: a
 * strategy comes from a person's file, and the planner sizes its work by
 * it.
 */
#include "strategy.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "duration.h"

#define S_MINUTE_MS           60000ULL
#define S_DEFAULT_DEADLINE_MS (10 * S_MINUTE_MS)
#define S_DEFAULT_OFFLINE_MS  (10 * S_MINUTE_MS)
/* No hold, bake, deadline or offline wait is longer than a week; more
 * is a typo ("5d" for "5m"), and a rollout that waits a month is stuck. */
#define S_MAX_WAIT_MS  (7 * 24 * 60 * S_MINUTE_MS)
#define S_PREFIX_MAX   256 /* a dotted key path in messages */
#define S_OVERRIDE_MAX 256 /* a --strategy text */

const char *const strategy_keys[] = {"strategy",      "failure_threshold",
                                     "auto_rollback", "progress_deadline",
                                     "offline",       NULL};

enum {
    S_ENV_STRATEGY,
    S_ENV_THRESHOLD,
    S_ENV_ROLLBACK,
    S_ENV_DEADLINE,
    S_ENV_OFFLINE,
};

/* The keys inside `strategy`, and for each the types that take it. */
enum {
    S_TYPE,
    S_BATCH,
    S_MAXU,
    S_COUNT,
    S_HOLD,
    S_THEN,
    S_BY,
    S_BAKE,
    S_WAVES,
    S_NSHAPE,
};
static const char *const s_shape_keys[] = {
    "type", "batch", "max_unavailable", "count", "hold", "then",
    "by",   "bake",  "waves",           NULL};

#define S_T(t) (1u << (t))
#define S_T_ALL                                                                \
    (S_T(STRATEGY_ALL_AT_ONCE) | S_T(STRATEGY_ROLLING) | S_T(STRATEGY_CANARY))
static const unsigned s_shape_types[S_NSHAPE] = {
    [S_TYPE] = S_T_ALL,
    [S_BATCH] = S_T(STRATEGY_ROLLING) | S_T(STRATEGY_CANARY),
    [S_MAXU] = S_T_ALL,
    [S_COUNT] = S_T(STRATEGY_CANARY),
    [S_HOLD] = S_T(STRATEGY_CANARY),
    [S_THEN] = S_T(STRATEGY_CANARY),
    [S_BY] = S_T_ALL,
    [S_BAKE] = S_T_ALL,
    [S_WAVES] = S_T_ALL,
};

static const char *const s_type_names[] = {
    [STRATEGY_ALL_AT_ONCE] = "all-at-once",
    [STRATEGY_ROLLING] = "rolling",
    [STRATEGY_CANARY] = "canary",
};

/* Writes a refusal into WHY (LEN bytes); returns false for `return`. */
static bool __attribute__((format(printf, 3, 4)))
s_why(char *why, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, len, fmt, ap);
    va_end(ap);
    return false;
}

void
strategy_default(strategy_t *s, const char *env)
{
    memset(s, 0, sizeof *s);
    s->type = STRATEGY_ALL_AT_ONCE;
    s->then = STRATEGY_THEN_AUTO;
    s->auto_rollback = env && strcmp(env, "production") == 0;
    s->progress_deadline_ms = S_DEFAULT_DEADLINE_MS;
    s->offline_wait_ms = S_DEFAULT_OFFLINE_MS;
    s->offline_then = STRATEGY_OFFLINE_FAIL;
}

/* Zeroes the shape of S and keeps its reaction to failures. */
static void
s_clear_shape(strategy_t *s)
{
    strategy_t t;
    strategy_default(&t, NULL);
    t.failure_threshold = s->failure_threshold;
    t.auto_rollback = s->auto_rollback;
    t.progress_deadline_ms = s->progress_deadline_ms;
    t.offline_wait_ms = s->offline_wait_ms;
    t.offline_then = s->offline_then;
    *s = t;
}

const char *
strategy_type_name(strategy_type_t type)
{
    if ((unsigned)type >= sizeof s_type_names / sizeof *s_type_names) {
        return "unknown";
    }
    return s_type_names[type];
}

size_t
strategy_amount_of(strategy_amount_t amount, size_t n)
{
    if (!amount.percent) {
        return amount.value;
    }
    if (amount.value == 0 || n == 0) {
        return 0;
    }
    /* Rounds up, so "10%" of 5 agents is one agent, never none. */
    return (size_t)(((uint64_t)amount.value * n + 99) / 100);
}

/* Reads TEXT, DIGITS or DIGITS%, into *OUT: a count from MIN to
 * STRATEGY_MAX_COUNT or, when PERCENT_OK, a percentage from MIN to 100. */
static bool
s_amount(const char *text, uint32_t min, bool percent_ok,
         strategy_amount_t *out, char *why, size_t len)
{
    size_t digits = strspn(text, "0123456789");
    bool percent = text[digits] == '%' && text[digits + 1] == '\0';
    uint64_t v = 0;
    for (size_t i = 0; i < digits && digits <= 10; i++) {
        v = v * 10 + (uint64_t)(text[i] - '0');
    }
    bool ok = digits > 0 && digits <= 10 && (percent || text[digits] == '\0');
    if (ok && percent) {
        ok = percent_ok && v >= min && v <= 100;
    } else if (ok) {
        ok = v >= min && v <= STRATEGY_MAX_COUNT;
    }
    if (!ok) {
        if (!percent_ok) {
            return s_why(why, len,
                         "expected a number of agents from %" PRIu32
                         " to %u, got '%s'",
                         min, STRATEGY_MAX_COUNT, text);
        }
        return s_why(why, len,
                     "expected a number of agents from %" PRIu32
                     " to %u or a percentage from %" PRIu32
                     "%% to 100%% (like 25%%), got '%s'",
                     min, STRATEGY_MAX_COUNT, min, text);
    }
    out->value = (uint32_t)v;
    out->percent = percent;
    return true;
}

/* Reads TEXT as a duration of at most S_MAX_WAIT_MS into *MS. */
static bool
s_wait(const char *text, uint64_t min, uint64_t *ms, char *why, size_t len)
{
    hoist_error_t e;
    uint64_t v = 0;
    if (duration_parse(text, &v, &e) != HOIST_OK) {
        return s_why(why, len, "%s", e.msg);
    }
    if (v < min || v > S_MAX_WAIT_MS) {
        char a[32], b[32];
        return s_why(why, len, "expected a duration from %s to %s, got '%s'",
                     duration_format(min, a, sizeof a),
                     duration_format(S_MAX_WAIT_MS, b, sizeof b), text);
    }
    *ms = v;
    return true;
}

/* Sets the shape key KEY (S_TYPE..S_BAKE) of S from TEXT. The type
 * decides which keys are allowed, so S->type must be set first. */
static bool
s_shape_set(strategy_t *s, int key, const char *text, char *why, size_t len)
{
    if (!(s_shape_types[key] & S_T(s->type))) {
        return s_why(why, len, "'%s' does not apply to a %s strategy",
                     s_shape_keys[key], strategy_type_name(s->type));
    }
    switch (key) {
    case S_TYPE:
        for (unsigned t = 0; t < sizeof s_type_names / sizeof *s_type_names;
             t++) {
            if (strcmp(text, s_type_names[t]) == 0) {
                s->type = (strategy_type_t)t;
                return true;
            }
        }
        return s_why(why, len,
                     "expected all-at-once, rolling or canary, got '%s'", text);
    case S_BATCH:
        return s_amount(text, 1, true, &s->batch, why, len);
    case S_MAXU:
        return s_amount(text, 1, true, &s->max_unavailable, why, len);
    case S_COUNT:
        return s_amount(text, 1, true, &s->canary, why, len);
    case S_HOLD:
        return s_wait(text, 0, &s->hold_ms, why, len);
    case S_BAKE:
        return s_wait(text, 0, &s->bake_ms, why, len);
    case S_THEN:
        if (strcmp(text, "auto") == 0 || strcmp(text, "manual") == 0) {
            s->then = *text == 'a' ? STRATEGY_THEN_AUTO : STRATEGY_THEN_MANUAL;
            return true;
        }
        return s_why(why, len, "expected auto or manual, got '%s'", text);
    case S_BY:
        if (strcmp(text, "site") == 0) {
            s->by_site = true;
            return true;
        }
        return s_why(why, len, "expected site (the only grouping), got '%s'",
                     text);
    default:
        return s_why(why, len, "'%s' cannot be set here", s_shape_keys[key]);
    }
}

/* Checks what only the whole shape shows: required and exclusive keys. */
static bool
s_shape_check(const strategy_t *s, char *why, size_t len)
{
    if (s->type == STRATEGY_ROLLING && s->batch.value == 0) {
        return s_why(why, len,
                     "a rolling strategy needs a batch size (batch: 2 or "
                     "batch: 25%%)");
    }
    if (s->type == STRATEGY_CANARY && s->canary.value == 0) {
        return s_why(why, len,
                     "a canary strategy needs the canary's size (count: 1 "
                     "or count: 10%%)");
    }
    if (s->by_site && s->nwaves > 0) {
        return s_why(why, len,
                     "'by: site' and 'waves' both order the waves: keep one");
    }
    return true;
}

/* A site name: 1..STRATEGY_SITE_MAX letters, digits, '.', '_' or '-',
 * the characters agent tags use. */
static bool
s_site(const char *text, char *out, char *why, size_t len)
{
    size_t n = strlen(text);
    if (n == 0 || n > STRATEGY_SITE_MAX ||
        strspn(text, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                     "0123456789._-") != n) {
        return s_why(why, len,
                     "expected a site name of 1 to %d letters, digits, '.', "
                     "'_' or '-', got '%s'",
                     STRATEGY_SITE_MAX, text);
    }
    memcpy(out, text, n + 1);
    return true;
}

/* ---- The pipeline file ---- */

/* Sets *TEXT to PAIR's value if it is a non-empty scalar. */
static hoist_err_t
s_text(yamlfile_t *yf, const yamlfile_pair_t *pair, const char **text,
       hoist_error_t *err)
{
    const yaml_node_t *v = pair->value;
    if (v->type != YAML_SCALAR_NODE) {
        return yamlfile_error(yf, pair, err, "expected a value, got %s",
                              v->type == YAML_SEQUENCE_NODE ? "a list"
                                                            : "a mapping");
    }
    const char *t = (const char *)v->data.scalar.value;
    if (*t == '\0' || strlen(t) != v->data.scalar.length) {
        return yamlfile_error(yf, pair, err, "expected a value, got '%s'", t);
    }
    *text = t;
    return HOIST_OK;
}

/* Writes PAIR's dotted key path into BUF, the prefix of its children. */
static void
s_prefix(const yamlfile_pair_t *pair, char *buf, size_t len)
{
    snprintf(buf, len, "%s%s%s", pair->prefix, *pair->prefix ? "." : "",
             pair->key);
}

/* The K-th item of the sequence SEQ. yamlfile offers no sequence walker
 * and keeps its libyaml document private, so this leans on how libyaml's
 * loader fills the node table: a sequence is added before its items, and
 * its first item right after it (ids SEQ_ID and SEQ_ID + 1; yamlfile
 * refuses aliases, so every item is a fresh node). The item's marks must
 * lie inside the sequence's; NULL if they do not (another libyaml). */
static yaml_node_t *
s_item(yaml_node_t *seq, size_t k)
{
    yaml_node_item_t *items = seq->data.sequence.items.start;
    ptrdiff_t off = (ptrdiff_t)items[k] - (ptrdiff_t)items[0] + 1;
    if (off < 1) {
        return NULL;
    }
    yaml_node_t *item = seq + off;
    if (item->start_mark.index < seq->start_mark.index ||
        item->end_mark.index > seq->end_mark.index ||
        item->type < YAML_SCALAR_NODE || item->type > YAML_MAPPING_NODE) {
        return NULL;
    }
    return item;
}

/* Reads one entry of `waves`, ITEM (a pair named "waves[K]"), into *W. */
static hoist_err_t
s_read_wave(yamlfile_t *yf, const yamlfile_pair_t *item, strategy_wave_t *w,
            hoist_error_t *err)
{
    static const char *const keys[] = {"count", "percent", "site", NULL};
    yaml_node_t *map = NULL;
    hoist_err_t rc = yamlfile_mapping(yf, item, &map, err);
    if (rc != HOIST_OK) {
        return rc;
    }
    char prefix[S_PREFIX_MAX], why[512];
    s_prefix(item, prefix, sizeof prefix);
    yamlfile_pair_t p;
    unsigned seen = 0;
    for (size_t i = 0; yamlfile_next(yf, map, prefix, &i, &p);) {
        const char *text = NULL;
        int k = 0;
        while (keys[k] && strcmp(keys[k], p.key) != 0) {
            k++;
        }
        if (!keys[k]) {
            return yamlfile_error(
                yf, &p, err, "unknown key (allowed: count, percent, site)");
        }
        if ((rc = s_text(yf, &p, &text, err)) != HOIST_OK) {
            return rc;
        }
        bool ok = true;
        if (k == 0) {
            ok = s_amount(text, 1, true, &w->amount, why, sizeof why);
        } else if (k == 1) {
            /* {percent: 10} is {count: 10%} spelled for people. */
            char pct[32];
            snprintf(pct, sizeof pct, "%.20s%%", text);
            ok = strlen(text) <= 20 &&
                 s_amount(pct, 1, true, &w->amount, why, sizeof why);
            if (!ok) {
                ok = s_why(why, sizeof why,
                           "expected a percentage from 1 to 100, got '%s'",
                           text);
            }
        } else {
            ok = s_site(text, w->site, why, sizeof why);
        }
        if (!ok) {
            return yamlfile_error(yf, &p, err, "%s", why);
        }
        w->kind = k == 2 ? STRATEGY_WAVE_SITE : STRATEGY_WAVE_COUNT;
        seen++;
    }
    if (seen != 1) {
        return yamlfile_error(yf, item, err,
                              "expected one of {count: N}, {percent: P} or "
                              "{site: NAME}");
    }
    return HOIST_OK;
}

/* Reads `waves`, a list of 1..STRATEGY_MAX_WAVES entries, into S. */
static hoist_err_t
s_read_waves(yamlfile_t *yf, const yamlfile_pair_t *pair, strategy_t *s,
             hoist_error_t *err)
{
    yaml_node_t *seq = pair->value;
    if (seq->type != YAML_SEQUENCE_NODE) {
        return yamlfile_error(
            yf, pair, err, "expected a list like [{count: 1}, {site: fra1}]");
    }
    size_t n =
        (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
    if (n == 0 || n > STRATEGY_MAX_WAVES) {
        return yamlfile_error(yf, pair, err, "expected 1 to %d waves, got %zu",
                              STRATEGY_MAX_WAVES, n);
    }
    char name[32];
    for (size_t k = 0; k < n; k++) {
        yaml_node_t *node = s_item(seq, k);
        if (!node) {
            return yamlfile_error(yf, pair, err,
                                  "cannot read item %zu of this list", k + 1);
        }
        snprintf(name, sizeof name, "waves[%zu]", k);
        yamlfile_pair_t item = {.key = name,
                                .prefix = pair->prefix,
                                .line = (unsigned)node->start_mark.line + 1,
                                .value = node};
        strategy_wave_t w = {0};
        hoist_err_t rc = s_read_wave(yf, &item, &w, err);
        if (rc != HOIST_OK) {
            return rc;
        }
        for (size_t j = 0; j < k && w.kind == STRATEGY_WAVE_SITE; j++) {
            if (s->waves[j].kind == STRATEGY_WAVE_SITE &&
                strcmp(s->waves[j].site, w.site) == 0) {
                return yamlfile_error(yf, &item, err,
                                      "site '%s' has a wave already", w.site);
            }
        }
        s->waves[k] = w;
    }
    s->nwaves = (unsigned)n;
    return HOIST_OK;
}

/* Finds the `type` among MAP's pairs and sets it in S: the other keys
 * are checked against it, wherever it stands in the mapping. */
static hoist_err_t
s_read_type(yamlfile_t *yf, const yamlfile_pair_t *pair, yaml_node_t *map,
            const char *prefix, strategy_t *s, hoist_error_t *err)
{
    yamlfile_pair_t p;
    char why[512];
    for (size_t i = 0; yamlfile_next(yf, map, prefix, &i, &p);) {
        if (strcmp(p.key, "type") != 0) {
            continue;
        }
        const char *text = NULL;
        hoist_err_t rc = s_text(yf, &p, &text, err);
        if (rc != HOIST_OK) {
            return rc;
        }
        if (!s_shape_set(s, S_TYPE, text, why, sizeof why)) {
            return yamlfile_error(yf, &p, err, "%s", why);
        }
        return HOIST_OK;
    }
    return yamlfile_error(yf, pair, err,
                          "missing 'type' (all-at-once, rolling or canary)");
}

/* Reads the `strategy` mapping into the shape of S. */
static hoist_err_t
s_read_shape(yamlfile_t *yf, const yamlfile_pair_t *pair, strategy_t *s,
             hoist_error_t *err)
{
    yaml_node_t *map = NULL;
    hoist_err_t rc = yamlfile_mapping(yf, pair, &map, err);
    if (rc != HOIST_OK) {
        return rc;
    }
    char prefix[S_PREFIX_MAX], why[512];
    s_prefix(pair, prefix, sizeof prefix);
    s_clear_shape(s);
    if ((rc = s_read_type(yf, pair, map, prefix, s, err)) != HOIST_OK) {
        return rc;
    }
    yamlfile_pair_t p;
    for (size_t i = 0; yamlfile_next(yf, map, prefix, &i, &p);) {
        int k = 0;
        while (s_shape_keys[k] && strcmp(s_shape_keys[k], p.key) != 0) {
            k++;
        }
        if (!s_shape_keys[k]) {
            return yamlfile_error(yf, &p, err,
                                  "unknown key (allowed: type, batch, "
                                  "max_unavailable, count, hold, then, by, "
                                  "bake, waves)");
        }
        const char *text = NULL;
        if (k == S_TYPE) {
            continue;
        } else if (!(s_shape_types[k] & S_T(s->type))) {
            return yamlfile_error(yf, &p, err,
                                  "does not apply to a %s strategy",
                                  strategy_type_name(s->type));
        } else if (k == S_WAVES) {
            rc = s_read_waves(yf, &p, s, err);
        } else if ((rc = s_text(yf, &p, &text, err)) == HOIST_OK &&
                   !s_shape_set(s, k, text, why, sizeof why)) {
            rc = yamlfile_error(yf, &p, err, "%s", why);
        }
        if (rc != HOIST_OK) {
            return rc;
        }
    }
    if (!s_shape_check(s, why, sizeof why)) {
        return yamlfile_error(yf, pair, err, "%s", why);
    }
    return HOIST_OK;
}

/* Reads `offline: {wait: 10m, then: fail|skip}` into S; a key left out
 * keeps its value. */
static hoist_err_t
s_read_offline(yamlfile_t *yf, const yamlfile_pair_t *pair, strategy_t *s,
               hoist_error_t *err)
{
    yaml_node_t *map = NULL;
    hoist_err_t rc = yamlfile_mapping(yf, pair, &map, err);
    char prefix[S_PREFIX_MAX], why[512];
    s_prefix(pair, prefix, sizeof prefix);
    yamlfile_pair_t p;
    for (size_t i = 0;
         rc == HOIST_OK && yamlfile_next(yf, map, prefix, &i, &p);) {
        const char *text = NULL;
        bool wait = strcmp(p.key, "wait") == 0;
        if (!wait && strcmp(p.key, "then") != 0) {
            return yamlfile_error(yf, &p, err,
                                  "unknown key (allowed: wait, then)");
        }
        if ((rc = s_text(yf, &p, &text, err)) != HOIST_OK) {
            break;
        }
        if (wait && !s_wait(text, 0, &s->offline_wait_ms, why, sizeof why)) {
            rc = yamlfile_error(yf, &p, err, "%s", why);
        } else if (!wait && strcmp(text, "fail") != 0 &&
                   strcmp(text, "skip") != 0) {
            rc = yamlfile_error(yf, &p, err, "expected fail or skip, got '%s'",
                                text);
        } else if (!wait) {
            s->offline_then = strcmp(text, "skip") == 0 ? STRATEGY_OFFLINE_SKIP
                                                        : STRATEGY_OFFLINE_FAIL;
        }
    }
    return rc;
}

hoist_err_t
strategy_read_key(yamlfile_t *yf, const yamlfile_pair_t *pair, strategy_t *s,
                  hoist_error_t *err)
{
    strategy_t t = *s;
    hoist_err_t rc = HOIST_OK;
    const char *text = NULL;
    char why[512];
    int k = 0;
    while (strategy_keys[k] && strcmp(strategy_keys[k], pair->key) != 0) {
        k++;
    }
    switch (k) {
    case S_ENV_STRATEGY:
        rc = s_read_shape(yf, pair, &t, err);
        break;
    case S_ENV_THRESHOLD:
        if ((rc = s_text(yf, pair, &text, err)) == HOIST_OK &&
            !s_amount(text, 0, true, &t.failure_threshold, why, sizeof why)) {
            rc = yamlfile_error(yf, pair, err, "%s", why);
        }
        break;
    case S_ENV_ROLLBACK:
        rc = yamlfile_bool(yf, pair, &t.auto_rollback, err);
        break;
    case S_ENV_DEADLINE:
        if ((rc = s_text(yf, pair, &text, err)) == HOIST_OK &&
            !s_wait(text, 1000, &t.progress_deadline_ms, why, sizeof why)) {
            rc = yamlfile_error(yf, pair, err, "%s", why);
        }
        break;
    case S_ENV_OFFLINE:
        rc = s_read_offline(yf, pair, &t, err);
        break;
    default:
        rc = yamlfile_error(yf, pair, err, "not a rollout strategy key");
    }
    if (rc == HOIST_OK) {
        *s = t;
    }
    return rc;
}

/* ---- Writing the pipeline file back ---- */

/* Adds a plain scalar with TEXT; returns its id, 0 when out of memory. */
static int
s_scalar(yaml_document_t *doc, const char *text)
{
    return yaml_document_add_scalar(doc, NULL, (yaml_char_t *)text, -1,
                                    YAML_ANY_SCALAR_STYLE);
}

/* Appends KEY: VALUE (a node id) to MAP; false when out of memory. */
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

/* AMOUNT as the pipeline file spells it: "3" or "25%". */
static const char *
s_amount_text(strategy_amount_t amount, char *buf, size_t len)
{
    snprintf(buf, len, "%" PRIu32 "%s", amount.value,
             amount.percent ? "%" : "");
    return buf;
}

static bool
s_put_duration(yaml_document_t *doc, int map, const char *key, uint64_t ms)
{
    char buf[32];
    return s_put_text(doc, map, key, duration_format(ms, buf, sizeof buf));
}

/* Adds the `waves` list of S to MAP. */
static bool
s_emit_waves(const strategy_t *s, yaml_document_t *doc, int map)
{
    int seq = yaml_document_add_sequence(doc, NULL, YAML_FLOW_SEQUENCE_STYLE);
    bool ok = s_put(doc, map, "waves", seq);
    char buf[32];
    for (unsigned i = 0; ok && i < s->nwaves; i++) {
        const strategy_wave_t *w = &s->waves[i];
        int m = yaml_document_add_mapping(doc, NULL, YAML_FLOW_MAPPING_STYLE);
        ok = m && yaml_document_append_sequence_item(doc, seq, m);
        if (ok && w->kind == STRATEGY_WAVE_SITE) {
            ok = s_put_text(doc, m, "site", w->site);
        } else if (ok) {
            ok = s_put_text(doc, m, "count",
                            s_amount_text(w->amount, buf, sizeof buf));
        }
    }
    return ok;
}

/* Adds the `strategy` mapping of S to MAP: the type and every shape key
 * that is set. */
static bool
s_emit_shape(const strategy_t *s, yaml_document_t *doc, int map)
{
    char buf[32];
    int m = yaml_document_add_mapping(doc, NULL, YAML_FLOW_MAPPING_STYLE);
    bool ok = s_put(doc, map, "strategy", m) &&
              s_put_text(doc, m, "type", strategy_type_name(s->type));
    if (ok && s->type == STRATEGY_CANARY) {
        ok = s_put_text(doc, m, "count",
                        s_amount_text(s->canary, buf, sizeof buf)) &&
             (s->hold_ms == 0 || s_put_duration(doc, m, "hold", s->hold_ms)) &&
             (s->then == STRATEGY_THEN_AUTO ||
              s_put_text(doc, m, "then", "manual"));
    }
    if (ok && s->batch.value) {
        ok = s_put_text(doc, m, "batch",
                        s_amount_text(s->batch, buf, sizeof buf));
    }
    if (ok && s->max_unavailable.value) {
        ok = s_put_text(doc, m, "max_unavailable",
                        s_amount_text(s->max_unavailable, buf, sizeof buf));
    }
    if (ok && s->by_site) {
        ok = s_put_text(doc, m, "by", "site");
    }
    if (ok && s->bake_ms) {
        ok = s_put_duration(doc, m, "bake", s->bake_ms);
    }
    if (ok && s->nwaves) {
        ok = s_emit_waves(s, doc, m);
    }
    return ok;
}

/* True when A and B have the same shape (what strategy_parse replaces). */
static bool
s_shape_equal(const strategy_t *a, const strategy_t *b)
{
    if (a->type != b->type || a->batch.value != b->batch.value ||
        a->batch.percent != b->batch.percent ||
        a->max_unavailable.value != b->max_unavailable.value ||
        a->max_unavailable.percent != b->max_unavailable.percent ||
        a->canary.value != b->canary.value ||
        a->canary.percent != b->canary.percent || a->hold_ms != b->hold_ms ||
        a->then != b->then || a->by_site != b->by_site ||
        a->bake_ms != b->bake_ms || a->nwaves != b->nwaves) {
        return false;
    }
    for (unsigned i = 0; i < a->nwaves && i < STRATEGY_MAX_WAVES; i++) {
        const strategy_wave_t *x = &a->waves[i], *y = &b->waves[i];
        if (x->kind != y->kind ||
            (x->kind == STRATEGY_WAVE_SITE && strcmp(x->site, y->site) != 0) ||
            (x->kind == STRATEGY_WAVE_COUNT &&
             (x->amount.value != y->amount.value ||
              x->amount.percent != y->amount.percent))) {
            return false;
        }
    }
    return true;
}

hoist_err_t
strategy_emit(const strategy_t *s, const char *env, yaml_document_t *doc,
              int map, hoist_error_t *err)
{
    strategy_t d;
    strategy_default(&d, env);
    char buf[32];
    bool ok = true;
    if (!s_shape_equal(s, &d)) {
        ok = s_emit_shape(s, doc, map);
    }
    if (ok && (s->failure_threshold.value != d.failure_threshold.value ||
               s->failure_threshold.percent != d.failure_threshold.percent)) {
        ok = s_put_text(doc, map, "failure_threshold",
                        s_amount_text(s->failure_threshold, buf, sizeof buf));
    }
    if (ok && s->auto_rollback != d.auto_rollback) {
        ok = s_put_text(doc, map, "auto_rollback",
                        s->auto_rollback ? "true" : "false");
    }
    if (ok && s->progress_deadline_ms != d.progress_deadline_ms) {
        ok = s_put_duration(doc, map, "progress_deadline",
                            s->progress_deadline_ms);
    }
    if (ok && (s->offline_wait_ms != d.offline_wait_ms ||
               s->offline_then != d.offline_then)) {
        int m = yaml_document_add_mapping(doc, NULL, YAML_FLOW_MAPPING_STYLE);
        ok = s_put(doc, map, "offline", m) &&
             s_put_duration(doc, m, "wait", s->offline_wait_ms) &&
             s_put_text(doc, m, "then",
                        s->offline_then == STRATEGY_OFFLINE_SKIP ? "skip"
                                                                 : "fail");
    }
    if (!ok) {
        return error_set(err, HOIST_ERR_NOMEM,
                         "out of memory writing the strategy of '%s'",
                         env ? env : "");
    }
    return HOIST_OK;
}

/* ---- The command line ---- */

/* Reads one "key=value" of an override into T. */
static hoist_err_t
s_parse_pair(const char *text, char *kv, strategy_t *t, hoist_error_t *err)
{
    char why[512];
    char *eq = strchr(kv, '=');
    if (!eq || eq == kv || eq[1] == '\0') {
        return error_set(err, HOIST_ERR_USAGE,
                         "strategy '%s': expected key=value, got '%s'", text,
                         kv);
    }
    *eq = '\0';
    int k = 0;
    while (s_shape_keys[k] && strcmp(s_shape_keys[k], kv) != 0) {
        k++;
    }
    if (!s_shape_keys[k] || k == S_TYPE || k == S_WAVES) {
        return error_set(err, HOIST_ERR_USAGE,
                         "strategy '%s': unknown key '%s' (allowed: batch, "
                         "max_unavailable, count, hold, then, by, bake; "
                         "waves only in the pipeline file)",
                         text, kv);
    }
    if (!s_shape_set(t, k, eq + 1, why, sizeof why)) {
        return error_set(err, HOIST_ERR_USAGE, "strategy '%s': %s: %s", text,
                         kv, why);
    }
    return HOIST_OK;
}

hoist_err_t
strategy_parse(const char *text, strategy_t *s, hoist_error_t *err)
{
    char buf[S_OVERRIDE_MAX + 1], why[512];
    size_t len = strlen(text);
    if (len == 0 || len > S_OVERRIDE_MAX) {
        return error_set(err, HOIST_ERR_USAGE,
                         "strategy: expected 1 to %d characters like "
                         "rolling:batch=3, got %zu",
                         S_OVERRIDE_MAX, len);
    }
    memcpy(buf, text, len + 1);
    strategy_t t = *s;
    s_clear_shape(&t);
    char *rest = strchr(buf, ':');
    if (rest) {
        *rest++ = '\0';
    }
    if (!s_shape_set(&t, S_TYPE, buf, why, sizeof why)) {
        return error_set(err, HOIST_ERR_USAGE, "strategy '%s': %s", text, why);
    }
    for (char *kv = rest; kv;) {
        char *next = strchr(kv, ',');
        if (next) {
            *next++ = '\0';
        }
        hoist_err_t rc = s_parse_pair(text, kv, &t, err);
        if (rc != HOIST_OK) {
            return rc;
        }
        kv = next;
    }
    if (!s_shape_check(&t, why, sizeof why)) {
        return error_set(err, HOIST_ERR_USAGE, "strategy '%s': %s", text, why);
    }
    *s = t;
    return HOIST_OK;
}

/* ---- For people ---- */

/* Appends to BUF (LEN bytes, *USED used) like snprintf, cutting short. */
static void __attribute__((format(printf, 4, 5)))
s_cat(char *buf, size_t len, size_t *used, const char *fmt, ...)
{
    if (*used >= len) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *used, len - *used, fmt, ap);
    va_end(ap);
    if (n > 0) {
        *used = *used + (size_t)n < len ? *used + (size_t)n : len;
    }
}

const char *
strategy_format(const strategy_t *s, char *buf, size_t len)
{
    char a[32], d[32];
    size_t used = 0;
    if (len == 0) {
        return buf;
    }
    buf[0] = '\0';
    s_cat(buf, len, &used, "%s", strategy_type_name(s->type));
    if (s->type == STRATEGY_CANARY) {
        s_cat(buf, len, &used, " count=%s hold=%s then=%s",
              s_amount_text(s->canary, a, sizeof a),
              duration_format(s->hold_ms, d, sizeof d),
              s->then == STRATEGY_THEN_MANUAL ? "manual" : "auto");
    }
    if (s->batch.value) {
        s_cat(buf, len, &used, " batch=%s",
              s_amount_text(s->batch, a, sizeof a));
    }
    if (s->max_unavailable.value) {
        s_cat(buf, len, &used, " max_unavailable=%s",
              s_amount_text(s->max_unavailable, a, sizeof a));
    }
    if (s->by_site) {
        s_cat(buf, len, &used, " by=site");
    }
    if (s->bake_ms) {
        s_cat(buf, len, &used, " bake=%s",
              duration_format(s->bake_ms, d, sizeof d));
    }
    if (s->nwaves) {
        s_cat(buf, len, &used, " waves=%u", s->nwaves);
    }
    s_cat(buf, len, &used, " threshold=%s%s",
          s_amount_text(s->failure_threshold, a, sizeof a),
          s->auto_rollback ? " auto_rollback" : "");
    if (s->progress_deadline_ms != S_DEFAULT_DEADLINE_MS) {
        s_cat(buf, len, &used, " deadline=%s",
              duration_format(s->progress_deadline_ms, d, sizeof d));
    }
    if (s->offline_wait_ms != S_DEFAULT_OFFLINE_MS ||
        s->offline_then != STRATEGY_OFFLINE_FAIL) {
        s_cat(buf, len, &used, " offline=%s,%s",
              duration_format(s->offline_wait_ms, d, sizeof d),
              s->offline_then == STRATEGY_OFFLINE_SKIP ? "skip" : "fail");
    }
    return buf;
}

bool
strategy_equal(const strategy_t *a, const strategy_t *b)
{
    return s_shape_equal(a, b) &&
           a->failure_threshold.value == b->failure_threshold.value &&
           a->failure_threshold.percent == b->failure_threshold.percent &&
           a->auto_rollback == b->auto_rollback &&
           a->progress_deadline_ms == b->progress_deadline_ms &&
           a->offline_wait_ms == b->offline_wait_ms &&
           a->offline_then == b->offline_then;
}
