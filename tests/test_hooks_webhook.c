/*
 * tests/test_hooks_webhook.c — the webhook sample hook (samples/hooks/
 * webhook) in the real framelogd, POSTing to the sample receiver
 * (samples/hooks/webhook/receiver.py, Python's http.server) started by
 * the test: every event arrives once and its X-Framelog-Signature
 * verifies, the first ones after 503 answers that are retried; with the receiver down the events
 * are retried and arrive when it is back; down for longer, the bounded queue drops the rest and
 * counts them; a receiver with another secret refuses them (not retried);
 * a config without a URL or secret stops framelogd at start.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/json.h"
#include "media_harness.h"

#define SECRET "correct horse battery staple"

typedef struct {
    fl_test_proc_t proc;
    int port;
    int fail; /* the receiver answers 503 to its first `fail` POSTs */
    char *dir;
    char log[4200]; /* its JSON lines, across restarts */
} receiver_t;

/* Start the receiver (port 0: any free port) appending to r->log; it
 * answers 503 to its first r->fail POSTs. */
static void receiver_start(receiver_t *r, const char *secret)
{
    char port[16], fail[16];
    snprintf(port, sizeof port, "%d", r->port);
    snprintf(fail, sizeof fail, "%d", r->fail);
    char *argv[] = {"python3",  FL_WEBHOOK_RECEIVER,
                    "--secret", (char *)secret,
                    "--port",   port,
                    "--log",    r->log,
                    "--fail",   fail,
                    NULL};
    ck_assert_int_eq(fl_test_spawn(&r->proc, argv, NULL), 0);
    for (int i = 0; i < 600; i++) {
        char *out = fl_test_proc_stdout(&r->proc);
        char *at = strstr(out, "listening on 127.0.0.1:");
        if (at) {
            r->port = atoi(at + strlen("listening on 127.0.0.1:"));
            free(out);
            return;
        }
        free(out);
        ck_assert_msg(fl_test_wait(&r->proc, 0) == -1, "the receiver exited");
        usleep(50000);
    }
    ck_abort_msg("the receiver did not start");
}

static void receiver_stop(receiver_t *r)
{
    kill(r->proc.pid, SIGTERM);
    fl_test_wait(&r->proc, 20000);
    fl_test_proc_free(&r->proc);
    memset(&r->proc, 0, sizeof r->proc);
}

/* The receiver's lines so far, parsed (NULL-terminated array). */
static fl_json_doc_t **received(const receiver_t *r, size_t *n)
{
    size_t len = 0, cap = 16;
    fl_json_doc_t **docs = calloc(cap, sizeof *docs);
    char *text = fl_test_read_file(r->log, &len);
    *n = 0;
    for (char *line = text, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (!next)
            break; /* a line being written */
        *next++ = 0;
        if (*n + 1 >= cap)
            docs = realloc(docs, (cap *= 2) * sizeof *docs);
        ck_assert_msg(fl_json_parse(fl_slice_str(line), NULL, &docs[*n], NULL) == 0, "%s", line);
        (*n)++;
    }
    docs[*n] = NULL;
    free(text);
    return docs;
}

static void free_docs(fl_json_doc_t **docs)
{
    for (size_t i = 0; docs[i]; i++)
        fl_json_free(docs[i]);
    free(docs);
}

static size_t count_received(const receiver_t *r)
{
    size_t n;
    free_docs(received(r, &n));
    return n;
}

static const char *ev_str(const fl_json_doc_t *d, const char *key)
{
    const fl_json_t *ev = fl_json_get(fl_json_root(d), "event");
    const fl_json_t *v = ev ? fl_json_get(ev, key) : NULL;
    return v && (v->type == FL_JSON_STRING || v->type == FL_JSON_NUMBER) ? v->str : "";
}

static int verified(const fl_json_doc_t *d)
{
    const fl_json_t *v = fl_json_get(fl_json_root(d), "verified");
    return v && v->type == FL_JSON_TRUE;
}

