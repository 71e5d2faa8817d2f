/*
 * progress: see progress.h. Each call reads the document into an
 * s_doc_t (tasks sorted by batch, numbers clamped so that a controller's
 * odd values cannot make a loop run long), then writes into a memory
 * stream what the mode shows about the change from the previous one.
 */
#include "progress.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_MESSAGE_MAX 60 /* message columns in the final table */
#define S_COLUMN_MAX  40 /* widest column of the final table */
#define S_WIDTH       80 /* a terminal's width when it is not known */

struct progress {
    progress_mode_t mode;
    char *id;
    int width;
    json_t *prev;     /* the previous document, or NULL */
    size_t announced; /* plain: batches announced so far */
    size_t committed; /* terminal: batches printed for good */
    char *block;      /* terminal: the block drawn last, or NULL */
    size_t height;    /* terminal: its number of lines */
    bool oom;         /* an event could not be made */
};

/* What a task's state counts as. */
typedef enum {
    S_QUEUED,
    S_RUNNING,
    S_DONE,
    S_FAILED,
    S_SKIPPED,
    S_REVERTING,
    S_REVERTED,
    S_REVERT_FAILED,
    S_NCATS
} s_cat_t;

/* One task of a document, read. */
typedef struct {
    const json_t *obj;
    const char *agent, *state, *step;
    size_t batch; /* clamped to the batches */
    bool canary;
    size_t index; /* its position in the document */
} s_task_t;

/* One document, read. */
typedef struct {
    const json_t *doc;
    s_task_t *tasks; /* sorted by batch, then by position */
    size_t n;
    size_t nbatches; /* at least 1 */
    size_t cur;      /* the batch in progress; nbatches: all done */
    bool ended, halted, waiting;
} s_doc_t;

/* OBJ's string member KEY, or "" when it is missing or not a string. */
static const char *
s_str(const json_t *obj, const char *key)
{
    const char *v = json_string_value(json_object_get(obj, key));
    return v ? v : "";
}

/* OBJ's integer member KEY clamped to LO..HI; LO when it is missing. */
static size_t
s_int(const json_t *obj, const char *key, size_t lo, size_t hi)
{
    json_t *v = json_object_get(obj, key);
    json_int_t i = json_is_integer(v) ? json_integer_value(v) : (json_int_t)lo;
    if (i < (json_int_t)lo) {
        return lo;
    }
    return (uint64_t)i > hi ? hi : (size_t)i;
}

bool
progress_in_progress(const char *state)
{
    return strcmp(state, "running") == 0 || strcmp(state, "pending") == 0;
}

int
progress_exit_code(const json_t *doc)
{
    return strcmp(s_str(doc, "state"), "succeeded") == 0 ? 0 : 1;
}

/* What STATE counts as. A state this CLI does not know is shown as
 * running: it is not done, and calling it failed would alarm. */
static s_cat_t
s_category(const char *state)
{
    static const struct {
        const char *name;
        s_cat_t cat;
    } map[] = {{"", S_QUEUED},
               {"pending", S_QUEUED},
               {"queued", S_QUEUED},
               {"succeeded", S_DONE},
               {"failed", S_FAILED},
               {"rolled_back", S_FAILED},
               {"rejected", S_FAILED},
               {"skipped", S_SKIPPED},
               {"reverting", S_REVERTING},
               {"reverted", S_REVERTED},
               {"revert_failed", S_REVERT_FAILED}};
    for (size_t i = 0; i < sizeof map / sizeof *map; i++) {
        if (strcmp(state, map[i].name) == 0) {
            return map[i].cat;
        }
    }
    return S_RUNNING; /* sent, running, unknown */
}

/* ---- reading a document ------------------------------------------------- */

