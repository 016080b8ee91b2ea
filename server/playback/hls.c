/*
 * server/playback/hls.c — an HLS session's paths under /hls/v1/, each a GET
 * with the session's `SessionToken` (token.h):
 *
 *   getHLSMasterPlaylist.m3u8   one variant: BANDWIDTH, CODECS, RESOLUTION
 *                               (and FRAME-RATE when the track says it)
 *                               from the session's first fragment
 *   getHLSMediaPlaylist.m3u8    one segment per stored fragment (select.c
 *                               chooses which), EXTINF from the fragment's
 *                               duration; #EXT-X-ENDLIST once complete
 *   getMP4InitFragment.mp4      ftyp+moov for the session's first fragment's
 *                               tracks, or FragmentNumber's (a later MAP
 *                               after the tracks changed)
 *   getMP4MediaFragment.mp4     moof+mdat of fragment FragmentNumber
 *   getTSFragment.ts            the fragment as one MPEG-TS segment
 *
 * On the loop: the token is checked (403 NotAuthorizedException when
 * forged, altered or expired), the stream is reached through its reference
 * (the access check, with the key id the session was issued to and the
 * path's IAM action), and its incarnation compared with the token's (a
 * stream deleted and made again is another stream: 404). Then a worker
 * reads, remuxes and writes the answer; the loop only sends it. Media
 * playlist lines carry the token and the fragment number (the 128-bit
 * number clients see elsewhere), so a segment request names its fragment
 * exactly.
 *
 * Media sequence numbers: 0 for ON_DEMAND; for LIVE and LIVE_REPLAY the
 * first listed fragment's storage sequence number, which grows by one per
 * fragment (docs/playback.md has the one exception, a server restart).
 * Discontinuities: ALWAYS puts #EXT-X-DISCONTINUITY between every two
 * segments (and, in sliding windows, counts the ones that slid out in
 * #EXT-X-DISCONTINUITY-SEQUENCE); NEVER none; ON_DISCONTINUITY where the
 * tracks change or the timeline jumps by more than a second.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/error.h"
#include "server/core/server.h"
#include "server/playback/playback.h"
#include "server/video/fragment.h"

#define DISC_GAP_NS 1000000000LL

typedef enum { OP_MASTER, OP_MEDIA, OP_INIT, OP_MP4, OP_TS } hls_op_t;

static const char *const op_action[] = {
    "kinesisvideo:GetHLSMasterPlaylist", "kinesisvideo:GetHLSMediaPlaylist",
    "kinesisvideo:GetMP4InitFragment",   "kinesisvideo:GetMP4MediaFragment",
    "kinesisvideo:GetTSFragment",
};

typedef struct {
    fl_http_async_t a; /* first */
    fl_playback_t *pb;
    fl_stream_ref_t ref; /* held while the job runs */
    fl_pb_session_t s;
    hls_op_t op;
    int has_seq;
    uint64_t seq;
    char token[FL_PB_TOKEN_CAP];
    int64_t now_ms;
    fl_buf_t out;
    const char *ctype;
    fl_api_error_t err; /* status 0: no error */
    int remux_failed;
    int remuxed;
    /* LL-HLS (LIVE fMP4 sessions) */
    int ll;
    int has_msn, hls_part; /* _HLS_msn, _HLS_part (-1: none) */
    uint64_t msn;
    int part; /* PartNumber (-1: the whole segment) */
    fl_pb_follow_t *follow;
    fl_pb_llfrag_t *snap; /* the tail as the playlist sees it */
    size_t n_snap;
    fl_pb_partsrc_t src; /* a part from the tail */
    int from_tail;
    /* the cache */
    int lead; /* this job makes key's bytes for everyone */
    fl_pb_ckey_t key;
    /* a media playlist's fragments (select.c; for LIVE, kept in the cache
     * per live edge: FL_PB_LIST) */
    int have_list;
    fl_pb_entry_t *v;
    size_t n;
    int ended;
    fl_pb_entry_t *seed; /* LIVE: the stream's last list, to read on from */
    size_t n_seed;
    /* parked */
    fl_pb_wait_t w;
    int stage; /* STAGE_*: what to do when it resumes */
} hls_job_t;

enum { STAGE_NONE, STAGE_JOINED, STAGE_PART, STAGE_PLAYLIST, STAGE_LISTED };

static const char m3u8_type[] = "application/vnd.apple.mpegurl";

/* ---- worker side ---- */

static void put_iso(fl_buf_t *b, int64_t ns)
{
    time_t sec = (time_t)(ns / 1000000000);
    struct tm tm;
    gmtime_r(&sec, &tm);
    fl_buf_printf(b, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                  tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)((ns / 1000000) % 1000));
}

/* Read fragment j->seq (or the session's first) into batch and open it. */
static int open_fragment(hls_job_t *j, fl_log_batch_t *b, int frames, fl_pb_media_t *m)
{
    const fl_log_record_t *rec = NULL;
    int rc = j->has_seq ? fl_pb_read_seq(j->ref.log, j->seq, b, &rec)
                        : fl_pb_first(j->ref.log, &j->s, j->now_ms, 0, b, &rec);
    if (rc == 0 && j->has_seq && !fl_pb_in_range(&j->s, rec))
        rc = FL_ENOTFOUND;
    if (rc == FL_ENOTFOUND || rc == FL_EEXPIRED)
        return fl_api_error(&j->err, 404, "ResourceNotFoundException",
                            j->has_seq ? "no such fragment in this session"
                                       : "no fragments in this session's range");
    if (rc)
        return fl_api_error(&j->err, 500, "InternalFailure", "reading stream %s: %s", j->ref.name,
                            fl_strerror(rc));
    rc = fl_pb_media_open(rec->payload, frames ? fl_pb_shift(&j->s, rec) : 0, frames, m);
    if (rc)
        return fl_api_error(&j->err, 500, "InternalFailure", "fragment of stream %s: %s",
                            j->ref.name, fl_strerror(rc));
    if (m->n_tracks == 0)
        return fl_api_error(&j->err, 400, "UnsupportedStreamMediaTypeException",
                            "the fragment has no H.264, H.265 or AAC track");
    return 0;
}

