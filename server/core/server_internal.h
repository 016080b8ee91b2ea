/*
 * server/core/server_internal.h — the server object, shared by the files
 * of server/core/ only. Features reach what they need of it through
 * server.h's accessors and module.h.
 */
#ifndef FL_SERVER_CORE_SERVER_INTERNAL_H
#define FL_SERVER_CORE_SERVER_INTERNAL_H

#include <libwebsockets.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <uv.h>

#include "server/core/config.h"
#include "server/core/cors.h"
#include "server/core/datarec.h"
#include "server/core/http.h"
#include "server/core/limits.h"
#include "server/core/metrics.h"
#include "server/core/module.h"
#include "server/core/server.h"
#include "server/core/workers.h"
#include "storage/log.h"

/* One event loop (--loops): its own thread, libuv loop and lws context
 * with a listener on every --listen address (SO_REUSEPORT: the kernel
 * spreads new connections over the loops), its own workers, metrics and
 * housekeeping tick, and an inbox other threads post to (fl_server_post):
 * a lock-free stack taken whole by the loop when `wake` fires. */
typedef struct fl_loop {
    struct fl_server *s;
    int index;
    struct lws_context *ctx;
    struct lws_vhost *vhosts[FL_CONFIG_MAX_LISTEN];
    uv_loop_t uv_loop; /* the event loop, libuv's (lws runs on it) */
    int uv_loop_ready;
    void *foreign_loops[1];
    uv_async_t wake; /* inbox, workers' completions and stop requests */
    int wake_on;
    _Atomic(fl_post_t *) inbox;
    fl_metrics_t metrics;  /* this loop's; /metrics sums the loops */
    fl_workers_t *workers; /* catalog writes and other blocking work */
    uv_timer_t tick_timer; /* housekeeping every FL_TICK_MS; how late it
                              fires is the loop's lag (metrics.loop_lag) */
    int tick_timer_on;
    uint64_t lag_due_ns;
    _Atomic uint64_t cpu_ns;     /* the loop thread's CPU time, sampled at each tick */
    _Atomic uint64_t late_ticks; /* ticks late by more than FL_LOOP_LATE_MS */
    /* with several loops, or TLS: each loop's own listen sockets
     * (SO_REUSEPORT with several), accepted from here and given to its
     * context (TLS: through h2tls.c) */
    struct fl_listener {
        uv_poll_t poll;
        struct fl_loop *l;
        int i, fd, on;
    } listeners[FL_CONFIG_MAX_LISTEN];
    struct ssl_ctx_st *tls_h2; /* TLS listeners: the SSL_CTX h2tls.c serves
                                  HTTP/2 with (tls.c), swapped on SIGHUP */
    pthread_t thread;          /* loops 1..n-1; loop 0 runs on fl_server_run's thread */
    int thread_on;
    /* kept-alive HTTP connections between two requests, oldest first
     * (http.c): closed past --idle-timeout by the tick */
    fl_http_req_t *idle_head, *idle_tail;
} fl_loop_t;

/* A tick this late counts in framelog_loop_late_ticks_total. */
#define FL_LOOP_LATE_MS 50

struct fl_server {
    const fl_config_t *cfg;
    fl_loop_t loops[FL_CONFIG_MAX_LOOPS];
    int n_loops;
    int ports[FL_CONFIG_MAX_LISTEN]; /* the bound ports (port 0 resolved) */
    int n_vhosts;
    char base_url[320];               /* the first listener's URL, e.g. http://127.0.0.1:8080 */
    _Atomic int stop;                 /* set by a signal or fl_server_stop() */
    int signal_fd;                    /* signalfd for SIGINT/SIGTERM, adopted by loop 0 */
    int64_t start_mono_ns;            /* for uptime */
    _Atomic int64_t open_connections; /* over every loop, for --max-connections */
    uint8_t request_id_key[8];        /* random, so request ids differ across runs */
    _Atomic uint64_t request_seq;
    fl_store_t *store;     /* the data dir's storage */
    uint8_t token_key[32]; /* seals tokens (token.h), from <data-dir>/server.key */
    /* the modules (module.h), their states, in list order */
    const fl_module_t *modules[FL_MAX_MODULES];
    void *states[FL_MAX_MODULES];
    int n_modules;
    int n_inited; /* modules whose init() succeeded (fini for those) */
    /* the protocols every vhost serves: http, the modules' WebSocket
     * subprotocols, then the core's raw descriptors; NULL-ended */
    struct lws_protocols protocols[FL_MAX_WS_PROTOS + 7];
    fl_limits_t *limits;            /* limits.h: caps per address, memory budget, counters */
    fl_datarec_observers_t datarec; /* datarec.h: set at start, read-only after */
    fl_cors_t cors;                 /* cors.h: --cors-origins, read-only after start */
};

/* The loop the calling thread runs (loop 0 off the loops). */
fl_loop_t *fl_server_this_loop(struct fl_server *s);
/* The loops' metrics summed into out (fl_metrics_init'ed by the caller). */
void fl_server_metrics_sum(struct fl_server *s, fl_metrics_t *out);
/* The port of the listener vhost vh serves (any loop's), or -1. */
int fl_server_vhost_port(struct fl_server *s, struct lws_vhost *vh);
/* Close this loop's kept-alive connections idle for --idle-timeout
 * (http.c; from the loop's tick). */
void fl_http_idle_sweep(fl_loop_t *l);

/* Run what other threads posted to this loop, and its workers' done()s. */
void fl_server_loop_drain(fl_loop_t *l);

/* Set stop and make every loop leave (any thread). */
void fl_server_loop_stop(struct fl_server *s);

/* The route for a request over every module's routes; *mod is that
 * module's state; *found_path is set when the path exists under another
 * method (-> 405). target NULL: any route's target matches. */
const fl_route_t *fl_server_route(const struct fl_server *s, fl_http_method_t method,
                                  const char *path, const char *target, void **mod,
                                  int *found_path);

#endif
