/*
 * bench/bench_common.c — references every benchmark can print beside its
 * own figures: the disk's durable write bandwidth and per-write fdatasync
 * latency, measured in the same run on the same disk. See bench_common.h.
 */
#include "bench_common.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/clock.h"

int fl_bench_cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

double fl_bench_pct(int64_t *v, size_t n, double p)
{
    if (!n)
        return 0;
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return (double)v[i] / 1e6; /* ms */
}

void fl_bench_settle(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0)
        return;
    if (syncfs(fd) != 0)
        perror("bench: syncfs");
    close(fd);
}

fl_bench_result_t fl_bench_raw_per_record(const char *dir, size_t size, double secs)
{
    char path[600];
    snprintf(path, sizeof path, "%s/raw.bin", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    uint8_t *buf = malloc(size);
    memset(buf, 0x5a, size);
    size_t cap = 1 << 16, n = 0;
    int64_t *lat = malloc(cap * sizeof *lat);
    int64_t t0 = fl_time_mono_ns(), end = t0 + (int64_t)(secs * 1e9);
    off_t off = 0;
    while (fl_time_mono_ns() < end && n < cap) {
        int64_t a = fl_time_mono_ns();
        if (pwrite(fd, buf, size, off) != (ssize_t)size || fdatasync(fd) != 0) {
            perror("raw");
            exit(1);
        }
        off += (off_t)size;
        lat[n++] = fl_time_mono_ns() - a;
        if (off > (off_t)(1u << 30)) /* stay small: rewrite from the start */
            off = 0;
    }
    double el = (double)(fl_time_mono_ns() - t0) / 1e9;
    qsort(lat, n, sizeof *lat, fl_bench_cmp_i64);
    fl_bench_result_t r = {(double)n * (double)size / el / 1e6, (double)n / el,
                           fl_bench_pct(lat, n, .5), fl_bench_pct(lat, n, .99),
                           fl_bench_pct(lat, n, .999)};
    close(fd);
    unlink(path);
    fl_bench_settle(dir);
    free(buf);
    free(lat);
    return r;
}

static double raw_stream(const char *dir, double secs, int direct)
{
    char path[600];
    snprintf(path, sizeof path, "%s/raw.bin", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | (direct ? O_DIRECT : 0), 0600);
    if (fd < 0)
        return 0; /* O_DIRECT refused here */
    size_t size = 1u << 20;
    void *mem = NULL;
    if (posix_memalign(&mem, 4096, size) != 0)
        exit(1);
    uint8_t *buf = mem;
    memset(buf, 0x5a, size);
    int64_t t0 = fl_time_mono_ns(), end = t0 + (int64_t)(secs * 1e9);
    off_t off = 0;
    uint64_t bytes = 0;
    while (fl_time_mono_ns() < end) {
        for (int i = 0; i < 64; i++) {
            if (pwrite(fd, buf, size, off) != (ssize_t)size) {
                perror("raw");
                exit(1);
            }
            off += (off_t)size;
            bytes += size;
        }
        if (fdatasync(fd) != 0) {
            perror("raw");
            exit(1);
        }
        if (off > (off_t)(1u << 30)) {
            ftruncate(fd, 0); /* an append, like the log's, not an overwrite */
            off = 0;
        }
    }
    double el = (double)(fl_time_mono_ns() - t0) / 1e9;
    close(fd);
    unlink(path);
    fl_bench_settle(dir);
    free(buf);
    return (double)bytes / el / 1e6;
}

double fl_bench_raw_stream(const char *dir, double secs)
{
    return raw_stream(dir, secs, 0);
}

double fl_bench_raw_stream_direct(const char *dir, double secs)
{
    return raw_stream(dir, secs, 1);
}

void fl_bench_tls_cert(const char *dir, char *cert, char *key, size_t cap)
{
    snprintf(cert, cap, "%s/cert.pem", dir);
    snprintf(key, cap, "%s/key.pem", dir);
    char cmd[8400];
    snprintf(cmd, sizeof cmd,
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout '%s' "
             "-out '%s' -days 1 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 "
             "2>/dev/null",
             key, cert);
    if (system(cmd) != 0) {
        fprintf(stderr, "bench: the openssl CLI could not make a certificate in %s\n", dir);
        exit(1);
    }
}

double fl_bench_proc_cpu_s(pid_t pid, pid_t *ppid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    const char *p = strrchr(buf, ')'); /* after the command's name */
    int pp = 0;
    unsigned long long ut = 0, st = 0;
    if (!p ||
        sscanf(p + 2, "%*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &pp, &ut, &st) != 3)
        return -1;
    if (ppid)
        *ppid = pp;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

pid_t fl_bench_start_framelogd(const char *framelogd, const char *dir, const char *const extra[],
                               int *port)
{
    const char *env = getenv("FL_BENCH_FRAMELOGD");
    const char *bin = env && *env ? env : framelogd;
    char log[700];
    snprintf(log, sizeof log, "%s.log", dir);
    *port = 0;
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fd, 2);
        const char *argv[32] = {bin, "--listen", "127.0.0.1:0", "--data-dir", dir};
        size_t n = 5;
        for (size_t i = 0; extra && extra[i] && n < 31; i++)
            argv[n++] = extra[i];
        argv[n] = NULL;
        const char *wrap = getenv("FL_BENCH_WRAP");
        if (wrap && *wrap) {
            char cmd[4096];
            size_t k = (size_t)snprintf(cmd, sizeof cmd, "exec %s", wrap);
            for (size_t i = 0; i < n && k < sizeof cmd; i++)
                k += (size_t)snprintf(cmd + k, sizeof cmd - k, " '%s'", argv[i]);
            execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        }
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    /* the port the kernel chose, from the "listening on" line (http:// or
     * https://) */
    const char *tag = "://127.0.0.1:";
    for (int i = 0; i < 6000; i++) {
        usleep(10000);
        FILE *f = fopen(log, "r");
        if (!f)
            continue;
        char line[1024];
        while (fgets(line, sizeof line, f)) {
            char *at = strstr(line, "listening on http") ? strstr(line, tag) : NULL;
            if (at)
                *port = atoi(at + strlen(tag));
        }
        fclose(f);
        if (*port)
            return pid;
        if (waitpid(pid, NULL, WNOHANG) == pid)
            break;
    }
    fprintf(stderr, "bench: framelogd did not start (see %s)\n", log);
    exit(1);
}
