/*
 * server/kvs/api_putmedia.c — PutMedia, two ways, one pipeline:
 *
 *   HTTP       `POST /putMedia` with the x-amzn-* headers and a (usually
 *              chunked) Matroska body; the ack stream goes back on the same
 *              response while the body streams, chunked, one ack (a JSON
 *              object and a newline) per chunk, each chunk in its own write.
 *   WebSocket  an upgrade on `/putMedia` with subprotocol
 *              "framelog-putmedia-v1" and the same headers (or query
 *              parameters StreamName, FragmentTimecodeType,
 *              ProducerStartTimestamp); binary messages carry the Matroska
 *              byte stream, a text message (or an empty binary one) ends
 *              it cleanly, and each ack comes back as one text message.
 *
 * A session's life (both transports):
 *   start      headers checked, stream found, the stream's hub entry taken
 *              (one producer per stream: the newest connection wins); if
 *              nobody loaded the stream's recent fragments (hub.h) yet, a
 *              worker reads them while the body waits (held, not read)
 *   bytes      -> ingest session (server/ingest.c): BUFFERING/RECEIVED
 *              acks, frames into the stream's live tail, each complete
 *              fragment appended to storage
 *   completion storage says a fragment is durable -> PERSISTED (or ERROR
 *              5001); completions reach the loop through the store's
 *              completion fd (server.c) and find the session through a
 *              shared "sink" that outlives the connection
 *   idle       no ack for FL_PUTMEDIA_IDLE_MS -> {"EventType":"IDLE"}
 *   end        the body ended cleanly and every fragment is acked
 *              PERSISTED -> the response ends and the connection closes; an
 *              ERROR ack ends it too, as the last ack (the fragments before
 *              it are acked first); a broken connection drops the fragment
 *              it was in, never half-storing it
 * Resends: a fragment the stream holds already (by producer timecode, in
 * the hub's map of recent fragments, never by reading storage on the loop)
 * is acked again; if its first append is still in flight, its PERSISTED
 * waits for that append's completion.
 * Back-pressure: past FL_PUTMEDIA_MAX_PENDING fragments not yet durable,
 * the connection stops reading (lws_rx_flow_control) until completions
 * come back.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/diag.h"
#include "common/error.h"
#include "server/core/chunked.h"
#include "server/kvs/kvs.h"
#include "server/video/fragment.h"
#include "server/video/hub.h"
#include "server/video/ingest.h"
#include "server/video/validate.h"

#define FL_PUTMEDIA_IDLE_MS     3000
#define FL_PUTMEDIA_MAX_PENDING 8

typedef struct putmedia putmedia_t;

/* Shared by a session and its fragments in flight: the connection may go
 * before storage completes them. */
typedef struct {
    int refs;
    putmedia_t *pm; /* NULL once the connection is gone */
} sink_t;

typedef struct {
    fl_completion_t base; /* first: the store's completion dispatch */
    sink_t *sink;
    fl_video_t *video;
    fl_hub_entry_t *hub; /* held: the live tail learns the fragment is durable */
    int64_t timecode;
    uint64_t seq;        /* the number the live tail knows it by */
    int64_t received_ns; /* monotonic, when RECEIVED went out */
    char number[FL_FRAGMENT_NUMBER_CAP];
} pending_frag_t;

/* A resend's PERSISTED, waiting for the original's append to complete. */
typedef struct {
    uint64_t seq;
    fl_ack_t ack;
} resend_wait_t;

struct putmedia {
    struct lws *wsi;
    fl_kvs_t *kvs;
    int ws;              /* WebSocket transport (else HTTP) */
    fl_stream_ref_t ref; /* the stream: name, log, hub entry (live tail) */
    fl_ingest_t *ingest;
    int chunked;
    fl_chunked_t ch;
    fl_buf_t out; /* ack lines not yet written */
    int body_ended;
    int failed;
    int paused;
    int closing; /* everything written: close at the next writeable */
    uint32_t pending;
    int64_t last_ack_ms;
    sink_t *sink;
    uint64_t seq;                 /* of the fragment being received */
    struct putmedia *prev, *next; /* its loop's sessions (kvs->putmedia[loop]) */
    int loop;                     /* the loop its connection is on */
    uint64_t id;                  /* tells it from a later session at the same address */
    int64_t begin_ns;             /* when its first bytes came: its server timestamp */

    /* the stream's recent fragments are being loaded (resends are told
     * from them): the body waits in held, its clean end in held_end */
    int loading;
    fl_buf_t held;
    int held_end;
    /* acks end with the first ERROR; an ERROR of the ingest waits in
     * held_error until the fragments received before it are acked */
    int error_sent;
    int has_held_error;
    fl_ack_t held_error;
    /* the resend being received is of an append still in flight */
    int dup_in_flight;
    uint64_t dup_seq;
    int64_t dup_abs_ms;   /* its producer timecode */
    resend_wait_t *waits; /* PERSISTED acks of such resends (counted in pending) */
    size_t n_waits, cap_waits;
    /* limits (docs/security.md) */
    fl_stream_rate_t *rate; /* the stream's upload bucket (rates.c), held */
    int throttled;          /* past the stream's upload rate: not read until refilled */
    int64_t opened_ms;      /* monotonic: for the connection age cap (4003) */
};

static void sink_release(sink_t *s)
{
    if (--s->refs == 0)
        free(s);
}

static int64_t now_ms(void)
{
    return fl_time_mono_ns() / 1000000;
}

#define FL_PUTMEDIA_MAX_OUT 65536
/* HTTP: unwritten acks past this end the session (see update_flow) */
#define FL_PUTMEDIA_MAX_OUT_HTTP (1024 * 1024)

/* Read from the producer only while its fragments in flight and its
 * unwritten acks are both within bounds (back-pressure).
 *
 * Over HTTP, unwritten acks do not pause the reading: libwebsockets 4.1.6
 * delivers no HTTP_WRITEABLE to a connection whose reading is paused
 * (lws_rx_flow_control), so acks waiting for a pause to end kept it from
 * ending. A producer that sent fragments faster than their acks went out
 * (AWS's producers replaying their buffer after a reconnect; curl sending
 * a file of 100 ms fragments) got no ack after the first few, and lws
 * closed the connection 5 s later. Over HTTP the acks instead queue while
 * the producer sends (a few hundred bytes per fragment) and go out, one
 * chunk per write, whenever the reading is not paused for storage; a
 * producer that never reads them is cut off at FL_PUTMEDIA_MAX_OUT_HTTP
 * (queue_ack_final). */
