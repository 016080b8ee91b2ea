/*
 * tests/test_api_records_cbor.c — the Kinesis Data Streams API in CBOR
 * (application/x-amz-cbor-1.1, the AWS Java SDK's default) against the
 * real framelogd: requests built byte by byte as the Java SDK's Jackson
 * generator writes them, answers read by an independent decoder, the same
 * fields as in JSON 1.1, errors in CBOR (tests/records_cbor.py).
 */
#include <stdlib.h>
#include <string.h>

#include "harness.h"

START_TEST(cbor_as_the_java_sdk_sends_it)
{
    fl_test_server_t s;
    fl_test_server_start(&s, NULL, NULL);
    char *args[] = {"/usr/bin/python3", FL_SOURCE_DIR "/tests/records_cbor.py", s.url, NULL};
    char *out = NULL, *err = NULL;
    int rc = fl_test_run(args, 300000, &out, &err);
    ck_assert_msg(rc == 0 && out && strncmp(out, "OK", 2) == 0, "records_cbor.py (%d): %s %s", rc,
                  out, err);
    free(out);
    free(err);
    fl_test_server_free(&s);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("api_records_cbor");
    TCase *tc = tcase_create("cbor");
    tcase_add_test(tc, cbor_as_the_java_sdk_sends_it);
    suite_add_tcase(su, tc);
    return fl_test_main(su);
}
