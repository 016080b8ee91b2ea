/*
 * tests/hooks/test_hook.c — a configurable hook for tests/test_hooks.c and
 * bench/bench_hooks.c, built as several .so files that differ only in
 * their name (TEST_HOOK_NAME), ABI version (TEST_HOOK_ABI_MAJOR, _MINOR) and whether
 * they have a frame callback (TEST_HOOK_NO_FRAME), so that several can be
 * loaded at once and one can be of another ABI.
 *
 * Keys: out=PATH (one line per event, as framecount writes them, plus
 * "decoded STREAM TRACK KEY PTS WIDTH HEIGHT FORMAT STRIDE0 SUM" and
 * "record STREAM KEY DATA"), sleep_ms=N (per frame), decode=gray8|rgb24|
 * yuv420p (decoded frames), width=, height=, fps=, key_only=1,
 * record=STREAM (a record per key frame into that data stream), hold=1
 * (hold every frame's bytes until the next one and check they did not
 * change), fail=MESSAGE (init fails with it).
 */
#include <framelog/hook.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef TEST_HOOK_NAME
#define TEST_HOOK_NAME "thook"
#endif
#ifndef TEST_HOOK_ABI_MAJOR
#define TEST_HOOK_ABI_MAJOR FLH_ABI_MAJOR
#endif
#ifndef TEST_HOOK_ABI_MINOR
#define TEST_HOOK_ABI_MINOR FLH_ABI_MINOR
#endif

typedef struct {
    const flh_host_t *host;
    flh_ctx_t *ctx;
    FILE *out;
    long sleep_ms;
    const char *record;
    int hold;
    flh_hold_t *held;
    flh_bytes_t held_bytes;
    uint8_t *held_copy;
} th_t;

static int th_init(const flh_host_t *host, flh_ctx_t *ctx, const flh_kv_t *kv, size_t n,
                   void **self, char *err, size_t errlen)
{
    th_t *t = calloc(1, sizeof *t);
    flh_decode_req_t req = {.format = 0};
    t->host = host;
    t->ctx = ctx;
    for (size_t i = 0; i < n; i++) {
        const char *k = kv[i].key, *v = kv[i].value;
        if (strcmp(k, "fail") == 0) {
            snprintf(err, errlen, "%s", v);
            free(t);
            return -1;
        } else if (strcmp(k, "out") == 0) {
            t->out = fopen(v, "w");
        } else if (strcmp(k, "sleep_ms") == 0) {
            t->sleep_ms = atol(v);
        } else if (strcmp(k, "record") == 0) {
            t->record = v; /* kv strings live as long as the hook */
        } else if (strcmp(k, "hold") == 0) {
            t->hold = 1;
        } else if (strcmp(k, "decode") == 0) {
            req.format = strcmp(v, "rgb24") == 0     ? FLH_PIX_RGB24
                         : strcmp(v, "yuv420p") == 0 ? FLH_PIX_YUV420P
                                                     : FLH_PIX_GRAY8;
        } else if (strcmp(k, "width") == 0) {
            req.width = (uint32_t)atol(v);
        } else if (strcmp(k, "height") == 0) {
            req.height = (uint32_t)atol(v);
        } else if (strcmp(k, "fps") == 0) {
            req.max_fps = atof(v);
        } else if (strcmp(k, "key_only") == 0) {
            req.key_frames_only = 1;
        }
    }
    if (req.format && host->want_decoded(ctx, &req) != 0) {
        snprintf(err, errlen, "want_decoded refused");
        free(t);
        return -1;
    }
    *self = t;
    return 0;
}

