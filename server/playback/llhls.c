/*
 * server/playback/llhls.c — low-latency HLS: following a stream's live
 * tail (server/video/live.h) for its LIVE fMP4 sessions, and the requests
 * parked until the tail or storage has what they ask for. Each event loop
 * (--loops) has its own followers, touched by its thread only: a request
 * finds its loop's follower of the stream (made if need be) and parks on
 * it. A follower on another loop than the stream's tail joins it as a
 * remote reader (live.h): the tail's events and its durable seq come
 * posted, and wake the follower on its own loop as they would on the
 * tail's. Until they have all come (fl_live_reader_synced) such a
 * follower holds a prefix of the tail's fragments: it answers nothing
 * from it, and the requests on its loop wait (synced(), coming()).
 *
 * A follower per stream (not per viewer) joins the tail as one reader and
 * copies, per fragment, its Tracks element and its kept frames (those
 * fl_pb_media_open would read back from the stored record: the same
 * bytes, track, time and key flag, with the track's DefaultDuration), so
 * that a part cut from the tail before the fragment is durable is the same
 * frames at the same times as the part storage gives later. Parts are cut
 * by fl_pb_part_starts, which sees only frames up to the cut: the parts of
 * a fragment still arriving are a prefix of its final parts. It keeps the
 * fragments not yet durable and the last FL_PB_LL_KEEP durable ones (a
 * playlist lists parts for its newest segments), within FL_PB_LL_BYTES.
 *
 * Which segments a LIVE playlist lists is storage's: the durable fragments
 * (select.c). A fragment gets its #EXTINF line once it is PERSISTED; until
 * then its complete parts follow the last segment as #EXT-X-PART lines,
 * and the next fragment's parts wait for it. So the tail's "durable"
 * (fl_live_durable, the event that sends the PERSISTED ack) wakes the
 * follower as frames do.
 *
 * Parked requests (fl_pb_wait_t, each an fl_http_await'ed request): a
 * blocked playlist reload waits until (msn, part) is in the playlist; a
 * part request until that part is complete. Every wake-up of the tail
 * (a frame, a fragment's end, a PERSISTED) looks at the stream's waiters
 * and answers those whose condition holds; none polls. Each has a
 * deadline (three target durations, RFC 8216bis 6.2.5.2), after which it
 * is answered 503; at most FL_PB_MAX_WAITERS are parked across the server.
 *
 * A follower holds its stream's hub entry (so a stream with LL-HLS viewers
 * counts as in use, like one with GetMedia readers) and goes after
 * FL_PB_LL_IDLE_MS without a request.
 *
 * Invariants: fragments are in increasing sequence order (a dropped one's
 * number may come again after it); at most the last is not ended;
 * bytes = sum of the fragments' bytes; every waiter counts in
 * pb->n_waiting.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/error.h"
#include "server/playback/playback.h"

#define FL_PB_LL_KEEP      4
#define FL_PB_LL_BYTES     (32u << 20)
#define FL_PB_LL_IDLE_MS   15000
#define ADVANCE_PART_LIMIT 3

typedef struct lfrag {
    struct lfrag *next;
    uint64_t seq;
    int64_t producer_ms, server_ns;
    int ended, dropped, usable;
    fl_buf_t tracks;
    uint64_t tracks_hash;
    fl_pb_media_t m; /* kept frames, producer times (unshifted) */
    uint64_t clock;
    int64_t first_ms, end_ms; /* over every frame, as ingest counts a fragment's duration */
    int have_first;
    size_t starts[FL_PB_MAX_PARTS];
    int64_t from_ns[FL_PB_MAX_PARTS];
    size_t n_parts;
} lfrag_t;

