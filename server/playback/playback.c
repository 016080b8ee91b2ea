/*
 * server/playback/playback.c — the playback room as a module
 * (core/module.h): the playback key (token.h), the routes of HLS sessions,
 * and the room's counters.
 *
 * CORS: browsers play HLS from pages on other origins (hls.js fetches
 * playlists and segments with XHR), so every route of this room is a
 * CORS route (FL_ROUTE_AWS, or FL_ROUTE_CORS for the GETs): the core
 * answers preflights and says who may read each answer (core/cors.h,
 * --cors-origins).
 */
#include "server/playback/playback.h"

#include "server/core/token.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "server/core/config.h"
#include "server/core/metrics.h"
#include "server/core/server.h"

#define HLS(p, n, h)                                                                               \
    {                                                                                              \
        .method = FL_HTTP_GET, .path = "/hls/v1/" p, .name = n, .handler = h,                      \
        .flags = FL_ROUTE_CORS                                                                     \
    }

#define DASH(p, n, h)                                                                              \
    {                                                                                              \
        .method = FL_HTTP_GET, .path = "/dash/v1/" p, .name = n, .handler = h,                     \
        .flags = FL_ROUTE_CORS                                                                     \
    }

static const fl_route_t pb_routes[] = {
    {.method = FL_HTTP_POST,
     .path = "/getHLSStreamingSessionURL",
     .name = "GetHLSStreamingSessionURL",
     .handler = fl_pb_get_hls_session_url,
     .flags = FL_ROUTE_AWS},
    {.method = FL_HTTP_POST,
     .path = "/getClip",
     .name = "GetClip",
     .handler = fl_pb_get_clip,
     .flags = FL_ROUTE_AWS},
    {.method = FL_HTTP_POST,
     .path = "/getImages",
     .name = "GetImages",
     .handler = fl_pb_get_images,
     .flags = FL_ROUTE_AWS},
    {.method = FL_HTTP_POST,
     .path = "/getDASHStreamingSessionURL",
     .name = "GetDASHStreamingSessionURL",
     .handler = fl_pb_get_dash_session_url,
     .flags = FL_ROUTE_AWS},
    DASH("getDASHManifest.mpd", "GetDASHManifest", fl_pb_dash_manifest),
    DASH("getMP4InitFragment.mp4", "GetDASHMP4InitFragment", fl_pb_dash_init),
    DASH("getMP4MediaFragment.mp4", "GetDASHMP4MediaFragment", fl_pb_dash_media),
    {.method = FL_HTTP_GET,
     .path = "/dash/v1/",
     .name = "DASHOther",
     .handler = fl_pb_dash_other,
     .flags = FL_ROUTE_CORS,
     .match = FL_MATCH_PREFIX},
    HLS("getHLSMasterPlaylist.m3u8", "GetHLSMasterPlaylist", fl_pb_hls_master),
    HLS("getHLSMediaPlaylist.m3u8", "GetHLSMediaPlaylist", fl_pb_hls_media),
    HLS("getMP4InitFragment.mp4", "GetMP4InitFragment", fl_pb_hls_init),
    HLS("getMP4MediaFragment.mp4", "GetMP4MediaFragment", fl_pb_hls_mp4_fragment),
    HLS("getTSFragment.ts", "GetTSFragment", fl_pb_hls_ts_fragment),
    /* any other path of the session's folder: 404, with CORS headers */
    {.method = FL_HTTP_GET,
     .path = "/hls/v1/",
     .name = "HLSOther",
     .handler = fl_pb_hls_other,
     .flags = FL_ROUTE_CORS,
     .match = FL_MATCH_PREFIX},
    {.path = NULL},
};

/* A fragment of a stream is durable (the PERSISTED event, on its tail's
 * loop): LIVE lists made before it are out of date. */
static void pb_durable(void *data, const char *stream, uint64_t log_id, uint64_t seq,
                       int64_t producer_ms, int64_t server_ns, uint64_t bytes, uint32_t frames)
{
    fl_playback_t *pb = data;
    (void)stream, (void)seq, (void)producer_ms, (void)server_ns, (void)bytes, (void)frames;
    atomic_fetch_add(&pb->edge_gen[(log_id ^ log_id >> 29) % FL_PB_EDGE_SLOTS], 1);
}

