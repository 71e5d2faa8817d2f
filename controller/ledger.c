/*
 * ledger: see ledger.h. The target of an entry is the request's
 * positional arguments and options ("web 1.2.0 to=production"); data
 * (artifact bytes, a variable's value, a pipeline file) never goes in, so
 * a secret cannot reach the log through it. The result is "ok" or the
 * first line of the error the caller got.
 */
#include "ledger.h"

#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "calendar.h"
#include "log.h"
#include "manifest.h"

#define OPT_SHOWN 200 /* bytes of one option value in a target */

/* Options whose value is not recorded (none today carries a secret: a
 * variable's value travels as data; the list is the guard for later). */
static const char *const s_hidden[] = {"value", NULL};

/* Makes BUF safe to print and to put in JSON, in place: every control
 * character and every byte that is not part of valid UTF-8 becomes '?',
 * so a request cannot forge lines or terminal escapes in `hoist audit`. */
static void
s_clean(char *buf)
{
    unsigned char *p = (unsigned char *)buf;
    while (*p) {
        size_t n = *p < 0x80           ? 1
                   : (*p >> 5) == 0x6  ? 2
                   : (*p >> 4) == 0xe  ? 3
                   : (*p >> 3) == 0x1e ? 4
                                       : 0;
        bool ok = n > 0;
        for (size_t i = 1; ok && i < n; i++) {
            ok = (p[i] & 0xc0) == 0x80;
        }
        if (!ok || (n == 1 && (*p < 0x20 || *p == 0x7f))) {
            *p++ = '?';
        } else {
            p += n;
        }
    }
}

static void
s_target(const call_t *c, char *buf, size_t len)
{
    size_t n = 0;
    buf[0] = '\0';
    for (size_t i = 0; c->req && i < c->req->n_args && n < len; i++) {
        n += (size_t)snprintf(buf + n, len - n, "%s%s", n ? " " : "",
                              c->req->args[i]);
    }
    for (size_t i = 0; c->req && i < c->req->n_options && n < len; i++) {
        const char *k = c->req->options[i]->key;
        bool hidden = false;
        for (size_t h = 0; s_hidden[h]; h++) {
            hidden |= strcmp(k, s_hidden[h]) == 0;
        }
        n += (size_t)snprintf(buf + n, len - n, "%s%s=%.*s", n ? " " : "", k,
                              OPT_SHOWN,
                              hidden ? "(hidden)" : c->req->options[i]->value);
    }
}

/* "ok", or the first line of the error in C's reply. */
static void
s_result(const call_t *c, char *buf, size_t len)
{
    const char *e = json_string_value(json_object_get(c->json, "error"));
    if (c->exit == 0) {
        snprintf(buf, len, "ok");
    } else {
        /* One line: the sentence, then each listed reason after "; ". */
        size_t n = 0;
        for (const char *p = e ? e : "failed"; *p && n + 1 < len; p++) {
            if (*p != '\n') {
                buf[n++] = *p;
            } else if (n + 3 < len) {
                if (n == 0 || buf[n - 1] != ':') {
                    buf[n++] = ';';
                }
                buf[n++] = ' ';
                while (p[1] == ' ' || p[1] == '-') {
                    p++;
                }
            }
        }
        buf[n] = '\0';
    }
}

static void
s_append(controller_t *ctl, const char *user, const char *action,
         const char *target, const char *result, int exit_code)
{
    hoist_error_t err = {0};
    char act[STORE_ACTION_SIZE], tgt[STORE_TARGET_SIZE], res[STORE_RESULT_SIZE];
    snprintf(act, sizeof act, "%s", action);
    snprintf(tgt, sizeof tgt, "%s", target);
    snprintf(res, sizeof res, "%s", result);
    s_clean(act);
    s_clean(tgt);
    s_clean(res);
    if (store_audit_append(controller_store(ctl), zclock_time(), user, act, tgt,
                           res, exit_code, "", NULL, &err) != HOIST_OK) {
        log_error("audit log: could not record %s by %s: %s", action, user,
                  err.msg);
    }
}

void
ledger_record(call_t *c, const char *command)
{
    char target[STORE_TARGET_SIZE], result[STORE_RESULT_SIZE];
    s_target(c, target, sizeof target);
    s_result(c, result, sizeof result);
    s_append(c->ctl, c->user.name[0] ? c->user.name : "(unknown key)", command,
             target, result, c->exit);
}

