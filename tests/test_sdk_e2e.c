/*
 * tests/test_sdk_e2e.c — the producer SDK (libframelog-producer) end to end
 * against the real framelogd: real H.264, H.265 and AAC frames (ffmpeg-made,
 * read with libavformat) go in through flp_stream_put_frame(), come back out
 * of GetMedia, and are compared frame by frame (bytes, ms timestamps, key
 * flags, order). Then the faults a camera lives with: the server killed and
 * restarted on the same port, a link that drops, stalls and throttles (a
 * TCP proxy, tests/tcp_proxy.h), a store that fills up under either full
 * policy, the producer itself killed with -9 and started again on its
 * file-backed store (tests/sdk_producer_child.c), and the errors the
 * header promises.
 *
 * What "the same frames" means here (see sdk_test_frames.h): timestamps
 * are whole ms before they go in (pts_ns = ms * 1e6, absolute_timestamps=1),
 * so they must come out equal; video given as Annex-B comes back
 * length-prefixed, so it is compared NAL unit by NAL unit, parameter sets
 * and AUDs aside; video given length-prefixed with the file's own
 * avcC/hvcC must come back byte for byte with that CodecPrivate. Frames are
 * compared per track in order (how the SDK interleaves tracks within a
 * cluster is its own business). "Exactly once": no cluster timecode twice,
 * every frame once.
 *
 * Each test runs in its own forked process (Check) with its own server on a
 * free loopback port; the media files are made once per run in g_media_dir.
 * FL_SDK_LOG=0..3 prints the SDK's log lines (error..debug) on stderr.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "framelog/producer.h"
#include "media/nal.h"
#include "media_harness.h"
#include "sdk_test_frames.h"
#include "tcp_proxy.h"

static char *g_media_dir;

/* ---- small helpers ---- */

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long long ms)
{
    if (ms > 0)
        usleep((useconds_t)(ms * 1000));
}

static void load_media(sdk_media_kind_t kind, sdk_media_t *m)
{
    char path[4200];
    ck_assert_int_eq(sdk_media_make(g_media_dir, kind, path, sizeof path), 0);
    ck_assert_int_eq(sdk_media_load(path, m), 0);
}

/* A loopback port that nothing listens on (bound, read, closed). */
static int unused_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof a;
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &al), 0);
    close(fd);
    return ntohs(a.sin_port);
}

static const char *conn_name(flp_conn_state_t s)
{
    static const char *const n[] = {"CONNECTING", "CONNECTED", "DISCONNECTED", "STOPPED"};
    return (unsigned)s < 4 ? n[s] : "?";
}

/* ---- processes this test starts: gone even when an assertion fails ----
 *
 * A failed ck_assert ends the forked test with exit(), past the test's own
 * clean-up; an atexit() handler then kills what is still registered, so no
 * framelogd or producer outlives its test. */

static fl_test_proc_t *g_procs[8];

static void kill_registered(void)
{
    for (size_t i = 0; i < 8; i++)
        if (g_procs[i] && g_procs[i]->pid > 0) {
            kill(g_procs[i]->pid, SIGKILL);
            waitpid(g_procs[i]->pid, NULL, 0);
        }
}

static void proc_register(fl_test_proc_t *p)
{
    static int once;
    if (!once++)
        atexit(kill_registered);
    for (size_t i = 0; i < 8; i++)
        if (!g_procs[i] || g_procs[i] == p) {
            g_procs[i] = p;
            return;
        }
}

static void proc_unregister(fl_test_proc_t *p)
{
    for (size_t i = 0; i < 8; i++)
        if (g_procs[i] == p)
            g_procs[i] = NULL;
}

static void server_start(fl_test_server_t *s, const char *data_dir, char *const extra[])
{
    fl_test_server_start(s, data_dir, extra);
    proc_register(&s->proc);
}

static void server_free(fl_test_server_t *s)
{
    proc_unregister(&s->proc);
    fl_test_server_free(s);
}

static void child_spawn(fl_test_proc_t *p, char *const argv[])
{
    ck_assert_int_eq(fl_test_spawn(p, argv, NULL), 0);
    proc_register(p);
}

static void child_free(fl_test_proc_t *p)
{
    proc_unregister(p);
    fl_test_proc_free(p);
}

/* ---- what the callbacks saw ---- */

#define REC_MAX 2048

typedef struct {
    pthread_mutex_t mu; /* guards everything below: callbacks run on the sender thread */
    int ready;
    int acks[5];                /* per flp_ack_type_t */
    int64_t persisted[REC_MAX]; /* timecodes of PERSISTED acks, in order */
    char numbers[REC_MAX][48];  /* their fragment numbers */
    size_t n_persisted;
    int ack_error_id; /* of the last ERROR ack */
    int errors, last_err, last_error_id;
    char last_msg[512];
    size_t n_dropped; /* dropped() calls */
    int64_t dropped_tc[REC_MAX];
    uint32_t dropped_n[REC_MAX];
    int dropped_sent_whole[REC_MAX]; /* why: it was sent whole before the drop */
    uint64_t dropped_frames;
    char dropped_why[160];
    int pressure_on, pressure_off;
    int latency_on, latency_off;
    size_t n_conn;
    flp_conn_state_t conn[REC_MAX];
    int conn_err[REC_MAX];
} rec_t;

static int g_verbose;

static void rec_init(rec_t *r)
{
    memset(r, 0, sizeof *r);
    pthread_mutex_init(&r->mu, NULL);
}

static void cb_ready(void *ctx)
{
    rec_t *r = ctx;
    pthread_mutex_lock(&r->mu);
    r->ready++;
    pthread_mutex_unlock(&r->mu);
}

static void cb_ack(void *ctx, flp_ack_type_t type, int64_t tc, const char *number, int error_id)
{
    rec_t *r = ctx;
    pthread_mutex_lock(&r->mu);
    if ((unsigned)type < 5)
        r->acks[type]++;
    if (type == FLP_ACK_PERSISTED && r->n_persisted < REC_MAX) {
        r->persisted[r->n_persisted] = tc;
        snprintf(r->numbers[r->n_persisted], 48, "%s", number ? number : "");
        r->n_persisted++;
    }
    if (type == FLP_ACK_ERROR)
        r->ack_error_id = error_id;
    pthread_mutex_unlock(&r->mu);
    if (type == FLP_ACK_ERROR || g_verbose >= 3)
        fprintf(stderr, "[cb] ack %d tc %lld number %s error %d\n", (int)type, (long long)tc,
                number ? number : "(null)", error_id);
}

static void cb_error(void *ctx, int err, int error_id, const char *msg)
{
    rec_t *r = ctx;
    pthread_mutex_lock(&r->mu);
    r->errors++;
    r->last_err = err;
    r->last_error_id = error_id;
    snprintf(r->last_msg, sizeof r->last_msg, "%s", msg ? msg : "(null)");
    pthread_mutex_unlock(&r->mu);
    fprintf(stderr, "[cb] error %d (%s) id %d: %s\n", err, flp_strerror(err), error_id,
            msg ? msg : "(null)");
}

static void cb_dropped(void *ctx, int64_t tc, uint32_t n_frames, const char *why)
{
    rec_t *r = ctx;
    pthread_mutex_lock(&r->mu);
    if (r->n_dropped < REC_MAX) {
        r->dropped_tc[r->n_dropped] = tc;
        r->dropped_n[r->n_dropped] = n_frames;
        r->dropped_sent_whole[r->n_dropped] = why && strstr(why, "sent whole") != NULL;
    }
    r->n_dropped++;
    r->dropped_frames += n_frames;
    snprintf(r->dropped_why, sizeof r->dropped_why, "%s", why ? why : "(null)");
    pthread_mutex_unlock(&r->mu);
    if (g_verbose >= 2)
        fprintf(stderr, "[cb] dropped %u frames from %lld: %s\n", n_frames, (long long)tc,
                why ? why : "(null)");
}

static void cb_buffer(void *ctx, int pressure, size_t used, size_t size)
{
    rec_t *r = ctx;
    pthread_mutex_lock(&r->mu);
    if (pressure)
        r->pressure_on++;
    else
        r->pressure_off++;
    pthread_mutex_unlock(&r->mu);
    if (g_verbose >= 2)
        fprintf(stderr, "[cb] buffer pressure %d: %zu of %zu\n", pressure, used, size);
}

static void cb_latency(void *ctx, int pressure, int64_t age_ms)
{
    rec_t *r = ctx;
    pthread_mutex_lock(&r->mu);
    if (pressure)
        r->latency_on++;
    else
        r->latency_off++;
    pthread_mutex_unlock(&r->mu);
    if (g_verbose >= 2)
        fprintf(stderr, "[cb] latency pressure %d: %lld ms\n", pressure, (long long)age_ms);
}

