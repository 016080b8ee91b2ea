/*
 * framelog/hook.h — the analytics hook interface of framelogd (ABI 1.0).
 *
 * A hook is a shared object that framelogd loads at start with
 * `--hook PATH.so[,key=value...]` (repeatable). It exports one function,
 *
 *     const flh_plugin_t *framelog_hook(void);
 *
 * returning a static struct: the ABI version it was built for, its name,
 * and its callbacks (Janus' plugin struct). framelogd refuses, and does not
 * start, when the major version differs from its own or the minor version
 * is newer than its own, when the file is missing or has no entry point,
 * or when init() fails (the hook's own message is printed).
 *
 * This header is the whole interface: a hook needs nothing else of
 * framelog (no other header, no library to link). Names start with flh_ /
 * FLH_.
 *
 * ---- Life ----
 *   load      dlopen, framelog_hook(), version check
 *   init      on framelogd's main thread, before anything is served: the
 *             hook gets the host table, its own handle (flh_ctx_t) and its
 *             key=value pairs; it makes its state (*self) and may ask for
 *             decoded frames (host->want_decoded). A non-zero return with a
 *             one-line message in err stops framelogd.
 *   events    stream_started, frame, decoded, fragment_persisted,
 *             stream_stopped, record — on the hook's own thread, one at a
 *             time, in the order framelogd saw them.
 *   stop      at shutdown, on the hook's thread, after its last event:
 *             no callback comes after stop. The hook frees its state here.
 *             The library is unloaded afterwards.
 *
 * ---- Threading ----
 * Each hook has its own thread and a bounded queue in front of it. The
 * server's threads (the event loop that acknowledges producers and feeds
 * live readers, storage, other hooks) only ever enqueue: they never wait
 * for a hook. When a hook's queue is full, the event is dropped for that
 * hook only, counted in framelog_hook_dropped_total{hook="NAME"} and
 * logged at most once a second. Stream started/stopped and fragment
 * persisted events are never dropped in favour of frames: frames are what
 * goes first. A hook may block in its callbacks (files, network, a model);
 * it only delays itself. Frames it missed are gone: a hook that decodes
 * should wait for the next key frame (decoded frames do this for it).
 * Host functions may be called from any callback, and from threads the
 * hook makes, until stop returns.
 *
 * ---- Memory ----
 * Every pointer in an event (strings, frame bytes, CodecPrivate, decoded
 * planes, record data) is the host's and valid until the callback
 * returns. Frame bytes are shared, not copied: they are the same bytes
 * that storage writes and live readers send (one copy in memory for all
 * hooks and readers), so they are read-only. To keep a frame's bytes past
 * its callback without copying them, call host->frame_hold(ctx, frame):
 * the returned hold keeps frame->bytes valid and unchanged (same pointer)
 * until host->frame_release(hold), from any thread; release every hold
 * before stop returns. A hold pins the frame's whole fragment (up to the
 * server's fragment limit): hold frames for seconds, not hours.
 * Decoded planes are valid during the callback only: copy what you keep.
 *
 * ---- Versions ----
 * FLH_ABI_MAJOR changes when a struct field moves or a callback changes
 * meaning; framelogd loads only hooks built for its own major. Additive
 * changes (a callback or host function appended at the end of a struct, a
 * field appended at the end of an event) bump FLH_ABI_MINOR: a hook built
 * for an older minor keeps working (framelogd does not read fields its
 * minor does not have); a hook built for a newer minor than the server's
 * is refused. A hook that wants to run on older servers of the same major
 * checks host->abi_minor before calling a newer host function.
 */
#ifndef FRAMELOG_HOOK_H
#define FRAMELOG_HOOK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FLH_ABI_MAJOR 1
#define FLH_ABI_MINOR 0

/* The exported entry point's name (and its type). */
#define FLH_ENTRY "framelog_hook"

typedef struct flh_plugin flh_plugin_t;
typedef const flh_plugin_t *(*flh_entry_fn)(void);

/* The host's handle for one loaded hook: passed to every host function. */
typedef struct flh_ctx flh_ctx_t;
/* A hold on a frame's bytes (host->frame_hold). */
typedef struct flh_hold flh_hold_t;

