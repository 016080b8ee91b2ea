/*
 * producer-sdk/transport_lws.c — the built-in transport (flp_transport_t of
 * framelog/producer.h) on the libwebsockets 4.1.6 client API.
 *
 * One lws_context per WebSocket connection and per http() call, created and
 * serviced by the calling thread: every blocking call runs lws_service() on
 * its own context until its state is reached, its time runs out, or wake()
 * is called. Contexts of different threads share nothing, so the stream
 * sender threads and the control-plane callers never meet. The one piece of
 * process state is lws's log level, set once (pthread_once).
 *
 * Waiting. In lws 4.1 lws_service() ignores its timeout: poll() sleeps until
 * the next scheduled lws event. Each wait therefore schedules a timer (sul)
 * at the caller's deadline; when it fires it calls lws_cancel_service() so
 * that poll() returns even if lws already ran the timer before entering it.
 * wake() sets an atomic flag and calls lws_cancel_service() — the one
 * thread-safe lws call — and the waiting call returns FLP_ETIMEDOUT. A wake
 * with nobody waiting is kept: the next ws_send/ws_recv that would wait
 * returns at once (so a wake is never lost between two calls).
 *
 * WebSocket connection states (conn_t.state):
 *
 *   CONNECTING --CLIENT_ESTABLISHED--> OPEN --WRITEABLE after a clean
 *        |                              |     ws_close--> CLOSING
 *        |                              |                   |
 *        +--CONNECTION_ERROR--> FAILED  +--CLIENT_CLOSED--> CLOSED <--+
 *
 * Only ws_open sees FAILED; after OPEN, every end is CLOSED with the peer's
 * close code and reason (1006 when the connection just dropped).
 *
 * Sending: one message at a time. ws_send copies the message into a buffer
 * with LWS_PRE bytes of headroom (allocated once, grown only for a bigger
 * message), which then belongs to the transport; WRITEABLE writes it as a
 * WebSocket message in pieces of FLP_WS_CHUNK bytes (continuation frames), so
 * lws never has to copy more than one piece when the socket is full. A
 * ws_send that finds the previous message still going waits for it; if time
 * runs out first, nothing of the new message is taken (FLP_ETIMEDOUT).
 *
 * Receiving: text messages (the server's JSON acks) are reassembled from
 * their frames into a byte FIFO of FLP_WS_RX_BYTES holding records
 * [u32 length][bytes]; a message longer than FLP_WS_RX_MSG_MAX is cut there.
 * When the FIFO cannot take another whole message, reading stops
 * (lws_rx_flow_control) until ws_recv makes room: nothing is dropped.
 * Binary messages from the server are ignored (the protocol has none).
 *
 * Refusals: a refused upgrade is reported with its HTTP status and lws's
 * reason. framelogd refuses a PutMedia session it cannot start (no such
 * stream, ...) by accepting the upgrade and closing at once with 1008 and
 * "Type: message"; ws_open therefore keeps servicing for FLP_WS_SETTLE_MS
 * after the upgrade and reports such an immediate close as its own failure.
 * A later close is reported by ws_recv/ws_send (FLP_ECLOSED).
 *
 * Errors: FLP_EINVAL (a request that cannot be sent), FLP_ENOMEM,
 * FLP_ECONNECT (not reached: DNS, TCP, TLS — the reason in err),
 * FLP_ETIMEDOUT, FLP_ESERVER (refused; FLP_ENOTFOUND when the refusal is a
 * 404 or a ResourceNotFoundException), FLP_ECLOSED.
 *
 * The Host header is "host:port" (brackets around an IPv6 address), always
 * with the port: that is the value the SDK signs.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <libwebsockets.h>

#include <framelog/producer.h>

#define FLP_WS_CHUNK        16384 /* bytes per frame of a large message */
#define FLP_WS_RX_BYTES     16384 /* the received-message FIFO */
#define FLP_WS_RX_MSG_MAX   4096  /* a received message is cut here */
#define FLP_WS_SETTLE_MS    50    /* how long ws_open watches for an immediate close */
#define FLP_WS_CLOSE_MS     2000  /* how long a clean close waits for the server */
#define FLP_DEFAULT_TIMEOUT 10000 /* when a request's timeout_ms is <= 0 */
#define FLP_MAX_HEADER_NAME 127
#define FLP_HTTP_CHUNK      4096 /* bytes of an HTTP body per write */

