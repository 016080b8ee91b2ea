/*
 * tests/test_common_json.c — the JSON parser: AWS-shaped bodies, every
 * value type, escapes and UTF-8, limits, malformed input with offsets, and
 * the string writer round-tripping through the parser.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/json.h"
#include "harness.h"

static fl_json_doc_t *parse_ok(const char *text)
{
    fl_json_doc_t *d = NULL;
    size_t off = 0;
    int rc = fl_json_parse(fl_slice_str(text), NULL, &d, &off);
    ck_assert_msg(rc == 0, "'%s' failed: %s at %zu", text, fl_strerror(rc), off);
    return d;
}

START_TEST(parses_a_create_stream_body)
{
    fl_json_doc_t *d = parse_ok("{\"StreamName\":\"cam-1\",\"DataRetentionInHours\":24,"
                                "\"Tags\":{\"site\":\"lab\",\"floor\":\"2\"},\"Enabled\":true,"
                                "\"Nothing\":null,\"List\":[1,2.5,-3e2]}");
    const fl_json_t *r = fl_json_root(d);
    ck_assert_int_eq(r->type, FL_JSON_OBJECT);
    ck_assert_uint_eq(r->count, 6);
    const fl_json_t *name = fl_json_get(r, "StreamName");
    ck_assert_int_eq(name->type, FL_JSON_STRING);
    ck_assert_str_eq(name->str, "cam-1");
    int64_t hours;
    ck_assert_int_eq(fl_json_int64(fl_json_get(r, "DataRetentionInHours"), &hours), 0);
    ck_assert_int_eq(hours, 24);
    const fl_json_t *tags = fl_json_get(r, "Tags");
    ck_assert_uint_eq(tags->count, 2);
    ck_assert_str_eq(fl_json_get(tags, "floor")->str, "2");
    ck_assert_int_eq(fl_json_get(r, "Enabled")->type, FL_JSON_TRUE);
    ck_assert_int_eq(fl_json_get(r, "Nothing")->type, FL_JSON_NULL);
    const fl_json_t *list = fl_json_get(r, "List");
    ck_assert_uint_eq(list->count, 3);
    double x;
    ck_assert_int_eq(fl_json_double(list->child->next, &x), 0);
    ck_assert(x == 2.5);
    ck_assert_int_eq(fl_json_int64(list->child->next, &hours), FL_EINVAL); /* not integral */
    ck_assert_int_eq(fl_json_double(list->child->next->next, &x), 0);
    ck_assert(x == -300);
    ck_assert_ptr_null(fl_json_get(r, "Missing"));
    ck_assert_ptr_null(fl_json_get(list, "x")); /* not an object */
    fl_json_free(d);
}
END_TEST

START_TEST(keeps_numbers_exact)
{
    fl_json_doc_t *d = parse_ok("[9223372036854775807, 1700000000.123, 0, -0]");
    const fl_json_t *v = fl_json_root(d)->child;
    int64_t i;
    ck_assert_int_eq(fl_json_int64(v, &i), 0);
    ck_assert(i == INT64_MAX);
    ck_assert_str_eq(v->next->str, "1700000000.123");
    fl_json_free(d);
    d = parse_ok("[9223372036854775808]");
    ck_assert_int_eq(fl_json_int64(fl_json_root(d)->child, &i), FL_EINVAL); /* overflow */
    fl_json_free(d);
}
END_TEST

START_TEST(decodes_escapes_and_utf8)
{
    fl_json_doc_t *d =
        parse_ok("\"a\\\"b\\\\c\\/d\\n\\t\\u00e9\\u20ac\\ud83d\\ude00 \xc3\xa9\xe2\x82\xac\"");
    const fl_json_t *s = fl_json_root(d);
    ck_assert_str_eq(s->str,
                     "a\"b\\c/d\n\t\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80 \xc3\xa9\xe2\x82\xac");
    fl_json_free(d);
    d = parse_ok("\"a\\u0000b\"");
    ck_assert_uint_eq(fl_json_root(d)->len, 3); /* embedded NUL kept by length */
    fl_json_free(d);
}
END_TEST

struct bad {
    const char *text;
    int err;
    size_t off;
};

