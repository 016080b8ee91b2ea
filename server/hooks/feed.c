/*
 * server/hooks/feed.c — what hooks are fed: the observers registered with
 * video's live tails (hub.h: every producer session, frame and durable
 * fragment, on the loop thread) and with core's data records (datarec.h:
 * every record appended, on the appending thread). Each event is built
 * once and pushed to the queue of every hook that takes it; a frame's
 * bytes are not copied when they lie in the fragment's shared record (the
 * record is pinned and held instead, recbuf.h), else copied once.
 *
 * The sessions open now (one per stream with a producer) are kept here,
 * a list per event loop (--loops): a stream's tail calls its observers on
 * its own loop, whichever loop its producer is on (a producer elsewhere
 * posts its frames to the tail's loop, live.h), so each frame reaches the
 * hooks once, and each list is touched by one thread with no lock. A
 * frame finds its stream's tracks (is it video? which decoder?) without
 * parsing anything.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/diag.h"
#include "common/error.h"
#include "server/core/datarec.h"
#include "server/core/server.h"
#include "server/hooks/hooks.h"
#include "server/video/fragment.h"
#include "server/video/video.h"

typedef struct hk_session session_t;

static flh_codec_t codec_of(fl_slice_t id)
{
    if (fl_slice_eq_str(id, "V_MPEG4/ISO/AVC"))
        return FLH_CODEC_H264;
    if (fl_slice_eq_str(id, "V_MPEGH/ISO/HEVC"))
        return FLH_CODEC_H265;
    if (fl_slice_eq_str(id, "A_AAC"))
        return FLH_CODEC_AAC;
    return FLH_CODEC_OTHER;
}

typedef struct {
    hk_stream_t *st;
} build_t;

/* The session's tracks, copied into one allocation. */
static int take_tracks(void *data, const fl_mkv_track_t *t, size_t n)
{
    hk_stream_t *st = ((build_t *)data)->st;
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++)
        bytes += t[i].codec_id.n + 1 + t[i].codec_private.n;
    st->tracks = calloc(n ? n : 1, sizeof *st->tracks);
    st->mkv = calloc(n ? n : 1, sizeof *st->mkv);
    st->store = malloc(bytes ? bytes : 1);
    if (!st->tracks || !st->mkv || !st->store)
        return FL_ENOMEM;
    uint8_t *p = st->store;
    for (size_t i = 0; i < n; i++) {
        flh_track_t *o = &st->tracks[i];
        fl_mkv_track_t *m = &st->mkv[i];
        *m = t[i];
        m->name = m->language = fl_slice(NULL, 0);
        char *id = (char *)p;
        memcpy(p, t[i].codec_id.p, t[i].codec_id.n);
        p += t[i].codec_id.n;
        *p++ = 0;
        m->codec_id = fl_slice(id, t[i].codec_id.n);
        if (t[i].codec_private.n)
            memcpy(p, t[i].codec_private.p, t[i].codec_private.n);
        m->codec_private = fl_slice(p, t[i].codec_private.n);
        p += t[i].codec_private.n;
        o->number = t[i].number;
        o->type = t[i].type == FL_MKV_TRACK_VIDEO   ? FLH_TRACK_VIDEO
                  : t[i].type == FL_MKV_TRACK_AUDIO ? FLH_TRACK_AUDIO
                                                    : FLH_TRACK_OTHER;
        o->codec = codec_of(m->codec_id);
        o->codec_id = id;
        o->codec_private.p = m->codec_private.p;
        o->codec_private.n = m->codec_private.n;
        o->width = (uint32_t)t[i].pixel_width;
        o->height = (uint32_t)t[i].pixel_height;
        o->sample_rate = (uint32_t)t[i].sampling_frequency;
        o->channels = (uint32_t)t[i].channels;
    }
    st->n_tracks = n;
    return 0;
}

/* The calling loop's sessions. */
static session_t **sessions_of(fl_hooks_t *hs)
{
    return &hs->sessions[fl_server_loop()];
}

