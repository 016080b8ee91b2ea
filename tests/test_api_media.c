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
#include "harness.h"

static char *g_dir;      /* test media, made in each test (Check forks each) */
static char g_mkv[4200]; /* 6 s H.264 + AAC, a key frame every 2 s */

static void make_media(void)
{
    if (g_dir)
        return;
    g_dir = fl_test_mkdtemp("media");
    snprintf(g_mkv, sizeof g_mkv, "%s/in.mkv", g_dir);
    char *ff[] = {"ffmpeg",
                  "-hide_banner",
                  "-loglevel",
                  "error",
                  "-f",
                  "lavfi",
                  "-i",
                  "testsrc=size=320x240:rate=30",
                  "-f",
                  "lavfi",
                  "-i",
                  "sine=frequency=440",
                  "-t",
                  "6",
                  "-c:v",
                  "libx264",
                  "-g",
                  "60",
                  "-keyint_min",
                  "60",
                  "-sc_threshold",
                  "0",
                  "-pix_fmt",
                  "yuv420p",
                  "-c:a",
                  "aac",
                  "-cluster_time_limit",
                  "10000",
                  "-f",
                  "matroska",
                  g_mkv,
                  NULL};
    ck_assert_int_eq(fl_test_run(ff, 120000, NULL, NULL), 0);
}

static int post_json(const fl_test_server_t *s, const char *path, const char *json, char **out)
{
    char url[256];
    snprintf(url, sizeof url, "%s%s", s->url, path);
    char *argv[] = {
        "curl",          "-sS",        "--max-time", "60", "-H", "Content-Type: application/json",
        "--data-binary", (char *)json, url,          NULL};
    return fl_test_run(argv, 90000, out, NULL);
}

static void create_stream(const fl_test_server_t *s, const char *name)
{
    char body[512], *out = NULL;
    snprintf(body, sizeof body, "{\"StreamName\":\"%s\",\"DataRetentionInHours\":24}", name);
    ck_assert_int_eq(post_json(s, "/createStream", body, &out), 0);
    ck_assert_msg(strstr(out, "StreamARN") != NULL, "%s", out);
    free(out);
}

/* curl a file to /putMedia as a chunked body; the ack stream into *acks. */
static int put_media(const fl_test_server_t *s, const char *stream, const char *file,
                     double start_ts, char **acks, char **err)
{
    char url[256], h_name[300], h_start[100];
    snprintf(url, sizeof url, "%s/putMedia", s->url);
    snprintf(h_name, sizeof h_name, "x-amzn-stream-name: %s", stream);
    snprintf(h_start, sizeof h_start, "x-amzn-producer-start-timestamp: %.3f", start_ts);
    char data[4300];
    snprintf(data, sizeof data, "@%s", file);
    char *argv[] = {"curl",
                    "-sS",
                    "-N",
                    "--max-time",
                    "60",
                    "-H",
                    h_name,
                    "-H",
                    "x-amzn-fragment-timecode-type: RELATIVE",
                    "-H",
                    h_start,
                    "-H",
                    "x-amzn-fragment-acknowledgment-required: 1",
                    "-H",
                    "Transfer-Encoding: chunked",
                    "-H",
                    "Expect: 100-continue",
                    "-H",
                    "Content-Type: application/octet-stream",
                    "--data-binary",
                    data,
                    url,
                    NULL};
    return fl_test_run(argv, 90000, acks, err);
}

