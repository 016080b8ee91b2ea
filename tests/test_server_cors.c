/*
 * tests/test_server_cors.c — CORS on the JSON APIs and playback
 * (server/core/cors.c, --cors-origins): curl's preflights and calls from an
 * allowed and a refused origin, under the default policy (any origin while
 * every listener is loopback), a list of origins and `none`; the flag's
 * refusals; and a page on another origin in headless Chromium calling the
 * Kinesis Video and Kinesis APIs with fetch and the AWS SDK's headers
 * (tests/browser/cors_fetch.js; skips, saying so, without chromium).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "media_harness.h"
#include "server/core/config.h"
#include "server/core/cors.h"

/* curl method url with Origin (NULL: none) and extra headers (each
 * "Name: value", NULL-ended); returns the status, *headers the head. */
static int req(const char *method, const char *url, const char *origin, const char *const *hdrs,
               const char *body, char **headers)
{
    char *dir = fl_test_mkdtemp("cors");
    char hpath[4200], obuf[300];
    snprintf(hpath, sizeof hpath, "%s/h", dir);
    char *argv[40];
    int n = 0;
    argv[n++] = "curl";
    argv[n++] = "-sS";
    argv[n++] = "--max-time";
    argv[n++] = "60";
    argv[n++] = "-o";
    argv[n++] = "/dev/null";
    argv[n++] = "-D";
    argv[n++] = hpath;
    argv[n++] = "-w";
    argv[n++] = "%{http_code}";
    argv[n++] = "-X";
    argv[n++] = (char *)method;
    if (origin) {
        snprintf(obuf, sizeof obuf, "Origin: %s", origin);
        argv[n++] = "-H";
        argv[n++] = obuf;
    }
    for (int i = 0; hdrs && hdrs[i] && n < 34; i++) {
        argv[n++] = "-H";
        argv[n++] = (char *)hdrs[i];
    }
    if (body) {
        argv[n++] = "--data-binary";
        argv[n++] = (char *)body;
    }
    argv[n++] = (char *)url;
    argv[n] = NULL;
    char *out = NULL;
    ck_assert_int_eq(fl_test_run(argv, 90000, &out, NULL), 0);
    int status = atoi(out);
    free(out);
    *headers = fl_test_read_file(hpath, NULL);
    ck_assert_ptr_nonnull(*headers);
    fl_test_rmtree(dir);
    return status;
}

/* The value of header name in a head ("" when absent; static). */
static const char *hval(const char *head, const char *name)
{
    static char v[1024];
    v[0] = 0;
    size_t nl = strlen(name);
    for (const char *l = head; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        if (strncasecmp(l, name, nl) == 0 && l[nl] == ':') {
            const char *s = l + nl + 1;
            while (*s == ' ')
                s++;
            size_t k = strcspn(s, "\r\n");
            if (k >= sizeof v)
                k = sizeof v - 1;
            memcpy(v, s, k);
            v[k] = 0;
            return v;
        }
    }
    return v;
}

static const char *const sdk_preflight_post[] = {
    "Access-Control-Request-Method: POST",
    "Access-Control-Request-Headers: authorization,content-type,x-amz-date,"
    "x-amz-security-token,x-amz-user-agent,amz-sdk-invocation-id,amz-sdk-request",
    NULL};

static int preflight(const fl_test_server_t *s, const char *path, const char *origin,
                     const char *const *hdrs, char **head)
{
    char url[600];
    snprintf(url, sizeof url, "%s%s", s->url, path);
    return req("OPTIONS", url, origin, hdrs, NULL, head);
}

static int post(const fl_test_server_t *s, const char *path, const char *origin, const char *target,
                char **head)
{
    char url[600], tgt[200];
    snprintf(url, sizeof url, "%s%s", s->url, path);
    const char *h[3] = {target ? "Content-Type: application/x-amz-json-1.1"
                               : "Content-Type: application/json",
                        NULL, NULL};
    if (target) {
        snprintf(tgt, sizeof tgt, "X-Amz-Target: %s", target);
        h[1] = tgt;
    }
    return req("POST", url, origin, h, "{}", head);
}

