/*
 * media/av_decode.c — a streaming video decoder (libavcodec) with a
 * converter (libswscale) in front of its output, see av.h.
 *
 * Pictures are converted into one reusable frame of the asked format and
 * size; the converter is made again only when the source or the target
 * changes. A picture already in the asked format and size is handed out
 * as the decoder made it (no copy). Timestamps go through as the packets' pts, in the caller's
 * units.
 */
#include <libavcodec/avcodec.h>
#include <libavutil/frame.h>
#include <libswscale/swscale.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "media/av.h"
#include "media/av_internal.h"

struct fl_av_decoder {
    AVCodecContext *dec;
    AVPacket *pkt;
    AVFrame *src, *dst;
    struct SwsContext *sws;
    /* what sws converts from and to */
    int sw, sh, sfmt, dw, dh, dfmt;
};

int fl_av_decoder_new(const fl_mkv_track_t *track, fl_av_decoder_t **out)
{
    *out = NULL;
    int rc = 0;
    fl_av_decoder_t *d = calloc(1, sizeof *d);
    AVCodecParameters *par = avcodec_parameters_alloc();
    if (!d || !par) {
        rc = FL_ENOMEM;
        goto fail;
    }
    rc = fl_av_track_params(track, par);
    if (rc)
        goto fail;
    if (par->codec_type != AVMEDIA_TYPE_VIDEO) {
        rc = FL_EUNSUPPORTED;
        goto fail;
    }
    const AVCodec *codec = avcodec_find_decoder(par->codec_id);
    if (!codec) {
        rc = FL_EUNSUPPORTED;
        goto fail;
    }
    d->dec = avcodec_alloc_context3(codec);
    d->pkt = av_packet_alloc();
    d->src = av_frame_alloc();
    d->dst = av_frame_alloc();
    if (!d->dec || !d->pkt || !d->src || !d->dst ||
        avcodec_parameters_to_context(d->dec, par) < 0) {
        rc = FL_ENOMEM;
        goto fail;
    }
    d->dec->thread_count = 1;
    d->dec->pkt_timebase = (AVRational){1, 1000};
    if (avcodec_open2(d->dec, codec, NULL) < 0) {
        rc = FL_EMALFORMED;
        goto fail;
    }
    avcodec_parameters_free(&par);
    *out = d;
    return 0;
fail:
    avcodec_parameters_free(&par);
    fl_av_decoder_free(d);
    return rc;
}

void fl_av_decoder_free(fl_av_decoder_t *d)
{
    if (!d)
        return;
    sws_freeContext(d->sws);
    av_frame_free(&d->src);
    av_frame_free(&d->dst);
    av_packet_free(&d->pkt);
    avcodec_free_context(&d->dec);
    free(d);
}

int fl_av_decoder_send(fl_av_decoder_t *d, fl_slice_t data, int64_t pts, int keyframe)
{
    if (data.n == 0 || data.n > INT32_MAX - AV_INPUT_BUFFER_PADDING_SIZE)
        return FL_EINVAL;
    av_packet_unref(d->pkt);
    if (av_new_packet(d->pkt, (int)data.n) < 0)
        return FL_ENOMEM;
    memcpy(d->pkt->data, data.p, data.n);
    d->pkt->pts = pts;
    d->pkt->dts = AV_NOPTS_VALUE;
    d->pkt->flags = keyframe ? AV_PKT_FLAG_KEY : 0;
    int rc = avcodec_send_packet(d->dec, d->pkt);
    av_packet_unref(d->pkt);
    return rc < 0 ? (rc == AVERROR(ENOMEM) ? FL_ENOMEM : FL_EMALFORMED) : 0;
}

int fl_av_decoder_drain(fl_av_decoder_t *d)
{
    int rc = avcodec_send_packet(d->dec, NULL);
    return rc < 0 && rc != AVERROR_EOF ? FL_EMALFORMED : 0;
}

void fl_av_decoder_reset(fl_av_decoder_t *d)
{
    avcodec_flush_buffers(d->dec);
}

