/*
 * server/playback/playback.h — the playback room: HLS sessions over the
 * stored fragments, shared by the files of server/playback/ only.
 *
 *   playback.c  the module: its state (the playback key), routes
 *   token.c     session tokens (token.h)
 *   session.c   GetHLSStreamingSessionURL (`POST /getHLSStreamingSessionURL`)
 *   hls.c       the session's paths under /hls/v1/: playlists and segments
 *   media.c     a stored fragment as tracks and frames, its codec strings,
 *               its remux to fMP4 / MPEG-TS (media/av.h), and LL-HLS parts
 *   fields.c    request fields all of the room's calls read alike
 *   clip.c      GetClip (`POST /getClip`): one MP4, streamed as it is made
 *   images.c    GetImages (`POST /getImages`): JPEG/PNG samples, NextToken
 *   dash.c      GetDASHStreamingSessionURL, and the session's MPD and
 *               one-track fMP4 segments under /dash/v1/
 *   llhls.c     LL-HLS: following a stream's live tail, parked requests
 *               (blocking reloads, parts not complete yet)
 *   cache.c     remuxed segments and parts, made once (single-flight)
 *
 * Every storage read and every remux runs on the worker pool
 * (fl_http_async_or_busy); the loop only checks tokens, follows live
 * tails, parks requests and answers.
 */
#ifndef FL_SERVER_PLAYBACK_PLAYBACK_H
#define FL_SERVER_PLAYBACK_PLAYBACK_H

#include <stdatomic.h>
#include <stdint.h>

#include "common/bytes.h"
#include "media/av.h"
#include "media/mkv.h"
#include "server/core/config.h"
#include "server/core/http.h"
#include "server/core/module.h"
#include "server/playback/token.h"
#include "server/video/stream_ref.h"
#include "server/video/video.h"
#include "storage/log.h"

typedef struct fl_pb_cache fl_pb_cache_t;
/* A cached segment's bytes, held by the cache and the responses sending
 * them (cache.c). */
typedef struct fl_pb_blob fl_pb_blob_t;
typedef struct fl_pb_follow fl_pb_follow_t;

#define FL_PB_EDGE_SLOTS 1024
/* A LIVE list is made again at least this often whatever the events say
 * (a bound on its age should a fragment ever reach storage past the live
 * tail), in seconds of the wall clock. */
#define FL_PB_LIST_MAX_AGE_S 1

/* The module's state. Shared by the loops (--loops): key is read-only
 * after init and the counters are atomic; the segment cache and the
 * LL-HLS followers are per loop (each touched by its loop's thread only:
 * a request parks on, and is answered from, its own loop's), so a
 * stream followed from two loops has a follower on each (one on another
 * loop than the tail's reads it as a remote reader, live.h). */
typedef struct fl_playback {
    struct fl_server *srv;
    fl_video_t *video;
    uint8_t key[FL_PB_KEY_BYTES];
    /* counters for /metrics (every loop bumps them) */
    _Atomic uint64_t sessions;       /* session URLs handed out */
    _Atomic uint64_t token_refusals; /* requests with a forged, altered or expired token */
    _Atomic uint64_t playlists;      /* playlists served */
    _Atomic uint64_t segments;       /* init and media segments served */
    _Atomic uint64_t segment_bytes;  /* their bytes */
    _Atomic uint64_t remux_failures; /* segments that could not be made */
    _Atomic uint64_t clips;          /* GetClip responses started */
    _Atomic uint64_t clip_bytes;     /* their bytes written */
    _Atomic uint64_t clip_failures;  /* clips cut short by a fragment that failed to remux */
    _Atomic uint64_t images;         /* GetImages samples answered with an image */
    _Atomic uint64_t image_errors;   /* and with NO_MEDIA or MEDIA_ERROR */
    _Atomic uint64_t remuxes;        /* segments and parts remuxed (cache misses made) */
    int n_loops;
    fl_pb_cache_t *caches[FL_CONFIG_MAX_LOOPS];       /* remuxed segments (cache.c), by loop */
    fl_pb_follow_t *follows[FL_CONFIG_MAX_LOOPS];     /* streams whose live tail LL-HLS follows
                                                         (llhls.c), by loop */
    fl_pb_token_cache_t *tokens[FL_CONFIG_MAX_LOOPS]; /* checked session tokens (token.h),
                                                         by loop, made at first use */
    struct fl_pb_hls_loop *hls[FL_CONFIG_MAX_LOOPS];  /* what hls.c keeps of LIVE playlists,
                                                         by loop, made at first use */
    _Atomic size_t n_follows;
    _Atomic size_t n_waiting; /* requests parked now (blocked reloads, parts, cache joins) */
    _Atomic uint64_t blocked_reloads; /* playlist requests that waited (_HLS_msn) */
    _Atomic uint64_t waits_refused;   /* parked requests refused past FL_PB_MAX_WAITERS */
    _Atomic uint64_t waits_timed_out; /* blocked requests answered 503 at their deadline */
    _Atomic uint64_t held_reloads;    /* plain LIVE reloads held for the next segment */
    _Atomic uint64_t parts_from_tail; /* parts made from the live tail (not yet durable) */
    _Atomic uint64_t texts_reused;    /* LIVE playlists answered with the loop's last text */
    _Atomic uint64_t lists_read_on;   /* LIVE lists read on from the stream's last (hls.c) */
    /* LIVE lists (FL_PB_LIST): a stream's edge generation, bumped by every
     * PERSISTED event of its live tail (an observer, on the tail's loop),
     * in the slot of its log id (streams that share a slot only make
     * each other's lists again sooner) */
    _Atomic uint64_t edge_gen[FL_PB_EDGE_SLOTS];
} fl_playback_t;