void
ledger_record_upload(call_t *c, const char *command, const uploader_answer_t *a)
{
    char target[STORE_TARGET_SIZE], result[STORE_RESULT_SIZE];
    if (a->manifest) {
        snprintf(target, sizeof target, "%s %s upload=%s",
                 manifest_app(a->manifest), manifest_version(a->manifest),
                 a->id);
    } else {
        snprintf(target, sizeof target, "upload=%s", a->id);
    }
    s_result(c, result, sizeof result);
    s_append(c->ctl, c->user.name, command, target, result, c->exit);
}

void
ledger_note(controller_t *ctl, const char *action, const char *target,
            const char *result, int exit_code)
{
    s_append(ctl, "controller", action, target, result, exit_code);
}

/* --- audit.list ---------------------------------------------------------- */

static int
s_row(const store_audit_t *r, void *arg)
{
    call_t *c = arg;
    char when[96];
    calendar_format(r->time_ms, "UTC", when, sizeof when);
    call_say(c, "%-6lld %-20s %-12s %-16s %s -> %s\n", (long long)r->id, when,
             r->user, r->action, r->target, r->result);
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer(r->id));
    json_object_set_new(o, "time", json_integer(r->time_ms));
    json_object_set_new(o, "user", json_string(r->user));
    json_object_set_new(o, "action", json_string(r->action));
    json_object_set_new(o, "target", json_string(r->target));
    json_object_set_new(o, "result", json_string(r->result));
    json_object_set_new(o, "exit", json_integer(r->exit_code));
    json_array_append_new(json_object_get(c->json, "entries"), o);
    return 0;
}

static int
s_audit_list(call_t *c)
{
    hoist_error_t err = {0};
    const char *since = call_opt(c, "since");
    int64_t since_ms = 0;
    if (since && calendar_parse_at(since, "UTC", zclock_time(), &since_ms,
                                   &err) != HOIST_OK) {
        return call_fail(c, &err);
    }
    json_object_set_new(c->json, "entries", json_array());
    if (store_audit_list(controller_store(c->ctl), since_ms, s_row, c, &err) !=
        HOIST_OK) {
        return call_fail(c, &err);
    }
    return 0;
}

/* --- audit.verify -------------------------------------------------------- */

static int
s_walk_row(const store_audit_t *r, void *arg)
{
    audit_walk_t *w = arg;
    audit_entry_t e = {.id = r->id,
                       .time_ms = r->time_ms,
                       .user = r->user,
                       .action = r->action,
                       .target = r->target,
                       .result = r->result,
                       .exit_code = r->exit_code,
                       .detail = r->detail};
    return audit_walk_step(w, &e, r->prev, r->hash) ? 0 : 1;
}

static int
s_audit_verify(call_t *c)
{
    hoist_error_t err = {0};
    const char *head = call_opt(c, "head");
    audit_head_t expect;
    audit_walk_t *w = calloc(1, sizeof *w);
    audit_report_t rep;
    char text[AUDIT_HEAD_MAX];
    if (!w) {
        return call_refuse(c, HOIST_ERR_NOMEM, "out of memory");
    }
    if (head && audit_head_parse(head, &expect, &err) != HOIST_OK) {
        free(w);
        return call_fail(c, &err);
    }
    audit_walk_init(w, head ? &expect : NULL);
    hoist_err_t rc =
        store_audit_list(controller_store(c->ctl), 0, s_walk_row, w, &err);
    audit_walk_end(w, &rep);
    free(w);
    if (rc != HOIST_OK) {
        return call_fail(c, &err);
    }
    audit_head_format(&rep.head, text);
    json_object_set_new(c->json, "rows", json_integer(rep.rows));
    json_object_set_new(c->json, "head", json_string(text));
    json_object_set_new(c->json, "ok", json_boolean(rep.status == AUDIT_OK));
    if (rep.status != AUDIT_OK) {
        json_object_set_new(c->json, "bad_id", json_integer(rep.bad_id));
        return call_refuse(c, HOIST_ERR_STATE, "audit log: %s", rep.reason);
    }
    call_say(c,
             "audit log intact: %lld rows\nhead %s (keep it; `hoist audit "
             "verify --head %s` proves later that nothing up to it changed)\n",
             (long long)rep.rows, text, text);
    return 0;
}

const call_command_t ledger_commands[] = {
    {"audit.list", s_audit_list, 0, RBAC_AUDIT_READ, NULL,
     "audit [--since TIME]", true},
    {"audit.verify", s_audit_verify, 0, RBAC_AUDIT_VERIFY, NULL,
     "audit verify [--head ID:HEX]", true},
    {NULL, NULL, 0, RBAC_READ, NULL, NULL, false},
};
