/*
 * server/records/subscribe.c — SubscribeToShard: enhanced fan-out's event
 * stream. The answer is 200 `application/vnd.amazon.eventstream` with no
 * length, a sequence of event-stream messages (common/eventstream.h,
 * docs/records.md "Event stream"): an initial-response event, then
 * SubscribeToShardEvent events ({Records, ContinuationSequenceNumber,
 * MillisBehindLatest, ChildShards}) as records become durable, then the end
 * of the body after 5 minutes (as AWS), at the end of a closed shard, or
 * after an exception message. Over HTTP/2 the bridge (core/h2.c) sends the
 * pieces as DATA frames as they come; over HTTP/1.1 the body ends with the
 * connection.
 *
 * Life of a subscription (its own struct, on the loop of its connection):
 *   start   the handler checks the call; a worker finds the consumer and
 *           the shard (catalog), resolves LATEST and opens the subscription's
 *           own log handle; back on the loop the again rule is checked (the
 *           consumer's last subscription to the shard began less than 5 s
 *           ago: ResourceInUseException in the stream; one that runs and
 *           began earlier is taken over: it ends with that exception) and
 *           the request becomes a streaming response (fl_http_stream_begin).
 *   read    a worker reads from the position (at most 10,000 records or
 *           1 MiB of data) and frames one event; back on the loop it is
 *           queued for the client and the position moves. A read that found
 *           records reads again at once (catch-up); one that found none
 *           waits for a wake-up. A read waits while the subscription's
 *           out rate is in debt (rate_wait_us; the timer is set for when
 *           it is paid).
 *   wake    PutRecord(s)' completion, once the records are durable (the
 *           moment GetRecords can see them), calls fl_rec_sub_wake on its
 *           loop: each loop with subscriptions gets a message
 *           (fl_server_post) and wakes those of the stream. An idle
 *           subscription also reads every FL_RECORDS_SUB_HEARTBEAT_MS and
 *           sends that event even when empty, as AWS does (so records
 *           appended by others than PutRecord(s), hooks, arrive too).
 *   ended   by time, the shard's end, or an exception event queued last:
 *           its own read's error, or fl_rec_sub_end from any loop (the
 *           consumer deregistered, the stream deleted, taken over: a
 *           message to the subscription's loop, which matches it by id or
 *           by stream and consumer). A read in flight then sends nothing.
 *   end     the connection closes; its struct goes; a read in flight finds
 *           the sink empty and frees itself (the sink holds the log handle).
 *
 * Invariants: subs[loop] and everything in a sub are touched on that loop
 * only; n_subs[loop] is how many are in subs[loop] (read by other loops to
 * skip posting); at most one read per subscription is in flight; unsent
 * events are at most FL_RECORDS_SUB_BACKLOG bytes before a read is held
 * back; nothing follows an exception event. recent (under sub_mu) names
 * subscriptions by id, never by pointer. The subscription does not hold
 * the stream in use: DeleteStream goes ahead and ends it.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/awstime.h"
#include "common/cbor.h"
#include "common/clock.h"
#include "common/diag.h"
#include "common/error.h"
#include "common/eventstream.h"
#include "common/json.h"
#include "server/records/records.h"

#define CT_JSON "application/json"
#define CT_CBOR "application/x-amz-cbor-1.1"

typedef struct fl_rec_sub sub_t;

/* What a read in flight and its subscription share: freed by the last. */
typedef struct {
    sub_t *sub; /* NULL once the subscription is gone */
    int refs;   /* loop only */
    fl_log_t *log;
} sink_t;

struct fl_rec_sub {
    struct fl_rec_sub *next; /* subs[loop] */
    fl_http_req_t *r;
    fl_records_t *rs;
    sink_t *sink;
    int loop;
    uint64_t log_id;
    char name[FL_RECORDS_NAME_MAX + 1];
    uint32_t shard;
    int from_ts;  /* pos is a server time in ns (AT_TIMESTAMP, until a record) */
    uint64_t pos; /* the next sequence number to read */
    const fl_cbor_shape_t *cbor;
    fl_buf_t out; /* framed events not yet sent */
    size_t out_off;
    int reading, woken, want_read, ended, closing;
    uint64_t id; /* unique in the process: the again rule's entry names it */
    char consumer[FL_RECORDS_CONSUMER_NAME_MAX + 1];
    int64_t epoch;  /* the consumer's creation (its ARN's last part) */
    int64_t tokens; /* the out rate: 1e-9 bytes, negative in debt */
    int64_t tokens_ns;
    int64_t start_ms, last_event_ms;
};

