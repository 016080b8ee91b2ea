/*
 * tests/test_playback_dash.c — MPEG-DASH sessions against the real
 * framelogd: the test file (H.264 + AAC, 3 fragments) pushed with
 * PutMedia, session URLs from the AWS CLI v2 (`aws
 * kinesis-video-archived-media get-dash-streaming-session-url`), and
 * ffprobe reading the manifest URL as a player would (MPD, then each
 * track's init and media segments): every pushed video frame, the codec
 * and size, the audio track; the manifest's types and kvs: attributes for
 * each playback mode; AWS's errors, other sessions' and altered tokens;
 * CORS.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/json.h"
#include "media_harness.h"

/* ffprobe the URL: "codec,width,height,packets" of its video (with
 * select, 1) or a "codec" line per stream (0) (malloc'd). Counting
 * the packets of the video alone: FFmpeg's DASH reader, following two
 * Representations at once, stops counting at the first one's end. */
static char *probe_streams(const char *url, int video)
{
    char *argv[] = {"ffprobe",
                    "-v",
                    "error",
                    video ? "-select_streams" : "-hide_banner",
                    video ? "v:0" : "-hide_banner",
                    "-count_packets",
                    "-show_entries",
                    "stream=codec_name,width,height,nb_read_packets",
                    "-of",
                    "csv=p=0",
                    (char *)url,
                    NULL};
    char *out = NULL, *err = NULL;
    int rc = fl_test_run(argv, 120000, &out, &err);
    ck_assert_msg(rc == 0, "ffprobe %s: %s", url, err);
    free(err);
    return out;
}

START_TEST(on_demand_manifest_plays_every_frame)
{
    fl_test_server_t s;
    pushed_stream(&s, "dash");
    char sel[256];
    ts_selector(sel, sizeof sel, "PRODUCER_TIMESTAMP", g_start - 1, g_start + 100);
    char *a[] = {"--stream-name",
                 "dash",
                 "--playback-mode",
                 "ON_DEMAND",
                 "--dash-fragment-selector",
                 sel,
                 "--display-fragment-number",
                 "ALWAYS",
                 "--display-fragment-timestamp",
                 "ALWAYS",
                 NULL};
    char *url = dash_url_ok(&s, a);
    char *mpd = NULL, *hdrs = NULL;
    ck_assert_int_eq(http_get(url, "GET", &mpd, &hdrs), 200);
    ck_assert_msg(strcasestr(hdrs, "content-type: application/dash+xml") != NULL, "%s", hdrs);
    ck_assert_msg(strcasestr(hdrs, "access-control-allow-origin: *") != NULL, "%s", hdrs);
    ck_assert_msg(strstr(mpd, "type=\"static\"") != NULL, "%s", mpd);
    ck_assert_msg(strstr(mpd, "codecs=\"avc1.") != NULL, "%s", mpd);
    ck_assert_msg(strstr(mpd, "width=\"320\" height=\"240\"") != NULL, "%s", mpd);
    ck_assert_msg(strstr(mpd, "codecs=\"mp4a.40.2\"") != NULL, "%s", mpd);
    /* two tracks, three fragments each, numbered and timed */
    ck_assert_int_eq(fl_test_count(mpd, "<AdaptationSet"), 2);
    ck_assert_int_eq(fl_test_count(mpd, "<SegmentURL"), 6);
    ck_assert_int_eq(fl_test_count(mpd, "kvs:fn=\""), 6);
    ck_assert_int_eq(fl_test_count(mpd, "kvs:ts=\""), 6);
    free(hdrs);
    free(mpd);

    char *probe = probe_streams(url, 1);
    ck_assert_msg(strstr(probe, "h264,320,240,180") != NULL, "%s", probe);
    free(probe);
    probe = probe_streams(url, 0);
    ck_assert_msg(strstr(probe, "aac,") != NULL, "%s", probe);
    free(probe);

    /* a range holding the middle fragment only */
    ts_selector(sel, sizeof sel, "PRODUCER_TIMESTAMP", g_start + 1, g_start + 3);
    char *b[] = {"--stream-name",
                 "dash",
                 "--playback-mode",
                 "ON_DEMAND",
                 "--dash-fragment-selector",
                 sel,
                 NULL};
    char *u2 = dash_url_ok(&s, b);
    ck_assert_int_eq(http_get(u2, "GET", &mpd, NULL), 200);
    ck_assert_int_eq(fl_test_count(mpd, "<SegmentURL"), 2);
    ck_assert_int_eq(fl_test_count(mpd, "kvs:fn"), 0);
    free(mpd);
    probe = probe_streams(u2, 1);
    ck_assert_msg(strstr(probe, "h264,320,240,60") != NULL, "%s", probe);
    free(probe);
    free(u2);

    /* the segments' paths: a track the stream lacks, no fragment number */
    char *q = strchr(url, '?');
    char seg[4200];
    snprintf(seg, sizeof seg, "%s/dash/v1/getMP4InitFragment.mp4?TrackNumber=9&%s", s.url, q + 1);
    ck_assert_int_eq(http_get(seg, "GET", NULL, NULL), 404);
    snprintf(seg, sizeof seg, "%s/dash/v1/getMP4MediaFragment.mp4?%s", s.url, q + 1);
    ck_assert_int_eq(http_get(seg, "GET", NULL, NULL), 400);
    snprintf(seg, sizeof seg, "%s/dash/v1/getMP4InitFragment.mp4?TrackNumber=1&%s", s.url, q + 1);
    char *init = NULL;
    ck_assert_int_eq(http_get(seg, "GET", &init, NULL), 200);
    ck_assert_msg(memcmp(init + 4, "ftyp", 4) == 0, "not an init segment");
    free(init);
    /* an altered token */
    size_t tl = strlen(url);
    url[tl - 5] = url[tl - 5] == 'A' ? 'B' : 'A';
    ck_assert_int_eq(http_get(url, "GET", NULL, NULL), 403);
    free(url);
    /* preflight */
    char pre[300];
    snprintf(pre, sizeof pre, "%s/dash/v1/getDASHManifest.mpd", s.url);
    ck_assert_int_eq(http_get(pre, "OPTIONS", NULL, &hdrs), 204);
    ck_assert_msg(strcasestr(hdrs, "access-control-allow-methods") != NULL, "%s", hdrs);
    free(hdrs);
    fl_test_server_free(&s);
}
END_TEST

