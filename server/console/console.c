/*
 * server/console/console.c — the web console's module (core/module.h):
 * `GET /` redirects to `/console/`, `GET /console/<file>` serves the
 * console's files from memory (files.c), and `POST
 * /framelog/listStreamStatus` is the streams' state at a glance
 * (status.c), and `GET /framelog/features` says which of the APIs the
 * console uses this server has. docs/console.md.
 *
 * Where the files come from, first found wins: --console-dir when given
 * (framelogd then refuses to start without it); else the installed copy
 * next to the binary, <bindir>/../share/framelog/console (CMake install);
 * else the source tree's server/console/www (a development build run from
 * its build folder). Without any, framelogd runs without the console and
 * /console/ answers 404 naming where it looked.
 *
 * Caching: every file has an ETag and If-None-Match gets 304. Files under
 * vendor/ carry their version in their path (vendor/hls.js-1.7.4/) and are
 * cached for a year (immutable); the console's own files are revalidated
 * on every load (no-cache), so a new framelogd is seen at the next reload.
 */
#include "server/console/console.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/diag.h"
#include "common/error.h"
#include "common/json.h"
#include "server/core/config.h"
#include "server/core/server.h"

#ifndef FL_CONSOLE_SOURCE_DIR
#define FL_CONSOLE_SOURCE_DIR ""
#endif

/* What every console page may load: itself, blobs (hls.js' workers and
 * media source) and data: images (thumbnails). */
#define CONSOLE_CSP                                                                                \
    "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; worker-src 'self' "   \
    "blob:; style-src 'self'; frame-ancestors 'none'"

static void redirect(fl_http_req_t *r, int status, const char *to)
{
    fl_http_add_header(r, "Location", to);
    fl_http_add_header(r, "Cache-Control", "no-cache");
    fl_http_respond(r, status, "text/plain; charset=utf-8", fl_slice_str("see /console/\n"));
}

static void root(fl_http_req_t *r)
{
    redirect(r, 302, "/console/");
}

static void console_bare(fl_http_req_t *r)
{
    redirect(r, 301, "/console/");
}

static void serve(fl_http_req_t *r)
{
    const fl_console_t *c = r->mod;
    const char *name = r->path + strlen("/console/");
    if (!name[0])
        name = "index.html";
    const fl_console_file_t *f = fl_console_files_find(&c->files, name);
    if (!f) {
        if (!c->files.n)
            fl_http_respond_error(r, 404, "ResourceNotFoundException",
                                  "the console's files were not found (looked in %s); start "
                                  "framelogd with --console-dir",
                                  c->looked);
        else
            fl_http_respond_error(r, 404, "ResourceNotFoundException", "no console file %s", name);
        return;
    }
    fl_http_add_header(r, "ETag", f->etag);
    fl_http_add_header(r, "Cache-Control",
                       f->immutable ? "public, max-age=31536000, immutable" : "no-cache");
    fl_http_add_header(r, "X-Content-Type-Options", "nosniff");
    if (strncmp(f->content_type, "text/html", 9) == 0) {
        fl_http_add_header(r, "Content-Security-Policy", CONSOLE_CSP);
        fl_http_add_header(r, "Referrer-Policy", "no-referrer");
    }
    char inm[256];
    int n = lws_hdr_copy(r->wsi, inm, sizeof inm, WSI_TOKEN_HTTP_IF_NONE_MATCH);
    if (n > 0 && strstr(inm, f->etag)) {
        fl_http_respond(r, 304, f->content_type, fl_slice(NULL, 0));
        return;
    }
    fl_http_respond(r, 200, f->content_type, fl_slice(f->bytes, f->n));
}

/* GET /framelog/features: what this server offers, so that the console
 * shows each part only when its API exists, without probing routes (a
 * probe's 404 is an error in the browser's console). SignInRequired: an
 * unsigned caller is refused the access check (access keys are on). */
