/*
 * server/video/video.h — the video room: Kinesis Video streams kept as
 * storage logs (streams.h), who is using them now (hub.h, with each
 * stream's live tail) and the counters of media in and out.
 *
 * Video is a module (core/module.h) with state and metrics but no routes:
 * the features that serve video (kvs/ now; playback/, hooks/, webrtc/
 * later) find it with fl_video_of() and reach a stream only through a
 * stream reference (stream_ref.h). Shared by the loops: `streams` is
 * thread-safe, the hub has its lock (hub.h), the metrics are atomics.
 */
#ifndef FL_SERVER_VIDEO_VIDEO_H
#define FL_SERVER_VIDEO_VIDEO_H

#include <stdint.h>

#include "server/core/metrics.h"
#include "server/core/module.h"
#include "server/video/hub.h"
#include "server/video/streams.h"

/* Bumped by every loop: atomics. */
typedef struct {
    _Atomic uint64_t fragments_in;      /* fragments appended by PutMedia */
    _Atomic uint64_t fragments_resent;  /* resends of stored fragments, acked again */
    _Atomic uint64_t fragment_bytes_in; /* their stored bytes */
    _Atomic int64_t producers;          /* PutMedia sessions open */
    _Atomic int64_t live_readers;       /* GetMedia responses open */
    fl_metric_ms_hist_t ack;            /* PERSISTED latency: RECEIVED to durable */
} fl_video_metrics_t;

typedef struct fl_video {
    struct fl_server *srv;
    fl_video_streams_t *streams;
    fl_hub_t *hub;
    fl_video_metrics_t metrics;
} fl_video_t;

extern const fl_module_t fl_video_module;

/* The server's video room (its module state). */
fl_video_t *fl_video_of(const struct fl_server *s);

#endif