/* The last start of a consumer's subscription to a shard (the again rule):
 * kept while that subscription runs, or for FL_RECORDS_SUB_AGAIN_MS. */
struct fl_rec_sub_start {
    struct fl_rec_sub_start *next;
    char arn[FL_RECORDS_NAME_MAX + FL_RECORDS_CONSUMER_NAME_MAX + 300];
    uint32_t shard;
    int64_t at_ms;
    uint64_t sub_id; /* the subscription it started while it runs, else 0 */
    int loop;        /* that subscription's loop */
};

#define NANO 1000000000LL

static int64_t mono_ms(void)
{
    return fl_time_mono_ns() / 1000000;
}

/* The out rate, FL_RECORDS_SUB_OUT_BYTES_S a subscription (so a consumer
 * and shard: one runs at a time), its own beside the shard's GetRecords
 * rate, as AWS meters enhanced fan-out: 0 when a read may go, else the
 * microseconds until its debt is paid. A read takes at most
 * FL_RECORDS_SUB_EVENT_BYTES and may leave the bucket in debt; the bucket
 * holds at most one second. Off with --records-throttle 0. */
static int64_t rate_wait_us(sub_t *s)
{
    if (!s->rs->throttle)
        return 0;
    int64_t now = fl_time_mono_ns();
    int64_t dt = now - s->tokens_ns;
    if (dt > 0) {
        __int128 t = (__int128)s->tokens + (__int128)FL_RECORDS_SUB_OUT_BYTES_S * dt;
        __int128 full = (__int128)FL_RECORDS_SUB_OUT_BYTES_S * NANO;
        s->tokens = (int64_t)(t > full ? full : t);
        s->tokens_ns = now;
    }
    if (s->tokens >= 0)
        return 0;
    return -s->tokens / FL_RECORDS_SUB_OUT_BYTES_S / 1000 + 1;
}

/* ---- framing ---- */

static void frame_json(fl_buf_t *out, const char *type, int exception, fl_slice_t json,
                       const fl_cbor_shape_t *cbor)
{
    fl_buf_t c;
    fl_buf_init(&c, 0);
    fl_slice_t payload = json;
    const char *ct = CT_JSON;
    if (cbor && fl_cbor_from_json_text(json, cbor, &c) == 0 && !c.err) {
        payload = fl_buf_slice(&c);
        ct = CT_CBOR;
    }
    const char *names[] = {":message-type", exception ? ":exception-type" : ":event-type",
                           ":content-type"};
    const char *values[] = {exception ? "exception" : "event", type, ct};
    fl_evs_write(out, names, values, 3, payload);
    fl_buf_free(&c);
}

static void frame_exception(fl_buf_t *out, const char *type, const char *msg,
                            const fl_cbor_shape_t *cbor)
{
    fl_buf_t j;
    fl_buf_init(&j, 0);
    fl_buf_append_str(&j, "{\"message\":");
    fl_json_write_string(&j, fl_slice_str(msg));
    fl_buf_u8(&j, '}');
    frame_json(out, type, 1, fl_buf_slice(&j), cbor);
    fl_buf_free(&j);
}

/* ---- reads ---- */

typedef struct {
    fl_job_t job; /* first */
    sink_t *sink;
    uint32_t shard;
    int from_ts;
    uint64_t pos;
    int force; /* an event even when empty (the heartbeat) */
    const fl_cbor_shape_t *cbor;
    /* results */
    int rc;
    int closed_end, again_ts;
    uint64_t next_seq;
    size_t count, bytes;
    fl_buf_t ev; /* the framed event, or nothing */
} read_job_t;

