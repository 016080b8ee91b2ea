/*
 * server/ingest.h — one PutMedia session: the Matroska byte stream in,
 * fragments and acknowledgements out. Knows nothing of HTTP, WebSockets or
 * storage: the caller feeds bytes and gets callbacks, so the same pipeline
 * serves `POST /putMedia` and the WebSocket, and tests drive it directly.
 *
 * States (per connection):
 *   HEADER   -> waiting for EBML header, Segment, Info, Tracks
 *   READY    -> tracks known, between fragments (metadata Tags collect here)
 *   FRAGMENT -> inside a Cluster: BUFFERING was sent, frames are collected
 *   READY    <- Cluster end / END_OF_FRAGMENT tag: RECEIVED, then stored
 *   HEADER   <- a new EBML header: a new session on the same stream
 *   FAILED   <- any error: an ERROR ack was sent; every later feed fails
 *
 * Checks on each fragment: tracks known (<= max_tracks) with codec private
 * data for H.264/H.265 video that parses as a decoder configuration record;
 * every frame's track declared (4010); timecodes never lower than the
 * previous fragment's (4004); size (4001) and duration (4002) limits;
 * metadata tags per fragment (4009); malformed Matroska (4006). A fragment
 * cut off mid-way (the body ends inside it) is dropped, never stored.
 *
 * Timecodes: ABSOLUTE cluster timecodes are epoch ms; RELATIVE ones are ms
 * since the producer start timestamp. Every frame is restamped in absolute
 * ms; the stored Cluster's Timecode is the fragment's absolute timecode.
 */
#ifndef FL_SERVER_INGEST_H
#define FL_SERVER_INGEST_H

#include <stddef.h>
#include <stdint.h>

#include "common/bytes.h"
#include "media/mkv_parser.h"
#include "server/core/limits.h"
#include "server/video/fragment.h"
#include "server/video/recbuf.h"

/* AWS's ack error ids (reference/kvs-api.md). */
enum {
    FL_ACK_ERR_READ = 4000,
    FL_ACK_ERR_TOO_LARGE = 4001,
    FL_ACK_ERR_TOO_LONG = 4002,
    FL_ACK_ERR_CONNECTION_TOO_LONG = 4003,
    FL_ACK_ERR_TIMECODE_LOWER = 4004,
    FL_ACK_ERR_TOO_MANY_TRACKS = 4005,
    FL_ACK_ERR_INVALID_MKV = 4006,
    FL_ACK_ERR_INVALID_PRODUCER_TS = 4007,
    FL_ACK_ERR_STREAM_NOT_ACTIVE = 4008,
    FL_ACK_ERR_TOO_MANY_TAGS = 4009,
    FL_ACK_ERR_TRACK_MISMATCH = 4010,
    FL_ACK_ERR_MISSING_TRACK = 4011,
    FL_ACK_ERR_INTERNAL = 5000,
    FL_ACK_ERR_ARCHIVAL = 5001,
};

typedef enum {
    FL_ACK_BUFFERING,
    FL_ACK_RECEIVED,
    FL_ACK_PERSISTED,
    FL_ACK_ERROR,
    FL_ACK_IDLE
} fl_ack_type_t;

typedef struct {
    fl_ack_type_t type;
    int64_t timecode_ms;                 /* FragmentTimecode, as the producer sent it */
    char number[FL_FRAGMENT_NUMBER_CAP]; /* FragmentNumber, "" when there is none */
    int error_id;                        /* ERROR only */
    /* ERROR only: about no fragment (before the first Cluster, between
     * fragments): the ack carries neither FragmentTimecode nor
     * FragmentNumber, and AWS's producers apply it to the position they are
     * sending from (docs/api.md) */
    int no_fragment;
} fl_ack_t;

/* The ack's JSON object, as producers expect it, without a newline. */
void fl_ack_format(const fl_ack_t *a, fl_buf_t *out);

