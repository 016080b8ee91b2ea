/*
 * bench/bench_sdk.c — what libframelog-producer costs a device, against the
 * real framelogd on loopback, each figure beside a reference measured in
 * the same run.
 *
 *   bench_sdk [-s SECONDS] [-d DIR]
 *
 * The frames are real: ffmpeg makes 10 s of 1280x720 H.264 at 30 fps and
 * 2 Mbit/s (CBR-ish, a key frame every 30, no B-frames, so ~8 KiB access
 * units, length-prefixed with the avcC record as CodecPrivate) in a
 * temporary folder, which libavformat reads into memory once. framelogd (the
 * build's) is started on 127.0.0.1:0 with a fresh data dir under DIR
 * (default /var/tmp); its port comes from its "listening on" line.
 *
 *   (a) CPU per frame at a camera's pace: 30 frames/s for SECONDS into one
 *       stream; this process's CPU time (main thread + the SDK's sender
 *       thread, CLOCK_PROCESS_CPUTIME_ID) per frame put, beside memcpy of
 *       the same frames (the least any SDK that copies a frame can cost).
 *   (b) The most the loopback server takes: frames put as fast as
 *       FLP_BLOCK lets them for SECONDS into a second stream; frames/s,
 *       MB/s, wall and CPU ns per frame, beside memcpy's MB/s.
 *   (c) Heap: every allocation of the client and both streams goes through
 *       counting allocator hooks (flp_client_config_t.allocator); the peak
 *       and the steady state held, minus the store, against the 64 KiB
 *       target; the stream's own heap_bytes statistic beside it.
 *   (d) Code size: libframelog-producer.so stripped (strip on a copy) and
 *       its text/data/bss (size), against the 150 KiB target.
 */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <framelog/producer.h>
#include <libavformat/avformat.h>

#include "bench_common.h"

#define FPS          30
#define FRAME_NS     (1000000000LL / FPS)
#define STORE_BYTES  (8u << 20)
#define HEAP_TARGET  (64u << 10)
#define SO_TARGET    (150u << 10)
#define STOP_TIMEOUT 30000

/* ---- clocks ---- */

static int64_t clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int64_t mono(void)
{
    return clock_ns(CLOCK_MONOTONIC);
}

static int64_t cpu(void)
{
    return clock_ns(CLOCK_PROCESS_CPUTIME_ID);
}

/* ---- the counting allocator ---- */

typedef struct {
    atomic_llong cur, peak, calls;
} heap_t;

/* Each block carries its size in a 16-byte header (keeps malloc's
 * alignment). */
#define HDR 16

static void heap_add(heap_t *h, long long d)
{
    long long now = atomic_fetch_add(&h->cur, d) + d;
    long long pk = atomic_load(&h->peak);
    while (now > pk && !atomic_compare_exchange_weak(&h->peak, &pk, now))
        ;
}

static void *h_malloc(void *ctx, size_t n)
{
    uint8_t *p = malloc(n + HDR);
    if (!p)
        return NULL;
    memcpy(p, &n, sizeof n);
    heap_add(ctx, (long long)n);
    atomic_fetch_add(&((heap_t *)ctx)->calls, 1);
    return p + HDR;
}

static void h_free(void *ctx, void *q)
{
    if (!q)
        return;
    uint8_t *p = (uint8_t *)q - HDR;
    size_t n;
    memcpy(&n, p, sizeof n);
    heap_add(ctx, -(long long)n);
    free(p);
}

static void *h_realloc(void *ctx, void *q, size_t n)
{
    if (!q)
        return h_malloc(ctx, n);
    uint8_t *p = (uint8_t *)q - HDR;
    size_t old;
    memcpy(&old, p, sizeof old);
    uint8_t *r = realloc(p, n + HDR);
    if (!r)
        return NULL;
    memcpy(r, &n, sizeof n);
    heap_add(ctx, (long long)n - (long long)old);
    atomic_fetch_add(&((heap_t *)ctx)->calls, 1);
    return r + HDR;
}

