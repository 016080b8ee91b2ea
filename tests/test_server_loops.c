/*
 * tests/test_server_loops.c — framelogd with several event loops against
 * the real server: many producers (curl, chunked POST /putMedia, paced by
 * --limit-rate so that each takes seconds) push at once while a GetMedia
 * reader per stream (curl, from EARLIEST, started once every producer is
 * in) reads what is stored and then follows the live tail until its
 * producer ends; the kernel spreads the connections over the loops,
 * so producers and readers of one stream land on different loops and the
 * frames cross through the loops' inboxes. Every reader must get every
 * frame of its stream, in order (ffprobe's packet list, compared line by
 * line: counts, never time). And --loops 1 still serves the same way.
 *
 * What main's features keep on several loops: a hook (framecount) loaded
 * into the four-loop run sees every frame of every stream exactly once,
 * whichever loop the producer and the tail are on; the per-address
 * connection cap holds over the loops (connections from one address
 * spread over two loops are counted together).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "media_harness.h"

#define MAX_STREAMS 12

/* Start a reader of stream into out, from EARLIEST (then live). */
static void spawn_reader(const fl_test_server_t *s, const char *stream, const char *out,
                         fl_test_proc_t *p)
{
    static char url[256], body[MAX_STREAMS][512];
    static int k;
    snprintf(url, sizeof url, "%s/getMedia", s->url);
    char *b = body[k++ % MAX_STREAMS];
    snprintf(b, 512,
             "{\"StreamName\":\"%s\",\"StartSelector\":{\"StartSelectorType\":\"EARLIEST\"}}",
             stream);
    char *argv[] = {"curl",      "-sS",           "-N", "--max-time", "120", "-o",
                    (char *)out, "--data-binary", b,    url,          NULL};
    ck_assert_int_eq(fl_test_spawn(p, argv, NULL), 0);
}

/* Start a producer pushing the test file to stream, paced. */
static void spawn_producer(const fl_test_server_t *s, const char *stream, double start,
                           fl_test_proc_t *p)
{
    ck_assert_int_eq(put_media_spawn(s, stream, g_mkv, start, "20k", p), 0);
}

static int lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static char *get_metrics(const fl_test_server_t *s)
{
    char url[256], *m = NULL;
    snprintf(url, sizeof url, "%s/metrics", s->url);
    char *argv[] = {"curl", "-sS", url, NULL};
    ck_assert_int_eq(fl_test_run(argv, 10000, &m, NULL), 0);
    ck_assert_ptr_nonnull(m);
    return m;
}

/* n streams, n producers at once, then a reader each; every reader gets
 * every frame; with_hook: framecount counts every frame once. */
