/*
 * tests/test_playback_hls.c — HLS sessions against the real framelogd:
 * a known H.264 + AAC file pushed with PutMedia, session URLs from the AWS
 * CLI (`aws kinesis-video-archived-media get-hls-streaming-session-url`),
 * and ffprobe reading the URL as a player would (master playlist, media
 * playlist, init and media segments): the same number of video frames as
 * were pushed, the right codec and size, for fMP4 and MPEG-TS; a range
 * that holds one fragment; tampered, expired and other-incarnation
 * tokens; a restart that keeps sessions; CORS; and LIVE advancing while a
 * producer streams in real time. And the send path of cached segments
 * (core's shared bodies, written straight on plain sockets): many
 * keep-alive clients at once, pipelined GET and HEAD, clients that read
 * slowly through a small receive window, clients that go mid-body, all
 * byte-for-byte the same as the same segments over TLS (through lws).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/error.h"
#include "common/json.h"
#include "media_harness.h"
#include "server/core/token.h"
#include "server/playback/token.h"

#define VIDEO_FRAMES 180 /* make_media(): 6 s at 30 fps */

typedef struct {
    char codec[32];
    int width, height;
    long frames;
} vprobe_t;

/* ffprobe the URL's first video stream, counting its packets. */
static void probe_video(const char *url, vprobe_t *p)
{
    char *argv[] = {"ffprobe",       "-v",
                    "error",         "-select_streams",
                    "v:0",           "-count_packets",
                    "-show_entries", "stream=codec_name,width,height,nb_read_packets",
                    "-of",           "csv=p=0",
                    (char *)url,     NULL};
    char *out = NULL, *err = NULL;
    int rc = fl_test_run(argv, 120000, &out, &err);
    ck_assert_msg(rc == 0, "ffprobe %s: %s", url, err);
    memset(p, 0, sizeof *p);
    ck_assert_msg(sscanf(out, "%31[^,],%d,%d,%ld", p->codec, &p->width, &p->height, &p->frames) ==
                      4,
                  "ffprobe said: %s / %s", out, err);
    free(out);
    free(err);
}

/* The first video packet's pts_time (malloc'd). */
static char *first_pts(const char *url)
{
    char *argv[] = {"ffprobe",
                    "-v",
                    "error",
                    "-select_streams",
                    "v:0",
                    "-read_intervals",
                    "%+#1",
                    "-show_entries",
                    "packet=pts_time",
                    "-of",
                    "csv=p=0",
                    (char *)url,
                    NULL};
    char *out = NULL, *err = NULL;
    ck_assert_msg(fl_test_run(argv, 60000, &out, &err) == 0, "ffprobe %s: %s", url, err);
    free(err);
    out[strcspn(out, ",\n")] = 0;
    return out;
}

