/*
 * tests/fuzz/fuzz_sigv4_canon.c — fuzz target for common/sigv4_canon.c.
 *
 * Input: lines. The first byte of line 0 picks the mode (bit 0: verify
 * against line 4's SignedHeaders, bit 1: skip X-Amz-Signature); then the
 * method, the path, the query, the SignedHeaders list, and headers as
 * "name:value". Any input canonicalises or fails with a named error; what
 * a signer canonicalises, a verifier given the signer's list rebuilds
 * byte for byte; the presigned-query parser fails with a reason or fills
 * its fields within their sizes.
 */
#include <stdint.h>
#include <string.h>

#include "common/error.h"
#include "common/sigv4_canon.h"

#define MAX_LINES 80

static int named(int rc)
{
    return rc == 0 || rc == FL_EMALFORMED || rc == FL_ELIMIT;
}

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
    while (nl < 5)
        line[nl++] = fl_slice("", 0);
    int mode = line[0].n ? line[0].p[0] : 0;
    if (line[4].n == 0)
        mode &= ~1; /* an empty list means: sign every header */

    fl_sigv4_canon_header_t h[MAX_LINES];
    size_t nh = 0;
    for (size_t i = 5; i < nl; i++) {
        const uint8_t *colon = memchr(line[i].p, ':', line[i].n);
        size_t nn = colon ? (size_t)(colon - line[i].p) : line[i].n;
        h[nh].name = fl_slice(line[i].p, nn);
        h[nh].value = colon ? fl_slice(colon + 1, line[i].n - nn - 1) : fl_slice("", 0);
        nh++;
    }
    fl_sigv4_canon_request_t r = {
        .method = line[1],
        .path = line[2],
        .query = line[3],
        .headers = h,
        .n_headers = nh,
        .signed_headers = (mode & 1) ? line[4] : fl_slice("", 0),
        .payload_hash = fl_slice_str("UNSIGNED-PAYLOAD"),
        .skip_signature = (mode & 2) != 0,
    };
    fl_buf_t a, b;
    fl_buf_init(&a, 1 << 20);
    fl_buf_init(&b, 1 << 20);
    char sa[FL_SIGV4_CANON_SIGNED_MAX], sb[FL_SIGV4_CANON_SIGNED_MAX];
    int rc = fl_sigv4_canon_request(&r, fl_sigv4_canon_buf_sink(&a), sa, sizeof sa);
    if (!named(rc))
        __builtin_trap();
    if (rc == 0 && (mode & 1) && !fl_slice_eq(fl_slice_str(sa), r.signed_headers))
        __builtin_trap();
    if (rc == 0 && !(mode & 1) && sa[0]) {
        r.signed_headers = fl_slice_str(sa);
        if (fl_sigv4_canon_request(&r, fl_sigv4_canon_buf_sink(&b), sb, sizeof sb) != 0 ||
            strcmp(sa, sb) != 0 || !fl_slice_eq(fl_buf_slice(&a), fl_buf_slice(&b)))
            __builtin_trap();
    }
    fl_buf_free(&a);
    fl_buf_free(&b);

    fl_sigv4_canon_presigned_t p;
    const char *why = NULL;
    rc = fl_sigv4_canon_parse_presigned(line[3], &p, &why);
    if (rc != 0 && (!why || !(named(rc) || rc == FL_ENOTFOUND || rc == FL_EUNSUPPORTED)))
        __builtin_trap();
    if (rc == 0 && (strlen(p.signature) != 64 || strlen(p.amz_date) != 16 || !p.access_key[0] ||
                    p.expires < 1 || p.expires > 604800))
        __builtin_trap();
    return 0;
}