extern const fl_module_t fl_playback_module;

/* Routes (session.c, hls.c). */
void fl_pb_get_hls_session_url(fl_http_req_t *r);
void fl_pb_hls_master(fl_http_req_t *r);
void fl_pb_hls_media(fl_http_req_t *r);
void fl_pb_hls_init(fl_http_req_t *r);
void fl_pb_hls_mp4_fragment(fl_http_req_t *r);
void fl_pb_hls_ts_fragment(fl_http_req_t *r);
void fl_pb_hls_other(fl_http_req_t *r);
void fl_pb_hls_loops_free(fl_playback_t *pb); /* (hls.c: pb->hls) */
void fl_pb_get_clip(fl_http_req_t *r);        /* clip.c */
/* The session of a request on a session's path (session.c): its
 * SessionToken checked (authentic, not expired; a DASH session's when
 * dash) into s and token (cap bytes), and its stream reached with the
 * session's key and the path's action, of the token's incarnation. 0
 * with ref held (put it), or -1 after answering the error (403 for the
 * token, the stream's error, 404 for a deleted stream). */
int fl_pb_session_open(fl_http_req_t *r, const char *action, int64_t now_ms, int dash,
                       fl_pb_session_t *s, char *token, size_t cap, fl_stream_ref_t *ref);
void fl_pb_get_images(fl_http_req_t *r);           /* images.c */
void fl_pb_get_dash_session_url(fl_http_req_t *r); /* dash.c */
void fl_pb_dash_manifest(fl_http_req_t *r);
void fl_pb_dash_init(fl_http_req_t *r);
void fl_pb_dash_media(fl_http_req_t *r);
void fl_pb_dash_other(fl_http_req_t *r);

/* ---- request fields (fields.c; loop thread) ---- */

/* An optional string member of obj that must be one of names (NULL-ended):
 * its index, dflt when absent or null, or -1 after answering the 400. */
int fl_pb_enum_field(fl_http_req_t *r, const fl_json_t *obj, const char *field,
                     const char *const *names, int dflt);
/* An optional integer member of the body in [lo, hi]: 0 with *out (dflt
 * when absent or null), or -1 after answering the 400. */
int fl_pb_int_field(fl_http_req_t *r, const char *field, int64_t lo, int64_t hi, int64_t dflt,
                    int64_t *out);
/* A timestamp member of obj (epoch seconds, exact): 1 with *ns, 0 when
 * absent or null, -1 after answering the 400. */
int fl_pb_ts_field(fl_http_req_t *r, const fl_json_t *obj, const char *field, int64_t *ns);
/* An optional object member of obj: it, or NULL when absent or null (*bad
 * 0), or NULL with *bad 1 after answering the 400 (another type). */