START_TEST(on_demand_fmp4_and_ts_play_every_frame)
{
    fl_test_server_t s;
    pushed_stream(&s, "hls");
    char sel[256];
    ts_selector(sel, sizeof sel, "PRODUCER_TIMESTAMP", g_start - 1, g_start + 100);

    /* fMP4 */
    char *a1[] = {"--stream-name",
                  "hls",
                  "--playback-mode",
                  "ON_DEMAND",
                  "--hls-fragment-selector",
                  sel,
                  NULL};
    char *url = hls_url_ok(&s, a1);
    vprobe_t p;
    probe_video(url, &p);
    ck_assert_str_eq(p.codec, "h264");
    ck_assert_int_eq(p.width, 320);
    ck_assert_int_eq(p.height, 240);
    ck_assert_int_eq(p.frames, VIDEO_FRAMES);

    /* the stream's own times: the first video packet as GetMedia has it */
    char gm[4300];
    snprintf(gm, sizeof gm, "%s/getmedia.mkv", g_dir);
    get_media_earliest(&s, "hls", gm);
    char *t_hls = first_pts(url), *t_gm = first_pts(gm);
    ck_assert_msg(strcmp(t_hls, t_gm) == 0, "HLS starts at %s, GetMedia at %s", t_hls, t_gm);
    free(t_hls);
    free(t_gm);

    char *body = NULL, *hdrs = NULL;
    ck_assert_int_eq(http_get(url, "GET", &body, &hdrs), 200);
    ck_assert_msg(strstr(body, "CODECS=\"avc1.") && strstr(body, "mp4a.40.2") &&
                      strstr(body, "RESOLUTION=320x240"),
                  "%s", body);
    ck_assert_msg(strcasestr(hdrs, "Access-Control-Allow-Origin: *") != NULL, "%s", hdrs);
    free(body);
    free(hdrs);
    char *media = url_sibling(url, "getHLSMediaPlaylist.m3u8", "");
    ck_assert_int_eq(http_get(media, "GET", &body, NULL), 200);
    ck_assert_int_eq(fl_test_count(body, "#EXTINF:"), 3);
    ck_assert_int_eq(fl_test_count(body, "#EXT-X-ENDLIST"), 1);
    ck_assert_int_eq(fl_test_count(body, "#EXT-X-MAP:"), 1);
    ck_assert_int_eq(fl_test_count(body, "getMP4MediaFragment.mp4?FragmentNumber="), 3);
    ck_assert_int_eq(fl_test_count(body, "#EXT-X-DISCONTINUITY\n"),
                     0); /* NEVER for producer time */
    /* a segment: CORS too, and it is fMP4 */
    const char *seg = strstr(body, "getMP4MediaFragment.mp4?");
    char segurl[2000];
    size_t sl = strcspn(seg, "\n");
    snprintf(segurl, sizeof segurl, "%.*s%.*s", (int)(strrchr(url, '/') + 1 - url), url, (int)sl,
             seg);
    free(body);
    ck_assert_int_eq(http_get(segurl, "GET", &body, &hdrs), 200);
    ck_assert_msg(strcasestr(hdrs, "Access-Control-Allow-Origin: *") != NULL, "%s", hdrs);
    ck_assert_msg(strcasestr(hdrs, "content-type: video/mp4") != NULL, "%s", hdrs);
    free(body);
    free(hdrs);
    /* arguments in any order, after a long one the server does not know */
    char *num = strstr(segurl, "FragmentNumber=") + strlen("FragmentNumber=");
    char *tok = strstr(url, "SessionToken=");
    char reordered[5000], junk[1500];
    memset(junk, 'j', sizeof junk - 1);
    junk[sizeof junk - 1] = 0;
    snprintf(reordered, sizeof reordered,
             "%.*sgetMP4MediaFragment.mp4?cb=%s&%s&FragmentNumber=%.*s",
             (int)(strrchr(url, '/') + 1 - url), url, junk, tok, (int)strcspn(num, "&"), num);
    ck_assert_int_eq(http_get(reordered, "GET", NULL, NULL), 200);
    /* the fMP4 segment of a TS session's path is refused */
    char *ts_path = url_sibling(segurl, "getTSFragment.ts", "");
    ck_assert_int_eq(http_get(ts_path, "GET", NULL, NULL), 400);
    free(ts_path);
    free(media);
    free(url);

    /* MPEG-TS, by server time, with program date-times */
    ts_selector(sel, sizeof sel, "SERVER_TIMESTAMP", (double)time(NULL) - 120,
                (double)time(NULL) + 60);
    char *a2[] = {"--stream-name",
                  "hls",
                  "--playback-mode",
                  "ON_DEMAND",
                  "--container-format",
                  "MPEG_TS",
                  "--display-fragment-timestamp",
                  "ALWAYS",
                  "--hls-fragment-selector",
                  sel,
                  NULL};
    url = hls_url_ok(&s, a2);
    probe_video(url, &p);
    ck_assert_str_eq(p.codec, "h264");
    ck_assert_int_eq(p.width, 320);
    ck_assert_int_eq(p.height, 240);
    ck_assert_int_eq(p.frames, VIDEO_FRAMES);
    media = url_sibling(url, "getHLSMediaPlaylist.m3u8", "");
    ck_assert_int_eq(http_get(media, "GET", &body, NULL), 200);
    ck_assert_int_eq(fl_test_count(body, "getTSFragment.ts?FragmentNumber="), 3);
    ck_assert_int_eq(fl_test_count(body, "#EXT-X-PROGRAM-DATE-TIME:20"), 3);
    ck_assert_int_eq(fl_test_count(body, "#EXT-X-DISCONTINUITY\n"), 2); /* ALWAYS for server time */
    ck_assert_int_eq(fl_test_count(body, "#EXT-X-MAP"), 0);
    free(body);
    free(media);
    free(url);

    /* a range that holds only the middle fragment: its 60 frames */
    ts_selector(sel, sizeof sel, "PRODUCER_TIMESTAMP", g_start + 1.5, g_start + 2.5);
    char *a3[] = {"--stream-name",
                  "hls",
                  "--playback-mode",
                  "ON_DEMAND",
                  "--hls-fragment-selector",
                  sel,
                  NULL};
    url = hls_url_ok(&s, a3);
    probe_video(url, &p);
    ck_assert_int_eq(p.frames, 60);
    free(url);

    /* MaxMediaPlaylistFragmentResults */
    ts_selector(sel, sizeof sel, "PRODUCER_TIMESTAMP", g_start - 1, g_start + 100);
    char *a4[] = {"--stream-name",
                  "hls",
                  "--playback-mode",
                  "ON_DEMAND",
                  "--max-media-playlist-fragment-results",
                  "2",
                  "--hls-fragment-selector",
                  sel,
                  NULL};
    url = hls_url_ok(&s, a4);
    probe_video(url, &p);
    ck_assert_int_eq(p.frames, 120);
    free(url);
    fl_test_server_free(&s);
}
END_TEST

