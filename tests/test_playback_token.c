/*
 * tests/test_playback_token.c — HLS session tokens (server/playback/token.h)
 * in-process: the byte format as docs/playback.md writes it (built here
 * independently and signed with libcrypto), round trips, every altered bit
 * refused, expiry, another version (the key is the server's token key's
 * subkey: tests/test_server_token.c); the cache of checked tokens answers
 * as the decoder does.
 */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/error.h"
#include "harness.h"
#include "server/playback/token.h"

/* 32 key bytes (the array holds the literal's NUL too) */
static const uint8_t key[FL_PB_KEY_BYTES + 1] = "0123456789abcdef0123456789abcdef";

static fl_pb_session_t sample(void)
{
    fl_pb_session_t s;
    memset(&s, 0, sizeof s);
    s.mode = FL_PB_ON_DEMAND;
    s.selector = FL_PB_PRODUCER_TS;
    s.container = FL_PB_TS;
    s.discontinuity = FL_PB_DISC_ON;
    s.display_ts = 1;
    s.has_start = s.has_end = 1;
    s.max_fragments = 1000;
    s.incarnation_ms = 1796392362466;
    s.start_ns = 1796392000000000000;
    s.end_ns = 1796392100000000000;
    s.issued_ms = 1796392400000;
    s.expires_ms = 1796392700000;
    snprintf(s.name, sizeof s.name, "cam-1.front_door");
    snprintf(s.key_id, sizeof s.key_id, "AKIDEXAMPLE");
    return s;
}

static void same_session(const fl_pb_session_t *a, const fl_pb_session_t *b)
{
    ck_assert_int_eq(a->mode, b->mode);
    ck_assert_int_eq(a->selector, b->selector);
    ck_assert_int_eq(a->container, b->container);
    ck_assert_int_eq(a->discontinuity, b->discontinuity);
    ck_assert_int_eq(a->display_ts, b->display_ts);
    ck_assert_int_eq(a->has_start, b->has_start);
    ck_assert_int_eq(a->has_end, b->has_end);
    ck_assert_uint_eq(a->max_fragments, b->max_fragments);
    ck_assert_int_eq(a->incarnation_ms, b->incarnation_ms);
    ck_assert_int_eq(a->start_ns, b->start_ns);
    ck_assert_int_eq(a->end_ns, b->end_ns);
    ck_assert_int_eq(a->issued_ms, b->issued_ms);
    ck_assert_int_eq(a->expires_ms, b->expires_ms);
    ck_assert_str_eq(a->name, b->name);
    ck_assert_str_eq(a->key_id, b->key_id);
}

/* base64url without padding, written here apart from token.c */
static void b64u(const uint8_t *p, size_t n, char *out)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) |
                     (i + 2 < n ? p[i + 2] : 0);
        out[o++] = a[v >> 18];
        out[o++] = a[(v >> 12) & 63];
        if (i + 1 < n)
            out[o++] = a[(v >> 6) & 63];
        if (i + 2 < n)
            out[o++] = a[v & 63];
    }
    out[o] = 0;
}

/* The documented layout of sample(), version v, signed. */
static size_t build_raw(uint8_t *raw, uint8_t version)
{
    fl_pb_session_t s = sample();
    size_t nn = strlen(s.name), kn = strlen(s.key_id);
    raw[0] = version;
    raw[1] = 3; /* ON_DEMAND */
    raw[2] = 1; /* PRODUCER_TIMESTAMP */
    raw[3] = 1; /* MPEG_TS */
    raw[4] = 2; /* ON_DISCONTINUITY */
    raw[5] = 1 | 2 | 4;
    fl_store_le16(raw + 6, 1000);
    fl_store_le64(raw + 8, (uint64_t)s.incarnation_ms);
    fl_store_le64(raw + 16, (uint64_t)s.start_ns);
    fl_store_le64(raw + 24, (uint64_t)s.end_ns);
    fl_store_le64(raw + 32, (uint64_t)s.issued_ms);
    fl_store_le64(raw + 40, (uint64_t)s.expires_ms);
    fl_store_le16(raw + 48, (uint16_t)nn);
    raw[50] = (uint8_t)kn;
    memcpy(raw + 51, s.name, nn);
    memcpy(raw + 51 + nn, s.key_id, kn);
    unsigned len = 32;
    HMAC(EVP_sha256(), key, FL_PB_KEY_BYTES, raw, 51 + nn + kn, raw + 51 + nn + kn, &len);
    return 51 + nn + kn + 32;
}

