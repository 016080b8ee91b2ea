/*
 * storage/access_keys.c — access keys in the catalog (access_keys.h has the
 * table, the sealed layout and the rules).
 *
 * Invariants: a secret is on disk only sealed; a change to the table and the
 * bump of meta('access_keys') are one transaction; the handle's master key
 * is wiped at close.
 */
#include "storage/access_keys.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/diag.h"
#include "storage_internal.h"

struct fl_akeys {
    sqlite3 *db;
    uint8_t master[32];
    sqlite3_stmt *dv; /* SELECT of the change counter, kept prepared */
};

static const char akeys_schema[] =
    "CREATE TABLE IF NOT EXISTS access_keys(id TEXT PRIMARY KEY, user TEXT NOT NULL,"
    " active INTEGER NOT NULL, created_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL,"
    " secret BLOB NOT NULL, token_hash BLOB, policy TEXT);"
    "INSERT OR IGNORE INTO meta(k, v) VALUES('access_keys', 0);";

static int db_err(sqlite3 *db, int rc, const char *what)
{
    fl_error("access keys: %s: %s", what, sqlite3_errmsg(db));
    if (rc == SQLITE_FULL)
        return FL_ENOSPC;
    if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
        return FL_EBUSY;
    if (rc == SQLITE_CONSTRAINT)
        return FL_EEXISTS;
    return FL_EIO;
}

static int exec(sqlite3 *db, const char *sql)
{
    int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : db_err(db, rc, sql);
}

static void aad_of(const char *id, uint8_t *aad, size_t *n)
{
    size_t l = strnlen(id, FL_AKEY_ID_MAX);
    memcpy(aad, "FLAK", 4);
    memcpy(aad + 4, id, l);
    *n = 4 + l;
}

int fl_akeys_seal_secret(const uint8_t master[32], const char *id,
                         const char secret[FL_AKEY_SECRET_LEN], uint8_t out[FL_AKEY_SEALED_LEN])
{
    uint8_t aad[4 + FL_AKEY_ID_MAX];
    size_t aadn;
    int len, rc = FL_ECRYPTO;
    aad_of(id, aad, &aadn);
    out[0] = 1;
    if (fl_keys_random(out + 1, 12) < 0)
        return FL_ECRYPTO;
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    if (!c)
        return FL_ENOMEM;
    if (EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, master, out + 1) == 1 &&
        EVP_EncryptUpdate(c, NULL, &len, aad, (int)aadn) == 1 &&
        EVP_EncryptUpdate(c, out + 13, &len, (const uint8_t *)secret, FL_AKEY_SECRET_LEN) == 1 &&
        EVP_EncryptFinal_ex(c, out + 13 + len, &len) == 1 &&
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, out + 13 + FL_AKEY_SECRET_LEN) == 1)
        rc = 0;
    EVP_CIPHER_CTX_free(c);
    return rc;
}

int fl_akeys_open_secret(const uint8_t master[32], const char *id, const uint8_t *sealed, size_t n,
                         char secret[FL_AKEY_SECRET_LEN + 1])
{
    if (n != FL_AKEY_SEALED_LEN)
        return FL_ECORRUPT;
    if (sealed[0] != 1)
        return FL_EVERSION;
    uint8_t aad[4 + FL_AKEY_ID_MAX], tag[16];
    size_t aadn;
    int len, rc = FL_ECRYPTO;
    aad_of(id, aad, &aadn);
    memcpy(tag, sealed + 13 + FL_AKEY_SECRET_LEN, 16);
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    if (!c)
        return FL_ENOMEM;
    if (EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, master, sealed + 1) == 1 &&
        EVP_DecryptUpdate(c, NULL, &len, aad, (int)aadn) == 1 &&
        EVP_DecryptUpdate(c, (uint8_t *)secret, &len, sealed + 13, FL_AKEY_SECRET_LEN) == 1 &&
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, 16, tag) == 1 &&
        EVP_DecryptFinal_ex(c, (uint8_t *)secret + len, &len) == 1)
        rc = 0;
    EVP_CIPHER_CTX_free(c);
    if (rc)
        OPENSSL_cleanse(secret, FL_AKEY_SECRET_LEN + 1);
    else
        secret[FL_AKEY_SECRET_LEN] = 0;
    return rc;
}