START_TEST(bad_requests_get_aws_errors)
{
    fl_test_server_t s;
    pushed_stream(&s, "hls");
    char sel[256], *err = NULL;

    /* LIVE, first: the stream's newest fragment must be at most 30 s old */
    char *a5[] = {"--stream-name", "hls", "--playback-mode", "LIVE", NULL};
    char *url = hls_url_ok(&s, a5);
    char *media = url_sibling(url, "getHLSMediaPlaylist.m3u8", ""), *pl = NULL;
    ck_assert_int_eq(http_get(media, "GET", &pl, NULL), 200);
    ck_assert_int_eq(fl_test_count(pl, "#EXTINF:"), 3);
    ck_assert_int_eq(fl_test_count(pl, "#EXT-X-ENDLIST"), 0);
    free(pl);
    free(media);
    free(url);

    /* unknown stream */
    char *a1[] = {"--stream-name", "nope", "--playback-mode", "LIVE", NULL};
    ck_assert_ptr_null(hls_url(&s, a1, &err));
    ck_assert_msg(strstr(err, "ResourceNotFoundException") != NULL, "%s", err);
    free(err);

    /* no fragments in the range */
    ts_selector(sel, sizeof sel, "PRODUCER_TIMESTAMP", g_start - 1000, g_start - 900);
    char *a2[] = {"--stream-name",
                  "hls",
                  "--playback-mode",
                  "ON_DEMAND",
                  "--hls-fragment-selector",
                  sel,
                  NULL};
    ck_assert_ptr_null(hls_url(&s, a2, &err));
    ck_assert_msg(strstr(err, "ResourceNotFoundException") != NULL, "%s", err);
    free(err);

    /* ON_DEMAND without a range; LIVE with one; Expires out of range */
    char *a3[] = {"--stream-name", "hls", "--playback-mode", "ON_DEMAND", NULL};
    ck_assert_ptr_null(hls_url(&s, a3, &err));
    ck_assert_msg(strstr(err, "InvalidArgumentException") != NULL, "%s", err);
    free(err);
    char *a4[] = {
        "--stream-name", "hls", "--playback-mode", "LIVE", "--hls-fragment-selector", sel, NULL};
    ck_assert_ptr_null(hls_url(&s, a4, &err));
    ck_assert_msg(strstr(err, "InvalidArgumentException") != NULL, "%s", err);
    free(err);
    char body[200];
    snprintf(body, sizeof body, "{\"StreamName\":\"hls\",\"Expires\":100}");
    char *out = NULL;
    ck_assert_int_eq(post_json(&s, "/getHLSStreamingSessionURL", body, &out), 0);
    ck_assert_msg(strstr(out, "InvalidArgumentException") != NULL, "%s", out);
    free(out);

    /* the preflight of a page on another origin */
    char *hdrs = NULL;
    char pf[300];
    snprintf(pf, sizeof pf, "%s/hls/v1/getHLSMasterPlaylist.m3u8", s.url);
    ck_assert_int_eq(http_get(pf, "OPTIONS", NULL, &hdrs), 204);
    ck_assert_msg(strcasestr(hdrs, "Access-Control-Allow-Origin: *") &&
                      strcasestr(hdrs, "Access-Control-Allow-Methods: GET"),
                  "%s", hdrs);
    free(hdrs);
    fl_test_server_free(&s);
}
END_TEST

START_TEST(tokens_are_checked_and_survive_a_restart)
{
    fl_test_server_t s;
    pushed_stream(&s, "hls");
    char sel[256];
    ts_selector(sel, sizeof sel, "PRODUCER_TIMESTAMP", g_start - 1, g_start + 100);
    char *a1[] = {"--stream-name",
                  "hls",
                  "--playback-mode",
                  "ON_DEMAND",
                  "--hls-fragment-selector",
                  sel,
                  NULL};
    char *url = hls_url_ok(&s, a1);
    char *body = NULL, *hdrs = NULL;
    ck_assert_int_eq(http_get(url, "GET", NULL, NULL), 200);

    /* a client that sends Host without the port (AWS's C producers do)
     * still gets a URL with the port it came in on */
    {
        char want[128], post[160];
        snprintf(want, sizeof want, "http://127.0.0.1:%d/hls/v1/", s.port);
        snprintf(post, sizeof post, "%s/getHLSStreamingSessionURL", s.url);
        char *args[] = {"curl",
                        "-s",
                        "-H",
                        "Host: 127.0.0.1",
                        "-H",
                        "Content-Type: application/json",
                        "--data-binary",
                        "{\"StreamName\":\"hls\",\"PlaybackMode\":\"LIVE\"}",
                        post,
                        NULL};
        char *out = NULL;
        ck_assert_int_eq(fl_test_run(args, 30000, &out, NULL), 0);
        ck_assert_msg(out && strstr(out, want), "want %s in %s", want, out);
        free(out);
    }

    /* the server's token key file (core/token.h), mode 0600; sessions are
     * sealed under its playback subkey */
    char keypath[4200];
    snprintf(keypath, sizeof keypath, "%s/server.key", s.data_dir);
    struct stat st;
    ck_assert_int_eq(stat(keypath, &st), 0);
    ck_assert_int_eq(st.st_size, 8 + FL_TOKEN_KEY_BYTES);
    ck_assert_int_eq(st.st_mode & 0777, 0600);

    /* every byte of the token matters: alter one character */
    char *tok = strstr(url, "SessionToken=") + strlen("SessionToken=");
    size_t tl = strlen(tok);
    for (size_t at = 0; at < tl; at += tl / 5) {
        char *bad = strdup(url);
        char *c = strstr(bad, "SessionToken=") + strlen("SessionToken=") + at;
        *c = *c == 'A' ? 'B' : 'A';
        ck_assert_int_eq(http_get(bad, "GET", &body, &hdrs), 403);
        ck_assert_msg(strstr(hdrs, "NotAuthorizedException") != NULL, "%s", hdrs);
        ck_assert_msg(strcasestr(hdrs, "Access-Control-Allow-Origin: *") != NULL, "%s", hdrs);
        free(body);
        free(hdrs);
        free(bad);
    }

    /* expired: the same session, signed with the server's key, whose
     * expiry has passed */
    size_t kn;
    char *file = fl_test_read_file(keypath, &kn);
    ck_assert_uint_eq(kn, 8 + FL_TOKEN_KEY_BYTES);
    uint8_t key[FL_PB_KEY_BYTES];
    fl_token_subkey((const uint8_t *)file + 8, FL_PB_KEY_LABEL, key);
    free(file);
    fl_pb_session_t sess;
    int64_t now_ms = fl_time_real_ns() / 1000000;
    ck_assert_int_eq(fl_pb_token_decode(key, fl_slice_str(tok), now_ms, &sess), 0);
    ck_assert_str_eq(sess.name, "hls");
    ck_assert_int_eq(sess.mode, FL_PB_ON_DEMAND);
    ck_assert_int_eq(sess.expires_ms - sess.issued_ms, 300000); /* Expires defaults to 300 s */
    sess.expires_ms = now_ms - 1000;
    char old[FL_PB_TOKEN_CAP];
    ck_assert_int_eq(fl_pb_token_encode(key, &sess, old, sizeof old), 0);
    ck_assert_int_eq(fl_pb_token_decode(key, fl_slice_str(old), now_ms, &sess), FL_EEXPIRED);
    char expired[3000];
    snprintf(expired, sizeof expired, "%.*s%s", (int)(tok - url), url, old);
    ck_assert_int_eq(http_get(expired, "GET", &body, NULL), 403);
    ck_assert_msg(strstr(body, "NotAuthorizedException") && strstr(body, "expired"), "%s", body);
    free(body);
    char *seg = url_sibling(expired, "getHLSMediaPlaylist.m3u8", "");
    ck_assert_int_eq(http_get(seg, "GET", NULL, NULL), 403);
    free(seg);

    /* a restart keeps the key, so the session goes on (at the new port) */
    char *dir = strdup(s.data_dir);
    ck_assert_int_eq(fl_test_server_stop(&s, 10000), 0);
    fl_test_server_t s2;
    fl_test_server_start(&s2, dir, NULL);
    char moved[3000];
    snprintf(moved, sizeof moved, "%s%s", s2.url, strstr(url, "/hls/v1/"));
    vprobe_t p;
    probe_video(moved, &p);
    ck_assert_int_eq(p.frames, VIDEO_FRAMES);

    /* the stream deleted and made again: the old session's stream is gone */
    char *out = NULL, req[600];
    snprintf(req, sizeof req, "{\"StreamName\":\"hls\"}");
    ck_assert_int_eq(post_json(&s2, "/describeStream", req, &out), 0);
    char *arn = strstr(out, "arn:aws:kinesisvideo");
    ck_assert_ptr_nonnull(arn);
    arn[strcspn(arn, "\"")] = 0;
    snprintf(req, sizeof req, "{\"StreamARN\":\"%s\"}", arn);
    free(out);
    ck_assert_int_eq(post_json(&s2, "/deleteStream", req, &out), 0);
    free(out);
    create_stream(&s2, "hls");
    ck_assert_int_eq(http_get(moved, "GET", &body, NULL), 404);
    ck_assert_msg(strstr(body, "ResourceNotFoundException") != NULL, "%s", body);
    free(body);
    free(url);
    fl_test_server_free(&s2);
    fl_test_server_free(&s);
    fl_test_rmtree(dir);
}
END_TEST