/* Where distributions keep the system's CA bundle (lws 4.1 as Debian builds
 * it has no usable default: LWS_OPENSSL_CLIENT_CERTS is "../share"). */
static const char *const ca_bundles[] = {
    "/etc/ssl/certs/ca-certificates.crt", /* Debian, Ubuntu, Arch, Gentoo */
    "/etc/pki/tls/certs/ca-bundle.crt",   /* Fedora, RHEL */
    "/etc/ssl/ca-bundle.pem",             /* openSUSE */
    "/etc/ssl/cert.pem",                  /* Alpine, BSDs */
};

static pthread_once_t log_once = PTHREAD_ONCE_INIT;

static void quiet_lws(void)
{
    lws_set_log_level(LLL_ERR, NULL);
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- a context serviced until a deadline ---- */

typedef struct {
    struct lws_context *ctx;
    lws_sorted_usec_list_t sul; /* fires at the current wait's deadline */
} pump_t;

static void pump_sul_cb(lws_sorted_usec_list_t *sul)
{
    pump_t *p = lws_container_of(sul, pump_t, sul);
    /* lws may run a ripe timer just before poll(); make poll() return */
    lws_cancel_service(p->ctx);
}

/* Service once: handle what is ready, or wait for an event until deadline. */
static void pump_once(pump_t *p, long long deadline)
{
    long long wait = deadline - now_ms();
    if (wait <= 0) {
        lws_service(p->ctx, -1); /* negative: do not wait */
        return;
    }
    lws_sul_schedule(p->ctx, 0, &p->sul, pump_sul_cb, (lws_usec_t)wait * LWS_US_PER_MS);
    lws_service(p->ctx, 0);
}

static void pump_destroy(pump_t *p)
{
    if (!p->ctx)
        return;
    lws_sul_cancel(&p->sul);
    lws_context_destroy(p->ctx);
    p->ctx = NULL;
}

/* ---- request checks and the connection info ---- */

static void set_err(char *err, size_t cap, const char *fmt, const char *a, const char *b)
{
    if (err && cap)
        snprintf(err, cap, fmt, a ? a : "", b ? b : "");
}

static int has_ctl(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < ' ' || *s == 0x7f)
            return 1;
    return 0;
}

static int is_token(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > FLP_MAX_HEADER_NAME)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              strchr("!#$%&'*+-.^_`|~", c)))
            return 0;
    }
    return 1;
}

/* 1 for TLS, 0 for plain, -1 for an unknown scheme. */
static int scheme_tls(const char *scheme, int ws)
{
    if (!scheme)
        return -1;
    if (!strcmp(scheme, ws ? "wss" : "https"))
        return 1;
    if (!strcmp(scheme, ws ? "ws" : "http"))
        return 0;
    return -1;
}

static int check_request(const flp_request_t *req, int ws)
{
    if (!req || scheme_tls(req->scheme, ws) < 0 || !req->host || !req->host[0] ||
        has_ctl(req->host) || req->port <= 0 || req->port > 65535 || !req->path ||
        req->path[0] != '/' || has_ctl(req->path) || (req->n_headers && !req->headers))
        return FLP_EINVAL;
    if (!ws && (!req->method || !is_token(req->method) || (req->body_len && !req->body)))
        return FLP_EINVAL;
    if (ws && req->subprotocol && (!req->subprotocol[0] || has_ctl(req->subprotocol)))
        return FLP_EINVAL;
    for (size_t i = 0; i < req->n_headers; i++)
        if (!req->headers[i].name || !req->headers[i].value || !is_token(req->headers[i].name) ||
            has_ctl(req->headers[i].value) || !strcasecmp(req->headers[i].name, "host") ||
            !strcasecmp(req->headers[i].name, "content-length"))
            return FLP_EINVAL;
    return 0;
}

static int host_header(const flp_request_t *req, char *out, size_t cap)
{
    int v6 = strchr(req->host, ':') != NULL;
    int n = snprintf(out, cap, v6 ? "[%s]:%d" : "%s:%d", req->host, req->port);
    return n > 0 && (size_t)n < cap ? 0 : FLP_EINVAL;
}

