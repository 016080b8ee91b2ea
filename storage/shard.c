/*
 * storage/shard.c — shards: 128-bit hash-key ranges and per-shard state.
 *
 * As in Kinesis Data Streams, a partition key maps to the unsigned 128-bit
 * big-endian integer MD5(key); the open shards of a log cover [0, 2^128-1]
 * without overlap, and the shard whose inclusive range holds the hash takes
 * the record. A log created with N shards splits the space into N equal
 * ranges. Splitting closes a shard and opens two children that cover its
 * range; merging closes two adjacent shards and opens one child covering
 * both (store.c). Closed shards keep their data until retention.
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
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "storage_internal.h"

void fl_shard_hash_key(fl_slice_t key, uint8_t out[16])
{
    unsigned int n = 16;
    if (EVP_Digest(key.p ? key.p : (const uint8_t *)"", key.n, out, &n, EVP_md5(), NULL) != 1)
        memset(out, 0, 16);
}

static void u128_store(uint8_t out[16], unsigned __int128 v)
{
    for (int i = 15; i >= 0; i--) {
        out[i] = (uint8_t)v;
        v >>= 8;
    }
}

void fl_shard_range(uint32_t i, uint32_t n, uint8_t start[16], uint8_t end[16])
{
    const unsigned __int128 max = ~(unsigned __int128)0;
    unsigned __int128 step = max / n + (max % n == n - 1 ? 1 : 0); /* floor(2^128 / n) */
    u128_store(start, step * i);
    u128_store(end, i + 1 == n ? max : step * (i + 1) - 1);
}

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
