/*
 * server/core/h2.c — HTTP/2 carried by nghttp2, served by the same
 * HTTP/1.1 code as everything else: prior-knowledge h2c on the plain
 * listeners, and ALPN "h2" on the TLS listeners (h2tls.c carries the TLS
 * and drives the connection through fl_h2_conn_*: the transport is the
 * one seam, fl_h2_io_t, and everything below it is shared).
 *
 * Why not libwebsockets' own HTTP/2: lws 4.1.6 turns it on for plain text
 * only with LWS_SERVER_OPTION_H2_PRIOR_KNOWLEDGE, which makes *every*
 * plain connection HTTP/2 (the AWS CLI, curl and boto3 speak HTTP/1.1 to
 * the same port); its uploads over about 200 kB end in GOAWAY "DATA:
 * stream not opened"; and it sends each lws_write() as one DATA frame, so
 * our 64 KiB response pieces break the 16 KiB frame limit clients set
 * (docs/ARCHITECTURE.md, "HTTP/2", has the measurements).
 *
 * How a connection gets here: every listener falls back to the raw
 * protocol "fl-h2" (listen.c) when lws's HTTP/1.1 parser does not take the
 * first bytes. lws hands those bytes over as the first RAW_RX: the
 * HTTP/2 preface ("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", or the part of it
 * that has arrived) makes the connection an nghttp2 server session; any
 * other bytes, and any plain bytes on a TLS listener, go to
 * fl_refuse_callback as before.
 *
 * How a stream is served: each HTTP/2 request gets a socket pair. One end
 * is adopted by lws as an ordinary HTTP/1.1 server connection of the same
 * vhost (so routing, X-Amz-Target dispatch, JSON 1.1 and CBOR, the
 * authenticate step, access checks, body limits, workers and parked
 * requests such as PutRecords' wait for the group commit are exactly
 * HTTP/1.1's: http.c does not know h2 exists); the other end is ours, a
 * raw lws connection of this protocol. The request goes in as
 * "METHOD path HTTP/1.1", Host from :authority, the client's header fields,
 * "connection: close", and the body as it arrives (with the client's
 * content-length, else chunked); the HTTP/1.1 answer read back becomes the
 * stream's HEADERS (fields lower-cased, connection-specific ones dropped)
 * and DATA until the HTTP/1.1 side closes. A streaming answer (no length,
 * or chunked: decoded here, server/core/chunked.h) streams, each piece
 * going out as DATA as it comes (SubscribeToShard's event stream).
 *
 * Invariants and limits:
 * - Loop thread only, like all of lws.
 * - A stream's request bytes wait in st->up until the socket pair takes
 *   them; the client's flow-control window is given back
 *   (nghttp2_session_consume) only once they have gone, so at most
 *   FL_H2_STREAM_WINDOW per stream and FL_H2_CONN_WINDOW per connection
 *   are held (with a body's chunk framing, at most FL_H2_MAX_FRAMING more
 *   per stream: a client of tiny DATA frames is reset past it). Response
 *   bytes wait in st->down; past FL_H2_DOWN_PAUSE the socket pair is no
 *   longer read until the client takes them.
 * - An answer that ends before the client's side does (a refused head, an
 *   answer before the whole body) is followed by RST_STREAM NO_ERROR, so
 *   no finished stream holds its connection open; an interim answer (100
 *   Continue) from the HTTP/1.1 side is not passed on.
 * - Request header fields: at most FL_H2_MAX_HEAD bytes as forwarded, path
 *   FL_H2_MAX_PATH; past either the stream is answered 431
 *   RequestHeaderFieldsTooLarge here, like HTTP/1.1's heads past
 *   FL_LIMIT_HEADER_BYTES (a head between the two is answered so by the
 *   HTTP/1.1 side), and its body is dropped; response heads the same bound
 *   and FL_H2_MAX_FIELDS fields (parsed by fl_h2_head_parse, fuzzed:
 *   tests/fuzz/fuzz_h2_head.c).
 * - A stream whose client resets it, or whose connection goes, closes its
 *   socket pair (the HTTP/1.1 side sees a client that went away); a socket
 *   pair whose stream is gone finds its stream pointer NULL.
 * - An idle connection (no stream open) is closed after --idle-timeout.
 * - Frames go out through the connection's fl_h2_io_t, one send per
 *   writeable: lws_write on the raw socket for h2c, SSL_write then
 *   lws_write of the records for h2tls.c; either takes all (lws keeps
 *   what the socket did not take) or fails.
 * - A connection is counted in the open connections from fl_h2_conn_new
 *   to fl_h2_conn_free.
 */
#include "server/core/h2.h"

