/*
 * server/playback/dash.c — MPEG-DASH sessions: GetDASHStreamingSessionURL
 * (`POST /getDASHStreamingSessionURL`, AWS's shape) and the session's
 * manifest `GET /dash/v1/getDASHManifest.mpd?SessionToken=…`, and its
 * segments `getMP4InitFragment.mp4` and `getMP4MediaFragment.mp4`
 * (FragmentNumber) under /dash/v1/: one segment per stored fragment, the
 * same fMP4 remux as the HLS session's (media.c, media/av.h), but of one
 * track each (`TrackNumber`, as AWS's paths take it): DASH players and
 * FFmpeg want one track per Representation, not the muxed segments HLS
 * plays.
 *
 * The session call is the HLS one's (session.c, fl_pb_session_url) with
 * DASH's field names. A DASH session is an HLS session token (token.h)
 * with the DASH bit set
 * (container FRAGMENTED_MP4, discontinuity NEVER) and, for
 * DisplayFragmentNumber ALWAYS, the number bit: the same stateless token,
 * checked the same way; select.c chooses the fragments for its
 * PlaybackMode (LIVE, LIVE_REPLAY, ON_DEMAND) exactly as for HLS, at most
 * MaxManifestFragmentResults (default 5 live, 1000 on demand).
 *
 * The manifest: one Period; an AdaptationSet per playable track of the
 * session's first fragment (its video track, then AAC audio), each with
 * one Representation (codecs, width, height, frame rate or sampling rate
 * from that fragment) and a SegmentList with the track's init segment, a SegmentTimeline (timescale
 * 1000: `S@t` is the fragment's timestamp in epoch ms — producer or server time as selected, the
 * times its fMP4 segment carries — and `S@d` its duration) and one SegmentURL per fragment, its
 * number in the URL. With DisplayFragmentNumber ALWAYS each S carries `kvs:fn`, with
 * DisplayFragmentTimestamp ALWAYS `kvs:ts` (epoch ms), as AWS's do.
 * ON_DEMAND is `type="static"` with a presentationTimeOffset of the first
 * timestamp (playback starts at 0); LIVE and LIVE_REPLAY are
 * `type="dynamic"` with availabilityStartTime at the epoch (so `S@t` is
 * wall-clock time), minimumUpdatePeriod 1 s (AWS asks players to reload
 * every second) and a time-shift buffer of the window. `S@d` runs to the
 * next fragment when they follow each other (stored durations overlap by
 * a frame of the other track), so the timeline has no overlaps. The list stops
 * at the first fragment whose tracks differ from the first one's (a new
 * Period would be needed; AWS fails such fragments).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/awstime.h"
#include "common/clock.h"
#include "common/error.h"
#include "server/playback/playback.h"
#include "server/video/fragment.h"

#define ON_DEMAND_MAX_NS (24LL * 3600 * 1000000000) /* AWS: a range of at most 24 h */
#define MPD_TYPE         "application/dash+xml"

/* A track of the session, as its AdaptationSet says it. */
typedef struct {
    uint64_t number;
    int video;
    char codec[64];
    unsigned rate; /* audio: Hz */
} dash_track_t;

/* The session's first fragment (the newest, for LIVE) is playable: 0 with
 * its codecs, bandwidth and tracks (video first, then audio; at most FL_PB_MAX_TRACKS), or -1
 * with err. */
