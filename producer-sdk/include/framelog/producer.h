/* SPDX-License-Identifier: Apache-2.0 (see LICENSE at the repository's root) */
/*
 * framelog/producer.h — libframelog-producer, the producer SDK for cameras,
 * dashcams and pipelines: the one public header.
 *
 * A client (flp_client_t) holds the endpoint, credentials, TLS trust and the
 * allocator; a stream (flp_stream_t) turns frames into Matroska fragments,
 * keeps them in a content store of fixed size until the server acks each one
 * PERSISTED, and sends them over a WebSocket to the server's PutMedia
 * (subprotocol "framelog-putmedia-v1"), reconnecting on its own.
 *
 * Threads: flp_stream_put_frame() may be called from any thread (calls are
 * serialised inside); each stream owns one sender thread that does all
 * network I/O and calls the callbacks, except `dropped` and
 * `buffer_pressure`, which may also come from a thread inside
 * flp_stream_put_frame() (the store was full). Callbacks must not block for
 * long and must not call their own stream's functions.
 *
 * Memory: the SDK's own memory (the client, the stream, its content store,
 * CodecPrivate and session headers) comes from the allocator hooks when
 * given, at flp_client_new()/flp_stream_new() and once at the first key
 * frame; nothing is allocated per frame. libwebsockets and OpenSSL (about
 * 64 KiB per connection), the file store's scratch buffer and the Matroska
 * scratch buffer (4 KiB) use malloc. docs/sdk.md has the table.
 *
 * Errors: functions return 0 or a negative FLP_E* code (flp_strerror names
 * it); system errors are negative errno values. The numbers are framelog's
 * own (common/error.h), so logs on both sides agree.
 *
 * Guide, memory and thread model: docs/sdk.md.
 */
#ifndef FRAMELOG_PRODUCER_H
#define FRAMELOG_PRODUCER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FLP_VERSION "0.1.0"

/* ---- errors ---- */

#define FLP_OK         0
#define FLP_ENOMEM     (-12)    /* -ENOMEM */
#define FLP_EINVAL     (-22)    /* -EINVAL */
#define FLP_EIO        (-5)     /* -EIO */
#define FLP_ENOSPC     (-28)    /* -ENOSPC: the content store is full */
#define FLP_ECORRUPT   (-10001) /* stored bytes failed their integrity check */
#define FLP_EMALFORMED (-10002) /* a frame or reply does not follow its format */
#define FLP_ENOTFOUND  (-10004) /* no such stream */
#define FLP_EEXISTS    (-10005) /* the stream exists already */
#define FLP_ECLOSED    (-10007) /* the stream is stopped, or a connection closed */
#define FLP_ECRYPTO    (-10011) /* a cryptographic operation failed */
#define FLP_ESTATE     (-10013) /* not valid in the current state */
#define FLP_ETIMEDOUT  (-10014) /* a wait ran out */
#define FLP_ESERVER    (-10100) /* the server answered with an error (see the message) */
#define FLP_ECONNECT   (-10101) /* the server could not be reached */

/* Name of an error code; never NULL. */
const char *flp_strerror(int err);

/* ---- client ---- */

typedef enum {
    FLP_LOG_ERROR = 0,
    FLP_LOG_WARN = 1,
    FLP_LOG_INFO = 2,
    FLP_LOG_DEBUG = 3
} flp_log_level_t;

/* Allocator hooks: all three or none. */
typedef struct {
    void *(*malloc_fn)(void *ctx, size_t n);
    void *(*realloc_fn)(void *ctx, void *p, size_t n);
    void (*free_fn)(void *ctx, void *p);
    void *ctx;
} flp_allocator_t;

/* ---- transport (optional: a device with its own TCP/TLS stack) ----
 *
 * The SDK needs two things from a network: one-shot HTTP requests for the
 * control plane, and a message-oriented WebSocket for PutMedia. The built-in
 * transport uses libwebsockets (TLS through its OpenSSL). All calls come from
 * the stream's sender thread or from the caller of flp_create_stream() and
 * flp_describe_stream(); only wake() is called from other threads. */

