/*
 * common/base64.c — see base64.h.
 *
 * Decoding 4 characters to 3 bytes goes 16 characters at a time with SSSE3
 * where the CPU has it (x86-64, checked once at run time; Kinesis' PutRecords
 * decodes up to 5 MiB a call): the classic nibble-table check and shift
 * (Muła and Lemire's method), which stops at the first block holding any
 * character outside the alphabet and leaves that block and the rest to the
 * table-driven loop, so errors and padding are found where they always
 * were. Encoding (GetRecords writes up to 10 MiB an answer) goes 12 bytes
 * to 16 characters at a time the same way, in the standard alphabet. Where
 * the CPU has AVX2 both go twice as wide first (the same steps in each
 * 128-bit lane: 32 characters to 24 bytes, 24 bytes to 32 characters) and
 * the SSSE3 code takes what is left. All ways give the same text and bytes: tests/test_common.c
 * compares them with plain loops, and so does tests/fuzz/fuzz_base64.c.
 */
#include "common/base64.h"

#include "common/error.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define FL_B64_SSSE3 1

/* Decode whole blocks of 16 characters of src (n of them) into dst, as
 * long as they are all of the standard alphabet and dst has room for 16
 * bytes (12 are kept) in room: the characters consumed (a multiple of 16). */
__attribute__((target("ssse3"))) static size_t decode_ssse3(const uint8_t *src, size_t n,
                                                            uint8_t *dst, size_t room)
{
    const __m128i lut_lo = _mm_setr_epi8(0x15, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11,
                                         0x13, 0x1A, 0x1B, 0x1B, 0x1B, 0x1A);
    const __m128i lut_hi = _mm_setr_epi8(0x10, 0x10, 0x01, 0x02, 0x04, 0x08, 0x04, 0x08, 0x10, 0x10,
                                         0x10, 0x10, 0x10, 0x10, 0x10, 0x10);
    const __m128i lut_roll =
        _mm_setr_epi8(0, 16, 19, 4, -65, -65, -71, -71, 0, 0, 0, 0, 0, 0, 0, 0);
    const __m128i mask_2f = _mm_set1_epi8(0x2f);
    const __m128i pack = _mm_setr_epi8(2, 1, 0, 6, 5, 4, 10, 9, 8, 14, 13, 12, -1, -1, -1, -1);
    size_t i = 0;
    for (; i + 16 <= n && room >= 16; i += 16, dst += 12, room -= 12) {
        __m128i v = _mm_loadu_si128((const __m128i *)(src + i));
        __m128i hi_nib = _mm_and_si128(_mm_srli_epi32(v, 4), mask_2f);
        __m128i lo_nib = _mm_and_si128(v, mask_2f);
        __m128i hi = _mm_shuffle_epi8(lut_hi, hi_nib);
        __m128i lo = _mm_shuffle_epi8(lut_lo, lo_nib);
        if (_mm_movemask_epi8(_mm_cmpgt_epi8(_mm_and_si128(lo, hi), _mm_setzero_si128())))
            break; /* a character outside the alphabet ('=' too): the table loop's */
        __m128i roll = _mm_shuffle_epi8(lut_roll, _mm_add_epi8(_mm_cmpeq_epi8(v, mask_2f), hi_nib));
        v = _mm_add_epi8(v, roll); /* each character's 6 bits */
        v = _mm_maddubs_epi16(v, _mm_set1_epi32(0x01400140));
        v = _mm_madd_epi16(v, _mm_set1_epi32(0x00011000));
        _mm_storeu_si128((__m128i *)dst, _mm_shuffle_epi8(v, pack));
    }
    return i;
}

/* Encode whole groups of 12 bytes of src (n of them; each load reads 16,
 * so only while 16 are there) into dst, in the standard alphabet: the
 * bytes consumed (a multiple of 12). */