/* The process's heap in use (glibc): small blocks plus mmapped ones. */
static long long heap_in_use(void)
{
    struct mallinfo2 mi = mallinfo2();
    return (long long)mi.uordblks + (long long)mi.hblkhd;
}

/* ---- the frames ---- */

typedef struct {
    uint8_t *data;
    size_t size;
    int key;
} frame_t;

typedef struct {
    frame_t *f;
    size_t n;
    size_t bytes;
    uint8_t *codec_private;
    size_t codec_private_len;
    unsigned nal_length_size, width, height;
} clip_t;

static int run_cmd(char *const argv[])
{
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open("/dev/null", O_WRONLY);
        dup2(fd, 1);
        execvp(argv[0], argv);
        _exit(127);
    }
    int st;
    if (pid < 0 || waitpid(pid, &st, 0) != pid)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int load_clip(const char *dir, clip_t *c)
{
    char path[700];
    snprintf(path, sizeof path, "%s/clip.mp4", dir);
    char *ff[] = {"ffmpeg",
                  "-hide_banner",
                  "-loglevel",
                  "error",
                  "-f",
                  "lavfi",
                  "-i",
                  "testsrc2=size=1280x720:rate=30",
                  "-t",
                  "10",
                  "-c:v",
                  "libx264",
                  "-preset",
                  "veryfast",
                  "-b:v",
                  "2M",
                  "-maxrate",
                  "2M",
                  "-bufsize",
                  "1M",
                  "-g",
                  "30",
                  "-keyint_min",
                  "30",
                  "-sc_threshold",
                  "0",
                  "-bf",
                  "0",
                  "-pix_fmt",
                  "yuv420p",
                  "-y",
                  path,
                  NULL};
    if (run_cmd(ff) != 0) {
        fprintf(stderr, "bench_sdk: ffmpeg (libx264) failed\n");
        return -1;
    }
    AVFormatContext *fmt = NULL;
    if (avformat_open_input(&fmt, path, NULL, NULL) < 0 ||
        avformat_find_stream_info(fmt, NULL) < 0) {
        fprintf(stderr, "bench_sdk: cannot read %s\n", path);
        return -1;
    }
    int v = av_find_best_stream(fmt, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
    const AVCodecParameters *par = fmt->streams[v]->codecpar;
    memset(c, 0, sizeof *c);
    c->codec_private_len = (size_t)par->extradata_size;
    c->codec_private = malloc(c->codec_private_len);
    memcpy(c->codec_private, par->extradata, c->codec_private_len);
    c->nal_length_size = (par->extradata[4] & 3u) + 1;
    c->width = (unsigned)par->width;
    c->height = (unsigned)par->height;
    size_t cap = 512;
    c->f = calloc(cap, sizeof *c->f);
    AVPacket *pkt = av_packet_alloc();
    while (av_read_frame(fmt, pkt) >= 0) {
        if (pkt->stream_index == v) {
            if (c->n == cap)
                c->f = realloc(c->f, (cap *= 2) * sizeof *c->f);
            frame_t *f = &c->f[c->n++];
            f->size = (size_t)pkt->size;
            f->data = malloc(f->size);
            memcpy(f->data, pkt->data, f->size);
            f->key = (pkt->flags & AV_PKT_FLAG_KEY) != 0;
            c->bytes += f->size;
        }
        av_packet_unref(pkt);
    }
    av_packet_free(&pkt);
    avformat_close_input(&fmt);
    unlink(path);
    return c->n && c->f[0].key ? 0 : -1;
}

static void free_clip(clip_t *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->f[i].data);
    free(c->f);
    free(c->codec_private);
}

/* memcpy of the clip's frames, one frame at a time, for about secs: CPU ns
 * per frame and MB/s. */