static const struct bad bads[] = {
    {"", FL_EMALFORMED, 0},
    {"{", FL_EMALFORMED, 1},
    {"{\"a\":1,}", FL_EMALFORMED, 7},
    {"[1 2]", FL_EMALFORMED, 4},
    {"{\"a\" 1}", FL_EMALFORMED, 5},
    {"{a:1}", FL_EMALFORMED, 1},
    {"\"abc", FL_EMALFORMED, 4},
    {"\"a\x01\"", FL_EMALFORMED, 2},
    {"\"\\x\"", FL_EMALFORMED, 3},
    {"\"\\u12g4\"", FL_EMALFORMED, 3},
    {"\"\\udc00\"", FL_EMALFORMED, 7},
    {"\"\\ud800x\"", FL_EMALFORMED, 7},
    {"\"\xff\"", FL_EMALFORMED, 1},
    {"\"\xc0\x80\"", FL_EMALFORMED, 1},
    {"\"\xed\xa0\x80\"", FL_EMALFORMED, 1},
    {"01", FL_EMALFORMED, 1},
    {"1.", FL_EMALFORMED, 0},
    {"-", FL_EMALFORMED, 0},
    {"1e", FL_EMALFORMED, 0},
    {"tru", FL_EMALFORMED, 0},
    {"nul", FL_EMALFORMED, 0},
    {"{} {}", FL_EMALFORMED, 3},
    {"+1", FL_EMALFORMED, 0},
    {"NaN", FL_EMALFORMED, 0},
};

START_TEST(malformed_gives_error_and_offset)
{
    const struct bad *b = &bads[_i];
    fl_json_doc_t *d = (fl_json_doc_t *)1;
    size_t off = 999;
    int rc = fl_json_parse(fl_slice_str(b->text), NULL, &d, &off);
    ck_assert_msg(rc == b->err, "case %d '%s': rc %d", _i, b->text, rc);
    ck_assert_ptr_null(d);
    ck_assert_msg(off == b->off, "case %d '%s': offset %zu, expected %zu", _i, b->text, off,
                  b->off);
}
END_TEST

START_TEST(limits_hold)
{
    fl_json_limits_t lim = {.max_depth = 3, .max_values = 5, .max_string = 8};
    fl_json_doc_t *d = NULL;
    ck_assert_int_eq(fl_json_parse(fl_slice_str("[[[[1]]]]"), &lim, &d, NULL), FL_ELIMIT);
    ck_assert_int_eq(fl_json_parse(fl_slice_str("[[[1]]]"), &lim, &d, NULL), 0);
    fl_json_free(d);
    ck_assert_int_eq(fl_json_parse(fl_slice_str("[1,2,3,4,5]"), &lim, &d, NULL), FL_ELIMIT);
    ck_assert_int_eq(fl_json_parse(fl_slice_str("\"123456789\""), &lim, &d, NULL), FL_ELIMIT);
    ck_assert_int_eq(fl_json_parse(fl_slice_str("{\"123456789\":1}"), &lim, &d, NULL), FL_ELIMIT);
    /* default depth (32) bounds recursion on hostile input */
    char deep[10001];
    memset(deep, '[', 10000);
    deep[10000] = 0;
    size_t off;
    ck_assert_int_eq(fl_json_parse(fl_slice_str(deep), NULL, &d, &off), FL_ELIMIT);
    ck_assert_uint_eq(off, 32);
}
END_TEST

/* Long runs of plain ASCII (base64 blobs) are copied in one step: the
 * string limit still holds to the byte, and what follows a run (escapes,
 * UTF-8, control bytes) is still decoded or refused. */
START_TEST(long_ascii_runs_keep_limits_and_escapes)
{
    enum { N = 5000 };
    char *text = malloc(N + 64);
    fl_json_doc_t *d = NULL;
    for (size_t max = 4; max < 40; max++) {
        fl_json_limits_t lim = {.max_depth = 4, .max_values = 8, .max_string = max};
        for (size_t len = max > 8 ? max - 8 : 0; len < max + 4; len++) {
            text[0] = '"';
            for (size_t i = 0; i < len; i++)
                text[1 + i] = (char)('A' + i % 26);
            text[1 + len] = '"';
            int rc = fl_json_parse(fl_slice(text, len + 2), &lim, &d, NULL);
            /* as before: a string of len bytes needs len + 4 <= max_string
             * for its last byte, so at most max - 3 bytes fit */
            ck_assert_msg(rc == (len + 3 <= max ? 0 : FL_ELIMIT), "max %zu len %zu: %d", max, len,
                          rc);
            if (!rc) {
                ck_assert_uint_eq(fl_json_root(d)->len, len);
                ck_assert_int_eq(memcmp(fl_json_root(d)->str, text + 1, len), 0);
                fl_json_free(d);
            }
        }
    }
    /* a run, an escape, UTF-8, a run again */
    memset(text, 'x', N + 64);
    text[0] = '"';
    memcpy(text + 1000, "\\n\\u00e9\\\"\xc3\xa9", 12);
    text[N] = '"';
    ck_assert_int_eq(fl_json_parse(fl_slice(text, N + 1), NULL, &d, NULL), 0);
    const fl_json_t *v = fl_json_root(d);
    ck_assert_uint_eq(v->len, (N - 1) - 12 + 6);
    ck_assert_int_eq(memcmp(v->str + 999, "\n\xc3\xa9\"\xc3\xa9x", 7), 0);
    fl_json_free(d);
    /* a control byte or a bad UTF-8 byte after a long run is refused */
    text[3000] = '\n';
    ck_assert_int_eq(fl_json_parse(fl_slice(text, N + 1), NULL, &d, NULL), FL_EMALFORMED);
    text[3000] = (char)0xff;
    ck_assert_int_eq(fl_json_parse(fl_slice(text, N + 1), NULL, &d, NULL), FL_EMALFORMED);
    /* and a run that reaches the end of the input without its quote */
    text[3000] = 'x';
    ck_assert_int_eq(fl_json_parse(fl_slice(text, N), NULL, &d, NULL), FL_EMALFORMED);
    free(text);
}
END_TEST

