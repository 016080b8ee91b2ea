/*
 * server/core/module.h — how a feature plugs into framelogd's core.
 *
 * The core (listeners, the loop, HTTP, workers, metrics, the housekeeping
 * tick) knows no feature. A feature is a module: a static struct naming
 * what it adds — routes, WebSocket subprotocols, a tick, metrics, an access
 * check — and the core iterates over the modules it was given
 * (server/modules.c is the one list; nginx's module table, Janus' plugin
 * struct). Adding HLS, records or hooks is a new folder with one module
 * and one line in that list, never an edit to the core.
 *
 * Life: at start, in list order, init() makes the module's state (storage
 * is open, listeners are bound, nothing is served yet); routes and
 * protocols are live once fl_server_run() starts; tick() runs on the loop
 * every FL_TICK_MS; metrics() appends Prometheus text to GET /metrics; at
 * stop, after every connection is closed and the workers are gone, fini()
 * runs in reverse order. Every callback runs on the loop thread (init and
 * fini on the thread that starts and frees the server) and may be NULL.
 *
 * A module finds its own state, and another module's (a feature finds
 * video's), with fl_server_state(). Route handlers also get their module's
 * state as r->mod.
 *
 * Loops (--loops N): the core runs N event loops, each on its own thread,
 * and a connection lives on the loop that accepted it. So a module's state
 * is shared by N threads: what handlers touch must be per loop (an array
 * indexed by fl_server_loop(), the loop the calling thread runs), atomic,
 * or under the module's own lock at cold moments (connect, close). tick()
 * runs on loop 0 only; loop_tick() runs on every loop. To act on another
 * loop's things (a session that lives there), post a message to it with
 * fl_server_post(): a lock-free inbox and a uv_async wake-up, run on that
 * loop's thread in the order each sender posted. With --loops 1 all of
 * this is one thread, as before.
 */
#ifndef FL_SERVER_CORE_MODULE_H
#define FL_SERVER_CORE_MODULE_H

#include <libwebsockets.h>
#include <stddef.h>

#include "common/bytes.h"
#include "server/core/http.h"

struct fl_server;

/* The housekeeping tick's period. */
#define FL_TICK_MS 100
/* Modules in one server, and WebSocket subprotocols in all of them. */
#define FL_MAX_MODULES   16
#define FL_MAX_WS_PROTOS 16

/* Who asks is an fl_principal_t (http.h), filled by the authenticate step
 * (below) for every AWS route: HTTP requests once their body is in (at
 * their headers for streaming routes), and the PutMedia WebSocket upgrade.
 * Without a module that authenticates, the core reads the identity from
 * the Authorization header unverified (empty when there is none). */

/* What a request offers as proof of who sends it: the connection (its
 * headers and URI arguments, read with fl_http_wsi_header and
 * fl_http_wsi_query), method and path as received, the signing name the
 * route belongs to, and its body when the route has read it whole. */
typedef struct {
    struct lws *wsi;
    fl_http_method_t method;
    const char *path;    /* without the query */
    const char *service; /* "kinesisvideo", "kinesis": the scope's service */
    int json11;          /* errors in the JSON 1.1 shape (Kinesis Data Streams) */
    int body_known;      /* body is the whole body; else not read yet (streaming) */
    fl_slice_t body;
} fl_auth_req_t;

typedef struct fl_module {
    const char *name; /* in logs: "video", "kvs", ... */
    /* Make the module's state. Return 0, or a negative code with a one-line
     * reason in err: framelogd then does not start. */
    int (*init)(struct fl_server *s, void **state, char *err, size_t errlen);
    /* Free the state (every connection is gone by then). */
    void (*fini)(void *state);
    /* Routes, ended by an entry with path NULL; may be NULL. */
    const fl_route_t *routes;
    /* WebSocket subprotocols, ended by an entry with name NULL; may be
     * NULL. Their per-session data is the protocol's own. */
    const struct lws_protocols *ws;
    /* Every FL_TICK_MS on loop 0. */
    void (*tick)(void *state);
    /* Append this module's series (Prometheus text) to GET /metrics. */
    void (*metrics)(void *state, fl_buf_t *out);
    /* May who do action ("kinesisvideo:GetMedia") on resource (an ARN)?
     * 0 to allow, -EACCES to deny with why set to a short reason. The
     * core asks every module that has one; any denial wins; with none,
     * everything is allowed (loopback development). */
    int (*access)(void *state, const fl_principal_t *who, const char *action, const char *resource,
                  const char **why);
    /* Every FL_TICK_MS on each loop, with that loop's index. */
    void (*loop_tick)(void *state, int loop);
    /* Prove who sends req: 0 with who filled (has_key 0: anonymous, when
     * the server runs open), or -1 with the AWS error to answer in err.
     * The core asks the first module that has one. */
    int (*authenticate)(void *state, const fl_auth_req_t *req, fl_principal_t *who,
                        fl_api_error_t *err);
    /* Headers of this module's answers that a page on another origin may
     * read, beyond core's (cors.c), comma-separated; may be NULL. */
    const char *cors_expose;
} fl_module_t;

/* A message for a loop (fl_server_post): embed it, set fn; fn runs on
 * that loop's thread and may free the message. */
typedef struct fl_post fl_post_t;
struct fl_post {
    void (*fn)(fl_post_t *p);
    fl_post_t *next; /* the inbox's */
};

/* The loops this server runs (--loops), and the one the calling thread
 * runs: 0 .. n-1 (0 on threads that run no loop: init, workers). */
int fl_server_loops(const struct fl_server *s);
int fl_server_loop(void);
/* Run p->fn(p) on loop `loop` (any thread; lock-free). Messages posted by
 * one thread run in the order posted. After the loops stopped, they run at
 * fl_server_free, before the modules' fini. */
void fl_server_post(struct fl_server *s, int loop, fl_post_t *p);

/* The state init() made for m in this server, or NULL if m is not one of
 * its modules. */
void *fl_server_state(const struct fl_server *s, const fl_module_t *m);

/* The access check for every stream a request reaches (fl_stream_get calls
 * it; so does any route that names a resource): every module's access()
 * in turn. Returns 0 or -EACCES with *why. */
int fl_server_access(const struct fl_server *s, const fl_principal_t *who, const char *action,
                     const char *resource, const char **why);

/* The authenticate step (see fl_module_t.authenticate) for every AWS
 * route, HTTP and WebSocket alike: 0 with who, or -1 with err. */
int fl_server_authenticate(const struct fl_server *s, const fl_auth_req_t *req, fl_principal_t *who,
                           fl_api_error_t *err);

#endif
