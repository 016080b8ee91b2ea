/*
 * tests/fuzz/fuzz_auth_verify.c — fuzz target for server/auth/verify.c, the
 * SigV4 verifier, over everything a request controls.
 *
 * Input: lines: method, path, query, Authorization value (empty: the query
 * must be presigned), x-amz-date, x-amz-content-sha256, body, then headers
 * "name:value". The verifier answers 0 or -1 with an AWS error (a type and
 * a 4xx status), never more; the key's secret is "secret", the region
 * us-east-1, the service kinesisvideo, and the clock 2026-12-04T00:00:00Z.
 * The seed corpus holds a request signed that way, which verifies.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "server/auth/verify.h"

#define MAX_LINES 48

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fl_slice_t line[MAX_LINES];
    size_t nl = 0, at = 0;
    for (size_t i = 0; i <= size && nl < MAX_LINES; i++) {
        if (i < size && data[i] != '\n')
            continue;
        line[nl++] = fl_slice(data + at, i - at);
        at = i + 1;
    }
    while (nl < 7)
        line[nl++] = fl_slice("", 0);
    fl_sigv4_canon_header_t h[MAX_LINES];
    size_t nh = 0;
    for (size_t i = 7; i < nl; i++) {
        const uint8_t *colon = memchr(line[i].p, ':', line[i].n);
        size_t nn = colon ? (size_t)(colon - line[i].p) : line[i].n;
        h[nh].name = fl_slice(line[i].p, nn);
        h[nh].value = colon ? fl_slice(colon + 1, line[i].n - nn - 1) : fl_slice("", 0);
        nh++;
    }
    fl_sigv4_canon_auth_t au;
    const char *why = NULL;
    int presigned = line[3].n == 0;
    int rc = presigned ? fl_sigv4_canon_parse_presigned(line[2], &au, &why)
                       : fl_sigv4_canon_parse_authorization(line[3], &au, &why);
    if (rc != 0)
        return 0;
    fl_sigv4_check_t c = {
        .method = line[0],
        .path = line[1],
        .query = line[2],
        .headers = h,
        .n_headers = nh,
        .auth = &au,
        .presigned = presigned,
        .amz_date = presigned ? fl_slice_str(au.amz_date) : line[4],
        .content_hash = line[5],
        .body_known = 1,
        .body = line[6],
        .region = "us-east-1",
        .service = "kinesisvideo",
        .now_s = 1796342400, /* 2026-12-04T00:00:00Z */
        .json11 = 0,
    };
    fl_api_error_t err;
    memset(&err, 0, sizeof err);
    int v = fl_sigv4_verify(&c, "secret", &err);
    if (v != 0 && (v != -1 || !err.type || err.status < 400 || err.status > 499))
        abort();
    return 0;
}
