/*
 * tests/test_sdk_review.c — regression tests from the review of the
 * producer SDK (libframelog-producer). Each one drives the public API with a
 * scripted transport (flp_transport_t) that records what the SDK sends and
 * can hold a ws_send, so the races are deterministic; no server is needed.
 *
 * Every test here failed when it was written and names the defect it pins:
 *   - a fragment dropped from a full store while its FIRST 16 KiB message is
 *     inside ws_send: the sender went on to the next fragment on the same
 *     connection, so the server stored a truncated fragment (and parsed the
 *     next one's bytes as the rest of a SimpleBlock);
 *   - a file store holding fragments of two earlier runs (two header
 *     records): the older run's fragments were sent after the newer header;
 *   - flp_stream_stop() returned FLP_ETIMEDOUT with nothing left to send,
 *     because the sender sat out its reconnect backoff;
 *   - a fragment that fills the store to within the end-of-fragment tag was
 *     given up whole instead of being ended where it is;
 *   - acks were read by a text search: a member of a nested object was
 *     taken for the ack's own (now common/json.h, producer-sdk/ack.c);
 *   - frames put after an ERROR (< 5000) on the open fragment were appended
 *     to it and never sent nor reported;
 *   - fragments replayed from the file store counted 0 frames when dropped;
 *   - after a restart with the clock set back, every frame was dropped
 *     until the clock passed the replayed fragments' time (fragment
 *     timecodes only grow), and the file held them meanwhile;
 *   - (the mock, not the SDK) auto_ack acked a fragment on its first
 *     send, while still open, which the SDK rightly took for a refusal:
 *     a frame was dropped whenever the sender was quicker than the test;
 *   - a fragment acked while flush/put_frame was still sealing it into the
 *     file store was released before its record was there, so the record
 *     stayed and the next start resent what the server held (a later
 *     release takes it along, so only the last fragment before a stop
 *     stays). A race without a hook to hold it open: the test sets the
 *     scheduling up so that the sender wins it (one CPU, the putting
 *     thread SCHED_IDLE); it failed in 10 runs of 10 before the fix;
 *   - under FLP_BLOCK, a key frame refused with FLP_ENOSPC began its
 *     fragment before it waited for room: the fragment was ended empty
 *     and sent (framelogd refuses it, 4006), and the frame put again was
 *     moved 1 ms later, since its time was taken.
 *
 * Frames are H.264, length-prefixed (nal_length_size 4), one NAL each: IDR
 * (type 5) for key frames and type 1 otherwise, with a CodecPrivate given,
 * so the SDK never needs to parse an SPS.
 */
#include <check.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <framelog/producer.h>

#include "harness.h"

#define T0_NS (1700000000000LL * 1000000LL) /* absolute pts of the first frame */

/* ---- a scripted transport ---- */

enum { EV_OPEN = 'O', EV_SEND = 'S', EV_CLOSE = 'C' };

#define MOCK_ACKS 128 /* acks a mock hands out in one test */

typedef struct {
    char op;
    int conn;
    size_t n;
    uint8_t *bytes; /* a copy of what was sent (EV_SEND) */
} ev_t;

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int open_ok; /* ws_open succeeds */
    int opens;   /* ws_open calls */
    int next_id;
    /* hold the first ws_send that is not a session header until released */
    int hold_first_fragment;
    int holding, released;
    ev_t ev[4096];
    size_t n_ev;
    /* acks ws_recv hands out, in order; auto_ack queues PERSISTED for the
     * Cluster timecode of every fragment when the send that ends it (the
     * end-of-fragment tag) goes by */
    char acks[MOCK_ACKS][512];
    int n_acks, next_ack;
    int auto_ack;
    int64_t open_tc; /* the Cluster timecode of the fragment being sent */
    int64_t acked_tc[MOCK_ACKS];
    int n_acked;
} mock_t;

struct flp_transport_conn {
    mock_t *m;
    int id;
    atomic_int wake;
};

static void mock_init(mock_t *m, int open_ok)
{
    memset(m, 0, sizeof *m);
    pthread_mutex_init(&m->mu, NULL);
    pthread_cond_init(&m->cv, NULL);
    m->open_ok = open_ok;
}

static void mock_free(mock_t *m)
{
    for (size_t i = 0; i < m->n_ev; i++)
        free(m->ev[i].bytes);
    pthread_mutex_destroy(&m->mu);
    pthread_cond_destroy(&m->cv);
}

static void ev_add(mock_t *m, char op, int conn, const uint8_t *p, size_t n)
{
    if (m->n_ev == sizeof m->ev / sizeof m->ev[0])
        return;
    ev_t *e = &m->ev[m->n_ev++];
    e->op = op;
    e->conn = conn;
    e->n = n;
    e->bytes = NULL;
    if (p && n) {
        e->bytes = malloc(n);
        memcpy(e->bytes, p, n);
    }
    pthread_cond_broadcast(&m->cv);
}

static int m_http(void *ctx, const flp_request_t *req, int *status, char *body, size_t cap,
                  size_t *body_len)
{
    (void)ctx, (void)req, (void)body, (void)cap;
    *status = 500;
    *body_len = 0;
    return FLP_ECONNECT;
}

