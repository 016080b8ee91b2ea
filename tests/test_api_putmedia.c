/*
 * tests/test_api_putmedia.c — PutMedia as AWS's C producers meet it, from
 * the client's side, byte for byte: a raw socket client sends the request
 * (Host without a port, a chunked Matroska body) and reads the response as
 * it comes off the wire. GetDataEndpoint keeps the port (or answers
 * --advertised-endpoint); acks come one per HTTP chunk; an ERROR names its
 * fragment, or none, and is the last ack; a body resumed without an EBML
 * header is told so in a way a producer can act on; a too-long stream name
 * is told it is too long; a resend of fragments whose first appends are in
 * flight is acked, not stored twice.
 *
 * Every wait is for progress (bytes, acks, the server closing), with a
 * generous socket timeout only so that a hang fails instead of blocking.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "common/bytes.h"
#include "harness.h"
#include "media/mkv_writer.h"

/* ---- a raw HTTP client ---- */

static int dial(const fl_test_server_t *s)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct timeval tv = {.tv_sec = 60};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s->port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    return fd;
}

static void send_all(int fd, const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n) {
        ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
        ck_assert_int_gt(w, 0);
        b += w;
        n -= (size_t)w;
    }
}

/* Read what comes until the server closes (or until the response holds
 * `until` count times, when until is not NULL). */
static void read_until(int fd, fl_buf_t *got, const char *until, int count)
{
    for (;;) {
        if (until) {
            int k = 0;
            fl_buf_u8(got, 0);
            got->n--;
            for (const char *p = (const char *)got->p; (p = strstr(p, until)); p++)
                k++;
            if (k >= count)
                return;
        }
        uint8_t buf[4096];
        ssize_t r = recv(fd, buf, sizeof buf, 0);
        ck_assert_msg(r >= 0, "the server sent nothing for 60 s");
        if (r == 0)
            break;
        fl_buf_append(got, buf, (size_t)r);
    }
    fl_buf_u8(got, 0);
    got->n--;
}

/* A whole request/response on a fresh connection; the response (status
 * line, headers, body) as a malloc'd string. */
static char *http(const fl_test_server_t *s, const char *req)
{
    int fd = dial(s);
    send_all(fd, req, strlen(req));
    fl_buf_t got;
    fl_buf_init(&got, 0);
    read_until(fd, &got, NULL, 0);
    close(fd);
    char *out = strndup((const char *)got.p, got.n);
    fl_buf_free(&got);
    return out;
}

static char *post(const fl_test_server_t *s, const char *host, const char *path, const char *json)
{
    char req[2048];
    snprintf(req, sizeof req,
             "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
             "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
             path, host, strlen(json), json);
    return http(s, req);
}

static void create(const fl_test_server_t *s, const char *name)
{
    char json[512];
    snprintf(json, sizeof json, "{\"StreamName\":\"%s\",\"DataRetentionInHours\":24}", name);
    char *r = post(s, "127.0.0.1", "/createStream", json);
    ck_assert_msg(strncmp(r, "HTTP/1.1 200", 12) == 0, "%s", r);
    free(r);
}

/* ---- Matroska as a producer sends it ---- */

static void mkv_header(fl_buf_t *b)
{
    fl_mkv_write_ebml_header(b, NULL);
    fl_mkv_write_segment_start(b);
    fl_mkv_info_t info = {0};
    info.muxing_app = fl_slice_str("test");
    info.writing_app = fl_slice_str("test");
    fl_mkv_write_info(b, &info);
    fl_mkv_track_t t;
    memset(&t, 0, sizeof t);
    t.number = 1;
    t.type = FL_MKV_TRACK_VIDEO;
    t.codec_id = fl_slice_str("V_MJPEG");
    t.pixel_width = 320;
    t.pixel_height = 240;
    fl_mkv_write_tracks(b, &t, 1);
}