/* Default policy, every listener loopback: any origin, on every JSON API
 * (Kinesis Video, archived media, Kinesis records, /framelog/) and on
 * playback; not on routes that are no API (/metrics). */
START_TEST(default_loopback_allows_any_origin_on_every_api)
{
    fl_test_server_t s;
    fl_test_server_start(&s, NULL, NULL);
    const char *o = "http://app.example:3000";
    char *h = NULL;
    const char *paths[] = {"/listStreams",
                           "/createStream",
                           "/getHLSStreamingSessionURL",
                           "/getClip",
                           "/getImages",
                           "/getDASHStreamingSessionURL",
                           "/listFragments",
                           "/getMedia",
                           "/framelog/listStreamStatus",
                           "/",
                           NULL};
    for (int i = 0; paths[i]; i++) {
        ck_assert_int_eq(preflight(&s, paths[i], o, sdk_preflight_post, &h), 204);
        ck_assert_str_eq(hval(h, "Access-Control-Allow-Origin"), "*");
        ck_assert_str_eq(hval(h, "Access-Control-Allow-Methods"), "POST");
        const char *ah = hval(h, "Access-Control-Allow-Headers");
        ck_assert_msg(strstr(ah, "authorization") && strstr(ah, "x-amz-date") &&
                          strstr(ah, "x-amz-security-token") && strstr(ah, "amz-sdk-request") &&
                          strstr(ah, "amz-sdk-invocation-id") && strstr(ah, "x-amz-user-agent"),
                      "%s: %s", paths[i], h);
        ck_assert_msg(*hval(h, "Access-Control-Max-Age"), "%s", h);
        free(h);
    }
    /* the Kinesis records API: X-Amz-Target in the requested headers */
    const char *kds[] = {"Access-Control-Request-Method: POST",
                         "Access-Control-Request-Headers: content-type, x-amz-target", NULL};
    ck_assert_int_eq(preflight(&s, "/", o, kds, &h), 204);
    ck_assert_msg(strstr(hval(h, "Access-Control-Allow-Headers"), "x-amz-target"), "%s", h);
    free(h);
    /* playback's GETs */
    const char *get[] = {"Access-Control-Request-Method: GET", NULL};
    ck_assert_int_eq(preflight(&s, "/hls/v1/getHLSMasterPlaylist.m3u8", o, get, &h), 204);
    ck_assert_str_eq(hval(h, "Access-Control-Allow-Methods"), "GET");
    free(h);
    ck_assert_int_eq(preflight(&s, "/framelog/features", o, get, &h), 204);
    free(h);

    /* the calls themselves */
    ck_assert_int_eq(post(&s, "/listStreams", o, NULL, &h), 200);
    ck_assert_str_eq(hval(h, "Access-Control-Allow-Origin"), "*");
    ck_assert_msg(strcasestr(hval(h, "Access-Control-Expose-Headers"), "x-amzn-RequestId"), "%s",
                  h);
    free(h);
    ck_assert_int_eq(post(&s, "/", o, "Kinesis_20131202.ListStreams", &h), 200);
    ck_assert_str_eq(hval(h, "Access-Control-Allow-Origin"), "*");
    free(h);
    /* errors too, with their type readable */
    ck_assert_int_eq(post(&s, "/describeStream", o, NULL, &h), 400);
    ck_assert_str_eq(hval(h, "Access-Control-Allow-Origin"), "*");
    ck_assert_msg(strcasestr(hval(h, "Access-Control-Expose-Headers"), "x-amzn-ErrorType"), "%s",
                  h);
    free(h);
    /* playback's module adds GetClip's headers to what a page may read */
    ck_assert_int_eq(post(&s, "/getClip", o, NULL, &h), 400);
    ck_assert_msg(strstr(hval(h, "Access-Control-Expose-Headers"), "x-framelog-clip-fragments"),
                  "%s", h);
    free(h);
    char url[600];
    snprintf(url, sizeof url, "%s/framelog/features", s.url);
    ck_assert_int_eq(req("GET", url, o, NULL, NULL, &h), 200);
    ck_assert_str_eq(hval(h, "Access-Control-Allow-Origin"), "*");
    free(h);
    /* not an API: no CORS */
    snprintf(url, sizeof url, "%s/metrics", s.url);
    ck_assert_int_eq(req("GET", url, o, NULL, NULL, &h), 200);
    ck_assert_str_eq(hval(h, "Access-Control-Allow-Origin"), "");
    free(h);
    const char *getm[] = {"Access-Control-Request-Method: GET", NULL};
    ck_assert_int_eq(preflight(&s, "/metrics", o, getm, &h), 405);
    ck_assert_str_eq(hval(h, "Access-Control-Allow-Origin"), "");
    free(h);
    /* a preflight for a method the path does not take is no preflight */
    const char *del[] = {"Access-Control-Request-Method: DELETE", NULL};
    ck_assert_int_eq(preflight(&s, "/listStreams", o, del, &h), 405);
    free(h);
    /* answers the core gives before any route is known: a page reads
     * them (an unknown path; a CORS path's other method), but a path of
     * no CORS route (/metrics, above) stays without */
    snprintf(url, sizeof url, "%s/no/such/path", s.url);
    ck_assert_int_eq(req("GET", url, o, NULL, NULL, &h), 404);
    ck_assert_str_eq(hval(h, "Access-Control-Allow-Origin"), "*");
    ck_assert_msg(strcasestr(hval(h, "Access-Control-Expose-Headers"), "x-amzn-ErrorType"), "%s",
                  h);
    ck_assert_str_eq(hval(h, "x-amzn-ErrorType"), "UnknownOperationException");
    free(h);
    snprintf(url, sizeof url, "%s/listStreams", s.url);
    ck_assert_int_eq(req("GET", url, o, NULL, NULL, &h), 405);
    ck_assert_str_eq(hval(h, "Access-Control-Allow-Origin"), "*");
    free(h);
    fl_test_server_free(&s);
}
END_TEST

