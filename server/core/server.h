/*
 * server/core/server.h — framelogd's server: listeners, the event loop, and
 * orderly shutdown.
 *
 * fl_server_new() binds every listener (or fails with a one-line reason);
 * fl_server_run() serves until SIGINT/SIGTERM (taken through a signalfd on
 * the loop, so no work happens in a signal handler) or fl_server_stop();
 * fl_server_free() closes every connection.
 */
#ifndef FL_SERVER_SERVER_H
#define FL_SERVER_SERVER_H

#include <stddef.h>

#include "server/core/config.h"
#include "server/core/metrics.h"
#include "server/core/module.h"
#include "server/core/workers.h"
#include "storage/log.h"

typedef struct fl_server fl_server_t;

/* Check the configuration, prepare the data dir, open the storage, bind
 * every listener and initialise the modules (a NULL-ended list; the
 * server keeps the pointer). On failure returns a negative code and a
 * one-line reason in err. */
int fl_server_new(const fl_config_t *cfg, const fl_module_t *const *modules, fl_server_t **out,
                  char *err, size_t errlen);
/* Serve until a stop signal. Returns 0 after a clean stop. */
int fl_server_run(fl_server_t *s);
/* Ask the loops to stop (thread-safe). */
void fl_server_stop(fl_server_t *s);
void fl_server_free(fl_server_t *s);

/* What modules may use of the server (module.h for the rest). */
const fl_config_t *fl_server_config(const fl_server_t *s);
fl_store_t *fl_server_store(const fl_server_t *s);
/* The worker pool of the calling thread's loop (done() runs there). */
fl_workers_t *fl_server_workers(const fl_server_t *s);
/* The limits of limits.h (any thread). */
struct fl_limits *fl_server_limits(const fl_server_t *s);
/* Does this server have access keys? A listener outside loopback needs
 * them (DESIGN.md). 0 until access keys exist (server/auth/). */
int fl_server_has_access_keys(const fl_server_t *s);
/* The first listener's URL, e.g. "http://127.0.0.1:8080". */
const char *fl_server_base_url(const fl_server_t *s);
/* Does a module serve method on path (with X-Amz-Target target, or NULL)?
 * For pages that show only what this server offers (the console). */
int fl_server_has_route(const fl_server_t *s, fl_http_method_t method, const char *path,
                        const char *target);

/* The core's counters of the calling thread's loop: connections and bytes
 * that a module's own protocol carries count there too. */
fl_metrics_t *fl_server_metrics(fl_server_t *s);

/* Storage completions are dispatched to the fl_completion_t each append
 * was given as its cookie, on the loop that appended (fl_completion_init
 * notes which: call it on that loop before the append). */
typedef struct fl_completion fl_completion_t;
struct fl_completion {
    void (*done)(fl_completion_t *c, int status, uint64_t seq);
    int loop; /* the loop done() runs on */
    /* the core's: the hand-over to that loop */
    fl_post_t post;
    int status;
    uint64_t seq;
};
void fl_completion_init(fl_completion_t *c,
                        void (*done)(fl_completion_t *c, int status, uint64_t seq));

/* The core's own module: GET /healthz and GET /metrics. */
extern const fl_module_t fl_health_module;

/* Block SIGINT, SIGTERM (taken by the loop's signalfd) and ignore SIGPIPE in
 * the calling thread; call before any thread starts so all inherit it. */
int fl_server_prepare_signals(void);

#endif
