/*
 * media/nal.c — NAL unit framing: Annex-B start codes and length prefixes,
 * NAL types and key-frame detection (see nal.h for the byte layouts).
 *
 * Annex-B scanning looks for 00 00 01; a fourth leading zero (00 00 00 01)
 * and any trailing zero bytes before the next start code belong to no NAL
 * unit (trailing_zero_8bits) and are dropped. Empty NAL units are skipped.
 */
#include <string.h>

#include "common/error.h"
#include "media/nal.h"

/* Offset of the next 00 00 01 at or after i, or n. */
static size_t find_start(const uint8_t *p, size_t n, size_t i)
{
    while (i + 2 < n) {
        const uint8_t *q = memchr(p + i + 2, 1, n - i - 2);
        if (!q)
            return n;
        size_t j = (size_t)(q - p);
        if (p[j - 1] == 0 && p[j - 2] == 0)
            return j - 2;
        i = j - 1;
    }
    return n;
}

int fl_nal_annexb_next(fl_slice_t buf, size_t *pos, fl_slice_t *nal)
{
    size_t i = *pos;
    for (;;) {
        if (i >= buf.n) {
            *pos = buf.n;
            return FL_EEOF;
        }
        size_t s = find_start(buf.p, buf.n, i);
        if (s >= buf.n) {
            if (i == 0) { /* no start code at all: the whole buffer */
                s = 0;
            } else {
                *pos = buf.n;
                return FL_EEOF;
            }
        } else {
            s += 3;
        }
        size_t e = find_start(buf.p, buf.n, s);
        size_t end = e;
        while (end > s && buf.p[end - 1] == 0)
            end--;
        *pos = e;
        i = e;
        if (end > s) {
            *nal = fl_slice(buf.p + s, end - s);
            return 0;
        }
        if (e >= buf.n) {
            *pos = buf.n;
            return FL_EEOF;
        }
    }
}

int fl_nal_lp_next(fl_slice_t buf, unsigned len_size, size_t *pos, fl_slice_t *nal)
{
    if (len_size != 1 && len_size != 2 && len_size != 4)
        return FL_EINVAL;
    if (*pos >= buf.n)
        return FL_EEOF;
    fl_reader_t r;
    fl_reader_init(&r, fl_slice(buf.p + *pos, buf.n - *pos));
    uint32_t len = len_size == 1   ? fl_reader_u8(&r)
                   : len_size == 2 ? fl_reader_be16(&r)
                                   : fl_reader_be32(&r);
    fl_slice_t s = fl_reader_take(&r, len);
    if (r.err)
        return FL_EMALFORMED;
    *pos += r.off;
    *nal = s;
    return 0;
}

int fl_nal_annexb_to_lp(fl_slice_t in, unsigned len_size, fl_buf_t *out)
{
    if (len_size != 1 && len_size != 2 && len_size != 4)
        return FL_EINVAL;
    size_t pos = 0;
    fl_slice_t nal;
    while (fl_nal_annexb_next(in, &pos, &nal) == 0) {
        if (len_size < 4 && nal.n >= ((size_t)1 << (8 * len_size)))
            return FL_ELIMIT;
        if (nal.n > UINT32_MAX)
            return FL_ELIMIT;
        if (len_size == 1)
            fl_buf_u8(out, (uint8_t)nal.n);
        else if (len_size == 2)
            fl_buf_be16(out, (uint16_t)nal.n);
        else
            fl_buf_be32(out, (uint32_t)nal.n);
        fl_buf_append(out, nal.p, nal.n);
    }
    return out->err;
}

int fl_nal_lp_to_annexb(fl_slice_t in, unsigned len_size, fl_buf_t *out)
{
    static const uint8_t sc[4] = {0, 0, 0, 1};
    size_t pos = 0;
    fl_slice_t nal;
    int rc;
    while ((rc = fl_nal_lp_next(in, len_size, &pos, &nal)) == 0) {
        fl_buf_append(out, sc, 4);
        fl_buf_append(out, nal.p, nal.n);
    }
    if (rc != FL_EEOF)
        return rc;
    return out->err;
}

int fl_nal_type(fl_nal_codec_t codec, fl_slice_t nal)
{
    if (codec == FL_NAL_H264)
        return nal.n >= 1 && !(nal.p[0] & 0x80) ? nal.p[0] & 0x1F : FL_EMALFORMED;
    if (codec == FL_NAL_H265)
        return nal.n >= 2 && !(nal.p[0] & 0x80) ? (nal.p[0] >> 1) & 0x3F : FL_EMALFORMED;
    return FL_EINVAL;
}

int fl_nal_next(fl_slice_t buf, unsigned len_size, size_t *pos, fl_slice_t *nal)
{
    return len_size ? fl_nal_lp_next(buf, len_size, pos, nal) : fl_nal_annexb_next(buf, pos, nal);
}

int fl_nal_walk_init(fl_nal_walk_t *w, fl_nal_codec_t codec, fl_slice_t buf, unsigned len_size)
{
    if (codec != FL_NAL_H264 && codec != FL_NAL_H265)
        return FL_EINVAL;
    w->codec = codec;
    w->buf = buf;
    w->len_size = len_size;
    w->pos = 0;
    return 0;
}

int fl_nal_walk_next(fl_nal_walk_t *w, fl_slice_t *nal, int *type)
{
    int rc = fl_nal_next(w->buf, w->len_size, &w->pos, nal);
    if (rc == 0)
        *type = fl_nal_type(w->codec, *nal);
    return rc;
}

int fl_nal_is_keyframe(fl_nal_codec_t codec, fl_slice_t au, unsigned len_size)
{
    fl_nal_walk_t w;
    fl_slice_t nal;
    int t, rc = fl_nal_walk_init(&w, codec, au, len_size);
    if (rc)
        return rc;
    while ((rc = fl_nal_walk_next(&w, &nal, &t)) == 0)
        if ((codec == FL_NAL_H264 && t == 5) || (codec == FL_NAL_H265 && t >= 16 && t <= 21))
            return 1;
    return rc == FL_EEOF ? 0 : rc;
}