static const fl_live_observer_t pb_observer = {.durable = pb_durable};

static int pb_init(struct fl_server *s, void **state, char *err, size_t errlen)
{
    fl_playback_t *pb = calloc(1, sizeof *pb);
    if (!pb) {
        snprintf(err, errlen, "playback: out of memory");
        return FL_ENOMEM;
    }
    pb->srv = s;
    pb->video = fl_video_of(s);
    if (!pb->video) {
        free(pb);
        snprintf(err, errlen, "playback: the video module must come first in the module list");
        return FL_EINVAL;
    }
    /* the sessions' key: the server's token key (core/token.h), made for
     * this purpose only */
    fl_token_subkey(fl_server_token_key(s), FL_PB_KEY_LABEL, pb->key);
    /* a segment cache per event loop (playback.h) */
    pb->n_loops = fl_server_loops(s);
    for (int i = 0; i < pb->n_loops; i++)
        if (fl_pb_cache_new(&pb->caches[i]) != 0) {
            for (int k = 0; k < i; k++)
                fl_pb_cache_free(pb->caches[k]);
            free(pb);
            snprintf(err, errlen, "playback: out of memory");
            return FL_ENOMEM;
        }
    if (fl_hub_observe(pb->video->hub, &pb_observer, pb) != 0) {
        for (int i = 0; i < pb->n_loops; i++)
            fl_pb_cache_free(pb->caches[i]);
        free(pb);
        snprintf(err, errlen, "playback: too many live tail observers");
        return FL_ELIMIT;
    }
    *state = pb;
    return 0;
}

static void pb_fini(void *state)
{
    fl_playback_t *pb = state;
    if (!pb)
        return;
    fl_hub_unobserve(pb->video->hub, &pb_observer, pb);
    fl_pb_follow_free_all(pb);
    for (int i = 0; i < pb->n_loops; i++)
        fl_pb_cache_free(pb->caches[i]);
    for (int i = 0; i < FL_CONFIG_MAX_LOOPS; i++)
        fl_pb_token_cache_free(pb->tokens[i]);
    fl_pb_hls_loops_free(pb);
    memset(pb->key, 0, sizeof pb->key);
    free(pb);
}

static void pb_loop_tick(void *state, int loop)
{
    fl_pb_follow_tick(state, loop);
}