static void read_work(fl_job_t *job)
{
    read_job_t *j = (read_job_t *)job;
    fl_log_read_opts_t o = {.from = j->from_ts ? FL_LOG_AT_SERVER_TS : FL_LOG_AT_SEQ,
                            .seq = j->pos,
                            .ts_ns = (int64_t)j->pos,
                            .max_bytes = FL_RECORDS_SUB_EVENT_BYTES,
                            .max_records = FL_RECORDS_SUB_EVENT_RECORDS};
    fl_log_batch_t b;
    memset(&b, 0, sizeof b);
    int rc = fl_log_read(j->sink->log, j->shard, &o, &b);
    if (rc == FL_EEXPIRED || rc == FL_ECORRUPT) {
        /* past retention (or a damaged chunk): on from what is kept */
        o.from = FL_LOG_AT_SEQ;
        o.seq = b.next_seq;
        rc = fl_log_read(j->sink->log, j->shard, &o, &b);
    }
    j->next_seq = b.next_seq;
    if (rc == FL_EAGAIN) {
        rc = 0;
        j->again_ts = j->from_ts;
    } else if (rc == FL_EEOF) {
        rc = 0;
        j->closed_end = 1;
    }
    j->rc = rc;
    if (rc)
        goto out;
    j->count = b.count;
    fl_buf_t e;
    fl_buf_init(&e, 0);
    fl_buf_append_str(&e, "{\"Records\":[");
    int64_t last_ts = 0;
    for (size_t i = 0; i < b.count; i++) {
        if (i)
            fl_buf_u8(&e, ',');
        fl_rec_record_json(&e, &b.records[i]);
        j->bytes += b.records[i].payload.n;
        last_ts = b.records[i].server_ts_ns;
    }
    /* where to go on from with AFTER_SEQUENCE_NUMBER: the last record sent,
     * or just before the position when there was none */
    uint64_t cont = b.count ? b.records[b.count - 1].seq : j->next_seq ? j->next_seq - 1 : 0;
    int64_t behind = 0;
    fl_buf_t children;
    fl_buf_init(&children, 0);
    fl_log_shard_info_t *sh = NULL;
    size_t n = 0;
    if (fl_log_shards(j->sink->log, &sh, &n) == 0) {
        for (size_t i = 0; i < n; i++) {
            if (sh[i].id != j->shard)
                continue;
            if (j->next_seq < sh[i].next_seq && last_ts)
                behind = (fl_time_real_ns() - last_ts) / 1000000;
            if (!sh[i].open && j->next_seq >= sh[i].next_seq)
                j->closed_end = 1;
        }
        if (j->closed_end)
            fl_rec_children_json(&children, sh, n, j->shard);
    }
    free(sh);
    fl_buf_printf(
        &e, "],\"ContinuationSequenceNumber\":\"%" PRIu64 "\",\"MillisBehindLatest\":%" PRId64,
        cont, behind < 0 ? 0 : behind);
    if (j->closed_end) {
        fl_buf_append_str(&e, ",\"ChildShards\":[");
        fl_buf_append(&e, children.p, children.n);
        fl_buf_u8(&e, ']');
    }
    fl_buf_u8(&e, '}');
    fl_buf_free(&children);
    if (e.err)
        j->rc = e.err;
    else if (b.count || j->closed_end || j->force)
        frame_json(&j->ev, "SubscribeToShardEvent", 0, fl_buf_slice(&e), j->cbor);
    fl_buf_free(&e);
    if (!j->rc && j->ev.err)
        j->rc = j->ev.err;
out:
    fl_log_batch_free(&b);
}

static void sink_release(sink_t *s)
{
    if (--s->refs == 0) {
        fl_log_close(s->log);
        free(s);
    }
}

static size_t out_pending(const sub_t *s)
{
    return s->out.n - s->out_off;
}

static void read_done(fl_job_t *job);

static void schedule_read(sub_t *s, int force)
{
    if (s->reading || s->ended)
        return;
    if (out_pending(s) > FL_RECORDS_SUB_BACKLOG) {
        s->want_read = 1; /* once the client took some */
        return;
    }
    int64_t wait = rate_wait_us(s);
    if (wait) {
        s->want_read = 1; /* the timer reads once the debt is paid */
        s->rs->sub_throttled++;
        lws_set_timer_usecs(s->r->wsi, wait);
        return;
    }
    read_job_t *j = calloc(1, sizeof *j);
    if (!j) {
        s->want_read = 1;
        return;
    }
    j->job.work = read_work;
    j->job.done = read_done;
    j->sink = s->sink;
    j->shard = s->shard;
    j->from_ts = s->from_ts;
    j->pos = s->pos;
    j->force = force;
    j->cbor = s->cbor;
    fl_buf_init(&j->ev, 0);
    if (fl_workers_submit(fl_server_workers(s->rs->srv), &j->job) != 0) {
        free(j);
        s->want_read = 1; /* the pool is full: the timer tries again */
        return;
    }
    s->sink->refs++;
    s->reading = 1;
    s->woken = 0;
    s->want_read = 0;
}