const fl_json_t *fl_pb_object_field(fl_http_req_t *r, const fl_json_t *obj, const char *field,
                                    int *bad);
/* The stream the body names (StreamName or StreamARN), reached through its
 * reference with the access check for action: 0 with ref held (put it),
 * or -1 after answering the error. */
int fl_pb_stream_of(fl_http_req_t *r, const char *action, fl_stream_ref_t *ref);
/* What HLS and DASH session calls share, into s: PlaybackMode, the
 * selector object named selector_field (FragmentSelectorType,
 * TimestampRange with the rules of each mode), Expires (issued and expiry
 * times) and the fragment cap named max_field. 0, or -1 after the 400. */
#define FL_PB_ON_DEMAND_MAX_NS (24LL * 3600 * 1000000000) /* AWS: a range of at most 24 h */
int fl_pb_session_fields(fl_http_req_t *r, const char *selector_field, const char *max_field,
                         fl_pb_session_t *s);
/* Hand out a session URL (session.c): on a worker, the session's first
 * fragment must be playable (H.264/H.265 video with codec private data;
 * for LIVE at most 30 s old); then `{"<field>": "<base><path>?SessionToken=
 * <token>"}`, the token being s (its stream fields filled from the stream
 * the body names, reached with action). Responds in every case. */
void fl_pb_session_url(fl_http_req_t *r, const fl_pb_session_t *s, const char *action,
                       const char *path, const char *field);
/* The value of query argument name ("SessionToken") into buf, NUL-ended:
 * 0, -1 when absent, -2 when longer than cap - 1 (or than any token). An
 * argument too long for buf does not hide the ones after it (as
 * lws_get_urlarg_by_name's would). */
int fl_pb_query_arg(struct lws *wsi, const char *name, char *buf, size_t cap);

/* ---- GetImages' page tokens (images.c) ---- */

/* A GetImages request, as its NextToken names it. */
typedef struct {
    fl_pb_selector_t selector;
    fl_av_image_t format;
    int quality;            /* JPEGQuality 1..100; 0 for PNG */
    unsigned width, height; /* 0: the source's (height alone: aspect kept) */
    uint32_t interval_ms;
    int64_t incarnation_ms;
    int64_t start_ns, end_ns;
    int64_t next_ns; /* the first sample of the page asked for */
    char name[FL_STREAM_NAME_MAX + 1];
} fl_pb_images_req_t;

/* The NextToken that continues request q at sample next_ns, sealed under
 * key (the server's token key, kind FL_TOKEN_IMAGES_PAGE) and written to
 * out as base64 with padding. 0 or an FL_E* code. */
int fl_pb_images_token_seal(const uint8_t *key, const fl_pb_images_req_t *q, int64_t next_ns,
                            int64_t now_ms, fl_buf_t *out);
/* Check and read a NextToken: 0 with *q (next_ns unset) and *next_ns;
 * FL_EMALFORMED (not ours, altered, or fields out of bounds), FL_EEXPIRED. */
int fl_pb_images_token_open(const uint8_t *key, fl_slice_t text, int64_t now_ms,
                            fl_pb_images_req_t *q, int64_t *next_ns);

/* ---- stored fragments as media (media.c; worker threads) ---- */

#define FL_PB_MAX_TRACKS 4

/* A fragment opened for playback: its playable tracks (H.264/H.265 video,
 * AAC audio; strings copied) and their frames (bytes copied), timestamps
 * moved by shift_ns. */
typedef struct {
    fl_mkv_track_t tracks[FL_PB_MAX_TRACKS];
    size_t n_tracks;
    fl_buf_t strs[FL_PB_MAX_TRACKS][2]; /* codec id, codec private */
    fl_av_frame_t *frames;
    size_t n_frames, cap;
    fl_buf_t data; /* the frames' bytes */
    size_t *offs;  /* frame i's bytes start at data.p + offs[i] */
    int n_video;   /* video frames */
    int skipped;   /* tracks of other codecs, dropped */
    uint32_t duration_ms;
} fl_pb_media_t;

/* Open a stored fragment record. FL_EMALFORMED when the record or its
 * Matroska is damaged. Free with fl_pb_media_free (also after a failure). */
int fl_pb_media_open(fl_slice_t record, int64_t shift_ns, int want_frames, fl_pb_media_t *m);
void fl_pb_media_free(fl_pb_media_t *m);