static double metric(const fl_test_server_t *s, const char *name)
{
    char url[128];
    snprintf(url, sizeof url, "%s/metrics", s->url);
    char *text = NULL;
    ck_assert_int_eq(http_get(url, "GET", &text, NULL), 200);
    double v = fl_test_metric(text, name);
    free(text);
    return v;
}

/* A media playlist's segments: each names this session's token only, and
 * their fragment numbers grow one by one (a LIVE window is the newest
 * durable fragments, in order). Returns how many. */
static int check_live_list(const char *pl, const char *token, const char *other)
{
    ck_assert_msg(strstr(pl, token) != NULL, "%s", pl);
    ck_assert_msg(strstr(pl, other) == NULL, "another session's token in %s", pl);
    int n = 0;
    unsigned long long prev = 0;
    for (const char *p = strstr(pl, "#EXTINF:"); p; p = strstr(p + 1, "#EXTINF:")) {
        const char *f = strstr(p, "FragmentNumber=");
        ck_assert_ptr_nonnull(f);
        /* its sequence number: the low 64 bits */
        unsigned __int128 v = 0;
        for (f += strlen("FragmentNumber="); *f >= '0' && *f <= '9'; f++)
            v = v * 10 + (unsigned)(*f - '0');
        unsigned long long low = (unsigned long long)(v & 0xffffffffffffffffULL);
        ck_assert_msg(n == 0 || low == prev + 1, "not one by one: %s", pl);
        prev = low;
        n++;
    }
    return n;
}

/* LIVE while a producer streams in real time: the playlist's window moves
 * on, new fragments appear, and it never ends. Two sessions of the stream
 * at once (fMP4 with LL-HLS, MPEG-TS without) each get their own
 * playlists, though the server reuses a playlist's text for the next
 * request of the same session, reads each new list on from the last and
 * checks a token it has seen without its HMAC (the metrics say so). */