__attribute__((target("ssse3"))) static size_t encode_ssse3(const uint8_t *src, size_t n,
                                                            uint8_t *dst)
{
    const __m128i spread = _mm_set_epi8(10, 11, 9, 10, 7, 8, 6, 7, 4, 5, 3, 4, 1, 2, 0, 1);
    const __m128i lut =
        _mm_setr_epi8(65, 71, -4, -4, -4, -4, -4, -4, -4, -4, -4, -4, -19, -16, 0, 0);
    size_t i = 0;
    for (; i + 16 <= n; i += 12, dst += 16) {
        __m128i v = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(src + i)), spread);
        /* each 3 bytes to four 6-bit values, one a byte */
        __m128i t0 = _mm_mulhi_epu16(_mm_and_si128(v, _mm_set1_epi32(0x0FC0FC00)),
                                     _mm_set1_epi32(0x04000040));
        __m128i t1 = _mm_mullo_epi16(_mm_and_si128(v, _mm_set1_epi32(0x003F03F0)),
                                     _mm_set1_epi32(0x01000010));
        v = _mm_or_si128(t0, t1);
        /* 0..63 to the alphabet: an offset by range */
        __m128i idx = _mm_subs_epu8(v, _mm_set1_epi8(51));
        idx = _mm_sub_epi8(idx, _mm_cmpgt_epi8(v, _mm_set1_epi8(25)));
        _mm_storeu_si128((__m128i *)dst, _mm_add_epi8(v, _mm_shuffle_epi8(lut, idx)));
    }
    return i;
}

/* decode_ssse3 32 characters at a time: each lane decodes 16 to 12
 * bytes, and the two 12s are packed together (room: 32 bytes, 24 kept). */
__attribute__((target("avx2"))) static size_t decode_avx2(const uint8_t *src, size_t n,
                                                          uint8_t *dst, size_t room)
{
    const __m256i lut_lo =
        _mm256_setr_epi8(0x15, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x13, 0x1A,
                         0x1B, 0x1B, 0x1B, 0x1A, 0x15, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11,
                         0x11, 0x11, 0x13, 0x1A, 0x1B, 0x1B, 0x1B, 0x1A);
    const __m256i lut_hi =
        _mm256_setr_epi8(0x10, 0x10, 0x01, 0x02, 0x04, 0x08, 0x04, 0x08, 0x10, 0x10, 0x10, 0x10,
                         0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x01, 0x02, 0x04, 0x08, 0x04, 0x08,
                         0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10);
    const __m256i lut_roll =
        _mm256_setr_epi8(0, 16, 19, 4, -65, -65, -71, -71, 0, 0, 0, 0, 0, 0, 0, 0, 0, 16, 19, 4,
                         -65, -65, -71, -71, 0, 0, 0, 0, 0, 0, 0, 0);
    const __m256i mask_2f = _mm256_set1_epi8(0x2f);
    const __m256i pack = _mm256_setr_epi8(2, 1, 0, 6, 5, 4, 10, 9, 8, 14, 13, 12, -1, -1, -1, -1, 2,
                                          1, 0, 6, 5, 4, 10, 9, 8, 14, 13, 12, -1, -1, -1, -1);
    const __m256i join = _mm256_setr_epi32(0, 1, 2, 4, 5, 6, 3, 7); /* the 12s side by side */
    size_t i = 0;
    for (; i + 32 <= n && room >= 32; i += 32, dst += 24, room -= 24) {
        __m256i v = _mm256_loadu_si256((const __m256i *)(src + i));
        __m256i hi_nib = _mm256_and_si256(_mm256_srli_epi32(v, 4), mask_2f);
        __m256i lo_nib = _mm256_and_si256(v, mask_2f);
        __m256i hi = _mm256_shuffle_epi8(lut_hi, hi_nib);
        __m256i lo = _mm256_shuffle_epi8(lut_lo, lo_nib);
        if (!_mm256_testz_si256(lo, hi))
            break; /* a character outside the alphabet: the narrower code's */
        __m256i roll =
            _mm256_shuffle_epi8(lut_roll, _mm256_add_epi8(_mm256_cmpeq_epi8(v, mask_2f), hi_nib));
        v = _mm256_add_epi8(v, roll);
        v = _mm256_maddubs_epi16(v, _mm256_set1_epi32(0x01400140));
        v = _mm256_madd_epi16(v, _mm256_set1_epi32(0x00011000));
        v = _mm256_permutevar8x32_epi32(_mm256_shuffle_epi8(v, pack), join);
        _mm256_storeu_si256((__m256i *)dst, v);
    }
    return i;
}

