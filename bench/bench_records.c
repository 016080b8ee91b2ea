/*
 * bench/bench_records.c — the Kinesis Data Streams API's PutRecords and
 * GetRecords against the real framelogd, beside kinesalite (the local
 * Kinesis emulator, from npm) driven by the same client in the same run,
 * and beside the raw disk (write+fdatasync, pread) measured in the run.
 *
 *   bench_records [-s SECONDS] [-d DIR] [-c MIB] [-k CASES] [-b CONNS]
 *                 [-S CONNS] [-l LOOPS] [-r READS] [-K]
 *
 * LOOPS: framelogd's --loops (default 1: its default); -K leaves
 * kinesalite out (for profiling framelogd alone).
 *
 * CASES: a comma-separated list of the PutRecords cases' numbers (0-7, in
 * the order printed) to run, e.g. -k 6,7 for the 1 KiB batches (default:
 * all, and none of them when no number is in 0-7: -k none runs the
 * catch-up alone); -c 0 skips the catch-up.
 *
 * PutRecords cases: records of 100 B and 1 KiB, batches of 1 (PutRecord)
 * and 500 (PutRecords), streams of 1 and 64 shards; each for SECONDS
 * (default 5) on framelogd (durable: answered after fdatasync, throughput
 * limits off with --records-throttle 0) and on kinesalite (in memory, no
 * fsync). The client is this process: C threads, each with one keep-alive
 * HTTP/1.1 connection and a request body built once (random partition
 * keys, so the records spread over the shards), sending the next call as
 * soon as the answer is in (-S CONNS, default 16, for single records: each
 * waits for its fdatasync, so more connections in flight share one; -b
 * CONNS, default 4, for batches: more do not raise framelogd's throughput, see
 * docs/records.md "Benchmark"). It reads every answer and counts records
 * that failed. Printed per case: records/s, data MB/s and call latency
 * p50/p99 for each server, each server's CPU time per record ("us/rec",
 * user + system from /proc) and this client's ("cl us", the same for both
 * servers: the client is not what limits), the ratio of framelogd's
 * records/s to kinesalite's (target >= 50), and for batches framelogd's
 * MB/s against raw write+fdatasync of one batch's bytes per fdatasync
 * (target >= 0.7 for 1 KiB; "raw MB/s" is that reference: the mean of one
 * measure just before framelogd's case and one just after, SECONDS/2
 * each, so that the disk's drift through a run hits both sides alike).
 * CPU per record is the figure that holds on a loaded machine; throughput
 * and the ratios move with the load.
 *
 * Catch-up: MIB (default 256) of 1 KiB records into one shard, then read
 * back with GetRecords (Limit 10000) from TRIM_HORIZON to the end, against
 * pread of a file of the same size in the same run (in 1 MiB reads, just
 * after each read of the shard). READS (default 1, at most 64): how many
 * times the shard is read, each with its own pread and ratio, then their
 * median and best. Printed per read: MB/s, and the CPU time framelogd and
 * this client used in it (the client receives the answers and counts
 * their records).
 *
 * kinesalite is bench/node/node_modules/kinesalite (scripts/deps.sh
 * --bench installs it); without it the kinesalite columns say so.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_common.h"
#include "common/base64.h"
#include "common/bytes.h"
#include "common/clock.h"

#define MAX_CONNS 256

static int batch_conns = 4;     /* -b */
static int single_conns = 16;   /* -S */
static const char *loops = "1"; /* -l */

/* ---- a keep-alive HTTP/1.1 client ---- */

typedef struct {
    int fd;
    char *in;
    size_t in_n, in_cap;
} conn_t;

static int conn_open(conn_t *c, int port)
{
    memset(c, 0, sizeof *c);
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(c->fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(c->fd);
        return -1;
    }
    c->in_cap = 1 << 16;
    c->in = malloc(c->in_cap);
    return 0;
}

static void conn_close(conn_t *c)
{
    if (c->fd >= 0)
        close(c->fd);
    free(c->in);
    c->fd = -1;
}

/* POST / with target and body; the answer's status and body (pointing
 * into c->in, valid until the next call). 0 or -1. */