START_TEST(live_advances_while_a_producer_streams)
{
    make_media();
    fl_test_server_t s;
    fl_test_server_start(&s, NULL, NULL);
    create_stream(&s, "live");
    /* 12 s of 1 s fragments, sent at the pace of its timestamps */
    char mkv[4300];
    snprintf(mkv, sizeof mkv, "%s/live.mkv", g_dir);
    const char *h264[] = {"-c:v", "libx264",       "-g", "30", "-keyint_min",
                          "30",   "-sc_threshold", "0",  NULL};
    make_clip(mkv, "testsrc=size=320x240:rate=30", "12", 0, h264);
    fl_test_proc_t prod;
    put_media_live(&s, "live", mkv, 60, &prod);

    /* a session once the first fragment is there */
    char *url = NULL, *err = NULL;
    char *a1[] = {"--stream-name",
                  "live",
                  "--playback-mode",
                  "LIVE",
                  "--max-media-playlist-fragment-results",
                  "3",
                  NULL};
    long long t0 = fl_test_now_ms();
    while (!url && fl_test_now_ms() - t0 < 15000) {
        url = hls_url(&s, a1, &err);
        free(err);
        err = NULL;
        if (!url)
            usleep(300000);
    }
    ck_assert_msg(url != NULL, "no LIVE session within 15 s");
    char *media = url_sibling(url, "getHLSMediaPlaylist.m3u8", "");
    char *a2[] = {"--stream-name",
                  "live",
                  "--playback-mode",
                  "LIVE",
                  "--container-format",
                  "MPEG_TS",
                  "--max-media-playlist-fragment-results",
                  "3",
                  NULL};
    char *url2 = hls_url_ok(&s, a2);
    char *media2 = url_sibling(url2, "getHLSMediaPlaylist.m3u8", "");
    char tok1[1200], tok2[1200];
    snprintf(tok1, sizeof tok1, "%s", strstr(url, "SessionToken=") + strlen("SessionToken="));
    snprintf(tok2, sizeof tok2, "%s", strstr(url2, "SessionToken=") + strlen("SessionToken="));
    ck_assert_str_ne(tok1, tok2);
    char first_seq[64] = "", last_seq[64] = "";
    /* the window moves while the producer streams (progress, not a clock:
     * polled until it moved 3 times or the producer's 12 s are over) */
    int changes = 0, producing = 1;
    for (int polls = 0; changes < 3 && producing && polls < 400; polls++) {
        producing = prod.pid > 0 && fl_test_wait(&prod, 0) == -1;
        char *pl = NULL;
        ck_assert_int_eq(http_get(media, "GET", &pl, NULL), 200);
        ck_assert_int_eq(fl_test_count(pl, "#EXT-X-ENDLIST"), 0);
        ck_assert_int_le(fl_test_count(pl, "#EXTINF:"), 3);
        const char *m = strstr(pl, "#EXT-X-MEDIA-SEQUENCE:");
        ck_assert_ptr_nonnull(m);
        char seq[64];
        sscanf(m + strlen("#EXT-X-MEDIA-SEQUENCE:"), "%63s", seq);
        if (!first_seq[0])
            snprintf(first_seq, sizeof first_seq, "%s", seq);
        if (last_seq[0] && strcmp(seq, last_seq) != 0)
            changes++;
        snprintf(last_seq, sizeof last_seq, "%s", seq);
        check_live_list(pl, tok1, tok2);
        free(pl);
        /* the other session, twice in a row (the second may reuse the
         * first's text), then the first's again */
        for (int k = 0; k < 3; k++) {
            pl = NULL;
            ck_assert_int_eq(http_get(k < 2 ? media2 : media, "GET", &pl, NULL), 200);
            ck_assert_int_le(
                k < 2 ? check_live_list(pl, tok2, tok1) : check_live_list(pl, tok1, tok2), 3);
            free(pl);
        }
        usleep(500000);
    }
    ck_assert_int_gt(metric(&s, "framelog_hls_playlist_texts_reused_total"), 0);
    ck_assert_int_gt(metric(&s, "framelog_hls_live_lists_read_on_total"), 0);
    ck_assert_int_gt(metric(&s, "framelog_hls_token_cache_hits_total"), 0);
    ck_assert_msg(changes >= 3,
                  "the LIVE window moved %d times while its producer streamed (from %s to %s)",
                  changes, first_seq, last_seq);
    /* and what it lists plays: a player's first 30 video frames (a live
     * playlist has no end, so ffprobe stops after them) */
    char *pv[] = {"ffprobe",    "-v",
                  "error",      "-select_streams",
                  "v:0",        "-read_intervals",
                  "%+#30",      "-show_entries",
                  "packet=pts", "-of",
                  "csv=p=0",    url,
                  NULL};
    char *out = NULL;
    ck_assert_int_eq(fl_test_run(pv, 60000, &out, &err), 0);
    ck_assert_msg(fl_test_count(out, "\n") == 30, "%s / %s", out, err);
    free(out);
    free(err);
    free(media);
    free(url);
    free(media2);
    free(url2);
    fl_test_wait(&prod, 30000);
    fl_test_proc_free(&prod);
    fl_test_server_free(&s);
}
END_TEST

/* H.265: the session's codec string and segments are HEVC's. */
START_TEST(h265_plays_through_fmp4_and_ts)
{
    make_media();
    fl_test_server_t s;
    fl_test_server_start(&s, NULL, NULL);
    create_stream(&s, "hevc");
    char mkv[4300];
    snprintf(mkv, sizeof mkv, "%s/hevc.mkv", g_dir);
    const char *h265[] = {"-c:v", "libx265", "-x265-params",
                          "keyint=60:min-keyint=60:scenecut=0:log-level=error", NULL};
    make_clip(mkv, "testsrc=size=320x240:rate=30", "4", 0, h265);
    double start = (double)time(NULL) - 60;
    char *acks = NULL, *err = NULL;
    ck_assert_int_eq(put_media(&s, "hevc", mkv, start, &acks, &err), 0);
    check_ack_order(acks, 2);
    free(acks);
    free(err);
    char sel[256];
    ts_selector(sel, sizeof sel, "PRODUCER_TIMESTAMP", start - 1, start + 100);
    char *a1[] = {"--stream-name",
                  "hevc",
                  "--playback-mode",
                  "ON_DEMAND",
                  "--hls-fragment-selector",
                  sel,
                  NULL};
    char *url = hls_url_ok(&s, a1);
    char *body = NULL;
    ck_assert_int_eq(http_get(url, "GET", &body, NULL), 200);
    ck_assert_msg(strstr(body, "CODECS=\"hvc1.") && strstr(body, "RESOLUTION=320x240"), "%s", body);
    free(body);
    vprobe_t p;
    probe_video(url, &p);
    ck_assert_str_eq(p.codec, "hevc");
    ck_assert_int_eq(p.width, 320);
    ck_assert_int_eq(p.frames, 120);
    free(url);
    char *a2[] = {"--stream-name",
                  "hevc",
                  "--playback-mode",
                  "ON_DEMAND",
                  "--container-format",
                  "MPEG_TS",
                  "--hls-fragment-selector",
                  sel,
                  NULL};
    url = hls_url_ok(&s, a2);
    probe_video(url, &p);
    ck_assert_str_eq(p.codec, "hevc");
    ck_assert_int_eq(p.frames, 120);
    free(url);
    fl_test_server_free(&s);
}
END_TEST

