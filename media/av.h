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
 *   (GetImages);
 * - a streaming video decoder whose pictures come out converted to a pixel
 *   format and size (server hooks' decoded frames).
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

/* ---- a streaming video decoder (server hooks' decoded frames) ---- */

typedef enum {
    FL_AV_PIX_GRAY8 = 1,
    FL_AV_PIX_YUV420P,
    FL_AV_PIX_NV12,
    FL_AV_PIX_RGB24,
    FL_AV_PIX_BGR24,
    FL_AV_PIX_RGBA,
} fl_av_pixfmt_t;

typedef struct fl_av_decoder fl_av_decoder_t;

/* A picture out of the decoder, converted (planes valid until the next
 * call on the decoder). */
typedef struct {
    int64_t pts; /* the pts its packet was sent with */
    int keyframe;
    unsigned width, height;
    const uint8_t *planes[4];
    int strides[4];
} fl_av_picture_t;

/* A decoder for a video track (H.264, H.265: CodecPrivate as extradata, so
 * frames decode as stored). One thread at a time; no frame threading, so
 * a picture comes out as soon as the codec's reordering allows. */
int fl_av_decoder_new(const fl_mkv_track_t *track, fl_av_decoder_t **out);
void fl_av_decoder_free(fl_av_decoder_t *d);
/* Send one frame's bytes (copied). FL_EMALFORMED when libavcodec refuses
 * them (the caller waits for a key frame, after fl_av_decoder_reset). */
int fl_av_decoder_send(fl_av_decoder_t *d, fl_slice_t data, int64_t pts, int keyframe);
/* No more input for now: what the decoder holds back comes out (then
 * fl_av_decoder_reset before the next send). */
int fl_av_decoder_drain(fl_av_decoder_t *d);
/* Forget held pictures and references (after a gap in the input). */
void fl_av_decoder_reset(fl_av_decoder_t *d);
/* The next picture: 0 with *out's pts, keyframe and size filled (planes
 * NULL), FL_EAGAIN when none is ready. */
int fl_av_decoder_receive(fl_av_decoder_t *d, fl_av_picture_t *out);
/* The picture received last, converted to fmt at width x height (0, 0: its
 * own size; one 0 keeps the aspect ratio): *out's planes are valid until
 * the next call on the decoder. A picture skipped (a rate limit) is never
 * converted. */
int fl_av_decoder_convert(fl_av_decoder_t *d, fl_av_pixfmt_t fmt, unsigned width, unsigned height,
                          fl_av_picture_t *out);

#endif
