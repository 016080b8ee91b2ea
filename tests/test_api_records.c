/*
 * tests/test_api_records.c — the Kinesis Data Streams API through the real
 * AWS CLI (`aws kinesis ... --endpoint-url`) against the real framelogd:
 * streams and shards, records in and out byte for byte, iterator types,
 * durability across kill -9 (one record through the CLI; several boto3
 * writers, tests/records_kill9.py), the errors in JSON 1.1's shape, and
 * GetRecords' read-ahead answering as a read made at the call would
 * (tests/records_read_ahead.py, boto3).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "harness.h"

/* The AWS CLI on the PATH may be v1 or v2 (tests pass with both). v2
 * takes --data as base64 unless told raw-in-base64-out, an option v1 does
 * not know: RAW is that option where it exists, so the data given is sent
 * as is by either. */
static int is_v2(void)
{
    static int v = -1;
    if (v < 0) {
        char *args[] = {(char *)fl_test_aws_cli(), "--version", NULL};
        char *out = NULL, *err = NULL;
        fl_test_run(args, 60000, &out, &err);
        v = (out && strstr(out, "aws-cli/2")) || (err && strstr(err, "aws-cli/2"));
        free(out);
        free(err);
    }
    return v;
}
#define RAW                                                                                        \
    (is_v2() ? "--cli-binary-format" : "--no-paginate"),                                           \
        (is_v2() ? "raw-in-base64-out" : "--no-paginate")

/* The call succeeds; its parsed JSON output (or NULL for none). */
static fl_json_doc_t *ok(const fl_test_server_t *s, ...)
{
    char *args[50];
    int n = 0;
    args[n++] = "kinesis";
    va_list ap;
    va_start(ap, s);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL && n < 48)
        args[n++] = (char *)a;
    va_end(ap);
    args[n] = NULL;
    char *out = NULL, *err = NULL;
    int rc = fl_test_aws(s, args, &out, &err);
    ck_assert_msg(rc == 0, "aws kinesis %s failed (%d): %s", args[1], rc, err);
    fl_json_doc_t *d = NULL;
    if (out && out[strspn(out, " \r\n\t")])
        ck_assert_msg(fl_json_parse(fl_slice_str(out), NULL, &d, NULL) == 0, "not JSON: %s", out);
    free(out);
    free(err);
    return d;
}

#define FAILS(s, etype, ...)                                                                       \
    do {                                                                                           \
        char *out_ = NULL, *err_ = NULL;                                                           \
        int rc_ = fl_test_awsl(s, &out_, &err_, "kinesis", __VA_ARGS__, NULL);                     \
        ck_assert_msg(rc_ != 0, "aws succeeded, expected %s: %s", etype, out_);                    \
        ck_assert_msg(strstr(err_, etype) != NULL, "expected %s, got: %s", etype, err_);           \
        free(out_);                                                                                \
        free(err_);                                                                                \
    } while (0)

/* A string member, or a number's text (the CLI v1 prints timestamps as
 * epoch numbers, v2 as ISO 8601 strings). */
static const char *str(const fl_json_t *obj, const char *key)
{
    const fl_json_t *v = fl_json_get(obj, key);
    ck_assert_msg(v && (v->type == FL_JSON_STRING || v->type == FL_JSON_NUMBER), "no string %s",
                  key);
    return v->str;
}

static const fl_json_t *member(const fl_json_doc_t *d, const char *key)
{
    const fl_json_t *v = fl_json_get(fl_json_root(d), key);
    ck_assert_msg(v != NULL, "no member %s", key);
    return v;
}

/* An iterator for shard at type (and sequence number). */
static char *iterator(const fl_test_server_t *s, const char *stream, const char *shard,
                      const char *type, const char *seq)
{
    fl_json_doc_t *d =
        seq ? ok(s, "get-shard-iterator", "--stream-name", stream, "--shard-id", shard,
                 "--shard-iterator-type", type, "--starting-sequence-number", seq, NULL)
            : ok(s, "get-shard-iterator", "--stream-name", stream, "--shard-id", shard,
                 "--shard-iterator-type", type, NULL);
    char *it = strdup(str(fl_json_root(d), "ShardIterator"));
    fl_json_free(d);
    return it;
}

