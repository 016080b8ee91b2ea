/*
 * server/server_internal.h — the server object, shared by the files of
 * server/ (never by other folders).
 */
#ifndef FL_SERVER_SERVER_INTERNAL_H
#define FL_SERVER_SERVER_INTERNAL_H

#include <libwebsockets.h>
#include <stdatomic.h>
#include <stdint.h>

#include "server/config.h"
#include "server/http.h"
#include "server/metrics.h"
#include "server/server.h"
#include "server/workers.h"

struct fl_server {
    const fl_config_t *cfg;
    struct lws_context *ctx;
    struct lws_vhost *vhosts[FL_CONFIG_MAX_LISTEN];
    int ports[FL_CONFIG_MAX_LISTEN]; /* the bound ports (port 0 resolved) */
    int n_vhosts;
    char base_url[320];        /* the first listener's URL, e.g. http://127.0.0.1:8080 */
    _Atomic int stop;          /* set by a signal or fl_server_stop() */
    int signal_fd;             /* signalfd for SIGINT/SIGTERM, adopted by the loop */
    fl_metrics_t metrics;      /* loop thread only */
    uint8_t request_id_key[8]; /* random, so request ids differ across runs */
    uint64_t request_seq;
    fl_workers_t *workers; /* catalog writes and other blocking work */
};

/* The route table (server/routes.c) and its lookup. */
extern const fl_route_t fl_routes[];
/* Find the route for (method, path): *found_path is set when the path exists
 * under another method (-> 405). */
const fl_route_t *fl_route_find(fl_http_method_t method, const char *path, int *found_path);

/* Handlers (server/api_health.c). */
void fl_api_healthz(fl_http_req_t *req);
void fl_api_metrics(fl_http_req_t *req);

#endif
