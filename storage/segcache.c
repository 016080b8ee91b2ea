/*
 * storage/segcache.c — the entries of sealed segments, loaded when a read
 * needs them, in a small cache.
 *
 * Open keeps no index entry of a sealed segment in memory: a shard knows
 * only its span in each sealed segment (sequence and time ranges, from the
 * index's summary), which is enough to pick the segment a read starts in.
 * The read then asks this cache for the segment's entries of its shard. On
 * a miss, it drops store->mu, loads the segment's whole index (index.c:
 * every entry checked, and the footer's count and CRC), and puts it here.
 * An index found damaged then is rebuilt from its segment (segment.c: valid
 * entries, then a verified scan of the rest) and rewritten with its
 * summary; the damage is logged with file and offset. The writer also puts
 * a segment's entries here when it seals it, since followers are about to
 * read them.
 *
 * The cache holds the entries of at most segcache_max segments (option
 * index_cache_segments), whole segments, least recently used out first, so
 * its memory is bounded whatever the data. A read copies the refs it needs
 * while it holds mu, so dropping an entry never invalidates a read.
 *
 * Locking: the cache is under store->mu (memory work only). Loads and
 * rebuilds run under the log's idx_mu and not under mu: idx_mu makes two
 * readers missing on the same log load one after the other (the second
 * then finds the entries cached) and keeps retention from unlinking a
 * segment while its index is being rebuilt. Order: idx_mu, then mu.
 */
#include <stdlib.h>
#include <string.h>

#include "common/diag.h"
#include "storage_internal.h"

static fl_segcache_ent_t *find(fl_store_t *s, uint64_t log_id, uint64_t segno)
{
    for (size_t i = 0; i < s->nsegcache; i++)
        if (s->segcache[i].log_id == log_id && s->segcache[i].segno == segno)
            return &s->segcache[i];
    return NULL;
}

/* The run of entries of one shard in a sorted array. */
static const fl_chunk_ref_t *run_of(const fl_chunk_ref_t *refs, size_t n, uint32_t shard,
                                    size_t *len)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (refs[mid].shard < shard)
            lo = mid + 1;
        else
            hi = mid;
    }
    size_t end = lo;
    while (end < n && refs[end].shard == shard)
        end++;
    *len = end - lo;
    return refs + lo;
}

int fl_segcache_get(fl_store_t *s, uint64_t log_id, uint64_t segno, uint32_t shard,
                    const fl_chunk_ref_t **v, size_t *n)
{
    fl_segcache_ent_t *e = find(s, log_id, segno);
    if (!e)
        return 0;
    e->used = ++s->segcache_tick;
    *v = run_of(e->refs, e->n, shard, n);
    return 1;
}

static int cmp_shard_seq(const void *a, const void *b)
{
    const fl_chunk_ref_t *x = a, *y = b;
    if (x->shard != y->shard)
        return x->shard < y->shard ? -1 : 1;
    return x->first_seq < y->first_seq ? -1 : x->first_seq > y->first_seq;
}

/* Under mu; refs sorted; the cache takes them. */
static void insert(fl_store_t *s, uint64_t log_id, uint64_t segno, fl_chunk_ref_t *refs, size_t n)
{
    fl_segcache_ent_t *e = find(s, log_id, segno);
    if (e) {
        free(e->refs);
    } else if (s->nsegcache < s->segcache_max) {
        e = &s->segcache[s->nsegcache++];
    } else {
        e = &s->segcache[0];
        for (size_t i = 1; i < s->nsegcache; i++)
            if (s->segcache[i].used < e->used)
                e = &s->segcache[i];
        free(e->refs);
    }
    e->log_id = log_id;
    e->segno = segno;
    e->refs = refs;
    e->n = n;
    e->used = ++s->segcache_tick;
}

void fl_segcache_put(fl_store_t *s, uint64_t log_id, uint64_t segno, fl_chunk_ref_t *refs, size_t n)
{
    qsort(refs, n, sizeof *refs, cmp_shard_seq);
    pthread_mutex_lock(&s->mu);
    insert(s, log_id, segno, refs, n);
    pthread_mutex_unlock(&s->mu);
}

