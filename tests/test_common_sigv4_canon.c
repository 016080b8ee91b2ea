/*
 * tests/test_common_sigv4_canon.c — common/sigv4_canon: the canonical
 * request, scope and string to sign of AWS's sig-v4 test suite, a verifier
 * rebuilding from what it received (extra headers, presigned query) the
 * bytes a signer hashed, and the limits on network input. The crypto is
 * OpenSSL's here, as the server's will be; the SDK's mbedTLS signer is
 * checked against the same suite in test_sdk_sigv4.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "common/error.h"
#include "common/sigv4_canon.h"
#include "harness.h"

#define EMPTY_SHA "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define SK        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"

#define H(n, v)                                                                                    \
    {                                                                                              \
        fl_slice_str(n), fl_slice_str(v)                                                           \
    }

/* The canonical request of req as a string (static buffer); rc out. */
static const char *canon(const fl_sigv4_canon_request_t *req, int *rc, char *signed_out)
{
    static char text[65536];
    fl_buf_t b;
    fl_buf_init(&b, sizeof text - 1);
    *rc = fl_sigv4_canon_request(req, fl_sigv4_canon_buf_sink(&b), signed_out,
                                 FL_SIGV4_CANON_SIGNED_MAX);
    memcpy(text, b.p ? (const char *)b.p : "", b.n);
    text[b.n] = 0;
    fl_buf_free(&b);
    return text;
}

static fl_sigv4_canon_request_t vanilla(const fl_sigv4_canon_header_t *h, size_t n)
{
    fl_sigv4_canon_request_t r = {0};
    r.method = fl_slice_str("GET");
    r.path = fl_slice_str("/");
    r.headers = h;
    r.n_headers = n;
    r.payload_hash = fl_slice_str(EMPTY_SHA);
    return r;
}

/* The signature over a canonical request, as a verifier with OpenSSL. */
static void sign(const char *creq, const char *amz_date, const char *secret, char sig_hex[65])
{
    uint8_t d[32], k[32];
    unsigned int len = 32;
    char hex[65], scope[FL_SIGV4_CANON_SCOPE_MAX], sts[FL_SIGV4_CANON_STS_MAX], key[256];
    ck_assert_int_eq(EVP_Digest(creq, strlen(creq), d, NULL, EVP_sha256(), NULL), 1);
    fl_sigv4_canon_hex(d, 32, hex);
    int n = fl_sigv4_canon_scope(fl_slice(amz_date, 8), fl_slice_str("us-east-1"),
                                 fl_slice_str("service"), scope, sizeof scope);
    ck_assert_int_gt(n, 0);
    int sn = fl_sigv4_canon_string_to_sign(fl_slice_str(amz_date), fl_slice(scope, (size_t)n),
                                           fl_slice(hex, 64), sts, sizeof sts);
    ck_assert_int_gt(sn, 0);
    snprintf(key, sizeof key, "AWS4%s", secret);
    HMAC(EVP_sha256(), key, (int)strlen(key), (const uint8_t *)amz_date, 8, k, &len);
    HMAC(EVP_sha256(), k, 32, (const uint8_t *)"us-east-1", 9, k, &len);
    HMAC(EVP_sha256(), k, 32, (const uint8_t *)"service", 7, k, &len);
    HMAC(EVP_sha256(), k, 32, (const uint8_t *)"aws4_request", 12, k, &len);
    HMAC(EVP_sha256(), k, 32, (const uint8_t *)sts, (size_t)sn, d, &len);
    fl_sigv4_canon_hex(d, 32, sig_hex);
}