static void read_done(fl_job_t *job)
{
    read_job_t *j = (read_job_t *)job;
    sub_t *s = j->sink->sub;
    if (s) {
        fl_records_t *rs = s->rs;
        s->reading = 0;
        if (s->rs->throttle)
            s->tokens -= (int64_t)j->bytes * NANO;
        if (s->ended) {
            /* ended meanwhile (5 minutes, deregistered, taken over): its
             * last message is out; this read's records are not sent */
        } else if (j->rc) {
            char msg[FL_RECORDS_NAME_MAX + 200];
            int gone = j->rc == FL_ENOTFOUND;
            snprintf(msg, sizeof msg,
                     gone ? "Stream %s under account %s not found (deleted)."
                          : "reading stream %s of account %s failed",
                     s->name, fl_server_config(rs->srv)->account_id);
            if (!gone)
                fl_error("records: SubscribeToShard on %s: %s", s->name, fl_strerror(j->rc));
            frame_exception(&s->out,
                            gone ? "ResourceNotFoundException" : "InternalFailureException", msg,
                            s->cbor);
            s->ended = 1;
        } else {
            if (j->ev.n) {
                if (!out_pending(s)) {
                    /* nothing waits: the event's buffer becomes the output */
                    fl_buf_free(&s->out);
                    s->out = j->ev;
                    s->out_off = 0;
                    fl_buf_init(&j->ev, 0);
                } else {
                    fl_buf_append(&s->out, j->ev.p, j->ev.n);
                }
                s->last_event_ms = mono_ms();
                rs->sub_events++;
                rs->sub_records += j->count;
                rs->sub_bytes += j->bytes;
            }
            if (!j->again_ts) {
                s->from_ts = 0;
                if (j->next_seq > s->pos || j->count)
                    s->pos = j->next_seq;
            }
            if (j->closed_end)
                s->ended = 1;
            else if (j->count || s->woken)
                schedule_read(s, 0);
        }
        lws_callback_on_writable(s->r->wsi);
    }
    fl_buf_free(&j->ev);
    sink_release(j->sink);
    free(j);
}

/* ---- wake-ups ---- */

typedef struct {
    fl_post_t post; /* first */
    fl_records_t *rs;
    uint64_t log_id;
} wake_msg_t;

static void wake_local(fl_records_t *rs, int loop, uint64_t log_id)
{
    for (sub_t *s = rs->subs[loop]; s; s = s->next) {
        if (s->log_id != log_id)
            continue;
        if (s->reading)
            s->woken = 1;
        else
            schedule_read(s, 0);
    }
}

static void wake_posted(fl_post_t *p)
{
    wake_msg_t *m = (wake_msg_t *)p;
    wake_local(m->rs, fl_server_loop(), m->log_id);
    free(m);
}

void fl_rec_sub_wake(fl_records_t *rs, uint64_t log_id)
{
    int here = fl_server_loop();
    for (int l = 0; l < rs->n_loops; l++) {
        if (rs->n_subs[l] == 0)
            continue;
        if (l == here) {
            wake_local(rs, l, log_id);
            continue;
        }
        wake_msg_t *m = calloc(1, sizeof *m);
        if (!m)
            continue; /* the heartbeat finds the records */
        m->post.fn = wake_posted;
        m->rs = rs;
        m->log_id = log_id;
        fl_server_post(rs->srv, l, &m->post);
    }
}

/* ---- ends: deregistered, deleted, taken over ---- */

typedef struct {
    fl_post_t post; /* first */
    fl_records_t *rs;
    fl_rec_sub_end_t e;
} end_msg_t;

static int end_matches(const sub_t *s, const fl_rec_sub_end_t *e)
{
    if (e->sub_id)
        return s->id == e->sub_id;
    if (s->log_id != e->log_id)
        return 0;
    return !e->consumer[0] || (strcmp(s->consumer, e->consumer) == 0 && s->epoch == e->epoch);
}

static void end_local(fl_records_t *rs, int loop, const fl_rec_sub_end_t *e)
{
    for (sub_t *s = rs->subs[loop]; s; s = s->next) {
        if (s->ended || !end_matches(s, e))
            continue;
        /* the exception is the stream's last message: after what is
         * queued, before what a read in flight finds (read_done drops it) */
        frame_exception(&s->out, e->type, e->msg, s->cbor);
        s->ended = 1;
        rs->subs_ended++;
        lws_callback_on_writable(s->r->wsi);
    }
}

static void end_posted(fl_post_t *p)
{
    end_msg_t *m = (end_msg_t *)p;
    end_local(m->rs, fl_server_loop(), &m->e);
    free(m);
}

