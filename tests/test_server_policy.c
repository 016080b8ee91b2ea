/*
 * tests/test_server_policy.c — server/auth in-process: the IAM-shaped
 * policy parser and evaluation (deny wins, no match denies, wildcards,
 * what is refused rather than ignored, limits), and the SigV4 verifier on
 * a request signed by hand (AWS's documented chain, in Python, frozen in
 * tests/fuzz/corpus/fuzz_auth_verify/signed_json.txt).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "harness.h"
#include "server/auth/policy.h"
#include "server/auth/verify.h"

static fl_policy_t *parse_ok(const char *text)
{
    fl_policy_t *p = NULL;
    char why[200] = "";
    int rc = fl_policy_parse(fl_slice_str(text), &p, why, sizeof why);
    ck_assert_msg(rc == 0, "%s: %s", text, why);
    return p;
}

static void parse_fails(const char *text, int code, const char *reason)
{
    fl_policy_t *p = NULL;
    char why[200] = "";
    ck_assert_int_eq(fl_policy_parse(fl_slice_str(text), &p, why, sizeof why), code);
    ck_assert_ptr_null(p);
    ck_assert_msg(strstr(why, reason), "%s: %s", text, why);
}

static int allows(const fl_policy_t *p, const char *a, const char *r)
{
    const char *why = NULL;
    int v = fl_policy_allows(p, a, r, &why);
    ck_assert_ptr_nonnull(why);
    return v;
}

#define CAM1 "arn:aws:kinesisvideo:us-east-1:000000000000:stream/cam-1/1796400000000"
#define DOOR "arn:aws:kinesisvideo:us-east-1:000000000000:stream/door-1/1796400000000"

START_TEST(deny_wins_and_no_match_denies)
{
    fl_policy_t *p = parse_ok(
        "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":"
        "\"kinesisvideo:*\",\"Resource\":\"*\"},{\"Effect\":\"Deny\",\"Action\":["
        "\"kinesisvideo:PutMedia\"],\"Resource\":\"arn:aws:kinesisvideo:*:*:stream/cam-*\"}]}");
    ck_assert_int_eq(allows(p, "kinesisvideo:GetMedia", CAM1), 1);
    ck_assert_int_eq(allows(p, "kinesisvideo:PutMedia", CAM1), 0);
    ck_assert_int_eq(allows(p, "KinesisVideo:putmedia", CAM1), 0); /* actions ignore case */
    ck_assert_int_eq(allows(p, "kinesisvideo:PutMedia", DOOR), 1);
    ck_assert_int_eq(allows(p, "kinesis:PutRecords", DOOR), 0); /* no statement matches */
    fl_policy_free(p);
    p = parse_ok("{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"kinesisvideo:Get?edia\","
                 "\"Resource\":\"arn:aws:kinesisvideo:*:*:stream/cam-*\"}}");
    ck_assert_int_eq(allows(p, "kinesisvideo:GetMedia", CAM1), 1);
    ck_assert_int_eq(allows(p, "kinesisvideo:GetMedia", DOOR), 0);
    /* resources keep their case */
    ck_assert_int_eq(
        allows(p, "kinesisvideo:GetMedia", "arn:aws:kinesisvideo:us-east-1:0:stream/CAM-1/1"), 0);
    fl_policy_free(p);
}
END_TEST

START_TEST(matcher)
{
    ck_assert_int_eq(fl_policy_match("*", "", 0), 1);
    ck_assert_int_eq(fl_policy_match("a*b*c", "axxbyyc", 0), 1);
    ck_assert_int_eq(fl_policy_match("a*b*c", "axxbyy", 0), 0);
    ck_assert_int_eq(fl_policy_match("a?c", "abc", 0), 1);
    ck_assert_int_eq(fl_policy_match("a?c", "ac", 0), 0);
    ck_assert_int_eq(fl_policy_match("ABC", "abc", 1), 1);
    ck_assert_int_eq(fl_policy_match("ABC", "abc", 0), 0);
    /* many stars against a long near-miss: linear, not exponential */
    char s[4001];
    memset(s, 'a', 4000);
    s[4000] = 0;
    ck_assert_int_eq(fl_policy_match("*a*a*a*a*a*a*a*a*a*a*a*a*b", s, 0), 0);
}
END_TEST

START_TEST(refused_not_ignored)
{
    parse_fails("{\"Statement\":{\"Effect\":\"Allow\",\"NotAction\":\"x\",\"Resource\":\"*\"}}",
                FL_EMALFORMED, "NotAction is not supported");
    parse_fails("{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"x\",\"Resource\":\"*\","
                "\"Condition\":{}}}",
                FL_EMALFORMED, "Condition is not supported");
    parse_fails("{\"Statement\":{\"Effect\":\"Maybe\",\"Action\":\"x\",\"Resource\":\"*\"}}",
                FL_EMALFORMED, "Effect must be Allow or Deny");
    parse_fails("{\"Statement\":[]}", FL_EMALFORMED, "non-empty");
    parse_fails("{\"Statement\":{\"Effect\":\"Allow\",\"Action\":[],\"Resource\":\"*\"}}",
                FL_EMALFORMED, "Action must be");
    parse_fails("[1]", FL_EMALFORMED, "JSON object");
    parse_fails("{\"Version\":\"2020-01-01\",\"Statement\":{}}", FL_EMALFORMED, "Version");
    /* limits */
    fl_buf_t b;
    fl_buf_init(&b, 0);
    fl_buf_append_str(&b, "{\"Statement\":[");
    for (int i = 0; i <= FL_POLICY_MAX_STATEMENTS; i++)
        fl_buf_append_str(&b, i ? ",{\"Effect\":\"Allow\",\"Action\":\"a\",\"Resource\":\"r\"}"
                                : "{\"Effect\":\"Allow\",\"Action\":\"a\",\"Resource\":\"r\"}");
    fl_buf_append_str(&b, "]}");
    fl_buf_u8(&b, 0);
    parse_fails((char *)b.p, FL_ELIMIT, "more than");
    fl_buf_free(&b);
}
END_TEST

