/*
 * watch: see watch.h. Each poll's document is compared with what was
 * shown last: SEEN maps an agent's name to the "state step" it was last
 * shown with, so a plain line is printed only when that changes.
 */
#include "watch.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "output.h"

#define S_MESSAGE_MAX 60 /* message columns in the final table */

typedef struct {
    client_t *client;
    const char *id;
    const watch_opts_t *o;
    json_t *seen; /* agent -> "state step" last shown */
    bool live;    /* a live line is on the screen */
} s_watch_t;

hoist_err_t
watch_id(const char *json, char id[WATCH_ID_MAX + 1], hoist_error_t *err)
{
    json_t *doc = json_loads(json, 0, NULL);
    json_t *v = json_object_get(doc, "deployment");
    hoist_err_t rc = HOIST_OK;
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        snprintf(id, WATCH_ID_MAX + 1, "%" JSON_INTEGER_FORMAT,
                 json_integer_value(v));
    } else if (json_is_string(v) && json_string_length(v) > 0 &&
               json_string_length(v) <= WATCH_ID_MAX) {
        snprintf(id, WATCH_ID_MAX + 1, "%s", json_string_value(v));
    } else {
        rc = error_set(err, HOIST_ERR_PROTOCOL,
                       "the controller's answer names no deployment to wait "
                       "for (json: %.200s)",
                       json);
    }
    json_decref(doc);
    return rc;
}

bool
watch_in_progress(const char *state)
{
    return strcmp(state, "running") == 0 || strcmp(state, "pending") == 0;
}

/* OBJ's string member KEY, or "" when it is missing or not a string. */
static const char *
s_str(const json_t *obj, const char *key)
{
    const char *v = json_string_value(json_object_get(obj, key));
    return v ? v : "";
}

/* True for a task that has finished, one way or another. */
static bool
s_task_done(const char *state)
{
    static const char *const moving[] = {"",     "pending", "queued",
                                         "sent", "running", NULL};
    for (size_t i = 0; moving[i]; i++) {
        if (strcmp(state, moving[i]) == 0) {
            return false;
        }
    }
    return true;
}

/* ---- progress ----------------------------------------------------------- */

/* Rewrites the live line: "deploying web 1.2.0 to dev: 2/3 done, web-2:
 * health". */
static void
s_live_line(s_watch_t *w, const json_t *doc)
{
    json_t *tasks = json_object_get(doc, "tasks");
    size_t n = json_array_size(tasks), done = 0;
    const json_t *busy = NULL;
    for (size_t i = 0; i < n; i++) {
        const json_t *t = json_array_get(tasks, i);
        if (s_task_done(s_str(t, "state"))) {
            done++;
        } else if (!busy) {
            busy = t;
        }
    }
    bool rollback = strcmp(s_str(doc, "kind"), "rollback") == 0;
    fprintf(w->o->out, "\r\033[K%s %s %s %s %s: %zu/%zu done",
            rollback ? "rolling back" : "deploying", s_str(doc, "app"),
            rollback ? "to" : s_str(doc, "version"),
            rollback ? s_str(doc, "version") : "to", s_str(doc, "env"), done,
            n);
    if (busy) {
        const char *step = s_str(busy, "step");
        fprintf(w->o->out, ", %s: %s", s_str(busy, "agent"),
                *step ? step : s_str(busy, "state"));
    }
    fflush(w->o->out);
    w->live = true;
}

/* Prints "agent: step (state)" for each task that changed since the last
 * poll. */
static void
s_plain_lines(s_watch_t *w, const json_t *doc)
{
    json_t *tasks = json_object_get(doc, "tasks");
    for (size_t i = 0; i < json_array_size(tasks); i++) {
        const json_t *t = json_array_get(tasks, i);
        const char *agent = s_str(t, "agent"), *state = s_str(t, "state");
        const char *step = s_str(t, "step");
        char now[512];
        snprintf(now, sizeof now, "%s %s", state, step);
        if (strcmp(s_str(w->seen, agent), now) == 0) {
            continue;
        }
        json_object_set_new(w->seen, agent, json_string(now));
        if (*step) {
            fprintf(w->o->out, "%s: %s (%s)\n", agent, step, state);
        } else {
            fprintf(w->o->out, "%s: %s\n", agent, state);
        }
    }
    fflush(w->o->out);
}

/* ---- the end ------------------------------------------------------------ */

/* The first line of MESSAGE, cut to S_MESSAGE_MAX, into BUF. True when
 * something was left out. */
static bool
s_short_message(const char *message, char buf[S_MESSAGE_MAX + 4])
{
    size_t n = strcspn(message, "\n");
    bool cut = n > S_MESSAGE_MAX || message[n] != '\0';
    n = n > S_MESSAGE_MAX ? S_MESSAGE_MAX : n;
    snprintf(buf, S_MESSAGE_MAX + 4, "%.*s%s", (int)n, message,
             cut ? "..." : "");
    return cut;
}

/* The width of column KEY over TASKS, at least that of HEAD. */
static int
s_width(const json_t *tasks, const char *key, const char *head)
{
    size_t w = strlen(head);
    for (size_t i = 0; i < json_array_size(tasks); i++) {
        size_t n = strlen(s_str(json_array_get(tasks, i), key));
        w = n > w ? n : w;
    }
    return (int)(w > 40 ? 40 : w);
}