/* What a master playlist says of the media: CODECS, RESOLUTION. Returns 0,
 * or -1 with the AWS error in err (UnsupportedStreamMediaTypeException,
 * MissingCodecPrivateDataException, InvalidCodecPrivateDataException). */
typedef struct {
    char codecs[128];
    unsigned width, height;
    double frame_rate; /* 0: unknown */
} fl_pb_codecs_t;
int fl_pb_media_codecs(const fl_pb_media_t *m, fl_pb_codecs_t *out, fl_api_error_t *err);

/* ---- which fragments a session plays (select.c; worker threads) ---- */

/* One fragment of a playlist. */
typedef struct {
    uint64_t seq;
    int64_t ts_ns; /* the session's timestamp of it (server or producer) */
    int64_t producer_ns, server_ns;
    uint32_t duration_ms;
    size_t bytes;
    uint64_t tracks_hash; /* of its Tracks element: a change is a new session */
} fl_pb_entry_t;

/* How many fragments a session's playlist lists at most: its
 * MaxMediaPlaylistFragmentResults, or AWS's default of 5. */
unsigned fl_pb_list_max(const fl_pb_session_t *s);
/* The fragments a playlist of session s lists at now_ms, oldest first, at
 * most s->max_fragments (v is malloc'd; free it). *ended: the session's
 * range is complete (ON_DEMAND always; LIVE_REPLAY once past its end).
 * 0, or an FL_E* code from storage. */
int fl_pb_select(fl_log_t *log, const fl_pb_session_t *s, int64_t now_ms, fl_pb_entry_t **v,
                 size_t *n, int *ended);
/* A LIVE session's list as fl_pb_select gives it, from an earlier one of
 * the same stream, window and selector (prev, n_prev >= 1, oldest first):
 * only the fragments after prev's newest are read, when prev reaches into
 * the newest ones (else all are, as fl_pb_select does). Stored fragments
 * never change, so prev's entries stand. 0, FL_EINVAL (not LIVE, no prev),
 * or an FL_E* code from storage. */
int fl_pb_select_after(fl_log_t *log, const fl_pb_session_t *s, const fl_pb_entry_t *prev,
                       size_t n_prev, fl_pb_entry_t **v, size_t *n);
/* The fragment a session describes itself by (master playlist, the init
 * segment without FragmentNumber, the session URL's checks): the first of
 * its range, or for LIVE the newest (0 when none is newer than
 * live_window_ms). Its record into *rec (pointing into batch). 0,
 * FL_ENOTFOUND, or an FL_E* code. */
int fl_pb_first(fl_log_t *log, const fl_pb_session_t *s, int64_t now_ms, int64_t live_window_ms,
                fl_log_batch_t *batch, const fl_log_record_t **rec);
/* Fragment seq's record: 0, FL_ENOTFOUND, FL_EEXPIRED or an FL_E* code. */
int fl_pb_read_seq(fl_log_t *log, uint64_t seq, fl_log_batch_t *batch, const fl_log_record_t **rec);
/* The timestamp a session sees of a record, and the shift from the stored
 * (producer) times to it. */
int64_t fl_pb_ts(const fl_pb_session_t *s, const fl_log_record_t *rec);
int64_t fl_pb_shift(const fl_pb_session_t *s, const fl_log_record_t *rec);
/* Is the record inside the session's range? */
int fl_pb_in_range(const fl_pb_session_t *s, const fl_log_record_t *rec);

/* Remux: the fMP4 init segment, one fMP4 media segment, or one MPEG-TS
 * segment of the fragment, appended to out. 0 or an FL_E* code. */
int fl_pb_media_init(const fl_pb_media_t *m, fl_buf_t *out);
int fl_pb_media_fmp4(const fl_pb_media_t *m, fl_buf_t *out);
int fl_pb_media_ts(const fl_pb_media_t *m, fl_buf_t *out);

/* A media of a Tracks element only (no frames yet), to which frames are
 * added as the live tail gives them: kept tracks only, each with its
 * track's DefaultDuration, which is what the parser gives for a stored
 * SimpleBlock, so the frames equal those fl_pb_media_open reads back from
 * the stored record. Seal before using the frames. */