static void master_work(hls_job_t *j)
{
    fl_log_batch_t b;
    fl_pb_media_t m;
    memset(&b, 0, sizeof b);
    memset(&m, 0, sizeof m);
    fl_pb_codecs_t c;
    if (open_fragment(j, &b, 0, &m) || fl_pb_media_codecs(&m, &c, &j->err))
        goto out;
    /* the first fragment's rate, with room: players pick by it */
    uint64_t bw = m.duration_ms ? (uint64_t)b.records[0].payload.n * 8000 / m.duration_ms : 0;
    bw = bw + bw / 4 + 1000;
    fl_buf_t *o = &j->out;
    fl_buf_printf(o, "#EXTM3U\n#EXT-X-VERSION:%d\n#EXT-X-INDEPENDENT-SEGMENTS\n",
                  j->s.container == FL_PB_FMP4 ? 7 : 3);
    fl_buf_printf(o, "#EXT-X-STREAM-INF:BANDWIDTH=%" PRIu64 ",CODECS=\"%s\"", bw, c.codecs);
    if (c.width && c.height)
        fl_buf_printf(o, ",RESOLUTION=%ux%u", c.width, c.height);
    if (c.frame_rate > 0 && c.frame_rate < 1000)
        fl_buf_printf(o, ",FRAME-RATE=%.3f", c.frame_rate);
    fl_buf_printf(o, "\ngetHLSMediaPlaylist.m3u8?SessionToken=%s\n", j->token);
    j->ctype = m3u8_type;
out:
    fl_pb_media_free(&m);
    fl_log_batch_free(&b);
}

/* The #EXT-X-PART lines of a fragment's complete parts; returns how many. */
static size_t put_parts(hls_job_t *j, fl_buf_t *o, const fl_pb_llfrag_t *f, const char *number)
{
    size_t k = 0;
    for (; k < f->n_parts && f->parts[k].complete; k++)
        fl_buf_printf(
            o,
            "#EXT-X-PART:DURATION=%u.%03u,URI=\"getMP4MediaFragment.mp4?FragmentNumber=%s&"
            "PartNumber=%zu&SessionToken=%s\"%s\n",
            f->parts[k].duration_ms / 1000, f->parts[k].duration_ms % 1000, number, k, j->token,
            f->parts[k].independent ? ",INDEPENDENT=YES" : "");
    return k;
}

/* The media playlist's text of the job's list (and LL-HLS snapshot):
 * on a worker, or on the loop when the list came from the cache. */