/* qsort order: by position in the document. */
static int
s_index_cmp(const void *a, const void *b)
{
    const s_task_t *x = a, *y = b;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* qsort order: by batch, then by position (which makes it stable). */
static int
s_task_cmp(const void *a, const void *b)
{
    const s_task_t *x = a, *y = b;
    if (x->batch != y->batch) {
        return x->batch < y->batch ? -1 : 1;
    }
    return s_index_cmp(a, b);
}

/* Reads DOC into D; an entry of tasks that is not an object is no task.
 * False out of memory. */
static bool
s_read(const json_t *doc, s_doc_t *d)
{
    json_t *tasks = json_object_get(doc, "tasks");
    size_t n = json_array_size(tasks);
    *d = (s_doc_t){.doc = doc};
    d->tasks = calloc(n ? n : 1, sizeof *d->tasks);
    if (!d->tasks) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        d->n += json_is_object(json_array_get(tasks, i));
    }
    d->nbatches = s_int(doc, "nbatches", 1, d->n ? d->n : 1);
    d->cur = s_int(doc, "batch", 0, d->nbatches);
    d->ended = !progress_in_progress(s_str(doc, "state"));
    d->halted = json_is_true(json_object_get(doc, "halted"));
    d->waiting = json_is_true(json_object_get(doc, "waiting_continue"));
    for (size_t i = 0, k = 0; i < n; i++) {
        const json_t *t = json_array_get(tasks, i);
        if (!json_is_object(t)) {
            continue;
        }
        d->tasks[k++] =
            (s_task_t){.obj = t,
                       .agent = s_str(t, "agent"),
                       .state = s_str(t, "state"),
                       .step = s_str(t, "step"),
                       .batch = s_int(t, "batch", 0, d->nbatches - 1),
                       .canary = json_is_true(json_object_get(t, "canary")),
                       .index = i};
    }
    qsort(d->tasks, d->n, sizeof *d->tasks, s_task_cmp);
    return true;
}

/* The tasks of batch B in D: [*FIRST, *END). */
static void
s_batch_range(const s_doc_t *d, size_t b, size_t *first, size_t *end)
{
    size_t i = 0;
    while (i < d->n && d->tasks[i].batch < b) {
        i++;
    }
    *first = i;
    while (i < d->n && d->tasks[i].batch == b) {
        i++;
    }
    *end = i;
}

/* True when batch B of D has begun: the rollout went past it, or one of
 * its agents left the queue. */
static bool
s_batch_started(const s_doc_t *d, size_t b)
{
    if (b < d->cur) {
        return true;
    }
    size_t first, end;
    s_batch_range(d, b, &first, &end);
    for (size_t i = first; i < end; i++) {
        if (s_category(d->tasks[i].state) != S_QUEUED) {
            return true;
        }
    }
    return false;
}

/* ---- writing ------------------------------------------------------------ */

/* Writes S to F with each control character (and DEL) as '?': the text
 * comes from the controller and ends up on a terminal or in a log. */
static void
s_put(FILE *f, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        fputc(c < 0x20 || c == 0x7f ? '?' : c, f);
    }
}

/* Writes at most N bytes of S as s_put does. */
static void
s_putn(FILE *f, const char *s, size_t n)
{
    for (size_t i = 0; i < n && s[i]; i++) {
        unsigned char c = (unsigned char)s[i];
        fputc(c < 0x20 || c == 0x7f ? '?' : c, f);
    }
}

/* Closes the memory stream F over *BUF: the text, or NULL (and *BUF
 * freed) when writing it, or making an event for it, failed. */
static char *
s_close(progress_t *self, FILE *f, char **buf)
{
    bool bad = ferror(f) != 0 || self->oom;
    self->oom = false;
    if (fclose(f) != 0 || bad) {
        free(*buf);
        *buf = NULL;
    }
    return *buf;
}

/* ---- the terminal ------------------------------------------------------- */

/* Writes batch B's line of D to F: "batch 2/4 (3 agents)  done 1  failed
 * 1  running 1  web-5: fetch". */