static void many_producers_and_readers(const char *loops, int n, int with_hook)
{
    make_media();
    fl_test_server_t s;
    char *args[] = {"--loops", (char *)loops, with_hook ? "--hook" : NULL, FL_FRAMECOUNT, NULL};
    ck_assert_int_eq(fl_test_server_start(&s, NULL, args), 0);
    char name[MAX_STREAMS][32], out[MAX_STREAMS][4300];
    fl_test_proc_t readers[MAX_STREAMS], producers[MAX_STREAMS];
    for (int i = 0; i < n; i++) {
        snprintf(name[i], sizeof name[i], "loops%d", i);
        snprintf(out[i], sizeof out[i], "%s/live%d.mkv", g_dir, i);
        create_stream(&s, name[i]);
    }
    double start = (double)time(NULL);
    for (int i = 0; i < n; i++)
        spawn_producer(&s, name[i], start, &producers[i]);
    /* every producer is in (or a minute passed) before the readers start */
    char *metrics = NULL;
    long long until = fl_test_now_ms() + 60000;
    for (;;) {
        free(metrics);
        metrics = NULL;
        char url[256];
        snprintf(url, sizeof url, "%s/metrics", s.url);
        char *argv[] = {"curl", "-sS", url, NULL};
        fl_test_run(argv, 10000, &metrics, NULL);
        if ((metrics && fl_test_metric(metrics, "framelog_producers") >= n) ||
            fl_test_now_ms() > until)
            break;
        usleep(100000);
    }
    /* (on a loaded machine the first may be done before the last is in:
     * the readers then find those in storage, which is fine) */
    ck_assert_ptr_nonnull(metrics);
    /* the kernel spread them: with several loops, more than one has
     * connections (12 over 4 loops all on one: 4 / 4^12) */
    int used = 0, n_loops = atoi(loops);
    for (int k = 0; k < n_loops; k++) {
        char series[80];
        snprintf(series, sizeof series, "framelog_loop_open_connections{loop=\"%d\"}", k);
        used += fl_test_metric(metrics, series) > 0;
    }
    ck_assert_msg(n_loops == 1 ? used == 1 : used > 1 || fl_test_now_ms() > until,
                  "connections on %d of %d loops", used, n_loops);
    free(metrics);
    for (int i = 0; i < n; i++)
        spawn_reader(&s, name[i], out[i], &readers[i]);
    for (int i = 0; i < n; i++) {
        ck_assert_int_eq(fl_test_wait(&producers[i], 120000), 0);
        fl_test_proc_free(&producers[i]);
    }
    /* a reader's response ends once its producer is gone */
    for (int i = 0; i < n; i++) {
        ck_assert_int_ne(fl_test_wait(&readers[i], 120000), -1);
        fl_test_proc_free(&readers[i]);
    }
    /* with several loops, frames did cross: readers on another loop than
     * their stream's tail (12 streams: all on one loop each, 1 / 4^12) */
    if (n_loops > 1) {
        char url[256];
        snprintf(url, sizeof url, "%s/metrics", s.url);
        char *argv[] = {"curl", "-sS", url, NULL};
        ck_assert_int_eq(fl_test_run(argv, 10000, &metrics, NULL), 0);
        ck_assert_msg(fl_test_metric(metrics, "framelog_live_remote_events_total") > 0,
                      "no live event crossed loops");
        free(metrics);
    }
    char *pin = probe(g_mkv);
    for (int i = 0; i < n; i++) {
        char *pout = probe(out[i]);
        /* the same packets in the same order: each reader saw every frame
         * of its stream (timestamps are the producer's, shifted by start) */
        ck_assert_msg(lines(pin) == lines(pout), "stream %d: %d packets in, %d out", i, lines(pin),
                      lines(pout));
        same_packets(pin, pout, (long long)start * 1000);
        free(pout);
    }
    if (with_hook) {
        /* the hook's thread may still be at it: wait for the count (or a
         * minute), then it must be every frame of every stream, once */
        int want = n * lines(pin);
        double got = 0;
        metrics = NULL; /* (freed above) */
        long long until_h = fl_test_now_ms() + 60000;
        do {
            free(metrics);
            metrics = get_metrics(&s);
            got = fl_test_metric(metrics, "framelog_hook_frames_total{hook=\"framecount\"}");
            if (got >= want)
                break;
            usleep(100000);
        } while (fl_test_now_ms() < until_h);
        ck_assert_int_eq(
            (int)fl_test_metric(metrics, "framelog_hook_dropped_total{hook=\"framecount\"}"), 0);
        ck_assert_msg((int)got == want, "the hook saw %d frames of %d", (int)got, want);
        free(metrics);
    }
    free(pin);
    fl_test_server_free(&s);
    fl_test_rmtree(g_dir);
}

START_TEST(many_producers_across_loops_reach_live_readers_on_other_loops)
{
    many_producers_and_readers("4", MAX_STREAMS, 1);
}
END_TEST

START_TEST(one_loop_still_serves)
{
    many_producers_and_readers("1", 3, 0);
}
END_TEST