static void media_text(hls_job_t *j)
{
    const fl_pb_entry_t *v = j->v;
    const size_t n = j->n;
    const int ended = j->ended;
    if (n == 0 && j->s.mode == FL_PB_ON_DEMAND) {
        fl_api_error(&j->err, 404, "ResourceNotFoundException",
                     "no fragments in this session's range");
        return;
    }
    const int fmp4 = j->s.container == FL_PB_FMP4;
    const int sliding = j->s.mode != FL_PB_ON_DEMAND;
    uint32_t max_ms = 1000;
    for (size_t i = 0; i < n; i++)
        if (v[i].duration_ms > max_ms)
            max_ms = v[i].duration_ms;
    fl_buf_t *o = &j->out;
    /* RFC 8216 4.3.3.1: each EXTINF rounded to the nearest integer is at
     * most the target duration (2.033 s fragments: 2, not 3; players
     * reload a target duration after a new segment) */
    fl_buf_printf(o, "#EXTM3U\n#EXT-X-VERSION:%d\n#EXT-X-TARGETDURATION:%u\n", fmp4 ? 7 : 3,
                  (max_ms + 500) / 1000);
    /* the tail's fragment that follows the last segment: its parts so far */
    const fl_pb_llfrag_t *open = NULL;
    if (j->ll) {
        uint32_t part_ms = FL_PB_PART_TARGET_MS;
        for (size_t k = 0; k < j->n_snap; k++) {
            if (!open && (n ? j->snap[k].seq == v[n - 1].seq + 1 : k == 0) &&
                (!n || j->snap[k].tracks_hash == v[n - 1].tracks_hash))
                open = &j->snap[k];
            for (size_t p = 0; p < j->snap[k].n_parts; p++)
                if (j->snap[k].parts[p].duration_ms > part_ms)
                    part_ms = j->snap[k].parts[p].duration_ms;
        }
        fl_buf_printf(o,
                      "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=%u.%03u\n"
                      "#EXT-X-PART-INF:PART-TARGET=%u.%03u\n",
                      3 * part_ms / 1000, 3 * part_ms % 1000, part_ms / 1000, part_ms % 1000);
    }
    /* LIVE: numbered from the newest, which is its storage sequence number
     * (blocking reloads name segments by it) */
    uint64_t msn = sliding && n ? v[0].seq : 0;
    if (j->s.mode == FL_PB_LIVE && n)
        msn = v[n - 1].seq - (n - 1);
    else if (j->s.mode == FL_PB_LIVE && open)
        msn = open->seq;
    fl_buf_printf(o, "#EXT-X-MEDIA-SEQUENCE:%" PRIu64 "\n", msn);
    if (sliding && j->s.discontinuity == FL_PB_DISC_ALWAYS)
        fl_buf_printf(o, "#EXT-X-DISCONTINUITY-SEQUENCE:%" PRIu64 "\n", msn);
    if (!sliding)
        fl_buf_append_str(o, "#EXT-X-PLAYLIST-TYPE:VOD\n");
    fl_buf_append_str(o, "#EXT-X-INDEPENDENT-SEGMENTS\n");
    if (fmp4)
        fl_buf_printf(o, "#EXT-X-MAP:URI=\"getMP4InitFragment.mp4?SessionToken=%s\"\n", j->token);
    for (size_t i = 0; i < n; i++) {
        char number[FL_FRAGMENT_NUMBER_CAP];
        fl_fragment_number(j->ref.info.id, v[i].seq, number, sizeof number);
        int new_tracks = i > 0 && v[i].tracks_hash != v[i - 1].tracks_hash;
        int disc = 0;
        if (i > 0 && j->s.discontinuity == FL_PB_DISC_ALWAYS)
            disc = 1;
        if (i > 0 && j->s.discontinuity == FL_PB_DISC_ON) {
            int64_t expect = v[i - 1].ts_ns + (int64_t)v[i - 1].duration_ms * 1000000;
            disc = new_tracks || llabs(v[i].ts_ns - expect) > DISC_GAP_NS;
        }
        if (disc)
            fl_buf_append_str(o, "#EXT-X-DISCONTINUITY\n");
        if (fmp4 && new_tracks)
            fl_buf_printf(o,
                          "#EXT-X-MAP:URI=\"getMP4InitFragment.mp4?FragmentNumber=%s&"
                          "SessionToken=%s\"\n",
                          number, j->token);
        if (j->s.display_ts) {
            fl_buf_append_str(o, "#EXT-X-PROGRAM-DATE-TIME:");
            put_iso(o, v[i].ts_ns);
            fl_buf_u8(o, '\n');
        }
        for (size_t k = 0; j->ll && k < j->n_snap; k++)
            if (j->snap[k].seq == v[i].seq && j->snap[k].ended)
                put_parts(j, o, &j->snap[k], number);
        fl_buf_printf(o, "#EXTINF:%u.%03u,\n%s?FragmentNumber=%s&SessionToken=%s\n",
                      v[i].duration_ms / 1000, v[i].duration_ms % 1000,
                      fmp4 ? "getMP4MediaFragment.mp4" : "getTSFragment.ts", number, j->token);
    }
    if (j->ll) {
        /* the fragment still arriving (or not yet durable): its parts
         * after the last segment, then a hint of the next part */
        uint64_t next_seq = n ? v[n - 1].seq + 1 : 0;
        size_t next_part = 0;
        if (open) {
            char number[FL_FRAGMENT_NUMBER_CAP];
            fl_fragment_number(j->ref.info.id, open->seq, number, sizeof number);
            if (n && j->s.discontinuity == FL_PB_DISC_ALWAYS)
                fl_buf_append_str(o, "#EXT-X-DISCONTINUITY\n");
            if (n && j->s.discontinuity == FL_PB_DISC_ON &&
                llabs(open->ts_ns - (v[n - 1].ts_ns + (int64_t)v[n - 1].duration_ms * 1000000)) >
                    DISC_GAP_NS)
                fl_buf_append_str(o, "#EXT-X-DISCONTINUITY\n");
            if (j->s.display_ts) {
                fl_buf_append_str(o, "#EXT-X-PROGRAM-DATE-TIME:");
                put_iso(o, open->ts_ns);
                fl_buf_u8(o, '\n');
            }
            next_part = put_parts(j, o, open, number);
            next_seq = open->seq;
            if (open->ended) {
                next_seq++;
                next_part = 0;
            }
        }
        if (n || open) {
            char number[FL_FRAGMENT_NUMBER_CAP];
            fl_fragment_number(j->ref.info.id, next_seq, number, sizeof number);
            fl_buf_printf(o,
                          "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"getMP4MediaFragment.mp4?"
                          "FragmentNumber=%s&PartNumber=%zu&SessionToken=%s\"\n",
                          number, next_part, j->token);
        }
    }
    if (ended)
        fl_buf_append_str(o, "#EXT-X-ENDLIST\n");
    j->ctype = m3u8_type;
}

static void media_work(hls_job_t *j)
{
    if (!j->have_list) {
        int rc = j->n_seed ? fl_pb_select_after(j->ref.log, &j->s, j->seed, j->n_seed, &j->v, &j->n)
                           : fl_pb_select(j->ref.log, &j->s, j->now_ms, &j->v, &j->n, &j->ended);
        if (j->n_seed && rc == 0 && j->n && j->v[0].seq <= j->seed[j->n_seed - 1].seq)
            j->pb->lists_read_on++; /* (the last list's entries stand in it) */
        if (rc) {
            fl_api_error(&j->err, 500, "InternalFailure", "reading stream %s: %s", j->ref.name,
                         fl_strerror(rc));
            return;
        }
        j->have_list = 1;
    }
    if (j->lead && j->key.part == FL_PB_LIST)
        return; /* the loop keeps the list, then writes the text (hls_done) */
    media_text(j);
}

/* A part copied from the live tail, as media with the session's times. */
static int tail_media(hls_job_t *j, fl_pb_media_t *m)
{
    const fl_pb_partsrc_t *p = &j->src;
    int64_t shift = j->s.selector == FL_PB_PRODUCER_TS ? 0 : p->server_ns - p->producer_ns;
    int rc = fl_pb_media_tracks(fl_buf_slice(&p->tracks), m);
    for (size_t i = 0; i < p->n && !rc; i++)
        rc = fl_pb_media_add(m, p->frames[i].track, p->frames[i].pts_ns + shift,
                             p->frames[i].keyframe,
                             fl_slice(p->data.p + p->offs[i], p->frames[i].data.n));
    fl_pb_media_seal(m);
    if (rc)
        return fl_api_error(&j->err, 500, "InternalFailure", "a part of stream %s: %s", j->ref.name,
                            fl_strerror(rc));
    return 0;
}

