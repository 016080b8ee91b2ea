/*
 * bench/bench_hooks.c — what analytics hooks (server/hooks/) cost, each
 * figure beside a reference measured in the same run:
 *
 *   bench_hooks [-s SECONDS] [-n PRODUCERS] [-r ROUNDS] [-d DIR] [-p PARTS]
 *
 * PARTS: a comma-separated choice of dispatch, decode, acks (default all).
 *
 * 1. Dispatch: the hooks' live-tail observer (what the event loop runs per
 *    frame) driven directly with synthetic 8,333-byte frames in a shared
 *    record, with 1 and 4 framecount-like hooks loaded, in ns per frame per
 *    hook, against memcpy of the same frame. The hooks' threads consume
 *    meanwhile (pushes are paced so that no queue overflows).
 * 2. Ingest ack p99 at PRODUCERS (default 100) WebSocket producers
 *    (bench_ingest): no hook; framecount; four hooks, one of which sleeps
 *    200 ms per frame — ROUNDS (default 3) interleaved rounds of the
 *    three, each case's median p99 as a ratio to the no-hook median
 *    (target <= 1.1).
 * 3. Decode: a decoded-frame hook (every frame, YUV 4:2:0 at the stream's
 *    size) fed an H.264 stream made by ffmpeg at the start, in frames per
 *    second, against `ffmpeg -benchmark` decoding the same file (one
 *    thread, as the hook's decoder; and ffmpeg's default threads).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_common.h"
#include "common/bytes.h"
#include "common/clock.h"
#include "common/diag.h"
#include "media/mkv_parser.h"
#include "media/mkv_writer.h"
#include "server/hooks/hooks.h"

#define FRAME_BYTES 8333

static int64_t mono(void)
{
    return fl_time_mono_ns();
}

static void die(const char *what)
{
    fprintf(stderr, "bench_hooks: %s\n", what);
    exit(1);
}

/* A Tracks element with one H.264 video track (and its CodecPrivate). */
static void tracks_of(const fl_mkv_track_t *t, size_t n, fl_buf_t *out)
{
    if (fl_mkv_write_tracks(out, t, n) != 0 || out->err)
        die("cannot write Tracks");
}

static uint64_t delivered(fl_hooks_t *hs)
{
    uint64_t d = 0;
    for (int i = 0; i < hs->n; i++)
        d += atomic_load(&hs->hooks[i]->delivered) + atomic_load(&hs->hooks[i]->dropped);
    return d;
}

static size_t max_queued(fl_hooks_t *hs)
{
    size_t m = 0;
    for (int i = 0; i < hs->n; i++) {
        pthread_mutex_lock(&hs->hooks[i]->mu);
        if (hs->hooks[i]->count > m)
            m = hs->hooks[i]->count;
        pthread_mutex_unlock(&hs->hooks[i]->mu);
    }
    return m;
}

static void load(fl_hooks_t *hs, const char *arg)
{
    char err[512];
    hk_hook_t *h;
    if (hk_load(hs, arg, &h, err, sizeof err) != 0)
        die(err);
    hs->hooks[hs->n++] = h;
    if (hk_hook_start(h) != 0)
        die("cannot start a hook thread");
}

static void unload_all(fl_hooks_t *hs)
{
    for (int i = 0; i < hs->n; i++)
        hk_hook_stop_begin(hs->hooks[i]);
    for (int i = 0; i < hs->n; i++) {
        hk_hook_stop_wait(hs->hooks[i]);
        hk_unload(hs->hooks[i]);
    }
    hs->n = 0;
}

/* ---- 1. dispatch ---- */

/* ns per frame of the observer with hs's hooks, frames pushed in bursts
 * of 256 (the hooks drain between bursts). */