#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/diag.h"
#include "common/error.h"
#include "server/core/chunked.h"
#include "server/core/listen.h"
#include "server/core/server_internal.h"

static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
#define PREFACE_LEN 24

typedef struct h2_stream {
    struct h2_stream *next;
    fl_h2_conn_t *c;
    int32_t id;
    struct lws *pipe; /* our end of the socket pair (NULL before and after) */
    /* the request */
    char method[16];
    char path[FL_H2_MAX_PATH + 1];
    char authority[256];
    char host[256];
    char clen[24];        /* the client's content-length, "" when none */
    fl_buf_t fields;      /* "name: value\r\n"... as forwarded */
    int bad;              /* a field over a limit: 431 once the head is in */
    const char *bad_what; /* which: "head", "path", ... */
    size_t bad_limit;     /* and its bound, in bytes */
    size_t head_n;        /* the head's bytes as HTTP/1.1 would carry them */
    int chunked;          /* the body goes chunk-encoded (no content-length) */
    fl_buf_t up;          /* bytes for the socket pair */
    size_t unconsumed;    /* DATA bytes received and not yet given back */
    int up_end;           /* the request is complete */
    /* the response */
    fl_buf_t rhead; /* its head, until complete */
    int head_done;
    int down_chunked; /* the answer is chunk-encoded: decoded into down */
    fl_chunked_t dechunk;
    fl_buf_t down; /* body bytes for the client */
    size_t down_off;
    int down_eof; /* the socket pair closed: nothing more */
    int deferred; /* nghttp2 waits for more down bytes */
    int paused;   /* the socket pair's reading is paused */
} h2_stream_t;

struct fl_h2_conn {
    struct lws *wsi;
    struct fl_server *srv;
    fl_h2_io_t io; /* how frames reach the client */
    nghttp2_session *ng;
    h2_stream_t *streams;
    int n_streams;
    fl_buf_t out; /* frames nghttp2 made, from LWS_PRE on */
};

static struct fl_server *server_of(struct lws *wsi)
{
    return lws_context_user(lws_get_context(wsi));
}

/* ---- the HTTP/1.1 response head (our own server's, read back) ---- */

long fl_h2_head_end(fl_slice_t p)
{
    size_t lim = p.n < FL_H2_MAX_HEAD ? p.n : FL_H2_MAX_HEAD;
    for (size_t i = 3; i < lim; i++)
        if (p.p[i] == '\n' && p.p[i - 1] == '\r' && p.p[i - 2] == '\n' && p.p[i - 3] == '\r')
            return (long)(i + 1);
    return p.n >= FL_H2_MAX_HEAD ? FL_ELIMIT : 0;
}

static fl_slice_t trim(const uint8_t *a, const uint8_t *b)
{
    while (a < b && (*a == ' ' || *a == '\t'))
        a++;
    while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
        b--;
    return fl_slice(a, (size_t)(b - a));
}

int fl_h2_head_parse(fl_slice_t head, fl_h2_head_t *out)
{
    memset(out, 0, sizeof *out);
    const uint8_t *p = head.p, *end = head.p + head.n;
    /* "HTTP/1.x SSS reason\r\n" */
    if (head.n < 14 || memcmp(p, "HTTP/1.", 7) != 0 || p[8] != ' ')
        return FL_EINVAL;
    int st = 0;
    for (int i = 9; i < 12; i++) {
        if (p[i] < '0' || p[i] > '9')
            return FL_EINVAL;
        st = st * 10 + (p[i] - '0');
    }
    if (st < 100 || (p[12] != ' ' && p[12] != '\r'))
        return FL_EINVAL;
    out->status = st;
    const uint8_t *line = memchr(p, '\n', head.n);
    if (!line)
        return FL_EINVAL;
    p = line + 1;
    while (p < end) {
        const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl || nl == p || nl[-1] != '\r')
            return FL_EINVAL;
        const uint8_t *le = nl - 1; /* the '\r' */
        if (le == p)
            return nl + 1 == end ? 0 : FL_EINVAL; /* the blank line ends it */
        const uint8_t *colon = memchr(p, ':', (size_t)(le - p));
        if (!colon || colon == p)
            return FL_EINVAL;
        for (const uint8_t *q = p; q < colon; q++)
            if (*q <= ' ' || *q >= 0x7f)
                return FL_EINVAL;
        if (out->n == FL_H2_MAX_FIELDS)
            return FL_ELIMIT;
        out->name[out->n] = fl_slice(p, (size_t)(colon - p));
        out->value[out->n] = trim(colon + 1, le);
        out->n++;
        p = nl + 1;
    }
    return FL_EINVAL; /* no blank line */
}

/* ---- streams ---- */

