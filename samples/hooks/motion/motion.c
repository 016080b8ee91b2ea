/*
 * samples/hooks/motion — motion detection by differencing decoded frames.
 *
 * The hook asks framelogd for decoded frames in GRAY8, scaled down
 * (width x height, default 160x120) and at most `fps` a second per stream
 * (default 5), so it never carries a decoder. For each video stream it
 * keeps the previous such frame and scores the next one against it: the
 * score is the fraction of pixels whose gray level moved by more than
 * `delta` (default 24 of 255), 0..1. While a frame's score is at least
 * `threshold` (default 0.01: one pixel in a hundred), it appends one
 * record to the data stream named by `stream=NAME`:
 *
 *   {"score":0.0412,"stream":"front-door","producer_ms":1733312345678}
 *
 * partition key: the video stream's name; stamped (on the record's
 * timeline) with the frame's producer time, which the JSON repeats, since
 * GetRecords reports only the arrival time. Still frames write nothing.
 *
 * Config (`--hook motion.so,stream=NAME[,key=value...]`): stream
 * (required: a data stream made beforehand, e.g. `aws kinesis
 * create-stream`), threshold, delta, fps, width, height, video (only this
 * video stream; default every one). Counters: frames_compared,
 * records_written, record_errors. README.md beside this file.
 *
 * Invariants: every callback runs on the hook's own thread, one at a time
 * (framelog/hook.h), so the state needs no lock. A stream's previous frame
 * is dropped when the stream stops, when the decoded size changes or when
 * frames go back in time (a new session), so a score always compares two
 * frames of one size from one session, in order. Memory: one gray frame
 * (width x height bytes) per video stream in progress.
 */
#include <framelog/hook.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MOTION_MAX_SIDE 1920 /* width, height */
#define MOTION_MAX_FPS  60.0

/* One video stream's previous sampled frame. */
typedef struct mstream {
    struct mstream *next;
    char *name;
    uint64_t track;
    uint32_t w, h;
    uint8_t *prev; /* w * h gray bytes; NULL until the first frame */
    int64_t prev_ms;
    uint64_t compared, moving; /* for the line logged when it stops */
} mstream_t;

typedef struct {
    const flh_host_t *host;
    flh_ctx_t *ctx;
    char *out;     /* the data stream records go to */
    char *only;    /* NULL: every video stream */
    double thresh; /* fraction of pixels */
    int delta;     /* gray levels */
    double fps;
    uint32_t w, h;
    mstream_t *streams;
    time_t last_err_log; /* record errors are logged at most once a second */
    uint64_t errs_unlogged;
} motion_t;

static void ms_free(mstream_t *m)
{
    if (!m)
        return;
    free(m->name);
    free(m->prev);
    free(m);
}

static void motion_free(motion_t *mo)
{
    if (!mo)
        return;
    while (mo->streams) {
        mstream_t *m = mo->streams;
        mo->streams = m->next;
        ms_free(m);
    }
    free(mo->out);
    free(mo->only);
    free(mo);
}

/* Parse a number in [lo, hi] from text; 0 or -1. */
static int parse_num(const char *s, double lo, double hi, double *out)
{
    char *end = NULL;
    double v = strtod(s, &end);
    if (!*s || !end || *end || !(v >= lo && v <= hi))
        return -1;
    *out = v;
    return 0;
}

static int mo_init(const flh_host_t *host, flh_ctx_t *ctx, const flh_kv_t *config, size_t n,
                   void **self, char *err, size_t errlen)
{
    motion_t *mo = calloc(1, sizeof *mo);
    if (!mo) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    mo->host = host;
    mo->ctx = ctx;
    mo->thresh = 0.01;
    mo->delta = 24;
    mo->fps = 5;
    mo->w = 160;
    mo->h = 120;
    for (size_t i = 0; i < n; i++) {
        const char *k = config[i].key, *v = config[i].value;
        double d;
        if (strcmp(k, "stream") == 0 && *v) {
            free(mo->out);
            mo->out = strdup(v);
        } else if (strcmp(k, "video") == 0 && *v) {
            free(mo->only);
            mo->only = strdup(v);
        } else if (strcmp(k, "threshold") == 0 && parse_num(v, 0.0001, 1, &d) == 0) {
            mo->thresh = d;
        } else if (strcmp(k, "delta") == 0 && parse_num(v, 1, 254, &d) == 0) {
            mo->delta = (int)d;
        } else if (strcmp(k, "fps") == 0 && parse_num(v, 0.01, MOTION_MAX_FPS, &d) == 0) {
            mo->fps = d;
        } else if (strcmp(k, "width") == 0 && parse_num(v, 8, MOTION_MAX_SIDE, &d) == 0) {
            mo->w = (uint32_t)d & ~1u;
        } else if (strcmp(k, "height") == 0 && parse_num(v, 8, MOTION_MAX_SIDE, &d) == 0) {
            mo->h = (uint32_t)d & ~1u;
        } else {
            snprintf(err, errlen,
                     "bad %s=%s (motion knows stream=NAME, threshold=0.0001..1, delta=1..254, "
                     "fps=0.01..60, width/height=8..1920, video=NAME)",
                     k, v);
            goto fail;
        }
    }
    if (!mo->out) {
        snprintf(err, errlen, "stream=NAME (the data stream for motion records) is required");
        goto fail;
    }
    flh_decode_req_t req = {
        .format = FLH_PIX_GRAY8, .width = mo->w, .height = mo->h, .max_fps = mo->fps};
    int rc = host->want_decoded(ctx, &req);
    if (rc != 0) {
        snprintf(err, errlen, "the server cannot decode to gray %ux%u (%d)", mo->w, mo->h, rc);
        goto fail;
    }
    host->log(ctx, FLH_LOG_INFO,
              "records to data stream %s when more than %.4g of the pixels move by more than %d "
              "(%ux%u gray, %.3g frames/s, video %s)",
              mo->out, mo->thresh, mo->delta, mo->w, mo->h, mo->fps, mo->only ? mo->only : "*");
    *self = mo;
    return 0;
fail:
    motion_free(mo);
    return -1;
}

