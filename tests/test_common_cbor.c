/*
 * tests/test_common_cbor.c — common/cbor.c: RFC 8949's appendix A vectors
 * as JSON text, AWS's conventions (byte strings as base64 blobs, tag 1
 * integers as epoch milliseconds), Jackson's indefinite lengths, the
 * refusals and limits, and answers written with a blob/timestamp shape.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cbor.h"
#include "common/error.h"
#include "harness.h"

/* hex -> bytes (static buffer) */
static fl_slice_t hex(const char *h, uint8_t *buf)
{
    size_t n = strlen(h) / 2;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        sscanf(h + 2 * i, "%2x", &v);
        buf[i] = (uint8_t)v;
    }
    return fl_slice(buf, n);
}

static int to_json(const char *h, char *out, size_t cap)
{
    uint8_t buf[256];
    fl_buf_t j;
    fl_buf_init(&j, 0);
    fl_cbor_limits_t lim = {.max_depth = 4, .max_items = 64};
    int rc = fl_cbor_to_json(hex(h, buf), &lim, &j, NULL);
    snprintf(out, cap, "%.*s", (int)j.n, j.p ? (const char *)j.p : "");
    fl_buf_free(&j);
    return rc;
}

#define READS(h, want)                                                                             \
    do {                                                                                           \
        char got_[512];                                                                            \
        ck_assert_int_eq(to_json(h, got_, sizeof got_), 0);                                        \
        ck_assert_str_eq(got_, want);                                                              \
    } while (0)

#define REFUSED(h, code)                                                                           \
    do {                                                                                           \
        char got_[512];                                                                            \
        ck_assert_int_eq(to_json(h, got_, sizeof got_), code);                                     \
    } while (0)

START_TEST(rfc_8949_vectors_as_json)
{
    READS("00", "0");
    READS("17", "23");
    READS("1818", "24");
    READS("1bffffffffffffffff", "18446744073709551615");
    READS("20", "-1");
    READS("3903e7", "-1000");
    READS("3bffffffffffffffff", "-18446744073709551616");
    READS("f93c00", "1");
    READS("f97bff", "65504");
    READS("fa47c35000", "100000");
    READS("fb3ff199999999999a", "1.1000000000000001");
    READS("f4", "false");
    READS("f5", "true");
    READS("f6", "null");
    READS("f7", "null");
    READS("6449455446", "\"IETF\"");
    READS("62225c", "\"\\\"\\\\\"");
    READS("4401020304", "\"AQIDBA==\""); /* a blob: base64 as in JSON 1.1 */
    READS("5f42010243030405ff", "\"AQIDBAU=\"");
    READS("7f657374726561646d696e67ff", "\"streaming\"");
    READS("83010203", "[1,2,3]");
    READS("9f018202039f0405ffff", "[1,[2,3],[4,5]]");
    READS("a26161016162820203", "{\"a\":1,\"b\":[2,3]}");
    READS("bf61610161629f0203ffff", "{\"a\":1,\"b\":[2,3]}");
    READS("d74401020304", "\"AQIDBA==\""); /* tag 23 around its value */
}
END_TEST

START_TEST(tag_1_is_an_aws_timestamp)
{
    /* an integer counts milliseconds, as AWS's Java SDK writes it */
    READS("c11b0000018c22a09b2d", "1701388000.045");
    READS("c13903e7", "-1.000");
    /* a float counts seconds */
    READS("c1fb41d452d9ec200000", "1363896240.5");
    /* and inside a Jackson-style request */
    READS("bf6a53747265616d4e616d65626364645479706"
          "56c41545f54494d455354414d50"
          "6954696d657374616d70c11b0000018c22a09b2dff",
          "{\"StreamName\":\"cd\",\"Type\":\"AT_TIMESTAMP\",\"Timestamp\":1701388000.045}");
}
END_TEST

