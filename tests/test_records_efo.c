/*
 * tests/test_records_efo.c — enhanced fan-out against the real framelogd,
 * with real clients:
 * - stream consumers through the AWS CLI v2 (/usr/bin/aws): register,
 *   describe (by ARN and by name), list with pages, the limit of 20, the
 *   errors, deregister; kept across a restart; DeleteStream refuses a
 *   stream with consumers unless told to delete them, and they go with it;
 * - SubscribeToShard through the AWS SDK for JavaScript v3 over HTTP/2
 *   (tests/node/kds_efo.js): backlog and live records, every one once, in
 *   order, ContinuationSequenceNumber right, every starting position, the
 *   second subscription refused in the stream; then its counts in /metrics;
 * - SubscribeToShard over HTTP/1.1 through boto3 (tests/records_efo.py);
 * - how event streams end (tests/records_efo_ends.py, boto3): a later call
 *   takes over (the old one gets ResourceInUseException), and
 *   DeregisterStreamConsumer or DeleteStream with EnforceConsumerDeletion
 *   end them with ResourceNotFoundException, each counted in /metrics;
 * - a subscription's own rate, 2 MiB/s of data (tests/records_efo_rate.py,
 *   boto3): 12 MiB put with the rates off, read back after a restart with
 *   the rates on, never ahead of the rate; the held reads in /metrics.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/json.h"
#include "harness.h"

#define AWS2 "/usr/bin/aws"

static char *const no_throttle[] = {"--records-throttle", "0", NULL};

static int v2(const fl_test_server_t *s, char **out, char **err, va_list ap)
{
    char *args[50];
    int n = 0;
    args[n++] = "kinesis";
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL && n < 48)
        args[n++] = (char *)a;
    args[n] = NULL;
    return fl_test_aws_bin(AWS2, s, args, out, err);
}

/* `aws kinesis ARGS` (CLI v2) succeeds: its JSON output, or NULL. */
static fl_json_doc_t *ok(const fl_test_server_t *s, ...)
{
    va_list ap;
    va_start(ap, s);
    char *out = NULL, *err = NULL;
    int rc = v2(s, &out, &err, ap);
    va_end(ap);
    ck_assert_msg(rc == 0, "aws kinesis failed (%d): %s", rc, err);
    fl_json_doc_t *d = NULL;
    if (out && out[strspn(out, " \r\n\t")])
        ck_assert_msg(fl_json_parse(fl_slice_str(out), NULL, &d, NULL) == 0, "not JSON: %s", out);
    free(out);
    free(err);
    return d;
}

/* `aws kinesis ARGS` (CLI v2) fails with etype in its message. */
static void fails(const fl_test_server_t *s, const char *etype, ...)
{
    va_list ap;
    va_start(ap, etype);
    char *out = NULL, *err = NULL;
    int rc = v2(s, &out, &err, ap);
    va_end(ap);
    ck_assert_msg(rc != 0, "aws succeeded, expected %s: %s", etype, out);
    ck_assert_msg(err && strstr(err, etype), "expected %s, got: %s", etype, err);
    free(out);
    free(err);
}

static const char *str(const fl_json_t *obj, const char *key)
{
    const fl_json_t *v = fl_json_get(obj, key);
    ck_assert_msg(v && v->type == FL_JSON_STRING, "no string %s", key);
    return v->str;
}

static const fl_json_t *member(const fl_json_doc_t *d, const char *key)
{
    ck_assert_ptr_nonnull(d);
    const fl_json_t *v = fl_json_get(fl_json_root(d), key);
    ck_assert_msg(v != NULL, "no %s", key);
    return v;
}

static size_t count_consumers(const fl_test_server_t *s, const char *arn)
{
    fl_json_doc_t *d = ok(s, "list-stream-consumers", "--stream-arn", arn, NULL);
    const fl_json_t *l = member(d, "Consumers");
    ck_assert_int_eq(l->type, FL_JSON_ARRAY);
    size_t n = l->count;
    fl_json_free(d);
    return n;
}

