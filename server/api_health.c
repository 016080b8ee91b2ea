/*
 * server/api_health.c — GET /healthz and GET /metrics.
 */
#include "common/bytes.h"
#include "server/server_internal.h"

void fl_api_healthz(fl_http_req_t *req)
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

void fl_api_metrics(fl_http_req_t *req)
{
    fl_buf_t b;
    fl_buf_init(&b, 0);
    fl_metrics_render(&req->srv->metrics, &b);
    if (b.err)
        fl_http_respond_error(req, 500, "InternalFailure", "out of memory");
    else
        fl_http_respond(req, 200, "text/plain; version=0.0.4; charset=utf-8", fl_buf_slice(&b));
    fl_buf_free(&b);
}