typedef struct {
    const char *name; /* header name, e.g. "x-amzn-stream-name" */
    const char *value;
} flp_header_t;

typedef struct {
    const char *scheme; /* "https" / "wss" or "http" / "ws" */
    const char *host;   /* host name or address */
    int port;
    const char *method;          /* "POST" or "GET" */
    const char *path;            /* with query string when any */
    const flp_header_t *headers; /* host excluded; signed already */
    size_t n_headers;
    const uint8_t *body; /* HTTP only */
    size_t body_len;
    const char *subprotocol; /* WebSocket only: "framelog-putmedia-v1" */
    const char *ca_file;     /* NULL: the system's trust store */
    int timeout_ms;          /* for connecting and for the whole HTTP request */
} flp_request_t;

typedef struct flp_transport_conn flp_transport_conn_t;

typedef struct {
    /* One HTTP request: the status and up to cap bytes of the body into
     * body (*body_len set; longer bodies are cut). */
    int (*http)(void *ctx, const flp_request_t *req, int *status, char *body, size_t cap,
                size_t *body_len);
    /* Connect, upgrade to a WebSocket. On failure err[errcap] says why (for
     * a refused upgrade: the HTTP status and the server's message). */
    int (*ws_open)(void *ctx, const flp_request_t *req, flp_transport_conn_t **out, char *err,
                   size_t errcap);
    /* Send one message (binary, or text when text != 0). Returns 0 once the
     * transport has taken it, FLP_ETIMEDOUT when it could not within
     * timeout_ms (nothing or all was taken: the transport keeps a message it
     * started), FLP_ECLOSED when the connection is gone. Messages that
     * arrive meanwhile are kept for ws_recv. */
    int (*ws_send)(flp_transport_conn_t *c, const uint8_t *p, size_t n, int text, int timeout_ms);
    /* The next text message: 0 with *n set (cut at cap), FLP_ETIMEDOUT
     * after timeout_ms (0: do not wait), FLP_ECLOSED when the peer closed
     * (close code and reason in err). Returns early, with FLP_ETIMEDOUT,
     * when wake() is called. */
    int (*ws_recv)(flp_transport_conn_t *c, char *buf, size_t cap, size_t *n, int timeout_ms,
                   int *close_code, char *err, size_t errcap);
    /* Make a ws_recv or ws_send waiting in another thread return early.
     * Thread-safe; may be called at any time while the connection lives. */
    void (*wake)(flp_transport_conn_t *c);
    /* Close: clean (a close frame after everything sent) or abortive. */
    void (*ws_close)(flp_transport_conn_t *c, int clean);
    void *ctx;
} flp_transport_t;

/* The built-in libwebsockets transport. */
const flp_transport_t *flp_transport_lws(void);

typedef struct {
    const char *endpoint;   /* "https://host:port" or "http://host:port"
                               (loopback only without TLS) */
    const char *region;     /* NULL: "us-east-1" (signing only) */
    const char *access_key; /* NULL: requests are not signed */
    const char *secret_key;
    const char *session_token;        /* NULL: none */
    const char *ca_file;              /* PEM; NULL: the system's trust store */
    const flp_allocator_t *allocator; /* NULL: malloc/realloc/free */
    /* Log lines (one per event, no newline); NULL: none. */
    void (*log)(void *ctx, flp_log_level_t level, const char *line);
    void *log_ctx;
    flp_log_level_t log_level;        /* lines above this level are not formatted */
    const flp_transport_t *transport; /* NULL: flp_transport_lws() */
} flp_client_config_t;

typedef struct flp_client flp_client_t;

/* Strings in cfg are copied. */
int flp_client_new(const flp_client_config_t *cfg, flp_client_t **out);
void flp_client_free(flp_client_t *c);

/* ---- control plane (blocking; from any thread) ---- */

typedef struct {
    char name[256];
    char arn[512];
    char media_type[128];
    char status[16]; /* "ACTIVE", "CREATING", ... */
    uint32_t retention_hours;
} flp_stream_info_t;

