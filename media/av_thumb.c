/*
 * media/av_thumb.c — decode one key frame with libavcodec, scale it with
 * libswscale and encode it as JPEG (MJPEG, full-range YUV 4:2:0) or PNG
 * (RGB24), all in memory (see av.h).
 *
 * The decoder gets the track's CodecPrivate as extradata, so length-prefixed
 * H.264/H.265 frames decode as stored; it is flushed after the one packet so
 * that a decoder with frame delay still returns the picture. The track's
 * decoder (fl_av_open_decoder) and the scale-and-encode step
 * (fl_av_encode_image) are shared with av_images.c (av_internal.h).
 */
#include <libavcodec/avcodec.h>
#include <libavutil/frame.h>
#include <libavutil/imgutils.h>
#include <libswscale/swscale.h>
#include <string.h>

#include "common/error.h"
#include "media/av.h"
#include "media/av_internal.h"

static int decode_one(const fl_mkv_track_t *track, fl_slice_t data, AVFrame *frame)
{
    AVCodecContext *dec = NULL;
    AVPacket *pkt = av_packet_alloc();
    int rc = pkt ? fl_av_open_decoder(track, &dec) : FL_ENOMEM;
    if (rc)
        goto out;
    if (data.n == 0 || data.n > INT32_MAX - AV_INPUT_BUFFER_PADDING_SIZE ||
        av_new_packet(pkt, (int)data.n) < 0) {
        rc = data.n ? FL_ENOMEM : FL_EINVAL;
        goto out;
    }
    memcpy(pkt->data, data.p, data.n);
    pkt->flags = AV_PKT_FLAG_KEY;
    if (avcodec_send_packet(dec, pkt) < 0 || avcodec_send_packet(dec, NULL) < 0 ||
        avcodec_receive_frame(dec, frame) < 0)
        rc = FL_EMALFORMED;
out:
    av_packet_free(&pkt);
    avcodec_free_context(&dec);
    return rc;
}

int fl_av_open_decoder(const fl_mkv_track_t *track, AVCodecContext **out)
{
    int rc = 0;
    *out = NULL;
    AVCodecParameters *par = avcodec_parameters_alloc();
    AVCodecContext *dec = NULL;
    if (!par)
        return FL_ENOMEM;
    rc = fl_av_track_params(track, par);
    if (rc)
        goto out;
    if (par->codec_type != AVMEDIA_TYPE_VIDEO) {
        rc = FL_EINVAL;
        goto out;
    }
    const AVCodec *codec = avcodec_find_decoder(par->codec_id);
    if (!codec) {
        rc = FL_EUNSUPPORTED;
        goto out;
    }
    dec = avcodec_alloc_context3(codec);
    if (!dec || avcodec_parameters_to_context(dec, par) < 0) {
        rc = FL_ENOMEM;
        goto out;
    }
    dec->thread_count = 1;
    dec->pkt_timebase = (AVRational){1, 1000000000};
    if (avcodec_open2(dec, codec, NULL) < 0) {
        rc = FL_EMALFORMED;
        goto out;
    }
    *out = dec;
    dec = NULL;
out:
    avcodec_free_context(&dec);
    avcodec_parameters_free(&par);
    return rc;
}

int fl_av_thumbnail(const fl_mkv_track_t *track, fl_slice_t keyframe, fl_av_image_t fmt,
                    unsigned width, unsigned height, fl_buf_t *out)
{
    if ((fmt != FL_AV_JPEG && fmt != FL_AV_PNG) || width > 8192 || height > 8192)
        return FL_EINVAL;
    AVFrame *src = av_frame_alloc();
    int rc = src ? decode_one(track, keyframe, src) : FL_ENOMEM;
    if (rc == 0)
        rc = fl_av_encode_image(src, fmt, width, height, 0, out);
    av_frame_free(&src);
    return rc;
}

int fl_av_encode_image(const AVFrame *src, fl_av_image_t fmt, unsigned width, unsigned height,
                       int quality, fl_buf_t *out)
{
    if ((fmt != FL_AV_JPEG && fmt != FL_AV_PNG) || width > 8192 || height > 8192 || quality < 0 ||
        quality > 100 || src->width <= 0 || src->height <= 0)
        return FL_EINVAL;
    int rc = 0;
    AVFrame *dst = av_frame_alloc();
    AVCodecContext *enc = NULL;
    struct SwsContext *sws = NULL;
    AVPacket *pkt = av_packet_alloc();
    if (!dst || !pkt) {
        rc = FL_ENOMEM;
        goto out;
    }
    int w = (int)width, h = (int)height;
    if (w == 0 && h == 0) {
        w = src->width;
        h = src->height;
    } else if (w == 0) {
        w = (int)((int64_t)src->width * h / src->height);
    } else if (h == 0) {
        h = (int)((int64_t)src->height * w / src->width);
    }
    if (fmt == FL_AV_JPEG) {
        w = w < 2 ? 2 : w & ~1; /* 4:2:0 wants even sizes */
        h = h < 2 ? 2 : h & ~1;
    } else {
        w = w < 1 ? 1 : w;
        h = h < 1 ? 1 : h;
    }
    enum AVPixelFormat pf = fmt == FL_AV_JPEG ? AV_PIX_FMT_YUVJ420P : AV_PIX_FMT_RGB24;
    dst->format = pf;
    dst->width = w;
    dst->height = h;
    if (av_frame_get_buffer(dst, 0) < 0) {
        rc = FL_ENOMEM;
        goto out;
    }
    sws = sws_getContext(src->width, src->height, (enum AVPixelFormat)src->format, w, h, pf,
                         SWS_BILINEAR, NULL, NULL, NULL);
    if (!sws) {
        rc = FL_EUNSUPPORTED;
        goto out;
    }
    sws_scale(sws, (const uint8_t *const *)src->data, src->linesize, 0, src->height, dst->data,
              dst->linesize);

    const AVCodec *codec =
        avcodec_find_encoder(fmt == FL_AV_JPEG ? AV_CODEC_ID_MJPEG : AV_CODEC_ID_PNG);
    if (!codec) {
        rc = FL_EUNSUPPORTED;
        goto out;
    }
    enc = avcodec_alloc_context3(codec);
    if (!enc) {
        rc = FL_ENOMEM;
        goto out;
    }
    enc->width = w;
    enc->height = h;
    enc->pix_fmt = pf;
    enc->time_base = (AVRational){1, 25};
    enc->thread_count = 1;
    if (fmt == FL_AV_JPEG) {
        enc->flags |= AV_CODEC_FLAG_QSCALE;
        /* JPEGQuality 100..1 -> qscale 2..31 (0: qscale 3, the thumbnail's) */
        int q = quality ? 2 + (int)((100 - quality) * 29.0 / 99.0 + 0.5) : 3;
        enc->global_quality = FF_QP2LAMBDA * q;
        dst->quality = enc->global_quality;
    }
    if (avcodec_open2(enc, codec, NULL) < 0) {
        rc = FL_EUNSUPPORTED;
        goto out;
    }
    if (avcodec_send_frame(enc, dst) < 0 || avcodec_send_frame(enc, NULL) < 0 ||
        avcodec_receive_packet(enc, pkt) < 0) {
        rc = FL_EMALFORMED;
        goto out;
    }
    fl_buf_append(out, pkt->data, (size_t)pkt->size);
    rc = out->err;
out:
    sws_freeContext(sws);
    avcodec_free_context(&enc);
    av_packet_free(&pkt);
    av_frame_free(&dst);
    return rc;
}
