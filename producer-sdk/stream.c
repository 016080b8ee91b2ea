/*
 * producer-sdk/stream.c — a stream: frames in, Matroska fragments into the
 * content store (store.h), and the sender thread that sends them over the
 * transport's WebSocket to PutMedia, reads the acks and reconnects.
 *
 * The byte stream a connection carries (docs/sdk.md):
 *
 *   session header   EBML header, Segment (unknown size), Info, Tracks
 *   per fragment     [Tags: the user's metadata tags]
 *                    Cluster (unknown size): Timecode (ms since the epoch),
 *                    SimpleBlocks (timecodes relative to the Cluster's)
 *                    Tags: AWS_KINESISVIDEO_END_OF_FRAGMENT
 *
 * Each fragment is stored already encoded, so what the sender sends is a
 * copy of the store's bytes; a fragment ends with its end-of-fragment tag,
 * so the server acks it as soon as it is complete. After a reconnect the
 * sender sends the session header, then every fragment from the oldest one
 * not acked PERSISTED; the server recognises a fragment it stored already
 * by its timecode and acks it again without storing it twice.
 *
 * Locking: one mutex guards the stream; the sender drops it around every
 * transport call. put_frame wakes the sender through the transport's wake()
 * when the sender waits for acks with nothing to send.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ack.h"
#include "common/awstime.h"
#include "common/bytes.h"
#include "common/clock.h"
#include "filestore.h"
#include "internal.h"
#include "media/mkv_parser.h"
#include "media/mkv_writer.h"
#include "media/nal.h"
#include "store.h"

#define MAX_TRACKS      3
#define MAX_TAGS        10
#define MAX_CP          65536                        /* CodecPrivate bytes per track */
#define MAX_HEADER      (MAX_TRACKS * MAX_CP + 4096) /* session header bytes */
#define SEND_CHUNK      16384                        /* bytes per WebSocket message */
#define FRAG_BYTES      32768                        /* store bytes per fragment descriptor */
#define MIN_STORE       (256 * 1024)
#define BACKOFF_MIN_MS  250
#define BACKOFF_MAX_MS  15000
#define STALL_MS        20000 /* no send progress for this long: reconnect */
#define MAX_FRAG_MS     20000 /* the server's fragment limit (4002) */
#define EOF_TAG         "AWS_KINESISVIDEO_END_OF_FRAGMENT"
#define MAX_REPLAY_HDRS 4

typedef struct {
    uint32_t number;
    flp_codec_t codec;
    unsigned nal_len; /* 0: Annex-B in */
    uint8_t *cp;      /* CodecPrivate, allocated to its size */
    size_t cp_len;
    unsigned out_len; /* NAL length size in the store (4 for Annex-B in) */
    char name[64];
    unsigned width, height, rate, channels;
    int64_t last_dts_ns;
    int have_dts;
} track_t;

typedef struct {
    char name[128];
    char value[256];
} tag_t;

typedef struct {
    uint8_t *bytes; /* allocated to its size */
    size_t len;
    uint8_t gen;
    int valid;
} header_t;

struct flp_stream {
    flp_client_t *c;
    char name[256];
    flp_callbacks_t cb;
    uint32_t frag_ms;
    int absolute;
    flp_full_policy_t policy;
    int block_ms, latency_ms;

    track_t tracks[MAX_TRACKS];
    size_t n_tracks;
    int video; /* index of the track that starts fragments (-1: any frame) */

    pthread_mutex_t put_mu; /* one put_frame/flush/stop at a time */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    int thread_started;

    flp_store_t st;
    uint8_t *mem;
    flp_frag_t *frags;
    header_t hdr[1 + MAX_REPLAY_HDRS]; /* [0]: this run's session header;
                        [1..]: the headers replayed fragments follow */
    int n_replay_hdrs;
    uint8_t next_gen;

    /* fragmenter */
    int open;                           /* the newest fragment takes frames */
    int64_t frag_min_rel, frag_max_rel; /* its frames' extent, ms from its start */
    int64_t last_tc; /* fragments start after this (they only grow): the newest one's
                        timecode, or where earlier runs' media ends */
    int have_last_tc;
    int64_t last_end_ms; /* the latest frame time stored (ms since the epoch) */
    int skip_to_key;     /* drop frames until the next fragment start */
    int64_t base_ns;     /* relative timestamps: added to pts/dts */
    int have_base;
    fl_buf_t scratch; /* block headers, clusters, tags (reused) */
    tag_t tags[MAX_TAGS];
    size_t n_tags;

    /* sender */
    flp_transport_conn_t *conn;
    int idle; /* the sender waits in ws_recv with nothing to send */
    int stop_req, quit, abort_conn, stopped_clean, ever_connected;
    uint64_t cur_id; /* cursor: fragment id and offset */
    size_t cur_off;
    int hdr_sent; /* gen+1 of the header sent on this connection; 0: none */
    uint8_t *sendbuf;
    int pressure, lat_pressure;
    int err_streak; /* ERROR acks in a row naming no fragment we hold */
    unsigned seed;
    int64_t last_ack_ns;
    size_t eof_len; /* bytes of the end-of-fragment Tags element */

    flp_filestore_t *fs;
    pthread_mutex_t fs_mu; /* the file store's own lock: its fdatasyncs run
                              without the stream's mutex */
    int64_t fs_release_tc; /* release up to here when the lock is free */
    int fs_release;
    /* the highest timecode ever given to fs_release_later (valid once
     * fs_released_any): a fragment acked while close_fragment was still
     * sealing it into the file missed its release and is released again */
    int64_t fs_released_tc;
    int fs_released_any;
    flp_stream_stats_t stats;
    size_t heap;
};

/* ---- helpers ---- */

static int64_t mono_ns(void)
{
    return fl_time_mono_ns();
}

static int64_t floor_ms(int64_t ns)
{
    return ns >= 0 ? ns / 1000000 : -((-ns + 999999) / 1000000);
}

