/*
 * common/sigv4_canon.h — AWS Signature Version 4 without the crypto: the
 * canonical request, the credential scope and the string to sign, the same
 * bytes for a signer (the producer SDK, hashing with mbedTLS) and for a
 * verifier (the server, hashing with OpenSSL).
 *
 *   canonical request = METHOD '\n' canonical URI '\n' canonical query '\n'
 *                       canonical headers '\n' signed headers '\n' payload hash
 *   string to sign    = "AWS4-HMAC-SHA256" '\n' amz-date '\n' scope '\n'
 *                       hex(SHA-256(canonical request))
 *   scope             = YYYYMMDD '/' region '/' service "/aws4_request"
 *
 * The signing key and the signature (HMAC-SHA256) are the caller's.
 *
 * The canonical request is written to a sink piece by piece as it is made,
 * so it need never be held: the SDK's sink feeds SHA-256 directly. What is
 * held is bounded and on the stack: the index arrays that sort the headers
 * (FL_SIGV4_CANON_MAX_HEADERS) and the query (FL_SIGV4_CANON_MAX_QUERY).
 *
 * Canonical forms (AWS, non-S3 services):
 * - URI: every byte of the path as given except unreserved characters
 *   (A-Z a-z 0-9 - _ . ~) and '/' is percent-encoded with upper-case hex.
 *   A path that is already encoded on the wire is thus encoded again, AWS's
 *   "double encoding" of non-S3 services; a verifier passes the path exactly
 *   as received. No normalisation ("." / ".." / "//" are kept).
 * - Query: split on '&' (empty parts skipped), each name and value
 *   percent-decoded and encoded again (unreserved kept, everything else %XX,
 *   '+' is a literal plus), a missing '=' meaning an empty value, sorted by
 *   encoded name then encoded value, joined with '&'.
 * - Headers: names lower-cased, values trimmed with inner runs of spaces
 *   and tabs made one space; a name given more than once has its values
 *   joined by ',' in the order given; sorted by name.
 *
 * Signer or verifier: with signed_headers empty, every header given is
 * signed (the signer chooses them). With signed_headers set to a received
 * SignedHeaders list ("host;x-amz-date"), only the headers named there are
 * canonicalised, every name there must be among the headers, and the list
 * must be lower-case, sorted and without repeats, as every AWS signer
 * writes it. skip_signature leaves X-Amz-Signature out of the query, for a
 * presigned URL.
 *
 * Every input may come from the network. Errors: FL_EINVAL (a caller bug:
 * NULL where a value is needed), FL_EMALFORMED (a header name that is not a
 * token, a control character in a value, a path without its leading '/', a
 * signed header that is missing or a list out of order), FL_ELIMIT (more
 * than the limits below), or what the sink returned.
 */
#ifndef FL_COMMON_SIGV4_CANON_H
#define FL_COMMON_SIGV4_CANON_H

#include <stddef.h>
#include <stdint.h>

#include "common/bytes.h"

#define FL_SIGV4_CANON_ALGORITHM      "AWS4-HMAC-SHA256"
#define FL_SIGV4_CANON_MAX_HEADERS    32      /* signed headers */
#define FL_SIGV4_CANON_MAX_QUERY      64      /* query parameters */
#define FL_SIGV4_CANON_MAX_NAME       63      /* one header name */
#define FL_SIGV4_CANON_MAX_FIELD      63      /* region, service */
#define FL_SIGV4_CANON_MAX_ACCESS_KEY 128     /* access key id */
#define FL_SIGV4_CANON_MAX_TEXT       1048576 /* method, path, query, one header value */
/* The signed-headers list at its longest, NUL included. */
#define FL_SIGV4_CANON_SIGNED_MAX (FL_SIGV4_CANON_MAX_HEADERS * (FL_SIGV4_CANON_MAX_NAME + 1))
/* A scope at its longest, NUL included. */
#define FL_SIGV4_CANON_SCOPE_MAX (8 + 1 + 2 * (FL_SIGV4_CANON_MAX_FIELD + 1) + 12 + 1)
/* A string to sign at its longest, NUL included. */
#define FL_SIGV4_CANON_STS_MAX (17 + 17 + FL_SIGV4_CANON_SCOPE_MAX + 64)

/* Where canonical bytes go: returns 0, or an error that stops the request
 * and is returned by it. */
typedef struct {
    int (*put)(void *ctx, const void *p, size_t n);
    void *ctx;
} fl_sigv4_canon_sink_t;

