/*
 * server/hooks/hook.c — one hook's bounded queue and its thread.
 *
 * The queue is a ring of shared events (hooks.h) under the hook's mutex.
 * Whoever feeds it (the loop thread for the live tails, any appending
 * thread for data records) only takes the mutex for a push: when the ring
 * is full — frames and records past FL_HOOK_QUEUE_FRAMES or their bytes
 * past FL_HOOK_QUEUE_BYTES, anything past FL_HOOK_QUEUE — the event is
 * dropped for this hook, counted, and logged at most once a second. Frames
 * and records go first: the last FL_HOOK_QUEUE - FL_HOOK_QUEUE_FRAMES
 * places are kept for stream started/stopped and fragment persisted.
 *
 * The thread takes events in batches (at most FL_HOOK_BATCH, one lock
 * each) and calls the plugin for one at a time, so a hook's callbacks never
 * run concurrently and come in the order the events were seen. Wake-ups
 * are few: an idle hook thread is woken by the first event at once; one
 * that just worked naps FL_HOOK_NAP_NS first and is woken early only by a
 * full batch, so frames arriving steadily from many producers cost one
 * wake-up per batch rather than one each (at most FL_HOOK_NAP_NS later). Decoded frames are made
 * here too (libavcodec through media/av.h): a decoder per video track, which waits for a key frame
 * after any gap (a drop, a decode error, a new session). At stop the thread delivers what is queued
 * but frames, then calls stop: nothing after it.
 */
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/diag.h"
#include "common/error.h"
#include "server/hooks/hooks.h"
#include "server/video/fragment.h"

/* ---- events ---- */

hk_ev_t *hk_ev_new(hk_ev_type_t type, size_t own)
{
    hk_ev_t *ev = malloc(sizeof *ev + own);
    if (!ev)
        return NULL;
    memset(ev, 0, sizeof *ev);
    atomic_init(&ev->refs, 1);
    ev->type = type;
    return ev;
}

void hk_ev_ref(hk_ev_t *ev)
{
    atomic_fetch_add_explicit(&ev->refs, 1, memory_order_relaxed);
}

void hk_stream_unref(hk_stream_t *st)
{
    if (st && atomic_fetch_sub_explicit(&st->refs, 1, memory_order_acq_rel) == 1) {
        free(st->tracks);
        free(st->mkv);
        free(st->store);
        free(st);
    }
}

void hk_ev_unref(hk_ev_t *ev)
{
    if (ev && atomic_fetch_sub_explicit(&ev->refs, 1, memory_order_acq_rel) == 1) {
        fl_recbuf_unref(ev->rec);
        hk_stream_unref(ev->st);
        free(ev);
    }
}

/* ---- the queue ---- */

static int droppable(const hk_ev_t *ev)
{
    return ev->type == HK_FRAME || ev->type == HK_RECORD;
}

static size_t ev_bytes(const hk_ev_t *ev)
{
    return ev->type == HK_FRAME ? ev->bytes.n : ev->type == HK_RECORD ? ev->data.n : 0;
}

int hk_hook_wants_frame(hk_hook_t *h, int keyframe, int video)
{
    if (h->pl->frame)
        return 1;
    if (!video || !atomic_load_explicit(&h->want_decoded, memory_order_relaxed))
        return 0;
    return keyframe || !atomic_load_explicit(&h->decode_key_only, memory_order_relaxed);
}

void hk_hook_push(hk_hook_t *h, hk_ev_t *ev)
{
    size_t n = ev_bytes(ev);
    pthread_mutex_lock(&h->mu);
    if (h->stopping) {
        pthread_mutex_unlock(&h->mu);
        return;
    }
    int full = h->count == FL_HOOK_QUEUE;
    if (droppable(ev))
        full |= h->frames_q >= FL_HOOK_QUEUE_FRAMES || h->bytes_q + n > FL_HOOK_QUEUE_BYTES;
    if (full) {
        atomic_fetch_add_explicit(&h->dropped, 1, memory_order_relaxed);
        h->drops_unlogged++;
        int64_t now = fl_time_mono_ns();
        if (now - h->last_drop_log_ns >= FL_HOOK_DROP_LOG_NS) {
            fl_warn("hook %s: falling behind: %" PRIu64 " events dropped for it since the last "
                    "report (its queue is full)",
                    h->pl->name, h->drops_unlogged);
            h->drops_unlogged = 0;
            h->last_drop_log_ns = now;
        }
        pthread_mutex_unlock(&h->mu);
        return;
    }
    hk_ev_ref(ev);
    h->ring[(h->head + h->count) % FL_HOOK_QUEUE] = ev;
    h->count++;
    if (droppable(ev)) {
        h->frames_q++;
        h->bytes_q += n;
    }
    /* a hook at work takes what is queued when it is done; an idle one is
     * woken at once, a napping one when a batch is full (pop_batch) */
    if (h->waiting == 2 || (h->waiting == 1 && h->count >= FL_HOOK_BATCH))
        pthread_cond_signal(&h->cv);
    pthread_mutex_unlock(&h->mu);
}

