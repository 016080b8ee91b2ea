/*
 * server/playback/token.c — see token.h: the session tokens (HMAC-SHA256
 * with OpenSSL's libcrypto, base64url) under the key the module derives
 * from the server's token key.
 */
#include "server/playback/token.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "common/base64.h"
#include "common/error.h"

/* ---- tokens ---- */

static void mac(const uint8_t key[FL_PB_KEY_BYTES], const uint8_t *p, size_t n,
                uint8_t out[FL_PB_TOKEN_MAC])
{
    unsigned len = FL_PB_TOKEN_MAC;
    HMAC(EVP_sha256(), key, FL_PB_KEY_BYTES, p, n, out, &len);
}

#define RAW_CAP (FL_PB_TOKEN_HEAD + FL_STREAM_NAME_MAX + FL_PB_MAX_KEY_ID + FL_PB_TOKEN_MAC)

int fl_pb_token_encode(const uint8_t key[FL_PB_KEY_BYTES], const fl_pb_session_t *s, char *out,
                       size_t cap)
{
    size_t nn = strlen(s->name), kn = strlen(s->key_id);
    if (nn == 0 || nn > FL_STREAM_NAME_MAX || kn > FL_PB_MAX_KEY_ID || s->max_fragments == 0 ||
        s->max_fragments > 5000 || cap < FL_PB_TOKEN_CAP)
        return FL_EINVAL;
    uint8_t raw[RAW_CAP];
    raw[0] = FL_PB_TOKEN_VERSION;
    raw[1] = (uint8_t)s->mode;
    raw[2] = (uint8_t)s->selector;
    raw[3] = (uint8_t)s->container;
    raw[4] = (uint8_t)s->discontinuity;
    raw[5] = (uint8_t)((s->display_ts ? 1 : 0) | (s->has_start ? 2 : 0) | (s->has_end ? 4 : 0) |
                       (s->dash ? 8 : 0) | (s->display_number ? 16 : 0));
    fl_store_le16(raw + 6, (uint16_t)s->max_fragments);
    fl_store_le64(raw + 8, (uint64_t)s->incarnation_ms);
    fl_store_le64(raw + 16, (uint64_t)(s->has_start ? s->start_ns : 0));
    fl_store_le64(raw + 24, (uint64_t)(s->has_end ? s->end_ns : 0));
    fl_store_le64(raw + 32, (uint64_t)s->issued_ms);
    fl_store_le64(raw + 40, (uint64_t)s->expires_ms);
    fl_store_le16(raw + 48, (uint16_t)nn);
    raw[50] = (uint8_t)kn;
    memcpy(raw + FL_PB_TOKEN_HEAD, s->name, nn);
    memcpy(raw + FL_PB_TOKEN_HEAD + nn, s->key_id, kn);
    size_t body = FL_PB_TOKEN_HEAD + nn + kn;
    mac(key, raw, body, raw + body);
    fl_buf_t text;
    fl_buf_init(&text, cap);
    fl_base64url_encode(&text, fl_slice(raw, body + FL_PB_TOKEN_MAC));
    fl_buf_u8(&text, 0);
    int rc = text.err ? FL_ENOMEM : 0;
    if (!rc)
        memcpy(out, text.p, text.n);
    fl_buf_free(&text);
    return rc;
}