/* CreateStream. FLP_EEXISTS when it exists (then describe it). msg (may be
 * NULL) gets the server's message on FLP_ESERVER. */
int flp_create_stream(flp_client_t *c, const char *name, const char *media_type,
                      uint32_t retention_hours, char *msg, size_t msgcap);
/* DescribeStream. FLP_ENOTFOUND when there is none. */
int flp_describe_stream(flp_client_t *c, const char *name, flp_stream_info_t *out, char *msg,
                        size_t msgcap);
/* Where the stream's stored media ends, in ms since the epoch: the latest
 * ProducerTimestamp + FragmentLengthInMilliseconds among its fragments
 * that start no more than 30 s before the clock or after it (ListFragments
 * by producer time); 0 when there is none. A producer that starts a stream
 * passes it as flp_stream_config_t.resume_after_ms, so that it never sends
 * a fragment that goes back before what an earlier run stored ahead of the
 * clock (an upload faster than real time, a camera whose clock was
 * reset): the server refuses those (4004). */
int flp_stream_end(flp_client_t *c, const char *name, int64_t *end_ms, char *msg, size_t msgcap);

/* ---- streams ---- */

typedef enum { FLP_CODEC_H264 = 1, FLP_CODEC_H265 = 2, FLP_CODEC_AAC = 3 } flp_codec_t;

typedef struct {
    uint32_t number; /* 1..3, distinct within the stream */
    flp_codec_t codec;
    /* Video: 0 when frames are Annex-B (start codes), else the NAL length
     * size (1, 2 or 4) of length-prefixed frames. */
    unsigned nal_length_size;
    /* CodecPrivate: AVC/HEVC decoder configuration record, or AAC's
     * AudioSpecificConfig (at most 64 KiB). Video may leave it empty: it is
     * built from the parameter sets of the first key frame. Copied. */
    const uint8_t *codec_private;
    size_t codec_private_len;
    const char *name;               /* NULL: none */
    unsigned width, height;         /* video; 0: taken from the SPS */
    unsigned sample_rate, channels; /* audio */
} flp_track_t;

typedef enum {
    FLP_DROP_OLDEST = 0, /* drop the oldest whole fragment, report it */
    FLP_BLOCK = 1        /* make put_frame wait up to block_timeout_ms */
} flp_full_policy_t;

typedef enum {
    FLP_ACK_BUFFERING = 0,
    FLP_ACK_RECEIVED = 1,
    FLP_ACK_PERSISTED = 2,
    FLP_ACK_ERROR = 3,
    FLP_ACK_IDLE = 4
} flp_ack_type_t;

typedef enum {
    FLP_CONN_CONNECTING = 0,
    FLP_CONN_CONNECTED = 1,
    FLP_CONN_DISCONNECTED = 2, /* will reconnect after a backoff */
    FLP_CONN_STOPPED = 3
} flp_conn_state_t;

typedef struct {
    /* The stream is connected for the first time and takes frames. */
    void (*ready)(void *ctx);
    /* An ack from the server: timecode in ms since the epoch, fragment
     * number as a decimal string ("" for IDLE), error_id for ERROR. */
    void (*ack)(void *ctx, flp_ack_type_t type, int64_t timecode_ms, const char *number,
                int error_id);
    /* An error: the server's error id (0 when local), and a message. */
    void (*error)(void *ctx, int err, int error_id, const char *msg);
    /* Frames that will never reach the server: a whole fragment dropped
     * from a full store (n_frames of it, from timecode_ms), or frames
     * refused before they were stored. */
    void (*dropped)(void *ctx, int64_t timecode_ms, uint32_t n_frames, const char *why);
    /* The store crossed 80 % full (pressure = 1) or fell below 60 % (0). */
    void (*buffer_pressure)(void *ctx, int pressure, size_t used, size_t size);
    /* The oldest frame not acked PERSISTED is older than
     * latency_pressure_ms (pressure = 1, with its age) or no longer (0). */
    void (*latency_pressure)(void *ctx, int pressure, int64_t age_ms);
    void (*connection)(void *ctx, flp_conn_state_t state, int err);
    void *ctx;
} flp_callbacks_t;

