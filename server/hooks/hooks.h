/*
 * server/hooks/hooks.h — the analytics hooks room: framelogd loads
 * `--hook PATH.so[,key=value...]` plugins (framelog/hook.h, the public
 * interface; docs/hooks.md) and feeds each from the live tails and the
 * data streams, on its own thread, behind a bounded queue.
 *
 *   hooks.c   the module: loads the hooks at start, registers the
 *             observers (video's live tails, core's data records), stops
 *             them at the end, their metrics
 *   load.c    one --hook: the flag's text, dlopen, the version check, init
 *   feed.c    the observers: events built once on the thread that saw them
 *             and shared by every hook's queue
 *   hook.c    one hook's queue and thread: dispatch, decoded frames
 *   host.c    the host table a hook calls (records, log, counters, ...)
 *
 * Shared by the files of server/hooks/ only.
 */
#ifndef FL_SERVER_HOOKS_HOOKS_H
#define FL_SERVER_HOOKS_HOOKS_H

#include <framelog/hook.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "media/av.h"
#include "server/core/config.h"
#include "server/core/module.h"
#include "server/video/live.h"
#include "server/video/recbuf.h"
#include "server/video/validate.h"
#include "storage/log.h"

extern const fl_module_t fl_hooks_module;

/* Limits, named here only. */
#define FL_HOOKS_MAX          16         /* --hook flags (config's list holds as many) */
#define FL_HOOK_QUEUE         1024       /* events queued per hook */
#define FL_HOOK_QUEUE_FRAMES  768        /* of which frames and records (the rest: control) */
#define FL_HOOK_QUEUE_BYTES   (64 << 20) /* frame bytes a hook's queue pins */
#define FL_HOOK_BATCH         16         /* events a hook's thread takes at once */
#define FL_HOOK_NAP_NS        2000000L   /* a busy hook's wait for a batch to fill */
#define FL_HOOK_MAX_COUNTERS  16         /* a hook's own counters */
#define FL_HOOK_COUNTER_NAME  48
#define FL_HOOK_MAX_LOGS      8          /* data streams a hook writes to, handles kept open */
#define FL_HOOK_MAX_DECODERS  16         /* video tracks a hook decodes at once */
#define FL_HOOK_RECORD_MAX    (1u << 20) /* a record's data (Kinesis Data Streams' limit) */
#define FL_HOOK_KEY_MAX       256u
#define FL_HOOK_DATA_NAME_MAX 128          /* a data stream's name */
#define FL_HOOK_DROP_LOG_NS   1000000000LL /* drops are logged at most this often */

/* A producer's session on a stream: its tracks, as hooks see them.
 * Made on the loop thread, immutable after, shared by the events that
 * name it (counted). */
typedef struct {
    atomic_uint refs;
    char name[FL_STREAM_NAME_MAX + 1];
    uint64_t log_id;
    flh_track_t *tracks; /* their strings and bytes are in store */
    fl_mkv_track_t *mkv; /* the same tracks as media/ wants them (decoders) */
    size_t n_tracks;
    uint8_t *store;
} hk_stream_t;

typedef enum { HK_STARTED = 1, HK_STOPPED, HK_FRAME, HK_PERSISTED, HK_RECORD } hk_ev_type_t;

/* One event, built once and shared by every hook that gets it (counted:
 * each queue holds a reference, and so does each frame_hold). */
typedef struct {
    atomic_uint refs;
    hk_ev_type_t type;
    hk_stream_t *st; /* STARTED, STOPPED, FRAME (held) */
    /* FRAME */
    uint64_t seq; /* fragment */
    int64_t fragment_ms, server_ns;
    uint64_t track;
    int64_t pts_ms, duration_ms;
    int keyframe;
    int video;        /* of a video track */
    fl_recbuf_t *rec; /* where bytes are (held, pinned), or NULL: own */
    fl_slice_t bytes;
    /* PERSISTED (and RECORD's stream) */
    char stream[FL_STREAM_NAME_MAX + 1];
    char number[48];
    int64_t persisted_ns;
    uint64_t frag_bytes;
    uint32_t frames;
    /* RECORD */
    pthread_t origin; /* the thread that appended it (a hook does not get its own) */
    int from_hook;
    uint32_t shard;
    uint64_t rseq;
    int64_t producer_ns;
    fl_slice_t key, data; /* in own */
    uint8_t own[];        /* copied bytes, when any */
} hk_ev_t;

hk_ev_t *hk_ev_new(hk_ev_type_t type, size_t own);
void hk_ev_ref(hk_ev_t *ev);
void hk_ev_unref(hk_ev_t *ev);
void hk_stream_unref(hk_stream_t *st);

