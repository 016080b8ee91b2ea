/* SPDX-License-Identifier: Apache-2.0 (see LICENSE at the repository's root) */
/*
 * producer-sdk/gst/framelogsink.c — framelogsink, the GStreamer element
 * that ends a pipeline in framelog: it hands H.264/H.265 access units (and
 * AAC frames) to libframelog-producer, which makes Matroska fragments, keeps
 * them in its content store and sends them to the server's PutMedia until
 * each one is acked PERSISTED. Plugin "framelog" (libgstframelog.so).
 *
 *   gst-launch-1.0 -e videotestsrc is-live=true ! x264enc tune=zerolatency \
 *       key-int-max=30 ! h264parse ! framelogsink stream-name=cam \
 *       endpoint=http://127.0.0.1:8080
 *
 *   gst-launch-1.0 -e videotestsrc is-live=true ! x264enc tune=zerolatency ! \
 *       h264parse ! queue ! s. audiotestsrc is-live=true ! voaacenc ! aacparse ! \
 *       queue ! s. framelogsink name=s stream-name=cam endpoint=...
 *
 * Pads
 *   sink (always): video/x-h264 (stream-format avc, avc3 or byte-stream) or
 *     video/x-h265 (hvc1, hev1 or byte-stream), alignment au. With avc/hvc1
 *     the caps' codec_data becomes the track's CodecPrivate and frames stay
 *     length-prefixed; with byte-stream the SDK builds CodecPrivate from the
 *     parameter sets of the first key frame. Track 1. This pad is required:
 *     the element prerolls on it and the stream starts on its first buffer.
 *   audio_%u (request, at most one): audio/mpeg mpegversion 4,
 *     stream-format raw, with codec_data (AudioSpecificConfig). Track 2.
 *     Audio before the stream's first video key frame is dropped.
 *
 * Properties (read when the element goes READY -> PAUSED)
 *   stream-name        the stream's name on the server (required)
 *   endpoint           "http://host:port" (loopback only) or
 *                      "https://host:port"; default http://127.0.0.1:8080
 *   region             signing region; default us-east-1
 *   access-key, secret-key, session-token
 *                      credentials for AWS Signature V4; unset: the requests
 *                      are not signed (a server on loopback without keys)
 *   ca-file            PEM file of trusted CAs for https; unset: the system's
 *   content-type       media type given to CreateStream; default video/h264
 *   create-stream      CreateStream at start (an existing stream is fine);
 *                      with FALSE the stream must exist (DescribeStream is
 *                      asked at start, and a missing one is an error)
 *   retention-period   hours of retention for CreateStream; default 24
 *   buffer-size        bytes of the SDK's content store; default 8 MiB
 *   fragment-duration  ms: the first key frame this long after a fragment's
 *                      start begins the next one; 0: every key frame
 *   storage-path       keep the content store in this file too, so fragments
 *                      not yet persisted survive a restart (needs storage-key)
 *   storage-key        64 hex digits: the AES-256 key sealing storage-path
 *   stop-timeout       seconds EOS waits for every fragment to be acked
 *                      PERSISTED; default 30. Running out is an error.
 *   The element is a GstBaseSink with sync=FALSE and enable-last-sample=FALSE
 *   by default: frames go out as fast as they come (set sync=TRUE to pace a
 *   file source in real time).
 *
 * Signals (emitted from the SDK's sender thread, not the streaming thread:
 * handlers must be thread-safe and must not block for long)
 *   fragment-ack (const gchar *type, gint64 timecode_ms, const gchar *number)
 *       an ack from the server; type is "BUFFERING", "RECEIVED",
 *       "PERSISTED", "ERROR" or "IDLE"; timecode in ms since the epoch;
 *       the fragment number as a decimal string ("" for IDLE).
 *   stream-error (gint error_id, const gchar *message)
 *       an error reported by the SDK: the server's error id (0 when local)
 *       and a message with the server's reason.
 *
 * Restarts. EOS stops the SDK stream (every fragment acked); a flush after
 * it (a seek back, to play again) frees that stream, and the next video key
 * frame starts a new one. Every stream this element starts begins after
 * what the server holds of it already (flp_stream_end()): a run pushed
 * faster than real time ends ahead of the clock, and the server refuses a
 * fragment that goes back (4004).
 *
 * Errors. The stream's timestamps are the buffers' running times, given to
 * the SDK as relative timestamps (it maps the first frame to the wall
 * clock, or to just after what the stream holds). A failure at start (unreachable server, missing
 * stream with create-stream=false, bad settings) fails the state change with a GST_ELEMENT_ERROR
 * naming the server's reason. While streaming, the SDK reconnects on its own: connection failures
 * are element warnings; errors the server reports (an ack ERROR, a session the server refuses) are
 * element errors posted from the sender thread (posting is thread-safe), and
 * later buffers then fail with GST_FLOW_ERROR. Frames the SDK refuses (before
 * the first key frame, timestamps going back) are dropped and counted;
 * fragments dropped from a full store are an element warning.
 *
 * Threads and locking. Video arrives on the base class' streaming thread
 * (render), audio on the audio pad's (chain). Both hand frames to the SDK
 * under `lock`, and interleave by decoding time: a pad's buffer waits while
 * the other pad may still bring an earlier one, at most FLS_WAIT_US, after
 * which the silent pad is marked stalled and ignored until it sends again
 * (so a dead audio source cannot stop video). As with any muxer, live
 * sources want a queue in each branch. EOS on the video pad waits for the
 * audio pad's EOS, then flp_stream_stop() waits for the acks.
 */
#include <gst/base/gstbasesink.h>
#include <gst/gst.h>
#include <stdio.h>
#include <string.h>

#include <framelog/producer.h>

GST_DEBUG_CATEGORY_STATIC(framelogsink_debug);
#define GST_CAT_DEFAULT framelogsink_debug

#define DEFAULT_ENDPOINT          "http://127.0.0.1:8080"
#define DEFAULT_CONTENT_TYPE      "video/h264"
#define DEFAULT_CREATE_STREAM     TRUE
#define DEFAULT_RETENTION_HOURS   24
#define DEFAULT_BUFFER_SIZE       (8u * 1024 * 1024)
#define MIN_BUFFER_SIZE           (256u * 1024)
#define DEFAULT_FRAGMENT_DURATION 2000
#define DEFAULT_STOP_TIMEOUT      30

/* How long a buffer waits for the other pad (interleaving, and the audio
 * caps when the stream starts) before going ahead. */
#define FLS_WAIT_US (2 * G_TIME_SPAN_SECOND)

/* EOS asks flp_stream_stop() in slices this long (see fls_video_eos). */
#define FLS_STOP_SLICE_MS 250

#define TRACK_VIDEO 1
#define TRACK_AUDIO 2

/* One input track. Guarded by the element's lock, except `segment` of the
 * audio track, which only the audio streaming thread touches. */
typedef struct {
    gboolean have_caps;
    flp_codec_t codec;
    unsigned nal_length_size; /* video: 0 for byte-stream */
    GBytes *codec_private;    /* NULL: none (byte-stream video) */
    unsigned width, height;   /* video */
    unsigned rate, channels;  /* audio */
    GstSegment segment;       /* audio pad only; video uses the base class' */
    gboolean eos;
    gboolean flushing; /* audio pad only: flushing or inactive */
    gboolean waiting;  /* a buffer with decoding time waiting_ts waits to go */
    gint64 waiting_ts;
    gint64 last_ts;     /* decoding time of the last frame handed over */
    gboolean sent_any;  /* last_ts is set */
    gboolean stalled;   /* gave nothing for FLS_WAIT_US: not waited for */
    gboolean in_stream; /* the SDK stream has this track */
    guint64 refused;    /* frames the SDK refused */
} fls_track_t;

