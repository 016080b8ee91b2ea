/*
 * server/kvs/api_getmedia.c — GetMedia: `POST /getMedia` with a StartSelector;
 * the response is a Matroska stream of the stream's fragments from that
 * point on, each followed by the reference's Tags, and it follows the
 * stream as new fragments become durable.
 *
 * Output: EBML header, Segment (unknown size), Info (TimecodeScale 1 ms),
 * Tracks; then per fragment: the producer's metadata Tags (if any), the
 * stored Cluster (absolute timecodes in ms), and a Tags element with
 * AWS_KINESISVIDEO_FRAGMENT_NUMBER, _SERVER_TIMESTAMP, _PRODUCER_TIMESTAMP,
 * _MILLIS_BEHIND_NOW and _CONTINUATION_TOKEN. When a fragment's Tracks
 * differ from the last ones sent, a new EBML header, Segment, Info and
 * Tracks come first (as a producer starts a new session). After
 * FL_GETMEDIA_IDLE_MS without new data the stream ends with a last Tags
 * element holding AWS_KINESISVIDEO_CONTINUATION_TOKEN.
 *
 * Reading decrypts and may wait for the disk, so it runs on a worker; the
 * loop only copies the result into the response. Once the archive has
 * nothing more (the next fragment is not durable yet), the reader joins the
 * stream's live tail (server/live.c) at exactly that fragment and gets each
 * frame as the producer's bytes are parsed: a live Cluster of unknown size,
 * its SimpleBlocks as they come, then the fragment's Tags when it is
 * complete. A reader cut loose by the tail (too slow) goes back to the
 * archive where it was.
 * At most FL_GETMEDIA_HIGH_WATER bytes wait in memory per reader: a slow
 * reader is read for no faster than it takes.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/awstime.h"
#include "common/diag.h"
#include "common/error.h"
#include "media/mkv_writer.h"
#include "server/kvs/kvs.h"
#include "server/video/fragment.h"
#include "server/video/hub.h"
#include "server/video/validate.h"

#define FL_GETMEDIA_IDLE_MS    3000
#define FL_GETMEDIA_HIGH_WATER (8u << 20)
#define FL_GETMEDIA_READ_BYTES (4u << 20)

typedef struct getmedia getmedia_t;

typedef struct {
    int refs;
    getmedia_t *gm; /* NULL once the connection is gone */
} gsink_t;

typedef struct {
    fl_job_t job; /* first */
    gsink_t *sink;
    fl_video_t *video;
    fl_hub_entry_t *hub; /* held while the job runs: the stream's log stays */
    fl_log_t *log;
    fl_log_read_opts_t opts;
    fl_log_batch_t batch;
    int rc;
} read_job_t;

struct getmedia {
    fl_http_req_t *r;
    fl_stream_rate_t *rate; /* held: counts this reader (--getmedia-max-readers) */
    fl_stream_ref_t ref;    /* the stream: name, log, hub entry (live tail) */
    fl_log_read_opts_t at;  /* where the next read starts */
    int reading;            /* a read job is out */
    int caught_up;          /* the last read found nothing new */
    uint64_t *list;         /* GetMediaForFragmentList: the fragments, in order */
    size_t n_list, list_pos;
    fl_live_reader_t *lr; /* in the tail, or NULL while in the archive */
    int64_t cluster_ms;   /* live: the open Cluster's timecode */
    /* the response's bytes not yet written are out[out_off, out.n); what
     * lies before out_off (at least LWS_PRE bytes) is sent or headroom, so
     * pieces go to lws_write from here without another copy */
    fl_buf_t out;
    size_t out_off;
    fl_buf_t tracks;                    /* the Tracks element last sent */
    char token[FL_FRAGMENT_NUMBER_CAP]; /* the continuation token: the last fragment sent */
    int64_t idle_since_ms;
    int ended;   /* the end tags are queued */
    int closing; /* all written: close at the next writeable */
    gsink_t *sink;
};

static int64_t mono_ms(void)
{
    return fl_time_mono_ns() / 1000000;
}

/* Bytes of the response waiting to be written. */
static size_t out_pending(const getmedia_t *gm)
{
    return gm->out.n > gm->out_off ? gm->out.n - gm->out_off : 0; /* 0 after a failed allocation */
}

/* Written n more: drop them, without moving the rest unless the sent part
 * is both large and larger than what is left (so each byte moves at most
 * about once). */
