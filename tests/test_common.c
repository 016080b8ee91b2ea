/*
 * tests/test_common.c — common/: the bounds-checked reader, the growable
 * buffer, error names and log levels.
 */
#include <stdlib.h>
#include <string.h>

#include "common/base64.h"
#include "common/bytes.h"
#include "common/clock.h"
#include "common/diag.h"
#include "common/error.h"
#include "harness.h"

START_TEST(reader_reads_in_order)
{
    const uint8_t data[] = {1, 0x12, 0x34, 0x78, 0x56, 0x34, 0x12, 9, 8, 7};
    fl_reader_t r;
    fl_reader_init(&r, fl_slice(data, sizeof data));
    ck_assert_uint_eq(fl_reader_u8(&r), 1);
    ck_assert_uint_eq(fl_reader_be16(&r), 0x1234);
    ck_assert_uint_eq(fl_reader_le32(&r), 0x12345678);
    fl_slice_t s = fl_reader_take(&r, 2);
    ck_assert_uint_eq(s.n, 2);
    ck_assert_uint_eq(s.p[0], 9);
    ck_assert_uint_eq(fl_reader_left(&r), 1);
    ck_assert_int_eq(r.err, 0);
}
END_TEST

START_TEST(reader_error_is_sticky)
{
    const uint8_t data[] = {1, 2, 3};
    fl_reader_t r;
    fl_reader_init(&r, fl_slice(data, sizeof data));
    ck_assert_uint_eq(fl_reader_be32(&r), 0); /* past the end */
    ck_assert_int_eq(r.err, FL_ETRUNCATED);
    /* later reads fail too, even ones that would fit */
    ck_assert_uint_eq(fl_reader_u8(&r), 0);
    ck_assert_uint_eq(fl_reader_left(&r), 0);
    fl_slice_t s = fl_reader_take(&r, 1);
    ck_assert_ptr_null(s.p);
    uint8_t out[2] = {0xff, 0xff};
    fl_reader_copy(&r, out, 2);
    ck_assert_uint_eq(out[0], 0);
}
END_TEST

START_TEST(reader_huge_length_does_not_wrap)
{
    const uint8_t data[] = {1, 2, 3};
    fl_reader_t r;
    fl_reader_init(&r, fl_slice(data, sizeof data));
    fl_reader_u8(&r);
    fl_reader_skip(&r, SIZE_MAX);
    ck_assert_int_eq(r.err, FL_ETRUNCATED);
}
END_TEST

START_TEST(buf_appends_and_round_trips_integers)
{
    fl_buf_t b;
    fl_buf_init(&b, 0);
    fl_buf_be64(&b, 0x0102030405060708ULL);
    fl_buf_le16(&b, 0xabcd);
    fl_buf_printf(&b, "x=%d", 42);
    ck_assert_int_eq(b.err, 0);
    ck_assert_uint_eq(b.n, 8 + 2 + 4);
    fl_reader_t r;
    fl_reader_init(&r, fl_buf_slice(&b));
    ck_assert(fl_reader_be64(&r) == 0x0102030405060708ULL);
    ck_assert_uint_eq(fl_reader_le16(&r), 0xabcd);
    fl_slice_t s = fl_reader_take(&r, 4);
    ck_assert(fl_slice_eq_str(s, "x=42"));
    fl_buf_consume(&b, 10);
    ck_assert(fl_slice_eq_str(fl_buf_slice(&b), "x=42"));
    fl_buf_free(&b);
}
END_TEST

START_TEST(buf_cap_sets_sticky_limit)
{
    fl_buf_t b;
    fl_buf_init(&b, 10);
    fl_buf_append(&b, "0123456789", 10);
    ck_assert_int_eq(b.err, 0);
    fl_buf_u8(&b, 'x');
    ck_assert_int_eq(b.err, FL_ELIMIT);
    ck_assert_uint_eq(b.n, 10); /* unchanged by the failed append */
    fl_buf_append(&b, "", 0);
    ck_assert_int_eq(fl_buf_reserve(&b, 1), FL_ELIMIT);
    fl_buf_reset(&b);
    ck_assert_int_eq(b.err, 0);
    ck_assert_uint_eq(b.n, 0);
    fl_buf_free(&b);
    fl_buf_free(NULL);
}
END_TEST

START_TEST(buf_grows_large)
{
    fl_buf_t b;
    fl_buf_init(&b, 0);
    for (int i = 0; i < 100000; i++)
        fl_buf_be32(&b, (uint32_t)i);
    ck_assert_int_eq(b.err, 0);
    ck_assert_uint_eq(b.n, 400000);
    ck_assert_uint_eq(fl_load_be32(b.p + 4 * 99999), 99999);
    fl_buf_free(&b);
}
END_TEST