/* The hook's counter on /metrics (-1: absent). */
static long counter(const fl_test_server_t *s, const char *name)
{
    char url[128], series[128], *text = NULL;
    snprintf(url, sizeof url, "%s/metrics", s->url);
    snprintf(series, sizeof series, "framelog_hook_%s_total{hook=\"webhook\"}", name);
    char *argv[] = {"curl", "-sS", "--max-time", "30", url, NULL};
    ck_assert_int_eq(fl_test_run(argv, 60000, &text, NULL), 0);
    long v = (long)fl_test_metric(text, series);
    free(text);
    return v;
}

static void wait_received(const receiver_t *r, size_t want)
{
    for (int i = 0; i < 1200 && count_received(r) < want; i++)
        usleep(100000);
    ck_assert_uint_eq(count_received(r), want);
}

static void wait_counter(const fl_test_server_t *s, const char *name, long at_least)
{
    for (int i = 0; i < 600 && counter(s, name) < at_least; i++)
        usleep(100000);
    ck_assert_int_ge(counter(s, name), at_least);
}

static void start_server(fl_test_server_t *s, const receiver_t *r, const char *extra)
{
    static char hook[5000];
    snprintf(hook, sizeof hook, "%s,url=http://127.0.0.1:%d/framelog,secret=%s%s", FL_HOOK_WEBHOOK,
             r->port, SECRET, extra);
    char *args[] = {"--hook", hook, NULL};
    fl_test_server_start(s, NULL, args);
}

/* put-records of n records to stream; their sequence numbers, in order,
 * into seqs[] (malloc'd). */
static void put_records(const fl_test_server_t *s, const char *stream, int n, char **seqs)
{
    char *dir = fl_test_mkdtemp("recs"), path[4200], arg[4300], json[64 * 40];
    size_t len = 0;
    len += (size_t)snprintf(json + len, sizeof json - len, "[");
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(json + len, sizeof json - len,
                                "%s{\"Data\":\"cmVj\",\"PartitionKey\":\"k%d\"}", i ? "," : "", i);
    snprintf(json + len, sizeof json - len, "]");
    snprintf(path, sizeof path, "%s/records.json", dir);
    ck_assert_int_eq(fl_test_write_file(path, json, strlen(json)), 0);
    snprintf(arg, sizeof arg, "file://%s", path);
    char *out = NULL;
    AWS_OK(s, &out, "kinesis", "put-records", "--stream-name", stream, "--records", arg);
    fl_json_doc_t *d = NULL;
    ck_assert_int_eq(fl_json_parse(fl_slice_str(out), NULL, &d, NULL), 0);
    const fl_json_t *recs = fl_json_get(fl_json_root(d), "Records");
    int i = 0;
    for (const fl_json_t *e = recs ? recs->child : NULL; e; e = e->next, i++) {
        const fl_json_t *seq = fl_json_get(e, "SequenceNumber");
        ck_assert_ptr_nonnull(seq);
        seqs[i] = strdup(seq->str);
    }
    ck_assert_int_eq(i, n);
    fl_json_free(d);
    free(out);
    fl_test_rmtree(dir);
}

/* The received events from index from on are exactly these records, in
 * order, each once and signed. */
static void check_records(const receiver_t *r, size_t from, char **seqs, int n)
{
    size_t got;
    fl_json_doc_t **docs = received(r, &got);
    ck_assert_uint_eq(got, from + (size_t)n);
    for (int i = 0; i < n; i++) {
        const fl_json_doc_t *d = docs[from + (size_t)i];
        ck_assert(verified(d));
        ck_assert_str_eq(ev_str(d, "type"), "record.appended");
        ck_assert_str_eq(ev_str(d, "stream"), "events");
        ck_assert_str_eq(ev_str(d, "sequence"), seqs[i]);
        /* "rec": the CLI v2 decodes the base64 given, v1 sends it as is */
        const char *data = ev_str(d, "data");
        ck_assert_msg(!strcmp(data, "cmVj") || !strcmp(data, "Y21Wag=="), "%s", data);
    }
    free_docs(docs);
}

/* A receiver knowing secret (answering 503 to its first `fail` POSTs),
 * framelogd with the webhook pointed at it (extra: more config), and the
 * data stream "events". */