static double dispatch_ns(fl_hooks_t *hs, int frames)
{
    const fl_live_observer_t *obs = hk_feed_observer();
    fl_mkv_track_t t = {.number = 1,
                        .type = FL_MKV_TRACK_VIDEO,
                        .codec_id = fl_slice_str("V_MPEG4/ISO/AVC"),
                        .pixel_width = 640,
                        .pixel_height = 360};
    fl_buf_t tracks;
    fl_buf_init(&tracks, 0);
    tracks_of(&t, 1, &tracks);
    obs->session(hs, "bench", 1, fl_buf_slice(&tracks));
    fl_recbuf_t *rec = fl_recbuf_new((size_t)FRAME_BYTES * 300, 0);
    uint8_t frame[FRAME_BYTES];
    memset(frame, 0x5a, sizeof frame);
    int64_t spent = 0;
    uint64_t base = delivered(hs);
    for (int i = 0; i < frames; i++) {
        if (i % 256 == 0) {
            /* let the hooks drain, then a new fragment's record */
            while (delivered(hs) - base < (uint64_t)i * (uint64_t)hs->n)
                usleep(100);
            fl_recbuf_unref(rec);
            rec = fl_recbuf_new((size_t)FRAME_BYTES * 300, 0);
        }
        fl_buf_append(&rec->b, frame, sizeof frame);
        fl_slice_t bytes = fl_slice(rec->b.p + rec->b.n - FRAME_BYTES, FRAME_BYTES);
        int64_t t0 = mono();
        obs->frame(hs, "bench", 1, (uint64_t)(i / 256), 1700000000000LL, 0, 1,
                   1700000000000LL + i * 33, 33, i % 60 == 0, bytes, rec);
        spent += mono() - t0;
    }
    while (delivered(hs) - base < (uint64_t)frames * (uint64_t)hs->n)
        usleep(100);
    obs->session_end(hs, "bench");
    fl_recbuf_unref(rec);
    fl_buf_free(&tracks);
    return (double)spent / frames;
}

static double memcpy_ns(int frames)
{
    uint8_t *src = malloc(FRAME_BYTES), *dst = malloc((size_t)FRAME_BYTES * 256);
    memset(src, 0x5a, FRAME_BYTES);
    int64_t t0 = mono();
    for (int i = 0; i < frames; i++) {
        memcpy(dst + (size_t)(i % 256) * FRAME_BYTES, src, FRAME_BYTES);
        __asm__ volatile("" ::"r"(dst) : "memory");
    }
    double ns = (double)(mono() - t0) / frames;
    free(src);
    free(dst);
    return ns;
}

static void bench_dispatch(void)
{
    int frames = 200000;
    fl_hooks_t hs;
    memset(&hs, 0, sizeof hs);
    double copy = memcpy_ns(frames);
    char arg[1200];
    snprintf(arg, sizeof arg, "%s", FL_FRAMECOUNT);
    load(&hs, arg);
    double one = dispatch_ns(&hs, frames);
    unload_all(&hs);
    /* four: framecount and three test hooks without output */
    load(&hs, FL_FRAMECOUNT);
    load(&hs, FL_HOOK_DIR "/thook.so");
    load(&hs, FL_HOOK_DIR "/thook_b.so");
    load(&hs, FL_HOOK_DIR "/thook_slow.so");
    double four = dispatch_ns(&hs, frames);
    unload_all(&hs);
    copy = (copy + memcpy_ns(frames)) / 2; /* before and after */
    printf("dispatch (event loop side, %d frames of %d B in shared records):\n", frames,
           FRAME_BYTES);
    printf("  memcpy of the frame (reference):  %7.1f ns\n", copy);
    printf("  1 hook:  %7.1f ns per frame  = %.2f x memcpy\n", one, one / copy);
    printf("  4 hooks: %7.1f ns per frame, %.1f ns per hook = %.2f x memcpy per hook\n\n", four,
           four / 4, four / 4 / copy);
}

/* ---- 2. ingest acks ---- */