static int check_first(fl_stream_ref_t *ref, const fl_pb_session_t *s, int64_t now_ms,
                       fl_pb_codecs_t *codecs, uint64_t *bandwidth, dash_track_t *tracks,
                       size_t *n_tracks, fl_api_error_t *err)
{
    fl_log_batch_t b;
    memset(&b, 0, sizeof b);
    fl_pb_media_t m;
    memset(&m, 0, sizeof m);
    const fl_log_record_t *rec = NULL;
    int ret = -1;
    int rc = fl_pb_first(ref->log, s, now_ms, 0, &b, &rec);
    if (rc == FL_ENOTFOUND) {
        fl_api_error(err, 404, "ResourceNotFoundException", "no fragments in this session's range");
        goto out;
    }
    if (rc) {
        fl_api_error(err, 500, "InternalFailure", "reading stream %s: %s", ref->name,
                     fl_strerror(rc));
        goto out;
    }
    rc = fl_pb_media_open(rec->payload, 0, 0, &m);
    if (rc) {
        fl_api_error(err, 400, "InvalidCodecPrivateDataException",
                     "the first fragment of the session cannot be read as Matroska: %s",
                     fl_strerror(rc));
        goto out;
    }
    if (fl_pb_media_codecs(&m, codecs, err) != 0)
        goto out;
    uint64_t bw = m.duration_ms ? (uint64_t)rec->payload.n * 8000 / m.duration_ms : 0;
    *bandwidth = bw + bw / 4 + 1000;
    /* the codecs string lists the first video track, then the audio ones,
     * in track order (media.c) */
    char list[sizeof codecs->codecs];
    snprintf(list, sizeof list, "%s", codecs->codecs);
    char *save = NULL, *tok = strtok_r(list, ",", &save);
    size_t n = 0;
    int have_video = 0;
    for (size_t i = 0; i < m.n_tracks && tok; i++) {
        const fl_mkv_track_t *t = &m.tracks[i];
        int video = t->type == FL_MKV_TRACK_VIDEO;
        if ((video && have_video) || (!video && t->type != FL_MKV_TRACK_AUDIO))
            continue;
        have_video |= video;
        dash_track_t *d = &tracks[n++];
        d->number = t->number;
        d->video = video;
        d->rate = video ? 0 : (unsigned)t->sampling_frequency;
        snprintf(d->codec, sizeof d->codec, "%s", tok);
        tok = strtok_r(NULL, ",", &save);
    }
    *n_tracks = n;
    ret = 0;
out:
    fl_pb_media_free(&m);
    fl_log_batch_free(&b);
    return ret;
}

static const char *const never_always[] = {"NEVER", "ALWAYS", NULL};

/* The session the request asks for into s (stream fields aside): 0, or -1
 * after answering the error. */
static int parse_session(fl_http_req_t *r, fl_pb_session_t *s)
{
    const fl_json_t *root = fl_json_root(r->json);
    if (fl_pb_session_fields(r, "DASHFragmentSelector", "MaxManifestFragmentResults", s) != 0)
        return -1;
    int dts = fl_pb_enum_field(r, root, "DisplayFragmentTimestamp", never_always, 0);
    if (dts < 0)
        return -1;
    int dfn = fl_pb_enum_field(r, root, "DisplayFragmentNumber", never_always, 0);
    if (dfn < 0)
        return -1;
    s->display_ts = dts;
    s->display_number = dfn;
    s->dash = 1;
    s->container = FL_PB_FMP4;
    s->discontinuity = FL_PB_DISC_NEVER;
    return 0;
}

void fl_pb_get_dash_session_url(fl_http_req_t *r)
{
    fl_pb_cors(r);
    if (!r->json) {
        fl_http_respond_error(r, 400, "InvalidArgumentException",
                              "a JSON body with StreamName or StreamARN is required");
        return;
    }
    fl_pb_session_t s;
    memset(&s, 0, sizeof s);
    if (parse_session(r, &s) != 0)
        return;
    fl_pb_session_url(r, &s, "kinesisvideo:GetDASHStreamingSessionURL",
                      "/dash/v1/getDASHManifest.mpd", "DASHStreamingSessionURL");
}

/* ---- the manifest ---- */

typedef struct {
    fl_http_async_t a; /* first */
    fl_playback_t *pb;
    fl_stream_ref_t ref; /* held while the job runs */
    fl_pb_session_t s;
    char token[FL_PB_TOKEN_CAP];
    int64_t now_ms;
    fl_buf_t out;
    fl_api_error_t err;
} mpd_job_t;

/* Fragment i's span in the SegmentTimeline: up to the next one when they
 * follow each other (fragments overlap by a frame of another track; the
 * timeline must not), else its own duration (a gap stays a gap). */
static unsigned span_ms(const fl_pb_entry_t *v, size_t n, size_t i)
{
    if (i + 1 < n) {
        int64_t to_next = (v[i + 1].ts_ns - v[i].ts_ns) / 1000000;
        if (to_next > 0 && to_next <= (int64_t)v[i].duration_ms + 1000)
            return (unsigned)to_next;
    }
    return v[i].duration_ms;
}

