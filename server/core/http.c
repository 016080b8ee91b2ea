/*
 * server/core/http.c — HTTP transactions on the libwebsockets loop. See http.h
 * for the request life cycle.
 *
 * libwebsockets gives each connection one fl_http_req_t (its per-session
 * data, zeroed at accept). Keep-alive runs several transactions through the
 * same struct, so every transaction starts with req_reset(). Responses are
 * written from LWS_CALLBACK_HTTP_WRITEABLE, or at the end of the
 * LWS_CALLBACK_HTTP in which the handler answered (a cache hit): no
 * writeable call is asked for then. On a plain-text connection with
 * nothing in lws's send buffer, head and body go out together with
 * sendmsg() straight on the socket, as much as it takes per call, and a
 * writeable call is asked for only when it is full; lws then holds none of
 * the response (nothing is written through lws until it ends), so the
 * bytes on the wire stay in order (h2.c's socket pairs too: it reads the
 * head apart from the body that follows it). Otherwise (TLS) one
 * lws_write() per callback: the headers first, then the body in
 * pieces of at most FL_HTTP_WRITE_CHUNK bytes. A shared body (fl_http_respond_shared) is
 * sent from its owner's bytes, never copied on the direct path, and given
 * back once the response is out or the connection has gone.
 */
#include "server/core/http.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "common/clock.h"
#include "common/diag.h"
#include "common/error.h"
#include "common/json.h"
#include "server/core/cors.h"
#include "server/core/listen.h"
#include "server/core/module.h"
#include "server/core/server_internal.h"
#include "server/core/tls.h"

/* The connection whose LWS_CALLBACK_HTTP runs now on this thread: a
 * response queued meanwhile is written when the handler returns, in the
 * same callback, rather than from a writeable call asked for (which costs
 * the poll changes of asking and of its end). */
static _Thread_local struct lws *t_in_http;

/* Ask for a writeable call, unless the response is written at the end of
 * this LWS_CALLBACK_HTTP. */
static void want_write(fl_http_req_t *r)
{
    if (r->wsi != t_in_http)
        lws_callback_on_writable(r->wsi);
}

static struct fl_server *server_of(struct lws *wsi)
{
    return lws_context_user(lws_get_context(wsi));
}

const char *fl_http_method_name(fl_http_method_t m)
{
    static const char *const names[] = {"OTHER", "GET",    "HEAD",    "POST",
                                        "PUT",   "DELETE", "OPTIONS", "PATCH"};
    return (unsigned)m < sizeof names / sizeof names[0] ? names[m] : "OTHER";
}