static enum AVPixelFormat av_pix(fl_av_pixfmt_t f)
{
    switch (f) {
    case FL_AV_PIX_GRAY8:
        return AV_PIX_FMT_GRAY8;
    case FL_AV_PIX_YUV420P:
        return AV_PIX_FMT_YUV420P;
    case FL_AV_PIX_NV12:
        return AV_PIX_FMT_NV12;
    case FL_AV_PIX_RGB24:
        return AV_PIX_FMT_RGB24;
    case FL_AV_PIX_BGR24:
        return AV_PIX_FMT_BGR24;
    case FL_AV_PIX_RGBA:
        return AV_PIX_FMT_RGBA;
    }
    return AV_PIX_FMT_NONE;
}

static void describe(const AVFrame *f, fl_av_picture_t *out)
{
    memset(out, 0, sizeof *out);
    out->pts = f->pts != AV_NOPTS_VALUE ? f->pts : f->best_effort_timestamp;
    out->keyframe = f->key_frame;
    out->width = (unsigned)f->width;
    out->height = (unsigned)f->height;
}

int fl_av_decoder_receive(fl_av_decoder_t *d, fl_av_picture_t *out)
{
    memset(out, 0, sizeof *out);
    av_frame_unref(d->src);
    int rc = avcodec_receive_frame(d->dec, d->src);
    if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF)
        return FL_EAGAIN;
    if (rc < 0)
        return FL_EMALFORMED;
    describe(d->src, out);
    return 0;
}

int fl_av_decoder_convert(fl_av_decoder_t *d, fl_av_pixfmt_t fmt, unsigned width, unsigned height,
                          fl_av_picture_t *out)
{
    if (!d->src->data[0])
        return FL_ESTATE;
    describe(d->src, out);
    enum AVPixelFormat pf = av_pix(fmt);
    if (pf == AV_PIX_FMT_NONE || width > 16384 || height > 16384)
        return FL_EINVAL;
    int sw = d->src->width, sh = d->src->height;
    int w = (int)width, h = (int)height;
    if (w == 0 && h == 0) {
        w = sw;
        h = sh;
    } else if (w == 0) {
        w = (int)((int64_t)sw * h / sh);
    } else if (h == 0) {
        h = (int)((int64_t)sh * w / sw);
    }
    if (w < 1 || h < 1)
        return FL_EINVAL;
    if (pf == d->src->format && w == sw && h == sh) {
        /* already what is asked: the decoder's own planes, no copy */
        for (int i = 0; i < 4; i++) {
            out->planes[i] = d->src->data[i];
            out->strides[i] = d->src->linesize[i];
        }
        return 0;
    }
    if (!d->sws || d->sw != sw || d->sh != sh || d->sfmt != d->src->format || d->dw != w ||
        d->dh != h || d->dfmt != pf) {
        sws_freeContext(d->sws);
        av_frame_unref(d->dst);
        d->sws = sws_getContext(sw, sh, (enum AVPixelFormat)d->src->format, w, h, pf, SWS_BILINEAR,
                                NULL, NULL, NULL);
        if (!d->sws)
            return FL_EUNSUPPORTED;
        d->dst->format = pf;
        d->dst->width = w;
        d->dst->height = h;
        if (av_frame_get_buffer(d->dst, 0) < 0) {
            sws_freeContext(d->sws);
            d->sws = NULL;
            return FL_ENOMEM;
        }
        d->sw = sw;
        d->sh = sh;
        d->sfmt = d->src->format;
        d->dw = w;
        d->dh = h;
        d->dfmt = pf;
    }
    sws_scale(d->sws, (const uint8_t *const *)d->src->data, d->src->linesize, 0, sh, d->dst->data,
              d->dst->linesize);
    out->width = (unsigned)w;
    out->height = (unsigned)h;
    for (int i = 0; i < 4; i++) {
        out->planes[i] = d->dst->data[i];
        out->strides[i] = d->dst->linesize[i];
    }
    return 0;
}
