/*
 * tests/test_common_awstime.c — common/awstime: AWS time formatted and
 * parsed exactly, with the values that a double gets wrong.
 */
#include <stdio.h>
#include <string.h>

#include "common/awstime.h"
#include "common/error.h"
#include "harness.h"

#define NS INT64_C(1000000000)

static int parse(const char *s, int64_t *ns)
{
    *ns = -42;
    return fl_awstime_parse_epoch(fl_slice_str(s), ns);
}

START_TEST(formats_sigv4_dates)
{
    char d[17], s[9];
    ck_assert_int_eq(fl_awstime_amz_date(1440938160, d), 0);
    ck_assert_str_eq(d, "20150830T123600Z");
    ck_assert_int_eq(fl_awstime_scope_date(1440938160, s), 0);
    ck_assert_str_eq(s, "20150830");
    ck_assert_int_eq(fl_awstime_amz_date(0, d), 0);
    ck_assert_str_eq(d, "19700101T000000Z");
    ck_assert_int_eq(fl_awstime_amz_date(951782400, d), 0); /* a leap day */
    ck_assert_str_eq(d, "20000229T000000Z");
    ck_assert_int_eq(fl_awstime_amz_date(253402300799, d), 0);
    ck_assert_str_eq(d, "99991231T235959Z");
    ck_assert_int_eq(fl_awstime_amz_date(253402300800, d), FL_ELIMIT);
    ck_assert_int_eq(fl_awstime_amz_date(-1, d), FL_ELIMIT);
}
END_TEST

START_TEST(formats_iso8601_and_epoch_text)
{
    char iso[25], e[FL_AWSTIME_EPOCH_MAX];
    ck_assert_int_eq(fl_awstime_iso8601(1700000000123999999, iso), 0);
    ck_assert_str_eq(iso, "2023-11-14T22:13:20.123Z");
    ck_assert_int_eq(fl_awstime_iso8601(-1, iso), FL_ELIMIT);

    ck_assert_int_eq(fl_awstime_epoch(1700000000123456789, 3, e, sizeof e), 14);
    ck_assert_str_eq(e, "1700000000.123");
    ck_assert_int_eq(fl_awstime_epoch(1700000000123456789, 9, e, sizeof e), 20);
    ck_assert_str_eq(e, "1700000000.123456789");
    ck_assert_int_eq(fl_awstime_epoch(1700000000999999999, 0, e, sizeof e), 10);
    ck_assert_str_eq(e, "1700000000");
    ck_assert_int_eq(fl_awstime_epoch(5000000, 3, e, sizeof e), 5);
    ck_assert_str_eq(e, "0.005");
    ck_assert_int_eq(fl_awstime_epoch(-1500000000, 3, e, sizeof e), 6);
    ck_assert_str_eq(e, "-1.500");
    ck_assert_int_gt(fl_awstime_epoch(INT64_MIN, 9, e, sizeof e), 0);
    ck_assert_str_eq(e, "-9223372036.854775808");
    ck_assert_int_eq(fl_awstime_epoch(0, 10, e, sizeof e), FL_EINVAL);
    ck_assert_int_eq(fl_awstime_epoch(0, 3, e, 8), FL_EINVAL);

    fl_buf_t b;
    fl_buf_init(&b, 0);
    fl_awstime_buf_epoch(&b, 1700000000123000000, 3);
    ck_assert_int_eq(b.err, 0);
    ck_assert(fl_slice_eq_str(fl_buf_slice(&b), "1700000000.123"));
    fl_awstime_buf_epoch(&b, 0, 12);
    ck_assert_int_eq(b.err, FL_EINVAL);
    fl_buf_free(&b);
}
END_TEST

/* The value the server used to get wrong: 1700000000.123 is
 * 1700000000.12299990654 as a double. */