/* A context for one connection; with TLS, the CA file it trusts goes into
 * ca (ca_cap bytes) for error messages. */
static struct lws_context *make_context(const flp_request_t *req, int tls,
                                        const struct lws_protocols *protos, void *user,
                                        char *ca_out, size_t ca_cap)
{
    pthread_once(&log_once, quiet_lws);
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = protos;
    info.user = user;
    info.gid = -1;
    info.uid = -1;
    info.count_threads = 1;
    info.fd_limit_per_thread = 8; /* event pipe + one connection */
    if (tls) {
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
        const char *ca = req->ca_file;
        if (!ca)
            ca = getenv("SSL_CERT_FILE");
        for (size_t i = 0; !ca && i < sizeof ca_bundles / sizeof ca_bundles[0]; i++)
            if (access(ca_bundles[i], R_OK) == 0)
                ca = ca_bundles[i];
        info.client_ssl_ca_filepath = ca;
        snprintf(ca_out, ca_cap, "%s", ca ? ca : "(no CA file found)");
    }
    return lws_create_context(&info);
}

static void fill_connect_info(struct lws_client_connect_info *ci, struct lws_context *ctx,
                              const flp_request_t *req, int tls, const char *host_hdr,
                              const char *local_protocol, struct lws **pwsi)
{
    memset(ci, 0, sizeof *ci);
    ci->context = ctx;
    ci->address = req->host;
    ci->port = req->port;
    ci->path = req->path;
    ci->host = host_hdr;
    /* the whole certificate check stays on: a self-signed server is trusted
     * only through a CA file that holds its certificate */
    ci->ssl_connection = tls ? LCCSCF_USE_SSL : 0;
    ci->alpn = "http/1.1"; /* no h2: large uploads and ws need HTTP/1.1 */
    ci->local_protocol_name = local_protocol;
    ci->pwsi = pwsi;
}

/* Add the caller's headers in CLIENT_APPEND_HANDSHAKE_HEADER. */
static int append_headers(struct lws *wsi, const flp_request_t *req, unsigned char **p,
                          unsigned char *end)
{
    for (size_t i = 0; i < req->n_headers; i++) {
        char name[FLP_MAX_HEADER_NAME + 2];
        snprintf(name, sizeof name, "%s:", req->headers[i].name);
        const char *v = req->headers[i].value;
        if (lws_add_http_header_by_name(wsi, (const unsigned char *)name, (const unsigned char *)v,
                                        (int)strlen(v), p, end))
            return -1;
    }
    return 0;
}

static int has_header(const flp_request_t *req, const char *name)
{
    for (size_t i = 0; i < req->n_headers; i++)
        if (!strcasecmp(req->headers[i].name, name))
            return 1;
    return 0;
}

/* ---- http() ---- */

typedef struct {
    pump_t pump;
    const flp_request_t *req;
    char host[300];
    struct lws *wsi;
    size_t sent; /* body bytes written */
    int status;  /* HTTP status, 0 until the response starts */
    int framed;  /* the response has a length or is chunked */
    char *body;  /* the caller's */
    size_t cap, len;
    int done, failed;
    char err[200];
    char ca[256]; /* the CA file trusted (TLS) */
} http_t;

