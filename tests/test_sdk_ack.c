/*
 * tests/test_sdk_ack.c — producer-sdk/ack.c, the parser of the PutMedia
 * acks the server sends: well-formed acks of each type, members in any
 * order and with escapes, decoys inside strings and nested objects that a
 * text search took for the real fields, and refusals (bad JSON, limits,
 * wrong types, unknown EventType).
 */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "ack.h"
#include "harness.h"

static flp_ack_t parse_ok(const char *j)
{
    flp_ack_t a;
    int rc = flp_ack_parse(j, strlen(j), &a);
    ck_assert_msg(rc == 0, "%s: %d", j, rc);
    return a;
}

static void parse_bad(const char *j)
{
    flp_ack_t a;
    int rc = flp_ack_parse(j, strlen(j), &a);
    ck_assert_msg(rc == FLP_EMALFORMED, "%s: %d (0: accepted)", j, rc);
    ck_assert_int_eq(a.error_id, 0);
    ck_assert_int_eq(a.has_timecode, 0);
}

START_TEST(each_type)
{
    flp_ack_t a = parse_ok("{\"EventType\":\"PERSISTED\",\"FragmentTimecode\":1700000000000,"
                           "\"FragmentNumber\":\"1844674407370955161600\"}");
    ck_assert_int_eq(a.type, FLP_ACK_PERSISTED);
    ck_assert(a.has_timecode);
    ck_assert_int_eq(a.timecode_ms, 1700000000000LL);
    ck_assert_str_eq(a.number, "1844674407370955161600");
    ck_assert_int_eq(a.error_id, 0);
    a = parse_ok(" {\"FragmentTimecode\" : 5 , \"ErrorId\":4006,\n"
                 "\"ErrorCode\":\"INVALID_MKV_DATA\", \"EventType\" : \"ERROR\"} ");
    ck_assert_int_eq(a.type, FLP_ACK_ERROR);
    ck_assert_int_eq(a.timecode_ms, 5);
    ck_assert_int_eq(a.error_id, 4006);
    ck_assert_str_eq(a.number, "");
    a = parse_ok("{\"EventType\":\"IDLE\"}");
    ck_assert_int_eq(a.type, FLP_ACK_IDLE);
    ck_assert(!a.has_timecode);
    ck_assert_int_eq(parse_ok("{\"EventType\":\"BUFFERING\"}").type, FLP_ACK_BUFFERING);
    ck_assert_int_eq(parse_ok("{\"EventType\":\"RECEIVED\"}").type, FLP_ACK_RECEIVED);
    /* an escaped name is the same name */
    a = parse_ok("{\"Event\\u0054ype\":\"PERS\\u0049STED\",\"FragmentTimecode\":7}");
    ck_assert_int_eq(a.type, FLP_ACK_PERSISTED);
    ck_assert_int_eq(a.timecode_ms, 7);
}
END_TEST

START_TEST(decoys_are_not_fields)
{
    /* names inside a string value or a nested object are not the ack's
     * members (a strstr scan took the nested timecode 1 and ErrorId) */
    flp_ack_t a = parse_ok("{\"Note\":\"\\\"EventType\\\":\\\"PERSISTED\\\"\","
                           "\"Detail\":{\"FragmentTimecode\":1,\"ErrorId\":5000},"
                           "\"EventType\":\"RECEIVED\",\"FragmentTimecode\":2}");
    ck_assert_int_eq(a.type, FLP_ACK_RECEIVED);
    ck_assert_int_eq(a.timecode_ms, 2);
    ck_assert_int_eq(a.error_id, 0);
}
END_TEST

START_TEST(refused)
{
    parse_bad("");
    parse_bad("{\"EventType\":\"PERSISTED\",\"FragmentTimecode\":17000"); /* truncated */
    parse_bad("[{\"EventType\":\"IDLE\"}]");
    parse_bad("{\"EventType\":\"DONE\"}");
    parse_bad("{\"EventType\":\"PERSISTEDX\"}");
    parse_bad("{\"EventType\":3}");
    parse_bad("{\"FragmentTimecode\":1}");
    parse_bad("{\"EventType\":\"PERSISTED\",\"FragmentTimecode\":-5}");
    parse_bad("{\"EventType\":\"PERSISTED\",\"FragmentTimecode\":1.5}");
    parse_bad("{\"EventType\":\"PERSISTED\",\"FragmentTimecode\":\"12\"}");
    parse_bad("{\"EventType\":\"PERSISTED\",\"FragmentTimecode\":99999999999999999999}");
    parse_bad("{\"EventType\":\"PERSISTED\",\"FragmentNumber\":12}");
    parse_bad("{\"EventType\":\"PERSISTED\",\"FragmentNumber\":\"12a\"}");
    parse_bad("{\"EventType\":\"PERSISTED\",\"FragmentNumber\":\"\"}");
    parse_bad("{\"EventType\":\"PERSISTED\",\"FragmentNumber\":"
              "\"123456789012345678901234567890123456789012345678\"}"); /* 48 digits */
    parse_bad("{\"EventType\":\"ERROR\",\"ErrorId\":100000}");
    parse_bad("{\"EventType\":\"ERROR\",\"ErrorId\":-1}");
    /* limits: nesting, values, string length, message size */
    parse_bad("{\"EventType\":\"IDLE\",\"x\":[[[[1]]]]}");
    char big[5000];
    size_t k = (size_t)snprintf(big, sizeof big, "{\"EventType\":\"IDLE\",\"x\":[");
    for (int i = 0; i < 100; i++)
        k += (size_t)snprintf(big + k, sizeof big - k, "%s1", i ? "," : "");
    snprintf(big + k, sizeof big - k, "]}");
    parse_bad(big);
    k = (size_t)snprintf(big, sizeof big, "{\"EventType\":\"IDLE\",\"x\":\"");
    memset(big + k, 'a', 300);
    snprintf(big + k + 300, sizeof big - k - 300, "\"}");
    parse_bad(big);
    k = (size_t)snprintf(big, sizeof big, "{\"EventType\":\"IDLE\"}");
    memset(big + k, ' ', sizeof big - k - 1);
    big[sizeof big - 1] = 0;
    parse_bad(big);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("sdk_ack");
    TCase *tc = tcase_create("parse");
    tcase_add_test(tc, each_type);
    tcase_add_test(tc, decoys_are_not_fields);
    tcase_add_test(tc, refused);
    suite_add_tcase(s, tc);
    return fl_test_main(s);
}
