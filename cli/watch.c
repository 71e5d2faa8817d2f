/*
 * watch: see watch.h. The loop and the I/O are here; what to print about
 * each answer is cli/progress's decision.
 */
#include "watch.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include <jansson.h>

#include "output.h"
#include "progress.h"

typedef struct {
    client_t *client;
    const char *id;
    const watch_opts_t *o;
    progress_t *progress;
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

/* The width of O's terminal: O's own, or what the terminal says, or 0
 * (cli/progress then takes 80). Asked once: a resize while watching can
 * leave a line or two behind, as with other live displays. */
static int
s_width(const watch_opts_t *o)
{
    struct winsize ws;
    int fd = fileno(o->out);
    if (o->width > 0) {
        return o->width;
    }
    if (fd >= 0 && ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) {
        return ws.ws_col;
    }
    return 0;
}

/* Prints TEXT (freed here; NULL when cli/progress ran out of memory). */
static hoist_err_t
s_print(s_watch_t *w, char *text, hoist_error_t *err)
{
    if (!text) {
        return error_set(err, HOIST_ERR_NOMEM, "out of memory");
    }
    fputs(text, w->o->out);
    fflush(w->o->out);
    free(text);
    return HOIST_OK;
}

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

/* Shows a refused poll R: an error event with --json, and the text on
 * stderr. Sets *CODE to its exit. */
static hoist_err_t
s_refused(s_watch_t *w, const client_reply_t *r, int *code, hoist_error_t *err)
{
    hoist_err_t rc =
        s_print(w, progress_refused(w->progress, r->exit, r->text), err);
    *code = output_reply(r, false);
    return rc;
}

/* One poll: shows progress, or the end (setting *CODE and *DONE). */
static hoist_err_t
s_step(s_watch_t *w, int *code, bool *done, hoist_error_t *err)
{
    client_reply_t *r = NULL;
    json_t *doc = NULL;
    hoist_err_t rc = s_poll(w, &r, &doc, err);
    if (rc == HOIST_OK && !doc) {
        *done = true;
        rc = s_refused(w, r, code, err);
    } else if (rc == HOIST_OK) {
        rc = s_print(w, progress_update(w->progress, doc), err);
        const char *state = json_string_value(json_object_get(doc, "state"));
        *done = !progress_in_progress(state);
        if (rc == HOIST_OK && *done) {
            rc = s_print(w, progress_end(w->progress, doc), err);
            *code = progress_exit_code(doc);
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
    progress_mode_t mode = o->json  ? PROGRESS_JSON
                           : o->tty ? PROGRESS_TERMINAL
                                    : PROGRESS_PLAIN;
    s_watch_t w = {.client = client,
                   .id = id,
                   .o = o,
                   .progress = progress_new(mode, id, o->tty ? s_width(o) : 0)};
    hoist_err_t rc = w.progress
                         ? HOIST_OK
                         : error_set(err, HOIST_ERR_NOMEM, "out of memory");
    bool done = false;
    while (rc == HOIST_OK && !done) {
        rc = s_step(&w, code, &done, err);
        if (rc == HOIST_OK && !done) {
            zclock_sleep(WATCH_POLL_MS);
        }
    }
    progress_destroy(&w.progress);
    return rc;
}