START_TEST(matches_the_aws_suite_texts)
{
    fl_sigv4_canon_header_t h[] = {H("Host", "example.amazonaws.com"),
                                   H("X-Amz-Date", "20150830T123600Z")};
    fl_sigv4_canon_request_t r = vanilla(h, 2);
    char sh[FL_SIGV4_CANON_SIGNED_MAX];
    int rc;
    /* get-vanilla */
    ck_assert_str_eq(canon(&r, &rc, sh),
                     "GET\n/\n\nhost:example.amazonaws.com\n"
                     "x-amz-date:20150830T123600Z\n\nhost;x-amz-date\n" EMPTY_SHA);
    ck_assert_int_eq(rc, 0);
    ck_assert_str_eq(sh, "host;x-amz-date");
    char sig[65];
    sign(canon(&r, &rc, sh), "20150830T123600Z", SK, sig);
    ck_assert_str_eq(sig, "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");

    /* get-vanilla-query-order-key-case */
    r.query = fl_slice_str("Param2=value2&Param1=value1");
    ck_assert_str_eq(canon(&r, &rc, sh),
                     "GET\n/\nParam1=value1&Param2=value2\n"
                     "host:example.amazonaws.com\n"
                     "x-amz-date:20150830T123600Z\n\nhost;x-amz-date\n" EMPTY_SHA);
    sign(canon(&r, &rc, sh), "20150830T123600Z", SK, sig);
    ck_assert_str_eq(sig, "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500");

    /* the string to sign of get-vanilla, as the suite prints it */
    char sts[FL_SIGV4_CANON_STS_MAX];
    const char *scope = "20150830/us-east-1/service/aws4_request";
    const char *hash = "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63";
    ck_assert_int_gt(fl_sigv4_canon_string_to_sign(fl_slice_str("20150830T123600Z"),
                                                   fl_slice_str(scope), fl_slice_str(hash), sts,
                                                   sizeof sts),
                     0);
    ck_assert_str_eq(sts, "AWS4-HMAC-SHA256\n20150830T123600Z\n"
                          "20150830/us-east-1/service/aws4_request\n"
                          "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63");
}
END_TEST

START_TEST(canonical_forms)
{
    /* header names lower-cased and sorted, values trimmed and folded,
     * repeats joined in order; query decoded and encoded again, sorted
     * by name then value, an empty value kept; path encoded again */
    fl_sigv4_canon_header_t h[] = {H("My-Header1", "  a   b\t c  "), H("host", "h"),
                                   H("my-header1", "second"), H("X-Amz-Date", "d")};
    fl_sigv4_canon_request_t r = vanilla(h, 4);
    r.method = fl_slice_str("POST");
    r.path = fl_slice_str("/a%20b/c d~");
    r.query = fl_slice_str("b=2&a=z&a=%7e1&&c&d=+%2B/%zz");
    char sh[FL_SIGV4_CANON_SIGNED_MAX];
    int rc;
    ck_assert_str_eq(canon(&r, &rc, sh), "POST\n/a%2520b/c%20d~\na=z&a=~1&b=2&c=&d=%2B%2B%2F%25zz\n"
                                         "host:h\nmy-header1:a b c,second\nx-amz-date:d\n\n"
                                         "host;my-header1;x-amz-date\n" EMPTY_SHA);
    ck_assert_int_eq(rc, 0);
    ck_assert_str_eq(sh, "host;my-header1;x-amz-date");

    char enc[64];
    fl_buf_t b;
    fl_buf_init(&b, sizeof enc);
    ck_assert_int_eq(
        fl_sigv4_canon_uri_encode(fl_slice_str("a/b c~é"), 0, fl_sigv4_canon_buf_sink(&b)), 0);
    ck_assert(fl_slice_eq_str(fl_buf_slice(&b), "a%2Fb%20c~%C3%A9"));
    fl_buf_free(&b);
}
END_TEST

/* A server has more headers than were signed and the raw query of a
 * presigned URL: it gets the signer's bytes back. */
