/*
 * bench/bench_ingest.c — PutMedia ingest under many producers, against the
 * real framelogd on loopback, beside the raw disk measured in the same run.
 *
 *   bench_ingest [-n N[,N...]] [-s SECONDS] [-d DIR] [-t] [-k] [-x SERVER-FLAG]...
 *                [-l LOOPS] [-r RUNS]
 *
 * For each N (default 1,100,1000): starts framelogd (the build's) on a free
 * loopback port with a fresh data dir under DIR (default /var/tmp), creates
 * N streams, and connects N WebSocket producers, run by client processes of
 * at most 250 producers each (so that one client's loop is not the limit).
 * Each pushes a synthetic 2 Mbit/s video track in real time: 30 frames/s
 * of 8,333 bytes, fragments of 2 s (60 frames, a Cluster of unknown size
 * ended by an END_OF_FRAGMENT Tags element, as KVS producers do). The
 * producers start spread over one fragment's duration, as independent
 * cameras would, so that their fragments do not all end in the same
 * millisecond. One GetMedia reader follows stream 0 from NOW.
 *
 * The producers are a hand-written WebSocket client, not libwebsockets
 * (whose byte-by-byte masking and per-message overhead made the clients
 * take more CPU than the server they measure): each client process runs
 * one epoll loop over nonblocking TCP sockets. A producer sends the upgrade
 * request lws sent (GET /putMedia?StreamName=bN&FragmentTimecodeType=
 * ABSOLUTE, subprotocol framelog-putmedia-v1), waits for "HTTP/1.1 101",
 * then sends the session header (EBML header, Segment, Info, Tracks) as
 * one message and each frame as one more, built straight into a scratch
 * buffer (a fragment's Cluster start rides on its first frame, the
 * END_OF_FRAGMENT tag on its last). Every message is one final binary
 * frame, masked as RFC 6455 requires of clients, with a fresh random key
 * and a 16-byte-wide XOR, and goes out in one send(). What the socket does
 * not take waits for EPOLLOUT, and the producer builds no next frame until
 * it is gone: a producer that cannot keep up falls behind, and as each
 * frame carries the time it was due, the latencies show it. The server's
 * acks come back as text frames, parsed (7/16/64-bit lengths, split across
 * reads or several per read; a ping gets its pong, a close its echo).
 * -x passes one more flag to framelogd (repeatable; bench_hooks runs this
 * bench with --hook flags).
 * -l passes --loops LOOPS to framelogd (default: its own, 1; 0 is one
 * per core);
 * -r repeats each case RUNS times in a row. After each run it prints the
 * CPU each event loop's thread used (framelog_loop_cpu_seconds_total).
 * Environment: FL_BENCH_FRAMELOGD runs another server binary, FL_BENCH_WRAP
 * a command in front of it (e.g. "valgrind --tool=callgrind").
 *
 * After a 2 s warm-up, it measures for SECONDS (default 10):
 *   - aggregate ingest MB/s (bytes the producers got onto the wire) and the
 *     rate storage made durable (PERSISTED fragments x their size);
 *   - the server's CPU (user+system, % of one core, from /proc), and the
 *     client processes' own beside it (they share the machine);
 *   - PERSISTED latency: the fragment's last frame due at the producer ->
 *     its PERSISTED ack received, p50/p99;
 *   - GetMedia live latency: a frame due at producer 0 -> the same frame
 *     parsed out of the reader's stream (each frame carries its due time),
 *     p50/p99;
 *   - to read a tail by: how often the server's event loop ran late
 *     (framelog_event_loop_lag_ms, whole run) and how many frames the
 *     clients themselves sent late.
 * References in the same run, on the same disk: streaming write+fdatasync
 * MB/s and the fdatasync p99 of 512 KiB writes (one fragment's size).
 * With -t, each N runs twice, in plain text and then over TLS (a server
 * certificate made for the run with the openssl CLI; the producers, the
 * reader and the control calls all speak TLS through OpenSSL, nonblocking
 * for the producers), and the server's CPU over TLS is printed as a ratio
 * to its CPU in plain text for the same load.
 * -k (and -t, which implies it) runs the server locked: each case makes an
 * access key in its data dir (framelogd keys create) before the server
 * starts, and every request is signed with it (AWS SigV4, by the producer
 * SDK's signer over common/sigv4_canon): each producer's WebSocket upgrade
 * (UNSIGNED-PAYLOAD, as AWS's producers sign PutMedia), the control calls
 * and the reader's GetMedia. So both runs of -t verify a signature per
 * connection, as a server facing a network does, and the ratio is TLS's.
 * Targets (issue): 1,000 producers sustained on 2 cores with ack p99 < 50
 * ms; live latency p99 < 20 ms. The bench prints what it gets: on a 2-core
 * machine the producers themselves share the cores with the server.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_common.h"
#include "common/base64.h"
#include "common/bytes.h"
#include "common/clock.h"
#include "media/mkv_parser.h"
#include "media/mkv_writer.h"
#include "sigv4_sign.h" /* the producer SDK's signer (producer-sdk/) */

#define FPS                 30
#define FRAME_BYTES         8333
#define FRAMES_PER_FRAGMENT 60
#define MAX_LAT             2000000

typedef struct {
    int64_t tc;
    int64_t sent_ns;
} pend_t;

/* A producer's connection: CONNECTING (nonblocking connect under way) ->
 * HANDSHAKE (TLS only) -> UPGRADING (upgrade request sent, waiting for the
 * 101) -> STREAMING -> CLOSED (by either side, or a failed connect or
 * upgrade). */
enum { P_CONNECTING, P_HANDSHAKE, P_UPGRADING, P_STREAMING, P_CLOSED };

/* -t: the client side of TLS (NULL: plain text). Set before the client
 * processes fork; each uses its copy. */
static SSL_CTX *g_tls;
/* -k: sign every request; the case's access key (made before its server
 * starts, inherited by the client processes) */
static int g_sign;
static char g_ak[64], g_sk[64];

/* The SigV4 header lines of a request (each ending in CRLF) into out; ""
 * without -k. body NULL: UNSIGNED-PAYLOAD (the upgrade of a PutMedia). */
static void sign_lines(const char *method, const char *path, const char *body, char *out,
                       size_t cap)
{
    out[0] = 0;
    if (!g_sign)
        return;
    flp_sigv4_request_t sr = {.method = method,
                              .path = path,
                              .host = "127.0.0.1",
                              .body = (const uint8_t *)body,
                              .body_len = body ? strlen(body) : 0,
                              .region = "us-east-1",
                              .service = "kinesisvideo",
                              .access_key = g_ak,
                              .secret_key = g_sk,
                              .now = time(NULL)};
    flp_sigv4_result_t res;
    if (flp_sigv4_sign(&sr, &res) != 0) {
        fprintf(stderr, "bench_ingest: cannot sign %s %s\n", method, path);
        exit(1);
    }
    snprintf(out, cap, "X-Amz-Date: %s\r\nX-Amz-Content-Sha256: %s\r\nAuthorization: %s\r\n",
             res.amz_date, res.payload_hash, res.authorization);
}

