/*
 * server/core/cors.h — Cross-Origin Resource Sharing for every route that
 * a page on another origin may call: the AWS JSON APIs (FL_ROUTE_AWS),
 * and routes that say so (FL_ROUTE_CORS: HLS/DASH playlists and
 * segments, the /framelog/ routes). One policy, from --cors-origins (config.c):
 *
 *   unset           any origin while every listener is loopback, else none
 *   "*"             any origin
 *   "none"          no origin
 *   "A,B,..."       those origins (scheme://host[:port]), compared as sent
 *
 * Any origin is answered `Access-Control-Allow-Origin: *` whether or not
 * the request names one (a cached segment then serves every page); a
 * listed origin is echoed back with `Vary: Origin`. An origin not allowed
 * gets no CORS header (its browser then refuses the page the answer), and
 * its preflight gets 403. The preflight (OPTIONS with Origin, on a path
 * that has a CORS route for Access-Control-Request-Method) is answered by
 * the core before any module sees it.
 */
#ifndef FL_SERVER_CORE_CORS_H
#define FL_SERVER_CORE_CORS_H

#include <stdint.h>

#include "server/core/config.h"
#include "server/core/http.h"

#define FL_CORS_MAX_ORIGINS 16
#define FL_CORS_ORIGIN_MAX  128 /* bytes of one origin, its NUL included */

typedef struct {
    int any; /* every origin */
    int n;   /* else these */
    char origins[FL_CORS_MAX_ORIGINS][FL_CORS_ORIGIN_MAX];
} fl_cors_t;

/* Parse --cors-origins (NULL: unset) into c, given the listeners (cfg
 * may be NULL to check the list alone). 0, or FL_EINVAL with a one-line
 * reason in err. */
int fl_cors_parse(const char *list, const fl_config_t *cfg, fl_cors_t *c, char *err, size_t errlen);

/* The route of r (r->route, r->mod) is known: note the CORS headers its
 * answer carries (written with the others by fl_cors_write_headers). */
void fl_cors_request(fl_http_req_t *r);

/* An OPTIONS request, before routing: answer it when it is a preflight
 * for a CORS route (204, or 403 to an origin not allowed) and return 1;
 * else 0 (routed as any request). */
int fl_cors_preflight(fl_http_req_t *r);

/* An answer the core gives before any route is known (an unknown path, a
 * method a CORS route's path does not take, a head refused): the CORS
 * headers an allowed Origin gets on a CORS route, so that a page reads
 * the error rather than a CORS failure. A path whose routes are not CORS
 * routes (/metrics) gets none. */
void fl_cors_unrouted(fl_http_req_t *r);

/* The parsers of what a browser sends (pure: tests/fuzz/fuzz_cors.c).
 * Is origin (n bytes, as sent) one the policy allows? 1 or 0. */
int fl_cors_origin_allowed(const fl_cors_t *c, const char *origin, size_t n);
/* Access-Control-Allow-Headers for a preflight's Access-Control-Request-
 * Headers (req, n bytes): into out (cap bytes, NUL-ended) the requested
 * names lower-cased when every one is allowed (1), else the base list
 * (0); -1 when cap is too small for the base list. */
#define FL_CORS_HEADERS_MAX 512
int fl_cors_allow_headers(const char *req, size_t n, char *out, size_t cap);

/* Append the CORS headers noted for r to a response head being made
 * (lws_add_http_header_by_name's arguments). 0 or -1. */
int fl_cors_write_headers(fl_http_req_t *r, uint8_t **p, uint8_t *end);

#endif
