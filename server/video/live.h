/*
 * server/live.h — the in-memory live tail of a video stream.
 *
 * Live readers (GetMedia from NOW, later LL-HLS, WebRTC and hooks) must not
 * wait for a fragment to complete or persist (DESIGN.md, "Live tail"). The
 * ingest session feeds the tail frame by frame as the parser produces
 * frames; readers follow it. A reader that starts in the archive joins the
 * tail at the first fragment storage does not have yet, so the seam has no
 * gap and no duplicate.
 *
 * Contents: the fragments not yet durable (plus durable ones a reader is
 * still in), each with its frames' bytes, in sequence order; the current
 * session's Tracks element. A fragment leaves the tail once it is durable
 * (or dropped) and no reader is inside it. Readers hold a position
 * (fragment, frame index); a reader that falls more than max_bytes behind
 * is cut loose (it resumes from the archive).
 *
 * Threads: the tail belongs to one event loop (opts.loop) and is touched
 * only on that loop's thread. The tail never blocks and copies a frame
 * at most once (not at all when the fragment's frames are in its shared
 * record, fl_live_begin_shared); readers are told "there is more" through
 * their wake hook and pull events with fl_live_next().
 *
 * Other loops (--loops N, opts.srv set) use the same calls: a producer-side
 * call made on another loop is posted to the tail's loop with a copy of
 * the frame's bytes (a shared record may still move); a reader joined from
 * another loop is a remote reader: a proxy reader on the tail's loop pulls
 * events and posts each (bytes copied) to the reader's loop, where
 * fl_live_next hands them out in order; the reader's wake hook runs there.
 * No lock: only the inboxes of fl_server_post. A remote reader more than
 * FL_LIVE_REMOTE_BUDGET bytes behind stops the proxy, which then falls
 * behind in the tail and is cut loose like a local reader (FL_LIVE_CUT).
 *
 * Invariants (checked by fl_live_check in debug builds):
 *   fragments are in increasing seq; at most the last one is open;
 *   every reader's fragment is in the list; bytes = sum of frame bytes.
 */
#ifndef FL_SERVER_LIVE_H
#define FL_SERVER_LIVE_H

#include <stddef.h>
#include <stdint.h>

#include "common/bytes.h"
#include "server/video/recbuf.h"

typedef struct fl_live fl_live_t;
typedef struct fl_live_reader fl_live_reader_t;

struct fl_server;

/* An observer of every live tail: what the producer side feeds, as it is
 * fed, on the tail's loop (the features that process media in-process —
 * hooks — register one through fl_hub_observe; video knows none of them).
 * A tail calls it once per event whichever loop the producer is on; with
 * several loops, tails of different loops call it at the same time.
 * An observer must not block and must not call back into the tail. Every
 * callback may be NULL. `stream` is the stream's name, `log_id` its
 * incarnation (fragment numbers are fl_fragment_number(log_id, seq)). */
typedef struct {
    /* A producer's session began (its Tracks element); a session still
     * open on the tail ended first. */
    void (*session)(void *data, const char *stream, uint64_t log_id, fl_slice_t tracks);
    /* The session ended (the producer left, or the tail goes). */
    void (*session_end)(void *data, const char *stream);
    /* A frame of fragment seq, as the tail receives it. When rec is not
     * NULL, bytes lie inside rec (the fragment's shared record): take a
     * reference (fl_recbuf_ref) and fl_recbuf_pin it to read them on
     * another thread later; otherwise copy them during the call. */
    void (*frame)(void *data, const char *stream, uint64_t log_id, uint64_t seq,
                  int64_t fragment_ms, int64_t server_ns, uint64_t track, int64_t pts_ms,
                  int64_t duration_ms, int keyframe, fl_slice_t bytes, fl_recbuf_t *rec);
    /* Fragment seq is durable (bytes: its frames'). */
    void (*durable)(void *data, const char *stream, uint64_t log_id, uint64_t seq,
                    int64_t producer_ms, int64_t server_ns, uint64_t bytes, uint32_t frames);
} fl_live_observer_t;

#define FL_LIVE_MAX_OBSERVERS 4

/* The observers every tail of a hub calls (hub.h owns the list). */
typedef struct {
    const fl_live_observer_t *obs[FL_LIVE_MAX_OBSERVERS];
    void *data[FL_LIVE_MAX_OBSERVERS];
    int n;
} fl_live_observers_t;

typedef struct {
    size_t max_bytes;                     /* frame bytes kept per stream; 0: 64 MiB */
    const fl_live_observers_t *observers; /* NULL: none; must outlive the tail */
    struct fl_server *srv;                /* NULL: one thread, no posting */
    int loop;                             /* the loop the tail belongs to */
} fl_live_opts_t;

/* Bytes posted to a remote reader and not yet handed out, before its
 * proxy waits. */
#define FL_LIVE_REMOTE_BUDGET (4u << 20)

int fl_live_new(const fl_live_opts_t *opts, fl_live_t **out);
/* Readers still joined are cut loose (their wake hook is called). From
 * another loop, the free is posted to the tail's. */
