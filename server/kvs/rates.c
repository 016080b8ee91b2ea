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
 * chained hash. Loop thread only, like the rest of the kvs module.
 */
#include <stdlib.h>
#include <string.h>

#include "server/kvs/kvs.h"

#define FL_RATES_BUCKETS 256
/* an unheld entry idle this long is dropped (its buckets are full again:
 * one second refills both) */
#define FL_RATES_IDLE_NS INT64_C(2000000000)

struct fl_kvs_rates {
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
    return *out ? 0 : -1;
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
    free(r);
}

fl_stream_rate_t *fl_kvs_rates_hold(fl_kvs_rates_t *r, const char *name)
{
    unsigned h = hash_name(name);
    fl_stream_rate_t *e;
    for (e = r->b[h]; e; e = e->next)
        if (strcmp(e->name, name) == 0)
            break;
    if (!e) {
        if (strlen(name) >= sizeof e->name || !(e = calloc(1, sizeof *e)))
            return NULL;
        strcpy(e->name, name);
        e->next = r->b[h];
        r->b[h] = e;
    }
    e->holders++;
    e->last_ns = fl_time_mono_ns();
    return e;
}

void fl_kvs_rates_release(fl_stream_rate_t *e)
{
    if (!e)
        return;
    e->holders--;
    e->last_ns = fl_time_mono_ns();
}

void fl_kvs_rates_prune(fl_kvs_rates_t *r, int64_t now_ns)
{
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
}