START_TEST(parses_epoch_text_exactly)
{
    int64_t ns;
    static const struct {
        const char *text;
        int64_t ns;
    } ok[] = {
        {"1700000000.123", 1700000000123000000},
        {"1700000000", 1700000000 * NS},
        {"1700000000.5", 1700000000500000000},
        {"1700000000.000000001", 1700000000000000001},
        {"1700000000.123456789", 1700000000123456789},
        {"1700000000.123456789000000", 1700000000123456789}, /* zeros past ns */
        {"0", 0},
        {"0.0", 0},
        {"-0", 0},
        {"00001700000000.1", 1700000000100000000}, /* leading zeros (headers) */
        {"1.7e9", 1700000000 * NS},
        {"1.7E+9", 1700000000 * NS},
        {"17000000001230e-4", 1700000000123000000},
        {"1700000000123e-3", 1700000000123000000},
        {"1700000000123456789e-9", 1700000000123456789},
        {"0.000000001", 1},
        {"1e-9", 1},
        {"0e-99999999", 0},
        {"9223372036.854775807", INT64_MAX},
        {"9.223372036854775807e9", INT64_MAX},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        ck_assert_msg(parse(ok[i].text, &ns) == 0, "%s refused", ok[i].text);
        ck_assert_msg(ns == ok[i].ns, "%s -> %lld, want %lld", ok[i].text, (long long)ns,
                      (long long)ok[i].ns);
    }
    /* every millisecond of a second round-trips through the formatter */
    for (int64_t ms = 0; ms < 1000; ms++) {
        char e[FL_AWSTIME_EPOCH_MAX];
        int64_t want = 1700000000 * NS + ms * 1000000;
        fl_awstime_epoch(want, 3, e, sizeof e);
        ck_assert_int_eq(parse(e, &ns), 0);
        ck_assert_int_eq(ns, want);
    }
}
END_TEST

START_TEST(refuses_epoch_text_clearly)
{
    int64_t ns;
    static const char *malformed[] = {
        "",    " 1",  "1 ",       "+1", "1.",   ".5",    "1..2", "1e",    "1e+", "0x10",
        "1,5", "NaN", "Infinity", "-",  "1.5.", "1e5.5", "--1",  "1_000", "1\n",
    };
    for (size_t i = 0; i < sizeof malformed / sizeof malformed[0]; i++) {
        ck_assert_msg(parse(malformed[i], &ns) == FL_EMALFORMED, "'%s' not malformed",
                      malformed[i]);
        ck_assert_int_eq(ns, -42); /* untouched */
    }
    static const char *limit[] = {
        "-1",                            /* before the epoch */
        "-0.001",                        /* before the epoch */
        "1700000000.1234567891",         /* finer than a nanosecond */
        "1e-10",                         /* finer than a nanosecond */
        "9223372036.854775808",          /* one ns past int64 */
        "9223372037",                    /* past int64 */
        "1e10",                          /* past int64 */
        "1e99999999",                    /* far past int64 */
        "99999999999999999999999999999", /* huge */
        "1700000000.00000000000000000000000000000000000000000000000000000001", /* > 64 bytes */
    };
    for (size_t i = 0; i < sizeof limit / sizeof limit[0]; i++) {
        ck_assert_msg(parse(limit[i], &ns) == FL_ELIMIT, "'%s' not a limit", limit[i]);
        ck_assert_int_eq(ns, -42);
    }
    /* NUL inside the slice is not a terminator */
    ck_assert_int_eq(fl_awstime_parse_epoch(fl_slice("17\0"
                                                     "0",
                                                     4),
                                            &ns),
                     FL_EMALFORMED);
}
END_TEST