START_TEST(consumers_through_cli_v2)
{
    ck_assert_msg(access(AWS2, X_OK) == 0, "%s is missing", AWS2);
    char *dir = fl_test_mkdtemp("efo");
    fl_test_server_t s;
    fl_test_server_start(&s, dir, NULL);
    ok(&s, "create-stream", "--stream-name", "fan", "--shard-count", "1", NULL);
    fl_json_doc_t *d = ok(&s, "describe-stream-summary", "--stream-name", "fan", NULL);
    char arn[256];
    snprintf(arn, sizeof arn, "%s", str(member(d, "StreamDescriptionSummary"), "StreamARN"));
    fl_json_free(d);
    ck_assert_int_eq(count_consumers(&s, arn), 0);

    d = ok(&s, "register-stream-consumer", "--stream-arn", arn, "--consumer-name", "c0", NULL);
    const fl_json_t *c = member(d, "Consumer");
    char carn[400], prefix[300];
    snprintf(carn, sizeof carn, "%s", str(c, "ConsumerARN"));
    snprintf(prefix, sizeof prefix, "%s/consumer/c0:", arn);
    ck_assert_msg(strncmp(carn, prefix, strlen(prefix)) == 0 &&
                      strspn(carn + strlen(prefix), "0123456789") == strlen(carn + strlen(prefix)),
                  "ConsumerARN %s", carn);
    ck_assert_str_eq(str(c, "ConsumerName"), "c0");
    ck_assert_str_eq(str(c, "ConsumerStatus"), "CREATING");
    ck_assert_ptr_nonnull(fl_json_get(c, "ConsumerCreationTimestamp"));
    fl_json_free(d);
    fails(&s, "ResourceInUseException", "register-stream-consumer", "--stream-arn", arn,
          "--consumer-name", "c0", NULL);

    /* described by ARN and by stream and name: the same consumer, ACTIVE */
    d = ok(&s, "describe-stream-consumer", "--consumer-arn", carn, NULL);
    c = member(d, "ConsumerDescription");
    ck_assert_str_eq(str(c, "ConsumerARN"), carn);
    ck_assert_str_eq(str(c, "ConsumerName"), "c0");
    ck_assert_str_eq(str(c, "ConsumerStatus"), "ACTIVE");
    ck_assert_str_eq(str(c, "StreamARN"), arn);
    fl_json_free(d);
    d = ok(&s, "describe-stream-consumer", "--stream-arn", arn, "--consumer-name", "c0", NULL);
    ck_assert_str_eq(str(member(d, "ConsumerDescription"), "ConsumerARN"), carn);
    fl_json_free(d);
    fails(&s, "ResourceNotFoundException", "describe-stream-consumer", "--stream-arn", arn,
          "--consumer-name", "nobody", NULL);
    fails(&s, "InvalidArgumentException", "describe-stream-consumer", "--consumer-arn",
          "arn:aws:kinesis:us-east-1:123456789012:stream/fan/consumer/c0:1", NULL);
    fails(&s, "ResourceNotFoundException", "register-stream-consumer", "--stream-arn",
          "arn:aws:kinesis:us-east-1:000000000000:stream/nope", "--consumer-name", "x", NULL);

    /* 20 consumers at most */
    for (int i = 1; i < 20; i++) {
        char name[16];
        snprintf(name, sizeof name, "c%d", i);
        fl_json_free(
            ok(&s, "register-stream-consumer", "--stream-arn", arn, "--consumer-name", name, NULL));
    }
    fails(&s, "LimitExceededException", "register-stream-consumer", "--stream-arn", arn,
          "--consumer-name", "c20", NULL);
    ck_assert_int_eq(count_consumers(&s, arn), 20); /* the CLI follows NextToken */
    d = ok(&s, "list-stream-consumers", "--stream-arn", arn, "--no-paginate", "--max-results", "7",
           NULL);
    ck_assert_int_eq(member(d, "Consumers")->count, 7);
    char next[300];
    snprintf(next, sizeof next, "%s", member(d, "NextToken")->str);
    fl_json_free(d);
    d = ok(&s, "list-stream-consumers", "--stream-arn", arn, "--no-paginate", "--max-results", "7",
           "--next-token", next, NULL);
    ck_assert_int_eq(member(d, "Consumers")->count, 7);
    ck_assert_str_eq(str(member(d, "Consumers")->child, "ConsumerName"), "c7");
    fl_json_free(d);

    /* deregistered by ARN, then by name */
    ok(&s, "deregister-stream-consumer", "--consumer-arn", carn, NULL);
    fails(&s, "ResourceNotFoundException", "describe-stream-consumer", "--consumer-arn", carn,
          NULL);
    fails(&s, "ResourceNotFoundException", "deregister-stream-consumer", "--consumer-arn", carn,
          NULL);
    ok(&s, "deregister-stream-consumer", "--stream-arn", arn, "--consumer-name", "c1", NULL);
    ck_assert_int_eq(count_consumers(&s, arn), 18);
    /* a freed slot takes a new one */
    fl_json_free(
        ok(&s, "register-stream-consumer", "--stream-arn", arn, "--consumer-name", "new", NULL));

    /* kept across a restart */
    fl_test_server_stop_clean(&s);
    fl_test_server_start(&s, dir, NULL);
    ck_assert_int_eq(count_consumers(&s, arn), 19);
    d = ok(&s, "describe-stream-consumer", "--stream-arn", arn, "--consumer-name", "new", NULL);
    ck_assert_str_eq(str(member(d, "ConsumerDescription"), "ConsumerStatus"), "ACTIVE");
    fl_json_free(d);

    /* DeleteStream: refused while consumers are registered, unless told;
     * they go with the stream */
    fails(&s, "ResourceInUseException", "delete-stream", "--stream-name", "fan", NULL);
    ok(&s, "delete-stream", "--stream-name", "fan", "--enforce-consumer-deletion", NULL);
    fails(&s, "ResourceNotFoundException", "list-stream-consumers", "--stream-arn", arn, NULL);
    ok(&s, "create-stream", "--stream-name", "fan", "--shard-count", "1", NULL);
    ck_assert_int_eq(count_consumers(&s, arn), 0);
    fl_test_server_stop_clean(&s);
    fl_test_rmtree(dir);
}
END_TEST