/* "PT12.345S" */
static void put_duration(fl_buf_t *o, uint64_t ms)
{
    fl_buf_printf(o, "PT%" PRIu64 ".%03uS", ms / 1000, (unsigned)(ms % 1000));
}

static void mpd_work(fl_http_async_t *a)
{
    mpd_job_t *j = (mpd_job_t *)a;
    const fl_pb_session_t *s = &j->s;
    fl_pb_entry_t *v = NULL;
    size_t n = 0;
    int ended = 0;
    fl_pb_codecs_t c;
    uint64_t bw = 0;
    dash_track_t tracks[FL_PB_MAX_TRACKS];
    size_t nt = 0;
    if (check_first(&j->ref, s, j->now_ms, &c, &bw, tracks, &nt, &j->err))
        goto out;
    int rc = fl_pb_select(j->ref.log, s, j->now_ms, &v, &n, &ended);
    if (rc) {
        fl_api_error(&j->err, 500, "InternalFailure", "reading stream %s: %s", j->ref.name,
                     fl_strerror(rc));
        goto out;
    }
    if (n == 0 && s->mode == FL_PB_ON_DEMAND) {
        fl_api_error(&j->err, 404, "ResourceNotFoundException",
                     "no fragments in this session's range");
        goto out;
    }
    for (size_t i = 1; i < n; i++)
        if (v[i].tracks_hash != v[0].tracks_hash) {
            n = i; /* one set of tracks per manifest */
            break;
        }
    uint64_t total_ms = 0, max_ms = 1000;
    for (size_t i = 0; i < n; i++) {
        total_ms += span_ms(v, n, i);
        if (v[i].duration_ms > max_ms)
            max_ms = v[i].duration_ms;
    }
    const int dynamic = s->mode != FL_PB_ON_DEMAND && !ended;
    fl_buf_t *o = &j->out;
    fl_buf_append_str(o, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                         "<MPD xmlns=\"urn:mpeg:dash:schema:mpd:2011\" "
                         "xmlns:kvs=\"urn:framelog:kvs:dash\" "
                         "profiles=\"urn:mpeg:dash:profile:isoff-live:2011\" ");
    if (dynamic) {
        char now[FL_AWSTIME_ISO8601_LEN + 1];
        fl_awstime_iso8601(j->now_ms * 1000000, now);
        fl_buf_printf(o,
                      "type=\"dynamic\" availabilityStartTime=\"1970-01-01T00:00:00Z\" "
                      "publishTime=\"%s\" minimumUpdatePeriod=\"PT1S\" timeShiftBufferDepth=\"",
                      now);
        put_duration(o, total_ms > max_ms ? total_ms : max_ms);
        fl_buf_append_str(o, "\" suggestedPresentationDelay=\"");
        put_duration(o, max_ms * 2);
        fl_buf_append_str(o, "\"");
    } else {
        fl_buf_append_str(o, "type=\"static\" mediaPresentationDuration=\"");
        put_duration(o, total_ms);
        fl_buf_append_str(o, "\"");
    }
    fl_buf_append_str(o, " minBufferTime=\"");
    put_duration(o, max_ms);
    fl_buf_append_str(o, "\">\n<Period id=\"0\" start=\"PT0S\">\n");
    for (size_t k = 0; k < nt; k++) {
        const dash_track_t *t = &tracks[k];
        fl_buf_printf(o,
                      "<AdaptationSet id=\"%zu\" contentType=\"%s\" mimeType=\"%s\" "
                      "segmentAlignment=\"true\" startWithSAP=\"1\">\n",
                      k, t->video ? "video" : "audio", t->video ? "video/mp4" : "audio/mp4");
        fl_buf_printf(o,
                      "<Representation id=\"%" PRIu64 "\" codecs=\"%s\" bandwidth=\"%" PRIu64 "\"",
                      t->number, t->codec, t->video ? bw : (uint64_t)128000);
        if (t->video && c.width && c.height)
            fl_buf_printf(o, " width=\"%u\" height=\"%u\"", c.width, c.height);
        if (t->video && c.frame_rate > 0 && c.frame_rate < 1000)
            fl_buf_printf(o, " frameRate=\"%u/1000\"", (unsigned)(c.frame_rate * 1000 + 0.5));
        if (!t->video && t->rate)
            fl_buf_printf(o, " audioSamplingRate=\"%u\"", t->rate);
        fl_buf_append_str(o, ">\n<SegmentList timescale=\"1000\"");
        if (!dynamic && n)
            fl_buf_printf(o, " presentationTimeOffset=\"%" PRId64 "\"", v[0].ts_ns / 1000000);
        fl_buf_printf(o,
                      ">\n<Initialization sourceURL=\"getMP4InitFragment.mp4?TrackNumber=%" PRIu64
                      "&amp;SessionToken=%s\"/>\n<SegmentTimeline>\n",
                      t->number, j->token);
        for (size_t i = 0; i < n; i++) {
            fl_buf_printf(o, "<S t=\"%" PRId64 "\" d=\"%u\"", v[i].ts_ns / 1000000,
                          span_ms(v, n, i));
            if (s->display_number) {
                char number[FL_FRAGMENT_NUMBER_CAP];
                fl_fragment_number(j->ref.info.id, v[i].seq, number, sizeof number);
                fl_buf_printf(o, " kvs:fn=\"%s\"", number);
            }
            if (s->display_ts)
                fl_buf_printf(o, " kvs:ts=\"%" PRId64 "\"", v[i].ts_ns / 1000000);
            fl_buf_append_str(o, "/>\n");
        }
        fl_buf_append_str(o, "</SegmentTimeline>\n");
        for (size_t i = 0; i < n; i++) {
            char number[FL_FRAGMENT_NUMBER_CAP];
            fl_fragment_number(j->ref.info.id, v[i].seq, number, sizeof number);
            fl_buf_printf(o,
                          "<SegmentURL media=\"getMP4MediaFragment.mp4?FragmentNumber=%s&amp;"
                          "TrackNumber=%" PRIu64 "&amp;SessionToken=%s\"/>\n",
                          number, t->number, j->token);
        }
        fl_buf_append_str(o, "</SegmentList>\n</Representation>\n</AdaptationSet>\n");
    }
    fl_buf_append_str(o, "</Period>\n</MPD>\n");
    if (o->err)
        fl_api_error(&j->err, 500, "InternalFailure", "out of memory");
out:
    free(v);
}