struct fl_pb_follow {
    fl_pb_follow_t *next;
    fl_playback_t *pb;
    fl_video_t *video;
    fl_hub_entry_t *hub; /* held */
    uint64_t log_id;
    int have_d0;
    uint64_t d0; /* storage's newest fragment when the follower began */
    int have_dt;
    uint64_t dt;     /* the tail's durable seq as the reader last told it */
    int64_t edge_ms; /* when the follower learned of it (monotonic) */
    fl_live_reader_t *lr;
    int rejoin; /* cut loose: join again at the next tick */
    lfrag_t *head, *tail;
    size_t bytes;
    fl_pb_wait_t *waiters;
    int64_t used_ms;
    int64_t max_frag_ms;
    uint64_t gen; /* fl_pb_follow_gen: new at every pump and rejoin */
};

/* Followers' generations, unique across followers (one freed and another
 * made at its address never repeat a number). */
static _Atomic uint64_t gens;

static uint64_t fnv1a(fl_slice_t s)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < s.n; i++) {
        h ^= s.p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static int64_t now_ms(void)
{
    return fl_time_mono_ns() / 1000000;
}

static size_t lfrag_bytes(const lfrag_t *lf)
{
    return lf->m.data.n + lf->tracks.n;
}

static void lfrag_free(lfrag_t *lf)
{
    fl_pb_media_free(&lf->m);
    fl_buf_free(&lf->tracks);
    free(lf);
}

static void recut(lfrag_t *lf)
{
    if (lf->usable)
        lf->n_parts =
            fl_pb_part_starts(lf->m.frames, lf->m.n_frames, lf->clock, lf->starts, lf->from_ns);
}

/* The newest fragment numbered seq that was not dropped, or NULL. */
static lfrag_t *find(fl_pb_follow_t *f, uint64_t seq)
{
    lfrag_t *hit = NULL;
    for (lfrag_t *lf = f->head; lf; lf = lf->next)
        if (lf->seq == seq && !lf->dropped)
            hit = lf;
    return hit;
}

/* The newest durable sequence number known: the tail's PERSISTED events
 * (as the follower's reader knows them, kept across a rejoin), else
 * storage's newest when the follower began. */
static int durable(fl_pb_follow_t *f, uint64_t *d)
{
    uint64_t t;
    if (f->lr && fl_live_reader_durable_seq(f->lr, &t) == 0 && (!f->have_dt || t > f->dt)) {
        f->dt = t;
        f->have_dt = 1;
        f->edge_ms = now_ms(); /* (every wake-up asks: pump's trim) */
    }
    if (f->have_dt && (!f->have_d0 || f->dt >= f->d0)) {
        *d = f->dt;
        return 1;
    }
    if (f->have_d0) {
        *d = f->d0;
        return 1;
    }
    return 0;
}

/* Has the tail told f all it held when f joined (fl_live_reader_synced)?
 * Until then a follower on another loop than the tail's may hold a
 * prefix of what the tail has: it answers nothing from it. */
static int synced(const fl_pb_follow_t *f)
{
    return f->lr && fl_live_reader_synced(f->lr);
}

/* Complete parts of lf. */
static size_t complete_parts(const lfrag_t *lf)
{
    if (!lf->usable || lf->n_parts == 0)
        return 0;
    return lf->ended ? lf->n_parts : lf->n_parts - 1;
}

int fl_pb_follow_ready(fl_pb_follow_t *f, uint64_t msn, int part)
{
    uint64_t d = 0;
    int have = durable(f, &d);
    if (have && msn <= d)
        return 1;
    if (have && msn > d + 2)
        return -1;
    if (part < 0 || !synced(f))
        return 0; /* (what an unsynced follower holds may be part of the tail's) */
    lfrag_t *lf = find(f, msn);
    if (!lf)
        return 0;
    if (have && msn != d + 1)
        return 0; /* its parts are listed once the one before is durable */
    size_t done = complete_parts(lf);
    if ((size_t)part < done)
        return 1;
    if (!lf->ended && (size_t)part > done + ADVANCE_PART_LIMIT)
        return -1;
    return 0;
}

int fl_pb_follow_hold(fl_pb_follow_t *f, uint64_t *msn, int64_t *deadline_ms)
{
    uint64_t d = 0;
    if (!durable(f, &d) || !f->have_dt || f->dt != d)
        return 0; /* no PERSISTED event seen yet: when the edge moved is unknown */
    const lfrag_t *next = find(f, d + 1);
    int64_t now = now_ms();
    if (!next || now - f->edge_ms < FL_PB_HOLD_AFTER_MS)
        return 0;
    *msn = d + 1;
    /* at most a fragment's length: a producer that stops gets its players
     * the playlist as it is */
    *deadline_ms = now + (f->max_frag_ms > 1000 ? f->max_frag_ms : 1000);
    return 1;
}

/* Is fragment seq, which f does not hold, still to come from the tail?
 * The next one after f's newest; or, until f is synced (a follower on
 * another loop than the tail's, whose first events are still being posted
 * to it), one of the next two storage does not have: a request on that
 * loop waits for them instead of finding nothing (past its deadline it is
 * answered 503). */
static int coming(fl_pb_follow_t *f, uint64_t seq)
{
    if (synced(f))
        return f->tail && (seq == f->tail->seq + 1 || seq == f->tail->seq);
    uint64_t d = 0;
    return durable(f, &d) && seq > d && seq <= d + 2;
}

/* Has w's condition come (1), or is it to be answered anyway (the
 * fragment it waits on will not have the part: 1 too, the request looks
 * again and finds the answer)? */
static int wait_over(fl_pb_follow_t *f, const fl_pb_wait_t *w)
{
    if (!synced(f))
        return 0; /* its deadline answers it if the tail never tells */
    if (w->kind == FL_PB_WAIT_PLAYLIST)
        return fl_pb_follow_ready(f, w->msn, w->part) != 0;
    lfrag_t *lf = find(f, w->seq);
    if (!lf)
        return !coming(f, w->seq);
    return !lf->usable || (size_t)w->part < complete_parts(lf) || lf->ended;
}

static void fire(fl_playback_t *pb, fl_pb_wait_t *w, const fl_api_error_t *err)
{
    (void)pb; /* (n_waiting goes down where the request resumes) */
    w->err = err;
    fl_http_await_done(w->a);
}

static const fl_api_error_t ok_err = {.status = 0};

static void check_waiters(fl_pb_follow_t *f)
{
    fl_pb_wait_t **pp = &f->waiters;
    fl_pb_wait_t *ready = NULL;
    while (*pp) {
        fl_pb_wait_t *w = *pp;
        if (wait_over(f, w)) {
            *pp = w->next;
            w->next = ready;
            ready = w;
        } else {
            pp = &w->next;
        }
    }
    /* answered after the list is settled: an answer may park again */
    while (ready) {
        fl_pb_wait_t *w = ready;
        ready = w->next;
        fire(f->pb, w, &ok_err);
    }
}

/* Let go of fragments nobody will ask the tail for. */
static void trim(fl_pb_follow_t *f)
{
    uint64_t d = 0;
    int have = durable(f, &d);
    size_t n_durable = 0;
    for (lfrag_t *lf = f->head; lf; lf = lf->next)
        if (have && lf->seq <= d && lf->ended)
            n_durable++;
    while (f->head && f->head != f->tail) {
        lfrag_t *lf = f->head;
        int old = have && lf->seq <= d && lf->ended;
        if (!(lf->dropped || (old && n_durable > FL_PB_LL_KEEP) ||
              (lf->ended && f->bytes > FL_PB_LL_BYTES)))
            break;
        if (old)
            n_durable--;
        f->head = lf->next;
        f->bytes -= lfrag_bytes(lf);
        lfrag_free(lf);
    }
}

static void on_frame(fl_pb_follow_t *f, const fl_live_event_t *ev)
{
    lfrag_t *lf = f->tail;
    if (!lf || lf->seq != ev->seq || lf->ended)
        return;
    if (!lf->have_first || ev->pts_ms < lf->first_ms)
        lf->first_ms = ev->pts_ms;
    if (!lf->have_first || ev->pts_ms + ev->duration_ms > lf->end_ms)
        lf->end_ms = ev->pts_ms + ev->duration_ms;
    lf->have_first = 1;
    if (!lf->usable || !fl_pb_kept(&lf->m, ev->track))
        return;
    size_t before = lfrag_bytes(lf);
    if (fl_pb_media_add(&lf->m, ev->track, ev->pts_ms * 1000000, ev->keyframe, ev->bytes) != 0)
        lf->usable = 0; /* out of memory: its parts come from storage */
    f->bytes += lfrag_bytes(lf) - before;
}

static void on_fragment(fl_pb_follow_t *f, const fl_live_event_t *ev)
{
    lfrag_t *lf = calloc(1, sizeof *lf);
    if (!lf)
        return;
    lf->seq = ev->seq;
    lf->producer_ms = ev->producer_ms;
    lf->server_ns = ev->server_ns;
    fl_buf_init(&lf->tracks, 0);
    fl_buf_append(&lf->tracks, ev->tracks.p, ev->tracks.n);
    lf->tracks_hash = fnv1a(ev->tracks);
    lf->usable =
        !lf->tracks.err && fl_pb_media_tracks(ev->tracks, &lf->m) == 0 && lf->m.n_tracks > 0;
    lf->clock = fl_pb_clock_track(&lf->m);
    if (f->tail) {
        recut(f->tail); /* cut as it ended (dropped ones too) */
        f->tail->next = lf;
    } else {
        f->head = lf;
    }
    f->tail = lf;
    f->bytes += lfrag_bytes(lf);
}

/* Take what the tail has for the follower. */
static void pump(fl_pb_follow_t *f)
{
    fl_live_event_t ev;
    while (f->lr && !f->rejoin) {
        fl_live_next(f->lr, &ev);
        if (ev.type == FL_LIVE_NONE)
            break;
        switch (ev.type) {
        case FL_LIVE_FRAGMENT:
            on_fragment(f, &ev);
            break;
        case FL_LIVE_FRAME:
            on_frame(f, &ev);
            break;
        case FL_LIVE_END:
            if (f->tail && f->tail->seq == ev.seq) {
                recut(f->tail); /* (its last frames came in this batch) */
                f->tail->ended = 1;
                int64_t len = f->tail->end_ms - f->tail->first_ms;
                if (len > f->max_frag_ms)
                    f->max_frag_ms = len;
            }
            break;
        case FL_LIVE_DROPPED:
            if (f->tail && f->tail->seq == ev.seq) {
                f->tail->dropped = f->tail->ended = 1;
            }
            /* its number goes to the next fragment: parts made of it go */
            fl_pb_cache_forget(fl_pb_cache_of(f->pb), f->log_id, ev.seq);
            break;
        case FL_LIVE_CUT:
            f->rejoin = 1; /* (not here: the tail is waking its readers) */
            break;
        default:
            break;
        }
    }
    if (f->tail)
        recut(f->tail);
    trim(f);
    f->gen = atomic_fetch_add(&gens, 1) + 1;
    check_waiters(f);
}

uint64_t fl_pb_follow_gen(const fl_pb_follow_t *f)
{
    return f->gen;
}

static void follow_wake(void *data)
{
    pump(data);
}

static int join(fl_pb_follow_t *f)
{
    uint64_t d = 0;
    uint64_t at = durable(f, &d) ? d + 1 : 0;
    int rc = fl_live_join(f->hub->live, at, follow_wake, f, &f->lr);
    if (rc == FL_ENOTFOUND) /* (cannot be: only durable fragments leave) */
        rc = fl_live_join(f->hub->live, at + 1, follow_wake, f, &f->lr);
    return rc;
}

fl_pb_follow_t *fl_pb_follow(fl_playback_t *pb, const fl_stream_ref_t *ref)
{
    fl_pb_follow_t **list = &pb->follows[fl_server_loop()];
    for (fl_pb_follow_t *f = *list; f; f = f->next)
        if (f->log_id == ref->info.id) {
            f->used_ms = now_ms();
            return f;
        }
    if (!ref->hub || !ref->hub->live)
        return NULL;
    fl_pb_follow_t *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->pb = pb;
    f->video = ref->video;
    f->hub = ref->hub;
    f->log_id = ref->info.id;
    f->used_ms = now_ms();
    f->max_frag_ms = 2000;
    /* what storage has already (appends in flight count: at worst a
     * reload is answered a few milliseconds early) */
    fl_log_shard_info_t *sh = NULL;
    size_t n = 0;
    if (ref->log && fl_log_shards(ref->log, &sh, &n) == 0 && n > 0 && sh[0].next_seq > 0 &&
        sh[0].next_seq > sh[0].first_seq) {
        f->d0 = sh[0].next_seq - 1;
        f->have_d0 = 1;
    }
    free(sh);
    fl_hub_hold(f->hub);
    if (join(f) != 0) {
        fl_hub_release(f->video->hub, f->hub);
        free(f);
        return NULL;
    }
    f->next = *list;
    *list = f;
    pb->n_follows++;
    pump(f);
    return f;
}

int fl_pb_follow_snapshot(fl_pb_follow_t *f, const fl_pb_session_t *s, fl_pb_llfrag_t **v,
                          size_t *n)
{
    size_t k = 0, cap = 0;
    for (lfrag_t *lf = f->head; lf; lf = lf->next)
        cap++;
    *v = NULL;
    *n = 0;
    if (cap == 0)
        return 0;
    fl_pb_llfrag_t *out = malloc(cap * sizeof *out);
    if (!out)
        return FL_ENOMEM;
    for (lfrag_t *lf = f->head; lf; lf = lf->next) {
        if (lf->dropped || !lf->usable)
            continue;
        fl_pb_llfrag_t *o = &out[k++];
        o->seq = lf->seq;
        o->ts_ns = s->selector == FL_PB_PRODUCER_TS ? lf->producer_ms * 1000000 : lf->server_ns;
        o->tracks_hash = lf->tracks_hash;
        o->ended = lf->ended;
        o->dropped = 0;
        o->n_parts = lf->n_parts;
        fl_pb_part_info(lf->m.frames, lf->m.n_frames, lf->clock, lf->starts, lf->from_ns,
                        lf->n_parts, lf->ended, lf->first_ms * 1000000, lf->end_ms * 1000000,
                        o->parts);
    }
    *v = out;
    *n = k;
    return 0;
}

void fl_pb_partsrc_free(fl_pb_partsrc_t *p)
{
    if (!p)
        return;
    fl_buf_free(&p->tracks);
    fl_buf_free(&p->data);
    free(p->frames);
    free(p->offs);
    memset(p, 0, sizeof *p);
}

int fl_pb_follow_part(fl_pb_follow_t *f, uint64_t seq, int part, fl_pb_partsrc_t *out)
{
    memset(out, 0, sizeof *out);
    f->used_ms = now_ms();
    lfrag_t *lf = synced(f) ? find(f, seq) : NULL;
    if (!lf)
        return coming(f, seq) ? FL_EAGAIN : FL_ENOTFOUND;
    if (!lf->usable)
        return FL_ENOTFOUND;
    if (part < 0 || (size_t)part >= complete_parts(lf))
        return lf->ended ? FL_ENOTFOUND : FL_EAGAIN;
    size_t from = lf->starts[part];
    size_t to = (size_t)part + 1 < lf->n_parts ? lf->starts[part + 1] : lf->m.n_frames;
    fl_buf_init(&out->tracks, 0);
    fl_buf_init(&out->data, 0);
    fl_buf_append(&out->tracks, lf->tracks.p, lf->tracks.n);
    out->frames = malloc((to - from + 1) * sizeof *out->frames);
    if (!out->frames || out->tracks.err) {
        fl_pb_partsrc_free(out);
        return FL_ENOMEM;
    }
    out->offs = malloc((to - from + 1) * sizeof *out->offs);
    if (!out->offs) {
        fl_pb_partsrc_free(out);
        return FL_ENOMEM;
    }
    for (size_t i = from; i < to; i++) {
        fl_av_frame_t fr = lf->m.frames[i];
        out->offs[out->n] = out->data.n;
        fl_buf_append(&out->data, lf->m.data.p + lf->m.offs[i], fr.data.n);
        fr.data = fl_slice(NULL, fr.data.n); /* at data.p + offs[i] */
        out->frames[out->n++] = fr;
    }
    if (out->data.err) {
        fl_pb_partsrc_free(out);
        return FL_ENOMEM;
    }
    out->server_ns = lf->server_ns;
    out->producer_ns = lf->producer_ms * 1000000;
    f->pb->parts_from_tail++;
    return 0;
}

void fl_pb_follow_park(fl_pb_follow_t *f, fl_pb_wait_t *w)
{
    int64_t span = 3 * (f->max_frag_ms > 1000 ? f->max_frag_ms : 1000);
    w->deadline_ms = now_ms() + span;
    w->next = f->waiters;
    f->waiters = w;
    f->used_ms = now_ms();
}

static const fl_api_error_t late_err = {
    .status = 503,
    .type = "ServiceUnavailableException",
    .msg = "not available within three target durations; ask again",
};
static const fl_api_error_t gone_err = {
    .status = 503,
    .type = "ServiceUnavailableException",
    .msg = "the server is stopping",
};

static void follow_free(fl_playback_t *pb, fl_pb_follow_t *f)
{
    while (f->waiters) {
        fl_pb_wait_t *w = f->waiters;
        f->waiters = w->next;
        fire(pb, w, &gone_err);
    }
    fl_live_leave(f->lr);
    while (f->head) {
        lfrag_t *lf = f->head;
        f->head = lf->next;
        lfrag_free(lf);
    }
    fl_hub_release(f->video->hub, f->hub);
    free(f);
}

void fl_pb_follow_tick(fl_playback_t *pb, int loop)
{
    int64_t now = now_ms();
    for (fl_pb_follow_t **pp = &pb->follows[loop]; *pp;) {
        fl_pb_follow_t *f = *pp;
        if (f->rejoin) {
            fl_live_leave(f->lr);
            f->lr = NULL;
            f->rejoin = 0;
            while (f->head) {
                lfrag_t *lf = f->head;
                f->head = lf->next;
                lfrag_free(lf);
            }
            f->tail = NULL;
            f->bytes = 0;
            f->gen = atomic_fetch_add(&gens, 1) + 1;
            if (join(f) == 0)
                pump(f);
        }
        /* deadlines */
        fl_pb_wait_t *late = NULL;
        for (fl_pb_wait_t **wp = &f->waiters; *wp;) {
            fl_pb_wait_t *w = *wp;
            if (now >= w->deadline_ms) {
                *wp = w->next;
                w->next = late;
                late = w;
            } else {
                wp = &w->next;
            }
        }
        while (late) {
            fl_pb_wait_t *w = late;
            late = w->next;
            if (!w->hold)
                pb->waits_timed_out++;
            fire(pb, w, w->hold ? &ok_err : &late_err);
        }
        if (!f->waiters && now - f->used_ms > FL_PB_LL_IDLE_MS) {
            *pp = f->next;
            pb->n_follows--;
            follow_free(pb, f);
            continue;
        }
        pp = &f->next;
    }
}

void fl_pb_follow_free_all(fl_playback_t *pb)
{
    for (int i = 0; i < FL_CONFIG_MAX_LOOPS; i++)
        while (pb->follows[i]) {
            fl_pb_follow_t *f = pb->follows[i];
            pb->follows[i] = f->next;
            follow_free(pb, f);
        }
    pb->n_follows = 0;
}
