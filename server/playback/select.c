/*
 * server/playback/select.c — which stored fragments a session plays, read
 * from the stream's log on a worker thread (storage reads decrypt).
 *
 *   ON_DEMAND    the fragments whose session timestamp lies in
 *                [start, end], oldest first, at most MaxMediaPlaylist-
 *                FragmentResults; the playlist is complete (#EXT-X-ENDLIST).
 *   LIVE_REPLAY  from start on, paced by the wall clock since the session
 *                was issued (a fragment is listed once the replay clock,
 *                start + time since issue, reaches it); a sliding window of
 *                the newest ones; complete once past the end, if it has one.
 *   LIVE         the newest durable fragments: a sliding window.
 *
 * Fragments come in sequence order, which is also server- and producer-
 * time order (PutMedia refuses timecodes that go back). A fragment removed
 * by retention or damaged on disk is passed over, as ListFragments does.
 * Nothing here is remembered between calls: the session is the token.
 */
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "server/playback/playback.h"
#include "server/video/fragment.h"

/* A fragment lasts at most 20 s (PutMedia's 4002), so the newest `max`
 * fragments before a time start no earlier than max * 20 s before it. */
#define MAX_FRAGMENT_NS (20LL * 1000000000)

int64_t fl_pb_ts(const fl_pb_session_t *s, const fl_log_record_t *rec)
{
    return s->selector == FL_PB_PRODUCER_TS ? rec->producer_ts_ns : rec->server_ts_ns;
}

int64_t fl_pb_shift(const fl_pb_session_t *s, const fl_log_record_t *rec)
{
    return s->selector == FL_PB_PRODUCER_TS ? 0 : rec->server_ts_ns - rec->producer_ts_ns;
}

int fl_pb_in_range(const fl_pb_session_t *s, const fl_log_record_t *rec)
{
    int64_t ts = fl_pb_ts(s, rec);
    if (s->has_start && ts < s->start_ns)
        return 0;
    if (s->has_end && ts > s->end_ns)
        return 0;
    return 1;
}

static fl_log_from_t from_of(const fl_pb_session_t *s)
{
    return s->selector == FL_PB_PRODUCER_TS ? FL_LOG_AT_PRODUCER_TS : FL_LOG_AT_SERVER_TS;
}

/* Read the first batch at o (moving past expired or damaged data). */
static int read_at(fl_log_t *log, fl_log_read_opts_t *o, fl_log_batch_t *b)
{
    for (int tries = 0; tries < 64; tries++) {
        int rc = fl_log_read(log, 0, o, b);
        if (rc != FL_EEXPIRED && rc != FL_ECORRUPT)
            return rc;
        if (b->next_seq == 0 || (o->from == FL_LOG_AT_SEQ && b->next_seq <= o->seq))
            return FL_ENOTFOUND;
        o->from = FL_LOG_AT_SEQ;
        o->seq = b->next_seq;
    }
    return FL_ENOTFOUND;
}

int fl_pb_read_seq(fl_log_t *log, uint64_t seq, fl_log_batch_t *batch, const fl_log_record_t **rec)
{
    fl_log_read_opts_t o;
    memset(&o, 0, sizeof o);
    o.from = FL_LOG_AT_SEQ;
    o.seq = seq;
    o.max_records = 1;
    int rc = fl_log_read(log, 0, &o, batch);
    if (rc == FL_EAGAIN || rc == FL_EEOF || rc == FL_ECORRUPT)
        return FL_ENOTFOUND;
    if (rc)
        return rc;
    if (batch->count == 0 || batch->records[0].seq != seq)
        return FL_ENOTFOUND;
    *rec = &batch->records[0];
    return 0;
}

/* The sequence number to start from to find the newest `back` fragments
 * (seqs count up by one within a store epoch; across one, fewer are
 * found, which a restart's discontinuity makes harmless). */
static int newest_from(fl_log_t *log, uint64_t back, uint64_t *seq)
{
    fl_log_shard_info_t *sh = NULL;
    size_t n = 0;
    int rc = fl_log_shards(log, &sh, &n);
    if (rc)
        return rc;
    if (n == 0) {
        free(sh);
        return FL_ENOTFOUND;
    }
    uint64_t next = sh[0].next_seq, first = sh[0].first_seq;
    free(sh);
    *seq = next > back ? next - back : 0;
    if (*seq < first)
        *seq = first;
    return 0;
}