struct _GstFramelogSink {
    GstBaseSink parent;

    /* Properties; guarded by the object lock. */
    gchar *stream_name;
    gchar *endpoint;
    gchar *region;
    gchar *access_key;
    gchar *secret_key;
    gchar *session_token;
    gchar *ca_file;
    gchar *content_type;
    gchar *storage_path;
    gchar *storage_key;
    guint64 buffer_size;
    guint fragment_duration;
    guint retention_period;
    guint stop_timeout;
    gboolean create_stream;

    /* Runtime state; guarded by `lock`. `cond` is broadcast whenever a
     * track's waiting/last_ts/eos/caps or a flushing flag changes. */
    GMutex lock;
    GCond cond;
    flp_client_t *client;   /* start() .. stop() */
    flp_stream_t *stream;   /* first video buffer .. stop() */
    gboolean flushing;      /* unlock() .. unlock_stop() */
    gboolean video_started; /* the SDK took a video key frame */
    gboolean stopped;       /* EOS stopped the SDK stream: a flush (a seek)
                               frees it, and the next key frame starts anew */
    fls_track_t video, audio;
    GstPad *audio_pad; /* the request pad; NULL when none */
    gint fatal;        /* atomic: an error was posted, buffers fail */
};

#define GST_TYPE_FRAMELOG_SINK (gst_framelog_sink_get_type())
G_DECLARE_FINAL_TYPE(GstFramelogSink, gst_framelog_sink, GST, FRAMELOG_SINK, GstBaseSink)
G_DEFINE_TYPE(GstFramelogSink, gst_framelog_sink, GST_TYPE_BASE_SINK)

enum {
    PROP_0,
    PROP_STREAM_NAME,
    PROP_ENDPOINT,
    PROP_REGION,
    PROP_ACCESS_KEY,
    PROP_SECRET_KEY,
    PROP_SESSION_TOKEN,
    PROP_CA_FILE,
    PROP_CONTENT_TYPE,
    PROP_CREATE_STREAM,
    PROP_RETENTION_PERIOD,
    PROP_BUFFER_SIZE,
    PROP_FRAGMENT_DURATION,
    PROP_STORAGE_PATH,
    PROP_STORAGE_KEY,
    PROP_STOP_TIMEOUT
};

enum { SIGNAL_FRAGMENT_ACK, SIGNAL_STREAM_ERROR, N_SIGNALS };
static guint fls_signals[N_SIGNALS];

#define VIDEO_CAPS                                                                                 \
    "video/x-h264, stream-format = (string) { avc, avc3, byte-stream }, "                          \
    "alignment = (string) au; "                                                                    \
    "video/x-h265, stream-format = (string) { hvc1, hev1, byte-stream }, "                         \
    "alignment = (string) au"
#define AUDIO_CAPS "audio/mpeg, mpegversion = (int) 4, stream-format = (string) raw"

static GstStaticPadTemplate sink_template =
    GST_STATIC_PAD_TEMPLATE("sink", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS(VIDEO_CAPS));
static GstStaticPadTemplate audio_template =
    GST_STATIC_PAD_TEMPLATE("audio_%u", GST_PAD_SINK, GST_PAD_REQUEST, GST_STATIC_CAPS(AUDIO_CAPS));

/* ---- tracks ---- */

static void fls_track_reset(fls_track_t *t)
{
    if (t->codec_private)
        g_bytes_unref(t->codec_private);
    memset(t, 0, sizeof *t);
    gst_segment_init(&t->segment, GST_FORMAT_TIME);
}

/* Is t fed, so that the other pad should wait for its earlier buffers?
 * Called with the lock. */
static gboolean fls_track_active(GstFramelogSink *sink, const fls_track_t *t)
{
    if (t->eos || t->stalled)
        return FALSE;
    if (t == &sink->audio)
        return sink->audio_pad != NULL && t->have_caps && (sink->stream == NULL || t->in_stream);
    return TRUE;
}

/* Must a buffer of t with decoding time ts wait for the other track? */
static gboolean fls_must_wait(GstFramelogSink *sink, fls_track_t *t, gint64 ts)
{
    fls_track_t *other = t == &sink->video ? &sink->audio : &sink->video;
    if (!fls_track_active(sink, other))
        return FALSE;
    if (other->waiting)
        return other->waiting_ts < ts; /* it goes first; ties go together */
    /* Nothing waiting there: its next buffer comes at or after last_ts. */
    return !other->sent_any || other->last_ts < ts;
}

static gboolean fls_flushing(GstFramelogSink *sink, const fls_track_t *t)
{
    return sink->flushing || (t == &sink->audio && t->flushing);
}

/* Parse caps into a fresh track description n (codec fields only). FALSE
 * with an element error posted when the caps cannot be used. */
static gboolean fls_parse_caps(GstFramelogSink *sink, GstCaps *caps, fls_track_t *n)
{
    GstStructure *s = gst_caps_get_structure(caps, 0);
    const gchar *name = gst_structure_get_name(s);
    const gchar *format = gst_structure_get_string(s, "stream-format");
    const GValue *v = gst_structure_get_value(s, "codec_data");
    GstBuffer *cd = v && GST_VALUE_HOLDS_BUFFER(v) ? gst_value_get_buffer(v) : NULL;
    GstMapInfo map = GST_MAP_INFO_INIT;
    gboolean ok = FALSE;
    gint a = 0, b = 0;

    if (cd && !gst_buffer_map(cd, &map, GST_MAP_READ)) {
        GST_ELEMENT_ERROR(sink, STREAM, FORMAT, (NULL), ("cannot map codec_data"));
        return FALSE;
    }
    if (g_str_equal(name, "video/x-h264") || g_str_equal(name, "video/x-h265")) {
        gboolean h265 = g_str_equal(name, "video/x-h265");
        n->codec = h265 ? FLP_CODEC_H265 : FLP_CODEC_H264;
        if (format == NULL || g_str_equal(format, "byte-stream")) {
            n->nal_length_size = 0; /* the SDK builds CodecPrivate in-band */
        } else {
            /* AVCDecoderConfigurationRecord: lengthSizeMinusOne is the low
             * 2 bits of byte 4; HEVCDecoderConfigurationRecord: of byte 21. */
            size_t at = h265 ? 21 : 4;
            if (cd == NULL || map.size <= at || map.data[0] != 1) {
                GST_ELEMENT_ERROR(
                    sink, STREAM, FORMAT, (NULL),
                    ("%s with stream-format %s needs a valid codec_data", name, format));
                goto out;
            }
            n->nal_length_size = (map.data[at] & 3u) + 1;
            if (n->nal_length_size == 3) {
                GST_ELEMENT_ERROR(sink, STREAM, FORMAT, (NULL),
                                  ("NAL length size 3 is not supported"));
                goto out;
            }
            n->codec_private = g_bytes_new(map.data, map.size);
        }
        if (gst_structure_get_int(s, "width", &a) && gst_structure_get_int(s, "height", &b) &&
            a > 0 && b > 0) {
            n->width = (unsigned)a;
            n->height = (unsigned)b;
        }
    } else if (g_str_equal(name, "audio/mpeg")) {
        n->codec = FLP_CODEC_AAC;
        if (cd == NULL || map.size < 2) {
            GST_ELEMENT_ERROR(sink, STREAM, FORMAT, (NULL),
                              ("AAC needs codec_data (AudioSpecificConfig) in the caps"));
            goto out;
        }
        n->codec_private = g_bytes_new(map.data, map.size);
        if (gst_structure_get_int(s, "rate", &a) && a > 0)
            n->rate = (unsigned)a;
        if (gst_structure_get_int(s, "channels", &b) && b > 0)
            n->channels = (unsigned)b;
    } else {
        GST_ELEMENT_ERROR(sink, CORE, NEGOTIATION, (NULL), ("unexpected caps %s", name));
        goto out;
    }
    n->have_caps = TRUE;
    ok = TRUE;
out:
    if (cd)
        gst_buffer_unmap(cd, &map);
    return ok;
}

