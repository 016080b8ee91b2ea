/*
 * tests/test_api_streams.c — the Kinesis Video control plane through the
 * real AWS CLI (`aws kinesisvideo ... --endpoint-url`) against the real
 * framelogd: every call, its JSON shape, its errors, pagination, version
 * checks, and that streams survive a restart.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "common/json.h"
#include "harness.h"

static fl_json_doc_t *parse(const char *text)
{
    fl_json_doc_t *d = NULL;
    int rc = fl_json_parse(fl_slice_str(text), NULL, &d, NULL);
    ck_assert_msg(rc == 0, "not JSON: %s", text);
    return d;
}

static const char *str_at(const fl_json_t *obj, const char *key)
{
    const fl_json_t *v = fl_json_get(obj, key);
    ck_assert_msg(v && v->type == FL_JSON_STRING, "no string %s", key);
    return v->str;
}

static void describe(const fl_test_server_t *s, const char *name, fl_json_doc_t **doc,
                     const fl_json_t **info)
{
    char *out;
    AWS_OK(s, &out, "kinesisvideo", "describe-stream", "--stream-name", name);
    *doc = parse(out);
    free(out);
    *info = fl_json_get(fl_json_root(*doc), "StreamInfo");
    ck_assert_ptr_nonnull(*info);
}

START_TEST(create_describe_update_delete)
{
    fl_test_server_t s;
    fl_test_server_start(&s, NULL, NULL);
    char *out;
    AWS_OK(&s, &out, "kinesisvideo", "create-stream", "--stream-name", "cam-1",
           "--data-retention-in-hours", "24", "--media-type", "video/h264", "--device-name",
           "dashcam-7", "--tags", "site=lab,floor=2");
    fl_json_doc_t *d = parse(out);
    free(out);
    char arn[1100];
    snprintf(arn, sizeof arn, "%s", str_at(fl_json_root(d), "StreamARN"));
    fl_json_free(d);
    ck_assert_msg(strncmp(arn, "arn:aws:kinesisvideo:", 21) == 0 && strstr(arn, ":stream/cam-1/"),
                  "%s", arn);

    const fl_json_t *info;
    describe(&s, "cam-1", &d, &info);
    ck_assert_str_eq(str_at(info, "StreamName"), "cam-1");
    ck_assert_str_eq(str_at(info, "StreamARN"), arn);
    ck_assert_str_eq(str_at(info, "Status"), "ACTIVE");
    ck_assert_str_eq(str_at(info, "DeviceName"), "dashcam-7");
    ck_assert_str_eq(str_at(info, "MediaType"), "video/h264");
    int64_t hours;
    ck_assert_int_eq(fl_json_int64(fl_json_get(info, "DataRetentionInHours"), &hours), 0);
    ck_assert_int_eq(hours, 24);
    char version[64];
    snprintf(version, sizeof version, "%s", str_at(info, "Version"));
    ck_assert_ptr_nonnull(fl_json_get(info, "CreationTime"));
    ck_assert_ptr_nonnull(fl_json_get(info, "KmsKeyId"));
    fl_json_free(d);

    /* by ARN too */
    AWS_OK(&s, &out, "kinesisvideo", "describe-stream", "--stream-arn", arn);
    ck_assert_ptr_nonnull(strstr(out, "\"dashcam-7\""));
    free(out);

    /* update with the right version; then the old one is stale */
    AWS_OK(&s, &out, "kinesisvideo", "update-stream", "--stream-name", "cam-1", "--current-version",
           version, "--device-name", "dashcam-8");
    free(out);
    describe(&s, "cam-1", &d, &info);
    ck_assert_str_eq(str_at(info, "DeviceName"), "dashcam-8");
    ck_assert_str_ne(str_at(info, "Version"), version);
    char version2[64];
    snprintf(version2, sizeof version2, "%s", str_at(info, "Version"));
    fl_json_free(d);
    AWS_FAILS(&s, "VersionMismatchException", "kinesisvideo", "update-stream", "--stream-name",
              "cam-1", "--current-version", version, "--media-type", "video/h265");

    /* retention up and down, and not below zero */
    AWS_OK(&s, &out, "kinesisvideo", "update-data-retention", "--stream-name", "cam-1",
           "--current-version", version2, "--operation", "INCREASE_DATA_RETENTION",
           "--data-retention-change-in-hours", "6");
    free(out);
    describe(&s, "cam-1", &d, &info);
    ck_assert_int_eq(fl_json_int64(fl_json_get(info, "DataRetentionInHours"), &hours), 0);
    ck_assert_int_eq(hours, 30);
    snprintf(version2, sizeof version2, "%s", str_at(info, "Version"));
    fl_json_free(d);
    AWS_FAILS(&s, "InvalidArgumentException", "kinesisvideo", "update-data-retention",
              "--stream-name", "cam-1", "--current-version", version2, "--operation",
              "DECREASE_DATA_RETENTION", "--data-retention-change-in-hours", "31");

    /* the data endpoint is this server */
    AWS_OK(&s, &out, "kinesisvideo", "get-data-endpoint", "--stream-name", "cam-1", "--api-name",
           "GET_MEDIA");
    d = parse(out);
    free(out);
    ck_assert_str_eq(str_at(fl_json_root(d), "DataEndpoint"), s.url);
    fl_json_free(d);

    /* delete by ARN; then it is gone */
    AWS_OK(&s, &out, "kinesisvideo", "delete-stream", "--stream-arn", arn);
    free(out);
    AWS_FAILS(&s, "ResourceNotFoundException", "kinesisvideo", "describe-stream", "--stream-name",
              "cam-1");
    AWS_FAILS(&s, "ResourceNotFoundException", "kinesisvideo", "delete-stream", "--stream-arn",
              arn);
    fl_test_server_free(&s);
}
END_TEST

