/*
 * server/core/h2.h — HTTP/2 beside HTTP/1.1, carried by nghttp2:
 * prior-knowledge h2c on every plain listener (what the AWS SDK for
 * JavaScript v3 speaks to an http:// endpoint), and ALPN "h2" on TLS
 * listeners (its https://), where h2tls.c carries the TLS and hands the
 * bytes to the same connection code (fl_h2_conn_*). See h2.c and
 * docs/ARCHITECTURE.md ("HTTP/2").
 */
#ifndef FL_SERVER_CORE_H2_H
#define FL_SERVER_CORE_H2_H

#include <libwebsockets.h>
#include <stddef.h>
#include <stdint.h>

#include "common/bytes.h"

/* Streams one HTTP/2 connection may have open at once (SETTINGS). */
#define FL_H2_MAX_STREAMS 32
/* Flow-control windows we give the client: per stream, and the whole
 * connection. They bound the request bytes held per stream and per
 * connection before the HTTP/1.1 side takes them. */
#define FL_H2_STREAM_WINDOW (1 << 20)
#define FL_H2_CONN_WINDOW   (8 << 20)
/* Response bytes held for a slow client before the server side of the
 * stream is paused. */
#define FL_H2_DOWN_PAUSE (1 << 20)
/* A request's header fields (names and values, as forwarded), and the
 * response head read back: the same bound as lws's header buffer. */
#define FL_H2_MAX_HEAD 16384
#define FL_H2_MAX_PATH 4096
/* Chunk framing (of a body without content-length) held for a stream's
 * socket pair beyond its DATA bytes: past it, the stream is reset. */
#define FL_H2_MAX_FRAMING 65536
/* Header fields in one response. */
#define FL_H2_MAX_FIELDS 48

/* The raw protocol "fl-h2": the listeners' fallback for connections whose
 * first bytes are not an HTTP/1.1 request. The HTTP/2 connection preface
 * makes it an HTTP/2 connection; anything else goes on to
 * fl_refuse_callback (a plain 400). It also carries h2.c's own ends of the
 * per-stream socket pairs. */
int fl_h2_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                   size_t len);

/* One HTTP/2 connection (nghttp2's server session and its streams). */
typedef struct fl_h2_conn fl_h2_conn_t;

/* How a connection's frames reach the client: the transport under it
 * (the raw socket for h2c; h2tls.c's TLS). send() gets bytes with LWS_PRE
 * bytes free before p, at most one call per writeable callback of the
 * connection's wsi, and takes them all (n; lws keeps what the socket does
 * not take yet) or returns -1 to close. */
typedef struct {
    long (*send)(void *io, uint8_t *p, size_t n);
    void *io;
} fl_h2_io_t;

/* A new HTTP/2 connection on wsi (its writeable callback is the
 * connection's, and its idle timeout is set here), counted in the open
 * connections. It sends its SETTINGS at the first writeable. NULL when out
 * of memory. */
fl_h2_conn_t *fl_h2_conn_new(struct lws *wsi, fl_h2_io_t io);
/* Bytes from the client (plain: decrypted already). 0, or -1 to close. */
int fl_h2_conn_recv(fl_h2_conn_t *c, const uint8_t *p, size_t n);
/* wsi is writeable: send what nghttp2 has. 0, or -1 to close. */
int fl_h2_conn_writeable(fl_h2_conn_t *c);
/* The connection closed: free it and its streams (their socket pairs
 * close), uncount it. NULL is fine. */
void fl_h2_conn_free(fl_h2_conn_t *c);

/* Its per-session data. */
typedef struct {
    int kind; /* 0 undecided, 1 an HTTP/2 connection, 2 refused, 3 a socket pair */
    fl_h2_conn_t *c;
} fl_h2_pss_t;

/* An HTTP/1.1 response head ("HTTP/1.1 200 OK\r\nName: value\r\n...\r\n\r\n",
 * the server's own answer read back over a stream's socket pair), parsed:
 * the status and up to FL_H2_MAX_FIELDS fields as slices into head. */
typedef struct {
    int status;
    size_t n;
    fl_slice_t name[FL_H2_MAX_FIELDS];
    fl_slice_t value[FL_H2_MAX_FIELDS];
} fl_h2_head_t;

/* Find the end of a head in p (the "\r\n\r\n"): its length with the blank
 * line, 0 when not complete yet, or FL_ELIMIT past FL_H2_MAX_HEAD. */
long fl_h2_head_end(fl_slice_t p);
/* Parse a complete head (fl_h2_head_end's length): 0, or FL_EINVAL for a
 * malformed one, FL_ELIMIT for too many fields. */
int fl_h2_head_parse(fl_slice_t head, fl_h2_head_t *out);

#endif