/* Reload a media playlist until it is complete (#EXT-X-ENDLIST) or
 * timeout_ms pass; it never lists more than max segments meanwhile. The
 * last one (malloc'd). */
static char *await_playlist(const char *media, int max, long long timeout_ms)
{
    long long t0 = fl_test_now_ms();
    for (;;) {
        char *pl = NULL;
        ck_assert_int_eq(http_get(media, "GET", &pl, NULL), 200);
        ck_assert_msg(fl_test_count(pl, "#EXTINF:") <= max, "%s", pl);
        if (fl_test_count(pl, "#EXT-X-ENDLIST") || fl_test_now_ms() - t0 > timeout_ms)
            return pl;
        free(pl);
        usleep(200000);
    }
}

/* LIVE_REPLAY: from a start time, paced by the wall clock since the
 * session was issued, ended once past its end. */
START_TEST(live_replay_is_paced_and_ends)
{
    fl_test_server_t s;
    pushed_stream(&s, "hls");
    char sel[256];
    /* fragments start at +0, +2 and +4 s: the range holds the first two */
    ts_selector(sel, sizeof sel, "PRODUCER_TIMESTAMP", g_start - 1, g_start + 3);
    char *a1[] = {"--stream-name",
                  "hls",
                  "--playback-mode",
                  "LIVE_REPLAY",
                  "--hls-fragment-selector",
                  sel,
                  NULL};
    long long issued = fl_test_now_ms();
    char *url = hls_url_ok(&s, a1);
    char *media = url_sibling(url, "getHLSMediaPlaylist.m3u8", ""), *pl = NULL;
    ck_assert_int_eq(http_get(media, "GET", &pl, NULL), 200);
    if (fl_test_now_ms() - issued < 2500) { /* the replay clock is not at +2 s yet */
        ck_assert_msg(fl_test_count(pl, "#EXTINF:") == 1, "%s", pl);
        ck_assert_int_eq(fl_test_count(pl, "#EXT-X-ENDLIST"), 0);
    }
    free(pl);
    /* the second fragment comes once the replay clock reaches it (about
     * 3 s after the server issued the session, which is later than
     * `issued` by however long the CLI took), then the end */
    pl = await_playlist(media, 2, 20000);
    ck_assert_msg(fl_test_count(pl, "#EXTINF:") == 2 && fl_test_count(pl, "#EXT-X-ENDLIST") == 1,
                  "%s", pl);
    free(pl);
    vprobe_t p;
    probe_video(url, &p);
    ck_assert_int_eq(p.frames, 120);
    free(media);
    free(url);

    /* a range past the newest fragment ends once the clock is past it */
    ts_selector(sel, sizeof sel, "PRODUCER_TIMESTAMP", g_start + 3.5, g_start + 4.5);
    url = hls_url_ok(&s, a1);
    media = url_sibling(url, "getHLSMediaPlaylist.m3u8", "");
    pl = await_playlist(media, 1, 20000);
    ck_assert_msg(fl_test_count(pl, "#EXTINF:") == 1 && fl_test_count(pl, "#EXT-X-ENDLIST") == 1,
                  "%s", pl);
    free(pl);
    free(media);
    free(url);
    fl_test_server_free(&s);
}
END_TEST

/* ---- the send path of cached segments ---- */

/* One keep-alive HTTP/1.1 connection, read as a player would (or slowly,
 * through a small receive window). */
typedef struct {
    int fd;
    char *buf; /* bytes read past the last response */
    size_t n, cap;
    int slow; /* read 1 kB at a time, pausing */
} rconn_t;

static void rconn_open(rconn_t *c, int port, int rcvbuf, int slow)
{
    memset(c, 0, sizeof *c);
    c->slow = slow;
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(c->fd, 0);
    if (rcvbuf) /* before connect: the window the server sees */
        setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    struct timeval tv = {.tv_sec = 60};
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(c->fd, (struct sockaddr *)&a, sizeof a), 0);
}

static void rconn_close(rconn_t *c)
{
    close(c->fd);
    free(c->buf);
}

static void rconn_send(rconn_t *c, const char *req)
{
    size_t n = strlen(req), off = 0;
    while (off < n) {
        ssize_t w = send(c->fd, req + off, n - off, MSG_NOSIGNAL);
        ck_assert_msg(w > 0, "send: %s", strerror(errno));
        off += (size_t)w;
    }
}