static mstream_t *ms_find(motion_t *mo, const char *name, int make)
{
    for (mstream_t *m = mo->streams; m; m = m->next)
        if (strcmp(m->name, name) == 0)
            return m;
    if (!make)
        return NULL;
    mstream_t *m = calloc(1, sizeof *m);
    if (!m || !(m->name = strdup(name))) {
        free(m);
        return NULL;
    }
    m->next = mo->streams;
    mo->streams = m;
    return m;
}

static void ms_forget(motion_t *mo, const char *name)
{
    for (mstream_t **pp = &mo->streams; *pp; pp = &(*pp)->next) {
        if (strcmp((*pp)->name, name) == 0) {
            mstream_t *m = *pp;
            *pp = m->next;
            if (m->compared)
                mo->host->log(mo->ctx, FLH_LOG_INFO,
                              "stream %s stopped: %" PRIu64 " frames compared, %" PRIu64
                              " with motion",
                              m->name, m->compared, m->moving);
            ms_free(m);
            return;
        }
    }
}

/* The fraction of pixels of cur (stride) that differ from prev (packed)
 * by more than delta. */
static double score(const uint8_t *prev, const uint8_t *cur, int stride, uint32_t w, uint32_t h,
                    int delta)
{
    uint64_t moved = 0;
    for (uint32_t y = 0; y < h; y++) {
        const uint8_t *a = prev + (size_t)y * w, *b = cur + (size_t)y * (size_t)stride;
        for (uint32_t x = 0; x < w; x++) {
            int d = (int)a[x] - (int)b[x];
            moved += (d > delta || d < -delta);
        }
    }
    return (double)moved / ((double)w * h);
}

static void write_record(motion_t *mo, const mstream_t *m, double s, int64_t producer_ms)
{
    char json[512];
    /* the stream name is [a-zA-Z0-9_.-] (Kinesis Video's rule): no escaping */
    int n = snprintf(json, sizeof json,
                     "{\"score\":%.4f,\"stream\":\"%s\",\"producer_ms\":%" PRId64 "}", s, m->name,
                     producer_ms);
    if (n < 0 || (size_t)n >= sizeof json)
        return;
    flh_bytes_t key = {(const uint8_t *)m->name, strlen(m->name)};
    flh_bytes_t data = {(const uint8_t *)json, (size_t)n};
    int rc = mo->host->record(mo->ctx, mo->out, key, data, producer_ms);
    if (rc == 0) {
        mo->host->count(mo->ctx, "records_written", 1);
        return;
    }
    mo->host->count(mo->ctx, "record_errors", 1);
    time_t now = time(NULL);
    if (now == mo->last_err_log) {
        mo->errs_unlogged++;
        return;
    }
    mo->host->log(mo->ctx, FLH_LOG_WARN, "cannot write to data stream %s (%d%s)%s", mo->out, rc,
                  rc == -2 ? ": no such stream, create it with aws kinesis create-stream" : "",
                  mo->errs_unlogged ? "; more such errors were not logged" : "");
    mo->last_err_log = now;
    mo->errs_unlogged = 0;
}

static void mo_decoded(void *self, const flh_decoded_t *d)
{
    motion_t *mo = self;
    if (d->format != FLH_PIX_GRAY8 || !d->planes[0] || d->width == 0 || d->height == 0 ||
        d->strides[0] < (int)d->width)
        return;
    if (mo->only && strcmp(mo->only, d->stream) != 0)
        return;
    mstream_t *m = ms_find(mo, d->stream, 1);
    if (!m)
        return;
    size_t sz = (size_t)d->width * d->height;
    if (m->prev && (m->w != d->width || m->h != d->height || m->track != d->track ||
                    d->producer_ms < m->prev_ms)) {
        free(m->prev); /* another size, track or session: start over */
        m->prev = NULL;
    }
    if (!m->prev) {
        if (!(m->prev = malloc(sz)))
            return;
        m->w = d->width;
        m->h = d->height;
        m->track = d->track;
    } else {
        double s = score(m->prev, d->planes[0], d->strides[0], m->w, m->h, mo->delta);
        m->compared++;
        mo->host->count(mo->ctx, "frames_compared", 1);
        if (s >= mo->thresh) {
            m->moving++;
            write_record(mo, m, s, d->producer_ms);
        }
    }
    for (uint32_t y = 0; y < m->h; y++)
        memcpy(m->prev + (size_t)y * m->w, d->planes[0] + (size_t)y * (size_t)d->strides[0], m->w);
    m->prev_ms = d->producer_ms;
}

/* A new session: its first frame compares with nothing before it. */
static void mo_started(void *self, const flh_stream_t *s)
{
    mstream_t *m = ms_find(self, s->stream, 0);
    if (m) {
        free(m->prev);
        m->prev = NULL;
    }
}

static void mo_stopped(void *self, const char *stream)
{
    ms_forget(self, stream);
}

static void mo_stop(void *self)
{
    motion_free(self);
}

static const flh_plugin_t motion = {
    FLH_PLUGIN_VERSION,
    .name = "motion",
    .description = "frame differencing on decoded gray frames; {\"score\":...} records while "
                   "there is motion",
    .init = mo_init,
    .stream_started = mo_started,
    .stream_stopped = mo_stopped,
    .decoded = mo_decoded,
    .stop = mo_stop,
};

__attribute__((visibility("default"))) const flh_plugin_t *framelog_hook(void)
{
    return &motion;
}