static void memcpy_ref(const clip_t *c, double secs, double *ns_per_frame, double *mbps)
{
    size_t max = 0;
    for (size_t i = 0; i < c->n; i++)
        if (c->f[i].size > max)
            max = c->f[i].size;
    uint8_t *dst = malloc(max);
    volatile uint8_t sink = 0;
    uint64_t frames = 0, bytes = 0;
    int64_t c0 = cpu(), end = mono() + (int64_t)(secs * 1e9);
    while (mono() < end) {
        for (size_t i = 0; i < c->n; i++) {
            memcpy(dst, c->f[i].data, c->f[i].size);
            sink ^= dst[c->f[i].size - 1];
            bytes += c->f[i].size;
        }
        frames += c->n;
    }
    int64_t used = cpu() - c0;
    *ns_per_frame = (double)used / (double)frames;
    *mbps = (double)bytes / ((double)used / 1e9) / 1e6;
    (void)sink;
    free(dst);
}

/* ---- the server ---- */

/* ---- streams ---- */

typedef struct {
    atomic_int ready;
    atomic_ullong persisted, errors, stream_errors, dropped;
} watch_t;

static void on_ready(void *ctx)
{
    atomic_store(&((watch_t *)ctx)->ready, 1);
}

static void on_ack(void *ctx, flp_ack_type_t type, int64_t tc, const char *num, int error_id)
{
    watch_t *w = ctx;
    (void)tc;
    if (type == FLP_ACK_PERSISTED)
        atomic_fetch_add(&w->persisted, 1);
    if (type == FLP_ACK_ERROR && atomic_fetch_add(&w->errors, 1) < 3)
        fprintf(stderr, "bench_sdk: ack ERROR %d for fragment %s\n", error_id, num);
}

static void on_error(void *ctx, int err, int error_id, const char *msg)
{
    watch_t *w = ctx;
    if (atomic_fetch_add(&w->stream_errors, 1) < 3)
        fprintf(stderr, "bench_sdk: stream error %s (%d): %s\n", flp_strerror(err), error_id, msg);
}

static void on_dropped(void *ctx, int64_t tc, uint32_t n, const char *why)
{
    (void)tc;
    (void)why;
    atomic_fetch_add(&((watch_t *)ctx)->dropped, n);
}

static flp_stream_t *open_stream(flp_client_t *cl, const char *name, const clip_t *c, watch_t *w)
{
    flp_track_t t;
    memset(&t, 0, sizeof t);
    t.number = 1;
    t.codec = FLP_CODEC_H264;
    t.nal_length_size = c->nal_length_size;
    t.codec_private = c->codec_private;
    t.codec_private_len = c->codec_private_len;
    t.width = c->width;
    t.height = c->height;
    flp_stream_config_t sc;
    memset(&sc, 0, sizeof sc);
    sc.name = name;
    sc.tracks = &t;
    sc.n_tracks = 1;
    sc.store_size = STORE_BYTES;
    sc.full_policy = FLP_BLOCK;
    sc.block_timeout_ms = 30000;
    sc.callbacks.ready = on_ready;
    sc.callbacks.ack = on_ack;
    sc.callbacks.error = on_error;
    sc.callbacks.dropped = on_dropped;
    sc.callbacks.ctx = w;
    char msg[256] = "";
    int err = flp_create_stream(cl, name, "video/h264", 1, msg, sizeof msg);
    if (err != 0 && err != FLP_EEXISTS) {
        fprintf(stderr, "bench_sdk: create %s: %s %s\n", name, flp_strerror(err), msg);
        exit(1);
    }
    flp_stream_t *s = NULL;
    err = flp_stream_new(cl, &sc, &s);
    if (err != 0) {
        fprintf(stderr, "bench_sdk: stream %s: %s\n", name, flp_strerror(err));
        exit(1);
    }
    return s;
}

/* The SDK connects once it has a session header, i.e. after the first key
 * frame: put it, then wait for ready, so that connecting is not measured. */
static int put_frame(flp_stream_t *s, const clip_t *c, uint64_t i);