/* Run bench_ingest with extra server flags; its PERSISTED p99 in ms. */
static double ingest_p99(int producers, double secs, const char *dir, const char *const hooks[])
{
    char n[16], s[32];
    snprintf(n, sizeof n, "%d", producers);
    snprintf(s, sizeof s, "%g", secs);
    const char *argv[32] = {FL_BENCH_INGEST, "-n", n, "-s", s, "-d", dir};
    int k = 7;
    for (int i = 0; hooks && hooks[i] && k < 29; i++) {
        argv[k++] = "-x";
        argv[k++] = hooks[i];
    }
    argv[k] = NULL;
    int fds[2];
    if (pipe(fds) != 0)
        die("pipe");
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(fds[1]);
    fl_buf_t out;
    fl_buf_init(&out, 0);
    char buf[4096];
    ssize_t r;
    while ((r = read(fds[0], buf, sizeof buf)) > 0)
        fl_buf_append(&out, buf, (size_t)r);
    close(fds[0]);
    waitpid(pid, NULL, 0);
    fl_buf_u8(&out, 0);
    const char *p = strstr((char *)out.p, "PERSISTED p50");
    double p50, p99;
    if (!p || sscanf(p, "PERSISTED p50 %lf p99 %lf", &p50, &p99) != 2) {
        fprintf(stderr, "bench_hooks: bench_ingest said:\n%s\n", (char *)out.p);
        die("no PERSISTED figures from bench_ingest");
    }
    const char *line = p;
    while (line > (char *)out.p && line[-1] != '\n')
        line--;
    const char *eol = strchr(p, '\n');
    printf("    %.*s\n", (int)(eol ? eol - line : (long)strlen(line)), line);
    fl_buf_free(&out);
    return p99;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Rounds of the three cases, interleaved so that the machine's other load
 * falls on all of them alike; each case's median p99. */
static void bench_acks(int producers, double secs, int rounds, const char *dir)
{
    printf("ingest, %d producers (bench_ingest, %.0f s each, %d rounds of: no hook, framecount, "
           "four hooks one slow):\n",
           producers, secs, rounds);
    const char *one[] = {"--hook=" FL_FRAMECOUNT, NULL};
    const char *four[] = {"--hook=" FL_FRAMECOUNT, "--hook=" FL_HOOK_DIR "/thook.so",
                          "--hook=" FL_HOOK_DIR "/thook_b.so",
                          "--hook=" FL_HOOK_DIR "/thook_slow.so,sleep_ms=200", NULL};
    double none[16], fc[16], fourp[16];
    if (rounds > 16)
        rounds = 16;
    for (int r = 0; r < rounds; r++) {
        none[r] = ingest_p99(producers, secs, dir, NULL);
        fc[r] = ingest_p99(producers, secs, dir, one);
        fourp[r] = ingest_p99(producers, secs, dir, four);
    }
    double m0 = median(none, rounds), m1 = median(fc, rounds), m4 = median(fourp, rounds);
    printf("  ack p99, median of %d: no hook %.1f ms (reference); framecount %.1f ms = %.2f; four "
           "hooks, one slow %.1f ms = %.2f (target <= 1.1)\n\n",
           rounds, m0, m1, m1 / m0, m4, m4 / m0);
}

/* ---- 3. decode ---- */

typedef struct {
    fl_buf_t tracks;
    fl_mkv_track_t track;
    fl_buf_t priv;
    fl_buf_t data; /* the frames, back to back */
    size_t *off, *len;
    int64_t *pts;
    int *key;
    size_t n, cap;
} clip_t;

static int clip_event(void *data, const fl_mkv_event_t *ev)
{
    clip_t *c = data;
    if (ev->type == FL_MKV_EV_TRACKS && ev->u.tracks.n) {
        c->track = ev->u.tracks.v[0];
        fl_buf_append(&c->priv, c->track.codec_private.p, c->track.codec_private.n);
        c->track.codec_private = fl_buf_slice(&c->priv);
        c->track.codec_id = fl_slice_str("V_MPEG4/ISO/AVC");
        c->track.name = c->track.language = fl_slice(NULL, 0);
        tracks_of(&c->track, 1, &c->tracks);
    } else if (ev->type == FL_MKV_EV_FRAME) {
        if (c->n == c->cap) {
            c->cap = c->cap ? c->cap * 2 : 1024;
            c->off = realloc(c->off, c->cap * sizeof *c->off);
            c->len = realloc(c->len, c->cap * sizeof *c->len);
            c->pts = realloc(c->pts, c->cap * sizeof *c->pts);
            c->key = realloc(c->key, c->cap * sizeof *c->key);
        }
        c->off[c->n] = c->data.n;
        c->len[c->n] = ev->u.frame.data.n;
        c->pts[c->n] = ev->u.frame.pts_ns / 1000000;
        c->key[c->n] = ev->u.frame.keyframe;
        fl_buf_append(&c->data, ev->u.frame.data.p, ev->u.frame.data.n);
        c->n++;
    }
    return 0;
}

/* ffmpeg -benchmark's rtime for decoding file (threads: "1" or NULL). */
static double ffmpeg_rtime(const char *file, const char *threads)
{
    char cmd[2000];
    snprintf(cmd, sizeof cmd, "ffmpeg -hide_banner -nostdin -benchmark %s%s -i '%s' -f null - 2>&1",
             threads ? "-threads " : "", threads ? threads : "", file);
    FILE *p = popen(cmd, "r");
    if (!p)
        die("cannot run ffmpeg");
    char line[1024];
    double rtime = -1;
    while (fgets(line, sizeof line, p)) {
        const char *r = strstr(line, "rtime=");
        if (r)
            rtime = atof(r + 6);
    }
    pclose(p);
    if (rtime <= 0)
        die("no rtime from ffmpeg -benchmark");
    return rtime;
}

static void bench_decode(const char *dir)
{
    char file[700];
    snprintf(file, sizeof file, "%s/clip.mkv", dir);
    char cmd[1600];
    snprintf(cmd, sizeof cmd,
             "ffmpeg -hide_banner -loglevel error -nostdin -y -f lavfi -i "
             "testsrc2=size=640x360:rate=30 -t 20 -c:v libx264 -g 60 -pix_fmt yuv420p "
             "-f matroska '%s'",
             file);
    if (system(cmd) != 0)
        die("ffmpeg could not make the clip");
    clip_t c;
    memset(&c, 0, sizeof c);
    fl_buf_init(&c.tracks, 0);
    fl_buf_init(&c.priv, 0);
    fl_buf_init(&c.data, 0);
    size_t n;
    FILE *f = fopen(file, "rb");
    fseek(f, 0, SEEK_END);
    n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *bytes = malloc(n);
    if (fread(bytes, 1, n, f) != n)
        die("cannot read the clip");
    fclose(f);
    fl_mkv_parser_t *p;
    fl_mkv_parser_new(NULL, clip_event, &c, &p);
    fl_mkv_parser_feed(p, bytes, n);
    fl_mkv_parser_finish(p);
    fl_mkv_parser_free(p);
    free(bytes);

    fl_hooks_t hs;
    memset(&hs, 0, sizeof hs);
    load(&hs, FL_HOOK_DIR "/thook_decode.so,decode=yuv420p");
    hk_hook_t *h = hs.hooks[0];
    const fl_live_observer_t *obs = hk_feed_observer();
    obs->session(&hs, "clip", 1, fl_buf_slice(&c.tracks));
    fl_recbuf_t *rec = fl_recbuf_new(c.data.n, 0);
    fl_buf_append(&rec->b, c.data.p, c.data.n);
    int64_t t0 = mono();
    for (size_t i = 0; i < c.n; i++) {
        while (max_queued(&hs) > 600)
            usleep(200);
        obs->frame(&hs, "clip", 1, 0, c.pts[0], 0, 1, c.pts[i], 33, c.key[i],
                   fl_slice(rec->b.p + c.off[i], c.len[i]), rec);
    }
    /* all in (the decoder may hold its last few back) */
    int64_t until = mono() + 60000000000LL;
    while (atomic_load(&h->decoded) + 8 < c.n && mono() < until)
        usleep(200);
    double secs = (double)(mono() - t0) / 1e9;
    uint64_t got = atomic_load(&h->decoded), drops = atomic_load(&h->dropped);
    obs->session_end(&hs, "clip");
    unload_all(&hs);
    fl_recbuf_unref(rec);
    double ff1 = ffmpeg_rtime(file, "1"), ffn = ffmpeg_rtime(file, NULL);
    double fps = (double)got / secs;
    printf("decode (640x360 H.264, %zu frames, to YUV 4:2:0 at its size):\n", c.n);
    printf("  hook: %" PRIu64 " frames decoded in %.2f s = %.0f fps (%" PRIu64 " dropped)\n", got,
           secs, fps, drops);
    printf("  ffmpeg -benchmark -threads 1: %.2f s = %.0f fps -> hook %.2f x\n", ff1,
           (double)c.n / ff1, fps / ((double)c.n / ff1));
    printf("  ffmpeg -benchmark (default threads): %.2f s = %.0f fps -> hook %.2f x\n", ffn,
           (double)c.n / ffn, fps / ((double)c.n / ffn));
    fl_buf_free(&c.tracks);
    fl_buf_free(&c.priv);
    fl_buf_free(&c.data);
    free(c.off);
    free(c.len);
    free(c.pts);
    free(c.key);
    unlink(file);
}

int main(int argc, char **argv)
{
    double secs = 10;
    int producers = 100, rounds = 3;
    const char *parts = "dispatch,decode,acks";
    const char *base = "/var/tmp";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "-s") == 0)
            secs = atof(argv[i + 1]);
        else if (strcmp(argv[i], "-n") == 0)
            producers = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "-d") == 0)
            base = argv[i + 1];
        else if (strcmp(argv[i], "-p") == 0)
            parts = argv[i + 1];
        else if (strcmp(argv[i], "-r") == 0)
            rounds = atoi(argv[i + 1]) > 0 ? atoi(argv[i + 1]) : 1;
        else {
            fprintf(stderr,
                    "usage: bench_hooks [-s SECONDS] [-n PRODUCERS] [-r ROUNDS] [-d DIR] [-p "
                    "dispatch,decode,acks]\n");
            return 2;
        }
    }
    char dir[512];
    snprintf(dir, sizeof dir, "%s/fl-bench-hooks-XXXXXX", base);
    if (!mkdtemp(dir))
        die("mkdtemp");
    fl_diag_set_level(FL_DIAG_WARN);
    if (strstr(parts, "dispatch"))
        bench_dispatch();
    if (strstr(parts, "decode"))
        bench_decode(dir);
    if (strstr(parts, "acks"))
        bench_acks(producers, secs, rounds, dir);
    rmdir(dir);
    return 0;
}
