/*
 * storage/chunk.c — the chunk: the unit of I/O, integrity and encryption.
 *
 * A chunk holds one or more consecutive records of one shard, sealed with
 * AES-256-GCM under the log's data key. Its header is in the clear and is
 * authenticated as AAD, so a scan can find chunk boundaries without the key
 * and any change to header or body fails the tag.
 *
 * Chunk on disk (little-endian), FL_CHUNK_HDR = 80 bytes of header:
 *   0   4  magic "FLCK"
 *   4   1  version = 1
 *   5   1  flags = 0
 *   6   2  zero
 *   8   4  shard id
 *  12   4  record count (>= 1)
 *  16   8  first sequence number; record i has first + i
 *  24   8  server ts of the first record (ns; server ts never decrease)
 *  32   8  server ts of the last record
 *  40   8  smallest producer ts in the chunk
 *  48   8  largest producer ts in the chunk
 *  56   4  body length B (ciphertext bytes, = plaintext bytes)
 *  60  12  GCM nonce: store epoch (u32 BE) || per-log counter (u64 BE)
 *  72   4  zero
 *  76   4  CRC-32C of bytes 0..75 (lets a scan reject noise cheaply)
 *  80   B  ciphertext of the records
 *  80+B 16 GCM tag
 * AAD = bytes 0..79 || log id (u64 LE).
 *
 * Nonces never repeat under one key: the epoch is bumped durably in the
 * catalog at every store open before any chunk is sealed, and the counter
 * only grows within an open, so (epoch, counter) is unique per log even when
 * recovery cuts a torn chunk and the same sequence numbers are reused for a
 * rewrite.
 *
 * Plaintext record (FL_REC_HDR = 26 bytes, then key and payload):
 *   0   8  server ts (i64)
 *   8   8  producer ts (i64)
 *  16   4  flags
 *  20   2  key length K (<= FL_LOG_MAX_KEY)
 *  22   4  payload length P (<= FL_LOG_MAX_PAYLOAD)
 *  26   K  key, then P payload bytes
 */
#include <openssl/evp.h>
#include <string.h>

#include "storage_internal.h"

void fl_chunk_hdr_encode(const fl_chunk_hdr_t *h, uint8_t out[FL_CHUNK_HDR])
{
    memset(out, 0, FL_CHUNK_HDR);
    memcpy(out, "FLCK", 4);
    out[4] = FL_CHUNK_VERSION;
    fl_store_le32(out + 8, h->shard);
    fl_store_le32(out + 12, h->count);
    fl_store_le64(out + 16, h->first_seq);
    fl_store_le64(out + 24, (uint64_t)h->sts_min);
    fl_store_le64(out + 32, (uint64_t)h->sts_max);
    fl_store_le64(out + 40, (uint64_t)h->pts_min);
    fl_store_le64(out + 48, (uint64_t)h->pts_max);
    fl_store_le32(out + 56, h->body_len);
    memcpy(out + 60, h->nonce, 12);
    fl_store_le32(out + 76, fl_crc32c(out, 76));
}

void fl_chunk_ref_set(fl_chunk_ref_t *ref, const fl_chunk_hdr_t *h, uint64_t segno, uint64_t off,
                      uint32_t len)
{
    ref->segno = segno;
    ref->off = off;
    ref->len = len;
    ref->shard = h->shard;
    ref->first_seq = h->first_seq;
    ref->count = h->count;
    ref->sts_min = h->sts_min;
    ref->sts_max = h->sts_max;
    ref->pts_min = h->pts_min;
    ref->pts_max = h->pts_max;
}