static void out_sent(getmedia_t *gm, size_t n)
{
    gm->out_off += n;
    size_t left = out_pending(gm);
    if (left == 0) {
        gm->out.n = gm->out_off = LWS_PRE;
    } else if (gm->out_off > (1u << 20) && gm->out_off - LWS_PRE >= left) {
        memmove(gm->out.p + LWS_PRE, gm->out.p + gm->out_off, left);
        gm->out.n = LWS_PRE + left;
        gm->out_off = LWS_PRE;
    }
}

static void gsink_release(gsink_t *s)
{
    if (--s->refs == 0)
        free(s);
}

static void put_tag(fl_mkv_tag_t *t, const char *name, const char *value)
{
    t->name = fl_slice_str(name);
    t->value = fl_slice_str(value);
    t->binary = 0;
}

static void fmt_ts(char *buf, size_t cap, int64_t ns)
{
    snprintf(buf, cap, "%" PRId64 ".%03" PRId64, ns / 1000000000, (ns / 1000000) % 1000);
}

/* EBML header, Segment of unknown size, Info: what every session starts
 * with. */
static void session_start(getmedia_t *gm)
{
    fl_mkv_write_ebml_header(&gm->out, NULL);
    fl_mkv_write_segment_start(&gm->out);
    fl_mkv_info_t info;
    memset(&info, 0, sizeof info);
    info.muxing_app = fl_slice_str("framelog");
    info.writing_app = fl_slice_str("framelog " FL_VERSION);
    fl_mkv_write_info(&gm->out, &info);
}

static void session_header(getmedia_t *gm, fl_slice_t tracks)
{
    session_start(gm);
    fl_buf_append(&gm->out, tracks.p, tracks.n);
    fl_buf_reset(&gm->tracks);
    fl_buf_append(&gm->tracks, tracks.p, tracks.n);
}

static void emit_tags(getmedia_t *gm, const fl_log_record_t *rec);

/* One stored fragment into the output. */
static void emit_fragment(getmedia_t *gm, const fl_log_record_t *rec)
{
    fl_fragment_t f;
    if (fl_fragment_decode(rec->payload, &f) != 0) {
        fl_error("getmedia %s: record %" PRIu64 " is not a fragment; skipped", gm->ref.name,
                 rec->seq);
        return;
    }
    if (!fl_slice_eq(f.tracks, fl_buf_slice(&gm->tracks)))
        session_header(gm, f.tracks);
    fl_buf_append(&gm->out, f.tags.p, f.tags.n);
    fl_buf_append(&gm->out, f.cluster.p, f.cluster.n);
    emit_tags(gm, rec);
}

/* The reference's Tags after a fragment's Cluster. */
static void emit_tags(getmedia_t *gm, const fl_log_record_t *rec)
{
    char number[FL_FRAGMENT_NUMBER_CAP], server_ts[32], producer_ts[32], behind[32];
    fl_fragment_number(gm->ref.info.id, rec->seq, number, sizeof number);
    fmt_ts(server_ts, sizeof server_ts, rec->server_ts_ns);
    fmt_ts(producer_ts, sizeof producer_ts, rec->producer_ts_ns);
    int64_t b = (fl_time_real_ns() - rec->server_ts_ns) / 1000000;
    snprintf(behind, sizeof behind, "%" PRId64, b < 0 ? 0 : b);
    fl_mkv_tag_t t[5];
    put_tag(&t[0], "AWS_KINESISVIDEO_FRAGMENT_NUMBER", number);
    put_tag(&t[1], "AWS_KINESISVIDEO_SERVER_TIMESTAMP", server_ts);
    put_tag(&t[2], "AWS_KINESISVIDEO_PRODUCER_TIMESTAMP", producer_ts);
    put_tag(&t[3], "AWS_KINESISVIDEO_MILLIS_BEHIND_NOW", behind);
    put_tag(&t[4], "AWS_KINESISVIDEO_CONTINUATION_TOKEN", number);
    fl_mkv_write_tags(&gm->out, t, 5);
    snprintf(gm->token, sizeof gm->token, "%s", number);
}

static void schedule_read(getmedia_t *gm);

