/*
 * media/av_internal.h — what the av_* files share: Matroska CodecID to
 * libavcodec IDs, track parameters to AVCodecParameters, a track's decoder
 * and a picture's JPEG/PNG encoding.
 */
#ifndef FL_MEDIA_AV_INTERNAL_H
#define FL_MEDIA_AV_INTERNAL_H

#include <libavcodec/avcodec.h>

#include "media/av.h"
#include "media/mkv.h"

/* AV_CODEC_ID_NONE when framelog does not remux this codec. */
enum AVCodecID fl_av_codec_id(fl_slice_t mkv_codec_id);
/* Fill par from a track (extradata copied). 0, FL_EUNSUPPORTED or FL_ENOMEM. */
int fl_av_track_params(const fl_mkv_track_t *t, AVCodecParameters *par);
/* A decoder for a video track (CodecPrivate as extradata, one thread,
 * packet times in ns). 0, FL_EINVAL (not video), FL_EUNSUPPORTED,
 * FL_EMALFORMED (libav refused the track), FL_ENOMEM. */
int fl_av_open_decoder(const fl_mkv_track_t *track, AVCodecContext **out);
/* Scale a decoded picture to width x height (0 for either keeps the aspect
 * ratio, both 0 the size; JPEG sizes round down to even) and encode it as
 * JPEG (quality 1..100, 0 for the thumbnails' default) or PNG, appended to
 * out (av_thumb.c). */
int fl_av_encode_image(const AVFrame *src, fl_av_image_t fmt, unsigned width, unsigned height,
                       int quality, fl_buf_t *out);
/* libav error -> framelog error. */
int fl_av_err(int averr);

#endif
