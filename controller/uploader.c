/*
 * uploader: see uploader.h. Requests travel to the actor as multi-frame
 * messages (copies of the caller's bytes: one chunk at most, a mebibyte);
 * answers come back as a pointer to a heap uploader_answer_t that the
 * receiver owns. Since zactor_destroy discards whatever is still in the
 * pipe, uploader_destroy first asks the actor to stop answering and frees
 * the answers in flight, so none leaks.
 */
#include "uploader.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "digest.h"
#include "log.h"
#include "monotime.h"

#define EXPIRE_EVERY_MS 1000

struct uploader {
    zactor_t *actor;
    size_t pending; /* requests sent and not answered yet */
};

/* --- the actor ------------------------------------------------------------ */

typedef struct {
    zsock_t *pipe;
    artifacts_t *store;
    zhashx_t *notes;      /* upload id -> notes given at begin */
    zhashx_t *lifecycles; /* upload id -> lifecycle given at begin */
    bool stopping;        /* answers are no longer wanted */
} actor_t;

/* The notes travel beside the manifest, which signs only their digest:
 * they must hash to it, or be absent when the manifest has none. */
static bool
s_notes_match(const manifest_t *m, const char *notes)
{
    const uint8_t *want = manifest_notes_digest(m);
    if (!want) {
        return !notes[0];
    }
    uint8_t got[DIGEST_BYTES];
    crypto_generichash(got, sizeof got, (const uint8_t *)notes, strlen(notes),
                       NULL, 0);
    return digest_equal(got, want);
}

static void
s_answer(actor_t *a, uploader_answer_t *ans)
{
    if (a->stopping || zsock_send(a->pipe, "p", ans) != 0) {
        uploader_answer_destroy(&ans);
    }
}

/* A new answer of KIND for the request whose cookie is frame COOKIE. */
static uploader_answer_t *
s_answer_new(uploader_kind_t kind, zframe_t *cookie)
{
    uploader_answer_t *ans = calloc(1, sizeof *ans);
    if (ans) {
        ans->kind = kind;
        ans->cookie_len = zframe_size(cookie);
        memcpy(ans->cookie, zframe_data(cookie), ans->cookie_len);
    }
    return ans;
}

static void
s_on_begin(actor_t *a, zmsg_t *msg, uploader_answer_t *ans)
{
    zframe_t *manifest = zmsg_pop(msg), *notes = zmsg_pop(msg),
             *trust = zmsg_pop(msg);
    char *text = NULL, *lifecycle = zmsg_popstr(msg);
    if (!manifest || !notes || !trust || !lifecycle ||
        zframe_size(trust) % sizeof(keys_public_t) != 0 ||
        !(text =
              strndup((const char *)zframe_data(notes), zframe_size(notes)))) {
        error_set(&ans->err, HOIST_ERR_NOMEM, "malformed upload request");
    } else if (artifacts_begin(
                   a->store, zframe_data(manifest), zframe_size(manifest),
                   (const keys_public_t *)zframe_data(trust),
                   zframe_size(trust) / sizeof(keys_public_t), ans->id,
                   &ans->manifest, &ans->err) == HOIST_OK) {
        if (!s_notes_match(ans->manifest, text)) {
            artifacts_abort(a->store, ans->id);
            manifest_destroy(&ans->manifest);
            error_set(&ans->err, HOIST_ERR_MANIFEST,
                      "the release notes sent are not the ones the manifest "
                      "signed (pass the same --notes FILE as when signing)");
        } else {
            zhashx_update(a->notes, ans->id, text);
            zhashx_update(a->lifecycles, ans->id, lifecycle);
            text = lifecycle = NULL;
        }
    }
    free(text);
    zstr_free(&lifecycle);
    zframe_destroy(&manifest);
    zframe_destroy(&notes);
    zframe_destroy(&trust);
}

