/*
 * server/playback/media.c — a stored fragment (docs/fragment-format.md) as
 * the tracks and frames an HLS segment is made of, the codec strings of
 * its master playlist, and its remux through media/av.h. Worker threads
 * only: parsing copies and remuxing are CPU work the loop never does.
 *
 * The record's Tracks and Cluster are fed to media/'s Matroska parser
 * behind an EBML header and a Segment of unknown size (the parser takes
 * elements only inside a Segment). Frames keep the stored timestamps
 * (absolute, epoch ms: the producer's time), moved by the caller's shift
 * (a SERVER_TIMESTAMP session moves each fragment to its server time).
 * Tracks other than H.264/H.265 video and AAC audio — what HLS plays, as
 * AWS's HLS does — are dropped.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "media/mkv_parser.h"
#include "media/mkv_writer.h"
#include "media/nal.h"
#include "server/playback/playback.h"
#include "server/video/fragment.h"

static int playable(fl_slice_t codec_id)
{
    return fl_slice_eq_str(codec_id, "V_MPEG4/ISO/AVC") ||
           fl_slice_eq_str(codec_id, "V_MPEGH/ISO/HEVC") || fl_slice_eq_str(codec_id, "A_AAC") ||
           (codec_id.n > 6 && memcmp(codec_id.p, "A_AAC/", 6) == 0);
}

typedef struct {
    fl_pb_media_t *m;
    int64_t shift_ns;
    int want_frames;
    int tracks_seen;
} open_ctx_t;

static int track_kept(const fl_pb_media_t *m, uint64_t number)
{
    for (size_t i = 0; i < m->n_tracks; i++)
        if (m->tracks[i].number == number)
            return 1;
    return 0;
}

static int add_frame(fl_pb_media_t *m, uint64_t track, int64_t pts_ns, int64_t duration_ns,
                     int keyframe, fl_slice_t data);

static int on_event(void *data, const fl_mkv_event_t *ev)
{
    open_ctx_t *c = data;
    fl_pb_media_t *m = c->m;
    if (ev->type == FL_MKV_EV_TRACKS) {
        if (c->tracks_seen++)
            return FL_EMALFORMED; /* one Tracks per fragment */
        for (size_t i = 0; i < ev->u.tracks.n; i++) {
            const fl_mkv_track_t *t = &ev->u.tracks.v[i];
            if (!playable(t->codec_id) || m->n_tracks == FL_PB_MAX_TRACKS) {
                m->skipped++;
                continue;
            }
            size_t k = m->n_tracks++;
            m->tracks[k] = *t;
            fl_buf_append(&m->strs[k][0], t->codec_id.p, t->codec_id.n);
            fl_buf_append(&m->strs[k][1], t->codec_private.p, t->codec_private.n);
            if (m->strs[k][0].err || m->strs[k][1].err)
                return FL_ENOMEM;
            m->tracks[k].codec_id = fl_buf_slice(&m->strs[k][0]);
            m->tracks[k].codec_private = fl_buf_slice(&m->strs[k][1]);
            m->tracks[k].name = m->tracks[k].language = fl_slice(NULL, 0);
        }
    } else if (ev->type == FL_MKV_EV_FRAME && c->want_frames) {
        const fl_mkv_frame_t *f = &ev->u.frame;
        return add_frame(m, f->track, f->pts_ns + c->shift_ns, f->duration_ns, f->keyframe,
                         f->data);
    }
    return 0;
}

static int add_frame(fl_pb_media_t *m, uint64_t track, int64_t pts_ns, int64_t duration_ns,
                     int keyframe, fl_slice_t data)
{
    if (!track_kept(m, track))
        return 0;
    if (m->n_frames == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 128;
        fl_av_frame_t *v = realloc(m->frames, cap * sizeof *v);
        if (!v)
            return FL_ENOMEM;
        m->frames = v;
        size_t *o = realloc(m->offs, cap * sizeof *o);
        if (!o)
            return FL_ENOMEM;
        m->offs = o;
        m->cap = cap;
    }
    fl_av_frame_t *a = &m->frames[m->n_frames];
    memset(a, 0, sizeof *a);
    a->track = track;
    a->pts_ns = pts_ns;
    a->duration_ns = duration_ns;
    a->keyframe = keyframe;
    m->offs[m->n_frames] = m->data.n;
    a->data = fl_slice(NULL, data.n);
    fl_buf_append(&m->data, data.p, data.n);
    if (m->data.err)
        return FL_ENOMEM;
    for (size_t i = 0; i < m->n_tracks; i++)
        if (m->tracks[i].number == track && m->tracks[i].type == FL_MKV_TRACK_VIDEO)
            m->n_video++;
    m->n_frames++;
    return 0;
}