void fl_rec_sub_end(fl_records_t *rs, const fl_rec_sub_end_t *e)
{
    int here = fl_server_loop();
    for (int l = 0; l < rs->n_loops; l++) {
        if (rs->n_subs[l] == 0 || (e->sub_id && l != e->loop))
            continue;
        if (l == here) {
            end_local(rs, l, e);
            continue;
        }
        end_msg_t *m = calloc(1, sizeof *m);
        if (!m) {
            fl_error("records: out of memory ending subscriptions (they end by themselves)");
            continue;
        }
        m->post.fn = end_posted;
        m->rs = rs;
        m->e = *e;
        fl_server_post(rs->srv, l, &m->post);
    }
}

/* ---- the streaming response ---- */

static int sub_writeable(fl_http_req_t *r)
{
    sub_t *s = r->stream;
    if (s->closing == 2)
        return -1;
    if (!r->headers_sent) {
        /* chunked, so that HTTP/1.1 clients (botocore reads in pieces of
         * 64 KiB unless the answer is chunked) get each event as it comes;
         * the h2 bridge decodes it into DATA frames */
        if (fl_http_add_header(r, "transfer-encoding", "chunked") ||
            fl_http_stream_headers(r, 200, "application/vnd.amazon.eventstream", -1))
            return -1;
        lws_callback_on_writable(r->wsi);
        return 0;
    }
    if (s->closing == 1) {
        /* the last chunk, then the connection closes */
        if (fl_http_stream_write(r, fl_slice_str("0\r\n\r\n"), 0))
            return -1;
        s->closing = 2;
        lws_callback_on_writable(r->wsi);
        return 0;
    }
    if (s->out.err) {
        fl_error("records: SubscribeToShard on %s: out of memory for the events", s->name);
        return -1;
    }
    size_t n = out_pending(s);
    if (n) {
        static _Thread_local uint8_t piece[FL_HTTP_WRITE_CHUNK];
        if (n > FL_HTTP_WRITE_CHUNK - 16)
            n = FL_HTTP_WRITE_CHUNK - 16; /* room for the chunk's size and CRLFs */
        int h = snprintf((char *)piece, 16, "%zx\r\n", n);
        memcpy(piece + h, s->out.p + s->out_off, n);
        memcpy(piece + h + n, "\r\n", 2);
        if (fl_http_stream_write(r, fl_slice(piece, (size_t)h + n + 2), 0))
            return -1;
        s->out_off += n;
        if (out_pending(s)) {
            lws_callback_on_writable(r->wsi);
            return 0;
        }
        fl_buf_reset(&s->out);
        s->out_off = 0;
        if (s->want_read)
            schedule_read(s, 0);
    }
    if (s->ended && !s->reading && out_pending(s) == 0) {
        s->closing = 1;
        lws_callback_on_writable(r->wsi);
    }
    return 0;
}

static int sub_timer(fl_http_req_t *r)
{
    sub_t *s = r->stream;
    int64_t now = mono_ms();
    lws_set_timer_usecs(r->wsi, 1000 * 1000); /* before a read held by the rate sets less */
    if (!s->ended && now - s->start_ms >= FL_RECORDS_SUB_MS) {
        s->ended = 1; /* as AWS: the subscription ends after 5 minutes */
        lws_callback_on_writable(r->wsi);
    } else if (!s->ended && !s->reading &&
               (s->want_read || now - s->last_event_ms >= FL_RECORDS_SUB_HEARTBEAT_MS)) {
        schedule_read(s, now - s->last_event_ms >= FL_RECORDS_SUB_HEARTBEAT_MS);
    }
    return 0;
}

static void sub_closed(fl_http_req_t *r)
{
    sub_t *s = r->stream;
    if (!s)
        return;
    fl_records_t *rs = s->rs;
    for (sub_t **p = &rs->subs[s->loop]; *p; p = &(*p)->next)
        if (*p == s) {
            *p = s->next;
            rs->n_subs[s->loop]--;
            break;
        }
    rs->subs_active--;
    pthread_mutex_lock(&rs->sub_mu);
    for (struct fl_rec_sub_start *e = rs->recent; e; e = e->next)
        if (e->sub_id == s->id)
            e->sub_id = 0; /* the entry goes 5 s after its start */
    pthread_mutex_unlock(&rs->sub_mu);
    s->sink->sub = NULL;
    sink_release(s->sink);
    fl_buf_free(&s->out);
    free(s);
    r->stream = NULL;
}

