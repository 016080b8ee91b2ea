/*
 * storage/store.c — the store: a data directory, its catalog, master keys
 * and logs; log and shard metadata operations (create, delete, list, tags,
 * retention settings, split, merge).
 *
 * Data directory layout:
 *   <dir>/LOCK             flock'd while a process has the store open
 *   <dir>/master.key       default master key (keys.c), unless given a path
 *   <dir>/catalog.db (+ -wal, -shm)   SQLite catalog (catalog.c)
 *   <dir>/logs/<id>/NNNN.seg, NNNN.idx   segments and indexes (segment.c)
 *
 * Open: take the lock, load the master keys, bump the epoch in the catalog
 * (durably, before any chunk is sealed: nonces and sequence numbers of this
 * open are then fresh), finish deletes that a crash interrupted, unwrap each
 * log's data key, recover each log's segments and start the writer thread.
 *
 * What open costs: per log, its catalog rows and its folder listing; per
 * sealed segment, its size, its 32-byte header and its index's summary (a
 * 48-byte footer and 64 bytes per shard present in it), never its index
 * entries; for the last (active) segment, its index entries and a verified
 * scan of what they do not cover (the torn tail). So open time and memory
 * grow with logs, shards and segments, not with chunks or bytes. A sealed
 * segment whose summary is missing or damaged is recovered like the last
 * one, once (its index is rewritten with a summary).
 *
 * Metadata changes hold cat_mu for the whole change and write the catalog
 * first, then memory: a crash between the two is resolved by the catalog on
 * the next open.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <unistd.h>

#include "common/diag.h"
#include "storage_internal.h"

static char *str_dup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

static char *path_join(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", a, b);
    return p;
}

void fl_log_dir_path(const fl_store_t *s, uint64_t id, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/%llu", s->logs_dir, (unsigned long long)id);
}

static int mkdir_ok(const fl_store_io_t *io, const char *p)
{
    int rc = io->mkdir(io->ctx, p, 0700);
    return rc == -EEXIST ? 0 : rc;
}

fl_shard_t *fl_log_shard(fl_log_t *log, uint32_t id)
{
    return id < log->nshards ? log->shards[id] : NULL;
}

void fl_log_free_mem(fl_log_t *log)
{
    if (!log)
        return;
    for (uint32_t i = 0; i < log->nshards; i++)
        fl_shard_free(log->shards[i]);
    free(log->shards);
    free(log->segs);
    free(log->name);
    free(log->dir);
    fl_keys_wipe(log->key, sizeof log->key);
    pthread_mutex_destroy(&log->idx_mu);
    free(log);
}

int fl_log_remove_files(fl_store_t *s, uint64_t id)
{
    char dir[FL_PATH_MAX], p[FL_PATH_MAX + 256];
    fl_log_dir_path(s, id, dir, sizeof dir);
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? 0 : -errno;
    int rc = 0;
    struct dirent *e;
    /* every file the log's folder holds: segments, indexes, temp files */
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        int r = s->io.unlink(s->io.ctx, p);
        if (r < 0 && r != -ENOENT && rc == 0)
            rc = r;
    }
    closedir(d);
    if (rc == 0)
        rc = s->io.rmdir(s->io.ctx, dir);
    if (rc == -ENOENT)
        rc = 0;
    if (rc == 0)
        rc = fl_io_fsync_dir(&s->io, s->logs_dir);
    return rc;
}

static fl_master_key_t *mkey_find(fl_store_t *s, const char *id)
{
    for (size_t i = 0; i < s->nmkeys; i++)
        if (strcmp(s->mkeys[i].id, id) == 0)
            return &s->mkeys[i];
    return NULL;
}

static int mkey_load(fl_store_t *s, const char *id, const char *path)
{
    if (strlen(id) == 0 || strlen(id) >= sizeof s->mkeys[0].id)
        return FL_EINVAL;
    uint8_t k[32];
    int rc = fl_keys_load_or_create(&s->io, path, k);
    if (rc < 0) {
        fl_error("master key %s (%s): %s", id, path, fl_strerror(rc));
        return rc;
    }
    fl_master_key_t *m = mkey_find(s, id);
    if (!m) {
        fl_master_key_t *v = realloc(s->mkeys, (s->nmkeys + 1) * sizeof *v);
        if (!v) {
            fl_keys_wipe(k, sizeof k);
            return FL_ENOMEM;
        }
        s->mkeys = v;
        m = &v[s->nmkeys++];
        snprintf(m->id, sizeof m->id, "%s", id);
    }
    memcpy(m->key, k, 32);
    fl_keys_wipe(k, sizeof k);
    return 0;
}

static int mkey_cb(void *arg, const char *id, const char *path)
{
    return strcmp(id, "default") == 0 ? 0 : mkey_load(arg, id, path);
}

/* ---- loading logs at open ---- */