/* A video track being decoded for a hook (its thread only). */
typedef struct {
    hk_stream_t *st; /* held */
    uint64_t track;
    fl_av_decoder_t *d; /* NULL: this track cannot be decoded */
    int need_key;
    int64_t last_ms; /* the last picture handed out (rate limit) */
    int have_last;
    struct {
        int64_t pts, server_ns;
        uint64_t seq;
    } recent[64]; /* what a picture's pts was sent with */
    unsigned recent_i;
} hk_decoder_t;

typedef struct fl_hooks fl_hooks_t;

/* One loaded hook; the plugin's flh_ctx_t. */
struct flh_ctx {
    fl_hooks_t *hs;
    char *arg; /* the --hook text (for messages) */
    char *path;
    flh_kv_t kv[32];
    size_t n_kv;
    void *dl;
    const flh_plugin_t *pl;
    void *self;
    int inited;

    pthread_t thread;
    int thread_on;
    /* guards everything below up to the metrics */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    hk_ev_t *ring[FL_HOOK_QUEUE];
    size_t head, count;
    size_t frames_q; /* frames and records queued */
    size_t bytes_q;  /* their bytes */
    int stopping;
    int waiting; /* the hook's thread waits on cv: 1 napping, 2 idle */
    int busy;    /* it took events last time (the next wait is a nap) */
    uint64_t drops_unlogged;
    int64_t last_drop_log_ns;
    flh_decode_req_t req; /* when want_decoded */
    char counter_names[FL_HOOK_MAX_COUNTERS][FL_HOOK_COUNTER_NAME + 1];
    uint64_t counter_values[FL_HOOK_MAX_COUNTERS];
    int n_counters;

    /* read without the lock by the feeding threads */
    atomic_int want_decoded;
    atomic_int stop_flag; /* stopping, for the hook's thread between batches */
    atomic_int decode_key_only;
    /* metrics */
    atomic_uint_fast64_t dropped, delivered, decoded, holds;

    /* guards logs; a hook's record() holds it while other hooks' mu are
     * taken (their queues), so it is always taken before any mu, never
     * after */
    pthread_mutex_t logs_mu;

    /* the hook's thread only */
    uint64_t dropped_seen;
    hk_decoder_t dec[FL_HOOK_MAX_DECODERS];
    size_t n_dec;
    struct {
        char name[FL_HOOK_DATA_NAME_MAX + 1];
        fl_log_t *log;
    } logs[FL_HOOK_MAX_LOGS];
    size_t n_logs;
    uint64_t num_log_id, num_seq; /* the fragment number last formatted */
    char number[48];
};
typedef struct flh_ctx hk_hook_t;

struct fl_hooks {
    struct fl_server *srv;
    hk_hook_t *hooks[FL_HOOKS_MAX];
    int n;
    /* the sessions open now, by stream (feed.c), a list per event loop:
     * a tail calls its observers on its own loop (live.h), so each list
     * is touched by its loop's thread only */
    struct hk_session {
        struct hk_session *next;
        const char *key; /* the tail's name pointer (stable while the tail lives) */
        hk_stream_t *st;
    } * sessions[FL_CONFIG_MAX_LOOPS];
    int observing; /* the observers are registered */
};

/* load.c: one --hook argument loaded and inited, or a one-line reason. */
int hk_load(fl_hooks_t *hs, const char *arg, hk_hook_t **out, char *err, size_t errlen);
/* Unload (after hk_hook_stop; or a hook that failed to load). */
void hk_unload(hk_hook_t *h);

/* hook.c */
int hk_hook_start(hk_hook_t *h);
/* Queue ev for h (any thread; never waits for the hook). */
void hk_hook_push(hk_hook_t *h, hk_ev_t *ev);
/* No more events; its stop callback runs once what is queued is done
 * (frames still queued are dropped, not delivered). */
void hk_hook_stop_begin(hk_hook_t *h);
void hk_hook_stop_wait(hk_hook_t *h);
/* The event behind a frame the plugin was given (frame_hold). */
hk_ev_t *hk_frame_event(const flh_frame_t *f);
/* Does h take frame ev (its callbacks and decode request)? */
int hk_hook_wants_frame(hk_hook_t *h, int keyframe, int video);

/* host.c */
extern const flh_host_t hk_host;
/* Close what the host opened for h (its data streams' handles). */
void hk_host_close(hk_hook_t *h);

/* feed.c */
int hk_feed_start(fl_hooks_t *hs);
/* The live-tail observer hk_feed_start registers, its data an fl_hooks_t
 * (bench/bench_hooks drives it directly). */
const fl_live_observer_t *hk_feed_observer(void);
void hk_feed_stop(fl_hooks_t *hs);

#endif
