/*
 * server/http.h — HTTP requests on the libwebsockets loop: routing, bodies
 * with limits, and responses written only from the WRITEABLE callback.
 *
 * A request's life (one per HTTP transaction; keep-alive reuses the
 * connection):
 *   HEADERS  -> the route is found (404/405 if none), the body limit checked
 *   BODY     -> body bytes collect in req->body, capped (413 past the cap)
 *   HANDLER  -> route->handler(req) runs once the body is complete; it calls
 *               fl_http_respond*() before returning
 *   WRITING  -> headers then body go out (see fl_http_respond)
 *   DONE     -> lws_http_transaction_completed(); the state is reset
 * Handlers run on the loop thread and must not block.
 */
#ifndef FL_SERVER_HTTP_H
#define FL_SERVER_HTTP_H

#include <libwebsockets.h>

#include "common/bytes.h"
#include "common/cbor.h"
#include "common/json.h"
#include "common/sigv4_canon.h"
#include "server/core/workers.h"

/* Who asks (see module.h). */
typedef struct {
    int has_key;
    char access_key[129];
    char region[64];
    char service[64];
} fl_principal_t;

struct fl_server;

typedef enum {
    FL_HTTP_OTHER = 0,
    FL_HTTP_GET,
    FL_HTTP_HEAD,
    FL_HTTP_POST,
    FL_HTTP_PUT,
    FL_HTTP_DELETE,
    FL_HTTP_OPTIONS,
    FL_HTTP_PATCH,
} fl_http_method_t;

typedef struct fl_http_req fl_http_req_t;

/* Route flags. */
/* An AWS API: the SigV4 identity is read from the request (and a malformed
 * Authorization refused), and a JSON body is parsed into req->json. */
#define FL_ROUTE_AWS 1
/* Errors in the JSON 1.1 shape (Kinesis Data Streams): `__type` in an
 * application/x-amz-json-1.1 body. Without it, rest-json: the type in the
 * x-amzn-ErrorType header (and in the body too). */
#define FL_ROUTE_JSON11 2
/* Callable from pages on other origins (core/cors.h), as every
 * FL_ROUTE_AWS route is: playlists, segments, the /framelog/ routes. */
#define FL_ROUTE_CORS 4

/* A streaming route (PutMedia, GetMedia) takes over the request once its
 * headers are in: the body reaches it as it arrives, and it writes its
 * response from WRITEABLE itself (fl_http_stream_*). */
typedef struct {
    /* Headers are in. Set r->stream; or respond with an error
     * (fl_http_respond*) to refuse. Return 0, or -1 to close at once. */
    int (*start)(fl_http_req_t *r);
    /* Body bytes as they arrive (still chunk-encoded if the request is).
     * Return 0, or -1 to close the connection. */
    int (*body)(fl_http_req_t *r, fl_slice_t bytes);
    /* A Content-Length body is complete. */
    int (*body_end)(fl_http_req_t *r);
    /* The connection can take more: write at most one piece. Return 0, or
     * -1 to close (after a last piece, for a response without length). */
    int (*writeable)(fl_http_req_t *r);
    /* The timer set with lws_set_timer_usecs() is up. */
    int (*timer)(fl_http_req_t *r);
    /* The connection is gone: free r->stream. */
    void (*closed)(fl_http_req_t *r);
} fl_http_stream_ops_t;

/* How a route's path is matched. */
typedef enum {
    FL_MATCH_EXACT = 0, /* the request's path equals path */
    FL_MATCH_PREFIX,    /* the request's path starts with path */
} fl_route_match_t;

/* One endpoint. Declared in static tables by the modules (module.h). A
 * request picks the route whose method and path match and, when the route
 * names a target, whose X-Amz-Target header equals it (Kinesis Data
 * Streams dispatches `POST /` that way); an exact path wins over a prefix,
 * a longer prefix over a shorter one. */
