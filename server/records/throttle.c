/*
 * server/records/throttle.c — Kinesis Data Streams' per-shard rates, and
 * the per-stream counters of /metrics.
 *
 * Each shard in use has token buckets, as Kinesis meters a shard: in,
 * FL_RECORDS_IN_BYTES_S bytes and FL_RECORDS_IN_RECORDS_S records a
 * second (a record that finds either bucket short is refused alone with
 * ProvisionedThroughputExceededException); out, FL_RECORDS_GETS_S
 * GetRecords calls a second, and FL_RECORDS_OUT_BYTES_S bytes a second
 * where one call may take up to 10 MiB and leave the bucket in debt (the
 * next calls are refused until it refills, as Kinesis refuses calls for
 * the seconds after a large read). A bucket holds at most one second of
 * its rate (out bytes: one call's worth), so a shard bursts at most that.
 * `--records-throttle 0` turns every rate off (a single-tenant box).
 *
 * Buckets live in a hash table by (log id, shard), made on first use and
 * dropped by the tick once full and idle: memory follows the shards in
 * use, not the shards that exist. Per-stream counters are a list by name,
 * dropped when the stream is deleted.
 *
 * Every loop calls in: each call holds rs->throttle_mu (a few hundred
 * nanoseconds, once per record call); a stream's counters are atomics,
 * and a deleted stream's stay allocated until the end. Tokens are integers in units of 1/10^9 of a
 * token (refill = rate × elapsed ns, exactly), never floating point.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "server/records/records.h"

#define NANO      1000000000LL
#define BUCKETS   1024 /* hash table width */
#define IDLE_DROP (10 * NANO)

enum { T_IN_BYTES, T_IN_RECS, T_GETS, T_OUT_BYTES, T_N };

static const int64_t rate[T_N] = {FL_RECORDS_IN_BYTES_S, FL_RECORDS_IN_RECORDS_S, FL_RECORDS_GETS_S,
                                  FL_RECORDS_OUT_BYTES_S};
static const int64_t cap[T_N] = {FL_RECORDS_IN_BYTES_S, FL_RECORDS_IN_RECORDS_S, FL_RECORDS_GETS_S,
                                 FL_RECORDS_GET_BYTES};

struct fl_rec_bucket {
    struct fl_rec_bucket *next;
    uint64_t log_id;
    uint32_t shard;
    int64_t tokens[T_N]; /* in 1e-9 tokens; out bytes may be negative */
    int64_t last_ns;     /* of the last refill */
    int64_t used_ns;     /* of the last use */
};

static size_t slot(uint64_t log_id, uint32_t shard)
{
    uint64_t h = (log_id * 0x9E3779B97F4A7C15ull) ^ (shard * 0xC2B2AE3D27D4EB4Full);
    return (size_t)(h >> 32) % BUCKETS;
}

static void refill(fl_rec_bucket_t *b, int64_t now)
{
    int64_t dt = now - b->last_ns;
    if (dt <= 0)
        return;
    for (int i = 0; i < T_N; i++) {
        __int128 t = (__int128)b->tokens[i] + (__int128)rate[i] * dt;
        __int128 full = (__int128)cap[i] * NANO;
        b->tokens[i] = (int64_t)(t > full ? full : t);
    }
    b->last_ns = now;
}

static fl_rec_bucket_t *bucket(fl_records_t *rs, uint64_t log_id, uint32_t shard)
{
    if (!rs->buckets && !(rs->buckets = calloc(BUCKETS, sizeof *rs->buckets)))
        return NULL;
    int64_t now = fl_time_mono_ns();
    size_t k = slot(log_id, shard);
    fl_rec_bucket_t *b = rs->buckets[k];
    while (b && (b->log_id != log_id || b->shard != shard))
        b = b->next;
    if (!b) {
        if (!(b = calloc(1, sizeof *b)))
            return NULL;
        b->log_id = log_id;
        b->shard = shard;
        for (int i = 0; i < T_N; i++)
            b->tokens[i] = cap[i] * NANO;
        b->last_ns = now;
        b->next = rs->buckets[k];
        rs->buckets[k] = b;
    }
    refill(b, now);
    b->used_ns = now;
    return b;
}

static int throttle_put(fl_records_t *rs, uint64_t log_id, uint32_t shard, size_t bytes)
{
    if (!rs->throttle)
        return 0;
    fl_rec_bucket_t *b = bucket(rs, log_id, shard);
    if (!b)
        return 0; /* out of memory: not metered rather than refused */
    int64_t need = (int64_t)bytes * NANO;
    if (b->tokens[T_IN_BYTES] < need || b->tokens[T_IN_RECS] < NANO) {
        rs->throttled_put++;
        return -1;
    }
    b->tokens[T_IN_BYTES] -= need;
    b->tokens[T_IN_RECS] -= NANO;
    return 0;
}