START_TEST(live_and_replay_manifests_are_dynamic)
{
    fl_test_server_t s;
    pushed_stream(&s, "dash");
    /* LIVE: the newest fragments (they arrived just now) */
    char *a[] = {"--stream-name", "dash", "--playback-mode", "LIVE", NULL};
    char *url = dash_url_ok(&s, a);
    char *mpd = NULL, *hdrs = NULL;
    ck_assert_int_eq(http_get(url, "GET", &mpd, &hdrs), 200);
    ck_assert_msg(strstr(mpd, "type=\"dynamic\"") != NULL, "%s", mpd);
    ck_assert_msg(strstr(mpd, "availabilityStartTime=\"1970-01-01T00:00:00Z\"") != NULL, "%s", mpd);
    ck_assert_msg(strstr(mpd, "minimumUpdatePeriod=\"PT1S\"") != NULL, "%s", mpd);
    ck_assert_int_eq(fl_test_count(mpd, "<SegmentURL"), 6);
    ck_assert_msg(strcasestr(hdrs, "cache-control: no-cache") != NULL, "%s", hdrs);
    free(mpd);
    free(hdrs);
    free(url);
    /* LIVE, at most 2 fragments */
    char *b[] = {"--stream-name",
                 "dash",
                 "--playback-mode",
                 "LIVE",
                 "--max-manifest-fragment-results",
                 "2",
                 NULL};
    url = dash_url_ok(&s, b);
    ck_assert_int_eq(http_get(url, "GET", &mpd, NULL), 200);
    ck_assert_int_eq(fl_test_count(mpd, "<SegmentURL"), 4);
    free(mpd);
    free(url);
    /* LIVE_REPLAY from the start: paced by the wall clock, so the first
     * fragment only at first */
    char sel[200];
    snprintf(sel, sizeof sel,
             "FragmentSelectorType=PRODUCER_TIMESTAMP,TimestampRange={"
             "StartTimestamp=%.3f}",
             g_start);
    char *c[] = {"--stream-name",
                 "dash",
                 "--playback-mode",
                 "LIVE_REPLAY",
                 "--dash-fragment-selector",
                 sel,
                 NULL};
    url = dash_url_ok(&s, c);
    ck_assert_int_eq(http_get(url, "GET", &mpd, NULL), 200);
    ck_assert_msg(strstr(mpd, "type=\"dynamic\"") != NULL, "%s", mpd);
    ck_assert_int_ge(fl_test_count(mpd, "<SegmentURL"), 2);
    free(mpd);
    free(url);
    /* an HLS session's token does not open a DASH manifest */
    /* (ON_DEMAND: no 30 s window to race on a slow machine) */
    char hsel[200];
    snprintf(hsel, sizeof hsel,
             "FragmentSelectorType=PRODUCER_TIMESTAMP,TimestampRange={StartTimestamp=%.3f,"
             "EndTimestamp=%.3f}",
             g_start - 1, g_start + 100);
    char *h[] = {"kinesis-video-archived-media",
                 "get-hls-streaming-session-url",
                 "--stream-name",
                 "dash",
                 "--playback-mode",
                 "ON_DEMAND",
                 "--hls-fragment-selector",
                 hsel,
                 NULL};
    char *out = NULL, *err = NULL;
    ck_assert_msg(fl_test_aws_bin("/usr/bin/aws", &s, h, &out, &err) == 0, "%s", err);
    const char *t = strstr(out, "SessionToken=");
    ck_assert_ptr_nonnull(t);
    char dash_with_hls[4200];
    snprintf(dash_with_hls, sizeof dash_with_hls, "%s/dash/v1/getDASHManifest.mpd?%.*s", s.url,
             (int)strcspn(t, "\""), t);
    ck_assert_int_eq(http_get(dash_with_hls, "GET", NULL, NULL), 403);
    free(out);
    free(err);
    fl_test_server_free(&s);
}
END_TEST