static int m_open(void *ctx, const flp_request_t *req, flp_transport_conn_t **out, char *err,
                  size_t errcap)
{
    (void)req;
    mock_t *m = ctx;
    pthread_mutex_lock(&m->mu);
    m->opens++;
    int ok = m->open_ok;
    int id = ++m->next_id;
    if (ok)
        ev_add(m, EV_OPEN, id, NULL, 0);
    pthread_cond_broadcast(&m->cv);
    pthread_mutex_unlock(&m->mu);
    if (!ok) {
        snprintf(err, errcap, "scripted: connection refused");
        return FLP_ECONNECT;
    }
    flp_transport_conn_t *c = calloc(1, sizeof *c);
    c->m = m;
    c->id = id;
    atomic_init(&c->wake, 0);
    *out = c;
    return 0;
}

static int is_session_header(const uint8_t *p, size_t n)
{
    return n >= 4 && p[0] == 0x1A && p[1] == 0x45 && p[2] == 0xDF && p[3] == 0xA3;
}

/* Queue an ack for ws_recv (with m->mu held). */
static void ack_locked(mock_t *m, const char *json)
{
    if (m->n_acks < MOCK_ACKS)
        snprintf(m->acks[m->n_acks++], sizeof m->acks[0], "%s", json);
    pthread_cond_broadcast(&m->cv);
}

static void mock_ack(mock_t *m, const char *json)
{
    pthread_mutex_lock(&m->mu);
    ack_locked(m, json);
    pthread_mutex_unlock(&m->mu);
}

/* The timecode of the Cluster that starts in p (ours: unknown size, then
 * Timecode), or -1. */
static int64_t cluster_tc(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i + 14 <= n; i++) {
        if (p[i] != 0x1F || p[i + 1] != 0x43 || p[i + 2] != 0xB6 || p[i + 3] != 0x75 ||
            p[i + 12] != 0xE7)
            continue;
        size_t len = p[i + 13] & 0x7F;
        if (i + 14 + len > n || !(p[i + 13] & 0x80))
            return -1;
        int64_t v = 0;
        for (size_t k = 0; k < len; k++)
            v = v << 8 | p[i + 14 + k];
        return v;
    }
    return -1;
}

static int contains(const uint8_t *p, size_t n, const char *s)
{
    size_t k = strlen(s);
    for (size_t i = 0; i + k <= n; i++)
        if (memcmp(p + i, s, k) == 0)
            return 1;
    return 0;
}

static int m_send(flp_transport_conn_t *c, const uint8_t *p, size_t n, int text, int timeout_ms)
{
    (void)text, (void)timeout_ms;
    mock_t *m = c->m;
    pthread_mutex_lock(&m->mu);
    ev_add(m, EV_SEND, c->id, p, n);
    /* a server acks PERSISTED once the fragment has ended, never while it
     * is open: the SDK takes a fragment settled while still open for one
     * the server refused, and ends it */
    int64_t tc = m->auto_ack && !is_session_header(p, n) ? cluster_tc(p, n) : -1;
    if (tc >= 0)
        m->open_tc = tc;
    tc = m->auto_ack && contains(p, n, "AWS_KINESISVIDEO_END_OF_FRAGMENT") ? m->open_tc : -1;
    if (tc >= 0) {
        char a[160];
        snprintf(a, sizeof a,
                 "{\"EventType\":\"PERSISTED\",\"FragmentTimecode\":%lld,"
                 "\"FragmentNumber\":\"%d\"}",
                 (long long)tc, m->n_acked + 1);
        if (m->n_acked < MOCK_ACKS)
            m->acked_tc[m->n_acked++] = tc;
        ack_locked(m, a);
    }
    if (m->hold_first_fragment && !is_session_header(p, n) && !m->holding) {
        m->holding = 1;
        pthread_cond_broadcast(&m->cv);
        while (!m->released)
            pthread_cond_wait(&m->cv, &m->mu);
    }
    pthread_mutex_unlock(&m->mu);
    return 0; /* taken */
}

static int m_recv(flp_transport_conn_t *c, char *buf, size_t cap, size_t *n, int timeout_ms,
                  int *close_code, char *err, size_t errcap)
{
    (void)close_code, (void)err, (void)errcap;
    *n = 0;
    mock_t *m = c->m;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&m->mu);
    while (m->next_ack == m->n_acks && !atomic_exchange(&c->wake, 0) && timeout_ms > 0)
        if (pthread_cond_timedwait(&m->cv, &m->mu, &ts) != 0)
            break;
    if (m->next_ack < m->n_acks) {
        const char *a = m->acks[m->next_ack++];
        *n = strlen(a) < cap ? strlen(a) : cap;
        memcpy(buf, a, *n);
        pthread_mutex_unlock(&m->mu);
        return 0;
    }
    pthread_mutex_unlock(&m->mu);
    return FLP_ETIMEDOUT; /* no ack queued: the server does not answer */
}

static void m_wake(flp_transport_conn_t *c)
{
    atomic_store(&c->wake, 1);
    pthread_mutex_lock(&c->m->mu);
    pthread_cond_broadcast(&c->m->cv);
    pthread_mutex_unlock(&c->m->mu);
}