static void end_stream(getmedia_t *gm)
{
    if (gm->ended)
        return;
    gm->ended = 1;
    /* nothing was sent (NOW with no producer, a start past the end): still a
     * whole Matroska session, EBML header, Segment, Info and an empty
     * Cluster stamped now (demuxers such as ffmpeg's call a file without a
     * Cluster truncated), then the token of where the reader stood, so that
     * the client resumes from there */
    if (gm->tracks.n == 0) {
        size_t mark;
        session_start(gm);
        fl_mkv_write_cluster_begin(&gm->out, (uint64_t)(fl_time_real_ns() / 1000000), &mark);
        fl_mkv_write_cluster_end(&gm->out, mark);
    }
    if (!gm->token[0] && !gm->list && gm->at.from == FL_LOG_AT_SEQ && gm->at.seq > 0)
        fl_fragment_number(gm->ref.info.id, gm->at.seq - 1, gm->token, sizeof gm->token);
    if (gm->token[0]) {
        fl_mkv_tag_t t;
        put_tag(&t, "AWS_KINESISVIDEO_CONTINUATION_TOKEN", gm->token);
        fl_mkv_write_tags(&gm->out, &t, 1);
    }
    lws_callback_on_writable(gm->r->wsi);
}

/* The stored time of rec that a StartSelector of type from compares, as
 * it is reported (kvs.h). */
static int64_t start_ts_of(fl_log_from_t from, const fl_log_record_t *rec)
{
    return fl_kvs_reported_ns(from == FL_LOG_AT_PRODUCER_TS ? rec->producer_ts_ns
                                                            : rec->server_ts_ns);
}

/* A SERVER_TIMESTAMP or PRODUCER_TIMESTAMP start (o->ts_ns) turned into a
 * fragment: the one that contains the time, as AWS documents — its
 * reported timestamp is at or before the time and its length
 * (fl_fragment_length_ms) reaches past it — or else the first one after
 * the time. Storage finds the first fragment at or after the time; the
 * one before it is read to see whether it contains the time. On a storage
 * error o is left as it is and the read that follows reports it. Worker
 * thread. */
static void resolve_start(fl_log_t *log, fl_log_read_opts_t *o)
{
    int64_t t = o->ts_ns;
    fl_log_read_opts_t q = *o;
    q.ts_ns = fl_kvs_reported_ceil_ns(t);
    q.max_records = 1;
    q.max_bytes = 1;
    fl_log_batch_t b;
    memset(&b, 0, sizeof b);
    uint64_t after; /* the first fragment reported at or after t, or where it will be */
    int rc = fl_log_read(log, 0, &q, &b);
    if (rc == 0 && b.count) {
        after = b.records[0].seq;
        if (start_ts_of(o->from, &b.records[0]) == t)
            goto out; /* one starts at t exactly */
    } else if (rc == FL_EAGAIN) {
        after = b.next_seq;
    } else {
        fl_log_batch_free(&b);
        return;
    }
    if (after > 0) {
        fl_log_read_opts_t p = {.from = FL_LOG_AT_SEQ, .seq = after - 1, .max_records = 1};
        if (fl_log_read(log, 0, &p, &b) == 0 && b.count && b.records[0].seq == after - 1) {
            fl_fragment_t f;
            uint32_t len_ms = 0;
            int64_t start = start_ts_of(o->from, &b.records[0]);
            if (fl_fragment_decode(b.records[0].payload, &f) == 0 &&
                fl_fragment_length_ms(&f, &len_ms) == 0 && start <= t &&
                t < start + (int64_t)len_ms * FL_KVS_TS_UNIT_NS)
                after--;
        }
    }
out:
    o->from = FL_LOG_AT_SEQ;
    o->seq = after;
    fl_log_batch_free(&b);
}

static void read_work(fl_job_t *job)
{
    read_job_t *j = (read_job_t *)job;
    if (j->opts.from != FL_LOG_AT_SEQ)
        resolve_start(j->log, &j->opts);
    j->rc = fl_log_read(j->log, 0, &j->opts, &j->batch);
}

static void schedule_read(getmedia_t *gm);
static void gm_wake(void *data);