static h2_stream_t *stream_of(fl_h2_conn_t *c, int32_t id)
{
    return nghttp2_session_get_stream_user_data(c->ng, id);
}

static void kick(fl_h2_conn_t *c)
{
    if (c->wsi)
        lws_callback_on_writable(c->wsi);
}

/* Let the socket pair go: its stream no longer hears from it. */
static void pipe_detach(h2_stream_t *st)
{
    if (!st->pipe)
        return;
    lws_set_opaque_user_data(st->pipe, NULL);
    lws_set_timeout(st->pipe, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
    st->pipe = NULL;
}

static void stream_free(h2_stream_t *st)
{
    pipe_detach(st);
    fl_buf_free(&st->fields);
    fl_buf_free(&st->up);
    fl_buf_free(&st->rhead);
    fl_buf_free(&st->down);
    free(st);
}

static void stream_unlink(fl_h2_conn_t *c, h2_stream_t *st)
{
    for (h2_stream_t **pp = &c->streams; *pp; pp = &(*pp)->next)
        if (*pp == st) {
            *pp = st->next;
            c->n_streams--;
            break;
        }
}

static void reset(fl_h2_conn_t *c, h2_stream_t *st, uint32_t code)
{
    nghttp2_submit_rst_stream(c->ng, NGHTTP2_FLAG_NONE, st->id, code);
    pipe_detach(st);
    kick(c);
}

/* nghttp2 asks for response body bytes. */
static ssize_t down_read(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t length,
                         uint32_t *flags, nghttp2_data_source *src, void *user)
{
    (void)ng;
    (void)id;
    (void)user;
    h2_stream_t *st = src->ptr;
    size_t avail = st->down.n - st->down_off;
    if (avail == 0) {
        if (st->down_eof) {
            *flags |= NGHTTP2_DATA_FLAG_EOF;
            return 0;
        }
        st->deferred = 1;
        return NGHTTP2_ERR_DEFERRED;
    }
    size_t n = avail < length ? avail : length;
    memcpy(buf, st->down.p + st->down_off, n);
    st->down_off += n;
    if (st->down_off == st->down.n) {
        fl_buf_reset(&st->down);
        st->down_off = 0;
        if (st->down_eof)
            *flags |= NGHTTP2_DATA_FLAG_EOF;
        if (st->paused && st->pipe) {
            st->paused = 0;
            lws_rx_flow_control(st->pipe, 1);
        }
    }
    return (ssize_t)n;
}

static int is_hop_field(fl_slice_t n)
{
    static const char *const hop[] = {"connection", "keep-alive",       "transfer-encoding",
                                      "upgrade",    "proxy-connection", NULL};
    for (int i = 0; hop[i]; i++)
        if (n.n == strlen(hop[i]) && strncasecmp((const char *)n.p, hop[i], n.n) == 0)
            return 1;
    return 0;
}

/* Body bytes of the answer for the client: as they are, or decoded from
 * the chunked encoding. 0, or -1 on bad chunking or no memory. */
static int down_body(h2_stream_t *st, const uint8_t *p, size_t n)
{
    if (!st->down_chunked) {
        fl_buf_append(&st->down, p, n);
        return st->down.err ? -1 : 0;
    }
    fl_slice_t in = fl_slice(p, n);
    while (in.n && !fl_chunked_done(&st->dechunk)) {
        size_t used = 0;
        fl_slice_t data;
        if (fl_chunked_decode(&st->dechunk, in, &used, &data) != 0)
            return -1;
        fl_buf_append(&st->down, data.p, data.n);
        in.p += used;
        in.n -= used;
        if (used == 0)
            break;
    }
    return st->down.err ? -1 : 0;
}

/* The response head is in st->rhead (len bytes of it): submit it. */
static int submit_head(fl_h2_conn_t *c, h2_stream_t *st, size_t len)
{
    fl_h2_head_t h;
    if (fl_h2_head_parse(fl_slice(st->rhead.p, len), &h) != 0 || h.status < 200)
        return -1;
    nghttp2_nv nv[FL_H2_MAX_FIELDS + 1];
    char status[12], lower[FL_H2_MAX_FIELDS][64];
    snprintf(status, sizeof status, "%03d", h.status % 1000);
    size_t n = 0;
    nv[n++] = (nghttp2_nv){(uint8_t *)":status", (uint8_t *)status, 7, 3, NGHTTP2_NV_FLAG_NONE};
    for (size_t i = 0; i < h.n; i++) {
        if (is_hop_field(h.name[i]) || h.name[i].n >= sizeof lower[0])
            continue;
        for (size_t k = 0; k < h.name[i].n; k++) {
            char ch = (char)h.name[i].p[k];
            lower[i][k] = (char)(ch >= 'A' && ch <= 'Z' ? ch + 32 : ch);
        }
        nv[n++] = (nghttp2_nv){(uint8_t *)lower[i], (uint8_t *)h.value[i].p, h.name[i].n,
                               h.value[i].n, NGHTTP2_NV_FLAG_NONE};
    }
    nghttp2_data_provider prov = {.source.ptr = st, .read_callback = down_read};
    if (nghttp2_submit_response(c->ng, st->id, nv, n, &prov) != 0)
        return -1;
    for (size_t i = 0; i < h.n; i++)
        if (h.name[i].n == 17 &&
            strncasecmp((const char *)h.name[i].p, "transfer-encoding", 17) == 0 &&
            h.value[i].n == 7 && strncasecmp((const char *)h.value[i].p, "chunked", 7) == 0) {
            st->down_chunked = 1;
            fl_chunked_init(&st->dechunk);
        }
    /* what followed the head is body */
    int rc = down_body(st, st->rhead.p + len, st->rhead.n - len);
    fl_buf_free(&st->rhead);
    st->head_done = 1;
    return rc;
}

/* Bytes of the HTTP/1.1 answer came over the socket pair. */
static void pipe_rx(h2_stream_t *st, const uint8_t *p, size_t n)
{
    fl_h2_conn_t *c = st->c;
    while (!st->head_done) {
        /* up to the head's bound here; what follows (body) goes on below */
        size_t take = FL_H2_MAX_HEAD - st->rhead.n;
        take = n < take ? n : take;
        fl_buf_append(&st->rhead, p, take);
        p += take;
        n -= take;
        long end = fl_h2_head_end(fl_buf_slice(&st->rhead));
        if (end == 0 && !st->rhead.err)
            return; /* all taken, the head not complete yet */
        if (end > 0 && st->rhead.n > 9 && memcmp(st->rhead.p, "HTTP/1.", 7) == 0 &&
            st->rhead.p[9] == '1') {
            /* an interim answer (100 Continue to an Expect): HTTP/2 has no
             * use for it here; the final head follows */
            fl_buf_consume(&st->rhead, (size_t)end);
            continue;
        }
        if (end < 0 || st->rhead.err || submit_head(c, st, (size_t)end) != 0) {
            fl_warn("h2: stream %d: the HTTP/1.1 side answered an unreadable head", st->id);
            reset(c, st, NGHTTP2_INTERNAL_ERROR);
            return;
        }
    }
    if (n && down_body(st, p, n) != 0) {
        fl_warn("h2: stream %d: the HTTP/1.1 side answered an unreadable body", st->id);
        reset(c, st, NGHTTP2_INTERNAL_ERROR);
        return;
    }
    if (st->down.n - st->down_off > FL_H2_DOWN_PAUSE && st->pipe && !st->paused) {
        st->paused = 1;
        lws_rx_flow_control(st->pipe, 0);
    }
    if (st->deferred && st->down.n > st->down_off) {
        st->deferred = 0;
        nghttp2_session_resume_data(c->ng, st->id);
    }
    kick(c);
}

/* The HTTP/1.1 side closed: the answer is complete (or never came). */
static void pipe_closed(h2_stream_t *st)
{
    fl_h2_conn_t *c = st->c;
    st->pipe = NULL;
    if (!st->head_done) {
        reset(c, st, NGHTTP2_INTERNAL_ERROR);
        return;
    }
    st->down_eof = 1;
    if (st->deferred) {
        st->deferred = 0;
        nghttp2_session_resume_data(c->ng, st->id);
    }
    kick(c);
}

/* The socket pair can take request bytes: one write. */
static int pipe_writeable(h2_stream_t *st)
{
    static __thread uint8_t buf[LWS_PRE + 65536]; /* one per loop thread */
    size_t n = st->up.n < 65536 ? st->up.n : 65536;
    if (n) {
        memcpy(buf + LWS_PRE, st->up.p, n);
        if (lws_write(st->pipe, buf + LWS_PRE, n, LWS_WRITE_RAW) != (int)n)
            return -1;
        fl_buf_consume(&st->up, n);
    }
    if (st->up.n) {
        lws_callback_on_writable(st->pipe);
    } else if (st->unconsumed) {
        /* all sent on: the client may send as much again */
        nghttp2_session_consume(st->c->ng, st->id, st->unconsumed);
        st->unconsumed = 0;
        kick(st->c);
    }
    return 0;
}

/* A field of the request's head past its bound: answered here, 431 with
 * the error body HTTP/1.1's refusal has (http.c), without a socket pair;
 * DATA that still comes is dropped (cb_data). */
static void refuse_head(fl_h2_conn_t *c, h2_stream_t *st)
{
    char msg[160], len[24];
    if (strcmp(st->bad_what, "head") == 0) {
        fl_limits_hit(
            c->srv->limits, FL_LIMIT_HEADER_TOO_LARGE,
            "answered 431 to an HTTP/2 request head of %zu bytes or more (the limit is %d)",
            st->head_n, FL_LIMIT_HEADER_BYTES);
        snprintf(msg, sizeof msg, "the request head is %zu bytes or more; the limit is %d",
                 st->head_n, FL_LIMIT_HEADER_BYTES);
    } else {
        fl_limits_hit(c->srv->limits, FL_LIMIT_HEADER_TOO_LARGE,
                      "answered 431 to an HTTP/2 request whose %s is too long", st->bad_what);
        snprintf(msg, sizeof msg, "the request's %s is too long (the limit is %zu bytes)",
                 st->bad_what, st->bad_limit);
    }
    fl_buf_reset(&st->down);
    fl_http_error_body(&st->down, "RequestHeaderFieldsTooLarge", msg);
    snprintf(len, sizeof len, "%zu", st->down.n);
    nghttp2_nv nv[] = {
        {(uint8_t *)":status", (uint8_t *)"431", 7, 3, NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)"content-type", (uint8_t *)"application/json", 12, 16, NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)"x-amzn-errortype", (uint8_t *)"RequestHeaderFieldsTooLarge", 16, 27,
         NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)"content-length", (uint8_t *)len, 14, strlen(len), NGHTTP2_NV_FLAG_NONE},
    };
    st->head_done = 1;
    st->down_eof = 1;
    fl_buf_free(&st->fields);
    nghttp2_data_provider prov = {.source.ptr = st, .read_callback = down_read};
    if (st->down.err || nghttp2_submit_response(c->ng, st->id, nv, 4, &prov) != 0) {
        reset(c, st, NGHTTP2_INTERNAL_ERROR);
        return;
    }
    kick(c);
}