static void update_flow(putmedia_t *pm)
{
    size_t out = pm->ws ? pm->out.n : 0;
    int pause = pm->loading || pm->throttled || pm->pending >= FL_PUTMEDIA_MAX_PENDING ||
                out > FL_PUTMEDIA_MAX_OUT;
    int resume = !pm->loading && !pm->throttled && pm->pending < FL_PUTMEDIA_MAX_PENDING / 2 &&
                 out <= FL_PUTMEDIA_MAX_OUT / 2;
    if (pause && !pm->paused) {
        pm->paused = 1;
        lws_rx_flow_control(pm->wsi, 0);
    } else if (pm->paused && resume) {
        pm->paused = 0;
        lws_rx_flow_control(pm->wsi, 1);
    }
}

/* Queue an ack for the producer. After the first ERROR nothing more is
 * read, and no BUFFERING, RECEIVED or IDLE goes out; but every fragment
 * acked RECEIVED still gets its final ack, PERSISTED or ERROR 5001, even
 * after an ERROR (`final`: a storage completion's ack), so a producer
 * never waits for a fragment the server gave up on (with several appends
 * failing together on a full disk, only the first ERROR used to go out).
 * An ERROR from the ingest (about the bytes) is deferrable: it waits until
 * the fragments received before it are acked, so that a producer learns
 * what it may drop before it reconnects; an ERROR from storage goes out at
 * once, in order. The response ends once nothing is in flight. */
static void queue_ack_final(putmedia_t *pm, const fl_ack_t *a, int deferrable, int final)
{
    if (pm->error_sent && !final)
        return;
    if (a->type == FL_ACK_ERROR) {
        pm->failed = 1; /* no more of the body is read */
        if (deferrable && pm->pending > 0) {
            if (!pm->has_held_error) {
                pm->held_error = *a;
                pm->has_held_error = 1;
            }
            update_flow(pm);
            return;
        }
        pm->error_sent = 1;
        pm->has_held_error = 0;
    }
    fl_ack_format(a, &pm->out);
    fl_buf_u8(&pm->out, '\n');
    if (!pm->ws && pm->out.n > FL_PUTMEDIA_MAX_OUT_HTTP && !pm->closing) {
        /* it sends and never reads its acks (update_flow) */
        fl_warn("putmedia %s: %zu bytes of acks unread by the producer: connection closed",
                pm->ref.name, pm->out.n);
        pm->failed = 1;
        pm->closing = 1;
    }
    pm->last_ack_ms = now_ms();
    update_flow(pm);
    lws_callback_on_writable(pm->wsi);
}

static void queue_ack(putmedia_t *pm, const fl_ack_t *a, int deferrable)
{
    queue_ack_final(pm, a, deferrable, 0);
}

/* One fragment fewer in flight: an ERROR held for it may go now. */
static void pending_done(putmedia_t *pm)
{
    pm->pending--;
    if (pm->pending == 0 && pm->has_held_error) {
        fl_ack_t e = pm->held_error;
        pm->has_held_error = 0;
        queue_ack_final(pm, &e, 0, 1);
    }
    update_flow(pm);
    lws_callback_on_writable(pm->wsi);
}

/* ---- ingest hooks ---- */

/* The live tail this session may feed: none once a newer producer took
 * the stream over. */
static fl_live_t *live_of(putmedia_t *pm)
{
    return pm->ref.hub->producer == pm ? pm->ref.hub->live : NULL;
}

static int h_begin(void *data, int64_t tc, int64_t abs_ms, char *number, size_t cap)
{
    putmedia_t *pm = data;
    fl_log_shard_info_t *sh = NULL;
    size_t n = 0;
    if (fl_log_shards(pm->ref.log, &sh, &n) != 0 || n == 0) {
        free(sh);
        return FL_ACK_ERR_INTERNAL;
    }
    /* one producer per stream at a time, so the shard's next sequence
     * number is this fragment's */
    pm->seq = sh[0].next_seq;
    free(sh);
    fl_fragment_number(pm->ref.info.id, pm->seq, number, cap);
    (void)tc;
    /* the tail shares the record being built: frames are not copied; it
     * and storage know the fragment by the same server timestamp (LL-HLS
     * parts from the tail and segments from storage share a timeline) */
    pm->begin_ns = fl_time_real_ns();
    if (live_of(pm))
        fl_live_begin_shared(live_of(pm), pm->seq, abs_ms, pm->begin_ns,
                             fl_ingest_record(pm->ingest));
    return 0;
}

static void h_ack(void *data, const fl_ack_t *a)
{
    putmedia_t *pm = data;
    if (a->type == FL_ACK_PERSISTED && pm->dup_in_flight) {
        pm->dup_in_flight = 0;
        /* the first append may have completed while the resend arrived:
         * look again (its wake-up is gone by now) */
        fl_hub_recent_t got;
        fl_hub_recent_t *r = fl_hub_recent_find(pm->ref.hub, pm->dup_abs_ms, &got) ? &got : NULL;
        if (!r || r->seq != pm->dup_seq) {
            /* it failed (never stored) and the resend was not kept: an
             * ERROR the producer retries (5001), not a PERSISTED */
            fl_ack_t e = *a;
            e.type = FL_ACK_ERROR;
            e.error_id = FL_ACK_ERR_ARCHIVAL;
            queue_ack(pm, &e, 1);
            return;
        }
        if (r->durable) {
            queue_ack(pm, a, 1);
            return;
        }
        /* still in flight: its PERSISTED waits for that append's
         * completion (on_completion) */
        if (pm->n_waits == pm->cap_waits) {
            size_t cap = pm->cap_waits ? pm->cap_waits * 2 : 8;
            resend_wait_t *w = realloc(pm->waits, cap * sizeof *w);
            if (!w) {
                fl_ack_t e = {.type = FL_ACK_ERROR,
                              .timecode_ms = a->timecode_ms,
                              .error_id = FL_ACK_ERR_INTERNAL};
                snprintf(e.number, sizeof e.number, "%s", a->number);
                queue_ack(pm, &e, 1);
                return;
            }
            pm->waits = w;
            pm->cap_waits = cap;
        }
        pm->waits[pm->n_waits].seq = pm->dup_seq;
        pm->waits[pm->n_waits].ack = *a;
        pm->n_waits++;
        pm->pending++;
        update_flow(pm);
        return;
    }
    queue_ack(pm, a, 1);
}