static const fl_http_stream_ops_t sub_ops = {
    .writeable = sub_writeable,
    .timer = sub_timer,
    .closed = sub_closed,
};

/* ---- the call ---- */

typedef struct {
    fl_http_async_t a; /* first */
    fl_records_t *rs;
    fl_rec_stream_t st;
    char consumer[FL_RECORDS_CONSUMER_NAME_MAX + 1];
    char arn[FL_RECORDS_NAME_MAX + FL_RECORDS_CONSUMER_NAME_MAX + 300];
    int64_t epoch;
    uint32_t shard;
    int latest, from_ts;
    uint64_t pos;
    const fl_cbor_shape_t *cbor;
    /* the worker's */
    fl_log_t *log;
    const char *err_type;
    char msg[FL_RECORDS_NAME_MAX + FL_RECORDS_CONSUMER_NAME_MAX + 200];
    int rc;
} start_job_t;

static void start_work(fl_http_async_t *a)
{
    start_job_t *j = (start_job_t *)a;
    const char *acct = fl_server_config(j->rs->srv)->account_id;
    fl_rec_consumer_t cs[FL_RECORDS_MAX_CONSUMERS];
    size_t n = 0, found = 0;
    if ((j->rc = fl_rec_consumers_load(j->st.log, cs, &n)) != 0)
        return;
    for (size_t i = 0; i < n; i++)
        found += strcmp(cs[i].name, j->consumer) == 0 && cs[i].created_s == j->epoch;
    if (!found) {
        j->err_type = "ResourceNotFoundException";
        snprintf(j->msg, sizeof j->msg, "Consumer %s under stream %s under account %s not found.",
                 j->consumer, j->st.name, acct);
        return;
    }
    fl_log_shard_info_t *sh = NULL;
    if ((j->rc = fl_log_shards(j->st.log, &sh, &n)) != 0)
        return;
    const fl_log_shard_info_t *s = NULL;
    for (size_t i = 0; i < n; i++)
        if (sh[i].id == j->shard)
            s = &sh[i];
    if (!s) {
        char id[32];
        fl_rec_shard_id(j->shard, id, sizeof id);
        j->err_type = "ResourceNotFoundException";
        snprintf(j->msg, sizeof j->msg, "Shard %s in stream %s under account %s does not exist", id,
                 j->st.name, acct);
    } else if (j->latest) {
        j->pos = s->next_seq;
    }
    free(sh);
    if (j->err_type)
        return;
    /* the subscription's own handle: it does not hold the stream in use */
    char ln[FL_LOG_MAX_NAME + 1];
    fl_log_info_t info;
    fl_rec_log_name(j->st.name, ln, sizeof ln);
    if ((j->rc = fl_log_open(fl_server_store(j->rs->srv), ln, &j->log)) == 0 &&
        ((j->rc = fl_log_info(j->log, &info)) != 0 || info.id != j->st.info.id)) {
        j->rc = j->rc ? j->rc : FL_ENOTFOUND;
        fl_log_close(j->log);
        j->log = NULL;
    }
}

/* The again rule, as AWS: -1 when the consumer's last subscription to the
 * shard began less than FL_RECORDS_SUB_AGAIN_MS ago; else 0 with the start
 * of s noted, and the subscription it takes over (still running, begun
 * earlier) in *old (id 0 when none). */
static int note_start(fl_records_t *rs, const char *arn, const sub_t *s, fl_rec_sub_end_t *old)
{
    int64_t now = mono_ms();
    int rc = 0;
    struct fl_rec_sub_start *found = NULL;
    old->sub_id = 0;
    pthread_mutex_lock(&rs->sub_mu);
    for (struct fl_rec_sub_start **p = &rs->recent; *p;) {
        struct fl_rec_sub_start *e = *p;
        if (e->shard == s->shard && strcmp(e->arn, arn) == 0) {
            found = e;
            if (now - e->at_ms < FL_RECORDS_SUB_AGAIN_MS)
                rc = -1;
        } else if (!e->sub_id && now - e->at_ms >= FL_RECORDS_SUB_AGAIN_MS) {
            *p = e->next;
            free(e);
            continue;
        }
        p = &e->next;
    }
    if (!rc) {
        if (found) {
            old->sub_id = found->sub_id;
            old->loop = found->loop;
        } else if ((found = calloc(1, sizeof *found)) != NULL) {
            snprintf(found->arn, sizeof found->arn, "%s", arn);
            found->shard = s->shard;
            found->next = rs->recent;
            rs->recent = found;
        } /* else out of memory: not noted */
        if (found) {
            found->at_ms = now;
            found->sub_id = s->id;
            found->loop = s->loop;
        }
    }
    pthread_mutex_unlock(&rs->sub_mu);
    return rc;
}