/* New caps for track t. Once the stream runs its tracks are fixed: the same
 * codec and framing are required, a new CodecPrivate is only a warning. */
static gboolean fls_set_track_caps(GstFramelogSink *sink, fls_track_t *t, GstCaps *caps)
{
    fls_track_t n;
    memset(&n, 0, sizeof n);
    if (!fls_parse_caps(sink, caps, &n))
        return FALSE;
    gboolean ok = TRUE;
    g_mutex_lock(&sink->lock);
    if (t->in_stream) {
        if (n.codec != t->codec || n.nal_length_size != t->nal_length_size) {
            GST_ELEMENT_ERROR(sink, CORE, NEGOTIATION, (NULL),
                              ("caps changed to %" GST_PTR_FORMAT " while streaming", caps));
            ok = FALSE;
        } else if ((n.codec_private == NULL) != (t->codec_private == NULL) ||
                   (n.codec_private && !g_bytes_equal(n.codec_private, t->codec_private))) {
            GST_ELEMENT_WARNING(sink, STREAM, FORMAT, ("Codec data changed while streaming"),
                                ("the stream keeps its first codec data"));
        }
        if (n.codec_private)
            g_bytes_unref(n.codec_private);
    } else {
        if (t->codec_private)
            g_bytes_unref(t->codec_private);
        t->codec = n.codec;
        t->nal_length_size = n.nal_length_size;
        t->codec_private = n.codec_private;
        t->width = n.width;
        t->height = n.height;
        t->rate = n.rate;
        t->channels = n.channels;
        t->have_caps = TRUE;
        g_cond_broadcast(&sink->cond);
    }
    g_mutex_unlock(&sink->lock);
    return ok;
}

/* ---- SDK callbacks (sender thread) ---- */

static const char *fls_ack_name(flp_ack_type_t type)
{
    switch (type) {
    case FLP_ACK_BUFFERING:
        return "BUFFERING";
    case FLP_ACK_RECEIVED:
        return "RECEIVED";
    case FLP_ACK_PERSISTED:
        return "PERSISTED";
    case FLP_ACK_ERROR:
        return "ERROR";
    case FLP_ACK_IDLE:
        return "IDLE";
    }
    return "UNKNOWN";
}

static void fls_on_ready(void *ctx)
{
    GST_INFO_OBJECT(ctx, "stream connected, taking frames");
}

static void fls_on_ack(void *ctx, flp_ack_type_t type, int64_t timecode_ms, const char *number,
                       int error_id)
{
    GstFramelogSink *sink = ctx;
    GST_LOG_OBJECT(sink, "ack %s %" G_GINT64_FORMAT " %s (%d)", fls_ack_name(type), timecode_ms,
                   number ? number : "", error_id);
    g_signal_emit(sink, fls_signals[SIGNAL_FRAGMENT_ACK], 0, fls_ack_name(type),
                  (gint64)timecode_ms, number ? number : "");
}

/* Errors that the SDK recovers from: a lost connection (it reconnects) and
 * the server's own trouble (ids 5000 and up: the SDK keeps the fragment and
 * sends it again). */
static gboolean fls_transient(int err, int error_id)
{
    if (error_id >= 5000)
        return TRUE;
    return error_id == 0 &&
           (err == FLP_ECONNECT || err == FLP_ECLOSED || err == FLP_ETIMEDOUT || err == FLP_EIO);
}

static void fls_on_error(void *ctx, int err, int error_id, const char *msg)
{
    GstFramelogSink *sink = ctx;
    const char *m = msg && *msg ? msg : flp_strerror(err);
    g_signal_emit(sink, fls_signals[SIGNAL_STREAM_ERROR], 0, (gint)error_id, m);
    if (fls_transient(err, error_id)) {
        GST_ELEMENT_WARNING(sink, RESOURCE, WRITE, ("framelog: %s", m),
                            ("%s; the SDK reconnects", flp_strerror(err)));
        return;
    }
    g_atomic_int_set(&sink->fatal, 1);
    GST_ELEMENT_ERROR(sink, RESOURCE, WRITE, ("framelog: %s", m),
                      ("%s (error id %d)", flp_strerror(err), error_id));
}

static void fls_on_dropped(void *ctx, int64_t timecode_ms, uint32_t n_frames, const char *why)
{
    GstFramelogSink *sink = ctx;
    GST_ELEMENT_WARNING(
        sink, RESOURCE, WRITE,
        ("framelog dropped %u frames from %" G_GINT64_FORMAT " ms", n_frames, (gint64)timecode_ms),
        ("%s", why ? why : ""));
}

static void fls_on_buffer_pressure(void *ctx, int pressure, size_t used, size_t size)
{
    if (pressure)
        GST_WARNING_OBJECT(ctx, "content store %zu of %zu bytes full", used, size);
    else
        GST_INFO_OBJECT(ctx, "content store back to %zu of %zu bytes", used, size);
}

static void fls_on_latency_pressure(void *ctx, int pressure, int64_t age_ms)
{
    if (pressure)
        GST_WARNING_OBJECT(ctx, "oldest frame not persisted is %" G_GINT64_FORMAT " ms old",
                           (gint64)age_ms);
    else
        GST_INFO_OBJECT(ctx, "latency back to normal");
}

/* A lost or refused connection is a warning: the SDK keeps the fragments
 * and reconnects with a backoff. */
static void fls_on_connection(void *ctx, flp_conn_state_t state, int err)
{
    static const char *names[] = {"connecting", "connected", "disconnected", "stopped"};
    GstFramelogSink *sink = ctx;
    GST_INFO_OBJECT(sink, "connection %s (%s)", (unsigned)state < 4 ? names[state] : "?",
                    flp_strerror(err));
    if (state == FLP_CONN_DISCONNECTED && err != 0 && !g_atomic_int_get(&sink->fatal))
        GST_ELEMENT_WARNING(sink, RESOURCE, WRITE, ("framelog: connection lost or refused"),
                            ("%s; the SDK reconnects", flp_strerror(err)));
}

static void fls_on_log(void *ctx, flp_log_level_t level, const char *line)
{
    GstDebugLevel l = level == FLP_LOG_ERROR  ? GST_LEVEL_ERROR
                      : level == FLP_LOG_WARN ? GST_LEVEL_WARNING
                      : level == FLP_LOG_INFO ? GST_LEVEL_INFO
                                              : GST_LEVEL_DEBUG;
    GST_CAT_LEVEL_LOG(framelogsink_debug, l, ctx, "sdk: %s", line);
}

/* ---- start / stop ---- */