static void cb_connection(void *ctx, flp_conn_state_t state, int err)
{
    rec_t *r = ctx;
    pthread_mutex_lock(&r->mu);
    if (r->n_conn < REC_MAX) {
        r->conn[r->n_conn] = state;
        r->conn_err[r->n_conn] = err;
        r->n_conn++;
    }
    pthread_mutex_unlock(&r->mu);
    if (g_verbose >= 1)
        fprintf(stderr, "[cb] connection %s err %d (%s)\n", conn_name(state), err,
                flp_strerror(err));
}

static flp_callbacks_t rec_callbacks(rec_t *r)
{
    flp_callbacks_t cb = {cb_ready,  cb_ack,     cb_error,      cb_dropped,
                          cb_buffer, cb_latency, cb_connection, r};
    return cb;
}

/* Connection events of a state (err: any when 1). */
static int rec_conn_count(rec_t *r, flp_conn_state_t state, int err)
{
    int n = 0;
    pthread_mutex_lock(&r->mu);
    for (size_t i = 0; i < r->n_conn; i++)
        if (r->conn[i] == state && (err == 1 || r->conn_err[i] == err))
            n++;
    pthread_mutex_unlock(&r->mu);
    return n;
}

/* Is there a CONNECTED after a DISCONNECTED that came after a CONNECTED? */
static int rec_reconnected(rec_t *r)
{
    int stage = 0;
    pthread_mutex_lock(&r->mu);
    for (size_t i = 0; i < r->n_conn; i++) {
        if (stage == 0 && r->conn[i] == FLP_CONN_CONNECTED)
            stage = 1;
        else if (stage == 1 && r->conn[i] == FLP_CONN_DISCONNECTED)
            stage = 2;
        else if (stage == 2 && r->conn[i] == FLP_CONN_CONNECTED)
            stage = 3;
    }
    pthread_mutex_unlock(&r->mu);
    return stage == 3;
}

static size_t rec_persisted(rec_t *r)
{
    pthread_mutex_lock(&r->mu);
    size_t n = r->n_persisted;
    pthread_mutex_unlock(&r->mu);
    return n;
}

/* ---- the SDK side ---- */

static void sdk_log(void *ctx, flp_log_level_t level, const char *line)
{
    (void)ctx;
    fprintf(stderr, "[sdk %d] %s\n", (int)level, line);
}

/* Allocator hooks that count the calls ("nothing is allocated per frame
 * after flp_stream_new"). */
typedef struct {
    pthread_mutex_t mu;
    long calls; /* malloc + realloc */
} alloc_count_t;

static void *count_malloc(void *ctx, size_t n)
{
    alloc_count_t *a = ctx;
    pthread_mutex_lock(&a->mu);
    a->calls++;
    pthread_mutex_unlock(&a->mu);
    return malloc(n);
}

static void *count_realloc(void *ctx, void *p, size_t n)
{
    alloc_count_t *a = ctx;
    pthread_mutex_lock(&a->mu);
    a->calls++;
    pthread_mutex_unlock(&a->mu);
    return realloc(p, n);
}

static void count_free(void *ctx, void *p)
{
    (void)ctx;
    free(p);
}

static long alloc_calls(alloc_count_t *a)
{
    pthread_mutex_lock(&a->mu);
    long n = a->calls;
    pthread_mutex_unlock(&a->mu);
    return n;
}

/* A client of the server on port; counted allocations when a != NULL. */
static flp_client_t *new_client_alloc(int port, alloc_count_t *a)
{
    char endpoint[64];
    snprintf(endpoint, sizeof endpoint, "http://127.0.0.1:%d", port);
    flp_client_config_t cc;
    memset(&cc, 0, sizeof cc);
    cc.endpoint = endpoint;
    flp_allocator_t al = {count_malloc, count_realloc, count_free, a};
    if (a)
        cc.allocator = &al;
    if (getenv("FL_SDK_LOG")) {
        cc.log = sdk_log;
        cc.log_level = (flp_log_level_t)atoi(getenv("FL_SDK_LOG"));
    }
    flp_client_t *c = NULL;
    int rc = flp_client_new(&cc, &c);
    ck_assert_msg(rc == 0, "flp_client_new: %d (%s)", rc, flp_strerror(rc));
    return c;
}

static flp_client_t *new_client(int port)
{
    return new_client_alloc(port, NULL);
}

static void make_stream(flp_client_t *c, const char *name)
{
    char msg[512] = "";
    int rc = flp_create_stream(c, name, "video/h264", 24, msg, sizeof msg);
    ck_assert_msg(rc == 0, "flp_create_stream(%s): %d (%s) %s", name, rc, flp_strerror(rc), msg);
}

/* A stream's configuration for a media file: its video (Annex-B, or
 * length-prefixed with the file's CodecPrivate when lp) and its audio. */
typedef struct {
    flp_track_t tracks[2];
    flp_stream_config_t cfg;
} setup_t;

static void setup_init(setup_t *su, const sdk_media_t *m, const char *name, int lp, rec_t *rec)
{
    memset(su, 0, sizeof *su);
    flp_track_t *v = &su->tracks[0];
    v->number = 1;
    v->codec = m->video_codec == 2 ? FLP_CODEC_H265 : FLP_CODEC_H264;
    v->name = "video";
    if (lp) {
        v->nal_length_size = m->nal_length_size;
        v->codec_private = m->video_private;
        v->codec_private_len = m->video_private_len;
    }
    size_t n = 1;
    if (m->has_audio) {
        flp_track_t *a = &su->tracks[n++];
        a->number = 2;
        a->codec = FLP_CODEC_AAC;
        a->name = "audio";
        a->codec_private = m->audio_private;
        a->codec_private_len = m->audio_private_len;
        a->sample_rate = m->sample_rate;
        a->channels = m->channels;
    }
    su->cfg.name = name;
    su->cfg.tracks = su->tracks;
    su->cfg.n_tracks = n;
    su->cfg.absolute_timestamps = 1;
    su->cfg.full_policy = FLP_DROP_OLDEST;
    su->cfg.callbacks = rec_callbacks(rec);
}

static flp_stream_t *new_stream(flp_client_t *c, const setup_t *su)
{
    flp_stream_t *s = NULL;
    int rc = flp_stream_new(c, &su->cfg, &s);
    ck_assert_msg(rc == 0, "flp_stream_new(%s): %d (%s)", su->cfg.name, rc, flp_strerror(rc));
    return s;
}

/* One line of a stream's stats on stderr, for the log of a run. */
static void note_stats(const char *what, flp_stream_t *s)
{
    flp_stream_stats_t st;
    if (flp_stream_stats(s, &st) != 0)
        return;
    fprintf(stderr,
            "[%s] frames_put %llu fragments %llu persisted %llu dropped %llu (%llu frames) "
            "connects %llu resent %llu bytes_sent %llu store %zu/%zu heap %zu\n",
            what, (unsigned long long)st.frames_put, (unsigned long long)st.fragments,
            (unsigned long long)st.fragments_persisted, (unsigned long long)st.fragments_dropped,
            (unsigned long long)st.frames_dropped, (unsigned long long)st.connects,
            (unsigned long long)st.resent_fragments, (unsigned long long)st.bytes_sent,
            st.store_used, st.store_size, st.heap_bytes);
}

/* What went in: one entry per frame put_frame() took. */
typedef struct {
    uint32_t track;
    int64_t pts_ms; /* absolute */
    int keyframe;
    const uint8_t *data; /* as in the file (video length-prefixed) */
    size_t size;
} sent_t;

typedef struct {
    sent_t *v;
    size_t n, cap;
} sent_log_t;

static void sent_add(sent_log_t *l, uint32_t track, int64_t pts_ms, const sdk_frame_t *f)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 512;
        l->v = realloc(l->v, l->cap * sizeof *l->v);
        ck_assert_ptr_nonnull(l->v);
    }
    l->v[l->n++] = (sent_t){track, pts_ms, f->keyframe, f->data, f->size};
}

/* Put frame f of m with its times shifted by base_ms (absolute, ms), as
 * Annex-B when annexb and it is video. Returns put_frame's answer. */
static int put_one(flp_stream_t *s, const sdk_media_t *m, const sdk_frame_t *f, int64_t base_ms,
                   int annexb, fl_buf_t *scratch)
{
    flp_frame_t fr;
    memset(&fr, 0, sizeof fr);
    fr.track = f->track;
    fr.pts_ns = (base_ms + f->pts_ms) * 1000000;
    fr.dts_ns = (base_ms + f->dts_ms) * 1000000;
    fr.duration_ns = f->duration_ms * 1000000;
    fr.keyframe = f->keyframe;
    fr.data = f->data;
    fr.size = f->size;
    if (annexb && f->track == 1) {
        fl_buf_reset(scratch);
        ck_assert_int_eq(sdk_media_annexb(m, f, scratch), 0);
        fr.data = scratch->p;
        fr.size = scratch->n;
    }
    return flp_stream_put_frame(s, &fr);
}