/* The request's head is complete: open its socket pair and send the
 * HTTP/1.1 head. */
static int stream_start(fl_h2_conn_t *c, h2_stream_t *st, int end_stream)
{
    if (st->bad) {
        refuse_head(c, st);
        return 0;
    }
    if (!st->method[0] || !st->path[0] || st->path[0] != '/') {
        reset(c, st, NGHTTP2_PROTOCOL_ERROR);
        return 0;
    }
    const char *host = st->authority[0] ? st->authority : st->host;
    fl_buf_printf(&st->up, "%s %s HTTP/1.1\r\n", st->method, st->path);
    if (host[0])
        fl_buf_printf(&st->up, "host: %s\r\n", host);
    fl_buf_append(&st->up, st->fields.p, st->fields.n);
    if (st->clen[0])
        fl_buf_printf(&st->up, "content-length: %s\r\n", st->clen);
    else if (!end_stream) {
        fl_buf_append_str(&st->up, "transfer-encoding: chunked\r\n");
        st->chunked = 1;
    }
    fl_buf_append_str(&st->up, "connection: close\r\n\r\n");
    fl_buf_free(&st->fields);
    if (st->up.err) {
        reset(c, st, NGHTTP2_INTERNAL_ERROR);
        return 0;
    }
    st->up_end = end_stream;

    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0) {
        fl_warn("h2: socketpair: %s", fl_strerror(FL_EIO));
        reset(c, st, NGHTTP2_REFUSED_STREAM);
        return 0;
    }
    struct lws_vhost *vh = lws_get_vhost(c->wsi);
    lws_sock_file_fd_type fd;
    fd.sockfd = sv[0];
    /* the HTTP/1.1 side: closes sv[0] itself when it fails */
    if (!lws_adopt_descriptor_vhost(vh, LWS_ADOPT_SOCKET | LWS_ADOPT_HTTP, fd, NULL, NULL)) {
        close(sv[1]);
        reset(c, st, NGHTTP2_REFUSED_STREAM);
        return 0;
    }
    lws_adopt_desc_t ad = {
        .vh = vh, .type = LWS_ADOPT_SOCKET, .vh_prot_name = "fl-h2", .opaque = st};
    ad.fd.sockfd = sv[1];
    st->pipe = lws_adopt_descriptor_vhost_via_info(&ad);
    if (!st->pipe) { /* sv[1] is closed: the HTTP/1.1 side sees its client go */
        reset(c, st, NGHTTP2_REFUSED_STREAM);
        return 0;
    }
    fl_h2_pss_t *pp = lws_wsi_user(st->pipe);
    if (!pp) {
        reset(c, st, NGHTTP2_INTERNAL_ERROR);
        return 0;
    }
    pp->kind = 3;
    lws_set_opaque_user_data(st->pipe, st);
    lws_callback_on_writable(st->pipe);
    return 0;
}