/* The append of sequence seq completed (status 0: durable): resends of
 * it that wait in this session get their PERSISTED (or ERROR 5001). */
static void wake_waits(putmedia_t *pm, uint64_t seq, int status)
{
    size_t k = 0;
    for (size_t i = 0; i < pm->n_waits; i++) {
        resend_wait_t *w = &pm->waits[i];
        if (w->seq != seq) {
            pm->waits[k++] = *w;
            continue;
        }
        fl_ack_t a = w->ack;
        if (status) {
            a.type = FL_ACK_ERROR;
            a.error_id = FL_ACK_ERR_ARCHIVAL;
        }
        queue_ack_final(pm, &a, 0, 1);
        pending_done(pm);
    }
    pm->n_waits = k;
}

static void h_session(void *data, fl_slice_t tracks)
{
    putmedia_t *pm = data;
    if (live_of(pm))
        fl_live_session(live_of(pm), tracks);
}

static void h_frame(void *data, const char *number, uint64_t track, int64_t pts_ms,
                    int64_t duration_ms, int keyframe, fl_slice_t bytes)
{
    putmedia_t *pm = data;
    (void)number;
    if (live_of(pm))
        fl_live_frame(live_of(pm), track, pts_ms, duration_ms, keyframe, bytes);
}

static void h_dropped(void *data)
{
    putmedia_t *pm = data;
    if (live_of(pm))
        fl_live_end(live_of(pm), 0);
}

static void pm_evict(void *producer);
static void pm_evict_here(putmedia_t *pm);
static void pm_resume(putmedia_t *pm);

/* ---- a session on another loop ----
 * The stream's producer may be a session on another loop (it reconnected
 * there). What is done to it is posted to its loop, where the session is
 * looked for among that loop's sessions by address and id (it may have
 * gone meanwhile). pm_call is called with the hub locked: a session clears
 * itself from the hub entry under that lock before it is freed. */
typedef enum { PMC_EVICT, PMC_WAKE_WAITS, PMC_RESUME } pm_call_kind_t;
typedef struct {
    fl_post_t post;
    fl_kvs_t *kvs;
    putmedia_t *pm;
    uint64_t id;
    pm_call_kind_t kind;
    uint64_t seq;
    int status;
} pm_call_t;

static void wake_waits(putmedia_t *pm, uint64_t seq, int status);

static void pm_call_do(putmedia_t *pm, pm_call_kind_t kind, uint64_t seq, int status)
{
    switch (kind) {
    case PMC_EVICT:
        pm_evict_here(pm);
        break;
    case PMC_WAKE_WAITS:
        wake_waits(pm, seq, status);
        break;
    case PMC_RESUME:
        pm_resume(pm);
        break;
    }
}

static void pm_call_run(fl_post_t *p)
{
    pm_call_t *m = (pm_call_t *)p;
    for (putmedia_t *pm = m->kvs->putmedia[fl_server_loop()]; pm; pm = pm->next)
        if (pm == m->pm && pm->id == m->id) {
            pm_call_do(pm, m->kind, m->seq, m->status);
            break;
        }
    free(m);
}

static void pm_call(putmedia_t *pm, pm_call_kind_t kind, uint64_t seq, int status)
{
    if (pm->loop == fl_server_loop()) {
        pm_call_do(pm, kind, seq, status);
        return;
    }
    pm_call_t *m = calloc(1, sizeof *m);
    if (!m)
        return;
    m->post.fn = pm_call_run;
    m->kvs = pm->kvs;
    m->pm = pm;
    m->id = pm->id;
    m->kind = kind;
    m->seq = seq;
    m->status = status;
    fl_server_post(pm->kvs->srv, pm->loop, &m->post);
}

static void on_completion(fl_completion_t *c, int status, uint64_t seq)
{
    pending_frag_t *f = (pending_frag_t *)c;
    putmedia_t *pm = f->sink->pm;
    fl_hub_recent_done(f->hub, f->seq, status);
    /* the stream's producer now (a reconnected one) may wait for this
     * fragment: it sent it again */
    fl_hub_lock(f->video->hub);
    putmedia_t *now = f->hub->producer;
    if (now && f->hub->evict == pm_evict && now != pm)
        pm_call(now, PMC_WAKE_WAITS, f->seq, status);
    fl_hub_unlock(f->video->hub);
    if (status) {
        fl_live_lost(f->hub->live, f->seq); /* never durable: let the tail go on */
    } else {
        fl_live_durable(f->hub->live, seq);
        fl_metrics_observe_ms(&f->video->metrics.ack,
                              (double)(fl_time_mono_ns() - f->received_ns) / 1e6);
    }
    fl_hub_release(f->video->hub, f->hub);
    if (pm) {
        fl_ack_t a = {.type = status ? FL_ACK_ERROR : FL_ACK_PERSISTED,
                      .timecode_ms = f->timecode,
                      .error_id = status ? FL_ACK_ERR_ARCHIVAL : 0};
        snprintf(a.number, sizeof a.number, "%s", f->number);
        if (status)
            fl_error("putmedia %s: fragment %s not stored: %s", pm->ref.name, f->number,
                     fl_strerror(status));
        queue_ack_final(pm, &a, 0, 1);
        pending_done(pm); /* updates the flow */
        wake_waits(pm, f->seq, status);
    }
    sink_release(f->sink);
    free(f);
}

/* A resend? Look for a fragment with exactly this producer timecode among
 * the stream's recent ones (hub.h): on the loop, without reading storage.
 * The map holds every fragment appended since it was loaded (in flight or
 * durable) and the last FL_HUB_RECENT stored before; a resend of an append
 * still in flight is acked PERSISTED when that append completes. */
static int h_stored(void *data, int64_t abs_ms, char *number, size_t cap)
{
    putmedia_t *pm = data;
    fl_hub_recent_t got;
    if (!fl_hub_recent_find(pm->ref.hub, abs_ms, &got))
        return 0;
    const fl_hub_recent_t *r = &got;
    fl_fragment_number(pm->ref.info.id, r->seq, number, cap);
    pm->dup_in_flight = !r->durable;
    pm->dup_seq = r->seq;
    pm->dup_abs_ms = abs_ms;
    pm->kvs->video->metrics.fragments_resent++;
    fl_info("putmedia %s: fragment %s at %lld sent again: acked, not stored twice%s", pm->ref.name,
            number, (long long)abs_ms, r->durable ? "" : " (its first append is in flight)");
    return 1;
}

