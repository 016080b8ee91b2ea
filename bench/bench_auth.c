/*
 * bench/bench_auth.c — what verifying one SigV4 request costs, beside the
 * reference measured in the same run: the raw HMAC-SHA256 chain every
 * verification needs (the signing key's four HMACs plus the signature's
 * one, over a string to sign of the same length). The rest of the cost is
 * the canonical request (SHA-256 of it and of the body) and the checks.
 * Each case runs twice: deriving the signing key from the secret, and with
 * it kept per key and scope, as the server does.
 *
 *   bench_auth [SECONDS]   (default 2 per case)
 *
 * Cases: a JSON API call (DescribeStream, 22-byte body, 3 signed headers),
 * the same with a 64 KiB body (PutRecords-sized), and a streaming PutMedia
 * upgrade (UNSIGNED-PAYLOAD, 5 signed headers).
 */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/error.h"
#include "server/auth/verify.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#define DATE  "20261204T000000Z"
#define SCOPE "20261204/us-east-1/kinesisvideo/aws4_request"

typedef struct {
    const char *name;
    fl_sigv4_canon_header_t h[8];
    size_t nh;
    fl_slice_t body;
    int body_known;
    const char *content_hash;
    fl_sigv4_canon_auth_t au;
} case_t;

/* Sign c the way a client would (with the same canonicaliser), so that
 * verification succeeds. */
static void sign(case_t *c)
{
    fl_buf_t canon;
    fl_buf_init(&canon, 0);
    char signed_h[FL_SIGV4_CANON_SIGNED_MAX], ph[65];
    uint8_t d[32];
    unsigned int dl = 32;
    if (c->content_hash) {
        snprintf(ph, sizeof ph, "%s", c->content_hash);
    } else {
        EVP_Digest(c->body.p, c->body.n, d, &dl, EVP_sha256(), NULL);
        fl_sigv4_canon_hex(d, 32, ph);
    }
    fl_sigv4_canon_request_t req = {.method = fl_slice_str("POST"),
                                    .path = fl_slice_str("/describeStream"),
                                    .headers = c->h,
                                    .n_headers = c->nh,
                                    .payload_hash = fl_slice_str(ph)};
    if (fl_sigv4_canon_request(&req, fl_sigv4_canon_buf_sink(&canon), signed_h, sizeof signed_h))
        abort();
    EVP_Digest(canon.p, canon.n, d, &dl, EVP_sha256(), NULL);
    char hex[65], sts[FL_SIGV4_CANON_STS_MAX];
    fl_sigv4_canon_hex(d, 32, hex);
    int n = fl_sigv4_canon_string_to_sign(fl_slice_str(DATE), fl_slice_str(SCOPE),
                                          fl_slice(hex, 64), sts, sizeof sts);
    uint8_t key[32], sig[32];
    unsigned int sl = 32;
    fl_sigv4_signing_key("secret", "20261204", "us-east-1", "kinesisvideo", key);
    HMAC(EVP_sha256(), key, 32, (const uint8_t *)sts, (size_t)n, sig, &sl);
    memset(&c->au, 0, sizeof c->au);
    snprintf(c->au.access_key, sizeof c->au.access_key, "FLAKBENCH");
    snprintf(c->au.date, sizeof c->au.date, "20261204");
    snprintf(c->au.region, sizeof c->au.region, "us-east-1");
    snprintf(c->au.service, sizeof c->au.service, "kinesisvideo");
    snprintf(c->au.signed_headers, sizeof c->au.signed_headers, "%s", signed_h);
    fl_sigv4_canon_hex(sig, 32, c->au.signature);
    fl_buf_free(&canon);
}

