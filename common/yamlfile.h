/*
 * yamlfile: strict YAML config files (hoist.yml, the pipeline file, daemon
 * configs) on top of libyaml's document API.
 *
 * Loading refuses what a config file never needs and an attacker might
 * use: anchors and aliases (billion laughs), more than one document,
 * duplicate keys, non-scalar keys, and input over a size cap. The value
 * readers turn a wrong type into a message that names the file, the line
 * and the dotted key: "hoist.yml:9: key 'health.timeout': expected a
 * duration like 5s, got 'abc'". Every complaint about the content carries
 * the error code given to yamlfile_load (HOIST_ERR_SPEC for hoist.yml).
 *
 * A caller walks a mapping pair by pair and dispatches on the key:
 *
 *     yamlfile_pair_t p;
 *     for (size_t i = 0; yamlfile_next(yf, map, "health", &i, &p);) {
 *         switch (yamlfile_key(yf, &p, keys, err)) { ... }
 *     }
 */
#ifndef HOIST_YAMLFILE_H
#define HOIST_YAMLFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <yaml.h>

#include "error.h"

typedef struct yamlfile_t yamlfile_t;

/* One key and its value in a mapping. Everything points into the loaded
 * document and lives as long as it. */
typedef struct {
    const char *key;    /* the key's text */
    const char *prefix; /* the enclosing key path ("health"), "" at the root */
    unsigned line;      /* 1-based line of the key; messages cite it */
    yaml_node_t *value;
} yamlfile_pair_t;

/* Parses LEN bytes of BUF (which need not be NUL-terminated) as one YAML
 * document of at most MAX bytes. NAME starts every message ("hoist.yml:3:
 * ..."); CODE is the error code of every complaint about the content.
 * Returns the document, owned by the caller, or NULL with CODE (or
 * HOIST_ERR_NOMEM). */
yamlfile_t *yamlfile_load(const char *buf, size_t len, size_t max,
                          const char *name, hoist_err_t code,
                          hoist_error_t *err);

/* Frees the document and sets *P to NULL. Accepts NULL. */
void yamlfile_destroy(yamlfile_t **p);

/* Sets *MAP to the root mapping, or to NULL when the document is empty
 * (no content, only comments, or a lone null such as "~"). Fails if the
 * root is anything else. */
hoist_err_t yamlfile_root(yamlfile_t *yf, yaml_node_t **map,
                          hoist_error_t *err);

/* Iterates MAP's pairs in file order. Start with *I at 0; each call fills
 * PAIR and returns true, or returns false at the end. A NULL MAP (empty)
 * has no pairs. PREFIX is the key path of MAP, "" at the root; it must
 * outlive PAIR. */
bool yamlfile_next(yamlfile_t *yf, yaml_node_t *map, const char *prefix,
                   size_t *i, yamlfile_pair_t *pair);

/* Returns the index of PAIR's key in KEYS (NULL-terminated), or -1 with an
 * "unknown key 'health.foo' (allowed: ...)" error naming the line. */
int yamlfile_key(yamlfile_t *yf, const yamlfile_pair_t *pair,
                 const char *const *keys, hoist_error_t *err);

/* Sets *MAP to PAIR's value if it is a mapping, or to NULL (no pairs)
 * when the value is empty ("hooks:" with nothing under it). */
hoist_err_t yamlfile_mapping(yamlfile_t *yf, const yamlfile_pair_t *pair,
                             yaml_node_t **map, hoist_error_t *err);

/* Sets *OUT to a copy of PAIR's value, a non-empty scalar without NUL
 * bytes. The copy belongs to the caller (free). */
hoist_err_t yamlfile_string(yamlfile_t *yf, const yamlfile_pair_t *pair,
                            char **out, hoist_error_t *err);

/* Sets *OUT to PAIR's value, a decimal whole number from MIN to MAX
 * (digits only: no sign, no spaces, no 0x). */
hoist_err_t yamlfile_uint(yamlfile_t *yf, const yamlfile_pair_t *pair,
                          uint32_t min, uint32_t max, uint32_t *out,
                          hoist_error_t *err);

/* Sets *OUT to PAIR's value, which must be exactly "true" or "false"
 * (YAML 1.1's yes/no/on/off are refused: they surprise people). */
hoist_err_t yamlfile_bool(yamlfile_t *yf, const yamlfile_pair_t *pair,
                          bool *out, hoist_error_t *err);

/* Sets *MS to PAIR's value read by duration_parse ("5s", "10m"). */
hoist_err_t yamlfile_duration(yamlfile_t *yf, const yamlfile_pair_t *pair,
                              uint64_t *ms, hoist_error_t *err);

/* Sets ERR to "NAME:LINE: key 'PREFIX.KEY': MESSAGE" with the document's
 * code, for checks that the caller makes itself. Returns that code. */
hoist_err_t yamlfile_error(yamlfile_t *yf, const yamlfile_pair_t *pair,
                           hoist_error_t *err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
