/*
 * samples/hooks/framecount — the smallest framelogd hook.
 *
 * Counts the frames and key frames of every stream into its metrics
 * (framelog_hook_frames_total, framelog_hook_key_frames_total) and, when
 * given out=PATH, writes one line per event to PATH:
 *
 *   start STREAM TRACKS
 *   track STREAM NUMBER CODEC_ID WIDTH HEIGHT SAMPLE_RATE
 *   frame STREAM TRACK KEY PRODUCER_MS FRAGMENT BYTES
 *   persisted STREAM FRAGMENT PRODUCER_MS BYTES FRAMES
 *   stop STREAM
 *
 * Load it with `framelogd --hook build/debug/samples/hooks/framecount/
 * framecount.so,out=/tmp/frames.txt`. Uses framelog/hook.h only; every
 * callback runs on the hook's own thread, one at a time, so the state
 * needs no lock.
 */
#include <framelog/hook.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const flh_host_t *host;
    flh_ctx_t *ctx;
    FILE *out; /* NULL: count only */
    uint64_t frames;
} framecount_t;

static int fc_init(const flh_host_t *host, flh_ctx_t *ctx, const flh_kv_t *config, size_t n,
                   void **self, char *err, size_t errlen)
{
    framecount_t *fc = calloc(1, sizeof *fc);
    if (!fc) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    fc->host = host;
    fc->ctx = ctx;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(config[i].key, "out") == 0) {
            fc->out = fopen(config[i].value, "w");
            if (!fc->out) {
                snprintf(err, errlen, "cannot write %s", config[i].value);
                free(fc);
                return -1;
            }
        } else {
            snprintf(err, errlen, "unknown key %s (framecount knows out=PATH)", config[i].key);
            free(fc);
            return -1;
        }
    }
    *self = fc;
    return 0;
}

static void fc_started(void *self, const flh_stream_t *s)
{
    framecount_t *fc = self;
    fc->host->log(fc->ctx, FLH_LOG_INFO, "stream %s started with %zu tracks", s->stream,
                  s->n_tracks);
    if (!fc->out)
        return;
    fprintf(fc->out, "start %s %zu\n", s->stream, s->n_tracks);
    for (size_t i = 0; i < s->n_tracks; i++) {
        const flh_track_t *t = &s->tracks[i];
        fprintf(fc->out, "track %s %" PRIu64 " %s %u %u %u\n", s->stream, t->number, t->codec_id,
                t->width, t->height, t->sample_rate);
    }
    fflush(fc->out);
}

static void fc_frame(void *self, const flh_frame_t *f)
{
    framecount_t *fc = self;
    fc->frames++;
    fc->host->count(fc->ctx, "frames", 1);
    if (f->keyframe)
        fc->host->count(fc->ctx, "key_frames", 1);
    if (fc->out) {
        fprintf(fc->out, "frame %s %" PRIu64 " %d %" PRId64 " %s %zu\n", f->stream, f->track,
                f->keyframe, f->producer_ms, f->fragment, f->bytes.n);
        fflush(fc->out);
    }
}

static void fc_persisted(void *self, const flh_fragment_t *f)
{
    framecount_t *fc = self;
    if (fc->out) {
        fprintf(fc->out, "persisted %s %s %" PRId64 " %" PRIu64 " %u\n", f->stream, f->fragment,
                f->producer_ms, f->bytes, f->frames);
        fflush(fc->out);
    }
}

static void fc_stopped(void *self, const char *stream)
{
    framecount_t *fc = self;
    if (fc->out) {
        fprintf(fc->out, "stop %s\n", stream);
        fflush(fc->out);
    }
}

static void fc_stop(void *self)
{
    framecount_t *fc = self;
    fc->host->log(fc->ctx, FLH_LOG_INFO, "%" PRIu64 " frames seen", fc->frames);
    if (fc->out)
        fclose(fc->out);
    free(fc);
}

static const flh_plugin_t framecount = {
    FLH_PLUGIN_VERSION,
    .name = "framecount",
    .description = "counts frames; writes what it sees to out=PATH",
    .init = fc_init,
    .stream_started = fc_started,
    .stream_stopped = fc_stopped,
    .frame = fc_frame,
    .fragment_persisted = fc_persisted,
    .stop = fc_stop,
};

__attribute__((visibility("default"))) const flh_plugin_t *framelog_hook(void)
{
    return &framecount;
}