static void mpd_done(fl_http_async_t *a, fl_http_req_t *r)
{
    mpd_job_t *j = (mpd_job_t *)a;
    fl_stream_put(&j->ref);
    if (r) {
        if (j->err.status) {
            fl_http_respond_api_error(r, &j->err);
        } else {
            j->pb->playlists++;
            if (j->s.mode != FL_PB_ON_DEMAND)
                fl_http_add_header(r, "Cache-Control", "no-cache");
            fl_http_respond(r, 200, MPD_TYPE, fl_buf_slice(&j->out));
        }
    }
    fl_buf_free(&j->out);
    free(j);
}

/* The session of a /dash/v1/ request: its token checked (a DASH
 * session's, authentic, not expired) into s and token, and its stream
 * reached with the session's key and the path's action, of the token's
 * incarnation. 0 with ref held, or -1 after answering the error. */
static int open_session(fl_http_req_t *r, const char *action, int64_t now_ms, fl_pb_session_t *s,
                        char *token, size_t cap, fl_stream_ref_t *ref)
{
    fl_playback_t *pb = r->mod;
    int qa = fl_pb_query_arg(r->wsi, "SessionToken", token, cap);
    int rc = qa == 0 ? fl_pb_token_decode(pb->key, fl_slice_str(token), now_ms, s) : FL_EINVAL;
    if (rc == 0 && !s->dash)
        rc = FL_EINVAL; /* an HLS session's token */
    if (rc) {
        pb->token_refusals++;
        fl_http_respond_error(r, 403, "NotAuthorizedException",
                              rc == FL_EEXPIRED ? "the session token has expired"
                              : qa == 0         ? "the session token is not valid"
                                                : "SessionToken is missing or not valid");
        return -1;
    }
    /* the session's rights are those of the key it was issued to */
    fl_principal_t who;
    memset(&who, 0, sizeof who);
    if (s->key_id[0]) {
        who.has_key = 1;
        snprintf(who.access_key, sizeof who.access_key, "%s", s->key_id);
    }
    fl_stream_want_t want = {
        .name = s->name,
        .action = action,
        .who = &who,
        .name_field = "StreamName",
        .arn_field = "StreamARN",
    };
    fl_api_error_t err;
    if (fl_stream_get(pb->video, &want, ref, &err) != 0) {
        fl_http_respond_api_error(r, &err);
        return -1;
    }
    if (ref->info.created_ns / 1000000 != s->incarnation_ms) {
        fl_http_respond_error(r, 404, "ResourceNotFoundException",
                              "the session's stream %s was deleted", s->name);
        fl_stream_put(ref);
        return -1;
    }
    return 0;
}