#define WS_ROOM 16 /* bytes kept before a message's payload for its frame header (<= 14) */
#define MSG_CAP (FRAME_BYTES + 4096)      /* the largest message: one frame plus Matroska */
#define OUT_CAP (WS_ROOM + MSG_CAP + 256) /* one unsent message, and room for a pong */
#define RX_CAP  2048 /* the server's text frames (acks of ~100 bytes) and its 101 response */

typedef struct {
    int id;
    int fd;
    SSL *ssl; /* -t only */
    int state;
    int header_sent;
    int want_out;          /* EPOLLOUT is in the fd's epoll interest */
    int64_t next_frame_ns; /* when the next frame is due (queued, as a camera's encoder would) */
    int frame_idx;
    int64_t tc_ms; /* the open fragment's timecode */
    pend_t pend[64];
    unsigned n_pend;
    /* Bytes the socket did not take yet: the rest of at most one message
     * (no next frame is built while any remain), then perhaps a pong. */
    uint8_t *out; /* OUT_CAP bytes, allocated on the first short write */
    size_t out_off, out_n;
    /* Bytes from the server not parsed yet: the 101 response, then frames. */
    uint8_t rx[RX_CAP];
    size_t rx_n;
    uint64_t rx_skip; /* payload still to drop of a frame too big for rx */
} producer_t;

typedef struct {
    producer_t *p;
    int n;
    int ep;          /* the client process's epoll fd */
    fl_buf_t header; /* the session's EBML header, Segment, Info and Tracks */
    fl_buf_t msg;    /* the message being built, after WS_ROOM bytes */
    uint64_t rng;    /* xorshift64 state: mask keys and Sec-WebSocket-Keys */
    int measuring;
    uint64_t bytes_sent;
    uint64_t persisted, errors;
    int64_t *ack_lat;
    size_t n_ack_lat;
    /* frames sent later than due (the client's own lag, which the
     * latencies include): over 5, 20 and 50 ms, of all sent */
    uint64_t late[3], frames;
} bench_t;

static bench_t B;
/* -x flags, after --max-connections N */
static const char *server_flags[40] = {"--max-connections", "100000", NULL};
static int n_server_flags = 2;

static int64_t mono(void)
{
    return fl_time_mono_ns();
}

static uint64_t rng_next(void)
{
    uint64_t x = B.rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return B.rng = x;
}

static void session_header(fl_buf_t *b)
{
    fl_mkv_write_ebml_header(b, NULL);
    fl_mkv_write_segment_start(b);
    fl_mkv_info_t info;
    memset(&info, 0, sizeof info);
    info.muxing_app = fl_slice_str("bench_ingest");
    fl_mkv_write_info(b, &info);
    fl_mkv_track_t t;
    memset(&t, 0, sizeof t);
    t.number = 1;
    t.type = FL_MKV_TRACK_VIDEO;
    t.codec_id = fl_slice_str("V_VP8");
    t.pixel_width = 640;
    t.pixel_height = 360;
    fl_mkv_write_tracks(b, &t, 1);
}

/* Every frame's bytes: the same but for a stamp (see next_message). */
static uint8_t frame_tpl[FRAME_BYTES];

/* The producer's next due frame as one WebSocket message's payload, built
 * straight into B.msg after its WS_ROOM bytes: the Cluster's start before
 * a fragment's first frame, the SimpleBlock, and after its last frame the
 * END_OF_FRAGMENT tag. One copy of the frame, one mask pass, one send():
 * the client stays cheap beside the server it measures. The frame carries
 * its due time, so latencies include any lag of the client's own loop. */
static void next_message(producer_t *p)
{
    fl_buf_t *m = &B.msg;
    m->n = WS_ROOM;
    int64_t due = p->next_frame_ns;
    if (p->frame_idx == 0)
        fl_mkv_write_cluster_start(m, (uint64_t)p->tc_ms);
    fl_mkv_write_simple_block_header(m, 1, (int64_t)p->frame_idx * 1000 / FPS, p->frame_idx == 0,
                                     FRAME_BYTES);
    uint8_t *f = m->p + m->n;
    fl_buf_append(m, frame_tpl, FRAME_BYTES);
    memcpy(f, "FLBENCH1", 8);
    memcpy(f + 8, &due, 8);
    memset(f + 16, p->frame_idx, 64);
    p->next_frame_ns += 1000000000LL / FPS;
    if (++p->frame_idx == FRAMES_PER_FRAGMENT) {
        fl_mkv_tag_t eof = {fl_slice_str("AWS_KINESISVIDEO_END_OF_FRAGMENT"), fl_slice_str(""), 0};
        fl_mkv_write_tags(m, &eof, 1);
        p->pend[p->n_pend++ % 64] = (pend_t){p->tc_ms, due};
        p->frame_idx = 0;
        p->tc_ms += FRAMES_PER_FRAGMENT * 1000 / FPS;
    }
}

/* ---- the WebSocket client (RFC 6455), by hand, on one epoll per process ---- */

/* XOR n bytes at p with the 4-byte mask key, 16 bytes at a time: a GCC
 * vector of four keys (the key repeats every 4 bytes, so this holds in any
 * byte order) is one SSE2 pxor per 16 bytes at -O2, where gcc 12 leaves a
 * plain word loop unvectorized; one 8-byte step, then the last n % 8 bytes
 * one by one. Never a byte-by-byte pass over the payload. */
typedef uint64_t u64x2_t __attribute__((vector_size(16)));

static void ws_mask(uint8_t *p, size_t n, const uint8_t key[4])
{
    uint8_t kk[16];
    for (int i = 0; i < 16; i += 4)
        memcpy(kk + i, key, 4);
    u64x2_t k;
    memcpy(&k, kk, 16);
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        u64x2_t w;
        memcpy(&w, p + i, 16);
        w ^= k;
        memcpy(p + i, &w, 16);
    }
    if (i + 8 <= n) {
        uint64_t w, k8;
        memcpy(&k8, kk, 8);
        memcpy(&w, p + i, 8);
        w ^= k8;
        memcpy(p + i, &w, 8);
        i += 8;
    }
    for (; i < n; i++)
        p[i] ^= key[i & 3];
}

/* Frame the n payload bytes at pl as one final, masked client frame: the
 * header goes into the (at least 14) bytes before pl, the payload is masked
 * in place with a fresh random key. Returns the header's length. */