static int call(conn_t *c, const char *target, const char *body, size_t n, int *status,
                const char **rbody, size_t *rlen)
{
    char hdr[512];
    int hl = snprintf(hdr, sizeof hdr,
                      "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                      "Content-Type: application/x-amz-json-1.1\r\n"
                      "X-Amz-Target: Kinesis_20131202.%s\r\nX-Amz-Date: 20260101T000000Z\r\n"
                      "Authorization: AWS4-HMAC-SHA256 Credential=AKIDBENCH/20260101/"
                      "us-east-1/kinesis/aws4_request, SignedHeaders=host;x-amz-date, "
                      "Signature=%064d\r\nContent-Length: %zu\r\n\r\n",
                      target, 0, n);
    struct iovec_like {
        const char *p;
        size_t n;
    } parts[2] = {{hdr, (size_t)hl}, {body, n}};
    for (int i = 0; i < 2; i++)
        for (size_t off = 0; off < parts[i].n;) {
            ssize_t w = send(c->fd, parts[i].p + off, parts[i].n - off, MSG_NOSIGNAL);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0)
                return -1;
            off += (size_t)w;
        }
    /* the answer: headers, then Content-Length bytes */
    c->in_n = 0;
    size_t need = 0, body_at = 0;
    for (;;) {
        if (c->in_n == c->in_cap) {
            c->in_cap *= 2;
            c->in = realloc(c->in, c->in_cap);
        }
        ssize_t r = recv(c->fd, c->in + c->in_n, c->in_cap - c->in_n, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        c->in_n += (size_t)r;
        if (!body_at) {
            char *e = memmem(c->in, c->in_n, "\r\n\r\n", 4);
            if (!e)
                continue;
            body_at = (size_t)(e - c->in) + 4;
            *e = 0;
            char *cl = strcasestr(c->in, "\r\nContent-Length:");
            need = cl ? strtoul(cl + 17, NULL, 10) : 0;
            *status = atoi(c->in + 9);
        }
        if (c->in_n >= body_at + need) {
            *rbody = c->in + body_at;
            *rlen = need;
            return 0;
        }
    }
}

/* A call that must answer 200 (setup). */
static void must(int port, const char *target, const char *body)
{
    conn_t c;
    int st = 0;
    const char *rb;
    size_t rl;
    if (conn_open(&c, port) != 0 || call(&c, target, body, strlen(body), &st, &rb, &rl) != 0 ||
        st != 200) {
        fprintf(stderr, "bench_records: %s on port %d answered %d: %.*s\n", target, port, st,
                st ? (int)rl : 0, st ? rb : "");
        exit(1);
    }
    conn_close(&c);
}

/* Create a stream and wait until it is ACTIVE (kinesalite makes it
 * CREATING first). */
static void create_stream(int port, const char *name, int shards)
{
    char body[256];
    snprintf(body, sizeof body, "{\"StreamName\":\"%s\",\"ShardCount\":%d}", name, shards);
    must(port, "CreateStream", body);
    snprintf(body, sizeof body, "{\"StreamName\":\"%s\"}", name);
    for (int i = 0; i < 600; i++) {
        conn_t c;
        int st = 0;
        const char *rb;
        size_t rl;
        if (conn_open(&c, port) == 0 &&
            call(&c, "DescribeStreamSummary", body, strlen(body), &st, &rb, &rl) == 0 &&
            st == 200 && memmem(rb, rl, "\"ACTIVE\"", 8)) {
            conn_close(&c);
            return;
        }
        conn_close(&c);
        usleep(50000);
    }
    fprintf(stderr, "bench_records: stream %s never became ACTIVE\n", name);
    exit(1);
}

/* ---- a PutRecords case ---- */

