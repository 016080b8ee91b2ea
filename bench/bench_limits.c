/*
 * bench/bench_limits.c — what slow-header clients cost the others, as a
 * ratio to a run without them in the same process.
 *
 *   bench_limits [-n SLOW] [-f FRAGMENTS] [-d DIR]
 *
 * Starts framelogd (the build's) on a free loopback port, creates a
 * stream, and runs twice the same measurement:
 *   - a well-behaved producer: one PutMedia connection (HTTP, chunked),
 *     a 20 kB fragment every 100 ms, FRAGMENTS of them (default 100); the
 *     latency is from a fragment's last byte sent to its PERSISTED ack;
 *   - a new request: GET /healthz on a fresh connection every 100 ms, from
 *     connect to the end of the answer (what a reconnecting camera, the
 *     control plane or a health check meets).
 * The reference run has nothing else; the other has SLOW connections
 * (default 1,100) that sent part of a request head and nothing more, from
 * 127.0.0.2 and up, reopened as the server closes them (--header-timeout).
 * Prints p50/p99 of both in both runs and the ratios of the p99s. With the
 * header pool of 1,024 that framelogd had, the /healthz of the second run
 * waited for seconds or was reset (docs/security.md).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_common.h"
#include "common/bytes.h"
#include "common/clock.h"
#include "media/mkv_writer.h"

static int dial(int port, int src)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct timeval tv = {.tv_sec = 30};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (src) {
        struct sockaddr_in b = {.sin_family = AF_INET};
        b.sin_addr.s_addr = htonl(0x7f000000u | (uint32_t)src);
        bind(fd, (struct sockaddr *)&b, sizeof b);
    }
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int send_all(int fd, const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n) {
        ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
        if (w <= 0)
            return -1;
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

static void create_stream(int port, const char *name)
{
    char json[128], req[512];
    snprintf(json, sizeof json, "{\"StreamName\":\"%s\",\"DataRetentionInHours\":24}", name);
    snprintf(req, sizeof req,
             "POST /createStream HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n"
             "Connection: close\r\n\r\n%s",
             strlen(json), json);
    int fd = dial(port, 0);
    if (fd < 0 || send_all(fd, req, strlen(req)) != 0) {
        fprintf(stderr, "bench_limits: cannot create the stream\n");
        exit(1);
    }
    char buf[2048];
    while (recv(fd, buf, sizeof buf, 0) > 0)
        ;
    close(fd);
}

/* ---- the slow heads, kept open by a thread ---- */

typedef struct {
    int port, n;
    int *fds;
    _Atomic int stop;
    _Atomic long reopened;
} slow_t;

static void *slow_main(void *arg)
{
    slow_t *s = arg;
    static const char part[] = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ";
    while (!atomic_load(&s->stop)) {
        for (int i = 0; i < s->n && !atomic_load(&s->stop); i++) {
            char c;
            if (s->fds[i] >= 0) {
                ssize_t r = recv(s->fds[i], &c, 1, MSG_DONTWAIT);
                if (!(r == 0 || (r < 0 && errno != EAGAIN)))
                    continue; /* still open */
                close(s->fds[i]);
                atomic_fetch_add(&s->reopened, 1);
            }
            s->fds[i] = dial(s->port, 2 + i % 200);
            if (s->fds[i] >= 0)
                send_all(s->fds[i], part, sizeof part - 1);
        }
        usleep(100000);
    }
    return NULL;
}

/* ---- one measured run ---- */

typedef struct {
    int64_t *ack, *hz;
    size_t n_ack, n_hz;
    int hz_failed;
} run_t;

typedef struct {
    int port, fragments;
    run_t *out;
    _Atomic int done;
} hz_arg_t;

static void *healthz_main(void *arg)
{
    hz_arg_t *h = arg;
    static const char req[] = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    while (!atomic_load(&h->done)) {
        int64_t t0 = fl_time_mono_ns();
        int fd = dial(h->port, 250);
        int ok = 0;
        if (fd >= 0 && send_all(fd, req, sizeof req - 1) == 0) {
            char buf[1024];
            ssize_t r;
            while ((r = recv(fd, buf, sizeof buf, 0)) > 0)
                ok = 1;
            ok = ok && r == 0;
        }
        if (fd >= 0)
            close(fd);
        if (ok)
            h->out->hz[h->out->n_hz++] = fl_time_mono_ns() - t0;
        else
            h->out->hz_failed++;
        usleep(100000);
    }
    return NULL;
}