static int h_fragment(void *data, const char *number, int64_t tc, int64_t abs_ms, fl_slice_t record)
{
    putmedia_t *pm = data;
    pending_frag_t *f = calloc(1, sizeof *f);
    if (!f)
        return FL_ACK_ERR_INTERNAL;
    fl_completion_init(&f->base, on_completion);
    f->sink = pm->sink;
    f->video = pm->kvs->video;
    f->hub = pm->ref.hub;
    f->timecode = tc;
    f->received_ns = fl_time_mono_ns();
    snprintf(f->number, sizeof f->number, "%s", number);
    fl_log_record_t rec;
    memset(&rec, 0, sizeof rec);
    rec.producer_ts_ns = abs_ms * 1000000;
    rec.server_ts_ns = pm->begin_ns;
    rec.payload = record;
    uint64_t seq;
    /* storage writes the record where it is and lets it go when written */
    fl_recbuf_t *rb = fl_ingest_record(pm->ingest);
    int rc = rb ? fl_log_append_nocopy(pm->ref.log, 0, &rec, fl_recbuf_release, fl_recbuf_ref(rb),
                                       &f->base, &seq)
                : fl_log_append(pm->ref.log, 0, &rec, &f->base, &seq);
    if (rc && rb)
        fl_recbuf_unref(rb); /* refused: the reference is still ours */
    if (rc) {
        fl_error("putmedia %s: append of fragment %s failed: %s", pm->ref.name, number,
                 fl_strerror(rc));
        free(f);
        return FL_ACK_ERR_ARCHIVAL;
    }
    f->seq = seq;
    fl_hub_recent_add(pm->ref.hub, abs_ms, seq, 0);
    int renumbered = seq != pm->seq;
    if (renumbered)
        fl_warn("putmedia %s: fragment %s stored as sequence %" PRIu64 " (another writer?)",
                pm->ref.name, number, seq);
    pm->sink->refs++;
    fl_hub_hold(pm->ref.hub); /* released by on_completion */
    /* a renumbered fragment is not the one the tail knows: drop it there,
     * readers find it in storage */
    if (live_of(pm))
        fl_live_end(live_of(pm), !renumbered);
    pm->pending++;
    pm->kvs->video->metrics.fragments_in++;
    pm->kvs->video->metrics.fragment_bytes_in += record.n;
    update_flow(pm);
    return 0;
}

/* ---- the session, whatever the transport ---- */

/* Has the stream's upload bucket refilled (no debt left)? */
static int pm_rate_ok(putmedia_t *pm)
{
    if (!pm->rate)
        return 1;
    double bps = (double)fl_server_config(pm->kvs->srv)->putmedia_max_bytes_per_s;
    return fl_bucket_tokens(&pm->rate->bytes, bps, bps, fl_time_mono_ns()) >= 0;
}

/* n body bytes arrived from the producer: they count against the
 * stream's upload rate (KVS's 12.5 MB/s); past it, the connection is not
 * read until the bucket refills (TCP then slows the producer down), which
 * keeps one fast producer from taking the loop and the disk from others. */
static void pm_rx_charge(putmedia_t *pm, size_t n)
{
    if (!pm->rate || pm->throttled)
        return;
    double bps = (double)fl_server_config(pm->kvs->srv)->putmedia_max_bytes_per_s;
    if (fl_bucket_charge(&pm->rate->bytes, bps, bps, (double)n, fl_time_mono_ns()) < 0) {
        pm->throttled = 1;
        fl_limits_hit(fl_server_limits(pm->kvs->srv), FL_LIMIT_UPLOAD_RATE,
                      "PutMedia to %s faster than %ld bytes/s "
                      "(--putmedia-max-bytes-per-second): reading it more slowly",
                      pm->ref.name, fl_server_config(pm->kvs->srv)->putmedia_max_bytes_per_s);
        update_flow(pm);
    }
}

static void pm_end_body(putmedia_t *pm, int clean);

/* A newer producer took the stream over: end this connection. Its open
 * fragment is dropped; fragments already appended still get stored. */
static void pm_evict(void *producer)
{
    pm_call(producer, PMC_EVICT, 0, 0); /* hub locked (pm_open) */
}

