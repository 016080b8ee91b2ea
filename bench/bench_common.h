/*
 * bench/bench_common.h — what benchmarks share: percentiles, the raw disk
 * references (write+fdatasync), measured in the caller's run, and starting
 * framelogd on a free loopback port.
 */
#ifndef FL_BENCH_COMMON_H
#define FL_BENCH_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct {
    double mbps, rps, p50, p99, p999;
} fl_bench_result_t;

/* qsort comparator for int64_t. */
int fl_bench_cmp_i64(const void *a, const void *b);
/* The p-quantile (0..1) of sorted nanosecond values, in ms. */
double fl_bench_pct(int64_t *v, size_t n, double p);
/* Commit the file system of dir (syncfs): what an earlier phase left to
 * do, such as the discards of the files it deleted on a file system
 * mounted with `discard` (this machine's root is), is done before the next
 * phase is timed instead of slowing its first fdatasyncs. The raw
 * references call it after deleting their file; a benchmark calls it after
 * deleting what it measured. */
void fl_bench_settle(const char *dir);
/* One pwrite of size then one fdatasync, repeated for secs in dir: MB/s,
 * writes/s and fdatasync latency percentiles. */
fl_bench_result_t fl_bench_raw_per_record(const char *dir, size_t size, double secs);
/* 64 MiB in 1 MiB pwrites then one fdatasync, repeated for secs: the
 * disk's durable streaming bandwidth in MB/s. */
double fl_bench_raw_stream(const char *dir, double secs);
/* The same with O_DIRECT (the page cache bypassed, as the log does for big
 * writes): 0 where the file system refuses O_DIRECT. */
double fl_bench_raw_stream_direct(const char *dir, double secs);

/* Start framelogd (the path, or $FL_BENCH_FRAMELOGD to compare builds)
 * on 127.0.0.1:0 with data dir `dir`, stderr to dir.log, and extra flags
 * (NULL-terminated, may be NULL); $FL_BENCH_WRAP (e.g. "valgrind
 * --tool=callgrind") runs it under a profiler. *port gets the port from
 * its "listening on" line. Exits the benchmark when it does not start. */
/* A self-signed EC P-256 certificate for 127.0.0.1 (the openssl CLI):
 * dir/cert.pem and dir/key.pem, whose paths go to cert and key (cap bytes
 * each). Exits the benchmark when openssl fails. */
void fl_bench_tls_cert(const char *dir, char *cert, char *key, size_t cap);

/* CPU time (user + system) a process has used so far, in seconds, from
 * /proc/PID/stat; -1 when it cannot be read. *ppid (when not NULL) gets
 * its parent's pid. */
double fl_bench_proc_cpu_s(pid_t pid, pid_t *ppid);

pid_t fl_bench_start_framelogd(const char *framelogd, const char *dir, const char *const extra[],
                               int *port);

#endif
