/*
 * tests/test_api_records_shards.c — resharding, tags, ShardFilter,
 * DescribeLimits, per-shard rates and the encryption calls of the Kinesis
 * Data Streams API,
 * through the real AWS CLI (v1 or v2 on the PATH) and boto3 against the
 * real framelogd: split and merge with their lineage and errors,
 * UpdateShardCount to uniform ranges, a writer that loses nothing while
 * the stream is resharded under it (tests/records_reshard.py), tags with
 * AWS's limits, every ShardFilter type, the per-shard rates with and
 * without --records-throttle (tests/records_throttle.py).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "harness.h"

#define MAX_HASH "340282366920938463463374607431768211455"

/* `aws kinesis ARGS` succeeds; its parsed JSON output (NULL for none). */
#define OK_JSON(s, docp, ...)                                                                      \
    do {                                                                                           \
        char *out_ = NULL;                                                                         \
        AWS_OK(s, &out_, "kinesis", __VA_ARGS__);                                                  \
        *(docp) = NULL;                                                                            \
        if (out_ && out_[strspn(out_, " \r\n\t")])                                                 \
            ck_assert_msg(fl_json_parse(fl_slice_str(out_), NULL, (docp), NULL) == 0,              \
                          "not JSON: %s", out_);                                                   \
        free(out_);                                                                                \
    } while (0)

static const fl_json_t *member(const fl_json_doc_t *d, const char *key)
{
    const fl_json_t *v = fl_json_get(fl_json_root(d), key);
    ck_assert_msg(v != NULL, "no member %s", key);
    return v;
}

static const char *str(const fl_json_t *obj, const char *key)
{
    const fl_json_t *v = fl_json_get(obj, key);
    ck_assert_msg(v && v->type == FL_JSON_STRING, "no string %s", key);
    return v->str;
}

/* The shard ids a ListShards (with optional filter arguments) returns,
 * space-separated, in order. */
static char *shard_ids(const fl_test_server_t *s, const char *stream, const char *filter)
{
    fl_json_doc_t *d;
    if (filter)
        OK_JSON(s, &d, "list-shards", "--stream-name", stream, "--shard-filter", filter);
    else
        OK_JSON(s, &d, "list-shards", "--stream-name", stream);
    fl_buf_t b;
    fl_buf_init(&b, 0);
    for (const fl_json_t *e = member(d, "Shards")->child; e; e = e->next)
        fl_buf_printf(&b, "%s%s", b.n ? " " : "", str(e, "ShardId") + strlen("shardId-00000000"));
    fl_buf_u8(&b, 0);
    fl_json_free(d);
    return (char *)b.p;
}

/* ListShards of stream (with filter, or NULL) lists these shard ids. */
static void expect_ids(const fl_test_server_t *s, const char *stream, const char *filter,
                       const char *want)
{
    char *ids = shard_ids(s, stream, filter);
    ck_assert_msg(strcmp(ids, want) == 0, "%s: %s, want %s", filter ? filter : "all", ids, want);
    free(ids);
}