static void pb_metrics(void *state, fl_buf_t *out)
{
    const fl_playback_t *pb = state;
    fl_metrics_render_counter(out, "framelog_hls_sessions_total", "HLS session URLs handed out.",
                              pb->sessions);
    fl_metrics_render_counter(out, "framelog_hls_token_refusals_total",
                              "HLS requests refused for a forged, altered or expired token.",
                              pb->token_refusals);
    fl_metrics_render_counter(out, "framelog_hls_playlists_total", "HLS playlists served.",
                              pb->playlists);
    fl_metrics_render_counter(out, "framelog_hls_segments_total",
                              "HLS init and media segments served.", pb->segments);
    fl_metrics_render_counter(out, "framelog_hls_segment_bytes_total",
                              "Bytes of HLS segments served.", pb->segment_bytes);
    fl_metrics_render_counter(out, "framelog_hls_remux_failures_total",
                              "HLS segments that could not be remuxed.", pb->remux_failures);
    fl_metrics_render_counter(out, "framelog_clips_total", "GetClip responses started.", pb->clips);
    fl_metrics_render_counter(out, "framelog_clip_bytes_total", "Bytes of GetClip MP4s written.",
                              pb->clip_bytes);
    fl_metrics_render_counter(out, "framelog_clip_failures_total",
                              "GetClip MP4s cut short by a fragment that could not be remuxed.",
                              pb->clip_failures);
    fl_metrics_render_counter(out, "framelog_images_total", "GetImages samples with an image.",
                              pb->images);
    fl_metrics_render_counter(out, "framelog_image_errors_total",
                              "GetImages samples answered NO_MEDIA or MEDIA_ERROR.",
                              pb->image_errors);
    fl_metrics_render_counter(out, "framelog_hls_remuxes_total",
                              "HLS media segments and parts remuxed (each made once, then cached).",
                              pb->remuxes);
    /* the loops' caches, summed */
    fl_pb_cache_stats_t st;
    memset(&st, 0, sizeof st);
    for (int i = 0; i < pb->n_loops; i++) {
        fl_pb_cache_stats_t one;
        fl_pb_cache_stats(pb->caches[i], &one);
        st.hits += one.hits;
        st.joins += one.joins;
        st.misses += one.misses;
        st.evictions += one.evictions;
        st.list_hits += one.list_hits;
        st.list_misses += one.list_misses;
        st.bytes += one.bytes;
        st.entries += one.entries;
    }
    fl_metrics_render_counter(out, "framelog_hls_cache_hits_total",
                              "HLS segments answered from the segment cache.", st.hits);
    fl_metrics_render_counter(out, "framelog_hls_cache_joins_total",
                              "HLS segment requests that waited for the same segment being made "
                              "for another request (single-flight).",
                              st.joins);
    fl_metrics_render_counter(out, "framelog_hls_cache_misses_total",
                              "HLS segment requests that made their segment.", st.misses);
    fl_metrics_render_counter(out, "framelog_hls_cache_evictions_total",
                              "Segments evicted from the segment cache.", st.evictions);
    fl_metrics_render_counter(out, "framelog_hls_live_lists_total",
                              "LIVE playlists' fragment lists read from storage (once per new "
                              "durable fragment, then shared by every viewer).",
                              st.list_misses);
    fl_metrics_render_counter(out, "framelog_hls_live_list_hits_total",
                              "LIVE playlist requests whose fragment list was already made.",
                              st.list_hits);
    fl_metrics_render_gauge(out, "framelog_hls_cache_bytes", "Bytes held by the segment cache.",
                            (int64_t)st.bytes);
    fl_metrics_render_gauge(out, "framelog_hls_cache_entries",
                            "Segments held or being made in the segment cache.",
                            (int64_t)st.entries);
    fl_metrics_render_gauge(out, "framelog_hls_live_follows",
                            "Streams whose live tail LL-HLS follows.", (int64_t)pb->n_follows);
    fl_metrics_render_gauge(out, "framelog_hls_waiting",
                            "HLS requests parked now (blocked reloads, parts, cache joins).",
                            (int64_t)pb->n_waiting);
    fl_metrics_render_counter(out, "framelog_hls_blocked_reloads_total",
                              "LL-HLS playlist requests that waited for their _HLS_msn/_HLS_part.",
                              pb->blocked_reloads);
    fl_metrics_render_counter(out, "framelog_hls_waits_refused_total",
                              "HLS requests refused: too many waiting.", pb->waits_refused);
    fl_metrics_render_counter(out, "framelog_hls_waits_timed_out_total",
                              "Parked HLS requests answered 503 at their deadline.",
                              pb->waits_timed_out);
    fl_metrics_render_counter(out, "framelog_hls_held_reloads_total",
                              "LIVE playlist reloads without _HLS_msn held until the next "
                              "segment was durable.",
                              pb->held_reloads);
    fl_metrics_render_counter(out, "framelog_hls_parts_from_tail_total",
                              "LL-HLS parts made from the live tail.", pb->parts_from_tail);
    uint64_t token_hits = 0;
    for (int i = 0; i < FL_CONFIG_MAX_LOOPS; i++)
        token_hits += fl_pb_token_cache_hits(pb->tokens[i]);
    fl_metrics_render_counter(out, "framelog_hls_token_cache_hits_total",
                              "HLS and DASH requests whose session token was checked before "
                              "(no HMAC; expiry checked).",
                              token_hits);
    fl_metrics_render_counter(out, "framelog_hls_playlist_texts_reused_total",
                              "LIVE playlists answered with the same text as the request before "
                              "them (same session, list and parts).",
                              pb->texts_reused);
    fl_metrics_render_counter(out, "framelog_hls_live_lists_read_on_total",
                              "LIVE fragment lists read on from the stream's last list (only "
                              "the fragments after it read).",
                              pb->lists_read_on);
}

const fl_module_t fl_playback_module = {
    .name = "playback",
    .init = pb_init,
    .fini = pb_fini,
    .routes = pb_routes,
    .loop_tick = pb_loop_tick,
    .metrics = pb_metrics,
    /* GetClip's (clip.c) */
    .cors_expose = "x-framelog-clip-fragments, x-framelog-clip-estimated-bytes",
};