static void line(th_t *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void line(th_t *t, const char *fmt, ...)
{
    if (!t->out)
        return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(t->out, fmt, ap);
    va_end(ap);
    fflush(t->out);
}

static void th_started(void *self, const flh_stream_t *s)
{
    th_t *t = self;
    line(t, "start %s %zu\n", s->stream, s->n_tracks);
    for (size_t i = 0; i < s->n_tracks; i++)
        line(t, "track %s %" PRIu64 " %s %u %u %u\n", s->stream, s->tracks[i].number,
             s->tracks[i].codec_id, s->tracks[i].width, s->tracks[i].height,
             s->tracks[i].sample_rate);
}

static void release_held(th_t *t)
{
    if (!t->held)
        return;
    if (memcmp(t->held_bytes.p, t->held_copy, t->held_bytes.n) != 0)
        line(t, "HOLD-CHANGED\n");
    t->host->frame_release(t->held);
    free(t->held_copy);
    t->held = NULL;
}

__attribute__((unused)) static void th_frame(void *self, const flh_frame_t *f)
{
    th_t *t = self;
    if (t->sleep_ms) {
        struct timespec ts = {t->sleep_ms / 1000, (t->sleep_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    t->host->count(t->ctx, "frames", 1);
    line(t, "frame %s %" PRIu64 " %d %" PRId64 " %s %zu\n", f->stream, f->track, f->keyframe,
         f->producer_ms, f->fragment, f->bytes.n);
    if (t->hold) {
        release_held(t);
        t->held = t->host->frame_hold(t->ctx, f);
        t->held_bytes = f->bytes;
        t->held_copy = malloc(f->bytes.n ? f->bytes.n : 1);
        memcpy(t->held_copy, f->bytes.p, f->bytes.n);
    }
    if (t->record && f->keyframe && f->track == 1) {
        char data[128];
        int n = snprintf(data, sizeof data, "{\"pts\":%" PRId64 "}", f->producer_ms);
        int rc = t->host->record(t->ctx, t->record, (flh_bytes_t){(const uint8_t *)"k", 1},
                                 (flh_bytes_t){(const uint8_t *)data, (size_t)n}, f->producer_ms);
        line(t, "wrote %d\n", rc);
    }
}

static void th_decoded(void *self, const flh_decoded_t *d)
{
    th_t *t = self;
    uint64_t sum = 0;
    if (!t->out)
        return; /* (the bench: decoding is what it measures) */
    for (uint32_t y = 0; y < d->height; y++)
        for (int x = 0; x < d->strides[0] && x < (int)d->width; x++)
            sum += d->planes[0][(size_t)y * (size_t)d->strides[0] + (size_t)x];
    line(t, "decoded %s %" PRIu64 " %d %" PRId64 " %u %u %d %d %" PRIu64 "\n", d->stream, d->track,
         d->keyframe, d->producer_ms, d->width, d->height, (int)d->format, d->strides[0], sum);
}

static void th_persisted(void *self, const flh_fragment_t *f)
{
    th_t *t = self;
    line(t, "persisted %s %s %" PRId64 " %" PRIu64 " %u\n", f->stream, f->fragment, f->producer_ms,
         f->bytes, f->frames);
}

static void th_record(void *self, const flh_record_t *r)
{
    th_t *t = self;
    line(t, "record %s %.*s %.*s %" PRId64 "\n", r->stream, (int)r->partition_key.n,
         (const char *)r->partition_key.p, (int)r->data.n, (const char *)r->data.p, r->producer_ms);
}

static void th_stopped(void *self, const char *stream)
{
    line(self, "stop %s\n", stream);
}

static void th_stop(void *self)
{
    th_t *t = self;
    release_held(t);
    line(t, "unload\n");
    if (t->out)
        fclose(t->out);
    free(t);
}

static const flh_plugin_t plugin = {
    .abi_major = TEST_HOOK_ABI_MAJOR,
    .abi_minor = TEST_HOOK_ABI_MINOR,
    .name = TEST_HOOK_NAME,
    .description = "tests' configurable hook",
    .init = th_init,
    .stream_started = th_started,
    .stream_stopped = th_stopped,
#ifdef TEST_HOOK_NO_FRAME
    .frame = NULL, /* decoded frames only: key frames alone are queued with key_only */
#else
    .frame = th_frame,
#endif
    .fragment_persisted = th_persisted,
    .record = th_record,
    .decoded = th_decoded,
    .stop = th_stop,
};

__attribute__((visibility("default"))) const flh_plugin_t *framelog_hook(void)
{
    return &plugin;
}