static fl_http_method_t method_of(struct lws *wsi)
{
    static const struct {
        enum lws_token_indexes tok;
        fl_http_method_t m;
    } map[] = {
        {WSI_TOKEN_GET_URI, FL_HTTP_GET},       {WSI_TOKEN_POST_URI, FL_HTTP_POST},
        {WSI_TOKEN_HEAD_URI, FL_HTTP_HEAD},     {WSI_TOKEN_PUT_URI, FL_HTTP_PUT},
        {WSI_TOKEN_DELETE_URI, FL_HTTP_DELETE}, {WSI_TOKEN_OPTIONS_URI, FL_HTTP_OPTIONS},
        {WSI_TOKEN_PATCH_URI, FL_HTTP_PATCH},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (lws_hdr_total_length(wsi, map[i].tok) > 0)
            return map[i].m;
    return FL_HTTP_OTHER;
}

/* Give a shared body back to its owner. */
static void release_shared(fl_http_req_t *r)
{
    void (*release)(void *) = r->shared_release;
    r->shared_release = NULL;
    r->shared = fl_slice(NULL, 0);
    if (release)
        release(r->shared_ctx);
}

/* ---- kept-alive connections between requests ----
 *
 * lws keeps one timer list per loop, sorted by deadline, and
 * lws_http_transaction_completed() puts the keep-alive timeout of a
 * connection that has answered into it: an insertion that walks the list
 * from its head past the timer of every idle connection (all due sooner).
 * With 500 players idle between requests that walk was a tenth of the
 * server's CPU. So an answered connection takes its timer out of lws's
 * list at once (the walk then passes only connections in a request) and
 * waits on its loop's idle list instead: a FIFO, every idle connection
 * having the same timeout, appended to at the end of a response, left at
 * the next request or when the connection goes, and swept from its head
 * by the loop's tick (every FL_TICK_MS), which has lws close the ones idle
 * for --idle-timeout. Invariant: r is on its loop's list iff r->idle_on. */

/* r leaves its loop's idle list (if on it). */
static void idle_end(fl_http_req_t *r)
{
    if (!r || !r->idle_on)
        return;
    fl_loop_t *l = fl_server_this_loop(r->srv);
    if (r->idle_prev)
        r->idle_prev->idle_next = r->idle_next;
    else
        l->idle_head = r->idle_next;
    if (r->idle_next)
        r->idle_next->idle_prev = r->idle_prev;
    else
        l->idle_tail = r->idle_prev;
    r->idle_prev = r->idle_next = NULL;
    r->idle_on = 0;
}

/* wsi has answered and waits for its next request (its per-session data
 * is the next transaction's, made by lws at the end of the last): onto
 * the idle list, out of lws's timer list. */
static void idle_begin(struct lws *wsi)
{
    fl_http_req_t *r = lws_wsi_user(wsi);
    if (!r || r->wsi != wsi || !r->srv || r->idle_on || r->state != FL_REQ_IDLE)
        return;
    lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
    fl_loop_t *l = fl_server_this_loop(r->srv);
    r->idle_since_ns = fl_time_mono_ns();
    r->idle_prev = l->idle_tail;
    r->idle_next = NULL;
    if (l->idle_tail)
        l->idle_tail->idle_next = r;
    else
        l->idle_head = r;
    l->idle_tail = r;
    r->idle_on = 1;
}

void fl_http_idle_sweep(fl_loop_t *l)
{
    int64_t now = fl_time_mono_ns();
    int64_t idle_ns = (int64_t)l->s->cfg->idle_timeout_s * 1000000000;
    while (l->idle_head && now - l->idle_head->idle_since_ns >= idle_ns) {
        fl_http_req_t *r = l->idle_head;
        idle_end(r);
        /* closed by lws at its next service (not from here: this is no
         * callback of the connection's) */
        lws_set_timeout(r->wsi, PENDING_TIMEOUT_HTTP_KEEPALIVE_IDLE, LWS_TO_KILL_ASYNC);
    }
}

static void req_reset(fl_http_req_t *r)
{
    idle_end(r);
    release_shared(r);
    fl_buf_free(&r->head);
    fl_buf_free(&r->body);
    fl_buf_free(&r->resp);
    fl_json_free(r->json);
    int counted = r->counted_connection;
    struct lws *wsi = r->wsi;
    struct fl_server *srv = r->srv;
    memset(r, 0, sizeof *r);
    r->counted_connection = counted;
    r->wsi = wsi;
    r->srv = srv;
}

static void make_request_id(struct fl_server *s, char *out, size_t n)
{
    uint64_t seq = ++s->request_seq;
    const uint8_t *k = s->request_id_key;
    snprintf(out, n, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%04x-%012llx", k[0], k[1], k[2], k[3],
             k[4], k[5], k[6], k[7], (unsigned)((seq >> 48) & 0xffff),
             (unsigned long long)(seq & 0xffffffffffffULL));
}

int fl_api_error(fl_api_error_t *e, int status, const char *type, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    e->status = status;
    e->type = type;
    return -1;
}

void fl_http_respond_api_error(fl_http_req_t *r, const fl_api_error_t *e)
{
    fl_http_respond_error(r, e->status, e->type, "%s", e->msg);
}

int fl_http_add_header(fl_http_req_t *r, const char *name, const char *value)
{
    if (r->n_extra == FL_HTTP_MAX_EXTRA_HEADERS || strlen(name) + 2 > sizeof r->extra[0].name ||
        strlen(value) + 1 > sizeof r->extra[0].value)
        return FL_ELIMIT;
    /* lws wants the name with its colon */
    snprintf(r->extra[r->n_extra].name, sizeof r->extra[0].name, "%s:", name);
    snprintf(r->extra[r->n_extra].value, sizeof r->extra[0].value, "%s", value);
    r->n_extra++;
    return 0;
}

/* A JSON 1.1 answer in CBOR for a request that came in CBOR
 * (route->cbor names its blobs and timestamps) into r->resp: 0, or -1 with
 * the JSON kept (and logged: the handler wrote what its shape does not
 * allow). */
static int json_to_cbor(fl_http_req_t *r, fl_slice_t body)
{
    int rc = fl_cbor_from_json_text(body, r->route->cbor, &r->resp);
    if (rc) {
        fl_error("http: %s: the answer does not go into CBOR (%s): sent as JSON", r->route_name,
                 fl_strerror(rc));
        fl_buf_reset(&r->resp);
        fl_buf_append(&r->resp, body.p, body.n);
        return -1;
    }
    return 0;
}

void fl_http_respond(fl_http_req_t *r, int status, const char *content_type, fl_slice_t body)
{
    if (r->state == FL_REQ_WRITING || r->state == FL_REQ_DONE) {
        fl_error("http: %s %s responded twice (bug)", fl_http_method_name(r->method), r->path);
        return;
    }
    fl_buf_reset(&r->resp);
    if (r->cbor && content_type && strcmp(content_type, "application/x-amz-json-1.1") == 0) {
        if (json_to_cbor(r, body) == 0)
            content_type = "application/x-amz-cbor-1.1";
    } else {
        fl_buf_append(&r->resp, body.p, body.n);
    }
    if (r->resp.err) {
        status = 500;
        content_type = "application/json";
        fl_buf_reset(&r->resp);
    }
    r->status = status;
    r->content_type = content_type;
    r->resp_off = 0;
    r->headers_sent = 0;
    r->state = FL_REQ_WRITING;
    want_write(r);
}

void fl_http_respond_shared(fl_http_req_t *r, int status, const char *content_type, fl_slice_t body,
                            void (*release)(void *ctx), void *ctx)
{
    if (r->state == FL_REQ_WRITING || r->state == FL_REQ_DONE) {
        fl_error("http: %s %s responded twice (bug)", fl_http_method_name(r->method), r->path);
        if (release)
            release(ctx);
        return;
    }
    fl_buf_reset(&r->resp);
    r->has_shared = 1;
    r->shared = body;
    r->shared_release = release;
    r->shared_ctx = ctx;
    r->direct = 0;
    r->status = status;
    r->content_type = content_type;
    r->resp_off = 0;
    r->headers_sent = 0;
    r->state = FL_REQ_WRITING;
    want_write(r);
}

void fl_http_error_body(fl_buf_t *b, const char *error_type, const char *msg)
{
    fl_buf_append_str(b, "{\"__type\":");
    fl_json_write_string(b, fl_slice_str(error_type));
    fl_buf_append_str(b, ",\"message\":");
    fl_json_write_string(b, fl_slice_str(msg));
    fl_buf_append_str(b, "}\n");
}

void fl_http_respond_error(fl_http_req_t *r, int status, const char *error_type, const char *fmt,
                           ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fl_buf_t b;
    fl_buf_init(&b, 0);
    fl_http_error_body(&b, error_type, msg);
    if (r->route && (r->route->flags & FL_ROUTE_JSON11)) {
        /* JSON 1.1: the type is the body's __type */
        fl_http_respond(r, status, "application/x-amz-json-1.1", fl_buf_slice(&b));
    } else {
        fl_http_add_header(r, "x-amzn-ErrorType", error_type);
        fl_http_respond(r, status, "application/json", fl_buf_slice(&b));
    }
    fl_buf_free(&b);
}

/* The response head but its last CRLF, from *p on. content_length < 0:
 * none. Returns 0 or -1 (it does not fit). */
static int head_build(fl_http_req_t *r, int status, const char *content_type,
                      long long content_length, uint8_t **pp, uint8_t *end)
{
    struct lws *wsi = r->wsi;
    uint8_t *p = *pp;
    lws_filepos_t len =
        content_length < 0 ? LWS_ILLEGAL_HTTP_CONTENT_LEN : (lws_filepos_t)content_length;
    if (lws_add_http_common_headers(wsi, (unsigned)status, content_type, len, &p, end))
        return -1;
    if (lws_add_http_header_by_name(
            wsi, (const uint8_t *)"x-amzn-RequestId:", (const uint8_t *)r->request_id,
            (int)strlen(r->request_id), &p, end))
        return -1;
    /* a connection that closes after this response says so, so that a
     * client does not send its next request into it (a response without a
     * length gets that header from lws) */
    if (r->body_too_large && content_length >= 0 &&
        lws_add_http_header_by_token(wsi, WSI_TOKEN_CONNECTION, (const uint8_t *)"close", 5, &p,
                                     end))
        return -1;
    for (int i = 0; i < r->n_extra; i++)
        if (lws_add_http_header_by_name(wsi, (const uint8_t *)r->extra[i].name,
                                        (const uint8_t *)r->extra[i].value,
                                        (int)strlen(r->extra[i].value), &p, end))
            return -1;
    if (fl_cors_write_headers(r, &p, end))
        return -1;
    *pp = p;
    return 0;
}

/* Write the response headers (one lws_write). content_length < 0: none.
 * Returns 0 or -1. */
static int write_headers(fl_http_req_t *r, int status, const char *content_type,
                         long long content_length)
{
    uint8_t buf[LWS_PRE + 4096];
    uint8_t *start = buf + LWS_PRE, *p = start, *end = buf + sizeof buf - 1;
    if (head_build(r, status, content_type, content_length, &p, end))
        return -1;
    if (lws_finalize_write_http_header(r->wsi, start, &p, end))
        return -1;
    fl_server_metrics(r->srv)->bytes_sent += (uint64_t)(p - start);
    r->status = status;
    r->headers_sent = 1;
    return 0;
}

/* p has LWS_PRE writable bytes before it. */
static int write_body_pre(fl_http_req_t *r, uint8_t *p, size_t n, int final)
{
    if (n > FL_HTTP_WRITE_CHUNK)
        return -1; /* callers write at most a chunk at a time */
    if (lws_write(r->wsi, p, n, final ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) != (int)n)
        return -1;
    fl_server_metrics(r->srv)->bytes_sent += n;
    return 0;
}

static int write_body(fl_http_req_t *r, const uint8_t *p, size_t n, int final)
{
    static _Thread_local uint8_t chunk[LWS_PRE + FL_HTTP_WRITE_CHUNK];
    if (n > FL_HTTP_WRITE_CHUNK)
        return -1; /* callers write at most a chunk at a time */
    memcpy(chunk + LWS_PRE, p, n);
    return write_body_pre(r, chunk + LWS_PRE, n, final);
}

void fl_http_stream_begin(fl_http_req_t *r, const fl_http_stream_ops_t *ops, void *state)
{
    r->state = FL_REQ_STREAM;
    r->sops = ops;
    r->stream = state;
    lws_callback_on_writable(r->wsi);
}

int fl_http_stream_headers(fl_http_req_t *r, int status, const char *content_type,
                           long long content_length)
{
    return write_headers(r, status, content_type, content_length);
}

int fl_http_stream_write(fl_http_req_t *r, fl_slice_t bytes, int final)
{
    /* one piece per writeable call, at most 64 KiB: lws buffers whatever
     * the socket does not take at once, so bigger pieces only waste memory */
    return write_body(r, bytes.p, bytes.n, final);
}

int fl_http_stream_write_pre(fl_http_req_t *r, uint8_t *p, size_t n, int final)
{
    return write_body_pre(r, p, n, final);
}

int fl_http_header(fl_http_req_t *r, const char *custom_name, char *buf, size_t cap)
{
    int n = lws_hdr_custom_length(r->wsi, custom_name, (int)strlen(custom_name));
    if (n < 0 || (size_t)n + 1 > cap)
        return -1;
    if (lws_hdr_custom_copy(r->wsi, buf, (int)cap, custom_name, (int)strlen(custom_name)) < 0)
        return -1;
    buf[n] = 0;
    return n;
}

/* The body of the response (shared, or r->resp). */
static fl_slice_t body_of(const fl_http_req_t *r)
{
    return r->has_shared ? r->shared : fl_buf_slice(&r->resp);
}

/* A response on a plain-text connection with nothing in lws's send
 * buffer: the head into r->head, to go out with the body. Returns 0 or
 * -1. */
static int direct_begin(fl_http_req_t *r)
{
    uint8_t buf[4096];
    uint8_t *p = buf, *end = buf + sizeof buf - 1;
    if (head_build(r, r->status, r->content_type, (long long)body_of(r).n, &p, end) ||
        lws_finalize_http_header(r->wsi, &p, end))
        return -1;
    fl_buf_reset(&r->head);
    fl_buf_append(&r->head, buf, (size_t)(p - buf));
    if (r->head.err)
        return -1;
    r->resp_off = 0;
    r->direct = 1;
    r->headers_sent = 1;
    return 0;
}

/* Head and body straight on the socket, from where it stopped: 1 when
 * all is out, 0 when the socket is full (a writeable call comes when it
 * has room), -1 to close. */
static int direct_send(fl_http_req_t *r)
{
    int fd = lws_get_socket_fd(r->wsi);
    fl_slice_t body = body_of(r);
    size_t head_n = r->head.n;
    size_t body_n = r->method == FL_HTTP_HEAD ? 0 : body.n;
    while (r->resp_off < head_n + body_n) {
        struct iovec iov[2];
        int n = 0;
        if (r->resp_off < head_n)
            iov[n++] = (struct iovec){r->head.p + r->resp_off, head_n - r->resp_off};
        size_t boff = r->resp_off > head_n ? r->resp_off - head_n : 0;
        if (boff < body_n)
            iov[n++] = (struct iovec){(void *)(body.p + boff), body_n - boff};
        struct msghdr m = {.msg_iov = iov, .msg_iovlen = (size_t)n};
        size_t want = head_n + body_n - r->resp_off;
        ssize_t w = sendmsg(fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            lws_callback_on_writable(r->wsi);
            return 0;
        }
        if (w <= 0)
            return -1; /* the client has gone */
        r->resp_off += (size_t)w;
        fl_server_metrics(r->srv)->bytes_sent += (uint64_t)w;
        if ((size_t)w < want) { /* the socket is full: on when it has room */
            lws_callback_on_writable(r->wsi);
            return 0;
        }
    }
    return 1;
}

/* The head, or the next piece of body, through lws (TLS, a socket pair
 * of an HTTP/2 stream, or a connection with bytes buffered in lws): one
 * lws_write per writeable call. Returns 1 when all is out, 0 when there
 * is more to write (a writeable call is asked for), -1 to close. */
static int write_through_lws(fl_http_req_t *r, fl_slice_t body)
{
    struct lws *wsi = r->wsi;
    if (!r->headers_sent) {
        if (write_headers(r, r->status, r->content_type, (long long)body.n))
            return -1;
        if (r->method != FL_HTTP_HEAD && body.n > 0) {
            lws_callback_on_writable(wsi);
            return 0;
        }
        return 1;
    }
    size_t left = body.n - r->resp_off;
    size_t n = left > FL_HTTP_WRITE_CHUNK ? FL_HTTP_WRITE_CHUNK : left;
    int final = n == left;
    if (write_body(r, body.p + r->resp_off, n, final))
        return -1;
    r->resp_off += n;
    if (!final) {
        lws_callback_on_writable(wsi);
        return 0;
    }
    return 1;
}

/* The headers or the next piece of the body: on a plain-text connection
 * with nothing buffered in lws, head and body straight on the socket
 * (direct_send); else one lws_write per call (write_through_lws, the
 * shared body or our own). Returns 0 to go on, -1 to close the
 * connection. */
static int write_some(fl_http_req_t *r)
{
    struct fl_server *s = r->srv;
    struct lws *wsi = r->wsi;

    if (!r->headers_sent && !lws_is_ssl(wsi) && !lws_partial_buffered(wsi) && direct_begin(r))
        return -1;
    int rc = r->direct ? direct_send(r) : write_through_lws(r, body_of(r));
    if (rc <= 0)
        return rc;

    /* the whole response is out */
    fl_metrics_count_request(fl_server_metrics(s), r->route_name, r->status);
    fl_debug("http %s %s %d %zu bytes %.2f ms id=%s", fl_http_method_name(r->method), r->path,
             r->status, body_of(r).n, (double)(fl_time_mono_ns() - r->start_mono_ns) / 1e6,
             r->request_id);
    int close = r->body_too_large; /* the rest of that body was never read */
    r->state = FL_REQ_DONE;
    if (close)
        return -1;
    /* lws may free our per-session data inside the next call (it drops and
     * rebinds the protocol between transactions): reset first, touch r never
     * after */
    req_reset(r);
    /* (a response partly in lws's send buffer completes later, in lws: it
     * keeps lws's own keep-alive timer) */
    int flushed = !lws_partial_buffered(wsi);
    if (lws_http_transaction_completed(wsi))
        return -1;
    if (flushed)
        idle_begin(wsi);
    return 0;
}

int fl_http_principal(struct lws *wsi, fl_principal_t *who, fl_sigv4_canon_auth_t *auth,
                      const char **why)
{
    memset(who, 0, sizeof *who);
    int alen = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_AUTHORIZATION);
    if (alen <= 0)
        return 0;
    char h[FL_SIGV4_CANON_MAX_AUTHORIZATION + 1];
    *why = "Authorization header too long";
    if (alen > FL_SIGV4_CANON_MAX_AUTHORIZATION ||
        lws_hdr_copy(wsi, h, sizeof h, WSI_TOKEN_HTTP_AUTHORIZATION) != alen ||
        fl_sigv4_canon_parse_authorization(fl_slice(h, (size_t)alen), auth, why) != 0)
        return -1;
    who->has_key = 1;
    snprintf(who->access_key, sizeof who->access_key, "%s", auth->access_key);
    snprintf(who->region, sizeof who->region, "%s", auth->region);
    snprintf(who->service, sizeof who->service, "%s", auth->service);
    return 0;
}

