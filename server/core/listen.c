/*
 * server/core/listen.c — what every listener applies before HTTP starts.
 *
 * - Heads: libwebsockets keeps a request head in a header buffer ("ah")
 *   from a pool. The pool is as large as --max-connections, so connections
 *   that are slow to send their heads never make a new request wait for a
 *   buffer (with a pool of 1,024, 1,024 such clients held every new
 *   request, /healthz included, for seconds). A head has --header-timeout
 *   seconds from its first byte to be complete (lws's "ah idle" timeout,
 *   which runs from when the buffer is taken and is not renewed by more
 *   bytes: a client trickling a byte a second is closed all the same).
 * - Idle: a kept-alive connection idle between requests --idle-timeout
 *   seconds is closed.
 * - Not HTTP/1.1: a connection whose first line is not an HTTP request is
 *   handed (lws's "fallback" to a raw socket) to h2.c, which serves it as
 *   HTTP/2 when it opens with the h2c preface and otherwise passes it to
 *   fl_refuse_callback, which answers a plain 400 and closes, instead of
 *   lws's HTML 403.
 * - TLS listeners: h2tls.c looks at each connection's first bytes before
 *   lws does and keeps the TLS clients that offer ALPN h2; the rest reach
 *   lws, which takes plain bytes too (it looks at the first byte), so
 *   that plain HTTP sent to a TLS port is answered 400 with a reason
 *   (http.c asks fl_listen_plain_on_tls) rather than reset; nothing else
 *   is served in plain text there. The streams of an HTTP/2 connection
 *   over TLS reach http.c over AF_UNIX socket pairs (h2.c), which
 *   fl_listen_secure counts as TLS.
 * - Heads lws's parser refuses (past its FL_LIMIT_HEADER_BUFFER buffer, or
 *   a malformed request line such as a URL holding %00) never reach a
 *   callback: lws 4.1.6 shuts the socket (SHUT_WR) before it says
 *   LWS_CALLBACK_CLOSED_HTTP, so nothing can be written there. The one
 *   moment before that shutdown that names the connection is lws's own
 *   info line "__lws_close_free_wsi: <wsi>: caller: lws_read_h1 bail"
 *   (preceded, for an overflow, by the warning "Ran out of header data
 *   space"). So while a connection of this process is in its head, lws's
 *   info level is on (fl_listen_lws_line filters every such line away);
 *   on a bail of a connection still in its first head, the answer (431
 *   RequestHeaderFieldsTooLarge or 400 BadRequestException) is written to
 *   its socket (SSL_write over TLS) before lws shuts it. The wsi named in
 *   a log line is only used when it is in this thread's set of
 *   connections in their head (lws formats lines in one static buffer that
 *   several loops share, so a line may be garbled); an answered connection
 *   is closed should its head ever complete. Closes for other reasons
 *   (timeout, peer gone) are not this caller and stay unanswered.
 */
#include "server/core/listen.h"

#include <openssl/ssl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "server/core/http.h"
#include "server/core/module.h"
#include "server/core/server_internal.h"
#include "server/core/tls.h"

int fl_server_has_access_keys(const fl_server_t *s)
{
    /* access keys are server/auth's: a server has them when its access
     * check refuses a request that carries none (the modules are inited) */
    fl_principal_t anon;
    const char *why = NULL;
    memset(&anon, 0, sizeof anon);
    return fl_server_access(s, &anon, "*", "*", &why) != 0;
}

void fl_limits_info(const fl_config_t *cfg, struct lws_context_creation_info *info)
{
    info->max_http_header_pool = 0; /* then lws takes the wider field */
    info->max_http_header_pool2 = (unsigned)cfg->max_connections + 16;
    info->max_http_header_data = FL_LIMIT_HEADER_BUFFER;
}

void fl_limits_vhost_info(const fl_config_t *cfg, struct lws_context_creation_info *vi)
{
    vi->keepalive_timeout = (int)cfg->idle_timeout_s;
    vi->timeout_secs_ah_idle = (unsigned)cfg->header_timeout_s;
    vi->options |= LWS_SERVER_OPTION_FALLBACK_TO_APPLY_LISTEN_ACCEPT_CONFIG;
    vi->listen_accept_role = "raw-skt";
    vi->listen_accept_protocol = "fl-h2"; /* h2.c: HTTP/2, else fl-refuse */
    if (cfg->tls_cert) {
        fl_tls_vhost_info(vi);
        vi->options |= LWS_SERVER_OPTION_ALLOW_NON_SSL_ON_SSL_PORT;
    }
}

static char in_head, head_done, head_answered; /* marks: only their addresses matter */

/* This thread's connections in their first head (each loop is a thread):
 * the wsis a log line may name. Freed when empty. */