typedef struct {
    fl_store_t *s;
    fl_log_t *log;
    uint64_t *doomed; /* logs whose delete a crash interrupted */
    size_t ndoomed;
} load_ctx_t;

static int shard_cb(void *arg, const fl_cat_shard_t *row)
{
    fl_log_t *log = arg;
    if (row->id >= (1u << 20))
        return FL_ECORRUPT;
    if (row->id >= log->nshards) {
        fl_shard_t **v = realloc(log->shards, (row->id + 1) * sizeof *v);
        if (!v)
            return FL_ENOMEM;
        memset(v + log->nshards, 0, (row->id + 1 - log->nshards) * sizeof *v);
        log->shards = v;
        log->nshards = row->id + 1;
    }
    uint64_t next = (uint64_t)log->store->epoch << FL_SEQ_EPOCH_SHIFT;
    log->shards[row->id] = fl_shard_new(row, next);
    return log->shards[row->id] ? 0 : FL_ENOMEM;
}

static int seg_push(fl_log_t *log, uint64_t segno, uint64_t size, int64_t sts_max)
{
    if (log->nsegs == log->capsegs) {
        size_t nc = log->capsegs ? log->capsegs * 2 : 16;
        fl_seg_info_t *v = realloc(log->segs, nc * sizeof *v);
        if (!v)
            return FL_ENOMEM;
        log->segs = v;
        log->capsegs = nc;
    }
    fl_seg_info_t *g = &log->segs[log->nsegs++];
    g->segno = segno;
    g->size = size;
    g->sts_max = sts_max;
    return 0;
}

