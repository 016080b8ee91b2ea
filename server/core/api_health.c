/*
 * server/core/api_health.c — the core's own module: GET /healthz and
 * GET /metrics (the core's series, then every module's).
 */
#include "common/bytes.h"
#include "server/core/server_internal.h"

static void api_healthz(fl_http_req_t *req)
{
    fl_buf_t b;
    fl_buf_init(&b, 0);
    fl_buf_printf(&b,
                  "{\"status\":\"ok\",\"version\":\"%s\",\"uptime_seconds\":%.3f,"
                  "\"open_connections\":%lld}\n",
                  FL_VERSION, fl_metrics_uptime_s(&req->srv->metrics),
                  (long long)req->srv->metrics.open_connections);
    if (b.err)
        fl_http_respond_error(req, 500, "InternalFailure", "out of memory");
    else
        fl_http_respond(req, 200, "application/json", fl_buf_slice(&b));
    fl_buf_free(&b);
}

static void api_metrics(fl_http_req_t *req)
{
    struct fl_server *s = req->srv;
    fl_buf_t b;
    fl_buf_init(&b, 0);
    fl_metrics_render(&s->metrics, &b);
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