static void pm_evict_here(putmedia_t *pm)
{
    fl_hub_lock(pm->kvs->video->hub);
    if (pm->ref.hub->producer == pm)
        pm->ref.hub->producer = NULL;
    fl_hub_unlock(pm->kvs->video->hub);
    pm->failed = 1;
    pm_end_body(pm, 0);
    lws_set_timeout(pm->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
}

/* ---- the stream's recent fragments, loaded on a worker ---- */

typedef struct {
    fl_job_t job; /* first */
    fl_kvs_t *kvs;
    fl_hub_entry_t *hub; /* held until done */
    fl_log_t *log;
    uint64_t from, to; /* sequence numbers [from, to) */
    fl_hub_recent_t got[FL_HUB_RECENT];
    unsigned n;
    int rc;
} recent_load_t;

static void pm_input(putmedia_t *pm, fl_slice_t in);
static void pm_input_end(putmedia_t *pm);

/* Worker: producer timecodes and numbers of the stream's last fragments.
 * Reads see durable records only, and that is all there is: a stream
 * whose map is not loaded has no append of ours in flight. */
static void recent_load_work(fl_job_t *job)
{
    recent_load_t *j = (recent_load_t *)job;
    fl_log_batch_t b;
    memset(&b, 0, sizeof b);
    uint64_t at = j->from;
    while (at < j->to && j->n < FL_HUB_RECENT) {
        fl_log_read_opts_t ro = {.from = FL_LOG_AT_SEQ,
                                 .seq = at,
                                 .max_bytes = 1 << 20,
                                 .max_records = FL_HUB_RECENT - j->n};
        int rc = fl_log_read(j->log, 0, &ro, &b);
        if (rc == FL_EEXPIRED || rc == FL_ECORRUPT) {
            if (b.next_seq <= at)
                break;
            at = b.next_seq; /* gone or damaged: what is left still counts */
            continue;
        }
        if (rc) {
            if (rc != FL_EAGAIN && rc != FL_EEOF)
                j->rc = rc;
            break;
        }
        for (size_t i = 0; i < b.count && j->n < FL_HUB_RECENT; i++) {
            j->got[j->n].abs_ms = b.records[i].producer_ts_ns / 1000000;
            j->got[j->n].seq = b.records[i].seq;
            j->got[j->n].durable = 1;
            j->n++;
        }
        at = b.next_seq;
    }
    fl_log_batch_free(&b);
}

/* Loop: the map is there; the producer that waited for it reads on. */
static void recent_load_done(fl_job_t *job)
{
    recent_load_t *j = (recent_load_t *)job;
    fl_hub_entry_t *e = j->hub;
    if (j->rc)
        fl_warn("putmedia %s: reading its recent fragments: %s (older resends are refused with "
                "4004)",
                e->name, fl_strerror(j->rc));
    fl_hub_lock(j->kvs->video->hub);
    for (unsigned i = 0; i < j->n; i++)
        fl_hub_recent_add(e, j->got[i].abs_ms, j->got[i].seq, 1);
    e->recent_state = FL_HUB_RECENT_LOADED;
    putmedia_t *here = NULL; /* resumed after the lock: it reads its body */
    if (e->producer && e->evict == pm_evict) {
        putmedia_t *pm = e->producer;
        if (pm->loop == fl_server_loop())
            here = pm;
        else
            pm_call(pm, PMC_RESUME, 0, 0);
    }
    fl_hub_unlock(j->kvs->video->hub);
    if (here)
        pm_resume(here);
    fl_hub_release(j->kvs->video->hub, e);
    free(j);
}

/* The map is loaded: a session that waited for it reads on. */
static void pm_resume(putmedia_t *pm)
{
    if (!pm->loading)
        return;
    pm->loading = 0;
    fl_buf_t held = pm->held;
    fl_buf_init(&pm->held, 0);
    pm_input(pm, fl_buf_slice(&held));
    fl_buf_free(&held);
    if (pm->held_end)
        pm_input_end(pm);
    update_flow(pm);
}

/* Make sure the stream's recent fragments are known before this session
 * reads its body (loop). */
static void recent_load(putmedia_t *pm)
{
    fl_hub_entry_t *e = pm->ref.hub;
    fl_hub_lock(pm->kvs->video->hub);
    if (e->recent_state == FL_HUB_RECENT_LOADED && e->recent_log_id != pm->ref.info.id) {
        /* the name now belongs to a new incarnation of the stream (deleted
         * and created again while someone held the entry) */
        e->recent_n = 0;
        e->recent_state = FL_HUB_RECENT_UNLOADED;
    }
    e->recent_log_id = pm->ref.info.id;
    if (e->recent_state == FL_HUB_RECENT_UNLOADED) {
        fl_log_shard_info_t *sh = NULL;
        size_t n = 0;
        recent_load_t *j = NULL;
        if (fl_log_shards(pm->ref.log, &sh, &n) == 0 && n > 0 && sh[0].next_seq > sh[0].first_seq &&
            sh[0].first_seq > 0 && (j = calloc(1, sizeof *j)) != NULL) {
            j->job.work = recent_load_work;
            j->job.done = recent_load_done;
            j->kvs = pm->kvs;
            j->hub = e;
            j->log = pm->ref.log;
            j->to = sh[0].next_seq;
            j->from =
                j->to - sh[0].first_seq > FL_HUB_RECENT ? j->to - FL_HUB_RECENT : sh[0].first_seq;
            fl_hub_hold(e);
            if (fl_workers_submit(fl_server_workers(pm->kvs->srv), &j->job) == 0) {
                e->recent_state = FL_HUB_RECENT_LOADING;
            } else {
                fl_warn("putmedia %s: no worker to read its recent fragments (older resends are "
                        "refused with 4004)",
                        pm->ref.name);
                fl_hub_release(pm->kvs->video->hub, e);
                free(j);
                j = NULL;
            }
        }
        free(sh);
        if (e->recent_state == FL_HUB_RECENT_UNLOADED)
            e->recent_state = FL_HUB_RECENT_LOADED; /* nothing stored, or nothing to do it with */
    }
    pm->loading = e->recent_state == FL_HUB_RECENT_LOADING;
    fl_hub_unlock(pm->kvs->video->hub);
    update_flow(pm);
}

typedef struct {
    char name[1024]; /* more than a name: a longer one is told so */
    char arn[1100];
    char type[32];
    char start[64];
} pm_args_t;

/* Check the arguments and open a session. On failure returns NULL with
 * the AWS error to answer in err. */
static putmedia_t *pm_open(fl_kvs_t *kvs, struct lws *wsi, int ws, pm_args_t *a,
                           const fl_principal_t *who, fl_api_error_t *err)
{
    fl_ingest_opts_t o;
    memset(&o, 0, sizeof o);
    o.max_fragment_bytes = (uint64_t)fl_server_config(kvs->srv)->max_fragment_bytes;
    if (a->type[0]) {
        if (strcmp(a->type, "RELATIVE") == 0) {
            o.relative = 1;
        } else if (strcmp(a->type, "ABSOLUTE") != 0) {
            fl_api_error(err, 400, "InvalidArgumentException",
                         "x-amzn-fragment-timecode-type must be ABSOLUTE or RELATIVE");
            return NULL;
        }
    }
    if (a->start[0]) {
        char *end;
        double t = strtod(a->start, &end);
        if (*end || t < 0 || t > 1e11) {
            fl_api_error(err, 400, "InvalidArgumentException",
                         "x-amzn-producer-start-timestamp must be epoch seconds");
            return NULL;
        }
        o.producer_start_ms = (int64_t)(t * 1000.0 + 0.5);
    } else if (o.relative) {
        fl_api_error(err, 400, "InvalidArgumentException",
                     "RELATIVE timecodes need x-amzn-producer-start-timestamp");
        return NULL;
    }

    fl_stream_want_t want = {.name = a->name,
                             .arn = a->arn,
                             .action = "kinesisvideo:PutMedia",
                             .who = who,
                             .name_field = "x-amzn-stream-name",
                             .arn_field = "x-amzn-stream-arn"};
    fl_stream_ref_t ref;
    if (fl_stream_get(kvs->video, &want, &ref, err) != 0)
        return NULL;
    /* KVS's connection rate per stream: a producer reconnecting in a loop
     * is told to slow down before it costs the stream's other work */
    const fl_config_t *cfg = fl_server_config(kvs->srv);
    fl_stream_rate_t *rate = fl_kvs_rates_hold(kvs->rates, ref.name);
    double cps = (double)cfg->putmedia_max_connects_per_s;
    if (rate && fl_bucket_take(&rate->connects, cps, cps, 1, fl_time_mono_ns()) != 0) {
        fl_limits_hit(fl_server_limits(kvs->srv), FL_LIMIT_CONNECT_RATE,
                      "refused a PutMedia connection to %s: more than %ld a second "
                      "(--putmedia-max-connections-per-second)",
                      ref.name, cfg->putmedia_max_connects_per_s);
        fl_api_error(err, 400, "ConnectionLimitExceededException",
                     "too many PutMedia connections to stream %s: at most %ld a second", ref.name,
                     cfg->putmedia_max_connects_per_s);
        fl_kvs_rates_release(rate);
        fl_stream_put(&ref);
        return NULL;
    }
    o.budget = fl_limits_fragment_budget(fl_server_limits(kvs->srv));
    /* no timecode before what the stream already holds */
    fl_log_shard_info_t *sh = NULL;
    size_t nsh = 0;
    if (fl_log_shards(ref.log, &sh, &nsh) == 0 && nsh > 0 && sh[0].max_producer_ts_ns > 0)
        o.min_abs_ms = sh[0].max_producer_ts_ns / 1000000;
    free(sh);

    putmedia_t *pm = calloc(1, sizeof *pm);
    sink_t *sink = calloc(1, sizeof *sink);
    if (!pm || !sink)
        goto nomem;
    pm->wsi = wsi;
    pm->kvs = kvs;
    pm->ws = ws;
    pm->ref = ref;
    pm->rate = rate;
    rate = NULL;
    pm->opened_ms = now_ms();
    sink->refs = 1;
    sink->pm = pm;
    pm->sink = sink;
    fl_buf_init(&pm->out, 0);
    fl_buf_init(&pm->held, 0);
    fl_chunked_init(&pm->ch);
    fl_ingest_cbs_t h = {.begin = h_begin,
                         .ack = h_ack,
                         .fragment = h_fragment,
                         .session = h_session,
                         .frame = h_frame,
                         .dropped = h_dropped,
                         .stored = h_stored,
                         .data = pm};
    o.name = ref.name;
    if (fl_ingest_new(&o, &h, &pm->ingest) != 0)
        goto nomem;
    fl_hub_entry_t *e = ref.hub;
    static _Atomic uint64_t ids;
    pm->loop = fl_server_loop();
    pm->id = ++ids;
    pm->last_ack_ms = now_ms();
    pm->next = kvs->putmedia[pm->loop];
    if (pm->next)
        pm->next->prev = pm;
    kvs->putmedia[pm->loop] = pm;
    fl_hub_lock(kvs->video->hub);
    if (e->producer) {
        fl_info("putmedia %s: a new producer connected; ending the previous one", ref.name);
        e->evict(e->producer);
    }
    e->producer = pm;
    e->evict = pm_evict;
    fl_hub_unlock(kvs->video->hub);
    kvs->video->metrics.producers++;
    fl_info("putmedia %s: producer connected over %s (%s timecodes)", ref.name,
            ws ? "WebSocket" : "HTTP", o.relative ? "RELATIVE" : "ABSOLUTE");
    recent_load(pm);
    return pm;
nomem:
    fl_kvs_rates_release(rate);
    fl_stream_put(&ref);
    free(sink);
    free(pm);
    fl_api_error(err, 500, "InternalFailure", "out of memory");
    return NULL;
}

static void pm_end_body(putmedia_t *pm, int clean)
{
    if (pm->body_ended)
        return;
    pm->body_ended = 1;
    /* a session that failed or was taken over stores nothing more */
    fl_ingest_finish(pm->ingest, clean && !pm->failed);
    lws_callback_on_writable(pm->wsi);
}

static void pm_close(putmedia_t *pm)
{
    if (!pm->body_ended) {
        fl_info("putmedia %s: connection ended before the body did", pm->ref.name);
        pm->body_ended = 1;
        fl_ingest_finish(pm->ingest, 0); /* drops a fragment cut off */
    }
    fl_info("putmedia %s: producer gone after %" PRIu64 " fragments", pm->ref.name,
            fl_ingest_fragments(pm->ingest));
    pm->kvs->video->metrics.producers--;
    if (pm->prev)
        pm->prev->next = pm->next;
    else
        pm->kvs->putmedia[pm->loop] = pm->next;
    if (pm->next)
        pm->next->prev = pm->prev;
    pm->sink->pm = NULL;
    sink_release(pm->sink);
    fl_kvs_rates_release(pm->rate);
    fl_ingest_free(pm->ingest);
    /* the hub's producer field is shared by the loops; the observers
     * hear the end on the tail's loop, outside the hub's lock */
    fl_hub_lock(pm->kvs->video->hub);
    int was_producer = pm->ref.hub->producer == pm;
    if (was_producer)
        pm->ref.hub->producer = NULL;
    fl_hub_unlock(pm->kvs->video->hub);
    if (was_producer)
        fl_live_session_end(pm->ref.hub->live);
    fl_stream_put(&pm->ref);
    fl_buf_free(&pm->out);
    fl_buf_free(&pm->held);
    free(pm->waits);
    free(pm);
}

/* Everything said and nothing more to come? */
static int pm_done(const putmedia_t *pm)
{
    /* after an ERROR too, the fragments already appended get their acks
     * first; the ERROR comes last */
    return pm->out.n == 0 && pm->pending == 0 && !pm->has_held_error &&
           (pm->failed || pm->body_ended);
}

/* IDLE acks, from the server's housekeeping tick. One sweep over the
 * sessions rather than a timer per connection: lws keeps its timers in one
 * sorted list, and a thousand producers' timers, re-armed together every
 * 3 s, held the event loop for up to 100 ms each time. */
void fl_putmedia_tick(void *state, int loop)
{
    fl_kvs_t *kvs = state;
    int64_t now = now_ms();
    const fl_config_t *cfg = fl_server_config(kvs->srv);
    for (putmedia_t *pm = kvs->putmedia[loop]; pm; pm = pm->next) {
        if (pm->throttled && pm_rate_ok(pm)) {
            pm->throttled = 0; /* the stream's bucket refilled: read on */
            update_flow(pm);
        }
        if (!pm->failed && !pm->body_ended &&
            now - pm->opened_ms >= cfg->putmedia_max_connection_s * 1000) {
            /* AWS ends a PutMedia connection after 45 minutes with 4003;
             * the producer reconnects. Fragments already received are
             * acked first; the one in progress is dropped. */
            fl_limits_hit(fl_server_limits(kvs->srv), FL_LIMIT_CONNECTION_AGE,
                          "ending a PutMedia connection to %s after %ld s "
                          "(--putmedia-max-connection-seconds): ack error 4003",
                          pm->ref.name, cfg->putmedia_max_connection_s);
            fl_ingest_abort(pm->ingest, FL_ACK_ERR_CONNECTION_TOO_LONG,
                            "connection open longer than --putmedia-max-connection-seconds");
            pm->failed = 1;
            pm_end_body(pm, 0);
        }
        if (!pm->failed && !pm->body_ended && now - pm->last_ack_ms >= FL_PUTMEDIA_IDLE_MS) {
            fl_ack_t a = {.type = FL_ACK_IDLE};
            queue_ack(pm, &a, 0);
        }
    }
    if (loop == 0)
        fl_kvs_rates_prune(kvs->rates, fl_time_mono_ns());
}

/* ---- HTTP: POST /putMedia ---- */

static int pm_http_start(fl_http_req_t *r)
{
    pm_args_t a;
    memset(&a, 0, sizeof a);
    char expect[64];
    fl_http_header(r, "x-amzn-stream-name:", a.name, sizeof a.name);
    fl_http_header(r, "x-amzn-stream-arn:", a.arn, sizeof a.arn);
    fl_http_header(r, "x-amzn-fragment-timecode-type:", a.type, sizeof a.type);
    fl_http_header(r, "x-amzn-producer-start-timestamp:", a.start, sizeof a.start);
    fl_api_error_t err;
    putmedia_t *pm = pm_open(r->mod, r->wsi, 0, &a, &r->who, &err);
    if (!pm) {
        fl_http_respond_api_error(r, &err);
        return 0;
    }
    char te[64];
    pm->chunked = lws_hdr_copy(r->wsi, te, sizeof te, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0 &&
                  strstr(te, "chunked") != NULL;
    r->stream = pm;
    /* curl-based producers wait a second for this unless answered */
    if (lws_hdr_copy(r->wsi, expect, sizeof expect, WSI_TOKEN_HTTP_EXPECT) > 0 &&
        strcasecmp(expect, "100-continue") == 0) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        uint8_t buf[LWS_PRE + sizeof cont];
        memcpy(buf + LWS_PRE, cont, sizeof cont - 1);
        if (lws_write(r->wsi, buf + LWS_PRE, sizeof cont - 1, LWS_WRITE_RAW) < 0)
            return -1;
    }
    lws_callback_on_writable(r->wsi);
    return 0;
}

/* Body bytes as the transport delivered them: still chunk-encoded for a
 * chunked HTTP body. */
static void pm_input(putmedia_t *pm, fl_slice_t in)
{
    if (pm->failed || pm->body_ended)
        return; /* after an ERROR ack the rest of the body is ignored */
    if (pm->loading) {
        fl_buf_append(&pm->held, in.p, in.n);
        return;
    }
    if (!pm->chunked) {
        fl_ingest_feed(pm->ingest, in);
        return;
    }
    while (in.n && !pm->failed) {
        size_t used;
        fl_slice_t data;
        if (fl_chunked_decode(&pm->ch, in, &used, &data) != 0) {
            fl_warn("putmedia %s: broken chunked encoding at byte %" PRIu64, pm->ref.name,
                    pm->ch.offset);
            fl_ingest_abort(pm->ingest, FL_ACK_ERR_READ, "broken chunked encoding");
            return;
        }
        in.p += used;
        in.n -= used;
        if (data.n)
            fl_ingest_feed(pm->ingest, data);
        if (fl_chunked_done(&pm->ch)) {
            pm_end_body(pm, 1);
            break;
        }
    }
}

/* The body ended as the protocol says. */
static void pm_input_end(putmedia_t *pm)
{
    if (pm->loading)
        pm->held_end = 1;
    else
        pm_end_body(pm, 1);
}

static int pm_http_body(fl_http_req_t *r, fl_slice_t in)
{
    if (r->stream) {
        pm_rx_charge(r->stream, in.n);
        pm_input(r->stream, in);
    }
    return 0;
}

static int pm_http_body_end(fl_http_req_t *r)
{
    if (r->stream)
        pm_input_end(r->stream);
    return 0;
}

/* The response is chunked, one ack per chunk, each chunk in its own
 * write: curl hands each chunk to the write callback on its own, and AWS's
 * C producers parse one ack per callback (docs/api.md). */
static int pm_http_writeable(fl_http_req_t *r)
{
    putmedia_t *pm = r->stream;
    if (!pm)
        return 0;
    if (pm->closing)
        return -1; /* the last piece went out at the previous call */
    if (!r->headers_sent) {
        if (fl_http_add_header(r, "Transfer-Encoding", "chunked") ||
            fl_http_stream_headers(r, 200, "application/json", -1))
            return -1;
        lws_callback_on_writable(r->wsi); /* what waits goes out next */
        return 0;
    }
    if (pm->out.n) {
        uint8_t *nl = memchr(pm->out.p, '\n', pm->out.n);
        size_t n = nl ? (size_t)(nl - pm->out.p) + 1 : pm->out.n;
        uint8_t piece[LWS_PRE + 600];
        uint8_t *p = piece + LWS_PRE;
        int hn = snprintf((char *)p, 16, "%zx\r\n", n);
        if (hn < 0 || (size_t)hn + n + 2 > sizeof piece - LWS_PRE)
            return -1; /* an ack is < 300 bytes */
        memcpy(p + hn, pm->out.p, n);
        memcpy(p + hn + n, "\r\n", 2);
        if (fl_http_stream_write_pre(r, p, (size_t)hn + n + 2, 0))
            return -1;
        fl_buf_consume(&pm->out, n);
        update_flow(pm);
        lws_callback_on_writable(r->wsi); /* the next ack, or the end */
        return 0;
    }
    if (pm_done(pm)) {
        /* the last chunk; close once lws has flushed it */
        uint8_t last[LWS_PRE + 8];
        memcpy(last + LWS_PRE, "0\r\n\r\n", 5);
        if (fl_http_stream_write_pre(r, last + LWS_PRE, 5, 1))
            return -1;
        pm->closing = 1;
        lws_callback_on_writable(r->wsi);
    }
    return 0;
}

static void pm_http_closed(fl_http_req_t *r)
{
    if (r->stream)
        pm_close(r->stream);
    r->stream = NULL;
}

const fl_http_stream_ops_t fl_putmedia_ops = {
    .start = pm_http_start,
    .body = pm_http_body,
    .body_end = pm_http_body_end,
    .writeable = pm_http_writeable,
    .closed = pm_http_closed,
};

/* ---- WebSocket: subprotocol framelog-putmedia-v1 ---- */

typedef struct {
    putmedia_t *pm;
} pm_ws_t;

/* A header of the upgrade request, or a query parameter of the same
 * meaning. */
static void ws_arg(struct lws *wsi, const char *header, const char *param, char *buf, size_t cap)
{
    int n = lws_hdr_custom_length(wsi, header, (int)strlen(header));
    if (n > 0 && (size_t)n < cap) {
        lws_hdr_custom_copy(wsi, buf, (int)cap, header, (int)strlen(header));
        buf[n] = 0;
        return;
    }
    const char *v = lws_get_urlarg_by_name(wsi, param, buf, (int)cap);
    if (v)
        memmove(buf, v, strlen(v) + 1); /* lws leaves "name=" in front */
    else
        buf[0] = 0;
}

int fl_putmedia_ws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                            size_t len)
{
    pm_ws_t *w = user;
    struct fl_server *srv = lws_context_user(lws_get_context(wsi));
    fl_metrics_t *cm = fl_server_metrics(srv);
    switch (reason) {
    case LWS_CALLBACK_ESTABLISHED: {
        pm_args_t a;
        memset(&a, 0, sizeof a);
        ws_arg(wsi, "x-amzn-stream-name:", "StreamName=", a.name, sizeof a.name);
        ws_arg(wsi, "x-amzn-stream-arn:", "StreamARN=", a.arn, sizeof a.arn);
        ws_arg(wsi, "x-amzn-fragment-timecode-type:", "FragmentTimecodeType=", a.type,
               sizeof a.type);
        ws_arg(wsi, "x-amzn-producer-start-timestamp:", "ProducerStartTimestamp=", a.start,
               sizeof a.start);
        fl_api_error_t err;
        fl_principal_t who;
        char path[512] = "";
        if (lws_hdr_copy(wsi, path, sizeof path, WSI_TOKEN_GET_URI) < 0)
            path[0] = 0;
        fl_auth_req_t q = {
            .wsi = wsi, .method = FL_HTTP_GET, .path = path, .service = "kinesisvideo"};
        if (fl_server_authenticate(srv, &q, &who, &err) != 0)
            ; /* refused: err says why */
        else
            w->pm = pm_open(fl_server_state(srv, &fl_kvs_module), wsi, 1, &a, &who, &err);
        if (!w->pm) {
            /* say why in the close frame: code 1008 (policy), "Type: message" */
            char reason_txt[120];
            int n = snprintf(reason_txt, sizeof reason_txt, "%s: %s", err.type, err.msg);
            if (n > 120)
                n = 120;
            lws_close_reason(wsi, LWS_CLOSE_STATUS_POLICY_VIOLATION, (unsigned char *)reason_txt,
                             (size_t)n);
            return -1;
        }
        cm->open_connections++;
        return 0;
    }
    case LWS_CALLBACK_RECEIVE: {
        if (!w->pm || w->pm->failed || w->pm->body_ended)
            return 0;
        /* a text message, or a whole empty binary one (not the empty last
         * piece of a fragmented message): the producer's clean end */
        int whole = lws_is_first_fragment(wsi) && lws_is_final_fragment(wsi);
        if (!lws_frame_is_binary(wsi) || (len == 0 && whole)) {
            pm_input_end(w->pm);
            return 0;
        }
        cm->bytes_received += len;
        pm_rx_charge(w->pm, len);
        if (len)
            pm_input(w->pm, fl_slice(in, len));
        return 0;
    }
    case LWS_CALLBACK_SERVER_WRITEABLE: {
        putmedia_t *pm = w->pm;
        if (!pm)
            return -1;
        if (pm->closing) {
            /* the close frame, written here: lws 4.1.6 on our libuv loop
             * drops a close reason queued from this callback */
            uint8_t cl[LWS_PRE + 2] = {0};
            cl[LWS_PRE] = LWS_CLOSE_STATUS_NORMAL >> 8;
            cl[LWS_PRE + 1] = LWS_CLOSE_STATUS_NORMAL & 0xff;
            lws_write(wsi, cl + LWS_PRE, 2, (enum lws_write_protocol)4 /* LWS_WRITE_CLOSE */);
            return -1;
        }
        if (pm->out.n) {
            /* one ack per text message */
            uint8_t *nl = memchr(pm->out.p, '\n', pm->out.n);
            size_t n = nl ? (size_t)(nl - pm->out.p) : pm->out.n;
            uint8_t buf[LWS_PRE + 512];
            if (n > sizeof buf - LWS_PRE)
                return -1;
            memcpy(buf + LWS_PRE, pm->out.p, n);
            if (lws_write(wsi, buf + LWS_PRE, n, LWS_WRITE_TEXT) < (int)n)
                return -1;
            cm->bytes_sent += n;
            fl_buf_consume(&pm->out, nl ? n + 1 : n);
            update_flow(pm);
            if (pm->out.n) {
                lws_callback_on_writable(wsi);
                return 0;
            }
        }
        if (pm_done(pm)) {
            pm->closing = 1;
            lws_callback_on_writable(wsi);
        }
        return 0;
    }
    case LWS_CALLBACK_CLOSED:
        if (w && w->pm) {
            pm_close(w->pm);
            w->pm = NULL;
            cm->open_connections--;
        }
        return 0;
    default:
        return 0;
    }
}