START_TEST(a_verifier_rebuilds_the_signed_bytes)
{
    fl_sigv4_canon_header_t sent[] = {H("host", "127.0.0.1:8080"),
                                      H("x-amz-date", "20150830T123600Z"),
                                      H("x-amzn-stream-name", "cam")};
    fl_sigv4_canon_header_t got[] = {H("User-Agent", "curl"),
                                     H("Host", "127.0.0.1:8080"),
                                     H("X-Amzn-Stream-Name", " cam "),
                                     H("Content-Length", "0"),
                                     H("X-Amz-Date", "20150830T123600Z"),
                                     H("Authorization", "AWS4-HMAC-SHA256 ...")};
    char want[4096], sh[FL_SIGV4_CANON_SIGNED_MAX], sh2[FL_SIGV4_CANON_SIGNED_MAX];
    int rc;
    fl_sigv4_canon_request_t r = vanilla(sent, 3);
    r.path = fl_slice_str("/putMedia");
    r.query = fl_slice_str("X-Amz-Expires=300&a=1");
    snprintf(want, sizeof want, "%s", canon(&r, &rc, sh));
    ck_assert_int_eq(rc, 0);

    fl_sigv4_canon_request_t v = r;
    v.headers = got;
    v.n_headers = 6;
    v.signed_headers = fl_slice_str(sh);
    v.query = fl_slice_str("a=1&X-Amz-Signature=0123&X-Amz-Expires=300");
    v.skip_signature = 1;
    ck_assert_str_eq(canon(&v, &rc, sh2), want);
    ck_assert_int_eq(rc, 0);
    ck_assert_str_eq(sh2, sh);

    /* a signed header the request lacks, a list out of order, repeated or
     * upper-case, an empty name */
    const char *bad[] = {"host;x-amz-date;x-amzn-stream-name;zz",
                         "x-amz-date;host",
                         "host;host",
                         "Host;x-amz-date",
                         "host;;x-amz-date",
                         "host;x-amz-date;"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        v.signed_headers = fl_slice_str(bad[i]);
        canon(&v, &rc, sh2);
        ck_assert_msg(rc == FL_EMALFORMED, "%s: %d", bad[i], rc);
    }
}
END_TEST