static void
s_batch_line(FILE *f, const s_doc_t *d, size_t b)
{
    static const char *const names[S_NCATS] = {[S_QUEUED] = "queued",
                                               [S_SKIPPED] = "skipped",
                                               [S_REVERTING] = "reverting",
                                               [S_REVERTED] = "reverted",
                                               [S_REVERT_FAILED] =
                                                   "revert_failed"};
    size_t first, end, count[S_NCATS] = {0};
    bool canary = false;
    s_batch_range(d, b, &first, &end);
    for (size_t i = first; i < end; i++) {
        count[s_category(d->tasks[i].state)]++;
        canary |= d->tasks[i].canary;
    }
    fprintf(f,
            "batch %zu/%zu%s (%zu agent%s)  done %zu  failed %zu  running "
            "%zu",
            b + 1, d->nbatches, canary ? " canary" : "", end - first,
            end - first == 1 ? "" : "s", count[S_DONE], count[S_FAILED],
            count[S_RUNNING]);
    for (size_t c = 0; c < S_NCATS; c++) {
        if (names[c] && count[c]) {
            fprintf(f, "  %s %zu", names[c], count[c]);
        }
    }
    for (size_t i = first; i < end; i++) {
        const s_task_t *t = &d->tasks[i];
        if (s_category(t->state) == S_RUNNING) {
            fputs("  ", f);
            s_put(f, t->agent);
            fputs(": ", f);
            s_put(f, *t->step ? t->step : t->state);
        }
    }
    fputc('\n', f);
}

/* Writes the header of D for deployment ID to F: "deployment 7  deploy
 * web 1.2.0 to dev  rolling batch=3  running". */
static void
s_header(FILE *f, const s_doc_t *d, const char *id)
{
    const json_t *doc = d->doc;
    bool rollback = strcmp(s_str(doc, "kind"), "rollback") == 0;
    fputs("deployment ", f);
    s_put(f, id);
    fputs(rollback ? "  rollback " : "  deploy ", f);
    s_put(f, s_str(doc, "app"));
    fputs(rollback ? " to " : " ", f);
    s_put(f, s_str(doc, "version"));
    fputs(rollback ? " in " : " to ", f);
    s_put(f, s_str(doc, "env"));
    if (*s_str(doc, "strategy")) {
        fputs("  ", f);
        s_put(f, s_str(doc, "strategy"));
    }
    fputs("  ", f);
    s_put(f, s_str(doc, "state"));
    fputc('\n', f);
}

/* Writes the lines under the header: the halt, the canary's wait, and
 * how far putting the previous release back has come. */
static void
s_status_lines(FILE *f, const s_doc_t *d, const char *id)
{
    size_t count[S_NCATS] = {0};
    for (size_t i = 0; i < d->n; i++) {
        count[s_category(d->tasks[i].state)]++;
    }
    if (d->halted) {
        fputs("halted: ", f);
        s_put(f, s_str(d->doc, "halt_reason"));
        fputc('\n', f);
    }
    if (d->waiting && !d->ended) {
        fputs("waiting for hoist deployment continue ", f);
        s_put(f, id);
        fputs(" (the canary holds)\n", f);
    }
    size_t back =
        count[S_REVERTING] + count[S_REVERTED] + count[S_REVERT_FAILED];
    if (back) {
        fprintf(f, "rolling back: reverted %zu/%zu", count[S_REVERTED], back);
        if (count[S_REVERT_FAILED]) {
            fprintf(f, ", %zu failed to go back", count[S_REVERT_FAILED]);
        }
        fputc('\n', f);
    }
}

/* The block of D: the header, the batch in progress and the status
 * lines. The caller's (free); NULL out of memory. */
static char *
s_block(progress_t *self, const s_doc_t *d)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) {
        return NULL;
    }
    s_header(f, d, self->id);
    if (!d->ended && d->n > 0 && d->cur < d->nbatches &&
        d->cur >= self->committed) {
        s_batch_line(f, d, d->cur);
    }
    s_status_lines(f, d, self->id);
    return s_close(self, f, &buf);
}

/* Writes LINE (up to its newline) to F cut to WIDTH - 1 columns, so that
 * it never wraps and the cursor-up count stays right. A column is a byte
 * that does not continue a UTF-8 sequence. Returns past the newline. */
