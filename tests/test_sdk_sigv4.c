/*
 * tests/test_sdk_sigv4.c — the SDK's Signature V4 signer against AWS's
 * published sig-v4 test suite (AKIDEXAMPLE, 20150830T123600Z, us-east-1,
 * service "service"), its own rules (UNSIGNED-PAYLOAD, session token,
 * limits, refused input), and the server's Authorization parser accepting
 * what it produces.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/bytes.h"
#include "common/sigv4_canon.h"
#include "harness.h"
#include "sigv4_sign.h"

#define AK     "AKIDEXAMPLE"
#define SK     "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define T_2015 ((time_t)1440938160) /* 2015-08-30T12:36:00Z */
#define SCOPE  "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
#define TOKEN                                                                                      \
    "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSP" \
    "fIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT" \
    "7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+"        \
    "scqKmlzm"                                                                                     \
    "8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA=="

typedef struct {
    const char *name; /* the suite's case */
    const char *method;
    const char *path;
    flp_header_t headers[4];
    size_t n_headers;
    const char *body; /* signed as given (the suite's cases all sign a payload) */
    const char *token;
    const char *want; /* after SCOPE */
} suite_case_t;

static const suite_case_t cases[] = {
    {"get-vanilla",
     "GET",
     "/",
     {{0}},
     0,
     "",
     NULL,
     "SignedHeaders=host;x-amz-date, "
     "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
    {"post-vanilla",
     "POST",
     "/",
     {{0}},
     0,
     "",
     NULL,
     "SignedHeaders=host;x-amz-date, "
     "Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"},
    {"get-vanilla-query-order-key-case",
     "GET",
     "/?Param2=value2&Param1=value1",
     {{0}},
     0,
     "",
     NULL,
     "SignedHeaders=host;x-amz-date, "
     "Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"},
    {"get-vanilla-empty-query-key",
     "GET",
     "/?Param1=value1",
     {{0}},
     0,
     "",
     NULL,
     "SignedHeaders=host;x-amz-date, "
     "Signature=a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb"},
    {"get-vanilla-query-unreserved",
     "GET",
     "/?-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz="
     "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
     {{0}},
     0,
     "",
     NULL,
     "SignedHeaders=host;x-amz-date, "
     "Signature=9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197"},
    {"get-vanilla-utf8-query",
     "GET",
     "/?\xe1\x88\xb4=bar",
     {{0}},
     0,
     "",
     NULL,
     "SignedHeaders=host;x-amz-date, "
     "Signature=2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04"},
    {"get-unreserved",
     "GET",
     "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
     {{0}},
     0,
     "",
     NULL,
     "SignedHeaders=host;x-amz-date, "
     "Signature=07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f"},
    {"get-utf8",
     "GET",
     "/\xe1\x88\xb4",
     {{0}},
     0,
     "",
     NULL,
     "SignedHeaders=host;x-amz-date, "
     "Signature=8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85"},
    {"get-header-key-duplicate",
     "GET",
     "/",
     {{"My-Header1", "value2"}, {"My-Header1", "value2"}, {"My-Header1", "value1"}},
     3,
     "",
     NULL,
     "SignedHeaders=host;my-header1;x-amz-date, "
     "Signature=c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea"},
    {"get-header-value-order",
     "GET",
     "/",
     {{"My-Header1", "value4"},
      {"My-Header1", "value1"},
      {"My-Header1", "value3"},
      {"My-Header1", "value2"}},
     4,
     "",
     NULL,
     "SignedHeaders=host;my-header1;x-amz-date, "
     "Signature=08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01"},
    {"get-header-value-trim",
     "GET",
     "/",
     {{"My-Header1", " value1"}, {"My-Header2", "\"a   b   c\""}},
     2,
     "",
     NULL,
     "SignedHeaders=host;my-header1;my-header2;x-amz-date, "
     "Signature=acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736"},
    {"post-header-key-sort",
     "POST",
     "/",
     {{"My-Header1", "value1"}},
     1,
     "",
     NULL,
     "SignedHeaders=host;my-header1;x-amz-date, "
     "Signature=c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c"},
    {"post-header-value-case",
     "POST",
     "/",
     {{"My-Header1", "VALUE1"}},
     1,
     "",
     NULL,
     "SignedHeaders=host;my-header1;x-amz-date, "
     "Signature=cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d"},
    {"post-vanilla-query",
     "POST",
     "/?Param1=value1",
     {{0}},
     0,
     "",
     NULL,
     "SignedHeaders=host;x-amz-date, "
     "Signature=28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11"},
    {"post-vanilla-query-nonunreserved",
     "POST",
     "/?@#$%^&+=/,?><`\";:\\|][{}",
     {{0}},
     0,
     "",
     NULL,
     "SignedHeaders=host;x-amz-date, "
     "Signature=66c82657c86e26fb25238d0e69f011edc4c6df5ae71119d7cb98ed9b87393c1e"},
    {"post-sts-header-before",
     "POST",
     "/",
     {{0}},
     0,
     "",
     TOKEN,
     "SignedHeaders=host;x-amz-date;x-amz-security-token, "
     "Signature=85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead"},
    {"post-x-www-form-urlencoded",
     "POST",
     "/",
     {{"Content-Type", "application/x-www-form-urlencoded"}},
     1,
     "Param1=value1",
     NULL,
     "SignedHeaders=content-type;host;x-amz-date, "
     "Signature=ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a"},
    {"post-x-www-form-urlencoded-parameters",
     "POST",
     "/",
     {{"Content-Type", "application/x-www-form-urlencoded; charset=utf8"}},
     1,
     "Param1=value1",
     NULL,
     "SignedHeaders=content-type;host;x-amz-date, "
     "Signature=1a72ec8f64bd914b0e42e42607c7fbce7fb2c7465f63e3092b3b0d39fa77a6fe"},
};

static flp_sigv4_request_t suite_request(const suite_case_t *c)
{
    flp_sigv4_request_t r = {0};
    r.method = c->method;
    r.path = c->path;
    r.host = "example.amazonaws.com";
    r.headers = c->headers;
    r.n_headers = c->n_headers;
    r.body = (const uint8_t *)c->body;
    r.body_len = strlen(c->body);
    r.region = "us-east-1";
    r.service = "service";
    r.access_key = AK;
    r.secret_key = SK;
    r.session_token = c->token;
    r.now = T_2015;
    return r;
}

START_TEST(matches_the_aws_test_suite)
{
    const suite_case_t *c = &cases[_i];
    flp_sigv4_request_t r = suite_request(c);
    flp_sigv4_result_t out;
    memset(&out, 0x55, sizeof out);
    ck_assert_msg(flp_sigv4_sign(&r, &out) == 0, "%s: sign failed", c->name);
    ck_assert_str_eq(out.amz_date, "20150830T123600Z");
    char want[1024];
    snprintf(want, sizeof want, SCOPE "%s", c->want);
    ck_assert_msg(strcmp(out.authorization, want) == 0, "%s:\n got %s\nwant %s", c->name,
                  out.authorization, want);
}
END_TEST

/* One byte changed anywhere changes the signature: the suite check above is
 * not passing by accident (e.g. an ignored field). */
START_TEST(every_input_is_signed)
{
    const suite_case_t *c = &cases[16]; /* post-x-www-form-urlencoded */
    ck_assert_str_eq(c->name, "post-x-www-form-urlencoded");
    flp_sigv4_request_t base = suite_request(c);
    flp_sigv4_result_t ref, out;
    ck_assert_int_eq(flp_sigv4_sign(&base, &ref), 0);

    flp_sigv4_request_t r;
    flp_header_t h[1] = {{"Content-Type", "application/json"}};
#define DIFFERS(field, value)                                                                      \
    do {                                                                                           \
        r = base;                                                                                  \
        r.field = value;                                                                           \
        ck_assert_int_eq(flp_sigv4_sign(&r, &out), 0);                                             \
        ck_assert_msg(strcmp(out.authorization, ref.authorization) != 0, #field " not signed");    \
    } while (0)
    DIFFERS(method, "PUT");
    DIFFERS(path, "/x");
    DIFFERS(path, "/?a=b");
    DIFFERS(host, "example.amazonaws.com:443");
    DIFFERS(headers, h);
    DIFFERS(body, (const uint8_t *)"Param1=value2");
    DIFFERS(body_len, 12);
    DIFFERS(region, "us-west-2");
    DIFFERS(service, "kinesisvideo");
    DIFFERS(secret_key, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEz");
    DIFFERS(now, T_2015 + 1);
    DIFFERS(session_token, "token");
#undef DIFFERS
}
END_TEST

START_TEST(unsigned_payload_and_payload_hash)
{
    flp_sigv4_request_t r = suite_request(&cases[0]);
    flp_sigv4_result_t out;
    ck_assert_int_eq(flp_sigv4_sign(&r, &out), 0);
    ck_assert_str_eq(out.payload_hash,
                     "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    r.body = (const uint8_t *)"abc";
    r.body_len = 3;
    ck_assert_int_eq(flp_sigv4_sign(&r, &out), 0);
    ck_assert_str_eq(out.payload_hash,
                     "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    r.body = NULL;
    r.body_len = 0;
    ck_assert_int_eq(flp_sigv4_sign(&r, &out), 0);
    ck_assert_str_eq(out.payload_hash, "UNSIGNED-PAYLOAD");
    /* a NULL body with a length is a caller bug */
    r.body_len = 3;
    ck_assert_int_eq(flp_sigv4_sign(&r, &out), FLP_EINVAL);
}
END_TEST

START_TEST(equivalent_requests_sign_the_same)
{
    /* header name case, surrounding spaces, query order and percent-encoding
     * of unreserved characters do not change the canonical request */
    flp_header_t h1[2] = {{"X-Amzn-Stream-Name", "cam"}, {"content-type", "application/json"}};
    flp_header_t h2[2] = {{"Content-Type", "  application/json "}, {"x-amzn-stream-name", "cam"}};
    flp_sigv4_request_t r = suite_request(&cases[0]);
    r.headers = h1;
    r.n_headers = 2;
    r.path = "/putMedia?b=2&a=%7e1";
    flp_sigv4_result_t a, b;
    ck_assert_int_eq(flp_sigv4_sign(&r, &a), 0);
    r.headers = h2;
    r.path = "/putMedia?a=~1&b=2";
    ck_assert_int_eq(flp_sigv4_sign(&r, &b), 0);
    ck_assert_str_eq(a.authorization, b.authorization);
    ck_assert_ptr_nonnull(strstr(a.authorization, "SignedHeaders=content-type;host;x-amz-date;"
                                                  "x-amzn-stream-name, "));
    /* but an encoded path is encoded again (non-S3 services) */
    r.path = "/put%20Media";
    ck_assert_int_eq(flp_sigv4_sign(&r, &a), 0);
    r.path = "/put Media";
    ck_assert_int_eq(flp_sigv4_sign(&r, &b), 0);
    ck_assert_str_ne(a.authorization, b.authorization);
}
END_TEST

START_TEST(refuses_what_it_cannot_sign)
{
    flp_sigv4_result_t out;
    flp_sigv4_request_t base = suite_request(&cases[0]), r;
    flp_header_t bad[] = {
        {"host", "evil"},       {"X-Amz-Date", "20150830T123600Z"},
        {"Authorization", "x"}, {"x-a", "one\r\nInjected: two"},
        {"bad name", "v"},      {"", "v"},
        {"x-b", NULL},          {NULL, "v"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = base;
        r.headers = &bad[i];
        r.n_headers = 1;
        ck_assert_msg(flp_sigv4_sign(&r, &out) == FLP_EINVAL, "header %zu accepted", i);
    }
    /* a session token is ours to add */
    flp_header_t tok = {"x-amz-security-token", "t"};
    r = base;
    r.headers = &tok;
    r.n_headers = 1;
    r.session_token = "t";
    ck_assert_int_eq(flp_sigv4_sign(&r, &out), FLP_EINVAL);

    r = base;
    r.path = "relative";
    ck_assert_int_eq(flp_sigv4_sign(&r, &out), FLP_EINVAL);
    r = base;
    r.region = "us/east";
    ck_assert_int_eq(flp_sigv4_sign(&r, &out), FLP_EINVAL);
    r = base;
    r.access_key = "";
    ck_assert_int_eq(flp_sigv4_sign(&r, &out), FLP_EINVAL);
    r = base;
    r.secret_key = NULL;
    ck_assert_int_eq(flp_sigv4_sign(&r, &out), FLP_EINVAL);
    r = base;
    r.host = "a\nb";
    ck_assert_int_eq(flp_sigv4_sign(&r, &out), FLP_EINVAL);
    ck_assert_int_eq(flp_sigv4_sign(NULL, &out), FLP_EINVAL);
    ck_assert_int_eq(flp_sigv4_sign(&base, NULL), FLP_EINVAL);
}
END_TEST

START_TEST(limits_hold)
{
    flp_sigv4_result_t out;
    flp_sigv4_request_t r = suite_request(&cases[0]);

    /* 30 headers + host + x-amz-date = 32 signed headers: the most */
    static flp_header_t h[31];
    static char names[31][16];
    for (int i = 0; i < 31; i++) {
        snprintf(names[i], sizeof names[i], "x-h%02d", i);
        h[i].name = names[i];
        h[i].value = "v";
    }
    r.headers = h;
    r.n_headers = 30;
    ck_assert_int_eq(flp_sigv4_sign(&r, &out), 0);
    r.n_headers = 31;
    ck_assert_int_eq(flp_sigv4_sign(&r, &out), FLP_EINVAL);
    /* with a session token, one fewer */
    r.n_headers = 30;
    r.session_token = "t";
    ck_assert_int_eq(flp_sigv4_sign(&r, &out), FLP_EINVAL);
    r.session_token = NULL;
    r.n_headers = 0;

    /* 64 query parameters, not 65 */
    static char path[2048];
    size_t n = (size_t)snprintf(path, sizeof path, "/?");
    for (int i = 0; i < 64; i++)
        n += (size_t)snprintf(path + n, sizeof path - n, "%sp%d=%d", i ? "&" : "", i, i);
    r.path = path;
    ck_assert_int_eq(flp_sigv4_sign(&r, &out), 0);
    snprintf(path + n, sizeof path - n, "&p64=64");
    ck_assert_int_eq(flp_sigv4_sign(&r, &out), FLP_EINVAL);

    /* a long path and a long header value are fine: they are hashed as they go */
    static char longpath[100001];
    memset(longpath, 'a', sizeof longpath - 1);
    longpath[0] = '/';
    r.path = longpath;
    ck_assert_int_eq(flp_sigv4_sign(&r, &out), 0);
    r.path = "/";
    r.session_token = longpath + 1;
    ck_assert_int_eq(flp_sigv4_sign(&r, &out), 0);
    r.session_token = NULL;

    /* a header name over 63 bytes, an access key over 128 bytes */
    char big[200];
    memset(big, 'k', sizeof big - 1);
    big[sizeof big - 1] = 0;
    flp_header_t one = {big, "v"};
    big[64] = 0;
    r.headers = &one;
    r.n_headers = 1;
    ck_assert_int_eq(flp_sigv4_sign(&r, &out), FLP_EINVAL);
    big[64] = 'k';
    big[63] = 0;
    ck_assert_int_eq(flp_sigv4_sign(&r, &out), 0);
    big[63] = 'k';
    r.n_headers = 0;
    big[129] = 0;
    r.access_key = big;
    ck_assert_int_eq(flp_sigv4_sign(&r, &out), FLP_EINVAL);
    big[128] = 0;
    ck_assert_int_eq(flp_sigv4_sign(&r, &out), 0);
    /* 32 headers whose names are 63 bytes fill the Authorization value past
     * its 1024 bytes: refused, not cut */
    static char long_names[30][64];
    for (int i = 0; i < 30; i++) {
        memset(long_names[i], 'a' + (i % 26), 63);
        long_names[i][0] = (char)('a' + i / 26);
        long_names[i][63] = 0;
        h[i].name = long_names[i];
    }
    r.access_key = AK;
    r.headers = h;
    r.n_headers = 30;
    ck_assert_int_eq(flp_sigv4_sign(&r, &out), FLP_EINVAL);
    ck_assert_str_eq(out.authorization, "");
}
END_TEST

/* What the SDK sends to framelogd's PutMedia, parsed by the server's own
 * Authorization parser. */
START_TEST(the_server_parses_what_we_sign)
{
    flp_header_t h[] = {{"x-amzn-stream-name", "cam"},
                        {"x-amzn-fragment-timecode-type", "ABSOLUTE"},
                        {"x-amzn-producer-start-timestamp", "1764000000.000"},
                        {"x-amz-content-sha256", "UNSIGNED-PAYLOAD"}};
    flp_sigv4_request_t r = {0};
    r.method = "GET";
    r.path = "/putMedia";
    r.host = "127.0.0.1:8080";
    r.headers = h;
    r.n_headers = 4;
    r.region = "eu-west-1";
    r.service = "kinesisvideo";
    r.access_key = "AKIAFRAMELOGTEST";
    r.secret_key = "secret";
    r.session_token = "tok";
    r.now = 1764000000; /* 2025-11-24T16:00:00Z */
    flp_sigv4_result_t out;
    ck_assert_int_eq(flp_sigv4_sign(&r, &out), 0);
    ck_assert_str_eq(out.amz_date, "20251124T160000Z");
    ck_assert_str_eq(out.payload_hash, "UNSIGNED-PAYLOAD");

    fl_sigv4_canon_auth_t a;
    const char *why = NULL;
    int rc = fl_sigv4_canon_parse_authorization(fl_slice_str(out.authorization), &a, &why);
    ck_assert_msg(rc == 0, "server refused %s: %s", out.authorization, why ? why : "?");
    ck_assert_str_eq(a.access_key, "AKIAFRAMELOGTEST");
    ck_assert_str_eq(a.date, "20251124");
    ck_assert_str_eq(a.region, "eu-west-1");
    ck_assert_str_eq(a.service, "kinesisvideo");
    const char *want[] = {"host",
                          "x-amz-content-sha256",
                          "x-amz-date",
                          "x-amz-security-token",
                          "x-amzn-fragment-timecode-type",
                          "x-amzn-producer-start-timestamp",
                          "x-amzn-stream-name"};
    char joined[512] = "";
    for (int i = 0; i < 7; i++)
        snprintf(joined + strlen(joined), sizeof joined - strlen(joined), "%s%s", i ? ";" : "",
                 want[i]);
    ck_assert_str_eq(a.signed_headers, joined);
    ck_assert_int_eq((int)strlen(a.signature), 64);
    ck_assert_ptr_nonnull(strstr(out.authorization, a.signature));

    /* the most signed headers we make is the most the server takes */
    static flp_header_t many[29];
    static char names[29][16];
    for (int i = 0; i < 29; i++) {
        snprintf(names[i], sizeof names[i], "x-h%02d", i);
        many[i].name = names[i];
        many[i].value = "v";
    }
    r.headers = many;
    r.n_headers = 29; /* + host, x-amz-date, x-amz-security-token */
    ck_assert_int_eq(flp_sigv4_sign(&r, &out), 0);
    rc = fl_sigv4_canon_parse_authorization(fl_slice_str(out.authorization), &a, &why);
    ck_assert_msg(rc == 0, "server refused %s: %s", out.authorization, why ? why : "?");
    int n_signed = 1;
    for (const char *p = a.signed_headers; *p; p++)
        n_signed += *p == ';';
    ck_assert_int_eq(n_signed, 32);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("sdk_sigv4");
    TCase *tc = tcase_create("aws_suite");
    tcase_add_loop_test(tc, matches_the_aws_test_suite, 0, (int)(sizeof cases / sizeof cases[0]));
    tcase_add_test(tc, every_input_is_signed);
    suite_add_tcase(s, tc);
    tc = tcase_create("rules");
    tcase_add_test(tc, unsigned_payload_and_payload_hash);
    tcase_add_test(tc, equivalent_requests_sign_the_same);
    tcase_add_test(tc, refuses_what_it_cannot_sign);
    tcase_add_test(tc, limits_hold);
    suite_add_tcase(s, tc);
    tc = tcase_create("server");
    tcase_add_test(tc, the_server_parses_what_we_sign);
    suite_add_tcase(s, tc);
    return fl_test_main(s);
}