static void segment_work(hls_job_t *j)
{
    fl_log_batch_t b;
    fl_pb_media_t m;
    memset(&b, 0, sizeof b);
    memset(&m, 0, sizeof m);
    if (j->from_tail ? tail_media(j, &m) : open_fragment(j, &b, j->op != OP_INIT, &m))
        goto out;
    fl_log_batch_free(&b); /* the frames are copied: let the record go before remuxing */
    j->remuxed = j->op != OP_INIT;
    int rc = j->op == OP_INIT  ? fl_pb_media_init(&m, &j->out)
             : j->from_tail    ? fl_pb_media_fmp4(&m, &j->out) /* the part's frames only */
             : j->part >= 0    ? fl_pb_media_part(&m, j->part, &j->out)
             : j->ll           ? fl_pb_media_part(&m, -1, &j->out)
             : j->op == OP_MP4 ? fl_pb_media_fmp4(&m, &j->out)
                               : fl_pb_media_ts(&m, &j->out);
    if (rc == FL_ENOTFOUND) {
        fl_api_error(&j->err, 404, "ResourceNotFoundException", "no such part of the fragment");
        goto out;
    }
    if (rc) {
        j->remux_failed = 1;
        fl_api_error(&j->err, 500, "InternalFailure", "remuxing a fragment of stream %s: %s",
                     j->ref.name, fl_strerror(rc));
        goto out;
    }
    j->ctype = j->op == OP_TS ? "video/mp2t" : "video/mp4";
out:
    fl_pb_media_free(&m);
    fl_log_batch_free(&b);
}

static void hls_work(fl_http_async_t *a)
{
    hls_job_t *j = (hls_job_t *)a;
    if (j->op == OP_MASTER)
        master_work(j);
    else if (j->op == OP_MEDIA)
        media_work(j);
    else
        segment_work(j);
    if (!j->err.status && j->out.err)
        fl_api_error(&j->err, 500, "InternalFailure", "out of memory");
}

/* ---- loop side ---- */

static void job_free(hls_job_t *j)
{
    fl_stream_put(&j->ref);
    fl_buf_free(&j->out);
    fl_pb_partsrc_free(&j->src);
    free(j->snap);
    free(j->v);
    free(j->seed);
    free(j);
}

static void respond_segment(fl_http_req_t *r, hls_job_t *j, fl_slice_t body)
{
    j->pb->segments++;
    j->pb->segment_bytes += body.n;
    fl_pb_respond_bytes(r, 200, j->op == OP_TS ? "video/mp2t" : "video/mp4", body, j->w.blob);
}

static void seed_keep(hls_job_t *j);

/* A LIVE list read by this job's worker: kept in the cache (those who
 * joined write their playlists from it now), then this job's text. */
static void list_put(hls_job_t *j)
{
    fl_buf_t b;
    fl_buf_init(&b, 0);
    if (!j->err.status)
        fl_buf_append(&b, (const uint8_t *)j->v, j->n * sizeof *j->v);
    if (!j->err.status && b.err)
        fl_api_error(&j->err, 500, "InternalFailure", "out of memory");
    fl_pb_cache_put(fl_pb_cache_of(j->pb), &j->key, &j->err, &b, NULL);
    fl_buf_free(&b);
    j->lead = 0;
    if (!j->err.status)
        seed_keep(j);
    if (!j->err.status) {
        if (j->ll && j->follow && !j->snap &&
            fl_pb_follow_snapshot(j->follow, &j->s, &j->snap, &j->n_snap) != 0)
            fl_api_error(&j->err, 500, "InternalFailure", "out of memory");
        else
            media_text(j);
    }
    if (!j->err.status && j->out.err)
        fl_api_error(&j->err, 500, "InternalFailure", "out of memory");
}

static void hls_done(fl_http_async_t *a, fl_http_req_t *r)
{
    hls_job_t *j = (hls_job_t *)a;
    fl_playback_t *pb = j->pb;
    pb->remux_failures += (uint64_t)j->remux_failed;
    pb->remuxes += (uint64_t)j->remuxed;
    if (j->lead && j->key.part == FL_PB_LIST)
        list_put(j);
    fl_slice_t body = fl_buf_slice(&j->out);
    if (j->lead) /* everyone who joined is answered now too */
        body = fl_pb_cache_put(fl_pb_cache_of(pb), &j->key, &j->err, &j->out, &j->w.blob);
    if (r) {
        if (j->err.status) {
            fl_http_respond_api_error(r, &j->err);
        } else if (j->op == OP_MASTER || j->op == OP_MEDIA) {
            pb->playlists++;
            if (j->s.mode != FL_PB_ON_DEMAND)
                fl_http_add_header(r, "Cache-Control", "no-cache");
            fl_http_respond(r, 200, j->ctype, body);
        } else {
            respond_segment(r, j, body);
        }
    }
    job_free(j);
}

/* Hand the job to a worker (from the loop, with its request). */
static void submit(fl_http_req_t *r, hls_job_t *j)
{
    j->a.work = hls_work;
    j->a.done = hls_done;
    if (fl_http_async_or_busy(r, &j->a, "ClientLimitExceededException") != 0) {
        if (j->lead) {
            fl_api_error(&j->err, 503, "ServiceUnavailableException",
                         "the server is busy; retry later");
            fl_pb_cache_put(fl_pb_cache_of(j->pb), &j->key, &j->err, &j->out, NULL);
        }
        job_free(j);
    }
}

static void hls_resume(fl_http_async_t *a, fl_http_req_t *r);

/* Park the request on a cache entry another request is making (w queued
 * by fl_pb_cache_take): answered when it is made. Bounded by the
 * connections, not refused. */
static void joined(fl_http_req_t *r, hls_job_t *j, int stage)
{
    j->pb->n_waiting++;
    j->stage = stage;
    j->w.a = &j->a;
    j->a.done = hls_resume;
    fl_http_await(r, &j->a);
    lws_set_timeout(r->wsi, NO_PENDING_TIMEOUT, 0);
}

/* Park the request (the job's w says until what); 0, or -1 having
 * answered 503 (too many parked). */
