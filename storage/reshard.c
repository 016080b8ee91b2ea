/*
 * storage/reshard.c — shards as the API sees them: listing them, the shard
 * of a partition key, and resharding (split, merge).
 *
 * Resharding holds cat_mu for the whole change: the catalog gets the new
 * children and the parents' close in one transaction first, then memory
 * (under mu) shows them; a crash between the two is resolved by the
 * catalog at the next open. A parent closed here stops taking appends at
 * once and its watches wake (followers learn of the end); it stays readable
 * until retention. Child ids follow the log's last shard id. The hash-key
 * arithmetic (which key falls where, which ranges split or merge) is
 * hashrange.c's.
 *
 * Layering: calls the writer (fl_writer_notify_shard), hashrange.c and the
 * files below; the writer never calls this file.
 */
#include <stdlib.h>
#include <string.h>

#include "storage_internal.h"

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
    o->created_ns = sh->created_ns;
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
    fl_hashrange_key(key, h);
    fl_store_t *s = log->store;
    int rc = FL_ENOTFOUND;
    pthread_mutex_lock(&s->mu);
    for (uint32_t i = 0; i < log->nshards; i++) {
        fl_shard_t *sh = log->shards[i];
        if (sh && sh->open && fl_hashrange_contains(sh->hash_start, sh->hash_end, h)) {
            *shard_out = sh->id;
            rc = 0;
            break;
        }
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
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
    else
        rc = fl_hashrange_split(p->hash_start, p->hash_end, new_start, kids[0].hash_end);
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

void fl_log_uniform_range(uint32_t i, uint32_t n, uint8_t start[16], uint8_t end[16])
{
    fl_hashrange_nth(i, n, start, end);
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
        rc = fl_hashrange_merge(a->hash_start, a->hash_end, b->hash_start, b->hash_end,
                                kid.hash_start, kid.hash_end);
        kid.id = log->nshards;
        kid.parent = shard;
        kid.parent2 = adjacent;
        kid.open = 1;
        kid.created_ns = fl_clock_now(&s->clock);
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
