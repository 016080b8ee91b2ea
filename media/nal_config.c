/*
 * media/nal_config.c — decoder configuration records, the CodecPrivate of
 * H.264 and H.265 tracks in Matroska (and avcC/hvcC in MP4).
 *
 * AVCDecoderConfigurationRecord (ISO/IEC 14496-15, 5.3.3.1):
 *   u8 version=1, u8 profile, u8 compat, u8 level,
 *   u8 0xFC | (len_size-1), u8 0xE0 | numSPS, {u16 len, SPS}...,
 *   u8 numPPS, {u16 len, PPS}...  [high-profile extension, ignored]
 * HEVCDecoderConfigurationRecord (8.3.3.1), 23 bytes then arrays:
 *   u8 version=1, u8 space(2)|tier(1)|profile(5), u32 compat, u48
 *   constraint, u8 level, u16 0xF000|min_spatial_seg, u8 0xFC|parallelism,
 *   u8 0xFC|chroma, u8 0xF8|depth_luma-8, u8 0xF8|depth_chroma-8,
 *   u16 avg_frame_rate, u8 cfr(2)|layers(3)|nested(1)|len_size-1(2),
 *   u8 numArrays, {u8 complete(1)|0|type(6), u16 numNalus, {u16 len, NAL}...}...
 */
#include <string.h>

#include "common/error.h"
#include "media/nal.h"

static void put_ps(fl_buf_t *out, fl_slice_t ps)
{
    fl_buf_be16(out, (uint16_t)ps.n);
    fl_buf_append(out, ps.p, ps.n);
}

static int check_sets(const fl_slice_t *v, size_t n)
{
    if (n > FL_NAL_MAX_PS)
        return FL_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (v[i].n == 0 || v[i].n > 0xFFFF)
            return FL_EINVAL;
    return 0;
}

int fl_nal_config_build(const fl_nal_config_t *c, fl_buf_t *out)
{
    unsigned ls = c->len_size ? c->len_size : 4;
    if ((ls != 1 && ls != 2 && ls != 4) || c->n_sps == 0 || c->n_pps == 0 ||
        check_sets(c->sps, c->n_sps) || check_sets(c->pps, c->n_pps) ||
        check_sets(c->vps, c->n_vps))
        return FL_EINVAL;
    fl_nal_sps_t s;
    int rc = fl_nal_parse_sps(c->codec, c->sps[0], &s);
    if (rc)
        return rc;
    if (c->codec == FL_NAL_H264) {
        fl_buf_u8(out, 1);
        fl_buf_u8(out, (uint8_t)s.profile_idc);
        fl_buf_u8(out, (uint8_t)s.constraint_flags);
        fl_buf_u8(out, (uint8_t)s.level_idc);
        fl_buf_u8(out, (uint8_t)(0xFC | (ls - 1)));
        fl_buf_u8(out, (uint8_t)(0xE0 | c->n_sps));
        for (size_t i = 0; i < c->n_sps; i++)
            put_ps(out, c->sps[i]);
        fl_buf_u8(out, (uint8_t)c->n_pps);
        for (size_t i = 0; i < c->n_pps; i++)
            put_ps(out, c->pps[i]);
        return out->err;
    }
    if (c->n_vps == 0)
        return FL_EINVAL;
    fl_buf_u8(out, 1);
    fl_buf_u8(out, (uint8_t)(s.profile_space << 6 | s.tier_flag << 5 | (s.profile_idc & 0x1F)));
    fl_buf_be32(out, s.compat_flags);
    fl_buf_append(out, s.constraint, 6);
    fl_buf_u8(out, (uint8_t)s.level_idc);
    fl_buf_be16(out, 0xF000);
    fl_buf_u8(out, 0xFC);
    fl_buf_u8(out, (uint8_t)(0xFC | s.chroma_format_idc));
    fl_buf_u8(out, (uint8_t)(0xF8 | (s.bit_depth_luma - 8)));
    fl_buf_u8(out, (uint8_t)(0xF8 | (s.bit_depth_chroma - 8)));
    fl_buf_be16(out, 0);
    fl_buf_u8(out,
              (uint8_t)((s.max_sub_layers & 7) << 3 | (s.temporal_id_nesting & 1) << 2 | (ls - 1)));
    fl_buf_u8(out, 3);
    const struct {
        uint8_t type;
        const fl_slice_t *v;
        size_t n;
    } arrays[3] = {{32, c->vps, c->n_vps}, {33, c->sps, c->n_sps}, {34, c->pps, c->n_pps}};
    for (int a = 0; a < 3; a++) {
        fl_buf_u8(out, (uint8_t)(0x80 | arrays[a].type));
        fl_buf_be16(out, (uint16_t)arrays[a].n);
        for (size_t i = 0; i < arrays[a].n; i++)
            put_ps(out, arrays[a].v[i]);
    }
    return out->err;
}