static int park(fl_http_req_t *r, hls_job_t *j, int stage)
{
    fl_playback_t *pb = j->pb;
    if (fl_pb_wait_begin(pb) != 0) {
        pb->waits_refused++;
        fl_http_add_header(r, "Retry-After", "1");
        fl_http_respond_error(r, 503, "ClientLimitExceededException",
                              "too many requests are waiting; retry later");
        return -1;
    }
    j->stage = stage;
    j->w.a = &j->a;
    j->a.done = hls_resume;
    fl_http_await(r, &j->a);
    /* lws's own timeout of a request that has not answered (5 s) must not
     * cut it: its deadline (llhls.c) or the leader it joined bounds it */
    lws_set_timeout(r->wsi, NO_PENDING_TIMEOUT, 0);
    if (stage != STAGE_JOINED)
        fl_pb_follow_park(j->follow, &j->w);
    return 0;
}

/* A part of a LIVE fMP4 session: from the tail while it has it (waiting
 * for it to be complete), else from storage. */
static void part_go(fl_http_req_t *r, hls_job_t *j)
{
    int rc = j->follow ? fl_pb_follow_part(j->follow, j->seq, j->part, &j->src) : FL_ENOTFOUND;
    if (rc == 0) {
        j->from_tail = 1;
    } else if (rc == FL_EAGAIN) {
        j->w.kind = FL_PB_WAIT_PART;
        j->w.seq = j->seq;
        j->w.part = j->part;
        if (park(r, j, STAGE_PART) == 0)
            return;
        if (j->lead) {
            fl_api_error(&j->err, 503, "ClientLimitExceededException",
                         "too many requests are waiting; retry later");
            fl_pb_cache_put(fl_pb_cache_of(j->pb), &j->key, &j->err, &j->out, NULL);
        }
        job_free(j);
        return;
    }
    submit(r, j);
}

/* The cache key of a LIVE session's list at the stream's edge now. */
static void list_key(hls_job_t *j, fl_pb_ckey_t *k)
{
    memset(k, 0, sizeof *k);
    k->log_id = j->ref.info.id;
    k->seq = fl_pb_edge_gen(j->pb, j->ref.info.id);
    k->part = FL_PB_LIST;
    k->selector = (uint8_t)j->s.selector;
    k->list = fl_pb_list_max(&j->s);
    k->epoch_s = (uint32_t)(j->now_ms / 1000 / FL_PB_LIST_MAX_AGE_S);
}

/* The list kept in the cache into the job: 0, or -1 out of memory. */
static int list_from(hls_job_t *j, fl_slice_t b)
{
    size_t n = b.n / sizeof *j->v;
    j->v = malloc((n ? n : 1) * sizeof *j->v);
    if (!j->v)
        return -1;
    if (n)
        memcpy(j->v, b.p, n * sizeof *j->v);
    j->n = n;
    j->ended = 0;
    j->have_list = 1;
    return 0;
}

/* The newest fragment of a LIVE session's list, when the cache has the
 * list of the stream's edge now: 1 and *e, else 0 (nothing is made). */
static int list_newest(hls_job_t *j, fl_pb_entry_t *e)
{
    fl_pb_ckey_t k;
    fl_slice_t b;
    list_key(j, &k);
    if (!fl_pb_cache_peek(fl_pb_cache_of(j->pb), &k, &b) || b.n < sizeof *e)
        return 0;
    memcpy(e, b.p + b.n - sizeof *e, sizeof *e);
    return 1;
}

static void respond_playlist(fl_http_req_t *r, hls_job_t *j)
{
    if (j->err.status) {
        fl_http_respond_api_error(r, &j->err);
        return;
    }
    j->pb->playlists++;
    if (j->s.mode != FL_PB_ON_DEMAND)
        fl_http_add_header(r, "Cache-Control", "no-cache");
    fl_http_respond(r, 200, j->ctype, fl_buf_slice(&j->out));
}

/* ---- what the loop keeps of LIVE playlists ----
 *
 * A session's players ask for the same playlist (the same token), and
 * when their reloads are held for the next segment (fl_pb_follow_hold)
 * they are all answered at the same moment. So the loop keeps the text of
 * the last LIVE playlist it wrote, with all it was written from: the
 * token (which is the session), the stream's log id, the list and, with
 * LL-HLS, the follower and its generation (its parts); a request with the
 * same is answered with the same bytes, shared (fl_pb_respond_bytes),
 * rather than written again.
 *
 * And the last lists it made (FL_PB_SEEDS of them, by stream, window and
 * selector): a stream's next list is read from where its last ended
 * (fl_pb_select_after), not from its newest fragments again. */
#define FL_PB_SEEDS 8

struct fl_pb_hls_loop {
    /* the last text */
    char token[FL_PB_TOKEN_CAP];
    uint64_t log_id;
    int ll;
    const fl_pb_follow_t *follow;
    uint64_t gen;
    fl_buf_t list;      /* the list's entries */
    fl_pb_blob_t *blob; /* the text (held), or NULL */
    /* the last lists (n 0: empty), replaced in turn */
    struct {
        uint64_t log_id;
        uint32_t list;
        uint8_t selector;
        fl_buf_t v; /* fl_pb_entry_t, oldest first */
    } seeds[FL_PB_SEEDS];
    unsigned next_seed;
};

/* The calling loop's, made if need be (NULL: out of memory). */
static struct fl_pb_hls_loop *hls_loop(fl_playback_t *pb)
{
    struct fl_pb_hls_loop **hp = &pb->hls[fl_server_loop()];
    if (!*hp) {
        *hp = calloc(1, sizeof **hp);
        if (*hp) {
            fl_buf_init(&(*hp)->list, 0);
            for (int i = 0; i < FL_PB_SEEDS; i++)
                fl_buf_init(&(*hp)->seeds[i].v, 0);
        }
    }
    return *hp;
}

void fl_pb_hls_loops_free(fl_playback_t *pb)
{
    for (int i = 0; i < FL_CONFIG_MAX_LOOPS; i++) {
        struct fl_pb_hls_loop *t = pb->hls[i];
        if (!t)
            continue;
        fl_pb_blob_drop(t->blob);
        fl_buf_free(&t->list);
        for (int k = 0; k < FL_PB_SEEDS; k++)
            fl_buf_free(&t->seeds[k].v);
        free(t);
        pb->hls[i] = NULL;
    }
}

