/*
 * tests/test_api_media.c — PutMedia and GetMedia end to end against the real
 * framelogd: an H.264+AAC file made by ffmpeg is pushed by curl as a chunked
 * POST /putMedia, its ack stream checked event by event; GetMedia through
 * curl and through `aws kinesis-video-media get-media` returns the same
 * frames with the same timestamps (ffprobe), with the fragment tags; bad
 * input gets the right error and the stream keeps working.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include <libwebsockets.h>

#include "common/bytes.h"
#include "media_harness.h"

START_TEST(put_then_get_gives_the_same_frames)
{
    make_media();
    fl_test_server_t s;
    fl_test_server_start(&s, NULL, NULL);
    create_stream(&s, "cam");
    double start = (double)time(NULL);
    char *acks = NULL, *err = NULL;
    ck_assert_int_eq(put_media(&s, "cam", g_mkv, start, &acks, &err), 0);
    check_ack_order(acks, 3);
    free(acks);
    free(err);

    /* GetMedia with curl, from the start */
    char out1[4300];
    snprintf(out1, sizeof out1, "%s/out-curl.mkv", g_dir);
    get_media_earliest(&s, "cam", out1);
    char *pin = probe(g_mkv), *pout = probe(out1);
    same_packets(pin, pout, (long long)start * 1000);
    free(pout);
    ck_assert_int_eq(count_in_file(out1, "AWS_KINESISVIDEO_FRAGMENT_NUMBER"), 3);
    ck_assert_int_eq(count_in_file(out1, "AWS_KINESISVIDEO_SERVER_TIMESTAMP"), 3);
    ck_assert_int_eq(count_in_file(out1, "AWS_KINESISVIDEO_PRODUCER_TIMESTAMP"), 3);
    ck_assert_int_eq(count_in_file(out1, "AWS_KINESISVIDEO_MILLIS_BEHIND_NOW"), 3);
    /* 3 fragments + the end tag */
    ck_assert_int_eq(count_in_file(out1, "AWS_KINESISVIDEO_CONTINUATION_TOKEN"), 4);

    /* and with the AWS CLI */
    char out2[4300];
    snprintf(out2, sizeof out2, "%s/out-cli.mkv", g_dir);
    char *cli[] = {"kinesis-video-media",
                   "get-media",
                   "--stream-name",
                   "cam",
                   "--start-selector",
                   "StartSelectorType=EARLIEST",
                   out2,
                   NULL};
    char *cerr = NULL;
    int rc = fl_test_aws(&s, cli, NULL, &cerr);
    ck_assert_msg(rc == 0, "aws (%d): %s", rc, cerr);
    free(cerr);
    pout = probe(out2);
    same_packets(pin, pout, (long long)start * 1000);
    free(pout);
    free(pin);
    fl_test_server_free(&s);
    fl_test_rmtree(g_dir);
}
END_TEST

