/*
 * bench/bench_h2.c — PutRecords over HTTP/2 on TLS (ALPN h2, served by
 * h2tls.c's own TLS and h2.c), against the same over h2c (plain text, the
 * reference) and over TLS with HTTP/1.1 (libwebsockets' TLS), in one run,
 * driven by h2load (nghttp2's load tool, Debian's nghttp2-client). Prints
 * requests/s, records/s and the server's CPU per request for each, and
 * each as a ratio to h2c.
 *
 *   bench_h2 [-n REQUESTS] [-c CONNECTIONS] [-m STREAMS] [-r RECORDS] [-b BYTES]
 *
 * Each request is one PutRecords of RECORDS records of BYTES bytes of data
 * (default 100 x 1,000) into a stream of 4 shards, throttling off; the
 * HTTP/1.1 run uses the same connections with one request at a time each
 * (h2load --h1: no pipelining), the HTTP/2 runs STREAMS at a time. Both
 * servers run at once (two framelogd, each with one loop); the load goes to
 * one at a time.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_common.h"
#include "common/base64.h"
#include "common/bytes.h"

static void run(const char *cmd)
{
    int rc = system(cmd);
    if (rc != 0) {
        fprintf(stderr, "bench_h2: failed (%d): %s\n", rc, cmd);
        exit(1);
    }
}

typedef struct {
    double rps, secs;
    long ok, total;
    double cpu_s;
} load_t;

static load_t h2load(const char *url, const char *body, const char *cacert, int h1, int n, int c,
                     int m, pid_t server)
{
    char cmd[8192];
    (void)cacert; /* h2load does not verify the certificate */
    snprintf(cmd, sizeof cmd,
             "h2load %s -n %d -c %d -m %d -d '%s' -H 'x-amz-target: Kinesis_20131202.PutRecords' "
             "-H 'content-type: application/x-amz-json-1.1' '%s/' 2>&1",
             h1 ? "--h1" : "", n, c, h1 ? 1 : m, body, url);
    load_t r;
    memset(&r, 0, sizeof r);
    double c0 = fl_bench_proc_cpu_s(server, NULL);
    FILE *p = popen(cmd, "r");
    if (!p) {
        perror("popen");
        exit(1);
    }
    char line[1024];
    while (fgets(line, sizeof line, p)) {
        double s, rps;
        long total, started, done, ok;
        char unit[4];
        /* "finished in 1.23s, 812.3 req/s, ..." (or "998.12ms") */
        if (sscanf(line, "finished in %lf%3[^,], %lf req/s", &s, unit, &rps) == 3) {
            r.secs = strcmp(unit, "ms") == 0 ? s / 1000.0 : strcmp(unit, "us") == 0 ? s / 1e6 : s;
            r.rps = rps;
        }
        if (sscanf(line, "requests: %ld total, %ld started, %ld done, %ld succeeded", &total,
                   &started, &done, &ok) == 4) {
            r.total = total;
            r.ok = ok;
        }
    }
    pclose(p);
    r.cpu_s = fl_bench_proc_cpu_s(server, NULL) - c0;
    return r;
}