int fl_pb_token_decode(const uint8_t key[FL_PB_KEY_BYTES], fl_slice_t text, int64_t now_ms,
                       fl_pb_session_t *out)
{
    uint8_t raw[RAW_CAP], want[FL_PB_TOKEN_MAC];
    if (text.n > (RAW_CAP * 4 + 2) / 3)
        return FL_EMALFORMED; /* longer than any token */
    fl_buf_t b;
    fl_buf_init(&b, sizeof raw);
    int rc = fl_base64url_decode(&b, text);
    size_t n = b.n;
    if (!rc && n) /* b.p is NULL when nothing was decoded */
        memcpy(raw, b.p, n);
    fl_buf_free(&b);
    if (rc == FL_ENOMEM)
        return rc;
    if (rc || n < FL_PB_TOKEN_HEAD + 1 + FL_PB_TOKEN_MAC)
        return FL_EMALFORMED;
    size_t nn = fl_load_le16(raw + 48), kn = raw[50];
    if (nn == 0 || nn > FL_STREAM_NAME_MAX || kn > FL_PB_MAX_KEY_ID ||
        n != FL_PB_TOKEN_HEAD + nn + kn + FL_PB_TOKEN_MAC)
        return FL_EMALFORMED;
    size_t body = FL_PB_TOKEN_HEAD + nn + kn;
    /* the tag first, in constant time: nothing of an unauthenticated
     * token is believed, not even its version */
    mac(key, raw, body, want);
    if (CRYPTO_memcmp(want, raw + body, FL_PB_TOKEN_MAC) != 0)
        return FL_EMALFORMED;
    if (raw[0] != FL_PB_TOKEN_VERSION)
        return FL_EVERSION;
    if (raw[1] < FL_PB_LIVE || raw[1] > FL_PB_ON_DEMAND || raw[2] > 1 || raw[3] > 1 || raw[4] > 2 ||
        raw[5] > 31)
        return FL_EMALFORMED;
    memset(out, 0, sizeof *out);
    out->mode = (fl_pb_mode_t)raw[1];
    out->selector = (fl_pb_selector_t)raw[2];
    out->container = (fl_pb_container_t)raw[3];
    out->discontinuity = (fl_pb_disc_t)raw[4];
    out->display_ts = raw[5] & 1;
    out->has_start = (raw[5] >> 1) & 1;
    out->has_end = (raw[5] >> 2) & 1;
    out->dash = (raw[5] >> 3) & 1;
    out->display_number = (raw[5] >> 4) & 1;
    out->max_fragments = fl_load_le16(raw + 6);
    out->incarnation_ms = (int64_t)fl_load_le64(raw + 8);
    out->start_ns = (int64_t)fl_load_le64(raw + 16);
    out->end_ns = (int64_t)fl_load_le64(raw + 24);
    out->issued_ms = (int64_t)fl_load_le64(raw + 32);
    out->expires_ms = (int64_t)fl_load_le64(raw + 40);
    memcpy(out->name, raw + FL_PB_TOKEN_HEAD, nn);
    out->name[nn] = 0;
    memcpy(out->key_id, raw + FL_PB_TOKEN_HEAD + nn, kn);
    out->key_id[kn] = 0;
    /* only what fl_pb_token_encode writes: one text per session */
    const char *why;
    int bad =
        out->max_fragments == 0 || out->max_fragments > 5000 ||
        (!out->has_start && out->start_ns) || (!out->has_end && out->end_ns) ||
        (out->display_number && !out->dash) ||
        (out->dash && (out->container != FL_PB_FMP4 || out->discontinuity != FL_PB_DISC_NEVER)) ||
        fl_valid_stream_name(fl_slice(out->name, nn), &why) != 0;
    for (size_t i = 0; i < kn; i++)
        bad |= out->key_id[i] <= ' ' || out->key_id[i] > '~';
    if (bad)
        return FL_EMALFORMED;
    if (now_ms > out->expires_ms)
        return FL_EEXPIRED;
    return 0;
}

/* ---- the cache of checked tokens ---- */

typedef struct {
    size_t n; /* 0: empty */
    char text[FL_PB_TOKEN_CAP];
    fl_pb_session_t s;
} tc_entry_t;

struct fl_pb_token_cache {
    uint8_t key[FL_PB_KEY_BYTES];
    _Atomic uint64_t hits; /* (read by /metrics on any loop) */
    tc_entry_t e[FL_PB_TOKEN_CACHE_SLOTS];
};

fl_pb_token_cache_t *fl_pb_token_cache_new(const uint8_t key[FL_PB_KEY_BYTES])
{
    fl_pb_token_cache_t *c = calloc(1, sizeof *c);
    if (c)
        memcpy(c->key, key, FL_PB_KEY_BYTES);
    return c;
}

void fl_pb_token_cache_free(fl_pb_token_cache_t *c)
{
    if (!c)
        return;
    OPENSSL_cleanse(c, sizeof *c);
    free(c);
}

uint64_t fl_pb_token_cache_hits(const fl_pb_token_cache_t *c)
{
    return c ? c->hits : 0;
}

static size_t tc_slot(fl_slice_t text)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < text.n; i++) {
        h ^= text.p[i];
        h *= 1099511628211ULL;
    }
    return (size_t)(h % FL_PB_TOKEN_CACHE_SLOTS);
}

int fl_pb_token_check(fl_pb_token_cache_t *c, const uint8_t key[FL_PB_KEY_BYTES], fl_slice_t text,
                      int64_t now_ms, fl_pb_session_t *out)
{
    if (!c || memcmp(c->key, key, FL_PB_KEY_BYTES) != 0 || text.n == 0 || text.n >= FL_PB_TOKEN_CAP)
        return fl_pb_token_decode(key, text, now_ms, out);
    tc_entry_t *e = &c->e[tc_slot(text)];
    if (e->n == text.n && memcmp(e->text, text.p, text.n) == 0) {
        *out = e->s;
        c->hits++;
        return now_ms > out->expires_ms ? FL_EEXPIRED : 0;
    }
    int rc = fl_pb_token_decode(key, text, now_ms, out);
    if (rc == 0) {
        memcpy(e->text, text.p, text.n);
        e->n = text.n;
        e->s = *out;
    }
    return rc;
}
