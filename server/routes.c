/*
 * server/routes.c — the route table: every HTTP endpoint framelogd serves.
 * A declarative table (nginx's habit): method, path, name (in metrics and
 * logs), handler or streaming hooks, flags.
 */
#include <string.h>

#include "server/server_internal.h"

#define AWS(p, n, h)                                                                               \
    {                                                                                              \
        .method = FL_HTTP_POST, .path = p, .name = n, .handler = h, .flags = FL_ROUTE_AWS          \
    }

const fl_route_t fl_routes[] = {
    {.method = FL_HTTP_GET, .path = "/healthz", .name = "/healthz", .handler = fl_api_healthz},
    {.method = FL_HTTP_GET, .path = "/metrics", .name = "/metrics", .handler = fl_api_metrics},

    /* Kinesis Video control plane (rest-json: POST with a JSON body) */
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

    /* media */
    {.method = FL_HTTP_POST, .path = "/putMedia", .name = "PutMedia", .stream = &fl_putmedia_ops},
    AWS("/getMedia", "GetMedia", fl_api_get_media),
    AWS("/listFragments", "ListFragments", fl_api_list_fragments),
    AWS("/getMediaForFragmentList", "GetMediaForFragmentList", fl_api_get_media_for_fragment_list),

    {.path = NULL},
};

const fl_route_t *fl_route_find(fl_http_method_t method, const char *path, int *found_path)
{
    *found_path = 0;
    for (const fl_route_t *r = fl_routes; r->path; r++) {
        if (strcmp(r->path, path) != 0)
            continue;
        /* HEAD is GET without a body */
        if (r->method == method || (method == FL_HTTP_HEAD && r->method == FL_HTTP_GET))
            return r;
        *found_path = 1;
    }
    return NULL;
}