/* ---- nghttp2's callbacks ---- */

static ssize_t cb_send(nghttp2_session *ng, const uint8_t *data, size_t length, int flags,
                       void *user)
{
    (void)ng;
    (void)flags;
    fl_h2_conn_t *c = user;
    fl_buf_append(&c->out, data, length);
    return c->out.err ? NGHTTP2_ERR_CALLBACK_FAILURE : (ssize_t)length;
}

static int cb_begin_headers(nghttp2_session *ng, const nghttp2_frame *f, void *user)
{
    fl_h2_conn_t *c = user;
    if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    h2_stream_t *st = calloc(1, sizeof *st);
    if (!st)
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    st->c = c;
    st->id = f->hd.stream_id;
    fl_buf_init(&st->fields, FL_H2_MAX_HEAD);
    fl_buf_init(&st->up, 0);
    fl_buf_init(&st->rhead, FL_H2_MAX_HEAD);
    fl_buf_init(&st->down, 0);
    st->next = c->streams;
    c->streams = st;
    c->n_streams++;
    nghttp2_session_set_stream_user_data(ng, st->id, st);
    lws_set_timeout(c->wsi, NO_PENDING_TIMEOUT, 0);
    return 0;
}

static void copy_field(h2_stream_t *st, const char *what, char *dst, size_t cap, const uint8_t *v,
                       size_t n)
{
    if (n >= cap) {
        st->bad = 1;
        st->bad_what = what;
        st->bad_limit = cap - 1;
        return;
    }
    memcpy(dst, v, n);
    dst[n] = 0;
}