/* A fragment at tc (epoch ms): 5 frames of `track`, 40 ms apart. */
static void mkv_cluster(fl_buf_t *b, uint64_t tc, uint64_t track)
{
    size_t mark;
    fl_mkv_write_cluster_begin(b, tc, &mark);
    uint8_t frame[200];
    for (int i = 0; i < 5; i++) {
        memset(frame, i + 1, sizeof frame);
        fl_mkv_write_simple_block(b, track, 40 * i, i == 0, fl_slice(frame, sizeof frame));
    }
    fl_mkv_write_cluster_end(b, mark);
}

/* The PutMedia request head as AWS's C producer sends it: Host without a
 * port, chunked, Expect: 100-continue. */
static void putmedia_head(int fd, const char *stream)
{
    char req[2048];
    snprintf(req, sizeof req,
             "POST /putMedia HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: */*\r\n"
             "x-amzn-stream-name: %s\r\nx-amzn-fragment-timecode-type: ABSOLUTE\r\n"
             "x-amzn-fragment-acknowledgment-required: 1\r\nConnection: keep-alive\r\n"
             "Content-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n"
             "Expect: 100-continue\r\n\r\n",
             stream);
    send_all(fd, req, strlen(req));
}

static void send_chunk(int fd, const fl_buf_t *b)
{
    char head[32];
    snprintf(head, sizeof head, "%zx\r\n", b->n);
    fl_buf_t c;
    fl_buf_init(&c, 0);
    fl_buf_append_str(&c, head);
    fl_buf_append(&c, b->p, b->n);
    fl_buf_append_str(&c, "\r\n");
    send_all(fd, c.p, c.n); /* one write: the server reads it at once */
    fl_buf_free(&c);
}

/* The acks of a chunked PutMedia response: each chunk's data as one
 * string, checked to be exactly one JSON object (and its newline). Fails
 * the test if the response is not chunked. Returns the count. */
static int ack_chunks(const char *resp, char acks[][400], int max)
{
    const char *body = strstr(resp, "\r\n\r\n");
    ck_assert_ptr_nonnull(body);
    /* skip a 100 Continue */
    if (strncmp(resp, "HTTP/1.1 100", 12) == 0) {
        resp = body + 4;
        body = strstr(resp, "\r\n\r\n");
        ck_assert_ptr_nonnull(body);
    }
    ck_assert_msg(strncmp(resp, "HTTP/1.1 200", 12) == 0, "%s", resp);
    char *head = strndup(resp, (size_t)(body - resp));
    ck_assert_msg(strcasestr(head, "\r\ntransfer-encoding: chunked") != NULL,
                  "the ack stream is not chunked: %s", head);
    free(head);
    const char *p = body + 4;
    int n = 0;
    for (;;) {
        char *end;
        unsigned long size = strtoul(p, &end, 16);
        ck_assert_msg(end != p && strncmp(end, "\r\n", 2) == 0, "bad chunk size at: %.40s", p);
        p = end + 2;
        if (size == 0)
            break;
        ck_assert_msg(strlen(p) >= size + 2 && strncmp(p + size, "\r\n", 2) == 0,
                      "chunk of %lu bytes cut: %s", size, p);
        ck_assert_int_lt(n, max);
        ck_assert_int_lt(size, 400);
        memcpy(acks[n], p, size);
        acks[n][size] = 0;
        /* one object per chunk */
        const char *o = acks[n];
        ck_assert_msg(o[0] == '{' && strchr(o + 1, '{') == NULL &&
                          strchr(o, '}') == o + strlen(o) - 2 && o[strlen(o) - 1] == '\n',
                      "chunk %d is not one ack: '%s'", n, o);
        n++;
        p += size + 2;
    }
    return n;
}

static int is_ack(const char *a, const char *type)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"EventType\":\"%s\"", type);
    return strstr(a, pat) != NULL;
}