static void m_close(flp_transport_conn_t *c, int clean)
{
    (void)clean;
    mock_t *m = c->m;
    pthread_mutex_lock(&m->mu);
    ev_add(m, EV_CLOSE, c->id, NULL, 0);
    pthread_mutex_unlock(&m->mu);
    free(c);
}

static flp_transport_t mock_transport(mock_t *m)
{
    flp_transport_t t = {.http = m_http,
                         .ws_open = m_open,
                         .ws_send = m_send,
                         .ws_recv = m_recv,
                         .wake = m_wake,
                         .ws_close = m_close,
                         .ctx = m};
    return t;
}

/* Wait until pred(m) holds (checked under m->mu) or ms pass: 1 if it holds. */
static int mock_wait(mock_t *m, int (*pred)(mock_t *), int ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&m->mu);
    int ok;
    while (!(ok = pred(m)))
        if (pthread_cond_timedwait(&m->cv, &m->mu, &ts) != 0) {
            ok = pred(m);
            break;
        }
    pthread_mutex_unlock(&m->mu);
    return ok;
}

/* ---- streams and frames ---- */

static const uint8_t fake_avcc[] = {0x01, 0x64, 0x00, 0x1e, 0xff, 0xe1, 0x00, 0x04, 0x67,
                                    0x64, 0x00, 0x1e, 0x01, 0x00, 0x02, 0x68, 0xee};

typedef struct {
    pthread_mutex_t mu;
    int64_t dropped_tc[64];
    uint32_t dropped_frames[64];
    int n_dropped;
} cb_log_t;

static void on_dropped(void *ctx, int64_t tc, uint32_t n, const char *why)
{
    (void)why;
    cb_log_t *l = ctx;
    pthread_mutex_lock(&l->mu);
    if (l->n_dropped < 64) {
        l->dropped_tc[l->n_dropped] = tc;
        l->dropped_frames[l->n_dropped] = n;
    }
    l->n_dropped++;
    pthread_mutex_unlock(&l->mu);
}

static int n_dropped(cb_log_t *l)
{
    pthread_mutex_lock(&l->mu);
    int n = l->n_dropped;
    pthread_mutex_unlock(&l->mu);
    return n;
}

static flp_client_t *new_client(const flp_transport_t *t)
{
    flp_client_config_t cc = {.endpoint = "http://127.0.0.1:9", .transport = t};
    flp_client_t *c = NULL;
    ck_assert_int_eq(flp_client_new(&cc, &c), 0);
    return c;
}

static flp_stream_t *new_stream(flp_client_t *c, const char *track_name, size_t store_size,
                                uint32_t frag_ms, const char *path, cb_log_t *log)
{
    static const uint8_t key[32] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16,
                                    17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
    flp_track_t tr = {.number = 1,
                      .codec = FLP_CODEC_H264,
                      .nal_length_size = 4,
                      .codec_private = fake_avcc,
                      .codec_private_len = sizeof fake_avcc,
                      .name = track_name,
                      .width = 320,
                      .height = 240};
    flp_stream_config_t sc = {.name = "review",
                              .tracks = &tr,
                              .n_tracks = 1,
                              .store_size = store_size,
                              .fragment_duration_ms = frag_ms,
                              .absolute_timestamps = 1,
                              .full_policy = FLP_DROP_OLDEST,
                              .storage_path = path,
                              .storage_key = path ? key : NULL,
                              .callbacks = {.dropped = on_dropped, .ctx = log}};
    flp_stream_t *s = NULL;
    ck_assert_int_eq(flp_stream_new(c, &sc, &s), 0);
    return s;
}

/* One length-prefixed NAL of `size` bytes in total (4-byte length included). */
static uint8_t *make_frame(size_t size, int key, uint8_t fill)
{
    ck_assert(size > 5);
    uint8_t *p = malloc(size);
    uint32_t n = (uint32_t)(size - 4);
    p[0] = (uint8_t)(n >> 24);
    p[1] = (uint8_t)(n >> 16);
    p[2] = (uint8_t)(n >> 8);
    p[3] = (uint8_t)n;
    p[4] = key ? 0x65 : 0x41;
    memset(p + 5, fill, size - 5);
    return p;
}

static int put(flp_stream_t *s, int64_t pts_ns, size_t size, int key)
{
    uint8_t *p = make_frame(size, key, (uint8_t)(pts_ns / 1000000));
    flp_frame_t f = {
        .track = 1, .pts_ns = pts_ns, .dts_ns = pts_ns, .keyframe = key, .data = p, .size = size};
    int rc = flp_stream_put_frame(s, &f);
    free(p);
    return rc;
}

/* ---- a fragment dropped while its first message is in ws_send ---- */

static int pred_holding(mock_t *m)
{
    return m->holding;
}

/* The held send, then: the next event on that connection. */
static int pred_after_hold(mock_t *m)
{
    int seen = 0;
    for (size_t i = 0; i < m->n_ev; i++) {
        if (m->ev[i].op == EV_SEND && !is_session_header(m->ev[i].bytes, m->ev[i].n) && !seen) {
            seen = 1;
            continue;
        }
        if (seen && m->ev[i].conn == 1)
            return 1;
    }
    return 0;
}

