/*
 * server/core/cors.c — CORS: the policy of --cors-origins, the headers of
 * answers to pages on other origins, and the preflight. See cors.h.
 *
 * What is noted on the request (fl_http_req_t.cors*) is all that the
 * answer's head needs, so the head can be written later (from WRITEABLE,
 * after a worker) without the request's headers. A request that is not a
 * CORS route's notes nothing: its answer has no CORS header.
 */
#include "server/core/cors.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/error.h"
#include "server/core/server_internal.h"

/* What every CORS answer lets a page read beyond the safelisted headers:
 * the request id and error type AWS's SDKs read, and Date (their clock
 * skew correction). A module adds its own (fl_module_t.cors_expose). */
#define CORE_EXPOSE "x-amzn-RequestId, x-amzn-ErrorType, Date"

/* The request headers a preflight allows: AWS's SDKs' (SigV4, targets,
 * their own amz-sdk-*), and Range for players. */
#define BASE_ALLOW_HEADERS                                                                         \
    "authorization, content-type, range, x-amz-date, x-amz-security-token, x-amz-target, "         \
    "x-amz-user-agent, x-amz-content-sha256, amz-sdk-invocation-id, amz-sdk-request"

#define PREFLIGHT_MAX_AGE "600"

enum { CORS_NONE = 0, CORS_ANY, CORS_ORIGIN };

int fl_cors_parse(const char *list, const fl_config_t *cfg, fl_cors_t *c, char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    if (!list) {
        /* unset: any origin while only this machine can connect */
        c->any = cfg && cfg->n_listen > 0;
        for (int i = 0; cfg && i < cfg->n_listen; i++)
            if (!fl_config_host_is_loopback(cfg->listen[i].host))
                c->any = 0;
        return 0;
    }
    if (strcmp(list, "none") == 0)
        return 0;
    const char *p = list;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        while (n && p[0] == ' ')
            p++, n--;
        while (n && p[n - 1] == ' ')
            n--;
        char o[FL_CORS_ORIGIN_MAX];
        if (n == 0 || n >= sizeof o) {
            snprintf(err, errlen, "--cors-origins: an origin is empty or longer than %d bytes",
                     FL_CORS_ORIGIN_MAX - 1);
            return FL_EINVAL;
        }
        memcpy(o, p, n);
        o[n] = 0;
        if (strcmp(o, "*") == 0) {
            c->any = 1;
        } else if (fl_config_check_endpoint(o) != 0) {
            snprintf(err, errlen,
                     "--cors-origins: '%s' is not an origin (scheme://host[:port], or *)", o);
            return FL_EINVAL;
        } else if (c->n == FL_CORS_MAX_ORIGINS) {
            snprintf(err, errlen, "--cors-origins: at most %d origins", FL_CORS_MAX_ORIGINS);
            return FL_EINVAL;
        } else {
            memcpy(c->origins[c->n++], o, n + 1);
        }
        if (!comma)
            return 0;
        p = comma + 1;
    }
}

/* Is the route one a page on another origin may call? */
static int cors_route(const fl_route_t *rt)
{
    return rt && (rt->flags & (FL_ROUTE_AWS | FL_ROUTE_CORS));
}

int fl_cors_origin_allowed(const fl_cors_t *c, const char *origin, size_t n)
{
    if (c->any)
        return 1;
    for (int i = 0; i < c->n; i++)
        if (strlen(c->origins[i]) == n && memcmp(c->origins[i], origin, n) == 0)
            return 1;
    return 0;
}

/* Note on r what the policy answers its Origin: 1 allowed or any origin
 * (r->cors set), 0 no Origin, -1 refused. */
static int note_origin(fl_http_req_t *r)
{
    const fl_cors_t *c = &r->srv->cors;
    if (c->any) {
        r->cors = CORS_ANY;
        return 1;
    }
    /* answers differ by Origin: a cache must keep them apart */
    r->cors_vary = c->n > 0;
    if (lws_hdr_total_length(r->wsi, WSI_TOKEN_ORIGIN) <= 0)
        return 0; /* a same-origin or non-browser request */
    char origin[FL_CORS_ORIGIN_MAX];
    int n = fl_http_wsi_header(r->wsi, "origin", origin, sizeof origin);
    if (n > 0 && fl_cors_origin_allowed(c, origin, (size_t)n)) {
        r->cors = CORS_ORIGIN;
        memcpy(r->cors_origin, origin, (size_t)n + 1);
        return 1;
    }
    return -1;
}

/* Has r's path a CORS route under some method? */
static int path_has_cors_route(fl_http_req_t *r)
{
    for (int m = FL_HTTP_GET; m <= FL_HTTP_PATCH; m++) {
        void *mod;
        int found_path;
        if (cors_route(
                fl_server_route(r->srv, (fl_http_method_t)m, r->path, NULL, &mod, &found_path)))
            return 1;
    }
    return 0;
}

void fl_cors_unrouted(fl_http_req_t *r)
{
    /* a path whose routes are none of a page's (/metrics) stays without */
    if (r->cors != CORS_NONE || (r->no_route == 405 && !path_has_cors_route(r)))
        return;
    (void)note_origin(r);
}

void fl_cors_request(fl_http_req_t *r)
{
    if (!cors_route(r->route) || note_origin(r) < 0)
        return;
    /* the headers of the module whose table holds the route */
    struct fl_server *s = r->srv;
    for (int i = 0; i < s->n_modules; i++)
        for (const fl_route_t *rt = s->modules[i]->routes; rt && rt->path; rt++)
            if (rt == r->route)
                r->cors_expose = s->modules[i]->cors_expose;
}

