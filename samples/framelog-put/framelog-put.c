/*
 * samples/framelog-put/framelog-put.c — push a video file into a framelog
 * stream with the producer SDK.
 *
 *   framelog-put FILE STREAM [options]      (framelog-put --help)
 *
 * The file (MP4, MKV, MPEG-TS, raw .h264/.h265: anything libavformat
 * demuxes) must hold an H.264 or H.265 video track; up to two AAC audio
 * tracks go with it (the SDK takes 3 tracks). Each demuxed packet becomes
 * one flp_frame_t, unchanged:
 *   - CodecPrivate is the stream's extradata when it is an avcC/hvcC record
 *     (frames are then length-prefixed, nal_length_size read from the
 *     record); Annex-B extradata or none means Annex-B frames
 *     (nal_length_size 0) and the SDK builds CodecPrivate from the first key
 *     frame's parameter sets; AAC's extradata is its AudioSpecificConfig;
 *   - the key flag is AV_PKT_FLAG_KEY;
 *   - timestamps are the stream's, converted to ns and made relative
 *     (absolute_timestamps = 0: the SDK maps the first frame to the wall
 *     clock), so the file keeps its own pace. With --loop, each pass
 *     continues where the previous ended. A run starts after what the
 *     stream holds already (flp_stream_end(), resume_after_ms): an upload
 *     faster than real time ends ahead of the clock, and the next run into
 *     the same stream goes on after it instead of being refused (4004), as
 *     a camera that restarts goes on from its clock.
 * The stream is created when it does not exist (--no-create: it must).
 * Video frames before the first key frame cannot start a fragment and are
 * skipped; audio that comes before it is held and put right after it.
 *
 * By default frames go as fast as the server takes them: the stream's store
 * is FLP_BLOCK, so put_frame waits while the store is full. --realtime paces
 * them by their timestamps instead, as a camera would.
 *
 * The exit status says whether the file is durable on the server: 0 only
 * when flp_stream_stop() saw every fragment acked PERSISTED and nothing was
 * dropped or refused; otherwise 1 with one line on stderr saying why (2 for
 * a usage error). Uses only the SDK's public header and libav*.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/avutil.h>

#include <framelog/producer.h>

#define PROG          "framelog-put"
#define MAX_AUDIO     2   /* video + 2 audio = the SDK's 3 tracks */
#define MAX_HELD      512 /* audio packets held until the first key frame */
#define TS_BIAS_NS    1000000000LL
#define NS_PER_SEC    1000000000LL
#define PROGRESS_NS   NS_PER_SEC
#define DEFAULT_ENDPT "http://127.0.0.1:8080"

typedef struct {
    const char *file, *stream;
    const char *endpoint, *region;
    const char *access_key, *secret_key, *session_token;
    const char *ca_file;
    const char *storage_path, *storage_key_file;
    int create;
    uint32_t retention_hours;
    int realtime;
    long loops; /* 0: forever */
    uint32_t fragment_ms;
    size_t store_bytes;
    int timeout_s;
    int verbose;
} options_t;

/* What the SDK's callbacks report, from its sender thread. */
typedef struct {
    int verbose;
    atomic_int ready;
    atomic_ullong acks_persisted, ack_errors, frames_dropped;
    pthread_mutex_t mu; /* guards last_msg */
    char last_msg[512]; /* the latest error the SDK or the server reported */
} report_t;

/* One input track mapped to an SDK track. */
typedef struct {
    int av_index;
    uint32_t number;
    AVRational tb;
    int64_t last_dts_ns; /* the last dts put, see put() */
    int have_last;
} track_map_t;

static volatile sig_atomic_t g_interrupted;

static void on_signal(int sig)
{
    (void)sig;
    g_interrupted = 1;
}

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * NS_PER_SEC + ts.tv_nsec;
}

/* The one clear line a failure ends with. */
static void fail_line(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, PROG ": ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
}

static void set_last(report_t *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pthread_mutex_lock(&r->mu);
    vsnprintf(r->last_msg, sizeof r->last_msg, fmt, ap);
    pthread_mutex_unlock(&r->mu);
    va_end(ap);
}

static void get_last(report_t *r, char *out, size_t cap)
{
    pthread_mutex_lock(&r->mu);
    snprintf(out, cap, "%s", r->last_msg[0] ? r->last_msg : "no reason given");
    pthread_mutex_unlock(&r->mu);
}

/* ---- SDK callbacks (sender thread) ---- */

static void cb_log(void *ctx, flp_log_level_t level, const char *line)
{
    (void)ctx;
    static const char *names[] = {"error", "warn", "info", "debug"};
    fprintf(stderr, PROG ": sdk %s: %s\n", names[level & 3], line);
}

