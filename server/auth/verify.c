/*
 * server/auth/verify.c — SigV4 verification (verify.h has the checks and
 * the errors).
 *
 * The canonical request is never held: fl_sigv4_canon_request writes it
 * into a SHA-256 context piece by piece. Only the candidates for the
 * payload hash may cost more passes, on a mismatch only (a streaming body
 * signed without x-amz-content-sha256: the empty body's hash, then
 * UNSIGNED-PAYLOAD; a presigned request: UNSIGNED-PAYLOAD, the empty
 * body's hash, the body's hash).
 */
#include "server/auth/verify.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/awstime.h"
#include "common/error.h"

#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static const char mismatch_msg[] =
    "The request signature we calculated does not match the signature you provided. Check your "
    "AWS Secret Access Key and signing method. Consult the service documentation for details.";

static void hmac(const uint8_t *key, size_t kn, const void *p, size_t n, uint8_t out[32])
{
    unsigned int ol = 32;
    HMAC(EVP_sha256(), key, (int)kn, p, n, out, &ol);
}

void fl_sigv4_signing_key(const char *secret, const char *date, const char *region,
                          const char *service, uint8_t out[32])
{
    char k0[4 + 128 + 1];
    int kl = snprintf(k0, sizeof k0, "AWS4%s", secret);
    if (kl < 0 || (size_t)kl >= sizeof k0)
        kl = (int)sizeof k0 - 1;
    uint8_t a[32], b[32];
    hmac((const uint8_t *)k0, (size_t)kl, date, strlen(date), a);
    hmac(a, 32, region, strlen(region), b);
    hmac(b, 32, service, strlen(service), a);
    hmac(a, 32, "aws4_request", 12, out);
    OPENSSL_cleanse(k0, sizeof k0);
    OPENSSL_cleanse(a, sizeof a);
    OPENSSL_cleanse(b, sizeof b);
}

/* "YYYYMMDDTHHMMSSZ" to seconds since the epoch: 0 or -1. */
static int parse_amz_date(fl_slice_t d, int64_t *out)
{
    if (d.n != 16 || d.p[8] != 'T' || d.p[15] != 'Z')
        return -1;
    int v[6];
    static const int off[6] = {0, 4, 6, 9, 11, 13}, len[6] = {4, 2, 2, 2, 2, 2};
    for (int i = 0; i < 6; i++) {
        v[i] = 0;
        for (int j = 0; j < len[i]; j++) {
            uint8_t c = d.p[off[i] + j];
            if (c < '0' || c > '9')
                return -1;
            v[i] = v[i] * 10 + (c - '0');
        }
    }
    if (v[1] < 1 || v[1] > 12 || v[2] < 1 || v[2] > 31 || v[3] > 23 || v[4] > 59 || v[5] > 60)
        return -1;
    struct tm tm = {.tm_year = v[0] - 1900,
                    .tm_mon = v[1] - 1,
                    .tm_mday = v[2],
                    .tm_hour = v[3],
                    .tm_min = v[4],
                    .tm_sec = v[5]};
    *out = (int64_t)timegm(&tm);
    return 0;
}

static int sha_put(void *ctx, const void *p, size_t n)
{
    return EVP_DigestUpdate(ctx, p, n) == 1 ? 0 : FL_ECRYPTO;
}

static void sha256_hex(fl_slice_t s, char out[65])
{
    uint8_t d[32];
    unsigned int dl = 32;
    EVP_Digest(s.p, s.n, d, &dl, EVP_sha256(), NULL);
    fl_sigv4_canon_hex(d, 32, out);
}

/* The signature this request would carry with payload hash ph, compared
 * with the one it carries: 1 equal, 0 not, or a negative error. */
