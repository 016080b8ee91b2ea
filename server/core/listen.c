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
 * - TLS listeners take plain bytes too (lws looks at the first byte), so
 *   that plain HTTP sent to a TLS port is answered 400 with a reason
 *   (http.c asks fl_listen_plain_on_tls) rather than reset; nothing else
 *   is served in plain text there.
 */
#include "server/core/listen.h"

#include <stdio.h>
#include <string.h>

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

static char in_head, head_done; /* marks: only their addresses matter */

void fl_listen_head_begin(struct lws *wsi)
{
    struct fl_server *s = lws_context_user(lws_get_context(wsi));
    lws_set_opaque_user_data(wsi, &in_head);
    fl_limits_head_add(s->limits, 1);
}

void fl_listen_head_end(struct lws *wsi, int completed)
{
    struct fl_server *s = lws_context_user(lws_get_context(wsi));
    if (lws_get_opaque_user_data(wsi) != &in_head)
        return;
    lws_set_opaque_user_data(wsi, &head_done);
    fl_limits_head_add(s->limits, -1);
    if (!completed && !atomic_load(&s->stop))
        fl_limits_hit(s->limits, FL_LIMIT_HEADER_UNFINISHED,
                      "closed a connection that did not send a whole request head (slow, "
                      "idle, too large or gone; --header-timeout %ld s)",
                      s->cfg->header_timeout_s);
}

int fl_listen_plain_on_tls(struct lws *wsi)
{
    struct fl_server *s = lws_context_user(lws_get_context(wsi));
    return s->cfg->tls_cert && !lws_is_ssl(wsi);
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
