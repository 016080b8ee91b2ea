/*
 * tests/test_console.c — the web console (server/console/, docs/console.md)
 * against the real framelogd.
 *
 * files:   `/` redirects to /console/; the console's files come with the
 *          right Content-Types, an ETag that If-None-Match turns into 304,
 *          no-cache for the console's own files and a year for the
 *          versioned vendor/ files; nothing outside the folder is reachable;
 *          --console-dir serves another folder, and a missing one stops
 *          framelogd at start with a one-line reason; `cmake --install`
 *          puts the files where the installed framelogd finds them.
 * status:  GET /framelog/features names the APIs this server has; POST
 *          /framelog/listStreamStatus says, per stream, whether a producer
 *          is connected, the newest fragment, the recent bitrate, retention
 *          and bytes on disk, paged; /metrics has framelog_storage_bytes.
 * browser: headless Chromium (tests/browser/console.js) uses the console
 *          as a person would while framelog-put --realtime pushes video:
 *          create a stream, see it live, watch it, find the fragments on the
 *          timeline, click in the past, see a thumbnail on hover (when the
 *          server has GetImages), select a range and
 *          download it (GetClip: ffprobe checks the MP4), see the
 *          companion data stream's records, the Server page's plots, the
 *          keyboard path and the phone layout, with no error in the
 *          browser's console. Screenshots in <build>/tests/console-artifacts/
 *          (docs/console/ holds copies). Zoomed out to 7 days over more
 *          fragments than the exact view lists, the timeline is sampled
 *          and covers the oldest and the newest burst, not the gap
 *          between. With access keys on, the sign-in
 *          form refuses a wrong key with the server's reason and signs
 *          every call with the right one. Skips, saying so, without chromium,
 *          node or the npm packages (scripts/deps.sh --test).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/json.h"
#include "media_harness.h"

/* curl: the status; body and headers into *body / *headers when not NULL.
 * extra: a header to send, or NULL. */
static int http(const char *method, const char *url, const char *extra, const char *data,
                char **body, char **headers)
{
    char *dir = fl_test_mkdtemp("console");
    char bpath[4200], hpath[4200];
    snprintf(bpath, sizeof bpath, "%s/body", dir);
    snprintf(hpath, sizeof hpath, "%s/headers", dir);
    char *argv[24];
    int n = 0;
    argv[n++] = "curl";
    argv[n++] = "-sS";
    argv[n++] = "--path-as-is";
    argv[n++] = "--max-time";
    argv[n++] = "60";
    argv[n++] = "-X";
    argv[n++] = (char *)method;
    if (extra) {
        argv[n++] = "-H";
        argv[n++] = (char *)extra;
    }
    if (data) {
        argv[n++] = "-H";
        argv[n++] = "Content-Type: application/json";
        argv[n++] = "--data-binary";
        argv[n++] = (char *)data;
    }
    argv[n++] = "-o";
    argv[n++] = bpath;
    argv[n++] = "-D";
    argv[n++] = hpath;
    argv[n++] = "-w";
    argv[n++] = "%{http_code}";
    argv[n++] = (char *)url;
    argv[n] = NULL;
    char *out = NULL;
    ck_assert_int_eq(fl_test_run(argv, 90000, &out, NULL), 0);
    int status = atoi(out);
    free(out);
    if (body) {
        *body = fl_test_read_file(bpath, NULL);
        if (!*body)
            *body = strdup("");
    }
    if (headers)
        *headers = fl_test_read_file(hpath, NULL);
    fl_test_rmtree(dir);
    return status;
}

/* The value of header name (case-insensitive) in a header block, copied
 * into buf without its line end; "" when absent. */
static const char *header(const char *headers, const char *name, char *buf, size_t cap)
{
    buf[0] = 0;
    size_t n = strlen(name);
    for (const char *p = headers; p && *p;) {
        if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
            p += n + 1;
            while (*p == ' ')
                p++;
            size_t k = strcspn(p, "\r\n");
            if (k >= cap)
                k = cap - 1;
            memcpy(buf, p, k);
            buf[k] = 0;
            return buf;
        }
        const char *nl = strchr(p, '\n');
        p = nl ? nl + 1 : NULL;
    }
    return buf;
}

static void url(char *buf, size_t cap, const fl_test_server_t *s, const char *path)
{
    snprintf(buf, cap, "%s%s", s->url, path);
}