/* Bytes: a length and a pointer, never NUL-terminated. */
typedef struct {
    const uint8_t *p;
    size_t n;
} flh_bytes_t;

/* One key=value of the --hook flag, in the order given. */
typedef struct {
    const char *key;
    const char *value; /* "" for a bare key */
} flh_kv_t;

typedef enum {
    FLH_TRACK_VIDEO = 1,
    FLH_TRACK_AUDIO = 2,
    FLH_TRACK_OTHER = 3,
} flh_track_type_t;

typedef enum {
    FLH_CODEC_OTHER = 0, /* see codec_id */
    FLH_CODEC_H264 = 1,  /* V_MPEG4/ISO/AVC: frames are length-prefixed (AVCC) */
    FLH_CODEC_H265 = 2,  /* V_MPEGH/ISO/HEVC: length-prefixed (HVCC) */
    FLH_CODEC_AAC = 3,   /* A_AAC: raw AAC frames */
} flh_codec_t;

/* A track of a stream, as the producer declared it. */
typedef struct {
    uint64_t number; /* the Matroska TrackNumber frames carry */
    flh_track_type_t type;
    flh_codec_t codec;
    const char *codec_id;      /* Matroska CodecID, e.g. "V_MPEG4/ISO/AVC" */
    flh_bytes_t codec_private; /* CodecPrivate (avcC, hvcC, AudioSpecificConfig) */
    uint32_t width, height;    /* video; 0 when not declared */
    uint32_t sample_rate;      /* audio, Hz; 0 when not declared */
    uint32_t channels;         /* audio */
} flh_track_t;

/* A producer's session began on a stream (its Tracks arrived). */
typedef struct {
    const char *stream; /* the Kinesis Video stream's name */
    const flh_track_t *tracks;
    size_t n_tracks;
} flh_stream_t;

/* One compressed frame, as the live tail receives it (before the fragment
 * is complete or durable). */
typedef struct {
    const char *stream;
    uint64_t track; /* TrackNumber */
    int keyframe;
    int64_t producer_ms;  /* the frame's timestamp, epoch ms: what GetMedia returns for it */
    int64_t duration_ms;  /* 0 when not given */
    int64_t server_ns;    /* the fragment's server arrival, epoch ns */
    const char *fragment; /* its fragment number, as GetMedia/ListFragments name it */
    int64_t fragment_ms;  /* the fragment's producer timecode, epoch ms */
    flh_bytes_t bytes;    /* shared, read-only; see Memory above */
} flh_frame_t;

/* A fragment is durable (what GetMedia, ListFragments and HLS serve). */
typedef struct {
    const char *stream;
    const char *fragment; /* fragment number */
    int64_t producer_ms;  /* its producer timecode, epoch ms */
    int64_t server_ns;    /* when it arrived, epoch ns */
    int64_t persisted_ns; /* when storage made it durable, epoch ns */
    uint64_t bytes;       /* its frames' bytes */
    uint32_t frames;
} flh_fragment_t;

/* A record appended to a data stream (by PutRecord(s) or by another hook),
 * as storage takes it (it is durable shortly after). A hook does not get
 * the records it wrote from its callbacks (those from threads of its own
 * come back to it). */
typedef struct {
    const char *stream; /* the data stream's name */
    uint32_t shard;     /* storage's shard id (ShardId "shardId-%012u") */
    uint64_t sequence;  /* SequenceNumber */
    flh_bytes_t partition_key;
    flh_bytes_t data;
    int64_t producer_ms; /* the record's time on the stream's timeline, epoch ms */
} flh_record_t;

typedef enum {
    FLH_PIX_GRAY8 = 1,   /* one plane */
    FLH_PIX_YUV420P = 2, /* three planes */
    FLH_PIX_NV12 = 3,    /* two planes */
    FLH_PIX_RGB24 = 4,   /* one packed plane */
    FLH_PIX_BGR24 = 5,
    FLH_PIX_RGBA = 6,
} flh_pixfmt_t;

/* What decoded frames a hook wants (host->want_decoded). */
typedef struct {
    flh_pixfmt_t format;
    uint32_t width, height; /* scale to this size; 0, 0: the stream's own */
    double max_fps;         /* at most this many frames a second per stream; 0: all */
    int key_frames_only;    /* only key frames (decoded alone: cheapest) */
} flh_decode_req_t;