void fl_segcache_drop(fl_store_t *s, uint64_t log_id, uint64_t segno)
{
    for (size_t i = 0; i < s->nsegcache;) {
        fl_segcache_ent_t *e = &s->segcache[i];
        if (e->log_id == log_id && (segno == UINT64_MAX || e->segno == segno)) {
            free(e->refs);
            *e = s->segcache[--s->nsegcache];
        } else {
            i++;
        }
    }
}

void fl_segcache_free(fl_store_t *s)
{
    for (size_t i = 0; i < s->nsegcache; i++)
        free(s->segcache[i].refs);
    free(s->segcache);
    s->segcache = NULL;
    s->nsegcache = 0;
}

static int seg_listed(const fl_log_t *log, uint64_t segno)
{
    size_t i = fl_segno_lower_bound(log->segs, log->nsegs, sizeof log->segs[0], segno);
    return i < log->nsegs && log->segs[i].segno == segno;
}

/* Under mu: a malloc'd copy of the shard's run, if the segment is cached. */
static int copy_run(fl_store_t *s, uint64_t log_id, uint64_t segno, uint32_t shard,
                    fl_chunk_ref_t **out, size_t *n)
{
    const fl_chunk_ref_t *v;
    size_t len;
    if (!fl_segcache_get(s, log_id, segno, shard, &v, &len))
        return 0;
    *out = malloc((len ? len : 1) * sizeof **out);
    if (!*out)
        return FL_ENOMEM;
    if (len)
        memcpy(*out, v, len * sizeof *v);
    *n = len;
    return 1;
}

int fl_segcache_load(fl_log_t *log, uint64_t segno, uint32_t shard, fl_chunk_ref_t **shard_copy,
                     size_t *n_copy)
{
    fl_store_t *s = log->store;
    fl_chunk_ref_t *refs = NULL, *copy = NULL;
    size_t n = 0, ncopy = 0;
    int rc, rebuilt = 0;
    pthread_mutex_lock(&log->idx_mu);
    pthread_mutex_lock(&s->mu);
    rc = seg_listed(log, segno) ? copy_run(s, log->id, segno, shard, &copy, &ncopy) : FL_EEXPIRED;
    pthread_mutex_unlock(&s->mu);
    if (rc != 0) /* cached (1), gone or out of memory */
        goto out;
    rc = fl_index_load_sealed(log, segno, &refs, &n);
    if (rc == FL_ECORRUPT || rc == FL_ENOTFOUND) {
        uint64_t size;
        rebuilt = 1;
        rc = fl_segment_recover(log, segno, 0, &refs, &n, &size);
        if (rc == 0)
            fl_warn("log %s: index of segment %llu rebuilt from the segment (%zu chunks)",
                    log->name, (unsigned long long)segno, n);
        else
            fl_error("log %s: index of segment %llu cannot be rebuilt: %s", log->name,
                     (unsigned long long)segno, fl_strerror(rc));
    }
    if (rc < 0)
        goto out;
    qsort(refs, n, sizeof *refs, cmp_shard_seq);
    size_t len;
    const fl_chunk_ref_t *v = run_of(refs, n, shard, &len);
    copy = malloc((len ? len : 1) * sizeof *copy);
    if (!copy) {
        free(refs);
        rc = FL_ENOMEM;
        goto out;
    }
    if (len)
        memcpy(copy, v, len * sizeof *v);
    ncopy = len;
    pthread_mutex_lock(&s->mu);
    s->stats.index_loads += !rebuilt;
    s->stats.index_rebuilds += rebuilt;
    s->stats.index_entries_read += n;
    insert(s, log->id, segno, refs, n);
    pthread_mutex_unlock(&s->mu);
out:
    pthread_mutex_unlock(&log->idx_mu);
    if (rc == 1)
        rc = 0;
    if (rc < 0) {
        free(copy);
        return rc == -ENOENT ? FL_EEXPIRED : rc;
    }
    if (shard_copy) {
        *shard_copy = copy;
        *n_copy = ncopy;
    } else {
        free(copy);
    }
    return 0;
}