/* "FragmentNumber":"…" of an ack into out ("" when absent). */
static void number_of(const char *a, char *out, size_t cap)
{
    out[0] = 0;
    const char *p = strstr(a, "\"FragmentNumber\":\"");
    if (!p)
        return;
    p += 18;
    size_t n = strcspn(p, "\"");
    snprintf(out, cap, "%.*s", (int)(n < cap ? n : cap - 1), p);
}

/* ---- GetDataEndpoint ---- */

START_TEST(get_data_endpoint_keeps_the_port)
{
    fl_test_server_t s;
    fl_test_server_start(&s, NULL, NULL);
    create(&s, "cam");
    const char *json = "{\"StreamName\":\"cam\",\"APIName\":\"PUT_MEDIA\"}";
    char want[128];
    snprintf(want, sizeof want, "\"DataEndpoint\":\"http://127.0.0.1:%d\"", s.port);
    /* as AWS's C producers sign and send it: no port */
    char *r = post(&s, "127.0.0.1", "/getDataEndpoint", json);
    ck_assert_msg(strstr(r, want) != NULL, "want %s in %s", want, r);
    free(r);
    /* with the port, the same */
    char host[64];
    snprintf(host, sizeof host, "127.0.0.1:%d", s.port);
    r = post(&s, host, "/getDataEndpoint", json);
    ck_assert_msg(strstr(r, want) != NULL, "want %s in %s", want, r);
    free(r);
    /* a name without a port */
    r = post(&s, "localhost", "/getDataEndpoint", json);
    snprintf(want, sizeof want, "\"DataEndpoint\":\"http://localhost:%d\"", s.port);
    ck_assert_msg(strstr(r, want) != NULL, "want %s in %s", want, r);
    free(r);
    fl_test_server_free(&s);

    /* behind a proxy: what it is told to advertise */
    char *extra[] = {"--advertised-endpoint", "https://video.example.com:8443", NULL};
    fl_test_server_start(&s, NULL, extra);
    create(&s, "cam");
    r = post(&s, "127.0.0.1", "/getDataEndpoint", json);
    ck_assert_msg(strstr(r, "\"DataEndpoint\":\"https://video.example.com:8443\"") != NULL, "%s",
                  r);
    free(r);
    fl_test_server_free(&s);

    /* a value that is not a URL is refused at start */
    char *bad[] = {FL_FRAMELOGD, "--advertised-endpoint", "video.example.com/x", NULL};
    char *err = NULL;
    int rc = fl_test_run(bad, 60000, NULL, &err);
    ck_assert_msg(rc != 0 && strstr(err, "--advertised-endpoint"), "rc %d: %s", rc, err);
    free(err);
}
END_TEST

/* ---- the ack stream ---- */

/* n fragments (mkv_cluster's), step_ms apart, sent to a new stream as one
 * chunk of a PutMedia body (their acks crowd): counts of each ack kind
 * (BUFFERING, RECEIVED, PERSISTED) into kinds; no ERROR. */
static void push_in_one_chunk(int n, uint64_t step_ms, int kinds[3])
{
    fl_test_server_t s;
    fl_test_server_start(&s, NULL, NULL);
    create(&s, "cam");
    uint64_t t0 = (uint64_t)time(NULL) * 1000;
    fl_buf_t b;
    fl_buf_init(&b, 0);
    mkv_header(&b);
    for (int i = 0; i < n; i++)
        mkv_cluster(&b, t0 + step_ms * (uint64_t)i, 1);
    int fd = dial(&s);
    putmedia_head(fd, "cam");
    send_chunk(fd, &b);
    send_all(fd, "0\r\n\r\n", 5);
    fl_buf_t got;
    fl_buf_init(&got, 0);
    read_until(fd, &got, NULL, 0);
    close(fd);
    char(*acks)[400] = malloc(sizeof(char[400]) * 4 * (size_t)n);
    ck_assert_ptr_nonnull(acks);
    int k = ack_chunks((const char *)got.p, acks, 4 * n);
    kinds[0] = kinds[1] = kinds[2] = 0;
    for (int i = 0; i < k; i++) {
        kinds[0] += is_ack(acks[i], "BUFFERING");
        kinds[1] += is_ack(acks[i], "RECEIVED");
        kinds[2] += is_ack(acks[i], "PERSISTED");
        ck_assert_msg(!is_ack(acks[i], "ERROR"), "%s", acks[i]);
    }
    free(acks);
    fl_buf_free(&got);
    fl_buf_free(&b);
    fl_test_server_free(&s);
}