static receiver_t *setup(fl_test_server_t *s, const char *secret, int fail, const char *extra)
{
    receiver_t *r = calloc(1, sizeof *r);
    r->fail = fail;
    r->dir = fl_test_mkdtemp("receiver");
    snprintf(r->log, sizeof r->log, "%s/events.jsonl", r->dir);
    receiver_start(r, secret);
    start_server(s, r, extra);
    AWS_OK(s, NULL, "kinesis", "create-stream", "--stream-name", "events", "--shard-count", "1");
    return r;
}

static void teardown(fl_test_server_t *s, receiver_t *r)
{
    ck_assert_int_eq(fl_test_server_stop(s, 30000), 0);
    fl_test_server_free(s);
    if (r->proc.pid > 0)
        receiver_stop(r);
    fl_test_rmtree(r->dir);
    free(r);
}

START_TEST(webhook_every_event_once_and_signed)
{
    make_media(); /* 6 s of H.264 + AAC: 3 fragments */
    fl_test_server_t s;
    receiver_t *r = setup(&s, SECRET, 2, ",backoff_ms=100"); /* two 503s first */
    create_stream(&s, "door");

    char *acks = NULL, *err = NULL;
    ck_assert_int_eq(put_media(&s, "door", g_mkv, 1700000000.0, &acks, &err), 0);
    check_ack_order(acks, 3);
    char *seqs[2];
    put_records(&s, "events", 2, seqs);

    /* started, 3 persisted, stopped, 2 records */
    wait_received(r, 7);
    ck_assert_int_eq(counter(&s, "events_queued"), 7);
    ck_assert_int_eq(counter(&s, "events_delivered"), 7);
    ck_assert_int_eq(counter(&s, "attempts_failed"), 2); /* the 503s, retried */
    size_t n;
    fl_json_doc_t **docs = received(r, &n);
    int started = 0, stopped = 0, persisted = 0, records = 0;
    for (size_t i = 0; i < n; i++) {
        ck_assert_msg(verified(docs[i]), "event %zu not signed right", i);
        const char *id = ev_str(docs[i], "id");
        ck_assert_str_eq(fl_json_get(fl_json_root(docs[i]), "delivery")->str, id);
        for (size_t j = 0; j < i; j++)
            ck_assert_str_ne(ev_str(docs[j], "id"), id); /* once each */
        const char *type = ev_str(docs[i], "type");
        if (strcmp(type, "stream.started") == 0) {
            started++;
            ck_assert_str_eq(ev_str(docs[i], "stream"), "door");
            const fl_json_t *tracks =
                fl_json_get(fl_json_get(fl_json_root(docs[i]), "event"), "tracks");
            ck_assert_ptr_nonnull(tracks);
            ck_assert_str_eq(fl_json_get(tracks->child, "codec_id")->str, "V_MPEG4/ISO/AVC");
            ck_assert_str_eq(fl_json_get(tracks->child, "width")->str, "320");
            ck_assert_str_eq(fl_json_get(tracks->child->next, "codec_id")->str, "A_AAC");
        } else if (strcmp(type, "stream.stopped") == 0) {
            stopped++;
        } else if (strcmp(type, "fragment.persisted") == 0) {
            persisted++;
            ck_assert_int_eq(started, 1);
            /* the number the producer was acked PERSISTED with */
            char ack[200];
            snprintf(ack, sizeof ack, "\"FragmentNumber\":\"%s\"", ev_str(docs[i], "fragment"));
            ck_assert_msg(strstr(acks, ack) != NULL, "%s not acked", ack);
        } else if (strcmp(type, "record.appended") == 0) {
            ck_assert_str_eq(ev_str(docs[i], "sequence"), seqs[records]);
            ck_assert_str_eq(ev_str(docs[i], "partition_key"), records ? "k1" : "k0");
            records++;
        } else {
            ck_abort_msg("unexpected event %s", type);
        }
    }
    ck_assert_int_eq(started, 1);
    ck_assert_int_eq(persisted, 3);
    ck_assert_int_eq(stopped, 1);
    ck_assert_int_eq(records, 2);
    free_docs(docs);
    free(seqs[0]);
    free(seqs[1]);
    free(acks);
    free(err);

    teardown(&s, r);
    fl_test_rmtree(g_dir);
}
END_TEST

