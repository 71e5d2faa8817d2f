/*
 * admit: see admit.h. The seen set is a tree of path components in a
 * hash table; the decision functions are pure.
 */
#include "admit.h"

#include <assert.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Name components longer than this are refused by every Linux file
 * system; refusing them here gives a clear message instead of an I/O
 * error, and bounds the memory one seen-set node can take. */
#define NAME_MAX_LEN 255

/* What an earlier entry left at a path. IMPLICIT is a directory that
 * exists only because a later entry's path goes through it (libarchive
 * creates it): it may still receive an explicit directory entry. */
enum { SEEN_IMPLICIT = 1, SEEN_DIR, SEEN_FILE, SEEN_LINK };

/* The seen set is a tree of path components, stored as a hash table
 * keyed by (parent node, component). A tree rather than a set of whole
 * paths keeps memory linear in the number of objects on disk whatever
 * the depth of the paths, and the number of nodes is capped by
 * max_entries, so an archive cannot make it grow past that. */
typedef struct {
    uint32_t parent;
    uint8_t kind;
    uint8_t len;
    char *name; /* the component, NUL-terminated */
} seen_node_t;

struct admit_seen {
    seen_node_t *nodes; /* nodes[0] is the release root */
    uint32_t count;
    uint32_t cap;
    uint32_t *table; /* node indices; 0 marks a free slot */
    uint32_t tcap;   /* a power of two */
};

/* ---- the seen set ----------------------------------------------------- */

admit_seen_t *
admit_seen_new(void)
{
    admit_seen_t *seen = calloc(1, sizeof *seen);
    if (!seen) {
        return NULL;
    }
    seen->cap = 64;
    seen->tcap = 128;
    seen->nodes = calloc(seen->cap, sizeof *seen->nodes);
    seen->table = calloc(seen->tcap, sizeof *seen->table);
    if (!seen->nodes || !seen->table) {
        admit_seen_destroy(&seen);
        return NULL;
    }
    seen->nodes[0].kind = SEEN_DIR;
    seen->count = 1;
    return seen;
}

void
admit_seen_destroy(admit_seen_t **p)
{
    if (!p || !*p) {
        return;
    }
    admit_seen_t *seen = *p;
    for (uint32_t i = 1; i < seen->count; i++) {
        free(seen->nodes[i].name);
    }
    free(seen->nodes);
    free(seen->table);
    free(seen);
    *p = NULL;
}

uint64_t
admit_seen_count(const admit_seen_t *seen)
{
    return seen->count - 1;
}

/* FNV-1a over the parent's index and the component's bytes. */
static uint32_t
s_hash(uint32_t parent, const char *name, size_t len)
{
    uint32_t h = 2166136261u;
    for (int i = 0; i < 4; i++) {
        h = (h ^ ((parent >> (8 * i)) & 0xff)) * 16777619u;
    }
    for (size_t i = 0; i < len; i++) {
        h = (h ^ (unsigned char)name[i]) * 16777619u;
    }
    return h;
}

/* The table slot holding child NAME of PARENT, or the free slot where it
 * would go. */
static uint32_t
s_slot(const admit_seen_t *seen, uint32_t parent, const char *name, size_t len)
{
    uint32_t mask = seen->tcap - 1;
    uint32_t i = s_hash(parent, name, len) & mask;
    for (;;) {
        uint32_t n = seen->table[i];
        if (n == 0) {
            return i;
        }
        const seen_node_t *node = &seen->nodes[n];
        if (node->parent == parent && node->len == len &&
            memcmp(node->name, name, len) == 0) {
            return i;
        }
        i = (i + 1) & mask;
    }
}

/* The node of child NAME of PARENT, 0 when there is none (the root is
 * nobody's child, so 0 is free to mean "absent"). */
static uint32_t
s_find(const admit_seen_t *seen, uint32_t parent, const char *name, size_t len)
{
    return seen->table[s_slot(seen, parent, name, len)];
}

/* Doubles the table and re-slots every node; false when out of memory. */
static bool
s_grow_table(admit_seen_t *seen)
{
    if (seen->tcap > UINT32_MAX / 2) {
        return false;
    }
    uint32_t *old = seen->table;
    seen->table = calloc((size_t)seen->tcap * 2, sizeof *seen->table);
    if (!seen->table) {
        seen->table = old;
        return false;
    }
    seen->tcap *= 2;
    for (uint32_t n = 1; n < seen->count; n++) {
        const seen_node_t *node = &seen->nodes[n];
        seen->table[s_slot(seen, node->parent, node->name, node->len)] = n;
    }
    free(old);
    return true;
}