static void media_init(fl_pb_media_t *m)
{
    memset(m, 0, sizeof *m);
    for (size_t i = 0; i < FL_PB_MAX_TRACKS; i++) {
        fl_buf_init(&m->strs[i][0], 0);
        fl_buf_init(&m->strs[i][1], 0);
    }
    fl_buf_init(&m->data, 0);
}

/* Feed a Tracks element (and a Cluster, if cluster.n) to the parser. */
static int parse(fl_pb_media_t *m, fl_slice_t tracks, fl_slice_t cluster, int64_t shift_ns,
                 int want_frames)
{
    open_ctx_t c = {.m = m, .shift_ns = shift_ns, .want_frames = want_frames};
    fl_mkv_parser_t *p = NULL;
    fl_buf_t head;
    fl_buf_init(&head, 0);
    fl_mkv_write_ebml_header(&head, NULL);
    fl_mkv_write_segment_start(&head);
    int rc = head.err ? head.err : fl_mkv_parser_new(NULL, on_event, &c, &p);
    if (!rc)
        rc = fl_mkv_parser_feed(p, head.p, head.n);
    if (!rc)
        rc = fl_mkv_parser_feed(p, tracks.p, tracks.n);
    if (!rc && want_frames)
        rc = fl_mkv_parser_feed(p, cluster.p, cluster.n);
    if (!rc)
        rc = fl_mkv_parser_finish(p);
    fl_mkv_parser_free(p);
    fl_buf_free(&head);
    if (rc)
        return rc == FL_ENOMEM ? rc : FL_EMALFORMED;
    return 0;
}

/* Point the frames at their bytes (data may have moved while growing). */
static void point_frames(fl_pb_media_t *m)
{
    for (size_t i = 0; i < m->n_frames; i++)
        m->frames[i].data = fl_slice(m->data.p + m->offs[i], m->frames[i].data.n);
}

int fl_pb_media_open(fl_slice_t record, int64_t shift_ns, int want_frames, fl_pb_media_t *m)
{
    media_init(m);
    fl_fragment_t f;
    if (fl_fragment_decode(record, &f) != 0)
        return FL_EMALFORMED;
    m->duration_ms = f.duration_ms;
    int rc = parse(m, f.tracks, f.cluster, shift_ns, want_frames);
    if (rc)
        return rc;
    point_frames(m);
    return 0;
}

int fl_pb_media_tracks(fl_slice_t tracks, fl_pb_media_t *m)
{
    media_init(m);
    return parse(m, tracks, fl_slice(NULL, 0), 0, 0);
}

int64_t fl_pb_track_duration(const fl_pb_media_t *m, uint64_t track)
{
    for (size_t i = 0; i < m->n_tracks; i++)
        if (m->tracks[i].number == track)
            return m->tracks[i].default_duration_ns <= INT64_MAX
                       ? (int64_t)m->tracks[i].default_duration_ns
                       : 0;
    return 0;
}

int fl_pb_media_add(fl_pb_media_t *m, uint64_t track, int64_t pts_ns, int keyframe, fl_slice_t data)
{
    /* as the parser gives a stored SimpleBlock: the track's DefaultDuration */
    return add_frame(m, track, pts_ns, fl_pb_track_duration(m, track), keyframe, data);
}

void fl_pb_media_seal(fl_pb_media_t *m)
{
    point_frames(m);
}

int fl_pb_kept(const fl_pb_media_t *m, uint64_t track)
{
    return track_kept(m, track);
}

uint64_t fl_pb_clock_track(const fl_pb_media_t *m)
{
    for (size_t i = 0; i < m->n_tracks; i++)
        if (m->tracks[i].type == FL_MKV_TRACK_VIDEO)
            return m->tracks[i].number;
    return m->n_tracks ? m->tracks[0].number : 0;
}