/* GetMedia from EARLIEST into a file in dir, parsed. */
static void get_media(const fl_test_server_t *srv, const char *stream, const char *dir,
                      sdk_out_t *out)
{
    char path[4300];
    snprintf(path, sizeof path, "%s/%s.mkv", dir, stream);
    get_media_earliest(srv, stream, path);
    int rc = sdk_out_read(path, out);
    ck_assert_msg(rc == 0, "GetMedia output of %s does not parse: %s", stream, out->err_text);
}

static int video_codec_of(const sdk_media_t *m)
{
    return m->video_codec == 2 ? FLP_CODEC_H265 : FLP_CODEC_H264;
}

/* Every cluster timecode once, growing. */
static void check_clusters_grow(const sdk_out_t *o)
{
    for (size_t i = 1; i < o->n_clusters; i++)
        ck_assert_msg(o->cluster_ms[i] > o->cluster_ms[i - 1],
                      "cluster %zu has timecode %lld after %lld: a duplicate or going back", i,
                      (long long)o->cluster_ms[i], (long long)o->cluster_ms[i - 1]);
}

/* The output holds exactly the frames of sent (per track, in order): same
 * ms timestamps, key flags (video), bytes (audio exactly; video NAL unit by
 * NAL unit, and byte for byte too when exact). */
static void check_same_frames(const sdk_out_t *o, const sent_log_t *sent, const sdk_media_t *m,
                              int exact)
{
    int codec = video_codec_of(m);
    for (uint32_t track = 1; track <= 2; track++) {
        unsigned out_len_size = track == 1 ? sdk_out_len_size(o, 1, codec) : 0;
        size_t i = 0, j = 0, k = 0;
        for (;; k++) {
            while (i < sent->n && sent->v[i].track != track)
                i++;
            while (j < o->n && o->frames[j].track != track)
                j++;
            if (i == sent->n || j == o->n) {
                ck_assert_msg(i == sent->n && j == o->n,
                              "track %u: %s after %zu frames (next in: pts %lld; next out: pts "
                              "%lld)",
                              track, i == sent->n ? "more frames out than in" : "frames missing", k,
                              i < sent->n ? (long long)sent->v[i].pts_ms : -1LL,
                              j < o->n ? (long long)o->frames[j].pts_ms : -1LL);
                break;
            }
            const sent_t *a = &sent->v[i];
            const sdk_out_frame_t *b = &o->frames[j];
            ck_assert_msg(a->pts_ms == b->pts_ms,
                          "track %u frame %zu: pts %lld in, %lld out (frames lost, doubled or "
                          "moved)",
                          track, k, (long long)a->pts_ms, (long long)b->pts_ms);
            if (track == 1)
                ck_assert_msg(a->keyframe == b->keyframe, "frame %zu (pts %lld): key %d in, %d out",
                              k, (long long)a->pts_ms, a->keyframe, b->keyframe);
            if (track == 2 || exact) {
                ck_assert_msg(a->size == b->size && memcmp(a->data, b->data, a->size) == 0,
                              "track %u frame %zu (pts %lld): bytes differ (%zu in, %zu out)",
                              track, k, (long long)a->pts_ms, a->size, b->size);
            } else {
                char why[200] = "";
                ck_assert_msg(sdk_same_nal_units(codec, fl_slice(a->data, a->size),
                                                 m->nal_length_size, fl_slice(b->data, b->size),
                                                 out_len_size, why, sizeof why),
                              "frame %zu (pts %lld): %s", k, (long long)a->pts_ms, why);
            }
            i++;
            j++;
        }
    }
}

/* The first frame of every cluster that holds video is a key frame, and
 * clusters and key frames are as many. */
static void check_clusters_start_at_keys(const sdk_out_t *o, const sent_log_t *sent)
{
    size_t keys = 0;
    for (size_t i = 0; i < sent->n; i++)
        keys += sent->v[i].track == 1 && sent->v[i].keyframe;
    ck_assert_msg(o->n_clusters == keys, "%zu clusters for %zu key frames", o->n_clusters, keys);
    size_t last = (size_t)-1;
    for (size_t j = 0; j < o->n; j++) {
        if (o->frames[j].track != 1 || o->frames[j].cluster == last)
            continue;
        last = o->frames[j].cluster;
        ck_assert_msg(o->frames[j].keyframe, "cluster %zu starts with a non-key video frame", last);
    }
}

static const char *codec_id_of(int codec)
{
    return codec == FLP_CODEC_H265 ? "V_MPEGH/ISO/HEVC" : "V_MPEG4/ISO/AVC";
}

/* ---- a. SDK -> server -> GetMedia ---- */

/* Put every frame of m (audio from the first video key frame on) into a
 * new stream as fast as put_frame takes them; stop; compare GetMedia. */
static void put_file_and_compare(fl_test_server_t *srv, flp_client_t *c, alloc_count_t *alloc,
                                 const sdk_media_t *m, const char *name, int lp, const char *dir)
{
    rec_t rec;
    rec_init(&rec);
    setup_t su;
    setup_init(&su, m, name, lp, &rec);
    make_stream(c, name);
    flp_stream_t *s = new_stream(c, &su);

    int64_t base = wall_ms() - 60000;
    sent_log_t sent = {0};
    fl_buf_t scratch;
    fl_buf_init(&scratch, 0);
    int64_t first_key_pts = -1;
    long allocs_before = 0;
    for (size_t i = 0; i < m->n; i++) {
        const sdk_frame_t *f = &m->frames[i];
        if (f->track == 1 && f->keyframe && first_key_pts < 0)
            first_key_pts = f->pts_ms;
        if (f->track == 2 && (first_key_pts < 0 || f->pts_ms < first_key_pts))
            continue; /* audio before the first video key frame: a camera waits too */
        int rc = put_one(s, m, f, base, !lp, &scratch);
        ck_assert_msg(rc == 0, "%s: put_frame %zu (track %u, pts %lld): %d (%s)", name, i, f->track,
                      (long long)f->pts_ms, rc, flp_strerror(rc));
        sent_add(&sent, f->track, base + f->pts_ms, f);
        if (sent.n == 1) {
            /* connected and sending: from here on, no allocation per frame */
            long long deadline = fl_test_now_ms() + 10000;
            while (fl_test_now_ms() < deadline) {
                pthread_mutex_lock(&rec.mu);
                int ready = rec.ready;
                pthread_mutex_unlock(&rec.mu);
                if (ready)
                    break;
                sleep_ms(10);
            }
            allocs_before = alloc_calls(alloc);
        }
    }
    long allocs_after = alloc_calls(alloc);
    fl_buf_free(&scratch);
    int rc = flp_stream_stop(s, 30000);
    ck_assert_msg(rc == 0, "%s: flp_stream_stop: %d (%s)", name, rc, flp_strerror(rc));

    size_t keys = 0;
    for (size_t i = 0; i < sent.n; i++)
        keys += sent.v[i].track == 1 && sent.v[i].keyframe;
    flp_stream_stats_t st;
    ck_assert_int_eq(flp_stream_stats(s, &st), 0);
    ck_assert_uint_eq(st.frames_put, sent.n);
    ck_assert_msg(st.fragments == keys, "%s: stats.fragments %llu, key frames %zu", name,
                  (unsigned long long)st.fragments, keys);
    ck_assert_uint_eq(st.fragments_persisted, st.fragments);
    ck_assert_uint_eq(st.fragments_dropped, 0);
    ck_assert_uint_eq(st.frames_dropped, 0);
    ck_assert_uint_ge(st.connects, 1);
    ck_assert_uint_gt(st.bytes_sent, 0);
    ck_assert_uint_le(st.store_used, st.store_size);
    note_stats(name, s);
    flp_stream_free(s);

    ck_assert_msg(allocs_after == allocs_before,
                  "%s: %ld allocations through the allocator hooks while %zu frames were put", name,
                  allocs_after - allocs_before, sent.n - 1);
    pthread_mutex_lock(&rec.mu);
    ck_assert_int_ge(rec.ready, 1);
    ck_assert_msg(rec.n_persisted == keys, "%s: %zu PERSISTED acks for %zu fragments", name,
                  rec.n_persisted, keys);
    ck_assert_int_eq(rec.acks[FLP_ACK_ERROR], 0);
    ck_assert_int_eq(rec.n_dropped, 0);
    pthread_mutex_unlock(&rec.mu);

    sdk_out_t o;
    get_media(srv, name, dir, &o);
    ck_assert_int_eq(o.n_headers, 1);
    check_clusters_grow(&o);
    check_clusters_start_at_keys(&o, &sent);
    /* the acks name the fragments GetMedia returns */
    ck_assert_uint_eq(o.n_clusters, rec.n_persisted);
    for (size_t i = 0; i < o.n_clusters; i++)
        ck_assert_msg(o.cluster_ms[i] == rec.persisted[i],
                      "%s: fragment %zu: PERSISTED ack for %lld, cluster at %lld", name, i,
                      (long long)rec.persisted[i], (long long)o.cluster_ms[i]);
    ck_assert_uint_eq(o.n_numbers, rec.n_persisted);
    for (size_t i = 0; i < o.n_numbers; i++)
        ck_assert_str_eq(o.numbers[i], rec.numbers[i]);
    /* tracks */
    int codec = video_codec_of(m);
    ck_assert_uint_eq(o.n_tracks, m->has_audio ? 2 : 1);
    ck_assert_uint_eq(o.tracks[0].number, 1);
    ck_assert_str_eq(o.tracks[0].codec_id, codec_id_of(codec));
    if (lp)
        ck_assert_msg(
            o.tracks[0].codec_private_len == m->video_private_len &&
                memcmp(o.tracks[0].codec_private, m->video_private, m->video_private_len) == 0,
            "%s: CodecPrivate differs from the one given (%zu vs %zu bytes)", name,
            o.tracks[0].codec_private_len, m->video_private_len);
    if (m->has_audio) {
        ck_assert_uint_eq(o.tracks[1].number, 2);
        ck_assert_str_eq(o.tracks[1].codec_id, "A_AAC");
        ck_assert_msg(
            o.tracks[1].codec_private_len == m->audio_private_len &&
                memcmp(o.tracks[1].codec_private, m->audio_private, m->audio_private_len) == 0,
            "%s: AAC CodecPrivate differs", name);
    }
    check_same_frames(&o, &sent, m, lp && sdk_out_len_size(&o, 1, codec) == m->nal_length_size);
    sdk_out_free(&o);
    free(sent.v);
}