static char *metrics(const fl_test_server_t *s)
{
    char url[128];
    snprintf(url, sizeof url, "%s/metrics", s->url);
    char *args[] = {"curl", "-sS", url, NULL};
    char *out = NULL;
    ck_assert_int_eq(fl_test_run(args, 60000, &out, NULL), 0);
    return out;
}

START_TEST(subscribe_through_js_sdk_v3_h2)
{
    ck_assert_msg(fl_test_have("node"), "node is missing (scripts/deps.sh --test)");
    ck_assert_msg(access(FL_SOURCE_DIR "/tests/node/node_modules/@aws-sdk/client-kinesis", R_OK) ==
                      0,
                  "tests/node/node_modules is missing (scripts/deps.sh --test)");
    fl_test_server_t s;
    fl_test_server_start(&s, NULL, no_throttle);
    char *args[] = {"node", FL_SOURCE_DIR "/tests/node/kds_efo.js", s.url, "efo-js", NULL};
    char *out = NULL, *err = NULL;
    int rc = fl_test_run(args, 500000, &out, &err);
    ck_assert_msg(rc == 0, "kds_efo.js (%d): %s %s", rc, out, err);
    ck_assert_msg(out && strstr(out, "\"received\":1000") && strstr(out, "\"backlog\":300") &&
                      strstr(out, "\"in_use\":\"ResourceInUseException\"") &&
                      strstr(out, "\"positions\":4"),
                  "kds_efo.js: %s", out);
    fprintf(stderr, "kds_efo.js: %s", out);
    free(out);
    free(err);
    char *m = metrics(&s);
    ck_assert_msg(fl_test_metric(m, "framelog_records_subscriptions_total") >= 6, "%s", m);
    ck_assert_msg(fl_test_metric(m, "framelog_records_subscriptions_refused_total") >= 1, "%s", m);
    ck_assert_msg(fl_test_metric(m, "framelog_records_subscribe_records_total") >= 1000, "%s", m);
    ck_assert_msg(fl_test_metric(m, "framelog_records_subscribe_events_total") >= 2, "%s", m);
    ck_assert_msg(fl_test_metric(m, "framelog_records_subscriptions") >= 0, "%s", m);
    free(m);
    fl_test_server_stop_clean(&s);
}
END_TEST