static __thread struct lws **t_heads;
static __thread size_t t_nheads, t_capheads;
/* lws said "Ran out of header data space" on this thread: the next bail
 * is that head's */
static __thread int t_overflow;

/* lws's log level: the server's, plus LLL_INFO while any connection of the
 * process is in its head (process-wide, as lws's level is) */
static pthread_mutex_t lvl_mu = PTHREAD_MUTEX_INITIALIZER;
static int lvl_base = LLL_ERR | LLL_WARN, lvl_heads;
static void (*lvl_emit)(int level, const char *line);

void fl_listen_lws_log(int level, void (*emit)(int level, const char *line))
{
    pthread_mutex_lock(&lvl_mu);
    lvl_base = level;
    lvl_emit = emit;
    lws_set_log_level(lvl_heads ? level | LLL_INFO : level, emit);
    pthread_mutex_unlock(&lvl_mu);
}

static void heads_count(int d)
{
    pthread_mutex_lock(&lvl_mu);
    int was = lvl_heads;
    lvl_heads += d;
    if (!was != !lvl_heads)
        lws_set_log_level(lvl_heads ? lvl_base | LLL_INFO : lvl_base, lvl_emit);
    pthread_mutex_unlock(&lvl_mu);
}

static void heads_add(struct lws *wsi)
{
    if (t_nheads == t_capheads) {
        size_t nc = t_capheads ? t_capheads * 2 : 64;
        struct lws **v = realloc(t_heads, nc * sizeof *v);
        if (!v)
            return; /* not answerable: closed unanswered, as before */
        t_heads = v;
        t_capheads = nc;
    }
    t_heads[t_nheads++] = wsi;
    heads_count(1);
}

static void heads_remove(struct lws *wsi)
{
    for (size_t i = t_nheads; i-- > 0;) {
        if (t_heads[i] != wsi)
            continue;
        t_heads[i] = t_heads[--t_nheads];
        heads_count(-1);
        break;
    }
    if (!t_nheads) {
        free(t_heads);
        t_heads = NULL;
        t_capheads = 0;
    }
}

void fl_listen_head_begin(struct lws *wsi)
{
    struct fl_server *s = lws_context_user(lws_get_context(wsi));
    lws_set_opaque_user_data(wsi, &in_head);
    fl_limits_head_add(s->limits, 1);
    heads_add(wsi);
}

void fl_listen_head_end(struct lws *wsi, int completed)
{
    struct fl_server *s = lws_context_user(lws_get_context(wsi));
    if (lws_get_opaque_user_data(wsi) != &in_head)
        return;
    lws_set_opaque_user_data(wsi, &head_done);
    heads_remove(wsi);
    fl_limits_head_add(s->limits, -1);
    if (!completed && !atomic_load(&s->stop))
        fl_limits_hit(s->limits, FL_LIMIT_HEADER_UNFINISHED,
                      "closed a connection that did not send a whole request head (slow, "
                      "idle or gone; --header-timeout %ld s)",
                      s->cfg->header_timeout_s);
}

int fl_listen_head_answered(struct lws *wsi)
{
    return lws_get_opaque_user_data(wsi) == &head_answered;
}

/* lws refuses wsi's first head and is about to shut its socket: answer
 * 431 (overflow) or 400 first, unless the peer is gone or we stop. */
