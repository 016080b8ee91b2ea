/*
 * producer-sdk/sigv4_sign.c — AWS Signature Version 4 (see sigv4_sign.h).
 *
 * The canonical request, scope and string to sign are common/sigv4_canon's
 * (the server rebuilds the same bytes to verify); what is the SDK's is the
 * crypto (SHA-256 and HMAC-SHA256 by mbedTLS) and its signing policy:
 *
 *   signing key = HMAC(HMAC(HMAC(HMAC("AWS4" secret, date), region),
 *                 service), "aws4_request")
 *   signature   = hex(HMAC(signing key, string to sign))
 *
 * The canonical request is never held in memory: its sink is SHA-256, fed
 * piece by piece as it is produced, so its size does not matter. host,
 * x-amz-date and (with a session token) x-amz-security-token are added
 * here; the caller may not give them, nor Authorization. Anything beyond
 * the limits (sigv4_canon.h, FLP_SIGV4_MAX_SECRET, the Authorization
 * value's 1024 bytes) is FLP_EINVAL, never a truncated signature.
 */
#include "sigv4_sign.h"

#include <string.h>

#include <mbedtls/md.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/sha256.h>

#include "common/awstime.h"
#include "common/bytes.h"
#include "common/sigv4_canon.h"

#define FLP_SIGV4_MAX_SECRET 128

static int name_eq(const char *a, const char *b)
{
    for (; *a && *b; a++, b++) {
        unsigned char x = (unsigned char)*a, y = (unsigned char)*b;
        if (x >= 'A' && x <= 'Z')
            x = (unsigned char)(x - 'A' + 'a');
        if (x != y)
            return 0;
    }
    return *a == *b;
}

/* The canonical request's sink: SHA-256. */
static int sha_put(void *ctx, const void *p, size_t n)
{
    return mbedtls_sha256_update_ret(ctx, p, n) != 0 ? FLP_ECRYPTO : 0;
}

static int hmac(const uint8_t *key, size_t klen, const void *msg, size_t mlen, uint8_t out[32])
{
    const mbedtls_md_info_t *md = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
    if (!md || mbedtls_md_hmac(md, key, klen, msg, mlen, out) != 0)
        return FLP_ECRYPTO;
    return 0;
}

/* Append to out (NUL-terminated, capacity cap at *len); 0 or FLP_EINVAL. */
static int append(char *out, size_t cap, size_t *len, const char *s, size_t n)
{
    if (n >= cap - *len)
        return FLP_EINVAL;
    memcpy(out + *len, s, n);
    *len += n;
    out[*len] = 0;
    return 0;
}

