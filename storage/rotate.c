/*
 * storage/rotate.c — master-key rotation: every catalog value sealed by the
 * default master key is opened with the old key and sealed again with the
 * new one, in one catalog transaction, without touching a segment (the
 * data keys do not change, so no video is rewritten).
 *
 * Offline: the data dir's LOCK is taken (a running framelogd holds it, and
 * rotation then refuses). The old key must pass the catalog's key check.
 * After the commit the WAL is checkpointed and truncated, so the values
 * sealed by the old key survive nowhere in the catalog's files.
 *
 * Sealed by the master key: each log's wrapped data key (logs whose key id
 * is "default"), the key check (keys.c), every named master key
 * (named_keys.c: the logs under a named key need nothing, their key stays)
 * and every access key's secret (access_keys.c). A master key registered
 * from its own file (fl_store_add_master_key) is retired too: its logs'
 * data keys are re-wrapped under a fresh random key of the same id, kept
 * from then on as a named key (wrapped by the new default key), and its
 * file and key check are forgotten, so no old key opens anything left. rewrap_sealed() is the one
 * place that lists them, and all of them change in the one transaction: a crash mid-rotation leaves
 * everything sealed under the old key (nothing committed) or everything under the new one, never a
 * mix, so no value is left sealed under a key that is gone.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/diag.h"
#include "storage_internal.h"

/* A master key whose logs' data keys move: from old to new, same id. */
typedef struct {
    char id[FL_LOG_MAX_KEY_ID + 1];
    uint8_t old_key[32], new_key[32];
} rw_key_t;

typedef struct {
    fl_catalog_t *cat;
    rw_key_t *keys; /* "default" first, then each registered key */
    size_t nkeys, cap;
    size_t n;
    int rc;
} rw_ctx_t;

static int rewrap_log(void *arg, const fl_cat_log_t *row)
{
    rw_ctx_t *c = arg;
    if (row->deleting)
        return 0;
    const rw_key_t *k = NULL;
    for (size_t i = 0; i < c->nkeys && !k; i++)
        if (strcmp(row->key_id, c->keys[i].id) == 0)
            k = &c->keys[i];
    if (!k)
        return 0; /* a named key's log: its named key is re-wrapped instead */
    uint8_t dk[32], w[FL_WRAPPED_KEY_LEN];
    int rc = fl_keys_unwrap(k->old_key, k->id, row->id, row->wrapped, row->wrapped_len, dk);
    if (rc < 0) {
        fl_error("log %s: the old master key '%s' does not open its data key", row->name, k->id);
        return FL_ECRYPTO;
    }
    rc = fl_keys_wrap(k->new_key, k->id, row->id, dk, w);
    fl_keys_wipe(dk, sizeof dk);
    if (rc == 0)
        rc = fl_catalog_log_set_key(c->cat, row->id, w, sizeof w);
    c->n += rc == 0;
    return rc;
}

static rw_key_t *key_add(rw_ctx_t *c, const char *id)
{
    if (c->nkeys == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 4;
        rw_key_t *v = realloc(c->keys, nc * sizeof *v);
        if (!v)
            return NULL;
        c->keys = v;
        c->cap = nc;
    }
    rw_key_t *k = &c->keys[c->nkeys++];
    memset(k, 0, sizeof *k);
    snprintf(k->id, sizeof k->id, "%s", id);
    return k;
}

/* A master key registered from its own file (fl_store_add_master_key):
 * read it (it must pass its key check) and give it a fresh random key in
 * its place, kept as a named key under the new default key. */
static int registered_one(void *arg, const char *id, const char *path)
{
    rw_ctx_t *c = arg;
    if (strcmp(id, "default") == 0)
        return 0;
    rw_key_t *k = key_add(c, id);
    if (!k)
        return FL_ENOMEM;
    int rc = fl_master_key_load_file(path, 0, k->old_key);
    if (rc < 0) {
        fl_error("master key '%s' (%s): cannot read it, so the streams it seals cannot be "
                 "re-wrapped: %s",
                 id, path, fl_strerror(rc));
        return rc;
    }
    uint8_t chk[FL_WRAPPED_KEY_LEN];
    size_t n = 0;
    rc = fl_catalog_mkey_check_get(c->cat, id, chk, sizeof chk, &n);
    if (rc == 0 && fl_keys_check_ok(k->old_key, id, chk, n) < 0) {
        fl_error("master key '%s' (%s) is not the key this data dir was sealed with", id, path);
        return FL_ECRYPTO;
    }
    if (rc < 0 && rc != FL_ENOTFOUND)
        return rc;
    return fl_keys_random(k->new_key, sizeof k->new_key);
}

