/*
 * server/playback/clip.c — GetClip: `POST /getClip` with AWS's shape
 * (reference/kvs-shapes.md): a ClipFragmentSelector (FragmentSelectorType
 * PRODUCER_TIMESTAMP or SERVER_TIMESTAMP, a TimestampRange with both ends)
 * in; one MP4 of the fragments in the range out, `Content-Type: video/mp4`.
 *
 * What is in the clip: the fragments whose timestamp (producer or server,
 * as selected) lies in [StartTimestamp, EndTimestamp], oldest first, as
 * select.c chooses them for an ON_DEMAND session — at most the first
 * FL_CLIP_MAX_FRAGMENTS fragments and FL_CLIP_MAX_BYTES stored bytes from
 * the start (AWS's "first 100 MB or first 200 fragments": a longer range
 * is cut, not refused), and only while the tracks stay those of the first
 * fragment (a new producer session with other tracks ends the clip there,
 * where AWS would fail the request).
 *
 * The MP4 is fragmented: ftyp+moov first (so a player starts before the
 * download ends: what faststart is for), then one moof+mdat per stored
 * fragment, made by media/av.h's fMP4 remuxer — the same one HLS segments
 * come from — so the clip streams out as it is made and never sits whole
 * in memory. Times start at 0 at the first fragment's timestamp and keep
 * the stream's gaps (SERVER_TIMESTAMP moves each fragment to its server
 * time, as HLS does).
 *
 * Threads: the loop parses the request and reaches the stream (the access
 * check, kinesisvideo:GetClip); a worker chooses the fragments, checks the
 * first one is playable and makes the init segment (errors are answered
 * before any byte of the clip: ResourceNotFoundException when the range
 * holds no fragment, UnsupportedStreamMediaTypeException,
 * MissingCodecPrivateDataException, InvalidCodecPrivateDataException);
 * then the response streams: one worker job at a time remuxes the next
 * fragment while the loop writes what is made, at most FL_CLIP_HIGH_WATER
 * bytes ahead of the client. The response has no length (it is not known
 * before the last fragment is remuxed) and ends when the connection
 * closes; `x-framelog-clip-fragments` and `x-framelog-clip-estimated-bytes`
 * (the stored size of those fragments, within a few percent of the MP4's)
 * let a page show progress. A fragment that fails to remux midway ends the
 * clip early (counted in framelog_clip_failures_total): the status line
 * is gone by then.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/diag.h"
#include "common/error.h"
#include "server/core/server.h"
#include "server/playback/playback.h"

#define FL_CLIP_MAX_FRAGMENTS 200
#define FL_CLIP_MAX_BYTES     (100u << 20)
#define FL_CLIP_MAX_RANGE_NS  (24LL * 3600 * 1000000000) /* AWS: within 24 hours */
#define FL_CLIP_HIGH_WATER    (4u << 20)

typedef struct clip {
    fl_http_async_t a; /* first: the planning job (fl_http_async_or_busy) */
    fl_job_t job;      /* then one remux job at a time */
    fl_playback_t *pb;
    fl_http_req_t *r;    /* NULL once the client is gone */
    fl_stream_ref_t ref; /* held for the clip's life */
    fl_pb_session_t s;   /* ON_DEMAND over the range: what select.c reads */
    fl_pb_entry_t *v;    /* the fragments of the clip */
    size_t n, next;      /* how many; the next to remux */
    uint64_t est_bytes;  /* their stored bytes */
    int64_t base_ns;     /* the clip's time 0, in the session's timeline */
    fl_av_remux_t *mux;  /* the clip's remuxer: used by one job at a time */
    fl_api_error_t err;  /* planning: status 0 when the clip can start */
    fl_buf_t out;        /* made, not yet written: out[out_off, n) */
    size_t out_off;
    fl_buf_t seg;   /* the running job's output */
    int busy;       /* a remux job is out */
    int stop;       /* no more fragments: a remux failed */
    int closing;    /* everything is written: close */
    int job_failed; /* the last job's remux failed */
} clip_t;

