/*
 * tests/test_api_clients.c — what AWS clients met on the control plane
 * (issue 12), from the client's side against the real framelogd: a
 * connection stays usable after an error response (a raw socket sends two
 * requests on one connection, as the JavaScript SDK's keep-alive agent
 * does).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/json.h"
#include "harness.h"

/* ---- a raw HTTP/1.1 connection ---- */

static int conn_open(const fl_test_server_t *s)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)s->port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    return fd;
}

static void conn_send(int fd, const char *req)
{
    size_t n = strlen(req), off = 0;
    while (off < n) {
        ssize_t w = send(fd, req + off, n - off, MSG_NOSIGNAL);
        ck_assert_msg(w > 0, "send failed: the server closed the connection");
        off += (size_t)w;
    }
}

typedef struct {
    int status;
    int closes; /* "Connection: close" among the headers */
    char head[4096];
    char body[4096];
} resp_t;

/* One response with a Content-Length body. Returns 0, or -1 when the
 * connection ended first (a safety deadline of 30 s guards a hang). */
static int conn_read(int fd, resp_t *r)
{
    char buf[8192];
    size_t n = 0;
    char *end = NULL;
    long want = -1;
    memset(r, 0, sizeof *r);
    for (;;) {
        buf[n] = 0;
        if (!end && (end = strstr(buf, "\r\n\r\n")) != NULL) {
            size_t hl = (size_t)(end - buf) + 4;
            snprintf(r->head, sizeof r->head, "%.*s", (int)hl, buf);
            const char *cl = strcasestr(r->head, "\ncontent-length:");
            ck_assert_msg(cl != NULL, "no content-length: %s", r->head);
            want = (long)hl + atol(cl + 16);
            r->status = atoi(buf + 9);
            r->closes = strcasestr(r->head, "\nconnection: close") != NULL;
        }
        if (end && (long)n >= want) {
            size_t hl = strlen(r->head);
            snprintf(r->body, sizeof r->body, "%.*s", (int)(n - hl), buf + hl);
            return 0;
        }
        struct pollfd p = {.fd = fd, .events = POLLIN};
        ck_assert_msg(poll(&p, 1, 30000) == 1, "no response within 30 s");
        ssize_t got = recv(fd, buf + n, sizeof buf - 1 - n, 0);
        if (got <= 0)
            return -1;
        n += (size_t)got;
        ck_assert(n < sizeof buf - 1);
    }
}

static void post_on(int fd, const char *path, const char *json)
{
    char req[2048];
    snprintf(req, sizeof req,
             "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
             "Content-Length: %zu\r\n\r\n%s",
             path, strlen(json), json);
    conn_send(fd, req);
}

START_TEST(error_responses_keep_the_connection_usable)
{
    fl_test_server_t s;
    fl_test_server_start(&s, NULL, NULL);
    int fd = conn_open(&s);
    resp_t r;

    /* an operation the server does not have, with a body (a 404) */
    post_on(fd, "/describeSignalingChannel", "{\"ChannelName\":\"c\"}");
    ck_assert_int_eq(conn_read(fd, &r), 0);
    ck_assert_int_eq(r.status, 404);
    ck_assert_msg(strstr(r.head, "UnknownOperationException") != NULL, "%s", r.head);
    ck_assert_msg(!r.closes, "%s", r.head);
    /* the same connection takes the next call */
    post_on(fd, "/listStreams", "{}");
    ck_assert_msg(conn_read(fd, &r) == 0, "the connection died after a 404");
    ck_assert_int_eq(r.status, 200);
    ck_assert_msg(strstr(r.body, "StreamInfoList") != NULL, "%s", r.body);

    /* a path the server has, under another method, with a body (a 405) */
    conn_send(fd, "PUT /listStreams HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n\r\n{}");
    ck_assert_int_eq(conn_read(fd, &r), 0);
    ck_assert_int_eq(r.status, 405);
    ck_assert(!r.closes);
    post_on(fd, "/listStreams", "{}");
    ck_assert_msg(conn_read(fd, &r) == 0, "the connection died after a 405");
    ck_assert_int_eq(r.status, 200);

    /* an API error after a body that was read (a 404 of a stream) */
    post_on(fd, "/describeStream", "{\"StreamName\":\"nope\"}");
    ck_assert_int_eq(conn_read(fd, &r), 0);
    ck_assert_int_eq(r.status, 404);
    ck_assert(!r.closes);
    post_on(fd, "/listStreams", "{}");
    ck_assert_int_eq(conn_read(fd, &r), 0);
    ck_assert_int_eq(r.status, 200);

    /* a body the server cannot skip (chunked, to an unknown path): the
     * answer says that the connection closes */
    conn_send(fd, "POST /nowhere HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                  "2\r\n{}\r\n0\r\n\r\n");
    ck_assert_int_eq(conn_read(fd, &r), 0);
    ck_assert_int_eq(r.status, 404);
    ck_assert_msg(r.closes, "%s", r.head);
    close(fd);
    fl_test_server_free(&s);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("api_clients");
    TCase *tc = tcase_create("clients");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, error_responses_keep_the_connection_usable);
    suite_add_tcase(s, tc);
    return fl_test_main(s);
}