START_TEST(errors_have_aws_names)
{
    fl_test_server_t s;
    fl_test_server_start(&s, NULL, NULL);
    char *out;
    AWS_OK(&s, &out, "kinesisvideo", "create-stream", "--stream-name", "dup");
    free(out);
    AWS_FAILS(&s, "ResourceInUseException", "kinesisvideo", "create-stream", "--stream-name",
              "dup");
    AWS_FAILS(&s, "ResourceNotFoundException", "kinesisvideo", "describe-stream", "--stream-name",
              "nope");
    AWS_FAILS(&s, "InvalidArgumentException", "kinesisvideo", "create-stream", "--stream-name",
              "bad name!");
    AWS_FAILS(&s, "InvalidArgumentException", "kinesisvideo", "create-stream", "--stream-name", "x",
              "--media-type", "h264");
    AWS_FAILS(&s, "InvalidArgumentException", "kinesisvideo", "create-stream", "--stream-name", "y",
              "--kms-key-id", "no-such-key");
    AWS_FAILS(&s, "ResourceNotFoundException", "kinesisvideo", "get-data-endpoint", "--stream-name",
              "nope", "--api-name", "PUT_MEDIA");
    AWS_FAILS(&s, "ResourceNotFoundException", "kinesisvideo", "delete-stream", "--stream-arn",
              "arn:aws:kinesisvideo:us-west-2:000000000000:stream/dup/1");
    fl_test_server_free(&s);
}
END_TEST

START_TEST(list_paginates_and_filters)
{
    fl_test_server_t s;
    fl_test_server_start(&s, NULL, NULL);
    char *out;
    const char *names[] = {"cam-a", "cam-b", "cam-c", "door-1", "door-2"};
    for (int i = 0; i < 5; i++) {
        AWS_OK(&s, &out, "kinesisvideo", "create-stream", "--stream-name", names[i]);
        free(out);
    }
    /* one page at a time: the CLI follows NextToken and must see all 5 */
    AWS_OK(&s, &out, "kinesisvideo", "list-streams", "--page-size", "2");
    fl_json_doc_t *d = parse(out);
    free(out);
    const fl_json_t *list = fl_json_get(fl_json_root(d), "StreamInfoList");
    ck_assert_uint_eq(list->count, 5);
    int i = 0;
    for (const fl_json_t *e = list->child; e; e = e->next, i++)
        ck_assert_str_eq(str_at(e, "StreamName"), names[i]);
    fl_json_free(d);

    /* one page by hand: a token comes back */
    AWS_OK(&s, &out, "kinesisvideo", "list-streams", "--no-paginate", "--max-results", "2");
    d = parse(out);
    free(out);
    ck_assert_uint_eq(fl_json_get(fl_json_root(d), "StreamInfoList")->count, 2);
    ck_assert_ptr_nonnull(fl_json_get(fl_json_root(d), "NextToken"));
    fl_json_free(d);

    AWS_OK(&s, &out, "kinesisvideo", "list-streams", "--stream-name-condition",
           "ComparisonOperator=BEGINS_WITH,ComparisonValue=door");
    d = parse(out);
    free(out);
    list = fl_json_get(fl_json_root(d), "StreamInfoList");
    ck_assert_uint_eq(list->count, 2);
    ck_assert_str_eq(str_at(list->child, "StreamName"), "door-1");
    fl_json_free(d);
    AWS_FAILS(&s, "InvalidArgumentException", "kinesisvideo", "list-streams", "--no-paginate",
              "--next-token", "bm90LWEtbmFtZSE=");
    fl_test_server_free(&s);
}
END_TEST

