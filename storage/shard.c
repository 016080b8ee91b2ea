/*
 * storage/shard.c — a shard's in-memory state: what it holds and where.
 *
 * A shard owns a range of the 128-bit hash-key space (hashrange.c has the
 * arithmetic); splitting closes a shard and opens two children that cover
 * its range, merging closes two adjacent shards and opens one child
 * covering both (reshard.c). Closed shards keep their data until
 * retention.
 *
 * In memory a shard keeps, in sequence order: one span per sealed segment
 * that holds some of its chunks (what that segment's index summary says of
 * the shard: sequence and time ranges), then the chunk refs of the active
 * segment (what its index entries say), appended by the writer thread after
 * each fdatasync. At seal the writer turns the active segment's chunks into
 * a span; retention removes spans from the front; both under store->mu. So
 * a shard's memory grows with segments, not chunks: the entries of sealed
 * segments are loaded when a read needs them (segcache.c).
 */
#include <stdlib.h>
#include <string.h>

#include "storage_internal.h"

fl_shard_t *fl_shard_new(const fl_cat_shard_t *row, uint64_t next_seq)
{
    fl_shard_t *sh = calloc(1, sizeof *sh);
    if (!sh)
        return NULL;
    sh->id = row->id;
    memcpy(sh->hash_start, row->hash_start, 16);
    memcpy(sh->hash_end, row->hash_end, 16);
    sh->parent = row->parent;
    sh->parent2 = row->parent2;
    sh->open = row->open;
    sh->created_ns = row->created_ns;
    sh->trim_seq = row->trim_seq;
    sh->next_seq = next_seq;
    return sh;
}

void fl_shard_free(fl_shard_t *sh)
{
    if (!sh)
        return;
    free(sh->spans);
    free(sh->chunks);
    free(sh);
}

int fl_shard_add_chunk(fl_shard_t *sh, const fl_chunk_ref_t *r)
{
    if (sh->nchunks == sh->capchunks) {
        size_t nc = sh->capchunks ? sh->capchunks * 2 : 64;
        fl_chunk_ref_t *v = realloc(sh->chunks, nc * sizeof *v);
        if (!v)
            return FL_ENOMEM;
        sh->chunks = v;
        sh->capchunks = nc;
    }
    sh->chunks[sh->nchunks++] = *r;
    uint64_t end = r->first_seq + r->count;
    if (end > sh->durable_next)
        sh->durable_next = end;
    if (r->sts_max > sh->last_sts)
        sh->last_sts = r->sts_max;
    if (r->pts_max > sh->max_pts)
        sh->max_pts = r->pts_max;
    return 0;
}

int fl_shard_add_span(fl_shard_t *sh, const fl_span_t *sp)
{
    if (sh->nspans == sh->capspans) {
        size_t nc = sh->capspans ? sh->capspans * 2 : 16;
        fl_span_t *v = realloc(sh->spans, nc * sizeof *v);
        if (!v)
            return FL_ENOMEM;
        sh->spans = v;
        sh->capspans = nc;
    }
    sh->spans[sh->nspans++] = *sp;
    if (sp->end_seq > sh->durable_next)
        sh->durable_next = sp->end_seq;
    if (sp->sts_max > sh->last_sts)
        sh->last_sts = sp->sts_max;
    if (sp->pts_max > sh->max_pts)
        sh->max_pts = sp->pts_max;
    return 0;
}

int fl_shard_first(const fl_shard_t *sh, uint64_t *seq, int64_t *sts_min, int64_t *pts_min)
{
    if (sh->nspans) {
        *seq = sh->spans[0].first_seq;
        *sts_min = sh->spans[0].sts_min;
        *pts_min = sh->spans[0].pts_min;
        return 0;
    }
    if (sh->nchunks) {
        *seq = sh->chunks[0].first_seq;
        *sts_min = sh->chunks[0].sts_min;
        *pts_min = sh->chunks[0].pts_min;
        return 0;
    }
    return FL_ENOTFOUND;
}
