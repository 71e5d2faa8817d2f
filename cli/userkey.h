/*
 * userkey: a CLI user's CURVE key pair, the key the controller's API
 * socket knows a person by. `hoist keygen --user --out PREFIX` makes one
 * and `hoist users add NAME --key FILE` reads the public half of one.
 *
 * The files are czmq certificates as zcert_save writes them, the same
 * format as the admin identity that `hoist-controller init` makes:
 * PREFIX holds the public key (mode 0644, safe to hand to an admin) and
 * PREFIX_secret holds both keys (mode 0600). config_identity_load reads
 * them back for `hoist --identity PREFIX`.
 */
#ifndef HOIST_USERKEY_H
#define HOIST_USERKEY_H

#include "curve.h"
#include "error.h"

#define USERKEY_FILE_MAX (16 * 1024) /* a certificate file is ~400 bytes */

/* Makes a fresh key pair and writes PREFIX and PREFIX_secret. Both files
 * are created exclusively before anything is written, the secret with
 * mode 0600 from its first byte, so a key is never overwritten and never
 * readable by others, not even for a moment. Copies the public key (Z85)
 * into PUBLIC_Z85. Fails with HOIST_ERR_EXISTS when either file exists
 * (nothing is touched), HOIST_ERR_USAGE when the directory is missing or
 * not writable, HOIST_ERR_IO or HOIST_ERR_NOMEM otherwise (what was
 * created is removed again). */
hoist_err_t userkey_generate(const char *prefix,
                             char public_z85[CURVE_KEY_Z85_LEN + 1],
                             hoist_error_t *err);

/* Reads the public key of the certificate file PATH (the public file, or
 * the _secret one: only its public key is taken) into PUBLIC_Z85, in
 * canonical Z85. The file's bytes are wiped from memory after parsing,
 * since a _secret file holds the secret key. Fails with HOIST_ERR_USAGE
 * when the file is missing, too large (USERKEY_FILE_MAX) or not a CURVE
 * certificate, naming the file and what to give instead. */
hoist_err_t userkey_read_public(const char *path,
                                char public_z85[CURVE_KEY_Z85_LEN + 1],
                                hoist_error_t *err);

/* Loads the secret certificate file PATH (a PREFIX_secret) as a zcert
 * with both keys, the caller's (zcert_destroy). It does not check the
 * file's mode: config_identity_load does that first. NULL with
 * HOIST_ERR_USAGE when the file cannot be read, HOIST_ERR_KEY when it
 * holds no usable key pair. Unlike zcert_load, it never prints a line of
 * a malformed file. */
zcert_t *userkey_load_secret(const char *path, hoist_error_t *err);

#endif
