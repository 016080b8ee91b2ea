/*
 * common/base64.c — see base64.h.
 */
#include "common/base64.h"

#include "common/error.h"

static const char fl_b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char fl_b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Append the encoding of s in alphabet a; the last group padded with '='
 * to four characters when pad, else cut after its last character. The
 * room is reserved once and written in place (GetRecords encodes 10 MiB
 * per answer). */
static void encode(fl_buf_t *b, fl_slice_t s, const char a[64], int pad)
{
    size_t need = (s.n + 2) / 3 * 4;
    if (!s.n || fl_buf_reserve(b, need))
        return;
    uint8_t *o = b->p + b->n;
    size_t i = 0;
    for (; i + 3 <= s.n; i += 3) {
        uint32_t v = (uint32_t)s.p[i] << 16 | (uint32_t)s.p[i + 1] << 8 | s.p[i + 2];
        o[0] = (uint8_t)a[v >> 18];
        o[1] = (uint8_t)a[(v >> 12) & 63];
        o[2] = (uint8_t)a[(v >> 6) & 63];
        o[3] = (uint8_t)a[v & 63];
        o += 4;
    }
    if (i < s.n) {
        int two = i + 1 < s.n; /* two bytes left, else one */
        uint32_t v = (uint32_t)s.p[i] << 16 | (two ? (uint32_t)s.p[i + 1] << 8 : 0);
        o[0] = (uint8_t)a[v >> 18];
        o[1] = (uint8_t)a[(v >> 12) & 63];
        o[2] = two ? (uint8_t)a[(v >> 6) & 63] : '=';
        o[3] = '=';
        o += pad ? 4 : two ? 3 : 2;
    }
    b->n = (size_t)(o - b->p);
}

void fl_base64_encode(fl_buf_t *b, fl_slice_t s)
{
    encode(b, s, fl_b64, 1);
}

void fl_base64url_encode(fl_buf_t *b, fl_slice_t s)
{
    encode(b, s, fl_b64url, 0);
}

/* The value of c in the standard alphabet (url 0) or the url one, or -1. */
static int b64val(uint8_t c, int url)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == (url ? '-' : '+'))
        return 62;
    if (c == (url ? '_' : '/'))
        return 63;
    return -1;
}

/* The standard alphabet's values, -1 elsewhere. */
static const int8_t dec_table[256] = {
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 62, -1, -1, -1, 63,
    52, 53, 54, 55, 56, 57, 58, 59, 60, 61, -1, -1, -1, -1, -1, -1, -1, 0,  1,  2,  3,  4,  5,  6,
    7,  8,  9,  10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, -1, -1, -1, -1, -1,
    -1, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48,
    49, 50, 51, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
};

/* The last group (may hold padding), appended to b. */
static int decode_last(fl_buf_t *b, const uint8_t *q)
{
    int v[4];
    int pad = 0;
    for (int k = 0; k < 4; k++) {
        uint8_t c = q[k];
        if (c == '=' && k >= 2) {
            v[k] = 0;
            pad++;
            continue;
        }
        if (pad) /* data after padding */
            return FL_EMALFORMED;
        v[k] = b64val(c, 0);
        if (v[k] < 0)
            return FL_EMALFORMED;
    }
    uint32_t x = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
    /* canonical: the bits under the padding are zero */
    if ((pad == 1 && (x & 0xff)) || (pad == 2 && (x & 0xffff)))
        return FL_EMALFORMED;
    uint8_t out[3] = {(uint8_t)(x >> 16), (uint8_t)(x >> 8), (uint8_t)x};
    fl_buf_append(b, out, (size_t)(3 - pad));
    return 0;
}

int fl_base64_decode(fl_buf_t *b, fl_slice_t s)
{
    if (s.n % 4)
        return FL_EMALFORMED;
    if (!s.n)
        return b->err;
    const int8_t *t = dec_table;
    size_t full = s.n / 4 - 1; /* groups before the last */
    if (b->err)
        return b->err;
    if (b->max && full * 3 + 3 > b->max - (b->n < b->max ? b->n : b->max)) {
        /* may not fit: group by group up to the cap (b's error says) */
        for (size_t i = 0; i < full; i++) {
            const uint8_t *q = s.p + 4 * i;
            int v0 = t[q[0]], v1 = t[q[1]], v2 = t[q[2]], v3 = t[q[3]];
            if ((v0 | v1 | v2 | v3) < 0)
                return FL_EMALFORMED;
            uint32_t x = (uint32_t)v0 << 18 | (uint32_t)v1 << 12 | (uint32_t)v2 << 6 | (uint32_t)v3;
            uint8_t out[3] = {(uint8_t)(x >> 16), (uint8_t)(x >> 8), (uint8_t)x};
            fl_buf_append(b, out, 3);
        }
    } else {
        if (fl_buf_reserve(b, full * 3 + 3))
            return b->err;
        uint8_t *o = b->p + b->n;
        for (size_t i = 0; i < full; i++) {
            const uint8_t *q = s.p + 4 * i;
            int v0 = t[q[0]], v1 = t[q[1]], v2 = t[q[2]], v3 = t[q[3]];
            if ((v0 | v1 | v2 | v3) < 0) {
                b->n = (size_t)(o - b->p);
                return FL_EMALFORMED;
            }
            uint32_t x = (uint32_t)v0 << 18 | (uint32_t)v1 << 12 | (uint32_t)v2 << 6 | (uint32_t)v3;
            o[0] = (uint8_t)(x >> 16);
            o[1] = (uint8_t)(x >> 8);
            o[2] = (uint8_t)x;
            o += 3;
        }
        b->n = (size_t)(o - b->p);
    }
    int rc = decode_last(b, s.p + s.n - 4);
    return rc ? rc : b->err;
}

int fl_base64url_decode(fl_buf_t *b, fl_slice_t s)
{
    if (s.n % 4 == 1) /* six bits cannot end a byte */
        return FL_EMALFORMED;
    uint32_t acc = 0; /* the bits not yet written, `bits` of them */
    int bits = 0;
    for (size_t i = 0; i < s.n; i++) {
        int v = b64val(s.p[i], 1);
        if (v < 0)
            return FL_EMALFORMED;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            fl_buf_u8(b, (uint8_t)(acc >> bits));
            acc &= (1u << bits) - 1;
        }
    }
    if (acc) /* non-zero leftover bits: not canonical */
        return FL_EMALFORMED;
    return b->err;
}