static int http_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                   size_t len)
{
    (void)user;
    struct lws_context *ctx = wsi ? lws_get_context(wsi) : NULL;
    http_t *h = ctx ? lws_context_user(ctx) : NULL;
    if (!h)
        return 0;
    switch (reason) {
    case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER: {
        unsigned char **p = (unsigned char **)in, *end = *p + len;
        const flp_request_t *req = h->req;
        if (append_headers(wsi, req, p, end))
            return -1;
        if (req->body_len && !has_header(req, "content-type") &&
            lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE,
                                         (const unsigned char *)"application/json", 16, p, end))
            return -1;
        if (req->body_len || !strcmp(req->method, "POST")) {
            char cl[32];
            int n = snprintf(cl, sizeof cl, "%zu", req->body_len);
            if (lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH,
                                             (const unsigned char *)cl, n, p, end))
                return -1;
        }
        if (req->body_len) {
            lws_client_http_body_pending(wsi, 1);
            lws_callback_on_writable(wsi);
        }
        return 0;
    }
    case LWS_CALLBACK_CLIENT_HTTP_WRITEABLE: {
        const flp_request_t *req = h->req;
        if (h->sent >= req->body_len)
            return 0;
        uint8_t buf[LWS_PRE + FLP_HTTP_CHUNK];
        size_t k = req->body_len - h->sent;
        if (k > FLP_HTTP_CHUNK)
            k = FLP_HTTP_CHUNK;
        memcpy(buf + LWS_PRE, req->body + h->sent, k);
        int last = h->sent + k == req->body_len;
        if (lws_write(wsi, buf + LWS_PRE, k, last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) < (int)k)
            return -1;
        h->sent += k;
        if (last)
            lws_client_http_body_pending(wsi, 0);
        else
            lws_callback_on_writable(wsi);
        return 0;
    }
    case LWS_CALLBACK_ESTABLISHED_CLIENT_HTTP:
        h->status = (int)lws_http_client_http_response(wsi);
        /* with a length or chunking, the end is known; else it is the close */
        h->framed = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0 ||
                    lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0;
        return 0;
    case LWS_CALLBACK_RECEIVE_CLIENT_HTTP: {
        char buf[LWS_PRE + 2048];
        char *px = buf + LWS_PRE;
        int n = (int)sizeof buf - LWS_PRE;
        if (lws_http_client_read(wsi, &px, &n) < 0)
            return -1;
        return 0;
    }
    case LWS_CALLBACK_RECEIVE_CLIENT_HTTP_READ:
        if (h->len < h->cap) {
            size_t k = h->cap - h->len < len ? h->cap - h->len : len;
            memcpy(h->body + h->len, in, k);
            h->len += k;
        }
        return 0;
    case LWS_CALLBACK_COMPLETED_CLIENT_HTTP:
        h->done = 1;
        return 0;
    case LWS_CALLBACK_CLOSED_CLIENT_HTTP:
        /* a response without a length ends with the connection */
        if (h->status && !h->framed)
            h->done = 1;
        else if (!h->failed && !h->done) {
            h->failed = 1;
            snprintf(h->err, sizeof h->err, "connection closed before the response ended");
        }
        h->wsi = NULL;
        return 0;
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        h->failed = 1;
        if (in && len)
            snprintf(h->err, sizeof h->err, "%.*s", (int)len, (const char *)in);
        else
            snprintf(h->err, sizeof h->err, "connection failed");
        h->wsi = NULL;
        return 0;
    default:
        return 0;
    }
}

static int lws_http(void *ctx, const flp_request_t *req, int *status, char *body, size_t cap,
                    size_t *body_len)
{
    (void)ctx;
    if (status)
        *status = 0;
    if (body_len)
        *body_len = 0;
    if (check_request(req, 0) || !status || (cap && !body) || !body_len)
        return FLP_EINVAL;
    int tls = scheme_tls(req->scheme, 0);
    http_t *h = calloc(1, sizeof *h);
    if (!h)
        return FLP_ENOMEM;
    h->req = req;
    h->body = body;
    h->cap = cap;
    int rc = host_header(req, h->host, sizeof h->host);
    if (rc)
        goto out;
    struct lws_protocols protos[2];
    memset(protos, 0, sizeof protos);
    protos[0].name = "flp-http";
    protos[0].callback = http_cb;
    rc = FLP_ENOMEM;
    h->pump.ctx = make_context(req, tls, protos, h, h->ca, sizeof h->ca);
    if (!h->pump.ctx)
        goto out;
    struct lws_client_connect_info ci;
    fill_connect_info(&ci, h->pump.ctx, req, tls, h->host, protos[0].name, &h->wsi);
    ci.method = req->method;
    ci.ssl_connection |= LCCSCF_HTTP_NO_FOLLOW_REDIRECT;
    long long deadline = now_ms() + (req->timeout_ms > 0 ? req->timeout_ms : FLP_DEFAULT_TIMEOUT);
    rc = FLP_ECONNECT;
    if (!lws_client_connect_via_info(&ci) && !h->failed)
        snprintf(h->err, sizeof h->err, "could not start connecting");
    while (h->wsi && !h->done && !h->failed && now_ms() < deadline)
        pump_once(&h->pump, deadline);
    if (h->done) {
        *status = h->status;
        *body_len = h->len;
        if (h->len < cap)
            body[h->len] = 0;
        rc = 0;
    } else if (!h->failed && h->wsi) {
        rc = FLP_ETIMEDOUT;
    }
out:
    pump_destroy(&h->pump);
    free(h);
    return rc;
}

