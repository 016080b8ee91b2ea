/*
 * tests/test_playback_browser.c — a browser plays framelog's HLS: headless
 * Chromium (Debian's) with hls.js, from a page on another origin
 * (tests/browser/play_hls.js), for ON_DEMAND fMP4 and MPEG-TS sessions and
 * a LIVE session while a producer streams in real time. Each asserts that
 * currentTime advances, the video has the pushed size, hls.js reports no
 * fatal error and a frame is not blank; the screenshots are kept in
 * <build>/tests/browser-artifacts/.
 *
 * Skips (passes, saying so) when chromium, node or the npm packages
 * (`scripts/deps.sh --test`) are missing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/json.h"
#include "media_harness.h"

static int have_browser(void)
{
    return access("/usr/bin/chromium", X_OK) == 0 && fl_test_have("node") &&
           access(FL_SOURCE_DIR "/tests/browser/node_modules/hls.js/dist/hls.min.js", R_OK) == 0 &&
           access(FL_SOURCE_DIR "/tests/browser/node_modules/playwright-core", R_OK) == 0;
}

static char *session_url(const fl_test_server_t *s, char **args)
{
    char *argv[40], *out = NULL, *err = NULL;
    int n = 0;
    argv[n++] = "kinesis-video-archived-media";
    argv[n++] = "get-hls-streaming-session-url";
    for (int i = 0; args[i] && n < 38; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    if (fl_test_aws(s, argv, &out, &err) != 0) {
        free(out);
        free(err);
        return NULL;
    }
    free(err);
    fl_json_doc_t *d = NULL;
    ck_assert_msg(fl_json_parse(fl_slice_str(out), NULL, &d, NULL) == 0, "%s", out);
    char *url = strdup(fl_json_get(fl_json_root(d), "HLSStreamingSessionURL")->str);
    fl_json_free(d);
    free(out);
    return url;
}

/* Play url in the browser; the screenshot is kept as name.png. */
static void plays(const char *url, const char *name)
{
    char dir[4200], shot[4300];
    snprintf(dir, sizeof dir, "%s/tests/browser-artifacts", FL_BINARY_DIR);
    mkdir(dir, 0755);
    snprintf(shot, sizeof shot, "%s/%s.png", dir, name);
    char *argv[] = {"node", FL_SOURCE_DIR "/tests/browser/play_hls.js", (char *)url, shot, "40",
                    NULL};
    char *out = NULL, *err = NULL;
    int rc = fl_test_run(argv, 120000, &out, &err);
    ck_assert_msg(rc == 0, "%s: the browser did not play (%d): %s / %s", name, rc, out, err);
    ck_assert_msg(strstr(out, "\"width\":320,\"height\":240") != NULL, "%s: %s", name, out);
    struct stat st;
    ck_assert_int_eq(stat(shot, &st), 0);
    ck_assert_int_gt(st.st_size, 1000);
    free(out);
    free(err);
}

START_TEST(hls_js_plays_on_demand_fmp4_and_ts)
{
    if (!have_browser()) {
        fprintf(stderr, "skipped: chromium, node or tests/browser/node_modules missing "
                        "(scripts/deps.sh --test)\n");
        return;
    }
    make_media();
    fl_test_server_t s;
    fl_test_server_start(&s, NULL, NULL);
    create_stream(&s, "web");
    double start = (double)time(NULL) - 60;
    char *acks = NULL, *err = NULL;
    ck_assert_int_eq(put_media(&s, "web", g_mkv, start, &acks, &err), 0);
    check_ack_order(acks, 3);
    free(acks);
    free(err);
    char sel[256];
    snprintf(sel, sizeof sel,
             "FragmentSelectorType=PRODUCER_TIMESTAMP,TimestampRange={StartTimestamp=%.3f,"
             "EndTimestamp=%.3f}",
             start - 1, start + 100);
    char *a1[] = {"--stream-name",
                  "web",
                  "--playback-mode",
                  "ON_DEMAND",
                  "--hls-fragment-selector",
                  sel,
                  NULL};
    char *url = session_url(&s, a1);
    ck_assert_ptr_nonnull(url);
    plays(url, "on_demand_fmp4");
    free(url);
    char *a2[] = {"--stream-name",
                  "web",
                  "--playback-mode",
                  "ON_DEMAND",
                  "--container-format",
                  "MPEG_TS",
                  "--hls-fragment-selector",
                  sel,
                  NULL};
    url = session_url(&s, a2);
    ck_assert_ptr_nonnull(url);
    plays(url, "on_demand_ts");
    free(url);
    fl_test_server_free(&s);
}
END_TEST