START_TEST(the_documented_bytes_are_the_token)
{
    uint8_t raw[600];
    char text[1000], enc[FL_PB_TOKEN_CAP];
    b64u(raw, build_raw(raw, 1), text);
    fl_pb_session_t s = sample(), d;
    ck_assert_int_eq(fl_pb_token_encode(key, &s, enc, sizeof enc), 0);
    ck_assert_str_eq(enc, text);
    ck_assert_int_eq(fl_pb_token_decode(key, fl_slice_str(text), s.issued_ms, &d), 0);
    same_session(&s, &d);
    /* another version, properly signed, is not this format */
    b64u(raw, build_raw(raw, 2), text);
    ck_assert_int_eq(fl_pb_token_decode(key, fl_slice_str(text), s.issued_ms, &d), FL_EVERSION);
}
END_TEST

START_TEST(every_altered_bit_is_refused)
{
    uint8_t raw[600];
    size_t n = build_raw(raw, 1);
    char text[1000];
    fl_pb_session_t d;
    for (size_t i = 0; i < n; i++)
        for (int bit = 0; bit < 8; bit++) {
            raw[i] ^= (uint8_t)(1u << bit);
            b64u(raw, n, text);
            ck_assert_int_eq(fl_pb_token_decode(key, fl_slice_str(text), 0, &d), FL_EMALFORMED);
            raw[i] ^= (uint8_t)(1u << bit);
        }
    /* cut short, lengthened, not base64url, another key */
    b64u(raw, n, text);
    size_t tl = strlen(text);
    ck_assert_int_eq(fl_pb_token_decode(key, fl_slice(text, tl - 1), 0, &d), FL_EMALFORMED);
    ck_assert_int_eq(fl_pb_token_decode(key, fl_slice(text, tl - 4), 0, &d), FL_EMALFORMED);
    char longer[1100];
    snprintf(longer, sizeof longer, "%sAAAA", text);
    ck_assert_int_eq(fl_pb_token_decode(key, fl_slice_str(longer), 0, &d), FL_EMALFORMED);
    char plus[1000];
    snprintf(plus, sizeof plus, "%s", text);
    plus[10] = '+';
    ck_assert_int_eq(fl_pb_token_decode(key, fl_slice_str(plus), 0, &d), FL_EMALFORMED);
    uint8_t other[FL_PB_KEY_BYTES];
    memcpy(other, key, sizeof other);
    other[31] ^= 1;
    ck_assert_int_eq(fl_pb_token_decode(other, fl_slice_str(text), 0, &d), FL_EMALFORMED);
    ck_assert_int_eq(fl_pb_token_decode(key, fl_slice_str(""), 0, &d), FL_EMALFORMED);
}
END_TEST

START_TEST(expiry_and_bounds)
{
    fl_pb_session_t s = sample(), d;
    char t[FL_PB_TOKEN_CAP];
    ck_assert_int_eq(fl_pb_token_encode(key, &s, t, sizeof t), 0);
    ck_assert_int_eq(fl_pb_token_decode(key, fl_slice_str(t), s.expires_ms, &d), 0);
    ck_assert_int_eq(fl_pb_token_decode(key, fl_slice_str(t), s.expires_ms + 1, &d), FL_EEXPIRED);
    /* the longest name and key id fit the cap */
    memset(s.name, 'n', FL_STREAM_NAME_MAX);
    s.name[FL_STREAM_NAME_MAX] = 0;
    memset(s.key_id, 'k', FL_PB_MAX_KEY_ID);
    s.key_id[FL_PB_MAX_KEY_ID] = 0;
    ck_assert_int_eq(fl_pb_token_encode(key, &s, t, sizeof t), 0);
    ck_assert_uint_eq(strlen(t), FL_PB_TOKEN_CAP - 1);
    ck_assert_int_eq(fl_pb_token_decode(key, fl_slice_str(t), 0, &d), 0);
    ck_assert_str_eq(d.name, s.name);
    ck_assert_str_eq(d.key_id, s.key_id);
    s.name[0] = 0;
    ck_assert_int_eq(fl_pb_token_encode(key, &s, t, sizeof t), FL_EINVAL);
    s = sample();
    s.max_fragments = 5001;
    ck_assert_int_eq(fl_pb_token_encode(key, &s, t, sizeof t), FL_EINVAL);
    s = sample();
    ck_assert_int_eq(fl_pb_token_encode(key, &s, t, 10), FL_EINVAL);
}
END_TEST

/* The cache of checked tokens answers as fl_pb_token_decode does: a
 * token seen before is answered from it (expiry checked at every use),
 * any other text is decoded (an altered token refused with the genuine
 * one cached), and many sessions evict each other without mixing up. */
