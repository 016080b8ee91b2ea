/*
 * server/core/clienthello.h — what a TLS client offers in its ClientHello,
 * read from the first bytes of a connection before any TLS library sees
 * them: is it TLS at all, and does its ALPN list offer "h2" (h2tls.c
 * takes those connections; the rest go to libwebsockets untouched). See
 * clienthello.c for the layout read and the limits.
 */
#ifndef FL_SERVER_CORE_CLIENTHELLO_H
#define FL_SERVER_CORE_CLIENTHELLO_H

#include <stddef.h>

#include "common/bytes.h"

/* The bytes of a connection looked at: one TLS record (5-byte header and
 * at most 2^14 bytes, RFC 8446 5.1). A ClientHello that does not end
 * within them is not looked at (the connection goes to libwebsockets). */
#define FL_CLIENTHELLO_MAX (5 + 16384)

/* What the ClientHello offers. */
typedef struct {
    int alpn;   /* it has an ALPN extension */
    int h2;     /* ... that offers "h2" */
    int http11; /* ... that offers "http/1.1" */
    size_t len; /* the bytes of the records that hold it (from the first) */
} fl_clienthello_t;

/* Look at the first bytes of a connection (in: all that has arrived, not
 * consumed). Returns
 *   0 — a whole ClientHello, *out filled;
 *   n > 0 — not complete: at least n bytes are needed (n > in.n, and
 *           n <= FL_CLIENTHELLO_MAX);
 *   FL_EMALFORMED — not a TLS handshake, or a malformed ClientHello;
 *   FL_ELIMIT — a ClientHello that does not end within
 *               FL_CLIENTHELLO_MAX bytes.
 * Never reads past in. */
long fl_clienthello_scan(fl_slice_t in, fl_clienthello_t *out);

#endif