/* ---- LL-HLS parts ---- */

size_t fl_pb_part_starts(const fl_av_frame_t *f, size_t n, uint64_t clock, size_t *starts,
                         int64_t *from_ns)
{
    const int64_t target = (int64_t)FL_PB_PART_TARGET_MS * 1000000, tol = 1000000;
    size_t parts = 0;
    int64_t start = 0, prev = 0, front = 0, step = 0;
    int reordered = 0, seen_after = 0;
    for (size_t i = 0; i < n; i++) {
        if (f[i].track != clock)
            continue;
        int64_t pts = f[i].pts_ns;
        if (parts == 0) {
            if (from_ns)
                from_ns[parts] = pts;
            starts[parts++] = 0; /* the first part takes what precedes it too */
            start = prev = front = pts;
            continue;
        }
        /* a frame's duration, guessed: the smallest step between two
         * frames so far (in decode order, so B-frames do not mislead) */
        int64_t d = pts > prev ? pts - prev : prev - pts;
        if (d > 0 && (step == 0 || d < step))
            step = d;
        prev = pts;
        /* cut before a frame that moves the picture on (not a B-frame)
         * when the part would outgrow the target with it — in a stream
         * without B-frames: once a fragment showed reordering it is not
         * cut further (browsers' MSE stalled on such parts), so a B-frame
         * stream has one part per fragment */
        if (pts < front)
            reordered = 1;
        /* (not before the third frame: a B-frame shows by then) */
        if (pts > front) {
            if (!reordered && ++seen_after >= 2 && parts < FL_PB_MAX_PARTS &&
                pts - start + step > target + tol) {
                /* the new part is presented from the first time not yet
                 * presented: this frame's, or with B-frames that follow
                 * it in decode order, the step after the part before's
                 * last (known now, so a listed duration never changes) */
                start = front + step < pts ? front + step : pts;
                if (from_ns)
                    from_ns[parts] = start;
                starts[parts++] = i;
            }
            front = pts;
        }
    }
    if (parts == 0 && n > 0) {
        if (from_ns)
            from_ns[parts] = f[0].pts_ns;
        starts[parts++] = 0;
    }
    return parts;
}

void fl_pb_part_info(const fl_av_frame_t *f, size_t n, uint64_t clock, const size_t *starts,
                     const int64_t *from_ns, size_t parts, int ended, int64_t first_ns,
                     int64_t end_ns, fl_pb_part_t *out)
{
    for (size_t k = 0; k < parts; k++) {
        size_t to = k + 1 < parts ? starts[k + 1] : n;
        int64_t t0 = k == 0 ? first_ns : from_ns[k];
        int64_t t1 = k + 1 < parts ? from_ns[k + 1] : end_ns;
        out[k].duration_ms = t1 > t0 ? (uint32_t)((t1 - t0 + 500000) / 1000000) : 1;
        if (out[k].duration_ms == 0)
            out[k].duration_ms = 1;
        out[k].independent = 0;
        for (size_t i = starts[k]; i < to; i++)
            if (f[i].track == clock) {
                out[k].independent = f[i].keyframe;
                break;
            }
        out[k].complete = k + 1 < parts || ended;
    }
}

/* One fMP4 moof+mdat of frames [from, to), remuxed on its own. */
static int fmp4_run(const fl_pb_media_t *m, size_t from, size_t to, fl_buf_t *out)
{
    fl_av_remux_t *r = NULL;
    fl_buf_t init;
    fl_buf_init(&init, 0);
    int rc = fl_av_fmp4_new(m->tracks, m->n_tracks, &init, &r);
    if (!rc)
        rc = fl_av_fmp4_segment(r, m->frames + from, to - from, out);
    fl_av_remux_free(r);
    fl_buf_free(&init);
    return rc;
}

int fl_pb_media_part(const fl_pb_media_t *m, int part, fl_buf_t *out)
{
    size_t *starts = malloc(FL_PB_MAX_PARTS * sizeof *starts);
    if (!starts)
        return FL_ENOMEM;
    size_t parts = fl_pb_part_starts(m->frames, m->n_frames, fl_pb_clock_track(m), starts, NULL);
    int rc = 0;
    if (part >= 0 && (size_t)part >= parts) {
        rc = FL_ENOTFOUND;
    } else {
        size_t k0 = part < 0 ? 0 : (size_t)part, k1 = part < 0 ? parts : (size_t)part + 1;
        for (size_t k = k0; k < k1 && !rc; k++)
            rc = fmp4_run(m, starts[k], k + 1 < parts ? starts[k + 1] : m->n_frames, out);
    }
    free(starts);
    return rc;
}

