/*
 * server/kvs/kvs.c — the Kinesis Video APIs as a module: the route table
 * (rest-json: POST with a JSON body, as AWS's model names the paths), the
 * PutMedia WebSocket subprotocol and the tick that sends IDLE acks.
 */
#include "server/kvs/kvs.h"

#include <stdio.h>
#include <stdlib.h>

#include "common/error.h"

#define AWS(p, n, h)                                                                               \
    {                                                                                              \
        .method = FL_HTTP_POST, .path = p, .name = n, .handler = h, .flags = FL_ROUTE_AWS          \
    }

static const fl_route_t kvs_routes[] = {
    /* the control plane */
    AWS("/createStream", "CreateStream", fl_api_create_stream),
    AWS("/describeStream", "DescribeStream", fl_api_describe_stream),
    AWS("/listStreams", "ListStreams", fl_api_list_streams),
    AWS("/deleteStream", "DeleteStream", fl_api_delete_stream),
    AWS("/updateStream", "UpdateStream", fl_api_update_stream),
    AWS("/updateDataRetention", "UpdateDataRetention", fl_api_update_data_retention),
    AWS("/tagStream", "TagStream", fl_api_tag_stream),
    AWS("/untagStream", "UntagStream", fl_api_untag_stream),
    AWS("/listTagsForStream", "ListTagsForStream", fl_api_list_tags_for_stream),
    AWS("/TagResource", "TagResource", fl_api_tag_resource),
    AWS("/UntagResource", "UntagResource", fl_api_untag_resource),
    AWS("/ListTagsForResource", "ListTagsForResource", fl_api_list_tags_for_resource),
    AWS("/getDataEndpoint", "GetDataEndpoint", fl_api_get_data_endpoint),
    /* configurations kept and returned, acted on later */
    AWS("/describeImageGenerationConfiguration", "DescribeImageGenerationConfiguration",
        fl_api_describe_image_generation_configuration),
    AWS("/updateImageGenerationConfiguration", "UpdateImageGenerationConfiguration",
        fl_api_update_image_generation_configuration),
    AWS("/describeNotificationConfiguration", "DescribeNotificationConfiguration",
        fl_api_describe_notification_configuration),
    AWS("/updateNotificationConfiguration", "UpdateNotificationConfiguration",
        fl_api_update_notification_configuration),
    AWS("/describeStreamStorageConfiguration", "DescribeStreamStorageConfiguration",
        fl_api_describe_stream_storage_configuration),
    AWS("/updateStreamStorageConfiguration", "UpdateStreamStorageConfiguration",
        fl_api_update_stream_storage_configuration),
    AWS("/describeMediaStorageConfiguration", "DescribeMediaStorageConfiguration",
        fl_api_describe_media_storage_configuration),

    /* media */
    {.method = FL_HTTP_POST,
     .path = "/putMedia",
     .name = "PutMedia",
     .stream = &fl_putmedia_ops,
     .flags = FL_ROUTE_AWS},
    AWS("/getMedia", "GetMedia", fl_api_get_media),
    AWS("/listFragments", "ListFragments", fl_api_list_fragments),
    AWS("/getMediaForFragmentList", "GetMediaForFragmentList", fl_api_get_media_for_fragment_list),

    {.path = NULL},
};

/* The WebSocket PutMedia session's state, per connection. */
typedef struct {
    void *pm;
} kvs_ws_pss_t;

static const struct lws_protocols kvs_ws[] = {
    {"framelog-putmedia-v1", fl_putmedia_ws_callback, sizeof(kvs_ws_pss_t), 65536, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

static int kvs_init(struct fl_server *s, void **state, char *err, size_t errlen)
{
    fl_kvs_t *k = calloc(1, sizeof *k);
    if (!k) {
        snprintf(err, errlen, "kvs: out of memory");
        return FL_ENOMEM;
    }
    k->srv = s;
    k->video = fl_video_of(s);
    if (!k->video) {
        free(k);
        snprintf(err, errlen, "kvs: the video module must come first in the module list");
        return FL_EINVAL;
    }
    if (fl_kvs_rates_new(&k->rates) != 0) {
        free(k);
        snprintf(err, errlen, "kvs: out of memory");
        return FL_ENOMEM;
    }
    *state = k;
    return 0;
}

static void kvs_fini(void *state)
{
    fl_kvs_t *k = state;
    if (k)
        fl_kvs_rates_free(k->rates);
    free(state);
}

const fl_module_t fl_kvs_module = {
    .name = "kvs",
    .init = kvs_init,
    .fini = kvs_fini,
    .routes = kvs_routes,
    .ws = kvs_ws,
    .loop_tick = fl_putmedia_tick,
};