static int method_parse(const char *m, fl_http_method_t *out)
{
    for (int i = FL_HTTP_GET; i <= FL_HTTP_PATCH; i++)
        if (strcmp(fl_http_method_name((fl_http_method_t)i), m) == 0) {
            *out = (fl_http_method_t)i;
            return 0;
        }
    return -1;
}

/* Is the header name (lower case) one a preflight allows? */
static int header_allowed(const char *h, size_t n)
{
    static const char *const exact[] = {"authorization", "content-type", "range", NULL};
    static const char *const prefix[] = {"x-amz-", "amz-sdk-", NULL};
    for (int i = 0; exact[i]; i++)
        if (strlen(exact[i]) == n && memcmp(exact[i], h, n) == 0)
            return 1;
    for (int i = 0; prefix[i]; i++)
        if (n > strlen(prefix[i]) && memcmp(prefix[i], h, strlen(prefix[i])) == 0)
            return 1;
    return 0;
}

int fl_cors_allow_headers(const char *req, size_t n, char *out, size_t cap)
{
    if (cap == 0)
        return -1;
    int base = snprintf(out, cap, "%s", BASE_ALLOW_HEADERS) >= (int)cap ? -1 : 0;
    if (n == 0 || n >= cap || memchr(req, 0, n))
        return base;
    char low[FL_CORS_HEADERS_MAX];
    if (n >= sizeof low)
        return base;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)req[i];
        if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
            return base; /* (it would go back in a response header) */
        low[i] = (char)tolower(ch);
    }
    low[n] = 0;
    const char *p = low;
    for (;;) {
        while (*p == ' ' || *p == '\t')
            p++;
        size_t len = strcspn(p, ",");
        size_t t = len;
        while (t && (p[t - 1] == ' ' || p[t - 1] == '\t'))
            t--;
        if (t && !header_allowed(p, t))
            return base;
        if (!p[len])
            break;
        p += len + 1;
    }
    memcpy(out, low, n + 1);
    return 1;
}

/* Access-Control-Allow-Headers: the requested ones when every one is
 * allowed (lower-cased, so the SDK's amz-sdk-* and x-amz-* pass whatever
 * their names), else the base list (the browser then names the one
 * refused). */
static void allow_headers(fl_http_req_t *r)
{
    char req[sizeof r->cors_headers];
    int n = fl_http_wsi_header(r->wsi, "access-control-request-headers", req, sizeof req);
    (void)fl_cors_allow_headers(req, n > 0 ? (size_t)n : 0, r->cors_headers,
                                sizeof r->cors_headers);
}

int fl_cors_preflight(fl_http_req_t *r)
{
    if (r->method != FL_HTTP_OPTIONS)
        return 0;
    char m[16] = "";
    fl_http_method_t want = FL_HTTP_OTHER;
    int have_m = fl_http_wsi_header(r->wsi, "access-control-request-method", m, sizeof m) > 0;
    if (have_m && method_parse(m, &want) != 0)
        return 0;
    const fl_route_t *rt = NULL;
    void *mod;
    int found_path;
    if (have_m) {
        rt = fl_server_route(r->srv, want, r->path, NULL, &mod, &found_path);
    } else {
        /* OPTIONS without a method asked: the path's GET or POST */
        rt = fl_server_route(r->srv, FL_HTTP_GET, r->path, NULL, &mod, &found_path);
        if (!cors_route(rt))
            rt = fl_server_route(r->srv, FL_HTTP_POST, r->path, NULL, &mod, &found_path);
    }
    if (!cors_route(rt))
        return 0;
    r->route_name = "CORSPreflight";
    r->route = NULL;
    if (note_origin(r) < 0) {
        fl_http_respond_error(r, 403, "AccessDeniedException",
                              "origin not allowed to call this server (--cors-origins)");
        return 1;
    }
    if (r->cors) {
        r->cors_preflight = 1;
        snprintf(r->cors_methods, sizeof r->cors_methods, "%s",
                 have_m ? fl_http_method_name(want) : "GET, POST");
        allow_headers(r);
    }
    fl_http_respond(r, 204, "text/plain", fl_slice(NULL, 0));
    return 1;
}

static int add(struct lws *wsi, const char *name, const char *value, uint8_t **p, uint8_t *end)
{
    return lws_add_http_header_by_name(wsi, (const uint8_t *)name, (const uint8_t *)value,
                                       (int)strlen(value), p, end)
               ? -1
               : 0;
}

int fl_cors_write_headers(fl_http_req_t *r, uint8_t **p, uint8_t *end)
{
    struct lws *wsi = r->wsi;
    if (r->cors_vary && add(wsi, "vary:", "Origin", p, end))
        return -1;
    if (r->cors == CORS_NONE)
        return 0;
    if (add(wsi, "access-control-allow-origin:", r->cors == CORS_ANY ? "*" : r->cors_origin, p,
            end))
        return -1;
    if (r->cors_preflight)
        return add(wsi, "access-control-allow-methods:", r->cors_methods, p, end) ||
                       add(wsi, "access-control-allow-headers:", r->cors_headers, p, end) ||
                       add(wsi, "access-control-max-age:", PREFLIGHT_MAX_AGE, p, end)
                   ? -1
                   : 0;
    char expose[512];
    snprintf(expose, sizeof expose, "%s%s%s", CORE_EXPOSE, r->cors_expose ? ", " : "",
             r->cors_expose ? r->cors_expose : "");
    return add(wsi, "access-control-expose-headers:", expose, p, end);
}