/* Makes room for one more node in both arrays. */
static bool
s_reserve(admit_seen_t *seen)
{
    if ((uint64_t)(seen->count + 1) * 2 > seen->tcap && !s_grow_table(seen)) {
        return false;
    }
    if (seen->count < seen->cap) {
        return true;
    }
    if (seen->cap > UINT32_MAX / 2) {
        return false;
    }
    seen_node_t *nodes =
        realloc(seen->nodes, (size_t)seen->cap * 2 * sizeof *nodes);
    if (!nodes) {
        return false;
    }
    seen->nodes = nodes;
    seen->cap *= 2;
    return true;
}

/* Adds child NAME of PARENT with KIND; returns its node, 0 when out of
 * memory. */
static uint32_t
s_insert(admit_seen_t *seen, uint32_t parent, const char *name, size_t len,
         uint8_t kind)
{
    if (!s_reserve(seen)) {
        return 0;
    }
    char *copy = strndup(name, len);
    if (!copy) {
        return 0;
    }
    uint32_t n = seen->count++;
    seen->nodes[n] = (seen_node_t){parent, kind, (uint8_t)len, copy};
    seen->table[s_slot(seen, parent, name, len)] = n;
    return n;
}

/* The seen-set kind an admitted entry of TYPE leaves behind. */
static uint8_t
s_kind_of(unsigned type)
{
    switch (type) {
    case S_IFDIR:
        return SEEN_DIR;
    case S_IFLNK:
        return SEEN_LINK;
    default:
        return SEEN_FILE;
    }
}

hoist_err_t
admit_seen_add(admit_seen_t *seen, const char *path, unsigned type)
{
    uint32_t node = 0;
    const char *p = path;
    while (*p) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        uint8_t kind = slash ? SEEN_IMPLICIT : s_kind_of(type);
        assert(len > 0 && len <= NAME_MAX_LEN); /* admit_entry saw to it */
        uint32_t child = s_find(seen, node, p, len);
        if (child == 0) {
            child = s_insert(seen, node, p, len, kind);
            if (child == 0) {
                return HOIST_ERR_NOMEM;
            }
        } else if (!slash) {
            /* An implicit directory now has its own entry. */
            seen->nodes[child].kind = kind;
        }
        node = child;
        p = slash ? slash + 1 : p + len;
    }
    return HOIST_OK;
}

/* ---- the admission decision (pure) ------------------------------------ */

/* Length of the UTF-8 sequence starting at S (1..4), or 0 when it is not
 * a valid, shortest-form encoding of a scalar value. */
static size_t
s_utf8_len(const unsigned char *s)
{
    if (s[0] < 0x80) {
        return 1;
    }
    size_t n = s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 ? 2 : 0;
    if (n == 0 || s[0] > 0xf4) {
        return 0;
    }
    uint32_t cp = s[0] & (0x7f >> n);
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) {
            return 0;
        }
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
        return 0;
    }
    return n;
}

/* Whether S is valid UTF-8 throughout. */
bool
admit_is_utf8(const char *s)
{
    const unsigned char *u = (const unsigned char *)s;
    while (*u) {
        size_t n = s_utf8_len(u);
        if (n == 0) {
            return false;
        }
        u += n;
    }
    return true;
}

/* Why the text S cannot be a name (or, with IS_TARGET, a symlink
 * target), or NULL. Control characters are refused because names are
 * printed in logs and terminals; invalid UTF-8 because it cannot be
 * shown faithfully at all. */
static const char *
s_check_text(const char *s, bool is_target)
{
    const unsigned char *u = (const unsigned char *)s;
    while (*u) {
        size_t n = s_utf8_len(u);
        if (n == 0) {
            return is_target ? "symlink target is not valid UTF-8"
                             : "name is not valid UTF-8";
        }
        bool c0 = *u < 0x20 || *u == 0x7f;
        bool c1 = n == 2 && u[0] == 0xc2 && u[1] < 0xa0;
        if (c0 || c1) {
            return is_target ? "symlink target has a control character"
                             : "name has a control character";
        }
        u += n;
    }
    return NULL;
}

/* Writes NAME in canonical form to OUT ("./a//b/" becomes "a/b", the
 * release root becomes ""), or returns why it cannot be a release path. */