static size_t ws_frame(uint8_t *pl, size_t n, unsigned opcode)
{
    uint8_t h[14];
    size_t hl = 0;
    h[hl++] = (uint8_t)(0x80 | opcode);
    if (n < 126) {
        h[hl++] = (uint8_t)(0x80 | n);
    } else if (n < 65536) {
        h[hl++] = 0x80 | 126;
        h[hl++] = (uint8_t)(n >> 8);
        h[hl++] = (uint8_t)n;
    } else {
        h[hl++] = 0x80 | 127;
        for (int i = 7; i >= 0; i--)
            h[hl++] = (uint8_t)((uint64_t)n >> (8 * i));
    }
    uint32_t key = (uint32_t)(rng_next() >> 16);
    memcpy(h + hl, &key, 4);
    ws_mask(pl, n, h + hl);
    hl += 4;
    memcpy(pl - hl, h, hl);
    return hl;
}

static void want_out(producer_t *p, int on)
{
    if (p->want_out == on)
        return;
    struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0), .data.ptr = p};
    epoll_ctl(B.ep, EPOLL_CTL_MOD, p->fd, &ev);
    p->want_out = on;
}

static void close_producer(producer_t *p)
{
    if (p->state == P_CLOSED)
        return;
    SSL_free(p->ssl);
    p->ssl = NULL;
    close(p->fd); /* leaves the epoll set with it */
    p->fd = -1;
    p->state = P_CLOSED;
}

/* send(2), or SSL_write over TLS with the same contract: bytes taken, or
 * -1 with errno EAGAIN (try again with the same bytes) or another error. */
static ssize_t io_send(producer_t *p, const uint8_t *d, size_t n)
{
    if (!p->ssl)
        return send(p->fd, d, n, MSG_NOSIGNAL);
    int r = SSL_write(p->ssl, d, (int)n);
    if (r > 0)
        return r;
    int e = SSL_get_error(p->ssl, r);
    errno = e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ ? EAGAIN : EPIPE;
    ERR_clear_error();
    return -1;
}

/* read(2), or SSL_read over TLS: bytes, 0 at the end, -1 with errno. */
static ssize_t io_recv(producer_t *p, uint8_t *d, size_t n)
{
    if (!p->ssl)
        return read(p->fd, d, n);
    int r = SSL_read(p->ssl, d, (int)n);
    if (r > 0)
        return r;
    int e = SSL_get_error(p->ssl, r);
    ERR_clear_error();
    if (e == SSL_ERROR_ZERO_RETURN)
        return 0;
    errno = e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ? EAGAIN : ECONNRESET;
    return -1;
}

/* Send n bytes (at most one message: n < OUT_CAP) after whatever is still
 * unsent; what the socket does not take now stays in p->out until
 * EPOLLOUT. Returns -1 when the connection is gone (p is then CLOSED), or
 * when a control frame does not fit behind an unsent message (then none of
 * it was sent). */
static int tx(producer_t *p, const uint8_t *d, size_t n)
{
    size_t w = 0;
    if (p->out_n == 0) {
        ssize_t r = io_send(p, d, n);
        if (r < 0 && errno != EAGAIN && errno != EINTR) {
            close_producer(p);
            return -1;
        }
        w = r < 0 ? 0 : (size_t)r;
        if (w == n)
            return 0;
    }
    if (!p->out && !(p->out = malloc(OUT_CAP))) {
        close_producer(p); /* part of a message may be out: the stream is broken */
        return -1;
    }
    if (p->out_off + p->out_n + (n - w) > OUT_CAP) {
        memmove(p->out, p->out + p->out_off, p->out_n);
        p->out_off = 0;
        if (p->out_n + (n - w) > OUT_CAP)
            return -1; /* only a pong can meet this (the server never pings) */
    }
    memcpy(p->out + p->out_off + p->out_n, d + w, n - w);
    p->out_n += n - w;
    want_out(p, 1);
    return 0;
}

/* EPOLLOUT: push out what the socket did not take before. */
static void flush_out(producer_t *p)
{
    if (p->out_n == 0) {
        want_out(p, 0);
        return;
    }
    ssize_t r = io_send(p, p->out + p->out_off, p->out_n);
    if (r < 0) {
        if (errno != EAGAIN && errno != EINTR)
            close_producer(p);
        return;
    }
    p->out_off += (size_t)r;
    p->out_n -= (size_t)r;
    if (p->out_n == 0) {
        p->out_off = 0;
        want_out(p, 0);
    }
}

/* A small control frame (pong, close) with payload d[0..n), n <= 125. */
static void tx_control(producer_t *p, unsigned opcode, const uint8_t *d, size_t n)
{
    uint8_t f[WS_ROOM + 125];
    memcpy(f + WS_ROOM, d, n);
    size_t hl = ws_frame(f + WS_ROOM, n, opcode);
    tx(p, f + WS_ROOM - hl, hl + n);
}

/* Send what is due: the session header first, then every frame whose time
 * has come, each as one message in one send(), until the socket takes no
 * more (then the producer waits for EPOLLOUT and falls behind). */
static void send_due(producer_t *p, int64_t now)
{
    while (p->state == P_STREAMING && p->out_n == 0) {
        fl_buf_t *m = &B.msg;
        if (!p->header_sent) {
            m->n = WS_ROOM;
            fl_buf_append(m, B.header.p, B.header.n);
            p->header_sent = 1;
        } else if (p->next_frame_ns <= now) {
            int64_t late = now - p->next_frame_ns;
            if (B.measuring) {
                B.frames++;
                B.late[0] += late > 5000000;
                B.late[1] += late > 20000000;
                B.late[2] += late > 50000000;
            }
            next_message(p);
        } else {
            return;
        }
        if (m->err) {
            close_producer(p);
            return;
        }
        size_t n = m->n - WS_ROOM;
        size_t hl = ws_frame(m->p + WS_ROOM, n, 0x2);
        if (tx(p, m->p + WS_ROOM - hl, hl + n) != 0)
            return;
        if (B.measuring)
            B.bytes_sent += n;
    }
}

static void on_ack(producer_t *p, const char *text, size_t len)
{
    char buf[512];
    if (len >= sizeof buf)
        return;
    memcpy(buf, text, len);
    buf[len] = 0;
    if (strstr(buf, "\"ERROR\"")) {
        B.errors++;
        fprintf(stderr, "bench_ingest: producer %d: %s\n", p->id, buf);
        return;
    }
    if (!strstr(buf, "\"PERSISTED\""))
        return;
    const char *tc = strstr(buf, "\"FragmentTimecode\":");
    if (!tc)
        return;
    long long t = atoll(tc + strlen("\"FragmentTimecode\":"));
    for (int i = 0; i < 64; i++) {
        if (p->pend[i].tc == t && p->pend[i].sent_ns) {
            if (B.measuring) {
                B.persisted++;
                if (B.n_ack_lat < MAX_LAT)
                    B.ack_lat[B.n_ack_lat++] = mono() - p->pend[i].sent_ns;
            }
            p->pend[i].sent_ns = 0;
            break;
        }
    }
}

