/*
 * server/core/h2tls.c — HTTP/2 (ALPN "h2") on the TLS listeners.
 *
 * Why not libwebsockets' TLS for it: lws 4.1.6 turns a TLS connection
 * whose ALPN is "h2" over to its own HTTP/2 role, whose uploads break past
 * about 200 kB (docs/ARCHITECTURE.md, "HTTP/2"); its listeners therefore
 * advertise "http/1.1" only. So a connection that wants h2 must never
 * reach lws's TLS: framelogd looks at the ClientHello first and keeps
 * those connections for itself.
 *
 * The path of a connection accepted on a TLS listener (server.c accepts
 * on its own listen sockets for TLS listeners, with one loop as with
 * several, and counts it through fl_limits_accept):
 *
 *   HELLO      the socket is watched (a dup of it, adopted by lws as a
 *              raw file: lws only polls it, we read) and its first bytes
 *              are peeked (recv MSG_PEEK: nothing is consumed) until the
 *              ClientHello is whole (clienthello.c). So that a slow
 *              client costs no wake-ups, SO_RCVLOWAT is set to the bytes
 *              still missing: the kernel reports the socket readable only
 *              once they are all there (or the peer closed). A wake-up
 *              that brings nothing new (the kernel may report readable
 *              early under memory pressure) pauses the watch for
 *              FL_H2TLS_RETRY_MS, so the loop never spins on a socket.
 *   -> lws     the ClientHello does not offer "h2", or the bytes are not
 *              a TLS handshake at all (plain HTTP on a TLS port), or they
 *              are not a ClientHello this reader takes: SO_RCVLOWAT goes
 *              back to 1 and the untouched socket is adopted by lws
 *              (LWS_ADOPT_SOCKET | LWS_ADOPT_HTTP | LWS_ADOPT_ALLOW_SSL)
 *              exactly as lws's own listener would: HTTP/1.1, WebSocket,
 *              the refused-head answers of listen.c, timeouts and counts
 *              are what they were.
 *   HANDSHAKE  it offers "h2": the watch ends and lws adopts the socket
 *              as a raw socket of this protocol (lws reads and writes it,
 *              as it does h2c's: lws_write keeps what the socket did not
 *              take, and says when it is writeable again). The TLS is an
 *              SSL of the loop's h2 SSL_CTX (tls.c: the listeners' policy,
 *              certificate and key; made anew on SIGHUP) between two
 *              memory BIOs: what lws reads goes in, what OpenSSL writes
 *              goes out with lws_write. Its ALPN selects "h2".
 *   H2         handshake done: an h2.c connection (fl_h2_conn_new) over
 *              this transport: decrypted bytes go to fl_h2_conn_recv,
 *              frames come back through tls_send (SSL_write, then one
 *              lws_write of the records).
 *
 * Why a raw file first and a raw socket after: lws reads a raw socket
 * itself (the bytes are consumed), so the ClientHello could not go to lws
 * untouched; and lws 4.1.6's raw-file role clears POLLOUT after the
 * writeable callback, so a writeable asked for from inside it is lost
 * (measured: a response stalled after its first records), which a TLS
 * writer needs. So the raw file only peeks, and the raw socket does the
 * I/O.
 *
 * Invariants and limits:
 * - Loop thread only. The connection's state is the wsi's opaque user
 *   data (tconn_t), moved from the watch to the raw socket; lws closes
 *   the dup the watch polls, and the socket once it adopted it (fd = -1
 *   from then); before that, fd is ours to close.
 * - From accept until the handshake is done (or the socket went to lws,
 *   which then counts its own head), the connection counts as a head in
 *   fl_limits_heads (--max-connections), and has --header-timeout seconds
 *   for its ClientHello and handshake; closed before, it counts as
 *   header_unfinished, as lws counts its own.
 * - Only the first FL_CLIENTHELLO_MAX bytes are ever peeked, into one
 *   buffer per loop thread: no memory per waiting connection beyond
 *   tconn_t.
 * - Once HTTP/2, the connection is h2.c's: its streams, windows and idle
 *   timeout, counted in the open connections. What one read brings (lws
 *   reads at most its 64 KiB service buffer) is decrypted at once, so the
 *   read BIO never holds more than that and a part of a record; the write
 *   BIO is emptied into one lws_write per writeable.
 */
#include "server/core/h2tls.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/diag.h"
#include "server/core/clienthello.h"
#include "server/core/h2.h"
#include "server/core/server_internal.h"

