/*
 * server/live.c — see live.h for the model and its invariants.
 *
 * Fragments form a singly-linked list, oldest first. Each fragment keeps
 * its frames' bytes in one buffer plus a small table of frame records
 * (offset, length, timing): its own buffer, into which fl_live_frame
 * copies, or (fl_live_begin_shared) a reference to the fragment's stored
 * record that the ingest session builds, where the frames already are. A reader pins the fragment
 * it is in (frag->readers); a reader that finished the last fragment stays pinned to it ("done")
 * until the next one begins, so it never loses its place.
 */
#include "server/video/live.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "server/video/recbuf.h"

typedef struct {
    uint64_t track;
    int64_t pts_ms, duration_ms;
    int keyframe;
    size_t off, len;
} frame_t;

typedef enum { FRAG_OPEN, FRAG_COMPLETE, FRAG_DROPPED } frag_state_t;

typedef struct frag {
    struct frag *next;
    uint64_t seq;
    int64_t producer_ms, server_ns;
    frag_state_t state;
    int durable;
    frame_t *frames;
    size_t n_frames, cap_frames;
    fl_recbuf_t *buf; /* where the frames' bytes are (held) */
    int shared;       /* buf is the ingest's record: frames are not copied */
    size_t bytes;     /* frame bytes */
    fl_buf_t tracks;  /* the session's Tracks element when it began */
    int readers;      /* readers positioned in it */
} frag_t;

struct fl_live_reader {
    fl_live_reader_t *next;
    fl_live_t *l;
    frag_t *frag;  /* the fragment it is in (pinned), or NULL while waiting */
    uint64_t want; /* waiting: the first seq it wants */
    size_t idx;    /* next frame to hand out */
    int started;   /* FL_LIVE_FRAGMENT was handed out */
    int done;      /* END/DROPPED was handed out: move on when possible */
    int cut;       /* cut loose: FL_LIVE_CUT is next */
    uint64_t cut_seq;
    void (*wake)(void *data);
    void *data;
};

struct fl_live {
    frag_t *head, *tail;
    size_t n_frags;
    size_t bytes;
    size_t max_bytes;
    fl_buf_t tracks; /* the current session's */
    uint64_t last_seq;
    int have_last;
    uint64_t trimmed_max; /* highest seq of a complete fragment that left */
    int have_trimmed;
    uint64_t durable_max; /* highest seq storage made durable */
    int have_durable;
    fl_live_reader_t *readers;
    size_t n_readers;
    /* observers (live.h) and what they are told of the stream */
    const fl_live_observers_t *obs;
    char name[256];
    uint64_t log_id;
    int session_open; /* a session began and its end was not told yet */
};

/* How many observers the tail has (loops below call each one's callback
 * when it has one). */
static int n_obs(const fl_live_t *l)
{
    return l->obs ? l->obs->n : 0;
}

static void frag_free(frag_t *f)
{
    fl_recbuf_unref(f->buf);
    fl_buf_free(&f->tracks);
    free(f->frames);
    free(f);
}

static void wake_all(fl_live_t *l)
{
    for (fl_live_reader_t *r = l->readers; r; r = r->next)
        if (r->wake)
            r->wake(r->data);
}

/* A complete fragment leaves the tail: storage has it from now on.
 * (Dropped ones do not count: their numbers are used again.) */
static void note_trimmed(fl_live_t *l, const frag_t *f)
{
    if (f->state == FRAG_COMPLETE && (!l->have_trimmed || f->seq > l->trimmed_max)) {
        l->trimmed_max = f->seq;
        l->have_trimmed = 1;
    }
}

/* Drop fragments from the head that nobody needs any more. */
static void trim(fl_live_t *l)
{
    while (
        l->head && l->head != l->tail && l->head->readers == 0 &&
        (l->head->state == FRAG_DROPPED || (l->head->state == FRAG_COMPLETE && l->head->durable))) {
        frag_t *f = l->head;
        l->head = f->next;
        l->bytes -= f->bytes;
        l->n_frags--;
        note_trimmed(l, f);
        frag_free(f);
    }
    /* the last one goes too once it is finished, durable and unpinned */
    if (l->head && l->head == l->tail && l->head->readers == 0 &&
        (l->head->state == FRAG_DROPPED || (l->head->state == FRAG_COMPLETE && l->head->durable))) {
        l->bytes -= l->head->bytes;
        note_trimmed(l, l->head);
        frag_free(l->head);
        l->head = l->tail = NULL;
        l->n_frags = 0;
    }
}

