/*
 * yamlfile: strict config files over libyaml's document API.
 *
 * Loading is two passes over the same bytes. The first runs libyaml's
 * scanner alone to refuse anchors and aliases: the document API resolves
 * an alias into a second reference to the same node, so after loading
 * there is nothing left to see, and a walker that follows references
 * would do exponential work on a "billion laughs" file. The second pass
 * loads the document; then every mapping in the node table (a flat array,
 * so no recursion) is checked for non-scalar and duplicate keys before any
 * caller reads a value.
 */
#include "yamlfile.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duration.h"

struct yamlfile_t {
    yaml_document_t doc;
    bool loaded;      /* doc holds a loaded document to delete */
    char *name;       /* starts every message */
    hoist_err_t code; /* the code of every complaint about the content */
};

/* Sets ERR to "NAME:LINE: MESSAGE" (or "NAME: MESSAGE" when LINE is 0)
 * with the document's code; returns that code. */
static hoist_err_t __attribute__((format(printf, 4, 5)))
s_fail(const yamlfile_t *yf, unsigned line, hoist_error_t *err, const char *fmt,
       ...)
{
    char msg[sizeof err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (line == 0) {
        return error_set(err, yf->code, "%s: %s", yf->name, msg);
    }
    return error_set(err, yf->code, "%s:%u: %s", yf->name, line, msg);
}

/* The 1-based line of a libyaml mark, for messages. */
static unsigned
s_line(yaml_mark_t mark)
{
    return (unsigned)mark.line + 1;
}

/* Turns a libyaml failure into "NAME:LINE: problem (context)". */
static hoist_err_t
s_parser_error(const yamlfile_t *yf, const yaml_parser_t *parser,
               hoist_error_t *err)
{
    const char *problem = parser->problem ? parser->problem : "syntax error";
    if (parser->error == YAML_MEMORY_ERROR) {
        return error_set(err, HOIST_ERR_NOMEM, "%s: out of memory", yf->name);
    }
    /* The reader (encoding) fails before there are lines, at a byte. */
    if (parser->error == YAML_READER_ERROR) {
        return s_fail(yf, 0, err, "%s at byte %zu", problem,
                      parser->problem_offset);
    }
    if (parser->context) {
        return s_fail(yf, s_line(parser->problem_mark), err,
                      "%s (%s on line %u)", problem, parser->context,
                      s_line(parser->context_mark));
    }
    return s_fail(yf, s_line(parser->problem_mark), err, "%s", problem);
}

/* The first pass: refuses any anchor (&x) or alias (*x) in BUF. */
static hoist_err_t
s_refuse_aliases(const yamlfile_t *yf, const char *buf, size_t len,
                 hoist_error_t *err)
{
    yaml_parser_t parser;
    yaml_token_t token;
    hoist_err_t rc = HOIST_OK;
    if (!yaml_parser_initialize(&parser)) {
        return error_set(err, HOIST_ERR_NOMEM, "%s: out of memory", yf->name);
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
    for (bool end = false; !end && rc == HOIST_OK;) {
        if (!yaml_parser_scan(&parser, &token)) {
            rc = s_parser_error(yf, &parser, err);
            break;
        }
        end = token.type == YAML_STREAM_END_TOKEN;
        if (token.type == YAML_ANCHOR_TOKEN || token.type == YAML_ALIAS_TOKEN) {
            bool anchor = token.type == YAML_ANCHOR_TOKEN;
            rc = s_fail(yf, s_line(token.start_mark), err,
                        "anchors and aliases are not allowed (found %c%s)",
                        anchor ? '&' : '*',
                        (const char *)(anchor ? token.data.anchor.value
                                              : token.data.alias.value));
        }
        yaml_token_delete(&token);
    }
    yaml_parser_delete(&parser);
    return rc;
}

/* The second pass: loads the one document of BUF into YF. */
static hoist_err_t
s_load(yamlfile_t *yf, const char *buf, size_t len, hoist_error_t *err)
{
    yaml_parser_t parser;
    yaml_document_t extra;
    hoist_err_t rc = HOIST_OK;
    if (!yaml_parser_initialize(&parser)) {
        return error_set(err, HOIST_ERR_NOMEM, "%s: out of memory", yf->name);
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
    if (!yaml_parser_load(&parser, &yf->doc)) {
        rc = s_parser_error(yf, &parser, err);
        goto out;
    }
    yf->loaded = true;
    /* A second document would be silently ignored by yaml_parser_load;
     * in a config file it is a mistake (a stray "---"), so say so. */
    if (!yaml_parser_load(&parser, &extra)) {
        rc = s_parser_error(yf, &parser, err);
        goto out;
    }
    yaml_node_t *root = yaml_document_get_root_node(&extra);
    if (root) {
        rc = s_fail(yf, s_line(root->start_mark), err,
                    "only one YAML document is allowed per file");
    }
    yaml_document_delete(&extra);
out:
    yaml_parser_delete(&parser);
    return rc;
}

/* Orders key nodes by text, then by position, so that equal keys end up
 * next to each other with the first occurrence first. */
static int
s_key_cmp(const void *a, const void *b)
{
    const yaml_node_t *x = *(yaml_node_t *const *)a;
    const yaml_node_t *y = *(yaml_node_t *const *)b;
    size_t n = x->data.scalar.length < y->data.scalar.length
                   ? x->data.scalar.length
                   : y->data.scalar.length;
    int c = memcmp(x->data.scalar.value, y->data.scalar.value, n);
    if (c != 0) {
        return c;
    }
    if (x->data.scalar.length != y->data.scalar.length) {
        return x->data.scalar.length < y->data.scalar.length ? -1 : 1;
    }
    if (x->start_mark.index != y->start_mark.index) {
        return x->start_mark.index < y->start_mark.index ? -1 : 1;
    }
    return 0;
}

/* Refuses non-scalar keys and duplicate keys in MAP. Sorting keeps a
 * mapping with thousands of keys (a hostile file) from costing n^2. */
static hoist_err_t
s_check_keys(yamlfile_t *yf, yaml_node_t *map, hoist_error_t *err)
{
    size_t n =
        (size_t)(map->data.mapping.pairs.top - map->data.mapping.pairs.start);
    if (n == 0) {
        return HOIST_OK;
    }
    yaml_node_t **keys = calloc(n, sizeof *keys);
    if (!keys) {
        return error_set(err, HOIST_ERR_NOMEM, "%s: out of memory", yf->name);
    }
    hoist_err_t rc = HOIST_OK;
    for (size_t i = 0; i < n && rc == HOIST_OK; i++) {
        keys[i] = yaml_document_get_node(&yf->doc,
                                         map->data.mapping.pairs.start[i].key);
        if (keys[i]->type != YAML_SCALAR_NODE) {
            rc = s_fail(yf, s_line(keys[i]->start_mark), err,
                        "a key must be plain text, not a list or a mapping");
        }
    }
    if (rc == HOIST_OK) {
        qsort(keys, n, sizeof *keys, s_key_cmp);
    }
    for (size_t i = 1; i < n && rc == HOIST_OK; i++) {
        if (keys[i - 1]->data.scalar.length == keys[i]->data.scalar.length &&
            memcmp(keys[i - 1]->data.scalar.value, keys[i]->data.scalar.value,
                   keys[i]->data.scalar.length) == 0) {
            rc = s_fail(yf, s_line(keys[i]->start_mark), err,
                        "duplicate key '%s' (first on line %u)",
                        (const char *)keys[i]->data.scalar.value,
                        s_line(keys[i - 1]->start_mark));
        }
    }
    free(keys);
    return rc;
}

yamlfile_t *
yamlfile_load(const char *buf, size_t len, size_t max, const char *name,
              hoist_err_t code, hoist_error_t *err)
{
    assert(name && (buf || len == 0));
    yamlfile_t *yf = calloc(1, sizeof *yf);
    if (!yf || !(yf->name = strdup(name))) {
        free(yf);
        error_set(err, HOIST_ERR_NOMEM, "%s: out of memory", name);
        return NULL;
    }
    yf->code = code;
    buf = buf ? buf : ""; /* libyaml asserts on a NULL input */
    hoist_err_t rc = HOIST_OK;
    if (len > max) {
        rc = s_fail(yf, 0, err, "%zu bytes is more than the limit of %zu", len,
                    max);
    }
    if (rc == HOIST_OK) {
        rc = s_refuse_aliases(yf, buf, len, err);
    }
    if (rc == HOIST_OK) {
        rc = s_load(yf, buf, len, err);
    }
    for (yaml_node_t *node = yf->doc.nodes.start;
         rc == HOIST_OK && yf->loaded && node < yf->doc.nodes.top; node++) {
        if (node->type == YAML_MAPPING_NODE) {
            rc = s_check_keys(yf, node, err);
        }
    }
    if (rc != HOIST_OK) {
        yamlfile_destroy(&yf);
    }
    return yf;
}

void
yamlfile_destroy(yamlfile_t **p)
{
    if (!p || !*p) {
        return;
    }
    yamlfile_t *yf = *p;
    if (yf->loaded) {
        yaml_document_delete(&yf->doc);
    }
    free(yf->name);
    free(yf);
    *p = NULL;
}

/* True for a plain scalar that YAML reads as null: "", "~" or "null".
 * "key:" with nothing after it is such a scalar. */
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

/* What a non-scalar NODE is, for "expected X, got Y" messages. */
static const char *
s_kind(const yaml_node_t *node)
{
    return node->type == YAML_SEQUENCE_NODE ? "a list" : "a mapping";
}

hoist_err_t
yamlfile_root(yamlfile_t *yf, yaml_node_t **map, hoist_error_t *err)
{
    yaml_node_t *root = yaml_document_get_root_node(&yf->doc);
    if (!root || s_is_null(root)) {
        *map = NULL;
        return HOIST_OK;
    }
    if (root->type != YAML_MAPPING_NODE) {
        return s_fail(yf, s_line(root->start_mark), err,
                      "expected a mapping of keys at the top of the file, "
                      "got %s",
                      root->type == YAML_SCALAR_NODE ? "plain text"
                                                     : s_kind(root));
    }
    *map = root;
    return HOIST_OK;
}

bool
yamlfile_next(yamlfile_t *yf, yaml_node_t *map, const char *prefix, size_t *i,
              yamlfile_pair_t *pair)
{
    if (!map) {
        return false;
    }
    assert(map->type == YAML_MAPPING_NODE && prefix);
    size_t n =
        (size_t)(map->data.mapping.pairs.top - map->data.mapping.pairs.start);
    if (*i >= n) {
        return false;
    }
    yaml_node_pair_t p = map->data.mapping.pairs.start[(*i)++];
    yaml_node_t *key = yaml_document_get_node(&yf->doc, p.key);
    /* yamlfile_load checked that every key is a scalar. */
    pair->key = (const char *)key->data.scalar.value;
    pair->prefix = prefix;
    pair->line = s_line(key->start_mark);
    pair->value = yaml_document_get_node(&yf->doc, p.value);
    return true;
}

hoist_err_t
yamlfile_error(yamlfile_t *yf, const yamlfile_pair_t *pair, hoist_error_t *err,
               const char *fmt, ...)
{
    char msg[sizeof err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return s_fail(yf, pair->line, err, "key '%s%s%s': %s", pair->prefix,
                  *pair->prefix ? "." : "", pair->key, msg);
}

int
yamlfile_key(yamlfile_t *yf, const yamlfile_pair_t *pair,
             const char *const *keys, hoist_error_t *err)
{
    char allowed[1024] = "";
    size_t used = 0;
    for (int i = 0; keys[i]; i++) {
        if (strcmp(pair->key, keys[i]) == 0) {
            return i;
        }
        int n = snprintf(allowed + used, sizeof allowed - used, "%s%s",
                         i ? ", " : "", keys[i]);
        if (n > 0 && (size_t)n < sizeof allowed - used) {
            used += (size_t)n;
        }
    }
    s_fail(yf, pair->line, err, "unknown key '%s%s%s' (allowed: %s)",
           pair->prefix, *pair->prefix ? "." : "", pair->key, allowed);
    return -1;
}

hoist_err_t
yamlfile_mapping(yamlfile_t *yf, const yamlfile_pair_t *pair, yaml_node_t **map,
                 hoist_error_t *err)
{
    if (s_is_null(pair->value)) {
        *map = NULL;
        return HOIST_OK;
    }
    if (pair->value->type == YAML_SCALAR_NODE) {
        return yamlfile_error(yf, pair, err, "expected a mapping, got '%s'",
                              (const char *)pair->value->data.scalar.value);
    }
    if (pair->value->type != YAML_MAPPING_NODE) {
        return yamlfile_error(yf, pair, err, "expected a mapping, got %s",
                              s_kind(pair->value));
    }
    *map = pair->value;
    return HOIST_OK;
}

/* Sets *TEXT to PAIR's scalar value, or fails with "expected WHAT". */
static hoist_err_t
s_scalar(yamlfile_t *yf, const yamlfile_pair_t *pair, const char *what,
         const char **text, hoist_error_t *err)
{
    if (pair->value->type != YAML_SCALAR_NODE) {
        return yamlfile_error(yf, pair, err, "expected %s, got %s", what,
                              s_kind(pair->value));
    }
    *text = (const char *)pair->value->data.scalar.value;
    return HOIST_OK;
}

hoist_err_t
yamlfile_string(yamlfile_t *yf, const yamlfile_pair_t *pair, char **out,
                hoist_error_t *err)
{
    const char *text = NULL;
    hoist_err_t rc = s_scalar(yf, pair, "text", &text, err);
    if (rc != HOIST_OK) {
        return rc;
    }
    if (s_is_null(pair->value) || *text == '\0') {
        return yamlfile_error(yf, pair, err, "expected text, got nothing");
    }
    /* A "\0" escape in a quoted string would cut the value short in C. */
    if (strlen(text) != pair->value->data.scalar.length) {
        return yamlfile_error(yf, pair, err, "contains a NUL byte");
    }
    char *copy = strdup(text);
    if (!copy) {
        return error_set(err, HOIST_ERR_NOMEM, "out of memory");
    }
    *out = copy;
    return HOIST_OK;
}

hoist_err_t
yamlfile_uint(yamlfile_t *yf, const yamlfile_pair_t *pair, uint32_t min,
              uint32_t max, uint32_t *out, hoist_error_t *err)
{
    char what[64];
    snprintf(what, sizeof what, "a whole number from %u to %u", min, max);
    const char *text = NULL;
    hoist_err_t rc = s_scalar(yf, pair, what, &text, err);
    if (rc != HOIST_OK) {
        return rc;
    }
    /* Digits only, and few enough that the sum below cannot wrap. */
    size_t len = strspn(text, "0123456789");
    uint64_t n = 0;
    for (size_t i = 0; i < len && len <= 10; i++) {
        n = n * 10 + (uint64_t)(text[i] - '0');
    }
    if (len == 0 || text[len] != '\0' || len > 10 || n < min || n > max) {
        return yamlfile_error(yf, pair, err, "expected %s, got '%s'", what,
                              text);
    }
    *out = (uint32_t)n;
    return HOIST_OK;
}

hoist_err_t
yamlfile_bool(yamlfile_t *yf, const yamlfile_pair_t *pair, bool *out,
              hoist_error_t *err)
{
    const char *text = NULL;
    hoist_err_t rc = s_scalar(yf, pair, "true or false", &text, err);
    if (rc != HOIST_OK) {
        return rc;
    }
    if (strcmp(text, "true") != 0 && strcmp(text, "false") != 0) {
        return yamlfile_error(yf, pair, err, "expected true or false, got '%s'",
                              text);
    }
    *out = strcmp(text, "true") == 0;
    return HOIST_OK;
}

hoist_err_t
yamlfile_duration(yamlfile_t *yf, const yamlfile_pair_t *pair, uint64_t *ms,
                  hoist_error_t *err)
{
    const char *text = NULL;
    hoist_err_t rc = s_scalar(yf, pair, "a duration like 5s", &text, err);
    if (rc != HOIST_OK) {
        return rc;
    }
    /* duration_parse words its refusal as "expected a duration like 5s,
     * got 'TEXT' (why)"; it only lacks the file, line and key. */
    hoist_error_t why;
    if (duration_parse(text, ms, &why) != HOIST_OK) {
        return yamlfile_error(yf, pair, err, "%s", why.msg);
    }
    return HOIST_OK;
}