START_TEST(a_fragment_dropped_during_its_first_send_cuts_the_connection)
{
    mock_t m;
    mock_init(&m, 1);
    m.hold_first_fragment = 1;
    flp_transport_t t = mock_transport(&m);
    flp_client_t *c = new_client(&t);
    cb_log_t log = {.mu = PTHREAD_MUTEX_INITIALIZER};
    /* 256 KiB store, a fragment at every key frame, 40 KB key frames */
    flp_stream_t *s = new_stream(c, "v", 256 * 1024, 0, NULL, &log);

    int64_t pts = T0_NS;
    ck_assert_int_eq(put(s, pts, 40000, 1), 0);
    /* the sender sends the header, then the first 16 KiB of fragment 1 and
     * is held there, the stream's lock dropped */
    ck_assert(mock_wait(&m, pred_holding, 5000));

    /* more fragments until fragment 1 is dropped from the full store */
    for (int i = 1; i < 20 && n_dropped(&log) == 0; i++) {
        pts += 40 * 1000000LL;
        ck_assert_int_eq(put(s, pts, 40000, 1), 0);
    }
    ck_assert_int_ge(n_dropped(&log), 1);
    ck_assert_int_eq(log.dropped_tc[0], T0_NS / 1000000); /* fragment 1 */

    /* let the held send finish: the server has 16 KiB of a fragment that is
     * gone; the connection must be cut before anything else is sent on it,
     * or the server ends that fragment at the next Cluster and stores it */
    pthread_mutex_lock(&m.mu);
    m.released = 1;
    pthread_cond_broadcast(&m.cv);
    pthread_mutex_unlock(&m.mu);
    ck_assert(mock_wait(&m, pred_after_hold, 5000));
    pthread_mutex_lock(&m.mu);
    char next = 0;
    int seen = 0;
    for (size_t i = 0; i < m.n_ev && !next; i++) {
        if (m.ev[i].op == EV_SEND && !is_session_header(m.ev[i].bytes, m.ev[i].n) && !seen) {
            seen = 1;
            continue;
        }
        if (seen && m.ev[i].conn == 1)
            next = m.ev[i].op;
    }
    pthread_mutex_unlock(&m.mu);
    ck_assert_msg(next == EV_CLOSE,
                  "after a partly sent fragment was dropped, the sender went on with '%c' on the "
                  "same connection instead of closing it",
                  next);

    flp_stream_free(s);
    flp_client_free(c);
    mock_free(&m);
}
END_TEST

/* ---- a file store with fragments of two earlier runs ---- */

static void offline_run(const char *path, const char *name, int64_t t0)
{
    mock_t m;
    mock_init(&m, 0); /* never connects */
    flp_transport_t t = mock_transport(&m);
    flp_client_t *c = new_client(&t);
    cb_log_t log = {.mu = PTHREAD_MUTEX_INITIALIZER};
    flp_stream_t *s = new_stream(c, name, 512 * 1024, 2000, path, &log);
    ck_assert_int_eq(put(s, t0, 3000, 1), 0);
    ck_assert_int_eq(put(s, t0 + 33000000LL, 1000, 0), 0);
    ck_assert_int_eq(flp_stream_flush(s), 0); /* the fragment goes to the file */
    ck_assert_int_eq(flp_stream_stop(s, 100), FLP_ETIMEDOUT);
    flp_stream_free(s);
    flp_client_free(c);
    mock_free(&m);
}

static int pred_two_sends(mock_t *m)
{
    int n = 0;
    for (size_t i = 0; i < m->n_ev; i++)
        n += m->ev[i].op == EV_SEND;
    return n >= 4;
}

START_TEST(replayed_fragments_go_after_their_own_session_header)
{
    char *dir = fl_test_mkdtemp("sdk-review");
    char path[512];
    snprintf(path, sizeof path, "%s/store.flp", dir);
    /* two runs that never reach the server, with different track names
     * (say, a camera whose configuration changed between two reboots) */
    offline_run(path, "run-A", T0_NS);
    offline_run(path, "run-B", T0_NS + 10000000000LL);

    /* the third run connects: the file holds header A, fragment A, header B,
     * fragment B; fragment A must follow header A */
    mock_t m;
    mock_init(&m, 1);
    flp_transport_t t = mock_transport(&m);
    flp_client_t *c = new_client(&t);
    cb_log_t log = {.mu = PTHREAD_MUTEX_INITIALIZER};
    flp_stream_t *s = new_stream(c, "run-C", 512 * 1024, 2000, path, &log);
    ck_assert(mock_wait(&m, pred_two_sends, 5000));
    flp_stream_free(s);
    flp_client_free(c);

    /* the messages in order: header, fragment A (timecode T0), header, B */
    const ev_t *first_hdr = NULL;
    for (size_t i = 0; i < m.n_ev && !first_hdr; i++)
        if (m.ev[i].op == EV_SEND && is_session_header(m.ev[i].bytes, m.ev[i].n))
            first_hdr = &m.ev[i];
    ck_assert_ptr_nonnull(first_hdr);
    ck_assert_msg(contains(first_hdr->bytes, first_hdr->n, "run-A"),
                  "the first run's fragment was sent after the header of %s",
                  contains(first_hdr->bytes, first_hdr->n, "run-B") ? "the second run" : "?");
    mock_free(&m);
    fl_test_rmtree(dir);
}
END_TEST