/* Over budget: cut loose readers pinning finished, durable fragments at the
 * head, oldest first, then trim. */
static void enforce_budget(fl_live_t *l)
{
    while (l->bytes > l->max_bytes && l->head) {
        frag_t *f = l->head;
        if (f->state == FRAG_OPEN || (f->state == FRAG_COMPLETE && !f->durable))
            break; /* what is not yet in storage must stay */
        for (fl_live_reader_t *r = l->readers; r; r = r->next) {
            if (r->frag == f) {
                r->cut = 1;
                /* a reader done with f resumes after it */
                r->cut_seq = r->done ? f->seq + 1 : f->seq;
                f->readers--;
                r->frag = NULL;
                if (r->wake)
                    r->wake(r->data);
            }
        }
        size_t before = l->n_frags;
        trim(l);
        if (l->n_frags == before)
            break;
    }
}

int fl_live_new(const fl_live_opts_t *opts, fl_live_t **out)
{
    fl_live_t *l = calloc(1, sizeof *l);
    if (!l)
        return FL_ENOMEM;
    l->max_bytes = opts && opts->max_bytes ? opts->max_bytes : (size_t)64 << 20;
    l->obs = opts ? opts->observers : NULL;
    fl_buf_init(&l->tracks, 1 << 20);
    *out = l;
    return 0;
}

void fl_live_free(fl_live_t *l)
{
    if (!l)
        return;
    fl_live_session_end(l);
    /* readers must leave before; cut them loose so they do */
    for (fl_live_reader_t *r = l->readers; r; r = r->next) {
        if (r->frag)
            r->frag->readers--;
        r->frag = NULL;
        r->l = NULL;
        r->cut = 1;
        if (r->wake)
            r->wake(r->data);
    }
    frag_t *f = l->head;
    while (f) {
        frag_t *n = f->next;
        frag_free(f);
        f = n;
    }
    fl_buf_free(&l->tracks);
    free(l);
}

void fl_live_identify(fl_live_t *l, const char *name, uint64_t log_id)
{
    snprintf(l->name, sizeof l->name, "%s", name);
    l->log_id = log_id;
}

int fl_live_session(fl_live_t *l, fl_slice_t tracks)
{
    fl_live_session_end(l);
    fl_buf_reset(&l->tracks);
    fl_buf_append(&l->tracks, tracks.p, tracks.n);
    if (l->tracks.err)
        return l->tracks.err;
    l->session_open = 1;
    for (int i = 0; i < n_obs(l); i++)
        if (l->obs->obs[i]->session)
            l->obs->obs[i]->session(l->obs->data[i], l->name, l->log_id, tracks);
    return 0;
}

void fl_live_session_end(fl_live_t *l)
{
    if (!l->session_open)
        return;
    l->session_open = 0;
    for (int i = 0; i < n_obs(l); i++)
        if (l->obs->obs[i]->session_end)
            l->obs->obs[i]->session_end(l->obs->data[i], l->name);
}

static int begin(fl_live_t *l, uint64_t seq, int64_t producer_ms, int64_t server_ns,
                 fl_recbuf_t *shared)
{
    if (l->tail && l->tail->state == FRAG_OPEN)
        fl_live_end(l, 0); /* the producer never finished it */
    frag_t *f = calloc(1, sizeof *f);
    if (!f)
        return FL_ENOMEM;
    f->seq = seq;
    f->producer_ms = producer_ms;
    f->server_ns = server_ns;
    f->state = FRAG_OPEN;
    f->shared = shared != NULL;
    f->buf = shared ? fl_recbuf_ref(shared) : fl_recbuf_new(0, 0);
    fl_buf_init(&f->tracks, 0);
    fl_buf_append(&f->tracks, l->tracks.p, l->tracks.n);
    if (!f->buf || f->tracks.err) {
        frag_free(f);
        return FL_ENOMEM;
    }
    if (l->tail)
        l->tail->next = f;
    else
        l->head = f;
    l->tail = f;
    l->n_frags++;
    l->last_seq = seq;
    l->have_last = 1;
    /* readers done with the previous fragment, or waiting for this one */
    for (fl_live_reader_t *r = l->readers; r; r = r->next) {
        if (r->frag && r->done && r->frag->next == f) {
            r->frag->readers--;
            r->frag = f;
            f->readers++;
            r->idx = 0;
            r->started = 0;
            r->done = 0;
        } else if (!r->frag && !r->cut && seq >= r->want) {
            r->frag = f;
            f->readers++;
        }
    }
    trim(l);
    wake_all(l);
    return 0;
}

