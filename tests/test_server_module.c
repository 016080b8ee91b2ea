/*
 * tests/test_server_module.c — the seam features plug into
 * (server/core/module.h), exercised by a feature the core has never heard
 * of: the example module of docs/ARCHITECTURE.md (a route, a tick and a
 * metric in one struct), plus routes by prefix and by X-Amz-Target at `/`
 * with JSON 1.1 errors, and an access check that denies. The server runs
 * in-process on a free loopback port, the clients are raw sockets.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/error.h"
#include "harness.h"
#include "server/core/module.h"
#include "server/core/server.h"
#include "server/video/stream_ref.h"
#include "server/video/video.h"

/* ---- the example module, as docs/ARCHITECTURE.md shows it ---- */

typedef struct {
    _Atomic unsigned long ticks;
    unsigned long hellos;
} hello_t;

static int hello_init(struct fl_server *s, void **state, char *err, size_t errlen)
{
    (void)s;
    (void)err;
    (void)errlen;
    *state = calloc(1, sizeof(hello_t));
    return *state ? 0 : FL_ENOMEM;
}

static void hello_fini(void *state)
{
    free(state);
}

static void hello_get(fl_http_req_t *r)
{
    hello_t *h = r->mod;
    h->hellos++;
    fl_http_respond(r, 200, "text/plain", fl_slice_str("hello\n"));
}

static void hello_tick(void *state)
{
    ((hello_t *)state)->ticks++;
}

static void hello_metrics(void *state, fl_buf_t *out)
{
    fl_metrics_render_counter(out, "framelog_hello_total", "Hellos said.",
                              ((hello_t *)state)->hellos);
}

static const fl_route_t hello_routes[] = {
    {.method = FL_HTTP_GET, .path = "/hello", .name = "Hello", .handler = hello_get},
    {.path = NULL},
};

static const fl_module_t hello_module = {
    .name = "hello",
    .init = hello_init,
    .fini = hello_fini,
    .routes = hello_routes,
    .tick = hello_tick,
    .metrics = hello_metrics,
};

/* ---- routes of every kind, and an access check ---- */

static void say(fl_http_req_t *r, const char *what)
{
    fl_http_respond(r, 200, "text/plain", fl_slice_str(what));
}
static void h_prefix(fl_http_req_t *r)
{
    say(r, "prefix\n");
}
static void h_longer_prefix(fl_http_req_t *r)
{
    say(r, "longer prefix\n");
}
static void h_exact(fl_http_req_t *r)
{
    say(r, "exact\n");
}
static void h_put_record(fl_http_req_t *r)
{
    say(r, "PutRecord\n");
}
static void h_refuse(fl_http_req_t *r)
{
    fl_http_respond_error(r, 400, "ResourceNotFoundException", "no stream here");
}

/* GET /stream?name=...: a feature reaching a stream through the one seam */
static void h_stream(fl_http_req_t *r)
{
    char name[300] = "";
    const char *v = lws_get_urlarg_by_name(r->wsi, "name=", name, sizeof name);
    fl_stream_want_t want = {.name = v,
                             .action = "example:Read",
                             .who = &r->who,
                             .name_field = "name",
                             .arn_field = "arn"};
    fl_stream_ref_t ref;
    fl_api_error_t err;
    if (fl_stream_get(fl_video_of(r->srv), &want, &ref, &err) != 0) {
        fl_http_respond_api_error(r, &err);
        return;
    }
    fl_stream_put(&ref);
    say(r, "got it\n");
}

static const fl_route_t kinds_routes[] = {
    {.method = FL_HTTP_GET,
     .path = "/p/",
     .match = FL_MATCH_PREFIX,
     .name = "P",
     .handler = h_prefix},
    {.method = FL_HTTP_GET,
     .path = "/p/deeper/",
     .match = FL_MATCH_PREFIX,
     .name = "P2",
     .handler = h_longer_prefix},
    {.method = FL_HTTP_GET, .path = "/p/exact", .name = "E", .handler = h_exact},
    {.method = FL_HTTP_POST,
     .path = "/",
     .target = "Kinesis_20131202.PutRecord",
     .name = "PutRecord",
     .handler = h_put_record,
     .flags = FL_ROUTE_AWS | FL_ROUTE_JSON11},
    {.method = FL_HTTP_POST,
     .path = "/",
     .target = "Kinesis_20131202.DescribeStream",
     .name = "DescribeStream",
     .handler = h_refuse,
     .flags = FL_ROUTE_AWS | FL_ROUTE_JSON11},
    {.method = FL_HTTP_GET, .path = "/stream", .name = "Stream", .handler = h_stream},
    {.method = FL_HTTP_GET,
     .path = "/signed-stream",
     .name = "SignedStream",
     .handler = h_stream,
     .flags = FL_ROUTE_AWS},
    {.path = NULL},
};

/* deny "example:Read" to the key "AKIDDENIED" */
static int kinds_access(void *state, const fl_principal_t *who, const char *action,
                        const char *resource, const char **why)
{
    (void)state;
    (void)resource;
    if (who->has_key && strcmp(who->access_key, "AKIDDENIED") == 0 &&
        strcmp(action, "example:Read") == 0) {
        *why = "denied by the test's policy";
        return -EACCES;
    }
    return 0;
}

