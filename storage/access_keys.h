/*
 * storage/access_keys.h — access keys in the catalog: who may sign requests.
 *
 * An access key is an id ("FLAK…", "FLAS…" for a temporary one), the user
 * name it was made for, a status (active or revoked), its creation and
 * (temporary keys) expiry times, its secret, the SHA-256 of its session
 * token (temporary keys), and its policy (IAM-shaped JSON, kept as text;
 * what it means is the server's concern, not storage's).
 *
 * The secret is kept only sealed by the store's default master key
 * (fl_akeys_seal_secret: AES-256-GCM, the one place access-key material is
 * sealed; a master-key rotation re-wraps every row through
 * fl_akeys_rewrap). Session tokens are kept as their hash only.
 *
 * A handle is its own SQLite connection to <dir>/catalog.db, beside the
 * store's: the `framelogd keys` commands write while the server runs (the
 * store's LOCK is not taken), and the server reads. Every change bumps a
 * counter in the catalog in the same transaction, so a reader learns of a
 * change with one cheap call (fl_akeys_version: one prepared SELECT).
 *
 * Table (in catalog.db, created on first use):
 *   access_keys(id TEXT PRIMARY KEY, user TEXT, active INTEGER,
 *               created_ms INTEGER, expires_ms INTEGER (0: never),
 *               secret BLOB (sealed, below), token_hash BLOB (NULL or 32),
 *               policy TEXT (NULL: none))
 *   meta('access_keys') = the change counter
 *
 * Sealed secret (FL_AKEY_SEALED_LEN = 69 bytes):
 *   0   1  version = 1
 *   1  12  nonce (random)
 *  13  40  ciphertext of the secret (40 ASCII characters)
 *  53  16  GCM tag
 * AAD = "FLAK" || the access key id, so a sealed secret cannot be moved to
 * another key.
 *
 * One handle is used by one thread at a time.
 */
#ifndef FL_STORAGE_ACCESS_KEYS_H
#define FL_STORAGE_ACCESS_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "storage/log.h"

#define FL_AKEY_ID_MAX     32
#define FL_AKEY_USER_MAX   64
#define FL_AKEY_SECRET_LEN 40
#define FL_AKEY_SEALED_LEN (1 + 12 + FL_AKEY_SECRET_LEN + 16)
#define FL_AKEY_POLICY_MAX 65536

typedef struct fl_akeys fl_akeys_t;

typedef struct {
    char id[FL_AKEY_ID_MAX + 1];
    char user[FL_AKEY_USER_MAX + 1];
    int active;
    int64_t created_ms;
    int64_t expires_ms;                  /* 0: never */
    char secret[FL_AKEY_SECRET_LEN + 1]; /* plaintext (list: only with_secrets) */
    int has_token;                       /* a temporary key's session token */
    uint8_t token_hash[32];              /* SHA-256 of it */
    char *policy;                        /* NUL-terminated JSON, or NULL; owned */
} fl_akey_t;

/* Open the access keys of the data dir dir (created if missing, with its
 * catalog), sealing with the master key at master_key_path (NULL:
 * <dir>/master.key, created 0600 if missing). For the command line. */
int fl_akeys_open(const char *dir, const char *master_key_path, fl_akeys_t **out);
/* The same for an open store, with the store's default master key. */
int fl_akeys_open_store(fl_store_t *s, fl_akeys_t **out);
void fl_akeys_close(fl_akeys_t *a);

/* Add k (its secret is sealed here). FL_EEXISTS if the id is taken. */
int fl_akeys_create(fl_akeys_t *a, const fl_akey_t *k);
/* Every key, ordered by id; secrets unsealed only when with_secrets
 * (FL_ECRYPTO if one fails its tag: a wrong master key). Free with
 * fl_akeys_list_free. */
int fl_akeys_list(fl_akeys_t *a, int with_secrets, fl_akey_t **out, size_t *n);
void fl_akeys_list_free(fl_akey_t *v, size_t n);
/* Revoke (active 0) or reactivate a key; FL_ENOTFOUND without it. */
int fl_akeys_set_active(fl_akeys_t *a, const char *id, int active);
/* Replace a key's policy (NULL: none); FL_ENOTFOUND without it. */
int fl_akeys_set_policy(fl_akeys_t *a, const char *id, const char *policy);
/* The change counter (one prepared SELECT of one row). */
int fl_akeys_version(fl_akeys_t *a, int64_t *out);

/* The one place an access key's secret is sealed and opened by a master
 * key (layout above). */
int fl_akeys_seal_secret(const uint8_t master[32], const char *id,
                         const char secret[FL_AKEY_SECRET_LEN], uint8_t out[FL_AKEY_SEALED_LEN]);
int fl_akeys_open_secret(const uint8_t master[32], const char *id, const uint8_t *sealed, size_t n,
                         char secret[FL_AKEY_SECRET_LEN + 1]);
/* Re-seal every secret from old_master to new_master in one transaction
 * (master-key rotation). */
int fl_akeys_rewrap(fl_akeys_t *a, const uint8_t old_master[32], const uint8_t new_master[32]);

#endif
