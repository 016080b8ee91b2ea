/*
 * media/av_internal.h — what the av_* files share: Matroska CodecID to
 * libavcodec IDs and track parameters to AVCodecParameters.
 */
#ifndef FL_MEDIA_AV_INTERNAL_H
#define FL_MEDIA_AV_INTERNAL_H

#include <libavcodec/avcodec.h>

#include "media/mkv.h"

/* AV_CODEC_ID_NONE when framelog does not remux this codec. */
enum AVCodecID fl_av_codec_id(fl_slice_t mkv_codec_id);
/* Fill par from a track (extradata copied). 0, FL_EUNSUPPORTED or FL_ENOMEM. */
int fl_av_track_params(const fl_mkv_track_t *t, AVCodecParameters *par);
/* libav error -> framelog error. */
int fl_av_err(int averr);

#endif