static void
s_on_chunk(actor_t *a, zmsg_t *msg, uploader_answer_t *ans)
{
    char *id = zmsg_popstr(msg);
    zframe_t *off = zmsg_pop(msg), *data = zmsg_pop(msg);
    uint64_t offset = 0;
    if (!id || !off || !data || zframe_size(off) != sizeof offset) {
        error_set(&ans->err, HOIST_ERR_NOMEM, "malformed upload request");
    } else {
        memcpy(&offset, zframe_data(off), sizeof offset);
        snprintf(ans->id, sizeof ans->id, "%s", id);
        if (artifacts_chunk(a->store, id, offset, zframe_data(data),
                            zframe_size(data), &ans->err) == HOIST_OK) {
            ans->received = offset + zframe_size(data);
        }
    }
    zstr_free(&id);
    zframe_destroy(&off);
    zframe_destroy(&data);
}

static void
s_on_commit(actor_t *a, zmsg_t *msg, uploader_answer_t *ans)
{
    char *id = zmsg_popstr(msg);
    if (!id) {
        error_set(&ans->err, HOIST_ERR_NOMEM, "malformed upload request");
        return;
    }
    snprintf(ans->id, sizeof ans->id, "%s", id);
    ans->manifest = artifacts_commit(a->store, id, &ans->signed_bytes,
                                     &ans->signed_len, &ans->err);
    const char *notes = zhashx_lookup(a->notes, id);
    const char *lifecycle = zhashx_lookup(a->lifecycles, id);
    if (ans->manifest && !(ans->notes = strdup(notes ? notes : ""))) {
        manifest_destroy(&ans->manifest);
        error_set(&ans->err, HOIST_ERR_NOMEM, "out of memory");
    }
    snprintf(ans->lifecycle, sizeof ans->lifecycle, "%s",
             lifecycle ? lifecycle : "");
    zhashx_delete(a->notes, id);
    zhashx_delete(a->lifecycles, id);
    zstr_free(&id);
}

/* Serves one request from the pipe; false on $TERM. */
static bool
s_on_request(actor_t *a)
{
    zmsg_t *msg = zmsg_recv(a->pipe);
    char *cmd = msg ? zmsg_popstr(msg) : NULL;
    bool go_on = msg && cmd && strcmp(cmd, "$TERM") != 0;
    if (go_on && strcmp(cmd, "ABORT") == 0) {
        char *id = zmsg_popstr(msg);
        if (id && artifacts_abort(a->store, id)) {
            zhashx_delete(a->notes, id);
            zhashx_delete(a->lifecycles, id);
        }
        zstr_free(&id);
    } else if (go_on && strcmp(cmd, "STOP") == 0) {
        a->stopping = true;
        zstr_send(a->pipe, "STOPPED");
    } else if (go_on) {
        static const struct {
            const char *name;
            uploader_kind_t kind;
            void (*fn)(actor_t *, zmsg_t *, uploader_answer_t *);
        } table[] = {{"BEGIN", UPLOADER_BEGUN, s_on_begin},
                     {"CHUNK", UPLOADER_CHUNKED, s_on_chunk},
                     {"COMMIT", UPLOADER_COMMITTED, s_on_commit}};
        for (size_t i = 0; i < sizeof table / sizeof *table; i++) {
            if (strcmp(cmd, table[i].name) == 0) {
                zframe_t *cookie = zmsg_pop(msg);
                uploader_answer_t *ans =
                    cookie ? s_answer_new(table[i].kind, cookie) : NULL;
                if (ans) {
                    table[i].fn(a, msg, ans);
                    s_answer(a, ans);
                }
                zframe_destroy(&cookie);
            }
        }
    }
    zstr_free(&cmd);
    zmsg_destroy(&msg);
    return go_on;
}

/* Drops idle sessions and the notes of every session that ended. */
static void
s_expire(actor_t *a)
{
    if (artifacts_expire(a->store, monotime_ms())) {
        log_info("dropped idle uploads");
    }
    zlistx_t *gone = zlistx_new();
    for (void *n = zhashx_first(a->notes); n; n = zhashx_next(a->notes)) {
        const char *id = zhashx_cursor(a->notes);
        if (!artifacts_upload_open(a->store, id)) {
            zlistx_add_end(gone, (void *)id);
        }
    }
    for (char *id = zlistx_first(gone); id; id = zlistx_next(gone)) {
        zhashx_delete(a->lifecycles, id);
        zhashx_delete(a->notes, id);
    }
    zlistx_destroy(&gone);
}

