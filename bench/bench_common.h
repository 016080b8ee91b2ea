/*
 * bench/bench_common.h — what benchmarks share: percentiles and the raw
 * disk references (write+fdatasync), measured in the caller's run.
 */
#ifndef FL_BENCH_COMMON_H
#define FL_BENCH_COMMON_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    double mbps, rps, p50, p99, p999;
} fl_bench_result_t;

/* qsort comparator for int64_t. */
int fl_bench_cmp_i64(const void *a, const void *b);
/* The p-quantile (0..1) of sorted nanosecond values, in ms. */
double fl_bench_pct(int64_t *v, size_t n, double p);
/* One pwrite of size then one fdatasync, repeated for secs in dir: MB/s,
 * writes/s and fdatasync latency percentiles. */
fl_bench_result_t fl_bench_raw_per_record(const char *dir, size_t size, double secs);
/* 64 MiB in 1 MiB pwrites then one fdatasync, repeated for secs: the
 * disk's durable streaming bandwidth in MB/s. */
double fl_bench_raw_stream(const char *dir, double secs);

#endif