START_TEST(root_redirects_and_files_are_cached)
{
    fl_test_server_t s;
    fl_test_server_start(&s, NULL, NULL);
    char u[256], h[512], etag[64];
    char *body = NULL, *hd = NULL;

    url(u, sizeof u, &s, "/");
    ck_assert_int_eq(http("GET", u, NULL, NULL, &body, &hd), 302);
    ck_assert_str_eq(header(hd, "Location", h, sizeof h), "/console/");
    free(body);
    free(hd);
    url(u, sizeof u, &s, "/console");
    ck_assert_int_eq(http("GET", u, NULL, NULL, &body, &hd), 301);
    ck_assert_str_eq(header(hd, "Location", h, sizeof h), "/console/");
    free(body);
    free(hd);

    /* the page: HTML, revalidated, with a policy */
    url(u, sizeof u, &s, "/console/");
    ck_assert_int_eq(http("GET", u, NULL, NULL, &body, &hd), 200);
    ck_assert_str_eq(header(hd, "Content-Type", h, sizeof h), "text/html; charset=utf-8");
    ck_assert_str_eq(header(hd, "Cache-Control", h, sizeof h), "no-cache");
    ck_assert_ptr_nonnull(
        strstr(header(hd, "Content-Security-Policy", h, sizeof h), "default-src 'self'"));
    ck_assert_ptr_nonnull(strstr(body, "vendor/hls.js-"));
    ck_assert_ptr_nonnull(strstr(body, "js/app.js"));
    header(hd, "ETag", etag, sizeof etag);
    ck_assert_int_eq((int)strlen(etag), 18);
    free(body);
    free(hd);
    /* the same ETag: 304 and no body; another: the page again */
    char inm[128];
    snprintf(inm, sizeof inm, "If-None-Match: %s", etag);
    ck_assert_int_eq(http("GET", u, inm, NULL, &body, &hd), 304);
    ck_assert_str_eq(body, "");
    free(body);
    free(hd);
    ck_assert_int_eq(http("GET", u, "If-None-Match: \"0000000000000000\"", NULL, &body, NULL), 200);
    ck_assert_ptr_nonnull(strstr(body, "<html"));
    free(body);

    /* types by extension */
    static const struct {
        const char *path, *type, *cache;
    } files[] = {
        {"/console/js/app.js", "text/javascript; charset=utf-8", "no-cache"},
        {"/console/style.css", "text/css; charset=utf-8", "no-cache"},
        {"/console/favicon.svg", "image/svg+xml", "no-cache"},
        {"/console/vendor/hls.js-1.7.4/hls.min.js", "text/javascript; charset=utf-8",
         "public, max-age=31536000, immutable"},
        {"/console/vendor/hls.js-1.7.4/LICENSE", "text/plain; charset=utf-8",
         "public, max-age=31536000, immutable"},
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        url(u, sizeof u, &s, files[i].path);
        ck_assert_msg(http("GET", u, NULL, NULL, &body, &hd) == 200, "%s", files[i].path);
        ck_assert_str_eq(header(hd, "Content-Type", h, sizeof h), files[i].type);
        ck_assert_str_eq(header(hd, "Cache-Control", h, sizeof h), files[i].cache);
        ck_assert_str_eq(header(hd, "X-Content-Type-Options", h, sizeof h), "nosniff");
        ck_assert_int_gt((int)strlen(body), 100);
        free(body);
        free(hd);
    }
    /* the licence carried with hls.js is Apache 2.0's */
    url(u, sizeof u, &s, "/console/vendor/hls.js-1.7.4/LICENSE");
    http("GET", u, NULL, NULL, &body, NULL);
    ck_assert_ptr_nonnull(strstr(body, "Apache License"));
    free(body);

    /* nothing else: unknown files, dot paths, the source tree above */
    static const char *const missing[] = {"/console/nope.js", "/console/../CMakeLists.txt",
                                          "/console/js/../../console.c", "/console/.hidden",
                                          "/console//etc/passwd"};
    for (size_t i = 0; i < sizeof missing / sizeof missing[0]; i++) {
        url(u, sizeof u, &s, missing[i]);
        int st = http("GET", u, NULL, NULL, &body, NULL);
        ck_assert_msg(st == 404, "%s: %d", missing[i], st);
        ck_assert_ptr_null(strstr(body, "add_library"));
        free(body);
    }
    fl_test_server_free(&s);
}
END_TEST