static void first_frame(flp_stream_t *s, const char *name, watch_t *w, const clip_t *c)
{
    int err = put_frame(s, c, 0);
    if (err != 0) {
        fprintf(stderr, "bench_sdk: %s: first frame: %s\n", name, flp_strerror(err));
        exit(1);
    }
    for (int i = 0; i < 1000 && !atomic_load(&w->ready); i++)
        usleep(10000);
    if (!atomic_load(&w->ready)) {
        fprintf(stderr, "bench_sdk: stream %s did not connect in 10 s\n", name);
        exit(1);
    }
}

static int put_frame(flp_stream_t *s, const clip_t *c, uint64_t i)
{
    const frame_t *fr = &c->f[i % c->n];
    flp_frame_t f;
    memset(&f, 0, sizeof f);
    f.track = 1;
    f.pts_ns = f.dts_ns = (int64_t)i * FRAME_NS;
    f.duration_ns = FRAME_NS;
    f.keyframe = fr->key;
    f.data = fr->data;
    f.size = fr->size;
    return flp_stream_put_frame(s, &f);
}

/* ---- code size ---- */

static long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

static void code_size(const char *dir, long *stripped, long *text, long *data, long *bss)
{
    char copy[700], cmd[2000];
    snprintf(copy, sizeof copy, "%s/libframelog-producer.so", dir);
    snprintf(cmd, sizeof cmd, "cp '%s' '%s' && strip --strip-all '%s'", FL_PRODUCER_SO, copy, copy);
    *stripped = system(cmd) == 0 ? file_size(copy) : -1;
    *text = *data = *bss = -1;
    snprintf(cmd, sizeof cmd, "size '%s'", copy);
    FILE *p = popen(cmd, "r");
    if (p) {
        char line[512];
        if (fgets(line, sizeof line, p) && fgets(line, sizeof line, p))
            sscanf(line, "%ld %ld %ld", text, data, bss);
        pclose(p);
    }
    unlink(copy);
}