/* --cors-origins LIST: a listed origin is echoed (with Vary: Origin); any
 * other gets no CORS header, and 403 to its preflight. */
START_TEST(listed_origins_only)
{
    fl_test_server_t s;
    char *args[] = {"--cors-origins", "https://console.example, http://app.example:3000", NULL};
    fl_test_server_start(&s, NULL, args);
    char *h = NULL;
    const char *ok = "http://app.example:3000", *bad = "http://evil.example";

    ck_assert_int_eq(preflight(&s, "/listStreams", ok, sdk_preflight_post, &h), 204);
    ck_assert_str_eq(hval(h, "Access-Control-Allow-Origin"), ok);
    ck_assert_str_eq(hval(h, "Vary"), "Origin");
    free(h);
    ck_assert_int_eq(post(&s, "/listStreams", ok, NULL, &h), 200);
    ck_assert_str_eq(hval(h, "Access-Control-Allow-Origin"), ok);
    ck_assert_str_eq(hval(h, "Vary"), "Origin");
    free(h);
    ck_assert_int_eq(post(&s, "/", "https://console.example", "Kinesis_20131202.ListStreams", &h),
                     200);
    ck_assert_str_eq(hval(h, "Access-Control-Allow-Origin"), "https://console.example");
    free(h);

    /* refused: 403 to the preflight, and the call (a browser would not
     * send it; curl does) answered without a CORS header */
    ck_assert_int_eq(preflight(&s, "/listStreams", bad, sdk_preflight_post, &h), 403);
    ck_assert_str_eq(hval(h, "Access-Control-Allow-Origin"), "");
    ck_assert_str_eq(hval(h, "x-amzn-ErrorType"), "AccessDeniedException");
    free(h);
    ck_assert_int_eq(post(&s, "/listStreams", bad, NULL, &h), 200);
    ck_assert_str_eq(hval(h, "Access-Control-Allow-Origin"), "");
    ck_assert_str_eq(hval(h, "Vary"), "Origin");
    free(h);
    const char *get[] = {"Access-Control-Request-Method: GET", NULL};
    ck_assert_int_eq(preflight(&s, "/hls/v1/getHLSMediaPlaylist.m3u8", bad, get, &h), 403);
    free(h);
    /* a listed origin differs from one that only starts alike */
    ck_assert_int_eq(
        preflight(&s, "/listStreams", "http://app.example:30000", sdk_preflight_post, &h), 403);
    free(h);
    /* no Origin (curl, the AWS CLI): answered as ever, no CORS header */
    ck_assert_int_eq(post(&s, "/listStreams", NULL, NULL, &h), 200);
    ck_assert_str_eq(hval(h, "Access-Control-Allow-Origin"), "");
    free(h);
    fl_test_server_free(&s);

    /* none: every preflight refused */
    char *none[] = {"--cors-origins", "none", NULL};
    fl_test_server_start(&s, NULL, none);
    ck_assert_int_eq(preflight(&s, "/listStreams", ok, sdk_preflight_post, &h), 403);
    free(h);
    ck_assert_int_eq(post(&s, "/listStreams", ok, NULL, &h), 200);
    ck_assert_str_eq(hval(h, "Access-Control-Allow-Origin"), "");
    free(h);
    fl_test_server_free(&s);

    /* "*": any origin */
    char *any[] = {"--cors-origins", "*", NULL};
    fl_test_server_start(&s, NULL, any);
    ck_assert_int_eq(preflight(&s, "/listStreams", bad, sdk_preflight_post, &h), 204);
    ck_assert_str_eq(hval(h, "Access-Control-Allow-Origin"), "*");
    free(h);
    fl_test_server_free(&s);
}
END_TEST