/* A sealed segment's spans go to their shards. */
static int add_spans(fl_log_t *log, uint64_t segno, const fl_span_t *sp, size_t n, int64_t *sts_max)
{
    for (size_t k = 0; k < n; k++) {
        fl_shard_t *sh = fl_log_shard(log, sp[k].shard);
        if (sp[k].sts_max > *sts_max)
            *sts_max = sp[k].sts_max;
        if (!sh) {
            fl_error("log %s: segment %llu: %u chunks of unknown shard %u ignored", log->name,
                     (unsigned long long)segno, sp[k].nchunks, sp[k].shard);
            continue;
        }
        int rc = fl_shard_add_span(sh, &sp[k]);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* A sealed segment at open: its summary, or (none usable) its recovery. */
static int open_sealed(fl_store_t *s, fl_log_t *log, uint64_t segno)
{
    fl_span_t *sp = NULL;
    size_t nsp = 0;
    uint64_t size = 0;
    int64_t sts_max = INT64_MIN;
    int rc = fl_segment_open_sealed(log, segno, &sp, &nsp, &size);
    if (rc < 0 && rc != FL_ENOMEM && rc != -ENOENT) {
        fl_chunk_ref_t *refs = NULL;
        size_t n = 0;
        rc = fl_segment_recover(log, segno, 0, &refs, &n, &size);
        if (rc == 0) {
            s->stats.index_rebuilds++;
            s->stats.index_entries_read += n;
            rc = fl_index_summarize(refs, n, segno, &sp, &nsp);
        }
        free(refs);
    }
    if (rc == 0)
        rc = add_spans(log, segno, sp, nsp, &sts_max);
    free(sp);
    if (rc == 0)
        rc = seg_push(log, segno, size, sts_max);
    if (rc == 0)
        s->total_bytes += size;
    return rc;
}

static int log_recover(fl_store_t *s, fl_log_t *log)
{
    uint64_t *segs = NULL;
    size_t nsegs = 0;
    int rc = mkdir_ok(&s->io, log->dir);
    if (rc == 0)
        rc = fl_segment_list(log, &segs, &nsegs);
    if (rc < 0)
        return rc;
    size_t last_n = 0;
    for (size_t i = 0; i + 1 < nsegs && rc == 0; i++) {
        rc = open_sealed(s, log, segs[i]);
        if (rc < 0)
            fl_error("log %s: segment %llu: %s", log->name, (unsigned long long)segs[i],
                     fl_strerror(rc));
    }
    if (nsegs && rc == 0) { /* the active segment: its tail is recovered */
        fl_chunk_ref_t *refs = NULL;
        size_t n = 0;
        uint64_t size = 0, segno = segs[nsegs - 1];
        rc = fl_segment_recover(log, segno, 1, &refs, &n, &size);
        if (rc < 0)
            fl_error("log %s: segment %llu: %s", log->name, (unsigned long long)segno,
                     fl_strerror(rc));
        int64_t sts_max = INT64_MIN;
        for (size_t k = 0; k < n && rc == 0; k++) {
            fl_shard_t *sh = fl_log_shard(log, refs[k].shard);
            if (refs[k].sts_max > sts_max)
                sts_max = refs[k].sts_max;
            if (!sh) {
                fl_error("log %s: segment %llu offset %llu: chunk of unknown shard %u ignored",
                         log->name, (unsigned long long)segno, (unsigned long long)refs[k].off,
                         refs[k].shard);
                continue;
            }
            rc = fl_shard_add_chunk(sh, &refs[k]);
        }
        free(refs);
        s->stats.index_entries_read += n;
        if (rc == 0)
            rc = seg_push(log, segno, size, sts_max);
        s->total_bytes += size;
        last_n = n;
    }
    free(segs);
    if (rc < 0)
        return rc;
    for (uint32_t i = 0; i < log->nshards; i++) {
        fl_shard_t *sh = log->shards[i];
        if (sh && sh->durable_next > sh->next_seq) {
            fl_error("log %s shard %u: stored sequence numbers are ahead of the catalog's "
                     "epoch (catalog restored from an older copy?)",
                     log->name, i);
            return FL_ECORRUPT;
        }
    }
    if (log->nsegs) {
        fl_seg_info_t *g = &log->segs[log->nsegs - 1];
        char p[FL_PATH_MAX];
        fl_segment_path(log, g->segno, p, sizeof p);
        log->seg_fd = s->io.open(s->io.ctx, p, O_RDWR, 0);
        fl_index_path(log, g->segno, p, sizeof p);
        log->idx_fd = s->io.open(s->io.ctx, p, O_RDWR, 0);
        if (log->seg_fd < 0 || log->idx_fd < 0) {
            rc = log->seg_fd < 0 ? log->seg_fd : log->idx_fd;
            fl_error("log %s: cannot open active segment: %s", log->name, fl_strerror(rc));
            return rc;
        }
        log->seg_end = g->size;
        log->idx_count = last_n;
    }
    return 0;
}

static int log_cb(void *arg, const fl_cat_log_t *row)
{
    load_ctx_t *lc = arg;
    fl_store_t *s = lc->s;
    if (row->deleting) {
        uint64_t *v = realloc(lc->doomed, (lc->ndoomed + 1) * sizeof *v);
        if (!v)
            return FL_ENOMEM;
        lc->doomed = v;
        v[lc->ndoomed++] = row->id;
        return 0;
    }
    fl_log_t *log = calloc(1, sizeof *log);
    if (!log)
        return FL_ENOMEM;
    pthread_mutex_init(&log->idx_mu, NULL);
    char dir[FL_PATH_MAX];
    fl_log_dir_path(s, row->id, dir, sizeof dir);
    log->store = s;
    log->id = row->id;
    log->name = str_dup(row->name);
    log->dir = str_dup(dir);
    log->seg_fd = log->idx_fd = log->dio_fd = -1;
    snprintf(log->key_id, sizeof log->key_id, "%s", row->key_id);
    log->created_ns = row->created_ns;
    log->version = row->version;
    log->retention_hours = row->retention_hours;
    log->next = s->logs;
    s->logs = log;
    if (!log->name || !log->dir)
        return FL_ENOMEM;
    fl_master_key_t *m = mkey_find(s, row->key_id);
    if (!m) {
        fl_error("log %s: master key '%s' is not known to this store", row->name, row->key_id);
        return FL_ENOTFOUND;
    }
    int rc = fl_keys_unwrap(m->key, row->key_id, row->id, row->wrapped, row->wrapped_len, log->key);
    if (rc < 0) {
        fl_error("log %s: master key '%s' does not unwrap its data key: %s", row->name, row->key_id,
                 fl_strerror(rc));
        return rc;
    }
    lc->log = log;
    return 0;
}

static int load_logs(fl_store_t *s)
{
    load_ctx_t lc = {s, NULL, NULL, 0};
    int rc = fl_catalog_logs(s->cat, log_cb, &lc);
    for (fl_log_t *log = s->logs; log && rc == 0; log = log->next) {
        rc = fl_catalog_shards(s->cat, log->id, shard_cb, log);
        if (rc == 0)
            rc = log_recover(s, log);
    }
    for (size_t i = 0; i < lc.ndoomed && rc == 0; i++) {
        fl_info("finishing the delete of log %llu", (unsigned long long)lc.doomed[i]);
        rc = fl_log_remove_files(s, lc.doomed[i]);
        if (rc == 0)
            rc = fl_catalog_log_remove(s->cat, lc.doomed[i]);
    }
    free(lc.doomed);
    return rc;
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
    pthread_cond_init(&s->wake, NULL);
    pthread_cond_init(&s->done_cond, NULL);
    int rc = FL_ENOMEM;
    char *lock_path = NULL, *key_path = NULL, *cat_path = NULL;
    s->dir = str_dup(o->dir);
    s->logs_dir = path_join(o->dir, "logs");
    lock_path = path_join(o->dir, "LOCK");
    key_path = o->master_key_path ? str_dup(o->master_key_path) : path_join(o->dir, "master.key");
    cat_path = path_join(o->dir, "catalog.db");
    s->segcache = calloc(s->segcache_max, sizeof *s->segcache);
    if (!s->dir || !s->logs_dir || !lock_path || !key_path || !cat_path || !s->segcache)
        goto fail;
    if ((rc = mkdir_ok(&s->io, s->dir)) < 0 || (rc = mkdir_ok(&s->io, s->logs_dir)) < 0 ||
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
    if ((rc = mkey_load(s, "default", key_path)) < 0)
        goto fail;
    if ((rc = fl_catalog_open(cat_path, &s->cat)) < 0)
        goto fail;
    if ((rc = fl_catalog_bump_epoch(s->cat, &s->epoch)) < 0)
        goto fail;
    if ((rc = fl_catalog_mkeys(s->cat, mkey_cb, s)) < 0)
        goto fail;
    if ((rc = load_logs(s)) < 0)
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
    fl_segcache_free(s);
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
    int rc = mkey_load(s, key_id, path);
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

/* ---- logs ---- */

static int name_ok(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > FL_LOG_MAX_NAME)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-' || c == ':' || c == '/'))
            return 0;
    }
    return 1;
}

static int kv_ok(const char *k, const char *v)
{
    return k && v && *k && strlen(k) <= FL_LOG_MAX_TAG_KEY && strlen(v) <= FL_LOG_MAX_TAG_VAL;
}

static fl_log_t *log_find(fl_store_t *s, const char *name)
{
    for (fl_log_t *l = s->logs; l; l = l->next)
        if (!l->deleting && strcmp(l->name, name) == 0)
            return l;
    return NULL;
}

int fl_log_create(fl_store_t *s, const char *name, const fl_log_opts_t *opts, fl_log_t **out)
{
    fl_log_opts_t def = {0};
    if (!opts)
        opts = &def;
    uint32_t nsh = opts->shard_count ? opts->shard_count : 1;
    const char *key_id = opts->master_key_id ? opts->master_key_id : "default";
    if (!s || !out || !name_ok(name) || nsh > FL_LOG_MAX_SHARDS)
        return FL_EINVAL;
    for (size_t i = 0; i < opts->n_tags; i++)
        if (!kv_ok(opts->tag_keys[i], opts->tag_values[i]))
            return FL_EINVAL;
    for (size_t i = 0; i < opts->n_attrs; i++)
        if (!kv_ok(opts->attr_keys[i], opts->attr_values[i]))
            return FL_EINVAL;
    fl_log_t *log = calloc(1, sizeof *log);
    fl_shard_t **shards = calloc(nsh, sizeof *shards);
    if (log)
        pthread_mutex_init(&log->idx_mu, NULL);
    fl_cat_shard_t *rows = calloc(nsh, sizeof *rows);
    uint8_t dk[32], wrapped[FL_WRAPPED_KEY_LEN];
    char dir[FL_PATH_MAX];
    int rc = FL_ENOMEM, in_txn = 0;
    int64_t now = fl_clock_now(&s->clock);
    pthread_mutex_lock(&s->cat_mu);
    if (!log || !shards || !rows)
        goto fail;
    fl_master_key_t *m = mkey_find(s, key_id);
    if (!m) {
        rc = FL_ENOTFOUND;
        fl_error("log %s: unknown master key '%s'", name, key_id);
        goto fail;
    }
    pthread_mutex_lock(&s->mu);
    int exists = log_find(s, name) != NULL;
    pthread_mutex_unlock(&s->mu);
    if (exists) {
        rc = FL_EEXISTS;
        goto fail;
    }
    if ((rc = fl_keys_random(dk, sizeof dk)) < 0)
        goto fail;
    if ((rc = fl_catalog_begin(s->cat)) < 0)
        goto fail;
    in_txn = 1;
    if ((rc = fl_catalog_log_insert(s->cat, name, now, opts->retention_hours, key_id, &log->id)) <
        0)
        goto fail;
    if ((rc = fl_keys_wrap(m->key, key_id, log->id, dk, wrapped)) < 0 ||
        (rc = fl_catalog_log_set_key(s->cat, log->id, wrapped, sizeof wrapped)) < 0)
        goto fail;
    uint64_t next = (uint64_t)s->epoch << FL_SEQ_EPOCH_SHIFT;
    for (uint32_t i = 0; i < nsh; i++) {
        rows[i].id = i;
        fl_shard_range(i, nsh, rows[i].hash_start, rows[i].hash_end);
        rows[i].parent = rows[i].parent2 = FL_LOG_NO_SHARD;
        rows[i].open = 1;
        rows[i].created_ns = now;
        if ((rc = fl_catalog_shard_insert(s->cat, log->id, &rows[i])) < 0)
            goto fail;
        if (!(shards[i] = fl_shard_new(&rows[i], next))) {
            rc = FL_ENOMEM;
            goto fail;
        }
    }
    for (size_t i = 0; i < opts->n_tags && rc == 0; i++)
        rc = fl_catalog_kv_set(s->cat, 0, log->id, opts->tag_keys[i], opts->tag_values[i]);
    for (size_t i = 0; i < opts->n_attrs && rc == 0; i++)
        rc = fl_catalog_kv_set(s->cat, 1, log->id, opts->attr_keys[i], opts->attr_values[i]);
    if (rc < 0)
        goto fail;
    fl_log_dir_path(s, log->id, dir, sizeof dir);
    log->name = str_dup(name);
    log->dir = str_dup(dir);
    if (!log->name || !log->dir) {
        rc = FL_ENOMEM;
        goto fail;
    }
    if ((rc = mkdir_ok(&s->io, dir)) < 0 || (rc = fl_io_fsync_dir(&s->io, s->logs_dir)) < 0)
        goto fail;
    if ((rc = fl_catalog_commit(s->cat)) < 0) {
        in_txn = 0;
        s->io.rmdir(s->io.ctx, dir);
        goto fail;
    }
    in_txn = 0;
    log->store = s;
    memcpy(log->key, dk, 32);
    snprintf(log->key_id, sizeof log->key_id, "%s", key_id);
    log->created_ns = now;
    log->version = 1;
    log->retention_hours = opts->retention_hours;
    log->shards = shards;
    log->nshards = nsh;
    log->seg_fd = log->idx_fd = log->dio_fd = -1;
    shards = NULL;
    /* Its first segment now, while nobody else sees the log, rather than
     * on the writer at the first append, where its three syncs would hold
     * up every other log's appends (1,000 streams starting at once took
     * seconds there). If it fails, the writer tries again then. */
    if (fl_writer_ensure_segment(s, log) < 0)
        fl_warn("log %s: first segment not created; the first append tries again", name);
    pthread_mutex_lock(&s->mu);
    log->next = s->logs;
    s->logs = log;
    pthread_mutex_unlock(&s->mu);
    pthread_mutex_unlock(&s->cat_mu);
    fl_keys_wipe(dk, sizeof dk);
    free(rows);
    *out = log;
    return 0;
fail:
    if (in_txn)
        fl_catalog_rollback(s->cat);
    pthread_mutex_unlock(&s->cat_mu);
    fl_keys_wipe(dk, sizeof dk);
    if (shards)
        for (uint32_t i = 0; i < nsh; i++)
            fl_shard_free(shards[i]);
    free(shards);
    free(rows);
    if (log) {
        free(log->name);
        free(log->dir);
        pthread_mutex_destroy(&log->idx_mu);
        free(log);
    }
    return rc;
}

int fl_log_open(fl_store_t *s, const char *name, fl_log_t **out)
{
    if (!s || !name || !out)
        return FL_EINVAL;
    pthread_mutex_lock(&s->mu);
    fl_log_t *log = log_find(s, name);
    pthread_mutex_unlock(&s->mu);
    if (!log)
        return FL_ENOTFOUND;
    *out = log;
    return 0;
}

static int delete_on_writer(fl_store_t *s, void *arg)
{
    fl_log_t *log = arg;
    pthread_mutex_lock(&s->mu);
    for (fl_log_t **pp = &s->logs; *pp; pp = &(*pp)->next)
        if (*pp == log) {
            *pp = log->next;
            break;
        }
    for (size_t i = 0; i < log->nsegs; i++)
        s->total_bytes -= log->segs[i].size;
    fl_segcache_drop(s, log->id, UINT64_MAX);
    pthread_mutex_unlock(&s->mu);
    fl_segment_close_active(log);
    int rc = fl_log_remove_files(s, log->id);
    if (rc == 0) {
        pthread_mutex_lock(&s->cat_mu);
        rc = fl_catalog_log_remove(s->cat, log->id);
        pthread_mutex_unlock(&s->cat_mu);
    }
    if (rc < 0)
        fl_warn("log %s: files not all removed (%s); the next open finishes the delete", log->name,
                fl_strerror(rc));
    fl_log_free_mem(log);
    return 0;
}

int fl_log_delete(fl_store_t *s, const char *name)
{
    if (!s || !name)
        return FL_EINVAL;
    pthread_mutex_lock(&s->cat_mu);
    pthread_mutex_lock(&s->mu);
    fl_log_t *log = log_find(s, name);
    int rc = 0;
    if (!log) {
        rc = FL_ENOTFOUND;
    } else {
        for (uint32_t i = 0; i < log->nshards; i++)
            if (log->shards[i] && log->shards[i]->watches)
                rc = FL_EBUSY;
        if (rc == 0)
            log->deleting = 1; /* appends now say FL_ECLOSED */
    }
    pthread_mutex_unlock(&s->mu);
    if (rc == 0) {
        /* The key goes first and durably: from here the bytes are noise. */
        rc = fl_catalog_log_mark_deleting(s->cat, log->id);
        if (rc < 0) {
            pthread_mutex_lock(&s->mu);
            log->deleting = 0;
            pthread_mutex_unlock(&s->mu);
        }
    }
    pthread_mutex_unlock(&s->cat_mu);
    /* The writer finishes the batch in flight, wipes the in-memory key and
     * removes the files (it takes cat_mu itself, so it is not held here). */
    if (rc == 0)
        rc = fl_writer_call(s, delete_on_writer, log);
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int fl_log_list(fl_store_t *s, char ***names_out, size_t *n_out)
{
    if (!s || !names_out || !n_out)
        return FL_EINVAL;
    pthread_mutex_lock(&s->mu);
    size_t n = 0, i = 0;
    for (fl_log_t *l = s->logs; l; l = l->next)
        n += !l->deleting;
    char **v = calloc(n ? n : 1, sizeof *v);
    int rc = v ? 0 : FL_ENOMEM;
    for (fl_log_t *l = s->logs; l && rc == 0; l = l->next) {
        if (l->deleting)
            continue;
        if (!(v[i++] = str_dup(l->name)))
            rc = FL_ENOMEM;
    }
    pthread_mutex_unlock(&s->mu);
    if (rc < 0) {
        fl_log_list_free(v, i);
        return rc;
    }
    qsort(v, n, sizeof *v, cmp_str);
    *names_out = v;
    *n_out = n;
    return 0;
}

void fl_log_list_free(char **names, size_t n)
{
    if (!names)
        return;
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

int fl_log_info(fl_log_t *log, fl_log_info_t *out)
{
    if (!log || !out)
        return FL_EINVAL;
    fl_store_t *s = log->store;
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&s->mu);
    out->id = log->id;
    snprintf(out->name, sizeof out->name, "%s", log->name);
    snprintf(out->master_key_id, sizeof out->master_key_id, "%s", log->key_id);
    out->created_ns = log->created_ns;
    out->version = log->version;
    out->retention_hours = log->retention_hours;
    for (uint32_t i = 0; i < log->nshards; i++) {
        if (!log->shards[i])
            continue;
        out->total_shards++;
        out->open_shards += log->shards[i]->open != 0;
    }
    pthread_mutex_unlock(&s->mu);
    return 0;
}

int fl_log_set_retention(fl_log_t *log, uint32_t hours)
{
    if (!log)
        return FL_EINVAL;
    fl_store_t *s = log->store;
    pthread_mutex_lock(&s->cat_mu);
    int rc = fl_catalog_log_set_retention(s->cat, log->id, hours);
    if (rc == 0) {
        pthread_mutex_lock(&s->mu);
        log->retention_hours = hours;
        log->version++;
        pthread_mutex_unlock(&s->mu);
    }
    pthread_mutex_unlock(&s->cat_mu);
    return rc;
}

static int kv_change(fl_log_t *log, int attrs, const char *key, const char *value)
{
    if (!log || !key || !*key || strlen(key) > FL_LOG_MAX_TAG_KEY ||
        (value && strlen(value) > FL_LOG_MAX_TAG_VAL))
        return FL_EINVAL;
    fl_store_t *s = log->store;
    pthread_mutex_lock(&s->cat_mu);
    int rc = fl_catalog_begin(s->cat);
    if (rc == 0) {
        rc = value ? fl_catalog_kv_set(s->cat, attrs, log->id, key, value)
                   : fl_catalog_kv_remove(s->cat, attrs, log->id, key);
        if (rc == 0)
            rc = fl_catalog_log_bump_version(s->cat, log->id);
        if (rc == 0)
            rc = fl_catalog_commit(s->cat);
        else
            fl_catalog_rollback(s->cat);
    }
    if (rc == 0) {
        pthread_mutex_lock(&s->mu);
        log->version++;
        pthread_mutex_unlock(&s->mu);
    }
    pthread_mutex_unlock(&s->cat_mu);
    return rc;
}

static int kv_get(fl_log_t *log, int attrs, const char *key, char *buf, size_t cap)
{
    if (!log || !key || !buf)
        return FL_EINVAL;
    fl_store_t *s = log->store;
    pthread_mutex_lock(&s->cat_mu);
    int rc = fl_catalog_kv_get(s->cat, attrs, log->id, key, buf, cap);
    pthread_mutex_unlock(&s->cat_mu);
    return rc;
}

int fl_log_tag_set(fl_log_t *log, const char *key, const char *value)
{
    return value ? kv_change(log, 0, key, value) : FL_EINVAL;
}

int fl_log_tag_remove(fl_log_t *log, const char *key)
{
    return kv_change(log, 0, key, NULL);
}

int fl_log_tag_get(fl_log_t *log, const char *key, char *buf, size_t cap)
{
    return kv_get(log, 0, key, buf, cap);
}

int fl_log_attr_set(fl_log_t *log, const char *key, const char *value)
{
    return value ? kv_change(log, 1, key, value) : FL_EINVAL;
}

int fl_log_attr_get(fl_log_t *log, const char *key, char *buf, size_t cap)
{
    return kv_get(log, 1, key, buf, cap);
}

typedef struct {
    char **k, **v;
    size_t n, cap;
} kv_list_t;

static int kv_list_cb(void *arg, const char *k, const char *v)
{
    kv_list_t *l = arg;
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 8;
        char **nk = realloc(l->k, nc * sizeof *nk);
        if (!nk)
            return FL_ENOMEM;
        l->k = nk;
        char **nv = realloc(l->v, nc * sizeof *nv);
        if (!nv)
            return FL_ENOMEM;
        l->v = nv;
        l->cap = nc;
    }
    l->k[l->n] = str_dup(k);
    l->v[l->n] = str_dup(v);
    l->n++;
    return l->k[l->n - 1] && l->v[l->n - 1] ? 0 : FL_ENOMEM;
}

int fl_log_tags(fl_log_t *log, char ***keys_out, char ***values_out, size_t *n_out)
{
    if (!log || !keys_out || !values_out || !n_out)
        return FL_EINVAL;
    fl_store_t *s = log->store;
    kv_list_t l = {0};
    pthread_mutex_lock(&s->cat_mu);
    int rc = fl_catalog_kv_list(s->cat, 0, log->id, kv_list_cb, &l);
    pthread_mutex_unlock(&s->cat_mu);
    if (rc < 0) {
        fl_log_tags_free(l.k, l.v, l.n);
        return rc;
    }
    *keys_out = l.k;
    *values_out = l.v;
    *n_out = l.n;
    return 0;
}

void fl_log_tags_free(char **keys, char **values, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (keys)
            free(keys[i]);
        if (values)
            free(values[i]);
    }
    free(keys);
    free(values);
}

/* ---- shards ---- */

static void shard_info(const fl_shard_t *sh, fl_log_shard_info_t *o)
{
    o->id = sh->id;
    memcpy(o->hash_start, sh->hash_start, 16);
    memcpy(o->hash_end, sh->hash_end, 16);
    o->parent = sh->parent;
    o->adjacent_parent = sh->parent2;
    o->open = sh->open;
    int64_t sts, pts;
    if (fl_shard_first(sh, &o->first_seq, &sts, &pts) < 0)
        o->first_seq = 0;
    if (o->first_seq && o->first_seq < sh->trim_seq)
        o->first_seq = sh->trim_seq;
    o->next_seq = sh->next_seq;
    o->max_producer_ts_ns = sh->max_pts;
}

int fl_log_shards(fl_log_t *log, fl_log_shard_info_t **out, size_t *n_out)
{
    if (!log || !out || !n_out)
        return FL_EINVAL;
    fl_store_t *s = log->store;
    pthread_mutex_lock(&s->mu);
    fl_log_shard_info_t *v = calloc(log->nshards ? log->nshards : 1, sizeof *v);
    size_t n = 0;
    for (uint32_t i = 0; v && i < log->nshards; i++)
        if (log->shards[i])
            shard_info(log->shards[i], &v[n++]);
    pthread_mutex_unlock(&s->mu);
    if (!v)
        return FL_ENOMEM;
    *out = v;
    *n_out = n;
    return 0;
}

int fl_log_shard_for_key(fl_log_t *log, fl_slice_t key, uint32_t *shard_out)
{
    if (!log || !shard_out || key.n > FL_LOG_MAX_KEY)
        return FL_EINVAL;
    uint8_t h[16];
    fl_shard_hash_key(key, h);
    fl_store_t *s = log->store;
    int rc = FL_ENOTFOUND;
    pthread_mutex_lock(&s->mu);
    for (uint32_t i = 0; i < log->nshards; i++) {
        fl_shard_t *sh = log->shards[i];
        if (sh && sh->open && memcmp(sh->hash_start, h, 16) <= 0 &&
            memcmp(h, sh->hash_end, 16) <= 0) {
            *shard_out = sh->id;
            rc = 0;
            break;
        }
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static unsigned __int128 u128_load(const uint8_t p[16])
{
    unsigned __int128 v = 0;
    for (int i = 0; i < 16; i++)
        v = v << 8 | p[i];
    return v;
}

static void u128_put(uint8_t p[16], unsigned __int128 v)
{
    for (int i = 15; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

/* Commit new child shards and close parents, then show them in memory. */
static int reshard(fl_log_t *log, fl_cat_shard_t *kids, uint32_t nkids, const uint32_t *parents,
                   uint32_t nparents)
{
    fl_store_t *s = log->store;
    fl_shard_t *mem[2] = {NULL, NULL};
    fl_shard_t **grown = NULL;
    uint64_t next = (uint64_t)s->epoch << FL_SEQ_EPOCH_SHIFT;
    int rc = FL_ENOMEM;
    for (uint32_t i = 0; i < nkids; i++)
        if (!(mem[i] = fl_shard_new(&kids[i], next)))
            goto fail;
    grown = calloc(log->nshards + nkids, sizeof *grown);
    if (!grown)
        goto fail;
    if ((rc = fl_catalog_begin(s->cat)) < 0)
        goto fail;
    for (uint32_t i = 0; i < nkids && rc == 0; i++)
        rc = fl_catalog_shard_insert(s->cat, log->id, &kids[i]);
    for (uint32_t i = 0; i < nparents && rc == 0; i++)
        rc = fl_catalog_shard_close(s->cat, log->id, parents[i]);
    if (rc == 0)
        rc = fl_catalog_log_bump_version(s->cat, log->id);
    if (rc < 0) {
        fl_catalog_rollback(s->cat);
        goto fail;
    }
    if ((rc = fl_catalog_commit(s->cat)) < 0)
        goto fail;
    pthread_mutex_lock(&s->mu);
    memcpy(grown, log->shards, log->nshards * sizeof *grown);
    for (uint32_t i = 0; i < nkids; i++)
        grown[log->nshards + i] = mem[i];
    free(log->shards);
    log->shards = grown;
    log->nshards += nkids;
    log->version++;
    for (uint32_t i = 0; i < nparents; i++) {
        fl_shard_t *p = log->shards[parents[i]];
        p->open = 0;
        fl_writer_notify_shard(p); /* followers learn of the end */
    }
    pthread_mutex_unlock(&s->mu);
    return 0;
fail:
    free(grown);
    for (uint32_t i = 0; i < 2; i++)
        fl_shard_free(mem[i]);
    return rc;
}

int fl_log_split_shard(fl_log_t *log, uint32_t shard, const uint8_t new_start[16],
                       uint32_t children_out[2])
{
    if (!log || !new_start || !children_out)
        return FL_EINVAL;
    fl_store_t *s = log->store;
    fl_cat_shard_t kids[2];
    memset(kids, 0, sizeof kids);
    pthread_mutex_lock(&s->cat_mu);
    pthread_mutex_lock(&s->mu);
    fl_shard_t *p = fl_log_shard(log, shard);
    int rc = 0;
    if (!p)
        rc = FL_ENOTFOUND;
    else if (!p->open || log->deleting)
        rc = FL_ECLOSED;
    else if (memcmp(new_start, p->hash_start, 16) <= 0 || memcmp(new_start, p->hash_end, 16) > 0)
        rc = FL_EINVAL; /* both children must be non-empty */
    int64_t now = fl_clock_now(&s->clock);
    if (rc == 0) {
        for (int i = 0; i < 2; i++) {
            kids[i].id = log->nshards + (uint32_t)i;
            kids[i].parent = shard;
            kids[i].parent2 = FL_LOG_NO_SHARD;
            kids[i].open = 1;
            kids[i].created_ns = now;
        }
        memcpy(kids[0].hash_start, p->hash_start, 16);
        u128_put(kids[0].hash_end, u128_load(new_start) - 1);
        memcpy(kids[1].hash_start, new_start, 16);
        memcpy(kids[1].hash_end, p->hash_end, 16);
    }
    pthread_mutex_unlock(&s->mu);
    if (rc == 0)
        rc = reshard(log, kids, 2, &shard, 1);
    pthread_mutex_unlock(&s->cat_mu);
    if (rc == 0) {
        children_out[0] = kids[0].id;
        children_out[1] = kids[1].id;
    }
    return rc;
}

int fl_log_merge_shards(fl_log_t *log, uint32_t shard, uint32_t adjacent, uint32_t *child_out)
{
    if (!log || !child_out || shard == adjacent)
        return FL_EINVAL;
    fl_store_t *s = log->store;
    fl_cat_shard_t kid;
    memset(&kid, 0, sizeof kid);
    pthread_mutex_lock(&s->cat_mu);
    pthread_mutex_lock(&s->mu);
    fl_shard_t *a = fl_log_shard(log, shard), *b = fl_log_shard(log, adjacent);
    int rc = 0;
    if (!a || !b) {
        rc = FL_ENOTFOUND;
    } else if (!a->open || !b->open || log->deleting) {
        rc = FL_ECLOSED;
    } else {
        fl_shard_t *lo = memcmp(a->hash_start, b->hash_start, 16) < 0 ? a : b;
        fl_shard_t *hi = lo == a ? b : a;
        if (u128_load(lo->hash_end) + 1 != u128_load(hi->hash_start)) {
            rc = FL_EINVAL; /* not adjacent */
        } else {
            kid.id = log->nshards;
            kid.parent = shard;
            kid.parent2 = adjacent;
            kid.open = 1;
            kid.created_ns = fl_clock_now(&s->clock);
            memcpy(kid.hash_start, lo->hash_start, 16);
            memcpy(kid.hash_end, hi->hash_end, 16);
        }
    }
    pthread_mutex_unlock(&s->mu);
    uint32_t parents[2] = {shard, adjacent};
    if (rc == 0)
        rc = reshard(log, &kid, 1, parents, 2);
    pthread_mutex_unlock(&s->cat_mu);
    if (rc == 0)
        *child_out = kid.id;
    return rc;
}
