/*
 * media/nal_sps.c — sequence parameter sets of H.264 (7.3.2.1.1) and H.265
 * (7.3.2.2), read far enough for the profile, level, chroma format, bit
 * depth and the cropped picture size; and the RFC 6381 codec strings.
 *
 * The bit reader removes emulation prevention bytes (00 00 03) on the fly
 * and has a sticky error like fl_reader_t: reading past the end yields
 * zeros and sets err, which is checked once at the end. Exp-Golomb codes
 * longer than 32 bits are errors, so no value overflows 32 bits; sizes are
 * computed in 64 bits and range-checked.
 */
#include <stdio.h>
#include <string.h>

#include "common/error.h"
#include "media/nal.h"

typedef struct {
    const uint8_t *p;
    size_t n, pos;  /* next byte */
    unsigned zeros; /* zero bytes just read, for emulation prevention */
    uint32_t cur;   /* current byte */
    int left;       /* bits left in cur */
    int err;
} bits_t;

static void bits_init(bits_t *b, fl_slice_t s, size_t skip)
{
    memset(b, 0, sizeof *b);
    b->p = s.p;
    b->n = s.n;
    b->pos = skip < s.n ? skip : s.n;
}

static unsigned bit(bits_t *b)
{
    if (b->left == 0) {
        if (b->pos < b->n && b->zeros >= 2 && b->p[b->pos] == 3) {
            b->pos++; /* emulation prevention byte */
            b->zeros = 0;
        }
        if (b->pos >= b->n) {
            b->err = FL_EMALFORMED;
            return 0;
        }
        b->cur = b->p[b->pos++];
        b->zeros = b->cur == 0 ? b->zeros + 1 : 0;
        b->left = 8;
    }
    b->left--;
    return (b->cur >> b->left) & 1;
}

static uint32_t bits(bits_t *b, unsigned n)
{
    uint32_t v = 0;
    for (unsigned i = 0; i < n && !b->err; i++)
        v = v << 1 | bit(b);
    return v;
}

static uint32_t ue(bits_t *b)
{
    unsigned zeros = 0;
    while (!b->err && bit(b) == 0) {
        if (++zeros > 31) {
            b->err = FL_EMALFORMED;
            return 0;
        }
    }
    if (b->err)
        return 0;
    return (uint32_t)(((uint64_t)1 << zeros) - 1 + bits(b, zeros));
}

static int32_t se(bits_t *b)
{
    uint32_t k = ue(b);
    return (k & 1) ? (int32_t)((k + 1) / 2) : -(int32_t)(k / 2);
}

static void scaling_list(bits_t *b, int size)
{
    int last = 8, next = 8;
    for (int j = 0; j < size && !b->err; j++) {
        if (next != 0) {
            int32_t delta = se(b);
            if (delta < -128 || delta > 127) {
                b->err = FL_EMALFORMED;
                return;
            }
            next = (last + delta + 256) % 256;
        }
        last = next == 0 ? last : next;
    }
}

static int parse_h264(fl_slice_t nal, fl_nal_sps_t *o)
{
    if (nal.n < 4 || (nal.p[0] & 0x1F) != 7)
        return FL_EMALFORMED;
    bits_t b;
    bits_init(&b, nal, 1);
    o->profile_idc = bits(&b, 8);
    o->constraint_flags = bits(&b, 8);
    o->level_idc = bits(&b, 8);
    if (ue(&b) > 31)
        return FL_EMALFORMED;
    o->chroma_format_idc = 1;
    o->bit_depth_luma = o->bit_depth_chroma = 8;
    unsigned sep = 0;
    switch (o->profile_idc) {
    case 100:
    case 110:
    case 122:
    case 244:
    case 44:
    case 83:
    case 86:
    case 118:
    case 128:
    case 138:
    case 139:
    case 134:
    case 135:
        o->chroma_format_idc = ue(&b);
        if (o->chroma_format_idc > 3)
            return FL_EMALFORMED;
        if (o->chroma_format_idc == 3)
            sep = bit(&b);
        o->bit_depth_luma = ue(&b) + 8;
        o->bit_depth_chroma = ue(&b) + 8;
        if (o->bit_depth_luma > 14 || o->bit_depth_chroma > 14)
            return FL_EMALFORMED;
        bit(&b); /* qpprime_y_zero_transform_bypass_flag */
        if (bit(&b)) {
            int lists = o->chroma_format_idc != 3 ? 8 : 12;
            for (int i = 0; i < lists && !b.err; i++)
                if (bit(&b))
                    scaling_list(&b, i < 6 ? 16 : 64);
        }
        break;
    }
    if (ue(&b) > 12) /* log2_max_frame_num_minus4 */
        return FL_EMALFORMED;
    uint32_t poc = ue(&b);
    if (poc == 0) {
        if (ue(&b) > 12)
            return FL_EMALFORMED;
    } else if (poc == 1) {
        bit(&b);
        se(&b);
        se(&b);
        uint32_t cycle = ue(&b);
        if (cycle > 255)
            return FL_EMALFORMED;
        for (uint32_t i = 0; i < cycle && !b.err; i++)
            se(&b);
    } else if (poc != 2) {
        return FL_EMALFORMED;
    }
    ue(&b); /* max_num_ref_frames */
    bit(&b);
    uint64_t w_mbs = (uint64_t)ue(&b) + 1;
    uint64_t h_map = (uint64_t)ue(&b) + 1;
    unsigned frame_mbs_only = bit(&b);
    if (!frame_mbs_only)
        bit(&b);
    bit(&b); /* direct_8x8_inference_flag */
    uint64_t cl = 0, cr = 0, ct = 0, cb = 0;
    if (bit(&b)) {
        cl = ue(&b);
        cr = ue(&b);
        ct = ue(&b);
        cb = ue(&b);
    }
    if (b.err)
        return FL_EMALFORMED;
    unsigned cat = sep ? 0 : o->chroma_format_idc;
    uint64_t cux = 1, cuy = 2 - frame_mbs_only;
    if (cat != 0) {
        cux = cat == 3 ? 1 : 2;
        cuy = (cat == 1 ? 2 : 1) * (2 - frame_mbs_only);
    }
    uint64_t w = w_mbs * 16, h = (2 - frame_mbs_only) * h_map * 16;
    uint64_t dx = cux * (cl + cr), dy = cuy * (ct + cb);
    if (w > 65536 || h > 65536 || dx >= w || dy >= h)
        return FL_EMALFORMED;
    o->width = (unsigned)(w - dx);
    o->height = (unsigned)(h - dy);
    return 0;
}