static uint64_t follow_gen(const hls_job_t *j)
{
    return j->ll && j->follow ? fl_pb_follow_gen(j->follow) : 0;
}

/* Is t's text the text of j's playlist? */
static int text_same(const struct fl_pb_hls_loop *t, const hls_job_t *j)
{
    return t && t->blob && t->log_id == j->ref.info.id && t->ll == j->ll &&
           (!j->ll || (t->follow == j->follow && t->gen == follow_gen(j))) &&
           t->list.n == j->n * sizeof *j->v &&
           (j->n == 0 || memcmp(t->list.p, j->v, t->list.n) == 0) && !j->ended &&
           strcmp(t->token, j->token) == 0;
}

/* Keep j's text (taken from j->out) as the loop's last: its blob, or NULL
 * (out of memory: j->out as it was). */
static fl_pb_blob_t *text_keep(struct fl_pb_hls_loop *t, hls_job_t *j)
{
    if (!t)
        return NULL;
    fl_pb_blob_drop(t->blob);
    t->blob = NULL;
    fl_buf_reset(&t->list);
    fl_buf_append(&t->list, (const uint8_t *)j->v, j->n * sizeof *j->v);
    if (t->list.err)
        return NULL;
    t->blob = fl_pb_blob_new(&j->out);
    if (!t->blob)
        return NULL;
    snprintf(t->token, sizeof t->token, "%s", j->token);
    t->log_id = j->ref.info.id;
    t->ll = j->ll;
    t->follow = j->follow;
    t->gen = follow_gen(j);
    return t->blob;
}

/* The loop's last list of j's stream, window and selector, copied into
 * j->seed for its worker (none: nothing). */
static void seed_take(hls_job_t *j)
{
    struct fl_pb_hls_loop *t = hls_loop(j->pb);
    for (int i = 0; t && i < FL_PB_SEEDS; i++) {
        if (t->seeds[i].v.n < sizeof *j->v || t->seeds[i].log_id != j->ref.info.id ||
            t->seeds[i].list != fl_pb_list_max(&j->s) ||
            t->seeds[i].selector != (uint8_t)j->s.selector)
            continue;
        j->seed = malloc(t->seeds[i].v.n);
        if (j->seed) {
            memcpy(j->seed, t->seeds[i].v.p, t->seeds[i].v.n);
            j->n_seed = t->seeds[i].v.n / sizeof *j->v;
        }
        return;
    }
}

/* Keep the list j's worker made as its stream's last. */
static void seed_keep(hls_job_t *j)
{
    struct fl_pb_hls_loop *t = hls_loop(j->pb);
    if (!t || j->n == 0)
        return;
    int at = -1;
    for (int i = 0; i < FL_PB_SEEDS && at < 0; i++)
        if (t->seeds[i].log_id == j->ref.info.id && t->seeds[i].list == fl_pb_list_max(&j->s) &&
            t->seeds[i].selector == (uint8_t)j->s.selector)
            at = i;
    if (at < 0)
        at = (int)(t->next_seed++ % FL_PB_SEEDS);
    fl_buf_reset(&t->seeds[at].v);
    fl_buf_append(&t->seeds[at].v, (const uint8_t *)j->v, j->n * sizeof *j->v);
    t->seeds[at].log_id = j->ref.info.id;
    t->seeds[at].list = fl_pb_list_max(&j->s);
    t->seeds[at].selector = (uint8_t)j->s.selector;
    if (t->seeds[at].v.err)
        fl_buf_reset(&t->seeds[at].v); /* (out of memory: empty, not used) */
}

static void respond_text(fl_http_req_t *r, hls_job_t *j, fl_pb_blob_t *b)
{
    j->pb->playlists++;
    fl_http_add_header(r, "Cache-Control", "no-cache");
    fl_pb_respond_bytes(r, 200, m3u8_type, fl_pb_blob_bytes(b), b);
}

/* Write the playlist of a LIVE list the job has, on the loop (or take the
 * loop's last, when it is this one's), and answer. */
static void playlist_text(fl_http_req_t *r, hls_job_t *j)
{
    struct fl_pb_hls_loop *t = hls_loop(j->pb);
    if (!j->err.status && text_same(t, j)) {
        j->pb->texts_reused++;
        respond_text(r, j, t->blob);
        job_free(j);
        return;
    }
    if (j->ll && j->follow && fl_pb_follow_snapshot(j->follow, &j->s, &j->snap, &j->n_snap) != 0)
        fl_api_error(&j->err, 500, "InternalFailure", "out of memory");
    else if (!j->err.status)
        media_text(j);
    if (!j->err.status && j->out.err)
        fl_api_error(&j->err, 500, "InternalFailure", "out of memory");
    fl_pb_blob_t *b = j->err.status ? NULL : text_keep(t, j);
    if (b)
        respond_text(r, j, b);
    else
        respond_playlist(r, j);
    job_free(j);
}

/* A playlist. LIVE: the list of the stream's edge from the cache (read
 * once per new durable fragment, whoever asks), the text written on the
 * loop; else storage on a worker. With LL-HLS, what the tail has is
 * copied on the loop when the text is written. */
