/*
 * media/av_remux.c — remux runs of Matroska frames to fragmented MP4,
 * MPEG-TS and MP4 with libavformat, through a custom AVIO that writes into
 * the caller's fl_buf_t (see av.h).
 *
 * The memory sink: bytes land in `b` at `base + pos`; for MP4 (which seeks
 * back to patch box sizes and append moov) the sink is seekable and writes
 * may overwrite; fMP4 and TS sinks are pure appends (not seekable, so the
 * muxers never try to).
 *
 * fMP4: movflags empty_moov+default_base_moof+frag_custom: write_header
 * emits ftyp+moov, and each segment is the frames written then a NULL
 * packet, which makes the muxer emit one moof+mdat per track run;
 * frag_discont (set again per segment) makes each tfdt the decode time of
 * the segment's first frame, so a segment stands on its own.
 */
#include <libavformat/avformat.h>
#include <libavutil/mathematics.h>
#include <libavutil/mem.h>
#include <libavutil/opt.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "media/av.h"
#include "media/av_internal.h"

#define MAX_STREAMS 8
#define IO_BUF      65536

typedef struct {
    fl_buf_t *b;
    size_t base; /* b->n when the sink was pointed at b */
    size_t pos;  /* write position from base */
} sink_t;

struct fl_av_remux {
    fl_av_format_t fmt;
    AVFormatContext *oc;
    sink_t sink;
    size_t n;
    uint64_t track_no[MAX_STREAMS];
    int64_t shift_ns[MAX_STREAMS]; /* reorder delay: dts = sorted pts - shift */
    int64_t last_dts[MAX_STREAMS]; /* in the stream's time base */
    int have_dts[MAX_STREAMS];
    int64_t offset_ns; /* added to every time; > 0 only if decode times started < 0 */
    int offset_set;
};

static int sink_write(void *opaque, uint8_t *buf, int n)
{
    sink_t *s = opaque;
    size_t end = s->base + s->pos + (size_t)n;
    if (end > s->b->n) {
        if (fl_buf_reserve(s->b, end - s->b->n))
            return AVERROR(ENOMEM);
        s->b->n = end;
    }
    memcpy(s->b->p + s->base + s->pos, buf, (size_t)n);
    s->pos += (size_t)n;
    return n;
}

static int64_t sink_seek(void *opaque, int64_t off, int whence)
{
    sink_t *s = opaque;
    int64_t size = (int64_t)(s->b->n - s->base);
    whence &= ~AVSEEK_FORCE;
    if (whence == AVSEEK_SIZE)
        return size;
    int64_t to = whence == SEEK_SET ? off : whence == SEEK_CUR ? (int64_t)s->pos + off : size + off;
    if (to < 0 || to > size)
        return AVERROR(EINVAL);
    s->pos = (size_t)to;
    return to;
}

static void sink_point(sink_t *s, fl_buf_t *b)
{
    s->b = b;
    s->base = b->n;
    s->pos = 0;
}

void fl_av_remux_free(fl_av_remux_t *r)
{
    if (!r)
        return;
    if (r->oc) {
        if (r->oc->pb) {
            av_freep(&r->oc->pb->buffer);
            avio_context_free(&r->oc->pb);
        }
        avformat_free_context(r->oc);
    }
    free(r);
}