/* Parse the server's frames in p->rx (unmasked, as servers send them),
 * keeping a partial one for the next read: text messages are acks, a ping
 * gets its pong, a close is answered and ends the connection. The server
 * sends each ack as one final frame; a fragmented message would be dropped
 * here (its pieces are not joined). */
static void rx_frames(producer_t *p)
{
    size_t off = 0;
    while (p->state == P_STREAMING) {
        uint8_t *h = p->rx + off;
        size_t avail = p->rx_n - off;
        if (p->rx_skip) {
            size_t d = avail < p->rx_skip ? avail : (size_t)p->rx_skip;
            off += d;
            p->rx_skip -= d;
            if (p->rx_skip)
                break;
            continue;
        }
        if (avail < 2)
            break;
        int fin = h[0] & 0x80, masked = h[1] & 0x80;
        unsigned op = h[0] & 0x0f;
        uint64_t len = h[1] & 0x7f;
        size_t hl = 2;
        if (len == 126) {
            if (avail < 4)
                break;
            len = (uint64_t)h[2] << 8 | h[3];
            hl = 4;
        } else if (len == 127) {
            if (avail < 10)
                break;
            len = 0;
            for (int i = 0; i < 8; i++)
                len = len << 8 | h[2 + i];
            hl = 10;
        }
        if (masked)
            hl += 4;
        if (avail < hl)
            break;
        if (len > RX_CAP - hl) {
            if (op >= 0x8) { /* a control frame longer than 125 bytes */
                fprintf(stderr, "bench_ingest: producer %d: bad frame from the server\n", p->id);
                close_producer(p);
                return;
            }
            off += hl; /* no ack is this long: drop the message */
            p->rx_skip = len;
            continue;
        }
        if (avail < hl + len)
            break;
        uint8_t *pl = h + hl;
        if (masked)
            ws_mask(pl, (size_t)len, h + hl - 4);
        off += hl + (size_t)len;
        if (op == 0x1 && fin) {
            on_ack(p, (const char *)pl, (size_t)len);
        } else if (op == 0x9) {
            tx_control(p, 0xA, pl, (size_t)len);
        } else if (op == 0x8) {
            tx_control(p, 0x8, pl, len < 2 ? 0 : 2); /* echo the status code */
            close_producer(p);
            return;
        }
    }
    memmove(p->rx, p->rx + off, p->rx_n - off);
    p->rx_n -= off;
}

/* The upgrade request, as libwebsockets' client sent it. */
static void send_upgrade(producer_t *p)
{
    uint8_t nonce[16];
    for (int i = 0; i < 16; i += 8) {
        uint64_t r = rng_next();
        memcpy(nonce + i, &r, 8);
    }
    fl_buf_t key;
    fl_buf_init(&key, 0);
    fl_base64_encode(&key, fl_slice(nonce, sizeof nonce));
    char path[96], sig[1200], req[2048];
    snprintf(path, sizeof path, "/putMedia?StreamName=b%d&FragmentTimecodeType=ABSOLUTE", p->id);
    sign_lines("GET", path, NULL, sig, sizeof sig);
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\n"
                     "Pragma: no-cache\r\nCache-Control: no-cache\r\nHost: 127.0.0.1\r\n"
                     "Origin: http://127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: %.*s\r\nSec-WebSocket-Protocol: framelog-putmedia-v1\r\n"
                     "Sec-WebSocket-Version: 13\r\n%s\r\n",
                     path, (int)key.n, (const char *)key.p, sig);
    fl_buf_free(&key);
    p->state = P_UPGRADING;
    tx(p, (const uint8_t *)req, (size_t)n);
}

/* EPOLLIN: one read (the interest is level-triggered, so more comes on
 * the next wait), then the 101 response or frames. */
static void on_readable_once(producer_t *p, int64_t now);

/* Over TLS, one read may leave decrypted bytes inside OpenSSL that epoll
 * does not see: read on while it holds some. */
static void on_readable(producer_t *p, int64_t now)
{
    do
        on_readable_once(p, now);
    while (p->state != P_CLOSED && p->ssl && SSL_pending(p->ssl) > 0);
}

static void on_readable_once(producer_t *p, int64_t now)
{
    if (p->rx_n == RX_CAP) { /* an upgrade response that does not end */
        fprintf(stderr, "bench_ingest: producer %d: no end to the upgrade response\n", p->id);
        close_producer(p);
        return;
    }
    ssize_t r = io_recv(p, p->rx + p->rx_n, RX_CAP - p->rx_n);
    if (r < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (r <= 0) {
        close_producer(p);
        return;
    }
    p->rx_n += (size_t)r;
    if (p->state == P_UPGRADING) {
        uint8_t *e = memmem(p->rx, p->rx_n, "\r\n\r\n", 4);
        if (!e)
            return;
        if (p->rx_n < 12 || memcmp(p->rx, "HTTP/1.1 101", 12) != 0) {
            uint8_t *eol = memchr(p->rx, '\r', p->rx_n);
            fprintf(stderr, "bench_ingest: producer %d: upgrade refused: %.*s\n", p->id,
                    (int)(eol - p->rx), (const char *)p->rx);
            close_producer(p);
            return;
        }
        size_t hdr = (size_t)(e + 4 - p->rx);
        memmove(p->rx, p->rx + hdr, p->rx_n - hdr);
        p->rx_n -= hdr;
        p->state = P_STREAMING;
        send_due(p, now); /* the session header */
    }
    rx_frames(p);
}

/* -t: one step of the TLS handshake; the upgrade request once done. */
static void tls_handshake(producer_t *p)
{
    int r = SSL_do_handshake(p->ssl);
    if (r == 1) {
        want_out(p, 0);
        send_upgrade(p);
        return;
    }
    int e = SSL_get_error(p->ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        want_out(p, e == SSL_ERROR_WANT_WRITE);
        return;
    }
    fprintf(stderr, "bench_ingest: producer %d: TLS handshake failed\n", p->id);
    ERR_clear_error();
    close_producer(p);
}

/* EPOLLOUT on a connecting socket: connected, or failed. */
static void on_connected(producer_t *p)
{
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err) {
        fprintf(stderr, "bench_ingest: producer %d: connect: %s\n", p->id, strerror(err));
        close_producer(p);
        return;
    }
    if (g_tls) {
        if (!(p->ssl = SSL_new(g_tls))) {
            close_producer(p);
            return;
        }
        SSL_set_fd(p->ssl, p->fd);
        SSL_set_connect_state(p->ssl);
        p->state = P_HANDSHAKE;
        tls_handshake(p);
        return;
    }
    want_out(p, 0);
    send_upgrade(p);
}

