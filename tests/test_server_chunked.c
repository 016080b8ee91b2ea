/*
 * tests/test_server_chunked.c — the chunked-body decoder: the payload is the
 * same however the bytes are split, extensions and trailers are skipped,
 * the end is found, and broken or oversized encodings fail at the right
 * offset.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "harness.h"
#include "server/core/chunked.h"

/* Decode text fed in pieces of `step` bytes; payload into out. */
static int decode_steps(const char *text, size_t len, size_t step, fl_buf_t *out, fl_chunked_t *c)
{
    fl_chunked_init(c);
    size_t off = 0;
    while (off < len && !fl_chunked_done(c)) {
        size_t n = len - off < step ? len - off : step;
        fl_slice_t in = fl_slice(text + off, n);
        while (in.n) {
            size_t used;
            fl_slice_t data;
            int rc = fl_chunked_decode(c, in, &used, &data);
            if (rc)
                return rc;
            fl_buf_append(out, data.p, data.n);
            in.p += used;
            in.n -= used;
            off += used;
            if (fl_chunked_done(c))
                break;
            if (used == 0)
                return -1; /* no progress: a bug */
        }
    }
    return 0;
}

static const char body[] = "5\r\nhello\r\n"
                           "6;name=value\r\n world\r\n"
                           "1A\r\nabcdefghijklmnopqrstuvwxyz\r\n"
                           "0\r\n"
                           "X-Trailer: yes\r\n"
                           "\r\n"
                           "NEXT";

START_TEST(any_split_gives_the_same_payload)
{
    for (size_t step = 1; step <= sizeof body; step++) {
        fl_buf_t out;
        fl_buf_init(&out, 0);
        fl_chunked_t c;
        ck_assert_int_eq(decode_steps(body, sizeof body - 1, step, &out, &c), 0);
        ck_assert(fl_chunked_done(&c));
        ck_assert_msg(fl_slice_eq_str(fl_buf_slice(&out), "hello worldabcdefghijklmnopqrstuvwxyz"),
                      "step %zu", step);
        /* the decoder stops right before "NEXT" */
        ck_assert_uint_eq(c.offset, sizeof body - 1 - 4);
        ck_assert_uint_eq(c.decoded, 37);
        fl_buf_free(&out);
    }
}
END_TEST

START_TEST(nothing_after_done_is_consumed)
{
    fl_chunked_t c;
    fl_chunked_init(&c);
    size_t used;
    fl_slice_t data;
    ck_assert_int_eq(fl_chunked_decode(&c, fl_slice_str("0\r\n\r\nGET / HTTP/1.1"), &used, &data),
                     0);
    ck_assert(fl_chunked_done(&c));
    ck_assert_uint_eq(used, 5);
    ck_assert_int_eq(fl_chunked_decode(&c, fl_slice_str("GET"), &used, &data), 0);
    ck_assert_uint_eq(used, 0);
}
END_TEST

struct bad {
    const char *text;
    int err;
    uint64_t off; /* where it broke */
};

static const struct bad bads[] = {
    {"\r\n", FL_EMALFORMED, 0},          {"g\r\n", FL_EMALFORMED, 0},
    {"5\nhello", FL_EMALFORMED, 1},      {"5\r\nhelloX", FL_EMALFORMED, 8},
    {"5\r\nhello\rX", FL_EMALFORMED, 9}, {"11111111111111111\r\n", FL_ELIMIT, 16},
    {"100000001\r\n", FL_ELIMIT, 9},     {"0\r\nX-T: y\nZ", FL_EMALFORMED, 9},
    {"0\r\n\rX", FL_EMALFORMED, 4},      {"5;a\nb\r\n", FL_EMALFORMED, 3},
};

START_TEST(broken_encodings_fail_at_their_offset)
{
    const struct bad *b = &bads[_i];
    fl_buf_t out;
    fl_buf_init(&out, 0);
    fl_chunked_t c;
    int rc = decode_steps(b->text, strlen(b->text), 1000, &out, &c);
    ck_assert_msg(rc == b->err, "case %d: rc %d", _i, rc);
    ck_assert_msg(c.offset == b->off, "case %d: offset %llu, expected %llu", _i,
                  (unsigned long long)c.offset, (unsigned long long)b->off);
    /* the error is sticky */
    size_t used;
    fl_slice_t data;
    ck_assert_int_eq(fl_chunked_decode(&c, fl_slice_str("0\r\n\r\n"), &used, &data), b->err);
    ck_assert_uint_eq(used, 0);
    fl_buf_free(&out);
}
END_TEST

START_TEST(long_extension_and_trailers_are_limited)
{
    size_t n = FL_CHUNKED_MAX_LINE + 100;
    char *t = malloc(n + 16);
    strcpy(t, "5;");
    memset(t + 2, 'e', n);
    strcpy(t + 2 + n, "\r\n");
    fl_buf_t out;
    fl_buf_init(&out, 0);
    fl_chunked_t c;
    ck_assert_int_eq(decode_steps(t, strlen(t), 7, &out, &c), FL_ELIMIT);
    free(t);

    /* many short trailer lines add up past the trailer limit */
    fl_buf_t tr;
    fl_buf_init(&tr, 0);
    fl_buf_append_str(&tr, "0\r\n");
    while (tr.n < FL_CHUNKED_MAX_TRAILERS + 100)
        fl_buf_append_str(&tr, "X-A: b\r\n");
    fl_buf_append_str(&tr, "\r\n");
    ck_assert_int_eq(decode_steps((char *)tr.p, tr.n, 4096, &out, &c), FL_ELIMIT);
    fl_buf_free(&tr);
    fl_buf_free(&out);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("server_chunked");
    TCase *tc = tcase_create("decode");
    tcase_add_test(tc, any_split_gives_the_same_payload);
    tcase_add_test(tc, nothing_after_done_is_consumed);
    tcase_add_loop_test(tc, broken_encodings_fail_at_their_offset, 0,
                        (int)(sizeof bads / sizeof bads[0]));
    tcase_add_test(tc, long_extension_and_trailers_are_limited);
    suite_add_tcase(s, tc);
    return fl_test_main(s);
}
