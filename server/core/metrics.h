/*
 * server/core/metrics.h — the server's counters, rendered in Prometheus' text
 * format by GET /metrics.
 *
 * Each event loop has its own fl_metrics_t and only its thread updates it;
 * GET /metrics sums the loops' (fl_metrics_add). The fields are atomics so
 * that the sum, taken on another loop, reads them whole: an update is an
 * uncontended atomic add on a cache line the loop owns, no lock.
 */
#ifndef FL_SERVER_METRICS_H
#define FL_SERVER_METRICS_H

#include <stdatomic.h>
#include <stdint.h>

#include "common/bytes.h"

#define FL_METRICS_MAX_SERIES 256
#define FL_METRICS_MS_BUCKETS 12

/* A histogram of milliseconds (bounds 1, 2, 5 ... 5000). */
typedef struct {
    _Atomic uint64_t le[FL_METRICS_MS_BUCKETS + 1]; /* last: +Inf */
    _Atomic uint64_t sum_us;                        /* microseconds: an atomic add, no float CAS */
    _Atomic uint64_t count;
} fl_metric_ms_hist_t;

typedef struct {
    const char *route; /* a route's name from the route table (static) */
    int status;
    _Atomic uint64_t count;
} fl_metric_req_t;

typedef struct {
    int64_t start_mono_ns;
    fl_metric_req_t req[FL_METRICS_MAX_SERIES];
    _Atomic int n_req;               /* entries below it are filled */
    _Atomic uint64_t bytes_received; /* request bodies */
    _Atomic uint64_t bytes_sent;     /* response headers and bodies */
    _Atomic int64_t open_connections;
    _Atomic uint64_t connections_total;
    _Atomic uint64_t connections_refused;
    fl_metric_ms_hist_t loop_lag; /* how late the loop's lag timer fired */
} fl_metrics_t;

void fl_metrics_init(fl_metrics_t *m);
void fl_metrics_count_request(fl_metrics_t *m, const char *route, int status);
double fl_metrics_uptime_s(const fl_metrics_t *m);
void fl_metrics_render(const fl_metrics_t *m, fl_buf_t *out);
void fl_metrics_observe_ms(fl_metric_ms_hist_t *h, double ms);
/* Add m's counts into sum (a loop's into the whole server's). */
void fl_metrics_add(fl_metrics_t *sum, const fl_metrics_t *m);
void fl_metrics_hist_add(fl_metric_ms_hist_t *sum, const fl_metric_ms_hist_t *h);
/* Prometheus text for a histogram, a counter and a gauge (modules render
 * their own series with these). */
void fl_metrics_render_ms_hist(fl_buf_t *out, const char *name, const char *help,
                               const fl_metric_ms_hist_t *h);
void fl_metrics_render_counter(fl_buf_t *out, const char *name, const char *help, uint64_t v);
/* A counter with one label: the series name{label="values[i]"} v[i]. */
void fl_metrics_render_counters(fl_buf_t *out, const char *name, const char *help,
                                const char *label, const char *const *values, const uint64_t *v,
                                size_t n);
void fl_metrics_render_gauge(fl_buf_t *out, const char *name, const char *help, int64_t v);

#endif