static int connect_producer(producer_t *p, int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    p->state = P_CLOSED;
    p->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (p->fd < 0)
        return -1;
    setsockopt(p->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    p->state = P_CONNECTING;
    int rc = connect(p->fd, (struct sockaddr *)&a, sizeof a);
    if (rc != 0 && errno != EINPROGRESS) {
        close_producer(p);
        return -1;
    }
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = p};
    p->want_out = 1;
    if (epoll_ctl(B.ep, EPOLL_CTL_ADD, p->fd, &ev) != 0) {
        close_producer(p);
        return -1;
    }
    if (rc == 0)
        on_connected(p);
    return 0;
}

/* ---- blocking connections (the reader, control calls, metrics) ---- */

typedef struct {
    int fd;
    SSL *ssl;
} bconn_t;

static int bconn_open(bconn_t *c, int port)
{
    c->ssl = NULL;
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&a, sizeof a) != 0)
        goto fail;
    if (g_tls) {
        if (!(c->ssl = SSL_new(g_tls)))
            goto fail;
        SSL_set_fd(c->ssl, c->fd);
        if (SSL_connect(c->ssl) != 1)
            goto fail;
    }
    return 0;
fail:
    SSL_free(c->ssl);
    c->ssl = NULL;
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    return -1;
}

static ssize_t bconn_write(bconn_t *c, const void *p, size_t n)
{
    return c->ssl ? SSL_write(c->ssl, p, (int)n) : write(c->fd, p, n);
}

/* read(2)'s contract: bytes, 0 at the end, -1 with errno (EAGAIN on the
 * reader's receive timeout). */
static ssize_t bconn_read(bconn_t *c, void *p, size_t n)
{
    if (!c->ssl)
        return read(c->fd, p, n);
    int r = SSL_read(c->ssl, p, (int)n);
    if (r > 0)
        return r;
    int e = SSL_get_error(c->ssl, r);
    ERR_clear_error();
    if (e == SSL_ERROR_ZERO_RETURN)
        return 0;
    errno = e == SSL_ERROR_WANT_READ || (e == SSL_ERROR_SYSCALL && errno == EAGAIN) ? EAGAIN
                                                                                    : ECONNRESET;
    return -1;
}

static void bconn_close(bconn_t *c)
{
    SSL_free(c->ssl);
    if (c->fd >= 0)
        close(c->fd);
}

/* ---- the live reader: its own connection on its own thread ---- */

typedef struct {
    int port;
    _Atomic int stop;
    _Atomic int measuring;
    int64_t *lat;
    size_t n;
    pthread_t th;
} reader_t;

static int reader_event(void *data, const fl_mkv_event_t *ev)
{
    reader_t *r = data;
    if (ev->type == FL_MKV_EV_FRAME && ev->u.frame.data.n >= 16 &&
        memcmp(ev->u.frame.data.p, "FLBENCH1", 8) == 0 && atomic_load(&r->measuring) &&
        r->n < MAX_LAT) {
        int64_t t;
        memcpy(&t, ev->u.frame.data.p + 8, 8);
        r->lat[r->n++] = mono() - t;
    }
    return 0;
}

static void *reader_main(void *arg)
{
    reader_t *r = arg;
    bconn_t c;
    if (bconn_open(&c, r->port) != 0)
        return NULL;
    const char *body = "{\"StreamName\":\"b0\",\"StartSelector\":{\"StartSelectorType\":\"NOW\"}}";
    char sig[1200], req[2048];
    sign_lines("POST", "/getMedia", body, sig, sizeof sig);
    int n = snprintf(req, sizeof req,
                     "POST /getMedia HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                     "application/json\r\nContent-Length: %zu\r\n%s\r\n%s",
                     strlen(body), sig, body);
    if (bconn_write(&c, req, (size_t)n) != n) {
        bconn_close(&c);
        return NULL;
    }
    fl_mkv_parser_t *p;
    fl_mkv_parser_new(NULL, reader_event, r, &p);
    static uint8_t buf[1 << 16];
    int in_body = 0;
    size_t hdr = 0;
    char head[8192];
    struct timeval tv = {0, 200000};
    setsockopt(c.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    while (!atomic_load(&r->stop)) {
        ssize_t got = bconn_read(&c, buf, sizeof buf);
        if (got < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (got <= 0)
            break;
        size_t off = 0;
        if (!in_body) {
            while (off < (size_t)got && hdr < sizeof head - 1) {
                head[hdr++] = (char)buf[off++];
                if (hdr >= 4 && memcmp(head + hdr - 4, "\r\n\r\n", 4) == 0) {
                    in_body = 1;
                    break;
                }
            }
        }
        if (in_body && off < (size_t)got)
            fl_mkv_parser_feed(p, buf + off, (size_t)got - off);
    }
    fl_mkv_parser_free(p);
    bconn_close(&c);
    return NULL;
}

/* ---- the server ---- */

static int http_post(int port, const char *path, const char *body)
{
    bconn_t c;
    if (bconn_open(&c, port) != 0)
        return -1;
    char sig[1200], req[3072];
    sign_lines("POST", path, body, sig, sizeof sig);
    int n = snprintf(req, sizeof req,
                     "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: "
                     "%zu\r\n%s\r\n%s",
                     path, strlen(body), sig, body);
    if (bconn_write(&c, req, (size_t)n) != n) {
        bconn_close(&c);
        return -1;
    }
    char resp[256];
    ssize_t got = bconn_read(&c, resp, sizeof resp - 1);
    bconn_close(&c);
    if (got < 12)
        return -1;
    resp[got] = 0;
    return atoi(resp + 9);
}

/* The server's /metrics text (a static buffer, "" when unreachable). */
static const char *metrics_text(int port)
{
    static char resp[1 << 16];
    resp[0] = 0;
    bconn_t c;
    if (bconn_open(&c, port) != 0)
        return resp;
    static const char req[] =
        "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if (bconn_write(&c, req, sizeof req - 1) != (ssize_t)sizeof req - 1) {
        bconn_close(&c);
        return resp;
    }
    size_t n = 0;
    ssize_t got;
    while (n < sizeof resp - 1 && (got = bconn_read(&c, resp + n, sizeof resp - 1 - n)) > 0)
        n += (size_t)got;
    bconn_close(&c);
    resp[n] = 0;
    return resp;
}

/* One counter of a /metrics text (0 when missing). */
static double metric_in(const char *resp, const char *name)
{
    char key[128];
    snprintf(key, sizeof key, "\n%s ", name);
    const char *at = strstr(resp, key);
    return at ? atof(at + strlen(key)) : 0;
}

/* One counter from the server's /metrics (0 when missing). */
static double metric(int port, const char *name)
{
    return metric_in(metrics_text(port), name);
}

#define MAX_LOOPS 16

/* Each loop's CPU seconds so far (framelog_loop_cpu_seconds_total), from
 * one /metrics request (a loaded server answers slowly: each request
 * would eat into the measured window). */
static void loop_cpu(int port, double out[MAX_LOOPS])
{
    const char *m = metrics_text(port);
    for (int i = 0; i < MAX_LOOPS; i++) {
        char name[80];
        snprintf(name, sizeof name, "framelog_loop_cpu_seconds_total{loop=\"%d\"}", i);
        out[i] = metric_in(m, name);
    }
}

/* The machine's CPU ticks so far (all, and stolen by the hypervisor) from
 * /proc/stat: on a shared VM a run that lost much CPU to steal is noise. */
static void machine_ticks(unsigned long long *all, unsigned long long *steal)
{
    unsigned long long v[8] = {0};
    FILE *f = fopen("/proc/stat", "r");
    if (f) {
        if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
                   &v[4], &v[5], &v[6], &v[7]) != 8)
            memset(v, 0, sizeof v);
        fclose(f);
    }
    *all = v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7];
    *steal = v[7];
}