/* ---- WebSocket ---- */

enum { WS_CONNECTING, WS_OPEN, WS_CLOSING, WS_CLOSED, WS_FAILED };

struct flp_transport_conn {
    pump_t pump; /* first: its sul's callback finds the context */
    struct lws *wsi;
    struct lws_protocols protos[2];
    char proto_name[64];
    char host[300];
    const flp_request_t *req; /* during ws_open only */
    int state;
    int http_status; /* a refused upgrade's status */
    char err[512];   /* why it failed or closed */
    char ca[256];    /* the CA file trusted (TLS) */
    int cert_failed; /* the server's certificate did not verify */
    atomic_int wake; /* set by wake(), consumed by a wait that returns for it */
    /* sending: one message with LWS_PRE of headroom */
    uint8_t *sbuf;
    size_t scap; /* bytes after the headroom */
    size_t slen, soff;
    int stext, spending;
    /* receiving: records [u32 len][bytes] from rx_head to rx_tail */
    size_t rx_head, rx_tail;
    size_t rx_asm;  /* where the record being assembled starts */
    int assembling; /* a text message is being reassembled */
    int rx_binary;  /* the message being received is binary (ignored) */
    int rx_stopped; /* lws_rx_flow_control(wsi, 0) is in force */
    int close_code;
    char close_reason[128];
    uint8_t rx[FLP_WS_RX_BYTES];
};

typedef flp_transport_conn_t conn_t;

static size_t rx_free(const conn_t *c)
{
    return sizeof c->rx - (c->rx_tail - c->rx_head);
}

/* Make room for a whole new record at the tail: move what is held to the
 * front when the tail is near the end. 0, or -1 when it cannot fit. */
static int rx_reserve(conn_t *c)
{
    size_t need = 4 + FLP_WS_RX_MSG_MAX;
    if (sizeof c->rx - c->rx_tail >= need)
        return 0;
    memmove(c->rx, c->rx + c->rx_head, c->rx_tail - c->rx_head);
    c->rx_tail -= c->rx_head;
    c->rx_head = 0;
    return sizeof c->rx - c->rx_tail >= need ? 0 : -1;
}

static void rx_flow(conn_t *c)
{
    if (!c->wsi || c->state != WS_OPEN)
        return;
    int stop = rx_free(c) < 2 * (4 + FLP_WS_RX_MSG_MAX);
    if (stop != c->rx_stopped) {
        c->rx_stopped = stop;
        lws_rx_flow_control(c->wsi, !stop);
    }
}

static void rx_append(conn_t *c, struct lws *wsi, const void *in, size_t len)
{
    if (!c->assembling) {
        c->rx_binary = lws_frame_is_binary(wsi);
        if (!c->rx_binary) {
            if (rx_reserve(c) != 0) {
                c->rx_binary = 1; /* no room (cannot happen with flow control): drop */
            } else {
                c->rx_asm = c->rx_tail;
                memset(c->rx + c->rx_asm, 0, 4);
            }
        }
        c->assembling = 1;
    }
    if (!c->rx_binary) {
        uint32_t have;
        memcpy(&have, c->rx + c->rx_asm, 4);
        size_t k = FLP_WS_RX_MSG_MAX - have < len ? FLP_WS_RX_MSG_MAX - have : len;
        memcpy(c->rx + c->rx_asm + 4 + have, in, k);
        have += (uint32_t)k;
        memcpy(c->rx + c->rx_asm, &have, 4);
    }
    if (lws_is_final_fragment(wsi)) {
        if (!c->rx_binary) {
            uint32_t have;
            memcpy(&have, c->rx + c->rx_asm, 4);
            c->rx_tail = c->rx_asm + 4 + have;
        }
        c->assembling = 0;
        rx_flow(c);
    }
}