START_TEST(streams_shards_and_records_round_trip)
{
    fl_test_server_t s;
    fl_test_server_start(&s, NULL, NULL);
    fl_json_free(ok(&s, "create-stream", "--stream-name", "telemetry", "--shard-count", "3", NULL));
    FAILS(&s, "ResourceInUseException", "create-stream", "--stream-name", "telemetry",
          "--shard-count", "1");

    fl_json_doc_t *d = ok(&s, "describe-stream-summary", "--stream-name", "telemetry", NULL);
    const fl_json_t *sum = member(d, "StreamDescriptionSummary");
    ck_assert_str_eq(str(sum, "StreamStatus"), "ACTIVE");
    ck_assert_ptr_nonnull(strstr(str(sum, "StreamARN"), ":stream/telemetry"));
    int64_t open = 0;
    ck_assert_int_eq(fl_json_int64(fl_json_get(sum, "OpenShardCount"), &open), 0);
    ck_assert_int_eq(open, 3);
    fl_json_free(d);

    /* three shards whose ranges cover the hash-key space without a gap */
    d = ok(&s, "list-shards", "--stream-name", "telemetry", NULL);
    const fl_json_t *shards = member(d, "Shards");
    ck_assert_int_eq(shards->count, 3);
    ck_assert_str_eq(str(fl_json_get(shards->child, "HashKeyRange"), "StartingHashKey"), "0");
    const fl_json_t *last = shards->child->next->next;
    ck_assert_str_eq(str(fl_json_get(last, "HashKeyRange"), "EndingHashKey"),
                     "340282366920938463463374607431768211455");
    fl_json_free(d);

    /* one record with an explicit hash key lands in the last shard */
    d = ok(&s, "put-record", "--stream-name", "telemetry", "--partition-key", "gps",
           "--explicit-hash-key", "340282366920938463463374607431768211455", "--data",
           "{\"lat\":48.85}", RAW, NULL);
    ck_assert_str_eq(str(fl_json_root(d), "ShardId"), "shardId-000000000002");
    char *seq1 = strdup(str(fl_json_root(d), "SequenceNumber"));
    fl_json_free(d);
    d = ok(&s, "put-records", "--stream-name", "telemetry", "--records",
           "Data=abc,PartitionKey=a,ExplicitHashKey=340282366920938463463374607431768211454",
           "Data=xyz,PartitionKey=b,ExplicitHashKey=340282366920938463463374607431768211453", RAW,
           NULL);
    int64_t failed = -1;
    ck_assert_int_eq(fl_json_int64(member(d, "FailedRecordCount"), &failed), 0);
    ck_assert_int_eq(failed, 0);
    const fl_json_t *recs = member(d, "Records");
    ck_assert_int_eq(recs->count, 2);
    char *seq3 = strdup(str(recs->child->next, "SequenceNumber"));
    fl_json_free(d);

    /* all three come back from the shard, in order, byte for byte */
    char *it = iterator(&s, "telemetry", "shardId-000000000002", "TRIM_HORIZON", NULL);
    d = ok(&s, "get-records", "--shard-iterator", it, NULL);
    recs = member(d, "Records");
    ck_assert_int_eq(recs->count, 3);
    ck_assert_str_eq(str(recs->child, "Data"), "eyJsYXQiOjQ4Ljg1fQ==");
    ck_assert_str_eq(str(recs->child, "PartitionKey"), "gps");
    ck_assert_str_eq(str(recs->child, "SequenceNumber"), seq1);
    ck_assert_str_eq(str(recs->child->next, "Data"), "YWJj");
    ck_assert_str_eq(str(recs->child->next->next, "Data"), "eHl6");
    ck_assert_str_eq(str(recs->child->next->next, "SequenceNumber"), seq3);
    char *next = strdup(str(fl_json_root(d), "NextShardIterator"));
    char *at = strdup(str(recs->child->next, "ApproximateArrivalTimestamp"));
    fl_json_free(d);
    free(it);

    /* AT_TIMESTAMP at a record's own reported time finds that record
     * (inclusive, at the precision reported) */
    d = ok(&s, "get-shard-iterator", "--stream-name", "telemetry", "--shard-id",
           "shardId-000000000002", "--shard-iterator-type", "AT_TIMESTAMP", "--timestamp", at,
           NULL);
    it = strdup(str(fl_json_root(d), "ShardIterator"));
    fl_json_free(d);
    d = ok(&s, "get-records", "--shard-iterator", it, "--limit", "1", NULL);
    ck_assert_msg(strcmp(str(member(d, "Records")->child, "ApproximateArrivalTimestamp"), at) <= 0,
                  "AT_TIMESTAMP %s started later", at);
    ck_assert_str_ne(str(member(d, "Records")->child, "Data"), "eHl6");
    fl_json_free(d);
    free(it);
    free(at);

    /* the next iterator waits at the end: nothing yet, then the new record */
    d = ok(&s, "get-records", "--shard-iterator", next, NULL);
    ck_assert_int_eq(member(d, "Records")->count, 0);
    fl_json_free(d);
    fl_json_free(ok(&s, "put-record", "--stream-name", "telemetry", "--partition-key", "z",
                    "--explicit-hash-key", "340282366920938463463374607431768211455", "--data", "z",
                    RAW, NULL));
    d = ok(&s, "get-records", "--shard-iterator", next, NULL);
    recs = member(d, "Records");
    ck_assert_int_eq(recs->count, 1);
    ck_assert_str_eq(str(recs->child, "Data"), "eg==");
    fl_json_free(d);
    free(next);

    /* AT and AFTER a sequence number */
    it = iterator(&s, "telemetry", "shardId-000000000002", "AT_SEQUENCE_NUMBER", seq3);
    d = ok(&s, "get-records", "--shard-iterator", it, "--limit", "1", NULL);
    ck_assert_str_eq(str(member(d, "Records")->child, "SequenceNumber"), seq3);
    fl_json_free(d);
    free(it);
    it = iterator(&s, "telemetry", "shardId-000000000002", "AFTER_SEQUENCE_NUMBER", seq1);
    d = ok(&s, "get-records", "--shard-iterator", it, "--limit", "1", NULL);
    ck_assert_str_eq(str(member(d, "Records")->child, "Data"), "YWJj");
    fl_json_free(d);
    free(it);
    /* LATEST: only what comes after */
    it = iterator(&s, "telemetry", "shardId-000000000002", "LATEST", NULL);
    d = ok(&s, "get-records", "--shard-iterator", it, NULL);
    ck_assert_int_eq(member(d, "Records")->count, 0);
    fl_json_free(d);
    free(it);

    /* the list, then delete */
    d = ok(&s, "list-streams", NULL);
    ck_assert_str_eq(member(d, "StreamNames")->child->str, "telemetry");
    fl_json_free(d);
    fl_json_free(ok(&s, "delete-stream", "--stream-name", "telemetry", NULL));
    FAILS(&s, "ResourceNotFoundException", "describe-stream", "--stream-name", "telemetry");
    free(seq1);
    free(seq3);
    fl_test_server_free(&s);
}
END_TEST