START_TEST(console_dir_flag)
{
    char *dir = fl_test_mkdtemp("www");
    char p[4300];
    snprintf(p, sizeof p, "%s/index.html", dir);
    ck_assert_int_eq(fl_test_write_file(p, "<p>another console</p>", 22), 0);
    snprintf(p, sizeof p, "%s/.secret", dir);
    ck_assert_int_eq(fl_test_write_file(p, "no", 2), 0);
    fl_test_server_t s;
    char *args[] = {"--console-dir", dir, NULL};
    fl_test_server_start(&s, NULL, args);
    char u[256];
    char *body = NULL;
    url(u, sizeof u, &s, "/console/");
    ck_assert_int_eq(http("GET", u, NULL, NULL, &body, NULL), 200);
    ck_assert_str_eq(body, "<p>another console</p>");
    free(body);
    url(u, sizeof u, &s, "/console/.secret");
    ck_assert_int_eq(http("GET", u, NULL, NULL, &body, NULL), 404);
    free(body);
    fl_test_server_free(&s);

    /* a folder that is not there: no start, one line saying why */
    char *data = fl_test_mkdtemp("data");
    char *argv[] = {FL_FRAMELOGD, "--listen",      "127.0.0.1:0",          "--data-dir",
                    data,         "--console-dir", "/nonexistent/console", NULL};
    char *err = NULL;
    int rc = fl_test_run(argv, 30000, NULL, &err);
    ck_assert_int_eq(rc, 1);
    ck_assert_msg(strstr(err, "--console-dir") && strstr(err, "/nonexistent/console"), "%s", err);
    free(err);
    fl_test_rmtree(data);
    fl_test_rmtree(dir);
}
END_TEST

static const fl_json_t *at(const fl_json_t *list, size_t i)
{
    const fl_json_t *v = list ? list->child : NULL;
    while (v && i--)
        v = v->next;
    ck_assert_ptr_nonnull(v);
    return v;
}

static double num(const fl_json_t *v)
{
    ck_assert_ptr_nonnull(v);
    ck_assert_int_eq(v->type, FL_JSON_NUMBER);
    return atof(v->str);
}

/* `cmake --install` carries the console next to the binary, and the
 * installed framelogd finds it there (before the source tree's copy). */
START_TEST(installed_framelogd_finds_its_console)
{
    char *prefix = fl_test_mkdtemp("prefix");
    char *inst[] = {"cmake", "--install", FL_BINARY_DIR, "--prefix", prefix, NULL};
    char *out = NULL, *err = NULL;
    ck_assert_msg(fl_test_run(inst, 120000, &out, &err) == 0, "%s %s", out, err);
    free(out);
    free(err);
    char p[4400], bin[4400], want[4400];
    snprintf(p, sizeof p, "%s/share/framelog/console/vendor/hls.js-1.7.4/LICENSE", prefix);
    ck_assert_int_eq(access(p, R_OK), 0);
    snprintf(bin, sizeof bin, "%s/bin/framelogd", prefix);
    snprintf(want, sizeof want, "files from %s/bin/../share/framelog/console at /console/", prefix);
    char *data = fl_test_mkdtemp("data");
    char *argv[] = {bin, "--listen", "127.0.0.1:0", "--data-dir", data, NULL};
    fl_test_proc_t proc;
    ck_assert_int_eq(fl_test_spawn(&proc, argv, NULL), 0);
    char *log = NULL;
    long long t0 = fl_test_now_ms();
    for (;;) {
        free(log);
        log = fl_test_proc_stderr(&proc);
        if ((log && strstr(log, want)) || fl_test_now_ms() - t0 > 30000)
            break;
        usleep(100000);
    }
    ck_assert_msg(log && strstr(log, want), "wanted '%s' in: %s", want, log);
    free(log);
    fl_test_proc_free(&proc);
    fl_test_rmtree(data);
    fl_test_rmtree(prefix);
}
END_TEST

static fl_json_doc_t *post(const fl_test_server_t *s, const char *path, const char *json,
                           int want_status)
{
    char u[256];
    char *body = NULL;
    url(u, sizeof u, s, path);
    int st = http("POST", u, NULL, json, &body, NULL);
    ck_assert_msg(st == want_status, "%s %s: %d %s", path, json, st, body);
    fl_json_doc_t *d = NULL;
    ck_assert_msg(fl_json_parse(fl_slice_str(body), NULL, &d, NULL) == 0, "%s", body);
    free(body);
    return d;
}