/* Count lines of acks with an EventType. */
static int count_acks(const char *acks, const char *type)
{
    char needle[64];
    snprintf(needle, sizeof needle, "\"EventType\":\"%s\"", type);
    int n = 0;
    for (const char *p = acks; (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

/* Every fragment gets BUFFERING, RECEIVED, PERSISTED in that order. */
static void check_ack_order(const char *acks, int fragments)
{
    ck_assert_int_eq(count_acks(acks, "BUFFERING"), fragments);
    ck_assert_int_eq(count_acks(acks, "RECEIVED"), fragments);
    ck_assert_int_eq(count_acks(acks, "PERSISTED"), fragments);
    ck_assert_int_eq(count_acks(acks, "ERROR"), 0);
    /* per fragment number: the three events in order */
    const char *p = acks;
    char prev_number[64] = "";
    while ((p = strstr(p, "\"EventType\":\"BUFFERING\"")) != NULL) {
        const char *num = strstr(p, "\"FragmentNumber\":\"");
        ck_assert_ptr_nonnull(num);
        num += strlen("\"FragmentNumber\":\"");
        char number[64];
        size_t n = strcspn(num, "\"");
        ck_assert_uint_lt(n, sizeof number);
        memcpy(number, num, n);
        number[n] = 0;
        /* numbers grow */
        ck_assert(strlen(number) > strlen(prev_number) ||
                  (strlen(number) == strlen(prev_number) && strcmp(number, prev_number) > 0));
        snprintf(prev_number, sizeof prev_number, "%s", number);
        char rec[160], per[160];
        snprintf(rec, sizeof rec, "\"EventType\":\"RECEIVED\",\"FragmentTimecode\"");
        const char *r = strstr(p, rec);
        ck_assert_ptr_nonnull(r);
        snprintf(per, sizeof per, "\"FragmentNumber\":\"%s\"}", number);
        /* the PERSISTED for this number comes after its RECEIVED */
        const char *q = r, *persisted = NULL;
        while ((q = strstr(q, "\"EventType\":\"PERSISTED\"")) != NULL) {
            const char *eol = strchr(q, '\n');
            if (eol && memmem(q, (size_t)(eol - q), per, strlen(per))) {
                persisted = q;
                break;
            }
            q++;
        }
        ck_assert_msg(persisted != NULL, "no PERSISTED after RECEIVED for %s:\n%s", number, acks);
        p++;
    }
}

/* ffprobe packets as "codec_type,pts_time,flags" lines. */
static char *probe(const char *file)
{
    char *argv[] = {
        "ffprobe", "-v",         "error", "-show_entries", "packet=codec_type,pts,flags", "-of",
        "csv=p=0", (char *)file, NULL};
    char *out = NULL;
    ck_assert_int_eq(fl_test_run(argv, 60000, &out, NULL), 0);
    return out;
}

/* Same packets: same count, types and key flags, and pts shifted by
 * shift_ms exactly (output is absolute, input relative). */
static void same_packets(const char *in, const char *out, long long shift_ms)
{
    int n = 0;
    const char *a = in, *b = out;
    while (*a && *b) {
        char ta[16], tb[16], fa[8], fb[8];
        long long pa, pb;
        ck_assert_int_eq(sscanf(a, "%15[^,],%lld,%7s", ta, &pa, fa), 3);
        ck_assert_int_eq(sscanf(b, "%15[^,],%lld,%7s", tb, &pb, fb), 3);
        ck_assert_str_eq(ta, tb);
        ck_assert_msg(pb - pa == shift_ms, "packet %d: %lld vs %lld (shift %lld)", n, pa, pb,
                      shift_ms);
        ck_assert_int_eq(fa[0] == 'K', fb[0] == 'K');
        a = strchr(a, '\n');
        b = strchr(b, '\n');
        ck_assert((a == NULL) == (b == NULL));
        if (!a)
            break;
        a++;
        b++;
        n++;
    }
    ck_assert_msg(*a == 0 && *b == 0, "packet counts differ");
    ck_assert_int_gt(n, 200); /* 6 s of 30 fps video and audio */
}

static int count_in_file(const char *path, const char *needle)
{
    size_t n;
    char *d = fl_test_read_file(path, &n);
    int count = 0;
    for (const char *p = d; p && (p = memmem(p, n - (size_t)(p - d), needle, strlen(needle))); p++)
        count++;
    free(d);
    return count;
}

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
    char out1[4300], url[256];
    snprintf(out1, sizeof out1, "%s/out-curl.mkv", g_dir);
    snprintf(url, sizeof url, "%s/getMedia", s.url);
    char *get[] = {
        "curl",
        "-sS",
        "--max-time",
        "60",
        "-o",
        out1,
        "-H",
        "Content-Type: application/json",
        "--data-binary",
        "{\"StreamName\":\"cam\",\"StartSelector\":{\"StartSelectorType\":\"EARLIEST\"}}",
        url,
        NULL};
    ck_assert_int_eq(fl_test_run(get, 90000, NULL, NULL), 0);
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
    char *env[] = {"AWS_ACCESS_KEY_ID=AKIDTEST", "AWS_SECRET_ACCESS_KEY=secret",
                   "AWS_DEFAULT_REGION=us-east-1", "AWS_EC2_METADATA_DISABLED=true", NULL};
    char *cli[] = {"aws",
                   "kinesis-video-media",
                   "get-media",
                   "--stream-name",
                   "cam",
                   "--start-selector",
                   "StartSelectorType=EARLIEST",
                   out2,
                   "--endpoint-url",
                   s.url,
                   NULL};
    fl_test_proc_t p;
    ck_assert_int_eq(fl_test_spawn(&p, cli, env), 0);
    int st = fl_test_wait(&p, 90000);
    char *cerr = fl_test_proc_stderr(&p);
    ck_assert_msg(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "aws: %s", cerr);
    free(cerr);
    fl_test_proc_free(&p);
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

    /* decreasing timecodes: a producer going back in time gets 4004 */
    ck_assert_int_eq(put_media(&s, "cam2", g_mkv, start, &acks, &err), 0);
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
    char out1[4300], url[256];
    snprintf(out1, sizeof out1, "%s/after.mkv", g_dir);
    snprintf(url, sizeof url, "%s/getMedia", s.url);
    char *get[] = {"curl",
                   "-sS",
                   "--max-time",
                   "60",
                   "-o",
                   out1,
                   "--data-binary",
                   "{\"StreamName\":\"k\",\"StartSelector\":{\"StartSelectorType\":\"EARLIEST\"}}",
                   url,
                   NULL};
    ck_assert_int_eq(fl_test_run(get, 90000, NULL, NULL), 0);
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
    int ended;  /* the end-of-stream text message went out */
    int closed; /* the server closed, or the connection failed */
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
        if (c->off < c->n) {
            size_t k = c->n - c->off < 16384 ? c->n - c->off : 16384;
            memcpy(buf + LWS_PRE, c->data + c->off, k);
            if (lws_write(wsi, buf + LWS_PRE, k, LWS_WRITE_BINARY) < (int)k)
                return -1;
            c->off += k;
            lws_callback_on_writable(wsi);
        } else if (!c->ended) {
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

static char *ws_put_media(const fl_test_server_t *s, const char *stream, const char *file,
                          double start_ts)
{
    size_t n;
    char *data = fl_test_read_file(file, &n);
    ck_assert_ptr_nonnull(data);
    wsc_t c = {(const uint8_t *)data, n, 0, 0, 0, {0}};
    fl_buf_init(&c.acks, 0);
    static const struct lws_protocols protos[] = {
        {"framelog-putmedia-v1", wsc_cb, 0, 0, 0, NULL, 0}, {NULL, NULL, 0, 0, 0, NULL, 0}};
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = protos;
    info.user = &c;
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
    char out1[4300], url[256];
    snprintf(out1, sizeof out1, "%s/ws-out.mkv", g_dir);
    snprintf(url, sizeof url, "%s/getMedia", s.url);
    char *get[] = {"curl",
                   "-sS",
                   "--max-time",
                   "60",
                   "-o",
                   out1,
                   "--data-binary",
                   "{\"StreamName\":\"wscam\",\"StartSelector\":{\"StartSelectorType\":"
                   "\"EARLIEST\"}}",
                   url,
                   NULL};
    ck_assert_int_eq(fl_test_run(get, 90000, NULL, NULL), 0);
    char *pin = probe(g_mkv), *pout = probe(out1);
    same_packets(pin, pout, (long long)start * 1000);
    free(pin);
    free(pout);
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
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