static void clip_free(clip_t *c)
{
    fl_stream_put(&c->ref);
    fl_av_remux_free(c->mux);
    free(c->v);
    fl_buf_free(&c->out);
    fl_buf_free(&c->seg);
    free(c);
}

/* ---- planning (worker) ---- */

static void plan_work(fl_http_async_t *a)
{
    clip_t *c = (clip_t *)a;
    fl_log_batch_t b;
    memset(&b, 0, sizeof b);
    fl_pb_media_t m;
    memset(&m, 0, sizeof m);
    int ended = 0;
    int rc = fl_pb_select(c->ref.log, &c->s, 0, &c->v, &c->n, &ended);
    if (rc) {
        fl_api_error(&c->err, 500, "InternalFailure", "reading stream %s: %s", c->ref.name,
                     fl_strerror(rc));
        goto out;
    }
    if (c->n == 0) {
        fl_api_error(&c->err, 404, "ResourceNotFoundException",
                     "stream %s has no fragments in the requested time range", c->ref.name);
        goto out;
    }
    /* AWS's caps, and one set of tracks */
    uint64_t bytes = 0;
    size_t keep = 0;
    while (keep < c->n && (keep == 0 || (bytes + c->v[keep].bytes <= FL_CLIP_MAX_BYTES &&
                                         c->v[keep].tracks_hash == c->v[0].tracks_hash)))
        bytes += c->v[keep++].bytes;
    c->n = keep;
    c->est_bytes = bytes;
    c->base_ns = c->v[0].ts_ns;
    const fl_log_record_t *rec = NULL;
    rc = fl_pb_read_seq(c->ref.log, c->v[0].seq, &b, &rec);
    if (rc) {
        fl_api_error(&c->err, rc == FL_ENOTFOUND ? 404 : 500,
                     rc == FL_ENOTFOUND ? "ResourceNotFoundException" : "InternalFailure",
                     "reading the first fragment of stream %s: %s", c->ref.name, fl_strerror(rc));
        goto out;
    }
    rc = fl_pb_media_open(rec->payload, 0, 0, &m);
    if (rc) {
        fl_api_error(&c->err, 400, "InvalidCodecPrivateDataException",
                     "the first fragment of the clip cannot be read as Matroska: %s",
                     fl_strerror(rc));
        goto out;
    }
    fl_pb_codecs_t codecs;
    if (fl_pb_media_codecs(&m, &codecs, &c->err) != 0)
        goto out;
    rc = fl_av_fmp4_new(m.tracks, m.n_tracks, &c->out, &c->mux);
    if (rc)
        fl_api_error(&c->err, 400, "InvalidCodecPrivateDataException",
                     "the tracks of stream %s cannot be written to MP4: %s", c->ref.name,
                     fl_strerror(rc));
out:
    fl_pb_media_free(&m);
    fl_log_batch_free(&b);
}

/* ---- remuxing one fragment (worker) ---- */

static void remux_work(fl_job_t *job)
{
    clip_t *c = job->data;
    const fl_pb_entry_t *e = &c->v[c->next];
    fl_log_batch_t b;
    memset(&b, 0, sizeof b);
    fl_pb_media_t m;
    memset(&m, 0, sizeof m);
    const fl_log_record_t *rec = NULL;
    c->job_failed = 1;
    int rc = fl_pb_read_seq(c->ref.log, e->seq, &b, &rec);
    if (rc) {
        fl_warn("getclip %s: fragment %" PRIu64 ": %s", c->ref.name, e->seq, fl_strerror(rc));
        goto out;
    }
    /* the session's timeline (server time moves the fragment), from 0 */
    int64_t shift = fl_pb_shift(&c->s, rec) - c->base_ns;
    rc = fl_pb_media_open(rec->payload, shift, 1, &m);
    fl_log_batch_free(&b);
    if (rc == 0)
        rc = fl_av_fmp4_segment(c->mux, m.frames, m.n_frames, &c->seg);
    if (rc) {
        fl_warn("getclip %s: remuxing fragment %" PRIu64 ": %s", c->ref.name, e->seq,
                fl_strerror(rc));
        goto out;
    }
    c->job_failed = 0;
out:
    fl_pb_media_free(&m);
    fl_log_batch_free(&b);
}