/* Replace m's video CodecPrivate by one rebuilt from its parameter sets
 * alone: x265 puts an SEI array with its settings string (2.4 KB) into the
 * hvcC, past the SDK's documented 1 KiB per track (docs/sdk.md), which
 * real_x265_codec_private_is_taken checks on its own. */
static void strip_codec_private(sdk_media_t *m)
{
    fl_nal_config_t cfg;
    fl_nal_codec_t codec = m->video_codec == 2 ? FL_NAL_H265 : FL_NAL_H264;
    ck_assert_int_eq(
        fl_nal_config_parse(codec, fl_slice(m->video_private, m->video_private_len), &cfg), 0);
    fl_buf_t b;
    fl_buf_init(&b, 0);
    ck_assert_int_eq(fl_nal_config_build(&cfg, &b), 0);
    free(m->video_private);
    m->video_private = b.p; /* the buffer's bytes, now owned by m */
    m->video_private_len = b.n;
}

static void put_get_kind(sdk_media_kind_t kind, const char *tag)
{
    sdk_media_t m;
    load_media(kind, &m);
    if (kind == SDK_MEDIA_H265)
        strip_codec_private(&m);
    char *dir = fl_test_mkdtemp("sdk-a");
    fl_test_server_t srv;
    server_start(&srv, NULL, NULL);
    alloc_count_t alloc = {PTHREAD_MUTEX_INITIALIZER, 0};
    flp_client_t *c = new_client_alloc(srv.port, &alloc);
    char name[64];
    snprintf(name, sizeof name, "%s-annexb", tag);
    put_file_and_compare(&srv, c, &alloc, &m, name, 0, dir);
    snprintf(name, sizeof name, "%s-lp", tag);
    put_file_and_compare(&srv, c, &alloc, &m, name, 1, dir);
    flp_client_free(c);
    server_free(&srv);
    fl_test_rmtree(dir);
    sdk_media_free(&m);
}

START_TEST(h264_frames_come_back_the_same)
{
    put_get_kind(SDK_MEDIA_H264, "h264");
}
END_TEST

START_TEST(h265_frames_come_back_the_same)
{
    put_get_kind(SDK_MEDIA_H265, "h265");
}
END_TEST

START_TEST(h264_and_aac_frames_come_back_the_same)
{
    put_get_kind(SDK_MEDIA_H264_AAC, "h264aac");
}
END_TEST

START_TEST(real_x265_codec_private_is_taken)
{
    /* the hvcC that ffmpeg's libx265 writes, SEI array and all */
    sdk_media_t m;
    load_media(SDK_MEDIA_H265, &m);
    flp_client_t *c = new_client(unused_port());
    rec_t rec;
    rec_init(&rec);
    setup_t su;
    setup_init(&su, &m, "x265", 1, &rec);
    flp_stream_t *s = NULL;
    int rc = flp_stream_new(c, &su.cfg, &s);
    if (rc == 0)
        flp_stream_free(s);
    flp_client_free(c);
    ck_assert_msg(rc == 0, "flp_stream_new with x265's own %zu-byte hvcC: %d (%s)",
                  m.video_private_len, rc, flp_strerror(rc));
    sdk_media_free(&m);
}
END_TEST

/* ---- real-time producer used by the fault tests ---- */

/* Video of m looped, put at its own pace (frame i at t0 + its dts) from
 * frame *next until the monotonic clock reaches until_ms. Every accepted
 * frame is logged. Returns the number of put_frame failures (their last
 * code in *last_err). */
typedef struct {
    flp_stream_t *s;
    const sdk_media_t *m;
    int64_t base_ms; /* wall-clock ms of the file's time 0 */
    long long t0;    /* monotonic ms of the file's time 0 */
    uint64_t next;   /* next frame of the loop */
    int annexb;
    sent_log_t sent;
    fl_buf_t scratch;
    int failures, last_err;
    int64_t last_key_pts; /* absolute pts of the last key frame taken */
} pacer_t;

static void pacer_init(pacer_t *p, flp_stream_t *s, const sdk_media_t *m, int annexb)
{
    memset(p, 0, sizeof *p);
    p->s = s;
    p->m = m;
    p->annexb = annexb;
    p->base_ms = wall_ms();
    p->t0 = fl_test_now_ms();
    p->last_key_pts = -1;
    fl_buf_init(&p->scratch, 0);
}

static void pacer_free(pacer_t *p)
{
    fl_buf_free(&p->scratch);
    free(p->sent.v);
}

static void pacer_run(pacer_t *p, long long until_ms)
{
    for (;;) {
        int64_t shift;
        const sdk_frame_t *f = sdk_media_loop(p->m, p->next, &shift);
        long long due = p->t0 + shift + f->dts_ms;
        if (due >= until_ms)
            return;
        sleep_ms(due - fl_test_now_ms());
        int rc = put_one(p->s, p->m, f, p->base_ms + shift, p->annexb, &p->scratch);
        if (rc == 0) {
            sent_add(&p->sent, 1, p->base_ms + shift + f->pts_ms, f);
            if (f->keyframe)
                p->last_key_pts = p->base_ms + shift + f->pts_ms;
        } else {
            p->failures++;
            p->last_err = rc;
        }
        p->next++;
    }
}

/* Run the pacer for ms from now. */
static void pacer_for(pacer_t *p, long long ms)
{
    pacer_run(p, fl_test_now_ms() + ms);
}

/* ---- b. the server killed and restarted on the same port ---- */

START_TEST(server_killed_and_restarted_loses_nothing)
{
    sdk_media_t m;
    load_media(SDK_MEDIA_H264, &m);
    char *dir = fl_test_mkdtemp("sdk-b");
    char *data = fl_test_mkdtemp("sdk-b-data");
    fl_test_server_t srv;
    server_start(&srv, data, NULL);
    int port = srv.port;
    flp_client_t *c = new_client(port);
    make_stream(c, "restart");
    rec_t rec;
    rec_init(&rec);
    setup_t su;
    setup_init(&su, &m, "restart", 0, &rec);
    flp_stream_t *s = new_stream(c, &su);

    pacer_t p;
    pacer_init(&p, s, &m, 1);
    pacer_for(&p, 3500);
    ck_assert_msg(rec_persisted(&rec) >= 1, "nothing PERSISTED after 3.5 s of real time");
    /* what was acked PERSISTED before the kill must survive it */
    pthread_mutex_lock(&rec.mu);
    size_t n_before = rec.n_persisted;
    int64_t before[REC_MAX];
    memcpy(before, rec.persisted, n_before * sizeof *before);
    pthread_mutex_unlock(&rec.mu);

    fl_test_server_kill(&srv);
    server_free(&srv);
    pacer_for(&p, 2500); /* the outage: frames keep coming */
    char listen[64];
    snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
    char *extra[] = {"--listen", listen, NULL};
    server_start(&srv, data, extra);
    pacer_for(&p, 3000);
    ck_assert_int_eq(p.failures, 0);

    int rc = flp_stream_stop(s, 30000);
    ck_assert_msg(rc == 0, "flp_stream_stop: %d (%s)", rc, flp_strerror(rc));
    ck_assert_msg(rec_reconnected(&rec), "no CONNECTED, DISCONNECTED, CONNECTED sequence");
    flp_stream_stats_t st;
    ck_assert_int_eq(flp_stream_stats(s, &st), 0);
    ck_assert_uint_ge(st.connects, 2);
    ck_assert_uint_eq(st.fragments_dropped, 0);
    ck_assert_uint_eq(st.fragments_persisted, st.fragments);
    note_stats("restart", s);
    flp_stream_free(s);
    flp_client_free(c);

    sdk_out_t o;
    get_media(&srv, "restart", dir, &o);
    check_clusters_grow(&o);
    for (size_t i = 0; i < n_before; i++) {
        int found = 0;
        for (size_t j = 0; j < o.n_clusters; j++)
            found |= o.cluster_ms[j] == before[i];
        ck_assert_msg(found, "fragment %lld, PERSISTED before the kill, is gone",
                      (long long)before[i]);
    }
    check_same_frames(&o, &p.sent, &m, 0);
    check_clusters_start_at_keys(&o, &p.sent);
    sdk_out_free(&o);
    pacer_free(&p);
    server_free(&srv);
    fl_test_rmtree(data);
    fl_test_rmtree(dir);
    sdk_media_free(&m);
}
END_TEST

