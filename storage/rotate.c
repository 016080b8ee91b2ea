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
 * Sealed by the master key today: each log's wrapped data key (logs whose
 * key id is "default") and the key check (keys.c). rewrap_sealed() is the
 * one place that lists them: anything else sealed by the master key (the
 * access keys' secrets of storage/access_keys.c, once merged) is added
 * there.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "common/diag.h"
#include "storage_internal.h"

typedef struct {
    fl_catalog_t *cat;
    const uint8_t *old_key, *new_key;
    size_t n;
} rw_ctx_t;

static int rewrap_log(void *arg, const fl_cat_log_t *row)
{
    rw_ctx_t *c = arg;
    if (row->deleting || strcmp(row->key_id, "default") != 0)
        return 0;
    uint8_t dk[32], w[FL_WRAPPED_KEY_LEN];
    int rc = fl_keys_unwrap(c->old_key, "default", row->id, row->wrapped, row->wrapped_len, dk);
    if (rc < 0) {
        fl_error("log %s: the old master key does not open its data key", row->name);
        return FL_ECRYPTO;
    }
    rc = fl_keys_wrap(c->new_key, "default", row->id, dk, w);
    fl_keys_wipe(dk, sizeof dk);
    if (rc == 0)
        rc = fl_catalog_log_set_key(c->cat, row->id, w, sizeof w);
    c->n += rc == 0;
    return rc;
}

/* Every value the default master key seals, from old to new (inside the
 * caller's transaction). The access keys' secrets (storage/access_keys.c,
 * branch wip-sigv4: fl_akeys_rewrap) belong here too once that is in. */
static int rewrap_sealed(fl_catalog_t *cat, const uint8_t old_key[32], const uint8_t new_key[32],
                         size_t *n_out)
{
    rw_ctx_t c = {cat, old_key, new_key, 0};
    int rc = fl_catalog_logs(cat, rewrap_log, &c);
    uint8_t chk[FL_WRAPPED_KEY_LEN];
    if (rc == 0 && (rc = fl_keys_check_make(new_key, "default", chk)) == 0)
        rc = fl_catalog_mkey_check_set(cat, "default", chk, sizeof chk);
    *n_out = c.n;
    return rc;
}

int fl_store_rotate_master_key(const char *dir, const uint8_t old_key[32],
                               const uint8_t new_key[32], size_t *n_streams)
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
        rc = rewrap_sealed(cat, old_key, new_key, n_streams);
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