int fl_http_wsi_header(struct lws *wsi, const char *name, char *buf, size_t cap)
{
    size_t nl = strlen(name);
    char key[80];
    if (nl == 0 || nl + 2 > sizeof key || cap == 0)
        return -1;
    /* one of lws's known headers ("host:"), else a custom one */
    for (int t = 0; t < WSI_TOKEN_COUNT; t++) {
        const unsigned char *ts = lws_token_to_string((enum lws_token_indexes)t);
        if (!ts || strncasecmp((const char *)ts, name, nl) != 0 || ts[nl] != ':' || ts[nl + 1])
            continue;
        int len = lws_hdr_total_length(wsi, (enum lws_token_indexes)t);
        if (len <= 0 || (size_t)len >= cap)
            return -1;
        return lws_hdr_copy(wsi, buf, (int)cap, (enum lws_token_indexes)t) == len ? len : -1;
    }
    snprintf(key, sizeof key, "%s:", name);
    int len = lws_hdr_custom_length(wsi, key, (int)nl + 1);
    if (len < 0 || (size_t)len >= cap)
        return -1;
    return lws_hdr_custom_copy(wsi, buf, (int)cap, key, (int)nl + 1) == len ? len : -1;
}

int fl_http_wsi_query(struct lws *wsi, fl_buf_t *out)
{
    char frag[FL_SIGV4_CANON_MAX_AUTHORIZATION + 1];
    fl_sigv4_canon_sink_t sink = fl_sigv4_canon_buf_sink(out);
    for (int i = 0; i < FL_SIGV4_CANON_MAX_QUERY + 1; i++) {
        int n = lws_hdr_copy_fragment(wsi, frag, sizeof frag, WSI_TOKEN_HTTP_URI_ARGS, i);
        if (n < 0) {
            if (lws_hdr_fragment_length(wsi, WSI_TOKEN_HTTP_URI_ARGS, i) > 0)
                return FL_ELIMIT; /* a fragment longer than we take */
            return out->err;
        }
        if (i == FL_SIGV4_CANON_MAX_QUERY)
            return FL_ELIMIT;
        if (n == 0)
            continue;
        const char *eq = memchr(frag, '=', (size_t)n);
        size_t kl = eq ? (size_t)(eq - frag) : (size_t)n;
        if (out->n)
            fl_buf_append(out, "&", 1);
        fl_sigv4_canon_uri_encode(fl_slice(frag, kl), 0, sink);
        fl_buf_append(out, "=", 1);
        if (eq)
            fl_sigv4_canon_uri_encode(fl_slice(eq + 1, (size_t)n - kl - 1), 0, sink);
    }
    return out->err;
}