static int try_hash(const fl_sigv4_check_t *c, const uint8_t skey[32], const char *scope,
                    fl_slice_t ph)
{
    const fl_sigv4_canon_auth_t *a = c->auth;
    fl_sigv4_canon_request_t req = {
        .method = c->method,
        .path = c->path,
        .query = c->query,
        .headers = c->headers,
        .n_headers = c->n_headers,
        .signed_headers = fl_slice_str(a->signed_headers),
        .payload_hash = ph,
        .skip_signature = c->presigned,
    };
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!md)
        return FL_ENOMEM;
    char signed_out[FL_SIGV4_CANON_SIGNED_MAX];
    uint8_t d[32];
    unsigned int dl = 32;
    int rc = EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 ? 0 : FL_ECRYPTO;
    if (!rc)
        rc = fl_sigv4_canon_request(&req, (fl_sigv4_canon_sink_t){sha_put, md}, signed_out,
                                    sizeof signed_out);
    if (!rc && EVP_DigestFinal_ex(md, d, &dl) != 1)
        rc = FL_ECRYPTO;
    EVP_MD_CTX_free(md);
    if (rc)
        return rc;
    char hex[65], sts[FL_SIGV4_CANON_STS_MAX];
    fl_sigv4_canon_hex(d, 32, hex);
    int n = fl_sigv4_canon_string_to_sign(c->amz_date, fl_slice_str(scope), fl_slice(hex, 64), sts,
                                          sizeof sts);
    if (n < 0)
        return n;
    uint8_t sig[32];
    hmac(skey, 32, sts, (size_t)n, sig);
    fl_sigv4_canon_hex(sig, 32, hex);
    return CRYPTO_memcmp(hex, a->signature, 64) == 0;
}

static int is_hex64(fl_slice_t s)
{
    if (s.n != 64)
        return 0;
    for (size_t i = 0; i < 64; i++)
        if (!((s.p[i] >= '0' && s.p[i] <= '9') || (s.p[i] >= 'a' && s.p[i] <= 'f')))
            return 0;
    return 1;
}