/* Every value the default master key seals, from old to new (inside the
 * caller's transaction), counted in counts; and every registered master
 * key retired: its logs' data keys re-wrapped under a fresh key of the
 * same id, kept as a named key (wrapped by the new default key), and its
 * file forgotten. After it the old keys open nothing in the catalog. */
static int rewrap_sealed(fl_catalog_t *cat, const uint8_t old_key[32], const uint8_t new_key[32],
                         fl_rotate_counts_t *counts)
{
    rw_ctx_t c = {cat, NULL, 0, 0, 0, 0};
    rw_key_t *d = key_add(&c, "default");
    int rc = d ? 0 : FL_ENOMEM;
    if (rc == 0) {
        memcpy(d->old_key, old_key, 32);
        memcpy(d->new_key, new_key, 32);
        rc = fl_catalog_mkeys(cat, registered_one, &c);
    }
    if (rc == 0)
        rc = fl_catalog_logs(cat, rewrap_log, &c);
    uint8_t chk[FL_WRAPPED_KEY_LEN];
    if (rc == 0 && (rc = fl_keys_check_make(new_key, "default", chk)) == 0)
        rc = fl_catalog_mkey_check_set(cat, "default", chk, sizeof chk);
    if (rc == 0)
        rc = fl_named_keys_rewrap(cat, old_key, new_key, &counts->named_keys);
    for (size_t i = 1; i < c.nkeys && rc == 0; i++) {
        rc = fl_named_keys_adopt(cat, new_key, c.keys[i].id, c.keys[i].new_key, fl_time_real_ns());
        if (rc == 0)
            rc = fl_catalog_mkey_remove(cat, c.keys[i].id);
        counts->named_keys += rc == 0;
    }
    if (rc == 0)
        rc = fl_akeys_rewrap_db(fl_catalog_db(cat), old_key, new_key, &counts->access_keys);
    counts->streams = c.n;
    if (c.keys)
        fl_keys_wipe(c.keys, c.cap * sizeof *c.keys);
    free(c.keys);
    return rc;
}

int fl_store_rotate_master_key(const char *dir, const uint8_t old_key[32],
                               const uint8_t new_key[32], fl_rotate_counts_t *counts)
{
    char lock_path[4200], cat_path[4200];
    snprintf(lock_path, sizeof lock_path, "%s/LOCK", dir);
    snprintf(cat_path, sizeof cat_path, "%s/catalog.db", dir);
    if (access(cat_path, F_OK) != 0) {
        fl_error("data dir %s: no catalog.db", dir);
        return FL_ENOTFOUND;
    }
    int lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lock_fd < 0)
        return -errno;
    if (flock(lock_fd, LOCK_EX | LOCK_NB) < 0) {
        fl_error("data dir %s: in use by another process (stop framelogd first)", dir);
        close(lock_fd);
        return FL_EBUSY;
    }
    fl_catalog_t *cat = NULL;
    int rc = fl_catalog_open(cat_path, &cat);
    uint8_t chk[FL_WRAPPED_KEY_LEN];
    size_t n = 0;
    if (rc == 0) {
        rc = fl_catalog_mkey_check_get(cat, "default", chk, sizeof chk, &n);
        if (rc == 0 && fl_keys_check_ok(old_key, "default", chk, n) < 0) {
            fl_error("data dir %s: the old master key is not the key it was sealed with", dir);
            rc = FL_ECRYPTO;
        } else if (rc == FL_ENOTFOUND) {
            rc = 0; /* older data dirs: each data key is checked below */
        }
    }
    if (rc == 0)
        rc = fl_catalog_begin(cat);
    if (rc == 0) {
        memset(counts, 0, sizeof *counts);
        rc = rewrap_sealed(cat, old_key, new_key, counts);
        if (rc == 0)
            rc = fl_catalog_commit(cat);
        else
            fl_catalog_rollback(cat);
    }
    if (rc == 0)
        rc = fl_catalog_scrub(cat);
    fl_catalog_close(cat);
    close(lock_fd);
    return rc;
}