static int cb_header(nghttp2_session *ng, const nghttp2_frame *f, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *user)
{
    (void)ng;
    (void)flags;
    fl_h2_conn_t *c = user;
    if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0; /* trailers: dropped */
    h2_stream_t *st = stream_of(c, f->hd.stream_id);
    if (!st)
        return 0;
    fl_slice_t n = fl_slice(name, namelen);
    st->head_n += namelen + valuelen + 4; /* "name: value\r\n" */
    if (fl_slice_eq_str(n, ":method"))
        copy_field(st, "method", st->method, sizeof st->method, value, valuelen);
    else if (fl_slice_eq_str(n, ":path"))
        copy_field(st, "path", st->path, sizeof st->path, value, valuelen);
    else if (fl_slice_eq_str(n, ":authority"))
        copy_field(st, ":authority", st->authority, sizeof st->authority, value, valuelen);
    else if (fl_slice_eq_str(n, "host"))
        copy_field(st, "host", st->host, sizeof st->host, value, valuelen);
    else if (fl_slice_eq_str(n, "content-length"))
        copy_field(st, "content-length", st->clen, sizeof st->clen, value, valuelen);
    else if (namelen && name[0] != ':' && !is_hop_field(n)) {
        /* nghttp2 has checked the field's characters (RFC 9113 8.2.1) */
        fl_buf_append(&st->fields, name, namelen);
        fl_buf_append(&st->fields, ": ", 2);
        fl_buf_append(&st->fields, value, valuelen);
        fl_buf_append(&st->fields, "\r\n", 2);
        if (st->fields.err && !st->bad) {
            st->bad = 1;
            st->bad_what = "head";
        }
    }
    return 0;
}

static int cb_data(nghttp2_session *ng, uint8_t flags, int32_t id, const uint8_t *data, size_t len,
                   void *user)
{
    (void)flags;
    fl_h2_conn_t *c = user;
    h2_stream_t *st = stream_of(c, id);
    if (!st || !st->pipe) {
        nghttp2_session_consume(ng, id, len); /* dropped: give the window back */
        return 0;
    }
    if (st->chunked)
        fl_buf_printf(&st->up, "%zx\r\n", len);
    fl_buf_append(&st->up, data, len);
    if (st->chunked)
        fl_buf_append(&st->up, "\r\n", 2);
    st->unconsumed += len;
    if (st->up.err) {
        reset(c, st, NGHTTP2_INTERNAL_ERROR);
        return 0;
    }
    /* chunk framing is outside the client's window: tiny DATA frames
     * against a slow reader would hold up to 6 times it */
    if (st->up.n > st->unconsumed + FL_H2_MAX_HEAD + FL_H2_MAX_PATH + FL_H2_MAX_FRAMING) {
        fl_warn("h2: stream %d: DATA frames too small for their framing; reset", st->id);
        reset(c, st, NGHTTP2_ENHANCE_YOUR_CALM);
        return 0;
    }
    lws_callback_on_writable(st->pipe);
    return 0;
}