/* What uploader_new hands the actor, and what it learns at start. */
typedef struct {
    const char *data_dir;
    hoist_error_t err;
} start_t;

static void
s_actor(zsock_t *pipe, void *args)
{
    start_t *start = args; /* valid until the signal below */
    actor_t a = {
        .pipe = pipe, .notes = zhashx_new(), .lifecycles = zhashx_new()};
    zhashx_set_destructor(a.notes, (zhashx_destructor_fn *)zstr_free);
    zhashx_set_destructor(a.lifecycles, (zhashx_destructor_fn *)zstr_free);
    a.store = artifacts_open(start->data_dir, &start->err);
    zsock_signal(pipe, a.store ? 0 : 1);
    zpoller_t *poller = a.store ? zpoller_new(pipe, NULL) : NULL;
    uint64_t next = monotime_ms() + EXPIRE_EVERY_MS;
    while (poller) {
        uint64_t now = monotime_ms();
        int wait = next > now ? (int)(next - now) : 0;
        if (zpoller_wait(poller, wait) == pipe) {
            if (!s_on_request(&a)) {
                break;
            }
        } else if (zpoller_terminated(poller)) {
            break;
        }
        if (monotime_ms() >= next) {
            s_expire(&a);
            next = monotime_ms() + EXPIRE_EVERY_MS;
        }
    }
    zpoller_destroy(&poller);
    artifacts_destroy(&a.store);
    zhashx_destroy(&a.notes);
    zhashx_destroy(&a.lifecycles);
}

/* --- the caller's side ---------------------------------------------------- */

uploader_t *
uploader_new(const char *data_dir, hoist_error_t *err)
{
    start_t start = {.data_dir = data_dir};
    uploader_t *u = calloc(1, sizeof *u);
    if (!u) {
        error_set(err, HOIST_ERR_NOMEM, "out of memory");
        return NULL;
    }
    u->actor = zactor_new(s_actor, &start);
    if (!u->actor || start.err.code != HOIST_OK) {
        if (err) {
            *err = start.err.code
                       ? start.err
                       : (hoist_error_t){.code = HOIST_ERR_NOMEM,
                                         .msg = "cannot start the uploader"};
        }
        zactor_destroy(&u->actor);
        free(u);
        return NULL;
    }
    return u;
}

void
uploader_destroy(uploader_t **p)
{
    if (!p || !*p) {
        return;
    }
    uploader_t *u = *p;
    /* Free the answers still in the pipe before zactor_destroy drops
     * them: after STOPPED, the actor sends none. */
    zstr_send(u->actor, "STOP");
    for (;;) {
        zmsg_t *msg = zmsg_recv(u->actor);
        zframe_t *f = msg ? zmsg_first(msg) : NULL;
        if (!f || zframe_streq(f, "STOPPED")) {
            zmsg_destroy(&msg);
            break;
        }
        /* An answer: a pointer frame, as zsock_send's "p" makes it. */
        uploader_answer_t *a = NULL;
        if (zframe_size(f) == sizeof a) {
            memcpy(&a, zframe_data(f), sizeof a);
            uploader_answer_destroy(&a);
        }
        zmsg_destroy(&msg);
    }
    zactor_destroy(&u->actor);
    free(u);
    *p = NULL;
}

zsock_t *
uploader_sock(uploader_t *u)
{
    return zactor_sock(u->actor);
}

/* Starts a request CMD with COOKIE; NULL with ERR when the queue is full
 * or the cookie too long. */