static int throttle_get(fl_records_t *rs, uint64_t log_id, uint32_t shard)
{
    if (!rs->throttle)
        return 0;
    fl_rec_bucket_t *b = bucket(rs, log_id, shard);
    if (!b)
        return 0;
    if (b->tokens[T_GETS] < NANO || b->tokens[T_OUT_BYTES] < 0) {
        rs->throttled_get++;
        return -1;
    }
    b->tokens[T_GETS] -= NANO;
    return 0;
}

int fl_rec_throttle_put(fl_records_t *rs, uint64_t log_id, uint32_t shard, size_t bytes)
{
    if (!rs->throttle) /* set at start only: no lock per record when off */
        return 0;
    pthread_mutex_lock(&rs->throttle_mu);
    int rc = throttle_put(rs, log_id, shard, bytes);
    pthread_mutex_unlock(&rs->throttle_mu);
    return rc;
}

int fl_rec_throttle_move(fl_records_t *rs, uint64_t log_id, uint32_t from, uint32_t to,
                         size_t bytes)
{
    if (!rs->throttle)
        return 0;
    pthread_mutex_lock(&rs->throttle_mu);
    fl_rec_bucket_t *b = bucket(rs, log_id, from);
    if (b) { /* its share back, within a bucket's size */
        b->tokens[T_IN_BYTES] += (int64_t)bytes * NANO;
        b->tokens[T_IN_RECS] += NANO;
        for (int i = T_IN_BYTES; i <= T_IN_RECS; i++)
            if (b->tokens[i] > cap[i] * NANO)
                b->tokens[i] = cap[i] * NANO;
    }
    int rc = throttle_put(rs, log_id, to, bytes);
    pthread_mutex_unlock(&rs->throttle_mu);
    return rc;
}

int fl_rec_throttle_get(fl_records_t *rs, uint64_t log_id, uint32_t shard)
{
    if (!rs->throttle)
        return 0;
    pthread_mutex_lock(&rs->throttle_mu);
    int rc = throttle_get(rs, log_id, shard);
    pthread_mutex_unlock(&rs->throttle_mu);
    return rc;
}

void fl_rec_throttle_out(fl_records_t *rs, uint64_t log_id, uint32_t shard, size_t bytes)
{
    if (!rs->throttle)
        return;
    pthread_mutex_lock(&rs->throttle_mu);
    fl_rec_bucket_t *b = bucket(rs, log_id, shard);
    if (b)
        b->tokens[T_OUT_BYTES] -= (int64_t)bytes * NANO;
    pthread_mutex_unlock(&rs->throttle_mu);
}

void fl_rec_throttle_tick(fl_records_t *rs)
{
    pthread_mutex_lock(&rs->throttle_mu);
    if (!rs->buckets) {
        pthread_mutex_unlock(&rs->throttle_mu);
        return;
    }
    int64_t now = fl_time_mono_ns();
    for (size_t k = 0; k < BUCKETS; k++) {
        for (fl_rec_bucket_t **p = &rs->buckets[k]; *p;) {
            fl_rec_bucket_t *b = *p;
            if (now - b->used_ns > IDLE_DROP) { /* idle 10 s: full again anyway */
                *p = b->next;
                free(b);
            } else {
                p = &b->next;
            }
        }
    }
    pthread_mutex_unlock(&rs->throttle_mu);
}

void fl_rec_throttle_free(fl_records_t *rs)
{
    if (rs->buckets) {
        for (size_t k = 0; k < BUCKETS; k++)
            while (rs->buckets[k]) {
                fl_rec_bucket_t *b = rs->buckets[k];
                rs->buckets[k] = b->next;
                free(b);
            }
        free(rs->buckets);
        rs->buckets = NULL;
    }
    while (rs->counters) {
        fl_rec_counters_t *c = rs->counters;
        rs->counters = c->next;
        free(c);
    }
    while (rs->dropped) {
        fl_rec_counters_t *c = rs->dropped;
        rs->dropped = c->next;
        free(c);
    }
}

fl_rec_counters_t *fl_rec_counters(fl_records_t *rs, const char *name)
{
    pthread_mutex_lock(&rs->throttle_mu);
    fl_rec_counters_t *c = rs->counters;
    for (; c; c = c->next)
        if (strcmp(c->name, name) == 0)
            break;
    if (!c && (c = calloc(1, sizeof *c)) != NULL) {
        snprintf(c->name, sizeof c->name, "%s", name);
        c->next = rs->counters;
        rs->counters = c;
    }
    pthread_mutex_unlock(&rs->throttle_mu);
    return c;
}

void fl_rec_counters_drop(fl_records_t *rs, const char *name)
{
    pthread_mutex_lock(&rs->throttle_mu);
    for (fl_rec_counters_t **p = &rs->counters; *p; p = &(*p)->next)
        if (strcmp((*p)->name, name) == 0) {
            fl_rec_counters_t *c = *p;
            *p = c->next;
            c->next = rs->dropped; /* another loop may be counting on it */
            rs->dropped = c;
            break;
        }
    pthread_mutex_unlock(&rs->throttle_mu);
}