START_TEST(bad_input_gets_errors_and_the_stream_keeps_working)
{
    make_media();
    fl_test_server_t s;
    fl_test_server_start(&s, NULL, NULL);
    create_stream(&s, "cam2");
    double start = (double)time(NULL);

    /* an unknown stream: an HTTP error before any ack */
    char url[256];
    snprintf(url, sizeof url, "%s/putMedia", s.url);
    char data[4300];
    snprintf(data, sizeof data, "@%s", g_mkv);
    char *unknown[] = {"curl",
                       "-sS",
                       "-i",
                       "--max-time",
                       "30",
                       "-H",
                       "x-amzn-stream-name: nope",
                       "-H",
                       "Transfer-Encoding: chunked",
                       "--data-binary",
                       data,
                       url,
                       NULL};
    char *out = NULL;
    ck_assert_int_eq(fl_test_run(unknown, 60000, &out, NULL), 0);
    ck_assert_msg(strstr(out, "HTTP/1.1 404") != NULL, "%s", out);
    ck_assert_ptr_nonnull(strcasestr(out, "x-amzn-ErrorType: ResourceNotFoundException"));
    free(out);

    /* garbage: ERROR 4006, and the connection ends */
    char junk[4300];
    snprintf(junk, sizeof junk, "%s/junk.bin", g_dir);
    char bytes[8192];
    for (size_t i = 0; i < sizeof bytes; i++)
        bytes[i] = (char)(i * 131 + 7);
    ck_assert_int_eq(fl_test_write_file(junk, bytes, sizeof bytes), 0);
    char *acks = NULL, *err = NULL;
    ck_assert_int_eq(put_media(&s, "cam2", junk, start, &acks, &err), 0);
    ck_assert_msg(strstr(acks, "\"EventType\":\"ERROR\"") && strstr(acks, "\"ErrorId\":4006"),
                  "acks: %s", acks);
    free(acks);
    free(err);

    /* a truncated file: the cut fragment is never stored, and earlier ones are */
    size_t n;
    char *mkv = fl_test_read_file(g_mkv, &n);
    char cut[4300];
    snprintf(cut, sizeof cut, "%s/cut.mkv", g_dir);
    ck_assert_int_eq(fl_test_write_file(cut, mkv, n * 3 / 4), 0);
    free(mkv);
    ck_assert_int_eq(put_media(&s, "cam2", cut, start, &acks, &err), 0);
    ck_assert_ptr_nonnull(strstr(acks, "\"ErrorId\":4006"));
    ck_assert_int_ge(count_acks(acks, "PERSISTED"), 1);
    free(acks);
    free(err);

    /* the same stream takes the next producer (later timecodes) */
    ck_assert_int_eq(put_media(&s, "cam2", g_mkv, start + 100, &acks, &err), 0);
    check_ack_order(acks, 3);
    free(acks);
    free(err);

    /* the same fragments again (a producer resending after a reconnect):
     * each is acked PERSISTED with its stored number, none stored twice */
    char murl[128];
    snprintf(murl, sizeof murl, "%s/metrics", s.url);
    char *margv[] = {"curl", "-sS", murl, NULL};
    char *m = NULL;
    ck_assert_int_eq(fl_test_run(margv, 30000, &m, NULL), 0);
    double stored = fl_test_metric(m, "framelog_ingest_fragments_total");
    free(m);
    ck_assert_int_eq(put_media(&s, "cam2", g_mkv, start + 100, &acks, &err), 0);
    check_ack_order(acks, 3);
    free(acks);
    free(err);
    ck_assert_int_eq(fl_test_run(margv, 30000, &m, NULL), 0);
    ck_assert_msg(fl_test_metric(m, "framelog_ingest_fragments_total") == stored, "%s", m);
    ck_assert_msg(fl_test_metric(m, "framelog_ingest_fragments_resent_total") == 3, "%s", m);
    free(m);

    /* decreasing timecodes the stream does not hold: 4004 */
    ck_assert_int_eq(put_media(&s, "cam2", g_mkv, start + 0.037, &acks, &err), 0);
    ck_assert_msg(strstr(acks, "\"ErrorId\":4004") != NULL, "%s", acks);
    free(acks);
    free(err);
    fl_test_server_free(&s);
    fl_test_rmtree(g_dir);
}
END_TEST

START_TEST(persisted_fragments_survive_kill_9)
{
    make_media();
    char *dir = fl_test_mkdtemp("kill");
    fl_test_server_t s;
    fl_test_server_start(&s, dir, NULL);
    create_stream(&s, "k");
    double start = (double)time(NULL);
    char *acks = NULL, *err = NULL;
    ck_assert_int_eq(put_media(&s, "k", g_mkv, start, &acks, &err), 0);
    check_ack_order(acks, 3);
    free(acks);
    free(err);
    fl_test_server_kill(&s);
    fl_test_server_free(&s);
    fl_test_server_start(&s, dir, NULL);
    char out1[4300];
    snprintf(out1, sizeof out1, "%s/after.mkv", g_dir);
    get_media_earliest(&s, "k", out1);
    char *pin = probe(g_mkv), *pout = probe(out1);
    same_packets(pin, pout, (long long)start * 1000);
    free(pin);
    free(pout);
    fl_test_server_free(&s);
    fl_test_rmtree(dir);
    fl_test_rmtree(g_dir);
}
END_TEST

/* ---- a small WebSocket producer (the SDK comes in its own issue) ---- */

typedef struct {
    const uint8_t *data;
    size_t n, off;
    size_t limit; /* send no further than this for now */
    int ended;    /* the end-of-stream text message went out */
    int closed;   /* the server closed, or the connection failed */
    fl_buf_t acks;
} wsc_t;