static session_t *session_find(fl_hooks_t *hs, const char *stream, session_t ***link)
{
    for (session_t **pp = sessions_of(hs); *pp; pp = &(*pp)->next)
        if ((*pp)->key == stream || strcmp((*pp)->st->name, stream) == 0) {
            if (link)
                *link = pp;
            return *pp;
        }
    return NULL;
}

static void push_all(fl_hooks_t *hs, hk_ev_t *ev, size_t cb_offset)
{
    for (int i = 0; i < hs->n; i++) {
        hk_hook_t *h = hs->hooks[i];
        /* the plugin's callback at cb_offset; 0: every hook */
        if (cb_offset && !*(void *const *)((const char *)h->pl + cb_offset))
            continue;
        hk_hook_push(h, ev);
    }
}

static void on_session(void *data, const char *stream, uint64_t log_id, fl_slice_t tracks)
{
    fl_hooks_t *hs = data;
    hk_stream_t *st = calloc(1, sizeof *st);
    session_t *s = calloc(1, sizeof *s);
    hk_ev_t *ev = hk_ev_new(HK_STARTED, 0);
    int rc = st && s && ev ? 0 : FL_ENOMEM;
    if (!rc) {
        atomic_init(&st->refs, 1);
        snprintf(st->name, sizeof st->name, "%s", stream);
        st->log_id = log_id;
        build_t b = {st};
        rc = fl_fragment_tracks(tracks, take_tracks, &b);
    }
    if (rc) {
        fl_warn("hooks: stream %s: its session is not shown to hooks: %s", stream, fl_strerror(rc));
        hk_stream_unref(st);
        free(s);
        hk_ev_unref(ev);
        return;
    }
    s->key = stream;
    s->st = st;
    s->next = *sessions_of(hs);
    *sessions_of(hs) = s;
    atomic_fetch_add(&st->refs, 1);
    ev->st = st;
    push_all(hs, ev, 0); /* every hook: its thread learns of the session */
    hk_ev_unref(ev);
}

static void on_session_end(void *data, const char *stream)
{
    fl_hooks_t *hs = data;
    session_t **link;
    session_t *s = session_find(hs, stream, &link);
    if (!s)
        return;
    *link = s->next;
    hk_ev_t *ev = hk_ev_new(HK_STOPPED, 0);
    if (ev) {
        ev->st = s->st; /* the session's reference goes to the event */
        push_all(hs, ev, 0);
        hk_ev_unref(ev);
    } else {
        hk_stream_unref(s->st);
    }
    free(s);
}

static void on_frame(void *data, const char *stream, uint64_t log_id, uint64_t seq,
                     int64_t fragment_ms, int64_t server_ns, uint64_t track, int64_t pts_ms,
                     int64_t duration_ms, int keyframe, fl_slice_t bytes, fl_recbuf_t *rec)
{
    fl_hooks_t *hs = data;
    (void)log_id;
    session_t *s = session_find(hs, stream, NULL);
    if (!s)
        return; /* no session was shown (out of memory) */
    int video = 0;
    for (size_t i = 0; i < s->st->n_tracks; i++)
        if (s->st->tracks[i].number == track)
            video = s->st->tracks[i].type == FLH_TRACK_VIDEO;
    hk_ev_t *ev = NULL;
    for (int i = 0; i < hs->n; i++) {
        hk_hook_t *h = hs->hooks[i];
        if (!hk_hook_wants_frame(h, keyframe, video))
            continue;
        if (!ev) {
            ev = hk_ev_new(HK_FRAME, rec ? 0 : bytes.n);
            if (!ev)
                return;
            atomic_fetch_add(&s->st->refs, 1);
            ev->st = s->st;
            ev->seq = seq;
            ev->fragment_ms = fragment_ms;
            ev->server_ns = server_ns;
            ev->track = track;
            ev->pts_ms = pts_ms;
            ev->duration_ms = duration_ms;
            ev->keyframe = keyframe;
            ev->video = video;
            if (rec) {
                /* shared: read on the hooks' threads while the record grows */
                fl_recbuf_pin(rec);
                ev->rec = fl_recbuf_ref(rec);
                ev->bytes = bytes;
            } else {
                if (bytes.n)
                    memcpy(ev->own, bytes.p, bytes.n);
                ev->bytes = fl_slice(ev->own, bytes.n);
            }
        }
        hk_hook_push(h, ev);
    }
    hk_ev_unref(ev);
}