/* ---- c. a link that drops, stalls and throttles ---- */

/* A producer behind the fault proxy: the big H.264 media, a server, the
 * proxy in front of it, a client through the proxy with its stream made,
 * the callbacks' record and the stream's setup. The case frees the client
 * (before it checks what came back); proxied_end the rest. */
typedef struct {
    sdk_media_t m;
    char *dir;
    fl_test_server_t srv;
    tcp_proxy_t *px;
    flp_client_t *c;
    rec_t rec;
    setup_t su;
} proxied_t;

static void proxied_start(proxied_t *fx, const char *tag, const char *stream)
{
    load_media(SDK_MEDIA_H264_BIG, &fx->m);
    fx->dir = fl_test_mkdtemp(tag);
    server_start(&fx->srv, NULL, NULL);
    fx->px = NULL;
    ck_assert_int_eq(tcp_proxy_start(fx->srv.port, &fx->px), 0);
    fx->c = new_client(tcp_proxy_port(fx->px));
    make_stream(fx->c, stream);
    rec_init(&fx->rec);
    setup_init(&fx->su, &fx->m, stream, 0, &fx->rec);
}

static void proxied_end(proxied_t *fx)
{
    tcp_proxy_stop(fx->px);
    server_free(&fx->srv);
    fl_test_rmtree(fx->dir);
    sdk_media_free(&fx->m);
}

START_TEST(drop_stall_throttle_recover_exactly_once)
{
    proxied_t fx;
    proxied_start(&fx, "sdk-c", "flaky");
    fx.su.cfg.latency_pressure_ms = 1500; /* fragments are 0.5 s; the outages 2 and 3 s */
    flp_stream_t *s = new_stream(fx.c, &fx.su);

    pacer_t p;
    pacer_init(&p, s, &fx.m, 1);
    pacer_for(&p, 1500);
    ck_assert_msg(rec_persisted(&fx.rec) >= 1, "nothing PERSISTED after 1.5 s");

    tcp_proxy_set_mode(fx.px, TCP_PROXY_DROP, 0);
    pacer_for(&p, 2000);
    tcp_proxy_set_mode(fx.px, TCP_PROXY_PASS, 0);
    ck_assert_msg(rec_conn_count(&fx.rec, FLP_CONN_DISCONNECTED, 1) >= 1,
                  "2 s of dropped connections and no DISCONNECTED");
    pacer_for(&p, 1500);

    tcp_proxy_set_mode(fx.px, TCP_PROXY_STALL, 0);
    pacer_for(&p, 3000);
    tcp_proxy_set_mode(fx.px, TCP_PROXY_PASS, 0);
    pacer_for(&p, 1500);

    tcp_proxy_stats_t a, b;
    tcp_proxy_stats(fx.px, &a);
    long long t_thr = fl_test_now_ms();
    tcp_proxy_set_mode(fx.px, TCP_PROXY_THROTTLE, 200000);
    pacer_for(&p, 2500);
    tcp_proxy_stats(fx.px, &b);
    long long thr_ms = fl_test_now_ms() - t_thr;
    tcp_proxy_set_mode(fx.px, TCP_PROXY_PASS, 0);
    /* the proxy held the rate (1/10 s of burst and one buffer of slack) */
    ck_assert_msg(b.bytes_up - a.bytes_up <= (uint64_t)(200000 * thr_ms / 1000 + 20000 + 65536),
                  "throttle let %llu bytes through in %lld ms",
                  (unsigned long long)(b.bytes_up - a.bytes_up), thr_ms);
    pacer_for(&p, 1000);
    ck_assert_int_eq(p.failures, 0);

    int rc = flp_stream_stop(s, 30000);
    ck_assert_msg(rc == 0, "flp_stream_stop: %d (%s)", rc, flp_strerror(rc));
    flp_stream_stats_t st;
    ck_assert_int_eq(flp_stream_stats(s, &st), 0);
    ck_assert_uint_eq(st.fragments_dropped, 0);
    ck_assert_uint_eq(st.fragments_persisted, st.fragments);
    ck_assert_uint_ge(st.connects, 2);
    note_stats("flaky", s);
    flp_stream_free(s);
    flp_client_free(fx.c);
    pthread_mutex_lock(&fx.rec.mu);
    ck_assert_int_eq(fx.rec.n_dropped, 0);
    ck_assert_msg(fx.rec.latency_on > 0,
                  "no latency_pressure(1) in 2 and 3 s outages (limit 1.5 s)");
    ck_assert_msg(fx.rec.latency_off > 0, "no latency_pressure(0) after the outages");
    pthread_mutex_unlock(&fx.rec.mu);

    sdk_out_t o;
    get_media(&fx.srv, "flaky", fx.dir, &o);
    check_clusters_grow(&o);
    check_same_frames(&o, &p.sent, &fx.m, 0);
    check_clusters_start_at_keys(&o, &p.sent);
    sdk_out_free(&o);
    pacer_free(&p);
    proxied_end(&fx);
}
END_TEST

/* The fragments of a video-only log: [start, end) index ranges. */
typedef struct {
    size_t start, end;
    int64_t tc; /* pts of its key frame */
    int dropped;
    int sent_whole; /* dropped() said it was sent whole before */
} frag_t;

static size_t split_fragments(const sent_log_t *l, frag_t *f, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < l->n; i++) {
        if (l->v[i].keyframe || n == 0) {
            ck_assert_uint_lt(n, cap);
            f[n++] = (frag_t){i, i + 1, l->v[i].pts_ms, 0, 0};
        } else {
            f[n - 1].end = i + 1;
        }
    }
    return n;
}

