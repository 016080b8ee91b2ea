/*
 * media/av.h — remux and thumbnails through libavformat / libavcodec /
 * libswscale (target fl_media_av; the only part of media/ that links
 * libav*). Memory in, memory out: bytes go through a custom AVIO into the
 * caller's fl_buf_t, never through temporary files.
 *
 * Input is what the Matroska parser gives: the tracks of a session
 * (fl_mkv_track_t, CodecPrivate as extradata) and a run of frames (data as
 * stored in Matroska: length-prefixed NAL units for H.264/H.265, raw AAC).
 * Supported codecs: V_MPEG4/ISO/AVC, V_MPEGH/ISO/HEVC, A_AAC, A_OPUS.
 *
 * Outputs:
 * - fragmented MP4 (CMAF-like: ftyp+moov init segment once, then one
 *   moof+mdat media segment per call, e.g. per fragment for HLS);
 * - MPEG-TS (one call, e.g. an HLS .ts segment);
 * - plain MP4 (one call, mdat then moov: GetClip);
 * - a key frame decoded and scaled to JPEG or PNG (thumbnails);
 * - the pictures a run of frames shows at chosen times, as JPEG or PNG
 *   (GetImages).
 *
 * Timestamps: Matroska frames carry presentation times only; decode times
 * are rebuilt as the sorted presentation times of the run, shifted back by
 * the reordering delay (kept across segments of one remuxer so that decode
 * times never go backwards). Presentation times are kept, except that when
 * the first decode time would be negative (B-frames in a stream starting at
 * 0) every time moves forward by that amount, once, for the remuxer's life.
 *
 * Errors: FL_EUNSUPPORTED (codec), FL_EINVAL (bad arguments), FL_EMALFORMED
 * (libav could not use the data), FL_ENOMEM.
 */
#ifndef FL_MEDIA_AV_H
#define FL_MEDIA_AV_H

#include <stddef.h>
#include <stdint.h>

#include "common/bytes.h"
#include "media/mkv.h"

typedef struct {
    uint64_t track;      /* TrackNumber */
    int64_t pts_ns;      /* presentation time */
    int64_t duration_ns; /* 0: unknown */
    int keyframe;
    fl_slice_t data;
} fl_av_frame_t;

typedef enum { FL_AV_FMP4 = 1, FL_AV_MPEGTS = 2, FL_AV_MP4 = 3 } fl_av_format_t;

typedef struct fl_av_remux fl_av_remux_t;

/* A fragmented-MP4 remuxer for these tracks (copied; frames of other
 * tracks are dropped). The init segment (ftyp+moov) is appended to init. */
int fl_av_fmp4_new(const fl_mkv_track_t *tracks, size_t n_tracks, fl_buf_t *init,
                   fl_av_remux_t **out);
/* One media segment (moof+mdat) with these frames, in decode order. */
int fl_av_fmp4_segment(fl_av_remux_t *r, const fl_av_frame_t *frames, size_t n, fl_buf_t *out);
void fl_av_remux_free(fl_av_remux_t *r);

/* Remux a run of frames in one go to FL_AV_MPEGTS or FL_AV_MP4 (or
 * FL_AV_FMP4: init segment plus one media segment). */
int fl_av_remux(fl_av_format_t fmt, const fl_mkv_track_t *tracks, size_t n_tracks,
                const fl_av_frame_t *frames, size_t n, fl_buf_t *out);

typedef enum { FL_AV_JPEG = 1, FL_AV_PNG = 2 } fl_av_image_t;

/* Decode one key frame of a video track and encode it as an image of
 * width x height (0 for either keeps the aspect ratio; both 0 keeps the
 * source size). */
int fl_av_thumbnail(const fl_mkv_track_t *track, fl_slice_t keyframe, fl_av_image_t fmt,
                    unsigned width, unsigned height, fl_buf_t *out);

/* The pictures of one video track at chosen times, as images. frames:
 * the track's frames of one run in decode order, starting at a key frame
 * (other tracks' frames are skipped). times: n_times presentation times,
 * ascending. For each time, the picture on screen then (the last whose
 * presentation time is at or before it; the first for a time before every
 * picture) is scaled to width x height (as fl_av_thumbnail; 0 keeps the
 * aspect ratio) and encoded as JPEG (quality 1..100, 0 for a default) or
 * PNG, appended to outs[i], with errs[i] 0 — or errs[i] an FL_E* code when
 * no picture could be decoded or encoded for it. Returns 0, or an FL_E*
 * code when the decoder could not be opened (every errs[i] then says it). */
int fl_av_images_at(const fl_mkv_track_t *track, const fl_av_frame_t *frames, size_t n,
                    const int64_t *times, size_t n_times, fl_av_image_t fmt, unsigned width,
                    unsigned height, int quality, fl_buf_t *outs, int *errs);

#endif