/* Take up to max queued events into out (one lock for a batch, so that
 * the feeding thread and the hook meet on the mutex once per batch, not
 * per frame); waits while there are none. 0 when stopping and nothing is
 * left. */
static size_t pop_batch(hk_hook_t *h, hk_ev_t **out, size_t max)
{
    pthread_mutex_lock(&h->mu);
    if (h->count == 0 && !h->stopping && h->busy) {
        /* it just worked: a short nap, woken only by a full batch, so
         * that frames arriving steadily are taken a few at a time rather
         * than each with a wake-up of its own */
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += FL_HOOK_NAP_NS;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        h->waiting = 1; /* napping */
        while (h->count < FL_HOOK_BATCH && !h->stopping &&
               pthread_cond_timedwait(&h->cv, &h->mu, &until) == 0)
            ;
        h->waiting = 0;
    }
    while (h->count == 0 && !h->stopping) {
        /* idle: the next event wakes it at once */
        h->waiting = 2;
        pthread_cond_wait(&h->cv, &h->mu);
        h->waiting = 0;
    }
    h->busy = h->count > 0;
    size_t n = 0;
    while (h->count && n < max) {
        hk_ev_t *ev = h->ring[h->head];
        h->head = (h->head + 1) % FL_HOOK_QUEUE;
        h->count--;
        if (droppable(ev)) {
            h->frames_q--;
            h->bytes_q -= ev_bytes(ev);
        }
        out[n++] = ev;
    }
    pthread_mutex_unlock(&h->mu);
    return n;
}

/* ---- decoded frames ---- */

static fl_av_pixfmt_t av_format(flh_pixfmt_t f)
{
    switch (f) {
    case FLH_PIX_GRAY8:
        return FL_AV_PIX_GRAY8;
    case FLH_PIX_YUV420P:
        return FL_AV_PIX_YUV420P;
    case FLH_PIX_NV12:
        return FL_AV_PIX_NV12;
    case FLH_PIX_RGB24:
        return FL_AV_PIX_RGB24;
    case FLH_PIX_BGR24:
        return FL_AV_PIX_BGR24;
    case FLH_PIX_RGBA:
        return FL_AV_PIX_RGBA;
    }
    return 0;
}

static void decoder_free(hk_decoder_t *d)
{
    fl_av_decoder_free(d->d);
    hk_stream_unref(d->st);
    memset(d, 0, sizeof *d);
}

/* The decoder of ev's track, made on its first frame; NULL when the
 * track is not decodable or there is no room. */
static hk_decoder_t *decoder_for(hk_hook_t *h, const hk_ev_t *ev)
{
    for (size_t i = 0; i < h->n_dec; i++)
        if (h->dec[i].st == ev->st && h->dec[i].track == ev->track)
            return &h->dec[i];
    if (h->n_dec == FL_HOOK_MAX_DECODERS || !ev->st)
        return NULL;
    const fl_mkv_track_t *t = NULL;
    for (size_t i = 0; i < ev->st->n_tracks; i++)
        if (ev->st->mkv[i].number == ev->track)
            t = &ev->st->mkv[i];
    hk_decoder_t *d = &h->dec[h->n_dec++];
    memset(d, 0, sizeof *d);
    atomic_fetch_add_explicit(&ev->st->refs, 1, memory_order_relaxed);
    d->st = ev->st;
    d->track = ev->track;
    d->need_key = 1;
    int rc = t ? fl_av_decoder_new(t, &d->d) : FL_EUNSUPPORTED;
    if (rc)
        fl_warn("hook %s: stream %s track %" PRIu64 ": no decoded frames: %s", h->pl->name,
                ev->st->name, ev->track, fl_strerror(rc));
    return d;
}

/* The decoders of a stream's session that ended. */
static void decoders_drop(hk_hook_t *h, const hk_stream_t *st)
{
    size_t k = 0;
    for (size_t i = 0; i < h->n_dec; i++) {
        if (h->dec[i].st == st)
            decoder_free(&h->dec[i]);
        else
            h->dec[k++] = h->dec[i];
    }
    h->n_dec = k;
}