START_TEST(acks_arrive_one_per_chunk)
{
    int kinds[3];
    push_in_one_chunk(3, 2000, kinds);
    ck_assert_msg(kinds[0] == 3 && kinds[1] == 3 && kinds[2] == 3,
                  "%d BUFFERING, %d RECEIVED, "
                  "%d PERSISTED of 3 fragments",
                  kinds[0], kinds[1], kinds[2]);
}
END_TEST

/* A producer that sends fragments much faster than real time (AWS's
 * producers replaying their buffer after a reconnect, or curl sending a
 * file of 100 ms fragments) gets every ack: 300 fragments in one piece.
 * (libwebsockets writes nothing to a connection whose reading is paused;
 * the acks waiting for that pause to end kept it from ending, and the
 * producer heard nothing after its first few fragments.) */
START_TEST(a_burst_of_short_fragments_gets_every_ack)
{
    enum { N = 300 };
    int kinds[3];
    push_in_one_chunk(N, 200, kinds);
    ck_assert_msg(kinds[0] == N && kinds[1] == N && kinds[2] == N,
                  "%d BUFFERING, %d RECEIVED, %d PERSISTED of %d fragments", kinds[0], kinds[1],
                  kinds[2], N);
}
END_TEST

/* PutMedia over HTTP/2 (nghttp, h2c) with Expect: 100-continue, as a
 * producer carrying its HTTP/1.1 habits may send it: the interim 100 is
 * not passed on and every fragment is acked (the stream used to be reset
 * on the 100). */
START_TEST(putmedia_over_h2_with_expect)
{
    ck_assert_msg(fl_test_have("nghttp"), "nghttp is missing (nghttp2-client, scripts/deps.sh)");
    fl_test_server_t s;
    fl_test_server_start(&s, NULL, NULL);
    create(&s, "cam2");
    uint64_t t0 = (uint64_t)time(NULL) * 1000;
    fl_buf_t b;
    fl_buf_init(&b, 0);
    mkv_header(&b);
    for (int i = 0; i < 3; i++)
        mkv_cluster(&b, t0 + 2000 * (uint64_t)i, 1);
    char *dir = fl_test_mkdtemp("h2put");
    char file[4200], url[128];
    snprintf(file, sizeof file, "%s/in.mkv", dir);
    ck_assert_int_eq(fl_test_write_file(file, b.p, b.n), 0);
    snprintf(url, sizeof url, "%s/putMedia", s.url);
    char *args[] = {"nghttp",
                    "-d",
                    file,
                    "-H",
                    "expect: 100-continue",
                    "-H",
                    "x-amzn-stream-name: cam2",
                    "-H",
                    "x-amzn-fragment-timecode-type: ABSOLUTE",
                    "-H",
                    "x-amzn-fragment-acknowledgment-required: 1",
                    "-H",
                    "content-type: application/octet-stream",
                    url,
                    NULL};
    char *out = NULL, *err = NULL;
    int rc = fl_test_run(args, 120000, &out, &err);
    ck_assert_msg(rc == 0, "nghttp (%d): %s %s", rc, out, err);
    int persisted = 0;
    for (const char *p = out; (p = strstr(p, "\"EventType\":\"PERSISTED\"")) != NULL; p++)
        persisted++;
    ck_assert_msg(persisted == 3, "%d PERSISTED of 3: %s %s", persisted, out, err);
    ck_assert_ptr_null(strstr(out, "\"ERROR\""));
    free(out);
    free(err);
    fl_buf_free(&b);
    fl_test_rmtree(dir);
    fl_test_server_free(&s);
}
END_TEST