/* FL_ROUTE_AWS: who asks, proven by the authenticate step (module.h).
 * Returns 0, or responds with the error and returns -1. */
static int prepare_principal(fl_http_req_t *r, int body_known)
{
    const fl_route_t *rt = r->route;
    fl_auth_req_t q = {
        .wsi = r->wsi,
        .method = r->method,
        .path = r->path,
        .service = (rt->flags & FL_ROUTE_JSON11) ? "kinesis" : "kinesisvideo",
        .json11 = (rt->flags & FL_ROUTE_JSON11) != 0,
        .body_known = body_known,
        .body = fl_buf_slice(&r->body),
    };
    fl_api_error_t err;
    if (fl_server_authenticate(r->srv, &q, &r->who, &err) != 0) {
        fl_http_respond_api_error(r, &err);
        return -1;
    }
    r->has_auth = r->who.has_key;
    return 0;
}

/* Does the request say its body is CBOR (AWS's Java SDK)? */
static int is_cbor(fl_http_req_t *r)
{
    char ct[64];
    if (lws_hdr_copy(r->wsi, ct, sizeof ct, WSI_TOKEN_HTTP_CONTENT_TYPE) <= 0)
        return 0;
    return strncasecmp(ct, "application/x-amz-cbor-1.1", 26) == 0 && (ct[26] == 0 || ct[26] == ';');
}