START_TEST(refusals_and_limits)
{
    REFUSED("", FL_EMALFORMED);
    REFUSED("ff", FL_EMALFORMED);         /* a break out of place */
    REFUSED("1c", FL_EMALFORMED);         /* reserved additional information */
    REFUSED("1901", FL_EMALFORMED);       /* truncated argument */
    REFUSED("0000", FL_EMALFORMED);       /* bytes after the item */
    REFUSED("a10102", FL_EMALFORMED);     /* a key that is not text */
    REFUSED("5a00000010", FL_EMALFORMED); /* a length past the input */
    REFUSED("9b7fffffffffffffff", FL_EMALFORMED);
    REFUSED("f97c00", FL_EMALFORMED);           /* infinity: JSON has none */
    REFUSED("f97e00", FL_EMALFORMED);           /* NaN */
    REFUSED("f0", FL_EMALFORMED);               /* an unassigned simple value */
    REFUSED("5f4201026103ff", FL_EMALFORMED);   /* a text chunk in a byte string */
    REFUSED("c1637a7a7a", FL_EMALFORMED);       /* a timestamp that is text */
    REFUSED("c11bffffffffffffff00", FL_ELIMIT); /* past 2262 */
    REFUSED("c13b000008637bd05af6", FL_ELIMIT); /* before 1678 (-1 - v overflows in ns) */
    REFUSED("818181818100", FL_ELIMIT);         /* deeper than 4 */
    char many[4 + 2 * 70 + 1] = "9846";         /* 70 items: more than 64 */
    for (int i = 0; i < 70; i++)
        memcpy(many + 4 + 2 * i, "00", 3);
    REFUSED(many, FL_ELIMIT);
}
END_TEST

START_TEST(answers_with_blobs_and_timestamps)
{
    static const char *const blobs[] = {"Data", NULL};
    static const char *const times[] = {"Timestamp", NULL};
    fl_cbor_shape_t shape = {.blobs = blobs, .timestamps = times};
    const char *text = "{\"Data\":\"AQID\",\"Timestamp\":1.5,\"n\":-3,\"x\":true,"
                       "\"l\":[\"AQ==\"],\"f\":0.25,\"s\":\"AQID\"}";
    fl_json_doc_t *d = NULL;
    ck_assert_int_eq(fl_json_parse(fl_slice_str(text), NULL, &d, NULL), 0);
    fl_buf_t out;
    fl_buf_init(&out, 0);
    ck_assert_int_eq(fl_cbor_from_json(fl_json_root(d), &shape, &out), 0);
    uint8_t want[128];
    fl_slice_t w = hex("a7"
                       "6444617461"
                       "43010203" /* Data: bytes */
                       "6954696d657374616d70"
                       "c11905dc" /* Timestamp: tag 1, 1500 ms */
                       "616e"
                       "22" /* n: -3 */
                       "6178"
                       "f5" /* x: true */
                       "616c"
                       "816441513d3d" /* l: ["AQ=="] (not a blob) */
                       "6166"
                       "fb3fd0000000000000" /* f: 0.25 */
                       "6173"
                       "6441514944", /* s: text */
                       want);
    ck_assert_uint_eq(out.n, w.n);
    ck_assert(memcmp(out.p, w.p, w.n) == 0);
    fl_buf_free(&out);
    fl_json_free(d);

    /* a blob that is not base64 is the writer's bug: refused */
    ck_assert_int_eq(fl_json_parse(fl_slice_str("{\"Data\":\"!!\"}"), NULL, &d, NULL), 0);
    fl_buf_init(&out, 0);
    ck_assert_int_eq(fl_cbor_from_json(fl_json_root(d), &shape, &out), FL_EINVAL);
    fl_buf_free(&out);
    fl_json_free(d);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("common_cbor");
    TCase *tc = tcase_create("cbor");
    tcase_add_test(tc, rfc_8949_vectors_as_json);
    tcase_add_test(tc, tag_1_is_an_aws_timestamp);
    tcase_add_test(tc, refusals_and_limits);
    tcase_add_test(tc, answers_with_blobs_and_timestamps);
    suite_add_tcase(su, tc);
    return fl_test_main(su);
}