int fl_chunk_hdr_decode(const uint8_t *p, size_t n, fl_chunk_hdr_t *h)
{
    fl_reader_t r;
    fl_reader_init(&r, fl_slice(p, n));
    fl_slice_t magic = fl_reader_take(&r, 4);
    uint8_t version = fl_reader_u8(&r);
    fl_reader_skip(&r, 3);
    h->shard = fl_reader_le32(&r);
    h->count = fl_reader_le32(&r);
    h->first_seq = fl_reader_le64(&r);
    h->sts_min = (int64_t)fl_reader_le64(&r);
    h->sts_max = (int64_t)fl_reader_le64(&r);
    h->pts_min = (int64_t)fl_reader_le64(&r);
    h->pts_max = (int64_t)fl_reader_le64(&r);
    h->body_len = fl_reader_le32(&r);
    fl_reader_copy(&r, h->nonce, 12);
    fl_reader_skip(&r, 4);
    uint32_t crc = fl_reader_le32(&r);
    if (r.err)
        return FL_ETRUNCATED;
    if (!fl_slice_eq_str(magic, "FLCK") || crc != fl_crc32c(p, 76))
        return FL_ECORRUPT;
    if (version != FL_CHUNK_VERSION)
        return FL_EVERSION;
    if (h->count == 0 || h->body_len < FL_REC_HDR * (uint64_t)h->count ||
        h->body_len > FL_CHUNK_MAX_BODY)
        return FL_ECORRUPT;
    return 0;
}

static void chunk_aad(const uint8_t *hdr, uint64_t log_id, uint8_t aad[FL_CHUNK_HDR + 8])
{
    memcpy(aad, hdr, FL_CHUNK_HDR);
    fl_store_le64(aad + FL_CHUNK_HDR, log_id);
}

/* Sealing and opening share these (enc: 1 seals, 0 opens). key NULL: c
 * already holds the log's key (an earlier begin with it, in the same
 * direction, that ended, well or not): only the nonce changes. That skips
 * the cipher fetch and the AES key schedule, which cost more than sealing
 * a small chunk. */
static int crypt_begin(EVP_CIPHER_CTX *c, const uint8_t key[32], uint64_t log_id,
                       const uint8_t *hdr, int enc)
{
    uint8_t aad[FL_CHUNK_HDR + 8];
    int len;
    chunk_aad(hdr, log_id, aad);
    if (EVP_CipherInit_ex(c, key ? EVP_aes_256_gcm() : NULL, NULL, key, hdr + 60, enc) != 1 ||
        EVP_CipherUpdate(c, NULL, &len, aad, (int)sizeof aad) != 1)
        return FL_ECRYPTO;
    return 0;
}

static int crypt_update(EVP_CIPHER_CTX *c, const uint8_t *in, uint8_t *out, size_t n)
{
    int len;
    while (n > 0) { /* EVP takes int lengths */
        int part = n > (1u << 30) ? (1 << 30) : (int)n;
        if (EVP_CipherUpdate(c, out, &len, in, part) != 1 || len != part)
            return FL_ECRYPTO;
        in += part;
        out += part;
        n -= (size_t)part;
    }
    return 0;
}

int fl_chunk_seal_begin(EVP_CIPHER_CTX *c, const uint8_t key[32], uint64_t log_id,
                        const uint8_t *hdr)
{
    return crypt_begin(c, key, log_id, hdr, 1);
}

int fl_chunk_seal_update(EVP_CIPHER_CTX *c, const uint8_t *in, uint8_t *out, size_t n)
{
    return crypt_update(c, in, out, n);
}

int fl_chunk_seal_end(EVP_CIPHER_CTX *c, uint8_t tag[FL_CHUNK_TAG])
{
    uint8_t rest[16];
    int len;
    if (EVP_EncryptFinal_ex(c, rest, &len) != 1 || len != 0 ||
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, FL_CHUNK_TAG, tag) != 1)
        return FL_ECRYPTO;
    return 0;
}