int fl_pb_first(fl_log_t *log, const fl_pb_session_t *s, int64_t now_ms, int64_t live_window_ms,
                fl_log_batch_t *batch, const fl_log_record_t **rec)
{
    fl_log_read_opts_t o;
    memset(&o, 0, sizeof o);
    if (s->mode != FL_PB_LIVE) {
        o.from = from_of(s);
        o.ts_ns = s->start_ns;
        o.max_records = 1;
        int rc = read_at(log, &o, batch);
        if (rc == FL_EAGAIN || rc == FL_EEOF)
            return FL_ENOTFOUND;
        if (rc)
            return rc;
        if (!fl_pb_in_range(s, &batch->records[0]))
            return FL_ENOTFOUND;
        *rec = &batch->records[0];
        return 0;
    }
    /* LIVE: the newest durable fragment */
    uint64_t seq, last = 0;
    int found = 0;
    int rc = newest_from(log, 8, &seq);
    if (rc)
        return rc;
    o.from = FL_LOG_AT_SEQ;
    o.seq = seq;
    o.max_records = 16;
    for (;;) {
        rc = read_at(log, &o, batch);
        if (rc == FL_EAGAIN || rc == FL_EEOF || rc == FL_ENOTFOUND)
            break;
        if (rc)
            return rc;
        last = batch->records[batch->count - 1].seq;
        found = 1;
        o.from = FL_LOG_AT_SEQ;
        o.seq = batch->next_seq;
    }
    if (!found)
        return FL_ENOTFOUND;
    rc = fl_pb_read_seq(log, last, batch, rec);
    if (rc)
        return rc;
    if (live_window_ms > 0 && (*rec)->server_ts_ns < (now_ms - live_window_ms) * 1000000)
        return FL_ENOTFOUND;
    return 0;
}

/* A window of the newest `max` entries, kept as a ring. */
typedef struct {
    fl_pb_entry_t *v;
    size_t max, count; /* count: entries seen; the ring holds min(count, max) */
} ring_t;

static void ring_put(ring_t *r, const fl_pb_entry_t *e)
{
    r->v[r->count % r->max] = *e;
    r->count++;
}

/* The ring's entries oldest first, moved to the front of r->v. */
static size_t ring_flatten(ring_t *r)
{
    if (r->count <= r->max)
        return r->count;
    size_t head = r->count % r->max;
    fl_pb_entry_t *t = malloc(r->max * sizeof *t);
    if (t) {
        memcpy(t, r->v + head, (r->max - head) * sizeof *t);
        memcpy(t + (r->max - head), r->v, head * sizeof *t);
        memcpy(r->v, t, r->max * sizeof *t);
        free(t);
    } else { /* rotate in place, one step at a time (rare: out of memory) */
        for (size_t k = 0; k < head; k++) {
            fl_pb_entry_t x = r->v[0];
            memmove(r->v, r->v + 1, (r->max - 1) * sizeof *r->v);
            r->v[r->max - 1] = x;
        }
    }
    return r->max;
}

