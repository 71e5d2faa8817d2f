/*
 * curve: see curve.h.
 */
#include "curve.h"

#include <string.h>

bool
curve_key_canonical(const char *text, char out[CURVE_KEY_Z85_LEN + 1])
{
    uint8_t bin[CURVE_KEY_BYTES];
    char again[CURVE_KEY_Z85_LEN + 1];
    if (!text || strlen(text) != CURVE_KEY_Z85_LEN) {
        return false;
    }
    if (!zmq_z85_decode(bin, text) || !zmq_z85_encode(again, bin, sizeof bin) ||
        strcmp(again, text) != 0) {
        return false;
    }
    memcpy(out, again, sizeof again);
    return true;
}

/* A certificate whose secret half is all zeros was loaded from a public
 * key file: it cannot take part in a handshake. */
static hoist_err_t
s_check_cert(zcert_t *cert, hoist_error_t *err)
{
    static const uint8_t zero[CURVE_KEY_BYTES];
    if (!cert || memcmp(zcert_secret_key(cert), zero, sizeof zero) == 0) {
        return error_set(err, HOIST_ERR_KEY,
                         "curve: the certificate has no secret key");
    }
    return HOIST_OK;
}

zsock_t *
curve_socket(int type, zcert_t *cert, int64_t maxmsgsize, hoist_error_t *err)
{
    if (maxmsgsize <= 0) {
        error_set(err, HOIST_ERR_USAGE,
                  "curve: the message size cap must be positive, not %lld",
                  (long long)maxmsgsize);
        return NULL;
    }
    if (s_check_cert(cert, err) != HOIST_OK) {
        return NULL;
    }
    zsock_t *sock = zsock_new(type);
    if (!sock) {
        error_set(err, HOIST_ERR_IO, "curve: cannot create a socket of type %d",
                  type);
        return NULL;
    }
    zcert_apply(cert, sock);
    if (zmq_setsockopt(zsock_resolve(sock), ZMQ_MAXMSGSIZE, &maxmsgsize,
                       sizeof maxmsgsize) != 0) {
        error_errno(err, HOIST_ERR_IO, zmq_errno(),
                    "curve: cannot set ZMQ_MAXMSGSIZE");
        zsock_destroy(&sock);
    }
    return sock;
}

zsock_t *
curve_client_socket(int type, zcert_t *client_cert,
                    const char *server_public_z85, int64_t maxmsgsize,
                    hoist_error_t *err)
{
    char server_key[CURVE_KEY_Z85_LEN + 1];
    if (!curve_key_canonical(server_public_z85, server_key)) {
        error_set(err, HOIST_ERR_KEY,
                  "the controller key \"%.64s\" is not a CURVE public key (40 "
                  "characters of Z85)",
                  server_public_z85 ? server_public_z85 : "");
        return NULL;
    }
    zsock_t *sock = curve_socket(type, client_cert, maxmsgsize, err);
    if (sock) {
        zsock_set_curve_serverkey(sock, server_key);
    }
    return sock;
}