int fl_chunk_seal(EVP_CIPHER_CTX *c, const uint8_t key[32], uint64_t log_id, uint8_t *chunk,
                  size_t body_len)
{
    uint8_t *body = chunk + FL_CHUNK_HDR;
    int rc = fl_chunk_seal_begin(c, key, log_id, chunk);
    if (rc == 0)
        rc = fl_chunk_seal_update(c, body, body, body_len);
    if (rc == 0)
        rc = fl_chunk_seal_end(c, body + body_len);
    return rc;
}

int fl_chunk_open_begin(EVP_CIPHER_CTX *c, const uint8_t key[32], uint64_t log_id,
                        const uint8_t *hdr)
{
    return crypt_begin(c, key, log_id, hdr, 0);
}

int fl_chunk_open_update(EVP_CIPHER_CTX *c, const uint8_t *in, uint8_t *out, size_t n)
{
    return crypt_update(c, in, out, n);
}

int fl_chunk_open_end(EVP_CIPHER_CTX *c, const uint8_t tag[FL_CHUNK_TAG])
{
    uint8_t t[FL_CHUNK_TAG], rest[16];
    int len;
    memcpy(t, tag, sizeof t);
    if (EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, FL_CHUNK_TAG, t) != 1)
        return FL_ECRYPTO;
    if (EVP_DecryptFinal_ex(c, rest, &len) != 1)
        return FL_ECORRUPT; /* tag mismatch: altered or torn */
    return 0;
}

int fl_chunk_open(EVP_CIPHER_CTX *c, const uint8_t key[32], uint64_t log_id, uint8_t *chunk,
                  size_t n, fl_chunk_hdr_t *h)
{
    int rc = fl_chunk_hdr_decode(chunk, n, h);
    if (rc < 0)
        return rc;
    if ((uint64_t)FL_CHUNK_HDR + h->body_len + FL_CHUNK_TAG != n)
        return FL_ECORRUPT;
    uint8_t *body = chunk + FL_CHUNK_HDR;
    rc = fl_chunk_open_begin(c, key, log_id, chunk);
    if (rc == 0)
        rc = fl_chunk_open_update(c, body, body, h->body_len);
    if (rc == 0)
        rc = fl_chunk_open_end(c, body + h->body_len);
    return rc;
}

size_t fl_chunk_record_size(size_t key_len, size_t payload_len)
{
    return FL_REC_HDR + key_len + payload_len;
}

size_t fl_chunk_record_put_head(uint8_t *p, int64_t sts, int64_t pts, uint32_t flags,
                                fl_slice_t key, size_t payload_len)
{
    fl_store_le64(p, (uint64_t)sts);
    fl_store_le64(p + 8, (uint64_t)pts);
    fl_store_le32(p + 16, flags);
    fl_store_le16(p + 20, (uint16_t)key.n);
    fl_store_le32(p + 22, (uint32_t)payload_len);
    if (key.n)
        memcpy(p + FL_REC_HDR, key.p, key.n);
    return FL_REC_HDR + key.n;
}

size_t fl_chunk_record_put(uint8_t *p, int64_t sts, int64_t pts, uint32_t flags, fl_slice_t key,
                           fl_slice_t payload)
{
    size_t n = fl_chunk_record_put_head(p, sts, pts, flags, key, payload.n);
    if (payload.n)
        memcpy(p + n, payload.p, payload.n);
    return n + payload.n;
}

int fl_chunk_record_next(fl_reader_t *r, fl_log_record_t *rec)
{
    rec->server_ts_ns = (int64_t)fl_reader_le64(r);
    rec->producer_ts_ns = (int64_t)fl_reader_le64(r);
    rec->flags = fl_reader_le32(r);
    uint16_t kl = fl_reader_le16(r);
    uint32_t pl = fl_reader_le32(r);
    if (kl > FL_LOG_MAX_KEY || pl > FL_LOG_MAX_PAYLOAD)
        return FL_ECORRUPT;
    rec->key = fl_reader_take(r, kl);
    rec->payload = fl_reader_take(r, pl);
    return r->err ? FL_ECORRUPT : 0;
}