#define PER_CLIENT 250

static double self_cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

typedef struct {
    uint64_t bytes_sent, persisted, errors;
    int closed;
    size_t n_lat;
    double cpu_s; /* the client process's CPU (user+system) while measuring */
    uint64_t late[3], frames;
} client_result_t;

static int read_all(int fd, void *p, size_t n)
{
    uint8_t *c = p;
    while (n) {
        ssize_t r = read(fd, c, n);
        if (r <= 0)
            return -1;
        c += r;
        n -= (size_t)r;
    }
    return 0;
}

static void write_all(int fd, const void *p, size_t n)
{
    const uint8_t *c = p;
    while (n) {
        ssize_t w = write(fd, c, n);
        if (w <= 0)
            return;
        c += w;
        n -= (size_t)w;
    }
}

/* A client process: producers first..first+count-1 of n, until end; the
 * results go to out_fd. One loop: send what is due, wait on epoll until
 * the next frame is due (whole milliseconds, rounded up, so a frame leaves
 * at most about 1 ms late and never early; the lag is in its stamp), then
 * handle connects, writability and acks. */
static void producers_main(int first, int count, int n, int port, int64_t start_ns, int64_t wall_ms,
                           int64_t warm, int64_t end, int out_fd)
{
    memset(&B, 0, sizeof B);
    B.n = count;
    B.p = calloc((size_t)count, sizeof *B.p);
    B.ack_lat = calloc(MAX_LAT, sizeof *B.ack_lat);
    B.rng = ((uint64_t)getpid() << 32 ^ (uint64_t)fl_time_real_ns()) | 1;
    B.ep = epoll_create1(EPOLL_CLOEXEC);
    fl_buf_init(&B.header, 0);
    session_header(&B.header);
    fl_buf_init(&B.msg, 0);
    fl_buf_reserve(&B.msg, WS_ROOM + MSG_CAP); /* never grows: no copy per message */
    for (size_t i = 0; i < sizeof frame_tpl; i++)
        frame_tpl[i] = (uint8_t)(i * 2654435761u >> 13);
    for (int j = 0; j < count; j++) {
        int i = first + j;
        producer_t *p = &B.p[j];
        p->id = i;
        /* cameras are not in step: spread the producers' starts over one
         * fragment, so that their fragments end at different times */
        p->next_frame_ns = start_ns + (int64_t)i * (FRAMES_PER_FRAGMENT * 1000000000LL / FPS) / n;
        p->tc_ms = wall_ms + (int64_t)i * (FRAMES_PER_FRAGMENT * 1000 / FPS) / n;
        if (connect_producer(p, port) != 0)
            fprintf(stderr, "bench_ingest: producer %d: cannot connect: %s\n", i, strerror(errno));
    }
    int64_t now;
    double cpu0 = -1, cpu1 = 0;
    static struct epoll_event evs[256];
    while ((now = mono()) < end) {
        B.measuring = now >= warm;
        if (B.measuring && cpu0 < 0)
            cpu0 = self_cpu_seconds();
        int64_t wake = B.measuring ? end : warm;
        for (int j = 0; j < count; j++) {
            producer_t *p = &B.p[j];
            if (p->state != P_STREAMING || p->out_n)
                continue; /* not streaming yet, or waiting for EPOLLOUT */
            send_due(p, now);
            if (p->state == P_STREAMING && p->out_n == 0 && p->next_frame_ns < wake)
                wake = p->next_frame_ns;
        }
        int64_t ms = (wake - now + 999999) / 1000000;
        int ne = epoll_wait(B.ep, evs, 256, (int)(ms < 0 ? 0 : ms > 100 ? 100 : ms));
        now = mono();
        for (int e = 0; e < ne; e++) {
            producer_t *p = evs[e].data.ptr;
            uint32_t ev = evs[e].events;
            if (p->state == P_CONNECTING) {
                on_connected(p);
                continue;
            }
            if (p->state == P_HANDSHAKE) {
                tls_handshake(p);
                continue;
            }
            if (p->state != P_CLOSED && (ev & EPOLLOUT))
                flush_out(p);
            if (p->state != P_CLOSED && (ev & (EPOLLIN | EPOLLERR | EPOLLHUP)))
                on_readable(p, now);
        }
    }
    B.measuring = 0;
    cpu1 = self_cpu_seconds();
    client_result_t res = {B.bytes_sent,
                           B.persisted,
                           B.errors,
                           0,
                           B.n_ack_lat,
                           cpu0 < 0 ? 0 : cpu1 - cpu0,
                           {B.late[0], B.late[1], B.late[2]},
                           B.frames};
    for (int j = 0; j < count; j++) {
        res.closed += B.p[j].state == P_CLOSED;
        close_producer(&B.p[j]);
        free(B.p[j].out);
    }
    close(B.ep);
    write_all(out_fd, &res, sizeof res);
    write_all(out_fd, B.ack_lat, B.n_ack_lat * sizeof *B.ack_lat);
    close(out_fd);
    fl_buf_free(&B.header);
    fl_buf_free(&B.msg);
    free(B.p);
    free(B.ack_lat);
}

/* A JSON string field's value ("Name": "value") into out. */
static int json_str(const char *text, const char *name, char *out, size_t cap)
{
    char key[64];
    snprintf(key, sizeof key, "\"%s\"", name);
    const char *p = strstr(text, key);
    p = p ? strchr(p + strlen(key), '"') : NULL;
    const char *e = p ? strchr(p + 1, '"') : NULL;
    if (!e || (size_t)(e - p - 1) >= cap)
        return -1;
    snprintf(out, cap, "%.*s", (int)(e - p - 1), p + 1);
    return 0;
}

/* -k: an access key in the case's data dir (which locks the server it
 * starts), into g_ak / g_sk. */
static void make_access_key(const char *dir)
{
    const char *env = getenv("FL_BENCH_FRAMELOGD");
    char cmd[2048], out[4096];
    snprintf(cmd, sizeof cmd, "'%s' keys create bench --data-dir '%s'",
             env && *env ? env : FL_FRAMELOGD, dir);
    FILE *f = popen(cmd, "r");
    size_t n = f ? fread(out, 1, sizeof out - 1, f) : 0;
    out[n] = 0;
    if (!f || pclose(f) != 0 || json_str(out, "AccessKeyId", g_ak, sizeof g_ak) != 0 ||
        json_str(out, "SecretAccessKey", g_sk, sizeof g_sk) != 0) {
        fprintf(stderr, "bench_ingest: %s: no access key made: %s\n", cmd, out);
        exit(1);
    }
}