static const char *fragment_number(hk_hook_t *h, uint64_t log_id, uint64_t seq)
{
    if (!h->number[0] || h->num_log_id != log_id || h->num_seq != seq) {
        fl_fragment_number(log_id, seq, h->number, sizeof h->number);
        h->num_log_id = log_id;
        h->num_seq = seq;
    }
    return h->number;
}

/* Hand out the pictures the decoder has ready. */
static void deliver_pictures(hk_hook_t *h, hk_decoder_t *d, const flh_decode_req_t *req)
{
    for (;;) {
        fl_av_picture_t pic;
        int rc = fl_av_decoder_receive(d->d, &pic);
        if (rc == FL_EAGAIN)
            return;
        if (rc) {
            fl_av_decoder_reset(d->d);
            d->need_key = 1;
            return;
        }
        if (req->max_fps > 0 && d->have_last && pic.pts >= d->last_ms &&
            (double)(pic.pts - d->last_ms) < 1000.0 / req->max_fps)
            continue; /* the rate limit: taken, not converted */
        rc = fl_av_decoder_convert(d->d, av_format(req->format), req->width, req->height, &pic);
        if (rc) {
            fl_warn("hook %s: stream %s: a picture could not be converted: %s", h->pl->name,
                    d->st->name, fl_strerror(rc));
            continue;
        }
        d->last_ms = pic.pts;
        d->have_last = 1;
        /* what its packet was sent with */
        int64_t server_ns = 0;
        uint64_t seq = 0;
        for (unsigned i = 0; i < 64; i++)
            if (d->recent[i].pts == pic.pts) {
                server_ns = d->recent[i].server_ns;
                seq = d->recent[i].seq;
            }
        flh_decoded_t out = {
            .stream = d->st->name,
            .track = d->track,
            .keyframe = pic.keyframe,
            .producer_ms = pic.pts,
            .server_ns = server_ns,
            .fragment = fragment_number(h, d->st->log_id, seq),
            .format = req->format,
            .width = pic.width,
            .height = pic.height,
        };
        for (int i = 0; i < 4; i++) {
            out.planes[i] = pic.planes[i];
            out.strides[i] = pic.strides[i];
        }
        atomic_fetch_add_explicit(&h->decoded, 1, memory_order_relaxed);
        h->pl->decoded(h->self, &out);
    }
}

/* A compressed video frame into the hook's decoder for its track. */
static void decode(hk_hook_t *h, const hk_ev_t *ev)
{
    flh_decode_req_t req;
    pthread_mutex_lock(&h->mu);
    req = h->req;
    pthread_mutex_unlock(&h->mu);
    hk_decoder_t *d = decoder_for(h, ev);
    if (!d || !d->d)
        return;
    if (d->need_key && !ev->keyframe)
        return;
    if (req.key_frames_only && !ev->keyframe)
        return;
    d->need_key = 0;
    d->recent[d->recent_i % 64].pts = ev->pts_ms;
    d->recent[d->recent_i % 64].server_ns = ev->server_ns;
    d->recent[d->recent_i % 64].seq = ev->seq;
    d->recent_i++;
    if (fl_av_decoder_send(d->d, ev->bytes, ev->pts_ms, ev->keyframe) != 0) {
        fl_av_decoder_reset(d->d);
        d->need_key = 1;
        return;
    }
    if (req.key_frames_only) {
        /* alone: out at once, then the decoder starts afresh */
        fl_av_decoder_drain(d->d);
        deliver_pictures(h, d, &req);
        fl_av_decoder_reset(d->d);
    } else {
        deliver_pictures(h, d, &req);
    }
}

/* The session ended: the pictures its decoders still hold come out. */
static void drain_stream(hk_hook_t *h, const hk_stream_t *st)
{
    if (!h->pl->decoded || !atomic_load_explicit(&h->want_decoded, memory_order_relaxed))
        return;
    flh_decode_req_t req;
    pthread_mutex_lock(&h->mu);
    req = h->req;
    pthread_mutex_unlock(&h->mu);
    for (size_t i = 0; i < h->n_dec; i++) {
        hk_decoder_t *d = &h->dec[i];
        if (d->st != st || !d->d || d->need_key || req.key_frames_only)
            continue;
        fl_av_decoder_drain(d->d);
        deliver_pictures(h, d, &req);
    }
}

/* ---- dispatch ---- */

/* A frame as the plugin gets it; frame_hold finds the event behind it. */
typedef struct {
    flh_frame_t f; /* first */
    hk_ev_t *ev;
} hk_frame_t;

hk_ev_t *hk_frame_event(const flh_frame_t *f)
{
    return ((const hk_frame_t *)f)->ev;
}