START_TEST(webhook_retries_then_drops)
{
    fl_test_server_t s;
    receiver_t *r =
        setup(&s, SECRET, 0, ",queue=4,backoff_ms=50,backoff_max_ms=200,timeout_ms=3000");
    char *seqs[20];
    put_records(&s, "events", 1, seqs);
    wait_received(r, 1);
    check_records(r, 0, seqs, 1);
    free(seqs[0]);

    /* down for a while: the events wait and are retried */
    receiver_stop(r);
    put_records(&s, "events", 3, seqs);
    wait_counter(&s, "attempts_failed", 3);
    ck_assert_uint_eq(count_received(r), 1);
    receiver_start(r, SECRET); /* on the same port */
    wait_received(r, 4);
    check_records(r, 1, seqs, 3);
    ck_assert_int_eq(counter(&s, "events_delivered"), 4);
    ck_assert_int_le(counter(&s, "events_dropped"), 0); /* none yet: absent */
    for (int i = 0; i < 3; i++)
        free(seqs[i]);

    /* down for longer than the queue holds: 4 of 20 wait, 16 are dropped */
    receiver_stop(r);
    put_records(&s, "events", 20, seqs);
    wait_counter(&s, "events_dropped", 16);
    ck_assert_int_eq(counter(&s, "events_queued"), 4 + 4);
    ck_assert_int_eq(counter(&s, "events_dropped"), 16);
    receiver_start(r, SECRET);
    wait_received(r, 8);
    check_records(r, 4, seqs, 4); /* the oldest four: the newest were dropped */
    ck_assert_int_eq(counter(&s, "events_delivered"), 8);
    ck_assert_int_le(counter(&s, "events_failed"), 0);
    for (int i = 0; i < 20; i++)
        free(seqs[i]);
    char *log = fl_test_proc_stderr(&s.proc);
    ck_assert_msg(strstr(log, "queue full") != NULL, "%s", log);
    free(log);

    teardown(&s, r);
}
END_TEST

/* A receiver that does not know the secret refuses the events (401): a
 * refusal is not retried, it is counted as failed. */
START_TEST(webhook_wrong_secret_refused)
{
    fl_test_server_t s;
    receiver_t *r = setup(&s, "another secret", 0, ",backoff_ms=50");
    char *seqs[2];
    put_records(&s, "events", 2, seqs);
    wait_counter(&s, "events_failed", 2);
    wait_received(r, 2);
    size_t n;
    fl_json_doc_t **docs = received(r, &n);
    ck_assert(!verified(docs[0]) && !verified(docs[1]));
    free_docs(docs);
    ck_assert_int_le(counter(&s, "attempts_failed"), 0); /* not retried */
    ck_assert_int_le(counter(&s, "events_delivered"), 0);
    free(seqs[0]);
    free(seqs[1]);
    teardown(&s, r);
}
END_TEST

START_TEST(webhook_config_refused)
{
    char bad[4300];
    const char *cases[][2] = {
        {",secret=x", "url="},
        {",url=http://127.0.0.1:9/", "secret="},
        {",url=ftp://127.0.0.1/,secret=x", "bad url=ftp://127.0.0.1/"},
        {",url=http://127.0.0.1:9/,secret_file=/nonexistent/secret", "cannot read a secret"},
        {",url=http://127.0.0.1:9/,secret=x,queue=0", "bad queue=0"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(bad, sizeof bad, "%s%s", FL_HOOK_WEBHOOK, cases[i][0]);
        char *args[] = {"--hook", bad, NULL};
        fl_test_server_refused(args, cases[i][1]);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("hooks_webhook");
    TCase *tc = tcase_create("webhook");
    tcase_add_test(tc, webhook_every_event_once_and_signed);
    tcase_add_test(tc, webhook_retries_then_drops);
    tcase_add_test(tc, webhook_wrong_secret_refused);
    tcase_add_test(tc, webhook_config_refused);
    suite_add_tcase(s, tc);
    return fl_test_main(s);
}