typedef struct {
    fl_http_method_t method;
    const char *path;
    const char *name; /* label in metrics and logs */
    void (*handler)(fl_http_req_t *req);
    int flags;                          /* FL_ROUTE_* */
    const fl_http_stream_ops_t *stream; /* streaming routes only (handler NULL) */
    fl_route_match_t match;
    const char *target; /* X-Amz-Target, or NULL: any (or none) */
    size_t max_body;    /* largest body (and JSON string) taken; 0: --max-body-bytes */
    /* FL_ROUTE_JSON11 routes that also take `application/x-amz-cbor-1.1`
     * (common/cbor.h): the body is read as the JSON it stands for, and the
     * answer (errors too) goes back in CBOR with these blobs and
     * timestamps. NULL: JSON only. */
    const fl_cbor_shape_t *cbor;
} fl_route_t;

/* The best route of table for a request (see fl_route_t), or NULL. *score
 * is how well it matched (compare across tables: higher wins); *found_path
 * is set when the path matches a route under another method (-> 405).
 * target is the request's X-Amz-Target ("" without one; NULL: any). */
const fl_route_t *fl_route_match(const fl_route_t *table, fl_http_method_t method, const char *path,
                                 const char *target, int *score, int *found_path);

/* Work a handler hands to the worker pool (fl_http_async_or_busy): work() runs on
 * a worker thread and must not touch the request; done() runs on the loop
 * thread afterwards with the request, or with NULL when the client has gone
 * meanwhile, and then frees the async struct (which the handler allocated,
 * usually as the first member of its own job struct) — or, instead of
 * responding, hands the request on to another stage (fl_http_async_or_busy
 * or fl_http_await again, with this struct or another). */
typedef struct fl_http_async fl_http_async_t;
struct fl_http_async {
    fl_job_t job;       /* the pool's */
    fl_http_req_t *req; /* the http layer's: NULL once the client is gone */
    void (*work)(fl_http_async_t *a);
    void (*done)(fl_http_async_t *a, fl_http_req_t *req);
};

#define FL_HTTP_MAX_EXTRA_HEADERS 8
/* The largest piece one writeable call sends. */
#define FL_HTTP_WRITE_CHUNK 65536

typedef enum {
    FL_REQ_IDLE = 0,
    FL_REQ_BODY,    /* collecting the body */
    FL_REQ_ASYNC,   /* a worker has the request's job */
    FL_REQ_STREAM,  /* a streaming route has the connection */
    FL_REQ_WRITING, /* the response is going out */
    FL_REQ_DONE
} fl_req_state_t;

struct fl_http_req {
    struct lws *wsi;
    struct fl_server *srv;
    fl_req_state_t state;
    fl_http_method_t method;
    char path[512];
    const fl_route_t *route;
    const char *route_name; /* route->name, or "other" */
    fl_buf_t body;
    int body_too_large; /* its body is not read: the connection closes after the answer */
    int no_route;       /* 404 or 405: the body (if any) is read and dropped, then answered */
    char request_id[40];
    int64_t start_mono_ns;
    int counted_connection; /* this wsi is in open_connections */
    fl_json_doc_t *json;    /* FL_ROUTE_AWS: the parsed body (NULL if empty) */
    int cbor;               /* the body came as CBOR: so goes the answer */
    int has_auth;           /* FL_ROUTE_AWS: an Authorization header was parsed */
    fl_sigv4_canon_auth_t auth;
    fl_principal_t who;               /* FL_ROUTE_AWS: who asks (from auth) */
    void *mod;                        /* the state of the module whose route this is */
    fl_http_async_t *async;           /* the job in flight, FL_REQ_ASYNC only */
    void *stream;                     /* a streaming route's state */
    const fl_http_stream_ops_t *sops; /* and its hooks (FL_REQ_STREAM) */

