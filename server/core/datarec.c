/*
 * server/core/datarec.c — see datarec.h. The observer list lives in the
 * server object (server_internal.h), written at start only.
 */
#include "server/core/datarec.h"

#include <stdio.h>
#include <string.h>

#include "common/error.h"
#include "server/core/server_internal.h"

void fl_datarec_log_name(const char *stream, char *buf, size_t cap)
{
    snprintf(buf, cap, "d/%s", stream);
}

int fl_datarec_observe(struct fl_server *s, fl_datarec_observer_fn fn, void *data)
{
    fl_datarec_observers_t *o = &s->datarec;
    if (o->n >= FL_DATAREC_MAX_OBSERVERS)
        return FL_ELIMIT;
    o->fn[o->n] = fn;
    o->data[o->n] = data;
    o->n++;
    return 0;
}

void fl_datarec_unobserve(struct fl_server *s, fl_datarec_observer_fn fn, void *data)
{
    fl_datarec_observers_t *o = &s->datarec;
    int k = 0;
    for (int i = 0; i < o->n; i++) {
        if (o->fn[i] == fn && o->data[i] == data)
            continue;
        o->fn[k] = o->fn[i];
        o->data[k] = o->data[i];
        k++;
    }
    o->n = k;
}

static int append(const struct fl_server *s, fl_log_t *log, const char *stream, uint32_t shard,
                  fl_slice_t key, fl_slice_t data, int64_t producer_ns, void (*release)(void *),
                  void *arg, struct fl_completion *done, uint64_t *seq_out)
{
    fl_log_record_t rec;
    memset(&rec, 0, sizeof rec);
    rec.producer_ts_ns = producer_ns;
    rec.key = key;
    rec.payload = data;
    int rc = release ? fl_log_append_nocopy(log, shard, &rec, release, arg, done, seq_out)
                     : fl_log_append(log, shard, &rec, done, seq_out);
    if (rc)
        return rc;
    fl_datarec_t r = {.stream = stream,
                      .shard = shard,
                      .seq = *seq_out,
                      .key = key,
                      .data = data,
                      .producer_ns = producer_ns};
    for (int i = 0; i < s->datarec.n; i++)
        s->datarec.fn[i](s->datarec.data[i], &r);
    return 0;
}

int fl_datarec_append(const struct fl_server *s, fl_log_t *log, const char *stream, uint32_t shard,
                      fl_slice_t key, fl_slice_t data, int64_t producer_ns,
                      struct fl_completion *done, uint64_t *seq_out)
{
    return append(s, log, stream, shard, key, data, producer_ns, NULL, NULL, done, seq_out);
}

int fl_datarec_append_nocopy(const struct fl_server *s, fl_log_t *log, const char *stream,
                             uint32_t shard, fl_slice_t key, fl_slice_t data, int64_t producer_ns,
                             void (*release)(void *arg), void *arg, struct fl_completion *done,
                             uint64_t *seq_out)
{
    if (!release)
        return FL_EINVAL;
    return append(s, log, stream, shard, key, data, producer_ns, release, arg, done, seq_out);
}