static size_t out_pending(const clip_t *c)
{
    return c->out.n > c->out_off ? c->out.n - c->out_off : 0;
}

static void schedule(clip_t *c);

static void remux_done(fl_job_t *job)
{
    clip_t *c = job->data;
    c->busy = 0;
    if (!c->r) { /* the client left while the job ran */
        clip_free(c);
        return;
    }
    if (c->job_failed) {
        c->stop = 1;
        c->pb->clip_failures++;
    } else {
        c->next++;
        if (out_pending(c) == 0)
            c->out.n = c->out_off = 0;
        fl_buf_append(&c->out, c->seg.p, c->seg.n);
    }
    c->seg.n = 0;
    schedule(c);
    lws_callback_on_writable(c->r->wsi);
}

/* Start the next fragment's remux if there is one and room for it. */
static void schedule(clip_t *c)
{
    if (c->busy || c->stop || c->next >= c->n || out_pending(c) > FL_CLIP_HIGH_WATER)
        return;
    c->job.work = remux_work;
    c->job.done = remux_done;
    c->job.data = c;
    if (fl_workers_submit(fl_server_workers(c->r->srv), &c->job) != 0)
        return; /* the pool is full: tried again at the next writeable */
    c->busy = 1;
}

/* ---- the response (loop) ---- */

static int clip_writeable(fl_http_req_t *r)
{
    clip_t *c = r->stream;
    if (c->closing)
        return -1;
    if (!r->headers_sent) {
        if (fl_http_stream_headers(r, 200, "video/mp4", -1))
            return -1;
        lws_callback_on_writable(r->wsi);
        return 0;
    }
    if (c->out.err) {
        fl_error("getclip %s: out of memory for the clip", c->ref.name);
        return -1;
    }
    size_t left = out_pending(c);
    if (left) {
        size_t n = left < FL_HTTP_WRITE_CHUNK ? left : FL_HTTP_WRITE_CHUNK;
        if (fl_http_stream_write(r, fl_slice(c->out.p + c->out_off, n), 0))
            return -1;
        c->out_off += n;
        c->pb->clip_bytes += n;
        if (c->out_off > (8u << 20) && c->out_off * 2 > c->out.n) { /* drop what is sent */
            memmove(c->out.p, c->out.p + c->out_off, c->out.n - c->out_off);
            c->out.n -= c->out_off;
            c->out_off = 0;
        }
    }
    schedule(c);
    if (out_pending(c)) {
        lws_callback_on_writable(r->wsi);
    } else if (!c->busy && (c->stop || c->next >= c->n)) {
        c->closing = 1; /* a response without length ends with the connection */
        lws_callback_on_writable(r->wsi);
    } else if (!c->busy) {
        lws_callback_on_writable(r->wsi); /* the pool was full: try again */
    }
    return 0;
}

static void clip_closed(fl_http_req_t *r)
{
    clip_t *c = r->stream;
    r->stream = NULL;
    if (!c)
        return;
    c->r = NULL;
    if (!c->busy)
        clip_free(c);
}

static const fl_http_stream_ops_t clip_ops = {
    .writeable = clip_writeable,
    .closed = clip_closed,
};