static void mkv_header(fl_buf_t *b)
{
    fl_mkv_write_ebml_header(b, NULL);
    fl_mkv_write_segment_start(b);
    fl_mkv_info_t info = {0};
    info.muxing_app = fl_slice_str("bench");
    info.writing_app = fl_slice_str("bench");
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

static void chunk(fl_buf_t *out, const fl_buf_t *b)
{
    fl_buf_printf(out, "%zx\r\n", b->n);
    fl_buf_append(out, b->p, b->n);
    fl_buf_append_str(out, "\r\n");
}

static int count_persisted(const char *s)
{
    int n = 0;
    for (const char *p = s; (p = strstr(p, "\"PERSISTED\"")); p++)
        n++;
    return n;
}

static void measure(int port, int fragments, uint64_t *tc, run_t *out)
{
    hz_arg_t h = {.port = port, .fragments = fragments, .out = out};
    pthread_t th;
    pthread_create(&th, NULL, healthz_main, &h);
    int fd = dial(port, 0);
    static const char head[] =
        "POST /putMedia HTTP/1.1\r\nHost: 127.0.0.1\r\nx-amzn-stream-name: good\r\n"
        "x-amzn-fragment-timecode-type: ABSOLUTE\r\nTransfer-Encoding: chunked\r\n\r\n";
    fl_buf_t b, c, got;
    fl_buf_init(&b, 0);
    fl_buf_init(&c, 0);
    fl_buf_init(&got, 0);
    mkv_header(&b);
    chunk(&c, &b);
    if (fd < 0 || send_all(fd, head, sizeof head - 1) || send_all(fd, c.p, c.n)) {
        fprintf(stderr, "bench_limits: cannot start PutMedia\n");
        exit(1);
    }
    uint8_t frame[4000];
    for (int i = 0; i < fragments; i++) {
        fl_buf_reset(&b);
        fl_buf_reset(&c);
        size_t mark;
        fl_mkv_write_cluster_begin(&b, *tc, &mark);
        for (int k = 0; k < 5; k++) {
            memset(frame, k + i, sizeof frame);
            fl_mkv_write_simple_block(&b, 1, 20 * k, k == 0, fl_slice(frame, sizeof frame));
        }
        fl_mkv_write_cluster_end(&b, mark);
        *tc += 100;
        chunk(&c, &b);
        int64_t t0 = fl_time_mono_ns();
        if (send_all(fd, c.p, c.n) != 0)
            break;
        while (1) {
            fl_buf_u8(&got, 0);
            got.n--;
            if (count_persisted((const char *)got.p) > i)
                break;
            char buf[4096];
            ssize_t r = recv(fd, buf, sizeof buf, 0);
            if (r <= 0) {
                fprintf(stderr, "bench_limits: the ack stream ended\n");
                exit(1);
            }
            fl_buf_append(&got, buf, (size_t)r);
        }
        out->ack[out->n_ack++] = fl_time_mono_ns() - t0;
        usleep(100000);
    }
    send_all(fd, "0\r\n\r\n", 5);
    close(fd);
    atomic_store(&h.done, 1);
    pthread_join(th, NULL);
    fl_buf_free(&b);
    fl_buf_free(&c);
    fl_buf_free(&got);
}

int main(int argc, char **argv)
{
    int n_slow = 1100, fragments = 100;
    const char *base = "/var/tmp";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "-n") == 0)
            n_slow = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "-f") == 0)
            fragments = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "-d") == 0)
            base = argv[i + 1];
    }
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    signal(SIGPIPE, SIG_IGN);
    char dir[512];
    snprintf(dir, sizeof dir, "%s/bench_limits.%d", base, (int)getpid());
    int port = 0;
    const char *const extra[] = {NULL};
    pid_t srv = fl_bench_start_framelogd(FL_FRAMELOGD, dir, extra, &port);
    create_stream(port, "good");
    uint64_t tc;
    {
        struct timeval tv;
        gettimeofday(&tv, NULL);
        tc = (uint64_t)tv.tv_sec * 1000 - 3600000;
    }
    size_t cap = (size_t)fragments * 4 + 1000;
    run_t runs[2];
    for (int k = 0; k < 2; k++) {
        memset(&runs[k], 0, sizeof runs[k]);
        runs[k].ack = calloc(cap, sizeof(int64_t));
        runs[k].hz = calloc(cap, sizeof(int64_t));
    }
    measure(port, fragments, &tc, &runs[0]);

    slow_t s = {.port = port, .n = n_slow};
    s.fds = malloc((size_t)n_slow * sizeof *s.fds);
    for (int i = 0; i < n_slow; i++)
        s.fds[i] = -1;
    pthread_t st;
    pthread_create(&st, NULL, slow_main, &s);
    usleep(1000000); /* they are open */
    measure(port, fragments, &tc, &runs[1]);
    atomic_store(&s.stop, 1);
    pthread_join(st, NULL);
    for (int i = 0; i < n_slow; i++)
        if (s.fds[i] >= 0)
            close(s.fds[i]);

    const char *names[2] = {"alone", "slow heads"};
    double p99a[2], p99h[2];
    for (int k = 0; k < 2; k++) {
        run_t *r = &runs[k];
        qsort(r->ack, r->n_ack, sizeof(int64_t), fl_bench_cmp_i64);
        qsort(r->hz, r->n_hz, sizeof(int64_t), fl_bench_cmp_i64);
        p99a[k] = fl_bench_pct(r->ack, r->n_ack, 0.99);
        p99h[k] = fl_bench_pct(r->hz, r->n_hz, 0.99);
        printf("%-11s PERSISTED p50 %7.2f ms p99 %7.2f ms (%zu) | /healthz p50 %7.2f ms p99 "
               "%7.2f ms (%zu, %d failed)\n",
               names[k], fl_bench_pct(r->ack, r->n_ack, 0.5), p99a[k], r->n_ack,
               fl_bench_pct(r->hz, r->n_hz, 0.5), p99h[k], r->n_hz, r->hz_failed);
    }
    printf("with %d slow heads (%ld reopened): PERSISTED p99 x%.2f, /healthz p99 x%.2f of the "
           "run alone\n",
           n_slow, atomic_load(&s.reopened), p99a[1] / p99a[0], p99h[1] / p99h[0]);
    kill(srv, SIGTERM);
    waitpid(srv, NULL, 0);
    char rm[1200];
    snprintf(rm, sizeof rm, "rm -rf %s %s.log", dir, dir);
    if (system(rm) != 0)
        fprintf(stderr, "bench_limits: could not remove %s\n", dir);
    return 0;
}