void fl_pb_dash_manifest(fl_http_req_t *r)
{
    fl_pb_cors(r);
    mpd_job_t *j = calloc(1, sizeof *j);
    if (!j) {
        fl_http_respond_error(r, 500, "InternalFailure", "out of memory");
        return;
    }
    fl_buf_init(&j->out, 0);
    j->pb = r->mod;
    j->now_ms = fl_time_real_ns() / 1000000;
    if (open_session(r, "kinesisvideo:GetDASHManifest", j->now_ms, &j->s, j->token, sizeof j->token,
                     &j->ref) != 0)
        goto fail;
    j->a.work = mpd_work;
    j->a.done = mpd_done;
    if (fl_http_async_or_busy(r, &j->a, "ClientLimitExceededException") != 0)
        goto fail;
    return;
fail:
    fl_stream_put(&j->ref);
    fl_buf_free(&j->out);
    free(j);
}

/* ---- segments: one track (TrackNumber) or all, as fMP4 ---- */

typedef struct {
    fl_http_async_t a; /* first */
    fl_playback_t *pb;
    fl_stream_ref_t ref; /* held while the job runs */
    fl_pb_session_t s;
    int init;
    int has_seq, has_track;
    uint64_t seq, track;
    int64_t now_ms;
    fl_buf_t out;
    fl_api_error_t err;
    int remux_failed;
} seg_job_t;

static void seg_work(fl_http_async_t *a)
{
    seg_job_t *j = (seg_job_t *)a;
    fl_log_batch_t b;
    memset(&b, 0, sizeof b);
    fl_pb_media_t m;
    memset(&m, 0, sizeof m);
    fl_av_remux_t *mux = NULL;
    fl_buf_t head;
    fl_buf_init(&head, 0);
    const fl_log_record_t *rec = NULL;
    int rc = j->has_seq ? fl_pb_read_seq(j->ref.log, j->seq, &b, &rec)
                        : fl_pb_first(j->ref.log, &j->s, j->now_ms, 0, &b, &rec);
    if (rc == 0 && j->has_seq && !fl_pb_in_range(&j->s, rec))
        rc = FL_ENOTFOUND;
    if (rc == FL_ENOTFOUND || rc == FL_EEXPIRED) {
        fl_api_error(&j->err, 404, "ResourceNotFoundException",
                     j->has_seq ? "no such fragment in this session"
                                : "no fragments in this session's range");
        goto out;
    }
    if (rc) {
        fl_api_error(&j->err, 500, "InternalFailure", "reading stream %s: %s", j->ref.name,
                     fl_strerror(rc));
        goto out;
    }
    rc = fl_pb_media_open(rec->payload, j->init ? 0 : fl_pb_shift(&j->s, rec), !j->init, &m);
    fl_log_batch_free(&b);
    if (rc) {
        fl_api_error(&j->err, 500, "InternalFailure", "fragment of stream %s: %s", j->ref.name,
                     fl_strerror(rc));
        goto out;
    }
    const fl_mkv_track_t *tracks = m.tracks;
    size_t nt = m.n_tracks;
    if (j->has_track) {
        nt = 0;
        for (size_t i = 0; i < m.n_tracks && !nt; i++)
            if (m.tracks[i].number == j->track) {
                tracks = &m.tracks[i];
                nt = 1;
            }
    }
    if (nt == 0) {
        if (j->has_track)
            fl_api_error(&j->err, 404, "ResourceNotFoundException",
                         "the fragment has no playable track %" PRIu64, j->track);
        else
            fl_api_error(&j->err, 404, "ResourceNotFoundException",
                         "the fragment has no playable track");
        goto out;
    }
    rc = fl_av_fmp4_new(tracks, nt, j->init ? &j->out : &head, &mux);
    if (rc == 0 && !j->init)
        rc = fl_av_fmp4_segment(mux, m.frames, m.n_frames, &j->out);
    if (rc) {
        j->remux_failed = 1;
        fl_api_error(&j->err, 500, "InternalFailure", "remuxing a fragment of stream %s: %s",
                     j->ref.name, fl_strerror(rc));
    }
out:
    fl_av_remux_free(mux);
    fl_buf_free(&head);
    fl_pb_media_free(&m);
    fl_log_batch_free(&b);
}