int fl_sigv4_verify(const fl_sigv4_check_t *c, const char *secret, fl_api_error_t *err)
{
    const fl_sigv4_canon_auth_t *a = c->auth;
    int st = fl_sigv4_status(c->json11);
    if (strcmp(a->region, c->region) != 0)
        return fl_api_error(err, st, "InvalidSignatureException",
                            "Credential should be scoped to a valid region, not '%s'. ", a->region);
    if (strcmp(a->service, c->service) != 0)
        return fl_api_error(err, st, "InvalidSignatureException",
                            "Credential should be scoped to correct service: '%s'. ", c->service);
    int64_t t;
    if (c->amz_date.n == 0)
        return fl_api_error(err, 400, "IncompleteSignatureException",
                            "Authorization header requires existence of a 'X-Amz-Date' header.");
    if (parse_amz_date(c->amz_date, &t) != 0)
        return fl_api_error(err, 400, "IncompleteSignatureException",
                            "X-Amz-Date must be in the ISO8601 Long Format "
                            "\"yyyyMMdd'T'HHmmss'Z'\"");
    if (memcmp(c->amz_date.p, a->date, 8) != 0)
        return fl_api_error(err, st, "InvalidSignatureException",
                            "Date in Credential scope does not match YYYYMMDD from ISO-8601 "
                            "version of date from HTTP: '%s' != '%.8s', from 'x-amz-date'.",
                            a->date, (const char *)c->amz_date.p);
    char d_req[17], d_lim[17], d_now[17];
    fl_awstime_amz_date(t, d_req);
    fl_awstime_amz_date(c->now_s, d_now);
    if (t > c->now_s + FL_SIGV4_MAX_SKEW_S) {
        fl_awstime_amz_date(c->now_s + FL_SIGV4_MAX_SKEW_S, d_lim);
        return fl_api_error(err, st, "InvalidSignatureException",
                            "Signature not yet current: %s is still later than %s (%s + 5 min.)",
                            d_req, d_lim, d_now);
    }
    if (!c->presigned && t < c->now_s - FL_SIGV4_MAX_SKEW_S) {
        fl_awstime_amz_date(c->now_s - FL_SIGV4_MAX_SKEW_S, d_lim);
        return fl_api_error(err, st, "InvalidSignatureException",
                            "Signature expired: %s is now earlier than %s (%s - 5 min.)", d_req,
                            d_lim, d_now);
    }
    if (c->presigned && t + a->expires < c->now_s) {
        fl_awstime_amz_date(c->now_s - a->expires, d_lim);
        return fl_api_error(err, st, "InvalidSignatureException",
                            "Signature expired: %s is now earlier than %s (%s - %lld sec.)", d_req,
                            d_lim, d_now, (long long)a->expires);
    }
    /* host must be signed (every AWS signer signs it; over HTTP/2 the
     * AWS SDK for JavaScript v3 signs :authority, which stands for it) */
    const char *sh = a->signed_headers;
    int host = 0;
    for (const char *p = sh; *p;) {
        const char *e = strchr(p, ';');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if ((l == 4 && memcmp(p, "host", 4) == 0) || (l == 10 && memcmp(p, ":authority", 10) == 0))
            host = 1;
        p += l + (e ? 1 : 0);
    }
    if (!host)
        return fl_api_error(err, st, "InvalidSignatureException",
                            "'Host' must be a 'SignedHeader' in the AWS Authorization.");

    /* the payload hash candidates */
    char body_hash[65] = "";
    if (c->body_known)
        sha256_hex(c->body, body_hash);
    fl_slice_t cand[3];
    int ncand = 0;
    fl_slice_t ch = c->content_hash;
    int unsigned_body = fl_slice_eq_str(ch, "UNSIGNED-PAYLOAD") ||
                        (ch.n > 10 && memcmp(ch.p, "STREAMING-", 10) == 0);
    if (ch.n) {
        if (unsigned_body && c->body_known && c->body.n > 0)
            return fl_api_error(err, st, "InvalidSignatureException",
                                "x-amz-content-sha256 %.*s is for streaming uploads; this "
                                "request's body must be signed",
                                (int)(ch.n > 32 ? 32 : ch.n), (const char *)ch.p);
        if (!unsigned_body && !is_hex64(ch))
            return fl_api_error(err, st, "InvalidSignatureException",
                                "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-... "
                                "or the hex SHA-256 of the body");
        if (!unsigned_body && c->body_known && memcmp(ch.p, body_hash, 64) != 0)
            return fl_api_error(err, st, "InvalidSignatureException",
                                "The provided 'x-amz-content-sha256' header does not match what "
                                "was computed.");
        cand[ncand++] = ch;
    } else if (c->presigned) {
        /* a presigned URL is made before its body: UNSIGNED-PAYLOAD (AWS's
         * rule), or the empty body's hash (botocore's SigV4QueryAuth), or
         * the body's own */
        cand[ncand++] = fl_slice_str("UNSIGNED-PAYLOAD");
        cand[ncand++] = fl_slice_str(EMPTY_SHA256);
        if (c->body_known && c->body.n)
            cand[ncand++] = fl_slice(body_hash, 64);
    } else if (c->body_known) {
        cand[ncand++] = fl_slice(body_hash, 64);
    } else {
        cand[ncand++] = fl_slice_str(EMPTY_SHA256);
        cand[ncand++] = fl_slice_str("UNSIGNED-PAYLOAD");
    }

    char scope[FL_SIGV4_CANON_SCOPE_MAX];
    if (fl_sigv4_canon_scope(fl_slice_str(a->date), fl_slice_str(a->region),
                             fl_slice_str(a->service), scope, sizeof scope) < 0)
        return fl_api_error(err, 400, "IncompleteSignatureException", "malformed credential");
    uint8_t skey[32];
    if (c->signing_key)
        memcpy(skey, c->signing_key, 32);
    else
        fl_sigv4_signing_key(secret, a->date, a->region, a->service, skey);
    int ok = 0;
    for (int i = 0; i < ncand && ok == 0; i++)
        ok = try_hash(c, skey, scope, cand[i]);
    OPENSSL_cleanse(skey, sizeof skey);
    if (ok < 0)
        return fl_api_error(err, 400, "IncompleteSignatureException",
                            "the signed request cannot be canonicalised: %s", fl_strerror(ok));
    if (ok == 0)
        return fl_api_error(err, st, "InvalidSignatureException", "%s", mismatch_msg);
    return 0;
}