START_TEST(an_acked_record_survives_kill_9)
{
    fl_test_server_t s;
    fl_test_server_start(&s, NULL, NULL);
    char *dir = strdup(s.data_dir);
    fl_json_free(ok(&s, "create-stream", "--stream-name", "events", "--shard-count", "1", NULL));
    fl_json_doc_t *d = ok(&s, "put-record", "--stream-name", "events", "--partition-key", "door",
                          "--data", "opened", RAW, NULL);
    char *seq = strdup(str(fl_json_root(d), "SequenceNumber"));
    fl_json_free(d);
    fl_test_server_kill(&s);
    s.own_data_dir = 0;
    fl_test_server_free(&s);

    fl_test_server_t s2;
    fl_test_server_start(&s2, dir, NULL);
    char *it = iterator(&s2, "events", "shardId-000000000000", "TRIM_HORIZON", NULL);
    d = ok(&s2, "get-records", "--shard-iterator", it, NULL);
    const fl_json_t *recs = member(d, "Records");
    ck_assert_int_eq(recs->count, 1);
    ck_assert_str_eq(str(recs->child, "Data"), "b3BlbmVk");
    ck_assert_str_eq(str(recs->child, "SequenceNumber"), seq);
    fl_json_free(d);
    /* an iterator made before the restart still works after it */
    d = ok(&s2, "get-records", "--shard-iterator", it, NULL);
    ck_assert_int_eq(member(d, "Records")->count, 1);
    fl_json_free(d);
    free(it);
    free(seq);
    fl_test_server_free(&s2);
    fl_test_rmtree(dir);
}
END_TEST

