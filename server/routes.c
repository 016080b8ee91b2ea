/*
 * server/routes.c — the route table: every HTTP endpoint framelogd serves.
 * A declarative table (nginx's habit): method, path, metric name, handler.
 */
#include <string.h>

#include "server/server_internal.h"

const fl_route_t fl_routes[] = {
    {.method = FL_HTTP_GET, .path = "/healthz", .name = "/healthz", .handler = fl_api_healthz},
    {.method = FL_HTTP_GET, .path = "/metrics", .name = "/metrics", .handler = fl_api_metrics},
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
