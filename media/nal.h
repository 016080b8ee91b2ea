/*
 * media/nal.h — H.264 and H.265 bitstream helpers: NAL unit framing
 * (Annex-B start codes <-> length-prefixed as in Matroska and MP4),
 * key-frame detection, SPS parsing (profile, level, size, for track info and
 * the HLS CODECS string) and the decoder configuration records that
 * Matroska's CodecPrivate carries (AVCDecoderConfigurationRecord,
 * HEVCDecoderConfigurationRecord).
 *
 * All input is untrusted and read through bounds-checked readers; nothing
 * allocates except the caller's fl_buf_t. Slices handed out point into the
 * caller's input.
 *
 * Byte layouts:
 *   Annex-B:          00 00 01 | 00 00 00 01, then a NAL unit, repeated
 *   length-prefixed:  big-endian length (1, 2 or 4 bytes), NAL unit, repeated
 *   H.264 NAL header: 1 byte, type = b & 0x1F (5 IDR, 7 SPS, 8 PPS)
 *   H.265 NAL header: 2 bytes, type = (b0 >> 1) & 0x3F (16-21 IRAP,
 *                     32 VPS, 33 SPS, 34 PPS)
 */
#ifndef FL_MEDIA_NAL_H
#define FL_MEDIA_NAL_H

#include <stddef.h>
#include <stdint.h>

#include "common/bytes.h"

typedef enum { FL_NAL_H264 = 1, FL_NAL_H265 = 2 } fl_nal_codec_t;

#define FL_NAL_MAX_PS 8 /* parameter sets of each kind kept by a config */

/* ---- framing ---- */

/* Next NAL unit of an Annex-B buffer from *pos (start at 0): 0 with *nal
 * set (start code and trailing zero bytes excluded), or FL_EEOF at the end. */
int fl_nal_annexb_next(fl_slice_t buf, size_t *pos, fl_slice_t *nal);
/* Next NAL unit of a length-prefixed buffer: 0, FL_EEOF at the end, or
 * FL_EMALFORMED when a length runs past the buffer. len_size: 1, 2 or 4. */
int fl_nal_lp_next(fl_slice_t buf, unsigned len_size, size_t *pos, fl_slice_t *nal);
/* The next NAL unit in either framing: length-prefixed with len_size, or
 * Annex-B when len_size is 0. */
int fl_nal_next(fl_slice_t buf, unsigned len_size, size_t *pos, fl_slice_t *nal);
/* Convert a whole access unit, appending to out. */
int fl_nal_annexb_to_lp(fl_slice_t in, unsigned len_size, fl_buf_t *out);
int fl_nal_lp_to_annexb(fl_slice_t in, unsigned len_size, fl_buf_t *out);

/* NAL unit type from its header, or FL_EMALFORMED. */
int fl_nal_type(fl_nal_codec_t codec, fl_slice_t nal);
/* One walk over the NAL units of an access unit with their types, for
 * code that looks for units by type (key frames, parameter sets):
 *   fl_nal_walk_t w;
 *   if ((rc = fl_nal_walk_init(&w, codec, au, len_size)) != 0) return rc;
 *   while ((rc = fl_nal_walk_next(&w, &nal, &type)) == 0) ...;
 *   if (rc != FL_EEOF) return rc;
 * init is FL_EINVAL for an unknown codec; next gives 0, FL_EEOF at the end
 * or the framing's error, and a type < 0 for a unit whose header is
 * malformed (callers skip it, as decoders do). */
typedef struct {
    fl_nal_codec_t codec;
    fl_slice_t buf;
    unsigned len_size; /* 0: Annex-B */
    size_t pos;
} fl_nal_walk_t;

int fl_nal_walk_init(fl_nal_walk_t *w, fl_nal_codec_t codec, fl_slice_t buf, unsigned len_size);
int fl_nal_walk_next(fl_nal_walk_t *w, fl_slice_t *nal, int *type);

/* Does the access unit hold an IDR (H.264) or IRAP (H.265) picture?
 * len_size 0 means Annex-B. Returns 1, 0 or a negative error. */
int fl_nal_is_keyframe(fl_nal_codec_t codec, fl_slice_t au, unsigned len_size);

/* ---- SPS ---- */

typedef struct {
    fl_nal_codec_t codec;
    unsigned profile_idc;
    unsigned level_idc;
    unsigned width, height; /* after cropping / conformance window */
    unsigned chroma_format_idc;
    unsigned bit_depth_luma, bit_depth_chroma;
    /* H.264 */
    unsigned constraint_flags; /* constraint_set0..5 byte */
    /* H.265 */
    unsigned profile_space, tier_flag;
    uint32_t compat_flags;   /* general_profile_compatibility_flags */
    uint8_t constraint[6];   /* general constraint indicator flags */
    unsigned max_sub_layers; /* sps_max_sub_layers_minus1 + 1 */
    unsigned temporal_id_nesting;
} fl_nal_sps_t;

/* Parse an SPS NAL unit (with its header, emulation prevention intact). */
int fl_nal_parse_sps(fl_nal_codec_t codec, fl_slice_t nal, fl_nal_sps_t *out);
/* RFC 6381 codec string: "avc1.64001f", "hvc1.1.6.L93.B0". Returns 0 or
 * FL_ENOSPC when buf (n bytes) is too small. */
int fl_nal_codec_string(const fl_nal_sps_t *sps, char *buf, size_t n);

/* ---- decoder configuration records (CodecPrivate) ---- */

typedef struct {
    fl_nal_codec_t codec;
    unsigned len_size; /* NAL length field size in samples: 1, 2 or 4 */
    fl_slice_t vps[FL_NAL_MAX_PS], sps[FL_NAL_MAX_PS], pps[FL_NAL_MAX_PS];
    size_t n_vps, n_sps, n_pps;
} fl_nal_config_t;

/* Build AVCDecoderConfigurationRecord (H.264, vps ignored) or
 * HEVCDecoderConfigurationRecord (H.265) from parameter sets; profile and
 * level come from the first SPS. Appends to out. */
int fl_nal_config_build(const fl_nal_config_t *cfg, fl_buf_t *out);
/* Parse a record; slices point into rec. */
int fl_nal_config_parse(fl_nal_codec_t codec, fl_slice_t rec, fl_nal_config_t *out);
/* Collect parameter sets from an access unit (len_size 0: Annex-B) into
 * cfg, up to FL_NAL_MAX_PS of each; slices point into au. */
int fl_nal_config_from_au(fl_nal_codec_t codec, fl_slice_t au, unsigned len_size,
                          fl_nal_config_t *cfg);
/* Append the parameter sets as Annex-B (VPS, SPS, PPS). */
int fl_nal_config_to_annexb(const fl_nal_config_t *cfg, fl_buf_t *out);

#endif