static const char *
s_put_cut(FILE *f, const char *line, int width)
{
    size_t n = strcspn(line, "\n"), cols = 0, k = 0;
    for (; k < n; k++) {
        bool starts = ((unsigned char)line[k] & 0xc0) != 0x80;
        if (starts && cols + 1 >= (size_t)width) {
            break;
        }
        cols += starts;
    }
    fputs("\033[K", f);
    s_putn(f, line, k);
    fputc('\n', f);
    return line + n + (line[n] == '\n');
}

/* The terminal's update: batches that finished go above the block, for
 * good and in order; the block is redrawn over the old one when it
 * changed. */
static char *
s_terminal(progress_t *self, const s_doc_t *d)
{
    size_t from = self->committed;
    size_t upto = d->n == 0 ? 0 : d->ended ? d->nbatches : d->cur;
    self->committed = upto > from ? upto : from;
    char *block = s_block(self, d);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = block ? open_memstream(&buf, &len) : NULL;
    if (!f) {
        free(block);
        return NULL;
    }
    if (self->committed > from || !self->block ||
        strcmp(block, self->block) != 0) {
        if (self->height > 0) {
            fprintf(f, "\r\033[%zuA", self->height);
        }
        for (size_t b = from; b < self->committed; b++) {
            fputs("\033[K", f);
            s_batch_line(f, d, b);
        }
        self->height = 0;
        for (const char *p = block; *p; self->height++) {
            p = s_put_cut(f, p, self->width);
        }
        fputs("\033[J", f);
        free(self->block);
        self->block = block;
        block = NULL;
    }
    free(block);
    return s_close(self, f, &buf);
}

/* ---- plain lines and events --------------------------------------------- */

/* PREV's tasks by agent name (a new object, the caller's), or NULL. */
static json_t *
s_by_agent(const json_t *prev)
{
    json_t *map = json_object();
    json_t *tasks = json_object_get(prev, "tasks");
    for (size_t i = 0; map && i < json_array_size(tasks); i++) {
        json_t *t = json_array_get(tasks, i);
        json_object_set(map, s_str(t, "agent"), t);
    }
    return map;
}

/* True when T's state or step differs from its task in MAP (or it has
 * none). */
static bool
s_task_changed(const json_t *map, const s_task_t *t)
{
    const json_t *p = json_object_get(map, t->agent);
    return !p || strcmp(s_str(p, "state"), t->state) != 0 ||
           strcmp(s_str(p, "step"), t->step) != 0;
}

/* Writes one JSON event O (stolen) as a line of F; notes a failure to
 * make it (O NULL) for s_close. */
static void
s_event(progress_t *self, FILE *f, json_t *o)
{
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    if (text) {
        fprintf(f, "%s\n", text);
    } else {
        self->oom = true;
    }
    free(text);
    json_decref(o);
}

/* Writes the line or event of a changed task T. */
static void
s_task_line(progress_t *self, FILE *f, const s_task_t *t)
{
    if (self->mode == PROGRESS_JSON) {
        s_event(self, f,
                json_pack("{s:s, s:s, s:s, s:s, s:I}", "event", "task", "agent",
                          t->agent, "state", t->state, "step", t->step, "batch",
                          (json_int_t)t->batch));
        return;
    }
    s_put(f, t->agent);
    fputs(": ", f);
    if (*t->step) {
        s_put(f, t->step);
        fputs(" (", f);
        s_put(f, t->state);
        fputs(")\n", f);
    } else {
        s_put(f, t->state);
        fputc('\n', f);
    }
}

/* Plain: announces the batches up to and including B that have begun
 * and were not announced yet, when there is more than one batch. */
static void
s_announce(progress_t *self, FILE *f, const s_doc_t *d, size_t b)
{
    if (self->mode != PROGRESS_PLAIN || d->nbatches < 2) {
        return;
    }
    for (; self->announced <= b && self->announced < d->nbatches &&
           s_batch_started(d, self->announced);
         self->announced++) {
        size_t first, end;
        bool canary = false;
        s_batch_range(d, self->announced, &first, &end);
        for (size_t i = first; i < end; i++) {
            canary |= d->tasks[i].canary;
        }
        fprintf(f, "batch %zu/%zu started (%zu agent%s%s)\n",
                self->announced + 1, d->nbatches, end - first,
                end - first == 1 ? "" : "s", canary ? ", canary" : "");
    }
}