/* encode_ssse3 24 bytes at a time: 12 into each lane (two loads of 16,
 * so only while 28 are there). */
__attribute__((target("avx2"))) static size_t encode_avx2(const uint8_t *src, size_t n,
                                                          uint8_t *dst)
{
    const __m256i spread = _mm256_set_epi8(10, 11, 9, 10, 7, 8, 6, 7, 4, 5, 3, 4, 1, 2, 0, 1, 10,
                                           11, 9, 10, 7, 8, 6, 7, 4, 5, 3, 4, 1, 2, 0, 1);
    const __m256i lut =
        _mm256_setr_epi8(65, 71, -4, -4, -4, -4, -4, -4, -4, -4, -4, -4, -19, -16, 0, 0, 65, 71, -4,
                         -4, -4, -4, -4, -4, -4, -4, -4, -4, -19, -16, 0, 0);
    size_t i = 0;
    for (; i + 28 <= n; i += 24, dst += 32) {
        __m256i v = _mm256_inserti128_si256(
            _mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)(src + i))),
            _mm_loadu_si128((const __m128i *)(src + i + 12)), 1);
        v = _mm256_shuffle_epi8(v, spread);
        __m256i t0 = _mm256_mulhi_epu16(_mm256_and_si256(v, _mm256_set1_epi32(0x0FC0FC00)),
                                        _mm256_set1_epi32(0x04000040));
        __m256i t1 = _mm256_mullo_epi16(_mm256_and_si256(v, _mm256_set1_epi32(0x003F03F0)),
                                        _mm256_set1_epi32(0x01000010));
        v = _mm256_or_si256(t0, t1);
        __m256i idx = _mm256_subs_epu8(v, _mm256_set1_epi8(51));
        idx = _mm256_sub_epi8(idx, _mm256_cmpgt_epi8(v, _mm256_set1_epi8(25)));
        _mm256_storeu_si256((__m256i *)dst, _mm256_add_epi8(v, _mm256_shuffle_epi8(lut, idx)));
    }
    return i;
}

static int have_avx2(void)
{
    static int known = -1; /* a race only computes it twice */
    if (known < 0)
        known = __builtin_cpu_supports("avx2") ? 1 : 0;
    return known;
}

static int have_ssse3(void)
{
    static int known = -1; /* a race only computes it twice */
    if (known < 0)
        known = __builtin_cpu_supports("ssse3") ? 1 : 0;
    return known;
}
#endif

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
#ifdef FL_B64_SSSE3
    if (a == fl_b64 && s.n >= 28 && have_avx2()) {
        i = encode_avx2(s.p, s.n, o);
        o += i / 3 * 4;
    }
    if (a == fl_b64 && s.n - i >= 16 && have_ssse3()) {
        size_t k = encode_ssse3(s.p + i, s.n - i, o);
        o += k / 3 * 4;
        i += k;
    }
#endif
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
        size_t i = 0;
#ifdef FL_B64_SSSE3
        if (full >= 8 && have_avx2()) {
            size_t done = decode_avx2(s.p, full * 4, o, b->cap - b->n);
            o += done / 4 * 3;
            i = done / 4;
        }
        if (full - i >= 4 && have_ssse3()) {
            size_t done = decode_ssse3(s.p + 4 * i, (full - i) * 4, o, b->cap - (size_t)(o - b->p));
            o += done / 4 * 3;
            i += done / 4;
        }
#endif
        for (; i < full; i++) {
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