static void answer_refused_head(struct lws *wsi, int overflow)
{
    struct fl_server *s = lws_context_user(lws_get_context(wsi));
    int fd = lws_get_socket_fd(wsi);
    char c;
    if (atomic_load(&s->stop) || fd < 0 || recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0)
        return;                 /* stopping, or the peer is gone: header_unfinished */
    fl_listen_head_end(wsi, 1); /* answered, not unfinished */
    lws_set_opaque_user_data(wsi, &head_answered);
    const char *type, *status, *msg;
    char overflow_msg[96];
    if (overflow) {
        type = "RequestHeaderFieldsTooLarge";
        status = "431 Request Header Fields Too Large";
        snprintf(overflow_msg, sizeof overflow_msg,
                 "the request head does not fit the server's %d-byte head buffer",
                 FL_LIMIT_HEADER_BUFFER);
        msg = overflow_msg;
        fl_limits_hit(s->limits, FL_LIMIT_HEADER_TOO_LARGE,
                      "answered 431 to a request head past the %d-byte head buffer",
                      FL_LIMIT_HEADER_BUFFER);
    } else {
        type = "BadRequestException";
        status = "400 Bad Request";
        msg = "the request head is not valid HTTP/1.1 (a malformed request line or header, or "
              "a URL holding %00)";
        fl_limits_hit(s->limits, FL_LIMIT_BAD_REQUEST,
                      "answered 400 to a request head the HTTP parser refused");
    }
    fl_buf_t body;
    fl_buf_init(&body, 0);
    fl_http_error_body(&body, type, msg);
    char resp[640];
    int n = snprintf(resp, sizeof resp,
                     "HTTP/1.1 %s\r\n"
                     "Content-Type: application/json\r\n"
                     "x-amzn-ErrorType: %s\r\n"
                     "Content-Length: %zu\r\n"
                     "Connection: close\r\n"
                     "\r\n%.*s",
                     status, type, body.n, (int)body.n, (const char *)body.p);
    fl_buf_free(&body);
    long w;
    SSL *ssl = lws_is_ssl(wsi) ? lws_get_ssl(wsi) : NULL;
    w = ssl ? SSL_write(ssl, resp, n) : send(fd, resp, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
    /* what is still unread would make the close a reset, which can take
     * the answer with it: read a bounded amount away */
    char sink[4096];
    for (int i = 0; i < 64; i++)
        if ((ssl ? SSL_read(ssl, sink, sizeof sink) : recv(fd, sink, sizeof sink, MSG_DONTWAIT)) <=
            0)
            break;
    if (w > 0)
        fl_server_metrics(s)->bytes_sent += (uint64_t)w;
}

int fl_listen_lws_line(int level, const char *line)
{
    if (strstr(line, "Ran out of header data space")) {
        t_overflow = 1; /* answered 431 and counted, or counted unfinished */
        return 1;
    }
    if (level != LLL_INFO)
        return 0;
    const char *k = strstr(line, "__lws_close_free_wsi: ");
    if (k && strstr(line, ": caller: ")) {
        void *p = NULL;
        int overflow = t_overflow;
        t_overflow = 0;
        if (strstr(line, ": caller: lws_read_h1 bail") &&
            sscanf(k + strlen("__lws_close_free_wsi: "), "%p", &p) == 1)
            for (size_t i = 0; i < t_nheads; i++)
                if (t_heads[i] == p && lws_get_opaque_user_data(p) == &in_head) {
                    answer_refused_head(p, overflow);
                    break;
                }
    }
    return 1; /* lws's info lines are ours only to read */
}

int fl_listen_secure(struct lws *wsi)
{
    struct fl_server *s = lws_context_user(lws_get_context(wsi));
    if (lws_is_ssl(wsi))
        return 1;
    if (!s->cfg->tls_cert)
        return 0;
    /* a stream of an HTTP/2 connection reaches the HTTP/1.1 code over an
     * AF_UNIX socket pair (h2.c); on a TLS server its connection is TLS
     * (h2tls.c), since h2c is refused there: no listener accepts AF_UNIX */
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    int fd = lws_get_socket_fd(wsi);
    return fd >= 0 && getsockname(fd, (struct sockaddr *)&ss, &sl) == 0 && ss.ss_family == AF_UNIX;
}

int fl_listen_plain_on_tls(struct lws *wsi)
{
    struct fl_server *s = lws_context_user(lws_get_context(wsi));
    return s->cfg->tls_cert && !fl_listen_secure(wsi);
}

int fl_refuse_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                       size_t len)
{
    struct fl_server *s = lws_context_user(lws_get_context(wsi));
    (void)user;
    (void)in;
    (void)len;
    switch (reason) {
    case LWS_CALLBACK_RAW_ADOPT:
        fl_listen_head_end(wsi, 1); /* answered, not unfinished */
        fl_limits_hit(s->limits, FL_LIMIT_BAD_REQUEST,
                      "answered 400 to a connection whose first bytes are not an HTTP request");
        lws_callback_on_writable(wsi);
        return 0;
    case LWS_CALLBACK_RAW_WRITEABLE: {
        /* on a TLS port, plain bytes are most likely http:// for https:// */
        const char *why = s->cfg->tls_cert ? "this port speaks TLS: use https:// (and wss://)\n"
                                           : "not an HTTP/1.1 request\n";
        char resp[256];
        int n = snprintf(resp, sizeof resp,
                         "HTTP/1.1 400 Bad Request\r\n"
                         "Content-Type: text/plain\r\n"
                         "Content-Length: %zu\r\n"
                         "Connection: close\r\n"
                         "\r\n%s",
                         strlen(why), why);
        uint8_t buf[LWS_PRE + sizeof resp];
        memcpy(buf + LWS_PRE, resp, (size_t)n);
        if (lws_write(wsi, buf + LWS_PRE, (size_t)n, LWS_WRITE_RAW) > 0)
            fl_server_metrics(s)->bytes_sent += (uint64_t)n;
        return -1; /* answered: close */
    }
    default:
        return 0; /* RAW_RX: the bytes are not read any further */
    }
}
