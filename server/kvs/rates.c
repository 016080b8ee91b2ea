/*
 * server/kvs/rates.c — per-stream admission state for the media APIs: the
 * PutMedia connection rate and upload rate (token buckets, limits.h) and
 * the number of open GetMedia readers, kept by stream name.
 *
 * An entry outlives the connections that use it for a while, so that a
 * producer that reconnects in a loop meets the same connection bucket:
 * entries no connection holds are dropped by fl_kvs_rates_prune() once
 * they have been idle long enough for their buckets to be full again.
 * Entries are allocated one by one (a holder keeps a pointer) in a small
 * chained hash.
 *
 * Threads (--loops): the table is shared by the loops. Holding, releasing
 * and pruning (a connection's start and end, the tick) take its lock; the
 * buckets and the reader count are atomics, so the per-chunk upload
 * charge takes no lock (limits.h).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"

#include "server/kvs/kvs.h"

#define FL_RATES_BUCKETS 256
/* an unheld entry idle this long is dropped (its buckets are full again:
 * one second refills both) */
#define FL_RATES_IDLE_NS INT64_C(2000000000)

struct fl_kvs_rates {
    pthread_mutex_t mu; /* guards b, and each entry's holders and last_ns */
    fl_stream_rate_t *b[FL_RATES_BUCKETS];
};

static unsigned hash_name(const char *s)
{
    unsigned h = 2166136261u; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h % FL_RATES_BUCKETS;
}

int fl_kvs_rates_new(fl_kvs_rates_t **out)
{
    *out = calloc(1, sizeof **out);
    if (!*out)
        return -1;
    pthread_mutex_init(&(*out)->mu, NULL);
    return 0;
}

void fl_kvs_rates_free(fl_kvs_rates_t *r)
{
    if (!r)
        return;
    for (int i = 0; i < FL_RATES_BUCKETS; i++)
        while (r->b[i]) {
            fl_stream_rate_t *e = r->b[i];
            r->b[i] = e->next;
            free(e);
        }
    pthread_mutex_destroy(&r->mu);
    free(r);
}

fl_stream_rate_t *fl_kvs_rates_hold(fl_kvs_rates_t *r, const char *name)
{
    unsigned h = hash_name(name);
    fl_stream_rate_t *e;
    pthread_mutex_lock(&r->mu);
    for (e = r->b[h]; e; e = e->next)
        if (strcmp(e->name, name) == 0)
            break;
    if (!e) {
        if (strlen(name) >= sizeof e->name || !(e = calloc(1, sizeof *e))) {
            pthread_mutex_unlock(&r->mu);
            return NULL;
        }
        strcpy(e->name, name);
        e->tab = r;
        e->next = r->b[h];
        r->b[h] = e;
    }
    e->holders++;
    e->last_ns = fl_time_mono_ns();
    pthread_mutex_unlock(&r->mu);
    return e;
}

void fl_kvs_rates_release(fl_stream_rate_t *e)
{
    if (!e)
        return;
    pthread_mutex_lock(&e->tab->mu);
    e->holders--;
    e->last_ns = fl_time_mono_ns();
    pthread_mutex_unlock(&e->tab->mu);
}

int fl_kvs_rates_reader_begin(fl_stream_rate_t *e, long max, int *open)
{
    int cur = atomic_load(&e->readers);
    do {
        if (cur >= max) {
            *open = cur;
            return FL_ELIMIT;
        }
    } while (!atomic_compare_exchange_weak(&e->readers, &cur, cur + 1));
    *open = cur + 1;
    return 0;
}

void fl_kvs_rates_reader_end(fl_stream_rate_t *e)
{
    atomic_fetch_sub(&e->readers, 1);
}

void fl_kvs_rates_prune(fl_kvs_rates_t *r, int64_t now_ns)
{
    pthread_mutex_lock(&r->mu);
    for (int i = 0; i < FL_RATES_BUCKETS; i++)
        for (fl_stream_rate_t **pe = &r->b[i]; *pe;) {
            fl_stream_rate_t *e = *pe;
            if (e->holders == 0 && now_ns - e->last_ns > FL_RATES_IDLE_NS) {
                *pe = e->next;
                free(e);
            } else {
                pe = &e->next;
            }
        }
    pthread_mutex_unlock(&r->mu);
}
