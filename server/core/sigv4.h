/*
 * server/sigv4.h — the AWS Signature Version 4 Authorization header.
 *
 *   Authorization: AWS4-HMAC-SHA256
 *       Credential=AKIDEXAMPLE/20150830/us-east-1/kinesisvideo/aws4_request,
 *       SignedHeaders=content-type;host;x-amz-date,
 *       Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7
 *
 * fl_sigv4_parse() splits it into its parts, with limits, and keeps them in
 * the request context. Verifying the signature against configured access
 * keys is a later step (see docs/api.md); parsing already refuses what no
 * verifier could accept.
 */
#ifndef FL_SERVER_SIGV4_H
#define FL_SERVER_SIGV4_H

#include <stddef.h>

#include "common/bytes.h"

#define FL_SIGV4_MAX_HEADER         2048
#define FL_SIGV4_MAX_SIGNED_HEADERS 32

typedef struct {
    char access_key[129]; /* Credential's first part */
    char date[9];         /* YYYYMMDD */
    char region[64];
    char service[64];
    char signed_headers[FL_SIGV4_MAX_SIGNED_HEADERS][64]; /* lower case, as sent */
    int n_signed_headers;
    char signature[65]; /* 64 lower-case hex digits */
} fl_sigv4_auth_t;

/* Parse an Authorization header value. Returns 0, or FL_EMALFORMED /
 * FL_ELIMIT / FL_EUNSUPPORTED (another scheme) with a short reason in why
 * (a static string). */
int fl_sigv4_parse(fl_slice_t header, fl_sigv4_auth_t *out, const char **why);

#endif