START_TEST(refuses_and_bounds_network_input)
{
    char sh[FL_SIGV4_CANON_SIGNED_MAX];
    int rc;
    fl_sigv4_canon_header_t one[1];
    fl_sigv4_canon_request_t r = vanilla(one, 1);
    static const struct {
        const char *name, *value;
        int err;
    } bad[] = {
        {"x-a", "one\r\nInjected: two", FL_EMALFORMED},
        {"bad name", "v", FL_EMALFORMED},
        {"", "v", FL_EMALFORMED},
        {"x:y", "v", FL_EMALFORMED},
        {"x-del", "a\x7f", FL_EMALFORMED},
        {"x-nul", "", 0},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        one[0] = (fl_sigv4_canon_header_t)H(bad[i].name, bad[i].value);
        canon(&r, &rc, sh);
        ck_assert_msg(rc == bad[i].err, "%s: %d", bad[i].name, rc);
    }
    one[0] = (fl_sigv4_canon_header_t){fl_slice_str("x-nul"), fl_slice("a\0b", 3)};
    canon(&r, &rc, sh);
    ck_assert_int_eq(rc, FL_EMALFORMED);
    one[0] = (fl_sigv4_canon_header_t)H("host", "h");
    r.path = fl_slice_str("relative");
    canon(&r, &rc, sh);
    ck_assert_int_eq(rc, FL_EMALFORMED);
    r.path = fl_slice_str("/");
    r.method = fl_slice_str("G T");
    canon(&r, &rc, sh);
    ck_assert_int_eq(rc, FL_EMALFORMED);
    r.method = fl_slice_str("GET");
    r.payload_hash = fl_slice(NULL, 0);
    canon(&r, &rc, sh);
    ck_assert_int_eq(rc, FL_EMALFORMED);
    r.payload_hash = fl_slice_str(EMPTY_SHA);

    /* 32 signed headers, not 33; a name of 63 bytes, not 64 */
    static fl_sigv4_canon_header_t many[33];
    static char names[33][FL_SIGV4_CANON_MAX_NAME + 2];
    for (int i = 0; i < 33; i++) {
        memset(names[i], 'a' + i % 26, FL_SIGV4_CANON_MAX_NAME);
        names[i][0] = (char)('a' + i / 26);
        names[i][FL_SIGV4_CANON_MAX_NAME] = 0;
        many[i] = (fl_sigv4_canon_header_t)H(names[i], "v");
    }
    r.headers = many;
    r.n_headers = 32;
    canon(&r, &rc, sh);
    ck_assert_int_eq(rc, 0);
    ck_assert_int_eq((int)strlen(sh), 32 * 64 - 1);
    r.n_headers = 33;
    canon(&r, &rc, sh);
    ck_assert_int_eq(rc, FL_ELIMIT);
    names[0][FL_SIGV4_CANON_MAX_NAME] = 'x';
    many[0] = (fl_sigv4_canon_header_t)H(names[0], "v");
    r.n_headers = 1;
    canon(&r, &rc, sh);
    ck_assert_int_eq(rc, FL_ELIMIT);
    /* a signed-headers buffer too small is a limit, not a cut */
    r.headers = one;
    fl_buf_t b;
    fl_buf_init(&b, 0);
    char tiny[4];
    ck_assert_int_eq(fl_sigv4_canon_request(&r, fl_sigv4_canon_buf_sink(&b), tiny, sizeof tiny),
                     FL_ELIMIT);
    /* the sink's error stops it */
    fl_buf_reset(&b);
    b.max = 10;
    ck_assert_int_eq(fl_sigv4_canon_request(&r, fl_sigv4_canon_buf_sink(&b), sh, sizeof sh),
                     FL_ELIMIT);
    fl_buf_free(&b);

    /* 64 query parameters, not 65 */
    static char q[1024];
    size_t n = 0;
    for (int i = 0; i < 64; i++)
        n += (size_t)snprintf(q + n, sizeof q - n, "%sp%d=%d", i ? "&" : "", i, i);
    r.query = fl_slice(q, n);
    canon(&r, &rc, sh);
    ck_assert_int_eq(rc, 0);
    snprintf(q + n, sizeof q - n, "&p64=64");
    r.query = fl_slice_str(q);
    canon(&r, &rc, sh);
    ck_assert_int_eq(rc, FL_ELIMIT);
    ck_assert_int_eq(fl_sigv4_canon_request(NULL, fl_sigv4_canon_buf_sink(&b), sh, sizeof sh),
                     FL_EINVAL);

    /* scope fields */
    char scope[FL_SIGV4_CANON_SCOPE_MAX];
    ck_assert_int_eq(fl_sigv4_canon_scope(fl_slice_str("2015083"), fl_slice_str("r"),
                                          fl_slice_str("s"), scope, sizeof scope),
                     FL_EMALFORMED);
    ck_assert_int_eq(fl_sigv4_canon_scope(fl_slice_str("20150830"), fl_slice_str("us/east"),
                                          fl_slice_str("s"), scope, sizeof scope),
                     FL_EMALFORMED);
    ck_assert_int_eq(fl_sigv4_canon_scope(fl_slice_str("20150830"), fl_slice_str("r"),
                                          fl_slice_str(names[1]), scope, sizeof scope),
                     0 + (int)strlen("20150830/r//aws4_request") + FL_SIGV4_CANON_MAX_FIELD);
    ck_assert_int_eq(fl_sigv4_canon_scope(fl_slice_str("20150830"), fl_slice_str("r"),
                                          fl_slice_str(names[0]), scope, sizeof scope),
                     FL_ELIMIT);
    char sts[FL_SIGV4_CANON_STS_MAX];
    ck_assert_int_eq(fl_sigv4_canon_string_to_sign(fl_slice_str("20150830T123600Z"),
                                                   fl_slice_str("s"), fl_slice_str(EMPTY_SHA "0"),
                                                   sts, sizeof sts),
                     FL_EMALFORMED);
    ck_assert_int_eq(fl_sigv4_canon_string_to_sign(fl_slice_str("20150830T123600Z"),
                                                   fl_slice_str("s"), fl_slice_str(EMPTY_SHA), sts,
                                                   20),
                     FL_ELIMIT);
}
END_TEST