static int cb_frame_recv(nghttp2_session *ng, const nghttp2_frame *f, void *user)
{
    (void)ng;
    fl_h2_conn_t *c = user;
    h2_stream_t *st = f->hd.stream_id ? stream_of(c, f->hd.stream_id) : NULL;
    if (!st)
        return 0;
    int end = (f->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
    if (f->hd.type == NGHTTP2_HEADERS && f->headers.cat == NGHTTP2_HCAT_REQUEST)
        return stream_start(c, st, end);
    if (end && (f->hd.type == NGHTTP2_DATA || f->hd.type == NGHTTP2_HEADERS) && !st->up_end) {
        st->up_end = 1;
        if (st->chunked && st->pipe) {
            fl_buf_append_str(&st->up, "0\r\n\r\n");
            lws_callback_on_writable(st->pipe);
        }
    }
    return 0;
}

/* A frame went out. The one that ends an answer while the client has not
 * ended its side (a refused head, an answer before the whole body):
 * RST_STREAM NO_ERROR (RFC 9113 8.1), so that the stream closes and a
 * client that sends nothing more does not hold it, and so the connection,
 * open. */
static int cb_frame_send(nghttp2_session *ng, const nghttp2_frame *f, void *user)
{
    fl_h2_conn_t *c = user;
    if ((f->hd.type == NGHTTP2_DATA || f->hd.type == NGHTTP2_HEADERS) &&
        (f->hd.flags & NGHTTP2_FLAG_END_STREAM) &&
        nghttp2_session_get_stream_remote_close(ng, f->hd.stream_id) == 0) {
        nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE, f->hd.stream_id, NGHTTP2_NO_ERROR);
        kick(c);
    }
    return 0;
}

static int cb_stream_close(nghttp2_session *ng, int32_t id, uint32_t code, void *user)
{
    (void)code;
    fl_h2_conn_t *c = user;
    h2_stream_t *st = stream_of(c, id);
    if (!st)
        return 0;
    nghttp2_session_set_stream_user_data(ng, id, NULL);
    stream_unlink(c, st);
    stream_free(st);
    if (c->n_streams == 0 && c->wsi)
        lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, (int)c->srv->cfg->idle_timeout_s);
    return 0;
}

/* ---- the connection ---- */

void fl_h2_conn_free(fl_h2_conn_t *c)
{
    if (!c)
        return;
    if (c->wsi) {
        fl_server_metrics(c->srv)->open_connections--;
        c->srv->open_connections--;
        c->wsi = NULL;
    }
    nghttp2_session_del(c->ng); /* first: it holds pointers to the streams */
    while (c->streams) {
        h2_stream_t *st = c->streams;
        c->streams = st->next;
        stream_free(st);
    }
    fl_buf_free(&c->out);
    free(c);
}

fl_h2_conn_t *fl_h2_conn_new(struct lws *wsi, fl_h2_io_t io)
{
    fl_h2_conn_t *c = calloc(1, sizeof *c);
    nghttp2_session_callbacks *cbs = NULL;
    nghttp2_option *opt = NULL;
    if (!c)
        return NULL;
    c->srv = server_of(wsi);
    c->io = io;
    fl_buf_init(&c->out, 0);
    if (nghttp2_session_callbacks_new(&cbs) != 0 || nghttp2_option_new(&opt) != 0)
        goto fail;
    nghttp2_session_callbacks_set_send_callback(cbs, cb_send);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, cb_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cbs, cb_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, cb_data);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, cb_frame_recv);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, cb_stream_close);
    nghttp2_session_callbacks_set_on_frame_send_callback(cbs, cb_frame_send);
    /* windows are given back once the bytes went on (see the top) */
    nghttp2_option_set_no_auto_window_update(opt, 1);
    if (nghttp2_session_server_new2(&c->ng, cbs, c, opt) != 0)
        goto fail;
    nghttp2_session_callbacks_del(cbs);
    nghttp2_option_del(opt);
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, FL_H2_MAX_STREAMS},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, FL_H2_STREAM_WINDOW},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, FL_H2_MAX_HEAD},
    };
    if (nghttp2_submit_settings(c->ng, NGHTTP2_FLAG_NONE, iv, sizeof iv / sizeof iv[0]) != 0 ||
        nghttp2_session_set_local_window_size(c->ng, NGHTTP2_FLAG_NONE, 0, FL_H2_CONN_WINDOW) !=
            0) {
        fl_h2_conn_free(c);
        return NULL;
    }
    /* counted from here to fl_h2_conn_free */
    c->wsi = wsi;
    fl_server_metrics(c->srv)->open_connections++;
    c->srv->open_connections++;
    lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, (int)c->srv->cfg->idle_timeout_s);
    lws_callback_on_writable(wsi); /* our SETTINGS */
    return c;