/* ---- stop() while the sender waits out a reconnect backoff ---- */

static int pred_five_opens(mock_t *m)
{
    return m->opens >= 5;
}

START_TEST(stop_with_nothing_to_send_does_not_wait_for_the_backoff)
{
    mock_t m;
    mock_init(&m, 0); /* the server is unreachable */
    flp_transport_t t = mock_transport(&m);
    flp_client_t *c = new_client(&t);
    cb_log_t log = {.mu = PTHREAD_MUTEX_INITIALIZER};
    flp_stream_t *s = new_stream(c, "v", 256 * 1024, 2000, NULL, &log);
    /* backoff 250, 500, 1000, 2000 ms: after the 5th attempt it is 4 s
     * (each wait 50-100 % of it) */
    ck_assert(mock_wait(&m, pred_five_opens, 10000));
    usleep(50000);
    pthread_mutex_lock(&m.mu);
    int opens = m.opens;
    pthread_mutex_unlock(&m.mu);
    /* nothing was ever put: every fragment is acked, trivially. Counted in
     * attempts, not time (the bound is only there to end a hung test): a
     * sender that sat out its backoff would try once more before it saw
     * the stop */
    int rc = flp_stream_stop(s, 60000);
    ck_assert_msg(rc == 0, "stop with nothing to send: %s", flp_strerror(rc));
    pthread_mutex_lock(&m.mu);
    ck_assert_msg(m.opens == opens, "stop waited out the backoff: %d more connection attempts",
                  m.opens - opens);
    pthread_mutex_unlock(&m.mu);
    flp_stream_free(s);
    flp_client_free(c);
    mock_free(&m);
}
END_TEST

/* ---- a fragment that fills the store up to its end-of-fragment tag ---- */

static size_t vint_len(size_t v)
{
    size_t n = 1;
    while (n < 8 && v >= ((size_t)1 << (7 * n)) - 1)
        n++;
    return n;
}

static size_t used(flp_stream_t *s)
{
    flp_stream_stats_t st;
    ck_assert_int_eq(flp_stream_stats(s, &st), 0);
    return st.store_used;
}

START_TEST(a_store_sized_fragment_is_ended_not_dropped)
{
    mock_t m;
    mock_init(&m, 0); /* nothing is ever acked */
    flp_transport_t t = mock_transport(&m);
    flp_client_t *c = new_client(&t);
    cb_log_t log = {.mu = PTHREAD_MUTEX_INITIALIZER};
    const size_t size = 256 * 1024;
    flp_stream_t *s = new_stream(c, "v", size, 2000, NULL, &log);

    int64_t pts = T0_NS;
    ck_assert_int_eq(put(s, pts, 30000, 1), 0);
    for (;;) {
        size_t left = size - used(s);
        if (left < 2 * 30010)
            break;
        pts += 33000000LL;
        ck_assert_int_eq(put(s, pts, 30000, 0), 0);
    }
    /* one frame that leaves exactly 10 bytes: less than the end tag */
    size_t left = size - used(s);
    size_t x = left - 10 - 8;
    while (1 + vint_len(x + 4) + 4 + x != left - 10)
        x--;
    pts += 33000000LL;
    (void)put(s, pts, x, 0); /* 0 today; FLP_ENOSPC once the tag's room is kept */

    /* the next frame does not fit: per docs/sdk.md the fragment is "ended
     * where it is; the frame is refused with FLP_ENOSPC" (or dropped while
     * waiting for a key frame, when the fragment ended at the frame before) */
    pts += 33000000LL;
    (void)put(s, pts, 1000, 0);
    flp_stream_stats_t st;
    flp_stream_stats(s, &st);
    ck_assert_msg(st.fragments_dropped == 0 && st.fragments == 1,
                  "the whole fragment (%d frames) was given up: %llu dropped, %llu closed",
                  log.n_dropped ? (int)log.dropped_frames[0] : 0,
                  (unsigned long long)st.fragments_dropped, (unsigned long long)st.fragments);
    flp_stream_free(s);
    flp_client_free(c);
    mock_free(&m);
}
END_TEST

/* ---- acks, refusals, replays and clocks ---- */

static flp_stream_stats_t stats_of(flp_stream_t *s)
{
    flp_stream_stats_t st;
    ck_assert_int_eq(flp_stream_stats(s, &st), 0);
    return st;
}

/* Poll until the sender thread has done what pred checks; the bound is
 * far beyond what the work needs, it only ends a hung test. */
static int poll_until(int (*pred)(void *), void *arg)
{
    for (int i = 0; i < 6000 && !pred(arg); i++)
        usleep(5000);
    return pred(arg);
}

static int pred_persisted_1(void *s)
{
    return stats_of(s).fragments_persisted >= 1;
}

static int pred_persisted_3(void *s)
{
    return stats_of(s).fragments_persisted >= 3;
}

static int pred_one_drop(void *l)
{
    return n_dropped(l) >= 1;
}

static int pred_fragment_sent(mock_t *m)
{
    for (size_t i = 0; i < m->n_ev; i++)
        if (m->ev[i].op == EV_SEND && !is_session_header(m->ev[i].bytes, m->ev[i].n))
            return 1;
    return 0;
}

