/*
 * server/server_internal.h — the server object, shared by the files of
 * server/ (never by other folders).
 */
#ifndef FL_SERVER_SERVER_INTERNAL_H
#define FL_SERVER_SERVER_INTERNAL_H

#include <libwebsockets.h>
#include <stdatomic.h>
#include <stdint.h>
#include <uv.h>

#include "server/config.h"
#include "server/http.h"
#include "server/hub.h"
#include "server/metrics.h"
#include "server/server.h"
#include "server/streams.h"
#include "server/workers.h"
#include "storage/log.h"

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
    fl_store_t *store;     /* the data dir's storage */
    fl_streams_t *streams; /* Kinesis Video streams in it */
    fl_hub_t *hub;         /* streams in use: live tails, producers, readers */
    uv_loop_t uv_loop;     /* the event loop, libuv's (lws runs on it) */
    int uv_loop_ready;
    uv_timer_t tick_timer; /* housekeeping every FL_TICK_MS; how late it
                              fires is the loop's lag (metrics.loop_lag) */
    int tick_timer_on;
    uint64_t lag_due_ns;
    struct putmedia *putmedia; /* PutMedia sessions (api_putmedia.c's list) */
    void *foreign_loops[1];
};

#define FL_TICK_MS 100

/* Leave the event loop (loop thread only; after stop is set). */
void fl_server_loop_stop(struct fl_server *s);

/* The route table (server/routes.c) and its lookup. */
extern const fl_route_t fl_routes[];
/* Find the route for (method, path): *found_path is set when the path exists
 * under another method (-> 405). */
const fl_route_t *fl_route_find(fl_http_method_t method, const char *path, int *found_path);

/* Handlers (server/api_health.c). */
void fl_api_healthz(fl_http_req_t *req);
void fl_api_metrics(fl_http_req_t *req);

/* Handlers (server/api_streams.c): the Kinesis Video control plane. */
void fl_api_create_stream(fl_http_req_t *req);
void fl_api_describe_stream(fl_http_req_t *req);
void fl_api_list_streams(fl_http_req_t *req);
void fl_api_delete_stream(fl_http_req_t *req);
void fl_api_update_stream(fl_http_req_t *req);
void fl_api_update_data_retention(fl_http_req_t *req);
void fl_api_tag_stream(fl_http_req_t *req);
void fl_api_untag_stream(fl_http_req_t *req);
void fl_api_list_tags_for_stream(fl_http_req_t *req);
void fl_api_tag_resource(fl_http_req_t *req);
void fl_api_untag_resource(fl_http_req_t *req);
void fl_api_list_tags_for_resource(fl_http_req_t *req);
void fl_api_get_data_endpoint(fl_http_req_t *req);

/* Media (server/api_putmedia.c, api_getmedia.c, api_fragments.c). */
extern const fl_stream_ops_t fl_putmedia_ops;
/* Housekeeping, every FL_TICK_MS: IDLE acks to producers that got none. */
void fl_putmedia_tick(struct fl_server *s);
int fl_putmedia_ws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                            size_t len);
void fl_api_get_media(fl_http_req_t *req);
void fl_api_get_media_for_fragment_list(fl_http_req_t *req);
void fl_api_list_fragments(fl_http_req_t *req);
/* StreamName/StreamARN of a media request: its log and info. Responds
 * with the error and returns -1 when there is none. */
int fl_api_media_stream(fl_http_req_t *r, char *name, size_t cap, fl_log_t **log,
                        fl_log_info_t *li);

/* Storage completions are dispatched on the loop to the fl_completion_t
 * each append was given as its cookie. */
typedef struct fl_completion fl_completion_t;
struct fl_completion {
    void (*done)(fl_completion_t *c, int status, uint64_t seq);
};

#endif
