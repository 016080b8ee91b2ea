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

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "server/core/module.h"
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

typedef struct rlink rlink_t;
typedef struct revent revent_t;

struct fl_live_reader {
    fl_live_reader_t *next;
    /* a remote reader (joined from another loop): its events come posted
     * through link; the fields below it are unused */
    rlink_t *link;
    revent_t *q_head, *q_tail; /* posted, not yet handed out */
    revent_t *cur;             /* handed out last: its bytes stay valid */
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
    /* a remote reader: the tail's durable seq, as its proxy posted it */
    int have_durable;
    uint64_t durable_max;
    int synced; /* a remote reader: the events of its join have come */
};

struct fl_live {
    struct fl_server *srv; /* NULL: one thread */
    int loop;              /* the tail's loop */
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

/* ---- other loops ---- */

static _Atomic uint64_t remote_events, remote_ops;

uint64_t fl_live_remote_events(void)
{
    return remote_events;
}

uint64_t fl_live_remote_ops(void)
{
    return remote_ops;
}

/* Is the caller on another loop than the tail's? */
static int elsewhere(const fl_live_t *l)
{
    return l->srv && fl_server_loop() != l->loop;
}

/* A producer-side call made on another loop, for the tail's loop. */
typedef enum {
    OP_IDENTIFY,
    OP_SESSION,
    OP_SESSION_END,
    OP_BEGIN,
    OP_FRAME,
    OP_END,
    OP_DURABLE,
    OP_LOST,
    OP_FREE
} op_t;
typedef struct {
    fl_post_t post;
    fl_live_t *l;
    op_t op;
    uint64_t seq, track;
    int64_t a, b; /* producer_ms, server_ns | pts_ms, duration_ms */
    int flag;     /* keyframe | ok */
    size_t n;
    uint8_t bytes[]; /* tracks | frame */
} op_msg_t;

static void op_run(fl_post_t *p)
{
    op_msg_t *m = (op_msg_t *)p;
    fl_live_t *l = m->l;
    switch (m->op) {
    case OP_IDENTIFY:
        fl_live_identify(l, (const char *)m->bytes, m->seq);
        break;
    case OP_SESSION:
        fl_live_session(l, fl_slice(m->bytes, m->n));
        break;
    case OP_SESSION_END:
        fl_live_session_end(l);
        break;
    case OP_BEGIN:
        fl_live_begin(l, m->seq, m->a, m->b);
        break;
    case OP_FRAME:
        fl_live_frame(l, m->track, m->a, m->b, m->flag, fl_slice(m->bytes, m->n));
        break;
    case OP_END:
        fl_live_end(l, m->flag);
        break;
    case OP_DURABLE:
        fl_live_durable(l, m->seq);
        break;
    case OP_LOST:
        fl_live_lost(l, m->seq);
        break;
    case OP_FREE:
        fl_live_free(l);
        break;
    }
    free(m);
}

static int post_op(fl_live_t *l, op_t op, uint64_t seq, uint64_t track, int64_t a, int64_t b,
                   int flag, fl_slice_t bytes)
{
    op_msg_t *m = malloc(sizeof *m + bytes.n);
    if (!m)
        return FL_ENOMEM;
    m->post.fn = op_run;
    m->l = l;
    m->op = op;
    m->seq = seq;
    m->track = track;
    m->a = a;
    m->b = b;
    m->flag = flag;
    m->n = bytes.n;
    if (bytes.n)
        memcpy(m->bytes, bytes.p, bytes.n);
    atomic_fetch_add_explicit(&remote_ops, 1, memory_order_relaxed);
    fl_server_post(l->srv, l->loop, &m->post);
    return 0;
}

/* What a remote reader and its proxy share. Counted: the reader side,
 * the proxy side, and each message in flight hold a reference. */
struct rlink {
    atomic_int refs;
    struct fl_server *srv;
    fl_live_t *l;             /* tail's loop only */
    fl_live_reader_t *proxy;  /* tail's loop only: the proxy, or NULL */
    fl_live_reader_t *reader; /* reader's loop only: NULL once it left */
    int reader_loop, tail_loop;
    uint64_t seq;            /* join at */
    atomic_size_t queued;    /* bytes posted, not yet handed out */
    atomic_int pump_pending; /* pump_post is in the tail loop's inbox */
    fl_post_t join_post, pump_post, leave_post;
    int durable_sent; /* tail's loop only: the durable seq posted last */
    uint64_t durable_seq;
    int synced_sent; /* tail's loop only: the join's events were followed by a mark */
};

/* A new durable seq of the tail (has_seq), and the mark that the events
 * the tail held when the reader joined were all posted before it (the
 * first one), for a remote reader. */
typedef struct {
    fl_post_t post;
    rlink_t *link;
    int has_seq;
    uint64_t seq;
} rdurable_t;

/* A posted event: an fl_live_event_t with its bytes (tracks or frame). */
struct revent {
    fl_post_t post;
    rlink_t *link;
    revent_t *next; /* the reader's queue */
    fl_live_event_t ev;
    size_t n;
    uint8_t bytes[];
};

static void link_unref(rlink_t *k)
{
    if (atomic_fetch_sub(&k->refs, 1) == 1)
        free(k);
}

/* Reader's loop: an event arrived. */
static void revent_run(fl_post_t *p)
{
    revent_t *e = (revent_t *)p;
    rlink_t *k = e->link;
    fl_live_reader_t *r = k->reader;
    if (!r) { /* it left */
        k->queued -= e->n;
        free(e);
        link_unref(k);
        return;
    }
    e->next = NULL;
    if (r->q_tail)
        r->q_tail->next = e;
    else
        r->q_head = e;
    r->q_tail = e;
    if (r->wake)
        r->wake(r->data);
}

static void pump(rlink_t *k);

/* Tail's loop: the proxy has news (posted, so that no tail call runs
 * inside another's wake_all). */
static void pump_run(fl_post_t *p)
{
    rlink_t *k = (rlink_t *)((char *)p - offsetof(rlink_t, pump_post));
    atomic_store(&k->pump_pending, 0);
    pump(k);
    link_unref(k);
}

static void pump_soon(rlink_t *k, int loop)
{
    if (atomic_exchange(&k->pump_pending, 1))
        return;
    atomic_fetch_add(&k->refs, 1);
    fl_server_post(k->srv, loop, &k->pump_post);
}

static void proxy_wake(void *data)
{
    rlink_t *k = data;
    pump_soon(k, k->tail_loop);
}

/* Reader's loop: the tail's durable seq moved. */
static void rdurable_run(fl_post_t *p)
{
    rdurable_t *d = (rdurable_t *)p;
    rlink_t *k = d->link;
    fl_live_reader_t *r = k->reader;
    if (r && ((d->has_seq && (!r->have_durable || d->seq > r->durable_max)) || !r->synced)) {
        r->synced = 1;
        if (d->has_seq) {
            r->have_durable = 1;
            r->durable_max = d->seq;
        }
        if (r->wake)
            r->wake(r->data);
    }
    free(d);
    link_unref(k);
}

/* Tail's loop: tell the reader of a durable seq it was not told yet; the
 * first call (the end of the join's events) posts even without one. */
static void send_durable(rlink_t *k)
{
    uint64_t seq = 0;
    /* the proxy's tail (NULL once the tail is gone: k->l may be too) */
    int has = k->proxy && k->proxy->l && fl_live_durable_seq(k->proxy->l, &seq) == 0;
    if (k->synced_sent && (!has || (k->durable_sent && seq <= k->durable_seq)))
        return;
    rdurable_t *d = malloc(sizeof *d);
    if (!d)
        return; /* the next wake-up tries again */
    d->post.fn = rdurable_run;
    d->link = k;
    d->has_seq = has;
    d->seq = seq;
    k->synced_sent = 1;
    if (has) {
        k->durable_sent = 1;
        k->durable_seq = seq;
    }
    atomic_fetch_add(&k->refs, 1);
    fl_server_post(k->srv, k->reader_loop, &d->post);
}

static int send_event(rlink_t *k, const fl_live_event_t *ev)
{
    fl_slice_t b = ev->type == FL_LIVE_FRAGMENT ? ev->tracks : ev->bytes;
    revent_t *e = malloc(sizeof *e + b.n);
    if (!e)
        return FL_ENOMEM;
    e->post.fn = revent_run;
    e->link = k;
    e->ev = *ev;
    e->n = b.n;
    if (b.n)
        memcpy(e->bytes, b.p, b.n);
    if (ev->type == FL_LIVE_FRAGMENT)
        e->ev.tracks = fl_slice(e->bytes, b.n);
    else
        e->ev.bytes = fl_slice(e->bytes, b.n);
    k->queued += b.n;
    atomic_fetch_add(&k->refs, 1);
    atomic_fetch_add_explicit(&remote_events, 1, memory_order_relaxed);
    fl_server_post(k->srv, k->reader_loop, &e->post);
    return 0;
}

/* Tail's loop: move what the proxy can read to the reader, within the
 * budget. */
static void pump(rlink_t *k)
{
    fl_live_event_t ev;
    int drained = 0;
    while (k->proxy && k->queued < FL_LIVE_REMOTE_BUDGET) {
        fl_live_next(k->proxy, &ev);
        if (ev.type == FL_LIVE_NONE) {
            drained = 1;
            break;
        }
        if (send_event(k, &ev) != 0) {
            ev.type = FL_LIVE_CUT; /* out of memory: back to storage */
            if (send_event(k, &ev) != 0)
                return;
        }
        if (ev.type == FL_LIVE_CUT) {
            fl_live_leave(k->proxy);
            k->proxy = NULL;
        }
    }
    if (drained || k->synced_sent)
        send_durable(k); /* after the events before it; the first once all came */
}

/* Tail's loop: the reader asks to join. */
static void join_run(fl_post_t *p)
{
    rlink_t *k = (rlink_t *)((char *)p - offsetof(rlink_t, join_post));
    int rc = fl_live_join(k->l, k->seq, proxy_wake, k, &k->proxy);
    if (rc) {
        /* storage has it (or no memory): the reader resumes there */
        fl_live_event_t ev;
        memset(&ev, 0, sizeof ev);
        ev.type = FL_LIVE_CUT;
        ev.seq = k->seq;
        send_event(k, &ev);
        k->proxy = NULL;
        return;
    }
    pump(k); /* and the mark after the events (send_durable) */
}

/* Tail's loop: the reader left; so does the proxy. */
static void leave_run(fl_post_t *p)
{
    rlink_t *k = (rlink_t *)((char *)p - offsetof(rlink_t, leave_post));
    if (k->proxy)
        fl_live_leave(k->proxy);
    k->proxy = NULL;
    link_unref(k); /* the proxy side's */
}

static int remote_join(fl_live_t *l, uint64_t seq, void (*wake)(void *data), void *data,
                       fl_live_reader_t **out)
{
    fl_live_reader_t *r = calloc(1, sizeof *r);
    rlink_t *k = calloc(1, sizeof *k);
    if (!r || !k) {
        free(r);
        free(k);
        return FL_ENOMEM;
    }
    atomic_init(&k->refs, 2); /* reader side, proxy side */
    k->srv = l->srv;
    k->l = l;
    k->reader = r;
    k->reader_loop = fl_server_loop();
    k->tail_loop = l->loop;
    k->seq = seq;
    k->join_post.fn = join_run;
    k->pump_post.fn = pump_run;
    k->leave_post.fn = leave_run;
    r->link = k;
    r->want = seq;
    r->wake = wake;
    r->data = data;
    fl_server_post(l->srv, l->loop, &k->join_post);
    *out = r;
    return 0;
}

static void remote_next(fl_live_reader_t *r, fl_live_event_t *ev)
{
    rlink_t *k = r->link;
    if (r->cur) {
        size_t before = k->queued;
        k->queued -= r->cur->n;
        free(r->cur);
        r->cur = NULL;
        link_unref(k); /* the message's; k->reader keeps it alive */
        /* the proxy waited for room: let it go on */
        if (before >= FL_LIVE_REMOTE_BUDGET / 2 && k->queued < FL_LIVE_REMOTE_BUDGET / 2)
            pump_soon(k, k->tail_loop);
    }
    revent_t *e = r->q_head;
    if (!e) {
        memset(ev, 0, sizeof *ev);
        return;
    }
    r->q_head = e->next;
    if (!r->q_head)
        r->q_tail = NULL;
    r->cur = e;
    *ev = e->ev;
}

static void remote_leave(fl_live_reader_t *r)
{
    rlink_t *k = r->link;
    k->reader = NULL; /* events still in flight are dropped on arrival */
    revent_t *e = r->q_head;
    if (r->cur) {
        r->cur->next = e;
        e = r->cur;
    }
    while (e) {
        revent_t *n = e->next;
        k->queued -= e->n;
        free(e);
        link_unref(k);
        e = n;
    }
    fl_server_post(k->srv, k->tail_loop, &k->leave_post); /* carries the proxy side's ref */
    link_unref(k);                                        /* the reader side's */
    free(r);
}

int fl_live_new(const fl_live_opts_t *opts, fl_live_t **out)
{
    fl_live_t *l = calloc(1, sizeof *l);
    if (!l)
        return FL_ENOMEM;
    l->max_bytes = opts && opts->max_bytes ? opts->max_bytes : (size_t)64 << 20;
    l->srv = opts ? opts->srv : NULL;
    l->loop = opts ? opts->loop : 0;
    l->obs = opts ? opts->observers : NULL;
    fl_buf_init(&l->tracks, 1 << 20);
    *out = l;
    return 0;
}

void fl_live_free(fl_live_t *l)
{
    if (!l)
        return;
    if (elsewhere(l)) {
        if (post_op(l, OP_FREE, 0, 0, 0, 0, 0, fl_slice(NULL, 0)) == 0)
            return;
        /* no memory for the message: nothing better than freeing here */
    }
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
    if (elsewhere(l)) {
        post_op(l, OP_IDENTIFY, log_id, 0, 0, 0, 0, fl_slice(name, strlen(name) + 1));
        return;
    }
    snprintf(l->name, sizeof l->name, "%s", name);
    l->log_id = log_id;
}

int fl_live_session(fl_live_t *l, fl_slice_t tracks)
{
    if (elsewhere(l))
        return post_op(l, OP_SESSION, 0, 0, 0, 0, 0, tracks);
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
    if (elsewhere(l)) {
        post_op(l, OP_SESSION_END, 0, 0, 0, 0, 0, fl_slice(NULL, 0));
        return;
    }
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
    if (elsewhere(l))
        return post_op(l, OP_BEGIN, seq, 0, producer_ms, server_ns, 0, fl_slice(NULL, 0));
    return begin(l, seq, producer_ms, server_ns, NULL);
}

int fl_live_begin_shared(fl_live_t *l, uint64_t seq, int64_t producer_ms, int64_t server_ns,
                         fl_recbuf_t *rec)
{
    if (elsewhere(l)) /* the record may still move: frames are copied */
        return rec ? fl_live_begin(l, seq, producer_ms, server_ns) : FL_EINVAL;
    return rec ? begin(l, seq, producer_ms, server_ns, rec) : FL_EINVAL;
}

int fl_live_frame(fl_live_t *l, uint64_t track, int64_t pts_ms, int64_t duration_ms, int keyframe,
                  fl_slice_t bytes)
{
    if (elsewhere(l))
        return post_op(l, OP_FRAME, 0, track, pts_ms, duration_ms, keyframe, bytes);
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
    if (elsewhere(l)) {
        post_op(l, OP_END, 0, 0, 0, 0, ok, fl_slice(NULL, 0));
        return;
    }
    frag_t *f = l->tail;
    if (!f || f->state != FRAG_OPEN)
        return;
    f->state = ok ? FRAG_COMPLETE : FRAG_DROPPED;
    wake_all(l);
    trim(l);
}

void fl_live_lost(fl_live_t *l, uint64_t seq)
{
    if (elsewhere(l)) {
        post_op(l, OP_LOST, seq, 0, 0, 0, 0, fl_slice(NULL, 0));
        return;
    }
    for (frag_t *f = l->head; f; f = f->next)
        if (f->seq == seq && f->state == FRAG_COMPLETE && !f->durable)
            f->state = FRAG_DROPPED;
    trim(l);
    enforce_budget(l);
}

void fl_live_durable(fl_live_t *l, uint64_t seq)
{
    if (elsewhere(l)) {
        post_op(l, OP_DURABLE, seq, 0, 0, 0, 0, fl_slice(NULL, 0));
        return;
    }
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

int fl_live_reader_synced(const fl_live_reader_t *r)
{
    return !r->link || r->synced;
}

int fl_live_reader_durable_seq(const fl_live_reader_t *r, uint64_t *seq)
{
    if (r->link) {
        if (!r->have_durable)
            return FL_ENOTFOUND;
        *seq = r->durable_max;
        return 0;
    }
    return r->l ? fl_live_durable_seq(r->l, seq) : FL_ENOTFOUND;
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
    if (elsewhere(l))
        return remote_join(l, seq, wake, data, out);
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
    if (r->link) {
        remote_next(r, ev);
        return;
    }
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
    if (r->link) {
        remote_leave(r);
        return;
    }
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
