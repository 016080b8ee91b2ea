/*
 * server/core/server_internal.h — the server object, shared by the files
 * of server/core/ only. Features reach what they need of it through
 * server.h's accessors and module.h.
 */
#ifndef FL_SERVER_CORE_SERVER_INTERNAL_H
#define FL_SERVER_CORE_SERVER_INTERNAL_H

#include <libwebsockets.h>
#include <stdatomic.h>
#include <stdint.h>
#include <uv.h>

#include "server/core/config.h"
#include "server/core/datarec.h"
#include "server/core/http.h"
#include "server/core/limits.h"
#include "server/core/metrics.h"
#include "server/core/module.h"
#include "server/core/server.h"
#include "server/core/workers.h"
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
    uint8_t token_key[32]; /* seals tokens (token.h), from <data-dir>/server.key */
    /* the modules (module.h), their states, in list order */
    const fl_module_t *modules[FL_MAX_MODULES];
    void *states[FL_MAX_MODULES];
    int n_modules;
    int n_inited; /* modules whose init() succeeded (fini for those) */
    /* the protocols every vhost serves: http, the modules' WebSocket
     * subprotocols, then the core's raw descriptors; NULL-ended */
    struct lws_protocols protocols[FL_MAX_WS_PROTOS + 6];
    uv_loop_t uv_loop; /* the event loop, libuv's (lws runs on it) */
    int uv_loop_ready;
    uv_timer_t tick_timer; /* housekeeping every FL_TICK_MS; how late it
                              fires is the loop's lag (metrics.loop_lag) */
    int tick_timer_on;
    uint64_t lag_due_ns;
    void *foreign_loops[1];
    fl_limits_t *limits;            /* limits.h: caps per address, memory budget, counters */
    fl_datarec_observers_t datarec; /* datarec.h: set at start, read-only after */
};

/* Leave the event loop (loop thread only; after stop is set). */
void fl_server_loop_stop(struct fl_server *s);

/* The route for a request over every module's routes; *mod is that
 * module's state; *found_path is set when the path exists under another
 * method (-> 405). */
const fl_route_t *fl_server_route(const struct fl_server *s, fl_http_method_t method,
                                  const char *path, const char *target, void **mod,
                                  int *found_path);

#endif