static uint32_t frames_reported(cb_log_t *l)
{
    pthread_mutex_lock(&l->mu);
    uint32_t n = 0;
    for (int i = 0; i < l->n_dropped && i < 64; i++)
        n += l->dropped_frames[i];
    pthread_mutex_unlock(&l->mu);
    return n;
}

static int flush_and_wait(flp_stream_t *s, mock_t *m)
{
    int rc = flp_stream_flush(s);
    ck_assert(mock_wait(m, pred_fragment_sent, 10000));
    return rc;
}

START_TEST(an_ack_is_read_as_json_not_searched)
{
    mock_t m;
    mock_init(&m, 1);
    flp_transport_t t = mock_transport(&m);
    flp_client_t *c = new_client(&t);
    cb_log_t log = {.mu = PTHREAD_MUTEX_INITIALIZER};
    flp_stream_t *s = new_stream(c, "v", 256 * 1024, 2000, NULL, &log);
    ck_assert_int_eq(put(s, T0_NS, 3000, 1), 0);
    ck_assert_int_eq(flush_and_wait(s, &m), 0);
    /* a member of a nested object is not the ack's own: a text search for
     * "FragmentTimecode" found the nested 1 and released nothing */
    char a[256];
    snprintf(a, sizeof a,
             "{\"EventType\":\"PERSISTED\",\"Detail\":{\"FragmentTimecode\":1},"
             "\"FragmentTimecode\":%lld,\"FragmentNumber\":\"91\"}",
             (long long)(T0_NS / 1000000));
    mock_ack(&m, a);
    ck_assert_msg(poll_until(pred_persisted_1, s), "the PERSISTED ack was not taken");
    flp_stream_free(s);
    flp_client_free(c);
    mock_free(&m);
}
END_TEST

START_TEST(frames_after_an_error_on_the_open_fragment_are_reported)
{
    mock_t m;
    mock_init(&m, 1);
    flp_transport_t t = mock_transport(&m);
    flp_client_t *c = new_client(&t);
    cb_log_t log = {.mu = PTHREAD_MUTEX_INITIALIZER};
    /* 10 s fragments: the first stays open while the server refuses it */
    flp_stream_t *s = new_stream(c, "v", 512 * 1024, 10000, NULL, &log);
    int64_t pts = T0_NS;
    ck_assert_int_eq(put(s, pts, 3000, 1), 0);
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(put(s, pts += 33000000LL, 1000, 0), 0);
    ck_assert(mock_wait(&m, pred_fragment_sent, 10000));
    char a[160];
    snprintf(a, sizeof a, "{\"EventType\":\"ERROR\",\"FragmentTimecode\":%lld,\"ErrorId\":4002}",
             (long long)(T0_NS / 1000000));
    mock_ack(&m, a);
    ck_assert(poll_until(pred_one_drop, &log));
    ck_assert_int_eq(frames_reported(&log), 3); /* the frames it had */
    /* three more frames of the refused fragment's picture group: they
     * cannot be sent, so each must be reported, not appended unseen */
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(put(s, pts += 33000000LL, 1000, 0), 0);
    ck_assert_msg(frames_reported(&log) == 6,
                  "frames put after the ERROR: %u of 3 reported through `dropped`",
                  frames_reported(&log) - 3);
    ck_assert_int_eq(stats_of(s).frames_dropped, 6);
    /* the next key frame starts a fragment that is sent */
    ck_assert_int_eq(put(s, pts += 33000000LL, 3000, 1), 0);
    ck_assert_int_eq(frames_reported(&log), 6);
    ck_assert_int_eq(flp_stream_flush(s), 0);
    ck_assert_int_eq(stats_of(s).fragments, 1);
    flp_stream_free(s);
    flp_client_free(c);
    mock_free(&m);
}
END_TEST

START_TEST(replayed_fragments_count_their_frames)
{
    char *dir = fl_test_mkdtemp("sdk-review");
    char path[512];
    snprintf(path, sizeof path, "%s/store.flp", dir);
    offline_run(path, "run-A", T0_NS); /* one fragment of 2 frames in the file */
    mock_t m;
    mock_init(&m, 1);
    flp_transport_t t = mock_transport(&m);
    flp_client_t *c = new_client(&t);
    cb_log_t log = {.mu = PTHREAD_MUTEX_INITIALIZER};
    flp_stream_t *s = new_stream(c, "run-B", 512 * 1024, 2000, path, &log);
    ck_assert(mock_wait(&m, pred_fragment_sent, 10000));
    char a[160];
    snprintf(a, sizeof a, "{\"EventType\":\"ERROR\",\"FragmentTimecode\":%lld,\"ErrorId\":4006}",
             (long long)(T0_NS / 1000000));
    mock_ack(&m, a);
    ck_assert(poll_until(pred_one_drop, &log));
    ck_assert_msg(log.dropped_frames[0] == 2, "a replayed fragment of 2 frames dropped as %u",
                  log.dropped_frames[0]);
    ck_assert_int_eq(stats_of(s).frames_dropped, 2);
    flp_stream_free(s);
    flp_client_free(c);
    mock_free(&m);
    fl_test_rmtree(dir);
}
END_TEST