START_TEST(split_merge_and_their_lineage)
{
    fl_test_server_t s;
    fl_test_server_start(&s, NULL, NULL);
    AWS_OK(&s, NULL, "kinesis", "create-stream", "--stream-name", "gps", "--shard-count", "2");
    /* shard 0 holds [0, 2^127-1]: split it at 1000 */
    AWS_OK(&s, NULL, "kinesis", "split-shard", "--stream-name", "gps", "--shard-to-split",
           "shardId-000000000000", "--new-starting-hash-key", "1000");
    fl_json_doc_t *d;
    OK_JSON(&s, &d, "list-shards", "--stream-name", "gps");
    const fl_json_t *sh = member(d, "Shards");
    ck_assert_int_eq(sh->count, 4);
    const fl_json_t *s0 = sh->child, *s2 = s0->next->next, *s3 = s2->next;
    ck_assert_ptr_nonnull(
        fl_json_get(fl_json_get(s0, "SequenceNumberRange"), "EndingSequenceNumber")); /* closed */
    ck_assert_str_eq(str(s2, "ParentShardId"), "shardId-000000000000");
    ck_assert_str_eq(str(fl_json_get(s2, "HashKeyRange"), "StartingHashKey"), "0");
    ck_assert_str_eq(str(fl_json_get(s2, "HashKeyRange"), "EndingHashKey"), "999");
    ck_assert_str_eq(str(s3, "ParentShardId"), "shardId-000000000000");
    ck_assert_str_eq(str(fl_json_get(s3, "HashKeyRange"), "StartingHashKey"), "1000");
    fl_json_free(d);

    /* a record keyed into the split range lands in a child */
    OK_JSON(&s, &d, "put-record", "--stream-name", "gps", "--partition-key", "k",
            "--explicit-hash-key", "999", "--data", "AAAA");
    ck_assert_str_eq(str(fl_json_root(d), "ShardId"), "shardId-000000000002");
    fl_json_free(d);

    /* the errors AWS gives */
    AWS_FAILS(&s, "InvalidArgumentException", "kinesis", "split-shard", "--stream-name", "gps",
              "--shard-to-split", "shardId-000000000000", "--new-starting-hash-key", "5");
    AWS_FAILS(&s, "InvalidArgumentException", "kinesis", "split-shard", "--stream-name", "gps",
              "--shard-to-split", "shardId-000000000002", "--new-starting-hash-key", "0");
    AWS_FAILS(&s, "ResourceNotFoundException", "kinesis", "split-shard", "--stream-name", "gps",
              "--shard-to-split", "shardId-000000000099", "--new-starting-hash-key", "5");
    AWS_FAILS(&s, "InvalidArgumentException", "kinesis", "merge-shards", "--stream-name", "gps",
              "--shard-to-merge", "shardId-000000000002", "--adjacent-shard-to-merge",
              "shardId-000000000001"); /* not adjacent */

    /* merge the two children back: one shard with both parents */
    AWS_OK(&s, NULL, "kinesis", "merge-shards", "--stream-name", "gps", "--shard-to-merge",
           "shardId-000000000002", "--adjacent-shard-to-merge", "shardId-000000000003");
    OK_JSON(&s, &d, "list-shards", "--stream-name", "gps", "--shard-filter", "Type=AT_LATEST");
    sh = member(d, "Shards");
    ck_assert_int_eq(sh->count, 2);
    const fl_json_t *kid = sh->child->next;
    ck_assert_str_eq(str(kid, "ShardId"), "shardId-000000000004");
    ck_assert_str_eq(str(kid, "ParentShardId"), "shardId-000000000002");
    ck_assert_str_eq(str(kid, "AdjacentParentShardId"), "shardId-000000000003");
    ck_assert_str_eq(str(fl_json_get(kid, "HashKeyRange"), "StartingHashKey"), "0");
    fl_json_free(d);

    /* the record in the closed parent is still readable */
    OK_JSON(&s, &d, "get-shard-iterator", "--stream-name", "gps", "--shard-id",
            "shardId-000000000002", "--shard-iterator-type", "TRIM_HORIZON");
    char *it = strdup(str(fl_json_root(d), "ShardIterator"));
    fl_json_free(d);
    OK_JSON(&s, &d, "get-records", "--shard-iterator", it);
    ck_assert_int_eq(member(d, "Records")->count, 1);
    const fl_json_t *kids = member(d, "ChildShards");
    ck_assert_int_eq(kids->count, 1);
    ck_assert_str_eq(str(kids->child, "ShardId"), "shardId-000000000004");
    fl_json_free(d);
    free(it);
    fl_test_server_free(&s);
}
END_TEST