/* One case; returns the server's CPU (% of a core). tls: the server's
 * certificate and key files (NULL: plain text). */
static double run(int n, double secs, const char *base, double raw_mbps, double raw_p99,
                  const char *const tls[2])
{
    char dir[640];
    snprintf(dir, sizeof dir, "%s/ingest-%d%s", base, n, tls ? "-tls" : "");
    int port = 0;
    const char *flags[48];
    int nf = 0;
    flags[nf++] = "--max-connections-per-address";
    flags[nf++] = "100000";
    if (tls) {
        flags[nf++] = "--tls-cert";
        flags[nf++] = tls[0];
        flags[nf++] = "--tls-key";
        flags[nf++] = tls[1];
    }
    for (int i = 0; i < n_server_flags; i++) /* --max-connections 100000, then -x flags */
        flags[nf++] = server_flags[i];
    flags[nf] = NULL;
    if (g_sign)
        make_access_key(dir);
    pid_t pid = fl_bench_start_framelogd(FL_FRAMELOGD, dir, flags, &port);
    for (int i = 0; i < n; i++) {
        char body[128];
        snprintf(body, sizeof body, "{\"StreamName\":\"b%d\",\"DataRetentionInHours\":1}", i);
        if (http_post(port, "/createStream", body) != 200) {
            fprintf(stderr, "bench_ingest: createStream b%d failed\n", i);
            exit(1);
        }
    }
    /* the producers run in client processes of at most PER_CLIENT each, so
     * that the clients' own event loops are not what limits the run */
    int64_t now = mono();
    int64_t wall_ms = fl_time_real_ns() / 1000000;
    int64_t warm = now + 2000000000LL, end = warm + (int64_t)(secs * 1e9);
    int k = (n + PER_CLIENT - 1) / PER_CLIENT;
    pid_t kids[64];
    int pipes[64];
    for (int c = 0; c < k && c < 64; c++) {
        int fds[2];
        if (pipe(fds) != 0) {
            perror("pipe");
            exit(1);
        }
        int first = c * PER_CLIENT, count = n - first < PER_CLIENT ? n - first : PER_CLIENT;
        kids[c] = fork();
        if (kids[c] == 0) {
            close(fds[0]);
            producers_main(first, count, n, port, now, wall_ms, warm, end, fds[1]);
            _exit(0);
        }
        close(fds[1]);
        pipes[c] = fds[0];
    }
    memset(&B, 0, sizeof B);
    B.ack_lat = calloc(MAX_LAT, sizeof *B.ack_lat);

    reader_t rd;
    memset(&rd, 0, sizeof rd);
    rd.port = port;
    rd.lat = calloc(MAX_LAT, sizeof *rd.lat);
    pthread_create(&rd.th, NULL, reader_main, &rd);
    while (mono() < warm)
        usleep(1000);
    atomic_store(&rd.measuring, 1);
    double cpu0 = fl_bench_proc_cpu_s(pid, NULL);
    double lc0[MAX_LOOPS], lc1[MAX_LOOPS];
    int64_t t_lc0 = mono();
    loop_cpu(port, lc0);
    t_lc0 = (t_lc0 + mono()) / 2; /* when the loops' figures were taken, about */
    unsigned long long all0, steal0, all1, steal1;
    machine_ticks(&all0, &steal0);
    int64_t t_measure = t_lc0;
    while (mono() < end)
        usleep(1000);
    double el = (double)(mono() - t_measure) / 1e9;
    double cpu = (fl_bench_proc_cpu_s(pid, NULL) - cpu0) / el * 100;
    int64_t t_lc1 = mono();
    loop_cpu(port, lc1);
    double el_lc = (double)((t_lc1 + mono()) / 2 - t_lc0) / 1e9;
    machine_ticks(&all1, &steal1);
    double steal_pct = all1 > all0 ? 100.0 * (double)(steal1 - steal0) / (double)(all1 - all0) : 0;
    atomic_store(&rd.measuring, 0);
    atomic_store(&rd.stop, 1);
    pthread_join(rd.th, NULL);
    int closed = 0;
    double client_cpu = 0;
    for (int c = 0; c < k && c < 64; c++) {
        client_result_t res;
        if (read_all(pipes[c], &res, sizeof res) == 0) {
            B.bytes_sent += res.bytes_sent;
            B.persisted += res.persisted;
            B.errors += res.errors;
            closed += res.closed;
            client_cpu += res.cpu_s;
            for (int i = 0; i < 3; i++)
                B.late[i] += res.late[i];
            B.frames += res.frames;
            size_t room = MAX_LAT - B.n_ack_lat;
            size_t take = res.n_lat < room ? res.n_lat : room;
            read_all(pipes[c], B.ack_lat + B.n_ack_lat, take * sizeof *B.ack_lat);
            B.n_ack_lat += take;
        }
        close(pipes[c]);
        waitpid(kids[c], NULL, 0);
    }
    /* what the server took in over the whole run (warm-up included), to
     * normalise a profile of the server per byte */
    printf("%6s  server totals: received %.0f bytes, stored %.0f fragments (%.0f bytes)\n", "",
           metric(port, "framelog_http_received_bytes_total"),
           metric(port, "framelog_ingest_fragments_total"),
           metric(port, "framelog_ingest_bytes_total"));
    /* the server's event loop: how late its 100 ms timer fired (a stall
     * there delays every producer's acks and the live frames alike) */
    double ticks = metric(port, "framelog_event_loop_lag_ms_count");
    printf("%6s  server event loop lag (whole run): %.0f ticks, late > 5 ms: %.0f, > 20 ms: "
           "%.0f, > 50 ms: %.0f\n",
           "", ticks, ticks - metric(port, "framelog_event_loop_lag_ms_bucket{le=\"5\"}"),
           ticks - metric(port, "framelog_event_loop_lag_ms_bucket{le=\"20\"}"),
           ticks - metric(port, "framelog_event_loop_lag_ms_bucket{le=\"50\"}"));
    /* each event loop's thread: the ingest spread over the cores */
    printf("%6s  CPU per event loop (%% of a core):", "");
    for (int i = 0; i < MAX_LOOPS; i++)
        if (lc1[i] > 0)
            printf(" loop %d %5.1f%%", i, (lc1[i] - lc0[i]) / el_lc * 100);
    printf("; late ticks (> 50 ms) per loop:");
    const char *mt = metrics_text(port);
    for (int i = 0; i < MAX_LOOPS; i++) {
        char name[80];
        snprintf(name, sizeof name, "framelog_loop_late_ticks_total{loop=\"%d\"}", i);
        if (lc1[i] > 0)
            printf(" %.0f", metric_in(mt, name));
    }
    printf("\n");
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);

    qsort(B.ack_lat, B.n_ack_lat, sizeof *B.ack_lat, fl_bench_cmp_i64);
    qsort(rd.lat, rd.n, sizeof *rd.lat, fl_bench_cmp_i64);
    double offered = (double)n * FPS * FRAME_BYTES / 1e6;
    double sent = (double)B.bytes_sent / el / 1e6;
    double durable = (double)B.persisted * FRAMES_PER_FRAGMENT * FRAME_BYTES / el / 1e6;
    printf("%6d producers%s: offered %7.1f MB/s, sent %7.1f MB/s (%.2f), durable %7.1f MB/s "
           "(%.2f of raw disk) | server CPU %5.1f%% (clients %5.1f%%) | PERSISTED p50 %7.1f "
           "p99 %7.1f ms (%zu acks) | live p50 %6.1f p99 %6.1f ms (%zu frames) | errors %llu, "
           "dropped connections %d\n",
           n, tls ? " over TLS" : "", offered, sent, sent / offered, durable, durable / raw_mbps,
           cpu, client_cpu / el * 100, fl_bench_pct(B.ack_lat, B.n_ack_lat, .5),
           fl_bench_pct(B.ack_lat, B.n_ack_lat, .99), B.n_ack_lat, fl_bench_pct(rd.lat, rd.n, .5),
           fl_bench_pct(rd.lat, rd.n, .99), rd.n, (unsigned long long)B.errors, closed);
    printf("%6s  clients: %llu frames sent, later than due by > 5 ms: %llu, > 20 ms: %llu, > 50 "
           "ms: %llu (their lag is in the latencies above); the hypervisor stole %.0f%% of the "
           "machine's CPU meanwhile\n",
           "", (unsigned long long)B.frames, (unsigned long long)B.late[0],
           (unsigned long long)B.late[1], (unsigned long long)B.late[2], steal_pct);
    printf("%6s  targets: ack p99 < 50 ms (raw 512 KiB fdatasync p99 here: %.2f ms), live p99 "
           "< 20 ms\n",
           "", raw_p99);
    fflush(stdout);
    free(B.ack_lat);
    free(rd.lat);
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s.log'", dir, dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench_ingest: could not remove %s\n", dir);
    return cpu;
}

