/*
 * rekey: see rekey.h.
 */
#include "rekey.h"

#include <stdio.h>
#include <string.h>

#include "ledger.h"
#include "log.h"
#include "zap.h"

hoist_err_t
rekey_accept(controller_t *ctl, const store_agent_t *a, const char *newkey,
             int64_t *dropped, hoist_error_t *err)
{
    if (strcmp(a->pubkey, newkey) == 0) {
        *dropped = 0; /* offered again: the agent did not get the answer */
        return HOIST_OK;
    }
    zap_t *zap = controller_zap(ctl);
    hoist_err_t rc =
        store_agent_rekey(controller_store(ctl), a->name, newkey, dropped, err);
    char id[ZAP_USER_ID_MAX + 1], old[ZAP_USER_ID_MAX + 1];
    zap_agent_id(id, sizeof id, a->name, newkey);
    zap_agent_id(old, sizeof old, a->name, a->pubkey);
    /* A key older still (a second rekey before the first was seen) is
     * nobody's now. */
    if (rc == HOIST_OK && a->old_key[0]) {
        rc = zap_deny(zap, a->old_key, err);
    }
    if (rc == HOIST_OK) {
        rc = zap_allow(zap, newkey, id, err);
    }
    if (rc == HOIST_OK) {
        rc = zap_allow(zap, a->pubkey, old, err);
    }
    if (rc != HOIST_OK) {
        return rc;
    }
    char note[256];
    snprintf(note, sizeof note,
             "key %.8s... -> %.8s...; %lld secret box%s "
             "dropped",
             a->pubkey, newkey, (long long)*dropped, *dropped == 1 ? "" : "es");
    ledger_note(ctl, "agent.rekey", a->name, note, 0);
    log_warn("agent %s: %s; its old key is accepted until it connects with "
             "the new one",
             a->name, note);
    return HOIST_OK;
}

void
rekey_confirm(controller_t *ctl, const store_agent_t *a)
{
    hoist_error_t err = {0};
    if (zap_deny(controller_zap(ctl), a->old_key, &err) != HOIST_OK ||
        store_agent_clear_old_key(controller_store(ctl), a->name, &err) !=
            HOIST_OK) {
        log_warn("agent %s: cannot retire its old key yet: %s", a->name,
                 err.msg);
        return;
    }
    log_info("agent %s connects with its new key; the old one is refused "
             "from now on",
             a->name);
}
