/*
 * media/av_thumb.c — decode one key frame with libavcodec, scale it with
 * libswscale and encode it as JPEG (MJPEG, full-range YUV 4:2:0) or PNG
 * (RGB24), all in memory (see av.h).
 *
 * The decoder gets the track's CodecPrivate as extradata, so length-prefixed
 * H.264/H.265 frames decode as stored; it is flushed after the one packet so
 * that a decoder with frame delay still returns the picture. It decodes
 * through the one decoder (av_decode.c, fl_av_decoder_t); the
 * scale-and-encode step (fl_av_encode_image) is shared with av_images.c
 * (av_internal.h).
 */
#include <libavcodec/avcodec.h>
#include <libavutil/frame.h>
#include <libavutil/imgutils.h>
#include <libswscale/swscale.h>
#include <string.h>

#include "common/error.h"
#include "media/av.h"
#include "media/av_internal.h"

int fl_av_thumbnail(const fl_mkv_track_t *track, fl_slice_t keyframe, fl_av_image_t fmt,
                    unsigned width, unsigned height, fl_buf_t *out)
{
    if ((fmt != FL_AV_JPEG && fmt != FL_AV_PNG) || width > 8192 || height > 8192)
        return FL_EINVAL;
    /* the one packet, then a drain: a decoder with frame delay still
     * gives its picture */
    fl_av_decoder_t *d = NULL;
    fl_av_picture_t pic;
    int rc = fl_av_decoder_new(track, &d);
    if (rc == FL_EUNSUPPORTED && track->type != FL_MKV_TRACK_VIDEO)
        rc = FL_EINVAL;
    if (!rc)
        rc = keyframe.n ? fl_av_decoder_send(d, keyframe, 0, 1) : FL_EINVAL;
    if (!rc)
        rc = fl_av_decoder_drain(d);
    if (!rc && fl_av_decoder_receive(d, &pic) != 0)
        rc = FL_EMALFORMED;
    if (!rc)
        rc = fl_av_encode_image(fl_av_decoder_frame(d), fmt, width, height, 0, out);
    fl_av_decoder_free(d);
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