int flp_sigv4_sign(const flp_sigv4_request_t *req, flp_sigv4_result_t *out)
{
    if (!req || !out || !req->method || !req->path || !req->host || !req->region || !req->service ||
        !req->access_key || !req->secret_key)
        return FLP_EINVAL;
    if (req->n_headers && !req->headers)
        return FLP_EINVAL;
    if (!req->body && req->body_len)
        return FLP_EINVAL;
    size_t secret_len = strlen(req->secret_key);
    if (secret_len == 0 || secret_len > FLP_SIGV4_MAX_SECRET || req->host[0] == 0)
        return FLP_EINVAL;

    /* the date and the scope (which checks region and service) */
    if (fl_awstime_amz_date((int64_t)req->now, out->amz_date) != 0)
        return FLP_EINVAL;
    char scope[FL_SIGV4_CANON_SCOPE_MAX];
    int scope_len = fl_sigv4_canon_scope(fl_slice(out->amz_date, FL_AWSTIME_DATE_LEN),
                                         fl_slice_str(req->region), fl_slice_str(req->service),
                                         scope, sizeof scope);
    if (scope_len < 0)
        return FLP_EINVAL;
    /* the access key goes into the Authorization value: a field too */
    size_t ak_len = strlen(req->access_key);
    if (fl_sigv4_canon_check_field(fl_slice(req->access_key, ak_len),
                                   FL_SIGV4_CANON_MAX_ACCESS_KEY) != 0)
        return FLP_EINVAL;

    /* the payload hash */
    if (req->body) {
        uint8_t d[32];
        if (mbedtls_sha256_ret(req->body, req->body_len, d, 0) != 0)
            return FLP_ECRYPTO;
        fl_sigv4_canon_hex(d, 32, out->payload_hash);
    } else {
        strcpy(out->payload_hash, "UNSIGNED-PAYLOAD");
    }

    /* the headers to sign: ours, then the caller's */
    fl_sigv4_canon_header_t hs[FL_SIGV4_CANON_MAX_HEADERS];
    const char *fixed_names[3] = {"host", "x-amz-date", "x-amz-security-token"};
    const char *fixed_values[3] = {req->host, out->amz_date, req->session_token};
    size_t n_fixed = req->session_token ? 3 : 2;
    if (req->n_headers > FL_SIGV4_CANON_MAX_HEADERS - n_fixed)
        return FLP_EINVAL;
    for (size_t i = 0; i < n_fixed; i++)
        hs[i] =
            (fl_sigv4_canon_header_t){fl_slice_str(fixed_names[i]), fl_slice_str(fixed_values[i])};
    for (size_t i = 0; i < req->n_headers; i++) {
        const char *name = req->headers[i].name, *value = req->headers[i].value;
        if (!name || !value)
            return FLP_EINVAL;
        for (size_t k = 0; k < 3; k++)
            if (name_eq(name, fixed_names[k]))
                return FLP_EINVAL; /* ours to set */
        if (name_eq(name, "authorization"))
            return FLP_EINVAL;
        hs[n_fixed + i] = (fl_sigv4_canon_header_t){fl_slice_str(name), fl_slice_str(value)};
    }

    /* the canonical request, straight into SHA-256 */
    const char *qmark = strchr(req->path, '?');
    size_t path_len = qmark ? (size_t)(qmark - req->path) : strlen(req->path);
    fl_sigv4_canon_request_t creq = {
        .method = fl_slice_str(req->method),
        .path = fl_slice(req->path, path_len),
        .query = qmark ? fl_slice_str(qmark + 1) : fl_slice(NULL, 0),
        .headers = hs,
        .n_headers = n_fixed + req->n_headers,
        .payload_hash = fl_slice_str(out->payload_hash),
    };
    mbedtls_sha256_context sha;
    mbedtls_sha256_init(&sha);
    char signed_headers[FL_SIGV4_CANON_SIGNED_MAX];
    uint8_t creq_hash[32];
    int rc = mbedtls_sha256_starts_ret(&sha, 0) != 0 ? FLP_ECRYPTO : 0;
    if (!rc)
        rc = fl_sigv4_canon_request(&creq, (fl_sigv4_canon_sink_t){sha_put, &sha}, signed_headers,
                                    sizeof signed_headers);
    if (!rc && mbedtls_sha256_finish_ret(&sha, creq_hash) != 0)
        rc = FLP_ECRYPTO;
    mbedtls_sha256_free(&sha);
    if (rc)
        return rc == FLP_ECRYPTO ? FLP_ECRYPTO : FLP_EINVAL;

    /* the string to sign */
    char creq_hex[65], sts[FL_SIGV4_CANON_STS_MAX];
    fl_sigv4_canon_hex(creq_hash, 32, creq_hex);
    int sts_len = fl_sigv4_canon_string_to_sign(fl_slice(out->amz_date, FL_AWSTIME_AMZ_DATE_LEN),
                                                fl_slice(scope, (size_t)scope_len),
                                                fl_slice(creq_hex, 64), sts, sizeof sts);
    if (sts_len < 0)
        return FLP_EINVAL;

    /* the signing key and the signature */
    uint8_t key[4 + FLP_SIGV4_MAX_SECRET], k[32], sig[32];
    memcpy(key, "AWS4", 4);
    memcpy(key + 4, req->secret_key, secret_len);
    rc = FLP_ECRYPTO;
    if (hmac(key, 4 + secret_len, out->amz_date, FL_AWSTIME_DATE_LEN, k) ||
        hmac(k, 32, req->region, strlen(req->region), k) ||
        hmac(k, 32, req->service, strlen(req->service), k) || hmac(k, 32, "aws4_request", 12, k) ||
        hmac(k, 32, sts, (size_t)sts_len, sig))
        goto out;
    char sig_hex[65];
    fl_sigv4_canon_hex(sig, 32, sig_hex);

    /* the Authorization value */
    size_t alen = 0;
    char *a = out->authorization;
    size_t acap = sizeof out->authorization;
    a[0] = 0;
    rc = FLP_EINVAL;
    if (append(a, acap, &alen, FL_SIGV4_CANON_ALGORITHM " Credential=", 28) ||
        append(a, acap, &alen, req->access_key, ak_len) || append(a, acap, &alen, "/", 1) ||
        append(a, acap, &alen, scope, (size_t)scope_len) ||
        append(a, acap, &alen, ", SignedHeaders=", 16) ||
        append(a, acap, &alen, signed_headers, strlen(signed_headers)) ||
        append(a, acap, &alen, ", Signature=", 12) || append(a, acap, &alen, sig_hex, 64)) {
        a[0] = 0;
        goto out;
    }
    rc = 0;
out:
    /* the secret and what derives from it do not stay on the stack */
    mbedtls_platform_zeroize(key, sizeof key);
    mbedtls_platform_zeroize(k, sizeof k);
    return rc;
}