START_TEST(the_token_cache_answers_as_decode_does)
{
    fl_pb_token_cache_t *c = fl_pb_token_cache_new(key);
    ck_assert_ptr_nonnull(c);
    fl_pb_session_t s = sample(), d;
    char t[FL_PB_TOKEN_CAP];
    ck_assert_int_eq(fl_pb_token_encode(key, &s, t, sizeof t), 0);
    ck_assert_int_eq(fl_pb_token_check(c, key, fl_slice_str(t), s.issued_ms, &d), 0);
    same_session(&s, &d);
    ck_assert_uint_eq(fl_pb_token_cache_hits(c), 0);
    memset(&d, 0, sizeof d);
    ck_assert_int_eq(fl_pb_token_check(c, key, fl_slice_str(t), s.expires_ms, &d), 0);
    same_session(&s, &d);
    ck_assert_uint_eq(fl_pb_token_cache_hits(c), 1);
    /* expired: from the cache too */
    ck_assert_int_eq(fl_pb_token_check(c, key, fl_slice_str(t), s.expires_ms + 1, &d), FL_EEXPIRED);
    ck_assert_uint_eq(fl_pb_token_cache_hits(c), 2);

    /* every altered bit refused while the genuine token is cached */
    uint8_t raw[600];
    size_t n = build_raw(raw, 1);
    char text[1000];
    b64u(raw, n, text);
    ck_assert_int_eq(fl_pb_token_check(c, key, fl_slice_str(text), 0, &d), 0);
    for (size_t i = 0; i < n; i++)
        for (int bit = 0; bit < 8; bit++) {
            raw[i] ^= (uint8_t)(1u << bit);
            b64u(raw, n, text);
            ck_assert_int_eq(fl_pb_token_check(c, key, fl_slice_str(text), 0, &d), FL_EMALFORMED);
            raw[i] ^= (uint8_t)(1u << bit);
        }
    b64u(raw, n, text);
    size_t tl = strlen(text);
    ck_assert_int_eq(fl_pb_token_check(c, key, fl_slice(text, tl - 1), 0, &d), FL_EMALFORMED);
    ck_assert_int_eq(fl_pb_token_check(c, key, fl_slice_str(""), 0, &d), FL_EMALFORMED);
    /* another key: the cache (made for key) is not asked */
    uint8_t other[FL_PB_KEY_BYTES];
    memcpy(other, key, sizeof other);
    other[31] ^= 1;
    ck_assert_int_eq(fl_pb_token_check(c, other, fl_slice_str(text), 0, &d), FL_EMALFORMED);
    /* an expired token is decoded (and refused) every time, never kept */
    fl_pb_session_t old = sample();
    snprintf(old.name, sizeof old.name, "another");
    char ot[FL_PB_TOKEN_CAP];
    ck_assert_int_eq(fl_pb_token_encode(key, &old, ot, sizeof ot), 0);
    uint64_t hits = fl_pb_token_cache_hits(c);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(fl_pb_token_check(c, key, fl_slice_str(ot), old.expires_ms + 1, &d),
                         FL_EEXPIRED);
    ck_assert_uint_eq(fl_pb_token_cache_hits(c), hits);

    /* many sessions: each answered as its own */
    enum { MANY = 256 }; /* (4 x FL_PB_TOKEN_CACHE_SLOTS) */
    static char many[MANY][FL_PB_TOKEN_CAP];
    for (int round = 0; round < 2; round++)
        for (int i = 0; i < MANY; i++) {
            fl_pb_session_t si = sample();
            snprintf(si.name, sizeof si.name, "stream-%d", i);
            si.max_fragments = (unsigned)(1 + i);
            if (round == 0)
                ck_assert_int_eq(fl_pb_token_encode(key, &si, many[i], sizeof many[i]), 0);
            ck_assert_int_eq(fl_pb_token_check(c, key, fl_slice_str(many[i]), si.issued_ms, &d), 0);
            same_session(&si, &d);
        }
    hits = fl_pb_token_cache_hits(c);
    ck_assert_int_eq(fl_pb_token_check(c, key, fl_slice_str(many[MANY - 1]), 0, &d), 0);
    ck_assert_str_eq(d.name, "stream-255");
    ck_assert_uint_eq(fl_pb_token_cache_hits(c), hits + 1);
    fl_pb_token_cache_free(c);
    /* no cache: decode */
    ck_assert_int_eq(fl_pb_token_check(NULL, key, fl_slice_str(t), s.issued_ms, &d), 0);
    same_session(&s, &d);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("playback_token");
    TCase *t = tcase_create("format");
    tcase_add_test(t, the_documented_bytes_are_the_token);
    tcase_add_test(t, every_altered_bit_is_refused);
    tcase_add_test(t, expiry_and_bounds);
    tcase_add_test(t, the_token_cache_answers_as_decode_does);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return fl_test_main(suite());
}