/* Lines in a file (0 if absent). */
static size_t lines_in(const char *path)
{
    size_t n = 0, len = 0;
    char *t = fl_test_read_file(path, &len);
    for (size_t i = 0; t && i < len; i++)
        n += t[i] == '\n';
    free(t);
    return n;
}

/* Several boto3 writers put records until framelogd is killed with -9;
 * every record whose answer named a sequence number is read back after
 * the restart (tests/records_kill9.py). */
START_TEST(acked_records_of_several_writers_survive_kill_9)
{
    fl_test_server_t s;
    fl_test_server_start(&s, NULL, NULL);
    char *dir = strdup(s.data_dir);
    char *tmp = fl_test_mkdtemp("kill9");
    char acked[512];
    snprintf(acked, sizeof acked, "%s/acked", tmp);
    char *wargs[] = {
        "/usr/bin/python3", FL_SOURCE_DIR "/tests/records_kill9.py", "write", s.url, acked, NULL};
    fl_test_proc_t w;
    ck_assert_int_eq(fl_test_spawn(&w, wargs, NULL), 0);
    /* progress, not time: 2,000 acknowledged records, then the kill */
    for (int i = 0; lines_in(acked) < 2000; i++) {
        ck_assert_msg(fl_test_wait(&w, 100) == -1, "the writers stopped early: %s",
                      fl_test_proc_stderr(&w));
        ck_assert_msg(i < 6000, "2,000 records were not acknowledged in 10 minutes");
    }
    fl_test_server_kill(&s);
    int st = fl_test_wait(&w, 120000);
    ck_assert_msg(st == 0, "writers (%d): %s", st, fl_test_proc_stderr(&w));
    fl_test_proc_free(&w);
    s.own_data_dir = 0;
    fl_test_server_free(&s);

    fl_test_server_t s2;
    fl_test_server_start(&s2, dir, NULL);
    char *cargs[] = {
        "/usr/bin/python3", FL_SOURCE_DIR "/tests/records_kill9.py", "check", s2.url, acked, NULL};
    char *out = NULL, *err = NULL;
    int rc = fl_test_run(cargs, 300000, &out, &err);
    ck_assert_msg(rc == 0 && out && strncmp(out, "OK ", 3) == 0, "check (%d): %s %s", rc, out, err);
    free(out);
    free(err);
    fl_test_server_free(&s2);
    fl_test_rmtree(dir);
    fl_test_rmtree(tmp);
}
END_TEST