START_TEST(a_clock_that_goes_back_continues_after_the_stored_fragments)
{
    char *dir = fl_test_mkdtemp("sdk-review");
    char path[512];
    snprintf(path, sizeof path, "%s/store.flp", dir);
    /* a run 100 s ahead left a fragment in the file; the camera restarts
     * with its clock set back */
    const int64_t ahead_ms = T0_NS / 1000000 + 100000;
    offline_run(path, "run-A", T0_NS + 100000 * 1000000LL);
    mock_t m;
    mock_init(&m, 1);
    m.auto_ack = 1;
    flp_transport_t t = mock_transport(&m);
    flp_client_t *c = new_client(&t);
    cb_log_t log = {.mu = PTHREAD_MUTEX_INITIALIZER};
    flp_stream_t *s = new_stream(c, "run-B", 512 * 1024, 2000, path, &log);
    int64_t pts = T0_NS;
    ck_assert_int_eq(put(s, pts, 3000, 1), 0);
    ck_assert_int_eq(put(s, pts += 33000000LL, 1000, 0), 0);
    ck_assert_int_eq(put(s, pts += 2000000000LL, 3000, 1), 0);
    ck_assert_int_eq(put(s, pts += 33000000LL, 1000, 0), 0);
    ck_assert_int_eq(flp_stream_flush(s), 0);
    ck_assert_msg(n_dropped(&log) == 0, "%d frames dropped after the clock went back",
                  n_dropped(&log));
    ck_assert_msg(poll_until(pred_persisted_3, s), "%llu of 3 fragments persisted",
                  (unsigned long long)stats_of(s).fragments_persisted);
    flp_stream_free(s);
    flp_client_free(c);
    /* timecodes went on after the stored fragment's last frame */
    ck_assert_int_eq(m.acked_tc[0], ahead_ms);
    ck_assert_int_gt(m.acked_tc[1], ahead_ms + 33);
    ck_assert_int_gt(m.acked_tc[2], m.acked_tc[1]);
    mock_free(&m);

    /* and the file released all three: nothing to resend at the next start */
    mock_init(&m, 0);
    t = mock_transport(&m);
    c = new_client(&t);
    s = new_stream(c, "run-C", 512 * 1024, 2000, path, &log);
    ck_assert_int_eq(stats_of(s).fragments, 0);
    flp_stream_free(s);
    flp_client_free(c);
    mock_free(&m);
    fl_test_rmtree(dir);
}
END_TEST

/* ---- a fragment acked before it is sealed in the file ---- */

#define N_SEALED 20

START_TEST(a_fragment_acked_while_it_is_sealed_is_released_from_the_file)
{
    char *dir = fl_test_mkdtemp("sdk-review");
    char path[512];
    snprintf(path, sizeof path, "%s/store.flp", dir);
    /* one CPU for this (forked) test process, so that the sender, once it
     * hands the file store's lock back to the sealing thread, runs on to
     * the next ack and its release before that thread gets the CPU */
    cpu_set_t all, one;
    ck_assert_int_eq(sched_getaffinity(0, sizeof all, &all), 0);
    CPU_ZERO(&one);
    for (int i = 0; i < CPU_SETSIZE; i++)
        if (CPU_ISSET(i, &all)) {
            CPU_SET(i, &one);
            break;
        }
    ck_assert_int_eq(sched_setaffinity(0, sizeof one, &one), 0);
    mock_t m;
    mock_init(&m, 1);
    m.auto_ack = 1; /* acked inside ws_send: as early as it can be */
    flp_transport_t t = mock_transport(&m);
    flp_client_t *c = new_client(&t);
    cb_log_t log = {.mu = PTHREAD_MUTEX_INITIALIZER};
    flp_stream_t *s = new_stream(c, "run-A", 512 * 1024, 2000, path, &log);
    /* and this thread (not the sender, started above) runs only when the
     * sender cannot: woken as the sender hands the lock back, it does not
     * preempt it */
    struct sched_param idle = {0};
    ck_assert_int_eq(sched_setscheduler(0, SCHED_IDLE, &idle), 0);
    /* flush wakes the sender as the fragment closes, then seals it into
     * the file without the stream's lock: the ack races the seal. Each
     * fragment is closed as soon as the previous one is acked, while the
     * sender releases that one (holding the file store's lock), so the
     * seal waits for the lock and the sender runs ahead to the next ack */
    int64_t pts = T0_NS;
    for (int i = 0; i < N_SEALED; i++, pts += 1000000000LL) {
        ck_assert_int_eq(put(s, pts, 3000, 1), 0);
        ck_assert_int_eq(flp_stream_flush(s), 0);
        while (stats_of(s).fragments_persisted < (uint64_t)i + 1)
            sched_yield(); /* the ack comes: the mock gives it at once */
    }
    ck_assert_int_eq(n_dropped(&log), 0);
    flp_stream_free(s);
    flp_client_free(c);
    mock_free(&m);

    /* every fragment was acked: the file has nothing left to resend */
    mock_init(&m, 0);
    t = mock_transport(&m);
    c = new_client(&t);
    s = new_stream(c, "run-B", 512 * 1024, 2000, path, &log);
    ck_assert_msg(stats_of(s).fragments == 0,
                  "%llu acked fragments were still in the file at the next start",
                  (unsigned long long)stats_of(s).fragments);
    flp_stream_free(s);
    flp_client_free(c);
    mock_free(&m);
    fl_test_rmtree(dir);
}
END_TEST