START_TEST(hls_js_plays_live)
{
    if (!have_browser()) {
        fprintf(stderr, "skipped: chromium, node or tests/browser/node_modules missing\n");
        return;
    }
    make_media();
    fl_test_server_t s;
    fl_test_server_start(&s, NULL, NULL);
    create_stream(&s, "weblive");
    /* 30 s of 1 s fragments, sent at the pace of their timestamps */
    char mkv[4300], cmd[9000];
    snprintf(mkv, sizeof mkv, "%s/weblive.mkv", g_dir);
    char *ff[] = {"ffmpeg",
                  "-hide_banner",
                  "-loglevel",
                  "error",
                  "-y",
                  "-f",
                  "lavfi",
                  "-i",
                  "testsrc=size=320x240:rate=30",
                  "-t",
                  "30",
                  "-c:v",
                  "libx264",
                  "-g",
                  "30",
                  "-keyint_min",
                  "30",
                  "-sc_threshold",
                  "0",
                  "-pix_fmt",
                  "yuv420p",
                  "-cluster_time_limit",
                  "10000",
                  "-f",
                  "matroska",
                  mkv,
                  NULL};
    ck_assert_int_eq(fl_test_run(ff, 120000, NULL, NULL), 0);
    snprintf(cmd, sizeof cmd,
             "ffmpeg -hide_banner -loglevel error -re -i %s -c copy -cluster_time_limit 10000 "
             "-f matroska - | curl -sS -N --max-time 90 -H 'x-amzn-stream-name: weblive' "
             "-H 'x-amzn-fragment-timecode-type: RELATIVE' "
             "-H 'x-amzn-producer-start-timestamp: %.3f' -H 'Transfer-Encoding: chunked' "
             "-H 'Content-Type: application/octet-stream' -X POST -T - %s/putMedia",
             mkv, (double)time(NULL), s.url);
    char *sh[] = {"sh", "-c", cmd, NULL};
    fl_test_proc_t prod;
    ck_assert_int_eq(fl_test_spawn(&prod, sh, NULL), 0);
    char *a1[] = {"--stream-name", "weblive", "--playback-mode", "LIVE", NULL};
    char *url = NULL;
    long long t0 = fl_test_now_ms();
    while (!url && fl_test_now_ms() - t0 < 20000) {
        if (fl_test_now_ms() - t0 > 3000) /* a few fragments first */
            url = session_url(&s, a1);
        if (!url)
            usleep(500000);
    }
    ck_assert_msg(url != NULL, "no LIVE session within 20 s");
    plays(url, "live_fmp4");
    free(url);
    fl_test_proc_free(&prod);
    fl_test_server_free(&s);
}
END_TEST

/* LL-HLS: a producer pushing frame by frame in real time (GStreamer), and
 * hls.js in low-latency mode fetching parts as the tail makes them. */
START_TEST(hls_js_plays_live_ll_hls_parts)
{
    if (!have_browser()) {
        fprintf(stderr, "skipped: chromium, node or tests/browser/node_modules missing\n");
        return;
    }
    char *ins[] = {"gst-inspect-1.0", "--exists", "x264enc", NULL};
    if (fl_test_run(ins, 60000, NULL, NULL) != 0) {
        fprintf(stderr, "skipped: GStreamer's x264enc is missing\n");
        return;
    }
    fl_test_server_t s;
    fl_test_server_start(&s, NULL, NULL);
    create_stream(&s, "webll");
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "gst-launch-1.0 -q videotestsrc is-live=true num-buffers=2400 ! "
             "video/x-raw,width=320,height=240,framerate=30/1 ! "
             "x264enc tune=zerolatency key-int-max=60 bitrate=1000 ! h264parse ! "
             "matroskamux streamable=true min-cluster-duration=0 ! fdsink fd=1 | "
             "curl -sS -N --max-time 200 -H 'x-amzn-stream-name: webll' "
             "-H 'x-amzn-fragment-timecode-type: RELATIVE' "
             "-H 'x-amzn-producer-start-timestamp: %.3f' -H 'Transfer-Encoding: chunked' "
             "-H 'Content-Type: application/octet-stream' -X POST -T - %s/putMedia",
             (double)time(NULL), s.url);
    char *sh[] = {"sh", "-c", cmd, NULL};
    fl_test_proc_t prod;
    ck_assert_int_eq(fl_test_spawn(&prod, sh, NULL), 0);
    char *a1[] = {"--stream-name", "webll", "--playback-mode", "LIVE", NULL};
    char *url = NULL;
    for (int i = 0; i < 200 && !url; i++) {
        url = session_url(&s, a1);
        if (!url)
            usleep(250000);
    }
    ck_assert_msg(url != NULL, "no LIVE session");
    char dir[4200], shot[4300];
    snprintf(dir, sizeof dir, "%s/tests/browser-artifacts", FL_BINARY_DIR);
    mkdir(dir, 0755);
    snprintf(shot, sizeof shot, "%s/live_ll_hls.png", dir);
    char *argv[] = {"node", FL_SOURCE_DIR "/tests/browser/play_hls.js", url, shot, "40", NULL};
    char *out = NULL, *err = NULL;
    int rc = fl_test_run(argv, 120000, &out, &err);
    ck_assert_msg(rc == 0, "the browser did not play (%d): %s / %s", rc, out, err);
    ck_assert_msg(strstr(out, "\"width\":320,\"height\":240") != NULL, "%s", out);
    /* hls.js read the parts and fetched some */
    const char *pl = strstr(out, "\"partList\":");
    const char *pa = strstr(out, "\"parts\":");
    ck_assert_msg(pl && atoi(pl + 11) > 0 && pa && atoi(pa + 8) > 0, "no LL-HLS parts: %s", out);
    fprintf(stderr, "hls.js LL-HLS: %s\n", out);
    free(out);
    free(err);
    free(url);
    fl_test_proc_free(&prod);
    fl_test_server_free(&s);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("playback_browser");
    TCase *t = tcase_create("on_demand");
    tcase_add_test(t, hls_js_plays_on_demand_fmp4_and_ts);
    suite_add_tcase(s, t);
    t = tcase_create("live");
    tcase_add_test(t, hls_js_plays_live);
    tcase_add_test(t, hls_js_plays_live_ll_hls_parts);
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