static int open_muxer(fl_av_format_t fmt, const fl_mkv_track_t *tracks, size_t n_tracks,
                      fl_buf_t *header_out, fl_av_remux_t **out)
{
    *out = NULL;
    if (!tracks || n_tracks == 0)
        return FL_EINVAL;
    fl_av_remux_t *r = calloc(1, sizeof *r);
    if (!r)
        return FL_ENOMEM;
    r->fmt = fmt;
    int rc = 0;
    AVDictionary *opts = NULL;
    const char *name = fmt == FL_AV_MPEGTS ? "mpegts" : "mp4";
    if (avformat_alloc_output_context2(&r->oc, NULL, name, NULL) < 0 || !r->oc) {
        rc = FL_ENOMEM;
        goto fail;
    }
    for (size_t i = 0; i < n_tracks && r->n < MAX_STREAMS; i++) {
        if (fl_av_codec_id(tracks[i].codec_id) == AV_CODEC_ID_NONE)
            continue;
        AVStream *st = avformat_new_stream(r->oc, NULL);
        if (!st) {
            rc = FL_ENOMEM;
            goto fail;
        }
        rc = fl_av_track_params(&tracks[i], st->codecpar);
        if (rc)
            goto fail;
        st->time_base =
            st->codecpar->codec_type == AVMEDIA_TYPE_AUDIO && st->codecpar->sample_rate > 0
                ? (AVRational){1, st->codecpar->sample_rate}
                : (AVRational){1, 90000};
        r->track_no[r->n++] = tracks[i].number;
    }
    if (r->n == 0) {
        rc = FL_EUNSUPPORTED;
        goto fail;
    }
    uint8_t *iobuf = av_malloc(IO_BUF);
    if (!iobuf) {
        rc = FL_ENOMEM;
        goto fail;
    }
    int seekable = fmt == FL_AV_MP4;
    r->oc->pb = avio_alloc_context(iobuf, IO_BUF, 1, &r->sink, NULL, sink_write,
                                   seekable ? sink_seek : NULL);
    if (!r->oc->pb) {
        av_free(iobuf);
        rc = FL_ENOMEM;
        goto fail;
    }
    r->oc->pb->seekable = seekable ? AVIO_SEEKABLE_NORMAL : 0;
    r->oc->flags |= AVFMT_FLAG_CUSTOM_IO;
    if (fmt == FL_AV_FMP4) {
        av_dict_set(&opts, "movflags", "empty_moov+default_base_moof+frag_custom+frag_discont", 0);
        /* keep the times given: no edit list, and no shift of the first
         * decode time to 0 (libavformat's default for fragmented MP4 would
         * make every fresh remuxer's first tfdt 0, so that segments remuxed
         * apart, as HLS does per fragment, all started at 0) */
        av_dict_set(&opts, "use_editlist", "0", 0);
        r->oc->avoid_negative_ts = AVFMT_AVOID_NEG_TS_DISABLED;
    }
    sink_point(&r->sink, header_out);
    int e = avformat_write_header(r->oc, &opts);
    av_dict_free(&opts);
    if (e < 0) {
        rc = fl_av_err(e);
        goto fail;
    }
    avio_flush(r->oc->pb);
    if (header_out->err) {
        rc = header_out->err;
        goto fail;
    }
    *out = r;
    return 0;
fail:
    fl_av_remux_free(r);
    return rc;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* The frames of track in decode order: their indexes into idx[] and their
 * presentation times, sorted, into sorted[]. Returns how many. */
static size_t track_sorted_pts(const fl_av_frame_t *frames, size_t n, uint64_t track, size_t *idx,
                               int64_t *sorted)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (frames[i].track == track) {
            idx[m] = i;
            sorted[m++] = frames[i].pts_ns;
        }
    qsort(sorted, m, sizeof *sorted, cmp_i64);
    return m;
}

