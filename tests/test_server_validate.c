/*
 * tests/test_server_validate.c — AWS field shapes: names, ARNs, media
 * types, versions, tags and tokens, good and bad, at their length limits.
 */
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "harness.h"
#include "server/video/validate.h"

typedef int (*check_fn)(fl_slice_t, const char **);

static void good(check_fn f, const char *s)
{
    const char *why = NULL;
    ck_assert_msg(f(fl_slice_str(s), &why) == 0, "'%s' refused: %s", s, why ? why : "-");
}

static void bad(check_fn f, const char *s, const char *needle)
{
    const char *why = NULL;
    ck_assert_msg(f(fl_slice_str(s), &why) == FL_EINVAL, "'%s' accepted", s);
    ck_assert_msg(why && strstr(why, needle), "'%s': reason '%s' lacks '%s'", s, why ? why : "-",
                  needle);
}

static char *rep(char c, size_t n)
{
    char *s = malloc(n + 1);
    memset(s, c, n);
    s[n] = 0;
    return s;
}

START_TEST(stream_and_device_names)
{
    good(fl_valid_stream_name, "cam-1_front.v2");
    char *s256 = rep('a', 256), *s257 = rep('a', 257);
    good(fl_valid_stream_name, s256);
    bad(fl_valid_stream_name, s257, "1 to 256");
    bad(fl_valid_stream_name, "", "1 to 256");
    bad(fl_valid_stream_name, "has space", "[a-zA-Z0-9_.-]+");
    bad(fl_valid_stream_name, "sl/ash", "[a-zA-Z0-9_.-]+");
    bad(fl_valid_stream_name, "caf\xc3\xa9", "[a-zA-Z0-9_.-]+");
    good(fl_valid_device_name, "dashcam-7");
    bad(fl_valid_device_name, s256, "1 to 128");
    free(s256);
    free(s257);
}
END_TEST

START_TEST(stream_arns)
{
    good(fl_valid_stream_arn,
         "arn:aws:kinesisvideo:us-west-2:123456789012:stream/cam-1/1700000000000");
    good(fl_valid_stream_arn, "arn:aws-cn:kinesisvideo:local:0:stream/a/0");
    const char *bads[] = {
        "arn:aws:kinesis:us-west-2:1:stream/a/1",    /* wrong service */
        "arn:aws:kinesisvideo:us-west-2:1:stream/a", /* no creation time */
        "arn:aws:kinesisvideo:us-west-2:x1:stream/a/1",
        "arn:AWS:kinesisvideo:us-west-2:1:stream/a/1",
        "arn:aws:kinesisvideo:us-west-2:1:Stream/a/1",
        "arn:aws:kinesisvideo:us-west-2:1:stream/a b/1",
        "arn:aws:kinesisvideo:us-west-2:1:stream//1",
        "arn:aws:kinesisvideo:us-west-2:1:stream/a/1x",
        "nope",
        "",
    };
    for (size_t i = 0; i < sizeof bads / sizeof bads[0]; i++)
        bad(fl_valid_stream_arn, bads[i], "StreamARN must look like");
    fl_slice_t name;
    long long ms;
    ck_assert_int_eq(
        fl_stream_arn_parts(fl_slice_str("arn:aws:kinesisvideo:r:1:stream/cam-9/1234"), &name, &ms),
        0);
    ck_assert(fl_slice_eq_str(name, "cam-9"));
    ck_assert_int_eq(ms, 1234);
}
END_TEST

START_TEST(media_types)
{
    good(fl_valid_media_type, "video/h264");
    good(fl_valid_media_type, "video/h264,audio/aac");
    good(fl_valid_media_type, "video/x-matroska+v2.1");
    bad(fl_valid_media_type, "video", "TYPE/SUBTYPE");
    bad(fl_valid_media_type, "video/", "TYPE/SUBTYPE");
    bad(fl_valid_media_type, "video/h264,", "TYPE/SUBTYPE");
    bad(fl_valid_media_type, "video/h 264", "TYPE/SUBTYPE");
    bad(fl_valid_media_type, "", "1 to 128");
}
END_TEST

START_TEST(versions_tokens_numbers)
{
    good(fl_valid_version, "abc123");
    bad(fl_valid_version, "ab-1", "[a-zA-Z0-9]");
    bad(fl_valid_version, "", "[a-zA-Z0-9]");
    good(fl_valid_next_token, "");
    good(fl_valid_next_token, "YWJj+/=");
    bad(fl_valid_next_token, "a b", "NextToken");
    good(fl_valid_fragment_number, "91343852333181432392682062607743920146464312097");
    bad(fl_valid_fragment_number, "12a", "decimal digits");
    bad(fl_valid_fragment_number, "", "decimal digits");
    good(fl_valid_continuation_token, "91343852333181432392682062607743920146464312097");
    bad(fl_valid_continuation_token, "a/b", "ContinuationToken");
    good(fl_valid_kms_key_id, "default");
    bad(fl_valid_kms_key_id, "", "1 to 2048");
    bad(fl_valid_kms_key_id, "a\nb", "line breaks");
}
END_TEST

START_TEST(tags)
{
    good(fl_valid_tag_key, "site");
    good(fl_valid_tag_key, "a_b.c:d/e=f+g-h@i j");
    good(fl_valid_tag_key, "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac"); /* letters beyond ASCII */
    bad(fl_valid_tag_key, "", "1 to 128");
    bad(fl_valid_tag_key, "semi;colon", "letters, numbers");
    bad(fl_valid_tag_key, "bad\xff", "letters, numbers");
    bad(fl_valid_tag_key, "c1\xc2\x85", "letters, numbers");
    good(fl_valid_tag_value, "");
    /* limits count characters, not bytes */
    char key[3 * 128 + 1];
    for (int i = 0; i < 128; i++)
        memcpy(key + 3 * i, "\xe6\x97\xa5", 3);
    key[3 * 128] = 0;
    good(fl_valid_tag_key, key);
    char *v257 = rep('v', 257);
    bad(fl_valid_tag_value, v257, "at most 256");
    free(v257);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("server_validate");
    TCase *tc = tcase_create("shapes");
    tcase_add_test(tc, stream_and_device_names);
    tcase_add_test(tc, stream_arns);
    tcase_add_test(tc, media_types);
    tcase_add_test(tc, versions_tokens_numbers);
    tcase_add_test(tc, tags);
    suite_add_tcase(s, tc);
    return fl_test_main(s);
}