static void read_done(fl_job_t *job)
{
    read_job_t *j = (read_job_t *)job;
    getmedia_t *gm = j->sink->gm;
    if (gm) {
        gm->reading = 0;
        if (gm->list) {
            /* one named fragment per read */
            uint64_t want = gm->list[gm->list_pos++];
            if (j->rc == 0 && j->batch.count && j->batch.records[0].seq == want)
                emit_fragment(gm, &j->batch.records[0]);
            else
                fl_warn("getmedia %s: fragment %" PRIu64 " is not stored (expired?)", gm->ref.name,
                        want);
            lws_callback_on_writable(gm->r->wsi);
            schedule_read(gm);
        } else if (j->rc == 0) {
            for (size_t i = 0; i < j->batch.count; i++)
                emit_fragment(gm, &j->batch.records[i]);
            gm->at.from = FL_LOG_AT_SEQ;
            gm->at.seq = j->batch.next_seq;
            gm->caught_up = 0;
            gm->idle_since_ms = mono_ms();
            lws_callback_on_writable(gm->r->wsi);
            schedule_read(gm);
        } else if (j->rc == FL_EAGAIN) {
            /* storage has nothing more: follow the live tail from the first
             * fragment it does not have */
            gm->at.from = FL_LOG_AT_SEQ;
            if (j->batch.next_seq > gm->at.seq)
                gm->at.seq = j->batch.next_seq;
            int rc = fl_live_join(gm->ref.hub->live, gm->at.seq, gm_wake, gm, &gm->lr);
            if (rc == FL_ENOTFOUND)
                schedule_read(gm); /* it became durable meanwhile */
            else
                gm->caught_up = 1;
            lws_callback_on_writable(gm->r->wsi);
        } else if (j->rc == FL_EEXPIRED) {
            /* retention removed the start: go on from the oldest kept */
            gm->at.from = FL_LOG_AT_SEQ;
            gm->at.seq = j->batch.next_seq;
            schedule_read(gm);
        } else if (j->rc == FL_ECORRUPT) {
            fl_error("getmedia %s: a damaged chunk was skipped", gm->ref.name);
            gm->at.from = FL_LOG_AT_SEQ;
            gm->at.seq = j->batch.next_seq;
            schedule_read(gm);
        } else {
            fl_warn("getmedia %s: read ended: %s", gm->ref.name, fl_strerror(j->rc));
            end_stream(gm);
        }
    }
    fl_log_batch_free(&j->batch);
    fl_hub_release(j->video->hub, j->hub);
    gsink_release(j->sink);
    free(j);
}

static void schedule_read(getmedia_t *gm)
{
    if (gm->reading || gm->ended || gm->lr || out_pending(gm) > FL_GETMEDIA_HIGH_WATER)
        return;
    read_job_t *j = calloc(1, sizeof *j);
    if (!j)
        return;
    j->job.work = read_work;
    j->job.done = read_done;
    j->sink = gm->sink;
    j->video = gm->ref.video;
    j->hub = gm->ref.hub;
    j->log = gm->ref.log;
    j->opts = gm->at;
    j->opts.max_bytes = FL_GETMEDIA_READ_BYTES;
    j->opts.max_records = 32;
    if (gm->list) {
        if (gm->list_pos == gm->n_list) {
            free(j);
            end_stream(gm);
            return;
        }
        j->opts.from = FL_LOG_AT_SEQ;
        j->opts.seq = gm->list[gm->list_pos];
        j->opts.max_records = 1;
    }
    if (fl_workers_submit(fl_server_workers(gm->r->srv), &j->job) != 0) {
        free(j);
        return; /* retried at the next writeable or watch event */
    }
    gm->sink->refs++;
    fl_hub_hold(gm->ref.hub); /* released by read_done, after the read */
    gm->reading = 1;
}

/* The live tail has news for this reader. */
static void gm_wake(void *data)
{
    getmedia_t *gm = data;
    lws_callback_on_writable(gm->r->wsi);
}