int main(int argc, char **argv)
{
    double secs = argc > 1 ? atof(argv[1]) : 2.0;
    static uint8_t big[65536];
    memset(big, 'x', sizeof big);
    case_t cases[3] = {
        {.name = "json api (22 B body)",
         .h = {{fl_slice_str("content-type"), fl_slice_str("application/json")},
               {fl_slice_str("host"), fl_slice_str("127.0.0.1:8080")},
               {fl_slice_str("x-amz-date"), fl_slice_str(DATE)}},
         .nh = 3,
         .body = fl_slice_str("{\"StreamName\":\"cam-1\"}"),
         .body_known = 1},
        {.name = "json api (64 KiB body)",
         .h = {{fl_slice_str("content-type"), fl_slice_str("application/json")},
               {fl_slice_str("host"), fl_slice_str("127.0.0.1:8080")},
               {fl_slice_str("x-amz-date"), fl_slice_str(DATE)}},
         .nh = 3,
         .body = fl_slice(big, sizeof big),
         .body_known = 1},
        {.name = "putmedia (unsigned body)",
         .h = {{fl_slice_str("host"), fl_slice_str("127.0.0.1:8080")},
               {fl_slice_str("x-amz-content-sha256"), fl_slice_str("UNSIGNED-PAYLOAD")},
               {fl_slice_str("x-amz-date"), fl_slice_str(DATE)},
               {fl_slice_str("x-amzn-fragment-timecode-type"), fl_slice_str("ABSOLUTE")},
               {fl_slice_str("x-amzn-stream-name"), fl_slice_str("cam-1")}},
         .nh = 5,
         .content_hash = "UNSIGNED-PAYLOAD"},
    };
    /* the reference: the HMAC chain alone, over a string to sign */
    char sts[200];
    int stsn = snprintf(sts, sizeof sts, "AWS4-HMAC-SHA256\n%s\n%s\n%064d", DATE, SCOPE, 0);
    long n_ref = 0;
    double t0 = now_s(), t1;
    do {
        for (int i = 0; i < 1000; i++) {
            uint8_t key[32], sig[32];
            unsigned int sl = 32;
            fl_sigv4_signing_key("secret", "20261204", "us-east-1", "kinesisvideo", key);
            HMAC(EVP_sha256(), key, 32, (const uint8_t *)sts, (size_t)stsn, sig, &sl);
        }
        n_ref += 1000;
        t1 = now_s();
    } while (t1 - t0 < secs);
    double ref_ns = (t1 - t0) / (double)n_ref * 1e9;
    printf("reference: HMAC-SHA256 chain (signing key + signature): %.0f ns\n", ref_ns);
    for (int k = 0; k < 3; k++) {
        case_t *c = &cases[k];
        sign(c);
        fl_sigv4_check_t chk = {
            .method = fl_slice_str("POST"),
            .path = fl_slice_str("/describeStream"),
            .headers = c->h,
            .n_headers = c->nh,
            .auth = &c->au,
            .amz_date = fl_slice_str(DATE),
            .content_hash = fl_slice_str(c->content_hash ? c->content_hash : ""),
            .body_known = c->body_known,
            .body = c->body,
            .region = "us-east-1",
            .service = "kinesisvideo",
            .now_s = 1796342400,
        };
        fl_api_error_t err;
        if (fl_sigv4_verify(&chk, "secret", &err) != 0) {
            fprintf(stderr, "bench_auth: %s does not verify: %s %s\n", c->name, err.type, err.msg);
            return 1;
        }
        long n = 0;
        t0 = now_s();
        do {
            for (int i = 0; i < 200; i++)
                if (fl_sigv4_verify(&chk, "secret", &err) != 0)
                    return 1;
            n += 200;
            t1 = now_s();
        } while (t1 - t0 < secs);
        double ns = (t1 - t0) / (double)n * 1e9;
        printf("verify %-26s %8.0f ns  = %.2f x the HMAC chain  (%.0f requests/s per core)\n",
               c->name, ns, ns / ref_ns, 1e9 / ns);
        /* as the server runs it: the key's signing key kept for its scope */
        uint8_t skey[32];
        fl_sigv4_signing_key("secret", "20261204", "us-east-1", "kinesisvideo", skey);
        chk.signing_key = skey;
        n = 0;
        t0 = now_s();
        do {
            for (int i = 0; i < 200; i++)
                if (fl_sigv4_verify(&chk, "secret", &err) != 0)
                    return 1;
            n += 200;
            t1 = now_s();
        } while (t1 - t0 < secs);
        ns = (t1 - t0) / (double)n * 1e9;
        printf("  signing key kept        %8.0f ns  = %.2f x the HMAC chain  (%.0f requests/s per "
               "core)\n",
               ns, ns / ref_ns, 1e9 / ns);
    }
    return 0;
}
