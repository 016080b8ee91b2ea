/*
 * tests/test_server_limits.c — the limits that keep one client from hurting
 * the others (docs/security.md, "Limits" and "TLS"), against the real
 * framelogd with real sockets, curl, openssl s_client and the AWS CLI.
 *
 * Many clients are spread over source addresses 127.0.0.2 and up (all of
 * 127/8 is loopback on Linux), so that the cap per address is tested on
 * its own. Every test counts progress (answers, acks, counters) with
 * generous bounds; none asserts a duration.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/bytes.h"
#include "harness.h"
#include "media/mkv_writer.h"

/* ---- sockets ---- */

/* Raise the descriptor limit as far as allowed; returns it. */
static long raise_nofile(void)
{
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
    return (long)rl.rlim_cur;
}

/* A connection to the server from source address 127.0.0.<src> (0: the
 * kernel's choice). Reads time out after 60 s. -1 if refused at connect. */
static int dial_from(int port, int src)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    struct timeval tv = {.tv_sec = 60};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (src) {
        struct sockaddr_in b = {.sin_family = AF_INET};
        b.sin_addr.s_addr = htonl(0x7f000000u | (uint32_t)src);
        ck_assert_int_eq(bind(fd, (struct sockaddr *)&b, sizeof b), 0);
    }
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Send everything; a peer that closed (it answered an error and ended the
 * session: the acks say what happened) is tolerated when closing_ok. */
static void send_all_or_closed(int fd, const void *p, size_t n, int closing_ok)
{
    const uint8_t *b = p;
    while (n) {
        ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
        if (w < 0 && closing_ok && (errno == EPIPE || errno == ECONNRESET))
            return;
        ck_assert_msg(w > 0, "send: %s", strerror(errno));
        b += w;
        n -= (size_t)w;
    }
}

static void send_all(int fd, const void *p, size_t n)
{
    send_all_or_closed(fd, p, n, 0);
}

/* Everything the server sends until it closes (or 60 s of silence, or a
 * reset), as a malloc'd string. */
static char *read_to_close(int fd)
{
    fl_buf_t got;
    fl_buf_init(&got, 0);
    for (;;) {
        uint8_t buf[4096];
        ssize_t r = recv(fd, buf, sizeof buf, 0);
        if (r <= 0)
            break;
        fl_buf_append(&got, buf, (size_t)r);
    }
    char *out = strndup(got.p ? (const char *)got.p : "", got.n);
    fl_buf_free(&got);
    return out;
}

/* One request on a fresh connection (from 127.0.0.<src>); the whole
 * response until the server closes. */
static char *http_from(const fl_test_server_t *s, int src, const void *req, size_t n)
{
    int fd = dial_from(s->port, src);
    ck_assert_int_ge(fd, 0);
    send_all(fd, req, n);
    char *out = read_to_close(fd);
    close(fd);
    return out;
}

