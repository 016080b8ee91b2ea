/*
 * server/core/listen.h — what every listener applies before HTTP starts:
 * the header and idle timeouts, the header buffer, the TLS policy, and an
 * answer for bytes that are not HTTP (or plain HTTP on a TLS port). See
 * listen.c.
 */
#ifndef FL_SERVER_CORE_LISTEN_H
#define FL_SERVER_CORE_LISTEN_H

#include <libwebsockets.h>

#include "server/core/config.h"

/* The context's share: header buffers (pool and size). */
void fl_limits_info(const fl_config_t *cfg, struct lws_context_creation_info *info);
/* Each listener's share: timeouts, TLS policy, fallback for non-HTTP. */
void fl_limits_vhost_info(const fl_config_t *cfg, struct lws_context_creation_info *vi);

/* The raw protocol "fl-refuse": a connection whose first bytes are not an
 * HTTP request gets a plain 400 and is closed. */
int fl_refuse_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                       size_t len);

/* Connections in their head (accepted, no whole request head yet), counted
 * in fl_limits_heads() for --max-connections (lws binds the HTTP protocol,
 * where open connections are counted, only once a head is complete):
 * begin at accept; end once, when the head is complete (completed 1) or
 * the connection closes before (0: counted as header_unfinished). The
 * mark lives in the wsi's opaque user data, which outlives protocol
 * changes. */
void fl_listen_head_begin(struct lws *wsi);
void fl_listen_head_end(struct lws *wsi, int completed);

/* A head lws refused and framelogd answered (431 or 400): the connection
 * is closed should lws ever complete it. */
int fl_listen_head_answered(struct lws *wsi);

/* lws's log level and emitter (lws_set_log_level): level, plus lws's info
 * lines while connections are in their heads (listen.c). */
void fl_listen_lws_log(int level, void (*emit)(int level, const char *line));
/* Every lws log line first: 1 when it is not to be logged (lws's info
 * lines, read for heads lws refuses). */
int fl_listen_lws_line(int level, const char *line);

/* A request that came over TLS: lws's, or a stream of an HTTP/2 over TLS
 * connection (h2tls.c, through h2.c's socket pair): 1 if so. */
int fl_listen_secure(struct lws *wsi);
/* A request that came in plain on a TLS listener (lws lets it through to
 * answer it): 1 if so. */
int fl_listen_plain_on_tls(struct lws *wsi);

#endif