static int parse_h265(fl_slice_t nal, fl_nal_sps_t *o)
{
    if (nal.n < 3 || ((nal.p[0] >> 1) & 0x3F) != 33)
        return FL_EMALFORMED;
    bits_t b;
    bits_init(&b, nal, 2);
    bits(&b, 4); /* sps_video_parameter_set_id */
    unsigned max_sub = bits(&b, 3);
    o->max_sub_layers = max_sub + 1;
    o->temporal_id_nesting = bit(&b);
    /* profile_tier_level(1, max_sub) */
    o->profile_space = bits(&b, 2);
    o->tier_flag = bit(&b);
    o->profile_idc = bits(&b, 5);
    o->compat_flags = bits(&b, 32);
    for (int i = 0; i < 6; i++)
        o->constraint[i] = (uint8_t)bits(&b, 8);
    o->level_idc = bits(&b, 8);
    unsigned prof_present[8] = {0}, level_present[8] = {0};
    for (unsigned i = 0; i < max_sub; i++) {
        prof_present[i] = bit(&b);
        level_present[i] = bit(&b);
    }
    if (max_sub > 0)
        for (unsigned i = max_sub; i < 8; i++)
            bits(&b, 2);
    for (unsigned i = 0; i < max_sub; i++) {
        if (prof_present[i]) {
            bits(&b, 32);
            bits(&b, 32);
            bits(&b, 24);
        }
        if (level_present[i])
            bits(&b, 8);
    }
    if (ue(&b) > 15) /* sps_seq_parameter_set_id */
        return FL_EMALFORMED;
    o->chroma_format_idc = ue(&b);
    if (o->chroma_format_idc > 3)
        return FL_EMALFORMED;
    unsigned sep = 0;
    if (o->chroma_format_idc == 3)
        sep = bit(&b);
    uint64_t w = ue(&b), h = ue(&b);
    uint64_t cl = 0, cr = 0, ct = 0, cb = 0;
    if (bit(&b)) {
        cl = ue(&b);
        cr = ue(&b);
        ct = ue(&b);
        cb = ue(&b);
    }
    o->bit_depth_luma = ue(&b) + 8;
    o->bit_depth_chroma = ue(&b) + 8;
    if (b.err || o->bit_depth_luma > 16 || o->bit_depth_chroma > 16)
        return FL_EMALFORMED;
    unsigned cat = sep ? 0 : o->chroma_format_idc;
    uint64_t sw = (cat == 1 || cat == 2) ? 2 : 1, sh = cat == 1 ? 2 : 1;
    uint64_t dx = sw * (cl + cr), dy = sh * (ct + cb);
    if (w == 0 || h == 0 || w > 65536 || h > 65536 || dx >= w || dy >= h)
        return FL_EMALFORMED;
    o->width = (unsigned)(w - dx);
    o->height = (unsigned)(h - dy);
    return 0;
}

int fl_nal_parse_sps(fl_nal_codec_t codec, fl_slice_t nal, fl_nal_sps_t *out)
{
    fl_nal_sps_t o;
    memset(&o, 0, sizeof o);
    o.codec = codec;
    int rc = codec == FL_NAL_H264   ? parse_h264(nal, &o)
             : codec == FL_NAL_H265 ? parse_h265(nal, &o)
                                    : FL_EINVAL;
    if (rc == 0)
        *out = o;
    return rc;
}

int fl_nal_codec_string(const fl_nal_sps_t *s, char *buf, size_t n)
{
    int k;
    if (s->codec == FL_NAL_H264) {
        k = snprintf(buf, n, "avc1.%02x%02x%02x", s->profile_idc & 0xFF, s->constraint_flags & 0xFF,
                     s->level_idc & 0xFF);
    } else if (s->codec == FL_NAL_H265) {
        /* hvc1.[A-C]?profile.compat(bit-reversed hex).(L|H)level[.constraint bytes] */
        uint32_t rev = 0;
        for (int i = 0; i < 32; i++)
            if (s->compat_flags & ((uint32_t)1 << i))
                rev |= (uint32_t)1 << (31 - i);
        const char *space = s->profile_space == 1   ? "A"
                            : s->profile_space == 2 ? "B"
                            : s->profile_space == 3 ? "C"
                                                    : "";
        k = snprintf(buf, n, "hvc1.%s%u.%X.%c%u", space, s->profile_idc, (unsigned)rev,
                     s->tier_flag ? 'H' : 'L', s->level_idc);
        int last = 5;
        while (last >= 0 && s->constraint[last] == 0)
            last--;
        for (int i = 0; i <= last && k >= 0; i++) {
            size_t used = (size_t)k < n ? (size_t)k : n;
            int m = snprintf(buf + used, n - used, ".%X", s->constraint[i]);
            k = m < 0 ? m : k + m;
        }
    } else {
        return FL_EINVAL;
    }
    if (k < 0 || (size_t)k >= n)
        return FL_ENOSPC;
    return 0;
}