START_TEST(update_shard_count_makes_uniform_ranges)
{
    fl_test_server_t s;
    fl_test_server_start(&s, NULL, NULL);
    AWS_OK(&s, NULL, "kinesis", "create-stream", "--stream-name", "a", "--shard-count", "2");
    AWS_OK(&s, NULL, "kinesis", "create-stream", "--stream-name", "three", "--shard-count", "3");
    fl_json_doc_t *d;
    OK_JSON(&s, &d, "update-shard-count", "--stream-name", "a", "--target-shard-count", "3",
            "--scaling-type", "UNIFORM_SCALING");
    int64_t v = 0;
    ck_assert_int_eq(fl_json_int64(member(d, "CurrentShardCount"), &v), 0);
    ck_assert_int_eq(v, 2);
    ck_assert_int_eq(fl_json_int64(member(d, "TargetShardCount"), &v), 0);
    ck_assert_int_eq(v, 3);
    fl_json_free(d);
    /* the open shards have the ranges of a stream created with three */
    fl_json_doc_t *want, *got;
    OK_JSON(&s, &want, "list-shards", "--stream-name", "three");
    OK_JSON(&s, &got, "list-shards", "--stream-name", "a", "--shard-filter", "Type=AT_LATEST");
    const fl_json_t *w = member(want, "Shards")->child, *g = member(got, "Shards")->child;
    ck_assert_int_eq(member(got, "Shards")->count, 3);
    /* ids ascend in creation order, not hash order: compare as sets */
    for (; w; w = w->next) {
        const char *lo = str(fl_json_get(w, "HashKeyRange"), "StartingHashKey");
        const char *hi = str(fl_json_get(w, "HashKeyRange"), "EndingHashKey");
        int found = 0;
        for (const fl_json_t *e = g; e; e = e->next)
            found |= strcmp(str(fl_json_get(e, "HashKeyRange"), "StartingHashKey"), lo) == 0 &&
                     strcmp(str(fl_json_get(e, "HashKeyRange"), "EndingHashKey"), hi) == 0;
        ck_assert_msg(found, "no open shard [%s, %s]", lo, hi);
    }
    fl_json_free(want);
    fl_json_free(got);

    /* at most double, at least half; UNIFORM_SCALING only */
    AWS_FAILS(&s, "LimitExceededException", "kinesis", "update-shard-count", "--stream-name", "a",
              "--target-shard-count", "7", "--scaling-type", "UNIFORM_SCALING");
    AWS_FAILS(&s, "LimitExceededException", "kinesis", "update-shard-count", "--stream-name", "a",
              "--target-shard-count", "1", "--scaling-type", "UNIFORM_SCALING");
    AWS_FAILS(&s, "ResourceNotFoundException", "kinesis", "update-shard-count", "--stream-name",
              "nope", "--target-shard-count", "1", "--scaling-type", "UNIFORM_SCALING");
    /* ON_DEMAND streams scale themselves */
    AWS_OK(&s, NULL, "kinesis", "create-stream", "--stream-name", "od", "--stream-mode-details",
           "StreamMode=ON_DEMAND");
    AWS_FAILS(&s, "ValidationException", "kinesis", "update-shard-count", "--stream-name", "od",
              "--target-shard-count", "5", "--scaling-type", "UNIFORM_SCALING");

    OK_JSON(&s, &d, "describe-limits");
    ck_assert_int_eq(fl_json_int64(member(d, "OpenShardCount"), &v), 0);
    ck_assert_int_eq(v, 10); /* 3 + 3 + the on-demand stream's 4 */
    ck_assert_int_eq(fl_json_int64(member(d, "ShardLimit"), &v), 0);
    ck_assert_int_gt(v, 6);
    fl_json_free(d);
    fl_test_server_free(&s);
}
END_TEST

START_TEST(a_writer_loses_nothing_while_the_stream_is_resharded)
{
    fl_test_server_t s;
    fl_test_server_start(&s, NULL, NULL);
    char *args[] = {"/usr/bin/python3", FL_SOURCE_DIR "/tests/records_reshard.py", s.url, NULL};
    char *out = NULL, *err = NULL;
    int rc = fl_test_run(args, 600000, &out, &err);
    ck_assert_msg(rc == 0 && out && strncmp(out, "OK ", 3) == 0, "records_reshard.py (%d): %s %s",
                  rc, out, err);
    free(out);
    free(err);
    fl_test_server_free(&s);
}
END_TEST

START_TEST(tags_as_aws_limits_them)
{
    fl_test_server_t s;
    fl_test_server_start(&s, NULL, NULL);
    AWS_OK(&s, NULL, "kinesis", "create-stream", "--stream-name", "t", "--shard-count", "1");
    AWS_OK(&s, NULL, "kinesis", "add-tags-to-stream", "--stream-name", "t", "--tags",
           "site=lyon,cam=door,floor=2");
    AWS_OK(&s, NULL, "kinesis", "remove-tags-from-stream", "--stream-name", "t", "--tag-keys",
           "floor", "never-there");
    fl_json_doc_t *d;
    OK_JSON(&s, &d, "list-tags-for-stream", "--stream-name", "t", "--limit", "1");
    const fl_json_t *tags = member(d, "Tags");
    ck_assert_int_eq(tags->count, 1);
    ck_assert_str_eq(str(tags->child, "Key"), "cam"); /* key order */
    ck_assert_str_eq(str(tags->child, "Value"), "door");
    ck_assert(member(d, "HasMoreTags")->type == FL_JSON_TRUE);
    fl_json_free(d);
    OK_JSON(&s, &d, "list-tags-for-stream", "--stream-name", "t", "--exclusive-start-tag-key",
            "cam");
    tags = member(d, "Tags");
    ck_assert_int_eq(tags->count, 1);
    ck_assert_str_eq(str(tags->child, "Key"), "site");
    ck_assert(member(d, "HasMoreTags")->type == FL_JSON_FALSE);
    fl_json_free(d);

    AWS_FAILS(&s, "InvalidArgumentException", "kinesis", "add-tags-to-stream", "--stream-name", "t",
              "--tags", "aws:owner=x");
    AWS_FAILS(&s, "InvalidArgumentException", "kinesis", "add-tags-to-stream", "--stream-name", "t",
              "--tags", "AWS:owner=x");
    /* 48 more make 50: allowed; one more is not */
    char many[48 * 12];
    size_t n = 0;
    for (int i = 0; i < 48; i++)
        n += (size_t)snprintf(many + n, sizeof many - n, "%sk%02d=v", i ? "," : "", i);
    AWS_OK(&s, NULL, "kinesis", "add-tags-to-stream", "--stream-name", "t", "--tags", many);
    AWS_FAILS(&s, "LimitExceededException", "kinesis", "add-tags-to-stream", "--stream-name", "t",
              "--tags", "one=more");
    AWS_FAILS(&s, "ResourceNotFoundException", "kinesis", "list-tags-for-stream", "--stream-name",
              "nope");
    fl_test_server_free(&s);
}
END_TEST