/* Replace a CBOR body with the JSON it stands for; the answer goes back in
 * CBOR. Returns 0, or responds and returns -1. */
static int cbor_body(fl_http_req_t *r)
{
    fl_cbor_limits_t lim = {.max_depth = 16, .max_items = 20000};
    fl_buf_t json;
    fl_buf_init(&json, 0);
    size_t off = 0;
    int rc = fl_cbor_to_json(fl_buf_slice(&r->body), &lim, &json, &off);
    if (rc) {
        fl_buf_free(&json);
        fl_http_respond_error(r, 400, "SerializationException",
                              "request body is not valid CBOR: %s at byte %zu", fl_strerror(rc),
                              off);
        return -1;
    }
    fl_buf_free(&r->body);
    r->body = json;
    return 0;
}

/* FL_ROUTE_AWS: the identity and the JSON body. Returns 0, or responds
 * with the error and returns -1. */
static int prepare_aws(fl_http_req_t *r)
{
    if (prepare_principal(r, 1) != 0)
        return -1;
    if (r->route->cbor && is_cbor(r)) {
        r->cbor = 1; /* the answer goes back in CBOR, errors and all */
        if (r->body.n && cbor_body(r) != 0)
            return -1;
    }
    if (r->body.n == 0)
        return 0;
    fl_json_limits_t lim = {.max_depth = 16,
                            .max_values = 20000,
                            .max_string = r->route->max_body ? r->route->max_body : 65536};
    size_t off = 0;
    int rc = fl_json_parse(fl_buf_slice(&r->body), &lim, &r->json, &off);
    if (rc) {
        fl_http_respond_error(r, 400, "SerializationException",
                              "request body is not valid JSON: %s at byte %zu", fl_strerror(rc),
                              off);
        return -1;
    }
    if (fl_json_root(r->json)->type != FL_JSON_OBJECT) {
        fl_http_respond_error(r, 400, "SerializationException",
                              "request body must be a JSON object");
        return -1;
    }
    return 0;
}