/* A wake-up that brought no new byte of the ClientHello pauses the watch
 * this long. */
#define FL_H2TLS_RETRY_MS 20

typedef enum { ST_HELLO, ST_HANDSHAKE, ST_H2 } tstate_t;

typedef struct {
    lws_sorted_usec_list_t sul; /* HELLO: resume the watch */
    struct fl_server *s;
    struct lws *wsi; /* HELLO: the raw-file watch on a dup of fd; then the raw socket */
    int fd;          /* HELLO: the socket, ours; -1 once lws adopted it */
    tstate_t st;
    int in_head;         /* counted in fl_limits_heads */
    int64_t accepted_ns; /* --header-timeout runs from here */
    size_t got;          /* HELLO: bytes peeked at the last look */
    SSL *ssl;            /* HANDSHAKE, H2: between rbio and wbio */
    BIO *rbio, *wbio;    /* owned by ssl */
    int failed;          /* the handshake was refused: its alert goes, then close */
    uint8_t *tx;         /* LWS_PRE + the records for one lws_write */
    size_t txcap;
    fl_h2_conn_t *h2; /* H2 */
} tconn_t;

static void head_end(tconn_t *c, int completed)
{
    if (!c->in_head)
        return;
    c->in_head = 0;
    fl_limits_head_add(c->s->limits, -1);
    if (!completed && !atomic_load(&c->s->stop))
        fl_limits_hit(c->s->limits, FL_LIMIT_HEADER_UNFINISHED,
                      "closed a TLS connection that did not complete its ClientHello and "
                      "handshake (slow, idle, refused or gone; --header-timeout %ld s)",
                      c->s->cfg->header_timeout_s);
}

static void set_lowat(int fd, size_t n)
{
    int v = (int)n;
    setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &v, sizeof v); /* best effort: see the top */
}

/* What is left of --header-timeout since accept, in whole seconds (>= 1). */
static int head_secs_left(const tconn_t *c)
{
    int64_t left =
        c->s->cfg->header_timeout_s * 1000000000LL - (fl_time_mono_ns() - c->accepted_ns);
    return left < 1000000000LL ? 1 : (int)(left / 1000000000LL);
}

static void tconn_free(tconn_t *c)
{
    lws_sul_cancel(&c->sul);
    head_end(c, 0);
    fl_h2_conn_free(c->h2);
    SSL_free(c->ssl); /* and its BIOs */
    ERR_clear_error();
    if (c->fd >= 0)
        close(c->fd);
    free(c->tx);
    free(c);
}

void fl_h2tls_accept(struct fl_loop *l, struct lws_vhost *vh, int fd)
{
    tconn_t *c = calloc(1, sizeof *c);
    int pfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (!c || pfd < 0) {
        fl_warn("h2tls: cannot watch a new connection: out of memory or descriptors");
        if (pfd >= 0)
            close(pfd);
        close(fd);
        free(c);
        return;
    }
    c->s = l->s;
    c->fd = fd;
    c->st = ST_HELLO;
    c->in_head = 1;
    c->accepted_ns = fl_time_mono_ns();
    fl_limits_head_add(c->s->limits, 1);
    set_lowat(fd, 5); /* a record header first */
    lws_adopt_desc_t ad;
    memset(&ad, 0, sizeof ad);
    ad.vh = vh;
    ad.type = LWS_ADOPT_RAW_FILE_DESC;
    ad.fd.filefd = pfd;
    ad.vh_prot_name = "fl-tls";
    ad.opaque = c;
    c->wsi = lws_adopt_descriptor_vhost_via_info(&ad);
    if (!c->wsi) {
        fl_warn("h2tls: cannot watch a new connection on loop %d", l->index);
        close(pfd);
        head_end(c, 1);
        tconn_free(c);
        return;
    }
    lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, (int)c->s->cfg->header_timeout_s);
}

/* ---- HELLO ---- */

static void resume_watch(lws_sorted_usec_list_t *sul)
{
    tconn_t *c = lws_container_of(sul, tconn_t, sul);
    lws_rx_flow_control(c->wsi, 1);
}

/* Not TLS with h2: the untouched socket goes to lws, as its own listener
 * would give it. Returns -1: the watch ends. */