    /* response */
    int status;
    const char *content_type;
    fl_buf_t resp; /* the body (but a shared one) */
    fl_buf_t head; /* the head, when it goes out with the body (direct) */
    size_t resp_off;
    int headers_sent;
    /* a shared body (fl_http_respond_shared): its owner's bytes, given
     * back with release(release_ctx) once sent or the connection gone */
    fl_slice_t shared;
    void (*shared_release)(void *ctx);
    void *shared_ctx;
    int has_shared;
    int direct; /* head and body go out on the socket itself */
    /* between two requests of a kept-alive connection: on its loop's idle
     * list (http.c), oldest first, since idle_since_ns (monotonic) */
    fl_http_req_t *idle_prev, *idle_next;
    int64_t idle_since_ns;
    int idle_on;
    struct {
        char name[48];
        char value[160];
    } extra[FL_HTTP_MAX_EXTRA_HEADERS];
    int n_extra;
    /* CORS (cors.c): what the answer's head says to another origin */
    uint8_t cors;            /* 0 nothing, else Access-Control-Allow-Origin */
    uint8_t cors_vary;       /* Vary: Origin */
    uint8_t cors_preflight;  /* a preflight's answer */
    const char *cors_expose; /* the module's exposed headers, or NULL */
    char cors_origin[128];
    char cors_methods[16];
    char cors_headers[384];
};

/* Hand a to the worker pool; the handler then returns without responding,
 * and a->done() responds later. Returns 0, or FL_EAGAIN when the pool is
 * full, having answered as a busy server: 400 with the API's error type for
 * it (ClientLimitExceededException for Kinesis Video, say) and "the server
 * is busy; retry later"; the handler then frees its job. */
int fl_http_async_or_busy(fl_http_req_t *r, fl_http_async_t *a, const char *busy_type);

/* Park the request until something other than the worker pool (a storage
 * completion) finishes it: the handler returns without responding, and
 * whoever finishes calls fl_http_await_done(a), on the loop thread, which
 * runs a->done(a, req) — req NULL if the client went meanwhile — as for
 * fl_http_async_or_busy. a->work is not used. */
void fl_http_await(fl_http_req_t *r, fl_http_async_t *a);
void fl_http_await_done(fl_http_async_t *a);

/* Turn a request whose body is complete (a JSON API call) into a
 * streaming response driven by ops (GetMedia): instead of responding, the
 * handler calls this; ops->writeable is called next. */
void fl_http_stream_begin(fl_http_req_t *r, const fl_http_stream_ops_t *ops, void *state);

/* Streaming responses. From the writeable hook only, one call per hook:
 * the headers (content_length < 0: none; the connection then closes at
 * the end), then pieces of body. Returns 0 or -1 (close). */
int fl_http_stream_headers(fl_http_req_t *r, int status, const char *content_type,
                           long long content_length);
int fl_http_stream_write(fl_http_req_t *r, fl_slice_t bytes, int final);
/* The same without the copy into the send buffer: p has LWS_PRE bytes
 * before it that are the caller's and that lws may overwrite (libwebsockets'
 * rule for lws_write), e.g. a queue whose sent bytes lie before p. At most
 * FL_HTTP_WRITE_CHUNK bytes. */
int fl_http_stream_write_pre(fl_http_req_t *r, uint8_t *p, size_t n, int final);
/* Copy a request header (lws's token or a custom "name:") into buf;
 * returns its length, or -1 when absent or longer than cap - 1. */
int fl_http_header(fl_http_req_t *r, const char *custom_name, char *buf, size_t cap);

/* This server's URL as the client can reach it (no path), for answers that
 * name an endpoint (GetDataEndpoint, HLS session URLs): the advertised
 * endpoint when one is configured (behind a proxy or NAT), else the
 * address the client used (its Host header, with the port the request
 * came in on when Host has none, as AWS's C producers send it), else the
 * first listener's. */
void fl_http_base_url(fl_http_req_t *r, char *buf, size_t cap);

