/*
 * tests/sdk_test_frames.h — real frames for the producer SDK's end-to-end
 * tests, and GetMedia output read back into frames.
 *
 * Input: ffmpeg makes a short MP4 (320x240, 30 fps, B-frames, a key frame
 * every second or half second) once per kind; libavformat reads it back
 * packet by packet in decoding order: pts, dts and duration (rounded to
 * whole milliseconds, shifted so that the smallest dts is 0), the key flag,
 * the bytes as MP4 stores them (video length-prefixed, NAL length size from
 * the decoder configuration record; AAC raw) and the CodecPrivate (avcC,
 * hvcC, AudioSpecificConfig). Rounding to ms up front makes "the same
 * timestamps" exact: GetMedia counts in ms.
 *
 * A camera gives Annex-B: sdk_media_annexb() turns a video frame into
 * start codes, with the parameter sets in front of each key frame.
 *
 * Output: sdk_out_read() parses a GetMedia file with media/mkv_parser.h
 * into frames (track, pts in ms, key flag, bytes), cluster timecodes, the
 * fragment numbers of the fragment Tags and the last Tracks seen.
 *
 * Nothing here uses Check, so that sdk_producer_child can link it too.
 */
#ifndef FL_TESTS_SDK_TEST_FRAMES_H
#define FL_TESTS_SDK_TEST_FRAMES_H

#include <stddef.h>
#include <stdint.h>

#include "common/bytes.h"

typedef enum {
    SDK_MEDIA_H264 = 0,     /* 4 s, H.264, key frame every 1 s (4 fragments) */
    SDK_MEDIA_H265 = 1,     /* 4 s, H.265, key frame every 1 s */
    SDK_MEDIA_H264_AAC = 2, /* 4 s, H.264 + AAC 44.1 kHz mono */
    SDK_MEDIA_H264_BIG = 3, /* 3 s, H.264 of noise at ~2 Mbit/s, key frame every 0.5 s */
    SDK_MEDIA_KINDS
} sdk_media_kind_t;

typedef struct {
    uint32_t track; /* 1: video, 2: audio */
    int64_t pts_ms, dts_ms, duration_ms;
    int keyframe;
    uint8_t *data; /* as stored in the file */
    size_t size;
} sdk_frame_t;

typedef struct {
    int video_codec;          /* FLP_CODEC_H264 or FLP_CODEC_H265 */
    unsigned nal_length_size; /* of the video frames' data */
    uint8_t *video_private;   /* avcC / hvcC */
    size_t video_private_len;
    int has_audio;
    uint8_t *audio_private; /* AudioSpecificConfig */
    size_t audio_private_len;
    unsigned width, height, sample_rate, channels;
    sdk_frame_t *frames; /* decoding order, tracks interleaved as in the file */
    size_t n;
    size_t n_video;
    int64_t period_ms; /* video frames x frame duration: one loop of the file */
} sdk_media_t;

/* Make the file of a kind in dir unless it is there already (safe from
 * several processes: made under a temporary name and renamed). Returns 0
 * and the path in path[cap], or -1 (ffmpeg failed; its stderr on ours). */
int sdk_media_make(const char *dir, sdk_media_kind_t kind, char *path, size_t cap);

/* Read a file made by sdk_media_make(). Returns 0 or -1 with a reason on
 * stderr. */
int sdk_media_load(const char *path, sdk_media_t *m);
void sdk_media_free(sdk_media_t *m);

/* Video frame i of the file looped for ever (video only, i from 0): which
 * frame of m, and how many ms to add to its times. */
const sdk_frame_t *sdk_media_loop(const sdk_media_t *m, uint64_t i, int64_t *shift_ms);

/* A video frame as Annex-B (4-byte start codes), with the record's
 * parameter sets first when it is a key frame; appended to out. */
int sdk_media_annexb(const sdk_media_t *m, const sdk_frame_t *f, fl_buf_t *out);

/* Do two video access units hold the same NAL units, in order, apart from
 * parameter sets (VPS/SPS/PPS) and access unit delimiters, which either side
 * may carry in-band or not? len_size 0: Annex-B. codec: FLP_CODEC_*.
 * Returns 1, or 0 with the first difference in why[whycap]. */
int sdk_same_nal_units(int codec, fl_slice_t a, unsigned a_len_size, fl_slice_t b,
                       unsigned b_len_size, char *why, size_t whycap);

/* ---- GetMedia output ---- */

typedef struct {
    uint64_t track;
    int64_t pts_ms;
    int keyframe;
    uint8_t *data;
    size_t size;
    size_t cluster; /* index of its cluster */
} sdk_out_frame_t;

typedef struct {
    uint64_t number;
    char codec_id[32];
    uint8_t *codec_private;
    size_t codec_private_len;
} sdk_out_track_t;

typedef struct {
    sdk_out_frame_t *frames;
    size_t n;
    int64_t *cluster_ms; /* cluster timecodes, in order */
    size_t n_clusters;
    char (*numbers)[48]; /* AWS_KINESISVIDEO_FRAGMENT_NUMBER values, in order */
    size_t n_numbers;
    sdk_out_track_t tracks[4]; /* of the last Tracks element */
    size_t n_tracks;
    int n_headers; /* EBML headers (sessions) seen */
    int err;       /* parser error (0 when the file parsed) */
    char err_text[160];
} sdk_out_t;

/* Parse a GetMedia file. Returns 0, or the parser's error (also in
 * out->err, with out->err_text); what was read up to it stays in out. */
int sdk_out_read(const char *path, sdk_out_t *out);
void sdk_out_free(sdk_out_t *out);
/* The NAL length size of an output track (from its CodecPrivate), 4 when
 * it cannot be read. */
unsigned sdk_out_len_size(const sdk_out_t *out, uint64_t track, int codec);

#endif