/* More bytes into c->buf: 0, or -1 at the end of the connection. */
static int rconn_fill(rconn_t *c)
{
    if (c->cap - c->n < 65536) {
        c->cap = c->cap * 2 + 65536;
        c->buf = realloc(c->buf, c->cap);
    }
    size_t want = c->slow ? 1024 : c->cap - c->n;
    if (c->slow)
        usleep(2000);
    ssize_t r = recv(c->fd, c->buf + c->n, want, 0);
    if (r <= 0)
        return -1;
    c->n += (size_t)r;
    return 0;
}

/* One response: its status; its body (malloc'd, none for HEAD) and the
 * Content-Length it declared. */
static int rconn_response(rconn_t *c, int head, char **body, long *clen)
{
    char *end;
    while (!c->buf || !(end = memmem(c->buf, c->n, "\r\n\r\n", 4)))
        ck_assert_msg(rconn_fill(c) == 0, "the connection ended in a head");
    size_t hn = (size_t)(end + 4 - c->buf);
    char *h = strndup(c->buf, hn);
    int status = atoi(h + 9);
    const char *cl = strcasestr(h, "\r\ncontent-length:");
    ck_assert_msg(cl != NULL, "%s", h);
    *clen = atol(cl + 17);
    free(h);
    size_t bn = head ? 0 : (size_t)*clen;
    while (c->n < hn + bn)
        ck_assert_msg(rconn_fill(c) == 0, "the connection ended in a body (%zu of %zu)", c->n - hn,
                      bn);
    *body = malloc(bn + 1);
    memcpy(*body, c->buf + hn, bn);
    memmove(c->buf, c->buf + hn + bn, c->n - hn - bn);
    c->n -= hn + bn;
    return status;
}

#define SEND_SEGS 4 /* the init segment and the three fragments */

typedef struct {
    int port;
    char *path[SEND_SEGS];
    char *ref[SEND_SEGS];
    long ref_n[SEND_SEGS];
    int slow, rounds;
    int failures;
} send_job_t;