static void set_closed(conn_t *c)
{
    if (c->state == WS_CLOSED || c->state == WS_FAILED)
        return;
    if (!c->close_code)
        c->close_code = 1006; /* no close frame: the connection dropped */
    c->state = WS_CLOSED;
}

static int ws_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                 size_t len)
{
    (void)user;
    struct lws_context *ctx = wsi ? lws_get_context(wsi) : NULL;
    conn_t *c = ctx ? lws_context_user(ctx) : NULL;
    if (!c)
        return 0;
    switch (reason) {
    case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER: {
        unsigned char **p = (unsigned char **)in, *end = *p + len;
        if (c->req && append_headers(wsi, c->req, p, end))
            return -1;
        return 0;
    }
    case LWS_CALLBACK_OPENSSL_PERFORM_SERVER_CERT_VERIFICATION:
        /* len is OpenSSL's preverify_ok; lws then fails the handshake with
         * an opaque message, so remember why */
        if (!len)
            c->cert_failed = 1;
        return 0;
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        c->state = WS_OPEN;
        if (c->spending)
            lws_callback_on_writable(wsi);
        return 0;
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR: {
        c->http_status = (int)lws_http_client_http_response(wsi);
        char etype[96] = "";
        if (c->http_status &&
            lws_hdr_custom_copy(wsi, etype, sizeof etype, "x-amzn-errortype:", 17) <= 0)
            etype[0] = 0;
        const char *why = in && len ? (const char *)in : "connection failed";
        int wl = in && len ? (int)len : (int)strlen(why);
        if (wl > 200)
            wl = 200;
        if (c->cert_failed)
            snprintf(c->err, sizeof c->err,
                     "TLS: the server's certificate is not trusted by %.200s (%.*s)", c->ca, wl,
                     why);
        else if (c->http_status)
            snprintf(c->err, sizeof c->err, "HTTP %d%s%s (%.*s)", c->http_status,
                     etype[0] ? ": " : "", etype, wl, why);
        else
            snprintf(c->err, sizeof c->err, "%.*s", wl, why);
        c->state = WS_FAILED;
        c->wsi = NULL;
        return 0;
    }
    case LWS_CALLBACK_CLIENT_WRITEABLE: {
        if (c->spending) {
            size_t k = c->slen - c->soff;
            if (k > FLP_WS_CHUNK)
                k = FLP_WS_CHUNK;
            int first = c->soff == 0, last = c->soff + k == c->slen;
            int flags =
                first ? (c->stext ? LWS_WRITE_TEXT : LWS_WRITE_BINARY) : LWS_WRITE_CONTINUATION;
            if (!last)
                flags |= LWS_WRITE_NO_FIN;
            /* the LWS_PRE bytes before this piece are headroom or bytes
             * already written: lws may put the frame header there */
            if (lws_write(wsi, c->sbuf + LWS_PRE + c->soff, k, (enum lws_write_protocol)flags) <
                (int)k) {
                snprintf(c->err, sizeof c->err, "write failed");
                return -1;
            }
            c->soff += k;
            if (last)
                c->spending = 0;
            if (c->spending || c->state == WS_CLOSING)
                lws_callback_on_writable(wsi);
            return 0;
        }
        if (c->state == WS_CLOSING) {
            lws_close_reason(wsi, LWS_CLOSE_STATUS_NORMAL, NULL, 0);
            return -1;
        }
        return 0;
    }
    case LWS_CALLBACK_CLIENT_RECEIVE:
        rx_append(c, wsi, in, len);
        return 0;
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE: {
        const uint8_t *p = in;
        if (p && len >= 2) {
            c->close_code = (p[0] << 8) | p[1];
            size_t n = len - 2 < sizeof c->close_reason - 1 ? len - 2 : sizeof c->close_reason - 1;
            memcpy(c->close_reason, p + 2, n);
            c->close_reason[n] = 0;
        } else {
            c->close_code = 1005; /* a close frame without a code */
        }
        return 0;
    }
    case LWS_CALLBACK_CLIENT_CLOSED:
        if (c->state == WS_CLOSING && !c->close_code)
            c->close_code = 1000; /* we closed cleanly */
        set_closed(c);
        c->wsi = NULL;
        return 0;
    default:
        return 0;
    }
}