typedef struct {
    int port;
    const char *target;
    char *body;
    size_t body_n;
    int records; /* per call */
    int64_t until;
    /* results */
    uint64_t calls, ok_records, failed;
    int64_t *lat;
    size_t n_lat, cap_lat;
} worker_t;

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    conn_t c;
    if (conn_open(&c, w->port) != 0)
        return NULL;
    while (fl_time_mono_ns() < w->until) {
        int st = 0;
        const char *rb;
        size_t rl;
        int64_t t0 = fl_time_mono_ns();
        if (call(&c, w->target, w->body, w->body_n, &st, &rb, &rl) != 0) {
            w->failed += (uint64_t)w->records;
            conn_close(&c);
            if (conn_open(&c, w->port) != 0)
                break;
            continue;
        }
        int64_t dt = fl_time_mono_ns() - t0;
        if (w->n_lat == w->cap_lat) {
            w->cap_lat = w->cap_lat ? 2 * w->cap_lat : 4096;
            w->lat = realloc(w->lat, w->cap_lat * sizeof *w->lat);
        }
        w->lat[w->n_lat++] = dt;
        w->calls++;
        if (st != 200) {
            w->failed += (uint64_t)w->records;
            continue;
        }
        uint64_t failed = 0;
        const char *f = memmem(rb, rl, "\"FailedRecordCount\":", 20);
        if (f)
            failed = strtoull(f + 20, NULL, 10);
        w->failed += failed;
        w->ok_records += (uint64_t)w->records - failed;
    }
    conn_close(&c);
    return NULL;
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* A request body for `records` records of size bytes into stream. */
static char *make_body(const char *stream, int records, size_t size, size_t *n_out)
{
    fl_buf_t b;
    fl_buf_init(&b, 0);
    uint8_t *data = malloc(size);
    for (size_t i = 0; i < size; i++)
        data[i] = (uint8_t)rnd();
    if (records == 1) {
        fl_buf_printf(&b,
                      "{\"StreamName\":\"%s\",\"PartitionKey\":\"pk-%016" PRIx64 "\",\"Data\":\"",
                      stream, rnd());
        fl_base64_encode(&b, fl_slice(data, size));
        fl_buf_append_str(&b, "\"}");
    } else {
        fl_buf_printf(&b, "{\"StreamName\":\"%s\",\"Records\":[", stream);
        for (int i = 0; i < records; i++) {
            fl_buf_printf(&b, "%s{\"PartitionKey\":\"pk-%016" PRIx64 "\",\"Data\":\"", i ? "," : "",
                          rnd());
            fl_base64_encode(&b, fl_slice(data, size));
            fl_buf_append_str(&b, "\"}");
        }
        fl_buf_append_str(&b, "]}");
    }
    free(data);
    *n_out = b.n;
    return (char *)b.p;
}

typedef struct {
    double rps, mbps, p50, p99;
    double cpu_us;    /* the server's CPU time per record, microseconds */
    double client_us; /* this process's (the client's), the same way */
    uint64_t failed;
} case_result_t;

static case_result_t put_case(pid_t server, int port, const char *stream, int shards, int records,
                              size_t size, double secs)
{
    case_result_t res = {0};
    create_stream(port, stream, shards);
    double cpu0 = fl_bench_proc_cpu_s(server, NULL), self0 = fl_bench_proc_cpu_s(getpid(), NULL);
    int conns = records == 1 ? single_conns : batch_conns;
    worker_t w[MAX_CONNS];
    pthread_t th[MAX_CONNS];
    memset(w, 0, sizeof w);
    int64_t until = fl_time_mono_ns() + (int64_t)(secs * 1e9);
    int64_t start = fl_time_mono_ns();
    for (int i = 0; i < conns; i++) {
        w[i].port = port;
        w[i].target = records == 1 ? "PutRecord" : "PutRecords";
        w[i].records = records;
        w[i].body = make_body(stream, records, size, &w[i].body_n);
        w[i].until = until;
        pthread_create(&th[i], NULL, worker_main, &w[i]);
    }
    uint64_t ok = 0;
    size_t n_lat = 0;
    int64_t *lat = NULL;
    for (int i = 0; i < conns; i++) {
        pthread_join(th[i], NULL);
        ok += w[i].ok_records;
        res.failed += w[i].failed;
        lat = realloc(lat, (n_lat + w[i].n_lat + 1) * sizeof *lat);
        memcpy(lat + n_lat, w[i].lat, w[i].n_lat * sizeof *lat);
        n_lat += w[i].n_lat;
        free(w[i].lat);
        free(w[i].body);
    }
    double el = (double)(fl_time_mono_ns() - start) / 1e9;
    double cpu1 = fl_bench_proc_cpu_s(server, NULL), self1 = fl_bench_proc_cpu_s(getpid(), NULL);
    res.client_us = ok && self0 >= 0 && self1 >= 0 ? (self1 - self0) * 1e6 / (double)ok : 0;
    res.cpu_us = ok && cpu0 >= 0 && cpu1 >= 0 ? (cpu1 - cpu0) * 1e6 / (double)ok : 0;
    qsort(lat, n_lat, sizeof *lat, fl_bench_cmp_i64);
    res.rps = (double)ok / el;
    res.mbps = (double)ok * (double)size / el / 1e6;
    res.p50 = fl_bench_pct(lat, n_lat, 0.50);
    res.p99 = fl_bench_pct(lat, n_lat, 0.99);
    free(lat);
    return res;
}