static void cb_ready(void *ctx)
{
    report_t *r = ctx;
    atomic_store(&r->ready, 1);
    if (r->verbose)
        fprintf(stderr, PROG ": connected, sending\n");
}

static void cb_ack(void *ctx, flp_ack_type_t type, int64_t timecode_ms, const char *number,
                   int error_id)
{
    report_t *r = ctx;
    if (type == FLP_ACK_PERSISTED) {
        atomic_fetch_add(&r->acks_persisted, 1);
    } else if (type == FLP_ACK_ERROR) {
        atomic_fetch_add(&r->ack_errors, 1);
        set_last(r, "the server refused fragment %s (timecode %" PRId64 " ms): error id %d", number,
                 timecode_ms, error_id);
    }
    if (r->verbose > 1)
        fprintf(stderr, PROG ": ack %d fragment %s timecode %" PRId64 "\n", (int)type, number,
                timecode_ms);
}

static void cb_error(void *ctx, int err, int error_id, const char *msg)
{
    report_t *r = ctx;
    if (error_id)
        set_last(r, "%s (%s, server error id %d)", msg, flp_strerror(err), error_id);
    else
        set_last(r, "%s (%s)", msg, flp_strerror(err));
    if (r->verbose)
        fprintf(stderr, PROG ": error: %s: %s (id %d)\n", flp_strerror(err), msg, error_id);
}

static void cb_dropped(void *ctx, int64_t timecode_ms, uint32_t n_frames, const char *why)
{
    report_t *r = ctx;
    atomic_fetch_add(&r->frames_dropped, n_frames);
    set_last(r, "%u frames dropped from %" PRId64 " ms: %s", n_frames, timecode_ms, why);
    if (r->verbose)
        fprintf(stderr, PROG ": dropped %u frames from %" PRId64 " ms: %s\n", n_frames, timecode_ms,
                why);
}

static void cb_connection(void *ctx, flp_conn_state_t state, int err)
{
    report_t *r = ctx;
    static const char *names[] = {"connecting", "connected", "disconnected", "stopped"};
    if (r->verbose)
        fprintf(stderr, PROG ": connection %s%s%s\n", names[state & 3], err ? ": " : "",
                err ? flp_strerror(err) : "");
}

/* ---- options ---- */

static void usage(FILE *f)
{
    fprintf(f, "usage: " PROG " FILE STREAM [options]\n"
               "Push the H.264/H.265 video (and up to two AAC audio tracks) of FILE into the\n"
               "framelog stream STREAM; exit 0 once every fragment is acked PERSISTED.\n"
               "\n"
               "  --endpoint URL        server (default $FRAMELOG_ENDPOINT or " DEFAULT_ENDPT ")\n"
               "  --region R            signing region (default $AWS_REGION or us-east-1)\n"
               "  --access-key K        (default $AWS_ACCESS_KEY_ID; none: unsigned)\n"
               "  --secret-key S        (default $AWS_SECRET_ACCESS_KEY)\n"
               "  --ca-file PEM         trust these CAs for https (default: the system's)\n"
               "  --create              create the stream when it does not exist (the default)\n"
               "  --no-create           the stream must exist already\n"
               "  --retention-hours H   retention of a stream this creates (default 24)\n"
               "  --realtime            pace frames by their timestamps (default: as fast as\n"
               "                        the server takes them)\n"
               "  --loop N              send the file N times, one after the other (0: forever)\n"
               "  --fragment-ms MS      a fragment lasts at least MS (default 0: every key frame)\n"
               "  --store-bytes N       the SDK's content store (default 8 MiB, at least 256 KiB)\n"
               "  --storage-path FILE   keep the store in FILE too, sealed (survives restarts)\n"
               "  --storage-key-file F  its 32-byte key (default FILE.key, made when missing)\n"
               "  --timeout S           wait at most S s for the server (full store, final\n"
               "                        acks; default 30)\n"
               "  -v, --verbose         progress every second and connection events (-vv: more)\n"
               "  -h, --help            this help\n");
}

static int parse_u64(const char *s, uint64_t max, uint64_t *out)
{
    char *end;
    errno = 0;
    if (!s || !*s || *s == '-')
        return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v > max)
        return -1;
    *out = v;
    return 0;
}

static const char *env_or(const char *name, const char *dflt)
{
    const char *v = getenv(name);
    return v && *v ? v : dflt;
}