/* The seed request: lines method, path, query, Authorization, date, content
 * hash, body, then headers. */
typedef struct {
    char *text;
    fl_slice_t line[16];
    size_t n;
    fl_sigv4_canon_header_t h[8];
    size_t nh;
    fl_sigv4_canon_auth_t au;
} seed_t;

static void load_seed(seed_t *s)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/tests/fuzz/corpus/fuzz_auth_verify/signed_json.txt",
             FL_SOURCE_DIR);
    size_t len = 0;
    s->text = fl_test_read_file(path, &len);
    ck_assert_ptr_nonnull(s->text);
    s->n = 0;
    size_t at = 0;
    for (size_t i = 0; i <= len && s->n < 16; i++)
        if (i == len || s->text[i] == '\n') {
            s->line[s->n++] = fl_slice(s->text + at, i - at);
            at = i + 1;
        }
    s->nh = 0;
    for (size_t i = 7; i < s->n; i++) {
        const char *c = memchr(s->line[i].p, ':', s->line[i].n);
        size_t nn = (size_t)(c - (const char *)s->line[i].p);
        s->h[s->nh].name = fl_slice(s->line[i].p, nn);
        s->h[s->nh].value = fl_slice(c + 1, s->line[i].n - nn - 1);
        s->nh++;
    }
    const char *why = NULL;
    ck_assert_int_eq(fl_sigv4_canon_parse_authorization(s->line[3], &s->au, &why), 0);
}

static int verify(seed_t *s, fl_slice_t body, int64_t now, const char *region, fl_api_error_t *err)
{
    fl_sigv4_check_t c = {.method = s->line[0],
                          .path = s->line[1],
                          .query = s->line[2],
                          .headers = s->h,
                          .n_headers = s->nh,
                          .auth = &s->au,
                          .amz_date = s->line[4],
                          .body_known = 1,
                          .body = body,
                          .region = region,
                          .service = "kinesisvideo",
                          .now_s = now};
    return fl_sigv4_verify(&c, "secret", err);
}

START_TEST(verifier_on_a_request_signed_by_hand)
{
    seed_t s;
    load_seed(&s);
    fl_api_error_t err;
    const int64_t t = 1796342400; /* the request's date */
    ck_assert_int_eq(verify(&s, s.line[6], t, "us-east-1", &err), 0);
    ck_assert_int_eq(verify(&s, s.line[6], t + 299, "us-east-1", &err), 0);
    ck_assert_int_eq(verify(&s, fl_slice_str("{\"StreamName\":\"cam-2\"}"), t, "us-east-1", &err),
                     -1);
    ck_assert_str_eq(err.type, "InvalidSignatureException");
    ck_assert_int_eq(err.status, 403);
    ck_assert_msg(strstr(err.msg, "does not match"), "%s", err.msg);
    ck_assert_int_eq(verify(&s, s.line[6], t + 301, "us-east-1", &err), -1);
    ck_assert_msg(strstr(err.msg, "Signature expired: 20261204T000000Z is now earlier than "
                                  "20261204T000001Z (20261204T000501Z - 5 min.)"),
                  "%s", err.msg);
    ck_assert_int_eq(verify(&s, s.line[6], t - 301, "us-east-1", &err), -1);
    ck_assert_msg(strstr(err.msg, "Signature not yet current"), "%s", err.msg);
    ck_assert_int_eq(verify(&s, s.line[6], t, "eu-west-1", &err), -1);
    ck_assert_msg(strstr(err.msg, "scoped to a valid region"), "%s", err.msg);
    /* another secret */
    fl_sigv4_check_t c = {.method = s.line[0],
                          .path = s.line[1],
                          .headers = s.h,
                          .n_headers = s.nh,
                          .auth = &s.au,
                          .amz_date = s.line[4],
                          .body_known = 1,
                          .body = s.line[6],
                          .region = "us-east-1",
                          .service = "kinesisvideo",
                          .now_s = t,
                          .json11 = 1};
    ck_assert_int_eq(fl_sigv4_verify(&c, "Secret", &err), -1);
    ck_assert_int_eq(err.status, 400); /* JSON 1.1 */
    free(s.text);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("server_policy");
    TCase *t = tcase_create("policy");
    tcase_add_test(t, deny_wins_and_no_match_denies);
    tcase_add_test(t, matcher);
    tcase_add_test(t, refused_not_ignored);
    suite_add_tcase(s, t);
    t = tcase_create("verify");
    tcase_add_test(t, verifier_on_a_request_signed_by_hand);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return fl_test_main(suite());
}
