/*
 * tests/test_common_kms_keys.c — AWS KMS key references as master key names
 * (common/kms_key_id.h): the four forms AWS takes, the names they give,
 * AWS's managed keys, and what is refused and why.
 */
#include <check.h>
#include <string.h>

#include "common/error.h"
#include "common/kms_key_id.h"
#include "harness.h"

static int ref(const char *s, char name[FL_KMS_NAME_MAX + 1], const char **why)
{
    return fl_kms_key_ref(fl_slice_str(s), name, why);
}

START_TEST(the_four_forms_name_keys)
{
    static const char *const in[][2] = {
        {"arn:aws:kms:us-east-1:123456789012:key/1234ABCD-12ab-34cd-56ef-1234567890ab",
         "key/1234abcd-12ab-34cd-56ef-1234567890ab"},
        {"1234abcd-12ab-34cd-56ef-1234567890ab", "key/1234abcd-12ab-34cd-56ef-1234567890ab"},
        {"arn:aws-us-gov:kms:us-gov-west-1:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab",
         "key/mrk-1234abcd12ab34cd56ef1234567890ab"},
        {"alias/cams/front_door-1", "alias/cams/front_door-1"},
        {"arn:aws:kms:eu-west-1:123456789012:alias/cams/front_door-1", "alias/cams/front_door-1"},
        {"alias/aws/kinesisvideo", "default"},
        {"arn:aws:kms:us-east-1:123456789012:alias/aws/kinesis", "default"},
    };
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
        char name[FL_KMS_NAME_MAX + 1];
        ck_assert_int_eq(ref(in[i][0], name, NULL), 1);
        ck_assert_str_eq(name, in[i][1]);
    }
}
END_TEST

START_TEST(other_names_are_not_kms)
{
    char name[FL_KMS_NAME_MAX + 1];
    ck_assert_int_eq(ref("default", name, NULL), 0);
    ck_assert_int_eq(ref("my-key", name, NULL), 0);
    ck_assert_int_eq(ref("aliased", name, NULL), 0);
}
END_TEST

START_TEST(malformed_ones_say_why)
{
    static const char *const in[][2] = {
        {"arn:aws:kms:us-east-1:1234:key/1234abcd-12ab-34cd-56ef-1234567890ab", "12 digits"},
        {"arn:aws:s3:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab", "kms"},
        {"arn:aws:kms:US-EAST-1:123456789012:alias/x", "region"},
        {"arn:aws:kms:us-east-1:123456789012:key/not-a-uuid", "UUID"},
        {"arn:aws:kms:us-east-1:123456789012:bucket/x", "key/KEY-ID or alias/ALIAS-NAME"},
        {"arn:aws:kms:us-east-1", "arn:PARTITION:kms"},
        {"alias/", "1 to 250"},
        {"alias/has space", "1 to 250"},
    };
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
        char name[FL_KMS_NAME_MAX + 1];
        const char *why = NULL;
        ck_assert_int_eq(ref(in[i][0], name, &why), FL_EMALFORMED);
        ck_assert_msg(why && strstr(why, in[i][1]), "%s: %s", in[i][0], why ? why : "(none)");
    }
    /* limits: an alias of 250 characters is taken, 251 is not */
    char a[300] = "alias/";
    memset(a + 6, 'a', 250);
    a[256] = 0;
    char name[FL_KMS_NAME_MAX + 1];
    ck_assert_int_eq(ref(a, name, NULL), 1);
    ck_assert_int_eq((int)strlen(name), 256);
    a[256] = 'a';
    a[257] = 0;
    ck_assert_int_eq(ref(a, name, NULL), FL_EMALFORMED);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("common_kms_keys");
    TCase *t = tcase_create("refs");
    tcase_add_test(t, the_four_forms_name_keys);
    tcase_add_test(t, other_names_are_not_kms);
    tcase_add_test(t, malformed_ones_say_why);
    suite_add_tcase(s, t);
    return fl_test_main(s);
}