static int open_db(const char *dir, const uint8_t master[32], int make_catalog, fl_akeys_t **out)
{
    char path[4096];
    int rc;
    snprintf(path, sizeof path, "%s/catalog.db", dir);
    /* The command line: the store's schema and version checks first (a
     * catalog made now). Never in a process whose store has the catalog
     * open: fl_catalog_open opens and closes the file itself, and closing
     * any descriptor of it drops the process's POSIX locks on it, so
     * another process would take the WAL away from under the store. */
    if (make_catalog) {
        fl_catalog_t *cat = NULL;
        if ((rc = fl_catalog_open(path, &cat)) < 0)
            return rc;
        fl_catalog_close(cat);
    }
    fl_akeys_t *a = calloc(1, sizeof *a);
    if (!a)
        return FL_ENOMEM;
    memcpy(a->master, master, 32);
    rc = sqlite3_open_v2(path, &a->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        rc = db_err(a->db, rc, path);
        goto fail;
    }
    sqlite3_busy_timeout(a->db, 5000);
    if ((rc = exec(a->db, "PRAGMA synchronous=FULL")) < 0 || (rc = exec(a->db, "BEGIN")) < 0)
        goto fail;
    if ((rc = exec(a->db, akeys_schema)) < 0) {
        exec(a->db, "ROLLBACK");
        goto fail;
    }
    if ((rc = exec(a->db, "COMMIT")) < 0)
        goto fail;
    rc = sqlite3_prepare_v2(a->db, "SELECT v FROM meta WHERE k = 'access_keys'", -1, &a->dv, NULL);
    if (rc != SQLITE_OK) {
        rc = db_err(a->db, rc, "version");
        goto fail;
    }
    *out = a;
    return 0;
fail:
    fl_akeys_close(a);
    return rc;
}

int fl_akeys_open(const char *dir, const char *master_key_path, fl_akeys_t **out)
{
    const fl_store_io_t *io = fl_store_io_default();
    int rc = fl_io_mkdir(io, dir);
    if (rc < 0)
        return rc;
    char kp[4096];
    snprintf(kp, sizeof kp, "%s/master.key", dir);
    uint8_t k[32];
    if ((rc = fl_keys_load_or_create(io, master_key_path ? master_key_path : kp, k)) < 0)
        return rc;
    rc = open_db(dir, k, 1, out);
    OPENSSL_cleanse(k, sizeof k);
    return rc;
}

int fl_akeys_open_store(fl_store_t *s, fl_akeys_t **out)
{
    uint8_t k[32];
    pthread_mutex_lock(&s->cat_mu);
    fl_master_key_t *m = fl_keys_master_find(s, "default");
    if (m)
        memcpy(k, m->key, 32);
    pthread_mutex_unlock(&s->cat_mu);
    if (!m)
        return FL_ENOTFOUND;
    int rc = open_db(s->dir, k, 0, out);
    OPENSSL_cleanse(k, sizeof k);
    return rc;
}

void fl_akeys_close(fl_akeys_t *a)
{
    if (!a)
        return;
    sqlite3_finalize(a->dv);
    sqlite3_close(a->db);
    OPENSSL_cleanse(a->master, sizeof a->master);
    free(a);
}

/* Bump the change counter (inside the caller's transaction). */
static int bump(fl_akeys_t *a)
{
    return exec(a->db, "UPDATE meta SET v = v + 1 WHERE k = 'access_keys'");
}

