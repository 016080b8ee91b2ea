/*
 * server/video/video.c — the video room as a module: its state and its
 * series on GET /metrics. See video.h.
 */
#include "server/video/video.h"

#include <stdio.h>
#include <stdlib.h>

#include "common/error.h"
#include "server/core/server.h"

static int video_init(struct fl_server *s, void **state, char *err, size_t errlen)
{
    const fl_config_t *cfg = fl_server_config(s);
    fl_video_t *v = calloc(1, sizeof *v);
    int rc = FL_ENOMEM;
    if (!v)
        goto fail;
    v->srv = s;
    if ((rc = fl_video_streams_new(fl_server_store(s), cfg->region, cfg->account_id,
                                   &v->streams)) != 0 ||
        (rc = fl_hub_new(&v->hub)) != 0)
        goto fail;
    fl_hub_set_server(v->hub, s);
    *state = v;
    return 0;
fail:
    if (v) {
        fl_video_streams_free(v->streams);
        free(v);
    }
    snprintf(err, errlen, "video: %s", fl_strerror(rc));
    return rc;
}

static void video_fini(void *state)
{
    fl_video_t *v = state;
    if (!v)
        return;
    fl_hub_free(v->hub);
    fl_video_streams_free(v->streams);
    free(v);
}

static void video_metrics(void *state, fl_buf_t *o)
{
    const fl_video_metrics_t *m = &((fl_video_t *)state)->metrics;
    fl_metrics_render_counter(o, "framelog_ingest_fragments_total", "Fragments stored by PutMedia.",
                              m->fragments_in);
    fl_metrics_render_counter(o, "framelog_ingest_fragments_resent_total",
                              "Fragments a producer sent again after a reconnect, acked and not "
                              "stored twice.",
                              m->fragments_resent);
    fl_metrics_render_counter(o, "framelog_ingest_bytes_total",
                              "Bytes of fragments stored by PutMedia.", m->fragment_bytes_in);
    fl_metrics_render_gauge(o, "framelog_producers", "PutMedia sessions open now.", m->producers);
    fl_metrics_render_gauge(o, "framelog_live_readers", "GetMedia responses open now.",
                            m->live_readers);
    fl_metrics_render_counter(o, "framelog_live_remote_events_total",
                              "Live-tail events handed to a reader on another event loop.",
                              fl_live_remote_events());
    fl_metrics_render_counter(o, "framelog_live_remote_ops_total",
                              "Producer calls posted to a live tail on another event loop.",
                              fl_live_remote_ops());
    fl_metrics_render_ms_hist(o, "framelog_ack_persisted_ms",
                              "Milliseconds from a fragment's RECEIVED to its PERSISTED ack.",
                              &m->ack);
}

const fl_module_t fl_video_module = {
    .name = "video",
    .init = video_init,
    .fini = video_fini,
    .metrics = video_metrics,
};

fl_video_t *fl_video_of(const struct fl_server *s)
{
    return fl_server_state(s, &fl_video_module);
}