fail:
    nghttp2_session_callbacks_del(cbs);
    nghttp2_option_del(opt);
    fl_h2_conn_free(c);
    return NULL;
}

int fl_h2_conn_recv(fl_h2_conn_t *c, const uint8_t *p, size_t n)
{
    fl_server_metrics(c->srv)->bytes_received += n;
    if (nghttp2_session_mem_recv(c->ng, p, n) < 0)
        return -1;
    kick(c);
    return 0;
}

/* Frames out: one send per writeable callback. Returns -1 to close. */
int fl_h2_conn_writeable(fl_h2_conn_t *c)
{
    if (c->out.n == 0) {
        /* room for LWS_PRE, then what nghttp2 has, up to 64 KiB at a time */
        uint8_t pre[LWS_PRE];
        memset(pre, 0, sizeof pre);
        fl_buf_append(&c->out, pre, LWS_PRE);
        while (c->out.n < LWS_PRE + 65536) {
            const uint8_t *d;
            ssize_t n = nghttp2_session_mem_send(c->ng, &d);
            if (n < 0)
                return -1;
            if (n == 0)
                break;
            fl_buf_append(&c->out, d, (size_t)n);
        }
        if (c->out.err)
            return -1;
        if (c->out.n == LWS_PRE) {
            fl_buf_reset(&c->out);
            goto done;
        }
    }
    size_t n = c->out.n - LWS_PRE;
    if (c->io.send(c->io.io, c->out.p + LWS_PRE, n) != (long)n)
        return -1;
    fl_server_metrics(c->srv)->bytes_sent += n;
    fl_buf_reset(&c->out);
    if (nghttp2_session_want_write(c->ng)) {
        lws_callback_on_writable(c->wsi);
        return 0;
    }
done:
    if (!nghttp2_session_want_read(c->ng) && !nghttp2_session_want_write(c->ng))
        return -1; /* GOAWAY sent and every stream done */
    return 0;
}

/* h2c's transport: the raw socket lws reads (lws keeps what the socket
 * does not take, so it is all or nothing). */
static long raw_send(void *io, uint8_t *p, size_t n)
{
    return lws_write(io, p, n, LWS_WRITE_RAW) == (int)n ? (long)n : -1;
}

/* The first bytes of a connection lws's HTTP/1.1 parser did not take:
 * the HTTP/2 preface (or as much of it as came)? */
static int is_preface(const uint8_t *p, size_t n)
{
    if (n < 3)
        return 0;
    return memcmp(p, preface, n < PREFACE_LEN ? n : PREFACE_LEN) == 0;
}

int fl_h2_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                   size_t len)
{
    fl_h2_pss_t *ps = user;
    if (!ps)
        return 0;

    switch (reason) {
    case LWS_CALLBACK_RAW_ADOPT:
        /* a socket pair (opaque: its stream), or a fallback connection
         * whose bytes come next, in RAW_RX */
        return 0;

    case LWS_CALLBACK_RAW_RX:
        if (ps->kind == 3) {
            h2_stream_t *ps_st = lws_get_opaque_user_data(wsi);
            if (ps_st)
                pipe_rx(ps_st, in, len);
            return 0;
        }
        if (ps->kind == 0) {
            if (fl_listen_plain_on_tls(wsi) || !is_preface(in, len)) {
                ps->kind = 2;
                return fl_refuse_callback(wsi, LWS_CALLBACK_RAW_ADOPT, NULL, NULL, 0);
            }
            fl_listen_head_end(wsi, 1);
            ps->c = fl_h2_conn_new(wsi, (fl_h2_io_t){.send = raw_send, .io = wsi});
            if (!ps->c)
                return -1;
            ps->kind = 1;
        }
        if (ps->kind == 2)
            return 0; /* refused: not read any further */
        return fl_h2_conn_recv(ps->c, in, len);

    case LWS_CALLBACK_RAW_WRITEABLE:
        if (ps->kind == 3) {
            h2_stream_t *ps_st = lws_get_opaque_user_data(wsi);
            return ps_st ? pipe_writeable(ps_st) : -1;
        }
        if (ps->kind == 2)
            return fl_refuse_callback(wsi, reason, NULL, in, len);
        if (ps->kind == 1)
            return fl_h2_conn_writeable(ps->c);
        return 0;

    case LWS_CALLBACK_RAW_CLOSE:
        if (ps->kind == 3) {
            h2_stream_t *ps_st = lws_get_opaque_user_data(wsi);
            if (ps_st)
                pipe_closed(ps_st);
        } else if (ps->kind == 1) {
            fl_h2_conn_free(ps->c);
            ps->c = NULL;
            ps->kind = 0;
        }
        return 0;

    default:
        return 0;
    }
}