START_TEST(features_and_stream_status)
{
    make_media();
    fl_test_server_t s;
    fl_test_server_start(&s, NULL, NULL);
    char u[256];
    char *body = NULL;

    url(u, sizeof u, &s, "/framelog/features");
    ck_assert_int_eq(http("GET", u, NULL, NULL, &body, NULL), 200);
    fl_json_doc_t *d = NULL;
    ck_assert_int_eq(fl_json_parse(fl_slice_str(body), NULL, &d, NULL), 0);
    const fl_json_t *apis = fl_json_get(fl_json_root(d), "APIs");
    ck_assert_int_eq(fl_json_get(fl_json_root(d), "SignInRequired")->type, FL_JSON_FALSE);
    ck_assert_str_eq(fl_json_get(fl_json_root(d), "Region")->str, "us-east-1");
    ck_assert_int_eq(fl_json_get(apis, "ListStreamStatus")->type, FL_JSON_TRUE);
    ck_assert_int_eq(fl_json_get(apis, "GetHLSStreamingSessionURL")->type, FL_JSON_TRUE);
    ck_assert_int_eq(fl_json_get(apis, "ListFragments")->type, FL_JSON_TRUE);
    ck_assert_int_eq(fl_json_get(apis, "KinesisGetRecords")->type, FL_JSON_TRUE);
    ck_assert_int_eq(fl_json_get(apis, "Metrics")->type, FL_JSON_TRUE);
    ck_assert_ptr_nonnull(fl_json_get(apis, "GetClip")); /* true once the route exists */
    fl_json_free(d);
    free(body);

    create_stream(&s, "a-cam");
    create_stream(&s, "b-cam");
    double start = (double)time(NULL) - 30;
    char *acks = NULL, *err = NULL;
    ck_assert_int_eq(put_media(&s, "a-cam", g_mkv, start, &acks, &err), 0);
    check_ack_order(acks, 3);
    free(acks);
    free(err);

    d = post(&s, "/framelog/listStreamStatus", "{}", 200);
    const fl_json_t *list = fl_json_get(fl_json_root(d), "StreamStatus");
    ck_assert_int_eq((int)list->count, 2);
    const fl_json_t *a = at(list, 0), *b = at(list, 1);
    ck_assert_str_eq(fl_json_get(a, "StreamName")->str, "a-cam");
    ck_assert_str_eq(fl_json_get(b, "StreamName")->str, "b-cam");
    ck_assert_ptr_nonnull(strstr(fl_json_get(a, "StreamARN")->str, ":stream/a-cam/"));
    ck_assert_int_eq(fl_json_get(a, "ProducerConnected")->type, FL_JSON_FALSE);
    ck_assert_int_eq((int)num(fl_json_get(a, "DataRetentionInHours")), 24);
    ck_assert_int_gt((int)num(fl_json_get(a, "SizeOnDiskBytes")), 10000);
    /* 6 s of 320x240 in ~3 fragments: some tens of kbit/s at least */
    double bps = num(fl_json_get(a, "RecentBitrate"));
    ck_assert_msg(bps > 10000 && bps < 50e6, "%f", bps);
    const fl_json_t *last = fl_json_get(a, "LastFragment");
    ck_assert_ptr_nonnull(last);
    /* the newest of 6 s from start: its producer time is start + 4 s */
    double pts = num(fl_json_get(last, "ProducerTimestamp"));
    ck_assert_msg(fabs(pts - (start + 4)) < 0.5, "%f vs %f", pts, start + 4);
    ck_assert_int_eq((int)num(fl_json_get(last, "FragmentLengthInMilliseconds")), 2000);
    ck_assert_int_ge((int)num(fl_json_get(last, "AgeInMilliseconds")), 0);
    ck_assert_ptr_nonnull(fl_json_get(last, "FragmentNumber"));
    /* b-cam has none */
    ck_assert_ptr_null(fl_json_get(b, "LastFragment"));
    ck_assert_int_eq((int)num(fl_json_get(b, "SizeOnDiskBytes")) >= 0, 1);
    ck_assert_int_eq((int)num(fl_json_get(b, "RecentBitrate")), 0);
    fl_json_free(d);

    /* pages */
    d = post(&s, "/framelog/listStreamStatus", "{\"MaxResults\":1}", 200);
    list = fl_json_get(fl_json_root(d), "StreamStatus");
    ck_assert_int_eq((int)list->count, 1);
    char next[512];
    snprintf(next, sizeof next, "{\"MaxResults\":1,\"NextToken\":\"%s\"}",
             fl_json_get(fl_json_root(d), "NextToken")->str);
    fl_json_free(d);
    d = post(&s, "/framelog/listStreamStatus", next, 200);
    list = fl_json_get(fl_json_root(d), "StreamStatus");
    ck_assert_int_eq((int)list->count, 1);
    ck_assert_str_eq(fl_json_get(at(list, 0), "StreamName")->str, "b-cam");
    ck_assert_ptr_null(fl_json_get(fl_json_root(d), "NextToken"));
    fl_json_free(d);
    /* one stream; an unknown one is no row */
    d = post(&s, "/framelog/listStreamStatus", "{\"StreamName\":\"b-cam\"}", 200);
    ck_assert_int_eq((int)fl_json_get(fl_json_root(d), "StreamStatus")->count, 1);
    fl_json_free(d);
    d = post(&s, "/framelog/listStreamStatus", "{\"StreamName\":\"zzz\"}", 200);
    ck_assert_int_eq((int)fl_json_get(fl_json_root(d), "StreamStatus")->count, 0);
    fl_json_free(d);
    /* bad fields */
    d = post(&s, "/framelog/listStreamStatus", "{\"MaxResults\":0}", 400);
    ck_assert_str_eq(fl_json_get(fl_json_root(d), "__type")->str, "InvalidArgumentException");
    fl_json_free(d);
    d = post(&s, "/framelog/listStreamStatus", "{\"StreamName\":\"bad name\"}", 400);
    fl_json_free(d);
    d = post(&s, "/framelog/listStreamStatus", "{\"NextToken\":\"!!\"}", 400);
    fl_json_free(d);

    /* disk use on /metrics */
    url(u, sizeof u, &s, "/metrics");
    ck_assert_int_eq(http("GET", u, NULL, NULL, &body, NULL), 200);
    ck_assert_msg(fl_test_metric(body, "framelog_storage_bytes") > 10000, "%s", body);
    ck_assert_msg(fl_test_metric(body, "framelog_storage_expired_segments_total") == 0, "%s", body);
    free(body);
    fl_test_server_free(&s);
}
END_TEST