static int hand_to_lws(tconn_t *c)
{
    set_lowat(c->fd, 1);
    head_end(c, 1); /* lws counts its own head from its adoption on */
    lws_sock_file_fd_type d;
    d.sockfd = c->fd;
    c->fd = -1;
    if (!lws_adopt_descriptor_vhost(lws_get_vhost(c->wsi),
                                    LWS_ADOPT_SOCKET | LWS_ADOPT_HTTP | LWS_ADOPT_ALLOW_SSL, d,
                                    NULL, NULL))
        fl_warn("h2tls: libwebsockets did not adopt a TLS connection"); /* it closed it */
    return -1;
}

/* It offers h2: our TLS, on a raw socket lws reads and writes. Returns
 * -1: the watch ends (the connection goes on as the raw socket's). */
static int start_tls(tconn_t *c)
{
    SSL_CTX *ctx = fl_server_this_loop(c->s)->tls_h2;
    set_lowat(c->fd, 1);
    c->ssl = ctx ? SSL_new(ctx) : NULL;
    c->rbio = BIO_new(BIO_s_mem());
    c->wbio = BIO_new(BIO_s_mem());
    if (!c->ssl || !c->rbio || !c->wbio) {
        BIO_free(c->rbio);
        BIO_free(c->wbio);
        c->rbio = c->wbio = NULL;
        fl_warn("h2tls: cannot start TLS: out of memory");
        return -1; /* the watch's close frees c */
    }
    BIO_set_mem_eof_return(c->rbio, -1); /* empty: "want read", not EOF */
    SSL_set_bio(c->ssl, c->rbio, c->wbio);
    SSL_set_accept_state(c->ssl);
    c->st = ST_HANDSHAKE;

    struct lws *watch = c->wsi;
    lws_adopt_desc_t ad;
    memset(&ad, 0, sizeof ad);
    ad.vh = lws_get_vhost(watch);
    ad.type = LWS_ADOPT_SOCKET; /* raw: lws's TLS never sees it */
    ad.fd.sockfd = c->fd;
    ad.vh_prot_name = "fl-tls";
    ad.opaque = NULL; /* c is the new wsi's once adopted: a failed adoption
                       * may still close it, and c must not be freed twice */
    int fd = c->fd;
    c->fd = -1; /* lws's from here, closed by lws if it fails */
    c->wsi = lws_adopt_descriptor_vhost_via_info(&ad);
    if (!c->wsi) {
        fl_warn("h2tls: cannot adopt a TLS connection (fd %d)", fd);
        c->wsi = watch; /* the watch's close frees c */
        return -1;
    }
    lws_set_opaque_user_data(c->wsi, c);
    lws_set_opaque_user_data(watch, NULL);
    lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, head_secs_left(c));
    return -1;
}

