/*
 * server/core/metrics.c — see metrics.h.
 */
#include "server/core/metrics.h"

#include <string.h>

#include "common/clock.h"

void fl_metrics_init(fl_metrics_t *m)
{
    memset(m, 0, sizeof *m);
    m->start_mono_ns = fl_time_mono_ns();
}

void fl_metrics_count_request(fl_metrics_t *m, const char *route, int status)
{
    for (int i = 0; i < m->n_req; i++) {
        if (m->req[i].status == status && strcmp(m->req[i].route, route) == 0) {
            m->req[i].count++;
            return;
        }
    }
    if (m->n_req == FL_METRICS_MAX_SERIES) {
        /* routes x statuses is small and bounded; this is a guard only */
        route = "overflow";
        status = 0;
        for (int i = 0; i < m->n_req; i++)
            if (m->req[i].status == 0 && strcmp(m->req[i].route, route) == 0) {
                m->req[i].count++;
                return;
            }
        m->n_req--; /* reuse the last slot for the overflow series */
    }
    int n = m->n_req;
    m->req[n].route = route;
    m->req[n].status = status;
    m->req[n].count = 1;
    atomic_store_explicit(&m->n_req, n + 1, memory_order_release); /* published */
}

static void count_n(fl_metrics_t *m, const char *route, int status, uint64_t count)
{
    for (int i = 0; i < m->n_req; i++) {
        if (m->req[i].status == status && strcmp(m->req[i].route, route) == 0) {
            m->req[i].count += count;
            return;
        }
    }
    fl_metrics_count_request(m, route, status);
    for (int i = 0; i < m->n_req; i++)
        if (m->req[i].status == status && strcmp(m->req[i].route, route) == 0)
            m->req[i].count += count - 1;
}

void fl_metrics_hist_add(fl_metric_ms_hist_t *sum, const fl_metric_ms_hist_t *h)
{
    for (int i = 0; i <= FL_METRICS_MS_BUCKETS; i++)
        sum->le[i] += h->le[i];
    sum->sum_us += h->sum_us;
    sum->count += h->count;
}

void fl_metrics_add(fl_metrics_t *sum, const fl_metrics_t *m)
{
    int n = atomic_load_explicit(&m->n_req, memory_order_acquire);
    for (int i = 0; i < n; i++)
        count_n(sum, m->req[i].route, m->req[i].status, m->req[i].count);
    sum->bytes_received += m->bytes_received;
    sum->bytes_sent += m->bytes_sent;
    sum->open_connections += m->open_connections;
    sum->connections_total += m->connections_total;
    sum->connections_refused += m->connections_refused;
    fl_metrics_hist_add(&sum->loop_lag, &m->loop_lag);
}

static const double fl_ms_bounds[FL_METRICS_MS_BUCKETS] = {1,   2,   5,   10,   20,   50,
                                                           100, 200, 500, 1000, 2000, 5000};

void fl_metrics_observe_ms(fl_metric_ms_hist_t *h, double ms)
{
    int i = 0;
    while (i < FL_METRICS_MS_BUCKETS && ms > fl_ms_bounds[i])
        i++;
    h->le[i]++;
    h->sum_us += (uint64_t)(ms * 1000.0 + 0.5);
    h->count++;
}

void fl_metrics_render_ms_hist(fl_buf_t *o, const char *name, const char *help,
                               const fl_metric_ms_hist_t *h)
{
    fl_buf_printf(o, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    uint64_t cum = 0;
    for (int i = 0; i <= FL_METRICS_MS_BUCKETS; i++) {
        cum += h->le[i];
        if (i < FL_METRICS_MS_BUCKETS)
            fl_buf_printf(o, "%s_bucket{le=\"%g\"} %llu\n", name, fl_ms_bounds[i],
                          (unsigned long long)cum);
        else
            fl_buf_printf(o, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)cum);
    }
    fl_buf_printf(o, "%s_sum %.3f\n", name, (double)h->sum_us / 1000.0);
    fl_buf_printf(o, "%s_count %llu\n", name, (unsigned long long)h->count);
}