int main(int argc, char **argv)
{
    int n = 2000, c = 4, m = 8, recs = 100, bytes = 1000, opt;
    while ((opt = getopt(argc, argv, "n:c:m:r:b:")) != -1) {
        switch (opt) {
        case 'n':
            n = atoi(optarg);
            break;
        case 'c':
            c = atoi(optarg);
            break;
        case 'm':
            m = atoi(optarg);
            break;
        case 'r':
            recs = atoi(optarg);
            break;
        case 'b':
            bytes = atoi(optarg);
            break;
        default:
            fprintf(stderr, "usage: bench_h2 [-n REQUESTS] [-c CONNECTIONS] [-m STREAMS] "
                            "[-r RECORDS] [-b BYTES]\n");
            return 2;
        }
    }
    char dir[] = "/tmp/bench_h2.XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    char cmd[4096], cert[256], key[256], plain_dir[256], tls_dir[256], body[256];
    fl_bench_tls_cert(dir, cert, key, sizeof cert);

    /* the body: one PutRecords of recs records */
    fl_buf_t b;
    fl_buf_init(&b, 0);
    fl_buf_append_str(&b, "{\"StreamName\":\"bench\",\"Records\":[");
    uint8_t *raw = malloc((size_t)bytes);
    for (int i = 0; i < recs; i++) {
        for (int k = 0; k < bytes; k++)
            raw[k] = (uint8_t)(i * 31 + k);
        fl_buf_printf(&b, "%s{\"PartitionKey\":\"pk-%d\",\"Data\":\"", i ? "," : "", i);
        fl_base64_encode(&b, fl_slice(raw, (size_t)bytes));
        fl_buf_append_str(&b, "\"}");
    }
    fl_buf_append_str(&b, "]}");
    free(raw);
    snprintf(body, sizeof body, "%s/put.json", dir);
    FILE *f = fopen(body, "w");
    if (!f || fwrite(b.p, 1, b.n, f) != b.n) {
        perror(body);
        return 1;
    }
    fclose(f);
    fl_buf_free(&b);

    snprintf(plain_dir, sizeof plain_dir, "%s/plain", dir);
    snprintf(tls_dir, sizeof tls_dir, "%s/tls", dir);
    const char *plain_args[] = {"--records-throttle", "0", "--loops", "1", NULL};
    const char *tls_args[] = {"--records-throttle", "0", "--loops", "1", "--tls-cert", cert,
                              "--tls-key",          key, NULL};
    int pport = 0, tport = 0;
    pid_t plain = fl_bench_start_framelogd(FL_FRAMELOGD, plain_dir, plain_args, &pport);
    pid_t tls = fl_bench_start_framelogd(FL_FRAMELOGD, tls_dir, tls_args, &tport);
    char purl[64], turl[64];
    snprintf(purl, sizeof purl, "http://127.0.0.1:%d", pport);
    snprintf(turl, sizeof turl, "https://127.0.0.1:%d", tport);
    const char *create =
        "-H 'X-Amz-Target: Kinesis_20131202.CreateStream' -H 'Content-Type: "
        "application/x-amz-json-1.1' -d '{\"StreamName\":\"bench\",\"ShardCount\":4}'";
    snprintf(cmd, sizeof cmd, "curl -sS -o /dev/null %s %s/", create, purl);
    run(cmd);
    snprintf(cmd, sizeof cmd, "curl -sS -o /dev/null --cacert %s %s %s/", cert, create, turl);
    run(cmd);
    sleep(1);

    double load[3] = {0};
    FILE *la = fopen("/proc/loadavg", "r");
    if (la) {
        if (fscanf(la, "%lf %lf %lf", &load[0], &load[1], &load[2]) != 3)
            load[0] = -1;
        fclose(la);
    }
    printf("bench_h2: %d PutRecords of %d x %d B, %d connections, %d streams each (HTTP/1.1: "
           "1); load average %.2f %.2f %.2f, %ld cores\n",
           n, recs, bytes, c, m, load[0], load[1], load[2], sysconf(_SC_NPROCESSORS_ONLN));
    /* a short warm-up of each, then the measured runs */
    h2load(purl, body, NULL, 0, n / 10 + 1, c, m, plain);
    h2load(turl, body, cert, 0, n / 10 + 1, c, m, tls);
    load_t h2c = h2load(purl, body, NULL, 0, n, c, m, plain);
    load_t h2t = h2load(turl, body, cert, 0, n, c, m, tls);
    load_t h1t = h2load(turl, body, cert, 1, n, c, m, tls);
    const char *names[] = {"h2c (plain, reference)", "h2 over TLS (ALPN)", "HTTP/1.1 over TLS"};
    load_t *rs[] = {&h2c, &h2t, &h1t};
    for (int i = 0; i < 3; i++) {
        load_t *r = rs[i];
        double cpu_ms = r->ok ? r->cpu_s * 1000.0 / (double)r->ok : 0;
        printf("  %-24s %5ld/%ld ok  %8.1f req/s  %9.0f records/s  server CPU %.2f ms/req  "
               "x%.2f req/s, x%.2f CPU/req of h2c\n",
               names[i], r->ok, r->total, r->rps, r->rps * recs, cpu_ms,
               h2c.rps > 0 ? r->rps / h2c.rps : 0,
               h2c.ok && h2c.cpu_s > 0 ? cpu_ms / (h2c.cpu_s * 1000.0 / (double)h2c.ok) : 0);
    }
    kill(plain, SIGTERM);
    kill(tls, SIGTERM);
    waitpid(plain, NULL, 0);
    waitpid(tls, NULL, 0);
    snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s/plain.log' '%s/tls.log'", dir, dir, dir);
    run(cmd);
    return h2c.ok == n && h2t.ok == n && h1t.ok == n ? 0 : 1;
}