/* A sink that appends to an fl_buf_t (its error, FL_ENOMEM or FL_ELIMIT,
 * is the sink's). */
fl_sigv4_canon_sink_t fl_sigv4_canon_buf_sink(fl_buf_t *b);

typedef struct {
    fl_slice_t name, value;
} fl_sigv4_canon_header_t;

typedef struct {
    fl_slice_t method;                      /* "GET" */
    fl_slice_t path;                        /* "/putMedia", no query */
    fl_slice_t query;                       /* after '?', may be empty */
    const fl_sigv4_canon_header_t *headers; /* to sign, or as received */
    size_t n_headers;                       /* a verifier's may be many */
    fl_slice_t signed_headers;              /* empty: sign all; else the received list */
    fl_slice_t payload_hash;                /* 64 hex or "UNSIGNED-PAYLOAD" */
    int skip_signature;                     /* presigned: no X-Amz-Signature */
} fl_sigv4_canon_request_t;

/* Write the canonical request to sink and the signed-headers list
 * ("host;x-amz-date", NUL-terminated) to signed_out[cap] (cap >=
 * FL_SIGV4_CANON_SIGNED_MAX always suffices). 0 or an error (above). */
int fl_sigv4_canon_request(const fl_sigv4_canon_request_t *req, fl_sigv4_canon_sink_t sink,
                           char *signed_out, size_t cap);

/* Percent-encode s to sink: unreserved characters kept, '/' kept when
 * keep_slash; 0 or the sink's error. */
int fl_sigv4_canon_uri_encode(fl_slice_t s, int keep_slash, fl_sigv4_canon_sink_t sink);

/* "YYYYMMDD/region/service/aws4_request" into out[cap]: returns its
 * length, or FL_EMALFORMED (a date that is not 8 digits, an empty field or
 * one with '/', ',', '=' or bytes outside printable ASCII), FL_ELIMIT (a
 * field over FL_SIGV4_CANON_MAX_FIELD, or cap too small). */
int fl_sigv4_canon_scope(fl_slice_t date, fl_slice_t region, fl_slice_t service, char *out,
                         size_t cap);

/* A field of the credential (access key, region, service): 0, or
 * FL_EMALFORMED when empty or holding '/', ',', '=' or bytes outside
 * printable ASCII, FL_ELIMIT when longer than max. */
int fl_sigv4_canon_check_field(fl_slice_t s, size_t max);

/* The string to sign into out[cap]: its length, or FL_EMALFORMED (an
 * amz_date that is not 16 bytes, a hash that is not 64 lower-case hex
 * digits), FL_ELIMIT (cap too small). */
int fl_sigv4_canon_string_to_sign(fl_slice_t amz_date, fl_slice_t scope, fl_slice_t creq_hash_hex,
                                  char *out, size_t cap);

/* Lower-case hex of n bytes into out[2n + 1]. */
void fl_sigv4_canon_hex(const uint8_t *p, size_t n, char *out);

/* ---- presigned URLs ---- */

/* The X-Amz-* parameters of a presigned URL's query, percent-decoded. */
typedef struct {
    char access_key[FL_SIGV4_CANON_MAX_ACCESS_KEY + 1];
    char date[9]; /* the credential's YYYYMMDD */
    char region[FL_SIGV4_CANON_MAX_FIELD + 1];
    char service[FL_SIGV4_CANON_MAX_FIELD + 1];
    char amz_date[17];                              /* X-Amz-Date */
    int64_t expires;                                /* X-Amz-Expires, seconds: 1..604800 */
    char signed_headers[FL_SIGV4_CANON_SIGNED_MAX]; /* X-Amz-SignedHeaders */
    char signature[65];                             /* X-Amz-Signature, lower-case hex */
    int has_security_token;                         /* X-Amz-Security-Token given */
} fl_sigv4_canon_presigned_t;

/* Find and check the presigned parameters in a raw query (after '?').
 * 0; FL_ENOTFOUND when the query has no X-Amz-Algorithm (not presigned);
 * FL_EUNSUPPORTED for another algorithm; FL_EMALFORMED for a parameter
 * missing, repeated or not of its form; FL_ELIMIT past a limit. why (may
 * be NULL) gets a static reason on failure. */
int fl_sigv4_canon_parse_presigned(fl_slice_t query, fl_sigv4_canon_presigned_t *out,
                                   const char **why);

#endif