static void started(hk_hook_t *h, const hk_ev_t *ev)
{
    if (!h->pl->stream_started)
        return;
    flh_stream_t s = {
        .stream = ev->st->name, .tracks = ev->st->tracks, .n_tracks = ev->st->n_tracks};
    h->pl->stream_started(h->self, &s);
}

static void dispatch(hk_hook_t *h, hk_ev_t *ev)
{
    switch (ev->type) {
    case HK_STARTED:
        started(h, ev);
        break;
    case HK_STOPPED:
        drain_stream(h, ev->st);
        decoders_drop(h, ev->st);
        if (h->pl->stream_stopped)
            h->pl->stream_stopped(h->self, ev->st->name);
        break;
    case HK_FRAME: {
        uint64_t dropped = atomic_load_explicit(&h->dropped, memory_order_relaxed);
        if (dropped != h->dropped_seen) {
            /* a gap: every decoder waits for a key frame */
            h->dropped_seen = dropped;
            for (size_t i = 0; i < h->n_dec; i++)
                h->dec[i].need_key = 1;
        }
        if (h->pl->frame) {
            hk_frame_t f = {
                .f = {.stream = ev->st->name,
                      .track = ev->track,
                      .keyframe = ev->keyframe,
                      .producer_ms = ev->pts_ms,
                      .duration_ms = ev->duration_ms,
                      .server_ns = ev->server_ns,
                      .fragment = fragment_number(h, ev->st->log_id, ev->seq),
                      .fragment_ms = ev->fragment_ms,
                      .bytes = {ev->bytes.p, ev->bytes.n}},
                .ev = ev,
            };
            atomic_fetch_add_explicit(&h->delivered, 1, memory_order_relaxed);
            h->pl->frame(h->self, &f.f);
        }
        if (ev->video && h->pl->decoded &&
            atomic_load_explicit(&h->want_decoded, memory_order_relaxed))
            decode(h, ev);
        break;
    }
    case HK_PERSISTED:
        if (h->pl->fragment_persisted) {
            flh_fragment_t f = {.stream = ev->stream,
                                .fragment = ev->number,
                                .producer_ms = ev->fragment_ms,
                                .server_ns = ev->server_ns,
                                .persisted_ns = ev->persisted_ns,
                                .bytes = ev->frag_bytes,
                                .frames = ev->frames};
            h->pl->fragment_persisted(h->self, &f);
        }
        break;
    case HK_RECORD:
        if (h->pl->record) {
            flh_record_t r = {.stream = ev->stream,
                              .shard = ev->shard,
                              .sequence = ev->rseq,
                              .partition_key = {ev->key.p, ev->key.n},
                              .data = {ev->data.p, ev->data.n},
                              .producer_ms = ev->producer_ns / 1000000};
            h->pl->record(h->self, &r);
        }
        break;
    }
}

static void *hook_main(void *arg)
{
    hk_hook_t *h = arg;
    hk_ev_t *batch[FL_HOOK_BATCH];
    size_t n;
    while ((n = pop_batch(h, batch, FL_HOOK_BATCH)) > 0) {
        for (size_t i = 0; i < n; i++) {
            /* once stopping, frames are not delivered */
            int stopping = atomic_load_explicit(&h->stop_flag, memory_order_relaxed);
            if (!(stopping && batch[i]->type == HK_FRAME))
                dispatch(h, batch[i]);
            hk_ev_unref(batch[i]);
        }
    }
    /* the last callback: nothing comes after it */
    while (h->n_dec)
        decoder_free(&h->dec[--h->n_dec]);
    if (h->pl->stop)
        h->pl->stop(h->self);
    uint64_t holds = atomic_load(&h->holds);
    if (holds)
        fl_warn("hook %s: %" PRIu64 " frame holds not released at stop", h->pl->name, holds);
    return NULL;
}

int hk_hook_start(hk_hook_t *h)
{
    sigset_t all, old;
    sigfillset(&all);
    /* the hook's thread takes no signal (the loop reads them) */
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int rc = pthread_create(&h->thread, NULL, hook_main, h);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc)
        return -rc;
    h->thread_on = 1;
    return 0;
}

void hk_hook_stop_begin(hk_hook_t *h)
{
    pthread_mutex_lock(&h->mu);
    h->stopping = 1;
    atomic_store(&h->stop_flag, 1);
    pthread_cond_signal(&h->cv);
    pthread_mutex_unlock(&h->mu);
}

void hk_hook_stop_wait(hk_hook_t *h)
{
    if (h->thread_on) {
        pthread_join(h->thread, NULL);
        h->thread_on = 0;
    } else if (h->inited && h->pl->stop) {
        h->pl->stop(h->self);
    }
    h->inited = 0;
}