static void seg_done(fl_http_async_t *a, fl_http_req_t *r)
{
    seg_job_t *j = (seg_job_t *)a;
    fl_stream_put(&j->ref);
    j->pb->remux_failures += (uint64_t)j->remux_failed;
    if (r) {
        if (j->err.status) {
            fl_http_respond_api_error(r, &j->err);
        } else {
            j->pb->segments++;
            j->pb->segment_bytes += j->out.n;
            fl_http_respond(r, 200, "video/mp4", fl_buf_slice(&j->out));
        }
    }
    fl_buf_free(&j->out);
    free(j);
}

static void segment(fl_http_req_t *r, int init)
{
    fl_pb_cors(r);
    seg_job_t *j = calloc(1, sizeof *j);
    if (!j) {
        fl_http_respond_error(r, 500, "InternalFailure", "out of memory");
        return;
    }
    fl_buf_init(&j->out, 0);
    j->pb = r->mod;
    j->init = init;
    j->now_ms = fl_time_real_ns() / 1000000;
    char token[FL_PB_TOKEN_CAP], num[FL_FRAGMENT_NUMBER_CAP], track[24];
    uint64_t log_id = 0;
    int fa = fl_pb_query_arg(r->wsi, "FragmentNumber", num, sizeof num);
    if (fa != -1) {
        const char *why = NULL;
        if (fa != 0 || fl_valid_fragment_number(fl_slice_str(num), &why) != 0 ||
            fl_fragment_number_parse(num, &log_id, &j->seq) != 0) {
            fl_http_respond_error(r, 400, "InvalidArgumentException",
                                  "FragmentNumber is not a fragment number");
            goto fail;
        }
        j->has_seq = 1;
    } else if (!init) {
        fl_http_respond_error(r, 400, "InvalidArgumentException", "FragmentNumber is required");
        goto fail;
    }
    int ta = fl_pb_query_arg(r->wsi, "TrackNumber", track, sizeof track);
    if (ta != -1) {
        char *end = NULL;
        unsigned long long t =
            ta == 0 && track[0] >= '1' && track[0] <= '9' ? strtoull(track, &end, 10) : 0;
        if (t == 0 || !end || *end || t > UINT32_MAX) {
            fl_http_respond_error(r, 400, "InvalidArgumentException",
                                  "TrackNumber is a track number (1 or more)");
            goto fail;
        }
        j->track = t;
        j->has_track = 1;
    }
    if (open_session(r,
                     init ? "kinesisvideo:GetMP4InitFragment" : "kinesisvideo:GetMP4MediaFragment",
                     j->now_ms, &j->s, token, sizeof token, &j->ref) != 0)
        goto fail;
    if (j->has_seq && log_id != j->ref.info.id) {
        fl_http_respond_error(r, 404, "ResourceNotFoundException",
                              "fragment %s is not one of stream %s", num, j->s.name);
        goto fail;
    }
    j->a.work = seg_work;
    j->a.done = seg_done;
    if (fl_http_async_or_busy(r, &j->a, "ClientLimitExceededException") != 0)
        goto fail;
    return;
fail:
    fl_stream_put(&j->ref);
    fl_buf_free(&j->out);
    free(j);
}

void fl_pb_dash_init(fl_http_req_t *r)
{
    segment(r, 1);
}

void fl_pb_dash_media(fl_http_req_t *r)
{
    segment(r, 0);
}

void fl_pb_dash_other(fl_http_req_t *r)
{
    fl_pb_cors(r);
    fl_http_respond_error(r, 404, "UnknownOperationException", "no such DASH path: %s", r->path);
}
