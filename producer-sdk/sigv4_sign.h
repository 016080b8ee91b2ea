/*
 * producer-sdk/sigv4_sign.h — AWS Signature Version 4 for the SDK's
 * requests (HMAC-SHA256 and SHA-256 by mbedTLS).
 *
 * The signer adds x-amz-date (and x-amz-security-token when there is a
 * session token) to the signed headers, signs host and every header the
 * caller gives (names lower-cased, values trimmed, sorted), and writes the
 * Authorization header's value:
 *   AWS4-HMAC-SHA256 Credential=AK/20261124/us-east-1/kinesisvideo/aws4_request,
 *   SignedHeaders=host;x-amz-date;..., Signature=<64 hex>
 * The payload hash is SHA-256 of body, or "UNSIGNED-PAYLOAD" when body is
 * NULL (streaming PutMedia, as AWS's producers sign it).
 */
#ifndef FLP_SIGV4_SIGN_H
#define FLP_SIGV4_SIGN_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <framelog/producer.h>

typedef struct {
    const char *method;          /* "POST", "GET" */
    const char *path;            /* absolute path, may carry a query string */
    const char *host;            /* the Host header's value, "host:port" */
    const flp_header_t *headers; /* further headers to sign (not host/x-amz-date) */
    size_t n_headers;
    const uint8_t *body; /* NULL: UNSIGNED-PAYLOAD */
    size_t body_len;
    const char *region;  /* "us-east-1" */
    const char *service; /* "kinesisvideo" */
    const char *access_key;
    const char *secret_key;
    const char *session_token; /* NULL: none */
    time_t now;                /* seconds since the epoch (UTC) */
} flp_sigv4_request_t;

typedef struct {
    char amz_date[17];        /* x-amz-date: 20261124T021500Z */
    char authorization[1024]; /* the Authorization header's value */
    char payload_hash[65];    /* x-amz-content-sha256 value (hex or UNSIGNED-PAYLOAD) */
} flp_sigv4_result_t;

/* 0, or FLP_EINVAL for missing fields or results that do not fit. */
int flp_sigv4_sign(const flp_sigv4_request_t *req, flp_sigv4_result_t *out);

#endif