/* --max-connections-per-address over two loops: twelve connections from
 * 127.0.0.2 (the kernel spreads them over both loops' listen sockets),
 * each sending half a request head so that it stays open; exactly the
 * cap's three stay, the others are refused and counted. (/metrics is read
 * from 127.0.0.1, another address.) */
START_TEST(per_address_cap_holds_across_loops)
{
    fl_test_server_t s;
    /* (a long --header-timeout: the kept ones must outlive a slow check) */
    char *args[] = {"--loops", "2", "--max-connections-per-address", "3", "--header-timeout",
                    "300",     NULL};
    ck_assert_int_eq(fl_test_server_start(&s, NULL, args), 0);
    enum { N = 12 };
    int fd[N];
    for (int i = 0; i < N; i++) {
        fd[i] = socket(AF_INET, SOCK_STREAM, 0);
        ck_assert_int_ge(fd[i], 0);
        struct sockaddr_in me = {.sin_family = AF_INET};
        inet_pton(AF_INET, "127.0.0.2", &me.sin_addr);
        ck_assert_int_eq(bind(fd[i], (struct sockaddr *)&me, sizeof me), 0);
        struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s.port)};
        inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
        ck_assert_int_eq(connect(fd[i], (struct sockaddr *)&to, sizeof to), 0);
        static const char half[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n";
        (void)!write(fd[i], half, sizeof half - 1);
    }
    /* every connection was looked at: N - 3 refusals counted (or a minute) */
    char *m = NULL;
    double hits = 0;
    long long until = fl_test_now_ms() + 60000;
    do {
        free(m);
        m = get_metrics(&s);
        hits =
            fl_test_metric(m, "framelog_limit_hits_total{limit=\"max_connections_per_address\"}");
        if (hits >= N - 3)
            break;
        usleep(100000);
    } while (fl_test_now_ms() < until);
    free(m);
    ck_assert_int_eq((int)hits, N - 3);
    /* the refused ones are closed by the server (EOF or reset), the three
     * kept ones are still open */
    int open = 0;
    for (int i = 0; i < N; i++) {
        struct pollfd p = {.fd = fd[i], .events = POLLIN};
        char c;
        int closed = poll(&p, 1, 2000) == 1 && recv(fd[i], &c, 1, MSG_DONTWAIT) <= 0;
        open += !closed;
        close(fd[i]);
    }
    ck_assert_int_eq(open, 3);
    fl_test_server_free(&s);
}
END_TEST

/* /metrics shows each loop's own series, one per loop. */
START_TEST(metrics_have_a_series_per_loop)
{
    fl_test_server_t s;
    char *args[] = {"--loops", "3", NULL};
    ck_assert_int_eq(fl_test_server_start(&s, NULL, args), 0);
    char url[256], *m = NULL;
    snprintf(url, sizeof url, "%s/metrics", s.url);
    char *argv[] = {"curl", "-sS", url, NULL};
    ck_assert_int_eq(fl_test_run(argv, 10000, &m, NULL), 0);
    ck_assert_ptr_nonnull(strstr(m, "framelog_loop_cpu_seconds_total{loop=\"2\"}"));
    ck_assert_ptr_null(strstr(m, "framelog_loop_cpu_seconds_total{loop=\"3\"}"));
    ck_assert_ptr_nonnull(strstr(m, "framelog_loop_late_ticks_total{loop=\"0\"}"));
    ck_assert_ptr_nonnull(strstr(m, "framelog_event_loop_lag_ms_count"));
    free(m);
    fl_test_server_free(&s);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("server_loops");
    TCase *tc = tcase_create("loops");
    tcase_set_timeout(tc, 400);
    tcase_add_test(tc, many_producers_across_loops_reach_live_readers_on_other_loops);
    tcase_add_test(tc, one_loop_still_serves);
    tcase_add_test(tc, metrics_have_a_series_per_loop);
    tcase_add_test(tc, per_address_cap_holds_across_loops);
    suite_add_tcase(su, tc);
    return fl_test_main(su);
}