START_TEST(full_store_drops_oldest_fragments_and_says_so)
{
    proxied_t fx;
    proxied_start(&fx, "sdk-c2", "small");
    fx.su.cfg.store_size = 256 * 1024;
    fx.su.cfg.full_policy = FLP_DROP_OLDEST;
    flp_stream_t *s = new_stream(fx.c, &fx.su);

    pacer_t p;
    pacer_init(&p, s, &fx.m, 1);
    pacer_for(&p, 1000);
    int64_t last_key_before_outage = p.last_key_pts;
    tcp_proxy_set_mode(fx.px, TCP_PROXY_DROP, 0);
    pacer_for(&p, 4000); /* ~1 MB at 2 Mbit/s into a 256 KiB store */
    tcp_proxy_set_mode(fx.px, TCP_PROXY_PASS, 0);
    pacer_for(&p, 1500);
    ck_assert_msg(p.failures == 0, "put_frame failed %d times under FLP_DROP_OLDEST: %d (%s)",
                  p.failures, p.last_err, flp_strerror(p.last_err));

    int rc = flp_stream_stop(s, 30000);
    ck_assert_msg(rc == 0, "flp_stream_stop: %d (%s)", rc, flp_strerror(rc));
    flp_stream_stats_t st;
    ck_assert_int_eq(flp_stream_stats(s, &st), 0);
    note_stats("small", s);
    flp_stream_free(s);
    flp_client_free(fx.c);

    pthread_mutex_lock(&fx.rec.mu);
    ck_assert_msg(fx.rec.n_dropped > 0, "no dropped() callback");
    ck_assert_msg(fx.rec.pressure_on > 0, "no buffer_pressure(1) callback");
    ck_assert_msg(fx.rec.pressure_off > 0,
                  "no buffer_pressure(0) callback after the store drained");
    ck_assert_uint_gt(st.fragments_dropped, 0);
    ck_assert_uint_eq(st.fragments_dropped, fx.rec.n_dropped);
    ck_assert_uint_eq(st.frames_dropped, fx.rec.dropped_frames);
    ck_assert_uint_eq(st.fragments_persisted + st.fragments_dropped, st.fragments);

    /* the fragments reported dropped, found in what was put */
    frag_t frags[512];
    size_t nf = split_fragments(&p.sent, frags, 512);
    for (size_t d = 0; d < fx.rec.n_dropped && d < REC_MAX; d++) {
        size_t k = 0;
        while (k < nf && frags[k].tc != fx.rec.dropped_tc[d])
            k++;
        ck_assert_msg(k < nf, "dropped() names fragment %lld, which was never put",
                      (long long)fx.rec.dropped_tc[d]);
        ck_assert_msg(!frags[k].dropped, "fragment %lld reported dropped twice",
                      (long long)frags[k].tc);
        ck_assert_msg(frags[k].end - frags[k].start == fx.rec.dropped_n[d],
                      "fragment %lld: dropped() says %u frames, it had %zu", (long long)frags[k].tc,
                      fx.rec.dropped_n[d], frags[k].end - frags[k].start);
        frags[k].dropped = 1;
        frags[k].sent_whole = fx.rec.dropped_sent_whole[d];
    }
    pthread_mutex_unlock(&fx.rec.mu);

    sdk_out_t o;
    get_media(&fx.srv, "small", fx.dir, &o);
    check_clusters_grow(&o);
    /* A fragment whose bytes all left before the DROP may be on the server
     * although its ack was lost and the SDK later dropped it: allow such
     * fragments from before the outage, and any that dropped() said had
     * been sent whole (after the outage the resend of the oldest fragment
     * races the drops that make room for new frames). Every other dropped
     * one is absent. */
    int present_dropped = 0, present_unflagged = 0;
    for (size_t k = 0; k < nf; k++) {
        if (!frags[k].dropped)
            continue;
        for (size_t j = 0; j < o.n_clusters; j++) {
            if (o.cluster_ms[j] != frags[k].tc)
                continue;
            ck_assert_msg(frags[k].tc <= last_key_before_outage || frags[k].sent_whole,
                          "fragment %lld was reported dropped (not sent whole) but GetMedia "
                          "has it",
                          (long long)frags[k].tc);
            frags[k].dropped = 0; /* then it counts as delivered */
            present_dropped++;
            present_unflagged += !frags[k].sent_whole;
        }
    }
    fprintf(stderr, "[small] %zu dropped() calls, %zu of %zu fragments dropped and absent\n",
            fx.rec.n_dropped, fx.rec.n_dropped - (size_t)present_dropped, nf);
    ck_assert_int_le(present_unflagged, 1);
    sent_log_t expect = {0};
    for (size_t k = 0; k < nf; k++)
        for (size_t i = frags[k].start; i < frags[k].end && !frags[k].dropped; i++)
            sent_add(&expect, 1, p.sent.v[i].pts_ms,
                     &(sdk_frame_t){1, 0, 0, 0, p.sent.v[i].keyframe, (uint8_t *)p.sent.v[i].data,
                                    p.sent.v[i].size});
    ck_assert_uint_lt(expect.n, p.sent.n);
    check_same_frames(&o, &expect, &fx.m, 0);
    sdk_out_free(&o);
    free(expect.v);
    pacer_free(&p);
    proxied_end(&fx);
}
END_TEST

START_TEST(full_store_blocks_then_enospc)
{
    proxied_t fx;
    proxied_start(&fx, "sdk-c3", "block");
    tcp_proxy_set_mode(fx.px, TCP_PROXY_DROP, 0); /* an outage from the start */
    fx.su.cfg.store_size = 256 * 1024;
    fx.su.cfg.full_policy = FLP_BLOCK;
    fx.su.cfg.block_timeout_ms = 400;
    flp_stream_t *s = new_stream(fx.c, &fx.su);

    /* as fast as put_frame takes them: the store fills, put_frame waits
     * block_timeout_ms and gives up with FLP_ENOSPC */
    int64_t base = wall_ms() - 60000;
    sent_log_t sent = {0};
    fl_buf_t scratch;
    fl_buf_init(&scratch, 0);
    uint64_t i = 0;
    int rc = 0;
    long long took = 0;
    size_t bytes = 0;
    for (; i < 10 * fx.m.n_video; i++) {
        int64_t shift;
        const sdk_frame_t *f = sdk_media_loop(&fx.m, i, &shift);
        long long t = fl_test_now_ms();
        rc = put_one(s, &fx.m, f, base + shift, 1, &scratch);
        took = fl_test_now_ms() - t;
        if (rc != 0)
            break;
        sent_add(&sent, 1, base + shift + f->pts_ms, f);
        bytes += f->size;
    }
    fprintf(stderr, "[block] %zu frames (%zu bytes) taken, then %d after %lld ms\n", sent.n, bytes,
            rc, took);
    ck_assert_msg(rc == FLP_ENOSPC, "put_frame %llu: %d (%s), expected FLP_ENOSPC",
                  (unsigned long long)i, rc, flp_strerror(rc));
    ck_assert_msg(took >= 300 && took < 3000, "FLP_ENOSPC after %lld ms (block_timeout_ms 400)",
                  took);
    ck_assert_msg(bytes <= 256 * 1024, "%zu bytes taken by a 256 KiB store", bytes);
    /* FLP_BLOCK never drops a stored fragment; the refused frame may be
     * reported by dropped() ("frames refused before they were stored") */
    int64_t refused_pts;
    {
        int64_t shift;
        refused_pts = base + sdk_media_loop(&fx.m, i, &shift)->pts_ms;
        refused_pts += shift;
    }
    flp_stream_stats_t st;
    ck_assert_int_eq(flp_stream_stats(s, &st), 0);
    ck_assert_uint_eq(st.fragments_dropped, 0);
    pthread_mutex_lock(&fx.rec.mu);
    ck_assert_msg(fx.rec.n_dropped <= 1, "%zu dropped() calls for one refused frame",
                  fx.rec.n_dropped);
    if (fx.rec.n_dropped == 1)
        ck_assert_msg(fx.rec.dropped_n[0] == 1 && fx.rec.dropped_tc[0] == refused_pts,
                      "dropped(%lld, %u, \"%s\") for the refused frame at %lld",
                      (long long)fx.rec.dropped_tc[0], fx.rec.dropped_n[0], fx.rec.dropped_why,
                      (long long)refused_pts);
    pthread_mutex_unlock(&fx.rec.mu);

    /* the link comes back: the store drains and takes frames again (a
     * camera skips to the next key frame) */
    tcp_proxy_set_mode(fx.px, TCP_PROXY_PASS, 0);
    while (!sdk_media_loop(&fx.m, i, &(int64_t){0})->keyframe)
        i++;
    for (uint64_t end = i + 2 * 15; i < end; i++) {
        int64_t shift;
        const sdk_frame_t *f = sdk_media_loop(&fx.m, i, &shift);
        for (int tries = 0; tries < 50; tries++) {
            rc = put_one(s, &fx.m, f, base + shift, 1, &scratch);
            if (rc != FLP_ENOSPC)
                break;
        }
        ck_assert_msg(rc == 0, "after the outage, put_frame: %d (%s)", rc, flp_strerror(rc));
        sent_add(&sent, 1, base + shift + f->pts_ms, f);
    }
    fl_buf_free(&scratch);
    rc = flp_stream_stop(s, 30000);
    ck_assert_msg(rc == 0, "flp_stream_stop: %d (%s)", rc, flp_strerror(rc));
    note_stats("block", s);
    flp_stream_free(s);
    flp_client_free(fx.c);

    sdk_out_t o;
    get_media(&fx.srv, "block", fx.dir, &o);
    check_clusters_grow(&o);
    check_same_frames(&o, &sent, &fx.m, 0);
    sdk_out_free(&o);
    free(sent.v);
    proxied_end(&fx);
}
END_TEST

/* ---- d. the producer killed with -9, restarted on its file store ---- */

/* The last complete "put <frames> <fragments>" line of the child's stdout. */
static int child_progress(fl_test_proc_t *pr, long long *base, unsigned long *frames,
                          unsigned long *frags)
{
    char *out = fl_test_proc_stdout(pr);
    int got = 0;
    char *line = out;
    while (line && *line) {
        char *nl = strchr(line, '\n');
        if (!nl)
            break; /* incomplete last line */
        *nl = 0;
        unsigned long a, b;
        long long bb;
        if (sscanf(line, "base %lld", &bb) == 1)
            *base = bb;
        else if (sscanf(line, "put %lu %lu", &a, &b) == 2) {
            *frames = a;
            *frags = b;
            got = 1;
        }
        line = nl + 1;
    }
    free(out);
    return got;
}