/* ---- ERROR acks ---- */

START_TEST(an_error_names_its_fragment_and_is_the_last_ack)
{
    fl_test_server_t s;
    fl_test_server_start(&s, NULL, NULL);
    create(&s, "cam3");
    uint64_t t0 = (uint64_t)time(NULL) * 1000;
    fl_buf_t b;
    fl_buf_init(&b, 0);
    mkv_header(&b);
    mkv_cluster(&b, t0, 1);
    mkv_cluster(&b, t0 + 2000, 1);
    mkv_cluster(&b, t0 + 4000, 7); /* a frame of a track the Tracks do not declare: 4010 */
    mkv_cluster(&b, t0 + 6000, 1); /* never read */
    int fd = dial(&s);
    putmedia_head(fd, "cam3");
    send_chunk(fd, &b);
    /* the server ends the response after the ERROR, without the body's end */
    fl_buf_t got;
    fl_buf_init(&got, 0);
    read_until(fd, &got, NULL, 0);
    close(fd);
    char acks[32][400];
    int n = ack_chunks((const char *)got.p, acks, 32);
    ck_assert_int_ge(n, 1);
    const char *last = acks[n - 1];
    char want[96];
    snprintf(want, sizeof want, "\"FragmentTimecode\":%llu,", (unsigned long long)(t0 + 4000));
    ck_assert_msg(is_ack(last, "ERROR") && strstr(last, "\"ErrorId\":4010") && strstr(last, want) &&
                      strstr(last, "\"FragmentNumber\":\""),
                  "last ack: %s", last);
    /* its number is the one BUFFERING gave that fragment */
    char num[64], bnum[64] = "";
    number_of(last, num, sizeof num);
    int persisted = 0, errors = 0;
    for (int i = 0; i < n; i++) {
        if (is_ack(acks[i], "BUFFERING") && strstr(acks[i], want))
            number_of(acks[i], bnum, sizeof bnum);
        persisted += is_ack(acks[i], "PERSISTED");
        errors += is_ack(acks[i], "ERROR");
    }
    ck_assert_str_eq(num, bnum);
    /* the two fragments before it are acked PERSISTED, before the ERROR */
    ck_assert_int_eq(persisted, 2);
    ck_assert_int_eq(errors, 1);
    fl_buf_free(&got);

    /* the log line names the stream */
    char *log = fl_test_proc_stderr(&s.proc);
    ck_assert_msg(strstr(log, "putmedia cam3: fragment ") && strstr(log, "error 4010"), "%s", log);
    free(log);
    fl_buf_free(&b);
    fl_test_server_free(&s);
}
END_TEST

/* A producer that lost its acks when the server crashed resumes the body
 * in the middle of a fragment, with no EBML header. */