void fl_http_base_url(fl_http_req_t *r, char *buf, size_t cap)
{
    const char *adv = r->srv->cfg->advertised_endpoint;
    if (adv) {
        snprintf(buf, cap, "%s", adv);
        return;
    }
    char host[300];
    int hl = lws_hdr_copy(r->wsi, host, sizeof host, WSI_TOKEN_HOST);
    int sane = hl > 0;
    for (int i = 0; i < hl; i++)
        if (!(host[i] == '.' || host[i] == ':' || host[i] == '-' || host[i] == '[' ||
              host[i] == ']' || (host[i] >= '0' && host[i] <= '9') ||
              (host[i] >= 'a' && host[i] <= 'z') || (host[i] >= 'A' && host[i] <= 'Z')))
            sane = 0;
    if (!sane) {
        snprintf(buf, cap, "%s", r->srv->base_url);
        return;
    }
    /* a port is what follows the last ':' outside an [IPv6] literal */
    const char *close = strrchr(host, ']');
    int has_port = strchr(close ? close : host, ':') != NULL;
    int port = fl_server_vhost_port(r->srv, lws_get_vhost(r->wsi));
    const char *scheme = fl_listen_secure(r->wsi) ? "https" : "http";
    if (has_port || port <= 0)
        snprintf(buf, cap, "%s://%s", scheme, host);
    else
        snprintf(buf, cap, "%s://%s:%d", scheme, host, port);
}

const fl_json_t *fl_http_json(const fl_http_req_t *r, const char *key)
{
    return r->json ? fl_json_get(fl_json_root(r->json), key) : NULL;
}

int fl_http_json_int(fl_http_req_t *r, const char *key, int64_t min, int64_t max, int64_t *out)
{
    const fl_json_t *v = fl_http_json(r, key);
    if (!v)
        return 0;
    if (fl_json_int64(v, out) != 0 || *out < min || *out > max) {
        fl_http_respond_error(r, 400, "InvalidArgumentException",
                              "%s must be an integer from %" PRId64 " to %" PRId64, key, min, max);
        return -1;
    }
    return 1;
}

static void dispatch(fl_http_req_t *r)
{
    r->state = FL_REQ_IDLE; /* the handler moves it to WRITING or ASYNC */
    if ((r->route->flags & FL_ROUTE_AWS) && prepare_aws(r) != 0)
        return;
    r->route->handler(r);
    if (r->state != FL_REQ_WRITING && r->state != FL_REQ_ASYNC && r->state != FL_REQ_STREAM) {
        fl_error("http: handler %s did not respond (bug)", r->route_name);
        fl_http_respond_error(r, 500, "InternalFailure", "internal error");
    }
}

static void async_work(fl_job_t *job)
{
    fl_http_async_t *a = (fl_http_async_t *)job;
    a->work(a);
}

static void async_done(fl_job_t *job)
{
    fl_http_async_t *a = (fl_http_async_t *)job;
    fl_http_req_t *r = a->req;
    if (r) {
        r->async = NULL;
        r->state = FL_REQ_IDLE;
    }
    a->done(a, r); /* frees a, or hands the request on (async or await again) */
    if (r && r->state != FL_REQ_WRITING && r->state != FL_REQ_STREAM && r->state != FL_REQ_ASYNC) {
        fl_error("http: async %s did not respond (bug)", r->route_name);
        fl_http_respond_error(r, 500, "InternalFailure", "internal error");
    }
}

int fl_http_async_or_busy(fl_http_req_t *r, fl_http_async_t *a, const char *busy_type)
{
    a->req = r;
    a->job.work = async_work;
    a->job.done = async_done;
    a->job.data = NULL;
    int rc = fl_workers_submit(fl_server_workers(r->srv), &a->job);
    if (rc) {
        fl_http_respond_error(r, 400, busy_type, "the server is busy; retry later");
        return rc;
    }
    r->async = a;
    r->state = FL_REQ_ASYNC;
    return 0;
}

void fl_http_await(fl_http_req_t *r, fl_http_async_t *a)
{
    a->req = r;
    r->async = a;
    r->state = FL_REQ_ASYNC;
}

void fl_http_await_done(fl_http_async_t *a)
{
    async_done(&a->job);
}

/* The connection is going: a streaming route frees its state. */
static void close_stream(fl_http_req_t *r)
{
    if (r && r->state == FL_REQ_STREAM) {
        if (r->sops->closed)
            r->sops->closed(r);
        fl_metrics_count_request(fl_server_metrics(r->srv), r->route_name,
                                 r->status ? r->status : 499);
        r->stream = NULL;
        r->state = FL_REQ_DONE;
    }
}

/* The connection is going: a job in flight must not answer it. */
static void detach_async(fl_http_req_t *r)
{
    if (r && r->async) {
        r->async->req = NULL;
        r->async = NULL;
    }
}

/* The request's Content-Length: 0 without one, -1 when it is not a byte
 * count that fits. */