int fl_akeys_create(fl_akeys_t *a, const fl_akey_t *k)
{
    uint8_t sealed[FL_AKEY_SEALED_LEN];
    int rc = fl_akeys_seal_secret(a->master, k->id, k->secret, sealed);
    if (rc < 0)
        return rc;
    sqlite3_stmt *st = NULL;
    if ((rc = exec(a->db, "BEGIN IMMEDIATE")) < 0)
        return rc;
    int s = sqlite3_prepare_v2(a->db,
                               "INSERT INTO access_keys(id, user, active, created_ms, expires_ms,"
                               " secret, token_hash, policy) VALUES(?, ?, ?, ?, ?, ?, ?, ?)",
                               -1, &st, NULL);
    if (s == SQLITE_OK) {
        sqlite3_bind_text(st, 1, k->id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, k->user, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 3, k->active);
        sqlite3_bind_int64(st, 4, k->created_ms);
        sqlite3_bind_int64(st, 5, k->expires_ms);
        sqlite3_bind_blob(st, 6, sealed, sizeof sealed, SQLITE_STATIC);
        if (k->has_token)
            sqlite3_bind_blob(st, 7, k->token_hash, 32, SQLITE_STATIC);
        else
            sqlite3_bind_null(st, 7);
        if (k->policy)
            sqlite3_bind_text(st, 8, k->policy, -1, SQLITE_STATIC);
        else
            sqlite3_bind_null(st, 8);
        s = sqlite3_step(st);
    }
    rc = s == SQLITE_DONE ? 0 : db_err(a->db, s, "insert");
    sqlite3_finalize(st);
    if (!rc)
        rc = bump(a);
    if (!rc)
        rc = exec(a->db, "COMMIT");
    if (rc)
        exec(a->db, "ROLLBACK");
    return rc;
}

void fl_akeys_list_free(fl_akey_t *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++) {
        free(v[i].policy);
        OPENSSL_cleanse(v[i].secret, sizeof v[i].secret);
    }
    free(v);
}

int fl_akeys_list(fl_akeys_t *a, int with_secrets, fl_akey_t **out, size_t *n_out)
{
    sqlite3_stmt *st = NULL;
    fl_akey_t *v = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    *out = NULL;
    *n_out = 0;
    int s = sqlite3_prepare_v2(a->db,
                               "SELECT id, user, active, created_ms, expires_ms, secret, "
                               "token_hash, policy FROM access_keys ORDER BY id",
                               -1, &st, NULL);
    if (s != SQLITE_OK)
        return db_err(a->db, s, "list");
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 8;
            fl_akey_t *nv = realloc(v, nc * sizeof *nv);
            if (!nv) {
                rc = FL_ENOMEM;
                goto out;
            }
            v = nv;
            cap = nc;
        }
        fl_akey_t *k = &v[n++];
        memset(k, 0, sizeof *k);
        snprintf(k->id, sizeof k->id, "%s", (const char *)sqlite3_column_text(st, 0));
        snprintf(k->user, sizeof k->user, "%s", (const char *)sqlite3_column_text(st, 1));
        k->active = sqlite3_column_int(st, 2);
        k->created_ms = sqlite3_column_int64(st, 3);
        k->expires_ms = sqlite3_column_int64(st, 4);
        if (sqlite3_column_bytes(st, 6) == 32) {
            k->has_token = 1;
            memcpy(k->token_hash, sqlite3_column_blob(st, 6), 32);
        }
        const char *pol = (const char *)sqlite3_column_text(st, 7);
        if (pol && !(k->policy = strdup(pol))) {
            rc = FL_ENOMEM;
            goto out;
        }
        if (with_secrets) {
            rc = fl_akeys_open_secret(a->master, k->id, sqlite3_column_blob(st, 5),
                                      (size_t)sqlite3_column_bytes(st, 5), k->secret);
            if (rc < 0) {
                fl_error("access key %s: its secret does not open with this master key", k->id);
                goto out;
            }
        }
    }
    if (s != SQLITE_DONE)
        rc = db_err(a->db, s, "list");
out:
    sqlite3_finalize(st);
    if (rc) {
        fl_akeys_list_free(v, n);
        return rc;
    }
    *out = v;
    *n_out = n;
    return 0;
}