/* The close code and reason into the caller's buffers. */
static void closed_info(conn_t *c, int *close_code, char *err, size_t errcap)
{
    if (close_code)
        *close_code = c->close_code;
    if (err && errcap) {
        if (c->close_reason[0])
            snprintf(err, errcap, "closed %d: %s", c->close_code, c->close_reason);
        else if (c->err[0])
            snprintf(err, errcap, "closed %d: %s", c->close_code, c->err);
        else
            snprintf(err, errcap, "closed %d", c->close_code);
    }
}

static int refusal_code(int status, const char *msg)
{
    if (status == 404 || strstr(msg, "ResourceNotFoundException"))
        return FLP_ENOTFOUND;
    return FLP_ESERVER;
}

static void ws_free(conn_t *c)
{
    if (!c)
        return;
    pump_destroy(&c->pump);
    free(c->sbuf);
    free(c);
}

static int lws_ws_open(void *ctx, const flp_request_t *req, flp_transport_conn_t **out, char *err,
                       size_t errcap)
{
    (void)ctx;
    if (err && errcap)
        err[0] = 0;
    if (!out)
        return FLP_EINVAL;
    *out = NULL;
    if (check_request(req, 1)) {
        set_err(err, errcap, "invalid request%s%s", NULL, NULL);
        return FLP_EINVAL;
    }
    int tls = scheme_tls(req->scheme, 1);
    conn_t *c = calloc(1, sizeof *c);
    if (!c)
        return FLP_ENOMEM;
    int rc = FLP_EINVAL;
    if (host_header(req, c->host, sizeof c->host) ||
        (size_t)snprintf(c->proto_name, sizeof c->proto_name, "%s",
                         req->subprotocol ? req->subprotocol : "flp-ws") >= sizeof c->proto_name) {
        set_err(err, errcap, "host or subprotocol too long%s%s", NULL, NULL);
        goto fail;
    }
    c->req = req;
    c->state = WS_CONNECTING;
    atomic_init(&c->wake, 0);
    c->protos[0].name = c->proto_name;
    c->protos[0].callback = ws_cb;
    rc = FLP_ENOMEM;
    c->pump.ctx = make_context(req, tls, c->protos, c, c->ca, sizeof c->ca);
    if (!c->pump.ctx) {
        set_err(err, errcap, "cannot create the lws context%s%s", NULL, NULL);
        goto fail;
    }
    struct lws_client_connect_info ci;
    fill_connect_info(&ci, c->pump.ctx, req, tls, c->host, c->proto_name, &c->wsi);
    ci.protocol = req->subprotocol;
    long long deadline = now_ms() + (req->timeout_ms > 0 ? req->timeout_ms : FLP_DEFAULT_TIMEOUT);
    if (!lws_client_connect_via_info(&ci) && c->state != WS_FAILED) {
        c->state = WS_FAILED;
        snprintf(c->err, sizeof c->err, "could not start connecting");
    }
    while (c->state == WS_CONNECTING && now_ms() < deadline)
        pump_once(&c->pump, deadline);
    c->req = NULL;
    if (c->state == WS_CONNECTING) {
        rc = FLP_ETIMEDOUT;
        set_err(err, errcap, "no connection within the timeout%s%s", NULL, NULL);
        goto fail;
    }
    if (c->state == WS_FAILED) {
        rc = c->http_status ? refusal_code(c->http_status, c->err) : FLP_ECONNECT;
        set_err(err, errcap, "%s%s", c->err, NULL);
        goto fail;
    }
    /* a server that cannot start the session closes right after the upgrade */
    long long settle = now_ms() + FLP_WS_SETTLE_MS;
    if (settle > deadline)
        settle = deadline;
    while (c->state == WS_OPEN && c->rx_tail == c->rx_head && now_ms() < settle)
        pump_once(&c->pump, settle);
    if (c->state == WS_CLOSED && c->rx_tail == c->rx_head) {
        char why[300];
        closed_info(c, NULL, why, sizeof why);
        rc = refusal_code(0, why);
        set_err(err, errcap, "%s%s", why, NULL);
        goto fail;
    }
    *out = c;
    return 0;
fail:
    ws_free(c);
    return rc;
}

/* Consume a pending wake: 1 when there was one. */
static int take_wake(conn_t *c)
{
    return atomic_exchange(&c->wake, 0) != 0;
}