int fl_pb_media_tracks(fl_slice_t tracks, fl_pb_media_t *m);
int fl_pb_media_add(fl_pb_media_t *m, uint64_t track, int64_t pts_ns, int keyframe,
                    fl_slice_t data);
void fl_pb_media_seal(fl_pb_media_t *m);
int fl_pb_kept(const fl_pb_media_t *m, uint64_t track);
int64_t fl_pb_track_duration(const fl_pb_media_t *m, uint64_t track);
/* The track parts are cut by: the first video track (else the first). */
uint64_t fl_pb_clock_track(const fl_pb_media_t *m);

/* ---- LL-HLS parts (media.c; any thread) ----
 *
 * A fragment is cut into parts at frame boundaries by one rule that sees
 * only the frames (in stored order) up to the cut, so the live tail and
 * the archive cut alike: part 0 starts at the first frame; a new part
 * starts before a frame of the clock track that moves the picture on (its
 * time is past every earlier one's: not a B-frame) when the part would
 * outgrow FL_PB_PART_TARGET_MS with it (its duration guessed as the
 * smallest step between consecutive clock frames so far; 1 ms of slack
 * for millisecond times), at most FL_PB_MAX_PARTS parts; never before the
 * third clock frame nor once the fragment showed a B-frame (such a stream
 * gets one part per fragment). A part is remuxed alone (its own fMP4
 * moof+mdat, tfdt its first decode time); a LIVE session's fMP4 segment is
 * its parts' bytes one after the other, so parts concatenate to it. */
#define FL_PB_PART_TARGET_MS 200
#define FL_PB_MAX_PARTS      128

typedef struct {
    uint32_t duration_ms;
    int independent; /* starts with a key frame of the clock track */
    int complete;    /* no frame will join it */
} fl_pb_part_t;

/* The first frame index of each part (starts has FL_PB_MAX_PARTS room)
 * and, when from_ns is not NULL, when each is presented from (decided at
 * the cut: the cut frame's time, or with B-frames after it in decode order
 * the step after the previous part's last); returns how many parts. */
size_t fl_pb_part_starts(const fl_av_frame_t *f, size_t n, uint64_t clock, size_t *starts,
                         int64_t *from_ns);
/* Each part's duration (from when it is presented, from_ns, part 0 from
 * first_ns, the fragment's first frame, to when the next one is, or for
 * the last one to end_ns once the fragment ended), independence and
 * completeness. */
void fl_pb_part_info(const fl_av_frame_t *f, size_t n, uint64_t clock, const size_t *starts,
                     const int64_t *from_ns, size_t parts, int ended, int64_t first_ns,
                     int64_t end_ns, fl_pb_part_t *out);
/* Part `part` of a complete fragment's media (FL_ENOTFOUND past its last),
 * or with part < 0 all its parts one after the other, appended to out. */
int fl_pb_media_part(const fl_pb_media_t *m, int part, fl_buf_t *out);

/* The edge generation of stream log_id (any thread). */
static inline uint64_t fl_pb_edge_gen(const fl_playback_t *pb, uint64_t log_id)
{
    return atomic_load(&pb->edge_gen[(log_id ^ log_id >> 29) % FL_PB_EDGE_SLOTS]);
}

/* ---- parked requests (cache.c, llhls.c; loop thread) ---- */

/* How many requests may be parked at once, whatever for (a blocked
 * playlist reload, a part not complete yet, a segment another request is
 * making). Past it: 503 and Retry-After (they would hold connections). */
#define FL_PB_MAX_WAITERS 4096

/* A parked request: embedded in its job; a->done runs when it is fired
 * (fl_http_await_done), with the outcome in err and bytes. */
typedef struct fl_pb_wait {
    struct fl_pb_wait *next;
    fl_http_async_t *a;
    /* llhls.c: what it waits for */
    int kind; /* FL_PB_WAIT_* */
    uint64_t msn, seq;
    int part; /* -1: none */
    int64_t deadline_ms;
    int hold; /* a plain reload held for the next segment: at its deadline
                 it is answered as the playlist is then, not 503 */
    /* the outcome, set before a->done runs */
    const fl_api_error_t *err; /* status 0: ready */
    fl_slice_t bytes;          /* cache: the segment */
    fl_pb_blob_t *blob;        /* cache: its owner (fl_pb_respond_bytes), or NULL */
} fl_pb_wait_t;