START_TEST(writer_round_trips_every_byte)
{
    uint8_t all[256];
    for (int i = 0; i < 128; i++)
        all[i] = (uint8_t)i;
    fl_buf_t b;
    fl_buf_init(&b, 0);
    fl_json_write_string(&b, fl_slice(all, 128));
    fl_json_doc_t *d = NULL;
    ck_assert_int_eq(fl_json_parse(fl_buf_slice(&b), NULL, &d, NULL), 0);
    const fl_json_t *s = fl_json_root(d);
    ck_assert_uint_eq(s->len, 128);
    ck_assert_int_eq(memcmp(s->str, all, 128), 0);
    fl_json_free(d);
    fl_buf_reset(&b);
    fl_json_write_string(&b, fl_slice_str("say \"hi\"\n"));
    ck_assert(fl_slice_eq_str(fl_buf_slice(&b), "\"say \\\"hi\\\"\\n\""));
    fl_buf_free(&b);
    fl_json_free(NULL);
}
END_TEST

/* A string's special bytes are found at any place, in a run scanned 16
 * at a time or not: an escape and a UTF-8 character decode, a raw control
 * byte is refused, a quote ends the string. */
START_TEST(finds_special_bytes_at_every_place)
{
    for (size_t at = 0; at < 40; at++) {
        char text[64], want[64];
        memset(want, 'a', 44);
        want[44] = 0;
        /* "aaa…\naaa…" decodes to a newline at `at` */
        snprintf(text, sizeof text, "\"%.*s\\n%.*s\"", (int)at, want, (int)(43 - at), want);
        fl_json_doc_t *d = NULL;
        ck_assert_int_eq(fl_json_parse(fl_slice_str(text), NULL, &d, NULL), 0);
        const fl_json_t *v = fl_json_root(d);
        ck_assert_int_eq(v->len, 44);
        ck_assert_int_eq(v->str[at], '\n');
        ck_assert_int_eq(strspn(v->str, "a"), at);
        fl_json_free(d);
        /* a two-byte UTF-8 character */
        snprintf(text, sizeof text, "\"%.*s\xc3\xa9%.*s\"", (int)at, want, (int)(43 - at), want);
        ck_assert_int_eq(fl_json_parse(fl_slice_str(text), NULL, &d, NULL), 0);
        v = fl_json_root(d);
        ck_assert_int_eq(v->len, 45);
        ck_assert(memcmp(v->str + at, "\xc3\xa9", 2) == 0);
        fl_json_free(d);
        /* a raw control byte, and a bare 0x80 */
        snprintf(text, sizeof text, "\"%.*s\x01%.*s\"", (int)at, want, (int)(43 - at), want);
        ck_assert_int_eq(fl_json_parse(fl_slice_str(text), NULL, &d, NULL), FL_EMALFORMED);
        snprintf(text, sizeof text, "\"%.*s\x80%.*s\"", (int)at, want, (int)(43 - at), want);
        ck_assert_int_eq(fl_json_parse(fl_slice_str(text), NULL, &d, NULL), FL_EMALFORMED);
        /* the string ends at its quote */
        snprintf(text, sizeof text, "[\"%.*s\",\"%.*s\"]", (int)at, want, (int)(43 - at), want);
        ck_assert_int_eq(fl_json_parse(fl_slice_str(text), NULL, &d, NULL), 0);
        ck_assert_int_eq(fl_json_root(d)->child->len, at);
        fl_json_free(d);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("common_json");
    TCase *tc = tcase_create("parse");
    tcase_add_test(tc, parses_a_create_stream_body);
    tcase_add_test(tc, keeps_numbers_exact);
    tcase_add_test(tc, decodes_escapes_and_utf8);
    tcase_add_test(tc, finds_special_bytes_at_every_place);
    tcase_add_loop_test(tc, malformed_gives_error_and_offset, 0,
                        (int)(sizeof bads / sizeof bads[0]));
    tcase_add_test(tc, limits_hold);
    tcase_add_test(tc, long_ascii_runs_keep_limits_and_escapes);
    suite_add_tcase(s, tc);
    tc = tcase_create("write");
    tcase_add_test(tc, writer_round_trips_every_byte);
    suite_add_tcase(s, tc);
    return fl_test_main(s);
}
