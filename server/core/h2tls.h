/*
 * server/core/h2tls.h — HTTP/2 on the TLS listeners: every connection a
 * TLS listener accepts is looked at before any TLS library reads it; one
 * whose ClientHello offers ALPN "h2" is served over framelogd's own TLS by
 * h2.c's HTTP/2 connection, any other goes to libwebsockets untouched
 * (HTTP/1.1, WebSocket, plain bytes answered 400). See h2tls.c and
 * docs/ARCHITECTURE.md ("HTTP/2").
 */
#ifndef FL_SERVER_CORE_H2TLS_H
#define FL_SERVER_CORE_H2TLS_H

#include <libwebsockets.h>

struct fl_loop;

/* A connection accepted on a TLS listener of loop l (fd: nonblocking,
 * already let in by fl_limits_accept), for vhost vh. From here fd is
 * h2tls.c's (closed on failure); the caller's loop thread only. */
void fl_h2tls_accept(struct fl_loop *l, struct lws_vhost *vh, int fd);

/* The raw-file protocol "fl-tls" such a connection is watched with. */
int fl_h2tls_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                      size_t len);

#endif