static void playlist_go(fl_http_req_t *r, hls_job_t *j)
{
    if (j->s.mode == FL_PB_LIVE) {
        fl_slice_t hit;
        list_key(j, &j->key);
        fl_pb_take_t t = fl_pb_cache_take(fl_pb_cache_of(j->pb), &j->key, &j->w, &hit);
        if (t == FL_PB_HIT) {
            if (list_from(j, hit) != 0)
                fl_api_error(&j->err, 500, "InternalFailure", "out of memory");
            playlist_text(r, j);
            return;
        }
        if (t == FL_PB_JOIN) { /* (bounded by the connections, not refused) */
            joined(r, j, STAGE_LISTED);
            return;
        }
        j->lead = t == FL_PB_LEAD; /* else out of memory: made without the cache */
        if (j->lead)
            seed_take(j);
        if (!j->lead && j->ll && j->follow &&
            fl_pb_follow_snapshot(j->follow, &j->s, &j->snap, &j->n_snap) != 0) {
            fl_http_respond_error(r, 500, "InternalFailure", "out of memory");
            job_free(j);
            return;
        }
        submit(r, j);
        return;
    }
    if (j->ll && j->follow && fl_pb_follow_snapshot(j->follow, &j->s, &j->snap, &j->n_snap) != 0) {
        fl_http_respond_error(r, 500, "InternalFailure", "out of memory");
        job_free(j);
        return;
    }
    submit(r, j);
}

/* A parked request resumes: its condition came, its deadline passed, or
 * (for one that joined) the segment it waited for is made. */
static void hls_resume(fl_http_async_t *a, fl_http_req_t *r)
{
    hls_job_t *j = (hls_job_t *)a;
    fl_playback_t *pb = j->pb;
    pb->n_waiting--;
    const fl_api_error_t *err = j->w.err;
    int stage = j->stage;
    j->stage = STAGE_NONE;
    if (stage == STAGE_LISTED) { /* the list it waited for is made */
        if (r && !err->status && list_from(j, j->w.bytes) != 0)
            fl_api_error(&j->err, 500, "InternalFailure", "out of memory");
        else if (r && err->status)
            j->err = *err;
        if (r) {
            playlist_text(r, j);
            return;
        }
        job_free(j);
        return;
    }
    if (stage == STAGE_JOINED) {
        if (r && err->status)
            fl_http_respond_api_error(r, err);
        else if (r)
            respond_segment(r, j, j->w.bytes);
        job_free(j);
        return;
    }
    if (!r || err->status) {
        if (r) {
            fl_http_add_header(r, "Retry-After", "1");
            fl_http_respond_api_error(r, err);
        }
        if (j->lead) { /* those who joined it ask again */
            fl_api_error(&j->err, 503, "ServiceUnavailableException",
                         "the part is not available yet; retry");
            fl_pb_cache_put(fl_pb_cache_of(pb), &j->key, &j->err, &j->out, NULL);
        }
        job_free(j);
        return;
    }
    if (stage == STAGE_PART)
        part_go(r, j);
    else
        playlist_go(r, j);
}

/* A decimal query argument: 1 with *v, 0 when absent, -1 when not a
 * number up to max. */
static int query_num(struct lws *wsi, const char *name, uint64_t max, uint64_t *v)
{
    char buf[32];
    int rc = fl_pb_query_arg(wsi, name, buf, sizeof buf);
    if (rc == -1)
        return 0;
    if (rc != 0 || !buf[0] || strlen(buf) > 20)
        return -1;
    uint64_t x = 0;
    for (const char *p = buf; *p; p++) {
        if (*p < '0' || *p > '9' || x > (UINT64_MAX - 9) / 10)
            return -1;
        x = x * 10 + (uint64_t)(*p - '0');
    }
    if (x > max)
        return -1;
    *v = x;
    return 1;
}