static void plan_done(fl_http_async_t *a, fl_http_req_t *r)
{
    clip_t *c = (clip_t *)a;
    if (!r) {
        clip_free(c);
        return;
    }
    if (c->err.status) {
        fl_http_respond_api_error(r, &c->err);
        clip_free(c);
        return;
    }
    char v[32];
    snprintf(v, sizeof v, "%zu", c->n);
    fl_http_add_header(r, "x-framelog-clip-fragments", v);
    snprintf(v, sizeof v, "%" PRIu64, c->est_bytes);
    fl_http_add_header(r, "x-framelog-clip-estimated-bytes", v);
    c->r = r;
    c->pb->clips++;
    fl_http_stream_begin(r, &clip_ops, c);
    schedule(c);
}

static const char *const selectors[] = {"SERVER_TIMESTAMP", "PRODUCER_TIMESTAMP", NULL};

/* The clip's range into c->s; 0, or -1 after answering the error. */
static int parse_clip(fl_http_req_t *r, fl_pb_session_t *s)
{
    int bad = 0;
    const fl_json_t *sel =
        fl_pb_object_field(r, fl_json_root(r->json), "ClipFragmentSelector", &bad);
    if (bad)
        return -1;
    const fl_json_t *range = fl_pb_object_field(r, sel, "TimestampRange", &bad);
    if (bad)
        return -1;
    const fl_json_t *type = sel ? fl_json_get(sel, "FragmentSelectorType") : NULL;
    if (!sel || !range || !type || type->type == FL_JSON_NULL) {
        fl_http_respond_error(r, 400, "InvalidArgumentException",
                              "ClipFragmentSelector with FragmentSelectorType and a "
                              "TimestampRange of StartTimestamp and EndTimestamp is required");
        return -1;
    }
    int st = fl_pb_enum_field(r, sel, "FragmentSelectorType", selectors, 0);
    if (st < 0)
        return -1;
    int hs = fl_pb_ts_field(r, range, "StartTimestamp", &s->start_ns);
    if (hs < 0)
        return -1;
    int he = fl_pb_ts_field(r, range, "EndTimestamp", &s->end_ns);
    if (he < 0)
        return -1;
    if (!hs || !he) {
        fl_http_respond_error(r, 400, "InvalidArgumentException",
                              "TimestampRange needs StartTimestamp and EndTimestamp");
        return -1;
    }
    if (s->end_ns <= s->start_ns) {
        fl_http_respond_error(r, 400, "InvalidArgumentException",
                              "EndTimestamp must be later than StartTimestamp");
        return -1;
    }
    if (s->end_ns - s->start_ns > FL_CLIP_MAX_RANGE_NS) {
        fl_http_respond_error(r, 400, "InvalidArgumentException",
                              "EndTimestamp must be within 24 hours of StartTimestamp");
        return -1;
    }
    s->mode = FL_PB_ON_DEMAND;
    s->selector = (fl_pb_selector_t)st;
    s->has_start = s->has_end = 1;
    s->max_fragments = FL_CLIP_MAX_FRAGMENTS;
    return 0;
}

void fl_pb_get_clip(fl_http_req_t *r)
{
    fl_playback_t *pb = r->mod;
    fl_pb_cors(r);
    if (!r->json) {
        fl_http_respond_error(r, 400, "InvalidArgumentException",
                              "a JSON body with StreamName or StreamARN and "
                              "ClipFragmentSelector is required");
        return;
    }
    clip_t *c = calloc(1, sizeof *c);
    if (!c) {
        fl_http_respond_error(r, 500, "InternalFailure", "out of memory");
        return;
    }
    c->pb = pb;
    fl_buf_init(&c->out, 0);
    fl_buf_init(&c->seg, 0);
    if (parse_clip(r, &c->s) != 0 || fl_pb_stream_of(r, "kinesisvideo:GetClip", &c->ref) != 0)
        goto fail;
    c->a.work = plan_work;
    c->a.done = plan_done;
    if (fl_http_async_or_busy(r, &c->a, "ClientLimitExceededException") != 0)
        goto fail;
    return;
fail:
    clip_free(c);
}