START_TEST(console_in_chromium)
{
    if (!have_browser(0)) {
        fprintf(stderr, "skipped: chromium, node or tests/browser/node_modules missing "
                        "(scripts/deps.sh --test)\n");
        return;
    }
    char *dir = fl_test_mkdtemp("console-media");
    char video[4300], art[4200];
    snprintf(video, sizeof video, "%s/camera.mp4", dir);
    /* 60 s of 320x240 at 25 fps, a key frame every second (one fragment
     * each), no B-frames as a camera's low-latency encoding (LL-HLS parts
     * of 200 ms; a fragment with B-frames is one part) */
    char *ff[] = {"ffmpeg",
                  "-hide_banner",
                  "-loglevel",
                  "error",
                  "-y",
                  "-f",
                  "lavfi",
                  "-i",
                  "testsrc=size=320x240:rate=25",
                  "-t",
                  "60",
                  "-c:v",
                  "libx264",
                  "-bf",
                  "0",
                  "-g",
                  "25",
                  "-keyint_min",
                  "25",
                  "-sc_threshold",
                  "0",
                  "-pix_fmt",
                  "yuv420p",
                  video,
                  NULL};
    ck_assert_int_eq(fl_test_run(ff, 120000, NULL, NULL), 0);
    snprintf(art, sizeof art, "%s/tests/console-artifacts", FL_BINARY_DIR);
    mkdir(art, 0755);

    fl_test_server_t s;
    fl_test_server_start(&s, NULL, NULL);
    char *argv[] = {
        "node", FL_SOURCE_DIR "/tests/browser/console.js", s.url, FL_FRAMELOG_PUT, video, art,
        NULL};
    char *out = NULL, *err = NULL;
    int rc = fl_test_run(argv, 600000, &out, &err);
    ck_assert_msg(rc == 0, "the console test failed (%d): %s / %s", rc, out, err);
    ck_assert_ptr_nonnull(strstr(out, "\"ok\":true"));
    ck_assert_ptr_nonnull(strstr(out, "\"errors\":[]"));
    fprintf(stderr, "console: %s\n", out); /* the LL-HLS delay, among others */
    /* the screenshots the docs use */
    static const char *const shots[] = {"streams",          "stream-live", "stream-replay",
                                        "stream-selection", "server",      "streams-phone",
                                        "stream-phone"};
    for (size_t i = 0; i < sizeof shots / sizeof shots[0]; i++) {
        char p[4400];
        struct stat st;
        snprintf(p, sizeof p, "%s/%s.png", art, shots[i]);
        ck_assert_msg(stat(p, &st) == 0 && st.st_size > 5000, "%s", p);
    }
    /* the clip (this server has GetClip): an MP4 of the selected ~4 s */
    char clip[4400];
    snprintf(clip, sizeof clip, "%s/clip.mp4", art);
    ck_assert_msg(strstr(out, "\"clip\":{") != NULL, "no clip was downloaded: %s", out);
    {
        char *pr[] = {
            "ffprobe", "-v", "error", "-show_entries", "format=format_name,duration", "-of",
            "csv=p=0", clip, NULL};
        char *po = NULL;
        ck_assert_int_eq(fl_test_run(pr, 60000, &po, NULL), 0);
        ck_assert_msg(strstr(po, "mp4") != NULL, "%s", po);
        double dur = atof(strrchr(po, ',') + 1);
        ck_assert_msg(dur >= 3.5 && dur <= 6.5, "clip of %f s for a 4 s selection", dur);
        free(po);
    }
    free(out);
    free(err);
    fl_test_server_free(&s);
    fl_test_rmtree(dir);
}
END_TEST