static void features(fl_http_req_t *r)
{
    static const struct {
        const char *name, *path, *target;
        fl_http_method_t method;
    } apis[] = {
        {"ListStreamStatus", "/framelog/listStreamStatus", NULL, FL_HTTP_POST},
        {"ListFragments", "/listFragments", NULL, FL_HTTP_POST},
        {"GetHLSStreamingSessionURL", "/getHLSStreamingSessionURL", NULL, FL_HTTP_POST},
        {"GetDASHStreamingSessionURL", "/getDASHStreamingSessionURL", NULL, FL_HTTP_POST},
        {"GetClip", "/getClip", NULL, FL_HTTP_POST},
        {"GetImages", "/getImages", NULL, FL_HTTP_POST},
        {"KinesisGetRecords", "/", "Kinesis_20131202.GetRecords", FL_HTTP_POST},
        {"Metrics", "/metrics", NULL, FL_HTTP_GET},
    };
    const fl_config_t *cfg = fl_server_config(r->srv);
    fl_principal_t anon;
    memset(&anon, 0, sizeof anon);
    const char *why = NULL;
    int signin = fl_server_access(r->srv, &anon, "kinesisvideo:ListStreams", "*", &why) != 0;
    fl_buf_t b;
    fl_buf_init(&b, 0);
    fl_buf_printf(&b, "{\"Version\":\"%s\",\"SignInRequired\":%s,\"Region\":", FL_VERSION,
                  signin ? "true" : "false");
    fl_json_write_string(&b, fl_slice_str(cfg->region));
    fl_buf_append_str(&b, ",\"APIs\":{");
    for (size_t i = 0; i < sizeof apis / sizeof apis[0]; i++)
        fl_buf_printf(&b, "%s\"%s\":%s", i ? "," : "", apis[i].name,
                      fl_server_has_route(r->srv, apis[i].method, apis[i].path, apis[i].target)
                          ? "true"
                          : "false");
    fl_buf_append_str(&b, "}}");
    fl_http_add_header(r, "Cache-Control", "no-cache");
    if (b.err)
        fl_http_respond_error(r, 500, "InternalFailure", "out of memory");
    else
        fl_http_respond(r, 200, "application/json", fl_buf_slice(&b));
    fl_buf_free(&b);
}

static const fl_route_t console_routes[] = {
    {.method = FL_HTTP_GET,
     .path = "/framelog/features",
     .name = "Features",
     .handler = features,
     .flags = FL_ROUTE_CORS},
    {.method = FL_HTTP_GET, .path = "/", .name = "ConsoleRedirect", .handler = root},
    {.method = FL_HTTP_GET, .path = "/console", .name = "ConsoleRedirect", .handler = console_bare},
    {.method = FL_HTTP_GET,
     .path = "/console/",
     .name = "ConsoleFile",
     .handler = serve,
     .match = FL_MATCH_PREFIX},
    {.method = FL_HTTP_POST,
     .path = "/framelog/listStreamStatus",
     .name = "ListStreamStatus",
     .handler = fl_console_list_stream_status,
     .flags = FL_ROUTE_AWS},
    {.path = NULL},
};

/* <dir of the running binary>/../share/framelog/console into buf. */
static int installed_dir(char *buf, size_t cap)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return -1;
    exe[n] = 0;
    char *slash = strrchr(exe, '/');
    if (!slash)
        return -1;
    *slash = 0;
    int k = snprintf(buf, cap, "%s/../share/framelog/console", exe);
    return k < 0 || (size_t)k >= cap ? -1 : 0;
}

static int console_init(struct fl_server *s, void **state, char *err, size_t errlen)
{
    fl_console_t *c = calloc(1, sizeof *c);
    if (!c)
        return FL_ENOMEM;
    c->srv = s;
    const fl_config_t *cfg = fl_server_config(s);
    char why[512];
    int rc;
    if (cfg->console_dir && cfg->console_dir[0]) {
        snprintf(c->looked, sizeof c->looked, "%s", cfg->console_dir);
        rc = fl_console_files_load(&c->files, cfg->console_dir, why, sizeof why);
        if (rc) {
            snprintf(err, errlen, "--console-dir: %s", why);
            free(c);
            return rc;
        }
    } else {
        char inst[PATH_MAX + 64];
        rc = FL_ENOTFOUND;
        if (installed_dir(inst, sizeof inst) == 0) {
            rc = fl_console_files_load(&c->files, inst, why, sizeof why);
            snprintf(c->looked, sizeof c->looked, "%s", inst);
        }
        if (rc == FL_ENOTFOUND && strlen(FL_CONSOLE_SOURCE_DIR) > 0) {
            rc = fl_console_files_load(&c->files, FL_CONSOLE_SOURCE_DIR, why, sizeof why);
            /* (a message: cut short when the paths are that long) */
            if (snprintf(c->looked, sizeof c->looked, "%s and %s", inst, FL_CONSOLE_SOURCE_DIR) < 0)
                c->looked[0] = 0;
        }
        if (rc == FL_ENOTFOUND) {
            fl_warn("console: its files are in none of %s; running without the web console "
                    "(--console-dir)",
                    c->looked);
        } else if (rc) {
            snprintf(err, errlen, "%s", why);
            free(c);
            return rc;
        }
    }
    if (c->files.n)
        fl_info("console: %zu files from %s at /console/", c->files.n, c->files.dir);
    *state = c;
    return 0;
}

static void console_fini(void *state)
{
    fl_console_t *c = state;
    if (!c)
        return;
    fl_console_files_free(&c->files);
    free(c);
}

const fl_module_t fl_console_module = {
    .name = "console",
    .init = console_init,
    .fini = console_fini,
    .routes = console_routes,
};