typedef struct {
    const char *name;          /* the stream's name on the server */
    const flp_track_t *tracks; /* 1..3 tracks; video first */
    size_t n_tracks;
    size_t store_size;             /* bytes; 0: 8 MiB. At least 256 KiB. */
    uint32_t fragment_duration_ms; /* a key frame at least this long after
                                      the fragment's start starts the next
                                      one; 0: every key frame */
    int absolute_timestamps;       /* 0: pts count from any origin; the
                                      first frame is mapped to the wall
                                      clock. 1: pts are ns since the epoch */
    flp_full_policy_t full_policy;
    int block_timeout_ms;    /* FLP_BLOCK: 0 means 5000 */
    int latency_pressure_ms; /* 0: 10000 */
    /* Optional: keep the store in this file too, sealed with AES-256-GCM
     * under storage_key (32 bytes), so buffered fragments survive a restart:
     * at start, what the file holds is sent first. NULL: memory only. */
    const char *storage_path;
    const uint8_t *storage_key;
    flp_callbacks_t callbacks;
    /* Fragments start after this, in ms since the epoch (0: no bound), as
     * they start after the fragments replayed from storage_path: a key
     * frame that would start one at or before the newest fragment's start
     * (the clock went back) shifts every later timestamp so that the
     * stream goes on just after the latest frame stored, or after this.
     * Usually flp_stream_end(). */
    int64_t resume_after_ms;
} flp_stream_config_t;

typedef struct flp_stream flp_stream_t;

/* Start a stream: allocates the store, starts the sender thread, which
 * connects (the stream must exist: see flp_create_stream). */
int flp_stream_new(flp_client_t *c, const flp_stream_config_t *cfg, flp_stream_t **out);

typedef struct {
    uint32_t track;      /* track number */
    int64_t pts_ns;      /* presentation time */
    int64_t dts_ns;      /* decoding time; frames come in decoding order */
    int64_t duration_ns; /* 0: unknown */
    int keyframe;        /* video: 1 for an IDR/IRAP access unit. The NAL
                            units decide when they can be read: an IDR/IRAP
                            picture is a key frame whatever the flag says,
                            and a frame without one is not */
    const uint8_t *data; /* one access unit (video) or one AAC frame */
    size_t size;
} flp_frame_t;

/* Put one frame (copied into the store). 0; FLP_ENOSPC when the store is
 * full under FLP_BLOCK after the timeout, or the frame is larger than the
 * store allows; FLP_EINVAL for a frame the stream cannot take (unknown
 * track, no key frame yet, timestamp going back); FLP_ECLOSED after stop. */
int flp_stream_put_frame(flp_stream_t *s, const flp_frame_t *f);

/* Ask for a metadata tag (name, value) to go with the next fragment
 * (at most 10 per fragment, as in KVS). */
int flp_stream_put_tag(flp_stream_t *s, const char *name, const char *value);

/* End the current fragment now (so it can be sent and acked). */
int flp_stream_flush(flp_stream_t *s);

/* Flush, then wait up to timeout_ms until every fragment is acked PERSISTED
 * (0) or the time runs out (FLP_ETIMEDOUT); then end the session cleanly.
 * No frames are taken afterwards. */
int flp_stream_stop(flp_stream_t *s, int timeout_ms);

typedef struct {
    uint64_t frames_put;
    uint64_t fragments; /* fragments closed in the store */
    uint64_t fragments_persisted;
    uint64_t fragments_dropped;
    uint64_t frames_dropped;
    uint64_t bytes_sent;
    uint64_t connects;         /* successful connections */
    uint64_t resent_fragments; /* fragments sent again after a reconnect */
    size_t store_used;         /* bytes held */
    size_t store_size;
    size_t heap_bytes; /* heap held by the stream beyond the store */
} flp_stream_stats_t;

int flp_stream_stats(flp_stream_t *s, flp_stream_stats_t *out);

/* Stop the sender thread (abortively if stop was not called) and free. */
void flp_stream_free(flp_stream_t *s);

#ifdef __cplusplus
}
#endif

#endif
