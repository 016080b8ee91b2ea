/*
 * server/auth/verify.h — AWS Signature Version 4 verification of one
 * request, given its material and the secret of the key it names.
 *
 * Independent of the connection (the module gathers the material from lws):
 * a test, the fuzz target and the benchmark call it directly. The
 * canonical bytes come from common/sigv4_canon (the SDK signs with the same
 * code); the hashing and the HMAC chain are OpenSSL's.
 *
 * Checks, in AWS's order, each with AWS's error (type and message):
 *   scope region == region, scope service == service   InvalidSignatureException
 *   a date (X-Amz-Date header or parameter), on the scope's day
 *                                                       IncompleteSignatureException /
 *                                                       InvalidSignatureException
 *   header-signed: |now - date| <= FL_SIGV4_MAX_SKEW_S  InvalidSignatureException
 *                                                       "Signature expired: ..." /
 *                                                       "Signature not yet current: ..."
 *   presigned: date <= now + skew, now <= date + X-Amz-Expires
 *   host among the signed headers                       InvalidSignatureException
 *   payload: x-amz-content-sha256 equals the body's hash when the body is
 *            known; UNSIGNED-PAYLOAD / STREAMING-* only for a body not read
 *            yet (PutMedia); without the header, the body's hash (or, for a
 *            streaming body, the empty body's hash as AWS's producers sign)
 *   signature == HMAC chain over the string to sign, compared in constant
 *   time                                                "The request signature we
 *                                                       calculated does not match ..."
 * Statuses: 403 for rest-json (Kinesis Video), 400 for JSON 1.1 (Kinesis
 * Data Streams), as AWS answers them; IncompleteSignatureException (a
 * signature that is not well-formed) is 400 on both.
 */
#ifndef FL_SERVER_AUTH_VERIFY_H
#define FL_SERVER_AUTH_VERIFY_H

#include <stdint.h>

#include "common/sigv4_canon.h"
#include "server/core/http.h"

/* The clock skew AWS allows. */
#define FL_SIGV4_MAX_SKEW_S 300

typedef struct {
    fl_slice_t method, path, query;         /* as received; query raw or re-encoded */
    const fl_sigv4_canon_header_t *headers; /* at least every signed one */
    size_t n_headers;
    const fl_sigv4_canon_auth_t *auth; /* parsed Authorization or presigned query */
    int presigned;
    fl_slice_t amz_date;     /* the x-amz-date header (presigned: auth->amz_date) */
    fl_slice_t content_hash; /* the x-amz-content-sha256 header, or empty */
    int body_known;          /* body is the whole body */
    fl_slice_t body;
    const char *region, *service; /* what this server and route expect */
    int64_t now_s;                /* the server's clock, seconds since the epoch */
    /* the signing key for the request's scope when the caller keeps it
     * (fl_sigv4_signing_key of the same secret, date, region, service),
     * or NULL: derived here from the secret */
    const uint8_t *signing_key;
    int json11; /* JSON 1.1 statuses */
} fl_sigv4_check_t;

/* 0 when the signature is the one secret makes for this request, or -1
 * with the AWS error in err. */
int fl_sigv4_verify(const fl_sigv4_check_t *c, const char *secret, fl_api_error_t *err);

/* The signing key: HMAC chain "AWS4"+secret, date, region, service,
 * "aws4_request". */
void fl_sigv4_signing_key(const char *secret, const char *date, const char *region,
                          const char *service, uint8_t out[32]);

/* The status an authentication error gets on a route (403 rest-json,
 * 400 JSON 1.1). */
static inline int fl_sigv4_status(int json11)
{
    return json11 ? 400 : 403;
}

#endif