static long body_length(struct lws *wsi)
{
    char tmp[32];
    char *end = NULL;
    if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH) <= 0)
        return 0;
    if (lws_hdr_copy(wsi, tmp, sizeof tmp, WSI_TOKEN_HTTP_CONTENT_LENGTH) <= 0)
        return -1;
    errno = 0;
    long v = strtol(tmp, &end, 10);
    return !errno && end && *end == 0 && end != tmp && v >= 0 ? v : -1;
}

/* No route for the request: 405 when its path has one under another
 * method, else 404. */
static void respond_no_route(fl_http_req_t *r)
{
    fl_cors_unrouted(r);
    if (r->no_route == 405)
        fl_http_respond_error(r, 405, "MethodNotAllowedException", "%s is not allowed on %s",
                              fl_http_method_name(r->method), r->path);
    else
        fl_http_respond_error(r, 404, "UnknownOperationException", "no such endpoint: %s %s",
                              fl_http_method_name(r->method), r->path);
}

/* The request head's size as lws keeps it: the values of the headers it
 * knows (custom headers, which it cannot list, count in its buffer only,
 * FL_LIMIT_HEADER_BUFFER). */
static size_t head_bytes(struct lws *wsi)
{
    size_t n = 0;
    for (int t = 0; t < (int)WSI_TOKEN_COUNT; t++) {
        int l = lws_hdr_total_length(wsi, (enum lws_token_indexes)t);
        if (l > 0)
            n += (size_t)l;
    }
    return n;
}

/* Refusals before routing: plain HTTP on a TLS port, a head too large.
 * Returns 1 when answered (the connection then closes). */
static int refuse_early(fl_http_req_t *r, struct lws *wsi)
{
    struct fl_server *s = r->srv;
    if (fl_listen_plain_on_tls(wsi)) {
        r->body_too_large = 1;
        fl_cors_unrouted(r); /* a page reads why */
        fl_limits_hit(s->limits, FL_LIMIT_BAD_REQUEST, "answered 400 to plain HTTP on a TLS port");
        fl_http_respond_error(r, 400, "BadRequestException",
                              "this port speaks TLS: use https:// (and wss://)");
        return 1;
    }
    size_t n = head_bytes(wsi);
    if (n > FL_LIMIT_HEADER_BYTES) {
        r->body_too_large = 1;
        fl_cors_unrouted(r);
        fl_limits_hit(s->limits, FL_LIMIT_HEADER_TOO_LARGE,
                      "answered 431 to a request head of %zu bytes (the limit is %d)", n,
                      FL_LIMIT_HEADER_BYTES);
        fl_http_respond_error(r, 431, "RequestHeaderFieldsTooLarge",
                              "the request head is %zu bytes; the limit is %d", n,
                              FL_LIMIT_HEADER_BYTES);
        return 1;
    }
    return 0;
}

static int on_http(fl_http_req_t *r, struct lws *wsi, const char *uri)
{
    struct fl_server *s = r->srv;
    req_reset(r);
    r->start_mono_ns = fl_time_mono_ns();
    r->method = method_of(wsi);
    snprintf(r->path, sizeof r->path, "%s", uri ? uri : "");
    make_request_id(s, r->request_id, sizeof r->request_id);
    r->route_name = "other";
    if (refuse_early(r, wsi))
        return 0;

    if (fl_cors_preflight(r))
        return 0;
    int found_path = 0;
    char target[128] = "";
    if (lws_hdr_custom_length(wsi, "x-amz-target:", 13) > 0 &&
        lws_hdr_custom_copy(wsi, target, sizeof target, "x-amz-target:", 13) < 0)
        target[0] = 0; /* longer than any target: matches none */
    r->route = fl_server_route(s, r->method, r->path, target, &r->mod, &found_path);
    if (!r->route) {
        r->no_route = found_path ? 405 : 404;
        /* keep the connection: a small body is read and dropped before the
         * answer (clients reuse the socket after an error); one that cannot
         * be (chunked, too large) gets the answer and Connection: close */
        long clen = body_length(wsi);
        if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0 || clen < 0 ||
            clen > s->cfg->max_body_bytes) {
            r->body_too_large = 1;
        } else if (clen > 0) {
            r->state = FL_REQ_BODY; /* answered at its completion */
            return 0;
        }
        respond_no_route(r);
        return 0;
    }
    r->route_name = r->route->name;
    fl_cors_request(r);

    if (r->route->stream) {
        if ((r->route->flags & FL_ROUTE_AWS) && prepare_principal(r, 0) != 0) {
            r->body_too_large = 1; /* refused: its body is never read */
            return 0;
        }
        r->state = FL_REQ_STREAM;
        r->sops = r->route->stream;
        if (r->sops->start(r) < 0)
            return -1;
        if (r->state == FL_REQ_WRITING)
            r->body_too_large = 1; /* refused: its body is never read */
        return 0;
    }

    /* Is there a body? JSON APIs take Content-Length bodies only. */
    long clen = body_length(wsi);
    if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0) {
        r->body_too_large = 1; /* unread body: close after answering */
        fl_http_respond_error(r, 411, "InvalidArgumentException",
                              "%s takes a body with Content-Length, not chunked", r->path);
        return 0;
    }
    if (clen < 0) {
        r->body_too_large = 1;
        fl_http_respond_error(r, 400, "InvalidArgumentException",
                              "Content-Length is not a byte count");
        return 0;
    }
    long max_body = r->route->max_body ? (long)r->route->max_body : s->cfg->max_body_bytes;
    if (clen > max_body) {
        r->body_too_large = 1;
        fl_limits_hit(s->limits, FL_LIMIT_BODY_TOO_LARGE, NULL);
        fl_http_respond_error(r, 413, "InvalidArgumentException",
                              "request body of %ld bytes exceeds the limit of %ld", clen, max_body);
        return 0;
    }
    if (clen == 0) {
        dispatch(r);
        return 0;
    }
    fl_buf_init(&r->body, (size_t)max_body);
    if (fl_buf_reserve(&r->body, (size_t)clen)) {
        r->body_too_large = 1;
        fl_http_respond_error(r, 500, "InternalFailure", "out of memory");
        return 0;
    }
    r->state = FL_REQ_BODY;
    return 0;
}