/* 0, or 2 (usage error, message printed) or 1 (--help printed: exit 0). */
static int parse_options(int argc, char **argv, options_t *o)
{
    enum {
        O_ENDPOINT = 256,
        O_REGION,
        O_ACCESS,
        O_SECRET,
        O_CA,
        O_CREATE,
        O_NO_CREATE,
        O_RETENTION,
        O_REALTIME,
        O_LOOP,
        O_FRAGMENT,
        O_STORE,
        O_STORAGE,
        O_STORAGE_KEY,
        O_TIMEOUT
    };
    static const struct option longs[] = {
        {"endpoint", required_argument, NULL, O_ENDPOINT},
        {"region", required_argument, NULL, O_REGION},
        {"access-key", required_argument, NULL, O_ACCESS},
        {"secret-key", required_argument, NULL, O_SECRET},
        {"ca-file", required_argument, NULL, O_CA},
        {"create", no_argument, NULL, O_CREATE},
        {"no-create", no_argument, NULL, O_NO_CREATE},
        {"retention-hours", required_argument, NULL, O_RETENTION},
        {"realtime", no_argument, NULL, O_REALTIME},
        {"loop", required_argument, NULL, O_LOOP},
        {"fragment-ms", required_argument, NULL, O_FRAGMENT},
        {"store-bytes", required_argument, NULL, O_STORE},
        {"storage-path", required_argument, NULL, O_STORAGE},
        {"storage-key-file", required_argument, NULL, O_STORAGE_KEY},
        {"timeout", required_argument, NULL, O_TIMEOUT},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    memset(o, 0, sizeof *o);
    o->endpoint = env_or("FRAMELOG_ENDPOINT", DEFAULT_ENDPT);
    o->region = env_or("AWS_REGION", env_or("AWS_DEFAULT_REGION", NULL));
    o->access_key = env_or("AWS_ACCESS_KEY_ID", NULL);
    o->secret_key = env_or("AWS_SECRET_ACCESS_KEY", NULL);
    o->session_token = env_or("AWS_SESSION_TOKEN", NULL);
    o->create = 1; /* as framelogsink and kvssink do */
    o->retention_hours = 24;
    o->loops = 1;
    o->timeout_s = 30;
    int c;
    uint64_t v;
    while ((c = getopt_long(argc, argv, "vh", longs, NULL)) != -1) {
        switch (c) {
        case O_ENDPOINT:
            o->endpoint = optarg;
            break;
        case O_REGION:
            o->region = optarg;
            break;
        case O_ACCESS:
            o->access_key = optarg;
            break;
        case O_SECRET:
            o->secret_key = optarg;
            break;
        case O_CA:
            o->ca_file = optarg;
            break;
        case O_CREATE:
            o->create = 1;
            break;
        case O_NO_CREATE:
            o->create = 0;
            break;
        case O_RETENTION:
            if (parse_u64(optarg, 87600, &v) != 0)
                goto bad;
            o->retention_hours = (uint32_t)v;
            break;
        case O_REALTIME:
            o->realtime = 1;
            break;
        case O_LOOP:
            if (parse_u64(optarg, 1000000000, &v) != 0)
                goto bad;
            o->loops = (long)v;
            break;
        case O_FRAGMENT:
            if (parse_u64(optarg, 20000, &v) != 0)
                goto bad;
            o->fragment_ms = (uint32_t)v;
            break;
        case O_STORE:
            if (parse_u64(optarg, (uint64_t)SIZE_MAX / 2, &v) != 0)
                goto bad;
            o->store_bytes = (size_t)v;
            break;
        case O_STORAGE:
            o->storage_path = optarg;
            break;
        case O_STORAGE_KEY:
            o->storage_key_file = optarg;
            break;
        case O_TIMEOUT:
            if (parse_u64(optarg, 86400, &v) != 0 || v == 0)
                goto bad;
            o->timeout_s = (int)v;
            break;
        case 'v':
            o->verbose++;
            break;
        case 'h':
            usage(stdout);
            return 1;
        default:
            fprintf(stderr, "Try '" PROG " --help'.\n");
            return 2;
        }
    }
    if (argc - optind != 2) {
        fprintf(stderr, PROG ": expected FILE and STREAM. Try '" PROG " --help'.\n");
        return 2;
    }
    o->file = argv[optind];
    o->stream = argv[optind + 1];
    if (!*o->stream) {
        fprintf(stderr, PROG ": the stream name is empty\n");
        return 2;
    }
    if (!o->access_key != !o->secret_key) {
        fprintf(stderr, PROG ": give both an access key and a secret key, or neither\n");
        return 2;
    }
    return 0;
bad:
    fprintf(stderr, PROG ": bad value '%s' for an option. Try '" PROG " --help'.\n", optarg);
    return 2;
}

/* ---- the store's key for --storage-path ---- */

/* Read the 32-byte key at path, or make one (mode 0600) when there is none. */
static int load_key(const char *path, uint8_t key[32])
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t n = read(fd, key, 32);
        close(fd);
        if (n != 32) {
            fail_line("%s: not a 32-byte key", path);
            return -1;
        }
        return 0;
    }
    if (errno != ENOENT) {
        fail_line("%s: %s", path, strerror(errno));
        return -1;
    }
    if (getrandom(key, 32, 0) != 32) {
        fail_line("no random bytes for a key: %s", strerror(errno));
        return -1;
    }
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 || write(fd, key, 32) != 32 || fsync(fd) != 0) {
        fail_line("%s: cannot write the key: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    return 0;
}

/* ---- input ---- */

static int open_input(const char *path, AVFormatContext **out)
{
    AVFormatContext *fmt = NULL;
    int err = avformat_open_input(&fmt, path, NULL, NULL);
    if (err < 0) {
        fail_line("%s: %s", path, av_err2str(err));
        return -1;
    }
    err = avformat_find_stream_info(fmt, NULL);
    if (err < 0) {
        fail_line("%s: cannot read its streams: %s", path, av_err2str(err));
        avformat_close_input(&fmt);
        return -1;
    }
    *out = fmt;
    return 0;
}

static int is_annexb(const uint8_t *p, size_t n)
{
    return (n >= 3 && p[0] == 0 && p[1] == 0 && p[2] == 1) ||
           (n >= 4 && p[0] == 0 && p[1] == 0 && p[2] == 0 && p[3] == 1);
}

/* The SDK track for the video stream: codec, framing and CodecPrivate. */
static int video_track(const char *file, const AVStream *st, flp_track_t *t)
{
    const AVCodecParameters *par = st->codecpar;
    memset(t, 0, sizeof *t);
    t->number = 1;
    t->name = "video";
    t->width = (unsigned)(par->width > 0 ? par->width : 0);
    t->height = (unsigned)(par->height > 0 ? par->height : 0);
    if (par->codec_id == AV_CODEC_ID_H264) {
        t->codec = FLP_CODEC_H264;
    } else if (par->codec_id == AV_CODEC_ID_HEVC) {
        t->codec = FLP_CODEC_H265;
    } else {
        fail_line("%s: unsupported video codec %s (framelog takes H.264 or H.265)", file,
                  avcodec_get_name(par->codec_id));
        return -1;
    }
    const uint8_t *x = par->extradata;
    size_t n = par->extradata ? (size_t)par->extradata_size : 0;
    if (n == 0 || is_annexb(x, n)) {
        /* Annex-B frames; the SDK builds CodecPrivate from the key frame */
        t->nal_length_size = 0;
        return 0;
    }
    /* avcC: version 1, lengthSizeMinusOne in byte 4; hvcC: in byte 21 */
    unsigned len_size = 0;
    if (t->codec == FLP_CODEC_H264 && n >= 7 && x[0] == 1)
        len_size = (x[4] & 3u) + 1;
    else if (t->codec == FLP_CODEC_H265 && n >= 23)
        len_size = (x[21] & 3u) + 1;
    if (len_size != 1 && len_size != 2 && len_size != 4) {
        fail_line("%s: the %s decoder configuration record is malformed", file,
                  avcodec_get_name(par->codec_id));
        return -1;
    }
    t->nal_length_size = len_size;
    t->codec_private = x;
    t->codec_private_len = n;
    return 0;
}

/* Pick the tracks: the best video stream, then up to MAX_AUDIO AAC ones. */
static int pick_tracks(const options_t *o, AVFormatContext *fmt, flp_track_t *tracks,
                       size_t *n_tracks, track_map_t *map, int *video_av)
{
    int v = av_find_best_stream(fmt, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
    if (v < 0) {
        fail_line("%s: no video track", o->file);
        return -1;
    }
    if (video_track(o->file, fmt->streams[v], &tracks[0]) != 0)
        return -1;
    map[0] = (track_map_t){v, 1, fmt->streams[v]->time_base, 0, 0};
    *video_av = v;
    size_t n = 1;
    for (unsigned i = 0; i < fmt->nb_streams; i++) {
        const AVCodecParameters *par = fmt->streams[i]->codecpar;
        if (par->codec_type != AVMEDIA_TYPE_AUDIO)
            continue;
        if (par->codec_id != AV_CODEC_ID_AAC || par->extradata_size <= 0 || n > MAX_AUDIO) {
            if (o->verbose)
                fprintf(stderr, PROG ": skipping audio stream %u (%s%s)\n", i,
                        avcodec_get_name(par->codec_id),
                        par->codec_id != AV_CODEC_ID_AAC ? ": only AAC is taken"
                        : n > MAX_AUDIO                  ? ": 3 tracks at most"
                                                         : " without AudioSpecificConfig");
            continue;
        }
        flp_track_t *t = &tracks[n];
        memset(t, 0, sizeof *t);
        t->number = (uint32_t)n + 1;
        t->codec = FLP_CODEC_AAC;
        t->codec_private = par->extradata;
        t->codec_private_len = (size_t)par->extradata_size;
        t->name = "audio";
        t->sample_rate = (unsigned)par->sample_rate;
        t->channels = (unsigned)par->ch_layout.nb_channels;
        map[n] = (track_map_t){(int)i, t->number, fmt->streams[i]->time_base, 0, 0};
        n++;
    }
    *n_tracks = n;
    return 0;
}

/* The earliest start of the picked streams, in ns: timestamps count from
 * there (plus a bias, so that B-frame dts before it stay positive). */
static int64_t origin_ns(AVFormatContext *fmt, const track_map_t *map, size_t n)
{
    int64_t o = INT64_MAX;
    for (size_t i = 0; i < n; i++) {
        const AVStream *st = fmt->streams[map[i].av_index];
        if (st->start_time != AV_NOPTS_VALUE) {
            int64_t s = av_rescale_q(st->start_time, st->time_base, (AVRational){1, 1000000000});
            if (s < o)
                o = s;
        }
    }
    return o == INT64_MAX ? 0 : o;
}

/* ---- the run ---- */

typedef struct {
    const options_t *o;
    report_t *rep;
    flp_stream_t *s;
    track_map_t map[1 + MAX_AUDIO];
    size_t n_map;
    int video_av;
    int64_t origin;      /* ns, see origin_ns */
    int64_t loop_offset; /* ns added in this pass */
    int64_t pass_end;    /* ns, the latest pts + duration of this pass */
    int seen_key;        /* a video key frame was put (this run) */
    AVPacket *held[MAX_HELD];
    int held_track[MAX_HELD];
    size_t n_held;
    uint64_t skipped, refused;
    int put_err;            /* a put error that ends the run */
    int64_t t0_mono, t0_ts; /* --realtime: the first frame's times */
    int64_t last_progress;
    uint64_t frames_put;
    int64_t start_mono;
    char refuse_why[160];
} run_t;

static void progress(run_t *r)
{
    int tty = isatty(2);
    if (!r->o->verbose && !tty)
        return;
    int64_t now = mono_ns();
    if (now - r->last_progress < PROGRESS_NS)
        return;
    r->last_progress = now;
    flp_stream_stats_t st;
    if (flp_stream_stats(r->s, &st) != 0)
        return;
    double secs = (double)(now - r->start_mono) / 1e9;
    if (secs <= 0)
        secs = 1e-9;
    int inplace = tty && !r->o->verbose; /* one line rewritten on a terminal */
    fprintf(stderr,
            "%s" PROG ": %" PRIu64 " frames, %" PRIu64 "/%" PRIu64 " fragments persisted, "
            "%.1f frames/s, %.2f Mbit/s, store %zu/%zu KiB%s",
            inplace ? "\r" : "", st.frames_put, st.fragments_persisted, st.fragments,
            (double)st.frames_put / secs, (double)st.bytes_sent * 8 / secs / 1e6,
            st.store_used / 1024, st.store_size / 1024, inplace ? "\033[K" : "\n");
}

/* Put one frame; 0, or -1 when the run must end (r->put_err set). */
static int put(run_t *r, track_map_t *m, const AVPacket *pkt)
{
    const AVRational ns = {1, 1000000000};
    int64_t pts = pkt->pts != AV_NOPTS_VALUE ? pkt->pts : pkt->dts;
    int64_t dts = pkt->dts != AV_NOPTS_VALUE ? pkt->dts : pkt->pts;
    if (pts == AV_NOPTS_VALUE) {
        r->skipped++;
        return 0;
    }
    flp_frame_t f;
    memset(&f, 0, sizeof f);
    f.track = m->number;
    f.pts_ns = av_rescale_q(pts, m->tb, ns) - r->origin + TS_BIAS_NS + r->loop_offset;
    f.dts_ns = av_rescale_q(dts, m->tb, ns) - r->origin + TS_BIAS_NS + r->loop_offset;
    /* Matroska stores no dts: libavformat guesses one, and with B-frames
     * the guess can go back. Packets come in decoding order and the SDK
     * uses dts only to check that order, so dts never goes back here. */
    if (m->have_last && f.dts_ns < m->last_dts_ns)
        f.dts_ns = m->last_dts_ns;
    f.duration_ns = pkt->duration > 0 ? av_rescale_q(pkt->duration, m->tb, ns) : 0;
    f.keyframe = (pkt->flags & AV_PKT_FLAG_KEY) != 0;
    f.data = pkt->data;
    f.size = (size_t)pkt->size;
    if (f.pts_ns + f.duration_ns - r->loop_offset > r->pass_end)
        r->pass_end = f.pts_ns + f.duration_ns - r->loop_offset;

    if (r->o->realtime) {
        if (!r->t0_mono) {
            r->t0_mono = mono_ns();
            r->t0_ts = f.dts_ns;
        }
        int64_t due = r->t0_mono + (f.dts_ns - r->t0_ts);
        if (due > mono_ns()) {
            struct timespec ts = {(time_t)(due / NS_PER_SEC), (long)(due % NS_PER_SEC)};
            while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR &&
                   !g_interrupted)
                ;
        }
    }
    int err = flp_stream_put_frame(r->s, &f);
    if (err == FLP_EINVAL) {
        /* the SDK refused this frame (e.g. its timestamp goes back) */
        r->refused++;
        snprintf(r->refuse_why, sizeof r->refuse_why, "track %u frame at %.3f s: %s", m->number,
                 (double)pts * av_q2d(m->tb), flp_strerror(err));
        return 0;
    }
    if (err != 0) {
        r->put_err = err;
        return -1;
    }
    m->last_dts_ns = f.dts_ns;
    m->have_last = 1;
    r->frames_put++;
    progress(r);
    return 0;
}

static int hold(run_t *r, int track_i, const AVPacket *pkt)
{
    if (r->n_held == MAX_HELD) {
        r->skipped++;
        return 0;
    }
    AVPacket *c = av_packet_clone(pkt);
    if (!c) {
        r->put_err = FLP_ENOMEM;
        return -1;
    }
    r->held[r->n_held] = c;
    r->held_track[r->n_held++] = track_i;
    return 0;
}

static int put_held(run_t *r)
{
    int rc = 0;
    for (size_t i = 0; i < r->n_held; i++) {
        if (rc == 0)
            rc = put(r, &r->map[r->held_track[i]], r->held[i]);
        av_packet_free(&r->held[i]);
    }
    r->n_held = 0;
    return rc;
}

/* One pass over the file. 0, or -1 when the run must end. */
static int send_pass(run_t *r, AVFormatContext *fmt)
{
    AVPacket *pkt = av_packet_alloc();
    if (!pkt) {
        r->put_err = FLP_ENOMEM;
        return -1;
    }
    int rc = 0, err = 0;
    while (!g_interrupted && (err = av_read_frame(fmt, pkt)) >= 0) {
        int ti = -1;
        for (size_t i = 0; i < r->n_map; i++)
            if (r->map[i].av_index == pkt->stream_index)
                ti = (int)i;
        if (ti < 0 || (pkt->flags & AV_PKT_FLAG_DISCARD)) {
            av_packet_unref(pkt);
            continue;
        }
        if (!r->seen_key) {
            if (ti != 0)
                rc = hold(r, ti, pkt);
            else if (!(pkt->flags & AV_PKT_FLAG_KEY))
                r->skipped++;
            else if ((rc = put(r, &r->map[0], pkt)) == 0) {
                r->seen_key = 1;
                rc = put_held(r);
            }
        } else {
            rc = put(r, &r->map[ti], pkt);
        }
        av_packet_unref(pkt);
        if (rc != 0)
            break;
    }
    if (rc == 0 && err < 0 && err != AVERROR_EOF && !g_interrupted) {
        fail_line("%s: read error: %s", r->o->file, av_err2str(err));
        rc = -2;
    }
    av_packet_free(&pkt);
    return rc;
}

/* Create the client and make sure the stream exists. */
static int connect_client(const options_t *o, const char *media_type, flp_client_t **out)
{
    flp_client_config_t cc;
    memset(&cc, 0, sizeof cc);
    cc.endpoint = o->endpoint;
    cc.region = o->region;
    cc.access_key = o->access_key;
    cc.secret_key = o->secret_key;
    cc.session_token = o->access_key ? o->session_token : NULL;
    cc.ca_file = o->ca_file;
    if (o->verbose) {
        cc.log = cb_log;
        cc.log_level = o->verbose > 1 ? FLP_LOG_DEBUG : FLP_LOG_INFO;
    } else {
        cc.log_level = FLP_LOG_ERROR;
    }
    flp_client_t *c = NULL;
    int err = flp_client_new(&cc, &c);
    if (err != 0) {
        fail_line("cannot use endpoint %s: %s", o->endpoint, flp_strerror(err));
        return -1;
    }
    char msg[512] = "";
    flp_stream_info_t info;
    err = flp_describe_stream(c, o->stream, &info, msg, sizeof msg);
    if (err == FLP_ENOTFOUND && o->create) {
        msg[0] = 0;
        err = flp_create_stream(c, o->stream, media_type, o->retention_hours, msg, sizeof msg);
        if (err == 0 && o->verbose)
            fprintf(stderr, PROG ": created stream %s\n", o->stream);
        if (err == FLP_EEXISTS)
            err = 0; /* made meanwhile by someone else */
        if (err != 0) {
            fail_line("cannot create stream %s: %s%s%s", o->stream, flp_strerror(err),
                      msg[0] ? ": " : "", msg);
            goto fail;
        }
    } else if (err == FLP_ENOTFOUND) {
        fail_line("stream %s not found on %s: %s (--no-create: it must exist)", o->stream,
                  o->endpoint, msg[0] ? msg : flp_strerror(err));
        goto fail;
    } else if (err == FLP_ECONNECT) {
        fail_line("cannot reach the server at %s: %s", o->endpoint,
                  msg[0] ? msg : flp_strerror(err));
        goto fail;
    } else if (err != 0) {
        fail_line("stream %s on %s: %s%s%s", o->stream, o->endpoint, flp_strerror(err),
                  msg[0] ? ": " : "", msg);
        goto fail;
    }
    *out = c;
    return 0;
fail:
    flp_client_free(c);
    return -1;
}

int main(int argc, char **argv)
{
    options_t o;
    int prc = parse_options(argc, argv, &o);
    if (prc)
        return prc == 1 ? 0 : 2;
    av_log_set_level(o.verbose > 1 ? AV_LOG_WARNING : AV_LOG_ERROR);

    int exit_code = 1;
    AVFormatContext *fmt = NULL;
    flp_client_t *client = NULL;
    report_t rep;
    memset(&rep, 0, sizeof rep);
    pthread_mutex_init(&rep.mu, NULL);
    rep.verbose = o.verbose;
    run_t r;
    memset(&r, 0, sizeof r);
    r.o = &o;
    r.rep = &rep;
    uint8_t key[32];
    int err;

    if (open_input(o.file, &fmt) != 0)
        goto out;
    flp_track_t tracks[1 + MAX_AUDIO];
    /* the tracks point at this first context's extradata, which the stream
     * copies; later passes reopen the file with the same streams */
    if (pick_tracks(&o, fmt, tracks, &r.n_map, r.map, &r.video_av) != 0)
        goto out;
    r.origin = origin_ns(fmt, r.map, r.n_map);
    if (o.verbose) {
        fprintf(stderr, PROG ": %s: %s %ux%u (%s), %zu audio track(s)\n", o.file,
                tracks[0].codec == FLP_CODEC_H264 ? "H.264" : "H.265", tracks[0].width,
                tracks[0].height, tracks[0].nal_length_size ? "length-prefixed" : "Annex-B",
                r.n_map - 1);
    }

    char media_type[64];
    snprintf(media_type, sizeof media_type, "video/%s%s",
             tracks[0].codec == FLP_CODEC_H264 ? "h264" : "h265", r.n_map > 1 ? ",audio/aac" : "");
    if (connect_client(&o, media_type, &client) != 0)
        goto out;

    char key_path[4200];
    if (o.storage_path) {
        if (o.storage_key_file)
            snprintf(key_path, sizeof key_path, "%s", o.storage_key_file);
        else
            snprintf(key_path, sizeof key_path, "%s.key", o.storage_path);
        if (load_key(key_path, key) != 0)
            goto out;
    }

    /* Producer timestamps: the file's own timing, its first frame mapped
     * to now, or to just after what the stream holds when that ends later
     * (an earlier upload faster than real time is ahead of the clock; the
     * server refuses a fragment that goes back before it with 4004). */
    int64_t resume_ms = 0;
    char emsg[512] = "";
    err = flp_stream_end(client, o.stream, &resume_ms, emsg, sizeof emsg);
    if (err != 0) {
        fprintf(stderr, PROG ": warning: where stream %s ends is unknown (%s%s%s): starting now\n",
                o.stream, flp_strerror(err), emsg[0] ? ": " : "", emsg);
        resume_ms = 0;
    } else if (o.verbose && resume_ms) {
        fprintf(stderr, PROG ": the stream's stored media ends at %" PRId64 " ms\n", resume_ms);
    }

    flp_stream_config_t sc;
    memset(&sc, 0, sizeof sc);
    sc.name = o.stream;
    sc.tracks = tracks;
    sc.n_tracks = r.n_map;
    sc.store_size = o.store_bytes;
    sc.fragment_duration_ms = o.fragment_ms;
    sc.absolute_timestamps = 0;
    sc.full_policy = FLP_BLOCK;
    sc.block_timeout_ms = o.timeout_s * 1000;
    sc.storage_path = o.storage_path;
    sc.storage_key = o.storage_path ? key : NULL;
    sc.callbacks.ready = cb_ready;
    sc.callbacks.ack = cb_ack;
    sc.callbacks.error = cb_error;
    sc.callbacks.dropped = cb_dropped;
    sc.callbacks.connection = cb_connection;
    sc.callbacks.ctx = &rep;
    sc.resume_after_ms = resume_ms;
    err = flp_stream_new(client, &sc, &r.s);
    if (err != 0) {
        size_t cp = 0;
        for (size_t i = 0; i < r.n_map; i++)
            cp = tracks[i].codec_private_len > cp ? tracks[i].codec_private_len : cp;
        fail_line("cannot start the stream %s: %s (tracks: %zu, largest CodecPrivate %zu bytes)",
                  o.stream, flp_strerror(err), r.n_map, cp);
        goto out;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    r.start_mono = mono_ns();
    r.last_progress = r.start_mono;
    int rc = 0;
    for (long pass = 0; (o.loops == 0 || pass < o.loops) && !g_interrupted; pass++) {
        if (pass > 0) {
            avformat_close_input(&fmt);
            if (open_input(o.file, &fmt) != 0) {
                rc = -2;
                break;
            }
            r.loop_offset += r.pass_end > 0 ? r.pass_end : NS_PER_SEC;
            r.pass_end = 0;
        }
        rc = send_pass(&r, fmt);
        if (rc != 0)
            break;
    }
    for (size_t i = 0; i < r.n_held; i++)
        av_packet_free(&r.held[i]);
    r.n_held = 0;

    /* flush and wait for the last acks */
    int stop_err = flp_stream_stop(r.s, o.timeout_s * 1000);
    flp_stream_stats_t st;
    memset(&st, 0, sizeof st);
    flp_stream_stats(r.s, &st);
    double secs = (double)(mono_ns() - r.start_mono) / 1e9;
    if (isatty(2) && !o.verbose && r.frames_put)
        fprintf(stderr, "\r\033[K");
    fprintf(stderr,
            PROG ": %" PRIu64 " frames sent, %" PRIu64 "/%" PRIu64 " fragments persisted, %" PRIu64
                 " dropped (%" PRIu64 " frames), %.1f s (%.1f frames/s, %.2f MB/s)\n",
            st.frames_put, st.fragments_persisted, st.fragments, st.fragments_dropped,
            st.frames_dropped, secs, secs > 0 ? (double)st.frames_put / secs : 0,
            secs > 0 ? (double)st.bytes_sent / secs / 1e6 : 0);
    if (r.skipped)
        fprintf(stderr,
                PROG ": %" PRIu64 " packets skipped (before the first key frame, or "
                     "without a timestamp)\n",
                r.skipped);

    char why[512];
    get_last(&rep, why, sizeof why);
    if (rc == -2) {
        /* the line is printed */
    } else if (g_interrupted) {
        fail_line("interrupted: %" PRIu64 " of %" PRIu64 " fragments persisted",
                  st.fragments_persisted, st.fragments);
        exit_code = 130;
    } else if (r.put_err) {
        fail_line("the stream took no more frames (%s): %s", flp_strerror(r.put_err), why);
    } else if (r.refused) {
        fail_line("%" PRIu64 " frames refused by the SDK, the last: %s", r.refused, r.refuse_why);
    } else if (st.frames_put == 0) {
        fail_line("%s: no frame to send (no video key frame)", o.file);
    } else if (stop_err != 0 || st.fragments_persisted < st.fragments) {
        if (!atomic_load(&rep.ready))
            fail_line("could not send to %s: %s", o.endpoint, why);
        else if (stop_err != 0)
            fail_line("%" PRIu64 " of %" PRIu64 " fragments persisted after %d s (%s): %s",
                      st.fragments_persisted, st.fragments, o.timeout_s, flp_strerror(stop_err),
                      why);
        else /* every fragment was answered, not every one PERSISTED */
            fail_line("%" PRIu64 " of %" PRIu64 " fragments persisted, %" PRIu64 " given up: %s",
                      st.fragments_persisted, st.fragments, st.fragments_dropped, why);
    } else if (st.fragments_dropped || st.frames_dropped || atomic_load(&rep.ack_errors)) {
        fail_line("not everything was stored: %s", why);
    } else {
        exit_code = 0;
    }

out:
    flp_stream_free(r.s);
    flp_client_free(client);
    avformat_close_input(&fmt);
    pthread_mutex_destroy(&rep.mu);
    return exit_code;
}