START_TEST(killed_producer_resends_its_file_store)
{
    sdk_media_t m;
    load_media(SDK_MEDIA_H264, &m);
    char media[4200];
    ck_assert_int_eq(sdk_media_make(g_media_dir, SDK_MEDIA_H264, media, sizeof media), 0);
    char *dir = fl_test_mkdtemp("sdk-d");
    fl_test_server_t srv;
    server_start(&srv, NULL, NULL);
    tcp_proxy_t *px = NULL;
    ck_assert_int_eq(tcp_proxy_start(srv.port, &px), 0);
    flp_client_t *c = new_client(srv.port);
    make_stream(c, "dashcam");
    flp_client_free(c);
    tcp_proxy_set_mode(px, TCP_PROXY_DROP, 0); /* nothing gets acked */

    char endpoint[64], store[4300];
    snprintf(endpoint, sizeof endpoint, "http://127.0.0.1:%d", tcp_proxy_port(px));
    snprintf(store, sizeof store, "%s/store.bin", dir);
    char *put_argv[] = {
        FL_BINARY_DIR "/tests/sdk_producer_child", "put", endpoint, "dashcam", store, media, NULL};
    fl_test_proc_t pr;
    child_spawn(&pr, put_argv);
    long long base = -1;
    unsigned long frames = 0, frags = 0;
    long long deadline = fl_test_now_ms() + 20000;
    while (fl_test_now_ms() < deadline) {
        if (child_progress(&pr, &base, &frames, &frags) && frags >= 3)
            break;
        ck_assert_msg(fl_test_wait(&pr, 0) == -1, "the producer exited: %s",
                      fl_test_proc_stderr(&pr));
        sleep_ms(20);
    }
    /* kill -9 in the middle of the next fragment; the last line the child
     * printed before it says how many fragments were closed in the store */
    sleep_ms(400);
    kill(pr.pid, SIGKILL);
    fl_test_wait(&pr, 5000);
    child_progress(&pr, &base, &frames, &frags);
    child_free(&pr);
    ck_assert_msg(frags >= 3, "the producer closed only %lu fragments in 20 s", frags);
    ck_assert_int_ge(base, 0);

    /* the link is back; the producer starts again and only resends */
    tcp_proxy_set_mode(px, TCP_PROXY_PASS, 0);
    char nfrag[32];
    snprintf(nfrag, sizeof nfrag, "%lu", frags);
    char *resume_argv[] = {FL_BINARY_DIR "/tests/sdk_producer_child",
                           "resume",
                           endpoint,
                           "dashcam",
                           store,
                           media,
                           nfrag,
                           NULL};
    child_spawn(&pr, resume_argv);
    int status = fl_test_wait(&pr, 60000);
    char *cout = fl_test_proc_stdout(&pr), *cerr = fl_test_proc_stderr(&pr);
    ck_assert_msg(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "resume failed (status %d): %s\n%s", status, cout, cerr);
    free(cout);
    free(cerr);
    child_free(&pr);

    /* What must be there: the frames of the first `frags` fragments the
     * child put (closed in the store before the kill). The fragment that
     * was open at the kill was never in the file, so it may be missing; a
     * fragment closed after the last line we read may be there too. So the
     * output is the frames put, from the first, up to a fragment border at
     * or after fragment `frags`. */
    sent_log_t sent = {0};
    frag_t f[64];
    for (uint64_t i = 0; i < frames; i++) {
        int64_t shift;
        const sdk_frame_t *fr = sdk_media_loop(&m, i, &shift);
        sent_add(&sent, 1, base + shift + fr->pts_ms, fr);
    }
    size_t nf = split_fragments(&sent, f, 64);
    sdk_out_t o;
    get_media(&srv, "dashcam", dir, &o);
    fprintf(stderr, "[dashcam] killed after %lu frames, %lu fragments closed; %zu arrived\n",
            frames, frags, o.n_clusters);
    check_clusters_grow(&o);
    ck_assert_msg(o.n_clusters >= frags, "%zu fragments arrived, %lu were closed in the store",
                  o.n_clusters, frags);
    ck_assert_msg(o.n_clusters <= nf, "%zu fragments arrived, only %zu were put", o.n_clusters, nf);
    sent.n = o.n_clusters < nf ? f[o.n_clusters].start : sent.n;
    check_same_frames(&o, &sent, &m, 0);
    sdk_out_free(&o);
    free(sent.v);
    tcp_proxy_stop(px);
    server_free(&srv);
    fl_test_rmtree(dir);
    sdk_media_free(&m);
}
END_TEST

/* ---- e. errors ---- */

/* Wait up to ms for an error callback; whether one came. */
static int wait_errors(rec_t *r, long long ms)
{
    long long deadline = fl_test_now_ms() + ms;
    for (;;) {
        pthread_mutex_lock(&r->mu);
        int errors = r->errors;
        pthread_mutex_unlock(&r->mu);
        if (errors || fl_test_now_ms() >= deadline)
            return errors > 0;
        sleep_ms(20);
    }
}

START_TEST(missing_stream_is_reported)
{
    fl_test_server_t srv;
    server_start(&srv, NULL, NULL);
    flp_client_t *c = new_client(srv.port);
    flp_stream_info_t info;
    char msg[512] = "";
    ck_assert_int_eq(flp_describe_stream(c, "nope", &info, msg, sizeof msg), FLP_ENOTFOUND);
    /* an existing one is described */
    make_stream(c, "yes");
    ck_assert_int_eq(flp_describe_stream(c, "yes", &info, msg, sizeof msg), 0);
    ck_assert_str_eq(info.name, "yes");
    ck_assert_str_eq(info.status, "ACTIVE");
    ck_assert_uint_eq(info.retention_hours, 24);
    ck_assert_int_eq(flp_create_stream(c, "yes", "video/h264", 24, msg, sizeof msg), FLP_EEXISTS);

    sdk_media_t m;
    load_media(SDK_MEDIA_H264, &m);
    rec_t rec;
    rec_init(&rec);
    setup_t su;
    setup_init(&su, &m, "nope", 0, &rec);
    flp_stream_t *s = NULL;
    int rc = flp_stream_new(c, &su.cfg, &s);
    if (rc == 0) {
        /* the sender thread connects at start (before any frame) and finds
         * out: the error callback with the server's message. Should it
         * not, a key frame is put after 5 s, to tell "connects lazily"
         * from "never says". */
        int early = wait_errors(&rec, 5000);
        int conns_early = rec_conn_count(&rec, FLP_CONN_CONNECTING, 1);
        if (!early) {
            fl_buf_t scratch;
            fl_buf_init(&scratch, 0);
            ck_assert_int_eq(put_one(s, &m, &m.frames[0], wall_ms(), 1, &scratch), 0);
            fl_buf_free(&scratch);
            wait_errors(&rec, 10000);
        }
        pthread_mutex_lock(&rec.mu);
        ck_assert_msg(rec.errors > 0, "no error callback for a missing stream in 15 s");
        ck_assert_msg(strstr(rec.last_msg, "ResourceNotFound") != NULL,
                      "error callback: %d (%s), id %d, \"%s\"", rec.last_err,
                      flp_strerror(rec.last_err), rec.last_error_id, rec.last_msg);
        ck_assert_int_eq(rec.ready, 0);
        pthread_mutex_unlock(&rec.mu);
        ck_assert_msg(early,
                      "the error came only after a frame was put: in the 5 s before, %d "
                      "CONNECTING events (the header says the sender thread connects at start)",
                      conns_early);
        ck_assert_int_eq(rec_conn_count(&rec, FLP_CONN_CONNECTED, 1), 0);
        flp_stream_free(s);
    } else {
        ck_assert_msg(rc == FLP_ENOTFOUND, "flp_stream_new on a missing stream: %d (%s)", rc,
                      flp_strerror(rc));
    }
    sdk_media_free(&m);
    flp_client_free(c);
    server_free(&srv);
}
END_TEST