static char *req_line(const char *method, const char *path)
{
    char *r = malloc(strlen(path) + 64);
    sprintf(r, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", method, path);
    return r;
}

/* A client: rounds of GET init, HEAD fragment 1, GET fragments 1 to 3,
 * pipelined in one write, on one keep-alive connection. */
static void *send_client(void *arg)
{
    send_job_t *j = arg;
    rconn_t c;
    rconn_open(&c, j->port, j->slow ? 4096 : 0, j->slow);
    for (int round = 0; round < j->rounds; round++) {
        char all[20000] = "";
        char *r = req_line("GET", j->path[0]);
        strcat(all, r);
        free(r);
        r = req_line("HEAD", j->path[1]);
        strcat(all, r);
        free(r);
        for (int i = 1; i < SEND_SEGS; i++) {
            r = req_line("GET", j->path[i]);
            strcat(all, r);
            free(r);
        }
        rconn_send(&c, all);
        int want[] = {0, 1, 1, 2, 3}, head[] = {0, 1, 0, 0, 0};
        for (int k = 0; k < 5; k++) {
            char *body;
            long clen;
            int st = rconn_response(&c, head[k], &body, &clen);
            int i = want[k];
            if (st != 200 || clen != j->ref_n[i] ||
                (!head[k] && memcmp(body, j->ref[i], (size_t)clen) != 0))
                j->failures++;
            free(body);
        }
    }
    rconn_close(&c);
    return NULL;
}

/* The bytes of a URL by curl (-k: the TLS server's own certificate). */
static char *curl_bytes(const char *url, long *n)
{
    char *dir = fl_test_mkdtemp("seg");
    char out[4200];
    snprintf(out, sizeof out, "%s/body", dir);
    char *argv[] = {"curl", "-sSk", "--fail", "--max-time", "60", "-o", out, (char *)url, NULL};
    char *err = NULL;
    ck_assert_msg(fl_test_run(argv, 90000, NULL, &err) == 0, "curl %s: %s", url, err);
    free(err);
    size_t len = 0;
    char *b = fl_test_read_file(out, &len);
    ck_assert_ptr_nonnull(b);
    *n = (long)len;
    fl_test_rmtree(dir);
    return b;
}

START_TEST(cached_segments_go_out_whole_to_every_client)
{
    fl_test_server_t s;
    pushed_stream(&s, "send");
    char sel[256];
    ts_selector(sel, sizeof sel, "PRODUCER_TIMESTAMP", g_start - 1, g_start + 100);
    char *a[] = {"--stream-name",
                 "send",
                 "--playback-mode",
                 "ON_DEMAND",
                 "--hls-fragment-selector",
                 sel,
                 NULL};
    char *url = hls_url_ok(&s, a);
    char *media = url_sibling(url, "getHLSMediaPlaylist.m3u8", "");
    char *pl = NULL;
    ck_assert_int_eq(http_get(media, "GET", &pl, NULL), 200);
    send_job_t ref = {.port = s.port};
    const char *l = strstr(pl, "#EXT-X-MAP:URI=\"");
    ck_assert_ptr_nonnull(l);
    l += strlen("#EXT-X-MAP:URI=\"");
    ref.path[0] = malloc(4200);
    snprintf(ref.path[0], 4200, "/hls/v1/%.*s", (int)strcspn(l, "\""), l);
    l = pl;
    for (int i = 1; i < SEND_SEGS; i++) {
        l = strstr(l, "\ngetMP4MediaFragment.mp4?");
        ck_assert_ptr_nonnull(l);
        l++;
        ref.path[i] = malloc(4200);
        snprintf(ref.path[i], 4200, "/hls/v1/%.*s", (int)strcspn(l, "\n"), l);
    }
    free(pl);

    /* the reference: each segment as the first plain fetch has it (it is
     * made then, and kept) */
    for (int i = 0; i < SEND_SEGS; i++) {
        rconn_t c;
        rconn_open(&c, s.port, 0, 0);
        char *r = req_line("GET", ref.path[i]);
        rconn_send(&c, r);
        free(r);
        ck_assert_int_eq(rconn_response(&c, 0, &ref.ref[i], &ref.ref_n[i]), 200);
        ck_assert_int_gt(ref.ref_n[i], 1000);
        rconn_close(&c);
    }

    /* 16 clients at once, half of them slow readers with a 4 kB window
     * (the socket is full again and again mid-body) */
    enum { CLIENTS = 16 };
    send_job_t jobs[CLIENTS];
    pthread_t t[CLIENTS];
    for (int k = 0; k < CLIENTS; k++) {
        jobs[k] = ref;
        jobs[k].slow = k % 2;
        jobs[k].rounds = k % 2 ? 1 : 3;
        pthread_create(&t[k], NULL, send_client, &jobs[k]);
    }
    /* meanwhile, clients that go mid-body: after a few kB, with a reset */
    for (int k = 0; k < 12; k++) {
        rconn_t c;
        rconn_open(&c, s.port, 4096, 0);
        char all[20000] = "";
        for (int i = 0; i < SEND_SEGS; i++) {
            char *r = req_line("GET", ref.path[i]);
            strcat(all, r);
            free(r);
        }
        rconn_send(&c, all);
        while (c.n < (size_t)(2000 + k * 3000) && rconn_fill(&c) == 0)
            ;
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        setsockopt(c.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        rconn_close(&c);
    }
    for (int k = 0; k < CLIENTS; k++) {
        pthread_join(t[k], NULL);
        ck_assert_msg(jobs[k].failures == 0, "client %d (%s): %d responses differ", k,
                      jobs[k].slow ? "slow" : "fast", jobs[k].failures);
    }
    /* the server goes on: the same bytes again, and its health */
    send_job_t again = ref;
    again.rounds = 1;
    send_client(&again);
    ck_assert_int_eq(again.failures, 0);
    char hz[128];
    snprintf(hz, sizeof hz, "%s/healthz", s.url);
    ck_assert_int_eq(http_get(hz, "GET", NULL, NULL), 200);
    char *data_dir = strdup(s.data_dir);
    int own = s.own_data_dir;
    s.own_data_dir = 0; /* kept for the TLS server below */
    fl_test_server_stop_clean(&s);

    /* over TLS (through lws, copied) the same bytes: the same data dir, so
     * that the session goes on */
    char *pki = fl_test_mkdtemp("pki");
    char cert[4300], key[4300];
    fl_test_tls_cert(pki, cert, key, sizeof cert);
    char *extra[] = {"--tls-cert", cert, "--tls-key", key, NULL};
    fl_test_server_start(&s, data_dir, extra);
    s.own_data_dir = own;
    for (int round = 0; round < 2; round++) /* made, then from the cache */
        for (int i = 0; i < SEND_SEGS; i++) {
            char u[4400];
            snprintf(u, sizeof u, "https://127.0.0.1:%d%s", s.port, ref.path[i]);
            long n = 0;
            char *b = curl_bytes(u, &n);
            ck_assert_int_eq(n, ref.ref_n[i]);
            ck_assert_msg(memcmp(b, ref.ref[i], (size_t)n) == 0, "segment %d differs over TLS", i);
            free(b);
        }
    fl_test_server_stop_clean(&s);
    fl_test_rmtree(pki);
    free(data_dir);
    for (int i = 0; i < SEND_SEGS; i++) {
        free(ref.path[i]);
        free(ref.ref[i]);
    }
    free(media);
    free(url);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("playback_hls");
    TCase *t = tcase_create("on_demand");
    tcase_add_test(t, on_demand_fmp4_and_ts_play_every_frame);
    suite_add_tcase(s, t);
    t = tcase_create("h265");
    tcase_add_test(t, h265_plays_through_fmp4_and_ts);
    suite_add_tcase(s, t);
    t = tcase_create("errors");
    tcase_add_test(t, bad_requests_get_aws_errors);
    suite_add_tcase(s, t);
    t = tcase_create("tokens");
    tcase_add_test(t, tokens_are_checked_and_survive_a_restart);
    suite_add_tcase(s, t);
    t = tcase_create("replay");
    tcase_add_test(t, live_replay_is_paced_and_ends);
    suite_add_tcase(s, t);
    t = tcase_create("send");
    tcase_add_test(t, cached_segments_go_out_whole_to_every_client);
    suite_add_tcase(s, t);
    t = tcase_create("live");
    tcase_add_test(t, live_advances_while_a_producer_streams);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    /* the AWS CLI v2 (Debian's, in /usr/bin) rather than a v1 shim earlier
     * on the PATH: fl_test_aws runs the first `aws` it finds */
    if (access("/usr/bin/aws", X_OK) == 0) {
        const char *path = getenv("PATH");
        char *p = malloc(strlen(path ? path : "") + 16);
        sprintf(p, "/usr/bin:%s", path ? path : "");
        setenv("PATH", p, 1);
        free(p);
    }
    int rc = fl_test_main(suite());
    if (g_dir)
        fl_test_rmtree(g_dir);
    return rc;
}