START_TEST(errors_are_json_1_1_and_clear)
{
    fl_test_server_t s;
    fl_test_server_start(&s, NULL, NULL);
    FAILS(&s, "ResourceNotFoundException", "describe-stream-summary", "--stream-name", "nope");
    FAILS(&s, "ResourceNotFoundException", "put-record", "--stream-name", "nope", "--partition-key",
          "k", "--data", "eA==");
    FAILS(&s, "ValidationException", "create-stream", "--stream-name", "bad name!", "--shard-count",
          "1");
    fl_json_free(ok(&s, "create-stream", "--stream-name", "e", "--shard-count", "1", NULL));
    FAILS(&s, "ResourceNotFoundException", "get-shard-iterator", "--stream-name", "e", "--shard-id",
          "shardId-000000000007", "--shard-iterator-type", "TRIM_HORIZON");
    /* an altered iterator is refused; the CLI's own check passes it */
    char *it = iterator(&s, "e", "shardId-000000000000", "TRIM_HORIZON", NULL);
    size_t n = strlen(it);
    it[n / 2] = it[n / 2] == 'A' ? 'B' : 'A';
    FAILS(&s, "InvalidArgumentException", "get-records", "--shard-iterator", it);
    free(it);

    /* the wire shape: __type in an x-amz-json-1.1 body */
    char body[] = "{\"StreamName\":\"nope\"}";
    char *args[] = {"curl",
                    "-s",
                    "-i",
                    "-X",
                    "POST",
                    "-H",
                    "X-Amz-Target: Kinesis_20131202.DescribeStreamSummary",
                    "-H",
                    "Content-Type: application/x-amz-json-1.1",
                    "--data-binary",
                    body,
                    s.url,
                    NULL};
    char *out = NULL;
    ck_assert_int_eq(fl_test_run(args, 30000, &out, NULL), 0);
    ck_assert_msg(strstr(out, "400") && strstr(out, "application/x-amz-json-1.1") &&
                      strstr(out, "\"__type\":\"ResourceNotFoundException\""),
                  "%s", out);
    free(out);
    fl_test_server_free(&s);
}
END_TEST

/* GetRecords' read-ahead (--records-throttle 0): catch-ups, other limits,
 * earlier iterators and a delete right after a call all answer as without
 * it (tests/records_read_ahead.py), and the reads ahead were used. */
START_TEST(read_ahead_answers_as_a_read_now)
{
    char *no_throttle[] = {"--records-throttle", "0", NULL};
    fl_test_server_t s;
    fl_test_server_start(&s, NULL, no_throttle);
    char *args[] = {"/usr/bin/python3", FL_SOURCE_DIR "/tests/records_read_ahead.py", s.url,
                    "ahead", NULL};
    char *out = NULL, *err = NULL;
    int rc = fl_test_run(args, 300000, &out, &err);
    ck_assert_msg(rc == 0, "records_read_ahead.py (%d): %s %s", rc, out, err);
    ck_assert_msg(out && strstr(out, "\"records\": 2500") && strstr(out, "\"again\": 2500") &&
                      strstr(out, "\"new_incarnation\": 10"),
                  "records_read_ahead.py: %s", out);
    free(out);
    free(err);
    char url[128];
    snprintf(url, sizeof url, "%s/metrics", s.url);
    char *curl[] = {"curl", "-sS", url, NULL};
    char *m = NULL;
    ck_assert_int_eq(fl_test_run(curl, 60000, &m, NULL), 0);
    /* the first catch-up alone: 9 calls after its first */
    ck_assert_msg(fl_test_metric(m, "framelog_records_read_ahead_total{result=\"used\"}") >= 9,
                  "%s", m);
    free(m);
    fl_test_server_stop_clean(&s);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("api_records");
    TCase *tc = tcase_create("records");
    tcase_add_test(tc, streams_shards_and_records_round_trip);
    tcase_add_test(tc, an_acked_record_survives_kill_9);
    tcase_add_test(tc, acked_records_of_several_writers_survive_kill_9);
    tcase_add_test(tc, errors_are_json_1_1_and_clear);
    tcase_add_test(tc, read_ahead_answers_as_a_read_now);
    suite_add_tcase(su, tc);
    return fl_test_main(su);
}