static zmsg_t *
s_request(uploader_t *u, const char *cmd, const void *cookie, size_t len,
          hoist_error_t *err)
{
    if (len > UPLOADER_COOKIE_MAX) {
        error_set(err, HOIST_ERR_LIMIT, "upload request cookie too long");
        return NULL;
    }
    if (u->pending >= UPLOADER_QUEUE) {
        error_set(err, HOIST_ERR_BUSY,
                  "the controller is busy storing uploads (%d requests "
                  "waiting): wait for each answer, or retry later",
                  UPLOADER_QUEUE);
        return NULL;
    }
    zmsg_t *msg = zmsg_new();
    if (zmsg_addstr(msg, cmd) != 0 || zmsg_addmem(msg, cookie, len) != 0) {
        zmsg_destroy(&msg);
        error_set(err, HOIST_ERR_NOMEM, "out of memory");
    }
    return msg;
}

static hoist_err_t
s_send(uploader_t *u, zmsg_t **msg, int rc, hoist_error_t *err)
{
    if (rc != 0 || zmsg_send(msg, u->actor) != 0) {
        zmsg_destroy(msg);
        return error_set(err, HOIST_ERR_NOMEM, "out of memory");
    }
    u->pending++;
    return HOIST_OK;
}

hoist_err_t
uploader_begin(uploader_t *u, const void *cookie, size_t cookie_len,
               const uint8_t *manifest, size_t len, const char *notes,
               const char *lifecycle, const keys_public_t *trusted, size_t n,
               hoist_error_t *err)
{
    notes = notes ? notes : "";
    lifecycle = lifecycle ? lifecycle : "";
    if (strlen(lifecycle) >= sizeof((uploader_answer_t *)0)->lifecycle) {
        return error_set(err, HOIST_ERR_LIMIT, "lifecycle name too long");
    }
    if (strlen(notes) > UPLOADER_NOTES_MAX) {
        return error_set(err, HOIST_ERR_LIMIT,
                         "release notes are over %d bytes", UPLOADER_NOTES_MAX);
    }
    zmsg_t *msg = s_request(u, "BEGIN", cookie, cookie_len, err);
    if (!msg) {
        return err ? err->code : HOIST_ERR_BUSY;
    }
    int rc = zmsg_addmem(msg, manifest, len) | zmsg_addstr(msg, notes) |
             zmsg_addmem(msg, trusted, n * sizeof *trusted) |
             zmsg_addstr(msg, lifecycle);
    return s_send(u, &msg, rc, err);
}

hoist_err_t
uploader_chunk(uploader_t *u, const void *cookie, size_t cookie_len,
               const char *id, uint64_t offset, const void *data, size_t len,
               hoist_error_t *err)
{
    zmsg_t *msg = s_request(u, "CHUNK", cookie, cookie_len, err);
    if (!msg) {
        return err ? err->code : HOIST_ERR_BUSY;
    }
    int rc = zmsg_addstr(msg, id) | zmsg_addmem(msg, &offset, sizeof offset) |
             zmsg_addmem(msg, data, len);
    return s_send(u, &msg, rc, err);
}

hoist_err_t
uploader_commit(uploader_t *u, const void *cookie, size_t cookie_len,
                const char *id, hoist_error_t *err)
{
    zmsg_t *msg = s_request(u, "COMMIT", cookie, cookie_len, err);
    if (!msg) {
        return err ? err->code : HOIST_ERR_BUSY;
    }
    return s_send(u, &msg, zmsg_addstr(msg, id), err);
}

void
uploader_abort(uploader_t *u, const char *id)
{
    zstr_sendx(u->actor, "ABORT", id, NULL);
}

uploader_answer_t *
uploader_recv(uploader_t *u)
{
    void *ans = NULL;
    if (zsock_recv(u->actor, "p", &ans) != 0 || !ans) {
        return NULL;
    }
    if (u->pending > 0) {
        u->pending--;
    }
    return ans;
}

void
uploader_answer_destroy(uploader_answer_t **p)
{
    if (!p || !*p) {
        return;
    }
    manifest_destroy(&(*p)->manifest);
    free((*p)->signed_bytes);
    free((*p)->notes);
    free(*p);
    *p = NULL;
}