/* UPDATE one key's column; FL_ENOTFOUND when no row has the id. */
static int update(fl_akeys_t *a, const char *sql, const char *id, int ival, const char *tval,
                  int use_text)
{
    int rc = exec(a->db, "BEGIN IMMEDIATE");
    if (rc < 0)
        return rc;
    sqlite3_stmt *st = NULL;
    int s = sqlite3_prepare_v2(a->db, sql, -1, &st, NULL);
    if (s == SQLITE_OK) {
        if (!use_text)
            sqlite3_bind_int(st, 1, ival);
        else if (tval)
            sqlite3_bind_text(st, 1, tval, -1, SQLITE_STATIC);
        else
            sqlite3_bind_null(st, 1);
        sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
        s = sqlite3_step(st);
    }
    rc = s == SQLITE_DONE ? 0 : db_err(a->db, s, "update");
    sqlite3_finalize(st);
    if (!rc && sqlite3_changes(a->db) == 0)
        rc = FL_ENOTFOUND;
    if (!rc)
        rc = bump(a);
    if (!rc)
        rc = exec(a->db, "COMMIT");
    if (rc)
        exec(a->db, "ROLLBACK");
    return rc;
}

int fl_akeys_set_active(fl_akeys_t *a, const char *id, int active)
{
    return update(a, "UPDATE access_keys SET active = ? WHERE id = ?", id, active, NULL, 0);
}

int fl_akeys_set_policy(fl_akeys_t *a, const char *id, const char *policy)
{
    return update(a, "UPDATE access_keys SET policy = ? WHERE id = ?", id, 0, policy, 1);
}

int fl_akeys_version(fl_akeys_t *a, int64_t *out)
{
    /* the counter itself, every time: SQLite's data_version missed commits
     * made after another connection's wal_checkpoint(TRUNCATE) (the
     * catalog scrubs its WAL at open and after deletes) */
    int s = sqlite3_step(a->dv);
    int64_t v = s == SQLITE_ROW ? sqlite3_column_int64(a->dv, 0) : 0;
    sqlite3_reset(a->dv);
    if (s != SQLITE_ROW && s != SQLITE_DONE)
        return db_err(a->db, s, "version");
    *out = v;
    return 0;
}

int fl_akeys_rewrap(fl_akeys_t *a, const uint8_t old_master[32], const uint8_t new_master[32])
{
    fl_akey_t *v = NULL;
    size_t n = 0;
    uint8_t saved[32];
    memcpy(saved, a->master, 32);
    memcpy(a->master, old_master, 32);
    int rc = fl_akeys_list(a, 1, &v, &n);
    memcpy(a->master, saved, 32);
    OPENSSL_cleanse(saved, sizeof saved);
    if (rc < 0)
        return rc;
    if ((rc = exec(a->db, "BEGIN IMMEDIATE")) < 0)
        goto out;
    for (size_t i = 0; i < n && !rc; i++) {
        uint8_t sealed[FL_AKEY_SEALED_LEN];
        sqlite3_stmt *st = NULL;
        if ((rc = fl_akeys_seal_secret(new_master, v[i].id, v[i].secret, sealed)) < 0)
            break;
        int s = sqlite3_prepare_v2(a->db, "UPDATE access_keys SET secret = ? WHERE id = ?", -1, &st,
                                   NULL);
        if (s == SQLITE_OK) {
            sqlite3_bind_blob(st, 1, sealed, sizeof sealed, SQLITE_STATIC);
            sqlite3_bind_text(st, 2, v[i].id, -1, SQLITE_STATIC);
            s = sqlite3_step(st);
        }
        sqlite3_finalize(st);
        if (s != SQLITE_DONE)
            rc = db_err(a->db, s, "rewrap");
    }
    if (!rc)
        rc = bump(a);
    if (!rc)
        rc = exec(a->db, "COMMIT");
    if (rc)
        exec(a->db, "ROLLBACK");
    else
        memcpy(a->master, new_master, 32);
out:
    fl_akeys_list_free(v, n);
    return rc;
}