START_TEST(shard_filters_and_encryption)
{
    fl_test_server_t s;
    fl_test_server_start(&s, NULL, NULL);
    AWS_OK(&s, NULL, "kinesis", "create-stream", "--stream-name", "f", "--shard-count", "2");
    AWS_OK(&s, NULL, "kinesis", "split-shard", "--stream-name", "f", "--shard-to-split",
           "shardId-000000000001", "--new-starting-hash-key", MAX_HASH);
    expect_ids(&s, "f", NULL, "0000 0001 0002 0003");
    expect_ids(&s, "f", "Type=AT_LATEST", "0000 0002 0003");
    /* the stream is younger than its retention: the trim horizon is its
     * creation, when shards 0 and 1 were open */
    expect_ids(&s, "f", "Type=AT_TRIM_HORIZON", "0000 0001");
    expect_ids(&s, "f", "Type=FROM_TRIM_HORIZON", "0000 0001 0002 0003");
    expect_ids(&s, "f", "Type=AFTER_SHARD_ID,ShardId=shardId-000000000001", "0002 0003");
    expect_ids(&s, "f", "Type=AT_TIMESTAMP,Timestamp=1000000000",
               "0000 0001"); /* before the stream: its first shards */
    expect_ids(&s, "f", "Type=FROM_TIMESTAMP,Timestamp=4000000000",
               "0000 0002 0003"); /* the future: what is open */
    AWS_FAILS(&s, "InvalidArgumentException", "kinesis", "list-shards", "--stream-name", "f",
              "--shard-filter", "Type=AT_TIMESTAMP");

    /* always encrypted: start is in effect already, stop cannot be */
    AWS_OK(&s, NULL, "kinesis", "start-stream-encryption", "--stream-name", "f",
           "--encryption-type", "KMS", "--key-id", "alias/aws/kinesis");
    AWS_FAILS(&s, "InvalidArgumentException", "kinesis", "stop-stream-encryption", "--stream-name",
              "f", "--encryption-type", "KMS", "--key-id", "alias/aws/kinesis");
    fl_json_doc_t *d;
    OK_JSON(&s, &d, "describe-stream-summary", "--stream-name", "f");
    ck_assert_str_eq(str(member(d, "StreamDescriptionSummary"), "EncryptionType"), "KMS");
    fl_json_free(d);
    fl_test_server_free(&s);
}
END_TEST

/* tests/records_throttle.py against a server (extra flags or NULL). */
static void throttle_script(char *const flags[], const char *mode)
{
    fl_test_server_t s;
    fl_test_server_start(&s, NULL, flags);
    char *args[] = {"/usr/bin/python3", FL_SOURCE_DIR "/tests/records_throttle.py", s.url,
                    (char *)mode, NULL};
    char *out = NULL, *err = NULL;
    int rc = fl_test_run(args, 600000, &out, &err);
    ck_assert_msg(rc == 0 && out && strncmp(out, "OK ", 3) == 0,
                  "records_throttle.py %s (%d): %s %s", mode, rc, out, err);
    free(out);
    free(err);
    fl_test_server_free(&s);
}

START_TEST(rates_per_shard_and_the_flag_that_lifts_them)
{
    throttle_script(NULL, "on");
    char *off[] = {"--records-throttle", "0", NULL};
    throttle_script(off, "off");
}
END_TEST

int main(void)
{
    Suite *su = suite_create("api_records_shards");
    TCase *tc = tcase_create("shards");
    tcase_add_test(tc, split_merge_and_their_lineage);
    tcase_add_test(tc, update_shard_count_makes_uniform_ranges);
    tcase_add_test(tc, a_writer_loses_nothing_while_the_stream_is_resharded);
    tcase_add_test(tc, tags_as_aws_limits_them);
    tcase_add_test(tc, shard_filters_and_encryption);
    tcase_add_test(tc, rates_per_shard_and_the_flag_that_lifts_them);
    suite_add_tcase(su, tc);
    return fl_test_main(su);
}