START_TEST(session_errors_are_aws_errors)
{
    fl_test_server_t s;
    pushed_stream(&s, "dash");
    const char *AM = "kinesis-video-archived-media";
    char sel[256];
    /* ON_DEMAND needs a range */
    AWS_FAILS(&s, "InvalidArgumentException", AM, "get-dash-streaming-session-url", "--stream-name",
              "dash", "--playback-mode", "ON_DEMAND");
    /* LIVE takes none */
    snprintf(sel, sizeof sel,
             "FragmentSelectorType=SERVER_TIMESTAMP,TimestampRange={StartTimestamp=%.3f}", g_start);
    AWS_FAILS(&s, "InvalidArgumentException", AM, "get-dash-streaming-session-url", "--stream-name",
              "dash", "--playback-mode", "LIVE", "--dash-fragment-selector", sel);
    /* end before start */
    ts_selector(sel, sizeof sel, "PRODUCER_TIMESTAMP", g_start + 5, g_start);
    AWS_FAILS(&s, "InvalidArgumentException", AM, "get-dash-streaming-session-url", "--stream-name",
              "dash", "--playback-mode", "ON_DEMAND", "--dash-fragment-selector", sel);
    /* nothing in the range */
    ts_selector(sel, sizeof sel, "PRODUCER_TIMESTAMP", g_start - 900, g_start - 600);
    AWS_FAILS(&s, "ResourceNotFoundException", AM, "get-dash-streaming-session-url",
              "--stream-name", "dash", "--playback-mode", "ON_DEMAND", "--dash-fragment-selector",
              sel);
    /* no such stream; Expires out of bounds */
    AWS_FAILS(&s, "ResourceNotFoundException", AM, "get-dash-streaming-session-url",
              "--stream-name", "nope", "--playback-mode", "LIVE");
    char *out = NULL;
    ck_assert_int_eq(
        post_json(&s, "/getDASHStreamingSessionURL",
                  "{\"StreamName\":\"dash\",\"PlaybackMode\":\"LIVE\",\"Expires\":100}", &out),
        0);
    ck_assert_msg(strstr(out, "InvalidArgumentException") != NULL, "%s", out);
    free(out);
    fl_test_server_free(&s);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("playback_dash");
    TCase *c = tcase_create("dash");
    tcase_set_timeout(c, 300);
    tcase_add_test(c, on_demand_manifest_plays_every_frame);
    tcase_add_test(c, live_and_replay_manifests_are_dynamic);
    tcase_add_test(c, session_errors_are_aws_errors);
    suite_add_tcase(s, c);
    return fl_test_main(s);
}
