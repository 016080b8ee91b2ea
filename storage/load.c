/*
 * storage/load.c — the store's logs at open: from the catalog's rows and
 * the segment files to the in-memory logs, shards and segment lists.
 *
 * Per log: its catalog row (a log whose delete a crash interrupted is
 * finished here: files, then rows), its data key unwrapped by its master
 * key, its shard rows, then its segments. What open costs: per log, its
 * catalog rows and its folder listing; per sealed segment, its size, its
 * 32-byte header and its index's summary (a 48-byte footer and 64 bytes per
 * shard present in it), never its index entries; for the last (active)
 * segment, its index entries and a verified scan of what they do not cover
 * (the torn tail). So open time and memory grow with logs, shards and
 * segments, not with chunks or bytes. A sealed segment whose summary is
 * missing or damaged is recovered like the last one, once (its index is
 * rewritten with a summary). A last segment of its header only (a spare
 * made ahead of a roll, writer.c) is removed first (drop_spares).
 *
 * Invariant on return: every shard's next sequence number starts at the
 * new epoch and is above every stored one (else FL_ECORRUPT: a catalog
 * restored from an older copy); the active segment's descriptors are open
 * for the writer.
 *
 * Layering: store.c calls it, before the writer starts; it calls the files
 * below (catalog, keys, segment, index, shard, logmem), never the writer.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/diag.h"
#include "storage_internal.h"

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
        rc = fl_log_push_seg(log, segno, size, sts_max);
    if (rc == 0)
        s->total_bytes += size;
    return rc;
}

/* A segment of its header only (or less: its header never reached the
 * disk) after another is a spare that a crash left behind (writer.c makes
 * the next segment ahead of its roll), or an active segment nothing was
 * written to: removed (its index too, then the folder fsync'd), so that the
 * segment before it is recovered as the active one, torn tail and all. */
static int drop_spares(fl_store_t *s, fl_log_t *log, const uint64_t *segs, size_t *nsegs)
{
    int removed = 0;
    while (*nsegs > 1) {
        char path[FL_PATH_MAX];
        uint64_t segno = segs[*nsegs - 1], size = 0;
        fl_segment_path(log, segno, path, sizeof path);
        int fd = s->io.open(s->io.ctx, path, O_RDONLY, 0);
        if (fd < 0)
            return fd;
        int rc = s->io.fsize(s->io.ctx, fd, &size);
        s->io.close(s->io.ctx, fd);
        if (rc < 0)
            return rc;
        if (size > FL_SEG_HDR)
            break;
        fl_info("log %s: segment %llu holds no chunk (a spare or a new segment left by a crash); "
                "removed",
                log->name, (unsigned long long)segno);
        if ((rc = s->io.unlink(s->io.ctx, path)) < 0 && rc != -ENOENT)
            return rc;
        fl_index_path(log, segno, path, sizeof path);
        if ((rc = s->io.unlink(s->io.ctx, path)) < 0 && rc != -ENOENT)
            return rc;
        (*nsegs)--;
        removed = 1;
    }
    return removed ? fl_io_fsync_dir(&s->io, log->dir) : 0;
}

static int log_recover(fl_store_t *s, fl_log_t *log)
{
    uint64_t *segs = NULL;
    size_t nsegs = 0;
    int rc = fl_io_mkdir(&s->io, log->dir);
    if (rc == 0)
        rc = fl_segment_list(log, &segs, &nsegs);
    if (rc == 0)
        rc = drop_spares(s, log, segs, &nsegs);
    if (rc < 0) {
        free(segs);
        return rc;
    }
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
            rc = fl_log_push_seg(log, segno, size, sts_max);
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
    fl_log_t *log = fl_log_new(s, row->id, row->name);
    if (!log)
        return FL_ENOMEM;
    snprintf(log->key_id, sizeof log->key_id, "%s", row->key_id);
    log->created_ns = row->created_ns;
    log->version = row->version;
    log->retention_hours = row->retention_hours;
    log->next = s->logs;
    s->logs = log;
    fl_master_key_t *m = fl_keys_master_find(s, row->key_id);
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

int fl_store_load_logs(fl_store_t *s)
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