/* A member of the JSON body (FL_ROUTE_AWS routes), or NULL. */
const fl_json_t *fl_http_json(const fl_http_req_t *r, const char *key);
/* An integer member of the JSON body in [min, max]: 1 with *out, 0 when
 * absent (*out untouched), or -1 after answering 400
 * InvalidArgumentException (not an integer, null among those, or out of
 * range). */
int fl_http_json_int(fl_http_req_t *r, const char *key, int64_t min, int64_t max, int64_t *out);

/* The identity in a connection's Authorization header (HTTP requests and
 * WebSocket upgrades alike): 0 with who filled (has_key 0 without the
 * header), or -1 with *why when the header is malformed. */
int fl_http_principal(struct lws *wsi, fl_principal_t *who, fl_sigv4_canon_auth_t *auth,
                      const char **why);

/* A request header of a connection (HTTP or WebSocket upgrade) by its
 * lower-case name ("host", "x-amz-date"), lws's known headers and custom
 * ones alike, into buf: its length, or -1 when absent or longer than
 * cap - 1. */
int fl_http_wsi_header(struct lws *wsi, const char *name, char *buf, size_t cap);
/* The request's query (after '?') as name=value pairs joined by '&', each
 * name and value percent-encoded again (lws hands them over decoded), so
 * that SigV4's canonical query of it is the client's. Appended to out;
 * 0, or FL_ELIMIT / FL_ENOMEM (out's error). */
int fl_http_wsi_query(struct lws *wsi, fl_buf_t *out);

/* The protocol callback for HTTP on every listener. */
int fl_http_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                     size_t len);

/* Queue a response. Call once per request. It is written from WRITEABLE,
 * or, when the handler answers within lws's HTTP callback (a cache hit), at
 * the end of that callback. On a plain-text connection with nothing
 * buffered in lws, head and body go out together straight on the socket
 * (sendmsg), as much as it takes per call, and a writeable call is asked
 * for only when it is full; otherwise (TLS) through lws, one lws_write of
 * at most FL_HTTP_WRITE_CHUNK per writeable call. */
void fl_http_respond(fl_http_req_t *r, int status, const char *content_type, fl_slice_t body);
/* The same for a body that is not copied: immutable bytes its owner keeps
 * until release(ctx) is called (once: when the response is out, the
 * connection has gone, or at once when the response cannot be queued).
 * On a plain-text connection the head and body go out with sendmsg()
 * straight from body.p, as much as the socket takes per writeable call
 * (see fl_http_respond); over TLS they go through lws in
 * FL_HTTP_WRITE_CHUNK pieces, copied. */
void fl_http_respond_shared(fl_http_req_t *r, int status, const char *content_type, fl_slice_t body,
                            void (*release)(void *ctx), void *ctx);
/* A JSON error in the AWS rest-json shape: status, x-amzn-ErrorType, and
 * {"message": "..."}. */
void fl_http_respond_error(fl_http_req_t *r, int status, const char *error_type, const char *fmt,
                           ...) __attribute__((format(printf, 4, 5)));
/* The error body both shapes carry: {"__type":"...","message":"..."} and a
 * newline, appended to b. */
void fl_http_error_body(fl_buf_t *b, const char *error_type, const char *msg);
/* Add a response header (before fl_http_respond*). Returns 0 or FL_ELIMIT. */
int fl_http_add_header(fl_http_req_t *r, const char *name, const char *value);

/* An AWS error to answer with: status, type, message. Built where the
 * error is known (often not on a request: a WebSocket, a worker) and sent
 * with fl_http_respond_api_error(). */
typedef struct {
    int status;
    const char *type; /* "ResourceNotFoundException" (static) */
    char msg[320];
} fl_api_error_t;

/* Fill e; returns -1 (so that `return fl_api_error(...)` reads well). */
int fl_api_error(fl_api_error_t *e, int status, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void fl_http_respond_api_error(fl_http_req_t *r, const fl_api_error_t *e);

const char *fl_http_method_name(fl_http_method_t m);

#endif