void fl_live_free(fl_live_t *l);

/* ---- the producer side (ingest hooks) ---- */

/* Which stream the tail is of, for its observers (name copied; log_id:
 * the incarnation the fragment numbers are of). */
void fl_live_identify(fl_live_t *l, const char *name, uint64_t log_id);

/* A new session's Tracks element (copied). */
int fl_live_session(fl_live_t *l, fl_slice_t tracks);
/* The producer's session ended (observers hear of it; readers do not). */
void fl_live_session_end(fl_live_t *l);
/* A fragment starts with sequence seq (its fragment number's). */
int fl_live_begin(fl_live_t *l, uint64_t seq, int64_t producer_ms, int64_t server_ns);
/* The same, for a fragment whose frames are already in rec, the record the
 * ingest session builds (server/recbuf.h): the tail holds a reference
 * until the fragment leaves it, and copies no frame. */
int fl_live_begin_shared(fl_live_t *l, uint64_t seq, int64_t producer_ms, int64_t server_ns,
                         fl_recbuf_t *rec);
/* A frame of the open fragment: bytes copied, or, for a shared fragment,
 * kept where they are (they must lie inside its record: FL_EINVAL
 * otherwise). */
int fl_live_frame(fl_live_t *l, uint64_t track, int64_t pts_ms, int64_t duration_ms, int keyframe,
                  fl_slice_t bytes);
/* The open fragment is complete (ok) or was dropped (cut off, refused). */
void fl_live_end(fl_live_t *l, int ok);
/* Storage made fragment seq durable: the tail may let it go. Readers are
 * woken (the PERSISTED event: LIVE playlists wait for it). */
void fl_live_durable(fl_live_t *l, uint64_t seq);
/* The highest sequence number storage made durable while this tail
 * existed: 0, or FL_ENOTFOUND before the first. */
int fl_live_durable_seq(const fl_live_t *l, uint64_t *seq);
/* The same, as reader r knows it: the tail's own (a reader on the tail's
 * loop), or for a remote reader what its proxy last posted (the proxy
 * posts each new durable seq after the events before it, and r's wake
 * hook runs, as a local reader's does on fl_live_durable). */
int fl_live_reader_durable_seq(const fl_live_reader_t *r, uint64_t *seq);
/* Has reader r been handed (queued for fl_live_next) every event the tail
 * held for it when it joined? Always for a reader on the tail's loop; a
 * remote reader's come posted, and a mark after them sets this (its wake
 * hook runs). Until then what r has seen may be part of a fragment the
 * tail has whole. */
int fl_live_reader_synced(const fl_live_reader_t *r);
/* Storage failed to keep fragment seq: it will never be durable; it counts
 * as dropped from now on, so the tail can let it go. */
void fl_live_lost(fl_live_t *l, uint64_t seq);

/* ---- the reader side ---- */

typedef enum {
    FL_LIVE_NONE = 0, /* nothing new yet: wait for the wake hook */
    FL_LIVE_FRAGMENT, /* a fragment starts: seq, producer_ms, tracks */
    FL_LIVE_FRAME,    /* a frame of it */
    FL_LIVE_END,      /* it is complete: seq, server_ns */
    FL_LIVE_DROPPED,  /* it will never be complete (producer cut off) */
    FL_LIVE_CUT,      /* the reader fell behind and was cut loose: resume at seq from storage */
} fl_live_event_type_t;

typedef struct {
    fl_live_event_type_t type;
    uint64_t seq;
    int64_t producer_ms;
    int64_t server_ns;
    fl_slice_t tracks; /* FL_LIVE_FRAGMENT: the Tracks element of its session */
    uint64_t track;    /* FL_LIVE_FRAME */
    int64_t pts_ms;
    int64_t duration_ms;
    int keyframe;
    fl_slice_t bytes; /* valid until the next fl_live_next call on this reader */
} fl_live_event_t;

/* Join at fragment seq (the first one the reader still needs): the reader
 * starts at the first fragment numbered seq or later that was not dropped,
 * or waits for one. Returns 0, or FL_ENOTFOUND when a complete fragment
 * numbered seq or later already left the tail (storage has it: read it
 * there). wake(data) is called when new events wait. */
int fl_live_join(fl_live_t *l, uint64_t seq, void (*wake)(void *data), void *data,
                 fl_live_reader_t **out);
/* The next event for the reader. */
void fl_live_next(fl_live_reader_t *r, fl_live_event_t *ev);
void fl_live_leave(fl_live_reader_t *r);

/* Events posted to readers on another loop than their tail's, and
 * producer calls posted to a tail on another loop, in this process (for
 * /metrics). */
uint64_t fl_live_remote_events(void);
uint64_t fl_live_remote_ops(void);

/* For /metrics and tests. */
size_t fl_live_bytes(const fl_live_t *l);
size_t fl_live_fragments(const fl_live_t *l);
size_t fl_live_readers(const fl_live_t *l);
/* The invariants above; 0 or FL_ESTATE. */
int fl_live_check(const fl_live_t *l);

#endif