/* The halt and the canary's wait, when they begin. */
static void
s_transitions(progress_t *self, FILE *f, const s_doc_t *d)
{
    const json_t *prev = self->prev;
    bool json = self->mode == PROGRESS_JSON;
    if (d->halted && !json_is_true(json_object_get(prev, "halted"))) {
        const char *reason = s_str(d->doc, "halt_reason");
        if (json) {
            s_event(
                self, f,
                json_pack("{s:s, s:s}", "event", "halted", "reason", reason));
        } else {
            fputs("halted: ", f);
            s_put(f, reason);
            fputc('\n', f);
        }
    }
    if (d->waiting && !d->ended &&
        !json_is_true(json_object_get(prev, "waiting_continue"))) {
        if (json) {
            s_event(self, f, json_pack("{s:s}", "event", "waiting_continue"));
        } else {
            fputs("waiting for hoist deployment continue ", f);
            s_put(f, self->id);
            fputs(" (the canary holds)\n", f);
        }
    }
}

/* Plain lines or events: changed tasks in batch order, each batch
 * announced before its first line, then the halt and the wait. */
static char *
s_changes(progress_t *self, const s_doc_t *d)
{
    json_t *map = s_by_agent(self->prev);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = map ? open_memstream(&buf, &len) : NULL;
    if (!f) {
        json_decref(map);
        return NULL;
    }
    for (size_t i = 0; i < d->n; i++) {
        if (s_task_changed(map, &d->tasks[i])) {
            s_announce(self, f, d, d->tasks[i].batch);
            s_task_line(self, f, &d->tasks[i]);
        }
    }
    s_announce(self, f, d, d->nbatches);
    s_transitions(self, f, d);
    json_decref(map);
    return s_close(self, f, &buf);
}

/* ---- the object --------------------------------------------------------- */

progress_t *
progress_new(progress_mode_t mode, const char *id, int width)
{
    progress_t *self = calloc(1, sizeof *self);
    if (!self || !(self->id = strdup(id))) {
        free(self);
        return NULL;
    }
    self->mode = mode;
    self->width = width <= 0                   ? S_WIDTH
                  : width < PROGRESS_WIDTH_MIN ? PROGRESS_WIDTH_MIN
                                               : width;
    return self;
}

void
progress_destroy(progress_t **p)
{
    if (!*p) {
        return;
    }
    json_decref((*p)->prev);
    free((*p)->block);
    free((*p)->id);
    free(*p);
    *p = NULL;
}

char *
progress_update(progress_t *self, const json_t *doc)
{
    s_doc_t d;
    if (!s_read(doc, &d)) {
        return NULL;
    }
    char *text = self->mode == PROGRESS_TERMINAL ? s_terminal(self, &d)
                                                 : s_changes(self, &d);
    free(d.tasks);
    if (text) {
        json_decref(self->prev);
        self->prev = json_incref((json_t *)doc);
    }
    return text;
}

/* ---- the end ------------------------------------------------------------ */

/* The first line of MESSAGE, cut to S_MESSAGE_MAX bytes, to F. True when
 * something was left out. */
static bool
s_short_message(FILE *f, const char *message)
{
    size_t n = strcspn(message, "\n");
    bool cut = n > S_MESSAGE_MAX || message[n] != '\0';
    s_putn(f, message, n > S_MESSAGE_MAX ? S_MESSAGE_MAX : n);
    fputs(cut ? "...\n" : "\n", f);
    return cut;
}

/* Task T's BATCH column: "canary", or its batch counted from 1. */
static void
s_batch_cell(const s_task_t *t, char cell[24])
{
    if (t->canary) {
        snprintf(cell, 24, "canary");
    } else {
        snprintf(cell, 24, "%zu", t->batch + 1);
    }
}

/* The width of column KEY over D's tasks, at least that of HEAD. */
static int
s_width(const s_doc_t *d, const char *key, const char *head)
{
    size_t w = strlen(head);
    for (size_t i = 0; i < d->n; i++) {
        size_t n = strlen(s_str(d->tasks[i].obj, key));
        w = n > w ? n : w;
    }
    return (int)(w > S_COLUMN_MAX ? S_COLUMN_MAX : w);
}