/* ---- kinesalite ---- */

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t l = sizeof a;
    bind(fd, (struct sockaddr *)&a, sizeof a);
    getsockname(fd, (struct sockaddr *)&a, &l);
    close(fd);
    return ntohs(a.sin_port);
}

static pid_t start_kinesalite(int *port)
{
    const char *cli = FL_SOURCE_DIR "/bench/node/node_modules/kinesalite/cli.js";
    if (access(cli, R_OK) != 0)
        return 0;
    *port = free_port();
    char ps[16];
    snprintf(ps, sizeof ps, "%d", *port);
    pid_t pid = fork();
    if (pid == 0) {
        int dn = open("/dev/null", O_WRONLY);
        dup2(dn, 1);
        dup2(dn, 2);
        execlp("node", "node", cli, "--port", ps, "--createStreamMs", "0", "--deleteStreamMs", "0",
               "--updateStreamMs", "0", "--shardLimit", "1000", (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 400; i++) { /* until it accepts */
        conn_t c;
        if (conn_open(&c, *port) == 0) {
            conn_close(&c);
            return pid;
        }
        usleep(50000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return 0;
}

/* ---- catch-up reads ---- */

/* Fill one shard with mib MiB of 1 KiB records (PutRecords of 500). */
static void catchup_fill(int port, size_t mib)
{
    create_stream(port, "catchup", 1);
    size_t body_n;
    char *body = make_body("catchup", 500, 1024, &body_n);
    conn_t c;
    conn_open(&c, port);
    size_t calls = mib * 1024 / 500 + 1;
    for (size_t i = 0; i < calls; i++) {
        int st;
        const char *rb;
        size_t rl;
        if (call(&c, "PutRecords", body, body_n, &st, &rb, &rl) != 0 || st != 200) {
            fprintf(stderr, "bench_records: catch-up fill failed\n");
            exit(1);
        }
    }
    conn_close(&c);
    free(body);
    printf("  catch-up: %zu MiB of 1 KiB records put into one shard\n", mib);
}

typedef struct {
    double mbps;
    double server_s, client_s; /* CPU seconds (user + system) in the read */
} catchup_result_t;

/* The records in a GetRecords answer: its "Data": members. Each Data
 * string (base64: no quote or backslash inside) is skipped with memchr,
 * so memmem only scans the members around it: scanning the whole answer
 * with memmem made the client use half as much CPU as framelogd, on the
 * same 2 cores. */
static size_t count_records(const char *rb, size_t rl)
{
    size_t got = 0;
    const char *p = rb, *end = rb + rl;
    while ((p = memmem(p, (size_t)(end - p), "\"Data\":\"", 8))) {
        got++;
        const char *q = memchr(p + 8, '"', (size_t)(end - p - 8));
        if (!q)
            break;
        p = q + 1;
    }
    return got;
}

/* Read the catch-up shard from TRIM_HORIZON to its end with GetRecords
 * (Limit 10000): MB/s of data read, and the CPU each side used. The
 * client counts an answer's records (count_records). */
static catchup_result_t catchup_read(pid_t server, int port)
{
    catchup_result_t res = {0};
    conn_t c;
    conn_open(&c, port);
    int st;
    const char *rb;
    size_t rl;
    const char *q = "{\"StreamName\":\"catchup\",\"ShardId\":\"shardId-000000000000\","
                    "\"ShardIteratorType\":\"TRIM_HORIZON\"}";
    if (call(&c, "GetShardIterator", q, strlen(q), &st, &rb, &rl) != 0 || st != 200)
        exit(1);
    char it[1024];
    const char *s = memmem(rb, rl, "\"ShardIterator\":\"", 17);
    snprintf(it, sizeof it, "%.*s", (int)strcspn(s + 17, "\""), s + 17);
    uint64_t bytes = 0, records = 0;
    double cpu0 = fl_bench_proc_cpu_s(server, NULL), self0 = fl_bench_proc_cpu_s(getpid(), NULL);
    int64_t t0 = fl_time_mono_ns();
    for (;;) {
        char req[1200];
        int n = snprintf(req, sizeof req, "{\"ShardIterator\":\"%s\",\"Limit\":10000}", it);
        if (call(&c, "GetRecords", req, (size_t)n, &st, &rb, &rl) != 0 || st != 200) {
            fprintf(stderr, "bench_records: GetRecords failed (%d)\n", st);
            exit(1);
        }
        size_t got = count_records(rb, rl);
        records += got;
        bytes += got * 1024;
        const char *nx = memmem(rb, rl, "\"NextShardIterator\":\"", 21);
        if (!got || !nx)
            break;
        snprintf(it, sizeof it, "%.*s", (int)strcspn(nx + 21, "\""), nx + 21);
    }
    double el = (double)(fl_time_mono_ns() - t0) / 1e9;
    double cpu1 = fl_bench_proc_cpu_s(server, NULL), self1 = fl_bench_proc_cpu_s(getpid(), NULL);
    conn_close(&c);
    res.mbps = (double)bytes / el / 1e6;
    res.server_s = cpu1 - cpu0;
    res.client_s = self1 - self0;
    printf("  catch-up: %" PRIu64 " records read in %.2f s (%.1f MB/s); CPU: framelogd %.2f s, "
           "client %.2f s\n",
           records, el, res.mbps, res.server_s, res.client_s);
    return res;
}

/* pread of a file of mib MiB in 1 MiB reads (written and synced first). */
static double raw_pread(const char *dir, size_t mib)
{
    char path[600];
    snprintf(path, sizeof path, "%s/raw-pread", dir);
    int fd = open(path, O_CREAT | O_RDWR | O_TRUNC, 0600);
    char *buf = malloc(1 << 20);
    memset(buf, 0xa5, 1 << 20);
    for (size_t i = 0; i < mib; i++)
        if (write(fd, buf, 1 << 20) != 1 << 20)
            exit(1);
    fdatasync(fd);
    int64_t t0 = fl_time_mono_ns();
    for (size_t i = 0; i < mib; i++)
        if (pread(fd, buf, 1 << 20, (off_t)i << 20) != 1 << 20)
            exit(1);
    double el = (double)(fl_time_mono_ns() - t0) / 1e9;
    close(fd);
    unlink(path);
    free(buf);
    return (double)mib * 1048576.0 / el / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Case i is in the comma-separated list (NULL: every case). */
static int case_wanted(const char *list, size_t i)
{
    if (!list)
        return 1;
    for (const char *p = list; *p;) {
        char *end;
        unsigned long v = strtoul(p, &end, 10);
        if (end == p)
            return 0;
        if (v == i)
            return 1;
        p = *end == ',' ? end + 1 : end;
    }
    return 0;
}

int main(int argc, char **argv)
{
    double secs = 5;
    const char *base = "/var/tmp";
    size_t mib = 256;
    const char *only = NULL;
    int opt, no_kinesalite = 0, reads = 1;
    while ((opt = getopt(argc, argv, "s:d:c:k:b:S:l:r:K")) != -1) {
        if (opt == 's')
            secs = atof(optarg);
        else if (opt == 'd')
            base = optarg;
        else if (opt == 'c')
            mib = (size_t)atol(optarg);
        else if (opt == 'k')
            only = optarg;
        else if (opt == 'b' && atoi(optarg) >= 1 && atoi(optarg) <= MAX_CONNS)
            batch_conns = atoi(optarg);
        else if (opt == 'S' && atoi(optarg) >= 1 && atoi(optarg) <= MAX_CONNS)
            single_conns = atoi(optarg);
        else if (opt == 'l' && atoi(optarg) >= 0)
            loops = optarg;
        else if (opt == 'K')
            no_kinesalite = 1;
        else if (opt == 'r' && atoi(optarg) >= 1 && atoi(optarg) <= 64)
            reads = atoi(optarg);
        else {
            fprintf(stderr, "usage: bench_records [-s SECONDS] [-d DIR] [-c MIB] [-k CASES] "
                            "[-b CONNS] [-S CONNS] [-l LOOPS] [-r READS] [-K]\n");
            return 2;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    char dir[512];
    snprintf(dir, sizeof dir, "%s/bench-records-XXXXXX", base);
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    char data[600];
    snprintf(data, sizeof data, "%s/data", dir);
    const char *extra[] = {"--records-throttle", "0", "--loops", loops, NULL};
    int fport = 0, kport = 0;
    pid_t fpid = fl_bench_start_framelogd(FL_FRAMELOGD, data, extra, &fport);
    pid_t kpid = no_kinesalite ? 0 : start_kinesalite(&kport);
    printf("bench_records: %.0f s per case; framelogd durable (fdatasync before the answer), "
           "--loops %s, %d connections for single records, %d for batches; kinesalite %s\n",
           secs, loops, single_conns, batch_conns,
           kpid            ? "in memory (no fsync)"
           : no_kinesalite ? "left out (-K)"
                           : "NOT INSTALLED (scripts/deps.sh --bench)");
    printf("%-24s %12s %9s %8s %8s %7s %7s | %12s %8s %8s %7s %7s | %9s %9s %9s\n", "case",
           "fl rec/s", "fl MB/s", "p50 ms", "p99 ms", "us/rec", "cl us", "kl rec/s", "p50 ms",
           "p99 ms", "us/rec", "cl us", "fl/kl", "raw MB/s", "fl/raw");
    static const struct {
        size_t size;
        int records, shards;
    } cases[] = {{100, 1, 1},   {100, 1, 64},   {1024, 1, 1},   {1024, 1, 64},
                 {100, 500, 1}, {100, 500, 64}, {1024, 500, 1}, {1024, 500, 64}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (!case_wanted(only, i))
            continue;
        char name[64], label[64];
        snprintf(name, sizeof name, "b%zu-%zu-%d-%d", i, cases[i].size, cases[i].records,
                 cases[i].shards);
        snprintf(label, sizeof label, "%zu B x %d, %d shard%s", cases[i].size, cases[i].records,
                 cases[i].shards, cases[i].shards > 1 ? "s" : "");
        /* raw: one batch's bytes per write+fdatasync, in the same run, just
         * before and just after framelogd's case (the mean of the two) */
        size_t raw_size = cases[i].size * (size_t)cases[i].records;
        fl_bench_result_t raw0 = fl_bench_raw_per_record(dir, raw_size, secs / 2);
        case_result_t f =
            put_case(fpid, fport, name, cases[i].shards, cases[i].records, cases[i].size, secs);
        fl_bench_result_t raw1 = fl_bench_raw_per_record(dir, raw_size, secs / 2);
        double raw_mbps = (raw0.mbps + raw1.mbps) / 2;
        case_result_t k = {0};
        if (kpid)
            k = put_case(kpid, kport, name, cases[i].shards, cases[i].records, cases[i].size, secs);
        printf("%-24s %12.0f %9.2f %8.2f %8.2f %7.2f %7.2f | %12.0f %8.2f %8.2f %7.1f %7.2f | "
               "%8.1fx %9.1f %9.2f%s\n",
               label, f.rps, f.mbps, f.p50, f.p99, f.cpu_us, f.client_us, k.rps, k.p50, k.p99,
               k.cpu_us, k.client_us, k.rps > 0 ? f.rps / k.rps : 0, raw_mbps,
               raw_mbps > 0 ? f.mbps / raw_mbps : 0, f.failed || k.failed ? " (failures!)" : "");
        if (f.failed || k.failed)
            printf("  failed records: framelogd %" PRIu64 ", kinesalite %" PRIu64 "\n", f.failed,
                   k.failed);
    }
    if (mib) {
        /* each read of the shard beside a pread of the same size just
         * after it; the median of the ratios */
        catchup_fill(fport, mib);
        double ratio[64];
        for (int i = 0; i < reads; i++) {
            catchup_result_t got = catchup_read(fpid, fport);
            double raw = raw_pread(dir, mib);
            ratio[i] = raw > 0 ? got.mbps / raw : 0;
            printf("GetRecords catch-up, %zu MiB of 1 KiB records: %.1f MB/s; raw pread %.1f "
                   "MB/s; ratio %.3f\n",
                   mib, got.mbps, raw, ratio[i]);
        }
        if (reads > 1) {
            double sorted[64];
            memcpy(sorted, ratio, (size_t)reads * sizeof ratio[0]);
            qsort(sorted, (size_t)reads, sizeof sorted[0], cmp_double);
            printf("GetRecords catch-up over %d reads: ratio to pread median %.3f, best %.3f\n",
                   reads, sorted[reads / 2], sorted[reads - 1]);
        }
    }
    kill(fpid, SIGTERM);
    waitpid(fpid, NULL, 0);
    if (kpid) {
        kill(kpid, SIGTERM);
        waitpid(kpid, NULL, 0);
    }
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench_records: could not remove %s\n", dir);
    return 0;
}