static int lws_ws_send(flp_transport_conn_t *c, const uint8_t *p, size_t n, int text,
                       int timeout_ms)
{
    if (!c || (n && !p))
        return FLP_EINVAL;
    long long deadline = now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    /* the previous message first */
    while (c->spending) {
        if (c->state != WS_OPEN)
            return FLP_ECLOSED;
        if (take_wake(c) || now_ms() >= deadline)
            return FLP_ETIMEDOUT;
        pump_once(&c->pump, deadline);
    }
    if (c->state != WS_OPEN)
        return FLP_ECLOSED;
    if (n > c->scap || !c->sbuf) {
        if (n > SIZE_MAX - LWS_PRE)
            return FLP_EINVAL;
        uint8_t *b = realloc(c->sbuf, LWS_PRE + (n ? n : 1));
        if (!b)
            return FLP_ENOMEM;
        c->sbuf = b;
        c->scap = n ? n : 1;
    }
    if (n)
        memcpy(c->sbuf + LWS_PRE, p, n);
    c->slen = n;
    c->soff = 0;
    c->stext = text != 0;
    c->spending = 1;
    lws_callback_on_writable(c->wsi);
    /* the message is ours now; push it out while the caller's time lasts */
    do {
        pump_once(&c->pump, c->spending ? deadline : now_ms());
    } while (c->spending && c->state == WS_OPEN && now_ms() < deadline &&
             atomic_load(&c->wake) == 0);
    if (c->spending && c->state != WS_OPEN)
        return FLP_ECLOSED; /* it did not get out whole */
    return 0;
}

static int lws_ws_recv(flp_transport_conn_t *c, char *buf, size_t cap, size_t *n, int timeout_ms,
                       int *close_code, char *err, size_t errcap)
{
    if (n)
        *n = 0;
    if (close_code)
        *close_code = 0;
    if (err && errcap)
        err[0] = 0;
    if (!c || !n || (cap && !buf))
        return FLP_EINVAL;
    long long deadline = now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    int first = 1;
    for (;;) {
        if (c->rx_tail != c->rx_head) {
            uint32_t len;
            memcpy(&len, c->rx + c->rx_head, 4);
            size_t k = len < cap ? len : cap;
            if (k)
                memcpy(buf, c->rx + c->rx_head + 4, k);
            if (k < cap)
                buf[k] = 0;
            *n = k;
            c->rx_head += 4 + (size_t)len;
            if (c->rx_head == c->rx_tail)
                c->rx_head = c->rx_tail = c->assembling ? c->rx_head : 0;
            rx_flow(c);
            return 0;
        }
        if (c->state == WS_CLOSED || c->state == WS_FAILED || !c->wsi) {
            set_closed(c);
            closed_info(c, close_code, err, errcap);
            return FLP_ECLOSED;
        }
        if (take_wake(c))
            return FLP_ETIMEDOUT;
        if (!first && now_ms() >= deadline)
            return FLP_ETIMEDOUT;
        first = 0; /* even timeout 0 takes in what has arrived */
        pump_once(&c->pump, deadline);
    }
}

static void lws_ws_wake(flp_transport_conn_t *c)
{
    if (!c)
        return;
    atomic_store(&c->wake, 1);
    lws_cancel_service(c->pump.ctx);
}

static void lws_ws_close(flp_transport_conn_t *c, int clean)
{
    if (!c)
        return;
    if (clean && c->wsi && c->state == WS_OPEN) {
        c->state = WS_CLOSING;
        lws_callback_on_writable(c->wsi);
        long long deadline = now_ms() + FLP_WS_CLOSE_MS;
        while (c->wsi && c->state == WS_CLOSING && now_ms() < deadline)
            pump_once(&c->pump, deadline);
    }
    ws_free(c); /* abortive: the socket just closes */
}

static const flp_transport_t lws_transport = {
    .http = lws_http,
    .ws_open = lws_ws_open,
    .ws_send = lws_ws_send,
    .ws_recv = lws_ws_recv,
    .wake = lws_ws_wake,
    .ws_close = lws_ws_close,
    .ctx = NULL,
};

const flp_transport_t *flp_transport_lws(void)
{
    return &lws_transport;
}