/* Write frames (decode order), rebuilding decode times per stream. */
static int write_frames(fl_av_remux_t *r, const fl_av_frame_t *frames, size_t n)
{
    int rc = 0;
    int64_t *sorted = malloc((n ? n : 1) * sizeof *sorted);
    size_t *idx = malloc((n ? n : 1) * sizeof *idx);
    AVPacket *pkt = av_packet_alloc();
    if (!sorted || !idx || !pkt) {
        rc = FL_ENOMEM;
        goto out;
    }
    if (!r->offset_set) {
        /* decode times of the first run: sorted pts minus the reorder delay;
         * if any is negative, move everything forward (MP4 has no negative
         * decode times, and a muxer-side shift would differ per fragment) */
        int64_t min_dts = 0;
        for (size_t s = 0; s < r->n; s++) {
            size_t m = track_sorted_pts(frames, n, r->track_no[s], idx, sorted);
            if (m == 0)
                continue;
            for (size_t j = 0; j < m; j++) {
                int64_t d = sorted[j] - frames[idx[j]].pts_ns;
                if (d > 0 && sorted[0] - d < min_dts)
                    min_dts = sorted[0] - d;
            }
            if (sorted[0] < min_dts)
                min_dts = sorted[0];
        }
        r->offset_ns = -min_dts;
        r->offset_set = 1;
    }
    for (size_t s = 0; s < r->n; s++) {
        AVStream *st = r->oc->streams[s];
        size_t m = track_sorted_pts(frames, n, r->track_no[s], idx, sorted);
        if (m == 0)
            continue;
        int64_t need = 0;
        for (size_t j = 0; j < m; j++)
            if (sorted[j] - frames[idx[j]].pts_ns > need)
                need = sorted[j] - frames[idx[j]].pts_ns;
        if (need > r->shift_ns[s])
            r->shift_ns[s] = need;
        AVRational ns = {1, 1000000000};
        for (size_t j = 0; j < m; j++) {
            const fl_av_frame_t *f = &frames[idx[j]];
            av_packet_unref(pkt);
            if (f->data.n == 0 || f->data.n > INT32_MAX - AV_INPUT_BUFFER_PADDING_SIZE)
                continue;
            if (av_new_packet(pkt, (int)f->data.n) < 0) {
                rc = FL_ENOMEM;
                goto out;
            }
            memcpy(pkt->data, f->data.p, f->data.n);
            int64_t dts =
                av_rescale_q(sorted[j] - r->shift_ns[s] + r->offset_ns, ns, st->time_base);
            int64_t pts = av_rescale_q(f->pts_ns + r->offset_ns, ns, st->time_base);
            if (r->have_dts[s] && dts <= r->last_dts[s])
                dts = r->last_dts[s] + 1;
            if (pts < dts)
                pts = dts;
            r->last_dts[s] = dts;
            r->have_dts[s] = 1;
            pkt->pts = pts;
            pkt->dts = dts;
            pkt->duration =
                f->duration_ns > 0 ? av_rescale_q(f->duration_ns, ns, st->time_base) : 0;
            pkt->stream_index = (int)s;
            pkt->flags = f->keyframe ? AV_PKT_FLAG_KEY : 0;
            int e = av_interleaved_write_frame(r->oc, pkt);
            if (e < 0) {
                rc = fl_av_err(e);
                goto out;
            }
        }
    }
    int e = av_interleaved_write_frame(r->oc, NULL);
    if (e < 0)
        rc = fl_av_err(e);
out:
    av_packet_free(&pkt);
    free(sorted);
    free(idx);
    return rc;
}

int fl_av_fmp4_new(const fl_mkv_track_t *tracks, size_t n_tracks, fl_buf_t *init,
                   fl_av_remux_t **out)
{
    return open_muxer(FL_AV_FMP4, tracks, n_tracks, init, out);
}

int fl_av_fmp4_segment(fl_av_remux_t *r, const fl_av_frame_t *frames, size_t n, fl_buf_t *out)
{
    if (!r || r->fmt != FL_AV_FMP4)
        return FL_EINVAL;
    sink_point(&r->sink, out);
    /* frag_discont is one-shot in movenc: ask again for each segment, so
     * that its tfdt is the first frame's decode time, not a running sum of
     * durations (which drifts with leading pictures and rounding) */
    av_opt_set(r->oc->priv_data, "movflags", "+frag_discont", 0);
    int rc = write_frames(r, frames, n);
    if (rc == 0) {
        int e = av_write_frame(r->oc, NULL); /* frag_custom: cut the fragment here */
        if (e < 0)
            rc = fl_av_err(e);
    }
    avio_flush(r->oc->pb);
    if (rc == 0 && out->err)
        rc = out->err;
    return rc;
}

int fl_av_remux(fl_av_format_t fmt, const fl_mkv_track_t *tracks, size_t n_tracks,
                const fl_av_frame_t *frames, size_t n, fl_buf_t *out)
{
    if (fmt != FL_AV_FMP4 && fmt != FL_AV_MPEGTS && fmt != FL_AV_MP4)
        return FL_EINVAL;
    fl_av_remux_t *r;
    int rc = open_muxer(fmt, tracks, n_tracks, out, &r);
    if (rc)
        return rc;
    if (fmt == FL_AV_FMP4) {
        rc = fl_av_fmp4_segment(r, frames, n, out);
    } else {
        rc = write_frames(r, frames, n);
        if (rc == 0) {
            int e = av_write_trailer(r->oc);
            if (e < 0)
                rc = fl_av_err(e);
        }
        avio_flush(r->oc->pb);
        if (rc == 0 && out->err)
            rc = out->err;
    }
    fl_av_remux_free(r);
    return rc;
}