void fl_metrics_render_counter(fl_buf_t *o, const char *name, const char *help, uint64_t v)
{
    fl_buf_printf(o, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", name, help, name, name,
                  (unsigned long long)v);
}

void fl_metrics_render_counters(fl_buf_t *o, const char *name, const char *help, const char *label,
                                const char *const *values, const uint64_t *v, size_t n)
{
    fl_buf_printf(o, "# HELP %s %s\n# TYPE %s counter\n", name, help, name);
    for (size_t i = 0; i < n; i++)
        fl_buf_printf(o, "%s{%s=\"%s\"} %llu\n", name, label, values[i], (unsigned long long)v[i]);
}

void fl_metrics_render_gauge(fl_buf_t *o, const char *name, const char *help, int64_t v)
{
    fl_buf_printf(o, "# HELP %s %s\n# TYPE %s gauge\n%s %lld\n", name, help, name, name,
                  (long long)v);
}

double fl_metrics_uptime_s(const fl_metrics_t *m)
{
    return (double)(fl_time_mono_ns() - m->start_mono_ns) / 1e9;
}

void fl_metrics_render(const fl_metrics_t *m, fl_buf_t *o)
{
    fl_buf_append_str(o, "# HELP framelog_build_info framelogd version.\n"
                         "# TYPE framelog_build_info gauge\n");
    fl_buf_printf(o, "framelog_build_info{version=\"%s\"} 1\n", FL_VERSION);

    fl_buf_append_str(o, "# HELP framelog_uptime_seconds Seconds since framelogd started.\n"
                         "# TYPE framelog_uptime_seconds gauge\n");
    fl_buf_printf(o, "framelog_uptime_seconds %.3f\n", fl_metrics_uptime_s(m));

    fl_buf_append_str(o, "# HELP framelog_http_requests_total HTTP requests by route and status.\n"
                         "# TYPE framelog_http_requests_total counter\n");
    for (int i = 0; i < m->n_req; i++)
        fl_buf_printf(o, "framelog_http_requests_total{route=\"%s\",status=\"%d\"} %llu\n",
                      m->req[i].route, m->req[i].status, (unsigned long long)m->req[i].count);

    fl_buf_append_str(o, "# HELP framelog_http_received_bytes_total Request body bytes received.\n"
                         "# TYPE framelog_http_received_bytes_total counter\n");
    fl_buf_printf(o, "framelog_http_received_bytes_total %llu\n",
                  (unsigned long long)m->bytes_received);
    fl_buf_append_str(o, "# HELP framelog_http_sent_bytes_total Response bytes sent (headers and "
                         "bodies).\n"
                         "# TYPE framelog_http_sent_bytes_total counter\n");
    fl_buf_printf(o, "framelog_http_sent_bytes_total %llu\n", (unsigned long long)m->bytes_sent);

    fl_buf_append_str(o, "# HELP framelog_open_connections Client connections open now.\n"
                         "# TYPE framelog_open_connections gauge\n");
    fl_buf_printf(o, "framelog_open_connections %lld\n", (long long)m->open_connections);
    fl_buf_append_str(o, "# HELP framelog_connections_total Client connections accepted.\n"
                         "# TYPE framelog_connections_total counter\n");
    fl_buf_printf(o, "framelog_connections_total %llu\n", (unsigned long long)m->connections_total);
    fl_buf_append_str(o, "# HELP framelog_connections_refused_total Connections refused at the "
                         "--max-connections limit.\n"
                         "# TYPE framelog_connections_refused_total counter\n");
    fl_buf_printf(o, "framelog_connections_refused_total %llu\n",
                  (unsigned long long)m->connections_refused);

    fl_metrics_render_ms_hist(
        o, "framelog_event_loop_lag_ms",
        "Milliseconds by which the event loop's 100 ms timer fired late: how long "
        "the loop was kept from other connections' work.",
        &m->loop_lag);
}