static void start_done(fl_http_async_t *a, fl_http_req_t *r)
{
    start_job_t *j = (start_job_t *)a;
    fl_records_t *rs = j->rs;
    sub_t *s = NULL;
    if (!r)
        goto out;
    if (j->err_type) {
        fl_http_respond_error(r, 400, j->err_type, "%s", j->msg);
        goto out;
    }
    if (j->rc == FL_ENOTFOUND) {
        fl_http_respond_error(r, 400, "ResourceNotFoundException",
                              "Stream %s under account %s not found.", j->st.name,
                              fl_server_config(rs->srv)->account_id);
        goto out;
    }
    if (j->rc) {
        fl_http_respond_error(r, 500, "InternalFailureException", "stream %s: %s", j->st.name,
                              fl_strerror(j->rc));
        goto out;
    }
    s = calloc(1, sizeof *s);
    sink_t *sink = calloc(1, sizeof *sink);
    if (!s || !sink) {
        free(sink);
        fl_http_respond_error(r, 500, "InternalFailureException", "out of memory");
        goto out;
    }
    sink->sub = s;
    sink->refs = 1;
    sink->log = j->log;
    j->log = NULL;
    s->sink = sink;
    s->r = r;
    s->rs = rs;
    s->loop = fl_server_loop();
    s->log_id = j->st.info.id;
    snprintf(s->name, sizeof s->name, "%s", j->st.name);
    s->shard = j->shard;
    s->from_ts = j->from_ts;
    s->pos = j->pos;
    s->cbor = j->cbor;
    s->id = ++rs->sub_ids;
    snprintf(s->consumer, sizeof s->consumer, "%s", j->consumer);
    s->epoch = j->epoch;
    s->tokens = (int64_t)FL_RECORDS_SUB_OUT_BYTES_S * NANO;
    s->tokens_ns = fl_time_mono_ns();
    s->start_ms = s->last_event_ms = mono_ms();
    fl_buf_init(&s->out, 0);
    s->next = rs->subs[s->loop];
    rs->subs[s->loop] = s;
    rs->n_subs[s->loop]++;
    rs->subs_active++;
    /* the initial response, then events, or the exception of the again rule */
    frame_json(&s->out, "initial-response", 0, fl_slice_str("{}"), s->cbor);
    fl_rec_sub_end_t old;
    if (note_start(rs, j->arn, s, &old) != 0) {
        char id[32], msg[sizeof j->arn + 160];
        fl_rec_shard_id(j->shard, id, sizeof id);
        snprintf(msg, sizeof msg,
                 "Another active subscription exists for consumer %s on shard %s, or one began "
                 "less than 5 seconds ago.",
                 j->arn, id);
        frame_exception(&s->out, "ResourceInUseException", msg, s->cbor);
        s->ended = 1;
        rs->subs_refused++;
    } else {
        rs->subs_started++;
        if (old.sub_id) {
            /* as AWS: a call 5 s or more after the last one takes over */
            char id[32];
            fl_rec_shard_id(j->shard, id, sizeof id);
            snprintf(old.msg, sizeof old.msg,
                     "Another subscription of consumer %s to shard %s took this one over.",
                     s->consumer, id);
            old.type = "ResourceInUseException";
            fl_rec_sub_end(rs, &old);
        }
        schedule_read(s, 0);
    }
    fl_http_stream_begin(r, &sub_ops, s);
    lws_set_timer_usecs(r->wsi, 1000 * 1000);
out:
    if (j->log)
        fl_log_close(j->log);
    fl_rec_put(&j->st);
    free(j);
}

