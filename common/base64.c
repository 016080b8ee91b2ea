/*
 * common/base64.c — see base64.h.
 */
#include "common/base64.h"

#include "common/error.h"

static const char fl_b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char fl_b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Append the encoding of s in alphabet a; the last group padded with '='
 * to four characters when pad, else cut after its last character. */
static void encode(fl_buf_t *b, fl_slice_t s, const char a[64], int pad)
{
    size_t i = 0;
    char q[4];
    for (; i + 3 <= s.n; i += 3) {
        uint32_t v = (uint32_t)s.p[i] << 16 | (uint32_t)s.p[i + 1] << 8 | s.p[i + 2];
        q[0] = a[v >> 18];
        q[1] = a[(v >> 12) & 63];
        q[2] = a[(v >> 6) & 63];
        q[3] = a[v & 63];
        fl_buf_append(b, q, 4);
    }
    if (i < s.n) {
        int two = i + 1 < s.n; /* two bytes left, else one */
        uint32_t v = (uint32_t)s.p[i] << 16 | (two ? (uint32_t)s.p[i + 1] << 8 : 0);
        q[0] = a[v >> 18];
        q[1] = a[(v >> 12) & 63];
        q[2] = two ? a[(v >> 6) & 63] : '=';
        q[3] = '=';
        fl_buf_append(b, q, pad ? 4 : two ? 3 : 2);
    }
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

int fl_base64_decode(fl_buf_t *b, fl_slice_t s)
{
    if (s.n % 4)
        return FL_EMALFORMED;
    for (size_t i = 0; i < s.n; i += 4) {
        int last = i + 4 == s.n;
        int v[4];
        int pad = 0;
        for (int k = 0; k < 4; k++) {
            uint8_t c = s.p[i + (size_t)k];
            if (c == '=' && last && k >= 2) {
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
        uint32_t x =
            (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        /* canonical: the bits under the padding are zero */
        if ((pad == 1 && (x & 0xff)) || (pad == 2 && (x & 0xffff)))
            return FL_EMALFORMED;
        uint8_t out[3] = {(uint8_t)(x >> 16), (uint8_t)(x >> 8), (uint8_t)x};
        fl_buf_append(b, out, (size_t)(3 - pad));
    }
    return b->err;
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