typedef struct {
    const char *name;            /* the stream, named in every log line (NULL: "-") */
    uint64_t max_fragment_bytes; /* 0: 50 MB */
    int64_t max_fragment_ms;     /* 0: 20 s */
    unsigned max_tracks;         /* 0: 3 */
    unsigned max_tags;           /* 0: 10 metadata tags per fragment */
    int relative;                /* x-amzn-fragment-timecode-type: RELATIVE */
    int64_t producer_start_ms;   /* x-amzn-producer-start-timestamp, RELATIVE only */
    int64_t min_abs_ms;          /* fragments before this (the stream's last stored timecode)
                                    are refused with 4004; 0: none */
    const fl_mkv_limits_t *mkv;  /* NULL: the parser's defaults */
    /* shared by every session (NULL: none): the memory the open fragment's
     * record holds is taken from it as the record grows and given back
     * when the record is handed on or dropped; a fragment that would pass
     * it fails with 5000, which producers retry (--max-fragment-memory) */
    fl_budget_t *budget;
} fl_ingest_opts_t;

typedef struct {
    /* A fragment starts (timecode as sent, and absolute epoch ms): name it
     * (a fragment number into number[cap]).
     * Return 0, or an ack error id to refuse it. */
    int (*begin)(void *data, int64_t timecode_ms, int64_t abs_ms, char *number, size_t cap);
    /* BUFFERING, RECEIVED and ERROR (PERSISTED is the caller's, after the
     * storage completion). */
    void (*ack)(void *data, const fl_ack_t *ack);
    /* A complete fragment's record (server/fragment.h), to store: record
     * is all of fl_ingest_record()'s bytes, valid during the call; take a
     * reference to keep them. Return 0 or an ack error id (the ERROR ack
     * is then sent for it). */
    int (*fragment)(void *data, const char *number, int64_t timecode_ms, int64_t abs_ms,
                    fl_slice_t record);
    /* Live tail: a session's Tracks element (NULL hook: not wanted). */
    void (*session)(void *data, fl_slice_t tracks);
    /* Live tail: one frame as it is parsed. bytes lie inside the record
     * being built (fl_ingest_record()), which may move as it grows: keep
     * their offset and a reference, or copy them, during the call. */
    void (*frame)(void *data, const char *number, uint64_t track, int64_t pts_ms,
                  int64_t duration_ms, int keyframe, fl_slice_t bytes);
    /* Live tail: the fragment begun last will never be stored (cut off by
     * the connection, or an error). NULL: not wanted. */
    void (*dropped)(void *data);
    /* A fragment whose timecode is not after the stream's last stored one
     * (opts.min_abs_ms): a producer's resend after a reconnect? Return 1,
     * with its fragment number in number[cap], when the stream holds a
     * fragment with exactly this absolute timecode: the fragment is then
     * acked again (BUFFERING, RECEIVED, then PERSISTED through the ack
     * hook, which may hold it back until the first append is durable) and
     * not stored twice. Return 0 otherwise (then the usual 4004 rule
     * applies). Synchronous: answer from memory, never from the disk.
     * NULL: none. */
    int (*stored)(void *data, int64_t abs_ms, char *number, size_t cap);
    void *data;
} fl_ingest_cbs_t;

typedef struct fl_ingest fl_ingest_t;

int fl_ingest_new(const fl_ingest_opts_t *opts, const fl_ingest_cbs_t *hooks, fl_ingest_t **out);
void fl_ingest_free(fl_ingest_t *in);
/* Feed the next bytes. Returns 0, or FL_ECLOSED once the session failed
 * (its ERROR ack has been sent). */
int fl_ingest_feed(fl_ingest_t *in, fl_slice_t bytes);
/* The body ended. clean: it ended as the protocol says (the final empty
 * chunk, a WebSocket close): a Cluster of unknown size still open is
 * complete and stored. Not clean (the connection broke): it is dropped,
 * never half-stored. Returns 0 or FL_ECLOSED. */
int fl_ingest_finish(fl_ingest_t *in, int clean);
/* The transport failed under the session (a broken chunked encoding):
 * send ERROR error_id, about the open fragment if there is one, and stop
 * as any other error does. Returns FL_ECLOSED. */
int fl_ingest_abort(fl_ingest_t *in, int error_id, const char *why);
/* Fragments stored (handed to hooks->fragment) so far. */
uint64_t fl_ingest_fragments(const fl_ingest_t *in);
/* The record of the open fragment being built (from just before the begin
 * hook to the end of the fragment hook), or NULL: for hooks that share it
 * (server/recbuf.h) instead of copying. */
fl_recbuf_t *fl_ingest_record(const fl_ingest_t *in);

#endif