void fl_rec_subscribe_to_shard(fl_http_req_t *r)
{
    fl_records_t *rs = r->mod;
    const fl_json_t *carn = fl_http_json(r, "ConsumerARN");
    const fl_json_t *sid = fl_http_json(r, "ShardId");
    const fl_json_t *sp = fl_http_json(r, "StartingPosition");
    start_job_t *j = calloc(1, sizeof *j);
    if (!j) {
        fl_http_respond_error(r, 500, "InternalFailureException", "out of memory");
        return;
    }
    j->rs = rs;
    char stream[FL_RECORDS_NAME_MAX + 1];
    if (!carn || carn->type != FL_JSON_STRING || memchr(carn->str, 0, carn->len) ||
        fl_rec_parse_consumer_arn(rs, carn->str, stream, sizeof stream, j->consumer,
                                  sizeof j->consumer, &j->epoch) != 0) {
        fl_http_respond_error(r, 400, "InvalidArgumentException",
                              "ConsumerARN is required: a consumer ARN of this server "
                              "(arn:aws:kinesis:%s:%s:stream/NAME/consumer/NAME:EPOCH)",
                              fl_server_config(rs->srv)->region,
                              fl_server_config(rs->srv)->account_id);
        goto fail;
    }
    snprintf(j->arn, sizeof j->arn, "%s", carn->str);
    if (!sid || sid->type != FL_JSON_STRING || fl_rec_parse_shard_id(sid->str, &j->shard) != 0) {
        fl_http_respond_error(r, 400, "ValidationException", "ShardId is required: shardId-NNNN");
        goto fail;
    }
    const fl_json_t *type = sp && sp->type == FL_JSON_OBJECT ? fl_json_get(sp, "Type") : NULL;
    if (!type || type->type != FL_JSON_STRING) {
        fl_http_respond_error(r, 400, "ValidationException",
                              "StartingPosition with a Type is required");
        goto fail;
    }
    const char *t = type->str;
    const fl_json_t *sn = fl_json_get(sp, "SequenceNumber");
    if (strcmp(t, "TRIM_HORIZON") == 0) {
        j->pos = 0;
    } else if (strcmp(t, "LATEST") == 0) {
        j->latest = 1;
    } else if (strcmp(t, "AT_SEQUENCE_NUMBER") == 0 || strcmp(t, "AFTER_SEQUENCE_NUMBER") == 0) {
        if (!sn || sn->type != FL_JSON_STRING || fl_rec_parse_seq(sn->str, &j->pos) != 0 ||
            (t[1] == 'F' && j->pos == UINT64_MAX)) {
            fl_http_respond_error(r, 400, "InvalidArgumentException",
                                  "StartingPosition.SequenceNumber is required for %s", t);
            goto fail;
        }
        if (t[1] == 'F')
            j->pos++;
    } else if (strcmp(t, "AT_TIMESTAMP") == 0) {
        int64_t ns;
        if (fl_awstime_parse_json(fl_json_get(sp, "Timestamp"), &ns) != 0 || ns < 0) {
            fl_http_respond_error(r, 400, "InvalidArgumentException",
                                  "StartingPosition.Timestamp is required for AT_TIMESTAMP");
            goto fail;
        }
        j->from_ts = 1; /* at the millisecond records report, inclusive */
        j->pos = (uint64_t)(ns - ns % 1000000);
    } else {
        fl_http_respond_error(r, 400, "ValidationException",
                              "StartingPosition.Type '%s' is not one of AT_SEQUENCE_NUMBER, "
                              "AFTER_SEQUENCE_NUMBER, TRIM_HORIZON, LATEST, AT_TIMESTAMP",
                              t);
        goto fail;
    }
    if (fl_rec_get_named(r, stream, &j->st) != 0)
        goto fail;
    j->cbor = r->cbor ? r->route->cbor : NULL;
    j->a.work = start_work;
    j->a.done = start_done;
    if (fl_http_async_or_busy(r, &j->a, "LimitExceededException") != 0) {
        fl_rec_put(&j->st);
        goto fail;
    }
    return;
fail:
    free(j);
}

/* ---- module life ---- */

int fl_rec_sub_init(fl_records_t *rs)
{
    rs->n_loops = fl_server_loops(rs->srv);
    if (rs->n_loops < 1)
        rs->n_loops = 1;
    rs->subs = calloc((size_t)rs->n_loops, sizeof *rs->subs);
    rs->n_subs = calloc((size_t)rs->n_loops, sizeof *rs->n_subs);
    pthread_mutex_init(&rs->consumers_mu, NULL);
    pthread_mutex_init(&rs->sub_mu, NULL);
    return rs->subs && rs->n_subs ? 0 : FL_ENOMEM;
}

void fl_rec_sub_fini(fl_records_t *rs)
{
    while (rs->recent) {
        struct fl_rec_sub_start *e = rs->recent;
        rs->recent = e->next;
        free(e);
    }
    free(rs->subs);
    free((void *)rs->n_subs);
    pthread_mutex_destroy(&rs->consumers_mu);
    pthread_mutex_destroy(&rs->sub_mu);
}
