/*
 * server/core/routes.c — matching a request to a route. The routes
 * themselves are the modules' (module.h): declarative tables (nginx's
 * habit) of method, path (exact or prefix), X-Amz-Target, name, handler or
 * streaming hooks, flags.
 *
 * Scores, so that a request goes to the most specific route whatever the
 * order of the modules: an exact path scores above any prefix, a longer
 * prefix above a shorter one, and a route naming the request's target
 * above one that names none.
 */
#include <string.h>

#include "server/core/server_internal.h"

const fl_route_t *fl_route_match(const fl_route_t *table, fl_http_method_t method, const char *path,
                                 const char *target, int *score, int *found_path)
{
    const fl_route_t *best = NULL;
    int best_score = 0;
    for (const fl_route_t *r = table; r && r->path; r++) {
        size_t pl = strlen(r->path);
        int sc;
        if (r->match == FL_MATCH_PREFIX) {
            if (strncmp(r->path, path, pl) != 0)
                continue;
            sc = 1 + (int)(pl > 4096 ? 4096 : pl);
        } else {
            if (strcmp(r->path, path) != 0)
                continue;
            sc = 8192;
        }
        if (r->target) {
            if (strcmp(r->target, target) != 0)
                continue;
            sc += 16384;
        }
        /* HEAD is GET without a body */
        if (r->method != method && !(method == FL_HTTP_HEAD && r->method == FL_HTTP_GET)) {
            *found_path = 1;
            continue;
        }
        if (sc > best_score) {
            best = r;
            best_score = sc;
        }
    }
    *score = best_score;
    return best;
}

const fl_route_t *fl_server_route(const struct fl_server *s, fl_http_method_t method,
                                  const char *path, const char *target, void **mod, int *found_path)
{
    const fl_route_t *best = NULL;
    int best_score = 0;
    *found_path = 0;
    *mod = NULL;
    for (int i = 0; i < s->n_modules; i++) {
        int sc = 0;
        const fl_route_t *r =
            fl_route_match(s->modules[i]->routes, method, path, target, &sc, found_path);
        if (r && sc > best_score) {
            best = r;
            best_score = sc;
            *mod = s->states[i];
        }
    }
    if (best)
        *found_path = 0;
    return best;
}

int fl_server_has_route(const struct fl_server *s, fl_http_method_t method, const char *path,
                        const char *target)
{
    void *mod;
    int found_path;
    return fl_server_route(s, method, path, target ? target : "", &mod, &found_path) != NULL;
}
