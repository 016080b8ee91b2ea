/*
 * tests/test_server_process.c — the real framelogd as a process: it serves
 * /healthz and /metrics to a real HTTP client (curl), stops at once on
 * SIGTERM/SIGINT with its connections closed (the time is printed, not
 * asserted), and refuses bad flags, a busy
 * port, an unusable data dir and a public address with a one-line reason and
 * a non-zero exit.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

/* curl URL; returns the exit code, body in *out (malloc'd). */
static int curl(const char *url, const char *opt, char **out)
{
    char *argv[] = {"curl",      "-sS", "--max-time", "10", (char *)(opt ? opt : "-s"),
                    (char *)url, NULL};
    return fl_test_run(argv, 15000, out, NULL);
}

static char *get_ok(fl_test_server_t *s, const char *path, const char *opt)
{
    char url[256];
    snprintf(url, sizeof url, "%s%s", s->url, path);
    char *out = NULL;
    ck_assert_int_eq(curl(url, opt, &out), 0);
    return out;
}

START_TEST(healthz_answers_json)
{
    fl_test_server_t s;
    fl_test_server_start(&s, NULL, NULL);
    char *body = get_ok(&s, "/healthz", NULL);
    ck_assert_msg(strstr(body, "\"status\":\"ok\"") != NULL, "body: %s", body);
    ck_assert_ptr_nonnull(strstr(body, "\"version\":\"" FL_VERSION "\""));
    free(body);
    char *head = get_ok(&s, "/healthz", "-i");
    ck_assert_msg(strstr(head, "HTTP/1.1 200") != NULL, "%s", head);
    ck_assert_ptr_nonnull(strcasestr(head, "content-type: application/json"));
    ck_assert_ptr_nonnull(strcasestr(head, "x-amzn-RequestId: "));
    free(head);
    fl_test_server_free(&s);
}
END_TEST

START_TEST(metrics_count_requests_bytes_and_connections)
{
    fl_test_server_t s;
    fl_test_server_start(&s, NULL, NULL);
    for (int i = 0; i < 3; i++)
        free(get_ok(&s, "/healthz", NULL));
    free(get_ok(&s, "/nope", NULL)); /* curl -s exits 0 on a 404 */
    char *m = get_ok(&s, "/metrics", "-i");
    ck_assert_ptr_nonnull(strcasestr(m, "content-type: text/plain; version=0.0.4"));
    ck_assert_msg(
        fl_test_metric(m, "framelog_http_requests_total{route=\"/healthz\",status=\"200\"}") == 3,
        "%s", m);
    ck_assert(fl_test_metric(m, "framelog_http_requests_total{route=\"other\",status=\"404\"}") ==
              1);
    ck_assert(fl_test_metric(m, "framelog_http_sent_bytes_total") > 3 * 40);
    ck_assert(fl_test_metric(m, "framelog_uptime_seconds") >= 0);
    ck_assert_msg(fl_test_metric(m, "framelog_connections_total") == 5, "%s", m);
    /* the scrape's own connection is open while it is rendered */
    ck_assert(fl_test_metric(m, "framelog_open_connections") == 1);
    ck_assert_ptr_nonnull(strstr(m, "# TYPE framelog_http_requests_total counter"));
    free(m);

    /* a body counts as received bytes */
    char url[256];
    snprintf(url, sizeof url, "%s/healthz", s.url);
    char *argv[] = {"curl", "-sS", "-X", "POST", "--data-binary", "0123456789", url, NULL};
    char *out = NULL;
    ck_assert_int_eq(fl_test_run(argv, 15000, &out, NULL), 0);
    ck_assert_msg(strstr(out, "is not allowed") != NULL, "%s", out);
    free(out);
    m = get_ok(&s, "/metrics", NULL);
    ck_assert(fl_test_metric(m, "framelog_http_requests_total{route=\"other\",status=\"405\"}") ==
              1);
    free(m);
    fl_test_server_free(&s);
}
END_TEST