START_TEST(errors_have_names)
{
    for (int e = FL_EBASE - 1; e > FL_ELAST; e--) {
        ck_assert_str_ne(fl_strerror(e), "unknown error");
        ck_assert_str_ne(fl_errname(e), "EUNKNOWN");
    }
    ck_assert_str_eq(fl_errname(-ENOSPC), "ENOSPC");
    ck_assert_str_eq(fl_strerror(0), "success");
    ck_assert_str_eq(fl_strerror(FL_ELAST - 5), "unknown error");
    ck_assert_ptr_nonnull(strstr(fl_strerror(-ENOENT), "No such file"));
}
END_TEST

START_TEST(log_levels_parse)
{
    fl_diag_level_t l;
    ck_assert_int_eq(fl_diag_level_parse("debug", &l), 0);
    ck_assert_int_eq(l, FL_DIAG_DEBUG);
    ck_assert_int_eq(fl_diag_level_parse("error", &l), 0);
    ck_assert_int_eq(l, FL_DIAG_ERROR);
    ck_assert_int_eq(fl_diag_level_parse("loud", &l), FL_EINVAL);
    ck_assert_str_eq(fl_diag_level_name(FL_DIAG_WARN), "warn");
}
END_TEST

static int64_t fake_now(void *data)
{
    return *(int64_t *)data;
}

START_TEST(clock_can_be_driven)
{
    int64_t t = 1234;
    fl_clock_t c = {fake_now, &t};
    ck_assert(fl_clock_now(&c) == 1234);
    t = 99;
    ck_assert(fl_clock_now(&c) == 99);
    fl_clock_t real = fl_clock_real();
    ck_assert(fl_clock_now(&real) > (int64_t)1700000000 * 1000000000);
    ck_assert(fl_clock_now(NULL) > (int64_t)1700000000 * 1000000000);
}
END_TEST

START_TEST(base64_round_trips_and_refuses_junk)
{
    static const char *const vec[][2] = {{"", ""},
                                         {"f", "Zg=="},
                                         {"fo", "Zm8="},
                                         {"foo", "Zm9v"},
                                         {"foob", "Zm9vYg=="},
                                         {"fooba", "Zm9vYmE="},
                                         {"foobar", "Zm9vYmFy"}};
    for (size_t i = 0; i < sizeof vec / sizeof vec[0]; i++) {
        fl_buf_t b;
        fl_buf_init(&b, 0);
        fl_base64_encode(&b, fl_slice_str(vec[i][0]));
        ck_assert(fl_slice_eq_str(fl_buf_slice(&b), vec[i][1]));
        fl_buf_reset(&b);
        ck_assert_int_eq(fl_base64_decode(&b, fl_slice_str(vec[i][1])), 0);
        ck_assert(fl_slice_eq_str(fl_buf_slice(&b), vec[i][0]));
        fl_buf_free(&b);
    }
    uint8_t all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (uint8_t)i;
    fl_buf_t e, d;
    fl_buf_init(&e, 0);
    fl_buf_init(&d, 0);
    fl_base64_encode(&e, fl_slice(all, 256));
    ck_assert_int_eq(fl_base64_decode(&d, fl_buf_slice(&e)), 0);
    ck_assert(fl_slice_eq(fl_buf_slice(&d), fl_slice(all, 256)));
    const char *bad[] = {"Zg=", "Zg", "Z===", "Zm9v!A==", "Zh==", "Zm8=Zm8=", "=Zm8"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fl_buf_reset(&d);
        ck_assert_msg(fl_base64_decode(&d, fl_slice_str(bad[i])) == FL_EMALFORMED, "%s", bad[i]);
    }
    fl_buf_free(&e);
    fl_buf_free(&d);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("common");
    TCase *tc = tcase_create("reader");
    tcase_add_test(tc, reader_reads_in_order);
    tcase_add_test(tc, reader_error_is_sticky);
    tcase_add_test(tc, reader_huge_length_does_not_wrap);
    suite_add_tcase(s, tc);
    tc = tcase_create("buf");
    tcase_add_test(tc, buf_appends_and_round_trips_integers);
    tcase_add_test(tc, buf_cap_sets_sticky_limit);
    tcase_add_test(tc, buf_grows_large);
    suite_add_tcase(s, tc);
    tc = tcase_create("names");
    tcase_add_test(tc, errors_have_names);
    tcase_add_test(tc, log_levels_parse);
    tcase_add_test(tc, clock_can_be_driven);
    tcase_add_test(tc, base64_round_trips_and_refuses_junk);
    suite_add_tcase(s, tc);
    return fl_test_main(s);
}
