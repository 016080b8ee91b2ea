/*
 * media/av_images.c — the pictures a run of frames shows at chosen times,
 * as JPEG or PNG (see av.h, fl_av_images_at): GetImages' samples.
 *
 * The run is decoded from its key frame in decode order with one decoder;
 * pictures come out in presentation order (the decoder reorders), each
 * with its packet's time (best_effort_timestamp, in ns). A time is
 * answered by the last picture at or before it, so the picture is kept
 * until the next one passes the time: times between two pictures get the
 * earlier, times after the last picture get the last, times before the
 * first get the first. Each answer is scaled and encoded on its own
 * (fl_av_encode_image), so two times on one picture cost two encodes and
 * give the same image.
 */
#include <libavcodec/avcodec.h>
#include <libavutil/frame.h>
#include <string.h>

#include "common/error.h"
#include "media/av.h"
#include "media/av_internal.h"

typedef struct {
    const int64_t *times;
    size_t n_times, k; /* the next time to answer */
    fl_av_image_t fmt;
    unsigned width, height;
    int quality;
    fl_buf_t *outs;
    int *errs;
    AVFrame *prev; /* the last picture, kept (its pts in prev->pts) */
    int have_prev;
} pick_t;

static void answer(pick_t *p, const AVFrame *pic)
{
    p->errs[p->k] =
        fl_av_encode_image(pic, p->fmt, p->width, p->height, p->quality, &p->outs[p->k]);
    p->k++;
}

/* A new picture in presentation order. */
static int on_picture(pick_t *p, AVFrame *pic)
{
    int64_t t =
        pic->best_effort_timestamp != AV_NOPTS_VALUE ? pic->best_effort_timestamp : pic->pts;
    /* times before this picture: the previous picture (or this one, the first) */
    while (p->k < p->n_times && p->times[p->k] < t)
        answer(p, p->have_prev ? p->prev : pic);
    av_frame_unref(p->prev);
    if (av_frame_ref(p->prev, pic) < 0) {
        p->have_prev = 0;
        return FL_ENOMEM;
    }
    p->prev->pts = t;
    p->have_prev = 1;
    return 0;
}

static int drain(AVCodecContext *dec, AVFrame *pic, pick_t *p)
{
    for (;;) {
        int e = avcodec_receive_frame(dec, pic);
        if (e == AVERROR(EAGAIN) || e == AVERROR_EOF)
            return 0;
        if (e < 0)
            return 0; /* a damaged picture: go on with the next packets */
        int rc = on_picture(p, pic);
        av_frame_unref(pic);
        if (rc)
            return rc;
    }
}

int fl_av_images_at(const fl_mkv_track_t *track, const fl_av_frame_t *frames, size_t n,
                    const int64_t *times, size_t n_times, fl_av_image_t fmt, unsigned width,
                    unsigned height, int quality, fl_buf_t *outs, int *errs)
{
    pick_t p = {.times = times,
                .n_times = n_times,
                .fmt = fmt,
                .width = width,
                .height = height,
                .quality = quality,
                .outs = outs,
                .errs = errs};
    for (size_t i = 0; i < n_times; i++)
        errs[i] = FL_EMALFORMED; /* until answered */
    if ((fmt != FL_AV_JPEG && fmt != FL_AV_PNG) || quality < 0 || quality > 100)
        return FL_EINVAL;
    AVCodecContext *dec = NULL;
    AVPacket *pkt = av_packet_alloc();
    AVFrame *pic = av_frame_alloc();
    p.prev = av_frame_alloc();
    int rc = pkt && pic && p.prev ? fl_av_open_decoder(track, &dec) : FL_ENOMEM;
    if (rc)
        goto out;
    for (size_t i = 0; i < n && p.k < n_times; i++) {
        const fl_av_frame_t *f = &frames[i];
        if (f->track != track->number || f->data.n == 0 ||
            f->data.n > INT32_MAX - AV_INPUT_BUFFER_PADDING_SIZE)
            continue;
        av_packet_unref(pkt);
        if (av_new_packet(pkt, (int)f->data.n) < 0) {
            rc = FL_ENOMEM;
            goto out;
        }
        memcpy(pkt->data, f->data.p, f->data.n);
        pkt->pts = f->pts_ns;
        pkt->dts = AV_NOPTS_VALUE;
        pkt->flags = f->keyframe ? AV_PKT_FLAG_KEY : 0;
        int e = avcodec_send_packet(dec, pkt);
        if (e < 0 && e != AVERROR(EAGAIN) && e != AVERROR_INVALIDDATA)
            break;
        if ((rc = drain(dec, pic, &p)) != 0)
            goto out;
    }
    avcodec_send_packet(dec, NULL);
    if ((rc = drain(dec, pic, &p)) != 0)
        goto out;
    /* times after the last picture: the last picture */
    while (p.k < n_times && p.have_prev)
        answer(&p, p.prev);
out:
    av_frame_free(&p.prev);
    av_frame_free(&pic);
    av_packet_free(&pkt);
    avcodec_free_context(&dec);
    if (rc)
        for (size_t i = p.k; i < n_times; i++)
            errs[i] = rc;
    return rc;
}
