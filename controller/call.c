/*
 * call: see call.h.
 */
#include "call.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

bool
call_init(call_t *c, controller_t *ctl, const store_user_t *user)
{
    memset(c, 0, sizeof *c);
    c->ctl = ctl;
    if (user) {
        c->user = *user;
    }
    c->json = json_object();
    c->out = open_memstream(&c->text, &c->text_len);
    if (!c->json || !c->out) {
        call_fini(c);
        return false;
    }
    return true;
}

void
call_fini(call_t *c)
{
    if (c->out) {
        fclose(c->out);
        c->out = NULL;
    }
    free(c->text);
    c->text = NULL;
    json_decref(c->json);
    c->json = NULL;
}

void
call_flush(call_t *c)
{
    fflush(c->out);
}

int
call_say(call_t *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(c->out, fmt, ap);
    va_end(ap);
    return 0;
}

int
call_fail(call_t *c, const hoist_error_t *err)
{
    c->exit = error_exit_code(err->code);
    fprintf(c->out, "%s\n", err->msg);
    json_object_set_new(c->json, "error", json_string(err->msg));
    json_object_set_new(c->json, "code",
                        json_string(hoist_strerror(err->code)));
    return c->exit;
}

int
call_refuse(call_t *c, hoist_err_t code, const char *fmt, ...)
{
    hoist_error_t err = {.code = code};
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err.msg, sizeof err.msg, fmt, ap);
    va_end(ap);
    return call_fail(c, &err);
}

const char *
call_opt(const call_t *c, const char *key)
{
    for (size_t i = 0; c->req && i < c->req->n_options; i++) {
        if (strcmp(c->req->options[i]->key, key) == 0) {
            return c->req->options[i]->value;
        }
    }
    return NULL;
}

const char *
call_arg(const call_t *c, size_t i)
{
    return c->req && i < c->req->n_args ? c->req->args[i] : "";
}

bool
call_flag(const call_t *c, const char *key)
{
    const char *v = call_opt(c, key);
    return v && strcmp(v, "1") == 0;
}

bool
call_allowed(call_t *c, rbac_action_t action, const char *env)
{
    hoist_error_t err = {0};
    rbac_role_t role;
    if (rbac_role_parse(c->user.role, &role, &err) != HOIST_OK ||
        rbac_check(c->user.name, role, c->user.env, action, env, &err) !=
            HOIST_OK) {
        call_fail(c, &err);
        return false;
    }
    return true;
}