static const fl_module_t kinds_module = {
    .name = "kinds",
    .routes = kinds_routes,
    .access = kinds_access,
};

/* ---- the server, in-process ---- */

typedef struct {
    fl_config_t cfg;
    fl_server_t *srv;
    pthread_t thread;
    char *dir;
    int port;
} running_t;

static void *run_thread(void *arg)
{
    fl_server_run(((running_t *)arg)->srv);
    return NULL;
}

static void start(running_t *r)
{
    static const fl_module_t *const mods[] = {&fl_health_module, &fl_video_module, &hello_module,
                                              &kinds_module, NULL};
    char err[256];
    memset(r, 0, sizeof *r);
    r->dir = fl_test_mkdtemp("module");
    char dd[600];
    snprintf(dd, sizeof dd, "--data-dir=%s", r->dir);
    char *argv[] = {"framelogd", "--listen", "127.0.0.1:0", dd, "--log-level", "warn", NULL};
    ck_assert_int_eq(fl_config_parse(&r->cfg, 6, argv, stdout, err, sizeof err), 0);
    ck_assert_int_eq(fl_server_prepare_signals(), 0);
    int rc = fl_server_new(&r->cfg, mods, &r->srv, err, sizeof err);
    ck_assert_msg(rc == 0, "fl_server_new: %s", err);
    const char *url = fl_server_base_url(r->srv);
    const char *colon = strrchr(url, ':');
    ck_assert_ptr_nonnull(colon);
    r->port = atoi(colon + 1);
    ck_assert_int_eq(pthread_create(&r->thread, NULL, run_thread, r), 0);
}

static void stop(running_t *r)
{
    fl_server_stop(r->srv);
    pthread_join(r->thread, NULL);
    fl_server_free(r->srv);
    fl_config_free(&r->cfg);
    fl_test_rmtree(r->dir);
}

/* One request on a fresh connection; the whole response (the server ends
 * it with Content-Length, so read until the body is complete). */
static char *request(int port, const char *req)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(write(fd, req, strlen(req)), (ssize_t)strlen(req));
    size_t cap = 65536, n = 0;
    char *buf = calloc(1, cap);
    for (;;) {
        ssize_t k = read(fd, buf + n, cap - 1 - n);
        if (k <= 0)
            break;
        n += (size_t)k;
        buf[n] = 0;
        char *end = strstr(buf, "\r\n\r\n");
        char *cl = strcasestr(buf, "content-length:");
        if (end && cl && cl < end && n >= (size_t)(end + 4 - buf) + (size_t)atol(cl + 15))
            break;
    }
    close(fd);
    return buf;
}

static char *get(int port, const char *path)
{
    char req[512];
    snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", path);
    return request(port, req);
}

static char *post_target(int port, const char *target)
{
    char req[512];
    snprintf(req, sizeof req,
             "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Amz-Target: %s\r\n"
             "Content-Type: application/x-amz-json-1.1\r\nContent-Length: 2\r\n\r\n{}",
             target);
    return request(port, req);
}

START_TEST(a_module_adds_a_route_a_tick_and_a_metric)
{
    running_t r;
    start(&r);
    char *resp = get(r.port, "/hello");
    ck_assert_msg(strstr(resp, "200 OK") && strstr(resp, "hello\n"), "%s", resp);
    free(resp);
    /* the tick: progress, not time */
    hello_t *h = fl_server_state(r.srv, &hello_module);
    ck_assert_ptr_nonnull(h);
    while (atomic_load(&h->ticks) < 2)
        usleep(20000);
    resp = get(r.port, "/metrics");
    ck_assert_msg(fl_test_metric(resp, "framelog_hello_total") == 1, "%s", resp);
    ck_assert_msg(
        fl_test_metric(resp, "framelog_http_requests_total{route=\"Hello\",status=\"200\"}") == 1,
        "%s", resp);
    /* the video module's series are there too */
    ck_assert_msg(fl_test_metric(resp, "framelog_producers") == 0, "%s", resp);
    free(resp);
    stop(&r);
}
END_TEST