int fl_live_begin(fl_live_t *l, uint64_t seq, int64_t producer_ms, int64_t server_ns)
{
    return begin(l, seq, producer_ms, server_ns, NULL);
}

int fl_live_begin_shared(fl_live_t *l, uint64_t seq, int64_t producer_ms, int64_t server_ns,
                         fl_recbuf_t *rec)
{
    return rec ? begin(l, seq, producer_ms, server_ns, rec) : FL_EINVAL;
}

int fl_live_frame(fl_live_t *l, uint64_t track, int64_t pts_ms, int64_t duration_ms, int keyframe,
                  fl_slice_t bytes)
{
    frag_t *f = l->tail;
    if (!f || f->state != FRAG_OPEN)
        return FL_ESTATE;
    if (f->n_frames == f->cap_frames) {
        size_t cap = f->cap_frames ? f->cap_frames * 2 : 64;
        frame_t *nf = realloc(f->frames, cap * sizeof *nf);
        if (!nf)
            return FL_ENOMEM;
        f->frames = nf;
        f->cap_frames = cap;
    }
    fl_buf_t *b = &f->buf->b;
    size_t off;
    if (f->shared) {
        /* already in the record: remember where */
        if (bytes.n && (!b->p || bytes.p < b->p || bytes.n > b->n ||
                        (size_t)(bytes.p - b->p) > b->n - bytes.n))
            return FL_EINVAL;
        off = bytes.n ? (size_t)(bytes.p - b->p) : 0;
    } else {
        off = b->n;
        fl_buf_append(b, bytes.p, bytes.n);
        if (b->err)
            return FL_ENOMEM;
    }
    f->bytes += bytes.n;
    frame_t *fr = &f->frames[f->n_frames++];
    fr->track = track;
    fr->pts_ms = pts_ms;
    fr->duration_ms = duration_ms;
    fr->keyframe = keyframe;
    fr->off = off;
    fr->len = bytes.n;
    l->bytes += bytes.n;
    for (int i = 0; i < n_obs(l); i++)
        if (l->obs->obs[i]->frame)
            l->obs->obs[i]->frame(l->obs->data[i], l->name, l->log_id, f->seq, f->producer_ms,
                                  f->server_ns, track, pts_ms, duration_ms, keyframe,
                                  f->shared ? fl_slice(b->p + off, bytes.n) : bytes,
                                  f->shared ? f->buf : NULL);
    enforce_budget(l);
    wake_all(l);
    return 0;
}

void fl_live_end(fl_live_t *l, int ok)
{
    frag_t *f = l->tail;
    if (!f || f->state != FRAG_OPEN)
        return;
    f->state = ok ? FRAG_COMPLETE : FRAG_DROPPED;
    wake_all(l);
    trim(l);
}

void fl_live_lost(fl_live_t *l, uint64_t seq)
{
    for (frag_t *f = l->head; f; f = f->next)
        if (f->seq == seq && f->state == FRAG_COMPLETE && !f->durable)
            f->state = FRAG_DROPPED;
    trim(l);
    enforce_budget(l);
}

void fl_live_durable(fl_live_t *l, uint64_t seq)
{
    for (frag_t *f = l->head; f; f = f->next) {
        if (f->seq == seq && f->state != FRAG_DROPPED) {
            if (!f->durable) {
                for (int i = 0; i < n_obs(l); i++)
                    if (l->obs->obs[i]->durable)
                        l->obs->obs[i]->durable(l->obs->data[i], l->name, l->log_id, f->seq,
                                                f->producer_ms, f->server_ns, (uint64_t)f->bytes,
                                                (uint32_t)f->n_frames);
            }
            f->durable = 1;
        }
    }
    if (!l->have_durable || seq > l->durable_max) {
        l->durable_max = seq;
        l->have_durable = 1;
    }
    trim(l);
    enforce_budget(l);
    wake_all(l); /* readers that wait for PERSISTED (LIVE playlists) */
}

int fl_live_durable_seq(const fl_live_t *l, uint64_t *seq)
{
    if (!l->have_durable)
        return FL_ENOTFOUND;
    *seq = l->durable_max;
    return 0;
}