START_TEST(unknown_route_is_aws_shaped_404)
{
    fl_test_server_t s;
    fl_test_server_start(&s, NULL, NULL);
    char *r = get_ok(&s, "/describeNothing", "-i");
    ck_assert_msg(strstr(r, "HTTP/1.1 404") != NULL, "%s", r);
    ck_assert_ptr_nonnull(strcasestr(r, "x-amzn-ErrorType: UnknownOperationException"));
    ck_assert_ptr_nonnull(
        strstr(r, "{\"__type\":\"UnknownOperationException\",\"message\":\"no such endpoint: GET "
                  "/describeNothing\"}"));
    free(r);
    fl_test_server_free(&s);
}
END_TEST

START_TEST(oversized_body_is_413)
{
    fl_test_server_t s;
    char *extra[] = {"--max-body-bytes", "1024", NULL};
    fl_test_server_start(&s, NULL, extra);
    char *big = malloc(5000);
    memset(big, 'a', 4999);
    big[4999] = 0;
    char url[256];
    snprintf(url, sizeof url, "%s/healthz", s.url);
    /* GET with a body: /healthz exists, so the body limit is checked */
    char *argv[] = {"curl", "-sS", "-i", "-X", "GET", "--data-binary", big, url, NULL};
    char *out = NULL;
    ck_assert_int_eq(fl_test_run(argv, 15000, &out, NULL), 0);
    ck_assert_msg(strstr(out, "HTTP/1.1 413") != NULL, "%s", out);
    ck_assert_ptr_nonnull(strstr(out, "exceeds the limit of 1024"));
    free(out);
    free(big);
    /* and the server still serves */
    free(get_ok(&s, "/healthz", NULL));
    fl_test_server_free(&s);
}
END_TEST

static int connect_port(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    return fd;
}

static void stops_at_once(int sig)
{
    fl_test_server_t s;
    fl_test_server_start(&s, NULL, NULL);
    /* an idle keep-alive connection, mid-way through nothing */
    int fd = connect_port(s.port);
    const char *req = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    ck_assert_int_eq(write(fd, req, strlen(req)), (ssize_t)strlen(req));
    char buf[4096];
    size_t got = 0;
    while (!memmem(buf, got, "}\n", 2)) { /* the whole response, headers and body */
        ssize_t n = read(fd, buf + got, sizeof buf - got);
        ck_assert_int_gt(n, 0);
        got += (size_t)n;
    }
    int fd2 = connect_port(s.port); /* and one that sent nothing */

    long long t0 = fl_test_now_ms();
    kill(s.proc.pid, sig);
    /* it stops at once: the bound is for a loaded machine, the time is
     * printed (timing is measured in bench/, never asserted here) */
    int st = fl_test_wait(&s.proc, 60000);
    long long dt = fl_test_now_ms() - t0;
    ck_assert_msg(st != -1, "framelogd still running 60 s after signal %d", sig);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "exit status %d", st);
    fprintf(stderr, "signal %d: framelogd stopped in %lld ms\n", sig, dt);

    /* both connections were closed: reads see EOF (or a reset), not a hang */
    for (int i = 0; i < 2; i++) {
        int f = i ? fd2 : fd;
        struct pollfd p = {.fd = f, .events = POLLIN};
        ck_assert_int_eq(poll(&p, 1, 2000), 1);
        ck_assert_int_le(read(f, buf, sizeof buf), 0);
        close(f);
    }
    char *log = fl_test_proc_stderr(&s.proc);
    ck_assert_msg(strstr(log, sig == SIGINT ? "stopping on SIGINT" : "stopping on SIGTERM"), "%s",
                  log);
    ck_assert_ptr_nonnull(strstr(log, "stopped after"));
    free(log);
    fl_test_server_free(&s);
}

START_TEST(sigterm_stops_at_once)
{
    stops_at_once(SIGTERM);
}
END_TEST

START_TEST(sigint_stops_at_once)
{
    stops_at_once(SIGINT);
}
END_TEST