/* framelogd refuses (exit 2, as for any bad flag) a list with what is no
 * origin in it, naming it. */
START_TEST(flag_refuses_what_is_no_origin)
{
    const char *bad[][2] = {{"ftp://x.example", "is not an origin"},
                            {"http://x.example/path", "is not an origin"},
                            {"http://x.example,,http://y.example", "empty"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *argv[] = {FL_FRAMELOGD,     "--listen",        "127.0.0.1:0",
                        "--cors-origins", (char *)bad[i][0], NULL};
        char *out = NULL, *err = NULL;
        int rc = fl_test_run(argv, 60000, &out, &err);
        ck_assert_msg(rc == 2 && strstr(err, "--cors-origins") && strstr(err, bad[i][1]),
                      "%s: exit %d: %s", bad[i][0], rc, err);
        free(out);
        free(err);
    }
}
END_TEST

/* The default follows the listeners: any origin while every one is
 * loopback, none once one is not. */
START_TEST(default_follows_the_listeners)
{
    fl_config_t cfg;
    char err[256];
    char *argv1[] = {"framelogd", "--listen", "127.0.0.1:0", "--listen", "[::1]:0", NULL};
    ck_assert_int_eq(fl_config_parse(&cfg, 5, argv1, NULL, err, sizeof err), 0);
    fl_cors_t c;
    ck_assert_int_eq(fl_cors_parse(cfg.cors_origins, &cfg, &c, err, sizeof err), 0);
    ck_assert_int_eq(c.any, 1);
    fl_config_free(&cfg);
    char *argv2[] = {"framelogd", "--listen", "127.0.0.1:0", "--listen", "0.0.0.0:0", NULL};
    ck_assert_int_eq(fl_config_parse(&cfg, 5, argv2, NULL, err, sizeof err), 0);
    ck_assert_int_eq(fl_cors_parse(cfg.cors_origins, &cfg, &c, err, sizeof err), 0);
    ck_assert_int_eq(c.any, 0);
    ck_assert_int_eq(c.n, 0);
    fl_config_free(&cfg);
    char *argv3[] = {"framelogd",           "--listen", "0.0.0.0:0", "--cors-origins",
                     "https://a.example,*", NULL};
    ck_assert_int_eq(fl_config_parse(&cfg, 5, argv3, NULL, err, sizeof err), 0);
    ck_assert_int_eq(fl_cors_parse(cfg.cors_origins, &cfg, &c, err, sizeof err), 0);
    ck_assert_int_eq(c.any, 1);
    ck_assert_int_eq(c.n, 1);
    ck_assert_str_eq(c.origins[0], "https://a.example");
    fl_config_free(&cfg);
}
END_TEST

static char *browser_run(const fl_test_server_t *s)
{
    char *argv[] = {"node", FL_SOURCE_DIR "/tests/browser/cors_fetch.js", (char *)s->url, NULL};
    char *out = NULL, *err = NULL;
    int rc = fl_test_run(argv, 120000, &out, &err);
    ck_assert_msg(rc == 0, "the browser did not run (%d): %s / %s", rc, out, err);
    free(err);
    return out;
}

/* A page on another origin calls the JSON APIs with fetch, as the AWS JS
 * SDK does (its headers make the browser preflight): allowed by default on
 * loopback, refused by the browser when the origin is not listed. */
START_TEST(browser_page_on_another_origin_calls_the_apis)
{
    if (!have_browser(0)) {
        fprintf(stderr, "skipped: chromium, node or tests/browser/node_modules missing "
                        "(scripts/deps.sh --test)\n");
        return;
    }
    fl_test_server_t s;
    fl_test_server_start(&s, NULL, NULL);
    char *out = browser_run(&s);
    ck_assert_msg(strstr(out, "\"origin\":\"http://localhost:") != NULL, "%s", out);
    ck_assert_msg(strstr(out, "\"error\"") == NULL, "%s", out);
    ck_assert_msg(strstr(out, "\"kvs\":{\"status\":200,\"requestId\":\"") != NULL, "%s", out);
    ck_assert_msg(strstr(out, "StreamInfoList") != NULL, "%s", out);
    ck_assert_msg(strstr(out, "\"kds\":{\"status\":200,\"requestId\":\"") != NULL, "%s", out);
    ck_assert_msg(strstr(out, "StreamNames") != NULL, "%s", out);
    ck_assert_msg(strstr(out, "\"errorType\":\"ResourceNotFoundException\"") != NULL, "%s", out);
    ck_assert_msg(strstr(out, "\"features\":{\"status\":200") != NULL, "%s", out);
    free(out);
    fl_test_server_free(&s);

    char *args[] = {"--cors-origins", "https://console.example", NULL};
    fl_test_server_start(&s, NULL, args);
    out = browser_run(&s);
    ck_assert_msg(strstr(out, "\"kvs\":{\"error\":\"TypeError") != NULL, "%s", out);
    ck_assert_msg(strstr(out, "\"kds\":{\"error\":\"TypeError") != NULL, "%s", out);
    ck_assert_msg(strstr(out, "\"features\":{\"error\":\"TypeError") != NULL, "%s", out);
    free(out);
    fl_test_server_free(&s);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("server_cors");
    TCase *tc = tcase_create("cors");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, default_loopback_allows_any_origin_on_every_api);
    tcase_add_test(tc, listed_origins_only);
    tcase_add_test(tc, flag_refuses_what_is_no_origin);
    tcase_add_test(tc, default_follows_the_listeners);
    tcase_add_test(tc, browser_page_on_another_origin_calls_the_apis);
    suite_add_tcase(s, tc);
    return fl_test_main(s);
}
