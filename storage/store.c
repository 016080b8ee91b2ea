/*
 * storage/store.c — the store: a data directory, its lock, catalog, master
 * keys and writer thread; opening and closing it, and its counters.
 *
 * Data directory layout:
 *   <dir>/LOCK             flock'd while a process has the store open
 *   <dir>/master.key       default master key (keys.c), unless given a path
 *   <dir>/catalog.db (+ -wal, -shm)   SQLite catalog (catalog.c)
 *   <dir>/logs/<id>/NNNN.seg, NNNN.idx   segments and indexes (segment.c)
 *
 * Open: take the lock, load the master keys (the default one from its file
 * or as bytes the caller read elsewhere, registered ones from their files,
 * named ones from the catalog: named_keys.c), check them against the catalog's
 * key checks (keys.c: another key is refused in one line), bump the epoch in the catalog
 * (durably, before any chunk is sealed: nonces and sequence numbers of this
 * open are then fresh), load the logs (load.c: finish deletes that a crash
 * interrupted, unwrap each log's data key, recover each log's segments) and
 * start the writer thread. Close: stop the writer (it flushes the queue),
 * then free every log, including deleted ones whose handles were never
 * closed (logmem.c).
 *
 * The rest of the public API lives by concept: log metadata (logmeta.c),
 * shard metadata (reshard.c), appends (writer.c), reads (reader.c).
 *
 * Layering: the top of storage/; nothing in storage/ calls into this file.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <unistd.h>

#include "common/diag.h"
#include "storage_internal.h"

static char *path_join(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", a, b);
    return p;
}

static int mkey_cb(void *arg, const char *id, const char *path)
{
    return strcmp(id, "default") == 0 ? 0 : fl_keys_master_load(arg, id, path);
}

/* Each master key against its key check in the catalog (keys.c): another
 * key than the one the data dir was sealed with is refused here, in one
 * line, before any stream is touched. With add, a key without a check
 * (a new data dir, or one made before checks) gets one. */
static int check_keys(fl_store_t *s, int add)
{
    for (size_t i = 0; i < s->nmkeys; i++) {
        fl_master_key_t *m = &s->mkeys[i];
        uint8_t c[FL_WRAPPED_KEY_LEN];
        size_t n = 0;
        int rc = fl_catalog_mkey_check_get(s->cat, m->id, c, sizeof c, &n);
        if (rc == FL_ENOTFOUND && add) {
            if ((rc = fl_keys_check_make(m->key, m->id, c)) == 0)
                rc = fl_catalog_mkey_check_set(s->cat, m->id, c, sizeof c);
        } else if (rc == 0 && fl_keys_check_ok(m->key, m->id, c, n) < 0) {
            fl_error("data dir %s: master key '%s' is not the key it was sealed with", s->dir,
                     m->id);
            rc = FL_ECRYPTO;
        } else if (rc == FL_ENOTFOUND) {
            rc = 0;
        }
        if (rc < 0)
            return rc;
    }
    return 0;
}