/* Prints the per-agent table and the outcome. */
static void
s_table(s_watch_t *w, const json_t *doc)
{
    FILE *out = w->o->out;
    json_t *tasks = json_object_get(doc, "tasks");
    int wa = s_width(tasks, "agent", "AGENT");
    int ws = s_width(tasks, "state", "STATE");
    int wp = s_width(tasks, "step", "STEP");
    int wl = s_width(tasks, "live", "LIVE");
    bool cut = false;
    fprintf(out, "%-*s  %-*s  %-*s  %-*s  %s\n", wa, "AGENT", ws, "STATE", wp,
            "STEP", wl, "LIVE", "MESSAGE");
    for (size_t i = 0; i < json_array_size(tasks); i++) {
        const json_t *t = json_array_get(tasks, i);
        char msg[S_MESSAGE_MAX + 4];
        cut |= s_short_message(s_str(t, "message"), msg);
        fprintf(out, "%-*s  %-*s  %-*s  %-*s  %s\n", wa, s_str(t, "agent"), ws,
                s_str(t, "state"), wp, s_str(t, "step"), wl, s_str(t, "live"),
                msg);
    }
    fprintf(out, "deployment %s %s\n", w->id, s_str(doc, "state"));
    if (cut) {
        fprintf(out, "(full messages: hoist logs %s)\n", w->id);
    }
}

/* ---- polling ------------------------------------------------------------ */

/* Asks for the deployment once. Sets *REPLY (the caller's) to the answer
 * and, when its exit is 0, *DOC (the caller's) to its parsed JSON. */
static hoist_err_t
s_poll(s_watch_t *w, client_reply_t **reply, json_t **doc, hoist_error_t *err)
{
    const char *args[] = {w->id};
    hoist_err_t rc = client_call(w->client, "deployment.show", args, 1, NULL,
                                 NULL, 0, reply, err);
    if (rc != HOIST_OK) {
        error_prefix(err,
                     "waiting for deployment %s (it goes on; see hoist "
                     "deployment show %s)",
                     w->id, w->id);
        return rc;
    }
    if ((*reply)->exit != 0) {
        return HOIST_OK;
    }
    json_error_t jerr;
    *doc = json_loads((*reply)->json, 0, &jerr);
    if (!*doc || !json_is_string(json_object_get(*doc, "state"))) {
        rc = error_set(err, HOIST_ERR_PROTOCOL,
                       "deployment.show %s: the controller's json has no "
                       "state (%s)",
                       w->id, *doc ? "missing" : jerr.text);
        json_decref(*doc);
        *doc = NULL;
        client_reply_destroy(reply);
    }
    return rc;
}

/* Shows DOC's progress the way the options say. */
static void
s_show(s_watch_t *w, const json_t *doc)
{
    if (w->o->json) {
        return;
    }
    if (w->o->tty) {
        s_live_line(w, doc);
    } else {
        s_plain_lines(w, doc);
    }
}

/* Shows the end: the final document (JSON, exactly as the controller
 * sent it), or the table and the outcome. */
static int
s_finish(s_watch_t *w, const json_t *doc, const char *json)
{
    if (w->live) {
        fputc('\n', w->o->out);
        w->live = false;
    }
    if (w->o->json) {
        fprintf(w->o->out, "%s\n", json);
    } else {
        s_table(w, doc);
    }
    fflush(w->o->out);
    return strcmp(s_str(doc, "state"), "succeeded") == 0 ? 0 : 1;
}

/* One poll: shows progress, or the end (setting *CODE and *DONE). */
static hoist_err_t
s_step(s_watch_t *w, int *code, bool *done, hoist_error_t *err)
{
    client_reply_t *r = NULL;
    json_t *doc = NULL;
    hoist_err_t rc = s_poll(w, &r, &doc, err);
    if (rc == HOIST_OK && !doc) {
        if (w->live) {
            fputc('\n', w->o->out);
            w->live = false;
        }
        *code = output_reply(r, w->o->json);
        *done = true;
    } else if (rc == HOIST_OK) {
        s_show(w, doc);
        *done = !watch_in_progress(s_str(doc, "state"));
        if (*done) {
            *code = s_finish(w, doc, r->json);
        }
    }
    json_decref(doc);
    client_reply_destroy(&r);
    return rc;
}

hoist_err_t
watch_deployment(client_t *client, const char *id, const watch_opts_t *o,
                 int *code, hoist_error_t *err)
{
    s_watch_t w = {.client = client, .id = id, .o = o, .seen = json_object()};
    hoist_err_t rc =
        w.seen ? HOIST_OK : error_set(err, HOIST_ERR_NOMEM, "out of memory");
    bool done = false;
    while (rc == HOIST_OK && !done) {
        rc = s_step(&w, code, &done, err);
        if (rc == HOIST_OK && !done) {
            zclock_sleep(WATCH_POLL_MS);
        }
    }
    if (w.live) {
        fputc('\n', o->out);
    }
    json_decref(w.seen);
    return rc;
}