static void hls_start(fl_http_req_t *r, hls_op_t op)
{
    fl_playback_t *pb = r->mod;
    hls_job_t *j = calloc(1, sizeof *j);
    if (!j) {
        fl_http_respond_error(r, 500, "InternalFailure", "out of memory");
        return;
    }
    fl_buf_init(&j->out, 0);
    j->pb = pb;
    j->op = op;
    j->part = -1;
    j->hls_part = -1;
    j->now_ms = fl_time_real_ns() / 1000000;

    if (fl_pb_session_open(r, op_action[op], j->now_ms, 0, &j->s, j->token, sizeof j->token,
                           &j->ref) != 0)
        goto fail;
    if ((op == OP_TS && j->s.container != FL_PB_TS) ||
        ((op == OP_INIT || op == OP_MP4) && j->s.container != FL_PB_FMP4)) {
        fl_http_respond_error(r, 400, "InvalidArgumentException",
                              "this session's ContainerFormat is %s",
                              j->s.container == FL_PB_TS ? "MPEG_TS" : "FRAGMENTED_MP4");
        goto fail;
    }
    char num[FL_FRAGMENT_NUMBER_CAP];
    int fa = fl_pb_query_arg(r->wsi, "FragmentNumber", num, sizeof num);
    const char *fn = fa == 0 ? num : NULL;
    uint64_t log_id = 0;
    if (fn || fa == -2) {
        const char *why = NULL;
        if (!fn || fl_valid_fragment_number(fl_slice_str(fn), &why) != 0 ||
            fl_fragment_number_parse(fn, &log_id, &j->seq) != 0) {
            fl_http_respond_error(r, 400, "InvalidArgumentException",
                                  "FragmentNumber is not a fragment number");
            goto fail;
        }
        j->has_seq = 1;
    } else if (op == OP_MP4 || op == OP_TS) {
        fl_http_respond_error(r, 400, "InvalidArgumentException", "FragmentNumber is required");
        goto fail;
    }

    if (j->has_seq && log_id != j->ref.info.id) {
        fl_http_respond_error(r, 404, "ResourceNotFoundException",
                              "fragment %s is not one of stream %s", fn, j->s.name);
        goto fail;
    }
    /* LL-HLS: LIVE sessions in fMP4 (parts are fMP4 moof+mdat) */
    /* (--low-latency-hls 0: LIVE fMP4 is served as plain LIVE HLS) */
    j->ll = j->s.mode == FL_PB_LIVE && j->s.container == FL_PB_FMP4 &&
            fl_server_config(r->srv)->low_latency_hls;
    uint64_t pnum = 0;
    int pa = query_num(r->wsi, "PartNumber", FL_PB_MAX_PARTS - 1, &pnum);
    if (pa < 0 || (pa > 0 && (op != OP_MP4 || !j->ll))) {
        fl_http_respond_error(r, 400, "InvalidArgumentException",
                              "PartNumber is a part of a LIVE FRAGMENTED_MP4 session's "
                              "fragment: 0 to %d",
                              FL_PB_MAX_PARTS - 1);
        goto fail;
    }
    if (pa > 0)
        j->part = (int)pnum;
    if (op == OP_MEDIA && j->ll) {
        int ma = query_num(r->wsi, "_HLS_msn", UINT64_MAX, &j->msn);
        int pp = query_num(r->wsi, "_HLS_part", FL_PB_MAX_PARTS - 1, &pnum);
        if (ma < 0 || pp < 0 || (pp > 0 && ma == 0)) {
            fl_http_respond_error(r, 400, "InvalidArgumentException",
                                  "_HLS_msn must be a media sequence number, and _HLS_part a "
                                  "part number with it");
            goto fail;
        }
        j->has_msn = ma > 0;
        j->hls_part = pp > 0 ? (int)pnum : -1;
    }
    if (j->ll && (op == OP_MEDIA || op == OP_MP4))
        j->follow = fl_pb_follow(pb, &j->ref); /* NULL: plain HLS */
    else if (op == OP_MEDIA && j->s.mode == FL_PB_LIVE && fl_server_config(r->srv)->low_latency_hls)
        j->follow = fl_pb_follow(pb, &j->ref); /* for held reloads only (no parts) */

    if ((op == OP_MP4 || op == OP_TS) && j->has_seq) {
        /* one remux for everyone who asks at once (cache.c) */
        j->key.log_id = j->ref.info.id;
        j->key.seq = j->seq;
        j->key.part = j->part >= 0 ? j->part : j->ll ? FL_PB_WHOLE_PARTS : FL_PB_WHOLE;
        j->key.container = (uint8_t)j->s.container;
        j->key.selector = (uint8_t)j->s.selector;
        fl_slice_t hit;
        fl_pb_take_t t = fl_pb_cache_take(fl_pb_cache_of(pb), &j->key, &j->w, &hit);
        if (t == FL_PB_HIT) {
            respond_segment(r, j, hit);
            job_free(j);
            return;
        }
        if (t == FL_PB_JOIN) { /* (bounded by the connections, not refused) */
            joined(r, j, STAGE_JOINED);
            return;
        }
        j->lead = t == FL_PB_LEAD;
        if (j->part >= 0) {
            part_go(r, j);
            return;
        }
        submit(r, j);
        return;
    }
    if (op == OP_MEDIA && j->follow && j->has_msn) {
        int ready = fl_pb_follow_ready(j->follow, j->msn, j->hls_part);
        if (ready < 0) {
            fl_http_respond_error(r, 400, "InvalidArgumentException",
                                  "_HLS_msn/_HLS_part ask for more than two segments (or three "
                                  "parts) past the playlist's last");
            goto fail;
        }
        if (ready == 0) {
            pb->blocked_reloads++;
            j->w.kind = FL_PB_WAIT_PLAYLIST;
            j->w.msn = j->msn;
            j->w.part = j->hls_part;
            if (park(r, j, STAGE_PLAYLIST) != 0)
                goto fail;
            return;
        }
    }
    /* a LIVE reload without _HLS_msn that would see nothing new waits for
     * the next segment (fl_pb_follow_hold), unless many wait already */
    uint64_t next;
    int64_t deadline;
    if (op == OP_MEDIA && j->follow && !j->has_msn &&
        atomic_load(&pb->n_waiting) < FL_PB_MAX_WAITERS / 2 &&
        fl_pb_follow_hold(j->follow, &next, &deadline)) {
        pb->held_reloads++;
        j->w.kind = FL_PB_WAIT_PLAYLIST;
        j->w.msn = next;
        j->w.part = -1;
        j->w.hold = 1;
        if (park(r, j, STAGE_PLAYLIST) != 0)
            goto fail;
        j->w.deadline_ms = deadline;
        return;
    }
    if (op == OP_MEDIA) {
        playlist_go(r, j);
        return;
    }
    /* LIVE: the session describes itself by its newest fragment, which
     * the list of the stream's edge names when the cache has it (no read
     * of the newest fragments to find it); its init segment is made once
     * per set of tracks */
    fl_pb_entry_t newest;
    if ((op == OP_INIT || op == OP_MASTER) && !j->has_seq && j->s.mode == FL_PB_LIVE &&
        list_newest(j, &newest)) {
        j->has_seq = 1;
        j->seq = newest.seq;
        if (op == OP_INIT) {
            j->key.log_id = j->ref.info.id;
            j->key.seq = newest.tracks_hash;
            j->key.part = FL_PB_INIT;
            j->key.container = (uint8_t)j->s.container;
            fl_slice_t hit;
            fl_pb_take_t t = fl_pb_cache_take(fl_pb_cache_of(pb), &j->key, &j->w, &hit);
            if (t == FL_PB_HIT) {
                respond_segment(r, j, hit);
                job_free(j);
                return;
            }
            if (t == FL_PB_JOIN) {
                joined(r, j, STAGE_JOINED);
                return;
            }
            j->lead = t == FL_PB_LEAD;
        }
    }
    submit(r, j);
    return;
fail:
    job_free(j);
}

void fl_pb_hls_master(fl_http_req_t *r)
{
    hls_start(r, OP_MASTER);
}

void fl_pb_hls_media(fl_http_req_t *r)
{
    hls_start(r, OP_MEDIA);
}

void fl_pb_hls_init(fl_http_req_t *r)
{
    hls_start(r, OP_INIT);
}

void fl_pb_hls_mp4_fragment(fl_http_req_t *r)
{
    hls_start(r, OP_MP4);
}

void fl_pb_hls_ts_fragment(fl_http_req_t *r)
{
    hls_start(r, OP_TS);
}

void fl_pb_hls_other(fl_http_req_t *r)
{
    fl_http_respond_error(r, 404, "UnknownOperationException", "no such HLS path: %s", r->path);
}
