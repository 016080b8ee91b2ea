/*
 * storage/named_keys.c — named master keys: further master keys that live
 * only in the catalog, wrapped by the default master key, made on first
 * use. The server names them after AWS KMS key references (KmsKeyId); to
 * storage a name is an opaque id of 1 to FL_LOG_MAX_KEY_ID bytes.
 *
 * A named key is a random 256-bit key. Its wrapped form is the 61-byte
 * layout of a wrapped data key (keys.c) sealed by the default master key
 * with AAD = "FLDK" || u64 2^64-1 || the named key's id: no log has that
 * id, so a wrapped named key can be neither presented as a log's data key
 * nor moved to another name. Table (catalog.c):
 *
 *   named_keys(id TEXT PRIMARY KEY, created_ns INTEGER, wrapped_key BLOB)
 *
 * Invariants: the default master key alone opens every named key, so it
 * stays the one secret an operator keeps away from the data dir (a copy of
 * the data dir opens no named key); a rotation of the default key re-wraps
 * these rows in its transaction (rotate.c) and nothing else; a named key is
 * never replaced or removed once made (the logs it wraps would be lost).
 * Loaded into s->mkeys at open (fl_named_keys_load), under cat_mu after.
 */
#include <stdio.h>
#include <string.h>

#include "common/diag.h"
#include "storage_internal.h"

#define NAMED_LOG_ID UINT64_MAX

static int load_one(void *arg, const char *id, const uint8_t *wrapped, size_t n)
{
    fl_store_t *s = arg;
    fl_master_key_t *d = fl_keys_master_find(s, "default");
    uint8_t k[32];
    if (!d)
        return FL_ENOTFOUND;
    int rc = fl_keys_unwrap(d->key, id, NAMED_LOG_ID, wrapped, n, k);
    if (rc < 0) {
        fl_error("data dir %s: named master key '%s' does not open with the default master key",
                 s->dir, id);
        return FL_ECRYPTO;
    }
    rc = fl_keys_master_set(s, id, k);
    fl_keys_wipe(k, sizeof k);
    return rc;
}

int fl_named_keys_load(fl_store_t *s)
{
    return fl_catalog_named_keys(s->cat, load_one, s);
}

typedef struct {
    fl_catalog_t *cat;
    const uint8_t *old_key, *new_key;
    size_t n;
    char (*ids)[FL_LOG_MAX_KEY_ID + 1];
    uint8_t (*w)[FL_WRAPPED_KEY_LEN];
    size_t cap;
} rewrap_t;

static int rewrap_one(void *arg, const char *id, const uint8_t *wrapped, size_t n)
{
    rewrap_t *c = arg;
    uint8_t k[32];
    if (fl_keys_unwrap(c->old_key, id, NAMED_LOG_ID, wrapped, n, k) < 0) {
        fl_error("named master key '%s': the old master key does not open it", id);
        return FL_ECRYPTO;
    }
    if (c->n == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 8;
        void *a = realloc(c->ids, nc * sizeof *c->ids),
             *b = a ? realloc(c->w, nc * sizeof *c->w) : NULL;
        if (a)
            c->ids = a;
        if (!a || !b) {
            fl_keys_wipe(k, sizeof k);
            return FL_ENOMEM;
        }
        c->w = b;
        c->cap = nc;
    }
    snprintf(c->ids[c->n], sizeof c->ids[0], "%s", id);
    int rc = fl_keys_wrap(c->new_key, id, NAMED_LOG_ID, k, c->w[c->n]);
    fl_keys_wipe(k, sizeof k);
    c->n += rc == 0;
    return rc;
}

int fl_named_keys_rewrap(fl_catalog_t *cat, const uint8_t old_key[32], const uint8_t new_key[32],
                         size_t *n_out)
{
    /* read them all first, then update: no writes under an open SELECT */
    rewrap_t c = {cat, old_key, new_key, 0, NULL, NULL, 0};
    int rc = fl_catalog_named_keys(cat, rewrap_one, &c);
    for (size_t i = 0; i < c.n && rc == 0; i++)
        rc = fl_catalog_named_key_set(cat, c.ids[i], 0, c.w[i], FL_WRAPPED_KEY_LEN);
    *n_out = rc == 0 ? c.n : 0;
    free(c.ids);
    free(c.w);
    return rc;
}

int fl_named_keys_adopt(fl_catalog_t *cat, const uint8_t default_key[32], const char *id,
                        const uint8_t key[32], int64_t now_ns)
{
    uint8_t w[FL_WRAPPED_KEY_LEN];
    int rc = fl_keys_wrap(default_key, id, NAMED_LOG_ID, key, w);
    return rc < 0 ? rc : fl_catalog_named_key_set(cat, id, now_ns > 0 ? now_ns : 1, w, sizeof w);
}

int fl_named_key_make(fl_store_t *s, const char *id, uint8_t key[32])
{
    fl_master_key_t *d = fl_keys_master_find(s, "default");
    if (!d)
        return FL_ENOTFOUND;
    int rc = fl_keys_random(key, 32);
    if (rc == 0)
        rc = fl_named_keys_adopt(s->cat, d->key, id, key, fl_clock_now(&s->clock));
    if (rc < 0)
        fl_keys_wipe(key, 32);
    return rc;
}

void fl_named_key_made(const char *id)
{
    fl_info("master key '%s' created (kept in the catalog, wrapped by the default master key)", id);
}

int fl_store_named_key_ensure(fl_store_t *s, const char *id, int *created)
{
    size_t l = id ? strlen(id) : 0;
    if (created)
        *created = 0;
    if (!s || l == 0 || l > FL_LOG_MAX_KEY_ID)
        return FL_EINVAL;
    pthread_mutex_lock(&s->cat_mu);
    int rc = 0;
    if (fl_keys_master_find(s, id))
        goto out;
    uint8_t k[32];
    rc = fl_named_key_make(s, id, k); /* one INSERT: its own transaction */
    if (rc == 0)
        rc = fl_keys_master_set(s, id, k);
    fl_keys_wipe(k, sizeof k);
    if (rc == 0) {
        fl_named_key_made(id);
        if (created)
            *created = 1;
    }
out:
    pthread_mutex_unlock(&s->cat_mu);
    return rc;
}