static int wsc_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                  size_t len)
{
    wsc_t *c = lws_context_user(lws_get_context(wsi));
    (void)user;
    switch (reason) {
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        lws_callback_on_writable(wsi);
        break;
    case LWS_CALLBACK_CLIENT_WRITEABLE: {
        static uint8_t buf[LWS_PRE + 16384];
        if (c->off < c->limit) {
            size_t k = c->limit - c->off < 16384 ? c->limit - c->off : 16384;
            memcpy(buf + LWS_PRE, c->data + c->off, k);
            if (lws_write(wsi, buf + LWS_PRE, k, LWS_WRITE_BINARY) < (int)k)
                return -1;
            c->off += k;
            lws_callback_on_writable(wsi);
        } else if (c->off == c->n && !c->ended) {
            memcpy(buf + LWS_PRE, "END", 3);
            if (lws_write(wsi, buf + LWS_PRE, 3, LWS_WRITE_TEXT) < 3)
                return -1;
            c->ended = 1;
        }
        break;
    }
    case LWS_CALLBACK_CLIENT_RECEIVE:
        fl_buf_append(&c->acks, in, len);
        fl_buf_u8(&c->acks, '\n');
        break;
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
    case LWS_CALLBACK_CLIENT_CLOSED:
        c->closed = 1;
        break;
    default:
        break;
    }
    return 0;
}

static const struct lws_protocols ws_protos[] = {{"framelog-putmedia-v1", wsc_cb, 0, 0, 0, NULL, 0},
                                                 {NULL, NULL, 0, 0, 0, NULL, 0}};

/* A client context for c, connected as a producer of stream (RELATIVE
 * timecodes from start_ts); run it with lws_service(). */
static struct lws_context *ws_connect(const fl_test_server_t *s, wsc_t *c, const char *stream,
                                      double start_ts)
{
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = ws_protos;
    info.user = c;
    lws_set_log_level(LLL_ERR, NULL);
    struct lws_context *ctx = lws_create_context(&info);
    ck_assert_ptr_nonnull(ctx);
    char path[512];
    snprintf(path, sizeof path,
             "/putMedia?StreamName=%s&FragmentTimecodeType=RELATIVE&ProducerStartTimestamp=%.3f",
             stream, start_ts);
    struct lws_client_connect_info ci;
    memset(&ci, 0, sizeof ci);
    ci.context = ctx;
    ci.address = "127.0.0.1";
    ci.port = s->port;
    ci.path = path;
    ci.host = "127.0.0.1";
    ci.origin = "127.0.0.1";
    ci.protocol = "framelog-putmedia-v1";
    ck_assert_ptr_nonnull(lws_client_connect_via_info(&ci));
    return ctx;
}

static char *ws_put_media(const fl_test_server_t *s, const char *stream, const char *file,
                          double start_ts)
{
    size_t n;
    char *data = fl_test_read_file(file, &n);
    ck_assert_ptr_nonnull(data);
    wsc_t c = {(const uint8_t *)data, n, 0, n, 0, 0, {0}};
    fl_buf_init(&c.acks, 0);
    struct lws_context *ctx = ws_connect(s, &c, stream, start_ts);
    long long deadline = fl_test_now_ms() + 60000;
    while (!c.closed && fl_test_now_ms() < deadline)
        lws_service(ctx, 50);
    lws_context_destroy(ctx);
    free(data);
    ck_assert_msg(c.closed, "the server never closed the WebSocket");
    fl_buf_u8(&c.acks, 0);
    return (char *)c.acks.p;
}

START_TEST(websocket_put_then_get)
{
    make_media();
    fl_test_server_t s;
    fl_test_server_start(&s, NULL, NULL);
    create_stream(&s, "wscam");
    double start = (double)time(NULL);
    char *acks = ws_put_media(&s, "wscam", g_mkv, start);
    check_ack_order(acks, 3);
    free(acks);
    char out1[4300];
    snprintf(out1, sizeof out1, "%s/ws-out.mkv", g_dir);
    get_media_earliest(&s, "wscam", out1);
    char *pin = probe(g_mkv), *pout = probe(out1);
    same_packets(pin, pout, (long long)start * 1000);
    free(pin);
    free(pout);
    fl_test_server_free(&s);
    fl_test_rmtree(g_dir);
}
END_TEST

/* Offset of the k-th Cluster element (0-based) in a Matroska file. */
static size_t cluster_offset(const uint8_t *p, size_t n, int k)
{
    for (size_t i = 0; i + 4 <= n; i++)
        if (memcmp(p + i, "\x1f\x43\xb6\x75", 4) == 0 && k-- == 0)
            return i;
    ck_abort_msg("no cluster %d", k);
    return 0;
}

