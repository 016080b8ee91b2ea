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
        if (!track_kept(m, f->track))
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
        a->track = f->track;
        a->pts_ns = f->pts_ns + c->shift_ns;
        a->duration_ns = f->duration_ns;
        a->keyframe = f->keyframe;
        m->offs[m->n_frames] = m->data.n;
        a->data = fl_slice(NULL, f->data.n);
        fl_buf_append(&m->data, f->data.p, f->data.n);
        if (m->data.err)
            return FL_ENOMEM;
        for (size_t i = 0; i < m->n_tracks; i++)
            if (m->tracks[i].number == f->track && m->tracks[i].type == FL_MKV_TRACK_VIDEO)
                m->n_video++;
        m->n_frames++;
    }
    return 0;
}

int fl_pb_media_open(fl_slice_t record, int64_t shift_ns, int want_frames, fl_pb_media_t *m)
{
    memset(m, 0, sizeof *m);
    for (size_t i = 0; i < FL_PB_MAX_TRACKS; i++) {
        fl_buf_init(&m->strs[i][0], 0);
        fl_buf_init(&m->strs[i][1], 0);
    }
    fl_buf_init(&m->data, 0);
    fl_fragment_t f;
    int rc = fl_fragment_decode(record, &f);
    if (rc)
        return FL_EMALFORMED;
    m->duration_ms = f.duration_ms;
    open_ctx_t c = {.m = m, .shift_ns = shift_ns, .want_frames = want_frames};
    fl_mkv_parser_t *p = NULL;
    fl_buf_t head;
    fl_buf_init(&head, 0);
    fl_mkv_write_ebml_header(&head, NULL);
    fl_mkv_write_segment_start(&head);
    rc = head.err ? head.err : fl_mkv_parser_new(NULL, on_event, &c, &p);
    if (!rc)
        rc = fl_mkv_parser_feed(p, head.p, head.n);
    if (!rc)
        rc = fl_mkv_parser_feed(p, f.tracks.p, f.tracks.n);
    if (!rc && want_frames)
        rc = fl_mkv_parser_feed(p, f.cluster.p, f.cluster.n);
    if (!rc)
        rc = fl_mkv_parser_finish(p);
    fl_mkv_parser_free(p);
    fl_buf_free(&head);
    if (rc)
        return rc == FL_ENOMEM ? rc : FL_EMALFORMED;
    for (size_t i = 0; i < m->n_frames; i++)
        m->frames[i].data = fl_slice(m->data.p + m->offs[i], m->frames[i].data.n);
    return 0;
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
    fl_av_remux_t *r = NULL;
    fl_buf_t init;
    fl_buf_init(&init, 0);
    int rc = fl_av_fmp4_new(m->tracks, m->n_tracks, &init, &r);
    if (!rc)
        rc = fl_av_fmp4_segment(r, m->frames, m->n_frames, out);
    fl_av_remux_free(r);
    fl_buf_free(&init);
    return rc;
}

int fl_pb_media_ts(const fl_pb_media_t *m, fl_buf_t *out)
{
    return fl_av_remux(FL_AV_MPEGTS, m->tracks, m->n_tracks, m->frames, m->n_frames, out);
}