int fl_http_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                     size_t len)
{
    fl_http_req_t *r = user;
    struct fl_server *s = server_of(wsi);

    switch (reason) {
    case LWS_CALLBACK_FILTER_NETWORK_CONNECTION:
        /* in: the accepted descriptor; the caps of limits.c (open: over
         * every loop) */
        if (fl_limits_accept(s->limits, (int)(lws_intptr_t)in,
                             s->open_connections + fl_limits_heads(s->limits))) {
            fl_server_metrics(s)->connections_refused++;
            return 1;
        }
        fl_server_metrics(s)->connections_total++;
        return 0;

    case LWS_CALLBACK_OPENSSL_LOAD_EXTRA_SERVER_VERIFY_CERTS:
        /* user: the vhost's SSL_CTX, just made */
        return fl_tls_ctx_setup(user) ? 1 : 0;

    case LWS_CALLBACK_SERVER_NEW_CLIENT_INSTANTIATED:
        fl_listen_head_begin(wsi); /* accepted: its head is to come */
        return 0;

    case LWS_CALLBACK_FILTER_HTTP_CONNECTION:
        if (fl_listen_head_answered(wsi))
            return -1;              /* already refused (listen.c): never served */
        fl_listen_head_end(wsi, 1); /* a whole head (any later one is a keep-alive's) */
        return 0;

    case LWS_CALLBACK_WSI_DESTROY:
        fl_listen_head_end(wsi, 0); /* closed in its head: slow, idle, too large or gone */
        break;

    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
        fl_listen_head_end(wsi, 1);
        /* no WebSocket in plain text on a TLS port */
        return fl_listen_plain_on_tls(wsi) ? -1 : 0;

    case LWS_CALLBACK_HTTP_BIND_PROTOCOL:
        if (r && !r->counted_connection) {
            r->wsi = wsi;
            r->srv = s;
            r->counted_connection = 1;
            fl_server_metrics(s)->open_connections++;
            s->open_connections++;
        }
        break;

    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        /* woken by another thread: finished jobs wait for the loop, or
         * fl_server_stop() asked the loop to end */
        if (s)
            fl_server_loop_drain(fl_server_this_loop(s));
        if (s && atomic_load(&s->stop))
            fl_server_loop_stop(s);
        return 0;

    case LWS_CALLBACK_TIMER:
        if (r && r->state == FL_REQ_STREAM && r->sops->timer)
            return r->sops->timer(r) < 0 ? -1 : 0;
        return 0;

    case LWS_CALLBACK_CLOSED_HTTP:
        idle_end(r);
        detach_async(r);
        close_stream(r);
        break;

    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
        idle_end(r); /* (its per-session data is freed next) */
        detach_async(r);
        close_stream(r);
        if (r) {
            if (r->counted_connection) {
                fl_server_metrics(s)->open_connections--;
                s->open_connections--;
                r->counted_connection = 0;
            }
            release_shared(r);
            fl_buf_free(&r->head);
            fl_buf_free(&r->body);
            fl_buf_free(&r->resp);
            fl_json_free(r->json);
            r->json = NULL;
        }
        break;

    case LWS_CALLBACK_HTTP: {
        idle_end(r);
        r->wsi = wsi;
        r->srv = s;
        t_in_http = wsi;
        int rc = on_http(r, wsi, in);
        t_in_http = NULL;
        if (rc == 0 && r->state == FL_REQ_WRITING)
            return write_some(r); /* answered at once (see want_write) */
        return rc;
    }

    case LWS_CALLBACK_HTTP_BODY:
        if (r->state == FL_REQ_STREAM) {
            fl_server_metrics(s)->bytes_received += len;
            return r->sops->body && r->sops->body(r, fl_slice(in, len)) < 0 ? -1 : 0;
        }
        if (r->state != FL_REQ_BODY)
            return 0; /* a body we already answered (error) */
        fl_server_metrics(s)->bytes_received += len;
        if (r->no_route)
            return 0; /* read to keep the connection, and dropped */
        fl_buf_append(&r->body, in, len);
        if (r->body.err) {
            r->body_too_large = 1;
            fl_limits_hit(s->limits, FL_LIMIT_BODY_TOO_LARGE, NULL);
            fl_http_respond_error(r, 413, "InvalidArgumentException",
                                  "request body exceeds the limit of %zu bytes", r->body.max);
        }
        return 0;

    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        if (r->state == FL_REQ_STREAM)
            return r->sops->body_end && r->sops->body_end(r) < 0 ? -1 : 0;
        if (r->state == FL_REQ_BODY && r->no_route)
            respond_no_route(r);
        else if (r->state == FL_REQ_BODY)
            dispatch(r);
        return 0;

    case LWS_CALLBACK_HTTP_WRITEABLE:
        if (r->state == FL_REQ_STREAM)
            return r->sops->writeable(r) < 0 ? -1 : 0;
        if (r->state != FL_REQ_WRITING)
            return 0;
        return write_some(r);

    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}