START_TEST(a_resumed_body_is_refused_about_no_fragment)
{
    fl_test_server_t s;
    fl_test_server_start(&s, NULL, NULL);
    create(&s, "cam4");
    uint64_t t0 = (uint64_t)time(NULL) * 1000;
    fl_buf_t full, b;
    fl_buf_init(&full, 0);
    fl_buf_init(&b, 0);
    mkv_header(&full);
    size_t head = full.n;
    mkv_cluster(&full, t0, 1);
    mkv_cluster(&full, t0 + 2000, 1);
    /* from the middle of the first cluster on */
    size_t from = head + (full.n - head) / 4;
    fl_buf_append(&b, full.p + from, full.n - from);
    int fd = dial(&s);
    putmedia_head(fd, "cam4");
    send_chunk(fd, &b);
    fl_buf_t got;
    fl_buf_init(&got, 0);
    read_until(fd, &got, NULL, 0);
    close(fd);
    char acks[32][400];
    int n = ack_chunks((const char *)got.p, acks, 32);
    ck_assert_int_eq(n, 1);
    /* ERROR 4006 about no fragment: no FragmentTimecode (not 0, a time a
     * producer would look up), no FragmentNumber */
    ck_assert_msg(is_ack(acks[0], "ERROR") && strstr(acks[0], "\"ErrorId\":4006") &&
                      !strstr(acks[0], "FragmentTimecode") && !strstr(acks[0], "FragmentNumber"),
                  "%s", acks[0]);
    fl_buf_free(&got);
    char *log = fl_test_proc_stderr(&s.proc);
    ck_assert_msg(strstr(log, "putmedia cam4: ") != NULL, "%s", log);
    free(log);

    /* the producer starts again at a fragment with a new EBML header: fine */
    fd = dial(&s);
    putmedia_head(fd, "cam4");
    send_chunk(fd, &full);
    send_all(fd, "0\r\n\r\n", 5);
    fl_buf_init(&got, 0);
    read_until(fd, &got, NULL, 0);
    close(fd);
    n = ack_chunks((const char *)got.p, acks, 32);
    int persisted = 0;
    for (int i = 0; i < n; i++) {
        persisted += is_ack(acks[i], "PERSISTED");
        ck_assert_msg(!is_ack(acks[i], "ERROR"), "%s", acks[i]);
    }
    ck_assert_int_eq(persisted, 2);
    fl_buf_free(&got);
    fl_buf_free(&full);
    fl_buf_free(&b);
    fl_test_server_free(&s);
}
END_TEST

/* ---- names ---- */

START_TEST(a_long_stream_name_is_told_it_is_too_long)
{
    fl_test_server_t s;
    fl_test_server_start(&s, NULL, NULL);
    char name[301];
    memset(name, 'a', 300);
    name[300] = 0;
    /* HTTP PutMedia */
    int fd = dial(&s);
    putmedia_head(fd, name);
    fl_buf_t got;
    fl_buf_init(&got, 0);
    read_until(fd, &got, "long", 1);
    close(fd);
    const char *r = (const char *)got.p;
    ck_assert_msg(strstr(r, "HTTP/1.1 400") && strstr(r, "InvalidArgumentException") &&
                      strstr(r, "longer than 256") && !strstr(r, "required"),
                  "%s", r);
    fl_buf_free(&got);

    /* the WebSocket: the close frame says why */
    char req[2048];
    snprintf(req, sizeof req,
             "GET /putMedia HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
             "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
             "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: framelog-putmedia-v1\r\n"
             "x-amzn-stream-name: %s\r\n\r\n",
             name);
    fd = dial(&s);
    send_all(fd, req, strlen(req));
    fl_buf_init(&got, 0);
    read_until(fd, &got, NULL, 0);
    close(fd);
    /* the close frame's reason is text after binary bytes: search all */
    int found = 0, required = 0;
    for (size_t i = 0; i + 15 <= got.n; i++) {
        found |= memcmp(got.p + i, "longer than 256", 15) == 0;
        required |= memcmp(got.p + i, "required", 8) == 0;
    }
    ck_assert_msg(found && !required, "%.*s", (int)got.n, (const char *)got.p);
    fl_buf_free(&got);
    fl_test_server_free(&s);
}
END_TEST

/* ---- resends ---- */