START_TEST(live_reader_gets_frames_before_the_fragment_completes)
{
    make_media();
    fl_test_server_t s;
    fl_test_server_start(&s, NULL, NULL);
    create_stream(&s, "live");

    /* a live reader from NOW, before the producer starts */
    char out[4300], url[256];
    snprintf(out, sizeof out, "%s/live.mkv", g_dir);
    snprintf(url, sizeof url, "%s/getMedia", s.url);
    char *get[] = {"curl",
                   "-sS",
                   "-N",
                   "--max-time",
                   "60",
                   "-o",
                   out,
                   "--data-binary",
                   "{\"StreamName\":\"live\",\"StartSelector\":{\"StartSelectorType\":\"NOW\"}}",
                   url,
                   NULL};
    fl_test_proc_t reader;
    ck_assert_int_eq(fl_test_spawn(&reader, get, NULL), 0);
    usleep(500000);

    /* the producer sends half of the first fragment, and waits */
    size_t n;
    char *data = fl_test_read_file(g_mkv, &n);
    size_t c1 = cluster_offset((uint8_t *)data, n, 0), c2 = cluster_offset((uint8_t *)data, n, 1);
    wsc_t c = {(const uint8_t *)data, n, 0, (c1 + c2) / 2, 0, 0, {0}};
    fl_buf_init(&c.acks, 0);
    struct lws_context *ctx = ws_connect(&s, &c, "live", (double)time(NULL));
    long long until = fl_test_now_ms() + 20000;
    while (c.off < c.limit && fl_test_now_ms() < until)
        lws_service(ctx, 20);
    until = fl_test_now_ms() + 1000;
    while (fl_test_now_ms() < until)
        lws_service(ctx, 20);

    /* the fragment is not complete, yet the reader has its frames */
    fl_buf_u8(&c.acks, 0);
    ck_assert_msg(strstr((char *)c.acks.p, "BUFFERING") != NULL, "acks: %s", (char *)c.acks.p);
    ck_assert_ptr_null(strstr((char *)c.acks.p, "RECEIVED"));
    c.acks.n--;
    size_t got;
    char *sofar = fl_test_read_file(out, &got);
    ck_assert_ptr_nonnull(memmem(sofar, got, "\x1f\x43\xb6\x75", 4));
    ck_assert_msg(got > (c.limit - c1) / 2, "reader has %zu bytes of ~%zu sent", got, c.limit - c1);
    free(sofar);

    /* a stream in use cannot be deleted */
    char *body = NULL;
    ck_assert_int_eq(post_json(&s, "/describeStream", "{\"StreamName\":\"live\"}", &body), 0);
    char *arn = strstr(body, "arn:aws:kinesisvideo");
    ck_assert_ptr_nonnull(arn);
    arn[strcspn(arn, "\"")] = 0;
    char del[1300], *dout = NULL;
    snprintf(del, sizeof del, "{\"StreamARN\":\"%s\"}", arn);
    free(body);
    ck_assert_int_eq(post_json(&s, "/deleteStream", del, &dout), 0);
    ck_assert_msg(strstr(dout, "has producers or readers connected") != NULL, "%s", dout);
    free(dout);

    /* a reader from EARLIEST while the first fragment is still open: the
     * archive is empty, so it joins the tail at that fragment (and does not
     * spin between storage and the tail) */
    char early[4300];
    snprintf(early, sizeof early, "%s/early.mkv", g_dir);
    char *get2[] = {"curl",
                    "-sS",
                    "-N",
                    "--max-time",
                    "2",
                    "-o",
                    early,
                    "--data-binary",
                    "{\"StreamName\":\"live\",\"StartSelector\":{\"StartSelectorType\":"
                    "\"EARLIEST\"}}",
                    url,
                    NULL};
    fl_test_proc_t early_reader;
    ck_assert_int_eq(fl_test_spawn(&early_reader, get2, NULL), 0);
    until = fl_test_now_ms() + 2500;
    while (fl_test_now_ms() < until)
        lws_service(ctx, 20); /* keep the producer's connection served */
    fl_test_wait(&early_reader, 5000);
    fl_test_proc_free(&early_reader);
    size_t early_n;
    char *early_data = fl_test_read_file(early, &early_n);
    ck_assert_ptr_nonnull(early_data);
    ck_assert_msg(memmem(early_data, early_n, "\x1f\x43\xb6\x75", 4) != NULL,
                  "the EARLIEST reader got %zu bytes and no Cluster", early_n);
    free(early_data);

    /* the rest; then the reader, which followed live, has every frame */
    c.limit = c.n;
    lws_callback_on_writable_all_protocol(ctx, &ws_protos[0]);
    until = fl_test_now_ms() + 30000;
    while (!c.closed && fl_test_now_ms() < until)
        lws_service(ctx, 20);
    lws_context_destroy(ctx);
    fl_buf_u8(&c.acks, 0);
    check_ack_order((char *)c.acks.p, 3);
    fl_buf_free(&c.acks);
    ck_assert_int_ne(fl_test_wait(&reader, 30000), -1); /* ends once the producer is gone */
    fl_test_proc_free(&reader);
    char *pin = probe(g_mkv), *pout = probe(out);
    int a = 0, b = 0;
    for (char *x = pin; *x; x++)
        a += *x == '\n';
    for (char *x = pout; *x; x++)
        b += *x == '\n';
    ck_assert_int_eq(a, b);
    free(pin);
    free(pout);
    free(data);
    fl_test_server_free(&s);
    fl_test_rmtree(g_dir);
}
END_TEST