int fl_live_join(fl_live_t *l, uint64_t seq, void (*wake)(void *data), void *data,
                 fl_live_reader_t **out)
{
    *out = NULL;
    /* a complete fragment at or after seq already left the tail: storage
     * has it, read it there */
    if (l->have_trimmed && seq <= l->trimmed_max)
        return FL_ENOTFOUND;
    frag_t *at = NULL;
    for (frag_t *f = l->head; f; f = f->next) {
        if (f->seq >= seq && f->state != FRAG_DROPPED) {
            at = f; /* the first one it still needs */
            break;
        }
    }
    fl_live_reader_t *r = calloc(1, sizeof *r);
    if (!r)
        return FL_ENOMEM;
    r->l = l;
    r->want = seq;
    r->wake = wake;
    r->data = data;
    r->frag = at;
    if (at)
        at->readers++;
    r->next = l->readers;
    l->readers = r;
    l->n_readers++;
    *out = r;
    return 0;
}

void fl_live_next(fl_live_reader_t *r, fl_live_event_t *ev)
{
    memset(ev, 0, sizeof *ev);
    if (r->cut) {
        ev->type = FL_LIVE_CUT;
        ev->seq = r->cut_seq;
        return;
    }
    frag_t *f = r->frag;
    if (!f)
        return; /* waiting for a fragment to begin */
    if (r->done) {
        if (!f->next)
            return;
        /* move on to the next fragment */
        f->readers--;
        r->frag = f = f->next;
        f->readers++;
        r->idx = 0;
        r->started = 0;
        r->done = 0;
        trim(r->l);
    }
    ev->seq = f->seq;
    ev->producer_ms = f->producer_ms;
    ev->server_ns = f->server_ns;
    if (!r->started) {
        r->started = 1;
        ev->type = FL_LIVE_FRAGMENT;
        ev->tracks = fl_buf_slice(&f->tracks);
        return;
    }
    if (r->idx < f->n_frames) {
        const frame_t *fr = &f->frames[r->idx++];
        ev->type = FL_LIVE_FRAME;
        ev->track = fr->track;
        ev->pts_ms = fr->pts_ms;
        ev->duration_ms = fr->duration_ms;
        ev->keyframe = fr->keyframe;
        ev->bytes = fl_slice(f->buf->b.p + fr->off, fr->len);
        return;
    }
    if (f->state == FRAG_OPEN)
        return;
    ev->type = f->state == FRAG_COMPLETE ? FL_LIVE_END : FL_LIVE_DROPPED;
    r->done = 1;
}

void fl_live_leave(fl_live_reader_t *r)
{
    if (!r)
        return;
    fl_live_t *l = r->l;
    if (l) {
        if (r->frag)
            r->frag->readers--;
        for (fl_live_reader_t **pp = &l->readers; *pp; pp = &(*pp)->next) {
            if (*pp == r) {
                *pp = r->next;
                break;
            }
        }
        l->n_readers--;
        trim(l);
    }
    free(r);
}

size_t fl_live_bytes(const fl_live_t *l)
{
    return l->bytes;
}

size_t fl_live_fragments(const fl_live_t *l)
{
    return l->n_frags;
}

size_t fl_live_readers(const fl_live_t *l)
{
    return l->n_readers;
}

int fl_live_check(const fl_live_t *l)
{
    size_t bytes = 0, n = 0;
    const frag_t *prev = NULL;
    for (const frag_t *f = l->head; f; f = f->next) {
        if (prev && f->seq < prev->seq)
            return FL_ESTATE;
        if (prev && prev->state == FRAG_OPEN)
            return FL_ESTATE; /* only the last may be open */
        int pins = 0;
        for (const fl_live_reader_t *r = l->readers; r; r = r->next)
            pins += r->frag == f;
        if (pins != f->readers)
            return FL_ESTATE;
        bytes += f->bytes;
        n++;
        prev = f;
    }
    if (bytes != l->bytes || n != l->n_frags || prev != l->tail)
        return FL_ESTATE;
    for (const fl_live_reader_t *r = l->readers; r; r = r->next) {
        int found = r->frag == NULL;
        for (const frag_t *f = l->head; f && !found; f = f->next)
            found = f == r->frag;
        if (!found)
            return FL_ESTATE;
    }
    return 0;
}