static double metric(const fl_test_server_t *s, const char *series)
{
    char *r = http(s, "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    double v = fl_test_metric(r, series);
    free(r);
    return v;
}

START_TEST(a_resend_while_the_first_appends_are_in_flight)
{
    fl_test_server_t s;
    fl_test_server_start(&s, NULL, NULL);
    create(&s, "cam5");
    uint64_t t0 = (uint64_t)time(NULL) * 1000;
    fl_buf_t b;
    fl_buf_init(&b, 0);
    mkv_header(&b);
    for (int i = 0; i < 4; i++)
        mkv_cluster(&b, t0 + 2000 * (uint64_t)i, 1);
    /* the first connection: four fragments, and then nothing (the
     * producer's network stalls) */
    int a = dial(&s);
    putmedia_head(a, "cam5");
    send_chunk(a, &b);
    fl_buf_t ga;
    fl_buf_init(&ga, 0);
    /* as soon as the server has the last of them (it appends it right after
     * RECEIVED), the producer reconnects and sends all four again */
    read_until(a, &ga, "RECEIVED", 4);
    int c = dial(&s);
    putmedia_head(c, "cam5");
    send_chunk(c, &b);
    send_all(c, "0\r\n\r\n", 5);
    fl_buf_t gc;
    fl_buf_init(&gc, 0);
    read_until(c, &gc, NULL, 0);
    close(c);
    read_until(a, &ga, NULL, 0); /* the newer producer ended it */
    close(a);

    /* the first connection's numbers, from its BUFFERING acks */
    char first[4][64];
    int k = 0;
    for (const char *p = (const char *)ga.p;
         (p = strstr(p, "\"EventType\":\"BUFFERING\"")) && k < 4; p++) {
        const char *e = strchr(p, '}');
        char one[400];
        snprintf(one, sizeof one, "%.*s", (int)(e - p), p);
        number_of(one, first[k++], sizeof first[0]);
    }
    ck_assert_int_eq(k, 4);
    /* the resend: every fragment acked BUFFERING, RECEIVED, PERSISTED with
     * the number it was stored under */
    char acks[32][400];
    int n = ack_chunks((const char *)gc.p, acks, 32);
    ck_assert_msg(n == 12, "%d acks: %s", n, (const char *)gc.p);
    /* per fragment in this order (a PERSISTED may come after the next
     * fragment's BUFFERING: it waits for the first append) */
    static const char *order[] = {"BUFFERING", "RECEIVED", "PERSISTED"};
    int next[4] = {0};
    for (int i = 0; i < 12; i++) {
        char num[64];
        number_of(acks[i], num, sizeof num);
        int f = -1;
        for (int j = 0; j < 4; j++)
            if (strcmp(num, first[j]) == 0)
                f = j;
        ck_assert_msg(f >= 0, "ack %d names no fragment of the first connection: %s", i, acks[i]);
        ck_assert_msg(next[f] < 3 && is_ack(acks[i], order[next[f]]), "ack %d: %s", i, acks[i]);
        next[f]++;
    }
    /* stored once */
    ck_assert(metric(&s, "framelog_ingest_fragments_total") == 4);
    ck_assert(metric(&s, "framelog_ingest_fragments_resent_total") == 4);
    fl_buf_free(&ga);
    fl_buf_free(&gc);
    fl_buf_free(&b);
    fl_test_server_free(&s);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("api_putmedia");
    TCase *t = tcase_create("endpoint");
    tcase_add_test(t, get_data_endpoint_keeps_the_port);
    suite_add_tcase(s, t);
    t = tcase_create("acks");
    tcase_add_test(t, acks_arrive_one_per_chunk);
    tcase_add_test(t, a_burst_of_short_fragments_gets_every_ack);
    tcase_add_test(t, putmedia_over_h2_with_expect);
    tcase_add_test(t, an_error_names_its_fragment_and_is_the_last_ack);
    tcase_add_test(t, a_resumed_body_is_refused_about_no_fragment);
    suite_add_tcase(s, t);
    t = tcase_create("names");
    tcase_add_test(t, a_long_stream_name_is_told_it_is_too_long);
    suite_add_tcase(s, t);
    t = tcase_create("resends");
    tcase_add_test(t, a_resend_while_the_first_appends_are_in_flight);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return fl_test_main(suite());
}