int main(int argc, char **argv)
{
    double secs = 5;
    const char *base = "/var/tmp";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-s") == 0 && i + 1 < argc && atof(argv[i + 1]) > 0)
            secs = atof(argv[++i]);
        else if (strcmp(argv[i], "-d") == 0 && i + 1 < argc)
            base = argv[++i];
        else {
            fprintf(stderr, "usage: bench_sdk [-s SECONDS] [-d DIR]\n");
            return 2;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    char dir[600];
    snprintf(dir, sizeof dir, "%s/fl-bench-sdk-XXXXXX", base);
    if (!mkdtemp(dir)) {
        perror("bench_sdk: mkdtemp");
        return 1;
    }

    clip_t clip;
    if (load_clip(dir, &clip) != 0)
        return 1;
    double avg = (double)clip.bytes / (double)clip.n;
    double mc_ns, mc_mbps;
    memcpy_ref(&clip, 1.0, &mc_ns, &mc_mbps);

    char data_dir[700];
    snprintf(data_dir, sizeof data_dir, "%s/data", dir);
    int port = 0;
    pid_t server = fl_bench_start_framelogd(FL_FRAMELOGD, data_dir, NULL, &port);
    char endpoint[64];
    snprintf(endpoint, sizeof endpoint, "http://127.0.0.1:%d", port);

    heap_t heap;
    memset(&heap, 0, sizeof heap);
    long long proc_heap0 = heap_in_use();
    flp_allocator_t alloc = {h_malloc, h_realloc, h_free, &heap};
    flp_client_config_t cc;
    memset(&cc, 0, sizeof cc);
    cc.endpoint = endpoint;
    cc.allocator = &alloc;
    flp_client_t *cl = NULL;
    int err = flp_client_new(&cc, &cl);
    if (err != 0) {
        fprintf(stderr, "bench_sdk: client: %s\n", flp_strerror(err));
        return 1;
    }
    long long heap_client = atomic_load(&heap.cur);

    /* (a) a camera's pace */
    watch_t wa;
    memset(&wa, 0, sizeof wa);
    flp_stream_t *sa = open_stream(cl, "bench-rt", &clip, &wa);
    first_frame(sa, "bench-rt", &wa, &clip);
    uint64_t n_a = 1;
    int64_t t0 = mono(), c0 = cpu();
    int64_t end = t0 + (int64_t)(secs * 1e9);
    while (mono() < end) {
        int64_t due = t0 + (int64_t)(n_a - 1) * FRAME_NS;
        struct timespec ts = {(time_t)(due / 1000000000LL), (long)(due % 1000000000LL)};
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
        if ((err = put_frame(sa, &clip, n_a)) != 0) {
            fprintf(stderr, "bench_sdk: (a) put: %s\n", flp_strerror(err));
            break;
        }
        n_a++;
    }
    int64_t cpu_a = cpu() - c0, wall_a = mono() - t0;
    long long heap_steady = atomic_load(&heap.cur) - heap_client;
    /* everything the process holds since before flp_client_new, less what
     * went through the hooks: libwebsockets' and OpenSSL's own heap */
    long long heap_outside = heap_in_use() - proc_heap0 - atomic_load(&heap.cur);
    flp_stream_stats_t st_a;
    flp_stream_stats(sa, &st_a);
    int stop_a = flp_stream_stop(sa, STOP_TIMEOUT);
    flp_stream_stats_t st_a2;
    flp_stream_stats(sa, &st_a2);

    /* (b) as fast as the server takes it */
    watch_t wb;
    memset(&wb, 0, sizeof wb);
    flp_stream_t *sb = open_stream(cl, "bench-max", &clip, &wb);
    first_frame(sb, "bench-max", &wb, &clip);
    uint64_t n_b = 1, bytes_b = 0;
    t0 = mono();
    c0 = cpu();
    end = t0 + (int64_t)(secs * 1e9);
    while (mono() < end) {
        for (int k = 0; k < 30; k++, n_b++) {
            if ((err = put_frame(sb, &clip, n_b)) != 0) {
                fprintf(stderr, "bench_sdk: (b) put: %s\n", flp_strerror(err));
                end = 0;
                break;
            }
            bytes_b += clip.f[n_b % clip.n].size;
        }
    }
    int64_t cpu_b = cpu() - c0, wall_b = mono() - t0;
    long long heap_peak = atomic_load(&heap.peak) - heap_client;
    int stop_b = flp_stream_stop(sb, STOP_TIMEOUT);
    int64_t wall_b_durable = mono() - t0;
    flp_stream_stats_t st_b;
    flp_stream_stats(sb, &st_b);

    flp_stream_free(sa);
    flp_stream_free(sb);
    long long heap_leftover = atomic_load(&heap.cur);
    flp_client_free(cl);
    long long heap_after = atomic_load(&heap.cur);
    kill(server, SIGTERM);
    waitpid(server, NULL, 0);

    long so_stripped, so_text, so_data, so_bss;
    code_size(dir, &so_stripped, &so_text, &so_data, &so_bss);

    /* ---- the table ---- */
    /* the first frame of each stream was put before measuring */
    double m_a = (double)(n_a - 1), m_b = (double)(n_b - 1);
    double a_ns = (double)cpu_a / (m_a > 0 ? m_a : 1);
    double b_fps = m_b / ((double)wall_b / 1e9);
    double b_mbps = (double)bytes_b / ((double)wall_b / 1e9) / 1e6;
    double b_durable = (double)bytes_b / ((double)wall_b_durable / 1e9) / 1e6;
    printf("bench_sdk: %zu real H.264 frames (1280x720, 30 fps, 2 Mbit/s, key every 30), "
           "avg %.0f B; framelogd on loopback; %.0f s per case\n\n",
           clip.n, avg, secs);
    printf("%-44s %16s %18s %9s\n", "figure", "SDK", "reference", "ratio");
    printf("%-44s %13.0f ns %15.0f ns %9.1f\n", "(a) CPU per frame at 30 fps (vs memcpy)", a_ns,
           mc_ns, a_ns / mc_ns);
    printf("%-44s %14.2f %% %18s %9s\n", "    = CPU of one core at 30 fps",
           (double)cpu_a / (double)wall_a * 100, "", "");
    printf("%-44s %10.0f fr/s %18s %9s\n", "(b) max rate into loopback framelogd", b_fps, "", "");
    printf("%-44s %11.1f MB/s %13.1f MB/s %9.4f\n", "    bytes (vs memcpy)", b_mbps, mc_mbps,
           b_mbps / mc_mbps);
    printf("%-44s %13.0f ns %15.0f ns %9.1f\n", "    wall per frame (vs memcpy CPU)",
           (double)wall_b / (m_b > 0 ? m_b : 1), mc_ns,
           (double)wall_b / (m_b > 0 ? m_b : 1) / mc_ns);
    printf("%-44s %13.0f ns %15.0f ns %9.1f\n", "    CPU per frame, this process (vs memcpy)",
           (double)cpu_b / (m_b > 0 ? m_b : 1), mc_ns, (double)cpu_b / (m_b > 0 ? m_b : 1) / mc_ns);
    printf("%-44s %11.1f MB/s %18s %9s\n", "    until all PERSISTED (stop included)", b_durable, "",
           "");
    printf("%-44s %10lld B %13u B %9.2f\n", "(c) heap beyond store, steady (vs target)",
           heap_steady - (long long)STORE_BYTES, HEAP_TARGET,
           (double)(heap_steady - (long long)STORE_BYTES) / HEAP_TARGET);
    long long per_stream_peak = (heap_peak - 2LL * STORE_BYTES) / 2;
    printf("%-44s %10lld B %13u B %9.2f\n", "    peak per stream (2 open), beyond store",
           per_stream_peak, HEAP_TARGET, (double)per_stream_peak / HEAP_TARGET);
    printf("%-44s %10lld B %18s %9s\n", "    heap outside the hooks (lws, OpenSSL)", heap_outside,
           "", "");
    printf("%-44s %10lld B %18s %9s\n", "    client alone", heap_client, "", "");
    printf("%-44s %10zu B %18s %9s\n", "    stream's heap_bytes statistic", st_a.heap_bytes, "",
           "");
    printf("%-44s %10lld B %18s %9s\n", "    held after free (leak check: 0)", heap_after, "", "");
    printf("%-44s %10ld B %13u B %9.2f\n", "(d) libframelog-producer.so stripped", so_stripped,
           SO_TARGET, (double)so_stripped / SO_TARGET);
    printf("%-44s %10ld B %18s %9s\n", "    text", so_text, "", "");
    printf("%-44s %10ld B %18s %9s\n", "    data + bss", so_data + so_bss, "", "");
    printf("\n(a) %llu frames, %llu/%llu fragments persisted, stop %s, %llu dropped, %llu "
           "errors; (b) %llu frames, %llu/%llu fragments persisted, stop %s, %llu dropped, %llu "
           "errors; "
           "%lld allocator calls; heap held before client_free %lld B\n",
           (unsigned long long)n_a, (unsigned long long)st_a2.fragments_persisted,
           (unsigned long long)st_a2.fragments, flp_strerror(stop_a),
           (unsigned long long)atomic_load(&wa.dropped),
           (unsigned long long)(atomic_load(&wa.errors) + atomic_load(&wa.stream_errors)),
           (unsigned long long)n_b, (unsigned long long)st_b.fragments_persisted,
           (unsigned long long)st_b.fragments, flp_strerror(stop_b),
           (unsigned long long)atomic_load(&wb.dropped),
           (unsigned long long)(atomic_load(&wb.errors) + atomic_load(&wb.stream_errors)),
           atomic_load(&heap.calls), heap_leftover);

    free_clip(&clip);
    if (atomic_load(&wa.errors) + atomic_load(&wa.stream_errors) + atomic_load(&wb.errors) +
        atomic_load(&wb.stream_errors)) {
        printf("errors: the server's log and data are kept in %s\n", dir);
        return 1;
    }
    char cmd[800];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench_sdk: could not remove %s\n", dir);
    return 0;
}
