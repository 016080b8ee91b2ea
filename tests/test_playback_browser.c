/*
 * tests/test_playback_browser.c — a browser plays framelog's HLS: headless
 * Chromium (Debian's) with hls.js, from a page on another origin
 * (tests/browser/play_hls.js), for ON_DEMAND fMP4 and MPEG-TS sessions and
 * a LIVE session while a producer streams in real time, and GetClip's MP4
 * in a <video> (tests/browser/play_clip.js). Each asserts that
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

/* Play url in the browser; the screenshot is kept as name.png. */
static void plays(const char *url, const char *name)
{
    char dir[4200], shot[4300];
    snprintf(dir, sizeof dir, "%s/tests/browser-artifacts", FL_BINARY_DIR);
    mkdir(dir, 0755);
    snprintf(shot, sizeof shot, "%s/%s.png", dir, name);
    /* up to 90 s for 1.5 s of play: the page stops as soon as it played;
     * on a loaded machine Chromium stalls for a while first */
    char *argv[] = {"node", FL_SOURCE_DIR "/tests/browser/play_hls.js", (char *)url, shot, "90",
                    NULL};
    char *out = NULL, *err = NULL;
    int rc = fl_test_run(argv, 180000, &out, &err);
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
    if (!have_browser(1)) {
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
    ts_selector(sel, sizeof sel, "PRODUCER_TIMESTAMP", start - 1, start + 100);
    char *a1[] = {"--stream-name",
                  "web",
                  "--playback-mode",
                  "ON_DEMAND",
                  "--hls-fragment-selector",
                  sel,
                  NULL};
    char *url = hls_url(&s, a1, NULL);
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
    url = hls_url(&s, a2, NULL);
    ck_assert_ptr_nonnull(url);
    plays(url, "on_demand_ts");
    free(url);
    fl_test_server_free(&s);
}
END_TEST

START_TEST(hls_js_plays_live)
{
    if (!have_browser(1)) {
        fprintf(stderr, "skipped: chromium, node or tests/browser/node_modules missing\n");
        return;
    }
    make_media();
    fl_test_server_t s;
    fl_test_server_start(&s, NULL, NULL);
    create_stream(&s, "weblive");
    /* 120 s of 1 s fragments, sent at the pace of their timestamps (the
     * test ends the producer once the browser played) */
    char mkv[4300];
    snprintf(mkv, sizeof mkv, "%s/weblive.mkv", g_dir);
    const char *h264[] = {"-c:v", "libx264",       "-g", "30", "-keyint_min",
                          "30",   "-sc_threshold", "0",  NULL};
    make_clip(mkv, "testsrc=size=320x240:rate=30", "120", 0, h264);
    fl_test_proc_t prod;
    put_media_live(&s, "weblive", mkv, 200, &prod);
    char *a1[] = {"--stream-name", "weblive", "--playback-mode", "LIVE", NULL};
    char *url = NULL;
    long long t0 = fl_test_now_ms();
    while (!url && fl_test_now_ms() - t0 < 20000) {
        if (fl_test_now_ms() - t0 > 3000) /* a few fragments first */
            url = hls_url(&s, a1, NULL);
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
    if (!have_browser(1)) {
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
             "gst-launch-1.0 -q videotestsrc is-live=true num-buffers=3600 ! "
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
        url = hls_url(&s, a1, NULL);
        if (!url)
            usleep(250000);
    }
    ck_assert_msg(url != NULL, "no LIVE session");
    char dir[4200], shot[4300];
    snprintf(dir, sizeof dir, "%s/tests/browser-artifacts", FL_BINARY_DIR);
    mkdir(dir, 0755);
    snprintf(shot, sizeof shot, "%s/live_ll_hls.png", dir);
    char *argv[] = {"node", FL_SOURCE_DIR "/tests/browser/play_hls.js", url, shot, "90", NULL};
    char *out = NULL, *err = NULL;
    int rc = fl_test_run(argv, 180000, &out, &err);
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

/* GetClip's MP4 (fragmented, moov first: docs/playback.md) plays in
 * Chromium's <video>: a page on another origin fetches it (CORS) and plays
 * it from a blob URL. */
START_TEST(chromium_plays_a_clip)
{
    if (!have_browser(1)) {
        fprintf(stderr, "skipped: chromium, node or tests/browser/node_modules missing\n");
        return;
    }
    fl_test_server_t s;
    pushed_stream(&s, "clip");
    char body[512], dir[4200], shot[4300];
    snprintf(body, sizeof body,
             "{\"StreamName\":\"clip\",\"ClipFragmentSelector\":{\"FragmentSelectorType\":"
             "\"PRODUCER_TIMESTAMP\",\"TimestampRange\":{\"StartTimestamp\":%.3f,"
             "\"EndTimestamp\":%.3f}}}",
             g_start - 1, g_start + 100);
    snprintf(dir, sizeof dir, "%s/tests/browser-artifacts", FL_BINARY_DIR);
    mkdir(dir, 0755);
    snprintf(shot, sizeof shot, "%s/clip.png", dir);
    char *argv[] = {"node", FL_SOURCE_DIR "/tests/browser/play_clip.js", s.url, body, shot, NULL};
    char *out = NULL, *err = NULL;
    int rc = fl_test_run(argv, 120000, &out, &err);
    ck_assert_msg(rc == 0, "the clip did not play (%d): %s / %s", rc, out, err);
    ck_assert_msg(strstr(out, "\"width\":320,\"height\":240") != NULL, "%s", out);
    free(out);
    free(err);
    fl_test_server_free(&s);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("playback_browser");
    TCase *t = tcase_create("on_demand");
    tcase_add_test(t, hls_js_plays_on_demand_fmp4_and_ts);
    tcase_add_test(t, chromium_plays_a_clip);
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
