/*
 * media/av_common.c — track parameters for libav (see av_internal.h).
 */
#include <libavutil/channel_layout.h>
#include <libavutil/error.h>
#include <libavutil/mem.h>
#include <string.h>

#include "common/error.h"
#include "media/av_internal.h"

enum AVCodecID fl_av_codec_id(fl_slice_t id)
{
    if (fl_slice_eq_str(id, "V_MPEG4/ISO/AVC"))
        return AV_CODEC_ID_H264;
    if (fl_slice_eq_str(id, "V_MPEGH/ISO/HEVC"))
        return AV_CODEC_ID_HEVC;
    if (fl_slice_eq_str(id, "A_AAC") || (id.n > 6 && memcmp(id.p, "A_AAC/", 6) == 0))
        return AV_CODEC_ID_AAC;
    if (fl_slice_eq_str(id, "A_OPUS"))
        return AV_CODEC_ID_OPUS;
    return AV_CODEC_ID_NONE;
}

int fl_av_track_params(const fl_mkv_track_t *t, AVCodecParameters *par)
{
    enum AVCodecID id = fl_av_codec_id(t->codec_id);
    if (id == AV_CODEC_ID_NONE)
        return FL_EUNSUPPORTED;
    par->codec_id = id;
    if (t->type == FL_MKV_TRACK_VIDEO) {
        par->codec_type = AVMEDIA_TYPE_VIDEO;
        par->width = (int)t->pixel_width;
        par->height = (int)t->pixel_height;
        if (id == AV_CODEC_ID_HEVC)
            par->codec_tag = MKTAG('h', 'v', 'c', '1');
    } else if (t->type == FL_MKV_TRACK_AUDIO) {
        par->codec_type = AVMEDIA_TYPE_AUDIO;
        par->sample_rate = (int)t->sampling_frequency;
        av_channel_layout_default(&par->ch_layout, t->channels ? (int)t->channels : 2);
    } else {
        return FL_EUNSUPPORTED;
    }
    if (t->codec_private.n) {
        if (t->codec_private.n > 1 << 20)
            return FL_EINVAL;
        par->extradata = av_mallocz(t->codec_private.n + AV_INPUT_BUFFER_PADDING_SIZE);
        if (!par->extradata)
            return FL_ENOMEM;
        memcpy(par->extradata, t->codec_private.p, t->codec_private.n);
        par->extradata_size = (int)t->codec_private.n;
    }
    return 0;
}

int fl_av_err(int averr)
{
    if (averr == AVERROR(ENOMEM))
        return FL_ENOMEM;
    if (averr == AVERROR(EINVAL))
        return FL_EINVAL;
    return FL_EMALFORMED;
}
