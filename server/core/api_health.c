/*
 * server/core/api_health.c — the core's own module: GET /healthz and
 * GET /metrics (the core's series, then every module's).
 */
#include <stdlib.h>

#include "common/bytes.h"
#include "common/clock.h"
#include "server/core/server_internal.h"

static void api_healthz(fl_http_req_t *req)
{
    fl_buf_t b;
    fl_buf_init(&b, 0);
    fl_buf_printf(&b,
                  "{\"status\":\"ok\",\"version\":\"%s\",\"uptime_seconds\":%.3f,"
                  "\"open_connections\":%lld}\n",
                  FL_VERSION, (double)(fl_time_mono_ns() - req->srv->start_mono_ns) / 1e9,
                  (long long)req->srv->open_connections);
    if (b.err)
        fl_http_respond_error(req, 500, "InternalFailure", "out of memory");
    else
        fl_http_respond(req, 200, "application/json", fl_buf_slice(&b));
    fl_buf_free(&b);
}

/* Per loop: CPU seconds of its thread, ticks late by more than
 * FL_LOOP_LATE_MS, connections open on it. */
static void render_loops(struct fl_server *s, fl_buf_t *b)
{
    fl_buf_append_str(b, "# HELP framelog_loop_cpu_seconds_total CPU time of each event loop's "
                         "thread (sampled every tick).\n"
                         "# TYPE framelog_loop_cpu_seconds_total counter\n");
    for (int i = 0; i < s->n_loops; i++)
        fl_buf_printf(b, "framelog_loop_cpu_seconds_total{loop=\"%d\"} %.3f\n", i,
                      (double)s->loops[i].cpu_ns / 1e9);
    fl_buf_append_str(b, "# HELP framelog_loop_late_ticks_total Housekeeping ticks of each loop "
                         "late by more than 50 ms.\n"
                         "# TYPE framelog_loop_late_ticks_total counter\n");
    for (int i = 0; i < s->n_loops; i++)
        fl_buf_printf(b, "framelog_loop_late_ticks_total{loop=\"%d\"} %llu\n", i,
                      (unsigned long long)s->loops[i].late_ticks);
    fl_buf_append_str(b, "# HELP framelog_loop_lag_ms_sum Milliseconds each loop's ticks were "
                         "late, summed.\n"
                         "# TYPE framelog_loop_lag_ms_sum counter\n");
    for (int i = 0; i < s->n_loops; i++)
        fl_buf_printf(b, "framelog_loop_lag_ms_sum{loop=\"%d\"} %.3f\n", i,
                      (double)s->loops[i].metrics.loop_lag.sum_us / 1000.0);
    fl_buf_append_str(b, "# HELP framelog_loop_open_connections Client connections open on each "
                         "loop.\n"
                         "# TYPE framelog_loop_open_connections gauge\n");
    for (int i = 0; i < s->n_loops; i++)
        fl_buf_printf(b, "framelog_loop_open_connections{loop=\"%d\"} %lld\n", i,
                      (long long)s->loops[i].metrics.open_connections);
}

static void api_metrics(fl_http_req_t *req)
{
    struct fl_server *s = req->srv;
    fl_buf_t b;
    fl_buf_init(&b, 0);
    /* the loops' counters summed, then each loop's own series */
    fl_metrics_t *sum = malloc(sizeof *sum);
    if (!sum) {
        fl_http_respond_error(req, 500, "InternalFailure", "out of memory");
        return;
    }
    fl_metrics_init(sum);
    fl_server_metrics_sum(s, sum);
    fl_metrics_render(sum, &b);
    free(sum);
    render_loops(s, &b);
    fl_limits_render(s->limits, &b);
    fl_store_stats_t st;
    fl_store_stats(fl_server_store(s), &st);
    fl_metrics_render_gauge(&b, "framelog_storage_bytes", "Bytes of segment files on disk.",
                            (int64_t)st.segment_bytes);
    fl_metrics_render_gauge(&b, "framelog_storage_pending_bytes",
                            "Bytes of appends queued or in flight.", (int64_t)st.pending_bytes);
    fl_metrics_render_counter(&b, "framelog_storage_expired_segments_total",
                              "Segments removed by retention.", st.expired_segments);
    fl_metrics_render_counter(&b, "framelog_storage_fdatasyncs_total",
                              "Segment fdatasyncs (group commits reaching the disk).",
                              st.fdatasyncs);
    for (int i = 0; i < s->n_modules; i++)
        if (s->modules[i]->metrics)
            s->modules[i]->metrics(s->states[i], &b);
    if (b.err)
        fl_http_respond_error(req, 500, "InternalFailure", "out of memory");
    else
        fl_http_respond(req, 200, "text/plain; version=0.0.4; charset=utf-8", fl_buf_slice(&b));
    fl_buf_free(&b);
}

static const fl_route_t health_routes[] = {
    {.method = FL_HTTP_GET, .path = "/healthz", .name = "/healthz", .handler = api_healthz},
    {.method = FL_HTTP_GET, .path = "/metrics", .name = "/metrics", .handler = api_metrics},
    {.path = NULL},
};

const fl_module_t fl_health_module = {
    .name = "health",
    .routes = health_routes,
};