#define SIG64 "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
#define PRESIGNED                                                                                  \
    "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2F"      \
    "service%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-Expires=300&"                        \
    "X-Amz-SignedHeaders=host&X-Amz-Signature=" SIG64

START_TEST(parses_presigned_queries)
{
    fl_sigv4_canon_presigned_t p;
    const char *why = NULL;
    ck_assert_int_eq(fl_sigv4_canon_parse_presigned(fl_slice_str("a=1&" PRESIGNED), &p, &why), 0);
    ck_assert_str_eq(p.access_key, "AKIDEXAMPLE");
    ck_assert_str_eq(p.date, "20150830");
    ck_assert_str_eq(p.region, "us-east-1");
    ck_assert_str_eq(p.service, "service");
    ck_assert_str_eq(p.amz_date, "20150830T123600Z");
    ck_assert_int_eq(p.expires, 300);
    ck_assert_str_eq(p.signed_headers, "host");
    ck_assert_str_eq(p.signature, SIG64);
    ck_assert_int_eq(p.has_security_token, 0);
    ck_assert_int_eq(
        fl_sigv4_canon_parse_presigned(fl_slice_str(PRESIGNED "&X-Amz-Security-Token=t"), &p, &why),
        0);
    ck_assert_int_eq(p.has_security_token, 1);

    static const struct {
        const char *q;
        int err;
    } bad[] = {
        {"a=1&b=2", FL_ENOTFOUND},
        {"X-Amz-Algorithm=AWS4-HMAC-SHA1", FL_EUNSUPPORTED},
        {"X-Amz-Algorithm=AWS4-HMAC-SHA256", FL_EMALFORMED},
        {PRESIGNED "&X-Amz-Date=20150830T123600Z", FL_EMALFORMED},
        {"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2F"
         "service%2Faws4_request&X-Amz-Date=20150831T123600Z&X-Amz-Expires=300&"
         "X-Amz-SignedHeaders=host&X-Amz-Signature=" SIG64,
         FL_EMALFORMED},
        {"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2F"
         "service%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-Expires=604801&"
         "X-Amz-SignedHeaders=host&X-Amz-Signature=" SIG64,
         FL_ELIMIT},
        {"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2F"
         "service%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-Expires=0&"
         "X-Amz-SignedHeaders=host&X-Amz-Signature=" SIG64,
         FL_ELIMIT},
        {"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2F"
         "service&X-Amz-Date=20150830T123600Z&X-Amz-Expires=300&"
         "X-Amz-SignedHeaders=host&X-Amz-Signature=" SIG64,
         FL_EMALFORMED},
        {"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2F"
         "service%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-Expires=300&"
         "X-Amz-SignedHeaders=x-amz-date%3Bhost&X-Amz-Signature=" SIG64,
         FL_EMALFORMED},
        {"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2F"
         "service%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-Expires=300&"
         "X-Amz-SignedHeaders=host&X-Amz-Signature=" SIG64 "0",
         FL_EMALFORMED},
        {"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AK%00%2F20150830%2Fus-east-1%2F"
         "service%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-Expires=300&"
         "X-Amz-SignedHeaders=host&X-Amz-Signature=" SIG64,
         FL_EMALFORMED},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        why = NULL;
        int rc = fl_sigv4_canon_parse_presigned(fl_slice_str(bad[i].q), &p, &why);
        ck_assert_msg(rc == bad[i].err, "case %zu: %d (%s)", i, rc, why ? why : "-");
        ck_assert_ptr_nonnull(why);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("common_sigv4_canon");
    TCase *tc = tcase_create("canonical");
    tcase_add_test(tc, matches_the_aws_suite_texts);
    tcase_add_test(tc, canonical_forms);
    tcase_add_test(tc, a_verifier_rebuilds_the_signed_bytes);
    tcase_add_test(tc, refuses_and_bounds_network_input);
    suite_add_tcase(s, tc);
    tc = tcase_create("presigned");
    tcase_add_test(tc, parses_presigned_queries);
    suite_add_tcase(s, tc);
    return fl_test_main(s);
}