/* The timeline zoomed out to 7 days over an archive with more fragments
 * than the exact view lists: three bursts of 60 fragments of 10 s (PutMedia
 * with producer times from 6.5 days ago, 6.5 days ago + 1 h, and 30
 * minutes ago; 10 minutes each, more than a pixel of the 7-day view), the
 * page asking ListFragments 10 at a time (`?fragmentPage=10`: the exact
 * view's cap is 100 fragments), so the newest burst lies past the cap.
 * tests/browser/console_timeline.js checks that the timeline covers
 * every burst and not the gap, says it is sampled, plays and shows a
 * thumbnail from the newest burst. */
START_TEST(console_timeline_week)
{
    if (!have_browser(0)) {
        fprintf(stderr, "skipped: chromium, node or tests/browser/node_modules missing\n");
        return;
    }
    char *dir = fl_test_mkdtemp("console-week");
    char mkv[4300], art[4200];
    snprintf(mkv, sizeof mkv, "%s/burst.mkv", dir);
    /* 10 min of 64x64, a frame every 10 s, each a key frame and a cluster:
     * 60 fragments */
    char *ff[] = {"ffmpeg",
                  "-hide_banner",
                  "-loglevel",
                  "error",
                  "-y",
                  "-f",
                  "lavfi",
                  "-i",
                  "testsrc=size=64x64:rate=0.1",
                  "-frames:v",
                  "60",
                  "-c:v",
                  "libx264",
                  "-g",
                  "1",
                  "-pix_fmt",
                  "yuv420p",
                  "-cluster_time_limit",
                  "10",
                  "-f",
                  "matroska",
                  mkv,
                  NULL};
    ck_assert_int_eq(fl_test_run(ff, 120000, NULL, NULL), 0);
    snprintf(art, sizeof art, "%s/tests/console-artifacts", FL_BINARY_DIR);
    mkdir(art, 0755);

    fl_test_server_t s;
    fl_test_server_start(&s, NULL, NULL);
    create_stream(&s, "week-cam");
    double now = (double)time(NULL);
    const double starts[] = {now - 6.5 * 86400, now - 6.5 * 86400 + 3600, now - 1800};
    char bursts[512];
    size_t n = 0;
    n += (size_t)snprintf(bursts + n, sizeof bursts - n, "[");
    for (int i = 0; i < 3; i++) {
        char *acks = NULL, *err = NULL;
        ck_assert_msg(put_media(&s, "week-cam", mkv, starts[i], &acks, &err) == 0, "%s", err);
        check_ack_order(acks, 60);
        free(acks);
        free(err);
        n += (size_t)snprintf(bursts + n, sizeof bursts - n, "%s[%.0f,%.0f]", i ? "," : "",
                              starts[i] * 1000, (starts[i] + 600) * 1000);
    }
    snprintf(bursts + n, sizeof bursts - n, "]");
    char *argv[] = {
        "node", FL_SOURCE_DIR "/tests/browser/console_timeline.js", s.url, "week-cam", bursts, art,
        NULL};
    char *out = NULL, *err = NULL;
    int rc = fl_test_run(argv, 400000, &out, &err);
    ck_assert_msg(rc == 0, "the week view failed (%d): %s / %s", rc, out, err);
    ck_assert_ptr_nonnull(strstr(out, "\"errors\":[]"));
    fprintf(stderr, "week view: %s\n", out);
    char png[4400];
    struct stat st;
    snprintf(png, sizeof png, "%s/stream-week.png", art);
    ck_assert_msg(stat(png, &st) == 0 && st.st_size > 5000, "%s", png);
    free(out);
    free(err);
    fl_test_server_free(&s);
    fl_test_rmtree(dir);
}
END_TEST

