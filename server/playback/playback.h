/*
 * server/playback/playback.h — the playback room: HLS sessions over the
 * stored fragments, shared by the files of server/playback/ only.
 *
 *   playback.c  the module: its state (the playback key), routes, CORS
 *   token.c     session tokens (token.h)
 *   session.c   GetHLSStreamingSessionURL (`POST /getHLSStreamingSessionURL`)
 *   hls.c       the session's paths under /hls/v1/: playlists and segments
 *   media.c     a stored fragment as tracks and frames, its codec strings,
 *               and its remux to fMP4 / MPEG-TS (media/av.h)
 *
 * Every storage read and every remux runs on the worker pool
 * (fl_http_async_or_busy); the loop only checks tokens and answers.
 */
#ifndef FL_SERVER_PLAYBACK_PLAYBACK_H
#define FL_SERVER_PLAYBACK_PLAYBACK_H

#include <stdint.h>

#include "common/bytes.h"
#include "media/av.h"
#include "media/mkv.h"
#include "server/core/http.h"
#include "server/core/module.h"
#include "server/playback/token.h"
#include "server/video/stream_ref.h"
#include "server/video/video.h"
#include "storage/log.h"

/* The module's state. Shared by the loops: key is read-only after init
 * and the counters marked atomic. */
typedef struct fl_playback {
    struct fl_server *srv;
    fl_video_t *video;
    uint8_t key[FL_PB_KEY_BYTES];
    int cors_any; /* every listener is loopback: Access-Control-Allow-Origin: * */
    /* counters for /metrics (every loop bumps them) */
    _Atomic uint64_t sessions;       /* session URLs handed out */
    _Atomic uint64_t token_refusals; /* requests with a forged, altered or expired token */
    _Atomic uint64_t playlists;      /* playlists served */
    _Atomic uint64_t segments;       /* init and media segments served */
    _Atomic uint64_t segment_bytes;  /* their bytes */
    _Atomic uint64_t remux_failures; /* segments that could not be made */
} fl_playback_t;

extern const fl_module_t fl_playback_module;

/* The CORS headers every playback response carries (before responding). */
void fl_pb_cors(fl_http_req_t *r);

/* Routes (session.c, hls.c). */
void fl_pb_get_hls_session_url(fl_http_req_t *r);
void fl_pb_hls_master(fl_http_req_t *r);
void fl_pb_hls_media(fl_http_req_t *r);
void fl_pb_hls_init(fl_http_req_t *r);
void fl_pb_hls_mp4_fragment(fl_http_req_t *r);
void fl_pb_hls_ts_fragment(fl_http_req_t *r);
void fl_pb_hls_other(fl_http_req_t *r);

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

/* The fragments a playlist of session s lists at now_ms, oldest first, at
 * most s->max_fragments (v is malloc'd; free it). *ended: the session's
 * range is complete (ON_DEMAND always; LIVE_REPLAY once past its end).
 * 0, or an FL_E* code from storage. */
int fl_pb_select(fl_log_t *log, const fl_pb_session_t *s, int64_t now_ms, fl_pb_entry_t **v,
                 size_t *n, int *ended);
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

#endif