/* A producer that sends its header and then nothing gets an IDLE ack about
 * every 3 s (from the server's housekeeping tick, not a timer per
 * connection), then the usual acks once it goes on; /metrics shows the
 * tick's lag histogram. */
START_TEST(quiet_producer_gets_idle_acks)
{
    make_media();
    fl_test_server_t s;
    fl_test_server_start(&s, NULL, NULL);
    create_stream(&s, "quiet");
    size_t n;
    char *data = fl_test_read_file(g_mkv, &n);
    size_t c1 = cluster_offset((uint8_t *)data, n, 0);
    wsc_t c = {(const uint8_t *)data, n, 0, c1, 0, 0, {0}};
    fl_buf_init(&c.acks, 0);
    struct lws_context *ctx = ws_connect(&s, &c, "quiet", (double)time(NULL));
    long long t0 = fl_test_now_ms(), idle_at = 0;
    while (!c.closed && !idle_at && fl_test_now_ms() < t0 + 6000) {
        lws_service(ctx, 50);
        fl_buf_u8(&c.acks, 0);
        c.acks.n--;
        if (strstr((char *)c.acks.p, "\"IDLE\""))
            idle_at = fl_test_now_ms();
    }
    ck_assert_msg(idle_at, "no IDLE ack within 6 s: %.*s", (int)c.acks.n, (char *)c.acks.p);
    /* due 3 s after the session began (the tick runs every 100 ms) */
    ck_assert_int_ge(idle_at - t0, 2900);
    ck_assert_int_le(idle_at - t0, 4500);
    ck_assert_ptr_null(strstr((char *)c.acks.p, "BUFFERING"));
    /* the rest of the stream: acked as usual */
    c.limit = n;
    lws_callback_on_writable_all_protocol(ctx, &ws_protos[0]);
    long long deadline = fl_test_now_ms() + 60000;
    while (!c.closed && fl_test_now_ms() < deadline)
        lws_service(ctx, 50);
    lws_context_destroy(ctx);
    fl_buf_u8(&c.acks, 0);
    const char *after = strstr((char *)c.acks.p, "\"IDLE\"");
    ck_assert_int_eq(count_acks(after, "PERSISTED"), 3);
    char url[300];
    snprintf(url, sizeof url, "%s/metrics", s.url);
    char *argv[] = {"curl", "-sS", url, NULL};
    char *m = NULL;
    ck_assert_int_eq(fl_test_run(argv, 30000, &m, NULL), 0);
    ck_assert_msg(fl_test_metric(m, "framelog_event_loop_lag_ms_count") >= 30, "%s", m);
    ck_assert(fl_test_metric(m, "framelog_event_loop_lag_ms_bucket{le=\"+Inf\"}") ==
              fl_test_metric(m, "framelog_event_loop_lag_ms_count"));
    free(m);
    fl_buf_free(&c.acks);
    free(data);
    fl_test_server_free(&s);
    fl_test_rmtree(g_dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("api_media");
    TCase *tc = tcase_create("put_get");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, put_then_get_gives_the_same_frames);
    tcase_add_test(tc, bad_input_gets_errors_and_the_stream_keeps_working);
    tcase_add_test(tc, persisted_fragments_survive_kill_9);
    tcase_add_test(tc, websocket_put_then_get);
    tcase_add_test(tc, live_reader_gets_frames_before_the_fragment_completes);
    tcase_add_test(tc, quiet_producer_gets_idle_acks);
    suite_add_tcase(s, tc);
    return fl_test_main(s);
}