/* ---- a key frame refused for room, put again ---- */

static int64_t g_want_tc; /* for pred_sent_want: set before the wait */

static int pred_sent_want(mock_t *m)
{
    for (size_t i = 0; i < m->n_ev; i++)
        if (m->ev[i].op == EV_SEND && cluster_tc(m->ev[i].bytes, m->ev[i].n) == g_want_tc)
            return 1;
    return 0;
}

START_TEST(a_key_frame_refused_for_room_keeps_its_time_when_put_again)
{
    mock_t m;
    mock_init(&m, 1); /* connected, acks only when the test gives them */
    flp_transport_t t = mock_transport(&m);
    flp_client_t *c = new_client(&t);
    cb_log_t log = {.mu = PTHREAD_MUTEX_INITIALIZER};
    flp_track_t tr = {.number = 1,
                      .codec = FLP_CODEC_H264,
                      .nal_length_size = 4,
                      .codec_private = fake_avcc,
                      .codec_private_len = sizeof fake_avcc,
                      .name = "v",
                      .width = 320,
                      .height = 240};
    flp_stream_config_t sc = {.name = "review",
                              .tracks = &tr,
                              .n_tracks = 1,
                              .store_size = 256 * 1024,
                              .fragment_duration_ms = 0, /* a fragment per key frame */
                              .absolute_timestamps = 1,
                              .full_policy = FLP_BLOCK,
                              .block_timeout_ms = 50,
                              .callbacks = {.dropped = on_dropped, .ctx = &log}};
    flp_stream_t *s = NULL;
    ck_assert_int_eq(flp_stream_new(c, &sc, &s), 0);
    /* 40 KB key frames until one is refused: the store holds 6 */
    int64_t pts = T0_NS;
    int rc = 0, n = 0;
    for (; n < 100 && (rc = put(s, pts, 40000, 1)) == 0; n++)
        pts += 40 * 1000000LL;
    ck_assert_int_eq(rc, FLP_ENOSPC);
    ck_assert_int_ge(n, 2);
    /* the server acks them all; the camera puts the refused frame again */
    for (int i = 0; i < n; i++) {
        char a[160];
        snprintf(a, sizeof a,
                 "{\"EventType\":\"PERSISTED\",\"FragmentTimecode\":%lld,"
                 "\"FragmentNumber\":\"%d\"}",
                 (long long)(T0_NS / 1000000 + 40 * i), i + 1);
        mock_ack(&m, a);
    }
    ck_assert_int_eq(put(s, pts, 40000, 1), 0); /* waits for the acks */
    ck_assert_int_eq(flp_stream_flush(s), 0);
    /* its fragment is the next one, at its own time: the refusal left no
     * empty fragment behind that took that time (and went to the server) */
    g_want_tc = pts / 1000000;
    ck_assert(mock_wait(&m, pred_sent_want, 60000));
    pthread_mutex_lock(&m.mu);
    int sent_at_tc = 0, sent_after = 0;
    for (size_t i = 0; i < m.n_ev; i++)
        if (m.ev[i].op == EV_SEND) {
            int64_t tc = cluster_tc(m.ev[i].bytes, m.ev[i].n);
            sent_at_tc += tc == g_want_tc;
            sent_after += tc > g_want_tc;
        }
    pthread_mutex_unlock(&m.mu);
    ck_assert_msg(sent_at_tc == 1 && sent_after == 0,
                  "fragments sent at the refused frame's time: %d, after it: %d", sent_at_tc,
                  sent_after);
    ck_assert_uint_eq(stats_of(s).fragments, (uint64_t)n + 1);
    ck_assert_int_eq(n_dropped(&log), 1); /* the refusal, reported once */
    flp_stream_free(s);
    flp_client_free(c);
    mock_free(&m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("sdk_review");
    TCase *tc = tcase_create("sender");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, a_fragment_dropped_during_its_first_send_cuts_the_connection);
    tcase_add_test(tc, stop_with_nothing_to_send_does_not_wait_for_the_backoff);
    suite_add_tcase(s, tc);
    TCase *tf = tcase_create("store");
    tcase_set_timeout(tf, 60);
    tcase_add_test(tf, replayed_fragments_go_after_their_own_session_header);
    tcase_add_test(tf, a_store_sized_fragment_is_ended_not_dropped);
    tcase_add_test(tf, a_key_frame_refused_for_room_keeps_its_time_when_put_again);
    suite_add_tcase(s, tf);
    TCase *ta = tcase_create("acks");
    tcase_set_timeout(ta, 120);
    tcase_add_test(ta, an_ack_is_read_as_json_not_searched);
    tcase_add_test(ta, frames_after_an_error_on_the_open_fragment_are_reported);
    tcase_add_test(ta, replayed_fragments_count_their_frames);
    tcase_add_test(ta, a_clock_that_goes_back_continues_after_the_stored_fragments);
    tcase_add_test(ta, a_fragment_acked_while_it_is_sealed_is_released_from_the_file);
    suite_add_tcase(s, ta);
    return fl_test_main(s);
}