static void on_durable(void *data, const char *stream, uint64_t log_id, uint64_t seq,
                       int64_t producer_ms, int64_t server_ns, uint64_t bytes, uint32_t frames)
{
    fl_hooks_t *hs = data;
    hk_ev_t *ev = hk_ev_new(HK_PERSISTED, 0);
    if (!ev)
        return;
    snprintf(ev->stream, sizeof ev->stream, "%s", stream);
    fl_fragment_number(log_id, seq, ev->number, sizeof ev->number);
    ev->fragment_ms = producer_ms;
    ev->server_ns = server_ns;
    ev->persisted_ns = fl_time_real_ns();
    ev->frag_bytes = bytes;
    ev->frames = frames;
    push_all(hs, ev, offsetof(flh_plugin_t, fragment_persisted));
    hk_ev_unref(ev);
}

static const fl_live_observer_t observer = {
    .session = on_session,
    .session_end = on_session_end,
    .frame = on_frame,
    .durable = on_durable,
};

const fl_live_observer_t *hk_feed_observer(void)
{
    return &observer;
}

/* A record appended to a data stream (any thread). */
static void on_record(void *data, const fl_datarec_t *r)
{
    fl_hooks_t *hs = data;
    pthread_t self = pthread_self();
    hk_ev_t *ev = NULL;
    for (int i = 0; i < hs->n; i++) {
        hk_hook_t *h = hs->hooks[i];
        if (!h->pl->record || (h->thread_on && pthread_equal(h->thread, self)))
            continue; /* a hook does not hear of its own records */
        if (!ev) {
            ev = hk_ev_new(HK_RECORD, r->key.n + r->data.n);
            if (!ev)
                return;
            snprintf(ev->stream, sizeof ev->stream, "%s", r->stream);
            ev->shard = r->shard;
            ev->rseq = r->seq;
            ev->producer_ns = r->producer_ns;
            if (r->key.n)
                memcpy(ev->own, r->key.p, r->key.n);
            if (r->data.n)
                memcpy(ev->own + r->key.n, r->data.p, r->data.n);
            ev->key = fl_slice(ev->own, r->key.n);
            ev->data = fl_slice(ev->own + r->key.n, r->data.n);
        }
        hk_hook_push(h, ev);
    }
    hk_ev_unref(ev);
}

int hk_feed_start(fl_hooks_t *hs)
{
    fl_video_t *v = fl_video_of(hs->srv);
    if (!v)
        return FL_ESTATE;
    int rc = fl_hub_observe(v->hub, &observer, hs);
    if (!rc) {
        rc = fl_datarec_observe(hs->srv, on_record, hs);
        if (rc)
            fl_hub_unobserve(v->hub, &observer, hs);
    }
    hs->observing = rc == 0;
    return rc;
}

void hk_feed_stop(fl_hooks_t *hs)
{
    if (hs->observing) {
        fl_hub_unobserve(fl_video_of(hs->srv)->hub, &observer, hs);
        fl_datarec_unobserve(hs->srv, on_record, hs);
        hs->observing = 0;
    }
    for (int i = 0; i < FL_CONFIG_MAX_LOOPS; i++)
        while (hs->sessions[i]) {
            session_t *s = hs->sessions[i];
            hs->sessions[i] = s->next;
            hk_stream_unref(s->st);
            free(s);
        }
}