/* Pull tail events into the output while it is short. */
static void pump_live(getmedia_t *gm)
{
    fl_live_event_t ev;
    while (gm->lr && !gm->ended && out_pending(gm) < (1u << 20)) {
        fl_live_next(gm->lr, &ev);
        switch (ev.type) {
        case FL_LIVE_NONE:
            return;
        case FL_LIVE_FRAGMENT:
            if (!fl_slice_eq(ev.tracks, fl_buf_slice(&gm->tracks)))
                session_header(gm, ev.tracks);
            gm->cluster_ms = ev.producer_ms;
            fl_mkv_write_cluster_start(&gm->out, (uint64_t)ev.producer_ms);
            break;
        case FL_LIVE_FRAME: {
            int64_t rel = ev.pts_ms - gm->cluster_ms;
            if (rel < -32768 || rel > 32767) { /* cannot happen within limits */
                gm->cluster_ms = ev.pts_ms;
                fl_mkv_write_cluster_start(&gm->out, (uint64_t)ev.pts_ms);
                rel = 0;
            }
            fl_mkv_write_simple_block(&gm->out, ev.track, rel, ev.keyframe, ev.bytes);
            break;
        }
        case FL_LIVE_END: {
            fl_log_record_t rec;
            memset(&rec, 0, sizeof rec);
            rec.seq = ev.seq;
            rec.server_ts_ns = ev.server_ns;
            rec.producer_ts_ns = ev.producer_ms * 1000000;
            emit_tags(gm, &rec);
            gm->at.from = FL_LOG_AT_SEQ;
            gm->at.seq = ev.seq + 1;
            break;
        }
        case FL_LIVE_DROPPED:
            break; /* its Cluster of unknown size ends at the next one */
        case FL_LIVE_CUT:
            fl_info("getmedia %s: reader fell behind the live tail; back to storage", gm->ref.name);
            fl_live_leave(gm->lr);
            gm->lr = NULL;
            gm->at.from = FL_LOG_AT_SEQ;
            gm->at.seq = ev.seq;
            gm->caught_up = 0;
            schedule_read(gm);
            return;
        }
        gm->idle_since_ms = mono_ms();
    }
}

static int gm_writeable(fl_http_req_t *r)
{
    getmedia_t *gm = r->stream;
    if (gm->closing)
        return -1;
    if (!r->headers_sent) {
        if (fl_http_stream_headers(r, 200, "video/webm", -1))
            return -1;
        lws_callback_on_writable(r->wsi); /* what waits goes out next */
        return 0;
    }
    pump_live(gm);
    if (gm->out.err) {
        fl_error("getmedia %s: out of memory for the response", gm->ref.name);
        return -1;
    }
    if (out_pending(gm)) {
        size_t n = out_pending(gm) < FL_HTTP_WRITE_CHUNK ? out_pending(gm) : FL_HTTP_WRITE_CHUNK;
        if (fl_http_stream_write_pre(r, gm->out.p + gm->out_off, n, 0))
            return -1;
        out_sent(gm, n);
        if (out_pending(gm)) {
            lws_callback_on_writable(r->wsi);
            return 0;
        }
        schedule_read(gm);
    }
    if (gm->ended && out_pending(gm) == 0) {
        gm->closing = 1;
        lws_callback_on_writable(r->wsi);
    }
    return 0;
}

static int gm_timer(fl_http_req_t *r)
{
    getmedia_t *gm = r->stream;
    /* idle: caught up, and neither storage nor the tail had anything new;
     * a fragment in the middle of arriving is not idle */
    int mid_fragment = gm->lr && gm->ref.hub->producer; /* a producer is on: keep following */
    if (gm->caught_up && !gm->reading && !mid_fragment &&
        mono_ms() - gm->idle_since_ms >= FL_GETMEDIA_IDLE_MS) {
        end_stream(gm);
    } else {
        /* a read that could not be queued (pool full) is tried again */
        if (!gm->reading && !gm->lr && !gm->caught_up && !gm->ended)
            schedule_read(gm);
        lws_set_timer_usecs(r->wsi, 250 * 1000);
    }
    return 0;
}

static void gm_closed(fl_http_req_t *r)
{
    getmedia_t *gm = r->stream;
    if (!gm)
        return;
    fl_video_of(r->srv)->metrics.live_readers--;
    if (gm->rate) {
        fl_kvs_rates_reader_end(gm->rate);
        fl_kvs_rates_release(gm->rate);
    }
    fl_live_leave(gm->lr);
    fl_stream_put(&gm->ref);
    gm->sink->gm = NULL;
    gsink_release(gm->sink);
    fl_buf_free(&gm->out);
    fl_buf_free(&gm->tracks);
    free(gm->list);
    free(gm);
    r->stream = NULL;
}

static const fl_http_stream_ops_t fl_getmedia_ops = {
    .writeable = gm_writeable,
    .timer = gm_timer,
    .closed = gm_closed,
};