/* ---- the segment cache (cache.c; loop thread) ---- */

#define FL_PB_CACHE_BYTES   (64u << 20)
#define FL_PB_CACHE_ENTRIES 4096

typedef struct {
    uint64_t log_id, seq;
    int32_t part;      /* >= 0 a part; FL_PB_WHOLE; FL_PB_WHOLE_PARTS (a LIVE session's);
                          FL_PB_INIT; FL_PB_LIST */
    uint8_t container; /* fl_pb_container_t */
    uint8_t selector;  /* fl_pb_selector_t: which times the segment carries */
    uint32_t list;     /* FL_PB_LIST: the window's size (MaxMediaPlaylistFragmentResults) */
    uint32_t epoch_s;  /* FL_PB_LIST: the second it was asked in (FL_PB_LIST_MAX_AGE_S) */
} fl_pb_ckey_t;
#define FL_PB_WHOLE       (-1)
#define FL_PB_WHOLE_PARTS (-2)
/* An init segment (ftyp+moov): seq is the hash of the Tracks element it
 * is made of (fl_pb_entry_t's tracks_hash), so one is made per track set,
 * not per fragment. */
#define FL_PB_INIT (-3)
/* What a LIVE playlist lists (live.c): the fl_pb_entry_t array of the
 * newest `list` durable fragments, seq the stream's edge generation. */
#define FL_PB_LIST (-4)

typedef struct {
    uint64_t hits, joins, misses, evictions;
    uint64_t list_hits, list_misses; /* LIVE lists (FL_PB_LIST) answered from it, and made */
    size_t bytes, entries;
} fl_pb_cache_stats_t;

typedef enum {
    FL_PB_HIT,     /* *hit holds the bytes (valid until the next take) */
    FL_PB_JOIN,    /* another request makes it: w is queued; park the request */
    FL_PB_LEAD,    /* make it, then fl_pb_cache_put */
    FL_PB_UNCACHED /* out of memory: make it without the cache */
} fl_pb_take_t;

int fl_pb_cache_new(fl_pb_cache_t **out);
void fl_pb_cache_free(fl_pb_cache_t *c);
/* (FL_PB_HIT: w->blob is the bytes' owner, for fl_pb_respond_bytes.) */
fl_pb_take_t fl_pb_cache_take(fl_pb_cache_t *c, const fl_pb_ckey_t *k, fl_pb_wait_t *w,
                              fl_slice_t *hit);
/* The ready entry of k, if there is one (1 and *hit, valid until the next
 * take), without leading or joining: 0 otherwise. */
int fl_pb_cache_peek(fl_pb_cache_t *c, const fl_pb_ckey_t *k, fl_slice_t *hit);
/* The leader's outcome: kept when it succeeded (bytes are moved into the
 * cache), handed to the requests that joined (they are answered now, each
 * w with the bytes and their owner). Returns the bytes to answer with
 * (valid until the next take), and *blob (if blob) their owner when kept,
 * else NULL. */
fl_slice_t fl_pb_cache_put(fl_pb_cache_t *c, const fl_pb_ckey_t *k, const fl_api_error_t *err,
                           fl_buf_t *bytes, fl_pb_blob_t **blob);
/* A blob of bytes (taken from *bytes, which is left empty) with one
 * holder, the caller, or NULL (out of memory; *bytes untouched); its
 * bytes; and giving up a hold (the last frees it). */
fl_pb_blob_t *fl_pb_blob_new(fl_buf_t *bytes);
fl_slice_t fl_pb_blob_bytes(const fl_pb_blob_t *b);
void fl_pb_blob_drop(fl_pb_blob_t *b);
/* Answer with bytes from the cache: with their owner (blob), sent without
 * a copy and held until sent (fl_http_respond_shared); blob NULL: copied
 * (fl_http_respond). */
void fl_pb_respond_bytes(fl_http_req_t *r, int status, const char *content_type, fl_slice_t body,
                         fl_pb_blob_t *blob);
void fl_pb_cache_forget(fl_pb_cache_t *c, uint64_t log_id, uint64_t seq);
void fl_pb_cache_stats(const fl_pb_cache_t *c, fl_pb_cache_stats_t *st);