void fl_pb_media_free(fl_pb_media_t *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < FL_PB_MAX_TRACKS; i++) {
        fl_buf_free(&m->strs[i][0]);
        fl_buf_free(&m->strs[i][1]);
    }
    fl_buf_free(&m->data);
    free(m->frames);
    free(m->offs);
    memset(m, 0, sizeof *m);
}

static int video_codecs(const fl_mkv_track_t *t, fl_pb_codecs_t *out, char *codec, size_t cap,
                        fl_api_error_t *err)
{
    fl_nal_codec_t nc =
        fl_slice_eq_str(t->codec_id, "V_MPEGH/ISO/HEVC") ? FL_NAL_H265 : FL_NAL_H264;
    if (t->codec_private.n == 0)
        return fl_api_error(err, 400, "MissingCodecPrivateDataException",
                            "video track %llu has no codec private data",
                            (unsigned long long)t->number);
    fl_nal_config_t cfg;
    fl_nal_sps_t sps;
    if (fl_nal_config_parse(nc, t->codec_private, &cfg) != 0 || cfg.n_sps == 0 ||
        fl_nal_parse_sps(nc, cfg.sps[0], &sps) != 0 || fl_nal_codec_string(&sps, codec, cap) != 0)
        return fl_api_error(err, 400, "InvalidCodecPrivateDataException",
                            "the codec private data of video track %llu is not a valid %s "
                            "decoder configuration record",
                            (unsigned long long)t->number, nc == FL_NAL_H265 ? "HEVC" : "AVC");
    out->width = sps.width;
    out->height = sps.height;
    if (t->default_duration_ns > 0)
        out->frame_rate = 1e9 / (double)t->default_duration_ns;
    return 0;
}

int fl_pb_media_codecs(const fl_pb_media_t *m, fl_pb_codecs_t *out, fl_api_error_t *err)
{
    memset(out, 0, sizeof *out);
    int have_video = 0;
    size_t len = 0;
    for (size_t i = 0; i < m->n_tracks; i++) {
        const fl_mkv_track_t *t = &m->tracks[i];
        char codec[64];
        if (t->type == FL_MKV_TRACK_VIDEO && !have_video) {
            if (video_codecs(t, out, codec, sizeof codec, err))
                return -1;
            have_video = 1;
        } else if (t->type == FL_MKV_TRACK_AUDIO) {
            /* AudioSpecificConfig: the object type is the first 5 bits */
            unsigned aot = t->codec_private.n ? t->codec_private.p[0] >> 3 : 2;
            snprintf(codec, sizeof codec, "mp4a.40.%u", aot && aot != 31 ? aot : 2);
        } else {
            continue;
        }
        len += (size_t)snprintf(out->codecs + len, sizeof out->codecs - len, "%s%s", len ? "," : "",
                                codec);
        if (len >= sizeof out->codecs)
            return fl_api_error(err, 400, "UnsupportedStreamMediaTypeException", "too many tracks");
    }
    if (!have_video)
        return fl_api_error(err, 400, "UnsupportedStreamMediaTypeException",
                            "the stream has no H.264 (V_MPEG4/ISO/AVC) or H.265 "
                            "(V_MPEGH/ISO/HEVC) video track");
    return 0;
}

int fl_pb_media_init(const fl_pb_media_t *m, fl_buf_t *out)
{
    fl_av_remux_t *r = NULL;
    int rc = fl_av_fmp4_new(m->tracks, m->n_tracks, out, &r);
    fl_av_remux_free(r);
    return rc;
}

int fl_pb_media_fmp4(const fl_pb_media_t *m, fl_buf_t *out)
{
    return fmp4_run(m, 0, m->n_frames, out);
}

int fl_pb_media_ts(const fl_pb_media_t *m, fl_buf_t *out)
{
    return fl_av_remux(FL_AV_MPEGTS, m->tracks, m->n_tracks, m->frames, m->n_frames, out);
}
