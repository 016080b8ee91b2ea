/*
 * server/kvs/kvs.h — the Kinesis Video APIs, shared by the files of
 * server/kvs/ only: the control plane (api_streams.c), PutMedia over HTTP
 * and WebSocket (api_putmedia.c), GetMedia and GetMediaForFragmentList
 * (api_getmedia.c), ListFragments (api_fragments.c). kvs.c is the module
 * that registers them (core/module.h).
 */
#ifndef FL_SERVER_KVS_KVS_H
#define FL_SERVER_KVS_KVS_H

#include <libwebsockets.h>

#include "common/clock.h"
#include "server/core/http.h"
#include "server/core/limits.h"
#include "server/core/metrics.h"
#include "server/core/module.h"
#include "server/core/server.h"
#include "server/video/stream_ref.h"
#include "server/video/video.h"

/* Per-stream admission state of the media APIs (rates.c), shared by the
 * loops: the buckets and the reader count are atomic (a stream's
 * producers and readers may be on different loops); the table's own
 * fields are under its lock. */
typedef struct fl_stream_rate {
    struct fl_stream_rate *next;
    struct fl_kvs_rates *tab;
    char name[FL_STREAM_NAME_MAX + 1];
    fl_bucket_t connects; /* PutMedia connections (--putmedia-max-connections-per-second) */
    fl_bucket_t bytes;    /* PutMedia body bytes (--putmedia-max-bytes-per-second) */
    _Atomic int readers;  /* open GetMedia readers (--getmedia-max-readers) */
    int holders;          /* connections holding the entry (table's lock) */
    int64_t last_ns;      /* monotonic: last held or released (table's lock) */
} fl_stream_rate_t;
typedef struct fl_kvs_rates fl_kvs_rates_t;
int fl_kvs_rates_new(fl_kvs_rates_t **out);
void fl_kvs_rates_free(fl_kvs_rates_t *r);
/* The entry for a stream, made if need be, held (NULL: out of memory). */
fl_stream_rate_t *fl_kvs_rates_hold(fl_kvs_rates_t *r, const char *name);
void fl_kvs_rates_release(fl_stream_rate_t *e);
/* Count one more GetMedia reader unless max are open: 0, or FL_ELIMIT
 * (*open: how many are). Give it back with fl_kvs_rates_reader_end. */
int fl_kvs_rates_reader_begin(fl_stream_rate_t *e, long max, int *open);
void fl_kvs_rates_reader_end(fl_stream_rate_t *e);
/* Drop entries nobody holds that have been idle long enough (the tick). */
void fl_kvs_rates_prune(fl_kvs_rates_t *r, int64_t now_ns);

/* The module's state. The session lists are per loop, each touched by
 * its loop only. */
typedef struct fl_kvs {
    struct fl_server *srv;
    fl_video_t *video;
    struct putmedia *putmedia[FL_CONFIG_MAX_LOOPS]; /* PutMedia sessions (api_putmedia.c's
                                                       lists), by loop */
    fl_kvs_rates_t *rates;                          /* per-stream admission (rates.c) */
} fl_kvs_t;

extern const fl_module_t fl_kvs_module;

/* The control plane (api_streams.c). */
void fl_api_create_stream(fl_http_req_t *req);
void fl_api_describe_stream(fl_http_req_t *req);
void fl_api_list_streams(fl_http_req_t *req);
void fl_api_delete_stream(fl_http_req_t *req);
void fl_api_update_stream(fl_http_req_t *req);
void fl_api_update_data_retention(fl_http_req_t *req);
void fl_api_tag_stream(fl_http_req_t *req);
void fl_api_untag_stream(fl_http_req_t *req);
void fl_api_list_tags_for_stream(fl_http_req_t *req);
void fl_api_tag_resource(fl_http_req_t *req);
void fl_api_untag_resource(fl_http_req_t *req);
void fl_api_list_tags_for_resource(fl_http_req_t *req);
void fl_api_get_data_endpoint(fl_http_req_t *req);
/* Stored configurations (api_streams.c): validated, kept, returned. */
void fl_api_describe_image_generation_configuration(fl_http_req_t *req);
void fl_api_update_image_generation_configuration(fl_http_req_t *req);
void fl_api_describe_notification_configuration(fl_http_req_t *req);
void fl_api_update_notification_configuration(fl_http_req_t *req);
void fl_api_describe_stream_storage_configuration(fl_http_req_t *req);
void fl_api_update_stream_storage_configuration(fl_http_req_t *req);
void fl_api_describe_media_storage_configuration(fl_http_req_t *req);

/* Media (api_putmedia.c, api_getmedia.c, api_fragments.c). */
extern const fl_http_stream_ops_t fl_putmedia_ops;
/* Housekeeping, every FL_TICK_MS on each loop: IDLE acks to that loop's
 * producers that got none. */
void fl_putmedia_tick(void *kvs, int loop);
int fl_putmedia_ws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                            size_t len);
void fl_api_get_media(fl_http_req_t *req);
void fl_api_get_media_for_fragment_list(fl_http_req_t *req);
void fl_api_list_fragments(fl_http_req_t *req);
/* The stream a media request names (StreamName/StreamARN in its JSON
 * body), got for action. Responds with the error and returns -1 when
 * there is none. */
int fl_api_media_stream(fl_http_req_t *r, const char *action, fl_stream_ref_t *ref);

/* Times are reported in milliseconds, truncated (ServerTimestamp,
 * ProducerTimestamp, the GetMedia tags), while the server keeps nanoseconds:
 * a stored time is compared with a client's bound as it is reported, so
 * that a bound copied from a response matches the fragment it came from. */
#define FL_KVS_TS_UNIT_NS INT64_C(1000000)
static inline int64_t fl_kvs_reported_ns(int64_t ns)
{
    return ns - ns % FL_KVS_TS_UNIT_NS;
}
/* The earliest stored time whose reported time is >= ns. */
static inline int64_t fl_kvs_reported_ceil_ns(int64_t ns)
{
    int64_t r = fl_kvs_reported_ns(ns);
    return r == ns ? r : r + FL_KVS_TS_UNIT_NS;
}

/* Storage completions are dispatched on the loop to the fl_completion_t
 * each append was given as its cookie (core/server.h). */

#endif