/* A decoded video frame (decoded by libavcodec on the hook's thread). */
typedef struct {
    const char *stream;
    uint64_t track;
    int keyframe;
    int64_t producer_ms; /* the compressed frame's timestamp */
    int64_t server_ns;
    const char *fragment;
    flh_pixfmt_t format;
    uint32_t width, height;
    const uint8_t *planes[4]; /* valid during the callback */
    int strides[4];           /* bytes per row of each plane */
} flh_decoded_t;

typedef enum {
    FLH_LOG_ERROR = 1,
    FLH_LOG_WARN = 2,
    FLH_LOG_INFO = 3,
    FLH_LOG_DEBUG = 4,
} flh_log_level_t;

/* What framelogd offers a hook. Every function is thread-safe. */
typedef struct {
    uint16_t abi_major, abi_minor; /* the server's */

    /* Append a record to data stream `stream` (created beforehand with
     * the Kinesis Data Streams API), stamped with producer_ms (usually the
     * frame's producer_ms, so results sit on the video's timeline). The
     * record is copied; it becomes durable shortly after (it is not
     * waited for). Returns 0, or a negative code: -2 (no such stream),
     * -22 (invalid: key 1..256 bytes, data <= 1 MiB), -11 (storage's
     * queue is full: try later), -12 (out of memory). */
    int (*record)(flh_ctx_t *ctx, const char *stream, flh_bytes_t partition_key, flh_bytes_t data,
                  int64_t producer_ms);
    /* One line in framelogd's log, prefixed with the hook's name. */
    void (*log)(flh_ctx_t *ctx, flh_log_level_t level, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
    /* Add to the hook's counter `name` ([a-z0-9_], 1..48 bytes): on
     * /metrics as framelog_hook_<name>_total{hook="NAME"}. At most 16
     * counters per hook: -28 past that, -22 for a bad name. */
    int (*count)(flh_ctx_t *ctx, const char *name, uint64_t delta);
    /* Ask for decoded frames of every video track (H.264, H.265): the
     * decoded callback gets them. From init or any callback; the last
     * call wins; NULL stops them. -22 for a format or size the server
     * cannot make, -95 when the plugin has no decoded callback. */
    int (*want_decoded)(flh_ctx_t *ctx, const flh_decode_req_t *req);
    /* Keep a frame's bytes past its callback (see Memory). NULL when out
     * of memory. */
    flh_hold_t *(*frame_hold)(flh_ctx_t *ctx, const flh_frame_t *frame);
    void (*frame_release)(flh_hold_t *hold);
} flh_host_t;

/* The plugin: a static struct returned by framelog_hook(). Callbacks may
 * be NULL (the hook gets nothing of that kind; a hook without a frame
 * callback costs ingest nothing per frame unless it wants decoded
 * frames). `self` is the state init made. */
struct flh_plugin {
    uint16_t abi_major; /* FLH_ABI_MAJOR */
    uint16_t abi_minor; /* FLH_ABI_MINOR */
    const char *name;   /* [a-z0-9_-], 1..32 bytes: in logs and metric labels */
    const char *description;

    int (*init)(const flh_host_t *host, flh_ctx_t *ctx, const flh_kv_t *config, size_t n_config,
                void **self, char *err, size_t errlen);
    void (*stream_started)(void *self, const flh_stream_t *s);
    void (*stream_stopped)(void *self, const char *stream);
    void (*frame)(void *self, const flh_frame_t *f);
    void (*fragment_persisted)(void *self, const flh_fragment_t *f);
    void (*record)(void *self, const flh_record_t *r);
    void (*decoded)(void *self, const flh_decoded_t *d);
    void (*stop)(void *self);
};

/* For the plugin's struct: .abi_major/.abi_minor of this header. */
#define FLH_PLUGIN_VERSION .abi_major = FLH_ABI_MAJOR, .abi_minor = FLH_ABI_MINOR

/* The entry point a hook defines (with default visibility). */
const flh_plugin_t *framelog_hook(void);

#ifdef __cplusplus
}
#endif

#endif