int fl_api_media_stream(fl_http_req_t *r, const char *action, fl_stream_ref_t *ref)
{
    const fl_json_t *n = fl_http_json(r, "StreamName");
    const fl_json_t *a = fl_http_json(r, "StreamARN");
    fl_stream_want_t want = {.name = n && n->type == FL_JSON_STRING ? n->str : NULL,
                             .arn = a && a->type == FL_JSON_STRING ? a->str : NULL,
                             .action = action,
                             .who = &r->who,
                             .name_field = "StreamName",
                             .arn_field = "StreamARN"};
    fl_api_error_t err;
    if (fl_stream_get(fl_video_of(r->srv), &want, ref, &err) != 0) {
        fl_http_respond_api_error(r, &err);
        return -1;
    }
    return 0;
}

/* Start streaming the response; takes ref and list (may be NULL). */
static void start_reader(fl_http_req_t *r, fl_stream_ref_t *ref, fl_log_read_opts_t at,
                         uint64_t *list, size_t n_list)
{
    /* readers per stream are capped (AWS answers past its own cap with
     * ConnectionLimitExceededException) */
    fl_kvs_t *kvs = r->mod;
    long max_readers = fl_server_config(r->srv)->getmedia_max_readers;
    fl_stream_rate_t *rate = fl_kvs_rates_hold(kvs->rates, ref->name);
    int open = 0;
    /* counted now (atomically: readers on other loops count too) */
    if (rate && fl_kvs_rates_reader_begin(rate, max_readers, &open) != 0) {
        fl_limits_hit(fl_server_limits(r->srv), FL_LIMIT_GETMEDIA_READERS,
                      "refused a reader of %s: %d open (--getmedia-max-readers)", ref->name, open);
        fl_kvs_rates_release(rate);
        free(list);
        fl_stream_put(ref);
        fl_http_respond_error(r, 400, "ConnectionLimitExceededException",
                              "stream %s has %ld readers open, the most it serves at once",
                              ref->name, max_readers);
        return;
    }
    getmedia_t *gm = calloc(1, sizeof *gm);
    gsink_t *sink = calloc(1, sizeof *sink);
    if (!gm || !sink) {
        if (rate)
            fl_kvs_rates_reader_end(rate);
        fl_kvs_rates_release(rate);
        free(gm);
        free(sink);
        free(list);
        fl_stream_put(ref);
        fl_http_respond_error(r, 500, "InternalFailure", "out of memory");
        return;
    }
    gm->r = r;
    gm->ref = *ref;
    gm->rate = rate;
    gm->at = at;
    gm->list = list;
    gm->n_list = n_list;
    sink->refs = 1;
    sink->gm = gm;
    gm->sink = sink;
    fl_buf_init(&gm->out, 0);
    static const uint8_t headroom[LWS_PRE];
    fl_buf_append(&gm->out, headroom, sizeof headroom);
    gm->out_off = LWS_PRE;
    fl_buf_init(&gm->tracks, 0);
    gm->idle_since_ms = mono_ms();
    fl_video_of(r->srv)->metrics.live_readers++;
    fl_http_stream_begin(r, &fl_getmedia_ops, gm);
    lws_set_timer_usecs(r->wsi, 250 * 1000);
    schedule_read(gm);
}