/* Run framelogd with args to completion; exit code and stderr. */
static int run_framelogd(char **args, char **err, char **out)
{
    char *argv[32] = {FL_FRAMELOGD};
    int n = 1;
    for (int i = 0; args[i]; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    return fl_test_run(argv, 10000, out, err);
}

/* exactly one line, with the expected text */
static void assert_one_line(const char *err, const char *needle)
{
    ck_assert_msg(strstr(err, needle) != NULL, "stderr '%s' lacks '%s'", err, needle);
    ck_assert_msg(strncmp(err, "framelogd: ", 11) == 0, "stderr: %s", err);
    const char *nl = strchr(err, '\n');
    ck_assert_msg(nl && nl[1] == 0, "not one line: '%s'", err);
}

START_TEST(busy_port_is_refused_clearly)
{
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(ls, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(listen(ls, 1), 0);
    socklen_t sl = sizeof a;
    getsockname(ls, (struct sockaddr *)&a, &sl);
    char listen_arg[64], expect[128];
    snprintf(listen_arg, sizeof listen_arg, "127.0.0.1:%d", ntohs(a.sin_port));
    snprintf(expect, sizeof expect, "cannot listen on %s: address already in use", listen_arg);
    char *dir = fl_test_mkdtemp("busy");
    char *args[] = {"--listen", listen_arg, "--data-dir", dir, NULL};
    char *err = NULL;
    ck_assert_int_eq(run_framelogd(args, &err, NULL), 1);
    assert_one_line(err, expect);
    free(err);
    close(ls);
    fl_test_rmtree(dir);
}
END_TEST

START_TEST(bad_flag_exits_2)
{
    char *args[] = {"--listen", "nonsense", NULL};
    char *err = NULL;
    ck_assert_int_eq(run_framelogd(args, &err, NULL), 2);
    assert_one_line(err, "--listen: 'nonsense' is not HOST:PORT");
    free(err);
    char *args2[] = {"--frobnicate", NULL};
    ck_assert_int_eq(run_framelogd(args2, &err, NULL), 2);
    assert_one_line(err, "unknown option '--frobnicate'");
    free(err);
}
END_TEST

START_TEST(unusable_data_dir_is_refused)
{
    /* a regular file where the data dir should be: refused even as root */
    char *dir = fl_test_mkdtemp("dd");
    char file[4200];
    snprintf(file, sizeof file, "%s/plain-file", dir);
    ck_assert_int_eq(fl_test_write_file(file, "x", 1), 0);
    char sub[4300];
    snprintf(sub, sizeof sub, "%s/below", file);
    char *err = NULL;
    char *args[] = {"--listen", "127.0.0.1:0", "--data-dir", file, NULL};
    ck_assert_int_eq(run_framelogd(args, &err, NULL), 1);
    assert_one_line(err, "cannot use data dir");
    ck_assert_ptr_nonnull(strstr(err, "Not a directory"));
    free(err);
    char *args2[] = {"--listen", "127.0.0.1:0", "--data-dir", sub, NULL};
    ck_assert_int_eq(run_framelogd(args2, &err, NULL), 1);
    assert_one_line(err, "cannot use data dir");
    free(err);
    fl_test_rmtree(dir);
}
END_TEST

START_TEST(public_address_without_keys_is_refused)
{
    char *dir = fl_test_mkdtemp("pub");
    char *args[] = {"--listen", "0.0.0.0:0", "--data-dir", dir, NULL};
    char *err = NULL;
    ck_assert_int_eq(run_framelogd(args, &err, NULL), 1);
    assert_one_line(err, "refusing to listen on 0.0.0.0:0");
    free(err);
    fl_test_rmtree(dir);
}
END_TEST

START_TEST(help_and_version)
{
    char *out = NULL, *err = NULL;
    char *args[] = {"--version", NULL};
    ck_assert_int_eq(run_framelogd(args, &err, &out), 0);
    ck_assert_str_eq(out, "framelogd " FL_VERSION "\n");
    free(out);
    free(err);
    char *args2[] = {"--help", NULL};
    ck_assert_int_eq(run_framelogd(args2, &err, &out), 0);
    ck_assert_ptr_nonnull(strstr(out, "--listen HOST:PORT"));
    ck_assert_ptr_nonnull(strstr(out, "--data-dir DIR"));
    ck_assert_ptr_nonnull(strstr(out, "--tls-cert FILE"));
    ck_assert_ptr_nonnull(strstr(out, "--log-level LEVEL"));
    free(out);
    free(err);
}
END_TEST

START_TEST(log_lines_have_time_and_level)
{
    fl_test_server_t s;
    fl_test_server_start(&s, NULL, NULL);
    fl_test_server_stop(&s, 2000);
    char *log = fl_test_proc_stderr(&s.proc);
    /* every line: 2026-11-23T23:59:59.123Z LEVEL text */
    int lines = 0;
    for (char *line = log; *line;) {
        char *nl = strchr(line, '\n');
        ck_assert_ptr_nonnull(nl);
        ck_assert_msg(nl - line > 30 && line[4] == '-' && line[10] == 'T' && line[23] == 'Z',
                      "bad line: %.*s", (int)(nl - line), line);
        ck_assert(strncmp(line + 25, "INFO", 4) == 0 || strncmp(line + 25, "WARN", 4) == 0 ||
                  strncmp(line + 25, "ERROR", 5) == 0 || strncmp(line + 25, "DEBUG", 5) == 0);
        lines++;
        line = nl + 1;
    }
    ck_assert_int_ge(lines, 4);
    ck_assert_ptr_nonnull(strstr(log, "running open"));
    ck_assert_ptr_nonnull(strstr(log, "config: listen=127.0.0.1:0"));
    free(log);
    fl_test_server_free(&s);
}
END_TEST

START_TEST(tls_listener_serves_https)
{
    if (!fl_test_have("openssl")) {
        ck_abort_msg("openssl CLI missing: scripts/deps.sh --test installs it");
    }
    char *dir = fl_test_mkdtemp("tls");
    char cert[4200], key[4200];
    fl_test_tls_cert(dir, cert, key, sizeof cert);
    fl_test_server_t s;
    char *extra[] = {"--tls-cert", cert, "--tls-key", key, NULL};
    fl_test_server_start(&s, NULL, extra);
    char *log = fl_test_proc_stderr(&s.proc);
    ck_assert_ptr_nonnull(strstr(log, "listening on https://127.0.0.1:"));
    free(log);
    char url[256];
    snprintf(url, sizeof url, "https://127.0.0.1:%d/healthz", s.port);
    char *argv[] = {"curl", "-sS", "--cacert", cert, url, NULL};
    char *out = NULL;
    ck_assert_int_eq(fl_test_run(argv, 15000, &out, NULL), 0);
    ck_assert_msg(strstr(out, "\"status\":\"ok\"") != NULL, "%s", out);
    free(out);
    fl_test_server_free(&s);

    /* a missing key file is a clear start-up error */
    char *bad[] = {"--listen", "127.0.0.1:0", "--data-dir",           dir, "--tls-cert",
                   cert,       "--tls-key",   "/nonexistent/key.pem", NULL};
    char *err = NULL;
    ck_assert_int_eq(run_framelogd(bad, &err, NULL), 1);
    assert_one_line(err, "cannot read --tls-key /nonexistent/key.pem");
    free(err);
    fl_test_rmtree(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("server_process");
    TCase *tc = tcase_create("serving");
    tcase_add_test(tc, healthz_answers_json);
    tcase_add_test(tc, metrics_count_requests_bytes_and_connections);
    tcase_add_test(tc, unknown_route_is_aws_shaped_404);
    tcase_add_test(tc, oversized_body_is_413);
    tcase_add_test(tc, tls_listener_serves_https);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    tc = tcase_create("lifecycle");
    tcase_add_test(tc, sigterm_stops_at_once);
    tcase_add_test(tc, sigint_stops_at_once);
    tcase_add_test(tc, log_lines_have_time_and_level);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    tc = tcase_create("refusals");
    tcase_add_test(tc, busy_port_is_refused_clearly);
    tcase_add_test(tc, bad_flag_exits_2);
    tcase_add_test(tc, unusable_data_dir_is_refused);
    tcase_add_test(tc, public_address_without_keys_is_refused);
    tcase_add_test(tc, help_and_version);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    return fl_test_main(s);
}