static const char *
s_normalize(const char *name, char *out, size_t outsz)
{
    if (name[0] == '\0') {
        return "empty name";
    }
    if (name[0] == '/') {
        return "absolute path";
    }
    size_t used = 0;
    for (const char *p = name; *p;) {
        size_t len = strcspn(p, "/");
        if (len == 2 && p[0] == '.' && p[1] == '.') {
            return "path leaves the release";
        }
        if (len > NAME_MAX_LEN) {
            return "name too long";
        }
        if (len > 0 && !(len == 1 && p[0] == '.')) {
            if (used + (used > 0) + len >= outsz) {
                return "path too long";
            }
            if (used > 0) {
                out[used++] = '/';
            }
            memcpy(out + used, p, len);
            used += len;
        }
        p += len + (p[len] == '/');
    }
    out[used] = '\0';
    return NULL;
}

/* Why an entry of TYPE cannot be in a release, or NULL. */
static const char *
s_check_type(unsigned type, const char *hardlink)
{
    if (hardlink) {
        /* A hard link can reach any file on the same file system, and
         * even one inside the release would share its inode with the
         * next release's copy; releases carry copies instead. */
        return "hard link";
    }
    switch (type) {
    case S_IFREG:
    case S_IFDIR:
    case S_IFLNK:
        return NULL;
    case S_IFCHR:
    case S_IFBLK:
        return "device node";
    case S_IFIFO:
        return "FIFO";
    case S_IFSOCK:
        return "socket";
    default:
        return "unknown entry type";
    }
}

/* Why the symlink at PATH (normalized) may not point at TARGET, or NULL.
 *
 * The target is resolved lexically from the link's directory, and every
 * ".." must come before the first name ("../../lib/x", never "a/../b").
 * Lexical resolution alone is not enough: with "s -> ." and a directory
 * "x", the target "s/x/../.." is the root lexically but the root's parent
 * on disk, because the kernel resolves ".." after following "s". With all
 * ".." first they apply to the link's own parents, which are real
 * directories (no entry may go through a link), so the target stays
 * inside whatever the links it later goes through point at. */
static const char *
s_check_target(const char *path, const char *target)
{
    if (!target || target[0] == '\0') {
        return "empty symlink target";
    }
    const char *why = s_check_text(target, true);
    if (why) {
        return why;
    }
    if (target[0] == '/') {
        return "symlink target is absolute";
    }
    size_t depth = 0; /* directories between the root and the link */
    for (const char *p = path; *p; p++) {
        depth += *p == '/';
    }
    bool named = false;
    for (const char *p = target; *p;) {
        size_t len = strcspn(p, "/");
        if (len == 2 && p[0] == '.' && p[1] == '.') {
            if (named) {
                return "symlink target has '..' after a name";
            }
            if (depth == 0) {
                return "symlink target leaves the release";
            }
            depth--;
        } else if (len > 0 && !(len == 1 && p[0] == '.')) {
            named = true;
        }
        p += len + (p[len] == '/');
    }
    return NULL;
}

/* Why PATH cannot be added to SEEN as an entry of TYPE, or NULL. Each
 * parent must be a directory (explicit or implied), never a file and
 * never a symlink: writing through a link is how an archive escapes. The
 * path itself must be new, except that a directory implied by an earlier
 * path may get its own entry. */
static const char *
s_check_seen(const admit_seen_t *seen, const char *path, unsigned type)
{
    uint32_t node = 0;
    for (const char *p = path;;) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        uint32_t child = s_find(seen, node, p, len);
        if (child == 0) {
            return NULL;
        }
        uint8_t kind = seen->nodes[child].kind;
        if (!slash) {
            bool upgrade = kind == SEEN_IMPLICIT && type == S_IFDIR;
            return upgrade ? NULL : "path appears twice";
        }
        if (kind == SEEN_LINK) {
            return "path goes through a symlink";
        }
        if (kind == SEEN_FILE) {
            return "parent is not a directory";
        }
        node = child;
        p = slash + 1;
    }
}

const char *
admit_entry(const admit_seen_t *seen, const char *name, unsigned type,
            unsigned mode, const char *target, const char *hardlink, char *norm,
            size_t normsz)
{
    const char *why = s_check_text(name, false);
    if (!why) {
        why = s_normalize(name, norm, normsz);
    }
    if (!why) {
        why = s_check_type(type, hardlink);
    }
    if (!why && (mode & (S_ISUID | S_ISGID | S_ISVTX))) {
        why = "setuid, setgid or sticky bit";
    }
    if (why) {
        return why;
    }
    if (norm[0] == '\0') {
        /* The root itself may only be named as a directory ("./"). */
        return type == S_IFDIR ? NULL : "not a directory at the root";
    }
    why = s_check_seen(seen, norm, type);
    if (!why && type == S_IFLNK) {
        why = s_check_target(norm, target);
    }
    return why;
}