/* GetMedia's start, or -1 after responding with the error. */
static int get_media_start(fl_http_req_t *r, const fl_stream_ref_t *ref, fl_log_read_opts_t *at)
{
    const char *name = ref->name;
    fl_log_t *log = ref->log;
    const fl_log_info_t *li = &ref->info;
    const fl_json_t *sel = fl_http_json(r, "StartSelector");
    const fl_json_t *type = sel ? fl_json_get(sel, "StartSelectorType") : NULL;
    if (!type || type->type != FL_JSON_STRING) {
        fl_http_respond_error(r, 400, "InvalidArgumentException",
                              "StartSelector.StartSelectorType is required");
        return -1;
    }
    memset(at, 0, sizeof *at);
    const char *t = type->str;
    if (strcmp(t, "EARLIEST") == 0) {
        at->from = FL_LOG_AT_SEQ;
        at->seq = 0;
    } else if (strcmp(t, "NOW") == 0) {
        fl_log_shard_info_t *sh = NULL;
        size_t n = 0;
        if (fl_log_shards(log, &sh, &n) != 0 || n == 0) {
            free(sh);
            fl_http_respond_error(r, 500, "InternalFailure", "stream %s has no shard", name);
            return -1;
        }
        at->from = FL_LOG_AT_SEQ;
        at->seq = sh[0].next_seq;
        free(sh);
    } else if (strcmp(t, "FRAGMENT_NUMBER") == 0 || strcmp(t, "CONTINUATION_TOKEN") == 0) {
        const char *key = t[0] == 'F' ? "AfterFragmentNumber" : "ContinuationToken";
        const fl_json_t *fv = fl_json_get(sel, key);
        uint64_t lid, seq;
        if (!fv || fv->type == FL_JSON_NULL) {
            fl_http_respond_error(r, 400, "InvalidArgumentException",
                                  "StartSelector.%s is required for StartSelectorType %s", key, t);
            return -1;
        }
        if (fv->type != FL_JSON_STRING || fl_fragment_number_parse(fv->str, &lid, &seq) != 0 ||
            lid != li->id || seq == UINT64_MAX) {
            fl_http_respond_error(r, 400, "InvalidArgumentException",
                                  "%s is not a fragment number of stream %s", key, name);
            return -1;
        }
        at->from = FL_LOG_AT_SEQ;
        at->seq = seq + 1;
    } else if (strcmp(t, "SERVER_TIMESTAMP") == 0 || strcmp(t, "PRODUCER_TIMESTAMP") == 0) {
        const fl_json_t *tv = fl_json_get(sel, "StartTimestamp");
        if (!tv || fl_awstime_parse_json(tv, &at->ts_ns) != 0) {
            fl_http_respond_error(r, 400, "InvalidArgumentException",
                                  "StartTimestamp (epoch seconds) is required for %s", t);
            return -1;
        }
        at->from = t[0] == 'S' ? FL_LOG_AT_SERVER_TS : FL_LOG_AT_PRODUCER_TS;
    } else {
        fl_http_respond_error(r, 400, "InvalidArgumentException",
                              "StartSelectorType '%s' is not one of NOW, EARLIEST, "
                              "FRAGMENT_NUMBER, SERVER_TIMESTAMP, PRODUCER_TIMESTAMP, "
                              "CONTINUATION_TOKEN",
                              t);
        return -1;
    }
    return 0;
}

void fl_api_get_media(fl_http_req_t *r)
{
    fl_stream_ref_t ref;
    fl_log_read_opts_t at;
    if (fl_api_media_stream(r, "kinesisvideo:GetMedia", &ref))
        return;
    if (get_media_start(r, &ref, &at) != 0) {
        fl_stream_put(&ref);
        return;
    }
    start_reader(r, &ref, at, NULL, 0);
}

/* The fragments asked for, in order (malloc'd), or NULL after responding
 * with the error. */
static uint64_t *fragment_list(fl_http_req_t *r, const fl_stream_ref_t *ref, size_t *n_out)
{
    const fl_json_t *frags = fl_http_json(r, "Fragments");
    if (!frags || frags->type != FL_JSON_ARRAY || frags->count < 1 || frags->count > 1000) {
        fl_http_respond_error(r, 400, "InvalidArgumentException",
                              "Fragments must list 1 to 1000 fragment numbers");
        return NULL;
    }
    uint64_t *list = calloc(frags->count, sizeof *list);
    if (!list) {
        fl_http_respond_error(r, 500, "InternalFailure", "out of memory");
        return NULL;
    }
    size_t n = 0;
    for (const fl_json_t *f = frags->child; f; f = f->next) {
        uint64_t lid, seq;
        if (f->type != FL_JSON_STRING || fl_fragment_number_parse(f->str, &lid, &seq) != 0 ||
            lid != ref->info.id) {
            free(list);
            fl_http_respond_error(
                r, 404, "ResourceNotFoundException", "%s is not a fragment of stream %s",
                f->type == FL_JSON_STRING ? f->str : "a Fragments entry", ref->name);
            return NULL;
        }
        list[n++] = seq;
    }
    *n_out = n;
    return list;
}

void fl_api_get_media_for_fragment_list(fl_http_req_t *r)
{
    fl_stream_ref_t ref;
    size_t n = 0;
    if (fl_api_media_stream(r, "kinesisvideo:GetMediaForFragmentList", &ref))
        return;
    uint64_t *list = fragment_list(r, &ref, &n);
    if (!list) {
        fl_stream_put(&ref);
        return;
    }
    fl_log_read_opts_t at;
    memset(&at, 0, sizeof at);
    start_reader(r, &ref, at, list, n);
}