START_TEST(parses_iso8601)
{
    int64_t ns;
    static const struct {
        const char *text;
        int64_t ns;
    } ok[] = {
        {"20150830T123600Z", 1440938160 * NS},
        {"2015-08-30T12:36:00Z", 1440938160 * NS},
        {"2015-08-30T12:36:00.5Z", 1440938160 * NS + 500000000},
        {"2023-11-14T22:13:20.123Z", 1700000000123000000},
        {"2023-11-14T22:13:20.123456789Z", 1700000000123456789},
        {"2023-11-14t22:13:20.123z", 1700000000123000000},
        {"2023-11-15T00:13:20.123+02:00", 1700000000123000000},
        {"2023-11-14T20:13:20-02:00", 1700000000 * NS},
        {"20231115T001320+0200", 1700000000 * NS},
        {"2000-02-29T00:00:00Z", 951782400 * NS},
        {"1970-01-01T00:00:00Z", 0},
        {"2262-04-11T23:47:16.854775807Z", INT64_MAX},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        ns = -42;
        ck_assert_msg(fl_awstime_parse_iso8601(fl_slice_str(ok[i].text), &ns) == 0, "%s refused",
                      ok[i].text);
        ck_assert_msg(ns == ok[i].ns, "%s -> %lld", ok[i].text, (long long)ns);
    }
    static const struct {
        const char *text;
        int err;
    } bad[] = {
        {"2015-08-30T12:36:00", FL_EMALFORMED}, /* no zone */
        {"2015-08-30 12:36:00Z", FL_EMALFORMED},
        {"2015-02-29T00:00:00Z", FL_EMALFORMED},
        {"2015-13-01T00:00:00Z", FL_EMALFORMED},
        {"2015-08-30T24:00:00Z", FL_EMALFORMED},
        {"2015-08-30T12:36:60Z", FL_EMALFORMED},
        {"2015-08-30T12:36:00.Z", FL_EMALFORMED},
        {"2015-0830T123600Z", FL_EMALFORMED},
        {"20150830T12:36:00Z", FL_EMALFORMED},
        {"2015-08-30T12:36:00Zjunk", FL_EMALFORMED},
        {"2015-08-30T12:36:00+2:00", FL_EMALFORMED},
        {"", FL_EMALFORMED},
        {"1969-12-31T23:59:59Z", FL_ELIMIT},
        {"2262-04-11T23:47:16.854775808Z", FL_ELIMIT},
        {"9999-12-31T23:59:59Z", FL_ELIMIT},
        {"2015-08-30T12:36:00.0000000001Z", FL_ELIMIT},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(fl_awstime_parse_iso8601(fl_slice_str(bad[i].text), &ns) == bad[i].err,
                      "'%s'", bad[i].text);
    /* round trip through the formatters */
    char d[17], iso[25];
    fl_awstime_amz_date(1764000000, d);
    ck_assert_int_eq(fl_awstime_parse_iso8601(fl_slice_str(d), &ns), 0);
    ck_assert_int_eq(ns, 1764000000 * NS);
    fl_awstime_iso8601(1764000000 * NS + 7000000, iso);
    ck_assert_int_eq(fl_awstime_parse_iso8601(fl_slice_str(iso), &ns), 0);
    ck_assert_int_eq(ns, 1764000000 * NS + 7000000);
}
END_TEST

START_TEST(parses_json_timestamps)
{
    const char *text = "{\"a\":1700000000.123,\"b\":\"2023-11-14T22:13:20.123Z\","
                       "\"c\":\"1700000000.123\",\"d\":true,\"e\":-1}";
    fl_json_doc_t *doc;
    ck_assert_int_eq(fl_json_parse(fl_slice_str(text), NULL, &doc, NULL), 0);
    const fl_json_t *root = fl_json_root(doc);
    int64_t ns;
    for (const char *k = "abc"; *k; k++) {
        char key[2] = {*k, 0};
        ns = 0;
        ck_assert_int_eq(fl_awstime_parse_json(fl_json_get(root, key), &ns), 0);
        ck_assert_int_eq(ns, 1700000000123000000);
    }
    ck_assert_int_eq(fl_awstime_parse_json(fl_json_get(root, "d"), &ns), FL_EINVAL);
    ck_assert_int_eq(fl_awstime_parse_json(fl_json_get(root, "e"), &ns), FL_ELIMIT);
    ck_assert_int_eq(fl_awstime_parse_json(NULL, &ns), FL_EINVAL);
    fl_json_free(doc);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("common_awstime");
    TCase *tc = tcase_create("format");
    tcase_add_test(tc, formats_sigv4_dates);
    tcase_add_test(tc, formats_iso8601_and_epoch_text);
    suite_add_tcase(s, tc);
    tc = tcase_create("parse");
    tcase_add_test(tc, parses_epoch_text_exactly);
    tcase_add_test(tc, refuses_epoch_text_clearly);
    tcase_add_test(tc, parses_iso8601);
    tcase_add_test(tc, parses_json_timestamps);
    suite_add_tcase(s, tc);
    return fl_test_main(s);
}