static void add_ps(fl_slice_t *v, size_t *n, fl_slice_t ps)
{
    if (*n < FL_NAL_MAX_PS)
        v[(*n)++] = ps;
}

int fl_nal_config_parse(fl_nal_codec_t codec, fl_slice_t rec, fl_nal_config_t *out)
{
    fl_nal_config_t c;
    memset(&c, 0, sizeof c);
    c.codec = codec;
    fl_reader_t r;
    fl_reader_init(&r, rec);
    if (codec == FL_NAL_H264) {
        if (fl_reader_u8(&r) != 1)
            return FL_EMALFORMED;
        fl_reader_skip(&r, 3);
        c.len_size = (fl_reader_u8(&r) & 3) + 1u;
        unsigned n = fl_reader_u8(&r) & 0x1F;
        for (unsigned i = 0; i < n && !r.err; i++)
            add_ps(c.sps, &c.n_sps, fl_reader_take(&r, fl_reader_be16(&r)));
        n = fl_reader_u8(&r);
        for (unsigned i = 0; i < n && !r.err; i++)
            add_ps(c.pps, &c.n_pps, fl_reader_take(&r, fl_reader_be16(&r)));
    } else if (codec == FL_NAL_H265) {
        if (fl_reader_u8(&r) != 1)
            return FL_EMALFORMED;
        fl_reader_skip(&r, 20);
        c.len_size = (fl_reader_u8(&r) & 3) + 1u;
        unsigned arrays = fl_reader_u8(&r);
        for (unsigned a = 0; a < arrays && !r.err; a++) {
            unsigned type = fl_reader_u8(&r) & 0x3F;
            unsigned n = fl_reader_be16(&r);
            for (unsigned i = 0; i < n && !r.err; i++) {
                fl_slice_t ps = fl_reader_take(&r, fl_reader_be16(&r));
                if (type == 32)
                    add_ps(c.vps, &c.n_vps, ps);
                else if (type == 33)
                    add_ps(c.sps, &c.n_sps, ps);
                else if (type == 34)
                    add_ps(c.pps, &c.n_pps, ps);
            }
        }
    } else {
        return FL_EINVAL;
    }
    if (r.err || c.len_size == 3)
        return FL_EMALFORMED;
    *out = c;
    return 0;
}

int fl_nal_config_from_au(fl_nal_codec_t codec, fl_slice_t au, unsigned len_size,
                          fl_nal_config_t *cfg)
{
    fl_nal_walk_t w;
    fl_slice_t nal;
    int t, rc = fl_nal_walk_init(&w, codec, au, len_size);
    if (rc)
        return rc;
    memset(cfg, 0, sizeof *cfg);
    cfg->codec = codec;
    cfg->len_size = 4;
    while ((rc = fl_nal_walk_next(&w, &nal, &t)) == 0) {
        if (codec == FL_NAL_H264 && t == 7)
            add_ps(cfg->sps, &cfg->n_sps, nal);
        else if (codec == FL_NAL_H264 && t == 8)
            add_ps(cfg->pps, &cfg->n_pps, nal);
        else if (codec == FL_NAL_H265 && t == 32)
            add_ps(cfg->vps, &cfg->n_vps, nal);
        else if (codec == FL_NAL_H265 && t == 33)
            add_ps(cfg->sps, &cfg->n_sps, nal);
        else if (codec == FL_NAL_H265 && t == 34)
            add_ps(cfg->pps, &cfg->n_pps, nal);
    }
    if (rc != FL_EEOF)
        return rc;
    return cfg->n_sps && cfg->n_pps ? 0 : FL_ENOTFOUND;
}

int fl_nal_config_to_annexb(const fl_nal_config_t *c, fl_buf_t *out)
{
    static const uint8_t sc[4] = {0, 0, 0, 1};
    const fl_slice_t *lists[3] = {c->vps, c->sps, c->pps};
    size_t counts[3] = {c->n_vps, c->n_sps, c->n_pps};
    for (int l = 0; l < 3; l++)
        for (size_t i = 0; i < counts[l] && i < FL_NAL_MAX_PS; i++) {
            fl_buf_append(out, sc, 4);
            fl_buf_append(out, lists[l][i].p, lists[l][i].n);
        }
    return out->err;
}
