/*
 * storage/retention.c — retention: whole sealed segments are removed when
 * older than their log's retention period, and oldest-first across the data
 * directory while it holds more than retention_max_bytes.
 *
 * Runs on the writer thread (which owns the segments): at start, after a
 * segment rolls, every retention_interval_ms and on fl_store_enforce_
 * retention(). A segment's age is the server time of its newest record.
 * The active segment of a log is never removed.
 *
 * Order, so that a crash at any point leaves a consistent answer: first each
 * affected shard's trim point (sequence numbers below it are expired) is
 * committed to the catalog; then the segment leaves memory (shards' spans,
 * the segment cache); then the files are unlinked (under the log's idx_mu,
 * so not while a reader rebuilds that index). A reader asking below the trim point gets
 * FL_EEXPIRED; one that raced the unlink also gets FL_EEXPIRED.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/diag.h"
#include "storage_internal.h"

/* Remove the log's oldest segment. */
static int drop_oldest(fl_store_t *s, fl_log_t *log)
{
    pthread_mutex_lock(&s->mu);
    fl_seg_info_t g = log->segs[0];
    uint32_t nsh = log->nshards;
    uint64_t *trim = calloc(nsh ? nsh : 1, sizeof *trim);
    if (!trim) {
        pthread_mutex_unlock(&s->mu);
        return FL_ENOMEM;
    }
    for (uint32_t i = 0; i < nsh; i++) {
        fl_shard_t *sh = log->shards[i];
        if (!sh)
            continue;
        if (sh->nspans && sh->spans[0].segno == g.segno && sh->spans[0].end_seq > sh->trim_seq)
            trim[i] = sh->spans[0].end_seq;
        /* chunks still listed one by one (a seal that ran out of memory) */
        for (size_t k = 0; k < sh->nchunks && sh->chunks[k].segno == g.segno; k++) {
            uint64_t end = sh->chunks[k].first_seq + sh->chunks[k].count;
            if (end > trim[i] && end > sh->trim_seq)
                trim[i] = end;
        }
    }
    pthread_mutex_unlock(&s->mu);

    pthread_mutex_lock(&s->cat_mu);
    int rc = fl_catalog_begin(s->cat);
    for (uint32_t i = 0; i < nsh && rc == 0; i++)
        if (trim[i])
            rc = fl_catalog_shard_set_trim(s->cat, log->id, i, trim[i]);
    if (rc == 0)
        rc = fl_catalog_commit(s->cat);
    else
        fl_catalog_rollback(s->cat);
    pthread_mutex_unlock(&s->cat_mu);
    if (rc < 0) {
        free(trim);
        return rc;
    }

    pthread_mutex_lock(&s->mu);
    for (uint32_t i = 0; i < nsh; i++) {
        fl_shard_t *sh = log->shards[i];
        if (!sh)
            continue;
        if (sh->nspans && sh->spans[0].segno == g.segno) {
            memmove(sh->spans, sh->spans + 1, (sh->nspans - 1) * sizeof *sh->spans);
            sh->nspans--;
        }
        size_t k = 0;
        while (k < sh->nchunks && sh->chunks[k].segno == g.segno)
            k++;
        memmove(sh->chunks, sh->chunks + k, (sh->nchunks - k) * sizeof *sh->chunks);
        sh->nchunks -= k;
        if (trim[i] > sh->trim_seq)
            sh->trim_seq = trim[i];
    }
    memmove(log->segs, log->segs + 1, (log->nsegs - 1) * sizeof *log->segs);
    log->nsegs--;
    s->total_bytes -= g.size;
    s->stats.expired_segments++;
    fl_segcache_drop(s, log->id, g.segno);
    pthread_mutex_unlock(&s->mu);
    free(trim);

    /* not while a reader rebuilds this segment's index (segcache.c) */
    char path[FL_PATH_MAX];
    pthread_mutex_lock(&log->idx_mu);
    fl_segment_path(log, g.segno, path, sizeof path);
    rc = s->io.unlink(s->io.ctx, path);
    fl_index_path(log, g.segno, path, sizeof path);
    s->io.unlink(s->io.ctx, path);
    pthread_mutex_unlock(&log->idx_mu);
    if (rc == 0 || rc == -ENOENT)
        rc = fl_io_fsync_dir(&s->io, log->dir);
    fl_info("retention: log %s segment %llu (%llu bytes) removed", log->name,
            (unsigned long long)g.segno, (unsigned long long)g.size);
    return rc;
}

int fl_retention_run(fl_store_t *s)
{
    int64_t now = fl_clock_now(&s->clock);
    int rc = 0;
    for (;;) {
        fl_log_t *victim = NULL;
        pthread_mutex_lock(&s->mu);
        /* by age, per log */
        for (fl_log_t *l = s->logs; l && !victim; l = l->next) {
            if (l->deleting || !l->retention_hours || l->nsegs < 2)
                continue;
            int64_t cutoff = now - (int64_t)l->retention_hours * 3600 * 1000000000;
            if (l->segs[0].sts_max < cutoff)
                victim = l;
        }
        /* by bytes, oldest first across the data dir */
        if (!victim && s->ret_max && s->total_bytes > s->ret_max) {
            for (fl_log_t *l = s->logs; l; l = l->next) {
                if (l->deleting || l->nsegs < 2)
                    continue;
                if (!victim || l->segs[0].sts_max < victim->segs[0].sts_max)
                    victim = l;
            }
        }
        pthread_mutex_unlock(&s->mu);
        if (!victim)
            break;
        if ((rc = drop_oldest(s, victim)) < 0) {
            fl_error("retention: log %s: %s", victim->name, fl_strerror(rc));
            break;
        }
    }
    return rc;
}