/* ---- LL-HLS: following a stream's live tail (llhls.c; loop thread) ---- */

/* A fragment as a LIVE playlist's job sees the tail: its parts so far. */
typedef struct {
    uint64_t seq;
    int64_t ts_ns;        /* the session's timestamp of it */
    uint64_t tracks_hash; /* of its Tracks element, as select.c hashes it */
    int ended, dropped;
    size_t n_parts;
    fl_pb_part_t parts[FL_PB_MAX_PARTS];
} fl_pb_llfrag_t;

/* A part's frames copied out of the tail, for a worker to remux. */
typedef struct {
    fl_buf_t tracks;       /* the Tracks element */
    fl_av_frame_t *frames; /* data.p NULL: frame i is at data.p + offs[i] */
    size_t *offs;
    size_t n;
    fl_buf_t data;
    int64_t server_ns, producer_ns; /* the fragment's, for the session's shift */
} fl_pb_partsrc_t;
void fl_pb_partsrc_free(fl_pb_partsrc_t *p);

#define FL_PB_WAIT_PLAYLIST 1 /* until (msn, part) is in the playlist */
#define FL_PB_WAIT_PART     2 /* until part (seq, part) is complete */

/* The stream's follower, made (and joined to its live tail) if need be;
 * NULL when out of memory. */
fl_pb_follow_t *fl_pb_follow(fl_playback_t *pb, const fl_stream_ref_t *ref);
/* A snapshot of the follower's fragments for session s (malloc'd). */
int fl_pb_follow_snapshot(fl_pb_follow_t *f, const fl_pb_session_t *s, fl_pb_llfrag_t **v,
                          size_t *n);
/* A number that changes whenever what a snapshot gives may have (each
 * batch of the tail's events taken, a rejoin): two snapshots under the
 * same number are the same. */
uint64_t fl_pb_follow_gen(const fl_pb_follow_t *f);
/* Is (msn, part) in a playlist now? 1 yes, 0 not yet, -1 too far ahead (400). */
int fl_pb_follow_ready(fl_pb_follow_t *f, uint64_t msn, int part);
/* A LIVE reload without _HLS_msn (a player without LL-HLS): should it
 * wait for the next segment? 1 with *msn (the next segment's) and
 * *deadline_ms (monotonic) when the newest segment has been durable for
 * FL_PB_HOLD_AFTER_MS or more and the next one is arriving in the tail:
 * such a reload would see nothing new, and its player would not look
 * again for half a target duration or more; held, it gets the segment the
 * moment it is durable. A reload sooner after the newest segment may not
 * have seen it: answered at once. 0: answer now. */
#define FL_PB_HOLD_AFTER_MS 250
int fl_pb_follow_hold(fl_pb_follow_t *f, uint64_t *msn, int64_t *deadline_ms);
/* Part (seq, part) from the tail: 0 copied into out, FL_EAGAIN not
 * complete yet (park), FL_ENOTFOUND (not in the tail: read storage). */
int fl_pb_follow_part(fl_pb_follow_t *f, uint64_t seq, int part, fl_pb_partsrc_t *out);
/* The calling loop's segment cache. */
static inline fl_pb_cache_t *fl_pb_cache_of(const fl_playback_t *pb)
{
    return pb->caches[fl_server_loop()];
}

/* One more request parked, unless FL_PB_MAX_WAITERS are (over every
 * loop): 0, or -1 (not counted). */
static inline int fl_pb_wait_begin(fl_playback_t *pb)
{
    if (atomic_fetch_add(&pb->n_waiting, 1) >= FL_PB_MAX_WAITERS) {
        atomic_fetch_sub(&pb->n_waiting, 1);
        return -1;
    }
    return 0;
}

/* Park w (fl_http_await already called, FL_PB_MAX_WAITERS checked) until
 * its condition holds or its deadline passes (then w->err is a 503). */
void fl_pb_follow_park(fl_pb_follow_t *f, fl_pb_wait_t *w);
/* Every tick: deadlines, idle followers. */
/* The calling loop's followers: rejoins, deadlines, idle ones go (its
 * loop_tick). */
void fl_pb_follow_tick(fl_playback_t *pb, int loop);
void fl_pb_follow_free_all(fl_playback_t *pb);

#endif