/* AccessKey.<name> of `keys create`'s answer into out. */
static void json_str(const char *text, const char *name, char *out, size_t cap)
{
    fl_json_doc_t *d = NULL;
    ck_assert_msg(fl_json_parse(fl_slice_str(text), NULL, &d, NULL) == 0, "%s", text);
    const fl_json_t *v = fl_json_get(fl_json_get(fl_json_root(d), "AccessKey"), name);
    ck_assert_msg(v && v->type == FL_JSON_STRING && v->len < cap, "no %s in %s", name, text);
    memcpy(out, v->str, v->len + 1);
    fl_json_free(d);
}

/* With access keys on: the console asks for a key, refuses a wrong one with
 * a message on the page, signs every call with the right one (SigV4 in
 * the browser) and keeps the secret in the tab's sessionStorage only. */
START_TEST(console_sign_in_with_access_keys)
{
    if (!have_browser(0)) {
        fprintf(stderr, "skipped: chromium, node or tests/browser/node_modules missing\n");
        return;
    }
    char *data = fl_test_mkdtemp("keys");
    char *argv[] = {FL_FRAMELOGD, "keys", "create", "console-admin", "--data-dir", data, NULL};
    char *out = NULL, *err = NULL;
    ck_assert_msg(fl_test_run(argv, 60000, &out, &err) == 0, "keys create: %s", err);
    char ak[160], sk[160];
    json_str(out, "AccessKeyId", ak, sizeof ak);
    json_str(out, "SecretAccessKey", sk, sizeof sk);
    free(out);
    free(err);
    fl_test_server_t s;
    fl_test_server_start(&s, data, NULL);
    /* locked: the features say so, and an unsigned call is refused */
    char u[256];
    char *body = NULL;
    url(u, sizeof u, &s, "/framelog/features");
    ck_assert_int_eq(http("GET", u, NULL, NULL, &body, NULL), 200);
    ck_assert_ptr_nonnull(strstr(body, "\"SignInRequired\":true"));
    free(body);
    url(u, sizeof u, &s, "/framelog/listStreamStatus");
    ck_assert_int_eq(http("POST", u, NULL, "{}", &body, NULL), 403);
    free(body);

    char art[4200];
    snprintf(art, sizeof art, "%s/tests/console-artifacts", FL_BINARY_DIR);
    mkdir(art, 0755);
    char *node[] = {"node", FL_SOURCE_DIR "/tests/browser/console_signin.js", s.url, ak, sk, art,
                    NULL};
    int rc = fl_test_run(node, 300000, &out, &err);
    ck_assert_msg(rc == 0, "sign-in failed (%d): %s / %s", rc, out, err);
    ck_assert_ptr_nonnull(strstr(out, "\"errors\":[]"));
    free(out);
    free(err);
    fl_test_server_free(&s);
    fl_test_rmtree(data);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("console");
    TCase *t = tcase_create("files");
    tcase_add_test(t, root_redirects_and_files_are_cached);
    tcase_add_test(t, console_dir_flag);
    tcase_add_test(t, installed_framelogd_finds_its_console);
    suite_add_tcase(s, t);
    t = tcase_create("status");
    tcase_add_test(t, features_and_stream_status);
    suite_add_tcase(s, t);
    t = tcase_create("browser");
    tcase_add_test(t, console_in_chromium);
    tcase_add_test(t, console_timeline_week);
    tcase_add_test(t, console_sign_in_with_access_keys);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    int rc = fl_test_main(suite());
    if (g_dir)
        fl_test_rmtree(g_dir);
    return rc;
}