int fl_store_open(const fl_store_opts_t *o, fl_store_t **out)
{
    if (!o || !o->dir || !out || !*o->dir)
        return FL_EINVAL;
    if (o->chunk_max_bytes > (64u << 20) || o->index_cache_segments > 65536)
        return FL_EINVAL;
    fl_store_t *s = calloc(1, sizeof *s);
    if (!s)
        return FL_ENOMEM;
    s->io = o->io ? *o->io : *fl_store_io_default();
    s->clock = o->clock ? *o->clock : fl_clock_real();
    s->seg_max = o->segment_max_bytes ? o->segment_max_bytes : (256u << 20);
    s->ret_max = o->retention_max_bytes;
    s->chunk_max = o->chunk_max_bytes ? o->chunk_max_bytes : (4u << 20);
    s->buffered_writes = o->buffered_writes;
    s->pending_max = o->max_pending_bytes ? o->max_pending_bytes : (UINT64_C(1) << 30);
    s->ret_interval_ms = o->retention_interval_ms ? o->retention_interval_ms : 60000;
    s->segcache_max = o->index_cache_segments ? o->index_cache_segments : FL_SEGCACHE_DEFAULT;
    s->lock_fd = s->comp_fd = -1;
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->cat_mu, NULL);
    pthread_mutex_init(&s->cmu, NULL);
    pthread_mutex_init(&s->rmu, NULL);
    pthread_cond_init(&s->wake, NULL);
    pthread_cond_init(&s->done_cond, NULL);
    int rc = FL_ENOMEM;
    char *lock_path = NULL, *key_path = NULL, *cat_path = NULL;
    s->dir = strdup(o->dir);
    s->logs_dir = path_join(o->dir, "logs");
    lock_path = path_join(o->dir, "LOCK");
    key_path = o->master_key_path ? strdup(o->master_key_path) : path_join(o->dir, "master.key");
    cat_path = path_join(o->dir, "catalog.db");
    s->segcache = calloc(s->segcache_max, sizeof *s->segcache);
    if (!s->dir || !s->logs_dir || !lock_path || !key_path || !cat_path || !s->segcache)
        goto fail;
    if ((rc = fl_io_mkdir(&s->io, s->dir)) < 0 || (rc = fl_io_mkdir(&s->io, s->logs_dir)) < 0 ||
        (rc = fl_io_fsync_dir(&s->io, s->dir)) < 0) {
        fl_error("data dir %s: %s", s->dir, fl_strerror(rc));
        goto fail;
    }
    s->lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (s->lock_fd < 0 || flock(s->lock_fd, LOCK_EX | LOCK_NB) < 0) {
        rc = s->lock_fd < 0 ? -errno : FL_EBUSY;
        fl_error("data dir %s: %s", s->dir,
                 rc == FL_EBUSY ? "in use by another process" : fl_strerror(rc));
        goto fail;
    }
    s->comp_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (s->comp_fd < 0) {
        rc = -errno;
        goto fail;
    }
    if ((rc = fl_catalog_open(cat_path, &s->cat)) < 0)
        goto fail;
    uint8_t dk[32];
    rc = fl_keys_default_load(&s->io, s->cat, s->dir, o->master_key, key_path, dk);
    if (rc == 0)
        rc = fl_keys_master_set(s, "default", dk);
    fl_keys_wipe(dk, sizeof dk);
    if (rc < 0)
        goto fail;
    if ((rc = fl_catalog_bump_epoch(s->cat, &s->epoch)) < 0)
        goto fail;
    if ((rc = fl_catalog_mkeys(s->cat, mkey_cb, s)) < 0)
        goto fail;
    if ((rc = fl_named_keys_load(s)) < 0)
        goto fail;
    if ((rc = check_keys(s, 0)) < 0)
        goto fail;
    if ((rc = fl_store_load_logs(s)) < 0)
        goto fail;
    if ((rc = check_keys(s, 1)) < 0)
        goto fail;
    if ((rc = fl_writer_start(s)) < 0)
        goto fail;
    free(lock_path);
    free(key_path);
    free(cat_path);
    fl_debug("store %s open, epoch %u", s->dir, s->epoch);
    *out = s;
    return 0;
fail:
    free(lock_path);
    free(key_path);
    free(cat_path);
    fl_store_close(s);
    return rc;
}

void fl_store_close(fl_store_t *s)
{
    if (!s)
        return;
    fl_writer_stop(s);
    while (s->logs) {
        fl_log_t *log = s->logs;
        s->logs = log->next;
        fl_segment_close_active(log);
        fl_log_free_mem(log);
    }
    while (s->dead) { /* deleted, with handles never closed */
        fl_log_t *log = s->dead;
        s->dead = log->next;
        fl_log_free_mem(log);
    }
    fl_segcache_free(s);
    fl_writer_drop_records(s);
    free(s->qv); /* empty: the writer stopped after the queue */
    fl_catalog_close(s->cat);
    if (s->mkeys)
        fl_keys_wipe(s->mkeys, s->nmkeys * sizeof *s->mkeys);
    free(s->mkeys);
    free(s->comp);
    if (s->comp_fd >= 0)
        close(s->comp_fd);
    if (s->lock_fd >= 0)
        close(s->lock_fd);
    pthread_mutex_destroy(&s->mu);
    pthread_mutex_destroy(&s->cat_mu);
    pthread_mutex_destroy(&s->cmu);
    pthread_mutex_destroy(&s->rmu);
    pthread_cond_destroy(&s->wake);
    pthread_cond_destroy(&s->done_cond);
    free(s->dir);
    free(s->logs_dir);
    free(s);
}

int fl_store_add_master_key(fl_store_t *s, const char *key_id, const char *path)
{
    if (!s || !key_id || !path || strcmp(key_id, "default") == 0)
        return FL_EINVAL;
    pthread_mutex_lock(&s->cat_mu);
    int rc = fl_keys_master_load(s, key_id, path);
    if (rc == 0)
        rc = fl_catalog_mkey_add(s->cat, key_id, path);
    pthread_mutex_unlock(&s->cat_mu);
    return rc;
}

uint32_t fl_store_epoch(const fl_store_t *s)
{
    return s->epoch;
}

uint64_t fl_store_bytes(fl_store_t *s)
{
    pthread_mutex_lock(&s->mu);
    uint64_t n = s->total_bytes;
    pthread_mutex_unlock(&s->mu);
    return n;
}

void fl_store_stats(fl_store_t *s, fl_store_stats_t *out)
{
    pthread_mutex_lock(&s->mu);
    *out = s->stats;
    out->segment_bytes = s->total_bytes;
    out->pending_bytes = s->q_bytes;
    pthread_mutex_unlock(&s->mu);
}
