/*
 * server/playback/token.h — HLS session tokens: the session itself, carried
 * by the client, authenticated by the server (DESIGN.md, "Playback").
 *
 * A GetHLSStreamingSessionURL call encodes what the session may play —
 * the stream and its incarnation, the playback mode, the timestamp
 * selector and range, the container, the playlist options, who asked and
 * until when — into a token that every /hls/v1/ request carries as
 * `SessionToken`. The server keeps nothing per session: it checks the
 * token's HMAC-SHA256 under its playback key and its expiry, and serves
 * what the token says. Thousands of viewers cost no server memory; a
 * restart ends no session, because the key survives it.
 *
 * The key: derived from the server's token key (core/token.h,
 * <data dir>/server.key) as HMAC-SHA256(token key, FL_PB_KEY_LABEL), so it
 * survives restarts and no token of another format passes for a session.
 *
 * Token bytes, version 1 (all integers little-endian), then base64url
 * (RFC 4648 §5) without padding (docs/playback.md):
 *
 *   offset size  field
 *   0      1     version = 1
 *   1      1     mode: 1 LIVE, 2 LIVE_REPLAY, 3 ON_DEMAND
 *   2      1     selector: 0 SERVER_TIMESTAMP, 1 PRODUCER_TIMESTAMP
 *   3      1     container: 0 FRAGMENTED_MP4, 1 MPEG_TS
 *   4      1     discontinuity: 0 ALWAYS, 1 NEVER, 2 ON_DISCONTINUITY
 *   5      1     flags: bit 0 DisplayFragmentTimestamp ALWAYS,
 *                       bit 1 has a start, bit 2 has an end,
 *                       bit 3 a DASH session (container FRAGMENTED_MP4,
 *                       discontinuity NEVER), bit 4 DisplayFragmentNumber
 *                       ALWAYS (DASH only)
 *   6      2     MaxMediaPlaylistFragmentResults (1..5000)
 *   8      8     the stream's incarnation: its creation time, epoch ms
 *   16     8     range start, epoch ns (0 without)
 *   24     8     range end, epoch ns (0 without)
 *   32     8     issued at, epoch ms
 *   40     8     expires at, epoch ms
 *   48     2     N = bytes of the stream name (1..256)
 *   50     1     K = bytes of the access key id that asked (0..128)
 *   51     N     stream name
 *   51+N   K     access key id
 *   51+N+K 32    HMAC-SHA256(playback key, bytes 0 .. 51+N+K-1)
 *
 * Anything else (another length, version, a mode out of range, a bad tag)
 * is not a token this server gave.
 */
#ifndef FL_SERVER_PLAYBACK_TOKEN_H
#define FL_SERVER_PLAYBACK_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#include "common/bytes.h"
#include "server/video/validate.h"

#define FL_PB_TOKEN_VERSION 1
#define FL_PB_KEY_BYTES     32
#define FL_PB_KEY_LABEL     "framelog playback session v1"
#define FL_PB_TOKEN_HEAD    51
#define FL_PB_TOKEN_MAC     32
#define FL_PB_MAX_KEY_ID    128
/* The longest token's base64url text, with its NUL. */
#define FL_PB_TOKEN_CAP                                                                            \
    (((FL_PB_TOKEN_HEAD + FL_STREAM_NAME_MAX + FL_PB_MAX_KEY_ID + FL_PB_TOKEN_MAC) * 4 + 2) / 3 + 1)

typedef enum { FL_PB_LIVE = 1, FL_PB_LIVE_REPLAY = 2, FL_PB_ON_DEMAND = 3 } fl_pb_mode_t;
typedef enum { FL_PB_SERVER_TS = 0, FL_PB_PRODUCER_TS = 1 } fl_pb_selector_t;
typedef enum { FL_PB_FMP4 = 0, FL_PB_TS = 1 } fl_pb_container_t;
typedef enum { FL_PB_DISC_ALWAYS = 0, FL_PB_DISC_NEVER = 1, FL_PB_DISC_ON = 2 } fl_pb_disc_t;

/* A session, as the token carries it. */
typedef struct {
    fl_pb_mode_t mode;
    fl_pb_selector_t selector;
    fl_pb_container_t container;
    fl_pb_disc_t discontinuity;
    int display_ts;
    int dash;           /* a GetDASHStreamingSessionURL session (dash.c) */
    int display_number; /* DASH: DisplayFragmentNumber ALWAYS */
    int has_start, has_end;
    unsigned max_fragments;
    int64_t incarnation_ms;
    int64_t start_ns, end_ns;
    int64_t issued_ms, expires_ms;
    char name[FL_STREAM_NAME_MAX + 1];
    char key_id[FL_PB_MAX_KEY_ID + 1];
} fl_pb_session_t;

/* The session as a token (base64url text, NUL-terminated) into out, which
 * has FL_PB_TOKEN_CAP bytes. FL_EINVAL for a session that breaks the
 * format's bounds, FL_ENOMEM. */
int fl_pb_token_encode(const uint8_t key[FL_PB_KEY_BYTES], const fl_pb_session_t *s, char *out,
                       size_t cap);
/* Check and decode a token: 0, FL_EMALFORMED (not a token, or its tag is
 * wrong: forged or altered), FL_EVERSION (another format), or
 * FL_EEXPIRED (authentic, but past its expiry at now_ms), FL_ENOMEM. */
int fl_pb_token_decode(const uint8_t key[FL_PB_KEY_BYTES], fl_slice_t text, int64_t now_ms,
                       fl_pb_session_t *out);

/* Tokens already checked, so that the players of a session, who send the
 * same token with every request, cost one HMAC per token instead of one
 * per request. Keyed by the token's whole text: a hit is a text equal,
 * byte for byte, to one whose tag was verified under the cache's key, and
 * gives the session decoded then; its expiry is checked at every use, as
 * on a miss. Only tokens that decoded are kept (a forged, altered or
 * expired one is refused by fl_pb_token_decode every time). Bounded:
 * FL_PB_TOKEN_CACHE_SLOTS entries, direct-mapped by a hash of the text (a
 * collision only evicts). Not thread-safe: one per event loop. */
#define FL_PB_TOKEN_CACHE_SLOTS 64
typedef struct fl_pb_token_cache fl_pb_token_cache_t;

/* A cache of tokens under key (copied), or NULL (out of memory). */
fl_pb_token_cache_t *fl_pb_token_cache_new(const uint8_t key[FL_PB_KEY_BYTES]);
void fl_pb_token_cache_free(fl_pb_token_cache_t *c);
/* Checks answered from the cache so far (any thread). */
uint64_t fl_pb_token_cache_hits(const fl_pb_token_cache_t *c);
/* fl_pb_token_decode, answered from the cache when text was decoded
 * before: the same results. c NULL, or made for another key: no cache. */
int fl_pb_token_check(fl_pb_token_cache_t *c, const uint8_t key[FL_PB_KEY_BYTES], fl_slice_t text,
                      int64_t now_ms, fl_pb_session_t *out);

#endif