/* 64 hex digits -> 32 bytes. */
static gboolean fls_parse_key(const gchar *hex, uint8_t key[32])
{
    if (hex == NULL || strlen(hex) != 64)
        return FALSE;
    for (int i = 0; i < 32; i++) {
        int hi = g_ascii_xdigit_value(hex[2 * i]), lo = g_ascii_xdigit_value(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return FALSE;
        key[i] = (uint8_t)(hi << 4 | lo);
    }
    return TRUE;
}

static gboolean gst_framelog_sink_start(GstBaseSink *bsink)
{
    GstFramelogSink *sink = GST_FRAMELOG_SINK(bsink);
    gboolean ok = FALSE;
    char msg[512] = "";
    flp_client_t *client = NULL;

    GST_OBJECT_LOCK(sink);
    gchar *name = g_strdup(sink->stream_name), *endpoint = g_strdup(sink->endpoint);
    gchar *region = g_strdup(sink->region), *ak = g_strdup(sink->access_key);
    gchar *sk = g_strdup(sink->secret_key), *token = g_strdup(sink->session_token);
    gchar *ca = g_strdup(sink->ca_file), *ctype = g_strdup(sink->content_type);
    gboolean create = sink->create_stream;
    guint retention = sink->retention_period;
    gboolean storage_ok =
        sink->storage_path == NULL || fls_parse_key(sink->storage_key, (uint8_t[32]){0});
    GST_OBJECT_UNLOCK(sink);

    if (name == NULL || *name == 0) {
        GST_ELEMENT_ERROR(sink, RESOURCE, SETTINGS, ("No stream-name set"), (NULL));
        goto out;
    }
    if (endpoint == NULL || *endpoint == 0) {
        GST_ELEMENT_ERROR(sink, RESOURCE, SETTINGS, ("No endpoint set"), (NULL));
        goto out;
    }
    if (!storage_ok) {
        GST_ELEMENT_ERROR(sink, RESOURCE, SETTINGS,
                          ("storage-path needs storage-key: 64 hex digits"), (NULL));
        goto out;
    }

    GstDebugLevel th = gst_debug_category_get_threshold(framelogsink_debug);
    flp_client_config_t cc = {
        .endpoint = endpoint,
        .region = region,
        .access_key = ak,
        .secret_key = sk,
        .session_token = token,
        .ca_file = ca,
        .log = fls_on_log,
        .log_ctx = sink,
        .log_level = th >= GST_LEVEL_DEBUG     ? FLP_LOG_DEBUG
                     : th >= GST_LEVEL_INFO    ? FLP_LOG_INFO
                     : th >= GST_LEVEL_WARNING ? FLP_LOG_WARN
                                               : FLP_LOG_ERROR,
    };
    int rc = flp_client_new(&cc, &client);
    if (rc != 0) {
        GST_ELEMENT_ERROR(sink, RESOURCE, SETTINGS, ("Cannot use endpoint %s", endpoint),
                          ("flp_client_new: %s", flp_strerror(rc)));
        goto out;
    }

    if (create) {
        rc = flp_create_stream(client, name, ctype ? ctype : DEFAULT_CONTENT_TYPE, retention, msg,
                               sizeof msg);
        if (rc != 0 && rc != FLP_EEXISTS) {
            GST_ELEMENT_ERROR(sink, RESOURCE, OPEN_WRITE,
                              ("Cannot create stream \"%s\" on %s: %s", name, endpoint,
                               *msg ? msg : flp_strerror(rc)),
                              ("flp_create_stream: %s", flp_strerror(rc)));
            goto out;
        }
        GST_INFO_OBJECT(sink, "stream %s %s", name, rc == 0 ? "created" : "exists");
    } else {
        flp_stream_info_t info;
        rc = flp_describe_stream(client, name, &info, msg, sizeof msg);
        if (rc != 0) {
            GST_ELEMENT_ERROR(
                sink, RESOURCE, NOT_FOUND,
                ("Cannot use stream \"%s\" on %s: %s", name, endpoint,
                 *msg ? msg : flp_strerror(rc)),
                ("flp_describe_stream: %s (create-stream is false)", flp_strerror(rc)));
            goto out;
        }
        GST_INFO_OBJECT(sink, "stream %s: %s, %s", name, info.arn, info.status);
    }

    g_mutex_lock(&sink->lock);
    sink->client = client;
    client = NULL;
    sink->video_started = FALSE;
    sink->stopped = FALSE;
    g_atomic_int_set(&sink->fatal, 0);
    g_mutex_unlock(&sink->lock);
    ok = TRUE;
out:
    flp_client_free(client);
    g_free(name);
    g_free(endpoint);
    g_free(region);
    g_free(ak);
    g_free(sk);
    g_free(token);
    g_free(ca);
    g_free(ctype);
    return ok;
}

static gboolean gst_framelog_sink_stop(GstBaseSink *bsink)
{
    GstFramelogSink *sink = GST_FRAMELOG_SINK(bsink);
    g_mutex_lock(&sink->lock);
    flp_stream_t *stream = sink->stream;
    flp_client_t *client = sink->client;
    sink->stream = NULL;
    sink->client = NULL;
    GST_INFO_OBJECT(sink,
                    "stopping; frames refused by the SDK: video %" G_GUINT64_FORMAT
                    ", audio %" G_GUINT64_FORMAT,
                    sink->video.refused, sink->audio.refused);
    g_mutex_unlock(&sink->lock);
    /* Abortive when EOS did not stop it: what is not persisted is lost,
     * unless storage-path keeps it for the next start. */
    flp_stream_free(stream);
    flp_client_free(client);
    return TRUE;
}

/* Start the SDK stream with the tracks known now. Called with the lock from
 * the video streaming thread, on the first video buffer. Waits (briefly) for
 * a linked audio pad's caps so that the stream gets both tracks. */
static gboolean fls_start_stream(GstFramelogSink *sink)
{
    gint64 deadline = g_get_monotonic_time() + FLS_WAIT_US;
    while (sink->audio_pad && gst_pad_is_linked(sink->audio_pad) && !sink->audio.have_caps &&
           !sink->audio.eos && !sink->flushing) {
        if (!g_cond_wait_until(&sink->cond, &sink->lock, deadline))
            break;
    }
    if (sink->flushing)
        return FALSE;

    flp_track_t tracks[2];
    memset(tracks, 0, sizeof tracks);
    size_t n = 0;
    fls_track_t *t[2] = {&sink->video, &sink->audio};
    for (int i = 0; i < 2; i++) {
        if (!t[i]->have_caps || (i == 1 && (sink->audio_pad == NULL || t[i]->eos)))
            continue;
        flp_track_t *k = &tracks[n++];
        k->number = i == 0 ? TRACK_VIDEO : TRACK_AUDIO;
        k->codec = t[i]->codec;
        k->nal_length_size = t[i]->nal_length_size;
        if (t[i]->codec_private)
            k->codec_private = g_bytes_get_data(t[i]->codec_private, &k->codec_private_len);
        k->name = i == 0 ? "video" : "audio";
        k->width = t[i]->width;
        k->height = t[i]->height;
        k->sample_rate = t[i]->rate;
        k->channels = t[i]->channels;
    }
    if (sink->audio_pad && !(n == 2))
        GST_ELEMENT_WARNING(sink, STREAM, FORMAT,
                            ("No audio caps in time: the stream is video only"), (NULL));

    GST_OBJECT_LOCK(sink);
    gchar *name = g_strdup(sink->stream_name), *spath = g_strdup(sink->storage_path);
    uint8_t key[32];
    gboolean have_key = fls_parse_key(sink->storage_key, key);
    size_t store = (size_t)sink->buffer_size;
    guint fragment = sink->fragment_duration;
    GST_OBJECT_UNLOCK(sink);

    /* Start after what the stream holds: a run before this one (or this
     * element before a seek) that went faster than real time is ahead of
     * the clock, and the server refuses fragments that go back (4004). */
    int64_t resume_ms = 0;
    char msg[512] = "";
    int erc = flp_stream_end(sink->client, name, &resume_ms, msg, sizeof msg);
    if (erc != 0) {
        GST_WARNING_OBJECT(sink, "where stream %s ends is unknown (%s: %s): starting now", name,
                           flp_strerror(erc), msg);
        resume_ms = 0;
    }

    flp_stream_config_t cfg = {
        .name = name,
        .tracks = tracks,
        .n_tracks = n,
        .store_size = store,
        .fragment_duration_ms = fragment,
        .absolute_timestamps = 0,
        .full_policy = FLP_DROP_OLDEST,
        .storage_path = spath,
        .storage_key = spath && have_key ? key : NULL,
        .callbacks = {.ready = fls_on_ready,
                      .ack = fls_on_ack,
                      .error = fls_on_error,
                      .dropped = fls_on_dropped,
                      .buffer_pressure = fls_on_buffer_pressure,
                      .latency_pressure = fls_on_latency_pressure,
                      .connection = fls_on_connection,
                      .ctx = sink},
        .resume_after_ms = resume_ms,
    };
    int rc = flp_stream_new(sink->client, &cfg, &sink->stream);
    memset(key, 0, sizeof key);
    if (rc != 0) {
        sink->stream = NULL;
        GST_ELEMENT_ERROR(sink, RESOURCE, OPEN_WRITE, ("Cannot start stream \"%s\"", name),
                          ("flp_stream_new: %s", flp_strerror(rc)));
    } else {
        sink->video.in_stream = TRUE;
        sink->audio.in_stream = n == 2;
        GST_INFO_OBJECT(sink, "stream %s started with %zu track(s)", name, n);
    }
    g_free(name);
    g_free(spath);
    g_cond_broadcast(&sink->cond);
    return rc == 0;
}

/* ---- frames ---- */

/* Signed running times of a buffer; FALSE when it has none. */
static gboolean fls_times(const GstSegment *seg, GstBuffer *buf, gint64 *pts, gint64 *dts)
{
    GstClockTime p = GST_BUFFER_PTS(buf), d = GST_BUFFER_DTS(buf);
    if (!GST_CLOCK_TIME_IS_VALID(p))
        p = d;
    if (!GST_CLOCK_TIME_IS_VALID(d))
        d = p;
    if (!GST_CLOCK_TIME_IS_VALID(p))
        return FALSE;
    guint64 rp = 0, rd = 0;
    gint sp = gst_segment_to_running_time_full(seg, GST_FORMAT_TIME, p, &rp);
    gint sd = gst_segment_to_running_time_full(seg, GST_FORMAT_TIME, d, &rd);
    if (sp == 0 || sd == 0)
        return FALSE;
    *pts = sp > 0 ? (gint64)rp : -(gint64)rp;
    *dts = sd > 0 ? (gint64)rd : -(gint64)rd;
    return TRUE;
}

/* Hand one buffer of track t to the SDK, in decoding-time order with the
 * other track. Called from t's streaming thread. */
static GstFlowReturn fls_put(GstFramelogSink *sink, fls_track_t *t, const GstSegment *seg,
                             GstBuffer *buf)
{
    gboolean video = t == &sink->video;
    gint64 pts, dts;
    GstFlowReturn ret = GST_FLOW_OK;

    if (g_atomic_int_get(&sink->fatal))
        return GST_FLOW_ERROR;
    if (!fls_times(seg, buf, &pts, &dts)) {
        GST_WARNING_OBJECT(sink, "dropping a %s buffer without a timestamp",
                           video ? "video" : "audio");
        return GST_FLOW_OK;
    }

    g_mutex_lock(&sink->lock);
    t->waiting = TRUE;
    t->waiting_ts = dts;
    t->stalled = FALSE;
    g_cond_broadcast(&sink->cond);
    gint64 deadline = g_get_monotonic_time() + FLS_WAIT_US;
    while (!fls_flushing(sink, t) && fls_must_wait(sink, t, dts)) {
        if (!g_cond_wait_until(&sink->cond, &sink->lock, deadline)) {
            fls_track_t *other = video ? &sink->audio : &sink->video;
            GST_INFO_OBJECT(sink, "%s gave nothing for %d ms: not waiting for it",
                            video ? "audio" : "video", (int)(FLS_WAIT_US / 1000));
            other->stalled = TRUE;
            break;
        }
    }
    t->waiting = FALSE;
    if (fls_flushing(sink, t)) {
        ret = GST_FLOW_FLUSHING;
        goto out;
    }
    if (video && sink->stream == NULL) {
        if (GST_BUFFER_FLAG_IS_SET(buf, GST_BUFFER_FLAG_DELTA_UNIT)) {
            GST_DEBUG_OBJECT(sink, "dropping video before the first key frame");
            goto out;
        }
        if (!fls_start_stream(sink)) {
            ret = sink->flushing ? GST_FLOW_FLUSHING : GST_FLOW_ERROR;
            goto out;
        }
    }
    if (sink->stream == NULL || !t->in_stream) {
        GST_LOG_OBJECT(sink, "dropping %s: not in the stream", video ? "video" : "audio");
        goto out;
    }
    if (!video && !sink->video_started) {
        GST_LOG_OBJECT(sink, "dropping audio before the first video key frame");
        goto out;
    }

    GstMapInfo map;
    if (!gst_buffer_map(buf, &map, GST_MAP_READ)) {
        GST_ELEMENT_ERROR(sink, RESOURCE, READ, (NULL), ("cannot map a buffer"));
        ret = GST_FLOW_ERROR;
        goto out;
    }
    flp_frame_t f = {
        .track = video ? TRACK_VIDEO : TRACK_AUDIO,
        .pts_ns = pts,
        .dts_ns = dts,
        .duration_ns = GST_BUFFER_DURATION_IS_VALID(buf) ? (int64_t)GST_BUFFER_DURATION(buf) : 0,
        .keyframe = video ? !GST_BUFFER_FLAG_IS_SET(buf, GST_BUFFER_FLAG_DELTA_UNIT) : 1,
        .data = map.data,
        .size = map.size,
    };
    int rc = flp_stream_put_frame(sink->stream, &f);
    gst_buffer_unmap(buf, &map);
    switch (rc) {
    case 0:
        if (video && f.keyframe)
            sink->video_started = TRUE;
        t->last_ts = dts;
        t->sent_any = TRUE;
        break;
    case FLP_EINVAL:
        /* before the first key frame, or a timestamp going back */
        if (t->refused++ == 0 || sink->video_started)
            GST_WARNING_OBJECT(sink, "SDK refused a %s frame (dts %" G_GINT64_FORMAT " ns)",
                               video ? "video" : "audio", dts);
        break;
    case FLP_ENOSPC:
        t->refused++;
        GST_ELEMENT_WARNING(sink, RESOURCE, NO_SPACE_LEFT,
                            ("A %zu byte frame does not fit in the store (buffer-size)", f.size),
                            (NULL));
        break;
    default:
        if (!g_atomic_int_get(&sink->fatal))
            GST_ELEMENT_ERROR(sink, RESOURCE, WRITE, ("Cannot send a frame to framelog"),
                              ("flp_stream_put_frame: %s", flp_strerror(rc)));
        g_atomic_int_set(&sink->fatal, 1);
        ret = GST_FLOW_ERROR;
        break;
    }
out:
    g_cond_broadcast(&sink->cond);
    g_mutex_unlock(&sink->lock);
    return ret;
}

static GstFlowReturn gst_framelog_sink_render(GstBaseSink *bsink, GstBuffer *buf)
{
    GstFramelogSink *sink = GST_FRAMELOG_SINK(bsink);
    return fls_put(sink, &sink->video, &bsink->segment, buf);
}

static gboolean gst_framelog_sink_set_caps(GstBaseSink *bsink, GstCaps *caps)
{
    GstFramelogSink *sink = GST_FRAMELOG_SINK(bsink);
    GST_DEBUG_OBJECT(sink, "video caps %" GST_PTR_FORMAT, caps);
    return fls_set_track_caps(sink, &sink->video, caps);
}

/* EOS on the video pad: wait for the audio pad's EOS, then stop the stream
 * so that every fragment is acked before the base class posts EOS. */
static gboolean fls_video_eos(GstFramelogSink *sink)
{
    g_mutex_lock(&sink->lock);
    sink->video.eos = TRUE;
    g_cond_broadcast(&sink->cond);
    while (sink->audio_pad && sink->audio.have_caps && !sink->audio.eos && !sink->flushing)
        g_cond_wait(&sink->cond, &sink->lock);
    gboolean flushing = sink->flushing;
    flp_stream_t *stream = sink->stream;
    if (!flushing && stream != NULL)
        sink->stopped = TRUE; /* from here it takes no more frames */
    g_mutex_unlock(&sink->lock);
    if (flushing || stream == NULL)
        return TRUE;

    GST_OBJECT_LOCK(sink);
    guint timeout_s = sink->stop_timeout;
    GST_OBJECT_UNLOCK(sink);
    /* stream stays valid: only stop() frees it, after this thread is done.
     * flp_stream_stop() is asked in slices so that a flush or a state change
     * (unlock()) or an error posted meanwhile ends the wait early; a slice
     * that returns early is the SDK's final answer. */
    gint64 end = g_get_monotonic_time() + (gint64)MIN(timeout_s, 86400u) * G_TIME_SPAN_SECOND;
    int rc;
    for (;;) {
        gint64 now = g_get_monotonic_time();
        gint64 slice_ms = MAX(0, MIN(FLS_STOP_SLICE_MS, (end - now) / 1000));
        rc = flp_stream_stop(stream, (int)slice_ms);
        if (rc != FLP_ETIMEDOUT || g_get_monotonic_time() >= end ||
            g_get_monotonic_time() - now < slice_ms * 1000 / 2)
            break;
        g_mutex_lock(&sink->lock);
        flushing = sink->flushing;
        g_mutex_unlock(&sink->lock);
        if (flushing) {
            GST_INFO_OBJECT(sink, "flushing: not waiting for the acks any longer");
            return TRUE;
        }
        if (g_atomic_int_get(&sink->fatal))
            return FALSE; /* the error is posted already */
    }
    if (rc != 0 && !g_atomic_int_get(&sink->fatal)) {
        flp_stream_stats_t st;
        memset(&st, 0, sizeof st);
        flp_stream_stats(stream, &st);
        GST_ELEMENT_ERROR(
            sink, RESOURCE, WRITE,
            ("Not every fragment was acked PERSISTED at EOS (%" G_GUINT64_FORMAT
             " of %" G_GUINT64_FORMAT ")",
             (guint64)st.fragments_persisted, (guint64)st.fragments),
            ("flp_stream_stop: %s after %u s (stop-timeout)", flp_strerror(rc), timeout_s));
        return FALSE;
    }
    if (rc != 0)
        return FALSE;
    GST_INFO_OBJECT(sink, "stopped: every fragment persisted");
    return TRUE;
}

/* A flush on the video pad (a seek, typically after EOS). A stream that
 * EOS stopped takes no more frames: free it, so that the next video key
 * frame starts a new one (which begins after what the server holds, see
 * fls_start_stream). The video streaming thread is the one here; the audio
 * pad uses the stream only under the lock. */
static void fls_restart_after_eos(GstFramelogSink *sink)
{
    flp_stream_t *old = NULL;
    g_mutex_lock(&sink->lock);
    sink->video.eos = FALSE;
    if (sink->stopped) {
        old = sink->stream;
        sink->stream = NULL;
        sink->stopped = FALSE;
        sink->video_started = FALSE;
        fls_track_t *t[2] = {&sink->video, &sink->audio};
        for (int i = 0; i < 2; i++) {
            t[i]->in_stream = FALSE;
            t[i]->sent_any = FALSE;
            t[i]->stalled = FALSE;
        }
    }
    g_cond_broadcast(&sink->cond);
    g_mutex_unlock(&sink->lock);
    if (old) {
        GST_INFO_OBJECT(sink, "flushed after EOS: the next key frame starts the stream again");
        flp_stream_free(old);
    }
}

static gboolean gst_framelog_sink_event(GstBaseSink *bsink, GstEvent *event)
{
    GstFramelogSink *sink = GST_FRAMELOG_SINK(bsink);
    switch (GST_EVENT_TYPE(event)) {
    case GST_EVENT_EOS:
        if (!fls_video_eos(sink)) {
            gst_event_unref(event);
            return FALSE;
        }
        break;
    case GST_EVENT_FLUSH_STOP:
        fls_restart_after_eos(sink);
        break;
    default:
        break;
    }
    return GST_BASE_SINK_CLASS(gst_framelog_sink_parent_class)->event(bsink, event);
}

static gboolean gst_framelog_sink_unlock(GstBaseSink *bsink)
{
    GstFramelogSink *sink = GST_FRAMELOG_SINK(bsink);
    g_mutex_lock(&sink->lock);
    sink->flushing = TRUE;
    g_cond_broadcast(&sink->cond);
    g_mutex_unlock(&sink->lock);
    return TRUE;
}

static gboolean gst_framelog_sink_unlock_stop(GstBaseSink *bsink)
{
    GstFramelogSink *sink = GST_FRAMELOG_SINK(bsink);
    g_mutex_lock(&sink->lock);
    sink->flushing = FALSE;
    g_mutex_unlock(&sink->lock);
    return TRUE;
}

/* ---- the audio pad ---- */

static GstFlowReturn fls_audio_chain(GstPad *pad, GstObject *parent, GstBuffer *buf)
{
    GstFramelogSink *sink = GST_FRAMELOG_SINK(parent);
    (void)pad;
    GstFlowReturn ret = fls_put(sink, &sink->audio, &sink->audio.segment, buf);
    gst_buffer_unref(buf);
    return ret;
}

static gboolean fls_audio_event(GstPad *pad, GstObject *parent, GstEvent *event)
{
    GstFramelogSink *sink = GST_FRAMELOG_SINK(parent);
    gboolean ok = TRUE;
    (void)pad;
    switch (GST_EVENT_TYPE(event)) {
    case GST_EVENT_CAPS: {
        GstCaps *caps;
        gst_event_parse_caps(event, &caps);
        GST_DEBUG_OBJECT(sink, "audio caps %" GST_PTR_FORMAT, caps);
        ok = fls_set_track_caps(sink, &sink->audio, caps);
        break;
    }
    case GST_EVENT_SEGMENT: {
        const GstSegment *seg;
        gst_event_parse_segment(event, &seg);
        if (seg->format != GST_FORMAT_TIME) {
            GST_ELEMENT_ERROR(sink, STREAM, FORMAT, (NULL), ("audio segment not in time"));
            ok = FALSE;
        } else {
            gst_segment_copy_into(seg, &sink->audio.segment);
        }
        break;
    }
    case GST_EVENT_EOS:
        g_mutex_lock(&sink->lock);
        sink->audio.eos = TRUE;
        g_cond_broadcast(&sink->cond);
        g_mutex_unlock(&sink->lock);
        break;
    case GST_EVENT_FLUSH_START:
        g_mutex_lock(&sink->lock);
        sink->audio.flushing = TRUE;
        g_cond_broadcast(&sink->cond);
        g_mutex_unlock(&sink->lock);
        break;
    case GST_EVENT_FLUSH_STOP:
        g_mutex_lock(&sink->lock);
        sink->audio.flushing = FALSE;
        sink->audio.eos = FALSE;
        gst_segment_init(&sink->audio.segment, GST_FORMAT_TIME);
        g_mutex_unlock(&sink->lock);
        break;
    default:
        break;
    }
    gst_event_unref(event);
    return ok;
}

static gboolean fls_audio_activate_mode(GstPad *pad, GstObject *parent, GstPadMode mode,
                                        gboolean active)
{
    GstFramelogSink *sink = GST_FRAMELOG_SINK(parent);
    (void)pad;
    if (mode != GST_PAD_MODE_PUSH)
        return FALSE;
    g_mutex_lock(&sink->lock);
    sink->audio.flushing = !active;
    if (active) {
        sink->audio.eos = FALSE;
        sink->audio.sent_any = FALSE;
        sink->audio.stalled = FALSE;
        gst_segment_init(&sink->audio.segment, GST_FORMAT_TIME);
    }
    g_cond_broadcast(&sink->cond);
    g_mutex_unlock(&sink->lock);
    return TRUE;
}

static GstPad *gst_framelog_sink_request_new_pad(GstElement *element, GstPadTemplate *templ,
                                                 const gchar *name, const GstCaps *caps)
{
    GstFramelogSink *sink = GST_FRAMELOG_SINK(element);
    (void)caps;
    g_mutex_lock(&sink->lock);
    gboolean taken = sink->audio_pad != NULL || sink->stream != NULL;
    g_mutex_unlock(&sink->lock);
    if (taken) {
        GST_WARNING_OBJECT(sink, "only one audio pad, requested before the stream starts");
        return NULL;
    }
    GstPad *pad = gst_pad_new_from_template(templ, name ? name : "audio_0");
    gst_pad_set_chain_function(pad, GST_DEBUG_FUNCPTR(fls_audio_chain));
    gst_pad_set_event_function(pad, GST_DEBUG_FUNCPTR(fls_audio_event));
    gst_pad_set_activatemode_function(pad, GST_DEBUG_FUNCPTR(fls_audio_activate_mode));
    GST_PAD_SET_PROXY_CAPS(pad);
    g_mutex_lock(&sink->lock);
    fls_track_reset(&sink->audio);
    sink->audio_pad = pad;
    g_mutex_unlock(&sink->lock);
    if (!gst_element_add_pad(element, pad)) {
        g_mutex_lock(&sink->lock);
        sink->audio_pad = NULL;
        g_mutex_unlock(&sink->lock);
        gst_object_unref(pad);
        return NULL;
    }
    return pad;
}

static void gst_framelog_sink_release_pad(GstElement *element, GstPad *pad)
{
    GstFramelogSink *sink = GST_FRAMELOG_SINK(element);
    g_mutex_lock(&sink->lock);
    if (sink->audio_pad == pad) {
        sink->audio_pad = NULL;
        sink->audio.eos = TRUE;
        g_cond_broadcast(&sink->cond);
    }
    g_mutex_unlock(&sink->lock);
    gst_pad_set_active(pad, FALSE);
    gst_element_remove_pad(element, pad);
}

/* ---- properties and class ---- */

static void fls_set_string(GstFramelogSink *sink, gchar **field, const GValue *value)
{
    GST_OBJECT_LOCK(sink);
    g_free(*field);
    *field = g_value_dup_string(value);
    GST_OBJECT_UNLOCK(sink);
}

static void gst_framelog_sink_set_property(GObject *object, guint prop_id, const GValue *value,
                                           GParamSpec *pspec)
{
    GstFramelogSink *sink = GST_FRAMELOG_SINK(object);
    switch (prop_id) {
    case PROP_STREAM_NAME:
        fls_set_string(sink, &sink->stream_name, value);
        break;
    case PROP_ENDPOINT:
        fls_set_string(sink, &sink->endpoint, value);
        break;
    case PROP_REGION:
        fls_set_string(sink, &sink->region, value);
        break;
    case PROP_ACCESS_KEY:
        fls_set_string(sink, &sink->access_key, value);
        break;
    case PROP_SECRET_KEY:
        fls_set_string(sink, &sink->secret_key, value);
        break;
    case PROP_SESSION_TOKEN:
        fls_set_string(sink, &sink->session_token, value);
        break;
    case PROP_CA_FILE:
        fls_set_string(sink, &sink->ca_file, value);
        break;
    case PROP_CONTENT_TYPE:
        fls_set_string(sink, &sink->content_type, value);
        break;
    case PROP_STORAGE_PATH:
        fls_set_string(sink, &sink->storage_path, value);
        break;
    case PROP_STORAGE_KEY:
        fls_set_string(sink, &sink->storage_key, value);
        break;
    case PROP_CREATE_STREAM:
        GST_OBJECT_LOCK(sink);
        sink->create_stream = g_value_get_boolean(value);
        GST_OBJECT_UNLOCK(sink);
        break;
    case PROP_RETENTION_PERIOD:
        GST_OBJECT_LOCK(sink);
        sink->retention_period = g_value_get_uint(value);
        GST_OBJECT_UNLOCK(sink);
        break;
    case PROP_BUFFER_SIZE:
        GST_OBJECT_LOCK(sink);
        sink->buffer_size = g_value_get_uint64(value);
        GST_OBJECT_UNLOCK(sink);
        break;
    case PROP_FRAGMENT_DURATION:
        GST_OBJECT_LOCK(sink);
        sink->fragment_duration = g_value_get_uint(value);
        GST_OBJECT_UNLOCK(sink);
        break;
    case PROP_STOP_TIMEOUT:
        GST_OBJECT_LOCK(sink);
        sink->stop_timeout = g_value_get_uint(value);
        GST_OBJECT_UNLOCK(sink);
        break;
    default:
        G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
        break;
    }
}

static void gst_framelog_sink_get_property(GObject *object, guint prop_id, GValue *value,
                                           GParamSpec *pspec)
{
    GstFramelogSink *sink = GST_FRAMELOG_SINK(object);
    GST_OBJECT_LOCK(sink);
    switch (prop_id) {
    case PROP_STREAM_NAME:
        g_value_set_string(value, sink->stream_name);
        break;
    case PROP_ENDPOINT:
        g_value_set_string(value, sink->endpoint);
        break;
    case PROP_REGION:
        g_value_set_string(value, sink->region);
        break;
    case PROP_ACCESS_KEY:
        g_value_set_string(value, sink->access_key);
        break;
    case PROP_SECRET_KEY:
        g_value_set_string(value, sink->secret_key);
        break;
    case PROP_SESSION_TOKEN:
        g_value_set_string(value, sink->session_token);
        break;
    case PROP_CA_FILE:
        g_value_set_string(value, sink->ca_file);
        break;
    case PROP_CONTENT_TYPE:
        g_value_set_string(value, sink->content_type);
        break;
    case PROP_STORAGE_PATH:
        g_value_set_string(value, sink->storage_path);
        break;
    case PROP_STORAGE_KEY:
        g_value_set_string(value, sink->storage_key);
        break;
    case PROP_CREATE_STREAM:
        g_value_set_boolean(value, sink->create_stream);
        break;
    case PROP_RETENTION_PERIOD:
        g_value_set_uint(value, sink->retention_period);
        break;
    case PROP_BUFFER_SIZE:
        g_value_set_uint64(value, sink->buffer_size);
        break;
    case PROP_FRAGMENT_DURATION:
        g_value_set_uint(value, sink->fragment_duration);
        break;
    case PROP_STOP_TIMEOUT:
        g_value_set_uint(value, sink->stop_timeout);
        break;
    default:
        G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
        break;
    }
    GST_OBJECT_UNLOCK(sink);
}

static void gst_framelog_sink_finalize(GObject *object)
{
    GstFramelogSink *sink = GST_FRAMELOG_SINK(object);
    g_free(sink->stream_name);
    g_free(sink->endpoint);
    g_free(sink->region);
    g_free(sink->access_key);
    g_free(sink->secret_key);
    g_free(sink->session_token);
    g_free(sink->ca_file);
    g_free(sink->content_type);
    g_free(sink->storage_path);
    g_free(sink->storage_key);
    fls_track_reset(&sink->video);
    fls_track_reset(&sink->audio);
    g_mutex_clear(&sink->lock);
    g_cond_clear(&sink->cond);
    G_OBJECT_CLASS(gst_framelog_sink_parent_class)->finalize(object);
}

static void gst_framelog_sink_init(GstFramelogSink *sink)
{
    g_mutex_init(&sink->lock);
    g_cond_init(&sink->cond);
    sink->endpoint = g_strdup(DEFAULT_ENDPOINT);
    sink->content_type = g_strdup(DEFAULT_CONTENT_TYPE);
    sink->create_stream = DEFAULT_CREATE_STREAM;
    sink->retention_period = DEFAULT_RETENTION_HOURS;
    sink->buffer_size = DEFAULT_BUFFER_SIZE;
    sink->fragment_duration = DEFAULT_FRAGMENT_DURATION;
    sink->stop_timeout = DEFAULT_STOP_TIMEOUT;
    fls_track_reset(&sink->video);
    fls_track_reset(&sink->audio);
    gst_base_sink_set_sync(GST_BASE_SINK(sink), FALSE);
    gst_base_sink_set_last_sample_enabled(GST_BASE_SINK(sink), FALSE);
}

static void fls_string_prop(GObjectClass *oc, guint id, const char *name, const char *blurb,
                            const char *def)
{
    g_object_class_install_property(
        oc, id,
        g_param_spec_string(name, name, blurb, def,
                            G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));
}

static void fls_uint_prop(GObjectClass *oc, guint id, const char *name, const char *blurb,
                          guint min, guint max, guint def)
{
    g_object_class_install_property(
        oc, id,
        g_param_spec_uint(name, name, blurb, min, max, def,
                          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));
}

static void gst_framelog_sink_class_init(GstFramelogSinkClass *klass)
{
    GObjectClass *oc = G_OBJECT_CLASS(klass);
    GstElementClass *ec = GST_ELEMENT_CLASS(klass);
    GstBaseSinkClass *bc = GST_BASE_SINK_CLASS(klass);

    GST_DEBUG_CATEGORY_INIT(framelogsink_debug, "framelogsink", 0, "framelog sink");

    oc->set_property = gst_framelog_sink_set_property;
    oc->get_property = gst_framelog_sink_get_property;
    oc->finalize = gst_framelog_sink_finalize;

    fls_string_prop(oc, PROP_STREAM_NAME, "stream-name", "Name of the stream on the server", NULL);
    fls_string_prop(oc, PROP_ENDPOINT, "endpoint",
                    "Server URL: https://host:port, or http://host:port on loopback",
                    DEFAULT_ENDPOINT);
    fls_string_prop(oc, PROP_REGION, "region", "Signing region (NULL: us-east-1)", NULL);
    fls_string_prop(oc, PROP_ACCESS_KEY, "access-key",
                    "Access key id for Signature V4 (NULL: unsigned requests)", NULL);
    fls_string_prop(oc, PROP_SECRET_KEY, "secret-key", "Secret access key", NULL);
    fls_string_prop(oc, PROP_SESSION_TOKEN, "session-token", "Session token (NULL: none)", NULL);
    fls_string_prop(oc, PROP_CA_FILE, "ca-file",
                    "PEM file of trusted CAs for https (NULL: the system's trust store)", NULL);
    fls_string_prop(oc, PROP_CONTENT_TYPE, "content-type", "Media type given to CreateStream",
                    DEFAULT_CONTENT_TYPE);
    fls_string_prop(oc, PROP_STORAGE_PATH, "storage-path",
                    "Also keep the content store in this file, sealed with storage-key, so "
                    "fragments not yet persisted survive a restart (NULL: memory only)",
                    NULL);
    fls_string_prop(oc, PROP_STORAGE_KEY, "storage-key",
                    "AES-256 key for storage-path, as 64 hex digits", NULL);
    g_object_class_install_property(
        oc, PROP_CREATE_STREAM,
        g_param_spec_boolean("create-stream", "create-stream",
                             "Create the stream at start if it does not exist (FALSE: it must "
                             "exist)",
                             DEFAULT_CREATE_STREAM,
                             G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));
    fls_uint_prop(oc, PROP_RETENTION_PERIOD, "retention-period",
                  "Retention in hours for a stream created by create-stream", 0, 87600,
                  DEFAULT_RETENTION_HOURS);
    g_object_class_install_property(
        oc, PROP_BUFFER_SIZE,
        g_param_spec_uint64("buffer-size", "buffer-size",
                            "Bytes of the content store holding fragments until persisted",
                            MIN_BUFFER_SIZE, G_MAXSIZE, DEFAULT_BUFFER_SIZE,
                            G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));
    fls_uint_prop(oc, PROP_FRAGMENT_DURATION, "fragment-duration",
                  "Milliseconds: a key frame this long after a fragment's start begins the "
                  "next one (0: every key frame)",
                  0, 600000, DEFAULT_FRAGMENT_DURATION);
    fls_uint_prop(oc, PROP_STOP_TIMEOUT, "stop-timeout",
                  "Seconds EOS waits for every fragment to be acked PERSISTED", 0, 86400,
                  DEFAULT_STOP_TIMEOUT);

    /**
     * GstFramelogSink::fragment-ack:
     * @sink: the element
     * @type: "BUFFERING", "RECEIVED", "PERSISTED", "ERROR" or "IDLE"
     * @timecode_ms: the fragment's timecode, ms since the epoch
     * @number: the fragment number, "" for IDLE
     *
     * An ack from the server. Emitted from the SDK's sender thread.
     */
    fls_signals[SIGNAL_FRAGMENT_ACK] =
        g_signal_new("fragment-ack", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                     NULL, G_TYPE_NONE, 3, G_TYPE_STRING, G_TYPE_INT64, G_TYPE_STRING);
    /**
     * GstFramelogSink::stream-error:
     * @sink: the element
     * @error_id: the server's error id, 0 when the error is local
     * @message: what happened, with the server's reason
     *
     * An error reported by the SDK. Emitted from the SDK's sender thread.
     */
    fls_signals[SIGNAL_STREAM_ERROR] =
        g_signal_new("stream-error", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                     NULL, G_TYPE_NONE, 2, G_TYPE_INT, G_TYPE_STRING);

    gst_element_class_add_static_pad_template(ec, &sink_template);
    gst_element_class_add_static_pad_template(ec, &audio_template);
    gst_element_class_set_static_metadata(
        ec, "framelog sink", "Sink/Network",
        "Sends H.264/H.265 video and AAC audio to a framelog server through "
        "libframelog-producer (Kinesis-Video-like PutMedia)",
        "framelog");
    ec->request_new_pad = GST_DEBUG_FUNCPTR(gst_framelog_sink_request_new_pad);
    ec->release_pad = GST_DEBUG_FUNCPTR(gst_framelog_sink_release_pad);

    bc->start = GST_DEBUG_FUNCPTR(gst_framelog_sink_start);
    bc->stop = GST_DEBUG_FUNCPTR(gst_framelog_sink_stop);
    bc->set_caps = GST_DEBUG_FUNCPTR(gst_framelog_sink_set_caps);
    bc->render = GST_DEBUG_FUNCPTR(gst_framelog_sink_render);
    bc->event = GST_DEBUG_FUNCPTR(gst_framelog_sink_event);
    bc->unlock = GST_DEBUG_FUNCPTR(gst_framelog_sink_unlock);
    bc->unlock_stop = GST_DEBUG_FUNCPTR(gst_framelog_sink_unlock_stop);
}

static gboolean plugin_init(GstPlugin *plugin)
{
    return gst_element_register(plugin, "framelogsink", GST_RANK_NONE, GST_TYPE_FRAMELOG_SINK);
}

/* GST_PLUGIN_DEFINE leaves GstPluginDesc's padding to zero-initialisation.
 * The licence is one of the names GStreamer 1.22 accepts (gstplugin.c's
 * valid_licenses: "Apache 2.0" among them); any other keeps the plugin
 * from loading. */
#define PACKAGE "framelog"
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
GST_PLUGIN_DEFINE(GST_VERSION_MAJOR, GST_VERSION_MINOR, framelog,
                  "framelog producer elements (framelogsink)", plugin_init, FLP_VERSION,
                  "Apache 2.0", "framelog", "framelog")
#pragma GCC diagnostic pop
