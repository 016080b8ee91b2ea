/*
 * tests/test_server_sigv4.c — parsing the SigV4 Authorization header as the
 * AWS CLI, the SDKs and KVS producers send it, and refusing what is broken:
 * the server's reading of it, common/sigv4_canon.c's parser (the one the
 * core calls for every AWS route and WebSocket upgrade).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/sigv4_canon.h"
#include "harness.h"

#define SIG "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"

START_TEST(parses_what_the_cli_sends)
{
    fl_sigv4_canon_auth_t a;
    const char *why = NULL;
    const char *h = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261123/us-west-2/kinesisvideo/"
                    "aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=" SIG;
    ck_assert_int_eq(fl_sigv4_canon_parse_authorization(fl_slice_str(h), &a, &why), 0);
    ck_assert_str_eq(a.access_key, "AKIDEXAMPLE");
    ck_assert_str_eq(a.date, "20261123");
    ck_assert_str_eq(a.region, "us-west-2");
    ck_assert_str_eq(a.service, "kinesisvideo");
    ck_assert_str_eq(a.signed_headers, "content-type;host;x-amz-date");
    ck_assert_str_eq(a.signature, SIG);
}
END_TEST

START_TEST(parts_in_any_order_without_spaces)
{
    fl_sigv4_canon_auth_t a;
    const char *h = "AWS4-HMAC-SHA256 Signature=" SIG ",SignedHeaders=host,Credential=K/20260101/"
                    "r/kinesis/aws4_request";
    ck_assert_int_eq(fl_sigv4_canon_parse_authorization(fl_slice_str(h), &a, NULL), 0);
    ck_assert_str_eq(a.service, "kinesis");
    ck_assert_str_eq(a.signed_headers, "host");
}
END_TEST

struct bad {
    const char *h;
    int err;
    const char *why;
};

static const struct bad bads[] = {
    {"Basic dXNlcjpwYXNz", FL_EUNSUPPORTED, "scheme"},
    {"AWS4-HMAC-SHA256X Credential=a", FL_EUNSUPPORTED, "scheme"},
    {"AWS4-HMAC-SHA256", FL_EMALFORMED, "without '='"},
    {"AWS4-HMAC-SHA256 Credential=K/20260101/r/s/aws4_request, SignedHeaders=host", FL_EMALFORMED,
     "lacks"},
    {"AWS4-HMAC-SHA256 Credential=K/20260101/r/s/aws4_request, SignedHeaders=host, "
     "Signature=" SIG ", Signature=" SIG,
     FL_EMALFORMED, "repeats"},
    {"AWS4-HMAC-SHA256 Credential=K/2026011/r/s/aws4_request, SignedHeaders=host, Signature=" SIG,
     FL_EMALFORMED, "YYYYMMDD"},
    {"AWS4-HMAC-SHA256 Credential=K/20260101/r/s/aws3_request, SignedHeaders=host, "
     "Signature=" SIG,
     FL_EMALFORMED, "aws4_request"},
    {"AWS4-HMAC-SHA256 Credential=K/20260101/r/s/x/aws4_request, SignedHeaders=host, "
     "Signature=" SIG,
     FL_EMALFORMED, "too many parts"},
    {"AWS4-HMAC-SHA256 Credential=/20260101/r/s/aws4_request, SignedHeaders=host, Signature=" SIG,
     FL_EMALFORMED, "access key"},
    {"AWS4-HMAC-SHA256 Credential=K/20260101/r/s/aws4_request, SignedHeaders=Host, "
     "Signature=" SIG,
     FL_EMALFORMED, "SignedHeaders"},
    {"AWS4-HMAC-SHA256 Credential=K/20260101/r/s/aws4_request, SignedHeaders=a;;b, "
     "Signature=" SIG,
     FL_EMALFORMED, "empty"},
    {"AWS4-HMAC-SHA256 Credential=K/20260101/r/s/aws4_request, SignedHeaders=host, "
     "Signature=ABC",
     FL_EMALFORMED, "64 hex"},
    {"AWS4-HMAC-SHA256 Credential=K/20260101/r/s/aws4_request, SignedHeaders=host, "
     "Signature=" SIG ", Foo=bar",
     FL_EMALFORMED, "unknown part"},
    {"AWS4-HMAC-SHA256 Credential=K\"/20260101/r/s/aws4_request, SignedHeaders=host, "
     "Signature=" SIG,
     FL_EMALFORMED, "character"},
};

START_TEST(refuses_broken_headers_with_reason)
{
    const struct bad *b = &bads[_i];
    fl_sigv4_canon_auth_t a;
    const char *why = NULL;
    int rc = fl_sigv4_canon_parse_authorization(fl_slice_str(b->h), &a, &why);
    ck_assert_msg(rc == b->err, "case %d: rc %d (%s)", _i, rc, why ? why : "-");
    ck_assert_msg(why && strstr(why, b->why), "case %d: reason '%s' lacks '%s'", _i,
                  why ? why : "-", b->why);
}
END_TEST

START_TEST(limits_hold)
{
    fl_sigv4_canon_auth_t a;
    char h[4096];
    /* 33 signed headers */
    int n = snprintf(h, sizeof h,
                     "AWS4-HMAC-SHA256 Credential=K/20260101/r/s/aws4_request, "
                     "SignedHeaders=");
    for (int i = 0; i < 33; i++)
        n += snprintf(h + n, sizeof h - (size_t)n, "%sh%d", i ? ";" : "", i);
    snprintf(h + n, sizeof h - (size_t)n, ", Signature=" SIG);
    ck_assert_int_eq(fl_sigv4_canon_parse_authorization(fl_slice_str(h), &a, NULL), FL_ELIMIT);
    /* an over-long header */
    char big[FL_SIGV4_CANON_MAX_AUTHORIZATION + 1];
    memset(big, 'a', sizeof big);
    ck_assert_int_eq(fl_sigv4_canon_parse_authorization(fl_slice(big, sizeof big), &a, NULL),
                     FL_ELIMIT);
    /* an over-long access key */
    char key[200];
    memset(key, 'K', sizeof key - 1);
    key[sizeof key - 1] = 0;
    snprintf(h, sizeof h,
             "AWS4-HMAC-SHA256 Credential=%s/20260101/r/s/aws4_request, SignedHeaders=host, "
             "Signature=" SIG,
             key);
    ck_assert_int_eq(fl_sigv4_canon_parse_authorization(fl_slice_str(h), &a, NULL), FL_ELIMIT);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("server_sigv4");
    TCase *tc = tcase_create("parse");
    tcase_add_test(tc, parses_what_the_cli_sends);
    tcase_add_test(tc, parts_in_any_order_without_spaces);
    tcase_add_loop_test(tc, refuses_broken_headers_with_reason, 0,
                        (int)(sizeof bads / sizeof bads[0]));
    tcase_add_test(tc, limits_hold);
    suite_add_tcase(s, tc);
    return fl_test_main(s);
}