static uint64_t fnv1a(fl_slice_t s)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < s.n; i++) {
        h ^= s.p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static void entry_of(const fl_pb_session_t *s, const fl_log_record_t *rec, fl_pb_entry_t *e)
{
    fl_fragment_t f;
    memset(e, 0, sizeof *e);
    e->seq = rec->seq;
    e->ts_ns = fl_pb_ts(s, rec);
    e->producer_ns = rec->producer_ts_ns;
    e->server_ns = rec->server_ts_ns;
    e->bytes = rec->payload.n;
    if (fl_fragment_decode(rec->payload, &f) == 0) {
        e->duration_ms = f.duration_ms;
        e->tracks_hash = fnv1a(f.tracks);
    }
}

unsigned fl_pb_list_max(const fl_pb_session_t *s)
{
    return s->max_fragments ? s->max_fragments : 5;
}

/* fl_pb_select, and for LIVE from an earlier list prev (n_prev entries,
 * or none) when it reaches into the newest fragments: only those after it
 * are read. */
static int select_from(fl_log_t *log, const fl_pb_session_t *s, int64_t now_ms,
                       const fl_pb_entry_t *prev, size_t n_prev, fl_pb_entry_t **v, size_t *n,
                       int *ended)
{
    ring_t ring = {.max = fl_pb_list_max(s)};
    *v = NULL;
    *n = 0;
    *ended = 0;
    ring.v = malloc(ring.max * sizeof *ring.v);
    if (!ring.v)
        return FL_ENOMEM;
    fl_log_read_opts_t o;
    memset(&o, 0, sizeof o);
    o.max_records = 16;
    o.max_bytes = 32u << 20;
    int64_t clock_ns = INT64_MAX; /* LIVE_REPLAY: how far the replay has come */
    int paced = 0;                /* LIVE_REPLAY: stopped at a fragment the clock has not reached */
    int rc = 0;
    if (s->mode == FL_PB_LIVE) {
        uint64_t seq = 0;
        rc = newest_from(log, ring.max + 4, &seq);
        o.from = FL_LOG_AT_SEQ;
        o.seq = seq;
        if (rc == FL_ENOTFOUND) { /* no shard: nothing to list */
            *v = ring.v;
            return 0;
        }
        if (rc == 0 && n_prev && prev[n_prev - 1].seq + 1 >= seq) {
            for (size_t i = 0; i < n_prev; i++)
                ring_put(&ring, &prev[i]);
            o.seq = prev[n_prev - 1].seq + 1;
        }
    } else {
        o.from = from_of(s);
        o.ts_ns = s->start_ns;
        if (s->mode == FL_PB_LIVE_REPLAY) {
            int64_t since = now_ms - s->issued_ms;
            clock_ns = s->start_ns + (since > 0 ? since : 0) * 1000000;
            int64_t from = clock_ns - (int64_t)ring.max * MAX_FRAGMENT_NS;
            if (from > o.ts_ns)
                o.ts_ns = from;
        }
    }
    fl_log_batch_t b;
    memset(&b, 0, sizeof b);
    while (rc == 0) {
        rc = read_at(log, &o, &b);
        if (rc == FL_EAGAIN || rc == FL_EEOF || rc == FL_ENOTFOUND) {
            rc = 0;
            break;
        }
        if (rc)
            break;
        int stop = 0;
        for (size_t i = 0; i < b.count && !stop; i++) {
            const fl_log_record_t *rec = &b.records[i];
            int64_t ts = fl_pb_ts(s, rec);
            if (s->has_end && ts > s->end_ns) {
                *ended = 1;
                stop = 1;
            } else if (s->mode == FL_PB_LIVE_REPLAY && ts > clock_ns && ring.count > 0) {
                stop = paced = 1;
            } else {
                fl_pb_entry_t e;
                entry_of(s, rec, &e);
                ring_put(&ring, &e);
                if (s->mode == FL_PB_ON_DEMAND && ring.count == ring.max)
                    stop = 1;
            }
        }
        if (stop)
            break;
        o.from = FL_LOG_AT_SEQ;
        o.seq = b.next_seq;
    }
    fl_log_batch_free(&b);
    if (rc) {
        free(ring.v);
        return rc;
    }
    if (s->mode == FL_PB_ON_DEMAND)
        *ended = 1;
    /* a replay whose clock is past its end has listed all there is of it */
    if (s->mode == FL_PB_LIVE_REPLAY && s->has_end && clock_ns > s->end_ns && !paced)
        *ended = 1;
    *n = ring_flatten(&ring);
    *v = ring.v;
    return 0;
}

int fl_pb_select(fl_log_t *log, const fl_pb_session_t *s, int64_t now_ms, fl_pb_entry_t **v,
                 size_t *n, int *ended)
{
    return select_from(log, s, now_ms, NULL, 0, v, n, ended);
}

int fl_pb_select_after(fl_log_t *log, const fl_pb_session_t *s, const fl_pb_entry_t *prev,
                       size_t n_prev, fl_pb_entry_t **v, size_t *n)
{
    int ended = 0;
    *v = NULL;
    *n = 0;
    if (s->mode != FL_PB_LIVE || n_prev == 0)
        return FL_EINVAL;
    return select_from(log, s, 0, prev, n_prev, v, n, &ended);
}