START_TEST(unreachable_server_is_retried)
{
    int port = unused_port();
    flp_client_t *c = new_client(port);
    char msg[512] = "";
    int rc = flp_create_stream(c, "x", "video/h264", 24, msg, sizeof msg);
    ck_assert_msg(rc == FLP_ECONNECT, "flp_create_stream on a closed port: %d (%s)", rc,
                  flp_strerror(rc));
    sdk_media_t m;
    load_media(SDK_MEDIA_H264, &m);
    rec_t rec;
    rec_init(&rec);
    setup_t su;
    setup_init(&su, &m, "x", 0, &rec);
    flp_stream_t *s = new_stream(c, &su);
    /* frames are taken meanwhile: they wait in the store */
    fl_buf_t scratch;
    fl_buf_init(&scratch, 0);
    int64_t base = wall_ms();
    for (size_t i = 0; i < 40; i++)
        if (m.frames[i].track == 1)
            ck_assert_int_eq(put_one(s, &m, &m.frames[i], base, 1, &scratch), 0);
    fl_buf_free(&scratch);
    long long deadline = fl_test_now_ms() + 12000;
    while (fl_test_now_ms() < deadline && rec_conn_count(&rec, FLP_CONN_DISCONNECTED, 1) < 2)
        sleep_ms(20);
    int n_econnect = rec_conn_count(&rec, FLP_CONN_DISCONNECTED, FLP_ECONNECT);
    int n_any = rec_conn_count(&rec, FLP_CONN_DISCONNECTED, 1);
    ck_assert_msg(n_econnect >= 2,
                  "in 12 s: %d DISCONNECTED with FLP_ECONNECT, %d DISCONNECTED in all "
                  "(one attempt and one retry expected)",
                  n_econnect, n_any);
    ck_assert_int_eq(rec_conn_count(&rec, FLP_CONN_CONNECTED, 1), 0);
    flp_stream_stats_t st;
    ck_assert_int_eq(flp_stream_stats(s, &st), 0);
    ck_assert_uint_eq(st.connects, 0);
    ck_assert_uint_gt(st.store_used, 0);
    /* stop cannot succeed; it gives up in time */
    long long t = fl_test_now_ms();
    rc = flp_stream_stop(s, 1000);
    ck_assert_msg(rc == FLP_ETIMEDOUT, "flp_stream_stop with no server: %d (%s)", rc,
                  flp_strerror(rc));
    ck_assert_int_lt(fl_test_now_ms() - t, 3000);
    t = fl_test_now_ms();
    flp_stream_free(s);
    ck_assert_int_lt(fl_test_now_ms() - t, 3000);
    sdk_media_free(&m);
    flp_client_free(c);
}
END_TEST

START_TEST(bad_frames_are_refused)
{
    fl_test_server_t srv;
    server_start(&srv, NULL, NULL);
    flp_client_t *c = new_client(srv.port);
    make_stream(c, "bad");
    sdk_media_t m;
    load_media(SDK_MEDIA_H264, &m);
    rec_t rec;
    rec_init(&rec);
    setup_t su;
    setup_init(&su, &m, "bad", 0, &rec);
    flp_stream_t *s = new_stream(c, &su);
    fl_buf_t scratch;
    fl_buf_init(&scratch, 0);
    int64_t base = wall_ms() - 60000;

    /* video frames of the file, in order: [0] is the key frame */
    const sdk_frame_t *v[8];
    size_t nv = 0;
    for (size_t i = 0; i < m.n && nv < 8; i++)
        if (m.frames[i].track == 1)
            v[nv++] = &m.frames[i];
    ck_assert(v[0]->keyframe && !v[1]->keyframe);

    /* no key frame yet */
    int rc = put_one(s, &m, v[1], base, 1, &scratch);
    ck_assert_msg(rc == FLP_EINVAL, "a first frame that is not a key frame: %d (%s)", rc,
                  flp_strerror(rc));
    /* an unknown track */
    sdk_frame_t other = *v[0];
    other.track = 3;
    rc = put_one(s, &m, &other, base, 1, &scratch);
    ck_assert_msg(rc == FLP_EINVAL, "a frame of track 3 (undeclared): %d (%s)", rc,
                  flp_strerror(rc));
    /* now a key frame, then the next ones */
    ck_assert_int_eq(put_one(s, &m, v[0], base, 1, &scratch), 0);
    ck_assert_int_eq(put_one(s, &m, v[1], base, 1, &scratch), 0);
    ck_assert_int_eq(put_one(s, &m, v[2], base, 1, &scratch), 0);
    /* time going back (dts before the last one) */
    rc = put_one(s, &m, v[3], base - 5000, 1, &scratch);
    ck_assert_msg(rc == FLP_EINVAL, "a frame 5 s back in time: %d (%s)", rc, flp_strerror(rc));
    /* an empty frame */
    flp_frame_t empty = {1, (base + 200) * 1000000, (base + 200) * 1000000, 0, 0, NULL, 0};
    rc = flp_stream_put_frame(s, &empty);
    ck_assert_msg(rc == FLP_EINVAL, "an empty frame: %d (%s)", rc, flp_strerror(rc));
    ck_assert_int_eq(put_one(s, &m, v[3], base, 1, &scratch), 0);

    rc = flp_stream_stop(s, 30000);
    ck_assert_msg(rc == 0, "flp_stream_stop: %d (%s)", rc, flp_strerror(rc));
    /* stopped: nothing more is taken */
    rc = put_one(s, &m, v[4], base, 1, &scratch);
    ck_assert_msg(rc == FLP_ECLOSED, "put_frame after stop: %d (%s)", rc, flp_strerror(rc));
    flp_stream_stats_t st;
    ck_assert_int_eq(flp_stream_stats(s, &st), 0);
    ck_assert_uint_eq(st.frames_put, 4);
    ck_assert_uint_eq(st.fragments_persisted, 1);
    flp_stream_free(s);
    fl_buf_free(&scratch);

    /* bad configurations */
    setup_t bad;
    setup_init(&bad, &m, "bad", 0, &rec);
    bad.cfg.n_tracks = 0;
    ck_assert_int_eq(flp_stream_new(c, &bad.cfg, &s), FLP_EINVAL);
    setup_init(&bad, &m, "bad", 0, &rec);
    bad.cfg.store_size = 1024; /* under 256 KiB */
    ck_assert_int_eq(flp_stream_new(c, &bad.cfg, &s), FLP_EINVAL);
    setup_init(&bad, &m, "bad", 0, &rec);
    bad.tracks[1] = bad.tracks[0]; /* two tracks numbered 1 */
    bad.cfg.n_tracks = 2;
    ck_assert_int_eq(flp_stream_new(c, &bad.cfg, &s), FLP_EINVAL);
    ck_assert_ptr_nonnull(flp_strerror(12345));
    ck_assert_ptr_nonnull(flp_strerror(FLP_ECONNECT));

    /* flagged key, but its NAL units are no IDR picture ("the SDK also
     * checks the NAL units"): not a key frame, so no first frame either */
    make_stream(c, "liar");
    setup_init(&su, &m, "liar", 0, &rec);
    s = new_stream(c, &su);
    fl_buf_init(&scratch, 0);
    sdk_frame_t liar = *v[1];
    liar.keyframe = 1;
    fl_buf_reset(&scratch);
    /* Annex-B with the parameter sets in front, as a camera sends a key frame */
    ck_assert_int_eq(sdk_media_annexb(&m, &liar, &scratch), 0);
    flp_frame_t lf = {
        1,        (base + liar.pts_ms) * 1000000, (base + liar.dts_ms) * 1000000, 0, 1, scratch.p,
        scratch.n};
    rc = flp_stream_put_frame(s, &lf);
    fl_buf_free(&scratch);
    flp_stream_free(s);
    ck_assert_msg(rc == FLP_EINVAL, "a non-IDR access unit flagged as key frame: %d (%s)", rc,
                  flp_strerror(rc));

    sdk_media_free(&m);
    flp_client_free(c);
    server_free(&srv);
}
END_TEST

int main(void)
{
    g_verbose = getenv("FL_SDK_VERBOSE") ? atoi(getenv("FL_SDK_VERBOSE")) : 1;
    signal(SIGPIPE, SIG_IGN);
    g_media_dir = fl_test_mkdtemp("sdk-media");
    if (!g_media_dir)
        return EXIT_FAILURE;
    Suite *s = suite_create("sdk_e2e");
    TCase *a = tcase_create("put_get");
    tcase_set_timeout(a, 90);
    tcase_add_test(a, h264_frames_come_back_the_same);
    tcase_add_test(a, h265_frames_come_back_the_same);
    tcase_add_test(a, h264_and_aac_frames_come_back_the_same);
    tcase_add_test(a, real_x265_codec_private_is_taken);
    suite_add_tcase(s, a);
    TCase *f = tcase_create("faults");
    tcase_set_timeout(f, 120);
    tcase_add_test(f, server_killed_and_restarted_loses_nothing);
    tcase_add_test(f, drop_stall_throttle_recover_exactly_once);
    tcase_add_test(f, full_store_drops_oldest_fragments_and_says_so);
    tcase_add_test(f, full_store_blocks_then_enospc);
    tcase_add_test(f, killed_producer_resends_its_file_store);
    suite_add_tcase(s, f);
    TCase *e = tcase_create("errors");
    tcase_set_timeout(e, 60);
    tcase_add_test(e, missing_stream_is_reported);
    tcase_add_test(e, unreachable_server_is_retried);
    tcase_add_test(e, bad_frames_are_refused);
    suite_add_tcase(s, e);
    int rc = fl_test_main(s);
    fl_test_rmtree(g_media_dir);
    return rc;
}