/* Has the server closed fd (EOF or reset)? Does not block. */
static int closed_by_server(int fd)
{
    char c;
    ssize_t r = recv(fd, &c, 1, MSG_DONTWAIT);
    return r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

static double metric(const fl_test_server_t *s, const char *series)
{
    char url[128];
    snprintf(url, sizeof url, "%s/metrics", s->url);
    char *argv[] = {"curl", "-sS", "--max-time", "60", url, NULL};
    char *out = NULL;
    int rc = fl_test_run(argv, 65000, &out, NULL);
    double v = rc == 0 ? fl_test_metric(out, series) : -1;
    free(out);
    return v;
}

static double limit_hits(const fl_test_server_t *s, const char *limit)
{
    char series[128];
    snprintf(series, sizeof series, "framelog_limit_hits_total{limit=\"%s\"}", limit);
    return metric(s, series);
}

/* GET /healthz with curl (from 127.0.0.<src>, 0: any): 1 if it answered
 * 200 with the health body. */
static int healthz_answers(const fl_test_server_t *s, int src)
{
    char url[128], iface[32];
    snprintf(url, sizeof url, "%s/healthz", s->url);
    snprintf(iface, sizeof iface, "127.0.0.%d", src ? src : 1);
    char *argv[] = {"curl", "-sS", "--max-time", "60", "--interface", iface, url, NULL};
    char *out = NULL;
    int rc = fl_test_run(argv, 65000, &out, NULL);
    int ok = rc == 0 && out && strstr(out, "\"status\":\"ok\"") != NULL;
    free(out);
    return ok;
}

/* ---- heads ---- */

/* Hundreds of connections that never finish their request heads do not
 * lock out a new request, and each is closed after --header-timeout
 * (libwebsockets' pool of 1,024 head buffers used to hold every new
 * request, /healthz included, behind them). */
START_TEST(slow_heads_neither_lock_out_nor_stay)
{
    long nofile = raise_nofile();
    int n = 1100;
    if (nofile < 2 * n + 200)
        n = (int)(nofile - 200) / 2;
    fl_test_server_t s;
    char *extra[] = {"--header-timeout", "5", NULL};
    fl_test_server_start(&s, NULL, extra);
    int *fds = calloc((size_t)n, sizeof *fds);
    static const char part[] = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ";
    for (int i = 0; i < n; i++) {
        fds[i] = dial_from(s.port, 2 + i % 200);
        ck_assert_int_ge(fds[i], 0);
        send_all(fds[i], part, sizeof part - 1);
    }
    /* with all of them waiting, a new request is answered */
    ck_assert_msg(healthz_answers(&s, 250), "/healthz did not answer beside %d slow heads", n);
    /* and every slow head is closed by the server */
    int closed = 0;
    long long deadline = fl_test_now_ms() + 120000;
    while (closed < n && fl_test_now_ms() < deadline) {
        closed = 0;
        for (int i = 0; i < n; i++)
            closed += fds[i] < 0 || closed_by_server(fds[i]);
        if (closed < n)
            usleep(200000);
    }
    ck_assert_msg(closed == n, "%d of %d slow heads still open", n - closed, n);
    ck_assert_msg(limit_hits(&s, "header_unfinished") >= n, "header_unfinished: %f",
                  limit_hits(&s, "header_unfinished"));
    ck_assert(metric(&s, "framelog_connections_in_head") <= 1);
    for (int i = 0; i < n; i++)
        close(fds[i]);
    free(fds);
    char *log = fl_test_proc_stderr(&s.proc);
    ck_assert_ptr_nonnull(strstr(log, "limit header_unfinished"));
    free(log);
    fl_test_server_free(&s);
}
END_TEST

/* A client that trickles its head a byte at a time is closed at the
 * header timeout all the same: the deadline runs from its first byte. */
START_TEST(trickled_head_is_closed)
{
    fl_test_server_t s;
    char *extra[] = {"--header-timeout", "2", NULL};
    fl_test_server_start(&s, NULL, extra);
    int fd = dial_from(s.port, 0);
    char head[400];
    int hn =
        snprintf(head, sizeof head, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: %0300d\r\n\r\n", 0);
    int sent = 0;
    while (sent < hn && !closed_by_server(fd)) {
        if (send(fd, head + sent, 1, MSG_NOSIGNAL) != 1)
            break;
        sent++;
        usleep(100000);
    }
    ck_assert_msg(sent < hn, "the whole head (%d bytes, a byte each 100 ms) went through", hn);
    close(fd);
    fl_test_server_free(&s);
}
END_TEST

/* --max-connections counts connections still in their heads (it used to
 * count only those past them, so it never applied to slow heads). */
START_TEST(max_connections_counts_heads)
{
    raise_nofile();
    fl_test_server_t s;
    char *extra[] = {"--max-connections", "50", NULL};
    fl_test_server_start(&s, NULL, extra);
    int fds[80], refused = 0;
    for (int i = 0; i < 80; i++) {
        fds[i] = dial_from(s.port, 2 + i);
        if (fds[i] >= 0)
            send_all(fds[i], "GET / HTTP/1.1\r\n", 16);
    }
    long long deadline = fl_test_now_ms() + 60000;
    do {
        refused = 0;
        for (int i = 0; i < 80; i++)
            refused += fds[i] < 0 || closed_by_server(fds[i]);
        if (refused < 30)
            usleep(100000);
    } while (refused < 30 && fl_test_now_ms() < deadline);
    ck_assert_msg(refused >= 30, "only %d of 80 refused past --max-connections 50", refused);
    for (int i = 0; i < 80; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    ck_assert(limit_hits(&s, "max_connections") >= 30);
    char *log = fl_test_proc_stderr(&s.proc);
    ck_assert_ptr_nonnull(strstr(log, "limit max_connections: refusing a connection"));
    free(log);
    fl_test_server_free(&s);
}
END_TEST

/* One address holds at most --max-connections-per-address; others are
 * served meanwhile, and the address is served again once its connections
 * close. */
START_TEST(connections_per_address_are_capped)
{
    fl_test_server_t s;
    char *extra[] = {"--max-connections-per-address", "20", NULL};
    fl_test_server_start(&s, NULL, extra);
    int fds[30];
    for (int i = 0; i < 30; i++) {
        fds[i] = dial_from(s.port, 9);
        ck_assert_int_ge(fds[i], 0);
        send_all(fds[i], "GET / HTTP/1.1\r\n", 16);
    }
    int refused = 0;
    long long deadline = fl_test_now_ms() + 60000;
    do {
        refused = 0;
        for (int i = 0; i < 30; i++)
            refused += closed_by_server(fds[i]);
        if (refused < 10)
            usleep(100000);
    } while (refused < 10 && fl_test_now_ms() < deadline);
    ck_assert_int_eq(refused, 10);
    ck_assert(healthz_answers(&s, 10)); /* another address is served */
    ck_assert(limit_hits(&s, "max_connections_per_address") == 10);
    for (int i = 0; i < 30; i++)
        close(fds[i]);
    /* closed: the address is served again (its closed connections are
     * found out when it reaches the cap) */
    deadline = fl_test_now_ms() + 60000;
    int ok = 0;
    while (!(ok = healthz_answers(&s, 9)) && fl_test_now_ms() < deadline)
        usleep(200000);
    ck_assert(ok);
    char *log = fl_test_proc_stderr(&s.proc);
    ck_assert_ptr_nonnull(strstr(log, "refusing a connection from 127.0.0.9"));
    free(log);
    fl_test_server_free(&s);
}
END_TEST

/* A head past FL_LIMIT_HEADER_BYTES is answered 431 (it used to get no
 * answer and ERROR lines in the log); bytes that are not HTTP get a plain
 * 400 (not libwebsockets' HTML 403). */
START_TEST(large_heads_and_garbage_are_answered)
{
    fl_test_server_t s;
    fl_test_server_start(&s, NULL, NULL);
    size_t n = 10000;
    char *req = malloc(n + 200);
    int hn = snprintf(req, 200, "GET /healthz HTTP/1.1\r\nHost: x\r\nCookie: ");
    memset(req + hn, 'a', n);
    strcpy(req + hn + n, "\r\n\r\n");
    char *r = http_from(&s, 0, req, strlen(req));
    ck_assert_msg(strncmp(r, "HTTP/1.1 431", 12) == 0, "%.200s", r);
    ck_assert_ptr_nonnull(strcasestr(r, "x-amzn-ErrorType: RequestHeaderFieldsTooLarge"));
    ck_assert_ptr_nonnull(strstr(r, "the limit is 8192"));
    free(r);
    free(req);
    ck_assert(limit_hits(&s, "header_too_large") == 1);

    static const char garbage[] = "\x01\x02\x03 this is no request\r\n\r\n";
    r = http_from(&s, 0, garbage, sizeof garbage - 1);
    ck_assert_msg(strncmp(r, "HTTP/1.1 400 Bad Request", 24) == 0, "%.200s", r);
    ck_assert_ptr_null(strstr(r, "<html>"));
    free(r);
    static const char notamethod[] = "HELLO / HTTP/1.1\r\n\r\n";
    r = http_from(&s, 0, notamethod, sizeof notamethod - 1);
    ck_assert_msg(strncmp(r, "HTTP/1.1 400", 12) == 0, "%.200s", r);
    free(r);
    ck_assert(limit_hits(&s, "bad_request") == 2);

    /* heads libwebsockets' parser refuses before framelogd sees a request
     * (they used to get no answer): past its 16 KiB head buffer, 431; a
     * URL holding %00, 400. curl as a user would send them. */
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/healthz", s.port);
    char big[20 * 1024 + 16];
    memcpy(big, "X-Big: ", 7);
    memset(big + 7, 'a', 20 * 1024);
    big[7 + 20 * 1024] = 0;
    char *big_curl[] = {"curl", "-sS", "-i", "--max-time", "60", "-H", big, url, NULL};
    char *out = NULL;
    ck_assert_int_eq(fl_test_run(big_curl, 65000, &out, NULL), 0);
    ck_assert_msg(strncmp(out, "HTTP/1.1 431", 12) == 0, "%.300s", out);
    ck_assert_ptr_nonnull(strcasestr(out, "x-amzn-ErrorType: RequestHeaderFieldsTooLarge"));
    free(out);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/putMedia%%00", s.port);
    char *nul_curl[] = {"curl", "-sS", "-i", "--max-time", "60", "--path-as-is", url, NULL};
    ck_assert_int_eq(fl_test_run(nul_curl, 65000, &out, NULL), 0);
    ck_assert_msg(strncmp(out, "HTTP/1.1 400", 12) == 0, "%.300s", out);
    ck_assert_ptr_nonnull(strcasestr(out, "x-amzn-ErrorType: BadRequestException"));
    free(out);
    ck_assert(limit_hits(&s, "header_too_large") == 2);
    ck_assert(limit_hits(&s, "bad_request") == 3);
    ck_assert(limit_hits(&s, "header_unfinished") == 0);
    ck_assert(healthz_answers(&s, 0));

    /* the same over HTTP/2 (h2c): a head past the HTTP/1.1 limit but
     * within h2's 16 KiB (the stream's HTTP/1.1 side answers), one past
     * h2's bound (h2.c answers), and a path past 4 KiB: each 431 with the
     * error body, once (a reset stream made curl try again, 5 times) */
    snprintf(url, sizeof url, "http://127.0.0.1:%d/healthz", s.port);
    char cookie[10 * 1024 + 16];
    memcpy(cookie, "Cookie: ", 8);
    memset(cookie + 8, 'a', 10 * 1024);
    cookie[8 + 10 * 1024] = 0;
    char *h2_mid[] = {"curl", "-sS", "-i", "--http2-prior-knowledge", "--max-time", "60", "-H",
                      cookie, url,   NULL};
    ck_assert_int_eq(fl_test_run(h2_mid, 65000, &out, NULL), 0);
    ck_assert_msg(strncmp(out, "HTTP/2 431", 10) == 0, "%.300s", out);
    ck_assert_ptr_nonnull(strstr(out, "the limit is 8192"));
    free(out);
    char *h2_big[] = {"curl", "-sS", "-i", "--http2-prior-knowledge", "--max-time", "60", "-H",
                      big,    url,   NULL};
    ck_assert_int_eq(fl_test_run(h2_big, 65000, &out, NULL), 0);
    ck_assert_msg(strncmp(out, "HTTP/2 431", 10) == 0, "%.300s", out);
    ck_assert_ptr_nonnull(strcasestr(out, "x-amzn-errortype: RequestHeaderFieldsTooLarge"));
    ck_assert_ptr_nonnull(strstr(out, "\"__type\":\"RequestHeaderFieldsTooLarge\""));
    ck_assert_ptr_nonnull(strstr(out, "the limit is 8192"));
    free(out);
    char long_url[6000];
    int ln = snprintf(long_url, sizeof long_url, "http://127.0.0.1:%d/", s.port);
    memset(long_url + ln, 'p', 5000);
    long_url[ln + 5000] = 0;
    char *h2_path[] = {"curl",       "-sS", "-i",     "--http2-prior-knowledge",
                       "--max-time", "60",  long_url, NULL};
    ck_assert_int_eq(fl_test_run(h2_path, 65000, &out, NULL), 0);
    ck_assert_msg(strncmp(out, "HTTP/2 431", 10) == 0, "%.300s", out);
    ck_assert_ptr_nonnull(strstr(out, "path is too long"));
    free(out);
    ck_assert_msg(limit_hits(&s, "header_too_large") == 5, "%f",
                  limit_hits(&s, "header_too_large"));
    char *log = fl_test_proc_stderr(&s.proc);
    ck_assert_msg(strstr(log, "ERROR") == NULL, "%s", log);
    free(log);
    fl_test_server_free(&s);
}
END_TEST

/* A kept-alive connection idle past --idle-timeout is closed. */
START_TEST(idle_keepalive_is_closed)
{
    fl_test_server_t s;
    char *extra[] = {"--idle-timeout", "2", NULL};
    fl_test_server_start(&s, NULL, extra);
    int fd = dial_from(s.port, 0);
    static const char req[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    send_all(fd, req, sizeof req - 1);
    char buf[1024];
    ssize_t r = recv(fd, buf, sizeof buf, 0);
    ck_assert_int_gt(r, 0);
    ck_assert(strncmp(buf, "HTTP/1.1 200", 12) == 0);
    long long deadline = fl_test_now_ms() + 60000;
    while (!closed_by_server(fd) && fl_test_now_ms() < deadline)
        usleep(100000);
    ck_assert(closed_by_server(fd));
    close(fd);
    fl_test_server_free(&s);
}
END_TEST

/* One HTTP/1.1 response with a Content-Length from fd: its status, or -1
 * when the connection ends first. */
static int read_response(int fd)
{
    char buf[8192];
    size_t n = 0;
    for (;;) {
        ssize_t r = recv(fd, buf + n, sizeof buf - 1 - n, 0);
        if (r <= 0)
            return -1;
        n += (size_t)r;
        buf[n] = 0;
        const char *end = strstr(buf, "\r\n\r\n");
        const char *cl = strcasestr(buf, "content-length:");
        if (end && cl && n >= (size_t)(end + 4 - buf) + strtoul(cl + 15, NULL, 10))
            return atoi(buf + 9);
        ck_assert_uint_lt(n, sizeof buf - 1);
    }
}

/* A kept-alive connection's idle time starts again at each request (the
 * server's idle list, http.c): one that asks every 100 ms stays open for
 * several --idle-timeouts, while those left idle are closed and those
 * their clients closed are forgotten. */
START_TEST(idle_timeout_restarts_at_each_request)
{
    fl_test_server_t s;
    char *extra[] = {"--idle-timeout", "3", NULL};
    fl_test_server_start(&s, NULL, extra);
    enum { N = 12 };
    int fd[N];
    static const char req[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    for (int i = 0; i < N; i++) {
        fd[i] = dial_from(s.port, 0);
        ck_assert_int_ge(fd[i], 0);
        send_all(fd[i], req, sizeof req - 1);
        ck_assert_int_eq(read_response(fd[i]), 200);
    }
    for (int i = 0; i < N / 3; i++) /* their clients go while idle */
        close(fd[i]);
    int used = 0;
    long long end = fl_test_now_ms() + 10000;
    while (fl_test_now_ms() < end) {
        send_all(fd[N - 1], req, sizeof req - 1);
        ck_assert_msg(read_response(fd[N - 1]) == 200, "request %d on a used connection", used);
        used++;
        usleep(100000);
    }
    ck_assert_int_gt(used, 10);
    /* the idle ones go (they were idle all along) */
    long long deadline = fl_test_now_ms() + 60000;
    for (int i = N / 3; i < N - 1; i++) {
        while (!closed_by_server(fd[i]) && fl_test_now_ms() < deadline)
            usleep(100000);
        ck_assert_msg(closed_by_server(fd[i]), "idle connection %d not closed", i);
        close(fd[i]);
    }
    /* and the used one once idle */
    while (!closed_by_server(fd[N - 1]) && fl_test_now_ms() < deadline)
        usleep(100000);
    ck_assert(closed_by_server(fd[N - 1]));
    close(fd[N - 1]);
    ck_assert(healthz_answers(&s, 0));
    char *log = fl_test_proc_stderr(&s.proc);
    ck_assert_msg(strstr(log, "ERROR") == NULL, "%s", log);
    free(log);
    fl_test_server_free(&s);
}
END_TEST

/* ---- TLS ---- */

typedef struct {
    char *dir;
    char ca[4200], cert[4200], key[4200], ext[4200];
} pki_t;

static void run_ok(char *const argv[])
{
    char *err = NULL;
    int rc = fl_test_run(argv, 60000, NULL, &err);
    ck_assert_msg(rc == 0, "%s failed: %s", argv[0], err);
    free(err);
}

/* A server certificate for 127.0.0.1 signed by the CA (made at first). */
static void make_cert(pki_t *p, const char *cert, const char *key)
{
    char csr[4300];
    snprintf(csr, sizeof csr, "%s.csr", cert);
    /* RSA: so that static-RSA suites would be possible, were they allowed */
    char *req[] = {"openssl",   "req",  "-newkey", "rsa:2048", "-nodes",        "-keyout",
                   (char *)key, "-out", csr,       "-subj",    "/CN=127.0.0.1", NULL};
    run_ok(req);
    char cakey[4300];
    snprintf(cakey, sizeof cakey, "%s.key", p->ca);
    char *sign[] = {
        "openssl",         "x509", "-req",       "-in",   csr, "-CA",      p->ca,  "-CAkey", cakey,
        "-CAcreateserial", "-out", (char *)cert, "-days", "1", "-extfile", p->ext, NULL};
    run_ok(sign);
}

static void make_pki(pki_t *p)
{
    p->dir = fl_test_mkdtemp("pki");
    snprintf(p->ca, sizeof p->ca, "%s/ca.pem", p->dir);
    snprintf(p->cert, sizeof p->cert, "%s/srv.pem", p->dir);
    snprintf(p->key, sizeof p->key, "%s/srv.key", p->dir);
    snprintf(p->ext, sizeof p->ext, "%s/ext", p->dir);
    char cakey[4300];
    snprintf(cakey, sizeof cakey, "%s.key", p->ca);
    char *ca[] = {"openssl",
                  "req",
                  "-x509",
                  "-newkey",
                  "ec",
                  "-pkeyopt",
                  "ec_paramgen_curve:P-256",
                  "-nodes",
                  "-keyout",
                  cakey,
                  "-out",
                  p->ca,
                  "-days",
                  "1",
                  "-subj",
                  "/CN=framelog test CA",
                  NULL};
    run_ok(ca);
    static const char ext[] = "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                              "basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n";
    ck_assert_int_eq(fl_test_write_file(p->ext, ext, sizeof ext - 1), 0);
    make_cert(p, p->cert, p->key);
}

/* openssl s_client's output for one handshake attempt, offering the ALPN
 * list alpn (NULL: none). */
static char *s_client_alpn(int port, const char *alpn, const char *a1, const char *a2,
                           const char *a3)
{
    char connect[64];
    snprintf(connect, sizeof connect, "127.0.0.1:%d", port);
    char *argv[10];
    int k = 0;
    argv[k++] = "openssl";
    argv[k++] = "s_client";
    argv[k++] = "-connect";
    argv[k++] = connect;
    if (alpn) {
        argv[k++] = "-alpn";
        argv[k++] = (char *)alpn;
    }
    argv[k++] = (char *)a1;
    argv[k++] = (char *)a2;
    argv[k++] = (char *)a3;
    argv[k] = NULL;
    char *out = NULL, *err = NULL;
    fl_test_run(argv, 30000, &out, &err);
    size_t n = strlen(out) + strlen(err) + 2;
    char *all = malloc(n);
    snprintf(all, n, "%s\n%s", out, err);
    free(out);
    free(err);
    return all;
}

/* TLS 1.2 and 1.3 only (1.0 and 1.1 refused with alert 70,
 * protocol_version), forward-secret AEAD suites only, for clients that
 * offer ALPN h2 (framelogd's own TLS) as for those that do not
 * (libwebsockets'); ALPN selects h2 when offered, else http/1.1; curl and
 * the AWS CLI work with a CA made here; plain HTTP on the TLS port is told
 * so. */
START_TEST(tls_policy)
{
    pki_t p;
    make_pki(&p);
    fl_test_server_t s;
    char *extra[] = {"--tls-cert", p.cert, "--tls-key", p.key, NULL};
    fl_test_server_start(&s, NULL, extra);

    /* no ALPN, http/1.1 (libwebsockets' TLS), h2 (framelogd's): one policy */
    const char *alpns[] = {NULL, "http/1.1", "h2"};
    for (int a = 0; a < 3; a++) {
        const char *old[] = {"-tls1", "-tls1_1"};
        for (int i = 0; i < 2; i++) {
            char *o = s_client_alpn(s.port, alpns[a], old[i], NULL, NULL);
            ck_assert_msg(strstr(o, "alert number 70") || strstr(o, "alert protocol version"),
                          "%s %s: %s", old[i], alpns[a] ? alpns[a] : "", o);
            free(o);
        }
        const char *weak[] = {"AES128-SHA", "AES256-SHA256", "AES128-GCM-SHA256",
                              "ECDHE-RSA-AES128-SHA", "DHE-RSA-AES128-GCM-SHA256"};
        for (int i = 0; i < 5; i++) {
            char *o = s_client_alpn(s.port, alpns[a], "-tls1_2", "-cipher", weak[i]);
            ck_assert_msg(strstr(o, "Cipher is (NONE)") != NULL, "%s %s accepted: %s", weak[i],
                          alpns[a] ? alpns[a] : "", o);
            free(o);
        }
        char *o = s_client_alpn(s.port, alpns[a], "-tls1_2", NULL, NULL);
        ck_assert_msg(strstr(o, "Cipher is ECDHE-RSA-AES128-GCM-SHA256") ||
                          strstr(o, "Cipher is ECDHE-RSA-AES256-GCM-SHA384") ||
                          strstr(o, "Cipher is ECDHE-RSA-CHACHA20-POLY1305"),
                      "%s: %s", alpns[a] ? alpns[a] : "", o);
        if (alpns[a]) {
            char want[64];
            snprintf(want, sizeof want, "ALPN protocol: %s", alpns[a]);
            ck_assert_msg(strstr(o, want) != NULL, "TLS 1.2, %s: %s", alpns[a], o);
        }
        free(o);
        o = s_client_alpn(s.port, alpns[a], "-tls1_3", NULL, NULL);
        ck_assert_msg(strstr(o, "New, TLSv1.3, Cipher is TLS_") != NULL, "%s", o);
        free(o);
    }
    /* a client offering both gets h2 (what curl --http2 and browsers ask
     * for); a WebSocket client offers http/1.1 alone */
    char *o = s_client_alpn(s.port, "h2,http/1.1", "-tls1_3", NULL, NULL);
    ck_assert_msg(strstr(o, "ALPN protocol: h2") != NULL, "h2,http/1.1: %s", o);
    free(o);

    char url[128];
    snprintf(url, sizeof url, "https://127.0.0.1:%d/healthz", s.port);
    char *curl[] = {"curl", "-sS", "--max-time", "60", "--cacert", p.ca, url, NULL};
    char *out = NULL;
    ck_assert_int_eq(fl_test_run(curl, 65000, &out, NULL), 0);
    ck_assert_ptr_nonnull(strstr(out, "\"status\":\"ok\""));
    free(out);

    /* the AWS CLI v2 with the test CA */
    char endpoint[128], bundle[4300];
    snprintf(endpoint, sizeof endpoint, "https://127.0.0.1:%d", s.port);
    snprintf(bundle, sizeof bundle, "AWS_CA_BUNDLE=%s", p.ca);
    char *aws[] = {"env",
                   bundle,
                   "AWS_ACCESS_KEY_ID=AKIDEXAMPLE",
                   "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                   "AWS_DEFAULT_REGION=us-east-1",
                   "AWS_CONFIG_FILE=/dev/null",
                   "AWS_SHARED_CREDENTIALS_FILE=/dev/null",
                   "/usr/bin/aws",
                   "kinesisvideo",
                   "list-streams",
                   "--endpoint-url",
                   endpoint,
                   "--output",
                   "json",
                   NULL};
    char *err = NULL;
    int rc = fl_test_run(aws, 90000, &out, &err);
    ck_assert_msg(rc == 0, "aws: %s", err);
    ck_assert_ptr_nonnull(strstr(out, "StreamInfoList"));
    free(out);
    free(err);

    /* heads the HTTP/1.1 parser refuses are answered over TLS too (curl
     * offers h2 first: asked for HTTP/1.1 here) */
    char big[20 * 1024 + 16];
    memcpy(big, "X-Big: ", 7);
    memset(big + 7, 'a', 20 * 1024);
    big[7 + 20 * 1024] = 0;
    char *big_curl[] = {"curl",     "-sS", "-i", "--http1.1", "--max-time", "60",
                        "--cacert", p.ca,  "-H", big,         url,          NULL};
    ck_assert_int_eq(fl_test_run(big_curl, 65000, &out, NULL), 0);
    ck_assert_msg(strncmp(out, "HTTP/1.1 431", 12) == 0, "%.300s", out);
    free(out);
    snprintf(url, sizeof url, "https://127.0.0.1:%d/putMedia%%00", s.port);
    char *nul_curl[] = {"curl",     "-sS", "-i",           "--max-time", "60", "--http1.1",
                        "--cacert", p.ca,  "--path-as-is", url,          NULL};
    ck_assert_int_eq(fl_test_run(nul_curl, 65000, &out, NULL), 0);
    ck_assert_msg(strncmp(out, "HTTP/1.1 400", 12) == 0, "%.300s", out);
    free(out);
    /* over HTTP/2 the same head reaches the same parser (h2.c's stream):
     * the same 400 */
    nul_curl[5] = "--http2";
    ck_assert_int_eq(fl_test_run(nul_curl, 65000, &out, NULL), 0);
    ck_assert_msg(strncmp(out, "HTTP/2 400", 10) == 0, "%.300s", out);
    free(out);

    /* plain HTTP to the TLS port: a 400 that says so */
    snprintf(url, sizeof url, "http://127.0.0.1:%d/healthz", s.port);
    char *plain[] = {"curl", "-sS", "-i", "--max-time", "60", url, NULL};
    ck_assert_int_eq(fl_test_run(plain, 65000, &out, NULL), 0);
    ck_assert_msg(strncmp(out, "HTTP/1.1 400", 12) == 0 && strstr(out, "this port speaks TLS"),
                  "%s", out);
    free(out);
    fl_test_server_free(&s);
    fl_test_rmtree(p.dir);
}
END_TEST

/* A TLS client on its own connection (OpenSSL): handshake with the CA. */
static SSL *tls_dial(SSL_CTX *ctx, int port, int *fd_out)
{
    int fd = dial_from(port, 0);
    ck_assert_int_ge(fd, 0);
    SSL *ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    SSL_set_tlsext_host_name(ssl, "localhost");
    ck_assert_msg(SSL_connect(ssl) == 1, "TLS handshake failed");
    *fd_out = fd;
    return ssl;
}

/* The peer certificate's SHA-256 fingerprint, as hex. */
static void peer_fingerprint(SSL *ssl, char out[65])
{
    X509 *c = SSL_get1_peer_certificate(ssl);
    ck_assert_ptr_nonnull(c);
    unsigned char md[32];
    unsigned n = 0;
    ck_assert_int_eq(X509_digest(c, EVP_sha256(), md, &n), 1);
    for (unsigned i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    X509_free(c);
}

/* GET /healthz on an open TLS connection (keep-alive): 1 if answered. */
static int tls_healthz(SSL *ssl)
{
    static const char req[] = "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n";
    if (SSL_write(ssl, req, sizeof req - 1) != (int)sizeof req - 1)
        return 0;
    /* the head and the body may come in separate records: read to the
     * body's end */
    char buf[4096];
    int got = 0;
    while (got < (int)sizeof buf - 1) {
        int n = SSL_read(ssl, buf + got, (int)sizeof buf - 1 - got);
        if (n <= 0)
            return 0;
        got += n;
        buf[got] = 0;
        if (strstr(buf, "}\n"))
            break;
    }
    return strncmp(buf, "HTTP/1.1 200", 12) == 0 && strstr(buf, "\"status\":\"ok\"") != NULL;
}

/* On a TLS connection that negotiated h2: (the client preface and
 * SETTINGS first, when first) a PING; 1 when the server's frames that
 * follow hold its ACK. */
static int h2_ping(SSL *ssl, int first)
{
    static const uint8_t preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
                                     "\x00\x00\x00\x04\x00\x00\x00\x00\x00";
    static const uint8_t ping[] = "\x00\x00\x08\x06\x00\x00\x00\x00\x00"
                                  "flping!!";
    if (first && SSL_write(ssl, preface, (int)sizeof preface - 1) != (int)sizeof preface - 1)
        return 0;
    if (SSL_write(ssl, ping, (int)sizeof ping - 1) != (int)sizeof ping - 1)
        return 0;
    uint8_t buf[65536];
    size_t got = 0;
    for (int reads = 0; reads < 64; reads++) {
        int n = SSL_read(ssl, buf + got, (int)(sizeof buf - got));
        if (n <= 0)
            return 0;
        got += (size_t)n;
        /* whole frames from the start */
        size_t off = 0;
        while (got - off >= 9) {
            size_t len = ((size_t)buf[off] << 16) | ((size_t)buf[off + 1] << 8) | buf[off + 2];
            if (got - off < 9 + len)
                break;
            if (buf[off + 3] == 6 && (buf[off + 4] & 1) && len == 8 &&
                memcmp(buf + off + 9, "flping!!", 8) == 0)
                return 1;
            off += 9 + len;
        }
        memmove(buf, buf + off, got - off);
        got -= off;
    }
    return 0;
}

/* SIGHUP loads the certificate files again: new handshakes get the new
 * certificate, with ALPN h2 (framelogd's own TLS) as without (lws's), and
 * connections open across the reload go on. */
START_TEST(sighup_reloads_the_certificate)
{
    pki_t p;
    make_pki(&p);
    fl_test_server_t s;
    char *extra[] = {"--tls-cert", p.cert, "--tls-key", p.key, "--idle-timeout", "600", NULL};
    fl_test_server_start(&s, NULL, extra);
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    ck_assert_int_eq(SSL_CTX_load_verify_locations(ctx, p.ca, NULL), 1);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    SSL_CTX *ctx_h2 = SSL_CTX_new(TLS_client_method());
    ck_assert_int_eq(SSL_CTX_load_verify_locations(ctx_h2, p.ca, NULL), 1);
    SSL_CTX_set_verify(ctx_h2, SSL_VERIFY_PEER, NULL);
    ck_assert_int_eq(SSL_CTX_set_alpn_protos(ctx_h2, (const unsigned char *)"\x02h2", 3), 0);
    int fd1, fd1h;
    SSL *before = tls_dial(ctx, s.port, &fd1);
    SSL *before_h2 = tls_dial(ctx_h2, s.port, &fd1h);
    char fp1[65], fp2[65], fph[65];
    peer_fingerprint(before, fp1);
    peer_fingerprint(before_h2, fph);
    ck_assert_str_eq(fp1, fph);
    const unsigned char *alpn = NULL;
    unsigned alen = 0;
    SSL_get0_alpn_selected(before_h2, &alpn, &alen);
    ck_assert_msg(alen == 2 && memcmp(alpn, "h2", 2) == 0, "no h2 negotiated");
    ck_assert(tls_healthz(before));
    ck_assert_msg(h2_ping(before_h2, 1), "no PING answer over h2");

    /* a new certificate in the same files, then SIGHUP */
    make_cert(&p, p.cert, p.key);
    kill(s.proc.pid, SIGHUP);
    long long deadline = fl_test_now_ms() + 60000;
    strcpy(fp2, fp1);
    while (strcmp(fp1, fp2) == 0 && fl_test_now_ms() < deadline) {
        int fd2;
        SSL *after = tls_dial(ctx, s.port, &fd2);
        peer_fingerprint(after, fp2);
        SSL_free(after);
        close(fd2);
        if (strcmp(fp1, fp2) == 0)
            usleep(100000);
    }
    ck_assert_msg(strcmp(fp1, fp2) != 0, "the certificate was not reloaded");
    /* h2's handshakes get the new one too */
    strcpy(fph, fp1);
    deadline = fl_test_now_ms() + 60000;
    while (strcmp(fph, fp1) == 0 && fl_test_now_ms() < deadline) {
        int fd2;
        SSL *after = tls_dial(ctx_h2, s.port, &fd2);
        peer_fingerprint(after, fph);
        SSL_free(after);
        close(fd2);
        if (strcmp(fph, fp1) == 0)
            usleep(100000);
    }
    ck_assert_msg(strcmp(fph, fp2) == 0, "h2 handshakes did not get the new certificate");
    ck_assert_msg(tls_healthz(before), "the connection open across the reload was dropped");
    ck_assert_msg(h2_ping(before_h2, 0), "the h2 connection open across the reload was dropped");
    SSL_free(before);
    close(fd1);
    SSL_free(before_h2);
    close(fd1h);
    SSL_CTX_free(ctx);
    SSL_CTX_free(ctx_h2);

    /* a broken file keeps the certificate in use */
    ck_assert_int_eq(fl_test_write_file(p.cert, "junk", 4), 0);
    kill(s.proc.pid, SIGHUP);
    char url[128];
    snprintf(url, sizeof url, "https://127.0.0.1:%d/healthz", s.port);
    char *curl[] = {"curl", "-sS", "--max-time", "60", "--cacert", p.ca, url, NULL};
    deadline = fl_test_now_ms() + 60000;
    char *log = NULL;
    while (fl_test_now_ms() < deadline) {
        free(log);
        log = fl_test_proc_stderr(&s.proc);
        if (strstr(log, "keeping the certificate in use"))
            break;
        usleep(100000);
    }
    ck_assert_ptr_nonnull(strstr(log, "keeping the certificate in use"));
    ck_assert_ptr_nonnull(strstr(log, "reloaded (open connections keep theirs)"));
    free(log);
    char *out = NULL;
    ck_assert_int_eq(fl_test_run(curl, 65000, &out, NULL), 0);
    ck_assert_ptr_nonnull(strstr(out, "\"status\":\"ok\""));
    free(out);
    fl_test_server_free(&s);
    fl_test_rmtree(p.dir);
}
END_TEST

/* A series of /metrics over https (the test CA). */
static double metric_tls(const fl_test_server_t *s, const char *ca, const char *series)
{
    char url[128];
    snprintf(url, sizeof url, "https://127.0.0.1:%d/metrics", s->port);
    char *argv[] = {"curl", "-sS", "--max-time", "60", "--cacert", (char *)ca, url, NULL};
    char *out = NULL;
    int rc = fl_test_run(argv, 65000, &out, NULL);
    double v = rc == 0 ? fl_test_metric(out, series) : -1;
    free(out);
    return v;
}

/* A process's CPU time so far (user and system), in clock ticks. */
static long long cpu_ticks(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    char *st = fl_test_read_file(path, NULL);
    ck_assert_ptr_nonnull(st);
    const char *p = strrchr(st, ')'); /* after the command's name */
    unsigned long long ut = 0, sy = 0;
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &sy), 2);
    free(st);
    return (long long)(ut + sy);
}

/* A TLS listener reads each ClientHello before any TLS library does
 * (docs/security.md, "TLS"): a ClientHello that arrives a byte per TCP
 * segment is still served (node's HTTP/2 client, ALPN h2); one trickled
 * slower than --header-timeout, and one that stops halfway, are closed at
 * the header timeout, counted as header_unfinished, and cost the server
 * no CPU while they wait (no busy polling: measured as the server's CPU
 * time over the wait, against the wait itself). */
START_TEST(tls_clienthello_split_trickled_or_stalled)
{
    ck_assert_msg(fl_test_have("node"), "node is missing (scripts/deps.sh --test)");
    pki_t p;
    make_pki(&p);
    fl_test_server_t s;
    char *extra[] = {"--tls-cert", p.cert, "--tls-key", p.key, "--header-timeout", "3", NULL};
    fl_test_server_start(&s, NULL, extra);
    size_t hn = 0;
    char *hello =
        fl_test_read_file(FL_SOURCE_DIR "/tests/fuzz/corpus/fuzz_clienthello/curl_http2", &hn);
    ck_assert_msg(hello && hn > 300, "the captured ClientHello is missing");

    /* half a ClientHello, then nothing */
    int stalled = dial_from(s.port, 0);
    ck_assert_int_ge(stalled, 0);
    send_all(stalled, hello, hn / 2);
    long long t0 = fl_test_now_ms(), cpu0 = cpu_ticks(s.proc.pid);

    /* meanwhile a ClientHello in single bytes: served over h2 */
    char url[96];
    snprintf(url, sizeof url, "https://127.0.0.1:%d", s.port);
    char *node[] = {"node", FL_SOURCE_DIR "/tests/node/h2_tls_split.js", url, p.ca, NULL};
    char *out = NULL, *err = NULL;
    int rc = fl_test_run(node, 120000, &out, &err);
    ck_assert_msg(rc == 0, "h2_tls_split.js (%d): %s %s", rc, out, err);
    int pieces = 0;
    const char *pc = out ? strstr(out, "\"pieces\":") : NULL;
    if (pc)
        pieces = atoi(pc + strlen("\"pieces\":"));
    ck_assert_msg(pieces > 100 && strstr(out, "\"alpn\":\"h2\"") && strstr(out, "\"status\":200") &&
                      strstr(out, "\"ok\":true"),
                  "h2_tls_split.js: %s", out);
    free(out);
    free(err);

    /* a ClientHello trickled a byte each 100 ms: closed before it is all
     * sent (the deadline runs from accept) */
    int trickled = dial_from(s.port, 0);
    size_t sent = 0;
    while (sent < hn && !closed_by_server(trickled)) {
        if (send(trickled, hello + sent, 1, MSG_NOSIGNAL) != 1)
            break;
        sent++;
        usleep(100000);
    }
    ck_assert_msg(sent < hn, "the whole ClientHello (%zu bytes, a byte each 100 ms) went through",
                  hn);
    close(trickled);

    /* the stalled one is closed too */
    long long deadline = t0 + 60000;
    while (!closed_by_server(stalled) && fl_test_now_ms() < deadline)
        usleep(100000);
    long long t1 = fl_test_now_ms(), cpu1 = cpu_ticks(s.proc.pid);
    ck_assert_msg(closed_by_server(stalled), "half a ClientHello still open after 60 s");
    close(stalled);
    /* the server's CPU over the wait: well under half of it (a loop
     * polling the waiting sockets would take all of a core) */
    double wait_ticks = (double)(t1 - t0) * (double)sysconf(_SC_CLK_TCK) / 1000.0;
    fprintf(stderr, "server CPU while ClientHellos waited: %lld ticks over %.0f\n", cpu1 - cpu0,
            wait_ticks);
    ck_assert_msg((double)(cpu1 - cpu0) < 0.5 * wait_ticks,
                  "the server used %lld ticks of CPU over a wait of %.0f", cpu1 - cpu0, wait_ticks);
    ck_assert_msg(metric_tls(&s, p.ca, "framelog_limit_hits_total{limit=\"header_unfinished\"}") >=
                      2,
                  "header_unfinished: %f",
                  metric_tls(&s, p.ca, "framelog_limit_hits_total{limit=\"header_unfinished\"}"));
    ck_assert(metric_tls(&s, p.ca, "framelog_connections_in_head") <= 1);
    free(hello);
    fl_test_server_free(&s);
    fl_test_rmtree(p.dir);
}
END_TEST

/* A client that sends part of its ClientHello and then shuts its side
 * down can never finish it: closed at once, not woken on and off until
 * --header-timeout (10 minutes here; it was polled 50 times a second
 * until then). */
START_TEST(tls_half_hello_then_fin_is_closed)
{
    pki_t p;
    make_pki(&p);
    fl_test_server_t s;
    char *extra[] = {"--tls-cert", p.cert, "--tls-key", p.key, "--header-timeout", "600", NULL};
    fl_test_server_start(&s, NULL, extra);
    size_t hn = 0;
    char *hello =
        fl_test_read_file(FL_SOURCE_DIR "/tests/fuzz/corpus/fuzz_clienthello/curl_http2", &hn);
    ck_assert_msg(hello && hn > 300, "the captured ClientHello is missing");
    int fd = dial_from(s.port, 0);
    ck_assert_int_ge(fd, 0);
    send_all(fd, hello, hn / 2);
    ck_assert_int_eq(shutdown(fd, SHUT_WR), 0);
    /* progress, not time: the close comes well before the 600 s timeout */
    int i = 0;
    while (!closed_by_server(fd) && i++ < 600)
        usleep(100000);
    ck_assert_msg(closed_by_server(fd), "half a ClientHello and a FIN: still open after 60 s");
    close(fd);
    ck_assert(metric_tls(&s, p.ca, "framelog_connections_in_head") <= 1);
    free(hello);
    fl_test_server_free(&s);
    fl_test_rmtree(p.dir);
}
END_TEST

static int run_framelogd(char *const args[], char **err)
{
    char *argv[16];
    int n = 0;
    argv[n++] = FL_FRAMELOGD;
    for (int i = 0; args[i]; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    return fl_test_run(argv, 30000, NULL, err);
}

/* A listener outside loopback needs TLS, and access keys: one line each;
 * with both it serves the AWS CLI over https (a test CA). */
START_TEST(non_loopback_needs_tls_and_keys)
{
    char *dir = fl_test_mkdtemp("pub");
    char *plain[] = {"--listen", "0.0.0.0:0", "--data-dir", dir, NULL};
    char *err = NULL;
    ck_assert_int_eq(run_framelogd(plain, &err), 1);
    ck_assert_msg(
        strstr(err, "refusing to listen on 0.0.0.0:0: a non-loopback listener needs TLS") &&
            strchr(err, '\n') == err + strlen(err) - 1,
        "%s", err);
    free(err);
    pki_t p;
    make_pki(&p);
    char *tls[] = {"--listen", "0.0.0.0:0", "--data-dir", dir, "--tls-cert",
                   p.cert,     "--tls-key", p.key,        NULL};
    ck_assert_int_eq(run_framelogd(tls, &err), 1);
    /* known once server/auth has read the catalog: the reason is the last
     * line, after the start's INFO lines */
    const char *last = err + strlen(err) - 1;
    while (last > err && last[-1] != '\n')
        last--;
    ck_assert_msg(strstr(last, "needs access keys") && strchr(last, '\n') == err + strlen(err) - 1,
                  "%s", err);
    free(err);

    /* with TLS and a key it starts, and the AWS CLI v2 reaches it over
     * https with the test CA, for Kinesis Video and Kinesis alike */
    char *keys[] = {FL_FRAMELOGD, "keys", "create", "ops", "--data-dir", dir, NULL};
    char *kout = NULL;
    ck_assert_int_eq(fl_test_run(keys, 60000, &kout, NULL), 0);
    char ak[64] = "", sk[64] = "";
    const char *a = strstr(kout, "\"AccessKeyId\": \""),
               *b = strstr(kout, "\"SecretAccessKey\": \"");
    ck_assert_msg(a && b, "%s", kout);
    sscanf(a + strlen("\"AccessKeyId\": \""), "%63[^\"]", ak);
    sscanf(b + strlen("\"SecretAccessKey\": \""), "%63[^\"]", sk);
    free(kout);
    char *argv[12];
    int n = 0;
    argv[n++] = FL_FRAMELOGD;
    for (int i = 0; tls[i]; i++)
        argv[n++] = tls[i];
    argv[n] = NULL;
    fl_test_proc_t proc;
    ck_assert_int_eq(fl_test_spawn(&proc, argv, NULL), 0);
    int port = 0;
    for (long long end = fl_test_now_ms() + 60000; !port && fl_test_now_ms() < end;) {
        char *log = fl_test_proc_stderr(&proc);
        const char *at = strstr(log, "listening on https://0.0.0.0:");
        if (at)
            port = atoi(at + strlen("listening on https://0.0.0.0:"));
        else if (fl_test_wait(&proc, 0) != -1)
            ck_abort_msg("framelogd exited: %s", log);
        free(log);
        if (!port)
            usleep(20000);
    }
    ck_assert_int_gt(port, 0);
    char endpoint[64], bundle[4300], e_ak[100], e_sk[100];
    snprintf(endpoint, sizeof endpoint, "https://127.0.0.1:%d", port);
    snprintf(bundle, sizeof bundle, "AWS_CA_BUNDLE=%s", p.ca);
    snprintf(e_ak, sizeof e_ak, "AWS_ACCESS_KEY_ID=%s", ak);
    snprintf(e_sk, sizeof e_sk, "AWS_SECRET_ACCESS_KEY=%s", sk);
    static const char *const calls[][8] = {
        {"kinesisvideo", "create-stream", "--stream-name", "pub-cam", "--data-retention-in-hours",
         "1", NULL},
        {"kinesisvideo", "describe-stream", "--stream-name", "pub-cam", NULL},
        {"kinesis", "create-stream", "--stream-name", "pub-rec", "--shard-count", "1", NULL},
        {"kinesis", "put-record", "--stream-name", "pub-rec", "--partition-key", "k", "--data",
         "aGVsbG8="},
        {"kinesis", "describe-stream-summary", "--stream-name", "pub-rec", NULL},
    };
    static const char *const want[] = {"StreamARN", "\"StreamName\": \"pub-cam\"", "",
                                       "SequenceNumber", "\"OpenShardCount\": 1"};
    for (size_t c = 0; c < sizeof calls / sizeof calls[0]; c++) {
        char *aws[32];
        int k = 0;
        aws[k++] = "env";
        aws[k++] = bundle;
        aws[k++] = e_ak;
        aws[k++] = e_sk;
        aws[k++] = "AWS_DEFAULT_REGION=us-east-1";
        aws[k++] = "AWS_CONFIG_FILE=/dev/null";
        aws[k++] = "AWS_SHARED_CREDENTIALS_FILE=/dev/null";
        aws[k++] = "AWS_MAX_ATTEMPTS=1";
        aws[k++] = "/usr/bin/aws";
        for (int i = 0; i < 8 && calls[c][i]; i++)
            aws[k++] = (char *)calls[c][i];
        aws[k++] = "--endpoint-url";
        aws[k++] = endpoint;
        aws[k++] = "--output";
        aws[k++] = "json";
        aws[k] = NULL;
        char *out = NULL;
        err = NULL;
        int rc = fl_test_run(aws, 90000, &out, &err);
        ck_assert_msg(rc == 0 && strstr(out, want[c]), "aws %s %s: %d %s %s", calls[c][0],
                      calls[c][1], rc, out, err);
        free(out);
        free(err);
    }
    /* unsigned, over TLS: refused */
    char url[128];
    snprintf(url, sizeof url, "%s/listStreams", endpoint);
    char *curl[] = {"curl", "-sS", "--max-time", "60", "--cacert",     p.ca, "-X", "POST", "-d",
                    "{}",   "-o",  "/dev/null",  "-w", "%{http_code}", url,  NULL};
    char *out = NULL;
    ck_assert_int_eq(fl_test_run(curl, 65000, &out, NULL), 0);
    ck_assert_str_eq(out, "403");
    free(out);
    kill(proc.pid, SIGTERM);
    ck_assert_int_eq(fl_test_wait(&proc, 60000), 0);
    fl_test_proc_free(&proc);
    fl_test_rmtree(p.dir);
    fl_test_rmtree(dir);
}
END_TEST

/* ---- PutMedia and GetMedia ---- */

static void create_stream(const fl_test_server_t *s, const char *name)
{
    char req[512];
    char json[128];
    snprintf(json, sizeof json, "{\"StreamName\":\"%s\",\"DataRetentionInHours\":24}", name);
    snprintf(req, sizeof req,
             "POST /createStream HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
             "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
             strlen(json), json);
    char *r = http_from(s, 0, req, strlen(req));
    ck_assert_msg(strncmp(r, "HTTP/1.1 200", 12) == 0, "%s", r);
    free(r);
}

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

/* A fragment at tc (epoch ms): 5 frames of frame_bytes each. */
static void mkv_cluster(fl_buf_t *b, uint64_t tc, size_t frame_bytes)
{
    size_t mark;
    fl_mkv_write_cluster_begin(b, tc, &mark);
    uint8_t *frame = malloc(frame_bytes);
    for (int i = 0; i < 5; i++) {
        memset(frame, i + 1 + (int)(tc & 0x3f), frame_bytes);
        fl_mkv_write_simple_block(b, 1, 40 * i, i == 0, fl_slice(frame, frame_bytes));
    }
    free(frame);
    fl_mkv_write_cluster_end(b, mark);
}

static int putmedia_open(const fl_test_server_t *s, const char *stream)
{
    int fd = dial_from(s->port, 0);
    ck_assert_int_ge(fd, 0);
    char req[1024];
    snprintf(req, sizeof req,
             "POST /putMedia HTTP/1.1\r\nHost: 127.0.0.1\r\nx-amzn-stream-name: %s\r\n"
             "x-amzn-fragment-timecode-type: ABSOLUTE\r\n"
             "x-amzn-fragment-acknowledgment-required: 1\r\n"
             "Content-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n",
             stream);
    send_all(fd, req, strlen(req));
    return fd;
}

/* One chunk of a chunked body; with closing_ok, a server that answered an
 * error and ended the session while it was being sent is tolerated (the
 * acks read after say what it did). */
static void send_chunk_or_closed(int fd, const fl_buf_t *b, int closing_ok)
{
    char head[32];
    snprintf(head, sizeof head, "%zx\r\n", b->n);
    send_all_or_closed(fd, head, strlen(head), closing_ok);
    send_all_or_closed(fd, b->p, b->n, closing_ok);
    send_all_or_closed(fd, "\r\n", 2, closing_ok);
}

static void send_chunk(int fd, const fl_buf_t *b)
{
    send_chunk_or_closed(fd, b, 0);
}

/* Read the ack stream into got until it holds `count` occurrences of
 * needle, or the server closes (0), or 60 s of silence. */
static int read_acks(int fd, fl_buf_t *got, const char *needle, int count)
{
    for (;;) {
        fl_buf_u8(got, 0);
        got->n--;
        if (fl_test_count((const char *)got->p, needle) >= count)
            return 1;
        uint8_t buf[8192];
        ssize_t r = recv(fd, buf, sizeof buf, 0);
        if (r <= 0)
            return 0;
        fl_buf_append(got, buf, (size_t)r);
    }
}

static uint64_t epoch_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
}

/* Fragments sent one by one, each after the previous one's PERSISTED:
 * returns how many were acked PERSISTED. */
static int put_fragments(const fl_test_server_t *s, const char *stream, int n, size_t frame_bytes,
                         uint64_t *tc)
{
    int fd = putmedia_open(s, stream);
    fl_buf_t b, got;
    fl_buf_init(&b, 0);
    fl_buf_init(&got, 0);
    mkv_header(&b);
    send_chunk(fd, &b);
    int persisted = 0;
    for (int i = 0; i < n; i++) {
        fl_buf_reset(&b);
        mkv_cluster(&b, *tc, frame_bytes);
        *tc += 1000;
        send_chunk(fd, &b);
        if (!read_acks(fd, &got, "\"PERSISTED\"", persisted + 1))
            break;
        persisted++;
    }
    send_all(fd, "0\r\n\r\n", 5);
    close(fd);
    fl_buf_free(&b);
    fl_buf_free(&got);
    return persisted;
}

/* On a full disk several appends can fail together: every fragment acked
 * RECEIVED still gets its final ack, PERSISTED or ERROR (only the first
 * ERROR used to go out, and the others' were lost); then, with room again,
 * a producer stores on. The file size limit (RLIMIT_FSIZE, set on the
 * running server with prlimit) makes the disk "full". */
START_TEST(full_disk_acks_every_received_fragment)
{
    if (!fl_test_have("prlimit"))
        ck_abort_msg("prlimit (util-linux) missing");
    fl_test_server_t s;
    fl_test_server_start(&s, NULL, NULL);
    create_stream(&s, "full");
    uint64_t tc = epoch_ms() - 600000;
    /* a segment larger than anything else in the data dir */
    ck_assert_int_eq(put_fragments(&s, "full", 4, 100000, &tc), 4);
    char cmd[8200];
    snprintf(cmd, sizeof cmd, "find %s -type f -printf '%%s\\n' | sort -n | tail -1", s.data_dir);
    char *sh[] = {"sh", "-c", cmd, NULL};
    char *out = NULL;
    ck_assert_int_eq(fl_test_run(sh, 30000, &out, NULL), 0);
    long biggest = atol(out);
    free(out);
    ck_assert_int_gt(biggest, 1500000);
    char pid[32], lim[64];
    snprintf(pid, sizeof pid, "%d", (int)s.proc.pid);
    snprintf(lim, sizeof lim, "--fsize=%ld:unlimited", biggest + 200000);
    char *pl[] = {"prlimit", "--pid", pid, lim, NULL};
    run_ok(pl);

    /* eight fragments of 500 kB at once: the first may fit, the others
     * cannot. Whether several are in flight when the first completion
     * comes depends on the machine's speed: try again (new fragments,
     * new connection) until a round had at least two fail together. Every
     * round, every fragment acked RECEIVED must get PERSISTED or ERROR. */
    int together = 0, all_errors = 0;
    for (int round = 0; round < 10 && !together; round++) {
        int fd = putmedia_open(&s, "full");
        fl_buf_t b, got;
        fl_buf_init(&b, 0);
        fl_buf_init(&got, 0);
        mkv_header(&b);
        for (int i = 0; i < 8; i++) {
            mkv_cluster(&b, tc, 100000);
            tc += 1000;
        }
        /* the server may end the session after an ERROR while this is
         * still sending: the acks read below say what it did */
        char head[32];
        snprintf(head, sizeof head, "%zx\r\n", b.n);
        send_all_or_closed(fd, head, strlen(head), 1);
        send_all_or_closed(fd, b.p, b.n, 1);
        send_all_or_closed(fd, "\r\n0\r\n\r\n", 7, 1);
        read_acks(fd, &got, "no such thing", 1); /* to the end of the response */
        close(fd);
        if (got.n == 0) { /* reset before any answer was read: no verdict, try again */
            fl_buf_free(&b);
            fl_buf_free(&got);
            usleep(300000);
            continue;
        }
        const char *acks = (const char *)got.p;
        int received = fl_test_count(acks, "\"RECEIVED\"");
        int persisted = fl_test_count(acks, "\"PERSISTED\"");
        int errors = fl_test_count(acks, "\"ERROR\"");
        ck_assert_msg(strncmp(acks, "HTTP/1.1 200", 12) == 0 || strstr(acks, "ConnectionLimit"),
                      "%s", acks);
        ck_assert_msg(persisted + errors == received, "%d RECEIVED, %d PERSISTED, %d ERROR: %s",
                      received, persisted, errors, acks);
        ck_assert_msg(fl_test_count(acks, "\"ErrorId\":5001") == errors, "%s", acks);
        together = errors >= 2;
        all_errors += errors;
        fl_buf_free(&b);
        fl_buf_free(&got);
        usleep(300000); /* within the stream's 5 connections a second */
    }
    ck_assert_msg(together, "no round had two appends fail together");
    char *log = fl_test_proc_stderr(&s.proc);
    ck_assert_int_eq(fl_test_count(log, "not stored"), all_errors);
    free(log);

    /* room again: the producer goes on */
    char *pl2[] = {"prlimit", "--pid", pid, "--fsize=unlimited:unlimited", NULL};
    run_ok(pl2);
    ck_assert_int_eq(put_fragments(&s, "full", 2, 1000, &tc), 2);
    ck_assert(healthz_answers(&s, 0));
    fl_test_server_free(&s);
}
END_TEST

/* Unfinished fragments share --max-fragment-memory: a fragment that would
 * pass it is refused with 5000 (retry), the memory comes back, and small
 * fragments of another producer are stored meanwhile. */
START_TEST(fragment_memory_is_capped)
{
    fl_test_server_t s;
    char *extra[] = {"--max-fragment-memory", "2000000", NULL};
    fl_test_server_start(&s, NULL, extra);
    create_stream(&s, "big");
    create_stream(&s, "small");
    uint64_t tc = epoch_ms() - 60000, tc2 = tc;
    int fd = putmedia_open(&s, "big");
    fl_buf_t b, got;
    fl_buf_init(&b, 0);
    fl_buf_init(&got, 0);
    mkv_header(&b);
    mkv_cluster(&b, tc, 600000);     /* 3 MB */
    send_chunk_or_closed(fd, &b, 1); /* refused at 2 MB: it may close meanwhile */
    ck_assert(read_acks(fd, &got, "\"ERROR\"", 1));
    ck_assert_msg(strstr((const char *)got.p, "\"ErrorId\":5000") != NULL, "%s", got.p);
    close(fd);
    ck_assert_int_eq(put_fragments(&s, "small", 3, 1000, &tc2), 3);
    ck_assert(limit_hits(&s, "fragment_memory") == 1);
    /* what the refused fragment held is given back */
    long long deadline = fl_test_now_ms() + 60000;
    while (metric(&s, "framelog_fragment_memory_bytes") != 0 && fl_test_now_ms() < deadline)
        usleep(100000);
    ck_assert(metric(&s, "framelog_fragment_memory_bytes") == 0);
    fl_buf_free(&b);
    fl_buf_free(&got);
    fl_test_server_free(&s);
}
END_TEST

/* A PutMedia connection older than --putmedia-max-connection-seconds
 * ends with ERROR 4003, after the acks of what it stored. */
START_TEST(putmedia_connection_age_is_capped)
{
    fl_test_server_t s;
    char *extra[] = {"--putmedia-max-connection-seconds", "2", NULL};
    fl_test_server_start(&s, NULL, extra);
    create_stream(&s, "old");
    uint64_t tc = epoch_ms() - 600000;
    int fd = putmedia_open(&s, "old");
    fl_buf_t b, got;
    fl_buf_init(&b, 0);
    fl_buf_init(&got, 0);
    mkv_header(&b);
    send_chunk(fd, &b);
    int ended = 0;
    for (int i = 0; i < 600 && !ended; i++) {
        fl_buf_reset(&b);
        mkv_cluster(&b, tc, 1000);
        tc += 1000;
        char head[32];
        int hn = snprintf(head, sizeof head, "%zx\r\n", b.n);
        fl_buf_t c;
        fl_buf_init(&c, 0);
        fl_buf_append(&c, head, (size_t)hn);
        fl_buf_append(&c, b.p, b.n);
        fl_buf_append_str(&c, "\r\n");
        /* the server may have ended the connection meanwhile */
        ssize_t w = send(fd, c.p, c.n, MSG_NOSIGNAL);
        fl_buf_free(&c);
        if (w < 0) {
            read_acks(fd, &got, "no such thing", 1);
            ended = strstr((const char *)got.p, "\"ErrorId\":4003") != NULL;
            break;
        }
        read_acks(fd, &got, "\"PERSISTED\"", i + 1);
        ended = strstr((const char *)got.p, "\"ErrorId\":4003") != NULL;
        usleep(100000);
    }
    ck_assert_msg(ended, "no 4003: %s", got.p);
    read_acks(fd, &got, "no such thing", 1);
    const char *acks = (const char *)got.p;
    ck_assert_int_eq(fl_test_count(acks, "\"ERROR\""), 1);
    ck_assert(fl_test_count(acks, "\"PERSISTED\"") >= 1);
    ck_assert(limit_hits(&s, "putmedia_connection_age") == 1);
    close(fd);
    fl_buf_free(&b);
    fl_buf_free(&got);
    fl_test_server_free(&s);
}
END_TEST

/* New PutMedia connections to one stream are limited per second:
 * ConnectionLimitExceededException past it. */
START_TEST(putmedia_connection_rate_is_capped)
{
    fl_test_server_t s;
    char *extra[] = {"--putmedia-max-connections-per-second", "1", NULL};
    fl_test_server_start(&s, NULL, extra);
    create_stream(&s, "flap");
    int refused = 0;
    for (int i = 0; i < 10; i++) {
        int fd = putmedia_open(&s, "flap");
        fl_buf_t got;
        fl_buf_init(&got, 0);
        read_acks(fd, &got, "\r\n\r\n", 1);
        if (strncmp((const char *)got.p, "HTTP/1.1 400", 12) == 0) {
            read_acks(fd, &got, "no such thing", 1);
            ck_assert_msg(strcasestr((const char *)got.p,
                                     "x-amzn-ErrorType: ConnectionLimitExceededException"),
                          "%s", got.p);
            refused++;
        }
        close(fd);
        fl_buf_free(&got);
    }
    ck_assert_int_ge(refused, 1);
    ck_assert(limit_hits(&s, "putmedia_connection_rate") == refused);
    fl_test_server_free(&s);
}
END_TEST

/* A stream's upload past --putmedia-max-bytes-per-second is read more
 * slowly, not refused: every fragment is still stored. */
START_TEST(putmedia_upload_rate_slows_the_producer)
{
    fl_test_server_t s;
    char *extra[] = {"--putmedia-max-bytes-per-second", "200000", NULL};
    fl_test_server_start(&s, NULL, extra);
    create_stream(&s, "fast");
    uint64_t tc = epoch_ms() - 600000;
    int fd = putmedia_open(&s, "fast");
    fl_buf_t b, got;
    fl_buf_init(&b, 0);
    fl_buf_init(&got, 0);
    mkv_header(&b);
    for (int i = 0; i < 6; i++) {
        mkv_cluster(&b, tc, 20000); /* 100 kB each */
        tc += 1000;
    }
    send_chunk(fd, &b);
    send_all(fd, "0\r\n\r\n", 5);
    read_acks(fd, &got, "no such thing", 1);
    ck_assert_msg(fl_test_count((const char *)got.p, "\"PERSISTED\"") == 6, "%s", got.p);
    ck_assert(limit_hits(&s, "putmedia_upload_rate") >= 1);
    close(fd);
    fl_buf_free(&b);
    fl_buf_free(&got);
    fl_test_server_free(&s);
}
END_TEST

/* GetMedia readers per stream are capped: ConnectionLimitExceededException
 * past --getmedia-max-readers; a reader that leaves makes room. */
START_TEST(getmedia_readers_are_capped)
{
    fl_test_server_t s;
    char *extra[] = {"--getmedia-max-readers", "2", NULL};
    fl_test_server_start(&s, NULL, extra);
    create_stream(&s, "watched");
    static const char json[] = "{\"StreamName\":\"watched\",\"StartSelector\":"
                               "{\"StartSelectorType\":\"NOW\"}}";
    char req[512];
    snprintf(req, sizeof req,
             "POST /getMedia HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
             "Content-Length: %zu\r\n\r\n%s",
             strlen(json), json);
    int r1 = dial_from(s.port, 0), r2 = dial_from(s.port, 0);
    send_all(r1, req, strlen(req));
    send_all(r2, req, strlen(req));
    long long deadline = fl_test_now_ms() + 60000;
    while (metric(&s, "framelog_live_readers") < 2 && fl_test_now_ms() < deadline)
        usleep(100000);
    ck_assert(metric(&s, "framelog_live_readers") == 2);
    char *r = http_from(&s, 0, req, strlen(req));
    ck_assert_msg(strncmp(r, "HTTP/1.1 400", 12) == 0 &&
                      strcasestr(r, "x-amzn-ErrorType: ConnectionLimitExceededException"),
                  "%s", r);
    free(r);
    ck_assert(limit_hits(&s, "getmedia_readers") == 1);
    close(r1);
    deadline = fl_test_now_ms() + 60000;
    while (metric(&s, "framelog_live_readers") > 1 && fl_test_now_ms() < deadline)
        usleep(100000);
    int r3 = dial_from(s.port, 0);
    send_all(r3, req, strlen(req));
    char buf[64];
    ck_assert_int_gt(recv(r3, buf, 12, MSG_WAITALL), 0);
    ck_assert(strncmp(buf, "HTTP/1.1 200", 12) == 0);
    close(r2);
    close(r3);
    fl_test_server_free(&s);
}
END_TEST

/* ---- all at once ---- */

/* Hundreds of slow heads, thousands of idle connections and a producer
 * pushing as fast as it can, while a well-behaved producer's fragments
 * are all acked PERSISTED and /healthz answers. */
START_TEST(many_bad_clients_beside_a_good_producer)
{
    long nofile = raise_nofile();
    int n_slow = 300, n_idle = 2000;
    if (nofile < 2 * (n_slow + n_idle) + 300)
        n_idle = (int)(nofile - 300) / 2 - n_slow;
    fl_test_server_t s;
    char *extra[] = {
        "--header-timeout", "600", "--idle-timeout", "600", "--putmedia-max-bytes-per-second",
        "1000000",          NULL};
    fl_test_server_start(&s, NULL, extra);
    create_stream(&s, "good");
    create_stream(&s, "noisy");
    int *slow = calloc((size_t)n_slow, sizeof *slow), *idle = calloc((size_t)n_idle, sizeof *idle);
    for (int i = 0; i < n_slow; i++) {
        slow[i] = dial_from(s.port, 2 + i % 100);
        ck_assert_int_ge(slow[i], 0);
        send_all(slow[i], "POST /createStream HTTP/1.1\r\nHost: x\r\n", 38);
    }
    static const char hz[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    for (int i = 0; i < n_idle; i++) {
        idle[i] = dial_from(s.port, 102 + i % 100);
        ck_assert_int_ge(idle[i], 0);
        send_all(idle[i], hz, sizeof hz - 1); /* answered, then idle */
    }
    /* the noisy producer: 20 MB as fast as it goes, from a child */
    pid_t noisy = fork();
    ck_assert_int_ge(noisy, 0);
    if (noisy == 0) {
        int fd = putmedia_open(&s, "noisy");
        fl_buf_t b;
        fl_buf_init(&b, 0);
        mkv_header(&b);
        uint64_t tc = epoch_ms() - 900000;
        for (int i = 0; i < 200; i++) {
            mkv_cluster(&b, tc, 20000);
            tc += 1000;
        }
        send_chunk(fd, &b);
        send_all(fd, "0\r\n\r\n", 5);
        _exit(0);
    }
    /* once the noisy one is being slowed down */
    long long deadline = fl_test_now_ms() + 60000;
    while (limit_hits(&s, "putmedia_upload_rate") < 1 && fl_test_now_ms() < deadline)
        usleep(100000);
    ck_assert(limit_hits(&s, "putmedia_upload_rate") >= 1);
    uint64_t tc = epoch_ms() - 600000;
    ck_assert_int_eq(put_fragments(&s, "good", 10, 2000, &tc), 10);
    ck_assert(healthz_answers(&s, 250));
    ck_assert(metric(&s, "framelog_connections_in_head") >= n_slow);
    kill(noisy, SIGKILL);
    waitpid(noisy, NULL, 0);
    for (int i = 0; i < n_slow; i++)
        close(slow[i]);
    for (int i = 0; i < n_idle; i++)
        close(idle[i]);
    free(slow);
    free(idle);
    fl_test_server_free(&s);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("server_limits");
    TCase *tc = tcase_create("heads");
    tcase_add_test(tc, slow_heads_neither_lock_out_nor_stay);
    tcase_add_test(tc, trickled_head_is_closed);
    tcase_add_test(tc, max_connections_counts_heads);
    tcase_add_test(tc, connections_per_address_are_capped);
    tcase_add_test(tc, large_heads_and_garbage_are_answered);
    tcase_add_test(tc, idle_keepalive_is_closed);
    tcase_add_test(tc, idle_timeout_restarts_at_each_request);
    suite_add_tcase(s, tc);
    tc = tcase_create("tls");
    tcase_add_test(tc, tls_policy);
    tcase_add_test(tc, sighup_reloads_the_certificate);
    tcase_add_test(tc, tls_clienthello_split_trickled_or_stalled);
    tcase_add_test(tc, tls_half_hello_then_fin_is_closed);
    tcase_add_test(tc, non_loopback_needs_tls_and_keys);
    suite_add_tcase(s, tc);
    tc = tcase_create("media");
    tcase_add_test(tc, full_disk_acks_every_received_fragment);
    tcase_add_test(tc, fragment_memory_is_capped);
    tcase_add_test(tc, putmedia_connection_age_is_capped);
    tcase_add_test(tc, putmedia_connection_rate_is_capped);
    tcase_add_test(tc, putmedia_upload_rate_slows_the_producer);
    tcase_add_test(tc, getmedia_readers_are_capped);
    suite_add_tcase(s, tc);
    tc = tcase_create("together");
    tcase_add_test(tc, many_bad_clients_beside_a_good_producer);
    suite_add_tcase(s, tc);
    return fl_test_main(s);
}