/* Writes CELL padded to W columns, then two spaces. */
static void
s_cell(FILE *f, const char *cell, int w)
{
    size_t n = strlen(cell);
    s_put(f, cell);
    fprintf(f, "%*s  ", n < (size_t)w ? w - (int)n : 0, "");
}

/* Writes the per-agent table of D (whose tasks are in the document's
 * order). True when a message was cut. */
static bool
s_table(FILE *f, const s_doc_t *d)
{
    static const char *const keys[] = {"agent", "state", "step", "live"};
    static const char *const heads[] = {"AGENT", "STATE", "STEP", "LIVE"};
    int w[4];
    for (size_t k = 0; k < 4; k++) {
        w[k] = s_width(d, keys[k], heads[k]);
    }
    bool batches = d->nbatches > 1, cut = false;
    for (size_t k = 0; k < 4; k++) {
        s_cell(f, heads[k], w[k]);
        if (k == 0 && batches) {
            s_cell(f, "BATCH", 6);
        }
    }
    fputs("MESSAGE\n", f);
    for (size_t i = 0; i < d->n; i++) {
        const s_task_t *t = &d->tasks[i];
        for (size_t k = 0; k < 4; k++) {
            s_cell(f, s_str(t->obj, keys[k]), w[k]);
            if (k == 0 && batches) {
                char cell[24];
                s_batch_cell(t, cell);
                s_cell(f, cell, 6);
            }
        }
        cut |= s_short_message(f, s_str(t->obj, "message"));
    }
    return cut;
}

/* The table and "deployment 7 rolled_back (halted: REASON)". */
static void
s_outcome(const progress_t *self, FILE *f, const s_doc_t *d)
{
    bool cut = s_table(f, d);
    const char *reason = s_str(d->doc, "halt_reason");
    fputs("deployment ", f);
    s_put(f, self->id);
    fputc(' ', f);
    s_put(f, s_str(d->doc, "state"));
    if (d->halted && *reason) {
        fputs(" (halted: ", f);
        s_put(f, reason);
        fputc(')', f);
    }
    fputc('\n', f);
    if (cut) {
        fputs("(full messages: hoist logs ", f);
        s_put(f, self->id);
        fputs(")\n", f);
    }
}

/* The end event: {"event":"end","state","deployment"[,"reason"]}; the
 * deployment as the controller's JSON has its id, else as given. */
static json_t *
s_end_event(const progress_t *self, const s_doc_t *d)
{
    json_t *id = json_object_get(d->doc, "id");
    json_t *o = json_pack("{s:s, s:s, s:o}", "event", "end", "state",
                          s_str(d->doc, "state"), "deployment",
                          json_is_integer(id) || json_is_string(id)
                              ? json_incref(id)
                              : json_string(self->id));
    if (o && d->halted && *s_str(d->doc, "halt_reason")) {
        json_object_set_new(o, "reason",
                            json_string(s_str(d->doc, "halt_reason")));
    }
    return o;
}

char *
progress_end(progress_t *self, const json_t *doc)
{
    s_doc_t d;
    char *buf = NULL;
    size_t len = 0;
    if (!s_read(doc, &d)) {
        return NULL;
    }
    qsort(d.tasks, d.n, sizeof *d.tasks, s_index_cmp); /* the table's */
    FILE *f = open_memstream(&buf, &len);
    if (f && self->mode == PROGRESS_JSON) {
        s_event(self, f, s_end_event(self, &d));
    } else if (f) {
        s_outcome(self, f, &d);
    }
    free(d.tasks);
    return f ? s_close(self, f, &buf) : NULL;
}

char *
progress_refused(progress_t *self, int exit, const char *text)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (f && self->mode == PROGRESS_JSON) {
        s_event(self, f,
                json_pack("{s:s, s:i, s:s}", "event", "error", "exit", exit,
                          "message", text));
    }
    return f ? s_close(self, f, &buf) : NULL;
}
