/*
 * server/fragment.c — see fragment.h.
 */
#include "server/video/fragment.h"

#include <string.h>

#include "common/error.h"

void fl_fragment_header(uint8_t out[FL_FRAGMENT_HEADER], const fl_fragment_t *f)
{
    out[0] = FL_FRAGMENT_VERSION;
    out[1] = f->flags;
    fl_store_le16(out + 2, f->n_tracks);
    fl_store_le32(out + 4, f->duration_ms);
    fl_store_le32(out + 8, f->n_frames);
    fl_store_le32(out + 12, (uint32_t)f->tracks.n);
    fl_store_le32(out + 16, (uint32_t)f->tags.n);
    fl_store_le32(out + 20, (uint32_t)f->cluster.n);
}

void fl_fragment_encode(fl_buf_t *b, const fl_fragment_t *f)
{
    uint8_t h[FL_FRAGMENT_HEADER];
    fl_fragment_header(h, f);
    fl_buf_append(b, h, sizeof h);
    fl_buf_append(b, f->tracks.p, f->tracks.n);
    fl_buf_append(b, f->tags.p, f->tags.n);
    fl_buf_append(b, f->cluster.p, f->cluster.n);
}

int fl_fragment_decode(fl_slice_t rec, fl_fragment_t *out)
{
    fl_reader_t r;
    fl_reader_init(&r, rec);
    uint8_t version = fl_reader_u8(&r);
    if (!r.err && version != FL_FRAGMENT_VERSION)
        return FL_EVERSION;
    out->flags = fl_reader_u8(&r);
    out->n_tracks = fl_reader_le16(&r);
    out->duration_ms = fl_reader_le32(&r);
    out->n_frames = fl_reader_le32(&r);
    uint32_t t = fl_reader_le32(&r), g = fl_reader_le32(&r), c = fl_reader_le32(&r);
    out->tracks = fl_reader_take(&r, t);
    out->tags = fl_reader_take(&r, g);
    out->cluster = fl_reader_take(&r, c);
    if (r.err || fl_reader_left(&r) != 0 || t == 0 || c == 0)
        return FL_EMALFORMED;
    return 0;
}

void fl_fragment_number(uint64_t log_id, uint64_t seq, char *buf, size_t cap)
{
    unsigned __int128 v = (unsigned __int128)log_id << 64 | seq;
    char tmp[FL_FRAGMENT_NUMBER_CAP];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + (int)(v % 10));
        v /= 10;
    } while (v);
    if (n + 1 > cap) {
        if (cap)
            buf[0] = 0;
        return;
    }
    for (size_t i = 0; i < n; i++)
        buf[i] = tmp[n - 1 - i];
    buf[n] = 0;
}

int fl_fragment_number_parse(const char *s, uint64_t *log_id, uint64_t *seq)
{
    unsigned __int128 v = 0;
    const unsigned __int128 max = ~(unsigned __int128)0;
    size_t n = strlen(s);
    if (n == 0 || n > 39)
        return FL_EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return FL_EINVAL;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (max - d) / 10)
            return FL_EINVAL;
        v = v * 10 + d;
    }
    *log_id = (uint64_t)(v >> 64);
    *seq = (uint64_t)v;
    return 0;
}