/* -t: a self-signed certificate for the run, and the client context
 * (verification off: the bench measures the cost of TLS, not trust). */
static void tls_prepare(const char *dir, char *cert, char *key, size_t cap)
{
    fl_bench_tls_cert(dir, cert, key, cap);
    g_tls = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_verify(g_tls, SSL_VERIFY_NONE, NULL);
    /* a message left half-sent is retried from p->out, which may move */
    SSL_CTX_set_mode(g_tls, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
}

int main(int argc, char **argv)
{
    const char *ns = "1,100,1000";
    double secs = 10;
    const char *base = "/var/tmp";
    int with_tls = 0;
    int runs = 1;
    const char *loops = NULL;
    for (int i = 1; i < argc; i += 2) {
        if (strcmp(argv[i], "-t") == 0) {
            with_tls = g_sign = 1; /* TLS is measured as a network sees it: signed */
            i--;                   /* no value */
        } else if (strcmp(argv[i], "-k") == 0) {
            g_sign = 1;
            i--; /* no value */
        } else if (i + 1 >= argc) {
            fprintf(stderr, "usage: bench_ingest [-n N[,N...]] [-s SECONDS] [-d DIR] [-t] [-k] [-x "
                            "SERVER-FLAG]... [-l LOOPS] [-r RUNS]\n");
            return 2;
        } else if (strcmp(argv[i], "-n") == 0)
            ns = argv[i + 1];
        else if (strcmp(argv[i], "-s") == 0)
            secs = atof(argv[i + 1]);
        else if (strcmp(argv[i], "-d") == 0)
            base = argv[i + 1];
        else if (strcmp(argv[i], "-x") == 0 && n_server_flags < 38)
            server_flags[n_server_flags++] = argv[i + 1];
        else if (strcmp(argv[i], "-l") == 0 && n_server_flags < 35) {
            loops = argv[i + 1];
            server_flags[n_server_flags++] = "--loops";
            server_flags[n_server_flags++] = loops;
        } else if (strcmp(argv[i], "-r") == 0)
            runs = atoi(argv[i + 1]);
        else {
            fprintf(stderr, "usage: bench_ingest [-n N[,N...]] [-s SECONDS] [-d DIR] [-t] [-k] [-x "
                            "SERVER-FLAG]... [-l LOOPS] [-r RUNS]\n");
            return 2;
        }
    }
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max < 65536 ? rl.rlim_max : 65536;
    setrlimit(RLIMIT_NOFILE, &rl);
    signal(SIGPIPE, SIG_IGN);

    char refdir[512];
    snprintf(refdir, sizeof refdir, "%s/fl-bench-ingest-XXXXXX", base);
    if (!mkdtemp(refdir)) {
        perror("mkdtemp");
        return 1;
    }
    double raw = fl_bench_raw_stream(refdir, 2);
    fl_bench_result_t per = fl_bench_raw_per_record(refdir, 512 * 1024, 2);
    printf("bench_ingest: %.0f s measured per case after 2 s warm-up; each producer 2 Mbit/s "
           "(30 x %d B frames/s), 2 s fragments\n",
           secs, FRAME_BYTES);
    printf("raw disk, same run: streaming write+fdatasync %.1f MB/s; 512 KiB write+fdatasync "
           "p50 %.2f p99 %.2f ms\n\n",
           raw, per.p50, per.p99);
    char cert[700], key[700];
    if (with_tls)
        tls_prepare(refdir, cert, key, sizeof cert);
    const char *const tls[2] = {cert, key};
    char *list = strdup(ns);
    printf("framelogd --loops %s, %d run%s of each case%s\n\n", loops ? loops : "(default)", runs,
           runs == 1 ? "" : "s",
           g_sign ? "; locked, every request signed (SigV4) and verified" : "");
    for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ","))
        for (int r = 0; r < runs; r++) {
            SSL_CTX *keep = g_tls;
            g_tls = NULL; /* the plain-text run first */
            double plain = run(atoi(tok), secs, refdir, raw, per.p99, NULL);
            g_tls = keep;
            if (with_tls) {
                double over = run(atoi(tok), secs, refdir, raw, per.p99, tls);
                printf("%6d producers: server CPU over TLS %.1f%% / plain text %.1f%% = x%.2f\n\n",
                       atoi(tok), over, plain, plain > 0 ? over / plain : 0);
            }
        }
    free(list);
    if (with_tls) {
        unlink(cert);
        unlink(key);
        SSL_CTX_free(g_tls);
    }
    rmdir(refdir);
    return 0;
}