START_TEST(prefix_exact_and_target_routes)
{
    running_t r;
    start(&r);
    static const struct {
        const char *path, *want;
    } cases[] = {
        {"/p/x", "prefix\n"},
        {"/p/", "prefix\n"},
        {"/p/exact", "exact\n"},
        {"/p/exactly", "prefix\n"},
        {"/p/deeper/x", "longer prefix\n"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *resp = get(r.port, cases[i].path);
        ck_assert_msg(strstr(resp, "200 OK") && strstr(resp, cases[i].want), "%s: %s",
                      cases[i].path, resp);
        free(resp);
    }
    char *resp = get(r.port, "/q");
    ck_assert_msg(strstr(resp, "404") && strstr(resp, "UnknownOperationException"), "%s", resp);
    free(resp);

    resp = post_target(r.port, "Kinesis_20131202.PutRecord");
    ck_assert_msg(strstr(resp, "200 OK") && strstr(resp, "PutRecord\n"), "%s", resp);
    free(resp);
    /* JSON 1.1 errors: __type in an x-amz-json-1.1 body, no rest-json header */
    resp = post_target(r.port, "Kinesis_20131202.DescribeStream");
    ck_assert_msg(strstr(resp, "400") && strstr(resp, "\"__type\":\"ResourceNotFoundException\"") &&
                      strstr(resp, "application/x-amz-json-1.1") &&
                      !strcasestr(resp, "\nx-amzn-ErrorType:"),
                  "%s", resp);
    free(resp);
    /* a target no route names, at a path that exists under POST */
    resp = post_target(r.port, "Kinesis_20131202.Nope");
    ck_assert_msg(strstr(resp, "404"), "%s", resp);
    free(resp);
    /* the path exists, the method does not */
    resp = request(r.port, "DELETE /p/exact HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    ck_assert_msg(strstr(resp, "405"), "%s", resp);
    free(resp);
    stop(&r);
}
END_TEST

START_TEST(the_access_check_sits_in_the_stream_reference)
{
    running_t r;
    start(&r);
    /* a stream that does not exist: the reference says so */
    char *resp = get(r.port, "/stream?name=nope");
    ck_assert_msg(strstr(resp, "404") && strstr(resp, "stream nope not found"), "%s", resp);
    free(resp);
    /* create one (the video module's streams), then reach it with and
     * without the denied key */
    fl_stream_info_t in, out;
    memset(&in, 0, sizeof in);
    snprintf(in.name, sizeof in.name, "cam");
    in.retention_hours = 1;
    ck_assert_int_eq(fl_video_streams_create(fl_video_of(r.srv)->streams, &in, NULL, 0, &out), 0);
    resp = get(r.port, "/stream?name=cam");
    ck_assert_msg(strstr(resp, "200 OK") && strstr(resp, "got it"), "%s", resp);
    free(resp);
    static const char auth[] =
        "Authorization: AWS4-HMAC-SHA256 "
        "Credential=%s/20260101/us-east-1/kinesisvideo/aws4_request, "
        "SignedHeaders=host;x-amz-date, Signature="
        "0000000000000000000000000000000000000000000000000000000000000000\r\n";
    char req[1024], hdr[512];
    snprintf(hdr, sizeof hdr, auth, "AKIDDENIED");
    snprintf(req, sizeof req, "GET /signed-stream?name=cam HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\n",
             hdr);
    resp = request(r.port, req);
    ck_assert_msg(strstr(resp, "403") && strstr(resp, "AccessDeniedException") &&
                      strstr(resp, "denied by the test's policy"),
                  "%s", resp);
    free(resp);
    snprintf(hdr, sizeof hdr, auth, "AKIDALLOWED");
    snprintf(req, sizeof req, "GET /signed-stream?name=cam HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\n",
             hdr);
    resp = request(r.port, req);
    ck_assert_msg(strstr(resp, "200 OK"), "%s", resp);
    free(resp);
    /* the identity is read only on routes that ask for it (FL_ROUTE_AWS) */
    snprintf(hdr, sizeof hdr, auth, "AKIDDENIED");
    snprintf(req, sizeof req, "GET /stream?name=cam HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\n", hdr);
    resp = request(r.port, req);
    ck_assert_msg(strstr(resp, "200 OK"), "%s", resp);
    free(resp);
    stop(&r);
}
END_TEST

START_TEST(route_match_scores)
{
    int score = 0, found = 0;
    const fl_route_t *m = fl_route_match(kinds_routes, FL_HTTP_GET, "/p/exact", "", &score, &found);
    ck_assert_ptr_nonnull(m);
    ck_assert_str_eq(m->name, "E");
    m = fl_route_match(kinds_routes, FL_HTTP_HEAD, "/p/deeper/a", "", &score, &found);
    ck_assert_ptr_nonnull(m);
    ck_assert_str_eq(m->name, "P2");
    found = 0;
    m = fl_route_match(kinds_routes, FL_HTTP_DELETE, "/p/exact", "", &score, &found);
    ck_assert_ptr_null(m);
    ck_assert_int_eq(found, 1);
    m = fl_route_match(kinds_routes, FL_HTTP_POST, "/", "Kinesis_20131202.PutRecord", &score,
                       &found);
    ck_assert_ptr_nonnull(m);
    ck_assert_str_eq(m->name, "PutRecord");
    m = fl_route_match(kinds_routes, FL_HTTP_POST, "/", "", &score, &found);
    ck_assert_ptr_null(m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("server_module");
    TCase *tc = tcase_create("module");
    tcase_add_test(tc, a_module_adds_a_route_a_tick_and_a_metric);
    tcase_add_test(tc, prefix_exact_and_target_routes);
    tcase_add_test(tc, the_access_check_sits_in_the_stream_reference);
    tcase_add_test(tc, route_match_scores);
    suite_add_tcase(s, tc);
    return fl_test_main(s);
}