static int hello_rx(tconn_t *c)
{
    static __thread uint8_t peek[FL_CLIENTHELLO_MAX];
    ssize_t got = recv(c->fd, peek, sizeof peek, MSG_PEEK | MSG_DONTWAIT);
    if (got == 0)
        return -1; /* gone before its ClientHello */
    if (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
        return -1;
    if (got < 0 || (size_t)got <= c->got) {
        /* woken with nothing new: a client that has shut its side down
         * can never finish its hello (and would wake us until the header
         * timeout); else pause, never spin */
        struct pollfd pf = {.fd = c->fd, .events = POLLRDHUP};
        if (poll(&pf, 1, 0) == 1 && (pf.revents & (POLLRDHUP | POLLHUP | POLLERR)))
            return -1;
        lws_rx_flow_control(c->wsi, 0);
        lws_sul_schedule(lws_get_context(c->wsi), 0, &c->sul, resume_watch,
                         FL_H2TLS_RETRY_MS * LWS_US_PER_MS);
        return 0;
    }
    c->got = (size_t)got;
    fl_clienthello_t ch;
    long need = fl_clienthello_scan(fl_slice(peek, (size_t)got), &ch);
    if (need > 0) {
        set_lowat(c->fd, (size_t)need); /* woken once that much is there */
        return 0;
    }
    if (need == 0 && ch.h2)
        return start_tls(c);
    return hand_to_lws(c);
}

/* ---- HANDSHAKE and H2 ---- */

/* What OpenSSL wrote goes out: one lws_write (lws keeps what the socket
 * does not take). 0, or -1 to close. */
static int flush(tconn_t *c)
{
    size_t n = BIO_ctrl_pending(c->wbio);
    if (n == 0)
        return 0;
    if (n > INT_MAX - LWS_PRE)
        return -1;
    if (LWS_PRE + n > c->txcap) {
        uint8_t *p = realloc(c->tx, LWS_PRE + n);
        if (!p)
            return -1;
        c->tx = p;
        c->txcap = LWS_PRE + n;
    }
    if (BIO_read(c->wbio, c->tx + LWS_PRE, (int)n) != (int)n)
        return -1;
    return lws_write(c->wsi, c->tx + LWS_PRE, n, LWS_WRITE_RAW) == (int)n ? 0 : -1;
}

/* h2.c's frames: encrypted and sent at once (all or -1, like h2c's). */
static long tls_send(void *io, uint8_t *p, size_t n)
{
    tconn_t *c = io;
    for (size_t off = 0; off < n;) {
        size_t k = n - off < INT_MAX ? n - off : INT_MAX;
        ERR_clear_error();
        int w = SSL_write(c->ssl, p + off, (int)k); /* into a memory BIO: never blocks */
        if (w <= 0)
            return -1;
        off += (size_t)w;
    }
    return flush(c) == 0 ? (long)n : -1;
}

/* Decrypt what came (all of it: the read BIO keeps only a part of a
 * record). 0, or -1 to close. */
static int tls_rx(tconn_t *c)
{
    static __thread uint8_t buf[16384]; /* a TLS record's plaintext at most */
    for (;;) {
        ERR_clear_error();
        int n = SSL_read(c->ssl, buf, (int)sizeof buf);
        if (n > 0) {
            if (fl_h2_conn_recv(c->h2, buf, (size_t)n) < 0)
                return -1;
            continue;
        }
        if (SSL_get_error(c->ssl, n) == SSL_ERROR_WANT_READ)
            return 0;
        return -1; /* close_notify, or a TLS error */
    }
}

static int handshake(tconn_t *c)
{
    ERR_clear_error();
    int r = SSL_do_handshake(c->ssl);
    if (r != 1) {
        if (SSL_get_error(c->ssl, r) == SSL_ERROR_WANT_READ)
            return 0;
        ERR_clear_error();
        c->failed = 1; /* refused: its alert is in the write BIO */
        return 0;
    }
    const unsigned char *alpn = NULL;
    unsigned alen = 0;
    SSL_get0_alpn_selected(c->ssl, &alpn, &alen);
    if (alen != 2 || memcmp(alpn, "h2", 2) != 0) {
        c->failed = 1;
        return 0;
    }
    head_end(c, 1);
    c->h2 = fl_h2_conn_new(c->wsi, (fl_h2_io_t){.send = tls_send, .io = c});
    if (!c->h2)
        return -1;
    c->st = ST_H2;
    return tls_rx(c); /* what came with the client's Finished */
}

int fl_h2tls_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                      size_t len)
{
    tconn_t *c = lws_get_opaque_user_data(wsi);
    (void)user;
    switch (reason) {
    case LWS_CALLBACK_RAW_RX_FILE: /* the watch: HELLO */
        if (!c || c->st != ST_HELLO)
            return -1;
        return hello_rx(c);

    case LWS_CALLBACK_RAW_CLOSE_FILE:
        if (c) { /* the watch ended before the connection went on */
            lws_set_opaque_user_data(wsi, NULL);
            tconn_free(c);
        }
        return 0;

    case LWS_CALLBACK_RAW_RX: /* the raw socket: HANDSHAKE, H2 */
        if (!c || c->failed)
            return c ? 0 : -1;
        if (len && BIO_write(c->rbio, in, (int)len) != (int)len)
            return -1;
        if ((c->st == ST_HANDSHAKE ? handshake(c) : tls_rx(c)) < 0)
            return -1;
        if (BIO_ctrl_pending(c->wbio))
            lws_callback_on_writable(wsi); /* then close, if it failed */
        else if (c->failed)
            return -1;
        return 0;

    case LWS_CALLBACK_RAW_WRITEABLE:
        if (!c)
            return -1;
        if (BIO_ctrl_pending(c->wbio)) { /* the handshake's, or what reads made */
            if (flush(c) < 0)
                return -1;
            if (c->failed)
                return -1; /* the alert went: close */
            if (c->st == ST_H2)
                lws_callback_on_writable(wsi); /* frames next time */
            return 0;
        }
        if (c->failed)
            return -1;
        return c->st == ST_H2 ? fl_h2_conn_writeable(c->h2) : 0;

    case LWS_CALLBACK_RAW_CLOSE:
        if (c) {
            lws_set_opaque_user_data(wsi, NULL);
            tconn_free(c);
        }
        return 0;

    default:
        return 0;
    }
}