static void timespec_in(struct timespec *ts, int ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

static void wake_sender(flp_stream_t *s)
{
    if (s->conn && s->idle && s->c->transport->wake) {
        s->idle = 0;
        s->c->transport->wake(s->conn);
    }
    pthread_cond_broadcast(&s->cv);
}

static const char *codec_id(flp_codec_t c)
{
    switch (c) {
    case FLP_CODEC_H264:
        return "V_MPEG4/ISO/AVC";
    case FLP_CODEC_H265:
        return "V_MPEGH/ISO/HEVC";
    case FLP_CODEC_AAC:
        return "A_AAC";
    }
    return "";
}

static int is_video(const track_t *t)
{
    return t->codec == FLP_CODEC_H264 || t->codec == FLP_CODEC_H265;
}

static fl_nal_codec_t nal_codec(const track_t *t)
{
    return t->codec == FLP_CODEC_H264 ? FL_NAL_H264 : FL_NAL_H265;
}

/* AAC-LC AudioSpecificConfig from rate and channels. */
static size_t aac_config(unsigned rate, unsigned channels, uint8_t out[2])
{
    static const unsigned rates[] = {96000, 88200, 64000, 48000, 44100, 32000, 24000,
                                     22050, 16000, 12000, 11025, 8000,  7350};
    unsigned idx = 4;
    for (unsigned i = 0; i < sizeof rates / sizeof rates[0]; i++)
        if (rates[i] == rate)
            idx = i;
    out[0] = (uint8_t)((2 << 3) | (idx >> 1));
    out[1] = (uint8_t)(((idx & 1) << 7) | ((channels & 0xF) << 3));
    return 2;
}

/* Keep a copy of n bytes in *dst (allocated to their size; the previous
 * copy is freed). Only at start and when a session header is made. */
static int keep_bytes(flp_stream_t *s, uint8_t **dst, const void *p, size_t n)
{
    uint8_t *b = flp_alloc(s->c, n);
    if (!b)
        return FLP_ENOMEM;
    memcpy(b, p, n);
    if (*dst)
        flp_free(s->c, *dst);
    *dst = b;
    s->heap += n;
    return 0;
}

/* ---- the session header ---- */

/* Build the header from the tracks (video CodecPrivate must be known). */
static int build_header(flp_stream_t *s, header_t *h)
{
    fl_mkv_track_t mt[MAX_TRACKS];
    memset(mt, 0, sizeof mt);
    for (size_t i = 0; i < s->n_tracks; i++) {
        track_t *t = &s->tracks[i];
        mt[i].number = t->number;
        mt[i].type = is_video(t) ? FL_MKV_TRACK_VIDEO : FL_MKV_TRACK_AUDIO;
        mt[i].codec_id = fl_slice_str(codec_id(t->codec));
        mt[i].codec_private = fl_slice(t->cp, t->cp_len);
        mt[i].name = fl_slice_str(t->name);
        mt[i].pixel_width = t->width;
        mt[i].pixel_height = t->height;
        mt[i].sampling_frequency = t->rate;
        mt[i].channels = t->channels;
    }
    fl_mkv_info_t info = {
        .muxing_app = fl_slice_str("libframelog-producer " FLP_VERSION),
        .writing_app = fl_slice_str("libframelog-producer " FLP_VERSION),
    };
    fl_buf_reset(&s->scratch);
    fl_mkv_write_ebml_header(&s->scratch, NULL);
    fl_mkv_write_segment_start(&s->scratch);
    fl_mkv_write_info(&s->scratch, &info);
    int err = fl_mkv_write_tracks(&s->scratch, mt, s->n_tracks);
    if (err || s->scratch.err)
        return err ? err : s->scratch.err;
    if (s->scratch.n > MAX_HEADER || keep_bytes(s, &h->bytes, s->scratch.p, s->scratch.n) != 0)
        return FLP_ENOMEM;
    h->len = s->scratch.n;
    h->gen = s->next_gen++;
    h->valid = 1;
    return 0;
}

/* Video CodecPrivate and size from the parameter sets of a key frame. */
static int config_from_key(flp_stream_t *s, track_t *t, fl_slice_t au)
{
    fl_nal_config_t cfg;
    memset(&cfg, 0, sizeof cfg);
    int err = fl_nal_config_from_au(nal_codec(t), au, t->nal_len, &cfg);
    if (err || !cfg.n_sps || !cfg.n_pps || (t->codec == FLP_CODEC_H265 && !cfg.n_vps)) {
        flp_logf(s->c, FLP_LOG_WARN, "stream %s: track %u: key frame without parameter sets",
                 s->name, t->number);
        return FLP_EINVAL;
    }
    cfg.codec = nal_codec(t);
    cfg.len_size = t->out_len;
    fl_buf_reset(&s->scratch);
    err = fl_nal_config_build(&cfg, &s->scratch);
    if (err || s->scratch.err || s->scratch.n > MAX_CP)
        return FLP_EINVAL;
    if (keep_bytes(s, &t->cp, s->scratch.p, s->scratch.n) != 0)
        return FLP_ENOMEM;
    t->cp_len = s->scratch.n;
    fl_nal_sps_t sps;
    if ((!t->width || !t->height) && fl_nal_parse_sps(nal_codec(t), cfg.sps[0], &sps) == 0) {
        t->width = sps.width;
        t->height = sps.height;
    }
    return 0;
}

/* ---- writing into the store ---- */

/* Append bytes to the newest fragment, making room by the policy.
 * Returns 0, FLP_ENOSPC, or FLP_ETIMEDOUT (blocked too long). */
static int make_room(flp_stream_t *s, size_t n, uint8_t **out);

static void report_drop(flp_stream_t *s, int64_t tc, uint32_t frames, const char *why)
{
    s->stats.frames_dropped += frames;
    flp_logf(s->c, FLP_LOG_WARN, "stream %s: dropped %u frames at %lld: %s", s->name, frames,
             (long long)tc, why);
    if (s->cb.dropped) {
        pthread_mutex_unlock(&s->mu);
        s->cb.dropped(s->cb.ctx, tc, frames, why);
        pthread_mutex_lock(&s->mu);
    }
}

static void fs_release_later(flp_stream_t *s, int64_t tc);

/* Drop the oldest fragment to make room (it is not the newest). */
static void drop_oldest(flp_stream_t *s)
{
    flp_frag_t *f = flp_store_oldest(&s->st);
    int64_t tc = f->timecode_ms;
    uint32_t frames = f->n_frames;
    int was_done = f->done, sent_whole = f->sent_whole;
    if (s->conn && s->cur_id == f->id && s->cur_off > 0 && s->cur_off < f->len)
        s->abort_conn = 1; /* half sent: the server must not see the rest */
    fs_release_later(s, tc);
    flp_store_pop(&s->st);
    if (!was_done) {
        s->stats.fragments_dropped++;
        /* a fragment sent whole but not acked yet may be stored all the
         * same: say so, the caller cannot tell otherwise */
        report_drop(s, tc, frames,
                    sent_whole ? "the content store is full: oldest fragment dropped before its "
                                 "ack (it was sent whole: the server may hold it)"
                               : "the content store is full: oldest fragment dropped");
    }
    wake_sender(s);
}

/* Releases in the file store wait for a moment without the stream's
 * mutex (fs_release_pending): the superblock's fdatasync must not stall
 * put_frame or the sender. */
static void fs_release_later(flp_stream_t *s, int64_t tc)
{
    if (!s->fs)
        return;
    if (!s->fs_release || tc > s->fs_release_tc)
        s->fs_release_tc = tc;
    s->fs_release = 1;
    if (!s->fs_released_any || tc > s->fs_released_tc)
        s->fs_released_tc = tc;
    s->fs_released_any = 1;
}

/* With s->mu held: do a pending release (the mutex is dropped meanwhile). */
static void fs_release_pending(flp_stream_t *s)
{
    if (!s->fs || !s->fs_release)
        return;
    int64_t tc = s->fs_release_tc;
    s->fs_release = 0;
    pthread_mutex_unlock(&s->mu);
    pthread_mutex_lock(&s->fs_mu);
    flp_filestore_release(s->fs, tc);
    pthread_mutex_unlock(&s->fs_mu);
    pthread_mutex_lock(&s->mu);
}

static void pop_done(flp_stream_t *s)
{
    flp_frag_t *f;
    int popped = 0;
    int64_t tc = 0;
    while ((f = flp_store_oldest(&s->st)) && f->done && f->closed) {
        tc = f->timecode_ms;
        flp_store_pop(&s->st);
        popped = 1;
    }
    if (popped) {
        /* the file's copies go with them (it releases its oldest run) */
        fs_release_later(s, tc);
        pthread_cond_broadcast(&s->cv);
    }
}

static void check_pressure(flp_stream_t *s)
{
    size_t used = s->st.used, size = s->st.size;
    int p = s->pressure;
    if (!p && used * 10 >= size * 8)
        p = 1;
    else if (p && used * 10 < size * 6)
        p = 0;
    if (p != s->pressure) {
        s->pressure = p;
        if (s->cb.buffer_pressure) {
            pthread_mutex_unlock(&s->mu);
            s->cb.buffer_pressure(s->cb.ctx, p, used, size);
            pthread_mutex_lock(&s->mu);
        }
    }
}

static int make_room(flp_stream_t *s, size_t n, uint8_t **out)
{
    struct timespec deadline;
    int have_deadline = 0;
    for (;;) {
        uint8_t *p = flp_store_reserve(&s->st, n);
        if (p) {
            *out = p;
            return 0;
        }
        if (s->st.count <= 1)
            return FLP_ENOSPC; /* the open fragment alone fills the store */
        if (s->policy == FLP_DROP_OLDEST) {
            drop_oldest(s);
            continue;
        }
        if (!have_deadline) {
            timespec_in(&deadline, s->block_ms);
            have_deadline = 1;
        }
        if (s->stop_req || s->quit)
            return FLP_ECLOSED;
        if (pthread_cond_timedwait(&s->cv, &s->mu, &deadline) != 0)
            return FLP_ETIMEDOUT;
    }
}

static int append_bytes(flp_stream_t *s, const void *p, size_t n)
{
    uint8_t *dst;
    int err = make_room(s, n, &dst);
    if (err)
        return err;
    memcpy(dst, p, n);
    flp_store_commit(&s->st, n);
    return 0;
}

/* Close the open fragment: its end-of-fragment tag, then the file copy. */
static void close_fragment(flp_stream_t *s)
{
    flp_frag_t *f = flp_store_newest(&s->st);
    if (!s->open || !f)
        return;
    s->open = 0;
    fl_mkv_tag_t eof = {fl_slice_str(EOF_TAG), fl_slice_str("1"), 0};
    fl_buf_reset(&s->scratch);
    fl_mkv_write_tags(&s->scratch, &eof, 1);
    if (append_bytes(s, s->scratch.p, s->scratch.n) != 0) {
        /* no room for 40 bytes beside the fragment: give it up whole */
        f = flp_store_newest(&s->st);
        if (f && !f->closed) {
            f->closed = 1;
            f->done = 1;
            s->stats.fragments_dropped++;
            report_drop(s, f->timecode_ms, f->n_frames, "no room to end the fragment");
            pop_done(s);
        }
        return;
    }
    f = flp_store_newest(&s->st);
    f->closed = 1;
    s->stats.fragments++;
    wake_sender(s);
    if (s->fs) {
        /* Seal it into the file without the stream's mutex, so the sender
         * goes on meanwhile. The bytes stay put: a closed fragment never
         * moves, and only this thread (put_mu) writes the ring; the sender
         * may pop it, but nobody reuses its bytes before we return. */
        const uint8_t *p = s->st.mem + f->off;
        size_t n = f->len;
        int64_t tc = f->timecode_ms;
        pthread_mutex_unlock(&s->mu);
        pthread_mutex_lock(&s->fs_mu);
        int err = flp_filestore_append(s->fs, FLP_REC_FRAGMENT, tc, p, n);
        pthread_mutex_unlock(&s->fs_mu);
        pthread_mutex_lock(&s->mu);
        if (err)
            flp_logf(s->c, FLP_LOG_WARN, "stream %s: fragment %lld not kept in %s: %s", s->name,
                     (long long)tc, "the storage file", flp_strerror(err));
        else if (s->fs_released_any && s->fs_released_tc >= tc) {
            /* the sender sent it, had it acked (or dropped) and ran the
             * release while the record was not in the file yet: without a
             * second release it stays there, and the next start resends
             * a fragment the server holds */
            fs_release_later(s, s->fs_released_tc);
            wake_sender(s);
        }
    }
}

/* Bytes a fragment begun at tc_ms for this frame takes with it: pending
 * tags, the Cluster start, the frame and the end-of-fragment tag. */
static size_t first_frame_bytes(flp_stream_t *s, int64_t tc_ms, const track_t *t, int key,
                                size_t psize)
{
    fl_buf_reset(&s->scratch);
    if (s->n_tags) {
        fl_mkv_tag_t mt[MAX_TAGS];
        for (size_t i = 0; i < s->n_tags; i++)
            mt[i] =
                (fl_mkv_tag_t){fl_slice_str(s->tags[i].name), fl_slice_str(s->tags[i].value), 0};
        fl_mkv_write_tags(&s->scratch, mt, s->n_tags);
    }
    fl_mkv_write_cluster_start(&s->scratch, (uint64_t)tc_ms);
    fl_mkv_write_simple_block_header(&s->scratch, t->number, 0, key, psize);
    size_t n = s->scratch.n + psize + s->eof_len;
    fl_buf_reset(&s->scratch);
    return n;
}

/* FLP_BLOCK: wait up to block_timeout_ms until a fragment begun now could
 * take n bytes. Waiting here, before the fragment begins, means a frame
 * refused for room leaves no empty fragment behind (which the server
 * would be sent, and whose timecode a retry of the frame could not use).
 * Under FLP_DROP_OLDEST, and when nothing held can make room, make_room
 * decides as before. */
static int wait_room_to_begin(flp_stream_t *s, size_t n)
{
    struct timespec deadline;
    int have_deadline = 0;
    while (s->policy == FLP_BLOCK && s->st.count && !flp_store_room(&s->st, n)) {
        if (s->stop_req || s->quit)
            return FLP_ECLOSED;
        if (!have_deadline) {
            timespec_in(&deadline, s->block_ms);
            have_deadline = 1;
        }
        if (pthread_cond_timedwait(&s->cv, &s->mu, &deadline) != 0 && !flp_store_room(&s->st, n))
            return FLP_ENOSPC;
    }
    return 0;
}

/* Start a fragment at this frame's time. */
static int open_fragment(flp_stream_t *s, int64_t tc_ms)
{
    if (!flp_store_begin(&s->st, tc_ms, s->hdr[0].gen)) {
        /* every descriptor is in use */
        if (s->policy == FLP_DROP_OLDEST || !s->st.count) {
            if (s->st.count)
                drop_oldest(s);
        } else {
            struct timespec deadline;
            timespec_in(&deadline, s->block_ms);
            while (s->st.count == s->st.cap && !s->quit)
                if (pthread_cond_timedwait(&s->cv, &s->mu, &deadline) != 0)
                    return FLP_ENOSPC;
        }
        if (!flp_store_begin(&s->st, tc_ms, s->hdr[0].gen))
            return FLP_ENOSPC;
    }
    flp_frag_t *f = flp_store_newest(&s->st);
    f->first_put_ns = mono_ns();
    s->open = 1;
    s->frag_min_rel = s->frag_max_rel = 0;
    s->last_tc = tc_ms;
    s->have_last_tc = 1;
    fl_buf_reset(&s->scratch);
    if (s->n_tags) {
        fl_mkv_tag_t mt[MAX_TAGS];
        for (size_t i = 0; i < s->n_tags; i++)
            mt[i] =
                (fl_mkv_tag_t){fl_slice_str(s->tags[i].name), fl_slice_str(s->tags[i].value), 0};
        fl_mkv_write_tags(&s->scratch, mt, s->n_tags);
        s->n_tags = 0;
    }
    fl_mkv_write_cluster_start(&s->scratch, (uint64_t)tc_ms);
    if (s->scratch.err)
        return FLP_ENOMEM;
    uint8_t *room;
    int err = make_room(s, s->scratch.n + s->eof_len, &room);
    if (!err) {
        memcpy(room, s->scratch.p, s->scratch.n);
        flp_store_commit(&s->st, s->scratch.n);
    }
    if (err) {
        /* not even the Cluster header fits: forget the fragment */
        f = flp_store_newest(&s->st);
        f->closed = f->done = 1;
        s->open = 0;
        pop_done(s);
    }
    return err;
}

/* Payload size of a frame as stored (Annex-B becomes 4-byte lengths). */
static int stored_size(const track_t *t, fl_slice_t in, size_t *out)
{
    if (!is_video(t) || t->nal_len) {
        *out = in.n;
        return 0;
    }
    size_t pos = 0, n = 0, k = 0;
    fl_slice_t nal;
    while (fl_nal_annexb_next(in, &pos, &nal) == 0) {
        n += 4 + nal.n;
        k++;
    }
    if (!k)
        return FLP_EINVAL;
    *out = n;
    return 0;
}

static void write_payload(const track_t *t, fl_slice_t in, uint8_t *dst)
{
    if (!is_video(t) || t->nal_len) {
        memcpy(dst, in.p, in.n);
        return;
    }
    size_t pos = 0;
    fl_slice_t nal;
    while (fl_nal_annexb_next(in, &pos, &nal) == 0) {
        fl_store_be32(dst, (uint32_t)nal.n);
        memcpy(dst + 4, nal.p, nal.n);
        dst += 4 + nal.n;
    }
}

static track_t *find_track(flp_stream_t *s, uint32_t number, size_t *idx)
{
    for (size_t i = 0; i < s->n_tracks; i++)
        if (s->tracks[i].number == number) {
            *idx = i;
            return &s->tracks[i];
        }
    return NULL;
}

/* The server refused the open fragment (an ERROR below 5000 while it
 * still took frames; handle_ack gave it up and reported its frames): end
 * it here, so that the frames that follow are not appended to bytes that
 * are never sent. They wait for the next key frame, each reported through
 * `dropped` as any frame that cannot start a fragment. */
static int end_refused(flp_stream_t *s)
{
    flp_frag_t *f = s->open ? flp_store_newest(&s->st) : NULL;
    if (!f || !f->done)
        return 0;
    s->open = 0;
    f->closed = 1;
    s->skip_to_key = 1;
    pop_done(s);
    return 1;
}

/* A key frame at or before the newest fragment's start: the clock went
 * back (a camera whose clock was reset, a restart that replayed fragments
 * of a later time from the file store). Fragment timecodes only grow (the
 * server tells a resend by its timecode and refuses one that goes back),
 * so from here every timestamp is shifted to continue just after the
 * latest frame stored; each track's dts starts over. */
static void rebase_after_jump(flp_stream_t *s, int64_t *pts_ms)
{
    int64_t shift = s->last_end_ms + 1 - *pts_ms;
    if (s->last_tc + 1 - *pts_ms > shift)
        shift = s->last_tc + 1 - *pts_ms;
    flp_logf(s->c, FLP_LOG_WARN,
             "stream %s: the clock went back to %lld, before the fragment of %lld: timestamps "
             "shifted by %lld ms from here",
             s->name, (long long)*pts_ms, (long long)s->last_tc, (long long)shift);
    s->base_ns += shift * 1000000;
    *pts_ms += shift;
    for (size_t i = 0; i < s->n_tracks; i++)
        s->tracks[i].have_dts = 0;
}

static int put_locked(flp_stream_t *s, const flp_frame_t *f)
{
    size_t ti;
    track_t *t = find_track(s, f->track, &ti);
    if (!t || (!f->data && f->size) || !f->size)
        return FLP_EINVAL;
    if (s->stop_req || s->quit)
        return FLP_ECLOSED;
    end_refused(s);
    fl_slice_t au = fl_slice(f->data, f->size);
    int key = f->keyframe;
    if (is_video(t)) {
        /* the NAL units decide: an IDR/IRAP picture starts a fragment, a
         * frame flagged key without one does not (its fragment could not
         * be decoded alone); the flag counts only when they cannot be read */
        int k = fl_nal_is_keyframe(nal_codec(t), au, t->nal_len);
        if (k == 0 || k == 1)
            key = k;
    }
    int starter = s->video < 0 ? 1 : ((int)ti == s->video && key);
    int jump = 0;
    if (starter && s->have_base && s->have_last_tc)
        jump = floor_ms(f->pts_ns + s->base_ns) <= s->last_tc;
    if (t->have_dts && f->dts_ns < t->last_dts_ns && !jump) {
        flp_logf(s->c, FLP_LOG_WARN, "stream %s: track %u: dts goes back", s->name, t->number);
        return FLP_EINVAL;
    }

    if (!s->hdr[0].valid) { /* no header yet: wait for the first key frame */
        if (!starter)
            return FLP_EINVAL;
        for (size_t i = 0; i < s->n_tracks; i++) {
            track_t *v = &s->tracks[i];
            if (is_video(v) && !v->cp_len && (v != t || config_from_key(s, v, au) != 0))
                return FLP_EINVAL;
        }
        int err = build_header(s, &s->hdr[0]);
        if (err)
            return err;
        if (s->fs) {
            pthread_mutex_lock(&s->fs_mu);
            err = flp_filestore_append(s->fs, FLP_REC_HEADER, 0, s->hdr[0].bytes, s->hdr[0].len);
            pthread_mutex_unlock(&s->fs_mu);
            if (err)
                flp_logf(s->c, FLP_LOG_WARN, "stream %s: header not kept in the storage file: %s",
                         s->name, flp_strerror(err));
        }
        pthread_cond_broadcast(&s->cv);
    }
    if (!s->have_base) {
        s->base_ns = s->absolute ? 0 : fl_time_real_ns() - f->pts_ns;
        s->have_base = 1;
    }
    int64_t pts_ms = floor_ms(f->pts_ns + s->base_ns);
    if (starter && s->have_last_tc && pts_ms <= s->last_tc)
        rebase_after_jump(s, &pts_ms);
    flp_frag_t *cur = s->open ? flp_store_newest(&s->st) : NULL;
    int64_t rel = cur ? pts_ms - cur->timecode_ms : 0;
    /* the fragment's span as the server measures it (4002): from its
     * earliest frame to its latest, leading pictures and early audio too */
    int64_t lo = rel < s->frag_min_rel ? rel : s->frag_min_rel;
    int64_t hi = rel > s->frag_max_rel ? rel : s->frag_max_rel;
    int too_long = cur && (rel > 32767 || hi - lo >= MAX_FRAG_MS);
    /* fragment timecodes only grow: the server tells a resend by its
     * timecode, so two fragments may never share one */
    int later = !s->have_last_tc || pts_ms > s->last_tc;
    int new_frag =
        starter && later && (!cur || (rel > 0 && rel >= (int64_t)s->frag_ms) || too_long);
    if (!new_frag && (!cur || s->skip_to_key || too_long)) {
        /* nothing to append to until the next key frame */
        if (cur && !s->skip_to_key)
            close_fragment(s);
        s->skip_to_key = 1;
        report_drop(s, pts_ms, 1, "waiting for a key frame to start a fragment");
        return 0;
    }
    if (!new_frag && rel < -32768) {
        report_drop(s, pts_ms, 1, "frame too far before its fragment's start");
        return 0;
    }

    size_t psize;
    if (stored_size(t, au, &psize) != 0)
        return FLP_EINVAL;
    if (new_frag) {
        close_fragment(s);
        s->skip_to_key = 0;
        int err = wait_room_to_begin(s, first_frame_bytes(s, pts_ms, t, key, psize));
        if (err) {
            /* refused before its fragment began: put again, it keeps its
             * time (a fragment begun and ended empty took it for good) */
            s->skip_to_key = 1;
            report_drop(s, pts_ms, 1, "the content store is full");
            return err;
        }
        err = open_fragment(s, pts_ms);
        if (err)
            return err == FLP_ETIMEDOUT ? FLP_ENOSPC : err;
        rel = 0;
    }
    fl_buf_reset(&s->scratch);
    fl_mkv_write_simple_block_header(&s->scratch, t->number, rel, key, psize);
    if (s->scratch.err)
        return FLP_ENOMEM;
    size_t hn = s->scratch.n;
    uint8_t *dst;
    /* keep room for the end-of-fragment tag, so close_fragment never fails */
    int err = make_room(s, hn + psize + s->eof_len, &dst);
    if (err) {
        /* the open fragment cannot grow: end it here, drop this frame */
        close_fragment(s);
        s->skip_to_key = 1;
        report_drop(s, pts_ms, 1, "the content store is full");
        return err == FLP_ETIMEDOUT ? FLP_ENOSPC : err;
    }
    if (end_refused(s)) {
        /* refused by the server while make_room waited */
        report_drop(s, pts_ms, 1, "its fragment was refused by the server");
        return 0;
    }
    memcpy(dst, s->scratch.p, hn);
    write_payload(t, au, dst + hn);
    flp_store_commit(&s->st, hn + psize);
    flp_store_newest(&s->st)->n_frames++;
    if (rel < s->frag_min_rel)
        s->frag_min_rel = rel;
    if (rel > s->frag_max_rel)
        s->frag_max_rel = rel;
    t->last_dts_ns = f->dts_ns;
    t->have_dts = 1;
    if (pts_ms > s->last_end_ms)
        s->last_end_ms = pts_ms;
    s->stats.frames_put++;
    wake_sender(s);
    check_pressure(s);
    return 0;
}

int flp_stream_put_frame(flp_stream_t *s, const flp_frame_t *f)
{
    if (!s || !f)
        return FLP_EINVAL;
    pthread_mutex_lock(&s->put_mu);
    pthread_mutex_lock(&s->mu);
    int err = put_locked(s, f);
    fs_release_pending(s);
    pthread_mutex_unlock(&s->mu);
    pthread_mutex_unlock(&s->put_mu);
    return err;
}

int flp_stream_put_tag(flp_stream_t *s, const char *name, const char *value)
{
    if (!s || !name || !*name || !value || strlen(name) >= sizeof s->tags[0].name ||
        strlen(value) >= sizeof s->tags[0].value || strcmp(name, EOF_TAG) == 0)
        return FLP_EINVAL;
    pthread_mutex_lock(&s->mu);
    int err = 0;
    if (s->n_tags == MAX_TAGS) {
        err = FLP_ENOSPC;
    } else {
        snprintf(s->tags[s->n_tags].name, sizeof s->tags[0].name, "%s", name);
        snprintf(s->tags[s->n_tags].value, sizeof s->tags[0].value, "%s", value);
        s->n_tags++;
    }
    pthread_mutex_unlock(&s->mu);
    return err;
}

int flp_stream_flush(flp_stream_t *s)
{
    if (!s)
        return FLP_EINVAL;
    pthread_mutex_lock(&s->put_mu);
    pthread_mutex_lock(&s->mu);
    if (s->open) {
        close_fragment(s);
        s->skip_to_key = 1;
    }
    pthread_mutex_unlock(&s->mu);
    pthread_mutex_unlock(&s->put_mu);
    return 0;
}

/* ---- the sender ---- */

static flp_frag_t *find_tc(flp_stream_t *s, int64_t tc)
{
    for (size_t i = 0; i < s->st.count; i++) {
        flp_frag_t *f = flp_store_get(&s->st, s->st.first_id + i);
        if (f->timecode_ms == tc && !f->done)
            return f;
    }
    return NULL;
}

/* Returns 1 when the connection must end (after an ERROR). */
static int handle_ack(flp_stream_t *s, const char *j, size_t len)
{
    flp_ack_t ack;
    int rc = flp_ack_parse(j, len, &ack);
    if (rc != 0) {
        flp_logf(s->c, FLP_LOG_WARN, "stream %s: an ack that is not one (%s): %.120s", s->name,
                 flp_strerror(rc), j);
        return 0;
    }
    flp_ack_type_t type = ack.type;
    int64_t tc = ack.timecode_ms;
    const char *number = ack.number;
    int id = ack.error_id;
    int end = 0;
    s->last_ack_ns = mono_ns();
    flp_frag_t *f = type == FLP_ACK_IDLE || !ack.has_timecode ? NULL : find_tc(s, tc);
    if (type == FLP_ACK_PERSISTED)
        s->err_streak = 0;
    if (type == FLP_ACK_PERSISTED && f) {
        f->done = 1;
        s->stats.fragments_persisted++;
        pop_done(s);
        check_pressure(s);
    } else if (type == FLP_ACK_ERROR) {
        flp_logf(s->c, FLP_LOG_WARN, "stream %s: the server refused fragment %lld (error %d)",
                 s->name, (long long)tc, id);
        if (!f && id < 5000 && ++s->err_streak >= 3) {
            /* refused again and again before any fragment began: the one
             * the session starts with is at fault, give it up */
            for (size_t i = 0; i < s->st.count && !f; i++) {
                flp_frag_t *g = flp_store_get(&s->st, s->st.first_id + i);
                if (!g->done)
                    f = g;
            }
            s->err_streak = 0;
        }
        if (f && id < 5000) {
            /* not something a resend mends: give the fragment up */
            f->done = 1;
            s->stats.fragments_dropped++;
            report_drop(s, tc, f->n_frames, "refused by the server");
            pop_done(s);
        }
        end = 1;
    }
    if (s->cb.ack || (type == FLP_ACK_ERROR && s->cb.error)) {
        pthread_mutex_unlock(&s->mu);
        if (s->cb.ack)
            s->cb.ack(s->cb.ctx, type, tc, number, id);
        if (type == FLP_ACK_ERROR && s->cb.error) {
            char msg[96];
            snprintf(msg, sizeof msg, "the server refused fragment %lld with error %d",
                     (long long)tc, id);
            s->cb.error(s->cb.ctx, FLP_ESERVER, id, msg);
        }
        pthread_mutex_lock(&s->mu);
    }
    return end;
}

/* Everything held is acked (or given up) and nothing is open. */
static int all_done(flp_stream_t *s)
{
    return !s->open && s->st.count == 0;
}

static void conn_state(flp_stream_t *s, flp_conn_state_t st, int err)
{
    if (s->cb.connection) {
        pthread_mutex_unlock(&s->mu);
        s->cb.connection(s->cb.ctx, st, err);
        pthread_mutex_lock(&s->mu);
    }
}

static void drop_conn(flp_stream_t *s, int clean)
{
    flp_transport_conn_t *conn = s->conn;
    s->conn = NULL;
    s->idle = 0;
    pthread_mutex_unlock(&s->mu);
    s->c->transport->ws_close(conn, clean);
    pthread_mutex_lock(&s->mu);
}

static int connect_locked(flp_stream_t *s, char *err, size_t errcap)
{
    flp_frag_t *first = flp_store_oldest(&s->st);
    char start[FL_AWSTIME_EPOCH_MAX];
    fl_awstime_epoch((first ? first->timecode_ms : 0) * 1000000, 3, start, sizeof start);
    flp_header_t extra[] = {
        {"x-amzn-stream-name", s->name},
        {"x-amzn-fragment-timecode-type", "ABSOLUTE"},
        {"x-amzn-producer-start-timestamp", start},
    };
    flp_header_t hdrs[8];
    flp_sign_scratch_t scratch;
    flp_request_t req;
    int e =
        flp_client_prepare(s->c, &req, "GET", "/putMedia", extra, 3, hdrs, &scratch, NULL, 0, 0);
    if (e)
        return e;
    req.scheme = strcmp(s->c->scheme, "https") == 0 ? "wss" : "ws";
    req.subprotocol = "framelog-putmedia-v1";
    flp_transport_conn_t *conn = NULL;
    pthread_mutex_unlock(&s->mu);
    e = s->c->transport->ws_open(s->c->transport->ctx, &req, &conn, err, errcap);
    pthread_mutex_lock(&s->mu);
    if (e)
        return e;
    s->conn = conn;
    return 0;
}

/* Next bytes to send into sendbuf: the header its fragment follows, or
 * the fragment's next bytes. *is_hdr tells which. 0 bytes: nothing now. */
static size_t next_chunk(flp_stream_t *s, const uint8_t **p, int *is_hdr, uint64_t *id_out,
                         int *completes)
{
    *is_hdr = 0;
    *completes = 0;
    if (s->cur_id < s->st.first_id) {
        s->cur_id = s->st.first_id;
        s->cur_off = 0;
    }
    for (;;) {
        flp_frag_t *f = flp_store_get(&s->st, s->cur_id);
        if (!f)
            return 0;
        if (s->cur_off == 0 && f->done) {
            s->cur_id++;
            continue;
        }
        *id_out = f->id;
        if (s->hdr_sent != f->gen + 1) {
            /* headers stay put until the stream is freed: no copy */
            header_t *h = &s->hdr[0];
            for (size_t i = 0; i < sizeof s->hdr / sizeof s->hdr[0]; i++)
                if (s->hdr[i].valid && s->hdr[i].gen == f->gen)
                    h = &s->hdr[i];
            *p = h->bytes;
            *is_hdr = 1;
            return h->len;
        }
        size_t avail = f->len - s->cur_off;
        if (!avail) {
            if (!f->closed)
                return 0;
            s->cur_id++;
            s->cur_off = 0;
            continue;
        }
        size_t n = avail < SEND_CHUNK ? avail : SEND_CHUNK;
        memcpy(s->sendbuf, s->st.mem + f->off + s->cur_off, n);
        *p = s->sendbuf;
        *completes = f->closed && n == avail;
        return n;
    }
}

static void check_latency(flp_stream_t *s)
{
    flp_frag_t *f = NULL;
    for (size_t i = 0; i < s->st.count && !f; i++) {
        flp_frag_t *g = flp_store_get(&s->st, s->st.first_id + i);
        if (!g->done && g->n_frames)
            f = g;
    }
    int64_t age = f ? (mono_ns() - f->first_put_ns) / 1000000 : 0;
    int p = f && age > s->latency_ms;
    if (p != s->lat_pressure) {
        s->lat_pressure = p;
        if (s->cb.latency_pressure) {
            pthread_mutex_unlock(&s->mu);
            s->cb.latency_pressure(s->cb.ctx, p, age);
            pthread_mutex_lock(&s->mu);
        }
    }
}

/* A fragment was sent whole on this connection and is not acked yet. */
static int waiting_for_acks(flp_stream_t *s)
{
    flp_frag_t *f = flp_store_oldest(&s->st);
    return f && !f->done && f->closed && (s->cur_id > f->id);
}

static int jitter(flp_stream_t *s, int ms)
{
    /* 50..100 % of ms: reconnecting cameras do not arrive in step */
    return ms / 2 + (int)(((unsigned)rand_r(&s->seed) % 1000u) * (unsigned)(ms / 2) / 1000u);
}

static void *sender_main(void *arg)
{
    flp_stream_t *s = arg;
    char msg[4096];
    char err[512];
    int backoff = 0;
    int64_t last_progress = mono_ns();
    pthread_mutex_lock(&s->mu);
    while (!s->quit) {
        fs_release_pending(s);
        if (!s->conn) {
            if (s->stop_req && all_done(s))
                break;
            if (backoff) {
                struct timespec ts;
                timespec_in(&ts, jitter(s, backoff));
                while (!s->quit && !(s->stop_req && all_done(s)) &&
                       pthread_cond_timedwait(&s->cv, &s->mu, &ts) == 0)
                    ;
                if (s->quit || (s->stop_req && all_done(s)))
                    break;
            }
            conn_state(s, FLP_CONN_CONNECTING, 0);
            err[0] = 0;
            int e = connect_locked(s, err, sizeof err);
            if (e) {
                flp_logf(s->c, FLP_LOG_WARN, "stream %s: cannot connect to %s:%d: %s (%s)", s->name,
                         s->c->host, s->c->port, err[0] ? err : "", flp_strerror(e));
                int code = strstr(err, "404") || strstr(err, "ResourceNotFound") ? FLP_ENOTFOUND
                                                                                 : FLP_ECONNECT;
                if (s->cb.error && code == FLP_ENOTFOUND) {
                    pthread_mutex_unlock(&s->mu);
                    s->cb.error(s->cb.ctx, code, 0, err);
                    pthread_mutex_lock(&s->mu);
                }
                conn_state(s, FLP_CONN_DISCONNECTED, code);
                backoff = backoff ? (backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2)
                                  : BACKOFF_MIN_MS;
                check_latency(s);
                continue;
            }
            s->stats.connects++;
            s->cur_id = s->st.first_id;
            s->cur_off = 0;
            s->hdr_sent = 0;
            s->abort_conn = 0;
            last_progress = s->last_ack_ns = mono_ns();
            flp_logf(s->c, FLP_LOG_INFO, "stream %s: connected to %s:%d", s->name, s->c->host,
                     s->c->port);
            conn_state(s, FLP_CONN_CONNECTED, 0);
            if (!s->ever_connected) {
                s->ever_connected = 1;
                if (s->cb.ready) {
                    pthread_mutex_unlock(&s->mu);
                    s->cb.ready(s->cb.ctx);
                    pthread_mutex_lock(&s->mu);
                }
            }
        }
        if (s->abort_conn) {
            flp_logf(s->c, FLP_LOG_INFO, "stream %s: a half-sent fragment was dropped: reconnect",
                     s->name);
            drop_conn(s, 0);
            conn_state(s, FLP_CONN_DISCONNECTED, 0);
            backoff = 0;
            continue;
        }
        int is_hdr, completes;
        uint64_t id = 0;
        const uint8_t *chunk = NULL;
        size_t n = next_chunk(s, &chunk, &is_hdr, &id, &completes);
        if (n && completes) {
            flp_frag_t *f = flp_store_get(&s->st, id);
            if (f)
                f->sent_whole = 1; /* from here the server may get it all */
        }
        if (n) {
            flp_transport_conn_t *conn = s->conn;
            pthread_mutex_unlock(&s->mu);
            int e = s->c->transport->ws_send(conn, chunk, n, 0, 1000);
            pthread_mutex_lock(&s->mu);
            if (e == 0) {
                last_progress = mono_ns();
                s->stats.bytes_sent += n;
                if (is_hdr) {
                    flp_frag_t *f = flp_store_get(&s->st, id);
                    s->hdr_sent = f ? f->gen + 1 : 0;
                } else if (s->cur_id == id) {
                    flp_frag_t *f = flp_store_get(&s->st, id);
                    if (!f) {
                        /* dropped while this message was in the transport:
                         * unless it carried the whole fragment, the server
                         * holds part of one and must not see more */
                        if (!(s->cur_off == 0 && completes))
                            s->abort_conn = 1;
                    } else if (s->cur_off == 0) {
                        s->stats.resent_fragments += f->sent;
                        f->sent = 1;
                    }
                    s->cur_off += n;
                } else if (!completes) {
                    s->abort_conn = 1; /* dropped while we sent part of it */
                }
            } else if (e == FLP_ETIMEDOUT) {
                if (mono_ns() - last_progress > (int64_t)STALL_MS * 1000000) {
                    flp_logf(s->c, FLP_LOG_WARN, "stream %s: no progress for %d s: reconnect",
                             s->name, STALL_MS / 1000);
                    drop_conn(s, 0);
                    conn_state(s, FLP_CONN_DISCONNECTED, FLP_ETIMEDOUT);
                    backoff = BACKOFF_MIN_MS;
                    continue;
                }
            } else {
                flp_logf(s->c, FLP_LOG_WARN, "stream %s: send failed: %s", s->name,
                         flp_strerror(e));
                drop_conn(s, 0);
                conn_state(s, FLP_CONN_DISCONNECTED, e);
                backoff = BACKOFF_MIN_MS;
                continue;
            }
        }
        /* acks: drain without waiting while there is more to send */
        int stop_now = s->stop_req && all_done(s);
        int timeout = n ? 0 : (stop_now ? 0 : 500);
        s->idle = !n && !stop_now;
        flp_transport_conn_t *conn = s->conn;
        size_t len = 0;
        int close_code = 0;
        err[0] = 0;
        pthread_mutex_unlock(&s->mu);
        int e = s->c->transport->ws_recv(conn, msg, sizeof msg - 1, &len, timeout, &close_code, err,
                                         sizeof err);
        pthread_mutex_lock(&s->mu);
        s->idle = 0;
        if (e == 0) {
            msg[len] = 0;
            backoff = 0;
            if (handle_ack(s, msg, len)) {
                drop_conn(s, 0);
                conn_state(s, FLP_CONN_DISCONNECTED, FLP_ESERVER);
                backoff = BACKOFF_MIN_MS;
            }
            continue;
        }
        if (e == FLP_ECLOSED) {
            flp_logf(s->c, FLP_LOG_WARN, "stream %s: the server closed the connection (%d %s%s)",
                     s->name, close_code, err, flp_clock_hint(err));
            if (close_code == 1008 && s->cb.error) {
                char why[sizeof err + 160];
                snprintf(why, sizeof why, "%s%s", err, flp_clock_hint(err));
                pthread_mutex_unlock(&s->mu);
                s->cb.error(s->cb.ctx, strstr(err, "NotFound") ? FLP_ENOTFOUND : FLP_ESERVER, 0,
                            why);
                pthread_mutex_lock(&s->mu);
            }
            drop_conn(s, 0);
            conn_state(s, FLP_CONN_DISCONNECTED, FLP_ECLOSED);
            backoff = BACKOFF_MIN_MS;
            continue;
        }
        if (e != FLP_ETIMEDOUT) {
            drop_conn(s, 0);
            conn_state(s, FLP_CONN_DISCONNECTED, e);
            backoff = BACKOFF_MIN_MS;
            continue;
        }
        check_latency(s);
        if (waiting_for_acks(s) && mono_ns() - s->last_ack_ns > (int64_t)STALL_MS * 1000000) {
            flp_logf(s->c, FLP_LOG_WARN, "stream %s: no ack for %d s: reconnect", s->name,
                     STALL_MS / 1000);
            drop_conn(s, 0);
            conn_state(s, FLP_CONN_DISCONNECTED, FLP_ETIMEDOUT);
            backoff = BACKOFF_MIN_MS;
            continue;
        }
        if (s->stop_req && all_done(s)) {
            /* everything is acked: end the session cleanly */
            conn = s->conn;
            pthread_mutex_unlock(&s->mu);
            s->c->transport->ws_send(conn, (const uint8_t *)"end", 3, 1, 1000);
            pthread_mutex_lock(&s->mu);
            drop_conn(s, 1);
            s->stopped_clean = 1;
            break;
        }
    }
    if (s->conn)
        drop_conn(s, 0);
    s->quit = 1;
    pthread_cond_broadcast(&s->cv);
    conn_state(s, FLP_CONN_STOPPED, 0);
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* ---- replay of the storage file ---- */

typedef struct {
    uint32_t frames;
    int64_t last_ms; /* the latest frame's time, ms */
} replay_count_t;

static int count_frame(void *data, const fl_mkv_event_t *ev)
{
    replay_count_t *rc = data;
    if (ev->type == FL_MKV_EV_FRAME) {
        if (ev->u.frame.lace_index == 0)
            rc->frames++;
        int64_t ms = floor_ms(ev->u.frame.pts_ns);
        if (ms > rc->last_ms)
            rc->last_ms = ms;
    }
    return 0;
}

/* Frames in a replayed fragment (its session header first, so the parser
 * knows the tracks), and its latest frame time: what `dropped` reports if
 * it is given up, and where timecodes go on after a clock that went back.
 * The bytes are ours and passed their tag; a parse that fails counts what
 * it read. Only at start, so a parser per fragment is cheap enough. */
static replay_count_t count_frames(const header_t *h, int64_t tc, const uint8_t *p, size_t n)
{
    replay_count_t rc = {0, tc};
    fl_mkv_parser_t *mp = NULL;
    if (fl_mkv_parser_new(NULL, count_frame, &rc, &mp) != 0)
        return rc;
    if (fl_mkv_parser_feed(mp, h->bytes, h->len) == 0 && fl_mkv_parser_feed(mp, p, n) == 0)
        (void)fl_mkv_parser_finish(mp);
    fl_mkv_parser_free(mp);
    return rc;
}

static int replay_cb(void *ctx, int kind, int64_t tc, const uint8_t *p, size_t n)
{
    flp_stream_t *s = ctx;
    if (kind == FLP_REC_HEADER) {
        header_t *last = s->n_replay_hdrs ? &s->hdr[s->n_replay_hdrs] : NULL;
        if (last && last->len == n && memcmp(last->bytes, p, n) == 0)
            return 0; /* the same session header again: same gen */
        if (s->n_replay_hdrs == MAX_REPLAY_HDRS || n > MAX_HEADER)
            return 1; /* keep the rest in the file for a later start */
        header_t *h = &s->hdr[s->n_replay_hdrs + 1];
        if (keep_bytes(s, &h->bytes, p, n) != 0)
            return 1;
        h->len = n;
        h->gen = s->next_gen++;
        h->valid = 1;
        s->n_replay_hdrs++;
        return 0;
    }
    header_t *rh = s->n_replay_hdrs ? &s->hdr[s->n_replay_hdrs] : NULL;
    if (!rh || !flp_store_fits(&s->st, n))
        return 0;
    flp_frag_t *f;
    uint8_t *dst;
    for (;;) {
        f = flp_store_begin(&s->st, tc, rh->gen);
        if (f && (dst = flp_store_reserve(&s->st, n)))
            break;
        if (f)
            s->st.count--; /* undo: it is the newest, and empty */
        if (!s->st.count)
            return 0;
        /* the file holds more than memory does: the oldest goes */
        flp_frag_t *o = flp_store_oldest(&s->st);
        s->stats.fragments_dropped++;
        s->stats.frames_dropped += o->n_frames;
        flp_store_pop(&s->st);
    }
    memcpy(dst, p, n);
    flp_store_commit(&s->st, n);
    f->closed = 1;
    replay_count_t rc = count_frames(rh, tc, p, n);
    f->n_frames = rc.frames;
    /* this run's fragments start after the replayed ones end */
    if (!s->have_last_tc || rc.last_ms > s->last_tc)
        s->last_tc = rc.last_ms;
    if (rc.last_ms > s->last_end_ms)
        s->last_end_ms = rc.last_ms;
    s->have_last_tc = 1;
    f->first_put_ns = mono_ns();
    s->stats.fragments++;
    return 0;
}

/* ---- life cycle ---- */

static void free_bytes(flp_stream_t *s)
{
    for (size_t i = 0; i < MAX_TRACKS; i++)
        flp_free(s->c, s->tracks[i].cp);
    for (size_t i = 0; i < sizeof s->hdr / sizeof s->hdr[0]; i++)
        flp_free(s->c, s->hdr[i].bytes);
}

int flp_stream_new(flp_client_t *c, const flp_stream_config_t *cfg, flp_stream_t **out)
{
    *out = NULL;
    if (!c || !cfg || !cfg->name || !*cfg->name || strlen(cfg->name) >= 256 || !cfg->tracks ||
        !cfg->n_tracks || cfg->n_tracks > MAX_TRACKS || (cfg->storage_path && !cfg->storage_key))
        return FLP_EINVAL;
    size_t size = cfg->store_size ? cfg->store_size : 8u << 20;
    if (size < MIN_STORE)
        return FLP_EINVAL;
    flp_stream_t *s = flp_alloc(c, sizeof *s);
    if (!s)
        return FLP_ENOMEM;
    s->c = c;
    snprintf(s->name, sizeof s->name, "%s", cfg->name);
    s->cb = cfg->callbacks;
    s->frag_ms = cfg->fragment_duration_ms;
    s->absolute = cfg->absolute_timestamps;
    s->policy = cfg->full_policy;
    s->block_ms = cfg->block_timeout_ms > 0 ? cfg->block_timeout_ms : 5000;
    s->latency_ms = cfg->latency_pressure_ms > 0 ? cfg->latency_pressure_ms : 10000;
    s->video = -1;
    s->next_gen = 1;
    if (cfg->resume_after_ms > 0) {
        s->last_tc = s->last_end_ms = cfg->resume_after_ms;
        s->have_last_tc = 1;
    }
    int err = FLP_EINVAL;
    for (size_t i = 0; i < cfg->n_tracks; i++) {
        const flp_track_t *in = &cfg->tracks[i];
        track_t *t = &s->tracks[i];
        size_t dup;
        if (in->number < 1 || in->number > 3 || find_track(s, in->number, &dup) ||
            in->codec_private_len > MAX_CP || (in->codec_private_len && !in->codec_private))
            goto fail;
        if (in->codec != FLP_CODEC_H264 && in->codec != FLP_CODEC_H265 &&
            in->codec != FLP_CODEC_AAC)
            goto fail;
        t->number = in->number;
        t->codec = in->codec;
        t->nal_len = in->nal_length_size;
        if (is_video(t) && t->nal_len != 0 && t->nal_len != 1 && t->nal_len != 2 && t->nal_len != 4)
            goto fail;
        t->out_len = t->nal_len ? t->nal_len : 4;
        if (in->codec_private_len &&
            keep_bytes(s, &t->cp, in->codec_private, in->codec_private_len) != 0) {
            err = FLP_ENOMEM;
            goto fail;
        }
        t->cp_len = in->codec_private_len;
        snprintf(t->name, sizeof t->name, "%s", in->name ? in->name : "");
        t->width = in->width;
        t->height = in->height;
        t->rate = in->sample_rate;
        t->channels = in->channels;
        if (is_video(t) && s->video < 0)
            s->video = (int)i;
        if (t->codec == FLP_CODEC_AAC && !t->cp_len) {
            if (!t->rate || !t->channels)
                goto fail;
            uint8_t asc[2];
            t->cp_len = aac_config(t->rate, t->channels, asc);
            if (keep_bytes(s, &t->cp, asc, t->cp_len) != 0) {
                err = FLP_ENOMEM;
                goto fail;
            }
        }
        s->n_tracks = i + 1;
    }
    err = FLP_ENOMEM;
    s->st.size = size;
    /* descriptors for fragments of 32 KiB on average (2 s at 128 kbit/s):
     * smaller ones may run out of descriptors before bytes */
    size_t nfrag = size / FRAG_BYTES < 64     ? 64
                   : size / FRAG_BYTES > 4096 ? 4096
                                              : size / FRAG_BYTES;
    s->mem = c->alloc.malloc_fn(c->alloc.ctx, size);
    s->frags = flp_alloc(c, nfrag * sizeof *s->frags);
    s->sendbuf = flp_alloc(c, SEND_CHUNK);
    if (!s->mem || !s->frags || !s->sendbuf)
        goto fail;
    s->heap += sizeof *s + nfrag * sizeof *s->frags + SEND_CHUNK;
    flp_store_init(&s->st, s->mem, size, s->frags, nfrag);
    fl_buf_init(&s->scratch, MAX_HEADER + 4096);
    if (fl_buf_reserve(&s->scratch, 4096) != 0)
        goto fail;
    s->heap += s->scratch.cap;
    {
        fl_mkv_tag_t eof = {fl_slice_str(EOF_TAG), fl_slice_str("1"), 0};
        fl_mkv_write_tags(&s->scratch, &eof, 1);
        s->eof_len = s->scratch.n;
        fl_buf_reset(&s->scratch);
    }
    pthread_mutex_init(&s->put_mu, NULL);
    pthread_mutex_init(&s->fs_mu, NULL);
    pthread_mutex_init(&s->mu, NULL);
    s->seed = (unsigned)fl_time_mono_ns() ^ (unsigned)(uintptr_t)s;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (cfg->storage_path) {
        /* the file holds the store plus room for headers and seals */
        err = flp_filestore_open(cfg->storage_path, cfg->storage_key, size + size / 8 + 65536,
                                 &s->fs);
        if (err) {
            flp_logf(c, FLP_LOG_ERROR, "stream %s: storage file %s: %s", s->name, cfg->storage_path,
                     flp_strerror(err));
            goto fail_sync;
        }
        unsigned damaged = 0;
        flp_filestore_replay(s->fs, replay_cb, s, &damaged);
        if (s->st.count || damaged)
            flp_logf(c, FLP_LOG_INFO, "stream %s: %zu fragments to resend from %s (%u damaged)",
                     s->name, s->st.count, cfg->storage_path, damaged);
        if (damaged) {
            s->stats.fragments_dropped += damaged;
        }
    }
    if (pthread_create(&s->thread, NULL, sender_main, s) != 0) {
        err = FLP_ENOMEM;
        goto fail_sync;
    }
    s->thread_started = 1;
    *out = s;
    return 0;
fail_sync:
    pthread_mutex_destroy(&s->put_mu);
    pthread_mutex_destroy(&s->fs_mu);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
fail:
    free_bytes(s);
    flp_filestore_close(s->fs);
    fl_buf_free(&s->scratch);
    flp_free(c, s->sendbuf);
    flp_free(c, s->frags);
    flp_free(c, s->mem);
    flp_free(c, s);
    return err;
}

int flp_stream_stop(flp_stream_t *s, int timeout_ms)
{
    if (!s)
        return FLP_EINVAL;
    pthread_mutex_lock(&s->put_mu);
    pthread_mutex_lock(&s->mu);
    if (s->open)
        close_fragment(s);
    s->stop_req = 1;
    wake_sender(s);
    /* from here put_frame answers FLP_ECLOSED at once instead of waiting */
    pthread_mutex_unlock(&s->put_mu);
    struct timespec deadline;
    timespec_in(&deadline, timeout_ms);
    int err = 0;
    while (!s->quit) {
        if (pthread_cond_timedwait(&s->cv, &s->mu, &deadline) != 0) {
            err = FLP_ETIMEDOUT;
            break;
        }
    }
    if (!err && !s->stopped_clean && !all_done(s))
        err = FLP_ETIMEDOUT;
    pthread_mutex_unlock(&s->mu);
    return err;
}

int flp_stream_stats(flp_stream_t *s, flp_stream_stats_t *out)
{
    if (!s || !out)
        return FLP_EINVAL;
    pthread_mutex_lock(&s->mu);
    *out = s->stats;
    out->store_used = s->st.used;
    out->store_size = s->st.size;
    out->heap_bytes = s->heap;
    pthread_mutex_unlock(&s->mu);
    return 0;
}

void flp_stream_free(flp_stream_t *s)
{
    if (!s)
        return;
    flp_client_t *c = s->c;
    if (s->thread_started) {
        pthread_mutex_lock(&s->mu);
        s->quit = 1;
        wake_sender(s);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->thread, NULL);
        pthread_mutex_lock(&s->mu);
        fs_release_pending(s); /* what the last acks freed */
        pthread_mutex_unlock(&s->mu);
    }
    pthread_mutex_destroy(&s->put_mu);
    pthread_mutex_destroy(&s->fs_mu);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    flp_filestore_close(s->fs);
    free_bytes(s);
    fl_buf_free(&s->scratch);
    flp_free(c, s->sendbuf);
    flp_free(c, s->frags);
    flp_free(c, s->mem);
    flp_free(c, s);
}