START_TEST(tags_add_list_remove)
{
    fl_test_server_t s;
    fl_test_server_start(&s, NULL, NULL);
    char *out;
    AWS_OK(&s, &out, "kinesisvideo", "create-stream", "--stream-name", "t1", "--tags", "a=1");
    fl_json_doc_t *d = parse(out);
    free(out);
    char arn[1100];
    snprintf(arn, sizeof arn, "%s", str_at(fl_json_root(d), "StreamARN"));
    fl_json_free(d);
    AWS_OK(&s, &out, "kinesisvideo", "tag-stream", "--stream-name", "t1", "--tags", "b=2,a=9");
    free(out);
    AWS_OK(&s, &out, "kinesisvideo", "list-tags-for-stream", "--stream-name", "t1");
    d = parse(out);
    free(out);
    const fl_json_t *tags = fl_json_get(fl_json_root(d), "Tags");
    ck_assert_uint_eq(tags->count, 2);
    ck_assert_str_eq(str_at(tags, "a"), "9");
    ck_assert_str_eq(str_at(tags, "b"), "2");
    fl_json_free(d);
    AWS_OK(&s, &out, "kinesisvideo", "untag-stream", "--stream-arn", arn, "--tag-key-list", "a",
           "zzz");
    free(out);
    AWS_OK(&s, &out, "kinesisvideo", "list-tags-for-resource", "--resource-arn", arn);
    d = parse(out);
    free(out);
    tags = fl_json_get(fl_json_root(d), "Tags");
    ck_assert_uint_eq(tags->count, 1);
    ck_assert_str_eq(str_at(tags, "b"), "2");
    fl_json_free(d);
    AWS_OK(&s, &out, "kinesisvideo", "tag-resource", "--resource-arn", arn, "--tags",
           "Key=c,Value=3");
    free(out);
    AWS_OK(&s, &out, "kinesisvideo", "list-tags-for-stream", "--stream-name", "t1");
    ck_assert_ptr_nonnull(strstr(out, "\"c\": \"3\""));
    free(out);
    /* 51 tags in all is one too many */
    char many[2048] = "";
    for (int i = 0; i < 49; i++)
        snprintf(many + strlen(many), sizeof many - strlen(many), "%sk%d=v", i ? "," : "", i);
    AWS_FAILS(&s, "TagsPerResourceExceededLimitException", "kinesisvideo", "tag-stream",
              "--stream-name", "t1", "--tags", many);
    fl_test_server_free(&s);
}
END_TEST

START_TEST(streams_survive_restart)
{
    char *dir = fl_test_mkdtemp("restart");
    fl_test_server_t s;
    fl_test_server_start(&s, dir, NULL);
    char *out;
    AWS_OK(&s, &out, "kinesisvideo", "create-stream", "--stream-name", "keep",
           "--data-retention-in-hours", "48", "--tags", "x=y");
    free(out);
    fl_test_server_kill(&s); /* kill -9: the catalog must already be durable */
    fl_test_server_free(&s);
    fl_test_server_start(&s, dir, NULL);
    fl_json_doc_t *d;
    const fl_json_t *info;
    describe(&s, "keep", &d, &info);
    int64_t hours;
    ck_assert_int_eq(fl_json_int64(fl_json_get(info, "DataRetentionInHours"), &hours), 0);
    ck_assert_int_eq(hours, 48);
    fl_json_free(d);
    AWS_OK(&s, &out, "kinesisvideo", "list-tags-for-stream", "--stream-name", "keep");
    ck_assert_ptr_nonnull(strstr(out, "\"x\": \"y\""));
    free(out);
    fl_test_server_free(&s);
    fl_test_rmtree(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("api_streams");
    TCase *tc = tcase_create("aws_cli");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, create_describe_update_delete);
    tcase_add_test(tc, errors_have_aws_names);
    tcase_add_test(tc, list_paginates_and_filters);
    tcase_add_test(tc, tags_add_list_remove);
    tcase_add_test(tc, streams_survive_restart);
    suite_add_tcase(s, tc);
    return fl_test_main(s);
}