START_TEST(subscribe_through_boto3_http11)
{
    fl_test_server_t s;
    fl_test_server_start(&s, NULL, no_throttle);
    char *args[] = {"/usr/bin/python3", FL_SOURCE_DIR "/tests/records_efo.py", s.url, "efo-py",
                    NULL};
    char *out = NULL, *err = NULL;
    int rc = fl_test_run(args, 300000, &out, &err);
    ck_assert_msg(rc == 0, "records_efo.py (%d): %s %s", rc, out, err);
    ck_assert_msg(out && strstr(out, "\"received\": 100") &&
                      strstr(out, "\"in_use\": \"ResourceInUseException\""),
                  "records_efo.py: %s", out);
    fprintf(stderr, "records_efo.py: %s", out);
    free(out);
    free(err);
    fl_test_server_stop_clean(&s);
}
END_TEST

static void run_py(const char *script, char *const argv_tail[], const char *want)
{
    char *args[8] = {"/usr/bin/python3", (char *)script};
    int n = 2;
    for (; argv_tail[n - 2] && n < 7; n++)
        args[n] = argv_tail[n - 2];
    args[n] = NULL;
    char *out = NULL, *err = NULL;
    int rc = fl_test_run(args, 400000, &out, &err);
    ck_assert_msg(rc == 0, "%s (%d): %s %s", script, rc, out, err);
    ck_assert_msg(out && strstr(out, want), "%s: %s", script, out);
    fprintf(stderr, "%s: %s", script, out);
    free(out);
    free(err);
}

START_TEST(subscriptions_end_boto3)
{
    fl_test_server_t s;
    fl_test_server_start(&s, NULL, NULL);
    char *tail[] = {s.url, "efo-ends", NULL};
    run_py(FL_SOURCE_DIR "/tests/records_efo_ends.py", tail,
           "{\"taken_over\": \"ResourceInUseException\", \"refused\": "
           "\"ResourceInUseException\", \"deregistered\": \"ResourceNotFoundException\", "
           "\"deleted\": [\"ResourceNotFoundException\", \"ResourceNotFoundException\"]}");
    char *m = metrics(&s);
    /* taken over, deregistered, two by the delete */
    ck_assert_msg(fl_test_metric(m, "framelog_records_subscriptions_ended_total") >= 4, "%s", m);
    free(m);
    fl_test_server_stop_clean(&s);
}
END_TEST

START_TEST(subscription_rate_boto3)
{
    char *dir = fl_test_mkdtemp("efo-rate");
    fl_test_server_t s;
    fl_test_server_start(&s, dir, no_throttle);
    char *put[] = {s.url, "efo-rate", "put", NULL};
    run_py(FL_SOURCE_DIR "/tests/records_efo_rate.py", put, "\"put\": 12582912");
    fl_test_server_stop_clean(&s);
    fl_test_server_start(&s, dir, NULL); /* the rates on, as by default */
    char *read[] = {s.url, "efo-rate", "read", NULL};
    run_py(FL_SOURCE_DIR "/tests/records_efo_rate.py", read, "\"received\": 12582912");
    char *m = metrics(&s);
    ck_assert_msg(fl_test_metric(m, "framelog_records_throttled_total{op=\"subscribe\"}") >= 1,
                  "%s", m);
    ck_assert_msg(fl_test_metric(m, "framelog_records_subscribe_bytes_total") >= 12582912, "%s", m);
    free(m);
    fl_test_server_stop_clean(&s);
    fl_test_rmtree(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("records_efo");
    TCase *tc = tcase_create("consumers");
    tcase_set_timeout(tc, 900);
    tcase_add_test(tc, consumers_through_cli_v2);
    suite_add_tcase(s, tc);
    tc = tcase_create("js_h2");
    tcase_set_timeout(tc, 900);
    tcase_add_test(tc, subscribe_through_js_sdk_v3_h2);
    suite_add_tcase(s, tc);
    tc = tcase_create("boto3_http11");
    tcase_set_timeout(tc, 900);
    tcase_add_test(tc, subscribe_through_boto3_http11);
    suite_add_tcase(s, tc);
    tc = tcase_create("ends");
    tcase_set_timeout(tc, 900);
    tcase_add_test(tc, subscriptions_end_boto3);
    suite_add_tcase(s, tc);
    tc = tcase_create("rate");
    tcase_set_timeout(tc, 900);
    tcase_add_test(tc, subscription_rate_boto3);
    suite_add_tcase(s, tc);
    return fl_test_main(s);
}
